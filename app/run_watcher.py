"""File > Watch a Training Run: follow a `dqn-arcade train` run (one process, or Ape-X actors on Ray) from the saves
it writes every --save-every steps. Its latest weights play here in Agent play and its curves grow; the window
never writes to that file.

The trainer writes each save atomically (a new file renamed over the old), so a change of the file's size or
modification time is a whole new save. The watcher polls the file (a rename defeats file-system watches) and
reopens it once the change has held for one poll. Training here, or opening something else, stops the watch:
the window's agent is then its own, and Save asks for a new file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMenu

from app.training_loop import Mode, SessionInfo
from app.window_actions import window_action

if TYPE_CHECKING:
    from app.window import MainWindow

POLL_MS = 2000
"""How often the watched file is looked at (a stat call: nothing is read until it changes)."""
WATCH_FILTER = "DQN Arcade saves (*.dqn);;All files (*)"
STATUS_MS = 0
"""The watch's status stays until the next message replaces it."""

Stamp = tuple[int, int]
"""(size, modification time in ns) of the watched file."""


def file_stamp(path: str) -> Stamp | None:
    """The file's size and modification time, or None while it does not exist (the run has not saved yet)."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


class RunWatcher(QObject):
    """Follows the save file of a training run for `window` (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.path: str | None = None
        self._opened: Stamp | None = None
        """The stamp of the save the window last asked to open."""
        self._seen: Stamp | None = None
        """The stamp at the previous poll: a new save is opened once its stamp holds for one poll."""
        self.watch_action = window_action(
            window, "&Watch a Training Run…", "Follow a `dqn-arcade train` run (one process or Ape-X actors) "
            "from the save it writes every --save-every steps: its latest weights play here, its curves grow, "
            "and the file is never written by the window")
        self.watch_action.triggered.connect(self.choose)
        self.stop_action = window_action(window, "Stop &Watching", "Keep the agent shown now and stop following "
                                         "the run's saves")
        self.stop_action.triggered.connect(lambda: self.stop("stopped by you"))
        self.stop_action.setEnabled(False)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        window.worker.session_started.connect(self._on_session_started)
        window.mode_actions[Mode.TRAIN].toggled.connect(self._on_train_chosen)

    @property
    def watching(self) -> bool:
        return self.path is not None

    def add_to_menu(self, menu: QMenu) -> None:
        menu.addActions([self.watch_action, self.stop_action])

    # ------------------------------------------------------------------ starting and stopping

    def choose(self) -> None:
        """Ask about unsaved training here, then for the run's save file."""
        save_first = self._window.file_actions.confirm_discard("watch a training run")
        if save_first is None:
            return
        path, _ = QFileDialog.getOpenFileName(self._window, "Watch a training run's save", str(Path.cwd()),
                                              WATCH_FILTER)
        if path:
            self.start(path, save_first=save_first or None)
        elif save_first:
            self._window.worker.save(save_first)  # asked to save: done, even though nothing is watched

    def start(self, path: str, *, save_first: str | None = None) -> None:
        """Follow `path`; a file that does not exist yet is waited for (the run writes its first save later)."""
        self.path = str(Path(path).expanduser().resolve())
        self._opened = self._seen = None
        self.stop_action.setEnabled(True)
        stamp = file_stamp(self.path)
        if stamp is None:
            if save_first:
                self._window.worker.save(save_first)
            self._say(f"Waiting for {self._name()}: a training run writes it every --save-every steps")
        else:
            self._open(stamp, save_first)
        self._timer.start()

    def stop(self, reason: str) -> None:
        if self.path is None:
            return
        name = self._name()
        self.path = None
        self._timer.stop()
        self.stop_action.setEnabled(False)
        self._window.follow_session_change(watched=False)
        self._say(f"Stopped watching {name} ({reason})", 15000)

    # ------------------------------------------------------------------ following the file

    def _poll(self) -> None:
        if self.path is None:
            return
        stamp = file_stamp(self.path)
        if stamp is None or stamp == self._opened:
            self._seen = stamp
            return
        if stamp != self._seen:  # changed since the last look: wait until it holds still for one poll
            self._seen = stamp
            return
        self._open(stamp)

    def _open(self, stamp: Stamp, save_first: str | None = None) -> None:
        self._opened = self._seen = stamp
        self._window.worker.watch(self.path, save_first=save_first)

    def _on_session_started(self, info: SessionInfo) -> None:
        if self.path is None:
            return
        if not (info.watched and info.opened_from is not None and _same_file(info.opened_from, self.path)):
            self.stop("another agent was opened")
            return
        clock = time.strftime("%H:%M:%S")
        self._say(f"Watching {self._name()}: step {info.step_count:,} (opened at {clock}); the run's next "
                  "save replaces it. Ctrl+T trains a copy here instead")

    def _on_train_chosen(self, checked: bool) -> None:
        session = self._window.session
        if checked and self.path is not None and session is not None and session.watched:
            self.stop("training here makes it a separate agent: File > Save As keeps it")

    def show_failure(self, message: str) -> None:
        """A save that could not be opened (a damaged file, another game's save): said in the status bar; the
        watch goes on and takes the run's next save."""
        self._say(f"Cannot open {self._name()} yet: {message}", 15000)

    # ------------------------------------------------------------------ helpers

    def _name(self) -> str:
        return Path(self.path).name if self.path else ""

    def _say(self, message: str, timeout_ms: int = STATUS_MS) -> None:
        self._window.statusBar().showMessage(message, timeout_ms)


def _same_file(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()

