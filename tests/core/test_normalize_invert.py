"""``NormConfig.invert``: dark objects on a bright background reach the network bright, by
the same normalisation in every route, and the setting survives the model file."""

import numpy as np

from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import Bundle, load_bundle, save_bundle
from napari_unet.core.networks.model import UNet
from napari_unet.core.normalize import fit_normalization, normalize


def _image():
    rng = np.random.default_rng(0)
    return rng.uniform(10, 200, size=(1, 32, 40)).astype(np.float32)


def test_inverted_normalisation_is_one_minus_the_plain_one():
    image = _image()
    plain = normalize(image, NormConfig())
    inverted = normalize(image, NormConfig(invert=True))
    np.testing.assert_allclose(inverted, 1.0 - plain, atol=1e-5)


def test_inverted_fixed_normalisation_uses_the_training_values_inverted():
    image = _image()
    norm = fit_normalization([image], NormConfig(mode="fixed", invert=True))
    assert norm.invert
    plain = normalize(image, NormConfig(mode="fixed", low=norm.low, high=norm.high))
    np.testing.assert_allclose(normalize(image, norm), 1.0 - plain, atol=1e-5)


def test_a_constant_image_still_maps_to_zero_when_inverted():
    image = np.full((1, 8, 8), 7.0, np.float32)
    assert not normalize(image, NormConfig(invert=True)).any()


def test_invert_survives_the_model_file_and_older_files_are_not_inverted(tmp_path):
    cfg = ModelConfig(depth=1, base_width=2)
    bundle = Bundle(model_config=cfg, norm=NormConfig(invert=True),
                    state_dict=UNet(cfg).state_dict(), class_names=["a", "b"])
    assert load_bundle(save_bundle(bundle, tmp_path / "m.unet")).norm.invert
    assert NormConfig.from_dict({"mode": "per_image"}).invert is False
