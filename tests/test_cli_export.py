"""``napari-unet export``: each format from the command line; errors are one line, status 2."""

from __future__ import annotations

import json
import sys
import zipfile

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory, nuclei_case):
    image, _, painted = nuclei_case
    folder = tmp_path_factory.mktemp("export")
    tifffile.imwrite(folder / "cells.tif", image[0])
    tifffile.imwrite(folder / "cells_labels.tif", painted)
    assert main(["train", str(folder / "cells.tif"), "--labels", str(folder / "cells_labels.tif"),
                 "--out", str(folder / "m.unet"), "--steps", "2", "--batch-size", "2",
                 "--patch-size", "32", "--depth", "2", "--width", "4", "--quiet"]) == 0
    return folder / "m.unet"


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_torchscript_export_writes_the_model_and_its_sidecar(model, tmp_path, capsys):
    import torch

    before = model.read_bytes()
    assert main(["export", str(model), "--format", "torchscript", "--out", str(tmp_path / "m")]) == 0
    assert f"wrote {tmp_path / 'm.pt'}" in capsys.readouterr().err
    net = torch.jit.load(str(tmp_path / "m.pt"))
    probs = net(torch.rand(1, 1, 32, 48)).detach().numpy()
    assert probs.shape == (1, 2, 32, 48) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert json.loads((tmp_path / "m.pt.json").read_text())["input"]["channels"] == 1
    assert model.read_bytes() == before  # the model file is never touched


def test_bioimageio_export_with_a_sample_image(model, tmp_path):
    rc = main(["export", str(model), "--format", "bioimageio", "--out", str(tmp_path / "pkg.zip"),
               "--sample", str(model.parent / "cells.tif"), "--author", "A. Person",
               "--no-validate", "--quiet"])
    assert rc == 0
    package = zipfile.ZipFile(tmp_path / "pkg.zip")
    rdf = package.read("rdf.yaml").decode()
    assert "A. Person" in rdf and "scale_range" in rdf and "softmax" in rdf
    x = np.load(package.open("test_input.npy"))
    image = tifffile.imread(model.parent / "cells.tif")
    assert x.shape == (1, 1, 128, 128) and np.array_equal(x[0, 0], image)  # the sample, raw


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "missing.unet", "--format", "onnx", "--out", "m.onnx"], "cannot read model file"),
        (["export", "{model}", "--format", "onnx", "--out", "{model}/m.onnx"], "cannot write"),
        (["export", "{model}", "--format", "torchscript", "--out", "m.pt", "--sample", "x.tif"],
         "for --format bioimageio"),
        (["export", "{model}", "--format", "bioimageio", "--out", "m.zip", "--sample", "nope.tif"],
         "nope.tif"),
        (["export", "{model}", "--format", "bioimageio", "--out", "m.zip", "--license", "no such"],
         "license"),
    ],
)
def test_errors_are_one_line_with_status_2(model, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{model}", str(model)) for a in argv]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert line.startswith("napari-unet export: error:") and message in line, line
    assert not list(tmp_path.iterdir())


def test_missing_extra_is_a_one_line_error(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    assert main(["export", str(model), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "pip install napari-stroke-unet[export]" in _error_line(capsys)


def test_a_nan_sample_is_refused_and_nothing_is_written(model, tmp_path, monkeypatch, capsys):
    """Issue 15, item 7: an all-NaN test output never passes as a package."""
    pytest.importorskip("bioimageio.core")
    monkeypatch.chdir(tmp_path)
    tifffile.imwrite(tmp_path / "nan.tif", np.full((64, 64), np.nan, np.float32))
    assert main(["export", str(model), "--format", "bioimageio", "--out", "m.zip", "--sample",
                 "nan.tif", "--no-validate"]) == 2
    assert "NaN or infinite pixels" in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.tif"]
