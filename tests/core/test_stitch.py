"""Stitching 2-D objects into 3-D ones (Cellpose's stitch_threshold): a sphere cut into planes
is one object; touching objects stay apart; time points are never joined."""

import numpy as np

from napari_unet.core.inference.stitch import stitch_stack
from napari_unet.core.progress import drain


def _planes_with_ids_going_on(volume_truth):
    """Each plane's objects with their own ids (as a 2-D model's plane-by-plane objects)."""
    out = np.zeros(volume_truth.shape, np.uint32)
    offset = 0
    for z, plane in enumerate(volume_truth):
        ids = np.unique(plane[plane > 0])
        lut = np.zeros(int(volume_truth.max()) + 1, np.uint32)
        lut[ids] = np.arange(1, len(ids) + 1) + offset
        out[z] = lut[plane]
        offset += len(ids)
    return out


def _spheres(centres, radius, shape=(24, 64, 64)):
    z, y, x = np.indices(shape)
    truth = np.zeros(shape, np.uint32)
    for k, (cz, cy, cx) in enumerate(centres, 1):
        truth[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius ** 2] = k
    return truth


def test_a_sphere_cut_into_planes_becomes_one_object():
    cut = _planes_with_ids_going_on(_spheres([(12, 32, 32)], 8.5))
    assert len(np.unique(cut)) - 1 == 17  # one 2-D object per plane before stitching
    assert drain(stitch_stack(cut, 0)) == 1
    assert set(np.unique(cut)) == {0, 1}


def test_two_touching_spheres_stay_apart():
    truth = _spheres([(12, 32, 23), (12, 32, 40)], 8.5)
    assert ((truth[:, :, 31] == 1) & (truth[:, :, 32] == 2)).any()  # touching
    cut = _planes_with_ids_going_on(truth)
    assert drain(stitch_stack(cut, 0)) == 2
    for k in (1, 2):  # each true sphere is exactly one stitched object
        assert len(np.unique(cut[truth == k])) == 1
    assert cut[truth == 1][0] != cut[truth == 2][0]


def test_objects_stacked_with_little_overlap_stay_apart():
    vol = np.zeros((8, 40, 40), np.uint32)
    vol[:4, 5:25, 5:25] = 1
    vol[4:, 20:35, 20:35] = 2  # touches the first across planes 3/4, IoU far below 0.25
    cut = _planes_with_ids_going_on(vol)
    assert drain(stitch_stack(cut, 0)) == 2


def test_time_points_are_stitched_apart_and_ids_go_on():
    sphere = _planes_with_ids_going_on(_spheres([(12, 32, 32)], 8.5))
    tz = np.stack([sphere, sphere + np.where(sphere > 0, sphere.max(), 0).astype(np.uint32)])
    assert drain(stitch_stack(tz, 1)) == 2  # one object per time point, never joined in time
    assert set(np.unique(tz[0])) == {0, 1} and set(np.unique(tz[1])) == {0, 2}


def test_threshold_one_keeps_planes_apart_unless_identical():
    vol = np.zeros((3, 20, 20), np.uint32)
    vol[:, 5:10, 5:10] = 1  # a column: identical in every plane
    vol[0, 12:18, 12:18] = 2
    vol[1, 12:17, 12:17] = 2  # shrinking: IoU < 1
    cut = _planes_with_ids_going_on(vol)
    assert drain(stitch_stack(cut, 0, threshold=1.0)) == 3
