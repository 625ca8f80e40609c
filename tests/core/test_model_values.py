"""Model files whose values are wrong only as the network uses them, or too large to use, are
refused on loading; a prediction with NaN probabilities is an error, never labels (issue 15,
items 4 and 9)."""

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.files.bundle import Bundle, BundleError, load_bundle, save_bundle
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.networks.model import UNet

CFG = ModelConfig(depth=2, base_width=4)
CPU = PredictConfig(device="cpu", threads=1)


def _bundle(change) -> Bundle:
    torch.manual_seed(0)
    state = UNet(CFG).state_dict()
    change(state)
    return Bundle(CFG, NormConfig(), state)


def _first(state, suffix):
    return next(k for k in state if k.endswith(suffix))


def _negative_variance(state):
    state[_first(state, "running_var")][0] = -1.0  # one flipped sign bit


def _overflowing_float64(state):
    name = _first(state, "weight")
    state[name] = state[name].double()
    state[name][0] = 1e300  # finite in float64, infinite once the network holds it


@pytest.mark.parametrize("change, message", [
    (_negative_variance, "negative variances"),
    (_overflowing_float64, "infinite values as float32"),
])
def test_values_that_are_wrong_as_used_are_refused_on_loading(tmp_path, change, message):
    path = save_bundle(_bundle(change), tmp_path / "m.unet")
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_a_model_that_predicts_nan_is_an_error_not_background(tmp_path):
    def huge(state):  # finite float32 weights whose products overflow: NaN probabilities
        for name, value in state.items():
            if name.endswith("weight") and value.ndim == 4:
                value.fill_(1e30)

    bundle = load_bundle(save_bundle(_bundle(huge), tmp_path / "m.unet"))  # passes every check
    image = np.random.default_rng(0).random((1, 32, 32)).astype(np.float32)
    with pytest.raises(BundleError, match="predicts NaN"):
        predict_image(image, bundle, CPU)


def test_the_command_line_refuses_such_models_in_one_line(tmp_path, capsys):
    import tifffile

    from napari_unet.cli import main

    save_bundle(_bundle(_negative_variance), tmp_path / "flipped.unet")
    tifffile.imwrite(tmp_path / "a.tif", np.random.default_rng(0).random((32, 32)))
    for argv in (["predict", str(tmp_path / "flipped.unet"), str(tmp_path / "a.tif"), "--out",
                  str(tmp_path / "out")],
                 ["export", str(tmp_path / "flipped.unet"), "--format", "torchscript", "--out",
                  str(tmp_path / "m.pt")]):
        assert main(argv + ["--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "negative variances" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "flipped.unet"]


@pytest.mark.parametrize("change, message", [
    ({"n_classes": 20_000}, "claims 20000 classes"),
    ({"base_width": 300}, "base_width must be between 1 and 256, not 300"),
    ({"in_channels": 300}, "300 channels"),
])
def test_model_dimensions_are_bounded_on_loading(tmp_path, change, message):
    """A consistent file that claims a network too large to predict with (issue 15, item 9)."""
    cfg = ModelConfig(**{**CFG.to_dict(), "depth": 1})
    for name, value in change.items():  # past the config's own bounds: a crafted file
        object.__setattr__(cfg, name, value)
    with torch.device("meta"):
        shapes = UNet(cfg).state_dict()
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in shapes.items()}
    path = save_bundle(Bundle(cfg, NormConfig(), state), tmp_path / "big.unet")
    with pytest.raises(BundleError, match=message):
        load_bundle(path)
