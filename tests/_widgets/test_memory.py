"""Thirty train/predict cycles in one viewer: memory stays bounded, device memory returns.

Users of other plugins report memory that grows with every run until napari is restarted.
Here no model outlives its run (a leak of one model per run, about 2 MB, was found this way:
finished workers kept their slots), the process's resident memory after the warm-up cycles
grows by at most ``RSS_BOUND_MB`` over the remaining cycles (allocator noise is about +-10 MB;
the figures are printed for the notes), and on a CUDA device the memory allocated by tensors
returns to its level before training.
"""

from __future__ import annotations

import gc

import psutil
import torch

from napari_unet._widgets.common.session import session_for
from napari_unet.core.oom import device_memory_in_use

from .helpers import wait_idle

CYCLES = 30
WARM_UP = 5
RSS_BOUND_MB = 40


def test_thirty_train_predict_cycles_keep_memory_bounded(viewer, layers, train_widget,
                                                         predict_widget, qtbot):
    process = psutil.Process()
    cuda = torch.cuda.is_available()
    if cuda:  # the fixtures train on the CPU; on a GPU machine, measure the GPU too
        train_widget.settings.device.setCurrentText("cuda")
    gpu_before = device_memory_in_use("cuda") if cuda else None
    train_widget.settings.steps.setValue(5)
    rss = []
    models_before = _models_alive()  # other tests' fixtures may hold some
    kept = 0  # runs that kept the model they continued (it is then unchanged)
    for _ in range(CYCLES):
        assert train_widget.train() is not None
        wait_idle(qtbot, train_widget)
        text = train_widget.status.text()
        kept += "kept the previous model" in text or "kept the starting model" in text
        predict_widget.predict()
        wait_idle(qtbot, predict_widget)
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
    # each run continued the last
    assert session_for(viewer).bundle.info["steps"] == 5 * (CYCLES - kept)
    growth = max(rss[WARM_UP:]) - rss[WARM_UP - 1]
    print(f"RSS after cycle {WARM_UP}: {rss[WARM_UP - 1]:.0f} MB; max over cycles "
          f"{WARM_UP + 1}-{CYCLES}: {max(rss[WARM_UP:]):.0f} MB; growth {growth:.1f} MB")
    assert growth < RSS_BOUND_MB
    assert _models_alive() - models_before <= 2  # the session's model (+ one on its way out)
    if gpu_before is not None:
        assert device_memory_in_use("cuda") <= gpu_before + 2**20


def _models_alive() -> int:
    from napari_unet.core.files.bundle import Bundle

    gc.collect()
    return sum(isinstance(o, Bundle) for o in gc.get_objects())
