"""Tenant-scoped transactions over a connection pool, and calls into the SQL API.

    from pliersdb import Database

    with Database(dsn) as db:
        with db.tenant(org_id, user_id) as session:
            form = session.call_one("create_form", name="Intake", definition={...})

        rows = db.tenant(org_id, user_id).call("create_submission", form_id, data)

Every unit of work is one transaction on one pooled connection. ``tenant()``
opens it and calls ``pliers.set_context(...)`` first; ``with_api_key()`` does the
same from ``pliers.authenticate_api_key(...)``. Round trips (psycopg's pipeline mode):
a ``with`` block costs one to open (BEGIN and the context), one per statement and one
to commit (COMMIT and the pool's leak check below); ``.call()`` sends BEGIN, the
context, the call and COMMIT at once: one in all. The context is transaction-local
and bound to its transaction (a signed token, docs/security.md): when the block
ends, by COMMIT on a normal exit or ROLLBACK on an exception, the context is gone,
so the next borrower of the connection cannot inherit it. As a second line of defence the
pool refuses to reuse a connection that comes back inside a transaction, out of
autocommit, or still holding a context setting (``CONTEXT_SETTINGS``): it is closed and
replaced.

Every transaction runs under a statement timeout (``statement_timeout``, 30 s by
default, ``None`` to keep the server's): a statement that runs longer is cancelled
with ``psycopg.errors.QueryCanceled`` and its transaction rolled back.

Errors of SQLSTATE class PL raised inside a block are re-raised as the
``pliersdb.errors`` exception of their code, the psycopg error as ``__cause__``.

Behind PgBouncer in transaction pooling mode (1.20 and older), pass
``prepare_threshold=None``: server-side prepared statements do not survive
the server connection changing between transactions.

With ``replica_dsn``, a second pool connects to a hot standby. A unit of work opened
with ``replica=True`` is a ``READ ONLY`` transaction there, in the same context; every
other unit runs on the primary. A standby may lag: ``read_your_writes`` (or an
``after_lsn`` token) makes a replica unit wait until the standby has replayed the
primary's WAL up to the last commit of this Database (or the token). When the standby
cannot serve a unit within ``replica_timeout`` (no connection, a broken one, replay
behind), the unit runs read-only on the primary instead (``Database._opened``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, LiteralString, TypeVar, cast
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from pliersdb import dsn as dsnlib
from pliersdb import errors
from pliersdb._api import Caller, Rows, S, one_row

if TYPE_CHECKING:
    from pliersdb.access import Access
    from pliersdb.api_keys import ApiKeys
    from pliersdb.choice_lists import ChoiceLists
    from pliersdb.executions import Executions
    from pliersdb.forms import Forms
    from pliersdb.jobs import Jobs
    from pliersdb.organizations import OrganizationApi, Platform
    from pliersdb.submissions import Submissions
    from pliersdb.teams import Teams
    from pliersdb.users import Users
    from pliersdb.workflows import Workflows

__all__ = ["ContextLeak", "Database", "Session", "UnitOfWork"]

logger = logging.getLogger("pliersdb.db")
call_logger = logging.getLogger("pliersdb")

Connection = psycopg.Connection[TupleRow]
AnyConnection = psycopg.Connection[TupleRow] | psycopg.AsyncConnection[TupleRow]
DictCursor = psycopg.Cursor[dict[str, Any]]
IPAddress = str | IPv4Address | IPv6Address
Query = LiteralString | bytes | sql.SQL | sql.Composed
T = TypeVar("T")
C = TypeVar("C")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CONTEXT_FUNCTIONS = frozenset({"set_context", "authenticate_api_key"})

# The setting pliers.set_context writes, transaction-locally: a signed token valid only
# in the transaction that set it (docs/security.md). A connection back in the pool must
# not hold it: a value here was set at session level, around set_context. Useless in
# a later transaction, it is still refused, as a sign that something ran SQL it should not.
CONTEXT_SETTINGS = ("pliers.context",)
_LEAKED_SETTINGS = """
SELECT s.name FROM pg_catalog.unnest(%s::text[]) AS s (name)
WHERE coalesce(pg_catalog.current_setting(s.name, true), '') <> ''
"""
LEAK_PARAMS = (list(CONTEXT_SETTINGS),)

# A read-only unit sets it before its context: pliers.set_context then stores nothing
# (it stores refreshed permissions in read-write transactions only), on the primary too.
_READ_ONLY = b"SET TRANSACTION READ ONLY"
# After a COMMIT on the primary: the insert position, not pg_current_wal_lsn() (the write
# position), which can be short of the commit record under synchronous_commit = off.
_COMMIT_LSN = b"SELECT pg_catalog.pg_current_wal_insert_lsn()::text"
_REPLAYED_LSN = b"SELECT pg_catalog.pg_last_wal_replay_lsn()::text"
_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")

# Connections whose COMMIT went in one pipeline with the query of _LEAKED_SETTINGS, which
# found nothing: nothing has run on them since, so _reset need not ask again. Weak: a
# connection closed meanwhile drops out by itself.
_CHECKED: weakref.WeakSet[AnyConnection] = weakref.WeakSet()


class ContextLeak(psycopg.InterfaceError):
    """A pooled connection was in a state that could carry context to its next user."""


def _not_idle(conn: AnyConnection) -> ContextLeak | None:
    """Pool check: a connection handed out must be idle, in autocommit, outside any
    transaction; the error to raise (after closing it, so that the pool discards it
    instead of offering it again) if it is not."""
    status = conn.pgconn.transaction_status
    if conn.closed or status == TransactionStatus.UNKNOWN:
        return None  # broken: the pool replaces it when it comes back
    if status != TransactionStatus.IDLE or not conn.autocommit:
        return ContextLeak(f"pooled connection not idle ({TransactionStatus(status).name})")
    return None


def _check_idle(conn: Connection) -> None:
    leak = _not_idle(conn)
    if leak is not None:
        conn.close()
        raise leak


def _returned(conn: AnyConnection) -> bool:
    """Pool reset, run on every returned connection: refuse any state that could leak.
    True if the connection must still be asked for context settings (_LEAKED_SETTINGS)."""
    checked = conn in _CHECKED
    _CHECKED.discard(conn)
    status = conn.pgconn.transaction_status
    if status != TransactionStatus.IDLE:
        raise ContextLeak(f"connection returned in status {TransactionStatus(status).name}")
    if not conn.autocommit:
        raise ContextLeak("connection returned outside autocommit")
    return not checked


def _reset(conn: Connection) -> None:
    if _returned(conn):
        _refuse_leaks(conn.execute(_LEAKED_SETTINGS, LEAK_PARAMS).fetchall())


def _refuse_leaks(found: list[TupleRow]) -> None:
    """Raise ContextLeak if the query of _LEAKED_SETTINGS found settings."""
    leaked = [row[0] for row in found]
    if leaked:
        logger.error("closing a pooled connection that holds context settings %s", leaked)
        raise ContextLeak(f"connection returned with session-level settings {leaked}")


def _lsn(text: str) -> int:
    """An LSN as PostgreSQL writes it (``0/3000148``), as a number; ValueError otherwise."""
    match = _LSN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an LSN: {text!r} (expected like '0/3000148')")
    return int(match[1], 16) << 32 | int(match[2], 16)


def _lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


class _NotReplayed(Exception):
    """The standby has not replayed what a replica unit must see, in time."""


@dataclass(frozen=True)
class _Replica:
    """What makes a unit of work a replica read: the LSN it must see (0: any)."""

    after: int = 0


def _value(value: Any) -> Any:
    """Parameters: a dict goes as jsonb; anything else is adapted by psycopg."""
    return Jsonb(value) if isinstance(value, dict) else value


def _as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _optional_uuid(value: Any) -> UUID | None:
    return None if value is None else _as_uuid(value)


def _function_name(function: str) -> str:
    if not isinstance(function, str) or not _NAME.fullmatch(function):
        raise ValueError(
            f"invalid API function name {function!r}: expected ^[a-z][a-z0-9_]*$ "
            "(private helpers starting with '_' cannot be called)")
    return function


def _argument_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid argument name {name!r}: expected ^[a-z][a-z0-9_]*$")
    return f"p_{name}"


def _api_call(function: str, args: Sequence[Any], kwargs: dict[str, Any]
              ) -> tuple[bytes, list[Any]]:
    """The query and parameters of a call of a public API function by the application."""
    if function in _CONTEXT_FUNCTIONS:
        raise ValueError(f"pliers.{function} opens the tenant context: use "
                         "Database.tenant() or Database.with_api_key()")
    return _call_query(function, args, kwargs)


def _call_query(function: str, args: Sequence[Any], kwargs: dict[str, Any], *,
                statement_timeout: str | None = None) -> tuple[bytes, list[Any]]:
    """``SELECT * FROM pliers.<function>(...)`` and its parameters; ValueError for a bad name."""
    params = [_value(v) for v in args] + [_value(v) for v in kwargs.values()]
    query = _call_sql(_function_name(function), len(args), tuple(kwargs),
                      statement_timeout is not None)
    return query, params if statement_timeout is None else [*params, statement_timeout]


@functools.lru_cache(maxsize=1024)
def _call_sql(name: str, positional: int, keywords: tuple[str, ...], timeout: bool) -> bytes:
    """The text of a call, composed once per shape: composing costs more than the call's
    share of a pipeline. Names are ^[a-z][a-z0-9_]*$, so no connection is needed to quote."""
    arguments: list[sql.Composable] = [sql.Placeholder() for _ in range(positional)]
    arguments += [sql.SQL("{} => {}").format(sql.Identifier(_argument_name(key)),
                                             sql.Placeholder())
                  for key in keywords]
    call = sql.SQL("{}({})").format(sql.Identifier("pliers", name),
                                    sql.SQL(", ").join(arguments))
    if not timeout:
        return sql.SQL("SELECT * FROM {}").format(call).as_bytes(None)
    # the transaction's timeout in the same statement as its context
    return sql.SQL("SELECT f.* FROM {} AS f, "
                   "pg_catalog.set_config('statement_timeout', {}, true) AS t"
                   ).format(call, sql.Placeholder()).as_bytes(None)


def _send(conn: Connection, query: bytes, params: list[Any]) -> DictCursor:
    """Execute; in a pipeline, only queue: the rows are there after the sync."""
    cur = conn.cursor(row_factory=dict_row)
    cur.execute(query, params)
    return cur


def _rows(cur: DictCursor) -> Rows:
    return cur.fetchall() if cur.description is not None else []


@contextmanager
def logged(function: str) -> Iterator[None]:
    """Log a call of the SQL API at DEBUG on logger ``pliersdb``: its function and
    duration, never its arguments (they hold personal data)."""
    start = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    finally:
        call_logger.debug("pliers.%s %s in %.1f ms", function, outcome,
                          (time.perf_counter() - start) * 1000)


class SessionBase(Generic[S, C]):
    """What Session and AsyncSession share: their connection (of type C), who the
    session acts as, ``organization_id`` and ``user_id`` (None in a
    ``Database.transaction()``), ``api_key_id`` and ``scopes`` (set by
    ``Database.with_api_key()``), and its API groups (``forms``...; their methods run on
    S, a sync or an async caller; ``submissions`` differs)."""

    def __init__(self, connection: C) -> None:
        self._connection: C | None = connection
        self.organization_id: UUID | None = None
        self.user_id: UUID | None = None
        self.api_key_id: UUID | None = None
        self.scopes: tuple[str, ...] = ()

    @property
    def connection(self) -> C:
        """The psycopg connection, inside the session's transaction."""
        if self._connection is None:
            raise RuntimeError("the session has ended: its connection is back in the pool")
        return self._connection

    def _end(self) -> None:
        self._connection = None

    @property
    def _caller(self) -> S:
        return cast(S, self)  # a Session is a Caller, an AsyncSession an AsyncCaller

    @property
    def forms(self) -> Forms[S]:
        """The form API in this session (pliersdb.forms)."""
        from pliersdb.forms import Forms

        return Forms(self._caller)

    @property
    def choice_lists(self) -> ChoiceLists[S]:
        """Shared choice lists and CSV data sets in this session (pliersdb.choice_lists)."""
        from pliersdb.choice_lists import ChoiceLists

        return ChoiceLists(self._caller)

    @property
    def executions(self) -> Executions[S]:
        """Workflow executions in this session (pliersdb.executions)."""
        from pliersdb.executions import Executions

        return Executions(self._caller)

    @property
    def workflows(self) -> Workflows[S]:
        """Workflow definitions and their lifecycle in this session (pliersdb.workflows)."""
        from pliersdb.workflows import Workflows

        return Workflows(self._caller)

    @property
    def jobs(self) -> Jobs[S]:
        """The tenant's job queue in this session (pliersdb.jobs)."""
        from pliersdb.jobs import Jobs

        return Jobs(self._caller)

    @property
    def organization(self) -> OrganizationApi[S]:
        """The organization of this session's context (pliersdb.organizations)."""
        from pliersdb.organizations import OrganizationApi

        return OrganizationApi(self._caller)

    @property
    def users(self) -> Users[S]:
        """The user API in this session (pliersdb.users)."""
        from pliersdb.users import Users

        return Users(self._caller)

    @property
    def teams(self) -> Teams[S]:
        """The team API in this session (pliersdb.teams)."""
        from pliersdb.teams import Teams

        return Teams(self._caller)

    @property
    def access(self) -> Access[S]:
        """Role assignments, form collaborators, effective permissions (pliersdb.access)."""
        from pliersdb.access import Access

        return Access(self._caller)

    @property
    def api_keys(self) -> ApiKeys[S]:
        """The API-key API in this session (pliersdb.api_keys)."""
        from pliersdb.api_keys import ApiKeys

        return ApiKeys(self._caller)


@dataclass(frozen=True)
class Context:
    """What opens a unit of work after its BEGIN, in the same round trip: ``query`` (none
    for a transaction without statement timeout) and ``apply``, which reads its rows
    into the session once the pipeline is synced (or raises)."""

    query: bytes | None
    params: list[Any]
    apply: Callable[[SessionBase[Any, Any], Rows], None]


def _ignore(session: SessionBase[Any, Any], rows: Rows) -> None:
    """The rows of a context statement that tells nothing more."""


def _plain_context(timeout: str | None) -> Context:
    """A transaction without tenant context: only the statement timeout."""
    if timeout is None:
        return Context(None, [], _ignore)
    return Context(b"SELECT pg_catalog.set_config('statement_timeout', %s, true)",
                   [timeout], _ignore)


def _tenant_context(organization_id: UUID | str | None, user_id: UUID | str | None,
                    timeout: str | None, who: dict[str, Any]) -> Context:
    """``pliers.set_context(org, user, ...)``: the session gets the tenant's ids."""
    org, user = _optional_uuid(organization_id), _optional_uuid(user_id)
    query, params = _call_query("set_context", (org, user), who, statement_timeout=timeout)

    def apply(session: SessionBase[Any, Any], rows: Rows) -> None:
        session.organization_id, session.user_id = org, user

    return Context(query, params, apply)


def _key_context(key: str, timeout: str | None, who: dict[str, Any]) -> Context:
    """``pliers.authenticate_api_key(key, ...)``: the session gets the key's organization,
    user, id and scopes; PermissionDenied without a row."""
    query, params = _call_query("authenticate_api_key", (key,), who, statement_timeout=timeout)

    def apply(session: SessionBase[Any, Any], rows: Rows) -> None:
        if len(rows) != 1:
            raise errors.PermissionDenied("invalid API key", {"object": "api_key"})
        row = rows[0]
        session.organization_id = _as_uuid(row["organization_id"])
        session.user_id = _optional_uuid(row["user_id"])
        session.api_key_id = _as_uuid(row["api_key_id"])
        session.scopes = tuple(row["scopes"] or ())

    return Context(query, params, apply)


def _statement_timeout(seconds: float | None) -> str | None:
    """The statement_timeout setting of every transaction (``30000ms``), None for the
    server's; ValueError for a value that is neither positive nor None."""
    if seconds is None:
        return None
    if not seconds > 0:
        raise ValueError(f"statement_timeout must be positive seconds or None, not {seconds!r}")
    return f"{round(seconds * 1000)}ms"


def pool_options(*, min_size: int, max_size: int, timeout: float,
                 prepare_threshold: int | None, name: str | None, connect_timeout: int,
                 max_lifetime: float, max_idle: float,
                 configure: Callable[[Any], Any] | None) -> dict[str, Any]:
    """The arguments of a psycopg_pool pool of Database or AsyncDatabase, but its conninfo
    and its check and reset."""
    if not connect_timeout >= 1:
        raise ValueError(f"connect_timeout must be at least 1 second, not {connect_timeout!r}")
    return {"kwargs": {"autocommit": True, "prepare_threshold": prepare_threshold,
                       "connect_timeout": connect_timeout},
            "min_size": min_size, "max_size": max_size, "timeout": timeout, "name": name,
            "max_lifetime": max_lifetime, "max_idle": max_idle, "configure": configure}


def first_wait(pool: ConnectionPool[Any] | AsyncConnectionPool[Any],
               connect: dict[str, Any]) -> float:
    """How long a unit waits for a pooled connection before finding out, by a connection
    of its own (``connect``: its arguments), whether the server can be reached at all."""
    return min(pool.timeout, float(connect["connect_timeout"]))


def unavailable(exc: psycopg.OperationalError) -> errors.DatabaseUnavailable:
    """The DatabaseUnavailable of a failed connection ``exc`` (raise it from ``exc``)."""
    return errors.DatabaseUnavailable(f"cannot connect to the database: {exc}")


def _borrow(pool: ConnectionPool[Connection], conninfo: str,
            connect: dict[str, Any]) -> Connection:
    """A connection of the pool; DatabaseUnavailable, soon, if the server cannot be reached.

    The pool retries a server that is down in the background, and a borrower would wait
    its whole ``timeout``: after ``connect_timeout`` without a connection, one direct
    connection tells a server down (its error is the cause) from a pool that is busy
    (the wait goes on, up to ``timeout``)."""
    deadline = time.monotonic() + pool.timeout
    try:
        return pool.getconn(first_wait(pool, connect))
    except PoolTimeout:
        try:
            psycopg.connect(conninfo, **connect).close()
        except psycopg.OperationalError as exc:
            raise unavailable(exc) from exc
        return pool.getconn(max(deadline - time.monotonic(), 0.001))


class Session(SessionBase[Caller, Connection]):
    """One transaction on one pooled connection, with or without a tenant context.

    Valid only inside its ``with`` block; afterwards every method raises RuntimeError.
    ``organization_id`` and ``user_id`` are None in a ``Database.transaction()``;
    ``api_key_id`` and ``scopes`` are set by ``Database.with_api_key()``.
    """

    @property
    def submissions(self) -> Submissions:
        """The submission API in this session (pliersdb.submissions)."""
        from pliersdb.submissions import Submissions

        return Submissions(self)

    def call(self, function: str, *args: Any, **kwargs: Any) -> Rows:
        """Rows of ``SELECT * FROM pliers.<function>(args..., p_<name> => value, ...)``.

        ``function`` must be a public API name (``^[a-z][a-z0-9_]*$``); keyword
        ``name=value`` passes the SQL argument ``p_name``. Identifiers go through
        psycopg.sql.Identifier, values only as parameters (a dict as jsonb).
        The context functions (set_context, authenticate_api_key) are refused: the
        context is opened by Database.tenant() / with_api_key(), once per transaction.
        """
        query, params = _api_call(function, args, kwargs)
        with logged(function), errors.mapped(), _send(self.connection, query, params) as cur:
            return _rows(cur)

    def call_one(self, function: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The one row of ``call(...)``: NotFound if none, ValueError if several."""
        return one_row(function, self.call(function, *args, **kwargs))

    def execute(self, query: Query, params: Params | None = None) -> psycopg.Cursor[TupleRow]:
        """``connection.execute(query, params)``, with PL errors mapped."""
        with errors.mapped():
            return self.connection.execute(query, params)


@contextmanager
def _pipeline(conn: Connection) -> Iterator[None]:
    """``conn.pipeline()``, raising its first error. An error read back while statements
    are still being queued is held until the sync: let out of the block, psycopg would log
    the PipelineAborted of every statement skipped after it as a warning."""
    failed: psycopg.Error | None = None
    try:
        with conn.pipeline():
            try:
                yield
            except psycopg.Error as exc:
                failed = exc
    except psycopg.errors.PipelineAborted:
        if failed is None:
            raise
    if failed is not None:
        raise failed


def _abort(conn: Connection, tx: psycopg.Transaction, exc: BaseException) -> bool:
    """Roll back after ``exc``; True if the transaction swallows it (psycopg.Rollback)."""
    if conn.broken:
        return False  # nothing to roll back: the pool discards the connection
    if tx.status == tx.Status.ACTIVE:
        return tx.__exit__(type(exc), exc, exc.__traceback__)
    if conn.pgconn.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        # The COMMIT was queued behind the statement that failed, so the server skipped
        # it. A rollback that fails leaves the connection to the pool, which discards it.
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
    return False


def _begin(conn: Connection, tx: psycopg.Transaction, read_only: bool,
           context: Context) -> DictCursor | None:
    """Queue BEGIN, read-only for a replica unit, and the context statement, in the
    current pipeline; the cursor of the context statement."""
    tx.__enter__()
    if read_only:
        conn.execute(_READ_ONLY)
    return None if context.query is None else _send(conn, context.query, context.params)


def _commit(conn: Connection, tx: psycopg.Transaction, lsn: bool
            ) -> tuple[psycopg.Cursor[TupleRow], psycopg.Cursor[TupleRow] | None]:
    """Queue the COMMIT, then the pool's leak check and, if ``lsn``, the query of the WAL
    position after the commit, in the current pipeline."""
    tx.__exit__(None, None, None)
    check = conn.execute(_LEAKED_SETTINGS, LEAK_PARAMS)
    return check, conn.execute(_COMMIT_LSN) if lsn else None


def _committed(conn: AnyConnection, leaked: list[TupleRow]) -> None:
    """After the sync of _commit, with the rows of its leak check: spare _reset its
    query, or refuse the connection."""
    try:
        _refuse_leaks(leaked)
    except ContextLeak:
        return  # not marked: _reset asks again, and the pool closes the connection
    _CHECKED.add(conn)


# The error of a block that swallowed a database error and ended normally: it would
# "commit" an aborted transaction, which the server silently turns into a ROLLBACK.
ABORTED_IN_BLOCK = ("the transaction was aborted by an error caught inside the block; "
                    "it has been rolled back")


class UnitOfWork:
    """A transaction in a context, as a ``with`` block or as one ``call()``.

    What ``Database.tenant()``, ``with_api_key()`` and ``transaction()`` return.
    ``with unit as session:`` opens the transaction (BEGIN and the context in one round
    trip), runs the block, commits (one more round trip) or rolls back. ``unit.call(...)``
    sends BEGIN, the context, the call and COMMIT in one pipeline: one round trip. Each
    ``with`` and each ``call()`` is a transaction of its own.
    """

    def __init__(self, database: Database, context: Context,
                 replica: _Replica | None = None) -> None:
        self._database = database
        self._context = context
        self._replica = replica
        self._block: AbstractContextManager[Session] | None = None

    def __enter__(self) -> Session:
        if self._block is not None:
            raise RuntimeError("this unit of work is already open: use another")
        block = self._database._block(self._context, self._replica)
        session = block.__enter__()
        self._block = block
        return session

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> bool | None:
        block, self._block = self._block, None
        assert block is not None, "__exit__ without __enter__"
        return block.__exit__(exc_type, exc, traceback)

    def call(self, function: str, /, *args: Any, **kwargs: Any) -> Rows:
        """``Session.call(function, ...)`` as a whole transaction, in one round trip.

        The context's errors and the call's are raised as in a ``with`` block; after
        one, nothing is written and the connection goes back to the pool idle.
        """
        with logged(function):
            return self._database._call(self._context, self._replica, function, args, kwargs)

    def call_one(self, function: str, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The one row of ``call(...)``: NotFound if none, ValueError if several."""
        return one_row(function, self.call(function, *args, **kwargs))


class EachTransaction:
    """The caller of ``db.platform``: each call a transaction of its own."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def call(self, function: str, /, *args: Any, **kwargs: Any) -> Rows:
        return self._database.transaction().call(function, *args, **kwargs)


class Database:
    """A pool of connections to a pliers database; the entry point of the library.

    ``dsn`` is resolved like the CLI's (argument, PLIERSDB_DSN, DATABASE_URL, else
    the embedded server). The application should connect as a LOGIN role that is
    a member of ``pliers_app`` (never a superuser or the owner: both bypass RLS).
    ``statement_timeout`` (seconds, default 30) bounds every statement of every
    transaction the pool opens (``SET LOCAL``); ``None`` leaves the server's setting.

    ``replica_dsn`` names a hot standby of the same database (the same login role):
    units of work opened with ``replica=True`` run there, read-only. Replay lags, so
    they may not see recent commits, unless ``read_your_writes``: then a replica unit
    first waits until the standby has replayed the last commit of this Database. A
    replica unit waits at most ``replica_timeout`` seconds for a standby connection
    and for its replay, then runs read-only on the primary instead; after a failed
    connection, replica units go to the primary for ``replica_retry`` seconds.
    """

    def __init__(self, dsn: str | None = None, *, min_size: int = 1, max_size: int = 10,
                 timeout: float = 30.0, prepare_threshold: int | None = 5,
                 name: str | None = None, statement_timeout: float | None = 30.0,
                 connect_timeout: int = 3, max_lifetime: float = 3600.0,
                 max_idle: float = 600.0, configure: Callable[[Connection], None] | None = None,
                 replica_dsn: str | None = None, read_your_writes: bool = False,
                 replica_timeout: float = 1.0, replica_retry: float = 5.0) -> None:
        self._timeout = _statement_timeout(statement_timeout)
        if not replica_timeout > 0 or not replica_retry >= 0:
            raise ValueError("replica_timeout must be positive seconds and replica_retry "
                             f"not negative, not {replica_timeout!r} and {replica_retry!r}")
        if replica_dsn is not None:
            conninfo_to_dict(replica_dsn)  # a malformed DSN fails here, not in the pool
        options = pool_options(
            min_size=min_size, max_size=max_size, timeout=timeout,
            prepare_threshold=prepare_threshold, name=name, connect_timeout=connect_timeout,
            max_lifetime=max_lifetime, max_idle=max_idle, configure=configure)
        self._connect: dict[str, Any] = options["kwargs"]
        self.statement_timeout = statement_timeout
        self.dsn = dsnlib.resolve(dsn)
        self.replica_dsn = replica_dsn
        self.read_your_writes = read_your_writes
        self.replica_timeout = replica_timeout
        self.replica_retry = replica_retry
        self._lock = threading.Lock()
        self._commit_lsn = 0  # the primary's WAL position after our last commit there
        self._replayed_lsn = 0  # the most the standby is known to have replayed
        self._replica_down_until = 0.0  # time.monotonic() before which units skip it

        self.pool: ConnectionPool[Connection] = ConnectionPool(
            self.dsn, check=_check_idle, reset=_reset, open=True, **options)
        # Its own borrowing timeout: a standby that is down costs a read replica_timeout.
        self.replica_pool: ConnectionPool[Connection] | None = None
        if replica_dsn is not None:
            self.replica_pool = ConnectionPool(
                replica_dsn, check=_check_idle, reset=_reset, open=True, **{
                    **options, "timeout": replica_timeout,
                    "name": None if name is None else f"{name}-replica"})

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pools and their connections."""
        if self.replica_pool is not None:
            self.replica_pool.close()
        self.pool.close()

    @property
    def last_commit_lsn(self) -> str | None:
        """The primary's WAL position right after the last transaction this Database
        committed there, as PostgreSQL writes an LSN (``0/3000148``); None before the
        first one, or without ``replica_dsn``. Pass it as ``after_lsn`` (in another
        process, say) to read those writes on a replica."""
        return _lsn_text(self._commit_lsn) if self._commit_lsn else None

    @contextmanager
    def _connection(self, replica: bool) -> Iterator[Connection]:
        """A connection of the primary's pool, or the replica's, in autocommit, with PL
        errors mapped (``pool.connection()``, borrowed by _borrow)."""
        pool, conninfo = (self.replica_pool, self.replica_dsn) if replica else (self.pool, self.dsn)
        assert pool is not None and conninfo is not None, "a replica unit without replica_dsn"
        conn = _borrow(pool, conninfo, self._connect)
        try:
            with conn, errors.mapped():
                if not conn.autocommit:  # pragma: no cover - the check refuses such connections
                    raise ContextLeak("pooled connection is not in autocommit")
                yield conn
        finally:
            pool.putconn(conn)

    @contextmanager
    def _opened(self, replica: _Replica | None,
                begin: Callable[[Connection, bool], T]) -> Iterator[tuple[Connection, T]]:
        """A pooled connection, and what ``begin(conn, read_only)`` returned after opening
        a transaction on it: the one place that chooses primary or standby.

        A primary unit (``replica`` None) runs on the primary. A replica unit runs
        read-only on the standby, once it has replayed what the unit must see; when the
        standby cannot serve it (no connection within replica_timeout, a broken one,
        replay behind after replica_timeout), on the primary, read-only too. Only the
        opening is retried there: a standby lost later in a block raises.
        """
        if (replica is not None and self.replica_pool is not None
                and time.monotonic() >= self._replica_down_until):
            with contextlib.ExitStack() as stack:
                conn: Connection | None = None
                try:
                    conn = stack.enter_context(self._connection(replica=True))
                    self._await_replay(conn, replica.after)
                    opened = begin(conn, True)
                except (PoolTimeout, errors.DatabaseUnavailable) as exc:
                    self._replica_failed(exc)
                except _NotReplayed as exc:
                    logger.warning("replica read on the primary: %s", exc)
                except psycopg.OperationalError as exc:
                    if conn is None or not conn.broken:
                        raise  # the server's answer (a cancel, a timeout): not a failover
                    self._replica_failed(exc)
                else:
                    yield conn, opened
                    return
        with self._connection(replica=False) as conn:
            yield conn, begin(conn, replica is not None)

    def _await_replay(self, conn: Connection, after: int) -> None:
        """Return once the standby of ``conn`` has replayed ``after`` and, with
        read_your_writes, our last commit; poll (1 ms, doubling to 50 ms) up to
        replica_timeout, then raise _NotReplayed. No query if it is known replayed."""
        target = max(after, self._commit_lsn if self.read_your_writes else 0)
        if target <= self._replayed_lsn:
            return
        deadline = time.monotonic() + self.replica_timeout
        pause = 0.001
        while True:
            row = conn.execute(_REPLAYED_LSN).fetchone()
            if row is None or row[0] is None:
                raise _NotReplayed("replica_dsn is not a standby (no replay position)")
            replayed = _lsn(row[0])
            with self._lock:
                self._replayed_lsn = max(self._replayed_lsn, replayed)
            if replayed >= target:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise _NotReplayed(f"the standby replayed {row[0]}, not {_lsn_text(target)}, "
                                   f"within {self.replica_timeout}s")
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    def _replica_failed(self, exc: Exception) -> None:
        self._replica_down_until = time.monotonic() + self.replica_retry
        logger.warning("replica unavailable, replica reads go to the primary for %ss: %s",
                       self.replica_retry, exc)

    def _committed_lsn(self, cursor: psycopg.Cursor[TupleRow] | None) -> None:
        """Keep the WAL position of a commit, read by ``_commit``'s query."""
        row = None if cursor is None else cursor.fetchone()
        if row is not None:
            with self._lock:
                self._commit_lsn = max(self._commit_lsn, _lsn(row[0]))

    def _tracks_commits(self, replica: _Replica | None) -> bool:
        """Whether a unit's commit position is kept: a primary unit, given a replica."""
        return replica is None and self.replica_pool is not None

    @contextmanager
    def _block(self, context: Context, replica: _Replica | None) -> Iterator[Session]:
        """A Session in one transaction: COMMIT on success, ROLLBACK on error.

        The transaction is psycopg's (``conn.transaction()``: nested ones are savepoints,
        an explicit commit is refused), entered by hand because ``conn.transaction()``
        syncs a pipeline on the way in. A block that swallowed a database error and ended
        normally raises InFailedSqlTransaction (ABORTED_IN_BLOCK) instead of losing the
        writes.
        """
        def begin(conn: Connection, read_only: bool) -> tuple[Session, psycopg.Transaction]:
            session = Session(conn)
            tx = psycopg.Transaction(conn)
            try:
                with _pipeline(conn):  # BEGIN and the context: one round trip
                    cur = _begin(conn, tx, read_only, context)
                context.apply(session, [] if cur is None else _rows(cur))
            except BaseException as exc:
                session._end()
                _abort(conn, tx, exc)
                raise
            return session, tx

        with self._opened(replica, begin) as (conn, (session, tx)):
            try:
                yield session
                if conn.pgconn.transaction_status == TransactionStatus.INERROR:
                    raise psycopg.errors.InFailedSqlTransaction(ABORTED_IN_BLOCK)
            except BaseException as exc:
                session._end()
                if _abort(conn, tx, exc):
                    return
                raise
            session._end()
            with _pipeline(conn):  # COMMIT and the leak check: one round trip
                check, lsn = _commit(conn, tx, self._tracks_commits(replica))
            _committed(conn, check.fetchall())
            self._committed_lsn(lsn)

    def _call(self, context: Context, replica: _Replica | None, function: str,
              args: Sequence[Any], kwargs: dict[str, Any]) -> Rows:
        """BEGIN, the context, the call, COMMIT and the leak check in one pipeline sync.
        The context's rows are not read: the call runs in its context."""
        query, params = _api_call(function, args, kwargs)  # refused before anything is sent
        track = self._tracks_commits(replica)

        def begin(conn: Connection, read_only: bool) -> tuple[
                DictCursor, psycopg.Cursor[TupleRow], psycopg.Cursor[TupleRow] | None]:
            tx = psycopg.Transaction(conn)
            try:
                with _pipeline(conn):
                    _begin(conn, tx, read_only, context)
                    cur = _send(conn, query, params)
                    check, lsn = _commit(conn, tx, track)
            except BaseException as exc:
                _abort(conn, tx, exc)
                raise
            return cur, check, lsn

        with self._opened(replica, begin) as (conn, (cur, check, lsn)):
            _committed(conn, check.fetchall())
            self._committed_lsn(lsn)
            return _rows(cur)

    @staticmethod
    def _replica(replica: bool, after_lsn: str | None) -> _Replica | None:
        if not replica:
            if after_lsn is not None:
                raise ValueError("after_lsn is for replica=True units: the primary is current")
            return None
        return _Replica(0 if after_lsn is None else _lsn(after_lsn))

    @property
    def platform(self) -> Platform:
        """Provisioning of organizations (pliersdb.organizations.Platform), for a Database
        whose login is a member of pliers_platform: each call is one transaction."""
        from pliersdb.organizations import Platform

        return Platform(EachTransaction(self))

    def transaction(self, *, replica: bool = False, after_lsn: str | None = None) -> UnitOfWork:
        """A transaction without tenant context, for administration and maintenance.

        Under pliers_app, RLS shows nothing of tenant tables here; use it for global
        tables and maintenance functions, or as an owner/admin role. ``replica`` and
        ``after_lsn`` as in ``tenant()``.
        """
        return UnitOfWork(self, _plain_context(self._timeout), self._replica(replica, after_lsn))

    def tenant(self, organization_id: UUID | str | None, user_id: UUID | str | None, *,
               session_id: UUID | str | None = None, ip_address: IPAddress | None = None,
               user_agent: str | None = None, correlation_id: UUID | str | None = None,
               replica: bool = False, after_lsn: str | None = None) -> UnitOfWork:
        """A transaction in the context of one user of one organization.

        Raises NoTenantContext (PL008) without organization or user (None), and
        PermissionDenied (PL006) if the user is not an active member of the organization:
        ``pliers.set_context`` decides, the library does not re-implement the rule.

        ``replica=True``: a READ ONLY transaction on the replica (see ``Database``), or
        on the primary when there is none or it cannot serve; a write in it raises
        ``psycopg.errors.ReadOnlySqlTransaction``. ``after_lsn`` (a ``last_commit_lsn``)
        makes it wait, as read_your_writes does, until the standby has replayed it.
        """
        context = _tenant_context(organization_id, user_id, self._timeout, {
            "session_id": session_id, "ip_address": ip_address, "user_agent": user_agent,
            "correlation_id": correlation_id})
        return UnitOfWork(self, context, self._replica(replica, after_lsn))

    def with_api_key(self, key: str, *, session_id: UUID | str | None = None,
                     ip_address: IPAddress | None = None, user_agent: str | None = None,
                     correlation_id: UUID | str | None = None, replica: bool = False,
                     after_lsn: str | None = None) -> UnitOfWork:
        """A transaction in the context of an API key's organization.

        The Session carries the key's organization_id, user_id, api_key_id and scopes.
        Raises PermissionDenied (PL006) for an unknown, revoked or expired key.
        ``replica`` and ``after_lsn`` as in ``tenant()`` (on the standby the key's
        ``last_used_at`` is not updated).
        """
        context = _key_context(key, self._timeout, {
            "session_id": session_id, "ip_address": ip_address, "user_agent": user_agent,
            "correlation_id": correlation_id})
        return UnitOfWork(self, context, self._replica(replica, after_lsn))
