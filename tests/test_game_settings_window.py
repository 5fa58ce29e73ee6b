"""The window's Game settings: choose an Atari game's mode, difficulty, sticky actions and action set, and the new
agent plays them; the Q-values, the key help and the status bar follow, and a save brings them back."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QMessageBox

from agents.checkpoint import read_save_info
from agents.envs.game_options import GameOptions
from agents.factory import AgentSpec
from app.game_settings import GameSettingsDialog
from app.launch_choices import GAME_KEY, launch_choice, remember_game, remembered_game
from app.settings import app_settings
from app.worker import Speed
from tests.test_window import WAIT_MS, dialogs, open_window, train_then_save, trained_steps  # noqa: F401

PONG = "ALE/Pong-v5"
BREAKOUT = "ALE/Breakout-v5"
Button = QMessageBox.StandardButton
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


def test_ok_with_unchanged_settings_keeps_the_agent_and_a_change_goes_through_start_session(qtbot, dialogs,  # noqa: F811
                                                                                              monkeypatch):
    win = open_window(qtbot, env_id=PONG, network="cnn")
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 5, timeout=WAIT_MS)
    session = win.session.session_id
    shown = choose_in_dialog(monkeypatch)  # OK without changing anything
    win.game_settings.action.trigger()
    assert shown and not dialogs.questions  # no question: nothing would be lost
    qtbot.wait(300)
    assert win.session.session_id == session and trained_steps(win) > 5
    started = []
    win.start_session = lambda *args, **kwargs: started.append((args, kwargs)) or True
    choose_in_dialog(monkeypatch, mode=1, difficulty=2, sticky=0.1, full_action_space=True)
    win.game_settings.action.trigger()
    del win.start_session
    assert started == [((PONG, win.spec), {"game": FULL})]
    win.close()


def test_start_session_is_cancelled_by_the_question_or_starts_the_game_asked(qtbot, dialogs):  # noqa: F811
    win = open_window(qtbot, env_id=PONG, network="cnn")
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: trained_steps(win) > 5, timeout=WAIT_MS)
    session = win.session.session_id
    dialogs.question = Button.Cancel
    assert not win.start_session(PONG, AgentSpec("dqn", "cnn"), FULL)
    assert win.session.session_id == session and dialogs.questions
    dialogs.question = Button.Discard
    assert win.start_session(PONG, AgentSpec("dqn", "cnn"), FULL)
    qtbot.waitUntil(lambda: game_options(win) == FULL, timeout=WAIT_MS)
    win.close()


def test_the_settings_chosen_for_a_game_come_back_at_the_next_launch(qtbot, dialogs, monkeypatch):  # noqa: F811
    win = open_window(qtbot, env_id=PONG, network="cnn")
    choose_in_dialog(monkeypatch, mode=1, difficulty=2, sticky=0.1, full_action_space=True)
    win.game_settings.action.trigger()
    qtbot.waitUntil(lambda: game_options(win) == FULL, timeout=WAIT_MS)
    win.close()
    store = app_settings()
    store.setValue(GAME_KEY.format(env_id=BREAKOUT), "mode=99")  # a mode Breakout does not have
    store.sync()
    again = open_window(qtbot, env_id=PONG, network="cnn")
    assert game_options(again) == FULL and again.game_settings.label.text() == FULL_SUMMARY
    again.switch_env(BREAKOUT)
    qtbot.waitUntil(lambda: again.session.env_id == BREAKOUT, timeout=WAIT_MS)
    assert game_options(again) == GameOptions(sticky=0.25)  # dropped silently: the game's defaults
    assert not dialogs.warnings and not app_settings().contains(GAME_KEY.format(env_id=BREAKOUT))
    again.close()


def test_a_game_given_at_launch_starts_the_first_agent(qtbot, dialogs):  # noqa: F811
    win = open_window(qtbot, env_id=PONG, network="cnn", game=GameOptions(mode=1, full_action_space=True))
    assert game_options(win) == GameOptions(mode=1, sticky=0.25, full_action_space=True)
    assert len(win.q_values_panel.bars.names) == 18
    win.close()


def test_launch_choice_checks_the_game_asked_and_forgets_a_remembered_one_that_no_longer_fits(tmp_path):
    store = QSettings(str(tmp_path / "choices.ini"), QSettings.Format.IniFormat)
    choice = launch_choice(store, "gridworld/maze", None, GameOptions(mode=1))
    assert choice.game is None and "Atari games only" in choice.notice and "\n" not in choice.notice
    choice = launch_choice(store, PONG, None, GameOptions(mode=7))
    assert choice.game is None and "no mode 7" in choice.notice
    remember_game(store, PONG, FULL)
    assert remembered_game(store, PONG) == FULL and launch_choice(store, PONG, None).game == FULL
    key = GAME_KEY.format(env_id=PONG)
    for stale in ("mode=7", "mode=banana", "colour=red"):
        store.setValue(key, stale)
        choice = launch_choice(store, PONG, None)
        assert choice.game is None and choice.notice is None and not store.contains(key)


def test_gui_passes_game_to_the_window_and_refuses_a_bad_one_in_one_line(monkeypatch, capsys):
    from app import cli

    seen = {}
    monkeypatch.setattr("app.window.launch", lambda env, load, **options: seen.update(env=env, **options) or 0)
    assert cli.main(["gui", "--env", PONG, "--game", "mode=1,difficulty=2", "--game", "sticky=0.1,actions=full"]) == 0
    assert seen == {"env": PONG, "in_process": False, "game": FULL, "watch": None}
    assert cli.main(["gui"]) == 0 and seen["game"] is None
    for bad in (["gui", "--game", "mode=two"], ["gui", "--load", "agent.dqn", "--game", "mode=1"]):
        assert cli.main(bad) == 2
        error = capsys.readouterr().err
        assert error.startswith("dqn-arcade: error:") and error.count("\n") == 1
