"""File > Open Sample: images to try the plugin on, each with an empty layer to paint.

- *Nuclei (synthetic)*: made by :mod:`napari_unet.synthetic`, instant.
- *Human mitosis (fluorescence nuclei)*: ``skimage.data.human_mitosis()``, 512 x 512,
  downloaded by scikit-image on first use (then cached); offline, a message says so.
- *Immunohistochemistry (stained tissue)*: ``skimage.data.immunohistochemistry()``, 512 x 512
  RGB, shipped inside scikit-image.

Imports only numpy, scikit-image and :mod:`napari_unet.synthetic` (no torch, no napari), so
opening a sample is quick.
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
    return _with_layer_to_paint(image, "nuclei")


class SampleUnavailable(RuntimeError):
    """A sample that cannot be had here (offline, first use); the message says what to do."""


def _with_layer_to_paint(image, name: str, source: str | None = None, rgb: bool = False):
    """``image`` as layer ``name`` (with where it comes from, if said) and an empty
    ``"<name> annotations"`` labels layer of its height and width."""
    annotations = np.zeros(image.shape[:2], np.uint8)
    meta = {"name": name} if source is None else {"name": name, "metadata": {"source": source}}
    if not rgb:
        meta["colormap"] = "gray"
    return [
        (image, meta, "image"),
        (annotations, {"name": f"{name} annotations", "opacity": 0.8}, "labels"),
    ]


def human_mitosis_sample():
    """scikit-image's ``human_mitosis``: fluorescence nuclei of human cells in mitosis.

    Offline on first use, a napari notification says so and the synthetic nuclei open instead
    (napari refuses a sample with no layers, with a traceback)."""
    try:
        image = load_human_mitosis()
    except SampleUnavailable as e:
        from napari.utils.notifications import show_warning  # only called from napari

        show_warning(f"{e} The synthetic nuclei are shown instead.")
        return nuclei_sample()
    return _with_layer_to_paint(image, "human mitosis", "skimage.data.human_mitosis()")


def load_human_mitosis():
    """The image, or :class:`SampleUnavailable` saying why not (never the download's traceback)."""
    from skimage import data

    try:
        return data.human_mitosis()
    except Exception as e:  # noqa: BLE001 - offline, blocked, or no pooch: say so
        raise SampleUnavailable(
            "The 'Human mitosis' sample is downloaded by scikit-image on first use, and the "
            "download failed (no internet connection?). Connect once and try again, or use "
            "the 'Nuclei (synthetic)' or 'Immunohistochemistry' samples, which need no "
            f"download. ({type(e).__name__})"
        ) from None


def immunohistochemistry_sample():
    """scikit-image's ``immunohistochemistry``: stained human colon tissue (RGB), nuclei in
    blue-brown."""
    from skimage import data

    return _with_layer_to_paint(data.immunohistochemistry(), "immunohistochemistry",
                                "skimage.data.immunohistochemistry()", rgb=True)
