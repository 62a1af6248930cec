"""Concurrent submissions through pliers.create_submission, as the application connects:
a LOGIN role in pliers_app, one connection per thread, one transaction per submission.

- 8 writers x 500 submissions into one form of one organization: every transaction
  commits (no deadlock, no serialization error), numbers are unique and, with no
  rollback, exactly S-000001..S-004000; none is lost; the counters add up; the forms
  row is never written (DESIGN decision 6).
- The same across many organizations, whose number sequences are created by their
  first, concurrent, submissions: each organization numbers 1..n without a gap.
- Idempotency under concurrency: writers racing with the same external ids get one
  submission per external id, and all of them the same one."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pgcluster as clusterlib
import psycopg
from psycopg.types.json import Jsonb

WRITERS = 8
PER_WRITER = 500
DEFINITION = {
    "title": "Load",
    "fields": [
        {"id": "f1", "type": "text", "name": "name", "label": "Name", "required": True},
        {"id": "f2", "type": "integer", "name": "n", "label": "N"},
    ],
}


def _app_dsn(cluster: clusterlib.Cluster, admin_dsn: str, role: tuple[str, str]) -> str:
    dbname = psycopg.conninfo.conninfo_to_dict(admin_dsn)["dbname"]
    return cluster.dsn(str(dbname), user=role[0], password=role[1])


def _seed(admin_dsn: str, app_dsn: str, organizations: int) -> list[tuple[UUID, UUID, UUID]]:
    """Organizations with an owner each (as superuser), then a published form each (as the app).
    Returns (organization, user, form version) per organization."""
    made = []
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for i in range(organizations):
            org = conn.execute(
                "INSERT INTO pliers.organizations (slug, name) VALUES (%s, %s) RETURNING id",
                (f"load-{i}-{uuid.uuid4().hex[:8]}", f"Load {i}")).fetchone()
            assert org is not None
            user = conn.execute(
                "INSERT INTO pliers.users (organization_id, email, roles) "
                "VALUES (%s, %s, '{org_owner}') RETURNING id",
                (org[0], f"owner{i}@load.example")).fetchone()
            assert user is not None
            made.append((org[0], user[0]))
    result = []
    with psycopg.connect(app_dsn) as conn:
        for org, user in made:
            with conn.transaction():
                conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
                form = conn.execute("SELECT id FROM pliers.create_form('Load', 'load', %s)",
                                    (Jsonb(DEFINITION),)).fetchone()
                assert form is not None
                conn.execute("SELECT pliers.publish_form(%s, '1.0.0')", (form[0],))
            result.append((org, user, form[0]))
    return result


def _run_writers(app_dsn: str, work: Callable[[psycopg.Connection[Any], int], list[Any]],
                 writers: int = WRITERS) -> list[Any]:
    """Runs work(connection, writer index) in `writers` threads started together; returns
    the concatenated results, re-raising the first error of any thread."""
    results: list[list[Any]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def run(index: int) -> None:
        try:
            with psycopg.connect(app_dsn) as conn:
                barrier.wait()
                results[index] = work(conn, index)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [item for chunk in results for item in chunk]


def _create(conn: psycopg.Connection[Any], org: UUID, user: UUID, form: UUID, n: int,
            external_id: str | None = None) -> tuple[str, UUID, str]:
    with conn.transaction():
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        row = conn.execute(
            "SELECT submission_number, id FROM pliers.create_submission(%s, %s, TRUE, %s)",
            (form, Jsonb({"name": f"writer {n}", "n": n}), external_id)).fetchone()
    assert row is not None
    return str(org), row[1], row[0]


def test_eight_writers_one_form(cluster: clusterlib.Cluster, fresh_db: str,
                                app_role: tuple[str, str]) -> None:
    app_dsn = _app_dsn(cluster, fresh_db, app_role)
    [(org, user, form)] = _seed(fresh_db, app_dsn, 1)

    def work(conn: psycopg.Connection[Any], index: int) -> list[Any]:
        return [_create(conn, org, user, form, index * PER_WRITER + i) for i in range(PER_WRITER)]

    started = time.monotonic()
    created = _run_writers(app_dsn, work)
    elapsed = time.monotonic() - started
    total = WRITERS * PER_WRITER
    numbers = sorted(number for _, _, number in created)
    assert len(created) == total
    expected = [f"S-{i:06d}" for i in range(1, total + 1)]
    assert numbers == expected, "duplicate, lost or skipped numbers"
    assert len({sid for _, sid, _ in created}) == total

    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(
            """
            SELECT
                (SELECT count(*) FROM pliers.submissions WHERE form_id = %(form)s),
                (SELECT count(DISTINCT submission_number) FROM pliers.submissions
                 WHERE organization_id = %(org)s),
                (SELECT sum(submission_count) FROM pliers.form_counters WHERE form_id = %(form)s),
                (SELECT count(*) FROM pliers.form_counters WHERE form_id = %(form)s),
                (SELECT sum(value) FROM pliers.usage_counters
                 WHERE organization_id = %(org)s AND metric = 'submissions'),
                (SELECT count(*) FROM pliers.events
                 WHERE organization_id = %(org)s AND event_type = 'submission.created'),
                (SELECT revision FROM pliers.forms WHERE id = %(form)s)
            """, {"form": form, "org": org}).fetchone()
    assert row is not None
    rows, distinct_numbers, counted, slots, usage, events, form_revision = row
    assert (rows, distinct_numbers, counted, usage, events) == (total, total, total, total, total)
    assert slots > 1, "all writers used one counter row"
    assert form_revision == 2, "a submission wrote the forms row (hot row)"
    assert elapsed < 60, f"{total} submissions took {elapsed:.1f}s"


def test_many_organizations(cluster: clusterlib.Cluster, fresh_db: str,
                            app_role: tuple[str, str]) -> None:
    app_dsn = _app_dsn(cluster, fresh_db, app_role)
    tenants = _seed(fresh_db, app_dsn, 16)
    per_writer = 150

    def work(conn: psycopg.Connection[Any], index: int) -> list[Any]:
        # Every writer starts with a different organization, then goes round all of them:
        # the first submissions of the organizations race to create their sequences.
        out = []
        for i in range(per_writer):
            org, user, form = tenants[(index + i) % len(tenants)]
            out.append(_create(conn, org, user, form, i))
        return out

    created = _run_writers(app_dsn, work)
    by_org: dict[str, list[str]] = {}
    for org, _, number in created:
        by_org.setdefault(org, []).append(number)
    assert sum(len(v) for v in by_org.values()) == WRITERS * per_writer
    for org, numbers in by_org.items():
        assert sorted(numbers) == [f"S-{i:06d}" for i in range(1, len(numbers) + 1)], org
    with psycopg.connect(fresh_db) as conn:
        sequences = conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_class WHERE relkind = 'S' "
            "AND relname LIKE 'submission\\_number\\_%%'").fetchone()
    assert sequences == (len(tenants),)


def test_idempotent_external_ids_under_concurrency(cluster: clusterlib.Cluster, fresh_db: str,
                                                   app_role: tuple[str, str]) -> None:
    app_dsn = _app_dsn(cluster, fresh_db, app_role)
    [(org, user, form)] = _seed(fresh_db, app_dsn, 1)
    keys = [f"import-{i}" for i in range(50)]

    def work(conn: psycopg.Connection[Any], index: int) -> list[Any]:
        order = keys[index:] + keys[:index]  # the writers collide on different keys at once
        return [(key, _create(conn, org, user, form, index, key)[1]) for key in order]

    results = _run_writers(app_dsn, work)
    ids: dict[str, set[UUID]] = {}
    for key, sid in results:
        ids.setdefault(key, set()).add(sid)
    assert all(len(found) == 1 for found in ids.values()), "a retry got another submission"
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT external_id) FROM pliers.submissions "
            "WHERE organization_id = %s",
            (org,)).fetchone()
    assert row == (len(keys), len(keys))
