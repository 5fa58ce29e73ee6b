"""The main window: game view in the middle, panels in docks, the training process behind them.

The window never does RL work and never touches the agent: it sends commands to a worker front-end and
pulls copies of the loop's state at each refresh. The loop runs in a child process by default
(`app.process_worker`), so drawing and training use separate cores; `in_process=True` runs it in a thread
instead (Qt's mandelbrot pattern). Saving and loading happen where the agent lives; their outcome comes
back as signals.

MainWindow composes one object per feature and places their actions: the File menu's saves
(`app.file_actions`), the Agent menu (`app.agent_picker`), the View switches (`app.view_switches`), the keys of
human play (`app.human_keys`), Game settings and the map editor.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QWidget,
)

from agents.envs.atari import noframeskip_id
from agents.envs.game_options import GameOptions
from agents.envs.registry import env_kind
from agents.factory import AgentSpec, default_network, resolve_device
from agents.runner import Mode
from agents.shipped import is_shipped
from app.agent_picker import AgentPicker
from app.comparison import Comparison
from app.curve_export import CurveExport
from app.env_picker import EnvPicker
from app.file_actions import FileActions
from app.game_settings import GameSettings
from app.game_view import GameView
from app.human_keys import HumanKeys
from app.keymap import KeyMap
from app.launch_choices import DEFAULT_ENV, FIRST_RUN_HINT, launch_choice, remembered_game
from app.map_editor import MAP_FILTER, MapEditor
from app.panels.attention import AttentionPanel
from app.panels.comparison import ComparisonPanel
from app.panels.q_values import QValuesPanel
from app.panels.replay import ReplayPanel
from app.panels.training import TrainingPanel
from app.process_worker import STOP_TIMEOUT_MS, ProcessWorker
from app.readouts import rate_text
from app.rewind import Rewind
from app.run_watcher import RunWatcher
from app.saliency_overlay import SaliencyOverlay
from app.session_labels import agent_label, session_title
from app.settings import app_settings, remember_agent, remember_save
from app.training_loop import MAX_SUB_FRAMES, SessionInfo, Speed
from app.video_record import VideoRecord
from app.view_frame import ViewFrame
from app.view_switches import ViewSwitches
from app.window_actions import window_action
from app.window_layout import WindowLayout
from app.worker import ThreadWorker, WorkerBase

log = logging.getLogger(__name__)

REFRESH_MS = 16
"""The window pulls the loop's latest state at about 60 Hz: Atari's own frame rate (the 4 frames of a skipped
step are played one per refresh), and often enough that the loop's ~30 steps/s are shown as they come
rather than when a slower timer happens to fire. A refresh without a new frame costs a few microseconds."""
PLAYBACK_LIMIT = MAX_SUB_FRAMES + 1
"""Pictures waiting for the game view at most (about 150 ms): a window that falls behind skips ahead."""
MODE_LABELS = {Mode.HUMAN: "Human play", Mode.PLAY: "Agent play", Mode.TRAIN: "Train"}
SPEED_LABELS = {Speed.PAUSED: "Pause", Speed.NORMAL: "Normal", Speed.FAST: "Fast", Speed.TURBO: "Turbo"}
FAILURE_TITLES = {"session": "Cannot switch", "load": "Cannot open save", "save": "Cannot save",
                  "run": "The run stopped", "process": "The training process stopped",
                  "edit": "Cannot edit the map", "saliency": "Saliency stopped", "compare": "Cannot compare",
                  "watch": "Cannot follow the run"}


def training_threads() -> int:
    """Torch threads for training: all cores but one, which is left to the GUI (torch's intra-op threads on
    every core starve it, and each other on a busy machine)."""
    cores = os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cores - 1))


class MainWindow(QMainWindow):
    """DQN Arcade's window. `agent_overrides` (FIELD=VALUE per agent kind) let tests use small, fast agents;
    `game`: the first session's Atari game settings (default: those last chosen for the game)."""

    def __init__(self, env_id: str | None = None, load_path: str | None = None, *,
                 settings: QSettings | None = None, agent_overrides: Mapping[str, Sequence[str]] | None = None,
                 device: str = "auto", seed: int | None = None, agent: AgentSpec | None = None,
                 worker: WorkerBase | None = None, in_process: bool = False, game: GameOptions | None = None) -> None:
        super().__init__()
        self.store = settings if settings is not None else app_settings()
        self.session: SessionInfo | None = None
        self.launch = launch_choice(self.store, env_id, agent, game)
        self.spec = self.launch.spec
        self.keymap: KeyMap | None = None
        self.mode = Mode.TRAIN
        self.speed = self.launch.speed
        self._resume_speed = self.speed if self.speed is not Speed.PAUSED else Speed.NORMAL
        self._fallback_env = DEFAULT_ENV
        self._shut_down = False
        self._first_run = self.launch.first_launch
        self._playback: deque[ViewFrame] = deque(maxlen=PLAYBACK_LIMIT)
        """Pictures for the game view, one per refresh: a step's skipped frames, then its own."""
        self.worker = worker or self._make_worker(resolve_device(device), agent_overrides, seed, in_process)
        self.worker.setParent(self)
        self.worker.start()  # the child imports torch while the widgets are built
        self.file_actions = FileActions(self)
        self._build_views()
        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self._build_status_bar()
        self._connect_worker()
        self.run_watcher = RunWatcher(self)  # after the window's own session slot: its status line comes last
        watch = self.run_watcher
        self.file_menu.insertActions(self.open_map_action, [watch.watch_action, watch.stop_action])
        self.game_settings = GameSettings(self)
        self.map_editor = MapEditor(self, self.game_view, self.worker)
        self.map_editor.unsaved_changed.connect(self._show_modified)
        self.saliency_overlay = SaliencyOverlay(self, self.game_view, self.worker)
        self.view_menu.addActions(self.saliency_overlay.actions())
        self.menuBar().addMenu(self.map_editor.menu)
        self.window_layout.add_toolbar(self.map_editor.toolbar, self.map_editor.TOOLBAR_AREA)
        self._restore_layout()
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._pull_frame)
        self.human_keys = HumanKeys(self)
        self._start(env_id, load_path)

    # ------------------------------------------------------------------ construction

    @staticmethod
    def _make_worker(device: str, agent_overrides: Mapping[str, Sequence[str]] | None, seed: int | None,
                     in_process: bool) -> WorkerBase:
        threads = training_threads()
        if in_process:
            return ThreadWorker(device=device, agent_overrides=agent_overrides, seed=seed, torch_threads=threads)
        return ProcessWorker(device=device, agent_overrides=agent_overrides, seed=seed, torch_threads=threads)

    def _build_views(self) -> None:
        self.setWindowTitle("DQN Arcade")
        self.game_view = GameView(self)
        self.setCentralWidget(self.game_view)
        self.q_values_panel = QValuesPanel()
        self.attention_panel = AttentionPanel()
        self.replay_panel = ReplayPanel()
        self.training_panel = TrainingPanel()
        self.comparison_panel = ComparisonPanel()
        self.panels = (self.q_values_panel, self.attention_panel, self.replay_panel, self.training_panel,
                       self.comparison_panel)
        self.window_layout = WindowLayout(self, self.store)
        self.docks: dict[str, QDockWidget] = self.window_layout.docks
        right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self._add_dock("Q-values", self.q_values_panel, right,
                       "Q(s, a) of every action for the current state; the greedy action is highlighted.")
        self._add_dock("Attention", self.attention_panel, right,
                       "Where the attention network's query looks, per head (attention network only).")
        self._add_dock("Training", self.training_panel, bottom,
                       "Episode returns, TD loss, mean Q and epsilon as training goes on.")
        self._add_dock("Replay buffer", self.replay_panel, bottom,
                       "How full the replay memory is, its newest transitions and what the last batch"
                       " sampled.")
        self._add_dock("Comparison", self.comparison_panel, right,
                       "A second agent's Q-values and greedy action on the same states (Agent > Compare with a save).")
        self.docks["Comparison"].hide()  # until a comparison starts (a remembered layout may show it)
        self.window_layout.show_only_when("Comparison", lambda: self.comparison_panel.comparing)
        self.rewind = Rewind(self, self.worker, self.window_layout)
        self.panels += (self.rewind.panel,)

    def _add_dock(self, title: str, panel: QWidget, area: Qt.DockWidgetArea, tip: str) -> None:
        self.window_layout.add_dock(title, panel, area, tip)

    def _action(self, text: str, tip: str, slot: Callable | None = None, *, shortcut: str | None = None,
                checkable: bool = False, group: QActionGroup | None = None) -> QAction:
        action = window_action(self, text, tip, shortcut=shortcut, checkable=checkable or group is not None)
        if group is not None:
            group.addAction(action)
        if slot is not None:
            (action.toggled if checkable and group is None else action.triggered).connect(slot)
        return action

    def _build_actions(self) -> None:
        self._build_file_actions()
        self._build_run_actions()
        self._build_agent_actions()
        self._build_view_actions()

    def _build_file_actions(self) -> None:
        files = self.file_actions
        self.open_action, self.save_action, self.save_as_action = (files.open_action, files.save_action,
                                                                   files.save_as_action)
        self.open_map_action = self._action("Open &map file…", "Load a gridworld map (.txt) from disk",
                                            self.open_map, shortcut="Ctrl+M")
        self.curve_export = CurveExport(self, self.training_panel, lambda: self.session)
        self.video_record = VideoRecord(self, self.game_view, lambda: self.session)
        self.quit_action = self._action("&Quit", "Close DQN Arcade", self.close, shortcut="Ctrl+Q")

    def _build_run_actions(self) -> None:
        self.mode_group = QActionGroup(self)
        tips = {Mode.HUMAN: "You play with the keyboard (arrows/WASD, Space = FIRE); F1 shows the keys",
                Mode.PLAY: "The agent plays greedily (Atari: 5% random actions) and does not learn",
                Mode.TRAIN: "The agent plays epsilon-greedily and learns from replay"}
        keys = {Mode.HUMAN: "Ctrl+H", Mode.PLAY: "Ctrl+P", Mode.TRAIN: "Ctrl+T"}
        self.mode_actions = {mode: self._action(MODE_LABELS[mode], tips[mode], group=self.mode_group,
                                                shortcut=keys[mode]) for mode in Mode}
        for mode, action in self.mode_actions.items():
            action.triggered.connect(lambda _=False, m=mode: self.set_mode(m))
        self.speed_group = QActionGroup(self)
        tips = {Speed.PAUSED: "Pause or resume (Space outside human play)",
                Speed.NORMAL: "Slow enough to follow: ~8 steps/s on gridworlds, Atari at the game's own"
                              " 60 frames/s",
                Speed.FAST: "As fast as possible; the view shows about 30 steps a second",
                Speed.TURBO: "Full-speed training; the view refreshes a few times a second"}
        keys = {Speed.PAUSED: None, Speed.NORMAL: "Ctrl+1", Speed.FAST: "Ctrl+2", Speed.TURBO: "Ctrl+3"}
        self.speed_actions = {speed: self._action(SPEED_LABELS[speed], tips[speed], group=self.speed_group,
                                                  shortcut=keys[speed]) for speed in Speed}
        for speed, action in self.speed_actions.items():
            action.triggered.connect(lambda _=False, s=speed: self.set_speed(s))
        self.step_action = self._action("Step", "One step, then pause", self.single_step, shortcut=".")
        self.record_action = self._action("Record human play", "Store your play in the replay buffer and"
                                          " learn from it while you play", self._on_record_human,
                                          checkable=True)
        self.reset_action = self._action("Restart", "Start a fresh episode (also after an error); the agent"
                                         " is kept", self.worker.restart, shortcut="Ctrl+R")

    def _build_agent_actions(self) -> None:
        picker = self.agent_picker = AgentPicker(self)
        self.agent_actions, self.new_agent_action = picker.agent_actions, picker.new_agent_action
        self.agent_menu, self.trained_menu = picker.menu, picker.trained_menu
        self.comparison = Comparison(self, self.worker, self.comparison_panel, self.docks["Comparison"])
        self.agent_menu.addSeparator()
        self.agent_menu.addActions(self.comparison.actions())

    def _build_view_actions(self) -> None:
        self.view_switches = ViewSwitches(self, self.game_view, self.attention_panel, self.store)
        self.attention_action, self.help_action = self.view_switches.attention_action, self.view_switches.help_action
        self.help_action.toggled.connect(self._update_key_help)
        self._update_key_help()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = self.file_menu = bar.addMenu("&File")
        self.file_actions.add_to_menu(file_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.open_map_action)
        file_menu.addActions([self.curve_export.action, self.video_record.action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        run_menu = bar.addMenu("&Run")
        run_menu.addActions(list(self.mode_actions.values()))
        run_menu.addSeparator()
        run_menu.addActions([*self.speed_actions.values(), self.rewind.back_action, self.step_action])
        run_menu.addSeparator()
        run_menu.addActions([self.record_action, self.reset_action])
        bar.addMenu(self.agent_menu)
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addActions([dock.toggleViewAction() for dock in self.docks.values()])
        self.view_menu.addAction(self._action("Reset layout", "Every panel and toolbar back in its place, at"
                                              " its default size", self.window_layout.reset))
        self.view_menu.addSeparator()
        self.view_menu.addActions(self.view_switches.actions())
        for menu in (file_menu, run_menu):
            menu.setToolTipsVisible(True)

    def _build_toolbars(self) -> None:
        session = QToolBar("Environment and agent", self)
        session.setObjectName("toolbar-session")
        self.env_picker = EnvPicker(self, switch=self.switch_env, open_map=self.open_map,
                                    running=lambda: self.session.env_id if self.session is not None else None)
        self.env_combo = self.env_picker.combo
        session.addWidget(self.env_combo)
        session.addWidget(self.agent_picker.button)
        session.addActions(self.agent_picker.switch_actions())
        self.window_layout.add_toolbar(session)
        run = QToolBar("Run", self)
        run.setObjectName("toolbar-run")
        run.addActions(list(self.mode_actions.values()))
        run.addSeparator()
        run.addActions([*self.speed_actions.values(), self.rewind.back_action, self.step_action])
        run.addSeparator()
        run.addActions([self.record_action, self.reset_action, self.video_record.action])
        self.window_layout.add_toolbar(run)
        self.toolbars = (session, run)
        self.view_menu.addSeparator()
        self.view_menu.addActions([bar.toggleViewAction() for bar in self.toolbars])

    def _build_status_bar(self) -> None:
        self.stats_label = QLabel("")
        self.stats_label.setToolTip("Total training steps, exploration epsilon, episodes and steps per"
                                    " second")
        self.statusBar().addPermanentWidget(self.stats_label)

    def _connect_worker(self) -> None:
        self.worker.session_started.connect(self._on_session_started)
        self.worker.failed.connect(self._on_failed)
        self.worker.speed_changed.connect(self._on_speed_changed)
        self.replay_panel.browser.browse_requested.connect(self.worker.browse_replay)
        self.worker.replay_browsed.connect(self.replay_panel.browser.show_entry)

    def _restore_layout(self) -> None:
        self.window_layout.restore()
        self.view_switches.restore()

    def _start(self, env_id: str | None, load_path: str | None) -> None:
        self.worker.set_speed(self.speed)
        self._show_speed(self.speed)
        self.mode_actions[Mode.TRAIN].setChecked(True)
        self._fallback_env = self.launch.env_id
        if load_path:
            self.worker.load(str(load_path), env_hint=noframeskip_id(env_id) if env_id else None)
        else:
            self.worker.new_session(self._fallback_env, self.spec, game=self.launch.game)
        self.timer.start()

    # ------------------------------------------------------------------ worker events

    def _on_session_started(self, info: SessionInfo) -> None:
        previous, self.session = self.session, info
        self._playback.clear()
        self.spec = AgentSpec(info.agent_kind, info.network, self.spec.double, self.spec.dueling)
        description = info.description
        for panel in self.panels:
            panel.reset(description, info.agent_kind, info.network)
        self.training_panel.show_history(info.curves, info.step_count)
        self.game_view.clear("Starting…")
        self.keymap = KeyMap.for_env(description.action_names, description.kind)
        self.worker.set_held_action(self.keymap.action())
        self._update_key_help()
        self._update_status_line()
        self._sync_session_widgets(info)
        self.store.setValue("last_env", info.env_id)
        remember_agent(self.store, info.agent_kind, info.network)
        if info.save_path:
            remember_save(self.store, info.save_path)
        self._start_mode(info, previous)
        self._show_session_message(info)
        self.video_record.follow_session(info)  # after the session's message: "the recording ended" stays

    def _start_mode(self, info: SessionInfo, previous: SessionInfo | None) -> None:
        """A shipped agent is for watching: it starts in Agent play, however it was opened (Ctrl+T trains it
        further). The agent after it trains, unless the person chose another mode meanwhile."""
        if _is_shipped(info) or info.watched:
            self.set_mode(Mode.PLAY)
        elif previous is not None and _is_shipped(previous) and self.mode is Mode.PLAY:
            self.set_mode(Mode.TRAIN)

    def _show_session_message(self, info: SessionInfo) -> None:
        """One message per session start: what went wrong at launch (once, over a running window), how it
        was opened, the first-launch hint, or simply what runs."""
        if self.launch.notice is not None:
            notice, self.launch = self.launch.notice, replace(self.launch, notice=None)
            QTimer.singleShot(0, self, lambda: QMessageBox.warning(self, "Cannot open the environment", notice))
        if info.notice:
            self.statusBar().showMessage(info.notice, 15000)
        elif self._first_run and info.opened_from is None:
            self._first_run = False  # once: what the first minute shows, and where the trained agents are
            self.statusBar().showMessage(FIRST_RUN_HINT, 60000)
        else:
            self.statusBar().showMessage(f"{info.description.name}: {agent_label(info)}", 5000)

    def _sync_session_widgets(self, info: SessionInfo) -> None:
        """Show the running session in the pickers without triggering them."""
        self.setWindowTitle(session_title(info))
        self.env_picker.follow(info.env_id)
        self.agent_picker.follow_session(info)
        self.view_switches.follow_session(info.description.kind == "gridworld")
        self.saliency_overlay.follow_session(info)

    def _on_speed_changed(self, value: str) -> None:
        """The worker paused itself (after an error); a bound method, so Qt calls it in the GUI thread."""
        self._show_speed(Speed(value))

    def show_saved(self, path: str) -> None:
        """The session was saved to `path`: the title names the file, and nothing is unsaved."""
        self.follow_session_change(save_path=path)
        self._show_modified()

    def follow_session_change(self, **changes: object) -> None:
        """The running session is now described by these SessionInfo fields (e.g. watched=False once a watch
        stops): the title follows."""
        if self.session is not None:
            self.session = replace(self.session, **changes)
            self.setWindowTitle(session_title(self.session))

    def has_unsaved_map_edits(self) -> bool:
        editor = getattr(self, "map_editor", None)  # None while the window is being built
        return editor is not None and editor.has_unsaved_edits()

    def _show_modified(self) -> None:
        """The title's modified mark: unsaved training or unsaved map edits."""
        self.setWindowModified(self.worker.unsaved_steps() > 0 or self.has_unsaved_map_edits())

    def _on_failed(self, what: str, message: str) -> None:
        if what == "edit":  # the editor takes the live map back and says why in the status bar
            self.map_editor.show_edit_failure(message)
            return
        if what == "watch":  # the watch goes on and takes the run's next save, so no dialog
            self.run_watcher.show_failure(message)
            return
        if what == "saliency":  # the overlay goes off; training goes on, so no dialog
            self.saliency_overlay.stop()
            self.statusBar().showMessage(f"{FAILURE_TITLES[what]}: {message}", 15000)
            return
        self.statusBar().showMessage(f"{FAILURE_TITLES.get(what, 'Error')}: {message}", 15000)
        if self.session is not None:
            self._sync_session_widgets(self.session)
        if what == "run":
            message += "\n\nThe agent is kept. Press Restart (or choose a speed) to start a new episode."
        elif what == "process":
            self._playback.clear()
            message += "\n\nPress Restart, choose an environment or open a save to go on."
        QMessageBox.warning(self, FAILURE_TITLES.get(what, "Error"), message)
        if self.session is None and what in ("session", "load"):
            # Nothing runs yet (a bad --load or a remembered map that is gone): start something usable.
            fallback = DEFAULT_ENV if what == "session" else self._fallback_env
            self.worker.new_session(fallback, AgentSpec("dqn", default_network(env_kind(fallback))))

    def _pull_frame(self) -> None:
        """60 Hz: one picture to the game view; a new step's copies to every panel. A step that comes with its
        skipped frames (Atari at the game's pace) plays them before its own picture, so the view shows the
        game's 60 frames a second."""
        if self.session is None:
            return
        if not self._playback:  # the worker queues what comes meanwhile: every frame drawn is shown
            session_id = self.session.session_id
            frame = self.worker.take_frame(session_id)
            # taking a frame reads the worker's news, which may start another session meanwhile: a frame of
            # the session it replaced must not reach the panels that were just reset for the new one
            if frame is not None and self.session.session_id == session_id:
                self._show_frame(frame)
        if self._playback:
            self.game_view.show_frame(self._playback.popleft())

    def _show_frame(self, frame: ViewFrame) -> None:
        head = self.attention_panel.selected_head()
        if head != self.game_view.options.attention_head:
            self.game_view.options = replace(self.game_view.options, attention_head=head)
        snapshot = frame.snapshot
        self._playback.extend(replace(frame, snapshot=replace(snapshot, frame=screen)) for screen in frame.sub_frames)
        self._playback.append(frame)
        for panel in self.panels:
            panel.show_frame(frame)
        self._show_stats(frame)

    def _show_stats(self, frame: ViewFrame | None = None) -> None:
        """The status bar's counters (of `frame`, else of the picture on screen); "paused" rather than the
        last running rate while paused."""
        frame = frame or self.game_view.frame
        if frame is None:
            return
        snap = frame.snapshot
        rate = rate_text(frame.steps_per_second, self.speed is Speed.PAUSED)
        self.stats_label.setText(f"trained steps {snap.total_steps:,}   ε {snap.epsilon:.3f}   "
                                 f"episodes {snap.episodes_finished:,}   {rate}")
        self._show_modified()

    # ------------------------------------------------------------------ modes and speed

    def set_mode(self, mode: Mode) -> None:
        """Switch who acts; the episode goes on."""
        self.mode = mode
        self.mode_actions[mode].setChecked(True)
        self.human_keys.release_all()
        self.worker.set_mode(mode)
        self._update_key_help()
        self._update_status_line()

    def set_speed(self, speed: Speed) -> None:
        self.worker.set_speed(speed)
        self._show_speed(speed)

    def _show_speed(self, speed: Speed) -> None:
        self.speed = speed
        self.speed_actions[speed].setChecked(True)
        self._update_status_line()
        self.training_panel.set_paused(speed is Speed.PAUSED)
        self._show_stats()

    def single_step(self) -> None:
        self.worker.single_step()
        self._show_speed(Speed.PAUSED)

    def toggle_pause(self) -> None:
        """Space: pause, or resume at the speed that was running before the pause."""
        if self.speed is Speed.PAUSED:
            self.set_speed(self._resume_speed)
        else:
            self._resume_speed = self.speed
            self.set_speed(Speed.PAUSED)

    def _update_status_line(self) -> None:
        if self.mode is Mode.HUMAN and self.keymap is not None and self.keymap.per_press:
            status = "HUMAN · one step per key press"
        else:
            status = f"{self.mode.value.upper()} · {self.speed.value}"
        self.game_view.set_status(status)

    def _update_key_help(self) -> None:
        visible = self.help_action.isChecked() and self.mode is Mode.HUMAN and self.keymap is not None
        if self.keymap is not None:
            self.game_view.set_key_help(self.keymap.help_title(), self.keymap.bindings())
        self.game_view.set_key_help_visible(visible)

    def _on_record_human(self, on: bool) -> None:
        self.worker.set_record_human(on)

    # ------------------------------------------------------------------ environment and agent

    def _env_id(self) -> str:
        return self.session.env_id if self.session is not None else DEFAULT_ENV

    def switch_env(self, env_id: str) -> None:
        """A new agent for `env_id`: same algorithm and network, the family's default switches."""
        self.start_session(env_id, self._spec_for(env_id))

    def _spec_for(self, env_id: str) -> AgentSpec:
        """The current algorithm and network in the same family of environments (gridworld or Atari); in the
        other family its default network (tabular Q-learning has no table for Atari)."""
        kind = env_kind(env_id)
        if self.session is not None and self.session.description.kind != kind:
            return AgentSpec("dqn", default_network(kind))
        agent_kind = "dqn" if kind == "atari" and self.spec.kind == "qlearning" else self.spec.kind
        return AgentSpec(agent_kind, self.spec.network if agent_kind == "dqn" else None)

    def open_map(self) -> None:
        """Ask about unsaved training first, then for the map (a desktop program's order)."""
        save_first = self.file_actions.confirm_discard("open another map")
        path = "" if save_first is None else QFileDialog.getOpenFileName(
            self, "Open gridworld map", str(Path("assets/gridworlds")), MAP_FILTER)[0]
        if path:
            self.spec = self._spec_for(path)
            self.worker.new_session(path, self.spec, save_first=save_first or None)
            return
        if save_first:
            self.worker.save(save_first)  # asked to save: done, even though nothing else was opened
        if self.session is not None:
            self._sync_session_widgets(self.session)

    def new_agent(self, spec: AgentSpec | None = None) -> None:
        """A fresh agent (`spec`, by default the running one's) on the running environment."""
        self.start_session(self._env_id(), spec or self.spec)

    def start_session(self, env_id: str, spec: AgentSpec, game: GameOptions | None = None) -> bool:
        """Start env_id with a fresh agent, after asking about an unsaved trained one; False if the person
        cancelled. `game`: Atari settings (by default the running game's when env_id is that game, else those
        last chosen for it)."""
        save_first = self.file_actions.confirm_discard("start a new agent")
        if save_first is None:
            if self.session is not None:
                self._sync_session_widgets(self.session)
            return False
        self.spec = spec
        if game is None and self.session is not None and env_id == self.session.env_id:
            game = self.session.description.game_options  # a new agent keeps the game's settings
        elif game is None:
            game = remembered_game(self.store, env_id)
        self.worker.new_session(env_id, spec, save_first=save_first or None, game=game)
        return True

    # ------------------------------------------------------------------ files (app.file_actions)

    def save(self) -> None:
        self.file_actions.save()

    def save_as(self) -> None:
        self.file_actions.save_as()

    def open_save(self) -> None:
        self.file_actions.open_save()

    def load(self, path: str) -> None:
        self.file_actions.load(path)

    def open_trained_agent(self, path: str) -> None:
        """A shipped agent opens in Agent play (its session says where it came from)."""
        self.file_actions.load(path)

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._shut_down and not self.file_actions.may_close():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Remember the layout, stop the loop and wait for it (a stuck child is terminated): no hang, no
        orphan process or thread."""
        if self._shut_down:
            return
        self._shut_down = True
        self.timer.stop()
        self.human_keys.remove()
        self.video_record.stop(dialog=False)  # what was recorded is kept
        self._remember_layout()
        self.worker.stop()
        if not self.worker.wait(STOP_TIMEOUT_MS):
            log.error("the training loop did not stop within %d s", STOP_TIMEOUT_MS // 1000)

    def _remember_layout(self) -> None:
        self.window_layout.remember()
        self.store.setValue("speed", self.speed.value)
        self.view_switches.remember()
        self.store.sync()


def launch(env_id: str | None, load_path: str | None, *, in_process: bool = False,
           game: GameOptions | None = None, watch: str | None = None) -> int:
    """Run the window until it closes; returns the process exit code. `game`: the first session's Atari game
    settings (the command line's --game); `watch`: a training run's save file to follow (--watch)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("DQN Arcade")
    app.setOrganizationName("DQN Arcade")
    window = MainWindow(env_id, load_path, in_process=in_process, game=game)
    window.show()
    if watch:
        window.run_watcher.start(watch)
    previous = _close_on_interrupt(window)
    try:
        code = app.exec()
    finally:
        window.shutdown()
        signal.signal(signal.SIGINT, previous)
    return int(code)


def _is_shipped(info: SessionInfo) -> bool:
    return info.opened_from is not None and is_shipped(info.opened_from)


def _close_on_interrupt(window: MainWindow) -> signal.Handlers | Callable | int | None:
    """Ctrl-C in the terminal closes the window politely (Qt's loop never returns to Python otherwise)."""
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer(window)
    ticker.timeout.connect(lambda: None)  # lets the interpreter run signal handlers
    ticker.start(250)
    return previous
