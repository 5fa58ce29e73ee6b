"""The key-help box of the game view: its possible shapes (font size, columns) and its painting.

The game view picks one shape and a place for it (`app/view_layout.py`); this module only knows how big each
shape is and how to draw it, so the placement can weigh a wide short box against a narrow tall one.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QPainter

POINT_SIZES = (10, 8)
"""Tried in this order; the smaller one is used only when it leaves the picture clearly larger."""
MAX_COLUMNS = 3
PADDING = 12
FOOTER = "F1 hides this help"
KEY_GAP = 12
COLUMN_GAP = 20
MIN_TITLE_WIDTH = 160
"""The title wraps at the columns' width, but never into a column narrower than this."""
COMBINATION = " + "
"""How app/keymap.py joins the keys of a combined action; the compact help leaves those lines out."""


@dataclass(frozen=True)
class HelpShape:
    """One way to lay the help out: font size, number of columns and the box size that results."""

    point_size: int
    columns: int
    width: int
    height: int
    compact: bool = False
    """Only the single-key lines: the title already says keys combine (Atari's 18 actions need 12 combos)."""
    rank: int = 0
    """Preference tier, 0 best: full help in the large font, full in the small one, then compact."""


def help_font(point_size: int) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(point_size)
    return font


def _split(lines: list[tuple[str, str]], columns: int) -> list[list[tuple[str, str]]]:
    rows = -(-len(lines) // columns)
    return [lines[i:i + rows] for i in range(0, len(lines), rows)]


class KeyHelp:
    """Title plus (keys, action) lines; measures and paints itself in a given shape."""

    def __init__(self) -> None:
        self.title = ""
        self.lines: list[tuple[str, str]] = []
        self._shapes: list[HelpShape] | None = None

    def set(self, title: str, lines: list[tuple[str, str]]) -> None:
        self.title, self.lines, self._shapes = title, list(lines), None

    def is_empty(self) -> bool:
        return not self.lines

    def shapes(self) -> list[HelpShape]:
        """Every shape worth trying, best rank first and fewest columns first within a rank.

        Measured once per set(): the view asks on every paint.
        """
        if self._shapes is None:
            compact_too = 0 < len(self._lines(True)) < len(self.lines)
            tiers = [(size, False) for size in POINT_SIZES] + ([(s, True) for s in POINT_SIZES] if compact_too else [])
            self._shapes = [self._measure(size, columns, compact, rank)
                            for rank, (size, compact) in enumerate(tiers)
                            for columns in self._column_counts(len(self._lines(compact)))]
        return self._shapes

    @staticmethod
    def _column_counts(lines: int) -> list[int]:
        """1..MAX_COLUMNS, skipping counts that leave a column empty (4 lines in 3 columns would be 2 + 2)."""
        return [c for c in range(1, min(MAX_COLUMNS, lines) + 1) if len(_split([("", "")] * lines, c)) == c]

    def _lines(self, compact: bool) -> list[tuple[str, str]]:
        return [line for line in self.lines if COMBINATION not in line[0]] if compact else self.lines

    @staticmethod
    def _column_widths(metrics: QFontMetrics, lines: list[tuple[str, str]]) -> tuple[int, int]:
        """Width of the keys part and of a whole column."""
        key_width = max(metrics.horizontalAdvance(keys) for keys, _ in lines)
        name_width = max(metrics.horizontalAdvance(name) for _, name in lines)
        return key_width, key_width + KEY_GAP + name_width

    def _title_height(self, point_size: int, width: int) -> int:
        if not self.title:
            return 0
        metrics = QFontMetrics(_bold(help_font(point_size)))
        return metrics.boundingRect(QRect(0, 0, width, 10_000), int(Qt.TextFlag.TextWordWrap), self.title).height()

    def _measure(self, point_size: int, columns: int, compact: bool, rank: int) -> HelpShape:
        metrics = QFontMetrics(help_font(point_size))
        lines = self._lines(compact)
        _, column_width = self._column_widths(metrics, lines)
        columns_width = columns * column_width + (columns - 1) * COLUMN_GAP
        title_width = min(QFontMetrics(_bold(help_font(point_size))).horizontalAdvance(self.title),
                          max(columns_width, MIN_TITLE_WIDTH))
        inner = max(columns_width, title_width, metrics.horizontalAdvance(FOOTER))
        rows = len(_split(lines, columns)[0])
        height = self._title_height(point_size, inner) + (rows + 1) * metrics.height()
        return HelpShape(point_size, columns, inner + 2 * PADDING, height + 2 * PADDING, compact, rank)

    def paint(self, painter: QPainter, box: QRect, shape: HelpShape) -> None:
        """A dark rounded box: wrapped title, the key columns, and how to hide it."""
        font = help_font(shape.point_size)
        metrics = QFontMetrics(font)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 210))
        painter.drawRoundedRect(QRectF(box), 8, 8)
        inner = box.adjusted(PADDING, PADDING, -PADDING, -PADDING)
        painter.setFont(_bold(font))
        painter.setPen(QColor(255, 230, 140))
        title_height = self._title_height(shape.point_size, inner.width())
        painter.drawText(QRect(inner.left(), inner.top(), inner.width(), title_height),
                         int(Qt.TextFlag.TextWordWrap), self.title)
        painter.setFont(font)
        lines = self._lines(shape.compact)
        key_width, column_width = self._column_widths(metrics, lines)
        baseline = inner.top() + title_height + metrics.ascent()
        columns = _split(lines, shape.columns)
        for index, column in enumerate(columns):
            left = inner.left() + index * (column_width + COLUMN_GAP)
            for row, (keys, name) in enumerate(column):
                y = baseline + row * metrics.height()
                painter.setPen(QColor(180, 220, 255))
                painter.drawText(left, y, keys)
                painter.setPen(QColor(235, 235, 235))
                painter.drawText(left + key_width + KEY_GAP, y, name)
        painter.setPen(QColor(170, 170, 170))
        painter.drawText(inner.left(), baseline + len(columns[0]) * metrics.height(), FOOTER)


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold
