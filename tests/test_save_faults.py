"""A save survives being killed mid-write and a full disk (a smaller run of benchmarks/save_faults.py)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "save_faults.py"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and RLIMIT_FSIZE are POSIX")


@pytest.fixture(scope="module")
def faults():
    spec = importlib.util.spec_from_file_location("save_faults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["save_faults"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("replay", [False, True])
def test_a_save_killed_at_random_moments_leaves_a_loadable_file_and_no_temporary(tmp_path, faults, replay):
    rng = random.Random(1 + replay)
    for _ in range(2):
        trial = faults.kill_trial(tmp_path, "small", replay, rng)
        assert trial.error is None, trial
        assert trial.loaded_steps is not None and trial.temporaries_after_load == 0, trial


def test_a_full_disk_is_one_line_and_keeps_the_previous_save(faults):
    result = faults.run_child_json("disk-full")
    assert result["error"] is not None and "\n" not in result["error"] and "cannot write the save" in result["error"]
    assert result["previous_steps"] == result["expected_previous"]
    assert result["temporaries"] == []


def test_the_window_loop_reports_a_full_disk_and_trains_on(faults):
    result = faults.run_child_json("window-disk-full")
    assert [kind for kind, _ in result["failures"]] == ["save"]
    assert "cannot write the save" in result["failures"][0][1]
    assert result["steps_after"] >= result["steps_before"] + 100
    assert result["previous_steps"] == result["expected_previous"] and result["temporaries"] == []
