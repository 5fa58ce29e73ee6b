"""Keyboard -> action, built from the environment's action meanings (ALE conventions).

Pure logic, no widgets: the window feeds key presses and releases in, the worker reads the action out.
Atari actions are named by their parts (UP, DOWN, LEFT, RIGHT, FIRE: "UPRIGHTFIRE"), so the action for
a set of held keys is found by composing those parts, as ale-py's `get_keys_to_action` does.
Gridworld moves one cell per key press instead of following held keys, so a person can count steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt

DIRECTION_KEYS: dict[int, str] = {
    Qt.Key.Key_Up.value: "UP",
    Qt.Key.Key_W.value: "UP",
    Qt.Key.Key_Down.value: "DOWN",
    Qt.Key.Key_S.value: "DOWN",
    Qt.Key.Key_Left.value: "LEFT",
    Qt.Key.Key_A.value: "LEFT",
    Qt.Key.Key_Right.value: "RIGHT",
    Qt.Key.Key_D.value: "RIGHT",
}
FIRE_KEYS: frozenset[int] = frozenset({Qt.Key.Key_Space.value})

_KEY_LABELS = {"UP": "↑/W", "DOWN": "↓/S", "LEFT": "←/A", "RIGHT": "→/D", "FIRE": "Space"}
_OPPOSITE = {"UP": "DOWN", "DOWN": "UP", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def _key_code(key: int | Qt.Key) -> int:
    return key.value if isinstance(key, Qt.Key) else int(key)


def split_action_name(name: str) -> tuple[str, ...] | None:
    """"UPRIGHTFIRE" -> ("UP", "RIGHT", "FIRE"); None for names that are not made of ALE parts."""
    parts: list[str] = []
    rest = name.upper()
    while rest:
        part = next((p for p in ("UP", "DOWN", "LEFT", "RIGHT", "FIRE") if rest.startswith(p)), None)
        if part is None:
            return None
        parts.append(part)
        rest = rest[len(part):]
    return tuple(parts)


class KeyMap:
    """Tracks held keys and answers which action they ask for.

    `per_press` (gridworld) means each key press is one step: use `action_for_press`.
    Otherwise (Atari) the action follows the set of held keys: use `press`/`release` and `action`.
    """

    def __init__(self, action_names: Sequence[str], *, per_press: bool) -> None:
        self.action_names = tuple(str(name).upper() for name in action_names)
        self.per_press = per_press
        self._index = {name: i for i, name in enumerate(self.action_names)}
        self._held: set[int] = set()

    @classmethod
    def for_env(cls, action_names: Sequence[str], env_kind: str) -> KeyMap:
        """Gridworlds step once per press; everything else follows held keys at the game's own pace."""
        return cls(action_names, per_press=env_kind == "gridworld")

    def handles(self, key: int | Qt.Key) -> bool:
        """Whether `key` means anything in this game (FIRE keys only where a FIRE action exists)."""
        code = _key_code(key)
        if code in DIRECTION_KEYS:
            return True
        return code in FIRE_KEYS and any("FIRE" in (split_action_name(n) or ()) for n in self.action_names)

    def press(self, key: int | Qt.Key) -> bool:
        """Record a held key; returns whether the key belongs to the map."""
        if not self.handles(key):
            return False
        self._held.add(_key_code(key))
        return True

    def release(self, key: int | Qt.Key) -> bool:
        if not self.handles(key):
            return False
        self._held.discard(_key_code(key))
        return True

    def clear(self) -> None:
        """Forget held keys, e.g. when the window loses focus and would never see the releases."""
        self._held.clear()

    @property
    def held_parts(self) -> tuple[str, ...]:
        """The action parts the held keys ask for; opposite directions cancel each other."""
        wanted = {DIRECTION_KEYS[k] for k in self._held if k in DIRECTION_KEYS}
        wanted = {d for d in wanted if _OPPOSITE[d] not in wanted}
        if any(k in FIRE_KEYS for k in self._held):
            wanted.add("FIRE")
        return tuple(p for p in ("UP", "DOWN", "RIGHT", "LEFT", "FIRE") if p in wanted)

    def action(self) -> int:
        """The action for the held keys, NOOP (or action 0) when nothing usable is held."""
        for candidate in _fallbacks(self.held_parts):
            index = self._lookup(candidate)
            if index is not None:
                return index
        return self._index.get("NOOP", 0)

    def action_for_press(self, key: int | Qt.Key) -> int | None:
        """The one-step action of a single key press (gridworld), or None if the key means nothing."""
        code = _key_code(key)
        name = DIRECTION_KEYS.get(code) or ("FIRE" if code in FIRE_KEYS else None)
        return None if name is None else self._lookup((name,))

    def _lookup(self, parts: tuple[str, ...]) -> int | None:
        if not parts:
            return self._index.get("NOOP")
        vertical = [p for p in parts if p in ("UP", "DOWN")]
        horizontal = [p for p in parts if p in ("LEFT", "RIGHT")]
        fire = ["FIRE"] if "FIRE" in parts else []
        return self._index.get("".join(vertical + horizontal + fire))

    def bindings(self) -> list[tuple[str, str]]:
        """(keys, action name) for every action, in the environment's order: the key-help overlay's lines."""
        lines = []
        for name in self.action_names:
            parts = split_action_name(name)
            if name == "NOOP":
                keys = "no key"
            elif parts is None:
                keys = "-"
            else:
                keys = " + ".join(_KEY_LABELS[p] for p in parts)
            lines.append((keys, name))
        return lines

    def help_title(self) -> str:
        if self.per_press:
            return "Human play: one step per key press"
        return "Human play: hold keys; combine them for diagonals and FIRE"


def _fallbacks(parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Ways to honour held keys when the game lacks the exact combination, most complete first.

    Breakout has no RIGHTFIRE, so RIGHT + Space moves right (direction before fire, as a player expects).
    """
    if not parts:
        return [()]
    directions = tuple(p for p in parts if p != "FIRE")
    fire = ("FIRE",) if "FIRE" in parts else ()
    candidates = [parts, directions]
    candidates += [(d, *fire) for d in directions] + [(d,) for d in directions]
    return [*candidates, fire, ()]
