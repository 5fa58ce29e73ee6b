"""What cannot fit is refused before it is allocated, in one line that says what to change."""

from __future__ import annotations

import resource
import time

import pytest

from agents.config import dqn_config_for
from agents.envs.gridworld import MAX_MAP_SIDE, load_map, parse_map
from agents.errors import ConfigError, MapError
from agents.memory_budget import check_fits_memory, estimate_training_memory
from app.cli import main


def test_a_huge_map_file_is_refused_at_once_without_reading_it(tmp_path, capsys):
    path = tmp_path / "huge.txt"
    row = "#" + "." * 2998 + "#"
    path.write_text("\n".join(["#" * 3000, "#S" + "." * 2997 + "#", *[row] * 2996, "#G" + "." * 2997 + "#",
                               "#" * 3000]))
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    assert main(["train", "--env", str(path), "--steps", "10", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "at most" in err and str(path) in err
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024


def test_maps_up_to_the_documented_side_parse_and_one_more_is_refused() -> None:
    def square(side: int) -> str:
        inner = ["#" + "." * (side - 2) + "#" for _ in range(side - 2)]
        inner[0] = "#S" + "." * (side - 4) + "G#"
        return "\n".join(["#" * side, *inner, "#" * side])

    assert parse_map(square(MAX_MAP_SIDE)).walls.shape == (MAX_MAP_SIDE, MAX_MAP_SIDE)
    with pytest.raises(MapError, match=f"at most {MAX_MAP_SIDE} x {MAX_MAP_SIDE}"):
        parse_map(square(MAX_MAP_SIDE + 1))


def test_a_map_file_with_a_huge_comment_is_refused(tmp_path) -> None:
    path = tmp_path / "commented.txt"
    path.write_text(";" + "x" * (2 << 20) + "\n#####\n#S.G#\n#####\n")
    with pytest.raises(MapError, match="bytes"):
        load_map(path)


def test_a_replay_larger_than_the_machine_is_refused_with_both_numbers_and_the_setting(capsys):
    assert main(["train", "--env", "ALE/Breakout-v5", "--set", "buffer_size=100000000", "--steps", "10",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "GiB" in err and "available" in err and "buffer_size" in err, err


def test_the_estimate_names_the_part_that_does_not_fit() -> None:
    config = dqn_config_for("atari", network="cnn")
    estimate = estimate_training_memory(config, (4, 84, 84), 4, 6)
    assert 7.0e9 < estimate.replay < 7.2e9  # 1M frames of 84 x 84 and their flags
    check_fits_memory(config, (4, 84, 84), 4, 6, available=8 << 30)
    with pytest.raises(ConfigError, match="buffer_size"):
        check_fits_memory(config, (4, 84, 84), 4, 6, available=4 << 30)
    wide = dqn_config_for("gridworld", network="mlp", hidden_dim=10**7)
    with pytest.raises(ConfigError, match="smaller network"):
        check_fits_memory(wide, (4, 10, 10), 1, 4, available=8 << 30)
