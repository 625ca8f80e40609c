"""Seconds from pressing Train to objects on screen, from a starter and from scratch.

    python benchmarks/starter_time_to_objects.py [--objects 10] [--seeds 0 1]
        [--auto-seconds 0 5 10 30] [--none-seconds 10 30 60 120] [--threads 2]

The painting is ``fewshot.py``'s dsb-fluo ``scribbles`` protocol (N nuclei scribbled + N / 2
background strokes on its two training images); quality is F1@0.5 pooled over its 8
evaluation images. One run = what the train dock does: choose the start (``auto`` scores the
starters zero-shot on the strokes; ``none`` starts from scratch), train ``S`` seconds, predict
the first training image and make its objects (what appears on screen). ``to_objects_s`` is
the wall-clock of all of that; ``S = 0`` with ``auto`` is the starter alone (no training).
``steps_per_s`` is the fine-tuning speed of the chosen network on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fewshot import load_split, make_painting, score_nuclei  # noqa: E402
from napari_unet.core.config import PredictConfig, TrainConfig  # noqa: E402
from napari_unet.core.inference.postprocess import to_instances  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402
from napari_unet.core.training.start import Painting, resolve_start  # noqa: E402
from napari_unet.core.training.train import Trainer  # noqa: E402


def run(split, painting, init: str, seconds: float, seed: int, threads: int) -> dict:
    images = [split.train_images[i] for i in painting.image_index]
    t0 = time.perf_counter()
    choice = resolve_start(init, None, Painting(images, painting.labels), painting.mode)
    chose_s = time.perf_counter() - t0
    steps, rate = 0, None
    if seconds > 0 or choice.bundle is None:
        trainer = Trainer(images, painting.labels, init=choice.bundle, config=TrainConfig(
            seconds=max(seconds, 0.01), seed=seed, device="cpu", threads=threads))
        bundle = drain(trainer.steps())
        steps, rate = trainer.step, trainer.step / max(trainer.elapsed, 1e-9)
    else:
        bundle = choice.bundle
    config = PredictConfig(device="cpu", threads=threads)
    model = bundle.build_model("cpu")
    shown = predict_image(images[0], bundle, config, model=model).probabilities
    to_instances(shown, bundle.mode, bundle.postprocess)
    to_objects = time.perf_counter() - t0
    probs = [predict_image(im, bundle, config, model=model).probabilities for im in split.eval_images]
    instances = [to_instances(p, bundle.mode, bundle.postprocess) for p in probs]
    m = score_nuclei(instances, split.eval_truths, split.eval_ids)
    return {"init": init, "started_from": choice.name, "seconds": seconds, "seed": seed,
            "choose_s": round(chose_s, 2), "to_objects_s": round(to_objects, 2), "steps": steps,
            "steps_per_s": None if rate is None else round(rate, 1),
            "architecture": f"d{bundle.model_config.depth}w{bundle.model_config.base_width}",
            "f1_50": m["f1_50"], "ap_50_90": m["ap_50_90"],
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--auto-seconds", nargs="+", type=float, default=[0, 5, 10, 30])
    ap.add_argument("--none-seconds", nargs="+", type=float, default=[10, 30, 60, 120])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = load_split("dsb-fluo")
    rows = []
    for seed in args.seeds:
        painting = make_painting(split, "scribbles", args.objects, seed)
        for init, budgets in (("auto", args.auto_seconds), ("none", args.none_seconds)):
            for s in budgets:
                row = run(split, painting, init, s, seed, args.threads)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
