"""Replay holds only transitions that happened, whatever the window or the command line did in between.

Each test wraps the real environments (gridworld and Atari) in a recorder of every step they took, as
(obs bytes, action, next_obs bytes), drives one of the paths that used to join two states that were not one
step apart (a mode switch inside an episode, a resume with the replay, Restart, recovery after a failure),
and then checks every transition the buffer could sample against the record: each must be a step the
environment really produced, its frame stacks byte-equal to the environment's, so no stack spans a seam.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.checkpoint import load_agent
from agents.factory import AgentSpec
from agents.runner import Mode
from app import headless, training_loop
from app.cli import main
from app.training_loop import Speed, TrainingLoop

GRID, ATARI = "gridworld/open-room", "ALE/Breakout-v5"
SMALL = ("learning_starts=100000", "buffer_size=2000", "batch_size=8", "hidden_dim=16")
"""No updates: these tests are about what is stored, and an untrained agent moves about."""


class StepRecorder(gym.Wrapper):
    """Passes everything through, remembering each step it saw in a shared set."""

    def __init__(self, env: gym.Env, real: set[tuple[bytes, int, bytes]]) -> None:
        super().__init__(env)
        self.real, self.last = real, None

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.last = np.array(obs)
        return obs, info

    def step(self, action):
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self.real.add((self.last.tobytes(), int(action), np.asarray(next_obs).tobytes()))
        self.last = np.array(next_obs)
        return next_obs, reward, terminated, truncated, info


@pytest.fixture
def real(monkeypatch) -> Iterator[set]:
    """Every environment the loop or the CLI makes records its steps here."""
    steps: set[tuple[bytes, int, bytes]] = set()
    original = training_loop.make_env

    def recording_make_env(*args, **kwargs):
        return StepRecorder(original(*args, **kwargs), steps)

    monkeypatch.setattr(training_loop, "make_env", recording_make_env)
    monkeypatch.setattr(headless, "make_env", recording_make_env)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield steps
    torch.set_num_threads(threads)


def assert_only_real_transitions(replay, real: set) -> int:
    """Every sampleable transition is a recorded step; returns how many there are."""
    ids = replay.sampleable()
    assert len(ids) > 0
    batch = replay.transitions(ids)
    for row in range(len(ids)):
        key = (batch.observations[row].tobytes(), int(batch.actions[row]), batch.next_observations[row].tobytes())
        assert key in real, f"slot {int(ids[row])} holds a transition that never happened"
    return len(ids)


def assert_one_step_moves(replay) -> None:
    """Gridworld: the agent plane moves by at most one cell per stored transition."""
    batch = replay.transitions(replay.sampleable())
    for obs, next_obs in zip(batch.observations, batch.next_observations, strict=True):
        (r0, c0), (r1, c1) = np.argwhere(obs[1])[0], np.argwhere(next_obs[1])[0]
        assert abs(int(r0) - int(r1)) + abs(int(c0) - int(c1)) <= 1


class Driver:
    def __init__(self) -> None:
        self.commands: deque = deque()
        self.events: list = []
        self.loop = TrainingLoop(emit=lambda name, args: self.events.append((name, args)),
                                 receive=lambda timeout: self.commands.popleft() if self.commands else None,
                                 agent_overrides={"dqn": SMALL}, seed=0)

    def send(self, name: str, *args) -> None:
        self.commands.append((name, args))

    def steps(self, n: int) -> None:
        """Tick until the loop took n more environment steps (any mode)."""
        target, deadline = self.loop.status().loop_steps + n, time.perf_counter() + 120
        while self.loop.status().loop_steps < target:
            assert time.perf_counter() < deadline
            self.loop.tick()
            self.loop.collect_frame()

    @property
    def replay(self):
        return self.loop._session.agent.replay


@pytest.fixture
def driver(real):
    drive = Driver()
    yield drive
    drive.loop.close()


def start(driver: Driver, env_id: str, network: str) -> None:
    driver.send("speed", Speed.TURBO)
    driver.send("mode", Mode.TRAIN)
    driver.send("new_session", env_id, AgentSpec("dqn", network))
    driver.steps(1)


@pytest.mark.parametrize(("env_id", "network"), [(GRID, "mlp"), (ATARI, "cnn")])
def test_train_play_train_inside_an_episode_stores_no_joined_states(driver, real, env_id, network):
    start(driver, env_id, network)
    for mode in (Mode.PLAY, Mode.TRAIN, Mode.HUMAN, Mode.TRAIN):
        driver.send("mode", mode)
        for index in range(25):
            if mode is Mode.HUMAN:  # a gridworld steps once per key press; Atari at the game's pace
                driver.send("press" if env_id == GRID else "held", index % 4)
            driver.steps(1)
    assert assert_only_real_transitions(driver.replay, real) >= 40
    if env_id == GRID:
        assert_one_step_moves(driver.replay)


@pytest.mark.parametrize(("env_id", "network"), [(GRID, "mlp"), (ATARI, "cnn")])
def test_restart_and_recovery_after_a_failure_store_no_joined_states(driver, real, env_id, network, monkeypatch):
    start(driver, env_id, network)
    driver.steps(30)
    driver.send("restart")
    driver.steps(30)
    session = driver.loop._session
    real_step = type(session.env).step
    failed = []

    def fail_once(self, action):
        if not failed:
            failed.append(True)
            raise RuntimeError("the emulator fell over")
        return real_step(self, action)

    monkeypatch.setattr(type(session.env), "step", fail_once)
    while not failed:  # the failing step is reported and pauses the loop
        driver.loop.tick()
    assert ("failed", ("run", "RuntimeError: the emulator fell over")) in driver.events
    driver.send("speed", Speed.TURBO)
    driver.steps(30)
    assert assert_only_real_transitions(driver.replay, real) >= 60
    if env_id == GRID:
        assert_one_step_moves(driver.replay)


@pytest.mark.parametrize(("env_id", "network", "num_envs"), [(GRID, "mlp", 1), (ATARI, "cnn", 1), (GRID, "mlp", 2)])
def test_resume_with_its_replay_stores_no_joined_states(tmp_path, real, env_id, network, num_envs):
    save = tmp_path / "agent.dqn"
    common = ["train", "--env", env_id, "--net", network, "--quiet", "--save", str(save), "--save-replay",
              "--seed", "3", *sum((["--set", s] for s in SMALL), [])]
    assert main([*common, "--steps", "157"]) == 0
    assert main([*common, "--steps", "311", "--resume", str(save), "--num-envs", str(num_envs)]) == 0
    agent = load_agent(save, with_replay=True).agent
    assert agent.step_count >= 311
    assert assert_only_real_transitions(agent.replay, real) >= 250
    if env_id == GRID:
        assert_one_step_moves(agent.replay)


@pytest.mark.parametrize(("env_id", "network"), [(GRID, "mlp"), (ATARI, "cnn")])
def test_stepping_back_trying_branches_and_playing_on_stores_no_joined_states(driver, real, env_id, network):
    """Pause, step back, try every action from there (branches are undone), then train on from that moment."""
    start(driver, env_id, network)
    driver.steps(40)
    for back in (6, 3):
        driver.send("rewind_by", -back)
        driver.send("what_if", None, 8)
        driver.loop.tick()
        assert driver.loop._session.rewind.rewound
        driver.send("speed", Speed.TURBO)  # goes on from the step shown
        driver.steps(20)
    assert assert_only_real_transitions(driver.replay, real) >= 60
    if env_id == GRID:
        assert_one_step_moves(driver.replay)
