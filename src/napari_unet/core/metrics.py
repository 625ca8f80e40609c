"""Segmentation metrics: semantic IoU, instance matching / DSB2018 AP, ISBI 2012 errors.

Headless and pure: numpy, scipy and scikit-image only. Every function takes label
images of any integer (or boolean) dtype, checks that their shapes match
(``ValueError`` otherwise) and is vectorised through contingency tables, so a
1000 x 1000 image with hundreds of objects is scored in tens of milliseconds.

Conventions
-----------
* Label images: ``0`` is background, any other value is an object / class id.
  Ids need not be consecutive and may be any (non-negative or negative) integers.
* Float arrays are accepted only when every value is an integer (e.g. a label
  image that went through a float pipeline); anything else raises ``TypeError``.
* Undefined ratios never emit ``RuntimeWarning``: each function documents the
  value it returns in the degenerate case (empty prediction, empty ground truth).

Contents
--------
:func:`iou_per_class`, :func:`foreground_iou`
    Semantic (pixel) IoU.
:func:`match_instances`, :func:`mean_average_precision`
    Instance matching at IoU thresholds (one-to-one, optimal) and the
    DSB2018 / StarDist "average precision" ``tp / (tp + fp + fn)``.
:func:`pixel_error`, :func:`rand_error`, :func:`rand_error_from_masks`, :func:`rand_scores`
    The ISBI 2012 EM-segmentation challenge metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from skimage.measure import label as _cc_label

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MatchResult",
    "RandScores",
    "f1_and_msa",
    "foreground_iou",
    "iou_per_class",
    "match_instances",
    "mean_average_precision",
    "mean_segmentation_accuracy",
    "pixel_error",
    "rand_error",
    "rand_error_from_masks",
    "rand_scores",
]

#: IoU thresholds 0.50, 0.55, ..., 0.95 (10 values) of the DSB2018 score / COCO "AP@[.5:.95]".
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(
    float(t) for t in np.round(np.arange(0.5, 0.95 + 1e-9, 0.05), 2)
)

# IoUs are ratios of pixel counts; a threshold such as 0.7000000000000001 coming
# out of np.arange must still accept an IoU of exactly 7/10.
_THR_EPS = 1e-12


# ----------------------------------------------------------------------------- helpers


def _as_labels(x, name: str) -> np.ndarray:
    """Return ``x`` as an integer ndarray (bool -> uint8, integral floats -> int64)."""
    a = np.asarray(x)
    if a.dtype == bool:
        return a.view(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return a
    if np.issubdtype(a.dtype, np.floating):
        if a.size and not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
            raise TypeError(f"{name} must be an integer label image, got non-integer {a.dtype} values")
        return a.astype(np.int64)
    raise TypeError(f"{name} must be an integer label image, got dtype {a.dtype}")


def _as_mask(x, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``x`` as a boolean ndarray of the given shape (nonzero = True)."""
    m = np.asarray(x)
    if m.shape != shape:
        raise ValueError(f"{name} has shape {m.shape}, expected {shape} (the shape of the label images)")
    return m if m.dtype == bool else m != 0


def _check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("pred", "gt")) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}")


def _relabel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map the values of a 1-D integer array onto ``0..k-1``.

    Returns ``(uniques, inverse)`` with ``uniques[inverse] == x``. Uses an O(n)
    bincount lookup table when the ids are small non-negative integers (the usual
    case) and falls back on :func:`numpy.unique` (sorting) otherwise.
    """
    x = x.ravel()
    if x.size == 0:
        return np.empty(0, dtype=x.dtype), np.empty(0, dtype=np.intp)
    lo, hi = x.min(), x.max()
    if lo >= 0 and int(hi) <= max(2 * x.size, 1 << 16):
        xi = x.astype(np.intp, copy=False)
        present = np.bincount(xi, minlength=int(hi) + 1) > 0
        uniques = np.flatnonzero(present)
        lut = np.cumsum(present, dtype=np.intp) - 1
        return uniques.astype(x.dtype, copy=False), lut[xi]
    uniques, inverse = np.unique(x, return_inverse=True)
    return uniques, inverse.ravel().astype(np.intp, copy=False)


def _contingency(a: np.ndarray, b: np.ndarray):
    """Sparse contingency table of two 1-D label arrays of equal length.

    Returns ``(ua, ub, rows, cols, counts)``: ``counts[k]`` pixels carry label
    ``ua[rows[k]]`` in ``a`` and ``ub[cols[k]]`` in ``b``; only nonzero cells are listed.
    """
    ua, ia = _relabel(a)
    ub, ib = _relabel(b)
    na, nb = len(ua), len(ub)
    key = ia.astype(np.int64) * nb + ib
    if na * nb <= max(4 * key.size, 1 << 20):
        counts = np.bincount(key, minlength=na * nb)
        cells = np.flatnonzero(counts)
        counts = counts[cells]
    else:
        cells, counts = np.unique(key, return_counts=True)
    return ua, ub, cells // nb, cells % nb, counts.astype(np.int64)


def _ratio(num: float, den: float, empty: float) -> float:
    """``num / den`` as a float, or ``empty`` when ``den == 0`` (no warning)."""
    return float(num) / float(den) if den > 0 else float(empty)


# ----------------------------------------------------------------------------- semantic IoU


def iou_per_class(pred, gt, classes: Iterable[int] | None = None, ignore=None) -> dict[int, float]:
    """Per-class intersection over union of two semantic label images.

    For each class ``c``: ``|pred == c & gt == c| / |pred == c | gt == c|``,
    counted over the pixels that are not ignored.

    Parameters
    ----------
    pred, gt : array of int, same shape
        Class-id images (prediction and ground truth).
    classes : iterable of int, optional
        Classes to report. Default: every value present in ``pred`` or ``gt``
        among the non-ignored pixels, background ``0`` included.
    ignore : array of bool, optional
        Pixels excluded from the computation (``True`` = ignored), e.g. unlabelled
        pixels of a sparse annotation.

    Returns
    -------
    dict[int, float]
        ``{class_id: IoU}`` in the order of ``classes`` (sorted by default).
        A class absent from both images (empty union) gets ``nan``.
    """
    p = _as_labels(pred, "pred")
    g = _as_labels(gt, "gt")
    _check_same_shape(p, g)
    p, g = p.ravel(), g.ravel()
    if ignore is not None:
        keep = ~_as_mask(ignore, "ignore", np.shape(pred)).ravel()
        p, g = p[keep], g[keep]

    both = np.concatenate([p.astype(np.int64, copy=False), g.astype(np.int64, copy=False)])
    uniq, inv = _relabel(both)
    ip, ig = inv[: p.size], inv[p.size :]
    k = len(uniq)
    area_p = np.bincount(ip, minlength=k)
    area_g = np.bincount(ig, minlength=k)
    inter = np.bincount(ig[ip == ig], minlength=k)
    union = area_p + area_g - inter

    index = {int(u): i for i, u in enumerate(uniq)}
    wanted = [int(c) for c in uniq] if classes is None else [int(c) for c in classes]
    out: dict[int, float] = {}
    for c in wanted:
        i = index.get(c)
        out[c] = float("nan") if i is None or union[i] == 0 else float(inter[i]) / float(union[i])
    return out


def foreground_iou(pred, gt, mask=None) -> float:
    """IoU of the foregrounds ``pred > 0`` and ``gt > 0`` (nonzero = foreground).

    Parameters
    ----------
    pred, gt : array of int or bool, same shape
    mask : array of bool, optional
        Region evaluated (``True`` = counted). Note the polarity is the opposite
        of ``ignore`` in :func:`iou_per_class`.

    Returns
    -------
    float
        ``|P & G| / |P | G|``; ``nan`` when both foregrounds are empty in the region.
    """
    p = _as_labels(pred, "pred")
    g = _as_labels(gt, "gt")
    _check_same_shape(p, g)
    pf, gf = p != 0, g != 0
    if mask is not None:
        m = _as_mask(mask, "mask", p.shape)
        pf, gf = pf & m, gf & m
    inter = np.count_nonzero(pf & gf)
    union = np.count_nonzero(pf | gf)
    return _ratio(inter, union, float("nan"))


# ----------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class MatchResult:
    """Instance-matching statistics at one IoU threshold.

    Attributes
    ----------
    thr : float
        IoU threshold; a pair matches when ``IoU >= thr``.
    tp, fp, fn : int
        Matched pairs, unmatched predictions, unmatched ground-truth objects.
    precision : float
        ``tp / (tp + fp)``.
    recall : float
        ``tp / (tp + fn)``.
    f1 : float
        ``2 tp / (2 tp + fp + fn)``.
    ap : float
        DSB2018 / StarDist "average precision" ``tp / (tp + fp + fn)``.
    n_pred, n_gt : int
        Number of counted predicted / ground-truth objects.
    mean_matched_iou : float
        Mean IoU of the matched pairs (``nan`` when ``tp == 0``).

    Degenerate cases: every ratio whose denominator is zero is ``1.0`` when there is
    nothing to find and nothing was predicted (``tp = fp = fn = 0``), else ``0.0``.
    E.g. empty prediction vs non-empty ground truth gives precision = recall = f1 = ap = 0.
    """

    thr: float
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    ap: float
    n_pred: int
    n_gt: int
    mean_matched_iou: float

    def to_dict(self) -> dict:
        """The fields as a plain ``dict``."""
        return asdict(self)


def _iou_matrix(pred: np.ndarray, gt: np.ndarray):
    """Dense IoU matrix between the nonzero objects of ``gt`` (rows) and ``pred`` (cols).

    Returns ``(gt_ids, pred_ids, iou)``; objects that do not overlap get IoU 0.
    """
    ug, up, rows, cols, counts = _contingency(gt.ravel(), pred.ravel())
    area_g = np.bincount(rows, weights=counts, minlength=len(ug))
    area_p = np.bincount(cols, weights=counts, minlength=len(up))
    g_obj = ug != 0
    p_obj = up != 0
    # position of each label among the objects (-1 for background)
    g_pos = np.cumsum(g_obj) - 1
    p_pos = np.cumsum(p_obj) - 1
    iou = np.zeros((int(g_obj.sum()), int(p_obj.sum())), dtype=np.float64)
    both = g_obj[rows] & p_obj[cols]
    r, c, inter = rows[both], cols[both], counts[both].astype(np.float64)
    iou[g_pos[r], p_pos[c]] = inter / (area_g[r] + area_p[c] - inter)
    return ug[g_obj], up[p_obj], iou, area_g[g_obj], area_p[p_obj]


def _in_region(labels: np.ndarray, ids: np.ndarray, areas: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each object id, whether strictly more than half of its pixels lie in ``mask``."""
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    inside_labels = labels[mask]
    inside_labels = inside_labels[inside_labels != 0]
    u, n_in = np.unique(inside_labels, return_counts=True)
    pos = np.searchsorted(ids, u)  # ids are sorted (from _relabel / np.unique)
    inside = np.zeros(len(ids), dtype=np.float64)
    inside[pos] = n_in
    return 2 * inside > areas


def _match(iou: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of pairs with ``iou >= thr``.

    Maximises first the number of matched pairs, then (as a tie-break) their total
    IoU, with :func:`scipy.optimize.linear_sum_assignment`. For ``thr > 0.5`` each
    object has at most one candidate so this equals greedy matching, but it is also
    correct for lower thresholds. Returns the matched (row, col) indices.
    """
    cand = iou >= thr - _THR_EPS
    rows_any = np.flatnonzero(cand.any(axis=1))
    cols_any = np.flatnonzero(cand.any(axis=0))
    if rows_any.size == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    sub_c = cand[np.ix_(rows_any, cols_any)]
    sub_iou = np.where(sub_c, iou[np.ix_(rows_any, cols_any)], 0.0)
    n = min(sub_c.shape)
    # count term dominates: the IoU tie-break sums to at most n * 1 / (2n) = 0.5 < 1
    cost = -(sub_c.astype(np.float64)) - sub_iou / (2.0 * n)
    r, c = linear_sum_assignment(cost)
    ok = sub_c[r, c]
    return rows_any[r[ok]], cols_any[c[ok]]


def match_instances(pred, gt, thresholds=DEFAULT_THRESHOLDS, mask=None) -> list[MatchResult]:
    """Match predicted to ground-truth objects at one or more IoU thresholds.

    The IoU between every predicted and every ground-truth object is computed from
    a single contingency table (one pass over the pixels), then for each threshold
    objects are paired one-to-one by an optimal assignment
    (:func:`scipy.optimize.linear_sum_assignment`) that maximises the number of
    pairs with ``IoU >= thr`` (ties broken by total IoU).

    Parameters
    ----------
    pred, gt : array of int, same shape
        Instance label images, ``0`` = background; ids need not be consecutive.
    thresholds : float or iterable of float
        IoU thresholds. Default :data:`DEFAULT_THRESHOLDS` = 0.5, 0.55, ..., 0.95.
    mask : array of bool, optional
        Region of interest. An object *counts* when strictly more than half of its
        pixels lie in the mask (rule applied to predicted and ground-truth objects
        alike). Matching and IoUs always use the whole images and whole objects; then
        a matched pair is one true positive if at least one of its two objects
        counts, an unmatched prediction is a false positive only if it counts, and
        an unmatched ground-truth object is a false negative only if it counts.
        With ``mask=None`` (or an all-True mask) every object counts.

    Returns
    -------
    list[MatchResult]
        One result per threshold, in the given order. See :class:`MatchResult` for
        the fields and for the values returned when a ratio is undefined.
    """
    p = _as_labels(pred, "pred")
    g = _as_labels(gt, "gt")
    _check_same_shape(p, g)
    thrs = np.atleast_1d(np.asarray(thresholds, dtype=np.float64)).ravel()

    gt_ids, pred_ids, iou, area_g, area_p = _iou_matrix(p, g)
    if mask is None:
        g_in = np.ones(len(gt_ids), dtype=bool)
        p_in = np.ones(len(pred_ids), dtype=bool)
    else:
        m = _as_mask(mask, "mask", p.shape)
        g_in = _in_region(g, gt_ids, area_g, m)
        p_in = _in_region(p, pred_ids, area_p, m)
    n_gt, n_pred = int(g_in.sum()), int(p_in.sum())

    results = []
    for thr in thrs:
        r, c = _match(iou, float(thr))
        pair_counts = g_in[r] | p_in[c]
        tp = int(pair_counts.sum())
        matched_g = np.zeros(len(gt_ids), dtype=bool)
        matched_p = np.zeros(len(pred_ids), dtype=bool)
        matched_g[r] = True
        matched_p[c] = True
        fn = int(np.count_nonzero(g_in & ~matched_g))
        fp = int(np.count_nonzero(p_in & ~matched_p))
        nothing = 1.0 if tp + fp + fn == 0 else 0.0
        results.append(
            MatchResult(
                thr=round(float(thr), 10),
                tp=tp,
                fp=fp,
                fn=fn,
                precision=_ratio(tp, tp + fp, nothing),
                recall=_ratio(tp, tp + fn, nothing),
                f1=_ratio(2 * tp, 2 * tp + fp + fn, nothing),
                ap=_ratio(tp, tp + fp + fn, nothing),
                n_pred=n_pred,
                n_gt=n_gt,
                mean_matched_iou=float(iou[r[pair_counts], c[pair_counts]].mean()) if tp else float("nan"),
            )
        )
    return results


def mean_average_precision(pred, gt, thresholds=DEFAULT_THRESHOLDS, mask=None) -> float:
    """Mean over IoU thresholds of the DSB2018 average precision ``tp / (tp + fp + fn)``.

    This is the Data Science Bowl 2018 score. The default thresholds are
    0.5, 0.55, ..., 0.95 (``np.arange(0.5, 0.95 + 1e-9, 0.05)``, i.e. "AP@0.5:0.95");
    for "AP@0.5:0.9" pass ``thresholds=np.arange(0.5, 0.9 + 1e-9, 0.05)``.
    ``mask`` follows the rule of :func:`match_instances`.

    Returns 1.0 when both images are empty and 0.0 when exactly one of them is.
    """
    res = match_instances(pred, gt, thresholds=thresholds, mask=mask)
    return float(np.mean([r.ap for r in res]))


def mean_segmentation_accuracy(pred, gt, mask=None) -> float:
    """mSA: the mean over IoU 0.50, 0.55, ..., 0.95 of ``tp / (tp + fp + fn)`` for one image.

    micro-sam's "mean segmentation accuracy" and the DSB2018 challenge's per-image score (the
    same number as :func:`mean_average_precision` with the default thresholds). A set's mSA is
    the mean of its images' (as micro-sam reports it). Where F1@0.5 counts an object found
    once half of it overlaps, mSA keeps rewarding better boundaries up to IoU 0.95.

    Returns 1.0 when both images are empty and 0.0 when exactly one of them is.
    """
    return mean_average_precision(pred, gt, DEFAULT_THRESHOLDS, mask)


def f1_and_msa(pairs) -> tuple[float, float, tuple[int, int, int]]:
    """A set's F1@0.5 and mSA from ``(pred, gt)`` pairs of instance label images, each pair
    matched once at IoU 0.50-0.95: F1@0.5 pooled (true and false positives and negatives
    summed over the images before the ratio), mSA the mean over images of
    :func:`mean_segmentation_accuracy`. Returns ``(f1, msa, (tp, fp, fn))`` at IoU 0.5."""
    tp = fp = fn = 0
    msa = []
    for pred, gt in pairs:
        res = match_instances(pred, gt)
        tp, fp, fn = tp + res[0].tp, fp + res[0].fp, fn + res[0].fn
        msa.append(float(np.mean([r.ap for r in res])))
    return 2 * tp / max(1, 2 * tp + fp + fn), float(np.mean(msa)), (tp, fp, fn)


# ----------------------------------------------------------------------------- ISBI 2012


def pixel_error(pred_fg, gt_fg) -> float:
    """ISBI 2012 pixel error: fraction of pixels where the binary maps disagree.

    ``1 - mean(pred_fg == gt_fg)`` after binarising both (nonzero = foreground).
    Returns ``nan`` for zero-size inputs.
    """
    p = _as_labels(pred_fg, "pred_fg")
    g = _as_labels(gt_fg, "gt_fg")
    _check_same_shape(p, g, ("pred_fg", "gt_fg"))
    if p.size == 0:
        return float("nan")
    return float(np.count_nonzero((p != 0) != (g != 0))) / p.size


class RandScores(NamedTuple):
    """Foreground-restricted Rand scores (Arganda-Carreras et al. 2015).

    ``error = 1 - f`` where ``f = 2 tp / (n_pairs_gt + n_pairs_pred)`` is the
    harmonic mean of ``precision`` (= V_merge: ``tp / n_pairs_pred``, lowered by
    false merges) and ``recall`` (= V_split: ``tp / n_pairs_gt``, lowered by false
    splits). ``tp`` counts pixel pairs in the same region in both segmentations.
    Note: :func:`skimage.metrics.adapted_rand_error` returns the same error but
    names the two ratios the other way round.
    """

    error: float
    precision: float
    recall: float


def _pairs(counts: np.ndarray) -> float:
    """Number of unordered pixel pairs inside regions of the given sizes."""
    c = counts.astype(np.float64)
    return float(np.dot(c, c - 1.0) / 2.0)


def rand_scores(pred, gt, pred_background: str = "singletons") -> RandScores:
    """Foreground-restricted Rand error, precision and recall of two label images.

    Only pixels with ``gt != 0`` are considered (gt 0 = boundary / background,
    excluded as in the ISBI 2012 evaluation). Within them, a pair of pixels is a
    *true pair* if it lies in one gt region and a *predicted pair* if it lies in one
    ``pred`` region.

    Parameters
    ----------
    pred, gt : array of int, same shape
    pred_background : {"singletons", "region"}
        How ``pred == 0`` pixels that fall inside gt regions are treated.
        ``"singletons"`` (default): each is its own region, so it is paired with
        nothing. This is what the ISBI 2012 Fiji reference implementation does
        (``trainableSegmentation.metrics.RandError``: the zero column of the
        contingency table is pruned). ``"region"``: ``0`` is one ordinary region;
        this equals :func:`skimage.metrics.adapted_rand_error` (with its default
        ``ignore_labels=(0,)``).

    Returns
    -------
    RandScores
        ``(error, precision, recall)``. When a segmentation has no pair at all its
        ratio is 1.0 (nothing to merge / split); when neither has any pair
        (e.g. empty gt) the error is 0.0.
    """
    if pred_background not in ("singletons", "region"):
        raise ValueError(f"pred_background must be 'singletons' or 'region', got {pred_background!r}")
    p = _as_labels(pred, "pred")
    g = _as_labels(gt, "gt")
    _check_same_shape(p, g)
    fg = g != 0
    gv, pv = g[fg], p[fg]

    _, ig = _relabel(gv)
    true_pairs = _pairs(np.bincount(ig))
    if pred_background == "singletons":
        keep = pv != 0
        gv, pv = gv[keep], pv[keep]
    _, _, _, cols, counts = _contingency(gv, pv)
    tp = _pairs(counts)
    pred_pairs = _pairs(np.bincount(cols, weights=counts)) if counts.size else 0.0

    precision = _ratio(tp, pred_pairs, 1.0)
    recall = _ratio(tp, true_pairs, 1.0)
    f = _ratio(2.0 * tp, true_pairs + pred_pairs, 1.0)
    return RandScores(error=1.0 - f, precision=precision, recall=recall)


def rand_error(pred, gt, pred_background: str = "singletons") -> float:
    """ISBI 2012 Rand error of two region label images: ``1 - max F-score of V_rand``.

    The "adapted" / foreground-restricted Rand error of Arganda-Carreras et al.
    (2015, Front. Neuroanat. 9:142), the official ISBI 2012 / SNEMI3D score:
    gt pixels labelled 0 (membranes) are excluded, the error is 1 minus the
    harmonic mean of the Rand merge and split scores. 0 is perfect; merging two gt
    regions or splitting one raises it. See :func:`rand_scores` for the details,
    the ``pred_background`` option and the precision / recall values.
    """
    return rand_scores(pred, gt, pred_background=pred_background).error


def rand_error_from_masks(pred_interior, gt_interior, pred_background: str = "singletons") -> float:
    """ISBI 2012 Rand error from binary cell-interior masks.

    Regions are the 4-connected components (``skimage.measure.label``,
    ``connectivity=1``) of each interior (foreground, non-membrane) mask, exactly
    as the challenge's Fiji script does for a binarised proposal; membrane pixels
    are label 0 and handled as in :func:`rand_scores` (excluded from gt, singletons
    in the prediction by default). The challenge takes the best value over
    binarisation thresholds of a probability map; call this once per threshold and
    keep the minimum to reproduce that.
    """
    p = np.asarray(pred_interior)
    g = np.asarray(gt_interior)
    _check_same_shape(p, g, ("pred_interior", "gt_interior"))
    pl = _cc_label(p != 0, connectivity=1)
    gl = _cc_label(g != 0, connectivity=1)
    return rand_error(pl, gl, pred_background=pred_background)
