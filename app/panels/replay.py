"""The replay buffer from the outside: how full it is, what went in last, what was sampled, which rewards.

Everything drawn comes from the ReplaySummary copy in the ViewFrame; the table model only reshapes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agents.envs.registry import EnvDescription
from agents.replay import RecentTransition, ReplaySummary
from app.panels.batch_table import LastBatchModel, make_batch_view
from app.panels.replay_browser import ReplayBrowser
from app.qt_image import observation_thumbnail
from app.view_frame import ViewFrame

NO_REPLAY = "Tabular Q-learning learns online; it has no replay buffer."
SAMPLED_BACKGROUND = QColor(255, 236, 200)
COLUMNS = ("Frame", "Action", "Reward", "Done", "Sampled")
COLUMN_TIPS = (
    "The newest frame of the stored observation.",
    "The action taken in that state.",
    "The reward the agent learned from (clipped to -1/0/+1 for Atari).",
    "Terminal: no bootstrapping from the next state. Truncated: cut by a time limit, still bootstrapped.",
    "In the minibatch of the last gradient update.",
)
THUMBNAIL = 32
"""Thumbnail size in pixels."""
HISTOGRAM_EVERY = 6
"""Recompute the reward histogram every few frames only: it changes slowly and costs more than the rest."""

IndexLike = QModelIndex | QPersistentModelIndex


class RecentTransitionsModel(QAbstractTableModel):
    """The most recent stored transitions, newest first, sampled ones marked."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[RecentTransition, ...] = ()
        self.sampled: tuple[bool, ...] = ()
        self.action_names: tuple[str, ...] = ()
        self.thumbnails: list[QPixmap] = []
        self._key: tuple = ()

    def set_action_names(self, names: tuple[str, ...]) -> None:
        self.action_names = tuple(names)

    def set_rows(self, rows: tuple[RecentTransition, ...], sampled: tuple[bool, ...]) -> None:
        """Replace the rows; skipped when the same transitions with the same marks are shown already."""
        key = (tuple(row.index for row in rows), tuple(sampled))
        if key == self._key:
            return
        self.beginResetModel()
        self._key = key
        self.rows = tuple(rows)
        self.sampled = tuple(sampled) + (False,) * (len(rows) - len(sampled))
        self.thumbnails = [_thumbnail(row.obs_frame) for row in rows]
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows((), ())

    def rowCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: N802, B008 (Qt override)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: N802, B008 (Qt override)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 (Qt override)
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS[section]
        return None

    def data(self, index: IndexLike, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(self.rows[row], row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return self.thumbnails[row]
        if role == Qt.ItemDataRole.BackgroundRole and self.sampled[row]:
            return QBrush(SAMPLED_BACKGROUND)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            transition = self.rows[row]
            return f"{self._text(transition, row, 1)} · buffer slot {transition.index}"
        return None

    def _text(self, transition: RecentTransition, row: int, column: int) -> str | None:
        if column == 1:
            names = self.action_names
            return names[transition.action] if 0 <= transition.action < len(names) else str(transition.action)
        if column == 2:
            return f"{transition.reward:+.2f}"
        if column == 3:
            return "terminal" if transition.terminated else "truncated" if transition.truncated else ""
        if column == 4:
            return "✓" if self.sampled[row] else ""
        return None


class RewardHistogram(pg.PlotWidget):
    """Counts of stored rewards on a log scale, so a rare goal reward is visible beside the step costs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setToolTip("How often each reward occurs among the most recent 10,000 stored transitions "
                        "(log scale: each grid line is ten times more).")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        item = self.getPlotItem()
        item.setLabel("bottom", "stored rewards", color="#333")
        for name in ("left", "bottom"):
            item.getAxis(name).enableAutoSIPrefix(False)
            item.getAxis(name).setTextPen(pg.mkPen("#333"))
        item.showGrid(y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x=[0.0], height=[0.0], width=0.1, brush=(120, 150, 200), pen=None)
        self.addItem(self.bars)
        self.counts = np.zeros(0, np.int64)

    def set_rewards(self, rewards: np.ndarray) -> None:
        """One bar per distinct reward when there are few (the usual case), else a 21-bin histogram."""
        if rewards.size == 0:
            self.counts = np.zeros(0, np.int64)
            self.bars.setOpts(x=[0.0], height=[0.0], width=0.1)
            return
        centres, self.counts, width = _reward_bins(rewards)
        heights = np.log10(1.0 + self.counts)
        self.bars.setOpts(x=centres, height=heights, width=width)
        top = max(1, int(np.ceil(heights.max())))
        ticks = [(float(np.log10(1 + 10**k)), _count_label(10**k)) for k in range(top + 1)]
        self.getPlotItem().getAxis("left").setTicks([ticks, []])
        self.setYRange(0, top, padding=0.02)
        self.setXRange(float(centres.min()) - width, float(centres.max()) + width, padding=0.05)
        labels = [[(float(c), f"{c:g}") for c in centres]] if len(centres) <= 6 else None
        self.getPlotItem().getAxis("bottom").setTicks(labels)


def _reward_bins(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Bar centres, counts and bar width for the reward histogram."""
    values, counts = np.unique(np.round(rewards.astype(np.float64), 4), return_counts=True)
    if len(values) <= 12:
        gap = float(np.diff(values).min()) if len(values) > 1 else 1.0
        return values, counts, 0.6 * min(gap, 1.0)
    counts, edges = np.histogram(rewards, bins=21)
    return 0.5 * (edges[:-1] + edges[1:]), counts, 0.9 * float(edges[1] - edges[0])


class ReplayPanel(QWidget):
    """Fill level, the latest transitions (sampled ones highlighted) and the reward histogram."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = RecentTransitionsModel()
        self.fill = QProgressBar(self)
        self.fill.setToolTip("How full the buffer is; once full, the oldest transitions are overwritten.")
        self.fill.setTextVisible(False)
        self.fill_label = QLabel("", self)
        self.fill_label.setToolTip("Stored transitions / capacity, and the memory the buffer's arrays take.")
        self.table = self._make_table()
        self.batch_model = LastBatchModel()
        self.batch_table = make_batch_view(self.batch_model, self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.table, "Newest")
        self.tabs.addTab(self.batch_table, "Last batch")
        self.tabs.setTabToolTip(1, "The last gradient step's minibatch: Q(s, a), target and TD error per row")
        self.browser = ReplayBrowser(self)
        self.tabs.addTab(self.browser, "Browse")
        self.tabs.setTabToolTip(2, "Every stored transition, oldest to newest, with its frames and who produced it;"
                                   " filter by that, reward and ending")
        self.tabs.currentChanged.connect(lambda index: self.browser.refresh() if index == 2 else None)
        self.histogram = RewardHistogram(self)
        self.message = QLabel(NO_REPLAY, self)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #555; background: white; padding: 12px;")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self._make_content())
        self.stack.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stack)
        self._frames_seen = 0
        self._split_once = False

    def _make_table(self) -> QTableView:
        table = QTableView(self)
        table.setModel(self.model)
        table.setToolTip("The most recently stored transitions, newest first; "
                         "orange rows were in the last sampled minibatch.")
        table.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(THUMBNAIL + 4)
        table.setSelectionMode(QTableView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.setStyleSheet("QTableView { background: white; gridline-color: #e6e6e6; }")
        return table

    def _make_content(self) -> QWidget:
        content = QWidget(self)
        top = QHBoxLayout()
        top.addWidget(self.fill, 1)
        top.addWidget(self.fill_label)
        splitter = QSplitter(Qt.Orientation.Horizontal, content)
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.histogram)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        self.histogram.setMinimumSize(120, 90)
        self.splitter = splitter
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        return content

    # ------------------------------------------------------------------------------ public API

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        """New environment or agent: empty table and histogram; the message for tabular agents."""
        del network
        self.model.set_action_names(description.action_names)
        self.model.clear()
        self.batch_model.set_action_names(description.action_names)
        self.batch_model.set_batch(None)
        self.browser.reset(description.action_names, description.frame_stack)
        self.histogram.set_rewards(np.zeros(0, np.float32))
        self.fill.setRange(0, 1)
        self.fill.setValue(0)
        self.fill_label.setText("")
        self._frames_seen = 0
        self.stack.setCurrentIndex(1 if agent_kind == "qlearning" else 0)

    def show_frame(self, frame: ViewFrame) -> None:
        summary = frame.replay
        if summary is None:
            self.stack.setCurrentIndex(1)
            return
        self.stack.setCurrentIndex(0)
        if self.model.action_names != frame.description.action_names:
            self.model.set_action_names(frame.description.action_names)
        self._show_fill(summary)
        self.model.set_rows(summary.recent, summary.recent_sampled)
        if summary.last_batch is not None or self.batch_model.batch is None:
            if self.batch_model.action_names != frame.description.action_names:
                self.batch_model.set_action_names(frame.description.action_names)
            self.batch_model.set_batch(summary.last_batch)
        if self._frames_seen % HISTOGRAM_EVERY == 0:
            self.histogram.set_rewards(np.asarray(summary.reward_values))
        self._frames_seen += 1

    def stored(self) -> int:
        """Transitions in the buffer as the fill bar shows them (0 before the first frame)."""
        return self.fill.value() if self.fill.maximum() > 1 else 0

    def no_replay_visible(self) -> bool:
        """True while the tabular agent's explanation replaces the buffer view."""
        return self.stack.currentWidget() is self.message

    # ------------------------------------------------------------------------------ drawing

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        """Histogram beside the table in a wide dock, under it in a narrow one, so that long action
        names (UPRIGHTFIRE) keep their room."""
        super().resizeEvent(event)
        wide = event.size().width() >= 1.4 * event.size().height()
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation != self.splitter.orientation() or not self._split_once:
            self._split_once = True
            self.splitter.setOrientation(orientation)
            total = event.size().width() if wide else event.size().height()
            self.splitter.setSizes([int(total * 0.65), int(total * 0.35)])

    def _show_fill(self, summary: ReplaySummary) -> None:
        self.fill.setRange(0, max(1, summary.capacity))
        self.fill.setValue(min(summary.size, summary.capacity))
        if summary.size == 0:  # a new agent, or a save that was made without its replay
            self.fill_label.setText(f"empty (0 / {summary.capacity:,}): it fills as the agent trains")
            return
        self.fill_label.setText(f"{summary.size:,} / {summary.capacity:,} transitions · "
                                f"{_megabytes(summary.nbytes)}")


def _thumbnail(frame: np.ndarray) -> QPixmap:
    image = observation_thumbnail(frame, THUMBNAIL)
    if max(image.width(), image.height()) > THUMBNAIL:
        image = image.scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(image)


def _count_label(count: int) -> str:
    if count >= 1_000_000:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count >= 1000 else str(count)


def _megabytes(nbytes: int) -> str:
    megabytes = nbytes / 1e6
    return f"{megabytes:,.0f} MB" if megabytes >= 10 else f"{megabytes:.1f} MB"
