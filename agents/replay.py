"""Experience replay (Lin 1992; Mnih et al. 2015) as a preallocated uint8 ring that stores each frame once.

An Atari observation is a stack of the last 4 frames, and consecutive observations share 3 of them.
Storing `obs` and `next_obs` whole would cost 8 frames a transition; this buffer stores 1 (plus one
extra frame per episode) and rebuilds stacks at sample time, padding an episode's start by repeating
its first frame exactly as gymnasium's FrameStackObservation does at reset.

Each of `num_envs` environments writes its own ring of `capacity // num_envs` slots, so stacks never
mix frames of two environments. Slot `t` of a ring holds frame f_t (the newest frame of s_t) and, once
s_{t+1} has arrived, the action, reward and flags of the transition s_t -> s_{t+1}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from agents.types import Batch

REWARD_HISTORY = 10_000


class RecentTransition(NamedTuple):
    """One stored transition, for the window's replay table."""

    obs_frame: np.ndarray
    """The newest frame of the observation ((84, 84) for Atari, the whole (4, H, W) grid otherwise)."""
    action: int
    reward: float
    terminated: bool
    truncated: bool
    index: int
    """Flat slot id, comparable with Batch.indices."""


@dataclass(frozen=True)
class ReplaySummary:
    """A copy of the buffer's state that may cross to another thread."""

    size: int
    capacity: int
    nbytes: int
    recent: tuple[RecentTransition, ...]
    last_sampled: np.ndarray
    recent_sampled: tuple[bool, ...]
    """For each of `recent`: was it in the last sampled batch."""
    reward_values: np.ndarray
    """Up to 10,000 of the most recently stored rewards (for a histogram)."""


class ReplayBuffer:
    """Uniform experience replay over `num_envs` rings of single frames."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], *, frame_stack: int = 1, num_envs: int = 1,
                 obs_dtype: np.dtype | type = np.uint8, seed: int | None = None) -> None:
        if capacity < 2 * num_envs:
            raise ValueError(f"capacity {capacity} is too small for {num_envs} environment streams")
        self.obs_shape = tuple(int(n) for n in obs_shape)
        self.frame_stack = int(frame_stack)
        self.frame_shape = self.obs_shape[1:] if self.frame_stack > 1 else self.obs_shape
        if self.frame_stack > 1 and self.obs_shape[0] != self.frame_stack:
            raise ValueError(f"obs_shape {obs_shape} does not start with the frame stack {frame_stack}")
        self.num_envs = int(num_envs)
        self.ring = capacity // self.num_envs
        self.capacity = self.ring * self.num_envs
        shape = (self.num_envs, self.ring)
        self.frames = np.zeros((*shape, *self.frame_shape), dtype=obs_dtype)
        self.actions = np.zeros(shape, dtype=np.int16)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        """A transition from this slot to the next one is stored."""
        self.first = np.zeros(shape, dtype=bool)
        """This slot's frame is the first of its episode."""
        self.cursor = np.zeros(self.num_envs, dtype=np.int64)
        self.written = np.zeros(self.num_envs, dtype=np.int64)
        self.in_episode = np.zeros(self.num_envs, dtype=bool)
        self.rng = np.random.default_rng(seed)
        self.last_sampled = np.zeros(0, dtype=np.int64)
        self._size = 0

    # ------------------------------------------------------------------------------------- storing

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """Transitions that can be sampled or shown (not slots)."""
        return self._size

    @property
    def nbytes(self) -> int:
        arrays = (self.frames, self.actions, self.rewards, self.terminated, self.truncated, self.valid, self.first)
        return int(sum(a.nbytes for a in arrays))

    @property
    def bytes_per_transition(self) -> float:
        return self.nbytes / self.capacity

    def add(self, obs: np.ndarray, action, reward, next_obs: np.ndarray, terminated, truncated,
            episode_end=None) -> None:
        """Store one step of every environment (leading axis num_envs, or unbatched for one env).

        `episode_end` (default: terminated or truncated) is where the observation stream restarts; Atari's
        life loss is a learning terminal that does not restart the frame stack.
        """
        batched = self.num_envs > 1 or np.ndim(action) == 1
        obs, next_obs = (obs, next_obs) if batched else (obs[None], next_obs[None])
        action, reward = np.reshape(action, -1), np.reshape(reward, -1)
        terminated, truncated = np.reshape(terminated, -1), np.reshape(truncated, -1)
        ends = (terminated | truncated) if episode_end is None else np.reshape(episode_end, -1)
        for env in range(self.num_envs):
            self._add_one(env, obs[env], int(action[env]), float(reward[env]), next_obs[env],
                          bool(terminated[env]), bool(truncated[env]), bool(ends[env]))

    def _add_one(self, env: int, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray,
                 terminated: bool, truncated: bool, episode_end: bool) -> None:
        if not self.in_episode[env]:
            self._write_frame(env, self._newest_frame(obs), first=True)
            self.in_episode[env] = True
        slot = (self.cursor[env] - 1) % self.ring
        self.actions[env, slot] = action
        self.rewards[env, slot] = reward
        self.terminated[env, slot] = terminated
        self.truncated[env, slot] = truncated
        self._write_frame(env, self._newest_frame(next_obs), first=False)
        self.valid[env, slot] = True
        self._size += 1
        if episode_end:
            self.in_episode[env] = False

    def _newest_frame(self, obs: np.ndarray) -> np.ndarray:
        return obs[-1] if self.frame_stack > 1 else obs

    def _write_frame(self, env: int, frame: np.ndarray, *, first: bool) -> None:
        slot = self.cursor[env]
        if self.valid[env, slot]:
            self._size -= 1
        self.valid[env, slot] = False
        self.first[env, slot] = first
        self.frames[env, slot] = frame
        self.cursor[env] = (slot + 1) % self.ring
        self.written[env] += 1

    # ------------------------------------------------------------------------------------ sampling

    def _sampleable(self, env: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Valid, and the k-1 slots of stack history behind it not yet overwritten by newer frames."""
        history_intact = (slot - self.cursor[env]) % self.ring >= self.frame_stack - 1
        wrapped = self.written[env] > self.ring
        return self.valid[env, slot] & (history_intact | ~wrapped)

    def sample(self, batch_size: int) -> Batch:
        """A uniform minibatch of stored transitions."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        filled = int(min(self.written.max(), self.ring))
        chosen_env = np.empty(0, dtype=np.int64)
        chosen_slot = np.empty(0, dtype=np.int64)
        while len(chosen_env) < batch_size:
            env = self.rng.integers(self.num_envs, size=2 * batch_size)
            slot = self.rng.integers(filled, size=2 * batch_size)
            keep = self._sampleable(env, slot)
            chosen_env = np.concatenate([chosen_env, env[keep]])
            chosen_slot = np.concatenate([chosen_slot, slot[keep]])
        env, slot = chosen_env[:batch_size], chosen_slot[:batch_size]
        self.last_sampled = env * self.ring + slot
        return Batch(
            observations=self._stacks(env, slot),
            actions=self.actions[env, slot].astype(np.int64),
            rewards=self.rewards[env, slot].copy(),
            next_observations=self._stacks(env, (slot + 1) % self.ring),
            dones=self.terminated[env, slot].astype(np.float32),
            indices=self.last_sampled.copy(),
        )

    def _stacks(self, env: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Observations ending at `slot`, padded at an episode start with that episode's first frame."""
        if self.frame_stack == 1:
            return self.frames[env, slot]
        k = self.frame_stack
        window = (slot[:, None] + np.arange(-(k - 1), 1)) % self.ring
        starts = self.first[env[:, None], window]
        # The latest episode start in the window: older columns repeat its frame.
        latest_start = np.where(starts.any(axis=1), k - 1 - np.argmax(starts[:, ::-1], axis=1), 0)
        columns = np.maximum(np.arange(k), latest_start[:, None])
        return self.frames[env[:, None], np.take_along_axis(window, columns, axis=1)]

    # ----------------------------------------------------------------------------------- inspecting

    def _recent_slots(self, n: int) -> list[tuple[int, int]]:
        """(env, slot) of up to n valid transitions, newest first, environments interleaved."""
        per_env = []
        for env in range(self.num_envs):
            back = (self.cursor[env] - 2 - np.arange(min(self.ring, n + 2 * n))) % self.ring
            slots = [int(s) for s in back if self.valid[env, s]][:n]
            per_env.append([(env, s) for s in slots])
        interleaved = [pair for group in zip(*per_env, strict=False) for pair in group]
        return interleaved[:n]

    def recent(self, n: int) -> list[RecentTransition]:
        """The n most recently stored transitions, newest first."""
        return [RecentTransition(self.frames[e, s].copy(), int(self.actions[e, s]), float(self.rewards[e, s]),
                                 bool(self.terminated[e, s]), bool(self.truncated[e, s]), e * self.ring + s)
                for e, s in self._recent_slots(n)]

    def rewards_stored(self, limit: int = REWARD_HISTORY) -> np.ndarray:
        """Rewards of up to `limit` of the most recently stored transitions."""
        pairs = self._recent_slots(min(limit, self._size))
        if not pairs:
            return np.zeros(0, np.float32)
        env, slot = np.array(pairs).T
        return self.rewards[env, slot].copy()

    def summary(self, n_recent: int = 16) -> ReplaySummary:
        """Copies of what the window's replay panel draws."""
        recent = tuple(self.recent(n_recent))
        sampled = set(self.last_sampled.tolist())
        return ReplaySummary(self._size, self.capacity, self.nbytes, recent, self.last_sampled.copy(),
                             tuple(t.index in sampled for t in recent), self.rewards_stored())

    # -------------------------------------------------------------------------------------- saving

    _ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "valid", "first", "cursor", "written",
               "in_episode", "last_sampled")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays (savez-able without pickle) that restore the buffer and its sampling stream exactly."""
        state = {name: getattr(self, name) for name in self._ARRAYS}
        state["size"] = np.array(self._size)
        state["rng"] = np.frombuffer(json.dumps(self.rng.bit_generator.state).encode(), dtype=np.uint8)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name in self._ARRAYS:
            current = getattr(self, name)
            value = np.asarray(state[name])
            if name != "last_sampled" and value.shape != current.shape:
                raise ValueError(f"replay array '{name}' has shape {value.shape}, expected {current.shape}")
            setattr(self, name, value.astype(current.dtype, copy=True))
        self._size = int(state["size"])
        self.rng.bit_generator.state = json.loads(bytes(np.asarray(state["rng"], dtype=np.uint8)).decode())
