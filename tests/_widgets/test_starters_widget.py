"""Starter models in the docks: 'Start from' in the train dock, 'Use a starter model' in the
predict dock.

Invariants: 'Auto' starts from the starter that fits the painting and says so; 'Nothing'
trains from scratch as 'Start fresh' did; a starter predicts objects with no painting and
no training; the annotations are never modified.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt

from napari_unet._widgets.common.session import session_for
from napari_unet.core.files.starters import load_starter

from .helpers import wait_idle


def _ids(data) -> set:
    ids = np.unique(data)
    return set(ids[ids > 0].tolist())


def _items(combo) -> list[tuple[str, str]]:
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


def test_start_from_lists_the_installed_starters(fake_starter, train_widget):
    combo = train_widget.settings.start_from
    assert _items(combo) == [
        ("Auto (best fit)", "auto"),
        ("Starter: Fake nuclei starter", "fake"),
        ("Current model", "current"),
        ("From scratch", "none"),
    ]
    assert combo.spec() == "auto"  # the default
    assert "Licence: CC0" in combo.itemData(1, Qt.ToolTipRole)  # the starter's card
    current = combo.model().item(combo.findData("current"))
    assert not current.isEnabled()  # no model yet
    session_for(train_widget.viewer).set_model(load_starter("fake"), "test")
    assert current.isEnabled()


def test_auto_starts_from_the_starter_that_fits_and_says_so(
    fake_starter, viewer, layers, train_widget, qtbot, notifications
):
    _, annotations = layers
    before = annotations.data.copy()
    train_widget.settings.steps.setValue(20)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)

    choice = train_widget.start_choice
    assert choice.name == "fake" and choice.bundle is not None, choice.message
    said = "Starting from the fake starter"
    assert said in train_widget.status.text()
    assert any(said in text for severity, text in notifications if severity == "info")
    bundle = session_for(viewer).bundle
    assert bundle.info["started_from"] == "starter fake"
    assert bundle.mode == "instance"  # strokes train the starter, which still gives objects
    assert len(_ids(viewer.layers["nuclei prediction"].data)) > 3
    assert train_widget.settings.mode() == "semantic"  # still painting strokes
    assert np.array_equal(annotations.data, before)


def test_nothing_trains_from_scratch_as_start_fresh_did(
    fake_starter, viewer, layers, train_widget, qtbot
):
    train_widget.settings.start_from.set_spec("none")
    train_widget.settings.steps.setValue(20)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    assert train_widget.start_choice.bundle is None
    bundle = session_for(viewer).bundle
    assert bundle.mode == "semantic" and bundle.model_config.n_classes == 2
    assert "started_from" not in bundle.info and bundle.info["steps"] == 20
    assert "starter" not in train_widget.status.text()
    assert set(np.unique(viewer.layers["nuclei prediction"].data)) <= {1, 2}


def test_live_mode_starts_from_the_chosen_starter(fake_starter, viewer, layers, train_widget,
                                                  qtbot):
    train_widget.settings.start_from.set_spec("fake")
    said, show = [], train_widget.status.setText
    train_widget.status.setText = lambda text: (said.append(text), show(text))[-1]
    assert train_widget.set_live(True) is not None
    qtbot.waitUntil(lambda: train_widget.live.trainer is not None, timeout=60_000)
    assert train_widget.start_choice.name == "fake"
    # said when the start is chosen; on a busy machine live steps may already have followed
    assert any("Starting from the fake starter" in text for text in said), said
    assert train_widget.live.trainer.init is not None
    train_widget.set_live(False)
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.info["started_from"] == "starter fake"


def test_a_starter_predicts_objects_with_no_painting_and_no_training(
    fake_starter, viewer, predict_widget, qtbot, sample
):
    image, truth, _ = sample
    viewer.add_image(image, name="nuclei")
    panel = predict_widget.models
    panel.starter_button.menu().aboutToShow.emit()  # the menu fills when it opens
    (action,) = panel.starter_button.menu().actions()
    assert action.text() == "Fake nuclei starter" and "Licence: CC0" in action.toolTip()
    action.trigger()

    session = session_for(viewer)
    assert session.bundle.info["starter"] == "fake"
    assert "Fake nuclei starter" in panel.info.text() and "Licence" in panel.info.toolTip()
    assert predict_widget.status.text().startswith("Ready")
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    objects = viewer.layers["nuclei prediction"].data
    assert objects.shape == truth.shape
    assert len(_ids(objects)) > 3  # one label per object


def test_a_colour_image_trains_a_grayscale_starter_on_its_luminance(
    fake_starter, viewer, train_widget, qtbot, notifications, sample
):
    image, _, painted = sample
    rgb = np.stack([image, 0.8 * image, 0.3 * image], axis=-1)  # channels differ: colour
    viewer.add_image(rgb, name="colour", rgb=True)
    viewer.add_labels(painted.copy(), name="colour annotations")
    train_widget.settings.start_from.set_spec("fake")
    train_widget.settings.steps.setValue(10)
    train_widget.train()
    wait_idle(qtbot, train_widget)
    assert any("luminance" in text for _, text in notifications)
    assert "luminance" in train_widget.status.text()
    bundle = session_for(viewer).bundle
    assert bundle.model_config.in_channels == 1
    # fine-tuned from the fake starter, or the starter itself kept by the guard (it fits the
    # sample's strokes at 0.97-0.98 already, so either may happen)
    assert bundle.info.get("started_from") == "starter fake" or bundle.info["starter"] == "fake"
    assert len(_ids(viewer.layers["colour prediction"].data)) > 0  # predicted after training


def test_the_starter_menu_offers_first_the_starter_for_the_image_in_view(
    fake_starter_dir, tmp_path, monkeypatch, viewer, predict_widget
):
    import shutil

    from napari_unet.core.files import starters

    for name in ("nuclei", "stained"):
        shutil.copy(fake_starter_dir / "fake.unet", tmp_path / f"{name}.unet")
    monkeypatch.setattr(starters, "STARTERS_DIR", tmp_path)
    rgb = np.full((64, 64, 3), (232, 190, 212), np.uint8)
    rgb[20:40, 20:40] = (92, 60, 140)
    viewer.add_image(rgb, name="tissue", rgb=True)
    menu = predict_widget.models.starter_button.menu()
    menu.aboutToShow.emit()
    first = menu.actions()[0]
    assert "suggested for 'tissue'" in first.text()
    first.trigger()
    assert session_for(viewer).bundle is not None
    assert len(menu.actions()) == 2 and "suggested" not in menu.actions()[1].text()
