"""The from-scratch recipe chosen on the few-shot benchmark (issue 13) is what the command
line and the Train dock use: both take TrainConfig's defaults for it."""

import numpy as np
import tifffile
from skimage.io import imsave

from napari_unet.cli import main
from napari_unet.core.config import TrainConfig
from napari_unet.core.files.bundle import load_bundle

RECIPE = ("self_supervised", "noise", "gamma", "blur", "zoom", "painted_fraction",
          "class_balance", "elastic", "elastic_grid", "elastic_sigma", "patch_size",
          "batch_size", "learning_rate")


def test_the_recipe_is_on_by_default():
    assert TrainConfig().self_supervised > 0  # learning the image: it ended the collapses


def test_the_command_line_trains_with_the_recipe(tmp_path, nuclei_case):
    image, _, painted = nuclei_case
    imsave(tmp_path / "cells.png", (np.clip(image[0], 0, 1) * 255).astype(np.uint8),
           check_contrast=False)
    tifffile.imwrite(tmp_path / "cells_labels.tif", painted)
    assert main(["train", str(tmp_path / "cells.png"), "--labels",
                 str(tmp_path / "cells_labels.tif"), "--out", str(tmp_path / "m.unet"),
                 "--steps", "2", "--init", "none", "--quiet"]) == 0
    used = load_bundle(tmp_path / "m.unet").train_config
    default = TrainConfig().to_dict()
    assert {k: used[k] for k in RECIPE} == {k: default[k] for k in RECIPE}
    assert not {"device", "threads", "amp"} & set(used)  # how it ran: not the model's


def test_the_train_dock_trains_with_the_recipe(qtbot):
    from napari_unet._widgets.train.train_settings import TrainSettings

    settings = TrainSettings()
    used, default = settings.train_config().to_dict(), TrainConfig().to_dict()
    assert {k: used[k] for k in RECIPE} == {k: default[k] for k in RECIPE}
