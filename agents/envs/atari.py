"""ALE Atari games with the standard DQN preprocessing (Mnih et al. 2015; Machado et al. 2018).

No-op starts, frame skip 4 with max-pooling of the last two frames, 84x84 greyscale, a stack of 4.
Reward clipping and life loss as terminal are for learning only: the environment keeps the real
score and the real end of the game, and tells the learner through `info`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

FRAME_STACK = 4
SCREEN_SIZE = 84


def ale_env_ids() -> list[str]:
    """Every `ALE/<Game>-v5` id that the installed ale-py ships."""
    _register_ale()
    return sorted(env_id for env_id in gym.registry if env_id.startswith("ALE/") and env_id.endswith("-v5"))


def _register_ale() -> None:
    import ale_py

    gym.register_envs(ale_py)


class LearningSignal(gym.Wrapper):
    """Adds `learning_reward` (the sign of the reward) and `learning_terminated` (also on a lost life)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._lives = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        info["learning_reward"] = float(np.sign(reward))
        info["learning_terminated"] = bool(terminated or lives < self._lives)
        self._lives = lives
        return obs, reward, terminated, truncated, info


def make_atari_env(env_id: str, *, render_mode: str | None = "rgb_array", seed: int | None = None) -> gym.Env:
    """An ALE v5 game (sticky actions kept) preprocessed for DQN; obs is (4, 84, 84) uint8."""
    _register_ale()
    env = gym.make(env_id, frameskip=1, render_mode=render_mode)
    env = AtariPreprocessingKeepingRender(env)
    env = FrameStackObservation(env, FRAME_STACK)
    env = LearningSignal(env)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


class AtariPreprocessingKeepingRender(gym.wrappers.AtariPreprocessing):
    """gymnasium's AtariPreprocessing; render() still returns the full-colour frame of the emulator."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env, noop_max=30, frame_skip=4, screen_size=SCREEN_SIZE, terminal_on_life_loss=False,
                         grayscale_obs=True, scale_obs=False)


FrameStackObservation = gym.wrappers.FrameStackObservation
