"""TrainConfig is made of groups (issue 25, item 5): settings are read by group
(``config.budget.steps``), given by name (``TrainConfig(seconds=10, zoom=0.2)``, put in their
group), changed with :meth:`TrainConfig.replace`, and stored by group. A setting read without
its group is an error, never a silent second way in."""

import dataclasses

import pytest

from napari_unet.core.config import (
    Augmentation,
    Budget,
    ConfigError,
    TrainConfig,
    nested_settings,
    settings_of,
)

DEFAULTS_BEFORE_NESTING = {
    "steps": None, "seconds": 30.0, "batch_size": 8, "patch_size": 64, "learning_rate": 0.002,
    "weight_decay": 0.0001, "augment": True, "elastic": True, "elastic_sigma": 10.0,
    "elastic_grid": 3, "flips": True, "intensity_scale": 0.2, "intensity_shift": 0.1,
    "noise": 0.0, "zoom": 0.0, "gamma": 0.0, "blur": 0.0, "self_supervised": 1.0,
    "painted_fraction": 0.9, "class_balance": True, "amp": True, "seed": 0, "device": "auto",
    "threads": None, "mode": "semantic", "region_margin": 16, "border_w0": 10.0,
    "border_sigma": 5.0, "validation_fraction": 0.2, "validation_every": 2.0, "keep_best": True,
    "keep_starter": 3.0}
"""``TrainConfig().to_dict()`` when the settings were flat (format 3's train_config)."""
DEFAULTS = {**DEFAULTS_BEFORE_NESTING, "starter_share": 0.5, "fit_thresholds": False,
            "border_width": 0.0}
"""... and the three settings added since (issue 21: the share of the starter's weights kept
after fine-tuning, fitting the thresholds to painted objects, and the border's width)."""


def _flat(config: TrainConfig) -> dict:
    return {k: v for group in config.to_dict().values() for k, v in group.items()}


def test_the_defaults_are_those_of_the_flat_config():
    assert _flat(TrainConfig()) == DEFAULTS
    assert {f.name for f in settings_of(TrainConfig)} == set(DEFAULTS)


def test_settings_given_by_name_go_to_their_groups():
    config = TrainConfig(seconds=10, zoom=0.2, batch_size=4, mode="instance", device="cpu")
    assert config.budget == Budget(steps=None, seconds=10)
    assert config.augmentation.zoom == 0.2 and config.sampling.batch_size == 4
    assert config.targets.mode == "instance" and config.runtime.device == "cpu"
    assert config.optimiser == TrainConfig().optimiser  # the groups not named keep defaults
    whole = TrainConfig(augmentation=Augmentation(zoom=0.2), seconds=10)
    assert whole.augmentation.zoom == 0.2 and whole.budget.seconds == 10
    both = TrainConfig(augmentation=Augmentation(zoom=0.2), noise=0.1)  # the name wins in its group
    assert (both.augmentation.zoom, both.augmentation.noise) == (0.2, 0.1)


def test_an_unknown_setting_is_an_error_naming_the_known_ones():
    with pytest.raises(TypeError, match="no setting 'nosie'.*noise.*zoom.*budget, optimiser"):
        TrainConfig(nosie=0.1)
    with pytest.raises(TypeError, match="augmentation must be a Augmentation, not Budget"):
        TrainConfig(augmentation=Budget())


def test_a_setting_read_without_its_group_fails_and_says_where_it_is():
    config = TrainConfig()
    with pytest.raises(AttributeError, match=r"config\.augmentation\.zoom, not config\.zoom"):
        config.zoom  # noqa: B018
    with pytest.raises(AttributeError, match=r"config\.budget\.steps"):
        config.steps  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'banana'"):
        config.banana  # noqa: B018
    assert not hasattr(config, "batch_size") and hasattr(config.sampling, "batch_size")


def test_replace_changes_settings_by_name_or_whole_groups_and_leaves_the_original():
    config = TrainConfig(seconds=10)
    changed = config.replace(batch_size=4, steps=3)
    assert (changed.sampling.batch_size, changed.budget.steps, changed.budget.seconds) == (4, 3, 10)
    assert config.sampling.batch_size == 8 and config.budget.steps is None
    regrouped = config.replace(budget=dataclasses.replace(config.budget, steps=5, seconds=None))
    assert regrouped.budget == Budget(steps=5, seconds=None)
    assert changed.replace() == changed and config.replace(seconds=10) == config
    with pytest.raises(ConfigError, match="set a training budget"):
        config.replace(seconds=None)
    with pytest.raises(TypeError, match="no setting 'batch'"):
        config.replace(batch=4)


def test_configs_and_groups_are_frozen():
    config = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.budget.steps = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.budget = Budget(steps=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.zoom = 1.0  # not a way around the groups either


def test_each_group_checks_its_settings_with_the_flat_configs_words():
    for bad, words in [({"zoom": 3.0}, "zoom must be between 0.0 and 2.0, not 3"),
                       ({"seconds": float("nan")}, "seconds must be a finite number"),
                       ({"steps": "5"}, "steps must be a whole number or None"),
                       ({"mode": "objects"}, "unknown training mode 'objects'"),
                       ({"border_sigma": 0.0}, "border_sigma must be more than 0"),
                       ({"validation_fraction": 1.0}, "validation_fraction must be between 0.0 and 0.9"),
                       ({"device": "banana"}, "unknown device 'banana'"),
                       ({"steps": None, "seconds": None}, "set a training budget")]:
        with pytest.raises(ConfigError, match=words):
            TrainConfig(**bad)


def test_the_dict_is_by_group_and_round_trips_and_flat_dicts_still_read():
    config = TrainConfig(steps=5, seconds=None, zoom=0.5, mode="instance", threads=2, seed=None)
    stored = config.to_dict()
    assert list(stored) == ["budget", "optimiser", "sampling", "augmentation", "targets",
                            "validation", "regularisers", "runtime"]
    assert stored["augmentation"]["zoom"] == 0.5 and stored["runtime"]["threads"] == 2
    assert TrainConfig.from_dict(stored) == config
    flat = {**_flat(config), "retired_setting": 1}  # as files of formats 1 to 3 held it
    assert TrainConfig.from_dict(flat) == config
    assert nested_settings(flat) == stored
    assert TrainConfig.from_dict({}) == TrainConfig.from_dict(None) == TrainConfig()
    for bad in ({"sampling": {"batch_size": "8"}}, {"batch_size": "8"}, {"budget": [1]}, [1]):
        with pytest.raises(ConfigError):
            TrainConfig.from_dict(bad)
