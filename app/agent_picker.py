"""The window's Agent menu and its toolbar button: the algorithm and Q-network, Double DQN and the dueling head
(each choice starts a new agent on the running environment), New agent, and the trained agents that ship."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton

from agents.factory import AgentSpec
from app.session_labels import AGENT_CHOICES, agent_label, atari_tooltip
from app.trained_agents_menu import TrainedAgentsMenu
from app.training_loop import SessionInfo
from app.window_actions import window_action

if TYPE_CHECKING:
    from app.window import MainWindow

BUTTON_TIP = "Agent: DQN (attention, CNN or MLP Q-network) or tabular Q-learning"


class AgentPicker(QObject):
    """`menu` (the menu bar's Agent) and `button` (the same menu from the toolbar, named after the running
    agent); `follow_session` shows the running agent in them without starting another."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._group = QActionGroup(self)
        self.agent_actions: dict[tuple[str, str | None], QAction] = {}
        for kind, network, label in AGENT_CHOICES:
            tip = ("Tabular Q-learning (Watkins 1992): one table row per cell; gridworlds only"
                   if kind == "qlearning" else f"Deep Q-network with the {label.split('· ')[1]} Q-network")
            action = self._action(label, tip, checkable=True)
            self._group.addAction(action)
            action.triggered.connect(lambda _=False, k=kind, n=network: window.new_agent(AgentSpec(k, n)))
            self.agent_actions[(kind, network)] = action
        self.double_action = self._action("Double DQN", "Double DQN target (van Hasselt et al. 2016): a new agent",
                                          checkable=True)
        self.double_action.triggered.connect(lambda checked: self._choose_switch(double=checked))
        self.dueling_action = self._action("Dueling head", "Dueling head Q = V + A - mean A (Wang et al. 2016): a"
                                           " new agent (the attention network is always dueling)", checkable=True)
        self.dueling_action.triggered.connect(lambda checked: self._choose_switch(dueling=checked))
        self.new_agent_action = self._action("New agent", "Throw the agent away and start an untrained one")
        self.new_agent_action.triggered.connect(lambda: window.new_agent())
        self.trained_menu = TrainedAgentsMenu(window, window.file_actions.load)
        self.menu = self._build_menu()
        self.button = self._build_button()

    def _action(self, text: str, tip: str, *, checkable: bool = False) -> QAction:
        return window_action(self._window, text, tip, checkable=checkable)

    def _build_menu(self) -> QMenu:
        menu = QMenu("&Agent", self._window)
        menu.setToolTipsVisible(True)
        menu.addActions(list(self.agent_actions.values()))
        menu.addSeparator()
        menu.addActions([self.double_action, self.dueling_action, self.new_agent_action])
        menu.addSeparator()
        menu.addMenu(self.trained_menu)
        return menu

    def _build_button(self) -> QToolButton:
        button = QToolButton(self._window)
        button.setMenu(self.menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setToolTip(BUTTON_TIP)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    def switch_actions(self) -> list[QAction]:
        """Double DQN and the dueling head, for the toolbar."""
        return [self.double_action, self.dueling_action]

    def _choose_switch(self, **switch: bool) -> None:
        spec = self._window.spec
        double = switch.get("double", self.double_action.isChecked())
        dueling = switch.get("dueling", self.dueling_action.isChecked())
        self._window.new_agent(AgentSpec(spec.kind, spec.network, double, dueling))

    def follow_session(self, info: SessionInfo) -> None:
        gridworld = info.description.kind == "gridworld"
        action = self.agent_actions.get((info.agent_kind, info.network))
        if action is not None:
            action.setChecked(True)
        self.agent_actions[("qlearning", None)].setEnabled(gridworld)
        dqn = info.agent_kind == "dqn"
        always_dueling = info.network == "attention"  # its head is dueling by construction
        for switch, value in ((self.double_action, info.double), (self.dueling_action, info.dueling)):
            switch.setEnabled(dqn)
            switch.setChecked(bool(value) or (switch is self.dueling_action and dqn and always_dueling))
        self.dueling_action.setEnabled(dqn and not always_dueling)
        self.button.setText(agent_label(info))
        self.button.setToolTip(BUTTON_TIP + ("" if gridworld else "\n" + atari_tooltip()))
