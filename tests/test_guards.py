"""Promises the README makes about the code itself, checked on every run: ruff is clean, and agents/ (the RL
core a headless GPU box installs) never imports Qt, pyqtgraph or the app."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "pyqtgraph", "app", "shiboken6")


def _ruff() -> list[str]:
    try:
        import ruff  # noqa: F401
    except ImportError:
        found = shutil.which("ruff")
        if found is None:
            pytest.fail("ruff is not installed: pip install -e '.[test]'")
        return [found]
    return [sys.executable, "-m", "ruff"]


def test_ruff_check_is_clean() -> None:
    result = subprocess.run([*_ruff(), "check", "--no-cache", str(ROOT)], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_of_agents_names_qt_or_the_app_in_an_import() -> None:
    offenders = []
    for path in sorted((ROOT / "agents").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in names
                          if name.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_every_module_of_agents_imports_with_qt_made_unimportable() -> None:
    """The runtime half of the contract: a lazy import inside a function would slip past the static check."""
    script = f"""
import importlib, pkgutil, sys
for name in {FORBIDDEN!r}:
    sys.modules[name] = None  # any import of it now raises ImportError
import agents
for module in pkgutil.walk_packages(agents.__path__, "agents."):
    importlib.import_module(module.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r} and sys.modules[m] is not None)
assert not loaded, loaded
print("ok", len([m for m in sys.modules if m.startswith("agents")]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout + result.stderr
