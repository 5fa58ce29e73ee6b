"""Q(s, a) for every action as horizontal bars, the greedy one in the accent colour, V(s) as a marker.

Custom painted rather than a plot: 18 Atari actions with long names (UPRIGHTFIRE) need a readable name
column, numbers beside the bars and one repaint per frame, which a plain QWidget does crisply and cheaply.

A trained agent's Q-values are often nearly equal (0.701 .. 0.703 in a maze), so the numbers carry as many
decimals as the values' spread needs, and a toggle shows Q(s, a) - V(s) instead: for a dueling network
(Wang et al. 2016) that is exactly its advantage stream, centred, A(s, a) - mean_a A(s, a); for other agents,
whose V(s) is max_a Q(s, a), it is how much worse each action is than the greedy one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from agents.envs.registry import EnvDescription
from app.value_scale import AxisRange, decimals_for, format_value
from app.view_frame import ViewFrame

ACCENT = QColor(230, 120, 20)
BAR = QColor(120, 150, 200)
TAKEN_OUTLINE = QColor(40, 40, 40)
VALUE_LINE = QColor(200, 40, 60)
TEXT = QColor(30, 30, 30)
MUTED = QColor(120, 120, 120)
GRID = QColor(225, 225, 225)
MAX_BAR_THICKNESS = 26.0
LABEL_GAP = 4
"""Pixels between a bar's end and its number."""
MIN_POINT_SIZE, MAX_POINT_SIZE = 7.0, 10.0
FOOTER = 22
"""Pixels under the rows for the V(s) caption."""


@dataclass(frozen=True)
class PaintedRow:
    """Where one action's bar and number went in the last paint (tests and screenshots check them)."""

    name: str
    text: str
    bar: QRectF
    label: QRectF


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
        self.advantages = False
        self.axis = AxisRange()
        self.message = "No Q-values yet."
        self.rows: list[PaintedRow] = []
        self.value_caption = ""
        self.setAutoFillBackground(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def reset(self, names: tuple[str, ...], message: str) -> None:
        self.names = tuple(names)
        self.q = np.zeros(len(names), np.float32)
        self.value, self.greedy, self.taken, self.has_values = 0.0, -1, -1, False
        self.axis.reset()
        self.message = message
        # Rows no thinner than the smallest font: below that the numbers of neighbouring rows overlap, and the
        # panel's scroll area takes over.
        self.setMinimumHeight(FOOTER + 8 + len(names) * self._min_row())
        self.update()

    def _min_row(self) -> int:
        font = QFont(self.font())
        font.setPointSizeF(MIN_POINT_SIZE)
        return QFontMetrics(font).height() + 1

    def set_values(self, q: np.ndarray, value: float, taken: int) -> None:
        self.q[:] = q[: len(self.q)]
        self.value = float(value)
        finite = np.where(np.isfinite(self.q), self.q, -np.inf)
        self.greedy = int(np.argmax(finite)) if len(self.q) else -1
        self.taken = taken
        self.has_values = True
        self.axis.update(self.shown(), None if self.advantages else self.value)
        self.update()

    def set_advantages(self, on: bool) -> None:
        """Show Q - V(s) (True) or Q (False); the axis starts afresh since the two ranges differ."""
        self.advantages = on
        self.axis.reset()
        if self.has_values:
            self.axis.update(self.shown(), None if on else self.value)
        self.update()

    def shown(self) -> np.ndarray:
        """The numbers the bars stand for now: Q(s, a), or Q(s, a) - V(s)."""
        q = self.q.astype(np.float64)
        return q - self.value if self.advantages else q

    def labels(self) -> list[str]:
        """Each bar's number, with the decimals the spread needs."""
        shown = self.shown()
        decimals = decimals_for(shown)
        return [format_value(float(v), decimals, signed=self.advantages) for v in shown]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), Qt.GlobalColor.white)
        if not self.has_values or not len(self.names):
            self.rows = []
            painter.setPen(MUTED)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.rect(), flags, self.message)
            return
        self._paint_bars(painter)

    def _x(self, value: float, left: float, right: float) -> float:
        value = value if math.isfinite(value) else 0.0
        return left + (value - self.axis.low) / self.axis.span() * (right - left)

    def _paint_bars(self, painter: QPainter) -> None:
        """Name column | numbers of negative bars | plot | numbers of positive bars: numbers never overlap bars."""
        row = (self.height() - FOOTER - 4) / len(self.names)
        font = QFont(self.font())
        font.setPointSizeF(max(MIN_POINT_SIZE, min(MAX_POINT_SIZE, row * 0.55)))
        painter.setFont(font)
        metrics = QFontMetrics(font)
        shown, texts = self.shown(), self.labels()
        widths = [metrics.horizontalAdvance(t) + 2 * LABEL_GAP for t in texts]
        name_width = max(metrics.horizontalAdvance(name) for name in self.names) + 10
        negative = max((w for w, v in zip(widths, shown, strict=True) if v < 0), default=0)
        positive = max((w for w, v in zip(widths, shown, strict=True) if not v < 0), default=0)
        left = 6 + name_width + negative
        right = max(left + 10, self.width() - 6 - positive)
        zero = self._x(0.0, left, right)
        painter.setPen(QPen(GRID, 1))
        painter.drawLine(int(zero), 4, int(zero), int(self.height() - FOOTER))
        bars = [self._paint_bar(painter, index, QRectF(6, 4 + index * row, name_width - 6, row), zero, left, right)
                for index in range(len(self.names))]
        self._paint_value(painter, left, right)
        self.rows = [self._paint_label(painter, metrics, index, bar, texts[index], widths[index])
                     for index, bar in enumerate(bars)]

    def _paint_bar(self, painter: QPainter, index: int, name_rect: QRectF, zero: float, left: float,
                   right: float) -> QRectF:
        """The action's name, right-aligned in its column, and its bar from zero."""
        greedy = index == self.greedy
        painter.setPen(ACCENT.darker(130) if greedy else TEXT)
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.names[index])
        end = self._x(float(self.shown()[index]), left, right)
        thickness = min(name_rect.height() * 0.76, MAX_BAR_THICKNESS)
        top = name_rect.center().y() - thickness / 2
        bar = QRectF(min(zero, end), top, max(abs(end - zero), 1.0), thickness)
        painter.setPen(QPen(TAKEN_OUTLINE, 1.5) if index == self.taken else Qt.PenStyle.NoPen)
        painter.setBrush(ACCENT if greedy else BAR)
        painter.drawRect(bar)
        return bar

    def _paint_label(self, painter: QPainter, metrics: QFontMetrics, index: int, bar: QRectF, text: str,
                     width: int) -> PaintedRow:
        """The number just outside the bar's end (the gutters guarantee the room), on white over the V line."""
        negative = float(self.shown()[index]) < 0
        x = bar.left() - width if negative else bar.right()
        label = QRectF(x, bar.center().y() - metrics.height() / 2, width, metrics.height())
        painter.fillRect(label.adjusted(LABEL_GAP - 2, 0, 2 - LABEL_GAP, 0), Qt.GlobalColor.white)
        painter.setPen(TEXT)
        align = Qt.AlignmentFlag.AlignRight if negative else Qt.AlignmentFlag.AlignLeft
        painter.drawText(label.adjusted(LABEL_GAP, 0, -LABEL_GAP, 0), align | Qt.AlignmentFlag.AlignVCenter, text)
        return PaintedRow(self.names[index], text, bar, label)

    def _paint_value(self, painter: QPainter, left: float, right: float) -> None:
        """V(s) as a dashed vertical line (zero is V(s) when showing Q - V) with its number under the bars."""
        bottom = self.height() - FOOTER
        value = format_value(self.value, decimals_for(np.append(self.q, self.value)))
        if self.advantages:
            x, text = self._x(0.0, left, right), f"0 = V(s) = {value}"
        else:
            x, text = self._x(self.value, left, right), f"V(s) = {value}"
            painter.setPen(QPen(VALUE_LINE, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(int(x), 2, int(x), int(bottom))
        self.value_caption = text
        width = painter.fontMetrics().horizontalAdvance(text) + 4
        x_text = min(max(x - width / 2, left), self.width() - 4 - width)
        painter.setPen(VALUE_LINE)
        painter.drawText(QRectF(x_text, bottom + 2, width, FOOTER - 4), Qt.AlignmentFlag.AlignCenter, text)


class QValuesPanel(QWidget):
    """The agent's Q-value for every action in the current state; the greedy action is highlighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars = QValueBars()
        self.bars.setToolTip(
            "Q(s, a): the return the agent expects after taking each action here and acting greedily after.\n"
            "Orange = the greedy action (highest Q); outlined = the action actually taken.\n"
            "Dashed red line = V(s), the state's value.")
        self.value_label = QLabel("V(s) = –", self)
        self.value_label.setToolTip("V(s): the dueling value stream, or max over actions of Q(s, a).")
        font = self.value_label.font()
        font.setBold(True)
        self.value_label.setFont(font)
        self.advantage_check = QCheckBox("Show Q − V(s)", self)
        self.advantage_check.setToolTip(
            "Bars show Q(s, a) − V(s): what each action adds to or takes from the state's value.\n"
            "Dueling networks compute it as their advantage stream; otherwise V(s) = max Q, so the greedy\n"
            "action is 0 and the others show how much worse they are. Makes nearly equal Q-values tell apart.")
        self.advantage_check.toggled.connect(self.bars.set_advantages)
        self.scroll = QScrollArea(self)
        self.scroll.setWidget(self.bars)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setMinimumHeight(120)
        self._build_layout()

    def _build_layout(self) -> None:
        header = QHBoxLayout()
        header.addWidget(self.value_label)
        header.addStretch(1)
        header.addWidget(self.advantage_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.scroll, 1)
        self.setStyleSheet("QValuesPanel, QScrollArea, QScrollArea > QWidget > QWidget { background: white; }")
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
        decimals = decimals_for(np.append(evaluation.q_values, evaluation.value))
        self.value_label.setText(f"V(s) = {format_value(evaluation.value, decimals)}")

    def set_advantages(self, on: bool) -> None:
        """Bars show Q - V(s) (True) or Q (False), as the checkbox does."""
        self.advantage_check.setChecked(on)

    def values(self) -> np.ndarray:
        """The Q-values the bars show now (a copy)."""
        return self.bars.q.copy()

    def highlighted(self) -> int:
        """Index of the highlighted (greedy) action, -1 before any values."""
        return self.bars.greedy
