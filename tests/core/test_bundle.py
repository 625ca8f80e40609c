import os

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import FORMAT_VERSION, Bundle, BundleError, load_bundle, save_bundle
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.networks.model import UNet


def _bundle(**model):
    torch.manual_seed(0)
    cfg = ModelConfig(base_width=4, depth=2, **model)
    return Bundle(cfg, NormConfig(mode="fixed", low=[0.0], high=[1.0]),
                  dict(UNet(cfg).state_dict()), info={"date": "2026-11-23", "steps": 5})


def test_bundle_round_trips_exactly(tmp_path):
    b = _bundle(padding="valid", dropout=0.1)
    path = save_bundle(b, tmp_path / "m.unet")
    c = load_bundle(path)
    assert c.model_config == b.model_config and c.norm == b.norm
    assert c.class_names == ["background", "foreground"] and c.info == b.info
    for k, v in b.state_dict.items():
        assert torch.equal(v, c.state_dict[k])
    image = np.random.default_rng(0).random((1, 40, 40)).astype(np.float32)
    np.testing.assert_array_equal(predict_image(image, b).probabilities,
                                  predict_image(image, c).probabilities)


def test_model_file_is_safetensors_not_pickle(tmp_path):
    path = save_bundle(_bundle(), tmp_path / "m.unet")
    raw = path.read_bytes()
    assert raw[8:9] == b"{"  # an 8-byte length, then a JSON header: no pickle
    n = int.from_bytes(raw[:8], "little")
    assert b'"format":"napari-unet"' in raw[8 : 8 + n]
    from safetensors.torch import load_file
    assert "head.weight" in load_file(path)


def test_crash_while_saving_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_bundle(_bundle(), tmp_path / "m.unet")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_bundle(_bundle(dropout=0.3), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.unet"]  # no temporary left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not_ours"])
def test_damaged_or_foreign_files_raise_bundle_error(tmp_path, damage):
    path = save_bundle(_bundle(), tmp_path / "m.unet")
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(1000))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        from safetensors.torch import save_file
        save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(BundleError):
        load_bundle(path)


def test_newer_format_is_refused_with_upgrade_hint(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    path = save_bundle(_bundle(), tmp_path / "m.unet")
    from napari_unet.core.files.bundle import _read_metadata
    meta = _read_metadata(path.read_bytes())
    meta["format_version"] = str(FORMAT_VERSION + 1)
    save_file(load_file(path), str(path), metadata=meta)
    with pytest.raises(BundleError, match="newer"):
        load_bundle(path)
    assert json.loads(meta["model_config"])["depth"] == 2


def test_missing_file_is_a_bundle_error(tmp_path):
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(tmp_path / "nope.unet")


def test_saved_model_files_get_the_usual_permissions(tmp_path):
    """Not mkstemp's 0600: a model saved to a shared folder is readable like any file."""
    mask = os.umask(0o022)
    try:
        path = save_bundle(_bundle(), tmp_path / "m.unet")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_temporaries_left_by_killed_saves_are_cleaned_up_later(tmp_path):
    path = save_bundle(_bundle(), tmp_path / "m.unet")
    stale, fresh = tmp_path / ".m.unet.abc.tmp", tmp_path / ".m.unet.def.tmp"
    other = tmp_path / ".other.unet.ghi.tmp"
    for f in (stale, fresh, other):
        f.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    os.utime(other, (0, 0))
    save_bundle(_bundle(), path)
    assert not stale.exists()  # an old leftover of this file's saves
    assert fresh.exists() and other.exists()  # maybe a save in progress; another file's


def test_model_files_are_format_4_for_2d_and_3d_models(tmp_path):
    """Format 3 records the lineage and the input; releases reading only 1 (2-D) and 2 (3-D)
    ask for an upgrade instead of taking the input from the provenance text. Format 4 stores
    the training settings by group; releases reading only 1 to 3 ask for an upgrade."""
    import json

    from napari_unet.core.networks.build import build_network

    cfg3 = ModelConfig(base_width=4, depth=2, spatial_dims=3)
    three_d = Bundle(cfg3, NormConfig(), dict(build_network(cfg3).state_dict()))
    for bundle in (_bundle(), three_d):
        raw = save_bundle(bundle, tmp_path / "m.unet").read_bytes()
        n = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8 : 8 + n])["__metadata__"]
        assert meta["format_version"] == "4" == str(FORMAT_VERSION)
        assert json.loads(meta["lineage"]) == ["scratch"] and meta["input"] == "channels"
        assert load_bundle(tmp_path / "m.unet").model_config == bundle.model_config


RUNTIME = {"device": "cuda:1", "threads": 3, "amp": False}


def test_a_model_file_does_not_store_how_it_was_run(tmp_path):
    """Device, threads and mixed precision are this machine's, not the model's (issue 25,
    item 5): a model's training settings leave them out, in memory and in its file."""
    from napari_unet.core.config import TrainConfig

    config = TrainConfig(steps=1, device="cpu", threads=1, amp=False, batch_size=3)
    b = _bundle()
    b = Bundle(b.model_config, b.norm, b.state_dict, train_config=config.to_dict())
    assert "runtime" not in b.train_config and b.train_config["sampling"]["batch_size"] == 3
    saved = load_bundle(save_bundle(b, tmp_path / "m.unet")).train_config
    assert "runtime" not in saved and saved["sampling"]["batch_size"] == 3
    assert not any(set(RUNTIME) & set(group) for group in saved.values())


def _rewrite(path, **metadata):
    """``path`` with some of its header's metadata replaced (as an older release wrote it)."""
    import json

    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"].update(metadata)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    return path


def test_old_files_that_stored_the_device_still_load(tmp_path):
    import json

    path = save_bundle(_bundle(), tmp_path / "old.unet")
    _rewrite(path, format_version="3", train_config=json.dumps({"batch_size": 5, **RUNTIME}))
    old = load_bundle(path)
    assert old.train_config == {"sampling": {"batch_size": 5}} and old.train.sampling.batch_size == 5


def test_a_format_3_file_of_flat_settings_loads_into_the_groups_with_the_same_values(tmp_path):
    """Formats 1 to 3 stored the training settings flat (``{"zoom": 0.5, ...}``): each is put
    in its group as the file is read, keys no longer known are dropped, and saving the model
    again writes them by group (format 4)."""
    import json

    from napari_unet.core.config import TrainConfig

    config = TrainConfig(steps=7, seconds=None, batch_size=3, learning_rate=0.01, zoom=0.5,
                         mode="instance", region_margin=4, validation_fraction=0.1,
                         keep_starter=2.0, self_supervised=0.0, seed=9)
    flat = {k: v for group in config.to_dict().values() for k, v in group.items()}
    assert len(flat) == 35  # every setting, by its own name
    path = save_bundle(_bundle(n_classes=3), tmp_path / "old.unet")
    _rewrite(path, format_version="3", train_config=json.dumps({**flat, "retired_setting": 1}))
    old = load_bundle(path)
    assert old.train == config.replace(device="auto", threads=None, amp=True)  # runtime: not kept
    assert old.mode == "instance" and old.train.targets.region_margin == 4
    assert set(old.train_config) == {"budget", "optimiser", "sampling", "augmentation",
                                     "targets", "validation", "regularisers"}
    again = load_bundle(save_bundle(old, tmp_path / "again.unet"))
    assert again.train_config == old.train_config and again.train == old.train


def test_a_new_file_round_trips_its_training_settings_by_group(tmp_path):
    import json

    from napari_unet.core.config import TrainConfig

    config = TrainConfig(steps=5, seconds=12.5, patch_size=48, noise=0.1, keep_best=False,
                         border_sigma=2.0, weight_decay=0.0, seed=None, device="cpu")
    b = _bundle()
    b = Bundle(b.model_config, b.norm, b.state_dict, train_config=config.to_dict())
    path = save_bundle(b, tmp_path / "m.unet")
    raw = path.read_bytes()
    stored = json.loads(json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
                        ["__metadata__"]["train_config"])
    assert stored["augmentation"]["noise"] == 0.1 and stored["budget"] == {"steps": 5, "seconds": 12.5}
    assert load_bundle(path).train == config.replace(device="auto")


@pytest.mark.parametrize("stored", [{"budget": 5}, {"sampling": {"batch_size": "8"}},
                                    {"targets": {"mode": "objects"}}])
def test_damaged_grouped_settings_are_a_bundle_error(tmp_path, stored):
    import json

    path = _rewrite(save_bundle(_bundle(), tmp_path / "m.unet"), train_config=json.dumps(stored))
    with pytest.raises(BundleError, match="damaged"):
        load_bundle(path)
