"""Headless core of napari-unet: numpy, scipy, scikit-image and torch only.

Never imports napari, qtpy or magicgui, so the widgets, the command line, notebooks and
benchmarks all share it. Its rooms, each using only those below it and the ground floor:

- :mod:`.batch` (folders, dask.distributed) uses :mod:`.inference` and :mod:`.files`;
- :mod:`.training` (targets, sampling, augmentation, losses, the trainers, learning the image
  alone, held-out checks, which model training starts from; :mod:`.training.from_painting` is
  the CLI's and API's route);
- :mod:`.inference` (:func:`~.inference.segment.segment`, the one prediction route, over the
  overlap-tile, 3-D and zarr engines and the objects; its ONNX Runtime backend uses
  :mod:`.export`);
- :mod:`.export` (bioimage.io, TorchScript, ONNX);
- :mod:`.files` (model files, images, OME-Zarr, atomic writes, provenance, starters);
- :mod:`.networks` (the 2-D and 3-D U-Nets, from one set of blocks);
- the ground floor: :mod:`.config`, :mod:`.images`, :mod:`.normalize`, :mod:`.device`,
  :mod:`.memory`, :mod:`.oom`, :mod:`.numbers`, :mod:`.progress`, :mod:`.grayscale`,
  :mod:`.axes`, and :mod:`.metrics` for benchmarks and tests.

docs/architecture.md draws these layers; tests/test_layers.py checks every import against them.

The entry points are re-exported here lazily, so ``import napari_unet.core`` stays cheap;
for notebooks, :mod:`napari_unet.api` (``napari_unet.train`` / ``load``) is simpler still.
"""

from importlib import import_module

_EXPORTS = {
    "ModelConfig": "config",
    "TrainConfig": "config",
    "PredictConfig": "config",
    "NormConfig": "config",
    "Bundle": "files.bundle",
    "save_bundle": "files.bundle",
    "load_bundle": "files.bundle",
    "segment": "inference.segment",
    "Segmentation": "inference.segment",
    "Trainer": "training.train",
    "Trainer3D": "training.train3d",
    "train_on_painting": "training.from_painting",
    "resolve_device": "device",
    "drain": "progress",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
