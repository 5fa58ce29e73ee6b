"""Counters shown in more than one place (status bar, training panel) are formatted here, once, so two
readouts of the same number can never disagree."""

from __future__ import annotations


def rate_text(steps_per_second: float, paused: bool) -> str:
    """"95 steps/s" while running; "paused" while paused (not the last running figure)."""
    return "paused" if paused else f"{steps_per_second:,.0f} steps/s"
