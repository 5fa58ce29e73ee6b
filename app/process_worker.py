"""The training loop in a child process, behind the same QObject interface as the thread front-end.

The window's process keeps the GUI: it sends commands down one pipe and reads events and frames from
another (`app.training_process` is the child's side). A reader thread receives them (a child frozen in the
middle of a message then blocks that thread, never the GUI); a timer hands them to the GUI thread as the
usual signals, and `take_frame` checks too, so a frame is shown at the first refresh after it arrives. The
frame handshake is a pair of counters in shared memory (`app.training_process.SharedFrameGate`): the child
draws a step only while the window has taken all but one of the frames sent, and the window shows every frame
it gets, one per refresh, so steps nobody sees are never drawn, pickled or sent.

If the child dies (a crash, an out-of-memory kill, `kill -9`), the window hears it as `failed("process", ...)`
and the speed goes to paused; Restart, choosing an environment or opening a save starts a new child (with the
last save of the session that died, if it had one). Closing the window stops the child, waits a few seconds,
then terminates it: closing never hangs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer

from agents.factory import AgentSpec
from app.training_loop import MAX_SUB_FRAMES, Command, LoopStatus, SessionInfo, Speed
from app.training_process import COUNTER_MASK, FRAMES_IN_FLIGHT, ChildConfig, child_main
from app.view_frame import ViewFrame
from app.worker import WorkerBase

log = logging.getLogger(__name__)

POLL_MS = 15
"""How often the pipe is read for events when the window is not pulling frames."""
STOP_TIMEOUT_MS = 5000
"""How long closing waits for the child to finish its step and close its environment before terminating it."""
PIPE_BYTES = 1 << 20
"""The message pipe's size where the system allows it (Linux's default limit for an unprivileged process)."""
REMEMBERED = ("speed", "mode", "record_human", "held")
"""Settings a new child is given before anything else, so it continues where the dead one was."""


class ProcessWorker(WorkerBase):
    """Runs `app.training_loop.TrainingLoop` in a spawned child process."""

    def __init__(self, *, device: str = "cpu", agent_overrides: Mapping[str, Sequence[str]] | None = None,
                 seed: int | None = None, torch_threads: int = 1, child_setup: Callable[[], Any] | None = None,
                 poll_ms: int = POLL_MS) -> None:
        super().__init__()
        self._config = ChildConfig(device=device, seed=seed, torch_threads=torch_threads, setup=child_setup,
                                   agent_overrides={k: tuple(v) for k, v in (agent_overrides or {}).items()})
        self._process: multiprocessing.process.BaseProcess | None = None
        self._commands: Connection | None = None
        self._inbox: queue.SimpleQueue[tuple] | None = None
        self._taken: Any = None
        self._status = LoopStatus()
        self._frames: deque[tuple[int, ViewFrame]] = deque()
        """(session id, frame) received and not yet taken by the window, oldest first."""
        self._replay: Any = None
        self._grid: tuple[Any, Any] = (None, None)
        self._state: dict[str, Command] = {}
        self._recovery: Command | None = None
        self._session_seen = False
        self._last_session_id = 0
        self._crash: str | None = None
        self._stopping = False
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.poll)

    # ------------------------------------------------------------------ life cycle

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child now (torch's import takes seconds; the window builds its widgets meanwhile)."""
        if self._process is None:
            self._stopping = False
            self._spawn(None)

    def stop(self) -> None:
        self._stopping = True
        self._timer.stop()
        if self._commands is not None:
            with contextlib.suppress(OSError, ValueError):  # already gone
                self._commands.send(("stop", ()))

    def wait(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Wait for the child to exit, reading (and dropping) its messages so it is never stuck writing; then
        terminate it if it is still there."""
        process = self._process
        if process is None:
            return True
        deadline = time.monotonic() + timeout_ms / 1000
        while process.is_alive() and time.monotonic() < deadline:
            self._drop_messages()
            process.join(0.02)
        clean = not process.is_alive()
        if not clean:
            log.error("the training process did not stop within %.1f s; terminating it", timeout_ms / 1000)
            process.terminate()
            process.join(1.0)
            if process.is_alive():  # stopped (SIGSTOP) or ignoring SIGTERM
                process.kill()
                process.join(2.0)
        self._forget_process()
        self.finished.emit()
        return clean

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _spawn(self, first: Command | None) -> None:
        """A new child, given the remembered settings, then `first` (a session to start)."""
        context = multiprocessing.get_context("spawn")  # fork is unsafe with Qt's and torch's threads
        commands_in, commands_out = context.Pipe(duplex=False)
        messages_in, messages_out = context.Pipe(duplex=False)
        _widen(messages_in)
        sent, taken = context.RawValue(ctypes.c_uint32, 0), context.RawValue(ctypes.c_uint32, 0)
        config = replace(self._config, first_session_id=self._last_session_id)
        process = context.Process(target=child_main, args=(config, commands_in, messages_out, sent, taken),
                                  name="dqn-arcade-training", daemon=True)
        process.start()
        commands_in.close()  # the child's ends: closed here, so a dead child means EOF and a broken pipe
        messages_out.close()
        self._inbox = queue.SimpleQueue()
        threading.Thread(target=_read, args=(messages_in, self._inbox), name="from-training", daemon=True).start()
        self._process, self._commands, self._taken = process, commands_out, taken
        self._frames.clear()
        self._crash = None
        for command in (*self._state.values(), *([first] if first else [])):
            commands_out.send(command)
        self._timer.start()

    def _forget_process(self) -> None:
        """Drop the child (it has exited); its reader thread closes the message pipe when it reads the end."""
        self._timer.stop()
        if self._commands is not None:
            self._commands.close()
        self._process = self._commands = self._inbox = self._taken = None
        self._frames.clear()

    # ------------------------------------------------------------------ commands

    def _send(self, name: str, *args: object) -> None:
        command = (name, args)
        if name in REMEMBERED:
            self._state[name] = command
        if name in ("new_session", "load") and not self._session_seen:
            self._recovery = command  # until a session runs, restarting means trying this again
        for _ in range(2):  # a slot of the failure signal may have started a new child meanwhile
            connection = self._commands
            if connection is None:
                break
            try:
                connection.send(command)
                return
            except (OSError, ValueError):
                self._child_gone()
        self._without_child(command)

    def _without_child(self, command: Command) -> None:
        name = command[0]
        if self._stopping:
            return
        if name in ("new_session", "load"):
            self._spawn(command)
        elif name == "restart" and self._recovery is not None:
            self._spawn(self._recovery)
        elif name == "save":
            self.failed.emit("save", "the training process is not running, so there is no agent to save")

    # ------------------------------------------------------------------ what comes back

    def poll(self) -> None:
        """Handle everything the child sent; notice if it died."""
        inbox = self._inbox
        while inbox is not None and inbox is self._inbox:  # a signal's slot may have started another child
            try:
                message = inbox.get_nowait()
            except queue.Empty:
                break
            if message[0] == "end":
                self._child_gone()
                return
            self._handle(message)
        process = self._process
        if process is not None and not process.is_alive() and not self._stopping:
            self._child_gone()

    def take_frame(self, session_id: int) -> ViewFrame | None:
        """The oldest frame not shown yet: every frame the child draws is shown, one per refresh."""
        self.poll()
        while self._frames and self._frames[0][0] < session_id:  # an earlier session's: never to be shown
            self._frames.popleft()
            self._count_taken()
        if not self._frames or self._frames[0][0] != session_id:
            return None  # nothing new, or a session the window has not heard of yet
        self._count_taken()
        return self._frames.popleft()[1]

    def _count_taken(self) -> None:
        if self._taken is not None:
            self._taken.value = (self._taken.value + 1) & COUNTER_MASK

    def status(self) -> LoopStatus:
        return self._status

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "frame":
            _, frame, replay_new, grid_new, status = message
            self._status = status
            self._store(self._restore(frame, replay_new, grid_new), status.session_id)
        elif kind == "event":
            _, name, args, status = message
            if status is not None:
                self._status = status
            self._on_event(name, args)
        elif kind == "crash":
            self._crash = message[1]

    def _on_event(self, name: str, args: tuple) -> None:
        if name == "session_started":
            info: SessionInfo = args[0]
            self._session_seen = True
            self._last_session_id = max(self._last_session_id, info.session_id)
            self._recovery = ("load", (info.save_path,)) if info.save_path else (
                "new_session", (info.env_id, AgentSpec(info.agent_kind, info.network, info.double, info.dueling),
                                info.description.game_options))
        elif name == "saved":
            self._recovery = ("load", (args[0],))
        if name != "status":
            getattr(self, name).emit(*args)

    def _restore(self, frame: ViewFrame, replay_new: bool, grid_new: bool) -> ViewFrame:
        """Put back the replay summary and value maps that did not change (the same objects as before)."""
        if replay_new:
            self._replay = frame.replay
        if grid_new:
            self._grid = (frame.grid_values, frame.grid_actions)
        if replay_new and grid_new:
            return frame
        return replace(frame, replay=self._replay, grid_values=self._grid[0], grid_actions=self._grid[1])

    def _store(self, frame: ViewFrame, session_id: int) -> None:
        """Queue the frame. Only steps the window asked for (single steps, after a pause) come beyond the frames in
        flight; then the older frame is folded into the newer: its episodes, updates and pictures are kept."""
        self._frames.append((session_id, frame))
        while len(self._frames) > FRAMES_IN_FLIGHT:
            (old_session, old), (new_session, new) = self._frames.popleft(), self._frames.popleft()
            if old_session == new_session:
                pictures = (*old.sub_frames, old.snapshot.frame) if old.sub_frames or new.sub_frames else ()
                new = replace(new, new_episodes=old.new_episodes + new.new_episodes,
                              new_updates=old.new_updates + new.new_updates,
                              sub_frames=(*pictures, *new.sub_frames)[-MAX_SUB_FRAMES:])
            self._frames.appendleft((new_session, new))
            self._count_taken()

    def _drop_messages(self) -> None:
        inbox = self._inbox
        try:
            while inbox is not None:
                inbox.get_nowait()
        except queue.Empty:
            pass

    def _read_last_words(self) -> None:
        """A child that died of an error said why just before: wait for the end of its pipe to read it."""
        inbox, deadline = self._inbox, time.monotonic() + 1.0
        while inbox is not None and (left := deadline - time.monotonic()) > 0:
            try:
                message = inbox.get(timeout=left)
            except queue.Empty:
                return
            if message[0] == "end":
                return
            if message[0] == "crash":
                self._crash = message[1]

    def _child_gone(self) -> None:
        process = self._process
        if process is None:
            return
        process.join(1.0)
        if process.is_alive():  # its pipe broke but it runs on: it can no longer be reached
            process.kill()
            process.join(2.0)
        code = process.exitcode
        self._read_last_words()
        self._forget_process()
        if self._stopping:
            self.finished.emit()
            return
        reason = self._crash or _exit_reason(code)
        recovery = self._recovery
        if recovery is not None and recovery[0] == "load":
            then = f"from the last save, {Path(str(recovery[1][0])).name}"
        else:
            then = "with a new agent"
        log.error("the training process stopped: %s", reason)
        self._status = replace(self._status, speed=Speed.PAUSED, unsaved_steps=0)  # that agent is gone
        self._state["speed"] = ("speed", (Speed.PAUSED,))
        self.speed_changed.emit(Speed.PAUSED.value)
        self.failed.emit("process", f"the training process stopped ({reason}); Restart starts a new one {then}")


def _widen(connection: Connection) -> None:
    """Linux: room in the pipe for a whole frame (a gridworld picture is 0.5 MB), so the child's sender writes it
    in one call instead of a dozen that each wait for the reader and for the interpreter lock."""
    try:
        import fcntl

        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # another system, or a lower limit (/proc/sys/fs/pipe-max-size): the default pipe works too


def _read(connection: Connection, inbox: queue.SimpleQueue) -> None:
    """The reader thread: every message into `inbox`, then ("end",) when the child's end of the pipe closed."""
    try:
        while True:
            try:
                inbox.put(connection.recv())
            except (EOFError, OSError):
                break
            except Exception as error:  # noqa: BLE001 - a message that does not unpickle here: report it
                inbox.put(("event", "failed", ("run", f"cannot read a message: {error}"), None))
    finally:
        connection.close()
        inbox.put(("end",))


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
