"""Tabular Q-learning: states, the Bellman update by hand, terminal vs truncated, tie-breaking."""

from __future__ import annotations

import numpy as np
import pytest

from agents.config import TabularConfig
from agents.qlearning import TabularQAgent
from agents.types import Batch, Evaluation, Transition

SHAPE = (4, 3, 4)
NAMES = ("UP", "RIGHT", "DOWN", "LEFT")


def _obs(row: int, col: int) -> np.ndarray:
    obs = np.zeros(SHAPE, np.uint8)
    obs[0, 0, :] = 1
    obs[1, row, col] = 1
    return obs


def _agent(**config: float) -> TabularQAgent:
    values = {"learning_rate": 0.5, "gamma": 0.9, **config}
    return TabularQAgent(TabularConfig(**values), SHAPE, 4, NAMES, seed=3)


def test_state_is_the_flat_agent_cell() -> None:
    agent = _agent()
    assert agent.q_table.shape == (12, 4) and agent.q_table.dtype == np.float64
    assert agent.state(_obs(2, 1)) == 9
    np.testing.assert_array_equal(agent.states(np.stack([_obs(0, 3), _obs(1, 0)])), [3, 4])


def test_observe_applies_the_bellman_update_by_hand() -> None:
    agent = _agent()
    agent.q_table[5] = [0.0, 2.0, 0.5, 0.0]
    agent.q_table[6] = [1.0, 4.0, -1.0, 0.0]
    stats = agent.observe(Transition(_obs(1, 1), 1, -0.01, _obs(1, 2), False, False))
    # target = -0.01 + 0.9 * 4.0 = 3.59; td = 3.59 - 2.0 = 1.59; Q = 2 + 0.5 * 1.59
    assert agent.q_table[5, 1] == pytest.approx(2.795)
    assert stats.td_error == pytest.approx(1.59)
    assert stats.loss == pytest.approx(1.59**2)
    assert stats.mean_q == pytest.approx(2.0)
    assert agent.step_count == 1 and agent.update_count == 1 and agent.last_update == stats


def test_terminal_transitions_do_not_bootstrap_but_truncated_ones_do() -> None:
    agent = _agent()
    agent.q_table[6] = [3.0, 0.0, 0.0, 0.0]
    agent.observe(Transition(_obs(1, 1), 2, 1.0, _obs(1, 2), True, False))
    assert agent.q_table[5, 2] == pytest.approx(0.5)
    agent.observe(Transition(_obs(1, 1), 3, 0.0, _obs(1, 2), False, True))
    assert agent.q_table[5, 3] == pytest.approx(0.5 * 0.9 * 3.0)


def test_update_applies_each_batch_row_in_order() -> None:
    agent = _agent(learning_rate=1.0)
    batch = Batch(
        observations=np.stack([_obs(0, 0), _obs(0, 1)]),
        actions=np.array([1, 1]),
        rewards=np.array([0.0, 1.0], np.float32),
        next_observations=np.stack([_obs(0, 1), _obs(0, 2)]),
        dones=np.array([0.0, 1.0], np.float32),
        indices=np.array([0, 1]),
    )
    stats = agent.update(batch)
    # Row 0 sees Q(s1) = 0 (row 1 not applied yet); row 1 is terminal with reward 1.
    assert agent.q_table[0, 1] == 0.0 and agent.q_table[1, 1] == 1.0
    assert stats.mean_q == 0.0 and stats.td_error == pytest.approx(0.5) and stats.loss == pytest.approx(0.5)


def test_batched_observe_updates_every_row() -> None:
    agent = _agent(learning_rate=1.0)
    obs = np.stack([_obs(2, 0), _obs(2, 3)])
    agent.observe(Transition(obs, np.array([0, 2]), np.array([1.0, 2.0]), obs, np.array([True, True]),
                             np.array([False, False])))
    assert agent.q_table[8, 0] == 1.0 and agent.q_table[11, 2] == 2.0 and agent.step_count == 2


def test_greedy_ties_are_broken_at_random_but_reproducibly() -> None:
    first = [_agent().act(_obs(0, 0), explore=False) for _ in range(1)]
    agent = _agent()
    picks = [agent.act(_obs(0, 0), explore=False) for _ in range(200)]
    assert set(picks) == {0, 1, 2, 3}
    assert picks[:1] == first
    agent.q_table[0] = [0.0, 1.0, 1.0, -1.0]
    assert {agent.act(_obs(0, 0), explore=False) for _ in range(50)} == {1, 2}
    agent.q_table[0] = [0.0, 1.0, 2.0, -1.0]
    assert {agent.act(_obs(0, 0), epsilon=0.0) for _ in range(20)} == {2}


def test_epsilon_follows_the_schedule_and_can_be_overridden() -> None:
    agent = _agent(start_e=1.0, end_e=0.1, exploration_fraction=0.5, total_timesteps=1000)
    assert agent.epsilon == 1.0
    agent.step_count = 250
    assert agent.epsilon == pytest.approx(0.55)
    agent.q_table[0] = [5.0, 0.0, 0.0, 0.0]
    picks = {agent.act(_obs(0, 0), epsilon=1.0) for _ in range(100)}
    assert picks == {0, 1, 2, 3}
    np.testing.assert_array_equal(agent.act_batch(np.stack([_obs(0, 0)] * 3), explore=False), [0, 0, 0])


def test_evaluate_and_value_map() -> None:
    agent = _agent()
    agent.q_table[7] = [0.25, -1.0, 0.75, 0.0]
    evaluation = agent.evaluate(_obs(1, 3))
    assert isinstance(evaluation, Evaluation) and evaluation.attention is None
    assert evaluation.q_values.dtype == np.float32 and evaluation.value == 0.75
    values, actions = agent.value_map(np.stack([_obs(1, 3), _obs(0, 0)]))
    np.testing.assert_array_equal(values, [0.75, 0.0])
    np.testing.assert_array_equal(actions, [2, 0])


def test_rng_state_round_trip() -> None:
    agent = _agent()
    state = agent.rng_state()
    before = [agent.act(_obs(0, 0)) for _ in range(20)]
    agent.set_rng_state(state)
    assert [agent.act(_obs(0, 0)) for _ in range(20)] == before
