"""The window's files (app.file_actions) and the unsaved-agent question (app.unsaved_question): the File menu's
actions, the recent saves, closing after a save (and not after a failed one), the question's count."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from app.file_actions import default_save_name, recent_label
from app.training_loop import Speed
from app.unsaved_question import UnsavedQuestion
from app.window import MainWindow
from tests.test_window import SMALL, WAIT_MS, dialogs, open_window, trained_steps, window  # noqa: F401 (fixtures)

Button = QMessageBox.StandardButton
DELAY_MS = 3000


class CountingWorker:
    """What the question reads of a worker: the speed the loop reports and its unsaved step count."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.speed = Speed.FAST
        self.speeds_asked: list[Speed] = []

    def unsaved_steps(self) -> int:
        return self.steps

    def set_speed(self, speed: Speed) -> None:
        self.speeds_asked.append(speed)


def test_the_question_follows_the_count_until_the_pause_lands_then_restores_the_speed(qtbot, monkeypatch):
    parent = QWidget()
    qtbot.addWidget(parent)
    worker = CountingWorker(10)
    texts: list[str] = []

    def person(box: QMessageBox) -> Button:
        texts.append(box.text())  # as it opens: the loop has not paused yet
        worker.steps = 12
        qtbot.waitUntil(lambda: "12 training steps" in box.text(), timeout=WAIT_MS)
        worker.speed, worker.steps = Speed.PAUSED, 13  # the pause lands after one more step
        qtbot.waitUntil(lambda: "13 training steps" in box.text(), timeout=WAIT_MS)
        worker.steps = 99  # cannot happen while paused; the text no longer follows
        qtbot.wait(200)
        texts.append(box.text())
        return Button.Cancel

    monkeypatch.setattr(QMessageBox, "exec", person)
    answer = UnsavedQuestion(parent, worker).ask("quit", Speed.FAST)
    assert answer == Button.Cancel
    assert "10 training steps" in texts[0] and "Save it before you quit?" in texts[0]
    assert "13 training steps" in texts[1]
    assert worker.speeds_asked == [Speed.PAUSED, Speed.FAST]


def test_nothing_unsaved_is_discarded_without_asking(qtbot, monkeypatch):
    parent = QWidget()
    qtbot.addWidget(parent)
    worker = CountingWorker(0)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: pytest.fail("asked although nothing is unsaved"))
    assert UnsavedQuestion(parent, worker).ask("quit", Speed.FAST) == Button.Discard
    assert worker.speeds_asked == []


def test_the_file_menu_holds_the_file_actions_and_an_empty_recent_list(window):  # noqa: F811
    files = window.file_actions
    assert window.open_action is files.open_action and window.save_action is files.save_action
    assert files.save_as_action.shortcut() == QKeySequence("Ctrl+Shift+S")
    file_menu = window.menuBar().actions()[0].menu()
    assert [files.open_action, files.save_action, files.save_as_action] == file_menu.actions()[:3]
    assert file_menu.actions()[3].menu() is files.recent_menu
    files.fill_recent_menu()
    assert [a.text() for a in files.recent_menu.actions()] == ["(no saves yet)"]
    window.set_speed(Speed.PAUSED)


def test_save_names_and_unreadable_recent_saves(tmp_path):
    assert default_save_name("ALE/Pong-v5", "cnn", "dqn") == "ale-pong-v5_cnn.dqn"
    assert default_save_name(str(tmp_path / "My Map.txt"), None, "qlearning") == "my-map_qlearning.dqn"
    broken = tmp_path / "gone.dqn"
    broken.write_bytes(b"not a save")
    assert recent_label(str(broken)) == "gone.dqn (unreadable)"


def test_a_failed_save_at_closing_keeps_the_window_open_and_asks_again(qtbot, dialogs, tmp_path):  # noqa: F811
    win = open_window(qtbot)
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 5, timeout=WAIT_MS)
    (tmp_path / "not-a-folder").write_text("a file")
    dialogs.question = Button.Save
    dialogs.save_path = str(tmp_path / "not-a-folder" / "agent.dqn")
    win.close()
    qtbot.waitUntil(lambda: any(title == "Cannot save" for title, _ in dialogs.warnings), timeout=WAIT_MS)
    qtbot.wait(200)
    assert win.isVisible() and win.worker.is_running()
    asked = len(dialogs.questions)
    dialogs.question = Button.Discard
    win.close()  # asked again, and this time closed without saving
    assert len(dialogs.questions) == asked + 1
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=WAIT_MS)
    assert not win.worker.is_running()


def test_the_launch_warning_never_fires_after_the_window_is_gone(qtbot, dialogs, monkeypatch):  # noqa: F811
    real, scheduled = QTimer.singleShot, []

    def slow_single_shot(ms, *rest):  # as on a busy machine: the warning is due well after the window closes
        scheduled.append(time.monotonic())
        real(DELAY_MS, *rest)

    monkeypatch.setattr(QTimer, "singleShot", slow_single_shot)
    win = MainWindow("ALE/NoSuchGame-v5", agent_overrides=SMALL, device="cpu", seed=0)
    qtbot.waitUntil(lambda: win.session is not None and bool(scheduled), timeout=WAIT_MS)
    win.close()
    destroyed = []
    win.destroyed.connect(lambda: destroyed.append(time.monotonic()))
    win.deleteLater()
    qtbot.waitUntil(lambda: bool(destroyed), timeout=WAIT_MS)
    assert destroyed[0] - scheduled[0] < DELAY_MS / 1000, "the window outlived the delay: nothing was tested"
    qtbot.wait(DELAY_MS + 300)
    assert dialogs.warnings == []
