"""The Python API gives clear errors or right results, never silent wrong ones (issue 26,
items 4 and 7): arrays whose channel axis cannot be told are refused in ``segment`` as in
``train``; grayscale zarr arrays segment like numpy; settings of the wrong type or range are
a ``ConfigError`` / ``TypeError`` naming them, not torch's or numpy's errors; torch tensors
are taken as arrays."""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet
from napari_unet.core.config import ConfigError, PredictConfig, TrainConfig
from napari_unet.core.images import ImageError
from napari_unet.synthetic import nuclei, simulate_painting


@pytest.fixture(scope="module")
def starter():
    return napari_unet.load("nuclei")


@pytest.fixture(scope="module")
def case():
    image, truth = nuclei((64, 64), n=4, seed=0)
    return image, simulate_painting(truth, n_objects=2, n_background_strokes=2, seed=0)


@pytest.mark.parametrize("channels", [1, 2])
def test_an_image_with_one_or_two_channels_last_is_refused_in_segment_as_in_train(
        starter, case, channels):
    """(H, W, 1) was segmented as H planes of (W, 1): 0 objects instead of 6, 100x slower."""
    image = np.repeat(case[0][..., None], channels, axis=-1)
    with pytest.raises(ImageError, match=r"holds channels.*channel_axis=-1"):
        starter.segment(image, progress=False)
    with pytest.raises(ImageError, match="holds channels"):
        napari_unet.train(image, case[1], steps=1, init="none", progress=False)
    if channels == 1:  # and said as asked, it is the plain image
        said = starter.segment(image, channel_axis=-1, progress=False).objects
        assert np.array_equal(said, starter.segment(case[0], progress=False).objects)


@pytest.mark.parametrize("shape", [(64, 64), (2, 64, 64)])
def test_grayscale_zarr_arrays_segment_as_numpy_does(starter, shape):
    """zarr refuses ``array[None]``: these failed with zarr's IndexError."""
    zarr = pytest.importorskip("zarr")
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    lazy = zarr.array(image, chunks=(1,) * (len(shape) - 2) + (32, 32))
    got = starter.segment(lazy, progress=False).objects
    assert np.array_equal(got, starter.segment(image, progress=False).objects)


@pytest.mark.parametrize("setting, error, message", [
    ({"device": "banana"}, ConfigError, "unknown device 'banana'"),
    ({"device": "meta"}, ConfigError, "unknown device 'meta'"),
    ({"seed": -1}, ConfigError, "seed must be between 0 and 9223372036854775807"),
    ({"seed": 2**70}, ConfigError, "seed must be between 0 and 9223372036854775807"),
    ({"steps": "5"}, ConfigError, "steps must be a whole number or None, not '5'"),
    ({"channel_axis": 1.5}, TypeError, "channel_axis must be a whole number"),
])
def test_wrong_settings_are_clear_errors_in_train(case, setting, error, message):
    with pytest.raises(error, match=message):
        napari_unet.train(case[0], case[1], init="none", progress=False,
                          **{"steps": 1, **setting})


@pytest.mark.parametrize("setting, error, message", [
    ({"device": "banana"}, ConfigError, "unknown device 'banana'"),
    ({"device": "meta"}, ConfigError, "unknown device 'meta'"),
    ({"channel_axis": 1.5}, TypeError, "channel_axis must be a whole number"),
])
def test_wrong_settings_are_clear_errors_in_segment(starter, case, setting, error, message):
    with pytest.raises(error, match=message):
        starter.segment(case[0], progress=False, **setting)


def test_settings_dataclasses_check_types_and_devices():
    with pytest.raises(ConfigError, match="batch_size must be a whole number, not 2.5"):
        TrainConfig(batch_size=2.5)
    with pytest.raises(ConfigError, match="unknown device 'meta'"):
        PredictConfig(device="meta")
    assert TrainConfig(steps=np.int64(3), seconds=np.float32(2), device="cuda:1").budget.steps == 3


def test_torch_tensors_are_taken_as_arrays(starter, case):
    """segment() gave "Cannot interpret 'torch.float32' as a data type"."""
    import torch

    got = starter.segment(torch.from_numpy(case[0]), progress=False).objects
    assert np.array_equal(got, starter.segment(case[0], progress=False).objects)


def test_strokes_trained_as_objects_are_a_note_and_one_line(capsys):
    """The train dock's painting check runs in the API too: a note and one line on stderr."""
    image, truth = nuclei((96, 96), n=8, seed=1)
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=3, seed=0)
    model = napari_unet.train(image, painted, mode="instance", init="none", steps=1,
                              progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "painted in several separate places" in err[0]
    assert "mode='semantic'" in err[0] and model.notes[0] == err[0]
