"""Game settings of the running Atari game: mode, difficulty, sticky actions and the action set.

A button beside the environment picker opens a dialog that lists the game's own modes and difficulties (ALE's
lists for its ROM); OK starts a new agent on the game with those settings, after the window's usual question
about an unsaved agent (OK with the settings unchanged does nothing). The settings chosen are remembered for the
game (`app.launch_choices.remember_game`). The status bar shows the running game's settings. The window only
constructs this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QWidget,
)

from agents.envs.atari import GameChoices, default_sticky, game_choices
from agents.envs.game_options import MACHADO_STICKY, GameOptions
from agents.errors import ArcadeError
from app.launch_choices import remember_game
from app.training_loop import SessionInfo

if TYPE_CHECKING:
    from app.window import MainWindow

DEFAULT_LABEL = "default"
STICKY_STEP = 0.05


class GameSettingsDialog(QDialog):
    """Mode, difficulty, sticky-action probability and action set for one game, starting from `current`."""

    def __init__(self, name: str, env_id: str, current: GameOptions, choices: GameChoices,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Game settings — {name}")
        self.mode_combo = _choice_combo(choices.modes, current.mode, "The game's own variants (ALE's list for"
                                        " this ROM); 'default' is the game's default mode")
        self.difficulty_combo = _choice_combo(choices.difficulties, current.difficulty, "The console's difficulty"
                                              " switch (ALE's list for this ROM); 'default' is the game's default")
        self.sticky_spin = QDoubleSpinBox(self)
        self.sticky_spin.setRange(0.0, 1.0)
        self.sticky_spin.setSingleStep(STICKY_STEP)
        self.sticky_spin.setDecimals(3)
        self.sticky_spin.setValue(current.sticky if current.sticky is not None else default_sticky(env_id))
        self.sticky_spin.setToolTip(f"Each frame the previous action repeats with this probability: {MACHADO_STICKY:g}"
                                    f" as Machado et al. 2018 recommend; {default_sticky(env_id):g} is this id's"
                                    " default")
        self.actions_combo = QComboBox(self)
        self.actions_combo.addItem("minimal (the game's own actions)", False)
        self.actions_combo.addItem("full (all 18 joystick actions)", True)
        self.actions_combo.setCurrentIndex(1 if current.full_action_space else 0)
        self.actions_combo.setToolTip("The actions the agent chooses from; the Q-values and the key help follow")
        form = QFormLayout(self)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Difficulty", self.difficulty_combo)
        form.addRow("Sticky actions", self.sticky_spin)
        form.addRow("Action set", self.actions_combo)
        form.addRow(QLabel("OK starts a new, untrained agent on the game with these settings."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._shown = self.options()

    def changed(self) -> bool:
        """Whether anything was changed from the settings the dialog opened with (as its widgets show them)."""
        return self.options() != self._shown

    def options(self) -> GameOptions:
        """The settings as chosen (sticky always named, so a save records it)."""
        return GameOptions(mode=self.mode_combo.currentData(), difficulty=self.difficulty_combo.currentData(),
                           sticky=round(self.sticky_spin.value(), 6),
                           full_action_space=bool(self.actions_combo.currentData()))

    def choose(self, *, mode: int | None = None, difficulty: int | None = None, sticky: float | None = None,
               full_action_space: bool | None = None) -> None:
        """Pick values as a person would in the widgets (what tests drive); a value not offered is a ValueError."""
        for combo, value in ((self.mode_combo, mode), (self.difficulty_combo, difficulty)):
            if value is not None:
                index = combo.findData(value)
                if index < 0:
                    raise ValueError(f"{value} is not offered")
                combo.setCurrentIndex(index)
        if sticky is not None:
            self.sticky_spin.setValue(sticky)
        if full_action_space is not None:
            self.actions_combo.setCurrentIndex(1 if full_action_space else 0)


def _choice_combo(values: tuple[int, ...], current: int | None, tip: str) -> QComboBox:
    combo = QComboBox()
    combo.addItem(DEFAULT_LABEL, None)
    for value in values:
        combo.addItem(str(value), value)
    combo.setCurrentIndex(max(combo.findData(current), 0) if current is not None else 0)
    combo.setToolTip(tip)
    return combo


class GameSettings(QObject):
    """The window's Game settings: a toolbar action beside the environment picker and a status-bar label."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.action = QAction("Game settings…", window)
        self.action.setToolTip("Atari: the game's mode and difficulty, sticky actions and the action set"
                               " (a new agent)")
        self.action.setStatusTip(self.action.toolTip())
        self.action.setEnabled(False)
        self.action.triggered.connect(self.open_dialog)
        self._add_beside_env_picker()
        self.label = QLabel("")
        self.label.setToolTip("The Atari game's mode, difficulty, sticky-action probability and action set")
        self.label.setVisible(False)
        window.statusBar().addPermanentWidget(self.label)
        window.worker.session_started.connect(self._on_session_started)

    def _add_beside_env_picker(self) -> None:
        toolbar = self.window.env_combo.parentWidget()
        actions = toolbar.actions()
        picker = next((i for i, a in enumerate(actions) if toolbar.widgetForAction(a) is self.window.env_combo),
                      None)
        after = actions[picker + 1] if picker is not None and picker + 1 < len(actions) else None
        toolbar.insertAction(after, self.action)

    def _on_session_started(self, info: SessionInfo) -> None:
        options = info.description.game_options
        self.action.setEnabled(options is not None)
        self.label.setVisible(options is not None)
        self.label.setText(options.summary() if options is not None else "")

    def dialog(self) -> GameSettingsDialog | None:
        """The dialog for the running game, or None (no Atari game runs, or ALE cannot list its settings)."""
        info = self.window.session
        if info is None or info.description.game_options is None:
            return None
        try:
            choices = game_choices(info.env_id)
        except ArcadeError as error:
            QMessageBox.warning(self.window, "Game settings", str(error))
            return None
        return GameSettingsDialog(info.description.name, info.env_id, info.description.game_options, choices,
                                  self.window)

    def open_dialog(self) -> None:
        dialog = self.dialog()
        if dialog is None:
            return
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted and dialog.changed():
                self.start(dialog.options())
        finally:
            dialog.deleteLater()

    def start(self, options: GameOptions) -> None:
        """A new agent on the running game with `options`, after the usual question about unsaved training; the
        options are remembered for the game unless the person cancelled."""
        info = self.window.session
        if info is not None and self.window.start_session(info.env_id, self.window.spec, game=options):
            remember_game(self.window.store, info.env_id, options)
