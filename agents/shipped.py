"""The trained agents that ship with the app (assets/agents/): what each is, how it was trained, what it scores.

The folder holds policy-only saves (agents.checkpoint.save_agent(policy_only=True)) and `catalog.json`, which
gives each file a title and its training record; a save in the folder that the catalog does not name is still
offered, described from its own meta.json.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from agents.checkpoint import read_save_info
from agents.errors import ArcadeError

CATALOG_NAME = "catalog.json"


@dataclass(frozen=True)
class ShippedAgent:
    path: Path
    env_id: str
    title: str
    """One line for a menu, e.g. "Pong: Nature CNN, +19 (trained 2 h on 2 CPU cores)"."""
    details: str
    """How it was trained and what it scores, for a tooltip or the README."""


def agent_dirs() -> tuple[Path, ...]:
    """Where shipped agents may live: `assets/agents` of a source or editable install, then the install prefix."""
    here = Path(__file__).resolve().parent
    return (here.parent / "assets" / "agents", here / "assets" / "agents",
            Path(sys.prefix) / "share" / "dqn-arcade" / "agents")


def is_shipped(path: str | Path) -> bool:
    """The file is one of the app's own trained agents (read-only: saving it writes a new file)."""
    try:
        resolved = Path(path).resolve()
    except OSError:
        return False
    return any(resolved.is_relative_to(folder.resolve()) for folder in agent_dirs() if folder.is_dir())


def agents_dir() -> Path | None:
    return next((path for path in agent_dirs() if path.is_dir()), None)


def shipped_agents(folder: Path | None = None) -> list[ShippedAgent]:
    """Every readable save in the folder, catalogued ones first in catalog order; unreadable files are skipped."""
    folder = folder if folder is not None else agents_dir()
    if folder is None:
        return []
    catalog = _read_catalog(folder / CATALOG_NAME)
    found: list[ShippedAgent] = []
    names = [name for name in catalog if (folder / name).is_file()]
    names += sorted(p.name for p in folder.glob("*.dqn") if p.name not in catalog)
    for name in names:
        try:
            info = read_save_info(folder / name)
        except ArcadeError:
            continue
        entry = catalog.get(name, {})
        title = str(entry.get("title") or f"{info.env_id}: {info.network}, {info.steps:,} steps")
        found.append(ShippedAgent(folder / name, info.env_id, title, str(entry.get("details") or "")))
    return found


def _read_catalog(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("agents", []) if isinstance(data, dict) else []
    return {str(e["file"]): e for e in entries if isinstance(e, dict) and isinstance(e.get("file"), str)}
