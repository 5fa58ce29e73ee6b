"""The last minibatch the agent learned from, one row per sampled transition: its slot in the buffer, action,
reward, whether it bootstraps, Q(s, a) before the step, the target y and the TD error y - Q, sortable by any
column (the TD error by its size), largest errors first to begin with."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QHeaderView, QTableView, QWidget

from agents.types import SampledBatch
from app.value_scale import decimals_for, format_value

IndexLike = QModelIndex | QPersistentModelIndex
COLUMNS = ("Slot", "Action", "r", "Done", "Q(s,a)", "Target y", "TD y−Q")
TD_COLUMN = 6
TIPS = ("Flat index of the transition in the replay buffer",
        "The action taken",
        "The reward learned from (clipped; with n-step returns the discounted sum of up to n rewards)",
        "✓: the episode terminated within the transition, so y does not bootstrap",
        "Q(s, a) of the online network before this gradient step",
        "y = r + γᵐ · Q_target(s′, a′) (a′ by Double DQN where it is on)",
        "TD error y − Q(s, a); sorted by its size")


class LastBatchModel(QAbstractTableModel):
    """Rows of a SampledBatch; the sort role gives numbers (the TD error's absolute value)."""

    def __init__(self) -> None:
        super().__init__()
        self.batch: SampledBatch | None = None
        self.action_names: tuple[str, ...] = ()
        self._decimals = 2

    def set_action_names(self, names: tuple[str, ...]) -> None:
        self.action_names = tuple(names)

    def set_batch(self, batch: SampledBatch | None) -> None:
        if batch is self.batch:
            return
        self.beginResetModel()
        self.batch = batch
        if batch is not None:
            self._decimals = decimals_for(np.concatenate([batch.q, batch.targets]))
        self.endResetModel()

    def rowCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: N802, B008 (Qt override)
        return 0 if parent.isValid() or self.batch is None else len(self.batch.indices)

    def columnCount(self, parent: IndexLike = QModelIndex()) -> int:  # noqa: N802, B008 (Qt override)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 (Qt override)
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TIPS[section]
        return None

    def data(self, index: IndexLike, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        batch = self.batch
        if batch is None or not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.UserRole:
            return self.number(row, column)
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column != 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def number(self, row: int, column: int) -> float:
        batch = self.batch
        assert batch is not None
        values = (batch.indices, batch.actions, batch.rewards, batch.dones, batch.q, batch.targets)
        if column == TD_COLUMN:
            return abs(float(batch.td_errors[row]))
        return float(values[column][row])

    def text(self, row: int, column: int) -> str:
        batch = self.batch
        assert batch is not None
        if column == 0:
            return f"{int(batch.indices[row]):,}"
        if column == 1:
            action = int(batch.actions[row])
            return self.action_names[action] if action < len(self.action_names) else str(action)
        if column == 2:
            return format_value(float(batch.rewards[row]), 2)
        if column == 3:
            return "✓" if batch.dones[row] else ""
        value = (batch.q, batch.targets, batch.td_errors)[column - 4][row]
        return format_value(float(value), self._decimals, signed=column == TD_COLUMN)


def make_batch_view(model: LastBatchModel, parent: QWidget) -> QTableView:
    """A table over `model`, sortable by clicking a header, largest TD errors first."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    view = QTableView(parent)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(TD_COLUMN, Qt.SortOrder.DescendingOrder)
    view.verticalHeader().setVisible(False)
    view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
    view.setSelectionMode(QTableView.SelectionMode.NoSelection)
    view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.setToolTip("The minibatch of the last gradient step; click a header to sort")
    view.setStyleSheet("QTableView { background: white; gridline-color: #e6e6e6; }")
    return view
