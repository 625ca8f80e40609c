"""Saving and loading models from the dock widgets."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def test_save_then_load_gives_the_same_prediction(
    viewer, layers, train_widget, predict_widget, qtbot, tmp_path, rgb_bundle
):
    train_widget.train()
    wait_idle(qtbot, train_widget)
    predict_widget.probabilities.setChecked(True)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    labels = viewer.layers["nuclei prediction"].data.copy()
    probabilities = viewer.layers["nuclei P(foreground)"].data.copy()

    path = predict_widget.models.save(tmp_path / "nuclei")
    assert path == tmp_path / "nuclei.unet" and path.exists()
    session_for(viewer).set_model(rgb_bundle, "another model")
    assert train_widget.models.load(path)
    assert "Loaded from nuclei.unet" in predict_widget.models.info.text()
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    assert np.array_equal(viewer.layers["nuclei prediction"].data, labels)
    assert np.array_equal(viewer.layers["nuclei P(foreground)"].data, probabilities)


def test_model_info_says_what_the_model_was_trained_on(viewer, train_widget, predict_widget, rgb_bundle):
    assert "No model yet" in predict_widget.models.info.text()
    assert not predict_widget.models.save_button.isEnabled()
    session_for(viewer).set_model(rgb_bundle, "Loaded from cells.unet")
    text = predict_widget.models.info.text()
    assert "Loaded from cells.unet" in text
    assert "RGB (3 channels)" in text
    assert "1 = background, 2 = foreground" in text
    assert f"Trained: {rgb_bundle.info['date'][:10]}" in text
    assert "3 channels; classes: background, foreground" in train_widget.models.info.text()
    assert predict_widget.models.save_button.isEnabled() and train_widget.models.save_button.isEnabled()


def test_widgets_opened_from_the_plugins_menu_share_the_model(make_napari_viewer, qtbot, gray_bundle):
    """napari gives each plugin widget its own viewer proxy; they still share one session."""
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Train U-Net")
    _, predict = viewer.window.add_plugin_dock_widget("napari-stroke-unet", "Predict with U-Net")
    assert train.viewer is not predict.viewer  # two proxies of one viewer
    train.session.set_model(gray_bundle, "Trained here on nuclei")
    assert predict.session is train.session
    assert "Trained here on nuclei" in predict.models.info.text()
