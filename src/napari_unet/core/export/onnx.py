"""ONNX export: ``onnxruntime.InferenceSession(path).run(None, {"input": x})[0]`` gives
class probabilities.

The graph is :class:`~.network.Probabilities` (U-Net + softmax) exported with torch's
``dynamo`` exporter (needs ``onnx`` and ``onnxscript``). Input ``"input"``: a normalised
float32 ``(B, C, H, W)`` image with dynamic batch and ``H``, ``W`` any accepted size
(``min + n * 2**depth``); output ``"probabilities"``: ``(B, K, H', W')``. See
:mod:`.network` for normalisation and sizes; ``<file>.json`` beside it holds them. When
``onnxruntime`` is installed the file is checked on an input of another size before it is
kept.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch

from . import ExportError
from .files import atomic_path, require, with_suffix_added, write_text
from .network import check_same, example_input, network, sidecar, sizes

OPSET = 18
INPUT, OUTPUT = "input", "probabilities"


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


def write(module: torch.nn.Module, bundle, path: Path) -> Path:
    """Export ``module`` to ONNX at ``path`` (atomically), checked with onnxruntime if present."""
    require("onnx", "ONNX")
    require("onnxscript", "ONNX")
    example = example_input(bundle)
    with atomic_path(path) as tmp:
        try:
            with _quiet(), torch.no_grad():
                torch.onnx.export(
                    module, (example,), str(tmp), input_names=[INPUT], output_names=[OUTPUT],
                    dynamic_shapes=_dynamic_shapes(bundle), opset_version=OPSET, dynamo=True,
                    external_data=False, verbose=False,
                )
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
    check_same(expected, session.run(None, {INPUT: other.numpy()})[0], "ONNX")


def export(bundle, path: Path) -> Path:
    """Write the ONNX file and its JSON sidecar; return the file's path."""
    write(network(bundle), bundle, path)
    meta = sidecar(bundle, "onnx", path.name)
    meta["opset"] = OPSET
    meta["input"]["name"], meta["output"]["name"] = INPUT, OUTPUT
    write_text(with_suffix_added(path, ".json"), json.dumps(meta, indent=2, default=str))
    return path
