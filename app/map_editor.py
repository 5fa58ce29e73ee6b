"""Edit the gridworld while the agent learns: paint walls, floor, lava, goals and the start on the game view.

The "Edit map" mode turns the game view's mouse into a brush: a press paints the cell under it, a drag paints
every cell it crosses (the left button with the chosen brush, the right one with floor), Ctrl+Z takes back
the last stroke and "Save map as…" writes the map as a .txt map file. The cells painted go to the training loop
together, one `WorkerBase.edit_map` command every FLUSH_MS at most and one at the release (so a long drag is a
handful of commands, each ending the episode once), and the environment, V(s) and the arrows follow while the
user paints, paused or running; the agent keeps its network. The loop answers every command with the map it
plays (`map_edited`): after an edit it refused, the editor takes that map back. The edits themselves
(validation, undo) are `app.map_edit.MapEditModel`, without Qt.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QToolBar

from agents.envs import gridworld
from agents.envs.gridworld import GridMap, Position, parse_map, same_cells, shortest_path_length
from agents.errors import MapError
from app.game_view import GameView
from app.map_edit import BRUSHES, MapEdit, MapEditModel, brush_label
from app.training_loop import SessionInfo
from app.window_actions import window_action
from app.worker import WorkerBase

log = logging.getLogger(__name__)

MAP_FILTER = "Gridworld maps (*.txt);;All files (*)"
ERASER = "."
"""What the right mouse button paints."""
BRUSH_COLOURS = {"#": gridworld.WALL, ".": gridworld.FLOOR, "L": gridworld.LAVA, "G": gridworld.GOAL,
                 "S": gridworld.START}
BRUSH_TIPS = {"#": "Wall: the agent cannot enter it", ".": "Floor: free to walk (the right button paints it too)",
              "L": "Lava: -1 and the episode ends", "G": "Goal: +1 and the episode ends",
              "S": "Start: moves the start (exactly one)"}
MESSAGE_MS = 8000
FLUSH_MS = 50
"""The longest a painted cell waits before it goes to the loop with the others painted meanwhile."""


def cell_at(view: GameView, position: QPointF) -> Position | None:
    """The gridworld cell under a point of the game view, or None off the board (or without a gridworld).

    The board fills the picture's width with square cells and sits at its bottom, under any header band the
    picture carries, so its height follows from the grid's shape alone."""
    frame, image, rect = view.frame, view.image(), view.image_rect()
    if frame is None or frame.description.kind != "gridworld" or image is None or image.isNull() or rect.isEmpty():
        return None
    rows, cols = frame.description.obs_shape[-2:]
    board_height = image.width() * rows / cols
    x = (position.x() - rect.left()) * image.width() / rect.width()
    y = (position.y() - rect.top()) * image.height() / rect.height() - (image.height() - board_height)
    if not (0 <= x < image.width() and 0 <= y < board_height):
        return None
    return min(rows - 1, int(y * rows / board_height)), min(cols - 1, int(x * cols / image.width()))


def cells_between(start: Position, end: Position) -> list[Position]:
    """The cells on the straight line after `start` up to `end`: a fast drag still paints an unbroken line."""
    steps = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
    return [(round(start[0] + (end[0] - start[0]) * i / steps), round(start[1] + (end[1] - start[1]) * i / steps))
            for i in range(1, steps + 1)]


def _swatch(colour: tuple[int, int, int]) -> QIcon:
    """A square of the cell's colour, outlined so the pale floor and start show on a pale toolbar."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(QColor(*colour))
    painter = QPainter(pixmap)
    painter.setPen(QColor(90, 90, 100))
    painter.drawRect(0, 0, 15, 15)
    painter.end()
    return QIcon(pixmap)


class MapEditor(QObject):
    """The Edit map mode of a window: its actions (in `menu` and `toolbar`), mouse painting on `view`, and the
    edits sent to `worker`. It follows the worker's sessions, edits and saves by itself; the window places the
    menu and the toolbar (in `TOOLBAR_AREA`: a paint palette beside the picture, where the top row has no room
    left), passes on refused edits (`show_edit_failure`) and counts `has_unsaved_edits` as unsaved work."""

    TOOLBAR_AREA = Qt.ToolBarArea.LeftToolBarArea

    unsaved_changed = Signal(bool)
    """Whether the map has edits that no save holds (of the agent, or of the map as .txt) changed."""

    def __init__(self, window: QMainWindow, view: GameView, worker: WorkerBase) -> None:
        super().__init__(window)
        self._window, self._view, self._worker = window, view, worker
        self._model: MapEditModel | None = None
        self._session: SessionInfo | None = None
        self._brush = "#"
        self._stroke_brush: str | None = None
        self._last_cell: Position | None = None
        self._pending: MapEdit | None = None
        """Painted in the model, not yet sent to the loop."""
        self._in_flight = 0
        """Commands sent to the loop that it has not answered yet."""
        self._live: GridMap | None = None
        """The map as the loop last reported it."""
        self._saved: GridMap | None = None
        """The map as the last save holds it (the session's own map until one)."""
        self._unsaved = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)
        self._build_actions()
        self.menu = self._build_menu()
        self.toolbar = self._build_toolbar()
        worker.session_started.connect(self._on_session_started)
        worker.map_edited.connect(self._on_map_edited)
        worker.saved.connect(self._on_agent_saved)
        view.installEventFilter(self)
        self._update_actions()

    # ------------------------------------------------------------------ construction

    def _action(self, text: str, tip: str, *, shortcut: QKeySequence | str | None = None,
                checkable: bool = False) -> QAction:
        return window_action(self._window, text, tip, shortcut=shortcut, checkable=checkable)

    def _build_actions(self) -> None:
        self.edit_action = self._action("Edit map", "Paint the gridworld with the mouse while the agent plays"
                                        " or learns", shortcut="Ctrl+E", checkable=True)
        self.edit_action.toggled.connect(self._on_edit_toggled)
        self.brush_group = QActionGroup(self)
        self.brush_actions: dict[str, QAction] = {}
        for char in BRUSHES:
            action = self._action(brush_label(char), BRUSH_TIPS[char], checkable=True)
            action.setIcon(_swatch(BRUSH_COLOURS[char]))
            action.setChecked(char == self._brush)
            action.triggered.connect(lambda _=False, c=char: self.choose_brush(c))
            self.brush_group.addAction(action)
            self.brush_actions[char] = action
        self.undo_action = self._action("Undo map edit", "Take back the last stroke painted on the map",
                                        shortcut=QKeySequence.StandardKey.Undo)
        self.undo_action.triggered.connect(self.undo)
        self.save_map_action = self._action("Save map as…", "Write the map as it is now to a .txt map file")
        self.save_map_action.triggered.connect(self.save_map_as)

    def _build_menu(self) -> QMenu:
        menu = QMenu("&Map", self._window)
        menu.setToolTipsVisible(True)
        menu.addAction(self.edit_action)
        menu.addSeparator()
        menu.addActions(list(self.brush_actions.values()))
        menu.addSeparator()
        menu.addActions([self.undo_action, self.save_map_action])
        return menu

    def _build_toolbar(self) -> QToolBar:
        toolbar = QToolBar("Map editor", self._window)
        toolbar.setObjectName("toolbar-map")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        toolbar.addAction(self.edit_action)
        toolbar.addSeparator()
        toolbar.addActions(list(self.brush_actions.values()))
        toolbar.addSeparator()
        toolbar.addActions([self.undo_action, self.save_map_action])
        return toolbar

    # ------------------------------------------------------------------ state

    @property
    def model(self) -> MapEditModel | None:
        """The map as edited (None while no gridworld runs)."""
        return self._model

    @property
    def brush(self) -> str:
        return self._brush

    def has_unsaved_edits(self) -> bool:
        """The map has edits that neither a save of the agent nor Save map as holds."""
        return self._unsaved

    def _on_session_started(self, info: SessionInfo) -> None:
        """A new session: edit its map from scratch (edits of the old one are gone with it, unsent ones too)."""
        self._flush_timer.stop()
        self._session, self._pending, self._in_flight = info, None, 0
        self._end_stroke()
        self._live = self._saved = self._parsed(info.map_text)
        self._model = MapEditModel(self._live) if self._live is not None else None
        if self._model is None:
            self.edit_action.setChecked(False)
        self._update_actions()
        self._update_unsaved()

    def _parsed(self, map_text: str | None) -> GridMap | None:
        if map_text is None or self._session is None:
            return None
        try:
            return parse_map(map_text, source=self._session.env_id)
        except MapError as error:  # the loop runs this very map, so this is a bug: say so, edit nothing
            log.error("cannot edit the map of %s: %s", self._session.env_id, error)
            return None

    def _on_map_edited(self, session_id: int, map_text: str) -> None:
        """The loop answered an edit with the map it plays. Once every edit sent is answered, the model must be
        that map; where it is not (the loop refused one), the model takes the loop's map."""
        if self._session is None or session_id != self._session.session_id or self._model is None:
            return
        self._in_flight = max(0, self._in_flight - 1)
        live = self._parsed(map_text)
        if live is None:
            return
        self._live = live
        if self._in_flight == 0 and self._pending is None and not same_cells(live, self._model.grid):
            self._model.reset_to(live)
            self._update_actions()
            self._update_unsaved()

    def show_edit_failure(self, message: str) -> None:
        """The loop refused an edit (failed("edit", message)): a one-line status message, no dialog; the model
        follows the loop's map when its answer comes."""
        self._message(f"Cannot edit the map: {message}")

    def _on_agent_saved(self, _path: str) -> None:
        """A save of the agent holds the map the loop played when it wrote it: the last one it reported."""
        if self._live is not None:
            self._saved = self._live
            self._update_unsaved()

    def _update_unsaved(self) -> None:
        model, saved = self._model, self._saved
        unsaved = model is not None and saved is not None and not same_cells(model.grid, saved)
        if unsaved != self._unsaved:
            self._unsaved = unsaved
            self.unsaved_changed.emit(unsaved)

    def _update_actions(self) -> None:
        """Only a gridworld has a map to edit: on an Atari game the toolbar is not shown at all, and the brushes
        show only while editing (the game view keeps the room otherwise)."""
        editable = self._model is not None
        self.edit_action.setEnabled(editable)
        for action in self.brush_actions.values():
            action.setEnabled(editable)
            action.setVisible(editable and self.edit_action.isChecked())
        self.undo_action.setEnabled(editable and self._model.can_undo)
        self.save_map_action.setEnabled(editable)
        self.toolbar.setVisible(editable)

    def _on_edit_toggled(self, on: bool) -> None:
        self._end_stroke()
        self.flush()
        self._update_actions()
        if on:
            self._view.setCursor(Qt.CursorShape.CrossCursor)
            self._show_brush()
        else:
            self._view.unsetCursor()

    def _show_brush(self) -> None:
        self._message(f"Edit map: the left button paints {brush_label(self._brush).lower()}, the right button"
                      " floor; Ctrl+Z undoes a stroke")

    def choose_brush(self, char: str) -> None:
        """Paint with `char` from now on (choosing a brush turns the edit mode on)."""
        self._brush = char
        self.brush_actions[char].setChecked(True)
        if self.edit_action.isEnabled() and not self.edit_action.isChecked():
            self.edit_action.setChecked(True)  # which shows the brush
        elif self.edit_action.isChecked():
            self._show_brush()

    # ------------------------------------------------------------------ painting

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        """Mouse presses, drags and releases on the game view paint while the edit mode is on."""
        if watched is not self._view or not self.edit_action.isChecked():
            return False
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            assert isinstance(event, QMouseEvent)
            return self._press(event)
        if kind == QEvent.Type.MouseMove and self._stroke_brush is not None:
            assert isinstance(event, QMouseEvent)
            self._drag(cell_at(self._view, event.position()))
            return True
        if kind == QEvent.Type.MouseButtonRelease and self._stroke_brush is not None:
            self._end_stroke()
            self.flush()
            return True
        return False

    def _press(self, event: QMouseEvent) -> bool:
        buttons = {Qt.MouseButton.LeftButton: self._brush, Qt.MouseButton.RightButton: ERASER}
        brush = buttons.get(event.button())
        if brush is None or self._model is None:
            return False
        self._end_stroke()
        self._model.begin_stroke()
        self._stroke_brush = brush
        cell = cell_at(self._view, event.position())
        if cell is not None:
            self._paint(cell)
        return True

    def _drag(self, cell: Position | None) -> None:
        """Paint the cells from the last one painted to `cell`; off the board, the line is broken, so coming back
        elsewhere does not paint the cells between the two places."""
        if cell is None:
            self._last_cell = None
            return
        if cell == self._last_cell:
            return
        for step in cells_between(self._last_cell, cell) if self._last_cell is not None else [cell]:
            self._paint(step)

    def _paint(self, cell: Position) -> None:
        assert self._model is not None and self._stroke_brush is not None
        self._last_cell = cell
        try:
            edit = self._model.paint(cell, self._stroke_brush)
        except MapError as error:
            self._message(f"Cannot edit the map: {error}")
            return
        if edit is not None:
            self._queue(edit)

    def _end_stroke(self) -> None:
        if self._model is not None:
            self._model.end_stroke()
        self._stroke_brush, self._last_cell = None, None
        self._update_actions()

    def undo(self) -> None:
        """Take back the last stroke, in the running environment too."""
        if self._model is None:
            return
        self._stroke_brush, self._last_cell = None, None
        edit = self._model.undo()
        if edit is not None:
            self._queue(edit)
        self.flush()
        self._update_actions()

    def _queue(self, edit: MapEdit) -> None:
        """Keep `edit` for the next command, which leaves within FLUSH_MS."""
        self._pending = edit if self._pending is None else self._pending.then(edit)
        if not self._flush_timer.isActive():
            self._flush_timer.start()
        self._update_actions()
        self._update_unsaved()

    def flush(self) -> None:
        """Send what is painted but not yet sent now (e.g. before a save of the agent, so it holds every cell)."""
        self._flush_timer.stop()
        edit, self._pending = self._pending, None
        if edit is None or self._model is None or self._session is None:
            return
        self._in_flight += 1
        self._worker.edit_map(self._session.session_id, edit.cells)
        if shortest_path_length(self._model.grid) is None:
            self._message("No path leads from the start to a goal now: the agent cannot succeed on this map")

    def _message(self, text: str) -> None:
        self._window.statusBar().showMessage(text, MESSAGE_MS)

    # ------------------------------------------------------------------ files

    def save_map_as(self) -> None:
        """Ask for a .txt file and write the map as it is now; a failure is a one-line warning."""
        if self._model is None:
            return
        self.flush()
        path, _ = QFileDialog.getSaveFileName(self._window, "Save map as", self._suggested_path(), MAP_FILTER)
        if not path:
            return
        path = path if Path(path).suffix else path + ".txt"
        try:
            written = self._model.save(path)
        except MapError as error:
            QMessageBox.warning(self._window, "Cannot save the map", str(error))
            return
        self._saved = self._model.grid
        self._update_unsaved()
        self._message(f"Saved the map to {written}")

    def _suggested_path(self) -> str:
        env_id = self._session.env_id if self._session is not None else "map"
        if env_id.endswith(".txt"):
            original = Path(env_id)
            return str(original.with_name(f"{original.stem}-edited.txt"))
        return str(Path.cwd() / f"{Path(env_id).name}-edited.txt")
