"""Pixel values near the limits of their type are normalised in a type that cannot overflow,
and only an image whose values are all equal is constant (issue 15, item 5): prediction does
not depend on the image's scale, from 1e-13 to 1e300, and no warning is given."""

import warnings

import numpy as np
import pytest

from napari_unet.core.config import ModelConfig, PredictConfig, TrainConfig
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.progress import drain
from napari_unet.core.training.train import Trainer

TINY = ModelConfig(depth=2, base_width=4)
CPU = PredictConfig(device="cpu", threads=1)


@pytest.fixture(scope="module")
def trained(nuclei_case):
    image, _, painted = nuclei_case
    config = TrainConfig(steps=3, seconds=None, batch_size=2, patch_size=32, device="cpu")
    return drain(Trainer([image], [painted], model=TINY, config=config).steps())


@pytest.mark.parametrize("scale, dtype", [(1e-13, np.float64), (1e-13, np.float32),
                                          (1e300, np.float64)])
def test_prediction_does_not_depend_on_the_scale_of_the_pixels(nuclei_case, trained, scale, dtype):
    image = nuclei_case[0].astype(np.float64)
    reference = predict_image(image.astype(np.float32), trained, CPU).probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings on the way
        got = predict_image((image * scale).astype(dtype), trained, CPU).probabilities
    np.testing.assert_allclose(got, reference, atol=1e-4)


def test_images_of_tiny_or_huge_values_train(nuclei_case):
    image, _, painted = nuclei_case
    config = TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32, device="cpu")
    for scaled in (image.astype(np.float64) * 1e300, image.astype(np.float64) * 1e-13):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            bundle = drain(Trainer([scaled], [painted], model=TINY, config=config).steps())
        assert bundle.norm.high[0] > bundle.norm.low[0]


@pytest.mark.parametrize("make", [
    lambda: TrainConfig(seconds=float("nan"), steps=None),
    lambda: TrainConfig(steps=10, seconds=float("inf")),
    lambda: TrainConfig(steps=10, zoom=float("nan")),
    lambda: PredictConfig(device="cpu", context=float("nan")),
])
def test_nan_or_infinite_settings_are_refused_in_the_api(make):
    """Issue 15, item 6: NaN passes every comparison, so --seconds nan trained 0 steps."""
    from napari_unet.core.config import ConfigError

    with pytest.raises(ConfigError, match="must be a finite number"):
        make()
