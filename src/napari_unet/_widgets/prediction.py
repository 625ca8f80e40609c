"""Predict an Image layer with a model in a ``thread_worker`` and write the result layers.

Shared by the predict widget and by the train widget (which predicts after training).

Objects: an instance model's prediction *is* its objects (one id per object); a semantic
model's foreground can also be split into objects. Both come from the core's
``to_instances``, run in the worker after prediction, plane by plane for stacks (objects
are 2-D): ids are numbered on through the stack, so no two objects of one run share one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning

from napari_unet.core.images import ImageError

from .layers import (
    channels_text,
    current_plane,
    image_stack,
    ours,
    spatial_shape,
    write_objects,
    write_result,
)
from .tasks import ProgressBar, guarded

WHOLE_STACK_PIXELS = 16_000_000
"""After training, a stack is predicted whole up to this many pixels, else the shown plane."""


def check_image(layer, bundle) -> None:
    """Raise :class:`ImageError` saying what to do if ``bundle`` cannot predict ``layer``."""
    want = bundle.model_config.in_channels
    have = image_stack(layer).shape[-3]
    if have != want:
        raise ImageError(
            f"the current model was trained on {channels_text(want)} images, but "
            f"'{layer.name}' is {channels_text(have)}; choose a {channels_text(want)} image, "
            "or train a model on this one"
        )


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
    from napari_unet.core.postprocess import to_instances
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


def _rescaled(gen, start: float, share: float):
    """``yield from gen`` with progress fractions mapped to ``start + share * f``."""
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            yield replace(p, fraction=start + share * (p.fraction or 0.0))
    finally:
        gen.close()


@thread_worker(start_thread=False)
def _predict(stack, bundle, device, probabilities, plane, objects):
    """Predict, then (instance model, or ``objects``) split into objects; returns a Result."""
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.predict import predict, predict_planes

    instance = bundle.mode == "instance"
    split = instance or objects
    share = 1 - POSTPROCESS_SHARE if split else 1.0
    want = probabilities or split  # objects are made from the probabilities
    config = PredictConfig(device=device, threads=interactive_threads())
    if plane:
        gen = predict(stack[plane], bundle, config, probabilities=want)
    else:
        gen = predict_planes(stack, bundle, config, probabilities=want)
    prediction = yield from guarded(_rescaled(gen, 0.0, share))
    result = Result(prediction.labels, prediction.probabilities if probabilities else None)
    if split:
        gen = split_objects(prediction.probabilities, bundle)
        ids = yield from guarded(_rescaled(gen, share, 1 - share))
        if instance:
            result.labels = ids
        else:
            result.objects = ids
    return result


def start_prediction(viewer, layer, bundle, *, device="auto", probabilities=False, plane=None,
                     objects=False, on_done=None):
    """Predict ``layer`` (whole, or only ``plane`` of its leading dimensions) and show it.

    Returns the started worker, or None after telling the user why it cannot run. Writes
    ``"<image> prediction"`` (object ids for an instance model), ``"<image> P(<class>)"``
    with ``probabilities`` and, for a semantic model with ``objects``, ``"<image> objects"``
    when the worker returns; ``on_done(layer_or_None)`` is called when it ends, however it
    ends.
    """
    try:
        check_image(layer, bundle)
        stack = image_stack(layer)
    except ImageError as e:
        show_error(f"Cannot predict: {e}")
        return None
    bar = ProgressBar(f"Predicting {layer.name}")
    worker = _predict(stack, bundle, device, probabilities, plane or None, objects)
    result = {}

    def returned(out: Result):
        if layer not in viewer.layers:
            show_warning(f"'{layer.name}' was removed before its prediction finished")
            return
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

    worker.yielded.connect(lambda p: bar.set_fraction(p.fraction))
    worker.returned.connect(returned)
    worker.errored.connect(lambda e: show_error(f"Prediction failed: {e}"))
    worker.finished.connect(finished)
    worker.start()
    return worker
