"""Where the window's panels go: the docks, their default sizes, and the layout remembered between launches.

A remembered layout is restored only while it shows every visible panel's content: a window shrunk to 800x550
and then maximised keeps docks a few pixels tall (Qt gives the growth to the central widget), and such a layout
would otherwise come back on every launch, on any screen. View > Reset layout puts everything back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolBar, QWidget

READABLE_DOCK = (160, 110)
"""A visible dock narrower or lower than this (pixels) hides its panel's content: the layout is redone."""
ROOMY_WINDOW = (1100, 700)
"""Below this a window cannot give every dock a readable size, so a small layout is left as the user made it."""
RECHECK_MS = 150
"""After a resize settles (maximising sends several), check the docks once."""


@dataclass(frozen=True)
class DockPlace:
    dock: QDockWidget
    area: Qt.DockWidgetArea
    wanted: Callable[[], bool] | None = None
    """Reset layout shows the dock only while this says so (None: always)."""
    tab_with: QDockWidget | None = None
    """A tab behind this dock (None: a dock of its own)."""


class WindowLayout(QObject):
    """Builds the docks of a QMainWindow, restores and remembers their layout, and keeps it readable."""

    def __init__(self, window: QMainWindow, store: QSettings) -> None:
        super().__init__(window)
        self._window = window
        self._store = store
        self.docks: dict[str, QDockWidget] = {}
        self._places: list[DockPlace] = []
        self._toolbars: list[tuple[QToolBar, Qt.ToolBarArea]] = []
        self._recheck = QTimer(self)
        self._recheck.setSingleShot(True)
        self._recheck.setInterval(RECHECK_MS)
        self._recheck.timeout.connect(self.keep_readable)
        window.installEventFilter(self)

    def add_dock(self, title: str, panel: QWidget, area: Qt.DockWidgetArea, tip: str, *,
                 tab_with: str | None = None) -> QDockWidget:
        """A dock for `panel`; `tab_with`: a tab behind that dock's, where room is short."""
        dock = QDockWidget(title, self._window)
        dock.setObjectName(f"dock-{title.lower().replace(' ', '-')}")
        dock.setWidget(panel)
        dock.setToolTip(tip)
        dock.toggleViewAction().setToolTip(f"Show or hide the {title} panel")
        self._window.addDockWidget(area, dock)
        self.docks[title] = dock
        front = self.docks[tab_with] if tab_with is not None else None
        self._places.append(DockPlace(dock, area, tab_with=front))
        self._tabify(front, dock)
        return dock

    def _tabify(self, front: QDockWidget | None, dock: QDockWidget) -> None:
        if front is not None:
            self._window.tabifyDockWidget(front, dock)
            front.raise_()

    def add_toolbar(self, toolbar: QToolBar,
                    area: Qt.ToolBarArea = Qt.ToolBarArea.TopToolBarArea) -> None:
        self._window.addToolBar(area, toolbar)
        self._toolbars.append((toolbar, area))

    # ------------------------------------------------------------------ launches

    def restore(self) -> None:
        """The last launch's geometry and docks, or the defaults; never a layout that hides a panel."""
        geometry, state = self._store.value("geometry"), self._store.value("window_state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self._window.restoreGeometry(geometry)
        else:
            self._default_geometry()
        if not (isinstance(state, QByteArray) and not state.isEmpty() and self._window.restoreState(state)):
            self.default_dock_sizes()
        self._recheck.start()  # once the window is shown at its real size

    def remember(self) -> None:
        self._store.setValue("geometry", self._window.saveGeometry())
        self._store.setValue("window_state", self._window.saveState())

    def show_only_when(self, title: str, wanted: Callable[[], bool]) -> None:
        """A panel with nothing to show most of the time (the comparison): Reset layout shows it only if `wanted`."""
        self._places = [replace(place, wanted=wanted) if place.dock is self.docks[title] else place
                        for place in self._places]

    def reset(self) -> None:
        """View > Reset layout: every dock back in its place and shown, every toolbar shown, default sizes."""
        for place in self._places:
            place.dock.setFloating(False)
            self._window.addDockWidget(place.area, place.dock)
            place.dock.setVisible(place.wanted is None or place.wanted())
        for place in self._places:
            self._tabify(place.tab_with, place.dock)
        for toolbar, area in self._toolbars:
            self._window.addToolBar(area, toolbar)
            toolbar.show()
        self.default_dock_sizes()

    # ------------------------------------------------------------------ sizes

    def _default_geometry(self) -> None:
        """Most of the screen on a first launch: the game and four panels need the room."""
        screen = self._window.screen().availableGeometry() if self._window.screen() is not None else None
        width, height = (1560, 960) if screen is None else (int(screen.width() * 0.96), int(screen.height() * 0.94))
        self._window.resize(min(width, 1800), min(height, 1100))

    def default_dock_sizes(self) -> None:
        """Game view largest; the right column as wide as the Q-value bars need; curves wider than replay."""
        window = self._window
        behind = {place.dock for place in self._places if place.tab_with is not None}
        docks = [dock for dock in self.docks.values() if dock not in behind]
        right = [d for d in docks if window.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea]
        bottom = [d for d in docks if window.dockWidgetArea(d) == Qt.DockWidgetArea.BottomDockWidgetArea]
        if right:
            window.resizeDocks(right[:1], [400], Qt.Orientation.Horizontal)
            window.resizeDocks(right, [max(READABLE_DOCK[1], window.height() // (2 * len(right)))] * len(right),
                               Qt.Orientation.Vertical)
        if bottom:
            window.resizeDocks(bottom[:1], [max(280, window.height() // 3)], Qt.Orientation.Vertical)
            share = window.width() // len(bottom)
            sizes = [share + 100, share - 100] if len(bottom) == 2 else [share] * len(bottom)
            window.resizeDocks(bottom, sizes, Qt.Orientation.Horizontal)

    def hidden_panels(self) -> list[str]:
        """Titles of the docks that are shown but too small to show their content."""
        width, height = READABLE_DOCK
        return [title for title, dock in self.docks.items()
                if dock.isVisible() and not dock.isFloating()
                and (dock.width() < width or dock.height() < height)]

    def keep_readable(self) -> None:
        """Redo the dock sizes when a roomy window shows a panel too small to read (not on a small window:
        there the user chose what to squeeze)."""
        size = self._window.size()
        if size.width() < ROOMY_WINDOW[0] or size.height() < ROOMY_WINDOW[1]:
            return
        if self.hidden_panels():
            self.default_dock_sizes()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() in (QEvent.Type.Resize, QEvent.Type.WindowStateChange):
            self._recheck.start()
        return False
