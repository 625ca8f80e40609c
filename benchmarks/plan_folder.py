"""Planning a finished folder: how long `predict` takes to find that there is nothing to do.

Makes a folder of N one-pixel TIFF inputs and, in an output folder, their outputs as a run of
napari-unet writes them (each with its record), then times `prepare` (expand, check, plan) and
the skip pass of `predict_files` (every job found done). Issue 26, item 6: with N = 10,000
this took 838 s, as planning compared every output with every input and looked for every
output's temporaries by listing the folder again; both are linear now. Prints one JSON line.

    python benchmarks/plan_folder.py --n 10000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from napari_unet.core.batch.folders import Options, model_fingerprint, predict_files, prepare
    from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.files.io import write_tiff
    from napari_unet.core.files.records import make_record
    from napari_unet.core.networks.model import UNet
    from napari_unet.core.progress import drain

    torch.manual_seed(0)
    cfg = ModelConfig(depth=1, base_width=2)
    bundle = Bundle(cfg, NormConfig(), UNet(cfg).state_dict())
    fingerprint = model_fingerprint(bundle)
    with tempfile.TemporaryDirectory() as root:
        src, out = Path(root) / "in", Path(root) / "out"
        src.mkdir()
        out.mkdir()
        pixel = np.zeros((1, 1), np.uint8)
        for i in range(args.n):
            write_tiff(src / f"{i}.tif", pixel)
        for i in range(args.n):
            write_tiff(out / f"{i}_labels.tif", pixel,
                       record=make_record(src / f"{i}.tif", fingerprint, False))
        start = time.perf_counter()
        jobs, _ = prepare([src], out)
        planned = time.perf_counter() - start
        start = time.perf_counter()
        result = drain(predict_files([src], out, bundle, Options(config=PredictConfig(device="cpu"))))
        rerun = time.perf_counter() - start
    print(json.dumps({"n": args.n, "jobs": len(jobs), "plan_s": round(planned, 2),
                      "rerun_s": round(rerun, 2), "skipped": len(result.skipped)}))


if __name__ == "__main__":
    main()
