"""Learning curves travel with the save: bounded however long the run, saved, loaded, checked like every member.

A save from `dqn-arcade train` and one from the window carry the same history; an old save without it still
opens (with curves estimated from its episodes), and a hostile history is refused in one line naming the file.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agents.checkpoint import HISTORY_MEMBER, MAX_HISTORY_BYTES, REPLAY_MEMBER, load_agent, load_whole, save_agent
from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import describe_env, make_env
from agents.errors import CheckpointError
from agents.factory import AgentSpec, create_agent
from agents.history import (
    HISTORY_POINTS,
    DownsampledSeries,
    HistoryError,
    TrainingHistory,
    episode_end_steps,
    past_curves,
)
from agents.runner import Mode, RunSettings, run
from agents.types import EpisodeStats, UpdateStats
from app.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ENV = "gridworld/open-room"
SMALL = ("learning_starts=20", "buffer_size=200", "batch_size=8", "train_frequency=2", "hidden_dim=16",
         "total_timesteps=400")


def trained_agent(kind: str = "dqn", steps: int = 300, seed: int = 0):
    env = make_env(ENV, render_mode=None, seed=seed)
    spec = AgentSpec(kind, "mlp" if kind == "dqn" else None, overrides=SMALL if kind == "dqn" else ())
    agent = create_agent(describe_env(ENV, env), spec, seed=seed)
    for _ in run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False), max_steps=steps, seed=seed):
        pass
    env.close()
    return agent


def rewrite_member(path: Path, name: str, data: bytes | None, *, meta_edit=None) -> None:
    """Replace (or with None remove) one member of a save, optionally editing meta.json too."""
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, content in members:
            if info.filename == name:
                if data is None:
                    continue
                content = data
            if info.filename == "meta.json" and meta_edit is not None:
                meta = json.loads(content)
                meta_edit(meta)
                content = json.dumps(meta).encode()
            archive.writestr(info, content)


def saved_history(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(HISTORY_MEMBER))


# ------------------------------------------------------------------------------------------- bounded


def test_a_series_stays_bounded_and_covers_the_whole_run() -> None:
    series = DownsampledSeries(("step", "value"), capacity=64)
    for step in range(1, 100_001):
        series.add(step, 2.0 * step)
    rows = series.rows()
    assert len(rows) <= 64 and series.stride >= 100_000 // 64
    assert rows[0, 0] < 2 * series.stride and rows[-1, 0] > 100_000 - 2 * series.stride
    np.testing.assert_allclose(rows[:, 1], 2.0 * rows[:, 0])  # each point is the mean of its records
    assert np.all(np.diff(rows[:, 0]) > 0)


def test_a_diverged_loss_is_skipped_so_the_save_stays_loadable() -> None:
    history = TrainingHistory(capacity=8)
    history.record(1, 1.0, 0, UpdateStats(loss=math.nan, mean_q=1.0))
    history.record(2, 1.0, 0, UpdateStats(loss=math.inf, mean_q=1.0))
    history.record(3, 1.0, 0, UpdateStats(loss=0.5, mean_q=2.0))
    np.testing.assert_array_equal(history.updates.rows(), [[3.0, 0.5, 2.0]])
    assert len(history.progress) == 3


def test_a_reloaded_series_goes_on_exactly_as_if_it_never_stopped() -> None:
    whole, first = (DownsampledSeries(("step", "value"), capacity=16) for _ in range(2))
    records = [(step, math.sin(step)) for step in range(1, 1001)]
    for record in records[:333]:
        whole.add(*record)
        first.add(*record)
    resumed = DownsampledSeries.from_json("test", json.loads(json.dumps(first.to_json())), ("step", "value"), 16)
    for record in records[333:]:
        whole.add(*record)
        resumed.add(*record)
    assert resumed.stride == whole.stride
    np.testing.assert_allclose(resumed.rows(), whole.rows(), rtol=1e-12)


def test_episode_end_steps_follow_the_progress_series_and_estimate_older_episodes() -> None:
    episodes = [EpisodeStats(i, float(i), 10, None) for i in range(6)]
    # Two episodes finished before the series began (at step 21); the others end at steps 30, 40, 50 and 60,
    # and each record counts the episodes finished before its step.
    steps = np.arange(21, 62, dtype=float)
    counts = 2 + (steps - 21) // 10
    np.testing.assert_allclose(episode_end_steps(episodes, steps, counts, 61), [10, 20, 30, 40, 50, 60])
    merged = DownsampledSeries(("step", "episodes"), capacity=8)  # means of 8 records: still close
    for step, count in zip(steps, counts, strict=True):
        merged.add(step, count)
    rows = merged.rows()
    assert np.abs(episode_end_steps(episodes, rows[:, 0], rows[:, 1], 61)[2:] - [30, 40, 50, 60]).max() <= 8
    # No series at all (a save from before histories): laid out by their lengths, never past the step count.
    np.testing.assert_allclose(episode_end_steps(episodes, np.zeros(0), np.zeros(0), 45),
                               [7.5, 15, 22.5, 30, 37.5, 45])
    assert len(episode_end_steps([], steps, counts, 61)) == 0


# ------------------------------------------------------------------------------------- saved, loaded


@pytest.mark.parametrize("kind", ["dqn", "qlearning"])
def test_training_records_the_history_and_a_save_brings_it_back(tmp_path, kind) -> None:
    agent = trained_agent(kind)
    progress, updates = agent.history.progress.rows(), agent.history.updates.rows()
    assert len(progress) == 300 and progress[-1, 0] == agent.step_count
    assert progress[0, 1] == pytest.approx(1.0, abs=0.02) and progress[-1, 1] == pytest.approx(agent.epsilon)
    assert progress[-1, 2] <= len(agent.episodes) and len(agent.episodes) > 0
    assert len(updates) > 50 and updates[0, 0] >= (20 if kind == "dqn" else 1)
    path = save_agent(tmp_path / "agent.dqn", agent, env_id=ENV)
    loaded = load_agent(path).agent
    np.testing.assert_array_equal(loaded.history.progress.rows(), progress)
    np.testing.assert_array_equal(loaded.history.updates.rows(), updates)
    curves = past_curves(loaded)
    assert curves.episodes == len(agent.episodes)
    np.testing.assert_array_equal(curves.episode_returns, [e.episode_return for e in agent.episodes])
    assert np.all(np.diff(curves.episode_steps) >= 0) and curves.episode_steps[-1] <= agent.step_count
    ends = np.cumsum([e.length for e in agent.episodes])  # one environment, training only: exact ends
    np.testing.assert_array_equal(curves.episode_steps, ends)


def test_a_history_never_grows_past_its_cap_in_the_file(tmp_path) -> None:
    agent = trained_agent(steps=60)
    for step in range(61, 200_000):
        agent.history.record(step, 0.05, len(agent.episodes), UpdateStats(loss=0.1, mean_q=1.0))
    agent.step_count = 200_000
    path = save_agent(tmp_path / "long.dqn", agent, env_id=ENV)
    data = saved_history(path)
    assert len(data["progress"]["rows"]) < HISTORY_POINTS and len(data["updates"]["rows"]) < HISTORY_POINTS
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(HISTORY_MEMBER).file_size < MAX_HISTORY_BYTES // 2
    assert len(load_agent(path).agent.history.progress) <= HISTORY_POINTS


def test_a_save_from_dqn_arcade_train_carries_the_history(tmp_path, capsys) -> None:
    save = tmp_path / "room.dqn"
    code = main(["train", "--env", ENV, "--net", "mlp", "--steps", "300", "--seed", "1", "--save", str(save),
                 "--quiet", *[arg for item in SMALL for arg in ("--set", item)]])
    capsys.readouterr()
    assert code == 0
    curves = past_curves(load_agent(save).agent)
    assert curves.episodes > 0 and len(curves.update_steps) > 50
    assert curves.epsilon_steps[-1] == 300 and curves.epsilons[0] == pytest.approx(1.0, abs=0.02)


def test_a_policy_only_save_keeps_its_curves_and_an_empty_agent_has_none(tmp_path) -> None:
    agent = trained_agent(steps=100)
    path = save_agent(tmp_path / "policy.dqn", agent, env_id=ENV, policy_only=True)
    assert len(load_agent(path).agent.history.progress) == 100
    config = dqn_config_for("gridworld", network="mlp", hidden_dim=8)
    fresh = DQNAgent(config, (4, 5, 5), 4, ("U", "R", "D", "L"))
    fresh.step_count = 5000  # an imported model: steps, but no curves
    curves = past_curves(fresh)
    assert curves.empty and curves.episodes == 0


def test_load_whole_brings_the_replay_back_or_says_why_it_stayed_behind(tmp_path) -> None:
    agent = trained_agent(steps=150)
    path = save_agent(tmp_path / "whole.dqn", agent, env_id=ENV, include_replay=True)
    whole = load_whole(path)
    assert len(whole.agent.replay) == len(agent.replay) > 0 and whole.notice is None
    assert len(load_whole(save_agent(tmp_path / "bare.dqn", agent, env_id=ENV)).agent.replay) == 0
    rewrite_member(path, REPLAY_MEMBER, b"PK\x03\x04 not an npz")
    with pytest.raises(CheckpointError):
        load_agent(path, with_replay=True)
    damaged = load_whole(path)  # the agent, without the replay that cannot come back
    assert len(damaged.agent.replay) == 0 and damaged.agent.step_count == agent.step_count
    assert "replay buffer was left behind" in damaged.notice and len(damaged.notice.splitlines()) == 1


# ------------------------------------------------------------------------------------------- old saves


def test_an_old_save_without_a_history_still_opens(tmp_path) -> None:
    agent = trained_agent(steps=200)
    path = save_agent(tmp_path / "old.dqn", agent, env_id=ENV)
    rewrite_member(path, HISTORY_MEMBER, None, meta_edit=lambda meta: meta["members"].pop("history"))
    loaded = load_agent(path).agent
    assert len(loaded.history.progress) == 0 and len(loaded.history.updates) == 0
    curves = past_curves(loaded)
    assert curves.episodes == len(agent.episodes)
    assert np.all(np.diff(curves.episode_steps) > 0) and curves.episode_steps[-1] <= agent.step_count


# ---------------------------------------------------------------------------------------------- hostile


def _set(path: tuple, value):
    def edit(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


HOSTILE = {
    "nan": (("progress", "rows", 0, 1), math.nan, "finite"),
    "infinity": (("updates", "rows", 0, 1), math.inf, "finite"),
    "huge integer": (("updates", "rows", 0, 2), 10 ** 400, "finite"),
    "text value": (("updates", "rows", 0, 2), "1\n2", "finite"),
    "short row": (("progress", "rows", 0), [1.0, 0.5], "3 numbers"),
    "bad stride": (("progress", "stride"), 0, "stride"),
    "bool stride": (("progress", "stride"), True, "stride"),
    "pending past stride": (("progress", "pending"), [5, [1.0, 1.0, 0.0]], "pending"),
    "epsilon above one": (("progress", "rows", 0, 1), 2.0, "epsilon"),
    "steps past the save": (("progress", "rows", -1, 0), 10 ** 9, "steps"),
    "steps going back": (("updates", "rows", 1, 0), -5.0, "steps"),
    "more episodes than saved": (("progress", "rows", -1, 2), 10 ** 6, "episode counts"),
    "unknown format": (("format",), 99, "format"),
    "not an object": (("progress",), [1, 2, 3], "object"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_history_is_refused_in_one_line(tmp_path, case) -> None:
    agent = trained_agent(steps=120)
    path = save_agent(tmp_path / "hostile.dqn", agent, env_id=ENV)
    data = saved_history(path)
    where, value, words = HOSTILE[case]
    _set(where, value)(data)
    rewrite_member(path, HISTORY_MEMBER, json.dumps(data).encode())
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and str(path) in message and HISTORY_MEMBER in message
    assert words in message


def test_too_many_points_and_oversized_or_broken_members_are_refused(tmp_path) -> None:
    agent = trained_agent(steps=60)
    path = save_agent(tmp_path / "big.dqn", agent, env_id=ENV)
    data = saved_history(path)
    data["updates"]["rows"] = [[1.0, 0.1, 0.1]] * (HISTORY_POINTS + 5)
    rewrite_member(path, HISTORY_MEMBER, json.dumps(data).encode())
    with pytest.raises(CheckpointError, match="points"):
        load_agent(path)
    for content, words in ((b" " * (MAX_HISTORY_BYTES + 1), "declares"), (b"{not json", "not JSON"),
                           (b"\xff\xfe", "not JSON"), (b"[" * 100_000, "not JSON")):
        rewrite_member(path, HISTORY_MEMBER, content)
        with pytest.raises(CheckpointError, match=words) as error:
            load_agent(path)
        assert len(str(error.value).splitlines()) == 1
    rewrite_member(path, HISTORY_MEMBER, None)  # named in meta.json, missing from the archive
    with pytest.raises(CheckpointError, match="history.json is missing"):
        load_agent(path)


def test_history_error_is_a_value_error_with_one_line() -> None:
    with pytest.raises(HistoryError) as error:
        TrainingHistory.from_json({"format": 1, "progress": {}, "updates": {}}, step_count=0, episodes=0)
    assert isinstance(error.value, ValueError) and len(str(error.value).splitlines()) == 1
