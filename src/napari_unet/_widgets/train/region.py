"""Whole objects: show the annotated area (an outline) and the objects inside it that look
unpainted, before training (``core.training.region_check``). Both layers are ours and
updated in place; nothing is written into the user's layers."""

from __future__ import annotations

import numpy as np
from napari.layers import Points, Shapes

from ..common.layers import ROLE, find_ours, placement, put_layer, result_tag, spatial_shape

UNPAINTED = ("About {n} object{s} inside the annotated area (yellow outline) look unpainted "
             "(yellow circles): everything unpainted there counts as background, so they "
             "would be learnt as background. Paint them (press M first), or paint objects "
             "closer together; or train as painted.")


def show_region(viewer, image, box, spots) -> None:
    """Outline ``box`` ``(y0, y1, x0, x1)`` in '<image> annotated area' and circle
    ``spots`` ``(n, 2)`` in '<image> unpainted?' (2-D images)."""
    y0, y1, x0, x1 = box
    rect = np.array([[y0, x0], [y0, x1 - 1], [y1 - 1, x1 - 1], [y1 - 1, x0]], float)
    name = image.name
    area = find_ours(viewer, "annotated area", image)
    if area is None:
        area = Shapes([rect], shape_type="rectangle", name=f"{name} annotated area",
                      **placement(image), edge_color="yellow",
                      face_color="transparent", edge_width=2,
                      metadata={ROLE: result_tag(image, "annotated area")})
        put_layer(viewer, area, image)
    else:
        area.data = [rect]
    points = np.asarray(spots, float).reshape(-1, 2)
    marks = find_ours(viewer, "unpainted", image)
    if marks is None:
        marks = Points(points, name=f"{name} unpainted?", **placement(image), size=14, symbol="o",
                       face_color="transparent", border_color="yellow", border_width=0.15,
                       metadata={ROLE: result_tag(image, "unpainted")})
        put_layer(viewer, marks, area)
    else:
        marks.data = points


def check_regions(viewer, pairs, images, labels, margin: int) -> str:
    """For 2-D pairs painted with whole objects: show each annotated area and the objects
    that look unpainted in it; the message to say ("" when none look unpainted)."""
    from napari_unet.core.training.region_check import region_box, unpainted_objects

    flat = [image for image, _ in pairs if len(spatial_shape(image)) == 2]
    if len(flat) != len(pairs):  # stacks: planes do not map one to one onto pairs
        return ""
    found = 0
    for image, (im, lab) in zip(flat, zip(images, labels)):  # 2-D: one plane per pair
        box = region_box(lab, margin)
        if box is None:
            continue
        spots = unpainted_objects(im, lab, margin)
        show_region(viewer, image, box, spots)
        found += len(spots)
    return UNPAINTED.format(n=found, s="" if found == 1 else "s") if found else ""
