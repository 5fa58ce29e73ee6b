"""What the training loop hands the window: copies only, never live agent state; picklable, so it can cross
from the training process to the window's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.envs.registry import EnvDescription
from agents.replay import ReplaySummary
from agents.runner import StepSnapshot
from agents.types import EpisodeStats, UpdateStats


@dataclass(frozen=True)
class ViewFrame:
    """Everything the panels draw for one shown step (about 30 per second at most; the game view also plays
    `sub_frames`).

    The loop steps far more often than the window refreshes, so the per-step streams
    (finished episodes, update statistics) are accumulated between two frames rather than sampled.
    """

    snapshot: StepSnapshot
    """The latest step."""
    description: EnvDescription
    """The environment being run (action names, kind, observation shape)."""
    agent_kind: str
    """"dqn" or "qlearning"."""
    network: str | None
    """"mlp", "cnn" or "attention" for DQN; None for tabular."""
    new_episodes: tuple[EpisodeStats, ...]
    """Episodes finished since the previous frame."""
    new_updates: tuple[tuple[int, UpdateStats], ...]
    """(agent step, stats) of the gradient updates since the previous frame (possibly thinned)."""
    steps_per_second: float
    """Environment steps per second over the last second or so."""
    replay: ReplaySummary | None
    """Copy of the replay buffer's state; None for agents without replay."""
    grid_values: np.ndarray | None = None
    """(H, W) V(s) with the agent standing on each cell, NaN on walls; gridworld only."""
    grid_actions: np.ndarray | None = None
    """(H, W) greedy action index per cell, -1 on walls; gridworld only."""
    sub_frames: tuple[np.ndarray, ...] = ()
    """Atari at the game's own pace: the emulator frames between the previous shown step and this one (frame
    skip), oldest first, `snapshot.frame` not included. The view plays them at 60 Hz before this step's."""
