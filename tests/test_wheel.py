"""The built wheel ships sql/ and migrations/: installed in an empty venv outside the
repository, its pliersdb migrates a database on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import psycopg

from pliersdb.resources import directory

ROOT = Path(__file__).resolve().parent.parent


def sh(*args: str | Path, cwd: Path) -> str:
    # Without PYTHONPATH: one naming the checkout (PYTHONPATH=$PWD pytest) would import
    # pliersdb from the repository instead of the installed wheel.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, check=False, env=env)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_wheel_installs_and_migrates_outside_the_repo(tmp_path: Path, empty_db: str) -> None:
    wheels = tmp_path / "wheels"
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
       "-w", wheels, ROOT, cwd=tmp_path)
    (wheel,) = wheels.glob("pliersdb-*.whl")
    listing = sh(sys.executable, "-m", "zipfile", "-l", wheel, cwd=tmp_path)
    for name in ("0001.pliers-foundation.sql", "0001.pliers-foundation.rollback.sql"):
        assert f"pliersdb/migrations/{name}" in listing
    for path in directory("sql").iterdir():
        assert f"pliersdb/sql/{path.name}" in listing
    assert "pliersdb/schemas/form-definition.schema.json" in listing

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    sh(bin_dir / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    where = sh(bin_dir / "python", "-c", "import pliersdb; print(pliersdb.__file__)",
               cwd=tmp_path)
    assert where.startswith(str(env_dir)), where

    out = sh(bin_dir / "pliersdb", "migrate", "--dsn", empty_db, cwd=tmp_path)
    assert "applied 0001.pliers-foundation" in out
    assert "0 pending" in sh(bin_dir / "pliersdb", "status", "--dsn", empty_db, cwd=tmp_path)
    assert "ok:" in sh(bin_dir / "pliersdb", "verify", "--dsn", empty_db, cwd=tmp_path)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regnamespace('pliers') IS NOT NULL").fetchone() == (True,)
