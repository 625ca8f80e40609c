"""Headless core of napari-unet: numpy, scipy, scikit-image and torch only.

Never imports napari, qtpy or magicgui, so the widgets, the command line, notebooks and
benchmarks all share it. The most used entry points are re-exported here lazily so that
``import napari_unet.core`` stays cheap.
"""

from importlib import import_module

_EXPORTS = {
    "ModelConfig": "config",
    "TrainConfig": "config",
    "PredictConfig": "config",
    "NormConfig": "config",
    "UNet": "networks.model",
    "UNet3D": "networks.model3d",
    "Trainer3D": "training.train3d",
    "predict_volume": "inference.predict3d",
    "Trainer": "training.train",
    "fit": "training.train",
    "predict": "inference.predict",
    "predict_image": "inference.predict",
    "predict_to_zarr": "inference.lazy",
    "Bundle": "files.bundle",
    "save_bundle": "files.bundle",
    "load_bundle": "files.bundle",
    "resolve_device": "device",
    "drain": "progress",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
