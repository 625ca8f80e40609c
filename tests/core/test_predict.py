import numpy as np
import pytest
import torch

from napari_unet.core.files.bundle import Bundle
from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig
from napari_unet.core.images import ImageError
from napari_unet.core.networks.model import UNet
from napari_unet.core.normalize import fit_normalization
from napari_unet.core.inference.predict import plan_tiles, predict_image, predict_planes
from napari_unet.core.progress import drain


def _random_bundle(seed=0, **model):
    torch.manual_seed(seed)
    cfg = ModelConfig(base_width=4, **model)
    net = UNet(cfg)
    # give batch norm non-trivial statistics so eval mode is not the identity
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return Bundle(cfg, NormConfig(), {k: v.clone() for k, v in net.state_dict().items()})


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("upsampling", ["transpose", "nearest"])
def test_tiled_prediction_equals_whole_image_prediction(padding, upsampling):
    bundle = _random_bundle(depth=2, padding=padding, upsampling=upsampling)
    image = np.random.default_rng(0).random((1, 83, 101)).astype(np.float32)
    whole = predict_image(image, bundle, PredictConfig(tile_size=512, amp=False))
    model = bundle.build_model()
    assert len(plan_tiles(model, 83, 101, PredictConfig(tile_size=512)).origins()) == 1
    tiled = predict_image(image, bundle, PredictConfig(tile_size=24, batch_size=3, amp=False))
    assert len(plan_tiles(model, 83, 101, PredictConfig(tile_size=24)).origins()) > 9
    np.testing.assert_allclose(tiled.probabilities, whole.probabilities, atol=2e-5)
    assert (tiled.labels != whole.labels).mean() < 1e-3  # ties may flip
    assert tiled.probabilities.shape == (2, 83, 101)
    np.testing.assert_allclose(tiled.probabilities.sum(0), 1, atol=1e-5)


def test_mixed_precision_prediction_stays_close_to_full_precision():
    bundle = _random_bundle(depth=2)
    image = np.random.default_rng(5).random((1, 64, 64)).astype(np.float32)
    full = predict_image(image, bundle, PredictConfig(amp=False)).probabilities
    mixed = predict_image(image, bundle, PredictConfig(amp=True)).probabilities
    assert np.abs(full - mixed).mean() < 0.01


def test_image_smaller_than_the_receptive_field_is_mirrored_not_refused():
    bundle = _random_bundle(depth=3, padding="valid")
    image = np.random.default_rng(1).random((1, 5, 7)).astype(np.float32)
    pred = predict_image(image, bundle)
    assert pred.labels.shape == (5, 7) and set(np.unique(pred.labels)) <= {1, 2}


def test_labels_use_the_painted_values():
    bundle = _random_bundle(depth=1, n_classes=3)
    pred = predict_image(np.random.default_rng(2).random((1, 16, 16)).astype(np.float32), bundle)
    np.testing.assert_array_equal(pred.labels, pred.probabilities.argmax(0) + 1)


def test_wrong_channel_count_is_a_clear_error():
    bundle = _random_bundle(depth=1, in_channels=3)
    with pytest.raises(ImageError, match="3-channel"):
        predict_image(np.zeros((1, 16, 16), np.float32), bundle)


def test_fixed_normalisation_uses_training_values():
    rng = np.random.default_rng(3)
    norm = fit_normalization([rng.random((2, 20, 20)) * 100], NormConfig(mode="fixed"))
    assert len(norm.low) == 2 and norm.high[0] > 90


def test_planes_are_predicted_one_by_one():
    bundle = _random_bundle(depth=1)
    stack = np.random.default_rng(4).random((3, 1, 16, 20)).astype(np.float32)
    pred = drain(predict_planes(stack, bundle, probabilities=True))
    assert pred.labels.shape == (3, 16, 20) and pred.probabilities.shape == (3, 2, 16, 20)
    single = predict_image(stack[1], bundle)
    np.testing.assert_array_equal(pred.labels[1], single.labels)
