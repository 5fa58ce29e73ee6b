"""Editing a gridworld while the agent learns, without Qt: cells, undo, map files, and the loop's edit command.

The loop tests drive `app.training_loop.TrainingLoop` tick by tick, as the window's worker would, and check
what the issue asks of an edit: the agent keeps its network, the environment and V(s) follow at once, the
replay gets a seam instead of a transition that crosses the edit, and a save made afterwards reopens with the
edited map.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.checkpoint import read_save_info
from agents.envs.gridworld import (
    GridWorldEnv,
    load_map,
    map_characters,
    map_to_text,
    parse_map,
    same_cells,
    save_map,
    with_cells,
)
from agents.envs.registry import builtin_maps, describe_env, make_env
from agents.errors import MapError
from agents.factory import AgentSpec, create_agent
from agents.runner import Mode, RunSettings, run
from app.map_edit import MapEditModel
from app.training_loop import Speed, TrainingLoop

ROOM = """; a small room
#######
#S....#
#.....#
#....G#
#######
"""
SMALL = {"dqn": ("learning_starts=30", "buffer_size=2000", "batch_size=8", "train_frequency=2",
                 "hidden_dim=16", "target_network_frequency=50")}
WALL_CELL = (2, 3)
"""A floor cell of ROOM and of open-room that is neither the start nor next to it."""


def room() -> MapEditModel:
    return MapEditModel(parse_map(ROOM, source="room.txt"))


# ------------------------------------------------------------------ cells and map text


def test_painting_a_cell_changes_only_that_cell():
    grid = parse_map(ROOM, source="room.txt")
    edited = with_cells(grid, [(WALL_CELL, "#"), ((1, 4), "L")])
    before, after = map_characters(grid), map_characters(edited)
    assert after[WALL_CELL] == "#" and after[1, 4] == "L"
    changed = np.argwhere(before != after)
    assert sorted(map(tuple, changed.tolist())) == [(1, 4), WALL_CELL]
    assert map_characters(grid)[WALL_CELL] == "."  # the original map is never changed


def test_the_start_brush_moves_the_start_and_undo_moves_it_back():
    model = room()
    model.paint((3, 1), "S")
    assert model.grid.start == (3, 1) and model.char_at((1, 1)) == "."
    assert (map_characters(model.grid) == "S").sum() == 1
    model.undo()
    assert model.grid.start == (1, 1) and model.text() == map_to_text(parse_map(ROOM))


def test_undo_takes_back_a_whole_stroke_then_the_one_before():
    model = room()
    model.paint((1, 3), "#")
    first = model.text()
    model.begin_stroke()
    for col in (2, 3, 4):
        model.paint((2, col), "L")
    model.end_stroke()
    assert "LLL" in model.text()
    undo = model.undo()
    assert model.text() == first and {cell for cell, _ in undo.cells} == {(2, 2), (2, 3), (2, 4)}
    model.undo()
    assert model.text() == map_to_text(parse_map(ROOM)) and not model.can_undo
    assert model.undo() is None


def test_painting_what_is_there_is_no_edit():
    model = room()
    assert model.paint((1, 2), ".") is None and model.paint((1, 1), "S") is None
    assert not model.can_undo


@pytest.mark.parametrize(("cell", "brush", "reason"), [
    ((1, 1), "#", "no start: the map needs exactly one S"),
    ((3, 5), ".", "no goal: the map needs at least one G"),
    ((3, 5), "S", "no goal: the map needs at least one G"),
    ((9, 1), "#", "outside the 5 x 7 map"),
    ((1, 2), "X", "unknown character"),
])
def test_an_invalid_edit_is_one_line_and_changes_nothing(cell, brush, reason):
    model = room()
    model.paint((2, 2), "#")
    text = model.text()
    with pytest.raises(MapError, match=reason) as caught:
        model.paint(cell, brush)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("cannot paint")
    assert model.text() == text
    model.undo()  # the one good edit is still the last one
    assert model.text() == map_to_text(parse_map(ROOM))


def test_the_start_and_goal_rules_are_the_map_files():
    """An edit is refused for exactly the reasons a map file is: its message ends like the loader's."""
    grid = parse_map(ROOM)
    for text, cells in ((ROOM.replace("S", "."), [((1, 1), ".")]), (ROOM.replace("G", "."), [((3, 5), ".")])):
        with pytest.raises(MapError) as loading:
            parse_map(text, source="m.txt")
        with pytest.raises(MapError) as painting:
            with_cells(grid, cells)
        assert str(loading.value).split(": ", 1)[1] == str(painting.value).split(": ", 1)[1]
    with pytest.raises(MapError, match="two starts"):
        with_cells(grid, [((2, 2), "S")])  # literal cells: a second S is not a move


@pytest.mark.parametrize("name", sorted(builtin_maps()))
def test_every_built_in_map_round_trips_through_the_loader(tmp_path, name):
    grid = load_map(builtin_maps()[name])
    path = save_map(grid, tmp_path / f"{name}.txt")
    again = load_map(path)
    assert same_cells(again, grid) and again.comments == grid.comments
    assert path.read_text(encoding="utf-8") == map_to_text(grid) == map_to_text(again)


def test_an_edited_map_saved_as_txt_reads_back_identically(tmp_path):
    model = room()
    model.begin_stroke()
    for cell, brush in (((2, 1), "#"), ((2, 2), "#"), ((1, 5), "L"), ((3, 1), "S"), ((1, 3), "G")):
        model.paint(cell, brush)
    model.end_stroke()
    path = model.save(tmp_path / "edited.txt")
    again = load_map(path)
    assert same_cells(again, model.grid) and again.start == (3, 1)
    assert again.comments == ("; a small room",)


def test_a_map_that_cannot_be_written_is_one_line_and_leaves_the_old_file(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_text(ROOM)
    with pytest.raises(MapError, match="cannot write the map file") as caught:
        save_map(parse_map(ROOM), tmp_path / "no-such-dir" / "map.txt")
    assert "\n" not in str(caught.value)
    assert target.read_text() == ROOM


def test_set_map_keeps_the_size_and_follows_the_new_cells():
    env = GridWorldEnv(parse_map(ROOM))
    env.reset()
    limit = env.max_episode_steps
    env.position = WALL_CELL
    env.set_map(with_cells(env.grid, [(WALL_CELL, "#"), ((2, 4), "#")]))
    assert env.position == env.grid.start  # its cell became a wall
    assert env.max_episode_steps == limit - 8 and env.observation_space.shape == (4, 5, 7)
    assert env.observation_at((1, 2))[0][WALL_CELL] == 1
    assert WALL_CELL not in env.free_positions()
    with pytest.raises(MapError, match="cannot replace the running 5 x 7 map"):
        env.set_map(parse_map("#####\n#S.G#\n#####\n"))


# ------------------------------------------------------------------ the loop's edit command


class Driver:
    """The loop tick by tick, fed commands the way the window's worker sends them."""

    def __init__(self) -> None:
        self.commands: deque = deque()
        self.events: list = []
        self.loop = TrainingLoop(emit=lambda name, args: self.events.append((name, args)),
                                 receive=lambda timeout: self.commands.popleft() if self.commands else None,
                                 device="cpu", agent_overrides=SMALL, seed=0)
        self.last_frame = None

    def send(self, name: str, *args) -> None:
        self.commands.append((name, args))

    def ticks(self, steps: int = 0) -> None:
        """Handle the queued commands, then tick until `steps` more environment steps were taken."""
        target, deadline = self.loop.status().loop_steps + steps, time.perf_counter() + 120
        while self.commands or self.loop.status().loop_steps < target:
            assert time.perf_counter() < deadline
            self.loop.tick()
            frame = self.loop.collect_frame()
            self.last_frame = frame or self.last_frame

    @property
    def session(self):
        return self.loop._session

    def session_infos(self):
        return [args[0] for name, args in self.events if name == "session_started"]


@pytest.fixture
def driver(one_torch_thread):
    drive = Driver()
    yield drive
    drive.loop.close()


def start(driver: Driver, env_id: str = "gridworld/open-room", kind: str = "dqn") -> None:
    driver.send("speed", Speed.TURBO)
    driver.send("mode", Mode.TRAIN)
    driver.send("new_session", env_id, AgentSpec(kind, "mlp" if kind == "dqn" else None))
    driver.ticks(60)


def weights(agent) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in agent.online.state_dict().items()}


def crossing_transitions(replay) -> int:
    """Stored transitions whose observation and next observation show different maps (walls, goals, lava)."""
    batch = replay.transitions(replay.sampleable())
    static = [0, 2, 3]
    return int(sum(not np.array_equal(obs[static], nxt[static])
                   for obs, nxt in zip(batch.observations, batch.next_observations, strict=True)))


def test_an_edit_keeps_the_network_and_the_map_follows_at_once(driver):
    start(driver)
    driver.send("speed", Speed.PAUSED)
    driver.ticks()
    agent, before, steps = driver.session.agent, weights(driver.session.agent), driver.session.agent.step_count
    driver.send("edit_map", driver.session.session_id, ((WALL_CELL, "#"),))
    driver.ticks()
    assert driver.session.agent is agent and agent.step_count == steps
    for name, tensor in weights(agent).items():
        assert torch.equal(tensor, before[name]), name
    frame = driver.last_frame
    assert frame.snapshot.observation[0][WALL_CELL] == 1  # the environment has the wall
    assert np.isnan(frame.grid_values[WALL_CELL]) and frame.grid_actions[WALL_CELL] == -1  # V(s) follows
    assert np.isfinite(frame.grid_values[1, 2])
    assert driver.session.env.unwrapped.grid.walls[WALL_CELL]
    driver.send("speed", Speed.TURBO)
    driver.ticks(40)
    assert agent.step_count >= steps + 40 and agent.update_count > 0  # and it learns on


def test_the_replay_gets_a_seam_not_a_transition_across_the_edit(driver):
    start(driver)
    replay = driver.session.agent.replay
    stored = replay.size
    driver.send("edit_map", driver.session.session_id, ((WALL_CELL, "#"), ((3, 5), "L")))
    driver.ticks(80)
    assert replay.size > stored + 40
    batch = replay.transitions(replay.sampleable())
    walls = {bool(obs[0][WALL_CELL]) for obs in batch.observations}
    assert walls == {False, True}  # transitions of both maps are stored...
    assert crossing_transitions(replay) == 0  # ...and none joins them


def test_without_the_seam_a_crossing_transition_would_be_stored(one_torch_thread):
    """The check above can fail: swapping the map under a running episode stores a step that never happened."""

    env = make_env("gridworld/open-room", render_mode=None)
    agent = create_agent(describe_env("gridworld/open-room", env), AgentSpec("dqn", "mlp"), seed=0,
                         extra_overrides=SMALL["dqn"])
    steps = run(env, agent, RunSettings(evaluate=False, render=False), seed=0)
    for _ in range(5):
        next(steps)
    env.set_map(with_cells(env.grid, [(WALL_CELL, "#")]))
    for _ in range(5):
        next(steps)
    assert crossing_transitions(agent.replay) >= 1


def test_the_tabular_agent_keeps_its_table(driver):
    start(driver, kind="qlearning")
    table = driver.session.agent.q_table.copy()
    driver.send("speed", Speed.PAUSED)
    driver.send("edit_map", driver.session.session_id, ((WALL_CELL, "#"),))
    driver.ticks()
    np.testing.assert_array_equal(driver.session.agent.q_table, table)
    assert driver.last_frame.snapshot.observation[0][WALL_CELL] == 1


def test_the_loop_refuses_a_bad_edit_in_one_line_and_ignores_another_sessions(driver):
    start(driver)
    driver.send("speed", Speed.PAUSED)
    driver.ticks()
    session = driver.session
    text = map_to_text(session.env.unwrapped.grid)
    driver.send("edit_map", session.session_id, ((session.env.unwrapped.grid.start, "#"),))
    driver.send("edit_map", session.session_id - 1, ((WALL_CELL, "#"),))
    driver.ticks()
    failures = [args for name, args in driver.events if name == "failed"]
    assert len(failures) == 1 and failures[0][0] == "edit" and "no start" in failures[0][1]
    assert "\n" not in failures[0][1]
    assert map_to_text(session.env.unwrapped.grid) == text and session.map_text is None
    # The refusal is answered with the map as it is, for the editor to take back; the other session's edit is not.
    answers = [(name, args) for name, args in driver.events if name in ("failed", "map_edited")]
    assert answers[-2:] == [("failed", failures[0]), ("map_edited", (session.session_id, text))]
    assert [args for name, args in driver.events if name == "map_edited"] == [(session.session_id, text)]


def test_one_command_of_many_cells_ends_the_episode_once(driver, monkeypatch):
    """A stroke's cells come as one command: one seam in the replay, one fresh start, one answer."""
    start(driver)
    session = driver.session
    closes, close_steps = [], session.close_steps
    monkeypatch.setattr(session, "close_steps", lambda: (closes.append(1), close_steps()))
    stroke = tuple(((4, col), "#") for col in range(1, 9))
    driver.send("edit_map", session.session_id, stroke)
    driver.ticks(5)
    assert len(closes) == 1
    grid = session.env.unwrapped.grid
    assert all(grid.walls[cell] for cell, _ in stroke)
    assert [args for name, args in driver.events if name == "map_edited"] == [(session.session_id,
                                                                               map_to_text(grid))]


@pytest.mark.parametrize("on_disk", [False, True])
def test_a_save_after_an_edit_reopens_with_the_edited_map(driver, tmp_path, on_disk):
    """For a built-in map and for a .txt map whose file (unchanged on disk) still holds the old map."""
    env_id = "gridworld/open-room"
    if on_disk:
        env_id = str(tmp_path / "room.txt")
        Path(env_id).write_text(ROOM)
    start(driver, env_id)
    assert driver.session_infos()[-1].map_text is not None
    driver.send("edit_map", driver.session.session_id, ((WALL_CELL, "#"),))
    path = tmp_path / "edited.dqn"
    driver.send("save", str(path), None)
    driver.ticks()
    edited = map_to_text(driver.session.env.unwrapped.grid)
    assert read_save_info(path).map_text == edited
    driver.send("load", str(path))
    driver.ticks(1)
    info = driver.session_infos()[-1]
    assert info.env_id == env_id and info.map_text == edited
    assert driver.session.env.unwrapped.grid.walls[WALL_CELL]
    driver.send("restart")
    driver.ticks(1)
    assert driver.session.env.unwrapped.grid.walls[WALL_CELL]  # Restart keeps the edited map
    if on_disk:
        assert Path(env_id).read_text() == ROOM  # the map file itself is the user's, untouched
