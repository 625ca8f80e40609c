"""The network that the TorchScript and ONNX exports hold, and what it accepts.

Exported network (``torchscript`` and ``onnx``)::

    x: float32 (B, C, H, W), normalised  ->  probabilities: float32 (B, K, H', W')

* **Input normalisation is not inside the network**: per channel ``(x - low) / (high - low)``
  with ``low``/``high`` the image's own percentiles (``norm.mode == "per_image"``, e.g. 1 and
  99.8) or fixed values measured on the training images (``"fixed"``); see
  :mod:`napari_unet.core.normalize`. The sidecar JSON holds these numbers. Keeping it out
  lets a consumer tile a large image and still normalise with whole-image percentiles.
* **Output**: softmax over the ``K`` classes (``class_names``); napari-unet's labels are
  ``argmax + 1``. For an instance model the classes are background, interior, border.
* **Sizes**: ``H`` and ``W`` must be ``min + n * step`` with ``step = 2**depth``;
  ``padding="same"``: ``min = step`` and ``H' = H``; ``padding="valid"``: ``H' = H - 2 * margin``.
  napari-unet predicts overlapping tiles with ``receptive_radius`` pixels of mirrored
  context; a whole-image pass differs from that only within that distance of the border.
"""

from __future__ import annotations

import torch
from torch import nn

from . import ExportError


class Probabilities(nn.Module):
    """A U-Net followed by a softmax over classes: (B, C, H, W) -> (B, K, H', W')."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.unet(x), dim=1)


def unet(bundle) -> nn.Module:
    """The bundle's U-Net on the CPU, in eval mode, in plain (not channels-last) layout."""
    return bundle.build_model("cpu").to(memory_format=torch.contiguous_format).eval()


def network(bundle) -> Probabilities:
    """The network that TorchScript and ONNX exports hold (logits -> softmax)."""
    return Probabilities(unet(bundle)).eval()


def sizes(bundle) -> dict:
    """Accepted input sizes and how the output size follows, for one spatial axis."""
    model = unet(bundle)
    g = model.granularity
    lo = model.input_size_for(1)
    offset = model.output_size(lo) - lo
    if model.output_size(lo + g) - (lo + g) != offset:  # pragma: no cover - a model.py change
        raise ExportError("this model's output size is not its input size minus a constant")
    return {
        "min": lo,
        "step": g,
        "output_offset": offset,
        "padding": model.config.padding,
        "margin": model.margin,
        "receptive_radius": model.receptive_radius,
    }


def example_input(bundle, side: int = 64, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A random normalised input of an accepted size of at least ``side`` pixels."""
    s = sizes(bundle)
    n = s["min"] + s["step"] * max(0, -(-(side - s["min"]) // s["step"]))
    gen = torch.Generator().manual_seed(seed)
    c = bundle.model_config.in_channels
    return torch.rand((batch, c, n, n + s["step"]), generator=gen)


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
