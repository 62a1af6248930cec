"""The command line: usage errors, DSN resolution, one-line connection errors,
and the embedded server commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pgcluster import Cluster

from pliersdb import dsn as dsnlib


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pliersdb", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120,
                          check=False)


@pytest.mark.parametrize("args", [["bogus"], ["migrate", "--bogus"], ["rollback"],
                                  ["rollback", "--all", "--count", "1"],
                                  ["rollback", "--count", "0"], ["server", "restart"], []])
def test_bad_usage_prints_usage_and_exits_2(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert "usage: pliersdb" in proc.stderr


def test_dsn_precedence() -> None:
    env = {"PLIERSDB_DSN": "postgresql:///a", "DATABASE_URL": "postgresql:///b"}
    assert dsnlib.resolve("postgresql:///x", env) == "postgresql:///x"
    assert dsnlib.resolve(None, env) == "postgresql:///a"
    assert dsnlib.resolve(None, {"DATABASE_URL": "postgresql:///b"}) == "postgresql:///b"


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_unreachable_server_is_one_line(cluster: Cluster) -> None:
    line = one_line_error(run("status", "--dsn", "postgresql://u:p@127.0.0.1:1/x"))
    assert line == "pliersdb: cannot connect to 127.0.0.1:1/x: Connection refused"


def test_wrong_password_is_one_line(cluster: Cluster) -> None:
    bad = cluster.dsn(password="wrong")  # noqa: S106
    line = one_line_error(run("migrate", "--dsn", bad))
    assert f"cannot connect to 127.0.0.1:{cluster.port}/postgres" in line
    assert "password authentication failed" in line


def test_missing_database_is_one_line(cluster: Cluster) -> None:
    line = one_line_error(run("verify", "--dsn", cluster.dsn("no_such_db")))
    assert 'database "no_such_db" does not exist' in line


def test_dsn_from_environment(fresh_db: str) -> None:
    proc = run("status", env={"PLIERSDB_DSN": fresh_db, "DATABASE_URL": "postgresql://u@h:1/x"})
    assert proc.returncode == 0, proc.stderr
    assert "0 pending" in proc.stdout


def test_sql_prints_the_rendered_schema() -> None:
    proc = run("sql")
    assert proc.returncode == 0
    assert proc.stdout.startswith("-- 00-foundation.sql")
    assert "SET ROLE pliers_owner;" in proc.stdout


def test_embedded_server_lifecycle(tmp_path: Path) -> None:
    env = {"PLIERSDB_HOME": str(tmp_path / "home")}
    os.environ.pop("PLIERSDB_DSN", None)
    try:
        status = run("server", "status", env=env)
        assert status.returncode == 3 and status.stdout.startswith("stopped")
        started = run("server", "start", env=env)
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("running: postgresql://")
        assert run("server", "status", env=env).returncode == 0
        url = run("server", "url", env=env).stdout.strip()
        assert url.endswith(f"host={tmp_path / 'home' / 'pg18'}")
        migrated = run("migrate", env={**env, "DATABASE_URL": ""})
        assert migrated.returncode == 0, migrated.stderr
        assert "applied 0001.pliers-foundation" in migrated.stdout
        # A login's DSN on it (the README's steps): that login connects with it.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE ROLE readme_login LOGIN PASSWORD 'change me' IN ROLE pliers_app")
        login = run("server", "url", "--user", "readme_login", "--password", "change me",
                    env=env).stdout.strip()
        with psycopg.connect(login) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("readme_login",)
    finally:
        stopped = run("server", "stop", env=env)
    assert stopped.stdout.strip() == "stopped"
    assert run("server", "status", env=env).returncode == 3
