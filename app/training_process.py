"""The child side of the training process: the loop runs here, the window's process only draws.

A Python thread beside the GUI shares the interpreter lock with it: every paint, plot and timer tick of the
window delays the training step, and the other way round. In a child process (started with "spawn": fork is
unsafe with Qt's and torch's threads) the two use separate cores. This module never imports Qt, so the child
loads only torch, gymnasium and the agents.

Messages to the window, in order, over one pipe (written by a sender thread, so a full pipe never stalls the
loop):

    ("event", name, args, LoopStatus)                   session_started, saved, failed, map_edited,
                                                        speed_changed, status
    ("frame", ViewFrame, replay_new, grid_new, LoopStatus)   only while the window keeps up (SharedFrameGate)
    ("crash", one-line message)                           just before the child dies of an unexpected error

The replay summary and the gridworld value maps travel only when they changed (`replay_new`, `grid_new`); the
window keeps the last ones, which also keeps their identity (the views redraw an overlay only when it changes).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from app.training_loop import Command, TrainingLoop, one_line
from app.view_frame import ViewFrame

log = logging.getLogger(__name__)

SENDER_FLUSH_S = 2.0
"""At exit, how long the last messages may take to reach the window (it is draining them while it waits)."""


@dataclass(frozen=True)
class ChildConfig:
    """Everything the child needs to build its loop (picklable)."""

    device: str = "cpu"
    agent_overrides: Mapping[str, Sequence[str]] = field(default_factory=dict)
    seed: int | None = None
    torch_threads: int = 1
    """Set before any work: the cores the window leaves to training (all but one)."""
    first_session_id: int = 0
    """Session ids go on from the previous child's, so a frame of a dead child's session is never taken
    for the new one's."""
    setup: Callable[[], Any] | None = None
    """Called in the child before the loop starts (tests use it to inject faults)."""


FRAMES_IN_FLIGHT = 2
"""Frames the loop may have published that the window has not taken yet. One would allow a single frame per
training cycle: on Atari a cycle is 4 steps, the last with a 30 ms gradient update, and the window cannot take
a frame within the 2 ms of the 3 quick steps, so the view would be stuck at steps/s / 4 (about 27/s). With two,
a step shown at the end of the update can be followed by one from the quick steps; the window plays them at
successive refreshes, so every frame drawn is still shown."""
COUNTER_MASK = 0xFFFFFFFF


class SharedFrameGate:
    """The frame handshake in shared memory: two 32-bit counters, frames the loop published (`sent`, written
    here) and frames the window took (`taken`, written by the window). Neither side waits for the other, and no
    message is needed."""

    def __init__(self, sent: Any, taken: Any) -> None:
        self._sent = sent
        self._taken = taken

    def open(self) -> bool:
        return (self._sent.value - self._taken.value) & COUNTER_MASK < FRAMES_IN_FLIGHT

    def published(self) -> None:
        self._sent.value = (self._sent.value + 1) & COUNTER_MASK


class _Sender:
    """Writes messages to the window from a thread of its own: pickling and a full pipe stay off the loop."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._queue: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="to-window", daemon=True)
        self._thread.start()

    def send(self, message: tuple) -> None:
        self._queue.put(message)

    def close(self, timeout: float) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._connection.send(message)
            except OSError:
                return  # the window is gone; the loop hears it on the command pipe and stops
            except Exception as error:  # noqa: BLE001 - something that does not pickle: say so, keep going
                log.exception("cannot send %s to the window", message[0])
                self._connection.send(("event", "failed", ("run", f"cannot show a step: {one_line(error)}"),
                                       None))


class _Host:
    """The loop with a pipe on each side."""

    def __init__(self, config: ChildConfig, commands: Connection, sender: _Sender, gate: SharedFrameGate) -> None:
        self._commands = commands
        self._sender = sender
        self._sent_replay: Any = None
        self._sent_grid: Any = None
        self.loop = TrainingLoop(emit=self._emit, receive=self._receive, device=config.device,
                                 agent_overrides=config.agent_overrides, seed=config.seed, gate=gate,
                                 first_session_id=config.first_session_id)

    def run(self) -> None:
        loop = self.loop
        try:
            while not loop.stopped:
                loop.tick()
                frame = loop.collect_frame(want_next=False)
                if frame is not None:
                    self._send_frame(frame)
        finally:
            loop.close()

    def _receive(self, timeout: float) -> Command | None:
        try:
            if not self._commands.poll(timeout):
                return None
            return self._commands.recv()
        except (EOFError, OSError):
            return ("stop", ())  # the window's process is gone: no one is left to show anything to

    def _emit(self, name: str, args: tuple) -> None:
        self._sender.send(("event", name, args, self.loop.status()))

    def _send_frame(self, frame: ViewFrame) -> None:
        replay_new = frame.replay is not self._sent_replay
        grid_new = frame.grid_values is not self._sent_grid
        self._sent_replay, self._sent_grid = frame.replay, frame.grid_values
        if not (replay_new and grid_new):
            frame = replace(frame, replay=frame.replay if replay_new else None,
                            grid_values=frame.grid_values if grid_new else None,
                            grid_actions=frame.grid_actions if grid_new else None)
        self._sender.send(("frame", frame, replay_new, grid_new, self.loop.status()))


def child_main(config: ChildConfig, commands: Connection, messages: Connection, sent: Any, taken: Any) -> None:
    """The child process's body: set torch's threads, run the loop until told to stop or the window is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal closes the window, which stops us
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s (training process): %(message)s")
    import torch

    torch.set_num_threads(max(1, config.torch_threads))
    sender = _Sender(messages)
    try:
        if config.setup is not None:
            config.setup()
        _Host(config, commands, sender, SharedFrameGate(sent, taken)).run()
    except BaseException as error:
        log.exception("the training process failed")
        sender.send(("crash", one_line(error)))
        sender.close(SENDER_FLUSH_S)
        raise
    sender.close(SENDER_FLUSH_S)
    # Stopped cleanly: the environment is closed and every save was written before its "saved" event. The
    # interpreter's own teardown (torch's, mostly) would hold the window's close for most of a second.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
