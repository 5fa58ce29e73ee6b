"""The frame-once replay ring, checked against stacks built by hand the way FrameStackObservation builds them.

Every synthetic frame encodes its environment stream and a unique frame id in its pixels, and every
transition's reward is its own unique id, so each sampled row can be looked up in the ground truth.
"""

from __future__ import annotations

import io
from collections import deque
from dataclasses import dataclass

import numpy as np
import pytest

from agents.replay import ReplayBuffer

FRAME = (3, 4)
K = 4


def _frame(stream: int, frame_id: int) -> np.ndarray:
    frame = np.full(FRAME, (frame_id * 7 + 3) % 256, np.uint8)
    frame[0, 0] = stream
    frame[0, 1] = frame_id // 256
    frame[0, 2] = frame_id % 256
    return frame


@dataclass
class Step:
    """One transition of the ground truth, plus the flat ring slot its obs frame must land in."""

    tid: int
    obs: np.ndarray
    action: int
    reward: float
    next_obs: np.ndarray
    terminated: bool
    truncated: bool
    episode_end: bool
    pos: int
    """Absolute frame-write position (before wrapping) of the newest frame of obs."""
    history_pos: int
    """Absolute position of the oldest real frame the obs stack needs (its episode start at most 3 back)."""


def _stream(stream: int, episodes: list[list[str]], first_tid: int, k: int = K) -> list[Step]:
    """Episodes as lists of step kinds: '.' ordinary, 'T' terminated, 'X' truncated, 'L' life lost (no reset).

    Obs stacks are built as gymnasium's FrameStackObservation does: reset fills the stack with the first frame.
    """
    steps: list[Step] = []
    tid = first_tid
    pos = -1
    frame_id = 1000 * stream
    for kinds in episodes:
        pos += 1
        start_pos = pos
        stack = deque([_frame(stream, frame_id)] * k, maxlen=k)
        frame_id += 1
        for kind in kinds:
            obs = np.stack(stack)
            stack.append(_frame(stream, frame_id))
            frame_id += 1
            terminated, truncated = kind in "TL", kind == "X"
            steps.append(Step(tid, obs, tid % 5, float(tid), np.stack(stack), terminated, truncated,
                              kind in "TX", pos, max(start_pos, pos - (k - 1))))
            tid += 1
            pos += 1
        assert kinds[-1] in "TX"
    return steps


def _add(buffer: ReplayBuffer, step: Step, k: int = K) -> None:
    obs, next_obs = (step.obs, step.next_obs) if k > 1 else (step.obs[-1], step.next_obs[-1])
    buffer.add(obs, step.action, step.reward, next_obs, step.terminated, step.truncated,
               episode_end=step.episode_end)


def _check_batch(buffer: ReplayBuffer, batch, truth: dict[int, Step], k: int = K, stream_of=None) -> set[int]:
    """Every row equals the ground-truth transition its reward names, stored where the layout puts it."""
    seen = set()
    for row in range(len(batch.rewards)):
        step = truth[int(batch.rewards[row])]
        seen.add(step.tid)
        obs, next_obs = (step.obs, step.next_obs) if k > 1 else (step.obs[-1], step.next_obs[-1])
        np.testing.assert_array_equal(batch.observations[row], obs, err_msg=f"obs of transition {step.tid}")
        np.testing.assert_array_equal(batch.next_observations[row], next_obs,
                                      err_msg=f"next_obs of transition {step.tid}")
        assert batch.actions[row] == step.action
        assert batch.dones[row] == float(step.terminated)
        stream = 0 if stream_of is None else stream_of(step)
        assert batch.indices[row] == stream * buffer.ring + step.pos % buffer.ring
    return seen


EPISODES = [list("....T"), list("..X"), list("..L...L..T"), list("T"), list("....L....X"), list(".....T")]


def test_bytes_per_transition_stores_each_atari_frame_once() -> None:
    buffer = ReplayBuffer(1000, (4, 84, 84), frame_stack=4)
    assert buffer.capacity == 1000
    assert 84 * 84 <= buffer.bytes_per_transition <= 7200
    assert buffer.frames.shape == (1, 1000, 84, 84)


def test_rejects_a_stack_that_does_not_match_obs_shape_and_tiny_capacity() -> None:
    with pytest.raises(ValueError):
        ReplayBuffer(100, (3, 84, 84), frame_stack=4)
    with pytest.raises(ValueError):
        ReplayBuffer(3, (4, 84, 84), frame_stack=4, num_envs=2)


def test_empty_sample_raises_value_error() -> None:
    buffer = ReplayBuffer(10, (K, *FRAME), frame_stack=K)
    assert len(buffer) == 0
    with pytest.raises(ValueError):
        buffer.sample(4)


def test_sampled_stacks_equal_added_obs_across_episodes_without_wrap() -> None:
    steps = _stream(0, EPISODES, first_tid=0)
    buffer = ReplayBuffer(100, (K, *FRAME), frame_stack=K, seed=0)
    for n, step in enumerate(steps, start=1):
        _add(buffer, step)
        assert len(buffer) == n
    truth = {s.tid: s for s in steps}
    seen: set[int] = set()
    for _ in range(20):
        seen |= _check_batch(buffer, buffer.sample(32), truth)
    assert seen == set(truth)  # every transition can be sampled


def test_episode_start_padding_repeats_the_first_frame() -> None:
    steps = _stream(0, [list("..T"), list("...X")], first_tid=0)
    first = steps[3]  # first step of the second episode
    assert all((first.obs[i] == first.obs[0]).all() for i in range(K))
    assert (first.next_obs[:3] == first.obs[0]).all() and not (first.next_obs[3] == first.obs[0]).all()
    buffer = ReplayBuffer(50, (K, *FRAME), frame_stack=K, seed=1)
    for step in steps:
        _add(buffer, step)
    batch = buffer.sample(200)
    rows = np.flatnonzero(batch.rewards == first.tid)
    assert len(rows) > 0
    np.testing.assert_array_equal(batch.observations[rows[0]], first.obs)
    np.testing.assert_array_equal(batch.next_observations[rows[0]], first.next_obs)


def test_wrap_around_samples_only_intact_transitions_and_each_matches_the_truth() -> None:
    steps = _stream(0, EPISODES * 3, first_tid=0)
    ring = 13
    buffer = ReplayBuffer(ring, (K, *FRAME), frame_stack=K, seed=2)
    truth = {s.tid: s for s in steps}
    frames_written = 0
    new_episode = True
    for step in steps:
        frames_written += 2 if new_episode else 1
        new_episode = step.episode_end
        _add(buffer, step)
        oldest = frames_written - ring  # absolute position of the oldest frame still in the ring
        stored = {s.tid for s in steps[:step.tid + 1] if s.pos >= oldest}
        assert len(buffer) == len(stored)
        seen = _check_batch(buffer, buffer.sample(64), truth)
        intact = {s.tid for s in steps[:step.tid + 1] if s.pos >= oldest and s.history_pos >= oldest}
        assert seen <= intact
    assert frames_written > 3 * ring
    # Over many batches, every transition whose whole stack history is in the ring and is clear of the
    # conservative k - 1 border is sampled.
    seen = set()
    for _ in range(30):
        seen |= _check_batch(buffer, buffer.sample(64), truth)
    promised = {s.tid for s in steps if s.pos >= frames_written - ring + K - 1}
    assert promised and promised <= seen


def test_dones_are_terminated_only_and_truncation_keeps_the_true_next_obs() -> None:
    steps = _stream(0, [list("..X"), list(".T")], first_tid=0)
    buffer = ReplayBuffer(20, (K, *FRAME), frame_stack=K, seed=3)
    for step in steps:
        _add(buffer, step)
    batch = buffer.sample(300)
    by_tid = {int(r): i for i, r in enumerate(batch.rewards)}
    assert set(by_tid) == {0, 1, 2, 3, 4}
    assert batch.dones[by_tid[2]] == 0.0  # truncated
    np.testing.assert_array_equal(batch.next_observations[by_tid[2]], steps[2].next_obs)
    assert not (batch.next_observations[by_tid[2]][-1] == steps[3].obs[-1]).all()  # not the reset obs
    assert batch.dones[by_tid[4]] == 1.0
    assert [batch.dones[by_tid[t]] for t in (0, 1, 3)] == [0.0, 0.0, 0.0]
    assert batch.dones.dtype == np.float32 and batch.actions.dtype == np.int64


def test_life_loss_terminal_without_episode_end_keeps_the_stack_continuous() -> None:
    steps = _stream(0, [list(".L..T")], first_tid=0)
    after = steps[2]
    # The stack after a lost life still holds the frames before it (no reset padding).
    assert len({int(after.obs[i, 0, 2]) for i in range(K)}) == 3
    buffer = ReplayBuffer(20, (K, *FRAME), frame_stack=K, seed=4)
    for step in steps:
        _add(buffer, step)
    assert buffer.first[0].sum() == 1  # one episode start only
    batch = buffer.sample(200)
    truth = {s.tid: s for s in steps}
    assert _check_batch(buffer, batch, truth) == set(truth)
    assert batch.dones[np.flatnonzero(batch.rewards == 1)[0]] == 1.0


def test_two_interleaved_streams_never_mix_frames() -> None:
    a = _stream(0, [list("...T"), list(".L.....X"), list("..T"), list("T")], first_tid=0)
    b = _stream(1, [list("T"), list("..X"), list("......T"), list("....T")], first_tid=1000)
    assert len(a) == len(b) == 16
    buffer = ReplayBuffer(2 * 11, (K, *FRAME), frame_stack=K, num_envs=2, seed=5)
    assert buffer.ring == 11
    truth = {s.tid: s for s in a + b}

    def stream_of(step: Step) -> int:
        return int(step.tid >= 1000)

    for sa, sb in zip(a, b, strict=True):
        buffer.add(np.stack([sa.obs, sb.obs]), np.array([sa.action, sb.action]), np.array([sa.reward, sb.reward]),
                   np.stack([sa.next_obs, sb.next_obs]), np.array([sa.terminated, sb.terminated]),
                   np.array([sa.truncated, sb.truncated]),
                   episode_end=np.array([sa.episode_end, sb.episode_end]))
        batch = buffer.sample(32)
        _check_batch(buffer, batch, truth, stream_of=stream_of)
        streams = batch.indices // buffer.ring
        for row, stream in enumerate(streams):
            assert (batch.observations[row][:, 0, 0] == stream).all()
            assert (batch.next_observations[row][:, 0, 0] == stream).all()
    assert set(np.unique(buffer.sample(64).indices // buffer.ring)) == {0, 1}


def test_single_frame_gridworld_shaped_observations() -> None:
    shape = (4, 3, 5)

    def grid_obs(i: int) -> np.ndarray:
        obs = np.zeros(shape, np.uint8)
        obs[0] = 1
        obs[1].flat[i % 15] = 1
        obs[2, 0, 0] = i  # unique id
        return obs

    buffer = ReplayBuffer(8, shape, frame_stack=1, seed=6)
    assert buffer.frame_shape == shape
    history = []
    obs = grid_obs(0)
    next_id = 1
    for t in range(20):
        nxt = grid_obs(next_id)
        next_id += 1
        terminated = t % 6 == 5
        buffer.add(obs, t % 4, float(t), nxt, terminated, False)
        history.append((obs, t % 4, nxt, terminated))
        if terminated:
            obs = grid_obs(next_id)
            next_id += 1
        else:
            obs = nxt
    batch = buffer.sample(50)
    assert batch.observations.shape == (50, *shape)
    for row in range(50):
        t = int(batch.rewards[row])
        assert t >= 20 - 8
        obs_t, action, nxt, terminated = history[t]
        np.testing.assert_array_equal(batch.observations[row], obs_t)
        np.testing.assert_array_equal(batch.next_observations[row], nxt)
        assert batch.actions[row] == action and batch.dones[row] == float(terminated)


def test_state_dict_round_trip_gives_the_identical_next_sample() -> None:
    steps = _stream(0, EPISODES * 2, first_tid=0)
    original = ReplayBuffer(17, (K, *FRAME), frame_stack=K, seed=7)
    for step in steps:
        _add(original, step)
    original.sample(8)
    saved = io.BytesIO()
    np.savez(saved, **original.state_dict())
    saved.seek(0)
    with np.load(saved, allow_pickle=False) as data:
        state = {name: data[name] for name in data.files}
    restored = ReplayBuffer(17, (K, *FRAME), frame_stack=K, seed=99)
    restored.load_state_dict(state)
    assert len(restored) == len(original)
    np.testing.assert_array_equal(restored.last_sampled, original.last_sampled)
    for _ in range(3):
        a, b = original.sample(16), restored.sample(16)
        for field in a._fields:
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    # and both keep storing identically
    extra = _stream(0, [list("..T")], first_tid=500)
    for step in extra:
        _add(original, step)
        _add(restored, step)
    a, b = original.sample(16), restored.sample(16)
    for field in a._fields:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_load_state_dict_rejects_a_buffer_of_another_shape() -> None:
    small = ReplayBuffer(10, (K, *FRAME), frame_stack=K)
    big = ReplayBuffer(20, (K, *FRAME), frame_stack=K)
    with pytest.raises(ValueError):
        big.load_state_dict(small.state_dict())


def test_recent_is_newest_first_with_the_right_contents() -> None:
    steps = _stream(0, EPISODES, first_tid=0)
    buffer = ReplayBuffer(100, (K, *FRAME), frame_stack=K, seed=8)
    for step in steps:
        _add(buffer, step)
    recent = buffer.recent(6)
    assert [int(r.reward) for r in recent] == [s.tid for s in steps[::-1][:6]]
    for item in recent:
        step = steps[int(item.reward)]
        np.testing.assert_array_equal(item.obs_frame, step.obs[-1])
        assert item.obs_frame.shape == FRAME
        assert (item.action, item.terminated, item.truncated) == (step.action, step.terminated, step.truncated)
        assert item.index == step.pos % buffer.ring
    assert len(buffer.recent(1000)) == len(steps)


def test_recent_after_wrap_around() -> None:
    steps = _stream(0, EPISODES * 2, first_tid=0)
    buffer = ReplayBuffer(12, (K, *FRAME), frame_stack=K)
    for step in steps:
        _add(buffer, step)
    recent = buffer.recent(100)
    assert len(recent) == len(buffer)
    tids = [int(r.reward) for r in recent]
    assert tids == sorted(tids, reverse=True) and tids[0] == steps[-1].tid
    assert tids == list(range(steps[-1].tid, steps[-1].tid - len(tids), -1))


def test_summary_marks_recent_rows_that_were_in_the_last_batch() -> None:
    steps = _stream(0, EPISODES, first_tid=0)
    buffer = ReplayBuffer(60, (K, *FRAME), frame_stack=K, seed=9)
    for step in steps:
        _add(buffer, step)
    empty = buffer.summary(8)
    assert empty.recent_sampled == (False,) * 8
    batch = buffer.sample(16)
    summary = buffer.summary(n_recent=12)
    assert (summary.size, summary.capacity, summary.nbytes) == (len(buffer), 60, buffer.nbytes)
    np.testing.assert_array_equal(summary.last_sampled, batch.indices)
    assert len(summary.recent) == 12 and len(summary.recent_sampled) == 12
    sampled = set(batch.indices.tolist())
    assert summary.recent_sampled == tuple(r.index in sampled for r in summary.recent)
    assert any(summary.recent_sampled)
    assert sorted(summary.reward_values.tolist()) == sorted(s.reward for s in steps)
    # a copy: sampling again does not change the summary already taken
    before = summary.last_sampled.copy()
    buffer.sample(16)
    np.testing.assert_array_equal(summary.last_sampled, before)


def test_len_counts_transitions_not_frames() -> None:
    buffer = ReplayBuffer(10, (K, *FRAME), frame_stack=K)
    steps = _stream(0, [list("..T"), list("T"), list("...X")], first_tid=0)
    # frames: 4 + 2 + 5 = 11 > 10; the oldest frame (slot 0, obs of transition 0) is overwritten
    counts = []
    for step in steps:
        _add(buffer, step)
        counts.append(len(buffer))
    assert counts == [1, 2, 3, 4, 5, 6, 7, 7]
    assert buffer.size == 7


def test_recent_and_stored_rewards_cover_every_transition_of_uneven_streams() -> None:
    """After wrap-around, streams hold different numbers of transitions (episode starts take slots);
    recent() and rewards_stored() must still reach every stored transition, not only as many per stream
    as the shortest stream has."""
    buffer = ReplayBuffer(2 * 6, (2, 2), frame_stack=1, num_envs=2)
    for t in range(10):
        obs = np.stack([np.full((2, 2), t, np.uint8), np.full((2, 2), 100 + t, np.uint8)])
        # stream 0: one long episode; stream 1: every step ends its episode (two slots per transition)
        buffer.add(obs, np.array([0, 1]), np.array([t, 100 + t], float), obs + 1, np.array([False, True]),
                   np.array([False, False]))
    # stream 0: 11 frames in a ring of 6 -> transitions 5..9 (5); stream 1: 20 frames -> transitions 7..9 (3)
    assert buffer.valid.sum(axis=1).tolist() == [5, 3]
    assert len(buffer) == 8
    expected = {5.0, 6.0, 7.0, 8.0, 9.0, 107.0, 108.0, 109.0}
    assert {r.reward for r in buffer.recent(8)} == expected
    assert set(buffer.rewards_stored().tolist()) == expected
    assert len(buffer.summary(16).recent) == 8
