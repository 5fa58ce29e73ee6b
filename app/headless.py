"""`dqn-arcade train`, `eval` and `envs`: the same agents as the window, without one."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agents.checkpoint import load_agent, map_text_of, save_agent
from agents.config import PRESETS, apply_overrides
from agents.envs.atari import resolve_game_options
from agents.envs.game_options import GameOptions, parse_game_fields, parse_game_options
from agents.envs.registry import (
    check_actions_fit,
    check_no_game_options,
    describe_env,
    env_kind,
    list_env_ids,
    make_env,
)
from agents.errors import ConfigError
from agents.factory import AgentSpec, create_agent, default_network, resolve_device
from agents.runner import Mode, RunSettings, evaluation_epsilon, run
from agents.types import EpisodeStats, UpdateStats
from agents.vector_runner import SyncEnvs, run_vector

DEFAULT_ENV = "gridworld/four-rooms"
SAVES_DIR = Path("saves")


def train(args: argparse.Namespace) -> int:
    """Train until `--steps` total steps, saving periodically, at the end, and on Ctrl-C."""
    distributed = _check_distributed(args)
    agent, env_id, map_text, game = _run_to_train(args, resolve_device(args.device))
    target = args.steps or agent.config.total_timesteps
    save_path = Path(args.save) if args.save else _default_save_path(env_id, agent)
    save_every = args.save_every or max(target // 10, 1000)
    progress = _Progress(agent, target, quiet=args.quiet, tensorboard_dir=args.tensorboard)
    next_save = agent.step_count + save_every

    def save() -> None:
        save_agent(save_path, agent, env_id=env_id, include_replay=args.save_replay, map_text=map_text,
                   game_options=game)

    steps_of = distributed.steps(agent, env_id, map_text, game, target) if distributed else training_steps(
        agent, env_id, map_text, args.num_envs, args.seed, target, game=game)
    try:
        for steps, finished, update in steps_of:
            progress.record(steps, finished, update)
            if steps >= next_save:
                save()
                next_save = steps + save_every
    except KeyboardInterrupt:
        progress.close()
        save()
        print(f"interrupted at step {agent.step_count:,}; saved {save_path}", file=sys.stderr)
        return 130
    progress.close()
    save()
    print(f"trained {agent.step_count:,} steps in {progress.elapsed():.0f} s; saved {save_path}")
    if distributed:
        replay = "prioritized" if getattr(agent.config, "prioritized_replay", False) else "uniform"
        print(distributed.stats.line(agent.config.train_frequency, replay))
    return 0


class _Distributed:
    """`train --actors N`: Ape-X on Ray (agents.distributed.ray_training), one replay stream per actor."""

    def __init__(self, args: argparse.Namespace) -> None:
        from agents.distributed.ray_training import DistributedStats, import_ray

        import_ray()  # a missing extra is one line before anything is built
        from agents.distributed.ray_training import CHUNK_STEPS, PUBLISH_EVERY

        self.actors, self.address, self.seed = args.actors, args.ray_address, args.seed
        self.chunk_steps = args.chunk_steps or CHUNK_STEPS
        self.publish_every = args.publish_every or PUBLISH_EVERY
        self.stats = DistributedStats(args.actors)

    def steps(self, agent, env_id: str, map_text: str | None, game: GameOptions | None, target: int):
        from agents.distributed.ray_training import distributed_steps

        env = make_env(env_id, render_mode=None, map_text=map_text, game=game)
        description = describe_env(env_id, env, game)
        env.close()
        check_actions_fit(agent.action_names, description, "the agent")
        return distributed_steps(agent, env_id, description, self.actors, target=target, address=self.address,
                                 seed=self.seed, map_text=map_text, game=game, stats=self.stats,
                                 chunk_steps=self.chunk_steps, publish_every=self.publish_every)


def _check_distributed(args: argparse.Namespace) -> _Distributed | None:
    """--actors: the replay gets one stream per actor (a resume re-lays the saved one for them)."""
    if getattr(args, "actors", None) is None:
        for flag in ("ray_address", "chunk_steps", "publish_every"):
            if getattr(args, flag, None):
                raise ConfigError(f"--{flag.replace('_', '-')} needs --actors N")
        return None
    if args.num_envs != 1:
        raise ConfigError("--actors and --num-envs do not combine: each actor steps its own environment")
    if args.agent == "qlearning":
        raise ConfigError("--actors trains DQN agents (tabular Q-learning has no replay to share)")
    distributed = _Distributed(args)
    args.num_envs = args.actors
    return distributed


def _run_to_train(args: argparse.Namespace, device: str):
    """(agent, env id, map text, game settings): the save's when resuming, else the flags'. The game's settings
    come with every one named, so the save stores them."""
    if args.resume:
        agent, env_id, map_text, game = _resumed_agent(args, device)
    else:
        (agent, env_id, map_text), game = _agent_to_train(args, device), _asked_game(args)
    return agent, env_id, map_text, _resolved_game(env_id, game)


def _resumed_agent(args: argparse.Namespace, device: str):
    """(agent, env id, map text, game settings) of `--resume`, read once: the save's config, environment and
    game settings are kept (check_resume_flags refuses flags that conflict with them)."""
    loaded = load_agent(args.resume, device=device, with_replay=True, num_envs=args.num_envs, env_id=args.env)
    check_resume_flags(args, loaded.agent, loaded.env_id, game_options=loaded.game_options)
    if loaded.notice:
        print(loaded.notice, file=sys.stderr)
    return loaded.agent, loaded.env_id, loaded.map_text, loaded.game_options


def _agent_to_train(args: argparse.Namespace, device: str):
    """(agent, env id, map text) of a fresh run, from the flags."""
    env_id = args.env or DEFAULT_ENV
    game = _asked_game(args)
    env = make_env(env_id, render_mode=None, game=game)
    description = describe_env(env_id, env, game)
    map_text = map_text_of(env_id, env)
    env.close()
    steps = [f"total_timesteps={args.steps}"] if args.steps else []
    # On Atari no network is asked for: a preset's choice (fast: the CNN) or the config's attention applies.
    network = args.net or (default_network("gridworld") if description.kind == "gridworld" else None)
    spec = AgentSpec(args.agent or "dqn", network, args.double, args.dueling, tuple([*steps, *args.overrides]),
                     preset=getattr(args, "preset", None))
    agent = create_agent(description, spec, device=device, seed=args.seed, num_envs=args.num_envs)
    return agent, env_id, map_text


def _asked_game(args: argparse.Namespace) -> GameOptions | None:
    """`--game KEY=VALUE,...` (repeatable), or None when not given."""
    texts = getattr(args, "game", None) or []
    return parse_game_options(texts) if texts else None


def _resolved_game(env_id: str, game: GameOptions | None) -> GameOptions | None:
    """Atari: checked against the game's modes and difficulties, sticky filled in; a gridworld's as given."""
    return resolve_game_options(env_id, game) if env_kind(env_id) == "atari" else game


def check_resume_flags(args: argparse.Namespace, agent, env_id: str, *,
                       game_options: GameOptions | None = None) -> None:
    """Users re-run their training command with `--resume FILE` added: flags that agree with the save are fine,
    a flag that conflicts with it is refused with the field and both values (`game_options`: the save's)."""
    def conflict(flag: str, field: str, saved: object) -> ConfigError:
        return ConfigError(f"{flag} conflicts with the save's {field} {saved} (--resume keeps the save's settings; "
                           f"drop the flag or start a new run)")

    if args.env and args.env != env_id:
        raise conflict(f"--env {args.env}", "environment", env_id)
    if args.agent and args.agent != agent.kind:
        raise conflict(f"--agent {args.agent}", "agent", agent.kind)
    config = agent.config
    if agent.kind == "dqn":
        if args.net and args.net != config.network:
            raise conflict(f"--net {args.net}", "network", config.network)
        for flag in ("double", "dueling"):
            wanted = getattr(args, flag)
            if wanted is not None and wanted != getattr(config, flag):
                word = f"--{flag}" if wanted else f"--no-{flag}"
                raise conflict(word, flag, str(getattr(config, flag)).lower())
    preset = getattr(args, "preset", None)
    if preset and agent.kind == "dqn":
        with_preset = dataclasses.replace(config, **PRESETS[preset][1])
        for field in dataclasses.fields(config):
            if getattr(with_preset, field.name) != getattr(config, field.name):
                raise conflict(f"--preset {preset} ({field.name}={getattr(with_preset, field.name)})", field.name,
                               getattr(config, field.name))
    asked = apply_overrides(config, args.overrides)
    for field in dataclasses.fields(config):
        if getattr(asked, field.name) != getattr(config, field.name):
            raise conflict(f"--set {field.name}={getattr(asked, field.name)}", field.name,
                           getattr(config, field.name))
    game_conflict = _game_conflict(getattr(args, "game", None) or [], env_id, game_options)
    if game_conflict is not None:
        raise conflict(*game_conflict)


def _game_conflict(texts: list[str], env_id: str, saved_options: GameOptions | None) -> tuple[str, str, str] | None:
    """(flag, field, the save's value) of the first `--game` setting that differs from the save's, or None."""
    asked = parse_game_fields(texts)
    if not asked:
        return None
    if env_kind(env_id) != "atari":
        check_no_game_options(env_id, GameOptions(**asked))
    saved = _resolved_game(env_id, saved_options) or GameOptions()
    wanted, kept = _game_texts(_resolved_game(env_id, dataclasses.replace(saved, **asked))), _game_texts(saved)
    return next(((f"--game {key}={value}", key, kept[key]) for key, value in wanted.items() if value != kept[key]),
                None)


def _game_texts(options: GameOptions | None) -> dict[str, str]:
    """{"mode": "2", "difficulty": "default", "sticky": "0.25", "actions": "full"}."""
    return dict(item.split("=", 1) for item in (options or GameOptions()).to_text().split(","))


def training_steps(agent, env_id: str, map_text: str | None, num_envs: int, seed: int | None, target: int, *,
                   game: GameOptions | None = None
                   ) -> Iterator[tuple[int, tuple[EpisodeStats, ...], UpdateStats | None]]:
    """(steps so far, episodes just finished, update stats) per loop iteration, single or vectorised,
    until the agent has trained `target` steps in all; `game`: an Atari game's settings."""
    if num_envs == 1 or agent.kind == "qlearning":
        env = make_env(env_id, render_mode=None, seed=seed, map_text=map_text, game=game)
        check_actions_fit(agent.action_names, describe_env(env_id, env, game), "the agent")
        settings = RunSettings(mode=Mode.TRAIN, evaluate=False)
        for snap in run(env, agent, settings, max_steps=max(target - agent.step_count, 0), seed=seed):
            yield snap.total_steps, (snap.finished,) if snap.finished else (), snap.update
        env.close()
        return
    envs = SyncEnvs([lambda: make_env(env_id, render_mode=None, map_text=map_text, game=game)
                     for _ in range(num_envs)])
    check_actions_fit(agent.action_names, describe_env(env_id, envs.envs[0], game), "the agent")
    for step in run_vector(envs, agent, max_steps=target, seed=seed):
        yield step.total_steps, step.finished, step.update
    envs.close()


def _default_save_path(env_id: str, agent) -> Path:
    name = re.sub(r"[^A-Za-z0-9]+", "-", Path(env_id).stem if env_id.endswith(".txt") else env_id).strip("-")
    network = getattr(agent.config, "network", None) or agent.kind
    return SAVES_DIR / f"{name.lower()}_{network}.dqn"


class _Progress:
    """A progress bar (steps/s, episodes, mean return, epsilon) and optional TensorBoard scalars."""

    def __init__(self, agent, target: int, *, quiet: bool, tensorboard_dir: str | None) -> None:
        self.agent = agent
        self.returns: deque[float] = deque(maxlen=100)
        self.start = time.perf_counter()
        self.rate_mark = (self.start, agent.step_count)
        self.bar = tqdm(total=target, initial=agent.step_count, unit="step", disable=quiet, dynamic_ncols=True,
                        smoothing=0.05, mininterval=0.5)
        self.writer = _tensorboard_writer(tensorboard_dir)
        self.last_step = agent.step_count
        self.updates = 0

    def record(self, steps: int, finished: tuple[EpisodeStats, ...], update: UpdateStats | None) -> None:
        self.bar.update(steps - self.last_step)
        self.last_step = steps
        for episode in finished:
            self.returns.append(episode.episode_return)
            self._scalar("charts/episodic_return", episode.episode_return, steps)
            self._scalar("charts/episodic_length", episode.length, steps)
        if update is not None:
            self.updates += 1
            if self.updates % 100 == 0:
                self._scalar("losses/td_loss", update.loss, steps)
                self._scalar("losses/q_values", update.mean_q, steps)
        if finished or steps % 1000 == 0:
            self._refresh(steps)

    def _refresh(self, steps: int) -> None:
        mean_return = float(np.mean(self.returns)) if self.returns else math.nan
        self.bar.set_postfix(episodes=len(self.agent.episodes), mean_return=f"{mean_return:.2f}",
                             epsilon=f"{self.agent.epsilon:.3f}", refresh=False)
        now = time.perf_counter()
        if now - self.rate_mark[0] >= 5.0:
            self._scalar("charts/SPS", (steps - self.rate_mark[1]) / (now - self.rate_mark[0]), steps)
            self._scalar("charts/epsilon", self.agent.epsilon, steps)
            self.rate_mark = (now, steps)

    def _scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()


def _tensorboard_writer(directory: str | None):
    if directory is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'dqn-arcade[tensorboard]'"
                          ) from None
    return SummaryWriter(directory)


def evaluate(args: argparse.Namespace) -> int:
    """Run the saved agent for `--episodes` episodes (epsilon-greedy as the protocol says) and report returns."""
    loaded = load_agent(args.file, device=resolve_device(args.device), env_id=getattr(args, "env", None))
    if loaded.notice:
        print(loaded.notice, file=sys.stderr)
    texts = getattr(args, "game", None) or []  # another mode, difficulty or sticky: a test of generalisation
    game = parse_game_options(texts, loaded.game_options) if texts else loaded.game_options
    env = make_env(loaded.env_id, render_mode=None, seed=args.seed, map_text=loaded.map_text, game=game)
    description = describe_env(loaded.env_id, env, game)
    check_actions_fit(loaded.agent.action_names, description, str(args.file))
    shortest = env.unwrapped.shortest_path_length() if hasattr(env.unwrapped, "shortest_path_length") else None
    epsilon = evaluation_epsilon(env_kind(loaded.env_id)) if args.epsilon is None else args.epsilon
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"--epsilon {epsilon:g} is not a probability (choose 0 to 1)")
    settings = RunSettings(mode=Mode.PLAY, play_epsilon=epsilon, evaluate=False)
    episodes: list[EpisodeStats] = []
    with restoring_history(loaded.agent):
        for snap in run(env, loaded.agent, settings, seed=args.seed):
            if snap.finished is not None:
                episodes.append(snap.finished)
                if len(episodes) == args.episodes:
                    break
    env.close()
    has_goal = env_kind(loaded.env_id) == "gridworld"
    report = _evaluation_report(loaded.env_id, episodes, loaded.agent.step_count, has_goal, shortest)
    report["epsilon"] = epsilon
    if description.game_options is not None:
        report["game_options"] = description.game_options.to_json()
    print(json.dumps(report) if args.json else _format_report(report))
    return 0


@contextmanager
def restoring_history(agent) -> Iterator[None]:
    """Evaluation episodes are not training history: the loop's appends are undone afterwards."""
    kept = list(agent.episodes)
    try:
        yield
    finally:
        agent.episodes[:] = kept


def _evaluation_report(env_id: str, episodes: list[EpisodeStats], trained_steps: int, has_goal: bool,
                       shortest: int | None) -> dict:
    returns = np.array([e.episode_return for e in episodes])
    successes = [e.success for e in episodes]
    report = {
        "env": env_id,
        "episodes": len(episodes),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(np.mean([e.length for e in episodes])),
        "success_rate": float(np.mean([bool(s) for s in successes])) if has_goal else None,
        "trained_steps": trained_steps,
    }
    if shortest is not None:
        report["shortest_path_length"] = shortest
        report["shortest_path_rate"] = float(np.mean([bool(e.success) and e.length == shortest for e in episodes]))
    return report


def _format_report(report: dict) -> str:
    lines = [f"{report['env']}: {report['episodes']} episodes after {report['trained_steps']:,} training steps",
             f"  epsilon {report['epsilon']:g} ({'greedy' if report['epsilon'] == 0 else 'epsilon-greedy'})",
             *([f"  game: {GameOptions.from_json(report['game_options']).summary()}"]
               if "game_options" in report else []),
             f"  return {report['mean_return']:.3f} ± {report['std_return']:.3f}, "
             f"length {report['mean_length']:.1f}"]
    if report["success_rate"] is not None:
        lines.append(f"  reached a goal in {report['success_rate']:.0%} of episodes")
    if "shortest_path_length" in report:
        lines.append(f"  on a shortest path ({report['shortest_path_length']} steps) in "
                     f"{report['shortest_path_rate']:.0%}")
    return "\n".join(lines)


def list_envs() -> int:
    """Print every environment id, one per line (gridworlds first)."""
    for env_id in list_env_ids():
        print(env_id)
    return 0

