"""Agent > Trained agents: the agents that ship with the app (agents.shipped), one click to open and watch."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMenu, QWidget

from agents.shipped import shipped_agents


class TrainedAgentsMenu(QMenu):
    """Lists assets/agents/ each time it opens; choosing an entry calls `open_save(path)`."""

    def __init__(self, parent: QWidget, open_save: Callable[[str], None]) -> None:
        super().__init__("Trained agents", parent)
        self.setToolTipsVisible(True)
        self._open_save = open_save
        self.aboutToShow.connect(self.refill)
        self.refill()

    def refill(self) -> None:
        self.clear()
        for agent in shipped_agents():
            action = self.addAction(agent.title)
            action.setToolTip(agent.details or str(agent.path))
            action.setData(str(agent.path))
            action.triggered.connect(lambda _=False, p=str(agent.path): self._open_save(p))
        if self.isEmpty():
            self.addAction("(none installed)").setEnabled(False)
