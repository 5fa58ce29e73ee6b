"""Where the attention network looks: its query token's weights over the spatial grid, as a heat map.

The weights come ready-made in the snapshot's Evaluation (heads, h, w); this panel only picks a head
(or the mean over heads) and colours it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from agents.envs.registry import EnvDescription
from app.composite import attention_focus, saliency_weights
from app.view_frame import ViewFrame

NO_ATTENTION = "This network has no attention. Choose the attention network to see where it looks."
NOT_EVALUATED = "Waiting for an evaluated step (turbo training skips the attention maps)."
MEAN_LABEL = "Mean of heads"
SALIENCY_TIP = ("Perturbation saliency (View > Saliency overlay): where blurring the network's input moves its"
                " Q-values most. Attention says where the query looks; saliency, what the Q-values depend on.")
WALL_RGBA = (150, 160, 175, 235)
AGENT_COLOUR = (60, 200, 255)
COLOUR_MAP = "inferno"
SCALE_TICKS = (0.0, 0.5, 1.0)
"""Where the colour scale is numbered, as fractions of the brightest cell's weight."""


def format_share(share: float, top: float) -> str:
    """A share of the attention as a percentage with two significant digits of `top` (12%, 1.2%, 0.12%)."""
    percent = 100.0 * max(top, 1e-9)
    decimals = int(np.clip(1 - math.floor(math.log10(percent)), 0, 3))
    return f"{100.0 * share:.{decimals}f}%"


class ColourScale(QWidget):
    """The map's colours from 0 (bottom) to the brightest cell (top), numbered as shares of the attention; the
    uniform share 1/N is marked, so one sees at a glance how far the map is from looking everywhere at once."""

    def __init__(self, colours: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        rgb = np.ascontiguousarray(np.asarray(colours, np.uint8)[::-1, None, :3])  # brightest at the top
        self._gradient = QImage(rgb.data, 1, rgb.shape[0], 3, QImage.Format.Format_RGB888).copy()
        self.top = 0.0
        self.uniform: float | None = None
        self.setFixedWidth(64)
        self.setMinimumHeight(40)
        self.setToolTip("Colour of a cell = its share of the attention (all cells together: 100%).\n"
                        "The white mark is the uniform share, 1 / number of cells.")

    def set_range(self, top: float, uniform: float | None) -> None:
        """Colours run from 0 to `top` (shares of the attention); `uniform` is marked if within the range."""
        self.top, self.uniform = float(top), uniform
        self.update()

    def labels(self) -> list[str]:
        """The numbers written beside the scale, bottom to top."""
        return [format_share(tick * self.top, self.top) for tick in SCALE_TICKS]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.white)
        font = QFont(self.font())
        font.setPointSizeF(8.0)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        half = metrics.height() / 2
        bar = QRectF(4, half + 1, 12, max(10.0, self.height() - 2 * half - 2))
        painter.drawImage(bar, self._gradient)
        painter.setPen(QPen(QColor(90, 90, 90), 1))
        painter.drawRect(bar)
        if self.uniform is not None and 0 < self.uniform <= self.top:
            y = bar.bottom() - self.uniform / self.top * bar.height()
            painter.setPen(QPen(Qt.GlobalColor.white, 2))
            painter.drawLine(int(bar.left()), int(y), int(bar.right()), int(y))
        painter.setPen(QColor(40, 40, 40))
        for tick, text in zip(SCALE_TICKS, self.labels(), strict=True):
            y = bar.bottom() - tick * bar.height()
            painter.drawLine(int(bar.right()), int(y), int(bar.right() + 3), int(y))
            painter.drawText(QRectF(bar.right() + 5, y - half, self.width() - bar.right() - 5, 2 * half),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)


class MapPage(QWidget):
    """The map and its colour scale side by side, centred, both as tall as the map's aspect allows: the scale
    sits right beside the map and spans its height, not at the far edge of a wide panel.

    Placed by hand on resize rather than by a layout, so the map's size never feeds back into the minimum
    size of the page (and of its dock).
    """

    def __init__(self, plot: QWidget, scale: ColourScale, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot, self.scale = plot, scale
        plot.setParent(self)
        scale.setParent(self)
        self.aspect = 1.0
        self.setMinimumSize(scale.width() + 72, 72)

    def set_aspect(self, aspect: float) -> None:
        """Width over height of the map."""
        self.aspect = aspect
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        gap = 4
        room_w = max(20, self.width() - self.scale.width() - gap)
        height = max(self.scale.minimumHeight(), min(self.height(), int(room_w / self.aspect)))
        width = max(20, min(room_w, int(height * self.aspect)))
        left = (self.width() - width - gap - self.scale.width()) // 2
        top = (self.height() - height) // 2
        self.plot.setGeometry(max(0, left), top, width, height)
        self.scale.setGeometry(max(0, left) + width + gap, top, self.scale.width(), height)


class AttentionPanel(QWidget):
    """Heat map of the attention weights, one head or their mean; can ask the game view to overlay it."""

    overlay_toggled = Signal(bool)
    """The user switched "Overlay on game view" on or off."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._attention: np.ndarray | None = None
        self._has_attention = False
        self._walls: np.ndarray | None = None
        self._saliency_source: np.ndarray | None = None
        self.head_combo = self._make_combo()
        self.overlay_check = QCheckBox("Overlay on game view", self)
        self.overlay_check.setToolTip("Tint the game picture with the selected attention map.")
        self.overlay_check.toggled.connect(self.overlay_toggled)
        self.message = QLabel(NO_ATTENTION, self)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #555; background: white; padding: 12px;")
        self.plot, self.image_item = self._make_map()
        self.scale = ColourScale(pg.colormap.get(COLOUR_MAP).getLookupTable(nPts=256, alpha=False), self)
        self.map_page = MapPage(self.plot, self.scale, self)
        self.caption = QLabel("", self)
        self.caption.setWordWrap(True)  # its long line would otherwise set the dock's minimum width
        self.caption.setToolTip(
            "How concentrated the attention is: the largest single weight against the uniform share 1/N, and\n"
            "focus = 1 − entropy / log N (0% = looks everywhere equally, 100% = one cell), which also sets\n"
            "how strongly the overlay tints the game view.")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.map_page)
        self.saliency_box, self.saliency_item, self.saliency_caption = self._make_saliency_map()
        self._build_layout()

    def _make_combo(self) -> QComboBox:
        combo = QComboBox(self)
        combo.addItem(MEAN_LABEL)
        combo.setToolTip("Show the mean attention of all heads, or what one head looks at.")
        combo.currentIndexChanged.connect(self._redraw)
        return combo

    def _make_map(self) -> tuple[pg.GraphicsLayoutWidget, pg.ImageItem]:
        """A square-pixel image in a bare view box (no axes: the grid is the picture)."""
        widget = pg.GraphicsLayoutWidget(self)
        widget.setBackground("w")
        widget.setToolTip("Attention weight of each spatial cell: bright = the network looks here.")
        view = widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        view.setMenuEnabled(False)
        item = pg.ImageItem(axisOrder="row-major")
        item.setColorMap(pg.colormap.get(COLOUR_MAP))
        view.addItem(item)
        self.walls_item = pg.ImageItem(axisOrder="row-major")
        view.addItem(self.walls_item)
        self.agent_item = pg.ScatterPlotItem(size=0.55, pxMode=False, symbol="o", brush=None,
                                             pen=pg.mkPen(AGENT_COLOUR, width=2.5))
        view.addItem(self.agent_item)
        self._view = view
        return widget, item

    def _make_saliency_map(self) -> tuple[QWidget, pg.ImageItem, QLabel]:
        """The saliency map beside the attention map (while the saliency overlay is on): attention says where
        the query looks, saliency what blurring the input would change in the Q-values; they need not agree."""
        box = QWidget(self)
        widget = pg.GraphicsLayoutWidget(box)
        widget.setBackground("w")
        widget.setToolTip(SALIENCY_TIP)
        view = widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        view.setMenuEnabled(False)
        item = pg.ImageItem(axisOrder="row-major")
        item.setColorMap(pg.colormap.get(COLOUR_MAP))
        view.addItem(item)
        caption = QLabel("Saliency", box)
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        caption.setToolTip(SALIENCY_TIP)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(widget, 1)
        column.addWidget(caption)
        box.setMinimumWidth(72)
        box.hide()
        return box, item, caption

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(self.head_combo)
        controls.addStretch(1)
        controls.addWidget(self.overlay_check)
        maps = QHBoxLayout()
        maps.addWidget(self.stack, 3)
        maps.addWidget(self.saliency_box, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addLayout(maps, 1)
        layout.addWidget(self.caption)

    # ------------------------------------------------------------------------------ public API

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        """New environment or agent: forget the last map; show the message unless this network attends."""
        del description
        self._has_attention = agent_kind != "qlearning" and network == "attention"
        self.head_combo.setEnabled(self._has_attention)
        self.overlay_check.setEnabled(self._has_attention)
        self._image = None
        self._attention = None
        self.image_item.clear()
        self.walls_item.clear()
        self.agent_item.clear()
        self._walls = None
        self.caption.setText("")
        self.saliency_item.clear()
        self.saliency_box.hide()
        self._show_message(NOT_EVALUATED if self._has_attention else NO_ATTENTION)

    def show_frame(self, frame: ViewFrame) -> None:
        """Take the snapshot's attention weights (a reference, the snapshot is an immutable copy)."""
        self._show_saliency(frame)
        evaluation = frame.snapshot.evaluation
        attention = None if evaluation is None else evaluation.attention
        if attention is None:
            if frame.network != "attention" or frame.agent_kind == "qlearning":
                self._show_message(NO_ATTENTION)
            elif self._attention is None:
                self._show_message(NOT_EVALUATED)
            return
        self._attention = np.asarray(attention, dtype=np.float32)
        self._sync_heads(self._attention.shape[0])
        self._redraw()
        self._show_grid(frame)

    @property
    def overlay_enabled(self) -> bool:
        """Whether the user asked for the map over the game view."""
        return self.overlay_check.isChecked()

    def selected_head(self) -> int | None:
        """The 0-based head shown, or None for the mean of all heads."""
        index = self.head_combo.currentIndex()
        return None if index <= 0 else index - 1

    def image(self) -> np.ndarray | None:
        """The (h, w) map drawn now, None while the message is shown."""
        return None if self._image is None else self._image.copy()

    def message_visible(self) -> bool:
        """True while the explanation replaces the map."""
        return self.stack.currentWidget() is self.message

    def message_text(self) -> str:
        return self.message.text()

    # ------------------------------------------------------------------------------ drawing

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)
        self._image = None

    def _sync_heads(self, heads: int) -> None:
        """One combo entry per head, rebuilt only when the head count changes."""
        if self.head_combo.count() == heads + 1:
            return
        selected = self.selected_head()
        self.head_combo.blockSignals(True)
        self.head_combo.clear()
        self.head_combo.addItem(MEAN_LABEL)
        self.head_combo.addItems([f"Head {i + 1}" for i in range(heads)])
        keep = selected is not None and selected < heads
        self.head_combo.setCurrentIndex(selected + 1 if keep else 0)
        self.head_combo.blockSignals(False)

    def _redraw(self) -> None:
        if self._attention is None:
            return
        head = self.selected_head()
        heads = self._attention.shape[0]
        image = self._attention.mean(axis=0) if head is None or head >= heads else self._attention[head]
        self._image = image
        top = float(image.max())
        shape_changed = self.image_item.image is None or self.image_item.image.shape != image.shape
        self.image_item.setImage(image, levels=(0.0, max(top, 1e-6)), autoLevels=False)
        if shape_changed:
            self.map_page.set_aspect(image.shape[1] / image.shape[0])
            self._view.setRange(xRange=(0, image.shape[1]), yRange=(0, image.shape[0]), padding=0.02)
        self.stack.setCurrentWidget(self.map_page)
        total = max(float(image.sum()), 1e-9)
        share = top / total
        self.scale.set_range(share, 1.0 / image.size)
        uniform = 1.0 / image.size
        focus = attention_focus(image[None], 0)
        self.caption.setText(f"{image.shape[0]}×{image.shape[1]} cells · brightest {format_share(share, share)}"
                             f" (uniform {format_share(uniform, uniform)}) · focus {focus:.0%}")

    def saliency_shown(self) -> np.ndarray | None:
        """The saliency map beside the attention map now (scaled so its peak is 1), or None."""
        return None if self.saliency_box.isHidden() else self.saliency_item.image

    def _show_saliency(self, frame: ViewFrame) -> None:
        saliency = frame.saliency
        if saliency is None or not self._has_attention:
            self.saliency_box.hide()
            return
        if self.saliency_item.image is None or self._saliency_source is not saliency.map:
            self._saliency_source = saliency.map
            self.saliency_item.setImage(saliency_weights(saliency), levels=(0.0, 1.0), autoLevels=False)
        when = "this step" if saliency.age_steps == 0 else f"{saliency.age_steps} steps ago"
        self.saliency_caption.setText(f"Saliency · {when}")
        self.saliency_box.show()

    def _show_grid(self, frame: ViewFrame) -> None:
        """On a gridworld whose cells are the attention tokens, grey out walls and ring the agent."""
        obs = np.asarray(frame.snapshot.observation)
        if self._attention is None or frame.description.kind != "gridworld" or obs.ndim != 3 \
                or obs.shape[1:] != self._attention.shape[1:]:
            return
        walls = obs[0] > 0
        if self._walls is None or not np.array_equal(walls, self._walls):
            self._walls = walls
            rgba = np.zeros((*walls.shape, 4), np.uint8)
            rgba[walls] = WALL_RGBA
            self.walls_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        row, col = np.unravel_index(int(np.argmax(obs[1])), obs.shape[1:])
        self.agent_item.setData([col + 0.5], [row + 0.5])
