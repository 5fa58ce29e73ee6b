"""Ape-X on Ray: the actors' exploration rates, chunks that carry each frame once and rebuild the very
observations, a local Ray with 2 actors that learns four rooms, an actor killed mid-run, and the save's opening.

The Ray tests need the optional extra (`pip install -e ".[distributed]"`) and skip without it.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from agents.distributed.actors import ApexActor, actor_epsilons, network_weights, pack, store_chunk, unpack
from agents.envs.registry import describe_env, make_env
from agents.factory import AgentSpec, create_agent
from app.cli import main
from tests.test_replay_integrity import StepRecorder, assert_only_real_transitions
from tests.test_window import dialogs  # noqa: F401 - the fixture

GRID, ATARI = "gridworld/four-rooms", "ALE/Breakout-v5"
LEARN_STEPS, LEARN_ROUNDS = 10_000, 4
"""Four rooms from 2 actors, checked every 10,000 steps up to 40,000: the single-process trainer needs 5,000 to
7,500 (README, Learning); 2 actors usually 10,000 to 20,000."""


def test_actor_epsilons_follow_ape_x():
    """epsilon_i = 0.4 ^ (1 + 7 i / (N - 1)): 0.4 for the first actor, 0.4^8 for the last."""
    assert actor_epsilons(1) == [0.4]
    eight = actor_epsilons(8)
    assert eight[0] == pytest.approx(0.4) and eight[-1] == pytest.approx(0.4 ** 8)
    assert eight[3] == pytest.approx(0.4 ** 4) and eight == sorted(eight, reverse=True)
    with pytest.raises(ValueError):
        actor_epsilons(0)


def test_packed_arrays_come_back_equal():
    frames = np.random.default_rng(0).integers(0, 255, (7, 84, 84), dtype=np.uint8)
    np.testing.assert_array_equal(unpack(pack(frames)), frames)


@pytest.mark.parametrize("env_id", [GRID, ATARI])
def test_a_chunk_rebuilds_the_steps_the_actor_took(env_id, monkeypatch):
    """The learner's replay, filled from chunks only, holds exactly the steps the actor's environment took, across
    episode ends (a small gridworld time limit) and a restart of the actor."""
    real: set = set()
    import agents.distributed.actors as actors

    monkeypatch.setattr(actors, "make_env", lambda *a, **k: StepRecorder(make_env(*a, **k), real))
    probe = make_env(env_id, render_mode=None)
    description = describe_env(env_id, probe)
    learner = create_agent(description, AgentSpec("dqn", "mlp" if env_id == GRID else "cnn"), device="cpu", seed=0,
                           num_envs=2, extra_overrides=("buffer_size=2000", "learning_starts=100000"))
    actor = ApexActor(0, env_id, description, learner.config, 0.5, seed=1)
    weights = (1, network_weights(learner.online))
    sizes = []
    for _ in range(4):
        chunk = actor.collect(weights, 60)
        store_chunk(learner.replay, chunk, 0)
        sizes.append(len(unpack(chunk.frames).tobytes()))
    restarted = ApexActor(0, env_id, description, learner.config, 0.5, seed=2)  # Ray would restart the process
    store_chunk(learner.replay, restarted.collect(weights, 60), 0)
    assert assert_only_real_transitions(learner.replay, real) >= 250
    frame_bytes = int(np.prod(description.obs_shape[1:] if description.frame_stack > 1 else description.obs_shape))
    assert max(sizes) == 60 * frame_bytes  # once per frame, never a stack per step
    assert {int(s) for s in np.unique(learner.replay.sources[0, :300])} <= {0, 1, 2}


def test_actors_without_ray_is_one_line(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert main(["train", "--env", GRID, "--actors", "2", "--steps", "100", "--quiet"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "pip install -e '.[distributed]'" in error[0]


def test_actors_and_num_envs_do_not_combine(capsys):
    assert main(["train", "--env", GRID, "--actors", "2", "--num-envs", "2", "--steps", "100", "--quiet"]) != 0
    assert "do not combine" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ on a local Ray


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    from agents.distributed.ray_training import connect

    connect(ray, None)
    yield ray
    ray.shutdown()


def greedy_path_length(save) -> int | None:
    from agents.checkpoint import load_agent
    from agents.runner import Mode, RunSettings, run

    agent = load_agent(save).agent
    env = make_env(GRID, render_mode=None)
    for snap in run(env, agent, RunSettings(mode=Mode.PLAY, evaluate=False, render=False), max_steps=200):
        if snap.finished is not None:
            return snap.finished.length if snap.finished.success else None
    return None


@pytest.fixture(scope="module")
def apex_save(ray_local, tmp_path_factory):
    """Four rooms trained by 2 actors and the learner, saved with its replay, in rounds of LEARN_STEPS until its
    greedy path is a shortest one (at most LEARN_ROUNDS): (save, the last run's report, greedy path lengths)."""
    import contextlib
    import io

    save = tmp_path_factory.mktemp("apex") / "apex.dqn"
    shortest = make_env(GRID, render_mode=None).unwrapped.shortest_path_length()
    lengths: list[int | None] = []
    for round_ in range(1, LEARN_ROUNDS + 1):
        out = io.StringIO()
        resume = ["--resume", str(save)] if round_ > 1 else ["--env", GRID, "--seed", "0"]
        with contextlib.redirect_stdout(out):
            code = main(["train", *resume, "--actors", "2", "--steps", str(round_ * LEARN_STEPS), "--save", str(save),
                         "--save-replay", "--quiet"])
        assert code == 0
        lengths.append(greedy_path_length(save))
        if lengths[-1] == shortest:
            break
    return save, out.getvalue(), lengths


def test_two_actors_learn_the_shortest_path_of_four_rooms(apex_save):
    """Ape-X's rates for 2 actors (0.4 and 0.4^8) explore less than the single-process schedule from 1.0, and the
    order chunks arrive in varies, so the run is checked every LEARN_STEPS steps (the greedy path from S)."""
    save, report, lengths = apex_save
    assert "2 actors:" in report and "updates/s (1 update per" in report
    assert lengths[-1] == make_env(GRID, render_mode=None).unwrapped.shortest_path_length(), lengths


def test_a_distributed_save_resumes_with_another_number_of_actors(apex_save, tmp_path):
    from agents.checkpoint import load_agent

    save, _, _ = apex_save
    resumed = tmp_path / "resumed.dqn"
    before = load_agent(save, with_replay=True).agent
    target = before.step_count + 2000
    assert main(["train", "--resume", str(save), "--actors", "3", "--steps", str(target), "--save",
                 str(resumed), "--save-replay", "--quiet"]) == 0
    after = load_agent(resumed, with_replay=True, num_envs=3).agent
    assert after.step_count >= target and len(after.episodes) > len(before.episodes)
    assert after.replay.num_envs == 3 and len(after.replay) > len(before.replay) - 100


def test_a_distributed_save_opens_in_the_window(apex_save, qtbot, dialogs):  # noqa: F811
    from app.window import MainWindow

    save, _, _ = apex_save
    window = MainWindow(None, str(save), device="cpu", seed=0)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session is not None and window.game_view.frame is not None, timeout=30_000)
    assert window.session.opened_from == str(save) and window.session.step_count >= LEARN_STEPS
    assert not dialogs.warnings
    window.close()


def test_killing_an_actor_does_not_stop_training(ray_local, tmp_path):
    from agents.distributed.ray_training import DistributedStats, distributed_steps

    env = make_env(GRID, render_mode=None)
    description = describe_env(GRID, env)
    agent = create_agent(description, AgentSpec("dqn", "mlp"), device="cpu", seed=0, num_envs=2)
    stats = DistributedStats(2)
    killed = []

    def kill_once(stats, handles):
        if stats.chunks == 10 and not killed:
            pid = ray_local.get(handles[1].pid.remote())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    for _ in distributed_steps(agent, GRID, description, 2, target=6000, stats=stats, on_chunk=kill_once):
        pass
    assert killed and agent.step_count >= 6000
    assert stats.restarts >= 1 and stats.lost_chunks >= 1
    assert stats.chunks * 50 == stats.steps >= 6000  # every chunk that arrived was learned from


def test_a_prioritized_learner_gives_each_arriving_step_the_top_priority_and_moves_it_after_updates(ray_local):
    from agents.distributed.ray_training import DistributedStats, distributed_steps
    from agents.prioritized_replay import PrioritizedReplayBuffer

    env = make_env(GRID, render_mode=None)
    description = describe_env(GRID, env)
    agent = create_agent(description, AgentSpec("dqn", "mlp", overrides=("prioritized_replay=true",)), device="cpu",
                         seed=0, num_envs=2)
    assert isinstance(agent.replay, PrioritizedReplayBuffer)
    for _ in distributed_steps(agent, GRID, description, 2, target=3000, stats=DistributedStats(2)):
        pass
    assert agent.update_count > 0
    leaves = agent.replay.tree.leaves.reshape(agent.replay.num_envs, agent.replay.ring)
    assert (leaves[~agent.replay.valid] == 0).all() and (leaves[agent.replay.valid] > 0).all()
    assert len(np.unique(leaves[agent.replay.valid])) > 100  # the learner's TD errors, not one arrival value


def test_chunk_size_and_publication_period_are_settings(ray_local, tmp_path, capsys):
    assert main(["train", "--env", GRID, "--actors", "2", "--steps", "1500", "--chunk-steps", "20",
                 "--publish-every", "10", "--save", str(tmp_path / "small.dqn"), "--quiet"]) == 0
    report = capsys.readouterr().out
    assert "chunks of 20 steps, weights every 10 updates" in report
    assert "uniform replay" in report


def test_distributed_flags_without_actors_are_one_line(capsys):
    assert main(["train", "--env", GRID, "--chunk-steps", "20", "--steps", "100", "--quiet"]) != 0
    assert "--chunk-steps needs --actors N" in capsys.readouterr().err
