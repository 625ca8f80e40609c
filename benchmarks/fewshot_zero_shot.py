"""The starters zero-shot on ``fewshot.py``'s evaluation images: the row every fine-tuned
result must reach (issue 21: "F1 after 30 s of CPU >= the starter's zero-shot on every row").

    python benchmarks/fewshot_zero_shot.py [--datasets dsb-fluo dsb-bright] [--models nuclei stained]
        [--out docs/fewshot_everywhere.jsonl]

Same evaluation as ``fewshot.py --sized``: the product's route (``core.inference.segment``,
object size estimated for starters that record one), the model's own post-processing, scores
pooled over the split's evaluation images.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fewshot import load_split, score_nuclei  # noqa: E402
from napari_unet.core.config import PredictConfig  # noqa: E402
from napari_unet.core.files.starters import load_model  # noqa: E402
from napari_unet.core.inference.postprocess import to_instances  # noqa: E402
from napari_unet.core.inference.segment import segment  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["dsb-fluo", "dsb-bright"])
    ap.add_argument("--models", nargs="+", default=["nuclei", "stained"])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    for name in args.datasets:
        split = load_split(name)
        for spec in args.models:
            bundle = load_model(spec)
            model = bundle.build_model("cpu")
            instances = []
            for image in split.eval_images:
                seg = drain(segment(image, bundle, PredictConfig(device="cpu"), model=model,
                                    probabilities=True))
                instances.append(to_instances(seg.probabilities, bundle.mode, bundle.postprocess))
            row = {"dataset": name, "method": f"zero-shot {spec}", "budget": 0,
                   "metrics": score_nuclei(instances, split.eval_truths, split.eval_ids),
                   "n_eval": len(split.eval_images), "load_avg_1m": round(os.getloadavg()[0], 2)}
            m = row["metrics"]
            print(f"{name} {spec}: F1@0.5 {m['f1_50']:.3f} AP@0.5:0.9 {m['ap_50_90']:.3f}", flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
