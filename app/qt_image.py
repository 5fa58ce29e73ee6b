"""NumPy pictures to Qt images, plus the tiny drawings of observations the panels show.

Qt images made from a NumPy buffer only borrow its memory; every function here returns a copy so the
array may be freed or reused by the worker while Qt still paints the image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

GRID_COLOURS = np.array(
    [
        (246, 246, 240),  # floor
        (60, 64, 72),  # wall
        (52, 120, 246),  # agent
        (46, 170, 90),  # goal
        (226, 82, 50),  # lava
    ],
    dtype=np.uint8,
)
"""Floor, then one colour per gridworld observation channel (walls, agent, goals, lava)."""


def array_to_qimage(array: np.ndarray) -> QImage:
    """A Qt-owned copy of an (H, W, 3) RGB or (H, W) grey uint8 picture."""
    data = np.ascontiguousarray(array, dtype=np.uint8)
    if data.ndim == 2:
        height, width = data.shape
        image = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8)
    elif data.ndim == 3 and data.shape[2] == 3:
        # 32-bit pixels (B, G, R, 255 in memory: Format_RGB32), the format Qt paints without converting: an
        # RGB888 image is converted at every paint, in segments on Qt's thread pool, which on two cores
        # preempted the GUI thread thousands of times a second and took CPU from the training process.
        height, width = data.shape[:2]
        pixels = np.empty((height, width, 4), np.uint8)
        pixels[..., :3] = data[..., ::-1]
        pixels[..., 3] = 255
        image = QImage(pixels.data, width, height, 4 * width, QImage.Format.Format_RGB32)
    else:
        raise ValueError(f"expected an (H, W) or (H, W, 3) uint8 array, got shape {data.shape}")
    return image.copy()


def bgra_to_qimage(data: bytes, width: int, height: int, bytes_per_line: int) -> QImage:
    """A Qt-owned copy of 32-bit pixels laid out B, G, R, A in memory (pygame's native surfaces)."""
    return QImage(data, width, height, bytes_per_line, QImage.Format.Format_RGB32).copy()


def grid_observation_to_rgb(obs: np.ndarray) -> np.ndarray:
    """Colour a (4, H, W) gridworld observation: walls, agent, goal, lava over a light floor.

    Later channels win where they overlap, so the agent stays visible on a goal or lava cell.
    """
    channels = np.asarray(obs) > 0
    index = np.zeros(channels.shape[1:], dtype=np.intp)
    for channel in (0, 2, 3, 1):  # walls, goals, lava, then the agent on top
        index[channels[channel]] = channel + 1
    return GRID_COLOURS[index]


def observation_thumbnail(frame: np.ndarray, size: int = 40) -> QImage:
    """A small picture of one stored frame: a coloured gridworld (about `size` px) or a grey Atari screen."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[0] == 4:
        rgb = grid_observation_to_rgb(frame)
        cell = max(1, size // max(rgb.shape[:2]))
        return array_to_qimage(np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1))
    if frame.ndim == 3:
        frame = frame[-1]
    if frame.dtype != np.uint8:
        frame = np.clip(frame * 255.0, 0, 255).astype(np.uint8)
    return array_to_qimage(frame)
