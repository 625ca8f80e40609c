"""The late collapse from scratch (issue 21, item 5): training from scratch on scribbled
DSB2018 fluorescence nuclei, the held-out score every ``--every`` steps and, with
``--full``, the foreground IoU of the whole image against its true nuclei and the predicted
foreground's area over the true one. One JSON line per image.

    python benchmarks/scratch_collapse.py --full --steps 200 --every 50 [--ring] \\
        [--set learning_rate=0.0005] [--images 0114f484a1 ...]

The painting is ``simulate_painting``'s: ten scribbled nuclei and five background strokes
well away from them. ``--ring`` also paints background 2-5 px around the ten nuclei (where
they end); ``--recal`` re-estimates the batch-norm statistics on 30 training batches before
each score (a diagnosis). Results: docs/benchmarks.md, "Everywhere, fifth pass".
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import dsb, dsb_ids  # noqa: E402


def background_around(painted, truth, inner=2, outer=5):
    """Background also painted ``inner``-``outer`` px around the nuclei painted with 2."""
    ids = np.unique(truth[painted == 2])
    objects = np.isin(truth, ids[ids > 0])
    ring = (ndimage.binary_dilation(objects, iterations=outer)
            & ~ndimage.binary_dilation(objects, iterations=inner) & (truth == 0))
    out = painted.copy()
    out[ring & (out == 0)] = 1
    return out


def recalibrated(trainer):
    """Batch-norm statistics re-estimated on 30 training batches; returns the saved state."""
    saved = copy.deepcopy(trainer.model.state_dict())
    for m in trainer.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    trainer.model.train()
    with torch.no_grad():
        for _ in range(30):
            trainer.forward(trainer.batch())
    return saved


def foreground_fit(trainer, image, truth) -> tuple[float, float]:
    """IoU of the predicted foreground with the true nuclei, and its area over theirs."""
    from napari_unet.core.inference.predict import predict_image

    fg = predict_image(image, trainer.bundle(), model=trainer.model).labels == 2
    true = truth > 0
    return (round(float((fg & true).sum() / max(1, (fg | true).sum())), 3),
            round(float(fg.mean() / true.mean()), 2))


def run(image_id: str, args, settings: dict) -> dict:
    from napari_unet.core.config import TrainConfig
    from napari_unet.core.training.train import Trainer
    from napari_unet.synthetic import simulate_painting

    image, truth = dsb(image_id)
    painted = simulate_painting(truth, 10, n_background_strokes=5, seed=args.seed)
    if args.ring:
        painted = background_around(painted, truth)
    config = TrainConfig(steps=args.steps, seconds=None, device="cpu", threads=1,
                         seed=args.seed, validation_every=0, keep_best=False, **settings)
    trainer = Trainer([image], [painted], config=config)
    scores, full, t0 = [], [], time.time()
    for step in range(1, args.steps + 1):
        trainer.train_step()
        if step % args.every and step not in (5, 15, 25):
            continue
        saved = recalibrated(trainer) if args.recal else None
        trainer.score()
        scores.append((step, round(trainer.validation, 3)))
        if args.full:
            full.append((step, *foreground_fit(trainer, image, truth)))
        if saved is not None:
            trainer.model.load_state_dict(saved)
            for m in trainer.model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.momentum = 0.1
    return {"tag": args.tag, "image": image_id[:10], "set": args.set, "ring": args.ring,
            "held_out": scores, "full": full, "s": round(time.time() - t0)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="+", default=None, help="id prefixes (default: the first 3)")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--set", nargs="*", default=[], help="TrainConfig settings, name=number")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--recal", action="store_true")
    ap.add_argument("--ring", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    settings = {k: float(v) for k, v in (kv.split("=") for kv in args.set)}
    ids = dsb_ids()
    chosen = [next(i for i in ids if i.startswith(p)) for p in args.images] if args.images else ids[:3]
    for image_id in chosen:
        print(json.dumps(run(image_id, args, settings)), flush=True)


if __name__ == "__main__":
    main()
