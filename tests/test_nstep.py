"""n-step returns computed by the frame-once replay at sample time, against values worked out by hand.

Frames name their time step (frame t holds the value t), rewards are powers of two and gamma is 0.5, so every
expected return below is a short sum one can check on paper: from slot s with n = 3,
R = r_s + 0.5 r_(s+1) + 0.25 r_(s+2), cut short after a terminal, a truncation, a seam or the newest frame.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.config import dqn_config_for
from agents.dqn import DQNAgent
from agents.replay import ReplayBuffer
from agents.types import Batch

GAMMA = 0.5


def frame(t: int) -> np.ndarray:
    return np.array([t], dtype=np.uint8)


def stack(t: int, start: int = 0, k: int = 4) -> np.ndarray:
    """The (k, 1) frame stack at time t of an episode whose first frame is `start` (reset padding)."""
    return np.stack([frame(max(t - j, start)) for j in range(k - 1, -1, -1)])


def play(buffer: ReplayBuffer, start: int, rewards: list[float], *, last: str = "", life_lost_at: int = -1,
         k: int = 1) -> None:
    """One episode from frame `start`: step i goes start+i -> start+i+1 with rewards[i]; the last step
    terminates ('T'), truncates ('X') or leaves the episode open ('')."""
    for i, reward in enumerate(rewards):
        t = start + i
        final = i == len(rewards) - 1
        terminated = (final and last == "T") or i == life_lost_at
        truncated = final and last == "X"
        obs, next_obs = (frame(t), frame(t + 1)) if k == 1 else (stack(t, start, k), stack(t + 1, start, k))
        buffer.add(obs, 0, reward, next_obs, terminated, truncated, episode_end=(final and last in "TX" and last != ""))


def one_step_buffer(capacity: int = 32, n: int = 3) -> ReplayBuffer:
    return ReplayBuffer(capacity, (1,), n_step=n, gamma=GAMMA, seed=0)


def rows(buffer: ReplayBuffer, slots: list[int]) -> Batch:
    return buffer.transitions(slots)


def test_a_terminal_cuts_the_return_and_stops_the_bootstrap() -> None:
    buffer = one_step_buffer()
    play(buffer, 0, [1, 2, 4, 8], last="T")  # slots 0..3 hold transitions 0->1 .. 3->4
    batch = rows(buffer, [0, 1, 2, 3])
    np.testing.assert_allclose(batch.rewards, [1 + 1 + 1, 2 + 2 + 2, 4 + 4, 8])
    np.testing.assert_allclose(batch.discounts, [0.125, 0.125, 0.25, 0.5])
    np.testing.assert_array_equal(batch.dones, [0, 1, 1, 1])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [3, 4, 4, 4])


def test_a_truncation_cuts_the_return_but_keeps_the_bootstrap() -> None:
    buffer = one_step_buffer()
    play(buffer, 0, [1, 2, 4, 8], last="X")
    batch = rows(buffer, [1, 2, 3])
    np.testing.assert_allclose(batch.rewards, [6, 8, 8])
    np.testing.assert_allclose(batch.discounts, [0.125, 0.25, 0.5])
    np.testing.assert_array_equal(batch.dones, [0, 0, 0])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [4, 4, 4])


def test_returns_never_reach_into_the_next_episode() -> None:
    buffer = one_step_buffer()
    play(buffer, 0, [1, 2], last="T")  # slots 0, 1; final frame 2 in slot 2
    play(buffer, 10, [16, 32, 64])  # reset frame 10 in slot 3; transitions in slots 3, 4, 5
    batch = rows(buffer, [1, 3])
    np.testing.assert_allclose(batch.rewards, [2, 16 + 16 + 16])
    np.testing.assert_array_equal(batch.dones, [1, 0])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [2, 13])


def test_the_newest_transitions_bootstrap_from_the_newest_frame() -> None:
    buffer = one_step_buffer()
    play(buffer, 0, [1, 2, 4, 8])  # the episode goes on: nothing is stored after frame 4 yet
    batch = rows(buffer, [2, 3])
    np.testing.assert_allclose(batch.rewards, [4 + 4, 8])
    np.testing.assert_allclose(batch.discounts, [0.25, 0.5])
    np.testing.assert_array_equal(batch.dones, [0, 0])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [4, 4])


def test_a_seam_cuts_the_return_where_steps_went_unstored() -> None:
    buffer = one_step_buffer()
    play(buffer, 0, [1, 2])  # slots 0, 1; frame 2 in slot 2
    buffer.interrupt()  # e.g. Agent play without storing, then training again from frame 20
    play(buffer, 20, [4, 8])  # frame 20 in slot 3
    batch = rows(buffer, [0, 1, 3])
    np.testing.assert_allclose(batch.rewards, [1 + 1, 2, 4 + 4])
    np.testing.assert_array_equal(batch.dones, [0, 0, 0])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [2, 2, 22])


def test_returns_follow_the_ring_across_its_end_and_stop_at_its_cursor() -> None:
    buffer = one_step_buffer(capacity=6)
    play(buffer, 0, [1, 2, 4, 8, 16, 32, 64, 128])  # 9 frames into 6 slots: frames 3..8 remain
    # Frame t sits in slot t % 6; the cursor is at slot 3 (frame 9's place). Slot 5 (frame 5) walks on to
    # slots 0 and 1 (frames 6 and 7) across the end of the ring; slot 1 (frame 7) meets the newest frame.
    batch = rows(buffer, [5, 0, 1])
    np.testing.assert_allclose(batch.rewards, [32 + 32 + 32, 64 + 64, 128])
    np.testing.assert_allclose(batch.discounts, [0.125, 0.25, 0.5])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [8, 8, 8])
    assert 2 not in buffer.sampleable()  # frame 8's slot is the newest: no transition leaves it yet


def test_a_lost_life_is_a_terminal_for_the_return_but_not_for_the_frame_stack() -> None:
    buffer = ReplayBuffer(32, (4, 1), frame_stack=4, n_step=3, gamma=GAMMA, seed=0)
    play(buffer, 0, [1, 2, 4, 8, 16, 32], life_lost_at=2, k=4)  # the life goes at step 2 -> 3
    batch = rows(buffer, [1, 2, 3])  # transitions 1->2, 2->3 and 3->4
    np.testing.assert_allclose(batch.rewards, [2 + 2, 4, 8 + 8 + 8])
    np.testing.assert_array_equal(batch.dones, [1, 1, 0])
    np.testing.assert_array_equal(batch.next_observations, np.stack([stack(3), stack(3), stack(6)]))
    np.testing.assert_array_equal(batch.observations[0], stack(1))  # [0, 0, 0, 1]: padded as at reset


def test_next_stacks_are_the_observation_n_steps_later() -> None:
    buffer = ReplayBuffer(64, (4, 1), frame_stack=4, n_step=3, gamma=GAMMA, seed=0)
    play(buffer, 0, [0] * 10, k=4)
    for _ in range(20):
        batch = buffer.sample(16)
        for obs, next_obs, discount in zip(batch.observations, batch.next_observations, batch.discounts,
                                           strict=True):
            t = int(obs[-1, 0])
            m = round(np.log(discount) / np.log(GAMMA))
            assert m == min(3, 10 - t)
            np.testing.assert_array_equal(next_obs, stack(t + m))


def test_one_step_buffers_leave_the_discount_to_the_agent() -> None:
    buffer = one_step_buffer(n=1)
    play(buffer, 0, [1, 2, 4], last="T")
    batch = rows(buffer, [0, 2])
    assert batch.discounts is None
    np.testing.assert_allclose(batch.rewards, [1, 4])
    np.testing.assert_array_equal(batch.next_observations[:, 0], [1, 3])


def test_an_n_step_replay_costs_no_memory_per_transition() -> None:
    one = ReplayBuffer(1000, (4, 84, 84), frame_stack=4, n_actions=18)
    three = ReplayBuffer(1000, (4, 84, 84), frame_stack=4, n_actions=18, n_step=3)
    assert three.bytes_per_transition == one.bytes_per_transition <= 7200


@pytest.mark.parametrize("n", [0, 101])
def test_an_n_step_outside_its_range_is_refused(n: int) -> None:
    with pytest.raises(ValueError, match="n_step"):
        ReplayBuffer(32, (1,), n_step=n)


def test_the_update_discounts_each_row_by_its_own_gamma_to_the_m(one_torch_thread: None) -> None:
    config = dqn_config_for("gridworld", network="mlp", n_step=3, gamma=GAMMA, double=False, dueling=False,
                            buffer_size=64, batch_size=3)
    agent = DQNAgent(config, (1, 2, 2), 2, ["a", "b"], seed=0)
    rng = np.random.default_rng(0)
    batch = Batch(observations=rng.random((3, 1, 2, 2)).astype(np.float32), actions=np.array([0, 1, 0]),
                  rewards=np.array([1.0, -1.0, 0.5], np.float32),
                  next_observations=rng.random((3, 1, 2, 2)).astype(np.float32),
                  dones=np.array([0.0, 0.0, 1.0], np.float32), indices=np.arange(3),
                  discounts=np.array([0.125, 0.5, 0.25], np.float32))
    agent._center_inputs(torch.from_numpy(batch.observations))  # what the first update does, done first here
    with torch.no_grad():
        next_value = agent.target(torch.from_numpy(batch.next_observations)).q.max(dim=1).values
        target = torch.tensor(batch.rewards) + torch.tensor(batch.discounts) * (1 - torch.tensor(batch.dones)) \
            * next_value
        q = agent.online(torch.from_numpy(batch.observations)).q.gather(1, torch.tensor([[0], [1], [0]])).squeeze(1)
        expected = F.smooth_l1_loss(q, target).item()
    assert agent.update(batch).loss == pytest.approx(expected, rel=1e-5)
