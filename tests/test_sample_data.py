"""The sample under File > Open Sample: ready to paint, and cheap to open."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from napari_unet._sample_data import nuclei_sample


def test_sample_is_an_image_and_an_empty_layer_to_paint():
    (image, image_meta, image_type), (labels, labels_meta, labels_type) = nuclei_sample()
    assert (image_type, labels_type) == ("image", "labels")
    assert image.ndim == 2 and image.dtype == np.float32 and image.std() > 0.05
    assert labels.shape == image.shape and labels.dtype == np.uint8 and not labels.any()
    assert labels_meta["name"] == f"{image_meta['name']} annotations"


def test_opening_the_sample_imports_neither_torch_nor_qt():
    code = (
        "import sys, napari_unet._sample_data as s; s.nuclei_sample(); "
        "print(sorted(m for m in ('torch', 'napari', 'qtpy', 'PyQt5') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
