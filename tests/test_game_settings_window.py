"""The window's Game settings: choose an Atari game's mode, difficulty, sticky actions and action set, and the new
agent plays them; the Q-values, the key help and the status bar follow, and a save brings them back."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from agents.checkpoint import read_save_info
from agents.envs.game_options import GameOptions
from app.game_settings import GameSettingsDialog
from app.worker import Speed
from tests.test_window import WAIT_MS, dialogs, open_window, train_then_save, trained_steps  # noqa: F401

PONG = "ALE/Pong-v5"
FULL = GameOptions(mode=1, difficulty=2, sticky=0.1, full_action_space=True)
FULL_SUMMARY = "mode 1 · difficulty 2 · sticky 0.1 · full actions"


def choose_in_dialog(monkeypatch, **choices) -> list[GameSettingsDialog]:
    """The dialog opens as for a person, who picks `choices` and presses OK."""
    shown: list[GameSettingsDialog] = []

    def exec_(dialog: GameSettingsDialog) -> int:
        shown.append(dialog)
        dialog.choose(**choices)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(GameSettingsDialog, "exec", exec_)
    return shown


def game_options(win):
    return win.session.description.game_options


def test_game_settings_start_a_full_action_pong_with_18_q_values(qtbot, dialogs, monkeypatch):  # noqa: F811
    win = open_window(qtbot, env_id=PONG, network="cnn")
    assert win.game_settings.action.isEnabled()
    assert win.game_settings.label.text() == "default mode · default difficulty · sticky 0.25 · minimal actions"
    assert len(win.q_values_panel.bars.names) == 6
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 5, timeout=WAIT_MS)
    shown = choose_in_dialog(monkeypatch, mode=1, difficulty=2, sticky=0.1, full_action_space=True)
    win.game_settings.action.trigger()
    assert [shown[0].mode_combo.itemText(i) for i in range(shown[0].mode_combo.count())] == ["default", "0", "1"]
    assert shown[0].difficulty_combo.count() == 5  # default, 0-3: Pong's own list
    assert dialogs.questions and "not saved" in dialogs.questions[-1]  # the usual question came first
    qtbot.waitUntil(lambda: game_options(win) == FULL, timeout=WAIT_MS)
    assert len(win.session.description.action_names) == 18
    assert len(win.q_values_panel.bars.names) == 18
    assert win.q_values_panel.bars.names[:3] == ("NOOP", "FIRE", "UP")
    assert len(win.keymap.bindings()) == 18 and ("↑/W", "UP") in win.keymap.bindings()
    assert win.game_settings.label.text() == FULL_SUMMARY and win.game_settings.label.isVisible()
    qtbot.waitUntil(lambda: win.q_values_panel.values().shape == (18,), timeout=WAIT_MS)
    win.set_speed(Speed.PAUSED)  # paused, the new agent's step count stays 0 long enough to be seen
    win.new_agent_action.trigger()  # another agent on the same game keeps its settings
    qtbot.waitUntil(lambda: win.session.session_id > 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: trained_steps(win) == 0, timeout=WAIT_MS)
    assert game_options(win) == FULL
    win.close()


def test_game_settings_are_saved_and_come_back_when_the_save_opens(qtbot, dialogs, monkeypatch,  # noqa: F811
                                                                     tmp_path):
    win = open_window(qtbot, env_id="ALE/Breakout-v5", network="cnn")
    choose_in_dialog(monkeypatch, mode=4, difficulty=1, sticky=0.0, full_action_space=True)
    win.game_settings.action.trigger()
    qtbot.waitUntil(lambda: game_options(win).mode == 4, timeout=WAIT_MS)
    train_then_save(win, qtbot, dialogs, str(tmp_path / "breakout"))
    saved = GameOptions(mode=4, difficulty=1, sticky=0.0, full_action_space=True)
    assert read_save_info(tmp_path / "breakout.dqn").game_options == saved
    win.game_settings.start(GameOptions())  # back to the defaults, then open the save
    qtbot.waitUntil(lambda: game_options(win) == GameOptions(sticky=0.25), timeout=WAIT_MS)
    assert win.game_settings.label.text() == "default mode · default difficulty · sticky 0.25 · minimal actions"
    win.load(str(tmp_path / "breakout.dqn"))
    qtbot.waitUntil(lambda: game_options(win) == saved, timeout=WAIT_MS)
    assert win.game_settings.label.text() == "mode 4 · difficulty 1 · sticky 0 · full actions"
    assert len(win.q_values_panel.bars.names) == 18
    win.close()


def test_gridworlds_have_no_game_settings(qtbot):
    win = open_window(qtbot)
    assert not win.game_settings.action.isEnabled()
    assert not win.game_settings.label.isVisible() and win.game_settings.dialog() is None
    win.close()
