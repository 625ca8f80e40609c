"""Out of device memory during training or prediction: retried smaller, and the user is told.

A GPU is not needed: the model's forward pass is made to raise torch's OutOfMemoryError
whenever it gets more than ``limit`` patches, as CUDA would on a too-large batch.
"""

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, PredictConfig, TrainConfig
from napari_unet.core.inference.predict import predict, predict_image
from napari_unet.core.networks.model import UNet
from napari_unet.core.oom import OutOfMemory, is_out_of_memory
from napari_unet.core.progress import drain
from napari_unet.core.training.train import Trainer

OOM = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
TINY = ModelConfig(depth=2, base_width=4)


@pytest.fixture
def memory_limit(monkeypatch):
    """Make UNet.forward fail like CUDA does when a batch holds more than ``limit[0]`` images
    (or, with ``limit[1]``, images larger than that side)."""
    limit = [None, None]
    calls = []
    real = UNet.forward

    def forward(self, x):
        calls.append(tuple(x.shape))
        if (limit[0] is not None and x.shape[0] > limit[0]) or (
            limit[1] is not None and x.shape[-1] > limit[1]
        ):
            raise OOM("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, x)

    monkeypatch.setattr(UNet, "forward", forward)
    return limit, calls


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(OOM("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("size mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_training_halves_the_batch_and_says_so(nuclei_case, memory_limit):
    limit, calls = memory_limit
    image, _, painted = nuclei_case
    limit[0] = 2
    config = TrainConfig(steps=6, seconds=None, batch_size=8, patch_size=32)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    records = []
    bundle = drain(trainer.steps(), records.append)
    messages = [r.notice for r in records if r.notice]
    assert messages == [
        "Out of memory: training continues with 4 patches per step",
        "Out of memory: training continues with 2 patches per step",
    ]
    assert trainer.step == 6 and bundle.info["steps"] == 6
    assert trainer.config.sampling.batch_size == 2 and "batch size reduced to 2" in trainer.note
    assert all(shape[0] <= 2 for shape in calls[-6:])


def test_the_notice_says_one_patch_not_one_patches(nuclei_case):
    """Halving to one patch per step is worded in the singular (it said "1 patches")."""
    image, _, painted = nuclei_case
    config = TrainConfig(steps=1, seconds=None, batch_size=4, patch_size=32)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    said = [trainer._after_out_of_memory(OOM("CUDA out of memory")) for _ in range(2)]
    assert said == ["Out of memory: training continues with 2 patches per step",
                    "Out of memory: training continues with 1 patch per step"]


def test_training_that_cannot_fit_even_one_patch_is_a_clear_error(nuclei_case, memory_limit):
    limit, _ = memory_limit
    image, _, painted = nuclei_case
    limit[0] = 0
    config = TrainConfig(steps=3, seconds=None, batch_size=2, patch_size=32)
    with pytest.raises(OutOfMemory, match="even with one patch"):
        drain(Trainer([image], [painted], model=TINY, config=config).steps())


def test_other_errors_are_not_retried(nuclei_case, monkeypatch):
    image, _, painted = nuclei_case
    trainer = Trainer([image], [painted], model=TINY, config=TrainConfig(steps=3, seconds=None))
    monkeypatch.setattr(UNet, "forward", lambda self, x: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        drain(trainer.steps())


def _image():
    return np.random.default_rng(0).random((1, 96, 96)).astype(np.float32)


def _tiny_bundle(nuclei_case):
    image, _, painted = nuclei_case
    config = TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32)
    return drain(Trainer([image], [painted], model=TINY, config=config).steps())


def test_prediction_halves_the_batch_then_the_tile_and_gives_the_same_result(
    nuclei_case, memory_limit
):
    limit, calls = memory_limit
    bundle = _tiny_bundle(nuclei_case)
    config = PredictConfig(tile_size=64, batch_size=4, amp=False)
    expected = predict_image(_image(), bundle, config)
    limit[0] = 1   # one window at a time ...
    limit[1] = 80  # ... and windows of at most 80 px: 64-px tiles (+ context) do not fit
    records = []
    got = drain(predict(_image(), bundle, config), records.append)
    messages = [r.notice for r in records if r.notice]
    assert messages == [
        "Out of memory: predicting 2 tiles at a time",
        "Out of memory: predicting 1 tile at a time",
        "Out of memory: predicting again with 32-px tiles",
    ]
    np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5)
    np.testing.assert_array_equal(got.labels, expected.labels)


def test_prediction_that_cannot_fit_the_smallest_tile_is_a_clear_error(nuclei_case, memory_limit):
    limit, _ = memory_limit
    bundle = _tiny_bundle(nuclei_case)
    limit[0] = 0
    with pytest.raises(OutOfMemory, match="even with one"):
        predict_image(_image(), bundle, PredictConfig(tile_size=64))
