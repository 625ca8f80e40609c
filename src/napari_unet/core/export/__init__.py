"""Export a trained model for use outside napari-unet: TorchScript, ONNX, bioimage.io.

``export_model(bundle, path, format)`` writes one file and returns its path. The bundle is
never modified; every file is written to a temporary name beside the target and renamed
over it at the end, so a failed export leaves nothing half-written.

What each format holds (details in the module of each format):

- ``torchscript`` (:mod:`.torchscript`) and ``onnx`` (:mod:`.onnx`): the network with a
  softmax at the end. Input: a float32 ``(B, C, H, W)`` image *already normalised* as
  napari-unet does (see :mod:`.network`); output: class probabilities ``(B, K, H', W')``.
  A JSON sidecar ``<file>.json`` beside the file holds the normalisation, the sizes the
  network accepts, the class names and how the model was trained.
- ``bioimageio`` (:mod:`.bioimageio`): a bioimage.io model package (zip, spec 0.5) whose
  rdf.yaml describes the normalisation as preprocessing and the softmax as postprocessing,
  so bioimage.io tools (bioimageio.core, deepImageJ, ilastik, ...) take raw images.

TorchScript needs only torch. ONNX needs ``onnx`` and ``onnxscript``; bioimage.io needs
``bioimageio.core``: ``pip install napari-stroke-unet[export]``. A missing one, an unwritable path
or a model that cannot be exported raise :class:`ExportError` with a one-line message.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path

FORMATS = ("bioimageio", "torchscript", "onnx")
"""Export formats, for menus and the command line."""

SUFFIXES = {"bioimageio": ".zip", "torchscript": ".pt", "onnx": ".onnx"}
"""The file suffix each format gets when the path has none."""


class ExportError(ValueError):
    """An export that cannot be done: missing optional package, unwritable path, ..."""


def export_model(bundle, path: str | os.PathLike, format: str, **options) -> Path:
    """Write ``bundle`` to ``path`` in ``format`` (one of :data:`FORMATS`); return the path.

    ``path`` gets the format's suffix (:data:`SUFFIXES`) if it has none. ``options`` go to
    the format's exporter (bioimage.io: ``sample``, ``name``, ``authors``, ``license``).
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if bundle.model_config.spatial_dims != 2:
        raise ExportError("exporting 3-D models is not supported yet; 2-D models only")
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder")
    if not path.suffix:
        path = path.with_suffix(SUFFIXES[format])
    module = import_module(f"{__name__}.{format}")
    return module.export(bundle, path, **options)
