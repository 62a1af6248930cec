"""The change feed (pliers.read_feed, sql/74-feed.sql, docs/history.md) against
committed transactions, read as the application:

- read while writers commit in random order, some late, some rolled back: the
  consumer sees every committed event once, never another tenant's, and its cursor
  only moves forward;
- a writer still running holds the feed back at its place, and its events come first
  once it commits;
- the feed needs a tenant context.

Also on Citus (tests/conftest.py, ``CITUS_MODULES``): there the events' transaction
ids are those of the worker that holds the tenant's shard, so the horizon must be
that worker's snapshot, not the coordinator's."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest

from pliersdb import errors

FEED = ("SELECT id, transaction_id::text, position, organization_id "
        "FROM pliers.read_feed(%s::xid8, %s, %s)")


@pytest.fixture(scope="module")
def world(cluster: clusterlib.Cluster, template: str) -> Iterator[appworld.World]:
    """One tenant per test (a feed is a tenant's), and one whose events must never show."""
    with appworld.world(cluster, template, "feed", {
            slug: {"users": {"admin": ["org_admin"]}}
            for slug in ("feed-race", "feed-other", "feed-held", "feed-none")}) as built:
        yield built


def tenant(world: appworld.World, slug: str) -> tuple[UUID, UUID]:
    org = world.orgs[slug]
    return org.id, org.users["admin"]


def append(conn: psycopg.Connection[Any], org: UUID, user: UUID,
           count: int = 1) -> tuple[list[UUID], int]:
    """``count`` events appended in a new transaction of ``conn``, left open, as the API
    appends them (the superuser may call the private function); their ids and the
    transaction id their rows hold (on Citus, the worker's)."""
    conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
    ids = [row[0] for row in conn.execute(
        "SELECT pliers._append_event('form', gen_random_uuid(), 1, 'form.updated', '{}'::jsonb) "
        "FROM generate_series(1, %s)", (count,))]
    xid = conn.execute("SELECT DISTINCT transaction_id::text FROM pliers.events "
                       "WHERE organization_id = %s AND id = ANY(%s)", (org, ids)).fetchall()
    assert len(xid) == 1 and len(ids) == count
    return ids, int(xid[0][0])


def read(conn: psycopg.Connection[Any], org: UUID, user: UUID,
         cursor: tuple[str, int] = ("0", 0), limit: int = 100) -> list[tuple[Any, ...]]:
    """One page of the feed, in a transaction of its own (as a consumer reads it)."""
    conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
    rows = conn.execute(FEED, (*cursor, limit)).fetchall()
    conn.commit()
    return rows


def test_feed_read_during_concurrent_writes_misses_and_repeats_nothing(
        world: appworld.World) -> None:
    writers, per_writer = 8, 12
    org, user = tenant(world, "feed-race")
    other = tenant(world, "feed-other")
    committed: set[UUID] = set()
    other_tenant: set[UUID] = set()
    commit_order: list[int] = []
    lock = threading.Lock()
    done = threading.Event()
    rng = random.Random(7)  # noqa: S311 - timings, not secrets
    plans = [[(rng.random() < 0.15, rng.uniform(0, 0.03), rng.uniform(0, 0.05), rng.randint(1, 3))
              for _ in range(per_writer)] for _ in range(writers)]

    def writer(index: int) -> None:
        on = other if index == 0 else (org, user)
        with psycopg.connect(world.admin_dsn) as conn:
            for rollback, before, after, count in plans[index]:
                time.sleep(before)
                ids, xid = append(conn, *on, count)
                # The transaction has its id (taken at the first append) while it sleeps:
                # others with later ids commit first. A late commit must not be skipped.
                time.sleep(after)
                if rollback:
                    conn.rollback()
                    continue
                conn.commit()
                with lock:
                    (other_tenant if on == other else committed).update(ids)
                    commit_order.append(xid)

    seen: list[UUID] = []
    cursors: list[tuple[int, int]] = []

    def consumer() -> None:
        cursor = ("0", 0)
        deadline = time.monotonic() + 90
        with psycopg.connect(world.app_dsn) as conn:
            while time.monotonic() < deadline:
                rows = read(conn, org, user, cursor, 7)
                for event_id, tx, position, organization_id in rows:
                    assert organization_id == org, "an event of another tenant in the feed"
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

    with ThreadPoolExecutor(max_workers=writers + 1) as pool:
        reading = pool.submit(consumer)
        writing = [pool.submit(writer, i) for i in range(writers)]
        for future in writing:
            future.result(timeout=120)
        done.set()
        reading.result(timeout=120)

    assert len(seen) == len(set(seen)), "an event was returned twice"
    assert set(seen) == committed, (
        f"missed {len(committed - set(seen))}, extra {len(set(seen) - committed)} "
        "(rolled-back or other tenant's events)")
    assert not set(seen) & other_tenant
    assert cursors == sorted(cursors)
    assert len(committed) > 50, "the test wrote too little to mean anything"
    late = sum(1 for i, xid in enumerate(commit_order) if any(xid < x for x in commit_order[:i]))
    assert late > 0, "no transaction committed after a younger one: the test raced too little"


def test_a_running_writer_holds_the_feed_back_at_its_place(world: appworld.World) -> None:
    org, user = tenant(world, "feed-held")
    with psycopg.connect(world.admin_dsn) as early, psycopg.connect(world.admin_dsn) as late, \
            psycopg.connect(world.app_dsn) as reader:
        [first], first_xid = append(early, org, user)  # takes its transaction id, stays open
        [second], second_xid = append(late, org, user)
        late.commit()
        assert first_xid < second_xid
        # The committed event comes after the running one: returning it now would move
        # a consumer's cursor past the place where the first will appear.
        assert read(reader, org, user) == []
        early.commit()
        assert [r[0] for r in read(reader, org, user)] == [first, second]
        after_first = read(reader, org, user, limit=1)[0]
        assert [r[0] for r in read(reader, org, user, (after_first[1], after_first[2]))] == [second]


def test_feed_needs_a_context_and_is_the_apps(world: appworld.World) -> None:
    org, user = tenant(world, "feed-none")
    with psycopg.connect(world.app_dsn) as conn:
        with pytest.raises(psycopg.Error) as no_context:
            conn.execute("SELECT * FROM pliers.read_feed()")
        assert isinstance(errors.from_psycopg(no_context.value), errors.NoTenantContext)
        conn.rollback()
        assert read(conn, org, user) == []  # a tenant without events: an empty page
        for private in ("SELECT pliers._append_event('form', gen_random_uuid(), 1, 'form.x', '{}')",
                        "SELECT * FROM pliers.run_maintenance()",
                        "SELECT * FROM pliers.purge_deleted()",
                        "SELECT pliers.erase_user(gen_random_uuid(), gen_random_uuid())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(private)
            conn.rollback()
