"""Issue 23, the docks' second pass: annotations never paired with the wrong image, every
result in view, the object table following every prediction, the no-painting path in plain
sight, and messages said where they cannot crash the viewer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def test_a_pair_follows_its_image_and_goes_with_it(viewer, train_widget, sample):
    """Deleting the image of a pair never pairs its annotations with another image of the
    same size: the pair goes, and the dock says so."""
    image, _, painted = sample
    viewer.add_image(image, name="t02")
    t01 = viewer.add_image(image * 0.5, name="t01")
    mine = viewer.add_labels(painted.copy(), name="t01 annotations")
    row = train_widget.data.rows[0]
    row.image.value = t01
    row.labels.value = mine
    viewer.layers.remove(t01)
    row = train_widget.data.rows[0]
    assert row.labels.value != mine  # not t02's annotations now
    assert row.image.value is None or row.image.value.name == "t02"
    note = train_widget.data.fit_note
    assert note.isVisibleTo(train_widget)
    assert "'t01' was removed" in note.text() and "'t01 annotations'" in note.text()
    # choosing t02 again never picks up the annotations made for t01
    row.image.value = viewer.layers["t02"]
    assert row.labels.value != mine


def test_a_second_pair_goes_with_its_image(viewer, train_widget, sample):
    image, _, painted = sample
    a = viewer.add_image(image, name="A")
    b = viewer.add_image(image * 0.5, name="B")
    la = viewer.add_labels(painted.copy(), name="A annotations")
    lb = viewer.add_labels(painted.copy(), name="B annotations")
    data = train_widget.data
    data.rows[0].image.value, data.rows[0].labels.value = a, la
    second = data.add_pair()
    second.image.value, second.labels.value = b, lb
    viewer.layers.remove(b)
    assert len(data.rows) == 1
    assert data.rows[0].image.value == a and data.rows[0].labels.value == la
    assert "'B' was removed" in data.fit_note.text()
    assert [(i.name, lab.name) for i, lab in data.pairs()] == [("A", "A annotations")]


def test_the_retrained_result_is_shown_or_said_where_it_is(
    viewer, layers, train_widget, qtbot, gray_bundle
):
    """Correct the prediction hides it under the corrections; retraining shows the new
    prediction again and says that the corrections lie over it."""
    from napari_unet._widgets.common.layers import find_ours

    session_for(viewer).set_model(gray_bundle, "test")
    train_widget._pairs = [layers]
    train_widget._predict_first(gray_bundle)
    wait_idle(qtbot, train_widget)
    corrections = train_widget.correct()
    prediction = find_ours(viewer, "prediction", "nuclei")
    assert not prediction.visible  # what is seen is what is fixed
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    assert prediction.visible
    text = train_widget.status.text()
    assert "Prediction in 'nuclei prediction'" in text
    assert f"It lies under '{corrections.name}', which hides it" in text


def test_a_hidden_result_is_shown_again_when_predicted(
    viewer, layers, predict_widget, qtbot, gray_bundle
):
    from napari_unet._widgets.common.layers import hidden_by

    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = layers[0]
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    prediction = viewer.layers["nuclei prediction"]
    prediction.visible = False
    assert "is hidden" in hidden_by(viewer, prediction)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    assert prediction.visible
    assert predict_widget.status.text() == "Done: 'nuclei prediction'."
    # a labels layer painted all over, above it, hides it
    viewer.add_labels(np.ones(layers[0].data.shape, np.uint8), name="cover")
    assert "It lies under 'cover', which hides it" in hidden_by(viewer, prediction)
    # the annotations above it (a few strokes) do not
    viewer.layers.move(viewer.layers.index("nuclei annotations"), len(viewer.layers))
    assert "annotations" not in hidden_by(viewer, prediction)


def test_the_object_table_follows_every_prediction(
    viewer, layers, predict_widget, qtbot, gray_bundle, tmp_path
):
    """A prediction written by another dock (Train, retrain, Live) updates the table; ids
    are 1..n, as in the layer; removing the layer clears the table."""
    from napari_unet._widgets.common.layers import write_objects

    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = layers[0]
    predict_widget.objects.setChecked(True)
    predict_widget.predict()
    wait_idle(qtbot, predict_widget)
    panel = predict_widget.objects_panel
    assert panel.table.rowCount() >= 3
    new = np.zeros(layers[0].data.shape, np.uint32)  # as the train dock writes it
    new[10:20, 10:20], new[40:50, 40:60], new[70:90, 5:15] = 1, 3, 13
    layer = write_objects(viewer, layers[0], new)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=5000)
    ids = [panel.table.item(r, 0).text() for r in range(3)]
    assert ids == ["1", "2", "3"]
    assert sorted(np.unique(layer.data).tolist()) == [0, 1, 2, 3]  # the layer says the same
    assert [panel.table.item(r, 1).text() for r in range(3)] == ["100", "200", "200"]
    lines = panel.save_csv(tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == 4
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 0, timeout=5000)
    assert panel.table_data is None and not panel.save_button.isEnabled()


def test_the_no_painting_path_is_the_first_thing_seen(
    viewer, layers, predict_widget, fake_starter, notifications
):
    """With no model, the predict dock opens with 'Predict with a starter now, or paint and
    Train' and the starter button; its status and the error from Predict name the button."""
    widget = predict_widget
    first = widget.sections["predict"].body_layout.itemAt(0).widget()
    assert first is widget.start_row and widget.start_row.isVisibleTo(widget)
    assert "Predict with a starter now, or paint and Train" in widget.start_note.text()
    assert widget.start_button.text() == "Use a starter model…"
    assert "Use a starter model…" in widget.status.text()
    assert widget.predict() is None
    assert "Use a starter model…" in widget.status.text()
    assert any("Use a starter model…" in text for _, text in notifications)
    assert "Use a starter model…" in widget.models.info.text()
    widget.models.load_starter(fake_starter)  # the button's menu entry
    assert not widget.start_row.isVisibleTo(widget)
    assert widget.status.text().startswith("Ready")


def test_removing_the_only_image_during_the_train_docks_prediction_is_said_in_the_dock(
    viewer, train_widget, qtbot, gray_bundle, notifications
):
    """No notification right after the only image under a labels layer goes (it can crash
    napari's drawing); the status says it."""
    rng = np.random.default_rng(0)
    big = viewer.add_image(rng.random((1024, 1024), np.float32), name="big")
    labels = viewer.add_labels(np.zeros((1024, 1024), np.uint8), name="big annotations")
    session_for(viewer).set_model(gray_bundle, "test")
    train_widget._pairs = [(big, labels)]
    train_widget._predict_first(gray_bundle)
    assert train_widget.predict_worker is not None
    viewer.layers.remove(big)
    wait_idle(qtbot, train_widget)
    assert "'big' was removed" in train_widget.status.text()
    assert not notifications
    assert train_widget.train() is None  # no image now: said in the dock only
    assert "choose an image" in train_widget.status.text()
    assert not notifications


# -- words (item 7) -----------------------------------------------------------------------
def test_the_start_choice_names_each_model_once(fake_starter, sample):
    from napari_unet.core.files.starters import load_starter
    from napari_unet.core.training.start import Painting, resolve_start

    image, _, painted = sample
    current = load_starter(fake_starter)  # the starter is the current model
    choice = resolve_start("auto", current, Painting([image[None]], [painted]))
    assert choice.name == "current model"
    assert "the current model (the fake starter)" in choice.message
    assert "others" not in choice.message  # the fake starter is the current model


def test_a_tie_is_not_called_worse():
    from napari_unet._widgets.common.wording import kept
    from napari_unet.core.training.events import KeptEarlier

    said = kept(KeptEarlier(0, 1.0, 0.999, 6))
    assert "less well" not in said and "no better (both 1.00)" in said


def test_paint_here_spots_use_the_painted_names():
    from napari_unet._widgets.common.paint_next import between

    probs = np.zeros((3, 20, 20), np.float32)
    probs[1], probs[0], probs[2] = 0.5, 0.4, 0.1  # interior, then background
    said = between(probs, [(10, 10)], ["background", "interior", "border"])
    assert said == ["foreground or background"]


def test_ticking_3d_is_the_reason_said_for_starting_fresh(train_widget, fake_starter):
    from napari_unet.core.files.starters import load_starter

    bundle = load_starter(fake_starter)  # an objects model
    train_widget.settings.three_d.setChecked(True)
    why = train_widget.settings.fresh_reason(bundle)
    assert "2-D U-Net, this training a 3-D one" in why and "objects" not in why


def test_no_jargon_in_the_settings(train_widget):
    from qtpy.QtWidgets import QLabel

    texts = " ".join(label.text() for label in train_widget.findChildren(QLabel))
    assert "anisotropy" not in texts.lower() and "Z spacing" in texts


def test_the_threads_said_are_those_training_used(sample):
    import torch

    from napari_unet.core.config import TrainConfig
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train import Trainer

    image, _, painted = sample
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = TrainConfig(steps=2, seconds=None, batch_size=1, patch_size=32, threads=1)
        bundle = drain(Trainer([image[None]], [painted], config=config).steps())
    finally:
        torch.set_num_threads(before)
    assert bundle.info["device"] == "cpu (1 thread)"


def test_correct_says_when_it_switches_the_annotation_mode(viewer, layers, train_widget,
                                                            gray_bundle):
    from napari_unet._widgets.common.layers import write_result

    session_for(viewer).set_model(gray_bundle, "test")
    write_result(viewer, layers[0], np.ones(layers[0].data.shape, np.uint8), None,
                 gray_bundle.class_names)
    train_widget.settings.set_mode("instance")
    assert train_widget.correct() is not None
    assert train_widget.settings.mode() == "semantic"
    assert "'Annotation' is now" in train_widget.status.text()


# -- 3-D prediction can be stopped (item 4) -------------------------------------------------
@pytest.fixture(scope="module")
def bundle_3d():
    from napari_unet.core.config import ModelConfig, TrainConfig
    from napari_unet.core.progress import drain
    from napari_unet.core.training.train3d import Trainer3D

    rng = np.random.default_rng(0)
    image = rng.random((8, 32, 32)).astype(np.float32)
    painted = (rng.random((8, 32, 32)) * 3).astype(np.uint8)
    config = TrainConfig(steps=1, seconds=None, batch_size=1, patch_size=32)
    return drain(Trainer3D([image[None]], [painted], config=config,
                           model=ModelConfig(spatial_dims=3, depth=2, base_width=4)).steps())


@pytest.fixture
def slow_3d(monkeypatch):
    """A stack whose 3-D prediction takes about 10 s in one step: every layer of the network
    takes 0.25 s more (as a large window takes half a minute on a CPU)."""
    import time

    from napari_unet.core.files.bundle import Bundle

    build = Bundle.build_model

    def slow(self, device="cpu"):
        model = build(self, device)
        for module in model.modules():
            if not list(module.children()):
                module.register_forward_hook(lambda *_: time.sleep(0.25))
        return model

    monkeypatch.setattr(Bundle, "build_model", slow)
    return np.random.default_rng(0).random((8, 48, 48)).astype(np.float32)


def _finishes_within(qtbot, widget, seconds):
    import time

    t0 = time.monotonic()
    wait_idle(qtbot, widget, timeout=60_000)
    return time.monotonic() - t0 < seconds


def test_cancel_ends_a_3d_prediction_within_2_s(viewer, predict_widget, qtbot, bundle_3d,
                                               slow_3d):
    layer = viewer.add_image(slow_3d, name="stack")
    session_for(viewer).set_model(bundle_3d, "test")
    predict_widget.image.value = layer
    assert predict_widget.predict() is not None
    qtbot.wait(1500)  # inside the first (long) step
    assert 0 < predict_widget.worker.meter.fraction() < 1  # the bar moves within a step
    predict_widget.cancel()
    assert _finishes_within(qtbot, predict_widget, 2.0)
    assert predict_widget.status.text() == "Cancelled: nothing was written."
    assert "stack prediction" not in viewer.layers


def test_stop_ends_the_3d_prediction_after_training_and_nothing_starts_meanwhile(
    viewer, train_widget, qtbot, bundle_3d, slow_3d
):
    layer = viewer.add_image(slow_3d, name="stack")
    labels = viewer.add_labels(np.zeros(slow_3d.shape, np.uint8), name="stack annotations")
    session_for(viewer).set_model(bundle_3d, "test")
    train_widget._pairs = [(layer, labels)]
    train_widget._predict_first(bundle_3d)
    assert train_widget.predict_worker is not None
    assert train_widget.stop_button.isEnabled()
    assert not train_widget.train_button.isEnabled() and not train_widget.live_button.isEnabled()
    qtbot.wait(1500)
    train_widget.stop()
    assert _finishes_within(qtbot, train_widget, 2.0)
    assert "The prediction was stopped: nothing was written." in train_widget.status.text()
    assert train_widget.train_button.isEnabled() and not train_widget.stop_button.isEnabled()


def test_a_start_that_already_fits_is_not_trained_and_its_prediction_is_shown(
        viewer, layers, fake_starter, train_widget, qtbot, notifications, monkeypatch):
    """Training that can change nothing is not run (issue 23, item 6): the dock says at
    once that the starter already matches the strokes and what would help, makes it the
    current model and shows its prediction. Train again on the same painting trains."""
    from napari_unet.core.training import start

    monkeypatch.setattr(start, "zero_shot_score", lambda *a, **k: 1.0)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    text = train_widget.status.text()
    assert "The starter already matches your strokes; training on them would change " \
           "little." in text
    assert "Paint where the prediction is wrong" in text and "Objects settings" in text
    assert "Press Train again to train anyway" in text
    assert any("already matches" in t for _, t in notifications)
    assert train_widget.last_run == {}  # no training step was run
    session = session_for(viewer)
    assert session.source.startswith("Starter:")
    assert "nuclei prediction" in viewer.layers and "Prediction in" in text

    assert train_widget.train() is not None  # the same painting again: trains anyway
    wait_idle(qtbot, train_widget)
    assert train_widget.last_run.get("steps", 0) > 0
    assert "Training anyway" in train_widget.status.text()


def test_a_run_that_kept_the_starter_says_the_starter(viewer, layers, train_widget, qtbot,
                                                      fake_starter):
    """Training that kept the starting model leaves the starter as the current model: not
    'Trained here', and not with its steps and the new ones added up."""
    from napari_unet.core.files.starters import load_starter

    train_widget.settings.start_from.set_spec(fake_starter)
    train_widget.settings.lr.setValue(1e-5)  # the starter cannot be beaten
    train_widget.settings.steps.setValue(5)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    session = session_for(viewer)
    assert "kept the starting model" in train_widget.status.text()
    assert session.source.startswith("Starter:") and "Trained here" not in session.source
    assert session.bundle.info["steps"] == load_starter(fake_starter).info["steps"]
    assert "nuclei prediction" in viewer.layers


def test_one_prediction_at_a_time_across_the_docks(viewer, train_widget, predict_widget, qtbot,
                                                   bundle_3d, slow_3d):
    """While the train dock predicts, the predict dock's Predict is disabled and says why;
    and while the predict dock predicts, Train and Live are (issue 23, item 4)."""
    layer = viewer.add_image(slow_3d, name="stack")
    labels = viewer.add_labels(np.zeros(slow_3d.shape, np.uint8), name="stack annotations")
    session_for(viewer).set_model(bundle_3d, "test")
    train_widget._pairs = [(layer, labels)]
    train_widget._predict_first(bundle_3d)
    assert train_widget.predict_worker is not None
    assert not predict_widget.predict_button.isEnabled()
    assert "'Train U-Net' is predicting 'stack'" in predict_widget.predict_button.toolTip()
    assert "Waiting" in predict_widget.status.text()
    predict_widget.image.value = layer
    assert predict_widget.predict() is None  # refused, also when called directly
    train_widget.stop()
    wait_idle(qtbot, train_widget)
    assert predict_widget.predict_button.isEnabled()
    assert "Waiting" not in predict_widget.status.text()

    assert predict_widget.predict() is not None
    assert not train_widget.train_button.isEnabled() and not train_widget.live_button.isEnabled()
    assert "'Predict with U-Net' is predicting 'stack'" in train_widget.train_button.toolTip()
    assert train_widget.train() is None and train_widget.set_live(True) is None
    assert "Waiting" in train_widget.status.text()
    predict_widget.cancel()
    wait_idle(qtbot, predict_widget)
    assert train_widget.train_button.isEnabled() and train_widget.live_button.isEnabled()


@pytest.fixture
def slow_2d(monkeypatch, sample):
    """A stack of 8 planes whose 2-D prediction takes about 0.6 s a plane, and predictions
    said to take minutes from 3 s on."""
    import time

    from napari_unet._widgets.common import forecast
    from napari_unet.core.files.bundle import Bundle

    build = Bundle.build_model

    def slow(self, device="cpu"):
        model = build(self, device)
        leaves = [m for m in model.modules() if not list(m.children())]
        for module in leaves:
            module.register_forward_hook(lambda *_: time.sleep(0.6 / len(leaves)))
        return model

    monkeypatch.setattr(Bundle, "build_model", slow)
    monkeypatch.setattr(forecast, "LONG_SECONDS", 3.0)
    return np.stack([sample[0]] * 8)


def test_a_long_prediction_says_how_long_and_offers_the_plane_in_view(
        viewer, predict_widget, qtbot, gray_bundle, slow_2d):
    """Within seconds, from its measured pace, the predict dock says how long a whole stack
    will take, and 'Only the plane in view' predicts just that plane (issue 23, item 4)."""
    layer = viewer.add_image(slow_2d, name="stack")
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = layer
    viewer.dims.set_point(0, 5)
    assert predict_widget.predict() is not None
    qtbot.waitUntil(lambda: not predict_widget.plane_button.isHidden(), timeout=10_000)
    text = predict_widget.status.text()
    assert "for 8 planes of 112 x 112 on this computer" in text and "about " in text
    predict_widget.plane_button.click()
    wait_idle(qtbot, predict_widget)
    result = viewer.layers["stack prediction"].data
    assert result[5].any() and not result[0].any()  # the plane shown, only
    assert predict_widget.status.text().startswith("Done")


def test_the_prediction_after_training_says_how_long_and_offers_the_plane_in_view(
        viewer, train_widget, qtbot, gray_bundle, slow_2d):
    layer = viewer.add_image(slow_2d, name="stack")
    labels = viewer.add_labels(np.zeros(slow_2d.shape, np.uint8), name="stack annotations")
    session_for(viewer).set_model(gray_bundle, "test")
    train_widget._pairs = [(layer, labels)]
    viewer.dims.set_point(0, 2)
    train_widget.status.setText("Trained 40 steps. Predicting…")
    train_widget._predict_first(gray_bundle)
    qtbot.waitUntil(lambda: not train_widget.plane_button.isHidden(), timeout=10_000)
    assert "for 8 planes of 112 x 112 on this computer" in train_widget.status.text()
    train_widget.plane_button.click()
    wait_idle(qtbot, train_widget)
    result = viewer.layers["stack prediction"].data
    assert result[2].any() and not result[0].any()
    assert "Prediction in 'stack prediction'" in train_widget.status.text()
    assert "Predicting" not in train_widget.status.text()


def test_a_long_3d_prediction_says_how_long(viewer, train_widget, qtbot, bundle_3d, slow_3d,
                                            monkeypatch):
    from napari_unet._widgets.common import forecast

    monkeypatch.setattr(forecast, "LONG_SECONDS", 3.0)
    layer = viewer.add_image(slow_3d, name="stack")
    labels = viewer.add_labels(np.zeros(slow_3d.shape, np.uint8), name="stack annotations")
    train_widget._pairs = [(layer, labels)]
    train_widget._predict_first(bundle_3d)
    qtbot.waitUntil(lambda: "on this computer" in train_widget.status.text(), timeout=10_000)
    assert "Stop ends it" in train_widget.status.text()
    assert train_widget.plane_button.isHidden()  # a 3-D model needs the stack
    train_widget.stop()
    wait_idle(qtbot, train_widget)


def test_the_end_of_training_names_one_score_and_the_cores_the_dock_promised(
        viewer, layers, train_widget, qtbot, fake_starter):
    """When training ends, the status shows one score with one name (the match with the
    strokes set aside; the start's zero-shot number is not said again beside it), and
    the CPU as the Device line words it, not "cpu (N threads)" (issue 23, item 7)."""
    train_widget.settings.steps.setValue(5)
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
    text = train_widget.status.text()
    assert "Starting from the fake starter." in text
    assert "before any training" not in text and "score" not in text and "IoU" not in text
    assert "thread" not in text and "on the CPU (" in text
