"""One id scheme for every environment: `gridworld/<name>`, a path to a `.txt` map, or `ALE/<Game>-v5`."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gymnasium as gym

from agents.envs.atari import FRAME_STACK, NOFRAMESKIP_V4, ale_env_ids, close_ids, is_atari_id, make_atari_env
from agents.envs.gridworld import GridWorldEnv, load_map, parse_map
from agents.errors import UnknownEnvError

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
             map_text: str | None = None) -> gym.Env:
    """Build the environment an id names; `map_text` stands in for a map file that no longer exists."""
    env: gym.Env
    if env_id.endswith(".txt"):
        grid = load_map(env_id) if map_text is None or Path(env_id).is_file() else parse_map(
            map_text, source=env_id, name=Path(env_id).stem)
        env = GridWorldEnv(grid, render_mode=render_mode)
    elif env_id.startswith(GRIDWORLD_PREFIX):
        path = builtin_maps().get(env_id[len(GRIDWORLD_PREFIX):])
        if path is None:
            raise _unknown(env_id)
        env = GridWorldEnv(load_map(path), render_mode=render_mode)
    elif env_id.startswith("ALE/"):
        if env_id not in ale_env_ids():
            raise _unknown(env_id)
        env = make_atari_env(env_id, render_mode=render_mode, seed=seed)
    elif NOFRAMESKIP_V4.fullmatch(env_id):  # what SB3 and CleanRL models were trained on (agents.foreign_models)
        env = make_atari_env(env_id, render_mode=render_mode, seed=seed)
    else:
        raise _unknown(env_id)
    if seed is not None:
        env.action_space.seed(seed)
    return env


def describe_env(env_id: str, env: gym.Env) -> EnvDescription:
    """Names, shapes and kind of a built environment."""
    kind = env_kind(env_id)
    return EnvDescription(
        env_id=env_id,
        kind=kind,
        name=display_name(env_id),
        action_names=tuple(env.unwrapped.get_action_meanings()),
        obs_shape=tuple(int(n) for n in env.observation_space.shape),
        frame_stack=FRAME_STACK if kind == "atari" else 1,
    )


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
