"""Predict an Image layer with a model in a worker and write the result layers.

Shared by the predict dock and by the train dock (which predicts after training), through
their controllers: the worker comes from their :class:`~.runner.Runner` (napari's
``thread_worker`` in the docks), so this module imports no Qt.

Objects: an instance model's prediction *is* its objects (one id per object); a semantic
model's foreground can also be split into objects. Both come from the core's
``to_instances``, run in the worker after prediction, plane by plane for stacks (objects
are 2-D): ids are numbered on through the stack, so no two objects of one run share one.

Large images (planes over ``LARGE_PLANE_PIXELS``, or dask, zarr and multiscale layers, of
which level 0 is used) are predicted into a zarr store in a temporary folder instead
(:mod:`napari_unet.core.inference.lazy`): the result layers are made at once, backed by the store, and
refreshed while the worker fills them tile by tile, so nothing is held whole in memory and
the viewer stays responsive. Planes larger than ``core.inference.lazy.PYRAMID_MIN_SIDE`` get
multiscale layers (the store's pyramid), so the viewer reads only what it shows. The folder
is deleted with the prediction layer (or at exit).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import weakref
from types import SimpleNamespace

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_error, show_warning

from napari_unet.core.images import ImageError
from napari_unet.core.inference.stitch import STITCH_THRESHOLD

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
from .tasks import ProgressBar, failed, guarded

WHOLE_STACK_PIXELS = 16_000_000
"""After training, a stack is predicted whole up to this many pixels, else the shown plane."""

LARGE_PLANE_PIXELS = 4096 * 4096
"""Planes larger than this (and any dask/zarr/multiscale layer) are predicted into zarr."""

MAX_VOLUME_VOXELS = 512 * 2**20
"""A 3-D model predicts a volume whole, in memory: larger ones are refused."""

METER_MS = 500
"""How often the bar of a 3-D prediction follows its :class:`Meter`."""

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
    starters and models fine-tuned from one; ``core.files.bundle.takes_luminance``)."""
    from napari_unet.core.files.bundle import takes_luminance

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
    return any(ours(viewer, role, layer))


class Cancelled(Exception):
    """Raised inside the model's forward pass once a prediction is cancelled."""


class Meter:
    """How far a 3-D prediction is, also inside one of its steps (a step can take half a
    minute on a CPU): tiles done, plus the share of the network's layers run on the batch of
    tiles in progress. Written by the worker, read by the GUI's timer."""

    def __init__(self):
        self.tiles = 0
        """Tiles in the whole prediction (0: not known yet)."""
        self.done = 0
        self.batch = 0
        self.calls = 0
        self.layers = 1

    def fraction(self) -> float | None:
        if not self.tiles:
            return None
        within = min(1.0, self.calls / self.layers)
        return min(1.0, (self.done + self.batch * within) / self.tiles)


def stoppable_model(bundle, device, stop, meter: Meter | None = None):
    """``bundle``'s network on ``device``, raising :class:`Cancelled` before any of its
    layers runs once ``stop`` (a ``threading.Event``) is set: a 3-D window can take half a
    minute on a CPU, and napari stops a worker only between two yields. ``meter`` counts
    the layers run per forward pass."""
    from napari_unet.core.device import resolve_device

    model = bundle.build_model(resolve_device(device))
    model.eval()
    meter = meter or Meter()
    leaves = [m for m in model.modules() if not list(m.children())]
    meter.layers = max(1, len(leaves))

    def begin(module, args):  # a new batch of tiles
        meter.done += meter.batch
        meter.batch, meter.calls = int(args[0].shape[0]), 0

    def check(module, args):
        if stop.is_set():
            raise Cancelled
        meter.calls += 1

    model.register_forward_pre_hook(begin)
    for module in model.modules():
        module.register_forward_pre_hook(check)
    return model


def _segment(image, bundle, device, probabilities, objects, out=None, planes=None,
             stitch_axis=None, stitch=0.0, diameter=None, stop=None, meter=None,
             renumber=False, views=1):
    """The core's one prediction route (run in a worker: errors reach ``errored``, which
    tells the user); returns its Segmentation, or None when
    ``stop`` (a ``threading.Event``, see :func:`stoppable_model`) ends it inside a step.
    ``renumber``: object ids (the objects, an instance model's labels) are numbered 1..n
    here, not on the GUI thread (:func:`~.layers.numbered`). ``views``: 1, or 8 (also
    rotated and mirrored, averaged: ``PredictConfig.views``)."""
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.inference.segment import segment

    config = PredictConfig(device=device, threads=interactive_threads(), diameter=diameter,
                           views=views)
    model = None
    if stop is not None:
        model = stoppable_model(bundle, device, stop, meter)
        if meter is not None and bundle.model_config.spatial_dims == 3:
            from napari_unet.core.inference.predict3d import plan_tiles3d

            # every view of a batch is a forward pass of its own
            meter.tiles = len(plan_tiles3d(model, image.shape[1:], config).origins()) * views
    try:
        result = yield from guarded(segment(image, bundle, config, objects=objects,
                                            probabilities=probabilities, out=out,
                                            planes=planes, model=model,
                                            stitch_axis=stitch_axis, stitch_threshold=stitch))
    except Cancelled:
        return None
    if renumber and result is not None:
        from .layers import numbered

        if result.objects is not None:
            result.objects = numbered(result.objects)
        if bundle.mode == "instance":
            result.labels = numbered(result.labels)
    return result


def z_axis(layer) -> int | None:
    """Which leading axis of ``layer`` is Z (its objects are joined into 3-D objects): named
    by the layer's axis labels (``z``, ``t``), else one leading axis is Z and of two the
    second (T, Z), as on the command line (``core.axes``)."""
    from napari_unet.core.axes import lead_z

    n_lead = len(spatial_shape(layer)) - 2
    return lead_z(getattr(layer, "axis_labels", None), n_lead)


def _quit_at_once(worker, stop) -> None:
    """``worker.quit()`` also sets ``stop``: the model's next layer ends the prediction."""
    quit_later = worker.quit

    def quit_now():
        stop.set()
        quit_later()

    worker.quit = quit_now


def start_prediction(viewer, layer, bundle, *, runner, device="auto", probabilities=False,
                     plane=None, objects=False, on_done=None, stitch=STITCH_THRESHOLD,
                     diameter=None, views=1):
    """Predict ``layer`` (whole, or only ``plane`` of its leading dimensions) and show it.

    Returns the started worker (from ``runner``, a :class:`~.runner.Runner`), or None after
    telling the user why it cannot run. Writes
    ``"<image> prediction"`` (object ids for an instance model), ``"<image> P(<class>)"``
    with ``probabilities`` and, for a semantic model with ``objects``, ``"<image> objects"``
    when the worker returns; ``on_done(layer_or_None)`` is called when it ends, however it
    ends. ``diameter``: the objects' size in px (``None``: estimated for models that know
    their own; 0: none); what was used is in the result layer's ``metadata["object_size"]``.
    A 3-D model predicts the whole ``(Z, Y, X)`` stack as one volume (no ``plane``, no
    objects, never into zarr). Objects of a whole stack's adjacent Z planes that overlap
    by ``stitch`` (IoU; 0: never) are joined into 3-D objects (:func:`z_axis`). ``views``:
    1, or 8 to average the image's 8 rotations and mirror images (8 times the work).
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
    join = {} if plane or three_d or not stitch else {"stitch_axis": z_axis(layer),
                                                          "stitch": stitch}
    if not three_d and is_large(layer, stack):
        return _start_lazy(viewer, layer, bundle, stack, device, probabilities, plane or None,
                           objects, on_done, {**join, "views": views}, runner)
    bar = ProgressBar(f"Predicting {layer.name}")
    if three_d:
        worker = _volume_worker(runner, layer, bundle, device, probabilities, bar, views)
    else:
        worker = runner.worker(_segment, stack[plane] if plane else stack, bundle, device,
                               probabilities, objects and bundle.mode != "instance",
                               diameter=diameter, renumber=not plane, views=views, **join)
    result = {}

    def returned(out):
        if out is None:  # cancelled
            return
        if three_d and out.probabilities is not None:  # (K, Z, Y, X) -> (Z, K, Y, X)
            out.probabilities = np.moveaxis(out.probabilities, 0, 1)
        if layer not in viewer.layers:  # said by _end_if_removed
            return
        _drop_other_scales(viewer, layer, multiscale=False)
        result["layer"] = write_result(
            viewer, layer, out.labels, out.probabilities, bundle.class_names,
            plane=plane or None, instances=bundle.mode == "instance", renumber=three_d,
        )
        if out.objects is not None:
            write_objects(viewer, layer, out.objects, plane=plane or None, renumber=three_d)
        result["layer"].metadata["object_size"] = {
            "diameter": getattr(out, "diameter", None), "estimated": getattr(out, "estimated", False)}

    def finished():
        bar.close()
        if on_done is not None:
            on_done(result.get("layer"))

    worker.yielded.connect(bar.update)
    worker.returned.connect(returned)
    worker.errored.connect(lambda e: show_error(failed("Prediction failed", e)))
    worker.finished.connect(finished)
    _end_if_removed(viewer, layer, worker)
    return runner.start(worker)


def _end_if_removed(viewer, layer, worker) -> None:
    """Deleting the image being predicted ends its prediction at the next tile (``on_done``
    then gets None; the docks say why in their status), instead of predicting on for nothing.

    A notification is shown too only while another image is in view (:func:`~.layers.safe_to_notify`:
    removing the only image, then notifying, can crash napari)."""
    removed = viewer.layers.events.removed

    def check(event=None):
        if layer not in viewer.layers:
            if any(isinstance(other, Image) and other.visible for other in viewer.layers):
                # not safe_to_notify alone: with no layer left at all, the docks say it
                show_warning(f"'{layer.name}' was removed: its prediction is stopped")
            worker.quit()

    removed.connect(check)
    worker.finished.connect(lambda: removed.disconnect(check))


def _drop_other_scales(viewer, image, multiscale: bool) -> None:
    """Remove our result layers of ``image`` that are (not) multiscale when the new result is
    not (is): napari cannot switch a layer between one level and a pyramid."""
    for role in ("prediction", "objects", "probability"):
        for old in list(ours(viewer, role, image)):
            if old.multiscale != multiscale:
                viewer.layers.remove(old)


class _PerClass:
    """``probabilities[..., k, :, :]`` for :func:`write_result` from one array per class."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __getitem__(self, key):
        return self.arrays[key[-3]]


def _volume_worker(runner, layer, bundle, device, probabilities, bar, views):
    """:func:`start_prediction`'s worker for a 3-D model: the whole stack as one volume,
    stopped inside a step by Cancel, its bar moving inside a step too."""
    from napari_unet.core.inference.predict3d import to_czyx

    data = layer.data[0] if layer.multiscale else layer.data
    stop, meter = threading.Event(), Meter()
    worker = runner.worker(_segment, to_czyx(np.asarray(data)), bundle, device,
                           probabilities, False, stop=stop, meter=meter, views=views)
    _quit_at_once(worker, stop)
    timer = runner.every(METER_MS, lambda: bar.set_fraction(meter.fraction()))
    worker.finished.connect(timer.stop)
    worker.meter, worker.meter_timer = meter, timer
    return worker


def _start_lazy(viewer, layer, bundle, stack, device, probabilities, plane, objects, on_done,
                join, runner):
    """:func:`start_prediction` for large images: result layers backed by a zarr store in a
    temporary folder, made now and refreshed as the worker fills them. ``join``: more
    keywords for :func:`_segment` (stitching, views)."""
    from napari_unet.core.config import PredictConfig
    from napari_unet.core.inference.lazy import create_outputs, store_chunk

    instance = bundle.mode == "instance"
    folder = tempfile.mkdtemp(prefix="napari-unet-")
    try:
        out = create_outputs(f"{folder}/prediction.zarr", spatial_shape(layer),
                             bundle.model_config.n_classes,
                             chunk=store_chunk(bundle, *spatial_shape(layer)[-2:],
                                               PredictConfig(device=device)),
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
        shown += [find_ours(viewer, "probability", layer, c) for c in bundle.class_names]
    if objects and not instance:
        shown.append(write_objects(viewer, layer, levels(out.instances)))
    bar = ProgressBar(f"Predicting {layer.name}")
    worker = runner.worker(_segment, stack, bundle, device, probabilities,
                           objects and not instance, out=out, planes=[plane] if plane else None,
                           **(join or {}))
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
    worker.errored.connect(lambda e: show_error(failed("Prediction failed", e)))
    worker.finished.connect(finished)
    _end_if_removed(viewer, layer, worker)
    return runner.start(worker)
