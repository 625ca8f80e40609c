"""Starters on the command line: listed with their cards, usable by name wherever a model file
is, and chosen by ``train --init auto`` (the default)."""

import numpy as np
import pytest
import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core.files.bundle import load_bundle
from napari_unet.core.files.starters import starter_names

FAST = ["--steps", "3", "--batch-size", "2", "--patch-size", "32"]


@pytest.fixture()
def files(tmp_path, nuclei_case):
    image, truth, painted = nuclei_case
    img8 = (np.clip(image[0], 0, 1) * 255).astype(np.uint8)
    imsave(tmp_path / "nuclei.png", img8, check_contrast=False)
    tifffile.imwrite(tmp_path / "painted.tif", painted)
    return tmp_path


def test_starters_lists_every_starter_with_its_card(capsys):
    assert main(["starters"]) == 0
    out = capsys.readouterr().out
    for name in starter_names():
        assert f"{name}: " in out
    assert "Licence" in out and "Not for" in out


def test_a_starter_predicts_objects_with_no_painting(files, nuclei_case):
    _, truth, _ = nuclei_case
    assert main(["predict", "nuclei", str(files / "nuclei.png"), "--out", str(files / "out"),
                 "--quiet"]) == 0
    objects = tifffile.imread(files / "out" / "nuclei_labels.tif")
    assert objects.shape == truth.shape
    assert len(np.unique(objects)) - 1 >= truth.max() // 2  # objects, not classes


def test_train_by_default_fine_tunes_the_best_starter_and_says_so(files, capsys):
    out = files / "m.unet"
    assert main(["train", str(files / "nuclei.png"), "--labels", str(files / "painted.tif"),
                 "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "starting from the nuclei starter" in err and "IoU" in err
    bundle = load_bundle(out)
    assert bundle.info["started_from"] == "starter nuclei" and bundle.mode == "instance"


def test_init_none_trains_from_scratch_as_before(files, capsys):
    out = files / "m.unet"
    assert main(["train", str(files / "nuclei.png"), "--labels", str(files / "painted.tif"),
                 "--out", str(out), "--init", "none", *FAST]) == 0
    bundle = load_bundle(out)
    assert "started_from" not in bundle.info and bundle.mode == "semantic"
    assert (bundle.model_config.depth, bundle.model_config.base_width) == (3, 16)
    assert "starter" not in capsys.readouterr().err


def test_an_unknown_init_is_one_line_and_status_2(files, capsys):
    rc = main(["train", str(files / "nuclei.png"), "--labels", str(files / "painted.tif"),
               "--out", str(files / "m.unet"), "--init", "nucleii", *FAST])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "starters: " in err[0]
    assert not (files / "m.unet").exists()
