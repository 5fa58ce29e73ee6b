"""One way to make the window's actions: a tooltip that names the shortcut, the same text in the status bar,
and the action added to the window so its shortcut works wherever the focus is."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


def window_action(window: QWidget, text: str, tip: str, *, shortcut: QKeySequence | str | None = None,
                  checkable: bool = False) -> QAction:
    action = QAction(text, window)
    action.setToolTip(tip + (f" ({QKeySequence(shortcut).toString()})" if shortcut else ""))
    action.setStatusTip(tip)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    window.addAction(action)
    return action
