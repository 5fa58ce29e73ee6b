"""Q(s, a) for every action as horizontal bars, the greedy one in the accent colour, V(s) as a marker.

Custom painted rather than a plot: 18 Atari actions with long names (UPRIGHTFIRE) need a readable name
column, numbers on the bars and one repaint per frame, which a plain QWidget does crisply and cheaply.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from agents.envs.registry import EnvDescription
from app.view_frame import ViewFrame

ACCENT = QColor(230, 120, 20)
BAR = QColor(120, 150, 200)
TAKEN_OUTLINE = QColor(40, 40, 40)
VALUE_LINE = QColor(200, 40, 60)
TEXT = QColor(30, 30, 30)
MUTED = QColor(120, 120, 120)
GRID = QColor(225, 225, 225)
MAX_BAR_THICKNESS = 26.0
SHRINK_RATE = 0.02
"""Fraction of the gap the axis range closes per frame when values shrink (growth is instant)."""


class AxisRange:
    """A value range that grows at once and shrinks slowly, so bars do not jitter from frame to frame."""

    def __init__(self) -> None:
        self.low = 0.0
        self.high = 0.0
        self.empty = True

    def reset(self) -> None:
        self.low, self.high, self.empty = 0.0, 0.0, True

    def update(self, values: np.ndarray, value: float) -> None:
        """Include zero, every Q-value and V(s), padded a little so numbers fit."""
        low = min(0.0, float(np.min(values)), value)
        high = max(0.0, float(np.max(values)), value)
        pad = 0.05 * max(high - low, 1e-3)
        low, high = (low - pad if low < 0 else 0.0), high + pad
        if self.empty:
            self.low, self.high, self.empty = low, high, False
            return
        self.low = low if low < self.low else self.low + SHRINK_RATE * (low - self.low)
        self.high = high if high > self.high else self.high + SHRINK_RATE * (high - self.high)

    def span(self) -> float:
        return max(self.high - self.low, 1e-6)


class QValueBars(QWidget):
    """The painted bars; owned by QValuesPanel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: tuple[str, ...] = ()
        self.q = np.zeros(0, np.float32)
        self.value = 0.0
        self.greedy = -1
        self.taken = -1
        self.has_values = False
        self.axis = AxisRange()
        self.message = "No Q-values yet."
        self.setAutoFillBackground(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(120)

    def reset(self, names: tuple[str, ...], message: str) -> None:
        self.names = tuple(names)
        self.q = np.zeros(len(names), np.float32)
        self.value, self.greedy, self.taken, self.has_values = 0.0, -1, -1, False
        self.axis.reset()
        self.message = message
        self.update()

    def set_values(self, q: np.ndarray, value: float, taken: int) -> None:
        self.q[:] = q[: len(self.q)]
        self.value = float(value)
        self.greedy = int(np.argmax(self.q)) if len(self.q) else -1
        self.taken = taken
        self.has_values = True
        self.axis.update(self.q, self.value)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), Qt.GlobalColor.white)
        if not self.has_values or not len(self.names):
            painter.setPen(MUTED)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.rect(), flags, self.message)
            return
        self._paint_bars(painter)

    def _layout(self, metrics: QFontMetrics) -> tuple[float, float, float, float]:
        """Name column width, plot left and right edges, row height."""
        name_width = max(metrics.horizontalAdvance(name) for name in self.names) + 10
        left = 6 + name_width
        right = self.width() - 8 - metrics.horizontalAdvance("0.000")
        row = (self.height() - 26) / len(self.names)
        return name_width, left, right, row

    def _x(self, value: float, left: float, right: float) -> float:
        return left + (value - self.axis.low) / self.axis.span() * (right - left)

    def _paint_bars(self, painter: QPainter) -> None:
        font = QFont(self.font())
        row_guess = (self.height() - 26) / len(self.names)
        font.setPointSizeF(max(6.5, min(10.0, row_guess * 0.55)))
        painter.setFont(font)
        metrics = QFontMetrics(font)
        name_width, left, right, row = self._layout(metrics)
        zero = self._x(0.0, left, right)
        painter.setPen(QPen(GRID, 1))
        painter.drawLine(int(zero), 4, int(zero), int(self.height() - 22))
        for index, name in enumerate(self.names):
            top = 4 + index * row
            name_rect = QRectF(6, top, name_width - 6, row)
            self._paint_row(painter, metrics, index, name, name_rect, zero, left, right)
        self._paint_value(painter, metrics, left, right)

    def _paint_row(self, painter: QPainter, metrics: QFontMetrics, index: int, name: str, name_rect: QRectF,
                   zero: float, left: float, right: float) -> None:
        greedy = index == self.greedy
        painter.setPen(ACCENT.darker(130) if greedy else TEXT)
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
        q = float(self.q[index])
        end = self._x(q, left, right)
        thickness = min(name_rect.height() * 0.76, MAX_BAR_THICKNESS)
        top = name_rect.center().y() - thickness / 2
        bar = QRectF(min(zero, end), top, max(abs(end - zero), 1.0), thickness)
        painter.setPen(QPen(TAKEN_OUTLINE, 1.5) if index == self.taken else Qt.PenStyle.NoPen)
        painter.setBrush(ACCENT if greedy else BAR)
        painter.drawRect(bar)
        self._paint_number(painter, metrics, q, bar, left, right)

    def _paint_number(self, painter: QPainter, metrics: QFontMetrics, q: float, bar: QRectF,
                      left: float, right: float) -> None:
        """The value just outside the bar's end, or inside it when there is no room outside."""
        text = f"{q:.3g}" if abs(q) < 1000 else f"{q:.0f}"
        width = metrics.horizontalAdvance(text) + 6
        if q >= 0:
            outside = bar.right() + width <= self.width() - 2
            x = bar.right() + 3 if outside else bar.right() - width + 3
        else:
            outside = bar.left() - width >= left
            x = bar.left() - width + 3 if outside else bar.left() + 3
        painter.setPen(TEXT if outside else Qt.GlobalColor.white)
        painter.drawText(QRectF(x, bar.top() - 2, width, bar.height() + 4),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_value(self, painter: QPainter, metrics: QFontMetrics, left: float, right: float) -> None:
        """V(s) as a dashed vertical line with its number under the bars."""
        x = self._x(self.value, left, right)
        bottom = self.height() - 22
        painter.setPen(QPen(VALUE_LINE, 1.5, Qt.PenStyle.DashLine))
        painter.drawLine(int(x), 2, int(x), int(bottom))
        text = f"V(s) = {self.value:.3g}"
        width = metrics.horizontalAdvance(text) + 4
        x_text = min(max(x - width / 2, left), self.width() - 4 - width)
        painter.setPen(VALUE_LINE)
        painter.drawText(QRectF(x_text, bottom + 2, width, 18), Qt.AlignmentFlag.AlignCenter, text)


class QValuesPanel(QWidget):
    """The agent's Q-value for every action in the current state; the greedy action is highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars = QValueBars(self)
        self.bars.setToolTip(
            "Q(s, a): the return the agent expects after taking each action here and acting greedily after.\n"
            "Orange = the greedy action (highest Q); outlined = the action actually taken.\n"
            "Dashed red line = V(s), the state's value.")
        self.value_label = QLabel("V(s) = –", self)
        self.value_label.setToolTip("V(s): the dueling value stream, or max over actions of Q(s, a).")
        font = self.value_label.font()
        font.setBold(True)
        self.value_label.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.value_label)
        layout.addWidget(self.bars, 1)
        self.setStyleSheet("QValuesPanel { background: white; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        """New environment or agent: one bar per action, no values until the first evaluated step."""
        del agent_kind, network
        self.bars.reset(description.action_names, "Waiting for the agent's first evaluated step…")
        self.value_label.setText("V(s) = –")

    def show_frame(self, frame: ViewFrame) -> None:
        """Copy the snapshot's Q-values into the bars (turbo steps without evaluation keep the last ones)."""
        evaluation = frame.snapshot.evaluation
        if evaluation is None:
            if not self.bars.has_values:
                self.bars.message = "Q-values are not computed in turbo mode."
                self.bars.update()
            return
        if len(self.bars.names) != len(evaluation.q_values):
            self.bars.reset(frame.description.action_names, "")
        self.bars.set_values(evaluation.q_values, evaluation.value, frame.snapshot.action)
        self.value_label.setText(f"V(s) = {evaluation.value:.2f}")

    def values(self) -> np.ndarray:
        """The Q-values the bars show now (a copy)."""
        return self.bars.q.copy()

    def highlighted(self) -> int:
        """Index of the highlighted (greedy) action, -1 before any values."""
        return self.bars.greedy
