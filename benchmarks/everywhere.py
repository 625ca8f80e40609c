"""Zero-shot objects everywhere: F1@0.5 and mSA at any magnification, on colour and phase.

    python benchmarks/everywhere.py [--models nuclei cells FILE.unet] [--diameter auto|0|PX]
        [--sets dsb-fluo dsb-fluo@0.5 dsb-fluo@2 dsb-fluo@3 dsb-bright usiigaci-val]
        [--threads 2] [--out docs/everywhere.jsonl]

Every image goes through the product's own route (``core.inference.segment``, as the API,
the CLI and the docks call it), so the object size is estimated exactly as a user gets it
(``--diameter auto``, the default), given (a number) or not used (``0``).

* ``dsb-fluo`` / ``dsb-bright``: the DSB2018 stage-1 *test* set (53 grey fluorescence and 12
  colour images), never trained on.
* ``dsb-fluo@F``: the same fluorescence images and masks resized by ``F`` (linear for the
  image with anti-aliasing when shrinking, nearest for the masks): nuclei at another
  magnification. The issue's aim: every scale within 0.03 F1 of 1x.
* ``usiigaci-val``: phase-contrast fields 46-50 (kept out of the cells starter's training).

Scores: F1@0.5 pooled over the set's objects; **mSA**, the mean over images of the mean over
IoU 0.50, 0.55, ..., 0.95 of TP / (TP + FP + FN) (micro-sam's and the DSB challenge's
measure, :func:`napari_unet.core.metrics.mean_segmentation_accuracy`); the median estimated
diameter and the seconds the estimates took.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import resized  # noqa: E402
from napari_unet.core.config import VIEWS, PredictConfig  # noqa: E402
from napari_unet.core.files.starters import load_model  # noqa: E402
from napari_unet.core.inference import object_size  # noqa: E402
from napari_unet.core.inference.segment import segment  # noqa: E402
from napari_unet.core.metrics import f1_and_msa  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402
from starters_zero_shot import load_set, record  # noqa: E402

SETS = ("dsb-fluo", "dsb-fluo@0.5", "dsb-fluo@2", "dsb-fluo@3", "dsb-bright", "usiigaci-val")


def rescaled(data, f: float):
    """The set's images and masks resized by ``f``."""
    return [(i, *resized(image, truth, f)) for i, image, truth in data]


def load(name: str):
    base, _, f = name.partition("@")
    data = load_set(base)
    return rescaled(data, float(f)) if f else data


def score(objects, truths) -> dict:
    f1, msa, counts = f1_and_msa(zip(objects, truths))
    return {"f1_50": round(f1, 4), "msa": round(msa, 4), "tp_fp_fn_50": list(counts)}


def predict_set(bundle, data, diameter, threads: int, views: int = 1):
    """The set's objects by the product's route: ``(objects, truths, diameters used, seconds
    spent estimating sizes)``; ``diameter`` None estimates it per image; ``views``: 1 or 8
    (``PredictConfig.views``)."""
    torch.set_num_threads(threads)
    config = PredictConfig(device="cpu", threads=threads, diameter=diameter, views=views)
    model = bundle.build_model("cpu")
    objects, truths, sizes, estimate_s = [], [], [], 0.0
    for _, image, truth in data:
        if diameter is None and bundle.postprocess.object_size:
            t1 = time.perf_counter()
            d = object_size.estimate(image, bundle, model, config).diameter
            estimate_s += time.perf_counter() - t1
            cfg = replace(config, diameter=d or 0)  # the estimate, once
        else:
            cfg = config
        seg = drain(segment(image, bundle, cfg, model=model))
        objects.append(seg.labels if bundle.mode == "instance" else seg.objects)
        sizes.append(seg.diameter or 0)
        truths.append(truth)
    return objects, truths, sizes, estimate_s


def evaluate(spec: str, set_name: str, data, diameter, threads: int, views: int = 1) -> dict:
    bundle = load_model(spec)
    t0 = time.perf_counter()
    objects, truths, sizes, estimate_s = predict_set(bundle, data, diameter, threads, views)
    return {
        "model": spec, "set": set_name, "diameter": "auto" if diameter is None else diameter,
        **({"views": views} if views != 1 else {}),
        "object_size": bundle.postprocess.object_size, "n_images": len(data),
        "n_objects": int(sum(len(np.unique(t)) - 1 for t in truths)),
        **score(objects, truths),
        "median_diameter_used": round(float(np.median(sizes)), 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "estimate_seconds_per_image": round(estimate_s / max(1, len(data)), 2),
        "threads": threads, "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["nuclei"])
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--diameter", default="auto", help="auto, 0 (none) or a size in px")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--views", type=int, default=1, choices=VIEWS,
                    help="8: every image also rotated and mirrored, averaged (PredictConfig.views)")
    ap.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    args = ap.parse_args(argv)
    diameter = None if args.diameter == "auto" else float(args.diameter)
    rows = []
    for set_name in args.sets:
        data = load(set_name)
        for spec in args.models:
            rows.append(record(evaluate(spec, set_name, data, diameter, args.threads, args.views),
                               args.out))
    print("\n| model | set | diameter | F1@0.5 | mSA | median size used (px) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['set']} | {r['diameter']} | {r['f1_50']:.3f} | "
              f"{r['msa']:.3f} | {r['median_diameter_used']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
