"""Deep Q-Network agent (Mnih et al. 2015, Nature), written like CleanRL's dqn.py: the update reads like the
equation.

Options: Double DQN targets (van Hasselt et al. 2016, "Deep RL with Double Q-learning", AAAI), dueling heads
(Wang et al. 2016) and an attention network (see agents.networks). The agent owns its replay buffer and its
random generator; the environment loop (agents.runner) owns the environment and the episode bookkeeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.config import DQNConfig, linear_epsilon
from agents.history import TrainingHistory
from agents.networks import QOutput, build_q_network, use_channels_last
from agents.precision import autocast, resolve_layout, resolve_precision
from agents.prioritized_replay import PrioritizedReplayBuffer, annealed_beta
from agents.replay import ReplayBuffer
from agents.types import Batch, EpisodeStats, Evaluation, SampledBatch, Transition, UpdateStats

VALUE_MAP_CHUNK = 512
"""Observations per forward pass in value_map (bounds the attention network's memory)."""


class DQNAgent:
    """Epsilon-greedy acting, experience replay, a target network, an update every train_frequency steps."""

    kind = "dqn"

    def __init__(
        self,
        config: DQNConfig,
        obs_shape: Sequence[int],
        n_actions: int,
        action_names: Sequence[str],
        *,
        frame_stack: int = 1,
        obs_scale: float = 1.0,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        num_envs: int = 1,
    ) -> None:
        self.config = config
        self.obs_shape = tuple(int(n) for n in obs_shape)
        self.n_actions = int(n_actions)
        self.action_names = tuple(action_names)
        self.frame_stack = int(frame_stack)
        self.obs_scale = float(obs_scale)
        self.device = torch.device(device)
        self.num_envs = int(num_envs)
        acting_seed, replay_seed = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.default_rng(acting_seed)
        if seed is not None:
            torch.manual_seed(seed)
        self.precision = resolve_precision(config, self.device, self.obs_shape)
        """"fp32" or "bf16": the arithmetic of the update's forward and backward passes (see agents.precision)."""
        self.memory_layout = resolve_layout(config, self.device, self.precision)
        self.online = self._network()
        self.target = self._network()
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        # The fused kernel is one pass over all parameters: ~8x faster than the per-tensor loop on a CPU.
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate,
                                          eps=config.adam_eps, fused=fused or None)
        self.replay = _replay_buffer(config, self.obs_shape, frame_stack=self.frame_stack, num_envs=self.num_envs,
                                     n_actions=self.n_actions,
                                     seed=None if seed is None else int(replay_seed.generate_state(1)[0]))
        self.step_count = 0
        self.update_count = 0
        self.episodes: list[EpisodeStats] = []
        self.last_update: UpdateStats | None = None
        self.last_batch: SampledBatch | None = None
        """The rows of the last update's minibatch, with their Q-values and targets (not saved)."""
        self.last_explored = False
        """The last `act` drew its action at random: the replay tags that transition as exploring."""
        self.last_explored_rows = np.zeros(0, bool)
        """The same per row of the last `act_batch`."""
        self.history = TrainingHistory()
        """Learning curves beyond the episodes, bounded (saved with the agent; see agents.history)."""

    def _network(self) -> nn.Module:
        network = build_q_network(self.config, self.obs_shape, self.n_actions, self.obs_scale).to(self.device)
        return use_channels_last(network) if self.memory_layout == "nhwc" else network

    # ----------------------------------------------------------------------------------------- acting

    @property
    def epsilon(self) -> float:
        """Exploration rate now: linear from start_e to end_e over exploration_fraction * total_timesteps."""
        cfg = self.config
        duration = cfg.exploration_fraction * cfg.total_timesteps
        return linear_epsilon(self.step_count, cfg.start_e, cfg.end_e, duration)

    def act(self, obs: np.ndarray, *, explore: bool = True, epsilon: float | None = None) -> int:
        """Epsilon-greedy action; explore=False is greedy; `epsilon` overrides the schedule."""
        eps = epsilon if epsilon is not None else (self.epsilon if explore else 0.0)
        self.last_explored = eps > 0.0 and self.rng.random() < eps
        if self.last_explored:
            return int(self.rng.integers(self.n_actions))
        with torch.inference_mode():
            return int(self.online(self._tensor(obs).unsqueeze(0)).q.argmax(dim=1).item())

    def act_batch(self, obs_batch: np.ndarray, *, explore: bool = True) -> np.ndarray:
        """(N,) int64 actions for N observations, one batched forward pass, independent epsilon per row."""
        with torch.inference_mode():
            actions = self.online(self._tensor(obs_batch)).q.argmax(dim=1).cpu().numpy()
        eps = self.epsilon if explore else 0.0
        self.last_explored_rows = np.zeros(len(actions), bool)
        if eps > 0.0:
            self.last_explored_rows = self.rng.random(len(actions)) < eps
            actions = np.where(self.last_explored_rows, self.rng.integers(self.n_actions, size=len(actions)), actions)
        return actions.astype(np.int64)

    def evaluate(self, obs: np.ndarray) -> Evaluation:
        """Q-values, V(s) (the value stream, else max Q) and the attention map for one observation."""
        with self._evaluating():
            out = self.online(self._tensor(obs).unsqueeze(0))
        q_values = out.q[0].cpu().numpy().astype(np.float32)
        value = float(out.value[0]) if out.value is not None else float(q_values.max())
        attention = out.attention[0].cpu().numpy().astype(np.float32) if out.attention is not None else None
        return Evaluation(q_values=q_values, value=value, attention=attention)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """(n_actions,) float32 Q-values of one observation."""
        with self._evaluating():
            return self.online(self._tensor(obs).unsqueeze(0)).q[0].cpu().numpy().astype(np.float32)

    def value_map(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V(s) (float32) and the greedy action (int64) for each of N observations, in batches."""
        values, actions = [], []
        with self._evaluating():
            for start in range(0, len(observations), VALUE_MAP_CHUNK):
                out = self.online(self._tensor(observations[start:start + VALUE_MAP_CHUNK]))
                value = out.value if out.value is not None else out.q.max(dim=1).values
                values.append(value.float().cpu().numpy())
                actions.append(out.q.argmax(dim=1).cpu().numpy())
        if not values:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        return np.concatenate(values).astype(np.float32), np.concatenate(actions).astype(np.int64)

    # --------------------------------------------------------------------------------------- learning

    def observe(self, transition: Transition) -> UpdateStats | None:
        """Store one step (of every env), then update every train_frequency steps and sync the target.

        Steps are counted per environment, so N envs keep the ratio of one update per train_frequency
        environment steps; returns the last update's statistics, or None when no update ran.
        """
        self.replay.add(*transition)
        return self.count_steps(self.num_envs)

    def count_steps(self, steps: int) -> UpdateStats | None:
        """`steps` more environment steps are in the replay (stored by `observe`, or by a distributed learner
        straight from its actors): update every train_frequency of them and sync the target as due."""
        before, self.step_count = self.step_count, self.step_count + int(steps)
        stats = None
        for _ in range(self._updates_due(before)):
            stats = self.update(self.sample_batch())
        syncs = _multiples_crossed(before, self.step_count, self.config.target_network_frequency)
        if syncs:
            self.sync_target(syncs)
        self.history.record(self.step_count, self.epsilon, len(self.episodes), stats)
        return stats

    def interrupt(self) -> None:
        """The environment was reset, or steps went by unobserved: replay starts a new segment at the next step."""
        self.replay.interrupt()

    def sample_batch(self) -> Batch:
        """A minibatch of batch_size from replay: uniform, or by priority with weights at today's beta."""
        if isinstance(self.replay, PrioritizedReplayBuffer):
            beta = annealed_beta(self.config.priority_beta, self.step_count, self.config.total_timesteps)
            return self.replay.sample(self.config.batch_size, beta=beta)
        return self.replay.sample(self.config.batch_size)

    def _updates_due(self, before: int) -> int:
        """Multiples of train_frequency in (max(before, learning_starts), step_count], once replay is warm.

        Warm means holding `warmup_size` transitions. On a fresh run that is the same moment as step
        learning_starts; after a resume whose replay did not come back it makes learning wait until the
        buffer is refilled, rather than updating on a few dozen highly correlated transitions.
        """
        if self.step_count <= self.config.learning_starts or len(self.replay) < self.warmup_size:
            return 0
        return _multiples_crossed(max(before, self.config.learning_starts), self.step_count,
                                  self.config.train_frequency)

    @property
    def warmup_size(self) -> int:
        """Transitions replay must hold before updates run: learning_starts (half the buffer if that is less,
        so an odd config with a buffer smaller than learning_starts still learns), and one batch at least."""
        return max(min(self.config.learning_starts, self.replay.capacity // 2), self.config.batch_size)

    def update(self, batch: Batch) -> UpdateStats:
        """One gradient step on the TD error of y = r + gamma (1 - done) Q_target(s', a').

        a' = argmax Q_target(s', .) (Mnih et al. 2015), or argmax Q_online(s', .) with double
        (van Hasselt et al. 2016). With n-step replay, r is the discounted sum of up to n rewards, s' the state
        m <= n steps later and gamma^m the batch's discount. Under bf16 the forward passes run in bfloat16,
        while the Q-values, targets and loss are float32.
        """
        cfg = self.config
        obs, next_obs = self._tensor(batch.observations), self._tensor(batch.next_observations)
        if self.update_count == 0:
            self._center_inputs(obs)
        actions = self._tensor(batch.actions).long()
        rewards, dones = self._tensor(batch.rewards).float(), self._tensor(batch.dones).float()
        discounts = self._discounts(batch)
        with torch.no_grad(), autocast(self.device, self.precision):
            next_q = self.target(next_obs).q.float()
            if cfg.double:
                next_action = self.online(next_obs).q.argmax(dim=1, keepdim=True)
                next_value = next_q.gather(1, next_action).squeeze(1)
            else:
                next_value = next_q.max(dim=1).values
            td_target = rewards + discounts * (1.0 - dones) * next_value
        with autocast(self.device, self.precision):
            q = self.online(obs).q.float().gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = self._td_loss(q, td_target, batch.weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self._clip_gradients(cfg.max_grad_norm)
        self.optimizer.step()
        self.update_count += 1
        q = q.detach()
        if batch.weights is not None and isinstance(self.replay, PrioritizedReplayBuffer):
            self.replay.update_priorities(batch.indices, (td_target - q).cpu().numpy())
        measured = torch.stack([loss.detach(), q.mean(), grad_norm, (td_target - q).abs().mean()]).tolist()
        self.last_update = UpdateStats(loss=measured[0], mean_q=measured[1], grad_norm=measured[2],
                                       td_error=measured[3])
        rows = torch.stack([q, td_target]).cpu().numpy()  # B x 2 floats: what the replay panel lists per row
        self.last_batch = SampledBatch(indices=np.asarray(batch.indices, np.int64),
                                       actions=np.asarray(batch.actions, np.int64),
                                       rewards=np.asarray(batch.rewards, np.float32),
                                       dones=np.asarray(batch.dones) > 0, q=rows[0], targets=rows[1])
        return self.last_update

    def _td_loss(self, q: Tensor, td_target: Tensor, weights: np.ndarray | None) -> Tensor:
        """Huber (or squared) TD error averaged over the batch; weighted per row under prioritized replay."""
        loss_of = F.smooth_l1_loss if self.config.loss == "huber" else F.mse_loss
        if weights is None:
            return loss_of(q, td_target)
        per_row = loss_of(q, td_target, reduction="none")
        return (self._tensor(weights).float() * per_row).mean()

    def _clip_gradients(self, max_norm: float) -> Tensor:
        """Scale the gradients to a global norm of at most max_norm; returns the norm before.

        The same arithmetic as clip_grad_norm_, which multiplies every gradient by min(1, max / norm) even when
        that is exactly 1: skipping that pass over the 3M gradients of a dueling Nature CNN saves ~4% of an
        update when (as nearly always after the first updates) the norm is under the limit."""
        gradients = [p.grad for p in self.online.parameters() if p.grad is not None]
        norm = nn.utils.get_total_norm(gradients)
        if max_norm / (float(norm) + 1e-6) < 1.0:
            nn.utils.clip_grads_with_norm_(self.online.parameters(), max_norm, norm)
        return norm

    def _discounts(self, batch: Batch) -> Tensor | float:
        """gamma^n per row for n-step batches (n is shorter where an episode ended), else gamma."""
        if batch.discounts is None:
            return self.config.gamma
        return self._tensor(batch.discounts).float()

    def _center_inputs(self, obs: Tensor) -> None:
        """Before the first gradient step, networks that centre their inputs take this batch's mean
        (see MLPQNetwork); online and target alike, so the target network is unchanged."""
        for network in (self.online, self.target):
            center = getattr(network, "center_inputs", None)
            if center is not None:
                center(obs)

    def sync_target(self, times: int = 1) -> None:
        """theta_target <- tau theta + (1 - tau) theta_target, `times` times over; tau = 1 is the paper's hard copy.

        Several steps counted at once (N environments, a distributed learner's chunk) owe one soft update each:
        k of them at once are one of weight 1 - (1 - tau)^k, so the target follows at the same pace per step
        (with one per call, 50-step chunks left a gridworld's target 50 times behind, and nothing was learned)."""
        tau = 1.0 - (1.0 - self.config.tau) ** max(1, int(times))
        with torch.no_grad():
            if tau >= 1.0:
                self.target.load_state_dict(self.online.state_dict())
                return
            for target_param, param in zip(self.target.parameters(), self.online.parameters(), strict=True):
                target_param.lerp_(param, tau)

    # ------------------------------------------------------------------------------------ bookkeeping

    def rng_state(self) -> dict[str, Any]:
        """JSON-able state of every random stream the agent draws on (acting, replay sampling, torch CPU)."""
        state: dict[str, Any] = {"numpy": self.rng.bit_generator.state,
                                 "torch": torch.get_rng_state().tolist()}
        replay_rng = getattr(self.replay, "rng", None)
        if isinstance(replay_rng, np.random.Generator):
            state["replay"] = replay_rng.bit_generator.state
        return state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore what rng_state() returned, for an exact resume."""
        self.rng.bit_generator.state = state["numpy"]
        torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
        replay_rng = getattr(self.replay, "rng", None)
        if "replay" in state and isinstance(replay_rng, np.random.Generator):
            replay_rng.bit_generator.state = state["replay"]

    def forward(self, obs_batch: np.ndarray) -> QOutput:
        """The online network's raw output for a batch (no gradient), for tools and tests."""
        with self._evaluating():
            return self.online(self._tensor(obs_batch))

    def _tensor(self, array: np.ndarray | Sequence[Any]) -> Tensor:
        """A tensor on the agent's device sharing memory with `array` where NumPy allows it."""
        array = np.asarray(array)
        if not array.flags.writeable:
            array = array.copy()
        elif not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode under inference_mode, restoring the previous mode (the networks have no dropout or
        batch norm, so this matters only to a future layer that does)."""
        was_training = self.online.training
        self.online.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.online.train(was_training)


def _multiples_crossed(before: int, after: int, every: int) -> int:
    """How many multiples of `every` lie in (before, after]."""
    return max(0, after // every - before // every)


def _replay_buffer(config: DQNConfig, obs_shape: tuple[int, ...], **kwargs: Any) -> ReplayBuffer:
    """The replay the config asks for: uniform, or prioritized (Schaul et al. 2016)."""
    common = dict(n_step=config.n_step, gamma=config.gamma, **kwargs)
    if config.prioritized_replay:
        return PrioritizedReplayBuffer(config.buffer_size, obs_shape, alpha=config.priority_alpha,
                                       priority_epsilon=config.priority_epsilon, **common)
    return ReplayBuffer(config.buffer_size, obs_shape, **common)
