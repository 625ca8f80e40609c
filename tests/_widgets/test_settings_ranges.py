"""The docks' spin boxes take their ranges from the config fields they set (declared once, in
``core/config.py``), so the dock, the command line and the Python API accept the same values
(issue 25, item 5)."""

from qtpy.QtWidgets import QAbstractSpinBox

from napari_unet.core.config import PredictConfig, bounds


def test_every_spin_box_of_the_train_dock_has_the_declared_range(qtbot):
    from napari_unet._widgets.train.train_settings import INT_MAX, RANGED, TrainSettings

    settings = TrainSettings()
    qtbot.addWidget(settings)
    for attribute, field in RANGED.items():
        box = getattr(settings, attribute)
        low, high = bounds(*field)
        if attribute == "seed":  # below the range: random (None); a QSpinBox holds 2**31 - 1
            low, high = low - 1, min(high, INT_MAX)
        assert (box.minimum(), box.maximum()) == (low, high), attribute
    boxes = set(settings.findChildren(QAbstractSpinBox))
    assert boxes == {getattr(settings, a) for a in RANGED}  # none is left out of RANGED


def test_the_predict_docks_object_size_has_the_declared_range(predict_widget):
    assert (predict_widget.size.minimum(), predict_widget.size.maximum()) == \
        bounds(PredictConfig, "diameter")
