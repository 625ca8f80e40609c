"""The command line is a contract: these run it end to end in a temporary folder."""

import numpy as np
import pytest
import tifffile
from skimage.io import imsave

from napari_unet.cli import main


@pytest.fixture()
def files(tmp_path, nuclei_case):
    image, truth, painted = nuclei_case
    img8 = (np.clip(image[0], 0, 1) * 255).astype(np.uint8)
    imsave(tmp_path / "cells.png", img8, check_contrast=False)
    tifffile.imwrite(tmp_path / "cells_labels.tif", painted)
    tifffile.imwrite(tmp_path / "other.tif", img8[:64, :80])
    return tmp_path


def test_train_then_predict_end_to_end(files, capsys):
    rc = main(["train", str(files / "cells.png"), "--labels", str(files / "cells_labels.tif"),
               "--out", str(files / "m.unet"), "--steps", "4", "--batch-size", "2",
               "--patch-size", "32", "--depth", "2", "--width", "4", "--quiet"])
    assert rc == 0 and (files / "m.unet").is_file()
    rc = main(["predict", str(files / "m.unet"), str(files / "cells.png"), str(files / "other.tif"),
               "--out", str(files / "out"), "--probabilities", "--quiet"])
    assert rc == 0
    labels = tifffile.imread(files / "out" / "cells_labels.tif")
    probs = tifffile.imread(files / "out" / "cells_probabilities.tif")
    assert labels.shape == (128, 128) and set(np.unique(labels)) <= {1, 2}
    assert probs.shape == (2, 128, 128)
    assert tifffile.imread(files / "out" / "other_labels.tif").shape == (64, 80)


def test_instance_mode_writes_one_id_per_object(files, nuclei_case):
    _, truth, _ = nuclei_case
    tifffile.imwrite(files / "objects.tif", truth.astype(np.uint16))
    assert main(["train", str(files / "cells.png"), "--labels", str(files / "objects.tif"),
                 "--out", str(files / "inst.unet"), "--steps", "3", "--batch-size", "2",
                 "--patch-size", "32", "--depth", "2", "--width", "4", "--mode", "instance",
                 "--quiet"]) == 0
    assert main(["predict", str(files / "inst.unet"), str(files / "cells.png"),
                 "--out", str(files / "out"), "--quiet"]) == 0
    labels = tifffile.imread(files / "out" / "cells_labels.tif")
    assert labels.dtype == np.uint32 and labels.shape == (128, 128)


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "missing.png", "--labels", "cells_labels.tif", "--out", "m.unet"], "no such file"),
        (["train", "cells.png", "--labels", "other.tif", "--out", "m.unet"], "do not match"),
        (["train", "cells.png", "--labels", "zeros.tif", "--out", "m.unet"], "nothing is painted"),
        (["train", "cells.png", "--labels", "a.tif", "b.tif", "--out", "m.unet"], "one labels file per image"),
        (["predict", "cells.png", "cells.png", "--out", "out"], "not a napari-unet model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)
    tifffile.imwrite(files / "zeros.tif", np.zeros((128, 128), np.uint8))
    assert main(argv) == 2
    assert message in _error_line(capsys)
    assert not (files / "m.unet").exists()


def test_console_script_is_installed():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("napari-unet") == "napari_unet.cli:main"


def test_views_8_predicts_a_mirrored_image_as_the_mirrored_prediction(files):
    """--views 8 averages the 8 symmetries (the prediction turns with the image; one view
    does not); --views takes only 1 or 8."""
    image = tifffile.imread(files / "other.tif")
    tifffile.imwrite(files / "mirrored.tif", np.ascontiguousarray(image[:, ::-1]))
    for views in ("1", "8"):
        assert main(["predict", "nuclei", str(files / "other.tif"), str(files / "mirrored.tif"),
                     "--out", str(files / views), "--probabilities", "--diameter", "0",
                     "--views", views, "--quiet"]) == 0
    p = {v: [tifffile.imread(files / v / f"{n}_probabilities.tif") for n in ("other", "mirrored")]
         for v in ("1", "8")}
    assert p["8"][0].shape == (3, 64, 80)
    np.testing.assert_allclose(p["8"][1], p["8"][0][..., ::-1], atol=1e-5)
    assert np.abs(p["1"][1] - p["1"][0][..., ::-1]).max() > 1e-3
    with pytest.raises(SystemExit):
        main(["predict", "nuclei", str(files / "other.tif"), "--out", str(files / "4"),
              "--views", "4"])
