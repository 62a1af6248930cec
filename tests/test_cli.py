"""The command line: usage errors, DSN resolution, one-line connection and privilege
errors, the embedded server commands, --version, option values named in errors,
maintain's steps, and status, verify and erd: read-only, and exit 4 on a database that
pliersdb has not migrated."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgcluster import Cluster
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pliersdb
from pliersdb import cli, migrate
from pliersdb import dsn as dsnlib
from pliersdb import erd as erd_module


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
        # the socket directory in the host, percent-encoded: no '?' for pg_prove -d to split
        assert "?" not in url and "=" not in url
        assert conninfo_to_dict(url)["host"] == str(tmp_path / "home" / "pg18")
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


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"pliersdb {pliersdb.__version__}\n"


@pytest.mark.parametrize(("args", "expected"), [
    (["maintain", "--months-ahead", "x"], "--months-ahead: must be a whole number from 0 to 119, "
                                          "not 'x'"),
    (["maintain", "--months-ahead", "-1"], "--months-ahead: must be a whole number from 0 to 119"),
    (["maintain", "--months-ahead", "120"], "--months-ahead: must be a whole number from 0 to 119"),
    (["maintain", "--months-ahead", "1e3"], "--months-ahead: must be a whole number"),
    (["maintain", "--months-ahead", "99999999999999999999"], "--months-ahead: must be a whole"),
    (["rollback", "--count", "0"], "--count: must be a whole number 1 or more, not '0'"),
    (["rollback", "--count", "two"], "--count: must be a whole number 1 or more, not 'two'"),
    (["import", "--form", "f", "--batch-size", "0", "-"],
     "--batch-size: must be a whole number from 1 to 100000, not '0'"),
    (["import", "--form", "f", "--batch-size", "many", "-"], "--batch-size: must be a whole"),
    (["export", "--form", "f", "--org", "acme"], "--org: must be an id (a UUID), not 'acme'"),
    (["import", "--form", "f", "--user", "1", "-"], "--user: must be an id (a UUID), not '1'"),
])
def test_bad_option_values_name_the_option(args: list[str], expected: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert f"error: argument {expected}" in proc.stderr
    assert "invalid _" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--events-retention", "1 day", "--events-retention must be at least 1 month"),
    ("--audit-retention", "0", "--audit-retention must be at least 1 month"),
    ("--events-retention", "soon", '--events-retention: invalid input syntax for type interval: '
                                   '"soon"'),
    ("--audit-retention", "9999999999 years",
     '--audit-retention: interval field value out of range: "9999999999 years"'),
    ("--lock-timeout", "forever", '--lock-timeout: invalid value for parameter "lock_timeout": '
                                  '"forever"'),
])
def test_maintain_refused_values_name_the_option(shared_dsn: str, option: str, value: str,
                                                 expected: str) -> None:
    proc = run("maintain", "--dsn", shared_dsn, option, value)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    # After the steps done, if any (connected), the error: one line.
    assert proc.stderr.splitlines()[-1] == f"pliersdb maintain: {expected}"


def test_maintain_reports_each_step(fresh_db: str) -> None:
    """Each step on stderr as it is done, with its time; the report on stdout."""
    proc = run("maintain", "--dsn", fresh_db, "--months-ahead", "1")
    assert proc.returncode == 0, proc.stderr
    report = proc.stdout.splitlines()
    steps = proc.stderr.splitlines()
    time = r" \(\d+\.\d\d s\)"
    assert re.fullmatch(f"pliersdb maintain: connected to .*{time}", steps[0])
    assert re.fullmatch(f"pliersdb maintain: committed{time}", steps[-1])
    assert len(steps) == len(report) + 2
    for line, step in zip(report, steps[1:-1], strict=True):
        action, target, detail = line.split(maxsplit=2)
        assert re.fullmatch(f"pliersdb maintain: {action} {re.escape(target)} "
                            f"\\({re.escape(detail)}\\){time}", step), (line, step)


NOT_MIGRATED = "pliersdb: not a pliersdb database: no migration applied (run pliersdb migrate)"


def schemas(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute(
            "SELECT nspname FROM pg_catalog.pg_namespace ORDER BY nspname")]


@pytest.mark.parametrize("foreign", [False, True])
def test_read_only_commands_on_an_unmigrated_database(empty_db: str, foreign: bool) -> None:
    """Empty, or another application's: each says so in one line and exits 4, and
    writes nothing (the bookkeeping schema is not created)."""
    if foreign:
        with psycopg.connect(empty_db) as conn:
            conn.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders (id integer)")
    before = schemas(empty_db)
    for command in ("status", "verify", "erd"):
        proc = run(command, "--dsn", empty_db)
        assert proc.returncode == cli.EXIT_NOT_MIGRATED == 4, (command, proc.stderr)
        assert proc.stderr == NOT_MIGRATED + "\n", command
    assert "0 applied" in run("status", "--dsn", empty_db).stdout  # and what migrate applies
    assert run("erd", "--dsn", empty_db).stdout == ""
    assert schemas(empty_db) == before
    assert migrate.SCHEMA not in before


@pytest.fixture
def read_only_login(cluster: Cluster, fresh_db: str) -> Iterator[tuple[str, str]]:
    """(role, DSN) of a read-only DBA account on fresh_db: CONNECT, USAGE on pliers'
    schemas, SELECT on the bookkeeping, nothing more (PUBLIC's CREATE on the
    database and on schema public revoked)."""
    role, password = f"dba_{uuid.uuid4().hex[:12]}", secrets.token_hex(12)
    dbname = str(conninfo_to_dict(fresh_db)["dbname"])
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(sql.SQL(
            "CREATE ROLE {role} LOGIN PASSWORD {password}; "
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
            "GRANT CONNECT ON DATABASE {db} TO {role}").format(
            role=sql.Identifier(role), password=sql.Literal(password),
            db=sql.Identifier(dbname)))
    try:
        yield role, make_conninfo(fresh_db, user=role, password=password)
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(
                sql.Identifier(role)))


def counters(dsn: str) -> tuple[list[Any], ...]:
    """What a write would change: the schemas, the relations of pliers' schemas and of
    the bookkeeping, and the bookkeeping's rows."""
    with psycopg.connect(dsn) as conn:
        return (
            conn.execute("SELECT nspname FROM pg_catalog.pg_namespace ORDER BY 1").fetchall(),
            conn.execute("SELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class AS c "
                         "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                         "WHERE n.nspname LIKE 'pliers%%' ORDER BY 1").fetchall(),
            conn.execute(f"SELECT * FROM {migrate.SCHEMA}._yoyo_migration "
                         "ORDER BY migration_id").fetchall(),
            conn.execute(f"SELECT * FROM {migrate.SCHEMA}.migration_checksums "
                         "ORDER BY migration_id").fetchall(),
            conn.execute(f"SELECT count(*) FROM {migrate.SCHEMA}.yoyo_lock").fetchall(),
        )


def test_read_only_dba_runs_status_verify_erd(fresh_db: str,
                                              read_only_login: tuple[str, str]) -> None:
    role, dsn = read_only_login
    denied = f"pliersdb: cannot read the migration bookkeeping: permission denied for schema " \
             f"{migrate.SCHEMA} (grant it: {migrate.READ_GRANTS})"
    for command in ("status", "verify", "erd"):
        assert one_line_error(run(command, "--dsn", dsn)) == denied, command
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(sql.SQL(migrate.READ_GRANTS.replace("<login>", "{}")).format(
            sql.Identifier(role), sql.Identifier(role)))
    before = counters(fresh_db)
    status = run("status", "--dsn", dsn)
    assert status.returncode == 0, status.stderr
    assert status.stdout.endswith(" applied, 0 pending\n")
    verify = run("verify", "--dsn", dsn)
    assert (verify.returncode, verify.stdout) == (
        0, "ok: every applied migration matches its file\n"), verify.stderr
    erd = run("erd", "--dsn", dsn)
    assert erd.returncode == 0, erd.stderr
    with psycopg.connect(fresh_db) as conn:
        assert erd.stdout == erd_module.document(conn)
    assert counters(fresh_db) == before
    # The commands that write say in one line what they need.
    for command, needs in (("migrate", "run it as a superuser, or as a role with CREATEROLE "
                                       "that is a member of pliers_owner"),
                           ("maintain", "run it as a superuser or a member of pliers_owner "
                                        "(docs/history.md)")):
        proc = run(command, "--dsn", dsn)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        line = proc.stderr.splitlines()[-1]
        assert re.match(f"pliersdb {command}: .*permission denied for ", line), line
        assert line.endswith(needs), line
    assert counters(fresh_db) == before


def test_status_verify_erd_run_read_only_transactions(fresh_db: str) -> None:
    """Even as a superuser: the server refuses a write in their transactions."""
    before = counters(fresh_db)
    for command in ("status", "verify", "erd"):
        assert run(command, "--dsn", fresh_db).returncode == 0, command
    assert counters(fresh_db) == before
    with migrate.reading(fresh_db) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE public.x (id integer)")
