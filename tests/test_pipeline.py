"""One round trip per unit of work: ``db.tenant(...).call(...)`` and
``db.with_api_key(...).call(...)`` send BEGIN, the context, the call, COMMIT and the
pool's leak check in one pipeline sync; a ``with`` block opens its transaction in one
round trip and commits in one more.

Round trips are counted in libpq's protocol trace of the pool's one connection: each
Sync (extended protocol) or Query (simple protocol) message sent is one reply the client
waits for. The library connects as a LOGIN role in pliers_app, under RLS."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg import pq

import pliersdb
from pliersdb import Database, errors
from pliersdb.db import UnitOfWork

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = {"fields": [
    {"type": "text", "name": "name", "required": True, "validation": {"maxLength": 80}},
    {"type": "date", "name": "day"},
]}
CONTEXT = ("SELECT pliers.current_organization_id(), "
           "pg_catalog.current_setting('pliers.context', true), pg_catalog.pg_backend_pid()")
# A slow API function, made by the superuser for these tests only.
SLEEP = """
CREATE FUNCTION pliers.test_sleep(p_seconds double precision)
RETURNS TABLE (statement_timeout text) LANGUAGE sql
AS 'SELECT pg_catalog.current_setting(''statement_timeout'') FROM pg_catalog.pg_sleep(p_seconds)'
"""


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "pipeline", {
        "acme": {"users": {"alice": ["org_admin"], "mo": ["member"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        with psycopg.connect(built.admin_dsn) as conn:
            conn.execute(SLEEP)
            conn.execute("GRANT EXECUTE ON FUNCTION pliers.test_sleep(double precision) "
                         "TO pliers_app")
        yield built


@pytest.fixture
def db(seeded: World) -> Iterator[Database]:
    """A pool of exactly one connection: every unit of work uses the same one."""
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, timeout=10) as database:
        yield database


def ids(seeded: World, org: str = "acme", user: str = "alice") -> tuple[uuid.UUID, uuid.UUID]:
    return seeded.orgs[org].id, seeded.orgs[org].users[user]


def published_form(db: Database, seeded: World) -> uuid.UUID:
    with db.tenant(*ids(seeded)) as t:
        form = t.forms.create("Visits", f"visits-{uuid.uuid4().hex[:8]}", DEFINITION)
        return t.forms.publish(form.id, "1.0.0").id


def api_key(db: Database, seeded: World) -> str:
    key: str = db.tenant(*ids(seeded)).call_one("create_api_key", name="pipeline")["key"]
    return key


def submissions_written(seeded: World) -> tuple[int, int]:
    """(submissions, events), as the superuser."""
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM pliers.submissions), "
                           "(SELECT count(*) FROM pliers.events)").fetchone()
    assert row is not None
    return row[0], row[1]


def requests(db: Database, action: Callable[[], object]) -> list[str]:
    """The Sync and Query messages the pool's one connection sends while ``action`` runs,
    its return to the pool (the reset) included, after the COMMIT of the block that turns
    the trace on (one round trip: a reset there could send one or two)."""
    with tempfile.TemporaryFile("w+") as trace:
        with db.transaction() as t:
            t.connection.pgconn.trace(trace.fileno())
            t.connection.pgconn.set_trace_flags(
                pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            action()
        finally:
            with db.pool.connection() as conn:  # waits until the pool has reset it
                conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    # Only what was sent: a reply is traced when libpq reads it, which may be later.
    return [line for line in lines if re.match(r"F\t\d+\t(Sync|Query)\b", line)]


def round_trips(db: Database, action: Callable[[], object]) -> int:
    """Round trips of ``action``: those of the tracing itself measured and taken off."""
    return len(requests(db, action)) - len(requests(db, lambda: None))


def assert_idle_without_context(db: Database, pid: int | None = None) -> int:
    with db.pool.connection() as conn:
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        org, setting, again = conn.execute(CONTEXT).fetchone() or ()
        assert org is None and setting in ("", None), (org, setting)
        assert pid is None or again == pid, "the connection was replaced"
        return int(again)


# One round trip ------------------------------------------------------------------


def test_one_call_is_one_round_trip(db: Database, seeded: World) -> None:
    form_id = published_form(db, seeded)
    key = api_key(db, seeded)
    unit = db.tenant(*ids(seeded))
    # Six times: psycopg prepares a statement on its fifth execution, in the pipeline.
    for _ in range(6):
        assert round_trips(db, lambda: unit.call("create_submission", form_id,
                                                 {"name": "Ann"}, submit=True)) == 1
    assert round_trips(db, lambda: db.with_api_key(key).call(
        "list_submissions", form_id=form_id)) == 1
    assert round_trips(db, lambda: db.transaction().call("form_limits")) == 1

    def refused() -> None:  # before anything is borrowed or sent
        with pytest.raises(ValueError, match="opens the tenant context"):
            unit.call("set_context", *ids(seeded, "globex", "gina"))
        with pytest.raises(ValueError, match="invalid argument name"):
            unit.call("create_submission", **{"Form": form_id})

    assert round_trips(db, refused) == 0


def test_a_block_opens_in_one_round_trip_and_commits_in_one(seeded: World) -> None:
    """BEGIN with the context, then each statement of the block, then COMMIT with the leak
    check (the pool's reset then sends nothing). Without prepared statements: outside a
    pipeline, psycopg prepares one in a round trip of its own."""
    db = pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, prepare_threshold=None)
    with db:
        block_round_trips(db, seeded)


def block_round_trips(db: Database, seeded: World) -> None:
    form_id = published_form(db, seeded)

    def block(calls: int) -> None:
        with db.tenant(*ids(seeded)) as t:
            for _ in range(calls):
                t.call("list_submissions", form_id=form_id)

    assert round_trips(db, lambda: block(0)) == 2
    assert round_trips(db, lambda: block(1)) == 3
    assert round_trips(db, lambda: block(3)) == 5
    key = api_key(db, seeded)

    def keyed() -> None:
        with db.with_api_key(key) as t:
            assert t.organization_id == seeded.orgs["acme"].id  # read at the opening

    assert round_trips(db, keyed) == 2


# Same results, same guarantees ------------------------------------------------------


def test_a_call_gives_what_the_step_by_step_transaction_gives(db: Database,
                                                              seeded: World) -> None:
    form_id = published_form(db, seeded)
    org, alice = ids(seeded)
    unit = db.tenant(org, alice)
    made = unit.call_one("create_submission", form_id, {"name": "Ann", "day": "2024-06-01"},
                         submit=True, tags=["desk"])
    with db.tenant(org, alice) as t:
        again = t.call_one("create_submission", form_id,
                           {"name": "Ann", "day": "2024-06-01"}, submit=True, tags=["desk"])
        assert t.submissions.get(made["id"]).data == made["data"]  # committed
    differ = {"id", "submission_number", "created_at", "updated_at", "submitted_at"}
    assert {k: v for k, v in made.items() if k not in differ} == {
        k: v for k, v in again.items() if k not in differ}
    # A read: the same rows as BEGIN; set_context; call; COMMIT one statement at a time.
    listed = unit.call("list_submissions", form_id=form_id)
    with psycopg.connect(seeded.app_dsn, row_factory=psycopg.rows.dict_row) as conn:
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, alice))
        by_hand = conn.execute("SELECT * FROM pliers.list_submissions(p_form_id => %s)",
                               (form_id,)).fetchall()
        conn.commit()
    assert listed == by_hand and len(listed) == 2
    # Another tenant sees nothing of it.
    assert db.tenant(*ids(seeded, "globex", "gina")).call(
        "list_submissions", form_id=form_id) == []


def test_a_failed_call_writes_nothing_and_leaves_no_context(
        db: Database, seeded: World, caplog: pytest.LogCaptureFixture) -> None:
    form_id = published_form(db, seeded)
    pid = assert_idle_without_context(db)
    before = submissions_written(seeded)
    with pytest.raises(errors.ValidationError) as invalid:
        db.tenant(*ids(seeded)).call("create_submission", form_id,
                                     {"day": "2024-02-30"}, submit=True)
    assert {(e["path"], e["code"]) for e in invalid.value.errors} == {
        ("$.data.name", "required"), ("$.data.day", "invalid_date")}  # DETAIL parsed
    cause = invalid.value.__cause__
    assert isinstance(cause, psycopg.Error) and cause.diag.sqlstate == "PL001"
    # The context failing: the call never ran.
    with pytest.raises(errors.PermissionDenied):
        db.tenant(seeded.orgs["acme"].id, seeded.orgs["globex"].users["gina"]).call(
            "create_submission", form_id, {"name": "Eve"}, submit=True)
    with pytest.raises(errors.NoTenantContext):
        db.tenant(None, None).call("create_submission", form_id, {"name": "Eve"})
    with pytest.raises(errors.PermissionDenied):
        db.with_api_key("pk_live_unknown").call("create_submission", form_id, {"name": "Eve"})
    with pytest.raises(errors.NotFound):
        db.tenant(*ids(seeded)).call_one("list_submissions", form_id=uuid.uuid4())
    assert submissions_written(seeded) == before
    # One error each: psycopg logged no PipelineAborted of the statements skipped after it.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []
    assert_idle_without_context(db, pid)  # the same connection, usable, without context
    assert db.tenant(*ids(seeded)).call_one("current_user_id")["current_user_id"] == (
        seeded.orgs["acme"].users["alice"])


def test_the_statement_timeout_applies_to_a_call(seeded: World) -> None:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1,
                          statement_timeout=0.2) as db:
        tenant = db.tenant(*ids(seeded))
        assert tenant.call("test_sleep", 0) == [{"statement_timeout": "200ms"}]
        key = api_key(db, seeded)
        assert db.with_api_key(key).call_one("test_sleep", 0)["statement_timeout"] == "200ms"
        assert db.transaction().call_one("test_sleep", 0)["statement_timeout"] == "200ms"
        pid = assert_idle_without_context(db)
        with pytest.raises(psycopg.errors.QueryCanceled):
            tenant.call("test_sleep", 2)
        assert_idle_without_context(db, pid)
        assert tenant.call("test_sleep", seconds=0) == [{"statement_timeout": "200ms"}]


def test_an_api_key_call_runs_as_the_key(db: Database, seeded: World) -> None:
    form_id = published_form(db, seeded)
    key_id, key = (lambda row: (row["id"], row["key"]))(db.tenant(*ids(seeded)).call_one(
        "create_api_key", name="intake form", scopes=["submission.create", "submission.view"]))
    made = db.with_api_key(key, user_agent="pytest").call_one(
        "create_submission", form_id, {"name": "Key"}, submit=True)
    assert made["organization_id"] == seeded.orgs["acme"].id
    request = db.with_api_key(key).call_one("current_request")
    assert request["api_key_id"] == key_id
    with pytest.raises(errors.PermissionDenied):  # a scope the key lacks
        db.with_api_key(key).call("create_api_key", name="escalate")
    db.tenant(*ids(seeded)).call("revoke_api_key", key_id)
    with pytest.raises(errors.PermissionDenied):
        db.with_api_key(key).call("list_submissions", form_id=form_id)


def test_a_rollback_raised_in_a_block_is_swallowed_and_writes_nothing(
        db: Database, seeded: World) -> None:
    with db.tenant(*ids(seeded)) as t:
        key = t.call_one("create_api_key", name="rolled back")["key"]
        raise psycopg.Rollback()
    with pytest.raises(errors.PermissionDenied):
        db.with_api_key(key).call("current_request")
    assert_idle_without_context(db)


@pytest.mark.sync_only("asserts the class of the unit; tests/test_async.py has its twin")
def test_a_unit_of_work_opens_one_block_at_a_time(db: Database, seeded: World) -> None:
    unit = db.tenant(*ids(seeded))
    assert isinstance(unit, UnitOfWork)
    with unit as first:
        assert first.organization_id == seeded.orgs["acme"].id
        with pytest.raises(RuntimeError, match="already open"):
            unit.__enter__()
    with unit as second:  # each block is a transaction of its own
        assert second is not first
        assert second.call_one("current_organization_id")["current_organization_id"] == (
            seeded.orgs["acme"].id)


def test_the_readme_snippet_runs(db: Database, seeded: World) -> None:
    """The README's one-call snippet, with the names of the README's first snippet."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- one call -->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md: the snippet after <!-- one call --> is missing"
    form_id = published_form(db, seeded)
    with db.tenant(*ids(seeded)) as t:
        form = t.forms.get(form_id)
    org, user = ids(seeded)
    names: dict[str, Any] = {"db": db, "ORG": org, "USER": user, "form": form}
    exec(compile(match.group(1), "README.md", "exec"), names)  # noqa: S102
