"""The replay panel's Browse tab: scrub through every transition the buffer can sample, oldest to newest, with
the stacked frames the network sees (all 4 on Atari), the next frame, action, reward, flags and who produced it;
filter by that tag, by reward and by how the transition ended.

The buffer lives with the agent in the training process: the tab asks for one transition at a time
(`browse_requested(filter, position)`) and draws the answer (`show_entry`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from agents.replay import Source
from agents.replay_browse import ENDINGS, REWARDS, BrowsedTransition, ReplayFilter
from app.qt_image import observation_thumbnail

FRAME_PIXELS = 96
"""Each frame drawn at this size (an Atari frame is 84x84)."""
ASK_DELAY_MS = 40
"""A dragged slider asks for the transition under it at most this often."""
SOURCE_TIPS = {Source.EXPLORING: "The agent, with a random action drawn by its epsilon",
               Source.GREEDY: "The agent, with its greedy action",
               Source.HUMAN: "You, in Human play with Record human play on",
               Source.UNKNOWN: "Stored before DQN Arcade kept who produced a transition (an older save)"}
ENDING_LABELS = {"any": "any ending", "terminal": "terminal", "truncated": "truncated", "neither": "neither"}


class ReplayBrowser(QWidget):
    browse_requested = Signal(object, int)
    """(ReplayFilter, position): position -1 is the newest match."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry: BrowsedTransition | None = None
        self.action_names: tuple[str, ...] = ()
        self.frame_stack = 1
        self._position = -1
        self.source_boxes = {source: self._source_box(source) for source in
                             (Source.EXPLORING, Source.GREEDY, Source.HUMAN, Source.UNKNOWN)}
        self.reward_combo = self._combo([(f"reward {choice}" if choice != "any" else "any reward", choice)
                                         for choice in REWARDS], "Only transitions with this stored reward")
        self.ending_combo = self._combo([(ENDING_LABELS[choice], choice) for choice in ENDINGS],
                                        "terminal: no bootstrap after it (episode end, or Atari's lost life);"
                                        " truncated: cut by a time limit")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Every matching transition, oldest on the left, newest on the right")
        self.slider.valueChanged.connect(self._on_slider)
        self.older = self._button("◀", "The previous matching transition", lambda: self._ask(self._position - 1))
        self.newer = self._button("▶", "The next matching transition", lambda: self._ask(self._position + 1))
        self.newest = self._button("Newest", "The newest matching transition (the buffer moves on as it trains)",
                                   lambda: self._ask(-1))
        self.frames = [QLabel() for _ in range(5)]
        self.captions = [QLabel() for _ in range(5)]
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.position_label = QLabel("")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ASK_DELAY_MS)
        self._timer.timeout.connect(lambda: self._ask(self.slider.value()))
        self._build_layout()

    def _source_box(self, source: Source) -> QCheckBox:
        box = QCheckBox(source.label)
        box.setChecked(True)
        box.setToolTip(SOURCE_TIPS[source])
        box.toggled.connect(lambda _: self._ask(-1))
        return box

    def _combo(self, items: list[tuple[str, str]], tip: str) -> QComboBox:
        combo = QComboBox()
        for text, data in items:
            combo.addItem(text, data)
        combo.setToolTip(tip)
        combo.currentIndexChanged.connect(lambda _: self._ask(-1))
        return combo

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(slot)
        return button

    def _build_layout(self) -> None:
        filters = QHBoxLayout()
        for box in self.source_boxes.values():
            filters.addWidget(box)
        filters.addWidget(self.reward_combo)
        filters.addWidget(self.ending_combo)
        filters.addStretch(1)
        moves = QHBoxLayout()
        for widget in (self.older, self.slider, self.newer, self.newest):
            moves.addWidget(widget, 1 if widget is self.slider else 0)
        strip = QGridLayout()
        for column, (picture, caption) in enumerate(zip(self.frames, self.captions, strict=True)):
            picture.setFixedSize(FRAME_PIXELS, FRAME_PIXELS)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            strip.addWidget(picture, 0, column)
            strip.addWidget(caption, 1, column)
        strip.setColumnStretch(len(self.frames), 1)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(moves)
        layout.addWidget(self.position_label)
        layout.addLayout(strip)
        layout.addWidget(self.details, 1)

    # ------------------------------------------------------------------ the panel's calls

    def reset(self, action_names: tuple[str, ...], frame_stack: int) -> None:
        self.action_names = tuple(action_names)
        self.frame_stack = frame_stack
        self.entry = None
        self._position = -1
        self._draw(None, 0)

    def wanted(self) -> ReplayFilter:
        sources = frozenset(int(source) for source, box in self.source_boxes.items() if box.isChecked())
        return ReplayFilter(sources, self.reward_combo.currentData(), self.ending_combo.currentData())

    def refresh(self) -> None:
        """Ask again for the transition shown (the newest one if none is)."""
        self._ask(self._position if self.entry is not None else -1)

    def show_entry(self, entry: BrowsedTransition | None, stored: int) -> None:
        """The training process's answer: the transition, or None when nothing matches."""
        self.entry = entry
        self._position = entry.position if entry is not None else -1
        self._draw(entry, stored)

    # ------------------------------------------------------------------ drawing

    def _draw(self, entry: BrowsedTransition | None, stored: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, entry.matching - 1) if entry is not None else 0)
        self.slider.setValue(entry.position if entry is not None else 0)
        self.slider.blockSignals(False)
        for widget in (self.slider, self.older, self.newer, self.newest):
            widget.setEnabled(entry is not None)
        if entry is None:
            for picture, caption in zip(self.frames, self.captions, strict=True):
                picture.clear()
                caption.setText("")
            self.position_label.setText("Nothing stored yet." if stored == 0 else
                                        f"None of the {stored:,} stored transitions matches these filters.")
            self.details.setText("")
            return
        self.older.setEnabled(entry.position > 0)
        self.newer.setEnabled(entry.position < entry.matching - 1)
        self.position_label.setText(f"Transition {entry.position + 1:,} of {entry.matching:,} matching "
                                    f"({entry.stored:,} stored), oldest first · slot {entry.slot:,}")
        self._draw_frames(entry)
        self.details.setText(self._details_text(entry))

    def _draw_frames(self, entry: BrowsedTransition) -> None:
        observation, stacked = entry.observation, self.frame_stack
        if stacked > 1:  # the frames of the stack, oldest first, then the one the step produced
            pictures = [*observation[:stacked], entry.next_frame]
            names = [f"s · t−{stacked - 1 - i}" if i < stacked - 1 else "s · t" for i in range(stacked)]
        else:  # a gridworld's observation is one picture of its planes
            pictures, names = [observation, entry.next_frame], ["s"]
        names.append("s′ (next)")
        for column, (picture, caption) in enumerate(zip(self.frames, self.captions, strict=True)):
            if column < len(pictures):
                image = observation_thumbnail(pictures[column], FRAME_PIXELS)
                picture.setPixmap(QPixmap.fromImage(image).scaled(
                    FRAME_PIXELS, FRAME_PIXELS, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation))
                caption.setText(names[column])
            else:
                picture.clear()
                caption.setText("")

    def _details_text(self, entry: BrowsedTransition) -> str:
        names = self.action_names
        action = names[entry.action] if 0 <= entry.action < len(names) else str(entry.action)
        ending = "terminal (no bootstrap)" if entry.terminated else "truncated" if entry.truncated else "goes on"
        sampled = " · in the last sampled batch" if entry.in_last_batch else ""
        into = f"{entry.frames_into_episode}" + ("+" if entry.frames_into_episode >= 255 else "")
        return (f"<b>{action}</b> · reward {entry.reward:+g} · {ending} · by <b>{entry.source.label}</b> · "
                f"{into} frames into its stretch of play{sampled}")

    # ------------------------------------------------------------------ user input

    def _on_slider(self, _value: int) -> None:
        self._timer.start()  # dragging asks once the slider rests for a moment

    def _ask(self, position: int) -> None:
        self._position = position
        self.browse_requested.emit(self.wanted(), int(position))
