"""A run's learning curves in bounded memory, so a save can carry them and a window can redraw them.

The agent records, at every step it learns from, its exploration rate and how many episodes have finished,
and at every gradient update the TD loss and mean Q. Each series keeps at most `HISTORY_POINTS` points however
long the run: a point is the mean of `stride` consecutive records, and when a series fills up its neighbouring
points merge pairwise and the stride doubles. Memory stays O(points) and the whole run stays evenly covered,
from the first step to the last (unlike TensorBoard's random reservoir, the points stay evenly spaced).

Episode returns need no series of their own: the save keeps every episode already. What it lacks is the step
each ended at, which `past_curves` reads off the finished-episodes column (or, for a save from before the
history, estimates from the episodes' lengths).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.types import EpisodeStats, UpdateStats
from agents.validation import is_int, is_number

HISTORY_POINTS = 2048
"""Points per series at most: a plot a few thousand pixels wide shows no more; a save grows by about 50 kB."""
HISTORY_FORMAT = 1
PROGRESS_COLUMNS = ("step", "epsilon", "episodes")
UPDATE_COLUMNS = ("step", "loss", "mean_q")
MAX_STRIDE = 1 << 62
"""Records per point a saved series may claim: far beyond any run."""


class HistoryError(ValueError):
    """A saved history that is malformed, too large or inconsistent (the message says which, in one line)."""


class DownsampledSeries:
    """Rows of floats (one per record), kept as at most `capacity` means of `stride` consecutive records each."""

    def __init__(self, columns: Sequence[str], capacity: int = HISTORY_POINTS) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number of at least 2, not {capacity}")
        self.columns = tuple(columns)
        self.capacity = capacity
        self.stride = 1
        self._points = np.zeros((capacity, len(self.columns)), np.float64)
        self._size = 0
        self._pending = [0.0] * len(self.columns)
        self._pending_count = 0

    def __len__(self) -> int:
        """Points held, the partly filled last one included."""
        return self._size + (self._pending_count > 0)

    def add(self, *values: float) -> None:
        """One record; a record with a non-finite value (a diverged loss) is skipped, so a save stays loadable."""
        if not all(math.isfinite(v) for v in values):
            return
        pending = self._pending
        for i, value in enumerate(values):
            pending[i] += value
        self._pending_count += 1
        if self._pending_count == self.stride:
            self._points[self._size] = [total / self.stride for total in pending]
            self._size += 1
            self._pending = [0.0] * len(self.columns)
            self._pending_count = 0
            if self._size == self.capacity:
                self._merge_pairs()

    def _merge_pairs(self) -> None:
        """Each two neighbouring points become their mean: half the points, each covering twice the records."""
        half = self.capacity // 2
        self._points[:half] = 0.5 * (self._points[0:self.capacity:2] + self._points[1:self.capacity:2])
        self._size = half
        self.stride *= 2

    def rows(self) -> np.ndarray:
        """(points, columns) float64 copy, oldest first; the last row may average fewer than `stride` records."""
        rows = self._points[:self._size]
        if self._pending_count:
            partial = np.array([total / self._pending_count for total in self._pending])
            rows = np.vstack([rows, partial[None, :]])
        return rows.copy()

    def column(self, name: str) -> np.ndarray:
        return self.rows()[:, self.columns.index(name)]

    def to_json(self) -> dict[str, Any]:
        """{"stride", "rows" (the full points), "pending" ([records, their sums] of the point being filled)}: all
        a resumed run needs to go on exactly as if it had never stopped."""
        return {"stride": self.stride, "rows": self._points[:self._size].tolist(),
                "pending": [self._pending_count, list(self._pending)]}

    @classmethod
    def from_json(cls, name: str, data: Any, columns: Sequence[str], capacity: int = HISTORY_POINTS
                  ) -> DownsampledSeries:
        """The series `to_json` wrote, every value checked: bounded length, finite numbers, a sane stride."""
        if not isinstance(data, Mapping) or set(data) != {"stride", "rows", "pending"}:
            raise HistoryError(f"the {name} series is not a {{stride, rows, pending}} object")
        stride, rows, pending = data["stride"], data["rows"], data["pending"]
        if not is_int(stride) or not 1 <= stride <= MAX_STRIDE:
            raise HistoryError(f"the {name} series has a bad stride {stride!r:.40}")
        if not isinstance(rows, list) or len(rows) >= capacity:
            size = len(rows) if isinstance(rows, list) else type(rows).__name__
            raise HistoryError(f"the {name} series holds {size} points (at most {capacity - 1})")
        if not (isinstance(pending, list) and len(pending) == 2 and is_int(pending[0])
                and 0 <= pending[0] < stride):
            raise HistoryError(f"the {name} series' pending point is not [records (below the stride), sums]")
        values = [_row(name, row, len(columns)) for row in rows]
        series = cls(columns, capacity)
        series.stride = stride
        if values:
            series._points[:len(values)] = values
        series._size = len(values)
        series._pending_count = pending[0]
        series._pending = _row(name, pending[1], len(columns)) if pending[0] else [0.0] * len(columns)
        return series


def _row(name: str, row: Any, width: int) -> list[float]:
    if not isinstance(row, list) or len(row) != width:
        raise HistoryError(f"the {name} series has a row that is not {width} numbers")
    values = []
    for value in row:
        try:
            number = float(value) if is_number(value) else math.nan
        except OverflowError:  # an integer of hundreds of digits
            number = math.nan
        if not math.isfinite(number):
            raise HistoryError(f"the {name} series holds a value that is not a finite number ({value!r:.40})")
        values.append(number)
    return values


class TrainingHistory:
    """What a run's curves need beyond its episodes: epsilon and episodes finished by step, loss and mean Q by
    update, each in at most `capacity` points."""

    def __init__(self, capacity: int = HISTORY_POINTS) -> None:
        self.progress = DownsampledSeries(PROGRESS_COLUMNS, capacity)
        self.updates = DownsampledSeries(UPDATE_COLUMNS, capacity)

    def record(self, step: int, epsilon: float, episodes: int, update: UpdateStats | None) -> None:
        """One observed step: the agent's step count after it, its epsilon, the episodes finished before it, and
        the statistics of the update it triggered (if any)."""
        self.progress.add(step, epsilon, episodes)
        if update is not None:
            self.updates.add(step, update.loss, update.mean_q)

    def to_json(self) -> dict[str, Any]:
        return {"format": HISTORY_FORMAT, "progress": self.progress.to_json(), "updates": self.updates.to_json()}

    @classmethod
    def from_json(cls, data: Any, *, step_count: int, episodes: int, capacity: int = HISTORY_POINTS
                  ) -> TrainingHistory:
        """The history `to_json` wrote, checked against itself and against the save it came with: steps that
        never go back nor past `step_count`, epsilons that are probabilities, episode counts up to `episodes`."""
        if not isinstance(data, Mapping) or set(data) != {"format", "progress", "updates"}:
            raise HistoryError("the history is not a {format, progress, updates} object")
        if data["format"] != HISTORY_FORMAT or isinstance(data["format"], bool):
            raise HistoryError(f"the history has an unknown format {data['format']!r:.40}")
        history = cls(capacity)
        history.progress = DownsampledSeries.from_json("progress", data["progress"], PROGRESS_COLUMNS, capacity)
        history.updates = DownsampledSeries.from_json("updates", data["updates"], UPDATE_COLUMNS, capacity)
        for series in (history.progress, history.updates):
            _check_steps(series, step_count)
        progress = history.progress.rows()
        if len(progress):
            if progress[:, 1].min() < 0 or progress[:, 1].max() > 1:
                raise HistoryError("the progress series has an epsilon outside 0..1")
            counts = progress[:, 2]
            if counts.min() < 0 or counts.max() > episodes or np.any(np.diff(counts) < 0):
                raise HistoryError(f"the progress series' episode counts are not a rising count up to {episodes}")
        return history


def _check_steps(series: DownsampledSeries, step_count: int) -> None:
    steps = series.column("step")
    name = "progress" if series.columns == PROGRESS_COLUMNS else "updates"
    if len(steps) and (steps.min() < 0 or steps.max() > step_count or np.any(np.diff(steps) < 0)):
        raise HistoryError(f"the {name} series' steps are not rising steps up to the save's {step_count:,}")


# ------------------------------------------------------------------------------------------------ drawing


@dataclass(frozen=True)
class PastCurves:
    """Copies of a run's curves up to now (all float64 NumPy arrays): what a window draws when it opens a save."""

    episode_steps: np.ndarray
    """(E,) agent step at which each finished episode ended (an estimate where the save did not record it)."""
    episode_returns: np.ndarray
    """(E,) undiscounted return of each finished episode, in order."""
    update_steps: np.ndarray
    losses: np.ndarray
    mean_qs: np.ndarray
    epsilon_steps: np.ndarray
    epsilons: np.ndarray

    @property
    def episodes(self) -> int:
        return len(self.episode_returns)

    @property
    def empty(self) -> bool:
        return not (len(self.episode_returns) or len(self.update_steps) or len(self.epsilon_steps))


def past_curves(agent: Any) -> PastCurves:
    """The curves of `agent`'s past from its episodes and history (an agent without one has episodes only)."""
    episodes: list[EpisodeStats] = list(getattr(agent, "episodes", []))
    history: TrainingHistory = getattr(agent, "history", None) or TrainingHistory()
    progress, updates = history.progress.rows(), history.updates.rows()
    step_count = int(getattr(agent, "step_count", 0))
    return PastCurves(
        episode_steps=episode_end_steps(episodes, progress[:, 0], progress[:, 2], step_count),
        episode_returns=np.array([e.episode_return for e in episodes], np.float64),
        update_steps=updates[:, 0], losses=updates[:, 1], mean_qs=updates[:, 2],
        epsilon_steps=progress[:, 0], epsilons=progress[:, 1])


def episode_end_steps(episodes: Sequence[EpisodeStats], steps: np.ndarray, counts: np.ndarray,
                      step_count: int) -> np.ndarray:
    """The agent step at which each episode ended.

    Where the progress series covers an episode, that is the last step whose count of finished episodes was still
    below it (each record counts the episodes finished before its step). Episodes before the series began (a save
    from before histories, resumed) are laid out by their lengths up to its first step, scaled down if they add up
    to more (episodes played without learning, or side by side).
    """
    n = len(episodes)
    if n == 0:
        return np.zeros(0, np.float64)
    if len(counts):
        unique, first_from_end = np.unique(counts[::-1], return_index=True)
        last_steps = steps[len(counts) - 1 - first_from_end]
        ends = np.interp(np.arange(n, dtype=np.float64), unique, last_steps)
        first_count, first_step = min(math.ceil(counts[0]), n), float(steps[0])
    else:
        ends = np.zeros(n, np.float64)
        first_count, first_step = n, float(step_count)
    if first_count:
        lengths = np.cumsum([max(e.length, 0) for e in episodes[:first_count]], dtype=np.float64)
        total = lengths[-1]
        ends[:first_count] = lengths * (first_step / total if total > first_step else 1.0)
    return np.minimum(ends, float(step_count))
