"""Starter models: choosing one, fine-tuning it from strokes, and the shipped ones."""

import dataclasses

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, TrainConfig
from napari_unet.core.files import starters
from napari_unet.core.files.bundle import BundleError, save_bundle
from napari_unet.core.grayscale import chw_dark_on_bright
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.progress import drain
from napari_unet.core.training import start
from napari_unet.core.training.losses import masked_cross_entropy
from napari_unet.core.training.train import Trainer
from napari_unet.synthetic import nuclei, simulate_painting


@pytest.fixture(scope="module")
def fake_starters(tmp_path_factory):
    """A folder with two tiny 3-class starters: ``good`` (trained on synthetic nuclei) and
    ``inverted`` (trained on the same nuclei shown dark on bright: wrong for fluorescence).
    300 steps: at 150, ``good`` matched the strokes at 0.56-0.6, on the floor of auto."""
    folder = tmp_path_factory.mktemp("starters")
    image, truth = nuclei((128, 128), n=12, seed=3)
    for name, img in (("good", image), ("inverted", image.max() - image)):
        trainer = Trainer([img[None]], [truth], model=ModelConfig(depth=2, base_width=8),
                          config=TrainConfig(mode="instance", steps=300, seconds=None, threads=1))
        bundle = drain(trainer.steps())
        bundle = starters.as_starter(bundle, name)
        bundle.info.update(title=f"{name} test starter", card=f"# {name}\nLicence: CC0")
        save_bundle(bundle, folder / f"{name}.unet")
    return folder


@pytest.fixture
def use_fake(fake_starters, monkeypatch):
    monkeypatch.setattr(starters, "STARTERS_DIR", fake_starters)
    return fake_starters


@pytest.fixture(scope="module")
def strokes():
    image, truth = nuclei((128, 128), n=12, seed=5)
    painted = simulate_painting(truth, n_objects=6, n_background_strokes=6, seed=0)
    return image[None], truth, painted


def test_marginal_loss_is_cross_entropy_of_interior_plus_border():
    """Strokes of foreground train P(interior) + P(border); background trains P(background)."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, 5)
    target = torch.randint(-1, 2, (2, 5, 5))
    loss = masked_cross_entropy(logits, target, groups=[[0], [1, 2]])
    p = torch.softmax(logits, 1)
    merged = torch.stack([p[:, 0], p[:, 1] + p[:, 2]], 1)
    valid = target >= 0
    picked = merged.gather(1, target.clamp_min(0).unsqueeze(1)).squeeze(1)
    expected = -torch.log(picked[valid]).mean()
    assert torch.allclose(loss, expected, atol=1e-5)


def test_scribbles_on_a_starter_keep_its_three_classes_and_give_objects(use_fake, strokes):
    image, truth, painted = strokes
    init = starters.load_starter("good")
    trainer = Trainer([image], [painted], config=TrainConfig(steps=30, seconds=None, threads=1),
                      init=init)
    assert trainer.groups == [[0], [1, 2]] and trainer.model_config.n_classes == 3
    bundle = drain(trainer.steps())
    assert bundle.mode == "instance"
    assert bundle.class_names == ["background", "interior", "border"]
    assert bundle.info["started_from"] == "starter good"
    pred = predict_image(image, bundle)
    fg = pred.probabilities[1] + pred.probabilities[2]
    assert np.allclose(fg, 1 - pred.probabilities[0], atol=1e-5)


def test_the_trained_weights_end_the_starter_share_of_the_way_back_to_the_start(use_fake, strokes):
    """``starter_share`` s: weights = start + (1 - s) x (trained - start) (issue 21, item 5);
    0 keeps the trained weights, 1 the starter's."""
    image, _, painted = strokes
    init = starters.load_starter("good")
    ends = {}
    for share in (0.0, 0.5, 1.0):
        config = TrainConfig(steps=6, seconds=None, threads=1, keep_best=False,
                             starter_share=share)
        trainer = Trainer([image], [painted], config=config, init=init)
        ends[share] = drain(trainer.steps()).state_dict
    start_w = init.state_dict
    moved = [k for k, v in ends[0.0].items() if v.is_floating_point()
             and not torch.equal(v, start_w[k])]
    assert moved  # training changed the weights, so the blend can be told apart
    for k in moved:
        assert torch.allclose(ends[0.5][k], (start_w[k] + ends[0.0][k]) / 2, atol=1e-6)
        assert torch.allclose(ends[1.0][k], start_w[k], atol=1e-6)


def test_thresholds_are_fitted_to_painted_whole_objects_only_when_asked(use_fake):
    """Fitting the post-processing to ten painted objects lowered F1 on the user's other
    images (docs/benchmarks.md): it is off unless ``fit_thresholds`` is set."""
    image, truth = nuclei((128, 128), n=12, seed=5)
    init = starters.load_starter("good")
    for fit in (False, True):
        config = TrainConfig(mode="instance", steps=4, seconds=None, threads=1,
                             fit_thresholds=fit)
        trainer = Trainer([image[None]], [truth], config=config, init=init)
        assert (trainer._objects is not None) == fit
        drain(trainer.steps())


def test_more_than_two_classes_get_a_new_head_on_the_starters_body(use_fake, strokes):
    image, _, painted = strokes
    three = painted.copy()
    three[:6, :40] = 3
    init = starters.load_starter("good")
    trainer = Trainer([image], [three], config=TrainConfig(steps=1, seconds=None, threads=1),
                      init=init)
    assert trainer.model_config.n_classes == 3 and trainer.groups is None
    state = trainer.model.state_dict()
    body = [k for k in init.state_dict if not k.startswith("head.")]
    assert body and all(torch.equal(state[k].cpu(), init.state_dict[k]) for k in body[:4])
    assert "new output layer" in trainer.note


def test_auto_picks_the_starter_that_fits_the_painting(use_fake, strokes):
    image, _, painted = strokes
    choice = start.resolve_start("auto", None, start.Painting([image], [painted]))
    assert choice.name == "good", choice.message
    assert choice.scores["good"] > choice.scores["inverted"]
    assert "good starter" in choice.message and "IoU" in choice.message


def test_auto_trains_from_scratch_when_no_starter_fits(use_fake, strokes, monkeypatch):
    image, _, painted = strokes
    monkeypatch.setattr(start, "AUTO_MIN_SCORE", 1.01)
    choice = start.resolve_start("auto", None, start.Painting([image], [painted]))
    assert choice.bundle is None and "from scratch" in choice.message


def test_auto_fine_tunes_the_starter_made_for_stained_tissue_on_dark_on_bright_images(
        use_fake, strokes, monkeypatch):
    """On dark objects on a bright background, ``auto`` fine-tunes the starter made for them
    when it finds some of the painting, even where another starter matches the painting
    better before training (fine-tuned from it, the colour images scored 0.09-0.13 F1
    lower, docs/benchmarks.md); elsewhere, or when it finds too little, the best match."""
    from napari_unet.core.files.lineage import starter_name

    image, truth, painted = strokes
    dark = image.max() - image  # the same nuclei, dark on a bright background
    assert chw_dark_on_bright(dark) and not chw_dark_on_bright(image)
    monkeypatch.setattr(start, "FOR_DARK_ON_BRIGHT", "inverted")
    fake = {"good": 0.69}
    monkeypatch.setattr(start, "zero_shot_score",
                        lambda bundle, *a, **k: fake[starter_name(bundle.lineage) or "mine"])

    def choose(img, labels, mode, inverted):
        fake["inverted"] = inverted
        return start.resolve_start("auto", None, start.Painting([img], [labels]), mode)

    suited = choose(dark, truth, "instance", 0.42)  # under the general floor of 0.5
    assert (suited.name, suited.reason) == ("inverted", start.SUITS_IMAGES)
    assert suited.bundle is not None and "stained tissue and brightfield" in suited.message
    assert "good 0.69" in suited.message
    assert choose(dark, truth, "instance", 0.25).name == "good"  # finds too little
    assert choose(image, truth, "instance", 0.42).reason == start.BEST_FIT  # fluorescence
    assert choose(dark, painted, "semantic", 0.7).name == "inverted"
    assert choose(dark, painted, "semantic", 0.55).name == "good"  # strokes: the usual floor
    current = dataclasses.replace(starters.load_starter("good"), lineage=["scratch"])
    fake["mine"] = 0.9  # the user's own model still wins when it fits best
    kept = start.resolve_start("auto", current, start.Painting([dark], [truth]), "instance")
    assert kept.name == start.CURRENT_MODEL


def test_auto_with_more_classes_trains_from_scratch(use_fake, strokes):
    image, _, painted = strokes
    three = painted.copy()
    three[:6, :40] = 3
    choice = start.resolve_start("auto", None, start.Painting([image], [three]))
    assert choice.bundle is None and "classes" in choice.message


def test_none_and_names_and_files(use_fake, strokes, tmp_path):
    image, _, painted = strokes
    assert start.resolve_start("none", None, start.Painting([image], [painted])).bundle is None
    data = start.Painting([image], [painted])
    assert start.resolve_start("inverted", None, data).name == "inverted"
    path = tmp_path / "m.unet"
    save_bundle(starters.load_starter("good"), path)
    assert start.resolve_start(str(path), None, data).bundle is not None
    with pytest.raises(BundleError, match="good, inverted"):
        starters.load_model("no-such-starter")


def test_one_decision_says_why_as_data(use_fake, strokes):
    """resolve_start is the decision of the docks, the command line and the API: its reason
    is data, and what goes without saying is quiet (issue 25, item 2)."""
    image, _, painted = strokes
    data = start.Painting([image], [painted])
    best = start.resolve_start("auto", None, data)
    assert best.reason == start.BEST_FIT and best.starter == "good" and not best.quiet
    named = start.resolve_start("good", None, data)
    assert named.reason == start.ASKED and named.starter == "good" and not named.quiet
    none = start.resolve_start("none", best.bundle, data)
    assert none.bundle is None and none.reason == start.ASKED and none.quiet
    current = start.resolve_start("current", best.bundle, data)
    assert current.bundle is best.bundle and current.quiet
    assert start.resolve_start("current", None, data).reason == start.NO_CURRENT
    sized = start.resolve_start("auto", None, data, size_given=True)
    assert sized.bundle is None and sized.reason == start.SIZE_GIVEN and not sized.quiet
    volume = start.Painting([image[:, None]], [painted[None]], three_d=True)
    nothing = start.resolve_start("auto", None, volume)
    assert nothing.bundle is None and nothing.reason == start.NOTHING_TO_TRY and nothing.quiet
    assert start.goes_without_saying("auto", True) and not start.goes_without_saying("auto", False)
    flat = start.resolve_start("good", None, volume)
    assert flat.bundle is None and flat.reason == start.NOT_3D and "2-D" in flat.message


def test_whole_objects_are_scored_in_the_margin_training_uses(use_fake, monkeypatch):
    """The annotated area around painted objects is the one training takes (the dock's
    margin setting, TrainConfig.targets.region_margin), for every shell: the command line scored in
    16 px whatever the setting."""
    seen = []
    monkeypatch.setattr(start, "zero_shot_score",
                        lambda b, ims, labs, mode, regions: seen.append(regions) or 0.9)
    labels = np.zeros((64, 64), np.int32)
    labels[30:34, 30:34] = 1
    image = np.zeros((1, 64, 64), np.float32)
    for margin in (4, 16):
        start.resolve_start("auto", None, start.Painting([image], [labels], margin=margin),
                            "instance")
    small, large = seen[0][0], seen[-1][0]
    assert small.sum() == 12 * 12 and large.sum() == 36 * 36


def test_init_none_reproduces_training_from_scratch(strokes):
    """``--init none`` is today's training: the same weights as a Trainer without init."""
    image, _, painted = strokes
    cfg = TrainConfig(steps=5, seconds=None, threads=1)
    a = drain(Trainer([image], [painted], config=cfg).steps())
    choice = start.resolve_start("none", None, start.Painting([image], [painted]))
    b = drain(Trainer([image], [painted], config=cfg, init=choice.bundle).steps())
    assert a.model_config == b.model_config and a.mode == b.mode == "semantic"
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


def test_fine_tuning_never_ends_below_the_starter_on_held_out_strokes(use_fake, strokes):
    image, _, painted = strokes
    init = starters.load_starter("inverted")  # a poor start that training may or may not beat
    for lr in (2e-3, 0.5):  # 0.5 wrecks the weights: the starter must be kept
        trainer = Trainer([image], [painted], init=init, config=TrainConfig(
            steps=20, seconds=None, threads=1, learning_rate=lr, validation_every=0))
        assert trainer.validator is not None
        drain(trainer.steps())
        assert trainer.start_score is not None
        assert trainer.validation >= trainer.start_score


def test_colour_image_with_a_grayscale_starter_is_its_luminance(use_fake, strokes):
    image, _, painted = strokes
    rgb = np.concatenate([image * 0.9, image, image * 1.1])
    init = starters.load_starter("good")
    trainer = Trainer([rgb], [painted], config=TrainConfig(steps=2, seconds=None, threads=1),
                      init=init)
    assert trainer.model_config.in_channels == 1 and "luminance" in trainer.note
    bundle = drain(trainer.steps())
    assert predict_image(rgb, bundle).labels.shape == image.shape[1:]


def test_shipped_starters_load_and_carry_their_cards():
    names = starters.starter_names()
    assert {"nuclei", "cells"} <= set(names)
    for name in names:
        bundle = starters.load_starter(name)
        assert bundle.info["starter"] == name
        assert bundle.mode == "instance" and bundle.model_config.n_classes == 3
        card = starters.card_text(bundle)
        for part in ("Training data", "Licence", "Cite", "Trained with", "Scores", "Not for"):
            assert part in card, (name, part)
        assert starters.starter_path(name).stat().st_size <= 10 * 2**20


def test_shipped_nuclei_starter_is_what_auto_picks_on_synthetic_nuclei(strokes):
    image, _, painted = strokes
    choice = start.resolve_start("auto", None, start.Painting([image], [painted]))
    assert choice.name == "nuclei", choice.message


def test_keeping_the_starter_costs_nothing_where_the_model_agrees_with_it():
    """The KL term is 0 when the model predicts the starter's probabilities, and on painted
    foreground it only looks at the split of interior against border."""
    from napari_unet.core.training.losses import starter_kl

    torch.manual_seed(1)
    soft = torch.softmax(torch.randn(2, 3, 6, 6), 1)
    target = torch.full((2, 6, 6), -1)
    assert starter_kl(soft.log(), soft, target).abs() < 1e-5
    target[:, :3] = 1  # painted foreground: interior + border
    logits = soft.log().clone()
    logits[:, 0] += 5.0  # more background changes nothing inside the foreground group
    assert starter_kl(logits, soft, target, groups=[[0], [1, 2]]) > 0  # unpainted part moved
    target[:] = 1
    assert starter_kl(logits, soft, target, groups=[[0], [1, 2]]).abs() < 1e-5
    logits[:, 2] += 1.0  # a different interior/border split does count
    assert starter_kl(logits, soft, target, groups=[[0], [1, 2]]) > 1e-3


def test_fine_tuning_a_starter_keeps_its_batch_norm_statistics(use_fake, strokes):
    image, _, painted = strokes
    init = starters.load_starter("good")
    trainer = Trainer([image], [painted], init=init,
                      config=TrainConfig(steps=5, seconds=None, threads=1, validation_fraction=0))
    bundle = drain(trainer.steps())
    stats = [k for k in init.state_dict if k.endswith("running_mean") or k.endswith("running_var")]
    assert stats and all(torch.equal(bundle.state_dict[k], init.state_dict[k]) for k in stats)
    weights = [k for k in init.state_dict if k.endswith("conv.weight") or k.endswith(".0.weight")]
    assert any(not torch.equal(bundle.state_dict[k], init.state_dict[k]) for k in weights)


def test_new_painting_on_the_same_image_reuses_the_starters_predictions(use_fake, strokes,
                                                                           monkeypatch):
    """Live mode hands the labels over every few seconds: the starter's soft targets of an
    unchanged image are not predicted again."""
    from napari_unet.core.inference import predict

    image, _, painted = strokes
    trainer = Trainer([image], [painted], init=starters.load_starter("good"),
                      config=TrainConfig(steps=2, seconds=None, threads=1, validation_fraction=0))
    calls = []
    real = predict.predict_normalized
    monkeypatch.setattr(predict, "predict_normalized", lambda *a, **k: calls.append(1) or real(*a, **k))
    more = painted.copy()
    more[:4, :4] = 1
    trainer.set_labels([image], [more])
    assert calls == []
    trainer.set_labels([image[:, ::-1].copy()], [more[::-1].copy()])  # another image: predicted
    assert calls == [1]


def _stained(seed=0):
    """A small H&E-like colour image: purple nuclei on a pink background."""
    from napari_unet.synthetic import nuclei

    _, truth = nuclei((96, 96), n=8, seed=seed)
    rgb = np.empty((96, 96, 3), np.uint8)
    rgb[:] = (232, 190, 212)
    rgb[truth > 0] = (92, 60, 140)
    return rgb


def _phase_contrast(seed=0):
    """A small phase-contrast-like image: dark cells with bright halos on a mid-grey
    background."""
    from scipy import ndimage as ndi

    from napari_unet.synthetic import nuclei

    _, truth = nuclei((96, 96), n=8, seed=seed)
    rng = np.random.default_rng(seed)
    image = rng.normal(120, 4, (96, 96))
    halo = ndi.binary_dilation(truth > 0, iterations=2) & (truth == 0)
    image[truth > 0] -= 45
    image[halo] += 60
    return np.clip(image, 0, 255).astype(np.uint8)


def test_with_no_painting_a_colour_or_brightfield_image_is_offered_the_stained_starter(
        monkeypatch):
    from napari_unet.core.files import starters
    from napari_unet.synthetic import nuclei

    monkeypatch.setattr(starters, "starter_names", lambda: ["cells", "nuclei", "stained"])
    fluorescence, _ = nuclei((96, 96), n=8, seed=1)
    assert starters.suggest_starter(_stained()) == "stained"
    assert starters.suggest_starter(fluorescence.max() - fluorescence) == "stained"  # brightfield
    assert starters.suggest_starter(fluorescence) == "nuclei"
    assert starters.suggest_starter(np.repeat(fluorescence[..., None], 3, -1)) == "nuclei"
    noisy = fluorescence.astype(np.float32) + np.random.default_rng(0).normal(0, 0.15, fluorescence.shape)
    assert starters.suggest_starter(noisy) == "nuclei"  # a noisy dark background is not grey
    assert starters.suggest_starter(_phase_contrast()) == "cells"
    monkeypatch.setattr(starters, "starter_names", lambda: ["nuclei"])
    assert starters.suggest_starter(_phase_contrast()) is None
    assert starters.suggest_starter(_stained()) is None  # not installed: nothing suggested


def test_with_whole_objects_painted_starters_are_scored_by_their_objects():
    """auto, whole objects painted: each starter is scored by how well its own objects match
    the painted ones (at the size it learnt); the right polarity wins, the wrong one cannot
    find the objects."""
    from napari_unet.synthetic import nuclei

    image, truth = nuclei((128, 128), n=10, seed=2)
    painted = np.where(np.isin(truth, np.unique(truth)[1:7]), truth, 0).astype(np.uint16)
    fluo = start.zero_shot_score(starters.load_starter("nuclei"), [image[None]], [painted],
                                    "instance")
    wrong = start.zero_shot_score(starters.load_starter("stained"), [image[None]], [painted],
                                     "instance")
    assert fluo > start.AUTO_MIN_OBJECTS > wrong
    choice = start.resolve_start("auto", None, start.Painting([image[None]], [painted]), "instance")
    assert choice.name == "nuclei"


def test_the_median_diameter_counts_the_objects_of_each_image_apart():
    from napari_unet.core.inference.object_size import median_diameter

    a = np.zeros((20, 20), int)
    a[:4, :4] = 1  # 16 px
    b = np.zeros((20, 20), int)
    b[:4, :4] = 1  # another image's object 1, 16 px: not one object of 32 px
    d, n = median_diameter([a, b])
    assert n == 2 and d == pytest.approx(2 * np.sqrt(16 / np.pi))


def test_strokes_on_large_nuclei_are_scored_at_the_size_the_starter_learnt():
    """Strokes on nuclei about 3x the nuclei starter's size: the starter is scored as training
    and prediction will use it, on the image and strokes resized to its own object size, and
    auto fine-tunes it."""
    image, truth = nuclei((384, 384), n=10, radius=(24.0, 30.0), seed=4)
    painted = simulate_painting(truth, n_objects=6, n_background_strokes=6, seed=0, erode=4)
    bundle = starters.load_starter("nuclei")
    (small,), (strokes_small,) = start._strokes_at_starter_size(bundle, [image[None]], [painted])
    f = small.shape[-1] / 384
    assert 0.25 < f < 0.5  # nuclei ~54 px across brought to ~18 px
    assert strokes_small.shape == small.shape[-2:] and set(np.unique(strokes_small)) == {0, 1, 2}
    data = start.Painting([image[None]], [painted])
    assert start.resolve_start("auto", None, data).name == "nuclei"


@pytest.mark.parametrize("name", starters.starter_names())
def test_the_shipped_starters_training_settings_load_into_their_groups(name):
    """The starters are files of format 1 or 3 (training settings stored flat) or 4 (retrained
    since the settings were grouped: stored by group): each one known is read into its group
    with its value (runtime ones are not kept)."""
    import json

    from napari_unet.core.config import group_of, settings_of
    from napari_unet.core.files.bundle import _read_metadata

    meta = _read_metadata(starters.starter_path(name).read_bytes())
    assert meta["format_version"] in ("1", "3", "4")
    stored = json.loads(meta["train_config"])
    if meta["format_version"] == "4":
        assert "runtime" not in stored
        stored = {k: v for group in stored.values() for k, v in group.items()}
    bundle = starters.load_starter(name)
    runtime = {f.name for f in group_of(TrainConfig, "runtime")}
    kept = {f.name: f.metadata["group"] for f in settings_of(TrainConfig)
            if f.name in stored and f.name not in runtime}
    assert len(kept) >= 25 and "runtime" not in bundle.train_config
    for key, group in kept.items():
        assert bundle.train_config[group][key] == stored[key]
        assert getattr(getattr(bundle.train, group), key) == stored[key]
    assert bundle.mode == stored["mode"] == "instance"
