"""Training throughput: DQN Arcade's headless trainer against Stable-Baselines3's DQN, in one run.

Both sides step the very same environment (DQN Arcade's ALE preprocessing: no-op starts, frame skip 4
with max-pool, 84x84 grey, 4-frame stack, clipped rewards for learning) with the same Nature DQN
hyperparameters, one after the other in this process, and the figure is steps per second *while
training* (after learning_starts), not the cumulative rate that mixes in the fast random phase.

    python benchmarks/throughput.py                       # Breakout, cpu: ours (cnn), SB3, ours (attention)
    python benchmarks/throughput.py --rounds 2 --json out.json
    python benchmarks/throughput.py --device cuda --num-envs 8 --steps 20000

SB3 needs the bench extra: pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.envs.registry import describe_env, make_env  # noqa: E402
from agents.factory import AgentSpec, create_agent, resolve_device  # noqa: E402
from app.headless import training_steps  # noqa: E402


@dataclass(frozen=True)
class Settings:
    """The hyperparameters both sides share (Nature DQN, except where a short benchmark needs less)."""

    env: str
    learning_starts: int
    steps: int
    """Environment steps measured after learning_starts."""
    buffer_size: int
    batch_size: int = 32
    train_frequency: int = 4
    target_network_frequency: int = 10_000
    learning_rate: float = 1e-4
    adam_eps: float = 1.5e-4
    gamma: float = 0.99
    start_e: float = 1.0
    end_e: float = 0.01
    exploration_fraction: float = 0.1
    max_grad_norm: float = 10.0
    seed: int = 0
    device: str = "cpu"
    num_envs: int = 1

    @property
    def total_steps(self) -> int:
        return self.learning_starts + self.steps

    def our_overrides(self) -> tuple[str, ...]:
        fields = ("learning_starts", "buffer_size", "batch_size", "train_frequency", "target_network_frequency",
                  "learning_rate", "adam_eps", "gamma", "start_e", "end_e", "exploration_fraction", "max_grad_norm")
        return (f"total_timesteps={self.total_steps}", *(f"{name}={getattr(self, name)}" for name in fields))


@dataclass(frozen=True)
class Measurement:
    trainer: str
    network: str
    steps_per_second: float
    """Environment steps per second after learning_starts."""
    random_phase_steps_per_second: float
    updates: int
    compute_limit: float | None = None
    """Steps/s if a step cost only its arithmetic: 1000 / (update ms / train_frequency + act ms + env ms), each
    measured right after the run on the same agent and environment (ours only)."""
    parts_ms: dict[str, float] | None = None


class _Clock:
    """Marks the wall time when training starts and when the run ends."""

    def __init__(self, learning_starts: int) -> None:
        self.learning_starts = learning_starts
        self.start = time.perf_counter()
        self.learning_start: tuple[float, int] | None = None

    def tick(self, steps: int) -> None:
        if self.learning_start is None and steps >= self.learning_starts:
            self.learning_start = (time.perf_counter(), steps)

    def measurement(self, trainer: str, network: str, final_steps: int, updates: int) -> Measurement:
        end = time.perf_counter()
        if self.learning_start is None:
            raise RuntimeError("the run ended before learning started")
        started_at, started_steps = self.learning_start
        return Measurement(trainer, network, (final_steps - started_steps) / (end - started_at),
                           started_steps / (started_at - self.start), updates)


def run_ours(settings: Settings, network: str) -> Measurement:
    """`dqn-arcade train` without the progress bar: the same agent, loop and (vector) env path."""
    env = make_env(settings.env, render_mode=None)
    description = describe_env(settings.env, env)
    env.close()
    spec = AgentSpec("dqn", network, double=False, dueling=False, overrides=settings.our_overrides())
    agent = create_agent(description, spec, device=settings.device, seed=settings.seed,
                         num_envs=settings.num_envs)
    clock = _Clock(settings.learning_starts)
    steps = 0
    for steps, _, _ in training_steps(agent, settings.env, None, settings.num_envs, settings.seed,
                                      settings.total_steps):
        clock.tick(steps)
    _synchronize(settings.device)
    measured = clock.measurement("dqn-arcade", network, steps, agent.update_count)
    parts = _parts_ms(agent, settings)
    limit = 1000 / (parts["update"] / settings.train_frequency + parts["act"] + parts["env"])
    return replace(measured, compute_limit=limit, parts_ms=parts)


def _parts_ms(agent: Any, settings: Settings, repeats: int = 40) -> dict[str, float]:
    """Median milliseconds of one update (a fresh replay batch each), one greedy action and one env step."""
    def median_ms(action: Any) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            action()
            _synchronize(settings.device)
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    batch = agent.replay.sample(settings.batch_size)
    obs = batch.observations[0].copy()
    env = make_env(settings.env, render_mode=None, seed=settings.seed)
    env.reset(seed=settings.seed)

    def env_step() -> None:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    parts = {"update": median_ms(lambda: agent.update(agent.replay.sample(settings.batch_size))),
             "act": median_ms(lambda: agent.act(obs, explore=False)), "env": median_ms(env_step)}
    env.close()
    del batch
    return parts


class _LearningReward(gym.Wrapper):
    """Hands SB3 the clipped reward our learner uses (the env is otherwise identical)."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, info.get("learning_reward", reward), terminated, truncated, info


def run_sb3(settings: Settings) -> Measurement:
    """Stable-Baselines3 DQN with CnnPolicy (Nature CNN) on the same environment and settings."""
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    clock = _Clock(settings.learning_starts)

    class Tick(BaseCallback):
        def _on_step(self) -> bool:
            clock.tick(self.num_timesteps)
            return True

    env = _LearningReward(make_env(settings.env, render_mode=None, seed=settings.seed))
    model = DQN("CnnPolicy", env, learning_rate=settings.learning_rate, buffer_size=settings.buffer_size,
                learning_starts=settings.learning_starts, batch_size=settings.batch_size, tau=1.0,
                gamma=settings.gamma, train_freq=settings.train_frequency, gradient_steps=1,
                target_update_interval=settings.target_network_frequency,
                exploration_fraction=settings.exploration_fraction, exploration_initial_eps=settings.start_e,
                exploration_final_eps=settings.end_e, max_grad_norm=settings.max_grad_norm,
                policy_kwargs={"optimizer_kwargs": {"eps": settings.adam_eps}},
                device=settings.device, seed=settings.seed, verbose=0)
    model.learn(total_timesteps=settings.total_steps, callback=Tick())
    _synchronize(settings.device)
    updates = model._n_updates
    env.close()
    return clock.measurement("stable-baselines3", "cnn", model.num_timesteps, updates)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_round(settings: Settings, networks: list[str], with_sb3: bool) -> list[Measurement]:
    """Ours (each network) and SB3, one after the other, so that their ratio shares the machine's state."""
    results = [run_ours(settings, network) for network in networks]
    if with_sb3:
        results.append(run_sb3(settings))
    return results


def print_table(settings: Settings, rounds: list[list[Measurement]]) -> dict[str, float]:
    print(f"\n{settings.env}, device {settings.device}, {settings.num_envs} env(s) on our side, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"settings: {json.dumps(_shared_settings(settings))}")
    print(f"{'round':>5}  {'trainer':<18} {'network':<10} {'train steps/s':>13} {'random steps/s':>14} "
          f"{'updates':>7} {'vs SB3':>7}")
    ratios: dict[str, list[float]] = {}
    for index, results in enumerate(rounds, 1):
        sb3 = next((m for m in results if m.trainer == "stable-baselines3"), None)
        for m in results:
            ratio = m.steps_per_second / sb3.steps_per_second if sb3 else float("nan")
            if sb3 and m is not sb3:
                ratios.setdefault(m.network, []).append(ratio)
            print(f"{index:>5}  {m.trainer:<18} {m.network:<10} {m.steps_per_second:>13.1f} "
                  f"{m.random_phase_steps_per_second:>14.1f} {m.updates:>7} {ratio:>6.2f}x")
    for index, results in enumerate(rounds, 1):
        for m in results:
            if m.compute_limit:
                parts = ", ".join(f"{k} {v:.2f} ms" for k, v in (m.parts_ms or {}).items())
                print(f"{index:>5}  {m.network:<10} compute limit {m.compute_limit:.1f} steps/s ({parts}); "
                      f"measured {m.steps_per_second / m.compute_limit:.0%} of it")
    medians = {network: statistics.median(values) for network, values in ratios.items()}
    for network, median in medians.items():
        print(f"dqn-arcade {network} / stable-baselines3 cnn, median over rounds: {median:.2f}x")
    return medians


def _shared_settings(settings: Settings) -> dict[str, Any]:
    shared = asdict(settings)
    for key in ("env", "device", "num_envs"):
        shared.pop(key)
    return shared


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ALE/Breakout-v5")
    parser.add_argument("--steps", type=int, default=3000, help="steps measured after learning starts")
    parser.add_argument("--learning-starts", type=int, default=5000)
    parser.add_argument("--buffer-size", type=int, default=100_000)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--num-envs", type=int, default=1, help="environments on our side (SB3 keeps one)")
    parser.add_argument("--nets", default="cnn,attention", help="our networks, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="alternate ours and SB3 this many times")
    parser.add_argument("--no-sb3", action="store_true", help="measure our side only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(env=args.env, learning_starts=args.learning_starts, steps=args.steps,
                        buffer_size=args.buffer_size, seed=args.seed, device=resolve_device(args.device),
                        num_envs=args.num_envs)
    networks = [n.strip() for n in args.nets.split(",") if n.strip()]
    rounds = []
    for _ in range(args.rounds):
        rounds.append(run_round(settings, networks, with_sb3=not args.no_sb3))
    medians = print_table(settings, rounds)
    if args.json:
        report = {"settings": asdict(settings), "torch_threads": torch.get_num_threads(),
                  "machine": platform.platform(), "rounds": [[asdict(m) for m in r] for r in rounds],
                  "median_ratio_to_sb3": medians}
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
