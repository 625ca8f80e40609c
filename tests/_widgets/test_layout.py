"""Both docks fit a 1280 x 800 window: nothing overlaps, no text is cut, they scroll where
they need to, sections fold away, and one model panel shows the model."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QRect
from qtpy.QtWidgets import QAbstractButton, QApplication, QLabel, QScrollArea, QWidget

from .helpers import wait_idle


def settle(qtbot, ms=150):
    QApplication.processEvents()
    qtbot.wait(ms)
    QApplication.processEvents()


def shown(dock: QWidget) -> list[QWidget]:
    """The dock's visible leaf widgets (those that draw the text and controls)."""
    out = []
    for w in dock.findChildren(QWidget):
        if not w.isVisibleTo(dock) or w.width() <= 0 or w.height() <= 0:
            continue
        if isinstance(w, QScrollArea) or w.objectName().startswith("qt_scrollarea"):
            continue
        kids = [c for c in w.findChildren(QWidget) if c.isVisibleTo(dock)]
        if not kids or isinstance(w, (QLabel, QAbstractButton)):
            out.append(w)
    return out


def in_dock(w: QWidget, dock: QWidget) -> QRect:
    return QRect(w.mapTo(dock, w.rect().topLeft()), w.size())


def overlaps(dock: QWidget) -> list[str]:
    """Pairs of leaf widgets, neither inside the other, whose rectangles intersect."""
    leaves = [w for w in shown(dock) if not any(w.isAncestorOf(o) for o in shown(dock))]
    rects = [(w, in_dock(w, dock)) for w in leaves]
    bad = []
    for i, (a, ra) in enumerate(rects):
        for b, rb in rects[i + 1:]:
            if a.isAncestorOf(b) or b.isAncestorOf(a):
                continue
            common = ra.intersected(rb)
            if common.width() > 1 and common.height() > 1:
                bad.append(f"{describe(a)} {ra.getRect()} and {describe(b)} {rb.getRect()}")
    return bad


def describe(w: QWidget) -> str:
    text = w.text() if hasattr(w, "text") and callable(w.text) else ""
    return f"{type(w).__name__}({str(text)[:30]!r})"


def cut_labels(dock: QWidget) -> list[str]:
    """Word-wrapped labels shorter than their text needs at their width, or cut at the
    dock's right edge."""
    bad = []
    for w in shown(dock):
        if isinstance(w, QLabel) and w.text():
            need = w.heightForWidth(w.width()) if w.wordWrap() else w.sizeHint().height()
            if w.height() + 1 < need:
                bad.append(f"{describe(w)}: {w.height()} px tall, needs {need}")
        r = in_dock(w, dock.widget() if isinstance(dock, QScrollArea) else dock)
        if r.right() > dock.width() + 1:
            bad.append(f"{describe(w)} ends at x={r.right()}, the dock is {dock.width()} wide")
    return bad


@pytest.fixture
def window(viewer, layers, train_widget, predict_widget, qtbot):
    viewer.window._qt_window.resize(1280, 800)
    viewer.window._qt_window.show()
    settle(qtbot, 300)
    return train_widget, predict_widget


def check(widget):
    assert not overlaps(widget), overlaps(widget)
    assert not cut_labels(widget), cut_labels(widget)


def test_both_docks_fit_at_1280x800_with_nothing_overlapping_or_cut(window, viewer, qtbot):
    train, predict = window
    for widget in (train, predict):  # stacked in one column, each gets a fair share
        assert widget.width() > 200 and widget.height() > 250, widget.height()
        check(widget)
    # the longest forms: advanced settings open, whole objects
    train.settings.advanced.set_expanded(True)
    train.settings.set_mode("instance")
    settle(qtbot, 300)
    check(train)
    area = train.findChild(QScrollArea)
    assert area.verticalScrollBar().maximum() > 0  # too tall for the window: it scrolls
    for section in predict.sections.values():  # every section of the predict dock open
        section.set_expanded(True)
    settle(qtbot, 300)
    check(predict)
    stack = viewer.add_image(np.zeros((3, 64, 64), np.float32), name="a stack of three")
    predict.image.value = stack  # the channel question shows
    train.data.rows[0].image.value = stack
    settle(qtbot, 300)
    assert predict.channels.isVisible() and train.data.channels.isVisible()
    check(predict)
    check(train)


def test_after_training_the_status_and_plot_fit(window, qtbot):
    train, _ = window
    assert train.train() is not None
    wait_idle(qtbot, train)
    settle(qtbot)
    assert "Trained" in train.status.text()
    check(train)
    legend, plot = train.plot.areas()
    assert not legend.intersects(plot)  # the legend never covers the curves


def test_sections_fold_away(window, qtbot):
    train, _ = window
    section = train.sections["settings"]
    tall = train.findChild(QScrollArea).widget().sizeHint().height()
    section.header.click()
    settle(qtbot)
    assert not section.is_expanded() and not train.settings.isVisible()
    assert train.findChild(QScrollArea).widget().sizeHint().height() < tall - 100
    section.header.click()
    settle(qtbot)
    assert train.settings.isVisible()


def test_one_model_panel_shows_the_model_with_both_docks_open(window, viewer, qtbot):
    train, predict = window
    settle(qtbot)
    assert predict.models.is_host() and not train.models.is_host()
    assert predict.models.save_button.isVisible()
    assert not train.models.save_button.isVisible()
    assert "in 'Predict with U-Net'" in train.models.info.text()
    viewer.window.remove_dock_widget(predict)  # the predict dock is closed
    qtbot.waitUntil(lambda: train.models.is_host(), timeout=5000)
    settle(qtbot)
    assert train.models.save_button.isVisible()


def test_the_loss_axis_values_fit_left_of_the_plot(qtbot):
    from napari_unet._widgets.train.loss_plot import LossPlot, _tick

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(360, 150)
    for step, loss in enumerate([0.03, 0.01, 0.0078, 0.0123]):
        plot.add(step, loss)
    _, area = plot.areas()
    fm = plot.fontMetrics()
    assert fm.horizontalAdvance(_tick(0.0078)) + 3 <= area.left()


def test_train_and_predict_stay_in_view_at_1280x800(window, qtbot):
    """With both docks open, Train and Predict are in view (not below the fold), also with
    every section open (issue 23)."""
    train, predict = window

    def in_view(button):
        return button.isVisible() and not button.visibleRegion().isEmpty()

    assert in_view(train.train_button) and in_view(predict.predict_button)
    train.settings.advanced.set_expanded(True)
    for section in predict.sections.values():
        section.set_expanded(True)
    settle(qtbot, 300)
    assert in_view(train.train_button) and in_view(predict.predict_button)


def test_no_choice_is_cut_in_the_settings(window, qtbot):
    """Every item of the train dock's choices fits its box at 1280 x 800 (issue 23: 'Strokes
    of classes (1 = ba', 'Nothing (train from scratc')."""
    from qtpy.QtWidgets import QStyle, QStyleOptionComboBox

    train, _ = window
    settings = train.settings
    for combo in (settings.annotation, settings.start_from):
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                             QStyle.SubControl.SC_ComboBoxEditField, combo)
        for i in range(combo.count()):
            text = combo.itemText(i)
            if combo.itemData(i) not in ("auto", "current", "none", "semantic", "instance"):
                continue  # starters are named by their titles (long ones have a tooltip)
            width = combo.fontMetrics().horizontalAdvance(text)
            assert width <= field.width(), f"{text!r}: {width} px in {field.width()}"
