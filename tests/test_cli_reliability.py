"""Bad input and faults on the command line: one line on stderr, a non-zero exit status,
and nothing written or overwritten. Rows of docs/reliability.md."""

import os

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

TRAIN = ["--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "2", "--width", "4",
         "--quiet"]


@pytest.fixture()
def files(tmp_path, nuclei_case, monkeypatch):
    image, truth, painted = nuclei_case
    tifffile.imwrite(tmp_path / "cells.tif", image[0].astype(np.float32))
    tifffile.imwrite(tmp_path / "labels.tif", painted.astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "cells.tif", "--labels", "labels.tif", "--out", "m.unet", *TRAIN]) == 0
    return tmp_path


def _one_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case, argv, message", [
    ("nan", ["train", "nan.tif", "--labels", "labels.tif", "--out", "new.unet"], "NaN or infinite"),
    ("nan", ["predict", "m.unet", "nan.tif", "--out", "out"], "NaN or infinite"),
    ("ids", ["train", "cells.tif", "--labels", "ids.tif", "--out", "new.unet"], "whole-objects"),
    ("one", ["train", "cells.tif", "--labels", "one.tif", "--out", "new.unet"], "only label 2"),
    ("rgba", ["predict", "m.unet", "rgba.tif", "--out", "out", "--rgb"], "1-channel images"),
    ("newer", ["predict", "newer.unet", "cells.tif", "--out", "out"], "newer napari-unet"),
    ("cut", ["predict", "cut.unet", "cells.tif", "--out", "out"], "damaged"),
    ("blocked", ["predict", "m.unet", "cells.tif", "--out", "blocker/out"], "cannot"),
    ("blocked", ["train", "cells.tif", "--labels", "labels.tif", "--out", "blocker/new.unet"],
     "cannot"),
])
def test_bad_input_is_one_line_nonzero_and_writes_nothing(files, capsys, nuclei_case, case, argv,
                                                          message):
    image, truth, painted = nuclei_case
    if case == "nan":
        tifffile.imwrite(files / "nan.tif", np.where(truth > 0, np.nan, image[0]).astype(np.float32))
    elif case == "ids":
        tifffile.imwrite(files / "ids.tif", (painted.astype(np.uint32) * 40_000))
    elif case == "one":
        tifffile.imwrite(files / "one.tif", (painted == 2).astype(np.uint8) * 2)
    elif case == "rgba":
        tifffile.imwrite(files / "rgba.tif", np.stack([image[0]] * 4, axis=-1).astype(np.float32))
    elif case == "newer":
        raw = (files / "m.unet").read_bytes()
        (files / "newer.unet").write_bytes(raw.replace(b'"format_version":"4"', b'"format_version":"9"'))
    elif case == "cut":
        (files / "cut.unet").write_bytes((files / "m.unet").read_bytes()[:-100])
    elif case == "blocked":
        (files / "blocker").write_text("a file where a folder should be")
    capsys.readouterr()
    before = _snapshot(files)
    assert main(argv + ["--quiet"]) != 0
    assert message in _one_line(capsys)
    assert _snapshot(files) == before


def test_a_full_disk_while_saving_keeps_the_previous_model(files, capsys, monkeypatch):
    before = (files / "m.unet").read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert main(["train", "cells.tif", "--labels", "labels.tif", "--out", "m.unet", "--seed", "3",
                 *TRAIN]) == 2
    assert "No space left on device" in _one_line(capsys)
    assert (files / "m.unet").read_bytes() == before
    assert sorted(p.name for p in files.iterdir()) == ["cells.tif", "labels.tif", "m.unet"]


def test_a_device_that_is_not_there_is_one_line(files, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["predict", "m.unet", "cells.tif", "--out", "out", "--device", "cuda",
                 "--quiet"]) != 0
    assert "no CUDA GPU is available" in _one_line(capsys)
