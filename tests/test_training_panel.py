"""The training curves: a save's past drawn on opening, one episode count everywhere, readable plots and ticks.

Panel tests feed ViewFrames and PastCurves straight in; the window tests open real saves (one made by
`dqn-arcade train`, one policy-only, one foreign model) in the real window, offscreen.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from agents.checkpoint import load_agent, save_agent
from agents.envs.registry import EnvDescription
from agents.history import PastCurves, past_curves
from agents.runner import Mode, StepSnapshot
from agents.types import EpisodeStats, UpdateStats
from app.cli import main
from app.panels.training import (
    EMPTY_X_SPAN,
    MIN_PLOT_SIZE,
    NO_PAST_TEXT,
    TrainingPanel,
    epsilon_top,
    plot_columns,
    tick_label,
)
from app.view_frame import ViewFrame
from app.worker import Speed
from tests.test_window import ENV, WAIT_MS, Dialogs, open_window, sb3_shaped_zip

GRID = EnvDescription("gridworld/open-room", "gridworld", "Open room", ("UP", "RIGHT", "DOWN", "LEFT"),
                      (4, 7, 7), 1)
TRAIN_ARGS = ("--set", "learning_starts=30", "--set", "buffer_size=300", "--set", "batch_size=8",
              "--set", "train_frequency=2", "--set", "hidden_dim=16", "--set", "target_network_frequency=50")


@pytest.fixture(autouse=True)
def dialogs(tmp_path, monkeypatch) -> Dialogs:
    """Own settings file and working directory; no dialog ever blocks (as in tests/test_window.py)."""
    monkeypatch.setenv("DQN_ARCADE_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.chdir(tmp_path)
    answers = Dialogs()
    monkeypatch.setattr(QMessageBox, "exec", lambda box: answers.question)  # the unsaved-agent question
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda parent, title, text, *a, **k: answers.warnings.append((title, text)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (answers.save_path, ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (answers.open_path, ""))
    return answers


def frame(step: int, *, epsilon: float = 0.5, returns: tuple[float, ...] = (), losses: tuple[float, ...] = (),
          episode: int = 0, finished: bool = False) -> ViewFrame:
    snapshot = StepSnapshot(
        frame=np.zeros((8, 8, 3), np.uint8), observation=np.zeros(GRID.obs_shape, np.uint8), evaluation=None,
        action=0, action_name="UP", reward=0.0, terminated=finished, truncated=False, episode=episode,
        episode_step=3, episode_return=0.0, total_steps=step, epsilon=epsilon, mode=Mode.TRAIN, update=None,
        finished=EpisodeStats(episode, 1.0, 3, None) if finished else None)
    return ViewFrame(snapshot=snapshot, description=GRID, agent_kind="dqn", network="mlp",
                     new_episodes=tuple(EpisodeStats(i, r, 10, None) for i, r in enumerate(returns)),
                     new_updates=tuple((step, UpdateStats(loss, 1.0)) for loss in losses),
                     steps_per_second=100.0, replay=None)


def new_panel(qtbot, size: tuple[int, int] = (900, 520)) -> TrainingPanel:
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.refresh_interval = 0.0
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    panel.reset(GRID, "dqn", "mlp")
    return panel


def axis_labels(panel: TrainingPanel, key: str, name: str = "left") -> list[str]:
    """The major tick texts the axis draws for its current range and length."""
    plot = panel.plots[key]
    axis = plot.getAxis(name)
    low, high = plot.getViewBox().viewRange()[1 if name == "left" else 0]
    length = plot.getViewBox().height() if name == "left" else plot.getViewBox().width()
    spacing, values = axis.tickValues(low, high, length)[0]
    return axis.tickStrings(values, 1.0, spacing)


# -------------------------------------------------------------------------------------------- the past


@pytest.mark.parametrize("size", [(900, 520), (340, 264)], ids=["grid", "one-column-scrolled"])
def test_a_saves_past_is_drawn_before_its_first_new_step(qtbot, size) -> None:
    panel = new_panel(qtbot, size)  # scrolled: the epsilon plot that leads the x range is out of view
    returns = np.linspace(-1, 1, 50)
    curves = PastCurves(episode_steps=np.arange(1, 51) * 10.0, episode_returns=returns,
                        update_steps=np.arange(100, 500, 4.0), losses=np.full(100, 0.2), mean_qs=np.ones(100),
                        epsilon_steps=np.arange(1, 501.0), epsilons=np.linspace(1, 0.05, 500))
    panel.show_history(curves, 500)
    qtbot.wait(20)  # ranges follow the data at the next paint
    assert panel.curve_lengths() == {"return": 50, "average": 50, "loss": 100, "epsilon": 500, "mean_q": 100}
    np.testing.assert_array_equal(panel.curve_data("return")[1], returns)
    assert panel.curve_data("average")[1][-1] == pytest.approx(returns[-20:].mean())
    assert panel.episodes_label.text() == "50 episodes · step 500"
    assert not any(panel.empty_note_visible(key) for key in panel.plots)
    low, high = panel.plots["return"].getViewBox().viewRange()[0]
    assert low <= 10 and 500 <= high < 600, "the x axis spans the save's run"
    panel.show_frame(frame(501, epsilon=0.05, returns=(2.0,), episode=50, finished=True))
    assert panel.curve_lengths()["return"] == 51
    assert panel.episodes_label.text() == "51 episodes · step 501"


def test_no_past_and_no_steps_is_an_empty_state_not_a_broken_axis(qtbot) -> None:
    panel = new_panel(qtbot)
    panel.show_history(None, 462_000)  # a policy-only save or an imported model: steps, but no curves
    panel.show_frame(frame(462_000, epsilon=0.05))
    qtbot.wait(20)
    for key in ("return", "loss", "mean_q"):
        assert panel.empty_note_visible(key)
        assert not panel.plots[key].getAxis("left").style["showValues"]
    low, high = panel.plots["epsilon"].getViewBox().viewRange()[0]
    assert low <= 0 and high >= 462_000, "not 462,000 ± 0.5"
    labels = axis_labels(panel, "epsilon", "bottom")
    assert labels and all(re.fullmatch(r"-?[\d,]+k?", text) for text in labels), labels
    assert not panel.empty_note_visible("epsilon")


def test_switching_agents_forgets_the_old_ranges(qtbot) -> None:
    panel = new_panel(qtbot)
    for i in range(1, 40):
        panel.show_frame(frame(100 * i, returns=(1500.0 * (-1) ** i,), losses=(0.0004 + 0.0001 * (i % 3),)))
    qtbot.wait(20)
    assert max(panel.plots["return"].getViewBox().viewRange()[1]) >= 1500
    loss_axis = panel.plots["loss"].getAxis("left")
    assert loss_axis.autoSIPrefixScale == 1.0 and "x0.001" not in loss_axis.labelString()
    assert any(text.startswith("0.000") for text in axis_labels(panel, "loss")), axis_labels(panel, "loss")
    panel.reset(GRID, "qlearning", None)
    qtbot.wait(20)
    for key in ("return", "loss", "mean_q", "epsilon"):
        assert panel.empty_note_visible(key)
        assert not panel.plots[key].getAxis("left").style["showValues"]
    for key in ("return", "loss", "mean_q"):
        assert panel.plots[key].getViewBox().viewRange()[1] == [0.0, 1.0], key
    low, high = panel.plots["epsilon"].getViewBox().viewRange()[0]
    assert low <= 0 and high <= EMPTY_X_SPAN * 1.1
    panel.show_frame(frame(1, epsilon=1.0))
    panel.show_frame(frame(2, epsilon=1.0, returns=(-3.0,)))
    qtbot.wait(20)
    low, high = panel.plots["return"].getViewBox().viewRange()[1]
    assert low <= -3 <= high and high - low < 100, "the new agent's first return sets the range"


def test_an_epsilon_of_005_is_labelled_005(qtbot) -> None:
    panel = new_panel(qtbot)
    for step in range(1000, 1010):
        panel.show_frame(frame(step, epsilon=0.05))
    qtbot.wait(20)
    low, high = panel.plots["epsilon"].getViewBox().viewRange()[1]
    assert low <= 0 and 0.05 < high <= 0.11, "0.05 sits on the axis, not at '0' of -0.45..0.55"
    major, _ = panel.plots["epsilon"].getAxis("left")._tickLevels
    assert (0.05, "0.05") in major, major
    assert "0.05" in panel.plots["epsilon"].titleLabel.text


def test_tick_labels_fit_their_values() -> None:
    assert [tick_label(v, 0.05) for v in (0.0, 0.05, 0.1)] == ["0", "0.05", "0.10"]
    assert tick_label(0.25, 0.25) == "0.25" and tick_label(-1500, 500) == "-1,500"
    assert tick_label(462_000, 50_000) == "462k" and tick_label(2_500_000, 500_000) == "2.5M"
    assert tick_label(1.2e-5, 2e-6) == "1.2e-05" and tick_label(1e-17, 0.2) == "0"
    assert tick_label(0.0004, 0.0001) == "0.0004"
    assert epsilon_top(1.0) == 1.0 and epsilon_top(0.05) == 0.1 and epsilon_top(0.0) == 0.01


def test_plots_keep_a_readable_size_in_any_dock_shape(qtbot) -> None:
    assert plot_columns(1200, 300) == 4 and plot_columns(900, 520) == 2 and plot_columns(450, 800) == 1
    panel = new_panel(qtbot, (880, 280))  # the old default: four plots of about 40 px each
    for i in range(1, 20):
        panel.show_frame(frame(10 * i, returns=(float(i),), losses=(0.5,)))
    qtbot.wait(50)
    for key, widget in panel.plot_widgets.items():
        assert widget.height() >= MIN_PLOT_SIZE[1], key
        assert panel.plots[key].getViewBox().height() >= 70, key
    assert len(axis_labels(panel, "loss")) <= 6, "ticks fit the plot's height"
    panel.resize(1300, 300)
    qtbot.waitUntil(lambda: panel.columns == 4)
    qtbot.waitUntil(lambda: not panel.scroll.verticalScrollBar().isVisible())


# ------------------------------------------------------------------------------------------ the window


def parse_counts(win) -> tuple[int, int]:
    """(episodes in the status bar, episodes in the training panel)."""
    status = re.search(r"episodes ([\d,]+)", win.stats_label.text())
    panel = re.match(r"([\d,]+) episodes", win.training_panel.episodes_label.text())
    assert status and panel, (win.stats_label.text(), win.training_panel.episodes_label.text())
    return int(status.group(1).replace(",", "")), int(panel.group(1).replace(",", ""))


def test_a_save_made_by_train_opens_with_its_curves_counts_and_replay(qtbot, tmp_path, capsys) -> None:
    save = tmp_path / "room.dqn"
    assert main(["train", "--env", ENV, "--net", "mlp", "--steps", "400", "--seed", "1", "--save", str(save),
                 "--quiet", "--save-replay", *TRAIN_ARGS]) == 0
    capsys.readouterr()
    saved = load_agent(save, with_replay=True).agent
    expected = past_curves(saved)
    assert expected.episodes >= 2
    win = open_window(qtbot, load_path=str(save))
    win.set_speed(Speed.PAUSED)
    panel = win.training_panel
    qtbot.waitUntil(lambda: panel.curve_lengths()["return"] >= expected.episodes, timeout=WAIT_MS)
    for widget in panel.plot_widgets.values():  # at the window's default size: readable, scrolled if need be
        assert widget.height() >= MIN_PLOT_SIZE[1]
    np.testing.assert_array_equal(panel.curve_data("return")[1][:expected.episodes], expected.episode_returns)
    assert panel.curve_lengths()["loss"] >= len(expected.update_steps) > 50
    assert win.session.step_count >= 400
    qtbot.waitUntil(lambda: "episodes" in win.stats_label.text(), timeout=WAIT_MS)
    status, shown = parse_counts(win)
    assert status == shown >= expected.episodes
    qtbot.waitUntil(lambda: win.replay_panel.stored() == len(saved.replay), timeout=WAIT_MS)
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: win.worker.trained_steps() > 450, timeout=WAIT_MS)
    win.set_speed(Speed.PAUSED)
    qtbot.wait(300)
    win._show_stats()  # what a refresh shows for the frame on screen
    status, shown = parse_counts(win)
    assert status == shown
    win.close()


def test_a_policy_only_save_without_curves_opens_with_sane_empty_ones(qtbot, tmp_path) -> None:
    save = tmp_path / "room.dqn"
    assert main(["train", "--env", ENV, "--net", "mlp", "--steps", "120", "--seed", "1", "--save", str(save),
                 "--quiet", *TRAIN_ARGS]) == 0
    loaded = load_agent(save).agent
    loaded.episodes.clear()  # a shipped agent made before histories: steps, but no curves at all
    loaded.history.progress = type(loaded.history.progress)(loaded.history.progress.columns)
    loaded.history.updates = type(loaded.history.updates)(loaded.history.updates.columns)
    policy = save_agent(tmp_path / "policy.dqn", loaded, env_id=ENV, policy_only=True)
    win = open_window(qtbot, load_path=str(policy))
    win.set_speed(Speed.PAUSED)
    panel = win.training_panel
    qtbot.waitUntil(lambda: panel.curve_lengths()["epsilon"] >= 1, timeout=WAIT_MS)
    for key in ("return", "loss", "mean_q"):
        assert panel.empty_note_visible(key)
    # 120 steps of training lie behind it: "no gradient updates yet" would be untrue
    assert panel.empty_notes["loss"].text() == panel.empty_notes["mean_q"].text() == NO_PAST_TEXT
    low, high = panel.plots["epsilon"].getViewBox().viewRange()[0]
    assert low <= 0 and high >= 120
    assert parse_counts(win) == (0, 0)
    win.close()


def test_an_imported_sb3_model_shows_empty_curves(qtbot, tmp_path, dialogs) -> None:
    model = sb3_shaped_zip(tmp_path / "dqn-PongNoFrameskip-v4.zip")
    win = open_window(qtbot)
    dialogs.open_path = str(model)
    win.open_save()
    qtbot.waitUntil(lambda: win.session.env_id == "PongNoFrameskip-v4", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.training_panel.curve_lengths()["epsilon"] >= 1, timeout=WAIT_MS)
    panel = win.training_panel
    for key in ("return", "loss", "mean_q"):
        assert panel.empty_note_visible(key)
    assert panel.curve_lengths()["return"] == 0
    win.close()
