"""Agent > Compare with a save: a second agent judged on the very states the running one sees (the loop evaluates
it: app.comparison_feed), drawn by the Comparison panel (app.panels.comparison), which also chooses who acts in
Agent play. The window composes it: `Comparison(window, worker, panel, dock)` and its `actions()` in the Agent
menu; a new session ends a comparison (the loop says so with comparison_changed).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow

from app.panels.comparison import ComparisonPanel
from app.window_actions import window_action
from app.worker import WorkerBase

SAVE_FILTER = "Agents (*.dqn *.zip *.cleanrl_model);;All files (*)"
COMPARE_TIP = ("Load a second agent for this game and see its Q-values and greedy action on every state beside this"
               " one's, with the episode's agreement timeline: a save against the live training agent shows what"
               " the last steps of training changed")


class Comparison(QObject):
    def __init__(self, window: QMainWindow, worker: WorkerBase, panel: ComparisonPanel, dock: QDockWidget) -> None:
        super().__init__(window)
        self._window, self._worker, self.panel, self._dock = window, worker, panel, dock
        self.compare_action = window_action(window, "Compare with a save…", COMPARE_TIP)
        self.compare_action.triggered.connect(self.ask_and_compare)
        self.stop_action = window_action(window, "Stop comparing", "Close the comparison with the second agent")
        self.stop_action.triggered.connect(lambda: worker.compare(None))
        self.stop_action.setEnabled(False)
        worker.comparison_changed.connect(self._on_changed)
        panel.actor_chosen.connect(worker.set_actor)

    def actions(self) -> list[QAction]:
        return [self.compare_action, self.stop_action]

    def ask_and_compare(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Compare with a save", str(Path.cwd() / "saves"),
                                              SAVE_FILTER)
        if path:
            self.compare(path)

    def compare(self, path: str) -> None:
        """Ask the loop to compare with the save at `path`; a file it cannot compare comes back as failed."""
        self._worker.compare(path)
        self._window.statusBar().showMessage(f"Loading {Path(path).name} to compare…", 5000)

    def _on_changed(self, name: str, trained_on: str) -> None:
        self.panel.set_compared(name, trained_on)
        self.stop_action.setEnabled(bool(name))
        if name:
            self._dock.show()
            self._dock.raise_()
            self._window.statusBar().showMessage(f"Comparing this agent with {name}", 8000)
