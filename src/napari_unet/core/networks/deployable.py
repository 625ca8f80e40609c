"""The network a model is deployed as (the TorchScript and ONNX exports hold it, and ONNX
Runtime predicts with it), and what it accepts. Here, under the networks, so that prediction
(``core/inference/backends.py``) and export use it without one importing the other.

Deployed network (``torchscript`` and ``onnx``)::

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

import contextlib
import io
import logging
import warnings

import torch
from torch import nn

ONNX_OPSET = 18
ONNX_INPUT, ONNX_OUTPUT = "input", "probabilities"


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
        raise ValueError("this model's output size is not its input size minus a constant")
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


def _dynamic_shapes(bundle) -> dict:
    from torch.export import Dim

    s = sizes(bundle)
    h, w = Dim("h", min=0, max=4096), Dim("w", min=0, max=4096)
    return {"x": {0: Dim("batch", min=1, max=1024), 2: s["step"] * h + s["min"],
                  3: s["step"] * w + s["min"]}}


@contextlib.contextmanager
def _quiet():
    """The exporter logs and prints its progress; keep the user's terminal clean."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def to_onnx(module: nn.Module, bundle, path) -> None:
    """``module`` (:func:`network`) as an ONNX graph at ``path``: torch's ``dynamo`` exporter
    (needs ``onnx`` and ``onnxscript``), opset :data:`ONNX_OPSET`, dynamic batch and sizes.
    The exporter's own errors pass through."""
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            module, (example_input(bundle),), str(path), input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT], dynamic_shapes=_dynamic_shapes(bundle),
            opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False,
        )
