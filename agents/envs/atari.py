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
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from agents.envs.game_options import MACHADO_STICKY, GameOptions
from agents.errors import ConfigError, UnknownEnvError

FRAME_STACK = 4
SCREEN_SIZE = 84
FRAME_SKIP = 4
NOOP_MAX = 30


def ale_env_ids() -> list[str]:
    """Every `ALE/<Game>-v5` id that the installed ale-py ships, sorted."""
    return list(_ale_ids())


def is_atari_id(env_id: str) -> bool:
    """An ALE v5 id ("ALE/Pong-v5") or a v4 "NoFrameskip" one ("PongNoFrameskip-v4"), by its form."""
    return env_id.startswith("ALE/") or NOFRAMESKIP_V4.fullmatch(env_id) is not None


NOFRAMESKIP_V4 = re.compile(r"[A-Za-z0-9]+NoFrameskip-v4")
"""The ids Stable-Baselines3, the RL Zoo and CleanRL train Atari agents on: no sticky actions, frame skip left to
the wrappers. DQN Arcade opens them with those libraries' preprocessing (see make_atari_env)."""


def noframeskip_id(env_id: str) -> str | None:
    """"ALE/Pong-v5" -> "PongNoFrameskip-v4" (the same game as SB3 and CleanRL trained it), when installed."""
    if NOFRAMESKIP_V4.fullmatch(env_id):
        return env_id
    match = re.fullmatch(r"ALE/([A-Za-z0-9]+)-v5", env_id)
    candidate = f"{match.group(1)}NoFrameskip-v4" if match else None
    return candidate if candidate in _v4_ids() else None


@functools.cache
def _v4_ids() -> tuple[str, ...]:
    _register_ale()
    return tuple(sorted(name for name in gym.registry if NOFRAMESKIP_V4.fullmatch(name)))


@functools.cache
def _ale_ids() -> tuple[str, ...]:
    _register_ale()
    return tuple(sorted(name for name in gym.registry if name.startswith("ALE/") and name.endswith("-v5")))


def _register_ale() -> None:
    import ale_py

    gym.register_envs(ale_py)


def check_ale_id(env_id: str) -> None:
    """UnknownEnvError (with close matches) unless `env_id` is an installed ALE v5 game or its NoFrameskip-v4 id."""
    if env_id in _ale_ids() or env_id in _v4_ids():
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


@dataclass(frozen=True)
class GameChoices:
    """The modes and difficulties one game's ROM offers, as ALE lists them (Machado et al. 2018, Table 8)."""

    modes: tuple[int, ...]
    difficulties: tuple[int, ...]


def game_choices(env_id: str) -> GameChoices:
    """ALE's available modes and difficulties of the game `env_id` names (v5 or NoFrameskip-v4)."""
    check_ale_id(env_id)
    return _rom_choices(gym.spec(env_id).kwargs["game"])


@functools.cache
def _rom_choices(game: str) -> GameChoices:
    """Read from the ROM itself (about 0.1 s, once per game): the emulator is loaded, not the gymnasium env."""
    import ale_py
    from ale_py import roms

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(roms.get_rom_path(game))
    return GameChoices(tuple(int(m) for m in ale.getAvailableModes()),
                       tuple(int(d) for d in ale.getAvailableDifficulties()))


def default_sticky(env_id: str) -> float:
    """0.25 for `ALE/<Game>-v5` (Machado et al. 2018); 0 for `<Game>NoFrameskip-v4`, as SB3 and CleanRL trained."""
    return 0.0 if NOFRAMESKIP_V4.fullmatch(env_id) else MACHADO_STICKY


def resolve_game_options(env_id: str, options: GameOptions | None) -> GameOptions:
    """`options` checked against the game's own modes and difficulties, with the id's sticky filled in.

    An unavailable mode or difficulty is a one-line ConfigError listing the valid ones.
    """
    options = options or GameOptions()
    choices = game_choices(env_id)
    game = _game_name(env_id)
    for word, value, valid in (("mode", options.mode, choices.modes),
                               ("difficulty", options.difficulty, choices.difficulties)):
        if value is not None and value not in valid:
            plural = "modes" if word == "mode" else "difficulties"
            raise ConfigError(f"{game} has no {word} {value} (valid {plural}: {', '.join(map(str, valid))})")
    return options if options.sticky is not None else replace(options, sticky=default_sticky(env_id))


def _game_name(env_id: str) -> str:
    """"ALE/SpaceInvaders-v5", "SpaceInvadersNoFrameskip-v4" -> "SpaceInvaders"."""
    return re.sub(r"^ALE/|-v5$|NoFrameskip-v4$", "", env_id)


def make_atari_env(env_id: str, *, render_mode: str | None = "rgb_array", seed: int | None = None,
                   game: GameOptions | None = None) -> gym.Env:
    """An ALE game preprocessed for DQN; obs is (4, 84, 84) uint8.

    `ALE/<Game>-v5`: sticky actions kept (Machado et al. 2018). `<Game>NoFrameskip-v4`: the setting of
    Stable-Baselines3's AtariWrapper and CleanRL's dqn_atari, for the agents they trained: no sticky actions, and
    on games with a FIRE button, FIRE (then action 2) after every reset and every lost life, as their
    FireResetEnv does on top of their EpisodicLifeEnv. Both: up to 30 no-op starts, frame skip 4 with max-pooling,
    84x84 greyscale (INTER_AREA), a stack of 4.

    `game` sets the mode, difficulty, sticky-action probability and action set (see GameOptions; checked against
    the ROM first). `render()` is the emulator's full-colour frame (210x160 for most games). Games whose action 0
    is not NOOP (Backgammon, VideoCheckers) start without random no-ops, which AtariPreprocessing requires.
    """
    check_ale_id(env_id)
    options = resolve_game_options(env_id, game)
    v4 = NOFRAMESKIP_V4.fullmatch(env_id) is not None
    settings: dict[str, Any] = {"repeat_action_probability": options.sticky,
                                "full_action_space": options.full_action_space}
    settings.update({name: value for name, value in (("mode", options.mode), ("difficulty", options.difficulty))
                     if value is not None})
    if not v4:
        settings["frameskip"] = 1
    env = gym.make(env_id, render_mode=render_mode, **settings)
    meanings = env.unwrapped.get_action_meanings()
    noop_max = NOOP_MAX if meanings[0] == "NOOP" else 0
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=FRAME_SKIP, screen_size=SCREEN_SIZE,
                             terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    if v4 and len(meanings) >= 3 and meanings[1] == "FIRE":
        env = FireOnStart(env)
    env = FrameStackObservation(env, FRAME_STACK)
    env = LearningSignal(env)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


class FireOnStart(gym.Wrapper):
    """After a reset, FIRE then action 2; after each lost life, NOOP, FIRE, then action 2: what Stable-Baselines3's
    FireResetEnv does on top of its EpisodicLifeEnv, whose reset after a lost life is one NOOP step (CleanRL uses
    the same wrappers). Games such as Breakout wait for FIRE to serve, and agents trained this way never learned to
    press it. The extra steps' rewards count toward the real score."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self._press((1, 2), obs, info)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        lives = self.env.unwrapped.ale.lives()
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated) and 0 < self.env.unwrapped.ale.lives() < lives:
            obs, extra, terminated, truncated, info = self._press((0, 1, 2), obs, info)
            reward += extra
        return obs, reward, terminated, truncated, info

    def _press(self, buttons: tuple[int, ...], obs: Any, info: dict[str, Any]
               ) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for button in buttons:
            obs, reward, terminated, truncated, info = self.env.step(button)
            total += float(reward)
            if terminated or truncated:
                return obs, total, terminated, truncated, info
        return obs, total, False, False, info
