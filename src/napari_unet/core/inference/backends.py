"""How a batch of prediction windows goes through the network: torch as it is, torch.compile,
or ONNX Runtime; the fastest for the work is chosen on the CPU.

Measured on 2 AMD EPYC cores (issue 17, docs/benchmarks.md; depth 3, width 16, 800 px window,
one thread, computed megapixels per CPU-second):

=====================  =============  ==============
backend                bf16 autocast  full precision
=====================  =============  ==============
torch (eager)          2.5-2.8        1.0
torch.compile          3.4-3.5        1.4
ONNX Runtime (fp32)    --             1.9
=====================  =============  ==============

So on a CPU with native bf16 (where ``device.autocast_dtype`` gives bf16) ``"auto"`` compiles
the network, and on other CPUs runs it in ONNX Runtime (the ``export`` extra) -- when the plan
computes enough pixels to pay for compiling (15-25 s) or exporting (6-10 s) once; the compiled
network is kept with the model for the next image. Every backend computes the same function
(batch norm folded into the convolutions for compiling, as ONNX Runtime does itself), so the
probabilities agree up to float rounding: in full precision the labels are the same (tests);
in bf16 the folded batch norm rounds otherwise (0.14 % of pixels flipped on one trained
model, issue 17). A backend that
fails to build (no C++ compiler, onnxruntime missing) falls back to torch.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import weakref

import numpy as np
import torch
from torch import nn

BACKENDS = ("auto", "torch", "compile", "onnxruntime")

COMPILE_MIN_PIXELS = 400e6
"""Computed pixels (``tiles * window**2``) from which ``"auto"`` compiles (about 160 s of
eager bf16 work on two cores, against 15-25 s of compiling)."""

ONNX_MIN_PIXELS = 60e6
"""Computed pixels from which ``"auto"`` exports to ONNX Runtime on a CPU without bf16 (about
60 s of eager full-precision work, against 6-10 s of exporting)."""

_log = logging.getLogger(__name__)


def choose(backend: str, device: torch.device, amp, computed_pixels: float) -> str:
    """The backend to use: ``backend`` unless it is ``"auto"`` (see the module docstring)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend != "auto":
        return backend
    if device.type != "cpu":
        return "torch"
    if amp is not None:
        return "compile" if computed_pixels >= COMPILE_MIN_PIXELS else "torch"
    if computed_pixels >= ONNX_MIN_PIXELS and onnx_available():
        return "onnxruntime"
    return "torch"


def onnx_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx", "onnxscript"))


def folded(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with every batch norm that follows a convolution in
    a ``Sequential`` folded into that convolution's weights: the same function, one pass fewer
    over every feature map."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    built = model.__dict__.get("_napari_unet_backends")
    memo = {} if built is None else {id(built): {}}  # the copy does not take the built backends
    net = copy.deepcopy(model, memo).eval()
    for seq in net.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if (isinstance(conv, (nn.Conv2d, nn.Conv3d))
                    and isinstance(bn, (nn.BatchNorm2d, nn.BatchNorm3d))
                    and bn.track_running_stats):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return net


def probabilities(run, out: torch.Tensor) -> torch.Tensor:
    """``out``, what the runner ``run`` gave, as class probabilities: as it is when the
    runner gives probabilities, else the softmax of its logits over the class axis."""
    return out if run.probabilities else torch.softmax(out, dim=1)


def runner(name: str, model: nn.Module, device: torch.device, amp, *, bundle=None, threads=None):
    """``run(windows: np.ndarray (B, C, H, W) float32) -> logits or probabilities`` as a torch
    tensor on the CPU (float32), and whether it gives probabilities. Built once per model."""
    if name == "torch":  # nothing to build; caching it on the model would make a cycle
        return _TorchRunner(model, device, amp)
    cache = model.__dict__.get("_napari_unet_backends")
    if cache is None:  # kept on the model, so it goes when the model goes (not an nn attribute)
        cache = {}
        object.__setattr__(model, "_napari_unet_backends", cache)
    key = (name, str(device), amp, threads)
    if key not in cache:
        cache[key] = _build(name, model, device, amp, bundle, threads)
    return cache[key]


def _build(name, model, device, amp, bundle, threads):
    if name == "compile":
        from ..device import prefers_channels_last

        net = folded(model)
        if prefers_channels_last(device):
            net = net.to(memory_format=torch.channels_last)
        compiled = torch.compile(net, dynamic=False, options={"freezing": True})
        # the fallback is the model itself, held weakly: the runner is cached on the model
        return _TorchRunner(compiled, device, amp, fallback=weakref.ref(model))
    if name == "onnxruntime":
        try:
            return _OnnxRunner(bundle, threads)
        except Exception as e:  # noqa: BLE001 - any failure to build means: use torch
            _log.warning("ONNX Runtime is not usable here (%s); predicting with torch", e)
    return _TorchRunner(model, device, amp)


class _TorchRunner:
    probabilities = False

    def __init__(self, net, device, amp, fallback=None):
        self.net, self.device, self.amp, self.fallback = net, device, amp, fallback

    @torch.inference_mode()
    def __call__(self, windows: np.ndarray) -> torch.Tensor:
        from ..device import prefers_channels_last

        x = torch.from_numpy(windows).to(self.device, non_blocking=True)
        if prefers_channels_last(self.device):
            x = x.contiguous(memory_format=torch.channels_last)
        try:
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                                enabled=self.amp is not None):
                return self.net(x).float()
        except Exception as e:  # noqa: BLE001
            if self.fallback is None or _is_oom(e):
                raise
            _log.warning("torch.compile failed (%s: %s); predicting without it",
                         type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            model = self.fallback()
            if model is None:
                raise
            self.net, self.fallback = model, None
            return self(windows)


def _is_oom(e) -> bool:
    from ..oom import is_out_of_memory

    return is_out_of_memory(e)


class _OnnxRunner:
    probabilities = True

    def __init__(self, bundle, threads):
        import tempfile
        from pathlib import Path

        import onnxruntime as ort

        from ..networks.deployable import network, to_onnx

        with tempfile.TemporaryDirectory(prefix="napari-unet-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            to_onnx(network(bundle), bundle, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or torch.get_num_threads()
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])

    def __call__(self, windows: np.ndarray) -> torch.Tensor:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {"input": x})[0])
