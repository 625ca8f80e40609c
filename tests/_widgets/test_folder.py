"""'Apply to folder…' in the predict widget: every image of a folder predicted in the
background, with Stop, resuming, per-image errors reported, and the viewer left alone."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_unet._widgets.common.session import session_for
from napari_unet.core.config import ModelConfig, NormConfig
from napari_unet.core.files.bundle import Bundle
from napari_unet.core.inference.predict import predict_image
from napari_unet.core.networks.model import UNet
from napari_unet.synthetic import nuclei

from .helpers import assert_unchanged, snapshot, wait_idle

N = 4


@pytest.fixture()
def tiny(viewer):
    torch.manual_seed(3)
    cfg = ModelConfig(depth=2, base_width=8)
    bundle = Bundle(cfg, NormConfig(), UNet(cfg).state_dict())
    session_for(viewer).set_model(bundle, "test")
    session_for(viewer).device = "cpu"
    return bundle


@pytest.fixture()
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(N):
        tifffile.imwrite(src / f"im{i}.tif", (nuclei((40, 48), n=4, seed=i)[0] * 255).astype(np.uint8))
    return src


def check_outputs(out, bundle, folder) -> list[str]:
    """Names of the finished outputs, each equal to a single-image prediction."""
    names = sorted(p.name for p in out.iterdir()) if out.exists() else []
    for name in names:
        image = tifffile.imread(folder / name.replace("_labels", ""))
        assert np.array_equal(tifffile.imread(out / name), predict_image(image[None], bundle).labels)
    return names


def test_apply_to_folder_writes_every_image_and_reports_failures(
    viewer, layers, predict_widget, qtbot, tiny, folder, tmp_path, notifications
):
    (folder / "bad.tif").write_bytes(b"not a tiff")
    before = snapshot(viewer)
    panel = predict_widget.folder
    assert panel.button.text() == "Apply to folder…"
    assert panel.run(folder, tmp_path / "out") is not None
    assert panel.button.text() == "Stop" and predict_widget.busy
    wait_idle(qtbot, predict_widget)
    assert panel.button.text() == "Apply to folder…"
    assert panel.result.summary() == f"{N} written, 1 failed"
    assert len(check_outputs(tmp_path / "out", tiny, folder)) == N
    text = [m for _, m in notifications if "Folder done" in m]
    assert text and f"{N} written, 1 failed" in text[0] and "bad.tif" in text[0]
    assert_unchanged(viewer, before)


def test_stop_then_apply_again_goes_on_where_it_ended(
    predict_widget, qtbot, tiny, folder, tmp_path, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    answers = iter([str(folder), str(tmp_path / "out")])  # input folder, then output folder
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: next(answers))
    panel = predict_widget.folder
    panel.button.click()  # Apply to folder…: asks for both folders, starts
    assert panel.busy and panel.button.text() == "Stop"
    panel.button.click()  # Stop
    wait_idle(qtbot, predict_widget)
    assert panel.status.text().startswith("Stopped after")
    done = check_outputs(tmp_path / "out", tiny, folder)
    assert len(done) < N and not any(n.startswith(".") for n in done)  # only complete files

    panel.run(folder, tmp_path / "out")
    wait_idle(qtbot, predict_widget)
    assert len(panel.result.written) == N - len(done) and len(panel.result.skipped) == len(done)
    assert len(check_outputs(tmp_path / "out", tiny, folder)) == N


def test_nothing_to_do_is_said_before_starting(viewer, predict_widget, tiny, tmp_path, notifications):
    panel = predict_widget.folder
    (tmp_path / "empty").mkdir()
    assert panel.run(tmp_path / "empty", tmp_path / "out") is None
    assert "no images in" in notifications[-1][1]
    session_for(viewer).set_model(None, "")
    assert panel.run(tmp_path, tmp_path / "out") is None
    assert "no model yet" in notifications[-1][1]
    assert not panel.busy


def test_apply_to_folder_takes_the_docks_views(
    viewer, layers, predict_widget, qtbot, tiny, folder, tmp_path
):
    """'Average 8 views' ticked: every output is the 8-view prediction (as Predict gives),
    not the one-view one."""
    from napari_unet.core.config import PredictConfig

    predict_widget.views.setChecked(True)
    assert predict_widget.folder.run(folder, tmp_path / "out") is not None
    wait_idle(qtbot, predict_widget)
    differ = 0
    for i in range(N):
        image = tifffile.imread(folder / f"im{i}.tif")[None]
        eight = predict_image(image, tiny, PredictConfig(views=8)).labels
        differ += not np.array_equal(eight, predict_image(image, tiny).labels)
        assert np.array_equal(tifffile.imread(tmp_path / "out" / f"im{i}_labels.tif"), eight)
    assert differ  # one view would not have passed
