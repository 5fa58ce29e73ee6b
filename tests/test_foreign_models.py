"""Stable-Baselines3 and CleanRL DQN models open as ordinary agents, from their tensors alone, never their code."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from agents.checkpoint import load_agent, read_save_info, save_agent
from agents.envs.atari import FireOnStart, noframeskip_id
from agents.envs.registry import describe_env, make_env
from agents.errors import CheckpointError

PONG = "PongNoFrameskip-v4"


@pytest.fixture(scope="module")
def sb3_model(tmp_path_factory) -> tuple[Path, object]:
    """An SB3 DQN (CnnPolicy) trained for 300 steps on Pong with SB3's own Atari wrappers, saved as SB3 saves."""
    torch.set_num_threads(1)
    pytest.importorskip("stable_baselines3")
    import ale_py
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env(PONG, n_envs=1, seed=0), n_stack=4)
    model = DQN("CnnPolicy", env, buffer_size=500, learning_starts=100, train_freq=4, seed=0, device="cpu")
    model.learn(300)
    path = tmp_path_factory.mktemp("sb3") / "model.zip"
    model.save(path)
    env.close()
    return path, model


def observations(env_id: str = PONG, n: int = 16) -> np.ndarray:
    """Real stacks from DQN Arcade's own NoFrameskip-v4 environment."""
    env = make_env(env_id, render_mode=None, seed=0)
    obs, _ = env.reset(seed=0)
    stacks = []
    for _ in range(n * 5):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        stacks.append(np.array(obs))
    env.close()
    return np.stack(stacks[::5])


def test_an_sb3_model_gives_sb3s_q_values(sb3_model, one_torch_thread) -> None:
    path, model = sb3_model
    loaded = load_agent(path, env_id=PONG)
    assert loaded.env_id == PONG and loaded.imported_from == "sb3"
    assert "fresh optimizer" in loaded.notice
    obs = observations()
    with torch.no_grad():
        theirs = model.q_net(torch.as_tensor(obs)).numpy()
        theirs_target = model.q_net_target(torch.as_tensor(obs)).numpy()
    np.testing.assert_allclose(loaded.agent.forward(obs).q.numpy(), theirs, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        ours_target = loaded.agent.target(torch.as_tensor(obs)).q.numpy()
    np.testing.assert_allclose(ours_target, theirs_target, rtol=1e-5, atol=1e-6)
    assert loaded.agent.action_names[:2] == ("NOOP", "FIRE")
    assert loaded.agent.step_count == 300 and not loaded.agent.optimizer.state
    assert loaded.agent.epsilon == pytest.approx(model.exploration_final_eps)  # trains on where SB3 left off


def test_an_imported_model_saves_as_a_dqn_arcade_save(sb3_model, tmp_path, one_torch_thread) -> None:
    path, _ = sb3_model
    loaded = load_agent(path, env_id=PONG)
    mine = save_agent(tmp_path / "pong.dqn", loaded.agent, env_id=loaded.env_id)
    again = load_agent(mine)
    obs = observations(n=4)
    np.testing.assert_array_equal(again.agent.forward(obs).q.numpy(), loaded.agent.forward(obs).q.numpy())
    assert again.env_id == PONG and again.imported_from is None


def test_the_game_comes_from_the_file_name_or_must_be_given(sb3_model, tmp_path) -> None:
    path, _ = sb3_model
    with pytest.raises(CheckpointError, match=r"--env") as error:
        load_agent(path)
    assert "\n" not in str(error.value)
    named = tmp_path / "dqn-PongNoFrameskip-v4.zip"
    named.write_bytes(path.read_bytes())
    assert load_agent(named).env_id == PONG
    assert load_agent(path, env_hint="PongNoFrameskip-v4").env_id == PONG
    assert read_save_info(named).network == "cnn"


def test_a_model_for_another_game_is_refused(sb3_model) -> None:
    path, _ = sb3_model
    with pytest.raises(CheckpointError, match="6 actions, BreakoutNoFrameskip-v4 has 4"):
        load_agent(path, env_id="BreakoutNoFrameskip-v4")


class CleanRLQNetwork(nn.Module):
    """CleanRL's dqn_atari.py QNetwork, as written there."""

    def __init__(self, n_actions: int) -> None:
        super().__init__()
        self.network = nn.Sequential(
            nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
            nn.Linear(512, n_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x / 255.0)


def test_a_cleanrl_model_gives_cleanrls_q_values(tmp_path, one_torch_thread) -> None:
    torch.manual_seed(0)
    network = CleanRLQNetwork(4)
    run = tmp_path / "runs" / "BreakoutNoFrameskip-v4__dqn_atari__1__1700000000"
    run.mkdir(parents=True)
    torch.save(network.state_dict(), run / "dqn_atari.cleanrl_model")
    loaded = load_agent(run / "dqn_atari.cleanrl_model")
    assert loaded.env_id == "BreakoutNoFrameskip-v4" and loaded.imported_from == "cleanrl"
    obs = observations("BreakoutNoFrameskip-v4", 8)
    with torch.no_grad():
        theirs = network(torch.as_tensor(obs).float()).numpy()
    np.testing.assert_allclose(loaded.agent.forward(obs).q.numpy(), theirs, rtol=1e-5, atol=1e-6)


class Payload:
    """Unpickling this writes a file: proof that code from the model ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def rewrite_zip(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, replace.get(name, old.read(name)))
    return target


def test_a_pickle_in_sb3s_data_is_never_unpickled(sb3_model, tmp_path) -> None:
    path, _ = sb3_model
    marker = tmp_path / "ran.txt"
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("data"))
    import base64
    data["policy_class"][":serialized:"] = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    data["evil"] = {":type:": "x", ":serialized:": base64.b64encode(pickle.dumps(Payload(marker))).decode()}
    hostile = rewrite_zip(path, tmp_path / "hostile-PongNoFrameskip-v4.zip", {"data": json.dumps(data).encode()})
    loaded = load_agent(hostile)
    assert loaded.agent.n_actions == 6
    assert not marker.exists()


@pytest.mark.parametrize("form", ["raw pickle", "torch zip holding code"])
def test_code_in_place_of_the_weights_is_refused_unrun(sb3_model, tmp_path, form) -> None:
    path, _ = sb3_model
    marker = tmp_path / "ran.txt"
    if form == "raw pickle":
        weights = pickle.dumps(Payload(marker))
    else:
        buffer = io.BytesIO()
        torch.save({"q_net.features_extractor.cnn.0.weight": Payload(marker)}, buffer)
        weights = buffer.getvalue()
    hostile = rewrite_zip(path, tmp_path / "hostile-PongNoFrameskip-v4.zip", {"policy.pth": weights})
    with pytest.raises(CheckpointError) as error:
        load_agent(hostile)
    assert "policy.pth" in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def test_eval_plays_an_sb3_model(sb3_model, capsys) -> None:
    from app.cli import main

    path, _ = sb3_model
    assert main(["eval", str(path), "--env", PONG, "--episodes", "1", "--seed", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["episodes"] == 1 and -21 <= report["mean_return"] <= 21


def test_v4_ids_play_without_sticky_actions_and_name_their_v5_twin() -> None:
    env = make_env("BreakoutNoFrameskip-v4", render_mode=None)
    assert env.unwrapped.spec.kwargs["repeat_action_probability"] == 0.0
    assert describe_env("BreakoutNoFrameskip-v4", env).name == "Breakout (NoFrameskip-v4)"
    env.close()
    assert noframeskip_id("ALE/Breakout-v5") == "BreakoutNoFrameskip-v4"
    assert noframeskip_id("gridworld/maze") is None


class FakeLives(gym.Env):
    """Records the actions it is given; loses a life on action 3."""

    observation_space = gym.spaces.Box(0, 255, (2,), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def __init__(self) -> None:
        self.actions: list[int] = []
        self.remaining = 3
        self.ale = self

    def lives(self) -> int:
        return self.remaining

    def reset(self, *, seed=None, options=None):
        self.remaining = 3
        return np.zeros(2, np.uint8), {}

    def step(self, action):
        self.actions.append(int(action))
        if action == 3:
            self.remaining -= 1
        return np.zeros(2, np.uint8), 1.0, self.remaining == 0, False, {}


def test_fire_is_pressed_after_a_reset_and_after_each_lost_life() -> None:
    base = FakeLives()
    env = FireOnStart(base)
    env.reset()
    assert base.actions == [1, 2]
    _, reward, terminated, _, _ = env.step(0)
    assert base.actions == [1, 2, 0] and reward == 1.0
    _, reward, terminated, _, _ = env.step(3)  # a life lost: NOOP, FIRE, then 2, their rewards counted
    assert base.actions == [1, 2, 0, 3, 0, 1, 2] and reward == 4.0 and not terminated
