"""File > Watch a Training Run, in the real window: a headless `train` writes its save, the window plays its latest
weights read-only and takes each new save, waits for a file that is not there yet, says in the status bar (not a
dialog) when a save cannot be opened, and stops following when the person trains here or opens another agent."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from agents.runner import Mode
from app.cli import main
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 - dialogs: autouse

ENV = "gridworld/open-room"
SMALL_TRAIN = [item for value in ("learning_starts=30", "buffer_size=300", "batch_size=8", "hidden_dim=16")
               for item in ("--set", value)]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr("app.run_watcher.POLL_MS", 50)


def train(save: Path, steps: int) -> None:
    """What a person runs in a terminal beside the window: a headless run that (re)writes `save`."""
    start = ["--resume", str(save)] if save.exists() else ["--env", ENV, "--net", "mlp", "--seed", "0", *SMALL_TRAIN]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", *start, "--steps", str(steps), "--save", str(save), "--quiet"]) == 0


def watching(window, steps: int) -> bool:
    session = window.session
    return session is not None and session.watched and session.step_count == steps


def test_the_window_plays_the_runs_latest_save_read_only_and_takes_the_next(qtbot, tmp_path, dialogs):  # noqa: F811
    save = tmp_path / "run.dqn"
    train(save, 200)
    before = save.read_bytes()
    window = open_window(qtbot)
    window.run_watcher.start(str(save))
    qtbot.waitUntil(lambda: watching(window, 200), timeout=WAIT_MS)
    assert window.mode is Mode.PLAY and window.session.save_path is None
    assert "(watching, read-only)" in window.windowTitle()
    assert "Watching run.dqn: step 200" in window.statusBar().currentMessage()

    first_curve = len(window.session.curves.episode_returns)
    train(save, 400)  # the run goes on and saves again
    qtbot.waitUntil(lambda: watching(window, 400), timeout=WAIT_MS)
    assert len(window.session.curves.episode_returns) > first_curve  # the run's curves, grown
    assert window.worker.unsaved_steps() == 0  # nothing to ask about: the window trained nothing
    assert save.read_bytes() != before and not dialogs.warnings
    window.close()


def test_a_run_that_has_not_saved_yet_is_waited_for(qtbot, tmp_path):
    save = tmp_path / "later.dqn"
    window = open_window(qtbot)
    window.run_watcher.start(str(save))
    assert window.statusBar().currentMessage().startswith("Waiting for later.dqn")
    train(save, 200)
    qtbot.waitUntil(lambda: watching(window, 200), timeout=WAIT_MS)
    window.close()


def test_a_damaged_save_is_a_status_line_and_the_next_good_one_is_taken(qtbot, tmp_path, dialogs):  # noqa: F811
    save = tmp_path / "run.dqn"
    train(save, 200)
    window = open_window(qtbot)
    window.run_watcher.start(str(save))
    qtbot.waitUntil(lambda: watching(window, 200), timeout=WAIT_MS)
    good = save.read_bytes()
    save.write_bytes(good[: len(good) // 2])
    qtbot.waitUntil(lambda: "Cannot open run.dqn yet" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    assert not dialogs.warnings and watching(window, 200)  # the last good save goes on playing
    save.unlink()
    train(save, 300)
    qtbot.waitUntil(lambda: watching(window, 300), timeout=WAIT_MS)
    window.close()


def test_training_here_stops_the_watch_and_the_runs_file_is_never_written(qtbot, tmp_path):
    save = tmp_path / "run.dqn"
    train(save, 200)
    window = open_window(qtbot)
    window.run_watcher.start(str(save))
    qtbot.waitUntil(lambda: watching(window, 200), timeout=WAIT_MS)
    stamp = save.stat().st_mtime_ns
    window.set_mode(Mode.TRAIN)
    assert not window.run_watcher.watching
    assert window.statusBar().currentMessage().startswith("Stopped watching run.dqn (training here")
    assert "watching" not in window.windowTitle()
    qtbot.waitUntil(lambda: window.worker.unsaved_steps() > 0, timeout=WAIT_MS)
    window.file_actions.ask_at_close = False
    window.close()
    assert save.stat().st_mtime_ns == stamp


def test_opening_another_agent_stops_the_watch(qtbot, tmp_path):
    save, other = tmp_path / "run.dqn", tmp_path / "other.dqn"
    train(save, 200)
    train(other, 150)
    window = open_window(qtbot)
    window.run_watcher.start(str(save))
    qtbot.waitUntil(lambda: watching(window, 200), timeout=WAIT_MS)
    window.file_actions.load(str(other))
    qtbot.waitUntil(lambda: window.session.opened_from == str(other), timeout=WAIT_MS)
    assert not window.run_watcher.watching and not window.session.watched
    train(save, 400)
    qtbot.wait(300)  # several polls: the old run's new save is not taken
    assert window.session.opened_from == str(other)
    window.close()


def test_watch_and_load_together_is_one_line(capsys, tmp_path):
    assert main(["gui", "--watch", str(tmp_path / "a.dqn"), "--load", str(tmp_path / "b.dqn")]) == 1
    assert "--watch and --load" in capsys.readouterr().err
