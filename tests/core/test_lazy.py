"""Lazy prediction: zarr in, zarr out, tile by tile, never the whole image in memory.

Invariants: the zarr result equals in-memory prediction with the same settings; the numpy
memory added while predicting stays far below one full-size probability map; a multiscale
input is predicted at level 0; percentiles of a huge array read a bounded sample.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")

from napari_unet.core.config import (  # noqa: E402
    NormConfig,
    PostprocessConfig,
    PredictConfig,
)
from napari_unet.core.inference import lazy  # noqa: E402
from napari_unet.core.inference.postprocess import to_instances  # noqa: E402
from napari_unet.core.inference.predict import predict_image  # noqa: E402
from napari_unet.core.inference.segment import segment  # noqa: E402
from napari_unet.core.normalize import percentiles  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402

CONFIG = PredictConfig(amp=False, device="cpu", batch_size=2, threads=1, tile_size=256)
"""256 px tiles: these tests are about reading and writing lazily, not about planning tiles
(a planned tile would hold this small network's 2048 px image in one window)."""


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images hold the same objects (same background, ids in bijection)."""
    if a.shape != b.shape or not np.array_equal(a > 0, b > 0):
        return False
    m = a > 0
    pairs = np.unique(np.stack([a[m], b[m]]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _zarr_image(path, shape, chunk=512, seed=0):
    """A uint8 zarr image written chunk by chunk: smooth blobs plus noise."""
    from scipy import ndimage as ndi

    arr = zarr.create_array(str(path), shape=shape, chunks=(chunk, chunk), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for y in range(0, shape[0], chunk):
        for x in range(0, shape[1], chunk):
            block = ndi.gaussian_filter(rng.random((chunk, chunk)), 6)
            block = (block - block.min()) / (np.ptp(block) + 1e-9) * 200 + rng.random((chunk, chunk)) * 40
            arr[y : y + chunk, x : x + chunk] = block[: shape[0] - y, : shape[1] - x].astype(np.uint8)
    return arr


def test_lazy_prediction_equals_in_memory_prediction_with_bounded_memory(tmp_path, random_bundle):
    # fixed normalisation: the percentile sample (bounded, tested below) is not what is measured
    bundle = random_bundle(seed=5, norm=NormConfig(mode="fixed", low=[0.0], high=[255.0]), depth=2)
    image = _zarr_image(tmp_path / "image.zarr", (2048, 2048))
    gen = segment(image, bundle, CONFIG, out=tmp_path / "out.zarr")
    tracemalloc.start()
    out = drain(gen).store
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full_probabilities = 2 * 2048 * 2048 * 4  # 32 MiB
    assert peak < full_probabilities / 4, f"{peak / 2**20:.1f} MiB of numpy memory at the peak"
    assert isinstance(out.labels, zarr.Array) and out.labels.shape == (2048, 2048)
    assert out.labels.chunks == (256, 256), "chunks are the tiles: every tile writes whole chunks"
    expected = predict_image(np.asarray(image)[None], bundle, CONFIG, probabilities=False).labels
    assert np.array_equal(out.labels[:], expected)
    assert set(np.unique(expected)) == {1, 2}, "a prediction that is not constant"
    assert out.factors == [1, 2], "a pyramid level: the longer side is at most 1024 px"
    assert np.array_equal(out.group["labels_by2"][:], expected[::2, ::2])


def test_lazy_objects_equal_whole_image_objects(tmp_path, monkeypatch, random_bundle):
    monkeypatch.setattr(lazy, "PYRAMID_MIN_SIDE", 100)  # levels 1, 2, 4 on this small image
    bundle = random_bundle(seed=5, norm=NormConfig(mode="fixed", low=[0.0], high=[255.0]), depth=2)
    bundle.postprocess = PostprocessConfig(threshold=0.52)  # where this random net's output varies
    image = _zarr_image(tmp_path / "image.zarr", (300, 280), chunk=128, seed=1)
    config = PredictConfig(amp=False, device="cpu", tile_size=64, threads=1)
    out = drain(segment(image, bundle, config, out=tmp_path / "o.zarr", objects=True)).store
    whole = predict_image(image[:][None], bundle, config)
    objects = to_instances(whole.probabilities, bundle.mode, bundle.postprocess)
    assert len(np.unique(objects)) > 50, "many objects, some cut by the 64 px tiles"
    assert same_partition(out.instances[:], objects)
    for f, level in zip(out.factors, out.levels(out.instances)):
        assert np.array_equal(level[:], out.instances[::f, ::f])
    assert out.factors == [1, 2, 4] and "probability_0_by2" not in out.group
    assert out.probabilities == [] and "probability_0" not in out.group, "deleted when not asked"
    assert "scratch" not in out.group


def test_multiscale_input_is_predicted_at_full_resolution(tmp_path, random_bundle):
    bundle = random_bundle(seed=2, depth=2)
    level0 = np.random.default_rng(3).random((96, 80)).astype(np.float32)
    levels = [zarr.array(level0), level0[::2, ::2].copy()]
    out = drain(segment(levels, bundle, CONFIG, out=tmp_path / "m.zarr", probabilities=True)).store
    expected = predict_image(level0[None], bundle, CONFIG)
    assert out.labels.shape == (96, 80)
    assert np.array_equal(out.labels[:], expected.labels)
    got = np.stack([p[:] for p in out.probabilities])
    np.testing.assert_array_equal(got, expected.probabilities)


def test_a_dask_stack_is_predicted_plane_by_plane(tmp_path, random_bundle):
    da = pytest.importorskip("dask.array")
    bundle = random_bundle(seed=3, depth=2)
    stack = np.random.default_rng(4).random((2, 1, 64, 72)).astype(np.float32)
    out = drain(segment(da.from_array(stack, chunks=(1, 1, 32, 32)), bundle, CONFIG,
                        out=tmp_path / "s.zarr")).store
    assert out.labels.shape == (2, 64, 72)
    for z in range(2):
        assert np.array_equal(out.labels[z], predict_image(stack[z], bundle, CONFIG).labels)


class _Recorder:
    """A huge (C, H, W) array-like that records how many pixels were read."""

    def __init__(self, shape):
        self.shape, self.dtype, self.read = shape, np.dtype(np.uint8), 0

    def __getitem__(self, key):
        c, ys, xs = key
        h = len(range(*ys.indices(self.shape[1])))
        w = len(range(*xs.indices(self.shape[2])))
        self.read += h * w
        y = np.arange(ys.start or 0, self.shape[1], ys.step or 1)[:h]
        return np.broadcast_to((y % 256).astype(np.uint8)[None, :, None], (1, h, w))


def test_percentiles_of_a_huge_image_read_a_bounded_deterministic_sample():
    huge = _Recorder((1, 40_000, 40_000))
    lo, hi = percentiles(huge, 1.0, 99.0)
    assert huge.read <= 4_100_000, "about 4 M pixels of 1.6 G"
    assert lo[0] < 10 and hi[0] > 245, "the sample spans the image's values"
    again = _Recorder((1, 40_000, 40_000))
    assert (percentiles(again, 1.0, 99.0)[0] == lo).all()
