"""The painting check in the train dock: when the painting looks made for the other
annotation mode (``core.training.painting_check``), training waits and the dock says so,
with two buttons: switch the mode (and train), or train as painted."""

from __future__ import annotations

from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .modes import ANNOTATIONS

SHORT = {"semantic": "Strokes of classes", "instance": "Whole objects"}


class AdvicePanel(QWidget):
    """Hidden until :meth:`offer`; ``switch`` and ``anyway`` are the two answers."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setStyleSheet("QLabel { color: #f0b000; }")
        self.switch = QPushButton()
        self.anyway = QPushButton("Train as painted")
        self.anyway.setToolTip("The labels are what they should be: train on them as they are")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.switch)
        row.addWidget(self.anyway)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        layout.addLayout(row)
        self.advice = None
        self.setVisible(False)

    def offer(self, advice) -> None:
        """Show ``advice`` (a core ``PaintingAdvice``) and the switch to its mode (none when
        ``looks_like`` is None: a warning about the painting, not about the mode)."""
        self.advice = advice
        self.text.setText(advice.message)
        switch = advice.looks_like in SHORT  # else only "train as painted"
        self.switch.setVisible(switch)
        if switch:
            self.switch.setText(f"Switch to {SHORT[advice.looks_like]} and train")
            self.switch.setToolTip(f"Annotation: '{ANNOTATIONS[advice.looks_like]}', then Train")
        self.setVisible(True)

    def clear(self) -> None:
        self.advice = None
        self.setVisible(False)
