"""Stepping back and "what if": the environment is put back exactly, branches leave no trace, and the replay never
joins the two sides of a step taken from an earlier moment."""

from __future__ import annotations

import numpy as np
import pytest

from agents.envs.gridworld import GOAL_REWARD, STEP_COST, GridWorldEnv, parse_map
from agents.envs.registry import describe_env, make_env
from agents.factory import AgentSpec, create_agent
from agents.rewind import EpisodeHistory, RewindError, capture, restore, taken_path, try_action
from agents.runner import Mode, RunSettings, run
from app.rewind_feed import RewindFeed
from app.training_loop import Speed
from tests.test_replay_integrity import assert_only_real_transitions, real  # noqa: F401 - the fixture
from tests.test_training_loop import Driver, driver, start  # noqa: F401 - the fixture

CORRIDOR = "#######\n#S...G#\n#######\n"
RIGHT, LEFT = 1, 3


class Scripted:
    """A controller with a fixed plan and a hand-written Q-table: Q(s, a) = a for every state."""

    action_names = ("UP", "RIGHT", "DOWN", "LEFT")

    def __init__(self, actions=(), gamma: float = 0.5) -> None:
        self.plan = list(actions)
        self.step_count = 0
        self.episodes = []
        self.epsilon = 0.0
        self.config = type("Config", (), {"gamma": gamma})()

    def act(self, obs, *, explore=True, epsilon=None) -> int:
        return self.plan.pop(0) if self.plan else RIGHT

    def evaluate(self, obs):
        from agents.types import Evaluation
        return Evaluation(np.arange(4, dtype=np.float32), 3.0)

    def observe(self, transition):
        return None


def corridor() -> GridWorldEnv:
    return GridWorldEnv(parse_map(CORRIDOR), render_mode="rgb_array")


def recorded(env, agent, steps: int, history: EpisodeHistory):
    runner = run(env, agent, RunSettings(mode=Mode.PLAY), history=history)
    return [next(runner) for _ in range(steps)], runner


def test_a_gridworld_goes_back_to_its_cell_and_step_count():
    env, history = corridor(), EpisodeHistory(keep_frames=False)
    recorded(env, Scripted([RIGHT, RIGHT, LEFT]), 3, history)
    assert len(history) == 4  # the reset and three steps
    assert [m.episode_step for m in history] == [0, 1, 2, 3]
    assert [m.action for m in history] == [None, RIGHT, RIGHT, LEFT]
    restore(env, history[2].state)
    assert env.position == (1, 3) and env._steps == 2
    np.testing.assert_array_equal(env.observation_at(env.position), history[2].observation)


def test_an_atari_game_replays_the_same_frames_after_a_restore():
    """Sticky actions included: the emulator's random stream is part of the state."""
    env = make_env("ALE/Breakout-v5", render_mode="rgb_array", seed=3)
    env.reset(seed=3)
    actions = [1, 2, 3, 2, 2, 3, 0, 1] * 3
    state = capture(env)
    first = [np.array(env.step(a)[0]) for a in actions]
    screen = env.render().copy()
    restore(env, state)
    again = [np.array(env.step(a)[0]) for a in actions]
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(env.render(), screen)
    env.close()


def test_an_environment_without_a_known_state_says_so_in_one_line():
    import gymnasium as gym
    with pytest.raises(RewindError, match="cannot step back"):
        capture(gym.make("CartPole-v1"))
    history = EpisodeHistory()
    history.begin(gym.make("CartPole-v1"), np.zeros(4))
    assert len(history) == 0 and "CartPole" in history.broken


def test_the_history_keeps_the_last_moments_and_a_new_episode_clears_it():
    env, history = corridor(), EpisodeHistory(capacity=3, keep_frames=False)
    recorded(env, Scripted([LEFT] * 6), 6, history)
    assert len(history) == 3 and [m.episode_step for m in history] == [4, 5, 6]
    env2, history2 = corridor(), EpisodeHistory(keep_frames=False)
    snaps, runner = recorded(env2, Scripted([RIGHT] * 4), 4, history2)  # S . . . G: the 4th step ends it
    assert snaps[-1].terminated and history2.latest.ended and len(history2) == 5
    next(runner)  # the next episode begins: only its own moments
    assert [m.episode_step for m in history2] == [0, 1]


def test_the_path_taken_returns_what_the_recorded_rewards_add_up_to():
    """Three steps right then the goal, gamma 0.5: from the reset, -c - c/2 - c/4 + (1 - c)/8, terminal."""
    env, history = corridor(), EpisodeHistory(keep_frames=False)
    agent = Scripted([RIGHT] * 4, gamma=0.5)
    recorded(env, agent, 4, history)
    c = STEP_COST
    steps, total, ended = history.path_return(0, 10, 0.5)
    assert (steps, ended) == (4, "terminal")
    assert total == pytest.approx(-c - c / 2 - c / 4 + (GOAL_REWARD - c) / 8)
    taken = taken_path(history, agent, 0, 2)  # cut after 2 steps: bootstrapped with gamma^2 max Q = 0.25 * 3
    assert taken.taken and taken.action == RIGHT and taken.predicted == 1.0
    assert (taken.steps, taken.ended) == (2, None)
    assert taken.bootstrapped == pytest.approx(-c - c / 2 + 0.25 * 3)
    assert taken_path(history, agent, len(history) - 1) is None


def test_a_branch_reports_its_return_and_leaves_the_environment_as_it_was():
    env, history = corridor(), EpisodeHistory(keep_frames=False)
    agent = Scripted([RIGHT], gamma=0.5)
    recorded(env, agent, 1, history)  # at (1, 2)
    moment = history.latest
    branch = try_action(env, agent, moment, LEFT, horizon=3)  # LEFT, then the agent's RIGHT, RIGHT
    c = STEP_COST
    assert (branch.action_name, branch.taken, branch.steps, branch.ended) == ("LEFT", False, 3, None)
    assert branch.discounted_return == pytest.approx(-c - c / 2 - c / 4)
    assert branch.bootstrapped == pytest.approx(-c - c / 2 - c / 4 + 0.125 * 3)
    assert branch.predicted == 3.0 and branch.error == pytest.approx(branch.bootstrapped - 3.0)
    assert env.position == (1, 2) and env._steps == 1
    to_goal = try_action(env, agent, moment, RIGHT, horizon=10)
    assert (to_goal.steps, to_goal.ended) == (3, "terminal")
    assert to_goal.bootstrapped == to_goal.discounted_return == pytest.approx(-c - c / 2 + (GOAL_REWARD - c) / 4)


def test_an_atari_branch_ends_at_a_lost_life_and_is_undone():
    env = make_env("ALE/Breakout-v5", render_mode="rgb_array", seed=1)
    agent = create_agent(describe_env("ALE/Breakout-v5", env), AgentSpec("dqn", "cnn"), device="cpu", seed=0,
                         extra_overrides=("buffer_size=1000", "learning_starts=100000"))
    history = EpisodeHistory()
    runner = run(env, agent, RunSettings(mode=Mode.PLAY), history=history)
    for _ in range(3):
        next(runner)
    moment = history.latest
    stored = len(agent.replay)
    branch = try_action(env, agent, moment, 0, horizon=400)  # NOOP, then a fresh network's greedy play
    assert branch.ended in ("life lost", "terminal", None) and 1 <= branch.steps <= 400
    assert len(agent.replay) == stored and agent.step_count == 0
    after_branch = [np.array(env.step(a)[0]) for a in (2, 3, 0, 1, 2)]  # the game goes on from the moment
    restore(env, moment.state)
    from_moment = [np.array(env.step(a)[0]) for a in (2, 3, 0, 1, 2)]
    for x, y in zip(after_branch, from_moment, strict=True):
        np.testing.assert_array_equal(x, y)
    env.close()


def test_going_on_from_an_earlier_moment_continues_the_episode_with_a_seam_in_the_replay(real):  # noqa: F811
    """Train on a gridworld, step back 5 moments, go on from there: every stored transition really happened."""
    from agents.envs.registry import make_env as make

    env = make("gridworld/open-room", render_mode="rgb_array", seed=0)
    from tests.test_replay_integrity import StepRecorder
    env = StepRecorder(env, real)
    agent = create_agent(describe_env("gridworld/open-room", env), AgentSpec("dqn", "mlp"), device="cpu", seed=0,
                         extra_overrides=("learning_starts=100000", "buffer_size=500", "hidden_dim=8"))
    feed = RewindFeed(keep_frames=False)
    settings = RunSettings(mode=Mode.TRAIN)
    runner = run(env, agent, settings, history=feed.history)
    for _ in range(12):
        last = next(runner)
    assert not last.finished
    moment = feed.move_by(-5)
    restore(env, moment.state)
    start_at = feed.branch_point()
    assert start_at is moment and len(feed.history) == moment.episode_step - feed.history[0].episode_step + 1
    runner.close()
    branch = run(env, agent, settings, history=feed.history, start=start_at)
    after = next(branch)
    assert after.episode_step == moment.episode_step + 1
    for _ in range(20):
        next(branch)
    assert assert_only_real_transitions(agent.replay, real) > 20


def test_the_loop_steps_back_shows_the_moment_and_goes_on_from_it(driver):  # noqa: F811
    start(driver, "gridworld/open-room", speed=Speed.NORMAL)
    driver.send("speed", Speed.FAST)
    frames = driver.frames(15)
    settle(driver)
    present = driver.loop._session.rewind.history.latest
    driver.send("rewind_by", -3)
    shown = driver.frames(1)[0]
    assert shown.rewind.steps_back == 3 and not shown.rewind.at_present
    assert shown.snapshot.episode_step == present.episode_step - 3
    assert shown.rewind.taken is not None and shown.rewind.taken.steps >= 1
    np.testing.assert_array_equal(shown.snapshot.observation,
                                  driver.loop._session.rewind.history[shown.rewind.position].observation)
    driver.send("what_if", None, 5)
    tried = driver.frames(1)[0]
    assert len(tried.rewind.tries) == 4 and {t.action_name for t in tried.rewind.tries} == {
        "UP", "RIGHT", "DOWN", "LEFT"}
    driver.send("step")  # stepped back, "." moves forward through what happened
    forward = driver.frames(1)[0]
    assert forward.rewind.steps_back == 2 and forward.rewind.tries == ()
    assert driver.loop.speed is Speed.PAUSED
    driver.send("rewind_by", -1)
    back = driver.frames(1)[0]
    branch_step = back.snapshot.episode_step
    driver.send("speed", Speed.NORMAL)  # play on from there
    on = driver.frames(1)[0]
    history = driver.loop._session.rewind.history
    assert on.rewind.at_present and branch_step < on.snapshot.episode_step <= branch_step + 2
    assert [m.episode_step for m in history] == list(range(history[0].episode_step, on.snapshot.episode_step + 1))
    np.testing.assert_array_equal(history[back.rewind.position].observation, back.snapshot.observation)
    assert frames  # the run before it was shown


def settle(drive: Driver) -> None:
    """Pause and take whatever the loop still shows of the steps before."""
    drive.send("speed", Speed.PAUSED)
    for _ in range(5):
        drive.loop.tick()
        drive.loop.collect_frame()


def test_a_restart_forgets_the_history(driver):  # noqa: F811
    start(driver, "gridworld/open-room", speed=Speed.FAST)
    driver.frames(5)
    settle(driver)
    assert len(driver.loop._session.rewind.history) > 1
    driver.send("restart")
    preview = driver.frames(1)[0]
    assert len(driver.loop._session.rewind.history) == 0 and preview.rewind.length == 0
    driver.send("rewind_by", -2)  # nothing to go back to: nothing happens
    driver.loop.tick()
    assert driver.loop.collect_frame() is None


def test_the_view_says_when_the_step_shown_ended_the_episode():
    env, feed = corridor(), RewindFeed(keep_frames=False)
    recorded(env, Scripted([RIGHT] * 4), 4, feed.history)  # the 4th step reaches G
    view = feed.view()
    assert view.ended and view.at_present and view.step == 4 and view.length == 5
    feed.move_by(-1)
    assert not feed.view().ended and feed.view().steps_back == 1 and feed.view().step == 3
    assert feed.move_by(0) is None  # already shown: nothing to do
