"""File > Export curves: the training panel's curves as a PNG picture (what the panel shows, all four plots) or
as a CSV table of every point (app.curve_table), chosen by the file type in the dialog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from app.curve_table import ExportError, write_bytes, write_curves_csv
from app.file_actions import default_save_name
from app.panels.training import TrainingPanel
from app.training_loop import SessionInfo
from app.window_actions import window_action

PNG_FILTER = "PNG image (*.png)"
CSV_FILTER = "CSV table (*.csv)"
EXPORTED_MESSAGE_MS = 8000


def export_path(path: str, chosen_filter: str) -> Path:
    """The dialog's answer with the suffix its file type implies when the name has none of ours."""
    target = Path(path)
    if target.suffix.lower() in (".png", ".csv"):
        return target
    return target.with_name(target.name + (".csv" if chosen_filter == CSV_FILTER else ".png"))


def suggested_stem(session: SessionInfo | None) -> str:
    """The save's own name, else the one Save would suggest: "four-rooms_mlp" -> four-rooms_mlp-curves.png."""
    if session is None:
        return "training"
    if session.save_path:
        return Path(session.save_path).stem
    return Path(default_save_name(session.env_id, session.network, session.agent_kind)).stem


def png_bytes(panel: TrainingPanel) -> bytes:
    """The four plots as the panel lays them out, at the panel's size (its scrolled-away part included)."""
    pixmap = panel.picture()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        raise ExportError("the curves could not be encoded as PNG")
    return bytes(data.data())


def export_curves(panel: TrainingPanel, path: str | Path) -> str:
    """Write the curves to `path` (.png or .csv); returns what the status bar says. ExportError on failure."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        rows = write_curves_csv(path, panel.curve_table())
        return f"Exported {rows:,} points of the training curves to {path}"
    if path.suffix.lower() != ".png":
        raise ExportError(f"{path}: export curves as .png or .csv, not '{path.suffix or 'no extension'}'")
    write_bytes(path, png_bytes(panel))
    return f"Exported the training curves to {path}"


class CurveExport(QObject):
    """The File menu's Export curves action of `window`, for its training panel."""

    def __init__(self, window: QMainWindow, panel: TrainingPanel, session: Callable[[], SessionInfo | None]) -> None:
        super().__init__(window)
        self._window = window
        self._panel = panel
        self._session = session
        self.action = window_action(window, "Export &curves…", "Save the training curves as a PNG picture or a"
                                    " CSV table of every point")
        self.action.triggered.connect(self.ask_and_export)

    def ask_and_export(self) -> None:
        suggested = str(Path.cwd() / f"{suggested_stem(self._session())}-curves.png")
        path, chosen = QFileDialog.getSaveFileName(self._window, "Export training curves", suggested,
                                                   f"{PNG_FILTER};;{CSV_FILTER}")
        if path:
            self.export_to(str(export_path(path, chosen)))

    def export_to(self, path: str) -> bool:
        try:
            message = export_curves(self._panel, path)
        except ExportError as error:
            QMessageBox.warning(self._window, "Cannot export the curves", str(error))
            return False
        self._window.statusBar().showMessage(message, EXPORTED_MESSAGE_MS)
        return True
