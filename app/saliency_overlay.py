"""The View menu's saliency switches: the perturbation-saliency overlay of the game view (Greydanus et al. 2018,
computed in the training loop: app.saliency_feed) and whether it shows all the Q-values' or the greedy action's.

The window composes it: `SaliencyOverlay(window, game_view, worker)`, its `actions()` in the View menu, and
`follow_session(info)` on every session_started (a new or restarted training process starts with it off, and is
told again here).
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from app.game_view import GameView
from app.training_loop import SessionInfo
from app.window_actions import window_action
from app.worker import WorkerBase

OVERLAY_TIP = ("Where blurring the network's input moves its Q-values most (perturbation saliency, Greydanus et al."
               " 2018): computed a couple of times a second at most, so the caption says how fresh the map is")
GREEDY_TIP = "Saliency of the greedy action's Q alone, rather than of all the Q-values"


def send_saliency(worker: WorkerBase, on: bool) -> None:
    """The training loop's "saliency" command (app.training_loop.TrainingLoop._on_saliency)."""
    worker.set_saliency(bool(on))


class SaliencyOverlay(QObject):
    """Two checkable actions of `window`: the overlay on `view` (and the loop computing the maps only while it is
    on), and the greedy action's map instead of all actions'."""

    def __init__(self, window: QMainWindow, view: GameView, worker: WorkerBase) -> None:
        super().__init__(window)
        self._view, self._worker = view, worker
        self.action = self._switch(window, "Saliency overlay", OVERLAY_TIP, self._on_overlay)
        self.greedy_action = self._switch(window, "Saliency of the greedy action", GREEDY_TIP,
                                          lambda on: view.set_options(saliency_greedy=on))
        self.greedy_action.setEnabled(False)

    @staticmethod
    def _switch(window: QMainWindow, text: str, tip: str, slot) -> QAction:
        action = window_action(window, text, tip, checkable=True)
        action.toggled.connect(slot)
        return action

    def actions(self) -> list[QAction]:
        """In the View menu's order."""
        return [self.action, self.greedy_action]

    def follow_session(self, info: SessionInfo | None = None) -> None:
        """A session started (perhaps in a new training process): tell its loop whether to compute maps. Tabular
        agents have no network to perturb; the game view's caption says so."""
        del info
        send_saliency(self._worker, self.action.isChecked())

    def stop(self) -> None:
        """The loop could not compute a map and stopped: the switch shows it is off."""
        self.action.setChecked(False)

    def _on_overlay(self, on: bool) -> None:
        self.greedy_action.setEnabled(on)
        self._view.set_options(saliency=on)
        send_saliency(self._worker, on)
