"""Resuming as users do it: any --num-envs, the same command with --resume added, learning that waits for data,
and evaluation that follows the published protocol."""

from __future__ import annotations

import json
import time
from collections import deque

import pytest

from agents.checkpoint import load_agent
from agents.envs.registry import make_env
from agents.runner import Mode, RunSettings, run
from app.cli import main
from app.training_loop import Speed, TrainingLoop

GRID = ["--env", "gridworld/open-room", "--net", "mlp", "--quiet", "--seed", "2"]
SMALL = ["--set", "learning_starts=100", "--set", "buffer_size=1000", "--set", "batch_size=8",
         "--set", "hidden_dim=16", "--set", "train_frequency=2"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


# -------------------------------------------------------------------------------- any number of environments


def test_a_two_env_save_resumes_with_one_env_and_keeps_its_replay(tmp_path, capsys):
    save = tmp_path / "two.dqn"
    assert cli(capsys, "train", *GRID, *SMALL, "--num-envs", "2", "--steps", "300", "--save", str(save),
               "--save-replay")[0] == 0
    before = len(load_agent(save, with_replay=True, num_envs=2).agent.replay)
    code, out, err = cli(capsys, "train", *GRID, *SMALL, "--steps", "400", "--resume", str(save), "--save", str(save),
                         "--save-replay")
    assert code == 0, err
    resumed = load_agent(save, with_replay=True).agent
    assert resumed.step_count == 400 and len(resumed.replay) >= before + 100 - 10  # re-laid, then refilled


def test_the_window_trains_a_save_made_with_two_envs(tmp_path, capsys):
    save = tmp_path / "two.dqn"
    assert cli(capsys, "train", *GRID, *SMALL, "--num-envs", "2", "--steps", "200", "--save", str(save))[0] == 0
    commands, events = deque(), []
    loop = TrainingLoop(emit=lambda name, args: events.append((name, args)),
                        receive=lambda timeout: commands.popleft() if commands else None, seed=0)
    try:
        commands.extend([("speed", (Speed.TURBO,)), ("mode", (Mode.TRAIN,)), ("load", (str(save),))])
        deadline = time.perf_counter() + 60
        while loop.status().trained_steps < 300 and time.perf_counter() < deadline:
            loop.tick()
            loop.collect_frame()
        assert not [args for name, args in events if name == "failed"]
        assert loop.status().trained_steps >= 300
    finally:
        loop.close()


# ------------------------------------------------------------------------------------------ warm-up on resume


def first_update_step(save, *, with_replay: bool, steps: int = 200) -> int | None:
    """Index of the first step after loading at which the agent ran an update."""
    agent = load_agent(save, with_replay=with_replay).agent
    env = make_env("gridworld/open-room", render_mode=None, seed=0)
    for index, snap in enumerate(run(env, agent, RunSettings(mode=Mode.TRAIN, evaluate=False), max_steps=steps)):
        if snap.update is not None:
            return index
    return None


def test_a_resume_without_its_replay_refills_learning_starts_before_updating(tmp_path, capsys):
    save = tmp_path / "agent.dqn"
    assert cli(capsys, "train", *GRID, *SMALL, "--steps", "300", "--save", str(save), "--save-replay")[0] == 0
    without = first_update_step(save, with_replay=False)
    assert without is not None and 99 <= without < 99 + 2  # learning_starts=100 new transitions, every 2 steps
    assert first_update_step(save, with_replay=True) < 2  # the replay came back: learning goes on at once


# ----------------------------------------------------------------------------------- the same command, resumed


def test_resume_accepts_the_flags_that_agree_with_the_save(tmp_path, capsys):
    save = tmp_path / "agent.dqn"
    command = ["train", *GRID, *SMALL, "--set", "gamma=0.95", "--double", "--save", str(save)]
    assert cli(capsys, *command, "--steps", "150")[0] == 0
    code, _, err = cli(capsys, *command, "--agent", "dqn", "--steps", "250", "--resume", str(save))
    assert code == 0, err
    assert load_agent(save).agent.step_count == 250


@pytest.mark.parametrize(("flags", "field", "asked", "saved"), [
    (["--set", "gamma=0.9"], "gamma", "0.9", "0.95"),
    (["--net", "cnn"], "network", "cnn", "mlp"),
    (["--no-double"], "double", "--no-double", "true"),
    (["--agent", "qlearning"], "agent", "qlearning", "dqn"),
    (["--env", "gridworld/maze"], "environment", "gridworld/maze", "gridworld/open-room"),
])
def test_resume_names_the_flag_that_conflicts_with_the_save_and_both_values(tmp_path, capsys, flags, field, asked,
                                                                            saved):
    save = tmp_path / "agent.dqn"
    assert cli(capsys, "train", *GRID, *SMALL, "--set", "gamma=0.95", "--steps", "120", "--save", str(save))[0] == 0
    resume = ["train", "--quiet", "--steps", "200", "--resume", str(save), *SMALL]
    code, _, err = cli(capsys, *resume, *flags)
    assert code == 2
    line = err.strip()
    assert "\n" not in line and field in line and asked in line and saved in line, line
    assert load_agent(save).agent.step_count == 120  # nothing was trained or overwritten


# --------------------------------------------------------------------------------------------------- eval


def test_eval_on_atari_defaults_to_the_nature_epsilon_and_says_so(tmp_path, capsys):
    save = tmp_path / "breakout.dqn"
    assert cli(capsys, "train", "--env", "ALE/Breakout-v5", "--net", "cnn", "--steps", "40", "--quiet", "--save",
               str(save), "--set", "learning_starts=100000", "--set", "buffer_size=1000")[0] == 0
    code, out, err = cli(capsys, "eval", str(save), "--episodes", "1", "--json", "--seed", "0")
    assert code == 0, err
    report = json.loads(out)
    assert report["epsilon"] == 0.05 and report["episodes"] == 1
    assert report["mean_length"] < 27_000  # ended by the game, not by ALE's 108,000-frame cut


def test_eval_on_a_gridworld_is_greedy_unless_asked(tmp_path, capsys):
    save = tmp_path / "room.dqn"
    assert cli(capsys, "train", *GRID, *SMALL, "--steps", "120", "--save", str(save))[0] == 0
    assert json.loads(cli(capsys, "eval", str(save), "--episodes", "1", "--json")[1])["epsilon"] == 0.0
    assert json.loads(cli(capsys, "eval", str(save), "--episodes", "1", "--json", "--epsilon", "0.2")[1])[
        "epsilon"] == 0.2
    code, out, _ = cli(capsys, "eval", str(save), "--episodes", "1")
    assert "epsilon 0 (greedy)" in out

