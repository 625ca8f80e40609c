"""Objects after prediction, measured (tidying them is
:func:`~.postprocess.refine_objects`).

:func:`object_table` measures every object (area, mean intensity per channel, centroid)
with scikit-image's ``regionprops_table``, and :func:`write_csv` saves the table (any
mapping of columns: a dict, or the labels layer's ``features`` DataFrame), atomically as
every file napari-unet writes.
"""

from __future__ import annotations

import io
import os

import numpy as np

COLUMNS = ("label", "area_px", "centroid_y", "centroid_x")


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
