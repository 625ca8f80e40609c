"""Choose the torch device: cuda, then mps, then cpu; and say what was chosen."""

from __future__ import annotations

from contextlib import contextmanager

import torch


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """Return the device for ``name`` ("auto", "cpu", "cuda", "cuda:1", "mps").

    "auto" picks CUDA if available, then Apple's MPS, then the CPU. Asking for a device
    that is not available raises ``RuntimeError`` with a message that says so.
    """
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise RuntimeError("MPS was asked for but is not available on this machine; use 'auto' or 'cpu'")
    return dev


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` (process-wide), then restore it."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe(device: torch.device, threads: int | None = None) -> str:
    """A short human description, e.g. 'cuda (NVIDIA H100)' or 'cpu (2 threads)'.

    ``threads``: those the work runs with (``torch_threads``), when it sets them; else
    torch's number now."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = threads or torch.get_num_threads()
        return f"cpu ({n} thread{'' if n == 1 else 's'})"
    return device.type


def cpu_has_fast_bf16() -> bool:
    """True where oneDNN runs bf16 convolutions natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype to use on ``device``, or None for full precision.

    CUDA: bf16 where supported, else fp16. CPU: bf16 only where the processor has native
    bf16 instructions (there it is about 2x faster in training; elsewhere it is slower).
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def prefers_channels_last(device: torch.device) -> bool:
    """Channels-last (NHWC) tensors are faster for convolutions on CPU (oneDNN) and CUDA."""
    return device.type in ("cpu", "cuda")
