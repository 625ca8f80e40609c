"""File > Open Sample > Nuclei: a synthetic fluorescence image and an empty layer to paint.

Imports only numpy and :mod:`napari_unet.synthetic` (no torch, no napari), so opening the
sample is instant.
"""

from __future__ import annotations

import numpy as np

from napari_unet.synthetic import nuclei

SHAPE = (256, 256)
N_NUCLEI = 30
SEED = 1


def nuclei_sample():
    """A nuclei image (float32, about [0, 1]) and ``"nuclei annotations"`` to paint on.

    The annotation layer is empty: paint label 1 on background and label 2 inside a few
    nuclei, then press Train.
    """
    image, _ = nuclei(SHAPE, n=N_NUCLEI, seed=SEED)
    annotations = np.zeros(SHAPE, np.uint8)
    return [
        (image, {"name": "nuclei", "colormap": "gray"}, "image"),
        (annotations, {"name": "nuclei annotations", "opacity": 0.8}, "labels"),
    ]
