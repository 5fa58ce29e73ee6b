"""First-minute benchmark: what a person sees in the first minute of a first launch, measured in the real window.

Launches `MainWindow()` exactly as `dqn-arcade` does on a first launch (a new, empty settings folder; nothing
chosen: the launch defaults of app/launch_choices.py), on Qt's offscreen platform, and watches what the window
is given to draw:

- arrows: the first second at which the greedy arrows drawn on the map lead from the start to a goal on a
  shortest path (followed cell by cell through the arrows the game view shows), and whether they still do
  at the end;
- values: the spread of the V(s) heat map at that moment (max - min over free cells), so "the map has
  colours" is a number too;
- agent play: at --play-at seconds (default: as soon as the arrows first converged) the window switches to
  Agent play (Ctrl+P), and the length of the first episode that begins after the loop confirms the switch is
  compared with the shortest path.

    python benchmarks/first_minute.py                 # four-rooms, the first-launch defaults, 60 s
    python benchmarks/first_minute.py --rounds 3 --json first-minute.json

Target (the window issue): V(s) and the greedy arrows converge on four rooms within 60 s on these two cores,
and Agent play then reaches the goal on a shortest path. Run it with nothing else heavy on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from agents.envs.gridworld import MOVES, GridMap, shortest_path_length  # noqa: E402

SETTINGS_DIR_VARIABLE = "DQN_ARCADE_SETTINGS_DIR"
POLL_S = 0.25


def greedy_path_length(grid: GridMap, actions: np.ndarray) -> int | None:
    """Steps from the start to a goal following `actions` (greedy action per cell), or None when the arrows
    walk into a wall, lava, off the map or round in a loop."""
    position, seen = grid.start, set()
    while not grid.goals[position]:
        if position in seen or grid.lava[position]:
            return None
        seen.add(position)
        action = int(actions[position])
        if action < 0:
            return None
        r, c = position[0] + MOVES[action][0], position[1] + MOVES[action][1]
        if not (0 <= r < grid.height and 0 <= c < grid.width) or grid.walls[r, c]:
            return None
        position = (r, c)
    return len(seen)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each first launch is watched")
    parser.add_argument("--play-at", type=float, default=None,
                        help="switch to Agent play at this second (default: as soon as the arrows converged)")
    parser.add_argument("--rounds", type=int, default=1, help="first launches, each with a new settings folder")
    parser.add_argument("--json", default=None, help="also write the results here")
    return parser.parse_args(argv)


def one_launch(args: argparse.Namespace) -> dict:
    from PySide6.QtWidgets import QApplication

    from agents.envs.registry import make_env
    from agents.runner import Mode
    from app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as settings_dir:
        os.environ[SETTINGS_DIR_VARIABLE] = settings_dir
        began = time.perf_counter()
        window = MainWindow()
        window.resize(1600, 1000)
        window.show()
        result = {"env": None, "network": None, "speed": window.speed.value, "first_picture_s": None,
                  "arrows_shortest_s": None, "value_spread_then": None, "arrows_shortest_at_end": False,
                  "steps_when_converged": None, "play_switch_s": None, "play_episode_length": None,
                  "shortest_path": None}
        grid, shortest = None, None
        episodes_at_switch = None
        while time.perf_counter() - began < args.seconds:
            app.processEvents()
            time.sleep(0.005)
            frame = window.game_view.frame
            if frame is None or window.session is None:
                continue
            now = time.perf_counter() - began
            if grid is None:
                result["env"], result["network"] = window.session.env_id, window.session.network
                result["first_picture_s"] = round(now, 1)
                env = make_env(window.session.env_id, render_mode=None)
                grid, shortest = env.unwrapped.grid, shortest_path_length(env.unwrapped.grid)
                env.close()
                result["shortest_path"] = shortest
            converged = frame.grid_actions is not None and greedy_path_length(grid, frame.grid_actions) == shortest
            if converged and result["arrows_shortest_s"] is None:
                values = frame.grid_values[np.isfinite(frame.grid_values)]
                result["arrows_shortest_s"] = round(now, 1)
                result["value_spread_then"] = round(float(values.max() - values.min()), 3)
                result["steps_when_converged"] = frame.snapshot.total_steps
            result["arrows_shortest_at_end"] = converged
            play_now = (args.play_at is not None and now >= args.play_at) or (
                args.play_at is None and result["arrows_shortest_s"] is not None)
            if play_now and result["play_switch_s"] is None:
                window.set_mode(Mode.PLAY)
                result["play_switch_s"] = round(now, 1)
            if result["play_switch_s"] is not None and episodes_at_switch is None and frame.snapshot.mode is Mode.PLAY:
                # The loop gets the switch a moment after the click and the view lags it: the first frame that
                # says Agent play dates the switch, and the episode after the one it shows is all Agent play.
                episodes_at_switch = frame.snapshot.episode + 1
            if episodes_at_switch is not None and result["play_episode_length"] is None:
                ended = [e for e in frame.new_episodes if e.index >= episodes_at_switch]
                if ended:  # the first episode that began under Agent play
                    result["play_episode_length"] = int(ended[0].length)
        window.file_actions.ask_at_close = False
        window.close()
        window.shutdown()
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = [one_launch(args) for _ in range(args.rounds)]
    for number, result in enumerate(rounds, 1):
        print(f"round {number}: " + ", ".join(f"{k}={v}" for k, v in result.items()))
    converged = [r["arrows_shortest_s"] for r in rounds if r["arrows_shortest_s"] is not None]
    summary = {"rounds": len(rounds), "converged_rounds": len(converged),
               "median_arrows_shortest_s": statistics.median(converged) if converged else None,
               "played_shortest": sum(r["play_episode_length"] == r["shortest_path"] for r in rounds),
               "cpus": os.cpu_count(), "python": platform.python_version(),
               "load_average_1min": round(os.getloadavg()[0], 2)}
    print("summary: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rounds": rounds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
