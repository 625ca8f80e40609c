"""``napari-unet train --3d`` and ``predict`` with a 3-D model, end to end on TIFF stacks."""

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main


@pytest.fixture()
def stack(tmp_path):
    rng = np.random.default_rng(0)
    z, y, x = np.indices((8, 32, 32))
    truth = (z - 4) ** 2 * 4 + (y - 16) ** 2 + (x - 14) ** 2 < 64  # anisotropic ellipsoid
    image = (truth * 150 + rng.normal(40, 20, truth.shape)).clip(0, 255).astype(np.uint8)
    painted = np.zeros(truth.shape, np.uint8)
    pick = rng.random(truth.shape) < 0.1
    painted[pick] = truth[pick] + 1
    tifffile.imwrite(tmp_path / "vol.tif", image)
    tifffile.imwrite(tmp_path / "vol_paint.tif", painted)
    tifffile.imwrite(tmp_path / "plane.tif", image[4])
    return tmp_path


TRAIN = ["--steps", "2", "--batch-size", "1", "--patch-size", "16", "--depth", "2",
         "--width", "2", "--quiet"]


def test_train_3d_then_predict_volumes(stack):
    assert main(["train", str(stack / "vol.tif"), "--labels", str(stack / "vol_paint.tif"),
                 "--out", str(stack / "m3.unet"), "--3d", "--anisotropy", "2", *TRAIN]) == 0
    from napari_unet.core.files.bundle import load_bundle

    cfg = load_bundle(stack / "m3.unet").model_config
    assert (cfg.spatial_dims, cfg.anisotropy) == (3, 2)
    assert main(["predict", str(stack / "m3.unet"), str(stack / "vol.tif"),
                 "--out", str(stack / "out"), "--probabilities", "--quiet"]) == 0
    labels = tifffile.imread(stack / "out" / "vol_labels.tif")
    assert labels.shape == (8, 32, 32) and set(np.unique(labels)) <= {1, 2}
    assert tifffile.imread(stack / "out" / "vol_probabilities.tif").shape == (2, 8, 32, 32)


def test_2d_3d_mix_ups_are_one_line_errors(stack, capsys):
    assert main(["train", str(stack / "vol.tif"), "--labels", str(stack / "vol_paint.tif"),
                 "--out", str(stack / "m3.unet"), "--3d", *TRAIN]) == 0
    rc = main(["predict", str(stack / "m3.unet"), str(stack / "plane.tif"),
               "--out", str(stack / "o"), "--quiet"])
    assert rc == 2 and "2-D image" in capsys.readouterr().err
    assert main(["train", str(stack / "vol.tif"), "--labels", str(stack / "vol_paint.tif"),
                 "--out", str(stack / "x.unet"), "--anisotropy", "2", *TRAIN]) == 2
    assert "--3d" in capsys.readouterr().err
    assert main(["train", str(stack / "vol.tif"), "--labels", str(stack / "vol_paint.tif"),
                 "--out", str(stack / "x.unet"), "--3d", "--padding", "valid", *TRAIN]) == 2
    assert "same" in capsys.readouterr().err
    assert main(["train", str(stack / "vol.tif"), "--labels", str(stack / "vol_paint.tif"),
                 "--out", str(stack / "x.unet"), "--3d", "--mode", "instance", *TRAIN]) == 2
    assert "semantic" in capsys.readouterr().err
    # a 2-D model given a volume predicts it plane by plane (issue 22)
    tifffile.imwrite(stack / "p.tif", tifffile.imread(stack / "vol_paint.tif")[4])
    assert main(["train", str(stack / "plane.tif"), "--labels", str(stack / "p.tif"),
                 "--out", str(stack / "m2.unet"), *TRAIN]) == 0
    assert main(["predict", str(stack / "m2.unet"), str(stack / "vol.tif"),
                 "--out", str(stack / "o2"), "--quiet"]) == 0
    assert tifffile.imread(stack / "o2" / "vol_labels.tif").shape == (8, 32, 32)
    assert not (stack / "x.unet").exists()


def test_a_3d_model_is_not_exported(stack, capsys):
    assert main(["train", str(stack / "vol.tif"), "--labels", str(stack / "vol_paint.tif"),
                 "--out", str(stack / "m3.unet"), "--3d", *TRAIN]) == 0
    assert main(["export", str(stack / "m3.unet"), "--format", "onnx",
                 "--out", str(stack / "m.onnx"), "--quiet"]) == 2
    assert "3-D model" in capsys.readouterr().err and not (stack / "m.onnx").exists()
