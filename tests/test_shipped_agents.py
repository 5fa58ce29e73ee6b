"""The trained agents in assets/agents/: each loads and wins a greedy episode, and the window offers them."""

from __future__ import annotations

import json

import pytest

from agents.checkpoint import load_agent, save_agent
from agents.envs.registry import make_env
from agents.factory import AgentSpec, create_agent
from agents.runner import Mode, RunSettings, evaluation_epsilon, run
from agents.shipped import CATALOG_NAME, agents_dir, shipped_agents

SHIPPED = shipped_agents()


def test_a_pong_agent_ships_with_the_app() -> None:
    assert agents_dir() is not None
    assert any(agent.env_id == "ALE/Pong-v5" for agent in SHIPPED)
    for agent in SHIPPED:
        assert agent.details, f"{agent.path.name} has no training record in {CATALOG_NAME}"
        assert agent.path.stat().st_size < 20_000_000, "a shipped agent is a policy-only save of a few MB"


@pytest.mark.parametrize("shipped", SHIPPED, ids=[agent.path.name for agent in SHIPPED])
def test_each_shipped_agent_wins_a_greedy_episode(shipped, one_torch_thread) -> None:
    """Epsilon 0.05, the evaluation protocol for Atari, on the CPU: a Pong win is a return above 0."""
    agent = load_agent(shipped.path, device="cpu").agent
    env = make_env(shipped.env_id, render_mode=None, seed=1)
    settings = RunSettings(mode=Mode.PLAY, play_epsilon=evaluation_epsilon("atari"), evaluate=False, render=False)
    finished = next(snap.finished for snap in run(env, agent, settings, seed=1) if snap.finished is not None)
    env.close()
    assert finished.episode_return > 0, f"{shipped.path.name} lost its episode {finished.episode_return:+.0f}"


def test_the_catalog_offers_catalogued_saves_first_and_skips_unreadable_files(tmp_path) -> None:
    probe = make_env("gridworld/open-room", render_mode=None)
    from agents.envs.registry import describe_env

    agent = create_agent(describe_env("gridworld/open-room", probe), AgentSpec("dqn", "mlp"), seed=0)
    probe.close()
    save_agent(tmp_path / "zeta.dqn", agent, env_id="gridworld/open-room", policy_only=True)
    save_agent(tmp_path / "alpha.dqn", agent, env_id="gridworld/open-room", policy_only=True)
    (tmp_path / "broken.dqn").write_bytes(b"not a zip")
    (tmp_path / CATALOG_NAME).write_text(json.dumps({"agents": [
        {"file": "zeta.dqn", "title": "Zeta room", "details": "trained for the test"},
        {"file": "missing.dqn", "title": "gone"}]}))
    found = shipped_agents(tmp_path)
    assert [a.path.name for a in found] == ["zeta.dqn", "alpha.dqn"]
    assert found[0].title == "Zeta room" and found[0].details == "trained for the test"
    assert "gridworld/open-room" in found[1].title
    (tmp_path / CATALOG_NAME).write_text("{not json")
    assert [a.path.name for a in shipped_agents(tmp_path)] == ["alpha.dqn", "zeta.dqn"]
