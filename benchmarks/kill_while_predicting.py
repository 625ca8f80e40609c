"""SIGKILL folder prediction at random moments, then run it again: the outputs must be
byte-identical to an uninterrupted run's, and no temporary may be left.

One process imports napari-unet once, predicts a folder (TIFF images and an OME-Zarr image,
labels and probabilities) into a reference folder and times it. Every trial forks a child
that predicts the same folder into a fresh output folder and gets SIGKILL after a random
delay within that time (no cleanup, no ``finally``); the parent then runs the prediction
again to the end, in its own process, and compares every file with the reference. Prints one
JSON line: trials, how many were killed before the child finished, the outputs that differ,
and the temporaries left after the rerun.

    python benchmarks/kill_while_predicting.py --trials 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path


def _inputs(folder: Path) -> None:
    import numpy as np
    import tifffile
    import zarr

    from napari_unet.synthetic import nuclei

    folder.mkdir(parents=True)
    for i in range(3):
        tifffile.imwrite(folder / f"plate.{i:03d}.tif", nuclei((160, 192), n=10, seed=i)[0])
    stack = np.stack([nuclei((128, 128), n=8, seed=10 + z)[0] for z in range(3)])
    group = zarr.open_group(str(folder / "stack.ome.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=stack.astype(np.float32), chunks=(1, 64, 64))
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": "z", "type": "space"}, {"name": "y", "type": "space"},
        {"name": "x", "type": "space"}], "datasets": [{"path": "0"}]}]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(trials: int, seed: int = 0, workdir: str | None = None) -> dict:
    import torch

    from napari_unet.core.batch.folders import Options, predict_files
    from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.networks.model import UNet
    from napari_unet.core.progress import drain

    torch.set_num_threads(1)  # forking a process with busy OpenMP threads can hang the child
    torch.manual_seed(0)
    cfg = ModelConfig(depth=2, base_width=8)
    bundle = Bundle(cfg, NormConfig(), dict(UNet(cfg).state_dict()))
    options = Options(probabilities=True,
                      config=PredictConfig(device="cpu", threads=1, tile_size=32))
    work = Path(workdir or tempfile.mkdtemp(prefix="napari-unet-kill-predict-"))
    _inputs(work / "in")

    def predict(out: Path):
        return drain(predict_files([work / "in"], out, bundle, options))

    start = time.perf_counter()
    predict(work / "reference")
    duration = time.perf_counter() - start
    reference = _files(work / "reference")
    rng = random.Random(seed)
    killed, differ, left = 0, [], []
    for trial in range(trials):
        out = work / f"trial{trial}"
        pid = os.fork()
        if pid == 0:  # the child: predict, and leave without any cleanup
            try:
                predict(out)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0, duration))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed += os.WIFSIGNALED(status)
        predict(out)  # the rerun: finishes what the killed run did not
        got = _files(out)
        differ += [f"trial {trial}: {name}" for name in sorted(set(got) | set(reference))
                   if got.get(name) != reference.get(name)]
        left += [f"trial {trial}: {p.name}" for p in out.iterdir() if p.name.startswith(".")]
    return {"trials": trials, "killed": killed, "seconds_per_run": round(duration, 3),
            "outputs": len(reference), "differ": differ[:10], "temporaries_left": left[:10]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="folder for the trials (default: a new temporary one)")
    args = p.parse_args(argv)
    result = run(args.trials, args.seed, args.workdir)
    print(json.dumps(result))
    return 0 if not result["differ"] and not result["temporaries_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
