"""Ape-X on a local Ray against the single-process trainer: env steps/s and updates/s by number of actors.

    python benchmarks/distributed.py --env ALE/Breakout-v5 --actors 1 2 4 --seconds 60
    python benchmarks/distributed.py --env gridworld/four-rooms --actors 1 2 --seconds 30 --json out.json

Each row trains a fresh agent for about --seconds of wall time (after its start-up, which is reported apart) at the
same updates per env step (the config's train_frequency), so the rows differ only in who steps the environments:
the trainer's own loop, or N Ray actors feeding one learner. Run it on a machine with nothing else heavy running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from agents.envs.registry import describe_env, make_env  # noqa: E402
from agents.factory import AgentSpec, create_agent  # noqa: E402
from agents.runner import Mode, RunSettings, run  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="ALE/Breakout-v5")
    parser.add_argument("--net", default=None, help="default: cnn on Atari, mlp on gridworlds")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--json", default=None)
    return parser.parse_args()


def fresh_agent(args: argparse.Namespace, num_envs: int):
    env = make_env(args.env, render_mode=None)
    description = describe_env(args.env, env)
    env.close()
    network = args.net or ("mlp" if description.kind == "gridworld" else "cnn")
    overrides = ("learning_starts=1000", "buffer_size=50000", *args.overrides)
    agent = create_agent(description, AgentSpec("dqn", network, overrides=overrides), device="cpu", seed=0,
                         num_envs=num_envs)
    return agent, description


def single_process(args: argparse.Namespace) -> dict:
    agent, _ = fresh_agent(args, 1)
    env = make_env(args.env, render_mode=None, seed=0)
    start = time.perf_counter()
    steps = run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False, render=False), seed=0)
    while agent.step_count < agent.config.learning_starts:  # warm-up without updates is not what is compared
        next(steps)
    warm = time.perf_counter()
    first_steps, first_updates = agent.step_count, agent.update_count
    while time.perf_counter() - warm < args.seconds:
        next(steps)
    seconds = time.perf_counter() - warm
    return {"trainer": "single process", "actors": 0, "startup_s": round(warm - start, 1),
            "env_steps_per_s": round((agent.step_count - first_steps) / seconds, 1),
            "updates_per_s": round((agent.update_count - first_updates) / seconds, 1),
            "train_frequency": agent.config.train_frequency}


def distributed(args: argparse.Namespace, actors: int) -> dict:
    from agents.distributed.ray_training import DistributedStats, distributed_steps

    agent, description = fresh_agent(args, actors)
    stats = DistributedStats(actors)
    start = time.perf_counter()
    warm = first_steps = first_updates = None
    for _ in distributed_steps(agent, args.env, description, actors, target=10**9, seed=0, stats=stats):
        now = time.perf_counter()
        if warm is None and agent.step_count >= agent.config.learning_starts:
            warm, first_steps, first_updates = now, agent.step_count, agent.update_count
        if warm is not None and now - warm >= args.seconds:
            break
    seconds = time.perf_counter() - warm
    return {"trainer": "Ape-X on Ray", "actors": actors, "startup_s": round(warm - start, 1),
            "env_steps_per_s": round((agent.step_count - first_steps) / seconds, 1),
            "updates_per_s": round((agent.update_count - first_updates) / seconds, 1),
            "train_frequency": agent.config.train_frequency, "restarts": stats.restarts}


def main() -> int:
    args = parse_args()
    import ray

    from agents.distributed.ray_training import connect

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    rows = [single_process(args)]
    connect(ray, None)
    rows += [distributed(args, n) for n in args.actors]
    ray.shutdown()
    seconds = f"{args.seconds:.0f} s a row after the warm-up"
    print(f"{args.env}, {os.cpu_count()} cores, torch {torch.__version__}, {seconds}")
    print(f"{'trainer':<16} {'actors':>6} {'start-up s':>10} {'env steps/s':>12} {'updates/s':>10} {'steps/upd':>10}")
    for row in rows:
        print(f"{row['trainer']:<16} {row['actors']:>6} {row['startup_s']:>10} {row['env_steps_per_s']:>12} "
              f"{row['updates_per_s']:>10} {row['train_frequency']:>10}")
    if args.json:
        Path(args.json).write_text(json.dumps({"env": args.env, "cores": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
