"""Stepping back in the real window: `,` pauses and shows the step before (the view and the Q-values follow), the
Rewind panel lists what happened and the branches tried, `.` goes forward, and playing on continues from there."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.training_loop import Speed
from tests.test_window import WAIT_MS, dialogs, latest, open_window  # noqa: F401 - dialogs: autouse


def shown_step(win) -> int:
    return latest(win).episode_step


def test_step_back_try_every_action_and_play_on_from_there(qtbot, dialogs) -> None:  # noqa: F811
    win = open_window(qtbot)
    panel, dock = win.rewind.panel, win.rewind.dock
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: shown_step(win) >= 6, timeout=WAIT_MS)
    assert "Step back" in [a.text() for a in win.menuBar().actions()[1].menu().actions()]

    win.rewind.back_action.trigger()  # ","
    qtbot.waitUntil(lambda: panel.view is not None and panel.view.steps_back == 1, timeout=WAIT_MS)
    assert win.speed is Speed.PAUSED and dock.isVisible()
    assert latest(win).episode_step == panel.view.step and latest(win).evaluation is not None
    assert "1 step back" in panel.position_label.text() and panel.forward_button.isEnabled()
    assert panel.table.rowCount() == 1 and panel.table.item(0, 0).text().startswith("★")  # what happened

    panel.slider.setValue(0)  # the oldest step kept
    qtbot.waitUntil(lambda: panel.view.position == 0, timeout=WAIT_MS)
    step_back_to = panel.view.step
    assert shown_step(win) == step_back_to
    panel.action_combo.setCurrentIndex(0)  # every action
    panel.horizon.setValue(4)
    qtbot.mouseClick(panel.try_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.view.tries) == 4, timeout=WAIT_MS)
    assert panel.table.rowCount() == 5
    assert {panel.table.item(row, 0).text() for row in range(1, 5)} == {"UP", "RIGHT", "DOWN", "LEFT"}
    assert all(int(panel.table.item(row, 2).text()) <= 4 for row in range(1, 5))

    win.single_step()  # ".": forward through what happened, still paused
    qtbot.waitUntil(lambda: panel.view.position == 1, timeout=WAIT_MS)
    assert shown_step(win) == step_back_to + 1 and panel.view.tries == ()

    win.set_speed(Speed.NORMAL)  # play on from there: the later steps give way to new ones
    qtbot.waitUntil(lambda: panel.view.at_present and shown_step(win) >= step_back_to + 2, timeout=WAIT_MS)
    assert not panel.forward_button.isEnabled()
    win.close()
