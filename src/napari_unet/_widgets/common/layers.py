"""napari layers <-> the core's arrays, and the layers this plugin writes.

An Image layer becomes a stack ``(..., C, H, W)``: leading dimensions (z, time, ...) first,
then channels (1 for grayscale, 3 for RGB/RGBA with alpha dropped), then the 2-D plane the
U-Net works on. Nothing here copies more than it must, and nothing ever writes into a layer
the user made: results go to layers tagged in their ``metadata`` as ours. The tag points
to the source layer by its ``unique_id`` (renaming the image keeps its results), and
results lie where the source lies (:func:`placement`: scale, translate, rotate, shear,
affine and units copied).
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Labels

from napari_unet.core.images import ImageError

ROLE = "napari_unet"
"""Key in ``layer.metadata`` marking layers this plugin wrote (value: a dict with a role)."""

ANNOTATION_BRUSH = 8


def placement(image) -> dict:
    """Where ``image`` lies in the world, as layer keyword arguments: a result (same data
    shape, RGB axis aside) made with them lies exactly on its source."""
    return {"scale": image.scale, "translate": image.translate, "rotate": image.rotate,
            "shear": image.shear, "affine": image.affine, "units": image.units}


def source_id(image) -> str:
    """The source layer's identity for our tags (its ``unique_id``, kept through renames)."""
    return str(image.unique_id)


def result_tag(image, role: str, key=None, **extra) -> dict:
    """The ``metadata[ROLE]`` of a result of ``image``: its role, its source layer (by id;
    the name is kept for people) and ``key`` (the class of a probability layer)."""
    return {"role": role, "source": source_id(image), "image": image.name, "key": key, **extra}


def source_of(viewer, layer):
    """The layer ``layer`` (a result of ours) was made from, or None if it is gone."""
    tag = layer.metadata.get(ROLE)
    if not isinstance(tag, dict):
        return None
    return next((other for other in viewer.layers
                 if source_id(other) == tag.get("source")), None)


def _data(layer):
    return layer.data[0] if layer.multiscale else layer.data


def image_stack(layer: Image):
    """The layer's data as ``(..., C, H, W)`` (a view for numpy data; lazy for dask)."""
    data = _data(layer)
    if layer.rgb:
        arr = np.moveaxis(data, -1, -3)
        return arr[..., :3, :, :] if arr.shape[-3] == 4 else arr
    if data.ndim < 2:
        raise ImageError(f"layer '{layer.name}' is not an image with two spatial axes")
    return data[..., None, :, :]


def spatial_shape(layer: Image) -> tuple[int, ...]:
    """Leading dimensions plus (H, W): the shape a matching Labels layer must have."""
    shape = tuple(_data(layer).shape)
    return shape[:-1] if layer.rgb else shape


def channels_text(c: int) -> str:
    return {1: "grayscale (1 channel)", 3: "RGB (3 channels)"}.get(c, f"{c} channels")


def current_plane(viewer, layer) -> tuple[int, ...]:
    """Index of the plane of ``layer`` shown now (its leading dimensions), () for 2-D."""
    n_lead = len(spatial_shape(layer)) - 2 if isinstance(layer, Image) else layer.ndim - 2
    if n_lead <= 0:
        return ()
    coords = layer.world_to_data(viewer.dims.point)[:n_lead]
    lead = spatial_shape(layer)[:n_lead] if isinstance(layer, Image) else layer.data.shape[:n_lead]
    return tuple(int(np.clip(round(float(c)), 0, n - 1)) for c, n in zip(coords, lead))


def training_planes(image: Image, labels: Labels):
    """The planes of ``image`` on which ``labels`` has painted pixels.

    Returns ``(images, labels)``: lists of ``(C, H, W)`` float arrays and ``(H, W)`` label
    *copies* (so painting during training changes nothing). Raises :class:`ImageError` with
    what to do when the shapes do not match.
    """
    want = spatial_shape(image)
    lab = _data(labels)
    if tuple(lab.shape) != want:
        raise ImageError(
            f"labels layer '{labels.name}' has shape {tuple(lab.shape)} but image "
            f"'{image.name}' has {want}; paint on a labels layer of the image's size "
            "(use 'New annotation layer')"
        )
    stack = image_stack(image)
    lab = np.asarray(lab)
    if lab.ndim == 2:
        return [np.asarray(stack)], [lab.copy()]
    flat = lab.reshape((-1,) + lab.shape[-2:])
    painted = np.flatnonzero(flat.reshape(len(flat), -1).any(axis=1))
    lead = lab.shape[:-2]
    images, labs = [], []
    for i in painted:
        idx = np.unravel_index(i, lead)
        images.append(np.asarray(stack[idx]))
        labs.append(np.array(lab[idx]))
    return images, labs


def new_annotation_layer(viewer, image: Image, instance: bool = False) -> Labels:
    """Add an empty Labels layer ``"<image> annotations"``, ready to paint.

    For strokes of classes label 2 (foreground) is selected. For whole objects (``instance``)
    label 1 is, and the layer is 16-bit so that it holds thousands of objects (napari's M
    key picks a new label for every new object).
    """
    layer = viewer.add_labels(
        np.zeros(spatial_shape(image), np.uint16 if instance else np.uint8),
        name=f"{image.name} annotations",
        **placement(image),
    )
    viewer.layers.selection.active = layer
    layer.brush_size = ANNOTATION_BRUSH
    layer.selected_label = 1 if instance else 2
    layer.mode = "paint"
    return layer


def is_ours(layer, role: str | None = None) -> bool:
    tag = layer.metadata.get(ROLE)
    return isinstance(tag, dict) and (role is None or tag.get("role") == role)


def _made_from(tag: dict, image) -> bool:
    """Whether the result tagged ``tag`` was made from ``image`` (a layer: by its id; a
    name: by the name the source had when the result was made)."""
    if isinstance(image, str):
        return tag.get("image") == image
    if "source" not in tag:  # a tag written without result_tag: by the name it recorded
        return tag.get("image") == image.name
    return tag.get("source") == source_id(image)


def ours(viewer, role: str, image):
    """The layers this plugin wrote for ``image`` (the source layer; or its name) in ``role``."""
    return (
        layer
        for layer in viewer.layers
        if is_ours(layer, role) and _made_from(layer.metadata[ROLE], image)
    )


def find_ours(viewer, role: str, image, key: str | None = None):
    """The layer this plugin wrote for ``image`` (a layer, or its name) in ``role`` (and
    ``key``), or None."""
    return next(
        (layer for layer in ours(viewer, role, image) if layer.metadata[ROLE].get("key") == key),
        None,
    )


def covering(viewer, layer) -> list[str]:
    """Names of the user's layers drawn over ``layer`` that hide it: visible and above it in
    the layer list, images that are not additive and mostly opaque, labels layers painted
    over most of their area (a copy of a prediction to correct; not a few strokes)."""
    if layer not in viewer.layers:
        return []
    above = list(viewer.layers)[viewer.layers.index(layer) + 1:]
    return [other.name for other in above
            if not is_ours(other) and other.visible and other.opacity >= 0.5
            and ((isinstance(other, Image) and other.blending not in ("additive", "minimum"))
                 or (isinstance(other, Labels) and _mostly_painted(other)))]


def _mostly_painted(layer: Labels, samples: int = 256) -> bool:
    """Whether more than half of ``layer`` is painted (read on a grid of about
    ``samples`` x ``samples`` per plane, so large layers cost little)."""
    data = _data(layer)
    step = max(1, max(data.shape[-2:]) // samples)
    return bool(np.asarray(data[..., ::step, ::step]).astype(bool).mean() > 0.5)


def hidden_by(viewer, layer) -> str:
    """A sentence for the status when ``layer`` (a result) cannot be seen: its eye is off,
    or layers above it hide it ("" when it is in view)."""
    if layer not in viewer.layers:
        return ""
    if not layer.visible:
        return f" '{layer.name}' is hidden: click its eye in the layer list to see it."
    names = covering(viewer, layer)
    if not names:
        return ""
    which = ", ".join(f"'{n}'" for n in names)
    return (f" It lies under {which}, which hides it: hide {which} (its eye) or move "
            f"'{layer.name}' up to see it.")


def safe_to_notify(viewer) -> bool:
    """Whether a notification may be shown now. Not while labels layers are shown with no
    image: right after the only image under a labels layer is removed, napari (with
    software OpenGL) crashes in vispy's ``glDrawArrays`` when any notification appears, so
    the docks then say it in their status line only."""
    shown = [layer for layer in viewer.layers if layer.visible]
    return (any(isinstance(layer, Image) for layer in shown)
            or not any(isinstance(layer, Labels) for layer in shown))


def put_layer(viewer, layer, above):
    """Insert ``layer`` just above ``above`` (below the annotations), keeping the selection."""
    active = viewer.layers.selection.active
    index = viewer.layers.index(above) + 1 if above in viewer.layers else len(viewer.layers)
    viewer.layers.insert(index, layer)
    if active is not None and active in viewer.layers:
        viewer.layers.selection.active = active
    return layer


def write_result(viewer, image: Image, labels, probabilities, class_names, plane=None,
                 instances=False, renumber=True):
    """Write a prediction of ``image`` into our layers, creating them the first time.

    ``labels (..., H, W)`` and ``probabilities (..., K, H, W)`` (or None) cover the whole
    stack, or only ``plane`` (an index into the leading dimensions) when it is given.
    ``labels`` hold classes (k + 1, as painted), or object ids when ``instances`` (an
    instance model's prediction, shown one colour per object; ``renumber``: False when
    they are numbered 1..n already, by :func:`numbered` in a worker). Returns the Labels
    layer ``"<image> prediction"``.
    """
    kind = "instances" if instances else f"{len(class_names)} classes"
    if instances and renumber:
        labels = numbered(labels, plane)
    layer = _write_labels(viewer, image, "prediction", labels, plane, image, kind)
    if probabilities is not None:
        below = layer
        for k, cls in enumerate(class_names):
            data = probabilities[..., k, :, :]
            below = _write_probability(viewer, image, below, data, cls, k, plane)
    return layer


def write_objects(viewer, image: Image, objects, plane=None, renumber=True) -> Labels:
    """Write object ids ``(..., H, W)`` (of ``plane`` only, if given) into ``"<image> objects"``.

    The layer goes just above the image's prediction and is updated in place on re-runs.
    ``renumber``: False when the ids are numbered 1..n already (:func:`numbered`, in a worker).
    """
    above = find_ours(viewer, "prediction", image) or image
    if renumber:
        objects = numbered(objects, plane)
    return _write_labels(viewer, image, "objects", objects, plane, above, "instances")


def numbered(objects, plane=None):
    """Object ids ``objects`` renumbered 1..n (in the order of their ids), so that the ids
    in the layer and in the object table say how many objects there are. Only whole
    in-memory results: one plane of a stack keeps the ids numbered on through the stack,
    and lazy (zarr) results are not read whole."""
    if not isinstance(objects, np.ndarray) or (plane is not None and plane != ()):
        return objects
    ids = np.unique(objects)
    ids = ids[ids > 0]
    if ids.size == 0 or ids[-1] == ids.size:
        return objects
    lookup = np.zeros(int(ids[-1]) + 1, objects.dtype)
    lookup[ids] = np.arange(1, ids.size + 1)
    return lookup[objects]


def _write_labels(viewer, image, role, data, plane, above, kind):
    """Write ``data`` into our Labels layer ``"<image> <role>"``, made the first time.

    ``kind`` ("instances" or "<K> classes") says how it is coloured; the colours are set
    again only when it changes (another model), and then planes of the old kind are cleared.
    """
    name = image.name
    layer = find_ours(viewer, role, image)
    tag = result_tag(image, role, kind=kind)
    same = layer is not None and layer.metadata[ROLE].get("kind") == kind
    if plane is not None and plane != ():
        shape = spatial_shape(image)
        fits = same and layer.data.shape == shape and layer.data.dtype == data.dtype
        full = layer.data if fits else np.zeros(shape, data.dtype)
        full[plane] = data
        data = full
    if layer is None:
        layer = Labels(data, name=f"{name} {role}", opacity=0.5, metadata={ROLE: tag},
                       **placement(image))
        put_layer(viewer, layer, above)
    elif data is layer.data:
        layer.refresh()
    else:
        layer.data = data
    if not same:
        layer.metadata[ROLE] = tag
        _set_colours(layer, kind)
    layer.visible = True  # a new result is shown (its eye may have been turned off)
    return layer


def _set_colours(layer: Labels, kind: str) -> None:
    """Objects: napari's usual colour per id. Classes: 2.. in their label colours, 1 clear."""
    from napari.utils.colormaps import DirectLabelColormap, label_colormap

    if kind == "instances":
        layer.colormap = label_colormap(49, 0.5, background_value=0)
        return
    n_classes = int(kind.split()[0])
    values = np.arange(2, n_classes + 1)
    cyclic = label_colormap(49, 0.5, background_value=0)
    colors = dict(zip(values.tolist(), cyclic.map(values))) if len(values) else {}
    clear = {None: "transparent", 1: "transparent"}
    layer.colormap = DirectLabelColormap(color_dict={**clear, **colors})


def _write_probability(viewer, image, below, data, cls, k, plane):
    name = image.name
    layer = find_ours(viewer, "probability", image, cls)
    shape = spatial_shape(image)
    if plane is not None and plane != ():
        full = layer.data if layer is not None and layer.data.shape == shape else None
        full = np.zeros(shape, np.float32) if full is None else full
        full[plane] = data
        data = full
    if layer is None:
        layer = Image(data, name=f"{name} P({cls})", **placement(image),
                      colormap="inferno", contrast_limits=(0.0, 1.0), blending="additive",
                      visible=False,  # shown when asked for (its eye): it hides the view
                      metadata={ROLE: result_tag(image, "probability", cls)})
        put_layer(viewer, layer, below)
    elif data is layer.data:
        layer.refresh()
    else:
        layer.data = data
    return layer
