"""Perturbation saliency (agents.saliency): hand-built networks whose Q reads one region, hand-computed scores,
batching against the one-input loop, and the maps of the networks the factory builds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from agents import saliency as saliency_module
from agents.envs.registry import EnvDescription
from agents.factory import AgentSpec, create_agent
from agents.networks import QOutput
from agents.saliency import (
    BLUR_SIGMA,
    MASK_SIGMA,
    Saliency,
    SaliencyJob,
    cell_saliency,
    gaussian_blur,
    pixel_saliency,
    saliency,
    upsample,
)
from tests.test_window import WAIT_MS, dialogs, open_window  # noqa: F401 - dialogs: its autouse fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PONG_ACTIONS = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")


class LinearQ(nn.Module):
    """Q = W x (x flattened and scaled), with W given: a network whose Q reads exactly the inputs W weights."""

    def __init__(self, weights: torch.Tensor, scale: float = 1.0) -> None:
        super().__init__()
        self.linear = nn.Linear(weights[0].numel(), len(weights), bias=False)
        self.linear.weight.data.copy_(weights.flatten(1))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> QOutput:
        return QOutput(self.linear(x.float().flatten(1) * self.scale), None, None)


class ConstantQ(nn.Module):
    def __init__(self, n_actions: int = 3) -> None:
        super().__init__()
        self.q = nn.Parameter(torch.arange(n_actions, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> QOutput:
        return QOutput(self.q.expand(len(x), -1), None, None)


def _atari_square(row: int, col: int, half: int = 2) -> np.ndarray:
    """A (4, 84, 84) stack, black but for a white (2 half + 1)-pixel square centred on (row, col)."""
    frames = np.zeros((4, 84, 84), np.uint8)
    frames[:, row - half:row + half + 1, col - half:col + half + 1] = 255
    return frames


def _patch_weights(row: int, col: int, gains: tuple[float, ...], half: int = 2) -> torch.Tensor:
    weights = torch.zeros(len(gains), 4, 84, 84)
    for action, gain in enumerate(gains):
        weights[action, :, row - half:row + half + 1, col - half:col + half + 1] = gain
    return weights


# ----------------------------------------------------------------------------------------- Atari pixels


def test_pixel_map_peaks_exactly_on_the_only_region_q_reads_and_is_zero_far_away() -> None:
    network = LinearQ(_patch_weights(40, 60, (1.0, 2.0)), scale=1 / 255)
    result = pixel_saliency(network, _atari_square(40, 60))
    assert isinstance(result, Saliency)
    assert result.map.shape == result.action_map.shape == (84, 84)
    assert np.unravel_index(result.map.argmax(), result.map.shape) == (40, 60)
    assert result.max_value == pytest.approx(float(result.map.max()))
    far = np.ones((84, 84), bool)
    far[10:71, 30:84] = False  # more than 30 px (6 mask sigmas) from the patch
    assert result.map[far].max() < 1e-6 * result.max_value
    # Both actions read the patch, action 1 twice as strongly: Q(I) = (100, 200), greedy 1, and
    # 1/2 dQ1^2 = 4/5 of 1/2 (dQ0^2 + dQ1^2) everywhere.
    np.testing.assert_allclose(result.q_values, [100.0, 200.0], rtol=1e-5)
    assert result.action == 1
    np.testing.assert_allclose(result.action_map, 0.8 * result.map, rtol=1e-4, atol=1e-9)
    assert result.seconds > 0


def test_pixel_score_at_the_peak_is_the_papers_formula_computed_by_hand() -> None:
    """S = 1/2 sum_a (W_a . (M * (A(I) - I)))^2 at the patch centre, with A(I) computed by OpenCV."""
    image = _atari_square(40, 60)
    weights = _patch_weights(40, 60, (1.0, -0.5))
    result = pixel_saliency(LinearQ(weights, scale=1 / 255), image)
    radius = int(4 * BLUR_SIGMA + 0.5)
    blurred = np.stack([cv2.GaussianBlur(frame.astype(np.float64), (2 * radius + 1, 2 * radius + 1), BLUR_SIGMA,
                                         borderType=cv2.BORDER_REFLECT_101) for frame in image])
    ys, xs = np.mgrid[0:84, 0:84]
    mask = np.exp(-((ys - 40) ** 2 + (xs - 60) ** 2) / (2 * MASK_SIGMA**2))
    change = np.einsum("achw,chw->a", weights.double().numpy(), mask * (blurred - image) / 255)
    assert result.map[40, 60] == pytest.approx(0.5 * (change**2).sum(), rel=1e-4)
    assert result.action == 0
    assert result.action_map[40, 60] == pytest.approx(0.5 * change[0] ** 2, rel=1e-4)


def test_gaussian_blur_is_opencvs() -> None:
    image = np.random.default_rng(0).integers(0, 256, (2, 30, 25)).astype(np.float32)
    ours = gaussian_blur(torch.from_numpy(image), 3.0).numpy()
    theirs = np.stack([cv2.GaussianBlur(c, (25, 25), 3.0, borderType=cv2.BORDER_REFLECT_101) for c in image])
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_upsample_is_exact_at_the_centres_and_linear_between() -> None:
    coarse = np.array([[0.0, 10.0], [20.0, 30.0]])
    full = upsample(coarse, np.array([0, 5]), np.array([0, 5]), 7, 7)
    assert full.shape == (7, 7)
    assert full[0, 0] == 0 and full[0, 5] == 10 and full[5, 0] == 20 and full[5, 5] == 30
    assert full[0, 2] == pytest.approx(4.0)  # 2/5 of the way from 0 to 10
    assert full[2, 2] == pytest.approx(0.4 * 20 + 0.4 * 10)  # bilinear: 8 + 4
    assert full[6, 6] == 30  # constant beyond the last centre


def test_the_greedy_action_map_follows_the_argmax_action_only() -> None:
    """Action 0 reads a square at (20, 20), action 1 (the greedy one, larger Q) one at (60, 60): the all-action
    map shows both squares, the greedy-action map only action 1's."""
    image = np.maximum(_atari_square(20, 20), _atari_square(60, 60))
    weights = _patch_weights(20, 20, (1.0, 0.0)) + _patch_weights(60, 60, (0.0, 3.0))
    result = pixel_saliency(LinearQ(weights, scale=1 / 255), image)
    assert result.action == 1 == int(np.argmax(result.q_values))
    assert result.map[20, 20] > 0.1 * result.max_value and result.map[60, 60] == result.max_value
    assert result.action_map[20, 20] < 1e-6 * result.action_map.max()
    assert np.unravel_index(result.action_map.argmax(), (84, 84)) == (60, 60)


@pytest.mark.parametrize("observation", [_atari_square(40, 40), np.zeros((4, 9, 7), np.uint8)])
def test_a_constant_network_has_an_all_zero_map(observation: np.ndarray) -> None:
    kind = "atari" if observation.shape[-1] == 84 else "gridworld"
    result = saliency(kind, ConstantQ(), observation)
    assert not result.map.any() and not result.action_map.any() and result.max_value == 0.0
    assert result.action == 2


# ----------------------------------------------------------------------------------------- gridworld cells


def _grid_observation() -> np.ndarray:
    """(walls, agent, goals, lava) planes of a 5 x 6 map: a wall border, the agent at (2, 3), a goal at (1, 1)."""
    planes = np.zeros((4, 5, 6), np.uint8)
    planes[0, [0, -1], :] = 1
    planes[0, :, [0, -1]] = 1
    planes[1, 2, 3] = 1
    planes[2, 1, 1] = 1
    return planes


def test_cell_map_is_the_hand_computed_score_on_the_one_cell_q_reads_and_zero_elsewhere() -> None:
    """Q = (agent plane at (2, 3), 3 x it): blending that cell to the map mean sets the agent plane there to
    1/30, so dQ = (-29/30, -3 * 29/30), S = 1/2 (1 + 9) (29/30)^2, and the greedy action 1's part 1/2 9 (29/30)^2."""
    weights = torch.zeros(2, 4, 5, 6)
    weights[0, 1, 2, 3], weights[1, 1, 2, 3] = 1.0, 3.0
    result = cell_saliency(LinearQ(weights), _grid_observation())
    assert result.map.shape == result.action_map.shape == (5, 6)
    expected = np.zeros((5, 6), np.float32)
    expected[2, 3] = 5.0 * (29 / 30) ** 2
    np.testing.assert_allclose(result.map, expected, rtol=1e-6, atol=0)
    assert result.action == 1
    assert result.action_map[2, 3] == pytest.approx(4.5 * (29 / 30) ** 2, rel=1e-6)
    assert np.count_nonzero(result.action_map) == 1
    assert result.max_value == pytest.approx(expected.max())


def test_a_wall_cell_is_perturbed_too() -> None:
    """Q = the wall plane at (0, 2): that wall blended to the map mean (18 walls of 30 cells) moves Q by -12/30."""
    weights = torch.zeros(1, 4, 5, 6)
    weights[0, 0, 0, 2] = 1.0
    result = cell_saliency(LinearQ(weights), _grid_observation())
    assert np.argwhere(result.map).tolist() == [[0, 2]]
    assert result.map[0, 2] == pytest.approx(0.5 * (12 / 30) ** 2, rel=1e-6)


# ----------------------------------------------------------------------------------------- batching


def _one_input_loop_pixels(network: nn.Module, image: np.ndarray, stride: int) -> np.ndarray:
    """The map by the definition: one perturbed input at a time, each through its own forward pass."""
    x = torch.from_numpy(image).float()
    blurred = gaussian_blur(x, BLUR_SIGMA)
    ys, xs = torch.meshgrid(torch.arange(x.shape[1]), torch.arange(x.shape[2]), indexing="ij")
    with torch.no_grad():
        q = network(x[None]).q[0]
        rows = range(0, x.shape[1], stride)
        cols = range(0, x.shape[2], stride)
        out = np.zeros((len(rows), len(cols)))
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                mask = torch.exp(-((ys - r) ** 2 + (xs - c) ** 2).float() / (2 * MASK_SIGMA**2))
                phi = x * (1 - mask) + blurred * mask
                out[i, j] = 0.5 * float(((network(phi[None]).q[0] - q) ** 2).sum())
    return out


def _one_input_loop_cells(network: nn.Module, grid: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(grid).float()
    mean = x.mean(dim=(1, 2))
    with torch.no_grad():
        q = network(x[None]).q[0]
        out = np.zeros(x.shape[1:])
        for r in range(x.shape[1]):
            for c in range(x.shape[2]):
                phi = x.clone()
                phi[:, r, c] = mean
                out[r, c] = 0.5 * float(((network(phi[None]).q[0] - q) ** 2).sum())
    return out


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(2, 3, 3, stride=2)
        self.out = nn.Linear(3 * 5 * 5, 4)

    def forward(self, x: torch.Tensor) -> QOutput:
        return QOutput(self.out(torch.relu(self.conv(x.float() / 255)).flatten(1)), None, None)


def test_the_batched_pixel_map_equals_the_one_input_loop_whatever_the_pass_size(monkeypatch) -> None:
    image = np.random.default_rng(2).integers(0, 256, (2, 12, 12)).astype(np.uint8)
    network = TinyCNN()
    expected = _one_input_loop_pixels(network, image, stride=3)
    coarse_centres = np.arange(0, 12, 3)
    whole = pixel_saliency(network, image, stride=3)
    np.testing.assert_allclose(whole.map[np.ix_(coarse_centres, coarse_centres)], expected, rtol=1e-4, atol=1e-9)
    monkeypatch.setattr(saliency_module, "CHUNK_ELEMENTS", 3 * image.size)  # passes of 2 perturbed inputs
    job = SaliencyJob(network, image, "atari", stride=3)
    assert job.max_rows == 2
    chunked = job.run()
    np.testing.assert_allclose(chunked.map, whole.map, rtol=1e-5, atol=1e-9)


def _gridworld_agent(network: str):
    description = EnvDescription("gridworld:test", "gridworld", "test", ("UP", "RIGHT", "DOWN", "LEFT"),
                                 (4, 5, 6), 1)
    return create_agent(description, AgentSpec(network=network), seed=0)


@pytest.mark.parametrize("network", ["mlp", "cnn"])
def test_the_batched_cell_map_equals_the_one_input_loop(network: str) -> None:
    agent = _gridworld_agent(network)
    grid = _grid_observation()
    result = cell_saliency(agent.online, grid)
    np.testing.assert_allclose(result.map, _one_input_loop_cells(agent.online, grid), rtol=1e-4, atol=1e-10)


def test_the_attention_networks_cell_map_does_not_depend_on_the_pass_size(monkeypatch) -> None:
    """Its token set is 'free in any row of the pass': the unperturbed row in every pass keeps it fixed."""
    agent = _gridworld_agent("attention")
    grid = _grid_observation()
    whole = SaliencyJob(agent.online, grid, "gridworld").run()
    monkeypatch.setattr(saliency_module, "CHUNK_ELEMENTS", 2 * grid.size)
    job = SaliencyJob(agent.online, grid, "gridworld")
    assert job.max_rows == 1  # passes of one perturbed input each
    np.testing.assert_allclose(job.run().map, whole.map, rtol=1e-4, atol=1e-10)


def test_a_job_spread_over_steps_gives_the_map_of_one_run() -> None:
    network = LinearQ(_patch_weights(40, 60, (1.0, 2.0)), scale=1 / 255)
    image = _atari_square(40, 60)
    job = SaliencyJob(network, image, "atari")
    steps = 0
    while job.step(budget=0.002) is None:
        steps += 1
    assert steps >= 2 and job.finished and job.done == job.count == 17 * 17
    np.testing.assert_allclose(job.result.map, pixel_saliency(network, image).map, rtol=1e-5, atol=1e-9)
    assert job.step() is job.result


def test_network_mode_is_restored_and_bad_inputs_are_refused() -> None:
    network = TinyCNN().train()
    pixel_saliency(network, np.zeros((2, 12, 12), np.uint8), stride=4)
    assert network.training
    with pytest.raises(ValueError, match="one \\(C, H, W\\) observation"):
        pixel_saliency(network, np.zeros((1, 2, 12, 12), np.uint8))
    with pytest.raises(ValueError, match="atari or gridworld"):
        saliency("mujoco", network, np.zeros((2, 12, 12), np.uint8))


# ----------------------------------------------------------------------------------------- factory networks


@pytest.mark.parametrize("network", ["mlp", "cnn", "attention"])
def test_every_factory_network_gets_a_map_of_the_gridworld(network: str) -> None:
    agent = _gridworld_agent(network)
    grid = _grid_observation()
    result = saliency("gridworld", agent.online, grid)
    _check_map(result, (5, 6), agent.q_values(grid))


@pytest.mark.parametrize("network", ["mlp", "cnn", "attention"])
def test_every_factory_network_gets_a_map_of_an_atari_frame(network: str) -> None:
    description = EnvDescription("ALE/Pong-v5", "atari", "Pong", PONG_ACTIONS, (4, 84, 84), 4)
    agent = create_agent(description, AgentSpec(network=network, overrides=("buffer_size=1000",)), seed=0)
    frames = np.random.default_rng(0).integers(0, 256, (4, 84, 84)).astype(np.uint8)
    result = saliency("atari", agent.online, frames)
    _check_map(result, (84, 84), agent.q_values(frames))
    assert result.max_value > 0


def _check_map(result: Saliency, shape: tuple[int, int], q_values: np.ndarray) -> None:
    assert result.map.shape == result.action_map.shape == shape
    assert result.map.dtype == result.action_map.dtype == np.float32
    assert np.isfinite(result.map).all() and (result.map >= 0).all()
    assert (result.action_map <= result.map * (1 + 1e-5) + 1e-12).all()
    np.testing.assert_allclose(result.q_values, q_values, rtol=1e-4, atol=1e-6)
    assert result.action == int(np.argmax(q_values))


# ----------------------------------------------------------------------------------------- in the training loop


def test_the_feed_starts_maps_at_a_bounded_rate_and_share_and_dates_them() -> None:
    """At most MAX_RATE maps a second, and a map costing c seconds is followed by c / LOOP_SHARE - c idle ones."""
    from types import SimpleNamespace

    from app.saliency_feed import LOOP_SHARE, MAX_RATE, SaliencyFeed

    weights = torch.zeros(2, 4, 5, 6)
    weights[1, 1, 2, 3] = 1.0
    agent, grid = SimpleNamespace(online=LinearQ(weights)), _grid_observation()
    feed = SaliencyFeed()
    assert not feed.offer("gridworld", agent, grid, 10.0, 5)  # off
    feed.set_enabled(True)
    assert not feed.offer("gridworld", SimpleNamespace(), grid, 10.0, 5)  # tabular: no network to perturb
    assert feed.offer("gridworld", agent, grid, 10.0, 5) and feed.pending
    assert not feed.offer("gridworld", agent, grid, 10.1, 6)  # one map at a time
    assert feed.view(10.1, 6, ACTIONS) is None
    while not feed.advance(10.2):
        pass
    shown = feed.view(12.0, 9, ACTIONS)
    assert (shown.age_steps, shown.age_seconds, shown.action, shown.action_name) == (4, 2.0, 1, "RIGHT")
    np.testing.assert_array_equal(shown.map, cell_saliency(agent.online, grid).map)
    next_start = max(10.0 + 1 / MAX_RATE, 10.2 + shown.seconds / LOOP_SHARE - shown.seconds)
    assert not feed.offer("gridworld", agent, grid, next_start - 1e-6, 10)
    assert feed.offer("gridworld", agent, grid, next_start + 1e-6, 10)
    feed.set_enabled(False)
    assert not feed.pending and feed.view(13.0, 11, ACTIONS) is None


ACTIONS = ("UP", "RIGHT", "DOWN", "LEFT")



class LoopDriver:
    """The Qt-free training loop run tick by tick in the test's thread, the window's commands queued."""

    def __init__(self) -> None:
        from app.training_loop import TrainingLoop

        self.commands: list[tuple[str, tuple]] = []
        self.events: list[tuple[str, tuple]] = []
        self.loop = TrainingLoop(emit=lambda name, args: self.events.append((name, args)),
                                 receive=lambda timeout: self.commands.pop(0) if self.commands else None,
                                 device="cpu", agent_overrides=LOOP_SMALL, seed=0)

    def send(self, name: str, *args: object) -> None:
        self.commands.append((name, args))

    def frame_where(self, condition, timeout: float = 30.0):
        import time

        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.loop.tick()
            frame = self.loop.collect_frame()
            if frame is not None and condition(frame):
                return frame
        raise AssertionError(f"no such frame within {timeout} s; events {[name for name, _ in self.events]}")


LOOP_SMALL = {"dqn": ("learning_starts=30", "buffer_size=300", "batch_size=8", "train_frequency=2",
                      "hidden_dim=16")}


@pytest.fixture
def loop_driver():
    drive = LoopDriver()
    yield drive
    drive.loop.close()


def _start(driver: LoopDriver, env_id: str, network: str, speed) -> object:
    driver.send("speed", speed)
    driver.send("new_session", env_id, AgentSpec("dqn", network))
    return driver.frame_where(lambda frame: True)


def test_switched_on_while_paused_the_loop_publishes_the_map_of_the_step_on_screen(loop_driver) -> None:
    from app.training_loop import Speed

    preview = _start(loop_driver, "gridworld/four-rooms", "cnn", Speed.PAUSED)
    assert preview.saliency is None
    loop_driver.send("saliency", True)
    frame = loop_driver.frame_where(lambda f: f.saliency is not None)
    shown = frame.saliency
    assert frame.snapshot is preview.snapshot and shown.age_steps == 0
    assert shown.map.shape == frame.description.obs_shape[-2:]
    network = loop_driver.loop._session.agent.online
    expected = cell_saliency(network, frame.snapshot.observation)
    np.testing.assert_allclose(shown.map, expected.map, rtol=1e-4, atol=1e-10)
    assert shown.action == expected.action and shown.action_name == frame.description.action_names[shown.action]
    assert "· this step ·" in shown.caption() and f"Q of {shown.action_name}" in shown.caption(greedy=True)
    import pickle

    again = pickle.loads(pickle.dumps(frame))  # it crosses the pipe from the training process
    np.testing.assert_array_equal(again.saliency.map, shown.map)


def test_while_training_maps_come_at_a_bounded_rate_with_their_age_and_stop_when_switched_off(loop_driver) -> None:
    import time

    from app.saliency_feed import MAX_RATE
    from app.training_loop import Speed

    _start(loop_driver, "gridworld/four-rooms", "mlp", Speed.FAST)
    loop_driver.send("saliency", True)
    first = loop_driver.frame_where(lambda f: f.saliency is not None)
    maps, started = {id(first.saliency.map)}, time.perf_counter()
    older = loop_driver.frame_where(lambda f: f.saliency is not None and f.saliency.age_steps > 0)
    assert older.saliency.age_seconds > 0 and " ago, " in older.saliency.caption()
    while time.perf_counter() - started < 1.5:
        loop_driver.loop.tick()
        frame = loop_driver.loop.collect_frame()
        if frame is not None and frame.saliency is not None:
            maps.add(id(frame.saliency.map))
    elapsed = time.perf_counter() - started
    assert 2 <= len(maps) <= MAX_RATE * elapsed + 2
    loop_driver.send("saliency", False)
    loop_driver.frame_where(lambda f: f.saliency is None)
    for _ in range(20):
        loop_driver.loop.tick()
        frame = loop_driver.loop.collect_frame()
        assert frame is None or frame.saliency is None


def test_an_atari_map_is_spread_over_several_loop_ticks(loop_driver, monkeypatch) -> None:
    from app.training_loop import Speed

    passes = []
    step = SaliencyJob.step

    def counted(job, budget=None):
        passes.append(budget)
        return step(job, budget)

    monkeypatch.setattr(SaliencyJob, "step", counted)
    _start(loop_driver, "ALE/Pong-v5", "attention", Speed.PAUSED)
    loop_driver.send("saliency", True)
    frame = loop_driver.frame_where(lambda f: f.saliency is not None)
    assert frame.saliency.map.shape == (84, 84) and frame.saliency.max_value > 0
    assert len(passes) >= 3 and all(budget is not None for budget in passes)


# ----------------------------------------------------------------------------------------- in the window


def test_the_overlay_switched_on_in_the_real_window_shows_a_fresh_map_over_the_game(qtbot) -> None:
    from dataclasses import replace

    from app.composite import Compositor
    from app.saliency_overlay import SaliencyOverlay

    win = open_window(qtbot, "gridworld/four-rooms", "cnn")
    overlay = SaliencyOverlay(win, win.game_view, win.worker)
    overlay.follow_session(win.session)  # what the window does on session_started
    assert overlay.actions() == [overlay.action, overlay.greedy_action] and not overlay.greedy_action.isEnabled()
    assert win.game_view.saliency_caption() == ""
    overlay.action.trigger()
    assert win.game_view.options.saliency and overlay.greedy_action.isEnabled()
    qtbot.waitUntil(lambda: win.game_view.frame is not None and win.game_view.frame.saliency is not None,
                    timeout=WAIT_MS)
    frame = win.game_view.frame
    shown = frame.saliency
    assert shown.map.shape == frame.description.obs_shape[-2:] and shown.max_value > 0
    assert win.game_view.saliency_caption().startswith("Saliency (all actions) · ")
    assert win.game_view.saliency_caption().endswith(" ms")
    # Drawn over the game. How much a tint changes a pixel depends on the colour under it as well as on the score
    # (red heat over red lava barely shows), so the picture is checked with a map of one known peak: that cell is
    # tinted, the cells scored 0 are untouched, and the real map changes the picture.
    options = replace(win.game_view.options, values=False, arrows=False)
    plain = Compositor().compose(frame, replace(options, saliency=False), hud=False).astype(int)

    def cell_tint(view_frame) -> np.ndarray:
        tint = np.abs(Compositor().compose(view_frame, options, hud=False).astype(int) - plain).sum(axis=2)
        rows, cols = shown.map.shape
        cell_h, cell_w = tint.shape[0] // rows, tint.shape[1] // cols
        return tint[:rows * cell_h, :cols * cell_w].reshape(rows, cell_h, cols, cell_w).mean(axis=(1, 3))

    assert cell_tint(frame).max() > 0
    peak = (shown.map.shape[0] // 2, shown.map.shape[1] // 2)
    one_peak = np.zeros_like(shown.map)
    one_peak[peak] = 1.0
    tinted = cell_tint(replace(frame, saliency=replace(shown, map=one_peak, max_value=1.0)))
    assert np.unravel_index(int(tinted.argmax()), tinted.shape) == peak
    far = np.ones_like(tinted, dtype=bool)
    far[max(peak[0] - 1, 0):peak[0] + 2, max(peak[1] - 1, 0):peak[1] + 2] = False  # scaling blends neighbours
    assert tinted[far].max() == 0
    overlay.greedy_action.trigger()
    assert win.game_view.options.saliency_greedy
    assert "(Q of " in win.game_view.saliency_caption()
    overlay.action.trigger()
    assert not win.game_view.options.saliency and win.game_view.saliency_caption() == ""
    qtbot.waitUntil(lambda: win.game_view.frame.saliency is None, timeout=WAIT_MS)


def test_the_attention_panel_shows_saliency_beside_attention_while_the_overlay_is_on(qtbot) -> None:
    win = open_window(qtbot, "gridworld/four-rooms", "attention")
    panel = win.attention_panel
    assert panel.saliency_shown() is None
    win.saliency_overlay.action.trigger()
    qtbot.waitUntil(lambda: panel.saliency_shown() is not None and panel.image() is not None, timeout=WAIT_MS)
    frame = win.game_view.frame
    shown = panel.saliency_shown()
    assert shown.shape == frame.description.obs_shape[-2:] == panel.image().shape  # a cell each, side by side
    assert shown.max() == pytest.approx(1.0) and shown.min() >= 0.0
    assert panel.saliency_caption.text().startswith("Saliency · ")
    win.saliency_overlay.action.trigger()
    qtbot.waitUntil(lambda: panel.saliency_shown() is None, timeout=WAIT_MS)
    win.close()
