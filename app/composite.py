"""The game picture: the environment frame with its overlays (V(s), arrows, attention, saliency), composited by
pygame. Qt-free, so the window's game view and the `record` command draw the very same picture.

`compose` draws on off-screen pygame Surfaces only (pygame.display is never touched, so no second
window and no SDL video driver is needed).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from app.view_frame import SaliencyView, ViewFrame  # noqa: E402

TARGET_SIDE = 600
"""Frames are upscaled by a whole factor to about this many pixels, so the HUD text is readable."""
HUD_FRACTION = 0.045
"""The HUD band is this fraction of the board's height, so its text keeps its size when Qt scales the picture."""
ATTENTION_MAX_ALPHA = 210
ATTENTION_THRESHOLD = 0.02
"""Focus (1 - normalised entropy) from which the map counts as attending somewhere."""
ATTENTION_FLOOR = 0.35
"""Overlay strength at ATTENTION_THRESHOLD: clearly visible as soon as the agent attends somewhere."""
ATTENTION_FULL = 0.5
"""Focus at which the overlay reaches full strength (e.g. all weight spread over ~sqrt(N) of N cells)."""
_ARROW_VECTORS = {"UP": (0.0, -1.0), "DOWN": (0.0, 1.0), "LEFT": (-1.0, 0.0), "RIGHT": (1.0, 0.0)}
# Perceptually ordered stops (viridis) for V(s), and black-red-yellow (hot) for attention.
_VALUE_STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)
_HEAT_STOPS = np.array([[0, 0, 0], [180, 20, 0], [255, 140, 0], [255, 255, 120]], float)


@dataclass(frozen=True)
class ViewOptions:
    """What the game view draws on top of (or instead of) the environment frame."""

    network_input: bool = False
    """Atari: show the 84x84 greyscale frame the network sees instead of the colour screen."""
    values: bool = True
    """Gridworld: V(s) heat map over every free cell."""
    arrows: bool = True
    """Gridworld: the greedy action in every free cell."""
    attention: bool = False
    """The attention network's weights as a semi-transparent heat map."""
    attention_head: int | None = None
    """Which head to show; None averages the heads."""
    saliency: bool = False
    """The latest perturbation-saliency map (ViewFrame.saliency) as a heat map like the attention's."""
    saliency_greedy: bool = False
    """Show the saliency of the greedy action's Q instead of that of all the Q-values."""


@functools.lru_cache(maxsize=16)
def pygame_font(size: int) -> pygame.font.Font:
    """Fonts are loaded once per size: opening the font file 30 times a second shows up in profiles."""
    if not pygame.font.get_init():
        pygame.font.init()
    return pygame.font.Font(None, size)


def colormap(values: np.ndarray, stops: np.ndarray = _VALUE_STOPS) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB by linear interpolation between colour stops."""
    x = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(stops) - 1)
    low = np.floor(x).astype(int).clip(0, len(stops) - 2)
    t = (x - low)[..., None]
    return ((1 - t) * stops[low] + t * stops[low + 1]).astype(np.uint8)


# Surfaces are made in SDL's native 32-bit layout (B, G, R, A in memory): blitting a layer whose channels are in
# another order goes through a per-pixel conversion, 24 times slower (8 ms for a 624 x 624 gridworld layer,
# 0.3 ms native), which held the window's view at 18 frames/s on a gridworld.


def _surface(rgb: np.ndarray) -> pygame.Surface:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    packed = pygame.image.frombuffer(rgb.tobytes(), (rgb.shape[1], rgb.shape[0]), "RGB")
    surface = pygame.Surface(packed.get_size(), 0, 32)
    surface.blit(packed, (0, 0))  # 24-bit to native 32-bit: a fast path, unlike the blits onto 24-bit
    return surface


def _rgba_surface(rgb: np.ndarray, alpha: np.ndarray) -> pygame.Surface:
    height, width = rgb.shape[:2]
    bgra = np.empty((height, width, 4), np.uint8)
    bgra[..., :3] = np.asarray(rgb, dtype=np.uint8)[..., ::-1]
    bgra[..., 3] = np.clip(alpha, 0, 255)
    return pygame.image.frombuffer(bgra.tobytes(), (width, height), "BGRA").copy()


def is_gridworld(frame: ViewFrame) -> bool:
    return frame.description.kind == "gridworld"


def _base_picture(frame: ViewFrame, options: ViewOptions) -> np.ndarray:
    """The picture under the overlays: the colour frame, or the network's newest input frame."""
    snapshot = frame.snapshot
    if options.network_input and not is_gridworld(frame) and snapshot.observation.ndim == 3:
        grey = np.asarray(snapshot.observation[-1], dtype=np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    picture = np.asarray(snapshot.frame, dtype=np.uint8)
    return picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=2)


def scale_factor(height: int, width: int) -> int:
    """A whole upscaling factor, so every source pixel becomes an equal square block."""
    return max(1, math.ceil(TARGET_SIDE / max(height, width, 1)))


def compose(frame: ViewFrame, options: ViewOptions, status: str = "") -> np.ndarray:
    """The composited picture, HUD line on top, as (H, W, 3) uint8."""
    return Compositor().compose(frame, options, status)


class Compositor:
    """Composes frames, keeping the gridworld overlay layer until the value map changes.

    The worker refreshes V(s) and the greedy actions a few times a second while the picture changes
    every step; redrawing ~100 labels and arrows per frame would cost the GUI thread most of its time.
    """

    def __init__(self) -> None:
        self._grid_key: tuple | None = None
        self._grid_layer: pygame.Surface | None = None

    def compose(self, frame: ViewFrame, options: ViewOptions, status: str = "", *, hud: bool = True) -> np.ndarray:
        """The picture with its overlays as (H, W, 3) uint8 RGB; `hud=False` leaves the HUD band out."""
        return surface_rgb(self.compose_surface(frame, options, status if hud else None))

    def compose_surface(self, frame: ViewFrame, options: ViewOptions, status: str | None = None) -> pygame.Surface:
        """The same picture as a native 32-bit Surface (B, G, R, A in memory; see `surface_bgra`); no HUD band
        when `status` is None (the window paints its own header)."""
        picture = _base_picture(frame, options)
        factor = scale_factor(*picture.shape[:2])
        size = (picture.shape[1] * factor, picture.shape[0] * factor)
        board = pygame.transform.scale(_surface(picture), size)
        if is_gridworld(frame):
            board.blit(self._grid_overlay(frame, options, size), (0, 0))
        return _finish(board, frame, options, status)

    def _grid_overlay(self, frame: ViewFrame, options: ViewOptions, size: tuple[int, int]) -> pygame.Surface:
        key = (frame.grid_values, frame.grid_actions, options.values, options.arrows, size)
        cached = self._grid_key
        if cached is None or cached[0] is not key[0] or cached[1] is not key[1] or cached[2:] != key[2:]:
            self._grid_layer = grid_overlay(frame, options, size)
            self._grid_key = key
        assert self._grid_layer is not None
        return self._grid_layer


def _finish(board: pygame.Surface, frame: ViewFrame, options: ViewOptions, status: str | None) -> np.ndarray:
    """Attention heat on the board, then the board under the HUD band (none when `status` is None)."""
    size = board.get_size()
    if options.attention and frame.snapshot.evaluation is not None:
        attention = frame.snapshot.evaluation.attention
        if attention is not None:
            _draw_attention(board, attention, options.attention_head, smooth=not is_gridworld(frame))
    if options.saliency and frame.saliency is not None:
        _draw_saliency(board, frame.saliency, options.saliency_greedy, smooth=not is_gridworld(frame))
    if status is None:
        return board
    band = hud_height(size[1])
    canvas = pygame.Surface((size[0], size[1] + band), 0, 32)
    canvas.fill((18, 18, 24))
    canvas.blit(board, (0, band))
    _draw_hud(canvas, band, hud_variants(frame, status))
    return canvas


def surface_bgra(surface: pygame.Surface) -> tuple[bytes, int]:
    """(pixels, bytes per row) of a native 32-bit surface: one copy of its memory (pygame.image.tobytes converts
    pixel by pixel, ten times slower)."""
    assert surface.get_bitsize() == 32, "composite surfaces are 32-bit"
    return surface.get_buffer().raw, surface.get_pitch()


def surface_rgb(surface: pygame.Surface) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a native 32-bit surface."""
    data, pitch = surface_bgra(surface)
    width, height = surface.get_size()
    return np.frombuffer(data, np.uint8).reshape(height, pitch // 4, 4)[:, :width, 2::-1].copy()


def hud_variants(frame: ViewFrame, status: str = "") -> list[str]:
    """The HUD line (episode, step, return, mode) from longest to shortest.

    Whoever draws it takes the longest that fits: squeezing or wrapping a long line at a small size broke words
    apart ("TRA IN", "retum").
    """
    snap = frame.snapshot
    status = status or str(getattr(snap.mode, "value", snap.mode))
    mode = status.split(" · ")[0]
    episode, step, ret = snap.episode, snap.episode_step, f"{snap.episode_return:.2f}"
    return [f"episode {episode}   step {step}   return {ret}   {status}",
            f"ep {episode} · step {step} · return {ret} · {status}",
            f"ep {episode} · step {step} · return {ret} · {mode}",
            f"ep {episode} · step {step} · R {ret} · {mode}",
            f"R {ret} · {mode}",
            mode]


def hud_text(frame: ViewFrame, status: str = "") -> str:
    """Episode, step, return and mode: the line a person reads to follow the run."""
    return hud_variants(frame, status)[0]


def hud_height(board_height: int) -> int:
    return max(20, round(board_height * HUD_FRACTION))


def _draw_hud(canvas: pygame.Surface, band: int, variants: list[str]) -> None:
    font = pygame_font(band - 4)
    room = canvas.get_width() - 8
    text = next((v for v in variants if font.size(v)[0] <= room), variants[-1])
    rendered = font.render(text, True, (235, 235, 235))
    if rendered.get_width() > canvas.get_width() - 8:
        rendered = pygame.transform.smoothscale(
            rendered, (canvas.get_width() - 8, max(1, rendered.get_height() * (canvas.get_width() - 8)
                                                   // rendered.get_width())))
    canvas.blit(rendered, (6, (band - rendered.get_height()) // 2))


def _grid_cells(frame: ViewFrame, board: pygame.Surface) -> tuple[int, int, float, float]:
    """Grid height, width and the cell size in board pixels (the env drew cell_pixels per cell)."""
    height, width = frame.description.obs_shape[-2:]
    return height, width, board.get_width() / width, board.get_height() / height


def _terminal_cells(frame: ViewFrame) -> np.ndarray:
    """Goal and lava cells (observation channels 2 and 3): their V(s) and arrows mean nothing."""
    obs = np.asarray(frame.snapshot.observation)
    if obs.ndim == 3 and obs.shape[0] >= 4:
        return (obs[2] > 0) | (obs[3] > 0)
    return np.zeros(obs.shape[-2:], bool)


def grid_overlay(frame: ViewFrame, options: ViewOptions, size: tuple[int, int]) -> pygame.Surface:
    """A transparent layer with the V(s) heat map, value labels and greedy arrows over free cells."""
    terminal = _terminal_cells(frame)
    layer = None
    if options.values and frame.grid_values is not None:
        layer = _value_layer(frame, np.where(terminal, np.nan, frame.grid_values), size)
    if layer is None:
        layer = pygame.Surface(size, pygame.SRCALPHA)
    if options.arrows and frame.grid_actions is not None:
        _draw_arrows(layer, frame, np.where(terminal, -1, frame.grid_actions))
    return layer


def _value_layer(frame: ViewFrame, values: np.ndarray, size: tuple[int, int]) -> pygame.Surface | None:
    finite = np.isfinite(values)
    if not finite.any():
        return None
    low, high = float(values[finite].min()), float(values[finite].max())
    normalised = (values - low) / (high - low) if high > low else np.full(values.shape, 0.5)
    heat = _rgba_surface(colormap(normalised), np.where(finite, 150, 0))
    layer = pygame.transform.scale(heat, size)  # copied, not blitted: blending onto clear pixels darkens
    _, _, cell_w, cell_h = _grid_cells(frame, layer)
    if cell_w >= 44:
        _draw_value_labels(layer, values, finite, cell_w, cell_h)
    return layer


def _draw_value_labels(board: pygame.Surface, values: np.ndarray, finite: np.ndarray,
                       cell_w: float, cell_h: float) -> None:
    font = pygame_font(max(12, int(cell_h * 0.3)))
    for row, col in zip(*np.nonzero(finite), strict=True):
        label = font.render(f"{values[row, col]:.2f}", True, (255, 255, 255))
        board.blit(label, (int(col * cell_w + 3), int((row + 1) * cell_h - label.get_height() - 1)))


def _draw_arrows(board: pygame.Surface, frame: ViewFrame, actions: np.ndarray) -> None:
    _, _, cell_w, cell_h = _grid_cells(frame, board)
    names = [str(n).upper() for n in frame.description.action_names]
    size = min(cell_w, cell_h)
    for row, col in zip(*np.nonzero(actions >= 0), strict=True):
        action = int(actions[row, col])
        vector = _ARROW_VECTORS.get(names[action]) if action < len(names) else None
        if vector is not None:
            centre = ((col + 0.5) * cell_w, (row + 0.5) * cell_h - size * 0.08)
            _arrow(board, centre, vector, size)


def _arrow(board: pygame.Surface, centre: tuple[float, float], vector: tuple[float, float],
           size: float) -> None:
    dx, dy = vector
    cx, cy = centre
    half = size * 0.26
    tail = (cx - dx * half, cy - dy * half)
    tip = (cx + dx * half, cy + dy * half)
    base = (cx + dx * half * 0.2, cy + dy * half * 0.2)
    wing = (-dy * half * 0.55, dx * half * 0.55)
    head = [tip, (base[0] + wing[0], base[1] + wing[1]), (base[0] - wing[0], base[1] - wing[1])]
    width = max(2, int(size * 0.07))
    pygame.draw.line(board, (20, 20, 20), tail, base, width + 2)
    pygame.draw.polygon(board, (20, 20, 20), head, 2)
    pygame.draw.line(board, (255, 255, 255), tail, base, width)
    pygame.draw.polygon(board, (255, 255, 255), head)


def _selected_weights(attention: np.ndarray, head: int | None) -> np.ndarray:
    """One head's (h, w) weights, or the heads' mean when `head` is None or unknown."""
    weights = np.asarray(attention, dtype=np.float32)
    if weights.ndim == 3:
        weights = weights[head] if head is not None and 0 <= head < weights.shape[0] else weights.mean(axis=0)
    return weights


def attention_map(attention: np.ndarray, head: int | None) -> np.ndarray:
    """The selected head's weights (or the heads' mean), scaled so the strongest cell is 1."""
    weights = _selected_weights(attention, head)
    peak = float(np.nanmax(weights)) if weights.size else 0.0
    return np.clip(weights / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(weights)


def attention_focus(attention: np.ndarray, head: int | None) -> float:
    """How far the map is from uniform: 1 - H(p) / log N for the N cell weights p (normalised to sum 1).

    0 for weights spread evenly, 1 for all weight on one cell; k equally weighted cells give 1 - log k / log N.
    """
    weights = np.clip(np.nan_to_num(_selected_weights(attention, head).astype(np.float64)), 0.0, None).ravel()
    total = float(weights.sum())
    if weights.size < 2 or total <= 0:
        return 0.0
    p = weights[weights > 0] / total
    entropy = float(-(p * np.log(p)).sum())
    return float(np.clip(1.0 - entropy / math.log(weights.size), 0.0, 1.0))


def overlay_strength(focus: float) -> float:
    """The overlay's opacity factor for a map of this focus.

    strength = ATTENTION_FLOOR * focus / ATTENTION_THRESHOLD                    for focus < ATTENTION_THRESHOLD
             = ATTENTION_FLOOR + (1 - ATTENTION_FLOOR) * (focus - ATTENTION_THRESHOLD)
                                 / (ATTENTION_FULL - ATTENTION_THRESHOLD)     up to 1 at ATTENTION_FULL.
    Near-uniform maps (an untrained network) fade to nothing instead of a bright veil; the jump to the floor
    makes the overlay plainly visible as soon as the agent attends somewhere.
    """
    if focus < ATTENTION_THRESHOLD:
        return ATTENTION_FLOOR * max(focus, 0.0) / ATTENTION_THRESHOLD
    rise = (focus - ATTENTION_THRESHOLD) / (ATTENTION_FULL - ATTENTION_THRESHOLD)
    return min(1.0, ATTENTION_FLOOR + (1.0 - ATTENTION_FLOOR) * rise)


def _draw_attention(board: pygame.Surface, attention: np.ndarray, head: int | None, *, smooth: bool) -> None:
    """Semi-transparent heat: the more weight on a region, the more opaque and the hotter its colour.

    Per-pixel alpha = ATTENTION_MAX_ALPHA * (weight / peak weight) * overlay_strength(attention_focus(map)).
    """
    weights = attention_map(attention, head)
    if weights.ndim != 2:
        return
    _draw_heat(board, weights, overlay_strength(attention_focus(attention, head)), smooth=smooth)


def _draw_heat(board: pygame.Surface, weights: np.ndarray, strength: float, *, smooth: bool) -> None:
    """(h, w) weights in [0, 1] stretched over the board in the heat colours, alpha ATTENTION_MAX_ALPHA * strength
    * weight: the attention and the saliency overlays alike."""
    heat = _rgba_surface(colormap(weights, _HEAT_STOPS), ATTENTION_MAX_ALPHA * strength * weights)
    scale = pygame.transform.smoothscale if smooth else pygame.transform.scale
    board.blit(scale(heat, board.get_size()), (0, 0))


def saliency_weights(saliency: SaliencyView, greedy: bool = False) -> np.ndarray:
    """The map (all actions, or the greedy action's) scaled so its largest score is 1; all 0 if nothing moved Q."""
    scores = np.nan_to_num(np.asarray(saliency.action_map if greedy else saliency.map, dtype=np.float32))
    peak = float(scores.max()) if scores.size else 0.0
    return np.clip(scores / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(scores)


def _draw_saliency(board: pygame.Surface, saliency: SaliencyView, greedy: bool, *, smooth: bool) -> None:
    """Per-pixel alpha = ATTENTION_MAX_ALPHA * score / largest score (Greydanus et al. 2018 scale theirs by the
    maximum too): the colours say where, relative to the rest, blurring the input moves the Q-values most."""
    weights = saliency_weights(saliency, greedy)
    if weights.ndim == 2:
        _draw_heat(board, weights, 1.0, smooth=smooth)
