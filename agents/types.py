"""The typed records that cross module (and thread) boundaries.

Everything here holds NumPy arrays and Python scalars only, never live tensors, so a
record can be handed from the worker thread to the window without sharing state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Transition(NamedTuple):
    """One environment step, as the replay buffer receives it (SB3-style typed record).

    For a vector of N environments every field has a leading axis of length N.
    """

    obs: np.ndarray
    action: int | np.ndarray
    reward: float | np.ndarray
    next_obs: np.ndarray
    terminated: bool | np.ndarray
    """The episode ended in a terminal state: no bootstrapping from next_obs."""
    truncated: bool | np.ndarray
    """The episode was cut by a time limit: next_obs is still bootstrapped from."""
    episode_end: bool | np.ndarray | None = None
    """The observation stream restarts after this step (default: terminated or truncated). Differs from
    terminated where a learning-only terminal (Atari's lost life) does not reset the frame stack."""
    source: int | np.ndarray = 0
    """Who chose the action: an agents.replay.Source (0 = not said)."""


class Batch(NamedTuple):
    """A minibatch sampled from replay, ready to become tensors."""

    observations: np.ndarray
    """(B, *obs_shape), the dtype the environment produced (uint8)."""
    actions: np.ndarray
    """(B,) int64."""
    rewards: np.ndarray
    """(B,) float32, already clipped where the environment asks for clipping."""
    next_observations: np.ndarray
    """(B, *obs_shape)."""
    dones: np.ndarray
    """(B,) float32, 1.0 where the transition terminated (truncation is not a done)."""
    indices: np.ndarray
    """(B,) int64 flat buffer slots the batch came from, for the window's replay panel."""
    discounts: np.ndarray | None = None
    """(B,) float32 gamma^m, the discount of the bootstrap from next_observations when the replay returns
    n-step transitions (m <= n steps apart); None: one-step transitions, discounted by the agent's gamma."""
    weights: np.ndarray | None = None
    """(B,) float32 importance-sampling weights in (0, 1] from a prioritized replay (each row's share of the
    loss); None: uniform replay, every row weighs the same."""


@dataclass(frozen=True)
class SampledBatch:
    """The last minibatch a gradient step learned from, row by row (the window's replay panel sorts it)."""

    indices: np.ndarray
    """(B,) int64 flat buffer slots."""
    actions: np.ndarray
    """(B,) int64."""
    rewards: np.ndarray
    """(B,) float32 r: the clipped reward, or with n-step replay the discounted sum of up to n of them."""
    dones: np.ndarray
    """(B,) bool: no bootstrap (the episode terminated within the transition)."""
    q: np.ndarray
    """(B,) float32 Q(s, a) of the online network before the step."""
    targets: np.ndarray
    """(B,) float32 y = r + gamma^m (1 - done) Q_target(s', a')."""

    @property
    def td_errors(self) -> np.ndarray:
        """(B,) y - Q(s, a)."""
        return self.targets - self.q


@dataclass(frozen=True)
class UpdateStats:
    """What one gradient step of an agent measured."""

    loss: float
    mean_q: float
    """Mean over the batch of Q(s, a) for the taken actions, before the step."""
    grad_norm: float = 0.0
    td_error: float = 0.0
    """Mean absolute TD error over the batch."""


@dataclass(frozen=True)
class Evaluation:
    """What the agent thinks of one observation: drawn by the Q-value and attention panels."""

    q_values: np.ndarray
    """(n_actions,) float32."""
    value: float
    """V(s): the value stream of a dueling network, else max_a Q(s, a)."""
    attention: np.ndarray | None = None
    """(heads, h, w) float32 weights of the query token over the spatial grid; None without attention."""


@dataclass(frozen=True)
class EpisodeStats:
    """A finished episode."""

    index: int
    """0-based episode number within the agent's life (continues across resume)."""
    episode_return: float
    """Undiscounted sum of the environment's own (unclipped) rewards."""
    length: int
    success: bool | None
    """Reached a goal (gridworld); None where the environment has no notion of success (Atari)."""
