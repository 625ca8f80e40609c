"""Predict an Image layer with a model in a ``thread_worker`` and write the result layers.

Shared by the predict widget and by the train widget (which predicts after training).
"""

from __future__ import annotations

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning

from napari_unet.core.images import ImageError

from .layers import ROLE, channels_text, current_plane, image_stack, spatial_shape, write_result
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


def has_probability_layers(viewer, layer) -> bool:
    """Whether probability layers of ``layer`` exist (then a re-run updates them too)."""
    tags = (other.metadata.get(ROLE) for other in viewer.layers)
    return any(
        isinstance(tag, dict) and tag.get("role") == "probability" and tag.get("image") == layer.name
        for tag in tags
    )


@thread_worker(start_thread=False)
def _predict(stack, bundle, device, probabilities, plane):
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.predict import predict, predict_planes

    config = PredictConfig(device=device, threads=interactive_threads())
    if plane:
        gen = predict(stack[plane], bundle, config, probabilities=probabilities)
    else:
        gen = predict_planes(stack, bundle, config, probabilities=probabilities)
    return (yield from guarded(gen))


def start_prediction(viewer, layer, bundle, *, device="auto", probabilities=False, plane=None,
                     on_done=None):
    """Predict ``layer`` (whole, or only ``plane`` of its leading dimensions) and show it.

    Returns the started worker, or None after telling the user why it cannot run. Writes
    ``"<image> prediction"`` (and ``"<image> P(<class>)"`` with ``probabilities``) when the
    worker returns; ``on_done(layer_or_None)`` is called when it ends, however it ends.
    """
    try:
        check_image(layer, bundle)
        stack = image_stack(layer)
    except ImageError as e:
        show_error(f"Cannot predict: {e}")
        return None
    bar = ProgressBar(f"Predicting {layer.name}")
    worker = _predict(stack, bundle, device, probabilities, plane or None)
    result = {}

    def returned(prediction):
        if layer not in viewer.layers:
            show_warning(f"'{layer.name}' was removed before its prediction finished")
            return
        result["layer"] = write_result(
            viewer, layer, prediction.labels, prediction.probabilities, bundle.class_names,
            plane=plane or None,
        )

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
