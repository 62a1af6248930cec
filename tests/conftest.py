"""Test harness: one throwaway cluster per session, a migrated template database,
a rolled-back transaction per test, and a fresh clone when a test must commit.

Three more modes, chosen by environment variables:

- ``PLIERSDB_TEST_API=async`` (the command is ``PLIERSDB_TEST_API=async .venv/bin/python
  -m pytest``): ``pliersdb.connect`` is the async API behind a sync bridge
  (tests/asyncbridge.py), and the modules that test the API through it
  (``ASYNC_MODULES``) run unchanged against the async API; the other modules, and the
  tests marked ``sync_only`` (they assert the sync classes themselves), are deselected.
- ``PLIERSDB_TEST_CITUS=1``: tests/test_citus.py alone (tests marked ``citus``), which
  starts its own Citus cluster; without it those tests are deselected.
- ``PLIERSDB_TEST_CLUSTER=citus`` (``make test-citus``; the command is
  ``PLIERSDB_TEST_CLUSTER=citus .venv/bin/python -m pytest``): the API test suite,
  unchanged, on a Citus cluster (issue 14: "the API test suite pass[es] with
  multi-shard queries turned into errors; the tenant probe finds nothing"). The
  session's ``cluster`` is the coordinator of a coordinator and two workers on
  127.0.0.1 (``pgcluster.start_citus``, system PostgreSQL 15 with Citus
  installed). A database cannot be cloned across nodes, so ``template`` makes no
  database and ``create_database(cluster, name, template)`` makes a new distributed
  one (``CitusCluster.create_database``: created on every node with the citus
  extension, the nodes registered, migrated, distributed in ``appworld.SHARD_COUNT``
  shards a table): ``shared_dsn``, ``fresh_db`` and each module's world are such
  databases. Every application connection runs with
  ``citus.multi_task_query_log_level = error``: the LOGIN roles of pliers_app that
  the harness makes (``appworld.login``: ``app_role``, ``appworld.world``, the
  logins of tests/test_security.py) carry it as their own setting (ALTER ROLE ...
  SET on the coordinator), so it holds for every connection they open, however the
  test builds its DSN; the demo's connections (the superuser with ``SET ROLE
  pliers_app``, which no role setting reaches) get it through their DSN in
  tests/test_demo.py. Superuser connections (seeding, checks) may reach every shard.
  Organizations are inserted through ``appworld.new_organization``, which registers
  the slug in ``pliers.organization_slugs`` first (``distribute.register_slug``).
  To survey every multi-shard statement rather than stop at the first of each test,
  add ``PLIERSDB_TEST_MULTI_TASK_LOG=<file>``: the logins get ``warning`` instead, and
  the coordinator's log, each such statement with its STATEMENT and PL/pgSQL CONTEXT,
  is copied to <file> at the end (``grep -A4 'multi-task query' <file>``).

  Only the API test modules run (``CITUS_MODULES``); the others are deselected, never
  skipped: test_lint.py and test_wheel.py (static checks and packaging: no database),
  test_pgtap.py (pgTAP is not installed on the nodes, and its files test the
  single-node schema: UNIQUE (slug), local tables), test_crash.py (kills and restarts
  one server), test_pgbouncer.py (a pooler in front of one server), test_migrate.py
  (migrations up and down on empty databases: Citus cannot roll back a distributed
  schema), test_cli.py (usage, DSN resolution and the embedded server), test_erd.py
  (docs/schema.md documents the single-node schema, without organization_slugs),
  test_compiled_validators.py and test_validation_properties.py (pure functions as
  the superuser, and a migration rolled back), test_fuzz.py, test_history.py and
  test_submissions_concurrency.py (hypothesis and load runs, maintenance across all
  tenants: not the API's single-tenant calls), test_replica.py (a streaming replica of
  one server), test_readme.py (the README's steps against one server, as the README
  describes them), and test_citus.py (run by ``PLIERSDB_TEST_CITUS=1``).
"""

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

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import app_login

import pliersdb
from pliersdb import distribute
from pliersdb.migrate import Migrator

ROOT = Path(__file__).resolve().parent.parent
RUN = uuid.uuid4().hex[:8]
TEMPLATE = f"pliers_template_{RUN}"
SHARED = f"pliers_test_{RUN}"
# PLIERSDB_TEST_CLUSTER=citus: the API test modules, the only ones run there (this
# module's docstring says why each other module is not).
CITUS_MODULES = frozenset({
    "test_forms.py", "test_submissions.py", "test_pipeline.py", "test_errors.py", "test_demo.py",
    "test_submission_import.py", "test_security.py", "test_tenancy.py", "test_history_api.py",
    "test_feed.py", "test_users.py", "test_access.py", "test_organizations.py",
    "test_choice_lists.py", "test_form_expressions.py", "test_formats.py", "test_workflows.py",
    "test_workflow_executions.py", "test_jobs.py", "test_worker.py",
})


ASYNC_API = os.environ.get("PLIERSDB_TEST_API") == "async"
# PLIERSDB_TEST_API=async: the modules whose Database comes from pliersdb.connect.
ASYNC_MODULES = frozenset({
    "test_forms.py", "test_submissions.py", "test_users.py", "test_access.py",
    "test_organizations.py", "test_pipeline.py", "test_submission_import.py",
    "test_tenancy.py", "test_choice_lists.py", "test_workflows.py",
    "test_workflow_executions.py", "test_jobs.py",
})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sync_only(reason): not run with PLIERSDB_TEST_API=async")


@pytest.fixture(scope="session", autouse=True)
def api_under_test() -> Iterator[None]:
    """With PLIERSDB_TEST_API=async, pliersdb.connect opens the async API behind a bridge."""
    if not ASYNC_API:
        yield
        return
    import asyncbridge

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pliersdb, "connect", asyncbridge.connect)
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Citus suite needs Citus (.ci/run installs it and sets PLIERSDB_TEST_CITUS=1):
    without it its tests are deselected, never skipped and counted; with it, they alone
    run. With PLIERSDB_TEST_CLUSTER=citus, the API test modules run (on Citus), and
    the other modules are deselected (this module's docstring says why)."""
    citus = os.environ.get("PLIERSDB_TEST_CITUS") == "1"
    on_citus = appworld.citus_mode()

    def kept(item: pytest.Item) -> bool:
        if ASYNC_API:
            return (item.path.name in ASYNC_MODULES
                    and item.get_closest_marker("sync_only") is None)
        if item.get_closest_marker("citus") is not None:
            return citus
        if on_citus:
            return item.path.name in CITUS_MODULES
        return not citus

    keep = [item for item in items if kept(item)]
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
    """The session's server (with PLIERSDB_TEST_CLUSTER=citus, a Citus coordinator)."""
    server = appworld.start_cluster()
    try:
        if not appworld.citus_mode():
            _install_pgtap(server)
        yield server
    finally:
        appworld.stop_cluster(server)


# A clone of ``template`` (on Citus: a new distributed database), or an empty database.
create_database = appworld.create_database
drop_database = appworld.drop_database


@pytest.fixture(scope="session")
def template(cluster: clusterlib.Cluster) -> Iterator[str]:
    """A database with pgTAP (schema public) and every migration applied: tests clone it.
    On Citus, only its name: each clone is made anew (``create_database``); pliers'
    roles are made first, as migrate makes them there (LOGIN, on every node), so that
    logins in them can be made before the first database."""
    if appworld.citus_mode():
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            distribute.prepare_roles(conn)
        yield TEMPLATE
        return
    dsn = create_database(cluster, TEMPLATE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgtap")  # the ordinary way: in public, as users do
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
def app_role(cluster: clusterlib.Cluster, template: str) -> Iterator[tuple[str, str]]:
    """(name, password) of a LOGIN role in pliers_app, dropped after the module:
    RLS is tested as the application, never as a superuser or the owner."""
    with app_login(cluster) as role:
        yield role
