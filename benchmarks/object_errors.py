"""What the missed objects are: merged with a neighbour, cut into pieces, too small, or not
found at all (zero-shot, the product's route, as ``everywhere.py``).

    python benchmarks/object_errors.py [--models nuclei FILE.unet] [--sets dsb-fluo]
        [--threads 1] [--out docs/object_errors.jsonl]

Every true object with no prediction at IoU >= 0.5 is counted once, by its best-overlapping
prediction (the one of highest IoU):

* ``missed``: no prediction overlaps it;
* ``merged``: that prediction also covers at least 30 % of another true object;
* ``split``: two or more predictions lie mostly (over half their area) inside it;
* ``too_small``: that prediction is smaller than the object (and none of the above);
* ``other``: the rest (too large, or shifted).

Matched objects (IoU >= 0.5) give the median IoU and the median area ratio (predicted over
true): a ratio under 1 means the objects come out smaller than they were drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from everywhere import SETS, load, predict_set  # noqa: E402
from napari_unet.core.files.starters import load_model  # noqa: E402
from starters_zero_shot import record  # noqa: E402

KINDS = ("missed", "merged", "split", "too_small", "other")


def overlaps(pred: np.ndarray, truth: np.ndarray):
    """``(pairs (true id, predicted id, overlap px), true areas, predicted areas)``."""
    both = (pred > 0) | (truth > 0)
    pairs, counts = np.unique(np.stack([truth[both], pred[both]]), axis=1, return_counts=True)
    keep = (pairs[0] > 0) & (pairs[1] > 0)
    t_ids, t_area = np.unique(truth[truth > 0], return_counts=True)
    p_ids, p_area = np.unique(pred[pred > 0], return_counts=True)
    return (np.column_stack([pairs[:, keep].T, counts[keep]]), dict(zip(t_ids, t_area)),
            dict(zip(p_ids, p_area)))


def classify(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Counts of :data:`KINDS` over the unmatched true objects of one image, with the
    matched ones' IoUs and area ratios."""
    pairs, t_area, p_area = overlaps(pred, truth)
    out = {k: 0 for k in KINDS} | {"matched": 0, "ious": [], "area_ratios": []}
    covers: dict[int, int] = {}  # predicted id -> true objects it covers by >= 30 %
    inside: dict[int, int] = {}  # true id -> predictions lying mostly inside it
    best: dict[int, tuple[float, int]] = {}
    for t, p, n in pairs:
        iou = n / (t_area[t] + p_area[p] - n)
        best[t] = max(best.get(t, (0.0, 0)), (iou, p))
        covers[p] = covers.get(p, 0) + (n >= 0.3 * t_area[t])
        inside[t] = inside.get(t, 0) + (n > 0.5 * p_area[p])
    for t in t_area:
        iou, p = best.get(t, (0.0, 0))
        if iou >= 0.5:
            out["matched"] += 1
            out["ious"].append(iou)
            out["area_ratios"].append(p_area[p] / t_area[t])
        elif p == 0:
            out["missed"] += 1
        elif covers[p] >= 2:
            out["merged"] += 1
        elif inside.get(t, 0) >= 2:
            out["split"] += 1
        elif p_area[p] < t_area[t]:
            out["too_small"] += 1
        else:
            out["other"] += 1
    return out


def errors(spec: str, set_name: str, data, threads: int) -> dict:
    objects, truths, _, _ = predict_set(load_model(spec), data, None, threads)
    total = {k: 0 for k in KINDS} | {"matched": 0}
    ious, ratios = [], []
    for pred, truth in zip(objects, truths):
        c = classify(np.asarray(pred), np.asarray(truth))
        ious += c.pop("ious")
        ratios += c.pop("area_ratios")
        total = {k: total[k] + c[k] for k in total}
    return {"model": spec, "set": set_name, "n_objects": int(sum(total.values())), **total,
            "unmatched": int(sum(total[k] for k in KINDS)),
            "median_iou_matched": round(float(np.median(ious)), 3) if ious else None,
            "median_area_ratio_matched": round(float(np.median(ratios)), 3) if ratios else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["nuclei"])
    ap.add_argument("--sets", nargs="+", default=["dsb-fluo"], choices=SETS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    args = ap.parse_args(argv)
    rows = [record(errors(m, s, load(s), args.threads), args.out)
            for s in args.sets for m in args.models]
    print("\n| model | set | objects | matched | unmatched | merged | split | too small | "
          "missed | other | median IoU | median area ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['set']} | {r['n_objects']} | {r['matched']} | "
              f"{r['unmatched']} | {r['merged']} | {r['split']} | {r['too_small']} | "
              f"{r['missed']} | {r['other']} | {r['median_iou_matched']} | "
              f"{r['median_area_ratio_matched']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
