"""Run > Step back and the Rewind panel: the window's side of stepping back through an episode.

The loop records the episode and restores it (app.rewind_feed, agents.rewind); this controller only sends the
moves and the "what if" requests, and gives the panel its dock, tabbed with the training curves. `,` steps back
(pausing first), `.` then goes forward through what happened; playing on from an earlier step continues there.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMainWindow

from app.panels.rewind import ALL_ACTIONS, RewindPanel
from app.window_actions import window_action
from app.window_layout import WindowLayout
from app.worker import WorkerBase

DOCK_TIP = ("Step back through the episode's last steps and try what other actions would have led to, next to what"
            " Q predicted")


class Rewind(QObject):
    def __init__(self, window: QMainWindow, worker: WorkerBase, layout: WindowLayout) -> None:
        super().__init__(window)
        self._worker = worker
        self.panel = RewindPanel()
        self.dock = layout.add_dock("Rewind", self.panel, Qt.DockWidgetArea.BottomDockWidgetArea, DOCK_TIP,
                                    tab_with="Training")
        self.back_action = window_action(window, "Step back", "Pause and show the step before; . goes forward again"
                                         " (the Rewind panel lists what other actions would have led to)",
                                         shortcut=",")
        self.back_action.triggered.connect(self.step_back)
        self.panel.moved.connect(worker.rewind_to)
        self.panel.step_by.connect(worker.rewind_by)
        self.panel.try_requested.connect(self._try)

    def step_back(self) -> None:
        self._worker.rewind_by(-1)
        if self.dock.isHidden() or self.dock.visibleRegion().isEmpty():
            self.dock.show()
            self.dock.raise_()  # the tab in front: where the steps and branches are listed

    def _try(self, action: int, horizon: int) -> None:
        self._worker.what_if(None if action == ALL_ACTIONS else action, horizon)
