"""The painting is checked against the annotation mode before training: one label per
nucleus in 'strokes of classes', and classes painted in 'whole objects', are said."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.training.painting_check import check_painting
from napari_unet.synthetic import nuclei, simulate_painting


@pytest.fixture(scope="module")
def truth():
    return nuclei((128, 128), n=12, seed=3)[1]


def one_label_per_nucleus(truth, n=5):
    """Whole nuclei, each its own label 1..n (the Cellpose habit), nothing else."""
    painted = np.zeros(truth.shape, np.uint16)
    for k, i in enumerate(np.unique(truth)[1 : n + 1], 1):
        painted[truth == i] = k
    return painted


def test_one_label_per_nucleus_in_strokes_mode_is_said(truth):
    advice = check_painting([one_label_per_nucleus(truth)], "semantic")
    assert advice is not None and advice.looks_like == "instance"
    assert advice.labels == (1, 2, 3, 4, 5)
    assert "Whole objects" in advice.message and "5-class model" in advice.message


def test_one_label_per_nucleus_with_background_strokes_is_said(truth):
    painted = one_label_per_nucleus(truth) + 1
    painted[painted == 1] = 0
    painted[(simulate_painting(truth, n_objects=0, n_background_strokes=5, seed=1) == 1)
            & (painted == 0)] = 1
    advice = check_painting([painted], "semantic")
    assert advice is not None and 1 not in advice.labels and len(advice.labels) == 5


def test_strokes_of_classes_pass_in_strokes_mode(truth):
    for seed in range(4):
        painted = simulate_painting(truth, n_objects=5, n_background_strokes=4, seed=seed)
        assert check_painting([painted], "semantic") is None


def test_three_classes_painted_as_strokes_pass(truth):
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=4, seed=0)
    painted[100:104, 10:60] = 3  # a long stroke of a third class
    assert check_painting([painted], "semantic") is None


def test_classes_painted_in_whole_objects_mode_are_said(truth):
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=4, seed=0)
    advice = check_painting([painted], "instance")
    assert advice is not None and advice.looks_like == "semantic"
    assert 2 in advice.labels and "Strokes of classes" in advice.message


def test_whole_objects_pass_in_whole_objects_mode(truth):
    painted = one_label_per_nucleus(truth, n=8)
    painted[0, 0] = 3  # a one-pixel slip of label 3 away from its object is not a piece
    assert check_painting([painted], "instance") is None


def test_two_labels_are_never_called_objects(truth):
    """With two labels (background, foreground) 'strokes of classes' is what they mean."""
    assert check_painting([one_label_per_nucleus(truth, n=2)], "semantic") is None


def test_nothing_painted_gives_no_advice():
    assert check_painting([np.zeros((32, 32), np.uint8)], "semantic") is None
    assert check_painting([np.zeros((32, 32), np.uint8)], "instance") is None
