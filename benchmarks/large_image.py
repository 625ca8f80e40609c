"""Peak memory and speed of lazy prediction of a large zarr image (docs/large_images.md).

    python benchmarks/large_image.py                    # 40,000 x 40,000 uint8, in /tmp
    python benchmarks/large_image.py --size 8000 --workdir /tmp [--instances] [--model M.pt]
                                     [--tile N] [--backend auto|torch|compile|onnxruntime]

Makes (once; kept in ``--workdir``) a ``size`` x ``size`` uint8 zarr image of synthetic nuclei,
chunk by chunk, never whole. Trains a small default model for ``--train-seconds`` on a
256 x 256 synthetic image in a child process (so training memory does not count), unless
``--model`` is given, then predicts the image into a zarr store with
:func:`napari_unet.core.inference.segment.segment` with a zarr store and prints one JSON line: seconds, megapixels
per second, and peak resident memory of this process (``ru_maxrss``, and the highest RSS seen
by a thread sampling ``/proc/self/statm`` every 0.1 s during the prediction), the tile plan
(tile, window, computed/needed pixels) and ``/proc/loadavg`` before and after.

Tiles are planned from the memory budget unless ``--tile`` is given (issue 17; ``--tile 256``
is the plan before it). ``--backend`` forces one prediction backend
(``PredictConfig.backend``, ``core.inference.backends``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=40_000, help="side of the square image (px)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp"))
    p.add_argument("--chunk", type=int, default=1024, help="chunk side of the input image")
    p.add_argument("--model", type=Path, default=None, help="a model file; default: train one")
    p.add_argument("--train-seconds", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--tile", type=int, default=None, help="output tile (default: planned)")
    p.add_argument("--backend", choices=["auto", "torch", "compile", "onnxruntime"], default="auto")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--instances", action="store_true", help="also split into objects")
    p.add_argument("--keep", action="store_true", help="keep the output store")
    p.add_argument("--train-only", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _loadavg():
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return None


def make_image(path: Path, size: int, chunk: int) -> bool:
    """Write the synthetic image chunk by chunk unless a complete one is there; returns
    whether it was made now."""
    import zarr

    from napari_unet.synthetic import nuclei

    if path.exists():
        try:
            arr = zarr.open_array(str(path), mode="r")
            if arr.shape == (size, size) and arr.attrs.get("complete"):
                return False
        except Exception:  # noqa: BLE001 - half-written: start again
            pass
        shutil.rmtree(path)
    arr = zarr.create_array(str(path), shape=(size, size), chunks=(chunk, chunk), dtype=np.uint8)
    n = max(1, chunk * chunk // 2500)  # about the density of the sample image
    for i, y in enumerate(range(0, size, chunk)):
        for j, x in enumerate(range(0, size, chunk)):
            h, w = min(chunk, size - y), min(chunk, size - x)
            im, _ = nuclei((h, w), n=max(1, n * h * w // (chunk * chunk)), seed=i * 100_003 + j)
            arr[y : y + h, x : x + w] = (np.clip(im, 0, 1) * 255).astype(np.uint8)
    arr.attrs["complete"] = True
    return True


def train_model(path: Path, seconds: float) -> None:
    """A default model trained on a synthetic 256 x 256 image with simulated painting."""
    from napari_unet.core.config import TrainConfig
    from napari_unet.core.files.bundle import save_bundle
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train import Trainer
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((256, 256), n=40, seed=0)
    painted = simulate_painting(truth, n_objects=10, seed=0)
    config = TrainConfig(seconds=seconds, steps=None, device="cpu")
    save_bundle(drain(Trainer([image[None]], [painted], config=config).steps()), path)


class RssSampler(threading.Thread):
    """The highest resident set size of this process, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        self.interval, self.peak, self._done = interval, 0, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def run(self):
        while not self._done.is_set():
            self.peak = max(self.peak, self.rss())
            self._done.wait(self.interval)

    def stop(self) -> int:
        self._done.set()
        self.join()
        self.peak = max(self.peak, self.rss())
        return self.peak


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.train_only:
        train_model(args.train_only, args.train_seconds)
        return {}
    import torch
    import zarr

    from napari_unet.core.config import PredictConfig
    from napari_unet.core.files.bundle import load_bundle
    from napari_unet.core.inference.segment import segment
    from napari_unet.core.progress import drain

    args.workdir.mkdir(parents=True, exist_ok=True)
    image_path = args.workdir / f"napari_unet_large_{args.size}.zarr"
    made = make_image(image_path, args.size, args.chunk)
    model = args.model
    if model is None:
        model = args.workdir / "napari_unet_large_model.pt"
        if not model.exists():
            cmd = [sys.executable, __file__, "--train-only", str(model),
                   "--train-seconds", str(args.train_seconds)]
            subprocess.run(cmd, check=True)
    bundle = load_bundle(model)
    image = zarr.open_array(str(image_path), mode="r")
    out_path = args.workdir / f"napari_unet_large_{args.size}_prediction.zarr"
    config = PredictConfig(tile_size=args.tile, batch_size=args.batch, device="cpu",
                           threads=args.threads)
    from napari_unet.core.inference.tiles import plan_tiles

    config = replace(config, backend=args.backend)
    if args.backend == "onnxruntime":
        config = replace(config, amp=False)  # ONNX Runtime predicts in float32
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = plan_tiles(bundle.build_model("cpu"), args.size, args.size, config)
    load_before = _loadavg()
    sampler = RssSampler()
    before = sampler.rss()
    sampler.start()
    t0 = time.perf_counter()
    out = drain(segment(image, bundle, config, out=out_path, objects=args.instances,
                        overwrite=True)).store
    seconds = time.perf_counter() - t0
    peak_sampled = sampler.stop()
    labels = out.labels
    fg_share = float(np.mean(np.asarray(labels[: min(args.size, 2048), : min(args.size, 2048)]) == 2))
    record = {
        "benchmark": "large_image",
        "size": args.size,
        "megapixels": args.size**2 / 1e6,
        "seconds": round(seconds, 1),
        "megapixels_per_second": round(args.size**2 / 1e6 / seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_sampled_mb": round(peak_sampled / 2**20, 1),
        "rss_before_prediction_mb": round(before / 2**20, 1),
        "threads": torch.get_num_threads() if args.threads is None else args.threads,
        "tile": plan.tile,
        "window": plan.window,
        "tiles": plan.count,
        "plan_batch": plan.batch or args.batch,
        "overhead": round(plan.overhead, 3),
        "tile_given": args.tile,
        "backend": args.backend,
        "amp": config.amp,
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
        "instances": args.instances,
        "n_objects": out.objects.n_objects if out.objects else None,
        "image_made_now": made,
        "foreground_share_first_block": round(fg_share, 3),
        "model": str(model),
    }
    print(json.dumps(record), flush=True)
    if not args.keep:
        shutil.rmtree(out_path, ignore_errors=True)
    return record


if __name__ == "__main__":
    main()
