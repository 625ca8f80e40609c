"""Will it fit? Memory a setting needs, estimated before any work, against what is free.

On a CPU, running out of memory is often not an error but the operating system killing the
process (or swapping for minutes first), so settings and inputs that cannot fit are refused
up front with the numbers and what to change. The estimates are deliberately simple:

* a U-Net holds about :data:`TRAIN_BYTES` (training: activations kept for the backward pass
  and their gradients) or :data:`PREDICT_BYTES` (prediction) bytes per feature-map value,
  summed over its levels (measured on a CPU with depth 3-4, width 16-32: 58-63 and 19-25);
* an image file needs its pixels as stored plus what the caller makes of them (a float32
  copy, labels, probabilities), per pixel.
"""

from __future__ import annotations

import math

from .images import ImageError

TRAIN_BYTES = 64
PREDICT_BYTES = 26
USABLE = 0.8
"""Share of the free memory a run may plan to use (the rest: the process, other programs)."""

CPU_PREDICT_BUDGET = 768 * 2**20
"""Most bytes (as :func:`prediction_bytes` estimates them) one prediction batch is planned to
use on the CPU: windows of about 1,000 px for width 16 (depth 3: overlap-tile overhead
1.3-1.4x; depth 4: 1.7-1.8x). Larger windows compute *slower* per pixel on a CPU once the
feature maps outgrow its cache (measured with one thread, depth 3: 2.6 computed MP/s at 800 px,
1.7 at 1,656 px; docs/benchmarks.md, issue 17), and only raise the peak memory."""


class TooLarge(ImageError):
    """A setting or an input that would not fit in this machine's memory."""


def gib(n: float) -> str:
    """Bytes for people: '149 GiB', '3.2 GiB', '512 MiB'."""
    if n >= 2**30:
        v = n / 2**30
        return f"{v:.1f} GiB" if v < 10 else f"{v:,.0f} GiB"
    return f"{n / 2**20:.0f} MiB"


def available_bytes(device=None) -> int:
    """Memory free for a run now: on a CUDA device its free memory, else the machine's
    available RAM (psutil, or /proc/meminfo)."""
    import torch

    if device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with napari
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return 2**62  # pragma: no cover - unknown: do not refuse


def prediction_budget(device=None) -> int:
    """Bytes a prediction batch may be planned to use on ``device`` (``core.inference.tiles``):
    :data:`USABLE` of the free device memory on a GPU, of the available RAM on the CPU there
    at most :data:`CPU_PREDICT_BUDGET`; rounded down to a power of two (or the CPU's cap) so
    that the plan (and with it the chunking of zarr outputs) does not change with every
    megabyte freed."""
    import torch

    free = USABLE * available_bytes(device)
    budget = 2 ** int(math.floor(math.log2(max(free, 2**20))))
    if device is None or torch.device(device).type == "cpu":
        return CPU_PREDICT_BUDGET if free >= CPU_PREDICT_BUDGET else min(budget, CPU_PREDICT_BUDGET)
    return budget


def feature_values(model_config, side: int) -> float:
    """Feature-map values one sample of ``side`` px (per spatial axis; in z ``side`` divided
    by the anisotropy, as the 3-D trainer cuts its patches) makes, all levels."""
    dims = model_config.spatial_dims
    thinner = model_config.anisotropy if dims == 3 else 1
    return sum(model_config.base_width * 2**level * (side / 2**level) ** dims / thinner
               for level in range(model_config.depth + 1))


def training_bytes(model_config, batch_size: int, patch_size: int) -> float:
    return TRAIN_BYTES * batch_size * feature_values(model_config, patch_size)


def prediction_bytes(model_config, batch_size: int, window: int) -> float:
    return PREDICT_BYTES * batch_size * feature_values(model_config, window)


def check_training_fits(model_config, batch_size: int, patch_size: int, device=None) -> None:
    """:class:`TooLarge` if a training step of this size cannot fit, with the largest batch
    that would."""
    need, free = training_bytes(model_config, batch_size, patch_size), available_bytes(device)
    if need <= USABLE * free:
        return
    per_patch = training_bytes(model_config, 1, patch_size)
    fits = int(USABLE * free // per_patch)
    hint = (f"use --batch-size {fits} or less" if fits >= 1
            else "use a smaller --patch-size (the default is 64)")
    raise TooLarge(f"training {batch_size} patch{'es' if batch_size > 1 else ''} of "
                   f"{patch_size} px at a time needs about {gib(need)} of memory; "
                   f"{gib(free)} is free: {hint}")


def check_prediction_fits(model_config, batch_size: int, window: int, device=None) -> None:
    """:class:`TooLarge` if one batch of prediction windows cannot fit."""
    need, free = prediction_bytes(model_config, batch_size, window), available_bytes(device)
    if need > USABLE * free:
        raise TooLarge(f"predicting {window}-px tiles needs about {gib(need)} of memory; "
                       f"{gib(free)} is free: use a smaller --tile-size (the default is 256)")


def check_file_fits(path, shape, dtype_size: int, extra_per_value: float = 4.0) -> None:
    """:class:`TooLarge` if an image file of ``shape`` (as declared in the file, before any
    pixel is read) needs more than is free: its pixels plus ``extra_per_value`` bytes per
    value (what will be made of them)."""
    values = math.prod(shape)
    need, free = values * (dtype_size + extra_per_value), available_bytes()
    if need > USABLE * free:
        size = " x ".join(str(n) for n in shape)
        raise TooLarge(f"{path} holds a {size} image, which needs about {gib(need)} of memory "
                       f"to use; {gib(free)} is free: cut it into pieces, or for prediction "
                       "save it as a tiled TIFF or OME-Zarr (read window by window)")
