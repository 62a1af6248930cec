"""The pgTAP suites of pgtap/, run as a user runs them: ``pg_prove -d DSN pgtap/*.sql``
with pgTAP installed by ``CREATE EXTENSION pgtap`` (schema public) and no PGOPTIONS.

Each file is one test in the shared test database. Then the whole suite runs once more
on a database with data of its own after ``pliersdb maintain`` (partitions made ahead,
the DEFAULT partitions emptied), as on a staging copy, and must leave it as it was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from appworld import create_database, drop_database, seed_org
from pgcluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted((ROOT / "pgtap").glob("*.sql"))
PG_PROVE = "/usr/bin/pg_prove"


def pg_prove(dsn: str, *files: Path) -> tuple[bool, str]:
    """Run pg_prove as documented (no PGOPTIONS): whether all passed, and its report (a
    line per file, the failing assertions with pgTAP's diagnostics, the summary)."""
    env = {k: v for k, v in os.environ.items() if k != "PGOPTIONS"}
    proc = subprocess.run([PG_PROVE, "--failures", "--comments", "-d", dsn, *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    passed = proc.returncode == 0 and re.search(r"^Result: PASS$", out, re.M) is not None
    return passed, out


def test_pgtap_files_exist() -> None:
    assert FILES, "pgtap/ holds no test file"


def test_pg_prove_is_installed() -> None:
    assert Path(PG_PROVE).exists(), \
        "no pg_prove: make system-deps (apt-get install libtap-parser-sourcehandler-pgtap-perl)"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_pgtap(path: Path, shared_dsn: str) -> None:
    passed, report = pg_prove(shared_dsn, path)
    assert passed, report


@pytest.fixture
def maintained_db(cluster: Cluster, template: str) -> Iterator[str]:
    """A migrated database with data of its own, after ``pliersdb maintain``."""
    name = f"pgtap_maintained_{os.getpid()}"
    dsn = create_database(cluster, name, template)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for slug in ("staging-one", "staging-two"):
                org = seed_org(conn, slug, {"owner": ["org_owner"], "clerk": []}, teams=("desk",))
                # Rows purge_deleted finds (the clerk goes, the owner, who created the
                # team, stays), and an event of long ago that maintain moves out of the
                # DEFAULT partition into its month.
                conn.execute("UPDATE pliers.users SET status = 'deleted', "
                             "deleted_at = now() - interval '200 days' "
                             "WHERE organization_id = %s", (org.id,))
                conn.execute(
                    "INSERT INTO pliers.events (organization_id, event_type, aggregate_type, "
                    "aggregate_id, aggregate_version, payload, event_timestamp) "
                    "VALUES (%s, 'user.updated', 'user', %s, 1, '{}', now() - interval '3 months')",
                    (org.id, org.users["owner"]))
        proc = subprocess.run([sys.executable, "-m", "pliersdb", "maintain", "--dsn", dsn],
                              capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield dsn
    finally:
        drop_database(cluster, name)


def snapshot(dsn: str) -> dict[str, Any]:
    """What a suite must not change: the rows of every table of pliers' schemas, the
    relations there, and the roles of the cluster."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class AS c "
            "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname LIKE 'pliers%%' AND c.relkind IN ('r', 'p') ORDER BY 1").fetchall()
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone() for (t,) in tables}
        roles = conn.execute("SELECT rolname FROM pg_catalog.pg_roles ORDER BY 1").fetchall()
    return {"rows": rows, "roles": roles}


def test_pg_prove_after_maintain_leaves_the_database_unchanged(maintained_db: str) -> None:
    """The issue's Done-when: pg_prove runs the shipped suites on a migrated database
    after pliersdb maintain; and they roll everything back."""
    before = snapshot(maintained_db)
    assert before["rows"]["pliers.organizations"] == (2,)
    month = datetime.now(UTC).strftime("%Y_%m")
    assert f"pliers.events_p{month}" in before["rows"], "maintain made this month's partition"
    passed, report = pg_prove(maintained_db, *FILES)
    assert passed, report
    assert re.search(rf"^Files={len(FILES)}, Tests=\d+", report, re.M), report[-2000:]
    assert snapshot(maintained_db) == before
