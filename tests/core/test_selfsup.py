"""Learning the image itself (blind-spot denoising): it never reads labels, stops when asked,
and alone is what trains when a batch has no painted pixel."""

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, TrainConfig
from napari_unet.core.progress import drain
from napari_unet.core.training.selfsup import SelfSupervised, blind_spot, denoise_loss
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.train import Trainer


def _image(seed=0, size=64):
    rng = np.random.default_rng(seed)
    img = rng.normal(0.2, 0.05, (1, size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    for cy, cx in [(16, 16), (40, 44), (20, 48)]:
        img[0][(yy - cy) ** 2 + (xx - cx) ** 2 < 36] += 0.6
    return img


def _labels(size=64):
    lab = np.zeros((size, size), np.uint8)
    lab[2:6, 2:30] = 1
    lab[14:18, 14:18] = 2
    return lab


def _config(**kw):
    return TrainConfig(**{"steps": 3, "seconds": None, "device": "cpu", "batch_size": 2,
                          "patch_size": 32, "validation_fraction": 0.0, **kw})


def test_blind_spot_replaces_only_masked_pixels_by_a_neighbour():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16)
    masked, mask = blind_spot(x, torch.Generator().manual_seed(1), fraction=0.3)
    assert mask.any() and (~mask).any()
    keep = ~mask.expand_as(x)
    assert torch.equal(masked[keep], x[keep])
    assert (masked[mask.expand_as(x)] != x[mask.expand_as(x)]).all()  # never itself
    # a neighbour within 2 px: values along a row differ by 1, along a column by 16
    diff = (masked - x)[mask.expand_as(x)]
    dy, dx = torch.round(diff / 16), diff - 16 * torch.round(diff / 16)
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2
    # the same neighbour for every channel
    assert torch.equal(diff.view(-1), diff.view(-1))
    per_channel = (masked - x).permute(1, 0, 2, 3)[:, mask[:, 0]]
    assert torch.equal(per_channel[0], per_channel[1]) and torch.equal(per_channel[0], per_channel[2])


def test_denoise_loss_counts_only_blind_spots():
    image = torch.zeros(1, 1, 4, 4)
    prediction = torch.ones(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    assert float(denoise_loss(prediction, image, mask)) == 0.0
    mask[0, 0, 1, 1] = True
    prediction[0, 0, 1, 1] = 3.0
    assert float(denoise_loss(prediction, image, mask)) == pytest.approx(9.0)


def _head_grads(trainer, target):
    """Gradients of both heads after one step on a fixed batch with ``target``."""
    img, _, _ = trainer.sampler.sample(2)
    trainer.sampler.sample = lambda batch: (img.clone(), target.clone(), None)
    trainer.generator.manual_seed(5)
    trainer.optimizer.step = lambda *a, **k: None  # keep the weights: compare gradients
    loss = trainer.train_step()
    return (loss, trainer.model.head.weight.grad.clone(), trainer.denoiser.weight.grad.clone())


def test_self_supervised_loss_never_reads_the_painted_labels():
    img, lab = _image(), _labels()
    window = None
    grads = []
    for fill in (1, 0):
        trainer = Trainer([img], [lab], config=_config(self_supervised=1.0, augment=False))
        window = trainer.sampler.window
        target = torch.full((2, window, window), fill, dtype=torch.long)
        grads.append(_head_grads(trainer, target))
    (_, seg_a, den_a), (_, seg_b, den_b) = grads
    assert not torch.allclose(seg_a, seg_b)  # the strokes' loss did see other labels ...
    assert torch.allclose(den_a, den_b)  # ... the image's loss did not


def test_with_no_painted_pixel_in_the_batch_only_the_self_supervised_loss_trains():
    img, lab = _image(), _labels()
    trainer = Trainer([img], [lab], config=_config(self_supervised=1.0, augment=False))
    window = trainer.sampler.window
    nothing = torch.full((2, window, window), IGNORE, dtype=torch.long)
    loss, seg, den = _head_grads(trainer, nothing)
    assert float(loss) > 0
    assert float(seg.abs().max()) == 0.0  # no gradient reaches the segmentation head
    assert float(den.abs().max()) > 0

    plain = Trainer([img], [lab], config=_config(augment=False, self_supervised=0.0))
    plain.sampler.sample = lambda batch: (torch.zeros(2, 1, window, window), nothing, None)
    assert float(plain.train_step()) == 0.0  # without it, nothing to learn from


def test_warm_up_stops_within_one_step_when_asked_and_training_starts_from_it():
    img, lab = _image(), _labels()
    warm = SelfSupervised([img], config=_config())
    steps = warm.steps()  # no budget: until abandoned
    for i, progress in enumerate(steps):
        assert progress.done == warm.step
        if i == 2:
            steps.close()  # what the widget's worker.quit() does at a yield
            break
    assert warm.step == 3
    assert not warm.model.training
    trainer = Trainer([img], [lab], config=_config(self_supervised=1.0), warm=warm)
    assert "learnt of the image" in trainer.note
    body = {k: v for k, v in warm.model.state_dict().items() if not k.startswith("head.")}
    for k, v in body.items():
        assert torch.equal(trainer.model.state_dict()[k].cpu(), v.cpu()), k
    assert torch.equal(trainer.denoiser.weight.cpu(), warm.head.weight.cpu())
    drain(trainer.steps())
    assert trainer.step == 3


def test_warm_up_budget_in_steps_and_seconds():
    warm = SelfSupervised([_image()], config=_config())
    drain(warm.steps(max_steps=2))
    assert warm.step == 2
    drain(warm.steps(seconds=0.0))
    assert warm.step == 2


def test_learning_the_image_halves_the_batch_when_out_of_memory(out_of_memory_above):
    """The training engine's retry, for the blind-spot task too: more than one patch fails
    like CUDA does, the batch halves (4 -> 2 -> 1) and learning goes on."""
    from napari_unet.core.networks.model import UNet

    batches = out_of_memory_above(UNet, 1)
    warm = SelfSupervised([_image()], model=ModelConfig(depth=2, base_width=4),
                          config=_config(batch_size=4))
    records = list(warm.steps(max_steps=2))
    assert [r.notice for r in records if r.notice] == [
        "Out of memory: training continues with 2 patches per step",
        "Out of memory: training continues with 1 patch per step",
    ]
    assert warm.step == 2 and batches == [4, 2, 1, 1] and warm.loss is not None
