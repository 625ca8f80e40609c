"""Zero-shot scores of starter models: no painting, no training, objects straight away.

    python benchmarks/starters_zero_shot.py [--models nuclei cells FILE.unet ...]
        [--sets dsb-fluo dsb-bright usiigaci-val] [--threads 2] [--out docs/starters_zero_shot.jsonl]

* ``dsb-fluo`` / ``dsb-bright``: the DSB2018 stage-1 *test* set (``dsb2018/``, 53 grey
  fluorescence and 12 colour brightfield / histology images). Colour images are given to the
  grayscale starters as they come (RGB): the model takes their luminance.
* ``usiigaci-val``: the 5 phase-contrast fields of the Usiigaci authors' validation split
  (sets 46-50), which ``scripts/train_starters.py`` keeps out of the ``cells`` starter's
  training. A held-out check of that starter, not a project evaluation set.

Scores are pooled over the images (true/false positives and negatives summed before the
ratios): F1@0.5, AP@0.5:0.9 (mean over IoU thresholds of tp / (tp + fp + fn)), foreground IoU.
Objects come as the product makes them (``segment``: a starter that records an object size
predicts each image at that size, estimated on the image, and its objects are brought back
to the image's pixels; before the seventh pass of docs/benchmarks.md, at the image's own
scale).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import DATA, dsb, dsb_ids  # noqa: E402
from napari_unet.core.config import PredictConfig  # noqa: E402
from napari_unet.core.files.starters import load_model, starter_names  # noqa: E402
from napari_unet.core.inference.segment import segment  # noqa: E402
from napari_unet.core.metrics import match_instances  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402

AP_THRESHOLDS = np.round(np.arange(0.5, 0.9 + 1e-9, 0.05), 2)
SETS = ("dsb-fluo", "dsb-bright", "usiigaci-val")
USIIGACI_VAL = ("set46", "set47", "set48", "set49", "set50")


def load_set(name: str):
    """``[(id, (C, H, W) image, instance labels)]`` of an evaluation set."""
    if name in ("dsb-fluo", "dsb-bright"):
        kind = "fluorescence" if name == "dsb-fluo" else "brightfield"
        out = []
        for i in dsb_ids(kind):
            image, labels = dsb(i, grey=kind == "fluorescence")
            out.append((i, image, labels))
        return out
    if name == "usiigaci-val":
        import tifffile

        folder = DATA / "usiigaci"
        out = []
        for i in USIIGACI_VAL:
            image = tifffile.imread(folder / "images" / f"{i}.tif").astype(np.float32)
            labels = tifffile.imread(folder / "labels" / f"{i}.tif")
            out.append((i, image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0), labels))
        return out
    raise ValueError(f"unknown set {name!r}")


def pooled(instances, truths) -> dict:
    tp = np.zeros(len(AP_THRESHOLDS))
    fp = np.zeros_like(tp)
    fn = np.zeros_like(tp)
    inter = union = 0
    for pred, truth in zip(instances, truths):
        res = match_instances(pred, truth, thresholds=AP_THRESHOLDS)
        tp += [r.tp for r in res]
        fp += [r.fp for r in res]
        fn += [r.fn for r in res]
        inter += np.count_nonzero((pred > 0) & (truth > 0))
        union += np.count_nonzero((pred > 0) | (truth > 0))
    return {
        "f1_50": round(float(2 * tp[0] / max(1, 2 * tp[0] + fp[0] + fn[0])), 4),
        "ap_50_90": round(float((tp / np.maximum(tp + fp + fn, 1)).mean()), 4),
        "iou": round(inter / max(1, union), 4),
        "tp_fp_fn_50": [int(tp[0]), int(fp[0]), int(fn[0])],
    }


def evaluate(spec: str, set_name: str, data, threads: int) -> dict:
    bundle = load_model(spec)
    torch.set_num_threads(threads)
    config = PredictConfig(device="cpu", threads=threads)
    model = bundle.build_model("cpu")
    instances, truths = [], []
    t0 = time.perf_counter()
    for _, image, truth in data:
        instances.append(np.asarray(drain(segment(image, bundle, config, model=model)).labels))
        truths.append(truth)
    seconds = time.perf_counter() - t0
    return {
        "model": spec,
        "starter": bundle.info.get("starter"),
        "set": set_name,
        "n_images": len(data),
        "n_objects": int(sum(len(np.unique(t)) - 1 for t in truths)),
        **pooled(instances, truths),
        "seconds": round(seconds, 1),
        "pretraining_steps": bundle.info.get("steps"),
        "architecture": f"depth {bundle.model_config.depth}, width {bundle.model_config.base_width}",
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def record(row: dict, out: Path | None) -> dict:
    """Print ``row`` as a JSON line, and append it to ``out`` if given; returns it."""
    print(json.dumps(row), flush=True)
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=None, help="starter names or model files")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    args = ap.parse_args(argv)
    models = args.models or starter_names()
    rows = []
    for set_name in args.sets:
        data = load_set(set_name)
        for spec in models:
            rows.append(record(evaluate(spec, set_name, data, args.threads), args.out))
    print("\n| model | set | images | objects | F1@0.5 | AP@0.5:0.9 | fg IoU |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['set']} | {r['n_images']} | {r['n_objects']} | "
              f"{r['f1_50']:.3f} | {r['ap_50_90']:.3f} | {r['iou']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
