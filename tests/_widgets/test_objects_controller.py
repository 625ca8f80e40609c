"""The Objects section's controller without Qt: a ``ViewerModel`` and the synchronous runner.
The table describes the objects layer shown; a failure says so and leaves nothing stuck."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_unet._widgets.common.layers import write_objects
from napari_unet._widgets.common.runner import SyncRunner
from napari_unet._widgets.predict.objects_controller import NO_OBJECTS, ObjectsController


@pytest.fixture
def setup(sample):
    viewer = ViewerModel()
    image = viewer.add_image(np.asarray(sample[0]), name="nuclei")
    runner = SyncRunner()
    ctl = ObjectsController(viewer, runner, lambda: image)
    yield viewer, image, runner, ctl
    ctl.close()


def three_objects(viewer, image):
    """An objects layer as a prediction writes it: ids with gaps (1, 3, 13)."""
    data = np.zeros(image.data.shape, np.uint32)
    data[10:20, 10:20], data[40:50, 40:60], data[70:90, 5:15] = 1, 3, 13
    return write_objects(viewer, image, data)


def test_a_new_objects_layer_is_measured_once_the_controls_rest(setup):
    viewer, image, runner, ctl = setup
    assert ctl.summary == NO_OBJECTS and ctl.table_data is None
    layer = three_objects(viewer, image)
    assert ctl.summary == "A new prediction: measuring its objects…" and ctl.pending
    assert ctl.rows is None and ctl.table_data is None  # cleared at once, not stale
    runner.drain()
    assert not ctl.busy and not ctl.pending and ctl.layer is layer
    assert list(ctl.table_data["label"]) == [1, 2, 3]  # renumbered 1..n, in the layer too
    assert list(ctl.table_data["area_px"]) == [100, 200, 200]
    assert sorted(np.unique(layer.data).tolist()) == [0, 1, 2, 3]
    assert list(layer.features["index"]) == [1, 2, 3]
    assert ctl.summary == "3 objects in 'nuclei objects', mean area 167 px."


def test_the_settings_change_the_objects_and_moving_them_back_undoes_it(setup):
    viewer, image, runner, ctl = setup
    layer = three_objects(viewer, image)
    runner.drain()
    predicted = np.array(layer.data)
    measured = []
    ctl.measured.connect(lambda: measured.append(len(ctl.table_data["label"])))
    ctl.set_settings({"min_size": 150, "fill_holes": False, "split_depth": None})
    ctl.set_settings({"min_size": 101, "fill_holes": False, "split_depth": None})
    runner.drain()
    assert measured == [2]  # measured once, with the last settings
    assert len(np.unique(layer.data)) - 1 == 2
    ctl.set_settings({"min_size": 0, "fill_holes": False, "split_depth": None})
    runner.drain()
    np.testing.assert_array_equal(layer.data, predicted)


def test_a_change_while_measuring_is_applied_when_the_worker_ends(setup):
    """The first worker's outdated result is never written; the last settings are."""
    viewer, image, runner, ctl = setup
    layer = three_objects(viewer, image)
    runner.drain()
    ctl.settings = {"min_size": 10_000, "fill_holes": False, "split_depth": None}
    ctl.update_objects()  # drops every object...
    assert ctl.busy
    ctl.settings = {"min_size": 0, "fill_holes": False, "split_depth": None}
    ctl.update_objects()  # ...but this came before it ended
    writes = []
    layer.events.data.connect(lambda e: writes.append(np.array(layer.data)))
    runner.drain()
    assert not ctl.busy and len(ctl.table_data["label"]) == 3
    assert all(len(np.unique(w)) == 4 for w in writes)  # the empty result never shown


def test_removing_the_layer_clears_the_table(setup):
    viewer, image, runner, ctl = setup
    layer = three_objects(viewer, image)
    runner.drain()
    viewer.layers.remove(layer)
    assert ctl.rows is None and ctl.table_data is None
    runner.drain()
    assert ctl.summary == NO_OBJECTS and ctl.save_csv("x.csv") is None


def test_a_failed_measurement_is_said_and_nothing_is_left_half_done(setup, monkeypatch,
                                                                    notifications):
    from napari_unet.core.inference import object_table

    viewer, image, runner, ctl = setup
    layer = three_objects(viewer, image)
    runner.drain()
    before = np.array(layer.data)

    def broken(*args, **kwargs):
        raise MemoryError("no room for the table")

    monkeypatch.setattr(object_table, "object_table", broken)
    ctl.set_settings({"min_size": 150, "fill_holes": False, "split_depth": None})
    runner.drain()
    said = "The objects could not be measured: no room for the table"
    assert ctl.summary == said and ("error", said) in notifications  # the section may be shut
    assert not ctl.busy and not ctl.pending and ctl.table_data is None
    np.testing.assert_array_equal(layer.data, before)  # nothing written
    monkeypatch.undo()
    ctl.update_objects()  # not stuck: the next change is measured
    runner.drain()
    assert len(ctl.table_data["label"]) == 2
