"""Live learning curves: episode return, TD loss, exploration rate and mean Q against agent steps.

Points accumulate in preallocated NumPy arrays that double when full, and a curve is handed to
pyqtgraph (clip-to-view, automatic downsampling) only when something new arrived, so long runs stay cheap:
a curve of more than LONG_CURVE points is redrawn on every few frames only, and the return dots are
appended in fixed-size scatter chunks instead of being rebuilt.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from agents.envs.registry import EnvDescription
from app.view_frame import ViewFrame

MOVING_AVERAGE = 20
CURVE_REFRESH_S = 0.2
"""The curves redraw at most five times a second (the labels on every frame)."""
"""Episodes in the return curve's moving average."""
RETURN_COLOUR = (120, 150, 200)
AVERAGE_COLOUR = (230, 120, 20)
LOSS_COLOUR = (200, 40, 60)
EPSILON_COLOUR = (46, 150, 90)
MEAN_Q_COLOUR = (90, 80, 190)
LONG_CURVE = 100_000
"""Above this many points a line is redrawn every (points // LONG_CURVE + 1) frames; a redraw is O(points)."""
DOT_CHUNK = 2_000
"""Return dots per scatter item; appending to a scatter copies all its points, so chunks keep that bounded."""


class Series:
    """An append-only (x, y) sequence in arrays that double their capacity when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self.x = np.zeros(capacity, np.float64)
        self.y = np.zeros(capacity, np.float64)
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == len(self.x):
            self.x = np.concatenate([self.x, np.zeros_like(self.x)])
            self.y = np.concatenate([self.y, np.zeros_like(self.y)])
        self.x[self.size] = x
        self.y[self.size] = y
        self.size += 1

    def xs(self) -> np.ndarray:
        return self.x[: self.size]

    def ys(self) -> np.ndarray:
        return self.y[: self.size]

    def last_x(self) -> float | None:
        return float(self.x[self.size - 1]) if self.size else None


def _style_plot(plot: pg.PlotItem, title: str, tip: str) -> None:
    """White, gridded, readable; downsampled and clipped so a million points still draw fast."""
    plot.setTitle(title, size="9pt", color="#333")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setMenuEnabled(False)
    plot.hideButtons()
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen("#888"))
        axis.setTextPen(pg.mkPen("#333"))
    plot.setToolTip(tip)


class ReturnDots:
    """One dot per finished episode, kept in scatter items of at most DOT_CHUNK points each."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.chunks: list[pg.ScatterPlotItem] = []
        self.drawn = 0

    def clear(self) -> None:
        for chunk in self.chunks:
            self.plot.removeItem(chunk)
        self.chunks = []
        self.drawn = 0

    def extend_to(self, series: Series) -> None:
        """Add the dots of the series' points not drawn yet."""
        while self.drawn < series.size:
            if not self.chunks or len(self.chunks[-1].data) >= DOT_CHUNK:
                chunk = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(*RETURN_COLOUR, 150))
                chunk.setZValue(-1)  # under the moving average
                self.plot.addItem(chunk)
                self.chunks.append(chunk)
            room = DOT_CHUNK - len(self.chunks[-1].data)
            end = min(series.size, self.drawn + room)
            self.chunks[-1].addPoints(x=series.xs()[self.drawn:end], y=series.ys()[self.drawn:end])
            self.drawn = end

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Every dot's (x, y), in order."""
        if not self.chunks:
            return np.zeros(0), np.zeros(0)
        xs, ys = zip(*(chunk.getData() for chunk in self.chunks), strict=True)
        return np.concatenate(xs), np.concatenate(ys)


class TrainingPanel(QWidget):
    """Episode returns (with a moving average), TD loss, epsilon and mean Q as the agent trains."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.returns = Series()
        self.average = Series()
        self.loss = Series()
        self.epsilon = Series()
        self.mean_q = Series()
        self.episode_count = 0
        self._frames = 0
        self._dirty: set[str] = set()
        self.refresh_interval = CURVE_REFRESH_S
        """Least seconds between two redraws of the curves (0: every frame)."""
        self._last_draw = -math.inf
        self.speed_label = QLabel("– steps/s", self)
        self.speed_label.setToolTip("Environment steps per second over the last second or so.")
        self.episodes_label = QLabel("0 episodes", self)
        self.episodes_label.setToolTip("Episodes finished since the last reset, and the agent's step count.")
        self.graphs = pg.GraphicsLayoutWidget(self)
        self.graphs.setBackground("w")
        self._curves = self._make_plots()
        self._build_layout()

    def _build_layout(self) -> None:
        header = QHBoxLayout()
        header.addWidget(self.speed_label)
        header.addStretch(1)
        header.addWidget(self.episodes_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.graphs, 1)

    def _make_plots(self) -> dict[str, pg.PlotDataItem]:
        specs = (
            ("return", "Episode return", "Undiscounted return of each finished episode (dots) and the "
             f"mean of the last {MOVING_AVERAGE} (line), at the agent step it ended."),
            ("loss", "TD loss", "Loss of each gradient update: how far Q(s, a) is from "
             "r + γ max Q_target(s', ·)."),
            ("epsilon", "Exploration ε", "Probability of a random action (linear decay over the exploration "
             "fraction of training)."),
            ("mean_q", "Mean Q", "Mean Q(s, a) of the sampled actions in each update: rises as the agent "
             "expects more return (a runaway rise means overestimation)."),
        )
        plots = {}
        for i, (key, title, tip) in enumerate(specs):
            plot = self.graphs.addPlot(row=i // 2, col=i % 2)
            _style_plot(plot, title, tip)
            if i >= 2:
                plot.setLabel("bottom", "agent steps", color="#333")
            plots[key] = plot
        # Epsilon has a point from the first step to the latest, so its x range is the run's: the others
        # follow it (linked to an empty return plot, every plot showed 0..1 until the first episode ended).
        for key in ("return", "loss", "mean_q"):
            plots[key].enableAutoRange(x=False)
            plots[key].setXLink(plots["epsilon"])
        self.graphs.setToolTip("Learning curves; x = agent steps. Drag to pan, wheel to zoom.")
        return self._make_curves(plots)

    def _make_curves(self, plots: dict[str, pg.PlotItem]) -> dict[str, pg.PlotDataItem]:
        self.plots = plots
        self.return_dots = ReturnDots(plots["return"])
        return {
            "average": plots["return"].plot(pen=pg.mkPen(AVERAGE_COLOUR, width=2), antialias=True),
            "loss": plots["loss"].plot(pen=pg.mkPen(LOSS_COLOUR, width=1.2), antialias=True),
            "epsilon": plots["epsilon"].plot(pen=pg.mkPen(EPSILON_COLOUR, width=2), antialias=True),
            "mean_q": plots["mean_q"].plot(pen=pg.mkPen(MEAN_Q_COLOUR, width=1.5), antialias=True),
        }

    # ------------------------------------------------------------------------------ public API

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        """New environment or agent: clear every curve."""
        del description, network
        for series in (self.returns, self.average, self.loss, self.epsilon, self.mean_q):
            series.clear()
        self.episode_count = 0
        self.plots["loss"].setTitle("TD error (tabular)" if agent_kind == "qlearning" else "TD loss",
                                    size="9pt", color="#333")
        self.speed_label.setText("– steps/s")
        self.episodes_label.setText("0 episodes")
        for curve in self._curves.values():
            curve.setData([], [])
        self.return_dots.clear()
        self._dirty.clear()
        self._last_draw = -math.inf

    def show_frame(self, frame: ViewFrame) -> None:
        """Append what happened since the last frame; redraw only the curves that changed."""
        snapshot = frame.snapshot
        changed = set()
        if self._add_episodes(frame, snapshot.total_steps):
            changed.update(("return", "average"))
        if self._add_updates(frame):
            changed.update(("loss", "mean_q"))
        last = self.epsilon.last_x()
        if last is None or snapshot.total_steps > last:
            self.epsilon.append(snapshot.total_steps, snapshot.epsilon)
            changed.add("epsilon")
        self._redraw(changed)
        self.speed_label.setText(f"{frame.steps_per_second:,.0f} steps/s")
        self.episodes_label.setText(f"{self.episode_count:,} episodes · step {snapshot.total_steps:,}")

    def curve_lengths(self) -> dict[str, int]:
        """Points held per curve: return, average, loss, epsilon, mean_q."""
        return {"return": self.returns.size, "average": self.average.size, "loss": self.loss.size,
                "epsilon": self.epsilon.size, "mean_q": self.mean_q.size}

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) arrays the named curve was last given (before clipping and downsampling)."""
        if name == "return":
            return self.return_dots.data()
        x, y = self._curves[name].getOriginalDataset()
        empty = np.zeros(0)
        return (empty if x is None else x), (empty if y is None else y)

    # ------------------------------------------------------------------------------ bookkeeping

    def _add_episodes(self, frame: ViewFrame, step: int) -> bool:
        for episode in frame.new_episodes:
            self.returns.append(step, episode.episode_return)
            window = self.returns.ys()[-MOVING_AVERAGE:]
            self.average.append(step, float(window.mean()))
            self.episode_count += 1
        return bool(frame.new_episodes)

    def _add_updates(self, frame: ViewFrame) -> bool:
        for step, stats in frame.new_updates:
            self.loss.append(step, stats.loss)
            self.mean_q.append(step, stats.mean_q)
        return bool(frame.new_updates)

    def _redraw(self, changed: set[str]) -> None:
        """Draw the changed curves a few times a second; a very long one waits for its turn (then drawn in full).

        Every redraw moves the linked x range, which rebuilds all four plots' axes: at 30 frames a second that
        was a third of the GUI thread's time, and curves read no better at 30 Hz than at 5.
        """
        self._dirty |= changed
        now = time.monotonic()
        if now - self._last_draw < self.refresh_interval:
            return
        self._last_draw = now
        self._frames += 1
        if "return" in self._dirty:
            self.return_dots.extend_to(self.returns)
        series = {"average": self.average, "loss": self.loss, "epsilon": self.epsilon, "mean_q": self.mean_q}
        for name in self._dirty & series.keys():
            points = series[name]
            if self._frames % (points.size // LONG_CURVE + 1) == 0:
                self._curves[name].setData(points.xs(), points.ys())
                self._dirty.discard(name)
        self._dirty.discard("return")
