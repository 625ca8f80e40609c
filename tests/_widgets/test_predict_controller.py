"""The predict dock's controller without Qt: a ``ViewerModel`` and the synchronous runner."""

from __future__ import annotations

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_unet._widgets.common.runner import SyncRunner
from napari_unet._widgets.common.session import session_for
from napari_unet._widgets.predict.controller import PredictController, PredictForm, PredictState


@pytest.fixture
def setup(sample, gray_bundle):
    image = sample[0]
    viewer = ViewerModel()
    layer = viewer.add_image(image, name="nuclei")
    runner = SyncRunner()
    form = PredictForm(layer)
    ctl = PredictController(viewer, runner, lambda: form)
    session_for(viewer).set_model(gray_bundle, "test")
    states = []
    ctl.state_changed.connect(states.append)
    yield viewer, ctl, runner, form, states
    session_for(viewer).set_model(None, "")


def test_predict_writes_a_new_prediction_layer(setup, sample):
    viewer, ctl, runner, form, states = setup
    image = viewer.layers["nuclei"].data.copy()
    assert ctl.predict() is not None
    assert ctl.state is PredictState.PREDICTING
    assert ctl.status == "Predicting 'nuclei'…"
    assert ctl.predict() is None  # one at a time
    runner.drain()
    assert states == [PredictState.PREDICTING, PredictState.IDLE]
    result = viewer.layers["nuclei prediction"]
    assert result.data.shape == sample[0].shape
    assert set(np.unique(result.data)) <= {1, 2} and (result.data == 2).any()
    assert ctl.status.startswith("Done: 'nuclei prediction'.")
    np.testing.assert_array_equal(viewer.layers["nuclei"].data, image)  # the image is read only


def test_cancel_writes_nothing(setup):
    viewer, ctl, runner, form, states = setup
    ctl.predict()
    ctl.cancel()
    assert ctl.state is PredictState.CANCELLING
    runner.drain()
    assert ctl.state is PredictState.IDLE and ctl.worker is None
    assert [layer.name for layer in viewer.layers] == ["nuclei"]
    assert ctl.status == "Cancelled: nothing was written."


def test_no_model_no_prediction(setup):
    viewer, ctl, runner, form, states = setup
    session_for(viewer).set_model(None, "")
    assert ctl.predict() is None and runner.started == []
    assert ctl.status.startswith("There is no model yet")


def test_the_objects_of_a_prediction_are_measured_after_it(setup):
    viewer, ctl, runner, form, states = setup
    form.objects = True
    ctl.predict()
    runner.drain()
    objects = viewer.layers["nuclei objects"]
    assert ctl.objects.layer is objects and not ctl.busy
    assert len(ctl.objects.table_data["label"]) == len(np.unique(objects.data)) - 1 >= 1


# -- 'Apply to folder…' ------------------------------------------------------------------------
@pytest.fixture
def images_folder(tmp_path, sample):
    import tifffile

    src = tmp_path / "in"
    src.mkdir()
    image = (np.asarray(sample[0]) * 255).clip(0, 255).astype(np.uint8)
    for i in range(3):
        tifffile.imwrite(src / f"im{i}.tif", image[: 40 + 8 * i, :48])
    return src


def test_the_folder_runs_through_the_runner_and_says_its_summary(setup, images_folder, tmp_path):
    viewer, ctl, runner, form, states = setup
    session_for(viewer).device = "cpu"
    said, running = [], []
    ctl.folder.status_changed.connect(said.append)
    ctl.folder.running_changed.connect(running.append)
    layers = [layer.name for layer in viewer.layers]
    assert ctl.folder.run(images_folder, tmp_path / "out") is not None
    assert ctl.folder.busy and said == ["Predicting 3 image(s)…"] and running == [True]
    runner.drain()
    assert not ctl.folder.busy and running == [True, False]
    assert ctl.folder.status.startswith("Folder done: ") and f"results in {tmp_path / 'out'}" in ctl.folder.status
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "im0_labels.tif", "im1_labels.tif", "im2_labels.tif"]
    assert [layer.name for layer in viewer.layers] == layers and states == []  # the viewer left alone


def test_stopping_the_folder_says_where_it_ended(setup, images_folder, tmp_path):
    viewer, ctl, runner, form, states = setup
    session_for(viewer).device = "cpu"
    ctl.folder.run(images_folder, tmp_path / "out")
    ctl.folder.stop()  # before the first image
    runner.drain()
    assert not ctl.folder.busy
    assert ctl.folder.status == ("Stopped after 0 of 3 image(s); their results are complete. "
                                 "Apply again to the same folders to go on.")


# -- the objects' table ------------------------------------------------------------------------
def test_the_objects_are_measured_through_the_runner_into_a_worker_result():
    from napari_unet._widgets.predict.objects_controller import (
        AS_PREDICTED,
        Measured,
        _measure_worker,
    )

    shown = np.zeros((32, 32), np.uint16)
    shown[2:8, 2:8], shown[20:30, 20:30] = 3, 7  # ids with gaps: renumbered 1..n
    runner, out = SyncRunner(), []
    worker = runner.worker(_measure_worker, shown, None, AS_PREDICTED, np.ones((1, 32, 32)), None)
    worker.returned.connect(out.append)
    runner.start(worker)
    runner.drain()
    assert len(out) == 1 and isinstance(out[0], Measured)
    assert sorted(np.unique(out[0].base)) == [0, 1, 2] and out[0].objects is not None
    assert shown.max() == 7  # the layer's data is not touched in the worker


# -- 'Show where to paint next' ----------------------------------------------------------------
def test_paint_next_runs_through_the_runner_and_adds_our_layers(setup, sample):
    from napari_unet._widgets.common.paint_next import start_paint_next

    viewer, ctl, runner, form, states = setup
    image = viewer.layers["nuclei"]
    painted = np.asarray(sample[2]).copy()
    worker = start_paint_next(viewer, image, session_for(viewer).bundle, painted, (),
                              device="cpu", runner=ctl.runner)
    assert worker is not None and runner.started[-1] is worker
    runner.drain()
    assert [layer.name for layer in viewer.layers] == [
        "nuclei", "nuclei uncertainty", "nuclei paint here"]
    assert viewer.layers["nuclei uncertainty"].data.shape == sample[0].shape
    assert len(viewer.layers["nuclei paint here"].data) > 0
    np.testing.assert_array_equal(painted, sample[2])  # the painting copy is only read


def test_the_controller_shows_where_to_paint_next_away_from_the_annotations(setup, sample):
    viewer, ctl, runner, form, states = setup
    painted = np.asarray(sample[2])
    viewer.add_labels(painted.copy(), name="nuclei annotations")
    ctl.predict()
    runner.drain()
    ctl.show_paint_next()
    assert ctl.busy and ctl.paint_next.busy  # the dock waits for it (its busy)
    runner.drain()
    assert not ctl.busy
    spots = viewer.layers["nuclei paint here"].data.astype(int)
    assert len(spots) > 0 and not (painted[spots[:, 0], spots[:, 1]] > 0).any()


def test_a_paint_next_failure_is_said_and_the_prediction_is_kept(setup, monkeypatch,
                                                                   notifications):
    from napari_unet._widgets.common import paint_next

    def broken(*args, **kwargs):
        raise MemoryError("no memory for the uncertainty")
        yield

    monkeypatch.setattr(paint_next, "_plane_uncertainty", broken)
    viewer, ctl, runner, form, states = setup
    ctl.predict()
    runner.drain()
    ctl.show_paint_next()
    runner.drain()
    said = "Where to paint next could not be shown: no memory for the uncertainty"
    assert ctl.status == said and ("error", said) in notifications
    assert not ctl.busy and ctl.state is PredictState.IDLE
    assert [layer.name for layer in viewer.layers] == ["nuclei", "nuclei prediction"]
