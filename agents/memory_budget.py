"""What a training configuration needs in memory, checked against the machine before anything is allocated.

A replay of `--set buffer_size=100000000` Atari frames needs 657 GiB; NumPy would fail deep inside with a
traceback, or (below the kernel's overcommit limit) succeed lazily and get the process killed hours later
as the buffer fills. An attention network over a large gridworld builds tokens x tokens attention scores
per head and batch row. Both are estimated here from the config and observation shape alone (networks are
built on PyTorch's meta device, which allocates nothing) and refused with one line giving both numbers and
the setting to change.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agents.config import DQNConfig
from agents.errors import ConfigError

REPLAY_SLOT_OVERHEAD = 12
"""Bytes a replay slot needs besides its frame: action (up to 2), reward (4), four flags, the age and the
source (6)."""
PRIORITY_SLOT_OVERHEAD = 32
"""Prioritized replay's sum tree: two float64 nodes per leaf, with up to twice as many leaves as slots (the tree
is padded to a power of two)."""
TRAINING_COPIES = 5
"""Each parameter lives as online and target weights, a gradient and Adam's two moments."""
ATTENTION_COPIES = 3
"""Attention scores are kept for the backward pass: scores, softmax and their gradient."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a DQN agent needs to train, by part."""

    replay: int
    networks: int
    activations: int
    attention_tokens: int = 0
    """Tokens the attention network attends over (0 for other networks)."""

    @property
    def total(self) -> int:
        return self.replay + self.networks + self.activations


def estimate_training_memory(config: DQNConfig, obs_shape: Sequence[int], frame_stack: int, n_actions: int,
                             *, replay: bool = True) -> MemoryEstimate:
    """The replay at full capacity (if `replay`), the networks with gradients and Adam, and a batch's
    attention scores."""
    obs_shape = tuple(int(n) for n in obs_shape)
    frame = math.prod(obs_shape[1:]) if frame_stack > 1 else math.prod(obs_shape)
    per_slot = frame + REPLAY_SLOT_OVERHEAD + (PRIORITY_SLOT_OVERHEAD if config.prioritized_replay else 0)
    replay_bytes = config.buffer_size * per_slot if replay else 0
    parameters, tokens = _network_size(config, obs_shape, n_actions)
    activations = 0
    if config.network == "attention":
        activations = ATTENTION_COPIES * 4 * config.batch_size * config.attention_heads * tokens * tokens * 2
    return MemoryEstimate(replay_bytes, TRAINING_COPIES * 4 * parameters, activations,
                          tokens if config.network == "attention" else 0)


def _network_size(config: DQNConfig, obs_shape: tuple[int, ...], n_actions: int) -> tuple[int, int]:
    """(parameters, attention tokens) of the config's network, built on the meta device (no memory)."""
    from agents.networks import build_q_network, trunk_output_shape

    with torch.device("meta"):
        network = build_q_network(config, obs_shape, n_actions, 1.0)
        tokens = 0
        trunk = getattr(network, "trunk", None)
        if config.network == "attention" and trunk is not None:
            _, height, width = trunk_output_shape(trunk, obs_shape)
            tokens = height * width
    return sum(p.numel() for p in network.parameters()), tokens


def available_memory() -> int:
    """Bytes this machine can give a new allocation without swapping (Linux: MemAvailable), else its RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def check_fits_memory(config: DQNConfig, obs_shape: Sequence[int], frame_stack: int, n_actions: int, *,
                      replay: bool = True, available: int | None = None) -> MemoryEstimate:
    """Raise a one-line ConfigError when training this config would need more memory than is available."""
    estimate = estimate_training_memory(config, obs_shape, frame_stack, n_actions, replay=replay)
    available = available_memory() if available is None else available
    if estimate.total <= available:
        return estimate
    part, advice = max(
        (estimate.replay, f"lower buffer_size (now {config.buffer_size:,}), e.g. --set buffer_size="
                          f"{_fitting_buffer(config, estimate, available):,}"),
        (estimate.networks, f"choose a smaller network (hidden_dim {config.hidden_dim}, or --net mlp) or a "
                            "smaller map"),
        (estimate.activations, f"attention over {estimate.attention_tokens:,} tokens is too large: use --net mlp "
                               f"or cnn, a smaller map, or a smaller batch_size (now {config.batch_size})"),
    )
    raise ConfigError(f"training needs about {_gib(estimate.total)} (replay {_gib(estimate.replay)}, networks "
                      f"{_gib(estimate.networks)}, attention {_gib(estimate.activations)}) but this machine has "
                      f"{_gib(available)} available: {advice}")


def _fitting_buffer(config: DQNConfig, estimate: MemoryEstimate, available: int) -> int:
    per_slot = estimate.replay / max(config.buffer_size, 1)
    room = available * 0.8 - estimate.networks - estimate.activations
    return max(int(room / per_slot) // 1000 * 1000, 1000) if per_slot else config.buffer_size


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"
