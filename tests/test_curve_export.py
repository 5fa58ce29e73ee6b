"""File > Export curves: the CSV table written by hand-checked rules, failures that lose nothing, and the real
window exporting its panel's points and picture."""

from __future__ import annotations

import csv
import errno
import os

import numpy as np
import pytest
from PySide6.QtGui import QImage

from app.curve_export import CSV_FILTER, PNG_FILTER, export_path
from app.curve_table import ExportError, curves_csv, write_curves_csv
from app.training_loop import Speed
from tests.test_window import WAIT_MS, dialogs, open_window, trained_steps  # noqa: F401 - dialogs: autouse


def test_the_table_has_one_row_per_point_in_long_format() -> None:
    curves = {"return": (np.array([10.0, 25.0]), np.array([1.0, -0.5])),
              "loss": (np.array([4.0, 6.0]), np.array([0.1, np.nan])),
              "epsilon": (np.zeros(0), np.zeros(0))}
    assert curves_csv(curves) == ("curve,agent_step,value\n"
                                  "return,10,1.0\nreturn,25,-0.5\n"
                                  "loss,4,0.1\nloss,6,nan\n")


def test_values_read_back_to_the_same_floats(tmp_path) -> None:
    values = np.array([1 / 3, -2.5e-7, 123456.789, 0.05], dtype=np.float64)
    path = tmp_path / "curves.csv"
    assert write_curves_csv(path, {"mean_q": (np.arange(4, dtype=np.float64), values)}) == 4
    rows = list(csv.DictReader(path.open()))
    assert [float(row["value"]) for row in rows] == values.tolist()
    assert [row["agent_step"] for row in rows] == ["0", "1", "2", "3"]


def test_mismatched_points_are_a_bug_not_a_file() -> None:
    with pytest.raises(ValueError, match="2 steps but 1 values"):
        curves_csv({"loss": (np.zeros(2), np.zeros(1))})


def test_a_missing_folder_is_a_one_line_error_and_writes_nothing(tmp_path) -> None:
    target = tmp_path / "no such folder" / "curves.csv"
    with pytest.raises(ExportError, match="does not exist") as raised:
        write_curves_csv(target, {"loss": (np.zeros(1), np.zeros(1))})
    assert "\n" not in str(raised.value)
    assert not target.parent.exists()


def test_a_full_disk_keeps_the_old_file_whole_and_leaves_no_temporary(tmp_path, monkeypatch) -> None:
    target = tmp_path / "curves.csv"
    target.write_text("the earlier export\n")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ExportError, match="No space left on device"):
        write_curves_csv(target, {"loss": (np.zeros(3), np.ones(3))})
    assert target.read_text() == "the earlier export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv"]


def test_the_dialogs_file_type_gives_a_name_without_one_its_suffix(tmp_path) -> None:
    assert export_path(str(tmp_path / "run"), CSV_FILTER).name == "run.csv"
    assert export_path(str(tmp_path / "run"), PNG_FILTER).name == "run.png"
    assert export_path(str(tmp_path / "run.CSV"), PNG_FILTER).name == "run.CSV"
    assert export_path(str(tmp_path / "run.v2"), CSV_FILTER).name == "run.v2.csv"


def test_the_window_exports_every_point_as_csv_and_the_plots_as_png(qtbot, dialogs, tmp_path) -> None:  # noqa: F811
    win = open_window(qtbot)
    action = win.curve_export.action
    assert action in win.menuBar().actions()[0].menu().actions()
    win.set_speed(Speed.FAST)
    panel = win.training_panel
    qtbot.waitUntil(lambda: panel.curve_lengths()["return"] >= 2 and panel.curve_lengths()["loss"] >= 2,
                    timeout=WAIT_MS)
    win.set_speed(Speed.PAUSED)
    qtbot.waitUntil(lambda: win.worker.speed is Speed.PAUSED, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.curve_lengths()["epsilon"] and
                    panel.epsilon.last_x() == trained_steps(win), timeout=WAIT_MS)
    dialogs.save_path = str(tmp_path / "four-rooms.csv")
    action.trigger()
    rows = list(csv.DictReader((tmp_path / "four-rooms.csv").open()))
    counts = {name: sum(row["curve"] == name for row in rows) for name in {row["curve"] for row in rows}}
    lengths = panel.curve_lengths()
    assert counts == {"return": lengths["return"], "return_mean20": lengths["average"], "loss": lengths["loss"],
                      "epsilon": lengths["epsilon"], "mean_q": lengths["mean_q"]}
    returns = [float(row["value"]) for row in rows if row["curve"] == "return"]
    assert returns == panel.returns.ys().tolist()
    assert "Exported" in win.statusBar().currentMessage()

    dialogs.save_path = str(tmp_path / "four-rooms")  # no suffix, the PNG type (the patched dialog's "")
    action.trigger()
    picture = QImage(str(tmp_path / "four-rooms.png"))
    assert not picture.isNull()
    assert (picture.width(), picture.height()) == (panel.scroll.widget().width(), panel.scroll.widget().height())
    pixels = np.frombuffer(picture.convertToFormat(QImage.Format.Format_RGB888).constBits(), np.uint8)
    assert (pixels < 200).mean() > 0.001  # axes, ticks and curves, not a blank page

    dialogs.save_path = str(tmp_path / "gone" / "curves.csv")
    action.trigger()
    assert len(dialogs.warnings) == 1 and "does not exist" in dialogs.warnings[0][1]
    assert not (tmp_path / "gone").exists()
    win.close()
