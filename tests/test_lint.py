"""Static checks are part of the suite: sqlfluff, squawk, ruff, mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lint  # pytest -m lint: the static checks alone

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def check(*args: str) -> None:
    proc = subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def test_sqlfluff() -> None:
    check(str(BIN / "sqlfluff"), "lint", "--disable-progress-bar", "--processes", "2",
          "sql", "migrations")


def test_squawk() -> None:
    migrations = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "migrations").glob("*.sql")
                        if not p.name.endswith(".rollback.sql"))
    assert migrations
    check(str(BIN / "squawk"), *migrations)  # settings: .squawk.toml


def test_ruff() -> None:
    check(str(BIN / "ruff"), "check", "pliersdb", "tests", "bench", "scripts")


@pytest.mark.parametrize("target", ["pliersdb"])
def test_mypy_strict(target: str) -> None:
    check(str(BIN / "mypy"), "--strict", target)
