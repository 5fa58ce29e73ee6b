"""The map editor in the real window (offscreen): paint with the mouse, undo, save the map, save the agent.

The loop runs in the window's child process, so what the environment holds is read from the frames it
publishes (the observation's wall plane), never from the child's objects.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from agents.checkpoint import read_save_info
from agents.envs.gridworld import WALL, load_map, map_to_text, parse_map, same_cells
from app.map_editor import FLUSH_MS, cell_at
from app.worker import Speed
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 (dialogs: the autouse fixture)

CELL = (3, 4)
"""A floor cell of open-room away from the start and the goal."""
ROW = [(5, 2), (5, 3), (5, 4), (5, 5)]
STROKE = [(4, col) for col in range(1, 9)]
"""A whole row of open-room's floor: 8 cells."""
GOAL = (6, 8)
"""open-room's only goal."""


@pytest.fixture
def window(qtbot):
    win = open_window(qtbot)
    win.set_speed(Speed.PAUSED)
    win.map_editor.edit_action.trigger()
    assert win.map_editor.edit_action.isChecked()
    yield win
    win.close()


def widget_point(win, cell: tuple[int, int]) -> QPoint:
    """The centre of a cell on screen: the picture's rectangle split into the grid's cells from the bottom
    (the picture may carry a header band above the board)."""
    view = win.game_view
    rect = view.image_rect()
    rows, cols = win.session.description.obs_shape[-2:]
    cell_w = rect.width() / cols
    board_top = rect.bottom() + 1 - cell_w * rows
    return QPoint(int(rect.left() + (cell[1] + 0.5) * cell_w), int(board_top + (cell[0] + 0.5) * cell_w))


def wall_at(win, cell) -> bool:
    return bool(win.game_view.frame.snapshot.observation[0][cell])


def colour_under(win, point: QPoint) -> tuple[int, int, int]:
    """The picture's pixel under a widget point, by the plain scaling Qt paints it with."""
    view = win.game_view
    rect, image = view.image_rect(), view.image()
    x = int((point.x() - rect.left()) * image.width() / rect.width())
    y = int((point.y() - rect.top()) * image.height() / rect.height())
    colour = image.pixelColor(x, y)
    return colour.red(), colour.green(), colour.blue()


def test_clicking_a_cell_paints_a_wall_that_undo_removes(window, qtbot):
    point = widget_point(window, CELL)
    assert cell_at(window.game_view, point.toPointF()) == CELL
    assert not wall_at(window, CELL)
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: wall_at(window, CELL), timeout=WAIT_MS)
    frame = window.game_view.frame
    assert np.isnan(frame.grid_values[CELL]) and frame.grid_actions[CELL] == -1  # V(s) and arrows follow
    qtbot.waitUntil(lambda: colour_under(window, point) == WALL, timeout=WAIT_MS)  # the click hit this cell
    QTest.keyClick(window.game_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not wall_at(window, CELL), timeout=WAIT_MS)
    assert not window.map_editor.undo_action.isEnabled()


def test_a_drag_paints_every_cell_it_crosses_and_undoes_as_one(window, qtbot):
    window.map_editor.choose_brush("L")
    view = window.game_view
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=widget_point(window, ROW[0]))
    QTest.mouseMove(view, widget_point(window, ROW[-1]))  # a fast drag: the cells between are painted too
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=widget_point(window, ROW[-1]))
    qtbot.waitUntil(lambda: all(view.frame.snapshot.observation[3][cell] for cell in ROW), timeout=WAIT_MS)
    window.map_editor.undo_action.trigger()
    qtbot.waitUntil(lambda: not view.frame.snapshot.observation[3].any(), timeout=WAIT_MS)


def test_painting_over_the_start_is_refused_in_one_line(window, qtbot):
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, (1, 1)))
    message = window.statusBar().currentMessage()
    assert "no start: the map needs exactly one S" in message and "\n" not in message
    assert window.map_editor.model.grid.start == (1, 1) and not window.map_editor.undo_action.isEnabled()


def test_save_map_as_writes_a_txt_that_reloads_identically(window, qtbot, dialogs, tmp_path):  # noqa: F811
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, CELL))
    qtbot.waitUntil(lambda: wall_at(window, CELL), timeout=WAIT_MS)
    dialogs.save_path = str(tmp_path / "my-room")  # no suffix: .txt is added
    window.map_editor.save_map_action.trigger()
    path = tmp_path / "my-room.txt"
    grid = load_map(path)
    assert same_cells(grid, window.map_editor.model.grid) and grid.walls[CELL]
    assert path.read_text(encoding="utf-8") == window.map_editor.model.text()
    assert not dialogs.warnings


def test_a_save_after_an_edit_reopens_with_the_edited_map(window, qtbot, dialogs, tmp_path):  # noqa: F811
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, CELL))
    qtbot.waitUntil(lambda: wall_at(window, CELL), timeout=WAIT_MS)
    path = tmp_path / "edited.dqn"
    dialogs.save_path = str(path)
    window.save_as()
    qtbot.waitUntil(lambda: window.session.save_path == str(path), timeout=WAIT_MS)
    edited = window.map_editor.model.text()
    assert read_save_info(path).map_text == edited
    first = window.session.session_id
    window.load(str(path))
    qtbot.waitUntil(lambda: window.session.session_id != first and window.game_view.frame is not None
                    and window.game_view.frame.snapshot.total_steps >= 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: wall_at(window, CELL), timeout=WAIT_MS)
    assert window.session.map_text == edited
    assert map_to_text(window.map_editor.model.grid) == edited and not window.map_editor.undo_action.isEnabled()
    assert parse_map(edited).walls[CELL]


def spy_on_edits(window, monkeypatch) -> list:
    """The cells of every edit_map command the editor sends (they still go to the loop)."""
    calls, send = [], window.worker.edit_map
    monkeypatch.setattr(window.worker, "edit_map", lambda session_id, cells: (calls.append(cells),
                                                                             send(session_id, cells)))
    return calls


def drag(window, qtbot, cells, *, pause_after: int | None = None) -> None:
    """Press on the first cell, move over every cell one by one (as a hand does), release on the last;
    with `pause_after`, the hand rests twice the flush interval after that many cells."""
    view = window.game_view
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=widget_point(window, cells[0]))
    for i, cell in enumerate(cells[1:], start=2):
        QTest.mouseMove(view, widget_point(window, cell))
        if i == pause_after:
            qtbot.wait(2 * FLUSH_MS)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=widget_point(window, cells[-1]))


def test_a_drag_over_8_cells_is_a_few_commands_and_one_undo(window, qtbot, monkeypatch):
    calls = spy_on_edits(window, monkeypatch)
    drag(window, qtbot, STROKE, pause_after=4)
    assert 1 <= len(calls) <= 3, calls  # one at the rest, one at the release: not one a cell
    assert sorted(cell for command in calls for cell, _ in command) == STROKE
    qtbot.waitUntil(lambda: all(wall_at(window, cell) for cell in STROKE), timeout=WAIT_MS)
    assert all(window.map_editor.model.grid.walls[cell] for cell in STROKE)
    window.map_editor.undo_action.trigger()
    qtbot.waitUntil(lambda: not any(wall_at(window, cell) for cell in STROKE), timeout=WAIT_MS)
    assert len(calls) <= 4 and not window.map_editor.undo_action.isEnabled()  # the stroke was one undo step


def test_a_quick_drag_is_one_command(window, qtbot, monkeypatch):
    calls = spy_on_edits(window, monkeypatch)
    drag(window, qtbot, STROKE)
    assert len(calls) == 1 and len(calls[0]) == len(STROKE)
    qtbot.waitUntil(lambda: all(wall_at(window, cell) for cell in STROKE), timeout=WAIT_MS)


def test_a_refused_edit_takes_back_the_live_map_and_says_so_in_the_status_bar(window, qtbot):
    editor = window.map_editor
    live = editor.model.grid
    editor.model.paint((2, 5), "G")  # the model drifts from the loop (a lost command): a goal only it has
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, GOAL))
    # Fine by the model (its other goal remains), refused by the loop: its only goal would go.
    qtbot.waitUntil(lambda: same_cells(editor.model.grid, live), timeout=WAIT_MS)
    assert not editor.undo_action.isEnabled()  # the history described a map the loop never had
    editor.show_edit_failure("cannot paint a wall at row 7, column 9: no goal: the map needs at least one G")
    message = window.statusBar().currentMessage()
    assert message.startswith("Cannot edit the map: cannot paint a wall") and "\n" not in message
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, CELL))
    qtbot.waitUntil(lambda: wall_at(window, CELL), timeout=WAIT_MS)  # and editing goes on from the live map
    assert editor.model.grid.goals[GOAL] and not editor.model.grid.goals[2, 5]


def test_edits_are_unsaved_until_a_save_of_the_agent_or_the_map(window, qtbot, dialogs, tmp_path):  # noqa: F811
    editor = window.map_editor
    changes: list[bool] = []
    editor.unsaved_changed.connect(changes.append)
    assert not editor.has_unsaved_edits()
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, CELL))
    assert editor.has_unsaved_edits() and changes == [True]
    editor.undo()
    assert not editor.has_unsaved_edits() and changes == [True, False]  # back to the map as saved
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, CELL))
    qtbot.waitUntil(lambda: wall_at(window, CELL), timeout=WAIT_MS)
    dialogs.save_path = str(tmp_path / "agent.dqn")
    window.save_as()
    qtbot.waitUntil(lambda: not editor.has_unsaved_edits(), timeout=WAIT_MS)  # the save holds the edited map
    assert changes == [True, False, True, False]
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, ROW[0]))
    assert editor.has_unsaved_edits()
    dialogs.save_path = str(tmp_path / "room.txt")
    editor.save_map_action.trigger()
    assert not editor.has_unsaved_edits() and changes == [True, False, True, False, True, False]
    QTest.mouseClick(window.game_view, Qt.MouseButton.LeftButton, pos=widget_point(window, ROW[1]))
    first = window.session.session_id
    window.load(str(tmp_path / "agent.dqn"))
    qtbot.waitUntil(lambda: window.session.session_id != first, timeout=WAIT_MS)
    assert not editor.has_unsaved_edits() and changes[-1] is False  # a new session starts from its own map
