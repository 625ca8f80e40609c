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


def _flat(settings: dict) -> dict:
    """A config's settings by name (their groups' dicts merged)."""
    return {k: v for group in settings.values() for k, v in group.items()}


def test_the_recipe_is_on_by_default():
    assert TrainConfig().regularisers.self_supervised > 0  # learning the image: it ended the collapses


def test_the_command_line_trains_with_the_recipe(tmp_path, nuclei_case):
    image, _, painted = nuclei_case
    imsave(tmp_path / "cells.png", (np.clip(image[0], 0, 1) * 255).astype(np.uint8),
           check_contrast=False)
    tifffile.imwrite(tmp_path / "cells_labels.tif", painted)
    assert main(["train", str(tmp_path / "cells.png"), "--labels",
                 str(tmp_path / "cells_labels.tif"), "--out", str(tmp_path / "m.unet"),
                 "--steps", "2", "--init", "none", "--quiet"]) == 0
    stored = load_bundle(tmp_path / "m.unet").train_config
    used, default = _flat(stored), _flat(TrainConfig().to_dict())
    assert {k: used[k] for k in RECIPE} == {k: default[k] for k in RECIPE}
    assert "runtime" not in stored and not {"device", "threads", "amp"} & set(used)  # how it ran


def test_the_train_dock_trains_with_the_recipe(qtbot):
    from napari_unet._widgets.train.train_settings import TrainSettings

    settings = TrainSettings()
    used, default = _flat(settings.train_config().to_dict()), _flat(TrainConfig().to_dict())
    assert {k: used[k] for k in RECIPE} == {k: default[k] for k in RECIPE}
