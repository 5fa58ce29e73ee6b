"""ALE Atari games with the standard DQN preprocessing (Mnih et al. 2015; Machado et al. 2018).

No-op starts, frame skip 4 with max-pooling of the last two frames, 84x84 greyscale, a stack of 4.
Reward clipping and life loss as terminal are for learning only: the environment keeps the real
score and the real end of the game, and tells the learner through `info`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from agents.errors import UnknownEnvError

FRAME_STACK = 4
SCREEN_SIZE = 84
FRAME_SKIP = 4
NOOP_MAX = 30


def ale_env_ids() -> list[str]:
    """Every `ALE/<Game>-v5` id that the installed ale-py ships, sorted."""
    return list(_ale_ids())


@functools.cache
def _ale_ids() -> tuple[str, ...]:
    _register_ale()
    return tuple(sorted(name for name in gym.registry if name.startswith("ALE/") and name.endswith("-v5")))


def _register_ale() -> None:
    import ale_py

    gym.register_envs(ale_py)


def check_ale_id(env_id: str) -> None:
    """UnknownEnvError (with close matches) unless `env_id` is an installed ALE v5 game."""
    if env_id in _ale_ids():
        return
    matches = close_ids(env_id, _ale_ids())
    hint = f"; did you mean {', '.join(matches)}?" if matches else ""
    raise UnknownEnvError(f"unknown environment '{env_id}'{hint}")


def close_ids(query: str, known: Sequence[str], limit: int = 3) -> list[str]:
    """Ids in `known` close to `query`, best first: by game or map name (so "ALE/pong-v5", "Pong" and
    "PongNoFrameskip-v4" all find ALE/Pong-v5), else by the whole id. Names first keeps the shared
    "ALE/...-v5" from making every game look close."""
    by_name: dict[str, str] = {}
    for env_id in known:
        by_name.setdefault(_bare_name(env_id), env_id)
    names = difflib.get_close_matches(_bare_name(query), list(by_name), n=limit, cutoff=0.75)
    if names:
        return [by_name[m] for m in names]
    by_lower = {env_id.lower(): env_id for env_id in known}
    whole = difflib.get_close_matches(query.lower(), list(by_lower), n=limit, cutoff=0.75)
    return [by_lower[m] for m in whole]


def _bare_name(env_id: str) -> str:
    """"ALE/Pong-v5", "PongNoFrameskip-v4", "gridworld/Maze" -> "pong", "pong", "maze"."""
    name = env_id.strip().lower()
    for prefix in ("ale/", "gridworld/"):
        name = name.removeprefix(prefix)
    name = re.sub(r"-v\d+$", "", name)
    return re.sub(r"(noframeskip|deterministic)$", "", name)


class LearningSignal(gym.Wrapper):
    """Adds `learning_reward` (the sign of the reward) and `learning_terminated` (also on a lost life)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._lives = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        info["learning_reward"] = float(np.sign(reward))
        info["learning_terminated"] = bool(terminated or lives < self._lives)
        self._lives = lives
        return obs, reward, terminated, truncated, info


def make_atari_env(env_id: str, *, render_mode: str | None = "rgb_array", seed: int | None = None) -> gym.Env:
    """An ALE v5 game (sticky actions kept) preprocessed for DQN; obs is (4, 84, 84) uint8.

    `render()` is the emulator's full-colour frame (210x160 for most games). Games whose action 0 is not
    NOOP (Backgammon, VideoCheckers) start without random no-ops, which AtariPreprocessing requires.
    """
    check_ale_id(env_id)
    env = gym.make(env_id, frameskip=1, render_mode=render_mode)
    noop_max = NOOP_MAX if env.unwrapped.get_action_meanings()[0] == "NOOP" else 0
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=FRAME_SKIP, screen_size=SCREEN_SIZE,
                             terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    env = FrameStackObservation(env, FRAME_STACK)
    env = LearningSignal(env)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env
