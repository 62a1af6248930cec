"""The async API (pliersdb.connect_async, pliersdb.aio) under asyncio, directly: tenants
served concurrently on one pool, each seeing only its own rows; errors mapped; one round
trip per call; leaked context refused; an unreachable server reported quickly; each call
logged at DEBUG. (Its behaviour against the sync API's tests: PLIERSDB_TEST_API=async,
tests/conftest.py.) Each test runs its coroutine with asyncio.run."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg import pq

import pliersdb
from pliersdb import errors
from pliersdb.aio import AsyncDatabase, AsyncSession, AsyncUnitOfWork
from pliersdb.forms import Form
from pliersdb.submissions import Submission

T = TypeVar("T")
DEFINITION = {"fields": [{"type": "text", "name": "name", "required": True,
                          "validation": {"maxLength": 20}}]}


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "aio", {
        "acme": {"users": {"alice": ["org_admin"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        yield built


def run(seeded: World, body: Callable[[AsyncDatabase], Awaitable[T]], **options: Any) -> T:
    """``body(db)`` on an open AsyncDatabase of the application's login, under asyncio."""
    async def main() -> T:
        async with await pliersdb.connect_async(seeded.app_dsn, timeout=10,
                                                **options) as db:
            return await body(db)

    return asyncio.run(main())


def admin(db: AsyncDatabase, seeded: World, org: str) -> AsyncUnitOfWork:
    tenant = seeded.orgs[org]
    return db.tenant(tenant.id, next(iter(tenant.users.values())))


def test_concurrent_tenants_each_see_only_their_own_rows(seeded: World) -> None:
    """Twenty units of two tenants at once on a pool of three connections."""
    async def write_and_read(db: AsyncDatabase, org: str, n: int) -> tuple[str, list[Form]]:
        async with admin(db, seeded, org) as t:
            assert isinstance(t, AsyncSession)
            form = await t.forms.create(f"{org} {n}", f"{org}-{n}-{uuid.uuid4().hex[:6]}",
                                        DEFINITION)
            await asyncio.sleep(0)  # let the other tenants' units interleave
            return form.slug, await t.forms.list()

    async def body(db: AsyncDatabase) -> None:
        results = await asyncio.gather(*(write_and_read(db, org, n)
                                         for n in range(10) for org in ("acme", "globex")))
        for (created, seen), org in zip(results, ["acme", "globex"] * 10, strict=True):
            assert created in {f.slug for f in seen}
            assert {f.organization_id for f in seen} == {seeded.orgs[org].id}
        assert db.pool.get_stats()["pool_size"] <= 3

    run(seeded, body, min_size=1, max_size=3)


def test_the_api_groups_give_the_typed_results_of_the_sync_api(seeded: World) -> None:
    async def body(db: AsyncDatabase) -> None:
        async with admin(db, seeded, "acme") as t:
            form = await t.forms.create("Typed", f"typed-{uuid.uuid4().hex[:6]}", DEFINITION)
            form = await t.forms.publish(form.id, "1.0.0")
            made = await t.submissions.create(form.id, {"name": "Ann"}, submit=True)
            assert isinstance(made, Submission) and made.status == "submitted"
            page = await t.submissions.list(form_id=form.id, limit=1)
            assert [s.id for s in page] == [made.id] and page.next is not None
            assert [s.id async for s in t.submissions.iterate(form_id=form.id)] == [made.id]
            assert (await t.organization.get()).id == seeded.orgs["acme"].id
        async with await pliersdb.connect_async(seeded.admin_dsn) as platform:
            slugs = [o.slug async for o in platform.platform.iterate(page_size=1)]
        assert {"acme", "globex"} <= set(slugs)

    run(seeded, body)


def test_errors_are_mapped_with_their_cause(seeded: World) -> None:
    async def body(db: AsyncDatabase) -> None:
        async with admin(db, seeded, "acme") as t:
            with pytest.raises(errors.NotFound):
                await t.forms.get(uuid.uuid4())
        with pytest.raises(errors.ValidationError) as caught:
            async with admin(db, seeded, "acme") as t:
                await t.forms.create("", "Not A Slug", {"fields": []})
        assert {e["path"] for e in caught.value.errors} >= {"name", "slug"}
        assert isinstance(caught.value.__cause__, psycopg.Error)
        with pytest.raises(errors.NoTenantContext):
            await db.tenant(None, None).call("list_forms")
        with pytest.raises(errors.PermissionDenied):
            async with db.with_api_key("pk_live_unknown"):
                pass

    run(seeded, body)


def test_a_swallowed_error_fails_the_block_and_writes_nothing(seeded: World) -> None:
    slug = f"swallowed-{uuid.uuid4().hex[:6]}"

    async def body(db: AsyncDatabase) -> None:
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            async with admin(db, seeded, "acme") as t:
                await t.forms.create("Kept?", slug, DEFINITION)
                with pytest.raises(errors.NotFound):
                    await t.forms.latest(slug + "-missing")  # raised by the library: fine
                with pytest.raises(errors.ValidationError):
                    await t.forms.create("", "Bad Slug", DEFINITION)  # the server's: aborts
        with pytest.raises(errors.NotFound):
            await admin(db, seeded, "acme").call_one("list_forms", slug=slug)

    run(seeded, body)


async def round_trips(db: AsyncDatabase, action: Callable[[], Awaitable[object]]) -> int:
    """The Sync and Query messages the pool's one connection sends while ``action`` runs
    (its return to the pool included), less those of the tracing itself (as
    tests/test_pipeline.py counts them for the sync API)."""
    async def sent(action: Callable[[], Awaitable[object]]) -> int:
        with tempfile.TemporaryFile("w+") as trace:
            async with db.pool.connection() as conn:
                conn.pgconn.trace(trace.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                await action()
            finally:
                async with db.pool.connection() as conn:
                    conn.pgconn.untrace()
            trace.seek(0)
            lines = trace.read().splitlines()
        return len([line for line in lines if re.match(r"F\t\d+\t(Sync|Query)\b", line)])

    async def nothing() -> None:
        pass

    return await sent(action) - await sent(nothing)


def test_a_call_is_one_round_trip_and_a_block_two(seeded: World) -> None:
    async def body(db: AsyncDatabase) -> None:
        unit = admin(db, seeded, "acme")
        for _ in range(6):  # psycopg prepares a statement on its fifth execution
            assert await round_trips(db, lambda: unit.call("form_limits")) == 1

        async def block() -> None:
            async with admin(db, seeded, "acme") as t:
                assert t.organization_id == seeded.orgs["acme"].id

        assert await round_trips(db, block) == 2

    run(seeded, body, min_size=1, max_size=1, prepare_threshold=None)


def test_a_connection_holding_a_context_setting_is_refused(seeded: World) -> None:
    """A session-level pliers.context on a connection back in the pool: the reset refuses
    it (ContextLeak, logged), the pool closes it, the next unit gets a clean one."""
    async def body(db: AsyncDatabase) -> None:
        conn = await db.pool.getconn()
        pid = conn.info.backend_pid
        await conn.execute("SELECT pg_catalog.set_config('pliers.context', 'x', false)")
        await db.pool.putconn(conn)
        async with db.transaction() as s:
            cur = await s.execute("SELECT pg_catalog.pg_backend_pid(), "
                                  "pg_catalog.current_setting('pliers.context', true)")
            again, setting = await cur.fetchone() or ()
        assert again != pid and setting in ("", None)

    run(seeded, body, min_size=1, max_size=1)


def test_an_unreachable_server_is_database_unavailable_quickly() -> None:
    async def main() -> None:
        db = await pliersdb.connect_async("postgresql://nobody@127.0.0.1:1/none",
                                          connect_timeout=2)
        async with db:
            started = time.monotonic()
            with pytest.raises(pliersdb.DatabaseUnavailable) as caught:
                await db.tenant(uuid.uuid4(), uuid.uuid4()).call("list_forms")
            assert time.monotonic() - started < 5
            assert isinstance(caught.value.__cause__, psycopg.OperationalError)
            assert "127.0.0.1" in str(caught.value)

    asyncio.run(main())
    with pliersdb.connect("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2) as db:
        started = time.monotonic()
        with pytest.raises(pliersdb.DatabaseUnavailable) as caught:
            db.transaction().call("form_limits")
        assert time.monotonic() - started < 5
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_pool_settings_pass_through_sync_and_async(seeded: World) -> None:
    configured: list[int] = []

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        configured.append(conn.info.backend_pid)

    async def body(db: AsyncDatabase) -> None:
        assert (db.pool.max_lifetime, db.pool.max_idle) == (120.0, 60.0)
        assert db.pool.kwargs["connect_timeout"] == 4
        await db.transaction().call("form_limits")

    run(seeded, body, max_lifetime=120.0, max_idle=60.0, connect_timeout=4,
        configure=configure)
    assert configured
    configured.clear()
    with pliersdb.connect(seeded.app_dsn, max_lifetime=120.0, max_idle=60.0, connect_timeout=4,
                          configure=lambda conn: configured.append(conn.info.backend_pid)
                          ) as db:
        assert (db.pool.max_lifetime, db.pool.max_idle) == (120.0, 60.0)
        db.transaction().call("form_limits")
    assert configured


def test_each_call_is_logged_at_debug_without_its_arguments(
        seeded: World, caplog: pytest.LogCaptureFixture) -> None:
    secret = f"secret-{uuid.uuid4().hex}"

    async def body(db: AsyncDatabase) -> None:
        async with admin(db, seeded, "acme") as t:
            await t.forms.validate({"fields": [{"type": "text", "name": secret}]})
        with pytest.raises(errors.NotFound):
            await admin(db, seeded, "acme").call_one("list_forms", slug=secret)

    with caplog.at_level(logging.DEBUG, logger="pliersdb"):
        run(seeded, body)
    calls = [r.getMessage() for r in caplog.records if r.name == "pliersdb"]
    assert any(m.startswith("pliers.validate_form_definition ok in ") for m in calls), calls
    assert any(m.startswith("pliers.list_forms ok in ") for m in calls), calls
    assert all(m.endswith(" ms") for m in calls)
    assert not any(secret in r.getMessage() for r in caplog.records)


def test_a_unit_of_work_opens_one_block_at_a_time(seeded: World) -> None:
    async def body(db: AsyncDatabase) -> None:
        unit = admin(db, seeded, "acme")
        assert isinstance(unit, AsyncUnitOfWork)
        async with unit as first:
            assert first.organization_id == seeded.orgs["acme"].id
            with pytest.raises(RuntimeError, match="already open"):
                await unit.__aenter__()
        with pytest.raises(RuntimeError, match="session has ended"):
            await first.call("current_organization_id")

    run(seeded, body)


TYPED = '''
from pliersdb import AsyncDatabase, Database

def sync(db: Database) -> None:
    with db.tenant(None, None) as t:
        reveal_type(t.forms.create("Intake", "intake", {}))
        reveal_type(t.users.login("org", "e@x.org", "pw"))
        t.forms.create(1, "intake", {})

async def asynchronous(db: AsyncDatabase) -> None:
    async with db.tenant(None, None) as t:
        reveal_type(t.forms.create("Intake", "intake", {}))
        reveal_type(await t.users.login("org", "e@x.org", "pw"))
        reveal_type(t.submissions.iterate())
        await t.forms.create("Intake", "intake", {}, visibility="everyone")
'''


@pytest.mark.lint
def test_mypy_sees_each_method_sync_and_async(tmp_path: Any) -> None:
    """One definition of each method, two typed faces: its result in a Session, an
    Awaitable of it in an AsyncSession, its arguments checked in both (py.typed)."""
    snippet = tmp_path / "typed.py"
    snippet.write_text(TYPED)
    mypy = Path(sys.executable).parent / "mypy"
    found = subprocess.run([str(mypy), "--strict", "--no-error-summary", str(snippet)],
                           capture_output=True, text=True, check=False).stdout
    notes = re.findall(r":(\d+): (?:note|error): (.*)", found)
    assert notes == [
        ("6", 'Revealed type is "pliersdb.forms.Form"'),
        ("7", 'Revealed type is "pliersdb.users.LoginResult"'),
        ("8", 'Argument 1 has incompatible type "int"; expected "str"  [arg-type]'),
        ("12", 'Revealed type is "typing.Awaitable[pliersdb.forms.Form]"'),
        ("13", 'Revealed type is "pliersdb.users.LoginResult"'),
        ("14", 'Revealed type is "typing.AsyncIterator[pliersdb.submissions.Submission]"'),
        ("15", 'Argument "visibility" has incompatible type '
               '"Literal[\'everyone\']"; expected "Literal[\'private\', \'organization\', '
               '\'public\'] | None"  [arg-type]'),
    ], found
