"""Seam-free objects: tiled instances equal whole-image instances.

The invariant (module docstring of ``core.tiled_instances``): for the same probabilities,
``tiled_instances`` gives exactly the partition ``to_instances`` gives on the whole image
(the same objects pixel for pixel, other ids), whatever the block size; objects cut by block
borders get one id. Regions larger than ``max_region_pixels`` are kept whole, one id.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import h_maxima

from napari_unet.core.config import PostprocessConfig
from napari_unet.core.inference.postprocess import h_maxima_local, to_instances
from napari_unet.core.inference.tiled_instances import tiled_instances
from napari_unet.core.progress import drain
from napari_unet.synthetic import nuclei


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images hold the same objects (same background, ids in bijection)."""
    if a.shape != b.shape or not np.array_equal(a > 0, b > 0):
        return False
    m = a > 0
    pairs = np.unique(np.stack([a[m], b[m]]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _probabilities(mode: str, seed: int, shape=(160, 150)) -> np.ndarray:
    """Nuclei-like probabilities: blurred, noisy masks, many touching objects and specks."""
    _, lab = nuclei(shape, n=70, seed=seed)
    rng = np.random.default_rng(seed)
    fg = ndi.gaussian_filter((lab > 0).astype(np.float32), 1.5) + rng.normal(0, 0.15, shape)
    fg = np.clip(fg, 0, 1).astype(np.float32)
    if mode == "semantic":
        return np.stack([1 - fg, fg])
    interior = ndi.gaussian_filter(ndi.binary_erosion(lab > 0, iterations=2).astype(np.float32), 1)
    return np.stack([1 - fg, interior * fg, fg * (1 - interior)]).astype(np.float32)


def test_same_partition_is_relabel_invariant_and_not_trivially_true():
    a = np.array([[1, 1, 0, 2], [3, 3, 0, 2]])
    assert same_partition(a, np.where(a > 0, 10 - a, 0))
    assert not same_partition(a, np.where(a == 3, 1, a))  # two objects merged
    assert not same_partition(a, np.where(a == 2, 0, a))  # one object lost


@pytest.mark.parametrize("mode", ["semantic", "instance"])
@pytest.mark.parametrize("block", [16, 45, 512])
def test_tiled_instances_equal_whole_image_instances(mode, block):
    probs = _probabilities(mode, seed=1)
    whole = to_instances(probs, mode, PostprocessConfig())
    out = np.zeros(whole.shape, np.uint32)
    result = drain(tiled_instances(probs, mode, PostprocessConfig(), out=out, block=block))
    assert whole.max() > 20, "the case has many objects"
    assert same_partition(out, whole)
    assert result.n_objects == len(np.unique(whole)) - 1 == out.max()
    assert result.n_unsplit == 0


def test_an_object_cut_by_block_borders_gets_one_id():
    yy, xx = np.mgrid[:64, :64]
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2 < 15**2).astype(np.float32)
    probs = np.stack([1 - disc, disc])
    out = np.zeros((64, 64), np.uint32)
    drain(tiled_instances(probs, "semantic", out=out, block=16))  # the disc spans 3 x 3 blocks
    assert np.unique(out[disc > 0]).tolist() == [1] and (out[disc == 0] == 0).all()


def test_a_region_over_the_size_limit_is_kept_whole_and_the_rest_stays_exact():
    probs = _probabilities("semantic", seed=2)
    whole = to_instances(probs, "semantic", PostprocessConfig())
    fg = (1.0 - probs[0]) > 0.5
    regions, _ = ndi.label(fg, np.ones((3, 3)))
    boxes = ndi.find_objects(regions)
    areas = [(b[0].stop - b[0].start + 2) * (b[1].stop - b[1].start + 2) for b in boxes]
    limit = sorted(areas)[-2]  # only the largest region is over it
    big = regions == int(np.argmax(areas)) + 1
    out = np.zeros(whole.shape, np.uint32)
    result = drain(tiled_instances(probs, "semantic", out=out, block=32, max_region_pixels=limit))
    assert result.n_unsplit == 1
    assert len(np.unique(out[big])) == 1 and len(np.unique(whole[big & (whole > 0)])) > 1
    assert same_partition(np.where(big, 0, out), np.where(big, 0, whole))


def test_local_h_maxima_agree_with_skimage_where_a_region_is_deep_enough():
    for seed in range(3):
        _, lab = nuclei((128, 128), n=30, seed=seed)
        dist = ndi.distance_transform_edt(lab > 0)
        assert np.array_equal(h_maxima_local(dist, 2.0), h_maxima(dist, 2.0).astype(bool))


def test_a_region_gets_the_same_seeds_whatever_else_the_image_holds():
    shallow = np.zeros((20, 40), bool)
    shallow[5:7, 5:15] = shallow[5:7, 20:30] = True  # two bars 2 px thick (depth 1 < 2)
    shallow[5, 15:20] = True
    deep = np.zeros((30, 40), bool)
    deep[5:25, 5:35] = True
    alone_shallow = h_maxima_local(ndi.distance_transform_edt(shallow), 2.0)
    alone_deep = h_maxima_local(ndi.distance_transform_edt(deep), 2.0)
    both = h_maxima_local(ndi.distance_transform_edt(np.concatenate([shallow, deep])), 2.0)
    assert not alone_shallow.any(), "shallower than h: no seed, it stays one object"
    assert alone_deep.any()
    assert np.array_equal(both, np.concatenate([alone_shallow, alone_deep]))
