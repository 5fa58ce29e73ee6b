"""The replay panel's Browse tab in the real window: it shows the newest stored transition with its frames, steps
to older ones, and its filters choose by who produced a transition (human play recorded, agent exploring)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from agents.replay import Source
from agents.runner import Mode
from app.training_loop import Speed
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 - dialogs: autouse


def test_browsing_the_buffer_and_filtering_by_source(qtbot, dialogs) -> None:  # noqa: F811
    win = open_window(qtbot)
    browser = win.replay_panel.browser
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: win.replay_panel.stored() >= 40, timeout=WAIT_MS)
    win.record_action.setChecked(True)
    win.set_mode(Mode.HUMAN)
    for _ in range(5):  # five recorded key presses: one step each
        qtbot.keyClick(win.game_view, Qt.Key.Key_Right)
        qtbot.wait(50)
    win.set_speed(Speed.PAUSED)
    qtbot.waitUntil(lambda: win.worker.speed is Speed.PAUSED, timeout=WAIT_MS)

    win.replay_panel.tabs.setCurrentIndex(2)  # Browse: the newest transition comes
    qtbot.waitUntil(lambda: browser.entry is not None, timeout=WAIT_MS)
    newest = browser.entry
    assert newest.position == newest.matching - 1 and newest.source is Source.HUMAN
    assert "RIGHT" in browser.details.text() and "human" in browser.details.text()
    assert browser.frames[0].pixmap() is not None and not browser.frames[0].pixmap().isNull()
    assert "of" in browser.position_label.text() and not browser.newer.isEnabled()

    qtbot.mouseClick(browser.older, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: browser.entry.position == newest.position - 1, timeout=WAIT_MS)

    browser.source_boxes[Source.HUMAN].setChecked(False)  # the agent's own transitions only
    qtbot.waitUntil(lambda: browser.entry.source is not Source.HUMAN, timeout=WAIT_MS)
    assert browser.entry.matching == newest.matching - 5
    for source in (Source.EXPLORING, Source.GREEDY, Source.UNKNOWN):
        browser.source_boxes[source].setChecked(False)
    qtbot.waitUntil(lambda: browser.entry is None, timeout=WAIT_MS)
    assert "None of the" in browser.position_label.text()
    win.close()
