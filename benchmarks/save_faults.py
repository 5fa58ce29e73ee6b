"""Faults during a save, measured: kill -9 at random moments, and a full disk.

Kill: a child process saves an agent to the same file over and over; the parent kills it (SIGKILL) at a
random moment within a save, then checks that the file still loads (it holds the previous save or the
complete new one, never half of one) and that no temporary file is left once the file is next touched.
Small and large agents (a gridworld MLP, an Atari-shaped CNN), with and without the replay buffer.

Disk full: a child saves once, then lowers its file-size limit (RLIMIT_FSIZE, the kernel's own write
refusal) under the size of that save and saves again: the error must be one line, the previous save must
load, no temporary file may remain. `--window` does the same through the window's training loop, which must
report the failure and go on training.

    python benchmarks/save_faults.py --kills 50 --json /tmp/save_faults.json
    python benchmarks/save_faults.py --kills 0 --disk-full --window
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ("small", "large")
LARGE_REPLAY = 6_000
"""Atari-shaped replay slots in a large save (about 42 MB of frames, plus 13 MB of Nature-CNN weights)."""


# ------------------------------------------------------------------------------------------------- the child


def build_agent(size: str, replay: bool):
    """A gridworld MLP (small) or an Atari-shaped Nature CNN (large), its replay filled when `replay`."""
    import numpy as np
    import torch

    from agents.config import dqn_config_for
    from agents.dqn import DQNAgent

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    if size == "small":
        config = dqn_config_for("gridworld", network="mlp", hidden_dim=32, buffer_size=2_000, learning_starts=10**9)
        agent = DQNAgent(config, (4, 7, 7), 4, ("UP", "RIGHT", "DOWN", "LEFT"), seed=0)
        obs = lambda: (rng.random((4, 7, 7)) < 0.2).astype(np.uint8)  # noqa: E731
        steps = 1_500 if replay else 0
        for _ in range(steps):
            agent.replay.add(obs(), int(rng.integers(4)), 0.0, obs(), False, False)
        return agent
    config = dqn_config_for("atari", network="cnn", buffer_size=LARGE_REPLAY, learning_starts=10**9)
    agent = DQNAgent(config, (4, 84, 84), 6, tuple(f"A{i}" for i in range(6)), frame_stack=4, obs_scale=1 / 255,
                     seed=0)
    if replay:
        stack = rng.integers(0, 255, (4, 84, 84), dtype=np.uint8)
        for _ in range(LARGE_REPLAY - 100):
            following = np.concatenate([stack[1:], rng.integers(0, 40, (1, 84, 84), dtype=np.uint8)])
            agent.replay.add(stack, int(rng.integers(6)), 0.0, following, False, False)
            stack = following
    return agent


def child_save_loop(path: str, size: str, replay: bool) -> None:
    """Save, say how long it took, and save again until killed."""
    from agents.checkpoint import save_agent

    agent = build_agent(size, replay)
    while True:
        started = time.perf_counter()
        save_agent(path, agent, env_id="gridworld/open-room", include_replay=replay)
        agent.step_count += 1
        print(f"saved {time.perf_counter() - started:.4f}", flush=True)


def child_disk_full(path: str) -> None:
    """Save once, then again under a file-size limit below the save's size; report as JSON."""
    from agents.checkpoint import load_agent, save_agent
    from agents.errors import CheckpointError

    agent = build_agent("small", True)
    save_agent(path, agent, env_id="gridworld/open-room", include_replay=True)
    limit = os.path.getsize(path) // 2
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    agent.step_count += 7
    try:
        save_agent(path, agent, env_id="gridworld/open-room", include_replay=True)
        error = None
    except CheckpointError as failure:
        error = str(failure)
    previous = load_agent(path, with_replay=True).agent.step_count
    print(json.dumps({"error": error, "previous_steps": previous, "expected_previous": agent.step_count - 7,
                      "temporaries": temporaries(Path(path))}))


def child_window_disk_full(path: str) -> None:
    """The window's training loop (Qt-free core) saves, fails on a full disk, reports it and trains on."""
    from collections import deque

    from agents.factory import AgentSpec
    from agents.runner import Mode
    from app.training_loop import Speed, TrainingLoop

    commands: deque = deque()
    events: list = []
    loop = TrainingLoop(emit=lambda name, args: events.append((name, args)),
                        receive=lambda timeout: commands.popleft() if commands else None,
                        agent_overrides={"dqn": ("learning_starts=20", "buffer_size=500", "batch_size=8",
                                                 "hidden_dim=16")}, seed=0)
    commands.extend([("speed", (Speed.TURBO,)), ("mode", (Mode.TRAIN,)),
                     ("new_session", ("gridworld/open-room", AgentSpec("dqn", "mlp")))])

    def run_steps(n: int) -> int:
        before = loop.status().trained_steps
        deadline = time.perf_counter() + 60
        while loop.status().trained_steps < before + n and time.perf_counter() < deadline:
            loop.tick()
            loop.collect_frame()
        return loop.status().trained_steps

    run_steps(50)
    commands.append(("save", (path, None)))
    run_steps(1)
    saved_steps = loop.status().trained_steps - loop.status().unsaved_steps
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) // 2, resource.RLIM_INFINITY))
    before_failure = loop.status().trained_steps
    commands.append(("save", (path, None)))
    after = run_steps(100)
    failures = [args for name, args in events if name == "failed"]
    loop.close()
    from agents.checkpoint import load_agent

    print(json.dumps({"failures": [list(f) for f in failures], "steps_before": before_failure, "steps_after": after,
                      "previous_steps": load_agent(path).agent.step_count, "expected_previous": saved_steps,
                      "temporaries": temporaries(Path(path))}))


# ------------------------------------------------------------------------------------------------ the parent


def temporaries(path: Path) -> list[str]:
    return sorted(name for name in os.listdir(path.parent) if name.startswith(f".{path.name}.") and
                  name.endswith(".tmp"))


@dataclass
class KillTrial:
    size: str
    replay: bool
    save_seconds: float
    killed_after: float
    temporaries_at_kill: int
    """Temporary files present right after the kill (1: it died mid-save)."""
    loaded_steps: int | None
    error: str | None
    temporaries_after_load: int


def child_command(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def kill_trial(directory: Path, size: str, replay: bool, rng: random.Random) -> KillTrial:
    """Start a save loop, kill it at a random moment of a save after the first, then load the file."""
    from agents.checkpoint import load_agent
    from agents.errors import CheckpointError

    path = directory / f"{size}-{'replay' if replay else 'weights'}.dqn"
    child = subprocess.Popen(child_command("save-loop", str(path), size, str(int(replay))), stdout=subprocess.PIPE,
                             text=True, env=child_env())
    try:
        first = child.stdout.readline()
        if not first.startswith("saved"):
            raise RuntimeError(f"the save loop did not start: {first!r}")
        seconds = float(first.split()[1])
        delay = rng.uniform(0.0, 1.5 * seconds)
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    at_kill = len(temporaries(path))
    try:
        loaded, error = load_agent(path, with_replay=replay).agent.step_count, None
    except CheckpointError as failure:
        loaded, error = None, str(failure)
    return KillTrial(size, replay, seconds, delay, at_kill, loaded, error, len(temporaries(path)))


def run_kills(count: int, sizes: tuple[str, ...], seed: int) -> list[KillTrial]:
    rng = random.Random(seed)
    trials = []
    with tempfile.TemporaryDirectory(prefix="save-faults-") as directory:
        for index in range(count):
            size, replay = sizes[index % len(sizes)], (index // len(sizes)) % 2 == 0
            trial = kill_trial(Path(directory), size, replay, rng)
            trials.append(trial)
            print(json.dumps(asdict(trial)), flush=True)
    return trials


def run_child_json(*args: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="save-faults-") as directory:
        out = subprocess.run(child_command(*args, str(Path(directory) / "agent.dqn")), capture_output=True, text=True,
                             env=child_env(), timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--disk-full", action="store_true")
    parser.add_argument("--window", action="store_true", help="the disk-full check through the window's loop")
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "save-loop":
            child_save_loop(rest[0], rest[1], rest[2] == "1")
        elif kind == "disk-full":
            child_disk_full(rest[0])
        else:
            child_window_disk_full(rest[0])
        return 0
    report: dict = {}
    if args.kills:
        trials = run_kills(args.kills, tuple(args.sizes), args.seed)
        report["kills"] = [asdict(t) for t in trials]
        bad = [t for t in trials if t.loaded_steps is None or t.temporaries_after_load]
        print(f"{len(trials)} kills, {sum(t.temporaries_at_kill > 0 for t in trials)} mid-save; "
              f"{len(trials) - len(bad)} loaded afterwards with no temporary file left, {len(bad)} failed")
    if args.disk_full:
        report["disk_full"] = run_child_json("disk-full")
        print("disk full:", json.dumps(report["disk_full"]))
    if args.window:
        report["window_disk_full"] = run_child_json("window-disk-full")
        print("window, disk full:", json.dumps(report["window_disk_full"]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
