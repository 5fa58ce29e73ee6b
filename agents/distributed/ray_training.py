"""Ape-X on Ray: N actors (agents.distributed.actors) spread over a Ray cluster, one learner in this process.

Ray is the engine: its actors run the environments (restarted by Ray when their process dies), its object store
carries the published weights, `ray.wait` hands the learner whichever chunk is ready. The learner owns the replay
buffer (one stream per actor, so every actor's steps stay one continuous stream) and the update: every chunk's
steps count towards one update per train_frequency steps, as in the single-process trainer, and the weights go
to the object store every `publish_every` updates. An actor's chunk lost with its process is the only loss; the
restarted actor starts a new segment in its stream.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agents.distributed.actors import ApexActor, actor_epsilons, network_weights, store_chunk
from agents.envs.game_options import GameOptions
from agents.envs.registry import EnvDescription
from agents.errors import ArcadeError, ConfigError
from agents.types import EpisodeStats, UpdateStats

CHUNK_STEPS = 50
"""Steps an actor takes per task: large enough that Ray's per-task cost (about a millisecond) is small, small
enough that the learner sees every actor's steps a few times a second."""
PUBLISH_EVERY = 50
"""Updates between two publications of the weights (Ape-X: every 400 on a GPU learner)."""
INSTALL_HINT = "--actors needs Ray: pip install -e '.[distributed]' (or pip install 'ray>=2.9')"
MAX_FAILURES = 5
"""An actor whose tasks fail this many times in a row is not restarted again: the run stops with the reason."""


class DistributedError(ArcadeError):
    """The distributed run cannot go on (an actor that keeps failing)."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


@dataclass
class DistributedStats:
    """What a distributed run did, for its report."""

    actors: int
    chunks: int = 0
    steps: int = 0
    updates: int = 0
    restarts: int = 0
    lost_chunks: int = 0
    publications: int = 0
    updates_published: int = 0
    """The learner's update count when the weights were last published."""
    chunk_steps: int = CHUNK_STEPS
    publish_every: int = PUBLISH_EVERY
    started: float = field(default_factory=time.perf_counter)

    def line(self, train_frequency: int, replay: str = "uniform") -> str:
        """The run's report: its rates and the settings they depend on (`replay`: uniform or prioritized)."""
        seconds = max(time.perf_counter() - self.started, 1e-9)
        return (f"{self.actors} actors: {self.steps / seconds:,.0f} env steps/s, {self.updates / seconds:,.1f} "
                f"updates/s (1 update per {train_frequency} steps, {replay} replay), chunks of {self.chunk_steps} "
                f"steps, weights every {self.publish_every} updates ({self.publications} publications), "
                f"{self.restarts} actor restarts ({self.lost_chunks} chunks lost)")


def connect(ray: Any, address: str | None) -> None:
    """A local Ray instance on this machine's cores, or the cluster at `address`."""
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, **options)


def distributed_steps(agent: Any, env_id: str, description: EnvDescription, actors: int, *, target: int,
                      address: str | None = None, seed: int | None = None, map_text: str | None = None,
                      game: GameOptions | None = None, stats: DistributedStats | None = None,
                      on_chunk: Any = None, chunk_steps: int = CHUNK_STEPS, publish_every: int = PUBLISH_EVERY
                      ) -> Iterator[tuple[int, tuple[EpisodeStats, ...], UpdateStats | None]]:
    """Train `agent` (a DQNAgent whose replay has one stream per actor) until it has `target` steps; yields (steps
    so far, episodes just finished, the last update's statistics) per chunk, as the single-process trainer does.
    `on_chunk(stats, handles)` is called after each chunk (the tests kill an actor from it). Actors send
    `chunk_steps` steps at a time; the weights are published every `publish_every` updates."""
    if chunk_steps < 1 or publish_every < 1:
        raise ConfigError("chunk steps and the publication period must be at least 1")
    if agent.kind != "dqn":
        raise ConfigError("--actors trains DQN agents (tabular Q-learning has no replay to share)")
    if agent.replay.num_envs != actors:
        raise ConfigError(f"the agent's replay has {agent.replay.num_envs} streams for {actors} actors")
    ray = import_ray()
    connect(ray, address)
    stats = stats or DistributedStats(actors)
    stats.chunk_steps, stats.publish_every = chunk_steps, publish_every
    cores = float(ray.cluster_resources().get("CPU", 1.0))
    remote = ray.remote(num_cpus=min(1.0, cores / actors), max_restarts=-1, max_task_retries=0)(ApexActor)
    handles = [remote.remote(i, env_id, description, agent.config, epsilon,
                             seed=None if seed is None else seed + 1000 * (i + 1), map_text=map_text, game=game)
               for i, epsilon in enumerate(actor_epsilons(actors))]
    weights = _publish(ray, agent, stats)
    pending = {handle.collect.remote(weights, chunk_steps): index for index, handle in enumerate(handles)}
    failures = [0] * actors
    try:
        while agent.step_count < target:
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            chunk = _fetch(ray, ready[0], stats, index, failures)
            if chunk is not None:
                finished, update = _learn(agent, chunk, index, stats)
                if agent.update_count >= stats.updates_published + publish_every:
                    weights = _publish(ray, agent, stats)
                yield agent.step_count, finished, update
            pending[handles[index].collect.remote(weights, chunk_steps)] = index
            if on_chunk is not None:
                on_chunk(stats, handles)
    finally:
        for handle in handles:
            ray.kill(handle, no_restart=True)


def _fetch(ray: Any, ref: Any, stats: DistributedStats, index: int, failures: list[int]) -> Any:
    """The chunk, or None when its actor died with it (Ray restarts the actor; the learner goes on). An actor that
    fails MAX_FAILURES times in a row (an error in its own code, not a lost process) stops the run in one line."""
    try:
        chunk = ray.get(ref)
    except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.RayTaskError) as error:
        failures[index] += 1
        if failures[index] >= MAX_FAILURES:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise DistributedError(f"actor {index} failed {MAX_FAILURES} times in a row: {reason}") from error
        stats.restarts += 1
        stats.lost_chunks += 1
        return None
    failures[index] = 0
    return chunk


def _learn(agent: Any, chunk: Any, stream: int, stats: DistributedStats
           ) -> tuple[tuple[EpisodeStats, ...], UpdateStats | None]:
    store_chunk(agent.replay, chunk, stream)
    finished = []
    for episode_return, length, success in chunk.finished:
        episode = EpisodeStats(len(agent.episodes), float(episode_return), int(length), success)
        agent.episodes.append(episode)
        finished.append(episode)
    before = agent.update_count
    update = agent.count_steps(chunk.steps)
    stats.chunks += 1
    stats.steps += chunk.steps
    stats.updates += agent.update_count - before
    return tuple(finished), update


def _publish(ray: Any, agent: Any, stats: DistributedStats) -> Any:
    """The online network's weights in the object store, once for every actor that asks."""
    stats.publications += 1
    stats.updates_published = agent.update_count
    return ray.put((stats.publications, network_weights(agent.online)))
