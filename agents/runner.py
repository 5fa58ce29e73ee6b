"""The one loop: drive an environment with a controller, feed replay, learn, and report each step.

The command line and the window both iterate :func:`run`. Acting is separate from learning
(Dopamine's agent/runner split): the runner owns the environment, the agent only sees transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from agents.replay import Source
from agents.rewind import EpisodeHistory, Moment
from agents.types import EpisodeStats, Evaluation, Transition, UpdateStats

EVALUATION_EPSILON = {"atari": 0.05, "gridworld": 0.0}
"""Random-action rate of evaluation and agent play: Mnih et al. (2015) evaluate Atari agents epsilon-greedy
with 0.05, so a policy that never presses FIRE cannot stall a game until ALE's 108,000-frame cut; a
gridworld's time limit ends every episode, so its agents are judged greedy."""


def evaluation_epsilon(env_kind: str) -> float:
    """The evaluation epsilon of an environment family (0 for one this table does not know)."""
    return EVALUATION_EPSILON.get(env_kind, 0.0)


class Mode(str, Enum):
    """Who chooses the actions, and whether the agent learns from them."""

    TRAIN = "train"
    """The agent acts epsilon-greedily and learns."""
    PLAY = "play"
    """The agent acts greedily (or with a small play epsilon) and does not learn."""
    HUMAN = "human"
    """A person chooses the actions; the agent learns from them only if record_human is set."""


class Agent(Protocol):
    """The acting and learning interface shared by DQNAgent and TabularQAgent."""

    action_names: tuple[str, ...] | list[str]
    step_count: int
    episodes: list[EpisodeStats]

    @property
    def epsilon(self) -> float: ...

    def act(self, obs: np.ndarray, *, explore: bool = True, epsilon: float | None = None) -> int: ...

    def evaluate(self, obs: np.ndarray) -> Evaluation: ...

    def observe(self, transition: Transition) -> UpdateStats | None: ...

    def interrupt(self) -> None:
        """The stream of observations broke off (a reset, or steps it did not observe)."""
        ...


@dataclass
class RunSettings:
    """Knobs the caller may change between two steps (the window's worker does, from its own thread)."""

    mode: Mode = Mode.TRAIN
    human_action: Callable[[], int] | None = None
    """Returns the action a person is asking for now (used in Mode.HUMAN)."""
    play_epsilon: float = 0.0
    """Exploration while the agent plays (0 = greedy)."""
    record_human: bool = False
    """Store human play in the replay buffer (and learn from it)."""
    evaluate: bool = True
    """Compute Q-values and attention for every snapshot; turn off for turbo training."""
    render: bool = True
    """Render the colour frame for every snapshot; off for steps nobody looks at (the frame is then 1x1 black)."""
    play_agent: Agent | None = None
    """Another agent that acts in Mode.PLAY instead of the one run (the window's comparison): it only chooses
    actions; the episodes are the run agent's, and nothing is stored or learned in that mode."""


@dataclass(frozen=True)
class StepSnapshot:
    """What happened in one step, as copies, for a terminal line or a window's panels."""

    frame: np.ndarray
    """(H, W, 3) uint8 full-colour picture of the state after the step."""
    observation: np.ndarray
    """The network input after the step (e.g. (4, 84, 84) uint8)."""
    evaluation: Evaluation | None
    """The agent's view of `observation` (Q-values, V, attention); None when not evaluated."""
    action: int
    action_name: str
    reward: float
    """The environment's own reward (unclipped)."""
    terminated: bool
    truncated: bool
    episode: int
    """Index of the episode this step belongs to."""
    episode_step: int
    """Steps taken in this episode so far, this one included."""
    episode_return: float
    """Sum of rewards in this episode so far, this one included."""
    total_steps: int
    """The agent's lifetime count of environment steps it trained on."""
    epsilon: float
    mode: Mode
    update: UpdateStats | None
    """Statistics of the gradient update this step triggered, if any."""
    finished: EpisodeStats | None
    """Set on the last step of an episode."""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def episodes_finished(self) -> int:
        """Episodes the agent has finished in its life, this step's included: the one count every view shows."""
        return self.episode + (self.finished is not None)


def run(
    env: gym.Env,
    agent: Agent,
    settings: RunSettings | None = None,
    *,
    max_steps: int | None = None,
    seed: int | None = None,
    history: EpisodeHistory | None = None,
    start: Moment | None = None,
) -> Iterator[StepSnapshot]:
    """Step `env` forever (or `max_steps` times), yielding a snapshot after every step.

    Episodes reset themselves; the mode and controller may change between steps without
    restarting the episode. `history` records the episode's moments for stepping back (agents.rewind);
    `start`: go on from that moment of the episode instead of resetting (the caller has restored `env` to it and
    cut the history after it). The replay gets a seam there: nothing stored joins the steps before the moment
    with those after it.
    """
    settings = settings or RunSettings()
    if start is not None and not start.ended:
        episode = _Episode(len(agent.episodes), start.episode_step, start.episode_return)
        obs = start.observation
    else:
        episode = _Episode(index=len(agent.episodes))
        obs, info = env.reset(seed=seed, options=reset_options(agent, settings.mode))
        _begin(history, env, obs)
    interrupt(agent)
    steps = 0
    while max_steps is None or steps < max_steps:
        action = _choose_action(agent, obs, settings)
        next_obs, reward, terminated, truncated, info = env.step(action)
        update = _learn(agent, settings, obs, action, float(reward), next_obs, bool(terminated),
                        bool(truncated), info)
        finished = episode.record(float(reward), bool(terminated), bool(truncated), info)
        if finished is not None:
            agent.episodes.append(finished)
        if history is not None:
            history.record(env, next_obs, action, float(reward), bool(terminated), bool(truncated), info,
                           episode.length, episode.total_return)
        yield _snapshot(env, agent, settings, episode, next_obs, action, float(reward),
                        bool(terminated), bool(truncated), update, finished, info)
        steps += 1
        if finished is not None:
            episode = _Episode(index=len(agent.episodes))
            obs, info = env.reset(options=reset_options(agent, settings.mode))
            _begin(history, env, obs)
            interrupt(agent)
        else:
            obs = next_obs


def _begin(history: EpisodeHistory | None, env: gym.Env, obs: np.ndarray) -> None:
    if history is not None:
        history.begin(env, obs)


@dataclass
class _Episode:
    """Running totals of the episode in progress."""

    index: int
    length: int = 0
    total_return: float = 0.0

    def record(self, reward: float, terminated: bool, truncated: bool, info: dict) -> EpisodeStats | None:
        self.length += 1
        self.total_return += reward
        if not (terminated or truncated):
            return None
        return EpisodeStats(self.index, self.total_return, self.length, info.get("success"))


def reset_options(agent: Agent, mode: Mode) -> dict[str, Any] | None:
    """Training episodes of an agent with exploring_starts begin on a random cell; play starts on S.

    A controller without a config (a scripted one in the tests) always starts on S."""
    config = getattr(agent, "config", None)
    if mode is Mode.TRAIN and getattr(config, "exploring_starts", False):
        return {"random_start": True}
    return None


def interrupt(agent: Agent) -> None:
    """Tell the agent its observation stream broke off, so that its replay never joins the two sides."""
    notify = getattr(agent, "interrupt", None)  # a scripted controller in the tests has none
    if notify is not None:
        notify()


def _choose_action(agent: Agent, obs: np.ndarray, settings: RunSettings) -> int:
    if settings.mode is Mode.HUMAN:
        if settings.human_action is None:
            raise RuntimeError("human mode needs a human_action callable")
        return int(settings.human_action())
    if settings.mode is Mode.PLAY:
        actor = settings.play_agent if settings.play_agent is not None else agent
        return actor.act(obs, explore=settings.play_epsilon > 0, epsilon=settings.play_epsilon)
    return agent.act(obs, explore=True)


def _learn(
    agent: Agent,
    settings: RunSettings,
    obs: np.ndarray,
    action: int,
    reward: float,
    next_obs: np.ndarray,
    terminated: bool,
    truncated: bool,
    info: dict,
) -> UpdateStats | None:
    """Feed the agent the transition when the mode learns; Atari's clipped reward and life loss apply here only."""
    learns = settings.mode is Mode.TRAIN or (settings.mode is Mode.HUMAN and settings.record_human)
    if not learns:
        interrupt(agent)  # this step is not stored: the next stored one starts a new segment
        return None
    transition = Transition(
        obs=obs,
        action=action,
        reward=float(info.get("learning_reward", reward)),
        next_obs=next_obs,
        terminated=bool(info.get("learning_terminated", terminated)),
        truncated=truncated,
        episode_end=terminated or truncated,
        source=_source(agent, settings.mode),
    )
    return agent.observe(transition)


def _source(agent: Agent, mode: Mode) -> Source:
    """Who chose the action just taken, for the replay's tags."""
    if mode is Mode.HUMAN:
        return Source.HUMAN
    return Source.EXPLORING if getattr(agent, "last_explored", False) else Source.GREEDY


def _snapshot(
    env: gym.Env,
    agent: Agent,
    settings: RunSettings,
    episode: _Episode,
    next_obs: np.ndarray,
    action: int,
    reward: float,
    terminated: bool,
    truncated: bool,
    update: UpdateStats | None,
    finished: EpisodeStats | None,
    info: dict,
) -> StepSnapshot:
    evaluation = agent.evaluate(next_obs) if settings.evaluate else None
    frame = env.render() if settings.render and env.render_mode == "rgb_array" else None
    return StepSnapshot(
        frame=np.asarray(frame) if frame is not None else np.zeros((1, 1, 3), np.uint8),
        observation=np.array(next_obs, copy=True),
        evaluation=evaluation,
        action=action,
        action_name=str(agent.action_names[action]),
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        episode=episode.index,
        episode_step=episode.length,
        episode_return=episode.total_return,
        total_steps=agent.step_count,
        epsilon=agent.epsilon,
        mode=settings.mode,
        update=update,
        finished=finished,
        info=dict(info),
    )
