"""Comparing two agents on the same states: hand-built agents for the marks, the real loop for what frames carry
and who acts, and the real window's panel."""

from __future__ import annotations

import numpy as np
import pytest

from agents.checkpoint import save_agent
from agents.envs.registry import describe_env, make_env
from agents.errors import ConfigError
from agents.factory import AgentSpec
from agents.runner import Mode
from agents.types import Evaluation
from app.comparison_feed import ComparisonFeed
from app.training_loop import Speed
from tests.test_training_loop import Driver, start


class FixedAgent:
    """Greedy by a rule of the observation; `act` would draw random numbers, which the comparison must not."""

    def __init__(self, rule, names=("UP", "RIGHT", "DOWN", "LEFT"), obs_shape=(1,)) -> None:
        self.rule, self.action_names, self.obs_shape = rule, tuple(names), obs_shape

    def evaluate(self, obs: np.ndarray) -> Evaluation:
        q = np.zeros(len(self.action_names), np.float32)
        q[self.rule(obs)] = 1.0
        return Evaluation(q, 1.0)

    def act(self, obs, *, explore=True, epsilon=None) -> int:
        raise AssertionError("the comparison chose an action through act()")


def description_for(names=("UP", "RIGHT", "DOWN", "LEFT"), shape=(1,)):
    env = make_env("gridworld/open-room", render_mode=None)
    base = describe_env("gridworld/open-room", env)
    env.close()
    from dataclasses import replace

    return replace(base, action_names=tuple(names), obs_shape=tuple(shape))


def test_marks_say_on_which_steps_the_greedy_actions_agreed():
    feed = ComparisonFeed()
    main = FixedAgent(lambda obs: int(obs[0]) % 4)
    rival = FixedAgent(lambda obs: 1)
    feed.start(rival, "/tmp/other.dqn", "gridworld/open-room", description_for())
    for value in (1, 2, 5, 3):  # greedy 1, 2, 1, 3 against 1, 1, 1, 1
        feed.observe(main, np.array([value]), episode=7)
    view = feed.view(main, np.array([2]), None, episode=7)
    assert view.marks.tolist() == [True, False, True, False]
    assert view.agreement == 0.5
    assert (view.main_action, view.rival_action, view.agree) == (2, 1, False)
    assert view.name == "other.dqn" and view.trained_on == "gridworld/open-room"
    feed.observe(main, np.array([1]), episode=8)  # a new episode starts a new timeline
    assert feed.view(main, np.array([1]), None, episode=8).marks.tolist() == [True]


def test_an_agent_for_other_actions_or_observations_is_refused():
    feed = ComparisonFeed()
    with pytest.raises(ConfigError, match="has 2 actions"):
        feed.start(FixedAgent(lambda obs: 0, names=("NOOP", "FIRE")), "pong.dqn", "ALE/Pong-v5", description_for())
    with pytest.raises(ConfigError, match=r"shape \(2,\)"):
        feed.start(FixedAgent(lambda obs: 0, obs_shape=(2,)), "big.dqn", "gridworld/maze", description_for())
    assert not feed.active and feed.view(None, np.zeros(1), None, 0) is None


def test_the_compared_agent_acts_only_when_chosen():
    feed = ComparisonFeed()
    rival = FixedAgent(lambda obs: 1)
    feed.start(rival, "x.dqn", "gridworld/open-room", description_for())
    assert feed.play_agent() is None
    feed.set_actor("rival")
    assert feed.play_agent() is rival
    feed.stop()
    assert feed.play_agent() is None and feed.actor == "main"
    with pytest.raises(ValueError):
        feed.set_actor("nobody")


@pytest.fixture
def driver(one_torch_thread):
    return Driver()


def test_frames_carry_the_saved_agents_view_of_the_same_state(driver, tmp_path):
    start(driver, "gridworld/open-room")
    driver.frames(30)
    agent = driver.loop._session.agent
    save = tmp_path / "then.dqn"
    save_agent(save, agent, env_id="gridworld/open-room")
    driver.send("compare", str(save))
    frames = driver.frames(20)
    assert ("comparison_changed", ("then.dqn", "gridworld/open-room")) in driver.events
    late = [frame for frame in frames if frame.comparison is not None]
    assert late, "no frame carried the comparison"
    from agents.checkpoint import load_agent

    saved = load_agent(save).agent
    for frame in late[-3:]:
        expected = saved.evaluate(frame.snapshot.observation).q_values
        np.testing.assert_allclose(frame.comparison.evaluation.q_values, expected, rtol=1e-5, atol=1e-6)
        assert frame.comparison.marks.size >= 1
    driver.send("compare", None)
    driver.frames(3)
    assert driver.events[-1] == ("comparison_changed", ("", "")) or ("comparison_changed", ("", "")) in driver.events
    assert driver.frames(2)[-1].comparison is None


def test_a_file_that_cannot_be_compared_is_a_message_and_the_run_goes_on(driver, tmp_path):
    start(driver, "gridworld/open-room")
    bad = tmp_path / "bad.dqn"
    bad.write_bytes(b"not a save")
    driver.send("compare", str(bad))
    frames = driver.frames(5)
    failures = [args for name, args in driver.events if name == "failed"]
    assert failures and failures[0][0] == "compare" and "\n" not in failures[0][1]
    assert frames[-1].comparison is None and driver.loop.speed is Speed.FAST


def test_in_agent_play_the_compared_save_chooses_the_actions(driver, tmp_path):
    start(driver, "gridworld/open-room", speed=Speed.PAUSED, mode=Mode.PLAY)
    other = tmp_path / "other.dqn"
    from agents.factory import create_agent

    description = driver.loop._session.description
    save_agent(other, create_agent(description, AgentSpec("dqn", "mlp"), seed=123,
                                   extra_overrides=("hidden_dim=16",)), env_id="gridworld/open-room")
    driver.send("compare", str(other))
    driver.send("actor", "rival")
    driver.send("step")
    shown = driver.frames(1)[0]
    disagreed = False
    for _ in range(8):
        driver.send("step")
        frame = driver.frames(1)[0]
        assert frame.snapshot.action == shown.comparison.rival_action  # greedy (epsilon 0 on gridworlds)
        disagreed |= not shown.comparison.agree
        shown = frame
    assert disagreed, "the two agents agreed throughout: the test would not tell who acted"
