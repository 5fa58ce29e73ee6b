"""Which arithmetic and memory layout an agent's update uses: bfloat16 autocast where the CPU has units for it.

bf16 autocast runs convolutions and matrix products in bfloat16 through oneDNN (on Xeons with AMX or AVX-512
BF16 units, these machines' Sapphire Rapids among them) while the weights, their gradients and Adam's moments
stay float32: the "mixed precision" of Micikevicius et al. (2018) without loss scaling, which bf16's float32
exponent range makes unnecessary. `benchmarks/update_cost.py` measured it on these 2-core machines; the README's
"Speed" section has the table that the `auto` choices below rest on.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

from agents.config import DQNConfig
from agents.networks import NATURE_MIN_PIXELS

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
"""/proc/cpuinfo flags of the units that make bf16 convolutions and matmuls faster than fp32."""

_BF16_PAYS = ("cnn",)
"""Networks whose update bf16 made faster on these machines, on Atari frames: the Nature CNN's 27 ms against
41 ms (2 threads; 42 against 57 on 1). The attention network's was not faster (50 against 43 ms on 2 threads,
65 against 66 on 1): its many small token-wide operations gain nothing, and each pays for a cast. An MLP's or
a gridworld's convolutions are too small to gain."""


@functools.cache
def cpu_has_bf16_units() -> bool:
    """The CPU advertises AMX-BF16 or AVX-512 BF16 (Linux; elsewhere assume not, and stay fp32)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(config: DQNConfig, device: torch.device, obs_shape: tuple[int, ...] = (4, 84, 84)) -> str:
    """"fp32" or "bf16": the config's choice, or for "auto" bf16 on a CPU with the units, for a network it helps
    on pixel inputs (the Nature CNN on Atari frames)."""
    if config.precision != "auto":
        return config.precision
    pixels = len(obs_shape) == 3 and min(obs_shape[1:]) >= NATURE_MIN_PIXELS
    if device.type == "cpu" and cpu_has_bf16_units() and config.network in _BF16_PAYS and pixels:
        return "bf16"
    return "fp32"


def resolve_layout(config: DQNConfig, device: torch.device, precision: str) -> str:
    """"nchw" or "nhwc": channels-last pays for fp32 convolutions on a CPU; bf16 ones ran faster NCHW here."""
    if config.memory_layout != "auto":
        return config.memory_layout
    return "nhwc" if device.type == "cpu" and precision == "fp32" else "nchw"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context the update's forward passes run under (a no-op for fp32)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
