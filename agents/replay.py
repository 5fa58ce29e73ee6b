"""Experience replay (Lin 1992; Mnih et al. 2015) as a preallocated ring that stores each frame once.

An Atari observation is a stack of the last 4 frames, and consecutive observations share 3 of them.
Storing `obs` and `next_obs` whole would cost 8 frames a transition; this buffer stores 1 (plus one
extra frame per episode) and rebuilds stacks at sample time, padding an episode's start by repeating
its first frame exactly as gymnasium's FrameStackObservation (padding_type="reset") does, so a sampled
stack equals, byte for byte, the observation the environment produced. With `frame_stack == 1` the whole
observation (e.g. a (4, H, W) gridworld) is the stored frame.

Layout. Each of the `num_envs` environment streams writes its own ring of `capacity // num_envs` slots
(the capacity is split evenly and rounded down), so stacks never mix frames of two environments. In a ring:

- slot t holds frame f_t, the newest frame of observation s_t, and the action, reward and flags of the
  transition s_t -> s_{t+1}, whose next frame is in slot t + 1;
- `age[t]`: how many frames f_t comes after its episode's first frame, the one the reset produced
  (0 for that frame, saturating at 255; `first` is `age == 0`);
- `valid[t]`: the transition from slot t to slot t + 1 is stored.

After an episode ends (terminated or truncated, or `episode_end` when given), slot t + 1 holds the final
frame with `valid` False and the next episode starts at slot t + 2. Capacity therefore counts frame slots:
a ring holds `ring` slots, i.e. `ring` transitions minus one per episode in it.

Segments. A stored transition joins two slots only if they were one real step apart. The stream of an
environment is interrupted whenever steps go unstored (the window's Agent play between two stretches of
training), the environment is reset outside an episode end (Restart, a resume) or the buffer is restored
from a save: the caller says so with `interrupt()`, and `add` also checks that the `obs` it is given is,
byte for byte, the observation its stream's newest slot holds. Either way the old segment is closed (its
newest slot keeps `valid` False) and a new one begins with the frames of `obs`: all of them that differ
from the padding, so a segment that starts mid-episode rebuilds the very stack the environment produced.
`age` then counts frames since the segment's first frame.

A slot is sampled only if it is valid and its stack history (min(age, k - 1) slots back) has not yet
been overwritten by the ring's cursor; its next slot is written after it and so is always intact while
it is valid. Sampling is uniform over those slots (rejection sampling; no Python loop over the batch).

Sources. Each slot also says who produced its transition (`sources`, one byte: `Source`): the agent
exploring (a random action drawn by epsilon), the agent acting greedily, or a person; UNKNOWN for a buffer
saved before sources were kept. The window's replay browser filters by it.

Memory per slot: one frame (84 * 84 = 7056 bytes for Atari), the action (uint8 when `n_actions` <= 256
is given, else int16), a float32 reward and five one-byte fields: 7066-7067 bytes a transition.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from agents.types import Batch, SampledBatch

REWARD_HISTORY = 10_000
"""How many of the most recent rewards `rewards_stored()` and `summary()` return by default."""

MAX_N_STEP = 100
"""Longest n-step return a buffer computes (each step is one vectorised pass over the batch)."""

_REDRAWS = 32
"""Rejection-sampling rounds before falling back to enumerating every sampleable slot."""


class Source(IntEnum):
    """Who produced a stored transition (one byte per slot)."""

    UNKNOWN = 0
    """Stored before sources were kept (an older save), or by a caller that did not say."""
    EXPLORING = 1
    """The agent, with a random action drawn by its epsilon."""
    GREEDY = 2
    """The agent, with its greedy action."""
    HUMAN = 3
    """A person (human play recorded into the replay)."""

    @property
    def label(self) -> str:
        return {Source.UNKNOWN: "unknown", Source.EXPLORING: "agent exploring", Source.GREEDY: "agent greedy",
                Source.HUMAN: "human"}[self]


class RecentTransition(NamedTuple):
    """One stored transition, for the window's replay table."""

    obs_frame: np.ndarray
    """The newest frame of the observation ((84, 84) for Atari, the whole (4, H, W) grid otherwise)."""
    action: int
    reward: float
    terminated: bool
    truncated: bool
    index: int
    """Flat slot id (env * ring + slot), comparable with Batch.indices."""


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
    last_batch: SampledBatch | None = None
    """The agent's last minibatch with its Q-values and targets (the agent adds it: the buffer has no network)."""


def _action_dtype(n_actions: int | None) -> np.dtype:
    """The smallest integer type that holds every action (int16 when the count is unknown)."""
    if n_actions is None:
        return np.dtype(np.int16)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_actions - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


class ReplayBuffer:
    """Uniform experience replay over `num_envs` rings of single frames (see the module docstring)."""

    _ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "valid", "age", "sources", "cursor",
               "written", "in_episode")
    """The arrays `state_dict()` saves besides the counters, the RNG state and the last batch."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], *, frame_stack: int = 1,
                 num_envs: int = 1, obs_dtype: DTypeLike = np.uint8, seed: int | None = None,
                 n_actions: int | None = None, n_step: int = 1, gamma: float = 0.99) -> None:
        if not 1 <= n_step <= MAX_N_STEP:
            raise ValueError(f"n_step must be between 1 and {MAX_N_STEP}, not {n_step}")
        self.n_step = int(n_step)
        """Transitions sampled span up to this many stored steps (see `_n_step_returns`)."""
        self.gamma = float(gamma)
        """Discount of the n-step returns (unused when n_step is 1)."""
        if num_envs < 1 or capacity < 2 * num_envs:
            raise ValueError(f"capacity {capacity} is too small for {num_envs} environment streams "
                             "(each needs at least 2 slots)")
        if frame_stack < 1:
            raise ValueError(f"frame_stack must be at least 1, not {frame_stack}")
        self.obs_shape = tuple(int(n) for n in obs_shape)
        self.frame_stack = int(frame_stack)
        if self.frame_stack > 1 and (len(self.obs_shape) < 2 or self.obs_shape[0] != self.frame_stack):
            raise ValueError(f"obs_shape {tuple(obs_shape)} does not start with the frame stack "
                             f"{frame_stack}")
        self.frame_shape = self.obs_shape[1:] if self.frame_stack > 1 else self.obs_shape
        self.num_envs = int(num_envs)
        self.ring = int(capacity) // self.num_envs
        """Slots per environment stream."""
        self.capacity = self.ring * self.num_envs
        shape = (self.num_envs, self.ring)
        self.frames = np.zeros((*shape, *self.frame_shape), dtype=obs_dtype)
        self.actions = np.zeros(shape, dtype=_action_dtype(n_actions))
        self._action_limit = int(n_actions) if n_actions is not None else int(np.iinfo(np.int16).max) + 1
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        """A transition from this slot to the next one is stored."""
        self.age = np.full(shape, 255, dtype=np.uint8)
        """Frames since this slot's episode began (0: the reset frame; 255: unwritten or >= 255)."""
        self.sources = np.zeros(shape, dtype=np.uint8)
        """Who produced the transition from this slot (a `Source`)."""
        self.cursor = np.zeros(self.num_envs, dtype=np.int64)
        """Per stream, the slot the next frame goes to (the oldest frame, once the ring has wrapped)."""
        self.written = np.zeros(self.num_envs, dtype=np.int64)
        """Per stream, frames written since the buffer was created (> ring: the ring has wrapped)."""
        self.in_episode = np.zeros(self.num_envs, dtype=bool)
        """Per stream, the newest frame continues an episode (else the next add starts one)."""
        self.rng = np.random.default_rng(seed)
        self.last_sampled = np.zeros(0, dtype=np.int64)
        self._size = 0
        self._envs = np.arange(self.num_envs)
        self._flat_frames = self.frames.reshape(self.capacity, *self.frame_shape)
        self._behind = np.arange(self.frame_stack - 1, -2, -1)
        """Slots behind s of the window s-k+1 .. s+1 that holds both stacks of the transition from slot s."""
        self._stacks = np.empty((2, 0, *self.obs_shape), dtype=self.frames.dtype)
        """The last batch's observation storage, reused once nothing outside the buffer refers to it."""
        self._unshared_refs = sys.getrefcount(self._stacks)
        """What getrefcount says of `_stacks` while only the buffer holds it (measured, not assumed)."""

    @property
    def first(self) -> np.ndarray:
        """Per slot: its frame is the first of an episode (what a reset produced)."""
        return self.age == 0

    # ------------------------------------------------------------------------------------------ sizes

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """Transitions stored (valid slots), not frames."""
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes of every array the buffer holds (the frame array is allocated once, at full size)."""
        return int(sum(getattr(self, name).nbytes for name in self._ARRAYS))

    @property
    def bytes_per_transition(self) -> float:
        """nbytes / capacity: one frame plus 8 bytes or so of action, reward and flags."""
        return self.nbytes / self.capacity

    # ---------------------------------------------------------------------------------------- storing

    def add(self, obs: ArrayLike, action: ArrayLike, reward: ArrayLike, next_obs: ArrayLike,
            terminated: ArrayLike, truncated: ArrayLike, episode_end: ArrayLike | None = None,
            source: ArrayLike = Source.UNKNOWN) -> None:
        """Store one step of every environment: a leading num_envs axis (or unbatched for one env).

        `reward` is stored as given (pass the clipped learning reward). `episode_end` (default: terminated or
        truncated) is where the observation stream restarts; Atari's life loss is a learning terminal that
        does not restart the frame stack, so there `terminated` is True and `episode_end` False. `source`: who
        produced each step (a `Source`, one for all or one per environment).
        """
        obs, next_obs = self._batched(obs), self._batched(next_obs)
        n = self.num_envs
        actions = np.asarray(action).reshape(n).tolist()
        rewards = np.asarray(reward, dtype=np.float32).reshape(n).tolist()
        terminated = np.asarray(terminated, dtype=bool).reshape(n).tolist()
        truncated = np.asarray(truncated, dtype=bool).reshape(n).tolist()
        ends = [a or b for a, b in zip(terminated, truncated, strict=True)] if episode_end is None else \
            np.asarray(episode_end, dtype=bool).reshape(n).tolist()
        sources = np.broadcast_to(np.asarray(source, dtype=np.uint8), (n,)).tolist()
        for env in range(n):
            if not 0 <= actions[env] < self._action_limit:
                raise ValueError(f"action {actions[env]} out of range 0..{self._action_limit - 1}")
        if self.frame_stack > 1 and not all(_same_bytes(next_obs[env, :-1], obs[env, 1:]) for env in range(n)):
            raise ValueError("next_obs is not obs moved on by one frame: a frame-stacked buffer needs the stacks "
                             "an environment step produced")
        # Python scalars and one stream at a time: a few scalar stores beat a dozen fancy-index calls.
        for env in range(n):
            self._store(env, obs[env], actions[env], rewards[env], next_obs[env], terminated[env], truncated[env],
                        ends[env], sources[env])

    def add_to_stream(self, stream: int, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray,
                      terminated: bool, truncated: bool, episode_end: bool, source: int = Source.UNKNOWN) -> None:
        """Store one step of one stream alone (streams that arrive at their own pace: distributed actors)."""
        if not 0 <= stream < self.num_envs:
            raise ValueError(f"stream {stream} out of range 0..{self.num_envs - 1}")
        if not 0 <= int(action) < self._action_limit:
            raise ValueError(f"action {action} out of range 0..{self._action_limit - 1}")
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        if obs.shape != self.obs_shape or next_obs.shape != self.obs_shape:
            raise ValueError(f"observations of shape {obs.shape} do not fit {self.obs_shape}")
        if self.frame_stack > 1 and not _same_bytes(next_obs[:-1], obs[1:]):
            raise ValueError("next_obs is not obs moved on by one frame")
        self._store(stream, obs, int(action), float(reward), next_obs, bool(terminated), bool(truncated),
                    bool(episode_end), int(source))

    def _store(self, env: int, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool,
               truncated: bool, episode_end: bool, source: int) -> None:
        if not (self.in_episode[env] and self._continues(env, obs)):
            self._start_segment(env, obs)
        slot = int(self.cursor[env]) - 1
        if slot < 0:
            slot += self.ring
        self.actions[env, slot] = action
        self.rewards[env, slot] = reward
        self.terminated[env, slot] = terminated
        self.truncated[env, slot] = truncated
        self.sources[env, slot] = source
        self._write_frame(env, next_obs, min(int(self.age[env, slot]) + 1, 255))
        self.valid[env, slot] = True
        self.in_episode[env] = not episode_end
        self._size += 1

    def interrupt(self, envs: ArrayLike | None = None) -> None:
        """The observation stream of these environments (default: all) broke off: a reset that did not follow an
        episode end, or steps that were not stored. Their next `add` starts a new segment from its `obs`."""
        self.in_episode[slice(None) if envs is None else np.asarray(envs, dtype=np.int64)] = False

    def _continues(self, env: int, obs: np.ndarray) -> bool:
        """`obs` is exactly the observation the stream's newest slot holds (so the stream goes on from it)."""
        newest = int(self.cursor[env]) - 1
        if newest < 0:
            newest += self.ring
        if self.frame_stack == 1:
            return _same_bytes(self.frames[env, newest], obs)
        back = min(int(self.age[env, newest]), self.frame_stack - 1)
        if self.written[env] < back + 1:
            return False
        first = newest - (self.frame_stack - 1)
        if back == self.frame_stack - 1 and first >= 0:  # the usual case: one contiguous view, one comparison
            return _same_bytes(self.frames[env, first:newest + 1], obs)
        window = ((newest - np.minimum(self._behind[:-1], back)) % self.ring).tolist()
        return all(_same_bytes(self.frames[env, slot], frame) for slot, frame in zip(window, obs, strict=True))

    def _start_segment(self, env: int, obs: np.ndarray) -> None:
        """Write the frames of `obs` that a reset-style stack (leading frames repeating the first) cannot pad:
        one for a fresh episode's stack, up to frame_stack for a stack taken mid-episode."""
        if self.frame_stack == 1:
            self._write_frame(env, obs, 0)
            return
        first = 0
        while first + 1 < self.frame_stack and np.array_equal(obs[first + 1], obs[0]):
            first += 1
        for age, frame in enumerate(range(first, self.frame_stack)):
            self._write_frame(env, obs[frame:frame + 1], age)

    def _batched(self, obs: ArrayLike) -> np.ndarray:
        """(num_envs, *obs_shape), accepting one unbatched observation when there is one environment."""
        obs = np.asarray(obs)
        if obs.shape == self.obs_shape and self.num_envs == 1:
            return obs[None]
        if obs.shape != (self.num_envs, *self.obs_shape):
            raise ValueError(f"observations of shape {obs.shape} do not fit {self.num_envs} environment(s) "
                             f"of {self.obs_shape}")
        return obs

    def _write_frame(self, env: int, obs: np.ndarray, age: int) -> None:
        """Write the newest frame of `obs` at the stream's cursor, dropping the (oldest) transition there."""
        slot = int(self.cursor[env])
        if self.valid[env, slot]:
            self.valid[env, slot] = False
            self._size -= 1
        self.age[env, slot] = age
        self.frames[env, slot] = obs[-1] if self.frame_stack > 1 else obs
        self.cursor[env] = slot + 1 if slot + 1 < self.ring else 0
        self.written[env] += 1

    # --------------------------------------------------------------------------------------- sampling

    def sample(self, batch_size: int) -> Batch:
        """A uniform minibatch (with replacement) of the stored transitions whose stacks are intact."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        env, slot, back = self._draw(int(batch_size))
        self.last_sampled = env * self.ring + slot
        return self._gather(env, slot, back, self._stack_storage(int(batch_size)))

    def sampleable(self) -> np.ndarray:
        """Flat ids (env * ring + slot) of every transition `sample` may draw now, oldest slot first."""
        env, slot = np.divmod(np.arange(self.capacity), self.ring)
        return np.flatnonzero(self._check(env, slot)[1])

    def transitions(self, flat_ids: ArrayLike) -> Batch:
        """The stored transitions at these flat ids, as a Batch (fresh arrays; the ids must be sampleable)."""
        env, slot = np.divmod(np.asarray(flat_ids, dtype=np.int64).reshape(-1), self.ring)
        back, ok = self._check(env, slot)
        if not ok.all():
            raise ValueError(f"slot {int((env * self.ring + slot)[~ok][0])} holds no sampleable transition")
        return self._gather(env, slot, back, np.empty((2, len(env), *self.obs_shape), dtype=self.frames.dtype))

    def _gather(self, env: np.ndarray, slot: np.ndarray, back: np.ndarray, stacks: np.ndarray) -> Batch:
        """The transitions at (env, slot), their stacks rebuilt into `stacks` ((2, B, *obs_shape))."""
        flat = env * self.ring + slot
        if self.n_step > 1:
            rewards, dones, steps, discounts = self._n_step_returns(env, slot)
        else:
            rewards, dones = self.rewards.reshape(-1)[flat], self.terminated.reshape(-1)[flat].astype(np.float32)
            steps, discounts = 1, None
        # Window s-k+1 .. s+m; columns older than the segment's first frame repeat it, as FrameStackObservation
        # pads at reset. obs is columns s-k+1 .. s, next_obs s+m-k+1 .. s+m (s+1 .. s+m never start a segment).
        k = self.frame_stack
        behind = np.arange(k - 1, -1, -1)
        offsets = np.maximum(-behind, -back[:, None])
        next_offsets = np.maximum(np.reshape(steps, (-1, 1)) - behind, -back[:, None])
        base = (env * self.ring)[:, None]
        obs_ids = (slot[:, None] + offsets) % self.ring + base
        next_ids = (slot[:, None] + next_offsets) % self.ring + base
        if k == 1:
            obs_ids, next_ids = obs_ids[:, 0], next_ids[:, 0]
        # mode="clip" (the ids are in range anyway) spares take a buffered copy into `out`.
        np.take(self._flat_frames, obs_ids, axis=0, out=stacks[0], mode="clip")
        np.take(self._flat_frames, next_ids, axis=0, out=stacks[1], mode="clip")
        return Batch(
            observations=stacks[0],
            actions=self.actions.reshape(-1)[flat].astype(np.int64),
            rewards=rewards,
            next_observations=stacks[1],
            dones=dones,
            indices=flat.copy(),
            discounts=discounts,
        )

    def _n_step_returns(self, env: np.ndarray, slot: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """n-step targets' parts for the transitions at (env, slot): (return, done, m, gamma^m).

        From slot s the walk takes the stored steps s, s+1, ... s+m-1, m <= n, and stops early after a step
        that terminated (a lost life included: done, no bootstrap), was truncated (bootstrap from the final
        observation) or whose next slot holds no stored transition (an episode end, a segment seam, or the
        newest frame: the ring's cursor is never passed). return = sum_j gamma^j r_(s+j); the state to
        bootstrap from is s+m.
        """
        flat_base = env * self.ring
        rewards = self.rewards.reshape(-1)[flat_base + slot].astype(np.float64)
        terminated = self.terminated.reshape(-1)[flat_base + slot].copy()
        going = ~(terminated | self.truncated.reshape(-1)[flat_base + slot])
        steps = np.ones(len(slot), dtype=np.int64)
        for j in range(1, self.n_step):
            at = flat_base + (slot + j) % self.ring
            going &= self.valid.reshape(-1)[at]
            if not going.any():
                break
            rewards += np.where(going, self.gamma ** j * self.rewards.reshape(-1)[at], 0.0)
            steps += going
            step_terminated = self.terminated.reshape(-1)[at]
            terminated = np.where(going, step_terminated, terminated)
            going &= ~(step_terminated | self.truncated.reshape(-1)[at])
        discounts = (self.gamma ** steps).astype(np.float32)
        return rewards.astype(np.float32), terminated.astype(np.float32), steps, discounts

    def _stack_storage(self, batch_size: int) -> np.ndarray:
        """(2, B, *obs_shape) storage for a batch's obs and next_obs.

        The previous batch's storage is reused when nothing outside the buffer refers to it any more (the
        Batch, its arrays and any tensor made from them are gone): a fresh 2 MB block per call costs as much
        in page faults as the copy itself. Anything still holding the old batch keeps it intact.
        """
        if self._stacks.shape[1] != batch_size or sys.getrefcount(self._stacks) != self._unshared_refs:
            self._stacks = np.empty((2, batch_size, *self.obs_shape), dtype=self.frames.dtype)
        return self._stacks

    def _draw(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rejection-sample (env, slot) among sampleable slots, with the frames each stack needs behind it."""
        filled = min(int(self.written.max()), self.ring)
        env, slot = self._uniform(filled, batch_size)
        back, ok = self._check(env, slot)
        for _ in range(_REDRAWS):
            if ok.all():
                return env, slot, back
            bad = np.flatnonzero(~ok)
            env[bad], slot[bad] = self._uniform(filled, len(bad))
            back[bad], ok[bad] = self._check(env[bad], slot[bad])
        return self._draw_exactly(batch_size)

    def _uniform(self, filled: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n (env, slot) pairs uniform over every stream's first `filled` slots."""
        if self.num_envs == 1:
            return np.zeros(n, dtype=np.int64), self.rng.integers(filled, size=n)
        return np.divmod(self.rng.integers(self.num_envs * filled, size=n), filled)

    def _draw_exactly(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Uniform draw from an explicit list of sampleable slots, for when almost every slot is rejected."""
        env, slot = np.divmod(np.arange(self.capacity), self.ring)
        back, ok = self._check(env, slot)
        candidates = np.flatnonzero(ok)
        if len(candidates) == 0:
            raise ValueError("no stored transition can be sampled yet (the ring is too small for the stack)")
        chosen = candidates[self.rng.integers(len(candidates), size=batch_size)]
        return env[chosen], slot[chosen], back[chosen]

    def _check(self, env: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How many frames behind slot s its stack needs (up to its episode's first frame, at most k - 1), and
        whether (env, s) may be sampled: valid, with each of those frames still in the ring."""
        flat = env * self.ring + slot
        back = np.minimum(self.age.reshape(-1)[flat], self.frame_stack - 1).astype(np.int64)
        ok = self.valid.reshape(-1)[flat]
        if self.frame_stack > 1 and self.written.max() > self.ring:
            # The cursor's slot holds the oldest frame and the slots just behind it the newest: a stack
            # needing `back` frames behind slot s is intact while s is >= `back` slots ahead of the cursor.
            ahead = (slot - self.cursor[env]) % self.ring
            ok &= (ahead >= back) | (self.written[env] <= self.ring)
        return back, ok

    # ------------------------------------------------------------------------------------- inspecting

    def _recent_flat(self, n: int) -> np.ndarray:
        """Flat ids of up to n stored transitions, newest first.

        Every add stores exactly one transition per stream, so the j-th newest of every stream came from the
        same add: newest first is "by j, then by stream".
        """
        n = min(int(n), self._size)
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        back = min(self.ring, n + n // 2 + 16)  # valid slots are dense: a few episode-end frames in between
        while True:
            slots = (self.cursor[:, None] - 2 - np.arange(back)) % self.ring  # (envs, back), newest first
            valid = self.valid[self._envs[:, None], slots]
            if back == self.ring or valid.sum() >= n:
                break
            back = min(self.ring, 2 * back)
        rank = np.cumsum(valid, axis=1) - 1  # j: how many newer stored transitions the stream has
        order = np.argsort(rank[valid], kind="stable")  # stable: streams stay in order within a rank
        flat = (self._envs[:, None] * self.ring + slots)[valid][order]
        return flat[:n]

    def recent(self, n: int) -> list[RecentTransition]:
        """The n most recently stored transitions, newest first (copies)."""
        flat = self._recent_flat(n)
        env, slot = np.divmod(flat, self.ring)
        return [RecentTransition(self.frames[e, s].copy(), int(self.actions[e, s]), float(self.rewards[e, s]),
                                 bool(self.terminated[e, s]), bool(self.truncated[e, s]), int(i))
                for e, s, i in zip(env.tolist(), slot.tolist(), flat.tolist(), strict=True)]

    def rewards_stored(self, limit: int = REWARD_HISTORY) -> np.ndarray:
        """Rewards of up to `limit` of the most recently stored transitions, newest first (a copy)."""
        return self.rewards.reshape(-1)[self._recent_flat(limit)]

    def summary(self, n_recent: int = 16) -> ReplaySummary:
        """Copies of what the window's replay panel draws (safe to hand to another thread)."""
        recent = tuple(self.recent(n_recent))
        sampled = np.isin([t.index for t in recent], self.last_sampled)
        return ReplaySummary(self._size, self.capacity, self.nbytes, recent, self.last_sampled.copy(),
                             tuple(bool(s) for s in sampled), self.rewards_stored())

    # ------------------------------------------------------------------------------------------ saving

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays (savez-able without pickle) that restore the buffer and its sampling stream exactly.

        The big arrays are the buffer's own (not copies): save them before the next `add`.
        """
        state = {name: getattr(self, name) for name in self._ARRAYS}
        state["last_sampled"] = self.last_sampled
        state["size"] = np.array(self._size, dtype=np.int64)
        state["layout"] = np.array([self.num_envs, self.ring, self.frame_stack], dtype=np.int64)
        state["rng"] = np.frombuffer(json.dumps(self.rng.bit_generator.state).encode(), dtype=np.uint8)
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore a `state_dict()` in place, re-laid for this buffer's number of streams if it had another."""
        self.restore(_InMemoryReplay(state))

    def restore(self, saved: SavedReplay) -> None:
        """Restore a saved buffer in place, reading its frames in chunks straight into this buffer's own array
        (so loading costs about one copy of the replay, not two). Every shape is checked before anything is
        written; on a failure the buffer is untouched unless the frames themselves turn out unreadable, and
        then it is left empty.

        The same layout (streams, ring, stack) restores exactly, sampling stream included. Another number of
        streams or another capacity re-lays the saved frames, each stream's oldest to newest, into this
        buffer's rings (dropping the oldest when they do not fit) and cuts a seam wherever two pieces meet.
        An exact restore keeps each stream's open segment (the caller interrupts it when it resets its
        environments, and `add` checks its obs anyway); a re-laid buffer starts every stream anew.
        """
        n_old, ring_old, stack = saved.layout()
        if stack is not None and stack != self.frame_stack:
            raise ValueError(f"saved replay stacks {stack} frames, this agent {self.frame_stack}")
        if n_old < 1 or ring_old < 2:
            raise ValueError(f"saved replay has a bad layout ({n_old} streams of {ring_old} slots)")
        per_slot = {name: saved.array(name, (n_old, ring_old)) for name in _PER_SLOT}
        cursor = saved.array("cursor", (n_old,)).astype(np.int64)
        written = saved.array("written", (n_old,)).astype(np.int64)
        if (cursor < 0).any() or (cursor >= ring_old).any() or (written < 0).any():
            raise ValueError("saved replay has a cursor outside its ring")
        if per_slot["actions"].max(initial=0) >= self._action_limit or per_slot["actions"].min(initial=0) < 0:
            raise ValueError(f"saved replay holds actions beyond 0..{self._action_limit - 1}")
        if per_slot["age"].min(initial=0) < 0 or per_slot["age"].max(initial=0) > 255:
            raise ValueError("saved replay has frame ages outside 0..255")
        per_slot["sources"] = (saved.array("sources", (n_old, ring_old)) if saved.has("sources")
                               else np.zeros((n_old, ring_old), np.uint8))  # saved before sources were kept
        if per_slot["sources"].min(initial=0) < 0 or per_slot["sources"].max(initial=0) > max(Source):
            raise ValueError(f"saved replay has transition sources outside 0..{int(max(Source))}")
        exact = (n_old, ring_old) == (self.num_envs, self.ring)
        rng, last_sampled = self.rng, np.zeros(0, dtype=np.int64)
        if exact:
            rng = saved.rng()
            last_sampled = saved.array("last_sampled", None).astype(np.int64).reshape(-1)
            if len(last_sampled) > self.capacity or ((last_sampled < 0) | (last_sampled >= self.capacity)).any():
                last_sampled = np.zeros(0, dtype=np.int64)
            in_episode = saved.array("in_episode", (n_old,)).astype(bool) if saved.has("in_episode") else False
            source, dest = np.arange(self.capacity), np.arange(self.capacity)
            valid = per_slot["valid"].reshape(-1)
            new_cursor, new_written = cursor, written
        else:
            source, dest, valid, new_cursor, new_written = self._relayout(per_slot, cursor, written, ring_old)
        chunks = saved.frame_chunks(self.frame_shape, self.frames.dtype)
        first = next(chunks, None)  # the frames' shape and type are checked before the buffer changes
        self._clear()
        try:
            flat_dest = np.full(n_old * ring_old, -1, dtype=np.int64)
            flat_dest[source] = dest
            for name in per_slot:
                if name != "valid":  # valid comes from `valid`, which the re-layout may have cut
                    getattr(self, name).reshape(-1)[dest] = per_slot[name].reshape(-1)[source]
            self.valid.reshape(-1)[dest] = valid
            for start, chunk in itertools.chain([first] if first is not None else [], chunks):
                rows = flat_dest[start:start + len(chunk)]
                keep = rows >= 0
                self._flat_frames[rows[keep]] = chunk[keep]
        except BaseException:
            self._clear()
            raise
        self.cursor[...], self.written[...] = new_cursor, new_written
        if exact:  # the stream may go on; an `add` whose obs is not its newest observation starts a new one
            self.in_episode[...] = in_episode
        self._size = int(self.valid.sum())
        self.last_sampled, self.rng = last_sampled, rng

    def _clear(self) -> None:
        """Empty every stream (the frame array keeps its memory)."""
        self.valid[...] = False
        self.age[...] = 255
        self.cursor[...] = 0
        self.written[...] = 0
        self.in_episode[...] = False
        self._size = 0
        self.last_sampled = np.zeros(0, dtype=np.int64)

    def _relayout(self, per_slot: dict[str, np.ndarray], cursor: np.ndarray, written: np.ndarray, ring_old: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Where each saved slot goes when the streams or the ring size changed.

        Returns (source flat ids, their destination flat ids, their new valid flags, cursor, written). Every saved
        stream is read oldest to newest; the streams follow each other, the oldest slots are dropped when the
        total exceeds this buffer, and the sequence is split evenly over this buffer's rings, each filled from
        slot 0. A slot stays valid only if its next frame follows it in the same ring and its stack's history
        (min(age, k - 1) frames back) precedes it in the same piece.
        """
        k = self.frame_stack
        age = per_slot["age"]
        pieces = []
        for env in range(len(cursor)):
            slots = np.arange(min(int(written[env]), ring_old))
            if written[env] > ring_old:
                slots = (slots + cursor[env]) % ring_old
            pieces.append(env * ring_old + slots)
        excess = sum(len(p) for p in pieces) - self.capacity
        for i in range(len(pieces)):
            drop = min(max(excess, 0), len(pieces[i]))
            pieces[i], excess = pieces[i][drop:], excess - drop
        flat_age = age.reshape(-1).astype(np.int64)
        flat_valid = per_slot["valid"].reshape(-1)
        keep = [flat_valid[p] & _history_within(flat_age[p], k) for p in pieces]
        source = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        valid = np.concatenate(keep) if keep else np.zeros(0, bool)
        lengths = [len(part) for part in np.array_split(np.arange(len(source)), self.num_envs)]
        dest_parts, start = [], 0
        for env, length in enumerate(lengths):
            slots = np.arange(length)
            dest_parts.append(env * self.ring + slots)
            if length:
                valid[start + length - 1] = False  # its next frame would be in another ring
                valid[start:start + length] &= _history_within(flat_age[source[start:start + length]], k)
            start += length
        dest = np.concatenate(dest_parts)
        lengths_array = np.array(lengths, dtype=np.int64)
        return source, dest, valid, lengths_array % self.ring, lengths_array


_PER_SLOT = ("actions", "rewards", "terminated", "truncated", "valid", "age")
"""The small per-slot arrays of a saved buffer (the frames are read separately, in chunks)."""


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Byte-equal arrays of one shape; compared eight bytes at a time where the layout allows (4x faster on an
    84x84 frame than element by element, and this runs on every add)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.flags.c_contiguous and b.flags.c_contiguous and a.nbytes % 8 == 0 and a.nbytes:
        a, b = a.reshape(-1).view(np.uint64), b.reshape(-1).view(np.uint64)
    return bool((a == b).all())


def _history_within(age: np.ndarray, k: int) -> np.ndarray:
    """For a run of consecutive slots: the frames each one's stack needs lie inside the run."""
    return np.minimum(age, k - 1) <= np.arange(len(age))


class SavedReplay(Protocol):
    """A saved buffer, as `ReplayBuffer.restore` reads it: shapes first, then the arrays, frames in chunks.

    Every method raises ValueError when what is saved does not have the shape asked for, before reading it.
    """

    def layout(self) -> tuple[int, int, int | None]:
        """(streams, slots per stream, frame stack) of the saved buffer (stack None: not recorded)."""
        ...

    def has(self, name: str) -> bool:
        """The save holds this array (older saves lack some)."""
        ...

    def array(self, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
        """A small array, checked to have `shape` (None: any 1-D array of at most a few MB)."""
        ...

    def rng(self) -> np.random.Generator:
        """The saved sampling generator."""
        ...

    def frame_chunks(self, frame_shape: tuple[int, ...], dtype: np.dtype) -> Iterator[tuple[int, np.ndarray]]:
        """(first flat slot, frames) chunks of the saved (streams * slots, *frame_shape) frames, in order."""
        ...


class _InMemoryReplay:
    """A `state_dict()` (or an older save's arrays) as a SavedReplay."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = dict(state)
        if "age" not in self.state and "first" in self.state:  # saved before ages replaced episode-start flags
            self.state["age"] = _age_from_first(np.asarray(self.state["first"], dtype=bool),
                                                np.asarray(self.state["cursor"]))

    def layout(self) -> tuple[int, int, int | None]:
        frames = np.asarray(self.state["frames"])
        if "layout" in self.state:
            n, ring, k = (int(x) for x in np.asarray(self.state["layout"]).reshape(-1))
        else:
            n, ring, k = frames.shape[0], frames.shape[1], None  # older saves: the agent's own stack
        if frames.shape[:2] != (n, ring):
            raise ValueError(f"replay array 'frames' has shape {frames.shape}, expected ({n}, {ring}, ...)")
        return n, ring, k

    def has(self, name: str) -> bool:
        return name in self.state

    def array(self, name: str, shape: tuple[int, ...] | None) -> np.ndarray:
        value = np.asarray(self.state[name])
        if shape is not None and value.shape != shape:
            raise ValueError(f"replay array '{name}' has shape {value.shape}, expected {shape}")
        return value

    def rng(self) -> np.random.Generator:
        return generator_from_json(bytes(np.asarray(self.state["rng"], dtype=np.uint8)))

    def frame_chunks(self, frame_shape: tuple[int, ...], dtype: np.dtype) -> Iterator[tuple[int, np.ndarray]]:
        frames = np.asarray(self.state["frames"])
        if frames.shape[2:] != tuple(frame_shape) or frames.dtype != dtype:
            raise ValueError(f"saved frames are {frames.dtype} {frames.shape[2:]}, expected {dtype} {frame_shape}")
        yield 0, frames.reshape(-1, *frame_shape)


def generator_from_json(text: bytes) -> np.random.Generator:
    """A NumPy generator from its bit generator's JSON state (as `state_dict()` writes it)."""
    state = json.loads(text.decode())
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        raise ValueError("saved replay has an unknown random generator")
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


def _age_from_first(first: np.ndarray, cursor: np.ndarray) -> np.ndarray:
    """Ages rebuilt from episode-start flags, walking each ring from its oldest slot (the cursor's)."""
    age = np.full(first.shape, 255, dtype=np.uint8)
    steps = np.arange(first.shape[1])
    for env in range(first.shape[0]):
        order = (int(cursor[env]) + steps) % first.shape[1]
        latest_start = np.maximum.accumulate(np.where(first[env, order], steps, -(1 << 30)))
        age[env, order] = np.minimum(steps - latest_start, 255)
    return age
