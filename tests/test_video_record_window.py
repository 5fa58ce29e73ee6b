"""File > Record video in the real window: what the game view shows becomes a video that decodes back to the
pictures counted, a new session ends it with the file kept, and a folder that cannot be written is one warning."""

from __future__ import annotations

import cv2
import numpy as np

from app.training_loop import Speed
from app.video_record import GIF_FILTER, MP4_FILTER, video_path
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 - dialogs: autouse


def decoded_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


def test_the_dialogs_file_type_gives_a_name_without_one_its_suffix(tmp_path) -> None:
    assert video_path(str(tmp_path / "clip"), MP4_FILTER).name == "clip.mp4"
    assert video_path(str(tmp_path / "clip"), GIF_FILTER).name == "clip.gif"
    assert video_path(str(tmp_path / "clip.GIF"), MP4_FILTER).name == "clip.GIF"


def test_recording_the_view_writes_every_picture_shown(qtbot, dialogs, tmp_path) -> None:  # noqa: F811
    win = open_window(qtbot)
    action = win.video_record.action
    assert action in win.menuBar().actions()[0].menu().actions()
    shown = []
    win.game_view.frame_shown.connect(shown.append)
    win.set_speed(Speed.FAST)
    dialogs.save_path = str(tmp_path / "clips" / "rooms")  # no suffix: the patched dialog's type is MP4's
    action.trigger()
    assert action.isChecked() and win.video_record.recording is not None
    qtbot.waitUntil(lambda: len(shown) >= 30, timeout=WAIT_MS)
    action.trigger()  # stop
    assert not action.isChecked() and win.video_record.recording is None
    message = win.statusBar().currentMessage()
    assert "Recorded" in message and "rooms.mp4" in message
    frames = decoded_frames(tmp_path / "clips" / "rooms.mp4")
    assert len(frames) == len(shown)  # nothing dropped at 8 frames a second of gridworld
    picture = win.game_view.image()
    assert frames[0].shape[0] >= picture.height()  # the view's picture and its HUD line, with the Q bars beside
    assert frames[0].shape[1] > picture.width()
    assert len({frame.tobytes() for frame in frames}) > 5  # the agent moves
    win.close()


def test_a_new_session_ends_the_recording_and_keeps_the_file(qtbot, dialogs, tmp_path) -> None:  # noqa: F811
    win = open_window(qtbot)
    win.set_speed(Speed.FAST)
    assert win.video_record.start(tmp_path / "before.gif")
    qtbot.waitUntil(lambda: win.video_record.recording.frames >= 5, timeout=WAIT_MS)
    win.switch_env("gridworld/open-room")
    qtbot.waitUntil(lambda: win.video_record.recording is None, timeout=WAIT_MS)
    assert not win.video_record.action.isChecked()
    assert "ended the recording" in win.statusBar().currentMessage()
    assert (tmp_path / "before.gif").stat().st_size > 0
    win.close()


def test_a_folder_that_cannot_be_written_is_one_warning(qtbot, dialogs, tmp_path) -> None:  # noqa: F811
    win = open_window(qtbot)
    (tmp_path / "blocker").write_text("a file, not a folder")
    dialogs.save_path = str(tmp_path / "blocker" / "clip.mp4")
    win.video_record.action.trigger()
    assert not win.video_record.action.isChecked()
    assert len(dialogs.warnings) == 1 and "cannot write in" in dialogs.warnings[0][1]
    win.close()
