"""The training curves as one table, for a spreadsheet, pandas or a plot of one's own (File > Export curves).

Qt-free: the window hands it the panel's points (every point, not the downsampled picture). Long format, one
row per point: curves are sampled at different steps (a return per episode, a loss per update, epsilon per
frame), so one column per curve would be mostly empty cells.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from agents.checkpoint import atomic_write
from agents.errors import ArcadeError

HEADER = "curve,agent_step,value"


class ExportError(ArcadeError):
    """The curves could not be written (a folder that does not exist, no permission, a full disk)."""


def curves_csv(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """`curve,agent_step,value` rows, curves in the mapping's order, points in their own order; a value that
    is not finite (a diverged loss) is written as nan/inf, which every CSV reader parses."""
    out = io.StringIO()
    out.write(HEADER + "\n")
    for name, (steps, values) in curves.items():
        if "," in name or "\n" in name:
            raise ValueError(f"curve name {name!r} cannot be a CSV field as it is")
        if len(steps) != len(values):
            raise ValueError(f"curve {name}: {len(steps)} steps but {len(values)} values")
        for step, value in zip(np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64),
                               strict=True):
            out.write(f"{name},{_step_text(step)},{_value_text(value)}\n")
    return out.getvalue()


def _step_text(step: float) -> str:
    return str(int(step)) if step.is_integer() else repr(float(step))


def _value_text(value: float) -> str:
    # repr: the shortest text that reads back to the same float64
    return repr(float(value)) if math.isfinite(value) else str(value)


def write_curves_csv(path: str | os.PathLike[str], curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> int:
    """Write the table to `path` atomically (a failed write leaves any old file whole); returns the rows
    written. A failure is a one-line ExportError."""
    text = curves_csv(curves).encode("utf-8")
    write_bytes(path, text)
    return text.count(b"\n") - 1


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """`data` to `path` through a temporary sibling and a rename; OSError becomes a one-line ExportError."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ExportError(f"{target}: the folder {target.parent} does not exist")
    try:
        atomic_write(target, lambda fileobj: fileobj.write(data))
    except OSError as error:
        raise ExportError(f"{target}: cannot write ({error.strerror or error})") from None
