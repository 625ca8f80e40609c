"""Collapsible sections of a dock: a header button with an arrow, and a body below it.

Not superqt's ``QCollapsible``: its body is animated through a maximum height, fixed when it
opens, so a status line that grows later (a long message after training) is cut. Here the
body is only shown or hidden, and the layout gives it the height it asks for.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QSizePolicy, QToolButton, QVBoxLayout, QWidget


class Section(QFrame):
    """``title`` over ``widgets``; clicking the title folds the body away (and back)."""

    def __init__(self, title: str, *widgets, expanded: bool = True, parent=None):
        super().__init__(parent)
        self.setObjectName(title)
        self.setFrameShape(QFrame.StyledPanel)
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.header.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.header.setToolTip(f"Show or hide '{title}'")
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(6, 0, 6, 6)
        for w in widgets:
            self.body_layout.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        self.header.toggled.connect(self.set_expanded)
        self.header.setChecked(expanded)
        self.set_expanded(expanded)

    def add(self, widget, index: int | None = None) -> None:
        if index is None:
            self.body_layout.addWidget(widget)
        else:
            self.body_layout.insertWidget(index, widget)

    def is_expanded(self) -> bool:
        return self.header.isChecked()

    def set_expanded(self, on: bool) -> None:
        if self.header.isChecked() != on:
            self.header.setChecked(on)  # comes back here through ``toggled``
            return
        self.header.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
        self.body.setVisible(on)
