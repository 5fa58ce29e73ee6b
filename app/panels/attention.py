"""Where the attention network looks: its query token's weights over the spatial grid, as a heat map.

The weights come ready-made in the snapshot's Evaluation (heads, h, w); this panel only picks a head
(or the mean over heads) and colours it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from agents.envs.registry import EnvDescription
from app.view_frame import ViewFrame

NO_ATTENTION = "This network has no attention. Choose the attention network to see where it looks."
NOT_EVALUATED = "Waiting for an evaluated step (turbo training skips the attention maps)."
MEAN_LABEL = "Mean of heads"
WALL_RGBA = (150, 160, 175, 235)
AGENT_COLOUR = (60, 200, 255)


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
        self.head_combo = self._make_combo()
        self.overlay_check = QCheckBox("Overlay on game view", self)
        self.overlay_check.setToolTip("Tint the game picture with the selected attention map.")
        self.overlay_check.toggled.connect(self.overlay_toggled)
        self.message = QLabel(NO_ATTENTION, self)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #555; background: white; padding: 12px;")
        self.plot, self.image_item = self._make_map()
        self.caption = QLabel("", self)
        self.caption.setToolTip("How concentrated the attention is: the largest single weight.")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.plot)
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
        item.setColorMap(pg.colormap.get("inferno"))
        view.addItem(item)
        self.walls_item = pg.ImageItem(axisOrder="row-major")
        view.addItem(self.walls_item)
        self.agent_item = pg.ScatterPlotItem(size=0.55, pxMode=False, symbol="o", brush=None,
                                             pen=pg.mkPen(AGENT_COLOUR, width=2.5))
        view.addItem(self.agent_item)
        self._view = view
        return widget, item

    def _build_layout(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(self.head_combo)
        controls.addStretch(1)
        controls.addWidget(self.overlay_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.stack, 1)
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
        self._show_message(NOT_EVALUATED if self._has_attention else NO_ATTENTION)

    def show_frame(self, frame: ViewFrame) -> None:
        """Take the snapshot's attention weights (a reference, the snapshot is an immutable copy)."""
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
            self._view.setRange(xRange=(0, image.shape[1]), yRange=(0, image.shape[0]), padding=0.02)
        self.stack.setCurrentWidget(self.plot)
        share = top / max(float(image.sum()), 1e-9)
        self.caption.setText(f"{image.shape[0]}×{image.shape[1]} cells · brightest cell holds {share:.0%} "
                             f"of the attention (uniform: {1 / image.size:.1%})")

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
