"""CPU prediction backends (issue 17): torch.compile and ONNX Runtime give the labels torch
gives, and "auto" picks them only where they pay off."""

import numpy as np
import pytest
import torch

from napari_unet.core.config import PredictConfig
from napari_unet.core.inference import backends
from napari_unet.core.inference.predict import predict_image

FP32 = PredictConfig(tile_size=32, batch_size=2, amp=False, device="cpu", threads=1)
CPU = torch.device("cpu")



@pytest.fixture(scope="module")
def case(random_bundle):
    image = np.random.default_rng(0).random((1, 70, 90)).astype(np.float32)
    bundle = random_bundle(seed=3, affine=True, depth=2)  # folding batch norm matters
    expected = predict_image(image, bundle, FP32, backend="torch")
    assert 0.2 < (expected.labels == 2).mean() < 0.8, "a prediction that is not constant"
    assert np.abs(expected.probabilities[0] - 0.5).min() > 1e-4, "no ties float rounding could flip"
    return image, bundle, expected


def test_auto_compiles_or_exports_only_large_work_on_the_cpu(monkeypatch):
    bf16 = torch.bfloat16
    assert backends.choose("auto", CPU, bf16, 1e6) == "torch"
    assert backends.choose("auto", CPU, bf16, 1e9) == "compile"
    assert backends.choose("auto", torch.device("cuda"), bf16, 1e12) == "torch"
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    assert backends.choose("auto", CPU, None, 1e9) == "onnxruntime"
    assert backends.choose("auto", CPU, None, 1e6) == "torch"
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    assert backends.choose("auto", CPU, None, 1e9) == "torch"
    assert backends.choose("compile", CPU, None, 1) == "compile"
    with pytest.raises(ValueError, match="backend must be"):
        backends.choose("tensorrt", CPU, None, 1)


def test_folding_batch_norm_keeps_the_function(case):
    _, bundle, _ = case
    model = bundle.build_model("cpu")
    object.__setattr__(model, "_napari_unet_backends", {"built": object()})  # as runner() keeps them
    fused = backends.folded(model)
    assert fused.__dict__["_napari_unet_backends"] == {}, "built backends are not copied"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "a copy"
    x = torch.rand(2, 1, 48, 64)
    with torch.no_grad():
        np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), atol=1e-5)


def test_runners_make_no_reference_cycle_so_models_are_freed_at_once(case):
    import gc
    import weakref

    _, bundle, _ = case
    model = bundle.build_model("cpu")
    backends.runner("torch", model, CPU, None)
    alive = weakref.ref(model)
    backends.runner("compile", model, CPU, None)  # kept on the model, refers back only weakly
    gc.disable()  # freed by reference counting alone, with no cycle for the collector to find
    try:
        del model
        assert alive() is None
    finally:
        gc.enable()


def test_torch_compile_gives_the_labels_torch_gives(case):
    image, bundle, expected = case
    got = predict_image(image, bundle, FP32, backend="compile")
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5)


def test_onnx_runtime_gives_the_labels_torch_gives(case):
    for module in ("onnxruntime", "onnx", "onnxscript"):
        pytest.importorskip(module)
    image, bundle, expected = case
    got = predict_image(image, bundle, FP32, backend="onnxruntime")
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-5)


def test_a_compiler_that_fails_falls_back_to_torch(case, monkeypatch):
    image, bundle, expected = case
    calls = []

    def broken(net, **kwargs):
        def run(x):
            calls.append(x.shape)
            raise RuntimeError("InductorError: no working C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    got = predict_image(image, bundle, FP32, backend="compile")
    assert len(calls) == 1, "tried once, then torch for every tile"
    np.testing.assert_array_equal(got.labels, expected.labels)
    np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=1e-6)


def test_a_built_backend_is_kept_with_its_model_and_reused(case):
    _, bundle, _ = case
    model = bundle.build_model("cpu")
    first = backends.runner("compile", model, CPU, None)  # compiles lazily, at the first call
    assert backends.runner("compile", model, CPU, None) is first
    assert backends.runner("compile", bundle.build_model("cpu"), CPU, None) is not first
    assert "_napari_unet_backends" not in dict(model.named_children())
    assert "_napari_unet_backends" not in model.state_dict()


def test_eight_views_with_onnx_runtime_equal_eight_views_with_torch(case):
    """ONNX Runtime's runner gives probabilities, torch's logits: the eight views average
    probabilities either way."""
    for module in ("onnxruntime", "onnx", "onnxscript"):
        pytest.importorskip(module)
    from dataclasses import replace

    image, bundle, expected = case
    eight = replace(FP32, views=8)
    torch_views = predict_image(image, bundle, eight, backend="torch")
    onnx_views = predict_image(image, bundle, eight, backend="onnxruntime")
    np.testing.assert_allclose(onnx_views.probabilities, torch_views.probabilities, atol=1e-5)
    assert np.abs(torch_views.probabilities - expected.probabilities).max() > 1e-3
