"""Annotations are sacred: whatever their shape and dtype, training, prediction, post-
processing and export leave every array they are given bit-for-bit unchanged.

Property-based (hypothesis): random image sizes, channel counts and pixel dtypes, random
strokes in random label dtypes, both training modes. The arrays are also handed over
read-only, so an in-place write anywhere in the core would raise instead of passing unseen.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_unet.core.config import ModelConfig, PredictConfig, TrainConfig
from napari_unet.core.inference.postprocess import to_instances
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.progress import drain
from napari_unet.core.training.train import Trainer

TINY = ModelConfig(depth=2, base_width=4)
IMAGE_DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64]
LABEL_DTYPES = [np.uint8, np.uint16, np.uint32, np.int32, np.int64, np.float32]


@st.composite
def painted_images(draw):
    h, w = draw(st.integers(12, 72)), draw(st.integers(12, 72))
    c = draw(st.sampled_from([1, 2, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(st.sampled_from(IMAGE_DTYPES))
    scale = 200 if np.issubdtype(dtype, np.integer) else 1.0
    image = (rng.random((c, h, w)) * scale).astype(dtype)
    labels = np.zeros((h, w), draw(st.sampled_from(LABEL_DTYPES)))
    mode = draw(st.sampled_from(["semantic", "instance"]))
    n = draw(st.integers(2, 4))
    for k in range(n):  # rectangles: classes 1..n (semantic) or object ids (instance)
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        dy, dx = rng.integers(2, max(3, h // 3)), rng.integers(2, max(3, w // 3))
        value = k + 1 if mode == "semantic" else rng.integers(1, 60_000)
        labels[y : y + dy, x : x + dx] = value
    if mode == "semantic":
        labels[0, 0], labels[-1, -1] = 1, 2  # at least two classes
    return image, labels, mode


def _frozen(a):
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=painted_images())
def test_training_prediction_and_postprocessing_never_modify_their_inputs(case):
    image, labels, mode = case
    image_in, labels_in = _frozen(image), _frozen(labels)
    config = TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=16, mode=mode)
    bundle = drain(Trainer([image_in], [labels_in], model=TINY, config=config).steps())
    out = predict_image(image_in, bundle, PredictConfig(tile_size=32))
    probs = _frozen(out.probabilities)
    to_instances(probs, bundle.mode, bundle.postprocess)
    for given_, original in ((image_in, image), (labels_in, labels), (probs, out.probabilities)):
        assert given_.dtype == original.dtype and np.array_equal(given_, original)


def test_read_only_inputs_would_catch_an_in_place_write():
    """The guard above is real: writing into a frozen array raises."""
    frozen = _frozen(np.zeros((4, 4), np.uint8))
    try:
        frozen[0, 0] = 1
    except ValueError:
        return
    raise AssertionError("a read-only array accepted a write")
