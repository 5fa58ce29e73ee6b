"""Does bf16 autocast learn the same as fp32? One fixed sequence of updates on real Pong transitions, both ways.

Both agents start from the same weights and take the same batches (Pong frames gathered by a random policy
into the project's n-step replay, then one seeded sequence of batches); the only difference is the update's
arithmetic. Reported: the TD loss and mean Q of every update side by side, over a 50-update moving mean
(single losses of batch 32 are noisy): their largest and median relative gaps, the loss against itself and
mean Q (which passes through 0) against its largest value in the run; and at the end the Q-values
of 256 held-out observations and how often the greedy actions agree.

    python benchmarks/precision_drift.py --updates 1000 --net cnn --json drift.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import describe_env, make_env
from agents.factory import observation_scale

PONG = "ALE/Pong-v5"


def gather(agent: DQNAgent, steps: int, seed: int) -> np.ndarray:
    """Fill the agent's replay with a random policy's Pong steps; returns 256 observations kept aside."""
    env = make_env(PONG, render_mode=None, seed=seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    held_out = []
    for step in range(steps):
        action = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, truncated, info = env.step(action)
        agent.replay.add(obs, action, info["learning_reward"], next_obs, info["learning_terminated"], truncated,
                         episode_end=terminated or truncated)
        if step % (steps // 256) == 0 and len(held_out) < 256:
            held_out.append(np.array(next_obs))
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.stack(held_out)


def moving_mean(values: list[float], window: int = 50) -> np.ndarray:
    kernel = np.ones(window) / window
    return np.convolve(np.asarray(values), kernel, mode="valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--net", default="cnn", choices=("cnn", "attention"))
    parser.add_argument("--replay-steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the per-update figures here")
    args = parser.parse_args(argv)
    probe = make_env(PONG, render_mode=None)
    description = describe_env(PONG, probe)
    probe.close()

    def agent(precision: str) -> DQNAgent:
        config = dqn_config_for("atari", "fast", network=args.net, precision=precision, buffer_size=args.replay_steps)
        return DQNAgent(config, description.obs_shape, len(description.action_names), description.action_names,
                        frame_stack=description.frame_stack, obs_scale=observation_scale(description), seed=args.seed)

    full, half = agent("fp32"), agent("bf16")
    half.online.load_state_dict(full.online.state_dict())
    half.target.load_state_dict(full.target.state_dict())
    held_out = gather(full, args.replay_steps, args.seed)
    half.replay.load_state_dict(full.replay.state_dict())
    sampler = np.random.default_rng(args.seed + 1)
    figures: dict[str, dict[str, list[float]]] = {name: {"loss": [], "mean_q": []} for name in ("fp32", "bf16")}
    seconds = {"fp32": 0.0, "bf16": 0.0}
    sync_period = max(1, full.config.target_network_frequency // full.config.train_frequency)
    for update in range(args.updates):
        full.replay.rng = np.random.default_rng(sampler.integers(1 << 62))
        batch = full.replay.sample(full.config.batch_size)
        for name, learner in (("fp32", full), ("bf16", half)):
            start = time.perf_counter()
            stats = learner.update(batch)
            seconds[name] += time.perf_counter() - start
            figures[name]["loss"].append(stats.loss)
            figures[name]["mean_q"].append(stats.mean_q)
            if (update + 1) % sync_period == 0:  # the target period of the preset, counted in updates
                learner.sync_target()
    summary = {}
    for field in ("loss", "mean_q"):
        a, b = moving_mean(figures["fp32"][field]), moving_mean(figures["bf16"][field])
        # The loss against itself at each point; mean Q, which passes through 0, against the run's Q scale.
        scale = np.abs(a) if field == "loss" else np.abs(a).max()
        gap = np.abs(a - b) / np.maximum(scale, 1e-3)
        summary[field] = {"max_relative_gap": float(gap.max()), "median_relative_gap": float(np.median(gap)),
                          "fp32_last": float(a[-1]), "bf16_last": float(b[-1])}
    q_full, q_half = full.forward(held_out).q.numpy(), half.forward(held_out).q.numpy()
    summary["held_out_q"] = {"max_abs_gap": float(np.abs(q_full - q_half).max()),
                             "q_scale": float(np.abs(q_full).max()),
                             "greedy_agreement": float((q_full.argmax(1) == q_half.argmax(1)).mean())}
    summary["ms_per_update"] = {name: 1000 * s / args.updates for name, s in seconds.items()}
    summary["settings"] = {"network": args.net, "updates": args.updates, "threads": torch.get_num_threads(),
                           "preset": "fast"}
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"summary": summary, "per_update": figures}, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
