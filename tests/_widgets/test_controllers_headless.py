"""The docks' controllers import no Qt: they run with ``napari.components.ViewerModel()``."""

from __future__ import annotations

import subprocess
import sys

CONTROLLERS = ("napari_unet._widgets.train.controller", "napari_unet._widgets.predict.controller",
               "napari_unet._widgets.common.runner", "napari_unet._widgets.train.live",
               "napari_unet._widgets.train.warmup", "napari_unet._widgets.predict.folder_run",
               "napari_unet._widgets.common.paint_next",
               "napari_unet._widgets.predict.objects_controller",
               "napari_unet._widgets.common.paint_next_run",
               "napari_unet._widgets.common.export",
               "napari_unet._widgets.train.predict_after", "napari_unet._widgets.train.states")
QT = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "napari.qt", "napari._qt",
      "magicgui.backends._qtpy")


def test_the_controllers_import_no_qt_and_no_torch():
    """magicgui's core is loaded by ``napari.layers`` itself (napari registers its types);
    its Qt backend, and every Qt binding, must not be."""
    code = (f"import sys\nfor m in {CONTROLLERS!r}: __import__(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT!r} "
            f"or m.startswith({QT!r}) or m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
