"""The precision switch: bf16 autocast where the CPU has the units and it pays, fp32 elsewhere, same learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import agents.precision as precision
from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.errors import ConfigError
from agents.types import Batch

ATARI_SHAPE = (4, 84, 84)


def atari_agent(network: str, chosen: str, seed: int = 0) -> DQNAgent:
    config = dqn_config_for("atari", network=network, precision=chosen, double=True, dueling=True, buffer_size=64,
                            hidden_dim=64, attention_dim=32)
    return DQNAgent(config, ATARI_SHAPE, 6, [str(a) for a in range(6)], frame_stack=4, obs_scale=1 / 255, seed=seed)


def batches(count: int, size: int = 8) -> list[Batch]:
    rng = np.random.default_rng(0)
    return [Batch(observations=rng.integers(0, 256, (size, *ATARI_SHAPE), dtype=np.uint8),
                  actions=rng.integers(0, 6, size), rewards=rng.choice([-1.0, 0.0, 1.0], size).astype(np.float32),
                  next_observations=rng.integers(0, 256, (size, *ATARI_SHAPE), dtype=np.uint8),
                  dones=(rng.random(size) < 0.1).astype(np.float32), indices=np.arange(size)) for _ in range(count)]


@pytest.mark.parametrize(("network", "has_units", "expected"), [
    ("cnn", True, "bf16"), ("attention", True, "fp32"), ("mlp", True, "fp32"), ("cnn", False, "fp32"),
])
def test_auto_takes_bf16_only_where_the_cpu_has_the_units_and_the_network_gains(
        monkeypatch: pytest.MonkeyPatch, network: str, has_units: bool, expected: str) -> None:
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: has_units)
    config = dqn_config_for("atari", network=network)
    assert precision.resolve_precision(config, torch.device("cpu")) == expected
    assert precision.resolve_precision(config, torch.device("cuda")) == "fp32"
    gridworld = dqn_config_for("gridworld", network=network)
    assert precision.resolve_precision(gridworld, torch.device("cpu"), (4, 9, 9)) == "fp32"  # too small to gain


def test_an_explicit_choice_wins_and_picks_its_faster_layout() -> None:
    for chosen, layout in (("fp32", "nhwc"), ("bf16", "nchw")):
        config = dqn_config_for("atari", network="cnn", precision=chosen)
        assert precision.resolve_precision(config, torch.device("cpu")) == chosen
        assert precision.resolve_layout(config, torch.device("cpu"), chosen) == layout
    config = dqn_config_for("atari", network="cnn", precision="bf16", memory_layout="nhwc")
    assert precision.resolve_layout(config, torch.device("cpu"), "bf16") == "nhwc"


def test_an_unknown_precision_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="precision.*choose auto, fp32, bf16"):
        dqn_config_for("atari", precision="fp16")


def test_weights_gradients_and_adam_stay_fp32_under_bf16(one_torch_thread: None) -> None:
    agent = atari_agent("cnn", "bf16")
    agent.update(batches(1)[0])
    assert agent.precision == "bf16"
    assert all(p.dtype == torch.float32 for p in agent.online.parameters())
    assert all(v.dtype == torch.float32 for state in agent.optimizer.state.values() for v in state.values()
               if isinstance(v, torch.Tensor) and v.dim() > 0)
    assert agent.q_values(batches(1)[0].observations[0]).dtype == np.float32


@pytest.mark.parametrize("network", ["cnn", "attention"])
def test_bf16_updates_track_fp32_ones(one_torch_thread: None, network: str) -> None:
    """The same seed, batches and network: 30 updates in bf16 stay close to fp32 (the 1,000-update figure is
    benchmarks/precision_drift.py's, in the README). Single updates may differ by a few percent (bf16 keeps 8
    bits of mantissa; seen: up to 5.2% once in 30 with AMX kernels, 0.5% on average), so each is held to 10%
    and the run as a whole to 1.5%."""
    full, half = atari_agent(network, "fp32"), atari_agent(network, "bf16")
    probe = batches(1, 16)[0].observations
    losses_full, losses_half = [], []
    for batch in batches(30):
        loss_full, loss_half = full.update(batch).loss, half.update(batch).loss
        assert loss_half == pytest.approx(loss_full, rel=0.10, abs=2e-3)
        losses_full.append(loss_full)
        losses_half.append(loss_half)
    relative = np.abs(np.subtract(losses_half, losses_full)) / np.maximum(np.abs(losses_full), 1e-6)
    assert relative.mean() <= 0.015
    assert np.mean(losses_half) == pytest.approx(np.mean(losses_full), rel=0.015)
    q_full, q_half = full.forward(probe).q.numpy(), half.forward(probe).q.numpy()
    assert np.abs(q_full - q_half).max() <= 0.05 * np.abs(q_full).max() + 2e-3
