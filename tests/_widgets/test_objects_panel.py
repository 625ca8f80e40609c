"""The predict dock's object controls change the objects at once, without retraining, and
its table of objects is shown and saved as CSV."""

from __future__ import annotations

import numpy as np

from napari_unet._widgets.common.layers import find_ours
from napari_unet._widgets.common.session import session_for

from .helpers import wait_idle


def measure(qtbot, panel):
    """What the 250 ms timer calls, awaited: the objects are refined and measured in a worker."""
    panel.update_objects()
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)


def predict_objects(viewer, layers, predict_widget, qtbot, bundle):
    session_for(viewer).set_model(bundle, "test")
    predict_widget.image.value = layers[0]
    predict_widget.objects.setChecked(True)
    assert predict_widget.predict() is not None
    wait_idle(qtbot, predict_widget)
    return find_ours(viewer, "objects", "nuclei")


def test_objects_table_after_prediction_and_controls_without_retraining(
    viewer, layers, predict_widget, qtbot, gray_bundle, tmp_path
):
    objects = predict_objects(viewer, layers, predict_widget, qtbot, gray_bundle)
    panel = predict_widget.objects_panel
    predicted = np.array(objects.data)
    n = len(np.unique(predicted)) - 1
    assert n >= 3
    assert predict_widget.sections["objects"].is_expanded()
    assert panel.summary.text().startswith(f"{n} objects in 'nuclei objects'")
    assert panel.table.rowCount() == n
    areas = sorted(int(panel.table.item(r, 1).text()) for r in range(n))
    assert areas == sorted(np.bincount(predicted.ravel())[1:][np.bincount(predicted.ravel())[1:] > 0])

    # minimum size: objects drop at once, no worker runs
    cut = int(np.median(areas)) + 1
    panel.min_size.setValue(cut)
    measure(qtbot, panel)
    assert predict_widget.worker is None  # no prediction runs
    kept = sum(a >= cut for a in areas)
    assert len(np.unique(objects.data)) - 1 == kept
    assert panel.table.rowCount() == kept
    panel.min_size.setValue(0)  # back: the objects as predicted again
    measure(qtbot, panel)
    assert np.array_equal(objects.data, predicted)

    path = panel.save_csv(tmp_path / "table")
    lines = path.read_text().strip().splitlines()
    assert path.name == "table.csv" and len(lines) == n + 1
    assert lines[0] == "label,area_px,centroid_y,centroid_x,mean_intensity"


def test_the_controls_follow_a_new_prediction(viewer, layers, predict_widget, qtbot, gray_bundle):
    objects = predict_objects(viewer, layers, predict_widget, qtbot, gray_bundle)
    panel = predict_widget.objects_panel
    panel.fill_holes.setChecked(True)
    qtbot.waitUntil(lambda: panel.ctl._written is objects.data, timeout=5000)  # the timer ran
    new = np.zeros_like(objects.data)
    new[10:30, 10:30] = 1
    new[15:20, 15:20] = 0
    objects.data = new  # as a new prediction writes it
    measure(qtbot, panel)
    assert (objects.data[15:20, 15:20] == 1).all()  # the new objects, holes filled
    assert panel.table.rowCount() == 1


def test_no_objects_says_how_to_get_them(viewer, layers, predict_widget):
    predict_widget.objects_panel.update_objects()
    assert "No objects yet" in predict_widget.objects_panel.summary.text()
    assert predict_widget.objects_panel.save_csv("x.csv") is None


def test_the_object_table_is_the_labels_layers_features_and_the_csv_is_written_from_them(
    viewer, layers, predict_widget, qtbot, gray_bundle, tmp_path
):
    """napari's features table (``index`` = the label) holds regionprops_table's measures;
    a column the user adds to the features reaches the CSV."""
    from skimage.measure import regionprops_table

    objects = predict_objects(viewer, layers, predict_widget, qtbot, gray_bundle)
    panel = predict_widget.objects_panel
    features = objects.features
    expected = regionprops_table(np.asarray(objects.data), np.asarray(layers[0].data),
                                 properties=("label", "area", "centroid", "intensity_mean"))
    assert list(features["index"]) == list(features["label"]) == list(expected["label"])
    assert np.array_equal(features["area_px"], expected["area"])
    assert np.allclose(features["centroid_y"], expected["centroid-0"])
    assert np.allclose(features["mean_intensity"], expected["intensity_mean"])

    cut = int(np.median(features["area_px"])) + 1
    panel.min_size.setValue(cut)
    measure(qtbot, panel)
    assert len(objects.features) == len(np.unique(objects.data)) - 1 == panel.table.rowCount()

    features = objects.features.copy()
    features["checked"] = np.arange(len(features)) % 2
    objects.features = features  # e.g. from napari's own features widget or the console
    lines = panel.save_csv(tmp_path / "objects.csv").read_text().strip().splitlines()
    assert lines[0] == "label,area_px,centroid_y,centroid_x,mean_intensity,checked"
    assert len(lines) == len(features) + 1


def test_an_objects_control_change_is_computed_off_the_gui_thread(
    viewer, layers, predict_widget, qtbot, gray_bundle, monkeypatch
):
    """Responsiveness: moving an Objects control returns at once; refining the objects and
    measuring their table run in a worker, and the GUI thread only assigns the results (the
    layer and the table change when the worker has ended, not before)."""
    import threading

    from napari_unet.core.inference import object_table as core
    from napari_unet.core.inference import postprocess

    objects = predict_objects(viewer, layers, predict_widget, qtbot, gray_bundle)
    panel = predict_widget.objects_panel
    before = np.array(objects.data)
    go = threading.Event()
    threads = {"refine": [], "table": []}
    refine, table = postprocess.refine_objects, core.object_table

    def slow_refine(*args, **kwargs):
        threads["refine"].append(threading.current_thread())
        go.wait(10)  # the handler must return before this ends (else this times out)
        return refine(*args, **kwargs)

    def counted_table(*args, **kwargs):
        threads["table"].append(threading.current_thread())
        return table(*args, **kwargs)

    monkeypatch.setattr(postprocess, "refine_objects", slow_refine)
    monkeypatch.setattr(core, "object_table", counted_table)
    cut = int(np.median(objects.features["area_px"])) + 1
    panel.min_size.setValue(cut)
    panel.update_objects()  # what the 250 ms timer calls
    assert panel.busy and predict_widget.busy  # returned while the worker computes
    assert np.array_equal(objects.data, before)  # nothing written yet
    go.set()
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)
    main = threading.main_thread()
    assert threads["refine"] and threads["table"]
    assert all(t is not main for t in threads["refine"] + threads["table"])
    kept = int((np.bincount(before.ravel())[1:] >= cut).sum())
    assert len(np.unique(objects.data)) - 1 == kept == panel.table.rowCount()


def test_a_change_while_measuring_is_applied_when_the_worker_ends(
    viewer, layers, predict_widget, qtbot, gray_bundle
):
    """Two quick control changes: the first worker's (outdated) result is never shown, the
    last settings are."""
    objects = predict_objects(viewer, layers, predict_widget, qtbot, gray_bundle)
    panel = predict_widget.objects_panel
    areas = np.bincount(np.asarray(objects.data).ravel())[1:]
    panel.min_size.setValue(int(areas.max()) + 1)  # drops every object
    panel.update_objects()
    panel.min_size.setValue(0)  # back, while the first worker runs
    panel.update_objects()
    qtbot.waitUntil(lambda: not panel.busy and not panel.ctl.pending, timeout=30_000)
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)
    assert panel.table.rowCount() == int((areas > 0).sum())
    assert len(np.unique(objects.data)) - 1 == int((areas > 0).sum())
