"""Readable Q-values, attention with a numbered colour scale and an honest overlay, and a game-view header and key
help that neither break apart nor hide the game, at small and large window sizes."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage

from agents.runner import Mode
from agents.types import Evaluation
from app.composite import (
    ATTENTION_FLOOR,
    ATTENTION_THRESHOLD,
    ViewOptions,
    attention_focus,
    compose,
    hud_variants,
    overlay_strength,
    scale_factor,
)
from app.game_view import HEADER_PIXELS, GameView
from app.keymap import KeyMap
from app.panels.attention import AttentionPanel
from app.panels.q_values import ACCENT, BAR, TEXT, QValuesPanel, decimals_for, format_value
from app.view_frame import ViewFrame
from tests.test_game_view import FULL_ACTIONS, frame_for
from tests.test_panels import ATARI, GRID, make_frame
from tests.test_window import dialogs, open_window  # noqa: F401 (dialogs: the window's own settings and cwd)

MINUS_ZERO = re.compile(r"-0(\.0*)?")


def q_frame(description, q, value: float) -> ViewFrame:
    """A frame whose evaluation carries exactly these Q-values and this V(s)."""
    q = np.asarray(q, np.float32)
    frame = make_frame(description, q=q, network="mlp")
    return replace(frame, snapshot=replace(frame.snapshot, evaluation=Evaluation(q, value, None)))


def shown_panel(qtbot, description, q, value: float, size=(400, 170), advantages: bool = False) -> QValuesPanel:
    panel = QValuesPanel()
    qtbot.addWidget(panel)
    panel.reset(description, "dqn", "mlp")
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_advantages(advantages)
    panel.show_frame(q_frame(description, q, value))
    panel.grab()  # paints, which records where every bar and number went
    return panel


def colour_near(image: QImage, rect: QRectF, colour: QColor, tolerance: int = 40) -> bool:
    """Whether any pixel inside `rect` is within `tolerance` of `colour` on every channel."""
    ratio = image.devicePixelRatio()
    for y in range(int(rect.top() * ratio) + 1, int(rect.bottom() * ratio) - 1):
        for x in range(int(rect.left() * ratio) + 1, int(rect.right() * ratio) - 1):
            pixel = image.pixelColor(x, y)
            if all(abs(a - b) <= tolerance for a, b in zip(pixel.getRgb()[:3], colour.getRgb()[:3], strict=True)):
                return True
    return False


def reddish(image: QImage, rect: QRectF) -> bool:
    """Whether any pixel in `rect` has the V(s) line's hue (antialiasing lightens it, so compare channels)."""
    ratio = image.devicePixelRatio()
    for y in range(int(rect.top() * ratio) + 1, int(rect.bottom() * ratio) - 1):
        for x in range(int(rect.left() * ratio) + 1, int(rect.right() * ratio) - 1):
            red, green, blue = image.pixelColor(x, y).getRgb()[:3]
            if red - green > 50 and red - blue > 40:
                return True
    return False


# ---------------------------------------------------------------------------------------------- numbers

def test_decimals_follow_the_spread_and_zero_has_no_sign() -> None:
    assert decimals_for(np.array([0.701, 0.703])) == 4
    assert decimals_for(np.array([1.0, 30.0])) == 2
    assert decimals_for(np.array([0.5, 0.5])) == 2  # no spread: the default
    assert decimals_for(np.array([0.0, np.nan, 1e-9])) == 5  # capped; NaN ignored
    assert format_value(0.701, 4) != format_value(0.703, 4)
    assert format_value(-0.0004, 2) == "-0.0004"  # a small value keeps its first digit
    assert format_value(-1e-9, 2) == "0.00000"  # what still rounds to zero shows no minus
    assert format_value(-0.0, 3) == "0.000"
    assert format_value(0.25, 2, signed=True) == "+0.25"
    assert format_value(float("nan"), 2) == "nan"


# ---------------------------------------------------------------------------------------------- Q-values

def test_small_negative_q_values_are_labelled_outside_their_bars(qtbot) -> None:
    q = [-0.0004, -0.002, 0.01, -0.03]
    panel = shown_panel(qtbot, GRID, q, 0.004)
    rows = panel.bars.rows
    assert [row.text for row in rows] == ["-0.0004", "-0.002", "0.010", "-0.030"]
    widget = QRectF(panel.bars.rect())
    image = panel.bars.grab().toImage()
    for row, value in zip(rows, q, strict=True):
        assert not MINUS_ZERO.fullmatch(row.text)
        assert row.label.intersected(row.bar).width() < 0.5, f"{row.text} is drawn over its bar"
        assert widget.contains(row.label), f"{row.text} is cut off at the panel's edge"
        assert (row.label.right() <= row.bar.left() + 0.5) == (value < 0)  # negative: left of the bar
        assert colour_near(image, row.label, TEXT, 60), f"{row.text}: no dark text on white"
        assert not colour_near(image, row.label, BAR, 12) and not colour_near(image, row.label, ACCENT, 12)


def test_value_line_does_not_run_through_the_numbers(qtbot) -> None:
    """V(s) = 0.22 falls right where the number of the Q = 0.2 bar is written."""
    panel = shown_panel(qtbot, GRID, [0.2, 0.5, 0.21, 0.1], 0.22)
    image = panel.bars.grab().toImage()
    label = panel.bars.rows[0].label
    bars_width = panel.bars.width()
    line_x = next(x for x in range(bars_width) if reddish(image, QRectF(x - 1, 0, 3, 12)))
    assert label.left() <= line_x <= label.right()  # the case the test is about: the line crosses the label
    assert not reddish(image, label.adjusted(1, 1, -1, -1))


def test_close_q_values_differ_in_numbers_and_in_advantage_bars(qtbot) -> None:
    q = [0.701, 0.7028, 0.7031, 0.7019]
    panel = shown_panel(qtbot, GRID, q, 0.7022)
    texts = [row.text for row in panel.bars.rows]
    assert len(set(texts)) == 4, texts
    widths = [row.bar.width() for row in panel.bars.rows]
    assert max(widths) - min(widths) < 0.01 * max(widths)  # Q bars alone look identical: the reported problem
    assert panel.value_label.text() == "V(s) = 0.7022"

    qtbot.mouseClick(panel.advantage_check, Qt.MouseButton.LeftButton)
    assert panel.advantage_check.isChecked() and panel.bars.advantages
    panel.grab()
    rows = panel.bars.rows
    assert [row.text for row in rows] == ["-0.0012", "+0.0006", "+0.0009", "-0.0003"]
    widths = [row.bar.width() for row in rows]
    assert max(widths) > 3 * min(widths) and max(widths) > 40  # differences plainly visible
    zero = rows[1].bar.left()
    assert rows[0].bar.right() == pytest.approx(zero, abs=1) and rows[0].bar.left() < zero - 40  # negative: left
    assert panel.bars.value_caption == "0 = V(s) = 0.7022"
    np.testing.assert_array_equal(panel.values(), np.asarray(q, np.float32))  # the data are still Q

    panel.set_advantages(False)
    panel.grab()
    assert [row.text for row in panel.bars.rows] == texts


def test_eighteen_actions_keep_rows_legible_in_a_short_panel(qtbot) -> None:
    """A short dock scrolls rather than overlapping the numbers of neighbouring rows."""
    q = np.random.default_rng(1).normal(0.3, 0.2, 18)
    panel = shown_panel(qtbot, ATARI, q, 0.31, size=(400, 150))
    rows = panel.bars.rows
    assert len(rows) == 18
    for upper, lower in zip(rows, rows[1:], strict=False):
        assert upper.label.bottom() <= lower.label.top() + 1, "numbers of neighbouring rows overlap"
    assert panel.scroll.verticalScrollBar().maximum() > 0


# ---------------------------------------------------------------------------------------------- attention

def test_colour_scale_is_numbered_in_shares_of_the_attention(qtbot) -> None:
    panel = AttentionPanel()
    qtbot.addWidget(panel)
    panel.reset(GRID, "dqn", "attention")
    panel.resize(400, 300)
    panel.show()
    frame = make_frame(GRID, heads=2)
    h, w = GRID.obs_shape[1:]
    weights = np.full((2, h, w), 0.5 / (h * w - 1), np.float32)
    weights[0, 5, 5] = 0.5  # head 1 puts half its attention on one cell
    weights[1] = 1.0 / (h * w)  # head 2 looks everywhere
    frame = replace(frame, snapshot=replace(frame.snapshot, evaluation=Evaluation(
        frame.snapshot.evaluation.q_values, 0.0, weights)))
    panel.show_frame(frame)
    panel.head_combo.setCurrentIndex(1)
    assert panel.scale.isVisible()
    assert panel.scale.labels() == ["0%", "25%", "50%"]
    assert panel.scale.uniform == pytest.approx(1 / (h * w))
    assert "focus" in panel.caption.text()
    image = panel.scale.grab().toImage()
    top, bottom = image.pixelColor(10, 12), image.pixelColor(10, int(image.height() * 0.8))
    assert top.lightness() > bottom.lightness() + 100  # bright = much attention, at the top, by the top number
    panel.head_combo.setCurrentIndex(2)
    assert panel.scale.labels()[-1] == "0.83%"
    assert panel.caption.text().endswith("focus 0%")


def test_overlay_strength_grows_with_distance_from_uniform() -> None:
    cells = 49
    uniform = np.full((1, 7, 7), 1 / cells, np.float32)
    maps = [uniform]
    for k in (40, 20, 5, 1):  # all weight spread evenly over k cells
        weights = np.zeros(cells, np.float32)
        weights[:k] = 1 / k
        maps.append(weights.reshape(1, 7, 7))
    focus = [attention_focus(m, 0) for m in maps]
    strength = [overlay_strength(f) for f in focus]
    assert focus[0] == pytest.approx(0.0, abs=1e-6) and strength[0] == pytest.approx(0.0, abs=1e-4)
    assert all(a < b for a, b in zip(focus, focus[1:], strict=False))
    assert strength[0] < strength[1] < strength[2] < strength[3] == strength[4] == 1.0
    assert focus[2] == pytest.approx(1 - np.log(20) / np.log(49), abs=1e-5)  # 1 - H / log N
    assert overlay_strength(ATTENTION_THRESHOLD) == pytest.approx(ATTENTION_FLOOR)  # the floor: plainly visible
    assert overlay_strength(ATTENTION_THRESHOLD / 2) == pytest.approx(ATTENTION_FLOOR / 2)  # fades out below

    # A gridworld board is scaled without smoothing, so cell (0, 0) of the map covers exactly its block.
    env_id = "gridworld/four-rooms"
    plain = compose(frame_for(env_id, attention=uniform, grid=False), ViewOptions()).astype(int)
    band = plain.shape[0] - plain.shape[1]  # the board is square
    height, width = plain.shape[0] - band, plain.shape[1]
    first_cell = (slice(band + 2, band + height // 7 - 2), slice(2, width // 7 - 2))
    tint = []
    for weights in maps:  # every non-uniform map gives cell (0, 0) its largest weight
        tinted = compose(frame_for(env_id, attention=weights, grid=False), ViewOptions(attention=True))
        tint.append(np.abs(tinted.astype(int) - plain)[first_cell].mean())
    assert tint[0] == 0.0  # a uniform map leaves the picture as it is
    assert tint[1] > 20  # 40 of 49 cells is only a little off uniform, and already plainly tinted
    assert tint[1] < tint[2] < tint[3] == pytest.approx(tint[4], abs=1)


# ---------------------------------------------------------------------------------------------- game view

SIZES = [(240, 200), (300, 420), (394, 310), (800, 550), (900, 400), (2560, 1440)]
HELP_CASES = {
    "gridworld": ("gridworld/four-rooms", ("UP", "RIGHT", "DOWN", "LEFT"), True),
    "breakout": ("ALE/Breakout-v5", ("NOOP", "FIRE", "RIGHT", "LEFT"), False),
    "full-atari": ("ALE/Breakout-v5", tuple(FULL_ACTIONS), False),
}


@pytest.fixture(scope="module")
def frames() -> dict[str, ViewFrame]:
    return {"gridworld/four-rooms": frame_for("gridworld/four-rooms"), "ALE/Breakout-v5": frame_for("ALE/Breakout-v5")}


def view_at(qtbot, frame: ViewFrame, size: tuple[int, int], status: str = "TRAIN · normal") -> GameView:
    view = GameView()
    qtbot.addWidget(view)
    view.resize(QSize(*size))
    view.show_frame(frame)
    view.set_status(status)
    return view


def assert_whole_words(view: GameView, frame: ViewFrame, status: str) -> None:
    """The header is one of the HUD's variants, whole, and fits; only the last resort may be elided."""
    layout = view.view_layout()
    text, font = view._header_choice(layout)
    variants = hud_variants(frame, status)
    assert text in variants or (text.endswith("…") and variants[-1].startswith(text[:-1])), text
    assert QFontMetrics(font).horizontalAdvance(text) <= layout.header.width() - 8


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("env_id", ["gridworld/four-rooms", "ALE/Breakout-v5"])
def test_header_never_breaks_inside_a_word(qtbot, frames, env_id: str, size) -> None:
    frame = frames[env_id]
    for status in ("TRAIN · normal", "HUMAN · one step per key press"):
        view = view_at(qtbot, frame, size, status)
        assert_whole_words(view, frame, status)
        layout = view.view_layout()
        assert layout.header.bottom() + 1 == layout.picture.top()
        assert view.image().height() == 210 * scale_factor(210, 160) or env_id.startswith("gridworld")
    if size[0] >= 2560:
        assert view.header_text() == hud_variants(frame, "HUMAN · one step per key press")[0]  # room: in full


def test_header_drops_detail_before_size_and_is_painted_crisp(qtbot, frames) -> None:
    frame = replace(frames["ALE/Breakout-v5"], snapshot=replace(frames["ALE/Breakout-v5"].snapshot,
                                                                episode=12345, episode_step=67890,
                                                                episode_return=-1234.5))
    for size in ((394, 310), (520, 420), (2560, 1440)):
        view = view_at(qtbot, frame, size)
        layout = view.view_layout()
        text, font = view._header_choice(layout)
        variants = hud_variants(frame, "TRAIN · normal")
        smallest = QFont(font)
        smallest.setPixelSize(HEADER_PIXELS[0])
        for longer in variants[:variants.index(text)]:  # every fuller line is too long even in the smallest font
            assert QFontMetrics(smallest).horizontalAdvance(longer) > layout.header.width() - 8
        assert "-1234.50" in text and "TRAIN" in text
    assert text == variants[0]
    picture = view.grab().toImage()
    header = view.view_layout().header
    assert max(picture.pixelColor(x, header.center().y()).lightness() for x in range(header.left(),
                                                                                     header.right())) > 200


@pytest.mark.parametrize("size", SIZES[1:], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case", list(HELP_CASES))
def test_key_help_covers_neither_picture_nor_header(qtbot, frames, case: str, size) -> None:
    env_id, actions, per_press = HELP_CASES[case]
    view = view_at(qtbot, frames[env_id], size)
    full_picture = view.image_rect()
    keymap = KeyMap(actions, per_press=per_press)
    view.set_key_help(keymap.help_title(), keymap.bindings())
    view.set_key_help_visible(True)
    layout = view.view_layout()
    assert layout.help is not None and not layout.help_over_picture
    assert not layout.help.intersects(layout.picture) and not layout.help.intersects(layout.header)
    assert QRect(0, 0, *size).contains(layout.help)
    assert layout.picture.height() >= 0.4 * full_picture.height()  # shrunk to make room, not to a stamp
    assert not view.grab().isNull()
    view.set_key_help_visible(False)
    assert view.image_rect() == full_picture and view.view_layout().help is None


@pytest.mark.parametrize("env_id", ["gridworld/four-rooms", "ALE/Breakout-v5"])
def test_key_help_in_a_tiny_view_covers_the_edge_away_from_the_player(qtbot, frames, env_id: str) -> None:
    frame = frames[env_id]
    view = view_at(qtbot, frame, (240, 200))
    keymap = KeyMap(FULL_ACTIONS, per_press=False)
    view.set_key_help(keymap.help_title(), keymap.bindings())
    view.set_key_help_visible(True)
    layout = view.view_layout()
    assert layout.help_over_picture
    obs = np.asarray(frame.snapshot.observation)
    player_top = env_id.startswith("gridworld") and np.argwhere(obs[1])[0][0] < obs.shape[1] / 2
    picture = layout.picture
    if player_top:
        assert layout.help.center().y() > picture.center().y()
    else:
        assert layout.help.center().y() < picture.center().y()  # Atari: the paddle is at the bottom


def test_real_window_header_and_key_help_at_small_and_large_sizes(qtbot) -> None:
    win = open_window(qtbot)
    try:
        for size in ((800, 550), (2560, 1440)):
            win.resize(*size)
            qtbot.wait(300)
            print("SIZE", size, win.size(), win.minimumSizeHint(), win.game_view.size())
            win.mode_actions[Mode.HUMAN].trigger()
            qtbot.waitUntil(lambda: win.game_view._help_visible, timeout=5000)
            view = win.game_view
            frame = view.frame
            assert_whole_words(view, frame, view._status)
            layout = view.view_layout()
            assert layout.help is not None and not layout.help.intersects(layout.picture)
            assert not layout.help.intersects(layout.header)
    finally:
        win.close()
