"""Docks that scroll: a dock taller than the window scrolls instead of squashing its rows
into each other (napari gives a dock the window's height, not what it asks for). It scrolls
up and down only: it asks for the width its content needs."""

from __future__ import annotations

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


class VerticalScroll(QScrollArea):
    """A frameless scroll area as wide as its content needs, scrolling vertically."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

    def setWidget(self, widget) -> None:  # noqa: N802 (Qt's name)
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        """When the content's layout changes (a section opens, a style sheet is applied),
        ask the dock again for the width it needs: else it keeps the first width asked and
        cuts the content at the right."""
        if obj is self.widget() and event.type() == QEvent.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(obj, event)

    def _width(self, hint: QSize) -> int:
        return hint.width() + self.verticalScrollBar().sizeHint().width()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget()
        hint = super().minimumSizeHint()
        return QSize(self._width(inner.minimumSizeHint()), hint.height()) if inner else hint

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget()
        hint = super().sizeHint()
        return QSize(self._width(inner.sizeHint()), inner.sizeHint().height()) if inner else hint


def scrolling_layout(widget: QWidget) -> QVBoxLayout:
    """The vertical layout to fill ``widget`` with, inside a :class:`VerticalScroll`."""
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    area = VerticalScroll(widget)
    inner = QWidget(area)
    area.setWidget(inner)
    outer.addWidget(area)
    return QVBoxLayout(inner)
