"""napari-unet: few-shot U-Net segmentation for napari.

Importing the package is cheap on purpose: it imports neither torch nor napari nor Qt.
The Python API (:func:`train`, :func:`load`, :class:`Model`; :mod:`napari_unet.api`) is
imported on first use. The headless engine lives in :mod:`napari_unet.core`, the dock
widgets in :mod:`napari_unet._widgets`, the command line in :mod:`napari_unet.cli`.
"""

from ._version import __version__

__all__ = ["Model", "load", "train", "__version__"]


def __getattr__(name):
    if name in ("Model", "load", "train"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
