"""What one DQN update costs on this CPU, by network, precision, memory layout and thread count.

Each variant is the agent's own update (DQNAgent.update: target forward, Double-DQN online forward, online
forward and backward, gradient clip, fused Adam) on a fixed random Atari batch, timed over `--updates`
updates after a warm-up, interleaved A B A B over `--rounds` rounds so drift hits every variant alike.

    python benchmarks/update_cost.py --nets cnn,attention --threads 1,2 --rounds 3

Run it alone: another torch process on the two cores multiplies these figures by 20 or more.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import numpy as np
import torch

from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.types import Batch

OBS_SHAPE = (4, 84, 84)
N_ACTIONS = 6


def make_batch(batch_size: int, seed: int = 0) -> Batch:
    """A fixed batch of random Atari-shaped transitions."""
    rng = np.random.default_rng(seed)
    return Batch(
        observations=rng.integers(0, 256, (batch_size, *OBS_SHAPE), dtype=np.uint8),
        actions=rng.integers(0, N_ACTIONS, batch_size).astype(np.int64),
        rewards=rng.choice(np.array([-1.0, 0.0, 1.0], np.float32), batch_size),
        next_observations=rng.integers(0, 256, (batch_size, *OBS_SHAPE), dtype=np.uint8),
        dones=(rng.random(batch_size) < 0.05).astype(np.float32),
        indices=np.arange(batch_size),
    )


def make_agent(network: str, precision: str, layout: str, batch_size: int) -> DQNAgent:
    config = dqn_config_for("atari", network=network, double=True, dueling=True, precision=precision,
                            memory_layout=layout, buffer_size=1000, batch_size=batch_size)
    return DQNAgent(config, OBS_SHAPE, N_ACTIONS, [str(a) for a in range(N_ACTIONS)], frame_stack=4,
                    obs_scale=1 / 255, seed=0)


def time_updates(agent: DQNAgent, batch: Batch, updates: int) -> float:
    """Median milliseconds of one update."""
    times = []
    for _ in range(updates):
        start = time.perf_counter()
        agent.update(batch)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def time_acting(agent: DQNAgent, obs: np.ndarray, steps: int) -> float:
    """Median milliseconds of one greedy action."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        agent.act(obs, explore=False)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="cnn,attention")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--layouts", default="nchw,nhwc")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    batch = make_batch(args.batch_size)
    variants = list(itertools.product(args.nets.split(","), args.precisions.split(","), args.layouts.split(","),
                                      [int(t) for t in args.threads.split(",")]))
    agents = {v[:3]: make_agent(*v[:3], args.batch_size) for v in variants}
    results: dict[tuple, list[tuple[float, float]]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            torch.set_num_threads(variant[3])
            agent = agents[variant[:3]]
            time_updates(agent, batch, 5)  # warm-up: oneDNN picks and caches its kernels
            results[variant].append((time_updates(agent, batch, args.updates),
                                     time_acting(agent, batch.observations[0], args.updates)))
    rows = []
    print(f"{'net':<10}{'precision':<10}{'layout':<8}{'threads':>8}{'update ms':>12}{'act ms':>9}")
    for variant, measured in results.items():
        update_ms = statistics.median(m[0] for m in measured)
        act_ms = statistics.median(m[1] for m in measured)
        rows.append(dict(zip(("network", "precision", "layout", "threads"), variant, strict=True),
                         update_ms=update_ms, act_ms=act_ms, rounds=[m[0] for m in measured]))
        print(f"{variant[0]:<10}{variant[1]:<10}{variant[2]:<8}{variant[3]:>8}{update_ms:>12.1f}{act_ms:>9.2f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"batch_size": args.batch_size, "torch": torch.__version__, "rows": rows}, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
