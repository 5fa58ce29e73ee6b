"""Tabular Q-learning (Watkins & Dayan 1992) on gridworlds: the baseline the DQN agents are compared with.

The state of a gridworld observation is the flat index of the agent's cell (argmax of channel 1),
so the table has H * W rows; it is exact where a network only approximates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.config import TabularConfig, linear_epsilon
from agents.history import TrainingHistory
from agents.types import Batch, EpisodeStats, Evaluation, Transition, UpdateStats

AGENT_CHANNEL = 1
"""Gridworld observation channel that marks the agent's cell (walls, agent, goals, lava)."""


class TabularQAgent:
    """One Q-table row per cell, epsilon-greedy acting with random tie-breaks, one Bellman update per step."""

    kind = "qlearning"

    def __init__(
        self,
        config: TabularConfig,
        obs_shape: Sequence[int],
        n_actions: int,
        action_names: Sequence[str],
        *,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.obs_shape = tuple(int(n) for n in obs_shape)
        self.n_actions = int(n_actions)
        self.action_names = tuple(action_names)
        self.frame_stack = 1
        self.obs_scale = 1.0
        self.n_states = self.obs_shape[-2] * self.obs_shape[-1]
        self.q_table = np.zeros((self.n_states, self.n_actions), dtype=np.float64)
        self.rng = np.random.default_rng(seed)
        self.step_count = 0
        self.update_count = 0
        self.episodes: list[EpisodeStats] = []
        self.last_update: UpdateStats | None = None
        self.history = TrainingHistory()
        """Learning curves beyond the episodes, bounded (saved with the agent; see agents.history)."""

    def state(self, obs: np.ndarray) -> int:
        """Flat index r * W + c of the agent's cell in one observation."""
        return int(np.argmax(np.asarray(obs)[AGENT_CHANNEL]))

    def states(self, observations: np.ndarray) -> np.ndarray:
        """(N,) int64 flat agent cells of N observations."""
        agent = np.asarray(observations)[:, AGENT_CHANNEL]
        return agent.reshape(len(agent), -1).argmax(axis=1).astype(np.int64)

    # ----------------------------------------------------------------------------------------- acting

    @property
    def epsilon(self) -> float:
        """Exploration rate now: linear from start_e to end_e over exploration_fraction * total_timesteps."""
        cfg = self.config
        duration = cfg.exploration_fraction * cfg.total_timesteps
        return linear_epsilon(self.step_count, cfg.start_e, cfg.end_e, duration)

    def act(self, obs: np.ndarray, *, explore: bool = True, epsilon: float | None = None) -> int:
        """Epsilon-greedy; greedy ties are broken at random (a zero-initialised table ties a lot)."""
        eps = epsilon if epsilon is not None else (self.epsilon if explore else 0.0)
        if eps > 0.0 and self.rng.random() < eps:
            return int(self.rng.integers(self.n_actions))
        return self._greedy(self.state(obs))

    def act_batch(self, obs_batch: np.ndarray, *, explore: bool = True) -> np.ndarray:
        """(N,) int64 actions, one act() per observation."""
        return np.array([self.act(obs, explore=explore) for obs in obs_batch], dtype=np.int64)

    def _greedy(self, state: int) -> int:
        row = self.q_table[state]
        best = np.flatnonzero(row == row.max())
        return int(best[0]) if len(best) == 1 else int(self.rng.choice(best))

    def evaluate(self, obs: np.ndarray) -> Evaluation:
        """The table row of the agent's cell; V(s) = max_a Q(s, a); no attention."""
        q_values = self.q_values(obs)
        return Evaluation(q_values=q_values, value=float(q_values.max()), attention=None)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """(n_actions,) float32 Q-values of one observation."""
        return self.q_table[self.state(obs)].astype(np.float32)

    def value_map(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V(s) (float32) and the first greedy action (int64) for each of N observations."""
        if len(observations) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        rows = self.q_table[self.states(observations)]
        return rows.max(axis=1).astype(np.float32), rows.argmax(axis=1).astype(np.int64)

    # --------------------------------------------------------------------------------------- learning

    def observe(self, transition: Transition) -> UpdateStats:
        """Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)], the max term 0 when terminated.

        Truncation (a time limit) still bootstraps. A transition with a leading env axis updates row by row.
        """
        obs = np.asarray(transition.obs)
        if obs.ndim == len(self.obs_shape):
            self.step_count += 1
            stats = self._learn(self.state(obs), int(transition.action), float(transition.reward),
                                self.state(transition.next_obs), bool(transition.terminated))
        else:
            self.step_count += len(obs)
            next_states = self.states(np.asarray(transition.next_obs))
            actions, rewards = np.asarray(transition.action), np.asarray(transition.reward)
            stats = self._learn_rows(self.states(obs), actions, rewards, next_states,
                                     np.asarray(transition.terminated, dtype=bool))
        self.history.record(self.step_count, self.epsilon, len(self.episodes), stats)
        return stats

    def interrupt(self) -> None:
        """Nothing to do: one-step Q-learning learns from each transition as it comes, with no stored stream."""

    def update(self, batch: Batch) -> UpdateStats:
        """Apply the same Bellman update to every row of a batch, in order; returns their mean statistics."""
        return self._learn_rows(self.states(batch.observations), batch.actions, batch.rewards,
                                self.states(batch.next_observations), np.asarray(batch.dones) > 0.5)

    def _learn_rows(self, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                    next_states: np.ndarray, terminated: np.ndarray) -> UpdateStats:
        rows = [self._learn(int(s), int(a), float(r), int(s2), bool(t))
                for s, a, r, s2, t in zip(states, actions, rewards, next_states, terminated, strict=True)]
        self.last_update = UpdateStats(
            loss=float(np.mean([u.loss for u in rows])),
            mean_q=float(np.mean([u.mean_q for u in rows])),
            td_error=float(np.mean([u.td_error for u in rows])),
        )
        return self.last_update

    def _learn(self, state: int, action: int, reward: float, next_state: int,
               terminated: bool) -> UpdateStats:
        cfg = self.config
        q_before = float(self.q_table[state, action])
        bootstrap = 0.0 if terminated else cfg.gamma * float(self.q_table[next_state].max())
        td_error = reward + bootstrap - q_before
        self.q_table[state, action] = q_before + cfg.learning_rate * td_error
        self.update_count += 1
        self.last_update = UpdateStats(loss=td_error**2, mean_q=q_before, td_error=abs(td_error))
        return self.last_update

    # ------------------------------------------------------------------------------------ bookkeeping

    def rng_state(self) -> dict[str, Any]:
        """JSON-able state of the acting generator, for an exact resume."""
        return {"numpy": self.rng.bit_generator.state}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore what rng_state() returned."""
        self.rng.bit_generator.state = state["numpy"]
