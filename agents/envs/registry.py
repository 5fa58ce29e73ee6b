"""One id scheme for every environment: `gridworld/<name>`, a path to a `.txt` map, or `ALE/<Game>-v5`."""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gymnasium as gym

from agents.envs.atari import FRAME_STACK, ale_env_ids, make_atari_env
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
    """The built-in maps: `assets/gridworlds` beside the packages (an editable or source install)."""
    return Path(__file__).resolve().parents[2] / "assets" / "gridworlds"


def builtin_maps() -> dict[str, Path]:
    """Built-in map name -> file, sorted by name."""
    return {path.stem: path for path in sorted(maps_dir().glob("*.txt"))}


@functools.cache
def _ale_ids() -> tuple[str, ...]:
    return tuple(ale_env_ids())


def list_env_ids() -> list[str]:
    """Built-in gridworlds first, then every ALE v5 game."""
    return [GRIDWORLD_PREFIX + name for name in builtin_maps()] + list(_ale_ids())


def env_kind(env_id: str) -> EnvKind:
    """"atari" for ALE ids, "gridworld" otherwise (built-in or map file); does not check existence."""
    return "atari" if env_id.startswith("ALE/") else "gridworld"


def make_env(env_id: str, *, render_mode: str | None = "rgb_array", seed: int | None = None,
             map_text: str | None = None) -> gym.Env:
    """Build the environment an id names; `map_text` stands in for a map file that no longer exists."""
    if env_id.startswith(GRIDWORLD_PREFIX):
        name = env_id[len(GRIDWORLD_PREFIX):]
        path = builtin_maps().get(name)
        if path is None:
            raise _unknown(env_id)
        env: gym.Env = GridWorldEnv(load_map(path), render_mode=render_mode)
    elif env_id.startswith("ALE/"):
        if env_id not in _ale_ids():
            raise _unknown(env_id)
        env = make_atari_env(env_id, render_mode=render_mode, seed=seed)
    elif env_id.endswith(".txt"):
        grid = load_map(env_id) if map_text is None or Path(env_id).is_file() else parse_map(
            map_text, source=env_id, name=Path(env_id).stem)
        env = GridWorldEnv(grid, render_mode=render_mode)
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
    """"ALE/MontezumaRevenge-v5" -> "MontezumaRevenge"; "gridworld/four-rooms" -> "Four rooms"."""
    if env_id.startswith("ALE/"):
        return env_id[4:].rsplit("-v", 1)[0]
    stem = Path(env_id).stem if env_id.endswith(".txt") else env_id[len(GRIDWORLD_PREFIX):]
    return stem.replace("-", " ").replace("_", " ").capitalize()


def _unknown(env_id: str) -> UnknownEnvError:
    known = list_env_ids()
    by_lower = {k.lower(): k for k in known}
    matches = difflib.get_close_matches(env_id.lower(), list(by_lower), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(by_lower[m] for m in matches)}?" if matches else \
        "; run 'dqn-arcade envs' for the list (or give a path to a .txt map)"
    return UnknownEnvError(f"unknown environment '{env_id}'{hint}")
