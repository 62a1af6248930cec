"""Test harness: one throwaway cluster per session, a migrated template database,
a rolled-back transaction per test, and a fresh clone when a test must commit."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from appworld import app_login
from psycopg import sql

from pliersdb import cluster as clusterlib
from pliersdb.migrate import Migrator

ROOT = Path(__file__).resolve().parent.parent
RUN = uuid.uuid4().hex[:8]
TEMPLATE = f"pliers_template_{RUN}"
SHARED = f"pliers_test_{RUN}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Citus suite needs Citus (.ci/run installs it and sets PLIERSDB_TEST_CITUS=1):
    without it its tests are deselected, never skipped and counted; with it, they alone run."""
    citus = os.environ.get("PLIERSDB_TEST_CITUS") == "1"
    keep = [item for item in items if (item.get_closest_marker("citus") is not None) == citus]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def _install_pgtap(cluster: clusterlib.Cluster) -> None:
    """pgTAP is plain SQL: Debian packages it for 15; copy it to other servers' share dir."""
    if cluster.root is None:
        return  # an existing server brings its own pgTAP
    share = subprocess.run([cluster.tool("pg_config"), "--sharedir"], check=True,
                           capture_output=True, text=True).stdout.strip()
    target = Path(share) / "extension"
    if (target / "pgtap.control").exists():
        return
    sources = sorted(glob.glob("/usr/share/postgresql/*/extension/pgtap*"))
    if not sources:
        raise RuntimeError("pgTAP not found: apt-get install postgresql-15-pgtap")
    for source in sources:
        shutil.copy(source, target)


@pytest.fixture(scope="session")
def cluster() -> Iterator[clusterlib.Cluster]:
    server = clusterlib.from_environment()
    try:
        _install_pgtap(server)
        yield server
    finally:
        server.stop()


def admin(cluster: clusterlib.Cluster) -> psycopg.Connection[Any]:
    return psycopg.connect(cluster.dsn(), autocommit=True)


def create_database(cluster: clusterlib.Cluster, name: str, template: str | None = None) -> str:
    with admin(cluster) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.dsn(name)


def drop_database(cluster: clusterlib.Cluster, name: str) -> None:
    with admin(cluster) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template(cluster: clusterlib.Cluster) -> Iterator[str]:
    """A database with pgTAP (schema tap) and every migration applied: tests clone it."""
    dsn = create_database(cluster, TEMPLATE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tap")
        conn.execute("CREATE EXTENSION pgtap SCHEMA tap")
        conn.execute("GRANT USAGE ON SCHEMA tap TO PUBLIC")
    Migrator(dsn).migrate()
    yield TEMPLATE
    drop_database(cluster, TEMPLATE)


@pytest.fixture(scope="session")
def shared_dsn(cluster: clusterlib.Cluster, template: str) -> Iterator[str]:
    """One clone for all tests that roll back (and for the pgTAP files)."""
    dsn = create_database(cluster, SHARED, template)
    yield dsn
    drop_database(cluster, SHARED)


@pytest.fixture
def db(shared_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside a transaction that is rolled back after the test."""
    with psycopg.connect(shared_dsn) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


@pytest.fixture
def fresh_db(cluster: clusterlib.Cluster, template: str,
             request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new database cloned from the template, for tests that commit."""
    name = f"t_{RUN}_{re.sub(r'[^a-z0-9]', '', request.node.name.lower())[:30]}"
    dsn = create_database(cluster, name, template)
    yield dsn
    drop_database(cluster, name)


@pytest.fixture
def empty_db(cluster: clusterlib.Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new, empty database (no migrations)."""
    name = f"e_{RUN}_{re.sub(r'[^a-z0-9]', '', request.node.name.lower())[:30]}"
    dsn = create_database(cluster, name)
    yield dsn
    drop_database(cluster, name)


@pytest.fixture(scope="module")
def app_role(cluster: clusterlib.Cluster) -> Iterator[tuple[str, str]]:
    """(name, password) of a LOGIN role in pliers_app, dropped after the module:
    RLS is tested as the application, never as a superuser or the owner."""
    with app_login(cluster) as role:
        yield role
