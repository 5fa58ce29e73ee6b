"""An Atari game's own settings: game mode, difficulty, sticky actions and the action set.

Machado et al. (2018, "Revisiting the Arcade Learning Environment") recommend sticky actions (each frame the
previous action repeats with probability 0.25) and use the games' modes and difficulties to test whether an
agent generalises. These settings are part of the environment, not of the agent: they travel with the env id
(the CLI's `--game`, the window's Game settings, a save's meta.json).

This module only parses and checks the values' form; which modes and difficulties a game has is ALE's answer
(`agents.envs.atari.game_choices`), checked when the game is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from agents.errors import ConfigError
from agents.validation import is_finite_number, is_int

MACHADO_STICKY = 0.25
"""repeat_action_probability of `ALE/<Game>-v5`, as Machado et al. 2018 recommend."""
MAX_SETTING = 255
"""ALE's modes and difficulties are one byte (the largest any game lists is 86)."""
ACTION_SETS = {"minimal": False, "full": True}
"""`actions=` value -> full_action_space."""
_ALIASES = {"repeat_action_probability": "sticky", "full_action_space": "actions"}
"""ale-py's own keyword names, accepted too."""
_KEYS = ("mode", "difficulty", "sticky", "actions")
_DEFAULT = "default"


@dataclass(frozen=True)
class GameOptions:
    """The settings of one Atari game; None means the default of the game (mode, difficulty) or of the id (sticky).

    `<Game>NoFrameskip-v4` ids default to sticky 0, the setting Stable-Baselines3 and CleanRL trained their
    agents on; any option, sticky included, may still be set on them.
    """

    mode: int | None = None
    """ALE game mode (`ale.getAvailableModes()`); None: the game's default mode."""
    difficulty: int | None = None
    """ALE difficulty switch (`ale.getAvailableDifficulties()`); None: the game's default difficulty."""
    sticky: float | None = None
    """repeat_action_probability: each emulator frame, the previous action repeats with this probability.
    None: 0.25 for `ALE/<Game>-v5` (Machado et al. 2018), 0 for `<Game>NoFrameskip-v4`."""
    full_action_space: bool = False
    """All 18 joystick actions instead of the game's minimal set (the Q-value names and key help follow)."""

    def __post_init__(self) -> None:
        for name in ("mode", "difficulty"):
            value = getattr(self, name)
            if value is not None and (not is_int(value) or not 0 <= value <= MAX_SETTING):
                raise ConfigError(f"game {name} {value!r:.40} is not a whole number from 0 to {MAX_SETTING}")
        sticky = self.sticky
        if sticky is not None and (not is_finite_number(sticky) or not 0.0 <= sticky <= 1.0):
            raise ConfigError(f"sticky {sticky!r:.40} is not a probability (choose 0 to 1)")
        if not isinstance(self.full_action_space, bool):
            raise ConfigError(f"full_action_space {self.full_action_space!r:.40} is not true or false")
        if sticky is not None:
            object.__setattr__(self, "sticky", float(sticky))

    @property
    def action_set(self) -> str:
        """"full" or "minimal"."""
        return "full" if self.full_action_space else "minimal"

    def summary(self) -> str:
        """One line for the status bar: "mode 2 · difficulty 1 · sticky 0.25 · full actions"."""
        mode = "default mode" if self.mode is None else f"mode {self.mode}"
        difficulty = "default difficulty" if self.difficulty is None else f"difficulty {self.difficulty}"
        sticky = "default sticky" if self.sticky is None else f"sticky {self.sticky:g}"
        return f"{mode} · {difficulty} · {sticky} · {self.action_set} actions"

    def to_text(self) -> str:
        """The `--game` text that gives these options back ("mode=2,difficulty=1,sticky=0.25,actions=full")."""
        parts = [f"mode={_text(self.mode)}", f"difficulty={_text(self.difficulty)}"]
        parts += [f"sticky={_text(self.sticky)}", f"actions={self.action_set}"]
        return ",".join(parts)

    def to_json(self) -> dict[str, Any]:
        """meta.json's "game_options"."""
        return {"mode": self.mode, "difficulty": self.difficulty, "sticky": self.sticky,
                "full_action_space": self.full_action_space}

    @classmethod
    def from_json(cls, data: Any) -> GameOptions:
        """Back from `to_json`; anything else (unknown keys, wrong types, NaN) is a one-line ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"game_options is {type(data).__name__}, not an object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ConfigError(f"unknown game option {unknown[0]!r:.60} (known: {', '.join(sorted(known))})")
        return cls(**data)


def parse_game_fields(texts: Iterable[str]) -> dict[str, Any]:
    """The fields `--game` texts set, later ones winning: "mode=2,difficulty=1", "sticky=0", "actions=full".

    Keys: mode, difficulty (a whole number or "default"), sticky (0 to 1, or "default"; alias
    repeat_action_probability), actions (full or minimal; alias full_action_space=true|false).
    """
    given: dict[str, Any] = {}
    for text in texts:
        for item in str(text).split(","):
            if not item.strip():
                continue
            key, value = _split_item(item)
            given.update(_field(key, value))
    GameOptions(**given)  # every value checked, before any environment is built
    return given


def parse_game_options(texts: Iterable[str], base: GameOptions | None = None) -> GameOptions:
    """`base` (default: every setting at its default) with the fields the texts set."""
    return replace(base or GameOptions(), **parse_game_fields(texts))


def _split_item(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key, value = key.strip().lower(), value.strip()
    if not sep or not key or not value:
        raise ConfigError(f"game option {item.strip()!r:.60} is not KEY=VALUE (keys: {', '.join(_KEYS)})")
    key = _ALIASES.get(key, key)
    if key not in _KEYS:
        raise ConfigError(f"unknown game option {key!r:.60} (choose {', '.join(_KEYS)})")
    return key, value


def _field(key: str, value: str) -> dict[str, Any]:
    if key == "actions":
        word = {"true": "full", "false": "minimal"}.get(value.lower(), value.lower())
        if word not in ACTION_SETS:
            raise ConfigError(f"actions={value:.40}: choose {' or '.join(ACTION_SETS)}")
        return {"full_action_space": ACTION_SETS[word]}
    if value.lower() == _DEFAULT:
        return {key: None}
    if key == "sticky":
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"sticky={value:.40} is not a number (choose 0 to 1)") from None
        if not math.isfinite(number) or not 0.0 <= number <= 1.0:
            raise ConfigError(f"sticky={value:.40} is not a probability (choose 0 to 1)")
        return {key: number}
    try:
        return {key: int(value)}
    except ValueError:
        raise ConfigError(f"{key}={value:.40} is not a whole number (or 'default')") from None


def _text(value: float | int | None) -> str:
    return _DEFAULT if value is None else f"{value:g}" if isinstance(value, float) else str(value)
