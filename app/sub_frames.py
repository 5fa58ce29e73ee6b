"""The emulator frames inside one skipped Atari step, so the window can show the game at its own 60 frames/s.

DQN's Atari preprocessing repeats each action for 4 emulator frames (frame skip) and returns one observation;
`env.render()` then shows only the last of the 4 screens. A person playing (or watching at normal speed) sees
15 pictures a second that way. A recorder placed under `AtariPreprocessing` keeps the screen after every
emulator frame while it is switched on, and the window plays those screens back at 60 Hz. Qt-free: it runs in
the training process.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing

from agents.envs.atari import FRAME_SKIP


class SubFrameRecorder(gym.Wrapper):
    """Sits between `AtariPreprocessing` and the emulator; keeps the last `FRAME_SKIP` screens while recording."""

    rewind_ignores = ("recording", "_screens")
    """Stepping back (agents.rewind) leaves the loop's switch and the screens not yet shown alone."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.recording = False
        self._screens: deque[np.ndarray] = deque(maxlen=FRAME_SKIP)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        result = self.env.step(action)
        if self.recording:
            self._screens.append(self.env.unwrapped.ale.getScreenRGB())  # a fresh (210, 160, 3) copy
        return result

    def take(self) -> list[np.ndarray]:
        """The screens recorded since the last call (at most one step's), oldest first."""
        screens = list(self._screens)
        self._screens.clear()
        return screens


def attach_recorder(env: gym.Env) -> SubFrameRecorder | None:
    """Put a recorder under the environment's `AtariPreprocessing`; None for environments without frame skip."""
    node: Any = env
    while isinstance(node, gym.Wrapper):
        if isinstance(node, AtariPreprocessing):
            recorder = SubFrameRecorder(node.env)
            node.env = recorder  # AtariPreprocessing steps `self.env` FRAME_SKIP times and reads the ALE directly
            return recorder
        node = node.env
    return None
