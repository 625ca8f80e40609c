"""Docks that scroll: a dock taller than the window scrolls instead of squashing its rows
into each other (napari gives a dock the window's height, not what it asks for). It scrolls
up and down only: it asks for the width its content needs."""

from __future__ import annotations

from qtpy.QtCore import QEvent, QSize, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

SHARED_HEIGHT = 360
"""The height a dock asks for at most (the rest scrolls)."""


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
        """As wide as the content, and at most :data:`SHARED_HEIGHT` tall: napari stacks
        both docks in one column and splits it by their hints, so a tall hint would leave
        the other dock a sliver (69 px at 1280 x 800); it scrolls instead."""
        inner = self.widget()
        hint = super().sizeHint()
        if not inner:
            return hint
        return QSize(self._width(inner.sizeHint()), min(inner.sizeHint().height(), SHARED_HEIGHT))


def scrolling_layout(widget: QWidget, footer: QWidget | None = None) -> QVBoxLayout:
    """The vertical layout to fill ``widget`` with, inside a :class:`VerticalScroll`;
    ``footer`` stays below it, always in view (the dock's main buttons)."""
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    area = VerticalScroll(widget)
    inner = QWidget(area)
    area.setWidget(inner)
    outer.addWidget(area)
    if footer is not None:
        footer.setContentsMargins(8, 2, 8 + area.verticalScrollBar().sizeHint().width(), 4)
        outer.addWidget(footer)
    return QVBoxLayout(inner)


def share_column(widget: QWidget) -> None:
    """When this plugin's docks are stacked in one column of the main window, give each a
    fair share of its height (napari gives the dock added first almost all of it: at
    1280 x 800 the predict dock got 69 px). Qt's own ``QMainWindow.resizeDocks``; the
    user's later resizing is left alone: the docks call this when they are shown, which is
    after napari has put them in the window)."""
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    def share():
        try:
            dock = widget.parentWidget()
        except RuntimeError:  # deleted meanwhile
            return
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        main = dock.parentWidget() if dock is not None else None
        if not isinstance(main, QMainWindow) or dock.isFloating():
            return
        area = main.dockWidgetArea(dock)
        ours = [d for d in main.findChildren(QDockWidget)
                if main.dockWidgetArea(d) == area and d.isVisibleTo(main) and not d.isFloating()
                and d.widget() is not None and d.widget().findChild(VerticalScroll) is not None
                and not main.tabifiedDockWidgets(d)]
        if len(ours) >= 2:
            main.resizeDocks(ours, [1] * len(ours), Qt.Vertical)

    QTimer.singleShot(0, share)
