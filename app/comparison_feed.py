"""A second agent beside the one running, judged on the very same states (Qt-free: it runs in the training loop).

While a comparison is on, every step's state is shown to both agents: their greedy actions give the episode's
agreement timeline (one mark per step, so the timeline is whole even at fast speed, where few steps are drawn),
and every published frame carries the second agent's Q-values of the state on screen (`ComparisonView`). Either
agent can be the one that acts in Agent play; training always trains the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.envs.registry import EnvDescription, check_actions_fit
from agents.errors import ConfigError
from agents.types import Evaluation

MAX_MARKS = 100_000
"""Timeline marks kept for one episode at most (Atari episodes are capped at 27,000 steps by ALE's v5)."""
ACTORS = ("main", "rival")


@dataclass(frozen=True)
class ComparisonView:
    """The comparison as one published frame carries it (picklable: it crosses to the window's process)."""

    name: str
    """The second agent's file name."""
    trained_on: str
    """The environment the second agent was trained on."""
    evaluation: Evaluation
    """Its Q-values (and V, attention) of the frame's state."""
    main_action: int
    """Greedy action of the running agent in that state."""
    rival_action: int
    """Greedy action of the second agent in that state."""
    episode: int
    marks: np.ndarray
    """(n,) bool, whether the two greedy actions agreed at each step of `episode` so far, oldest first."""
    actor: str
    """Who acts in Agent play: "main" (the running agent) or "rival"."""

    @property
    def agree(self) -> bool:
        return self.main_action == self.rival_action

    @property
    def agreement(self) -> float:
        """Share of the episode's steps on which the two agreed (1.0 before the first)."""
        return float(self.marks.mean()) if self.marks.size else 1.0


class ComparisonFeed:
    """The second agent and the current episode's agreement marks; all calls come from the loop's thread."""

    def __init__(self) -> None:
        self.rival: Any = None
        self.name = ""
        self.trained_on = ""
        self.actor = "main"
        self._episode = -1
        self._marks: list[bool] = []
        self._last: tuple[np.ndarray, Evaluation] | None = None
        """(observation, the compared agent's evaluation of it) of the latest step."""

    @property
    def active(self) -> bool:
        return self.rival is not None

    def start(self, rival: Any, path: str, trained_on: str, description: EnvDescription) -> None:
        """Compare `rival` (a loaded agent) from now on; ConfigError if it cannot play `description`'s game."""
        check_actions_fit(rival.action_names, description, str(path))
        expected = tuple(getattr(rival, "obs_shape", description.obs_shape))
        if expected != tuple(description.obs_shape):
            raise ConfigError(f"{Path(path).name} sees observations of shape {expected}; this environment's are "
                              f"{tuple(description.obs_shape)}")
        self.rival, self.name, self.trained_on = rival, Path(path).name, trained_on
        self._episode, self._marks, self._last = -1, [], None

    def stop(self) -> None:
        self.rival, self.name, self.trained_on, self.actor = None, "", "", "main"
        self._episode, self._marks, self._last = -1, [], None

    def set_actor(self, actor: str) -> None:
        if actor not in ACTORS:
            raise ValueError(f"unknown actor {actor!r}")
        self.actor = actor

    def play_agent(self) -> Any:
        """The agent that acts in Agent play instead of the running one, or None."""
        return self.rival if self.active and self.actor == "rival" else None

    def observe(self, agent: Any, observation: np.ndarray, episode: int) -> None:
        """One step: mark whether the two greedy actions agree in the state reached."""
        if not self.active:
            return
        if episode != self._episode:
            self._episode, self._marks = episode, []
        rival_evaluation = self.rival.evaluate(observation)
        self._last = (observation, rival_evaluation)  # a shown step's view() reuses it
        if len(self._marks) < MAX_MARKS:
            self._marks.append(greedy(agent, observation) == int(np.argmax(rival_evaluation.q_values)))

    def view(self, agent: Any, observation: np.ndarray, main_evaluation: Evaluation | None,
             episode: int) -> ComparisonView | None:
        """The comparison for a published frame of `observation` (None while none is on)."""
        if not self.active:
            return None
        last = self._last
        rival_evaluation = last[1] if last is not None and last[0] is observation else self.rival.evaluate(observation)
        main_action = (int(np.argmax(main_evaluation.q_values)) if main_evaluation is not None
                       else greedy(agent, observation))
        marks = np.array(self._marks if episode == self._episode else [], dtype=bool)
        return ComparisonView(self.name, self.trained_on, rival_evaluation, main_action,
                              int(np.argmax(rival_evaluation.q_values)), episode, marks, self.actor)


def greedy(agent: Any, observation: np.ndarray) -> int:
    """The agent's greedy action, the first of equal Q-values: from `evaluate`, which draws no random number (a
    tabular agent's act breaks ties at random), so no exploration stream is touched."""
    return int(np.argmax(agent.evaluate(observation).q_values))
