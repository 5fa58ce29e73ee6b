"""The toolbar's environment picker: every built-in gridworld, every Atari game, and "Open map file…".

Choosing an entry asks the window to switch (after its unsaved-training question); the picker then follows the
session that actually runs, which may be another one when the person cancelled or the switch failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QComboBox, QWidget

from agents.envs.registry import list_env_ids
from agents.errors import ArcadeError
from app.launch_choices import DEFAULT_ENV
from app.session_labels import atari_tooltip

log = logging.getLogger(__name__)

OPEN_MAP = "open-map"


class EnvPicker(QObject):
    def __init__(self, parent: QWidget, *, switch: Callable[[str], None], open_map: Callable[[], None],
                 running: Callable[[], str | None]) -> None:
        super().__init__(parent)
        self._switch, self._open_map, self._running = switch, open_map, running
        self.combo = QComboBox(parent)
        self.combo.setToolTip("Environment: every built-in gridworld, every Atari game, or a map file.\n"
                              + atari_tooltip())
        self.combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrow keys stay with the game
        self.combo.setMaxVisibleItems(25)
        self._fill()
        self.combo.activated.connect(self._on_chosen)

    def _fill(self) -> None:
        try:
            env_ids = list_env_ids()
        except ArcadeError as error:
            env_ids = [DEFAULT_ENV]
            log.warning("cannot list environments: %s", error)
        self.combo.addItems(env_ids)
        self.combo.insertSeparator(sum(1 for e in env_ids if e.startswith("gridworld/")))
        self.combo.insertSeparator(self.combo.count())
        self.combo.addItem("Open map file…", userData=OPEN_MAP)

    def _on_chosen(self, index: int) -> None:
        if self.combo.itemData(index) == OPEN_MAP:
            self._open_map()
            return
        env_id = self.combo.itemText(index)
        if env_id != self._running():
            self._switch(env_id)

    def follow(self, env_id: str) -> None:
        """Show the running environment (a map file joins the list, above "Open map file…")."""
        index = self.combo.findText(env_id)
        if index < 0:
            index = self.combo.count() - 2
            self.combo.insertItem(index, env_id)
        self.combo.setCurrentIndex(index)
