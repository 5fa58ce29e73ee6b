"""Agent > Compare with a save in the real window: the panel shows both agents on the state on screen, its
timeline grows, the compared save can act, and a file that cannot be compared is one warning."""

from __future__ import annotations

from agents.runner import Mode
from app.training_loop import Speed
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 - dialogs: autouse


def test_comparing_with_a_save_fills_the_panel_and_lets_it_act(qtbot, dialogs, tmp_path) -> None:  # noqa: F811
    win = open_window(qtbot)
    dock, panel = win.docks["Comparison"], win.comparison_panel
    assert not dock.isVisible()
    win.set_speed(Speed.FAST)
    qtbot.waitUntil(lambda: win.worker.trained_steps() > 100, timeout=WAIT_MS)
    dialogs.save_path = str(tmp_path / "earlier.dqn")
    win.file_actions.save_as()
    qtbot.waitUntil(lambda: (tmp_path / "earlier.dqn").is_file(), timeout=WAIT_MS)
    dialogs.open_path = str(tmp_path / "earlier.dqn")
    win.comparison.compare_action.trigger()
    qtbot.waitUntil(lambda: panel.comparing, timeout=WAIT_MS)
    assert dock.isVisible() and "earlier.dqn" in panel.title.text()
    assert win.comparison.stop_action.isEnabled()
    qtbot.waitUntil(lambda: panel.timeline.marks.size >= 5, timeout=WAIT_MS)
    assert len(panel.bars.labels()) == 4 and "Greedy:" in panel.verdict.text()
    assert "agree on" in panel.timeline_caption.text()

    win.set_mode(Mode.PLAY)
    panel.actor.setCurrentIndex(1)  # the compared save acts
    win.set_speed(Speed.PAUSED)
    qtbot.waitUntil(lambda: win.worker.speed is Speed.PAUSED, timeout=WAIT_MS)
    win.worker.single_step()  # a step taken after the commands: the frame on screen is the loop's state now
    qtbot.waitUntil(lambda: win.game_view.frame.comparison.actor == "rival"
                    and win.game_view.frame.snapshot.mode is Mode.PLAY, timeout=WAIT_MS)
    qtbot.wait(300)
    for _ in range(3):
        shown = win.game_view.frame
        win.worker.single_step()
        before = (shown.snapshot.episode, shown.snapshot.episode_step)
        qtbot.waitUntil(lambda before=before: (win.game_view.frame.snapshot.episode,
                                               win.game_view.frame.snapshot.episode_step) != before, timeout=WAIT_MS)
        frame = win.game_view.frame
        assert frame.snapshot.action == shown.comparison.rival_action

    win.comparison.stop_action.trigger()
    qtbot.waitUntil(lambda: not panel.comparing, timeout=WAIT_MS)
    assert not win.comparison.stop_action.isEnabled() and panel.actor.currentIndex() == 0
    win.close()


def test_a_file_that_cannot_be_compared_is_one_warning(qtbot, dialogs, tmp_path) -> None:  # noqa: F811
    win = open_window(qtbot)
    bad = tmp_path / "broken.dqn"
    bad.write_bytes(b"\x00" * 100)
    win.comparison.compare(str(bad))
    qtbot.waitUntil(lambda: len(dialogs.warnings) == 1, timeout=WAIT_MS)
    title, text = dialogs.warnings[0]
    assert title == "Cannot compare" and "\n" not in text.split("\n\n")[0]
    assert not win.comparison_panel.comparing
    win.close()
