"""A model file says what it is: its lineage and its input are typed fields (format 3), and
behaviour follows them, not a substring of its provenance (issue 25, item 2). Files of
formats 1 and 2, the shipped starters among them, load with the lineage and input that their
provenance described, and give the answers they gave before."""

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, NormConfig, TrainConfig
from napari_unet.core.files.bundle import (
    Bundle,
    BundleError,
    _read_metadata,
    load_bundle,
    save_bundle,
    starter_based,
    takes_luminance,
)
from napari_unet.core.files.lineage import from_info
from napari_unet.core.files.starters import load_starter, starter_names
from napari_unet.core.networks.model import UNet


def _bundle(channels=1, **kwargs):
    torch.manual_seed(0)
    cfg = ModelConfig(base_width=4, depth=2, in_channels=channels)
    return Bundle(cfg, NormConfig(), dict(UNet(cfg).state_dict()), **kwargs)


def _as_format(path, version: int, **meta_changes):
    """Rewrite the model file at ``path`` as a file of ``version`` (format 1 and 2 files have
    no ``lineage`` and ``input``)."""
    from safetensors.torch import load_file, save_file

    meta = _read_metadata(path.read_bytes())
    meta["format_version"] = str(version)
    if version < 3:
        del meta["lineage"], meta["input"]
    meta.update(meta_changes)
    save_file(load_file(path), str(path), metadata=meta)
    return path


def _old_rule(info) -> bool:
    """How format 1 and 2 provenance was read: a substring test."""
    return "starter" in info or "starter" in str(info.get("started_from", ""))


@pytest.mark.parametrize("info, lineage", [
    ({}, ["scratch"]),
    ({"starter": "nuclei"}, ["starter:nuclei"]),
    ({"started_from": "starter nuclei"}, ["starter:nuclei", "fine-tuned"]),
    ({"started_from": "a trained model (from starter cells)"},
     ["starter:cells", "fine-tuned", "fine-tuned"]),
    ({"started_from": "a trained model (from a trained model)"},
     ["unknown", "fine-tuned", "fine-tuned"]),
    ({"started_from": "a trained model"}, ["unknown", "fine-tuned"]),
    ({"started_from": "my own starter model"}, ["starter:unnamed", "fine-tuned"]),
    ({"started_from": "yesterday's model"}, ["unknown", "fine-tuned"]),
])
def test_an_old_file_loads_with_the_lineage_its_provenance_described(tmp_path, info, lineage):
    path = _as_format(save_bundle(_bundle(info=info), tmp_path / "m.unet"), 1)
    bundle = load_bundle(path)
    assert bundle.lineage == lineage
    assert starter_based(bundle) == _old_rule(info)
    assert takes_luminance(bundle) == _old_rule(info)  # grayscale: as before
    assert bundle.input == ("luminance" if _old_rule(info) else "channels")


def test_an_old_colour_model_based_on_a_starter_takes_its_channels(tmp_path):
    path = _as_format(save_bundle(_bundle(3, info={"started_from": "starter nuclei"}),
                                  tmp_path / "m.unet"), 2)
    bundle = load_bundle(path)
    assert starter_based(bundle) and not takes_luminance(bundle) and bundle.input == "channels"


@pytest.mark.parametrize("name", starter_names())
def test_the_shipped_starters_say_they_are_starters_and_take_luminance(name):
    """Format 1 (stained: its lineage read from its text), 3 (nuclei) or 4 (cells), both
    retrained since and written typed; the same answers either way."""
    from napari_unet.core.files.starters import genuine_starter, starter_path

    assert _read_metadata(starter_path(name).read_bytes())["format_version"] in ("1", "3", "4")
    bundle = load_starter(name)
    assert bundle.lineage == [f"starter:{name}"] and bundle.input == "luminance"
    assert starter_based(bundle) and takes_luminance(bundle) and genuine_starter(bundle) == name


def test_lineage_and_input_round_trip(tmp_path):
    """Behaviour follows the typed fields: a file that says luminance takes luminance,
    whatever its provenance text says."""
    bundle = _bundle(lineage=["scratch", "fine-tuned"], input="luminance",
                     info={"started_from": "starter nuclei"})
    loaded = load_bundle(save_bundle(bundle, tmp_path / "m.unet"))
    assert loaded.lineage == ["scratch", "fine-tuned"] and loaded.input == "luminance"
    assert takes_luminance(loaded) and not starter_based(loaded)


@pytest.mark.parametrize("meta, field", [
    ({"lineage": '"starter:nuclei"'}, "lineage"),
    ({"lineage": "[1, 2]"}, "lineage"),
    ({"lineage": "null"}, "lineage"),
    ({"input": "rgb"}, "input"),
])
def test_a_bad_lineage_or_input_is_refused(tmp_path, meta, field):
    path = _as_format(save_bundle(_bundle(), tmp_path / "m.unet"), 3, **meta)
    with pytest.raises(BundleError, match=rf"damaged.*{field}"):
        load_bundle(path)


def test_a_colour_model_cannot_claim_luminance(tmp_path):
    path = _as_format(save_bundle(_bundle(3), tmp_path / "m.unet"), 3, input="luminance")
    with pytest.raises(BundleError, match="input is luminance"):
        load_bundle(path)


def test_a_model_fine_tuned_from_a_starter_is_still_starter_based(tmp_path):
    """Two steps from the nuclei starter on a colour image: the new model's lineage begins
    at the starter, it takes luminance, and a model fine-tuned from it too."""
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train import Trainer
    from napari_unet.synthetic import nuclei, simulate_painting

    image, truth = nuclei((96, 96), n=8, seed=1)
    painted = simulate_painting(truth, n_objects=4, n_background_strokes=4, seed=0)
    colour = np.repeat(image[None], 3, axis=0)
    config = TrainConfig(steps=2, seconds=None, batch_size=2, patch_size=32,
                         validation_fraction=0.0, threads=1)
    first = drain(Trainer([colour], [painted], init=load_starter("nuclei"),
                          config=config).steps())
    first = load_bundle(save_bundle(first, tmp_path / "first.unet"))
    assert first.lineage == ["starter:nuclei", "fine-tuned"]
    assert starter_based(first) and takes_luminance(first) and first.model_config.in_channels == 1
    second = drain(Trainer([colour], [painted], init=first, config=config).steps())
    assert second.lineage == ["starter:nuclei", "fine-tuned", "fine-tuned"]
    assert starter_based(second) and takes_luminance(second)


def test_a_model_trained_from_a_changed_starter_does_not_inherit_the_claim(tmp_path):
    """Weights that are not the shipped starter's: the new model began at an unknown model."""
    from napari_unet.core.files.starters import lineage_after

    bundle = load_starter("nuclei")
    key = next(k for k in bundle.state_dict if k.endswith("weight"))
    bundle.state_dict[key] = bundle.state_dict[key] * 0.5
    assert lineage_after(bundle) == ["unknown", "fine-tuned"]
    assert lineage_after(load_starter("nuclei")) == ["starter:nuclei", "fine-tuned"]
    assert lineage_after(None) == ["scratch"]


def test_from_info_agrees_with_the_old_substring_rule_on_what_train_wrote():
    for info in ({}, {"starter": "x"}, {"started_from": "starter x"},
                 {"started_from": "a trained model (from a trained model (from starter x))"}):
        assert from_info(info)[0].startswith("starter:") == _old_rule(info)


def test_root_starter_names_the_starter_a_lineage_begins_at():
    """One helper says which starter a model began as, however often it was fine-tuned
    since; the narrower questions (is it a starter itself? does it begin at one?) ask it."""
    from napari_unet.core.files.lineage import root_starter, starter_name, starter_rooted

    cases = {
        ("starter:nuclei",): ("nuclei", "nuclei"),
        ("starter:nuclei", "fine-tuned", "fine-tuned"): ("nuclei", None),
        ("scratch", "fine-tuned"): (None, None),
        ("unknown", "fine-tuned"): (None, None),
        (): (None, None),
    }
    for lineage, (root, itself) in cases.items():
        assert root_starter(list(lineage)) == root
        assert starter_name(list(lineage)) == itself
        assert starter_rooted(list(lineage)) == (root is not None)
    assert root_starter(None) is None


def test_one_start_reads_the_shipped_starter_once(monkeypatch):
    """Choosing a starter, then training from it and taking two snapshots, compares its
    weights with the shipped file once (it was read again by every snapshot, twice)."""
    from napari_unet.core.files import starters
    from napari_unet.core.progress import drain
    from napari_unet.core.training.start import Painting, resolve_start
    from napari_unet.core.training.train import Trainer
    from napari_unet.synthetic import nuclei, simulate_painting

    reads = []
    real = starters.load_starter
    monkeypatch.setattr(starters, "load_starter", lambda name: reads.append(name) or real(name))
    image, truth = nuclei((64, 64), n=6, seed=1)
    painted = simulate_painting(truth, n_objects=3, n_background_strokes=3, seed=0)
    choice = resolve_start("nuclei", None, Painting([image[None]], [painted]))
    assert choice.starter == "nuclei"
    config = TrainConfig(steps=1, seconds=None, batch_size=2, patch_size=32,
                         validation_fraction=0.0, threads=1)
    trainer = Trainer([image[None]], [painted], init=choice.bundle, config=config)
    bundles = [drain(trainer.steps()), trainer.bundle()]
    assert reads == ["nuclei"]
    for b in bundles:
        assert b.lineage == ["starter:nuclei", "fine-tuned"]
        assert b.info["started_from"] == "starter nuclei"


def test_a_starter_changed_after_it_was_believed_is_no_longer_believed():
    """The answer is kept only while the weights are the ones compared: a tensor replaced,
    or changed in place, is compared again."""
    from napari_unet.core.files.starters import genuine_starter

    bundle = load_starter("nuclei")
    assert genuine_starter(bundle) == "nuclei"
    key = next(k for k in bundle.state_dict if k.endswith("weight"))
    bundle.state_dict[key].mul_(0.5)
    assert genuine_starter(bundle) is None
    bundle.state_dict[key].mul_(2.0)
    assert genuine_starter(bundle) == "nuclei"
    bundle.state_dict[key] = bundle.state_dict[key] + 1
    assert genuine_starter(bundle) is None
    bundle.lineage = ["starter:stained"]
    assert genuine_starter(bundle) is None
