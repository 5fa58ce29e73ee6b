"""The window's training loop without Qt or a second process: commands in, events and frames out."""

from __future__ import annotations

import ctypes
import pickle
import subprocess
import sys
import time
from collections import deque

import numpy as np
import pytest
import torch

from agents.factory import AgentSpec
from agents.runner import Mode
from app.training_loop import MAX_SUB_FRAMES, Speed, TrainingLoop
from app.training_process import COUNTER_MASK, SharedFrameGate

SMALL = {"dqn": ("learning_starts=30", "buffer_size=300", "batch_size=8", "train_frequency=2", "hidden_dim=16",
                 "target_network_frequency=50")}
BREAKOUT_NOOP, BREAKOUT_FIRE, BREAKOUT_RIGHT = 0, 1, 2


class Driver:
    """Runs the loop tick by tick in the test's thread; commands are queued as the window would send them."""

    def __init__(self) -> None:
        self.commands: deque[tuple[str, tuple]] = deque()
        self.events: list[tuple[str, tuple]] = []
        self.loop = TrainingLoop(emit=lambda name, args: self.events.append((name, args)),
                                 receive=lambda timeout: self.commands.popleft() if self.commands else None,
                                 device="cpu", agent_overrides=SMALL, seed=0)

    def send(self, name: str, *args: object) -> None:
        self.commands.append((name, args))

    def frames(self, count: int, timeout: float = 20.0, *, want_next: bool = True):
        """Tick until `count` frames were collected (the window taking each one as it comes)."""
        frames, deadline = [], time.perf_counter() + timeout
        while len(frames) < count:
            assert time.perf_counter() < deadline, f"only {len(frames)} of {count} frames"
            self.loop.tick()
            frame = self.loop.collect_frame(want_next=want_next)
            if frame is not None:
                frames.append(frame)
        return frames

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.fixture
def driver():
    """One torch thread, as the window gives the loop on a two-core machine (two would fight the test runner)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    drive = Driver()
    yield drive
    drive.loop.close()
    torch.set_num_threads(threads)


def start(driver: Driver, env_id: str, network: str = "mlp", *, speed: Speed = Speed.FAST, mode: Mode = Mode.TRAIN):
    driver.send("speed", speed)
    driver.send("mode", mode)
    driver.send("new_session", env_id, AgentSpec("dqn", network))
    preview = driver.frames(1)[0]
    assert driver.names()[0] == "session_started"
    return preview


def round_trip(frame):
    return pickle.loads(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))


def assert_same(a, b) -> None:
    """Equal field by field, arrays by value (what the window gets on the other side of the pipe)."""
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif hasattr(a, "__dataclass_fields__"):
        assert type(a) is type(b)
        for name in a.__dataclass_fields__:
            assert_same(getattr(a, name), getattr(b, name))
    else:
        assert a == b or (a != a and b != b)  # NaN equals NaN here


def test_a_gridworld_frame_survives_pickling(driver):
    start(driver, "gridworld/open-room")
    frame = driver.frames(20)[-1]  # the replay summary is refreshed about three times a second
    assert frame.replay is not None and frame.replay.size > 0 and frame.replay.recent and frame.grid_values is not None
    assert frame.new_updates or frame.snapshot.total_steps <= 30
    assert_same(frame, round_trip(frame))
    info = next(args[0] for name, args in driver.events if name == "session_started")
    assert_same(info, round_trip(info))
    assert_same(driver.loop.status(), round_trip(driver.loop.status()))


def test_an_atari_frame_with_its_skipped_frames_survives_pickling(driver):
    start(driver, "ALE/Breakout-v5", "cnn", speed=Speed.NORMAL, mode=Mode.HUMAN)
    frame = driver.frames(2)[-1]
    assert frame.sub_frames and frame.snapshot.frame.shape == (210, 160, 3)
    assert_same(frame, round_trip(frame))


def test_a_step_is_drawn_only_after_the_window_took_the_last(driver):
    start(driver, "gridworld/open-room")
    first = driver.frames(1, want_next=False)[0]
    for _ in range(300):  # hundreds of steps: none is published while the window holds the last frame
        driver.loop.tick()
        assert driver.loop.collect_frame(want_next=False) is None
    assert driver.loop.status().trained_steps > first.snapshot.total_steps + 100
    newer = driver.frames(1)[0]
    assert newer.snapshot.total_steps > first.snapshot.total_steps + 100
    assert newer.new_episodes or newer.new_updates  # what happened meanwhile is not lost


def test_fast_training_shows_about_thirty_steps_a_second(driver):
    start(driver, "gridworld/open-room")
    began = time.perf_counter()
    frames = driver.frames(16)
    rate = (len(frames) - 1) / (time.perf_counter() - began)
    assert 15 < rate < 40
    assert all(not frame.sub_frames for frame in frames)


def test_atari_at_the_games_pace_shows_every_emulator_frame(driver):
    start(driver, "ALE/Breakout-v5", "cnn", speed=Speed.NORMAL, mode=Mode.HUMAN)
    frames = driver.frames(6)[2:]  # the first steps may be shown together
    for frame in frames:
        assert len(frame.sub_frames) == 3  # frame skip 4: three frames before the step's own
        assert all(screen.shape == frame.snapshot.frame.shape for screen in frame.sub_frames)
    steps = [frame.snapshot.episode_step for frame in frames]
    assert steps == list(range(steps[0], steps[0] + len(steps)))  # one frame per step, none dropped


def test_fast_atari_training_sends_the_pictures_of_steps_between_shown_ones(driver):
    """Fast training steps in bursts (quick steps, then a slow update): the steps between two shown ones come
    along as pictures for the view to play, so the view does not stutter below 30 frames/s."""
    start(driver, "ALE/Breakout-v5", "cnn")
    frames = driver.frames(40)[1:]
    carried = [frame for frame in frames if frame.sub_frames]
    assert carried, "no picture of an unshown step reached the window"
    assert all(len(frame.sub_frames) <= MAX_SUB_FRAMES for frame in frames)
    assert all(screen.shape == (210, 160, 3) and screen.dtype == np.uint8
               for frame in carried for screen in frame.sub_frames)
    steps = [frame.snapshot.total_steps for frame in frames]
    gaps = [later - earlier for earlier, later in zip(steps, steps[1:], strict=False)]
    assert all(gap > len(frame.sub_frames) for gap, frame in zip(gaps, frames[1:], strict=True))  # steps between


def test_skipped_frames_of_steps_the_window_missed_are_kept_up_to_a_limit(driver):
    start(driver, "ALE/Breakout-v5", "cnn", speed=Speed.NORMAL, mode=Mode.HUMAN)
    driver.frames(1, want_next=False)
    deadline = time.perf_counter() + 1.0  # 15 steps while the window holds its frame
    while time.perf_counter() < deadline:
        driver.loop.tick()
    assert len(driver.frames(1)[0].sub_frames) == MAX_SUB_FRAMES


def test_a_key_tapped_between_two_steps_acts_for_one_step(driver):
    start(driver, "ALE/Breakout-v5", "cnn", speed=Speed.PAUSED, mode=Mode.HUMAN)
    driver.send("held", BREAKOUT_FIRE)  # pressed and released before the loop stepped
    driver.send("held", BREAKOUT_NOOP)
    driver.send("held", BREAKOUT_RIGHT)  # then held
    actions = []
    for _ in range(4):
        driver.send("step")
        actions.append(driver.frames(1)[0].snapshot.action_name)
    assert actions == ["FIRE", "NOOP", "RIGHT", "RIGHT"]


def test_held_keys_outside_human_play_do_not_queue(driver):
    start(driver, "ALE/Breakout-v5", "cnn", speed=Speed.PAUSED, mode=Mode.PLAY)
    driver.send("held", BREAKOUT_FIRE)
    driver.send("held", BREAKOUT_NOOP)
    driver.send("mode", Mode.HUMAN)
    driver.send("step")
    assert driver.frames(1)[0].snapshot.action_name == "NOOP"


def test_a_failing_command_is_reported_and_the_loop_goes_on(driver):
    start(driver, "gridworld/open-room")
    driver.send("no_such_command")
    driver.loop.tick()
    assert driver.events[-3:][0][0] == "speed_changed" and driver.events[-2][0] == "failed"
    assert "AttributeError" in driver.events[-2][1][1] and driver.loop.status().speed is Speed.PAUSED
    driver.send("speed", Speed.FAST)
    before = driver.loop.status().trained_steps
    driver.frames(3)
    assert driver.loop.status().trained_steps > before


def test_the_shared_frame_gate_allows_two_frames_in_flight_across_the_counter_wrap():
    sent, taken = ctypes.c_uint32(COUNTER_MASK - 1), ctypes.c_uint32(COUNTER_MASK - 1)
    gate = SharedFrameGate(sent, taken)
    assert gate.open()
    gate.published()
    assert gate.open()
    gate.published()
    assert not gate.open() and sent.value == 0  # wrapped
    taken.value = COUNTER_MASK  # the window took one
    assert gate.open()


def test_the_training_process_module_never_imports_qt():
    code = "import sys, app.training_process\nprint(sorted(m for m in sys.modules if 'PySide' in m or 'Qt' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
