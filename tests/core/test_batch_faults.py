"""Batch runs that stopped or refused for good (issue 26, items 2 and 6): a damaged output of
ours is replaced with --overwrite (and only then), and an input deleted mid-run fails alone."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet.core.batch.folders import BatchError, Options, predict_files
from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.files.bundle import Bundle
from napari_unet.core.networks.model import UNet
from napari_unet.core.progress import Progress

CONFIG = PredictConfig(threads=1, device="cpu")


@pytest.fixture(scope="module")
def bundle():
    torch.manual_seed(0)
    cfg = ModelConfig(depth=1, base_width=4)
    return Bundle(cfg, NormConfig(), UNet(cfg).state_dict())


def image(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((40, 48)) * 255).astype(np.uint8)


def _drain(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_a_damaged_output_of_ours_is_replaced_with_overwrite_only(tmp_path, bundle, write_ngff_04):
    """A folder published without zarr.json (a run before issue 26) was refused even with
    --overwrite, until deleted by hand."""
    write_ngff_04(tmp_path / "cells.ome.zarr", np.stack([image(0)])[:, None], "tcyx",
                  [1.0, 1.0, 1.0, 1.0])
    out = tmp_path / "out"
    damaged = out / "cells_labels.ome.zarr" / "0" / "c" / "0" / "0"
    damaged.mkdir(parents=True)
    (damaged / "0").write_bytes(b"chunk")
    options = Options(config=CONFIG)
    with pytest.raises(BatchError, match="damaged napari-unet output .*--overwrite"):
        _drain(predict_files([tmp_path / "cells.ome.zarr"], out, bundle, options))
    result = _drain(predict_files([tmp_path / "cells.ome.zarr"], out, bundle, options,
                                  overwrite=True))
    assert result.summary() == "1 written"
    assert (out / "cells_labels.ome.zarr" / "zarr.json").is_file()


def test_a_folder_that_only_looks_damaged_is_never_replaced(tmp_path, bundle):
    tifffile.imwrite(tmp_path / "a.tif", image(0))
    (tmp_path / "out" / "a_labels.tif").mkdir(parents=True)  # not a Zarr folder of ours
    (tmp_path / "out" / "a_labels.tif" / "notes.txt").write_text("mine")
    with pytest.raises(BatchError, match="not written by napari-unet"):
        _drain(predict_files([tmp_path / "a.tif"], tmp_path / "out", bundle,
                             Options(config=CONFIG), overwrite=True))
    assert (tmp_path / "out" / "a_labels.tif" / "notes.txt").read_text() == "mine"


def test_an_input_deleted_mid_run_fails_alone_and_the_others_are_written(tmp_path, bundle):
    """Deleting one input while the batch ran aborted the whole batch (exit 2)."""
    for i, name in enumerate("abc"):
        tifffile.imwrite(tmp_path / f"{name}.tif", image(i))
    gen = predict_files([tmp_path / f"{n}.tif" for n in "abc"], tmp_path / "out", bundle,
                        Options(config=CONFIG))
    first = next(gen)
    assert isinstance(first, Progress)
    (tmp_path / "b.tif").unlink()
    result = _drain(gen)
    assert [p.name for p in result.written] == ["a_labels.tif", "c_labels.tif"]
    assert [p.name for p, _ in result.failed] == ["b.tif"]


def test_an_unreadable_output_is_called_unreadable_not_foreign(tmp_path, bundle, monkeypatch):
    """An existing output that cannot be read was reported as "not written by napari-unet".
    (os.access is patched: as root every file is readable.)"""
    import os

    tifffile.imwrite(tmp_path / "a.tif", image(0))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_labels.tif").write_bytes(b"ours, once")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).endswith(
        "a_labels.tif") else real(p, mode, **kw))
    with pytest.raises(BatchError, match="cannot be read .permission denied."):
        _drain(predict_files([tmp_path / "a.tif"], out, bundle, Options(config=CONFIG)))
    assert (out / "a_labels.tif").read_bytes() == b"ours, once"
