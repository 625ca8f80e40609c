"""Steps per second of the from-scratch recipes (issue 13): depth 3 or 2, with and without the
blind-spot head, and the self-supervised warm-up alone.

    python benchmarks/scratch_step_rate.py [--threads 2] [--steps 60] [--repeats 3]

Trains on one DSB2018 fluorescence image (``697a05c6fe4a``, 10 nuclei scribbled) and prints
one JSON line: the best of ``--repeats`` rates per recipe, and the load average (time it on a
quiet machine: other work makes torch's threads wait for each other).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import dsb  # noqa: E402

RECIPES = {
    "depth 3": ({"self_supervised": 0.0}, 3),
    "depth 3 + blind spot (default)": ({"self_supervised": 1.0}, 3),
    "depth 2": ({"self_supervised": 0.0}, 2),
    "depth 2 + blind spot": ({"self_supervised": 1.0}, 2),
}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import torch

    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.progress import drain
    from napari_unet.core.training.selfsup import SelfSupervised
    from napari_unet.core.training.train import Trainer
    from napari_unet.synthetic import simulate_painting

    torch.set_num_threads(args.threads)
    image, truth = dsb("697a05c6fe4a")
    painted = simulate_painting(truth, 10, n_background_strokes=5, seed=0)
    load = os.getloadavg()[0]
    rates: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, (extra, depth) in RECIPES.items():
            config = TrainConfig(steps=args.steps, seconds=None, device="cpu", threads=args.threads,
                                 validation_fraction=0.0, **extra)
            trainer = Trainer([image], [painted], model=ModelConfig(depth=depth), config=config)
            trainer.train_step()  # warm the allocator
            t0 = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step()
            rates.setdefault(name, []).append(args.steps / (time.perf_counter() - t0))
        warm = SelfSupervised([image], config=TrainConfig(device="cpu", threads=args.threads))
        drain(warm.steps(max_steps=2))
        t0 = time.perf_counter()
        drain(warm.steps(max_steps=args.steps))
        rates.setdefault("learning the image alone (depth 3)", []).append(
            args.steps / (time.perf_counter() - t0))
    result = {"steps_per_s": {k: round(max(v), 1) for k, v in rates.items()},
              "threads": args.threads, "load_avg_1m_before": round(load, 2),
              "load_avg_1m_after": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
