"""The dock panels draw exactly what a ViewFrame carries, for gridworld (4 actions) and Atari (18 actions)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, Signal

from agents.envs.registry import EnvDescription
from agents.replay import ReplayBuffer
from agents.runner import Mode, StepSnapshot
from agents.types import EpisodeStats, Evaluation, UpdateStats
from app.panels.attention import NO_ATTENTION, AttentionPanel
from app.panels.q_values import QValuesPanel
from app.panels.replay import NO_REPLAY, ReplayPanel
from app.panels.training import TrainingPanel
from app.qt_image import array_to_qimage, observation_thumbnail
from app.view_frame import ViewFrame

ATARI_ACTIONS = ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
                 "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
                 "DOWNLEFTFIRE")
GRID = EnvDescription("gridworld/four-rooms", "gridworld", "Four rooms", ("UP", "RIGHT", "DOWN", "LEFT"),
                      (4, 11, 11), 1)
ATARI = EnvDescription("ALE/MsPacman-v5", "atari", "Ms. Pac-Man", ATARI_ACTIONS, (4, 84, 84), 4)


def grid_obs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A (4, H, W) observation: border walls, one agent cell, one goal, one lava cell."""
    obs = np.zeros(shape, np.uint8)
    obs[0, 0, :] = obs[0, -1, :] = obs[0, :, 0] = obs[0, :, -1] = 1
    inner = rng.integers(1, shape[1] - 1, size=(3, 2))
    for channel, (r, c) in zip((1, 2, 3), inner, strict=True):
        obs[channel, r, c] = 1
    return obs


def observation(description: EnvDescription, rng: np.random.Generator) -> np.ndarray:
    if description.kind == "gridworld":
        return grid_obs(rng, description.obs_shape)
    return rng.integers(0, 255, description.obs_shape, dtype=np.uint8)


def replay_summary(description: EnvDescription, rng: np.random.Generator, steps: int = 40):
    """A real buffer filled with `steps` transitions and sampled once."""
    buffer = ReplayBuffer(1000, description.obs_shape, frame_stack=description.frame_stack, seed=0)
    obs = observation(description, rng)
    for step in range(steps):
        next_obs = observation(description, rng)
        if description.frame_stack > 1:  # a real stack moves on by one frame
            next_obs = np.concatenate([obs[1:], next_obs[-1:]])
        done = step % 13 == 12
        buffer.add(obs, int(rng.integers(len(description.action_names))), float(rng.choice([-0.01, 1.0])),
                   next_obs, done, False)
        obs = next_obs
    buffer.sample(32)
    return buffer.summary(16)


def make_frame(description: EnvDescription, *, network: str | None = "attention", agent_kind: str = "dqn",
               step: int = 100, q: np.ndarray | None = None, heads: int = 2, evaluate: bool = True,
               episodes: int = 1, updates: int = 3, replay: bool = True, seed: int = 0) -> ViewFrame:
    rng = np.random.default_rng(seed)
    n_actions = len(description.action_names)
    q = rng.normal(size=n_actions).astype(np.float32) if q is None else q
    attention = None
    if network == "attention":
        h, w = description.obs_shape[1:] if description.kind == "gridworld" else (7, 7)
        attention = rng.dirichlet(np.ones(h * w), size=heads).reshape(heads, h, w).astype(np.float32)
    evaluation = Evaluation(q, float(q.max()), attention) if evaluate else None
    snapshot = StepSnapshot(
        frame=np.zeros((8, 8, 3), np.uint8), observation=observation(description, rng), evaluation=evaluation,
        action=int(np.argmax(q)), action_name=description.action_names[int(np.argmax(q))], reward=0.0,
        terminated=False, truncated=False, episode=3, episode_step=7, episode_return=0.5, total_steps=step,
        epsilon=max(0.05, 1 - step / 1e4), mode=Mode.TRAIN, update=None, finished=None)
    return ViewFrame(
        snapshot=snapshot, description=description, agent_kind=agent_kind, network=network,
        new_episodes=tuple(EpisodeStats(i, float(rng.normal()), 20, None) for i in range(episodes)),
        new_updates=tuple((step - i, UpdateStats(float(rng.random()), float(rng.normal())))
                          for i in range(updates)),
        steps_per_second=1234.0,
        replay=replay_summary(description, rng) if replay else None)


@pytest.fixture(params=[GRID, ATARI], ids=["gridworld", "atari"])
def description(request: pytest.FixtureRequest) -> EnvDescription:
    return request.param


# ---------------------------------------------------------------------------------------------- binding

def test_signal_emit_keeps_bool_refcounts() -> None:
    """PySide6 6.12.0 drops a reference to True on every discarded Signal.emit(); on Python < 3.12 the
    window then aborts with 'bool_dealloc' after a few thousand emits (pyqtgraph emits on every setData)."""
    class Emitter(QObject):
        fired = Signal()

    emitter = Emitter()
    before = sys.getrefcount(True)
    for _ in range(50):
        emitter.fired.emit()
    assert sys.getrefcount(True) - before >= 0, "this PySide6 build leaks bool references on Signal.emit"


# ---------------------------------------------------------------------------------------------- images

def test_array_to_qimage_copies_rgb_and_grey() -> None:
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[2, 3] = (10, 20, 30)
    image = array_to_qimage(rgb)
    rgb[:] = 0
    assert (image.width(), image.height()) == (7, 5)
    assert image.pixelColor(3, 2).getRgb()[:3] == (10, 20, 30)
    grey = np.full((4, 6), 200, np.uint8)
    assert array_to_qimage(grey).pixelColor(5, 3).red() == 200
    with pytest.raises(ValueError):
        array_to_qimage(np.zeros((2, 2, 4), np.uint8))


def test_thumbnails_of_grid_and_atari_frames() -> None:
    grid = observation_thumbnail(grid_obs(np.random.default_rng(0), (4, 10, 10)))
    assert grid.width() == grid.height() == 40
    assert observation_thumbnail(np.zeros((84, 84), np.uint8)).width() == 84


# ---------------------------------------------------------------------------------------------- Q-values

def test_q_values_bars_equal_evaluation(qtbot, description: EnvDescription) -> None:
    panel = QValuesPanel()
    qtbot.addWidget(panel)
    panel.reset(description, "dqn", "cnn")
    assert panel.highlighted() == -1
    q = np.linspace(-1, 2, len(description.action_names)).astype(np.float32)[::-1].copy()
    q[2] = 5.0
    panel.show_frame(make_frame(description, q=q, network="cnn"))
    np.testing.assert_array_equal(panel.values(), q)
    assert panel.highlighted() == 2
    assert panel.value_label.text() == "V(s) = 5.00"
    panel.resize(420, 320)
    assert not panel.grab().isNull()


def test_q_axis_grows_at_once_and_shrinks_slowly(qtbot) -> None:
    panel = QValuesPanel()
    qtbot.addWidget(panel)
    panel.reset(GRID, "dqn", "mlp")
    panel.show_frame(make_frame(GRID, q=np.array([0, 10, 0, 0], np.float32), network="mlp"))
    high = panel.bars.axis.high
    panel.show_frame(make_frame(GRID, q=np.array([0, 1, 0, 0], np.float32), network="mlp"))
    assert 0.9 * high < panel.bars.axis.high < high
    panel.show_frame(make_frame(GRID, q=np.array([0, 20, 0, 0], np.float32), network="mlp"))
    assert panel.bars.axis.high > 20


def test_q_values_keep_last_values_without_evaluation(qtbot) -> None:
    panel = QValuesPanel()
    qtbot.addWidget(panel)
    panel.reset(GRID, "qlearning", None)
    q = np.array([0.1, 0.4, 0.2, 0.3], np.float32)
    panel.show_frame(make_frame(GRID, q=q, network=None, agent_kind="qlearning"))
    panel.show_frame(make_frame(GRID, network=None, agent_kind="qlearning", evaluate=False))
    np.testing.assert_array_equal(panel.values(), q)
    assert panel.highlighted() == 1


# ---------------------------------------------------------------------------------------------- attention

def test_attention_mean_and_heads(qtbot, description: EnvDescription) -> None:
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    panel.reset(description, "dqn", "attention")
    frame = make_frame(description, heads=4)
    panel.show_frame(frame)
    attention = frame.snapshot.evaluation.attention
    assert not panel.message_visible()
    assert panel.selected_head() is None
    np.testing.assert_allclose(panel.image(), attention.mean(axis=0))
    assert panel.head_combo.count() == 5
    panel.head_combo.setCurrentIndex(3)
    assert panel.selected_head() == 2
    np.testing.assert_array_equal(panel.image(), attention[2])
    panel.show_frame(make_frame(description, heads=4, seed=1))
    assert panel.selected_head() == 2


def test_attention_message_for_other_networks(qtbot, description: EnvDescription) -> None:
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    panel.show()
    for kind, network in (("dqn", "cnn"), ("dqn", "mlp"), ("qlearning", None)):
        panel.reset(description, kind, network)
        panel.show_frame(make_frame(description, network=network, agent_kind=kind))
        assert panel.message_visible()
        assert panel.message.isVisible()
        assert panel.message_text() == NO_ATTENTION
        assert panel.image() is None


def test_attention_overlay_signal(qtbot) -> None:
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    assert not panel.overlay_enabled
    with qtbot.waitSignal(panel.overlay_toggled) as blocker:
        panel.overlay_check.setChecked(True)
    assert blocker.args == [True]
    assert panel.overlay_enabled


# ---------------------------------------------------------------------------------------------- replay

def test_replay_table_shows_recent_transitions(qtbot, description: EnvDescription) -> None:
    panel = ReplayPanel()
    qtbot.addWidget(panel)
    panel.reset(description, "dqn", "cnn")
    frame = make_frame(description)
    panel.show_frame(frame)
    summary = frame.replay
    model = panel.model
    assert model.rowCount() == len(summary.recent) == 16
    assert model.columnCount() == 5
    for row, transition in enumerate(summary.recent):
        assert model.data(model.index(row, 1)) == description.action_names[transition.action]
        assert model.data(model.index(row, 2)) == f"{transition.reward:+.2f}"
        assert model.data(model.index(row, 3)) == ("terminal" if transition.terminated else "")
        assert not model.data(model.index(row, 0), Qt.ItemDataRole.DecorationRole).isNull()
        sampled = summary.recent_sampled[row]
        assert (model.data(model.index(row, 4)) != "") == sampled
        assert (model.data(model.index(row, 1), Qt.ItemDataRole.BackgroundRole) is not None) == sampled
    assert panel.fill.value() == panel.stored() == summary.size == 40
    assert panel.fill_label.text().startswith("40 / 1,000 transitions · ")
    assert panel.histogram.counts.sum() == summary.reward_values.size
    assert not panel.no_replay_visible()


def test_replay_message_for_tabular(qtbot) -> None:
    panel = ReplayPanel()
    qtbot.addWidget(panel)
    panel.reset(GRID, "qlearning", None)
    panel.show_frame(make_frame(GRID, agent_kind="qlearning", network=None, replay=False))
    assert panel.no_replay_visible()
    assert panel.message.text() == NO_REPLAY


# ---------------------------------------------------------------------------------------------- training

def test_training_curves_grow(qtbot, description: EnvDescription) -> None:
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.refresh_interval = 0.0
    panel.reset(description, "dqn", "cnn")
    for i in range(1, 700):
        panel.show_frame(make_frame(description, step=100 * i, episodes=1, updates=2, replay=False, seed=i))
    lengths = panel.curve_lengths()
    assert lengths == {"return": 699, "average": 699, "loss": 1398, "epsilon": 699, "mean_q": 1398}
    x, y = panel.curve_data("loss")
    assert len(x) == len(y) == 1398
    returns_x, returns_y = panel.curve_data("return")
    np.testing.assert_array_equal(returns_x[:3], [100, 200, 300])
    _, average = panel.curve_data("average")
    assert average[-1] == pytest.approx(returns_y[-20:].mean())
    assert panel.episodes_label.text() == "3 episodes · step 69,900"  # the snapshot's lifetime count, as the status bar
    panel.reset(description, "dqn", "cnn")
    assert panel.curve_lengths()["loss"] == 0


def test_training_epsilon_only_when_steps_advance(qtbot) -> None:
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.reset(GRID, "dqn", "mlp")
    for _ in range(3):
        panel.show_frame(make_frame(GRID, step=500, episodes=0, updates=0, replay=False))
    assert panel.curve_lengths()["epsilon"] == 1
    assert panel.curve_lengths()["return"] == 0


def test_training_long_runs_stay_complete(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked return dots and throttled long lines still end up showing every point."""
    import app.panels.training as training

    monkeypatch.setattr(training, "DOT_CHUNK", 50)
    monkeypatch.setattr(training, "LONG_CURVE", 100)
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.refresh_interval = 0.0
    panel.reset(GRID, "dqn", "mlp")
    frames = [make_frame(GRID, step=100 * i, episodes=7, updates=30, replay=False, seed=i)
              for i in range(1, 41)]
    for frame in frames:
        panel.show_frame(frame)
    expected = [e.episode_return for frame in frames for e in frame.new_episodes]
    x, y = panel.curve_data("return")
    np.testing.assert_array_equal(y, expected)
    assert len(x) == 280 and len(panel.return_dots.chunks) == 6
    assert len(panel.curve_data("loss")[0]) < 1200, "a 1,200-point line is not redrawn on every frame"
    quiet = make_frame(GRID, step=100_000, episodes=0, updates=0, replay=False)
    for _ in range(13):
        panel.show_frame(quiet)
    assert len(panel.curve_data("loss")[0]) == panel.curve_lengths()["loss"] == 1200
    panel.reset(GRID, "dqn", "mlp")
    assert len(panel.curve_data("return")[0]) == 0 and not panel.return_dots.chunks


def test_training_curves_redraw_a_few_times_a_second(qtbot) -> None:
    """Frames arriving back to back add their points at once but redraw the curves only after the interval."""
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.reset(GRID, "dqn", "mlp")
    panel.refresh_interval = 0.3
    for i in range(1, 6):
        panel.show_frame(make_frame(GRID, step=100 * i, episodes=0, updates=2, replay=False, seed=i))
    assert panel.curve_lengths()["loss"] == 10
    assert len(panel.curve_data("loss")[0]) == 2, "only the first frame was drawn"
    assert "step 500" in panel.episodes_label.text()
    qtbot.wait(350)
    panel.show_frame(make_frame(GRID, step=600, episodes=0, updates=2, replay=False, seed=6))
    assert len(panel.curve_data("loss")[0]) == 12
