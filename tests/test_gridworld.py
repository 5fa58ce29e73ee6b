"""The gridworld: map parsing and its error messages, step dynamics, BFS, observations and the picture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agents.envs.gridworld import (
    AGENT,
    CELL_PIXELS,
    GOAL,
    LAVA,
    WALL,
    GridMap,
    GridWorldEnv,
    load_map,
    parse_map,
)
from agents.errors import ArcadeError, MapError

UP, RIGHT, DOWN, LEFT = range(4)

SMALL = """\
; a comment line
#####
#S.G#
#.#L#
#...#
#####
"""


def small_env(**kwargs) -> GridWorldEnv:
    return GridWorldEnv(parse_map(SMALL, source="small.txt"), render_mode="rgb_array", **kwargs)


# --- parsing -----------------------------------------------------------------------------------------


def test_parse_builds_layers_and_start():
    grid = parse_map(SMALL, source="maps/small.txt")
    assert isinstance(grid, GridMap)
    assert (grid.height, grid.width) == (5, 5)
    assert grid.start == (1, 1)
    assert grid.name == "small" and grid.source == "maps/small.txt"
    assert grid.walls.dtype == bool and grid.walls.shape == (5, 5)
    assert grid.goals[1, 3] and grid.goals.sum() == 1
    assert grid.lava[2, 3] and grid.lava.sum() == 1
    assert grid.walls[2, 2] and not grid.walls[1, 1]
    assert grid.free_cell_count == 8


def test_parse_ignores_comments_blank_edges_trailing_spaces_and_crlf():
    text = "\n; header\n#####   \r\n#SG.#\r\n; between rows\n#####\r\n\n\n"
    grid = parse_map(text, name="custom")
    assert (grid.height, grid.width) == (3, 5) and grid.name == "custom"


@pytest.mark.parametrize(
    "text, message",
    [
        ("####\n#..#\n#.G#\n####\n", "m.txt:1: no start: the map needs exactly one S"),
        ("#####\n#S..#\n#..S#\n#G..#\n#####\n", "m.txt:3: two starts (lines 2 and 3)"),
        ("####\n#S.#\n#..#\n####\n", "m.txt:1: no goal: the map needs at least one G"),
        ("; c\n#####\n#S.G#\n###\n", "m.txt:4: ragged row: 3 cells, expected 5"),
        ("#####\n#S.x#\n#..G#\n#####\n", "m.txt:2: unknown character 'x' in column 4"),
        ("", "m.txt:1: empty map"),
        ("\n; only a comment\n\n", "m.txt:1: empty map"),
        ("#####\n#S.G#\n\n#####\n", "m.txt:3: blank line inside the map"),
    ],
)
def test_parse_errors_name_file_line_and_reason(text, message):
    with pytest.raises(MapError) as caught:
        parse_map(text, source="m.txt")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ArcadeError)


def test_load_map_reads_a_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("\ufeff#####\n#S.G#\n#####\n", encoding="utf-8")
    grid = load_map(path)
    assert grid.name == "tiny" and grid.source == str(path) and grid.start == (1, 1)


def test_load_map_errors_name_the_file(tmp_path):
    with pytest.raises(MapError, match=r"missing\.txt:1: cannot read map file"):
        load_map(tmp_path / "missing.txt")
    with pytest.raises(MapError, match=r":1: cannot read map file"):
        load_map(tmp_path)
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(MapError, match=r"image\.txt:1: not a text map file"):
        load_map(binary)
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"#S\x00G#\n")
    with pytest.raises(MapError, match=r"nul\.txt:1: not a text map file \(binary data\)"):
        load_map(nul)
    bad = tmp_path / "bad.txt"
    bad.write_text("#####\n#S.G#\n####\n", encoding="utf-8")
    with pytest.raises(MapError, match=rf"^{bad}:3: ragged row: 4 cells, expected 5$".replace("\\", "\\\\")):
        load_map(bad)


# --- dynamics ----------------------------------------------------------------------------------------


def test_spaces_and_action_names():
    env = small_env()
    assert env.action_space.n == 4
    assert env.get_action_meanings() == ["UP", "RIGHT", "DOWN", "LEFT"]
    assert env.observation_space.shape == (4, 5, 5) and env.observation_space.dtype == np.uint8
    assert env.n_states == 25 and env.cell_pixels == CELL_PIXELS == 32
    assert env.metadata["render_modes"] == ["rgb_array"]


def test_reset_observation_and_info():
    env = small_env()
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.uint8 and obs.shape == (4, 5, 5)
    assert info == {"position": (1, 1), "state": 6}
    np.testing.assert_array_equal(obs[0], env.grid.walls)
    assert obs[1].sum() == 1 and obs[1, 1, 1] == 1
    np.testing.assert_array_equal(obs[2], env.grid.goals)
    np.testing.assert_array_equal(obs[3], env.grid.lava)
    assert env.observation_space.contains(obs)


def test_random_start_draws_every_cell_that_is_not_wall_goal_or_lava():
    env = small_env()
    env.reset(seed=0)
    starts = {env.reset(options={"random_start": True})[1]["position"] for _ in range(200)}
    allowed = {(int(r), int(c)) for r, c in np.argwhere(~(env.grid.walls | env.grid.goals | env.grid.lava))}
    assert starts == allowed
    obs, info = env.reset(options={"random_start": True})
    assert obs[1].sum() == 1 and obs[1][info["position"]] == 1


def test_random_start_is_reproducible_and_plain_reset_stays_on_s():
    def starts(seed: int) -> list[tuple[int, int]]:
        env = small_env()
        env.reset(seed=seed)
        return [env.reset(options={"random_start": True})[1]["position"] for _ in range(20)]

    assert starts(5) == starts(5)
    env = small_env()
    assert all(env.reset(options=options)[1]["position"] == (1, 1)
               for options in (None, {}, {"random_start": False}))


def test_walls_and_map_edge_keep_the_agent_in_place():
    env = small_env()
    env.reset()
    for action in (UP, LEFT):
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["position"] == (1, 1) and reward == pytest.approx(-0.01)
        assert not terminated and not truncated and "success" not in info
    env.step(DOWN)
    _, _, _, _, info = env.step(RIGHT)  # (2, 2) is a wall
    assert info["position"] == (2, 1) and env.position == (2, 1)


def test_cells_outside_the_map_are_walls():
    env = GridWorldEnv(parse_map("S.G\n"))
    env.reset()
    for action in (UP, LEFT, DOWN):
        assert env.step(action)[4]["position"] == (0, 0)


def test_goal_pays_one_minus_step_cost_and_terminates():
    env = small_env()
    env.reset()
    env.step(RIGHT)
    obs, reward, terminated, truncated, info = env.step(RIGHT)
    assert reward == pytest.approx(0.99)
    assert terminated and not truncated
    assert info == {"position": (1, 3), "state": 8, "success": True}
    assert obs[1, 1, 3] == 1 and obs[1].sum() == 1


def test_lava_costs_one_and_terminates():
    env = small_env()
    env.reset()
    for action in (DOWN, DOWN, RIGHT, RIGHT):
        env.step(action)
    _, reward, terminated, truncated, info = env.step(UP)
    assert info["position"] == (2, 3)
    assert reward == pytest.approx(-1.01)
    assert terminated and not truncated and info["success"] is False


def test_truncation_after_four_times_the_free_cells():
    env = small_env()
    assert env.max_episode_steps == 4 * 8
    env.reset()
    for _ in range(4 * 8 - 1):
        assert env.step(UP)[3] is False
    _, _, terminated, truncated, info = env.step(UP)
    assert truncated and not terminated and "success" not in info
    env.reset()
    assert env.step(UP)[3] is False  # the count restarts


def test_max_episode_steps_override():
    env = small_env(max_episode_steps=3)
    env.reset()
    assert [env.step(LEFT)[3] for _ in range(3)] == [False, False, True]
    with pytest.raises(ValueError):
        small_env(max_episode_steps=0)


def test_invalid_action_is_rejected():
    env = small_env()
    env.reset()
    with pytest.raises(ValueError):
        env.step(4)


def test_passes_gymnasium_env_checker():
    env = small_env()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


# --- helpers for value maps --------------------------------------------------------------------------


def test_observation_at_matches_the_real_observation():
    env = small_env()
    env.reset()
    obs, *_ = env.step(DOWN)
    np.testing.assert_array_equal(env.observation_at((2, 1)), obs)
    other = env.observation_at((3, 3))
    assert other[1, 3, 3] == 1 and other[1].sum() == 1
    assert env.position == (2, 1)  # asking does not move the agent
    with pytest.raises(ValueError):
        env.observation_at((5, 0))


def test_free_positions_and_state_index():
    env = small_env()
    free = env.free_positions()
    assert len(free) == env.grid.free_cell_count == 8
    assert free[0] == (1, 1) and (2, 2) not in free and (2, 3) in free
    assert all(isinstance(v, int) for pos in free for v in pos)
    assert env.state_index((3, 2)) == 17


def test_shortest_path_avoids_walls_and_lava():
    assert small_env().shortest_path_length() == 2
    detour = parse_map("#######\n#S.L.G#\n#.....#\n#######\n")
    assert GridWorldEnv(detour).shortest_path_length() == 6
    sealed = parse_map("#####\n#S#G#\n#####\n")
    assert GridWorldEnv(sealed).shortest_path_length() is None
    behind_lava = parse_map("#####\n#SLG#\n#####\n")
    assert GridWorldEnv(behind_lava).shortest_path_length() is None


# --- picture -----------------------------------------------------------------------------------------


def colour_at(frame: np.ndarray, cell: tuple[int, int]) -> tuple[int, ...]:
    half = CELL_PIXELS // 2
    return tuple(int(v) for v in frame[cell[0] * CELL_PIXELS + half, cell[1] * CELL_PIXELS + half])


def test_render_shape_colours_and_agent_cell():
    env = small_env()
    env.reset()
    frame = env.render()
    assert frame.shape == (5 * 32, 5 * 32, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert colour_at(frame, (1, 1)) == AGENT
    assert colour_at(frame, (0, 0)) == WALL
    assert colour_at(frame, (2, 2)) == WALL
    assert LAVA in {tuple(int(v) for v in p) for p in frame[2 * 32:3 * 32, 3 * 32:4 * 32].reshape(-1, 3)}
    assert colour_at(frame, (1, 3)) != AGENT
    goal_pixels = {tuple(int(v) for v in p) for p in frame[32:64, 96:128].reshape(-1, 3)}
    assert GOAL in goal_pixels
    env.step(DOWN)
    moved = env.render()
    assert colour_at(moved, (2, 1)) == AGENT and colour_at(moved, (1, 1)) != AGENT
    assert (moved == AGENT).all(axis=2).sum() == (frame == AGENT).all(axis=2).sum()


def test_render_is_transposed_correctly_on_a_wide_map():
    env = GridWorldEnv(parse_map("S....G\n"), render_mode="rgb_array")
    env.reset()
    frame = env.render()
    assert frame.shape == (32, 6 * 32, 3)
    assert colour_at(frame, (0, 0)) == AGENT


def test_render_without_rgb_array_mode_returns_none():
    assert GridWorldEnv(parse_map(SMALL)).render() is None
    with pytest.raises(ValueError):
        GridWorldEnv(parse_map(SMALL), render_mode="human")
