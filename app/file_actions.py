"""The window's files: File > Open, Save, Save As and Recent saves, and the question about unsaved training that
comes before anything replaces the agent or closes the window.

Saving and loading happen where the agent lives (the worker); their outcome comes back as its `saved` and
`failed` signals. The window composes this and places its actions in the File menu.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from agents.checkpoint import read_save_info
from agents.errors import ArcadeError
from app.settings import recent_saves, remember_save
from app.unsaved_question import UnsavedQuestion
from app.window_actions import window_action

if TYPE_CHECKING:
    from app.window import MainWindow

SAVES_DIR = Path("saves")
SAVE_FILTER = "DQN Arcade saves (*.dqn);;All files (*)"
OPEN_FILTER = ("Agents (*.dqn *.zip *.cleanrl_model);;DQN Arcade saves (*.dqn);;"
               "Stable-Baselines3 DQN (*.zip);;CleanRL dqn_atari (*.cleanrl_model);;All files (*)")
SAVED_MESSAGE_MS = 8000


def default_save_name(env_id: str, network: str | None, agent_kind: str) -> str:
    """saves/<env>_<network>.dqn, the same names the command line uses."""
    stem = Path(env_id).stem if env_id.endswith(".txt") else env_id
    name = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()
    return f"{name}_{network or agent_kind}.dqn"


def recent_label(path: str) -> str:
    """"room.dqn — gridworld/open-room, 1,200 steps, best return 0.93", or "(unreadable)" after the name."""
    try:
        info = read_save_info(path)
    except ArcadeError:
        return f"{Path(path).name} (unreadable)"
    best = f"{info.best_return:.2f}" if info.best_return is not None else "–"
    return f"{Path(path).name} — {info.env_id}, {info.steps:,} steps, best return {best}"


class FileActions(QObject):
    """Open, Save, Save As and Recent saves of `window`, and the unsaved-training question before a new agent,
    another save or closing. `ask_at_close` False closes without the question."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.unsaved_question = UnsavedQuestion(window, window.worker, lambda: window.has_unsaved_map_edits())
        self.ask_at_close = True
        self._close_after_save = False
        self.open_action = self._action("&Open…", "Open a saved agent and switch to its environment",
                                        "Ctrl+O")
        self.open_action.triggered.connect(self.open_save)
        self.save_action = self._action("&Save", "Save the agent (to its file, or choose one in saves/)", "Ctrl+S")
        self.save_action.triggered.connect(self.save)
        self.save_as_action = self._action("Save &As…", "Save the agent to a new file", "Ctrl+Shift+S")
        self.save_as_action.triggered.connect(self.save_as)
        self.recent_menu = QMenu("Recent saves", window)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        window.worker.saved.connect(self._on_saved)
        window.worker.failed.connect(self._on_failed)

    def _action(self, text: str, tip: str, shortcut: str) -> QAction:
        return window_action(self._window, text, tip, shortcut=shortcut)

    def add_to_menu(self, menu: QMenu) -> None:
        """Open, Save, Save As and the Recent saves submenu, at the end of `menu`."""
        menu.addActions([self.open_action, self.save_action, self.save_as_action])
        menu.addMenu(self.recent_menu)

    # ------------------------------------------------------------------ the unsaved-training question

    def confirm_discard(self, doing: str) -> str | None:
        """Ask about unsaved training before `doing` ("quit"). None: cancel. "": go on without saving. A path:
        save there first."""
        answer = self.unsaved_question.ask(doing, self._window.speed)
        if answer == QMessageBox.StandardButton.Discard:
            return ""
        if answer != QMessageBox.StandardButton.Save:
            return None
        return self._current_save_path() or self._ask_save_path()

    def may_close(self) -> bool:
        """Whether the window may close now, after the question about unsaved training; answered Save, the
        window closes once the save is written (a failed save keeps it open)."""
        if not self.ask_at_close:
            return True
        save_first = self.confirm_discard("quit")
        if save_first:
            self._close_after_save = True
            self._save_to(save_first)
        return save_first == ""

    # ------------------------------------------------------------------ saving

    def _current_save_path(self) -> str | None:
        session = self._window.session
        return session.save_path if session is not None else None

    def _ask_save_path(self) -> str | None:
        SAVES_DIR.mkdir(parents=True, exist_ok=True)
        info = self._window.session
        name = default_save_name(info.env_id, info.network, info.agent_kind) if info else "agent.dqn"
        suggested = str(SAVES_DIR.resolve() / name)
        path, _ = QFileDialog.getSaveFileName(self._window, "Save agent", suggested, SAVE_FILTER)
        if not path:
            return None
        return path if Path(path).suffix else path + ".dqn"

    def save(self) -> None:
        """Save to the session's own file, or ask for one (in saves/)."""
        path = self._current_save_path() or self._ask_save_path()
        if path:
            self._save_to(path)

    def save_as(self) -> None:
        path = self._ask_save_path()
        if path:
            self._save_to(path)

    def _on_saved(self, path: str) -> None:
        remember_save(self._window.store, path)
        self._window.show_saved(path)
        self._window.statusBar().showMessage(f"Saved {path}", SAVED_MESSAGE_MS)
        if self._close_after_save:
            self._close_after_save = False
            self.ask_at_close = False
            self._window.close()

    def _on_failed(self, what: str, message: str) -> None:
        self._close_after_save = False  # whatever failed, closing waits for the person again

    # ------------------------------------------------------------------ opening

    def open_save(self) -> None:
        """Ask about unsaved training first, then for the file."""
        save_first = self.confirm_discard("open another agent")
        if save_first is None:
            return
        SAVES_DIR.mkdir(parents=True, exist_ok=True)
        path, _ = QFileDialog.getOpenFileName(self._window, "Open saved agent", str(SAVES_DIR.resolve()),
                                              OPEN_FILTER)
        if path:
            self._window.worker.load(path, save_first=save_first or None)
        elif save_first:
            self._save_to(save_first)  # asked to save: done, even though nothing was opened

    def load(self, path: str) -> None:
        """Open a save (asking first about unsaved training); a bad file leaves the current run alone."""
        save_first = self.confirm_discard("open another agent")
        if save_first is not None:
            self._window.worker.load(path, save_first=save_first or None)

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in recent_saves(self._window.store):
            action = self.recent_menu.addAction(recent_label(path))
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.load(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(no saves yet)").setEnabled(False)

    def _save_to(self, path: str) -> None:
        """Save the session; map cells still being painted go to the loop first, so the save carries them."""
        editor = getattr(self._window, "map_editor", None)
        if editor is not None:
            editor.flush()
        self._window.worker.save(path)
