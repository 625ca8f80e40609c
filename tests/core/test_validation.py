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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


@pytest.mark.parametrize("seconds_per_call", [0.0, 5.0], ids=["fast", "slow-clock"])
def test_a_budget_of_steps_is_scored_at_the_same_steps_however_slow_the_machine(
        nuclei_case, monkeypatch, seconds_per_call):
    """Scheduled by the clock, a seeded run scored at other steps on a busier machine and
    keep-best returned other weights; with a budget of steps only it is scored by steps."""
    from napari_unet.core.training import engine

    image, _, painted = nuclei_case
    now = [0.0]

    def clock():
        now[0] += seconds_per_call
        return now[0]

    if seconds_per_call:
        monkeypatch.setattr(engine.time, "perf_counter", clock)
    config = TrainConfig(steps=40, seconds=None, batch_size=2, patch_size=32)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    scored, score = [], trainer.score
    monkeypatch.setattr(trainer, "score", lambda: (scored.append(trainer.step), score())[-1])
    drain(trainer.steps())
    assert scored == list(range(2, 41, 2)), scored  # every 40 / SCORES_PER_RUN steps


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


def test_object_ious_of_perfect_split_and_missing_objects():
    from napari_unet.core.training.validation import object_ious

    truth = np.zeros((10, 20), int)
    truth[2:8, 2:8] = 1  # found whole
    truth[2:8, 11:19] = 2  # split in two halves
    truth[0, 0] = 0
    predicted = np.zeros_like(truth)
    predicted[2:8, 2:8] = 5
    predicted[2:8, 11:15] = 6
    predicted[2:8, 15:19] = 7
    assert object_ious(truth, predicted) == pytest.approx([1.0, 0.5])
    assert object_ious(truth, np.zeros_like(truth)) == [0.0, 0.0]


def _probabilities(ids: np.ndarray) -> np.ndarray:
    """(3, H, W) background / interior / border probabilities that give ``ids`` back."""
    from skimage.segmentation import find_boundaries

    border = find_boundaries(ids, mode="inner") & (ids > 0)
    p = np.zeros((3,) + ids.shape, np.float32)
    p[0] = ids == 0
    p[1] = (ids > 0) & ~border
    p[2] = border
    return p


def test_with_whole_objects_a_split_object_scores_low_though_its_pixels_are_right(monkeypatch):
    """The guard's score matches held-out objects: a model that cuts a held-out nucleus in
    two keeps almost every pixel's class right (the pixel score stays high) but scores as a
    poor object (issue 21, item 5)."""
    from napari_unet.core import inference
    from napari_unet.core.config import PostprocessConfig
    from napari_unet.core.training.targets import instance_target
    from napari_unet.core.training.validation import Holdout, Validator

    ids = np.zeros((48, 48), np.int32)
    ids[8:40, 8:40] = 1
    ids[4:10, 42:47] = 2
    split = ids.copy()
    split[8:40, 24:40] = 3  # the right half is another object
    held = np.zeros(ids.shape, bool)
    held[6:42, 6:42] = True
    target = instance_target(ids, np.ones(ids.shape, bool))
    image = np.zeros((1, 48, 48), np.float32)

    class Fake:
        probabilities = _probabilities(split)
        labels = probabilities.argmax(0) + 1

    monkeypatch.setattr(inference.predict, "predict_normalized", lambda *a, **k: Fake)
    post = PostprocessConfig(threshold=0.5, seed_threshold=0.5, min_size=1)
    holdout = Holdout([held])
    by_pixels = Validator([image], [target], holdout, 3, 100)  # as before: classes' IoU
    by_objects = Validator([image], [target], holdout, 3, 100, objects=[ids], postprocess=post)
    assert by_objects.objects == 1
    assert by_pixels.score(None) > 0.8
    assert by_objects.score(None) == pytest.approx(0.5, abs=0.05)


def test_with_whole_objects_painted_the_trainer_scores_held_out_objects(nuclei_case):
    image, truth, _ = nuclei_case
    objects = np.where(np.isin(truth, np.unique(truth)[1:9]), truth, 0).astype(np.uint16)
    trainer = Trainer([image], [objects], model=TINY,
                      config=TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32,
                                         mode="instance", validation_every=0))
    assert trainer.validator.postprocess is not None
    assert trainer.validator.objects >= 1


def test_the_guard_keeps_the_starter_when_fine_tuning_spoils_the_held_out_objects(nuclei_case):
    from napari_unet.core.files.starters import load_starter

    image, truth, _ = nuclei_case
    objects = np.where(np.isin(truth, np.unique(truth)[1:9]), truth, 0).astype(np.uint16)
    starter = load_starter("nuclei")
    sabotage = TrainConfig(steps=6, seconds=None, batch_size=4, patch_size=32, mode="instance",
                           learning_rate=0.9, augment=False)  # a huge step size ruins it
    trainer = Trainer([image], [objects], config=sabotage, init=starter)
    assert trainer.validator.postprocess is not None  # scored as objects
    bundle = drain(trainer.steps())
    assert trainer.kept_start
    for k, v in starter.state_dict.items():
        assert torch.equal(bundle.state_dict[k], v), k


def test_split_thresholds_are_fitted_to_the_painted_objects(monkeypatch):
    """Two touching painted nuclei whose interiors join at P = 0.6 but not at 0.8: the
    thresholds fitted on them cut them apart (issue 21, item 6)."""
    from napari_unet.core import inference
    from napari_unet.core.config import PostprocessConfig
    from napari_unet.core.training.targets import instance_target
    from napari_unet.core.training.validation import Validator, all_objects

    ids = np.zeros((40, 60), np.int32)
    ids[10:30, 8:30] = 1
    ids[10:30, 30:52] = 2
    p = _probabilities(ids)
    p[1, 12:28, 29:31], p[2, 12:28, 29:31], p[0, 12:28, 29:31] = 0.65, 0.35, 0.0  # a weak neck

    class Fake:
        probabilities = p

    monkeypatch.setattr(inference.predict, "predict_normalized", lambda *a, **k: Fake)
    post = PostprocessConfig(threshold=0.5, seed_threshold=0.5, min_size=1)
    target = instance_target(ids, np.ones(ids.shape, bool))
    scorer = Validator([np.zeros((1, 40, 60), np.float32)], [target], all_objects([ids]), 3,
                       100, objects=[ids], postprocess=post)
    chosen, before, after = scorer.tune(None)
    assert before == pytest.approx(0.5, abs=0.05)  # one object for two
    assert chosen.seed_threshold > 0.65 and after > 0.9


def test_balanced_mean_iou_weighs_each_painted_class_the_same():
    """10 foreground pixels and 2 background ones; 2 of the foreground called background.
    Plain: background IoU 2/4, foreground 8/10. Balanced (each pixel of class c counts
    1 / n_c): background 1 / (1 + 2/10), foreground 8/10."""
    from napari_unet.core.training.validation import mean_iou

    target = np.array([0, 0] + [1] * 10)
    predicted = np.array([0, 0, 0, 0] + [1] * 8)
    assert mean_iou(predicted, target, 2) == pytest.approx((0.5 + 0.8) / 2)
    assert mean_iou(predicted, target, 2, balanced=True) == pytest.approx((1 / 1.2 + 0.8) / 2)


def test_the_guard_on_strokes_weighs_each_painted_class_the_same(nuclei_case, monkeypatch):
    """Foreground strokes outnumber background ones; a model that calls a tenth of the
    held-out foreground background scores as a tenth wrong, not as a sunk background class
    (plain mean IoU would give the background n0 / (n0 + n1 / 10)). Phase-contrast cells
    filled in against 5 short background strokes made the plain score prefer a fine-tuned
    model that only matched the foreground strokes better."""
    from napari_unet.core.training import validation

    image, _, painted = nuclei_case
    config = TrainConfig(steps=1, seconds=None, batch_size=2, patch_size=32, validation_every=0)
    trainer = Trainer([image], [painted], model=TINY, config=config)
    held = {id(crop): target for crop, target in trainer.validator.crops}

    def a_tenth_of_the_foreground_missed(crop, model, config, groups=None):
        t = held[id(crop)].ravel()
        fg = np.flatnonzero(t == 1)
        out = np.where(t == 1, 1, 0)
        out[fg[::10]] = 0
        return out

    monkeypatch.setattr(validation, "predicted_classes", a_tenth_of_the_foreground_missed)
    targets = np.concatenate([t.ravel() for t in held.values()])
    n0, n1 = int((targets == 0).sum()), int((targets == 1).sum())
    missed = sum(len(range(0, int((t == 1).sum()), 10)) for t in held.values())
    assert n1 > n0 > 0
    score = trainer.validator.score(trainer.model)
    assert score == pytest.approx((1 / (1 + missed / n1) + (n1 - missed) / n1) / 2)
    assert score > (n0 / (n0 + missed) + (n1 - missed) / n1) / 2  # the plain mean IoU
