"""Test-time augmentation (PredictConfig.views = 8): the 8 symmetries averaged."""

import numpy as np
import pytest

from napari_unet.core.config import ConfigError, PredictConfig
from napari_unet.core.inference.predict import predict_image


def _both(image, bundle, views, turn):
    config = PredictConfig(amp=False, views=views, tile_size=512)
    plain = predict_image(image, bundle, config).probabilities
    turned = predict_image(np.ascontiguousarray(turn(image)), bundle, config).probabilities
    return plain, turned


@pytest.mark.parametrize("turn", [lambda a: a[..., ::-1], lambda a: np.rot90(a, 1, axes=(-2, -1))],
                         ids=["mirrored", "rotated"])
def test_with_eight_views_a_turned_image_gives_the_turned_prediction(random_bundle, turn):
    bundle = random_bundle(depth=2, n_classes=3)
    image = np.random.default_rng(0).random((1, 48, 64)).astype(np.float32)
    plain, turned = _both(image, bundle, 8, turn)
    assert turned.shape == turn(plain).shape and plain.shape == (3, 48, 64)
    np.testing.assert_allclose(turned, turn(plain), atol=1e-5)
    np.testing.assert_allclose(plain.sum(0), 1, atol=1e-5)
    one, one_turned = _both(image, bundle, 1, turn)  # one view: the network is not symmetric
    assert np.abs(one_turned - turn(one)).max() > 1e-3
    assert np.abs(plain - one).max() > 1e-3  # and eight views differ from one


def test_eight_views_tile_by_tile_equal_eight_views_of_the_whole_image(random_bundle):
    bundle = random_bundle(depth=2)
    image = np.random.default_rng(1).random((1, 83, 101)).astype(np.float32)
    whole = predict_image(image, bundle, PredictConfig(amp=False, views=8, tile_size=512))
    tiled = predict_image(image, bundle, PredictConfig(amp=False, views=8, tile_size=24))
    np.testing.assert_allclose(tiled.probabilities, whole.probabilities, atol=2e-5)


def test_a_3d_model_averages_views_in_the_plane():
    import torch

    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.inference.predict3d import predict_volume
    from napari_unet.core.networks.build import build_network

    config3d = ModelConfig(spatial_dims=3, depth=2, base_width=2, anisotropy=2, n_classes=3)
    torch.manual_seed(1)
    bundle = Bundle(config3d, NormConfig(mode="fixed", low=[0.0], high=[1.0]),
                    build_network(config3d).state_dict())
    volume = np.random.default_rng(0).random((1, 6, 20, 20)).astype(np.float32)
    config = PredictConfig(amp=False, views=8)
    plain = predict_volume(volume, bundle, config).probabilities
    turned = predict_volume(np.ascontiguousarray(volume[..., ::-1]), bundle, config).probabilities
    np.testing.assert_allclose(turned, plain[..., ::-1], atol=1e-5)
    one = predict_volume(volume, bundle, PredictConfig(amp=False)).probabilities
    assert np.abs(one - plain).max() > 1e-3


@pytest.mark.parametrize("views", [0, 2, 4, 9])
def test_views_other_than_one_or_eight_are_refused(views):
    with pytest.raises(ConfigError, match="views"):
        PredictConfig(views=views)
