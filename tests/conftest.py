import numpy as np
import pytest


@pytest.fixture(scope="session")
def nuclei_case():
    """A small synthetic nuclei image (1, 128, 128), its instances and a few painted strokes."""
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((128, 128), n=12, seed=3)
    painted = simulate_painting(truth, n_objects=5, n_background_strokes=5, seed=0)
    assert set(np.unique(painted)) == {0, 1, 2}
    return image[None], truth, painted
