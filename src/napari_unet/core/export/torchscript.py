"""TorchScript export: ``torch.jit.load(path)(x)`` gives class probabilities.

The file holds :class:`~.network.Probabilities` (U-Net + softmax), traced on the CPU; its
input is a normalised float32 ``(B, C, H, W)`` image of an accepted size and its output the
softmax probabilities ``(B, K, H', W')`` (see :mod:`.network` for normalisation and sizes).
``<file>.json`` beside it holds the normalisation, sizes, class names and training record.
The trace is checked on an input of another size before the file is kept.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from ..networks.deployable import example_input, network
from .files import atomic_path, with_suffix_added, write_text
from .network import check_same, sidecar


def trace(module: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Trace ``module`` on ``example`` (shape-dependent Python branches are constant for
    accepted sizes, so the trace holds for every accepted size; callers check it)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in
        # torch 2.13 but is still what bioimage.io, deepImageJ and many C++ tools load
        return torch.jit.trace(module, example, check_trace=False)


def _load(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path))


def write(module: torch.nn.Module, bundle, path: Path) -> Path:
    """Trace ``module``, check it on another size and batch, save it atomically to ``path``."""
    traced = trace(module, example_input(bundle))
    other = example_input(bundle, side=96, batch=2, seed=1)
    with torch.no_grad():
        expected = module(other)
        with atomic_path(path) as tmp:
            traced.save(str(tmp))
            check_same(expected, _load(tmp)(other), "TorchScript")
    return path


def export(bundle, path: Path) -> Path:
    """Write the TorchScript file and its JSON sidecar; return the file's path."""
    write(network(bundle), bundle, path)
    meta = sidecar(bundle, "torchscript", path.name)
    write_text(with_suffix_added(path, ".json"), json.dumps(meta, indent=2, default=str))
    return path
