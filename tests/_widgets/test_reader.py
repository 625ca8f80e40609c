"""The npe2 reader: a ``.unet`` file dropped onto napari becomes the docks' current model."""

from __future__ import annotations

import pytest

from napari_unet._widgets.common.reader import get_reader
from napari_unet._widgets.common.session import existing_session

from .helpers import wait_idle

PLUGIN = "napari-stroke-unet"


@pytest.fixture
def model_file(tmp_path, gray_bundle):
    from napari_unet.core.files.bundle import save_bundle

    return save_bundle(gray_bundle, tmp_path / "my nuclei.unet")


def test_the_reader_takes_one_unet_file_and_nothing_else(tmp_path):
    assert get_reader(str(tmp_path / "m.unet")) is not None
    assert get_reader([str(tmp_path / "M.UNET")]) is not None
    assert get_reader(str(tmp_path / "image.tif")) is None
    assert get_reader([str(tmp_path / "a.unet"), str(tmp_path / "b.unet")]) is None


def test_opening_a_model_file_makes_it_the_current_model_and_adds_no_layer(
    viewer, predict_widget, model_file, gray_bundle
):
    viewer.open(str(model_file), plugin=PLUGIN)  # what dropping the file does
    session = predict_widget.session
    assert session.bundle is not None and session.bundle.info["date"] == gray_bundle.info["date"]
    assert session.source == "Loaded from my nuclei.unet"
    assert "Loaded from my nuclei.unet" in predict_widget.models.info.text()
    assert len(viewer.layers) == 0


def test_with_no_dock_open_the_predict_dock_opens_with_the_model(viewer, model_file, qtbot):
    assert existing_session(viewer) is None
    viewer.open(str(model_file), plugin=None)  # napari picks the reader by the file name
    session = existing_session(viewer)
    assert session is not None and session.bundle is not None
    (widget,) = [w for w in viewer.window.dock_widgets.values() if hasattr(w, "predict")]
    assert "Loaded from my nuclei.unet" in widget.models.info.text()
    assert widget.session is session
    widget.shutdown()
    wait_idle(qtbot, widget)


def test_a_file_that_is_not_a_model_is_refused_and_the_model_stays(
    viewer, predict_widget, tmp_path, gray_bundle
):
    predict_widget.session.set_model(gray_bundle, "trained here")
    bad = tmp_path / "broken.unet"
    bad.write_bytes(b"not a model")
    with pytest.raises(Exception, match="broken.unet|model|safetensors|header"):
        viewer.open(str(bad), plugin=PLUGIN)
    assert predict_widget.session.source == "trained here"
    assert len(viewer.layers) == 0
