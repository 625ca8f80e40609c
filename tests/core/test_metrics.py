"""Tests for napari_unet.core.metrics (hand-computed cases and invariants)."""

import time
import warnings

import numpy as np
import pytest
from skimage.metrics import adapted_rand_error

from napari_unet.core.metrics import (
    DEFAULT_THRESHOLDS,
    MatchResult,
    foreground_iou,
    iou_per_class,
    match_instances,
    mean_average_precision,
    pixel_error,
    rand_error,
    rand_error_from_masks,
    rand_scores,
)


@pytest.fixture(autouse=True)
def _no_runtime_warnings():
    """Every test runs with numpy warnings (division by zero, ...) turned into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(all="raise"):
            yield


def _two_squares():
    """6x6 image with two 2x2 gt objects (ids 1 and 2)."""
    gt = np.zeros((6, 6), dtype=np.uint16)
    gt[0:2, 0:2] = 1
    gt[3:5, 3:5] = 2
    return gt


def _by_thr(results, thr):
    (r,) = [r for r in results if abs(r.thr - thr) < 1e-9]
    return r


# ----------------------------------------------------------------------------- iou_per_class


def test_iou_per_class_matches_hand_computed_values():
    # gt:   class 1 = left two columns (8 px), class 2 = right two (8 px)
    # pred: class 1 = left three columns (12 px), class 2 = last column (4 px)
    gt = np.array([[1, 1, 2, 2]] * 4)
    pred = np.array([[1, 1, 1, 2]] * 4)
    # class 1: inter 8, union 12 -> 2/3 ; class 2: inter 4, union 8 -> 1/2
    out = iou_per_class(pred, gt)
    assert list(out) == [1, 2]
    assert out[1] == pytest.approx(2 / 3)
    assert out[2] == pytest.approx(0.5)


def test_iou_per_class_includes_background_and_gives_nan_for_absent_class():
    gt = np.array([[0, 0], [1, 1]])
    pred = np.array([[0, 1], [1, 1]])
    # class 0: inter 1, union 2 ; class 1: inter 2, union 3 ; class 7 absent
    out = iou_per_class(pred, gt, classes=[0, 1, 7])
    assert out[0] == pytest.approx(0.5)
    assert out[1] == pytest.approx(2 / 3)
    assert np.isnan(out[7])


def test_iou_per_class_ignore_mask_excludes_pixels():
    gt = np.array([[1, 1, 2, 2]] * 4)
    pred = np.array([[1, 1, 1, 2]] * 4)
    ignore = np.zeros_like(gt, dtype=bool)
    ignore[:, 2] = True  # the only disagreeing column
    out = iou_per_class(pred, gt, ignore=ignore)
    assert out == {1: 1.0, 2: 1.0}


def test_iou_per_class_accepts_any_integer_dtype():
    gt = np.array([[1, 1, 2, 2]] * 4)
    pred = np.array([[1, 1, 1, 2]] * 4)
    ref = iou_per_class(pred, gt)
    for dt in (np.uint8, np.int8, np.uint16, np.int32, np.uint64, np.int64):
        assert iou_per_class(pred.astype(dt), gt.astype(dt)) == ref


def test_foreground_iou_matches_hand_computed_value_and_respects_mask():
    gt = np.zeros((4, 4), int)
    gt[:2, :2] = 5  # 4 px
    pred = np.zeros((4, 4), int)
    pred[:2, :3] = 9  # 6 px, inter 4 -> 4/6
    assert foreground_iou(pred, gt) == pytest.approx(4 / 6)
    mask = np.zeros((4, 4), bool)
    mask[:, :2] = True
    assert foreground_iou(pred, gt, mask=mask) == 1.0
    assert np.isnan(foreground_iou(np.zeros((3, 3), int), np.zeros((3, 3), int)))


@pytest.mark.parametrize(
    "func",
    [iou_per_class, foreground_iou, match_instances, mean_average_precision, pixel_error, rand_error],
)
def test_shape_mismatch_raises_value_error(func):
    with pytest.raises(ValueError, match="shape"):
        func(np.zeros((4, 4), int), np.zeros((4, 5), int))


def test_non_integer_float_labels_are_rejected():
    with pytest.raises(TypeError):
        iou_per_class(np.full((2, 2), 0.5), np.zeros((2, 2), int))


# ----------------------------------------------------------------------------- instances


def test_perfect_prediction_gives_f1_and_ap_of_one_at_every_threshold():
    gt = _two_squares()
    res = match_instances(gt, gt)
    assert len(res) == 10
    assert all(isinstance(r, MatchResult) for r in res)
    for r in res:
        assert (r.tp, r.fp, r.fn) == (2, 0, 0)
        assert r.f1 == r.ap == r.precision == r.recall == 1.0
        assert r.mean_matched_iou == 1.0
    assert mean_average_precision(gt, gt) == 1.0


def test_default_thresholds_are_point_five_to_point_nine_five():
    assert DEFAULT_THRESHOLDS == pytest.approx([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    assert [r.thr for r in match_instances(_two_squares(), _two_squares())] == list(DEFAULT_THRESHOLDS)


def test_missing_object_counts_as_one_false_negative():
    gt = _two_squares()
    pred = gt.copy()
    pred[pred == 2] = 0
    (r,) = match_instances(pred, gt, thresholds=0.5)
    # tp 1, fp 0, fn 1 -> precision 1, recall 1/2, f1 2/3, ap 1/2
    assert (r.tp, r.fp, r.fn) == (1, 0, 1)
    assert r.precision == 1.0
    assert r.recall == 0.5
    assert r.f1 == pytest.approx(2 / 3)
    assert r.ap == 0.5


def test_iou_threshold_is_inclusive_and_hand_computed():
    # gt object 4 px (rows 0-1, cols 0-1); pred object 5 px = gt + (2,0)
    # IoU = 4 / 5 = 0.8 -> match up to thr 0.8 inclusive, not at 0.85
    gt = np.zeros((4, 4), np.uint8)
    gt[:2, :2] = 1
    pred = gt.copy()
    pred[2, 0] = 1
    res = match_instances(pred, gt)
    assert _by_thr(res, 0.8).tp == 1
    assert _by_thr(res, 0.8).mean_matched_iou == pytest.approx(0.8)
    r = _by_thr(res, 0.85)
    assert (r.tp, r.fp, r.fn) == (0, 1, 1)
    # ap: 1 at 0.5..0.8 (7 thresholds), 0 at 0.85..0.95 (3) -> 0.7
    assert mean_average_precision(pred, gt) == pytest.approx(0.7)


def test_threshold_of_point_seven_accepts_iou_of_exactly_seven_tenths():
    # gt 7 px, pred 10 px containing it -> IoU exactly 0.7; np.arange gives 0.7000000000000001
    gt = np.zeros((1, 12), int)
    gt[0, :7] = 1
    pred = np.zeros((1, 12), int)
    pred[0, :10] = 1
    thrs = np.arange(0.5, 1.0, 0.05)
    assert thrs[4] > 0.7
    assert match_instances(pred, gt, thresholds=thrs)[4].tp == 1


def test_split_object_gives_one_match_and_one_false_positive():
    # gt: one 2x4 object (8 px). pred splits it into 2x3 (6 px) + 2x1 (2 px).
    # IoU(gt, big) = 6/8 = 0.75, IoU(gt, small) = 2/8 = 0.25
    gt = np.zeros((4, 4), int)
    gt[:2, :] = 1
    pred = np.zeros((4, 4), int)
    pred[:2, :3] = 1
    pred[:2, 3] = 2
    res = match_instances(pred, gt)
    r = _by_thr(res, 0.75)
    assert (r.tp, r.fp, r.fn) == (1, 1, 0)
    assert r.ap == 0.5
    assert r.precision == 0.5 and r.recall == 1.0
    r = _by_thr(res, 0.8)
    assert (r.tp, r.fp, r.fn) == (0, 2, 1)


def test_permuting_label_ids_does_not_change_scores():
    rng = np.random.default_rng(0)
    gt = np.zeros((30, 30), np.int32)
    pred = np.zeros((30, 30), np.int32)
    k = 1
    for i in range(0, 30, 6):
        for j in range(0, 30, 6):
            gt[i : i + 4, j : j + 4] = k
            di, dj = rng.integers(0, 2, size=2)
            pred[i + di : i + di + 4, j + dj : j + dj + 4] = k
            k += 1
    perm_gt = np.concatenate([[0], rng.permutation(np.arange(1, k))])
    perm_pred = np.concatenate([[0], rng.permutation(np.arange(1, k))])
    a = [r.to_dict() for r in match_instances(pred, gt)]
    b = [r.to_dict() for r in match_instances(perm_pred[pred], perm_gt[gt])]
    assert a == b
    assert rand_error(pred, gt) == pytest.approx(rand_error(perm_pred[pred], perm_gt[gt]))


def test_non_consecutive_and_large_label_ids_give_same_scores_as_consecutive():
    gt = _two_squares().astype(np.int64)
    pred = gt.copy()
    pred[0, 0] = 0
    ref = match_instances(pred, gt)
    lut = np.array([0, 70_000_000_000, 3])  # far beyond the bincount fast path
    assert [r.to_dict() for r in match_instances(lut[pred], lut[gt])] == [r.to_dict() for r in ref]
    lut_neg = np.array([0, -5, 17])
    assert [r.to_dict() for r in match_instances(lut_neg[pred], lut_neg[gt])] == [r.to_dict() for r in ref]


def test_empty_prediction_and_empty_gt_are_defined_without_warnings():
    gt = _two_squares()
    empty = np.zeros_like(gt)
    (r,) = match_instances(empty, gt, thresholds=[0.5])
    assert (r.tp, r.fp, r.fn) == (0, 0, 2)
    assert r.precision == r.recall == r.f1 == r.ap == 0.0
    assert np.isnan(r.mean_matched_iou)
    (r,) = match_instances(gt, empty, thresholds=[0.5])
    assert (r.tp, r.fp, r.fn) == (0, 2, 0)
    assert r.precision == r.recall == r.f1 == r.ap == 0.0
    (r,) = match_instances(empty, empty, thresholds=[0.5])
    assert (r.tp, r.fp, r.fn) == (0, 0, 0)
    assert r.precision == r.recall == r.f1 == r.ap == 1.0
    assert mean_average_precision(empty, empty) == 1.0
    assert mean_average_precision(empty, gt) == 0.0
    assert mean_average_precision(gt, empty) == 0.0


def test_matching_below_half_is_one_to_one_and_maximises_number_of_matches():
    # gt objects A (cols 0-3) and B (cols 4-5); one row, 1 px per column.
    # pred objects P (cols 1-4) and Q (cols 5-7).
    #   IoU(A,P) = 3/5 = 0.6, IoU(B,P) = 1/5 = 0.2, IoU(B,Q) = 1/4 = 0.25, IoU(A,Q) = 0
    # thr 0.2: optimal one-to-one gives A-P and B-Q -> tp 2 (greedy-by-row could give B-P)
    gt = np.array([[1, 1, 1, 1, 2, 2, 0, 0]])
    pred = np.array([[0, 1, 1, 1, 1, 2, 2, 2]])
    (r,) = match_instances(pred, gt, thresholds=0.2)
    assert (r.tp, r.fp, r.fn) == (2, 0, 0)
    assert r.mean_matched_iou == pytest.approx((0.6 + 0.25) / 2)
    (r,) = match_instances(pred, gt, thresholds=0.3)
    assert (r.tp, r.fp, r.fn) == (1, 1, 1)


def test_mask_counts_only_objects_mostly_inside_it():
    gt = _two_squares()  # object 1 at top-left, 2 at bottom-right
    pred = np.zeros_like(gt)
    pred[3:5, 3:5] = 4  # only object 2 found
    pred[0, 4:6] = 9  # a false positive in the top-right corner
    (full,) = match_instances(pred, gt, thresholds=0.5)
    assert (full.tp, full.fp, full.fn) == (1, 1, 1)
    mask = np.zeros(gt.shape, bool)
    mask[3:, :] = True  # bottom half only: contains object 2 and its match
    (r,) = match_instances(pred, gt, thresholds=0.5, mask=mask)
    assert (r.tp, r.fp, r.fn, r.n_gt, r.n_pred) == (1, 0, 0, 1, 1)
    # exactly half inside is not a majority: object 1 covers rows 0-1, mask rows 1-5
    mask2 = np.zeros(gt.shape, bool)
    mask2[1:, :] = True
    (r,) = match_instances(pred, gt, thresholds=0.5, mask=mask2)
    assert (r.tp, r.fp, r.fn) == (1, 0, 0)
    assert mean_average_precision(pred, gt, mask=mask) == 1.0


def test_matched_pair_counts_when_either_object_is_in_mask():
    gt = np.zeros((4, 8), int)
    gt[:, 2:5] = 1  # 12 px, cols 2-4
    pred = np.zeros((4, 8), int)
    pred[:, 3:6] = 1  # 12 px, cols 3-5 -> IoU 8/16 = 0.5
    mask = np.zeros((4, 8), bool)
    mask[:, 4:] = True  # gt has 4/12 inside (does not count), pred 8/12 (counts)
    (r,) = match_instances(pred, gt, thresholds=0.5, mask=mask)
    assert (r.tp, r.fp, r.fn, r.n_gt, r.n_pred) == (1, 0, 0, 0, 1)


def test_mean_average_precision_threshold_range_is_a_parameter():
    gt = np.zeros((4, 4), np.uint8)
    gt[:2, :2] = 1
    pred = gt.copy()
    pred[2, 0] = 1  # IoU 0.8
    # AP@0.5:0.9 -> thresholds 0.5..0.9 (9): ap 1 at 7 of them
    assert mean_average_precision(pred, gt, thresholds=np.arange(0.5, 0.9 + 1e-9, 0.05)) == pytest.approx(7 / 9)


# ----------------------------------------------------------------------------- ISBI 2012


def test_pixel_error_matches_hand_computed_value():
    gt = np.array([[1, 1, 0, 0]] * 4, dtype=bool)
    pred = np.array([[1, 0, 0, 1]] * 4, dtype=np.uint8) * 255
    # disagreement in columns 1 and 3 -> 8 of 16 pixels
    assert pixel_error(pred, gt) == 0.5
    assert pixel_error(gt, gt) == 0.0


def test_perfect_segmentation_has_zero_rand_error():
    gt = _two_squares()
    assert rand_error(gt, gt) == 0.0
    relabelled = np.where(gt > 0, 10 - gt, 0)
    assert rand_error(relabelled, gt) == 0.0
    assert rand_scores(gt, gt) == (0.0, 1.0, 1.0)


def test_merging_two_gt_regions_raises_rand_error_through_precision():
    gt = np.array([[1, 1, 1, 1], [2, 2, 2, 2]])
    merged = np.ones_like(gt)
    # true pairs: 2 * C(4,2) = 12 ; predicted pairs: C(8,2) = 28 ; tp = 12
    # precision 12/28, recall 1, f = 24/40 = 0.6 -> error 0.4
    err, precision, recall = rand_scores(merged, gt)
    assert err == pytest.approx(0.4)
    assert precision == pytest.approx(12 / 28)
    assert recall == 1.0
    assert rand_error(merged, gt) > rand_error(gt, gt)


def test_splitting_a_gt_region_raises_rand_error_through_recall():
    gt = np.ones((2, 4), int)
    split = np.array([[1, 1, 1, 1], [2, 2, 2, 2]])
    err, precision, recall = rand_scores(split, gt)
    assert precision == 1.0
    assert recall == pytest.approx(12 / 28)
    assert err == pytest.approx(0.4)


def test_rand_error_region_mode_equals_skimage_adapted_rand_error():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 5, size=(20, 20))
    pred = rng.integers(0, 4, size=(20, 20))
    ref_err, _, _ = adapted_rand_error(gt, pred)
    assert rand_error(pred, gt, pred_background="region") == pytest.approx(ref_err)


def test_rand_error_singleton_mode_equals_skimage_with_background_as_singletons():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 5, size=(20, 20))
    pred = rng.integers(0, 4, size=(20, 20))
    singles = pred.copy()
    zero = singles == 0
    singles[zero] = 100 + np.arange(zero.sum())
    ref_err, _, _ = adapted_rand_error(gt, singles)
    assert rand_error(pred, gt) == pytest.approx(ref_err)


def test_gt_background_pixels_are_excluded_from_rand_error():
    gt = np.array([[1, 1, 0, 2, 2]])
    pred = np.array([[1, 1, 7, 2, 2]])  # differs only on a gt boundary pixel
    assert rand_error(pred, gt) == 0.0


def test_rand_error_from_masks_uses_4_connectivity_components():
    # gt interior: two regions separated by a membrane column
    gt = np.ones((4, 5), bool)
    gt[:, 2] = False
    assert rand_error_from_masks(gt, gt) == 0.0
    # pred misses the membrane -> one merged region -> error > 0
    assert rand_error_from_masks(np.ones_like(gt), gt) > 0.0
    # diagonal-only contact does not connect (4-connectivity): still a perfect score
    gt_diag = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], bool)
    assert rand_error_from_masks(gt_diag, gt_diag) == 0.0
    with pytest.raises(ValueError, match="shape"):
        rand_error_from_masks(gt, gt[:, :4])


def test_rand_error_edge_cases_are_defined_without_warnings():
    z = np.zeros((4, 4), int)
    gt = _two_squares()[:4, :4]
    assert rand_error(z, z) == 0.0  # no gt foreground: nothing to get wrong
    assert rand_error(z, gt) == 1.0  # all predicted membrane: every true pair split
    assert rand_scores(z, gt).precision == 1.0


# ----------------------------------------------------------------------------- speed


def test_large_image_with_hundreds_of_objects_is_scored_quickly():
    n, step = 1000, 40  # 625 square objects
    yy, xx = np.mgrid[:n, :n]
    gt = ((yy // step) * (n // step) + (xx // step) + 1).astype(np.int32)
    gt[(yy % step < 2) | (xx % step < 2)] = 0
    pred = np.roll(gt, 1, axis=1)
    t0 = time.perf_counter()
    res = match_instances(pred, gt)
    err = rand_error(pred, gt)
    elapsed = time.perf_counter() - t0
    assert _by_thr(res, 0.9).tp == 625
    assert 0 < err < 0.1
    assert elapsed < 1.0


def test_metrics_module_is_headless():
    """metrics.py imports only the standard library, numpy, scipy and skimage (no torch/napari/Qt)."""
    import ast
    import sys
    from pathlib import Path

    import napari_unet.core.metrics as metrics

    tree = ast.parse(Path(metrics.__file__).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    third_party = {r for r in roots if r not in sys.stdlib_module_names}
    assert third_party <= {"numpy", "scipy", "skimage"}


def test_f1_and_msa_pools_f1_and_averages_each_images_msa():
    from napari_unet.core.metrics import f1_and_msa, match_instances, mean_segmentation_accuracy

    a = np.zeros((20, 20), int)
    a[2:8, 2:8], a[10:16, 10:16] = 1, 2
    b = a.copy()
    b[10:16, 10:13] = 3  # object 2 cut in two
    c = np.zeros((20, 20), int)
    c[2:8, 3:9] = 1  # shifted by one pixel
    pairs = [(b, a), (c, a)]
    f1, msa, counts = f1_and_msa(pairs)
    rs = [match_instances(p, g, thresholds=(0.5,))[0] for p, g in pairs]
    tp, fp, fn = sum(r.tp for r in rs), sum(r.fp for r in rs), sum(r.fn for r in rs)
    assert counts == (tp, fp, fn) == (3, 1, 1)  # the half of 2 left still matches at 0.5
    assert f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert msa == pytest.approx(np.mean([mean_segmentation_accuracy(p, g) for p, g in pairs]))
