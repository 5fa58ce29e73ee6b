"""How Q-values are scaled and written, wherever they are drawn (the Q-value panel, recorded videos): numbers with
as many decimals as their spread needs, and an axis range that does not jitter. Qt-free."""

from __future__ import annotations

import math

import numpy as np

SHRINK_RATE = 0.02
"""Fraction of the gap the axis range closes per frame when values shrink (growth is instant)."""
MIN_DECIMALS, MAX_DECIMALS = 2, 5


def decimals_for(values: np.ndarray) -> int:
    """Decimals that show two significant digits of the values' spread (0.701 vs 0.703: 4), within 2..5."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    spread = float(finite.max() - finite.min()) if finite.size else 0.0
    if spread <= 0.0:
        return MIN_DECIMALS
    return int(np.clip(math.floor(-math.log10(spread)) + 2, MIN_DECIMALS, MAX_DECIMALS))


def format_value(value: float, decimals: int, *, signed: bool = False) -> str:
    """`value` rounded to `decimals` (more for a small non-zero value, up to MAX_DECIMALS); what still rounds to
    zero never shows a minus sign ("-0.00")."""
    if not math.isfinite(value):
        return str(value)
    while value != 0.0 and round(value, decimals) == 0.0 and decimals < MAX_DECIMALS:
        decimals += 1  # a small non-zero value keeps its first digit: -0.0004, not 0.000
    rounded = round(value, decimals) + 0.0  # -0.0 + 0.0 == +0.0
    text = f"{rounded:.{decimals}f}"
    return f"+{text}" if signed and rounded > 0 else text


class AxisRange:
    """A value range that grows at once and shrinks slowly, so bars do not jitter from frame to frame."""

    def __init__(self) -> None:
        self.low = 0.0
        self.high = 0.0
        self.empty = True

    def reset(self) -> None:
        self.low, self.high, self.empty = 0.0, 0.0, True

    def update(self, values: np.ndarray, value: float | None) -> None:
        """Include zero, every finite value and V(s) (None: not drawn), padded a little."""
        finite = [float(v) for v in values if math.isfinite(v)]
        if value is not None and math.isfinite(value):
            finite.append(float(value))
        low, high = min([0.0, *finite]), max([0.0, *finite])
        pad = 0.05 * max(high - low, 1e-9)
        low, high = (low - pad if low < 0 else 0.0), (high + pad if high > 0 else 0.0)
        if self.empty:
            self.low, self.high, self.empty = low, high, False
            return
        self.low = low if low < self.low else self.low + SHRINK_RATE * (low - self.low)
        self.high = high if high > self.high else self.high + SHRINK_RATE * (high - self.high)

    def span(self) -> float:
        return max(self.high - self.low, 1e-12)
