"""The project's own gridworld: text maps, a gymnasium.Env, and an off-screen pygame picture.

Map characters: `#` wall, `.` floor, `S` start (exactly one), `G` goal (+1, ends the episode),
`L` lava (-1, ends the episode). Every step costs 0.01. Lines starting with `;` are comments.

A map can also change while an agent plays it (the window's map editor): `with_cells` paints cells and checks
the result with the rules a map file is read by, `map_to_text` writes the map back in this format, and
`GridWorldEnv.set_map` swaps the running map for one of the same size.
"""

from __future__ import annotations

import operator
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.errors import MapError

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (after the prompt is silenced)

STEP_COST = 0.01
GOAL_REWARD = 1.0
LAVA_REWARD = -1.0
ACTION_NAMES = ("UP", "RIGHT", "DOWN", "LEFT")
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
MAP_CHARACTERS = "#.SGL"
CELL_NAMES = {"#": "wall", ".": "floor", "S": "start", "G": "goal", "L": "lava"}
CELL_PIXELS = 32
NO_START = "no start: the map needs exactly one S"
NO_GOAL = "no goal: the map needs at least one G"
ONE_START = "the map needs exactly one S"

Position = tuple[int, int]


@dataclass(frozen=True, eq=False)
class GridMap:
    """A parsed map: boolean layers plus the start cell."""

    name: str
    walls: np.ndarray
    goals: np.ndarray
    lava: np.ndarray
    start: Position
    source: str
    comments: tuple[str, ...] = ()
    """The map text's comment lines, in order, so a map written back keeps its description."""

    @property
    def height(self) -> int:
        return int(self.walls.shape[0])

    @property
    def width(self) -> int:
        return int(self.walls.shape[1])

    @property
    def free_cell_count(self) -> int:
        return int((~self.walls).sum())


MAX_MAP_SIDE = 100
"""Rows and columns a map may have: 100 x 100 cells is far beyond what the agents here learn in a session,
and the observation (4 planes of the grid) and the networks' first layers grow with the cell count."""
MAX_MAP_FILE_BYTES = 1 << 20
"""A map file larger than this cannot be a map of at most MAX_MAP_SIDE x MAX_MAP_SIDE cells plus comments."""


def parse_map(text: str, source: str = "<map>", name: str | None = None) -> GridMap:
    """Parse map text; every problem is a MapError naming `source`, the line and the reason."""
    if len(text) > MAX_MAP_FILE_BYTES:
        raise MapError(f"{source}:1: map text of {len(text):,} characters; a map has at most "
                       f"{MAX_MAP_SIDE} x {MAX_MAP_SIDE} cells")
    rows = _map_rows(text, source)
    width = len(rows[0][1])
    if len(rows) > MAX_MAP_SIDE or width > MAX_MAP_SIDE:
        raise MapError(f"{source}:1: map of {len(rows)} rows x {width} columns; at most {MAX_MAP_SIDE} x "
                       f"{MAX_MAP_SIDE} cells are allowed")
    starts: list[tuple[int, Position]] = []
    for r, (line_no, row) in enumerate(rows):
        if len(row) != width:
            raise MapError(f"{source}:{line_no}: ragged row: {len(row)} cells, expected {width}")
        for c, char in enumerate(row):
            if char not in MAP_CHARACTERS:
                raise MapError(f"{source}:{line_no}: unknown character {char!r} in column {c + 1} "
                               f"(use # . S G L)")
            if char == "S":
                starts.append((line_no, (r, c)))
    grid = np.array([list(row) for _, row in rows])
    _check_starts_and_goals(starts, grid, source)
    comments = tuple(line for line in text.splitlines() if line.lstrip().startswith(";"))
    return GridMap(name or Path(source).stem, grid == "#", grid == "G", grid == "L", starts[0][1], source,
                   comments)


def _map_rows(text: str, source: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    rows = [(i + 1, line.rstrip("\r\n ")) for i, line in enumerate(lines)
            if not line.lstrip().startswith(";")]
    while rows and not rows[-1][1]:
        rows.pop()
    while rows and not rows[0][1]:
        rows.pop(0)
    if not rows:
        raise MapError(f"{source}:1: empty map: no rows of # . S G L")
    for line_no, row in rows:
        if not row:
            raise MapError(f"{source}:{line_no}: blank line inside the map")
    return rows


def _check_starts_and_goals(starts: list[tuple[int, Position]], grid: np.ndarray, source: str) -> None:
    if not starts:
        raise MapError(f"{source}:1: {NO_START}")
    if len(starts) > 1:
        lines = " and ".join(str(line_no) for line_no, _ in starts[:2])
        raise MapError(f"{source}:{starts[1][0]}: two starts (lines {lines}): {ONE_START}")
    if not (grid == "G").any():
        raise MapError(f"{source}:1: {NO_GOAL}")


def load_map(path: str | os.PathLike[str]) -> GridMap:
    """Read and parse a map file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MAP_FILE_BYTES:
            raise MapError(f"{path}:1: map file of {size:,} bytes; a map has at most {MAX_MAP_SIDE} x "
                           f"{MAX_MAP_SIDE} cells (at most {MAX_MAP_FILE_BYTES:,} bytes with comments)")
        data = path.read_bytes()
    except OSError as error:
        raise MapError(f"{path}:1: cannot read map file ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MapError(f"{path}:1: not a text map file (it is not UTF-8 text)") from None
    if "\x00" in text:
        raise MapError(f"{path}:1: not a text map file (binary data)")
    return parse_map(text, source=str(path), name=path.stem)


def map_characters(grid: GridMap) -> np.ndarray:
    """(H, W) array of the map's characters, # . S G L."""
    chars = np.full(grid.walls.shape, ".", dtype="<U1")
    chars[grid.walls] = "#"
    chars[grid.goals] = "G"
    chars[grid.lava] = "L"
    chars[grid.start] = "S"
    return chars


def map_to_text(grid: GridMap) -> str:
    """The map as a map file: its comment lines, then one row of # . S G L per grid row. `parse_map` reads it
    back to the same cells."""
    rows = ["".join(row) for row in map_characters(grid)]
    return "\n".join([*grid.comments, *rows]) + "\n"


def with_cells(grid: GridMap, cells: Iterable[tuple[Sequence[int], str]], *, label: str | None = None) -> GridMap:
    """`grid` with each ((row, column), character) of `cells` painted in order, checked by the rules a map file
    is read by (exactly one S, at least one G). Any problem is a one-line MapError and `grid` is left as it was;
    `label` names the edit in that message (default: the cell painted, or how many).

    The characters are taken literally: moving the start means painting the old S as floor and the new cell
    as S in one call (see `app.map_edit`)."""
    chars = map_characters(grid)
    painted = [_checked_cell(grid, cell, char) for cell, char in cells]
    for (row, col), char in painted:
        chars[row, col] = char
    problem = _start_and_goal_problem(chars)
    if problem is not None:
        raise MapError(f"cannot paint {label or _describe(painted)}: {problem}")
    (start,) = np.argwhere(chars == "S")
    return GridMap(grid.name, chars == "#", chars == "G", chars == "L", (int(start[0]), int(start[1])),
                   grid.source, grid.comments)


def _checked_cell(grid: GridMap, cell: Sequence[int], char: str) -> tuple[Position, str]:
    try:
        row, col = (operator.index(n) for n in cell)
    except (TypeError, ValueError):
        raise MapError(f"cannot paint {char!r} at {cell!r}: a cell is (row, column)") from None
    if not (0 <= row < grid.height and 0 <= col < grid.width):
        raise MapError(f"cannot paint row {row + 1}, column {col + 1}: outside the {grid.height} x "
                       f"{grid.width} map")
    if not isinstance(char, str) or len(char) != 1 or char not in MAP_CHARACTERS:
        raise MapError(f"cannot paint {char!r} at row {row + 1}, column {col + 1}: unknown character "
                       f"(use # . S G L)")
    return (row, col), char


def _start_and_goal_problem(chars: np.ndarray) -> str | None:
    """What is wrong with the map's starts and goals, in parse_map's words; None if nothing."""
    starts = np.argwhere(chars == "S")
    if len(starts) == 0:
        return NO_START
    if len(starts) > 1:
        where = " and ".join(f"row {r + 1}, column {c + 1}" for r, c in starts[:2])
        return f"two starts ({where}): {ONE_START}"
    return None if (chars == "G").any() else NO_GOAL


def _describe(painted: list[tuple[Position, str]]) -> str:
    return describe_cell(*painted[0]) if len(painted) == 1 else f"{len(painted)} cells"


def describe_cell(position: Position, char: str) -> str:
    """"a wall at row 2, column 5", "lava at row 1, column 1" (rows and columns counted from 1)."""
    article = "" if char in ".L" else "a "
    return f"{article}{CELL_NAMES[char]} at row {position[0] + 1}, column {position[1] + 1}"


def save_map(grid: GridMap, path: str | os.PathLike[str]) -> Path:
    """Write `grid` as a map file, atomically (a failed write leaves any old file whole), and check that it
    reads back to the same cells. A failure is a one-line MapError."""
    path = Path(path)
    text = map_to_text(grid)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise MapError(f"{path}: cannot write the map file ({error.strerror or error})") from None
    if not same_cells(load_map(path), grid):
        raise MapError(f"{path}: the written map does not read back to the same cells")
    return path


def same_cells(a: GridMap, b: GridMap) -> bool:
    """The two maps have the same walls, goals, lava and start."""
    return a.start == b.start and all(np.array_equal(x, y) for x, y in
                                      ((a.walls, b.walls), (a.goals, b.goals), (a.lava, b.lava)))


def shortest_path_length(grid: GridMap) -> int | None:
    """Steps from start to the nearest goal by breadth-first search around walls and lava; None if none."""
    distance = {grid.start: 0}
    frontier = deque([grid.start])
    while frontier:
        cell = frontier.popleft()
        if grid.goals[cell]:
            return distance[cell]
        if grid.lava[cell]:
            continue
        for action in range(len(MOVES)):
            nxt = _moved(grid, cell, action)
            if nxt not in distance:
                distance[nxt] = distance[cell] + 1
                frontier.append(nxt)
    return None


def _moved(grid: GridMap, position: Position, action: int) -> Position:
    """Where `action` takes the agent from `position`: a wall or the map's edge keeps it in place."""
    r, c = position[0] + MOVES[action][0], position[1] + MOVES[action][1]
    if not (0 <= r < grid.height and 0 <= c < grid.width) or grid.walls[r, c]:
        return position
    return (r, c)


def _static_planes(grid: GridMap) -> np.ndarray:
    """The observation's walls, (empty) agent, goals and lava planes."""
    return np.stack([grid.walls, np.zeros_like(grid.walls), grid.goals, grid.lava]).astype(np.uint8)


class GridWorldEnv(gym.Env):
    """A deterministic gridworld; observations are (walls, agent, goals, lava) planes of the map."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, grid: GridMap, render_mode: str | None = None, max_episode_steps: int | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', not {render_mode!r}")
        self.grid = grid
        self.render_mode = render_mode
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be at least 1, not {max_episode_steps}")
        self._limit_from_map = max_episode_steps is None
        self.max_episode_steps = 4 * grid.free_cell_count if max_episode_steps is None else max_episode_steps
        self.cell_pixels = CELL_PIXELS
        self.action_space = gym.spaces.Discrete(len(ACTION_NAMES))
        self.observation_space = gym.spaces.Box(0, 1, (4, grid.height, grid.width), np.uint8)
        self._static = _static_planes(grid)
        self.position: Position = grid.start
        self._steps = 0
        self._start_cells: np.ndarray | None = None
        self._background: pygame.Surface | None = None

    @property
    def n_states(self) -> int:
        return self.grid.height * self.grid.width

    def get_action_meanings(self) -> list[str]:
        return list(ACTION_NAMES)

    def set_map(self, grid: GridMap) -> None:
        """Play `grid` from now on. It must have the running map's size, so the observation space (and an
        agent's network) still fit; a time limit taken from the map follows its free cells.

        The episode in progress was played on the old map, so a learner should reset before the next step
        (`app.training_loop` does). Until then the agent keeps its cell, unless the cell is no longer plain
        floor: then it stands on S."""
        if (grid.height, grid.width) != (self.grid.height, self.grid.width):
            raise MapError(f"{grid.source}:1: a map of {grid.height} x {grid.width} cells cannot replace the "
                           f"running {self.grid.height} x {self.grid.width} map (the agent's input has that size)")
        self.grid = grid
        self._static = _static_planes(grid)
        self._start_cells = None
        self._background = None
        if self._limit_from_map:
            self.max_episode_steps = 4 * grid.free_cell_count
        if grid.walls[self.position] or grid.goals[self.position] or grid.lava[self.position]:
            self.position = grid.start

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start at S; with options={"random_start": True}, at a uniformly drawn free cell that is neither
        goal nor lava instead (exploring starts, Sutton & Barto 2018, section 5.3), drawn from the env's own
        seeded generator."""
        super().reset(seed=seed)
        random_start = bool((options or {}).get("random_start", False))
        self.position = self._random_start() if random_start else self.grid.start
        self._steps = 0
        return self.observation_at(self.position), self._info()

    def _random_start(self) -> Position:
        if self._start_cells is None:
            self._start_cells = np.argwhere(~(self.grid.walls | self.grid.goals | self.grid.lava))
        row, col = self._start_cells[self.np_random.integers(len(self._start_cells))]
        return (int(row), int(col))

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(int(action)):
            raise ValueError(f"invalid action {action!r}; expected 0..{len(ACTION_NAMES) - 1}")
        self.position = self._moved(self.position, int(action))
        self._steps += 1
        reward = -STEP_COST
        info = self._info()
        terminated = bool(self.grid.goals[self.position] or self.grid.lava[self.position])
        if terminated:
            success = bool(self.grid.goals[self.position])
            reward += GOAL_REWARD if success else LAVA_REWARD
            info["success"] = success
        truncated = not terminated and self._steps >= self.max_episode_steps
        return self.observation_at(self.position), reward, terminated, truncated, info

    def _moved(self, position: Position, action: int) -> Position:
        return _moved(self.grid, position, action)

    def snapshot_state(self) -> tuple[Position, int]:
        """What changes during an episode (the agent's cell, the steps taken), for agents.rewind."""
        return self.position, self._steps

    def restore_state(self, state: tuple[Position, int]) -> None:
        """Back to a `snapshot_state()` of this episode's map."""
        self.position, self._steps = state

    def _info(self) -> dict[str, Any]:
        return {"position": self.position, "state": self.state_index(self.position)}

    def state_index(self, position: Position) -> int:
        """Flat index r * W + c, what tabular agents use as the state."""
        return position[0] * self.grid.width + position[1]

    def observation_at(self, position: Position) -> np.ndarray:
        """The observation the agent would get standing on `position` (for value maps)."""
        r, c = position
        if not (0 <= r < self.grid.height and 0 <= c < self.grid.width):
            raise ValueError(f"position {position} is outside the {self.grid.height}x{self.grid.width} map")
        obs = self._static.copy()
        obs[1, r, c] = 1
        return obs

    def free_positions(self) -> list[Position]:
        """Every non-wall cell in row-major order (where a value map has something to show)."""
        return [(int(r), int(c)) for r, c in zip(*np.nonzero(~self.grid.walls), strict=True)]

    def shortest_path_length(self) -> int | None:
        """Steps from start to the nearest goal by breadth-first search around walls and lava."""
        return shortest_path_length(self.grid)

    def render(self) -> np.ndarray | None:
        """(H * cell_pixels, W * cell_pixels, 3) uint8 picture; drawn off-screen, so no window or display."""
        if self.render_mode != "rgb_array":
            return None
        if self._background is None:
            self._background = _draw_map(self.grid, self.cell_pixels)
        surface = self._background.copy()
        _draw_agent(surface, self.position, self.cell_pixels)
        # Row-major bytes straight from the surface: 4x faster than surfarray's (W, H) array transposed.
        pixels = np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8)
        return pixels.reshape(surface.get_height(), surface.get_width(), 3).copy()


FLOOR = (236, 239, 244)
START = (221, 228, 240)
WALL = (59, 66, 82)
LAVA = (232, 93, 50)
LAVA_WAVE = (250, 160, 60)
GOAL = (88, 180, 104)
GOAL_MARK = (255, 255, 255)
AGENT = (52, 120, 246)
AGENT_RIM = (255, 255, 255)
GRID_LINE = (216, 222, 233)


def _draw_map(grid: GridMap, cell: int) -> pygame.Surface:
    """The static part of the picture, drawn once per environment."""
    surface = pygame.Surface((grid.width * cell, grid.height * cell))
    surface.fill(FLOOR)
    for r in range(grid.height):
        for c in range(grid.width):
            rect = pygame.Rect(c * cell, r * cell, cell, cell)
            if grid.walls[r, c]:
                pygame.draw.rect(surface, WALL, rect)
            elif grid.lava[r, c]:
                _draw_lava(surface, rect)
            elif grid.goals[r, c]:
                pygame.draw.rect(surface, GOAL, rect)
                _draw_flag(surface, rect)
            else:
                if (r, c) == grid.start:
                    pygame.draw.rect(surface, START, rect)
                pygame.draw.rect(surface, GRID_LINE, rect, width=1)
    return surface


def _draw_lava(surface: pygame.Surface, rect: pygame.Rect) -> None:
    """Orange-red cell with two light wave strokes, so a lake of lava still shows its cells."""
    pygame.draw.rect(surface, LAVA, rect)
    step = rect.width / 4
    for row in (0.35, 0.7):
        y = rect.top + row * rect.height
        points = [(rect.left + i * step, y + (2 if i % 2 else -2)) for i in range(5)]
        pygame.draw.lines(surface, LAVA_WAVE, False, points, width=2)


def _draw_flag(surface: pygame.Surface, rect: pygame.Rect) -> None:
    """A small white flag on the goal cell."""
    unit = rect.width / 8
    pole_x = rect.left + 2.5 * unit
    top, bottom = rect.top + 1.5 * unit, rect.bottom - 1.5 * unit
    pygame.draw.line(surface, GOAL_MARK, (pole_x, top), (pole_x, bottom), width=2)
    flag = [(pole_x, top), (rect.left + 6 * unit, rect.top + 2.75 * unit),
            (pole_x, rect.top + 4 * unit)]
    pygame.draw.polygon(surface, GOAL_MARK, flag)


def _draw_agent(surface: pygame.Surface, position: Position, cell: int) -> None:
    center = (position[1] * cell + cell // 2, position[0] * cell + cell // 2)
    pygame.draw.circle(surface, AGENT, center, cell * 3 // 8)
    pygame.draw.circle(surface, AGENT_RIM, center, cell * 3 // 8, width=2)
