"""Live learning curves: episode return, TD loss, exploration rate and mean Q against agent steps.

Points accumulate in preallocated NumPy arrays that double when full, and a curve is handed to
pyqtgraph (clip-to-view, automatic downsampling) only when something new arrived, so long runs stay cheap:
a curve of more than LONG_CURVE points is redrawn on every few frames only, and the return dots are
appended in fixed-size scatter chunks instead of being rebuilt.

An opened save's past (its episodes and its bounded history, agents.history) is drawn first, so a resumed run
shows its whole life. Each plot keeps a readable size: the four reflow between one row, a 2x2 grid and one
column as the dock's shape allows, and scroll when even that does not fit. An empty plot says so instead of
showing an axis left over from the previous agent.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QBrush, QColor, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsSimpleTextItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from agents.envs.registry import EnvDescription
from agents.history import PastCurves
from app.readouts import rate_text
from app.view_frame import ViewFrame

MOVING_AVERAGE = 20
"""Episodes in the return curve's moving average."""
CURVE_REFRESH_S = 0.2
"""The curves redraw at most five times a second (the labels on every frame)."""
RETURN_COLOUR = (120, 150, 200)
AVERAGE_COLOUR = (230, 120, 20)
LOSS_COLOUR = (200, 40, 60)
EPSILON_COLOUR = (46, 150, 90)
MEAN_Q_COLOUR = (90, 80, 190)
LONG_CURVE = 100_000
"""Above this many points a line is redrawn every (points // LONG_CURVE + 1) frames; a redraw is O(points)."""
DOT_CHUNK = 2_000
"""Return dots per scatter item; appending to a scatter copies all its points, so chunks keep that bounded."""
MIN_PLOT_SIZE = (200, 150)
"""(width, height) in pixels below which a plot's ticks overprint: a smaller dock scrolls instead."""
COLUMN_CHOICES = (1, 2, 4)
"""The four plots as one column, a 2x2 grid or one row."""
EMPTY_X_SPAN = 100
"""Steps the x axis spans before a run has two steps to span."""
EMPTY_TEXT = {"return": "No finished episodes yet", "loss": "No gradient updates yet",
              "epsilon": "No steps yet", "mean_q": "No gradient updates yet"}
NO_PAST_TEXT = "Not in this save; new updates show here"
"""An opened agent that trained before but whose save carries no curve of it (a policy-only or imported one)."""
TITLE = {"return": "Episode return", "loss": "TD loss", "epsilon": "Exploration ε", "mean_q": "Mean Q"}
TIPS = {
    "return": "Undiscounted return of each finished episode (dots) and the mean of the last "
              f"{MOVING_AVERAGE} (line), at the agent step it ended.",
    "loss": "Loss of each gradient update: how far Q(s, a) is from r + γ max Q_target(s', ·).",
    "epsilon": "Probability of a random action (linear decay over the exploration fraction of training).",
    "mean_q": "Mean Q(s, a) of the sampled actions in each update: rises as the agent expects more return "
              "(a runaway rise means overestimation).",
}
PLOT_ORDER = ("return", "loss", "epsilon", "mean_q")


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
            self._grow(self.size + 1)
        self.x[self.size] = x
        self.y[self.size] = y
        self.size += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        count = len(xs)
        if self.size + count > len(self.x):
            self._grow(self.size + count)
        self.x[self.size:self.size + count] = xs
        self.y[self.size:self.size + count] = ys
        self.size += count

    def _grow(self, needed: int) -> None:
        capacity = max(len(self.x), 1)
        while capacity < needed:
            capacity *= 2
        self.x = np.concatenate([self.x[:self.size], np.zeros(capacity - self.size)])
        self.y = np.concatenate([self.y[:self.size], np.zeros(capacity - self.size)])

    def xs(self) -> np.ndarray:
        return self.x[: self.size]

    def ys(self) -> np.ndarray:
        return self.y[: self.size]

    def last_x(self) -> float | None:
        return float(self.x[self.size - 1]) if self.size else None


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the (up to) window - 1 before it, as the live curve computes it point by point."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


# ------------------------------------------------------------------------------------------------ ticks


def tick_label(value: float, spacing: float) -> str:
    """A tick's text with as many decimals as the tick spacing needs (0.05, not 0), thousands as k and M, and
    tiny spacings in scientific notation: never a scale factor such as "(x0.001)" beside the axis."""
    if not (math.isfinite(value) and math.isfinite(spacing)) or spacing <= 0:
        return f"{value:g}"
    if abs(value) < spacing / 2:
        return "0"  # -0.0, or 1e-17 left by floating-point tick arithmetic
    magnitude = max(abs(value), spacing)
    for unit, suffix, least in ((1e9, "G", 1e9), (1e6, "M", 1e6), (1e3, "k", 1e4)):  # 1,500 stays 1,500
        if magnitude >= least:
            return _fixed(value / unit, spacing / unit) + suffix
    if _decimals(spacing) > 4:  # 0.00002: scientific from here on
        exponent = math.floor(math.log10(magnitude))
        return f"{value:.{_decimals(spacing / 10 ** exponent)}e}"
    return _fixed(value, spacing)


def _fixed(value: float, spacing: float) -> str:
    return f"{value:,.{_decimals(spacing)}f}"


def _decimals(spacing: float) -> int:
    """The fewest decimals that write every multiple of `spacing` exactly (0.25: 2, 0.2: 1, 5: 0)."""
    for decimals in range(8):
        scaled = spacing * 10 ** decimals
        if abs(scaled - round(scaled)) <= 1e-6 * scaled:
            return decimals
    return 8


class ReadableAxis(pg.AxisItem):
    """An axis labelled by `tick_label`; `whole` axes (agent steps) never get ticks between two integers."""

    def __init__(self, orientation: str, *, whole: bool = False) -> None:
        super().__init__(orientation)
        self.whole = whole
        self.enableAutoSIPrefix(False)

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:  # noqa: N802, N803
        levels = super().tickSpacing(minVal, maxVal, size)
        if not self.whole:
            return levels
        whole = [(spacing, offset) for spacing, offset in levels if spacing >= 1]
        return whole or [(1.0, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [tick_label(value * scale, spacing * scale) for value in values]


def plot_columns(width: float, height: float, count: int = len(PLOT_ORDER)) -> int:
    """How many columns to lay `count` plots out in: of the layouts where every plot keeps MIN_PLOT_SIZE, the one
    whose plots come closest to half as wide again as tall; if none fits, as many columns as the width allows (the
    fewest rows to scroll through)."""
    min_width, min_height = MIN_PLOT_SIZE
    fitting = {}
    for columns in COLUMN_CHOICES:
        plot_width, plot_height = width / columns, height / math.ceil(count / columns)
        if plot_width >= min_width and plot_height >= min_height:
            fitting[columns] = min(plot_width / 1.5, plot_height)
    if fitting:
        return max(fitting, key=fitting.__getitem__)
    return max((c for c in COLUMN_CHOICES if width / c >= min_width), default=1)


def epsilon_top(largest: float) -> float:
    """The epsilon axis' upper end: a round value above the largest epsilon drawn, so 0.05 sits mid-axis."""
    if largest > 0.5:
        return 1.0
    return next((top for top in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5) if top >= 1.2 * largest), 1.0)


def epsilon_ticks(top: float) -> list[list[tuple[float, str]]]:
    """Labels at 0, top / 2 and top (an epsilon of 0.05 on a 0..0.1 axis is labelled 0.05), tenths between."""
    major = [(0.0, "0"), (top / 2, tick_label(top / 2, top / 2)), (top, tick_label(top, top / 2))]
    minor = [(top * i / 10, tick_label(top * i / 10, top / 10)) for i in range(1, 10) if i != 5]
    return [major, minor]


# ------------------------------------------------------------------------------------------------ plots


def _make_plot(key: str) -> pg.PlotWidget:
    """White, gridded, readable; downsampled and clipped so a million points still draw fast."""
    widget = pg.PlotWidget(background="w", axisItems={"left": ReadableAxis("left"),
                                                      "bottom": ReadableAxis("bottom", whole=True)})
    widget.setMinimumSize(*MIN_PLOT_SIZE)
    plot = widget.getPlotItem()
    plot.setTitle(TITLE[key], size="9pt", color="#333")
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setMenuEnabled(False)
    plot.hideButtons()
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen("#888"))
        axis.setTextPen(pg.mkPen("#333"))
    widget.setToolTip(TIPS[key] + "\nx = agent steps. Drag to pan, wheel to zoom.")
    return widget


class EmptyNote:
    """Grey text in the middle of a plot's view box while the plot has nothing to show."""

    def __init__(self, plot: pg.PlotItem, text: str) -> None:
        self.box = plot.getViewBox()
        self.item = QGraphicsSimpleTextItem(text, self.box)
        self.item.setBrush(QBrush(QColor("#888")))
        self.box.sigResized.connect(self._centre)
        self._centre()

    def _centre(self, *_: object) -> None:
        rect, text = self.box.boundingRect(), self.item.boundingRect()
        self.item.setPos(rect.center().x() - text.width() / 2, rect.center().y() - text.height() / 2)

    def visible(self) -> bool:
        return self.item.isVisible()

    def set_text(self, text: str) -> None:
        self.item.setText(text)
        self._centre()

    def text(self) -> str:
        return self.item.text()


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
    """Episode returns (with a moving average), TD loss, epsilon and mean Q over the agent's life."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.returns = Series()
        self.average = Series()
        self.loss = Series()
        self.epsilon = Series()
        self.mean_q = Series()
        self.episode_count = 0
        """Return dots drawn: the episodes of the save's past plus those finished since."""
        self._step = 0
        self._epsilon_max = 0.0
        self._x_auto = False
        self._epsilon_axis_top = 0.0
        self._empty: dict[str, bool] = {}
        self._frames = 0
        self._dirty: set[str] = set()
        self.refresh_interval = CURVE_REFRESH_S
        """Least seconds between two redraws of the curves (0: every frame)."""
        self._last_draw = -math.inf
        self._paused = False
        self._tabular = False
        self._last_rate: float | None = None
        self.speed_label = QLabel("– steps/s", self)
        self.speed_label.setToolTip("Environment steps per second over the last second or so.")
        self.episodes_label = QLabel("0 episodes", self)
        self.episodes_label.setToolTip("Episodes the agent has finished in its life (a save's included) and its "
                                       "step count: the same numbers as the status bar's.")
        self.plot_widgets = {key: _make_plot(key) for key in PLOT_ORDER}
        self.plots = {key: widget.getPlotItem() for key, widget in self.plot_widgets.items()}
        self.empty_notes = {key: EmptyNote(plot, EMPTY_TEXT[key]) for key, plot in self.plots.items()}
        self.return_dots = ReturnDots(self.plots["return"])
        self._curves = self._make_curves()
        self._link_x()
        self.columns = 0
        self.grid = QGridLayout()
        self.scroll = self._make_scroll_area()
        self._build_layout()
        self._show_empty_states()
        self._fit_ranges()

    def _make_curves(self) -> dict[str, pg.PlotDataItem]:
        plots = self.plots
        return {
            "average": plots["return"].plot(pen=pg.mkPen(AVERAGE_COLOUR, width=2), antialias=True),
            "loss": plots["loss"].plot(pen=pg.mkPen(LOSS_COLOUR, width=1.2), antialias=True),
            "epsilon": plots["epsilon"].plot(pen=pg.mkPen(EPSILON_COLOUR, width=2), antialias=True),
            "mean_q": plots["mean_q"].plot(pen=pg.mkPen(MEAN_Q_COLOUR, width=1.5), antialias=True),
        }

    def _link_x(self) -> None:
        """Epsilon has a point from the first step to the latest, so its x range is the run's: the others follow
        it (linked to an empty return plot, every plot showed 0..1 until the first episode ended)."""
        for key in ("return", "loss", "mean_q"):
            self.plots[key].enableAutoRange(x=False)
            self.plots[key].setXLink(self.plots["epsilon"])
        self.plots["epsilon"].enableAutoRange(y=False)  # a probability: its own range (epsilon_top)

    def _make_scroll_area(self) -> QScrollArea:
        content = QWidget(self)
        content.setLayout(self.grid)
        content.setStyleSheet("background: white;")
        content.setToolTip("Learning curves; x = agent steps. Drag to pan, wheel to zoom.")
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        scroll = QScrollArea(self)
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.installEventFilter(self)
        return scroll

    def _build_layout(self) -> None:
        header = QHBoxLayout()
        header.addWidget(self.speed_label)
        header.addStretch(1)
        header.addWidget(self.episodes_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addWidget(self.scroll, 1)
        self._reflow()

    # ------------------------------------------------------------------------------ public API

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        """New environment or agent: clear every curve, and every range the last agent's data set."""
        del description, network
        for series in (self.returns, self.average, self.loss, self.epsilon, self.mean_q):
            series.clear()
        self.episode_count = 0
        self._step = 0
        self._epsilon_max = 0.0
        self._x_auto = False
        self._epsilon_axis_top = 0.0
        self._tabular = agent_kind == "qlearning"
        for key, note in self.empty_notes.items():
            note.set_text(EMPTY_TEXT[key])
        title = "TD error (tabular)" if self._tabular else TITLE["loss"]
        self.plots["loss"].setTitle(title, size="9pt", color="#333")
        self.plots["epsilon"].setTitle(TITLE["epsilon"], size="9pt", color="#333")
        self.speed_label.setText("– steps/s")
        self._last_rate = None
        self.episodes_label.setText("0 episodes")
        for curve in self._curves.values():
            curve.setData([], [])
        self.return_dots.clear()
        self._dirty.clear()
        self._last_draw = -math.inf
        self._show_empty_states()
        self._fit_ranges()

    def show_history(self, curves: PastCurves | None, step: int) -> None:
        """Draw the past of the agent a session starts with (an opened save), before its first new step."""
        self._step = step
        if curves is not None and not curves.empty:
            self.returns.extend(curves.episode_steps, curves.episode_returns)
            self.average.extend(curves.episode_steps, moving_average(curves.episode_returns, MOVING_AVERAGE))
            self.loss.extend(curves.update_steps, curves.losses)
            self.mean_q.extend(curves.update_steps, curves.mean_qs)
            self.epsilon.extend(curves.epsilon_steps, curves.epsilons)
            self.episode_count = curves.episodes
            if len(curves.epsilons):
                self._epsilon_max = max(self._epsilon_max, float(curves.epsilons.max()))
        for key in ("loss", "mean_q"):  # "no updates yet" would be untrue of an agent with training behind it
            self.empty_notes[key].set_text(NO_PAST_TEXT if step > 0 else EMPTY_TEXT[key])
        self.episodes_label.setText(f"{self.episode_count:,} episodes · step {step:,}")
        self._last_draw = -math.inf
        self._redraw({"return", "average", "loss", "epsilon", "mean_q"})

    def set_paused(self, paused: bool) -> None:
        """The steps/s readout says "paused" while the loop is paused."""
        self._paused = paused
        if self._last_rate is not None:
            self.speed_label.setText(rate_text(self._last_rate, paused))

    def show_frame(self, frame: ViewFrame) -> None:
        """Append what happened since the last frame; redraw only the curves that changed."""
        snapshot = frame.snapshot
        self._step = snapshot.total_steps
        changed = set()
        if self._add_episodes(frame, snapshot.total_steps):
            changed.update(("return", "average"))
        if self._add_updates(frame):
            changed.update(("loss", "mean_q"))
        last = self.epsilon.last_x()
        if last is None or snapshot.total_steps > last:
            self.epsilon.append(snapshot.total_steps, snapshot.epsilon)
            self._epsilon_max = max(self._epsilon_max, snapshot.epsilon)
            changed.add("epsilon")
        self._redraw(changed)
        self._last_rate = frame.steps_per_second
        self.speed_label.setText(rate_text(frame.steps_per_second, self._paused))
        # The snapshot's lifetime counts, which the status bar shows too: the two can never disagree.
        self.episodes_label.setText(f"{snapshot.episodes_finished:,} episodes · step {snapshot.total_steps:,}")

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

    def curve_table(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every point of every curve, the save's past included (not the downsampled picture): name -> (agent
        steps, values). The return's moving average is named after its window."""
        series = {"return": self.returns, f"return_mean{MOVING_AVERAGE}": self.average,
                  "td_error" if self._tabular else "loss": self.loss, "epsilon": self.epsilon, "mean_q": self.mean_q}
        return {name: (points.xs().copy(), points.ys().copy()) for name, points in series.items()}

    def picture(self) -> QPixmap:
        """The four plots as laid out now, every curve drawn up to its latest point first (drawing is throttled,
        and a very long curve waits for its turn)."""
        self._redraw({"return", *self._line_series()}, every_curve_now=True)
        return self.scroll.widget().grab()

    def empty_note_visible(self, name: str) -> bool:
        """Whether the named plot says it has nothing to show yet."""
        return self.empty_notes[name].visible()

    # ------------------------------------------------------------------------------ layout

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.scroll and event.type() == QEvent.Type.Resize:
            self._reflow()
        return False

    def _reflow(self) -> None:
        """One row, a 2x2 grid or one column, whichever keeps the plots readable in the dock's shape."""
        viewport = self.scroll.maximumViewportSize()
        columns = plot_columns(viewport.width(), viewport.height())
        if columns == self.columns:
            return
        self.columns = columns
        rows = math.ceil(len(PLOT_ORDER) / columns)
        for index, key in enumerate(PLOT_ORDER):
            widget = self.plot_widgets[key]
            self.grid.removeWidget(widget)
            row, column = divmod(index, columns)
            self.grid.addWidget(widget, row, column)
            axis = self.plots[key].getAxis("bottom")
            if row == rows - 1:
                self.plots[key].setLabel("bottom", "agent steps", color="#333")
            axis.showLabel(row == rows - 1)
        for row in range(len(PLOT_ORDER)):
            self.grid.setRowStretch(row, 1 if row < rows else 0)
        for column in range(len(PLOT_ORDER)):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)

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

    def _redraw(self, changed: set[str], *, every_curve_now: bool = False) -> None:
        """Draw the changed curves a few times a second; a very long one waits for its turn (then drawn in full).

        Every redraw moves the linked x range, which rebuilds all four plots' axes: at 30 frames a second that
        was a third of the GUI thread's time, and curves read no better at 30 Hz than at 5. `every_curve_now`
        draws everything at once, long curves included (a picture of the panel).
        """
        self._dirty |= changed
        now = time.monotonic()
        if not every_curve_now and now - self._last_draw < self.refresh_interval:
            return
        self._last_draw = now
        self._frames += 1
        if "return" in self._dirty:
            self.return_dots.extend_to(self.returns)
        series = self._line_series()
        for name in self._dirty & series.keys():
            points = series[name]
            if every_curve_now or self._frames % (points.size // LONG_CURVE + 1) == 0:
                self._curves[name].setData(points.xs(), points.ys())
                self._dirty.discard(name)
        self._dirty.discard("return")
        self._show_empty_states()
        self._fit_ranges()

    def _line_series(self) -> dict[str, Series]:
        return {"average": self.average, "loss": self.loss, "epsilon": self.epsilon, "mean_q": self.mean_q}

    def _show_empty_states(self) -> None:
        """A plot with no points shows a note and no tick values (not the range the last agent's data left)."""
        sizes = {"return": self.returns.size, "loss": self.loss.size, "epsilon": self.epsilon.size,
                 "mean_q": self.mean_q.size}
        for key, size in sizes.items():
            empty = size == 0
            if self._empty.get(key) == empty:
                continue
            self._empty[key] = empty
            self.empty_notes[key].item.setVisible(empty)
            self.plots[key].getAxis("left").setStyle(showValues=not empty)
            if empty and key != "epsilon":
                self.plots[key].setYRange(0, 1, padding=0)
                self.plots[key].enableAutoRange(y=True)  # no data: the range stays; the first points set it

    def _fit_ranges(self) -> None:
        """x: the run's steps once there are two, else 0 to the current step; y of epsilon: 0 to a round top."""
        epsilon = self.plots["epsilon"]
        spans = self.epsilon.size >= 2 and self.epsilon.x[self.epsilon.size - 1] > self.epsilon.x[0]
        if spans and not self._x_auto:
            # The run's range first: the curve is clipped to the view it had (0..EMPTY_X_SPAN), and autorange
            # would measure that clipped curve.
            epsilon.setXRange(float(self.epsilon.x[0]), float(self.epsilon.x[self.epsilon.size - 1]), padding=0.02)
            epsilon.enableAutoRange(x=True)
        if spans and epsilon.getViewBox().state["autoRange"][0]:
            # Now, not at its next paint: the epsilon plot leads the others' x range even while scrolled away.
            epsilon.getViewBox().updateAutoRange()
        elif not spans:
            epsilon.setXRange(0, max(self._step, EMPTY_X_SPAN), padding=0.02)
        self._x_auto = spans
        top = epsilon_top(self._epsilon_max)
        if top != self._epsilon_axis_top:
            self._epsilon_axis_top = top
            epsilon.setYRange(0, top, padding=0.04)
            epsilon.getAxis("left").setTicks(epsilon_ticks(top))
        if self.epsilon.size:
            current = float(self.epsilon.y[self.epsilon.size - 1])
            title = f"{TITLE['epsilon']} = {current:.3g}"
            if epsilon.titleLabel.text != title:
                epsilon.setTitle(title, size="9pt", color="#333")
