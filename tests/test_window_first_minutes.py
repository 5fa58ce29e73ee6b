"""The window as a new user meets it: what a first launch opens, what comes back on the next, the questions
and the title a desktop program has, and a layout that always shows the panels."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QFileDialog, QMessageBox

from agents.factory import AgentSpec
from agents.runner import Mode
from app.launch_choices import DEFAULT_ENV, FIRST_RUN_HINT
from app.window import MainWindow
from app.worker import Speed
from tests.test_window import SMALL, WAIT_MS, dialogs, open_window, window  # noqa: F401 (fixtures)

Button = QMessageBox.StandardButton


def launch_window(qtbot, env_id: str | None = None, load_path: str | None = None, **options) -> MainWindow:
    """A window as `dqn-arcade` starts it: nothing chosen for it but what the command line says."""
    win = MainWindow(env_id, load_path, agent_overrides=SMALL, device="cpu", seed=0, **options)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.session is not None and win.game_view.frame is not None, timeout=WAIT_MS)
    return win


def close(win: MainWindow) -> None:
    win.set_speed(Speed.PAUSED)
    win.close()


def test_a_first_launch_learns_four_rooms_with_the_mlp_at_fast_speed(qtbot):
    win = launch_window(qtbot)
    assert win.session.env_id == DEFAULT_ENV == "gridworld/four-rooms"
    assert (win.session.agent_kind, win.session.network) == ("dqn", "mlp")
    assert win.speed is Speed.FAST and win.worker.speed is Speed.FAST
    assert win.statusBar().currentMessage() == FIRST_RUN_HINT
    close(win)


def test_the_next_launch_comes_back_paused_with_the_same_agent(qtbot):
    win = open_window(qtbot, network="attention")
    win.set_speed(Speed.PAUSED)
    qtbot.waitUntil(lambda: win.worker.speed is Speed.PAUSED, timeout=WAIT_MS)
    win.close()
    again = launch_window(qtbot)
    assert again.session.network == "attention"
    assert again.speed is Speed.PAUSED and again.speed_actions[Speed.PAUSED].isChecked()
    qtbot.waitUntil(lambda: again.worker.speed is Speed.PAUSED, timeout=WAIT_MS)
    steps = again.worker.status().loop_steps
    qtbot.wait(400)
    assert again.worker.status().loop_steps == steps  # really paused, not just labelled so
    assert "paused" in again.stats_label.text() and "steps/s" not in again.stats_label.text()
    assert again.training_panel.speed_label.text() == "paused"  # the panel reads the same as the status bar
    again.close()


def test_a_bad_env_at_launch_says_so_once_and_opens_the_default(qtbot, dialogs):  # noqa: F811
    win = launch_window(qtbot, "ALE/NoSuchGame-v5")
    assert win.session.env_id == DEFAULT_ENV
    qtbot.waitUntil(lambda: bool(dialogs.warnings), timeout=WAIT_MS)
    qtbot.wait(200)
    assert len(dialogs.warnings) == 1
    title, text = dialogs.warnings[0]
    assert "NoSuchGame" in text and "unknown environment" in text and "Four rooms" in text
    assert "Cannot switch" not in title
    close(win)


def test_switching_family_takes_that_familys_network(qtbot):
    win = launch_window(qtbot)
    assert win._spec_for("ALE/Pong-v5") == AgentSpec("dqn", "attention")
    assert win._spec_for("gridworld/maze") == AgentSpec("dqn", "mlp")
    close(win)


def record_dialog_order(monkeypatch, dialogs, open_path: str) -> list[str]:  # noqa: F811
    order: list[str] = []

    def question(box: QMessageBox) -> Button:
        order.append("question")
        dialogs.questions.append(box.text())
        return Button.Discard

    def get_open(*args, **kwargs):
        order.append("file dialog")
        return open_path, ""

    monkeypatch.setattr(QMessageBox, "exec", question)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", get_open)
    return order


def train_a_little(win: MainWindow, qtbot) -> None:
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: win.worker.unsaved_steps() > 50, timeout=WAIT_MS)


def test_open_and_open_map_ask_about_unsaved_training_before_the_file_dialog(window, qtbot, dialogs, monkeypatch,  # noqa: F811
                                                                             tmp_path):  # noqa: F811
    train_a_little(window, qtbot)
    order = record_dialog_order(monkeypatch, dialogs, "")
    window.open_save()
    assert order == ["question", "file dialog"]
    order.clear()
    window.open_map()
    assert order == ["question", "file dialog"]
    close(window)


def test_training_holds_still_while_the_question_is_open_and_it_states_the_final_count(window, qtbot,  # noqa: F811
                                                                                      monkeypatch):
    train_a_little(window, qtbot)
    seen = {}

    def question(box: QMessageBox) -> Button:
        if "text" in seen:
            return Button.Discard  # closing the window at the end
        qtbot.waitUntil(lambda: window.worker.speed is Speed.PAUSED, timeout=WAIT_MS)  # the box's loop runs
        final = window.worker.unsaved_steps()
        qtbot.wait(500)  # the person reads the question
        seen["grew"] = window.worker.unsaved_steps() - final
        seen["text"], seen["steps"] = box.text(), final
        return Button.Cancel

    monkeypatch.setattr(QMessageBox, "exec", question)
    window.switch_env("gridworld/maze")
    assert seen["grew"] == 0
    assert f"{seen['steps']:,} training steps" in seen["text"]  # the count when answered, not when it opened
    qtbot.waitUntil(lambda: window.worker.speed is Speed.FAST, timeout=WAIT_MS)  # cancelled: it goes on
    assert window.session.env_id != "gridworld/maze"
    close(window)


def test_the_title_names_the_save_and_marks_unsaved_training(window, qtbot, dialogs, tmp_path):  # noqa: F811
    assert window.windowTitle().startswith("Untitled[*] — DQN Arcade")
    train_a_little(window, qtbot)
    qtbot.waitUntil(window.isWindowModified, timeout=WAIT_MS)
    window.set_speed(Speed.PAUSED)
    qtbot.waitUntil(lambda: window.worker.speed is Speed.PAUSED, timeout=WAIT_MS)
    path = tmp_path / "my-agent.dqn"
    dialogs.save_path = str(path)
    window.save()
    qtbot.waitUntil(path.exists, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.isWindowModified(), timeout=WAIT_MS)
    assert window.windowTitle().startswith("my-agent.dqn[*] — DQN Arcade")
    window.set_speed(Speed.FAST)
    qtbot.waitUntil(window.isWindowModified, timeout=WAIT_MS)
    close(window)


def test_a_trained_agent_opens_in_agent_play_without_the_first_run_hint(qtbot):
    from agents.shipped import shipped_agents

    pong = shipped_agents()[0]
    win = launch_window(qtbot)  # a first launch: the hint is shown for the agent learning four rooms
    assert win.statusBar().currentMessage() == FIRST_RUN_HINT
    win.open_trained_agent(str(pong.path))
    qtbot.waitUntil(lambda: win.session.env_id == pong.env_id, timeout=WAIT_MS)
    assert win.mode is Mode.PLAY and win.mode_actions[Mode.PLAY].isChecked()
    qtbot.waitUntil(lambda: win.worker.mode is Mode.PLAY, timeout=WAIT_MS)
    assert re.match(r"pong-cnn\.dqn \(read-only\)\[\*\] — DQN Arcade", win.windowTitle())
    session = win.session.session_id
    win.new_agent_action.trigger()  # an untrained agent after it learns: Agent play was the shipped agent's
    qtbot.waitUntil(lambda: win.session.session_id > session, timeout=WAIT_MS)
    assert win.mode is Mode.TRAIN and win.mode_actions[Mode.TRAIN].isChecked()
    qtbot.waitUntil(lambda: win.worker.mode is Mode.TRAIN, timeout=WAIT_MS)
    close(win)


def test_opening_a_trained_agent_on_a_first_launch_shows_no_hint(qtbot):
    from agents.shipped import shipped_agents

    win = launch_window(qtbot, load_path=str(shipped_agents()[0].path))
    assert win.statusBar().currentMessage() != FIRST_RUN_HINT
    assert win.mode is Mode.PLAY  # opened from the command line too, a shipped agent is for watching
    close(win)


def test_reset_layout_brings_every_panel_back(window, qtbot):  # noqa: F811
    window.docks["Replay buffer"].hide()
    window.docks["Attention"].setFloating(True)
    window.toolbars[1].hide()
    window.view_menu.actions()  # the action lives in the View menu
    reset = next(a for a in window.view_menu.actions() if a.text() == "Reset layout")
    reset.trigger()
    for title, dock in window.docks.items():
        assert dock.isVisible() == (title != "Comparison") and not dock.isFloating()  # no comparison runs
    assert all(bar.isVisible() for bar in window.toolbars)
    close(window)


def test_a_window_grown_after_shrinking_shows_every_panel(window, qtbot):  # noqa: F811
    window.resize(800, 550)
    qtbot.wait(300)
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: not window.window_layout.hidden_panels(), timeout=WAIT_MS)
    shown = [title for title, dock in window.docks.items() if dock.isVisible()]
    # Comparison waits for a comparison; Rewind is a tab behind Training
    assert shown == ["Q-values", "Attention", "Training", "Replay buffer", "Rewind"]
    assert window.docks["Rewind"] in window.tabifiedDockWidgets(window.docks["Training"])
    for title in shown:
        assert window.docks[title].height() >= 110 and window.docks[title].width() >= 160
    close(window)


def test_a_collapsed_layout_is_not_restored_on_a_roomy_window(qtbot):
    win = open_window(qtbot)
    win.resize(800, 550)
    qtbot.wait(300)
    win.close()
    again = open_window(qtbot)
    again.resize(1600, 1000)
    qtbot.waitUntil(lambda: not again.window_layout.hidden_panels(), timeout=WAIT_MS)
    close(again)
