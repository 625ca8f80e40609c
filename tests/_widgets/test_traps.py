"""The silent traps of issue 14, closed: each is said in the dock, and nothing is trained on
the wrong reading."""

from __future__ import annotations

import numpy as np
from napari.layers import Labels

from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def one_label_per_nucleus(truth, n=5):
    painted = np.zeros(truth.shape, np.uint16)
    for k, i in enumerate(np.unique(truth)[1 : n + 1], 1):
        painted[truth == i] = k
    return painted


def test_one_label_per_nucleus_in_strokes_mode_is_said_and_switched(
    viewer, layers, train_widget, qtbot, sample, notifications
):
    _, truth, _ = sample
    layers[1].data = one_label_per_nucleus(truth)
    assert train_widget.settings.mode() == "semantic"
    assert train_widget.train() is None  # nothing is trained on the 5-class reading
    assert train_widget.worker is None and session_for(viewer).bundle is None
    assert train_widget.advice.isVisibleTo(train_widget)
    assert "Whole objects" in train_widget.advice.text.text()
    assert "5-class model" in train_widget.advice.text.text()
    assert "Not trained yet" in train_widget.status.text()
    assert any("Whole objects" in text for _, text in notifications)
    assert train_widget.settings.classes.text() == "background, foreground"  # not rewritten

    train_widget.advice.switch.click()  # "Switch to Whole objects and train"
    assert train_widget.settings.mode() == "instance"
    # five nuclei painted here and there: the nuclei between them are said next
    assert train_widget.worker is None
    assert "look unpainted" in train_widget.advice.text.text()
    train_widget.advice.anyway.click()
    assert train_widget.worker is not None
    assert not train_widget.advice.isVisibleTo(train_widget)
    wait_idle(qtbot, train_widget)
    assert session_for(viewer).bundle.mode == "instance"


def test_classes_painted_in_whole_objects_mode_are_said(
    viewer, layers, train_widget, qtbot
):
    train_widget.settings.set_mode("instance")
    assert train_widget.train() is None
    assert "Strokes of classes" in train_widget.advice.text.text()
    assert train_widget.advice.switch.text() == "Switch to Strokes of classes and train"
    assert train_widget.set_live(True) is None  # live mode asks too
    assert not train_widget.live.running


def test_train_as_painted_trains_the_classes_as_they_are(
    viewer, layers, train_widget, qtbot, sample
):
    _, truth, _ = sample
    layers[1].data = one_label_per_nucleus(truth, n=3)
    assert train_widget.train() is None
    train_widget.advice.anyway.click()
    assert train_widget.worker is not None
    wait_idle(qtbot, train_widget)
    bundle = session_for(viewer).bundle
    assert bundle.mode == "semantic" and len(bundle.class_names) == 3


def test_closing_the_train_dock_while_it_trains_stops_training_and_drops_it(
    viewer, layers, train_widget, qtbot
):
    train_widget.settings.steps.setValue(0)
    train_widget.settings.seconds.setValue(600)
    worker = train_widget.train()
    qtbot.waitUntil(lambda: train_widget.trainer is not None and train_widget.trainer.step >= 2,
                    timeout=60_000)
    trainer = train_widget.trainer
    viewer.window.remove_dock_widget(train_widget)  # the dock's close button
    qtbot.waitUntil(lambda: train_widget.worker is None, timeout=30_000)
    assert train_widget.trainer is None  # the model and image copies are let go
    step = trainer.step
    qtbot.wait(300)
    assert trainer.step == step  # nothing trains on
    assert session_for(viewer).bundle is None
    assert "nuclei prediction" not in viewer.layers  # no prediction appears later
    assert not worker.is_running


def test_new_annotation_layer_is_for_the_image_in_view_and_made_once(
    viewer, train_widget, sample
):
    image = sample[0]
    a = viewer.add_image(image, name="A")
    b = viewer.add_image(image[:80, :96].copy(), name="B")
    viewer.layers.selection.active = b  # the user looks at B
    layer = train_widget.data.new_annotation_layer()
    assert layer.name == "B annotations" and layer.data.shape == (80, 96)
    row = train_widget.data.rows[0]
    assert row.image.value == b and row.labels.value == layer  # proxies: ==
    again = train_widget.data.new_annotation_layer()  # a second press
    assert again == layer
    assert [lay.name for lay in viewer.layers if isinstance(lay, Labels)] == ["B annotations"]
    viewer.layers.selection.active = a
    assert train_widget.data.new_annotation_layer().name == "A annotations"


def test_a_labels_layer_of_the_wrong_size_is_said_not_overridden(
    viewer, layers, train_widget
):
    wrong = viewer.add_labels(np.zeros((50, 60), np.uint8), name="other painting")
    row = train_widget.data.rows[0]
    row.labels.value = wrong
    assert row.labels.value == wrong  # the user's choice stays
    note = train_widget.data.fit_note
    assert note.isVisibleTo(train_widget)
    assert "'other painting' is 50 x 60 px" in note.text()
    row.labels.value = layers[1]
    assert not note.isVisibleTo(train_widget)


def test_errors_stay_in_the_dock_in_plain_words(viewer, train_widget, sample, notifications):
    viewer.add_image(sample[0], name="nuclei")
    assert train_widget.train() is None
    text = train_widget.status.text()
    assert "'nuclei' has no painted labels layer chosen" in text
    assert "pair" not in text.lower()
    assert any(text in t for _, t in notifications)


def test_live_stop_and_train_exclusive_and_settings_kept(
    viewer, layers, train_widget, qtbot, monkeypatch
):
    from napari_unet._widgets.train import live

    monkeypatch.setattr(live, "REFRESH_S", {"cpu": 0.5, "other": 0.5})
    depth, width = train_widget.settings.depth.value(), train_widget.settings.unet_width.value()
    assert train_widget.set_live(True) is not None
    assert train_widget.stop_button.isEnabled()  # Stop works during live mode
    qtbot.waitUntil(lambda: train_widget.live.frames >= 1, timeout=60_000)
    train_widget.stop_button.click()
    qtbot.waitUntil(lambda: not train_widget.busy, timeout=60_000)
    assert not train_widget.live.running and not train_widget.live_button.isChecked()
    bundle = session_for(viewer).bundle
    assert (bundle.model_config.depth, bundle.model_config.base_width) == (2, 8)  # live's
    # later Train runs keep the U-Net size of the settings, and are told
    assert (train_widget.settings.depth.value(), train_widget.settings.unet_width.value()) == (
        depth, width)
    assert "smaller network on the CPU (2 levels, 8 filters)" in train_widget.status.text()
    assert train_widget.settings.cannot_continue(bundle) == ""  # Train goes on with it

    assert train_widget.train() is not None
    assert not train_widget.live_button.isEnabled()  # no live mode while training
    assert train_widget.set_live(True) is None
    wait_idle(qtbot, train_widget)
    assert train_widget.live_button.isEnabled()


def _dock_words(*events) -> str:
    from napari_unet._widgets.common.start_from import sentence
    from napari_unet._widgets.common.wording import training_said

    return " ".join(sentence(clause) for clause in training_said(events))


def test_what_training_kept_is_said_in_plain_words():
    from napari_unet.core.training.events import KeptEarlier

    text = _dock_words(KeptEarlier(57, 0.613, 0.523, 218))
    assert text == ("Training kept the model as it was at step 57: it matched the painting "
                    "set aside for checking better (0.61) than at the end, step 218 (0.52).")
    worse = _dock_words(KeptEarlier(0, 0.7, 0.4, 6))
    assert worse == ("Training kept the previous model: the retrained one matched the painting "
                     "set aside for checking less well (0.40 against 0.70).")
    start = _dock_words(KeptEarlier(0, 0.6, 0.6, 6))
    assert start == ("Training kept the starting model: training did not improve its match "
                     "with the painting set aside for checking (0.60 before, 0.60 after).")


def test_the_dock_says_each_event_as_it_always_did():
    """The same sentences as when the dock split the trainer's note at "; " and read it."""
    from napari_unet.core.training.events import (
        BatchHalved,
        NewHead,
        ObjectsTuned,
        StartedFresh,
        StartedFromImage,
        UsedLuminance,
    )

    assert _dock_words(StartedFresh("mode", mode="instance", offered_mode="semantic")) == (
        "Training started fresh: the previous model was a semantic model, this training is "
        "instance.")
    assert _dock_words(UsedLuminance(), NewHead(4)) == (
        "The colour image is used as its luminance (the starting model is grayscale). "
        "4 classes: the starting model's body with a new output layer.")
    assert _dock_words(StartedFromImage(30)) == (
        "Training started from what it learnt of the image alone (30 steps).")
    assert _dock_words(BatchHalved("cpu (2 threads)", 2)) == (
        "Training ran out of memory on cpu (2 threads). Batch size reduced to 2.")
    assert _dock_words(ObjectsTuned(0.4, 0.6, 0.71, 0.83)) == (
        "Object settings fitted to your painted objects (foreground threshold 0.4, split "
        "threshold 0.6: match 0.71 -> 0.83).")


def test_the_held_out_score_says_how_much_was_checked():
    from types import SimpleNamespace

    from napari_unet._widgets.common.wording import check_text

    trainer = SimpleNamespace(validator=SimpleNamespace(pixels=240),
                              config=SimpleNamespace(mode="instance"))
    assert check_text(trainer, 1.0) == " · match with objects set aside 1.00 (240 px)"
    assert check_text(trainer, None) == ""


def test_where_to_paint_next_rings_are_thin_inside_the_image_and_say_the_classes(
    viewer, layers, train_widget, qtbot
):
    from napari_unet._widgets.common.layers import find_ours
    from napari_unet._widgets.common.paint_next import RING

    train_widget.paint_next.setChecked(True)
    train_widget.settings.steps.setValue(10)
    train_widget.train()
    qtbot.waitUntil(lambda: find_ours(viewer, "paint here", "nuclei") is not None, timeout=60_000)
    wait_idle(qtbot, train_widget)
    spots = find_ours(viewer, "paint here", "nuclei")
    h, w = layers[0].data.shape
    assert len(spots.data) >= 1
    assert (spots.data >= RING / 2).all()
    assert (spots.data[:, 0] <= h - 1 - RING / 2).all() and (spots.data[:, 1] <= w - 1 - RING / 2).all()
    assert (spots.face_color[:, 3] == 0).all()  # a ring, not a disc over what it points at
    assert set(spots.features["unsure"]) <= {"background or foreground", "foreground or background"}
    probability = [lay for lay in viewer.layers if " P(" in lay.name]
    assert all(not lay.visible for lay in probability)


def test_deleting_the_image_ends_its_prediction_with_a_message(
    viewer, predict_widget, qtbot, gray_bundle, notifications
):
    rng = np.random.default_rng(0)
    big = viewer.add_image(rng.random((1024, 1024), np.float32), name="big")
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = big
    assert predict_widget.predict() is not None
    viewer.layers.remove("big")  # while it is predicted
    wait_idle(qtbot, predict_widget)
    assert predict_widget.status.text() == "Prediction stopped: 'big' was removed."
    assert "big prediction" not in viewer.layers
    # the only image went: said in the dock, not as a notification, which (under software
    # OpenGL) makes napari crash in vispy's glDrawArrays right after (issue 23, item 9)
    assert not any("'big' was removed" in text for _, text in notifications)


def test_removing_one_of_two_images_during_prediction_is_also_notified(
    viewer, predict_widget, qtbot, gray_bundle, notifications
):
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((64, 64), np.float32), name="small")
    big = viewer.add_image(rng.random((1024, 1024), np.float32), name="big")
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = big
    assert predict_widget.predict() is not None
    viewer.layers.remove("big")
    wait_idle(qtbot, predict_widget)
    assert predict_widget.status.text() == "Prediction stopped: 'big' was removed."
    assert any("'big' was removed" in text for _, text in notifications)


def test_a_prediction_under_another_image_is_said(
    viewer, layers, predict_widget, qtbot, gray_bundle, sample
):
    viewer.add_image(sample[0] * 2, name="other image")  # above 'nuclei', covering it
    session_for(viewer).set_model(gray_bundle, "test")
    predict_widget.image.value = layers[0]
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    text = predict_widget.status.text()
    assert text.startswith("Done: 'nuclei prediction'.")
    assert "It lies under 'other image', which hides it" in text


def test_the_start_choice_says_a_score_not_iou():
    from napari_unet._widgets.common.wording import choice_said
    from napari_unet.core.training.start import BEST_FIT, NO_FIT, SUITS_IMAGES, StartChoice

    chose = StartChoice(None, "nuclei", "starting from the nuclei starter: before any "
                        "training it matches your painting with IoU 1.00 (others: cells 0.52)",
                        {"nuclei": 1.0, "cells": 0.52}, BEST_FIT, "nuclei",
                        subject="the nuclei starter", needed=0.6)
    said = choice_said(chose)
    assert said == ("starting from the nuclei starter: before any training it matches your "
                    "strokes with a match of 1.00 (others: cells 0.52)")
    assert choice_said(chose, scores=False) == "starting from the nuclei starter"
    missed = StartChoice(None, "none", "training from scratch: ...", {"nuclei": 0.41},
                         NO_FIT, needed=0.6)
    assert choice_said(missed) == ("training from scratch: no starter fits your strokes well "
                                   "enough (best: nuclei, match 0.41, 0.60 needed)")
    suited = StartChoice(None, "stained", "...", {"nuclei": 0.69, "stained": 0.42},
                         SUITS_IMAGES, "stained", subject="the stained starter", needed=0.5)
    assert choice_said(suited) == (
        "starting from the stained starter, made for stained tissue and brightfield images "
        "like these: it learns them better, though before any training it matches your "
        "strokes less (0.42; nuclei 0.69)")
    assert choice_said(suited, scores=False) == ("starting from the stained starter, made "
                                                 "for stained tissue and brightfield images "
                                                 "like these")


def test_whole_objects_painted_far_apart_show_the_area_and_the_unpainted_ones(
    viewer, train_widget, qtbot, sample
):
    from napari_unet._widgets.common.layers import find_ours

    image, truth, _ = sample
    ids = np.unique(truth)[1:]
    viewer.add_image(image, name="nuclei")
    centres = {i: np.argwhere(truth == i).mean(0) for i in ids}
    far = max(((a, b) for a in ids for b in ids if a < b),
              key=lambda p: np.linalg.norm(centres[p[0]] - centres[p[1]]))
    painted = np.where(np.isin(truth, far), truth, 0).astype(np.uint16)
    viewer.add_labels(painted, name="nuclei annotations")
    train_widget.settings.set_mode("instance")
    assert train_widget.train() is None  # not yet: unpainted objects would be background
    assert "look unpainted" in train_widget.advice.text.text()
    assert not train_widget.advice.switch.isVisibleTo(train_widget)
    area = find_ours(viewer, "annotated area", "nuclei")
    assert area is not None and area.shape_type == ["rectangle"]
    marks = find_ours(viewer, "unpainted", "nuclei")
    ys, xs = np.round(marks.data).astype(int).T
    assert len(marks.data) >= 1 and (truth[ys, xs] > 0).all() and (painted[ys, xs] == 0).all()
    assert train_widget.set_live(True) is None  # live mode says it too
    assert not train_widget.live.running
    train_widget.advice.anyway.click()  # train as painted
    assert train_widget.worker is not None
    wait_idle(qtbot, train_widget)


def test_whole_objects_all_painted_train_at_once(viewer, train_widget, qtbot, sample):
    image, truth, _ = sample
    viewer.add_image(image, name="nuclei")
    viewer.add_labels(truth.astype(np.uint16), name="nuclei annotations")
    train_widget.settings.set_mode("instance")
    assert train_widget.train() is not None
    wait_idle(qtbot, train_widget)
