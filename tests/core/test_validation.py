"""Held-out strokes: never trained on, scored while training, and never a worse model."""

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from napari_unet.core.config import ConfigError, ModelConfig, TrainConfig
from napari_unet.core.progress import drain
from napari_unet.core.training.targets import IGNORE
from napari_unet.core.training.train import Trainer
from napari_unet.core.training.validation import choose_holdout, mean_iou

TINY = ModelConfig(depth=2, base_width=8)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One CPU thread: on a shared 2-core machine torch's thread team waits on itself."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _strokes(labels, c):
    comp, n = ndi.label(labels == c, structure=np.ones((3, 3), bool))
    return comp, n


def test_whole_strokes_are_held_out_and_every_class_keeps_some(nuclei_case):
    _, _, painted = nuclei_case
    holdout = choose_holdout([painted], 0.2, seed=0)
    mask = holdout.masks[0]
    assert mask is not None and mask.any()
    assert not mask[painted == 0].any()  # only painted pixels
    for c in (1, 2):
        comp, n = _strokes(painted, c)
        held = {j for j in range(1, n + 1) if mask[comp == j].any()}
        for j in held:
            assert mask[comp == j].all(), "a stroke is held out whole or not at all"
        assert 0 < len(held) < n  # every class has some held out and some to train on
        assert mask[painted == c].sum() <= 0.5 * (painted == c).sum()
    again = choose_holdout([painted], 0.2, seed=0)
    assert np.array_equal(again.masks[0], mask)  # deterministic


def test_validation_is_off_with_one_stroke_of_a_class_or_fraction_zero():
    labels = np.zeros((40, 40), np.uint8)
    labels[5:10, 5:30] = 1
    labels[20:25, 5:30] = 1
    labels[30:35, 5:30] = 2  # one stroke of class 2: nothing to hold out for it
    assert choose_holdout([labels], 0.2) is None
    labels[36:39, 5:30] = 2
    assert choose_holdout([labels], 0.2) is not None
    assert choose_holdout([labels], 0.0) is None


def test_held_out_pixels_are_never_sampled_for_training(nuclei_case):
    image, _, painted = nuclei_case
    trainer = Trainer([image], [painted], model=TINY,
                      config=TrainConfig(steps=1, seconds=None, batch_size=2, patch_size=32))
    held = trainer.holdout.masks[0]
    # training targets: exactly the painted pixels minus the held-out ones
    counted = sum(int((t != IGNORE).sum()) for t in trainer.sampler.targets)
    assert counted == int((painted > 0).sum()) - int(held.sum())
    coords = torch.cat(trainer.sampler.class_coords)
    assert len(coords) == counted
    # and no sampled window ever holds a held-out pixel's class at its place: check that
    # the sampler's target, put back at image coordinates, is IGNORE on every held-out pixel
    tgt = trainer.sampler.targets[0].cpu().numpy()
    pad = trainer.sampler.window
    ys, xs = np.nonzero(painted > 0)
    h, w = trainer.sampler.sizes[0]
    margin = trainer.sampler.window // 2
    y0, x0 = max(0, ys.min() - margin), max(0, xs.min() - margin)
    inner = tgt[pad : pad + h, pad : pad + w]
    assert (inner[held[y0 : y0 + h, x0 : x0 + w]] == IGNORE).all()
    assert (inner != IGNORE).sum() == counted


def test_progress_carries_the_validation_score_and_the_bundle_stores_it(nuclei_case):
    image, _, painted = nuclei_case
    config = TrainConfig(steps=6, seconds=None, batch_size=2, patch_size=32, validation_every=0)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    records = []
    bundle = drain(trainer.steps(), records.append)
    scores = [r.validation for r in records]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in scores)
    assert bundle.info["validation"]["pixels"] == trainer.holdout.pixels
    assert bundle.info["validation"]["mean_iou"] == pytest.approx(trainer.validation, abs=1e-4)


def test_without_validation_nothing_is_held_out(nuclei_case):
    image, _, painted = nuclei_case
    config = TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32,
                         validation_fraction=0.0)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    assert trainer.validator is None
    counted = sum(int((t != IGNORE).sum()) for t in trainer.sampler.targets)
    assert counted == int((painted > 0).sum())
    records = []
    bundle = drain(trainer.steps(), records.append)
    assert all(r.validation is None for r in records)
    assert "validation" not in bundle.info


def test_a_retrain_that_ends_worse_keeps_the_previous_model_and_says_so(nuclei_case):
    image, _, painted = nuclei_case
    good = drain(Trainer([image], [painted], model=TINY,
                         config=TrainConfig(steps=30, seconds=None, batch_size=4,
                                            patch_size=32)).steps())
    sabotage = TrainConfig(steps=6, seconds=None, batch_size=4, patch_size=32,
                           learning_rate=0.9, augment=False)  # a huge step size ruins it
    trainer = Trainer([image], [painted], config=sabotage, init=good)
    bundle = drain(trainer.steps())
    assert "kept the previous model" in trainer.note
    for k, v in good.state_dict.items():
        assert torch.equal(bundle.state_dict[k], v), k
    assert bundle.info["validation"]["step"] == 0


def test_the_best_weights_are_kept_not_the_last(nuclei_case, monkeypatch):
    image, _, painted = nuclei_case
    config = TrainConfig(steps=4, seconds=None, batch_size=2, patch_size=32, validation_every=0)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    scores = iter([0.5, 0.9, 0.4, 0.3])  # step 2 is the best
    monkeypatch.setattr(trainer.validator, "score", lambda model, amp=True: next(scores))
    states = {}
    gen = trainer.steps()
    for record in gen:
        states[record.done] = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    bundle = trainer.bundle()
    for k, v in states[2].items():
        assert torch.equal(bundle.state_dict[k], v), k
    assert "kept the model of step 2" in trainer.note


def test_mean_iou_counts_only_held_out_pixels():
    target = np.array([0, 0, 1, 1, IGNORE, IGNORE])
    predicted = np.array([0, 1, 1, 1, 0, 0])
    assert mean_iou(predicted, target, 2) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_bad_validation_settings_are_refused():
    with pytest.raises(ConfigError):
        TrainConfig(validation_fraction=1.0)


def test_instance_mode_holds_out_whole_objects_with_a_ring_of_background(nuclei_case):
    image, truth, _ = nuclei_case
    objects = np.where(np.isin(truth, np.unique(truth)[1:7]), truth, 0).astype(np.uint16)
    trainer = Trainer([image], [objects], model=TINY,
                      config=TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32,
                                         mode="instance", validation_every=0))
    held = trainer.holdout.masks[0]
    ids = [v for v in np.unique(objects[held]) if v > 0]
    assert 1 <= len(ids) < len(np.unique(objects)) - 1
    for v in ids:
        assert held[objects == v].all()  # whole objects
    assert (held & (objects == 0)).any()  # and background around them
    assert not held[np.isin(objects, ids, invert=True) & (objects > 0)].any()
    records = []
    drain(trainer.steps(), records.append)
    assert records[-1].validation is not None
