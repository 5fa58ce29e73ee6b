"""Window benchmark: the same DQN training headless and inside the real window (offscreen), in one run.

The headless side is `dqn-arcade train`'s loop (agents.runner.run with evaluation off, no rendering). The
window side is the real MainWindow with its game view and four panels, on Qt's offscreen platform, training
in its child process (the default; `--front-end thread` measures the in-process thread instead). Both build
the agent from the same resolved hyperparameters (checked field by field) and measure the same stretch of
training: `--steps` environment steps after learning_starts + `--warmup`.

For each window speed the figures are training steps/s (the agent step count the loop publishes, over wall
time) and the view's frames/s: new pictures the game view actually painted (paint events that showed a
picture not painted before), not frames the loop offered or the GUI requested. CPU is per wall second: the
GUI thread, the window's whole process, and the training child.

`--modes human` measures Atari human play instead (no training, no headless side): for `--human-seconds`,
environment steps/s (the game's pace is 15 with frame skip 4) and pictures painted/s (the game's own 60 when
each step's skipped frames are shown).

    python benchmarks/window.py                                    # Breakout, cnn: headless, fast, turbo
    python benchmarks/window.py --env gridworld/four-rooms --net mlp
    python benchmarks/window.py --modes normal,fast,turbo,human --rounds 3 --json window.json

Targets (the speed issue): while training, the view shows >= 30 frames/s (normal and fast speed), and the
window trains at >= 85% of the headless steps/s; turbo gets closer still. Normal speed is paced (Atari 15,
gridworlds 8 steps/s): on Atari it shows every emulator frame (60/s), on gridworlds one picture per step; it
is measured for at most --max-seconds. Human play: >= 55 pictures/s and >= 14 steps/s.
Both sides use the same torch threads (by default the window's own choice, cores - 1).

Qt is imported inside functions only: the training child re-imports this script as its main module (the
"spawn" start method does), and should not load Qt for it.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

# Offscreen unless the caller chose a platform; set before Qt or pygame are imported.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import TYPE_CHECKING  # noqa: E402

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

from agents.config import DQNConfig  # noqa: E402
from agents.dqn import DQNAgent  # noqa: E402
from agents.envs.registry import describe_env, make_env  # noqa: E402
from agents.factory import AgentSpec, create_agent, resolve_device  # noqa: E402
from agents.runner import Mode, RunSettings, run  # noqa: E402
from app.training_loop import WINDOW_ATARI_OVERRIDES, Speed  # noqa: E402 (Qt-free)

if TYPE_CHECKING:
    from app.window import MainWindow

DEFAULT_OVERRIDES = ("learning_starts=1000", "buffer_size=20000")
SETTINGS_DIR_VARIABLE = "DQN_ARCADE_SETTINGS_DIR"
"""app.settings.SETTINGS_DIR_VARIABLE (not imported: app.settings loads Qt)."""
FPS_TARGET = 30.0
RATIO_TARGET = 0.85
HUMAN_FPS_TARGET = 55.0
HUMAN_STEPS_TARGET = 14.0
HUMAN = "human"
POLL_MS = 10
"""How often the GUI thread checks the step count: about one step of error at 100 steps/s."""
SETTLE_S = 0.5
"""After a speed change the worker needs a moment to leave its old pace; these steps are not measured."""


@dataclass(frozen=True)
class BenchSettings:
    env: str
    net: str
    steps: int
    """Environment steps measured, after learning_starts + warmup."""
    warmup: int
    """Training steps after learning_starts that are not measured (first updates, allocator warm-up)."""
    overrides: tuple[str, ...]
    """FIELD=VALUE applied on both sides after the window's own Atari overrides."""
    device: str
    seed: int
    threads: int
    """Torch threads on both sides (the window keeps at most cores - 1, leaving a core to the GUI)."""
    window_size: tuple[int, int]
    max_seconds: float
    """A window measurement also ends after this long (normal speed is paced and would take minutes)."""
    front_end: str = "process"
    """"process" (the window's default: training in a child process) or "thread"."""
    human_seconds: float = 10.0
    """How long human play is measured."""
    saliency: bool = False
    """Measure with the saliency overlay on (the training loop computes maps a few times a second)."""


@dataclass(frozen=True)
class Measurement:
    mode: str
    """"headless" or the window's speed."""
    steps_per_second: float
    view_fps: float | None
    """New pictures painted by the game view per second (None headless)."""
    paints_per_second: float | None
    """All paint events of the game view per second, repeats included."""
    gui_cpu: float | None
    """CPU seconds of the GUI thread per wall second (None headless)."""
    process_cpu: float
    """CPU seconds of the benchmark's (the window's) process per wall second, all its threads."""
    steps: int
    seconds: float
    torch_threads: int
    child_cpu: float | None = None
    """CPU seconds of the training child per wall second (None headless, with the thread front-end, or where
    /proc cannot be read)."""
    steal: float | None = None
    """Share of the machine's CPU time the hypervisor gave to other guests meanwhile (/proc/stat "steal"): on a
    VM a busy second core can lose a fifth of its time this way, which no change to the program recovers."""


def cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs since boot, or None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


# ------------------------------------------------------------------ shared agent settings


def agent_overrides(env_id: str, overrides: tuple[str, ...]) -> tuple[str, ...]:
    """What the window's worker applies (its Atari defaults, then ours), so the headless agent is the same."""
    window_defaults = WINDOW_ATARI_OVERRIDES if env_id.startswith("ALE/") else ()
    return (*window_defaults, *overrides)


def build_headless_agent(settings: BenchSettings) -> tuple[gym.Env, DQNAgent]:
    """The agent the window's worker would build, beside an environment that does not render."""
    env = make_env(settings.env, render_mode=None, seed=settings.seed)
    description = describe_env(settings.env, env)
    agent = create_agent(description, AgentSpec("dqn", settings.net), device=settings.device, seed=settings.seed,
                         extra_overrides=agent_overrides(settings.env, settings.overrides))
    return env, agent


def measured_range(config: DQNConfig, settings: BenchSettings) -> tuple[int, int]:
    """The agent steps both sides measure: after learning has started and warmed up."""
    start = config.learning_starts + settings.warmup
    return start, start + settings.steps


# ------------------------------------------------------------------ headless


def measure_headless(settings: BenchSettings) -> tuple[Measurement, DQNConfig]:
    """`dqn-arcade train`'s loop: no rendering, no evaluation, one environment."""
    env, agent = build_headless_agent(settings)
    start, end = measured_range(agent.config, settings)
    loop = run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False), seed=settings.seed)
    mark: tuple[float, float, int] | None = None
    times = None
    for snapshot in loop:
        if mark is None and snapshot.total_steps >= start:
            mark, times = (time.perf_counter(), time.process_time(), snapshot.total_steps), cpu_times()
        if snapshot.total_steps >= end:
            break
    finished, cpu, steal = time.perf_counter(), time.process_time(), steal_share(times, cpu_times())
    loop.close()
    env.close()
    assert mark is not None
    steps, seconds = agent.step_count - mark[2], finished - mark[0]
    measurement = Measurement("headless", steps / seconds, None, None, None, (cpu - mark[1]) / seconds, steps,
                              seconds, torch.get_num_threads(), steal=steal)
    return measurement, agent.config


# ------------------------------------------------------------------ window


def count_paints(view):
    """An event filter on the game view counting its paint events, and those that put a picture on screen it
    had not shown yet (`.paints`, `.pictures`)."""
    from PySide6.QtCore import QEvent, QObject

    class PaintCounter(QObject):
        def __init__(self) -> None:
            super().__init__(view)
            self.paints = 0
            self.pictures = 0
            self._last_picture = None
            view.installEventFilter(self)

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
            if watched is view and event.type() == QEvent.Type.Paint:
                self.paints += 1
                picture = view.image()
                if picture is not None and picture is not self._last_picture:
                    self.pictures += 1
                    self._last_picture = picture
            return False

    return PaintCounter()


def trained_steps(window: MainWindow) -> int:
    """The agent step count as the training loop publishes it (the window never reads the agent)."""
    return window.worker.trained_steps()


def child_cpu_seconds(window: MainWindow) -> float | None:
    """User + system CPU seconds of the training child so far (Linux /proc), None without one."""
    pid = getattr(window.worker, "pid", None)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition: Callable[[], bool], timeout_s: float) -> float:
    """Run the GUI's event loop until `condition` holds; returns the time it was first seen to hold.

    A timer-driven QEventLoop, not a processEvents spin: the GUI thread sleeps between checks as it would
    in `app.exec()`, so it takes no more CPU from the worker than the real application does.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.perf_counter() + timeout_s
    seen: list[float] = []

    def check() -> None:
        now = time.perf_counter()
        if condition():
            seen.append(now)
            loop.quit()
        elif now > deadline:
            loop.quit()

    timer = QTimer()
    timer.setInterval(POLL_MS)
    timer.timeout.connect(check)
    timer.start()
    check()
    if not seen:
        loop.exec()
    timer.stop()
    if not seen:
        raise TimeoutError(f"the window did not get there within {timeout_s:.0f} s")
    return seen[0]


def open_window(settings: BenchSettings) -> MainWindow:
    from app.window import MainWindow

    window = MainWindow(settings.env, device=settings.device, seed=settings.seed, agent=AgentSpec("dqn", settings.net),
                        agent_overrides={"dqn": settings.overrides}, in_process=settings.front_end == "thread")
    window.resize(*settings.window_size)
    window.show()
    return window


def measure_window(settings: BenchSettings, speed: Speed, expected: DQNConfig, timeout_s: float) -> Measurement:
    """Turbo up to learning_starts + warmup, then `speed`: its steps/s and view frames/s over `steps` steps."""
    window = open_window(settings)
    try:
        window.set_speed(Speed.TURBO)  # the fastest way to the measured stretch
        wait_for(lambda: window.session is not None, timeout_s)
        config = window.session.config
        if config != expected:
            raise RuntimeError(f"the window's agent differs from the headless one: {_differences(config, expected)}")
        start, _ = measured_range(config, settings)
        wait_for(lambda: trained_steps(window) >= start, timeout_s)
        if settings.saliency:
            window.saliency_overlay.action.setChecked(True)
        window.set_speed(speed)
        settle_until = time.perf_counter() + SETTLE_S
        wait_for(lambda: time.perf_counter() >= settle_until, timeout_s)
        return _measure_stretch(window, settings, speed, timeout_s)
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()


def _measure_stretch(window: MainWindow, settings: BenchSettings, speed: Speed, timeout_s: float) -> Measurement:
    counter = count_paints(window.game_view)
    first_steps, paints, pictures = trained_steps(window), counter.paints, counter.pictures
    child, times = child_cpu_seconds(window), cpu_times()
    started, gui_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
    stop_at = started + settings.max_seconds
    finished = wait_for(lambda: trained_steps(window) >= first_steps + settings.steps
                        or time.perf_counter() >= stop_at, timeout_s)
    steps, seconds = trained_steps(window) - first_steps, finished - started
    gui_cpu, cpu = time.thread_time() - gui_cpu, time.process_time() - cpu  # this is the GUI thread
    return Measurement(f"window {speed.value}", steps / seconds, (counter.pictures - pictures) / seconds,
                       (counter.paints - paints) / seconds, gui_cpu / seconds, cpu / seconds, steps, seconds,
                       torch.get_num_threads(), _per_second(child, child_cpu_seconds(window), seconds),
                       steal_share(times, cpu_times()))


def _per_second(before: float | None, after: float | None, seconds: float) -> float | None:
    return None if before is None or after is None else (after - before) / seconds


def measure_human(settings: BenchSettings, timeout_s: float) -> Measurement:
    """Atari human play at the game's pace: environment steps/s and pictures painted/s for `human_seconds`."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    window = open_window(settings)
    try:
        window.set_speed(Speed.NORMAL)
        window.set_mode(Mode.HUMAN)
        wait_for(lambda: window.session is not None and window.worker.mode is Mode.HUMAN, timeout_s)
        QTest.keyClick(window.game_view, Qt.Key.Key_Space)  # FIRE: the game starts moving
        settle_until = time.perf_counter() + 2 * SETTLE_S
        wait_for(lambda: time.perf_counter() >= settle_until, timeout_s)
        counter = count_paints(window.game_view)
        first = window.worker.status().loop_steps
        child = child_cpu_seconds(window)
        started, gui_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
        stop_at = started + settings.human_seconds
        finished = wait_for(lambda: time.perf_counter() >= stop_at, timeout_s)
        seconds, steps = finished - started, window.worker.status().loop_steps - first
        gui_cpu, cpu = time.thread_time() - gui_cpu, time.process_time() - cpu
        return Measurement(f"window {HUMAN}", steps / seconds, counter.pictures / seconds, counter.paints / seconds,
                           gui_cpu / seconds, cpu / seconds, steps, seconds, torch.get_num_threads(),
                           _per_second(child, child_cpu_seconds(window), seconds))
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()


def _differences(config: DQNConfig, expected: DQNConfig) -> str:
    window, headless = asdict(config), asdict(expected)
    return ", ".join(f"{key}: window {window[key]} vs headless {headless[key]}"
                     for key in window if window[key] != headless[key])


def never_block_on_dialogs(failures: list[str]) -> None:
    """A modal box would stall an unattended benchmark: errors are collected and reported instead."""
    from PySide6.QtWidgets import QMessageBox

    def warning(parent, title, text, *args, **kwargs):
        failures.append(f"{title}: {text}")
        return QMessageBox.StandardButton.Ok

    QMessageBox.warning = staticmethod(warning)
    QMessageBox.question = staticmethod(lambda *args, **kwargs: QMessageBox.StandardButton.Discard)


# ------------------------------------------------------------------ one round, the table, the targets


def run_round(settings: BenchSettings, speeds: list[Speed], human: bool, timeout_s: float
              ) -> tuple[list[Measurement], DQNConfig]:
    """Headless, then each window speed, back to back, so their ratios share the machine's state; human play
    last."""
    headless, config = measure_headless(settings)
    results = [headless, *(measure_window(settings, speed, config, timeout_s) for speed in speeds)]
    if human:
        results.append(measure_human(settings, timeout_s))
    return results, config


def ratios(results: list[Measurement]) -> dict[str, float]:
    """Training steps/s relative to headless (human play does not train: not included)."""
    headless = results[0].steps_per_second
    return {m.mode: m.steps_per_second / headless for m in results if m.mode != f"window {HUMAN}"}


def verdicts(results: list[Measurement]) -> dict[str, str]:
    """Which targets each window speed meets; '' where a target does not apply."""
    ratio = ratios(results)
    fast = ratio.get("window fast")
    out: dict[str, str] = {}
    for m in results[1:]:
        speed = m.mode.split()[-1]
        notes = []
        if speed == HUMAN:
            out[m.mode] = (f"fps {'ok' if (m.view_fps or 0) >= HUMAN_FPS_TARGET else 'LOW'}, "
                           f"steps {'ok' if m.steps_per_second >= HUMAN_STEPS_TARGET else 'LOW'}")
            continue
        if speed in ("normal", "fast"):
            notes.append(f"fps {'ok' if (m.view_fps or 0) >= FPS_TARGET else 'LOW'}")
        if speed != "normal":
            notes.append(f"ratio {'ok' if ratio[m.mode] >= RATIO_TARGET else 'LOW'}")
        if speed == "turbo" and fast is not None:
            notes.append(f"vs fast {'ok' if ratio[m.mode] >= fast else 'LOW'}")
        out[m.mode] = ", ".join(notes)
    return out


def print_round(index: int, results: list[Measurement]) -> None:
    ratio, notes = ratios(results), verdicts(results)
    print(f"round {index}")
    print(f"  {'mode':<15} {'steps/s':>8} {'view fps':>9} {'paints/s':>9} {'vs headless':>11} "
          f"{'GUI CPU':>7} {'CPU':>5} {'child CPU':>9} {'threads':>7} {'steal':>5}  targets")
    for m in results:
        fps = "-" if m.view_fps is None else f"{m.view_fps:.1f}"
        paints = "-" if m.paints_per_second is None else f"{m.paints_per_second:.1f}"
        gui = "-" if m.gui_cpu is None else f"{m.gui_cpu:.0%}"
        child = "-" if m.child_cpu is None else f"{m.child_cpu:.0%}"
        versus = f"{ratio[m.mode]:>10.2f}x" if m.mode in ratio else f"{'-':>11}"
        steal = "-" if m.steal is None else f"{m.steal:.0%}"
        print(f"  {m.mode:<15} {m.steps_per_second:>8.1f} {fps:>9} {paints:>9} {versus} "
              f"{gui:>7} {m.process_cpu:>5.0%} {child:>9} {m.torch_threads:>7} {steal:>5}  {notes.get(m.mode, '')}")


def print_header(settings: BenchSettings, config: DQNConfig) -> None:
    from PySide6.QtGui import QGuiApplication

    print(f"front-end {settings.front_end}: training in "
          f"{'a child process' if settings.front_end == 'process' else 'a thread of the window'}")
    print(f"{settings.env}, net {settings.net}, device {settings.device}, Qt platform "
          f"{QGuiApplication.platformName()}, window {settings.window_size[0]}x{settings.window_size[1]}, "
          f"torch {torch.__version__}, {os.cpu_count()} cores, {platform.machine()}")
    print(f"saliency overlay {'on' if settings.saliency else 'off'}; "
          f"measured: {settings.steps} steps after learning_starts {config.learning_starts} + warmup "
          f"{settings.warmup}, seed {settings.seed}")
    print("hyperparameters (both sides): " + " ".join(f"{k}={v}" for k, v in asdict(config).items()))
    print(f"targets: view >= {FPS_TARGET:.0f} fps in normal/fast; window >= {RATIO_TARGET:.0%} of headless"
          f" steps/s; turbo closer than fast; human play >= {HUMAN_FPS_TARGET:.0f} fps and"
          f" >= {HUMAN_STEPS_TARGET:.0f} steps/s")
    print("steps/s: training steps (human play: environment steps); CPU: seconds per wall second of the GUI"
          " thread, the window's process, and the training child")


def report(settings: BenchSettings, config: DQNConfig, rounds: list[list[Measurement]]) -> dict:
    from PySide6.QtGui import QGuiApplication

    medians = {mode: statistics.median(ratios(r)[mode] for r in rounds) for mode in ratios(rounds[0])}
    return {"settings": asdict(settings), "hyperparameters": asdict(config), "machine": platform.platform(),
            "cores": os.cpu_count(), "torch": torch.__version__, "qt_platform": QGuiApplication.platformName(),
            "targets": {"view_fps": FPS_TARGET, "ratio_to_headless": RATIO_TARGET},
            "rounds": [[asdict(m) for m in r] for r in rounds], "median_ratio_to_headless": medians}


# ------------------------------------------------------------------ command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ALE/Breakout-v5", help="e.g. ALE/Breakout-v5 or gridworld/four-rooms")
    parser.add_argument("--net", default="cnn", choices=("mlp", "cnn", "attention"))
    parser.add_argument("--steps", type=int, default=1000, help="steps measured on each side")
    parser.add_argument("--warmup", type=int, default=200, help="training steps after learning_starts not measured")
    parser.add_argument("--set", dest="overrides", nargs="+", metavar="FIELD=VALUE",
                        help=f"hyperparameters for both sides (default: {' '.join(DEFAULT_OVERRIDES)})")
    parser.add_argument("--modes", default="fast,turbo",
                        help="window speeds, comma-separated: normal, fast, turbo; and human (Atari human play)")
    parser.add_argument("--front-end", choices=("process", "thread"), default="process",
                        help="where the window trains: a child process (its default) or a thread")
    parser.add_argument("--human-seconds", type=float, default=10.0, help="how long human play is measured")
    parser.add_argument("--saliency", action="store_true", help="with the saliency overlay on (the issue's target:"
                                                                    " 30 frames/s while training with it)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat headless + window speeds this many times")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, help="torch threads on both sides (default: what the window uses, "
                        "cores - 1; the window never takes more)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window-size", default="1600x1000", help="WIDTHxHEIGHT of the main window")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap on one window measurement")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting for the window after this")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


def window_threads() -> int:
    """The torch threads MainWindow keeps: all cores but one, which it leaves to the GUI thread.

    The headless side gets the same by default, so the ratio is the window's own cost. (Torch's default, one
    thread per core, can be far slower on a machine whose cores are busy with other work.)
    """
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - 1))


def settings_from(args: argparse.Namespace) -> BenchSettings:
    width, height = (int(n) for n in args.window_size.lower().split("x"))
    return BenchSettings(env=args.env, net=args.net, steps=args.steps, warmup=args.warmup,
                         overrides=tuple(args.overrides or DEFAULT_OVERRIDES), device=resolve_device(args.device),
                         seed=args.seed, threads=args.threads or window_threads(), window_size=(width, height),
                         max_seconds=args.max_seconds, front_end=args.front_end, human_seconds=args.human_seconds,
                         saliency=args.saliency)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    from PySide6.QtWidgets import QApplication

    names = [name.strip() for name in args.modes.split(",") if name.strip()]
    human = HUMAN in names
    speeds = [Speed(name) for name in names if name != HUMAN]
    if human and not settings.env.startswith("ALE/"):
        raise SystemExit("human play is measured on Atari (gridworlds step once per key press)")
    torch.set_num_threads(settings.threads)  # before both sides; the window then keeps min(this, cores - 1)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dqn-arcade-bench-") as scratch:
        os.environ[SETTINGS_DIR_VARIABLE] = scratch  # the window's remembered layout and speed stay untouched
        app = QApplication.instance() or QApplication([sys.argv[0]])
        never_block_on_dialogs(failures)
        measured = [run_round(settings, speeds, human, args.timeout) for _ in range(args.rounds)]
        app.processEvents()
    rounds, config = [results for results, _ in measured], measured[0][1]
    print_header(settings, config)
    for index, results in enumerate(rounds, 1):
        print_round(index, results)
    result = report(settings, config, rounds)
    if args.rounds > 1:
        print("median ratio to headless: " + ", ".join(f"{k} {v:.2f}x" for k, v in
                                                       result["median_ratio_to_headless"].items()))
    for failure in failures:
        print(f"window error: {failure}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
