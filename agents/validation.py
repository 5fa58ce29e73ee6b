"""Type checks for values read back from JSON (a save's meta.json, its history, game options)."""

from __future__ import annotations

import math


def is_int(value: object) -> bool:
    """A whole number: an int that is not a bool (JSON's true is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A whole number or a float (NaN and infinities included)."""
    return isinstance(value, float) or is_int(value)


def is_finite_number(value: object) -> bool:
    """A whole number or a finite float."""
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))
