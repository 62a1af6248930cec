"""A database for the library tests: organizations, users and role assignments seeded
as the superuser (there is no sign-up API), then used through ``pliersdb.connect`` as a
LOGIN role that is a member of pliers_app, never a superuser or the owner.

Used by tests/test_forms.py and tests/test_submissions.py: each builds one ``World``
per module (a clone of the migrated template) and the tests make their own forms with
their own slugs, so they do not depend on each other.

Also the test databases and logins of either mode of the suite (tests/conftest.py):
one PostgreSQL server, or with ``PLIERSDB_TEST_CLUSTER=citus`` a Citus coordinator and
two workers, where a new database is made distributed (``create_database``), the
application's logins have every multi-shard statement turned into an error
(``login``), and organizations are registered in the global slug directory
(``new_organization``)."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pgcluster as clusterlib
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from pliersdb import distribute

# PLIERSDB_TEST_CLUSTER=citus: the suite's server is a Citus coordinator (tests/conftest.py).
CLUSTER_VARIABLE = "PLIERSDB_TEST_CLUSTER"
# What the application's logins run with on Citus: a statement that would reach more
# than one shard is an error (the "multi-shard queries turned into errors").
# To survey instead (PLIERSDB_TEST_MULTI_TASK_LOG=<file>): a warning, which the
# coordinator logs with the statement and the PL/pgSQL context that ran it; the log is
# copied to <file> when the session ends (grep -A4 'multi-task query' <file>).
MULTI_TASK_LOG = os.environ.get("PLIERSDB_TEST_MULTI_TASK_LOG", "")
ROUTED_SETTING = ("citus.multi_task_query_log_level", "warning" if MULTI_TASK_LOG else "error")
# The roles of one tenant's connections: on Citus their logins are routed (``login``).
TENANT_ROLES = ("pliers_app", "pliers_readonly")
# Shards per distributed table in the test databases: distributing 40-odd tables in
# Citus' default 32 shards takes 20 s a database, in 4 about 3 s. A statement without
# its tenant still reaches all of them (and fails); two tenants may share a shard.
SHARD_COUNT = 4
# The Citus clusters started by start_cluster, by their coordinator's (host, port).
_CITUS: dict[tuple[str, int], clusterlib.CitusCluster] = {}


def citus_mode() -> bool:
    """Whether the suite runs on a Citus cluster (PLIERSDB_TEST_CLUSTER=citus)."""
    mode = os.environ.get(CLUSTER_VARIABLE, "")
    if mode not in ("", "citus"):
        raise RuntimeError(f"{CLUSTER_VARIABLE}={mode!r}: only 'citus' (or unset) is known")
    return mode == "citus"


def start_cluster() -> clusterlib.Cluster:
    """The suite's server: a Citus cluster's coordinator in Citus mode (started on the
    system's PostgreSQL, where Citus is installed), else what the environment names."""
    if not citus_mode():
        return clusterlib.from_environment()
    citus = clusterlib.start_citus(clusterlib.system_bin_dir())
    _CITUS[(citus.coordinator.host, citus.coordinator.port)] = citus
    if MULTI_TASK_LOG:
        with superuser(citus.coordinator) as conn:  # our throwaway coordinator's own log
            conn.execute("ALTER SYSTEM SET log_min_error_statement = 'warning'")
            conn.execute("SELECT pg_catalog.pg_reload_conf()")
    return citus.coordinator


def stop_cluster(cluster: clusterlib.Cluster) -> None:
    citus = _CITUS.pop((cluster.host, cluster.port), None)
    if citus is not None:
        if MULTI_TASK_LOG and citus.coordinator.root is not None:
            shutil.copy(citus.coordinator.root / "log", MULTI_TASK_LOG)
        citus.stop()
    else:
        cluster.stop()


def citus_of(cluster: clusterlib.Cluster) -> clusterlib.CitusCluster | None:
    """The Citus cluster whose coordinator ``cluster`` is, if it is one."""
    return _CITUS.get((cluster.host, cluster.port))


def create_database(cluster: clusterlib.Cluster, name: str, template: str | None = None) -> str:
    """A new database ``name`` (dropped first if it exists); returns its superuser DSN.

    One server: a clone of ``template`` (the migrated template), else empty. Citus: a
    database cannot be cloned across nodes, so with a template a new distributed
    database is made (``CitusCluster.create_database``: on every node with the citus
    extension, the nodes registered, migrated, distributed); without one, the same
    neither migrated nor distributed."""
    citus = citus_of(cluster)
    if citus is not None:
        return citus.create_database(name, migrate=template is not None,
                                     shard_count=SHARD_COUNT)
    with superuser(cluster) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return cluster.dsn(name)


def drop_database(cluster: clusterlib.Cluster, name: str) -> None:
    citus = citus_of(cluster)
    if citus is not None:
        citus.drop_database(name)
        return
    with superuser(cluster) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@dataclass
class Org:
    slug: str
    id: UUID
    users: dict[str, UUID] = field(default_factory=dict)
    teams: dict[str, UUID] = field(default_factory=dict)


@dataclass
class World:
    admin_dsn: str  # superuser: seeding and checks only
    app_dsn: str  # the application's LOGIN role (member of pliers_app)
    orgs: dict[str, Org]


def superuser(cluster: clusterlib.Cluster, dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(cluster.dsn(dbname), autocommit=True)


def seed_org(conn: psycopg.Connection[Any], slug: str, users: dict[str, list[str]],
             limits: dict[str, Any] | None = None, teams: tuple[str, ...] = ()) -> Org:
    """One organization, its users (username -> roles) and teams, as the superuser."""
    org = Org(slug, new_organization(conn, slug, limits=Jsonb(limits or {})))
    for username, roles in users.items():
        user = conn.execute(
            "INSERT INTO pliers.users (organization_id, email, username, roles) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (org.id, f"{username}@{slug}.example", username, roles)).fetchone()
        assert user is not None
        org.users[username] = user[0]
    creator = next(iter(org.users.values()))
    for name in teams:
        team = conn.execute(
            "INSERT INTO pliers.teams (organization_id, name, slug, created_by) "
            "VALUES (%s, %s, %s, %s) RETURNING id", (org.id, name, name, creator)).fetchone()
        assert team is not None
        org.teams[name] = team[0]
    return org


def new_organization(conn: psycopg.Connection[Any], slug: str, name: str | None = None,
                     organization_id: UUID | None = None, **columns: Any) -> UUID:
    """INSERT an organization (and ``columns``) as the superuser; its id. On Citus its
    slug is registered in the global directory first (``distribute.register_slug``)."""
    row: dict[str, Any] = {"id": distribute.register_slug(conn, slug, organization_id),
                           "slug": slug, "name": name or slug.replace("-", " ").title(),
                           **columns}
    conn.execute(sql.SQL("INSERT INTO pliers.organizations ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row))), list(row.values()))
    return UUID(str(row["id"]))


@contextmanager
def login(cluster: clusterlib.Cluster, group: str = "pliers_app",
          prefix: str = "app") -> Iterator[tuple[str, str]]:
    """(name, password) of a new LOGIN role in ``group`` (roles are cluster-wide:
    dropped at the end).

    On Citus, a login of a tenant's role (pliers_app, pliers_readonly: ``TENANT_ROLES``)
    has ``citus.multi_task_query_log_level = error`` as its own setting (ALTER ROLE ...
    SET, on the coordinator: like the libpq option ``-c``, it is not sent to the
    workers), so that every connection it opens, however its DSN is made, fails on a
    statement that reaches more than one shard. pliers_worker reads every tenant's
    rows by design (docs/security.md): its logins may."""
    name, password = f"{prefix}_{uuid.uuid4().hex[:12]}", secrets.token_hex(12)
    with superuser(cluster) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(name), sql.Literal(password), sql.Identifier(group)))
        if citus_of(cluster) is not None and group in TENANT_ROLES:
            conn.execute("SET citus.enable_alter_role_set_propagation = off")
            conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(
                sql.Identifier(name), sql.Identifier(*ROUTED_SETTING[0].split(".")),
                sql.Literal(ROUTED_SETTING[1])))
    try:
        yield name, password
    finally:
        with superuser(cluster) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def app_login(cluster: clusterlib.Cluster) -> AbstractContextManager[tuple[str, str]]:
    """A LOGIN role in pliers_app (see ``login``)."""
    return login(cluster, "pliers_app")


def routed_dsn(dsn: str) -> str:
    """``dsn`` with ``-c citus.multi_task_query_log_level=error`` added to its options:
    for an application's connections that no login's setting reaches (the demo's)."""
    options = conninfo_to_dict(dsn).get("options")
    routed = "-c {}={}".format(*ROUTED_SETTING)
    return make_conninfo(dsn, options=f"{options} {routed}" if options else routed)


@contextmanager
def fanning_out(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Inside the block, ``conn``'s statements may reach every shard: for the raw-SQL
    probes that read or write a whole table under row-level security, whose point is
    that the policy holds on each shard (the API's calls stay routed: outside such a
    block, or in the tests of each API module). A no-op on one server.

    The setting is restored at the end of the block; if the transaction failed, its
    rollback restores it (a setting changed in a transaction is undone with it)."""
    if not citus_mode():
        yield
        return
    name = ROUTED_SETTING[0]
    row = conn.execute("SELECT pg_catalog.current_setting(%s)", (name,)).fetchone()
    assert row is not None
    conn.execute("SELECT pg_catalog.set_config(%s, 'off', false)", (name,))
    try:
        yield
    finally:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, row[0]))


def assert_application(conn: psycopg.Connection[Any]) -> None:
    """``conn`` runs as the application: under RLS and, on Citus, routed statements only."""
    row = conn.execute(
        "SELECT r.rolsuper, r.rolbypassrls, pg_catalog.current_setting(%s, true) "
        "FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user",
        (ROUTED_SETTING[0],)).fetchone()
    assert row is not None and row[:2] == (False, False), "the library tests must run under RLS"
    if citus_mode():
        assert row[2] == ROUTED_SETTING[1], f"{ROUTED_SETTING[0]} is {row[2]!r} here"
    conn.rollback()


@contextmanager
def world(cluster: clusterlib.Cluster, template: str, prefix: str,
          orgs: dict[str, dict[str, Any]]) -> Iterator[World]:
    """A clone of the template seeded with ``orgs`` (slug -> seed_org keyword arguments),
    and the DSN of a pliers_app login on it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with app_login(cluster) as (role, password):
        try:
            admin_dsn = create_database(cluster, name, template)
            with psycopg.connect(admin_dsn) as conn:
                seeded = {slug: seed_org(conn, slug, **spec) for slug, spec in orgs.items()}
            app_dsn = cluster.dsn(name, user=role, password=password)
            with psycopg.connect(app_dsn) as conn:
                assert_application(conn)
            yield World(admin_dsn, app_dsn, seeded)
        finally:
            drop_database(cluster, name)
