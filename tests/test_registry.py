"""One id scheme for every environment: built-in maps, map files and ALE games."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agents.envs.gridworld import GridWorldEnv
from agents.envs.registry import (
    EnvDescription,
    builtin_maps,
    describe_env,
    display_name,
    env_kind,
    list_env_ids,
    make_env,
    maps_dir,
    suggestions,
)
from agents.errors import MapError, UnknownEnvError

SHORTEST_PATHS = {"open-room": 12, "four-rooms": 20, "cliff": 13, "maze": 28, "lava-lake": 13, "bridge": 12}


def test_builtin_maps_are_found_beside_the_package():
    maps = builtin_maps()
    assert set(SHORTEST_PATHS) <= set(maps)
    assert list(maps) == sorted(maps)
    assert all(path.parent == maps_dir() and path.suffix == ".txt" for path in maps.values())


@pytest.mark.parametrize("name", sorted(builtin_maps()))
def test_every_builtin_map_loads_and_its_goal_is_reachable(name):
    env = make_env(f"gridworld/{name}", render_mode="rgb_array", seed=0)
    assert isinstance(env, GridWorldEnv)
    obs, info = env.reset(seed=0)
    assert obs.shape == (4, env.grid.height, env.grid.width)
    assert info["position"] == env.grid.start
    assert env.shortest_path_length() is not None
    assert env.render().shape == (env.grid.height * 32, env.grid.width * 32, 3)
    walls = env.grid.walls
    border = np.concatenate([walls[0], walls[-1], walls[:, 0], walls[:, -1]])
    assert border.all()  # every built-in map is closed by walls


@pytest.mark.parametrize("name, length", sorted(SHORTEST_PATHS.items()))
def test_builtin_shortest_paths(name, length):
    assert make_env(f"gridworld/{name}").shortest_path_length() == length


def test_classic_layouts():
    four = make_env("gridworld/four-rooms").grid
    assert (four.height, four.width) == (13, 13) and four.free_cell_count == 104
    cliff = make_env("gridworld/cliff").grid
    bottom = cliff.height - 2
    assert cliff.start == (bottom, 1) and cliff.goals[bottom, cliff.width - 2]
    assert cliff.lava[bottom, 2:cliff.width - 2].all() and cliff.lava.sum() == 10
    maze = make_env("gridworld/maze").grid
    assert maze.height >= 10 and maze.width >= 10


def test_list_env_ids_gridworlds_first_then_every_ale_game():
    ids = list_env_ids()
    grid_ids = [f"gridworld/{name}" for name in builtin_maps()]
    assert ids[:len(grid_ids)] == grid_ids
    rest = ids[len(grid_ids):]
    assert len(rest) > 50 and all(i.startswith("ALE/") and i.endswith("-v5") for i in rest)
    assert "ALE/Pong-v5" in rest


def test_env_kind():
    assert env_kind("ALE/Pong-v5") == "atari"
    assert env_kind("gridworld/maze") == "gridworld"
    assert env_kind("maps/custom.txt") == "gridworld"


def test_describe_gridworld():
    env = make_env("gridworld/four-rooms")
    description = describe_env("gridworld/four-rooms", env)
    assert description == EnvDescription("gridworld/four-rooms", "gridworld", "Four rooms",
                                         ("UP", "RIGHT", "DOWN", "LEFT"), (4, 13, 13), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        description.name = "x"  # type: ignore[misc]


def test_describe_pong():
    env = make_env("ALE/Pong-v5", render_mode=None, seed=0)
    description = describe_env("ALE/Pong-v5", env)
    env.close()
    assert description.kind == "atari" and description.name == "Pong"
    assert description.obs_shape == (4, 84, 84) and description.frame_stack == 4
    assert description.action_names == ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")


def test_display_names():
    assert display_name("ALE/Pong-v5") == "Pong"
    assert display_name("ALE/SpaceInvaders-v5") == "Space Invaders"
    assert display_name("gridworld/lava-lake") == "Lava lake"
    assert display_name("some/dir/my_map.txt") == "My map"


def test_custom_map_file(tmp_path):
    path = tmp_path / "corridor.txt"
    path.write_text("#######\n#S...G#\n#######\n", encoding="utf-8")
    env = make_env(str(path))
    assert isinstance(env, GridWorldEnv) and env.shortest_path_length() == 4
    assert describe_env(str(path), env).name == "Corridor"


def test_bad_or_missing_map_file_is_a_map_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("#####\n#S..#\n#####\n", encoding="utf-8")
    with pytest.raises(MapError, match=r"bad\.txt:1: no goal"):
        make_env(str(bad))
    with pytest.raises(MapError, match=r"gone\.txt:1: cannot read map file"):
        make_env(str(tmp_path / "gone.txt"))


def test_map_text_stands_in_for_a_vanished_file(tmp_path):
    env = make_env(str(tmp_path / "gone.txt"), map_text="#####\n#S.G#\n#####\n")
    assert env.shortest_path_length() == 2


@pytest.mark.parametrize(
    "env_id, suggestion",
    [
        ("ALE/Pongg-v5", "ALE/Pong-v5"),
        ("ALE/pong-v5", "ALE/Pong-v5"),
        ("PongDeterministic-v4", "ALE/Pong-v5"),
        ("ALE/space-invaders-v5", "ALE/SpaceInvaders-v5"),
        ("gridworld/four-room", "gridworld/four-rooms"),
        ("gridworld/maz", "gridworld/maze"),
    ],
)
def test_unknown_ids_suggest_close_matches(env_id, suggestion):
    with pytest.raises(UnknownEnvError) as caught:
        make_env(env_id)
    assert str(caught.value) == f"unknown environment '{env_id}'; did you mean {suggestion}?"


def test_unknown_id_without_a_close_match_says_where_to_look():
    with pytest.raises(UnknownEnvError, match=r"^unknown environment 'xyzzy'; run 'dqn-arcade envs'"):
        make_env("xyzzy")
    assert suggestions("xyzzy") == []


def test_noframeskip_v4_ids_are_atari_games_now():
    from agents.envs.registry import env_kind, make_env

    assert env_kind("PongNoFrameskip-v4") == "atari"
    env = make_env("PongNoFrameskip-v4", render_mode=None)
    assert env.observation_space.shape == (4, 84, 84)
    env.close()
