"""An Atari game's own settings (mode, difficulty, sticky actions, action set): parsed, checked against ALE,
played by the real emulator, stored in saves, and given on the command line."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest

from agents.checkpoint import load_agent, save_agent
from agents.envs.atari import game_choices, resolve_game_options
from agents.envs.game_options import GameOptions, parse_game_options
from agents.envs.registry import describe_env, make_env
from agents.errors import CheckpointError, ConfigError
from agents.factory import AgentSpec, create_agent
from app.cli import main
from tests.test_checkpoint import edit_meta

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BREAKOUT = "ALE/Breakout-v5"
# No learning: these runs check where the settings go, not what the agent learns.
SMALL_ATARI = ["--net", "cnn", "--quiet", "--seed", "0", "--set", "learning_starts=100000", "--set",
               "buffer_size=1000"]


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def saved_meta(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("meta.json"))


# ------------------------------------------------------------------------------------------------ parsing


def test_parse_reads_every_key_and_later_values_win():
    options = parse_game_options(["mode=2,difficulty=1", "sticky=0.5, actions=full", "sticky=0"])
    assert options == GameOptions(mode=2, difficulty=1, sticky=0.0, full_action_space=True)


def test_parse_takes_ale_keyword_names_and_default():
    options = parse_game_options(["repeat_action_probability=0.1,full_action_space=true"],
                                 GameOptions(mode=4, difficulty=1))
    assert options == GameOptions(mode=4, difficulty=1, sticky=0.1, full_action_space=True)
    assert parse_game_options(["mode=default,difficulty=DEFAULT,actions=minimal"], options) == \
        GameOptions(sticky=0.1)


@pytest.mark.parametrize(("text", "fragment"), [
    ("mdoe=2", "unknown game option 'mdoe'"),
    ("mode", "KEY=VALUE"),
    ("mode=two", "mode=two is not a whole number"),
    ("difficulty=1.5", "difficulty=1.5 is not a whole number"),
    ("mode=-1", "0 to 255"),
    ("sticky=1.5", "not a probability"),
    ("sticky=nan", "not a probability"),
    ("sticky=often", "not a number"),
    ("actions=most", "choose minimal or full"),
])
def test_bad_option_texts_are_one_line_errors(text, fragment):
    with pytest.raises(ConfigError) as error:
        parse_game_options([text])
    assert "\n" not in str(error.value) and fragment in str(error.value), str(error.value)


def test_summary_is_the_status_bar_line():
    assert GameOptions(2, 1, 0.25, True).summary() == "mode 2 · difficulty 1 · sticky 0.25 · full actions"
    assert GameOptions(sticky=0.0).summary() == "default mode · default difficulty · sticky 0 · minimal actions"
    assert parse_game_options([GameOptions(2, None, 0.1, True).to_text()]) == GameOptions(2, None, 0.1, True)


# ------------------------------------------------------------------------------------------ checked by ALE


def test_two_games_list_their_own_modes_and_difficulties():
    pong, breakout = game_choices("ALE/Pong-v5"), game_choices(BREAKOUT)
    assert pong.modes == (0, 1) and pong.difficulties == (0, 1, 2, 3)
    assert breakout.modes == tuple(range(0, 45, 4)) and breakout.difficulties == (0, 1)
    assert game_choices("PongNoFrameskip-v4") == pong  # the same ROM


@pytest.mark.parametrize(("env_id", "options", "fragment"), [
    ("ALE/Pong-v5", GameOptions(mode=4), "Pong has no mode 4 (valid modes: 0, 1)"),
    ("ALE/Pong-v5", GameOptions(difficulty=4), "Pong has no difficulty 4 (valid difficulties: 0, 1, 2, 3)"),
    (BREAKOUT, GameOptions(mode=1),
     "Breakout has no mode 1 (valid modes: 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44)"),
    ("BreakoutNoFrameskip-v4", GameOptions(difficulty=2), "Breakout has no difficulty 2 (valid difficulties: 0, 1)"),
])
def test_an_unavailable_mode_or_difficulty_lists_the_valid_ones(env_id, options, fragment):
    for attempt in (lambda: resolve_game_options(env_id, options), lambda: make_env(env_id, game=options)):
        with pytest.raises(ConfigError) as error:
            attempt()
        assert str(error.value) == fragment


def _ram_after_reset(env_id: str, options: GameOptions) -> np.ndarray:
    env = make_env(env_id, render_mode=None, seed=0, game=options)
    env.reset(seed=0)
    ram = env.unwrapped.ale.getRAM().copy()
    env.close()
    return ram


@pytest.mark.parametrize(("env_id", "first", "second"), [
    ("ALE/Pong-v5", GameOptions(mode=0), GameOptions(mode=1)),
    ("ALE/Pong-v5", GameOptions(difficulty=0), GameOptions(difficulty=3)),
    (BREAKOUT, GameOptions(mode=0), GameOptions(mode=4)),
    (BREAKOUT, GameOptions(difficulty=0), GameOptions(difficulty=1)),
])
def test_the_emulator_plays_the_mode_and_difficulty_asked(env_id, first, second):
    """ALE has no getter for the mode: the game's own memory after the same seeded reset tells them apart."""
    assert np.array_equal(_ram_after_reset(env_id, first), _ram_after_reset(env_id, first))
    assert not np.array_equal(_ram_after_reset(env_id, first), _ram_after_reset(env_id, second))


def test_the_env_uses_the_sticky_probability_and_action_set_asked():
    options = GameOptions(mode=1, difficulty=2, sticky=0.1, full_action_space=True)
    env = make_env("ALE/Pong-v5", render_mode=None, game=options)
    description = describe_env("ALE/Pong-v5", env, options)
    assert env.action_space.n == 18 and len(description.action_names) == 18
    assert description.action_names[:3] == ("NOOP", "FIRE", "UP")
    assert math.isclose(env.unwrapped.ale.getFloat("repeat_action_probability"), 0.1, rel_tol=1e-6)
    assert description.game_options == options
    env.close()
    default = make_env("ALE/Pong-v5", render_mode=None)
    assert default.action_space.n == 6
    assert math.isclose(default.unwrapped.ale.getFloat("repeat_action_probability"), 0.25)
    assert describe_env("ALE/Pong-v5", default).game_options == GameOptions(sticky=0.25)
    default.close()


def test_noframeskip_ids_default_to_no_sticky_actions_and_take_every_option():
    env = make_env("PongNoFrameskip-v4", render_mode=None)
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    assert describe_env("PongNoFrameskip-v4", env).game_options == GameOptions(sticky=0.0)
    env.close()
    options = GameOptions(mode=1, sticky=0.25, full_action_space=True)
    env = make_env("PongNoFrameskip-v4", render_mode=None, game=options)
    assert env.action_space.n == 18
    assert math.isclose(env.unwrapped.ale.getFloat("repeat_action_probability"), 0.25)
    env.reset(seed=0)  # FIRE after reset still works with the full set (FIRE is action 1 in both)
    env.close()


def test_gridworlds_refuse_game_options_but_take_the_defaults():
    with pytest.raises(ConfigError, match="Atari games only"):
        make_env("gridworld/maze", game=GameOptions(mode=1))
    env = make_env("gridworld/maze", game=GameOptions())
    assert describe_env("gridworld/maze", env, GameOptions()).game_options is None


# -------------------------------------------------------------------------------------------------- saves


def _breakout_agent(options: GameOptions):
    env = make_env(BREAKOUT, render_mode=None, game=options)
    description = describe_env(BREAKOUT, env, options)
    env.close()
    spec = AgentSpec("dqn", "cnn", overrides=("buffer_size=100", "learning_starts=10"))
    return create_agent(description, spec, seed=0), description


def test_game_options_are_stored_in_the_save_and_restored(tmp_path):
    options = GameOptions(mode=4, difficulty=1, sticky=0.0, full_action_space=True)
    agent, description = _breakout_agent(options)
    path = save_agent(tmp_path / "breakout.dqn", agent, env_id=BREAKOUT, game_options=description.game_options)
    assert saved_meta(path)["game_options"] == {"mode": 4, "difficulty": 1, "sticky": 0.0, "full_action_space": True}
    loaded = load_agent(path)
    assert loaded.game_options == options and loaded.info.game_options == options
    assert loaded.agent.n_actions == 18


def test_a_save_without_game_options_loads_with_the_id_defaults(tmp_path):
    agent, description = _breakout_agent(GameOptions())
    path = save_agent(tmp_path / "old.dqn", agent, env_id=BREAKOUT)
    edit_meta(path, lambda meta: meta.pop("game_options"))  # as saved before game options existed
    loaded = load_agent(path)
    assert loaded.game_options is None
    env = make_env(loaded.env_id, render_mode=None, game=loaded.game_options)
    assert describe_env(BREAKOUT, env, loaded.game_options).game_options == GameOptions(sticky=0.25)
    assert env.action_space.n == loaded.agent.n_actions == 4


@pytest.mark.parametrize(("value", "fragment"), [
    ({"mode": "4"}, "game mode"),
    ({"mode": True}, "game mode"),
    ({"difficulty": 10 ** 30}, "game difficulty"),
    ({"sticky": 2.5}, "not a probability"),
    ({"sticky": float("nan")}, "not a probability"),
    ({"full_action_space": "yes"}, "not true or false"),
    ({"mode": 4, "evil": 1}, "unknown game option 'evil'"),
    (["mode", 4], "not an object"),
    ("mode=4\nsecond line", "not an object"),
])
def test_hostile_game_options_in_a_save_are_one_line_errors(tmp_path, value, fragment):
    agent, _ = _breakout_agent(GameOptions())
    path = save_agent(tmp_path / "hostile.dqn", agent, env_id=BREAKOUT, game_options=GameOptions(sticky=0.25))

    def plant(meta: dict) -> None:
        meta["game_options"] = value

    edit_meta(path, plant)
    with pytest.raises(CheckpointError) as error:
        load_agent(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: corrupt save (game_options") and fragment in message


# ---------------------------------------------------------------------------------------------- the CLI


def test_train_and_eval_with_game_settings(tmp_path, capsys):
    save = tmp_path / "breakout.dqn"
    code, _, err = cli(capsys, "train", "--env", BREAKOUT, *SMALL_ATARI, "--steps", "40", "--num-envs", "2",
                       "--save", str(save), "--game", "mode=4,difficulty=1", "--game", "actions=full,sticky=0")
    assert code == 0, err
    assert saved_meta(save)["game_options"] == {"mode": 4, "difficulty": 1, "sticky": 0.0, "full_action_space": True}
    assert len(saved_meta(save)["action_names"]) == 18
    code, out, err = cli(capsys, "eval", str(save), "--episodes", "1", "--epsilon", "1", "--seed", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["game_options"] == {"mode": 4, "difficulty": 1, "sticky": 0.0, "full_action_space": True}
    # Another difficulty and sticky actions: how well the agent generalises (Machado et al. 2018).
    code, out, err = cli(capsys, "eval", str(save), "--episodes", "1", "--epsilon", "1", "--seed", "0",
                         "--game", "difficulty=0,sticky=0.25")
    assert code == 0, err
    assert "game: mode 4 · difficulty 0 · sticky 0.25 · full actions" in out
    code, _, err = cli(capsys, "eval", str(save), "--game", "actions=minimal")
    assert code == 2 and err.count("\n") == 1 and "has 18 actions" in err and "minimal action set has 4" in err, err


def test_resume_keeps_the_saved_settings_and_refuses_conflicting_ones(tmp_path, capsys):
    save = tmp_path / "breakout.dqn"
    train = ["train", "--env", BREAKOUT, *SMALL_ATARI, "--save", str(save)]
    assert cli(capsys, *train, "--steps", "30", "--game", "mode=8,actions=full")[0] == 0
    stored = saved_meta(save)["game_options"]
    assert stored == {"mode": 8, "difficulty": None, "sticky": 0.25, "full_action_space": True}
    code, _, err = cli(capsys, *train, "--steps", "60", "--resume", str(save), "--game", "mode=8,sticky=0.25")
    assert code == 0, err
    code, _, err = cli(capsys, "train", "--quiet", "--steps", "90", "--resume", str(save), "--save", str(save))
    assert code == 0, err
    assert saved_meta(save)["game_options"] == stored and saved_meta(save)["step_count"] == 90
    code, _, err = cli(capsys, *train, "--steps", "120", "--resume", str(save), "--game", "mode=12")
    assert code == 2 and err.count("\n") == 1, err
    assert "--game mode=12 conflicts with the save's mode 8" in err
    code, _, err = cli(capsys, *train, "--steps", "120", "--resume", str(save), "--game", "actions=minimal")
    assert code == 2 and "--game actions=minimal conflicts with the save's actions full" in err, err
    assert saved_meta(save)["step_count"] == 90  # nothing was trained or overwritten


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--env", "ALE/Pong-v5", "--game", "mode=7"], "Pong has no mode 7 (valid modes: 0, 1)"),
    (["--env", "ALE/Pong-v5", "--game", "difficulty=9"], "valid difficulties: 0, 1, 2, 3"),
    (["--env", "ALE/Pong-v5", "--game", "sticky=2"], "not a probability"),
    (["--env", "ALE/Pong-v5", "--game", "speed=2"], "unknown game option 'speed'"),
    (["--env", "gridworld/maze", "--game", "mode=1"], "Atari games only"),
])
def test_bad_game_flags_are_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    code, _, err = cli(capsys, "train", *argv, "--steps", "10", "--quiet", "--save", str(tmp_path / "x.dqn"))
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "x.dqn").exists()


def test_a_gridworld_resume_refuses_game_options(tmp_path, capsys):
    save = tmp_path / "cliff.dqn"
    assert cli(capsys, "train", "--env", "gridworld/cliff", "--agent", "qlearning", "--steps", "50", "--quiet",
               "--save", str(save))[0] == 0
    assert saved_meta(save)["game_options"] is None
    code, _, err = cli(capsys, "train", "--resume", str(save), "--steps", "80", "--quiet", "--game", "mode=1")
    assert code == 2 and err.count("\n") == 1 and "Atari games only" in err, err


# ------------------------------------------------------------------------------------------- the window's loop


def test_the_window_loop_plays_saves_and_reopens_the_game_settings(tmp_path):
    from app.training_loop import Speed
    from tests.test_training_loop import Driver

    options = GameOptions(mode=4, difficulty=1, sticky=0.0, full_action_space=True)
    drive = Driver()
    drive.send("speed", Speed.FAST)
    drive.send("new_session", BREAKOUT, AgentSpec("dqn", "cnn"), options)
    drive.frames(1)
    started = [args[0] for name, args in drive.events if name == "session_started"]
    assert started[-1].description.game_options == options and len(started[-1].description.action_names) == 18
    drive.send("restart")  # the new episode's environment is built with the same settings
    actions = [frame.snapshot.action for frame in drive.frames(40)]
    assert max(actions) >= 4 and "failed" not in drive.names()  # Breakout's minimal set has 4
    path = tmp_path / "breakout.dqn"
    drive.send("save", str(path), None)
    drive.loop.tick()
    assert ("saved", (str(path),)) in drive.events
    assert load_agent(path).game_options == options
    drive.send("new_session", BREAKOUT, AgentSpec("dqn", "cnn"))
    drive.send("load", str(path))
    drive.frames(1)
    started = [args[0] for name, args in drive.events if name == "session_started"]
    assert started[-1].description.game_options == options and started[-1].save_path == str(path)
    edit_meta(path, lambda meta: meta["game_options"].update(full_action_space=False))  # 18 actions, 4 in the game
    drive.send("load", str(path))
    drive.loop.tick()
    failure = [args for name, args in drive.events if name == "failed"][-1]
    assert failure[0] == "load" and "has 18 actions" in failure[1] and "minimal action set has 4" in failure[1]
    drive.loop.close()
