"""Atari through ale-py: DQN preprocessing, the full-colour picture, and the learning-only signals."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents.envs import atari
from agents.envs.atari import LearningSignal, ale_env_ids, check_ale_id, make_atari_env
from agents.errors import UnknownEnvError


@pytest.fixture(scope="module")
def pong():
    env = make_atari_env("ALE/Pong-v5", seed=0)
    yield env
    env.close()


def test_pong_observation_is_a_stack_of_four_84px_grey_frames(pong):
    assert pong.observation_space.shape == (4, 84, 84) and pong.observation_space.dtype == np.uint8
    obs, info = pong.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert all(np.array_equal(obs[0], frame) for frame in obs[1:])  # padded with the reset frame
    assert info["lives"] == 0
    next_obs, *_ = pong.step(0)
    np.testing.assert_array_equal(next_obs[:3], obs[1:])
    assert pong.observation_space.contains(next_obs)


def test_pong_renders_the_full_colour_frame(pong):
    pong.reset(seed=0)
    frame = pong.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 2  # colour, not the grey observation


def test_action_names_come_from_the_game(pong):
    assert pong.unwrapped.get_action_meanings() == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    assert pong.action_space.n == 6


def test_pong_point_keeps_the_real_reward_and_signs_it_for_learning(pong):
    pong.reset(seed=0)
    for _ in range(400):
        _, reward, terminated, truncated, info = pong.step(0)
        assert info["learning_reward"] == float(np.sign(reward))
        assert info["learning_terminated"] is False  # Pong has no lives
        if reward:
            break
    assert reward == -1.0 and not terminated and not truncated


def test_sticky_actions_and_no_op_starts_are_seeded():
    def trajectory() -> np.ndarray:
        env = make_atari_env("ALE/Pong-v5", render_mode=None, seed=7)
        obs, _ = env.reset(seed=7)
        frames = [obs[-1]]
        for t in range(30):
            frames.append(env.step(t % 6)[0][-1])
        env.close()
        return np.stack(frames)

    np.testing.assert_array_equal(trajectory(), trajectory())


def test_life_loss_ends_the_episode_for_learning_only():
    env = make_atari_env("ALE/Breakout-v5", render_mode=None, seed=0)
    env.reset(seed=0)
    for t in range(300):
        _, _, terminated, _, info = env.step(1 if t % 20 == 0 else 0)  # serve, then let the ball drop
        if info["learning_terminated"]:
            break
    env.close()
    assert info["learning_terminated"] and not terminated
    assert info["lives"] == 4


class FakeAle:
    def __init__(self) -> None:
        self.count = 3

    def lives(self) -> int:
        return self.count


class ScriptedGame(gym.Env):
    """Pays scripted rewards and loses a life when told to: checks the learning signal without an emulator."""

    observation_space = gym.spaces.Box(0, 255, (1,), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, rewards: list[float]) -> None:
        self.ale = FakeAle()
        self.rewards = rewards
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ale.count, self.t = 3, 0
        return np.zeros(1, np.uint8), {}

    def step(self, action):
        reward = self.rewards[self.t]
        self.t += 1
        if action == 1:
            self.ale.count -= 1
        terminated = self.t == len(self.rewards)
        return np.zeros(1, np.uint8), reward, terminated, False, {}


def test_learning_reward_is_the_clipped_sign_and_the_real_reward_is_kept():
    env = LearningSignal(ScriptedGame([7.0, -25.0, 0.0, 0.5]))
    env.reset()
    seen = [env.step(0) for _ in range(4)]
    assert [s[1] for s in seen] == [7.0, -25.0, 0.0, 0.5]
    assert [s[4]["learning_reward"] for s in seen] == [1.0, -1.0, 0.0, 1.0]
    assert [s[4]["learning_terminated"] for s in seen] == [False, False, False, True]
    assert [s[2] for s in seen] == [False, False, False, True]


def test_learning_terminated_on_each_lost_life_and_reset_restores_the_count():
    env = LearningSignal(ScriptedGame([0.0] * 5))
    env.reset()
    flags = [env.step(a)[4]["learning_terminated"] for a in (0, 1, 0, 1, 0)]
    assert flags == [False, True, False, True, True]  # the last is the real end
    env.reset()
    assert env.step(0)[4]["learning_terminated"] is False


def test_every_v5_game_is_listed():
    ids = ale_env_ids()
    assert len(ids) > 50 and ids == sorted(ids)
    assert {"ALE/Pong-v5", "ALE/Breakout-v5", "ALE/SpaceInvaders-v5", "ALE/MontezumaRevenge-v5"} <= set(ids)
    assert all(i.startswith("ALE/") and i.endswith("-v5") for i in ids)


def test_unknown_game_is_rejected_before_anything_is_built(monkeypatch):
    def no_make(*args, **kwargs):
        raise AssertionError("gym.make must not be reached")

    monkeypatch.setattr(atari.gym, "make", no_make)
    expected = r"^unknown environment 'ALE/Pongg-v5'; did you mean ALE/Pong-v5\?$"
    with pytest.raises(UnknownEnvError, match=expected):
        make_atari_env("ALE/Pongg-v5")
    with pytest.raises(UnknownEnvError, match="did you mean ALE/Pong-v5"):
        check_ale_id("ALE/pong-v5")
    with pytest.raises(UnknownEnvError, match=r"^unknown environment 'ALE/Pong-v4'"):
        check_ale_id("ALE/Pong-v4")
    check_ale_id("ALE/Pong-v5")


def test_games_whose_first_action_is_not_noop_still_build():
    env = make_atari_env("ALE/VideoCheckers-v5", render_mode=None, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84)
    env.close()
