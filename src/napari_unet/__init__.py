"""napari-unet: few-shot U-Net segmentation for napari.

Importing the package is cheap on purpose: it imports neither torch nor napari nor Qt.
The headless engine lives in :mod:`napari_unet.core`, the dock widgets in
:mod:`napari_unet._widgets`, the command line in :mod:`napari_unet.cli`.
"""

__version__ = "0.1.0"
