"""Issue 2's check on real data: paint ~10 nuclei + a few background strokes on one DSB2018
fluorescence image (made from its ground truth with a fixed seed), train on the CPU for a
fixed time, predict, and score the unpainted part.

    python benchmarks/foundation_dsb.py [--id 0a849e0eb15f] [--seconds 60] [--device cpu]

Prints one JSON line with foreground IoU, F1@0.5 and steps per second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import dsb  # noqa: E402
from napari_unet.core.config import ModelConfig, TrainConfig  # noqa: E402
from napari_unet.core.inference.postprocess import instances_from_foreground  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.metrics import foreground_iou, match_instances  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402
from napari_unet.core.training.train import Trainer  # noqa: E402
from napari_unet.synthetic import simulate_painting  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", default="0a849e0eb15f")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--strokes", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--patch", type=int, default=None, help="patch size (default: the core's)")
    ap.add_argument("--steps", type=int, default=None, help="a step budget instead of --seconds")
    ap.add_argument("--no-amp", action="store_true", help="full precision (no bf16 autocast)")
    ap.add_argument("--validation", type=float, default=None,
                    help="share of strokes held out for the keep-best guard (default: the core's)")
    args = ap.parse_args(argv)

    image, truth = dsb(args.id)
    painted = simulate_painting(truth, args.objects, args.strokes, seed=args.seed)
    model = ModelConfig()
    if args.depth or args.width:
        model = ModelConfig(depth=args.depth or model.depth, base_width=args.width or model.base_width)
    trainer = Trainer([image], [painted], model=model,
                      config=TrainConfig(seconds=None if args.steps else args.seconds,
                                         steps=args.steps, device=args.device, seed=args.seed,
                                         amp=not args.no_amp,
                                         **({"validation_fraction": args.validation}
                                            if args.validation is not None else {}),
                                         **({"patch_size": args.patch} if args.patch else {})))
    bundle = drain(trainer.steps())
    t0 = time.perf_counter()
    pred = predict_image(image, bundle)
    predict_s = time.perf_counter() - t0

    unpainted = painted == 0
    # objects touched by painting are excluded from scoring; pixels likewise
    touched = np.unique(truth[painted == 2])
    scored = unpainted & ~np.isin(truth, touched[touched > 0])
    fg_iou = foreground_iou(pred.labels == 2, truth > 0, mask=scored)
    inst = instances_from_foreground(pred.probabilities[1])
    m = match_instances(inst, truth, thresholds=[0.5], mask=scored)[0]
    print(json.dumps({
        "image": args.id, "shape": list(image.shape), "objects_painted": int((touched > 0).sum()),
        "painted_px": trainer.painted, "train_seconds": round(trainer.elapsed, 1),
        "steps": trainer.step, "steps_per_s": round(trainer.step / trainer.elapsed, 2),
        "foreground_iou_unpainted": round(float(fg_iou), 3), "f1_at_0.5_unpainted": round(m.f1, 3),
        "tp": m.tp, "fp": m.fp, "fn": m.fn, "predict_seconds": round(predict_s, 2),
        "device": bundle.info["device"], "model": bundle.model_config.to_dict(),
        "patch": bundle.info["patch"], "amp": not args.no_amp,
        "validation_fraction": trainer.config.validation.validation_fraction,
        "validation": bundle.info.get("validation"), "note": trainer.note,
    }))


if __name__ == "__main__":
    main()
