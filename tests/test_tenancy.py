"""pliersdb.Database and Session: tenant-scoped transactions on a pool, error mapping,
API keys, and the encryption of webhook secrets (pliersdb.webhooks).

The database is a clone of the template with the demo data set (organizations
acme-health and northwind), and the library connects as a LOGIN role that is a
member of pliers_app, as an application would: never as a superuser or owner."""

from __future__ import annotations

import base64
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb import Database, demo, errors, webhooks
from pliersdb.db import Session

CONTEXT = ("SELECT pliers.current_organization_id()::text, pliers.current_user_id()::text, "
           "pg_catalog.pg_backend_pid()")
# The users of one organization that the context shows: routed to its shard on Citus.
USERS_OF = "SELECT count(*) FROM pliers.users WHERE organization_id = %s"


@dataclass
class World:
    admin_dsn: str
    app_dsn: str
    acme: UUID
    north: UUID
    alice: UUID  # acme-health, admin
    bob: UUID  # acme-health, editor
    dan: UUID  # northwind, admin
    erin: UUID  # northwind, member


@pytest.fixture(scope="module")
def world(cluster: clusterlib.Cluster, template: str,
          app_role: tuple[str, str]) -> Iterator[World]:
    """A clone of the template with the demo data set, shared by this module's tests."""
    name = f"tenancy_{uuid.uuid4().hex[:10]}"
    try:
        admin_dsn = appworld.create_database(cluster, name, template)
        demo.run(admin_dsn, say=lambda _: None)
        with psycopg.connect(admin_dsn) as conn:
            orgs: dict[str, UUID] = dict(
                conn.execute("SELECT slug, id FROM pliers.organizations").fetchall())
            users: dict[str, UUID] = dict(
                conn.execute("SELECT username, id FROM pliers.users").fetchall())
        yield World(admin_dsn, cluster.dsn(name, user=app_role[0], password=app_role[1]),
                    orgs["acme-health"], orgs["northwind"], users["alice"], users["bob"],
                    users["dan"], users["erin"])
    finally:
        appworld.drop_database(cluster, name)


@pytest.fixture
def database(world: World) -> Iterator[Database]:
    with pliersdb.connect(world.app_dsn, min_size=1, max_size=2, timeout=10) as db:
        yield db


@pytest.fixture
def single(world: World) -> Iterator[Database]:
    """A pool of exactly one connection: every checkout gets the same one."""
    with pliersdb.connect(world.app_dsn, min_size=1, max_size=1, timeout=10) as db:
        yield db


def one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def scalar(session: Session, query: Any, params: Any = None) -> Any:
    row = session.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def new_api_key(db: Database, org: UUID, user: UUID, **kwargs: Any) -> tuple[UUID, str]:
    with db.tenant(org, user) as session:
        row = session.call_one("create_api_key", name=f"test {uuid.uuid4().hex[:6]}", **kwargs)
    return row["id"], row["key"]


# Tenant context ---------------------------------------------------------------


def test_tenant_sets_the_context(database: Database, world: World) -> None:
    with database.tenant(world.acme, world.alice, correlation_id=uuid.uuid4(),
                         ip_address="192.0.2.7", user_agent="pytest") as session:
        assert (session.organization_id, session.user_id) == (world.acme, world.alice)
        assert session.call_one("current_organization_id") == {
            "current_organization_id": world.acme}
        assert session.call_one("current_user_id") == {"current_user_id": world.alice}
        org, user, _ = one(session.execute(CONTEXT))
        assert (org, user) == (str(world.acme), str(world.alice))
        # The whole session is inside one transaction.
        assert session.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with appworld.fanning_out(session.connection):  # on Citus, RLS on every shard
            visible = {r[0] for r in session.execute("SELECT id FROM pliers.organizations")}
            orgs = {r[0] for r in session.execute("SELECT organization_id FROM pliers.users")}
        assert visible == {world.acme}
        assert orgs == {world.acme}


def test_accepts_ids_as_strings(database: Database, world: World) -> None:
    with database.tenant(str(world.north), str(world.dan)) as session:
        assert session.organization_id == world.north
        assert session.call_one("current_organization_id")["current_organization_id"] == (
            world.north)


def test_context_is_gone_when_the_block_ends(single: Database, world: World) -> None:
    with single.tenant(world.acme, world.alice) as session:
        org, _, pid = one(session.execute(CONTEXT))
        assert org == str(world.acme)
    # Same pooled connection (max_size=1), outside any transaction: no context.
    with single.pool.connection() as conn:
        org, user, again = one(conn.execute(CONTEXT))
        assert again == pid, "the pool of one should hand out the same connection"
        assert org in ("", None) and user in ("", None), (org, user)
    # And in a plain transaction: no context, nothing of a tenant visible.
    with single.transaction() as session:
        org, user, again = one(session.execute(CONTEXT))
        assert again == pid and org in ("", None) and user in ("", None)
        assert session.organization_id is None and session.user_id is None
        assert session.call_one("current_organization_id")["current_organization_id"] is None
        with appworld.fanning_out(session.connection):
            assert scalar(session, "SELECT count(*) FROM pliers.users") == 0
    # The next tenant on the same connection sees its own rows and nothing of the first.
    with single.tenant(world.north, world.dan) as session:
        org, user, again = one(session.execute(CONTEXT))
        assert (again, org, user) == (pid, str(world.north), str(world.dan))
        with appworld.fanning_out(session.connection):
            seen = {r[0] for r in session.execute(
                "SELECT organization_id FROM pliers.users UNION "
                "SELECT organization_id FROM pliers.forms UNION "
                "SELECT organization_id FROM pliers.submissions")}
        assert seen == {world.north}


def test_context_is_gone_after_an_error_too(single: Database, world: World) -> None:
    with pytest.raises(RuntimeError), single.tenant(world.acme, world.alice):
        raise RuntimeError("boom")
    with single.pool.connection() as conn:
        org, user, _ = one(conn.execute(CONTEXT))
        assert org in ("", None) and user in ("", None)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_session_level_setting_never_reaches_the_next_user(single: Database,
                                                           world: World) -> None:
    """A copy of a context kept at session level (set_config(..., false)) is worth nothing
    in the next transaction, and the pool closes the connection that holds it anyway."""
    with single.tenant(world.acme, world.alice) as session:
        pid = scalar(session, "SELECT pg_catalog.pg_backend_pid()")
        session.execute("SELECT pg_catalog.set_config('pliers.context', "
                        "pg_catalog.current_setting('pliers.context'), false)")
    with single.transaction() as session:
        org, _, again = one(session.execute(CONTEXT))
        assert again != pid, "the connection with a session-level setting was reused"
        assert org in ("", None)


# Statement timeout ----------------------------------------------------------------


def test_every_transaction_has_a_statement_timeout(world: World) -> None:
    with pliersdb.connect(world.app_dsn, min_size=1, max_size=1, statement_timeout=0.2) as db:
        with db.tenant(world.acme, world.alice) as session:
            assert scalar(session, "SHOW statement_timeout") == "200ms"
        _, key = new_api_key(db, world.acme, world.alice)
        with db.with_api_key(key) as session:
            assert session.organization_id == world.acme
            assert scalar(session, "SHOW statement_timeout") == "200ms"
        with pytest.raises(psycopg.errors.QueryCanceled), db.transaction() as session:
            session.execute("SELECT pg_catalog.pg_sleep(2)")
        with db.transaction() as session:  # the pool's next transaction is fine
            assert scalar(session, "SELECT 1") == 1
    with pliersdb.connect(world.app_dsn, min_size=1, max_size=1) as db, \
            db.transaction() as session:
        assert scalar(session, "SHOW statement_timeout") == "30s"
    with pliersdb.connect(world.app_dsn, min_size=1, max_size=1, statement_timeout=None) as db, \
            db.transaction() as session:
        assert scalar(session, "SHOW statement_timeout") == "0"
    with pytest.raises(ValueError, match="statement_timeout"):
        Database(world.app_dsn, statement_timeout=0)


# The context cannot be forged (docs/security.md) -----------------------------------
# As the application role, every way of writing pliers.context other than set_context
# leaves no tenant: another tenant's rows stay invisible whatever the plan.

NORTH_ROWS = ("SELECT count(*) FILTER (WHERE u.organization_id = %s) FROM pliers.users AS u "
              "WHERE pg_catalog.set_config('pliers.context', %s, true) <> ''")
SCANS = {"index": "", "seq": "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; "
                             "SET LOCAL enable_indexonlyscan = off"}


def forged(session: Session, org: UUID) -> str:
    """This transaction's valid context with another organization written into it."""
    token = scalar(session, "SELECT pg_catalog.current_setting('pliers.context')")
    assert token.startswith(str(session.organization_id))
    return str(org) + token[len(str(org)):]


@pytest.mark.parametrize("scan", SCANS)
def test_a_context_changed_mid_statement_shows_no_other_tenant(database: Database, world: World,
                                                               scan: str) -> None:
    with database.tenant(world.acme, world.alice) as session:
        if SCANS[scan]:
            session.execute(SCANS[scan])
        # A temporary function (pliers_app may create them) that SETs the context, called per
        # row below. Created first: Citus refuses it after a multi-shard read in the transaction.
        session.execute("CREATE FUNCTION pg_temp.switch(p text) RETURNS boolean LANGUAGE plpgsql "
                        "AS $$ BEGIN PERFORM pg_catalog.set_config('pliers.context', p, true); "
                        "RETURN true; END $$")
        north = forged(session, world.north)
        with appworld.fanning_out(session.connection):
            # set_config in the statement's own filter rewrites the context after the first
            # row (on Citus, on the shards: the filter runs there).
            assert scalar(session, NORTH_ROWS, (world.north, north)) == 0
            assert scalar(session, "SELECT count(*) FROM pliers.users") == 0  # forged: no tenant
        session.execute("SELECT pliers.set_context(%s, %s)", (world.acme, world.alice))
        switched = forged(session, world.north)
        rows = "pliers.users AS u"
        if appworld.citus_mode():
            # Citus runs the filter on the shards, where the temporary function does not exist.
            with pytest.raises(psycopg.errors.InvalidSchemaName), \
                    session.connection.transaction(), appworld.fanning_out(session.connection):
                session.execute("SELECT u.organization_id FROM pliers.users AS u "
                                "WHERE pg_temp.switch(%s)", (switched,))
            # So it runs per row on the coordinator, over what the shards returned.
            rows = "(SELECT organization_id FROM pliers.users OFFSET 0) AS u"
        with appworld.fanning_out(session.connection):
            seen = session.execute(f"SELECT DISTINCT u.organization_id FROM {rows} "
                                   "WHERE pg_temp.switch(%s)", (switched,)).fetchall()
        if appworld.citus_mode():
            # set_config does not reach the workers: they keep acme's context (docs/scale-out.md).
            assert seen == [(world.acme,)], seen
        else:
            assert seen in ([], [(world.acme,)]), seen


def test_a_cursor_sees_no_other_tenant_after_a_forged_context(database: Database,
                                                              world: World) -> None:
    with database.tenant(world.acme, world.alice) as session:
        session.execute(SCANS["seq"])
        with appworld.fanning_out(session.connection):  # Citus checks when the cursor starts
            session.execute("DECLARE c NO SCROLL CURSOR FOR "
                            "SELECT u.organization_id FROM pliers.users AS u")
        first = session.execute("FETCH 1 FROM c").fetchall()
        assert first == [(world.acme,)]
        session.execute("SELECT pg_catalog.set_config('pliers.context', %s, true)",
                        (forged(session, world.north),))
        rest = session.execute("FETCH ALL FROM c").fetchall()
        if appworld.citus_mode():
            # The shards were read with acme's context, which set_config does not change on
            # the workers (docs/scale-out.md): the rest of acme's rows, nothing else.
            assert rest and set(rest) == {(world.acme,)}, rest
        else:
            assert rest == []


def test_a_context_is_worth_nothing_in_another_transaction(database: Database,
                                                           world: World) -> None:
    with database.tenant(world.north, world.dan) as session:
        token = scalar(session, "SELECT pg_catalog.current_setting('pliers.context')")
        assert scalar(session, USERS_OF, (world.north,)) > 0
    with database.transaction() as session:
        session.execute("SELECT pg_catalog.set_config('pliers.context', %s, true)", (token,))
        if appworld.citus_mode():
            # set_config does not reach the workers: send the copy there as set_context does.
            session.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            session.execute(sql.SQL("SET LOCAL pliers.context = {}").format(sql.Literal(token)))
        assert scalar(session, "SELECT pliers.current_organization_id()") is None
        with appworld.fanning_out(session.connection):
            assert scalar(session, "SELECT count(*) FROM pliers.users") == 0
        with pytest.raises(errors.NoTenantContext), session.connection.transaction():
            session.call("create_form", name="Stolen", slug="stolen", definition={"fields": []})


def test_rotating_the_key_ends_the_contexts_of_every_session(database: Database,
                                                            world: World) -> None:
    """The key is folded into cached plans: rotate_context_key makes other sessions,
    whose plans hold the old one, see the open context as invalid and sign new ones."""
    with database.tenant(world.acme, world.alice) as session:
        assert scalar(session, USERS_OF, (world.acme,)) > 0
        with psycopg.connect(world.admin_dsn, autocommit=True) as admin:
            admin.execute("SELECT pliers.rotate_context_key()")
        assert scalar(session, "SELECT pliers.current_organization_id()") is None
        with appworld.fanning_out(session.connection):
            assert scalar(session, "SELECT count(*) FROM pliers.users") == 0
        session.execute("SELECT pliers.set_context(%s, %s)", (world.acme, world.alice))
        assert scalar(session, USERS_OF, (world.acme,)) > 0
    with database.tenant(world.north, world.dan) as session:
        assert scalar(session, "SELECT pliers.current_organization_id()") == world.north


def test_a_viewer_cannot_grant_itself_permissions(database: Database, world: World) -> None:
    with database.tenant(world.north, world.erin) as session:
        token = scalar(session, "SELECT pg_catalog.current_setting('pliers.context')")
        fields = token.split("|")
        assert "form.create" not in fields[2].split(",")
        fields[2] = ",".join(sorted({*fields[2].split(","), "form.create", "form.publish"}))
        session.execute("SELECT pg_catalog.set_config('pliers.context', %s, true)",
                        ("|".join(fields),))
        with pytest.raises(errors.NoTenantContext), session.connection.transaction():
            session.call("create_form", name="Mine", slug="mine", definition={"fields": []})


def test_connection_returned_inside_a_transaction_is_rolled_back(single: Database,
                                                                 world: World) -> None:
    """A connection given back to the pool in the middle of a tenant transaction (not
    through db.tenant()) is rolled back before anyone else gets it: no context survives."""
    conn = single.pool.getconn()
    conn.execute("BEGIN")
    conn.execute("SELECT pliers.set_context(%s, %s)", (world.acme, world.alice))
    single.pool.putconn(conn)
    with single.transaction() as session:
        org, user, _ = one(session.execute(CONTEXT))
        assert org in ("", None) and user in ("", None), (org, user)
        with appworld.fanning_out(session.connection):
            assert scalar(session, "SELECT count(*) FROM pliers.users") == 0


def test_explicit_commit_inside_a_session_is_refused(database: Database, world: World) -> None:
    with pytest.raises(psycopg.ProgrammingError), database.tenant(world.acme, world.alice) as s:
        s.connection.commit()


def test_session_is_unusable_after_its_block(database: Database, world: World) -> None:
    with database.tenant(world.acme, world.alice) as session:
        pass
    with pytest.raises(RuntimeError, match="session has ended"):
        session.call("current_organization_id")
    with pytest.raises(RuntimeError):
        session.execute("SELECT 1")


# Commit and rollback ----------------------------------------------------------


def test_normal_exit_commits(database: Database, world: World) -> None:
    key_id, key = new_api_key(database, world.acme, world.alice)
    with database.with_api_key(key) as session:
        assert session.api_key_id == key_id


def test_exception_rolls_back(database: Database, world: World) -> None:
    created: dict[str, Any] = {}
    with pytest.raises(RuntimeError, match="abort"), \
            database.tenant(world.acme, world.alice) as session:
        created.update(session.call_one("create_api_key", name="rolled back"))
        raise RuntimeError("abort")
    assert created["key"]
    with pytest.raises(errors.PermissionDenied), database.with_api_key(created["key"]):
        pass
    with database.tenant(world.acme, world.alice) as session:
        assert scalar(session, "SELECT count(*) FROM pliers.api_keys "
                      "WHERE organization_id = %s AND id = %s", (world.acme, created["id"])) == 0


def test_plain_transaction_has_no_tenant(database: Database) -> None:
    with pytest.raises(errors.NoTenantContext), database.transaction() as session:
        with appworld.fanning_out(session.connection):
            assert scalar(session, "SELECT count(*) FROM pliers.organizations") == 0
        session.call("create_api_key", name="no tenant")


# Error mapping ------------------------------------------------------------------


def test_user_of_another_organization_is_permission_denied(database: Database,
                                                           world: World) -> None:
    with pytest.raises(errors.PermissionDenied) as info, database.tenant(world.acme, world.dan):
        pytest.fail("the block must not run")
    cause = info.value.__cause__
    assert isinstance(cause, psycopg.Error) and cause.diag.sqlstate == "PL006"
    assert isinstance(info.value.detail, dict)
    # The connection went back to the pool in a usable state.
    with database.tenant(world.acme, world.alice) as session:
        assert session.call_one("current_user_id")["current_user_id"] == world.alice


def test_missing_organization_or_user_is_no_tenant_context(database: Database,
                                                           world: World) -> None:
    with pytest.raises(errors.NoTenantContext) as info, database.tenant(None, world.alice):
        pass
    assert isinstance(info.value.__cause__, psycopg.Error)
    with pytest.raises(errors.NoTenantContext), database.tenant(world.acme, None):
        pass


def test_unknown_user_is_permission_denied(database: Database, world: World) -> None:
    with pytest.raises(errors.PermissionDenied), database.tenant(world.acme, uuid.uuid4()):
        pass


def test_errors_inside_the_session_are_mapped(database: Database, world: World) -> None:
    with pytest.raises(psycopg.errors.InFailedSqlTransaction), \
            database.tenant(world.acme, world.alice) as session:
        key = session.call_one("create_api_key", name="lost")["key"]
        with pytest.raises(errors.PermissionDenied) as info:
            session.execute("SELECT pliers.set_context(%s, %s)", (world.acme, world.dan))
        assert isinstance(info.value.__cause__, psycopg.Error)
        assert info.value.__cause__.diag.sqlstate == "PL006"
        # Caught, and the block goes on: the transaction is aborted, so leaving the
        # block normally must not pretend to commit.
    with pytest.raises(errors.PermissionDenied), database.with_api_key(key):
        pass  # rolled back with the rest
    # Through call(), and raised straight from the connection inside the block.
    with pytest.raises(errors.PermissionDenied) as called, \
            database.tenant(world.acme, world.bob) as session:  # a form editor
        session.call("create_api_key", name="not allowed")
    assert called.value.detail.get("permission") == "api_key.manage"
    with pytest.raises(errors.NotFound) as missing, \
            database.tenant(world.acme, world.alice) as session:
        session.call("revoke_api_key", uuid.uuid4())
    assert missing.value.detail.get("object") == "api_key"
    with pytest.raises(errors.PermissionDenied) as raw, \
            database.tenant(world.acme, world.alice) as session:
        session.connection.execute("SELECT pliers.set_context(%s, %s)",
                                   (world.north, world.alice))
    assert isinstance(raw.value.__cause__, psycopg.Error)


def test_other_errors_pass_through(database: Database, world: World) -> None:
    with pytest.raises(psycopg.errors.DivisionByZero), \
            database.tenant(world.acme, world.alice) as session:
        session.execute("SELECT 1 / 0")
    with pytest.raises(psycopg.errors.UndefinedFunction), database.transaction() as session:
        session.call("no_such_function_anywhere")


# call() ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "_private_helper", "_set_updated_at", "Set_context", "pliers.set_context",
    "set_context()", "set_context; DROP SCHEMA pliers", "1function", "", "café", "a-b",
])
def test_call_refuses_bad_or_private_names(database: Database, world: World,
                                           name: str) -> None:
    with database.tenant(world.acme, world.alice) as session:
        with pytest.raises(ValueError, match="invalid API function name"):
            session.call(name)
        with pytest.raises(ValueError):
            session.call_one(name)
        # Nothing was sent: the transaction is still healthy.
        assert session.call_one("current_user_id")["current_user_id"] == world.alice


@pytest.mark.parametrize("name", ["set_context", "authenticate_api_key"])
def test_call_refuses_the_context_functions(database: Database, world: World,
                                            name: str) -> None:
    """The context is opened by tenant()/with_api_key() only, so a Session's
    organization_id and user_id are always the context's."""
    with database.tenant(world.acme, world.alice) as session:
        with pytest.raises(ValueError, match="opens the tenant context"):
            session.call(name, world.north, world.dan)
        assert session.call_one("current_organization_id")["current_organization_id"] == (
            world.acme)


def test_call_refuses_bad_argument_names(database: Database, world: World) -> None:
    with database.tenant(world.acme, world.alice) as session:
        with pytest.raises(ValueError, match="invalid argument name"):
            session.call("create_api_key", **{"name) --": "x"})
        with pytest.raises(ValueError):
            session.call("create_api_key", **{"Name": "x"})


def test_call_passes_values_as_parameters(database: Database, world: World) -> None:
    hostile = "x'); SELECT pliers.set_context(NULL, NULL); --"
    with database.tenant(world.acme, world.alice) as session:
        row = session.call_one("create_api_key", name=hostile, scopes=["form.view"])
        assert set(row) >= {"id", "key", "prefix"}
    # Read in the next transaction: on Citus the application may not read shards that an
    # API function wrote in its own transaction (docs/scale-out.md).
    with database.tenant(world.acme, world.alice) as session:
        name = scalar(session, "SELECT name FROM pliers.api_keys "
                      "WHERE organization_id = %s AND id = %s", (world.acme, row["id"]))
        assert name == hostile
        session.call("revoke_api_key", row["id"])


def test_call_one_requires_exactly_one_row(database: Database, world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:  # a throwaway API function, as superuser
        conn.execute("CREATE OR REPLACE FUNCTION pliers.test_rows(p_n integer) "
                     "RETURNS TABLE (n integer) LANGUAGE sql AS 'SELECT generate_series(1, p_n)'")
        conn.execute("GRANT EXECUTE ON FUNCTION pliers.test_rows(integer) TO pliers_app")
    with database.transaction() as session:
        assert session.call("test_rows", 3) == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert session.call("test_rows", n=0) == []
        assert session.call_one("test_rows", n=1) == {"n": 1}
        with pytest.raises(errors.NotFound):
            session.call_one("test_rows", 0)
        with pytest.raises(ValueError, match="2 rows"):
            session.call_one("test_rows", 2)
    # Only schema pliers is reachable: pg_catalog's functions are not pliers.<name>.
    with pytest.raises(psycopg.errors.UndefinedFunction), database.transaction() as session:
        session.call("pg_backend_pid")


# API keys -----------------------------------------------------------------------


def test_with_api_key_sets_the_keys_context(database: Database, world: World) -> None:
    key_id, key = new_api_key(database, world.north, world.dan, scopes=["submission.view"])
    assert key.startswith("pk_live_")
    if appworld.citus_mode():
        # A first use writes last_used_at as the owner, after which Citus refuses the
        # application's reads of that tenant's shards in the transaction
        # (docs/scale-out.md); once used, the key is not written again within the minute.
        with database.with_api_key(key):
            pass
    with database.with_api_key(key, ip_address="198.51.100.1", user_agent="pytest") as session:
        assert session.organization_id == world.north
        assert session.api_key_id == key_id
        assert session.scopes == ("submission.view",)
        assert session.user_id == world.dan
        assert session.call_one("current_organization_id")["current_organization_id"] == (
            world.north)
        with appworld.fanning_out(session.connection):
            orgs = {r[0] for r in session.execute("SELECT organization_id FROM pliers.forms")}
        assert orgs == {world.north}


def test_unknown_or_malformed_api_key_is_permission_denied(database: Database) -> None:
    for key in ("pk_live_" + secrets.token_urlsafe(24), "garbage", ""):
        with pytest.raises(errors.PermissionDenied) as info, database.with_api_key(key):
            pytest.fail("the block must not run")
        assert isinstance(info.value.__cause__, psycopg.Error), key


def test_revoked_api_key_is_permission_denied(database: Database, world: World) -> None:
    key_id, key = new_api_key(database, world.acme, world.alice)
    with database.with_api_key(key) as session:
        assert session.api_key_id == key_id
    with database.tenant(world.acme, world.alice) as session:
        session.call("revoke_api_key", key_id)
    with pytest.raises(errors.PermissionDenied), database.with_api_key(key):
        pass


def test_expired_api_key_is_permission_denied(database: Database, world: World) -> None:
    _, key = new_api_key(database, world.acme, world.alice)
    with psycopg.connect(world.admin_dsn) as conn:  # as superuser: backdate the key
        updated = conn.execute(
            "UPDATE pliers.api_keys SET created_at = now() - interval '2 minutes', "
            "expires_at = now() - interval '1 minute' "
            "WHERE key_hash = encode(sha256(convert_to(%s, 'UTF8')), 'hex')", (key,))
        assert updated.rowcount == 1
    with pytest.raises(errors.PermissionDenied), database.with_api_key(key):
        pass


# Precomputed permissions (sql/91: pliers.user_permissions) --------------------------
# set_context reads a user's organization-wide permissions from a row that triggers keep;
# every change of a grant must show in the next set_context, and time alone must end an
# expiring assignment.

ROLES = ("SELECT coalesce(array_agg(DISTINCT p ORDER BY p), '{}') FROM pliers.roles AS r, "
         "unnest(r.permissions) AS p WHERE r.name = ANY(%s)")
# Users whose stored row differs from what pliers._user_permissions computes now.
STALE_ROWS = """
    SELECT u.organization_id, u.id FROM pliers.users AS u
    LEFT JOIN pliers.user_permissions AS p
        ON (p.organization_id, p.user_id) = (u.organization_id, u.id)
    LEFT JOIN LATERAL pliers._user_permissions(u.organization_id, u.id) AS l ON TRUE
    WHERE u.organization_id = %s
        AND (p.permissions, p.denied, p.valid_until)
            IS DISTINCT FROM (l.permissions, l.denied, l.valid_until)
"""


@dataclass
class Tenant:
    org: UUID
    admin: UUID  # org_admin
    user: UUID  # no role to start with


@pytest.fixture
def tenant(world: World) -> Tenant:
    """A new organization of its own, so that its grants can change freely."""
    slug = f"perm-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(world.admin_dsn, autocommit=True) as conn:
        org = appworld.new_organization(conn, slug, slug)
        admin, user = (one(conn.execute(
            "INSERT INTO pliers.users (organization_id, email, roles) VALUES (%s, %s, %s) "
            "RETURNING id", (org, f"{name}@{slug}.example", roles)))[0]
            for name, roles in (("admin", ["org_admin"]), ("user", [])))
    return Tenant(org, admin, user)


def permissions(world: World, org: UUID, user: UUID, read_only: bool = False,
                isolation: str = "READ COMMITTED") -> list[str]:
    """current_permissions() after set_context, as pliers_app, in a transaction of its own."""
    with psycopg.connect(world.app_dsn) as conn:
        conn.execute(sql.SQL("SET TRANSACTION ISOLATION LEVEL {} READ {}").format(
            sql.SQL(isolation), sql.SQL("ONLY" if read_only else "WRITE")))
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        return list(one(conn.execute("SELECT pliers.current_permissions()"))[0])


def roles(conn: psycopg.Connection[Any], *names: str) -> list[str]:
    return list(one(conn.execute(ROLES, (list(names),)))[0])


def stored(conn: psycopg.Connection[Any], org: UUID, user: UUID) -> tuple[Any, ...]:
    # valid_until infinity (no expiry) as None: Python has no infinite datetime.
    return one(conn.execute("SELECT permissions, denied, nullif(valid_until, 'infinity') "
                            "FROM pliers.user_permissions "
                            "WHERE organization_id = %s AND user_id = %s", (org, user)))


def test_every_change_of_a_grant_applies_at_the_next_set_context(world: World,
                                                                 tenant: Tenant) -> None:
    org, user = tenant.org, tenant.user
    role = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(world.admin_dsn, autocommit=True) as su, \
            psycopg.connect(world.app_dsn, autocommit=True) as app:
        def change(query: str, *params: Any) -> None:
            su.execute(query, params)

        def grant_as_app(query: str, *params: Any) -> None:
            # pliers_app writes the grants itself, under RLS: the triggers still keep the row.
            with app.transaction():
                app.execute("SELECT pliers.set_context(%s, %s)", (org, tenant.admin))
                app.execute(query, params)

        assert permissions(world, org, user) == []
        change("UPDATE pliers.users SET roles = '{viewer}' WHERE organization_id = %s AND id = %s",
               org, user)
        assert permissions(world, org, user) == roles(su, "viewer")
        grant_as_app("UPDATE pliers.users SET roles = roles || '{member}' "
                     "WHERE organization_id = %s AND id = %s", org, user)
        assert permissions(world, org, user) == roles(su, "viewer", "member")
        change("UPDATE pliers.users SET roles = '{member}' WHERE organization_id = %s AND id = %s",
               org, user)
        assert permissions(world, org, user) == roles(su, "member")
        change("UPDATE pliers.users SET permissions = '{\"audit.view\": true}' "
               "WHERE organization_id = %s AND id = %s", org, user)
        assert permissions(world, org, user) == sorted({*roles(su, "member"), "audit.view"})
        change("UPDATE pliers.users SET permissions = %s WHERE organization_id = %s AND id = %s",
               Jsonb({"audit.view": True, "form.view": False}), org, user)
        assert permissions(world, org, user) == ["audit.view", "submission.create"]

        grant_as_app("INSERT INTO pliers.role_assignments (organization_id, user_id, role) "
                     "VALUES (%s, %s, 'submission_reviewer')", org, user)
        reviewer = sorted({*roles(su, "member", "submission_reviewer"), "audit.view"}
                          - {"form.view"})
        assert permissions(world, org, user) == reviewer
        # A form-scoped assignment is not organization-wide.
        change("INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type, "
               "scope_id) VALUES (%s, %s, 'org_admin', 'form', gen_random_uuid())", org, user)
        assert permissions(world, org, user) == reviewer
        grant_as_app("UPDATE pliers.role_assignments SET revoked_at = now() "
                     "WHERE organization_id = %s AND user_id = %s AND scope_type = 'organization'",
                     org, user)
        assert permissions(world, org, user) == ["audit.view", "submission.create"]

        # The catalogue: a role named before it exists, created, edited, deleted. It is
        # global and has no trigger: a change of it reaches the stored permissions when
        # the owner calls refresh_user_permissions (the holders of the role, in every
        # tenant; the role's name is this test's own, so they are counted exactly).
        def refresh(name: str) -> int:
            return int(one(su.execute("SELECT pliers.refresh_user_permissions(%s)", (name,)))[0])

        def stale() -> list[tuple[Any, ...]]:
            return su.execute(STALE_ROWS, (org,)).fetchall()

        change("UPDATE pliers.users SET roles = %s, permissions = '{}' "
               "WHERE organization_id = %s AND id = %s", [role], org, user)
        assert permissions(world, org, user) == []
        change("INSERT INTO pliers.roles (name, description, permissions) "
               "VALUES (%s, 'test', '{audit.view}')", role)
        assert permissions(world, org, user) == [], "applied before refresh_user_permissions"
        assert stale() == [(org, user)]
        assert refresh(role) == 1
        assert permissions(world, org, user) == ["audit.view"]
        change("INSERT INTO pliers.role_assignments (organization_id, user_id, role) "
               "VALUES (%s, %s, %s)", org, tenant.admin, role)
        change("UPDATE pliers.roles SET permissions = '{form.view,workflow.view}' WHERE name = %s",
               role)
        assert permissions(world, org, user) == ["audit.view"], "applied before refresh"
        assert refresh(role) == 2  # by users.roles and by an organization-scope assignment
        assert permissions(world, org, user) == ["form.view", "workflow.view"]
        assert permissions(world, org, tenant.admin) == roles(su, "org_admin")  # already had both
        change("UPDATE pliers.roles SET permissions = '{organization.manage}' WHERE name = %s",
               role)
        assert permissions(world, org, tenant.admin) == roles(su, "org_admin")
        assert refresh(role) == 2
        assert permissions(world, org, tenant.admin) == sorted({*roles(su, "org_admin"),
                                                                "organization.manage"})
        change("DELETE FROM pliers.role_assignments WHERE organization_id = %s AND role = %s",
               org, role)
        assert permissions(world, org, tenant.admin) == roles(su, "org_admin")  # its trigger
        change("DELETE FROM pliers.roles WHERE name = %s", role)
        assert permissions(world, org, user) == ["organization.manage"], "applied before refresh"
        assert refresh(role) == 1
        assert permissions(world, org, user) == []
        assert stale() == []

        # Status and organization are read live.
        change("UPDATE pliers.users SET status = 'suspended' "
               "WHERE organization_id = %s AND id = %s", org, user)
        with pytest.raises(psycopg.Error) as info:
            permissions(world, org, user)
        assert info.value.diag.sqlstate == "PL006"
        change("UPDATE pliers.users SET status = 'active' WHERE organization_id = %s AND id = %s",
               org, user)
        assert permissions(world, org, user) == []
        change("UPDATE pliers.organizations SET deleted_at = now() WHERE id = %s", org)
        with pytest.raises(psycopg.Error) as info:
            permissions(world, org, tenant.admin)
        assert info.value.diag.sqlstate == "PL006"
        assert su.execute(STALE_ROWS, (org,)).fetchall() == []


def test_an_expired_assignment_ends_without_any_write(world: World, tenant: Tenant) -> None:
    org, user = tenant.org, tenant.user
    with psycopg.connect(world.admin_dsn, autocommit=True) as su:
        su.execute("INSERT INTO pliers.role_assignments "
                   "(organization_id, user_id, role, expires_at) VALUES "
                   "(%(org)s, %(user)s, 'viewer', clock_timestamp() + interval '1.5 s'), "
                   "(%(org)s, %(user)s, 'member', clock_timestamp() + interval '1 hour')",
                   {"org": org, "user": user})
        soon, later = one(su.execute(
            "SELECT min(expires_at), max(expires_at) FROM pliers.role_assignments "
            "WHERE organization_id = %s AND user_id = %s", (org, user)))
        assert permissions(world, org, user) == roles(su, "viewer", "member")
        assert stored(su, org, user)[2] == soon
        su.execute("SELECT pg_sleep(greatest(0, extract(epoch FROM %s - clock_timestamp())) + 0.1)",
                   (soon,))
        # Past valid_until: computed again, also where nothing may be written.
        assert permissions(world, org, user, read_only=True) == roles(su, "member")
        assert stored(su, org, user)[2] == soon, "a read-only set_context wrote the row"
        assert permissions(world, org, user) == roles(su, "member")
        assert stored(su, org, user) == (roles(su, "member"), [], later), "stored again"
        assert su.execute(STALE_ROWS, (org,)).fetchall() == []


def test_a_missing_row_is_computed_and_stored_again(world: World, tenant: Tenant) -> None:
    with psycopg.connect(world.admin_dsn, autocommit=True) as su:
        su.execute("DELETE FROM pliers.user_permissions WHERE organization_id = %s", (tenant.org,))
        admin = roles(su, "org_admin")
        assert permissions(world, tenant.org, tenant.admin, read_only=True) == admin
        assert permissions(world, tenant.org, tenant.admin, isolation="REPEATABLE READ") == admin
        assert su.execute("SELECT FROM pliers.user_permissions WHERE organization_id = %s",
                          (tenant.org,)).fetchall() == [], "stored by read-only or repeatable read"
        assert permissions(world, tenant.org, tenant.admin) == admin
        assert stored(su, tenant.org, tenant.admin)[0] == admin


def test_api_key_scopes_restrict_the_precomputed_permissions(database: Database, world: World,
                                                             tenant: Tenant) -> None:
    _, key = new_api_key(database, tenant.org, tenant.admin,
                         scopes=["form.view", "submission.view", "organization.manage"])
    with database.with_api_key(key) as session:
        assert scalar(session, "SELECT pliers.current_permissions()") == [
            "form.view", "submission.view"]  # organization.manage: not the creator's
    with psycopg.connect(world.admin_dsn, autocommit=True) as su:
        su.execute("UPDATE pliers.users SET permissions = '{\"form.view\": false}' "
                   "WHERE organization_id = %s AND id = %s", (tenant.org, tenant.admin))
    with database.with_api_key(key) as session:
        assert scalar(session, "SELECT pliers.current_permissions()") == ["submission.view"]


@pytest.mark.parametrize("first", [
    "UPDATE pliers.users SET roles = '{viewer}' WHERE organization_id = %(org)s AND id = %(user)s",
    "INSERT INTO pliers.role_assignments (organization_id, user_id, role) "
    "VALUES (%(org)s, %(user)s, 'viewer')",
])
def test_concurrent_grant_changes_end_consistent(world: World, tenant: Tenant, first: str) -> None:
    """Two transactions change one user's grants at once: the second computes the row
    after the first commits (lock, then compute), so it holds both changes."""
    ids = {"org": tenant.org, "user": tenant.user}
    with psycopg.connect(world.admin_dsn) as one_conn, \
            psycopg.connect(world.admin_dsn) as two_conn:
        one_conn.execute(first, ids)
        done = threading.Event()

        def second() -> None:
            two_conn.execute("INSERT INTO pliers.role_assignments (organization_id, user_id, role) "
                             "VALUES (%(org)s, %(user)s, 'form_editor')", ids)
            two_conn.commit()
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.5), "the second change did not wait for the first"
        one_conn.commit()
        thread.join(10)
        assert done.is_set()
    with psycopg.connect(world.admin_dsn, autocommit=True) as su:
        expected = roles(su, "viewer", "form_editor")
        assert stored(su, tenant.org, tenant.user)[0] == expected
        assert su.execute(STALE_ROWS, (tenant.org,)).fetchall() == []
    assert permissions(world, tenant.org, tenant.user) == expected


# Webhook secrets ----------------------------------------------------------------


def keyring(*ids: str) -> tuple[webhooks.Keyring, str]:
    spec = ",".join(f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"
                    for kid in ids)
    return webhooks.Keyring.parse(spec), spec


def test_secret_round_trip() -> None:
    ring, _ = keyring("k1")
    ciphertext, key_id = webhooks.encrypt_secret("whsec_abc", ring)
    assert key_id == "k1"
    assert b"whsec_abc" not in ciphertext
    assert webhooks.decrypt_secret(ciphertext, key_id, ring) == b"whsec_abc"
    again, _ = webhooks.encrypt_secret("whsec_abc", ring)
    assert again != ciphertext, "a fresh nonce per encryption"
    raw = secrets.token_bytes(40)
    assert webhooks.decrypt_secret(*webhooks.encrypt_secret(raw, ring), ring) == raw


def test_keyring_from_environment() -> None:
    _, spec = keyring("2025-01", "2024-07")
    ring = webhooks.Keyring.from_env(environ={"PLIERSDB_WEBHOOK_KEYS": f" {spec} ,"})
    assert ring.current_id == "2025-01" and ring.ids == ("2025-01", "2024-07")
    assert "2025-01" in repr(ring) and spec.split(":")[1][:8] not in repr(ring)
    assert len(base64.b64decode(webhooks.Keyring.generate_key())) == 32
    for bad in ("", "k1", "k1:not base64!", "k1:" + base64.b64encode(b"short").decode(),
                f"{spec},{spec}", "bad id:" + base64.b64encode(bytes(32)).decode()):
        with pytest.raises(webhooks.KeyringError):
            webhooks.Keyring.from_env(environ={"PLIERSDB_WEBHOOK_KEYS": bad})
    with pytest.raises(webhooks.KeyringError, match="not set"):
        webhooks.Keyring.from_env(environ={})


def test_key_rotation() -> None:
    old, old_spec = keyring("old")
    ciphertext, key_id = webhooks.encrypt_secret("s3cret", old)
    _, new_spec = keyring("new")
    rotating = webhooks.Keyring.parse(f"{new_spec},{old_spec}")
    # New secrets use the new key; old ones still decrypt.
    assert webhooks.encrypt_secret("x", rotating)[1] == "new"
    assert webhooks.decrypt_secret(ciphertext, key_id, rotating) == b"s3cret"
    moved, moved_id = webhooks.reencrypt_secret(ciphertext, key_id, rotating)
    assert moved_id == "new" and moved != ciphertext
    assert webhooks.reencrypt_secret(moved, moved_id, rotating) == (moved, "new")
    # Once the old key is dropped, only re-encrypted secrets decrypt.
    rotated = webhooks.Keyring.parse(new_spec)
    assert webhooks.decrypt_secret(moved, moved_id, rotated) == b"s3cret"
    with pytest.raises(webhooks.KeyringError, match="'old'"):
        webhooks.decrypt_secret(ciphertext, key_id, rotated)


def test_tampering_is_detected() -> None:
    ring, _ = keyring("a", "b")
    ciphertext, key_id = webhooks.encrypt_secret("s3cret", ring)
    for position in (1, 13, len(ciphertext) - 1):  # nonce, body, tag
        altered = bytearray(ciphertext)
        altered[position] ^= 0x01
        with pytest.raises(webhooks.DecryptionError):
            webhooks.decrypt_secret(bytes(altered), key_id, ring)
    with pytest.raises(webhooks.DecryptionError):  # truncated
        webhooks.decrypt_secret(ciphertext[:-1], key_id, ring)
    with pytest.raises(webhooks.DecryptionError):  # unknown format version
        webhooks.decrypt_secret(b"\x02" + ciphertext[1:], key_id, ring)
    # Relabelled with another key id of the ring (same key material is not needed).
    with pytest.raises(webhooks.DecryptionError):
        webhooks.decrypt_secret(ciphertext, "b", ring)
    with pytest.raises(ValueError):
        webhooks.encrypt_secret(b"", ring)


def test_sign_and_verify() -> None:
    # RFC 4231, test case 2.
    assert webhooks.sign(b"what do ya want for nothing?", b"Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    signature = webhooks.sign(b'{"event":"submission.created"}', "whsec_x")
    assert webhooks.verify(b'{"event":"submission.created"}', "whsec_x", signature)
    assert webhooks.verify(b'{"event":"submission.created"}', b"whsec_x", signature.upper())
    assert not webhooks.verify(b'{"event":"submission.deleted"}', "whsec_x", signature)
    assert not webhooks.verify(b'{"event":"submission.created"}', "whsec_y", signature)
    assert webhooks.new_secret() != webhooks.new_secret()


def test_create_webhook_stores_only_the_ciphertext(database: Database, world: World) -> None:
    ring, _ = keyring("k2025")
    secret = webhooks.new_secret()
    with database.tenant(world.acme, world.alice) as session:
        webhook_id = webhooks.create_webhook(
            session, "CRM", "https://crm.example/hooks/pliers",
            ["submission.created"], secret, ring, headers={"X-Source": "pliers"})
    assert isinstance(webhook_id, UUID)
    with psycopg.connect(world.admin_dsn) as conn:  # what is at rest, as superuser
        row = conn.execute(
            "SELECT organization_id, name, url, events, headers, secret_ciphertext, "
            "secret_key_id, to_jsonb(w)::text FROM pliers.webhooks AS w WHERE id = %s",
            (webhook_id,)).fetchone()
    assert row is not None
    org, name, url, events, headers, ciphertext, key_id, whole = row
    assert (org, name, url, events, headers) == (
        world.acme, "CRM", "https://crm.example/hooks/pliers", ["submission.created"],
        {"X-Source": "pliers"})
    assert key_id == "k2025"
    assert secret.encode() not in bytes(ciphertext)
    assert secret not in whole and secret.encode().hex() not in whole
    assert webhooks.decrypt_secret(bytes(ciphertext), key_id, ring) == secret.encode()


def test_create_webhook_refuses_invalid_input(database: Database, world: World) -> None:
    ring, _ = keyring("k")
    with pytest.raises((errors.ValidationError, psycopg.errors.CheckViolation)), \
            database.tenant(world.acme, world.alice) as session:
        webhooks.create_webhook(session, "bad", "ftp://nope.example", ["x"], "s", ring)
    with pytest.raises(errors.NoTenantContext), database.transaction() as session:
        webhooks.create_webhook(session, "no tenant", "https://a.example", ["x"], "s", ring)
