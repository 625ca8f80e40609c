"""The docks open with PyQt6 (the default install) and still with PyQt5 (napari 0.9 deprecates
it, but users who have it must keep working). Each binding in a fresh interpreter: Qt cannot
switch bindings inside one process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

CODE = """
import napari, qtpy
from napari_unet._widgets.train.train_widget import TrainWidget
from napari_unet._widgets.predict.predict_widget import PredictWidget
viewer = napari.Viewer(show=False)
viewer.window.add_dock_widget(TrainWidget(viewer))
viewer.window.add_dock_widget(PredictWidget(viewer))
print(qtpy.API_NAME)
viewer.close()
"""


@pytest.mark.parametrize("binding, module", [("pyqt6", "PyQt6"), ("pyqt5", "PyQt5")])
def test_both_docks_open_with_the_binding(binding, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    env = {**os.environ, "QT_API": binding}  # no image layer: nothing starts learning
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == module
