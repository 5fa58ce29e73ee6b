"""Window memory benchmark: train in the real window (offscreen) for an hour, sampling resident memory.

Opens MainWindow on an Atari game (default Breakout, the window's own settings: a 100k-transition replay)
at Turbo speed and, every --interval seconds, records the resident set size (VmRSS) of the window's process
and of its training child, with the agent's step count. Once the replay is full (100k steps) memory should
stay flat: a leak shows as growth after that point. Results are printed as they come and rewritten to
--json after every sample, so a cut run keeps what it measured.

    python benchmarks/window_memory.py --minutes 60 --json /tmp/window_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def resident_mib(pid: int | None) -> float | None:
    """VmRSS of a process in MiB (Linux), None if it is gone."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="ALE/Breakout-v5")
    parser.add_argument("--net", default=None, help="network (default: the window's)")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="agent config overrides (e.g. buffer_size=30000 to fill the replay sooner)")
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from agents.factory import AgentSpec
    from app.training_loop import Speed
    from app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    failures: list[str] = []
    QMessageBox.warning = staticmethod(lambda parent, title, text, *a, **k: failures.append(f"{title}: {text}"))
    window = MainWindow(args.env, agent=AgentSpec("dqn", args.net), agent_overrides={"dqn": tuple(args.overrides)})
    window.resize(1400, 900)
    window.show()
    window.set_speed(Speed.TURBO)
    samples: list[dict] = []
    started = time.perf_counter()

    def sample() -> None:
        steps = window.worker.trained_steps()
        row = {"minute": round((time.perf_counter() - started) / 60, 2), "steps": steps,
               "window_mib": resident_mib(os.getpid()), "child_mib": resident_mib(getattr(window.worker, "pid", None))}
        samples.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"env": args.env, "net": args.net, "overrides": args.overrides,
                                                   "samples": samples, "failures": failures}, indent=1) + "\n")
        if time.perf_counter() - started >= args.minutes * 60:
            loop.quit()

    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(int(args.interval * 1000))
    timer.timeout.connect(sample)
    timer.start()
    QTimer.singleShot(5000, sample)
    loop.exec()
    timer.stop()
    window.shutdown()
    window.close()
    del app
    print(f"failures: {failures}" if failures else "no failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
