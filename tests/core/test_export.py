"""Exported models reproduce napari-unet's own prediction; bad exports fail clearly.

Invariant: an exported network, fed what napari-unet feeds its own network (the image
normalised as the bundle says, with mirrored context), gives the probabilities that
``core.inference.predict.predict_image`` gives, within float tolerance; a bioimage.io package passes
the bioimage.io core library's own validation and test-tensor check, offline.
"""

from __future__ import annotations

import json
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

from napari_unet.core.config import ModelConfig, NormConfig, PredictConfig, TrainConfig
from napari_unet.core.export import FORMATS, ExportError, export_model
from napari_unet.core.files.bundle import save_bundle
from napari_unet.core.inference.predict import predict_image, read_window
from napari_unet.core.inference.tiles import plan_tiles
from napari_unet.core.normalize import apply, stats_for
from napari_unet.core.progress import drain
from napari_unet.core.training.train import fit

FP32 = PredictConfig(device="cpu", amp=False)  # exports are float32; so is the reference


def _train(image, painted, padding="same"):
    return drain(fit([image], [painted], model=ModelConfig(depth=2, base_width=4, padding=padding),
                     config=TrainConfig(steps=3, seconds=None, batch_size=2, patch_size=48, seed=1)))


@pytest.fixture(scope="module")
def bundle(nuclei_case):
    image, _, painted = nuclei_case
    return _train(image, painted)


def predict_like_core(run, image, bundle):
    """napari-unet's prediction of a one-tile image with ``run`` in place of its network:
    the same normalisation, mirrored context and crop as ``core.predict``."""
    c, h, w = image.shape
    plan = plan_tiles(bundle.build_model("cpu"), h, w, FP32)
    assert plan.origins() == [(0, 0)]
    window = read_window(image, -plan.context, -plan.context, plan.window)
    x = apply(window, *stats_for(image, bundle.norm))[None]
    p = np.asarray(run(x))[0]
    off = (p.shape[-1] - plan.tile) // 2
    return p[:, off : off + h, off : off + w]


def _torch_runner(module):
    def run(x):
        with torch.no_grad():
            return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return run


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_torchscript_reproduces_the_core_prediction(nuclei_case, bundle, tmp_path, padding):
    image, _, painted = nuclei_case
    if padding == "valid":
        bundle = _train(image, painted, padding)
    path = export_model(bundle, tmp_path / "model", "torchscript")
    assert path == tmp_path / "model.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript, deprecated in torch 2.13
        loaded = torch.jit.load(str(path))
    got = predict_like_core(_torch_runner(loaded), image, bundle)
    expected = predict_image(image, bundle, FP32).probabilities
    np.testing.assert_allclose(got, expected, atol=1e-5)
    meta = json.loads((tmp_path / "model.pt.json").read_text())
    assert meta["output"]["class_names"] == ["background", "foreground"]
    assert meta["input"]["normalisation"]["mode"] == bundle.norm.mode
    assert meta["input"]["sizes"]["step"] == 4 and meta["info"]["steps"] == 3


def test_onnx_reproduces_the_core_prediction(nuclei_case, bundle, tmp_path):
    import onnxruntime as ort

    image = nuclei_case[0]
    path = export_model(bundle, tmp_path / "model.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = predict_like_core(lambda x: session.run(None, {"input": x})[0], image, bundle)
    np.testing.assert_allclose(got, predict_image(image, bundle, FP32).probabilities, atol=1e-5)
    assert json.loads((tmp_path / "model.onnx.json").read_text())["input"]["name"] == "input"


def test_bioimageio_package_passes_validation_and_reproduces_the_core_prediction(
    nuclei_case, bundle, tmp_path
):
    from bioimageio.core import load_model_description, predict, test_model

    image = nuclei_case[0]
    path = export_model(bundle, tmp_path / "model", "bioimageio", sample=image, validate=False)
    assert path == tmp_path / "model.zip"
    names = set(zipfile.ZipFile(path).namelist())
    assert {"rdf.yaml", "README.md", "cover.png", "test_input.npy", "test_output.npy",
            "weights_torchscript.pt", "weights_state_dict.pt"} <= names

    summary = test_model(str(path))  # format, both weight formats, test tensors, sizes
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", failed
    assert {"torchscript", "pytorch_state_dict"} <= {
        d.loc[1] for d in summary.details if len(d.loc) > 1 and d.loc[0] == "weights"}

    readme = zipfile.ZipFile(path).read("README.md").decode()
    assert "## Training" in readme and "3 steps" in readme and "## Validation" in readme
    descr = load_model_description(str(path))
    out = predict(model=descr, inputs=image[None].astype(np.float32))
    probs = out.members["probabilities"].data.values[0]
    expected = predict_image(image, bundle, FP32).probabilities
    r = bundle.build_model("cpu").receptive_radius  # border pixels see zeros, not mirrored context
    np.testing.assert_allclose(probs[:, r:-r, r:-r], expected[:, r:-r, r:-r], atol=1e-4)


def test_fixed_normalisation_becomes_scale_linear(nuclei_case, bundle, tmp_path):
    from dataclasses import replace

    from bioimageio.spec import load_model_description

    from napari_unet.core.normalize import fit_normalization

    image = nuclei_case[0] * 1000 + 50
    bundle = replace(bundle, norm=fit_normalization([image], NormConfig(mode="fixed")))
    path = export_model(bundle, tmp_path / "fixed.zip", "bioimageio", sample=image, validate=False)
    descr = load_model_description(str(path))
    ops = [p.id for p in descr.inputs[0].preprocessing]
    assert "scale_linear" in ops and "scale_range" not in ops
    kwargs = next(p.kwargs for p in descr.inputs[0].preprocessing if p.id == "scale_linear")
    lo, hi = bundle.norm.low[0], bundle.norm.high[0]
    assert kwargs.gain[0] * lo + kwargs.offset[0] == pytest.approx(0, abs=1e-6)
    assert kwargs.gain[0] * hi + kwargs.offset[0] == pytest.approx(1, abs=1e-6)


def test_export_never_modifies_the_bundle_or_its_file(bundle, tmp_path):
    saved = save_bundle(bundle, tmp_path / "m.unet")
    before = saved.read_bytes()
    state = {k: v.clone() for k, v in bundle.state_dict.items()}
    export_model(bundle, tmp_path / "m.pt", "torchscript")
    assert saved.read_bytes() == before
    assert all(torch.equal(state[k], v) for k, v in bundle.state_dict.items())


def test_missing_optional_package_says_how_to_install_it(bundle, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import fails
    with pytest.raises(ExportError, match=r"pip install napari-stroke-unet\[export\]"):
        export_model(bundle, tmp_path / "m.onnx", "onnx")
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)
    with pytest.raises(ExportError, match=r"pip install napari-stroke-unet\[export\]"):
        export_model(bundle, tmp_path / "m.zip", "bioimageio")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_and_unknown_format_are_clear_errors(bundle, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write"):
        export_model(bundle, blocker / "m.pt", "torchscript")
    with pytest.raises(ExportError, match="folder"):
        export_model(bundle, tmp_path, "torchscript")
    with pytest.raises(ExportError, match="torchscript"):
        export_model(bundle, tmp_path / "m.x", "keras")
    assert isinstance(ExportError("x"), ValueError) and "bioimageio" in FORMATS


def test_a_failed_export_keeps_the_previous_file(bundle, tmp_path, monkeypatch):
    from napari_unet.core.export import torchscript

    target = tmp_path / "m.pt"
    target.write_bytes(b"previous export")

    def broken(*args, **kwargs):
        raise ExportError("the TorchScript export differs from the model")

    monkeypatch.setattr(torchscript, "check_same", broken)
    with pytest.raises(ExportError):
        export_model(bundle, target, "torchscript")
    assert target.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_a_package_that_fails_validation_is_not_kept(bundle, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from napari_unet.core.export import bioimageio

    failed = SimpleNamespace(status="failed", details=[
        SimpleNamespace(status="failed", name="Reproduce test outputs from test inputs")])
    monkeypatch.setattr(bioimageio, "test_package", lambda path: failed)
    with pytest.raises(ExportError, match="failed validation: Reproduce test outputs"):
        export_model(bundle, tmp_path / "m.zip", "bioimageio")
    assert list(tmp_path.iterdir()) == []


def test_test_input_is_a_raw_crop_of_the_sample_of_an_accepted_size(bundle):
    from napari_unet.core.export.package_files import test_input

    big = np.arange(300 * 310, dtype=np.uint16).reshape(1, 300, 310)
    x = test_input(bundle, big)
    assert x.shape == (1, 1, 256, 256) and x.dtype == np.float32
    assert np.array_equal(x[0, 0], big[0, 22:278, 27:283])  # the centre, not normalised
    small = np.ones((1, 6, 9), np.float32)
    assert test_input(bundle, small).shape == (1, 1, 4, 8)
    with pytest.raises(ValueError, match=r"\(1, H, W\)"):
        test_input(bundle, np.zeros((3, 16, 16)))


def test_a_sample_too_small_for_a_valid_unet_is_mirrored_up_to_the_smallest_input():
    from napari_unet.core.export.package_files import test_input
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.networks.model import UNet

    cfg = ModelConfig(depth=2, base_width=4, padding="valid")
    valid = Bundle(model_config=cfg, norm=NormConfig(), state_dict=UNet(cfg).state_dict())
    small = np.arange(6 * 9, dtype=np.float32).reshape(1, 6, 9)
    x = test_input(valid, small)
    assert x.shape == (1, 1, 44, 44)  # the smallest input of this U-Net
    assert np.array_equal(x[0, 0, :6, :9], small[0]) and np.array_equal(x[0, 0, 6, :9], small[0, 5])


def test_readme_says_how_the_model_was_trained(bundle):
    from dataclasses import replace

    from napari_unet.core.export.readme import readme

    scored = replace(bundle, info={**bundle.info, "validation": {"mean_iou": 0.81234, "step": 3,
                                                                 "pixels": 120}})
    text = readme(scored, "nuclei model")
    assert text.startswith("# nuclei model")
    assert "3 steps" in text and "Patches of 48 px, batches of 2" in text and "AdamW" in text
    assert "mean IoU 0.812 (step 3)" in text and "## Validation" in text
    assert "0. background (napari-unet label 1)" in text
    assert "y and x are 4 + n * 4 pixels" in text


def test_a_3d_model_is_refused_with_a_clear_error(tmp_path):
    from napari_unet.core.config import ModelConfig, NormConfig
    from napari_unet.core.export import ExportError, export_model
    from napari_unet.core.files.bundle import Bundle
    from napari_unet.core.networks.build import build_network

    cfg = ModelConfig(base_width=4, depth=2, spatial_dims=3)
    bundle = Bundle(cfg, NormConfig(), dict(build_network(cfg).state_dict()))
    with pytest.raises(ExportError, match="3-D"):
        export_model(bundle, tmp_path / "m.pt", "torchscript")
    assert not (tmp_path / "m.pt").exists()
