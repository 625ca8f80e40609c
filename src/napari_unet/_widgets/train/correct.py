"""Correct and retrain (Cellpose 2.0's human in the loop): one click copies the model's
prediction of an image into a new labels layer, ``"<image> corrections"``, paired with the
image for training; the user erases and fixes its mistakes there, and Train fine-tunes the
current model on the corrected layer.

An objects model's prediction (one label per object) is copied as whole objects; a classes
model's as strokes of classes covering the whole image. The copy is the user's layer (not
tagged as ours): later predictions never write into it.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Labels

from napari_unet.core.images import ImageError

from ..common.layers import ANNOTATION_BRUSH, find_ours, placement, spatial_shape

MAX_PIXELS = 4096 * 4096
"""Larger predictions (kept in a zarr store) are not copied: correct a crop instead."""

SAID = ("Fix the mistakes in '{name}': erase what is wrong, paint what is missing{how}. "
        "Then press Train: it fine-tunes the current model on the corrected layer.")


def prediction_of(viewer, image):
    """The plugin's prediction layer of ``image``, or None."""
    return find_ours(viewer, "prediction", image)


def correction_layer(viewer, image, mode: str) -> Labels:
    """A new Labels layer ``"<image> corrections"`` holding a copy of the prediction of
    ``image`` (``mode``: the current model's, "semantic" or "instance"), ready to paint.
    Raises :class:`ImageError` saying why there is nothing to copy."""
    prediction = prediction_of(viewer, image)
    if prediction is None:
        raise ImageError(f"'{image.name}' has no prediction yet: train (or Predict) first, "
                         "then correct it")
    if tuple(prediction.data.shape) != tuple(spatial_shape(image)):
        raise ImageError(f"the prediction of '{image.name}' does not have the image's shape")
    if int(np.prod(prediction.data.shape)) > MAX_PIXELS:
        raise ImageError(f"the prediction of '{image.name}' is too large to copy for "
                         "correcting; correct a crop of the image instead")
    data = np.array(prediction.data, copy=True)
    if mode == "instance" and data.dtype.itemsize < 2:
        data = data.astype(np.uint16)  # room for new objects (M: new label)
    name = f"{image.name} corrections"
    taken = {layer.name for layer in viewer.layers}
    n = 2
    while name in taken:
        name, n = f"{image.name} corrections {n}", n + 1
    layer = viewer.add_labels(data, name=name, **placement(image))
    prediction.visible = False  # the copy is on top: what is seen is what is fixed
    viewer.layers.selection.active = layer
    layer.brush_size = ANNOTATION_BRUSH
    layer.mode = "paint"
    if mode == "instance":
        layer.selected_label = int(data.max()) + 1  # a new object, not one already there
    else:
        layer.selected_label = 2
    return layer


def correction_hint(layer, mode: str) -> str:
    how = (" (M: a new label for each missing object)" if mode == "instance"
           else " (1 = background, 2 = foreground)")
    return SAID.format(name=layer.name, how=how)
