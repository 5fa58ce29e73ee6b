"""Short real runs through the command line: train, save, eval, and every kind of bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main

SMALL_DQN = ["--set", "learning_starts=50", "--set", "buffer_size=500", "--set", "batch_size=8"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse exits for bad arguments
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_envs_lists_gridworlds_then_every_ale_game(capsys):
    code, out, _ = run_cli(capsys, "envs")
    ids = out.split()
    assert code == 0
    assert ids[0].startswith("gridworld/")
    assert {"gridworld/four-rooms", "gridworld/maze", "ALE/Pong-v5", "ALE/Breakout-v5"} <= set(ids)


def test_train_then_eval_json_on_a_gridworld(tmp_path, capsys):
    save = tmp_path / "room.dqn"
    code, out, _ = run_cli(capsys, "train", "--env", "gridworld/open-room", "--net", "mlp", "--steps", "300",
                           "--seed", "1", "--save", str(save), "--quiet", *SMALL_DQN)
    assert code == 0, out
    assert save.is_file()
    code, out, _ = run_cli(capsys, "eval", str(save), "--episodes", "3", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["env"] == "gridworld/open-room"
    assert report["episodes"] == 3
    assert report["trained_steps"] == 300
    for key in ("mean_return", "std_return", "mean_length", "success_rate"):
        assert isinstance(report[key], float)


def test_tabular_agent_trains_and_resumes_to_the_total(tmp_path, capsys):
    save = tmp_path / "cliff.dqn"
    assert run_cli(capsys, "train", "--env", "gridworld/cliff", "--agent", "qlearning", "--steps", "200",
                   "--save", str(save), "--quiet")[0] == 0
    code, out, _ = run_cli(capsys, "train", "--resume", str(save), "--steps", "500", "--save", str(save), "--quiet")
    assert code == 0
    code, out, _ = run_cli(capsys, "eval", str(save), "--episodes", "1", "--json")
    assert json.loads(out)["trained_steps"] == 500


def test_vectorised_training_counts_every_environment(tmp_path, capsys):
    save = tmp_path / "vec.dqn"
    code, _, _ = run_cli(capsys, "train", "--env", "gridworld/open-room", "--net", "mlp", "--num-envs", "4",
                         "--steps", "400", "--save", str(save), "--quiet", *SMALL_DQN)
    assert code == 0
    _, out, _ = run_cli(capsys, "eval", str(save), "--episodes", "1", "--json")
    assert json.loads(out)["trained_steps"] == 400


def test_train_on_a_custom_map_file_and_eval_after_the_file_is_gone(tmp_path, capsys):
    level = tmp_path / "corridor.txt"
    level.write_text("#######\n#S...G#\n#######\n")
    save = tmp_path / "corridor.dqn"
    assert run_cli(capsys, "train", "--env", str(level), "--agent", "qlearning", "--steps", "300",
                   "--save", str(save), "--quiet")[0] == 0
    level.unlink()
    code, out, err = run_cli(capsys, "eval", str(save), "--episodes", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["success_rate"] is not None


def test_short_atari_run_end_to_end(tmp_path, capsys):
    save = tmp_path / "pong.dqn"
    code, _, err = run_cli(capsys, "train", "--env", "ALE/Pong-v5", "--net", "cnn", "--steps", "200",
                           "--save", str(save), "--quiet", "--set", "learning_starts=100",
                           "--set", "buffer_size=1000", "--set", "batch_size=4")
    assert code == 0, err
    code, out, _ = run_cli(capsys, "eval", str(save), "--episodes", "1", "--json", "--epsilon", "1.0")
    report = json.loads(out)
    assert report["success_rate"] is None
    assert report["trained_steps"] == 200


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--env", "ALE/Pongg-v5"], "ALE/Pong-v5"),
        (["train", "--env", "gridworld/four-room"], "gridworld/four-rooms"),
        (["train", "--set", "learning_rat=1"], "learning_rate"),
        (["train", "--set", "gamma=abc"], "gamma"),
        (["train", "--steps", "-5"], "--steps"),
        (["train", "--net", "resnet"], "--net"),
        (["train", "--env", "ALE/Pong-v5", "--agent", "qlearning"], "gridworld"),
        (["train", "--env", "gridworld/maze", "--preset", "fast"], "for atari games"),
        (["train", "--preset", "turbo"], "--preset"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1, err
    assert fragment in err


@pytest.mark.parametrize("content", [b"", b"not a save at all", b"PK\x03\x04broken zip"])
def test_eval_of_a_bad_file_is_one_line_and_exit_1(tmp_path, capsys, content):
    bad = tmp_path / "bad.dqn"
    bad.write_bytes(content)
    code, out, err = run_cli(capsys, "eval", str(bad))
    assert code == 1
    assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    save = tmp_path / "interrupted.dqn"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "train", "--env", "gridworld/open-room", "--net", "mlp",
         "--steps", "10000000", "--save", str(save), *SMALL_DQN],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=Path(__file__).parents[1],
        # A test run started in the background (`cmd &` in a script) ignores SIGINT, and children inherit that:
        # give the child the default disposition, so Python installs its Ctrl-C handler as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_progress_bar(process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert save.is_file()
    assert b"Traceback" not in err
    assert b"saved" in err


def _wait_for_progress_bar(process: subprocess.Popen) -> None:
    """tqdm draws its first line once the loop has started; only then is Ctrl-C inside training."""
    deadline = time.monotonic() + 120
    seen = b""
    while b"step" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read1(256)
    assert b"step" in seen, seen
    time.sleep(1.0)
