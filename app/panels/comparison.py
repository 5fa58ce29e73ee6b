"""Two agents on the same state: their Q-values side by side, their greedy actions, whether they agree, and the
episode's agreement timeline (ViewFrame.comparison, computed in the training loop: app.comparison_feed)."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from agents.envs.registry import EnvDescription
from app.comparison_feed import ComparisonView
from app.value_scale import AxisRange, decimals_for, format_value
from app.view_frame import ViewFrame

THIS_AGENT = QColor(120, 150, 200)
OTHER_AGENT = QColor(110, 175, 110)
AGREE = QColor(200, 200, 200)
DISAGREE = QColor(215, 50, 50)
TEXT = QColor(30, 30, 30)
MUTED = QColor(120, 120, 120)
IDLE_TEXT = "Agent > Compare with a save… shows a second agent's Q-values on the very states this one sees."
ACTORS = (("main", "This agent"), ("rival", "The compared save"))


class PairedBars(QWidget):
    """One row per action: this agent's Q (blue) over the compared agent's (green); each greedy name in bold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: tuple[str, ...] = ()
        self.view: ComparisonView | None = None
        self.mine = np.zeros(0)
        self.axis = AxisRange()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def reset(self, names: tuple[str, ...]) -> None:
        self.names, self.view, self.mine = tuple(names), None, np.zeros(0)
        self.axis.reset()
        metrics = QFontMetrics(self.font())
        self.setMinimumHeight(10 + len(names) * (2 * metrics.height() - 2))
        self.update()

    def set_values(self, mine: np.ndarray, view: ComparisonView) -> None:
        self.mine, self.view = np.asarray(mine, np.float64), view
        theirs = np.asarray(view.evaluation.q_values, np.float64)
        self.axis.update(np.concatenate([self.mine, theirs]), None)
        self.update()

    def labels(self) -> list[tuple[str, str]]:
        """(this agent's, the compared agent's) number of every action, as painted."""
        if self.view is None:
            return []
        theirs = np.asarray(self.view.evaluation.q_values, np.float64)
        decimals = decimals_for(np.concatenate([self.mine, theirs]))
        return [(format_value(float(a), decimals), format_value(float(b), decimals))
                for a, b in zip(self.mine, theirs, strict=True)]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.white)
        view = self.view
        if view is None or not self.names:
            painter.end()
            return
        metrics = QFontMetrics(self.font())
        row = max(2.0 * metrics.height() - 2, (self.height() - 10) / len(self.names))
        name_width = max(metrics.horizontalAdvance(name) for name in self.names) + 12
        number_width = metrics.horizontalAdvance("-0.00000") + 8
        left, right = name_width, max(name_width + 20, self.width() - number_width)
        labels = self.labels()
        for index, name in enumerate(self.names):
            top = 5 + index * row
            self._paint_name(painter, name, index, top, row, name_width)
            for lane, (values_colour, text) in enumerate(((THIS_AGENT, labels[index][0]),
                                                          (OTHER_AGENT, labels[index][1]))):
                value = float(self.mine[index] if lane == 0 else view.evaluation.q_values[index])
                lane_top = top + 2 + lane * (row - 4) / 2
                self._paint_bar(painter, value, values_colour, left, right, lane_top, (row - 6) / 2, text)
        painter.end()

    def _paint_name(self, painter: QPainter, name: str, index: int, top: float, row: float, width: float) -> None:
        view = self.view
        assert view is not None
        font = QFont(self.font())
        font.setBold(index in (view.main_action, view.rival_action))
        painter.setFont(font)
        disagree = not view.agree and index in (view.main_action, view.rival_action)
        painter.setPen(DISAGREE if disagree else TEXT)
        painter.drawText(QRectF(4, top, width - 8, row), Qt.AlignmentFlag.AlignVCenter, name)
        painter.setFont(self.font())

    def _paint_bar(self, painter: QPainter, value: float, colour: QColor, left: float, right: float, top: float,
                   height: float, text: str) -> None:
        if not math.isfinite(value):
            return
        span = self.axis.span()
        zero = left + (0.0 - self.axis.low) / span * (right - left)
        end = left + (value - self.axis.low) / span * (right - left)
        painter.fillRect(QRectF(min(zero, end), top, max(1.0, abs(end - zero)), max(2.0, height)), colour)
        painter.setPen(colour.darker(160))  # the number in its bar's colour: which agent it belongs to
        painter.drawText(QRectF(right + 4, top - 3, self.width() - right - 4, height + 6),
                         Qt.AlignmentFlag.AlignVCenter, text)


class Timeline(QWidget):
    """The episode's steps left to right: grey where the two greedy actions agreed, red where they did not (each
    pixel column the share of disagreeing steps it covers, so no disagreement vanishes in a long episode)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.marks = np.zeros(0, bool)
        self.setMinimumHeight(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_marks(self, marks: np.ndarray) -> None:
        self.marks = np.asarray(marks, bool)
        self.update()

    def column_disagreement(self, columns: int) -> np.ndarray:
        """Share of disagreeing steps in each of min(columns, steps) equal stretches of the episode."""
        count = self.marks.size
        columns = min(columns, count)
        if columns <= 0:
            return np.zeros(0)
        edges = np.linspace(0, count, columns + 1).astype(int)  # stretches of at least one step each
        return np.add.reduceat((~self.marks).astype(np.float64), edges[:-1]) / np.diff(edges)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(245, 245, 245))
        shares = self.column_disagreement(self.width())
        if shares.size:
            width = self.width() / shares.size
            for column, share in enumerate(shares):
                painter.fillRect(QRectF(column * width, 2, width + 0.5, self.height() - 4),
                                 DISAGREE if share > 0 else AGREE)
        painter.end()


class ComparisonPanel(QWidget):
    """The panel in its dock; `actor_chosen` says who should act in Agent play ("main" or "rival")."""

    actor_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(IDLE_TEXT)
        self.title.setWordWrap(True)
        self.verdict = QLabel("")
        self.bars = PairedBars()
        self.timeline = Timeline()
        self.timeline_caption = QLabel("")
        self.actor = QComboBox()
        for key, text in ACTORS:
            self.actor.addItem(text, key)
        self.actor.setToolTip("Who chooses the actions in Agent play (Ctrl+P); training always trains this agent")
        self.actor.currentIndexChanged.connect(lambda i: self.actor_chosen.emit(self.actor.itemData(i)))
        self._build_layout()
        self.set_compared("", "")

    def _build_layout(self) -> None:
        legend = QLabel(f"<span style='color:{THIS_AGENT.name()}'>■</span> this agent &nbsp; "
                        f"<span style='color:{OTHER_AGENT.name()}'>■</span> compared save")
        acts = QHBoxLayout()
        acts.addWidget(QLabel("Acts in Agent play:"))
        acts.addWidget(self.actor, 1)
        layout = QVBoxLayout(self)
        for widget in (self.title, legend, self.verdict):
            layout.addWidget(widget)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.timeline)
        layout.addWidget(self.timeline_caption)
        layout.addLayout(acts)
        self._details = (legend, self.verdict, self.bars, self.timeline, self.timeline_caption, self.actor)

    @property
    def comparing(self) -> bool:
        return bool(self._compared)

    def set_compared(self, name: str, trained_on: str) -> None:
        """The comparison began with `name` (trained on `trained_on`), or ended ("")."""
        self._compared = name
        self.title.setText(f"This agent vs <b>{name}</b> (trained on {trained_on})" if name else IDLE_TEXT)
        for widget in self._details:
            widget.setVisible(bool(name))
        if not name:
            self.actor.blockSignals(True)
            self.actor.setCurrentIndex(0)
            self.actor.blockSignals(False)
            self.bars.view = None
            self.timeline.set_marks(np.zeros(0, bool))

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        self.bars.reset(tuple(description.action_names))
        self.timeline.set_marks(np.zeros(0, bool))
        self.verdict.setText("")
        self.timeline_caption.setText("")

    def show_frame(self, frame: ViewFrame) -> None:
        view = frame.comparison
        evaluation = frame.snapshot.evaluation
        if view is None or evaluation is None or not self._compared:
            return
        self.bars.set_values(evaluation.q_values, view)
        names = self.bars.names
        mine, theirs = names[view.main_action], names[view.rival_action]
        colour = TEXT.name() if view.agree else DISAGREE.name()
        self.verdict.setText(f"Greedy: <b>{mine}</b> · <b>{theirs}</b> — "
                             f"<span style='color:{colour}'>{'agree' if view.agree else 'DISAGREE'}</span>")
        self.timeline.set_marks(view.marks)
        disagreements = int((~view.marks).sum())
        self.timeline_caption.setText(f"Episode {view.episode}: agree on {view.agreement:.0%} of {view.marks.size:,}"
                                      f" steps ({disagreements:,} disagreements)")
