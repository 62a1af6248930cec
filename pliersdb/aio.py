"""The async API: ``pliersdb.connect_async`` and ``AsyncDatabase``, over
``psycopg_pool.AsyncConnectionPool``.

    async with await pliersdb.connect_async(dsn) as db:
        async with db.tenant(org_id, user_id) as t:
            form = await t.forms.create("Intake", "intake", definition)
        rows = await db.tenant(org_id, user_id).call("list_forms")

The same units of work as ``Database`` (pliersdb.db), awaited: ``tenant()``,
``with_api_key()`` and ``transaction()``; ``async with unit as session`` opens the
transaction (BEGIN and the context in one round trip) and commits it (COMMIT and the
leak check in one more), ``await unit.call(...)`` is one round trip. The same statement
timeout, pool check and reset (ContextLeak), PL error mapping, InFailedSqlTransaction
rule and DatabaseUnavailable. Each API group (``session.forms``...) is the one of the
sync API (pliersdb._api runs its plans here with ``await``). Not here: replicas
(``replica_dsn``, ``replica=True``, ``after_lsn``, ``read_your_writes``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.abc import Params
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pliersdb import dsn as dsnlib
from pliersdb import errors
from pliersdb._api import AsyncCaller, Rows, one_row
from pliersdb.db import (
    _LEAKED_SETTINGS,
    ABORTED_IN_BLOCK,
    LEAK_PARAMS,
    Context,
    IPAddress,
    Query,
    SessionBase,
    _api_call,
    _committed,
    _key_context,
    _not_idle,
    _plain_context,
    _refuse_leaks,
    _returned,
    _statement_timeout,
    _tenant_context,
    first_wait,
    logged,
    pool_options,
    unavailable,
)

if TYPE_CHECKING:
    from pliersdb.organizations import AsyncPlatform
    from pliersdb.submissions import AsyncSubmissions

__all__ = ["AsyncDatabase", "AsyncSession", "AsyncUnitOfWork", "connect_async"]

AsyncConnection = psycopg.AsyncConnection[TupleRow]
DictCursor = psycopg.AsyncCursor[dict[str, Any]]


async def _check_idle(conn: AsyncConnection) -> None:
    leak = _not_idle(conn)
    if leak is not None:
        await conn.close()
        raise leak


async def _reset(conn: AsyncConnection) -> None:
    if _returned(conn):
        cur = await conn.execute(_LEAKED_SETTINGS, LEAK_PARAMS)
        _refuse_leaks(await cur.fetchall())


async def _send(conn: AsyncConnection, query: bytes, params: list[Any]) -> DictCursor:
    """Execute; in a pipeline, only queue: the rows are there after the sync."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    return cur


async def _rows(cur: DictCursor) -> Rows:
    return await cur.fetchall() if cur.description is not None else []


@asynccontextmanager
async def _pipeline(conn: AsyncConnection) -> AsyncIterator[None]:
    """``conn.pipeline()``, raising its first error (pliersdb.db._pipeline says why)."""
    failed: psycopg.Error | None = None
    try:
        async with conn.pipeline():
            try:
                yield
            except psycopg.Error as exc:
                failed = exc
    except psycopg.errors.PipelineAborted:
        if failed is None:
            raise
    if failed is not None:
        raise failed


async def _abort(conn: AsyncConnection, tx: psycopg.AsyncTransaction,
                 exc: BaseException) -> bool:
    """Roll back after ``exc``; True if the transaction swallows it (psycopg.Rollback)."""
    if conn.broken:
        return False
    if tx.status == tx.Status.ACTIVE:
        return await tx.__aexit__(type(exc), exc, exc.__traceback__)
    if conn.pgconn.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        with contextlib.suppress(psycopg.Error):
            await conn.rollback()
    return False


async def _begin(conn: AsyncConnection, tx: psycopg.AsyncTransaction,
                 context: Context) -> DictCursor | None:
    """Queue BEGIN and the context statement in the current pipeline."""
    await tx.__aenter__()
    return None if context.query is None else await _send(conn, context.query, context.params)


async def _commit(conn: AsyncConnection,
                  tx: psycopg.AsyncTransaction) -> psycopg.AsyncCursor[TupleRow]:
    """Queue the COMMIT and the pool's leak check in the current pipeline."""
    await tx.__aexit__(None, None, None)
    return await conn.execute(_LEAKED_SETTINGS, LEAK_PARAMS)


class AsyncSession(SessionBase[AsyncCaller, AsyncConnection]):
    """``pliersdb.db.Session``, awaited: one transaction on one pooled connection.

    Valid only inside its ``async with`` block. Its API groups are those of Session,
    their methods awaited; ``submissions`` is an ``AsyncSubmissions``.
    """

    @property
    def submissions(self) -> AsyncSubmissions:
        """The submission API in this session (pliersdb.submissions)."""
        from pliersdb.submissions import AsyncSubmissions

        return AsyncSubmissions(self)

    async def call(self, function: str, *args: Any, **kwargs: Any) -> Rows:
        """``Session.call``, awaited."""
        query, params = _api_call(function, args, kwargs)
        with logged(function), errors.mapped():
            return await _rows(await _send(self.connection, query, params))

    async def call_one(self, function: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The one row of ``call(...)``: NotFound if none, ValueError if several."""
        return one_row(function, await self.call(function, *args, **kwargs))

    async def execute(self, query: Query,
                      params: Params | None = None) -> psycopg.AsyncCursor[TupleRow]:
        """``await connection.execute(query, params)``, with PL errors mapped."""
        with errors.mapped():
            return await self.connection.execute(query, params)


class AsyncUnitOfWork:
    """``pliersdb.db.UnitOfWork``, awaited: ``async with unit as session`` or
    ``await unit.call(...)`` (one round trip)."""

    def __init__(self, database: AsyncDatabase, context: Context) -> None:
        self._database = database
        self._context = context
        self._block: AbstractAsyncContextManager[AsyncSession] | None = None

    async def __aenter__(self) -> AsyncSession:
        if self._block is not None:
            raise RuntimeError("this unit of work is already open: use another")
        block = self._database._block(self._context)
        session = await block.__aenter__()
        self._block = block
        return session

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> bool | None:
        block, self._block = self._block, None
        assert block is not None, "__aexit__ without __aenter__"
        return await block.__aexit__(exc_type, exc, traceback)

    async def call(self, function: str, /, *args: Any, **kwargs: Any) -> Rows:
        """``UnitOfWork.call``, awaited: a whole transaction in one round trip."""
        with logged(function):
            return await self._database._call(self._context, function, args, kwargs)

    async def call_one(self, function: str, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The one row of ``call(...)``: NotFound if none, ValueError if several."""
        return one_row(function, await self.call(function, *args, **kwargs))


class _EachTransaction:
    """The caller of ``AsyncDatabase.platform``: each call a transaction of its own."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._database = database

    async def call(self, function: str, /, *args: Any, **kwargs: Any) -> Rows:
        return await self._database.transaction().call(function, *args, **kwargs)


class AsyncDatabase:
    """``pliersdb.db.Database`` over an ``AsyncConnectionPool``, without replicas.

    Open it before use: ``await db.open()``, or ``async with db``, or get it opened
    from ``await connect_async(...)``; close it with ``await db.close()``. The options
    are those of Database (``connect`` documents them).
    """

    def __init__(self, dsn: str | None = None, *, min_size: int = 1, max_size: int = 10,
                 timeout: float = 30.0, prepare_threshold: int | None = 5,
                 name: str | None = None, statement_timeout: float | None = 30.0,
                 connect_timeout: int = 3, max_lifetime: float = 3600.0,
                 max_idle: float = 600.0,
                 configure: Callable[[AsyncConnection], Awaitable[None]] | None = None) -> None:
        self._timeout = _statement_timeout(statement_timeout)
        options = pool_options(
            min_size=min_size, max_size=max_size, timeout=timeout,
            prepare_threshold=prepare_threshold, name=name, connect_timeout=connect_timeout,
            max_lifetime=max_lifetime, max_idle=max_idle, configure=configure)
        self._connect: dict[str, Any] = options["kwargs"]
        self.statement_timeout = statement_timeout
        self.dsn = dsnlib.resolve(dsn)
        # Opened by open(): psycopg_pool deprecates opening an async pool in its constructor.
        self.pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            self.dsn, check=_check_idle, reset=_reset, open=False, **options)

    async def open(self) -> AsyncDatabase:
        """Open the pool (it connects in the background); again: nothing more."""
        await self.pool.open()
        return self

    async def close(self) -> None:
        """Close the pool and its connections."""
        await self.pool.close()

    async def __aenter__(self) -> AsyncDatabase:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _borrow(self) -> AsyncConnection:
        """A pooled connection; DatabaseUnavailable soon if the server cannot be reached
        (pliersdb.db._borrow says how)."""
        deadline = time.monotonic() + self.pool.timeout
        try:
            return await self.pool.getconn(first_wait(self.pool, self._connect))
        except PoolTimeout:
            try:
                await (await psycopg.AsyncConnection.connect(self.dsn, **self._connect)).close()
            except psycopg.OperationalError as exc:
                raise unavailable(exc) from exc
            return await self.pool.getconn(max(deadline - time.monotonic(), 0.001))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection in autocommit, with PL errors mapped."""
        conn = await self._borrow()
        try:
            async with conn:
                with errors.mapped():
                    yield conn
        finally:
            await self.pool.putconn(conn)

    @asynccontextmanager
    async def _block(self, context: Context) -> AsyncIterator[AsyncSession]:
        """An AsyncSession in one transaction: COMMIT on success, ROLLBACK on error
        (Database._block, awaited)."""
        async with self._connection() as conn:
            session = AsyncSession(conn)
            tx = psycopg.AsyncTransaction(conn)
            try:
                async with _pipeline(conn):  # BEGIN and the context: one round trip
                    cur = await _begin(conn, tx, context)
                context.apply(session, [] if cur is None else await _rows(cur))
            except BaseException as exc:
                session._end()
                await _abort(conn, tx, exc)
                raise
            try:
                yield session
                if conn.pgconn.transaction_status == TransactionStatus.INERROR:
                    raise psycopg.errors.InFailedSqlTransaction(ABORTED_IN_BLOCK)
            except BaseException as exc:
                session._end()
                if await _abort(conn, tx, exc):
                    return
                raise
            session._end()
            async with _pipeline(conn):  # COMMIT and the leak check: one round trip
                check = await _commit(conn, tx)
            _committed(conn, await check.fetchall())

    async def _call(self, context: Context, function: str, args: Sequence[Any],
                    kwargs: dict[str, Any]) -> Rows:
        """BEGIN, the context, the call, COMMIT and the leak check in one pipeline sync."""
        query, params = _api_call(function, args, kwargs)  # refused before anything is sent
        async with self._connection() as conn:
            tx = psycopg.AsyncTransaction(conn)
            try:
                async with _pipeline(conn):
                    await _begin(conn, tx, context)
                    cur = await _send(conn, query, params)
                    check = await _commit(conn, tx)
            except BaseException as exc:
                await _abort(conn, tx, exc)
                raise
            _committed(conn, await check.fetchall())
            return await _rows(cur)

    @property
    def platform(self) -> AsyncPlatform:
        """``Database.platform``, awaited (pliersdb.organizations.AsyncPlatform)."""
        from pliersdb.organizations import AsyncPlatform

        return AsyncPlatform(_EachTransaction(self))

    def transaction(self) -> AsyncUnitOfWork:
        """``Database.transaction()``: a transaction without tenant context."""
        return AsyncUnitOfWork(self, _plain_context(self._timeout))

    def tenant(self, organization_id: UUID | str | None, user_id: UUID | str | None, *,
               session_id: UUID | str | None = None, ip_address: IPAddress | None = None,
               user_agent: str | None = None,
               correlation_id: UUID | str | None = None) -> AsyncUnitOfWork:
        """``Database.tenant()``: a transaction in the context of one user of one
        organization (NoTenantContext, PermissionDenied as there)."""
        return AsyncUnitOfWork(self, _tenant_context(organization_id, user_id, self._timeout, {
            "session_id": session_id, "ip_address": ip_address, "user_agent": user_agent,
            "correlation_id": correlation_id}))

    def with_api_key(self, key: str, *, session_id: UUID | str | None = None,
                     ip_address: IPAddress | None = None, user_agent: str | None = None,
                     correlation_id: UUID | str | None = None) -> AsyncUnitOfWork:
        """``Database.with_api_key()``: a transaction in the context of an API key."""
        return AsyncUnitOfWork(self, _key_context(key, self._timeout, {
            "session_id": session_id, "ip_address": ip_address, "user_agent": user_agent,
            "correlation_id": correlation_id}))


async def connect_async(dsn: str | None = None, **options: Any) -> AsyncDatabase:
    """An open ``AsyncDatabase`` on ``dsn``, with the options of ``pliersdb.connect``
    but the replica ones: ``async with await pliersdb.connect_async(dsn) as db:``."""
    return await AsyncDatabase(dsn, **options).open()
