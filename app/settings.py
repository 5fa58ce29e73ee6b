"""Where the window remembers things between launches (geometry, dock layout, last environment, speed).

Tests and throw-away runs point DQN_ARCADE_SETTINGS_DIR at a directory of their own, so they never
read or overwrite a person's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

from agents.factory import AGENT_KINDS, NETWORKS

SETTINGS_DIR_VARIABLE = "DQN_ARCADE_SETTINGS_DIR"
ORGANISATION = "DQN Arcade"
APPLICATION = "dqn-arcade"
MAX_RECENT = 10


def app_settings() -> QSettings:
    """The settings store: an INI file in $DQN_ARCADE_SETTINGS_DIR if set, else the platform's usual place."""
    directory = os.environ.get(SETTINGS_DIR_VARIABLE)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(directory) / f"{APPLICATION}.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def read_str(settings: QSettings, key: str, default: str | None = None) -> str | None:
    value = settings.value(key)
    return str(value) if value not in (None, "") else default


def read_bool(settings: QSettings, key: str, default: bool) -> bool:
    """INI files store booleans as the strings 'true'/'false'."""
    value = settings.value(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1", "yes")


def recent_saves(settings: QSettings) -> list[str]:
    value = settings.value("recent_saves")
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [str(item) for item in items if item]


def remember_save(settings: QSettings, path: str) -> list[str]:
    """Put `path` first in the recent-saves list (no duplicates, at most MAX_RECENT)."""
    resolved = str(Path(path).resolve())
    items = [resolved, *[p for p in recent_saves(settings) if p != resolved]][:MAX_RECENT]
    settings.setValue("recent_saves", items)
    return items


def remembered_agent(settings: QSettings) -> tuple[str, str | None] | None:
    """The (kind, network) of the last session's agent, or None (first launch, or an unreadable value)."""
    kind, network = read_str(settings, "agent_kind"), read_str(settings, "agent_network")
    if kind not in AGENT_KINDS:
        return None
    if kind == "dqn" and network not in NETWORKS:
        return None
    return kind, network if kind == "dqn" else None


def remember_agent(settings: QSettings, kind: str, network: str | None) -> None:
    settings.setValue("agent_kind", kind)
    settings.setValue("agent_network", network or "")
