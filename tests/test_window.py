"""The real window, offscreen: train, switch modes, play with keys, save/load, errors, closing.

The window trains in a child process (its default), so these tests read only what the loop publishes (frames
and the status that comes with them), never the agent. Small agents keep it fast; nothing waits on wall-clock
speed, only on the loop reaching a state.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from agents.checkpoint import read_save_info
from agents.dqn import DQNAgent
from agents.factory import AgentSpec
from agents.runner import Mode
from app.process_worker import ProcessWorker
from app.settings import app_settings, recent_saves
from app.window import PLAYBACK_LIMIT, MainWindow, launch
from app.worker import Speed, ThreadWorker
from tests.window_faults import break_observe_while

SMALL = {"dqn": ("learning_starts=30", "buffer_size=300", "batch_size=8", "train_frequency=2", "hidden_dim=16",
                 "target_network_frequency=50")}
ENV = "gridworld/open-room"
WAIT_MS = 30_000
Button = QMessageBox.StandardButton


class Dialogs:
    """Answers for the modal dialogs, and a record of the warnings the window showed."""

    def __init__(self) -> None:
        self.question = Button.Discard
        self.questions: list[str] = []
        self.warnings: list[tuple[str, str]] = []
        self.save_path = ""
        self.open_path = ""


@pytest.fixture(autouse=True)
def dialogs(tmp_path, monkeypatch) -> Dialogs:
    """Own settings file and working directory (saves/ lands in tmp_path); no dialog ever blocks."""
    monkeypatch.setenv("DQN_ARCADE_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.chdir(tmp_path)
    answers = Dialogs()

    def question(box: QMessageBox) -> Button:
        answers.questions.append(box.text())
        return answers.question

    monkeypatch.setattr(QMessageBox, "exec", question)  # the unsaved-agent question (app.unsaved_question)
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda parent, title, text, *a, **k: answers.warnings.append((title, text)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (answers.save_path, ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (answers.open_path, ""))
    return answers


def open_window(qtbot, env_id: str = ENV, network: str = "mlp", **options) -> MainWindow:
    win = MainWindow(env_id, agent_overrides=SMALL, device="cpu", seed=0, agent=AgentSpec("dqn", network),
                     **options)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.session is not None and win.game_view.frame is not None, timeout=WAIT_MS)
    assert win.session.network == network
    return win


@pytest.fixture
def window(qtbot):
    win = open_window(qtbot)
    yield win
    win.close()
    assert not win.worker.is_running()


def trained_steps(win: MainWindow) -> int:
    """The agent's step count as the loop last published it."""
    return win.worker.trained_steps()


def latest(win: MainWindow):
    return win.game_view.frame.snapshot


def test_title_names_the_app_and_the_environment(window):
    assert "DQN Arcade" in window.windowTitle()
    assert window.session.description.name in window.windowTitle()
    assert window.session.env_id == ENV
    assert window.env_combo.currentText() == ENV


def test_training_updates_the_panels(window, qtbot):
    window.set_speed(Speed.NORMAL)  # 8 steps/s: the replay panel shows a partly filled buffer first
    qtbot.waitUntil(lambda: window.replay_panel.fill.value() > 0, timeout=WAIT_MS)
    first_fill = window.replay_panel.fill.value()
    first_curves = window.training_panel.curve_lengths()
    window.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: window.replay_panel.fill.value() > first_fill + 40, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.training_panel.curve_lengths()["loss"] > first_curves["loss"] + 5,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.training_panel.curve_lengths()["return"] >= 1, timeout=WAIT_MS)
    assert window.training_panel.curve_lengths()["epsilon"] > first_curves["epsilon"]
    frame = window.game_view.frame
    assert frame.grid_values is not None and np.isfinite(frame.grid_values).any()
    assert window.q_values_panel.values().shape == (4,)
    assert "trained steps" in window.stats_label.text()


def test_modes_switch_without_restarting_the_episode(window, qtbot):
    window.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(window) > 10, timeout=WAIT_MS)
    window.mode_actions[Mode.PLAY].trigger()
    qtbot.waitUntil(lambda: latest(window).mode is Mode.PLAY, timeout=WAIT_MS)
    steps = trained_steps(window)
    snapshot = latest(window)
    qtbot.waitUntil(lambda: latest(window).episode_step > snapshot.episode_step + 3
                    or latest(window).episode > snapshot.episode, timeout=WAIT_MS)
    assert trained_steps(window) == steps  # agent play does not learn
    window.mode_actions[Mode.TRAIN].trigger()
    qtbot.waitUntil(lambda: trained_steps(window) > steps, timeout=WAIT_MS)
    assert window.mode is Mode.TRAIN


def test_space_pauses_and_resumes(window, qtbot):
    qtbot.keyClick(window.game_view, Qt.Key.Key_Space)
    assert window.speed is Speed.PAUSED
    assert window.speed_actions[Speed.PAUSED].isChecked()
    qtbot.keyClick(window.game_view, Qt.Key.Key_Space)
    assert window.speed is not Speed.PAUSED


def test_single_step_advances_exactly_one_step(window, qtbot):
    window.set_speed(Speed.PAUSED)
    qtbot.waitUntil(lambda: window.worker.speed is Speed.PAUSED, timeout=WAIT_MS)  # the loop says it paused
    before = trained_steps(window)
    window.step_action.trigger()
    qtbot.waitUntil(lambda: latest(window).total_steps == before + 1, timeout=WAIT_MS)
    window.step_action.trigger()
    qtbot.waitUntil(lambda: latest(window).total_steps == before + 2, timeout=WAIT_MS)
    assert trained_steps(window) == before + 2
    assert window.speed is Speed.PAUSED


def test_arrow_keys_move_the_agent_in_human_play(window, qtbot):
    window.set_speed(Speed.PAUSED)
    window.mode_actions[Mode.HUMAN].trigger()
    assert window.game_view._help_visible  # the key help shows while a person plays
    qtbot.waitUntil(lambda: window.worker.mode is Mode.HUMAN and window.worker.speed is Speed.PAUSED,
                    timeout=WAIT_MS)
    trained = trained_steps(window)
    qtbot.waitUntil(lambda: latest(window).total_steps == trained, timeout=WAIT_MS)
    start = latest(window).info["position"]
    positions = []
    for key, name in ((Qt.Key.Key_Right, "RIGHT"), (Qt.Key.Key_Down, "DOWN"), (Qt.Key.Key_S, "DOWN"),
                      (Qt.Key.Key_A, "LEFT"), (Qt.Key.Key_Up, "UP")):
        previous = latest(window)
        qtbot.keyClick(window.game_view, key)
        qtbot.waitUntil(lambda p=previous, n=name: latest(window) is not p and latest(window).action_name == n,
                        timeout=WAIT_MS)
        assert latest(window).mode is Mode.HUMAN
        positions.append(latest(window).info["position"])
    assert any(position != start for position in positions)
    assert trained_steps(window) == trained  # human play is not learned from unless recorded


def test_atari_human_play_plays_every_frame_and_keeps_a_quick_tap(qtbot):
    win = open_window(qtbot, env_id="ALE/Breakout-v5", network="cnn")
    win.set_speed(Speed.PAUSED)
    win.mode_actions[Mode.HUMAN].trigger()
    qtbot.waitUntil(lambda: win.worker.mode is Mode.HUMAN and win.worker.speed is Speed.PAUSED, timeout=WAIT_MS)
    # the view catches up with the paused loop first: a training frame still on its way must not pass for
    # the human step below
    qtbot.waitUntil(lambda: latest(win).total_steps == trained_steps(win), timeout=WAIT_MS)
    qtbot.keyClick(win.game_view, Qt.Key.Key_Space)  # pressed and released while no step runs
    start = latest(win).episode_step
    win.step_action.trigger()
    qtbot.waitUntil(lambda: latest(win).mode is Mode.HUMAN and latest(win).episode_step == start + 1,
                    timeout=WAIT_MS)
    assert latest(win).action_name == "FIRE"  # the tap was kept for the next step
    shown: list[tuple[int, int]] = []
    show = win.game_view.show_frame
    win.game_view.show_frame = lambda frame: (shown.append((frame.snapshot.episode_step, id(frame.snapshot.frame))),
                                              show(frame))
    win.set_speed(Speed.NORMAL)  # the game's own pace: 15 steps/s, each with its 4 emulator frames
    qtbot.waitUntil(lambda: len({step for step, _ in shown}) >= 6, timeout=WAIT_MS)
    win.set_speed(Speed.PAUSED)
    steps = sorted({step for step, _ in shown})
    for previous, step in zip(steps[1:-2], steps[2:-1], strict=True):  # whole steps only
        # 4 pictures a step; steps that ended while the window was busy come together, with all their pictures
        assert len({picture for s, picture in shown if s == step}) == min(4 * (step - previous), PLAYBACK_LIMIT)
    win.close()


def train_then_save(win, qtbot, dialogs, save_path: str) -> None:
    """Train past 50 steps, pause, and save through the File menu to `save_path`."""
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 50, timeout=WAIT_MS)
    win.set_speed(Speed.PAUSED)
    dialogs.save_path = save_path
    win.save_action.trigger()
    qtbot.waitUntil(lambda: "Saved" in win.statusBar().currentMessage(), timeout=WAIT_MS)


def test_save_then_open_through_the_file_menu(window, qtbot, dialogs, tmp_path):
    train_then_save(window, qtbot, dialogs, str(tmp_path / "room"))
    saved = tmp_path / "room.dqn"
    assert saved.is_file()
    info = read_save_info(saved)
    assert info.env_id == ENV and info.steps >= 50
    assert recent_saves(app_settings())[0] == str(saved.resolve())
    window.file_actions.fill_recent_menu()
    assert ENV in window.file_actions.recent_menu.actions()[0].text()
    assert window.worker.unsaved_steps() == 0

    window.switch_env("gridworld/four-rooms")
    qtbot.waitUntil(lambda: window.session.env_id == "gridworld/four-rooms", timeout=WAIT_MS)
    dialogs.open_path = str(saved)
    window.open_action.trigger()
    qtbot.waitUntil(lambda: window.session.env_id == ENV and window.session.save_path == str(saved),
                    timeout=WAIT_MS)
    assert window.session.step_count == info.steps
    assert window.env_combo.currentText() == ENV


def test_a_corrupt_save_shows_the_reason_and_training_goes_on(window, qtbot, dialogs, tmp_path):
    bad = tmp_path / "broken.dqn"
    bad.write_bytes(b"this is not a zip file at all")
    session = window.session.session_id
    window.set_speed(Speed.FAST)
    dialogs.open_path = str(bad)
    window.open_action.trigger()
    qtbot.waitUntil(lambda: bool(dialogs.warnings), timeout=WAIT_MS)
    title, message = dialogs.warnings[0]
    assert "broken.dqn" in message and "\n" not in message
    assert window.session.session_id == session
    steps = trained_steps(window)
    qtbot.waitUntil(lambda: trained_steps(window) > steps, timeout=WAIT_MS)


def test_a_bad_map_file_is_reported(window, qtbot, dialogs, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("#####\n#S..#\n#..\n#####\n")
    session = window.session.session_id
    dialogs.open_path = str(bad)
    window.open_map_action.trigger()
    qtbot.waitUntil(lambda: bool(dialogs.warnings), timeout=WAIT_MS)
    assert "bad.txt" in dialogs.warnings[0][1]
    assert window.session.session_id == session
    assert window.env_combo.currentText() == ENV


def test_an_exception_in_the_loop_becomes_a_message_and_restart_recovers(qtbot, dialogs, tmp_path):
    flag = tmp_path / "break-observe"
    worker = ProcessWorker(device="cpu", agent_overrides=SMALL, seed=0,
                           child_setup=functools.partial(break_observe_while, str(flag)))
    win = open_window(qtbot, worker=worker)
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 5, timeout=WAIT_MS)
    flag.touch()  # DQNAgent.observe raises in the training process from now on
    qtbot.waitUntil(lambda: bool(dialogs.warnings), timeout=WAIT_MS)
    title, message = dialogs.warnings[0]
    assert title == "The run stopped"
    assert "RuntimeError: boom in the update" in message and "second line" not in message
    qtbot.waitUntil(lambda: win.speed is Speed.PAUSED, timeout=WAIT_MS)
    assert "boom" in win.statusBar().currentMessage()
    pid, session = win.worker.pid, win.session.session_id
    flag.unlink()
    steps = trained_steps(win)
    win.reset_action.trigger()
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > steps + 5, timeout=WAIT_MS)
    assert win.worker.pid == pid and win.session.session_id == session  # same process, same agent
    win.set_speed(Speed.PAUSED)
    win.close()


def test_the_thread_front_end_reports_a_loop_exception_too(qtbot, dialogs, monkeypatch):
    original = DQNAgent.observe

    def broken(self, transition):
        raise RuntimeError("boom in the update\nsecond line")

    win = open_window(qtbot, in_process=True)
    assert isinstance(win.worker, ThreadWorker)
    monkeypatch.setattr(DQNAgent, "observe", broken)
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: bool(dialogs.warnings), timeout=WAIT_MS)
    assert "RuntimeError: boom in the update" in dialogs.warnings[0][1]
    qtbot.waitUntil(lambda: win.speed is Speed.PAUSED, timeout=WAIT_MS)
    monkeypatch.setattr(DQNAgent, "observe", original)
    steps = trained_steps(win)
    win.reset_action.trigger()
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > steps + 5, timeout=WAIT_MS)
    win.close()
    assert not win.worker.is_running()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_training_process_is_reported_and_restart_recovers_from_the_save(qtbot, dialogs, tmp_path):
    win = open_window(qtbot)
    train_then_save(win, qtbot, dialogs, str(tmp_path / "before-kill.dqn"))
    saved_steps = read_save_info(dialogs.save_path).steps
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > saved_steps + 5, timeout=WAIT_MS)
    dead = win.worker.pid
    os.kill(dead, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(dialogs.warnings), timeout=WAIT_MS)
    title, message = dialogs.warnings[0]
    assert title == "The training process stopped"
    assert "SIGKILL" in message.splitlines()[0] and "before-kill.dqn" in message.splitlines()[0]
    assert win.speed is Speed.PAUSED and not win.worker.is_running()
    assert win.worker.unsaved_steps() == 0  # that agent is gone: nothing to ask about
    session = win.session.session_id
    win.reset_action.trigger()
    qtbot.waitUntil(lambda: win.session.session_id != session, timeout=WAIT_MS)
    assert win.worker.pid != dead and win.worker.is_running()
    assert win.session.save_path == dialogs.save_path and win.session.step_count == saved_steps
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > saved_steps + 5, timeout=WAIT_MS)
    assert len(dialogs.warnings) == 1
    win.set_speed(Speed.PAUSED)
    win.close()
    assert not win.worker.is_running()


def test_switching_agent_asks_before_discarding_training(window, qtbot, dialogs):
    window.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(window) > 5, timeout=WAIT_MS)
    session = window.session.session_id
    dialogs.question = Button.Cancel
    window.agent_actions[("qlearning", None)].trigger()
    assert dialogs.questions and window.session.session_id == session
    assert window.agent_actions[("dqn", "mlp")].isChecked()
    dialogs.question = Button.Discard
    window.agent_actions[("qlearning", None)].trigger()
    qtbot.waitUntil(lambda: window.session.agent_kind == "qlearning", timeout=WAIT_MS)
    assert window.replay_panel.no_replay_visible() or window.game_view.frame is None
    window.switch_env("ALE/Breakout-v5")  # tabular cannot play Atari: the window picks DQN
    qtbot.waitUntil(lambda: window.session.env_id == "ALE/Breakout-v5", timeout=WAIT_MS)
    assert window.session.agent_kind == "dqn"
    assert not window.agent_actions[("qlearning", None)].isEnabled()
    assert "Breakout" in window.windowTitle()


def test_closing_asks_about_unsaved_training_and_stops_the_thread(qtbot, dialogs, tmp_path):
    win = open_window(qtbot)
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 5, timeout=WAIT_MS)
    dialogs.question = Button.Cancel
    win.close()
    assert win.isVisible() and win.worker.is_running()
    dialogs.question = Button.Save
    dialogs.save_path = str(tmp_path / "at-exit.dqn")
    win.close()
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=WAIT_MS)
    assert (tmp_path / "at-exit.dqn").is_file()
    assert not win.worker.is_running()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP")
def test_closing_never_hangs_on_a_training_process_that_does_not_answer(qtbot, monkeypatch):
    win = open_window(qtbot)
    win.set_speed(Speed.PAUSED)
    monkeypatch.setattr("app.window.STOP_TIMEOUT_MS", 300)
    os.kill(win.worker.pid, signal.SIGSTOP)  # frozen: it will never read the stop command
    began = time.monotonic()
    win.close()
    assert time.monotonic() - began < 5 and not win.isVisible()
    assert not win.worker.is_running()


def test_a_bad_load_argument_falls_back_to_the_environment(qtbot, dialogs, tmp_path):
    win = MainWindow(ENV, str(tmp_path / "missing.dqn"), agent_overrides=SMALL, device="cpu",
                     agent=AgentSpec("dqn", "mlp"))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.session is not None, timeout=WAIT_MS)
    assert dialogs.warnings and "missing.dqn" in dialogs.warnings[0][1]
    assert win.session.env_id == ENV
    win.set_speed(Speed.PAUSED)
    win.close()


def test_attention_overlay_follows_the_panel_and_the_view_menu(qtbot):
    win = open_window(qtbot, network="attention")
    win.attention_panel.overlay_check.setChecked(True)
    assert win.game_view.options.attention and win.attention_action.isChecked()
    win.attention_action.trigger()
    assert not win.game_view.options.attention and not win.attention_panel.overlay_check.isChecked()
    win.set_speed(Speed.PAUSED)
    win.close()


def test_layout_and_speed_are_remembered(qtbot):
    win = open_window(qtbot)
    win.set_speed(Speed.TURBO)
    win.docks["Replay buffer"].hide()
    win.close()
    again = MainWindow(agent_overrides=SMALL, device="cpu", agent=AgentSpec("dqn", "mlp"))
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.session is not None, timeout=WAIT_MS)
    assert again.session.env_id == ENV  # the last environment
    assert again.speed is Speed.TURBO
    assert not again.docks["Replay buffer"].isVisible()
    again.set_speed(Speed.PAUSED)
    again.close()


def test_launch_runs_until_the_window_closes(qtbot):
    def close_when_running():
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow):
                if widget.session is None:
                    QTimer.singleShot(100, close_when_running)
                    return
                widget.set_speed(Speed.PAUSED)
                widget.close()

    QTimer.singleShot(100, close_when_running)
    assert launch(ENV, None) == 0


def test_trained_agents_menu_opens_the_shipped_pong_agent(window, qtbot):
    from agents.shipped import shipped_agents

    pong = next(agent for agent in shipped_agents() if agent.env_id == "ALE/Pong-v5")
    window.trained_menu.refill()
    action = next(a for a in window.trained_menu.actions() if a.data() == str(pong.path))
    assert action.text() == pong.title and action.toolTip() == pong.details
    action.trigger()
    qtbot.waitUntil(lambda: window.session.env_id == "ALE/Pong-v5", timeout=WAIT_MS)
    assert window.session.network == "cnn"
    assert window.session.save_path is None  # a shipped agent is read-only: Save asks for a new file


def test_a_first_launch_points_at_the_trained_agents(qtbot):
    from app.launch_choices import FIRST_RUN_HINT

    win = open_window(qtbot)  # the fixture's settings folder is new: this is a first launch
    assert win.statusBar().currentMessage() == FIRST_RUN_HINT
    win.close()
    again = open_window(qtbot)
    assert again.statusBar().currentMessage() != FIRST_RUN_HINT
    again.close()


def sb3_shaped_zip(path, n_actions: int = 6):
    """A file laid out as Stable-Baselines3 saves a DQN CnnPolicy (tests/test_foreign_models.py uses real SB3)."""
    import io
    import json
    import zipfile

    import torch

    shapes = {"features_extractor.cnn.0": (32, 4, 8, 8), "features_extractor.cnn.2": (64, 32, 4, 4),
              "features_extractor.cnn.4": (64, 64, 3, 3), "features_extractor.linear.0": (512, 3136),
              "q_net.0": (n_actions, 512)}
    state = {}
    for prefix in ("q_net", "q_net_target"):
        for layer, shape in shapes.items():
            state[f"{prefix}.{layer}.weight"] = torch.randn(shape) * 0.01
            state[f"{prefix}.{layer}.bias"] = torch.zeros(shape[0])
    weights = io.BytesIO()
    torch.save(state, weights)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({"num_timesteps": 1000, "exploration_final_eps": 0.05}))
        archive.writestr("policy.pth", weights.getvalue())
    return path


def test_file_open_imports_an_sb3_model_and_never_saves_over_it(window, qtbot, dialogs, tmp_path):
    model = sb3_shaped_zip(tmp_path / "dqn-PongNoFrameskip-v4.zip")
    before = model.read_bytes()
    dialogs.open_path = str(model)
    window.open_action.trigger()
    qtbot.waitUntil(lambda: window.session.env_id == "PongNoFrameskip-v4", timeout=WAIT_MS)
    assert window.session.network == "cnn" and window.session.save_path is None
    assert "Stable-Baselines3" in window.statusBar().currentMessage()
    dialogs.save_path = str(tmp_path / "imported")
    window.save_action.trigger()  # no save path yet: asks where, never over the SB3 file
    qtbot.waitUntil(lambda: (tmp_path / "imported.dqn").is_file(), timeout=WAIT_MS)
    assert model.read_bytes() == before
