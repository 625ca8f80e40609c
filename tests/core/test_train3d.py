"""3-D training on a small synthetic stack of spheres: it learns, unpainted voxels never
count, it is reproducible, and what it cannot do is refused clearly."""

import numpy as np
import pytest
import torch

from napari_unet.core.config import ConfigError, ModelConfig, PredictConfig, TrainConfig
from napari_unet.core.images import ImageError
from napari_unet.core.inference.predict3d import predict_volume
from napari_unet.core.progress import drain
from napari_unet.core.training.losses import masked_cross_entropy
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.train3d import Trainer3D

TINY = ModelConfig(spatial_dims=3, depth=2, base_width=4)


def spheres(shape=(16, 48, 48), n=14, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    truth = np.zeros(shape, bool)
    for _ in range(n):
        c, r = rng.uniform(0, shape), rng.uniform(4, 7)
        truth |= (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r * r
    image = truth + rng.normal(0, noise, shape)
    return image.astype(np.float32), truth


def scattered_painting(truth, fraction=0.05, seed=1):
    """Single painted voxels (5 %), as classes 1 (background) and 2 (foreground)."""
    painted = np.zeros(truth.shape, np.int64)
    chosen = np.random.default_rng(seed).random(truth.shape) < fraction
    painted[chosen] = truth[chosen] + 1
    return painted


def test_3d_training_segments_the_unpainted_voxels():
    image, truth = spheres()
    painted = scattered_painting(truth)
    before = (image.copy(), painted.copy())
    # no elastic deformation: its default 10 px would swamp 16 px patches of 4-7 px spheres
    config = TrainConfig(steps=40, seconds=None, batch_size=2, learning_rate=0.01, seed=0,
                         elastic=False)
    trainer = Trainer3D(image[None], painted, model=TINY, config=config, patch=(8, 16, 16))
    bundle = drain(trainer.steps())
    assert trainer.step == 40 and bundle.model_config.spatial_dims == 3
    pred = predict_volume(image[None], bundle, PredictConfig(amp=False))
    unpainted = painted == 0
    fg = pred.labels == 2
    iou = (fg & truth & unpainted).sum() / ((fg | truth) & unpainted).sum()
    trivial = (truth & unpainted).sum() / unpainted.sum()  # all-foreground IoU (0.17)
    assert iou > 0.45 and iou > 2.5 * trivial, (iou, trivial)
    np.testing.assert_array_equal(image, before[0])  # nothing given is modified
    np.testing.assert_array_equal(painted, before[1])


def test_unpainted_voxels_get_zero_gradient():
    logits = torch.randn(2, 3, 4, 6, 5, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 6, 5))
    target[:, :2] = IGNORE
    masked_cross_entropy(logits, target, torch.tensor([1.0, 2.0, 0.5])).backward()
    grad = logits.grad.abs().sum(1)
    assert (grad[:, :2] == 0).all() and (grad[:, 2:] > 0).all()


def test_patches_are_biased_to_painting_and_reproducible():
    image, truth = spheres((8, 40, 40), n=4)
    painted = np.zeros(truth.shape, np.int64)
    painted[4, 30:33, 30:33] = 2
    painted[1, 2:5, 2:5] = 1
    # no elastic deformation, which could move a 3-voxel stroke out of an 8-voxel patch
    config = TrainConfig(steps=1, seconds=None, seed=3, painted_fraction=1.0, elastic=False)
    a, b = (Trainer3D(image[None], painted, model=TINY, config=config, patch=(4, 8, 8))
            for _ in range(2))
    img_a, tgt_a = a.augment(*a.sample(6))
    img_b, tgt_b = b.augment(*b.sample(6))
    assert torch.equal(img_a, img_b) and torch.equal(tgt_a, tgt_b)
    assert img_a.shape == (6, 1, 4, 8, 8)
    assert ((tgt_a != IGNORE).flatten(1).sum(1) > 0).all()  # every patch holds painting
    assert set(torch.unique(tgt_a).tolist()) <= {IGNORE, 0, 1}


def test_what_3d_training_cannot_do_is_refused():
    image, truth = spheres((8, 16, 16), n=2)
    painted = scattered_painting(truth, 0.2)
    with pytest.raises(ConfigError, match="semantic"):
        Trainer3D(image[None], painted, model=TINY,
                  config=TrainConfig(steps=1, seconds=None, mode="instance"))
    with pytest.raises(ImageError, match="do not match"):
        Trainer3D(image[None], painted[:4], model=TINY)
    with pytest.raises(ImageError, match="nothing is painted"):
        Trainer3D(image[None], np.zeros_like(painted), model=TINY)


def test_3d_training_halves_the_batch_when_out_of_memory_and_says_so(out_of_memory_above):
    """The training engine's retry: a forward pass that fails like CUDA on more than two
    patches halves the batch (8 -> 4 -> 2) and training goes on to its budget."""
    from napari_unet.core.networks.model3d import UNet3D

    batches = out_of_memory_above(UNet3D, 2)
    image, truth = spheres((8, 16, 16), n=2)
    config = TrainConfig(steps=3, seconds=None, batch_size=8, seed=0, validation_fraction=0)
    trainer = Trainer3D(image[None], scattered_painting(truth, 0.2), model=TINY, config=config,
                        patch=(4, 8, 8))
    records = []
    drain(trainer.steps(), records.append)
    assert [r.notice for r in records if r.notice] == [
        "Out of memory: training continues with 4 patches per step",
        "Out of memory: training continues with 2 patches per step",
    ]
    assert trainer.step == 3 and batches == [8, 4, 2, 2, 2]
    assert trainer.config.sampling.batch_size == 2 and "batch size reduced to 2" in trainer.note


def test_3d_training_scores_held_out_strokes_as_the_whole_volume_predicts_and_keeps_the_best():
    """Held-out voxels never reach the loss; their score is the whole-volume prediction's
    mean IoU there, each painted class weighing the same (boxes with the receptive field
    around them), and training ends on the best-scoring weights."""
    from napari_unet.core.training.validation import mean_iou

    image, truth = spheres()
    painted = scattered_painting(truth)
    config = TrainConfig(steps=12, seconds=None, batch_size=2, learning_rate=0.01, seed=0,
                         validation_every=0, amp=False)
    trainer = Trainer3D(image[None], painted, model=TINY, config=config, patch=(8, 16, 16))
    held = trainer.holdout.masks[0]
    assert 0 < held.sum() < (painted > 0).sum() / 2 and (painted[held] > 0).all()
    assert (trainer.targets[0][held] == IGNORE).all()  # never in the loss
    records = []
    bundle = drain(trainer.steps(), records.append)
    scores = [r.validation for r in records]
    assert None not in scores and trainer.validation == max(scores)
    assert bundle.info["validation"]["pixels"] == int(held.sum())
    pred = predict_volume(image[None], bundle, PredictConfig(amp=False))
    whole = mean_iou(pred.labels[held].astype(np.int64) - 1, painted[held] - 1, 2, balanced=True)
    assert trainer.validator.score(trainer.model, amp=False) == pytest.approx(whole, abs=1e-6)
    assert trainer.validation == pytest.approx(whole, abs=1e-6)


def test_3d_training_with_elastic_deformation_runs_end_to_end_and_is_reproducible():
    """The paper's elastic deformation in 3-D: windows read with context around the patch,
    deformed with the image, the same run twice for one seed."""
    image, truth = spheres((8, 24, 24), n=4)
    painted = scattered_painting(truth, 0.2)
    config = TrainConfig(steps=4, seconds=None, batch_size=2, learning_rate=0.01, seed=0,
                         elastic=True, elastic_sigma=2.0, validation_fraction=0)
    runs = [Trainer3D(image[None], painted, model=TINY, config=config, patch=(4, 8, 8))
            for _ in range(3)]
    assert runs[0]._context == (6, 6, 6)
    img, tgt = runs.pop().sample(2)
    assert img.shape == (2, 1, 16, 20, 20) and tgt.shape == (2, 16, 20, 20)
    bundles = [drain(t.steps()) for t in runs]
    assert runs[0].step == 4 and bundles[0].train_config["augmentation"]["elastic"]
    for k, v in bundles[0].state_dict.items():
        assert torch.equal(v, bundles[1].state_dict[k]), k
    np.testing.assert_array_equal(painted, scattered_painting(truth, 0.2))  # not modified


def test_3d_elastic_context_follows_the_anisotropy():
    """A z voxel spans ``anisotropy`` pixels: z reads (and is displaced) that much less."""
    image, truth = spheres((8, 24, 24), n=4)
    config = TrainConfig(steps=1, seconds=None, elastic_sigma=4.0)
    aniso = ModelConfig(spatial_dims=3, depth=2, base_width=4, anisotropy=2)
    trainer = Trainer3D(image[None], scattered_painting(truth, 0.2), model=aniso, config=config,
                        patch=(4, 8, 8))
    assert trainer._context == (6, 12, 12)
    off = Trainer3D(image[None], scattered_painting(truth, 0.2), model=aniso,
                    config=TrainConfig(steps=1, seconds=None, augment=False), patch=(4, 8, 8))
    assert off._context == (0, 0, 0)
