"""Browsing a replay buffer: every transition it can sample, oldest first, filtered by who produced it (the
`sources` tag), its reward and how it ended; one at a time, with the stacked frames the network sees.

Qt-free: the window's training loop answers the replay browser with `browse`, and the tests call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.replay import ReplayBuffer, Source

REWARDS = ("any", "positive", "negative", "non-zero", "zero")
ENDINGS = ("any", "terminal", "truncated", "neither")
"""terminal: no bootstrap after it (the episode ended, or Atari's lost life); truncated: a time limit's cut."""


@dataclass(frozen=True)
class ReplayFilter:
    """Which stored transitions to browse."""

    sources: frozenset[int] = field(default_factory=lambda: frozenset(int(s) for s in Source))
    reward: str = "any"
    ending: str = "any"

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"reward filter must be one of {', '.join(REWARDS)}, not {self.reward!r}")
        if self.ending not in ENDINGS:
            raise ValueError(f"ending filter must be one of {', '.join(ENDINGS)}, not {self.ending!r}")


@dataclass(frozen=True)
class BrowsedTransition:
    """One stored transition as the browser shows it (copies)."""

    position: int
    """Its place among the matching transitions, 0 = the oldest."""
    matching: int
    """Transitions that pass the filter."""
    stored: int
    """Transitions the buffer can sample now (what the filter chooses from)."""
    slot: int
    """Flat slot id, as in the Newest and Last batch tables."""
    observation: np.ndarray
    """The network's input s: the stacked frames (4, 84, 84) on Atari, the grid's planes on gridworlds."""
    next_frame: np.ndarray
    """The newest frame of s' (the whole observation without frame stacking)."""
    action: int
    reward: float
    """The stored one-step reward (Atari: clipped); n-step returns are summed from these when sampled."""
    terminated: bool
    truncated: bool
    source: Source
    frames_into_episode: int
    """Frames since the segment it belongs to began (saturates at 255)."""
    in_last_batch: bool


def chronological_ids(replay: ReplayBuffer) -> np.ndarray:
    """Flat ids of every sampleable transition, oldest first (each ring read from its cursor on)."""
    ids = replay.sampleable()
    env, slot = np.divmod(ids, replay.ring)
    order = np.argsort(env * replay.ring + (slot - replay.cursor[env]) % replay.ring, kind="stable")
    return ids[order]


def matching_ids(replay: ReplayBuffer, wanted: ReplayFilter, ids: np.ndarray | None = None) -> np.ndarray:
    """The sampleable transitions (or those of `ids`) that pass `wanted`, oldest first."""
    ids = chronological_ids(replay) if ids is None else ids
    keep = np.isin(replay.sources.reshape(-1)[ids], np.fromiter(wanted.sources, np.int64, len(wanted.sources)))
    rewards = replay.rewards.reshape(-1)[ids]
    keep &= {"any": True, "positive": rewards > 0, "negative": rewards < 0, "non-zero": rewards != 0,
             "zero": rewards == 0}[wanted.reward]
    terminated, truncated = replay.terminated.reshape(-1)[ids], replay.truncated.reshape(-1)[ids]
    keep &= {"any": True, "terminal": terminated, "truncated": truncated,
             "neither": ~(terminated | truncated)}[wanted.ending]
    return ids[keep]


def browse(replay: ReplayBuffer, wanted: ReplayFilter, position: int) -> BrowsedTransition | None:
    """The transition at `position` (clamped; negative counts from the newest) among those passing `wanted`;
    None when none does."""
    stored = chronological_ids(replay)
    ids = matching_ids(replay, wanted, stored)
    if len(ids) == 0:
        return None
    position = int(position) + len(ids) if position < 0 else int(position)
    position = min(max(position, 0), len(ids) - 1)
    flat = int(ids[position])
    env, slot = divmod(flat, replay.ring)
    observation = replay.transitions([flat]).observations[0].copy()
    next_frame = replay.frames[env, (slot + 1) % replay.ring].copy()
    return BrowsedTransition(
        position=position, matching=len(ids), stored=len(stored), slot=flat, observation=observation,
        next_frame=next_frame, action=int(replay.actions[env, slot]), reward=float(replay.rewards[env, slot]),
        terminated=bool(replay.terminated[env, slot]), truncated=bool(replay.truncated[env, slot]),
        source=Source(int(replay.sources[env, slot])), frames_into_episode=int(replay.age[env, slot]),
        in_last_batch=bool(np.isin(flat, replay.last_sampled)))
