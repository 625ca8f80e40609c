"""Exporting the current model from the model panel (Export… button)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from napari_unet._widgets.common.session import session_for

from .helpers import WORKER_TIMEOUT_MS


def _wait(qtbot, panel):
    qtbot.waitUntil(lambda: panel.export_worker is None, timeout=WORKER_TIMEOUT_MS)


@pytest.fixture
def no_validation(monkeypatch):
    """bioimage.io validation is tested in tests/core/test_export.py; here it only costs time."""
    from napari_unet.core.export import bioimageio

    monkeypatch.setattr(bioimageio, "check", lambda package: None)


def test_export_writes_a_package_with_the_training_image_as_test_input(
    viewer, layers, predict_widget, qtbot, tmp_path, gray_bundle, notifications, no_validation
):
    panel = predict_widget.models
    assert not panel.export_button.isEnabled()  # no model yet
    viewer.add_image(np.zeros((2, 64, 64), np.float32), name="other", rgb=False, channel_axis=None)
    session_for(viewer).set_model(gray_bundle, "Trained here", trained_on=["nuclei"])
    assert panel.export_button.isEnabled()

    worker = panel.export(tmp_path / "nuclei", "bioimageio")
    assert worker is not None and not panel.export_button.isEnabled()  # one export at a time
    _wait(qtbot, panel)
    path = tmp_path / "nuclei.zip"
    x = np.load(zipfile.ZipFile(path).open("test_input.npy"))
    assert np.array_equal(x[0, 0], layers[0].data)  # the image it was trained on, raw
    assert ("info", f"Model exported to {path}") in notifications
    assert panel.export_button.isEnabled()


def test_export_failure_is_an_error_notification_and_nothing_changes(
    viewer, predict_widget, qtbot, tmp_path, gray_bundle, notifications
):
    panel = predict_widget.models
    session_for(viewer).set_model(gray_bundle, "Trained here")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    panel.export(blocker / "m.pt", "torchscript")
    _wait(qtbot, panel)
    errors = [text for severity, text in notifications if severity == "error"]
    assert errors and errors[0].startswith("Export failed: cannot write")
    assert blocker.read_text() == "not a folder" and panel.export_button.isEnabled()


def test_export_without_a_model_says_so(predict_widget, notifications):
    assert predict_widget.models.export(".", "onnx") is None
    assert any("no model to export" in text for _, text in notifications)


def test_export_button_asks_for_format_then_file(predict_widget, monkeypatch, tmp_path):
    from qtpy.QtWidgets import QFileDialog, QInputDialog

    from napari_unet._widgets.common.export import LABELS

    panel, calls = predict_widget.models, []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (LABELS["onnx"], True))
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda parent, title, name, filters: (str(tmp_path / name), filters))
    monkeypatch.setattr(panel, "export", lambda path, fmt: calls.append((path, fmt)))
    panel._ask_export()
    assert calls == [(str(tmp_path / "model.onnx"), "onnx")]
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("", False))  # cancelled
    panel._ask_export()
    assert len(calls) == 1


def test_export_runs_through_the_runner_and_says_how_it_ended(tmp_path, gray_bundle, notifications):
    """Headless: the export is a worker of the dock controller's runner (here the synchronous
    one); success and failure each end with one notification and ``on_done``."""
    from napari_unet._widgets.common.export import start_export
    from napari_unet._widgets.common.runner import SyncRunner

    runner, done = SyncRunner(), []
    worker = start_export(gray_bundle, tmp_path / "m.pt", "torchscript",
                          on_done=lambda: done.append("ok"), runner=runner)
    assert runner.started == [worker] and not (tmp_path / "m.pt").exists()  # not run yet
    runner.drain()
    assert (tmp_path / "m.pt").stat().st_size > 0 and done == ["ok"]
    assert ("info", f"Model exported to {tmp_path / 'm.pt'}") in notifications

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    start_export(gray_bundle, blocker / "m.pt", "torchscript", on_done=lambda: done.append("failed"),
                 runner=runner)
    runner.drain()
    errors = [text for severity, text in notifications if severity == "error"]
    assert len(errors) == 1 and errors[0].startswith("Export failed: cannot write")
    assert done == ["ok", "failed"] and blocker.read_text() == "not a folder"


def test_one_export_at_a_time_and_its_state_is_headless(tmp_path, gray_bundle, notifications):
    """The panel's :class:`ExportRun`: busy from start to end, a second export refused while
    one runs, and ``on_change`` at both ends (the panel then greys Export out or back)."""
    from napari_unet._widgets.common.export import ExportRun
    from napari_unet._widgets.common.runner import SyncRunner

    changes = []
    run = ExportRun(SyncRunner(), on_change=lambda: changes.append(run.busy))
    worker = run.start(gray_bundle, tmp_path / "a.pt", "torchscript")
    assert worker is not None and run.busy and run.worker is worker and changes == [True]
    assert run.start(gray_bundle, tmp_path / "b.pt", "torchscript") is None  # one at a time
    run.runner.drain()
    assert not run.busy and changes == [True, False]
    assert (tmp_path / "a.pt").exists() and not (tmp_path / "b.pt").exists()
    assert run.start(gray_bundle, tmp_path / "b.pt", "torchscript") is not None  # free again
    run.runner.drain()
    assert (tmp_path / "b.pt").exists()
