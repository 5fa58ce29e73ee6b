"""Stepping back in the window, without Qt: where in the episode's history the view is, and the branches tried there.

The training loop owns one `RewindFeed` per session. The runner records every step into `history`
(agents.rewind.EpisodeHistory); while paused the window moves `position` back and forth through it, the loop
restores the environment to that moment and shows it like any step (view, Q-values, saliency, comparison). A step
taken from an earlier moment continues the episode from there (`branch_point`): the later moments are dropped and
the replay gets a seam, so nothing stored joins the two sides. Branches tried with "what if" are undone at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.rewind import REWIND_STEPS, WHAT_IF_HORIZON, EpisodeHistory, Moment, WhatIf

MAX_TRIES = 24
"""Branches listed per moment at most (the newest kept)."""


@dataclass(frozen=True)
class RewindView:
    """Where the view is in the episode's recorded moments, as a frame carries it (picklable)."""

    position: int
    """Index of the moment shown, 0 = the oldest kept."""
    length: int
    """Moments kept; position == length - 1 is the present."""
    first_step: int
    """The episode step of the oldest moment kept (0: the history reaches back to the reset)."""
    tries: tuple[WhatIf, ...] = ()
    """Branches tried from this moment, oldest first."""
    taken: WhatIf | None = None
    """What the episode really did after this moment (None at the present)."""
    horizon: int = WHAT_IF_HORIZON
    unavailable: str | None = None
    """Why this environment cannot step back; None where it can."""
    ended: bool = False
    """The episode ended at the moment shown: nothing can be tried from it."""

    @property
    def at_present(self) -> bool:
        return self.position >= self.length - 1

    @property
    def step(self) -> int:
        """The episode step shown."""
        return self.first_step + self.position

    @property
    def steps_back(self) -> int:
        return max(0, self.length - 1 - self.position)


class RewindFeed:
    def __init__(self, *, keep_frames: bool, capacity: int = REWIND_STEPS) -> None:
        self.history = EpisodeHistory(capacity, keep_frames=keep_frames)
        self._position: int | None = None
        """None: the present (the newest moment, which moves on with every step)."""
        self.tries: list[WhatIf] = []
        self.taken: WhatIf | None = None
        self.horizon = WHAT_IF_HORIZON

    @property
    def rewound(self) -> bool:
        """The view shows an earlier moment than the latest one."""
        return self._position is not None and self._position < len(self.history) - 1

    @property
    def position(self) -> int:
        return len(self.history) - 1 if self._position is None else self._position

    def moment(self) -> Moment | None:
        """The moment shown (the latest at the present); None before the first is recorded."""
        return self.history[self.position] if len(self.history) else None

    def move_to(self, index: int) -> Moment | None:
        """Show moment `index` (clamped to those kept); returns it, or None when there is none or it is the one
        shown already."""
        if not len(self.history):
            return None
        index = min(max(0, int(index)), len(self.history) - 1)
        if index == self.position:
            return None
        self._position = None if index == len(self.history) - 1 else index
        self.tries, self.taken = [], None
        return self.history[index]

    def move_by(self, steps: int) -> Moment | None:
        return self.move_to(self.position + int(steps))

    def branch_point(self) -> Moment | None:
        """A step is about to be taken: the moment to go on from when the view is rewound (the later moments are
        dropped), else None (the episode simply goes on)."""
        if not self.rewound:
            self.went_on()
            return None
        moment = self.history[self.position]
        self.history.keep_until(self.position)
        self.went_on()
        return moment

    def went_on(self) -> None:
        """A step was taken: the view is at the present again."""
        self._position = None
        self.tries, self.taken = [], None

    def add_try(self, result: WhatIf) -> None:
        self.tries = [*self.tries, result][-MAX_TRIES:]

    def reset(self) -> None:
        """The episode was replaced (restart, map edit, new environment): nothing to step back to."""
        self.history.clear()
        self.went_on()

    def view(self) -> RewindView:
        length = len(self.history)
        first = self.history[0].episode_step if length else 0
        moment = self.moment()
        return RewindView(self.position if length else 0, length, first, tuple(self.tries), self.taken,
                          self.horizon, self.history.broken, moment is not None and moment.ended)
