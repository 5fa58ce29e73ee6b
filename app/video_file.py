"""Writing a recorded episode to an .mp4 (OpenCV's writer, MPEG-4 Part 2) or a .gif (Pillow). Qt-free.

The file appears whole or not at all: frames go to a temporary sibling that replaces the target only when the
recording finished, so a full disk, a bad folder or Ctrl-C never leaves half a video (nor destroys an old one).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from agents.errors import ArcadeError

VIDEO_SUFFIXES = (".mp4", ".gif")
GIF_FPS = 30.0
"""GIF delays are whole centiseconds and viewers clamp the shortest: 30 pictures a second plays evenly."""
GIF_MAX_WIDTH = 480
"""GIF frames are kept in memory until the end (Pillow writes them all at once): at most this wide."""
GIF_MAX_FRAMES = 1800
"""A minute at GIF_FPS (about 300 MB in memory at the widest): longer recordings belong in an .mp4."""


class RecordError(ArcadeError):
    """A recording that cannot be written: the message is one line for the user."""


def check_video_path(path: Path) -> None:
    """A one-line error now, before any episode is played, for a file name the writer cannot take."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise RecordError(f"cannot record to '{path.name}': choose a file ending in "
                          f"{' or '.join(VIDEO_SUFFIXES)}")
    if path.is_dir():
        raise RecordError(f"cannot record to '{path}': it is a folder")


class VideoFile:
    """`with VideoFile(path, fps) as video: video.write(rgb)...`: the file replaces `path` when the block ends
    without an error; `full` says when a GIF holds all it can (the caller stops recording)."""

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path = Path(path)
        check_video_path(self.path)
        self.gif = self.path.suffix.lower() == ".gif"
        self.fps = min(fps, GIF_FPS) if self.gif else fps
        self._every = max(1, round(fps / self.fps)) if self.gif else 1
        self._offered = 0
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        """(width, height) of the written frames, set by the first frame."""
        self._writer: cv2.VideoWriter | None = None
        self._gif_frames: list = []
        self._temp: Path | None = None

    @property
    def full(self) -> bool:
        return self.gif and self.frames_written >= GIF_MAX_FRAMES

    def __enter__(self) -> VideoFile:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}", dir=folder)
            os.close(fd)
        except OSError as error:
            raise RecordError(f"cannot write in '{folder}': {error.strerror or error}") from None
        self._temp = Path(name)
        return self

    def write(self, rgb: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 picture; every picture of a recording has the first one's size. A GIF keeps
        every k-th picture, so its 30 pictures a second play at the game's speed."""
        self._offered += 1
        if (self._offered - 1) % self._every or self.full:
            return
        picture = even_sized(_gif_sized(rgb) if self.gif else rgb)
        if self.size is None:
            self.size = (picture.shape[1], picture.shape[0])
            if not self.gif:
                self._open_mp4()
        if (picture.shape[1], picture.shape[0]) != self.size:
            raise ValueError(f"frame of {picture.shape[1]}x{picture.shape[0]}, the video is {self.size}")
        if self.gif:
            self._gif_frames.append(_gif_frame(picture))
        else:
            assert self._writer is not None
            self._writer.write(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def _open_mp4(self) -> None:
        assert self._temp is not None and self.size is not None
        self._writer = cv2.VideoWriter(str(self._temp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if not self._writer.isOpened():
            raise RecordError(f"OpenCV cannot write an MP4 video to '{self.path.parent}'")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if kind is None:
                self._finish()
        finally:
            if self._writer is not None:
                self._writer.release()
            if self._temp is not None and self._temp.exists():
                with contextlib.suppress(OSError):
                    self._temp.unlink()

    def _finish(self) -> None:
        assert self._temp is not None
        if self.frames_written == 0:
            raise RecordError("nothing was recorded")
        try:
            if self.gif:
                self._save_gif()
            else:
                assert self._writer is not None
                self._writer.release()
                self._writer = None
                _check_written(self._temp)
            os.replace(self._temp, self.path)
        except OSError as error:
            raise RecordError(f"cannot write '{self.path}': {error.strerror or error}") from None

    def _save_gif(self) -> None:
        assert self._temp is not None
        first, *rest = self._gif_frames
        first.save(self._temp, format="GIF", save_all=True, append_images=rest, loop=0,
                   duration=gif_durations(len(self._gif_frames), self.fps), disposal=1)


def even_sized(rgb: np.ndarray) -> np.ndarray:
    """MPEG-4's 4:2:0 colour needs even sides: one black row or column is added where a side is odd."""
    picture = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = picture.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return picture
    return np.pad(picture, ((0, height % 2), (0, width % 2), (0, 0)))


def gif_durations(count: int, fps: float) -> list[int]:
    """Per-frame delays in ms, multiples of 10 (a GIF's centiseconds), that add up to the exact time so far:
    at 30 fps 30, 40, 30, 30, 40, 30... rather than 30 throughout (a 10% faster clip)."""
    ends = [round((i + 1) * 100 / fps) * 10 for i in range(count)]
    return [end - start for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def _gif_sized(picture: np.ndarray) -> np.ndarray:
    height, width = picture.shape[:2]
    if width <= GIF_MAX_WIDTH:
        return picture
    size = (GIF_MAX_WIDTH, max(2, round(height * GIF_MAX_WIDTH / width)))
    return cv2.resize(np.ascontiguousarray(picture, dtype=np.uint8), size, interpolation=cv2.INTER_AREA)


def _gif_frame(picture: np.ndarray):
    from PIL import Image  # only GIFs need Pillow

    return Image.fromarray(picture).quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def _check_written(path: Path) -> None:
    """OpenCV reports a failed write (a full disk) only as a short file: read it back before it replaces the old."""
    capture = cv2.VideoCapture(str(path))
    try:
        readable = capture.isOpened() and capture.read()[0]
    finally:
        capture.release()
    if not readable:
        raise RecordError(f"the video could not be written to '{path.parent}' (is the disk full?)")
