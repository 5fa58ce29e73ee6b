"""Prioritized replay (Schaul et al. 2016): the sum tree, sampling in proportion to priority, the importance
weights worked out by hand, priorities that follow the TD error, survive the ring and a save, and an agent
that learns with it.

Frames name their time step (frame t holds the value t), so a sampled row says which transition it is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.checkpoint import load_agent, save_agent
from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import describe_env, make_env
from agents.errors import ConfigError
from agents.factory import AgentSpec, create_agent
from agents.memory_budget import estimate_training_memory
from agents.prioritized_replay import PrioritizedReplayBuffer, SumTree, annealed_beta
from agents.replay import ReplayBuffer
from agents.runner import Mode, RunSettings, run


def frame(t: int) -> np.ndarray:
    return np.array([t], dtype=np.uint8)


def filled(capacity: int = 16, steps: int = 8, **kwargs: object) -> PrioritizedReplayBuffer:
    """One open episode of `steps` transitions t -> t + 1 (slot t holds transition t), reward t."""
    buffer = PrioritizedReplayBuffer(capacity, (1,), seed=0, **kwargs)
    for t in range(steps):
        buffer.add(frame(t), 0, float(t), frame(t + 1), False, False)
    return buffer


def draw_counts(buffer: PrioritizedReplayBuffer, draws: int, batch: int = 64) -> np.ndarray:
    counts = np.zeros(buffer.capacity, np.int64)
    for _ in range(draws // batch):
        np.add.at(counts, buffer.sample(batch).indices, 1)
    return counts


# ------------------------------------------------------------------------------------------- the tree

@pytest.mark.parametrize("size", [1, 2, 5, 8, 13])
def test_the_tree_sums_its_leaves_and_finds_each_span_of_the_cumulative_sum(size: int) -> None:
    tree = SumTree(size)
    values = np.arange(1, size + 1, dtype=np.float64)
    tree.set(np.arange(size), values)
    assert tree.total == values.sum()
    edges = np.concatenate([[0.0], np.cumsum(values)])
    inside = (edges[:-1] + edges[1:]) / 2  # the middle of each leaf's span
    np.testing.assert_array_equal(tree.find(inside), np.arange(size))
    np.testing.assert_array_equal(tree.find(edges[:-1]), np.arange(size))  # a span includes its lower end


def test_the_tree_never_lands_on_an_empty_leaf_even_at_the_top_end() -> None:
    tree = SumTree(8)
    tree.set([1, 4], [0.3, 0.7])
    found = tree.find([0.0, 0.29, 0.3, 0.999, 1.0, 1.0 + 1e-9])
    np.testing.assert_array_equal(found, [1, 1, 4, 4, 4, 4])


def test_one_leaf_and_many_leaves_update_the_same_sums_and_the_last_repeat_wins() -> None:
    a, b = SumTree(10), SumTree(10)
    rng = np.random.default_rng(1)
    for _ in range(50):
        leaves = rng.integers(10, size=4)
        values = rng.random(4)
        a.set(leaves, values)
        for leaf, value in zip(leaves, values, strict=True):
            b.set_one(int(leaf), float(value))
    np.testing.assert_allclose(a.nodes, b.nodes, rtol=0, atol=1e-12)
    rebuilt = SumTree(10)
    rebuilt.leaves[...] = a.leaves
    rebuilt.rebuild()
    np.testing.assert_allclose(rebuilt.nodes, a.nodes, rtol=0, atol=1e-12)
    with pytest.raises(IndexError):
        a.set([10], [1.0])


# ---------------------------------------------------------------------------------- the buffer

def test_new_transitions_get_the_largest_priority_seen_so_far() -> None:
    buffer = filled(steps=4, alpha=1.0, priority_epsilon=0.5)
    np.testing.assert_array_equal(buffer.priorities([0, 1, 2, 3, 4]), [1, 1, 1, 1, 0])  # slot 4: the newest frame
    buffer.update_priorities([2], [3.5])  # p = 3.5 + 0.5
    buffer.add(frame(4), 0, 0.0, frame(5), False, False)
    np.testing.assert_array_equal(buffer.priorities([0, 1, 2, 3, 4]), [1, 1, 4, 1, 4])


def test_sampling_follows_the_priorities_to_the_power_alpha() -> None:
    buffer = filled(steps=4, alpha=0.5, priority_epsilon=1e-9)
    buffer.update_priorities([0, 1, 2, 3], [1.0, 4.0, 9.0, 0.0])  # p^0.5 = 1, 2, 3, ~0
    counts = draw_counts(buffer, 64_000)
    shares = counts[:4] / counts.sum()
    np.testing.assert_allclose(shares, [1 / 6, 2 / 6, 3 / 6, 0.0], atol=0.01)


def test_importance_weights_by_hand() -> None:
    """N = 4 transitions with p^alpha = 1, 1, 2, 4 (total 8): P = 1/8, 1/8, 2/8, 4/8, so with beta = 1
    w = 1 / (N P) = 2, 2, 1, 0.5, divided by the largest in the batch."""
    buffer = filled(steps=4, alpha=1.0, priority_epsilon=1e-12)
    buffer.update_priorities([0, 1, 2, 3], [1.0, 1.0, 2.0, 4.0])
    expected = {0: 2.0, 1: 2.0, 2: 1.0, 3: 0.5}
    for _ in range(20):
        batch = buffer.sample(8, beta=1.0)
        raw = np.array([expected[int(i)] for i in batch.indices])
        np.testing.assert_allclose(batch.weights, raw / raw.max(), rtol=1e-6)
        assert batch.weights.dtype == np.float32
    beta_zero = buffer.sample(8, beta=0.0)
    np.testing.assert_array_equal(beta_zero.weights, np.ones(8, np.float32))  # no correction at all


def test_stratified_draws_take_one_row_from_each_part_of_the_mass() -> None:
    buffer = filled(steps=4, alpha=1.0, priority_epsilon=1e-12)
    buffer.update_priorities([0, 1, 2, 3], [1.0, 1.0, 1.0, 1.0])
    for _ in range(10):
        assert sorted(buffer.sample(4).indices.tolist()) == [0, 1, 2, 3]


def test_sampled_rows_are_the_stored_transitions_with_their_n_step_returns() -> None:
    buffer = filled(steps=6, n_step=2, gamma=0.5)
    batch = buffer.sample(32)
    np.testing.assert_array_equal(batch.observations[:, 0], batch.indices)
    for index, reward, nxt in zip(batch.indices, batch.rewards, batch.next_observations[:, 0], strict=True):
        steps = 2 if index < 5 else 1  # the newest transition has no second step yet
        assert nxt == index + steps
        assert reward == pytest.approx(index + (0.5 * (index + 1) if steps == 2 else 0.0))


def test_an_overwritten_transition_is_never_drawn_and_its_priority_is_gone() -> None:
    buffer = filled(capacity=8, steps=20, alpha=1.0)  # the ring has wrapped twice
    counts = draw_counts(buffer, 6_400)
    stored = {int(buffer.frames[0, slot, 0]) for slot in np.flatnonzero(buffer.valid[0])}
    assert len(stored) == 7 and max(stored) == 19
    assert buffer.tree.total == pytest.approx(7.0)
    assert counts[~buffer.valid[0]].sum() == 0
    assert (counts[buffer.valid[0]] > 0).all()


def test_a_stack_whose_history_was_overwritten_is_rejected_and_drawn_again() -> None:
    buffer = PrioritizedReplayBuffer(8, (4, 1), frame_stack=4, seed=0, alpha=1.0)
    frames = [frame(t) for t in range(30)]
    for t in range(20):
        obs = np.stack([frames[max(j, 0)] for j in range(t - 3, t + 1)])
        nxt = np.stack([frames[max(j, 0)] for j in range(t - 2, t + 2)])
        buffer.add(obs, 0, 0.0, nxt, False, False)
    allowed = set(buffer.sampleable().tolist())
    assert len(allowed) < int(buffer.valid.sum())  # some valid slots lost their history to the cursor
    for _ in range(50):
        batch = buffer.sample(16)
        assert set(batch.indices.tolist()) <= allowed
        newest = batch.observations[:, -1, 0].astype(int)
        np.testing.assert_array_equal(batch.observations[:, 0, 0], newest - 3)  # intact 4-frame stacks


def test_bad_td_errors_are_refused_or_given_the_largest_priority() -> None:
    buffer = filled(steps=4, alpha=1.0, priority_epsilon=1e-12)
    buffer.update_priorities([0], [5.0])
    buffer.update_priorities([1, 2], [np.nan, np.inf])
    np.testing.assert_allclose(buffer.priorities([1, 2]), [5.0, 5.0])
    assert np.isfinite(buffer.tree.total)
    with pytest.raises(ValueError, match="TD errors"):
        buffer.update_priorities([0, 1], [1.0])
    with pytest.raises(ValueError, match="out of range"):
        buffer.update_priorities([99], [1.0])


def test_priorities_and_the_sampling_stream_come_back_from_a_state_dict() -> None:
    buffer = filled(steps=6, alpha=0.7)
    buffer.update_priorities([0, 3], [2.0, 9.0])
    copy = PrioritizedReplayBuffer(16, (1,), seed=5, alpha=0.7)
    copy.load_state_dict(buffer.state_dict())
    np.testing.assert_array_equal(copy.tree.nodes, buffer.tree.nodes)
    assert copy.max_priority == buffer.max_priority
    np.testing.assert_array_equal(copy.sample(8).indices, buffer.sample(8).indices)


def test_a_uniform_save_or_another_layout_starts_every_transition_at_the_largest_priority() -> None:
    uniform = ReplayBuffer(16, (1,), seed=0)
    for t in range(5):
        uniform.add(frame(t), 0, 0.0, frame(t + 1), False, False)
    buffer = PrioritizedReplayBuffer(16, (1,), seed=0, alpha=1.0)
    buffer.load_state_dict(uniform.state_dict())
    np.testing.assert_array_equal(buffer.priorities(range(6)), [1, 1, 1, 1, 1, 0])
    two_streams = PrioritizedReplayBuffer(16, (1,), seed=0, num_envs=2, alpha=1.0)
    two_streams.load_state_dict(filled(steps=5, alpha=1.0).state_dict())
    assert two_streams.tree.total == pytest.approx(float(two_streams.valid.sum()))


def test_hostile_saved_priorities_are_refused_and_the_buffer_is_untouched() -> None:
    buffer = filled(steps=5)
    before = buffer.tree.nodes.copy()
    for bad in (np.nan, -1.0, np.inf):
        state = filled(steps=3).state_dict()
        state["priorities"] = state["priorities"].copy()
        state["priorities"][0, 0] = bad
        with pytest.raises(ValueError, match="priorities"):
            buffer.load_state_dict(state)
        np.testing.assert_array_equal(buffer.tree.nodes, before)
        assert len(buffer) == 5


def test_annealed_beta_goes_from_beta0_to_one_over_the_horizon() -> None:
    assert annealed_beta(0.4, 0, 1000) == pytest.approx(0.4)
    assert annealed_beta(0.4, 500, 1000) == pytest.approx(0.7)
    assert annealed_beta(0.4, 1000, 1000) == pytest.approx(1.0)
    assert annealed_beta(0.4, 5000, 1000) == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ the agent

def gridworld_agent(**overrides: object) -> DQNAgent:
    config = dqn_config_for("gridworld", network="mlp", buffer_size=64, batch_size=8, learning_starts=8,
                            train_frequency=1, total_timesteps=1000, **overrides)
    return DQNAgent(config, (4, 3, 3), 4, ("up", "down", "left", "right"), seed=0)


def add_random_steps(agent: DQNAgent, steps: int) -> None:
    rng = np.random.default_rng(0)
    obs = rng.random((4, 3, 3)).astype(np.float32)
    for _ in range(steps):
        nxt = rng.random((4, 3, 3)).astype(np.float32)
        agent.replay.add(obs, int(rng.integers(4)), float(rng.random()), nxt, False, False)
        obs = nxt


def test_the_config_switches_replay_and_checks_its_values() -> None:
    assert type(gridworld_agent().replay) is ReplayBuffer
    agent = gridworld_agent(prioritized_replay=True, priority_alpha=0.5)
    assert isinstance(agent.replay, PrioritizedReplayBuffer) and agent.replay.alpha == 0.5
    for bad in ({"priority_alpha": 1.5}, {"priority_beta": -0.1}, {"priority_epsilon": 0.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            dqn_config_for("gridworld", **bad)
    plain = dqn_config_for("atari", buffer_size=100_000)
    prioritized = dqn_config_for("atari", buffer_size=100_000, prioritized_replay=True)
    extra = estimate_training_memory(prioritized, (4, 84, 84), 4, 6).replay - \
        estimate_training_memory(plain, (4, 84, 84), 4, 6).replay
    tree = PrioritizedReplayBuffer(100_000, (1,)).tree.nodes.nbytes
    assert tree <= extra <= 2 * tree  # the estimate covers the tree


def test_a_prioritized_update_weights_each_row_and_moves_its_priority_to_the_new_td_error() -> None:
    agent = gridworld_agent(prioritized_replay=True, priority_beta=0.5, loss="mse", double=False, dueling=False)
    add_random_steps(agent, 30)
    agent.update(agent.sample_batch())  # the first update also centres the MLP's inputs
    agent.step_count = 500  # half way: beta = 0.75
    batch = agent.sample_batch()
    assert batch.weights is not None and batch.weights.max() == pytest.approx(1.0)
    probabilities = agent.replay.priorities(batch.indices) / agent.replay.tree.total
    raw = (len(agent.replay) * probabilities) ** -0.75
    np.testing.assert_allclose(batch.weights, raw / raw.max(), rtol=1e-5)

    obs = torch.as_tensor(batch.observations)
    with torch.no_grad():
        target = torch.as_tensor(batch.rewards) + agent.config.gamma * agent.target(
            torch.as_tensor(batch.next_observations)).q.max(dim=1).values
        q = agent.online(obs).q.gather(1, torch.as_tensor(batch.actions).unsqueeze(1)).squeeze(1)
    expected_loss = float((torch.as_tensor(batch.weights) * F.mse_loss(q, target, reduction="none")).mean())
    stats = agent.update(batch)
    assert stats.loss == pytest.approx(expected_loss, rel=1e-5)
    expected_priority = (np.abs((target - q).numpy()) + agent.config.priority_epsilon) ** agent.config.priority_alpha
    last = {int(i): p for i, p in zip(batch.indices, expected_priority, strict=True)}  # a repeated row: its last
    np.testing.assert_allclose(agent.replay.priorities(list(last)), list(last.values()), rtol=1e-5)


def test_a_uniform_batch_is_unweighted_and_weights_of_one_give_the_plain_loss() -> None:
    agent = gridworld_agent(loss="huber")
    add_random_steps(agent, 30)
    assert agent.sample_batch().weights is None
    q, target = torch.randn(8), torch.randn(8)
    assert agent._td_loss(q, target, None).item() == pytest.approx(F.smooth_l1_loss(q, target).item())
    assert agent._td_loss(q, target, np.ones(8, np.float32)).item() == pytest.approx(
        F.smooth_l1_loss(q, target).item())


def test_a_save_with_its_replay_keeps_the_priorities(tmp_path) -> None:
    env = make_env("gridworld/open-room", render_mode=None, seed=0)
    agent = create_agent(describe_env("gridworld/open-room", env),
                         AgentSpec("dqn", "mlp", overrides=("prioritized_replay=true", "learning_starts=50",
                                                             "buffer_size=500")), seed=0)
    for _ in run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False, render=False), max_steps=120, seed=0):
        pass
    assert agent.update_count > 0 and len(np.unique(agent.replay.tree.leaves)) > 3  # priorities have moved
    save_agent(tmp_path / "run.dqn", agent, env_id="gridworld/open-room", include_replay=True)
    loaded = load_agent(tmp_path / "run.dqn", with_replay=True).agent
    assert isinstance(loaded.replay, PrioritizedReplayBuffer)
    np.testing.assert_array_equal(loaded.replay.tree.nodes, agent.replay.tree.nodes)
    assert loaded.replay.max_priority == agent.replay.max_priority
