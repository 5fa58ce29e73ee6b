"""Key map: the set of held keys -> the ALE action, built from the action names alone."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.keymap import KeyMap, split_action_name

K = Qt.Key
FULL = ["NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT", "UPFIRE",
        "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE"]
PONG = ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
BREAKOUT = ["NOOP", "FIRE", "RIGHT", "LEFT"]
GRID = ["UP", "RIGHT", "DOWN", "LEFT"]


def held(names: list[str], *keys: Qt.Key) -> str:
    keymap = KeyMap(names, per_press=False)
    for key in keys:
        keymap.press(key)
    return names[keymap.action()]


def test_nothing_held_is_noop():
    assert held(FULL) == "NOOP"


@pytest.mark.parametrize(("keys", "expected"), [
    ((K.Key_Up,), "UP"),
    ((K.Key_W,), "UP"),
    ((K.Key_Space,), "FIRE"),
    ((K.Key_Up, K.Key_Space), "UPFIRE"),
    ((K.Key_Up, K.Key_Right), "UPRIGHT"),
    ((K.Key_D, K.Key_W), "UPRIGHT"),
    ((K.Key_Up, K.Key_Right, K.Key_Space), "UPRIGHTFIRE"),
    ((K.Key_Down, K.Key_Left, K.Key_Space), "DOWNLEFTFIRE"),
    ((K.Key_S, K.Key_A), "DOWNLEFT"),
    ((K.Key_Up, K.Key_Down), "NOOP"),
    ((K.Key_Up, K.Key_Down, K.Key_Space), "FIRE"),
])
def test_combinations_on_the_full_action_set(keys, expected):
    assert held(FULL, *keys) == expected


def test_release_updates_the_action():
    keymap = KeyMap(FULL, per_press=False)
    keymap.press(K.Key_Up)
    keymap.press(K.Key_Space)
    assert FULL[keymap.action()] == "UPFIRE"
    keymap.release(K.Key_Up)
    assert FULL[keymap.action()] == "FIRE"
    keymap.release(K.Key_Space)
    assert FULL[keymap.action()] == "NOOP"


def test_missing_combinations_fall_back_to_the_direction():
    assert held(BREAKOUT, K.Key_Right, K.Key_Space) == "RIGHT"
    assert held(PONG, K.Key_Right, K.Key_Space) == "RIGHTFIRE"
    assert held(PONG, K.Key_Up) == "NOOP"
    assert held(PONG, K.Key_Up, K.Key_Space) == "FIRE"


def test_unmapped_keys_are_ignored():
    keymap = KeyMap(BREAKOUT, per_press=False)
    assert not keymap.press(K.Key_Q)
    assert keymap.handles(K.Key_Left)
    assert not KeyMap(GRID, per_press=True).handles(K.Key_Space)


def test_clear_forgets_held_keys():
    keymap = KeyMap(FULL, per_press=False)
    keymap.press(K.Key_Left)
    keymap.clear()
    assert FULL[keymap.action()] == "NOOP"


def test_gridworld_moves_one_step_per_press():
    keymap = KeyMap.for_env(GRID, "gridworld")
    assert keymap.per_press
    assert GRID[keymap.action_for_press(K.Key_Up)] == "UP"
    assert GRID[keymap.action_for_press(K.Key_D)] == "RIGHT"
    assert GRID[keymap.action_for_press(K.Key_Down)] == "DOWN"
    assert GRID[keymap.action_for_press(K.Key_A)] == "LEFT"
    assert keymap.action_for_press(K.Key_Q) is None
    assert not KeyMap.for_env(FULL, "atari").per_press


def test_bindings_list_every_action_by_name():
    lines = KeyMap(FULL, per_press=False).bindings()
    assert [name for _, name in lines] == FULL
    keys = dict((name, keys) for keys, name in lines)
    assert keys["UPRIGHTFIRE"] == "↑/W + →/D + Space"
    assert keys["NOOP"] == "no key"
    assert [name for _, name in KeyMap(GRID, per_press=True).bindings()] == GRID


def test_split_action_name():
    assert split_action_name("DOWNLEFTFIRE") == ("DOWN", "LEFT", "FIRE")
    assert split_action_name("NOOP") is None
