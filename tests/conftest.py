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


@pytest.fixture
def out_of_memory_above(monkeypatch):
    """``out_of_memory_above(Net, most)``: ``Net.forward`` fails as CUDA does on a batch of
    more than ``most`` patches; returns the list of batch sizes it is called with."""
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError

    def install(net_class, most: int) -> list[int]:
        real, batches = net_class.forward, []

        def forward(self, x):
            batches.append(x.shape[0])
            if x.shape[0] > most:
                raise oom("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real(self, x)

        monkeypatch.setattr(net_class, "forward", forward)
        return batches

    return install
