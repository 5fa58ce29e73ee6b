"""The View menu's switches of the game view: V(s) heat map, greedy arrows, attention overlay, network input and
key help, enabled where the running environment has them and remembered between launches."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from app.game_view import GameView
from app.panels.attention import AttentionPanel
from app.settings import read_bool
from app.window_actions import window_action


class ViewSwitches(QObject):
    """Checkable actions of `window` that switch what `view` draws. The attention overlay agrees with the
    Attention panel's own check box; what the key help shows is the window's (connect `help_action`)."""

    def __init__(self, window: QMainWindow, view: GameView, attention_panel: AttentionPanel,
                 store: QSettings) -> None:
        super().__init__(window)
        self._window, self._view, self._attention_panel, self._store = window, view, attention_panel, store
        options = view.options
        self.values_action = self._switch("Value heat map", "Gridworld: V(s) with the agent on each cell",
                                          options.values, lambda on: view.set_options(values=on))
        self.arrows_action = self._switch("Greedy arrows", "Gridworld: the greedy action in each cell",
                                          options.arrows, lambda on: view.set_options(arrows=on))
        self.attention_action = self._switch("Attention overlay", "The attention weights over the picture (head"
                                             " chosen in the Attention panel)", options.attention,
                                             self._on_attention_overlay)
        self.input_action = self._switch("Network input (84×84)", "Atari: show the greyscale frame the network"
                                         " sees instead of the colour screen", options.network_input,
                                         lambda on: view.set_options(network_input=on))
        self.help_action = self._switch("Key help", "Show the key bindings while you play", True, shortcut="F1")
        attention_panel.overlay_toggled.connect(self._on_attention_overlay)

    def _switch(self, text: str, tip: str, on: bool, slot: Callable[[bool], object] | None = None, *,
                shortcut: str | None = None) -> QAction:
        action = window_action(self._window, text, tip, shortcut=shortcut, checkable=True)
        action.setChecked(on)
        if slot is not None:
            action.toggled.connect(slot)
        return action

    def actions(self) -> list[QAction]:
        """In the View menu's order."""
        return [self.values_action, self.arrows_action, self.attention_action, self.input_action, self.help_action]

    def _remembered(self) -> tuple[tuple[QAction, str], ...]:
        return ((self.values_action, "show_values"), (self.arrows_action, "show_arrows"),
                (self.help_action, "show_key_help"))

    def restore(self) -> None:
        for action, key in self._remembered():
            action.setChecked(read_bool(self._store, key, action.isChecked()))

    def remember(self) -> None:
        for action, key in self._remembered():
            self._store.setValue(key, action.isChecked())

    def follow_session(self, gridworld: bool) -> None:
        """Heat map and arrows for gridworlds, the network's input for Atari."""
        self.values_action.setEnabled(gridworld)
        self.arrows_action.setEnabled(gridworld)
        self.input_action.setEnabled(not gridworld)

    def _on_attention_overlay(self, on: bool) -> None:
        """The View menu and the Attention panel's check box both switch the overlay; keep them agreeing."""
        self.attention_action.setChecked(on)
        self._attention_panel.overlay_check.setChecked(on)
        self._view.set_options(attention=on)
