"""Prediction into a zarr store at an object size: the zarr route of :mod:`.object_size`.

An image too large for memory is resized lazily (:class:`~.resized.Resized`: each window
is computed from the source under it) and predicted into a scratch group at the model's
size; the probabilities are brought back to the image's pixels block by block into the
store's arrays, and objects are made as in memory (:func:`.segment._in_memory`): from the
probabilities brought back, with the minimum object size in the image's pixels; but grown
images (small objects) of a model with a one-pixel border at the model's size, where that
border between touching objects still exists, and their ids brought back pixel by pixel
(:func:`.object_size.objects_at_model_size`). Nothing of full size is held in memory; the
scratch group is deleted at the end.

Shapes: images ``(..., C, H, W)``; the store's arrays ``(..., H, W)``.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..progress import Progress, rescaled
from .lazy import (
    OBJECT_BLOCK,
    ChannelStack,
    PlaneView,
    ZarrPrediction,
    as_stack,
    create_outputs,
    drop_probabilities,
    fill,
    objects_pass,
    store_chunk,
)
from .object_size import objects_at_model_size, scaled_shape, with_min_size_at
from .postprocess import semantic_labels
from .resized import Resized

SCRATCH = "_at_model_size"
"""The scratch group, inside the store, that holds the prediction at the model's size."""


def fill_scaled(out: ZarrPrediction, image, bundle, config, f: float, *, model,
                planes: list[tuple] | None = None, keep_probabilities: bool = True
                ) -> Generator[Progress, None, ZarrPrediction]:
    """:func:`~.lazy.fill` of ``out`` with ``image`` resized by ``f`` for the model (see the
    module docstring); yields progress, returns ``out``."""
    image = as_stack(image)
    lead = tuple(image.shape[:-3])
    size = tuple(image.shape[-2:])
    h, w = scaled_shape(size, f)
    split = out.instances is not None
    split_small = split and objects_at_model_size(bundle, f)
    planes = [tuple(p) for p in planes] if planes else list(np.ndindex(*lead)) if lead else [()]
    if SCRATCH in out.group:
        del out.group[SCRATCH]
    small = create_outputs(out.group.create_group(SCRATCH), lead + (h, w),
                           bundle.model_config.n_classes,
                           chunk=store_chunk(bundle, h, w, config, model), probabilities=True,
                           instances=split_small, pyramid=False)
    shares = (0.65, 0.1, 0.25) if split and not split_small else (0.85, 0.15, 0.0)
    yield from rescaled(fill(small, Resized(image, (h, w), anti_aliasing=f < 1), bundle,
                             config, model=model, planes=planes), 0.0, shares[0])
    for i, idx in enumerate(planes):
        yield from rescaled(_back(out, small, idx, size, split_small), shares[0] + shares[1] * i
                            / len(planes), shares[1] / len(planes))
    del out.group[SCRATCH]
    if split_small:
        out.objects = small.objects
    if split and not split_small:
        postprocess = with_min_size_at(bundle, f).postprocess
        for i, idx in enumerate(planes):
            yield from rescaled(objects_pass(out, idx, bundle.mode, postprocess),
                                sum(shares[:2]) + shares[2] * i / len(planes),
                                shares[2] / len(planes))
    if split and not keep_probabilities:
        drop_probabilities(out)
    return out


def _back(out: ZarrPrediction, small: ZarrPrediction, idx: tuple, size, ids: bool
          ) -> Generator[Progress, None, None]:
    """Plane ``idx`` of ``small`` (at the model's size) into ``out`` at the image's ``size``,
    block by block: probabilities linearly, classes from them, object ids (``ids``) by
    nearest neighbour."""
    probs = Resized(ChannelStack(small.probabilities, idx), size, anti_aliasing=False)
    objects = Resized(PlaneView(small.instances, idx), size, order=0) if ids else None
    labels = PlaneView(out.writer(out.labels), idx)
    to_probs = (ChannelStack([out.writer(p) for p in out.probabilities], idx)
                if out.probabilities else None)
    to_ids = PlaneView(out.writer(out.instances), idx) if ids else None
    chunk = out.labels.chunks[-1]
    block = chunk * max(1, OBJECT_BLOCK // chunk)
    origins = [(y, x) for y in range(0, size[0], block) for x in range(0, size[1], block)]
    for n, (y, x) in enumerate(origins):
        window = (slice(y, min(y + block, size[0])), slice(x, min(x + block, size[1])))
        p = probs[(slice(None),) + window]
        labels[window] = semantic_labels(p)
        if to_probs is not None:
            to_probs[(slice(None),) + window] = p
        if to_ids is not None:
            to_ids[window] = objects[window]
        yield Progress(stage="predict", done=n + 1, total=len(origins),
                       fraction=(n + 1) / len(origins), message="back to the image's size")

