"""V(s) and the greedy action with the agent standing on each free cell of a gridworld: the maps the game view
draws under its arrows. Qt-free: the training loop and the `record` command compute them alike."""

from __future__ import annotations

from typing import Any

import numpy as np


class GridMaps:
    """Keeps the observation of every free cell (one batch for the agent) until the map changes (`forget`)."""

    def __init__(self) -> None:
        self._positions: list[tuple[int, int]] | None = None
        self._observations: np.ndarray | None = None

    def forget(self) -> None:
        """The map was edited or replaced: its free cells are taken again next time."""
        self._positions = self._observations = None

    def compute(self, env: Any, agent: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(values, actions) of `shape` (rows, cols): V(s) (NaN on walls) and the greedy action (-1 on walls)."""
        grid = env.unwrapped
        if self._observations is None:
            self._positions = list(grid.free_positions())
            self._observations = np.stack([grid.observation_at(p) for p in self._positions])
        values, actions = agent.value_map(self._observations)
        grid_values = np.full(shape, np.nan, np.float32)
        grid_actions = np.full(shape, -1, np.int64)
        rows, cols = np.array(self._positions).T
        grid_values[rows, cols] = values
        grid_actions[rows, cols] = actions
        return grid_values, grid_actions
