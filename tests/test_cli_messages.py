"""Every refusal on the command line is one line in words, exit status 2, before any work
(issue 15, items 6 and 11): numbers out of range, a device that is not there, Ctrl-C before
the work starts, empty or damaged files, OME-Zarr metadata that is wrong, a file that fails
on a dask cluster. Rows of docs/reliability.md."""

import numpy as np
import pytest

from napari_unet.cli import main
from test_cli_reliability import TRAIN, _one_line, _snapshot, files  # noqa: F401 - the fixture

TRAIN_ARGS = ["train", "cells.tif", "--labels", "labels.tif", "--out", "new.unet"]


@pytest.mark.parametrize("argv, message", [
    (TRAIN_ARGS + ["--seconds", "nan"], "--seconds must be a number, not nan"),
    (TRAIN_ARGS + ["--seconds", "inf"], "--seconds must be a number"),
    (TRAIN_ARGS + ["--seconds", "-1"], "--seconds must be between 0"),
    (TRAIN_ARGS + ["--steps", "-5"], "--steps must be between 0"),
    (TRAIN_ARGS + ["--batch-size", "0"], "--batch-size must be between 1"),
    (TRAIN_ARGS + ["--patch-size", "100000"], "--patch-size must be between 8 and 4096"),
    (TRAIN_ARGS + ["--depth", "0"], "--depth must be between 1 and 6"),
    (TRAIN_ARGS + ["--3d", "--anisotropy", "0"], "--anisotropy must be between 1 and 64"),
    (TRAIN_ARGS + ["--device", "banana"], "unknown device 'banana'"),
    (["predict", "m.unet", "cells.tif", "--out", "out", "--tile-size", "0"],
     "--tile-size must be between 8"),
    (["predict", "m.unet", "cells.tif", "--out", "out", "--device", "banana"], "unknown device"),
])
def test_numbers_and_devices_are_checked_before_any_work(files, capsys, argv, message):
    before = _snapshot(files)
    capsys.readouterr()
    budget = argv[0] != "train" or "--steps" in argv or "--seconds" in argv
    extra = [] if budget else ["--steps", "1"]
    assert main(argv + extra + ["--quiet"]) == 2
    assert message in _one_line(capsys)
    assert _snapshot(files) == before


def test_a_missing_gpu_is_exit_2_in_one_line(files, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for argv in (TRAIN_ARGS + ["--steps", "1"], ["predict", "m.unet", "cells.tif", "--out", "o"]):
        assert main(argv + ["--device", "cuda", "--quiet"]) == 2
        assert "no CUDA GPU is available" in _one_line(capsys)


def test_ctrl_c_before_training_starts_is_one_line(files, capsys, monkeypatch):
    import napari_unet.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load_pairs", interrupted)
    before = _snapshot(files)
    capsys.readouterr()
    assert main(TRAIN_ARGS + ["--steps", "1", "--quiet"]) == 130
    assert "interrupted" in _one_line(capsys)
    assert _snapshot(files) == before


@pytest.mark.parametrize("content, message", [(b"", "is empty (0 bytes)"),
                                              (b"\x89PNG\r\n\x1a\n broken", "cannot read")])
def test_an_empty_or_damaged_png_is_one_line(files, capsys, content, message):
    (files / "bad.png").write_bytes(content)
    capsys.readouterr()
    assert main(["train", "bad.png", "--labels", "labels.tif", "--out", "new.unet", *TRAIN]) == 2
    assert message in _one_line(capsys)
    assert main(["predict", "m.unet", "bad.png", "--out", "out", "--quiet"]) == 2
    assert message in _one_line(capsys)
    assert not (files / "out").exists()


def _zarr(path, shape, axes):
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=np.ones(shape, np.float32), chunks=(1,) + shape[1:])
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [{"path": "0"}]}]


@pytest.mark.parametrize("shape, axes, message", [
    ((2, 32, 32), [{"type": "space"}, {"name": "y"}, {"name": "x"}], "needs a name"),
    ((0, 32, 32), [{"name": "z"}, {"name": "y"}, {"name": "x"}], "is empty"),
    ((2, 32, 32), [{"name": "y"}, {"name": "y"}, {"name": "x"}], "different names"),
])
def test_wrong_ome_zarr_metadata_is_one_line_and_writes_nothing(files, capsys, shape, axes,
                                                                message):
    _zarr(files / "bad.ome.zarr", shape, axes)
    capsys.readouterr()
    assert main(["predict", "m.unet", "bad.ome.zarr", "--out", "out", "--quiet"]) == 2
    line = _one_line(capsys)
    assert message in line and "Error" not in line.split(": error:")[1]
    assert not (files / "out").exists() or not any((files / "out").iterdir())


def test_a_damaged_file_on_a_local_dask_cluster_is_one_line(files, capfd):
    pytest.importorskip("distributed")
    (files / "in").mkdir()
    (files / "in" / "cut.tif").write_bytes((files / "cells.tif").read_bytes()[:300])
    capfd.readouterr()
    assert main(["predict", "m.unet", "in", "--out", "out", "--dask-local", "1", "--quiet"]) == 2
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "cut.tif" in err[0] and "Traceback" not in err[0], err


@pytest.mark.parametrize("thing", [None, [[1.0, 2.0], [3.0, 4.0]], "cells.tif"])
def test_the_api_says_what_it_expected_for_things_that_are_not_arrays(thing):
    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.images import ImageError
    from napari_unet.core.inference.predict import predict_image
    from napari_unet.core.networks.model import UNet

    cfg = ModelConfig(depth=1, base_width=2)
    bundle = Bundle(cfg, NormConfig(), UNet(cfg).state_dict())
    with pytest.raises(ImageError, match="expected the image as an array"):
        predict_image(thing, bundle)


@pytest.mark.parametrize("thing", [None, [[1.0, 2.0], [3.0, 4.0]], "cells.tif"])
def test_training_says_what_it_expected_for_things_that_are_not_arrays(thing):
    from napari_unet.core.images import ImageError
    from napari_unet.core.training.train import Trainer
    from napari_unet.core.training.train3d import Trainer3D

    for trainer in (Trainer, Trainer3D):
        with pytest.raises(ImageError, match="expected the (image|volume) as an array"):
            trainer([thing], [np.ones((2, 2), np.uint8)])
