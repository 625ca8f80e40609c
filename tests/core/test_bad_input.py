"""Bad input to the core: a clear ImageError, and the arrays given are left as they were.

Each case here is a row of docs/reliability.md (the core's side; the command line and the
widgets have their own tests that the same message reaches the user).
"""

import numpy as np
import pytest

from napari_unet.core.config import ModelConfig, TrainConfig
from napari_unet.core.images import ImageError, to_chw
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.progress import drain
from napari_unet.core.training.train import Trainer

TINY = ModelConfig(depth=2, base_width=4)
FAST = TrainConfig(steps=3, seconds=None, batch_size=2, patch_size=32)


@pytest.fixture(scope="module")
def bundle(nuclei_case):
    image, _, painted = nuclei_case
    return drain(Trainer([image], [painted], model=TINY, config=FAST).steps())


def _train(image, labels, **config):
    cfg = FAST.replace(**config)
    return drain(Trainer([image], [labels], model=TINY, config=cfg).steps())


def _refused(fn, *arrays, match):
    before = [np.array(a, copy=True) for a in arrays]
    with pytest.raises(ImageError, match=match):
        fn()
    for a, b in zip(arrays, before):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_pixels_are_refused_in_training_and_prediction(nuclei_case, bundle, bad):
    image, truth, painted = nuclei_case
    spoilt = np.where(truth[None] == 1, bad, image).astype(np.float32)
    _refused(lambda: _train(spoilt, painted), spoilt, painted, match="NaN or infinite")
    _refused(lambda: predict_image(spoilt, bundle), spoilt, match="NaN or infinite.*predicting")


def test_a_constant_image_trains_and_predicts_without_nan(nuclei_case, bundle):
    _, _, painted = nuclei_case
    flat = np.full((1,) + painted.shape, 7.0, np.float32)
    trained = _train(flat, painted)
    out = predict_image(flat, trained)
    assert np.isfinite(out.probabilities).all() and len(np.unique(out.labels)) == 1
    assert np.isfinite(predict_image(flat, bundle).probabilities).all()


def test_an_image_smaller_than_the_field_of_view_trains_and_predicts(nuclei_case):
    image, _, painted = nuclei_case
    small, labels = image[:, :20, :20].copy(), painted[:20, :20].copy()
    labels[2, 2], labels[10, 10] = 1, 2
    trained = _train(small, labels)
    assert predict_image(small, trained).labels.shape == (20, 20)


def test_class_labels_beyond_the_class_limit_are_object_ids_and_refused(nuclei_case):
    image, truth, painted = nuclei_case
    ids = painted.astype(np.int64)
    ids[ids == 2] = 70_000  # beyond uint16
    _refused(lambda: _train(image, ids), ids, match="label 70000.*whole-objects")


def test_object_ids_of_any_size_train_in_instance_mode(nuclei_case):
    image, truth, _ = nuclei_case
    ids = truth.astype(np.uint64) * np.uint64(2**40)
    bundle = _train(image, ids, mode="instance")
    assert bundle.mode == "instance"


@pytest.mark.parametrize("labels, match", [
    (lambda p: p + 0.5, "whole numbers"),
    (lambda p: p.astype(np.float32) * np.nan, "whole numbers"),
    (lambda p: p.astype(np.int64) - 3, "negative"),
    (lambda p: p.astype(str), "integers"),
])
def test_labels_that_are_not_labels_are_refused(nuclei_case, labels, match):
    image, _, painted = nuclei_case
    bad = labels(painted)
    with pytest.raises(ImageError, match=match):
        _train(image, bad)


def test_float_labels_holding_whole_numbers_are_accepted(nuclei_case):
    image, _, painted = nuclei_case
    assert _train(image, painted.astype(np.float32)).info["steps"] == 3


@pytest.mark.parametrize("image, match", [
    (np.zeros((1, 0, 0), np.float32), "empty"),
    (np.zeros((1, 64, 64), np.complex64), "complex64 pixels"),
    (np.zeros((64, 64), np.float32), r"\(C, H, W\)"),
])
def test_empty_complex_or_shapeless_images_are_refused(bundle, image, match):
    with pytest.raises(ImageError, match=match):
        predict_image(image, bundle)
    with pytest.raises(ImageError, match=match):
        Trainer([image], [np.zeros(image.shape[-2:], int)], config=FAST)


def test_rgba_images_lose_only_the_alpha_channel(nuclei_case):
    image, _, painted = nuclei_case
    rgba = np.stack([image[0], image[0] * 0.5, image[0] * 0.2, np.ones_like(image[0])], axis=-1)
    chw = to_chw(rgba)
    assert chw.shape == (3,) + painted.shape
    bundle = _train(chw, painted)
    assert bundle.model_config.in_channels == 3
    assert predict_image(to_chw(rgba), bundle).labels.shape == painted.shape
