"""Opening napari's Plugins menu must stay fast: the widget modules do not import torch."""

from __future__ import annotations

import subprocess
import sys


def test_widget_modules_import_without_torch():
    code = (
        "import sys\n"
        "import napari_unet._widgets.train.train_widget, napari_unet._widgets.predict.predict_widget\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
