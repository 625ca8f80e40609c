"""Overlap-tile prediction (Ronneberger et al. 2015, Fig. 2) over any 2-D array-like.

The image is cut into output tiles on a grid whose stride is a multiple of ``2**depth``
(:mod:`.tiles` plans them: a given tile size, or the largest the memory budget allows);
each tile is predicted from an input window with ``context`` extra pixels per side, mirrored
where the window leaves the image. With the full receptive field as context (the default)
the result equals whole-image prediction up to float rounding, because every output pixel
sees exactly the same input either way. The input is read window by window (numpy, dask and
zarr arrays all slice lazily) and the output can be written into any array that supports
slice assignment (numpy, zarr), so nothing forces the whole image into memory.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from ..config import NormConfig, PredictConfig
from ..device import (
    autocast_dtype,
    describe,
    resolve_device,
    torch_threads,
)
from ..files.bundle import Bundle, BundleError, for_model
from ..images import ImageError, check_finite, check_image
from ..networks.model import UNet
from ..normalize import apply, stats_for
from ..oom import OutOfMemory, free_device_memory, is_out_of_memory
from ..progress import Progress, drain
from . import backends, views
from .postprocess import label_dtype, semantic_labels
from .tiles import TilePlan, plan_tiles


@dataclass
class Prediction:
    """``labels (H, W)``: class ``k`` as value ``k + 1`` (as painted); ``probabilities (K, H, W)``."""

    labels: np.ndarray
    probabilities: np.ndarray | None = None


def read_window(image, y0: int, x0: int, size: int) -> np.ndarray:
    """``image[:, y0:y0+size, x0:x0+size]`` of a ``(C, H, W)`` array-like, mirrored outside."""
    _, h, w = image.shape
    ry0, rx0 = max(y0, 0), max(x0, 0)
    ry1, rx1 = min(y0 + size, h), min(x0 + size, w)
    block = np.asarray(image[:, ry0:ry1, rx0:rx1])
    pads = ((0, 0), (ry0 - y0, y0 + size - ry1), (rx0 - x0, x0 + size - rx1))
    if any(p for pair in pads for p in pair):
        block = np.pad(block, pads, mode="symmetric")
    return block


def predict(
    image,
    bundle: Bundle,
    config: PredictConfig | None = None,
    *,
    model: UNet | None = None,
    probabilities: bool = True,
    out_labels=None,
    out_probabilities=None,
    backend: str | None = None,
) -> Generator[Progress, None, Prediction]:
    """Predict a ``(C, H, W)`` array-like tile by tile, yielding progress per batch of tiles.

    ``model`` may be given to reuse one already built from ``bundle`` (on the right device).
    ``out_labels`` / ``out_probabilities`` may be arrays (numpy, zarr) to write into;
    otherwise numpy arrays are made. ``backend``: "torch", "compile", "onnxruntime" or
    "auto", the fastest for the work on this device (:mod:`.backends`); default
    ``config.backend``. Returns a :class:`Prediction`.
    """
    config = config or PredictConfig()
    backend = backend or config.backend
    cfg = bundle.model_config
    if cfg.spatial_dims == 3:
        raise ImageError("this is a 3-D model: give it (Z, Y, X) volumes "
                         "(core.inference.predict3d.predict_3d), not 2-D images")
    check_image(image)
    image = for_model(image, bundle)  # colour -> luminance for starter-based models
    c, h, w = image.shape
    if c != cfg.in_channels:
        raise ImageError(
            f"the model was trained on {cfg.in_channels}-channel images; this image has {c} "
            f"channel{'s' if c != 1 else ''}"
        )
    device = resolve_device(config.device) if model is None else next(model.parameters()).device
    model = model if model is not None else bundle.build_model(device)
    model.eval()
    plan = plan_tiles(model, h, w, config)
    low, high = stats_for(image, bundle.norm)
    k = cfg.n_classes
    if out_labels is None:
        out_labels = np.zeros((h, w), label_dtype(k))
    if probabilities and out_probabilities is None:
        out_probabilities = np.zeros((k, h, w), np.float32)
    while True:
        try:
            yield from _predict_tiles(image, model, device, plan, low, high, config,
                                      out_labels, out_probabilities, backend, bundle)
            return Prediction(out_labels, out_probabilities if probabilities else None)
        except _TileTooLarge as e:
            smaller = plan.tile // 2
            if smaller < max(16, model.granularity):
                raise OutOfMemory(
                    f"{describe(device)} ran out of memory even with one {plan.tile}-px tile at "
                    "a time; predict on the CPU, or use a smaller model"
                ) from e.__cause__
            config = replace(config, tile_size=smaller, batch_size=1)
            plan = plan_tiles(model, h, w, config)
            yield Progress(stage="predict", done=0, total=len(plan.origins()), fraction=0.0,
                           notice=f"Out of memory: predicting again with {plan.tile}-px tiles")


class _TileTooLarge(Exception):
    """Out of memory with one tile per batch: the tile must shrink."""


def _predict_tiles(image, model, device, plan: TilePlan, low, high, config: PredictConfig,
                   out_labels, out_probabilities, backend: str = "auto",
                   bundle: Bundle | None = None) -> Generator[Progress, None, None]:
    """Predict every tile of ``plan`` into the outputs, a batch at a time; after an
    out-of-memory error, retry with half the batch (and say so)."""
    h, w = plan.height, plan.width
    amp = autocast_dtype(device) if config.amp else None
    name = backends.choose(backend, device, amp, plan.count * plan.window**2 * config.views)
    run = views.runner(backends.runner(name, model, device, amp, bundle=bundle,
                                       threads=config.threads), config.views)
    origins = plan.origins()
    batch_size, done = plan.batch or config.batch_size, 0
    while done < len(origins):
        batch = origins[done : done + batch_size]
        try:
            with torch_threads(config.threads):
                probs = _predict_batch(image, batch, plan, low, high, run)
        except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
            if not is_out_of_memory(e):
                raise
            free_device_memory(device)
            if len(batch) == 1:
                raise _TileTooLarge() from e
            batch_size = len(batch) // 2
            yield Progress(stage="predict", done=done, total=len(origins),
                           fraction=done / len(origins),
                           notice=f"Out of memory: predicting {batch_size} tile"
                                   f"{'s' if batch_size > 1 else ''} at a time")
            continue
        off = (probs.shape[-1] - plan.tile) // 2  # "same" padding returns the context too
        for (y, x), p in zip(batch, probs):
            y1, x1 = min(y + plan.stride, h), min(x + plan.stride, w)
            tile = p[:, off : off + y1 - y, off : off + x1 - x]
            out_labels[y:y1, x:x1] = semantic_labels(tile)
            if out_probabilities is not None:
                out_probabilities[:, y:y1, x:x1] = tile
        done += len(batch)
        yield Progress(stage="predict", done=done, total=len(origins), fraction=done / len(origins))


def _predict_batch(image, batch, plan: TilePlan, low, high, run) -> np.ndarray:
    """Read, normalise and predict the windows of a batch of tile origins."""
    windows = np.stack(
        [
            apply(read_window(image, y - plan.context, x - plan.context, plan.window), low, high)
            for y, x in batch
        ]
    )
    check_finite(windows, doing="predicting")  # NaN in the image, or in its percentiles
    return check_probabilities(backends.probabilities(run, run(windows)).cpu().numpy())


def check_probabilities(probs: np.ndarray) -> np.ndarray:
    """``probs`` if finite; a model whose output is NaN (damaged weights that pass every
    check on loading, a training that diverged) is a :class:`BundleError`, never labels."""
    if not np.isfinite(probs).all():
        raise BundleError("the model predicts NaN (not a number) instead of probabilities: its "
                          "file is damaged or its training went wrong; retrain it or use another")
    return probs


def predict_image(image, bundle: Bundle, config: PredictConfig | None = None, **kwargs) -> Prediction:
    """Blocking form of :func:`predict` for scripts and tests."""
    return drain(predict(image, bundle, config, **kwargs))


def predict_normalized(image, model: UNet, config: PredictConfig | None = None, *,
                       probabilities: bool = True) -> Prediction:
    """Blocking prediction of an already normalised ``(C, H, W)`` image with ``model`` (on
    its own device): what scoring held-out strokes and a starter's soft targets need."""
    c = image.shape[0]
    identity = Bundle(model_config=model.config,
                      norm=NormConfig(mode="fixed", low=[0.0] * c, high=[1.0] * c), state_dict={})
    return predict_image(image, identity, config, model=model, probabilities=probabilities)
