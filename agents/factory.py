"""Build the agent that fits an environment: the one place that maps env kind to config and observation scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from agents.config import apply_overrides, check_fits_env, dqn_config_for, tabular_config_for
from agents.dqn import DQNAgent
from agents.envs.registry import EnvDescription
from agents.errors import ConfigError
from agents.memory_budget import check_fits_memory
from agents.qlearning import TabularQAgent

AGENT_KINDS = ("dqn", "qlearning")
NETWORKS = ("mlp", "cnn", "attention")


def default_network(env_kind: str) -> str:
    """The network a new DQN agent gets when nobody chose one: on gridworlds the MLP, which
    benchmarks/learning.py --seeds 10 shows solving every built-in map (four-rooms in a median 5,000 steps,
    well within a first minute in the window); on Atari the attention network, whose attention map the
    window draws."""
    return "mlp" if env_kind == "gridworld" else "attention"


@dataclass(frozen=True)
class AgentSpec:
    """What a user picks: the algorithm, the network, the switches, and any `FIELD=VALUE` overrides."""

    kind: str = "dqn"
    network: str | None = None
    """None picks the config default, attention; `train` and the window ask for default_network(kind)."""
    double: bool | None = None
    dueling: bool | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)
    preset: str | None = None
    """A named recipe of agents.config.PRESETS (e.g. "fast" for Atari on a CPU), applied before the switches."""


def resolve_device(device: str) -> str:
    """'auto' becomes 'cuda' when a GPU is present, else 'cpu'; an unusable choice is a one-line error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here (use --device auto or cpu)")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device '{device}' (choose auto, cpu or cuda)")
    return device


def observation_scale(description: EnvDescription) -> float:
    """Pixels arrive as 0..255 and are scaled to 0..1; gridworld channels are already 0/1."""
    return 1.0 / 255.0 if description.kind == "atari" else 1.0


def create_agent(
    description: EnvDescription,
    spec: AgentSpec,
    *,
    device: str = "cpu",
    seed: int | None = None,
    num_envs: int = 1,
    extra_overrides: Sequence[str] = (),
) -> DQNAgent | TabularQAgent:
    """A fresh agent for `description` with the environment family's defaults, then the user's overrides."""
    if spec.kind not in AGENT_KINDS:
        raise ConfigError(f"unknown agent '{spec.kind}' (choose {', '.join(AGENT_KINDS)})")
    overrides = [*spec.overrides, *extra_overrides]
    if spec.kind == "qlearning":
        return _tabular_agent(description, overrides, seed)
    switches = {}
    if spec.network is not None:
        if spec.network not in NETWORKS:
            raise ConfigError(f"unknown network '{spec.network}' (choose {', '.join(NETWORKS)})")
        switches["network"] = spec.network
    if spec.double is not None:
        switches["double"] = spec.double
    if spec.dueling is not None:
        switches["dueling"] = spec.dueling
    config = apply_overrides(dqn_config_for(description.kind, spec.preset, **switches), overrides)
    check_fits_env(config, description.kind)
    check_fits_memory(config, description.obs_shape, description.frame_stack, len(description.action_names))
    return DQNAgent(
        config,
        description.obs_shape,
        len(description.action_names),
        description.action_names,
        frame_stack=description.frame_stack,
        obs_scale=observation_scale(description),
        device=device,
        seed=seed,
        num_envs=num_envs,
    )


def _tabular_agent(description: EnvDescription, overrides: Sequence[str], seed: int | None) -> TabularQAgent:
    if description.kind != "gridworld":
        raise ConfigError(
            f"tabular Q-learning needs a gridworld; {description.env_id} has too many states (use --agent dqn)"
        )
    config = apply_overrides(tabular_config_for(description.kind), overrides)
    return TabularQAgent(config, description.obs_shape, len(description.action_names),
                         description.action_names, seed=seed)
