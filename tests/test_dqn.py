"""DQN agent: TD targets and losses by hand, Double DQN, update and target-sync timing, acting, RNG state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.networks import QOutput
from agents.types import Batch, Evaluation, Transition

SHAPE = (1, 1, 2)
"""Observations of the fake-network tests: obs[0, 0, 0] is a state id."""
NAMES = ("A", "B")


class TableQ(nn.Module):
    """A Q-'network' that looks Q up in a table by the state id in the observation: outputs we set by hand."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))

    def forward(self, x: torch.Tensor) -> QOutput:
        return QOutput(self.table[x[:, 0, 0, 0].long()], None, None)


def _agent(shape: tuple[int, ...] = SHAPE, seed: int = 0, **overrides: object) -> DQNAgent:
    values = {"network": "mlp", "hidden_dim": 8, "buffer_size": 64, "batch_size": 2, "learning_starts": 0,
              "train_frequency": 1, "target_network_frequency": 1000, "tau": 1.0, **overrides}
    return DQNAgent(dqn_config_for("gridworld", **values), shape, 2, NAMES, seed=seed)


def _with_tables(agent: DQNAgent, online: list[list[float]], target: list[list[float]]) -> DQNAgent:
    agent.online, agent.target = TableQ(online), TableQ(target)
    agent.optimizer = torch.optim.SGD(agent.online.parameters(), lr=0.1)
    return agent


def _states(*ids: int) -> np.ndarray:
    obs = np.zeros((len(ids), *SHAPE), np.uint8)
    obs[:, 0, 0, 0] = ids
    return obs


ONLINE = [[1.0, 2.0], [3.0, 4.0], [0.5, 5.0]]
TARGET = [[10.0, 20.0], [30.0, 40.0], [7.0, 6.0]]
BATCH = Batch(
    observations=_states(0, 1),
    actions=np.array([1, 0]),
    rewards=np.array([1.0, -1.0], np.float32),
    next_observations=_states(2, 2),
    dones=np.array([0.0, 1.0], np.float32),
    indices=np.array([0, 1]),
)


def test_td_target_and_huber_loss_by_hand() -> None:
    agent = _with_tables(_agent(gamma=0.9, double=False, loss="huber"), ONLINE, TARGET)
    stats = agent.update(BATCH)
    # y = [1 + 0.9 * max(7, 6), -1 + 0] = [7.3, -1]; Q(s, a) = [2, 3]; errors 5.3 and 4.
    assert stats.loss == pytest.approx(((5.3 - 0.5) + (4.0 - 0.5)) / 2)
    assert stats.mean_q == pytest.approx(2.5)
    assert stats.td_error == pytest.approx((5.3 + 4.0) / 2)
    # Huber gradients are clipped to +-1, halved by the mean: SGD moves each Q by 0.1 * 0.5.
    assert stats.grad_norm == pytest.approx(np.sqrt(0.5**2 * 2))
    expected = torch.tensor([[1.0, 2.05], [2.95, 4.0], [0.5, 5.0]])
    torch.testing.assert_close(agent.online.table.detach(), expected)
    torch.testing.assert_close(agent.target.table.detach(), torch.tensor(TARGET))
    assert agent.update_count == 1 and agent.last_update == stats


def test_the_last_batch_keeps_each_rows_q_target_and_td_error_by_hand() -> None:
    agent = _with_tables(_agent(gamma=0.9, double=False, loss="huber"), ONLINE, TARGET)
    agent.update(BATCH._replace(indices=np.array([17, 4])))
    rows = agent.last_batch
    assert rows.indices.tolist() == [17, 4] and rows.actions.tolist() == [1, 0]
    assert rows.dones.tolist() == [False, True] and rows.rewards.tolist() == [1.0, -1.0]
    np.testing.assert_allclose(rows.q, [2.0, 3.0])  # Q(s, a) before the step
    np.testing.assert_allclose(rows.targets, [7.3, -1.0], rtol=1e-6)  # 1 + 0.9 max(7, 6); -1, no bootstrap
    np.testing.assert_allclose(rows.td_errors, [5.3, -4.0], rtol=1e-6)


def test_mse_loss_by_hand() -> None:
    agent = _with_tables(_agent(gamma=0.9, double=False, loss="mse"), ONLINE, TARGET)
    assert agent.update(BATCH).loss == pytest.approx((5.3**2 + 4.0**2) / 2)


def test_double_dqn_target_uses_online_argmax_and_target_value() -> None:
    agent = _with_tables(_agent(gamma=0.9, double=True, loss="mse"), ONLINE, TARGET)
    # Online picks action 1 in state 2 (5 > 0.5); target scores it 6, not its own max 7: y = 1 + 0.9 * 6.
    assert agent.update(BATCH).loss == pytest.approx(((6.4 - 2.0) ** 2 + 4.0**2) / 2)


def test_gradient_norm_is_clipped() -> None:
    agent = _with_tables(_agent(gamma=0.9, double=False, loss="mse", max_grad_norm=1.0), ONLINE, TARGET)
    stats = agent.update(BATCH)
    raw = np.hypot(5.3, 4.0)  # d/dQ of mean squared error: (Q - y) for each of the two entries
    assert stats.grad_norm == pytest.approx(raw, rel=1e-5)
    moved = (agent.online.table.detach() - torch.tensor(ONLINE)).norm()
    assert moved.item() == pytest.approx(0.1 * 1.0, rel=1e-4)


def test_gradients_under_the_limit_are_left_exactly_as_computed() -> None:
    agent = _with_tables(_agent(gamma=0.9, double=False, loss="mse", max_grad_norm=100.0), ONLINE, TARGET)
    stats = agent.update(BATCH)
    assert stats.grad_norm == pytest.approx(np.hypot(5.3, 4.0), rel=1e-5)
    gradient = agent.online.table.grad
    assert gradient.abs().sum().item() == pytest.approx(5.3 + 4.0, rel=1e-5)  # not scaled by min(1, 100 / norm)


def _feed(agent: DQNAgent, steps: int, num_envs: int = 1) -> list[object]:
    if num_envs > 1:
        obs = np.zeros((num_envs, *agent.obs_shape), np.uint8)
        transition = Transition(obs, np.zeros(num_envs, np.int64), np.zeros(num_envs, np.float32), obs,
                                np.zeros(num_envs, bool), np.zeros(num_envs, bool))
    else:
        obs = np.zeros(agent.obs_shape, np.uint8)
        transition = Transition(obs, 0, 0.0, obs, False, False)
    return [agent.observe(transition) for _ in range(steps)]


def _record(agent: DQNAgent, method: str) -> list[int]:
    calls: list[int] = []
    original = getattr(agent, method)

    def wrapper(*args: object) -> object:
        calls.append(agent.step_count)
        return original(*args)

    setattr(agent, method, wrapper)
    return calls


def test_updates_start_after_learning_starts_every_train_frequency_steps() -> None:
    agent = _agent(learning_starts=4, train_frequency=3)
    calls = _record(agent, "update")
    results = _feed(agent, 13)
    assert calls == [6, 9, 12]
    assert [r is not None for r in results] == [s in (6, 9, 12) for s in range(1, 14)]
    assert agent.step_count == 13 and agent.update_count == 3


def test_vector_envs_keep_one_update_per_train_frequency_env_steps() -> None:
    config = _agent(learning_starts=0, train_frequency=1).config
    vector = DQNAgent(config, SHAPE, 2, NAMES, seed=0, num_envs=4)
    calls = _record(vector, "update")
    _feed(vector, 3, num_envs=4)
    assert vector.step_count == 12 and calls == [4] * 4 + [8] * 4 + [12] * 4
    sparse = DQNAgent(dqn_config_for("gridworld", network="mlp", learning_starts=0, train_frequency=3,
                                     batch_size=2, buffer_size=64), SHAPE, 2, NAMES, seed=0, num_envs=2)
    calls = _record(sparse, "update")
    _feed(sparse, 6, num_envs=2)
    assert calls == [4, 6, 10, 12]


def test_target_syncs_every_target_network_frequency_env_steps() -> None:
    agent = _agent(target_network_frequency=5, learning_starts=1)
    calls = _record(agent, "sync_target")
    _feed(agent, 12)
    assert calls == [5, 10]
    assert all(torch.equal(a, b) for a, b in zip(agent.online.state_dict().values(),
                                                 agent.target.state_dict().values(), strict=True))


def test_target_stays_fixed_between_syncs() -> None:
    agent = _agent(target_network_frequency=100)
    before = [p.clone() for p in agent.target.parameters()]
    rng = np.random.default_rng(0)
    for _ in range(10):
        obs = rng.integers(0, 2, SHAPE, dtype=np.uint8)
        agent.observe(Transition(obs, 1, 1.0, obs, False, False))
    assert agent.update_count == 9  # the first step waits for replay to hold a batch of 2
    assert all(torch.equal(a, b) for a, b in zip(before, agent.target.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.online.parameters(), strict=True))


def test_soft_target_update_with_tau() -> None:
    agent = _with_tables(_agent(tau=0.25), ONLINE, TARGET)
    agent.sync_target()
    expected = 0.75 * torch.tensor(TARGET) + 0.25 * torch.tensor(ONLINE)
    torch.testing.assert_close(agent.target.table.detach(), expected)


def test_steps_counted_at_once_owe_one_soft_update_each() -> None:
    """Three steps at once (three environments, a learner's chunk): the target moves 1 - 0.75^3 of the way, as after
    three steps one at a time."""
    agent = _with_tables(_agent(tau=0.25, target_network_frequency=1, learning_starts=10**6), ONLINE, TARGET)
    agent.count_steps(3)
    expected = 0.75 ** 3 * torch.tensor(TARGET) + (1 - 0.75 ** 3) * torch.tensor(ONLINE)
    torch.testing.assert_close(agent.target.table.detach(), expected)
    one_by_one = _with_tables(_agent(tau=0.25, target_network_frequency=1, learning_starts=10**6), ONLINE, TARGET)
    for _ in range(3):
        one_by_one.count_steps(1)
    torch.testing.assert_close(one_by_one.target.table.detach(), expected)


def test_epsilon_schedule() -> None:
    agent = _agent(start_e=1.0, end_e=0.1, exploration_fraction=0.5, total_timesteps=1000)
    table = {0: 1.0, 250: 0.55, 500: 0.1, 900: 0.1}
    for step, expected in table.items():
        agent.step_count = step
        assert agent.epsilon == pytest.approx(expected)


def test_greedy_act_follows_the_network_and_epsilon_overrides() -> None:
    agent = _with_tables(_agent(), [[0.0, 1.0], [2.0, -1.0]], TARGET)
    assert agent.act(_states(0)[0], explore=False) == 1
    assert agent.act(_states(1)[0], explore=False) == 0
    assert agent.act(_states(1)[0], epsilon=0.0) == 0
    assert {agent.act(_states(1)[0], epsilon=1.0) for _ in range(50)} == {0, 1}
    np.testing.assert_array_equal(agent.act_batch(_states(0, 1, 0), explore=False), [1, 0, 1])
    assert agent.act_batch(_states(0, 1), explore=True).dtype == np.int64


def test_acting_is_reproducible_from_the_seed() -> None:
    obs = np.ones((4, 3, 3), np.uint8)
    first, second = _agent((4, 3, 3), seed=7), _agent((4, 3, 3), seed=7)
    assert [first.act(obs) for _ in range(30)] == [second.act(obs) for _ in range(30)]
    for a, b in zip(first.online.parameters(), second.online.parameters(), strict=True):
        assert torch.equal(a, b)


def test_rng_state_is_json_and_restores_exactly() -> None:
    agent = _agent((4, 3, 3), seed=1)
    obs = np.ones((4, 3, 3), np.uint8)
    state = json.loads(json.dumps(agent.rng_state()))
    before = ([agent.act(obs) for _ in range(20)], torch.rand(3))
    agent.set_rng_state(state)
    after = ([agent.act(obs) for _ in range(20)], torch.rand(3))
    assert before[0] == after[0] and torch.equal(before[1], after[1])


@pytest.mark.parametrize("network", ["mlp", "attention"])
def test_evaluate_and_value_map(network: str) -> None:
    agent = _agent((4, 5, 6), network=network, dueling=network == "attention", attention_dim=16,
                   attention_heads=2)
    obs = np.zeros((4, 5, 6), np.uint8)
    obs[1, 2, 3] = 1
    evaluation = agent.evaluate(obs)
    assert isinstance(evaluation, Evaluation)
    assert evaluation.q_values.shape == (2,) and evaluation.q_values.dtype == np.float32
    np.testing.assert_allclose(agent.q_values(obs), evaluation.q_values)
    if network == "mlp":
        assert evaluation.attention is None
        assert evaluation.value == pytest.approx(float(evaluation.q_values.max()))
    else:
        assert evaluation.attention is not None and evaluation.attention.shape == (2, 5, 6)
        np.testing.assert_allclose(evaluation.attention.sum(axis=(1, 2)), 1.0, rtol=1e-5)
        assert evaluation.value == pytest.approx(float(evaluation.q_values.mean()), abs=1e-5)
    values, actions = agent.value_map(np.stack([obs, obs, np.zeros_like(obs)]))
    assert values.shape == (3,) and values.dtype == np.float32 and actions.dtype == np.int64
    assert values[0] == pytest.approx(evaluation.value, abs=1e-5)
    assert actions[0] == int(evaluation.q_values.argmax())
    assert agent.online.training


def test_learns_a_two_state_chain() -> None:
    """End to end through replay: state 0 --a1--> goal (+1), a0 stays (-0.1). Q(0, 1) must approach 1."""
    agent = _agent((1, 1, 2), learning_starts=8, batch_size=8, hidden_dim=16, learning_rate=1e-2,
                   target_network_frequency=20, gamma=0.9, double=True, dueling=False)
    start, goal = np.zeros((1, 1, 2), np.uint8), np.ones((1, 1, 2), np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(250):
        action = int(rng.integers(2))
        reward, terminated = (1.0, True) if action == 1 else (-0.1, False)
        agent.observe(Transition(start, action, reward, goal if terminated else start, terminated, False))
    q = agent.q_values(start)
    assert q[1] == pytest.approx(1.0, abs=0.1) and q[0] == pytest.approx(-0.1 + 0.9 * 1.0, abs=0.15)
    assert agent.act(start, explore=False) == 1


def test_the_first_update_centres_the_mlp_inputs_on_that_batch_and_later_ones_keep_it() -> None:
    agent = _agent(shape=(2, 1, 3))
    assert not agent.online.input_reference.any()  # untrained: nothing subtracted yet
    observations = np.array([[[[1, 0, 0]], [[1, 1, 1]]], [[[0, 1, 0]], [[1, 1, 1]]]], np.uint8)
    first = Batch(observations, np.array([0, 1]), np.zeros(2, np.float32), observations, np.zeros(2, np.float32),
                  np.array([0, 1]))
    agent.update(first)
    expected = torch.tensor([0.5, 0.5, 0.0, 1.0, 1.0, 1.0])
    assert torch.equal(agent.online.input_reference, expected)
    assert torch.equal(agent.target.input_reference, expected)
    agent.update(first._replace(observations=np.ones_like(observations)))
    assert torch.equal(agent.online.input_reference, expected)


def test_centred_inputs_make_a_constant_plane_irrelevant() -> None:
    """Two maps that differ only in a plane every observation shares give the same Q after centring."""
    agent = _agent(shape=(2, 1, 3))
    network = agent.online
    positions = np.eye(3, dtype=np.uint8).reshape(3, 1, 1, 3)
    plain = np.concatenate([positions, np.zeros_like(positions)], axis=1)
    walled = np.concatenate([positions, np.ones_like(positions)], axis=1)
    q = {}
    for name, obs in (("plain", plain), ("walled", walled)):
        network.center_inputs(torch.from_numpy(obs))
        q[name] = network(torch.from_numpy(obs)).q
    torch.testing.assert_close(q["plain"], q["walled"])
