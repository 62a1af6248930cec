"""Tenant context behind PgBouncer in transaction pooling mode.

PgBouncer (Debian package ``pgbouncer``) hands each transaction to whichever of
its two server connections is free, so consecutive transactions of one client,
and transactions of different clients and tenants, share server sessions. The
tenant context is transaction-local (a signed setting bound to its transaction),
so it must never reach another transaction: 16 concurrent clients alternate
between the two demo tenants, with and without context, and none may ever see a
row or the context of the other tenant. psycopg runs with prepare_threshold=None:
PgBouncer 1.20 and older cannot follow server-side prepared statements."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pgcluster as clusterlib
import psycopg
import pytest
from psycopg import sql

from pliersdb import Database, demo, errors

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
CLIENTS = 16
TRANSACTIONS = 50
SERVER_CONNECTIONS = 2

# Every table of schema pliers that holds tenant rows (organization_id NOT NULL, no
# partitions) and that the application role may read (test_security.py checks the
# grants and policies of each), private plugins and the organizations themselves:
# all read in one round trip.
TENANT_TABLES = """
SELECT c.relname
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attname = 'organization_id'
WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p')
    AND NOT c.relispartition AND a.attnotnull AND NOT a.attisdropped
    AND pg_catalog.has_column_privilege(%s, c.oid, a.attnum, 'SELECT')
ORDER BY 1
"""


def seen_query(tables: list[str]) -> sql.Composed:
    """(table, organization_id) of every row visible in the tenant tables."""
    return sql.SQL(" UNION ").join(
        [sql.SQL("SELECT {}::text, organization_id FROM {}").format(
            sql.Literal(t), sql.Identifier("pliers", t)) for t in tables]
        + [sql.SQL("SELECT 'plugins', organization_id FROM pliers.plugins "
                   "WHERE organization_id IS NOT NULL"),
           sql.SQL("SELECT 'organizations', id FROM pliers.organizations")])


CONTEXT = ("SELECT pliers.current_organization_id(), "
           "current_setting('pliers.context', true), pg_catalog.pg_backend_pid()")


@dataclass
class Tenant:
    slug: str
    org: UUID
    user: UUID
    tables: frozenset[str] = frozenset()  # the tables where it has rows


@dataclass
class Setup:
    direct_dsn: str  # the application role, straight to PostgreSQL
    dsn: str  # the application role through PgBouncer, pool of 2 server connections
    one_dsn: str  # the same through a pool of 1 server connection
    a: Tenant
    b: Tenant
    log: Path
    seen: sql.Composed  # the query of every visible tenant row


def _superuser(cluster: clusterlib.Cluster, dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(cluster.dsn(dbname), autocommit=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[tuple[str, str, str]]:
    """(database, app role, password): a demo database and a LOGIN role in pliers_app."""
    name, role = f"bouncer_{uuid.uuid4().hex[:10]}", f"app_{uuid.uuid4().hex[:12]}"
    password = secrets.token_hex(12)
    with _superuser(cluster) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pliers_app").format(
            sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    try:
        demo.run(cluster.dsn(name), say=lambda _: None)
        yield name, role, password
    finally:
        with _superuser(cluster) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def setup(cluster: clusterlib.Cluster, seeded: tuple[str, str, str]) -> Iterator[Setup]:
    """PgBouncer in transaction mode in front of the test cluster, run as a non-root user."""
    assert Path(PGBOUNCER).exists(), "PgBouncer is missing: apt-get install pgbouncer"
    database, role, password = seeded
    # PgBouncer refuses to run as root; root's pytest tmp_path is private (0700), so
    # its files live in a directory of their own, owned by the user that runs it.
    os_user = clusterlib._os_user()
    workdir = Path(tempfile.mkdtemp(prefix="pliersdb-pgbouncer-"))
    port = _free_port()
    (workdir / "userlist.txt").write_text(f'"{role}" "{password}"\n')
    target = f"host={cluster.host} port={cluster.port} dbname={database}"
    (workdir / "pgbouncer.ini").write_text(f"""\
[databases]
pliers = {target}
pliers_one = {target} pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {workdir}/userlist.txt
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {CLIENTS * 4}
server_reset_query =
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
""")
    for path in (workdir, *workdir.iterdir()):
        path.chmod(0o700 if path.is_dir() else 0o600)
        if os_user is not None:
            shutil.chown(path, os_user)
    proc = subprocess.Popen([PGBOUNCER, str(workdir / "pgbouncer.ini")], user=os_user,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = workdir / "pgbouncer.log"
    try:
        def dsn(db: str) -> str:
            return f"postgresql://{role}:{password}@127.0.0.1:{port}/{db}"

        deadline = time.monotonic() + 15
        while True:
            try:
                psycopg.connect(dsn("pliers"), prepare_threshold=None, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text() if log.exists() else ""
                    err = proc.stderr.read().decode() if proc.stderr and proc.poll() else ""
                    pytest.fail(f"PgBouncer did not start: {err}\n{text}")
                time.sleep(0.1)
        with psycopg.connect(cluster.dsn(database)) as conn:  # as superuser: everything
            tables = [r[0] for r in conn.execute(TENANT_TABLES, (role,))]
            assert len(tables) >= 19, f"the application role reads only {tables}"
            seen = seen_query(tables)
            rows = conn.execute(seen).fetchall()
            tenants = [Tenant(slug, org, user, frozenset(t for t, o in rows if o == org))
                       for slug, org, user in conn.execute(
                "SELECT o.slug, o.id, o.primary_contact_id FROM pliers.organizations AS o "
                "WHERE o.slug IN ('acme-health', 'northwind') ORDER BY o.slug").fetchall()]
        yield Setup(cluster.dsn(database, user=role, password=password), dsn("pliers"),
                    dsn("pliers_one"), tenants[0], tenants[1], log, seen)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, prepare_threshold=None, **kwargs)


def one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None
    return tuple(row)


class Observer:
    """What the clients saw, collected across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.problems: list[str] = []
        self.pids: set[int] = set()
        self.last_tenant: dict[int, UUID] = {}  # server pid -> tenant of its last transaction
        self.switches = 0  # transactions on a server connection last used by the other tenant
        self.tenant_transactions = 0
        self.bare_queries = 0

    def check_tenant(self, who: str, me: Tenant, seen: set[tuple[str, UUID]],
                     context: tuple[Any, ...]) -> None:
        """Called inside the transaction, while this client holds the server connection."""
        current, setting, pid = context
        foreign = sorted(table for table, org in seen if org != me.org)
        with self.lock:
            self.tenant_transactions += 1
            self.pids.add(pid)
            if self.last_tenant.get(pid, me.org) != me.org:
                self.switches += 1
            self.last_tenant[pid] = me.org
            if foreign:
                self.problems.append(f"{who} as {me.slug} saw other rows in {foreign}")
            if {table for table, _ in seen} != me.tables:
                self.problems.append(f"{who} as {me.slug} missed its own rows: {sorted(seen)}")
            if current != me.org or not setting.startswith(f"{me.org}|"):
                self.problems.append(f"{who} as {me.slug} had context {current}/{setting!r}")

    def check_bare(self, who: str, seen: set[tuple[str, UUID]],
                   context: tuple[Any, ...]) -> None:
        current, setting, pid = context
        with self.lock:
            self.bare_queries += 1
            self.pids.add(pid)
            if seen:
                orgs = sorted({str(org) for _, org in seen})
                self.problems.append(f"{who} without context saw rows of {orgs} "
                                     f"in {len({t for t, _ in seen})} tables")
            if current is not None or setting not in ("", None):
                self.problems.append(f"{who} without context had context {current}/{setting!r}")


def test_transaction_pooling_never_mixes_tenants(setup: Setup) -> None:
    observer = Observer()
    start = threading.Barrier(CLIENTS)
    tenants = (setup.a, setup.b)

    def tenant_transaction(conn: psycopg.Connection[Any], who: str, me: Tenant) -> None:
        with conn.transaction():
            conn.execute("SELECT pliers.set_context(%s, %s)", (me.org, me.user))
            seen = {(t, o) for t, o in conn.execute(setup.seen)}
            observer.check_tenant(who, me, seen, one(conn.execute(CONTEXT)))

    def raw_client(number: int) -> None:
        """BEGIN; set_context; reads; COMMIT; every fourth client also runs autocommit
        queries without context between its transactions."""
        who = f"client {number}"
        with connect(setup.dsn, autocommit=True) as conn:
            start.wait()
            for n in range(TRANSACTIONS):
                if observer.problems:
                    return  # fail fast: the first problems are reported
                tenant_transaction(conn, who, tenants[(number + n) % 2])
                if number % 4 == 3:
                    seen = {(t, o) for t, o in conn.execute(setup.seen)}
                    observer.check_bare(who, seen, one(conn.execute(CONTEXT)))

    def library_client(number: int, db: Database) -> None:
        """The same through pliersdb.Database.tenant()."""
        who = f"client {number} (Database)"
        start.wait()
        for n in range(TRANSACTIONS):
            if observer.problems:
                return
            me = tenants[(number + n) % 2]
            with db.tenant(me.org, me.user) as session:
                seen = {(t, o) for t, o in session.execute(setup.seen)}
                observer.check_tenant(who, me, seen,
                                      one(session.execute(CONTEXT)))

    failures: list[BaseException] = []

    def run(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # reported below, with the thread's number
            failures.append(exc)
            start.abort()

    began = time.monotonic()
    with Database(setup.dsn, min_size=1, max_size=4, prepare_threshold=None, timeout=20) as db:
        threads = [threading.Thread(target=run, args=(
            (library_client, number, db) if number % 4 == 0 else (raw_client, number)))
            for number in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    elapsed = time.monotonic() - began

    assert not observer.problems, "\n".join(observer.problems[:20])
    assert not failures, f"client errors: {failures[:3]!r}"
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert observer.tenant_transactions == CLIENTS * TRANSACTIONS
    assert observer.bare_queries == (CLIENTS // 4) * TRANSACTIONS
    # The clients really shared PgBouncer's two server connections, and those went
    # back and forth between the tenants: the situation in which a leak would show.
    assert 1 <= len(observer.pids) <= SERVER_CONNECTIONS, observer.pids
    assert observer.switches > CLIENTS, f"only {observer.switches} tenant switches"
    assert elapsed < 30, f"took {elapsed:.1f}s"


def test_one_round_trip_units_never_mix_tenants(setup: Setup) -> None:
    """``db.tenant(...).call(...)`` sends BEGIN, the context, the call, COMMIT and the leak
    check before one Sync, so PgBouncer runs them on one server connection. Clients
    alternate tenants, and every fifth unit fails in its context (a user of the other
    tenant): the next transaction without context, on whichever server connection,
    has none."""
    problems: list[str] = []
    start = threading.Barrier(CLIENTS)
    tenants = (setup.a, setup.b)

    def client(number: int, db: Database) -> None:
        start.wait()
        for n in range(TRANSACTIONS):
            me, other = tenants[(number + n) % 2], tenants[(number + n + 1) % 2]
            request = db.tenant(me.org, me.user).call_one("current_request")
            orgs = {row["organization_id"] for row in
                    db.tenant(me.org, me.user).call("list_submissions", limit=1000)}
            if request["organization_id"] != me.org or orgs != {me.org}:
                problems.append(f"client {number} as {me.slug}: {request} {orgs}")
            if n % 5 == 0:
                try:
                    db.tenant(me.org, other.user).call("list_submissions")
                    problems.append(f"client {number}: another tenant's user was let in")
                except errors.PermissionDenied:
                    pass
                none = db.transaction().call_one("current_organization_id")
                if none["current_organization_id"] is not None:
                    problems.append(f"client {number} without context had {none}")

    failures: list[BaseException] = []

    def run(number: int, db: Database) -> None:
        try:
            client(number, db)
        except BaseException as exc:  # reported below
            failures.append(exc)
            start.abort()

    with Database(setup.dsn, min_size=1, max_size=4, prepare_threshold=None, timeout=20) as db:
        threads = [threading.Thread(target=run, args=(number, db)) for number in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not problems, "\n".join(problems[:20])
    assert not failures, f"client errors: {failures[:3]!r}"
    assert not any(thread.is_alive() for thread in threads), "a client hung"


def test_one_server_connection_carries_no_context_across_clients(setup: Setup) -> None:
    """Through a pool of ONE server connection, two clients share one server session:
    set_context's transaction-local context does not cross from one to the other, and a
    session-level copy of it, which does, is no context in the other's transaction."""
    with connect(setup.one_dsn, autocommit=True) as first, \
            connect(setup.one_dsn, autocommit=True) as second:
        with first.transaction():
            first.execute("SELECT pliers.set_context(%s, %s)", (setup.a.org, setup.a.user))
            current, setting, pid = one(first.execute(CONTEXT))
            assert current == setup.a.org
        current, setting, again = one(second.execute(CONTEXT))
        assert again == pid, "the two clients should share the one server connection"
        assert current is None and setting in ("", None), (current, setting)
        assert second.execute(setup.seen).fetchall() == []

        # A session-level copy of a context does cross clients, as any setting does; but
        # it is bound to the transaction that made it: the next client gets no tenant.
        with first.transaction():
            first.execute("SELECT pliers.set_context(%s, %s)", (setup.b.org, setup.b.user))
            first.execute("SELECT pg_catalog.set_config('pliers.context', "
                          "pg_catalog.current_setting('pliers.context'), false)")
        try:
            current, setting, again = one(second.execute(CONTEXT))
            assert again == pid and setting.startswith(str(setup.b.org)), setting
            assert current is None
            assert second.execute(setup.seen).fetchall() == []
        finally:
            first.execute("RESET ALL")
        _, setting, _ = one(second.execute(CONTEXT))
        assert setting in ("", None)


def test_direct_and_bounced_connections_agree(setup: Setup) -> None:
    """The same tenant transaction gives the same rows with and without PgBouncer."""
    results = []
    for dsn in (setup.direct_dsn, setup.dsn):
        with connect(dsn) as conn:
            conn.execute("SELECT pliers.set_context(%s, %s)", (setup.b.org, setup.b.user))
            results.append(sorted(conn.execute(setup.seen).fetchall()))
            conn.commit()
    assert results[0] == results[1] and results[0], results
    assert {org for _, org in results[0]} == {setup.b.org}


def test_pgbouncer_ran_as_a_non_root_user(setup: Setup) -> None:
    owner = setup.log.stat().st_uid
    assert owner != 0 or os.geteuid() != 0, "PgBouncer must not run as root"
