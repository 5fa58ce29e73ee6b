"""Game view: pygame compositing of frame, overlays and HUD; Qt painting with the aspect kept."""

from __future__ import annotations

import numpy as np
import pygame
import pytest
from PySide6.QtCore import QSize

from agents.envs.registry import describe_env, make_env
from agents.runner import Mode, StepSnapshot
from agents.types import Evaluation
from app.composite import (
    ViewOptions,
    attention_focus,
    attention_map,
    colormap,
    compose,
    hud_height,
    scale_factor,
)
from app.game_view import GameView
from app.keymap import KeyMap
from app.view_frame import ViewFrame

FULL_ACTIONS = ["NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
                "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE",
                "DOWNLEFTFIRE"]


def snapshot_of(env, obs, info, *, attention: np.ndarray | None = None) -> StepSnapshot:
    """The reset state of a real environment as a snapshot (what the worker shows before the first step)."""
    n_actions = env.action_space.n
    evaluation = Evaluation(q_values=np.zeros(n_actions, np.float32), value=0.0, attention=attention)
    return StepSnapshot(frame=np.asarray(env.render()), observation=np.asarray(obs), evaluation=evaluation,
                        action=0, action_name="", reward=0.0, terminated=False, truncated=False, episode=3,
                        episode_step=7, episode_return=0.5, total_steps=100, epsilon=0.5, mode=Mode.TRAIN,
                        update=None, finished=None, info=dict(info))


def frame_for(env_id: str, *, attention: np.ndarray | None = None, grid: bool = True) -> ViewFrame:
    env = make_env(env_id, render_mode="rgb_array", seed=0)
    obs, info = env.reset(seed=0)
    description = describe_env(env_id, env)
    values = actions = None
    if grid and description.kind == "gridworld":
        height, width = description.obs_shape[-2:]
        values = np.linspace(-1, 1, height * width, dtype=np.float32).reshape(height, width)
        actions = np.arange(height * width).reshape(height, width) % 4
        walls = np.asarray(obs)[0] > 0
        values[walls], actions[walls] = np.nan, -1
    frame = ViewFrame(snapshot=snapshot_of(env, obs, info, attention=attention), description=description,
                      agent_kind="dqn", network="attention", new_episodes=(), new_updates=(),
                      steps_per_second=0.0, replay=None, grid_values=values, grid_actions=actions)
    env.close()
    return frame


@pytest.fixture(scope="module")
def grid_frame() -> ViewFrame:
    return frame_for("gridworld/four-rooms")


def test_gridworld_composite_keeps_whole_cells(grid_frame):
    picture = compose(grid_frame, ViewOptions(values=False, arrows=False))
    frame = grid_frame.snapshot.frame
    factor = scale_factor(*frame.shape[:2])
    hud = hud_height(frame.shape[0] * factor)
    assert picture.shape == (frame.shape[0] * factor + hud, frame.shape[1] * factor, 3)
    assert picture.dtype == np.uint8
    board = picture[hud:]
    assert np.array_equal(board[::factor, ::factor], frame)  # nearest-neighbour: every pixel a block


def test_value_heat_map_and_arrows_draw_on_free_cells_only(grid_frame):
    plain = compose(grid_frame, ViewOptions(values=False, arrows=False))
    heat = compose(grid_frame, ViewOptions(values=True, arrows=False))
    arrows = compose(grid_frame, ViewOptions(values=False, arrows=True))
    height, width = grid_frame.description.obs_shape[-2:]
    cell = plain.shape[1] // width
    hud = plain.shape[0] - cell * height
    walls = np.asarray(grid_frame.snapshot.observation)[0] > 0
    wall_cell = tuple(np.argwhere(walls)[0])
    free_cell = tuple(np.argwhere(~walls & np.isfinite(grid_frame.grid_values))[0])

    def block(picture, rc):
        r, c = rc
        return picture[hud + r * cell: hud + (r + 1) * cell, c * cell:(c + 1) * cell]

    assert np.array_equal(block(heat, wall_cell), block(plain, wall_cell))
    assert not np.array_equal(block(heat, free_cell), block(plain, free_cell))
    assert not np.array_equal(block(arrows, free_cell), block(plain, free_cell))
    assert np.array_equal(block(arrows, wall_cell), block(plain, wall_cell))


def test_hud_line_is_drawn(grid_frame):
    picture = compose(grid_frame, ViewOptions(), "TRAIN · normal")
    shape = grid_frame.snapshot.frame.shape
    band = picture[:hud_height(shape[0] * scale_factor(*shape[:2]))]
    assert band.max() > 200  # light text on the dark band


def test_compositing_never_opens_a_pygame_display(grid_frame):
    compose(grid_frame, ViewOptions(attention=True))
    assert not pygame.display.get_init()


def test_atari_colour_frame_or_network_input():
    frame = frame_for("ALE/Breakout-v5")
    colour = compose(frame, ViewOptions())
    factor = scale_factor(210, 160)
    assert colour.shape == (210 * factor + hud_height(210 * factor), 160 * factor, 3)
    network = compose(frame, ViewOptions(network_input=True))
    factor = scale_factor(84, 84)
    hud = hud_height(84 * factor)
    assert network.shape == (84 * factor + hud, 84 * factor, 3)
    board = network[hud:]
    assert np.array_equal(board[..., 0], board[..., 1])  # greyscale, as the network sees it


def test_attention_overlay_heats_the_attended_region():
    attention = np.zeros((2, 7, 7), np.float32)
    attention[0, 0, 0] = 1.0  # head 0 looks at the top-left corner
    attention[1, 6, 6] = 1.0  # head 1 at the bottom-right
    frame = frame_for("ALE/Breakout-v5", attention=attention)
    hud = hud_height(210 * scale_factor(210, 160))
    plain = compose(frame, ViewOptions())[hud:].astype(int)
    head0 = compose(frame, ViewOptions(attention=True, attention_head=0))[hud:].astype(int)
    height, width = plain.shape[:2]
    top_left = (slice(0, height // 10), slice(0, width // 10))
    bottom_right = (slice(-height // 10, None), slice(-width // 10, None))
    assert np.abs(head0[top_left] - plain[top_left]).mean() > 30
    assert np.abs(head0[bottom_right] - plain[bottom_right]).mean() < np.abs(head0[top_left]
                                                                           - plain[top_left]).mean()


def test_flat_attention_draws_nothing():
    flat = np.full((2, 7, 7), 1 / 49, np.float32)
    frame = frame_for("ALE/Breakout-v5", attention=flat)
    assert np.array_equal(compose(frame, ViewOptions(attention=True)), compose(frame, ViewOptions()))
    assert attention_focus(flat, None) == pytest.approx(0.0, abs=1e-6)
    one_hot = np.zeros((1, 7, 7), np.float32)
    one_hot[0, 3, 3] = 1.0
    assert attention_focus(one_hot, 0) == 1.0


def test_attention_map_selects_a_head_or_averages():
    attention = np.stack([np.eye(3), np.ones((3, 3))]).astype(np.float32)
    assert np.allclose(attention_map(attention, 0), np.eye(3))
    mean = attention_map(attention, None)
    assert mean.max() == pytest.approx(1.0)
    assert mean[0, 1] == pytest.approx(0.5)
    assert np.allclose(attention_map(attention, 5), mean)  # an unknown head falls back to the mean


def test_colormap_endpoints():
    colours = colormap(np.array([0.0, 1.0, np.nan]))
    assert colours.shape == (3, 3) and colours.dtype == np.uint8
    assert tuple(colours[0]) != tuple(colours[1])


def test_widget_scales_to_fit_with_aspect_kept(qtbot, grid_frame):
    view = GameView()
    qtbot.addWidget(view)
    view.resize(QSize(900, 400))
    view.show_frame(grid_frame)
    image = view.image()
    assert image is not None and not image.isNull()
    rect = view.image_rect()
    header = view.view_layout().header
    assert header.bottom() + 1 == rect.top() and header.width() == rect.width()  # the header sits on the picture
    assert header.height() + rect.height() == 400 or rect.width() == 900
    assert rect.width() / rect.height() == pytest.approx(image.width() / image.height(), rel=0.02)
    view.set_key_help("Human play", [("↑/W", "UP"), ("→/D", "RIGHT")])
    view.set_key_help_visible(True)
    assert not view.grab().isNull()  # paints picture and key help without error
    view.set_key_help("Human play", KeyMap(FULL_ACTIONS, per_press=False).bindings())
    assert not view.grab().isNull()  # two columns for Atari's 18 actions


def test_options_redraw_the_last_frame(qtbot, grid_frame):
    view = GameView()
    qtbot.addWidget(view)
    view.show_frame(grid_frame)
    before = view.image().copy()
    view.set_options(values=not view.options.values)
    assert view.image() != before
    view.clear("Paused")
    assert view.image() is None
