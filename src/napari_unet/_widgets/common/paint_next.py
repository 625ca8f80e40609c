"""'Show where to paint next': the model's uncertainty and a few spots to paint, as layers.

``"<image> uncertainty"`` is an Image layer (normalised entropy of the class probabilities,
0 = sure, 1 = a tie) and ``"<image> paint here"`` a Points layer at the most uncertain
regions away from what is already painted (:mod:`napari_unet.core.inference.uncertainty`). Both are
tagged as ours and updated in place: a region of the current plane at a time (live mode),
or a whole plane (after training). Nothing is written into the user's layers.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Points
from napari.utils.notifications import show_error

from napari_unet.core.training.targets import INSTANCE_CLASSES

from .layers import ROLE, find_ours, image_stack, placement, put_layer, result_tag, spatial_shape
from .tasks import failed, guarded

SPOTS = 5
SPACING = 32
"""Suggested spots are at least this many px apart and half of it away from paint."""
RING = 20
"""The rings' diameter in px: a thin outline, drawn wholly inside the image, that leaves
what it points at in view."""


PAINTED_NAMES = ["background", "foreground", "edge between objects"]
"""An objects model's classes (background, interior, border) as the user painted them."""


def between(probabilities, coords, class_names=None) -> list[str]:
    """For each spot, the two classes the model hesitates between there ("background or
    foreground"): the two most probable, averaged over a few px around the spot."""
    probs = np.asarray(probabilities, np.float32)
    k, h, w = probs.shape
    names = list(class_names or [f"class {i + 1}" for i in range(k)])
    if names == INSTANCE_CLASSES:  # an objects model: in the words of what was painted
        names = PAINTED_NAMES
    out = []
    for y, x in np.asarray(coords, int).reshape(-1, 2):
        near = probs[:, max(0, y - 4): y + 5, max(0, x - 4): x + 5].reshape(k, -1).mean(1)
        top = np.argsort(near)[::-1][:2]
        out.append(" or ".join(names[i] if i < len(names) else f"class {i + 1}" for i in top))
    return out


def spots_for(probabilities, painted, class_names=None):
    """``(K, h, w)`` probabilities and the painted labels there (or None) -> uncertainty
    ``(h, w)``, spot coordinates ``(n, 2)``, scores, and what the model hesitates between
    at each spot (:func:`between`; runs in workers)."""
    from napari_unet.core.inference.uncertainty import suggest_spots, uncertainty

    u = uncertainty(probabilities)
    coords, scores = suggest_spots(u, painted, k=SPOTS, spacing=SPACING)
    return u, coords, scores, between(probabilities, coords, class_names)


def inside(coords, shape) -> np.ndarray:
    """Spot centres moved in so that a whole ring fits in an image of ``shape`` (h, w)."""
    r = RING / 2
    coords = np.asarray(coords, float).reshape(-1, 2)
    hi = np.maximum(np.asarray(shape[-2:], float) - 1 - r, r)
    return np.clip(coords, r, hi)


def write_uncertainty(viewer, image: Image, uncert, coords, plane=(), box=None,
                      unsure=None) -> Points:
    """Write ``uncert`` into ``"<image> uncertainty"`` at ``plane`` (leading index) and
    ``box`` ``(y0, y1, x0, x1)`` (None: the whole plane), and make ``coords`` (``(n, 2)``
    within the box) the spots of that plane in ``"<image> paint here"``, each labelled
    with ``unsure`` (what the model hesitates between there, or None). Returns the
    Points layer."""
    shape = spatial_shape(image)
    plane = tuple(plane or ())
    y0, y1, x0, x1 = box if box is not None else (0, shape[-2], 0, shape[-1])
    layer = find_ours(viewer, "uncertainty", image)
    if layer is None or layer.data.shape != shape:
        data = np.zeros(shape, np.float32)
        data[plane + (slice(y0, y1), slice(x0, x1))] = uncert
        if layer is None:
            layer = make_uncertainty_layer(viewer, image, data)
        else:
            layer.data = data
    else:
        layer.data[plane + (slice(y0, y1), slice(x0, x1))] = uncert
        layer.refresh()
    coords = inside(np.asarray(coords).reshape(-1, 2) + [y0, x0], shape)
    texts = list(unsure) if unsure is not None else [""] * len(coords)
    return _write_spots(viewer, image, layer, coords, plane, texts)


def make_uncertainty_layer(viewer, image: Image, data=None) -> Image:
    """Make ``"<image> uncertainty"`` (``data``, or zeros) above the image's prediction."""
    if data is None:
        data = np.zeros(spatial_shape(image), np.float32)
    above = find_ours(viewer, "prediction", image) or image
    layer = Image(data, name=f"{image.name} uncertainty", **placement(image), colormap="magma",
                  opacity=0.6, contrast_limits=(0.0, 1.0), blending="additive",
                  metadata={ROLE: result_tag(image, "uncertainty")})
    return put_layer(viewer, layer, above)


def make_spots_layer(viewer, image: Image) -> Points:
    """Make ``"<image> paint here"``, with no spots yet, above the uncertainty layer."""
    below = find_ours(viewer, "uncertainty", image) or find_ours(viewer, "prediction", image)
    plane = (0,) * (len(spatial_shape(image)) - 2)
    return _write_spots(viewer, image, below or image, np.zeros((0, 2)), plane, [])


def _write_spots(viewer, image, below, coords, plane, texts) -> Points:
    name = image.name
    ndim = len(spatial_shape(image))
    points = np.concatenate([np.tile(np.asarray(plane, float), (len(coords), 1)),
                             coords.astype(float)], axis=1).reshape(-1, ndim)
    layer = find_ours(viewer, "paint here", image)
    if layer is None:
        layer = Points(points, name=f"{name} paint here", ndim=ndim, **placement(image), size=RING, symbol="o",
                       face_color="transparent", border_color="yellow", border_width=0.12,
                       features={"unsure": texts},
                       text={"string": "{unsure}", "color": "yellow", "size": 8,
                             "anchor": "upper_left"},
                       metadata={ROLE: result_tag(image, "paint here")})
        put_layer(viewer, layer, below)
        return layer
    old = np.asarray(layer.data).reshape(-1, ndim)
    old_texts = list(layer.features["unsure"]) if "unsure" in layer.features else [""] * len(old)
    if plane:
        keep = ~np.all(old[:, : len(plane)] == np.asarray(plane, float), axis=1)
        points = np.concatenate([old[keep], points])
        texts = [t for t, k in zip(old_texts, keep) if k] + texts
    layer.data = points
    layer.features = {"unsure": texts}
    return layer


def _plane_uncertainty(stack, bundle, device, plane, painted):
    """Predict one plane with probabilities; return uncertainty and spots."""
    from napari_unet.core.config import PredictConfig, interactive_threads
    from napari_unet.core.inference.predict import predict

    config = PredictConfig(device=device, threads=interactive_threads())
    prediction = yield from guarded(predict(np.asarray(stack[plane]), bundle, config))
    return spots_for(prediction.probabilities, painted, bundle.class_names)


def start_paint_next(viewer, image: Image, bundle, painted=None, plane=(), device="auto", *,
                     runner, on_error=None):
    """Show where to paint next on ``plane`` of ``image`` (a second prediction of that
    plane, in a worker from ``runner``, a :class:`~.runner.Runner`: the dock controller's).
    ``painted``: the plane's painted labels (a copy), or None; ``on_error``: called with one
    line for the user if it fails (None: an error notification). Returns the started
    worker."""
    stack = image_stack(image)
    worker = runner.worker(_plane_uncertainty, stack, bundle, device, tuple(plane or ()), painted)

    def returned(result):
        if image in viewer.layers:
            u, coords, _, unsure = result
            write_uncertainty(viewer, image, u, coords, plane=plane, unsure=unsure)

    worker.returned.connect(returned)
    def errored(error):
        line = failed("Where to paint next could not be shown", error)
        (on_error or show_error)(line)

    worker.errored.connect(errored)
    return runner.start(worker)
