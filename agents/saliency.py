"""Perturbation saliency: where in its input a Q-network looks, for any network (Greydanus et al. 2018).

Greydanus, Koul, Dodge and Fern (2018, "Visualizing and Understanding Atari Agents", ICML) blur a small
patch of the input at each location of a grid and measure how much the network's output moves:

    phi(I, i, j) = I * (1 - M(i, j)) + A(I) * M(i, j)        S(i, j) = 1/2 ||Q(I) - Q(phi(I, i, j))||^2

with M(i, j) a Gaussian mask (sigma 5 px, peak 1) centred on (i, j) and A(I) the input blurred by a Gaussian
of sigma 3 px. Blurring removes what is at a place without painting anything new there, so S says how much
the network's values depend on that place. Nothing here needs the network's internals or gradients: it takes
any module that maps a batch of raw observations to a QOutput (mlp, cnn and attention alike), and runs all
the perturbed inputs through it in batched forward passes (chunked to bound memory).

Two maps come back: `map`, the paper's score over all actions, and `action_map`, the same score on the
greedy action's Q alone (1/2 (Q(I)_a - Q(phi)_a)^2 with a = argmax Q(I)): the first says what moves the
values, the second what moves the value of what the agent is about to do. Pointwise action_map <= map.

Atari (`pixel_saliency`): the (4, 84, 84) stack of frames is perturbed at the same place in all four frames;
centres every `stride` pixels (0, 5, ..., 80: 17 x 17 = 289 perturbed inputs at stride 5), and the coarse
map is interpolated bilinearly through the centres back to 84 x 84.

Gridworlds (`cell_saliency`): the patch is one cell, M is one-hot, and A(I) is the map's mean observation
(per plane, over all cells): a perturbed cell holds the fraction of walls, agent, goals and lava of the whole
map. Chosen over painting the cell as floor because (1) it is the paper's blur taken to its limit: it
removes the cell's content without asserting a particular other content, whereas "floor" would give every
floor cell a score of exactly 0 by construction (the open cells of a path are information too) and would
erase the agent outright; (2) it keeps the attention network's token set fixed: that network drops wall
cells (wall plane == 0 decides), and a cell blended to the mean stays on the same side of that test except
for a perturbed free cell (wall plane = the map's wall fraction), whose token only its own row loses. Every
chunk also carries the unperturbed observation, so the network's "free in any row of the batch" rule keeps
exactly the original free cells whatever the chunk size. For the attention network on a gridworld the map
is therefore that of the batched pass (which keeps a perturbed free cell's token, with its partial wall
plane), not of a one-observation pass (which would drop it); for every other network and for Atari the two
are the same.

Cost (`python -m agents.saliency`: torch.set_num_threads(1), random weights, on a 2-core Xeon that other jobs
shared, load average 2-3, so read them as upper bounds; medians of 5): one 84 x 84 map at stride 5 (289
perturbed inputs, in forward passes of up to 147) takes about 0.18-0.23 s with the Nature CNN, 0.25-0.40 s
with the attention network and 0.29-0.40 s with the MLP; spread over ~20 ms passes (as the window's training loop
runs it) 0.21 s, 0.28 s and 0.51 s (the MLP's 57 MB input layer is read once per pass). A gridworld map (13 x 13,
169 cells) costs 2 ms (MLP), 13 ms (CNN) and 55 ms (attention). Stride 5 stays the default: it is the paper's
resolution, and the window asks for at most two maps a second, within a quarter of its loop's time
(app.saliency_feed); stride 10 (9 x 9 = 81 inputs) costs 50-65 ms for any of the three Atari networks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

STRIDE = 5
"""Pixels between the centres of the perturbations on Atari frames (Greydanus et al. use 5)."""
MASK_SIGMA = 5.0
"""Standard deviation in pixels of the Gaussian mask that blends the blurred frame in (the paper's 5)."""
BLUR_SIGMA = 3.0
"""Standard deviation in pixels of the Gaussian blur A(I) (the paper's 3)."""
CHUNK_ELEMENTS = 1 << 22
"""Input elements per forward pass (4M floats, 16 MB): 148 Atari observations, or a 100 x 100 map's 104."""


class Saliency(NamedTuple):
    """One saliency map of one observation."""

    map: np.ndarray
    """(H, W) float32 1/2 ||Q(I) - Q(phi)||^2 over all actions, at the input's size (84 x 84, or rows x cols)."""
    action_map: np.ndarray
    """(H, W) float32 1/2 (Q(I)_a - Q(phi)_a)^2 for the greedy action a alone."""
    action: int
    """a = argmax_a Q(I, a), the greedy action of the unperturbed observation."""
    max_value: float
    """map.max() (>= action_map.max()): what a colour scale of the map tops out at."""
    seconds: float
    """Wall time the map took to compute."""
    q_values: np.ndarray
    """(A,) float32 Q(I), the unperturbed observation's values."""


def pixel_saliency(network: nn.Module, observation: np.ndarray | Tensor, *, stride: int = STRIDE,
                   mask_sigma: float = MASK_SIGMA, blur_sigma: float = BLUR_SIGMA) -> Saliency:
    """Saliency of a (C, H, W) image observation (an Atari frame stack): Gaussian-blur patches every `stride`
    pixels, the coarse map interpolated back to (H, W)."""
    return SaliencyJob(network, observation, "atari", stride=stride, mask_sigma=mask_sigma,
                       blur_sigma=blur_sigma).run()


def cell_saliency(network: nn.Module, observation: np.ndarray | Tensor) -> Saliency:
    """Saliency of a (planes, rows, cols) gridworld observation: each cell in turn blended to the map's mean
    observation (see the module docstring for why the mean and not floor); a rows x cols map."""
    return SaliencyJob(network, observation, "gridworld").run()


def saliency(env_kind: str, network: nn.Module, observation: np.ndarray | Tensor, **options: float) -> Saliency:
    """`pixel_saliency` for "atari" observations, `cell_saliency` for "gridworld" ones."""
    return SaliencyJob(network, observation, env_kind, **options).run()


class SaliencyJob:
    """One map, computed in passes of a few perturbed inputs each, so that a loop that must stay responsive
    (the window's training loop) can spread it over several of its steps: `step` runs one pass and returns
    the map after the last; `run` runs them all.

    Every pass carries the unperturbed observation as its first row and scores its rows against that row's
    Q: a pass is self-consistent even when the network trains between two passes. The greedy action is the
    first pass's.
    """

    MIN_ROWS = 16
    """Perturbed inputs per pass at least (but the last): a pass has a fixed cost (the MLP's 57 MB Atari input
    layer is read once per pass: 8 ms for 1 input, 26 ms for 16), and sizing passes by the mean cost per input
    would otherwise shrink them ever further on a busy CPU. The first pass of a `step(budget)` has this size."""

    def __init__(self, network: nn.Module, observation: np.ndarray | Tensor, env_kind: str, *,
                 stride: int = STRIDE, mask_sigma: float = MASK_SIGMA, blur_sigma: float = BLUR_SIGMA) -> None:
        self.network = network
        self.env_kind = env_kind
        self.image = _as_input(network, observation)
        channels, height, width = self.image.shape
        if env_kind == "atari":
            if stride < 1:
                raise ValueError(f"stride must be at least 1, not {stride}")
            self.rows, self.cols = np.arange(0, height, stride), np.arange(0, width, stride)
            replacement = gaussian_blur(self.image, blur_sigma)
            self._row_masks = _gaussian_profile(self.rows, height, mask_sigma, self.image.device)
            self._col_masks = _gaussian_profile(self.cols, width, mask_sigma, self.image.device)
        elif env_kind == "gridworld":
            self.rows, self.cols = np.arange(height), np.arange(width)
            replacement = self.image.mean(dim=(1, 2), keepdim=True).expand_as(self.image)
        else:
            raise ValueError(f"no saliency for environment kind {env_kind!r} (atari or gridworld)")
        self._delta = replacement - self.image
        self.count = len(self.rows) * len(self.cols)
        """Perturbed inputs in all: one per grid centre (Atari) or cell (gridworld)."""
        self.max_rows = max(1, CHUNK_ELEMENTS // self.image.numel() - 1)
        """Perturbed inputs per pass at most (bounds the memory of a pass)."""
        self.done = 0
        """Perturbed inputs scored so far."""
        self.seconds = 0.0
        """Compute time so far (the passes, not the pauses between them)."""
        self.action: int | None = None
        self.q_values: np.ndarray | None = None
        self._totals: list[Tensor] = []
        self._greedy: list[Tensor] = []
        self.result: Saliency | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None

    def run(self) -> Saliency:
        """All remaining passes, as large as memory allows; the map."""
        while self.result is None:
            self.step()
        return self.result

    def step(self, budget: float | None = None) -> Saliency | None:
        """One pass; the map once the last pass is done (then and afterwards), else None. `budget` (seconds)
        sizes the pass from the time per input measured so far (MIN_ROWS inputs at least); None makes it as large
        as memory allows."""
        if self.result is not None:
            return self.result
        started = time.perf_counter()
        if budget is None:
            rows = self.max_rows
        elif self.done == 0:
            rows = self.MIN_ROWS
        else:
            rows = max(self.MIN_ROWS, int(budget * self.done / max(self.seconds, 1e-9)))
        rows = min(rows, self.max_rows, self.count - self.done)
        indices = torch.arange(self.done, self.done + rows, device=self.image.device)
        batch = torch.cat([self.image.unsqueeze(0), self.image + self._delta * self._masks(indices)])
        with _evaluating(self.network):
            q = self.network(batch).q.detach().float()
        if self.action is None:
            self.action = int(q[0].argmax())
            self.q_values = q[0].cpu().numpy().astype(np.float32)
        change = q[1:] - q[0]
        self._totals.append(0.5 * change.pow(2).sum(dim=1))
        self._greedy.append(0.5 * change[:, self.action].pow(2))
        self.done += rows
        self.seconds += time.perf_counter() - started
        if self.done == self.count:
            self.result = self._finish()
        return self.result

    def _masks(self, indices: Tensor) -> Tensor:
        """(k, 1, H, W) masks M of perturbations `indices` (row-major over the grid of centres or cells)."""
        height, width = self.image.shape[-2:]
        if self.env_kind == "gridworld":
            masks = torch.zeros(len(indices), height * width, device=self.image.device)
            masks[torch.arange(len(indices)), indices] = 1.0
            return masks.view(-1, 1, height, width)
        r, c = indices // len(self.cols), indices % len(self.cols)
        return (self._row_masks[r][:, :, None] * self._col_masks[c][:, None, :]).unsqueeze(1)

    def _finish(self) -> Saliency:
        started = time.perf_counter()
        shape = (len(self.rows), len(self.cols))
        total = torch.cat(self._totals).cpu().numpy().reshape(shape)
        greedy = torch.cat(self._greedy).cpu().numpy().reshape(shape)
        self._totals = self._greedy = []
        if self.env_kind == "atari":
            height, width = self.image.shape[-2:]
            total = upsample(total, self.rows, self.cols, height, width)
            greedy = upsample(greedy, self.rows, self.cols, height, width)
        total = np.ascontiguousarray(total, dtype=np.float32)
        self.seconds += time.perf_counter() - started
        assert self.action is not None and self.q_values is not None
        return Saliency(total, np.ascontiguousarray(greedy, dtype=np.float32), self.action, float(total.max()),
                        self.seconds, self.q_values)


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """(C, H, W) float image blurred per channel by a Gaussian of `sigma` pixels (separable, truncated at 4
    sigma, edges mirrored without repeating the edge pixel: OpenCV's default BORDER_REFLECT_101)."""
    if sigma <= 0:
        return image.clone()
    channels, height, width = image.shape
    radius = min(int(4.0 * sigma + 0.5), height - 1, width - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=image.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = nn.functional.pad(image.unsqueeze(1), (radius, radius, radius, radius), mode="reflect")
    x = nn.functional.conv2d(x, kernel.view(1, 1, 1, -1))
    x = nn.functional.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.squeeze(1)


def upsample(coarse: np.ndarray, rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> np.ndarray:
    """(len(rows), len(cols)) values at pixel centres `rows` x `cols` -> (height, width), bilinear through the
    centres (exact at them), constant beyond the outermost ones."""
    ys, xs = np.arange(height), np.arange(width)
    across = np.stack([np.interp(xs, cols, line) for line in coarse])
    return np.stack([np.interp(ys, rows, column) for column in across.T], axis=1).astype(np.float32)


def _as_input(network: nn.Module, observation: np.ndarray | Tensor) -> Tensor:
    """The raw observation as a float (C, H, W) tensor on the network's device (the networks scale it)."""
    tensor = torch.as_tensor(np.asarray(observation) if not isinstance(observation, Tensor) else observation)
    if tensor.dim() != 3:
        raise ValueError(f"saliency takes one (C, H, W) observation, not shape {tuple(tensor.shape)}")
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    return tensor.to(device=device, dtype=torch.float32)


def _gaussian_profile(centres: np.ndarray, size: int, sigma: float, device: torch.device) -> Tensor:
    """(len(centres), size) exp(-(x - centre)^2 / (2 sigma^2)): one axis of the separable Gaussian mask."""
    positions = torch.arange(size, dtype=torch.float32, device=device)
    centre = torch.as_tensor(centres, dtype=torch.float32, device=device)[:, None]
    return torch.exp(-0.5 * ((positions - centre) / sigma) ** 2)


@contextmanager
def _evaluating(network: nn.Module) -> Iterator[None]:
    """Eval mode under inference_mode, the network's mode restored afterwards."""
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        network.train(was_training)


def _benchmark(repeats: int = 5) -> None:
    """Print the time of one map for each network on an Atari observation and a 13 x 13 gridworld, on 1 CPU
    thread: in one go (`run`), in ~20 ms passes (as the window's training loop runs it) and at stride 10."""
    from agents.config import dqn_config_for
    from agents.networks import build_q_network, use_channels_last

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cases = [("atari", (4, 84, 84), 255, 1 / 255.0), ("gridworld", (4, 13, 13), 1, 1.0)]

    def median_ms(network: nn.Module, observation: np.ndarray, kind: str, budget: float | None = None,
                  stride: int = STRIDE) -> float:
        times = []
        for _ in range(repeats):
            job = SaliencyJob(network, observation, kind, stride=stride)
            while job.step(budget) is None:
                pass
            times.append(job.seconds)
        return 1000 * float(np.median(times))

    for kind, shape, high, scale in cases:
        observation = torch.randint(0, high + 1, shape, dtype=torch.uint8).numpy()
        for name in ("mlp", "cnn", "attention"):
            network = use_channels_last(build_q_network(dqn_config_for(kind, network=name), shape, 6, scale))
            SaliencyJob(network, observation, kind).run()
            whole = median_ms(network, observation, kind)
            passes = median_ms(network, observation, kind, 0.02)
            line = f"{kind:9s} {name:9s}: {whole:7.1f} ms per map, {passes:7.1f} ms in 20 ms passes"
            if kind == "atari":
                line += f", {median_ms(network, observation, kind, stride=10):6.1f} ms at stride 10"
            print(line)


if __name__ == "__main__":
    _benchmark()
