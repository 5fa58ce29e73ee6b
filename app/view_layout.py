"""Where the game view puts its parts: the header line, the picture under it, and the key help.

The key help must not hide what the player needs (the Breakout paddle, the gridworld agent). It goes in the
margin beside the picture when there is one; otherwise beside or below the picture, which shrinks to make
room (whichever leaves the larger picture). Only when making room would shrink the picture below
MIN_PICTURE_SHARE of its full size does the box go over the picture, at the edge away from the player: the
top for Atari (the paddle, cannon or ship sits at the bottom in most games and the top holds only the score),
the half of a gridworld the agent is not in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QRect, QSize

from app.key_help import HelpShape

MARGIN = 12
MIN_PICTURE_SHARE = 0.4
"""Shrinking the picture for the key help is worth it down to this fraction of its full size."""
PREFERRED_SHARE = 0.75
"""The key help drops to a lesser shape (smaller font, then single keys only) only when the better one would
shrink the picture below this fraction of its full size."""


@dataclass(frozen=True)
class ViewLayout:
    """Widget coordinates of each part; `help` is None when no key help is shown."""

    header: QRect
    picture: QRect
    help: QRect | None = None
    help_shape: HelpShape | None = None
    help_over_picture: bool = False


@dataclass(frozen=True)
class _Option:
    scale: float
    layout: ViewLayout


def _scale(width: int, height: int, image: QSize, band: int) -> float:
    """The largest scale at which header band plus picture fit in width x height."""
    return max(0.0, min(width / image.width(), (height - band) / image.height()))


def _block(left: int, top: int, image: QSize, band: int, scale: float) -> tuple[QRect, QRect]:
    width, height = max(1, int(image.width() * scale)), max(1, int(image.height() * scale))
    return QRect(left, top, width, band), QRect(left, top + band, width, height)


def _centred(area: QRect, image: QSize, band: int) -> tuple[QRect, QRect]:
    scale = _scale(area.width(), area.height(), image, band)
    width, height = int(image.width() * scale), int(image.height() * scale)
    left = area.left() + (area.width() - width) // 2
    top = area.top() + (area.height() - band - height) // 2
    return _block(left, top, image, band, scale)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _beside(widget: QSize, image: QSize, band: int, shape: HelpShape) -> _Option:
    """Picture and help side by side, centred together; the picture gets what the box leaves."""
    scale = _scale(widget.width() - shape.width - 3 * MARGIN, widget.height(), image, band)
    picture_width, picture_height = int(image.width() * scale), int(image.height() * scale)
    left = max(MARGIN, (widget.width() - picture_width - MARGIN - shape.width) // 2)
    top = (widget.height() - band - picture_height) // 2
    header, picture = _block(left, top, image, band, scale)
    help_top = _clamp(header.top(), MARGIN, widget.height() - shape.height - MARGIN)
    box = QRect(picture.right() + 1 + MARGIN, help_top, shape.width, shape.height)
    return _Option(scale, ViewLayout(header, picture, box, shape))


def _below(widget: QSize, image: QSize, band: int, shape: HelpShape) -> _Option:
    """Picture above, help under it, centred together."""
    scale = _scale(widget.width(), widget.height() - shape.height - 2 * MARGIN, image, band)
    picture_width, picture_height = int(image.width() * scale), int(image.height() * scale)
    top = max(0, (widget.height() - band - picture_height - MARGIN - shape.height) // 2)
    header, picture = _block((widget.width() - picture_width) // 2, top, image, band, scale)
    help_left = _clamp(picture.center().x() - shape.width // 2, MARGIN, widget.width() - shape.width - MARGIN)
    box = QRect(help_left, picture.bottom() + 1 + MARGIN, shape.width, shape.height)
    return _Option(scale, ViewLayout(header, picture, box, shape))


def _in_margin(widget: QSize, header: QRect, picture: QRect, shapes: Sequence[HelpShape]) -> ViewLayout | None:
    """The help in the free space right of the centred picture, when some shape fits there."""
    free = widget.width() - (picture.left() + picture.width())
    for shape in shapes:
        if free >= shape.width + 2 * MARGIN:
            top = _clamp(header.top(), MARGIN, widget.height() - shape.height - MARGIN)
            box = QRect(picture.left() + picture.width() + MARGIN, top, shape.width, shape.height)
            return ViewLayout(header, picture, box, shape)
    return None


def _over_picture(widget: QSize, header: QRect, picture: QRect, shapes: Sequence[HelpShape],
                  player_in_top_half: bool) -> ViewLayout:
    """Last resort: the flattest box that fits the width, over the picture's edge away from the player."""
    narrow_enough = [s for s in shapes if s.width <= widget.width()] or list(shapes)
    shape = min(narrow_enough, key=lambda s: (s.height, s.width))
    left = _clamp(picture.center().x() - shape.width // 2, 0, max(0, widget.width() - shape.width))
    top = picture.bottom() - shape.height - 8 if player_in_top_half else picture.top() + 8
    top = _clamp(top, 0, max(0, widget.height() - shape.height))
    return ViewLayout(header, picture, QRect(left, top, shape.width, shape.height), shape, True)


def arrange(widget: QSize, image: QSize, band: int, shapes: Sequence[HelpShape] = (),
            player_in_top_half: bool = False) -> ViewLayout:
    """Header band and picture as large as fit (aspect kept, centred), and the key help if `shapes` are given.

    `shapes` are the key help's possible shapes, preferred first; `player_in_top_half` says which edge the box
    avoids in the last resort of covering the picture.
    """
    if image.isEmpty() or widget.isEmpty():
        return ViewLayout(QRect(), QRect())
    header, picture = _centred(QRect(0, 0, widget.width(), widget.height()), image, band)
    if not shapes:
        return ViewLayout(header, picture)
    fitting = [s for s in shapes if s.width <= widget.width() - 2 * MARGIN and s.height <= widget.height()
               - 2 * MARGIN]
    best_rank = min((shape.rank for shape in fitting), default=0)
    in_margin = _in_margin(widget, header, picture, [shape for shape in fitting if shape.rank == best_rank])
    if in_margin is not None:
        return in_margin
    full = _scale(widget.width(), widget.height(), image, band)
    options = [place(widget, image, band, shape) for shape in fitting for place in (_beside, _below)]
    for rank in sorted({shape.rank for shape in fitting}):
        best_of_rank = max((o for o in options if o.layout.help_shape.rank == rank), key=lambda o: o.scale)
        if best_of_rank.scale >= PREFERRED_SHARE * full:
            return best_of_rank.layout
    best = max(options, key=lambda o: o.scale, default=None)
    if best is not None and best.scale >= MIN_PICTURE_SHARE * full:
        return best.layout
    return _over_picture(widget, header, picture, fitting or shapes, player_in_top_half)
