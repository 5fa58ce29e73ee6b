"""Saliency maps for the window, computed in the training loop at a bounded rate (Qt-free).

While the game view's saliency overlay is on, the loop offers each step it publishes; at most MAX_RATE times a
second, and so that the maps take at most LOOP_SHARE of the loop's time, one of them becomes a
`agents.saliency.SaliencyJob`. The job runs a pass of a few perturbed inputs per loop tick, each sized to about
PASS_BUDGET seconds, so no tick is held up for the whole map (0.2-0.3 s for an Atari network on one core) and the
steps the view shows keep coming at its frame rate; when the loop has time to spare (paused, or between the
steps of a paced speed) the passes grow to fill it. The finished map rides along in every published frame
(`ViewFrame.saliency`) with its age, until the next one replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.saliency import Saliency, SaliencyJob
from app.view_frame import SaliencyView

MAX_RATE = 2.0
"""Maps started per second at most."""
LOOP_SHARE = 0.25
"""Share of the loop's time the maps may take: a map that cost 0.25 s waits a second before the next starts."""
PASS_BUDGET = 0.02
"""Seconds of one pass (one loop tick's share of a map) while the loop steps as fast as it can: within the 31 ms
between two shown frames. Smaller passes cost more per perturbed input (a 5-input pass of the Nature CNN twice as
much as a 100-input one), so this is no smaller than it must be."""
SPARE_BUDGET = 0.05
"""Seconds of one pass at most when the loop has time to spare: paused, or waiting for the next step of a paced
speed (15 steps a second on Atari leave ~60 ms between steps). Commands are still handled between passes."""


class SaliencyFeed:
    """On/off, the map in the making and the latest finished one. All calls come from the loop's thread except
    `view`, which only reads."""

    def __init__(self) -> None:
        self.enabled = False
        self._job: SaliencyJob | None = None
        self._job_started = (0.0, 0)
        self._latest: tuple[Saliency, float, int] | None = None
        self._next_start = 0.0

    @property
    def pending(self) -> bool:
        """A map is in the making: the loop should give it passes (and not sleep while idle)."""
        return self._job is not None

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        if not self.enabled:
            self.reset()

    def reset(self) -> None:
        """Forget the job and the latest map (a new session: another network, another environment)."""
        self._job, self._latest, self._next_start = None, None, 0.0

    def offer(self, env_kind: str, agent: Any, observation: np.ndarray, now: float, step: int) -> bool:
        """Start a map of `observation` (taken at loop step `step`) if one is due; True if it started. Agents
        without a Q-network (tabular Q-learning) get none."""
        network = getattr(agent, "online", None)
        if not self.enabled or self._job is not None or network is None or now < self._next_start:
            return False
        self._job = SaliencyJob(network, observation, env_kind)
        self._job_started = (now, step)
        return True

    def advance(self, now: float, spare: float | None = 0.0) -> bool:
        """One pass of the map in the making; True when it finished the map. `spare`: seconds the loop has before
        its next step (None: idle), which a pass may fill up to SPARE_BUDGET; never less than PASS_BUDGET."""
        job = self._job
        if job is None:
            return False
        result = job.step(SPARE_BUDGET if spare is None else min(SPARE_BUDGET, max(PASS_BUDGET, spare)))
        if result is None:
            return False
        started, step = self._job_started
        self._job, self._latest = None, (result, started, step)
        self._next_start = max(started + 1.0 / MAX_RATE, now + result.seconds / LOOP_SHARE - result.seconds)
        return True

    def view(self, now: float, step: int, action_names: Sequence[str]) -> SaliencyView | None:
        """The latest map as a frame published at `now`, loop step `step`, carries it; None if there is none."""
        latest = self._latest
        if latest is None or not self.enabled:
            return None
        result, started, observed = latest
        name = str(action_names[result.action]) if 0 <= result.action < len(action_names) else str(result.action)
        return SaliencyView(result.map, result.action_map, result.action, name, result.max_value, result.seconds,
                            max(0, step - observed), max(0.0, now - started))
