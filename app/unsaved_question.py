"""The "unsaved agent" question: training holds still while it is open, and it states what would be lost."""

from __future__ import annotations

import time

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QMessageBox, QWidget

from app.training_loop import Speed
from app.worker import WorkerBase

PAUSE_WAIT_S = 1.0
"""How long to wait for the loop to confirm the pause: a command takes one loop turn (a step at most)."""

Button = QMessageBox.StandardButton


class UnsavedQuestion:
    """Asks whether to save an agent's unsaved training before something replaces it.

    The loop is paused for the question (otherwise the count the question states goes on growing while the
    person reads it), and set back to the window's speed once it is answered, whatever the answer.
    """

    def __init__(self, parent: QWidget, worker: WorkerBase) -> None:
        self._parent = parent
        self._worker = worker

    def ask(self, doing: str, resume_speed: Speed) -> Button:
        """Save, Discard or Cancel; Discard without asking when nothing is unsaved."""
        if self._worker.unsaved_steps() == 0:
            return Button.Discard
        self._pause()
        try:
            steps = self._worker.unsaved_steps()
            if steps == 0:
                return Button.Discard
            return QMessageBox.question(
                self._parent, "Unsaved agent",
                f"The agent has {steps:,} training steps that are not saved; they are lost unless you save.\n"
                f"Save it before you {doing}?",
                Button.Save | Button.Discard | Button.Cancel, Button.Save)
        finally:
            self._worker.set_speed(resume_speed)

    def _pause(self) -> None:
        """Pause the loop and wait (briefly, events flowing) until its status says it is paused, so the
        count read next is final."""
        self._worker.set_speed(Speed.PAUSED)
        deadline = time.monotonic() + PAUSE_WAIT_S
        while self._worker.speed is not Speed.PAUSED and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents, 10)
            time.sleep(0.005)
