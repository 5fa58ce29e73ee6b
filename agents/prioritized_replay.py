"""Prioritized experience replay (Schaul et al. 2016, "Prioritized Experience Replay", ICLR), proportional variant.

A transition i is sampled with probability P(i) = p_i^alpha / sum_k p_k^alpha, where p_i = |delta_i| + epsilon
is its last TD error, and its loss is weighted by w_i = (N P(i))^-beta / max_j w_j to correct the bias this
sampling introduces (beta is annealed to 1 by the agent). New transitions get the largest priority seen so far,
so each is replayed at least once soon after it arrives.

The priorities p^alpha live in a sum tree over the buffer's flat slots (env * ring + slot): sampling is a
stratified descent of the tree (the batch's B draws come one from each of B equal parts of the total, as in the
paper), and an update touches log2(capacity) nodes per transition. Everything else (the frame-once storage,
n-step returns, segments, saving) is ReplayBuffer's.

Choices where the paper leaves room, and why:

- The weights are normalised by the batch's largest weight, as in Dopamine and Rainbow's reference code,
  rather than by the largest in the whole buffer (OpenAI Baselines): it needs no second (min) tree and keeps
  every weight in (0, 1].
- A slot that is valid but whose stack history the ring's cursor has just overwritten (at most frame_stack - 1
  slots per stream) keeps its priority in the tree and is rejected when drawn, then drawn again: sampling is
  proportional among the sampleable slots, and the weights' N and total include those few slots.
- A non-finite TD error (a diverging network) gives the transition the largest priority rather than poisoning
  the tree's sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from agents.replay import _REDRAWS, ReplayBuffer, SavedReplay
from agents.types import Batch


class SumTree:
    """A binary tree whose leaves hold non-negative weights and each inner node the sum of its two children.

    Leaves live at nodes[base:base + size] (base a power of two), the root at nodes[1]. A parent is always
    recomputed as the sum of its children, never adjusted by a difference, so rounding errors do not pile up.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a sum tree needs at least one leaf, not {size}")
        self.size = int(size)
        self.base = 1 << max(0, (self.size - 1).bit_length())
        self.depth = self.base.bit_length() - 1
        self.nodes = np.zeros(2 * self.base, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    @property
    def leaves(self) -> np.ndarray:
        """A view of the leaf weights (write through `set` or `rebuild`, which keep the sums)."""
        return self.nodes[self.base:self.base + self.size]

    def set_one(self, leaf: int, value: float) -> None:
        """One leaf; plain Python on the path to the root (the per-step case: a few microseconds)."""
        nodes = self.nodes
        node = leaf + self.base
        nodes[node] = value
        node >>= 1
        while node:
            nodes[node] = nodes[2 * node] + nodes[2 * node + 1]
            node >>= 1

    def set(self, leaves: ArrayLike, values: ArrayLike) -> None:
        """Many leaves at once; where a leaf appears twice, its last value wins."""
        leaves = np.asarray(leaves, dtype=np.int64).reshape(-1)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), leaves.shape)
        if len(leaves) == 0:
            return
        if leaves.min() < 0 or leaves.max() >= self.size:
            raise IndexError(f"leaf out of range 0..{self.size - 1}")
        last = len(leaves) - 1 - np.unique(leaves[::-1], return_index=True)[1]
        self.nodes[leaves[last] + self.base] = values[last]
        if self.base == 1:
            return  # the one leaf is the root
        # Every leaf is at the same depth, so the parents to recompute climb one level at a time to the root.
        parents = np.unique((leaves[last] + self.base) >> 1)
        while True:
            self.nodes[parents] = self.nodes[2 * parents] + self.nodes[2 * parents + 1]
            if parents[0] == 1:
                return
            parents = np.unique(parents >> 1)

    def rebuild(self) -> None:
        """Recompute every inner node from the leaves (after writing `leaves` directly)."""
        self.nodes[self.base + self.size:] = 0.0
        level = self.base
        while level > 1:
            half = level // 2
            self.nodes[half:level] = self.nodes[level:2 * level:2] + self.nodes[level + 1:2 * level:2]
            level = half

    def find(self, targets: ArrayLike) -> np.ndarray:
        """For each target in [0, total), the leaf whose span of the cumulative sum holds it.

        A descent never turns into an empty subtree, so rounding at the top end still lands on a leaf with
        weight (provided the tree is not empty).
        """
        targets = np.array(targets, dtype=np.float64).reshape(-1)
        node = np.ones(len(targets), dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * node
            left_sum = self.nodes[left]
            right = (targets >= left_sum) & (self.nodes[left + 1] > 0)
            targets = np.where(right, targets - left_sum, targets)
            node = left + right
        return np.minimum(node - self.base, self.size - 1)


class PrioritizedReplayBuffer(ReplayBuffer):
    """ReplayBuffer that samples in proportion to p^alpha and returns importance weights (see the module)."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], *, alpha: float = 0.6,
                 priority_epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(capacity, obs_shape, **kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], not {alpha}")
        if not priority_epsilon > 0.0:
            raise ValueError(f"priority_epsilon must be positive, not {priority_epsilon}")
        self.alpha = float(alpha)
        self.priority_epsilon = float(priority_epsilon)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0
        """The largest p = |delta| + epsilon seen so far: what a new transition is given."""

    @property
    def nbytes(self) -> int:
        return super().nbytes + int(self.tree.nodes.nbytes)

    def priorities(self, flat_ids: ArrayLike) -> np.ndarray:
        """p^alpha of these flat slots (0 for a slot that holds no transition)."""
        return self.tree.leaves[np.asarray(flat_ids, dtype=np.int64)].copy()

    # ---------------------------------------------------------------------------------- storing

    def _store(self, env: int, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool,
               truncated: bool, episode_end: bool, source: int) -> None:
        super()._store(env, obs, action, reward, next_obs, terminated, truncated, episode_end, source)
        slot = (int(self.cursor[env]) - 2) % self.ring  # the slot just stored; its next frame went after it
        self.tree.set_one(env * self.ring + slot, self.max_priority ** self.alpha)

    def _write_frame(self, env: int, obs: np.ndarray, age: int) -> None:
        slot = int(self.cursor[env])
        dropped = bool(self.valid[env, slot])
        super()._write_frame(env, obs, age)
        if dropped:
            self.tree.set_one(env * self.ring + slot, 0.0)

    def _clear(self) -> None:
        super()._clear()
        if hasattr(self, "tree"):
            self.tree.nodes[...] = 0.0

    # --------------------------------------------------------------------------------- sampling

    def sample(self, batch_size: int, beta: float = 0.4) -> Batch:
        """A minibatch drawn in proportion to priority, with weights (N P(i))^-beta / max_j w_j."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        batch_size = int(batch_size)
        flat, back = self._draw_prioritized(batch_size)
        env, slot = np.divmod(flat, self.ring)
        probabilities = self.tree.leaves[flat] / self.tree.total
        weights = (self._size * probabilities) ** -float(beta)
        weights /= weights.max()
        self.last_sampled = flat
        batch = self._gather(env, slot, back, self._stack_storage(batch_size))
        return batch._replace(weights=weights.astype(np.float32))

    def _draw_prioritized(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids drawn one from each of batch_size equal parts of the priority mass, and their stack depths;
        a drawn slot that cannot be sampled (its stack history overwritten) is drawn again from the whole mass."""
        total = self.tree.total
        targets = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
        flat = self.tree.find(targets)
        back, ok = self._check(*np.divmod(flat, self.ring))
        for _ in range(_REDRAWS):
            if ok.all():
                return flat, back
            bad = np.flatnonzero(~ok)
            flat[bad] = self.tree.find(self.rng.random(len(bad)) * total)
            back[bad], ok[bad] = self._check(*np.divmod(flat[bad], self.ring))
        candidates = self.sampleable()
        if len(candidates) == 0:
            raise ValueError("no stored transition can be sampled yet (the ring is too small for the stack)")
        weights = self.tree.leaves[candidates]
        flat = candidates[self.rng.choice(len(candidates), size=batch_size, p=weights / weights.sum())]
        return flat, self._check(*np.divmod(flat, self.ring))[0]

    def update_priorities(self, flat_ids: ArrayLike, td_errors: ArrayLike) -> None:
        """p = |delta| + epsilon for these sampled slots (those overwritten since they were sampled are skipped)."""
        flat_ids = np.asarray(flat_ids, dtype=np.int64).reshape(-1)
        errors = np.abs(np.asarray(td_errors, dtype=np.float64).reshape(-1))
        if errors.shape != flat_ids.shape:
            raise ValueError(f"{len(errors)} TD errors for {len(flat_ids)} transitions")
        if len(flat_ids) and (flat_ids.min() < 0 or flat_ids.max() >= self.capacity):
            raise ValueError(f"slot out of range 0..{self.capacity - 1}")
        finite = np.isfinite(errors)
        priorities = errors + self.priority_epsilon
        if finite.any():
            self.max_priority = max(self.max_priority, float(priorities[finite].max()))
        priorities[~finite] = self.max_priority
        still_stored = self.valid.reshape(-1)[flat_ids]
        self.tree.set(flat_ids[still_stored], priorities[still_stored] ** self.alpha)

    # ----------------------------------------------------------------------------------- saving

    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        state["priorities"] = self.tree.leaves.reshape(self.num_envs, self.ring)
        state["max_priority"] = np.array(self.max_priority, dtype=np.float64)
        return state

    def restore(self, saved: SavedReplay) -> None:
        """ReplayBuffer.restore, then the priorities: the saved ones when the layout is the same and the save has
        them (checked before anything changes), else the largest priority for every stored transition."""
        n_old, ring_old, _ = saved.layout()
        saved_priorities, max_priority = None, self.max_priority
        if (n_old, ring_old) == (self.num_envs, self.ring) and saved.has("priorities"):
            saved_priorities = np.asarray(saved.array("priorities", (n_old, ring_old)), dtype=np.float64)
            if not np.isfinite(saved_priorities).all() or saved_priorities.min(initial=0.0) < 0:
                raise ValueError("saved replay has priorities that are negative or not finite")
            if saved.has("max_priority"):
                max_priority = float(np.asarray(saved.array("max_priority", ())))
                if not np.isfinite(max_priority) or max_priority <= 0:
                    raise ValueError("saved replay has a largest priority that is not a positive number")
        super().restore(saved)
        self.max_priority = max_priority
        valid = self.valid.reshape(-1)
        fresh = np.where(valid, self.max_priority ** self.alpha, 0.0)
        if saved_priorities is not None:
            kept = saved_priorities.reshape(-1)
            fresh = np.where(valid & (kept > 0), kept, fresh)
        self.tree.leaves[...] = fresh
        self.tree.rebuild()


def annealed_beta(beta0: float, step: int, horizon: int) -> float:
    """beta from beta0 linearly to 1 over `horizon` steps, then 1 (Schaul et al. 2016, section 3.4)."""
    if horizon <= 0:
        return 1.0
    return float(beta0 + min(max(step, 0) / horizon, 1.0) * (1.0 - beta0))
