"""Each setting declares its default, range and help once, on its config field; the command
line's options, the config's checks and the Train dock's spin boxes are made from it, so
they cannot disagree (issue 25, item 5)."""

from argparse import Namespace

import pytest

from napari_unet.cli import build_parser
from napari_unet.cli_checks import SETTINGS, CLIError, check_numbers
from napari_unet.core.config import (
    ConfigError,
    ModelConfig,
    PredictConfig,
    TrainConfig,
    bounds,
    default_of,
    help_of,
)


def _subparsers():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices


def _setting_of(command: str, dest: str):
    if dest == "device":
        return (PredictConfig if command == "predict" else TrainConfig), "device"
    return SETTINGS.get(dest)


def test_every_option_of_a_setting_has_the_configs_default_and_help():
    seen = set()
    for command, sub in _subparsers().items():
        for action in sub._actions:
            setting = _setting_of(command, action.dest)
            if setting is None:
                continue
            seen.add(action.dest)
            default = default_of(*setting)
            assert action.default in (default, None), (command, action.dest)
            if action.default is None and default is not None:  # not given: the config decides
                shown = f"{default:g}" if isinstance(default, float) else f"{default}"
                assert f"{shown})" in action.help, (command, action.dest, action.help)
            assert help_of(*setting) in action.help
    assert seen == set(SETTINGS) | {"device"}


def test_the_command_line_takes_the_configs_defaults():
    args = build_parser().parse_args(["train", "a.tif", "--labels", "b.tif", "--out", "m.unet"])
    for dest in ("batch_size", "patch_size", "seed", "mode", "device"):
        assert getattr(args, dest) == default_of(*_setting_of("train", dest))
    demo = build_parser().parse_args(["demo"])
    assert demo.seconds == TrainConfig().budget.seconds and demo.device == TrainConfig().runtime.device


def _outside(cls, name):
    low, high = bounds(cls, name)
    return high + 1 if high is not None else low - 1


@pytest.mark.parametrize("dest", [d for d, field in SETTINGS.items()
                                  if bounds(*field) != (None, None)])
def test_a_value_out_of_range_is_refused_in_the_same_words_by_config_and_command_line(dest):
    cls, name = SETTINGS[dest]
    value = _outside(cls, name)
    given = {"spatial_dims": 3} if name == "anisotropy" else {}
    with pytest.raises(ConfigError) as config:
        cls(**given, **{name: value})
    with pytest.raises(CLIError) as cli:
        check_numbers(Namespace(**{dest: value}))
    flag = "--" + dest.replace("_", "-")
    assert str(config.value) == str(cli.value).replace(flag, name, 1)
    low, high = bounds(cls, name)
    assert f"between {low} and {high}, not {value}" in str(cli.value)


def test_the_anisotropy_has_one_range_everywhere():
    assert bounds(ModelConfig, "anisotropy") == (1, 64)
    ModelConfig(spatial_dims=3, anisotropy=64)
    with pytest.raises(ConfigError, match="anisotropy must be between 1 and 64, not 65"):
        ModelConfig(spatial_dims=3, anisotropy=65)


def test_every_training_setting_is_in_the_group_it_declares():
    """TrainConfig is made of its groups (budget, optimiser, ...), each a dataclass whose
    settings declare that group; the runtime ones are those a model file leaves out."""
    from dataclasses import fields

    from napari_unet.core.config import (
        TRAIN_GROUP_CLASSES,
        TRAIN_GROUPS,
        group_of,
        settings_of,
        without_runtime,
    )

    assert tuple(f.name for f in fields(TrainConfig)) == TRAIN_GROUPS == tuple(TRAIN_GROUP_CLASSES)
    for name, group in TRAIN_GROUP_CLASSES.items():
        assert fields(group) and all(f.metadata["group"] == name for f in fields(group))
        assert group_of(TrainConfig, name) == list(fields(group))
    assert [f.name for f in group_of(TrainConfig, "runtime")] == ["amp", "device", "threads"]
    names = [f.name for f in settings_of(TrainConfig)]
    assert len(names) == len(set(names)) == 35  # a setting's name is unique across groups
    assert set(without_runtime(TrainConfig, TrainConfig().to_dict())) == set(TRAIN_GROUPS) - {"runtime"}


def test_every_number_of_training_declares_a_range_that_holds_its_default():
    """No training number is unbounded (only ``threads`` has no upper end: the machine's
    cores), every default lies in its range, and a value past either end is refused in the
    config's words."""
    from napari_unet.core.config import settings_of, type_of

    numbers = []
    for f in settings_of(TrainConfig):
        hint = type_of(TrainConfig, f.name)
        if {int, float} & set(getattr(hint, "__args__", (hint,))):
            numbers.append(f.name)
    assert {"weight_decay", "elastic_sigma", "elastic_grid", "noise", "self_supervised",
            "keep_starter", "starter_share", "validation_fraction"} <= set(numbers)
    for name in numbers:
        low, high = bounds(TrainConfig, name)
        assert low is not None and (high is not None or name == "threads"), name
        default = default_of(TrainConfig, name)
        assert default is None or low <= default <= (high if high is not None else default), name
        if high is not None:
            with pytest.raises(ConfigError, match=f"{name} must be between"):
                TrainConfig(**{name: high * 2 + 1})


def test_the_ranges_hold_the_shipped_starters_recipes():
    """Every setting the shipped starters were trained with is inside today's ranges (they
    load, and their recipe can be given again)."""
    from napari_unet.core.files.starters import load_starter, starter_names

    for name in starter_names():
        TrainConfig.from_dict(load_starter(name).train_config)
