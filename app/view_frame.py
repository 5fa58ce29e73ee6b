"""What the training loop hands the window: copies only, never live agent state; picklable, so it can cross
from the training process to the window's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.envs.registry import EnvDescription
from agents.replay import ReplaySummary
from agents.runner import StepSnapshot
from agents.types import EpisodeStats, UpdateStats
from app.comparison_feed import ComparisonView
from app.rewind_feed import RewindView


@dataclass(frozen=True)
class SaliencyView:
    """The latest perturbation-saliency map (agents.saliency, Greydanus et al. 2018) as a frame carries it: maps
    are computed a few times a second at most, so the one shown may be of an earlier step (`age_steps`)."""

    map: np.ndarray
    """(H, W) float32 1/2 ||Q(I) - Q(perturbed I)||^2 over all actions: 84 x 84 on Atari, rows x cols on gridworlds."""
    action_map: np.ndarray
    """(H, W) float32 the same for the greedy action's Q alone."""
    action: int
    """The greedy action of the observation the map is of."""
    action_name: str
    max_value: float
    """map.max()."""
    seconds: float
    """What the map cost to compute (the training loop spreads it over several of its steps)."""
    age_steps: int
    """Loop steps from the observation the map is of to this frame's (0: the map is of this very step)."""
    age_seconds: float
    """Seconds from that observation to this frame's publication."""

    def caption(self, greedy: bool = False) -> str:
        """"Saliency (all actions) · this step · took 190 ms", "Saliency (Q of RIGHT) · 12 steps ago, 0.4 s · ..."."""
        what = f"Q of {self.action_name}" if greedy else "all actions"
        when = "this step" if self.age_steps == 0 else (
            f"{self.age_steps} step{'s' if self.age_steps != 1 else ''} ago, {self.age_seconds:.1f} s")
        return f"Saliency ({what}) · {when} · took {1000 * self.seconds:.0f} ms"


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
    saliency: SaliencyView | None = None
    """The latest saliency map while the overlay is on (see app.saliency_feed); None while it is off or before the
    first map."""
    comparison: ComparisonView | None = None
    """A second agent's view of the same state while a comparison is on (app.comparison_feed)."""
    rewind: RewindView | None = None
    """Where the view is in the episode's recorded moments (stepping back), and the branches tried there."""
