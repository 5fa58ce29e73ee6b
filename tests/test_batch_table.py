"""The replay panel's Last batch table: the rows of the last minibatch, largest TD errors first, and in the
real window after training."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from agents.types import SampledBatch
from app.panels.batch_table import TD_COLUMN, LastBatchModel, make_batch_view
from app.training_loop import Speed
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 - dialogs: autouse

BATCH = SampledBatch(indices=np.array([5, 9, 2]), actions=np.array([0, 1, 1]),
                     rewards=np.array([0.0, 1.0, -1.0], np.float32), dones=np.array([False, True, False]),
                     q=np.array([0.5, 0.2, 0.1], np.float32), targets=np.array([0.6, 1.0, -0.9], np.float32))


def shown_column(view, column: int) -> list[str]:
    model = view.model()
    return [model.data(model.index(row, column)) for row in range(model.rowCount())]


def test_rows_come_largest_td_error_first_and_sort_by_any_column(qtbot) -> None:
    model = LastBatchModel()
    model.set_action_names(("LEFT", "RIGHT"))
    view = make_batch_view(model, None)
    qtbot.addWidget(view)
    model.set_batch(BATCH)
    assert shown_column(view, 0) == ["2", "9", "5"]  # |TD| 1.0, 0.8, 0.1
    assert shown_column(view, TD_COLUMN) == ["-1.00", "+0.80", "+0.10"]
    assert shown_column(view, 1) == ["RIGHT", "RIGHT", "LEFT"] and shown_column(view, 3) == ["", "✓", ""]
    view.sortByColumn(4, Qt.SortOrder.AscendingOrder)  # by Q(s, a)
    assert shown_column(view, 4) == ["0.10", "0.20", "0.50"]
    assert shown_column(view, 0) == ["2", "9", "5"]
    model.set_batch(None)
    assert view.model().rowCount() == 0


def test_the_window_lists_the_last_minibatch(qtbot) -> None:
    win = open_window(qtbot)
    win.set_speed(Speed.FAST)
    panel = win.replay_panel
    qtbot.waitUntil(lambda: panel.batch_model.batch is not None, timeout=WAIT_MS)
    batch = panel.batch_model.batch
    assert len(batch.indices) == win.session.config.batch_size == panel.batch_table.model().rowCount()
    assert (batch.indices >= 0).all() and (batch.indices < win.session.config.buffer_size).all()
    top = panel.batch_table.model()
    sizes = [top.data(top.index(row, TD_COLUMN), Qt.ItemDataRole.UserRole) for row in range(top.rowCount())]
    assert sizes == sorted(sizes, reverse=True)
    assert panel.tabs.tabText(1) == "Last batch"
    win.close()
