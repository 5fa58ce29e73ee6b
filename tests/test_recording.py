"""`dqn-arcade record`: episodes of a save as a video, decoded back and counted; every bad input a one-line error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from agents.checkpoint import load_agent
from app.cli import main
from app.recording import QStrip, RecordSettings, choose_overlay, record_save
from app.video_file import GIF_MAX_WIDTH, RecordError, VideoFile, even_sized, gif_durations
from tests.test_cli import run_cli

SHIPPED_PONG = Path(__file__).resolve().parents[1] / "assets" / "agents" / "pong-cnn.dqn"
SMALL_DQN = ["--set", "learning_starts=50", "--set", "buffer_size=500", "--set", "batch_size=8"]


def decode(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


@pytest.fixture(scope="module")
def room_save(tmp_path_factory) -> Path:
    save = tmp_path_factory.mktemp("room") / "room.dqn"
    assert main(["train", "--env", "gridworld/open-room", "--net", "mlp", "--steps", "300", "--seed", "1",
                 "--save", str(save), "--quiet", *SMALL_DQN]) == 0
    return save


def test_a_gridworld_episode_is_one_picture_per_step_at_the_windows_pace(room_save, tmp_path, capsys):
    out = tmp_path / "clips" / "room.mp4"  # a missing folder is made, as --save does
    code, printed, _ = run_cli(capsys, "record", str(room_save), "--out", str(out), "--episodes", "2", "--seed", "3")
    assert code == 0, printed
    frames, fps = decode(out)
    report = record_save(load_agent(room_save), tmp_path / "again.mp4", RecordSettings(episodes=2, seed=3))
    assert len(frames) == report.frames == sum(e.length for e in report.episodes)
    assert fps == pytest.approx(8.0)
    assert frames[0].shape[1::-1] == report.size
    assert f"{report.frames:,} frames of {report.size[0]}x{report.size[1]} at 8 frames/s" in printed


def test_recording_does_not_add_to_the_agents_history(room_save, tmp_path):
    loaded = load_agent(room_save)
    before = list(loaded.agent.episodes)
    record_save(loaded, tmp_path / "room.mp4", RecordSettings(episodes=1))
    assert loaded.agent.episodes == before


def test_an_atari_second_is_sixty_emulator_frames_and_the_gif_thirty(tmp_path):
    loaded = load_agent(SHIPPED_PONG)
    mp4 = record_save(loaded, tmp_path / "pong.mp4", RecordSettings(max_seconds=1.0, epsilon=0.05, seed=0))
    frames, fps = decode(tmp_path / "pong.mp4")
    assert len(frames) == mp4.frames == 60 and fps == pytest.approx(60.0)
    assert mp4.stopped_early and "1 s" in mp4.stopped_early
    assert len({frame.tobytes() for frame in frames[:8]}) > 2  # the skipped frames are shown, not one repeated
    gif = record_save(load_agent(SHIPPED_PONG), tmp_path / "pong.gif",
                      RecordSettings(max_seconds=1.0, epsilon=0.05, seed=0, overlay="saliency"))
    with Image.open(tmp_path / "pong.gif") as image:
        assert image.n_frames == gif.frames == 30
        assert image.size == gif.size and image.size[0] <= GIF_MAX_WIDTH
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
    assert sum(durations) == 1000  # 30 pictures play in exactly one second


def test_gif_delays_add_up_to_the_exact_time():
    assert gif_durations(3, 30.0) == [30, 40, 30]
    assert gif_durations(4, 25.0) == [40, 40, 40, 40]
    assert sum(gif_durations(300, 30.0)) == 10_000


def test_odd_sides_get_one_black_row_or_column():
    padded = even_sized(np.full((5, 3, 3), 200, np.uint8))
    assert padded.shape == (6, 4, 3)
    assert (padded[:5, :3] == 200).all() and (padded[5] == 0).all() and (padded[:, 3] == 0).all()


def test_the_strip_marks_the_greedy_action_and_stays_inside():
    from agents.runner import Mode, StepSnapshot
    from agents.types import Evaluation

    snapshot = StepSnapshot(frame=np.zeros((4, 4, 3), np.uint8), observation=np.zeros(1), action=0,
                            evaluation=Evaluation(np.array([-0.5, 2.0, 0.25], np.float32), 2.0),
                            action_name="A", reward=0.0, terminated=False, truncated=False, episode=0,
                            episode_step=1, episode_return=0.0, total_steps=0, epsilon=0.0, mode=Mode.PLAY,
                            update=None, finished=None)
    strip = QStrip(["LEFT", "JUMP", "RIGHT"]).draw(snapshot, 300)
    orange = np.all(strip == (230, 120, 20), axis=2)
    rows = np.nonzero(orange.any(axis=1))[0]
    assert strip.shape == (300, 300, 3)
    assert rows.size and rows.min() >= 36 + 30 and rows.max() < 36 + 60  # the second row: JUMP, Q = 2.0


def test_an_overlay_the_agent_cannot_have_is_refused():
    assert choose_overlay(None, "attention", "dqn") == "attention"
    assert choose_overlay(None, "cnn", "dqn") == "none"
    with pytest.raises(Exception, match="needs the attention network; this agent's is cnn"):
        choose_overlay("attention", "cnn", "dqn")
    with pytest.raises(Exception, match="tabular"):
        choose_overlay("saliency", None, "qlearning")


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--out", "x.avi"], "choose a file ending in .mp4 or .gif"),
    (["--out", "x.mp4", "--epsilon", "2"], "is not a probability"),
    (["--out", "x.mp4", "--seconds", "0"], "must be a positive number"),
    (["--out", "x.mp4", "--overlay", "attention"], "needs the attention network"),
])
def test_bad_record_arguments_are_one_line(room_save, tmp_path, capsys, argv, fragment):
    argv = [tmp_path / a if a.startswith("x.") else a for a in argv]
    code, _, err = run_cli(capsys, "record", str(room_save), *map(str, argv))
    assert code in (1, 2) and fragment in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_corrupt_save_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.dqn"
    bad.write_bytes(b"not a save")
    code, _, err = run_cli(capsys, "record", str(bad), "--out", str(tmp_path / "bad.mp4"))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.mp4").exists()


def test_a_failed_recording_keeps_the_old_video_and_leaves_no_temporary(tmp_path):
    old = tmp_path / "clip.mp4"
    old.write_bytes(b"the old video")
    with pytest.raises(RuntimeError), VideoFile(old, 8.0) as video:
        video.write(np.zeros((10, 10, 3), np.uint8))
        raise RuntimeError("the episode failed")
    assert old.read_bytes() == b"the old video"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(RecordError, match="cannot write in"), VideoFile(blocker / "clip.mp4", 8.0):
        pass
