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


@pytest.fixture(scope="session")
def one_torch_thread():
    """Torch computes with one CPU thread from the first test that asks for it on (the widget
    tests ask for it all, and run first in a whole run).

    On a 2-core machine shared with other work (CI runners, a second test process), torch's
    2-thread OpenMP team spin-waits on a descheduled partner and steps become 10-30x slower;
    one thread is as fast here without contention and immune to it, so timings stay stable.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
