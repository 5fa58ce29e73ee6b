"""Replay memory per Atari transition, and the peak memory of a headless training process.

Part 1 fills a replay buffer through the project's own training loop (agents.runner.run, Mode.TRAIN) with a
random policy (epsilon held at 1, learning_starts beyond the fill, so no gradient step runs) on real frames
of an Atari game, and reads bytes per transition off the arrays the buffer holds. Part 2 runs
`dqn-arcade train` in a subprocess and reads its peak resident set size.

    python benchmarks/memory.py                          # 100k real Breakout transitions, 3000-step training run
    python benchmarks/memory.py --fill 20000 --train-steps 10000 --json memory.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym

from agents.dqn import DQNAgent
from agents.envs.registry import describe_env, make_env
from agents.factory import AgentSpec, create_agent
from agents.replay import ReplayBuffer
from agents.runner import Mode, RunSettings, run

ATARI_FRAME_BYTES = 84 * 84
TARGET_BYTES_PER_TRANSITION = 7_200
"""One 84x84 uint8 frame (7,056 bytes) plus room for the action, reward and flags."""
PER_SLOT_ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "valid", "age")
"""The buffer's arrays with one entry per slot (the rest are a few per-stream counters)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="ALE/Breakout-v5", help="an ALE id (default: %(default)s)")
    parser.add_argument("--capacity", type=int, default=100_000, help="replay capacity in transitions")
    parser.add_argument("--fill", type=int, default=None,
                        help="real environment steps stored in part 1 (default: the capacity)")
    parser.add_argument("--train-steps", type=int, default=3_000,
                        help="agent steps of the training subprocess in part 2 (default: %(default)s)")
    parser.add_argument("--learning-starts", type=int, default=None,
                        help="learning_starts of the training subprocess (default: 400 steps before the end, "
                             "i.e. 100 gradient steps: enough to reach the update path's memory, cheap on a CPU)")
    parser.add_argument("--net", default="cnn", choices=("mlp", "cnn", "attention"))
    parser.add_argument("--device", default="auto", help="device of the training subprocess: auto, cpu, cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-buffer", action="store_true", help="skip part 1")
    parser.add_argument("--skip-train", action="store_true", help="skip part 2")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.learning_starts is None:
        args.learning_starts = max(args.train_steps - 400, 0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict = {"settings": settings_of(args)}
    print_settings(results["settings"])
    if not args.skip_buffer:
        results["buffer"] = measure_buffer(args.env, args.capacity, args.fill or args.capacity, args.seed)
        print_buffer(results["buffer"])
    if not args.skip_train:
        results["training"] = measure_training_peak(args)
        print_training(results["training"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


def settings_of(args: argparse.Namespace) -> dict:
    return {
        "env": args.env,
        "capacity": args.capacity,
        "fill_steps": args.fill or args.capacity,
        "train_steps": args.train_steps,
        "train_learning_starts": args.learning_starts,
        "train_net": args.net,
        "train_device": args.device,
        "seed": args.seed,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
    }


# ------------------------------------------------------------------------------------------ part 1: buffer


def measure_buffer(env_id: str, capacity: int, fill_steps: int, seed: int) -> dict:
    """Allocate a buffer of `capacity`, store `fill_steps` real transitions, and report its bytes and RSS."""
    rss_start = current_rss_bytes()
    agent, env = random_agent(env_id, capacity, fill_steps, seed)
    buffer = agent.replay
    rss_allocated = current_rss_bytes()
    start = time.perf_counter()
    for _ in run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False), max_steps=fill_steps, seed=seed):
        pass
    fill_seconds = time.perf_counter() - start
    env.close()
    rss_filled = current_rss_bytes()
    frames_written = int(buffer.written.sum())
    return {
        "capacity": buffer.capacity,
        "fill_steps": fill_steps,
        "fill_seconds": fill_seconds,
        "frames_written": frames_written,
        "ring_wrapped": frames_written > buffer.capacity,
        "transitions_stored": len(buffer),
        "episodes": len(agent.episodes),
        "updates_run": agent.update_count,
        "arrays": {name: int(getattr(buffer, name).nbytes) for name in PER_SLOT_ARRAYS},
        "nbytes": buffer.nbytes,
        "bytes_per_slot": buffer.nbytes / buffer.capacity,
        "bytes_per_stored_transition": buffer.nbytes / max(len(buffer), 1),
        "naive_obs_next_obs_bytes": 2 * agent.frame_stack * ATARI_FRAME_BYTES,
        "target_bytes": TARGET_BYTES_PER_TRANSITION,
        "rss_growth_allocating": rss_allocated - rss_start,
        "rss_growth_filling": rss_filled - rss_allocated,
    }


def random_agent(env_id: str, capacity: int, fill_steps: int, seed: int) -> tuple[DQNAgent, gym.Env]:
    """A DQN agent whose replay is `capacity` slots, acting uniformly at random and never learning.

    Filling through the real agent and loop stores exactly what training stores (clipped reward, life loss
    as a learning terminal, the episode's restart), with no forward pass: epsilon stays at 1.
    """
    env = make_env(env_id, render_mode=None, seed=seed)
    description = describe_env(env_id, env)
    overrides = (f"buffer_size={capacity}", f"learning_starts={fill_steps + 1}", "start_e=1", "end_e=1")
    agent = create_agent(description, AgentSpec("dqn", "cnn", overrides=overrides), device="cpu", seed=seed)
    assert isinstance(agent, DQNAgent)
    return agent, env


def current_rss_bytes() -> int:
    """This process's resident set size now (Linux /proc; 0 elsewhere)."""
    return _proc_status_kib("VmRSS") * 1024


def _proc_status_kib(field: str) -> int:
    status = Path("/proc/self/status")
    if not status.is_file():
        return 0
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def print_buffer(result: dict) -> None:
    per_slot = result["bytes_per_slot"]
    naive = result["naive_obs_next_obs_bytes"]
    print(f"\nReplay buffer: {result['fill_steps']:,} real steps stored in {result['fill_seconds']:.0f} s "
          f"({result['frames_written']:,} frames over {result['episodes']} episodes; ring wrapped: "
          f"{'yes' if result['ring_wrapped'] else 'no'}; {result['updates_run']} updates)")
    rows = [(name, f"{nbytes:,}") for name, nbytes in result["arrays"].items()]
    rows += [
        ("total nbytes (all arrays, allocated at capacity)", f"{result['nbytes']:,}"),
        ("bytes per slot (nbytes / capacity)", f"{per_slot:,.1f}"),
        ("bytes per stored transition (nbytes / size)", f"{result['bytes_per_stored_transition']:,.1f}"),
        (f"target <= {result['target_bytes']:,} bytes per transition", "met" if per_slot <= result["target_bytes"]
         else "NOT met"),
        ("naive obs + next_obs frames per transition", f"{naive:,}"),
        ("naive / this buffer", f"{naive / per_slot:.1f}x"),
        (f"naive buffer at {result['capacity']:,}", _gib(naive * result["capacity"])),
        (f"this buffer at {result['capacity']:,}", _gib(result["nbytes"])),
        ("process RSS growth creating the agent and buffer", _mib(result["rss_growth_allocating"])),
        ("process RSS growth while filling", _mib(result["rss_growth_filling"])),
    ]
    print_table(("quantity", "value"), rows)


# ------------------------------------------------------------------------------------ part 2: training peak


def measure_training_peak(args: argparse.Namespace) -> dict:
    """Run `dqn-arcade train` and read the child's peak RSS; project it to a full buffer."""
    with tempfile.TemporaryDirectory() as scratch:
        command = training_command(args, Path(scratch) / "benchmark.dqn")
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"training subprocess failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    # ru_maxrss (KiB on Linux) is the largest of the waited-for children; this script starts only this one.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    untouched = untouched_buffer_bytes(args.env, args.capacity, args.train_steps)
    return {
        "command": " ".join(command),
        "seconds": seconds,
        "steps_per_second": args.train_steps / seconds,
        "peak_rss": peak,
        "untouched_buffer_bytes": untouched,
        "projected_rss_full_buffer": peak + untouched,
    }


def training_command(args: argparse.Namespace, save_path: Path) -> list[str]:
    """The CLI next to this interpreter (the venv's), else `python -m app`, which is the same command."""
    script = Path(sys.executable).with_name("dqn-arcade")
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "app"]
    return [*launcher, "train", "--env", args.env, "--net", args.net, "--steps", str(args.train_steps),
            "--set", f"buffer_size={args.capacity}", "--set", f"learning_starts={args.learning_starts}",
            "--device", args.device, "--seed", str(args.seed), "--quiet",
            "--save", str(save_path), "--save-every", str(args.train_steps)]


def untouched_buffer_bytes(env_id: str, capacity: int, steps: int) -> int:
    """Bytes of the buffer a run of `steps` has not written yet, which the kernel has not yet mapped in.

    np.zeros memory is mapped lazily, so a short run's peak RSS holds only the slots written so far. A run
    of `steps` writes at least `steps` slots (one more per episode), so this is a slight overestimate.
    `age` is filled with 255 at allocation, so its pages are already resident and not counted.
    """
    env = make_env(env_id, render_mode=None)
    description = describe_env(env_id, env)
    env.close()
    two_slots = ReplayBuffer(2, description.obs_shape, frame_stack=description.frame_stack,
                             n_actions=len(description.action_names))
    lazy_bytes_per_slot = sum(getattr(two_slots, name).nbytes for name in PER_SLOT_ARRAYS if name != "age") // 2
    return max(capacity - steps, 0) * lazy_bytes_per_slot


def print_training(result: dict) -> None:
    print(f"\nTraining process: {result['command']}")
    print_table(("quantity", "value"), [
        ("wall time", f"{result['seconds']:.0f} s ({result['steps_per_second']:.0f} steps/s)"),
        ("peak RSS (measured, ru_maxrss)", _mib(result["peak_rss"])),
        ("buffer bytes not yet written at the end", _mib(result["untouched_buffer_bytes"])),
        ("projected RSS with a full buffer (estimate)", _mib(result["projected_rss_full_buffer"])),
    ])
    print("The buffer is allocated at full size but its pages become resident only as they are written; the "
          "projection adds the unwritten part to the measured peak, it is not a measurement.")


# ------------------------------------------------------------------------------------------------ output


def print_settings(settings: dict) -> None:
    print("Settings: " + ", ".join(f"{key}={value}" for key, value in settings.items()))


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for index, row in enumerate([header, *rows]):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MiB" if math.isfinite(nbytes) else "n/a"


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.2f} GiB"


if __name__ == "__main__":
    sys.exit(main())
