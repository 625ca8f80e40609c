"""Overlap-tile prediction of a 3-D U-Net over a ``(C, Z, Y, X)`` array-like.

As in 2-D (``core/predict.py``): output tiles on a grid whose stride is a multiple of the
network's per-axis granularity, each predicted from a window with ``context`` extra voxels
per side (mirrored where it leaves the volume). The default context is the network's
receptive radius per axis, rounded up to the granularity, so tiled prediction equals
whole-volume prediction up to float rounding. Tiles are at most ``MAX_TILE`` voxels in-plane
(a 3-D window holds ``tile**3``-ish voxels times the feature maps; 64 keeps a CPU under a few
GiB) and ``tile / anisotropy`` in z. Out-of-memory retries are not done here (2-D only).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from ..config import PredictConfig
from ..device import autocast_dtype, resolve_device, torch_threads
from ..files.bundle import Bundle
from ..images import ImageError, check_finite, check_image
from ..normalize import apply, stats_for
from ..progress import Progress, drain
from . import backends, views
from .postprocess import label_dtype, semantic_labels
from .predict import Prediction, check_probabilities

MAX_TILE = 64
"""Largest in-plane side of a 3-D output tile (voxels)."""

MAX_BATCH_VOXELS = 4_000_000
"""Input voxels per forward pass at most (unless one window is larger): 3-D windows with
their context are large, so fewer than ``PredictConfig.batch_size`` may go at once."""


def to_czyx(volume, rgb: bool | None = None):
    """A ``(Z, Y, X)`` volume (or ``(Z, Y, X, 3|4)`` RGB with ``rgb``) as ``(C, Z, Y, X)``."""
    shape = tuple(volume.shape)
    if len(shape) == 2:
        raise ImageError(
            f"this is a 3-D model: it needs a (Z, Y, X) volume, got a 2-D image {shape}"
        )
    if len(shape) == 3 and not rgb:
        return volume[None]
    if len(shape) == 4 and (rgb or (rgb is None and shape[-1] in (3, 4))):
        return np.moveaxis(np.asarray(volume), -1, 0)[:3]
    raise ImageError(
        f"expected a (Z, Y, X) volume (or (Z, Y, X, 3) colour), got shape {shape}"
    )


def check_volume(volume, what: str = "volume") -> None:
    """Raise :class:`ImageError` unless ``volume`` is a non-empty real ``(C, Z, Y, X)`` array."""
    check_image(volume, what, axes="C, Z, Y, X")


def as_planes(volume) -> np.ndarray:
    """``(C, Z, Y, X)`` -> ``(C, Z*Y, X)`` (a view for numpy), for the 2-D normalisation code."""
    v = np.asarray(volume)
    return v.reshape(v.shape[0], -1, v.shape[-1])


def apply3d(block, low, high) -> np.ndarray:
    """Normalise a ``(C, Z, Y, X)`` block with per-channel ``low``/``high``."""
    return apply(as_planes(block), low, high).reshape(np.shape(block))


def read_block(volume, origin, size) -> np.ndarray:
    """``volume[:, z0:z0+sz, y0:y0+sy, x0:x0+sx]`` of a ``(C, ...)`` array-like, mirrored outside."""
    dims = volume.shape[1:]
    lo = [max(o, 0) for o in origin]
    hi = [min(o + s, d) for o, s, d in zip(origin, size, dims)]
    block = np.asarray(volume[(slice(None),) + tuple(slice(a, b) for a, b in zip(lo, hi))])
    pads = [(0, 0)] + [(a - o, o + s - b) for o, s, a, b in zip(origin, size, lo, hi)]
    if any(p for pair in pads for p in pair):
        block = np.pad(block, pads, mode="symmetric")
    return block


@dataclass(frozen=True)
class TilePlan3D:
    """Output tiles of ``tile`` voxels per axis (z, y, x), read with ``context`` per side."""

    shape: tuple[int, int, int]
    tile: tuple[int, int, int]
    context: tuple[int, int, int]

    @property
    def window(self) -> tuple[int, int, int]:
        return tuple(t + 2 * c for t, c in zip(self.tile, self.context))

    def origins(self) -> list[tuple[int, int, int]]:
        ranges = [range(0, d, t) for d, t in zip(self.shape, self.tile)]
        return [(z, y, x) for z in ranges[0] for y in ranges[1] for x in ranges[2]]


def plan_tiles3d(model, shape, config: PredictConfig, tile=None) -> TilePlan3D:
    """Tiles for ``model`` over a ``(Z, Y, X)`` volume; ``tile`` (z, y, x) overrides the size."""
    g = model.granularity
    if tile is None:
        side = MAX_TILE if config.tile_size is None else min(config.tile_size, MAX_TILE)
        tile = (max(1, round(side / model.config.anisotropy)), side, side)
    tile = tuple(max(gi, math.ceil(min(t, d) / gi) * gi) for t, d, gi in zip(tile, shape, g))
    radius = model.receptive_radius
    ctx = radius if config.context is None else tuple(min(config.context, r) for r in radius)
    context = tuple(math.ceil(c / gi) * gi for c, gi in zip(ctx, g))
    return TilePlan3D(tuple(shape), tile, context)


def predict_3d(
    volume,
    bundle: Bundle,
    config: PredictConfig | None = None,
    *,
    model=None,
    probabilities: bool = True,
    tile: tuple[int, int, int] | None = None,
    out_labels=None,
    out_probabilities=None,
) -> Generator[Progress, None, Prediction]:
    """Predict a ``(C, Z, Y, X)`` array-like with a 3-D model, tile by tile.

    Outputs (written into ``out_labels (Z, Y, X)`` / ``out_probabilities (K, Z, Y, X)`` when
    given) as in :func:`~.predict.predict`. Yields progress per batch of tiles.
    """
    config = config or PredictConfig()
    cfg = bundle.model_config
    if cfg.spatial_dims != 3:
        raise ImageError(
            "this is a 2-D model: predict volumes plane by plane (core.inference.segment), "
            "or train a 3-D model (napari-unet train --3d)"
        )
    check_volume(volume)
    c, *shape = volume.shape
    if c != cfg.in_channels:
        raise ImageError(f"the model was trained on {cfg.in_channels}-channel volumes; "
                         f"this one has {c}")
    device = resolve_device(config.device) if model is None else next(model.parameters()).device
    model = model if model is not None else bundle.build_model(device)
    model.eval()
    plan = plan_tiles3d(model, shape, config, tile)
    low, high = stats_for(as_planes(volume), bundle.norm)
    k = cfg.n_classes
    if out_labels is None:
        out_labels = np.zeros(tuple(shape), label_dtype(k))
    if probabilities and out_probabilities is None:
        out_probabilities = np.zeros((k, *shape), np.float32)
    # float32 on the CPU, as in training (bf16 Conv3d is unreliable there, see train3d.py)
    amp = autocast_dtype(device) if config.amp and device.type != "cpu" else None
    origins = plan.origins()
    per_batch = max(1, min(config.batch_size, MAX_BATCH_VOXELS // math.prod(plan.window)))
    for start in range(0, len(origins), per_batch):
        batch = origins[start : start + per_batch]
        windows = np.stack([
            apply3d(read_block(volume, [o - ct for o, ct in zip(org, plan.context)], plan.window),
                    low, high)
            for org in batch
        ])
        check_finite(windows, doing="predicting")
        with torch_threads(config.threads):
            probs = _forward(model, windows, device, amp, config.views)
        for org, p in zip(batch, probs):
            ends = [min(o + t, d) for o, t, d in zip(org, plan.tile, shape)]
            region = tuple(slice(o, e) for o, e in zip(org, ends))
            crop = p[(slice(None),) + tuple(slice(ct, ct + e - o)
                                            for ct, o, e in zip(plan.context, org, ends))]
            out_labels[region] = semantic_labels(crop)
            if out_probabilities is not None:
                out_probabilities[(slice(None),) + region] = crop
        done = start + len(batch)
        yield Progress(stage="predict", done=done, total=len(origins), fraction=done / len(origins))
    return Prediction(out_labels, out_probabilities if probabilities else None)


@torch.inference_mode()
def _forward(model, windows: np.ndarray, device, amp, n_views: int = 1) -> np.ndarray:
    def run(w: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(w).to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            return model(x).float()

    run.probabilities = False
    viewed = views.runner(run, n_views)
    return check_probabilities(backends.probabilities(viewed, viewed(windows)).cpu().numpy())


def predict_volume(volume, bundle: Bundle, config: PredictConfig | None = None,
                   **kwargs) -> Prediction:
    """Blocking form of :func:`predict_3d` for scripts and tests."""
    return drain(predict_3d(volume, bundle, config, **kwargs))
