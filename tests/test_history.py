"""History under concurrency, against committed transactions (docs/history.md).

- the change feed read while writers commit in random order, some late, some rolled
  back: the consumer sees every committed event once, never another tenant's, and its
  cursor only moves forward;
- writers of one aggregate using the lock + expected-version pattern never append two
  events with the same aggregate_version;
- two run_maintenance at once both succeed and do the work once; ``pliersdb maintain``;
- partition pruning of time-range queries, and the feed index.
"""

from __future__ import annotations

import functools
import random
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from pliersdb import cli, errors, maintenance
from pliersdb import cluster as clusterlib

ORG_A = uuid.UUID("70000000-0000-4000-8000-00000000000a")
ORG_B = uuid.UUID("70000000-0000-4000-8000-00000000000b")
USER_A = uuid.UUID("70000001-0000-4000-8000-000000000001")
USER_B = uuid.UUID("70000002-0000-4000-8000-000000000001")


@pytest.fixture
def tenants(fresh_db: str) -> str:
    """fresh_db with two committed tenants, each with an active admin."""
    with psycopg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO pliers.organizations (id, slug, name) VALUES "
                     "(%s, 'hist-a', 'History A'), (%s, 'hist-b', 'History B')", (ORG_A, ORG_B))
        conn.execute("INSERT INTO pliers.users (organization_id, id, email, roles) VALUES "
                     "(%s, %s, 'ann@hist.example', '{org_admin}'), "
                     "(%s, %s, 'bob@hist.example', '{org_admin}')", (ORG_A, USER_A, ORG_B, USER_B))
    return fresh_db


def as_role(cluster: clusterlib.Cluster, dsn: str, role: tuple[str, str]) -> str:
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    return cluster.dsn(str(dbname), user=role[0], password=role[1])


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    """The single value a query returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def set_tenant(conn: psycopg.Connection[Any], org: uuid.UUID, user: uuid.UUID) -> None:
    """The context as set_context sets it, for a superuser writer (it calls the private
    _append_event, as the SECURITY DEFINER API does)."""
    conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))


def run_threads(targets: list[Any]) -> list[BaseException]:
    failures: list[BaseException] = []

    def guard(target: Any) -> None:
        try:
            target()
        except BaseException as exc:  # collected, asserted by the caller
            failures.append(exc)

    threads = [threading.Thread(target=guard, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


# The change feed --------------------------------------------------------------------------


def test_feed_read_during_concurrent_writes_misses_and_repeats_nothing(
        cluster: clusterlib.Cluster, tenants: str, app_role: tuple[str, str]) -> None:
    writers, per_writer = 8, 12
    committed: set[str] = set()
    other_tenant: set[str] = set()
    lock = threading.Lock()
    done = threading.Event()
    rng = random.Random(7)  # noqa: S311 - timings, not secrets
    plans = [[(rng.random() < 0.15, rng.uniform(0, 0.03), rng.uniform(0, 0.05), rng.randint(1, 3))
              for _ in range(per_writer)] for _ in range(writers)]

    def writer(index: int) -> None:
        org, user = (ORG_B, USER_B) if index == 0 else (ORG_A, USER_A)
        with psycopg.connect(tenants) as conn:
            for rollback, before, after, count in plans[index]:
                set_tenant(conn, org, user)
                time.sleep(before)
                ids = [str(one(
                    conn, "SELECT pliers._append_event('form', %s, %s, 'form.updated', %s::jsonb)",
                    (uuid.uuid4(), 1, f'{{"writer": {index}}}'))) for _ in range(count)]
                # The transaction has its id (taken at the first append) while it sleeps:
                # others with later ids commit first. A late commit must not be skipped.
                time.sleep(after)
                if rollback:
                    conn.rollback()
                    continue
                xid = int(one(conn, "SELECT pg_current_xact_id()::text"))
                conn.commit()
                with lock:
                    (other_tenant if org == ORG_B else committed).update(ids)
                    commit_order.append(xid)

    seen: list[str] = []
    cursors: list[tuple[int, int]] = []
    commit_order: list[int] = []

    def consumer() -> None:
        cursor = ("0", 0)
        deadline = time.monotonic() + 90
        with psycopg.connect(as_role(cluster, tenants, app_role)) as conn:
            while time.monotonic() < deadline:
                conn.execute("SELECT pliers.set_context(%s, %s)", (ORG_A, USER_A))
                rows = conn.execute(
                    "SELECT id::text, transaction_id::text, position, organization_id "
                    "FROM pliers.read_feed(%s::xid8, %s, 7)", cursor).fetchall()
                conn.commit()
                for event_id, tx, position, org in rows:
                    assert org == ORG_A, "an event of another tenant in the feed"
                    here = (int(tx), int(position))
                    assert not cursors or here > cursors[-1], f"cursor went back: {here}"
                    cursors.append(here)
                    seen.append(event_id)
                    cursor = (tx, position)
                if not rows:
                    with lock:
                        if done.is_set() and set(seen) >= committed:
                            return
                    time.sleep(0.01)
            raise AssertionError("the consumer did not see every event in time")

    consumer_thread_failures: list[BaseException] = []
    consumer_thread = threading.Thread(
        target=lambda: consumer_thread_failures.extend(run_threads([consumer])))
    consumer_thread.start()
    failures = run_threads([functools.partial(writer, i) for i in range(writers)])
    done.set()
    consumer_thread.join(timeout=120)
    assert not failures, failures
    assert not consumer_thread_failures, consumer_thread_failures

    assert len(seen) == len(set(seen)), "an event was returned twice"
    assert set(seen) == committed, (
        f"missed {len(committed - set(seen))}, extra {len(set(seen) - committed)} "
        "(rolled-back or other tenant's events)")
    assert not set(seen) & other_tenant
    assert cursors == sorted(cursors)
    assert len(committed) > 50, "the test wrote too little to mean anything"
    late = sum(1 for i, xid in enumerate(commit_order) if any(xid < x for x in commit_order[:i]))
    assert late > 0, "no transaction committed after a younger one: the test raced too little"


def test_feed_needs_a_context_and_is_the_apps(cluster: clusterlib.Cluster, tenants: str,
                                               app_role: tuple[str, str]) -> None:
    with psycopg.connect(as_role(cluster, tenants, app_role)) as conn:
        with pytest.raises(psycopg.Error) as no_context:
            conn.execute("SELECT * FROM pliers.read_feed()")
        assert isinstance(errors.from_psycopg(no_context.value), errors.NoTenantContext)
        conn.rollback()
        for private in ("SELECT pliers._append_event('form', gen_random_uuid(), 1, 'form.x', '{}')",
                        "SELECT * FROM pliers.run_maintenance()",
                        "SELECT * FROM pliers.purge_deleted()",
                        "SELECT pliers.erase_user(gen_random_uuid(), gen_random_uuid())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(private)
            conn.rollback()


# Expected versions -------------------------------------------------------------------------


def test_writers_of_one_aggregate_never_share_a_version(tenants: str) -> None:
    writers, updates = 6, 8
    conflicts = 0
    lock = threading.Lock()

    def writer(index: int) -> None:
        nonlocal conflicts
        with psycopg.connect(tenants) as conn:
            done = 0
            while done < updates:
                # Read without a lock (what a client shows), think, then write expecting it.
                expected = one(conn, "SELECT revision FROM pliers.users WHERE id = %s", (USER_A,))
                conn.commit()
                time.sleep(random.uniform(0, 0.01))  # noqa: S311 - timing, not a secret
                set_tenant(conn, ORG_A, USER_A)
                actual = one(conn, "SELECT revision FROM pliers.users "
                             "WHERE organization_id = %s AND id = %s FOR UPDATE", (ORG_A, USER_A))
                try:
                    conn.execute("SELECT pliers._check_expected_version('user', %s, %s, %s)",
                                 (USER_A, expected, actual))
                except psycopg.Error as exc:
                    mapped = errors.from_psycopg(exc)
                    assert isinstance(mapped, errors.Conflict), exc
                    assert mapped.detail == {"aggregate_type": "user", "id": str(USER_A),
                                             "expected": expected, "actual": actual}
                    conn.rollback()
                    with lock:
                        conflicts += 1
                    continue
                version = one(conn, "UPDATE pliers.users SET display_name = %s "
                              "WHERE organization_id = %s AND id = %s RETURNING revision",
                              (f"w{index}-{done}", ORG_A, USER_A))
                conn.execute("SELECT pliers._append_event('user', %s, %s, 'user.updated', "
                             "%s::jsonb)", (USER_A, version, f'{{"by": {index}}}'))
                conn.commit()
                done += 1

    failures = run_threads([functools.partial(writer, i) for i in range(writers)])
    assert not failures, failures
    with psycopg.connect(tenants) as conn:
        versions = [r[0] for r in conn.execute(
            "SELECT aggregate_version FROM pliers.events WHERE aggregate_type = 'user' "
            "AND aggregate_id = %s ORDER BY aggregate_version", (USER_A,))]
        revision = one(conn, "SELECT revision FROM pliers.users WHERE id = %s", (USER_A,))
    assert len(versions) == len(set(versions)) == writers * updates, "two events share a version"
    assert versions == list(range(2, revision + 1)), "versions are the revisions, without a gap"
    assert conflicts > 0, "no stale expected version was caught (PL003): the test raced too little"


# Maintenance ---------------------------------------------------------------------------------


def test_two_concurrent_run_maintenance_do_the_work_once(tenants: str) -> None:
    with psycopg.connect(tenants) as conn:
        # Rows waiting in the DEFAULT partitions, for a far month.
        conn.execute("INSERT INTO pliers.events (organization_id, event_type, aggregate_type, "
                     "aggregate_id, aggregate_version, payload, event_timestamp) "
                     "VALUES (%s, 'form.created', 'form', gen_random_uuid(), 1, '{}', "
                     "'2003-05-05 00:00:00+00')", (ORG_A,))
    reports: list[list[maintenance.Action]] = []
    with psycopg.connect(tenants, autocommit=True) as holder:
        # Hold run_maintenance's advisory lock until both runs wait for it: they overlap.
        holder.execute("SELECT pg_advisory_lock(hashtext('pliers.run_maintenance'))")

        def run() -> None:
            reports.append(maintenance.run(tenants, events_retention="1000 months",
                                           lock_timeout="60s"))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND NOT granted").fetchone() != (2,):
            assert time.monotonic() < deadline, "the two runs never waited on the lock"
            time.sleep(0.02)
        holder.execute("SELECT pg_advisory_unlock(hashtext('pliers.run_maintenance'))")
        for thread in threads:
            thread.join(timeout=60)
    assert len(reports) == 2, "a run failed"
    created = [a.target for report in reports for a in report if a.action == "created"]
    assert len(created) == len(set(created)) == 2 * 4 + 1, created
    assert "pliers.events_p2003_05" in created
    first, second = sorted(reports, key=len, reverse=True)
    assert {a.action for a in first} == {"created"}
    assert sorted((a.action, a.target) for a in second) == [
        ("unchanged", "pliers.audit_logs"), ("unchanged", "pliers.events")]
    with psycopg.connect(tenants) as conn:
        left = conn.execute("SELECT (SELECT count(*) FROM pliers.events_default) "
                            "+ (SELECT count(*) FROM pliers.audit_logs_default)").fetchone()
        assert left == (0,), "rows left in the DEFAULT partitions"


def test_cli_maintain_prints_the_report(tenants: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["maintain", "--dsn", tenants, "--months-ahead", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("created ") == 4 and "pliers.audit_logs_p" in out
    assert cli.main(["maintain", "--dsn", tenants, "--months-ahead", "1"]) == 0
    out = capsys.readouterr().out
    assert "unchanged  pliers.events" in out and "unchanged  pliers.audit_logs" in out
    assert cli.main(["maintain", "--dsn", tenants, "--events-retention", "1 day"]) == 1
    assert "at least 1 month" in capsys.readouterr().err


def test_maintain_as_the_application_is_refused(cluster: clusterlib.Cluster, tenants: str,
                                                 app_role: tuple[str, str]) -> None:
    with pytest.raises(maintenance.MaintenanceError, match="permission denied"):
        maintenance.run(as_role(cluster, tenants, app_role))


# Plans ----------------------------------------------------------------------------------------


def relations(conn: psycopg.Connection[Any], query: str, params: Any = None) -> set[str]:
    plan = one(conn, "EXPLAIN (FORMAT JSON) " + query, params)
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def indexes(conn: psycopg.Connection[Any], query: str, params: Any = None) -> set[str]:
    plan = one(conn, "EXPLAIN (FORMAT JSON) " + query, params)
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def test_time_range_queries_read_only_their_partitions(db: psycopg.Connection[Any]) -> None:
    for parent in ("pliers.events", "pliers.audit_logs"):
        db.execute("SELECT * FROM pliers.create_partitions(%s, '2004-01-01', '2004-03-31')",
                   (parent,))
    org = uuid.uuid4()
    assert relations(db, "SELECT * FROM pliers.events WHERE organization_id = %s "
                     "AND event_timestamp >= '2004-02-01+00' AND event_timestamp < '2004-03-01+00'",
                     (org,)) == {"events_p2004_02"}
    assert relations(db, "SELECT * FROM pliers.audit_logs WHERE organization_id = %s "
                     "AND created_at >= '2004-01-15+00' AND created_at < '2004-02-15+00'",
                     (org,)) == {"audit_logs_p2004_01", "audit_logs_p2004_02"}
    # Without a time condition every partition is read (the feed's case: index scans).
    assert {"events_p2004_01", "events_p2004_02", "events_p2004_03", "events_default"} <= relations(
        db, "SELECT * FROM pliers.events WHERE organization_id = %s", (org,))


def test_feed_query_uses_the_feed_index(db: psycopg.Connection[Any]) -> None:
    db.execute("SELECT * FROM pliers.create_partitions('pliers.events', '2004-01-01', "
               "'2004-01-31')")
    db.execute("SET LOCAL enable_seqscan = off")
    used = indexes(db, "SELECT * FROM pliers.events AS e WHERE e.organization_id = %s "
                   "AND (e.transaction_id, e.position) > ('5'::xid8, 3) "
                   "AND e.transaction_id < '900'::xid8 "
                   "ORDER BY e.transaction_id, e.position LIMIT 100", (uuid.uuid4(),))
    assert used and all(name.endswith("transaction_id_position_idx") for name in used), used
