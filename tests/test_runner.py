"""The step loop: snapshots, episode bookkeeping, modes, learning signals, and the vector loop's replay streams."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from agents.envs.gridworld import GridWorldEnv, parse_map
from agents.envs.registry import describe_env, make_env
from agents.factory import AgentSpec, create_agent
from agents.replay import ReplayBuffer
from agents.runner import Mode, RunSettings, run
from agents.types import EpisodeStats, Evaluation, Transition
from agents.vector_runner import SyncEnvs, run_vector

TINY = "####\n#SG#\n####\n"
"""Two free cells: RIGHT reaches the goal, anything else bumps; truncation after 8 steps."""
CORRIDOR = "#########\n#S.....G#\n#########\n"
"""Goal six steps to the right of the start; truncation after 28 steps."""
SMALL = "#######\n#S..L.#\n#.#...#\n#....G#\n#######\n"
"""Goal six steps away (down, down, right x4), lava three steps to the right; truncation after 56 steps."""
UP, RIGHT, DOWN, LEFT = range(4)
AGENT_COLOUR = (52, 120, 246)


def _env(text: str, render_mode: str | None = None) -> GridWorldEnv:
    return GridWorldEnv(parse_map(text, source="test.txt"), render_mode=render_mode)


def _agent(env: GridWorldEnv, spec: AgentSpec, seed: int = 0):
    return create_agent(describe_env("test.txt", env), spec, seed=seed)


def _small_dqn(env: GridWorldEnv):
    spec = AgentSpec("dqn", "mlp", overrides=("learning_starts=10", "buffer_size=200", "batch_size=4",
                                             "train_frequency=2"))
    return _agent(env, spec)


class ScriptedAgent:
    """A recording test double: actions come from a script, every observed transition is kept (and stored)."""

    def __init__(self, action_names: Sequence[str], script: Callable[[int, int], int], *,
                 replay: ReplayBuffer | None = None, num_envs: int = 1) -> None:
        self.action_names = tuple(action_names)
        self.script = script
        self.replay = replay
        self.num_envs = num_envs
        self.step_count = 0
        self.episodes: list[EpisodeStats] = []
        self.transitions: list[Transition] = []
        self.calls = 0

    @property
    def epsilon(self) -> float:
        return 0.0

    def act(self, obs: np.ndarray, *, explore: bool = True, epsilon: float | None = None) -> int:
        self.calls += 1
        return self.script(0, self.calls - 1)

    def act_batch(self, obs_batch: np.ndarray, *, explore: bool = True) -> np.ndarray:
        self.calls += 1
        return np.array([self.script(i, self.calls - 1) for i in range(len(obs_batch))], dtype=np.int64)

    def evaluate(self, obs: np.ndarray) -> Evaluation:
        return Evaluation(np.zeros(len(self.action_names), np.float32), 0.0)

    def observe(self, transition: Transition):
        self.transitions.append(transition)
        if self.replay is not None:
            self.replay.add(*transition)
        self.step_count += self.num_envs
        return None


# ------------------------------------------------------------------------------------------ episodes


def test_snapshots_count_and_episode_bookkeeping_with_qlearning() -> None:
    env = _env(TINY)
    agent = _agent(env, AgentSpec(kind="qlearning"))
    snapshots = list(run(env, agent, max_steps=150, seed=0))
    assert len(snapshots) == 150
    expected_episode, expected_step, expected_return = 0, 0, 0.0
    finished = []
    goals = truncations = 0
    for i, snap in enumerate(snapshots):
        expected_step += 1
        expected_return += snap.reward
        assert snap.episode == expected_episode
        assert snap.episode_step == expected_step
        assert snap.episode_return == pytest.approx(expected_return)
        assert snap.total_steps == i + 1 and snap.mode is Mode.TRAIN
        assert snap.action_name == ("UP", "RIGHT", "DOWN", "LEFT")[snap.action]
        at_goal = snap.info["position"] == (1, 2)
        assert at_goal == (snap.action == RIGHT)
        assert snap.reward == pytest.approx(0.99 if at_goal else -0.01)
        assert snap.terminated == at_goal
        assert snap.truncated == (not at_goal and expected_step == 8)
        np.testing.assert_array_equal(snap.observation, env.observation_at(snap.info["position"]))
        if snap.terminated or snap.truncated:
            stats = EpisodeStats(expected_episode, snap.episode_return, expected_step,
                                 True if snap.terminated else None)
            assert snap.finished == stats
            finished.append(stats)
            goals += snap.terminated
            truncations += snap.truncated
            expected_episode, expected_step, expected_return = expected_episode + 1, 0, 0.0
        else:
            assert snap.finished is None
    assert agent.episodes == finished
    assert goals > 5 and truncations > 0  # both kinds of boundary were crossed


def test_episode_numbering_continues_from_the_agents_history() -> None:
    env = _env(TINY)
    agent = ScriptedAgent(env.get_action_meanings(), lambda _env, _t: RIGHT)
    agent.episodes.append(EpisodeStats(0, 1.0, 3, True))
    snaps = list(run(env, agent, max_steps=3))
    assert [s.episode for s in snaps] == [1, 2, 3]
    assert [e.index for e in agent.episodes] == [0, 1, 2, 3]
    assert all(s.episode_step == 1 and s.episode_return == pytest.approx(0.99) for s in snaps)


def test_lava_episode_is_not_a_success() -> None:
    env = _env(SMALL)
    agent = ScriptedAgent(env.get_action_meanings(), lambda _env, _t: RIGHT)
    snaps = list(run(env, agent, max_steps=3))
    stats = snaps[-1].finished
    assert snaps[-1].terminated and stats is not None
    assert (stats.index, stats.length, stats.success) == (0, 3, False)
    assert stats.episode_return == pytest.approx(-0.01 - 0.01 - 1.01)


# ------------------------------------------------------------------------------------------ modes


def test_train_then_play_with_a_small_dqn() -> None:
    env = _env(TINY)
    agent = _small_dqn(env)
    settings = RunSettings()
    train = list(run(env, agent, settings, max_steps=14, seed=1))
    assert len(train) == 14
    assert agent.step_count == 14 and len(agent.replay) == 14
    # learning starts after 10 steps, then one update every train_frequency = 2 steps
    assert [s.update is not None for s in train[10:]] == [False, True, False, True]
    assert all(s.update is None for s in train[:10])
    assert all(isinstance(s.evaluation, Evaluation) and s.evaluation.q_values.shape == (4,) for s in train)
    updates = agent.update_count

    play = list(run(env, agent, RunSettings(mode=Mode.PLAY), max_steps=20))
    assert len(play) == 20
    assert agent.step_count == 14 and len(agent.replay) == 14 and agent.update_count == updates == 2
    assert all(s.total_steps == 14 and s.update is None and s.mode is Mode.PLAY for s in play)


OPEN = "#######\n#S....#\n#.....#\n#....G#\n#######\n"
"""An open room: 14 cells a training episode may start on."""


def _record_starts(env: GridWorldEnv) -> list[tuple[int, int]]:
    """The cell each later reset of `env` puts the agent on."""
    starts: list[tuple[int, int]] = []
    reset = env.reset

    def recording_reset(**kwargs):
        obs, info = reset(**kwargs)
        starts.append(info["position"])
        return obs, info

    env.reset = recording_reset
    return starts


def test_exploring_starts_spread_training_episodes_but_play_starts_on_s() -> None:
    env = _env(OPEN)
    agent = _agent(env, AgentSpec("dqn", "mlp", overrides=("learning_starts=100000",)))
    assert agent.config.exploring_starts  # the gridworld default
    starts = _record_starts(env)
    list(run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False), max_steps=3000, seed=0))
    assert len(set(starts)) >= 12
    starts.clear()
    list(run(env, agent, RunSettings(mode=Mode.PLAY, play_epsilon=1.0, evaluate=False), max_steps=3000))
    assert len(starts) > 10 and set(starts) == {(1, 1)}


def test_without_exploring_starts_training_starts_on_s() -> None:
    env = _env(OPEN)
    agent = _agent(env, AgentSpec("dqn", "mlp", overrides=("learning_starts=100000", "exploring_starts=false")))
    starts = _record_starts(env)
    list(run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False), max_steps=3000, seed=0))
    assert len(starts) > 10 and set(starts) == {(1, 1)}


def test_vector_training_uses_exploring_starts_too() -> None:
    envs = SyncEnvs([lambda: _env(OPEN)] * 2)
    agent = create_agent(describe_env("test.txt", envs.envs[0]), AgentSpec("dqn", "mlp", overrides=(
        "learning_starts=100000",)), seed=0, num_envs=2)
    starts = [_record_starts(env) for env in envs.envs]
    for _ in run_vector(envs, agent, max_steps=3000, seed=0):
        pass
    assert all(len(set(cells)) >= 12 for cells in starts)


def test_play_mode_leaves_a_tabular_agent_untouched() -> None:
    env = _env(CORRIDOR)
    agent = _agent(env, AgentSpec(kind="qlearning"))
    table = agent.q_table.copy()
    snaps = list(run(env, agent, RunSettings(mode=Mode.PLAY, play_epsilon=0.5), max_steps=40))
    assert len(snaps) == 40
    assert agent.step_count == 0
    np.testing.assert_array_equal(agent.q_table, table)


def test_human_mode_uses_the_callable_and_stores_only_when_recording() -> None:
    env = _env(CORRIDOR)
    agent = _small_dqn(env)
    script = iter([LEFT, RIGHT, RIGHT, UP, DOWN, RIGHT, LEFT, RIGHT])
    settings = RunSettings(mode=Mode.HUMAN, human_action=lambda: next(script))
    snaps = list(run(env, agent, settings, max_steps=4))
    assert [s.action for s in snaps] == [LEFT, RIGHT, RIGHT, UP]
    assert [s.info["position"] for s in snaps] == [(1, 1), (1, 2), (1, 3), (1, 3)]
    assert agent.step_count == 0 and len(agent.replay) == 0

    settings.record_human = True
    snaps = list(run(env, agent, settings, max_steps=4))
    assert [s.action for s in snaps] == [DOWN, RIGHT, LEFT, RIGHT]
    assert agent.step_count == 4 and len(agent.replay) == 4
    assert [r.action for r in agent.replay.recent(4)] == [RIGHT, LEFT, RIGHT, DOWN]

    with pytest.raises(RuntimeError):
        next(run(env, agent, RunSettings(mode=Mode.HUMAN)))


def test_switching_mode_mid_episode_keeps_the_episode() -> None:
    env = _env(CORRIDOR)
    agent = _agent(env, AgentSpec(kind="qlearning"))
    settings = RunSettings(mode=Mode.HUMAN, human_action=lambda: RIGHT)
    loop = run(env, agent, settings, seed=0)
    modes = [Mode.HUMAN, Mode.HUMAN, Mode.TRAIN, Mode.PLAY, Mode.HUMAN]
    snaps = []
    for mode in modes:
        settings.mode = mode
        snaps.append(next(loop))
    # Five steps from six cells away cannot finish: the episode runs through every switch.
    assert [s.mode for s in snaps] == modes
    assert [s.episode for s in snaps] == [0] * 5
    assert [s.episode_step for s in snaps] == [1, 2, 3, 4, 5]
    assert snaps[-1].episode_return == pytest.approx(-0.05)
    assert not any(s.finished for s in snaps) and agent.episodes == []
    assert agent.step_count == 1  # only the TRAIN step was learned from
    assert [s.total_steps for s in snaps] == [0, 0, 1, 1, 1]
    # the observation the next step acts on is the last one, not a fresh reset
    before = snaps[-1].info["position"]
    settings.mode = Mode.HUMAN
    nxt = next(loop)
    assert nxt.episode_step == 6 and nxt.info["position"] == (before[0], min(before[1] + 1, 7))


def test_evaluation_is_none_when_turned_off() -> None:
    env = _env(TINY)
    agent = _agent(env, AgentSpec(kind="qlearning"))
    off = list(run(env, agent, RunSettings(evaluate=False), max_steps=5))
    assert all(s.evaluation is None for s in off)
    for snap in run(env, agent, RunSettings(evaluate=True), max_steps=5):
        np.testing.assert_array_equal(snap.evaluation.q_values, agent.q_values(snap.observation))


def test_snapshot_frame_is_the_rendered_picture() -> None:
    env = _env(CORRIDOR, render_mode="rgb_array")
    agent = ScriptedAgent(env.get_action_meanings(), lambda _env, t: (RIGHT, RIGHT, LEFT)[t % 3])
    for snap in run(env, agent, max_steps=4):
        assert snap.frame.shape == (3 * 32, 9 * 32, 3) and snap.frame.dtype == np.uint8
        np.testing.assert_array_equal(snap.frame, env.render())
        r, c = snap.info["position"]
        assert tuple(int(v) for v in snap.frame[r * 32 + 16, c * 32 + 16]) == AGENT_COLOUR
    assert snap.info["position"] == (1, 3)


def test_render_off_skips_drawing_but_not_the_step() -> None:
    env = _env(CORRIDOR, render_mode="rgb_array")
    agent = ScriptedAgent(env.get_action_meanings(), lambda _env, t: RIGHT)
    snaps = list(run(env, agent, RunSettings(render=False), max_steps=3))
    assert all(s.frame.shape == (1, 1, 3) for s in snaps)
    assert snaps[-1].info["position"] == (1, 4) and snaps[-1].observation[1, 1, 4] == 1


# ------------------------------------------------------------------------------------------ Atari


def test_atari_learning_signal_is_clipped_while_the_snapshot_stays_raw() -> None:
    env = make_env("ALE/SpaceInvaders-v5", render_mode=None, seed=0)
    rng = np.random.default_rng(0)
    agent = ScriptedAgent(env.unwrapped.get_action_meanings(), lambda _env, _t: int(rng.integers(6)))
    raw_return = 0.0
    saw_big_reward = saw_life_loss = False
    for i, snap in enumerate(run(env, agent, max_steps=1500, seed=0)):
        transition = agent.transitions[i]
        assert len(agent.transitions) == i + 1
        raw_return += snap.reward
        assert snap.episode_return == pytest.approx(raw_return)
        assert transition.reward == float(np.sign(snap.reward))
        assert transition.terminated == snap.info["learning_terminated"]
        assert transition.truncated == snap.truncated
        assert transition.episode_end == (snap.terminated or snap.truncated)
        assert transition.next_obs.shape == (4, 84, 84)
        np.testing.assert_array_equal(transition.next_obs, snap.observation)
        if i > 0 and not (agent.transitions[i - 1].episode_end):
            np.testing.assert_array_equal(transition.obs, agent.transitions[i - 1].next_obs)
        saw_big_reward |= snap.reward > 1
        if transition.terminated and not snap.terminated:
            saw_life_loss = True
            assert transition.episode_end is False and snap.finished is None
        if saw_big_reward and saw_life_loss:
            break
    env.close()
    assert saw_big_reward and saw_life_loss
    assert raw_return > sum(t.reward for t in agent.transitions)  # clipping shrank the learning return


# ------------------------------------------------------------------------------------------ vector loop


def _script(env_index: int, t: int) -> int:
    """Env 0 walks to the goal (6 steps) over and over; env 1 walks into lava (3 steps), then bumps UP
    until truncation (56 steps), and repeats."""
    if env_index == 0:
        return (DOWN, DOWN, RIGHT, RIGHT, RIGHT, RIGHT)[t % 6]
    return RIGHT if t % 59 < 3 else UP


def _stream(buffer: ReplayBuffer, env_index: int) -> dict[str, np.ndarray]:
    return {name: getattr(buffer, name)[env_index] for name in
            ("frames", "actions", "rewards", "terminated", "truncated", "valid", "first", "cursor", "written",
             "in_episode")}


def test_vector_replay_streams_equal_single_env_runs() -> None:
    steps, ring = 70, 40
    shape = (4, 5, 7)
    singles = []
    for env_index in range(2):
        env = _env(SMALL)
        agent = ScriptedAgent(env.get_action_meanings(), lambda _e, t, i=env_index: _script(i, t),
                              replay=ReplayBuffer(ring, shape, seed=0))
        snaps = list(run(env, agent, max_steps=steps, seed=10 + env_index))
        assert len(snaps) == steps
        singles.append(agent)
    # env 1 crossed lava episodes and a truncation; env 0 reached the goal repeatedly; the rings wrapped
    assert any(t.truncated for t in singles[1].transitions)
    assert sum(e.success is True for e in singles[0].episodes) == steps // 6
    assert all(a.replay.written[0] > ring for a in singles)

    envs = SyncEnvs([lambda: _env(SMALL), lambda: _env(SMALL)])
    vector = ScriptedAgent(envs.envs[0].get_action_meanings(), _script,
                           replay=ReplayBuffer(2 * ring, shape, num_envs=2), num_envs=2)
    results = list(run_vector(envs, vector, max_steps=2 * steps, seed=10))
    envs.close()
    assert len(results) == steps and results[-1].total_steps == 2 * steps
    for env_index, single in enumerate(singles):
        mine, theirs = _stream(vector.replay, env_index), _stream(single.replay, 0)
        for name in mine:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=f"env {env_index}: {name}")
    assert len(vector.replay) == sum(len(a.replay) for a in singles)
    finished = sorted((e.episode_return, e.length, e.success is True) for e in vector.episodes)
    expected = sorted((e.episode_return, e.length, e.success is True) for a in singles for e in a.episodes)
    assert [(round(r, 6), n, s) for r, n, s in finished] == [(round(r, 6), n, s) for r, n, s in expected]
    assert [e.index for e in vector.episodes] == list(range(len(vector.episodes)))


def test_sync_envs_hand_back_the_true_final_observation() -> None:
    envs = SyncEnvs([lambda: _env(TINY), lambda: _env(TINY)])
    obs = envs.reset(seed=0)
    assert obs.shape == (2, 4, 3, 4)
    next_obs, carry_on, rewards, terminated, truncated, infos = envs.step(np.array([RIGHT, LEFT]))
    assert next_obs[0, 1, 1, 2] == 1  # env 0 stands on the goal in the observation it stepped to
    assert carry_on[0, 1, 1, 1] == 1  # and acts next from the reset start
    np.testing.assert_array_equal(next_obs[1], carry_on[1])
    np.testing.assert_allclose(rewards, [0.99, -0.01])
    assert terminated.tolist() == [True, False] and truncated.tolist() == [False, False]
    assert infos[0]["success"] is True and "success" not in infos[1]


def _atari_script(env_index: int, t: int) -> int:
    """FIRE now and then (Breakout serves on FIRE), otherwise a fixed pseudo-random walk per env."""
    return 1 if t % 25 == 0 else (t * 7 + env_index * 3) % 4


def test_vector_replay_streams_equal_single_env_runs_on_atari() -> None:
    """The vectorised path stores exactly what the single-env path stores: preprocessed (4, 84, 84) uint8
    frames, clipped rewards, life-loss terminals, episode boundaries."""
    env_id, steps, ring = "ALE/Breakout-v5", 150, 200
    singles = []
    for env_index in range(2):
        env = make_env(env_id, render_mode=None)
        agent = ScriptedAgent(env.unwrapped.get_action_meanings(), lambda _e, t, i=env_index: _atari_script(i, t),
                              replay=ReplayBuffer(ring, (4, 84, 84), frame_stack=4, seed=0))
        list(run(env, agent, max_steps=steps, seed=3 + env_index))
        env.close()
        singles.append(agent)
    assert any(t.terminated for a in singles for t in a.transitions)  # a life was lost somewhere
    envs = SyncEnvs([lambda: make_env(env_id, render_mode=None) for _ in range(2)])
    vector = ScriptedAgent(singles[0].action_names, _atari_script,
                           replay=ReplayBuffer(2 * ring, (4, 84, 84), frame_stack=4, num_envs=2), num_envs=2)
    list(run_vector(envs, vector, max_steps=2 * steps, seed=3))
    envs.close()
    assert vector.replay.frames.dtype == np.uint8
    for env_index, single in enumerate(singles):
        mine, theirs = _stream(vector.replay, env_index), _stream(single.replay, 0)
        for name in mine:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=f"env {env_index}: {name}")
    batch = vector.replay.sample(8)
    assert batch.observations.shape == (8, 4, 84, 84) and batch.observations.dtype == np.uint8
    assert set(np.unique(vector.replay.rewards)) <= {-1.0, 0.0, 1.0}
