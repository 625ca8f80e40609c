"""Untrusted model files: loading one either gives a valid model or raises BundleError.

Models get shared by e-mail, so the loader is fed mutated files: random byte flips, cuts and
insertions anywhere, and structured edits of the JSON metadata (any JSON value in any field).
Whatever comes in, ``load_bundle`` returns a bundle whose model builds and predicts, or raises
:class:`BundleError`; never another exception, never a hang or a giant allocation, and never
code execution (the format has no pickle; see ``test_a_pickle_payload_is_not_executed``).
"""

import json
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import Bundle, BundleError, load_bundle, save_bundle
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.networks.model import UNet

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(base_width=4, depth=2)
    bundle = Bundle(cfg, NormConfig(), dict(UNet(cfg).state_dict()),
                    info={"date": "2026-11-23", "steps": 5})
    return save_bundle(bundle, tmp_path_factory.mktemp("fuzz") / "m.unet").read_bytes()


def _split(raw: bytes):
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def _load_or_refuse(tmp_path, raw: bytes) -> None:
    """The property: a valid, usable model, or a BundleError; nothing else."""
    path = tmp_path / "fuzzed.unet"
    path.write_bytes(raw)
    try:
        bundle = load_bundle(path)
    except BundleError as e:
        assert str(e)  # a message for the user
        return
    cfg = bundle.model_config
    assert bundle.summary() and bundle.mode in ("semantic", "instance") and bundle.train
    image = np.random.default_rng(0).random((cfg.in_channels, 24, 24)).astype(np.float32)
    out = predict_image(image, bundle)
    assert out.labels.shape == (24, 24)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(data=st.data())
def test_byte_level_mutations_load_or_raise_bundle_error(tmp_path_factory, good_file, data):
    raw = bytearray(good_file)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del raw[pos : pos + data.draw(st.integers(1, 64))]
        elif kind == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del raw[pos:]
    _load_or_refuse(tmp_path_factory.mktemp("b"), bytes(raw))


FIELDS = ["model_config", "norm", "class_names", "train_config", "info", "postprocess",
          "format", "format_version", "lineage", "input"]


@FUZZ
@given(data=st.data())
def test_metadata_mutations_load_or_raise_bundle_error(tmp_path_factory, good_file, data):
    header, body = _split(good_file)
    meta = header["__metadata__"]
    name = data.draw(st.sampled_from(FIELDS))
    if name in ("model_config", "norm", "postprocess") and data.draw(st.booleans()):
        # edit one key of the config: the likeliest attack on sizes (depth, width, ...)
        cfg = json.loads(meta[name])
        key = data.draw(st.sampled_from(sorted(cfg) + ["extra"]))
        cfg[key] = data.draw(json_values)
        meta[name] = json.dumps(cfg)
    elif data.draw(st.booleans()):
        meta[name] = json.dumps(data.draw(json_values))
    else:
        meta[name] = data.draw(st.text(max_size=20))
    _load_or_refuse(tmp_path_factory.mktemp("m"), _join(header, body))


@pytest.mark.parametrize("field,value", [
    ("base_width", 10**9), ("depth", 10**6), ("in_channels", 10**9), ("n_classes", 10**9),
    ("depth", "3"), ("base_width", 2.5), ("dropout", "0.1"), ("batch_norm", "yes"),
])
def test_sizes_and_types_from_the_file_are_checked_before_anything_is_allocated(
    tmp_path, good_file, field, value
):
    header, body = _split(good_file)
    cfg = json.loads(header["__metadata__"]["model_config"])
    cfg[field] = value
    header["__metadata__"]["model_config"] = json.dumps(cfg)
    (tmp_path / "m.unet").write_bytes(_join(header, body))
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "m.unet")


def test_tensor_headers_that_lie_about_sizes_are_refused(tmp_path, good_file):
    header, body = _split(good_file)
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2**31, 2**31]
    (tmp_path / "m.unet").write_bytes(_join(header, body))
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "m.unet")


class _Payload:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED",))


def test_a_pickle_payload_is_not_executed(tmp_path, monkeypatch):
    """A torch/pickle file renamed to look like a model is refused without running it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.unet").write_bytes(pickle.dumps(_Payload()))
    torch.save({"x": _Payload()}, tmp_path / "evil2.unet")
    for name in ("evil.unet", "evil2.unet"):
        with pytest.raises(BundleError):
            load_bundle(tmp_path / name)
    assert not (tmp_path / "PWNED").exists()
