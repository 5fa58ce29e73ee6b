"""Which Q-network a fresh agent gets when nobody names one (no training: agents are only built)."""

from __future__ import annotations

import pytest

from agents.envs.registry import describe_env, make_env
from agents.factory import AgentSpec, create_agent
from app.cli import build_parser
from app.headless import _agent_to_train


def headless_network(*argv: str) -> str:
    args = build_parser().parse_args(["train", *argv])
    agent, _, _ = _agent_to_train(args, "cpu")
    return agent.config.network


def test_headless_train_defaults_to_the_mlp_on_gridworlds() -> None:
    # The network benchmarks/learning.py --seeds 10 shows solving every built-in map (README, Learning).
    assert headless_network("--env", "gridworld/maze") == "mlp"
    assert headless_network() == "mlp"  # the default environment is a gridworld too


@pytest.mark.parametrize(("argv", "network"), [
    (("--net", "attention"), "attention"),
    (("--net", "cnn"), "cnn"),
    (("--set", "network=attention"), "attention"),
])
def test_a_named_network_still_wins(argv: tuple[str, ...], network: str) -> None:
    assert headless_network("--env", "gridworld/four-rooms", *argv) == network


def test_the_window_default_stays_attention() -> None:
    """The window builds agents through the factory with network None: its attention panel needs attention."""
    env = make_env("gridworld/four-rooms", render_mode=None)
    agent = create_agent(describe_env("gridworld/four-rooms", env), AgentSpec("dqn"))
    env.close()
    assert agent.config.network == "attention"
