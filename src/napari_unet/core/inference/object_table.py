"""Objects after prediction: tidy them without retraining, and measure them.

:func:`refine_objects` takes an object map (one id per object, 0 = background: a
prediction of an objects model, or a classes model's foreground split into objects) and
applies the three controls a biologist reaches for: split touching objects again with
another sensitivity, fill holes, drop objects under a minimum size. It needs no model and
no probabilities, so the docks update objects at once as the controls move.

:func:`object_table` measures every object (area, mean intensity per channel, centroid)
with scikit-image's ``regionprops_table``, and :func:`write_csv` saves the table (any
mapping of columns: a dict, or the labels layer's ``features`` DataFrame), atomically as
every file napari-unet writes.
"""

from __future__ import annotations

import io
import os

import numpy as np
from scipy import ndimage as ndi

from .postprocess import instances_from_foreground, remove_small

COLUMNS = ("label", "area_px", "centroid_y", "centroid_x")


def refine_objects(objects: np.ndarray, min_size: int = 0, fill_holes: bool = False,
                   split_depth: float | None = None) -> np.ndarray:
    """A new ``(H, W)`` object map from ``objects`` (never changed), ids ``1..n`` in
    reading order of the objects' first pixels.

    ``split_depth``: None keeps the objects as they are; a number splits the foreground
    (all objects together) again into objects, by the same watershed as prediction
    (:func:`~.postprocess.instances_from_foreground`; smaller splits more, 0 = plain
    connected pieces). ``fill_holes``: each object takes in the background it encloses.
    ``min_size``: objects under that many px are dropped (after the rest)."""
    objects = np.asarray(objects)
    if objects.ndim != 2:
        raise ValueError(f"an object map is (H, W), not shape {objects.shape}")
    if split_depth is not None:
        out = instances_from_foreground(objects > 0, 0.5, float(split_depth), 0)
    else:  # ids 1..n in the order of their values: ids >= 2**32 were merged or dropped by
        # a cast to uint32, and sparse large ids allocated a lookup of the largest (issue 26)
        values, inverse = np.unique(objects, return_inverse=True)
        if values.size and values[0] < 0:
            raise ValueError("object ids must not be negative")
        out = (inverse.reshape(objects.shape) + (values[0] != 0 if values.size else 0)
               ).astype(np.uint32)
    if fill_holes and out.any():
        for value, box in enumerate(ndi.find_objects(out), 1):
            if box is None:
                continue
            mine = ndi.binary_fill_holes(out[box] == value)
            out[box][mine & (out[box] == 0)] = value
    remove_small(out, int(min_size))
    ids = np.unique(out)
    ids = ids[ids > 0]
    lookup = np.zeros(int(out.max()) + 1, np.uint32)
    lookup[ids] = np.arange(1, len(ids) + 1, dtype=np.uint32)
    return lookup[out]


def object_table(objects: np.ndarray, image: np.ndarray | None = None,
                 channel_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """One row per object of the ``(H, W)`` map ``objects``: its id, area (px), centroid
    and, with ``image`` (``(H, W)`` or ``(C, H, W)``), its mean intensity per channel
    (columns ``mean_intensity`` or ``mean_<channel>``). Columns are numpy arrays, measured
    by ``skimage.measure.regionprops_table`` (the docks show them as the labels layer's
    ``features``)."""
    from skimage.measure import regionprops_table

    objects = np.asarray(objects)
    planes = None
    if image is not None:
        image = np.asarray(image, np.float64)
        planes = image[None] if image.ndim == 2 else image
        if planes.shape[-2:] != objects.shape:
            raise ValueError(f"image {image.shape} and objects {objects.shape} differ in size")
    if objects.ndim != 2:
        raise ValueError(f"an object map is (H, W), not shape {objects.shape}")
    props = ["label", "area", "centroid"] + (["intensity_mean"] if planes is not None else [])
    intensity = np.moveaxis(planes, 0, -1) if planes is not None else None
    measured = regionprops_table(objects.astype(np.int64, copy=False), intensity, properties=props)
    table: dict[str, np.ndarray] = {
        "label": np.asarray(measured["label"], np.int64),
        "area_px": np.asarray(measured["area"]).astype(np.int64),
        "centroid_y": np.asarray(measured["centroid-0"], np.float64),
        "centroid_x": np.asarray(measured["centroid-1"], np.float64),
    }
    if planes is not None:
        names = (["mean_intensity"] if len(planes) == 1 else
                 [f"mean_{n}" for n in (channel_names or range(len(planes)))])
        for k, name in enumerate(names):
            table[name] = np.asarray(measured[f"intensity_mean-{k}"], np.float64)
    return table


def csv_text(table) -> str:
    """The table as CSV (a header, then one row per object; floats to 4 decimals)."""
    out = io.StringIO()
    names = list(table)
    out.write(",".join(names) + "\n")
    ints = [np.asarray(table[n]).dtype.kind in "iu" for n in names]
    for row in zip(*(table[n] for n in names)):
        out.write(",".join(str(int(v)) if i else f"{float(v):.4f}"
                           for v, i in zip(row, ints)) + "\n")
    return out.getvalue()


def write_csv(table, path: str | os.PathLike):
    """Write the table to ``path`` atomically; returns the path."""
    from ..files.atomic import write_bytes

    return write_bytes(path, csv_text(table).encode())
