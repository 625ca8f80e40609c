"""Outputs never destroy inputs or other results (issue 15, items 1, 2 and 12): an output
that is an input is refused by any name, output names keep the whole file name, an existing
file counts as done only if napari-unet wrote it for this input and model, and refused runs
create nothing. Rows of docs/reliability.md."""

import os

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from test_cli_reliability import TRAIN, _one_line, _snapshot, files  # noqa: F401 - the fixture


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("victim", ["labels.tif", "cells.tif"])
def test_training_into_an_input_by_any_name_is_refused_and_the_input_stays(files, capsys, link,
                                                                           victim):
    out = victim
    if link == "symlink":
        os.symlink(files / victim, files / "alias.unet")
        out = "alias.unet"
    elif link == "hardlink":
        os.link(files / victim, files / "alias.unet")
        out = "alias.unet"
    capsys.readouterr()
    before = _snapshot(files)
    assert main(["train", "cells.tif", "--labels", "labels.tif", "--out", out, *TRAIN]) == 2
    assert "would destroy it" in _one_line(capsys)
    assert _snapshot(files) == before


def test_exporting_over_the_model_is_refused_and_the_model_stays(files, capsys):
    capsys.readouterr()
    before = _snapshot(files)
    assert main(["export", "m.unet", "--format", "torchscript", "--out", "m.unet", "--quiet"]) == 2
    assert "would destroy it" in _one_line(capsys)
    assert _snapshot(files) == before


def test_output_names_keep_the_whole_file_name(files, capsys):
    data = tifffile.imread(files / "cells.tif")
    (files / "in").mkdir()
    for name in ["2024.05.01 plate A.tif", "sample.001.tif", "sample.002.tif"]:
        tifffile.imwrite(files / "in" / name, data)
    assert main(["predict", "m.unet", "in", "--out", "out", "--quiet"]) == 0
    assert sorted(p.name for p in (files / "out").iterdir()) == [
        "2024.05.01 plate A_labels.tif", "sample.001_labels.tif", "sample.002_labels.tif"]


def test_a_second_folder_with_the_same_names_is_refused_not_skipped(files, capsys):
    data = tifffile.imread(files / "cells.tif")
    for folder in ("a", "b"):
        (files / folder).mkdir()
        tifffile.imwrite(files / folder / "cell.tif", data)
    assert main(["predict", "m.unet", "a", "--out", "out", "--quiet"]) == 0
    _refused_with_or_without_overwrite(files, capsys, ["b", "--out", "out"], "holds the prediction of")


def _refused_with_or_without_overwrite(files, capsys, args, message):
    before = _snapshot(files)
    capsys.readouterr()
    for extra in ([], ["--overwrite"]):
        assert main(["predict", "m.unet", *args, "--quiet", *extra]) == 2
        assert message in _one_line(capsys)
        assert _snapshot(files) == before


def test_the_users_own_labels_in_the_folder_are_never_overwritten(files, capsys):
    (files / "in").mkdir()
    tifffile.imwrite(files / "in" / "cell.tif", tifffile.imread(files / "cells.tif"))
    tifffile.imwrite(files / "in" / "cell_labels.tif", tifffile.imread(files / "labels.tif"))
    _refused_with_or_without_overwrite(files, capsys, ["in", "--out", "in"], "not written by napari-unet")


def test_an_input_that_changed_or_another_model_is_predicted_again(files, capsys):
    (files / "in").mkdir()
    tifffile.imwrite(files / "in" / "cell.tif", tifffile.imread(files / "cells.tif"))
    assert main(["predict", "m.unet", "in", "--out", "out", "--quiet"]) == 0
    assert main(["predict", "m.unet", "in", "--out", "out"]) == 0
    assert "1 skipped" in capsys.readouterr().err
    tifffile.imwrite(files / "in" / "cell.tif", tifffile.imread(files / "cells.tif")[::-1].copy())
    assert main(["predict", "m.unet", "in", "--out", "out"]) == 0
    assert "1 written" in capsys.readouterr().err
    assert main(["train", "cells.tif", "--labels", "labels.tif", "--out", "m2.unet", "--seed", "5",
                 *TRAIN]) == 0
    assert main(["predict", "m2.unet", "in", "--out", "out"]) == 0
    assert "1 written" in capsys.readouterr().err


def test_refused_runs_create_no_folders(files, capsys, nuclei_case):
    tifffile.imwrite(files / "one.tif", np.ones((128, 128), np.uint8) * 2)
    before = sorted(files.rglob("*"))
    assert main(["train", "cells.tif", "--labels", "one.tif", "--out", "new/deep/m.unet",
                 *TRAIN]) == 2
    assert sorted(files.rglob("*")) == before
    tifffile.imwrite(files / "a.tif", tifffile.imread(files / "cells.tif"))
    tifffile.imwrite(files / "a.png", tifffile.imread(files / "labels.tif"))
    before = sorted(files.rglob("*"))
    assert main(["predict", "m.unet", "a.tif", "a.png", "--out", "new/deep", "--quiet"]) == 2
    assert "would both write" in capsys.readouterr().err
    assert sorted(files.rglob("*")) == before


def test_an_existing_folder_as_the_model_file_is_refused_before_training(files, capsys,
                                                                         monkeypatch):
    from napari_unet.core.training import train

    (files / "models").mkdir()

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the model could not be saved")

    monkeypatch.setattr(train.Trainer, "steps", no_training)
    capsys.readouterr()
    assert main(["train", "cells.tif", "--labels", "labels.tif", "--out", "models", *TRAIN]) == 2
    assert "is a folder" in _one_line(capsys)
