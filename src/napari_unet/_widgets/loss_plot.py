"""A tiny live plot of the training loss and the validation score, painted with QPainter
(no plotting dependency)."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget


class LossPlot(QWidget):
    """Loss against training step (blue, logarithmic y axis fitted to the data) and the
    score on held-out strokes (orange, mean IoU, linear from 0 to 1), when there is one."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points: list[tuple[int, float]] = []
        self.scores: list[tuple[int, float]] = []
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFixedHeight(90)
        self.setToolTip(
            "training loss (blue, log scale) and, when some strokes are held out, their "
            "mean IoU (orange, 0 to 1) against step"
        )

    def clear(self) -> None:
        self.points = []
        self.scores = []
        self.update()

    def add_score(self, step: int, score: float) -> None:
        """A validation score (mean IoU on held-out strokes, 0 to 1) at ``step``."""
        if math.isfinite(score) and (not self.scores or self.scores[-1] != (step, score)):
            self.scores.append((step, score))
            self.update()

    def add(self, step: int, loss: float) -> None:
        if math.isfinite(loss) and loss > 0:
            self.points.append((step, loss))
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        text = pal.text().color()
        frame = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor(text.red(), text.green(), text.blue(), 60)))
        p.drawRect(frame)
        p.setPen(text)
        if len(self.points) < 2:
            p.drawText(frame, Qt.AlignCenter, "loss: appears while training")
            p.end()
            return
        steps = [s for s, _ in self.points]
        logs = [math.log10(v) for _, v in self.points]
        x0, x1 = min(steps), max(steps)
        y0, y1 = min(logs), max(logs)
        if y1 - y0 < 1e-6:
            y0, y1 = y0 - 0.5, y1 + 0.5
        plot = frame.adjusted(6, 16, -6, -6)

        def at(step, lg):
            x = plot.left() + (step - x0) / max(x1 - x0, 1) * plot.width()
            y = plot.bottom() - (lg - y0) / (y1 - y0) * plot.height()
            return QPointF(x, y)

        path = QPainterPath(at(steps[0], logs[0]))
        for s, lg in zip(steps[1:], logs[1:]):
            path.lineTo(at(s, lg))
        p.setPen(QPen(QColor(0, 170, 255), 1.6))
        p.drawPath(path)
        label = f"loss {self.points[-1][1]:.3g}  (max {10 ** y1:.3g}, min {10 ** y0:.3g})"
        if self.scores:
            ys = [y0 + v * (y1 - y0) for _, v in self.scores]  # 0..1 over the plot's height
            xs = [min(max(s, x0), x1) for s, _ in self.scores]  # the start model's is step 0
            score_path = QPainterPath(at(xs[0], ys[0]))
            for s, lg in zip(xs[1:], ys[1:]):
                score_path.lineTo(at(s, lg))
            p.setPen(QPen(QColor(255, 140, 0), 1.6))
            p.drawPath(score_path)
            label += f"  held-out IoU {self.scores[-1][1]:.2f}"
        p.setPen(text)
        p.drawText(frame.adjusted(6, 2, -6, 0), Qt.AlignLeft | Qt.AlignTop, label)
        p.end()
