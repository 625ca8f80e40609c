"""Seconds of training until the U-Net's F1@0.5 on held-out DSB2018 fluorescence images reaches
the random forest's on the same strokes (issue 5's "time to quality").

    python benchmarks/time_to_quality.py [--device cpu] [--objects 10] [--max-seconds 60]
                                         [--every 100]

Painting: ``scribbles`` of benchmarks/painting.py on the two dsb-fluo training images of
benchmarks/fewshot.py (seed 0); scoring: F1@0.5 pooled over its 8 evaluation images, after the
same post-processing for both methods. The U-Net is evaluated every ``--every`` steps; only the
time spent in training steps counts (evaluation is excluded). The step budget is fixed
(``--max-seconds`` times the steps/s measured in a short warm-up) so the learning-rate schedule
does not depend on evaluation pauses. Prints one JSON line per evaluation and a summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import dsb  # noqa: E402
from baselines import RandomForestSegmenter  # noqa: E402
from fewshot import DSB_FLUO_EVAL, DSB_FLUO_TRAIN  # noqa: E402
from napari_unet.core.config import PostprocessConfig, TrainConfig  # noqa: E402
from napari_unet.core.inference.postprocess import to_instances  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.metrics import match_instances  # noqa: E402
from napari_unet.core.training.train import Trainer  # noqa: E402
from painting import scribbles  # noqa: E402


def pooled_f1(predictions, truths) -> float:
    tp = fp = fn = 0
    for pred, truth in zip(predictions, truths):
        m = match_instances(pred, truth, thresholds=[0.5])[0]
        tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
    return 2 * tp / max(1, 2 * tp + fp + fn)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--every", type=int, default=100)
    args = ap.parse_args(argv)

    train = [dsb(i) for i in DSB_FLUO_TRAIN]
    evaluation = [dsb(i) for i in DSB_FLUO_EVAL]
    painted = scribbles([t for _, t in train], args.objects, seed=0)
    images = [im for im, _ in train]
    truths = [t for _, t in evaluation]

    rf = RandomForestSegmenter().fit(images, painted)
    rf_f1 = pooled_f1(
        [to_instances(rf.predict(im).probabilities, "semantic", PostprocessConfig()) for im, _ in evaluation],
        truths,
    )
    print(json.dumps({"method": "rf", "f1_50": round(rf_f1, 4), "fit_seconds": round(rf.fit_seconds, 2)}))

    probe = Trainer(images, painted, config=TrainConfig(steps=10**9, seconds=None, device=args.device))
    for _ in range(5):
        probe.train_step()
    t0 = time.perf_counter()
    for _ in range(20):
        probe.train_step()
    rate = 20 / (time.perf_counter() - t0)
    steps = int(rate * args.max_seconds)

    trainer = Trainer(images, painted, config=TrainConfig(steps=steps, seconds=None, device=args.device))
    gen, trained_s, reached = trainer.steps(), 0.0, None
    while True:
        t0 = time.perf_counter()
        try:
            for _ in range(args.every):
                next(gen)
        except StopIteration:
            pass
        trained_s += time.perf_counter() - t0
        bundle = trainer.bundle()
        f1 = pooled_f1(
            [to_instances(predict_image(im, bundle).probabilities, bundle.mode, bundle.postprocess)
             for im, _ in evaluation],
            truths,
        )
        print(json.dumps({"method": "unet", "step": trainer.step, "train_seconds": round(trained_s, 2),
                          "f1_50": round(f1, 4)}), flush=True)
        if reached is None and f1 >= rf_f1:
            reached = trained_s
        if trainer.step >= steps:
            break
    print(json.dumps({"figure": "time_to_quality", "device": args.device, "objects": args.objects,
                      "rf_f1_50": round(rf_f1, 4), "unet_final_f1_50": round(f1, 4),
                      "seconds_to_rf_quality": None if reached is None else round(reached, 2),
                      "steps_budget": steps, "steps_per_s": round(rate, 1)}))


if __name__ == "__main__":
    main()
