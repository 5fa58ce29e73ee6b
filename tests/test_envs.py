"""Environments: gridworld maps, dynamics and pictures; ALE preprocessing and learning signals; the id registry."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pytest

from agents.envs.gridworld import GridWorldEnv, load_map, parse_map
from agents.envs.registry import builtin_maps, describe_env, list_env_ids, make_env
from agents.errors import MapError, UnknownEnvError

AGENT_COLOUR = (52, 120, 246)
CELL = 32

# A small map with every cell kind. Rows (after the comment line, so file lines 2..6):
#   0 #######
#   1 #S..L.#
#   2 #.#...#
#   3 #....G#
#   4 #######
SMALL = "; a comment line\n#######\n#S..L.#\n#.#...#\n#....G#\n#######\n"


def _small_env(render_mode: str | None = None, max_episode_steps: int | None = None) -> GridWorldEnv:
    return GridWorldEnv(parse_map(SMALL, source="small.txt"), render_mode=render_mode,
                        max_episode_steps=max_episode_steps)


# ------------------------------------------------------------------------------------------ map errors

BAD_MAPS = [
    ("no_start", "#####\n#..G#\n#####\n", 1, "no start"),
    ("two_starts", "#####\n#S.G#\n#..S#\n#####\n", 3, "two starts"),
    ("no_goal", "#####\n#S..#\n#####\n", 1, "no goal"),
    ("ragged", "#####\n#S.G#\n#..#\n#####\n", 3, "ragged row"),
    ("unknown_char", "#####\n#S.G#\n#.x.#\n#####\n", 3, "unknown character 'x'"),
    ("comment_counts_as_a_line", "; title\n#####\n#S.G#\n#.?.#\n#####\n", 4, "unknown character '?'"),
    ("blank_inside", "#####\n#S.G#\n\n#...#\n#####\n", 3, "blank line"),
    ("empty", "", 1, "empty map"),
    ("only_comments", "; nothing here\n\n", 1, "empty map"),
]


@pytest.mark.parametrize(("text", "line", "reason"), [case[1:] for case in BAD_MAPS],
                         ids=[case[0] for case in BAD_MAPS])
def test_bad_map_file_is_one_line_naming_file_line_and_reason(tmp_path: Path, text: str, line: int,
                                                              reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(MapError) as caught:
        load_map(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: ")
    assert reason in message


@pytest.mark.parametrize(("text", "line", "reason"), [case[1:] for case in BAD_MAPS],
                         ids=[case[0] for case in BAD_MAPS])
def test_bad_map_text_names_its_source(text: str, line: int, reason: str) -> None:
    with pytest.raises(MapError) as caught:
        parse_map(text, source="maps/x.txt")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"maps/x.txt:{line}: ") and reason in message


def test_ragged_row_message_gives_both_widths() -> None:
    with pytest.raises(MapError, match=r"^m\.txt:3: ragged row: 4 cells, expected 5$"):
        parse_map("#####\n#S.G#\n#..#\n#####", source="m.txt")


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("missing", None, "cannot read map file"),
    ("binary_not_utf8", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00", "not a text map file"),
    ("binary_nul", b"#####\n#S\x00G#\n#####\n", "not a text map file"),
], ids=["missing", "binary_not_utf8", "binary_nul"])
def test_unreadable_map_file_is_a_map_error(tmp_path: Path, name: str, data: bytes | None, reason: str) -> None:
    path = tmp_path / f"{name}.txt"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(MapError) as caught:
        load_map(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:1: ") and reason in message


def test_parse_map_layers_and_start() -> None:
    grid = parse_map(SMALL, source="dir/small.txt")
    assert grid.name == "small" and grid.source == "dir/small.txt"
    assert (grid.height, grid.width) == (5, 7)
    assert grid.start == (1, 1)
    assert list(zip(*np.nonzero(grid.goals), strict=True)) == [(3, 5)]
    assert list(zip(*np.nonzero(grid.lava), strict=True)) == [(1, 4)]
    assert grid.walls[2, 2] and grid.walls[0].all() and not grid.walls[1, 1]
    # 35 cells, 7 + 7 + 2 + 2 + 2 border walls + 1 inner wall = 21 walls
    assert grid.free_cell_count == 14


def test_windows_line_endings_and_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes("\ufeff#####\r\n#S.G#\r\n#####\r\n\r\n".encode())
    grid = load_map(path)
    assert (grid.height, grid.width) == (3, 5) and grid.start == (1, 1)


# ------------------------------------------------------------------------------------------ dynamics


def test_reset_puts_agent_on_start_with_position_and_state_info() -> None:
    env = _small_env()
    obs, info = env.reset(seed=0)
    assert info == {"position": (1, 1), "state": 1 * 7 + 1}
    assert obs.shape == (4, 5, 7) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)


def test_wall_bump_stays_and_costs_a_step() -> None:
    env = _small_env()
    env.reset()
    for action in (0, 3):  # UP and LEFT from (1, 1) both hit the border wall
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["position"] == (1, 1) and info["state"] == 8
        assert obs[1, 1, 1] == 1 and obs[1].sum() == 1
        assert reward == pytest.approx(-0.01)
        assert not terminated and not truncated and "success" not in info
    env.step(2)  # DOWN to (2, 1)
    _, _, _, _, info = env.step(1)  # RIGHT into the inner wall at (2, 2)
    assert info["position"] == (2, 1)


def test_goal_pays_one_minus_step_cost_and_succeeds() -> None:
    env = _small_env()
    env.reset()
    # (1,1) -> down (2,1) -> down (3,1) -> right x4 -> (3,5) goal
    path = [2, 2, 1, 1, 1]
    for action in path:
        _, reward, terminated, truncated, info = env.step(action)
        assert reward == pytest.approx(-0.01) and not terminated and not truncated
    obs, reward, terminated, truncated, info = env.step(1)
    assert info["position"] == (3, 5) and info["state"] == 3 * 7 + 5
    assert reward == pytest.approx(1.0 - 0.01)
    assert terminated and not truncated and info["success"] is True
    assert obs[1, 3, 5] == 1


def test_lava_costs_one_plus_step_cost_and_fails() -> None:
    env = _small_env()
    env.reset()
    env.step(1)
    env.step(1)
    _, reward, terminated, truncated, info = env.step(1)
    assert info["position"] == (1, 4)
    assert reward == pytest.approx(-1.0 - 0.01)
    assert terminated and not truncated and info["success"] is False


def test_truncation_after_four_times_the_free_cells() -> None:
    env = _small_env()
    assert env.max_episode_steps == 4 * 14
    for _ in range(2):  # and again after a reset: the step counter restarts
        env.reset()
        for _ in range(4 * 14 - 1):
            _, _, terminated, truncated, _ = env.step(0)
            assert not terminated and not truncated
        _, reward, terminated, truncated, info = env.step(0)
        assert truncated and not terminated and "success" not in info
        assert reward == pytest.approx(-0.01)


def test_explicit_max_episode_steps() -> None:
    env = _small_env(max_episode_steps=3)
    env.reset()
    assert [env.step(3)[3] for _ in range(3)] == [False, False, True]
    with pytest.raises(ValueError):
        _small_env(max_episode_steps=0)


def test_goal_on_the_last_allowed_step_is_terminal_not_truncated() -> None:
    env = _small_env(max_episode_steps=6)
    env.reset()
    for action in (2, 2, 1, 1, 1):
        env.step(action)
    _, _, terminated, truncated, _ = env.step(1)
    assert terminated and not truncated


def test_invalid_action_is_rejected() -> None:
    env = _small_env()
    env.reset()
    with pytest.raises(ValueError):
        env.step(4)


def test_action_meanings_and_spaces() -> None:
    env = _small_env()
    assert env.get_action_meanings() == ["UP", "RIGHT", "DOWN", "LEFT"]
    assert env.action_space.n == 4
    assert env.observation_space.shape == (4, 5, 7) and env.observation_space.dtype == np.uint8
    assert env.n_states == 35


# ------------------------------------------------------------------------------------------ observations


def test_observation_channels_are_walls_agent_goals_lava() -> None:
    env = _small_env()
    obs, _ = env.reset()
    rows = [row for row in SMALL.splitlines() if not row.startswith(";")]
    chars = np.array([list(row) for row in rows])
    np.testing.assert_array_equal(obs[0], chars == "#")
    expected_agent = np.zeros((5, 7), np.uint8)
    expected_agent[1, 1] = 1
    np.testing.assert_array_equal(obs[1], expected_agent)
    np.testing.assert_array_equal(obs[2], chars == "G")
    np.testing.assert_array_equal(obs[3], chars == "L")


def test_observation_at_matches_the_observation_after_moving_there() -> None:
    env = _small_env()
    env.reset()
    obs, *_ = env.step(2)
    np.testing.assert_array_equal(env.observation_at((2, 1)), obs)
    elsewhere = env.observation_at((3, 4))
    assert elsewhere[1].sum() == 1 and elsewhere[1, 3, 4] == 1
    np.testing.assert_array_equal(elsewhere[[0, 2, 3]], obs[[0, 2, 3]])
    assert env.position == (2, 1)  # observation_at does not move the agent
    for outside in ((-1, 0), (5, 0), (0, 7)):
        with pytest.raises(ValueError):
            env.observation_at(outside)


def test_free_positions_are_the_non_wall_cells_in_row_major_order() -> None:
    env = _small_env()
    expected = [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 1), (2, 3), (2, 4), (2, 5),
                (3, 1), (3, 2), (3, 3), (3, 4), (3, 5)]
    assert env.free_positions() == expected


# ------------------------------------------------------------------------------------------ shortest paths


def _bfs_on_text(text: str) -> int | None:
    """Independent BFS over the map characters: walls and lava are never entered, the border is a wall."""
    rows = [line.rstrip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(";")]
    start = next((r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "S")
    seen = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        if rows[r][c] == "G":
            return seen[(r, c)]
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nr, nc = r + dr, c + dc
            if not (0 <= nr < len(rows) and 0 <= nc < len(rows[nr])) or (nr, nc) in seen:
                continue
            if rows[nr][nc] in "#L":
                continue
            seen[(nr, nc)] = seen[(r, c)] + 1
            queue.append((nr, nc))
    return None


HAND_COUNTED = {"open-room": 12, "cliff": 13, "lava-lake": 13, "four-rooms": 20, "maze": 28}


@pytest.mark.parametrize("name", sorted(builtin_maps()))
def test_builtin_shortest_path_matches_an_independent_bfs(name: str) -> None:
    path = builtin_maps()[name]
    env = GridWorldEnv(load_map(path))
    expected = _bfs_on_text(path.read_text())
    assert expected is not None
    assert env.shortest_path_length() == expected
    if name in HAND_COUNTED:
        assert expected == HAND_COUNTED[name]


def test_builtin_maps_include_the_contract_ones_and_a_big_maze() -> None:
    assert {"open-room", "four-rooms", "cliff", "maze"} <= set(builtin_maps())
    maze = load_map(builtin_maps()["maze"])
    assert maze.height >= 10 and maze.width >= 10


def test_shortest_path_avoids_lava_and_is_none_when_unreachable() -> None:
    # Straight through the lava would be 2; around it is 4.
    around = GridWorldEnv(parse_map("#####\n#SLG#\n#...#\n#####"))
    assert around.shortest_path_length() == 4
    blocked = GridWorldEnv(parse_map("#####\n#S#G#\n#####"))
    assert blocked.shortest_path_length() is None
    walled_by_lava = GridWorldEnv(parse_map("#####\n#SLG#\n#####"))
    assert walled_by_lava.shortest_path_length() is None


# ------------------------------------------------------------------------------------------ pictures


def _centre(frame: np.ndarray, cell: tuple[int, int]) -> tuple[int, ...]:
    return tuple(int(v) for v in frame[cell[0] * CELL + CELL // 2, cell[1] * CELL + CELL // 2])


def test_render_shape_and_agent_moves_in_the_picture() -> None:
    env = _small_env(render_mode="rgb_array")
    env.reset()
    frame = env.render()
    assert frame.shape == (5 * 32, 7 * 32, 3) and frame.dtype == np.uint8
    assert env.cell_pixels == 32
    assert _centre(frame, (1, 1)) == AGENT_COLOUR
    assert _centre(frame, (1, 2)) != AGENT_COLOUR
    env.step(1)
    moved = env.render()
    assert _centre(moved, (1, 2)) == AGENT_COLOUR
    assert _centre(moved, (1, 1)) != AGENT_COLOUR
    # only the two cells involved changed
    changed = np.argwhere((frame != moved).any(axis=2))
    assert {(int(y) // CELL, int(x) // CELL) for y, x in changed} == {(1, 1), (1, 2)}


def test_render_without_render_mode_is_none() -> None:
    env = _small_env()
    env.reset()
    assert env.render() is None
    with pytest.raises(ValueError):
        _small_env(render_mode="human")


# ------------------------------------------------------------------------------------------ Atari


@pytest.fixture(scope="module")
def pong():
    env = make_env("ALE/Pong-v5", seed=0)
    yield env
    env.close()


def test_pong_observation_render_and_actions(pong) -> None:
    obs, info = pong.reset(seed=1)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    frame = pong.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
    assert pong.unwrapped.get_action_meanings() == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    obs, reward, terminated, truncated, info = pong.step(0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert set(info) >= {"learning_reward", "learning_terminated", "lives"}


def test_pong_learning_reward_is_the_sign_of_the_reward(pong) -> None:
    pong.reset(seed=2)
    pong.action_space.seed(2)
    rewards = []
    for _ in range(400):
        _, reward, terminated, truncated, info = pong.step(pong.action_space.sample())
        assert info["learning_reward"] == float(np.sign(reward))
        assert info["learning_terminated"] == terminated  # Pong has no lives to lose
        rewards.append(reward)
        if terminated or truncated:
            pong.reset()
    assert any(r != 0 for r in rewards)  # the check above saw at least one point scored


def test_breakout_life_loss_is_a_learning_terminal_only() -> None:
    env = make_env("ALE/Breakout-v5", render_mode=None, seed=0)
    _, info = env.reset(seed=0)
    lives = info["lives"]
    assert lives == 5
    lost = None
    for _ in range(3000):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        if info["lives"] < lives:
            lost = (terminated, info["learning_terminated"])
            break
        assert info["learning_terminated"] == terminated
        assert info["learning_reward"] == float(np.sign(reward))
    env.close()
    assert lost == (False, True)


# ------------------------------------------------------------------------------------------ registry


def test_list_env_ids_gridworlds_first_then_many_ale_games() -> None:
    ids = list_env_ids()
    n_grid = len(builtin_maps())
    assert ids[:n_grid] == [f"gridworld/{name}" for name in sorted(builtin_maps())]
    ale = ids[n_grid:]
    assert all(i.startswith("ALE/") and i.endswith("-v5") for i in ale)
    assert len(ale) >= 50
    assert "ALE/Pong-v5" in ale and "ALE/Breakout-v5" in ale
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("env_id", "suggestion"), [
    ("ALE/Pongg-v5", "ALE/Pong-v5"),
    ("ALE/pong-v5", "ALE/Pong-v5"),
    ("gridworld/four-room", "gridworld/four-rooms"),
    ("nonsense", None),
    ("gridworld/nonsense-map-name", None),
])
def test_unknown_env_id_is_one_line_with_a_suggestion(env_id: str, suggestion: str | None) -> None:
    with pytest.raises(UnknownEnvError) as caught:
        make_env(env_id)
    message = str(caught.value)
    assert "\n" not in message
    assert f"'{env_id}'" in message
    if suggestion is not None:
        assert "did you mean" in message and suggestion in message
    else:
        assert "did you mean" not in message


def test_describe_gridworld() -> None:
    env = make_env("gridworld/four-rooms")
    description = describe_env("gridworld/four-rooms", env)
    assert description.env_id == "gridworld/four-rooms"
    assert description.kind == "gridworld"
    assert description.name == "Four rooms"
    assert description.action_names == ("UP", "RIGHT", "DOWN", "LEFT")
    assert description.obs_shape == (4, 13, 13)
    assert description.frame_stack == 1


def test_describe_atari(pong) -> None:
    description = describe_env("ALE/Pong-v5", pong)
    assert description.kind == "atari"
    assert description.name == "Pong"
    assert description.action_names == ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
    assert description.obs_shape == (4, 84, 84)
    assert description.frame_stack == 4


def test_make_env_from_a_txt_path(tmp_path: Path) -> None:
    path = tmp_path / "my_map.txt"
    path.write_text(SMALL)
    env = make_env(str(path))
    assert isinstance(env, GridWorldEnv)
    assert env.grid.name == "my_map" and env.render_mode == "rgb_array"
    description = describe_env(str(path), env)
    assert description.kind == "gridworld" and description.name == "My map"
    assert description.obs_shape == (4, 5, 7)
    assert env.reset()[1]["position"] == (1, 1)


def test_make_env_of_a_missing_txt_path_uses_map_text(tmp_path: Path) -> None:
    path = tmp_path / "gone.txt"
    with pytest.raises(MapError):
        make_env(str(path))
    env = make_env(str(path), map_text=SMALL, render_mode=None)
    assert isinstance(env, GridWorldEnv)
    assert env.grid.name == "gone" and env.grid.start == (1, 1)
    assert env.shortest_path_length() == 6


def test_make_env_plays_the_saved_map_text_over_a_changed_file_or_built_in_map(tmp_path: Path) -> None:
    path = tmp_path / "here.txt"
    path.write_text("#####\n#S.G#\n#####\n")
    saved = make_env(str(path), map_text=SMALL)  # the map the save was trained on (edited in the window, say)
    assert saved.grid.walls.shape == make_env(str(path.with_name("gone.txt")), map_text=SMALL).grid.walls.shape
    assert (saved.grid.height, saved.grid.width) != (3, 5)
    assert make_env("gridworld/four-rooms", map_text=SMALL).grid.walls.shape == saved.grid.walls.shape
    assert (make_env(str(path)).grid.height, make_env(str(path)).grid.width) == (3, 5)  # no save: the file
