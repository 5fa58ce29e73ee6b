"""The map editor's model, without Qt: brushes, strokes of painted cells, and undo.

The window paints with a brush; each painted cell becomes a `MapEdit` (the cells it changes, before and after)
that the window sends to the training loop (a few at a time: `MapEdit.then` joins them into one command), so the
environment, V(s) and the arrows follow while the user paints. Every edit is checked by
`agents.envs.gridworld.with_cells`, the rules a map file is read by: an edit that would leave no start or no goal
is refused with a one-line MapError and changes nothing. One press, drag and release of the mouse is one stroke,
and undo takes back a whole stroke.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from agents.envs.gridworld import (
    CELL_NAMES,
    GridMap,
    Position,
    describe_cell,
    map_characters,
    map_to_text,
    save_map,
    with_cells,
)

BRUSHES = ("#", ".", "L", "G", "S")
"""Brush characters in toolbar order: wall, floor, lava, goal, start."""
UNDO_LIMIT = 500
"""Strokes kept for undo; older ones are forgotten (each is a few cells, so this is about memory only)."""


def brush_label(char: str) -> str:
    """"Wall", "Floor", "Lava", "Goal", "Start"."""
    return CELL_NAMES[char].capitalize()


@dataclass(frozen=True)
class CellChange:
    position: Position
    before: str
    after: str


@dataclass(frozen=True)
class MapEdit:
    """Cells changed together, in order; applying `cells` to the map before gives the map after."""

    changes: tuple[CellChange, ...]

    @property
    def cells(self) -> tuple[tuple[Position, str], ...]:
        """((row, column), character) to paint, what `with_cells` and the loop's edit_map command take."""
        return tuple((change.position, change.after) for change in self.changes)

    def inverse(self) -> MapEdit:
        """The edit that puts every cell back, newest change first."""
        return MapEdit(tuple(CellChange(c.position, c.after, c.before) for c in reversed(self.changes)))

    def then(self, later: MapEdit) -> MapEdit:
        return MapEdit(self.changes + later.changes)


class MapEditModel:
    """The map being edited and its undo history."""

    def __init__(self, grid: GridMap) -> None:
        self._grid = grid
        self._history: deque[MapEdit] = deque(maxlen=UNDO_LIMIT)
        self._stroke: MapEdit | None = None
        self._stroke_open = False

    @property
    def grid(self) -> GridMap:
        return self._grid

    def text(self) -> str:
        """The map in the map file format."""
        return map_to_text(self._grid)

    def char_at(self, position: Position) -> str:
        return str(map_characters(self._grid)[position])

    @property
    def can_undo(self) -> bool:
        return bool(self._history) or self._stroke is not None

    # ------------------------------------------------------------------ painting

    def begin_stroke(self) -> None:
        """The mouse went down: what is painted until `end_stroke` is undone as one."""
        self.end_stroke()
        self._stroke_open = True

    def end_stroke(self) -> None:
        if self._stroke is not None:
            self._history.append(self._stroke)
        self._stroke, self._stroke_open = None, False

    def paint(self, position: Position, brush: str) -> MapEdit | None:
        """Paint one cell; returns the edit to send to the loop, or None when the cell already is `brush`.

        The start brush moves the start (the old S becomes floor). Raises a one-line MapError, and changes
        nothing, for a cell outside the map, an unknown brush, or an edit that leaves no start or no goal."""
        edit = self._edit_for(position, brush)
        if edit is None:
            return None
        self._grid = with_cells(self._grid, edit.cells, label=describe_cell(position, brush))
        self._stroke = edit if self._stroke is None else self._stroke.then(edit)
        if not self._stroke_open:
            self.end_stroke()
        return edit

    def _edit_for(self, position: Position, brush: str) -> MapEdit | None:
        row, col = position
        if not (0 <= row < self._grid.height and 0 <= col < self._grid.width) or brush not in BRUSHES:
            with_cells(self._grid, [(position, brush)])  # raises the one-line error that names the problem
        before = self.char_at((row, col))
        if before == brush:
            return None
        changes = (CellChange((row, col), before, brush),)
        if brush == "S":
            changes = (CellChange(self._grid.start, "S", "."), *changes)
        return MapEdit(changes)

    def reset_to(self, grid: GridMap) -> None:
        """Take `grid` as the map (the one the loop really plays, after it refused an edit). The undo history and
        the stroke so far described another map, so they are forgotten; a stroke in progress goes on."""
        self._grid = grid
        self._history.clear()
        self._stroke = None

    def undo(self) -> MapEdit | None:
        """Take back the last stroke; returns the edit that does it (to send to the loop), None if none."""
        self.end_stroke()
        if not self._history:
            return None
        edit = self._history.pop().inverse()
        self._grid = with_cells(self._grid, edit.cells)
        return edit

    # ------------------------------------------------------------------ files

    def save(self, path: str | Path) -> Path:
        """Write the map as a .txt map file (atomically; it is read back to check); MapError on failure."""
        return save_map(self._grid, path)
