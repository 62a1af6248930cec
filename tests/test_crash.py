"""Crash safety: a submission the library acknowledged survives a kill -9 of the server.

The test runs a durable cluster of its own (fsync, synchronous_commit and
full_page_writes on; the session cluster runs without fsync, and is not to be killed),
from the suite's binaries: the system's PostgreSQL, or the embedded 18 with
``PLIERSDB_TEST_PG=18``, also when the rest of the suite uses an external server
(``PLIERSDB_TEST_DSN``), which it never kills.

Writers in threads, through ``pliersdb.connect`` as a LOGIN role in pliers_app, create
submitted submissions in two organizations, one transaction each. A submission is
acknowledged when its ``with db.tenant(...)`` block has exited without error. Mid-load
the postmaster gets SIGKILL; a call in flight may fail with a connection error (not
counted) or still commit (its backend ends the transaction before it notices the
postmaster gone: counted, it was acknowledged). After the restart (crash recovery):
every acknowledged submission is there with its number and answers, no number is twice
in an organization (numbers are per organization, so per form too), the form counters
add up, and new submissions are accepted, numbered after every number stored.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pgcluster as clusterlib
import psycopg
import pytest
from appworld import app_login, seed_org, superuser

import pliersdb
from pliersdb.migrate import Migrator

WRITERS = 8  # split between the two organizations
KILL_AFTER = 300  # acknowledged submissions before the kill
MIN_ACKNOWLEDGED = 20  # per organization, before the kill: the test cannot pass vacuously
LOAD_SECONDS = 20  # the kill comes after this at the latest
AFTER_RESTART = 10  # new submissions per organization
DATABASE = "pliers_crash"
DEFINITION = {"fields": [
    {"type": "text", "name": "name", "required": True},
    {"type": "integer", "name": "n"},
]}


@dataclass(frozen=True)
class Target:
    org: UUID
    user: UUID
    form: UUID


@dataclass(frozen=True)
class Acknowledged:
    target: Target
    id: UUID
    number: str
    data: dict[str, Any]


@dataclass
class Load:
    """What the writers saw. ``failed``: connection errors of calls in flight at the kill."""

    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: list[Acknowledged] = field(default_factory=list)
    failed: list[psycopg.OperationalError] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)  # fails the test
    in_flight: int = 0
    in_flight_at_kill: int = 0
    acknowledged_at_kill: list[Acknowledged] = field(default_factory=list)


def _bin_dir() -> Path:
    """The suite's binaries (`make test` installs PostgreSQL 15's). The test kills a server
    of its own, never PLIERSDB_TEST_DSN's: without binaries here it fails, it is not
    skipped (a skipped crash test would pass for a suite that proved nothing)."""
    try:
        found = clusterlib.environment_bin_dir()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail("the crash test needs PostgreSQL binaries for a cluster of its own "
                    f"(PLIERSDB_PG_BIN, pg_config, or PLIERSDB_TEST_PG=18): {exc}")
    if not (found / "initdb").is_file():
        pytest.fail(f"the crash test needs initdb for a cluster of its own; {found} has none")
    return found


@pytest.fixture
def durable() -> Iterator[clusterlib.Cluster]:
    """A cluster of this test's own, crash-safe, migrated (database DATABASE)."""
    server = clusterlib.start(_bin_dir(), durable=True)
    try:
        with superuser(server) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        Migrator(server.dsn(DATABASE)).migrate()
        yield server
    finally:
        server.stop()


def _number(number: str) -> int:
    match = re.fullmatch(r"S-([0-9]{6,})", number)
    assert match is not None, f"not a submission number: {number!r}"
    return int(match.group(1))


def _write(db: pliersdb.Database, load: Load, target: Target, writer: int) -> None:
    """Create submitted submissions until the kill; record those acknowledged."""
    n = 0
    while not load.killed.is_set():
        n += 1
        data = {"name": f"writer {writer} #{n}", "n": writer * 1_000_000 + n}
        with load.lock:
            load.in_flight += 1
        try:
            with db.tenant(target.org, target.user) as t:
                made = t.submissions.create(target.form, data, submit=True)
            # The block exited: committed, acknowledged. The answers are kept as sent.
            load.acknowledged.append(Acknowledged(target, made.id, made.submission_number,
                                                  data))
        except psycopg.OperationalError as error:  # the server went away (or never did)
            (load.failed if load.killed.is_set() else load.unexpected).append(error)
            return
        except BaseException as error:  # a bug: reported by the main thread
            load.unexpected.append(error)
            return
        finally:
            with load.lock:
                load.in_flight -= 1


def _load_then_kill(server: clusterlib.Cluster, app_dsn: str, targets: list[Target]) -> Load:
    """WRITERS threads write; after KILL_AFTER acknowledged, SIGKILL the postmaster."""
    load = Load()
    db = pliersdb.connect(app_dsn, min_size=WRITERS, max_size=WRITERS, timeout=10)
    try:
        threads = [threading.Thread(target=_write, daemon=True,
                                    args=(db, load, targets[i % len(targets)], i))
                   for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + LOAD_SECONDS
        while (len(load.acknowledged) < KILL_AFTER and not load.unexpected
               and time.monotonic() < deadline):
            time.sleep(0.005)
        with load.lock:
            load.killed.set()
            load.in_flight_at_kill = load.in_flight
            load.acknowledged_at_kill = list(load.acknowledged)
        server.kill()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads), "a writer hangs after the kill"
    finally:
        db.close()
    return load


def test_acknowledged_submissions_survive_kill_9(durable: clusterlib.Cluster) -> None:
    server = durable
    with superuser(server) as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_catalog.pg_settings "
            "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')").fetchall())
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    admin_dsn = server.dsn(DATABASE)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        orgs = [seed_org(conn, f"crash-{i}", {"owner": ["org_admin"]}) for i in range(2)]

    with app_login(server) as (role, password):
        app_dsn = server.dsn(DATABASE, user=role, password=password)
        targets = []
        with pliersdb.connect(app_dsn, min_size=1, max_size=1) as db:
            for org in orgs:
                with db.tenant(org.id, org.users["owner"]) as t:
                    flags = t.execute("SELECT rolsuper, rolbypassrls FROM pg_catalog.pg_roles "
                                      "WHERE rolname = current_user").fetchone()
                    assert flags == (False, False), "the application must run under RLS"
                    form = t.forms.create("Crash", "crash", DEFINITION)
                    form = t.forms.publish(form.id, "1.0.0")
                targets.append(Target(org.id, org.users["owner"], form.id))

        started = time.monotonic()
        pid_before = server.postmaster_pid()
        load = _load_then_kill(server, app_dsn, targets)
        assert not load.unexpected, f"errors before the kill: {load.unexpected!r}"
        before = Counter(a.target for a in load.acknowledged_at_kill)
        assert all(before[t] > MIN_ACKNOWLEDGED for t in targets), \
            f"too few acknowledged before the kill: {dict(before)}"
        assert load.in_flight_at_kill > 0, "the kill did not come mid-load"
        killed_at = time.monotonic()
        server.restart()
        restarted_in = time.monotonic() - killed_at
        assert server.postmaster_pid() != pid_before
        assert server.root is not None
        log = (server.root / "log").read_text()
        assert "automatic recovery in progress" in log, "the restart did not recover a crash"

        with psycopg.connect(admin_dsn) as conn:  # superuser: every row, RLS aside
            rows = {row[0]: row[1:] for row in conn.execute(
                "SELECT id, organization_id, form_id, submission_number, status, data "
                "FROM pliers.submissions").fetchall()}
            counters: dict[UUID, int] = dict(conn.execute(
                "SELECT form_id, sum(submission_count)::int FROM pliers.form_counters "
                "GROUP BY form_id").fetchall())
        acknowledged = load.acknowledged
        assert len({a.id for a in acknowledged}) == len(acknowledged)
        lost = [a for a in acknowledged if a.id not in rows]
        assert not lost, f"{len(lost)} acknowledged submissions lost, e.g. {lost[:3]}"
        changed = [a for a in acknowledged
                   if rows[a.id] != (a.target.org, a.target.form, a.number, "submitted", a.data)]
        assert not changed, f"{len(changed)} acknowledged submissions differ: {changed[:3]}"
        per_org = Counter((org, number) for org, _, number, _, _ in rows.values())
        assert [key for key, count in per_org.items() if count > 1] == []
        for target in targets:
            stored = sum(1 for row in rows.values() if row[1] == target.form)
            assert counters[target.form] == stored, "form counters out of step after recovery"

        stored_max = {t.org: max(_number(n) for org, n in per_org if org == t.org)
                      for t in targets}
        after: list[Acknowledged] = []
        with pliersdb.connect(app_dsn, min_size=1, max_size=2) as db:
            for target in targets:
                for n in range(AFTER_RESTART):
                    data = {"name": f"after restart #{n}", "n": n}
                    with db.tenant(target.org, target.user) as t:
                        made = t.submissions.create(target.form, data, submit=True)
                    after.append(Acknowledged(target, made.id, made.submission_number, data))
            for a in after:
                with db.tenant(a.target.org, a.target.user) as t:
                    got = t.submissions.get(a.id)
                assert (got.submission_number, got.data) == (a.number, a.data)
        assert len({(a.target.org, a.number) for a in after}) == len(after)
        reused = [a for a in after if (a.target.org, a.number) in per_org]
        assert not reused, f"numbers given again after the restart: {reused}"
        assert all(_number(a.number) > stored_max[a.target.org] for a in after)
        # Figures, shown with -s or on a failure.
        print(f"\ncrash test: {len(load.acknowledged_at_kill)} acknowledged before the kill, "
              f"{len(acknowledged) - len(load.acknowledged_at_kill)} more while it came, "
              f"{len(load.failed)} failed in flight; {len(rows)} rows after recovery; "
              f"restart {restarted_in:.2f} s, load to checks {time.monotonic() - started:.2f} s")
        with superuser(server) as conn:  # the role is dropped next: its database first
            conn.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")
