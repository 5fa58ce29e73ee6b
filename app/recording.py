"""Recording a saved agent's episodes as a video: the game view's picture (with the attention or saliency overlay
and the HUD line) beside the Q-value bars, at the game's own frame rate. Qt-free: `dqn-arcade record` runs it
with no window, and tests decode what it wrote.

Atari plays at 60 emulator frames a second; with frame skip 4 the agent acts every 4th, so each step gives four
pictures (under one set of Q-values, the step's). Gridworlds play at the window's normal pace, one picture a step.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pygame

from agents.checkpoint import LoadedSave
from agents.envs.registry import EnvDescription, check_actions_fit, describe_env, make_env
from agents.errors import ConfigError
from agents.runner import Mode, RunSettings, StepSnapshot, run
from agents.saliency import SaliencyJob
from agents.types import EpisodeStats, Evaluation
from app.composite import Compositor, ViewOptions, pygame_font, surface_rgb
from app.grid_maps import GridMaps
from app.headless import restoring_history
from app.sub_frames import attach_recorder
from app.training_loop import NORMAL_RATE
from app.value_scale import AxisRange, decimals_for, format_value
from app.video_file import RecordError, VideoFile, check_video_path
from app.view_frame import SaliencyView, ViewFrame

OVERLAYS = ("attention", "saliency", "none")
ATARI_FPS = 60.0
"""The emulator's own frame rate: every frame of each skipped step is shown."""
STRIP_WIDTH = 300
BACKGROUND = (18, 18, 24)
TEXT = (235, 235, 235)
MUTED = (150, 150, 160)
BAR = (120, 150, 200)
ACCENT = (230, 120, 20)
"""The greedy action's bar (the window's Q-value panel uses the same colours)."""
VALUE_LINE = (200, 40, 60)
ATTENTION_CAPTION = "Attention: softmax(QKᵀ/√d) over conv cells"
SALIENCY_EVERY = {"atari": 4, "gridworld": 1}
"""Steps between two saliency maps by default: an Atari map costs ~0.2 s on a CPU core, a gridworld's little."""


@dataclass(frozen=True)
class RecordSettings:
    episodes: int = 1
    overlay: str | None = None
    """"attention", "saliency" or "none"; None: attention for the attention network, else none."""
    epsilon: float = 0.0
    seed: int | None = None
    saliency_every: int | None = None
    """Steps between two saliency maps (None: SALIENCY_EVERY of the game's kind); the video says their age."""
    max_seconds: float | None = None
    """Stop after this much video (None: the whole episodes; a GIF stops at a minute)."""


@dataclass
class RecordReport:
    path: Path
    frames: int
    fps: float
    size: tuple[int, int]
    episodes: list[EpisodeStats] = field(default_factory=list)
    stopped_early: str | None = None
    """Why the recording ended before its last episode did (a time limit), or None."""
    seconds: float = 0.0
    """Wall time the recording took."""


def choose_overlay(asked: str | None, network: str | None, agent_kind: str) -> str:
    """The overlay to draw, or a one-line ConfigError for one this agent cannot have."""
    if asked is None:
        return "attention" if network == "attention" else "none"
    if asked not in OVERLAYS:
        raise ConfigError(f"unknown overlay '{asked}': choose {', '.join(OVERLAYS)}")
    if asked == "attention" and network != "attention":
        raise ConfigError(f"--overlay attention needs the attention network; this agent's is {network or agent_kind}"
                          " (choose saliency or none)")
    if asked == "saliency" and agent_kind != "dqn":
        raise ConfigError("--overlay saliency needs a Q-network (tabular Q-learning has none): choose none")
    return asked


def record_save(loaded: LoadedSave, out: str | Path, settings: RecordSettings,
                progress: Callable[[EpisodeStats], None] | None = None) -> RecordReport:
    """Play `settings.episodes` episodes of the saved agent (epsilon-greedy at `settings.epsilon`) into `out`."""
    out = Path(out)
    check_video_path(out)
    agent = loaded.agent
    network = getattr(agent.config, "network", None) if agent.kind == "dqn" else None
    overlay = choose_overlay(settings.overlay, network, agent.kind)
    env = make_env(loaded.env_id, render_mode="rgb_array", seed=settings.seed, map_text=loaded.map_text,
                   game=loaded.game_options)
    try:
        description = describe_env(loaded.env_id, env, loaded.game_options)
        check_actions_fit(agent.action_names, description, loaded.env_id)
        pictures = _Pictures(env, agent, description, network, overlay, settings)
        fps = ATARI_FPS if description.kind == "atari" else NORMAL_RATE["gridworld"]
        return _write(pictures, out, fps, settings, progress)
    finally:
        env.close()


def _write(pictures: _Pictures, out: Path, fps: float, settings: RecordSettings,
           progress: Callable[[EpisodeStats], None] | None) -> RecordReport:
    began = time.perf_counter()
    frame_limit = math.inf if settings.max_seconds is None else settings.max_seconds * fps
    episodes: list[EpisodeStats] = []
    stopped = None
    with VideoFile(out, fps) as video:
        for offered, (picture, finished) in enumerate(pictures.frames(), start=1):
            video.write(picture)
            if finished is not None:
                episodes.append(finished)
                if progress is not None:
                    progress(finished)
                if len(episodes) == settings.episodes:
                    break
            if offered >= frame_limit or video.full:
                stopped = (f"stopped at {offered / fps:.0f} s of video" +
                           (" (a GIF's limit: record an .mp4 for whole episodes)" if video.full else ""))
                break
    assert video.size is not None
    return RecordReport(out, video.frames_written, video.fps, video.size, episodes, stopped,
                        time.perf_counter() - began)


class _Pictures:
    """The episode's pictures, composited as the window draws them, with the Q-value strip beside them."""

    def __init__(self, env, agent, description: EnvDescription, network: str | None, overlay: str,
                 settings: RecordSettings) -> None:
        self.env, self.agent, self.description, self.network = env, agent, description, network
        self.settings = settings
        self.options = ViewOptions(attention=overlay == "attention", saliency=overlay == "saliency")
        self.recorder = attach_recorder(env)
        if self.recorder is not None:
            self.recorder.recording = True
        self.compositor = Compositor()
        self.grid_maps = GridMaps() if description.kind == "gridworld" else None
        self.strip = QStrip(description.action_names)
        self.saliency_every = settings.saliency_every or SALIENCY_EVERY.get(description.kind, 1)
        self._saliency: tuple[int, SaliencyView] | None = None
        self._steps = 0

    def frames(self) -> Iterator[tuple[np.ndarray, EpisodeStats | None]]:
        """(picture, the episode that ended with it or None), forever."""
        run_settings = RunSettings(mode=Mode.PLAY, play_epsilon=self.settings.epsilon, evaluate=True, render=True)
        with restoring_history(self.agent):  # recorded episodes are not training history
            yield from self._frames(run(self.env, self.agent, run_settings, seed=self.settings.seed))

    def _frames(self, steps: Iterator[StepSnapshot]) -> Iterator[tuple[np.ndarray, EpisodeStats | None]]:
        for snapshot in steps:
            self._steps += 1
            frame = self._view_frame(snapshot)
            screens = self.recorder.take()[:-1] if self.recorder is not None else []  # the last is the step's
            own = self._compose(frame)
            strip = self.strip.draw(snapshot, own.shape[0], _caption(frame, self.options))
            for screen in screens:  # the emulator frames before the step's own
                picture = self._compose(replace(frame, snapshot=replace(snapshot, frame=screen)))
                yield np.hstack([picture, strip]), None
            yield np.hstack([own, strip]), snapshot.finished

    def _view_frame(self, snapshot: StepSnapshot) -> ViewFrame:
        grid = None
        if self.grid_maps is not None:
            grid = self.grid_maps.compute(self.env, self.agent, self.description.obs_shape[-2:])
        return ViewFrame(snapshot=snapshot, description=self.description, agent_kind=self.agent.kind,
                         network=self.network, new_episodes=(), new_updates=(), steps_per_second=0.0, replay=None,
                         grid_values=grid[0] if grid else None, grid_actions=grid[1] if grid else None,
                         saliency=self._saliency_view(snapshot))

    def _saliency_view(self, snapshot: StepSnapshot) -> SaliencyView | None:
        if not self.options.saliency:
            return None
        if self._saliency is None or self._steps - self._saliency[0] >= self.saliency_every:
            began = time.perf_counter()
            result = SaliencyJob(self.agent.online, snapshot.observation, self.description.kind).run()
            names = self.description.action_names
            self._saliency = (self._steps, SaliencyView(
                map=result.map, action_map=result.action_map, action=result.action,
                action_name=str(names[result.action]), max_value=result.max_value,
                seconds=time.perf_counter() - began, age_steps=0, age_seconds=0.0))
        made, view = self._saliency
        age = self._steps - made  # in the video's time: steps at the game's pace
        return replace(view, age_steps=age, age_seconds=age / NORMAL_RATE.get(self.description.kind, 10.0))

    def _compose(self, frame: ViewFrame) -> np.ndarray:
        status = f"agent ε {self.settings.epsilon:g} · {frame.snapshot.total_steps:,} steps trained"
        return self.compositor.compose(frame, self.options, status)


class QStrip:
    """The Q-value bars as the window's panel draws them: one row per action, the greedy one in the accent
    colour, V(s) as a red line; the scale grows at once and shrinks slowly. (The Q-values are of the state on
    screen, so the action that led there is not marked: it was chosen from the previous state's.)"""

    def __init__(self, action_names: list[str] | tuple[str, ...], width: int = STRIP_WIDTH) -> None:
        self.names = [str(name) for name in action_names]
        self.width = width
        self.axis = AxisRange()

    def draw(self, snapshot: StepSnapshot, height: int, caption: str = "") -> np.ndarray:
        """(height, width, 3) uint8."""
        surface = pygame.Surface((self.width, height), 0, 32)
        surface.fill(BACKGROUND)
        evaluation = snapshot.evaluation
        title = pygame_font(22)
        surface.blit(title.render("Q(s, a)", True, TEXT), (10, 8))
        if evaluation is not None:
            self._draw_bars(surface, evaluation, top=36, bottom=height - 48)
            value_text = f"V(s) = {format_value(evaluation.value, decimals_for(evaluation.q_values))}"
            surface.blit(pygame_font(20).render(value_text, True, VALUE_LINE), (10, height - 42))
        if caption:
            small = pygame_font(16)
            surface.blit(small.render(caption[:48], True, MUTED), (10, height - 20))
        return surface_rgb(surface)

    def _draw_bars(self, surface: pygame.Surface, evaluation: Evaluation, top: int, bottom: int) -> None:
        values = np.asarray(evaluation.q_values, dtype=np.float64)
        self.axis.update(values, evaluation.value)
        rows = max(len(values), 1)
        row = min(30.0, (bottom - top) / rows)
        font = pygame_font(max(12, min(20, int(row * 0.75))))
        name_width, number_width = 110, 62
        left, right = 10 + name_width, self.width - 10 - number_width
        span = self.axis.span()

        def x_of(value: float) -> float:
            return left + (value - self.axis.low) / span * (right - left)

        zero = x_of(0.0)
        greedy = int(np.nanargmax(values)) if np.isfinite(values).any() else -1
        decimals = decimals_for(values)
        for index, value in enumerate(values):
            y = top + index * row
            name = self.names[index] if index < len(self.names) else str(index)
            surface.blit(font.render(name, True, TEXT), (10, y + (row - font.get_height()) / 2))
            if not math.isfinite(value):
                continue
            end = x_of(value)
            bar = pygame.Rect(round(min(zero, end)), round(y + row * 0.15), max(1, round(abs(end - zero))),
                              max(2, round(row * 0.7)))
            pygame.draw.rect(surface, ACCENT if index == greedy else BAR, bar)
            number = font.render(format_value(float(value), decimals), True, TEXT)
            surface.blit(number, (right + 6, y + (row - number.get_height()) / 2))
        pygame.draw.line(surface, MUTED, (zero, top), (zero, top + rows * row))
        if math.isfinite(evaluation.value):
            v = x_of(float(evaluation.value))
            pygame.draw.line(surface, VALUE_LINE, (v, top - 2), (v, top + rows * row + 2), 2)


class LiveRecording:
    """The pictures the window shows, written as a video by a thread of its own (composited there too), so the
    GUI thread only queues frames. Atari is written at 60 frames/s, gridworlds at 8: real time at normal speed,
    sped up as the window was at fast speed. A full queue (the encoder fell behind) drops pictures and counts
    them; a picture of another size (the network-input view switched on) is scaled to the first one's."""

    QUEUE_LIMIT = 240

    def __init__(self, path: str | Path, kind: str, action_names: list[str] | tuple[str, ...]) -> None:
        self.fps = ATARI_FPS if kind == "atari" else NORMAL_RATE["gridworld"]
        self._video = VideoFile(path, self.fps)
        self._video.__enter__()
        self.path = self._video.path
        self.dropped = 0
        self.error: BaseException | None = None
        self._strip = QStrip(action_names)
        self._compositor = Compositor()
        self._queue: queue.Queue[tuple[ViewFrame, ViewOptions, str] | None] = queue.Queue(self.QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._write_all, name="video recording", daemon=True)
        self._thread.start()

    @property
    def frames(self) -> int:
        return self._video.frames_written

    @property
    def over(self) -> bool:
        """The recording cannot take more (a GIF's minute is full, or writing failed): the caller finishes it."""
        return self.error is not None or self._video.full

    def add(self, frame: ViewFrame, options: ViewOptions, status: str = "") -> None:
        try:
            self._queue.put_nowait((frame, options, status))
        except queue.Full:
            self.dropped += 1

    def finish(self) -> RecordReport:
        """Write the rest and close the file (it replaces any old one now); RecordError if it could not be."""
        self._stop()
        if self.error is not None:
            self._video.__exit__(type(self.error), self.error, None)
            raise self.error if isinstance(self.error, RecordError) else RecordError(str(self.error))
        self._video.__exit__(None, None, None)
        return RecordReport(self.path, self.frames, self._video.fps, self._video.size or (0, 0))

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _write_all(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.over:
                continue  # drain: the GUI may still queue a few before it sees `over`
            frame, options, status = item
            try:
                self._video.write(self._picture(frame, options, status))
            except BaseException as error:  # noqa: BLE001 - reported by finish(), the window stays up
                self.error = error

    def _picture(self, frame: ViewFrame, options: ViewOptions, status: str) -> np.ndarray:
        picture = self._compositor.compose(frame, options, status)
        size = self._video.size
        if size is not None and (picture.shape[1], picture.shape[0]) != (size[0] - STRIP_WIDTH, size[1]):
            picture = cv2.resize(picture, (size[0] - STRIP_WIDTH, size[1]), interpolation=cv2.INTER_NEAREST)
        strip = self._strip.draw(frame.snapshot, picture.shape[0], _caption(frame, options))
        return np.hstack([picture, strip])


def _caption(frame: ViewFrame, options: ViewOptions) -> str:
    if options.saliency and frame.saliency is not None:
        return frame.saliency.caption(options.saliency_greedy).rsplit(" · took", 1)[0]
    if options.attention and frame.snapshot.evaluation is not None and frame.snapshot.evaluation.attention is not None:
        return ATTENTION_CAPTION
    return ""
