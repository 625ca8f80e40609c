"""What the TorchScript and ONNX exports check and write beside the deployed network
(:mod:`napari_unet.core.networks.deployable`, which says what the network accepts)."""

from __future__ import annotations

import torch

from ..networks.deployable import sizes
from . import ExportError


def check_same(expected: torch.Tensor, got, what: str, atol: float = 1e-4) -> None:
    """Raise :class:`ExportError` if an exported model's output differs from the original."""
    got = torch.as_tensor(got)
    if got.shape != expected.shape:
        raise ExportError(f"the {what} export gives shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    diff = float((got - expected).abs().max())
    if diff > atol:
        raise ExportError(f"the {what} export differs from the model by up to {diff:.2g}")


def sidecar(bundle, format: str, file: str) -> dict:
    """What a consumer of a bare TorchScript / ONNX file needs, as a JSON-able dict."""
    return {
        "format": f"napari-unet {format} export",
        "file": file,
        "input": {
            "axes": "bcyx",
            "dtype": "float32",
            "channels": bundle.model_config.in_channels,
            "normalisation": {
                "formula": "(x - low) / (high - low) per channel, before the network",
                **bundle.norm.to_dict(),
            },
            "sizes": sizes(bundle),
        },
        "output": {
            "axes": "bcyx",
            "content": "softmax probabilities over classes; label = argmax + 1",
            "class_names": list(bundle.class_names),
            "mode": bundle.mode,
        },
        "model_config": bundle.model_config.to_dict(),
        "train_config": bundle.train_config,
        "postprocess": bundle.postprocess.to_dict(),
        "info": bundle.info,
    }
