"""Whole objects painted far apart: the unpainted objects inside the annotated area (which
would train as background) are found; a fully painted area gives none."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.training.region_check import region_box, unpainted_objects
from napari_unet.synthetic import nuclei


@pytest.fixture(scope="module")
def sample():
    return nuclei((128, 128), n=12, seed=3)


def only(truth, ids):
    return np.where(np.isin(truth, ids), truth, 0).astype(np.uint16)


def test_objects_painted_far_apart_leave_unpainted_ones_that_are_found(sample):
    image, truth = sample
    ids = np.unique(truth)[1:]
    # the two objects furthest apart: their box covers most of the image
    centres = {i: np.argwhere(truth == i).mean(0) for i in ids}
    far = max(((a, b) for a in ids for b in ids if a < b),
              key=lambda p: np.linalg.norm(centres[p[0]] - centres[p[1]]))
    labels = only(truth, list(far))
    y0, y1, x0, x1 = region_box(labels, 16)
    found = unpainted_objects(image, labels, 16)
    inside = [i for i in ids if i not in far
              and y0 <= centres[i][0] < y1 and x0 <= centres[i][1] < x1]
    assert len(inside) >= 3
    assert len(found) >= len(inside) // 2
    for y, x in found:  # each found spot lies on an unpainted nucleus
        assert truth[int(round(y)), int(round(x))] in inside


def test_every_object_painted_gives_none(sample):
    image, truth = sample
    assert len(unpainted_objects(image, truth.astype(np.uint16), 16)) == 0


def test_dark_objects_on_bright_background_too(sample):
    image, truth = sample
    ids = np.unique(truth)[1:]
    labels = only(truth, [ids[0], ids[-1]])
    bright = unpainted_objects(image, labels, 16)
    dark = unpainted_objects(image.max() - image, labels, 16)
    assert len(dark) == len(bright)


def test_nothing_or_one_object_painted_gives_none(sample):
    image, truth = sample
    assert region_box(np.zeros_like(truth), 16) is None
    assert len(unpainted_objects(image, np.zeros_like(truth), 16)) == 0
    assert len(unpainted_objects(image, only(truth, [np.unique(truth)[1]]), 16)) == 0
