"""The window's side of the training loop: commands out, signals and frames in.

`WorkerBase` is what the window talks to: command methods (any thread), `take_frame` (the window's refresh
timer) and four signals. Two front-ends implement it over the same Qt-free `app.training_loop.TrainingLoop`:

- `app.process_worker.ProcessWorker` (the window's default) runs the loop in a child process, so training
  and drawing use separate cores and do not share an interpreter lock;
- `ThreadWorker` runs it in a QThread of the window's process (Qt's mandelbrot pattern), which is simpler
  to debug (`dqn-arcade gui --in-process`).
"""

from __future__ import annotations

import queue
from collections.abc import Mapping, Sequence

import torch
from PySide6.QtCore import QObject, QThread, Signal

from agents.envs.game_options import GameOptions
from agents.factory import AgentSpec
from agents.runner import Mode
from app.training_loop import (
    NORMAL_RATE,
    WINDOW_ATARI_OVERRIDES,
    Command,
    LoopStatus,
    SessionInfo,
    Speed,
    TrainingLoop,
    one_line,
)
from app.view_frame import ViewFrame

__all__ = ["NORMAL_RATE", "WINDOW_ATARI_OVERRIDES", "SessionInfo", "Speed", "ThreadWorker", "WorkerBase",
           "one_line"]


class WorkerBase(QObject):
    """Commands to the loop and what comes back. Command methods never block and may be called any time."""

    session_started = Signal(object)
    """SessionInfo of the environment/agent now running."""
    saved = Signal(str)
    """Path of a save that was written."""
    failed = Signal(str, str)
    """(what, one-line message): what is "session", "load", "save", "run", "edit" (a map edit the loop
    rejected) or "process" (the training process died)."""
    map_edited = Signal(int, str)
    """(session id, map text) after every edit_map command of a gridworld session: the map the loop plays now,
    with the edit, or without it after failed("edit", ...)."""
    speed_changed = Signal(str)
    """The loop changed the speed itself (to paused, after an error)."""
    comparison_changed = Signal(str, str)
    """(file name, environment it was trained on) of the agent now compared with the running one; ("", "") when
    the comparison ended (stopped, or a new session began). A save that cannot be compared: failed("compare")."""
    replay_browsed = Signal(object, int)
    """(agents.replay_browse.BrowsedTransition or None when nothing matches, transitions stored) after
    browse_replay."""
    finished = Signal()
    """The loop has stopped after `stop()`."""

    # ------------------------------------------------------------------ commands

    def _send(self, name: str, *args: object) -> None:
        raise NotImplementedError

    def new_session(self, env_id: str, spec: AgentSpec, *, save_first: str | None = None,
                    game: GameOptions | None = None) -> None:
        """Replace environment and agent; with `save_first`, only after that save succeeded. `game`: an Atari
        game's mode, difficulty, sticky actions and action set (None: the id's defaults)."""
        args = (env_id, spec) if game is None else (env_id, spec, game)
        if save_first:
            self._send("save", save_first, ("new_session", args))
        else:
            self._send("new_session", *args)

    def load(self, path: str, *, save_first: str | None = None, env_hint: str | None = None) -> None:
        """Open a save; `env_hint` is the game for a foreign model (SB3, CleanRL) that does not name one."""
        if save_first:
            self._send("save", save_first, ("load", (path, env_hint)))
        else:
            self._send("load", path, env_hint)

    def watch(self, path: str, *, save_first: str | None = None) -> None:
        """Open the latest save of a training run to follow it read-only (again each time the run saves)."""
        if save_first:
            self._send("save", save_first, ("watch", (path,)))
        else:
            self._send("watch", path)

    def save(self, path: str) -> None:
        self._send("save", path, None)

    def set_mode(self, mode: Mode) -> None:
        self._send("mode", Mode(mode))

    def set_speed(self, speed: Speed) -> None:
        self._send("speed", Speed(speed))

    def single_step(self) -> None:
        """One step, then paused."""
        self._send("step")

    def press(self, action: int) -> None:
        """A key press in gridworld human play: exactly one step with `action`."""
        self._send("press", int(action))

    def set_held_action(self, action: int) -> None:
        """The action the held keys ask for (Atari human play). Every change acts for at least one step, so a
        key tapped between two steps is not lost."""
        self._send("held", int(action))

    def set_record_human(self, record: bool) -> None:
        self._send("record_human", bool(record))

    def restart(self) -> None:
        """Start a fresh episode (after an error too); the agent is kept."""
        self._send("restart")

    def edit_map(self, session_id: int, cells: Sequence[tuple[tuple[int, int], str]]) -> None:
        """Paint ((row, column), character) cells of session `session_id`'s gridworld; the agent is kept, the
        episode in progress ends. A rejected edit comes back as failed("edit", message)."""
        self._send("edit_map", int(session_id), tuple((tuple(cell), str(char)) for cell, char in cells))

    def compare(self, path: str | None) -> None:
        """Compare the running agent with the save at `path` on every state (None: stop comparing)."""
        self._send("compare", None if path is None else str(path))

    def set_actor(self, actor: str) -> None:
        """Who acts in Agent play while comparing: "main" (the running agent) or "rival" (the compared save)."""
        self._send("actor", str(actor))

    def rewind_to(self, index: int) -> None:
        """Pause and show moment `index` of the episode's recorded history (frames carry a RewindView)."""
        self._send("rewind_to", int(index))

    def rewind_by(self, steps: int) -> None:
        """Pause and move `steps` moments through the history (negative: back)."""
        self._send("rewind_by", int(steps))

    def what_if(self, action: int | None, horizon: int) -> None:
        """From the moment shown, try `action` (None: every action) and then the agent for `horizon` steps; the
        environment is put back and nothing is stored in the replay."""
        self._send("what_if", None if action is None else int(action), int(horizon))

    def browse_replay(self, wanted: object, position: int) -> None:
        """Ask for the stored transition at `position` among those passing `wanted` (a ReplayFilter; -1: the
        newest); the answer comes as replay_browsed."""
        self._send("browse_replay", wanted, int(position))

    def set_saliency(self, on: bool) -> None:
        """Compute saliency maps for the game view's overlay (two a second at most), or stop."""
        self._send("saliency", bool(on))

    # ------------------------------------------------------------------ life cycle and state

    def start(self) -> None:
        """Start the loop (the window calls it once, before its first command)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the loop to stop; `wait` then waits for it."""
        raise NotImplementedError

    def wait(self, timeout_ms: int) -> bool:
        """Wait until the loop has stopped; False if it had to be cut short after `timeout_ms`."""
        raise NotImplementedError

    def is_running(self) -> bool:
        raise NotImplementedError

    def take_frame(self, session_id: int) -> ViewFrame | None:
        """The newest ViewFrame of session `session_id`, or None if no step was published since the last
        one. Taking a frame tells the loop the window is ready for the next."""
        raise NotImplementedError

    def status(self) -> LoopStatus:
        """The loop's speed, mode and step counts as last reported (the window never reads the agent)."""
        raise NotImplementedError

    @property
    def speed(self) -> Speed:
        return self.status().speed

    @property
    def mode(self) -> Mode:
        return self.status().mode

    def trained_steps(self) -> int:
        return self.status().trained_steps

    def unsaved_steps(self) -> int:
        """Training steps since the last save or load (0 for an untrained agent)."""
        return self.status().unsaved_steps


class _LoopThread(QThread):
    def __init__(self, loop: TrainingLoop, parent: QObject) -> None:
        super().__init__(parent)
        self.loop = loop

    def run(self) -> None:
        self.loop.run()


class ThreadWorker(WorkerBase):
    """The loop in a QThread of the window's process: commands through a queue, frames shared by reference."""

    def __init__(self, *, device: str = "cpu", agent_overrides: Mapping[str, Sequence[str]] | None = None,
                 seed: int | None = None, torch_threads: int | None = None) -> None:
        super().__init__()
        if torch_threads is not None:
            torch.set_num_threads(max(1, torch_threads))
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.loop = TrainingLoop(emit=self._on_event, receive=self._receive, device=device,
                                 agent_overrides=agent_overrides, seed=seed)
        self._thread = _LoopThread(self.loop, self)
        self._thread.finished.connect(self.finished)

    def _send(self, name: str, *args: object) -> None:
        self._commands.put((name, args))

    def _receive(self, timeout: float) -> Command | None:
        try:
            return self._commands.get(timeout=timeout) if timeout > 0 else self._commands.get_nowait()
        except queue.Empty:
            return None

    def _on_event(self, name: str, args: tuple) -> None:
        """Called in the loop's thread; Qt queues the signal to the window's thread."""
        if name != "status":
            getattr(self, name).emit(*args)

    def start(self) -> None:
        if not self._thread.isRunning():
            self._thread.start()

    def stop(self) -> None:
        self.loop.stopped = True
        self._send("stop")

    def wait(self, timeout_ms: int) -> bool:
        return self._thread.wait(timeout_ms)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def take_frame(self, session_id: int) -> ViewFrame | None:
        return self.loop.collect_frame(session_id)

    def status(self) -> LoopStatus:
        return self.loop.status()
