"""Multichannel images on the command line: the user says which axis holds the channels;
training and prediction agree, and a mismatch is a clear one-line error."""

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

TRAIN = ["--steps", "2", "--batch-size", "2", "--patch-size", "32", "--depth", "2", "--width", "4",
         "--quiet"]


@pytest.fixture()
def files(tmp_path, nuclei_case, monkeypatch):
    image, _, painted = nuclei_case
    two = np.stack([image[0], 1 - image[0]]).astype(np.float32)  # (2, H, W)
    tifffile.imwrite(tmp_path / "two.tif", two)
    tifffile.imwrite(tmp_path / "two_last.tif", np.moveaxis(two, 0, -1))  # (H, W, 2)
    tifffile.imwrite(tmp_path / "one.tif", image[0].astype(np.float32))
    tifffile.imwrite(tmp_path / "labels.tif", painted.astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _err(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    return lines[0]


def test_the_channel_axis_is_said_once_and_prediction_agrees(files, capsys):
    assert main(["train", "two.tif", "--labels", "labels.tif", "--out", "m.unet", *TRAIN]) == 2
    assert "--channel-axis" in _err(capsys)
    assert main(["train", "two.tif", "--labels", "labels.tif", "--out", "m.unet",
                 "--channel-axis", "0", *TRAIN]) == 0
    assert main(["predict", "m.unet", "two.tif", "--out", "a", "--channel-axis", "0",
                 "--quiet", "--probabilities"]) == 0
    assert main(["predict", "m.unet", "two_last.tif", "--out", "b", "--channel-axis", "-1",
                 "--quiet", "--probabilities"]) == 0
    a = tifffile.imread(files / "a" / "two_probabilities.tif")
    b = tifffile.imread(files / "b" / "two_last_probabilities.tif")
    np.testing.assert_allclose(a, b, atol=1e-6)  # the same image, channels on another axis


def test_a_channel_mismatch_or_a_missing_axis_is_one_line(files, capsys):
    assert main(["train", "two.tif", "--labels", "labels.tif", "--out", "m.unet",
                 "--channel-axis", "0", *TRAIN]) == 0
    capsys.readouterr()
    assert main(["predict", "m.unet", "one.tif", "--out", "c", "--quiet"]) == 2
    assert "2-channel images; this image has 1 channel" in _err(capsys)
    assert main(["train", "two.tif", "--labels", "labels.tif", "--out", "n.unet",
                 "--channel-axis", "5", *TRAIN]) == 2
    assert "channel axis 5 does not exist" in _err(capsys)
