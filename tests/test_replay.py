"""The frame-once replay ring against ground truth produced by gymnasium's own FrameStackObservation.

A scripted toy environment emits small frames whose pixels encode their stream and a unique frame id;
wrapped in FrameStackObservation(4) it yields exactly the stacks an Atari env yields (padding at reset by
repeating the first frame). Every transition's reward is its unique id, so each sampled row is looked up
in a dict of what was added and compared byte for byte; each transition also records the absolute
positions (frames written before it) that decide whether the ring still holds it and its stack history.
Where a scenario is small, the expected layout, stacks and orders are also written out by hand, so the
tests do not rest on the wrapper alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

from agents.replay import ReplayBuffer, ReplaySummary
from agents.types import Batch

FRAME = (3, 4)
K = 4
N_ACTIONS = 6


def encoded_frame(stream: int, frame_id: int) -> np.ndarray:
    """A frame whose pixels name it: [0,0] stream, [0,1:3] id, the rest a pattern of the id."""
    frame = np.full(FRAME, (frame_id * 7 + 3) % 256, np.uint8)
    frame[0, 0] = stream
    frame[0, 1], frame[0, 2] = divmod(frame_id, 256)
    return frame


class ScriptedFrames(gym.Env):
    """Plays episodes from a script: '.' step, 'T' terminate, 'X' truncate, 'L' lose a life (no reset)."""

    observation_space = gym.spaces.Box(0, 255, FRAME, np.uint8)
    action_space = gym.spaces.Discrete(N_ACTIONS)

    def __init__(self, stream: int, script: list[str]) -> None:
        self.stream, self.script = stream, script
        self.episode, self.step_in_episode, self.frame_id = -1, 0, 0

    def _frame(self) -> np.ndarray:
        self.frame_id += 1
        return encoded_frame(self.stream, self.frame_id)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode, self.step_in_episode = self.episode + 1, 0
        return self._frame(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        kind = self.script[self.episode][self.step_in_episode]
        self.step_in_episode += 1
        return self._frame(), 0.0, kind == "T", kind == "X", {"life_lost": kind == "L"}


@dataclass
class Step:
    """One added transition, with where its frames went in its stream (absolute, before wrapping)."""

    tid: int
    stream: int
    obs: np.ndarray
    action: int
    next_obs: np.ndarray
    terminated: bool
    """The learning terminal (true terminal or lost life): what Batch.dones must say."""
    truncated: bool
    episode_end: bool
    pos: int
    """Frames the stream had written before obs's newest frame: its slot is pos % ring."""
    history: int
    """Position of the oldest frame obs's stack needs (its episode's first frame at most k - 1 back)."""


class Player:
    """Drives one ScriptedFrames stream through FrameStackObservation and records the ground truth."""

    def __init__(self, stream: int, script: list[str], first_tid: int, k: int = K) -> None:
        self.env = FrameStackObservation(ScriptedFrames(stream, script), k)
        self.stream, self.k, self.tid = stream, k, first_tid
        self.steps_left = sum(len(episode) for episode in script)
        self.obs: np.ndarray | None = None
        self.written = 0
        self.episode_start = 0

    def step(self) -> Step:
        if self.obs is None:
            self.obs = np.array(self.env.reset()[0])
            self.episode_start = self.written
            self.written += 1
        action = self.tid % N_ACTIONS
        next_obs, _, terminated, truncated, info = self.env.step(action)
        next_obs = np.array(next_obs)  # a copy: the truth must not change under us
        pos = self.written - 1
        history = max(self.episode_start, pos - (self.k - 1))
        step = Step(self.tid, self.stream, self.obs, action, next_obs, bool(terminated or info["life_lost"]),
                    bool(truncated), bool(terminated or truncated), pos, history)
        self.written += 1
        self.tid += 1
        self.steps_left -= 1
        self.obs = None if step.episode_end else next_obs
        return step


def add(buffer: ReplayBuffer, steps: list[Step]) -> None:
    """One add: unbatched for a single stream, else batched along a leading stream axis."""
    if len(steps) == 1 and buffer.num_envs == 1:
        s = steps[0]
        buffer.add(s.obs, s.action, float(s.tid), s.next_obs, s.terminated, s.truncated,
                   episode_end=s.episode_end)
        return
    buffer.add(np.stack([s.obs for s in steps]), np.array([s.action for s in steps]),
               np.array([s.tid for s in steps], np.float32), np.stack([s.next_obs for s in steps]),
               np.array([s.terminated for s in steps]), np.array([s.truncated for s in steps]),
               episode_end=np.array([s.episode_end for s in steps]))


def check_batch(buffer: ReplayBuffer, batch: Batch, truth: dict[int, Step]) -> set[int]:
    """Every row equals, byte for byte, the transition its reward names; returns the ids seen."""
    assert batch.observations.dtype == np.uint8 and batch.next_observations.dtype == np.uint8
    assert batch.actions.dtype == np.int64 and batch.indices.dtype == np.int64
    assert batch.rewards.dtype == np.float32 and batch.dones.dtype == np.float32
    shape = (len(batch.rewards), *buffer.obs_shape)
    assert batch.observations.shape == batch.next_observations.shape == shape
    seen = set()
    for row, reward in enumerate(batch.rewards.tolist()):
        step = truth[int(reward)]
        seen.add(step.tid)
        np.testing.assert_array_equal(batch.observations[row], step.obs, err_msg=f"obs of {step.tid}")
        np.testing.assert_array_equal(batch.next_observations[row], step.next_obs,
                                      err_msg=f"next_obs of {step.tid}")
        assert batch.actions[row] == step.action
        assert batch.dones[row] == float(step.terminated)
        assert batch.indices[row] == step.stream * buffer.ring + step.pos % buffer.ring
    return seen


SCRIPT = ["....T", "..X", "..L...L..T", "T", "X", "....L....X", ".....T", "L.T"]


def fill(buffer: ReplayBuffer, script: list[str]) -> dict[int, Step]:
    player = Player(0, script, first_tid=0, k=buffer.frame_stack)
    truth = {}
    while player.steps_left:
        step = player.step()
        add(buffer, [step])
        truth[step.tid] = step
    return truth


# ---------------------------------------------------------------------------------------------- memory


def test_atari_shaped_buffer_stores_one_frame_per_transition() -> None:
    buffer = ReplayBuffer(10_000, (4, 84, 84), frame_stack=4, n_actions=18)
    assert buffer.capacity == 10_000
    assert buffer.frames.shape == (1, 10_000, 84, 84) and buffer.frames.dtype == np.uint8
    assert buffer.actions.dtype == np.uint8
    by_hand = 10_000 * (84 * 84 + 1 + 4 + 5) + 8 + 8 + 1  # frame, action, reward, 4 flags, source; per stream
    assert buffer.nbytes == by_hand
    assert buffer.bytes_per_transition == pytest.approx(by_hand / 10_000)
    assert buffer.bytes_per_transition <= 7200
    unknown_actions = ReplayBuffer(10_000, (4, 84, 84), frame_stack=4)
    assert unknown_actions.actions.dtype == np.int16 and unknown_actions.bytes_per_transition <= 7200


def test_capacity_is_split_evenly_between_streams() -> None:
    buffer = ReplayBuffer(1001, (K, *FRAME), frame_stack=K, num_envs=4)
    assert (buffer.ring, buffer.capacity, buffer.num_envs) == (250, 1000, 4)
    assert buffer.frames.shape == (4, 250, *FRAME)


def test_each_step_writes_one_frame_an_episode_one_more_and_len_counts_transitions() -> None:
    buffer = ReplayBuffer(10, (K, *FRAME), frame_stack=K)
    player = Player(0, ["..T", "T", "...X"], first_tid=0)
    counts = []
    while player.steps_left:
        add(buffer, [player.step()])
        counts.append(len(buffer))
    # 8 transitions in 3 + 1 + 4 steps plus one reset frame an episode: 11 frames in 10 slots, so the last
    # (final) frame lands in slot 0 and drops transition 0 stored there.
    assert counts == [1, 2, 3, 4, 5, 6, 7, 7] and buffer.size == 7
    assert buffer.written[0] == (3 + 1) + (1 + 1) + (4 + 1) and buffer.cursor[0] == 1
    assert buffer.frames[0, :, 0, 2].tolist() == [11, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # frame ids, by slot
    assert buffer.age[0].tolist() == [4, 1, 2, 3, 0, 1, 0, 1, 2, 3]
    assert buffer.first[0].tolist() == [False, False, False, False, True, False, True, False, False, False]
    assert buffer.valid[0].tolist() == [False, True, True, False, True, False, True, True, True, True]


def test_construction_rejects_a_mismatched_stack_and_a_ring_under_two_slots() -> None:
    with pytest.raises(ValueError, match="does not start with the frame stack"):
        ReplayBuffer(100, (3, 84, 84), frame_stack=4)
    with pytest.raises(ValueError, match="too small"):
        ReplayBuffer(3, (K, *FRAME), frame_stack=K, num_envs=2)


def test_add_rejects_a_wrong_shape_or_an_out_of_range_action_and_stores_nothing() -> None:
    buffer = ReplayBuffer(10, (K, *FRAME), frame_stack=K, n_actions=N_ACTIONS)
    obs = np.zeros((K, *FRAME), np.uint8)
    with pytest.raises(ValueError, match="do not fit"):
        buffer.add(obs[:, :2], 0, 0.0, obs[:, :2], False, False)
    with pytest.raises(ValueError, match="out of range"):
        buffer.add(obs, N_ACTIONS, 0.0, obs, False, False)
    assert len(buffer) == 0 and buffer.written[0] == 0 and not buffer.valid.any()


def test_sampling_an_empty_buffer_raises() -> None:
    buffer = ReplayBuffer(10, (K, *FRAME), frame_stack=K)
    assert len(buffer) == 0
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4)


# -------------------------------------------------------------------------------------------- sampling


def test_sampled_stacks_equal_what_frame_stack_observation_produced() -> None:
    buffer = ReplayBuffer(200, (K, *FRAME), frame_stack=K, seed=0)
    truth = fill(buffer, SCRIPT)
    assert len(buffer) == buffer.size == len(truth)
    seen: set[int] = set()
    for _ in range(20):
        batch = buffer.sample(32)
        np.testing.assert_array_equal(buffer.last_sampled, batch.indices)
        seen |= check_batch(buffer, batch, truth)
    assert seen == set(truth)


def stack(*frame_ids: int, stream: int = 0) -> np.ndarray:
    """The observation whose frames, oldest first, are these encoded frames."""
    return np.stack([encoded_frame(stream, i) for i in frame_ids])


def test_episode_start_is_padded_with_its_first_frame() -> None:
    buffer = ReplayBuffer(50, (K, *FRAME), frame_stack=K, seed=1)
    truth = fill(buffer, ["..T", "...X"])
    # frames 1-4 are the first episode; the second resets to frame 5 and its first step (transition 3)
    # sees frame 6: obs is the reset frame four times, next_obs three times and then frame 6.
    start = truth[3]
    np.testing.assert_array_equal(start.obs, stack(5, 5, 5, 5))  # FrameStackObservation agrees
    np.testing.assert_array_equal(start.next_obs, stack(5, 5, 5, 6))
    batch = buffer.sample(400)
    rows = np.flatnonzero(batch.rewards == 3)
    assert len(rows) > 0
    np.testing.assert_array_equal(batch.observations[rows[0]], stack(5, 5, 5, 5))
    np.testing.assert_array_equal(batch.next_observations[rows[0]], stack(5, 5, 5, 6))


def test_terminated_is_a_done_and_truncated_keeps_its_true_next_obs() -> None:
    buffer = ReplayBuffer(30, (K, *FRAME), frame_stack=K, seed=3)
    truth = fill(buffer, ["..X", ".L.T"])
    batch = buffer.sample(400)
    row = {int(r): i for i, r in enumerate(batch.rewards)}
    assert set(row) == set(range(7))
    assert [batch.dones[row[t]] for t in range(7)] == [0, 0, 0, 0, 1, 0, 1]  # X: no done; L and T: done
    truncated_next = batch.next_observations[row[2]]
    np.testing.assert_array_equal(truncated_next, truth[2].next_obs)
    # the final frame 4 the truncation produced, not frame 5 the next episode's reset produced
    np.testing.assert_array_equal(truncated_next, stack(1, 2, 3, 4))


def test_a_life_loss_is_a_done_but_keeps_the_episode_and_its_stack_going() -> None:
    buffer = ReplayBuffer(20, (K, *FRAME), frame_stack=K, seed=4)
    truth = fill(buffer, ["..X", ".L..T"])  # transition 4 loses a life (terminated, no episode end)
    # frames: 1-4 the first episode; 5 the second's reset, then 6-10 with no reset after the lost life
    assert buffer.written[0] == (3 + 1) + (5 + 1)
    assert buffer.first[0, :10].tolist() == [True, False, False, False, True, False, False, False, False, False]
    assert buffer.valid[0, :10].tolist() == [True, True, True, False, True, True, True, True, True, False]
    batch = buffer.sample(400)
    assert check_batch(buffer, batch, truth) == set(truth)
    row = {int(r): i for i, r in enumerate(batch.rewards)}
    assert [batch.dones[row[t]] for t in range(8)] == [0, 0, 0, 0, 1, 0, 0, 1]
    # the step after the lost life still sees the frames before it (a restart would give 7, 7, 7, 7)
    np.testing.assert_array_equal(batch.observations[row[5]], stack(5, 5, 6, 7))
    np.testing.assert_array_equal(batch.next_observations[row[4]], stack(5, 5, 6, 7))
    np.testing.assert_array_equal(batch.observations[row[6]], stack(5, 6, 7, 8))


def test_wrap_around_samples_exactly_the_transitions_whose_history_survives() -> None:
    ring = 23
    buffer = ReplayBuffer(ring, (K, *FRAME), frame_stack=K, seed=2)
    player = Player(0, SCRIPT * 4, first_tid=0)
    truth: dict[int, Step] = {}
    while player.steps_left:
        step = player.step()
        add(buffer, [step])
        truth[step.tid] = step
        oldest = player.written - ring  # position of the oldest frame still in the ring
        assert len(buffer) == sum(s.pos >= oldest for s in truth.values())
        intact = {t for t, s in truth.items() if s.history >= oldest}
        assert check_batch(buffer, buffer.sample(64), truth) <= intact
    assert player.written > 4 * ring
    seen: set[int] = set()
    for _ in range(40):
        seen |= check_batch(buffer, buffer.sample(64), truth)
    assert seen == intact  # and every intact one is reachable, not only those clear of a k-1 border


def test_two_streams_interleave_without_mixing_frames() -> None:
    players = [Player(0, ["...T", ".L.....X", "..T", "T", "..T"], 0),
               Player(1, ["T", "..X", "......T", "....T", "..T"], 1000)]
    assert players[0].steps_left == players[1].steps_left == 19
    buffer = ReplayBuffer(2 * 13, (K, *FRAME), frame_stack=K, num_envs=2, seed=5)
    truth: dict[int, Step] = {}
    while players[0].steps_left:
        steps = [p.step() for p in players]
        add(buffer, steps)
        truth.update({s.tid: s for s in steps})
        batch = buffer.sample(32)
        check_batch(buffer, batch, truth)
        stream = batch.indices // buffer.ring
        assert (batch.observations[:, :, 0, 0] == stream[:, None]).all()
        assert (batch.next_observations[:, :, 0, 0] == stream[:, None]).all()
    assert set((buffer.sample(64).indices // buffer.ring).tolist()) == {0, 1}


def test_single_frame_gridworld_observations_are_stored_whole() -> None:
    shape = (4, 3, 5)
    buffer = ReplayBuffer(8, shape, frame_stack=1, seed=6)
    assert buffer.frame_shape == shape

    def grid(i: int) -> np.ndarray:
        obs = np.zeros(shape, np.uint8)
        obs[1].flat[i % 15] = 1
        obs[3, 2, 4] = i
        return obs

    history = []
    obs, next_id, written, starting = grid(0), 1, 0, True
    for t in range(20):
        nxt, next_id = grid(next_id), next_id + 1
        terminated, truncated = t % 6 == 5, t % 6 == 2
        buffer.add(obs, t % 4, float(t), nxt, terminated, truncated)
        written += 2 if starting else 1
        history.append((obs, nxt, terminated, written - 2))  # the obs went to position written - 2
        starting = terminated or truncated
        obs, next_id = (grid(next_id), next_id + 1) if starting else (nxt, next_id)
    stored = {t for t, h in enumerate(history) if h[3] >= written - 8}
    assert len(buffer) == len(stored) == 5  # 8 slots: the 7 newest transitions less 2 episode-end frames
    batch = buffer.sample(200)
    assert batch.observations.shape == (200, *shape)
    rows = batch.rewards.astype(int)
    assert set(rows.tolist()) == stored
    for row, t in enumerate(rows):
        np.testing.assert_array_equal(batch.observations[row], history[t][0])
        np.testing.assert_array_equal(batch.next_observations[row], history[t][1])
        assert batch.actions[row] == t % 4 and batch.dones[row] == float(history[t][2])


def test_sampling_is_uniform_over_transitions() -> None:
    buffer = ReplayBuffer(64, (K, *FRAME), frame_stack=K, seed=11)
    truth = fill(buffer, ["....T", "..X", "T", "........X"])
    counts = np.bincount(buffer.sample(40_000).rewards.astype(int), minlength=len(truth))
    assert counts.min() > 0.85 * 40_000 / len(truth) and counts.max() < 1.15 * 40_000 / len(truth)


def test_a_ring_too_small_for_its_stacks_raises_instead_of_hanging() -> None:
    buffer = ReplayBuffer(3, (K, *FRAME), frame_stack=K, seed=0)
    fill(buffer, ["......T"])
    assert len(buffer) >= 1  # stored, but no 4-frame stack survives in 3 slots
    with pytest.raises(ValueError, match="can be sampled"):
        buffer.sample(4)


def test_a_held_batch_is_never_overwritten_by_the_next_sample() -> None:
    buffer = ReplayBuffer(100, (K, *FRAME), frame_stack=K, seed=12)
    truth = fill(buffer, SCRIPT)
    held = buffer.sample(16)
    fields = [field for field in Batch._fields if getattr(held, field) is not None]
    copy = {field: getattr(held, field).copy() for field in fields}
    for _ in range(5):
        check_batch(buffer, buffer.sample(16), truth)
    for field in fields:
        np.testing.assert_array_equal(getattr(held, field), copy[field])
    check_batch(buffer, held, truth)


# ---------------------------------------------------------------------------------------- inspecting


def test_recent_and_rewards_stored_are_newest_first_with_each_transitions_contents() -> None:
    buffer = ReplayBuffer(100, (K, *FRAME), frame_stack=K, seed=8)
    truth = fill(buffer, SCRIPT)
    newest = sorted(truth, reverse=True)
    recent = buffer.recent(7)
    assert [int(r.reward) for r in recent] == newest[:7]
    for item in recent:
        step = truth[int(item.reward)]
        np.testing.assert_array_equal(item.obs_frame, step.obs[-1])  # also checks the shape: one frame
        assert (item.action, item.terminated, item.truncated) == (step.action, step.terminated,
                                                                  step.truncated)
        assert item.index == step.pos % buffer.ring
    assert [int(r.reward) for r in buffer.recent(1000)] == newest
    assert buffer.rewards_stored().tolist() == newest
    assert buffer.rewards_stored(5).tolist() == newest[:5]


def test_summary_marks_the_recent_rows_of_the_last_batch_and_is_a_copy() -> None:
    buffer = ReplayBuffer(100, (K, *FRAME), frame_stack=K, seed=8)
    truth = fill(buffer, SCRIPT)
    newest = sorted(truth, reverse=True)
    assert buffer.summary(4).recent_sampled == (False,) * 4  # nothing sampled yet
    batch = buffer.sample(16)
    summary = buffer.summary(n_recent=12)
    assert isinstance(summary, ReplaySummary)
    assert (summary.size, summary.capacity, summary.nbytes) == (len(truth), 100, buffer.nbytes)
    np.testing.assert_array_equal(summary.last_sampled, batch.indices)
    assert [int(r.reward) for r in summary.recent] == newest[:12]
    assert summary.recent_sampled == tuple(r.index in set(batch.indices.tolist()) for r in summary.recent)
    assert any(summary.recent_sampled)  # the marks were put to the test, not all False by chance
    assert summary.reward_values.tolist() == newest
    kept = summary.last_sampled.copy()
    summary.recent[0].obs_frame[...] = 0  # copies: neither the buffer nor a later batch changes them
    buffer.sample(16)
    np.testing.assert_array_equal(summary.last_sampled, kept)
    np.testing.assert_array_equal(buffer.recent(1)[0].obs_frame, truth[newest[0]].obs[-1])


def test_recent_interleaves_streams_newest_first_after_wrapping() -> None:
    players = [Player(0, ["..T", ".X"] * 4, 0), Player(1, ["....T"] * 4, 1000)]
    buffer = ReplayBuffer(2 * 9, (K, *FRAME), frame_stack=K, num_envs=2)
    truth: dict[int, Step] = {}
    order: list[int] = []  # newest add first, stream 0 before stream 1 within an add
    while players[0].steps_left:
        steps = [p.step() for p in players]
        add(buffer, steps)
        truth.update({s.tid: s for s in steps})
        order = [s.tid for s in steps] + order
    stored = {t for t, s in truth.items() if s.pos >= players[s.stream].written - buffer.ring}
    assert len(stored) == len(buffer)
    assert [int(r.reward) for r in buffer.recent(100)] == [t for t in order if t in stored]


def test_recent_and_rewards_stored_reach_every_transition_of_uneven_streams() -> None:
    """Once wrapped, streams hold different numbers of transitions (each episode takes one more slot);
    recent() and rewards_stored() must reach all of them, not as many per stream as the shortest holds."""
    players = [Player(0, ["." * 10], 0), Player(1, ["T"] * 10, 1000)]  # one long episode; one-step ones
    buffer = ReplayBuffer(2 * 6, (K, *FRAME), frame_stack=K, num_envs=2)
    while players[0].steps_left:
        add(buffer, [p.step() for p in players])
    # stream 0: 11 frames in 6 slots hold transitions 5..9; stream 1: 20 frames hold 1007..1009
    assert buffer.valid.sum(axis=1).tolist() == [5, 3] and len(buffer) == 8
    newest_first = [9, 1009, 8, 1008, 7, 1007, 6, 5]
    assert [int(r.reward) for r in buffer.recent(8)] == newest_first
    assert [int(r.reward) for r in buffer.recent(100)] == newest_first
    assert buffer.rewards_stored().tolist() == newest_first
    summary = buffer.summary(16)
    assert [int(r.reward) for r in summary.recent] == newest_first
    assert summary.reward_values.tolist() == newest_first


# --------------------------------------------------------------------------------------------- saving


def round_trip(state: dict[str, np.ndarray]) -> dict[str, Any]:
    saved = io.BytesIO()
    np.savez(saved, **state)
    saved.seek(0)
    with np.load(saved, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def assert_same_batches(a: ReplayBuffer, b: ReplayBuffer, batches: int = 3) -> None:
    for _ in range(batches):
        x, y = a.sample(16), b.sample(16)
        for field in Batch._fields:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)


def test_state_dict_round_trip_samples_and_stores_identically() -> None:
    original = ReplayBuffer(17, (K, *FRAME), frame_stack=K, seed=7)
    fill(original, SCRIPT * 2)
    original.sample(8)
    state = original.state_dict()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    restored = ReplayBuffer(17, (K, *FRAME), frame_stack=K, seed=99)
    restored.load_state_dict(round_trip(state))
    assert len(restored) == len(original)
    np.testing.assert_array_equal(restored.last_sampled, original.last_sampled)
    for x, y in zip(restored.recent(5), original.recent(5), strict=True):
        np.testing.assert_array_equal(x.obs_frame, y.obs_frame)
        assert x[1:] == y[1:]
    assert_same_batches(original, restored)
    extra = Player(0, ["..T", "X"], first_tid=500)
    while extra.steps_left:
        step = extra.step()
        add(original, [step])
        add(restored, [step])
    assert_same_batches(original, restored)


def test_a_save_with_episode_start_flags_instead_of_ages_still_loads() -> None:
    original = ReplayBuffer(19, (K, *FRAME), frame_stack=K, seed=13)
    fill(original, SCRIPT * 2)
    legacy = dict(original.state_dict())
    legacy["first"] = original.first
    del legacy["age"], legacy["layout"]
    restored = ReplayBuffer(19, (K, *FRAME), frame_stack=K)
    restored.load_state_dict(round_trip(legacy))
    np.testing.assert_array_equal(restored.first, original.first)
    assert_same_batches(original, restored)


def check_contents(batch: Batch, truth: dict[int, Step]) -> set[int]:
    """Like check_batch, without the slot positions (which a gap or a re-layout moves)."""
    seen = set()
    for row, reward in enumerate(batch.rewards.tolist()):
        step = truth[int(reward)]
        seen.add(step.tid)
        np.testing.assert_array_equal(batch.observations[row], step.obs, err_msg=f"obs of {step.tid}")
        np.testing.assert_array_equal(batch.next_observations[row], step.next_obs, err_msg=f"next of {step.tid}")
        assert batch.actions[row] == step.action and batch.dones[row] == float(step.terminated)
    return seen


def every_transition(buffer: ReplayBuffer) -> Batch:
    return buffer.transitions(buffer.sampleable())


@pytest.mark.parametrize(("saved_envs", "saved_capacity", "envs", "capacity"),
                         [(2, 60, 1, 60), (1, 60, 2, 60), (2, 60, 3, 45), (3, 33, 2, 80), (2, 200, 1, 200)])
def test_a_saved_buffer_re_lays_for_another_number_of_streams_with_real_transitions_only(
        saved_envs: int, saved_capacity: int, envs: int, capacity: int) -> None:
    players = [Player(i, SCRIPT * 3, first_tid=1000 * i) for i in range(saved_envs)]
    saved = ReplayBuffer(saved_capacity, (K, *FRAME), frame_stack=K, num_envs=saved_envs, seed=3)
    truth: dict[int, Step] = {}
    for _ in range(40):  # 40 of 72 steps: some streams mid-episode, the small ones wrapped
        steps = [p.step() for p in players]
        add(saved, steps)
        truth.update({s.tid: s for s in steps})
    before = check_contents(every_transition(saved), truth)
    restored = ReplayBuffer(capacity, (K, *FRAME), frame_stack=K, num_envs=envs, seed=4)
    restored.load_state_dict(round_trip(saved.state_dict()))
    after = check_contents(every_transition(restored), truth)
    assert after <= before and len(restored) == len(after)
    lost = len(before) - len(after)
    assert lost <= (K + 1) * (saved_envs + envs) + max(0, saved.capacity - restored.capacity)  # seams only
    assert not restored.in_episode.any()
    more = [Player(i, ["..T", "....X"], first_tid=5000 + 100 * i) for i in range(envs)]
    for _ in range(7):
        steps = [p.step() for p in more]
        add(restored, steps)
        truth.update({s.tid: s for s in steps})
    check_contents(every_transition(restored), truth)


def test_an_exact_restore_closes_the_open_segment_so_a_reset_env_cannot_join_it() -> None:
    buffer = ReplayBuffer(40, (K, *FRAME), frame_stack=K, seed=8)
    player = Player(0, ["......T"], first_tid=0)
    truth = {}
    for _ in range(3):  # mid-episode
        step = player.step()
        add(buffer, [step])
        truth[step.tid] = step
    restored = ReplayBuffer(40, (K, *FRAME), frame_stack=K, seed=8)
    restored.load_state_dict(round_trip(buffer.state_dict()))
    fresh = Player(1, ["....T"], first_tid=100)  # a reset environment after the resume
    for _ in range(4):
        step = fresh.step()
        add(restored, [step])
        truth[step.tid] = step
    seen = check_contents(every_transition(restored), truth)
    assert seen == {0, 1, 2, 100, 101, 102, 103}


@pytest.mark.parametrize("announced", [True, False])
def test_steps_left_out_of_the_buffer_end_the_segment_and_the_next_one_rebuilds_its_stack(announced: bool) -> None:
    """Train -> play -> train inside one episode: the played steps are not stored, so the first stored step
    after them must not be joined to the last one before them (with or without `interrupt()`)."""
    buffer = ReplayBuffer(60, (K, *FRAME), frame_stack=K, seed=9)
    player = Player(0, ["....................T"], first_tid=0)
    truth, stored = {}, []
    for index in range(20):
        step = player.step()
        if index in range(5, 11):  # agent play: not stored
            if announced:
                buffer.interrupt()
            continue
        add(buffer, [step])
        truth[step.tid] = step
        stored.append(step.tid)
    seen = check_contents(every_transition(buffer), truth)
    assert seen == set(stored)
    gap_start = buffer.transitions(buffer.sampleable())
    assert len(gap_start.rewards) == len(stored)


def test_a_segment_that_starts_mid_episode_writes_only_the_frames_its_stack_needs() -> None:
    buffer = ReplayBuffer(30, (K, *FRAME), frame_stack=K, seed=10)
    padded = np.stack([encoded_frame(0, 1)] * 3 + [encoded_frame(0, 2)])
    buffer.add(padded, 0, 1.0, np.concatenate([padded[1:], encoded_frame(0, 3)[None]]), False, False)
    assert buffer.written[0] == 2 + 1 and buffer.age[0, :3].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(every_transition(buffer).observations[0], padded)


def test_add_refuses_a_next_obs_that_is_not_the_next_stack() -> None:
    buffer = ReplayBuffer(30, (K, *FRAME), frame_stack=K)
    obs = np.stack([encoded_frame(0, i) for i in range(4)])
    with pytest.raises(ValueError, match="moved on by one frame"):
        buffer.add(obs, 0, 0.0, obs, False, False)
    assert len(buffer) == 0


def test_batch_storage_is_recycled_only_once_nothing_refers_to_it() -> None:
    buffer = ReplayBuffer(100, (K, *FRAME), frame_stack=K, seed=14)
    truth = fill(buffer, SCRIPT)
    first = buffer.sample(8)
    address = first.observations.ctypes.data
    view = first.next_observations[2:]  # a view alone (or a torch.from_numpy tensor) keeps it in use
    expected = view.copy()
    del first
    second = buffer.sample(8)
    assert second.observations.ctypes.data != address
    np.testing.assert_array_equal(view, expected)
    address = second.observations.ctypes.data
    del second, view
    third = buffer.sample(8)
    assert third.observations.ctypes.data == address  # released: reused, no new allocation
    check_batch(buffer, third, truth)


def test_a_corrupt_state_leaves_the_buffer_untouched() -> None:
    buffer = ReplayBuffer(30, (K, *FRAME), frame_stack=K, seed=15)
    fill(buffer, SCRIPT[:3])
    before = {name: np.copy(value) for name, value in buffer.state_dict().items()}
    other = ReplayBuffer(30, (K, *FRAME), frame_stack=K, seed=16)
    fill(other, SCRIPT[3:])
    corrupt = dict(other.state_dict())
    corrupt["rng"] = np.frombuffer(b"{not json", dtype=np.uint8)
    with pytest.raises(ValueError):
        buffer.load_state_dict(corrupt)
    for name, value in buffer.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_frames_of_another_shape_are_refused_before_the_buffer_changes() -> None:
    buffer = ReplayBuffer(30, (K, *FRAME), frame_stack=K, seed=15)
    fill(buffer, SCRIPT[:3])
    before = {name: np.copy(value) for name, value in buffer.state_dict().items()}
    other = dict(buffer.state_dict())
    other["frames"] = np.zeros((1, buffer.ring, 2, 2), np.uint8)
    with pytest.raises(ValueError, match="frames"):
        buffer.load_state_dict(other)
    for name, value in buffer.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
