"""The window's training loop without Qt: it owns the environment, the agent and `agents.runner.run`.

Qt's mandelbrot example and superqt's generator worker, with the Qt part cut off: the loop takes commands
from a `receive` callable (checked between steps), reports what happened through an `emit` callable, and
offers copies of the latest state (`collect_frame`). A thin QObject front-end turns this into signals, either
in a thread of the window's process (`app.worker.ThreadWorker`) or in a child process
(`app.process_worker.ProcessWorker`, the default), where this module runs without ever loading Qt.

Saves and loads happen here too, because the loop owns the agent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from agents.checkpoint import LoadedSave, load_agent, load_whole, map_text_of, save_agent
from agents.envs.atari import noframeskip_id
from agents.envs.game_options import GameOptions
from agents.envs.gridworld import GridWorldEnv, map_to_text, same_cells, with_cells
from agents.envs.registry import EnvDescription, check_actions_fit, describe_env, make_env
from agents.errors import ArcadeError
from agents.factory import AgentSpec, create_agent
from agents.history import PastCurves, past_curves
from agents.replay import ReplaySummary
from agents.replay_browse import ReplayFilter, browse
from agents.rewind import Moment, restore, taken_path, try_action
from agents.runner import Mode, RunSettings, StepSnapshot, evaluation_epsilon, run
from agents.shipped import is_shipped
from agents.types import EpisodeStats, UpdateStats
from app.comparison_feed import ComparisonFeed, ComparisonView
from app.grid_maps import GridMaps
from app.rewind_feed import RewindFeed, RewindView
from app.saliency_feed import SaliencyFeed
from app.sub_frames import SubFrameRecorder, attach_recorder
from app.view_frame import SaliencyView, ViewFrame

log = logging.getLogger(__name__)

WINDOW_ATARI_OVERRIDES = ("buffer_size=100000", "learning_starts=1000")
"""Atari in the window: a 100k replay (Nature: 1M) and learning after 1,000 steps (Nature: 50,000), so a
person watching sees learning begin within a minute and the buffer fits beside a desktop's other work."""
NORMAL_RATE = {"gridworld": 8.0, "atari": 15.0}
"""Steps per second at normal speed: slow enough to follow a gridworld, the game's own pace for Atari
(60 frames/s with frame skip 4; the view plays the 4 frames of each step)."""
VIEW_RATE = 32.0
"""Steps shown per second at most (normal and fast speed): a little over 30, so a step that ends late does
not pull the view below 30 frames/s. The window pulls at 60 Hz, so its timer is never the limit."""
TURBO_FRAME_INTERVAL = 0.25
"""Turbo shows at most four steps a second."""
SUMMARY_INTERVAL = 0.3
"""The replay summary and the gridworld value map are recomputed at most about three times a second..."""
SUMMARY_SHARE = 0.1
"""...and take at most about this share of the loop's time (a big network's value map is slow on a CPU)."""
MAX_PENDING_PRESSES = 8
"""Key presses (gridworld) and held-key changes (Atari) waiting for a step: each one acts for a step."""
MAX_SUB_FRAMES = 8
"""Emulator frames kept for the view between two shown steps: two steps' worth, so a late window does not
fall further behind the game."""

Command = tuple[str, tuple]
Emit = Callable[[str, tuple], None]
"""(event name, arguments): session_started, saved, failed, map_edited, speed_changed, comparison_changed,
replay_browsed, status."""
Receive = Callable[[float], Command | None]
"""The next command, waiting at most the given seconds; None when none came."""


class Speed(str, Enum):
    """How fast the loop steps. Single steps are a command, not a speed."""

    PAUSED = "paused"
    NORMAL = "normal"
    FAST = "fast"
    """No sleeping; the view shows about 30 steps a second."""
    TURBO = "turbo"
    """Full-speed training; the view shows a few steps a second."""


@dataclass(frozen=True)
class SessionInfo:
    """A new environment/agent pair is running: what the window needs to reset its views."""

    session_id: int
    env_id: str
    description: EnvDescription
    agent_kind: str
    network: str | None
    double: bool | None
    dueling: bool | None
    save_path: str | None
    step_count: int
    config: Any = None
    """The agent's hyperparameters (a frozen dataclass copy)."""
    notice: str | None = None
    """What the user should know about how the agent was opened (e.g. imported from SB3: a fresh optimizer)."""
    opened_from: str | None = None
    """The file the agent was opened from (a read-only shipped agent or an imported model too), for the title."""
    map_text: str | None = None
    """A gridworld's map as the session started with it, in the map file format (what the map editor starts
    from; the editor's later edits are not reflected here). None for Atari."""
    curves: PastCurves | None = None
    """The agent's learning curves so far (a save's episodes and history), drawn before its first new step."""
    watched: bool = False
    """The agent is the latest save of a training run the window follows (File > Watch a Training Run): read-only,
    replaced by the next save the run writes."""


@dataclass(frozen=True)
class LoopStatus:
    """The loop's state as of the latest command or frame: the window reads these instead of the agent."""

    speed: Speed = Speed.NORMAL
    mode: Mode = Mode.TRAIN
    trained_steps: int = 0
    """The agent's lifetime step count."""
    unsaved_steps: int = 0
    """Training steps since the last save or load (0 for an untrained agent)."""
    session_id: int = -1
    loop_steps: int = 0
    """Environment steps this loop has taken, in every mode (human play too)."""


class FrameGate(Protocol):
    """The handshake with the window: a step is drawn and published only while the gate is open, that is while
    the window has taken (all but a set number of) the frames published before. Steps nobody will see are
    never drawn."""

    def open(self) -> bool: ...

    def published(self) -> None: ...


class LocalFrameGate:
    """The frame gate of the thread front-end: open once the window took the last frame (one slot)."""

    def __init__(self) -> None:
        self.wanted = True

    def open(self) -> bool:
        return self.wanted

    def published(self) -> None:
        self.wanted = False


@dataclass
class _Session:
    """One environment, one agent, and the loop over them (created lazily at the first step)."""

    session_id: int
    env_id: str
    env: gym.Env
    agent: Any
    description: EnvDescription
    map_text: str | None = None
    save_path: str | None = None
    saved_steps: int = 0
    steps: Iterator[StepSnapshot] | None = None
    broken: bool = False
    recorder: SubFrameRecorder | None = None
    grid_maps: GridMaps = field(default_factory=GridMaps)
    notice: str | None = None
    opened_from: str | None = None
    keep_replay: bool = False
    """The save it came from held a replay: saving writes it again, so Ctrl+S never drops it from that file."""
    watched: bool = False
    """Opened to follow a training run's saves (see SessionInfo.watched)."""
    rewind: RewindFeed = field(init=False)
    """The episode's recorded moments and where the view is in them (stepping back)."""

    def __post_init__(self) -> None:
        # A gridworld draws any state from its cell; ALE does not redraw a restored state, so its screens are kept.
        self.rewind = RewindFeed(keep_frames=self.description.kind != "gridworld")

    @property
    def network(self) -> str | None:
        return getattr(self.agent.config, "network", None) if self.agent.kind == "dqn" else None

    def info(self) -> SessionInfo:
        config = self.agent.config
        return SessionInfo(self.session_id, self.env_id, self.description, self.agent.kind, self.network,
                           getattr(config, "double", None), getattr(config, "dueling", None),
                           self.save_path, self.agent.step_count, config, self.notice,
                           opened_from=self.opened_from, map_text=self.playing_map_text(),
                           curves=past_curves(self.agent), watched=self.watched)

    def playing_map_text(self) -> str | None:
        grid = getattr(self.env.unwrapped, "grid", None)
        return map_to_text(grid) if self.description.kind == "gridworld" and grid is not None else None

    def replace_env(self, env: gym.Env) -> None:
        self.close()
        self.env, self.recorder, self.broken = env, attach_recorder(env), False

    def close_steps(self) -> None:
        """End the run over the environment: the next step starts a new one, with a reset."""
        if self.steps is not None:
            self.steps.close()
        self.steps = None
        self.rewind.reset()

    def next_snapshot(self, settings: RunSettings) -> StepSnapshot:
        """Take a step: the episode goes on, or, from a moment the view stepped back to, continues from there."""
        start = self.rewind.branch_point()
        if start is not None and self.steps is not None:
            self.steps.close()
            self.steps = None
        if self.steps is None:
            self.steps = run(self.env, self.agent, settings, history=self.rewind.history, start=start)
        return next(self.steps)

    def close(self) -> None:
        self.close_steps()
        self.env.close()


@dataclass
class _Published:
    """The latest picture the loop offers, plus everything that happened since the window last pulled."""

    session_id: int = -1
    snapshot: StepSnapshot | None = None
    fresh: bool = False
    sub_frames: tuple[np.ndarray, ...] = ()
    replay: ReplaySummary | None = None
    grid_values: np.ndarray | None = None
    grid_actions: np.ndarray | None = None
    saliency: SaliencyView | None = None
    comparison: ComparisonView | None = None
    rewind: RewindView | None = None
    steps_per_second: float = 0.0
    episodes: list[EpisodeStats] = field(default_factory=list)
    updates: deque[tuple[int, UpdateStats]] = field(default_factory=lambda: deque(maxlen=5000))


def one_line(error: BaseException) -> str:
    """A user error's own message, or the exception type and its first line for a bug."""
    if isinstance(error, ArcadeError):
        return str(error)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class TrainingLoop:
    """Runs the loop in the calling thread (`run`, or `tick` by tick). `collect_frame` and `status` may be
    called from another thread; commands only arrive through `receive`."""

    def __init__(self, *, emit: Emit, receive: Receive, device: str = "cpu",
                 agent_overrides: Mapping[str, Sequence[str]] | None = None, seed: int | None = None,
                 gate: FrameGate | None = None, first_session_id: int = 0) -> None:
        self._emit = emit
        self._receive = receive
        self._device = device
        self._agent_overrides = {kind: tuple(items) for kind, items in (agent_overrides or {}).items()}
        self._seed = seed
        self._gate: FrameGate = gate if gate is not None else LocalFrameGate()
        self._lock = threading.Lock()
        self._published = _Published()
        self._session: _Session | None = None
        self._session_counter = first_session_id
        self._held_action = 0
        self._held_changes: deque[int] = deque(maxlen=MAX_PENDING_PRESSES)
        self._presses: deque[int] = deque(maxlen=MAX_PENDING_PRESSES)
        self._press_action = 0
        self._single_step = False
        self._unpublished: StepSnapshot | None = None
        self._screens: deque[np.ndarray] = deque(maxlen=MAX_SUB_FRAMES + 1)
        self._between_steps: deque[np.ndarray] = deque(maxlen=MAX_SUB_FRAMES)
        """Fast speed (Atari): pictures of steps taken between two shown ones, which the view plays in between."""
        self._next_due = 0.0
        self._next_frame = 0.0
        self._last_publish = 0.0
        self._last_summary = -1.0
        self._summary_cost = 0.0
        self._saliency = SaliencyFeed()
        self._comparison = ComparisonFeed()
        self._rate_mark = (time.perf_counter(), 0)
        self._steps_taken = 0
        self.stopped = False
        self.speed = Speed.NORMAL
        # The loop neither draws nor evaluates: `_completed` does both for the steps that are shown.
        self.settings = RunSettings(mode=Mode.TRAIN, human_action=self._human_action, evaluate=False,
                                    render=False)

    # ------------------------------------------------------------------ what the front-ends read

    def status(self) -> LoopStatus:
        session = self._session
        if session is None:
            return LoopStatus(self.speed, self.settings.mode, loop_steps=self._steps_taken)
        steps = session.agent.step_count
        return LoopStatus(self.speed, self.settings.mode, steps, max(0, steps - session.saved_steps),
                          session.session_id, self._steps_taken)

    def collect_frame(self, session_id: int | None = None, *, want_next: bool = True) -> ViewFrame | None:
        """The newest ViewFrame, or None if no step was published since the last one (or it is another
        session's than `session_id`). `want_next`: the caller is the window, ready for the next step.

        Episodes and updates wait for the next published step, so in turbo the panels redraw a few times a
        second rather than on every refresh.
        """
        with self._lock:
            if want_next and isinstance(self._gate, LocalFrameGate):
                self._gate.wanted = True
            published = self._published
            if published.snapshot is None or not published.fresh:
                return None
            if session_id is not None and published.session_id != session_id:
                return None
            session = self._session
            if session is None or session.session_id != published.session_id:
                return None
            frame = ViewFrame(
                snapshot=published.snapshot, description=session.description, agent_kind=session.agent.kind,
                network=session.network, new_episodes=tuple(published.episodes),
                new_updates=tuple(published.updates), steps_per_second=published.steps_per_second,
                replay=published.replay, grid_values=published.grid_values,
                grid_actions=published.grid_actions, sub_frames=published.sub_frames, saliency=published.saliency,
                comparison=published.comparison, rewind=published.rewind)
            published.fresh, published.sub_frames = False, ()
            published.episodes.clear()
            published.updates.clear()
            return frame

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Handle commands and step until a stop command, then close the environment."""
        try:
            while not self.stopped:
                self.tick()
        finally:
            self.close()

    def tick(self) -> None:
        """Handle the commands that arrived (waiting for one while no step is due), then step if one is due."""
        self._handle_commands(self._wait_time(time.perf_counter()))
        if self.stopped:
            return
        if self._step_due(time.perf_counter()):
            self._step_guarded()
        elif self._unpublished is not None:
            self._publish_unpublished()
        if self._saliency.pending:
            self._advance_saliency()

    def close(self) -> None:
        """Close the environment and let go of the session (its emulator is freed now, not at exit)."""
        session = self._session
        if session is not None:
            session.close()
            with self._lock:
                self._session = None

    def _wait_time(self, now: float) -> float:
        """How long to wait for a command: until the next paced step, or a while when idle."""
        if self._session is None:
            return 0.5
        if self._step_due(now) or self._saliency.pending:
            return 0.0
        rate = self._pace()
        if rate is not None and self.speed is not Speed.PAUSED and not self._waits_for_press():
            return min(max(self._next_due - now, 0.0), 0.05)
        return 0.5

    def _handle_commands(self, timeout: float) -> None:
        command = self._receive(timeout)
        if command is None:
            return
        while command is not None and not self.stopped:
            self._dispatch(*command)
            command = self._receive(0.0)
        self._emit("status", ())

    def _dispatch(self, name: str, args: tuple) -> None:
        try:
            getattr(self, f"_on_{name}")(*args)
        except Exception as error:  # noqa: BLE001 - a command that fails is reported, the window stays usable
            self._fail(error)

    # ------------------------------------------------------------------ commands

    def _on_stop(self) -> None:
        self.stopped = True

    def _on_mode(self, mode: Mode) -> None:
        self.settings.mode = Mode(mode)
        self._presses.clear()
        self._held_changes.clear()
        self._next_due = 0.0

    def _on_speed(self, speed: Speed) -> None:
        self.speed = Speed(speed)
        self._next_due = 0.0

    def _on_step(self) -> None:
        """One step, then paused; stepped back, one moment forward through what happened instead."""
        self._pause()
        session = self._session
        if session is not None and session.rewind.rewound:
            self._on_rewind_by(1)
            return
        self._single_step = True

    def _pause(self) -> None:
        if self.speed is not Speed.PAUSED:
            self.speed = Speed.PAUSED
            self._emit("speed_changed", (self.speed.value,))

    def _on_rewind_to(self, index: int) -> None:
        """Show moment `index` of the episode's history (pausing first): the environment is put back there."""
        session = self._session
        if session is None:
            return
        self._pause()
        self._single_step = False
        self._unpublished = None  # the newest step is in the history: the present to come back to
        moment = session.rewind.move_to(index)
        if moment is not None:
            self._show_moment(session, moment)

    def _on_rewind_by(self, steps: int) -> None:
        session = self._session
        if session is not None:
            self._on_rewind_to(session.rewind.position + int(steps))

    def _on_what_if(self, action: int | None, horizon: int) -> None:
        """From the moment shown, play `action` (None: each action in turn) and then the agent greedily for
        `horizon` steps in all; the results go with the frame, and the environment is put back."""
        session = self._session
        moment = session.rewind.moment() if session is not None else None
        if session is None or moment is None or moment.ended:
            return  # nothing follows the last step of an episode (the panel says so)
        self._pause()
        feed = session.rewind
        feed.horizon = max(1, min(int(horizon), 10_000))
        actions = range(len(session.description.action_names)) if action is None else (int(action),)
        for chosen in actions:
            feed.add_try(try_action(session.env, session.agent, moment, chosen, feed.horizon))
        if session.recorder is not None:
            session.recorder.take()  # the branches' screens were never shown
        with self._lock:
            self._published.rewind = feed.view()
            self._offer_again()

    def _show_moment(self, session: _Session, moment: Moment) -> None:
        """Publish a recorded moment like a step: the view, the Q-values, saliency and comparison follow it."""
        restore(session.env, moment.state)
        if session.recorder is not None:
            session.recorder.take()
        self._screens.clear()
        self._between_steps.clear()
        feed, agent = session.rewind, session.agent
        if feed.rewound:
            feed.taken = taken_path(feed.history, agent, feed.position, feed.horizon)
        latest = feed.history.latest
        episode = len(agent.episodes) - (latest is not None and latest.ended)  # an ended episode was counted
        names = session.description.action_names
        snapshot = StepSnapshot(
            frame=moment.frame if moment.frame is not None else np.asarray(session.env.render(), dtype=np.uint8),
            observation=moment.observation, evaluation=agent.evaluate(moment.observation),
            action=moment.action or 0, action_name=names[moment.action] if moment.action is not None else "",
            reward=moment.reward, terminated=moment.terminated, truncated=moment.truncated,
            episode=episode, episode_step=moment.episode_step,
            episode_return=moment.episode_return, total_steps=agent.step_count, epsilon=agent.epsilon,
            mode=self.settings.mode, update=None, finished=None, info={"rewind": True})
        self._publish(session, snapshot, force=True)

    def _on_press(self, action: int) -> None:
        if self.settings.mode is Mode.HUMAN and self._per_press():
            self._presses.append(int(action))

    def _on_held(self, action: int) -> None:
        """The held keys changed (Atari): every change acts for at least one step, so a tap shorter than a
        step is not lost; the last one then holds."""
        self._held_action = int(action)
        human = self.settings.mode is Mode.HUMAN and not self._per_press()
        if human and (not self._held_changes or self._held_changes[-1] != action):
            self._held_changes.append(int(action))

    def _on_saliency(self, on: bool) -> None:
        """Compute saliency maps for the published frames (the game view's overlay), or stop. Switched on while
        paused, the first map is of the step on screen."""
        self._saliency.set_enabled(bool(on))
        session, snapshot = self._session, self._published.snapshot
        if on and session is not None and snapshot is not None:
            self._saliency.offer(session.description.kind, session.agent, snapshot.observation, time.perf_counter(),
                                 self._steps_taken)

    def _on_compare(self, path: str | None) -> None:
        """Compare the running agent with the save at `path` (None: stop). A save that cannot be compared is
        failed("compare", ...), and the comparison before it goes on."""
        session = self._session
        if path is None or session is None:
            self._end_comparison()
            return
        try:
            loaded = load_agent(path, device=self._device)
            self._comparison.start(loaded.agent, path, loaded.env_id, session.description)
        except Exception as error:  # noqa: BLE001 - a bad file is a message, the run goes on
            self._emit("failed", ("compare", one_line(error)))
            return
        self.settings.play_agent = self._comparison.play_agent()
        self._emit("comparison_changed", (self._comparison.name, self._comparison.trained_on))
        self._republish(session)

    def _on_actor(self, actor: str) -> None:
        self._comparison.set_actor(actor)
        self.settings.play_agent = self._comparison.play_agent()
        if self._session is not None:
            self._republish(self._session)

    def _end_comparison(self) -> None:
        was_on = self._comparison.active
        self._comparison.stop()
        self.settings.play_agent = None
        with self._lock:
            self._published.comparison = None
        if was_on:
            self._emit("comparison_changed", ("", ""))

    def _republish(self, session: _Session) -> None:
        """Show the step on screen again with the comparison as it is now (the loop may be paused)."""
        snapshot = self._published.snapshot
        if snapshot is None or self._published.session_id != session.session_id:
            return
        comparison = self._comparison.view(session.agent, snapshot.observation, snapshot.evaluation, snapshot.episode)
        with self._lock:
            self._published.comparison = comparison
            self._offer_again()

    def _advance_saliency(self) -> None:
        """A pass of the saliency map in the making (one tick's worth); a map finished while the loop is idle is
        published with the step on screen at once, since no step will carry it."""
        session = self._session
        now = time.perf_counter()
        idle = self.speed is Speed.PAUSED or self._waits_for_press()
        spare = None if idle else (self._next_due - now if self._pace() is not None else 0.0)
        try:
            finished = self._saliency.advance(now, spare)
        except Exception as error:  # noqa: BLE001 - the overlay stops, training goes on
            log.warning("saliency failed", exc_info=error)
            self._saliency.set_enabled(False)
            self._emit("failed", ("saliency", one_line(error)))
            return
        if not finished or not idle or session is None:
            return
        with self._lock:
            published = self._published
            if published.snapshot is None or published.session_id != session.session_id:
                return
            published.saliency = self._saliency.view(time.perf_counter(), self._steps_taken,
                                                     session.description.action_names)
            self._offer_again()

    def _offer_again(self) -> None:
        """The step on screen gained something (a map, a comparison): publish it again. Called holding the lock."""
        if not self._published.fresh:
            self._gate.published()
        self._published.fresh = True

    def _on_browse_replay(self, wanted: ReplayFilter, position: int) -> None:
        """The replay browser's question: the stored transition at `position` of those passing `wanted`."""
        replay = getattr(self._session.agent, "replay", None) if self._session is not None else None
        entry = browse(replay, wanted, position) if replay is not None else None
        self._emit("replay_browsed", (entry, len(replay) if replay is not None else 0))

    def _on_record_human(self, record: bool) -> None:
        self.settings.record_human = bool(record)

    def _on_restart(self) -> None:
        session = self._session
        if session is not None:
            session.replace_env(self._make_env(session.env_id, session.map_text, session.description.game_options))
            self._unpublished = None  # a step of the closed env: its picture can no longer be drawn
            self._offer_preview(session)

    def _on_edit_map(self, session_id: int, cells: Sequence[tuple[Sequence[int], str]]) -> None:
        """Paint cells of the running gridworld (the map editor). The agent keeps its network: the map keeps its
        size, so the observation's shape is unchanged. The episode in progress was played on the old map and
        ends here, as on Restart, once per command whatever its number of cells, so the replay gets one seam
        instead of a transition across the edit. Every command of a gridworld is answered with
        map_edited(session id, the map as the loop now plays it), after failed("edit", ...) when refused, so the
        editor can follow the live map."""
        session = self._session
        if session is None or session.session_id != session_id:
            return  # an edit of a session that has been replaced: the editor starts over with the new one
        env = session.env.unwrapped
        if not isinstance(env, GridWorldEnv):
            self._emit("failed", ("edit", f"{session.description.name} has no map to edit"))
            return
        try:
            self._paint_cells(session, env, cells)
        except ArcadeError as error:
            self._emit("failed", ("edit", one_line(error)))
        self._emit("map_edited", (session_id, map_to_text(env.grid)))

    def _paint_cells(self, session: _Session, env: GridWorldEnv, cells: Sequence[tuple[Sequence[int], str]]) -> None:
        grid = with_cells(env.grid, cells)
        if same_cells(grid, env.grid):
            return  # nothing changed: the episode goes on
        env.set_map(grid)
        session.map_text = map_to_text(grid)  # a save from now on carries (and reopens) the edited map
        session.grid_maps.forget()
        session.close_steps()
        self._unpublished = None
        self._offer_preview(session)

    def _on_new_session(self, env_id: str, spec: AgentSpec, game: GameOptions | None = None) -> None:
        try:
            session = self._create_session(env_id, spec, game)
        except Exception as error:  # noqa: BLE001 - any failure leaves the old session running
            log.warning("cannot start %s", env_id, exc_info=not isinstance(error, ArcadeError))
            self._emit("failed", ("session", one_line(error)))
            return
        self._start_session(session)

    def _on_load(self, path: str, env_hint: str | None = None) -> None:
        try:
            session = self._load_session(path, env_hint)
        except Exception as error:  # noqa: BLE001 - a bad file must not stop the current training
            log.warning("cannot open %s", path, exc_info=not isinstance(error, ArcadeError))
            self._emit("failed", ("load", one_line(error)))
            return
        self._start_session(session)

    def _on_watch(self, path: str) -> None:
        """Open the latest save of a training run that another process writes, to follow it read-only: its
        weights and curves, without its replay, and never saved back to that file. A save that cannot be read
        now (the run may be writing its first) is failed("watch", ...), and what runs goes on."""
        try:
            loaded = load_agent(path, device=self._device)
            session = self._session_from(loaded, path, save_path=None, saved_steps=loaded.agent.step_count,
                                         watched=True)
        except Exception as error:  # noqa: BLE001 - a bad or missing file must not stop what runs
            log.warning("cannot watch %s", path, exc_info=not isinstance(error, ArcadeError))
            self._emit("failed", ("watch", one_line(error)))
            return
        self._start_session(session)

    def _on_save(self, path: str, then: Command | None) -> None:
        session = self._session
        if session is None:
            self._emit("failed", ("save", "nothing to save yet"))
            return
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            save_agent(path, session.agent, env_id=session.env_id, map_text=session.map_text,
                       game_options=session.description.game_options, include_replay=session.keep_replay)
        except Exception as error:  # noqa: BLE001 - a failed save is reported, training goes on
            log.warning("cannot save %s", path, exc_info=not isinstance(error, ArcadeError))
            self._emit("failed", ("save", one_line(error)))
            return
        session.save_path, session.saved_steps = str(path), session.agent.step_count
        self._emit("saved", (str(path),))
        if then is not None:
            self._dispatch(*then)

    # ------------------------------------------------------------------ sessions

    def _make_env(self, env_id: str, map_text: str | None, game: GameOptions | None = None) -> gym.Env:
        """The environment for `env_id`. A gridworld session's own map text is its map: a save's (the map the
        agent trained on, also when the file moved or changed) or the map as edited in the window. `game`: an
        Atari game's settings."""
        return make_env(env_id, render_mode="rgb_array", seed=self._seed, map_text=map_text, game=game)

    def _create_session(self, env_id: str, spec: AgentSpec, game: GameOptions | None = None) -> _Session:
        env = self._make_env(env_id, None, game)
        try:
            description = describe_env(env_id, env, game)
            window = WINDOW_ATARI_OVERRIDES if description.kind == "atari" and spec.kind == "dqn" else ()
            agent = create_agent(description, spec, device=self._device, seed=self._seed,
                                 extra_overrides=(*window, *self._agent_overrides.get(spec.kind, ())))
        except BaseException:
            env.close()
            raise
        self._session_counter += 1
        return _Session(self._session_counter, env_id, env, agent, description, map_text=map_text_of(env_id, env),
                        recorder=attach_recorder(env))

    def _load_session(self, path: str, env_hint: str | None = None) -> _Session:
        # An SB3 or CleanRL model that does not name its game plays the game open now, as they trained it.
        current = self._session.env_id if self._session is not None else None
        hint = env_hint or (noframeskip_id(current) if current else None)
        loaded = load_whole(path, device=self._device, env_hint=hint)  # a replay in the save comes back too
        return self._session_from(loaded, path,
                                  save_path=None if loaded.imported_from or is_shipped(path) else str(path),
                                  saved_steps=loaded.agent.step_count,
                                  keep_replay=len(getattr(loaded.agent, "replay", ())) > 0)

    def _session_from(self, loaded: LoadedSave, path: str, **fields: Any) -> _Session:
        """A session over a fresh environment of the game a loaded agent was trained on."""
        env = self._make_env(loaded.env_id, loaded.map_text, loaded.game_options)
        try:
            description = describe_env(loaded.env_id, env, loaded.game_options)
            check_actions_fit(loaded.agent.action_names, description, Path(path).name)
        except BaseException:
            env.close()
            raise
        self._session_counter += 1
        return _Session(self._session_counter, loaded.env_id, env, loaded.agent, description,
                        map_text=loaded.map_text, recorder=attach_recorder(env), notice=loaded.notice,
                        opened_from=str(path), **fields)

    def _start_session(self, session: _Session) -> None:
        if self._session is not None:
            self._session.close()
        with self._lock:
            self._session = session
            self._published = _Published(session_id=session.session_id)
        self._presses.clear()
        self._held_changes.clear()
        self._unpublished = None
        self._last_summary = -1.0
        self._saliency.reset()
        self._end_comparison()
        self.settings.play_epsilon = evaluation_epsilon(session.description.kind)
        self._emit("session_started", (session.info(),))
        self._offer_preview(session)

    def _offer_preview(self, session: _Session) -> None:
        """Show the start state before the first step, so a paused window is not blank."""
        try:
            obs, info = session.env.reset(seed=self._seed)
            self._screens.clear()
            self._between_steps.clear()
            if session.recorder is not None:
                session.recorder.take()
            snapshot = StepSnapshot(
                frame=np.asarray(session.env.render(), dtype=np.uint8), observation=np.array(obs, copy=True),
                evaluation=session.agent.evaluate(obs), action=0, action_name="", reward=0.0,
                terminated=False, truncated=False, episode=len(session.agent.episodes), episode_step=0,
                episode_return=0.0, total_steps=session.agent.step_count, epsilon=session.agent.epsilon,
                mode=self.settings.mode, update=None, finished=None, info=dict(info))
            self._publish(session, snapshot, force=True)
            self._summary_cost = 0.0  # that first summary paid the network's warm-up: no measure of the next ones
        except Exception as error:  # noqa: BLE001 - reported like any loop failure
            self._fail(error)

    # ------------------------------------------------------------------ stepping

    def _per_press(self) -> bool:
        return self._session is not None and self._session.description.kind == "gridworld"

    def _waits_for_press(self) -> bool:
        return self.settings.mode is Mode.HUMAN and self._per_press()

    def _pace(self) -> float | None:
        """Steps per second to hold, or None for as fast as possible."""
        if self._session is None:
            return None
        kind = self._session.description.kind
        if self.settings.mode is Mode.HUMAN and kind != "gridworld":
            return NORMAL_RATE[kind]  # a person plays at the game's native speed, whatever the speed setting
        return NORMAL_RATE.get(kind, 10.0) if self.speed is Speed.NORMAL else None

    def _step_due(self, now: float) -> bool:
        if self._session is None:
            return False
        if self._waits_for_press():
            return bool(self._presses)
        if self._single_step:
            return True
        if self.speed is Speed.PAUSED:
            return False
        return self._pace() is None or now >= self._next_due

    def _human_action(self) -> int:
        if self._per_press():
            return self._press_action
        return self._held_changes.popleft() if self._held_changes else self._held_action

    def _step_guarded(self) -> None:
        try:
            self._step()
        except Exception as error:  # noqa: BLE001 - the window reports it and stays usable
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        log.error("the run stopped: %s", one_line(error), exc_info=error)
        if self._session is not None:
            self._session.steps = None  # a generator that raised is finished
            self._session.broken = True
        self._single_step = False
        self._unpublished = None
        self.speed = Speed.PAUSED
        self._emit("speed_changed", (self.speed.value,))
        self._emit("failed", ("run", one_line(error)))

    def _step(self) -> None:
        session = self._session
        assert session is not None
        if session.broken:
            session.replace_env(self._make_env(session.env_id, session.map_text, session.description.game_options))
        forced = self._single_step or self._waits_for_press()
        if self._waits_for_press():
            self._press_action = self._presses.popleft()
        self._single_step = False
        recorder = session.recorder
        if recorder is not None:
            recorder.recording = self._pace() is not None  # the game's own pace: show every emulator frame
        now = time.perf_counter()
        snapshot = session.next_snapshot(self.settings)
        if recorder is not None and recorder.recording:
            self._screens.extend(recorder.take())
        self._comparison.observe(session.agent, snapshot.observation, snapshot.episode)
        self._account(snapshot)
        rate = self._pace()
        if rate is not None:
            self._next_due = max(self._next_due + 1.0 / rate, now)
        if forced or self._publish_due(time.perf_counter()):
            self._publish(session, self._completed(session, snapshot), force=forced)
            self._unpublished = None
        else:
            self._unpublished = snapshot
            self._keep_between_step(session)

    def _keep_between_step(self, session: _Session) -> None:
        """At fast speed the steps come in bursts (a few quick steps, then a slow gradient update), so a view
        that showed only published steps would stutter well below 30 frames/s though enough steps are taken.
        Keep the picture of every k-th unshown Atari step, k chosen so about VIEW_RATE to 2 x VIEW_RATE pictures
        a second reach the view, which plays them between the shown steps. Gridworld pictures cost more than a
        step, and turbo does not try to show the game, so neither keeps any."""
        if self.speed is not Speed.FAST or session.recorder is None:
            return
        every = max(1, int(self._published.steps_per_second // VIEW_RATE))
        if self._steps_taken % every == 0:
            self._between_steps.append(np.asarray(session.env.render(), dtype=np.uint8))

    def _publish_unpublished(self) -> None:
        """The loop went idle (paused, waiting for a key) after steps the window has not seen: show the last."""
        snapshot, self._unpublished = self._unpublished, None
        session = self._session
        if snapshot is None or session is None:
            return
        try:
            self._publish(session, self._completed(session, snapshot), force=True)
        except Exception as error:  # noqa: BLE001 - reported like any loop failure
            self._fail(error)

    def _publish_due(self, now: float) -> bool:
        """Show a step when the window is ready for one (it took the last), at most VIEW_RATE a second (a few
        a second in turbo): steps nobody sees are never drawn."""
        if not self._gate.open():
            return False
        if self.speed is Speed.TURBO:
            return now - self._last_publish >= TURBO_FRAME_INTERVAL
        return now >= self._next_frame

    @staticmethod
    def _completed(session: _Session, snapshot: StepSnapshot) -> StepSnapshot:
        """The snapshot with its picture and Q-values, computed only for steps that are shown (a gridworld
        picture costs more than a training step). The loop is paused at this step, so the env still shows it."""
        return replace(snapshot, frame=np.asarray(session.env.render(), dtype=np.uint8),
                       evaluation=session.agent.evaluate(snapshot.observation))

    def _account(self, snapshot: StepSnapshot) -> None:
        """Per-step streams are kept until the window pulls them, so no episode or update is lost."""
        with self._lock:
            if snapshot.finished is not None:
                self._published.episodes.append(snapshot.finished)
            if snapshot.update is not None:
                self._published.updates.append((snapshot.total_steps, snapshot.update))
        now = time.perf_counter()
        mark_time, mark_steps = self._rate_mark
        self._steps_taken += 1
        if now - mark_time >= 1.0:
            with self._lock:
                self._published.steps_per_second = (self._steps_taken - mark_steps) / (now - mark_time)
            self._rate_mark = (now, self._steps_taken)

    def _publish(self, session: _Session, snapshot: StepSnapshot, *, force: bool) -> None:
        now = time.perf_counter()
        self._last_publish = now
        self._next_frame = max(self._next_frame + 1.0 / VIEW_RATE, now)
        interval = max(SUMMARY_INTERVAL, self._summary_cost / SUMMARY_SHARE)
        refresh = force or now - self._last_summary >= interval
        replay = grid = None
        if refresh:
            replay = self._replay_summary(session)
            grid = self._grid_maps(session)
            self._last_summary = time.perf_counter()
            self._summary_cost = self._last_summary - now
        screens = (*self._between_steps, *tuple(self._screens)[:-1])  # the last one is `snapshot.frame`
        self._screens.clear()
        self._between_steps.clear()
        self._saliency.offer(session.description.kind, session.agent, snapshot.observation, now, self._steps_taken)
        saliency = self._saliency.view(now, self._steps_taken, session.description.action_names)
        comparison = self._comparison.view(session.agent, snapshot.observation, snapshot.evaluation, snapshot.episode)
        with self._lock:
            self._gate.published()
            published = self._published
            if screens:
                unseen = (published.snapshot.frame,) if published.fresh and published.snapshot else ()
                published.sub_frames = (*published.sub_frames, *unseen, *screens)[-MAX_SUB_FRAMES:]
            published.snapshot, published.fresh = snapshot, True
            published.saliency, published.comparison = saliency, comparison
            published.rewind = session.rewind.view()
            if refresh:
                published.replay = replay
                if grid is not None:
                    published.grid_values, published.grid_actions = grid

    @staticmethod
    def _replay_summary(session: _Session) -> ReplaySummary | None:
        replay = getattr(session.agent, "replay", None)
        if replay is None:
            return None
        return replace(replay.summary(), last_batch=getattr(session.agent, "last_batch", None))

    @staticmethod
    def _grid_maps(session: _Session) -> tuple[np.ndarray, np.ndarray] | None:
        """V(s) and the greedy action with the agent standing on each free cell (gridworld only)."""
        if session.description.kind != "gridworld":
            return None
        return session.grid_maps.compute(session.env, session.agent, session.description.obs_shape[-2:])
