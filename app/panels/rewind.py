"""The Rewind panel: a slider over the episode's last steps, and "what if" branches from the step shown.

The loop records every step of the episode (agents.rewind); here a person pauses, drags the slider or presses
`,` and `.` to move through those steps (the view, Q-values, saliency and comparison follow), and asks what
another action would have led to: each branch is played from the moment shown (the action, then the agent
greedily) and undone, and its discounted return is listed next to Q(s, a), with the path the episode really
took. Playing on from an earlier step continues the episode from there.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agents.envs.registry import EnvDescription
from agents.rewind import WHAT_IF_HORIZON, WhatIf
from app.rewind_feed import RewindView
from app.value_scale import decimals_for, format_value
from app.view_frame import ViewFrame

ALL_ACTIONS = -1
COLUMNS = ("Action", "Q(s,a)", "Steps", "Return", "+ γⁿ max Q", "Error", "Ended by")
TIPS = ("The first action of the branch (★: what the episode really did from here)",
        "What the agent predicted for this action at the step shown",
        "Steps the branch took: the horizon, or fewer where the return ended",
        "Discounted return obtained: Σ γᵏ rₖ over those steps (the rewards the agent learns from: Atari's clipped)",
        "That return plus γⁿ · max Q of the state it reached (nothing where the return ended): what Q(s, a) "
        "estimates, looked at n steps ahead",
        "(+ γⁿ max Q) − Q(s, a): positive where the agent underestimated this action",
        "terminal, life lost (Atari: the end of the agent's return), time limit, or the horizon")
HINT = ("Pause and press , to step back through the episode's last steps (. goes forward, the slider jumps). "
        "From any step, try what another action would have led to. Playing on from an earlier step continues the "
        "episode from there; what was tried is never stored in the replay.")
TAKEN_COLOUR = QColor(30, 90, 160)


class RewindPanel(QWidget):
    """`moved(index)`: show that moment; `step_by(n)`: move n moments; `try_requested(action or -1, horizon)`."""

    moved = Signal(int)
    step_by = Signal(int)
    try_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: RewindView | None = None
        self.action_names: tuple[str, ...] = ()
        self.position_label = QLabel("")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("The episode's recorded steps, oldest on the left; the right end is now")
        self.slider.setTracking(True)
        self.slider.valueChanged.connect(self._on_slider)
        self.back_button = self._button("◀", "One step back (,)", lambda: self.step_by.emit(-1))
        self.forward_button = self._button("▶", "One step forward through what happened (.)",
                                           lambda: self.step_by.emit(1))
        self.now_button = self._button("Now", "Back to the latest step", lambda: self.moved.emit(self._last()))
        self.action_combo = QComboBox()
        self.action_combo.setToolTip("The first action of the branch; the agent plays greedily after it")
        self.horizon = QSpinBox()
        self.horizon.setRange(1, 10_000)
        self.horizon.setValue(WHAT_IF_HORIZON)
        self.horizon.setSuffix(" steps")
        self.horizon.setToolTip("How many steps each branch plays at most (n)")
        self.try_button = self._button("Try", "Play the branch from the step shown, then undo it", self._on_try)
        self.table = QTableWidget(0, len(COLUMNS))
        self._build_table()
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self._build_layout()
        self._show(None)

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the game
        button.clicked.connect(slot)
        return button

    def _build_table(self) -> None:
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the action names take the room

    def _build_layout(self) -> None:
        moves = QHBoxLayout()
        for widget in (self.back_button, self.slider, self.forward_button, self.now_button):
            moves.addWidget(widget, 1 if widget is self.slider else 0)
        branch = QHBoxLayout()
        branch.addWidget(QLabel("What if:"))
        branch.addWidget(self.action_combo, 1)
        branch.addWidget(QLabel("for"))
        branch.addWidget(self.horizon)
        branch.addWidget(self.try_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.position_label)
        layout.addLayout(moves)
        layout.addLayout(branch)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)

    # ------------------------------------------------------------------ the window's calls

    def reset(self, description: EnvDescription, agent_kind: str, network: str | None) -> None:
        self.action_names = tuple(description.action_names)
        self.action_combo.clear()
        self.action_combo.addItem("every action", ALL_ACTIONS)
        for index, name in enumerate(self.action_names):
            self.action_combo.addItem(name, index)
        self._show(None)

    def show_frame(self, frame: ViewFrame) -> None:
        if frame.rewind != self.view:
            self._show(frame.rewind)

    # ------------------------------------------------------------------ drawing

    def _show(self, view: RewindView | None) -> None:
        self.view = view
        length = view.length if view is not None else 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, length - 1))
        self.slider.setValue(view.position if view is not None else 0)
        self.slider.blockSignals(False)
        usable = view is not None and view.unavailable is None and length > 0
        for widget in (self.slider, self.back_button, self.action_combo, self.horizon, self.try_button):
            widget.setEnabled(usable)
        self.try_button.setEnabled(usable and not view.ended)
        self.forward_button.setEnabled(usable and not view.at_present)
        self.now_button.setEnabled(usable and not view.at_present)
        self.position_label.setText(self._position_text(view))
        self._fill_table(view)

    @staticmethod
    def _position_text(view: RewindView | None) -> str:
        if view is None or view.length == 0:
            return "No steps recorded yet in this episode."
        if view.unavailable is not None:
            return f"Cannot step back: {view.unavailable}"
        kept = f"{view.length - 1} step{'s' if view.length != 2 else ''} kept"
        if view.ended:
            kept += " · the episode ended here, nothing to try from it"
        if view.at_present:
            return f"Step {view.step} of the episode (now) · {kept}"
        back = view.steps_back
        return (f"<b>Step {view.step}</b> of the episode · {back} step{'s' if back != 1 else ''} back · {kept} · "
                "playing on continues from here")

    def _fill_table(self, view: RewindView | None) -> None:
        rows: list[WhatIf] = []
        if view is not None:
            rows = ([view.taken] if view.taken is not None else []) + list(view.tries)
        self.table.setRowCount(len(rows))
        if not rows:
            return
        decimals = decimals_for([value for row in rows for value in (row.predicted, row.bootstrapped)])
        for index, row in enumerate(rows):
            cells = (("★ " if row.taken else "") + row.action_name, format_value(row.predicted, decimals),
                     f"{row.steps}", format_value(row.discounted_return, decimals),
                     format_value(row.bootstrapped, decimals), format_value(row.error, decimals, signed=True),
                     row.ended or "horizon")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row.taken:
                    item.setForeground(TAKEN_COLOUR)
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                    item.setToolTip("What the episode really did from this step")
                self.table.setItem(index, column, item)

    # ------------------------------------------------------------------ user input

    def _last(self) -> int:
        return max(0, self.view.length - 1) if self.view is not None else 0

    def _on_slider(self, value: int) -> None:
        self.moved.emit(int(value))

    def _on_try(self) -> None:
        self.try_requested.emit(int(self.action_combo.currentData()), int(self.horizon.value()))
