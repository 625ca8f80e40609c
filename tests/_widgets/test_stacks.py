"""A Z-stack and a time series in the predict dock (issue 22): the starter predicts them plane
by plane and gives the command line's labels; Z objects are joined into 3-D objects (the
switch turns it off), frames labelled 't' keep their own."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def _stack():
    from napari_unet.synthetic import nuclei

    plane = nuclei((64, 64), n=4, seed=2)[0]
    return np.stack([plane] * 5)  # the same nuclei in every plane: columns


def test_a_stack_in_the_dock_gives_the_command_lines_labels(tmp_path, viewer, predict_widget,
                                                             qtbot):
    from pathlib import Path

    from napari_unet.cli import main
    from napari_unet.core.files import starters
    from napari_unet.core.files.bundle import load_bundle

    shipped = Path(starters.__file__).resolve().parents[2] / "starters" / "nuclei.unet"  # the
    stack = _stack()  # widget tests hide the starters from 'auto'; this one is used by path
    tifffile.imwrite(tmp_path / "s.tif", stack)
    assert main(["predict", str(shipped), str(tmp_path / "s.tif"), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    cli = tifffile.imread(tmp_path / "o" / "s_labels.tif")

    session_for(viewer).set_model(load_bundle(shipped), "nuclei")
    predict_widget.image.value = viewer.add_image(stack, name="s")
    assert predict_widget.stitch.isChecked()
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    dock = viewer.layers["s prediction"].data
    np.testing.assert_array_equal(dock, cli)
    n = len(np.unique(dock[0])) - 1
    assert n >= 2 and len(np.unique(dock)) - 1 == n  # 3-D objects

    predict_widget.stitch.setChecked(False)
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    assert len(np.unique(viewer.layers["s prediction"].data)) - 1 == 5 * n

    predict_widget.stitch.setChecked(True)
    predict_widget.image.value = viewer.add_image(stack, name="t", axis_labels=("t", "y", "x"))
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    assert len(np.unique(viewer.layers["t prediction"].data)) - 1 == 5 * n  # frames: not joined
