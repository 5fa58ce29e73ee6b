"""Saves round-trip every agent exactly, bad files fail as one line, and a failed write loses nothing."""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents import checkpoint
from agents.checkpoint import LoadedSave, SaveInfo, load_agent, read_save_info, save_agent
from agents.config import dqn_config_for, tabular_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import make_env
from agents.errors import CheckpointError
from agents.qlearning import TabularQAgent
from agents.save_members import pack_weights
from agents.types import EpisodeStats, Transition

SIDE = 5
OBS_SHAPE = (4, SIDE, SIDE)
ACTIONS = ("UP", "RIGHT", "DOWN", "LEFT")
GOAL = (3, 3)
CELLS = [(r, c) for r in range(1, SIDE - 1) for c in range(1, SIDE - 1)]
MOVES = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}

SMALL_DQN = dict(buffer_size=256, learning_starts=16, batch_size=8, train_frequency=1,
                 target_network_frequency=8, hidden_dim=16, attention_dim=8, attention_heads=2,
                 total_timesteps=200)
DQN_VARIANTS = {
    "mlp": dict(network="mlp", double=False, dueling=False),
    "mlp-dueling-double": dict(network="mlp", double=True, dueling=True),
    "cnn": dict(network="cnn", double=False, dueling=False),
    "cnn-dueling-double": dict(network="cnn", double=True, dueling=True),
    "attention": dict(network="attention", double=True, dueling=True),
}
ALL_KINDS = [*DQN_VARIANTS, "qlearning"]


# ----------------------------------------------------------------------------------------------- helpers


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def observation(cell: tuple[int, int]) -> np.ndarray:
    """A gridworld-shaped observation: walls around the border, the agent at `cell`, one goal."""
    obs = np.zeros(OBS_SHAPE, dtype=np.uint8)
    obs[0, 0, :] = obs[0, -1, :] = obs[0, :, 0] = obs[0, :, -1] = 1
    obs[1][cell] = 1
    obs[2][GOAL] = 1
    return obs


def step(cell: tuple[int, int], action: int) -> tuple[tuple[int, int], float, bool]:
    dr, dc = MOVES[action]
    nxt = (cell[0] + dr, cell[1] + dc)
    if nxt not in CELLS:
        nxt = cell
    return nxt, (0.99 if nxt == GOAL else -0.01), nxt == GOAL


def make_agent(kind: str, seed: int = 0, **overrides: Any) -> DQNAgent | TabularQAgent:
    if kind == "qlearning":
        config = tabular_config_for("gridworld", total_timesteps=200)
        return TabularQAgent(config, OBS_SHAPE, 4, ACTIONS, seed=seed)
    config = dqn_config_for("gridworld", **{**SMALL_DQN, **DQN_VARIANTS[kind], **overrides})
    return DQNAgent(config, OBS_SHAPE, 4, ACTIONS, seed=seed)


def play(agent: DQNAgent | TabularQAgent, steps: int, state: dict[str, Any]) -> list[int]:
    """Act and learn for `steps` steps on the little grid, recording episodes as the runner does."""
    actions = []
    for _ in range(steps):
        cell = state.setdefault("cell", CELLS[0])
        action = agent.act(observation(cell))
        nxt, reward, done = step(cell, action)
        agent.observe(Transition(observation(cell), action, reward, observation(nxt), done, False))
        actions.append(action)
        state["return"] = state.get("return", 0.0) + reward
        state["length"] = state.get("length", 0) + 1
        state["cell"] = nxt
        if done or state["length"] >= 12:
            agent.episodes.append(EpisodeStats(len(agent.episodes), state["return"], state["length"],
                                               True if done else None))
            state.update(cell=CELLS[0], length=0)
            state["return"] = 0.0
    return actions


def trained(kind: str, steps: int = 40, **overrides: Any) -> DQNAgent | TabularQAgent:
    agent = make_agent(kind, **overrides)
    play(agent, steps, {})
    return agent


def all_q_values(agent: DQNAgent | TabularQAgent) -> np.ndarray:
    return np.stack([agent.q_values(observation(cell)) for cell in CELLS])


def assert_same_tree(a: Any, b: Any) -> None:
    """Equal nested dicts/lists of tensors and plain values (optimizer and model state dicts)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_tree(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_tree(x, y)
    else:
        assert a == b


def assert_one_line_error(error: pytest.ExceptionInfo[CheckpointError], path: Path, fragment: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    assert fragment in message, message


def rewrite_member(path: Path, name: str, data: bytes | None) -> None:
    """Replace (or with None, drop) one member of a save, keeping the others."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    if data is None:
        members.pop(name)
    else:
        members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


def edit_meta(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
    edit(meta)
    rewrite_member(path, "meta.json", json.dumps(meta).encode())


def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def weights_state(agent: DQNAgent) -> dict[str, Any]:
    return {"online": agent.online.state_dict(), "target": agent.target.state_dict(),
            "optimizer": agent.optimizer.state_dict()}


def make_legacy(path: Path, weights: Any) -> None:
    """Turn a save into one from before safetensors: torch.save'd weights in weights.pt."""
    rewrite_member(path, checkpoint.WEIGHTS_MEMBER, None)
    rewrite_member(path, checkpoint.LEGACY_WEIGHTS_MEMBER, torch_bytes(weights))


# ------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_round_trip_restores_weights_optimizer_counters_and_history(tmp_path, kind):
    agent = trained(kind)
    assert agent.update_count > 0 and agent.episodes
    path = save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room")
    loaded = load_agent(path)

    assert isinstance(loaded, LoadedSave)
    assert loaded.env_id == "gridworld/open-room" and loaded.map_text is None
    twin = loaded.agent
    assert type(twin) is type(agent) and twin.config == agent.config
    for name in ("obs_shape", "n_actions", "action_names", "frame_stack", "obs_scale", "step_count",
                 "update_count", "epsilon"):
        assert getattr(twin, name) == getattr(agent, name), name
    assert twin.episodes == agent.episodes
    np.testing.assert_array_equal(all_q_values(twin), all_q_values(agent))
    if isinstance(agent, DQNAgent):
        assert_same_tree(twin.online.state_dict(), agent.online.state_dict())
        assert_same_tree(twin.target.state_dict(), agent.target.state_dict())
        assert_same_tree(twin.optimizer.state_dict(), agent.optimizer.state_dict())
        assert len(twin.replay) == 0
    else:
        np.testing.assert_array_equal(twin.q_table, agent.q_table)
    assert loaded.info.has_replay is False


@pytest.mark.parametrize("kind", list(DQN_VARIANTS))
def test_resume_with_replay_samples_and_updates_exactly_like_the_unsaved_agent(tmp_path, kind):
    agent = trained(kind)
    path = save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room", include_replay=True)
    twin = load_agent(path, with_replay=True).agent
    assert read_save_info(path).has_replay
    assert len(twin.replay) == len(agent.replay)

    batch, twin_batch = agent.replay.sample(8), twin.replay.sample(8)
    for field, a, b in zip(batch._fields, batch, twin_batch, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=field)
    assert agent.update(batch) == twin.update(twin_batch)
    assert_same_tree(twin.online.state_dict(), agent.online.state_dict())
    assert_same_tree(twin.optimizer.state_dict(), agent.optimizer.state_dict())

    state = {"cell": CELLS[4]}
    assert play(agent, 20, dict(state)) == play(twin, 20, dict(state))
    np.testing.assert_array_equal(all_q_values(twin), all_q_values(agent))
    assert_same_tree(twin.target.state_dict(), agent.target.state_dict())


def test_tabular_resume_acts_and_learns_exactly_like_the_unsaved_agent(tmp_path):
    agent = trained("qlearning", steps=60)
    twin = load_agent(save_agent(tmp_path / "table.dqn", agent, env_id="gridworld/open-room",
                                 include_replay=True)).agent
    state = {"cell": CELLS[2]}
    assert play(agent, 50, dict(state)) == play(twin, 50, dict(state))
    np.testing.assert_array_equal(twin.q_table, agent.q_table)
    assert twin.epsilon == agent.epsilon


def test_save_info_summarises_from_meta_alone(tmp_path):
    agent = trained("attention")
    path = save_agent(tmp_path / "deep" / "er" / "agent.dqn", agent, env_id="gridworld/maze")
    assert path == tmp_path / "deep" / "er" / "agent.dqn" and path.is_file()
    rewrite_member(path, "weights.pt", b"garbage: read_save_info must not look at the weights")

    info = read_save_info(path)
    assert isinstance(info, SaveInfo)
    assert (info.path, info.env_id) == (path, "gridworld/maze")
    assert (info.agent_kind, info.network) == ("dqn", "attention")
    assert (info.steps, info.episodes, info.format_version) == (agent.step_count, len(agent.episodes), 1)
    assert info.best_return == max(e.episode_return for e in agent.episodes)
    assert datetime.fromisoformat(info.saved_at).tzinfo is not None
    assert info.map_text is None and info.has_replay is False


def test_save_info_of_an_untrained_tabular_agent(tmp_path):
    path = save_agent(tmp_path / "fresh.dqn", make_agent("qlearning"), env_id="gridworld/cliff")
    info = read_save_info(path)
    assert (info.agent_kind, info.network, info.steps, info.episodes, info.best_return) == (
        "qlearning", None, 0, 0, None)


def test_map_text_travels_with_the_save(tmp_path):
    level = tmp_path / "room.txt"
    text = "#####\n#S..#\n#...#\n#..G#\n#####\n"
    level.write_text(text)
    path = save_agent(tmp_path / "room.dqn", trained("qlearning"), env_id=str(level))
    level.unlink()
    loaded = load_agent(path)
    assert loaded.env_id == str(level)
    assert loaded.map_text == text == loaded.info.map_text == read_save_info(path).map_text
    env = make_env(loaded.env_id, render_mode=None, map_text=loaded.map_text)
    obs, _ = env.reset(seed=0)
    assert obs.shape == loaded.agent.obs_shape and 0 <= loaded.agent.act(obs) < 4
    env.close()

    given = "#####\n#S.G#\n#####\n"
    path = save_agent(tmp_path / "given.dqn", trained("mlp"), env_id=str(level), map_text=given)
    assert load_agent(path).map_text == given


def test_a_save_from_before_input_centring_loads_with_a_zero_reference(tmp_path):
    agent = trained("mlp")
    assert agent.online.input_reference.any()
    path = tmp_path / "old.dqn"
    save_agent(path, agent, env_id="gridworld/open-room")
    weights = weights_state(agent)
    for network in ("online", "target"):
        weights[network] = {k: v for k, v in weights[network].items() if k != "input_reference"}
    make_legacy(path, weights)
    loaded = load_agent(path).agent
    assert not loaded.online.input_reference.any() and not loaded.target.input_reference.any()
    assert torch.equal(loaded.online.body[0].weight, agent.online.body[0].weight)


def test_saving_twice_replaces_the_file(tmp_path):
    agent = trained("mlp")
    path = tmp_path / "agent.dqn"
    save_agent(path, agent, env_id="gridworld/open-room")
    play(agent, 10, {})
    save_agent(path, agent, env_id="gridworld/open-room")
    assert load_agent(path).agent.step_count == agent.step_count
    assert os.listdir(tmp_path) == ["agent.dqn"]


def test_unknown_config_fields_are_named(tmp_path):
    path = save_agent(tmp_path / "agent.dqn", trained("mlp"), env_id="gridworld/open-room")
    edit_meta(path, lambda meta: meta["config"].update(warp_drive=True, flux=2))
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line_error(error, path, "flux, warp_drive")


# --------------------------------------------------------------------------------------------- bad files


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _foreign_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "holiday photos")


def _text_file(path: Path) -> None:
    path.write_text("just some notes\n")


def _torch_file(path: Path) -> None:
    torch.save({"weight": torch.zeros(3)}, path)


def _future_version(path: Path) -> None:
    edit_meta(path, lambda meta: meta.update(format_version=2))


def _no_marker(path: Path) -> None:
    edit_meta(path, lambda meta: meta.update(format="something-else"))


def _missing_member(path: Path) -> None:
    rewrite_member(path, "weights.safetensors", None)


def _wrong_shapes(path: Path) -> None:
    other = make_agent("mlp", hidden_dim=8)
    rewrite_member(path, "weights.safetensors", pack_weights(other.online, other.target, other.optimizer))


def _wrong_optimizer(path: Path) -> None:
    agent, other = trained("mlp"), trained("mlp", hidden_dim=8)
    rewrite_member(path, "weights.safetensors", pack_weights(agent.online, agent.target, other.optimizer))


def _legacy_wrong_shapes(path: Path) -> None:
    make_legacy(path, weights_state(make_agent("mlp", hidden_dim=8)))


def _bad_meta_json(path: Path) -> None:
    rewrite_member(path, "meta.json", b"{not json")


def _bad_config_value(path: Path) -> None:
    edit_meta(path, lambda meta: meta["config"].update(gamma=7.0))


BAD_FILES = {
    "empty": (_empty, "empty file"),
    "truncated": (_truncated, "corrupt or truncated"),
    "random bytes": (_random_bytes, "not a DQN Arcade save"),
    "foreign zip": (_foreign_zip, "no meta.json"),
    "text file": (_text_file, "not a zip archive"),
    "torch file": (_torch_file, "not a DQN Arcade save"),
    "future version": (_future_version, "newer"),
    "no marker": (_no_marker, "not a DQN Arcade save"),
    "missing member": (_missing_member, "weights.safetensors is missing"),
    "legacy wrong shapes": (_legacy_wrong_shapes, "does not fit the config's mlp network"),
    "wrong shapes": (_wrong_shapes, "does not fit the config's mlp network"),
    "wrong optimizer": (_wrong_optimizer, "optimizer state does not fit"),
    "bad meta json": (_bad_meta_json, "not JSON"),
    "bad config value": (_bad_config_value, "gamma"),
}


@pytest.mark.parametrize("damage", list(BAD_FILES))
def test_bad_files_fail_with_one_line_naming_the_file(tmp_path, damage):
    spoil, fragment = BAD_FILES[damage]
    path = save_agent(tmp_path / "agent.dqn", trained("mlp"), env_id="gridworld/open-room")
    spoil(path)
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line_error(error, path, fragment)


def test_missing_file_and_directory(tmp_path):
    for path, fragment in ((tmp_path / "nowhere.dqn", "no such file"), (tmp_path, "directory")):
        for read in (load_agent, read_save_info):
            with pytest.raises(CheckpointError) as error:
                read(path)
            assert_one_line_error(error, path, fragment)


def test_read_save_info_rejects_foreign_and_future_files(tmp_path):
    path = tmp_path / "other.dqn"
    _foreign_zip(path)
    with pytest.raises(CheckpointError) as error:
        read_save_info(path)
    assert_one_line_error(error, path, "not a DQN Arcade save")
    path = save_agent(tmp_path / "agent.dqn", make_agent("qlearning"), env_id="gridworld/open-room")
    _future_version(path)
    with pytest.raises(CheckpointError) as error:
        read_save_info(path)
    assert_one_line_error(error, path, "newer")


def test_wrong_q_table_shape(tmp_path):
    path = save_agent(tmp_path / "table.dqn", trained("qlearning"), env_id="gridworld/open-room")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((7, 4)))
    rewrite_member(path, "q_table.npy", buffer.getvalue())
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line_error(error, path, "Q-table")


class _Payload:
    """Unpickling this would create a marker file: loading must refuse it instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_loading_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / "code-ran"
    path = save_agent(tmp_path / "agent.dqn", trained("mlp"), env_id="gridworld/open-room")
    make_legacy(path, {"online": _Payload(marker)})
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line_error(error, path, "weights.pt")
    assert not marker.exists()

    path = save_agent(tmp_path / "table.dqn", trained("qlearning"), env_id="gridworld/open-room")
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    rewrite_member(path, "q_table.npy", buffer.getvalue())
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    assert_one_line_error(error, path, "q_table.npy")
    assert not marker.exists()


def test_replay_with_pickled_arrays_is_refused(tmp_path):
    agent = trained("mlp")
    path = save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room", include_replay=True)
    marker = tmp_path / "code-ran"
    buffer = io.BytesIO()
    np.savez(buffer, **{**agent.replay.state_dict(), "rewards": np.array([_Payload(marker)], dtype=object)})
    rewrite_member(path, "replay.npz", buffer.getvalue())
    assert load_agent(path).agent.step_count == agent.step_count  # playing never reads the replay
    with pytest.raises(CheckpointError) as error:
        load_agent(path, with_replay=True)
    assert_one_line_error(error, path, "rewards")
    assert not marker.exists()


# -------------------------------------------------------------------------------------------- atomicity


def _fail(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


FAILURE_POINTS = {
    "replace": (os, "replace"),
    "fsync": (os, "fsync"),
    "mid-write": (zipfile.ZipFile, "writestr"),
    "mid-replay": (np, "savez_compressed"),
}


@pytest.mark.parametrize("where", list(FAILURE_POINTS))
def test_a_failed_write_keeps_the_previous_save_and_leaves_no_temp_file(tmp_path, monkeypatch, where):
    agent = trained("mlp")
    path = save_agent(tmp_path / "agent.dqn", agent, env_id="gridworld/open-room")
    before = path.read_bytes()
    play(agent, 10, {})
    monkeypatch.setattr(*FAILURE_POINTS[where], _fail)
    with pytest.raises(CheckpointError) as error:
        save_agent(path, agent, env_id="gridworld/open-room", include_replay=True)
    monkeypatch.undo()
    assert_one_line_error(error, path, "No space left on device")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["agent.dqn"]
    assert load_agent(path).agent.step_count == agent.step_count - 10


def test_an_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_agent(tmp_path / "agent.dqn", make_agent("qlearning"), env_id="gridworld/open-room")
    assert os.listdir(tmp_path) == []


def test_an_unwritable_destination_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    path = blocker / "agent.dqn"
    with pytest.raises(CheckpointError) as error:
        save_agent(path, make_agent("qlearning"), env_id="gridworld/open-room")
    assert_one_line_error(error, path, "cannot write the save")



@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_saves_move_between_cpu_and_gpu(tmp_path):
    agent = trained("attention")
    path = save_agent(tmp_path / "cpu.dqn", agent, env_id="gridworld/open-room", include_replay=True)
    gpu = load_agent(path, device="cuda", with_replay=True).agent
    assert gpu.device.type == "cuda"
    assert all(t.is_cuda for s in gpu.optimizer.state.values() for t in s.values() if t.dim() > 0)
    np.testing.assert_allclose(all_q_values(gpu), all_q_values(agent), rtol=1e-4, atol=1e-5)
    gpu.update(gpu.replay.sample(8))

    back = load_agent(save_agent(tmp_path / "gpu.dqn", gpu, env_id="gridworld/open-room"), device="cpu").agent
    assert back.device.type == "cpu" and back.update_count == agent.update_count + 1
    np.testing.assert_allclose(all_q_values(back), all_q_values(gpu), rtol=1e-4, atol=1e-5)


def test_a_policy_only_save_is_small_plays_the_same_and_trains_on(tmp_path, one_torch_thread):
    """What ships in assets/agents/: the online network alone; loading makes target = online, a fresh Adam."""
    from agents.checkpoint import load_agent, save_agent
    from agents.config import dqn_config_for
    from agents.dqn import DQNAgent

    config = dqn_config_for("atari", network="cnn", dueling=True, buffer_size=64, hidden_dim=64)
    agent = DQNAgent(config, (4, 84, 84), 6, [str(a) for a in range(6)], frame_stack=4, obs_scale=1 / 255, seed=3)
    agent.step_count = 1234
    full = save_agent(tmp_path / "full.dqn", agent, env_id="ALE/Pong-v5")
    small = save_agent(tmp_path / "small.dqn", agent, env_id="ALE/Pong-v5", policy_only=True)
    assert small.stat().st_size < 0.6 * full.stat().st_size  # no update yet: full = online + target
    loaded = load_agent(small, with_replay=True)
    assert loaded.notice is not None and "fresh optimizer" in loaded.notice
    obs = np.random.default_rng(0).integers(0, 256, (4, 84, 84), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.agent.q_values(obs), agent.q_values(obs))
    for mine, copy in zip(loaded.agent.online.parameters(), loaded.agent.target.parameters(), strict=True):
        assert torch.equal(mine, copy)
    assert loaded.agent.step_count == 1234 and not loaded.agent.optimizer.state
