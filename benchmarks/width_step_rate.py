"""Fine-tuning steps/s of a starter's network at width 16 and 32 (issue 21, item 4).

    STEPS=30 python benchmarks/width_step_rate.py

The shipped nuclei starter (depth 4, width 16) is fine-tuned on one DSB2018 fluorescence
image with ten scribbled nuclei, as the docks do (its teacher, frozen norms, 2 threads),
against the same file with a depth-4 or depth-3 width-32 network of random weights (a step
costs the same whatever the weights). Prints one JSON line; time it on a quiet machine (the
load average is in the line). Results: docs/benchmarks.md, "Everywhere, fifth pass".
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import dsb, dsb_ids  # noqa: E402


def rate(image, painted, init, steps: int) -> tuple[float, bool]:
    """Steps per second of fine-tuning ``init``, and whether the run has a teacher."""
    from napari_unet.core.config import TrainConfig
    from napari_unet.core.training.train import Trainer

    config = TrainConfig(steps=10 * steps, seconds=None, device="cpu", threads=2,
                         validation_fraction=0.0)
    trainer = Trainer([image], [painted], config=config, init=init)
    for _ in range(3):  # the allocator warmed
        trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return round(steps / (time.perf_counter() - t0), 1), trainer._teacher is not None


def wider(starter, depth: int, width: int):
    """``starter``'s file with a ``depth`` x ``width`` network of random weights."""
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.networks.model import UNet

    config = replace(starter.model_config, depth=depth, base_width=width)
    return Bundle(model_config=config, norm=starter.norm, state_dict=UNet(config).state_dict(),
                  class_names=list(starter.class_names), info=dict(starter.info),
                  train_config=dict(starter.train_config),
                  postprocess=starter.postprocess, lineage=list(starter.lineage),
                  input=starter.input)


def main() -> dict:
    from napari_unet.core.files.starters import load_model
    from napari_unet.synthetic import simulate_painting

    torch.set_num_threads(2)
    steps = int(os.environ.get("STEPS", 30))
    image, truth = dsb(dsb_ids()[0])
    painted = simulate_painting(truth, 10, n_background_strokes=5, seed=0)
    starter = load_model("nuclei")
    out: dict = {"load_avg_1m_before": round(os.getloadavg()[0], 2)}
    for name, init in (("depth 4, width 16 (the starter)", starter),
                       ("depth 4, width 32", wider(starter, 4, 32)),
                       ("depth 3, width 32", wider(starter, 3, 32))):
        out[name] = dict(zip(("steps_per_s", "teacher"), rate(image, painted, init, steps)))
    out["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
