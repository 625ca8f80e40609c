"""A small live plot of the training loss and the held-out score, painted with QPainter
(no plotting dependency): axes with their ends labelled, and a legend above the curves."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

LOSS_COLOUR = QColor(0, 170, 255)
SCORE_COLOUR = QColor(255, 140, 0)
HEIGHT = 150


def _tick(value: float) -> str:
    return f"{value:.2g}" if value < 0.01 or value >= 100 else f"{value:.2f}"


class LossPlot(QWidget):
    """Loss against training step (blue, logarithmic axis on the left, fitted to the data)
    and the score on painting set aside for checking (orange, 0 to 1 on the right), when
    there is one. The legend sits in its own row above the plot, never over the curves."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points: list[tuple[int, float]] = []
        self.scores: list[tuple[int, float]] = []
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFixedHeight(HEIGHT)
        self.setToolTip(
            "Training loss (blue, log scale, left axis) and, when some painting is set aside "
            "for checking, how well the model matches it (orange, 0 to 1, right axis; 1 = "
            "all of it right), against the training step"
        )

    def clear(self) -> None:
        self.points = []
        self.scores = []
        self.update()

    def add_score(self, step: int, score: float) -> None:
        """A validation score (mean IoU on held-out painting, 0 to 1) at ``step``."""
        if math.isfinite(score) and (not self.scores or self.scores[-1] != (step, score)):
            self.scores.append((step, score))
            self.update()

    def add(self, step: int, loss: float) -> None:
        if math.isfinite(loss) and loss > 0:
            self.points.append((step, loss))
            self.update()

    def areas(self) -> tuple[QRectF, QRectF]:
        """``(legend, plot)``: the legend row and the curves' rectangle (disjoint)."""
        fm = self.fontMetrics()
        line = fm.height()
        frame = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        ticks = ["0.000"]
        if self.points:  # the loss axis' end values, as drawn
            losses = [v for _, v in self.points]
            ticks += [_tick(min(losses)), _tick(max(losses))]
        left = max(fm.horizontalAdvance(t) for t in ticks) + 8
        right = fm.horizontalAdvance("1.0") + 8
        legend = QRectF(frame.left() + 4, frame.top() + 2, frame.width() - 8, line)
        plot = QRectF(frame.left() + left, legend.bottom() + 6,
                      frame.width() - left - right, 0)
        plot.setBottom(frame.bottom() - 2 * line - 4)
        return legend, plot

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        text = self.palette().text().color()
        faint = QColor(text.red(), text.green(), text.blue(), 70)
        frame = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(faint))
        p.drawRect(frame)
        p.setPen(text)
        if len(self.points) < 2:
            p.drawText(frame, Qt.AlignCenter, "The loss appears here while training")
            p.end()
            return
        legend, plot = self.areas()
        fm = self.fontMetrics()
        steps = [s for s, _ in self.points]
        logs = [math.log10(v) for _, v in self.points]
        x0, x1 = min(steps), max(steps)
        y0, y1 = min(logs), max(logs)
        if y1 - y0 < 1e-6:
            y0, y1 = y0 - 0.5, y1 + 0.5

        def at(step, frac):  # frac: 0 at the bottom, 1 at the top
            x = plot.left() + (step - x0) / max(x1 - x0, 1) * plot.width()
            return QPointF(x, plot.bottom() - frac * plot.height())

        # axes, and their end values
        p.setPen(QPen(faint))
        p.drawLine(plot.bottomLeft(), plot.bottomRight())
        p.drawLine(plot.bottomLeft(), plot.topLeft())
        p.setPen(text)
        h = fm.height()
        p.drawText(QRectF(frame.left(), plot.top() - h / 2, plot.left() - frame.left() - 3, h),
                   Qt.AlignRight | Qt.AlignVCenter, _tick(10 ** y1))
        p.drawText(QRectF(frame.left(), plot.bottom() - h / 2, plot.left() - frame.left() - 3, h),
                   Qt.AlignRight | Qt.AlignVCenter, _tick(10 ** y0))
        below = QRectF(plot.left(), plot.bottom() + 2, plot.width(), h)
        p.drawText(below, Qt.AlignLeft | Qt.AlignTop, str(x0))
        p.drawText(below, Qt.AlignRight | Qt.AlignTop, str(x1))
        p.drawText(QRectF(plot.left(), below.bottom(), plot.width(), h), Qt.AlignHCenter,
                   "training step")

        path = QPainterPath(at(steps[0], (logs[0] - y0) / (y1 - y0)))
        for s, lg in zip(steps[1:], logs[1:]):
            path.lineTo(at(s, (lg - y0) / (y1 - y0)))
        p.setPen(QPen(LOSS_COLOUR, 1.6))
        p.drawPath(path)
        entries = [(LOSS_COLOUR, f"loss {self.points[-1][1]:.3g}")]
        if self.scores:
            p.setPen(QPen(faint))
            p.drawLine(plot.bottomRight(), plot.topRight())
            p.setPen(SCORE_COLOUR)
            right = QRectF(plot.right() + 3, 0, frame.right() - plot.right() - 3, h)
            p.drawText(right.translated(0, plot.top() - h / 2), Qt.AlignLeft | Qt.AlignVCenter, "1")
            p.drawText(right.translated(0, plot.bottom() - h / 2), Qt.AlignLeft | Qt.AlignVCenter, "0")
            xs = [min(max(s, x0), x1) for s, _ in self.scores]  # the start model's is step 0
            score_path = QPainterPath(at(xs[0], self.scores[0][1]))
            for s, (_, v) in zip(xs[1:], self.scores[1:]):
                score_path.lineTo(at(s, v))
            p.setPen(QPen(SCORE_COLOUR, 1.6))
            p.drawPath(score_path)
            entries.append((SCORE_COLOUR, f"set-aside check {self.scores[-1][1]:.2f}"))
        x = legend.left()
        for colour, label in entries:
            p.setPen(QPen(colour, 2))
            y = legend.center().y()
            p.drawLine(QPointF(x, y), QPointF(x + 14, y))
            p.setPen(text)
            p.drawText(QRectF(x + 18, legend.top(), legend.right() - x - 18, legend.height()),
                       Qt.AlignLeft | Qt.AlignVCenter, label)
            x += 18 + fm.horizontalAdvance(label) + 14
        p.end()
