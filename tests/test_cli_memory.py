"""Inputs and settings that cannot fit in memory are refused before any work, with the size
and what to change; the CPU allocator's out-of-memory error is retried like the GPU's
(issue 15, items 8 and 10). Rows of docs/reliability.md."""

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.cli import main
from napari_unet.core import memory
from test_cli_reliability import TRAIN, _one_line, _snapshot, files  # noqa: F401 - the fixture

CPU_OOM = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
           "memory: you tried to allocate 10000000000000 bytes. Error code 12 (Cannot allocate "
           "memory)")


@pytest.fixture()
def little_memory(monkeypatch):
    """A machine with 256 MiB free."""
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 256 * 2**20)


def test_a_tiff_larger_than_memory_is_refused_before_a_pixel_is_read(files, capsys,
                                                                     little_memory, monkeypatch):
    tifffile.imwrite(files / "big.tif", np.zeros((4096, 8192), np.float32), tile=(512, 512),
                     compression="zlib")  # 0.2 MB on disk, 128 MiB of pixels, more to use

    def no_reading(*args, **kwargs):
        raise AssertionError("the pixels were read")

    monkeypatch.setattr(tifffile, "imread", no_reading)
    capsys.readouterr()
    before = _snapshot(files)
    assert main(["train", "big.tif", "--labels", "labels.tif", "--out", "new.unet", *TRAIN]) == 2
    line = _one_line(capsys)
    assert "big.tif holds a 4096 x 8192 image" in line and "MiB is free" in line
    assert main(["predict", "m.unet", "big.tif", "--out", "out", "--quiet"]) == 2
    assert "holds a 4096 x 8192 image" in _one_line(capsys)
    assert _snapshot(files) == before


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "4000", "--patch-size", "64"], "use --batch-size"),
    (["--batch-size", "1", "--patch-size", "4096"], "use a smaller --patch-size"),
])
def test_training_settings_that_cannot_fit_are_refused_before_reading(files, capsys, monkeypatch,
                                                                      argv, message):
    import napari_unet.cli as cli

    def no_reading(*args, **kwargs):
        raise AssertionError("the images were read")

    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 2**30)
    monkeypatch.setattr(cli, "_load_pairs", no_reading)
    capsys.readouterr()
    assert main(["train", "cells.tif", "--labels", "labels.tif", "--out", "new.unet",
                 "--steps", "1", "--quiet", *argv]) == 2
    line = _one_line(capsys)
    assert "needs about" in line and "GiB is free" in line and message in line
    assert not (files / "new.unet").exists()


def test_a_tile_size_that_cannot_fit_is_refused_before_predicting(files, capsys, little_memory):
    capsys.readouterr()
    assert main(["predict", "m.unet", "cells.tif", "--out", "out", "--tile-size", "8192",
                 "--quiet"]) == 2
    assert "use a smaller --tile-size" in _one_line(capsys)
    assert not (files / "out").exists()


def test_the_cpu_allocators_error_is_out_of_memory():
    from napari_unet.core.oom import is_out_of_memory

    assert is_out_of_memory(RuntimeError(CPU_OOM))


def test_training_on_the_cpu_halves_the_batch_when_the_allocator_fails(nuclei_case, monkeypatch):
    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.networks.model import UNet
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train import Trainer

    real = UNet.forward

    def forward(self, x):
        if x.shape[0] > 2:
            raise RuntimeError(CPU_OOM)
        return real(self, x)

    monkeypatch.setattr(UNet, "forward", forward)
    image, _, painted = nuclei_case
    config = TrainConfig(steps=3, seconds=None, batch_size=8, patch_size=32, device="cpu")
    trainer = Trainer([image], [painted], model=ModelConfig(depth=2, base_width=4), config=config)
    records = []
    drain(trainer.steps(), records.append)
    assert [r.notice for r in records if r.notice][-1] == \
        "Out of memory: training continues with 2 patches per step"
    assert trainer.step == 3 and torch.get_num_threads() >= 1


def test_a_tiled_tiff_too_large_to_read_is_predicted_window_by_window(files, capsys, monkeypatch):
    """Its pixels and a float32 copy would not fit, its labels do: read lazily (tifffile's
    zarr store), with the same result as reading it whole."""
    image = (tifffile.imread(files / "cells.tif") * 1000).astype(np.float32)
    tifffile.imwrite(files / "big.tif", np.tile(image, (8, 16)), tile=(256, 256))  # 1024 x 2048
    assert main(["predict", "m.unet", "big.tif", "--out", "whole", "--tile-size", "64",
                 "--quiet"]) == 0
    real = tifffile.imread

    def lazily_only(*args, **kwargs):
        if not kwargs.get("aszarr"):
            raise AssertionError("the whole file was read")
        return real(*args, **kwargs)

    monkeypatch.setattr(tifffile, "imread", lazily_only)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 16 * 2**20)
    assert main(["predict", "m.unet", "big.tif", "--out", "lazy", "--tile-size", "64",
                 "--quiet"]) == 0
    monkeypatch.setattr(tifffile, "imread", real)
    assert np.array_equal(tifffile.imread(files / "lazy" / "big_labels.tif"),
                          tifffile.imread(files / "whole" / "big_labels.tif"))
