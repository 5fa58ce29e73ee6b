"""The "unsaved agent" question: it states what would be lost, and training holds still while it is open."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from app.training_loop import Speed
from app.worker import WorkerBase

COUNT_REFRESH_MS = 50
"""How often the open question re-reads the unsaved count until the loop confirms the pause (a command takes one
loop turn: a step at most)."""

Button = QMessageBox.StandardButton


def question_text(steps: int, doing: str, map_edited: bool = False) -> str:
    if steps == 0 and map_edited:
        return f"The map has edits that are not saved (a save of the agent carries them).\nSave it before you {doing}?"
    edits = " and the map has unsaved edits" if map_edited else ""
    return (f"The agent has {steps:,} training steps that are not saved{edits}; they are lost unless you save.\n"
            f"Save it before you {doing}?")


class UnsavedQuestion:
    """Asks whether to save an agent's unsaved training before something replaces it.

    The loop is told to pause as the question opens (otherwise the count it states goes on growing while the
    person reads it), and is set back to the window's speed once it is answered, whatever the answer. The pause
    lands a loop turn later; until the worker reports it, the open question re-reads the count, so the number on
    screen when the person answers is the final one. The question's own modal loop delivers the worker's news.
    """

    def __init__(self, parent: QWidget, worker: WorkerBase, map_edited: Callable[[], bool] = lambda: False) -> None:
        self._parent = parent
        self._worker = worker
        self._map_edited = map_edited
        """Whether the gridworld has map edits no save holds yet (the map editor's)."""

    def ask(self, doing: str, resume_speed: Speed) -> Button:
        """Save, Discard or Cancel; Discard without asking when nothing is unsaved."""
        if self._worker.unsaved_steps() == 0 and not self._map_edited():
            return Button.Discard
        self._worker.set_speed(Speed.PAUSED)
        text = question_text(self._worker.unsaved_steps(), doing, self._map_edited())
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved agent", text,
                          Button.Save | Button.Discard | Button.Cancel, self._parent)
        box.setDefaultButton(Button.Save)
        self._follow_count(box, doing)
        try:
            return Button(box.exec())
        finally:
            box.deleteLater()
            self._worker.set_speed(resume_speed)

    def _follow_count(self, box: QMessageBox, doing: str) -> None:
        """Keep the count in `box` current until the loop reports it is paused (the count then is final)."""
        timer = QTimer(box)
        timer.setInterval(COUNT_REFRESH_MS)

        def refresh() -> None:
            paused = self._worker.speed is Speed.PAUSED  # read first: a count read after it is final
            box.setText(question_text(self._worker.unsaved_steps(), doing, self._map_edited()))
            if paused:
                timer.stop()

        timer.timeout.connect(refresh)
        timer.start()
