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

A slot is sampled only if it is valid and its stack history (min(age, k - 1) slots back) has not yet
been overwritten by the ring's cursor; its next slot is written after it and so is always intact while
it is valid. Sampling is uniform over those slots (rejection sampling; no Python loop over the batch).

Memory per slot: one frame (84 * 84 = 7056 bytes for Atari), the action (uint8 when `n_actions` <= 256
is given, else int16), a float32 reward and four one-byte fields: 7065-7066 bytes a transition.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from agents.types import Batch

REWARD_HISTORY = 10_000
"""How many of the most recent rewards `rewards_stored()` and `summary()` return by default."""

_REDRAWS = 32
"""Rejection-sampling rounds before falling back to enumerating every sampleable slot."""


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

    _ARRAYS = ("frames", "actions", "rewards", "terminated", "truncated", "valid", "age", "cursor", "written",
               "in_episode")
    """The arrays `state_dict()` saves besides the counters, the RNG state and the last batch."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], *, frame_stack: int = 1,
                 num_envs: int = 1, obs_dtype: DTypeLike = np.uint8, seed: int | None = None,
                 n_actions: int | None = None) -> None:
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
            terminated: ArrayLike, truncated: ArrayLike, episode_end: ArrayLike | None = None) -> None:
        """Store one step of every environment: a leading num_envs axis (or unbatched for one env).

        `reward` is stored as given (pass the clipped learning reward). `episode_end` (default: terminated or
        truncated) is where the observation stream restarts; Atari's life loss is a learning terminal that
        does not restart the frame stack, so there `terminated` is True and `episode_end` False.
        """
        obs, next_obs = self._batched(obs), self._batched(next_obs)
        n = self.num_envs
        actions = np.asarray(action).reshape(n).tolist()
        rewards = np.asarray(reward, dtype=np.float32).reshape(n).tolist()
        terminated = np.asarray(terminated, dtype=bool).reshape(n).tolist()
        truncated = np.asarray(truncated, dtype=bool).reshape(n).tolist()
        ends = [a or b for a, b in zip(terminated, truncated, strict=True)] if episode_end is None else \
            np.asarray(episode_end, dtype=bool).reshape(n).tolist()
        for env in range(n):
            if not 0 <= actions[env] < self._action_limit:
                raise ValueError(f"action {actions[env]} out of range 0..{self._action_limit - 1}")
        # Python scalars and one stream at a time: a few scalar stores beat a dozen fancy-index calls.
        for env in range(n):
            if not self.in_episode[env]:
                self._write_frame(env, obs[env], 0)
            slot = int(self.cursor[env]) - 1
            if slot < 0:
                slot += self.ring
            self.actions[env, slot] = actions[env]
            self.rewards[env, slot] = rewards[env]
            self.terminated[env, slot] = terminated[env]
            self.truncated[env, slot] = truncated[env]
            self._write_frame(env, next_obs[env], min(int(self.age[env, slot]) + 1, 255))
            self.valid[env, slot] = True
            self.in_episode[env] = not ends[env]
        self._size += n

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
        batch_size = int(batch_size)
        env, slot, back = self._draw(batch_size)
        flat = env * self.ring + slot
        self.last_sampled = flat
        # Window s-k+1 .. s+1; columns older than the episode's first frame repeat it, as
        # FrameStackObservation pads at reset. obs is columns 0..k-1, next_obs 1..k (s+1 never starts one).
        window = (slot[:, None] - np.minimum(self._behind, back[:, None])) % self.ring
        window += (env * self.ring)[:, None]
        k = self.frame_stack
        obs_ids, next_ids = (window[:, :k], window[:, 1:]) if k > 1 else (window[:, 0], window[:, 1])
        stacks = self._stack_storage(batch_size)
        # mode="clip" (the ids are in range anyway) spares take a buffered copy into `out`.
        np.take(self._flat_frames, obs_ids, axis=0, out=stacks[0], mode="clip")
        np.take(self._flat_frames, next_ids, axis=0, out=stacks[1], mode="clip")
        return Batch(
            observations=stacks[0],
            actions=self.actions.reshape(-1)[flat].astype(np.int64),
            rewards=self.rewards.reshape(-1)[flat],
            next_observations=stacks[1],
            dones=self.terminated.reshape(-1)[flat].astype(np.float32),
            indices=flat.copy(),
        )

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

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a `state_dict()` of a buffer of the same shape, in place (no second copy of the frames)."""
        if "layout" in state:
            layout = [int(n) for n in np.asarray(state["layout"]).reshape(-1)]
            if layout != [self.num_envs, self.ring, self.frame_stack]:
                raise ValueError(f"saved replay has (envs, ring, frame stack) {tuple(layout)}, expected "
                                 f"{(self.num_envs, self.ring, self.frame_stack)}")
        state = dict(state)
        if "age" not in state and "first" in state:  # saved before ages replaced the episode-start flags
            first = np.asarray(state["first"], dtype=bool)
            state["age"] = _age_from_first(first, np.asarray(state["cursor"]))
        for name in self._ARRAYS:
            value = np.asarray(state[name])
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"replay array '{name}' has shape {value.shape}, expected "
                                 f"{getattr(self, name).shape}")
        if np.asarray(state["actions"]).max(initial=0) >= self._action_limit:
            raise ValueError(f"saved replay holds actions beyond {self._action_limit - 1}")
        # Everything that can fail is read before the first array is overwritten.
        size = int(state["size"])
        last_sampled = np.asarray(state["last_sampled"], dtype=np.int64).reshape(-1).copy()
        rng = np.random.Generator(type(self.rng.bit_generator)())
        rng.bit_generator.state = json.loads(bytes(np.asarray(state["rng"], dtype=np.uint8)).decode())
        for name in self._ARRAYS:
            getattr(self, name)[...] = state[name]
        self._size, self.last_sampled, self.rng = size, last_sampled, rng


def _age_from_first(first: np.ndarray, cursor: np.ndarray) -> np.ndarray:
    """Ages rebuilt from episode-start flags, walking each ring from its oldest slot (the cursor's)."""
    age = np.full(first.shape, 255, dtype=np.uint8)
    steps = np.arange(first.shape[1])
    for env in range(first.shape[0]):
        order = (int(cursor[env]) + steps) % first.shape[1]
        latest_start = np.maximum.accumulate(np.where(first[env, order], steps, -(1 << 30)))
        age[env, order] = np.minimum(steps - latest_start, 255)
    return age
