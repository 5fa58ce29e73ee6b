"""Ape-X actors without Ray: each steps its own environment with a recent copy of the online network and its own
exploration rate, and hands over its steps in chunks; the learner stores a chunk into its replay.

A chunk carries each frame once: the stack the chunk starts from, then only the newest frame of every next
observation (the whole observation where nothing is stacked), plus the stack a reset produced after an episode's
end, all zlib-compressed. The learner rebuilds every (obs, next_obs) pair from them exactly, so a chunk of 50 Atari
steps is about 50 frames (a few KB compressed), never 400. n-step returns need nothing extra: the learner's
frame-once replay sums them from its stored steps when it samples (agents.replay), as the single-process agent's
does. Ray only moves these objects (agents.distributed.ray_training).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.config import DQNConfig
from agents.envs.game_options import GameOptions
from agents.envs.registry import EnvDescription, make_env
from agents.factory import observation_scale
from agents.networks import build_q_network
from agents.replay import ReplayBuffer, Source

APEX_BASE_EPSILON = 0.4
APEX_ALPHA = 7.0


def actor_epsilons(n: int) -> list[float]:
    """Ape-X's exploration rates: epsilon_i = 0.4 ^ (1 + 7 i / (N - 1)) for actor i of N (one actor: 0.4)."""
    if n < 1:
        raise ValueError("at least one actor")
    if n == 1:
        return [APEX_BASE_EPSILON]
    return [APEX_BASE_EPSILON ** (1 + APEX_ALPHA * i / (n - 1)) for i in range(n)]


def pack(array: np.ndarray) -> tuple[bytes, str, tuple[int, ...]]:
    """An array as (zlib bytes, dtype, shape): Atari frames shrink about tenfold at level 1."""
    data = np.ascontiguousarray(array)
    return zlib.compress(data.tobytes(), 1), data.dtype.str, tuple(data.shape)


def unpack(packed: tuple[bytes, str, tuple[int, ...]]) -> np.ndarray:
    data, dtype, shape = packed
    return np.frombuffer(zlib.decompress(data), dtype=np.dtype(dtype)).reshape(shape).copy()


@dataclass
class Chunk:
    """Consecutive steps of one actor."""

    actor: int
    continues: bool
    """The chunk goes on from the actor's previous one (False for the first after a start or a restart)."""
    start: tuple
    """pack()ed observation the first step was taken from."""
    frames: tuple
    """pack()ed (T, *frame) newest frame of each step's next observation."""
    actions: np.ndarray
    rewards: np.ndarray
    """What the agent learns from: Atari's clipped reward."""
    terminated: np.ndarray
    """No bootstrap after the step (a terminal, or Atari's lost life)."""
    truncated: np.ndarray
    episode_end: np.ndarray
    """The episode ended there: the next step starts from `resets[t]`."""
    explored: np.ndarray
    """The action was drawn at random by the actor's epsilon."""
    resets: dict[int, tuple] = field(default_factory=dict)
    finished: list[tuple[float, int, bool | None]] = field(default_factory=list)
    """(return, length, success) of the episodes that ended in the chunk (the environment's own reward)."""
    weights_version: int = -1

    @property
    def steps(self) -> int:
        return len(self.actions)


class ApexActor:
    """One environment, a copy of the online network, a fixed epsilon. Ray makes it an actor; tests use it as is."""

    def __init__(self, index: int, env_id: str, description: EnvDescription, config: DQNConfig, epsilon: float, *,
                 seed: int | None = None, map_text: str | None = None, game: GameOptions | None = None) -> None:
        torch.set_num_threads(1)  # an actor acts on one observation at a time: one core is all it can use
        self.index, self.epsilon, self.frame_stack = index, float(epsilon), description.frame_stack
        self.env = make_env(env_id, render_mode=None, seed=seed, map_text=map_text, game=game)
        self.network = build_q_network(config, description.obs_shape, len(description.action_names),
                                       observation_scale(description)).eval()
        self.n_actions = len(description.action_names)
        self.rng = np.random.default_rng(seed)
        self.version = -1
        # Exploring starts where the recipe asks for them (gridworld training: a random free cell), as the
        # single-process trainer's episodes begin.
        self.reset_options = {"random_start": True} if config.exploring_starts else None
        self.obs: np.ndarray | None = None
        self.episode_return, self.episode_length = 0.0, 0

    def pid(self) -> int:
        return os.getpid()

    def collect(self, weights: tuple[int, dict[str, Any]] | None, steps: int) -> Chunk:
        """Take `steps` steps with the newest weights the learner published ((version, state_dict), or None to keep
        the current ones)."""
        if weights is not None and weights[0] != self.version:
            self.version = weights[0]
            self.network.load_state_dict({name: torch.as_tensor(value) for name, value in weights[1].items()})
        continues = self.obs is not None
        if self.obs is None:
            self.obs, _ = self.env.reset(options=self.reset_options)
            self.episode_return, self.episode_length = 0.0, 0
        start, frames, resets, finished = self.obs, [], {}, []
        record = {name: [] for name in ("actions", "rewards", "terminated", "truncated", "episode_end", "explored")}
        for t in range(int(steps)):
            action, explored = self._act(self.obs)
            next_obs, reward, terminated, truncated, info = self.env.step(action)
            ended = bool(terminated or truncated)
            frames.append(next_obs[-1] if self.frame_stack > 1 else next_obs)
            for name, value in (("actions", action), ("rewards", info.get("learning_reward", reward)),
                                ("terminated", info.get("learning_terminated", terminated)),
                                ("truncated", truncated), ("episode_end", ended), ("explored", explored)):
                record[name].append(value)
            self.episode_return += float(reward)
            self.episode_length += 1
            if ended:
                finished.append((self.episode_return, self.episode_length, info.get("success")))
                self.episode_return, self.episode_length = 0.0, 0
                next_obs, _ = self.env.reset(options=self.reset_options)
                resets[t] = pack(next_obs)
            self.obs = next_obs
        return Chunk(self.index, continues, pack(start), pack(np.stack(frames)),
                     np.asarray(record["actions"], np.int64), np.asarray(record["rewards"], np.float32),
                     np.asarray(record["terminated"], bool), np.asarray(record["truncated"], bool),
                     np.asarray(record["episode_end"], bool), np.asarray(record["explored"], bool), resets, finished,
                     self.version)

    def _act(self, obs: np.ndarray) -> tuple[int, bool]:
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions)), True
        with torch.inference_mode():
            tensor = torch.from_numpy(np.array(obs, copy=True)).unsqueeze(0)
            return int(self.network(tensor).q.argmax(dim=1).item()), False


def store_chunk(replay: ReplayBuffer, chunk: Chunk, stream: int) -> None:
    """Rebuild the chunk's observations and store its steps in `stream` of the replay; a chunk that does not go on
    from the stream's last one starts a new segment there (nothing joins the two)."""
    if not chunk.continues:
        replay.interrupt([stream])
    obs, frames = unpack(chunk.start), unpack(chunk.frames)
    for t in range(chunk.steps):
        stacked = replay.frame_stack > 1
        next_obs = np.concatenate([obs[1:], frames[t][None]]) if stacked else frames[t]
        source = Source.EXPLORING if chunk.explored[t] else Source.GREEDY
        replay.add_to_stream(stream, obs, int(chunk.actions[t]), float(chunk.rewards[t]), next_obs,
                             bool(chunk.terminated[t]), bool(chunk.truncated[t]), bool(chunk.episode_end[t]), source)
        obs = unpack(chunk.resets[t]) if t in chunk.resets else next_obs


def network_weights(network: torch.nn.Module) -> dict[str, np.ndarray]:
    """The online network's weights as plain arrays (what the learner publishes to the actors)."""
    return {name: tensor.detach().cpu().float().numpy().copy() for name, tensor in network.state_dict().items()}
