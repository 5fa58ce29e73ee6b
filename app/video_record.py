"""File > Record video: what the game view shows, with the HUD line, the overlay that is on and the Q-value bars,
written as an .mp4 or a .gif (app.recording.LiveRecording, on a thread of its own) until the switch is pressed
again. A new environment or agent ends the recording (its pictures and actions would not fit the video); closing
the window finishes it too, so nothing recorded is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from agents.errors import ArcadeError
from app.curve_export import suggested_stem
from app.game_view import GameView
from app.recording import LiveRecording
from app.training_loop import SessionInfo
from app.view_frame import ViewFrame
from app.window_actions import window_action

log = logging.getLogger(__name__)

MP4_FILTER = "MP4 video (*.mp4)"
GIF_FILTER = "GIF animation, at most a minute (*.gif)"
MESSAGE_MS = 10000
TIP = ("Record what the game view shows, with the Q-value bars and the overlay, as an MP4 or GIF; press again to"
       " stop. Atari is written at the game's 60 frames/s (real time at normal speed), gridworlds at 8")


def video_path(path: str, chosen_filter: str) -> Path:
    """The dialog's answer with the suffix its file type implies when the name has none of ours."""
    target = Path(path)
    if target.suffix.lower() in (".mp4", ".gif"):
        return target
    return target.with_name(target.name + (".gif" if chosen_filter == GIF_FILTER else ".mp4"))


class VideoRecord(QObject):
    """The checkable Record video action of `window`; `view` says what is shown (its `frame_shown` signal)."""

    recording_changed = Signal(bool)

    def __init__(self, window: QMainWindow, view: GameView, session: Callable[[], SessionInfo | None]) -> None:
        super().__init__(window)
        self._window, self._view, self._session = window, view, session
        self._recording: LiveRecording | None = None
        self._started = 0.0
        self._session_id: int | None = None
        self.action = window_action(window, "Record &video…", TIP, shortcut="Ctrl+Shift+R", checkable=True)
        self.action.toggled.connect(self._on_toggled)
        view.frame_shown.connect(self._on_frame_shown)
        self._progress = QTimer(self)
        self._progress.setInterval(1000)
        self._progress.timeout.connect(self._show_progress)

    @property
    def recording(self) -> LiveRecording | None:
        return self._recording

    def start(self, path: str | Path) -> bool:
        """Begin recording to `path` (.mp4 or .gif); False, with the reason in the status bar, if it cannot."""
        session = self._session()
        if session is None:
            self._say("Nothing to record yet")
            return self._unchecked()
        try:
            self._recording = LiveRecording(path, session.description.kind, session.description.action_names)
        except ArcadeError as error:
            QMessageBox.warning(self._window, "Cannot record", str(error))
            return self._unchecked()
        self._started = time.perf_counter()
        self._session_id = session.session_id
        self._set_checked(True)
        self._progress.start()
        self._show_progress()
        self.recording_changed.emit(True)
        return True

    def stop(self, why: str = "", *, dialog: bool = True) -> str:
        """Finish the file; returns (and shows) what was written, or why nothing was (in a dialog too, unless the
        window is closing)."""
        recording, self._recording = self._recording, None
        self._progress.stop()
        self._set_checked(False)
        if recording is None:
            return ""
        try:
            report = recording.finish()
        except ArcadeError as error:
            message = f"The video was not saved: {error}"
            log.error(message)
            if dialog:
                QMessageBox.warning(self._window, "Recording failed", message)
        else:
            dropped = f", {recording.dropped:,} pictures dropped (the encoder fell behind)" if recording.dropped else ""
            message = (f"{why}Recorded {report.frames / report.fps:.1f} s ({report.frames:,} frames at "
                       f"{report.fps:g}/s) to {report.path}{dropped}")
        self._say(message)
        self.recording_changed.emit(False)
        return message

    def follow_session(self, info: SessionInfo) -> None:
        """A new session (another environment or agent, a restart): a recording of the old one ends here."""
        if self._recording is not None and info.session_id != self._session_id:
            self.stop("A new session ended the recording. ")

    def _on_toggled(self, on: bool) -> None:
        if on and self._recording is None:
            self._ask_and_start()
        elif not on and self._recording is not None:
            self.stop()

    def _ask_and_start(self) -> None:
        suggested = str(Path.cwd() / f"{suggested_stem(self._session())}.mp4")
        path, chosen = QFileDialog.getSaveFileName(self._window, "Record video", suggested,
                                                   f"{MP4_FILTER};;{GIF_FILTER}")
        if not path:
            self._unchecked()
            return
        self.start(video_path(path, chosen))

    def _on_frame_shown(self, frame: ViewFrame) -> None:
        recording = self._recording
        if recording is None:
            return
        recording.add(frame, self._view.options, self._view.status_text)
        if recording.over:
            self.stop("The recording is full. " if recording.error is None else "")

    def _show_progress(self) -> None:
        recording = self._recording
        if recording is not None:
            self._say(f"● Recording to {recording.path.name}: {recording.frames / recording.fps:.0f} s of video, "
                      f"{time.perf_counter() - self._started:.0f} s — press Ctrl+Shift+R to stop", 1500)

    def _unchecked(self) -> bool:
        self._set_checked(False)
        return False

    def _set_checked(self, on: bool) -> None:
        if self.action.isChecked() != on:
            self.action.blockSignals(True)
            self.action.setChecked(on)
            self.action.blockSignals(False)

    def _say(self, text: str, ms: int = MESSAGE_MS) -> None:
        self._window.statusBar().showMessage(text, ms)
