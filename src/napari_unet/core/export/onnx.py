"""ONNX export: ``onnxruntime.InferenceSession(path).run(None, {"input": x})[0]`` gives
class probabilities.

The graph is :class:`~..networks.deployable.Probabilities` (U-Net + softmax) exported with
torch's ``dynamo`` exporter (needs ``onnx`` and ``onnxscript``;
:func:`~..networks.deployable.to_onnx`). Input ``"input"``: a normalised float32
``(B, C, H, W)`` image with dynamic batch and ``H``, ``W`` any accepted size
(``min + n * 2**depth``); output ``"probabilities"``: ``(B, K, H', W')``. See
:mod:`..networks.deployable` for normalisation and sizes; ``<file>.json`` beside it holds
them. When ``onnxruntime`` is installed the file is checked on an input of another size before it is
kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..networks.deployable import ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, example_input, network, to_onnx
from . import ExportError
from .files import atomic_path, require, with_suffix_added, write_text
from .network import check_same, sidecar


def write(module: torch.nn.Module, bundle, path: Path) -> Path:
    """Export ``module`` to ONNX at ``path`` (atomically), checked with onnxruntime if present."""
    require("onnx", "ONNX")
    require("onnxscript", "ONNX")
    with atomic_path(path) as tmp:
        try:
            to_onnx(module, bundle, tmp)
        except Exception as e:  # the exporter raises many types; all mean the same here
            raise ExportError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0]}") from None
        _check(module, bundle, tmp)
    return path


def _check(module, bundle, file: Path) -> None:
    try:
        import onnxruntime as ort
    except ImportError:  # checking is a bonus; the export itself does not need it
        return
    other = example_input(bundle, side=96, batch=2, seed=1)
    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = module(other)
    check_same(expected, session.run(None, {ONNX_INPUT: other.numpy()})[0], "ONNX")


def export(bundle, path: Path) -> Path:
    """Write the ONNX file and its JSON sidecar; return the file's path."""
    write(network(bundle), bundle, path)
    meta = sidecar(bundle, "onnx", path.name)
    meta["opset"] = ONNX_OPSET
    meta["input"]["name"], meta["output"]["name"] = ONNX_INPUT, ONNX_OUTPUT
    write_text(with_suffix_added(path, ".json"), json.dumps(meta, indent=2, default=str))
    return path
