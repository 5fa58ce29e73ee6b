"""The game view: the composited picture (app/composite.py) painted by Qt, scaled to fit with the aspect kept and
without smoothing, so Atari pixels and gridworld cells stay sharp at any window size, under a header line and
beside the key help."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.composite import Compositor, ViewOptions, hud_variants, is_gridworld, surface_bgra
from app.key_help import KeyHelp
from app.qt_image import bgra_to_qimage
from app.view_frame import ViewFrame
from app.view_layout import MARGIN, ViewLayout, arrange

HEADER_FRACTION = 0.035
"""The window's header line: font height as a fraction of the view's height, within HEADER_PIXELS."""
HEADER_PIXELS = (11, 20)
BACKGROUND = QColor(18, 18, 24)


class GameView(QWidget):
    """Paints the header line, the composited frame (a placeholder before the first frame) and the key help.

    The header is painted by Qt at the widget's own resolution rather than baked into the picture: scaled down
    with the picture it lost pixel columns and its letters ran together.
    """

    frame_shown = Signal(object)
    """Every picture shown (a ViewFrame), skipped emulator frames included: what a video of the view records."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = ViewOptions()
        self._frame: ViewFrame | None = None
        self._image: QImage | None = None
        self._status = ""
        self._placeholder = "Starting…"
        self._key_help = KeyHelp()
        self._help_visible = False
        self._compositor = Compositor()
        self._composed: tuple | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(240, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("The environment as the agent plays it. Header: episode, step in the episode,"
                        " return so far, mode and speed.\nOverlays and the key help are in the View menu.")

    @property
    def frame(self) -> ViewFrame | None:
        return self._frame

    def image(self) -> QImage | None:
        """The last composited picture, without the header (tests and screenshots read it)."""
        return self._image

    def show_frame(self, frame: ViewFrame) -> None:
        self._frame = frame
        self._recompose()
        self.frame_shown.emit(frame)

    @property
    def status_text(self) -> str:
        """The mode and speed part of the header line (set by the window)."""
        return self._status

    def set_options(self, **changes: object) -> None:
        """Change overlay options; the last frame is redrawn at once so toggles work while paused."""
        self.options = replace(self.options, **changes)
        self._recompose()

    def set_status(self, text: str) -> None:
        self._status = text
        self.update()

    def set_key_help(self, title: str, lines: list[tuple[str, str]]) -> None:
        self._key_help.set(title, lines)
        self.update()

    def set_key_help_visible(self, visible: bool) -> None:
        self._help_visible = visible
        self.update()

    def clear(self, placeholder: str) -> None:
        """Drop the picture (a new environment is starting) and show `placeholder` instead."""
        self._frame, self._image, self._placeholder, self._composed = None, None, placeholder, None
        self.update()

    def _recompose(self) -> None:
        """Draw the frame unless exactly this picture is already drawn (frames may repeat a snapshot)."""
        frame = self._frame
        if frame is not None:
            key = (frame.snapshot, frame.grid_values, frame.grid_actions, frame.saliency, self.options)
            previous = self._composed
            if previous is None or any(a is not b for a, b in zip(key[:4], previous[:4], strict=True)) \
                    or key[4] != previous[4]:
                surface = self._compositor.compose_surface(frame, self.options)
                data, pitch = surface_bgra(surface)
                self._image = bgra_to_qimage(data, surface.get_width(), surface.get_height(), pitch)
                self._composed = key
        self.update()

    # ------------------------------------------------------------------------------ layout

    def header_font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(max(HEADER_PIXELS[0], min(HEADER_PIXELS[1], round(self.height() * HEADER_FRACTION))))
        return font

    def _header_band(self) -> int:
        return QFontMetrics(self.header_font()).height() + 6

    def _player_in_top_half(self) -> bool:
        """Gridworld: whether the agent (observation channel 1) is in the grid's upper half."""
        frame = self._frame
        if frame is None or not is_gridworld(frame):
            return False
        obs = np.asarray(frame.snapshot.observation)
        if obs.ndim != 3 or obs.shape[0] < 2 or not obs[1].any():
            return False
        row = np.unravel_index(int(np.argmax(obs[1])), obs.shape[1:])[0]
        return row < obs.shape[1] / 2

    def view_layout(self) -> ViewLayout:
        """Header, picture and key-help rectangles for the current size (see app/view_layout.py)."""
        help_shown = self._help_visible and not self._key_help.is_empty()
        shapes = self._key_help.shapes() if help_shown else []
        if self._image is None or self._image.isNull():
            if not shapes:
                return ViewLayout(QRect(), QRect())
            shape = shapes[-1]
            return ViewLayout(QRect(), QRect(), QRect(MARGIN, MARGIN, shape.width, shape.height), shape)
        return arrange(self.size(), self._image.size(), self._header_band(), shapes, self._player_in_top_half())

    def image_rect(self) -> QRect:
        """Where the picture goes: as large as fits beside the header and key help, aspect kept."""
        return self.view_layout().picture

    def header_text(self, layout: ViewLayout | None = None) -> str:
        """The header line as painted now (see `_header_choice`)."""
        return self._header_choice(layout or self.view_layout())[0]

    def _header_choice(self, layout: ViewLayout) -> tuple[str, QFont]:
        """The longest HUD variant that fits the header, in the largest font from the band's size down to
        HEADER_PIXELS[0] (more of the line beats a bigger font); elided only if even the shortest does not fit."""
        font = self.header_font()
        if self._frame is None or layout.header.isEmpty():
            return "", font
        room = layout.header.width() - 8
        variants = hud_variants(self._frame, self._status)
        for variant in variants:
            for pixels in range(font.pixelSize(), HEADER_PIXELS[0] - 1, -1):
                font.setPixelSize(pixels)
                if QFontMetrics(font).horizontalAdvance(variant) <= room:
                    return variant, font
        return QFontMetrics(font).elidedText(variants[-1], Qt.TextElideMode.ElideRight, room), font

    # ------------------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        layout = self.view_layout()
        if self._image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
        else:
            # Nearest-neighbour scaling: pixels and cells are the picture, blurring them hides information.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(layout.picture, self._image)
            self._paint_header(painter, layout)
            self._paint_saliency_caption(painter, layout)
        if layout.help is not None and layout.help_shape is not None:
            self._key_help.paint(painter, layout.help, layout.help_shape)
        painter.end()

    def saliency_caption(self) -> str:
        """What the saliency overlay shows and how fresh it is ("" while the overlay is off)."""
        if not self.options.saliency or self._frame is None:
            return ""
        if self._frame.agent_kind == "qlearning":
            return "Saliency needs a Q-network (tabular Q-learning has none)"
        saliency = self._frame.saliency
        return saliency.caption(self.options.saliency_greedy) if saliency is not None else "Saliency: computing…"

    def _paint_saliency_caption(self, painter: QPainter, layout: ViewLayout) -> None:
        """The saliency caption in a dark band along the picture's bottom edge."""
        text = self.saliency_caption()
        if not text or layout.picture.isEmpty():
            return
        font = QFont(self.font())
        font.setPixelSize(HEADER_PIXELS[0] + 1)
        metrics = QFontMetrics(font)
        band = QRect(layout.picture.left(), layout.picture.bottom() - metrics.height() - 3,
                     layout.picture.width(), metrics.height() + 4)
        painter.fillRect(band, QColor(0, 0, 0, 160))
        painter.setFont(font)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(band.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(text, Qt.TextElideMode.ElideRight, band.width() - 8))

    def _paint_header(self, painter: QPainter, layout: ViewLayout) -> None:
        text, font = self._header_choice(layout)
        painter.fillRect(layout.header, QColor(30, 30, 40))
        painter.setFont(font)
        painter.setPen(QColor(235, 235, 235))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(layout.header.adjusted(4, 0, -4, 0), align, text)
