"""One way to predict: any image, any model, in memory or into a zarr store.

:func:`segment` is the single entry that the dock widgets, the command line, folder and
cluster runs and the Python API all call. It decides:

- **2-D or 3-D** by the model: a 3-D U-Net predicts a ``(C, Z, Y, X)`` volume whole, a 2-D
  one a ``(C, H, W)`` image or an ``(..., C, H, W)`` stack plane by plane;
- **in memory or into a store**: with ``out`` (a path, a zarr store, or the
  :class:`~.lazy.ZarrPrediction` of :func:`~.lazy.create_outputs`) results are written tile
  by tile and never held whole (objects too, seam-free); without it they come back as numpy
  arrays. The input is read window by window either way, so numpy, dask, zarr and lazy file
  views all work;
- **classes, objects or probabilities**: an instance model's labels *are* its objects (one id
  per object); a semantic model's foreground is split into objects with ``objects=True``;
- **3-D objects from a 2-D model**: with ``stitch_axis`` (the leading axis that is Z) the
  objects of adjacent planes that overlap are joined (:mod:`.stitch`).

It is a generator that yields :class:`~..progress.Progress` and returns a
:class:`Segmentation`; :func:`~..progress.drain` runs it to the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..config import PredictConfig
from ..images import ImageError
from ..progress import Progress, rescaled
from .stitch import STITCH_THRESHOLD, stitch_stack

POSTPROCESS_SHARE = 0.1
"""Share of the progress given to splitting into objects (in memory), when that is done."""


@dataclass
class Segmentation:
    """What :func:`segment` returns (numpy arrays, or zarr arrays when written to a store).

    ``labels``: class ``k`` as value ``k + 1``, or object ids (an instance model);
    ``probabilities``: ``(..., K, H, W)`` (``(K, Z, Y, X)`` for a 3-D model), only if asked;
    ``objects``: a semantic model's foreground split into objects, only if asked;
    ``store``: the :class:`~.lazy.ZarrPrediction` written, with ``out``;
    ``diameter``: the object size (px) the image was predicted for, given or estimated
    (``None``: predicted at its own scale); ``estimated``: whether it was estimated.
    ``axes``: the labels' axes (``"ZYX"``, ...), where the caller knows them.
    """

    labels: Any
    probabilities: Any = None
    objects: Any = None
    store: Any = None
    diameter: float | None = None
    estimated: bool = False
    axes: str = ""


@dataclass
class Into:
    """Arrays that a 2-D image's prediction is written into, tile by tile, as ``out=``:
    ``labels (H, W)`` and ``probabilities (K, H, W)`` (or None); numpy or zarr. For classes
    only: objects are made in memory or in a zarr store."""

    labels: Any
    probabilities: Any = None


def segment(image, bundle, config: PredictConfig | None = None, *, objects: bool = False,
            probabilities: bool = False, out=None, planes: list[tuple] | None = None,
            model=None, overwrite: bool = False, stitch_axis: int | None = None,
            stitch_threshold: float = STITCH_THRESHOLD) -> Generator[Progress, None, Segmentation]:
    """Predict ``image`` with ``bundle``; yields progress, returns a :class:`Segmentation`.

    ``image``: ``(C, H, W)`` or ``(..., C, H, W)`` for a 2-D model (any array-like);
    ``(C, Z, Y, X)`` for a 3-D one. ``planes`` (indices into the leading axes) limits a store
    to those planes. ``model`` may be one already built from ``bundle``. A path as ``out``
    is checked before any work and written whole or not at all
    (:mod:`..files.store_target`): what exists there is never replaced unless it is a store
    of ours and ``overwrite`` is given, and an input is never written into. ``stitch_axis``:
    the leading axis (an index into ``image.shape[:-3]``) along which objects of adjacent
    planes that overlap by ``stitch_threshold`` (IoU) are joined into 3-D objects.
    """
    config = config or PredictConfig()
    if bundle.model_config.spatial_dims == 3:
        return (yield from _volume(image, bundle, config, objects, probabilities, out, model))
    if isinstance(out, Into):
        return (yield from _into_arrays(image, bundle, config, objects, probabilities, out, model))
    if stitch_axis is not None and not 0 <= stitch_axis < len(image.shape) - 3:
        raise ValueError(f"stitch_axis {stitch_axis} is not a leading axis of {tuple(image.shape)}")
    stitch = (stitch_axis, stitch_threshold) if stitch_axis is not None and stitch_threshold > 0 \
        else None
    if out is not None:
        return (yield from _into_store(image, bundle, config, objects, probabilities, out, planes,
                                       model, overwrite, stitch))
    if planes is not None:
        raise ValueError("planes limits a store: give out=, or index the image")
    return (yield from _in_memory(image, bundle, config, objects, probabilities, model, stitch))


def _volume(volume, bundle, config, objects, probabilities, out, model):
    from .predict3d import predict_3d

    if objects:
        raise ImageError("3-D models predict classes only, not objects")
    if out is not None:
        raise ImageError("3-D models predict volumes in memory, not into a zarr store")
    pred = yield from predict_3d(volume, bundle, config, model=model, probabilities=probabilities)
    return Segmentation(pred.labels, pred.probabilities if probabilities else None)


def _in_memory(image, bundle, config, objects, probabilities, model, stitch=None):
    from ..device import resolve_device
    from . import object_size

    model = model if model is not None else bundle.build_model(resolve_device(config.device))
    diameter, estimated = object_diameter(image, bundle, config, model)
    f = object_size.factor(bundle.postprocess.object_size, diameter)
    instance = bundle.mode == "instance"
    split = instance or objects
    want = probabilities or split  # objects are made from the probabilities
    share = 1 - POSTPROCESS_SHARE if split else 1.0
    size = tuple(image.shape[-2:])
    small = object_size.resize_planes(image, f) if f != 1 else image
    pred = yield from rescaled(_planes(small, bundle, config, want or f != 1, model), 0.0, share)
    probs = pred.probabilities
    full = None  # the probabilities at the image's size, when predicted at another
    if f != 1:
        full = object_size.back(probs, size)
        labels = full.argmax(-3).astype(pred.labels.dtype) + 1
        pred = type(pred)(labels, full if probabilities else None)
    result = Segmentation(pred.labels, pred.probabilities if probabilities else None,
                          diameter=diameter if f != 1 else None, estimated=estimated)
    if split:
        half = (1 - share) / 2 if stitch else 1 - share
        ids = yield from rescaled(objects_at(probs, full, f, size, bundle), share, half)
        if stitch:
            yield from rescaled(stitch_stack(ids, *stitch), share + half, half)
        if instance:
            result.labels = ids
        else:
            result.objects = ids
    return result


def object_diameter(image, bundle, config, model) -> tuple[float | None, bool]:
    """The size of the objects in ``image`` (px), and whether it was estimated: as given in
    ``config.diameter`` (0: none), else estimated on the middle plane of a stack (the first
    planes of a z-stack are often out of focus or empty) when the model knows
    its own object size."""
    from . import object_size

    if config.diameter is not None:
        return (config.diameter or None), False
    if not bundle.postprocess.object_size:
        return None, False
    from .lazy import PlaneView, as_stack

    stack = as_stack(image)
    lead = tuple(stack.shape[:-3])
    mid = tuple(n // 2 for n in lead)
    if lead:  # a lazy stack's plane stays lazy: the estimate reads a crop of it
        plane = stack[mid] if isinstance(stack, np.ndarray) else PlaneView(stack, mid)
    else:
        plane = stack
    return object_size.estimate(plane, bundle, model, config).diameter, True


def _planes(image, bundle, config, probabilities, model):
    """:func:`~.predict.predict` of a ``(C, H, W)`` image, or of each plane of an
    ``(..., C, H, W)`` stack (z-stacks, time series) into one array; returns a Prediction
    with labels ``(..., H, W)`` and, if asked, probabilities ``(..., K, H, W)``."""
    from ..device import resolve_device
    from .postprocess import label_dtype
    from .predict import Prediction, predict

    if len(image.shape) <= 3:
        return (yield from predict(image, bundle, config, model=model, probabilities=probabilities))
    lead = tuple(image.shape[:-3])
    h, w = image.shape[-2:]
    k = bundle.model_config.n_classes
    labels = np.zeros(lead + (h, w), label_dtype(k))
    probs = np.zeros(lead + (k, h, w), np.float32) if probabilities else None
    model = model if model is not None else bundle.build_model(resolve_device(config.device))
    planes = list(np.ndindex(*lead))
    for i, idx in enumerate(planes):
        gen = predict(image[idx], bundle, config, model=model, probabilities=probabilities,
                      out_labels=labels[idx],
                      out_probabilities=probs[idx] if probs is not None else None)
        for p in gen:
            yield replace(p, done=i, total=len(planes), fraction=(i + p.fraction) / len(planes),
                          message=f"plane {i + 1} of {len(planes)}")  # keeps notices
    return Prediction(labels, probs)


def _into_arrays(image, bundle, config, objects, probabilities, into, model):
    from .predict import predict

    if objects or bundle.mode == "instance":
        raise ValueError("objects are made in memory or in a zarr store, not into arrays")
    if probabilities and into.probabilities is None:
        raise ValueError("probabilities asked for, but no array to write them into")
    pred = yield from predict(image, bundle, config, model=model, probabilities=probabilities,
                              out_labels=into.labels, out_probabilities=into.probabilities)
    return Segmentation(pred.labels, pred.probabilities)


def objects_at(probabilities, brought_back, f: float, size, bundle):
    """Object ids ``(..., H, W)`` at the image's ``size`` from a prediction made at ``f``
    times it: ``probabilities`` at the model's size, ``brought_back`` the same at the image's
    size (None when ``f`` is 1). A generator yielding progress per plane; returns the ids.

    Made from the probabilities brought back, with the minimum sizes in the image's pixels;
    or, for a grown image of a model with a one-pixel border, at the model's size and
    brought back pixel by pixel (:func:`.object_size.objects_at_model_size`)."""
    from . import object_size

    if f != 1 and not object_size.objects_at_model_size(bundle, f):
        return (yield from split_objects(brought_back, object_size.with_min_size_at(bundle, f)))
    ids = yield from split_objects(probabilities, bundle)
    return object_size.back(ids, size, order=0) if f != 1 else ids


def split_objects(probabilities, bundle):
    """``(..., K, H, W)`` probabilities -> object ids ``(..., H, W)`` (uint32), plane by plane.

    A generator yielding progress per plane; returns the ids. Ids go on from plane to plane,
    so every object of a stack has its own.
    """
    from .postprocess import to_instances

    lead = probabilities.shape[:-3]
    out = np.zeros(lead + probabilities.shape[-2:], np.uint32)
    planes = list(np.ndindex(*lead))
    offset = 0
    for i, idx in enumerate(planes):
        ids = to_instances(probabilities[idx], bundle.mode, bundle.postprocess)
        out[idx] = np.where(ids > 0, ids + offset, 0)
        offset = max(offset, int(out[idx].max()))
        yield Progress(stage="objects", done=i + 1, total=len(planes),
                       fraction=(i + 1) / len(planes))
    return out


def _into_store(image, bundle, config, objects, probabilities, out, planes, model, overwrite,
                stitch=None):
    from ..device import resolve_device
    from . import object_size
    from .lazy import (
        PlaneView,
        ZarrPrediction,
        as_stack,
        create_outputs,
        fill,
        open_outputs,
        store_chunk,
    )
    from .scaled_store import fill_scaled

    instance = bundle.mode == "instance"
    split = instance or objects
    path = tmp = None
    model = model if model is not None else bundle.build_model(resolve_device(config.device))
    if not isinstance(out, ZarrPrediction):
        from ..files import store_target

        target = out
        if not isinstance(out, (str, os.PathLike)):
            out = getattr(out, "root", None) or out  # a zarr LocalStore is its folder
        if isinstance(out, (str, os.PathLike)):
            path = store_target.claim(out,
                                      store_target.sources_of(image), overwrite)
            target = tmp = store_target.temporary_for(path)
        stack = as_stack(image)
        h, w = stack.shape[-2:]
        try:
            out = create_outputs(str(target) if tmp else target,
                                 tuple(stack.shape[:-3]) + (h, w),
                                 bundle.model_config.n_classes,
                                 chunk=store_chunk(bundle, h, w, config, model),
                                 probabilities=probabilities or split, instances=split,
                                 mode="w" if tmp or overwrite else "w-")
        except Exception:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    elif split and out.instances is None:
        raise ValueError("objects need a store made with instances=True")
    share = 0.95 if split and stitch else 1.0
    try:
        diameter, estimated = object_diameter(image, bundle, config, model)  # after the checks
        f = object_size.factor(bundle.postprocess.object_size, diameter)
        if f != 1:
            work = fill_scaled(out, image, bundle, config, f, model=model, planes=planes,
                               keep_probabilities=probabilities)
        else:
            work = fill(out, image, bundle, config, model=model, planes=planes,
                        keep_probabilities=probabilities)
        out = yield from rescaled(work, 0.0, share)
        if split and stitch:  # every plane's objects, joined along Z (also the pyramid levels)
            writer = out.writer(out.instances)
            yield from rescaled(stitch_stack(writer, *stitch,
                                             plane=lambda index: PlaneView(writer, index)),
                                share, 1 - share)
        if tmp is not None:
            from ..files.store_target import MARK, publish

            out.group.attrs[MARK] = dict(out.group.attrs[MARK], complete=True)
            publish(tmp, path)
            out = open_outputs(path, out.objects)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return Segmentation(
        labels=out.instances if instance else out.labels,
        probabilities=out.probabilities or None,
        objects=out.instances if objects and not instance else None,
        store=out,
        diameter=diameter if f != 1 else None,
        estimated=estimated,
    )
