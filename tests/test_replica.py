"""Read replicas: ``replica_dsn``, ``replica=True`` units, read-your-writes and the
fallback to the primary, against a real hot standby streaming from a throwaway primary
on loopback (``pgcluster.start_replica``: ``pg_basebackup -R``).

The library connects as a LOGIN role in pliers_app (row-level security applies); the
superuser only seeds, pauses replay and reads what the API may not show. Which server
answered is asked on the unit's own connection: ``pg_is_in_recovery()``."""

from __future__ import annotations

import io
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pgcluster as clusterlib
import psycopg
import pytest
from appworld import Org, app_login, seed_org
from psycopg import sql

import pliersdb
from pliersdb.db import Session
from pliersdb.forms import Form
from pliersdb.migrate import Migrator
from pliersdb.submissions import Submission

DBNAME = "pliers"
DEFINITION: dict[str, Any] = {"fields": [
    {"type": "text", "name": "name", "required": True},
    {"type": "file", "name": "photo", "validation": {"accept": ["image/*"]}},
]}
WAIT = 60.0  # replica_timeout where a unit must end up on the standby: replay, not timing


@dataclass
class Replicated:
    primary: clusterlib.Cluster
    standby: clusterlib.Cluster
    role: str
    password: str
    orgs: dict[str, Org]

    def app_dsn(self, server: clusterlib.Cluster) -> str:
        return server.dsn(DBNAME, user=self.role, password=self.password)

    def connect(self, standby: clusterlib.Cluster | None = None,
                **options: Any) -> pliersdb.Database:
        """The application's Database: the primary, and ``standby`` (default: ours)."""
        return pliersdb.connect(self.app_dsn(self.primary),
                                replica_dsn=self.app_dsn(standby or self.standby),
                                min_size=1, max_size=3, timeout=10, **options)

    def user(self, org: str) -> tuple[uuid.UUID, uuid.UUID]:
        return self.orgs[org].id, self.orgs[org].users["ann"]


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    """A migrated primary with two tenants, and a hot standby of it."""
    primary = clusterlib.start(clusterlib.environment_bin_dir())
    try:
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
        Migrator(primary.dsn(DBNAME)).migrate()
        with app_login(primary) as (role, password):
            with psycopg.connect(primary.dsn(DBNAME)) as conn:
                orgs = {slug: seed_org(conn, slug, {"ann": ["org_admin"]})
                        for slug in ("north", "south")}
            standby = clusterlib.start_replica(primary)
            try:
                yield Replicated(primary, standby, role, password, orgs)
            finally:
                standby.stop()
    finally:
        primary.stop()


def on_standby(t: Session) -> bool:
    """Whether the unit's connection is to a server in recovery (the standby)."""
    row = t.execute("SELECT pg_catalog.pg_is_in_recovery()").fetchone()
    assert row is not None
    return bool(row[0])


def read_only(t: Session) -> bool:
    row = t.execute("SELECT pg_catalog.current_setting('transaction_read_only')").fetchone()
    return row == ("on",)


def write(db: pliersdb.Database, org: tuple[uuid.UUID, uuid.UUID]) -> tuple[Form, Submission]:
    """A published form and a submitted submission with a file, on the primary."""
    with db.tenant(*org) as t:
        assert not on_standby(t)
        form = t.forms.create("Visits", f"visits-{uuid.uuid4().hex[:8]}", DEFINITION)
        form = t.forms.publish(form.id, "1.0.0")
        draft = t.submissions.create(form.id, {"name": "Ann"})
        t.submissions.attach(draft.id, "photo", filename="a.png", mime_type="image/png",
                             size_bytes=10, storage_key=f"k/{uuid.uuid4()}",
                             checksum="0" * 64)
        submitted = t.submissions.submit(draft.id)
    return form, submitted


def reads(t: Session, form: Form, submission: Submission, moment: datetime) -> dict[str, Any]:
    """Every read of the typed API (and the feed), as comparable values."""
    out = io.StringIO()
    rows = t.submissions.export(form.slug, out)
    return {
        "get": t.submissions.get(submission.id),
        "list": t.submissions.list(form_id=form.id).items,
        "iterate": list(t.submissions.iterate(form_id=form.id, page_size=1)),
        "attachments": t.submissions.attachments(submission.id),
        "export": (rows, out.getvalue()),
        "export_columns": t.submissions.export_columns(form.slug),
        "history": t.submissions.history(submission.id),
        "at": t.submissions.at(submission.id, moment),
        "submission_moves": t.submissions.status_moves(),
        "form": t.forms.get(form.id),
        "latest": t.forms.latest(form.slug),
        "versions": t.forms.versions(form.slug),
        "forms": t.forms.list(),
        "form_history": t.forms.history(form.id),
        "form_at": t.forms.at(form.id, moment),
        "validate": t.forms.validate({"fields": [{"type": "nope", "name": "x"}]}),
        "form_moves": t.forms.status_moves(),
        "feed": t.call("read_feed", "0", 0, 1000),
    }


def test_replica_units_read_on_the_standby_what_the_primary_reads(
        replicated: Replicated) -> None:
    org = replicated.user("north")
    with replicated.connect(read_your_writes=True, replica_timeout=WAIT) as db:
        form, submission = write(db, org)
        assert db.last_commit_lsn is not None
        moment = datetime.now(UTC)
        with db.tenant(*org) as t:
            expected = reads(t, form, submission, moment)
        with db.tenant(*org, replica=True) as t:
            assert on_standby(t) and read_only(t)
            assert reads(t, form, submission, moment) == expected
        assert expected["get"] == submission and len(expected["attachments"]) == 1
        assert expected["export"][0] == 1 and expected["validate"]
        assert submission.id in {row["aggregate_id"] for row in expected["feed"]}

        # An API key authenticates on the standby too (last_used_at is not written).
        key = db.tenant(*org).call_one("create_api_key", name="kiosk")["key"]
        with db.with_api_key(key, replica=True) as t:
            assert on_standby(t)
            assert t.organization_id == org[0]
            assert [s.id for s in t.submissions.list(form_id=form.id)] == [submission.id]
        with db.transaction(replica=True) as t:
            assert on_standby(t) and read_only(t)

        # Writes are refused: on the standby, and in a read-only transaction anyway.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), \
                db.tenant(*org, replica=True) as t:
            t.submissions.create(form.id, {"name": "Bo"})
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            db.tenant(*org, replica=True).call("create_submission", form.id, {"name": "Bo"})
        with db.tenant(*org) as t:  # nothing of them reached the primary
            assert [s.id for s in t.submissions.iterate(form_id=form.id)] == [submission.id]


def test_set_context_stores_nothing_in_a_read_only_transaction(
        replicated: Replicated) -> None:
    """A context past its permissions' valid_until is computed again; a read-write
    transaction stores it, a read-only one (the standby's, or a replica unit on the
    primary) does not, and the context still works."""
    org = replicated.user("south")
    expired = ("UPDATE pliers.user_permissions SET valid_until = now() - interval '1 day' "
               "WHERE organization_id = %s AND user_id = %s "
               "RETURNING pg_catalog.pg_current_wal_insert_lsn()::text")
    stale = ("SELECT valid_until < now() FROM pliers.user_permissions "
             "WHERE organization_id = %s AND user_id = %s")
    with psycopg.connect(replicated.primary.dsn(DBNAME), autocommit=True) as admin:
        row = admin.execute(expired, org).fetchone()
        assert row is not None
        token = row[0]  # from another process: the superuser's session

        with replicated.connect(replica_timeout=WAIT) as db:
            assert db.last_commit_lsn is None
            with db.tenant(*org, replica=True, after_lsn=token) as t:
                assert on_standby(t)
                assert t.execute("SELECT pliers.has_permission('form.create')").fetchone() \
                    == (True,)
                assert t.forms.list() == []

        with pliersdb.connect(replicated.app_dsn(replicated.primary)) as db:
            with db.tenant(*org, replica=True) as t:  # no replica: the primary, read-only
                assert not on_standby(t) and read_only(t)
                assert t.execute("SELECT pliers.has_permission('form.create')").fetchone() \
                    == (True,)
            assert admin.execute(stale, org).fetchone() == (True,)
            with db.tenant(*org) as t:
                assert not read_only(t)
            assert admin.execute(stale, org).fetchone() == (False,)  # stored, this time
            assert db.last_commit_lsn is None  # kept only with a replica


def test_row_level_security_isolates_tenants_on_the_standby(replicated: Replicated) -> None:
    north, south = replicated.user("north"), replicated.user("south")
    with replicated.connect(read_your_writes=True, replica_timeout=WAIT) as db:
        north_form, north_submission = write(db, north)
        south_form, south_submission = write(db, south)
        with db.tenant(*north, replica=True) as t:
            assert on_standby(t)
            seen = {s.id for s in t.submissions.iterate()}
            assert north_submission.id in seen and south_submission.id not in seen
            with pytest.raises(pliersdb.NotFound):
                t.submissions.get(south_submission.id)
            with pytest.raises(pliersdb.NotFound):
                t.forms.get(south_form.id)
            orgs = t.execute("SELECT DISTINCT organization_id FROM pliers.submissions")
            assert orgs.fetchall() == [(north[0],)]
        with db.tenant(*south, replica=True) as t:
            assert on_standby(t)
            assert north_form.id not in {f.id for f in t.forms.list()}
        with db.transaction(replica=True) as t:  # no context: no tenant row at all
            assert on_standby(t)
            assert t.execute("SELECT count(*) FROM pliers.submissions").fetchone() == (0,)


def test_read_your_writes(replicated: Replicated) -> None:
    """Replay paused: a replica unit does not see a commit of the primary; with
    read_your_writes it waits, then reads on the primary; with replay resumed, a unit
    given the commit's LSN waits until the standby has it and reads it there."""
    org = replicated.user("north")
    with replicated.connect(replica_timeout=WAIT) as plain, \
            replicated.connect(read_your_writes=True, replica_timeout=0.2) as ryw, \
            psycopg.connect(replicated.standby.dsn(DBNAME), autocommit=True) as standby:
        form, _ = write(ryw, org)
        with plain.tenant(*org, replica=True, after_lsn=ryw.last_commit_lsn) as t:
            assert on_standby(t)
            t.forms.get(form.id)
        standby.execute("SELECT pg_catalog.pg_wal_replay_pause()")
        try:
            with ryw.tenant(*org) as t:
                fresh = t.submissions.create(form.id, {"name": "Cy"}, submit=True)
            token = ryw.last_commit_lsn
            assert token is not None

            with plain.tenant(*org, replica=True) as t:  # stale: the standby lacks it
                assert on_standby(t)
                with pytest.raises(pliersdb.NotFound):
                    t.submissions.get(fresh.id)
            assert fresh.id not in {row["id"] for row in plain.tenant(*org, replica=True).call(
                "list_submissions", form_id=form.id)}

            with ryw.tenant(*org, replica=True) as t:  # replay behind: the primary
                assert not on_standby(t) and read_only(t)
                assert t.submissions.get(fresh.id) == fresh
            assert fresh.id in {row["id"] for row in ryw.tenant(*org, replica=True).call(
                "list_submissions", form_id=form.id)}
        finally:
            standby.execute("SELECT pg_catalog.pg_wal_replay_resume()")

        with plain.tenant(*org, replica=True, after_lsn=token) as t:
            assert on_standby(t)
            assert t.submissions.get(fresh.id) == fresh
        assert fresh.id in {row["id"] for row in plain.tenant(
            *org, replica=True, after_lsn=token).call("list_submissions", form_id=form.id)}


def lsn(text: str) -> int:
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


def test_last_commit_lsn_is_past_the_commit_record(replicated: Replicated) -> None:
    """The token a replica unit waits for covers the COMMIT of the write (found with
    pg_waldump): taken after it, at the insert position (the test clusters run with
    synchronous_commit off, where the write position can be short of it)."""
    primary, org = replicated.primary, replicated.user("north")
    with psycopg.connect(primary.dsn(DBNAME), autocommit=True) as admin, \
            replicated.connect() as db:
        row = admin.execute("SELECT pg_catalog.pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        with db.tenant(*org) as t:
            xid = t.execute("SELECT pg_catalog.pg_current_xact_id()::xid::text").fetchone()
            t.forms.create("Token", f"token-{uuid.uuid4().hex[:8]}", DEFINITION)
        token = db.last_commit_lsn
        assert token is not None and xid is not None
        admin.execute("CHECKPOINT")  # the WAL on disk for pg_waldump
        assert primary.root is not None
        dump = subprocess.run(
            [primary.tool("pg_waldump"), "-p", str(primary.root / "data" / "pg_wal"),
             "-r", "Transaction", "-s", row[0]],
            capture_output=True, text=True, user=primary.os_user, check=False).stdout
    commits = re.findall(rf"tx: +{xid[0]}, lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: COMMIT", dump)
    assert len(commits) == 1, dump
    assert lsn(commits[0]) < lsn(token)  # a record boundary past its start: past its end


def test_a_replica_that_goes_down_sends_replica_units_to_the_primary(
        replicated: Replicated) -> None:
    org = replicated.user("south")
    standby = clusterlib.start_replica(replicated.primary)
    try:
        with replicated.connect(standby, replica_timeout=0.5, replica_retry=600) as db:
            form, _ = write(db, org)
            with db.tenant(*org, replica=True) as t:
                assert on_standby(t)  # the replica pool holds a connection to it
            standby.stop()  # that connection is dead now
            assert db.replica_pool is not None
            started = time.monotonic()
            with db.tenant(*org, replica=True) as t:
                assert not on_standby(t) and read_only(t)
                assert t.forms.get(form.id).id == form.id
            # Then, for replica_retry seconds, replica units do not try the replica.
            requests = db.replica_pool.get_stats()["requests_num"]
            assert db.tenant(*org, replica=True).call_one("form_at", form.id, datetime.now(UTC))
            with db.tenant(*org, replica=True) as t:
                assert not on_standby(t)
            assert db.replica_pool.get_stats()["requests_num"] == requests
            assert time.monotonic() - started < 10  # no wait for a connection at all

        # Unreachable from the start: each replica unit waits replica_timeout for a
        # connection, then reads on the primary.
        with replicated.connect(standby, replica_timeout=0.5, replica_retry=0) as db:
            assert db.replica_pool is not None
            for _ in range(2):
                started = time.monotonic()
                with db.tenant(*org, replica=True) as t:
                    assert not on_standby(t) and read_only(t)
                assert time.monotonic() - started < 0.5 + 5  # bounded: not a hang
            assert db.replica_pool.get_stats()["requests_errors"] == 2
    finally:
        standby.stop()


def test_arguments(replicated: Replicated) -> None:
    org = replicated.user("north")
    with replicated.connect() as db:
        with pytest.raises(ValueError, match="after_lsn is for replica=True"):
            db.tenant(*org, after_lsn="0/1")
        with pytest.raises(ValueError, match="not an LSN"):
            db.tenant(*org, replica=True, after_lsn="latest")
    with pytest.raises(ValueError, match="replica_timeout"):
        replicated.connect(replica_timeout=0)
