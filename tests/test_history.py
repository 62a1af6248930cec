"""History under concurrency, against committed transactions (docs/history.md; the
change feed is tests/test_feed.py).

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

import pgcluster as clusterlib
import psycopg
import pytest

from pliersdb import cli, errors, maintenance

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
