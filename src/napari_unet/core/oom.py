"""Running out of device memory: recognise it, free what can be freed, and say what to do.

Training and prediction catch out-of-memory errors around one step (or one batch of tiles),
free the device's cache, and retry with half the batch (prediction: then half the tile);
each retry is reported in a :class:`~napari_unet.core.progress.Progress` message so the
user is told. Only when even the smallest setting fails is :class:`OutOfMemory` raised.
"""

from __future__ import annotations

import gc

import torch


class OutOfMemory(RuntimeError):
    """Even the smallest batch (and tile) does not fit in the device's memory."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures (the exception types differ by backend)."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    if oom_type and isinstance(error, oom_type):
        return True
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        words in text for words in ("out of memory", "failed to allocate",
                                    "can't allocate memory", "cannot allocate memory")
    )  # the last two: torch's DefaultCPUAllocator


def free_device_memory(device: torch.device | str | None = None) -> None:
    """Drop unreferenced tensors and hand cached blocks back to the device."""
    gc.collect()
    kind = torch.device(device).type if device is not None else None
    if kind in (None, "cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    if kind in (None, "mps") and getattr(torch.backends, "mps", None) is not None:
        if torch.backends.mps.is_available():
            torch.mps.empty_cache()


def device_memory_in_use(device: torch.device | str) -> int | None:
    """Bytes of tensors allocated on a CUDA device now (None for other devices)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.memory_allocated(device))
    return None
