"""Predict an Image layer with a model in a ``thread_worker`` and write the result layers.

Shared by the predict widget and by the train widget (which predicts after training).

Objects: an instance model's prediction *is* its objects (one id per object); a semantic
model's foreground can also be split into objects. Both come from the core's
``to_instances``, run in the worker after prediction, plane by plane for stacks (objects
are 2-D): ids are numbered on through the stack, so no two objects of one run share one.

Large images (planes over ``LARGE_PLANE_PIXELS``, or dask, zarr and multiscale layers, of
which level 0 is used) are predicted into a zarr store in a temporary folder instead
(:mod:`napari_unet.core.inference.lazy`): the result layers are made at once, backed by the store, and
refreshed while the worker fills them tile by tile, so nothing is held whole in memory and
the viewer stays responsive. Planes larger than ``core.lazy.PYRAMID_MIN_SIDE`` get
multiscale layers (the store's pyramid), so the viewer reads only what it shows. The folder
is deleted with the prediction layer (or at exit).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning

from napari_unet.core.images import ImageError
from napari_unet.core.progress import rescaled

from .layers import (
    channels_text,
    current_plane,
    find_ours,
    image_stack,
    ours,
    spatial_shape,
    write_objects,
    write_result,
)
from .tasks import ProgressBar, guarded, start

WHOLE_STACK_PIXELS = 16_000_000
"""After training, a stack is predicted whole up to this many pixels, else the shown plane."""

LARGE_PLANE_PIXELS = 4096 * 4096
"""Planes larger than this (and any dask/zarr/multiscale layer) are predicted into zarr."""

MAX_VOLUME_VOXELS = 512 * 2**20
"""A 3-D model predicts a volume whole, in memory: larger ones are refused."""

REFRESH_SECONDS = 1.0
"""How often zarr-backed result layers are redrawn while they fill."""


def layer_stack(layer):
    """:func:`image_stack` of ``layer`` (level 0 if multiscale), lazily also for array-likes
    that refuse numpy's indexing (zarr): those are wrapped in dask."""
    data = layer.data[0] if layer.multiscale else layer.data
    if isinstance(data, np.ndarray) or type(data).__module__.startswith("dask"):
        return image_stack(layer)
    import dask.array as da

    chunks = getattr(data, "chunks", None) or "auto"
    wrapped = SimpleNamespace(data=da.from_array(data, chunks=chunks), multiscale=False,
                              rgb=layer.rgb, name=layer.name)
    return image_stack(wrapped)


def is_large(layer, stack) -> bool:
    """Whether ``layer`` is predicted into a zarr store (see the module docstring)."""
    h, w = stack.shape[-2:]
    return layer.multiscale or not isinstance(stack, np.ndarray) or h * w > LARGE_PLANE_PIXELS


def check_image(layer, bundle) -> None:
    """Raise :class:`ImageError` saying what to do if ``bundle`` cannot predict ``layer``."""
    want = bundle.model_config.in_channels
    have = layer_stack(layer).shape[-3]
    if bundle.model_config.spatial_dims == 3:
        shape = spatial_shape(layer)
        if len(shape) != 3:
            raise ImageError(
                f"the current model is a 3-D U-Net: it predicts (Z, Y, X) stacks, but "
                f"'{layer.name}' has shape {shape}; choose a z-stack, or use a 2-D model"
            )
        if int(np.prod(shape)) > MAX_VOLUME_VOXELS:
            raise ImageError(
                f"'{layer.name}' has {np.prod(shape) / 2**20:.0f} M voxels; a 3-D model "
                f"predicts at most {MAX_VOLUME_VOXELS // 2**20} M (crop the stack, or use the "
                "command line)"
            )
    if have != want and not (have in (3, 4) and reads_colour(bundle)):
        raise ImageError(
            f"the current model was trained on {channels_text(want)} images, but "
            f"'{layer.name}' is {channels_text(have)}; choose a {channels_text(want)} image, "
            "or train a model on this one"
        )


def reads_colour(bundle) -> bool:
    """Whether a grayscale 2-D ``bundle`` takes colour images as their luminance (the
    starters and models fine-tuned from one; ``core.grayscale.takes_luminance``)."""
    from napari_unet.core.grayscale import takes_luminance

    return bundle.model_config.spatial_dims == 2 and takes_luminance(bundle)


def auto_plane(viewer, layer):
    """None (predict the whole stack) when it is small, else the plane shown now."""
    shape = spatial_shape(layer)
    if len(shape) == 2 or int(np.prod(shape)) <= WHOLE_STACK_PIXELS:
        return None
    return current_plane(viewer, layer)


def has_results(viewer, layer, role: str) -> bool:
    """Whether ``role`` layers of ``layer`` exist ("probability", "objects"): a re-run
    then updates them too."""
    return any(ours(viewer, role, layer.name))


POSTPROCESS_SHARE = 0.1
"""Share of the progress bar given to splitting into objects, when that is done."""


@dataclass
class Result:
    """What the worker returns: ``labels`` (classes, or object ids for an instance model),
    ``probabilities`` (only if asked) and ``objects`` (a semantic model's, only if asked)."""

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    objects: np.ndarray | None = None


def split_objects(probabilities, bundle):
    """``(..., K, H, W)`` probabilities -> object ids ``(..., H, W)`` (uint32), plane by plane.

    A generator yielding progress per plane; returns the ids. Ids go on from plane to plane,
    so every object of the stack has its own.
    """
    from napari_unet.core.inference.postprocess import to_instances
    from napari_unet.core.progress import Progress

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


@thread_worker(start_thread=False, ignore_errors=True)  # our errored handler tells the user
def _predict(stack, bundle, device, probabilities, plane, objects):
    """Predict, then (instance model, or ``objects``) split into objects; returns a Result."""
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.inference.predict import predict, predict_planes

    instance = bundle.mode == "instance"
    split = instance or objects
    share = 1 - POSTPROCESS_SHARE if split else 1.0
    want = probabilities or split  # objects are made from the probabilities
    config = PredictConfig(device=device, threads=interactive_threads())
    if plane:
        gen = predict(stack[plane], bundle, config, probabilities=want)
    else:
        gen = predict_planes(stack, bundle, config, probabilities=want)
    prediction = yield from guarded(rescaled(gen, 0.0, share))
    result = Result(prediction.labels, prediction.probabilities if probabilities else None)
    if split:
        gen = split_objects(prediction.probabilities, bundle)
        ids = yield from guarded(rescaled(gen, share, 1 - share))
        if instance:
            result.labels = ids
        else:
            result.objects = ids
    return result


@thread_worker(start_thread=False, ignore_errors=True)  # our errored handler tells the user
def _predict_volume(data, bundle, device, probabilities):
    """Predict a ``(Z, Y, X)`` grayscale stack as one volume with a 3-D model; a Result
    whose probabilities are ``(Z, K, Y, X)``, as :func:`write_result` takes them."""
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.inference.predict3d import predict_3d, to_czyx

    config = PredictConfig(device=device, threads=interactive_threads())
    volume = to_czyx(np.asarray(data))
    prediction = yield from guarded(predict_3d(volume, bundle, config, probabilities=probabilities))
    probs = prediction.probabilities
    return Result(prediction.labels, None if probs is None else np.moveaxis(probs, 0, 1))


def start_prediction(viewer, layer, bundle, *, device="auto", probabilities=False, plane=None,
                     objects=False, on_done=None):
    """Predict ``layer`` (whole, or only ``plane`` of its leading dimensions) and show it.

    Returns the started worker, or None after telling the user why it cannot run. Writes
    ``"<image> prediction"`` (object ids for an instance model), ``"<image> P(<class>)"``
    with ``probabilities`` and, for a semantic model with ``objects``, ``"<image> objects"``
    when the worker returns; ``on_done(layer_or_None)`` is called when it ends, however it
    ends. A 3-D model predicts the whole ``(Z, Y, X)`` stack as one volume (no ``plane``,
    no objects, never into zarr).
    """
    try:
        check_image(layer, bundle)
        stack = layer_stack(layer)
    except ImageError as e:
        show_error(f"Cannot predict: {e}")
        return None
    three_d = bundle.model_config.spatial_dims == 3
    if three_d:
        plane = None
        if objects:
            show_warning("Objects are split from 2-D predictions only; not for a 3-D model")
    elif is_large(layer, stack):
        return _start_lazy(viewer, layer, bundle, stack, device, probabilities, plane or None,
                           objects, on_done)
    bar = ProgressBar(f"Predicting {layer.name}")
    if three_d:
        data = layer.data[0] if layer.multiscale else layer.data
        worker = _predict_volume(data, bundle, device, probabilities)
    else:
        worker = _predict(stack, bundle, device, probabilities, plane or None, objects)
    result = {}

    def returned(out: Result):
        if layer not in viewer.layers:
            show_warning(f"'{layer.name}' was removed before its prediction finished")
            return
        _drop_other_scales(viewer, layer, multiscale=False)
        result["layer"] = write_result(
            viewer, layer, out.labels, out.probabilities, bundle.class_names,
            plane=plane or None, instances=bundle.mode == "instance",
        )
        if out.objects is not None:
            write_objects(viewer, layer, out.objects, plane=plane or None)

    def finished():
        bar.close()
        if on_done is not None:
            on_done(result.get("layer"))

    worker.yielded.connect(bar.update)
    worker.returned.connect(returned)
    worker.errored.connect(lambda e: show_error(f"Prediction failed: {e}"))
    worker.finished.connect(finished)
    start(worker)
    return worker


def _drop_other_scales(viewer, image, multiscale: bool) -> None:
    """Remove our result layers of ``image`` that are (not) multiscale when the new result is
    not (is): napari cannot switch a layer between one level and a pyramid."""
    for role in ("prediction", "objects", "probability"):
        for old in list(ours(viewer, role, image.name)):
            if old.multiscale != multiscale:
                viewer.layers.remove(old)


class _PerClass:
    """``probabilities[..., k, :, :]`` for :func:`write_result` from one array per class."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __getitem__(self, key):
        return self.arrays[key[-3]]


@thread_worker(start_thread=False, ignore_errors=True)  # our errored handler tells the user
def _predict_lazy(out, stack, bundle, config, plane, keep_probabilities):
    """Fill the zarr store ``out`` (see :func:`napari_unet.core.inference.lazy.fill`); returns it."""
    from napari_unet.core.inference.lazy import fill

    gen = fill(out, stack, bundle, config, planes=[plane] if plane else None,
               keep_probabilities=keep_probabilities)
    return (yield from guarded(gen))


def _start_lazy(viewer, layer, bundle, stack, device, probabilities, plane, objects, on_done):
    """:func:`start_prediction` for large images: result layers backed by a zarr store in a
    temporary folder, made now and refreshed as the worker fills them."""
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.inference.lazy import create_outputs

    instance = bundle.mode == "instance"
    config = PredictConfig(device=device, threads=interactive_threads())
    folder = tempfile.mkdtemp(prefix="napari-unet-")
    try:
        out = create_outputs(f"{folder}/prediction.zarr", spatial_shape(layer),
                             bundle.model_config.n_classes, chunk=config.tile_size,
                             probabilities=probabilities, instances=instance or objects)
    except (ImageError, OSError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        show_error(f"Cannot predict: {e}")
        return None
    multiscale = len(out.factors) > 1

    def levels(array):  # napari shows a list of levels as one multiscale layer
        return out.levels(array) if multiscale else array

    _drop_other_scales(viewer, layer, multiscale)
    shown = [write_result(
        viewer, layer, levels(out.instances if instance else out.labels),
        _PerClass([levels(p) for p in out.probabilities]) if probabilities else None,
        bundle.class_names, instances=instance,
    )]
    weakref.finalize(shown[0], shutil.rmtree, folder, True)
    if probabilities:
        shown += [find_ours(viewer, "probability", layer.name, c) for c in bundle.class_names]
    if objects and not instance:
        shown.append(write_objects(viewer, layer, levels(out.instances)))
    bar = ProgressBar(f"Predicting {layer.name}")
    worker = _predict_lazy(out, stack, bundle, config, plane, probabilities)
    last = [time.monotonic()]

    def refresh(force=False):
        if force or time.monotonic() - last[0] > REFRESH_SECONDS:
            last[0] = time.monotonic()
            for shown_layer in shown:
                if shown_layer is not None and shown_layer in viewer.layers:
                    shown_layer.refresh()

    def yielded(p):
        bar.update(p)
        refresh()

    result = {}

    def finished():
        bar.close()
        refresh(force=True)
        if on_done is not None:
            on_done(result.get("layer"))

    worker.yielded.connect(yielded)
    worker.returned.connect(lambda _: result.setdefault("layer", shown[0]))
    worker.errored.connect(lambda e: show_error(f"Prediction failed: {e}"))
    worker.finished.connect(finished)
    start(worker)
    return worker
