"""Objects tidied without a model (split again, holes filled, small ones dropped) and
measured (area, mean intensity, centroid) into a CSV table."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.inference.object_table import (
    csv_text,
    object_table,
    write_csv,
)
from napari_unet.core.inference.postprocess import refine_objects


def discs(centres, radius, shape=(64, 64)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return [((yy - y) ** 2 + (xx - x) ** 2) <= radius**2 for y, x in centres]


def test_refine_never_changes_its_input_and_numbers_from_one():
    objects = np.zeros((32, 32), np.uint16)
    objects[2:6, 2:6] = 7
    objects[10:20, 10:20] = 3
    before = objects.copy()
    out = refine_objects(objects)
    assert np.array_equal(objects, before)
    assert sorted(np.unique(out)) == [0, 1, 2]
    assert np.array_equal(out > 0, objects > 0)


def test_min_size_drops_small_objects():
    objects = np.zeros((32, 32), np.uint16)
    objects[2:5, 2:5] = 1  # 9 px
    objects[10:20, 10:20] = 2  # 100 px
    out = refine_objects(objects, min_size=10)
    assert out[3, 3] == 0 and out[15, 15] == 1 and out.max() == 1


def test_fill_holes_fills_what_an_object_encloses_only():
    objects = np.zeros((32, 32), np.uint16)
    objects[5:15, 5:15] = 1
    objects[8:11, 8:11] = 0  # a hole
    objects[20:30, 20:30] = 2  # a gap between two objects is not a hole
    out = refine_objects(objects, fill_holes=True)
    assert (out[8:11, 8:11] == 1).all()
    assert (out[0, :] == 0).all()
    assert not (refine_objects(objects)[8:11, 8:11]).any()


def test_split_sensitivity_splits_two_touching_discs_or_not():
    a, b = discs([(32, 22), (32, 42)], 11)
    merged = (a | b).astype(np.uint16)  # predicted as one object
    assert refine_objects(merged).max() == 1
    assert refine_objects(merged, split_depth=2).max() == 2  # sensitive: split at the neck
    assert refine_objects(merged, split_depth=20).max() == 1  # not sensitive: kept whole


def test_object_table_measures_area_intensity_and_centre():
    objects = np.zeros((20, 20), np.uint16)
    objects[0:4, 0:5] = 5
    objects[10:12, 10:12] = 9
    image = np.zeros((20, 20), np.float32)
    image[0:4, 0:5] = 2.0
    image[10:12, 10:12] = [[1, 2], [3, 4]]
    t = object_table(objects, image)
    assert list(t["label"]) == [5, 9]
    assert list(t["area_px"]) == [20, 4]
    assert t["mean_intensity"] == pytest.approx([2.0, 2.5])
    assert t["centroid_y"] == pytest.approx([1.5, 10.5])
    assert t["centroid_x"] == pytest.approx([2.0, 10.5])
    two = object_table(objects, np.stack([image, 2 * image]), ["dapi", "gfp"])
    assert two["mean_gfp"] == pytest.approx([4.0, 5.0])


def test_the_csv_has_a_header_and_one_row_per_object(tmp_path):
    objects = np.zeros((8, 8), np.uint8)
    objects[1:3, 1:3] = 1
    objects[5:8, 5:8] = 2
    t = object_table(objects, np.ones((8, 8)))
    text = csv_text(t)
    lines = text.strip().splitlines()
    assert lines[0] == "label,area_px,centroid_y,centroid_x,mean_intensity"
    assert lines[1] == "1,4,1.5000,1.5000,1.0000" and len(lines) == 3
    path = write_csv(t, tmp_path / "objects.csv")
    assert path.read_text() == text
    assert csv_text(object_table(np.zeros((4, 4), np.uint8))).strip() == "label,area_px,centroid_y,centroid_x"


def test_object_ids_of_any_size_stay_apart_and_cost_no_memory():
    """Ids >= 2**32 were merged or dropped (a cast to uint32), and sparse large ids built a
    lookup as long as the largest (15 GiB) (issue 26, item 8)."""
    import tracemalloc

    from napari_unet.core.inference.postprocess import refine_objects

    objects = np.zeros((12, 12), np.int64)
    objects[1:4, 1:4], objects[6:9, 6:9] = 7, 4_000_000_000  # sparse: a 16 GB lookup
    objects[6:9, 1:4], objects[1:4, 6:9] = 2**32, 2**40 + 3  # beyond uint32
    tracemalloc.start()
    out = refine_objects(objects)
    assert tracemalloc.get_traced_memory()[1] < 2**20
    tracemalloc.stop()
    assert [out[2, 2], out[7, 7], out[7, 2], out[2, 7]] == [1, 2, 3, 4] and out.max() == 4
