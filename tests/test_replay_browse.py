"""Browsing the replay buffer: every sampleable transition oldest first across the ring's wrap, the source tag
stored with each (one byte; the 7.2 KB bound holds), the filters, and the tag's round trip through a save."""

from __future__ import annotations

import numpy as np
import pytest

from agents.replay import ReplayBuffer, Source
from agents.replay_browse import ReplayFilter, browse, chronological_ids, matching_ids
from agents.runner import Mode, RunSettings, run

SHAPE = (4, 3, 3)


def stacked(t: int) -> np.ndarray:
    """The stack of frames t-3 .. t, each frame filled with its own number."""
    return np.stack([np.full(SHAPE[1:], max(0, f), np.uint8) for f in range(t - 3, t + 1)])


def fill(buffer: ReplayBuffer, steps: int, *, source=Source.GREEDY, reward=lambda t: 0.0, end_at=()) -> None:
    buffer.interrupt()
    for t in range(steps):
        buffer.add(stacked(t), t % 3, reward(t), stacked(t + 1), t in end_at, False, source=source(t)
                   if callable(source) else source)


def test_transitions_come_oldest_first_across_the_wrap_of_the_ring():
    buffer = ReplayBuffer(10, SHAPE, frame_stack=4, n_actions=3)
    fill(buffer, 25)  # frames 22..25 and the newest transitions remain; the ring wrapped twice
    ids = chronological_ids(buffer)
    newest_frames = [browse(buffer, ReplayFilter(), i).observation[-1, 0, 0] for i in range(len(ids))]
    assert newest_frames == sorted(newest_frames) and newest_frames[-1] == 24
    last = browse(buffer, ReplayFilter(), -1)
    assert last.position == len(ids) - 1 and last.action == 24 % 3 and last.next_frame[0, 0] == 25
    np.testing.assert_array_equal(last.observation, stacked(24))
    assert browse(buffer, ReplayFilter(), 10_000).position == last.position  # clamped


def test_filters_choose_by_source_reward_and_ending():
    buffer = ReplayBuffer(100, SHAPE, frame_stack=4, n_actions=3)
    fill(buffer, 30, source=lambda t: Source.HUMAN if t % 5 == 0 else Source.EXPLORING,
         reward=lambda t: 1.0 if t == 7 else -1.0 if t == 12 else 0.0)
    human = matching_ids(buffer, ReplayFilter(frozenset({int(Source.HUMAN)})))
    assert [int(browse(buffer, ReplayFilter(frozenset({int(Source.HUMAN)})), i).observation[-1, 0, 0])
            for i in range(len(human))] == [0, 5, 10, 15, 20, 25]
    positive = browse(buffer, ReplayFilter(reward="positive"), 0)
    assert (positive.matching, positive.reward, positive.source) == (1, 1.0, Source.EXPLORING)
    assert browse(buffer, ReplayFilter(reward="non-zero"), 0).matching == 2
    assert browse(buffer, ReplayFilter(frozenset({int(Source.GREEDY)})), 0) is None
    ended = ReplayBuffer(100, SHAPE, frame_stack=4, n_actions=3)
    fill(ended, 10, end_at=(4,))
    terminal = browse(ended, ReplayFilter(ending="terminal"), 0)
    assert terminal.matching == 1 and terminal.terminated and terminal.observation[-1, 0, 0] == 4
    with pytest.raises(ValueError, match="reward filter"):
        ReplayFilter(reward="huge")


def test_the_tag_costs_one_byte_and_survives_a_save_and_an_older_save_reads_as_unknown():
    atari = ReplayBuffer(1000, (4, 84, 84), frame_stack=4, n_actions=18)
    assert atari.sources.dtype == np.uint8 and atari.bytes_per_transition <= 7200
    buffer = ReplayBuffer(50, SHAPE, frame_stack=4, n_actions=3)
    fill(buffer, 20, source=lambda t: Source.HUMAN if t < 10 else Source.EXPLORING)
    state = dict(buffer.state_dict())
    again = ReplayBuffer(50, SHAPE, frame_stack=4, n_actions=3)
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.sources, buffer.sources)
    del state["sources"]
    older = ReplayBuffer(50, SHAPE, frame_stack=4, n_actions=3)
    older.load_state_dict(state)
    assert browse(older, ReplayFilter(), 0).source is Source.UNKNOWN
    state["sources"] = np.full_like(buffer.sources, 9)
    with pytest.raises(ValueError, match="sources outside"):
        ReplayBuffer(50, SHAPE, frame_stack=4, n_actions=3).load_state_dict(state)


def test_the_runner_tags_what_the_agent_explored_acted_greedily_and_a_person_played():
    from agents.envs.registry import describe_env, make_env
    from agents.factory import AgentSpec, create_agent

    env = make_env("gridworld/open-room", render_mode=None, seed=0)
    agent = create_agent(describe_env("gridworld/open-room", env), AgentSpec("dqn", "mlp"), device="cpu", seed=0,
                         extra_overrides=("learning_starts=100000", "buffer_size=500", "hidden_dim=8",
                                          "start_e=0.5", "end_e=0.5"))
    settings = RunSettings(mode=Mode.TRAIN, human_action=lambda: 1, record_human=True, evaluate=False, render=False)
    steps = run(env, agent, settings)
    for _ in range(60):
        next(steps)
    settings.mode = Mode.HUMAN
    for _ in range(10):
        next(steps)
    tags = agent.replay.sources.reshape(-1)[chronological_ids(agent.replay)]
    agent_tags, human_tags = tags[:-10], tags[-10:]
    assert set(human_tags.tolist()) == {Source.HUMAN}
    assert set(agent_tags.tolist()) == {Source.EXPLORING, Source.GREEDY}  # epsilon 0.5: both, nothing else
    assert 0.25 < np.mean(agent_tags == Source.EXPLORING) < 0.75
