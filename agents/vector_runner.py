"""Training on several environments side by side: one batched forward pass acts for all of them.

The single-environment loop in `agents.runner` is what the window shows; this one is for throughput.
Each environment feeds its own stream of the replay buffer, so what is stored is exactly what the
single-environment loop would store for that environment (same preprocessing, rewards, boundaries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.replay import Source
from agents.runner import Mode, interrupt, reset_options
from agents.types import EpisodeStats, Transition, UpdateStats


@dataclass(frozen=True)
class VectorStep:
    """The outcome of stepping every environment once."""

    total_steps: int
    """The agent's lifetime count of environment steps (all environments together)."""
    finished: tuple[EpisodeStats, ...]
    update: UpdateStats | None


class SyncEnvs:
    """N environments stepped in turn in this process, resetting each as its episode ends.

    Unlike gymnasium's vector envs this hands back each environment's own info dict and its true
    final observation, which the replay buffer needs for correct bootstrapping at truncation.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        self.envs = [make() for make in env_fns]
        self.num_envs = len(self.envs)
        self.reset_options: dict[str, Any] | None = None

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> np.ndarray:
        """Reset every env; `options` also apply to the resets that follow each episode's end."""
        self.reset_options = options
        seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return np.stack([env.reset(seed=s, options=options)[0] for env, s in zip(self.envs, seeds, strict=True)])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 list[dict]]:
        """Returns (next_obs as stepped, obs to act on next, rewards, terminated, truncated, infos)."""
        results = [env.step(int(a)) for env, a in zip(self.envs, actions, strict=True)]
        next_obs = np.stack([r[0] for r in results])
        carry_on = next_obs.copy()
        for i, (_, _, terminated, truncated, _) in enumerate(results):
            if terminated or truncated:
                carry_on[i] = self.envs[i].reset(options=self.reset_options)[0]
        rewards = np.array([r[1] for r in results], dtype=np.float64)
        terminated = np.array([r[2] for r in results], dtype=bool)
        truncated = np.array([r[3] for r in results], dtype=bool)
        return next_obs, carry_on, rewards, terminated, truncated, [r[4] for r in results]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def run_vector(envs: SyncEnvs, agent, *, max_steps: int | None = None, seed: int | None = None
               ) -> Iterator[VectorStep]:
    """Train `agent` on all of `envs` at once until it has seen `max_steps` steps in total."""
    obs = envs.reset(seed, options=reset_options(agent, Mode.TRAIN))
    interrupt(agent)
    returns = np.zeros(envs.num_envs)
    lengths = np.zeros(envs.num_envs, dtype=np.int64)
    while max_steps is None or agent.step_count < max_steps:
        actions = agent.act_batch(obs, explore=True)
        next_obs, carry_on, rewards, terminated, truncated, infos = envs.step(actions)
        transition = _learning_transition(obs, actions, rewards, next_obs, terminated, truncated, infos)
        update = agent.observe(transition._replace(source=_sources(agent, len(actions))))
        returns += rewards
        lengths += 1
        finished = []
        for i in np.flatnonzero(terminated | truncated):
            stats = EpisodeStats(len(agent.episodes), float(returns[i]), int(lengths[i]), infos[i].get("success"))
            agent.episodes.append(stats)
            finished.append(stats)
            returns[i], lengths[i] = 0.0, 0
        yield VectorStep(agent.step_count, tuple(finished), update)
        obs = carry_on


def _sources(agent, n: int) -> np.ndarray:
    """Per environment: the agent explored (a random action) or acted greedily."""
    explored = getattr(agent, "last_explored_rows", np.zeros(n, bool))
    return np.where(explored, Source.EXPLORING, Source.GREEDY).astype(np.uint8)


def _learning_transition(obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
                         terminated: np.ndarray, truncated: np.ndarray, infos: list[dict]) -> Transition:
    """Atari's clipped reward and life-loss terminal apply to learning only, as in the single loop."""
    learn_rewards = np.array([info.get("learning_reward", r) for info, r in zip(infos, rewards, strict=True)],
                             dtype=np.float32)
    learn_terminated = np.array([info.get("learning_terminated", t) for info, t in zip(infos, terminated,
                                                                                       strict=True)], dtype=bool)
    return Transition(obs, actions.astype(np.int64), learn_rewards, next_obs, learn_terminated, truncated,
                      terminated | truncated)
