"""Hyperparameters of the agents, with the published values they come from and the reasons they differ.

The DQN defaults follow Mnih et al. (2015), "Human-level control through deep reinforcement
learning", Nature 518:529-533 (Extended Data Table 1), under CleanRL's field names
(Huang et al. 2022, "CleanRL: High-quality Single-file Implementations of Deep Reinforcement
Learning Algorithms", JMLR 23(274)), so that a value can be compared with either source at a glance.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agents.errors import ConfigError

NETWORK_CHOICES = ("mlp", "cnn", "attention")
LOSS_CHOICES = ("huber", "mse")
PRECISION_CHOICES = ("auto", "fp32", "bf16")
LAYOUT_CHOICES = ("auto", "nchw", "nhwc")
ENV_KINDS = ("atari", "gridworld")

_TRUE_WORDS = ("true", "1", "yes", "on", "y", "t")
_FALSE_WORDS = ("false", "0", "no", "off", "n", "f")


@dataclass(frozen=True)
class DQNConfig:
    """Deep Q-network hyperparameters; the defaults are Mnih et al. (2015, Nature) for Atari.

    Deviations from the Nature paper, and why:

    - Adam (Kingma & Ba 2015) with learning_rate 1e-4 and adam_eps 1.5e-4 instead of RMSProp with
      2.5e-4: CleanRL's Atari DQN uses Adam at 1e-4, and Hessel et al. (2018, Rainbow) show Adam with
      eps ~ 0.01 / batch_size is less sensitive to the learning rate than RMSProp.
    - Huber loss (smooth L1, delta 1) stands for the paper's "clip the error term to [-1, 1]": the two
      have the same gradient, and the Huber form is what the released code effectively optimised.
    - Gradients are additionally clipped to a global norm of max_grad_norm = 10, as in Wang et al.
      (2016, dueling networks); the paper clips only the error. Set it to inf to turn it off.
    - target_network_frequency is counted in environment (agent) steps, as in CleanRL and in
      DeepMind's released Lua code, not in parameter updates as Extended Data Table 1 words it;
      10,000 agent steps = 2,500 updates at train_frequency 4.
    - The epsilon schedule decays over exploration_fraction * total_timesteps steps (CleanRL's form);
      with the defaults (0.1 of 10M) that is the paper's 1M-step anneal from 1.0 to 0.1.
    - total_timesteps defaults to 10M agent steps (CleanRL), not the paper's 50M, to fit a desktop.
    - Environments are ALE v5 with sticky actions (repeat_action_probability 0.25, Machado et al.
      2018) plus up to 30 no-op starts; the paper used v0-style deterministic ALE with no-op starts.
      Frame skip 4, 84x84 greyscale, 4-frame stacks, clipped rewards and life loss as a learning-only
      terminal are as in the paper.
    - double (van Hasselt et al. 2016), dueling (Wang et al. 2016) and the attention network are
      extensions the user may switch on; they are off in the paper. network defaults to "attention"
      because the window's attention panel is the point of the app; use network=cnn for the paper's.
    - exploring_starts (gridworlds only; on in their defaults, see _GRIDWORLD_DQN) is not in the paper.
    """

    total_timesteps: int = 10_000_000
    """Environment (agent) steps to train for; also the horizon of the epsilon schedule."""
    learning_rate: float = 1e-4
    """Adam step size."""
    buffer_size: int = 1_000_000
    """Replay memory capacity in transitions (Nature: 1M)."""
    gamma: float = 0.99
    """Discount factor (Nature: 0.99)."""
    tau: float = 1.0
    """Target update rate at each sync: 1.0 is the paper's hard copy, < 1 a Polyak average."""
    target_network_frequency: int = 10_000
    """Environment steps between target-network syncs (Nature: 10,000)."""
    batch_size: int = 32
    """Transitions per gradient step (Nature: 32)."""
    start_e: float = 1.0
    """Initial exploration epsilon (Nature: 1.0)."""
    end_e: float = 0.1
    """Final exploration epsilon (Nature: 0.1)."""
    exploration_fraction: float = 0.1
    """Fraction of total_timesteps over which epsilon decays linearly from start_e to end_e."""
    learning_starts: int = 50_000
    """Environment steps of experience gathered before the first update (Nature: 50,000)."""
    train_frequency: int = 4
    """Environment steps between gradient updates (Nature: 4)."""
    network: str = "attention"
    """Q-network body: mlp, cnn (Nature CNN for pixels) or attention (transformer over spatial tokens)."""
    double: bool = False
    """Double DQN target: online network picks the next action, target network scores it."""
    dueling: bool = False
    """Dueling head Q = V + A - mean(A) for mlp/cnn (the attention network is always dueling)."""
    loss: str = "huber"
    """TD loss: huber (smooth L1, the paper's clipped error) or mse."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip (inf turns clipping off)."""
    adam_eps: float = 1.5e-4
    """Adam epsilon (Rainbow: 0.01 / batch_size)."""
    hidden_dim: int = 512
    """Width of the fully connected layers (Nature: 512)."""
    attention_heads: int = 4
    """Heads of the attention network's self- and query-attention."""
    attention_dim: int = 64
    """Token width of the attention network; must be divisible by attention_heads (and even)."""
    n_step: int = 1
    """Steps of real reward before bootstrapping: y = sum_k gamma^k r_(t+k) + gamma^n max Q(s_(t+n)) (Sutton 1988;
    Rainbow uses 3). 1 is the paper's one-step target."""
    prioritized_replay: bool = False
    """Replay transitions in proportion to (|TD error| + priority_epsilon)^priority_alpha and weight each one's loss
    by its importance weight (Schaul et al. 2016, proportional variant; agents.prioritized_replay). False: uniform
    replay, the paper's."""
    priority_alpha: float = 0.6
    """How strongly replay prefers large TD errors: 0 is uniform, 1 fully proportional (Schaul et al.: 0.6)."""
    priority_beta: float = 0.4
    """Importance-sampling exponent at step 0, annealed linearly to 1 at total_timesteps (Schaul et al.: 0.4)."""
    priority_epsilon: float = 1e-6
    """Added to |TD error| so that no stored transition's priority is zero."""
    precision: str = "auto"
    """Arithmetic of the update's forward and backward passes: fp32, bf16 (autocast; weights, gradients and Adam
    stay fp32) or auto (bf16 where the CPU has AMX or AVX-512 BF16 units and it was measured to pay)."""
    memory_layout: str = "auto"
    """Convolution layout on a CPU: nchw, nhwc (channels-last) or auto (the faster one for the precision)."""
    exploring_starts: bool = False
    """Gridworlds only: training episodes start on a random free cell instead of S (Sutton & Barto 2018,
    section 5.3); playing and evaluating still start on S."""

    def __post_init__(self) -> None:
        _check_types(self)
        _check_choices(self)
        _check_ranges(self)


@dataclass(frozen=True)
class TabularConfig:
    """Tabular Q-learning (Watkins & Dayan 1992, "Q-learning", Machine Learning 8:279-292).

    Epsilon-greedy exploration with the same linear schedule as DQNConfig. The Q-table starts at
    zero, and ties among greedy actions are broken at random so early episodes still wander.
    """

    learning_rate: float = 0.5
    """Step size alpha of Q <- Q + alpha (target - Q); deterministic gridworlds tolerate a large one."""
    gamma: float = 0.99
    """Discount factor."""
    start_e: float = 1.0
    """Initial exploration epsilon."""
    end_e: float = 0.05
    """Final exploration epsilon."""
    exploration_fraction: float = 0.5
    """Fraction of total_timesteps over which epsilon decays linearly."""
    total_timesteps: int = 50_000
    """Environment steps to train for; also the horizon of the epsilon schedule."""
    exploring_starts: bool = False
    """Training episodes start on a random free cell instead of S; the zero-initialised table already
    explores systematically, so this is off."""

    def __post_init__(self) -> None:
        _check_types(self)
        _check_ranges(self)


ConfigT = TypeVar("ConfigT", DQNConfig, TabularConfig)

# Small-problem values: 50k steps learn four-rooms and the maze with mlp, cnn and attention alike.
# Exploring starts are what make them hold on maps the tests never saw: from S alone, epsilon-greedy
# rarely finds a goal at the end of a long corridor or past lava (a random walk dies in the lava), and
# the network, unlike the zero-initialised table, has no optimism that pulls it towards unvisited cells.
# The target network follows the online one by Polyak averaging, tau = 0.005 every step (Lillicrap et al.
# 2016; Fujimoto et al. 2018): with the paper's hard copy every 500 steps the greedy maze policy, once found,
# relapsed into a loop in 36 of 128 later evaluations, and the agent saved at step 50,000 looped for 3 of
# 10 seeds; the smoothly moving target keeps it (benchmarks/learning.py --to-limit, README "Learning").
_GRIDWORLD_DQN = dict(
    total_timesteps=50_000,
    learning_rate=5e-4,
    buffer_size=50_000,
    tau=0.005,
    target_network_frequency=1,
    batch_size=64,
    end_e=0.05,
    exploration_fraction=0.4,
    learning_starts=1_000,
    train_frequency=2,
    double=True,
    dueling=True,
    adam_eps=1e-8,
    hidden_dim=128,
    attention_heads=4,
    attention_dim=32,
    exploring_starts=True,
)


# Atari on a CPU in hours, not days: the Nature recipe needs ~3M steps to learn Pong (CleanRL's curve), which
# is a day on two cores. Each value, its source, and why (README "Pong from scratch" has the measured curve):
_ATARI_FAST = dict(
    # Nature CNN: the attention network's update cost 43 ms against the CNN's 27 ms in bf16 on these machines
    # (benchmarks/update_cost.py, README "Speed"), and the update is nearly all of a step's time.
    network="cnn",
    # Double DQN (van Hasselt et al. 2016) and dueling heads (Wang et al. 2016): two of Rainbow's parts that
    # cost no extra samples (Hessel et al. 2018; Lapan 2020, "Deep RL Hands-On", ch. 8, on Pong).
    double=True,
    dueling=True,
    # 3-step returns: Rainbow's n (Hessel et al. 2018); on Pong Lapan's n = 3 run needed about half the frames
    # of one-step DQN. Rewards travel back 3 steps an update instead of 1.
    n_step=3,
    # Lapan's Pong values: Adam at 1e-4, a replay of 100k ("Speeding up DQN on PyTorch", 2019; his book's 10k
    # forgets Pong's rare early points too fast), learning from 10k steps, epsilon 1.0 -> 0.01 over the first
    # 100k steps (exploration_fraction 0.1 of 1M), batch 32.
    learning_rate=1e-4,
    buffer_size=100_000,
    learning_starts=10_000,
    total_timesteps=1_000_000,
    exploration_fraction=0.1,
    end_e=0.01,
    batch_size=32,
    # One update per 2 env steps (Lapan: 1, Nature: 4): on two cores the update dominates, so this halves the
    # compute per step against Lapan's while replaying each transition 16 times on average over the 100k buffer.
    train_frequency=2,
    # Target sync every 1,000 updates as in Lapan's runs (2,000 env steps at train_frequency 2); Nature's
    # 10,000 steps is tuned for its 1M-step exploration and holds back a run of a few hundred thousand.
    target_network_frequency=2_000,
)

PRESETS = {"fast": ("atari", _ATARI_FAST)}
"""Named recipes: name -> (the environment family they are for, the values they set)."""


def dqn_config_for(env_kind: str, preset: str | None = None, **overrides: Any) -> DQNConfig:
    """Defaults for an environment family: Nature values for "atari", small-problem ones for "gridworld";
    a `preset` (see PRESETS) replaces some of them, and `overrides` win over both."""
    if env_kind not in ENV_KINDS:
        raise ConfigError(f"unknown environment kind '{env_kind}' (choose {', '.join(ENV_KINDS)})")
    base = dict(_GRIDWORLD_DQN) if env_kind == "gridworld" else {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}' (choose {', '.join(PRESETS)})")
        kind, values = PRESETS[preset]
        if kind != env_kind:
            raise ConfigError(f"preset '{preset}' is for {kind} games, not a {env_kind}")
        base.update(values)
    return _construct(DQNConfig, {**base, **overrides})


def check_fits_env(config: DQNConfig | TabularConfig, env_kind: str) -> None:
    """Options that only one environment family supports fail early, with the reason."""
    if config.exploring_starts and env_kind != "gridworld":
        raise ConfigError(f"exploring_starts needs a gridworld: an {env_kind} game cannot start anywhere")


def tabular_config_for(env_kind: str = "gridworld", **overrides: Any) -> TabularConfig:
    """Tabular Q-learning defaults; only gridworlds have a state space small enough for a table."""
    if env_kind != "gridworld":
        raise ConfigError(f"tabular Q-learning needs a gridworld, not '{env_kind}' (use the dqn agent)")
    return _construct(TabularConfig, overrides)


def apply_overrides(config: ConfigT, assignments: Sequence[str]) -> ConfigT:
    """Return `config` with `FIELD=VALUE` assignments applied, each VALUE parsed by the field's type."""
    hints = _field_types(type(config))
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"override '{assignment}' is not FIELD=VALUE; {_valid_fields(type(config))}")
        if name not in hints:
            hint = _suggest(name, hints)
            raise ConfigError(f"unknown config field '{name}'{hint}; {_valid_fields(type(config))}")
        changes[name] = parse_value(name, hints[name], text.strip())
    return dataclasses.replace(config, **changes) if changes else config


def parse_value(name: str, kind: type, text: str) -> Any:
    """Parse one override value: ints accept 1e5 and 1_000, bools true/false/yes/no/on/off/1/0."""
    try:
        if kind is bool:
            return _parse_bool(text)
        if kind is int:
            return _parse_int(text)
        if kind is float:
            return float(text)
        return text
    except ValueError:
        raise ConfigError(f"bad value for {name}: '{text}' is not {_type_word(kind)}") from None


def linear_epsilon(step: int, start_e: float, end_e: float, duration: float) -> float:
    """Epsilon linearly annealed from start_e to end_e over `duration` steps, then held (Mnih et al. 2015)."""
    if duration <= 0:
        return float(end_e)
    progress = min(max(step, 0) / duration, 1.0)
    return float(start_e + progress * (end_e - start_e))


def config_fields(cls: type) -> list[str]:
    """Names of a config class's fields, in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


def _construct(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
    unknown = [name for name in values if name not in _field_types(cls)]
    if unknown:
        raise ConfigError(f"unknown config field '{unknown[0]}'; {_valid_fields(cls)}")
    return cls(**values)


def _field_types(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _valid_fields(cls: type) -> str:
    return "valid fields: " + ", ".join(config_fields(cls))


def _suggest(name: str, hints: dict[str, type]) -> str:
    close = difflib.get_close_matches(name, list(hints), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _type_word(kind: type) -> str:
    return {bool: "true/false", int: "an integer", float: "a number"}.get(kind, "text")


def _parse_bool(text: str) -> bool:
    word = text.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(text)


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(text)
    return int(number)


def _check_types(config: DQNConfig | TabularConfig) -> None:
    """Configs built from code get the same type discipline as parsed overrides; ints widen to float."""
    for name, kind in _field_types(type(config)).items():
        value = getattr(config, name)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(config, name, float(value))
        elif kind is int and isinstance(value, float) and value.is_integer():
            object.__setattr__(config, name, int(value))
        elif not _is_instance(value, kind):
            raise ConfigError(f"bad value for {name}: {value!r} is not {_type_word(kind)}")


def _is_instance(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, float)
    return isinstance(value, kind)


def _check_choices(config: DQNConfig) -> None:
    for name, choices in (("network", NETWORK_CHOICES), ("loss", LOSS_CHOICES), ("precision", PRECISION_CHOICES),
                          ("memory_layout", LAYOUT_CHOICES)):
        value = getattr(config, name)
        if value not in choices:
            raise ConfigError(f"bad value for {name}: '{value}' (choose {', '.join(choices)})")
    if config.attention_dim % (2 * config.attention_heads) != 0:
        raise ConfigError(
            f"bad value for attention_dim: {config.attention_dim} must be a multiple of 2 * attention_heads"
            f" ({2 * config.attention_heads})"
        )


_UNIT_INTERVAL = ("gamma", "start_e", "end_e", "exploration_fraction", "priority_alpha", "priority_beta")
_POSITIVE = (
    "total_timesteps", "learning_rate", "buffer_size", "target_network_frequency", "batch_size",
    "train_frequency", "n_step", "max_grad_norm", "adam_eps", "hidden_dim", "attention_heads", "attention_dim",
    "priority_epsilon",
)


def _check_ranges(config: DQNConfig | TabularConfig) -> None:
    for name in config_fields(type(config)):
        value = getattr(config, name)
        if name in _UNIT_INTERVAL and not 0.0 <= value <= 1.0:
            raise ConfigError(f"bad value for {name}: {value} is outside [0, 1]")
        if name in _POSITIVE and not value > 0:
            raise ConfigError(f"bad value for {name}: {value} must be positive")
        if name == "n_step" and value > 100:
            raise ConfigError(f"bad value for n_step: {value} is above 100")
        if name == "learning_starts" and value < 0:
            raise ConfigError(f"bad value for learning_starts: {value} must be >= 0")
        if name == "tau" and not 0.0 < value <= 1.0:
            raise ConfigError(f"bad value for tau: {value} is outside (0, 1]")
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"bad value for {name}: nan")
    if isinstance(config, TabularConfig) and config.learning_rate > 1.0:
        raise ConfigError(f"bad value for learning_rate: {config.learning_rate} is above 1")
