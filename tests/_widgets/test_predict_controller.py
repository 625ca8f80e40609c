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
