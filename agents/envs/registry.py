"""One id scheme for every environment: `gridworld/<name>`, a path to a `.txt` map, or `ALE/<Game>-v5`."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gymnasium as gym

from agents.envs.atari import (
    FRAME_STACK,
    NOFRAMESKIP_V4,
    ale_env_ids,
    check_ale_id,
    close_ids,
    is_atari_id,
    make_atari_env,
    resolve_game_options,
)
from agents.envs.game_options import GameOptions
from agents.envs.gridworld import GridWorldEnv, load_map, parse_map
from agents.errors import ConfigError, UnknownEnvError

GRIDWORLD_PREFIX = "gridworld/"
EnvKind = Literal["gridworld", "atari"]


@dataclass(frozen=True)
class EnvDescription:
    """What an agent and the window need to know about an environment."""

    env_id: str
    kind: EnvKind
    name: str
    """Display name, e.g. "Four rooms" or "Pong"."""
    action_names: tuple[str, ...]
    obs_shape: tuple[int, ...]
    frame_stack: int
    """Frames stacked in one observation: 4 for Atari, 1 for gridworlds (their channels are not frames)."""
    game_options: GameOptions | None = None
    """Atari: the game's mode, difficulty, sticky actions and action set, sticky filled in; None for gridworlds."""


def maps_dir() -> Path:
    """The folder of built-in maps: the first of `map_dirs()` that exists (else the source-tree one)."""
    candidates = map_dirs()
    return next((path for path in candidates if path.is_dir()), candidates[0])


def map_dirs() -> tuple[Path, ...]:
    """Where built-in maps may live: `assets/gridworlds` of a source or editable install, then package data
    (`agents/envs/gridworlds` or `agents/assets/gridworlds`), then `<prefix>/share/dqn-arcade/gridworlds`."""
    here = Path(__file__).resolve().parent
    return (
        here.parents[1] / "assets" / "gridworlds",
        here / "gridworlds",
        here.parent / "assets" / "gridworlds",
        Path(sys.prefix) / "share" / "dqn-arcade" / "gridworlds",
    )


def builtin_maps() -> dict[str, Path]:
    """Built-in map name -> file, sorted by name."""
    return {path.stem: path for path in sorted(maps_dir().glob("*.txt"))}


def list_env_ids() -> list[str]:
    """Built-in gridworlds first, then every ALE v5 game."""
    return [GRIDWORLD_PREFIX + name for name in builtin_maps()] + ale_env_ids()


def env_kind(env_id: str) -> EnvKind:
    """"atari" for ALE ids, "gridworld" otherwise (built-in or map file); does not check existence."""
    return "atari" if is_atari_id(env_id) else "gridworld"


def make_env(env_id: str, *, render_mode: str | None = "rgb_array", seed: int | None = None,
             map_text: str | None = None, game: GameOptions | None = None) -> gym.Env:
    """Build the environment an id names. A gridworld's `map_text` (what a save holds: the map it was trained
    on, edits included) wins over the file or built-in map of that name, which may have changed since.

    `game` sets an Atari game's mode, difficulty, sticky actions and action set; a gridworld refuses any but
    the defaults."""
    env: gym.Env
    if not is_atari_id(env_id):
        check_no_game_options(env_id, game)
    if map_text is not None and (env_id.endswith(".txt") or env_id.startswith(GRIDWORLD_PREFIX)):
        name = Path(env_id).stem if env_id.endswith(".txt") else env_id[len(GRIDWORLD_PREFIX):]
        env = GridWorldEnv(parse_map(map_text, source=env_id, name=name), render_mode=render_mode)
    elif env_id.endswith(".txt"):
        env = GridWorldEnv(load_map(env_id), render_mode=render_mode)
    elif env_id.startswith(GRIDWORLD_PREFIX):
        path = builtin_maps().get(env_id[len(GRIDWORLD_PREFIX):])
        if path is None:
            raise _unknown(env_id)
        env = GridWorldEnv(load_map(path), render_mode=render_mode)
    elif env_id.startswith("ALE/"):
        if env_id not in ale_env_ids():
            raise _unknown(env_id)
        env = make_atari_env(env_id, render_mode=render_mode, seed=seed, game=game)
    elif NOFRAMESKIP_V4.fullmatch(env_id):  # what SB3 and CleanRL models were trained on (agents.foreign_models)
        env = make_atari_env(env_id, render_mode=render_mode, seed=seed, game=game)
    else:
        raise _unknown(env_id)
    if seed is not None:
        env.action_space.seed(seed)
    return env


def check_no_game_options(env_id: str, game: GameOptions | None) -> None:
    """Mode, difficulty, sticky actions and the action set are ALE's: a gridworld takes only the defaults."""
    if game is not None and game != GameOptions():
        raise ConfigError(f"game options ({game.to_text()}) are for Atari games only; {env_id} is a gridworld")


def describe_env(env_id: str, env: gym.Env, game: GameOptions | None = None) -> EnvDescription:
    """Names, shapes and kind of a built environment; `game` is what it was built with (see make_env)."""
    kind = env_kind(env_id)
    return EnvDescription(
        env_id=env_id,
        kind=kind,
        name=display_name(env_id),
        action_names=tuple(env.unwrapped.get_action_meanings()),
        obs_shape=tuple(int(n) for n in env.observation_space.shape),
        frame_stack=FRAME_STACK if kind == "atari" else 1,
        game_options=resolve_game_options(env_id, game) if kind == "atari" else None,
    )


def check_actions_fit(agent_actions: Sequence[str], description: EnvDescription, what: str) -> None:
    """A saved agent acts in the action set it was trained on: the same names, in the same order, or a one-line
    ConfigError (e.g. a minimal-set Pong agent asked to play with the full set)."""
    names = tuple(agent_actions)
    if names == description.action_names:
        return
    options = description.game_options
    actions = f" with the {options.action_set} action set" if options is not None else ""
    raise ConfigError(f"{what} has {len(names)} actions ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})"
                      f", {description.env_id}{actions} has {len(description.action_names)}: choose the action set"
                      f" the agent was trained with")


def display_name(env_id: str) -> str:
    """"ALE/SpaceInvaders-v5" -> "Space Invaders"; "BreakoutNoFrameskip-v4" -> "Breakout (NoFrameskip-v4)";
    "gridworld/four-rooms" -> "Four rooms"."""
    if env_id.startswith("ALE/"):
        return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", _game(env_id))
    if NOFRAMESKIP_V4.fullmatch(env_id):
        return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", env_id.removesuffix("NoFrameskip-v4")) + " (NoFrameskip-v4)"
    stem = Path(env_id).stem if env_id.endswith(".txt") else env_id[len(GRIDWORLD_PREFIX):]
    return stem.replace("-", " ").replace("_", " ").strip().capitalize()


def _game(env_id: str) -> str:
    """"ALE/Pong-v5" -> "Pong"."""
    return env_id[len("ALE/"):].rsplit("-v", 1)[0]


def suggestions(env_id: str, limit: int = 3) -> list[str]:
    """Known ids close to `env_id` (any case, any prefix or version), best first."""
    return close_ids(env_id, list_env_ids(), limit)


def _unknown(env_id: str) -> UnknownEnvError:
    matches = suggestions(env_id)
    hint = f"; did you mean {', '.join(matches)}?" if matches else \
        "; run 'dqn-arcade envs' for the list (or give a path to a .txt map)"
    return UnknownEnvError(f"unknown environment '{env_id}'{hint}")


def check_env_id(env_id: str) -> None:
    """The error make_env would raise for an id it cannot build (a map file is read and parsed), without
    starting an emulator: the window checks a launch argument with it before anything is on screen."""
    if env_id.endswith(".txt"):
        load_map(env_id)
    elif env_id.startswith(GRIDWORLD_PREFIX):
        if env_id[len(GRIDWORLD_PREFIX):] not in builtin_maps():
            raise _unknown(env_id)
    elif is_atari_id(env_id):
        check_ale_id(env_id)
    else:
        raise _unknown(env_id)
