"""The keyboard of a window: the keys of human play, and Space to pause, wherever the focus is inside it.

An application-wide event filter, so a key reaches the game whichever widget has the focus; keys pressed with
Ctrl or Alt are left to the window's shortcuts. Which key means which action is `app.keymap.KeyMap`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QWindow
from PySide6.QtWidgets import QApplication, QWidget

from agents.runner import Mode

if TYPE_CHECKING:
    from app.window import MainWindow

KEY_EVENTS = (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
SHORTCUT_MODIFIERS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


class HumanKeys(QObject):
    """Sends `window`'s key presses and releases to its worker in human play (through `window.keymap`), and
    toggles the pause on Space otherwise. Filters the application's events until `remove`."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        QApplication.instance().installEventFilter(self)

    def remove(self) -> None:
        QApplication.instance().removeEventFilter(self)

    def release_all(self) -> None:
        """Drop every held key (a mode switch; releases are never seen once the window loses focus)."""
        keymap = self._window.keymap
        if keymap is not None:
            keymap.clear()
            self._window.worker.set_held_action(keymap.action())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind == QEvent.Type.WindowDeactivate and watched is self._window:
            self.release_all()
        if kind not in KEY_EVENTS or not self._owns(watched):
            return False
        assert isinstance(event, QKeyEvent)
        if event.modifiers() & SHORTCUT_MODIFIERS:
            return False
        keymap = self._window.keymap
        if self._window.mode is Mode.HUMAN and keymap is not None and keymap.handles(event.key()):
            if not event.isAutoRepeat():
                self._human_key(event.key(), kind == QEvent.Type.KeyPress)
            return True
        if event.key() == Qt.Key.Key_Space and kind == QEvent.Type.KeyPress:
            if not event.isAutoRepeat():
                self._window.toggle_pause()
            return True
        return False

    def _owns(self, watched: QObject) -> bool:
        if isinstance(watched, QWindow):
            return watched is self._window.windowHandle()
        return isinstance(watched, QWidget) and watched.window() is self._window

    def _human_key(self, key: int, pressed: bool) -> None:
        keymap, worker = self._window.keymap, self._window.worker
        assert keymap is not None
        if keymap.per_press:
            action = keymap.action_for_press(key) if pressed else None
            if action is not None:
                worker.press(action)
            return
        if pressed:
            keymap.press(key)
        else:
            keymap.release(key)
        worker.set_held_action(keymap.action())
