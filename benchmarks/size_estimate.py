"""How well the object size is estimated (issue 21): per model and set, the error of
``object_size.estimate`` against the true median diameter of each image's objects.

    python benchmarks/size_estimate.py --models nuclei [my_finetuned.unet] \
        --sets dsb-fluo dsb-fluo@0.5 dsb-fluo@2 dsb-fluo@3 [--out rows.jsonl]

A model file fine-tuned from a starter is measured as the product measures it (by that
starter, ``object_size.measuring``) unless ``--itself``. Prints, per model and set, the median
error (``|log(estimate / truth)|``, as a ratio: 1.05 = 5 % off either way), the share of
images off by more than 25 % and 50 %, and the seconds per estimate. Sets as in
``everywhere.py`` (evaluation images, ../shared/data), and ``pool:N``: N images drawn (seed
7) from the nuclei starter's training pools (``dsb2018_train/``, ``bbbc039/``), as its
colour images reach it (luminance). The pools are for choosing how the estimate works, as
the post-processing is chosen on them; the evaluation sets report it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from everywhere import load  # noqa: E402
from napari_unet.core.config import PredictConfig  # noqa: E402
from napari_unet.core.files.starters import load_model  # noqa: E402
from napari_unet.core.inference import object_size  # noqa: E402


def rows(spec: str, set_name: str, data, itself: bool, threads: int):
    """One record per image: truth, estimate and what each scale found."""
    import torch

    torch.set_num_threads(threads)
    bundle = load_model(spec)
    model = bundle.build_model("cpu")
    config = PredictConfig(device="cpu", threads=threads)
    if itself:  # a lineage that names no starter: the model measures itself
        from dataclasses import replace

        bundle = replace(bundle, lineage=["unknown"])
    for name, image, truth in data:
        t0 = time.perf_counter()
        found = object_size.estimate(image, bundle, model, config)
        yield {"model": spec, "set": set_name, "image": name, "itself": itself,
               "truth": round(object_size.median_diameter(truth)[0], 2),
               "estimate": found.diameter, "tried": found.tried,
               "seconds": round(time.perf_counter() - t0, 3)}


def pool_images(n: int):
    """``(name, image, truth)`` of ``n`` images drawn from the nuclei starter's pools."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_starters import RECIPES, draw_pool

    from napari_unet.core.files.io import read_image
    from napari_unet.core.grayscale import to_gray

    for image_path, labels_path in draw_pool(RECIPES["nuclei"], n, 7):
        yield (image_path.stem, to_gray(read_image(image_path)),
               read_image(labels_path).astype(np.int32))


def images_of(set_name: str):
    if set_name.startswith("pool:"):
        return pool_images(int(set_name.partition(":")[2]))
    return load(set_name)


def summary(records: list[dict]) -> dict:
    err = np.array([abs(math.log(r["estimate"] / r["truth"])) if r["estimate"] and r["truth"]
                    else np.inf for r in records])
    return {"images": len(records), "median_ratio": round(float(math.exp(np.median(err))), 3),
            "off_25": round(float(np.mean(err > math.log(1.25))), 3),
            "off_50": round(float(np.mean(err > math.log(1.5))), 3),
            "seconds": round(float(np.mean([r["seconds"] for r in records])), 3)}


def timing(spec: str, threads: int) -> list[dict]:
    """Seconds per estimate on a 1024 x 1024 synthetic image of nuclei about 18 and 59 px
    across (best of 3 after one warm-up): the issue's cost aim is under 2 s on 2 cores."""
    import torch

    from napari_unet.synthetic import nuclei

    torch.set_num_threads(threads)
    bundle = load_model(spec)
    model = bundle.build_model("cpu")
    config = PredictConfig(device="cpu", threads=threads)
    out = []
    for radius in (9, 30):
        n = int(0.25 * 1024 * 1024 / (np.pi * radius * radius))
        image, truth = nuclei((1024, 1024), n=n, radius=(0.85 * radius, 1.15 * radius), seed=0)
        object_size.estimate(image[None], bundle, model, config)  # warm-up
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            found = object_size.estimate(image[None], bundle, model, config)
            times.append(time.perf_counter() - t0)
        out.append({"model": spec, "image": "1024x1024 synthetic", "threads": threads,
                    "truth": round(object_size.median_diameter(truth)[0], 1),
                    "estimate": found.diameter, "seconds_best_of_3": round(min(times), 3)})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["nuclei"])
    ap.add_argument("--sets", nargs="+", default=["dsb-fluo"],
                    help="everywhere.py's sets, or pool:N (N training-pool images)")
    ap.add_argument("--itself", action="store_true",
                    help="measure with each model itself, not the starter it came from")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--timing", action="store_true",
                    help="only time the estimate on 1024 x 1024 synthetic images (quiet machine)")
    args = ap.parse_args(argv)
    if args.timing:
        for spec in args.models:
            for row in timing(spec, args.threads):
                print(json.dumps({**row, "load_avg_1m": round(os.getloadavg()[0], 2)}), flush=True)
        return 0
    for spec in args.models:
        for set_name in args.sets:
            records = list(rows(spec, set_name, images_of(set_name), args.itself,
                                 args.threads))
            if args.out:
                with args.out.open("a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in records)
            print(json.dumps({"model": spec, "set": set_name, "itself": args.itself,
                              **summary(records)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
