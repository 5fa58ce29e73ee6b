"""Learning benchmark: how long until DQN solves the gridworlds, per network; and, on a GPU, Pong to +18.

Gridworlds (default): for each map and network a fresh DQN agent with the gridworld defaults trains through
the project's loop (agents.runner.run, Mode.TRAIN, as `dqn-arcade train` does). Every --eval-every steps
its greedy policy plays one episode on a separate environment; the map counts as solved when that episode
reaches the goal in exactly the shortest-path number of steps. Training stops there or at --steps (with
--to-limit it goes on to --steps and also reports whether the final agent, the one `dqn-arcade train
--steps N` would save, still plays a shortest path). The train time excludes the evaluations, which are
reported separately.

One seed shows that a recipe *can* learn a map, not that it does: with --seeds N every (map, network) pair
is trained from N seeds (--seed, --seed + 1, ...; or --seed-list), each seed seeding the agent and both
environments, and the summary reports "solved by k of N seeds" with the median solve step of the seeds
that solved it and the seeds that did not. With --json the file is rewritten after every run, so a long
benchmark can be watched and a stopped one keeps what it measured.

Pong (--pong, instead of the gridworlds): trains on ALE/Pong-v5 until the mean return of the last 10
episodes reaches +18, or --max-steps / --max-minutes; reports agent steps, frames (4 per step) and minutes.

    python benchmarks/learning.py --maps four-rooms maze --nets mlp cnn attention --json learning.json
    python benchmarks/learning.py --maps benchmarks/maps/*.txt --nets mlp   # maps no test uses
    python benchmarks/learning.py --maps all --nets mlp --seeds 10 --json seeds.json   # every built-in map
    python benchmarks/learning.py --pong --device cuda --json pong.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

import gymnasium as gym
import torch

from agents.config import dqn_config_for
from agents.envs.atari import FRAME_SKIP
from agents.envs.registry import GRIDWORLD_PREFIX, builtin_maps, describe_env, make_env
from agents.factory import NETWORKS, AgentSpec, create_agent, resolve_device
from agents.runner import Agent, Mode, RunSettings, run
from agents.types import EpisodeStats

PONG_ID = "ALE/Pong-v5"
PONG_WINDOW = 10
"""Episodes in the moving mean that has to reach the target."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", nargs="+", default=["four-rooms", "maze"],
                        help="built-in gridworld names, paths to .txt map files, or 'all' for every built-in map")
    parser.add_argument("--nets", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--steps", type=int, default=50_000, help="gridworld step limit per run (default: %(default)s)")
    parser.add_argument("--eval-every", type=int, default=2_500, help="steps between greedy evaluations")
    parser.add_argument("--to-limit", action="store_true",
                        help="gridworlds: train on to --steps after the first solve and also report whether the "
                             "final agent (what `dqn-arcade train` saves) still plays a shortest path")
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="gridworlds: train each (map, network) from N seeds, --seed up (default: %(default)s)")
    parser.add_argument("--seed-list", type=int, nargs="+", default=None, metavar="S",
                        help="gridworlds: these seeds instead of --seed/--seeds")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (auto takes a GPU when present)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="FIELD=VALUE",
                        help="config overrides for every agent this run trains (after the family's defaults)")
    parser.add_argument("--pong", action="store_true", help="run the Pong race instead of the gridworlds")
    parser.add_argument("--pong-net", default=None, choices=NETWORKS, help="Pong network (default: the preset's)")
    parser.add_argument("--pong-env", default=PONG_ID,
                        help="Pong game id: ALE/Pong-v5 (sticky actions, Machado et al. 2018) or PongNoFrameskip-v4 "
                             "(deterministic, the setting of CleanRL's and Lapan's Pong curves) (default: %(default)s)")
    parser.add_argument("--pong-preset", default="fast", help="Pong recipe (agents.config.PRESETS)")
    parser.add_argument("--pong-init", default=None, metavar="SAVE",
                        help="Pong: a new run starts from this save's agent (its weights, and its optimizer and "
                             "replay if saved) instead of from scratch, e.g. to go on from a NoFrameskip-v4 agent on "
                             "sticky ALE/Pong-v5; the JSON names the save and its step")
    parser.add_argument("--run-dir", default="~/.cache/dqn-arcade/pong-run",
                        help="Pong: where the run's saves (with replay), curve JSON and PNG go; an existing run there "
                             "resumes (default: %(default)s)")
    parser.add_argument("--save-minutes", type=float, default=10.0, help="Pong: minutes between saves")
    parser.add_argument("--report-minutes", type=float, default=3.0, help="Pong: minutes between curve updates")
    parser.add_argument("--pong-target", type=float, default=18.0, help="mean return over the last 10 episodes")
    parser.add_argument("--max-steps", type=int, default=5_000_000, help="Pong agent-step limit (default: %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=None, help="Pong wall-time limit")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    args.maps = [name for entry in args.maps for name in (list(builtin_maps()) if entry == "all" else [entry])]
    return args


def seeds_of(args: argparse.Namespace) -> list[int]:
    return list(args.seed_list) if args.seed_list else list(range(args.seed, args.seed + args.seeds))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    settings = settings_of(args, device)
    print("Settings: " + ", ".join(f"{key}={value}" for key, value in settings.items()), flush=True)
    if args.pong:
        results = [asdict(race_pong(args, device))]
        print_pong(results[0])
        settings["env"] = args.pong_env  # a resume plays the game its run began on, whatever --pong-env said
        write_json(args.json, {"settings": settings, "results": results})
    else:
        results = []
        for name in args.maps:
            for net in args.nets:
                for seed in seeds_of(args):
                    results.append(asdict(solve_gridworld(name, net, seed, args, device)))
                    write_json(args.json, {"settings": settings, "results": results,
                                           "summary": summarise(results)}, quiet=True)
        print_gridworld_table(results)
        print()
        print_summary_table(summarise(results))
        write_json(args.json, {"settings": settings, "results": results, "summary": summarise(results)})
    return 0


def write_json(path: str | None, data: dict, *, quiet: bool = False) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not quiet:
        print(f"wrote {path}")


def settings_of(args: argparse.Namespace, device: str) -> dict:
    """Everything that shapes the figures, printed with them so a table is never read without its context."""
    seeds = [args.seed] if args.pong else seeds_of(args)
    common = {"seeds": " ".join(map(str, seeds)), "device": device, "torch_threads": torch.get_num_threads(),
              "overrides": " ".join(args.overrides) or "none", "python": platform.python_version(),
              "torch": torch.__version__, "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    if args.pong:
        return {"env": args.pong_env, "net": args.pong_net, "target": args.pong_target, "window": PONG_WINDOW,
                "max_steps": args.max_steps, "max_minutes": args.max_minutes, **common}
    # The epsilon schedule follows the config's total_timesteps, not --steps: the step limit is only a cut-off.
    schedule = dqn_config_for("gridworld").total_timesteps
    return {"maps": " ".join(args.maps), "nets": " ".join(args.nets), "step_limit": args.steps,
            "to_limit": args.to_limit,
            "eval_every": args.eval_every, "epsilon_schedule_steps": schedule, **common}


# ------------------------------------------------------------------------------------------- gridworlds


@dataclass
class SolveResult:
    map: str
    network: str
    seed: int
    solved: bool
    steps: int
    """Agent steps at the first shortest-path greedy episode, else the steps trained."""
    trained_steps: int
    """Steps trained in all: `steps`, or the step limit with --to-limit."""
    final_solved: bool | None
    """With --to-limit: whether the greedy episode of the agent at the step limit (what `dqn-arcade train
    --steps N` saves) is still a shortest path; None when the run stopped at its first solve."""
    train_seconds: float
    eval_seconds: float
    evaluations: int
    shortest_path: int
    last_greedy_length: int
    last_greedy_success: bool


def solve_gridworld(map_name: str, network: str, seed: int, args: argparse.Namespace, device: str) -> SolveResult:
    """Train a fresh agent on one map until its greedy episode is a shortest path, or the step limit."""
    env_id = gridworld_id(map_name)
    train_env = make_env(env_id, render_mode=None, seed=seed)
    eval_env = make_env(env_id, render_mode=None, seed=seed)
    agent = create_agent(describe_env(env_id, train_env), AgentSpec("dqn", network, overrides=tuple(args.overrides)),
                         device=device, seed=seed)
    shortest = eval_env.unwrapped.shortest_path_length()
    train_seconds = eval_seconds = 0.0
    evaluations, solved, first_solve, greedy = 0, False, None, None
    settings = RunSettings(mode=Mode.TRAIN, evaluate=False)
    resumed = time.perf_counter()
    for snap in run(train_env, agent, settings, max_steps=args.steps, seed=seed):
        steps = snap.total_steps
        if steps % args.eval_every and steps < args.steps:
            continue
        paused = time.perf_counter()
        train_seconds += paused - resumed
        greedy = greedy_episode(agent, eval_env)
        evaluations += 1
        solved = bool(greedy.success) and greedy.length == shortest
        if solved and first_solve is None:
            first_solve = steps
        resumed = time.perf_counter()
        eval_seconds += resumed - paused
        print(f"  {map_name} {network} seed {seed}: step {steps:,}, greedy length {greedy.length} "
              f"(shortest {shortest}), {train_seconds:.0f} s training", file=sys.stderr, flush=True)
        if solved and not args.to_limit:
            break
    train_env.close()
    eval_env.close()
    return SolveResult(map_name, network, seed, first_solve is not None, first_solve or agent.step_count,
                       agent.step_count, solved if args.to_limit else None, train_seconds, eval_seconds,
                       evaluations, shortest, greedy.length if greedy else 0, bool(greedy and greedy.success))


def gridworld_id(map_name: str) -> str:
    """A built-in map's id, or the path itself for a map file (e.g. one no test has seen)."""
    return map_name if map_name.endswith(".txt") else GRIDWORLD_PREFIX + map_name


def greedy_episode(agent: Agent, env: gym.Env) -> EpisodeStats:
    """One episode of the greedy policy (Mode.PLAY at epsilon 0, as `dqn-arcade eval` plays it).

    Greedy acting draws no random numbers, so evaluating does not change the training run. The episode is
    not training history, so it is taken back out of the agent's list; the map's step limit ends it.
    """
    history = len(agent.episodes)
    settings = RunSettings(mode=Mode.PLAY, play_epsilon=0.0, evaluate=False)
    try:
        for snap in run(env, agent, settings):
            if snap.finished is not None:
                return snap.finished
    finally:
        del agent.episodes[history:]
    raise AssertionError("run() stops only when its caller does")


def summarise(results: list[dict]) -> list[dict]:
    """Per (map, network), in the order first run: how many seeds solved it, and at which step (median)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        groups.setdefault((result["map"], result["network"]), []).append(result)
    summary = []
    for (map_name, network), runs in groups.items():
        solved = [run["steps"] for run in runs if run["solved"]]
        summary.append({
            "map": map_name, "network": network, "seeds": len(runs), "solved": len(solved),
            "median_solve_step": median(solved) if solved else None,
            "max_solve_step": max(solved) if solved else None,
            "unsolved_seeds": [run["seed"] for run in runs if not run["solved"]],
            "median_train_seconds": round(median(run["train_seconds"] for run in runs), 1),
        })
        finals = [run["final_solved"] for run in runs if run["final_solved"] is not None]
        if finals:
            summary[-1]["final_solved"] = sum(finals)
            summary[-1]["final_unsolved_seeds"] = [run["seed"] for run in runs if run["final_solved"] is False]
    return summary


def print_gridworld_table(results: list[dict]) -> None:
    header = ("map", "network", "seed", "solved", "steps", "train s", "eval s", "greedy length / shortest")
    rows = [(r["map"], r["network"], str(r["seed"]), "yes" if r["solved"] else "no", f"{r['steps']:,}",
             f"{r['train_seconds']:.1f}", f"{r['eval_seconds']:.1f}",
             f"{r['last_greedy_length']} / {r['shortest_path']}") for r in results]
    print_table(header, rows)


def print_summary_table(summary: list[dict]) -> None:
    header = ("map", "network", "solved by", "median solve step", "slowest solve", "unsolved seeds", "median train s")
    rows = [(s["map"], s["network"], f"{s['solved']} of {s['seeds']} seeds",
             "n/a" if s["median_solve_step"] is None else f"{s['median_solve_step']:,.0f}",
             "n/a" if s["max_solve_step"] is None else f"{s['max_solve_step']:,}",
             " ".join(map(str, s["unsolved_seeds"])) or "none", f"{s['median_train_seconds']:.1f}") for s in summary]
    if any("final_solved" in s for s in summary):
        header = (*header, "final agent solves", "final unsolved seeds")
        rows = [(*row, f"{s['final_solved']} of {s['seeds']}" if "final_solved" in s else "n/a",
                 " ".join(map(str, s.get("final_unsolved_seeds", []))) or "none")
                for row, s in zip(rows, summary, strict=True)]
    print_table(header, rows)


# ------------------------------------------------------------------------------------------------- Pong


@dataclass
class PongResult:
    network: str
    reached: bool
    stopped_by: str
    """target, max_steps, max_minutes or interrupted."""
    steps: int
    frames: int
    minutes: float
    """Wall minutes of training over every session of the run (resumes included, evaluation-free)."""
    episodes: int
    last_mean_return: float | None
    best_mean_return: float | None
    sessions: int = 1
    """How many processes the run took (1 + the number of resumes)."""


class PongLog:
    """The run's episodes (return, env step, wall seconds since the run began) and its sessions, kept as JSON in
    the run folder and drawn as a PNG; both are rewritten every few minutes and survive a resume."""

    def __init__(self, folder: Path, settings: dict, resumed_step: int | None) -> None:
        """`resumed_step`: the step of the run save this session resumes (None: a fresh run, whose folder's old
        curve, if any, is kept aside as pong-curve.old.json)."""
        self.folder = folder
        self.path = folder / "pong-curve.json"
        self.data = {"settings": settings, "episodes": [], "sessions": []}
        if resumed_step is None and self.path.exists():
            self.path.replace(folder / "pong-curve.old.json")
        elif resumed_step is not None and self.path.exists():
            self.data = json.loads(self.path.read_text())
        if self.data.get("finished"):
            raise SystemExit(f"the run in {folder} already reached its target; start a new one with another --run-dir")
        self.seconds_before = self._rewind_to(resumed_step)
        """Wall seconds of training behind the resumed save (what a crash after the save cost is not in it)."""
        self.data["sessions"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_seconds":
                                      self.seconds_before, "start_step": resumed_step or 0, "seconds": 0.0})

    def _rewind_to(self, step: int | None) -> float:
        """Drop the episodes logged after the save being resumed (a crash lost them with the agent's state) and
        return the training seconds up to that save; the lost seconds are recorded, not hidden."""
        sessions = self.data["sessions"]
        logged = float(sum(session["seconds"] for session in sessions))
        saved = self.data.get("saved")
        if step is None or not sessions:
            return 0.0
        if not saved or saved.get("step") != step:  # a log written at the same moment as its save (older runs)
            return logged
        self.data["episodes"] = [e for e in self.data["episodes"] if e["step"] <= step]
        if logged > saved["seconds"]:
            sessions[-1]["lost_seconds"] = round(logged - saved["seconds"], 1)
            sessions[-1]["seconds"] = round(sessions[-1]["seconds"] - (logged - saved["seconds"]), 1)
        return float(saved["seconds"])

    def saved(self, step: int, seconds: float) -> None:
        """The run save now holds the agent at `step`, after `seconds` of training in all."""
        self.data["saved"] = {"step": step, "seconds": round(seconds, 1)}

    def episode(self, step: int, episode_return: float, seconds: float) -> None:
        self.data["episodes"].append({"step": step, "return": episode_return, "seconds": round(seconds, 1)})

    def returns(self) -> list[float]:
        return [e["return"] for e in self.data["episodes"]]

    def write(self, session_seconds: float, step: int) -> None:
        session = self.data["sessions"][-1]
        session["seconds"], session["end_step"] = round(session_seconds, 1), step
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data, indent=1))
        temporary.replace(self.path)
        plot_pong_curve(self.data, self.folder / "pong-curve.png")


def plot_pong_curve(data: dict, path: Path) -> None:
    """Return per episode and its 10-episode mean, against env steps and against wall minutes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    episodes = data["episodes"]
    if not episodes:
        return
    returns = [e["return"] for e in episodes]
    means = [sum(returns[max(0, i - PONG_WINDOW + 1):i + 1]) / len(returns[max(0, i - PONG_WINDOW + 1):i + 1])
             for i in range(len(returns))]
    steps = [e["step"] / 1000 for e in episodes]
    minutes = [e["seconds"] / 60 for e in episodes]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, x, label in ((axes[0], steps, "env steps (thousands)"), (axes[1], minutes, "wall minutes")):
        axis.plot(x, returns, ".", color="0.6", markersize=3, label="episode return")
        axis.plot(x, means, color="C0", label=f"mean of last {PONG_WINDOW}")
        axis.axhline(18, color="C2", linestyle="--", linewidth=1, label="+18")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("Pong return")
    axes[0].legend(loc="upper left")
    settings = data.get("settings", {})
    start = settings.get("started_from")
    origin = f"from {start['save']} ({start['env']}, step {start['step']:,})" if start else "from scratch"
    figure.suptitle(f"{data.get('settings', {}).get('env', 'Pong')} {origin} on {settings.get('cpu', 'a CPU')}: "
                    f"{settings.get('recipe', '')}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def race_pong(args: argparse.Namespace, device: str) -> PongResult:
    """Train on Pong until the mean of the last 10 episode returns reaches the target, or a limit.

    The run lives in --run-dir (outside the repository): every --save-minutes the agent is saved there with its
    replay (pong-run.dqn), and a run started again with the same folder resumes from it; pong-curve.json and
    .png are rewritten every --report-minutes. The agent that reached the target (or the last one) is saved
    as a policy-only pong-agent.dqn (the online network alone, a few MB), the file to ship.
    """
    from agents.checkpoint import load_agent, save_agent

    folder = Path(args.run_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    run_file, final_file = folder / "pong-run.dqn", folder / "pong-agent.dqn"
    resumed_step = None
    if run_file.exists():
        loaded = load_agent(run_file, device=device, with_replay=True)
        agent, args.pong_env = loaded.agent, loaded.env_id  # a resume plays the game the run began on
        resumed_step = agent.step_count
        print(f"resuming {run_file} at step {agent.step_count:,} (replay {len(agent.replay):,})", file=sys.stderr)
    elif args.pong_init:
        loaded = load_agent(args.pong_init, device=device, with_replay=True)
        agent = loaded.agent
        started_from = {"save": Path(args.pong_init).name, "env": loaded.env_id, "step": agent.step_count}
        print(f"starting from {args.pong_init} ({loaded.env_id}, step {agent.step_count:,})", file=sys.stderr)
    else:
        probe = make_env(args.pong_env, render_mode=None)
        spec = AgentSpec("dqn", args.pong_net, overrides=tuple(args.overrides), preset=args.pong_preset)
        agent = create_agent(describe_env(args.pong_env, probe), spec, device=device, seed=args.seed)
        probe.close()
    recipe = f"preset {args.pong_preset}, {agent.config.network}, {getattr(agent, 'precision', 'fp32')}"
    settings = {"env": args.pong_env, "recipe": recipe, "config": asdict(agent.config), "cpu": _cpu_name(),
                "torch": torch.__version__, "threads": torch.get_num_threads()}
    if resumed_step is None and args.pong_init:
        settings["started_from"] = started_from
    log = PongLog(folder, settings, resumed_step)
    returns: deque[float] = deque(log.returns()[-PONG_WINDOW:], maxlen=PONG_WINDOW)
    best = None
    for i in range(len(log.returns())):  # the same partial-window rule as during the run
        best = _best_mean(deque(log.returns()[max(0, i + 1 - PONG_WINDOW):i + 1], maxlen=PONG_WINDOW), best)
    session_seed = args.seed + len(log.data["sessions"]) - 1  # a resumed session does not replay the first's games
    env = make_env(args.pong_env, render_mode=None, seed=session_seed)
    stopped_by = "max_steps"
    before = log.seconds_before
    start = time.perf_counter()
    last_report = last_save = start
    try:
        for snap in run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False, render=False),
                        max_steps=max(0, args.max_steps - agent.step_count), seed=session_seed):
            now = time.perf_counter()
            if snap.finished is not None:
                returns.append(snap.finished.episode_return)
                log.episode(agent.step_count, snap.finished.episode_return, before + now - start)
                best = _best_mean(returns, best)
                _report_episode(agent, returns, before + now - start)
                if len(returns) == PONG_WINDOW and _mean(returns) >= args.pong_target:
                    stopped_by = "target"
                    break
            if now - last_report > 60 * args.report_minutes:
                log.write(now - start, agent.step_count)
                last_report = now
            if now - last_save > 60 * args.save_minutes:
                save_agent(run_file, agent, env_id=args.pong_env, include_replay=True)
                save_agent(final_file, agent, env_id=args.pong_env, policy_only=True)
                log.saved(agent.step_count, before + now - start)
                log.write(now - start, agent.step_count)
                last_save = time.perf_counter()
            if args.max_minutes and before + now - start > 60 * args.max_minutes:
                stopped_by = "max_minutes"
                break
    except KeyboardInterrupt:
        stopped_by = "interrupted"  # still report what the run reached: a long run is worth its partial figures
    seconds = time.perf_counter() - start
    save_agent(final_file, agent, env_id=args.pong_env, policy_only=True)
    if stopped_by == "target":
        log.data["finished"] = True  # a rerun must not resume an older save and overwrite the agent that made it
    else:  # keep what a later resume needs
        save_agent(run_file, agent, env_id=args.pong_env, include_replay=True)
        log.saved(agent.step_count, before + seconds)
    log.write(seconds, agent.step_count)
    env.close()
    return PongResult(agent.config.network, stopped_by == "target", stopped_by, agent.step_count,
                      agent.step_count * FRAME_SKIP, (before + seconds) / 60, len(log.returns()),
                      _mean(returns) if returns else None, best, len(log.data["sessions"]))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{os.cpu_count()} cores of {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"{os.cpu_count()} cores of {platform.processor() or 'a CPU'}"


def _mean(values: deque[float]) -> float:
    return sum(values) / len(values)


def _best_mean(returns: deque[float], best: float | None) -> float | None:
    """Best full-window mean so far (None until 10 episodes have finished)."""
    if len(returns) < PONG_WINDOW:
        return best
    return _mean(returns) if best is None else max(best, _mean(returns))


def _report_episode(agent: Agent, returns: deque[float], seconds: float) -> None:
    minutes = seconds / 60
    print(f"  episode {len(agent.episodes)}: return {returns[-1]:+.0f}, mean of last {len(returns)} "
          f"{_mean(returns):+.1f}, step {agent.step_count:,}, {minutes:.1f} min, epsilon {agent.epsilon:.3f}",
          file=sys.stderr, flush=True)


def print_pong(result: dict) -> None:
    best = result["best_mean_return"]
    last = result["last_mean_return"]
    print_table(("network", "reached", "stopped by", "agent steps", "frames", "minutes", "episodes",
                 f"last mean-{PONG_WINDOW}", f"best mean-{PONG_WINDOW}"),
                [(result["network"], "yes" if result["reached"] else "no", result["stopped_by"],
                  f"{result['steps']:,}", f"{result['frames']:,}", f"{result['minutes']:.1f}", str(result["episodes"]),
                  "n/a" if last is None else f"{last:+.1f}", "n/a" if best is None else f"{best:+.1f}")])


# ------------------------------------------------------------------------------------------------ output


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for index, row in enumerate([header, *rows]):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


if __name__ == "__main__":
    sys.exit(main())
