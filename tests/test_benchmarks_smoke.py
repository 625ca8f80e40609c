"""The few-shot benchmark's pieces (benchmarks/painting.py, baselines.py, fewshot.py) on
synthetic images: painting conventions, whole-object regions, and the random-forest baseline.

None of these tests needs ../shared/data; the one that checks the real splits skips without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import baselines  # noqa: E402
import fewshot  # noqa: E402
import painting  # noqa: E402
from napari_unet.core.config import PostprocessConfig  # noqa: E402
from napari_unet.core.inference.postprocess import to_instances  # noqa: E402
from napari_unet.core.metrics import match_instances  # noqa: E402
from napari_unet.synthetic import nuclei  # noqa: E402


@pytest.fixture(scope="module")
def two_images():
    cases = [nuclei((128, 128), n=14, seed=s) for s in (1, 2)]
    return [im[None] for im, _ in cases], [t.astype(np.int32) for _, t in cases]


def _cell_grid(size=96, step=24, wall=3):
    """An EM-like interior mask: square cells separated by membranes ``wall`` px wide."""
    interior = np.ones((size, size), bool)
    for k in range(0, size, step):
        interior[k : k + wall, :] = False
        interior[:, k : k + wall] = False
    return interior


# ----------------------------------------------------------------------------- painting


def test_scribbles_paint_object_interiors_as_2_and_background_as_1(two_images):
    _, truths = two_images
    labels = painting.scribbles(truths, n_objects=5, seed=0)
    assert len(labels) == 2
    painted_ids = set()
    for lab, truth in zip(labels, truths):
        assert lab.shape == truth.shape and lab.dtype == np.uint8
        assert set(np.unique(lab)) <= {0, 1, 2}
        assert (truth[lab == 2] > 0).all(), "foreground paint only inside objects"
        assert (truth[lab == 1] == 0).all(), "background paint only on background"
        assert (lab == 1).any(), "every image gets background strokes"
        painted_ids |= {(id(truth), int(i)) for i in np.unique(truth[lab == 2])}
    assert len(painted_ids) == 5, "N objects spread over the images"


def test_scribbles_are_reproducible_from_the_seed(two_images):
    _, truths = two_images
    a = painting.scribbles(truths, 10, seed=3)
    b = painting.scribbles(truths, 10, seed=3)
    c = painting.scribbles(truths, 10, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_region_holds_every_object_it_touches_whole(two_images):
    _, truths = two_images
    truth = truths[0]
    rp = painting.whole_objects_in_region(truth, 5, seed=0)
    assert rp.n_objects >= 5
    assert rp.labels.shape == truth.shape and rp.region.dtype == bool
    painted = rp.labels > 0
    assert np.array_equal(rp.labels[painted], truth[painted]), "objects keep their own ids"
    for i in np.unique(truth[rp.region]):
        if i:
            obj = truth == i
            assert rp.region[obj].all() and (rp.labels[obj] == i).all(), f"object {i} cut by the region"
    # fully annotated: inside the region every unpainted pixel is true background
    assert (truth[rp.region & ~painted] == 0).all()
    y0, y1, x0, x1 = rp.window
    assert rp.region[y0:y1, x0:x1].all()
    sem = rp.as_semantic()
    assert set(np.unique(sem[rp.region])) == {1, 2} and (sem[~rp.region] == 0).all()
    assert np.array_equal(sem == 2, painted)


def test_region_grows_to_the_whole_image_when_there_are_too_few_objects():
    truth = np.zeros((40, 50), np.int32)
    truth[5:10, 5:10] = 1
    truth[30:35, 40:45] = 7
    rp = painting.whole_objects_in_region(truth, 25, seed=0)
    assert rp.n_objects == 2 and rp.region.all()
    assert rp.window == (0, 40, 0, 50)


def test_membrane_strokes_stay_on_the_membrane():
    interior = _cell_grid()
    strokes = painting.membrane_strokes(~interior, 6, seed=0)
    assert strokes.any() and not (strokes & interior).any()
    cells = painting.cells_from_interior(interior)
    assert cells.max() == 16
    (lab,) = painting.scribbles([cells], n_objects=3, seed=1, membranes=True)
    assert (interior[lab == 2]).all() and not interior[lab == 1].any()
    assert np.count_nonzero(np.unique(cells[lab == 2])) == 3


# ----------------------------------------------------------------------------- random forest


def test_rf_probabilities_sum_to_one_in_the_unet_layout(nuclei_case):
    image, _, painted = nuclei_case
    rf = baselines.RandomForestSegmenter(n_estimators=20, seed=0).fit([image], [painted])
    pred = rf.predict(image)
    assert pred.probabilities.shape == (2,) + image.shape[1:]
    assert pred.probabilities.dtype == np.float32
    np.testing.assert_allclose(pred.probabilities.sum(0), 1.0, atol=1e-5)
    assert np.array_equal(pred.labels, pred.probabilities.argmax(0) + 1)
    assert rf.fit_seconds > 0 and rf.predict_seconds > 0
    inst = to_instances(pred.probabilities, "semantic", PostprocessConfig())
    assert inst.shape == image.shape[1:] and inst.max() > 0


def test_rf_gives_zero_probability_to_a_class_never_painted():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 32, 32)).astype(np.float32)
    labels = np.zeros((32, 32), np.uint8)
    labels[:4] = 1
    labels[-4:] = 3  # class 2 is never painted
    pred = baselines.RandomForestSegmenter(n_estimators=5).fit([image], [labels]).predict(image)
    assert pred.probabilities.shape == (3, 32, 32)
    assert (pred.probabilities[1] == 0).all()
    np.testing.assert_allclose(pred.probabilities.sum(0), 1.0, atol=1e-5)


def test_rf_features_handle_rgb():
    image = np.random.default_rng(0).uniform(size=(3, 40, 48)).astype(np.float32)
    feats = baselines.pixel_features(image)
    assert feats.shape[:2] == (40, 48) and feats.shape[2] == 3 * 4 * 5


def test_rf_separates_a_trivially_separable_image():
    rng = np.random.default_rng(0)
    truth = np.zeros((96, 96), np.int32)
    for k, (y, x) in enumerate([(10, 10), (10, 60), (50, 30), (70, 70), (60, 5)], start=1):
        truth[y : y + 16, x : x + 16] = k
    image = (np.where(truth > 0, 1.0, 0.0) + rng.normal(scale=0.05, size=truth.shape))[None]
    painted = np.zeros_like(truth, np.uint8)
    painted[14:20, 14:20] = 2  # inside object 1
    painted[40:44, 70:90] = 1  # a background stroke
    rf = baselines.RandomForestSegmenter(n_estimators=30, seed=0).fit([image], [painted])
    inst = to_instances(rf.predict(image).probabilities, "semantic", PostprocessConfig())
    (m,) = match_instances(inst, truth, thresholds=[0.5])
    assert m.f1 == 1.0


# ----------------------------------------------------------------------------- scoring, table


def test_touching_objects_are_found_and_scored():
    truth = np.zeros((20, 30), np.int32)
    truth[2:8, 2:8] = 1
    truth[2:8, 8:20] = 2  # touches 1 (twice its size, so the merged blob matches only 2)
    truth[12:18, 20:26] = 3
    assert fewshot.touching_ids(truth).tolist() == [1, 2]
    perfect = fewshot.score_nuclei([truth], [truth], ["a"])
    assert perfect["f1_50"] == 1.0 and perfect["ap_50_90"] == 1.0 and perfect["iou"] == 1.0
    assert perfect["touch_recall_50"] == 1.0 and perfect["n_touching"] == 2
    merged = np.where(truth == 2, 1, truth)
    score = fewshot.score_nuclei([merged], [truth], ["a"])
    assert score["touch_recall_50"] == 0.5 and score["iou"] == 1.0
    assert perfect["msa"] == 1.0
    # 3 matches at every threshold; the merged blob (108 px) matches 2 (72 px) up to IoU 2/3,
    # and 1 is missed: tp/(tp+fp+fn) is 2/3 at 0.50-0.65 and 1/4 at 0.70-0.95
    expected = np.mean([2 / 3 if t <= 2 / 3 else 1 / 4 for t in np.arange(0.5, 0.951, 0.05)])
    assert score["msa"] == round(expected, 4) < 1.0


def test_a_rescaled_split_keeps_its_objects_at_the_new_size():
    images = [np.random.default_rng(0).random((1, 20, 30)).astype(np.float32)]
    truth = np.zeros((20, 30), np.int32)
    truth[2:8, 2:8] = 1
    truth[12:18, 20:26] = 2
    big_i, big_t = fewshot._rescaled(images, [truth], 2.0)
    assert big_i[0].shape == (1, 40, 60) and big_t[0].shape == (40, 60)
    assert sorted(np.unique(big_t[0])) == [0, 1, 2] and np.count_nonzero(big_t[0] == 1) == 144
    assert fewshot._dataset("dsb-fluo@2") == "dsb-fluo@2"
    with pytest.raises(argparse.ArgumentTypeError):
        fewshot._dataset("dsb-fluo@-1")
    with pytest.raises(argparse.ArgumentTypeError):
        fewshot._dataset("nope@2")


def test_em_scores_are_zero_for_the_truth():
    cells = painting.cells_from_interior(_cell_grid())
    probs = np.stack([cells == 0, cells > 0]).astype(np.float32)
    score = fewshot.score_em([cells], [cells], [1], [probs])
    assert score["pixel_error"] == 0.0 and score["rand_error"] == 0.0
    assert score["rand_error_instances"] == 0.0 and score["rand_error_best_threshold"] == 0.0
    # a membrane with a one-pixel gap merges two cells: a large Rand error, a tiny pixel error
    leaky = cells.copy()
    leaky[24:27, 10] = cells[23, 10]
    leaky[leaky == cells[27, 10]] = cells[23, 10]
    gap = fewshot.score_em([leaky], [cells], [1])
    assert gap["pixel_error"] < 0.001 and gap["rand_error"] > 0.05
    # membrane thickness: the share of pixels predicted membrane, next to the true share
    assert score["membrane_fraction"] == score["membrane_fraction_true"] == round((cells == 0).mean(), 4)
    from scipy.ndimage import binary_dilation

    thick = cells.copy()
    thick[binary_dilation(cells == 0, iterations=2)] = 0  # membranes 4 px thicker
    assert fewshot.score_em([thick], [cells], [1])["membrane_fraction"] > score["membrane_fraction"]


def test_step_budgets_settings_and_tags_reach_the_unet_rows():
    args = fewshot.parse_args(["--steps", "700", "--set", "noise=0.1", "self_supervised=0",
                               "--tag", "base", "--warmup-steps", "300", "--depth", "2"])
    config = fewshot.train_config(args, seed=1, mode="instance")
    assert (config.budget.steps, config.budget.seconds) == (700, None)
    assert (config.augmentation.noise, config.regularisers.self_supervised) == (0.1, 0.0)
    assert (config.sampling.seed, config.targets.mode) == (1, "instance")
    assert fewshot.method_name("unet", args) == "unet[base]" and fewshot.method_name("rf", args) == "rf"
    assert fewshot.model_config(args).depth == 2 and args.warmup_steps == 300
    with pytest.raises(SystemExit):  # not a TrainConfig field: refused, not ignored
        fewshot.parse_args(["--set", "nosie=0.1"])


def test_markdown_table_and_plan():
    args = fewshot.parse_args(["--budgets", "5", "10", "--protocols", "scribbles", "--out", "x"])
    runs = fewshot.plan(args)
    assert runs[-1] == ("scribbles", "full", "unet-full", 0)
    assert len(runs) == 2 * 2 + 1

    def rec(method, budget, f1, device="cpu (2 threads)"):
        return {"dataset": "dsb-fluo", "n_eval": 8, "protocol": "scribbles", "budget": budget,
                "method": method, "time_budget_s": None if method == "rf" else 60.0,
                "device": device, "train_seconds": 1.0, "steps": 3, "predict_seconds": 0.5,
                "metrics": {"f1_50": f1, "ap_50_90": 0.5, "iou": 0.7, "touch_recall_50": 0.1}}

    table = fewshot.markdown_table([rec("unet", 5, 0.8), rec("rf", 5, 0.6), rec("unet-full", "full", 0.9)])
    lines = table.strip().splitlines()
    assert lines[0].startswith("| data") and len(lines) == 5
    assert "+0.200" in lines[2] and "unet-full" in lines[4]


def test_real_splits_have_the_documented_shapes():
    from _data import DATA

    if not (DATA / "dsb2018").is_dir() or not (DATA / "isbi2012").is_dir():
        pytest.skip(f"the shared data are not at {DATA}")
    split = fewshot.load_split("dsb-fluo")
    assert len(split.train_images) == 2 and len(split.eval_images) == 8
    assert not set(split.train_ids) & set(split.eval_ids)
    bright = fewshot.load_split("dsb-bright")
    assert {im.shape for im in bright.train_images + bright.eval_images} == {(3, 512, 680)}
    em = fewshot.load_split("isbi", max_eval=2)
    assert em.train_truths[0].max() > 25 and em.eval_ids == [1, 2]
    if (DATA / "usiigaci").is_dir():
        cells = fewshot.load_split("usiigaci", max_eval=1)
        assert cells.train_ids == ["set1"] and cells.eval_ids == ["set46"]
        assert cells.train_images[0].shape == (1, 1022, 1024) and cells.train_truths[0].max() > 20


# ----------------------------------------------------------------------------- large image


def test_large_image_benchmark_runs_at_a_tiny_size(tmp_path, capsys):
    import json

    import torch
    import zarr

    import large_image
    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle, save_bundle
    from napari_unet.core.networks.model import UNet

    torch.manual_seed(0)
    cfg = ModelConfig(depth=2, base_width=4)
    weights = {k: v.clone() for k, v in UNet(cfg).state_dict().items()}
    model = save_bundle(Bundle(cfg, NormConfig(), weights), tmp_path / "m.pt")
    argv = ["--size", "300", "--chunk", "128", "--workdir", str(tmp_path), "--model", str(model),
            "--tile", "64", "--threads", "1", "--instances"]
    record = large_image.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == record
    assert record["size"] == 300 and record["image_made_now"] and record["megapixels_per_second"] > 0
    assert 0 < record["peak_rss_sampled_mb"] <= record["peak_rss_mb"] + 1
    assert record["n_objects"] is not None
    image = zarr.open_array(str(tmp_path / "napari_unet_large_300.zarr"), mode="r")
    assert image.attrs["complete"] and image.dtype == np.uint8 and image.chunks == (128, 128)
    assert np.asarray(image[:]).std() > 10, "a textured image, not a constant"
    assert not (tmp_path / "napari_unet_large_300_prediction.zarr").exists(), "removed unless --keep"
    assert large_image.main(argv)["image_made_now"] is False, "made once, then reused"


def test_large_image_benchmark_plans_its_tiles_and_takes_a_backend(tmp_path, capsys):
    import torch

    import large_image
    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle, save_bundle
    from napari_unet.core.networks.model import UNet

    torch.manual_seed(0)
    cfg = ModelConfig(depth=2, base_width=4)
    weights = {k: v.clone() for k, v in UNet(cfg).state_dict().items()}
    model = save_bundle(Bundle(cfg, NormConfig(), weights), tmp_path / "m.pt")
    record = large_image.main(["--size", "200", "--chunk", "128", "--workdir", str(tmp_path),
                               "--model", str(model), "--threads", "1", "--backend", "torch"])
    assert record["tile_given"] is None and record["tile"] == 200 and record["tiles"] == 1
    assert record["backend"] == "torch" and record["loadavg_before"] and record["overhead"] > 1


def test_speed_benchmark_runs_the_tuned_and_plain_references_at_a_tiny_size(capsys):
    """benchmarks/speed.py: ours, the tuned and the plain MONAI reference (training and
    prediction), each figure with the load average; --reference picks the rows."""
    import json

    import torch

    import speed
    from napari_unet.core.device import autocast_dtype

    tiny = ["--width", "4", "--batch", "2", "--patch", "32", "--steps", "1", "--rounds", "1",
            "--warmup", "1", "--workers", "0", "--image", "256", "--compare-tile", "64"]
    summary = speed.main(tiny)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    sides = {(r["figure"], r.get("side")) for r in rows}
    assert {("train", "ours"), ("train", "monai_tuned"), ("train", "monai_plain"),
            ("predict", "ours"), ("predict", "ours_tile64"), ("predict", "monai_tuned"),
            ("predict", "monai_plain"), ("predict", "monai_tuned_our_window")} <= sides
    assert {"train_speedup_vs_monai_tuned", "train_speedup_vs_monai_plain",
            "predict_speedup_vs_monai_tuned", "predict_speedup_vs_monai_plain",
            "predict_gain_over_ours_tile64"} <= set(summary)
    assert all("loadavg" in r for r in rows)
    planned = next(r for r in rows if r.get("side") == "ours" and r["figure"] == "predict")
    fixed = next(r for r in rows if r.get("side") == "ours_tile64")
    assert planned["tile"] == 256 and fixed["tile"] == 64 and planned["overhead"] < fixed["overhead"]
    cpu = torch.device("cpu")
    assert speed.reference_settings(cpu, True) == (autocast_dtype(cpu), torch.channels_last)
    assert speed.reference_settings(cpu, False) == (None, torch.contiguous_format)

    summary = speed.main(tiny + ["--reference", "plain", "--skip-train"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r.get("side") for r in rows if r["figure"] == "predict"} == {
        "ours", "ours_tile64", "monai_plain"}
    assert set(summary) == {"predict_speedup_vs_monai_plain", "predict_gain_over_ours_tile64",
                            "predict_speedup_vs_monai_plain_cpu_time",
                            "predict_gain_over_ours_tile64_cpu_time"}
    assert all(r["megapixels_per_cpu_s"] > 0 for r in rows if r["figure"] == "predict")


def test_speed_benchmark_scans_windows(capsys):
    import json

    import speed

    assert speed.main(["--scan-windows", "64x2,96x1", "--depth", "2", "--width", "4",
                       "--rounds", "1", "--threads", "1"]) == {}
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    windows = [r for r in rows if r["figure"] == "window"]
    assert [(r["window"], r["batch"]) for r in windows] == [(64, 2), (96, 1)]
    assert all(r["computed_megapixels_per_cpu_s"] > 0 and r["loadavg"] for r in windows)


def test_stack_benchmark_runs_small_and_stitching_finds_the_3d_objects():
    import stack

    out = stack.main(["--shape", "8", "96", "96", "--threads", "1"])
    assert out["axes"] == "ZYX" and out["objects_stitched"] < out["objects_per_plane"]
    assert out["f1_at_0.5_stitched"] > out["f1_at_0.5_per_plane"]
    plan = stack.main(["--plan3d", "--shape", "5", "64", "64"])
    assert plan["windows"] >= 1 and plan["computed_per_stack_voxel"] > 1


def test_everywhere_benchmark_scores_a_rescaled_set_with_the_size_estimated(monkeypatch, capsys):
    import everywhere
    from napari_unet.synthetic import nuclei

    def two_images(name):
        return [(f"s{i}", nuclei((96, 96), n=6, seed=i)[0][None], nuclei((96, 96), n=6, seed=i)[1])
                for i in range(2)]

    monkeypatch.setattr(everywhere, "load_set", two_images)
    assert everywhere.main(["--sets", "fake@2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    row = json.loads(out.splitlines()[0])
    assert row["set"] == "fake@2" and row["diameter"] == "auto" and row["n_images"] == 2
    assert 0 <= row["msa"] <= row["f1_50"] <= 1 and row["f1_50"] > 0.5
    assert "| nuclei | fake@2 | auto |" in out


def test_size_estimate_benchmark_summarises_the_error_of_each_image():
    import size_estimate

    records = [{"estimate": 20.0, "truth": 20.0, "seconds": 1.0},
               {"estimate": 30.0, "truth": 20.0, "seconds": 1.0},
               {"estimate": None, "truth": 20.0, "seconds": 1.0}]
    got = size_estimate.summary(records)
    assert got["images"] == 3 and got["median_ratio"] == 1.5  # 1.0, 1.5, none (worst)
    assert got["off_25"] == round(2 / 3, 3) and got["off_50"] == round(1 / 3, 3)


def test_object_errors_says_what_each_missed_object_is():
    import object_errors

    truth = np.zeros((40, 80), np.int32)
    truth[2:12, 2:12] = 1  # found as it is
    truth[2:12, 20:30], truth[2:12, 30:40] = 2, 3  # two neighbours, found as one
    truth[20:36, 2:18] = 4  # cut into three pieces
    truth[20:36, 30:46] = 5  # found far too small
    truth[20:30, 60:70] = 6  # not found
    pred = np.zeros_like(truth)
    pred[2:12, 3:12] = 1
    pred[2:12, 18:42] = 2
    pred[20:36, 2:7], pred[20:36, 7:12], pred[20:36, 12:18] = 3, 4, 7
    pred[24:30, 34:40] = 5
    pred[0:4, 70:80] = 6  # a false positive touching nothing
    c = object_errors.classify(pred, truth)
    assert {k: c[k] for k in (*object_errors.KINDS, "matched")} == {
        "missed": 1, "merged": 2, "split": 1, "too_small": 1, "other": 0, "matched": 1}
    assert c["ious"] == [0.9] and c["area_ratios"] == [0.9]
