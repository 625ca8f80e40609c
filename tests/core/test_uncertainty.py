"""Uncertainty maps and the spots suggested for painting next."""

import numpy as np
import pytest

from napari_unet.core.inference.uncertainty import suggest_spots, uncertainty


def _probs(p_fg):
    p_fg = np.asarray(p_fg, np.float32)
    return np.stack([1 - p_fg, p_fg])


@pytest.mark.parametrize("kind", ["entropy", "margin"])
def test_uncertainty_is_zero_when_sure_and_one_at_a_tie(kind):
    u = uncertainty(_probs([[0.0, 1.0, 0.5]]), kind)
    assert u.shape == (1, 3) and u.dtype == np.float32
    assert u[0, 0] == pytest.approx(0, abs=1e-5) and u[0, 1] == pytest.approx(0, abs=1e-5)
    assert u[0, 2] == pytest.approx(1)


def test_uncertainty_grows_toward_a_tie_and_covers_many_classes():
    u = uncertainty(_probs([[0.95, 0.8, 0.6]]))
    assert u[0, 0] < u[0, 1] < u[0, 2]
    three = np.full((3, 2, 2), 1 / 3, np.float32)
    assert np.allclose(uncertainty(three, "entropy"), 1) and np.allclose(uncertainty(three, "margin"), 1)
    with pytest.raises(ValueError):
        uncertainty(three, "variance")


def test_spots_are_the_unsure_regions_far_apart_and_away_from_paint():
    u = np.zeros((128, 128), np.float32)
    u[10:20, 10:20] = 1.0  # most unsure
    u[12:18, 30:36] = 0.9  # close to the first: suppressed
    u[100:110, 100:110] = 0.6
    u[60:70, 60:70] = 0.8  # but painted next to it
    painted = np.zeros_like(u, np.uint8)
    painted[64, 64] = 2
    coords, scores = suggest_spots(u, painted, k=5, spacing=32)
    assert len(coords) == 2
    assert 10 <= coords[0][0] < 20 and 10 <= coords[0][1] < 20
    assert 100 <= coords[1][0] < 110 and 100 <= coords[1][1] < 110
    assert scores[0] > scores[1]
    assert np.linalg.norm(coords[0] - coords[1]) >= 32


def test_a_sure_model_suggests_nothing():
    coords, scores = suggest_spots(np.zeros((64, 64), np.float32), k=3)
    assert coords.shape == (0, 2) and scores.shape == (0,)
