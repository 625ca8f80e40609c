import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, TrainConfig
from napari_unet.core.images import ImageError
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.progress import drain
from napari_unet.core.training.train import Trainer, fit


def _fg_iou_on_unpainted(labels, truth, painted):
    fg, gt, unp = labels == 2, truth > 0, painted == 0
    return ((fg & gt & unp).sum()) / ((fg | gt) & unp).sum()


def test_a_few_strokes_give_high_foreground_iou_on_the_unpainted_part(nuclei_case):
    image, truth, painted = nuclei_case
    bundle = drain(fit([image], [painted], config=TrainConfig(steps=120, seconds=None, batch_size=6, patch_size=64)))
    pred = predict_image(image, bundle)
    iou = _fg_iou_on_unpainted(pred.labels, truth, painted)
    assert iou > 0.6, iou
    assert bundle.info["steps"] == 120


def test_training_is_reproducible_with_a_seed(nuclei_case):
    image, _, painted = nuclei_case
    # held-out scoring every step: scheduled by the clock (every 2 s), a slow step under load
    # moves it, and keep-best then returns other weights
    cfg = TrainConfig(steps=3, seconds=None, batch_size=2, patch_size=32, seed=7,
                      validation_every=0)
    a = drain(fit([image], [painted], model=ModelConfig(depth=2, base_width=4), config=cfg))
    b = drain(fit([image], [painted], model=ModelConfig(depth=2, base_width=4), config=cfg))
    for k in a.state_dict:
        assert torch.equal(a.state_dict[k], b.state_dict[k]), k


def test_generator_can_be_stopped_between_steps_and_keeps_the_model(nuclei_case):
    image, _, painted = nuclei_case
    trainer = Trainer([image], [painted], model=ModelConfig(depth=2, base_width=4),
                      config=TrainConfig(steps=1000, seconds=None, batch_size=2, patch_size=32))
    gen = trainer.steps()
    records = [next(gen) for _ in range(3)]
    gen.close()
    assert [r.done for r in records] == [1, 2, 3]
    assert trainer.step == 3
    bundle = trainer.bundle()
    assert bundle.info["steps"] == 3
    assert predict_image(image, bundle).labels.shape == image.shape[1:]


def test_inputs_are_never_modified(nuclei_case):
    image, _, painted = nuclei_case
    img0, lab0 = image.copy(), painted.copy()
    drain(fit([image], [painted], model=ModelConfig(depth=2, base_width=4),
              config=TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32)))
    assert np.array_equal(image, img0) and np.array_equal(painted, lab0)


def test_time_budget_ends_training():
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((64, 64), n=4, seed=0)
    painted = simulate_painting(truth, 2, 2, seed=0)
    trainer = Trainer([image[None]], [painted], model=ModelConfig(depth=2, base_width=4),
                      config=TrainConfig(seconds=0.5, batch_size=2, patch_size=32))
    records = list(trainer.steps())
    assert records[-1].fraction == 1.0 and 0.5 <= trainer.elapsed < 5
    assert records[-1].loss is not None


def test_several_multichannel_pairs_and_fine_tuning(nuclei_case):
    image, _, painted = nuclei_case
    rgb = np.concatenate([image, image * 0.5, image[:, ::-1]], 0)
    cfg = TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32)
    first = drain(fit([rgb, rgb[:, :96, :80]], [painted, painted[:96, :80]],
                      model=ModelConfig(depth=2, base_width=4), config=cfg))
    assert first.model_config.in_channels == 3
    again = Trainer([rgb], [painted], config=cfg, init=first)
    assert again.note == ""
    assert torch.equal(again.model.inc[0].weight.cpu(), first.state_dict["inc.0.weight"])
    three = painted.copy()
    three[:5, :5] = 3
    fresh = Trainer([rgb], [three], config=cfg, init=first)
    assert "started fresh" in fresh.note and fresh.model_config.n_classes == 3


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.zeros((128, 128), np.uint8), "nothing is painted"),
        (np.full((128, 128), 2, np.uint8), "only label 2"),
        (np.ones((100, 128), np.uint8), "do not match"),
    ],
)
def test_bad_labels_are_clear_errors(nuclei_case, labels, message):
    image, _, _ = nuclei_case
    with pytest.raises(ImageError, match=message):
        Trainer([image], [labels])


def test_nan_pixels_are_refused(nuclei_case):
    image, _, painted = nuclei_case
    bad = image.copy()
    bad[0, 3, 3] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        Trainer([bad], [painted])


def test_thread_setting_applies_while_training_and_is_restored(nuclei_case):
    image, _, painted = nuclei_case
    before = torch.get_num_threads()
    trainer = Trainer([image], [painted], model=ModelConfig(depth=1, base_width=4),
                      config=TrainConfig(steps=2, seconds=None, batch_size=1, patch_size=16, threads=1))
    seen = [torch.get_num_threads() for _ in trainer.steps()]
    assert seen == [1, 1]
    assert torch.get_num_threads() == before


def test_a_model_of_the_other_mode_is_not_fine_tuned(nuclei_case):
    image, truth, painted = nuclei_case
    cfg = TrainConfig(steps=1, seconds=None, batch_size=1, patch_size=16)
    small = ModelConfig(depth=1, base_width=4)
    three = painted.copy()
    three[:4, :4] = 3  # a 3-class semantic model has the same shape as an instance model
    semantic = drain(fit([image], [three], model=small, config=cfg))
    inst_cfg = TrainConfig(steps=1, seconds=None, batch_size=1, patch_size=16, mode="instance")
    again = Trainer([image], [truth], model=small, config=inst_cfg, init=semantic)
    assert "semantic model" in again.note and again.init is None
