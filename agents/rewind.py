"""Step back through an episode and ask "what if": the environment's own state at every step, and branches.

`EpisodeHistory` keeps, for the last `REWIND_STEPS` steps of the episode in progress, everything needed to put
the environment back exactly as it was: the emulator's state (ALE's `cloneState(include_rng=True)`, which covers
sticky actions' random stream) or the gridworld's own (the agent's cell and step count), plus the state of every
wrapper above it (the frame stack, the max-pooling buffer, lives). `agents.runner.run` records into it and can
continue from any of its moments.

`try_action` plays a branch from a moment (the chosen action, then the agent) and returns the discounted return it
obtained next to what Q predicted, then puts the environment back: a branch is never stored in the replay buffer,
because it never passes through the runner. `taken_path` is the same comparison for what actually happened after a
moment. Both use what the agent learns from: Atari's clipped reward, and a lost life as the end of the return.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.errors import ArcadeError

REWIND_STEPS = 200
"""Moments kept per episode: 13 s of an Atari game at its own 15 steps/s, about 34 MB (per step a 210x160 colour
screen, the 4x84x84 observation and frame stack, and 14 KB of emulator state), and every step of most gridworld
episodes."""
WHAT_IF_HORIZON = 100
"""Default steps of a branch: 1 / (1 - gamma) at gamma 0.99, the horizon Q's discount mostly looks over."""

_GYM_INTERNALS = frozenset({"env", "_action_space", "_observation_space", "_metadata", "_cached_spec",
                            "_saved_kwargs", "_ezpickle_args", "_ezpickle_kwargs", "spec"})
"""Wrapper attributes that are configuration of gymnasium's own, never episode state."""
_SCRATCH = {"FrameStackObservation": frozenset({"stacked_obs", "padding_value"}),
            "AtariPreprocessing": frozenset({"obs_buffer"})}
"""Buffers a wrapper rewrites whole before using them on every step (the stack's output, the two screens that
frame skipping max-pools) and constants: copying them would only cost memory (67 KB a step for the screens)."""


class RewindError(ArcadeError):
    """The environment cannot be put back to an earlier step."""


@dataclass(frozen=True)
class EnvState:
    """One environment's complete state at a step; `restore` puts it back."""

    base: Any
    """ALE: the emulator's ALEState (with its random generator). Gridworld: (cell, steps in the episode)."""
    layers: tuple[dict[str, Any], ...]
    """Per wrapper, outermost first: copies of the attributes that change during an episode."""


def capture(env: gym.Env) -> EnvState:
    """The state of `env` and all its wrappers now. RewindError for an environment this module cannot restore."""
    return EnvState(_capture_base(env.unwrapped), tuple(_capture_layer(layer) for layer in _wrappers(env)))


def restore(env: gym.Env, state: EnvState) -> None:
    """Put `env` back to `state` (captured from this same environment)."""
    layers = list(_wrappers(env))
    if len(layers) != len(state.layers):
        raise RewindError("the environment changed since that step was recorded")
    _restore_base(env.unwrapped, state.base)
    for layer, attributes in zip(layers, state.layers, strict=True):
        for name, value in attributes.items():
            setattr(layer, name, copy.deepcopy(value))


def _wrappers(env: gym.Env) -> Iterator[gym.Wrapper]:
    node: Any = env
    while isinstance(node, gym.Wrapper):
        yield node
        node = node.env


def _capture_base(base: gym.Env) -> Any:
    ale = getattr(base, "ale", None)
    if ale is not None:
        return ale.cloneState(include_rng=True)
    if hasattr(base, "snapshot_state"):  # agents.envs.gridworld.GridWorldEnv
        return base.snapshot_state()
    raise RewindError(f"{type(base).__name__} cannot step back: only ALE games and gridworlds keep their state")


def _restore_base(base: gym.Env, state: Any) -> None:
    ale = getattr(base, "ale", None)
    if ale is not None:
        ale.restoreState(state)
    else:
        base.restore_state(state)


def _capture_layer(layer: gym.Wrapper) -> dict[str, Any]:
    """The wrapper's plain-data attributes (numbers, flags, arrays, lists and deques of them): the frame stack,
    the max-pooling buffer, lives, a time limit's count. A wrapper names what must survive a rewind (a recorder's
    switch) in `rewind_ignores`."""
    ignored = _GYM_INTERNALS | _SCRATCH.get(type(layer).__name__, frozenset()) | set(
        getattr(layer, "rewind_ignores", ()))
    return {name: copy.deepcopy(value) for name, value in vars(layer).items()
            if name not in ignored and _plain(value)}


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return True
    if isinstance(value, (list, tuple, deque)):
        return all(_plain(item) for item in value)
    return False


@dataclass(frozen=True)
class Moment:
    """The episode at one step: the state after it, and the step that led there."""

    state: EnvState
    observation: np.ndarray
    """The network input at this moment."""
    frame: np.ndarray | None
    """The screen at this moment (ALE does not redraw it on restoreState); None where `render()` after a restore
    draws it (gridworld)."""
    episode_step: int
    episode_return: float
    """The environment's reward summed over the episode so far (unclipped)."""
    action: int | None = None
    """The action that led here; None at the start of the episode."""
    reward: float = 0.0
    learning_reward: float = 0.0
    """What the agent learned from that step's reward (Atari: its sign)."""
    learning_terminated: bool = False
    """That step ended the agent's return (terminal, or Atari's lost life)."""
    terminated: bool = False
    truncated: bool = False

    @property
    def ended(self) -> bool:
        """The episode is over here: going on from this moment starts a new one."""
        return self.terminated or self.truncated


class EpisodeHistory:
    """The last `capacity` moments of the episode in progress, oldest first; a new episode clears it."""

    def __init__(self, capacity: int = REWIND_STEPS, *, keep_frames: bool = True) -> None:
        if capacity < 2:
            raise ValueError("a history needs at least two moments")
        self.capacity = capacity
        self.keep_frames = keep_frames
        self._moments: deque[Moment] = deque(maxlen=capacity)
        self.broken: str | None = None
        """Why recording stopped (an environment that cannot be restored); None while it works."""

    def __len__(self) -> int:
        return len(self._moments)

    def __getitem__(self, index: int) -> Moment:
        return self._moments[index]

    @property
    def latest(self) -> Moment | None:
        return self._moments[-1] if self._moments else None

    def begin(self, env: gym.Env, observation: np.ndarray) -> None:
        """A new episode starts at `observation` (after a reset)."""
        self._moments.clear()
        self._add(env, observation, 0, 0.0)

    def record(self, env: gym.Env, observation: np.ndarray, action: int, reward: float, terminated: bool,
               truncated: bool, info: dict[str, Any], episode_step: int, episode_return: float) -> None:
        """The step just taken: `observation` is where it led."""
        self._add(env, observation, episode_step, episode_return, action=int(action), reward=float(reward),
                  learning_reward=float(info.get("learning_reward", reward)),
                  learning_terminated=bool(info.get("learning_terminated", terminated)),
                  terminated=bool(terminated), truncated=bool(truncated))

    def keep_until(self, index: int) -> None:
        """Forget the moments after `index`: the episode goes on from there instead."""
        while len(self._moments) > index + 1:
            self._moments.pop()

    def clear(self) -> None:
        self._moments.clear()

    def _add(self, env: gym.Env, observation: np.ndarray, episode_step: int, episode_return: float,
             **step: Any) -> None:
        if self.broken is not None:
            return
        try:
            state = capture(env)
        except RewindError as error:
            self.broken = str(error)
            self._moments.clear()
            return
        frame = np.array(env.render(), dtype=np.uint8, copy=True) if self.keep_frames else None
        self._moments.append(Moment(state, np.array(observation, copy=True), frame, episode_step, episode_return,
                                    **step))

    def path_return(self, index: int, horizon: int, gamma: float) -> tuple[int, float, str | None]:
        """What actually followed moment `index`, over at most `horizon` recorded steps: (steps, discounted
        learning return, why it ended early: "terminal", "life lost", "time limit" or None)."""
        total, discount, steps = 0.0, 1.0, 0
        for moment in list(self._moments)[index + 1:index + 1 + horizon]:
            total += discount * moment.learning_reward
            discount *= gamma
            steps += 1
            ended = _end_reason(moment.terminated, moment.learning_terminated, moment.truncated)
            if ended is not None:
                return steps, total, ended
        return steps, total, None


def _end_reason(terminated: bool, learning_terminated: bool, truncated: bool) -> str | None:
    if terminated:
        return "terminal"
    if learning_terminated:
        return "life lost"
    if truncated:
        return "time limit"
    return None


@dataclass(frozen=True)
class WhatIf:
    """A branch from a moment against the agent's prediction: Q(s, a) next to the discounted return obtained."""

    action: int
    action_name: str
    taken: bool
    """True: what the episode really did after the moment; False: a branch that was tried and undone."""
    predicted: float
    """Q(s, a) of the agent at the moment."""
    steps: int
    discounted_return: float
    """sum over k < steps of gamma^k r_k, with the rewards the agent learns from."""
    bootstrapped: float
    """discounted_return + gamma^steps max_a' Q(s_steps, a'), or discounted_return alone where the return ended
    in a terminal state (or a lost life): the quantity Q(s, a) estimates, looked at `steps` steps ahead."""
    ended: str | None
    """"terminal", "life lost", "time limit", or None when the horizon cut it."""

    @property
    def error(self) -> float:
        """bootstrapped - predicted: how far the agent's estimate was from what this branch gave."""
        return self.bootstrapped - self.predicted


def try_action(env: gym.Env, agent: Any, moment: Moment, action: int, horizon: int = WHAT_IF_HORIZON, *,
               epsilon: float = 0.0) -> WhatIf:
    """Play `action` from `moment`, then the agent (epsilon-greedy with `epsilon`) for up to `horizon` steps in
    all, and put the environment back to `moment`. Nothing reaches the agent's replay or its step count."""
    if horizon < 1:
        raise ValueError("a branch needs at least one step")
    gamma = float(agent.config.gamma)
    restore(env, moment.state)
    try:
        total, discount, steps, ended = 0.0, 1.0, 0, None
        obs, chosen = moment.observation, int(action)
        while steps < horizon:
            obs, reward, terminated, truncated, info = env.step(chosen)
            total += discount * float(info.get("learning_reward", reward))
            discount *= gamma
            steps += 1
            ended = _end_reason(bool(terminated), bool(info.get("learning_terminated", terminated)),
                                bool(truncated))
            if ended is not None:
                break
            chosen = agent.act(obs, explore=epsilon > 0, epsilon=epsilon)
        tail = _bootstrap(agent, obs, discount, ended)
    finally:
        restore(env, moment.state)
    predicted = float(agent.evaluate(moment.observation).q_values[int(action)])
    return WhatIf(int(action), str(agent.action_names[int(action)]), False, predicted, steps, total, total + tail,
                  ended)


def taken_path(history: EpisodeHistory, agent: Any, index: int, horizon: int = WHAT_IF_HORIZON) -> WhatIf | None:
    """What the episode really did after moment `index`, as a WhatIf (None at the latest moment: nothing
    followed yet)."""
    if index + 1 >= len(history):
        return None
    gamma = float(agent.config.gamma)
    steps, total, ended = history.path_return(index, horizon, gamma)
    tail = _bootstrap(agent, history[index + steps].observation, gamma ** steps, ended)
    action = int(history[index + 1].action)  # type: ignore[arg-type]
    predicted = float(agent.evaluate(history[index].observation).q_values[action])
    return WhatIf(action, str(agent.action_names[action]), True, predicted, steps, total, total + tail, ended)


def _bootstrap(agent: Any, obs: np.ndarray, discount: float, ended: str | None) -> float:
    """gamma^n max_a Q(s_n, a) after a branch, or 0 where its return ended (a terminal, or a lost life)."""
    if ended in ("terminal", "life lost"):
        return 0.0
    return discount * float(np.max(agent.evaluate(obs).q_values))
