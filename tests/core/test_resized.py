"""The lazy resized view (the zarr route of an object size).

Invariant: any window of :class:`Resized` equals the same pixels of the whole image resized
(:func:`object_size.resize_planes` / :func:`object_size.back`), shrinking and growing,
linear and nearest, strided or not, and reads only the source under the window.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.inference import object_size
from napari_unet.core.inference.resized import Resized

WINDOWS = [(slice(None),) * 3, (slice(None), slice(10, 50), slice(3, 90)),
           (slice(1, 2), slice(None, None, 7), slice(None, None, 5))]


@pytest.mark.parametrize("f", [0.3, 0.5, 1.7, 2.25])
@pytest.mark.parametrize("window", WINDOWS, ids=["whole", "window", "strided"])
def test_a_window_equals_the_whole_image_resized(f, window):
    image = np.random.default_rng(0).random((2, 131, 117)).astype(np.float32)
    whole = object_size.resize_planes(image, f)
    view = Resized(image, whole.shape[-2:], anti_aliasing=f < 1)
    assert view.shape == whole.shape
    np.testing.assert_allclose(view[window], whole[window], atol=1e-5)


@pytest.mark.parametrize("size", [(40, 61), (200, 300)])
def test_labels_resized_by_nearest_keep_their_ids(size):
    ids = np.random.default_rng(1).integers(0, 50, (97, 130)).astype(np.uint32)
    view = Resized(ids, size, order=0)
    assert view.dtype == np.uint32
    np.testing.assert_array_equal(view[:], object_size.back(ids, size, order=0))


class _Counting:
    """An array-like that records the windows read from it."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.reads = array, array.shape, array.dtype, []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.array[key]


def test_a_window_reads_only_the_source_under_it():
    source = _Counting(np.zeros((1, 4000, 4000), np.float32))
    view = Resized(source, (1000, 1000))  # shrunk by 4: a margin of a few sigma
    view[:, 500:532, 600:632]
    (_, ys, xs), = source.reads
    assert ys.stop - ys.start < 200 and xs.stop - xs.start < 200, source.reads
