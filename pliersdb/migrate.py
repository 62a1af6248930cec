"""Migrations: yoyo applies them; pliersdb adds a session lock, checksums, verify,
and the repair of what a failed non-transactional migration leaves.

yoyo's bookkeeping (``_yoyo_migration``, ``_yoyo_log``, ``_yoyo_version``,
``yoyo_lock``) and pliersdb's ``migration_checksums`` live in schema
``pliersdb_migrations``: never in ``pliers``, so rolling everything back leaves
``pliers`` empty, and never in ``public``.

A ``CREATE INDEX CONCURRENTLY`` (or ``DROP INDEX CONCURRENTLY``) that fails or is
killed midway leaves an INVALID index: queries ignore it, writes may still maintain
it, and a migration run again skips it (``IF NOT EXISTS``). ``migrate`` and
``rollback`` drop such indexes in pliers' schemas before they run anything and after
a non-transactional migration fails, unless another session is building an index on
the same table; ``status`` lists them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

from pliersdb import dsn as dsnlib
from pliersdb import resources

SCHEMA = "pliersdb_migrations"
# Where an invalid index is pliers' to repair.
PLIERS_SCHEMAS = ("pliers", "pliers_archive")
# pg_advisory_lock key held for the whole of migrate/rollback: a killed run
# releases it with its connection, unlike yoyo's lock row.
LOCK_KEY = 0x706C6965727364  # "pliersd"
LOCK_WAIT_SECONDS = 60

_BOOTSTRAP = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
COMMENT ON SCHEMA {SCHEMA} IS 'pliersdb migration bookkeeping (yoyo tables and checksums)';
CREATE TABLE IF NOT EXISTS {SCHEMA}.migration_checksums (
    migration_id text PRIMARY KEY,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    duration_ms integer NOT NULL
);
COMMENT ON TABLE {SCHEMA}.migration_checksums IS
    'sha256 of each applied migration file, as applied: pliersdb verify compares it';
"""


logger = logging.getLogger("pliersdb.migrate")


class MigrationError(Exception):
    """A migration failed; nothing of it remains. Names the file and the statement."""


class NotMigrated(Exception):
    """The database has no pliersdb migration applied: empty, or another application's."""

    def __init__(self) -> None:
        super().__init__("not a pliersdb database: no migration applied (run pliersdb migrate)")


# What a role needs to read the bookkeeping (status, verify, erd), as SQL to run.
READ_GRANTS = (f"GRANT USAGE ON SCHEMA {SCHEMA} TO <login>; "
               f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO <login>")


@dataclass(frozen=True)
class Status:
    migration_id: str
    applied_at: datetime | None
    on_disk: bool

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


@dataclass(frozen=True)
class Problem:
    kind: str  # edited | missing | unknown
    migration_id: str
    detail: str


@dataclass(frozen=True)
class InvalidIndex:
    """An index with pg_index.indisvalid = false in one of pliers' schemas."""

    name: str  # schema-qualified, quoted where needed
    table: str
    definition: str  # pg_get_indexdef: what to run to build it again
    building: bool  # another session runs CREATE INDEX or REINDEX on its table
    partitioned: bool  # on a partitioned table: valid once every partition's is attached

    @property
    def repairable(self) -> bool:
        """Whether migrate and rollback drop it."""
        return not (self.building or self.partitioned)

    @property
    def hint(self) -> str:
        if self.building:
            return ("another session is building an index on its table (CREATE INDEX or "
                    "REINDEX CONCURRENTLY): left alone; valid when that build ends")
        if self.partitioned:
            return ("a partitioned index: attach the missing partitions' indexes (ALTER INDEX "
                    "... ATTACH PARTITION) or DROP INDEX it; pliersdb migrate leaves it")
        return ("left by a CONCURRENTLY build or drop that failed or was killed: pliersdb "
                "migrate drops it (DROP INDEX CONCURRENTLY) before it applies anything, and "
                "a pending migration that builds it, run again, builds it anew")


# Read-only, from the catalog (readable by any role). An index being built
# CONCURRENTLY is invalid until its build ends: it counts as being built while a
# CREATE INDEX or REINDEX of this database reports progress on its table, or on a
# table this role may not see (relid is shown to the backend's own role only).
_INVALID_INDEXES = """
SELECT pg_catalog.format('%%I.%%I', n.nspname, c.relname),
       pg_catalog.format('%%I.%%I', tn.nspname, t.relname),
       pg_catalog.pg_get_indexdef(i.indexrelid),
       EXISTS (SELECT FROM pg_catalog.pg_stat_progress_create_index AS p
               WHERE p.datname = pg_catalog.current_database()
                 AND p.pid <> pg_catalog.pg_backend_pid()
                 AND (p.relid = i.indrelid OR p.relid IS NULL)),
       c.relkind = 'I'
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class AS t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.relnamespace
WHERE NOT i.indisvalid AND n.nspname = ANY (%s)
ORDER BY n.nspname, c.relname
"""


def invalid_indexes(conn: psycopg.Connection[Any]) -> list[InvalidIndex]:
    """The invalid indexes in pliers' schemas (a read-only query)."""
    return [InvalidIndex(*row) for row in conn.execute(_INVALID_INDEXES, (list(PLIERS_SCHEMAS),))]


def _has_table(conn: psycopg.Connection[Any], name: str) -> bool:
    """Whether the bookkeeping table ``name`` exists (the catalog: any role may read it)."""
    return _fetch_bool(conn, "SELECT EXISTS (SELECT FROM pg_catalog.pg_class AS c "
                             "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = %s AND c.relname = %s)", SCHEMA, name)


def _read(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    """The rows of a query on the bookkeeping; a missing privilege says what to grant."""
    try:
        return conn.execute(query).fetchall()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            f"cannot read the migration bookkeeping: {dsnlib.first_line(str(exc))} "
            f"(grant it: {READ_GRANTS})") from exc


def applied_migrations(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    """When each applied migration was applied (UTC); empty on a database without the
    bookkeeping. Only reads."""
    if not _has_table(conn, "_yoyo_migration"):
        return {}
    return dict(_read(conn, f"SELECT migration_id, applied_at_utc FROM {SCHEMA}._yoyo_migration"))


def require_migrated(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    """``applied_migrations``, or NotMigrated when there is none."""
    applied = applied_migrations(conn)
    if not applied:
        raise NotMigrated
    return applied


@contextmanager
def reading(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection in a READ ONLY transaction, without the migration lock: what a
    read-only role may run (status, verify, erd); the server refuses any write."""
    with dsnlib.connect(dsn) as conn:
        conn.read_only = True
        yield conn


def _fetch_bool(conn: psycopg.Connection[Any], query: str, *params: Any) -> bool:
    row = conn.execute(query, params).fetchone()
    return bool(row and row[0])


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def yoyo_uri(dsn: str) -> str:
    """A libpq DSN (URL or key=value) as yoyo's postgresql+psycopg:// URI."""
    params: dict[str, Any] = conninfo_to_dict(dsn)
    dbname = str(params.pop("dbname", "") or "")
    params["schema"] = SCHEMA
    query = urlencode({k: str(v) for k, v in params.items()})
    return f"postgresql+psycopg:///{quote(dbname, safe='')}?{query}"


def _sources(directory: Path | None) -> Path:
    return directory if directory is not None else resources.directory("migrations")


class _RecordingCursor:
    """Remembers the statement that failed, so the error can name it."""

    def __init__(self, cursor: Any, box: list[str]) -> None:
        self._cursor = cursor
        self._box = box

    def execute(self, query: Any, params: Any = None) -> Any:
        try:
            return self._cursor.execute(query, params)
        except Exception:
            self._box[:] = [str(query)]
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _reopen(backend: Any) -> None:
    """A new connection for a yoyo backend whose own was killed during a migration,
    so that yoyo can still delete its lock row and the migration's error is the one
    raised."""
    backend._connection = backend.connect(backend.uri)
    backend.init_connection(backend._connection)
    backend._in_transaction = False


class Migrator:
    """Applies, rolls back and verifies pliersdb's migrations on one database."""

    def __init__(self, dsn: str, directory: Path | None = None) -> None:
        self.dsn = dsn
        self.directory = _sources(directory)
        # The invalid indexes this Migrator dropped, in order (also logged, INFO).
        self.repaired: list[InvalidIndex] = []

    # -- plumbing -------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[psycopg.Connection[Any]]:
        """Session advisory lock + bookkeeping schema, for the whole operation."""
        with dsnlib.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '60s'")
            # Polled, not waited for in one statement: a waiting statement keeps its
            # snapshot, and CREATE INDEX CONCURRENTLY in the running migration waits for
            # every older snapshot, so the two would wait for each other.
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while not _fetch_bool(conn, "SELECT pg_catalog.pg_try_advisory_lock(%s)", LOCK_KEY):
                if time.monotonic() > deadline:
                    raise MigrationError(
                        f"another pliersdb migrate or rollback has held the migration lock of "
                        f"{dsnlib.describe(self.dsn)} for {LOCK_WAIT_SECONDS} s: try again later")
                time.sleep(0.2)
            try:
                conn.execute(_BOOTSTRAP)
                yield conn
            finally:
                conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s)", (LOCK_KEY,))

    @contextmanager
    def _backend(self) -> Iterator[Any]:
        try:
            backend = get_backend(yoyo_uri(self.dsn))
        except psycopg.OperationalError as exc:
            raise dsnlib.ConnectError(
                f"cannot connect to {dsnlib.describe(self.dsn)}: {dsnlib.cause(exc)}"
            ) from exc
        box: list[str] = []
        backend.failed_statement = box
        raw_cursor = backend.cursor
        backend.cursor = lambda: _RecordingCursor(raw_cursor(), box)
        # We hold the advisory lock, so no other pliersdb run is active: a row
        # left in yoyo_lock is from a killed run.
        backend.break_lock()
        try:
            yield backend
        finally:
            backend.connection.close()

    def _migrations(self) -> Any:
        return read_migrations(str(self.directory))

    def _fail(self, backend: Any, migration: Any, exc: Exception,
              note: str = "") -> MigrationError:
        statement = (backend.failed_statement or ["?"])[0].strip()
        if len(statement) > 400:
            statement = statement[:400] + " ..."
        message = dsnlib.first_line(str(exc))
        return MigrationError(
            f"migration {Path(migration.path).name} failed and was rolled back: {message}\n"
            f"statement: {statement}{note}"
        )

    # -- queries --------------------------------------------------------------

    def _reading(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return reading(self.dsn)

    def status(self) -> list[Status]:
        """Every migration, on disk or applied, in order. Only reads, in a READ ONLY
        transaction: the role needs USAGE on schema pliersdb_migrations and SELECT on
        its tables. On a database without the bookkeeping, every migration is pending."""
        with self._reading() as conn:
            applied = applied_migrations(conn)
        on_disk = [m.id for m in self._migrations()]
        result = [Status(mid, applied.get(mid), True) for mid in on_disk]
        result += [Status(mid, at, False) for mid, at in sorted(applied.items())
                   if mid not in on_disk]
        return result

    def invalid_indexes(self) -> list[InvalidIndex]:
        """The invalid indexes in pliers' schemas (read-only, as status)."""
        with self._reading() as conn:
            return invalid_indexes(conn)

    def verify(self) -> list[Problem]:
        """Edited, missing and unknown applied migrations (empty when all is well).
        Only reads, as status; NotMigrated when no migration was applied."""
        with self._reading() as conn:
            require_migrated(conn)
            applied = [mid for mid, _at in sorted(require_migrated(conn).items(),
                                                  key=lambda item: item[1])]
            sums = (dict(_read(conn, f"SELECT migration_id, sha256 FROM {SCHEMA}."
                                     "migration_checksums"))
                    if _has_table(conn, "migration_checksums") else {})
        files = {m.id: m.path for m in self._migrations()}
        problems = []
        for mid in applied:
            if mid not in files:
                problems.append(Problem("missing", mid, "applied, but no such file here"))
            elif mid not in sums:
                problems.append(Problem("unknown", mid,
                                        "applied without pliersdb: no checksum recorded"))
            elif sha256_of(files[mid]) != sums[mid]:
                problems.append(Problem("edited", mid,
                                        f"file changed since it was applied "
                                        f"(recorded {sums[mid][:12]}, now "
                                        f"{sha256_of(files[mid])[:12]})"))
        return problems

    def pending_sql(self) -> list[tuple[str, str]]:
        """(id, SQL) of each pending migration, for --dry-run."""
        with self._locked(), self._backend() as backend:
            return [(m.id, Path(m.path).read_text(encoding="utf-8"))
                    for m in backend.to_apply(self._migrations())]

    # -- changes --------------------------------------------------------------

    def migrate(self, count: int | None = None) -> list[str]:
        """Apply the pending migrations (the next ``count`` only, when given),
        each in one transaction with its bookkeeping. Invalid indexes are dropped
        first (``_repair``)."""
        from pliersdb import distribute

        done = []
        with self._locked() as conn, self._backend() as backend, backend.lock():
            self._repair_first(conn)
            # On Citus, the roles the migrations SET ROLE to must log in on the workers.
            distribute.prepare_roles(conn)
            todo = list(backend.to_apply(self._migrations()))
            for migration in todo[:count] if count is not None else todo:
                self._apply(conn, backend, migration)
                done.append(migration.id)
            # A distributed database distributes what the migrations added.
            if done and distribute.is_distributed(conn):
                distribute.distribute(conn)
        return done

    def rollback(self, count: int | None) -> list[str]:
        """Roll back the last ``count`` applied migrations (all when None). Invalid
        indexes are dropped first (``_repair``)."""
        done = []
        with self._locked() as conn, self._backend() as backend, backend.lock():
            self._repair_first(conn)
            todo = list(backend.to_rollback(self._migrations()))
            for migration in todo[:count] if count is not None else todo:
                self._rollback(conn, backend, migration)
                done.append(migration.id)
        return done

    def _repair(self, conn: psycopg.Connection[Any]) -> None:
        """Drop the invalid indexes that failed or killed CONCURRENTLY builds and drops
        left in pliers' schemas: DROP INDEX CONCURRENTLY on ``conn`` (the lock's, in
        autocommit), each index that no other session is building. We hold the
        migration lock, so no pliersdb run is building one. Raises psycopg's error if
        a drop fails (the index stays invalid)."""
        for index in invalid_indexes(conn):
            if not index.repairable:
                logger.info("invalid index %s on %s left alone: %s",
                            index.name, index.table, index.hint)
                continue
            conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
            logger.info("dropped invalid index %s on %s (%s)",
                        index.name, index.table, index.definition)
            self.repaired.append(index)

    def _repair_first(self, conn: psycopg.Connection[Any]) -> None:
        try:
            self._repair(conn)
        except psycopg.Error as exc:
            raise MigrationError(
                f"could not drop an invalid index, so nothing was run: "
                f"{dsnlib.first_line(str(exc))}\n(pliersdb status lists them; try again "
                f"once the transactions using its table have ended)") from exc

    def _repair_after(self, conn: psycopg.Connection[Any]) -> str:
        """After a non-transactional migration failed: a failed or killed CONCURRENTLY
        build or drop leaves its index invalid. What to add to the error."""
        try:
            self._repair(conn)
        except psycopg.Error as exc:
            return (f"\nan invalid index it left could not be dropped: "
                    f"{dsnlib.first_line(str(exc))} (pliersdb migrate drops it before it "
                    f"runs anything)")
        return ""

    def _run(self, conn: psycopg.Connection[Any], backend: Any, migration: Any,
             direction: str, bookkeeping: Callable[[], None]) -> None:
        """Run a migration's steps in ``direction`` and its bookkeeping: in one
        transaction; or, for "-- transactional: false" (CONCURRENTLY), statement by
        statement (yoyo runs the partners of the statements done if one fails), the
        bookkeeping in a transaction after them."""
        migration.load()
        try:
            if migration.use_transactions:
                with backend.transaction():
                    migration.process_steps(backend, direction)
                    bookkeeping()
                return
            migration.process_steps(backend, direction)
        except backend.DatabaseError as exc:
            note = ""
            if backend.connection.closed:
                _reopen(backend)
                if not migration.use_transactions:
                    note = ("\nits connection was lost, so the statements it had done were "
                            "not undone: its bookkeeping is unchanged, and it runs again "
                            "from the start")
            if not migration.use_transactions:
                note += self._repair_after(conn)
            raise self._fail(backend, migration, exc, note) from exc
        with backend.transaction():
            bookkeeping()

    def _apply(self, conn: psycopg.Connection[Any], backend: Any, migration: Any) -> None:
        digest = sha256_of(migration.path)
        started = time.monotonic()
        self._run(conn, backend, migration, "apply",
                  lambda: self._mark(backend, migration, digest, started))

    def _mark(self, backend: Any, migration: Any, digest: str, started: float) -> None:
        backend.mark_one(migration, log=False)
        backend.log_migration(migration, "apply")
        backend.execute(
            f"INSERT INTO {SCHEMA}.migration_checksums (migration_id, sha256, duration_ms) "
            "VALUES (:id, :sha, :ms) ON CONFLICT (migration_id) DO UPDATE "
            "SET sha256 = EXCLUDED.sha256, applied_at = now(), "
            "applied_by = current_user, duration_ms = EXCLUDED.duration_ms",
            {"id": migration.id, "sha": digest,
             "ms": int((time.monotonic() - started) * 1000)},
        )

    def _rollback(self, conn: psycopg.Connection[Any], backend: Any, migration: Any) -> None:
        self._run(conn, backend, migration, "rollback",
                  lambda: self._unmark(backend, migration))

    def _unmark(self, backend: Any, migration: Any) -> None:
        backend.unmark_one(migration, log=False)
        backend.log_migration(migration, "rollback")
        backend.execute(
            f"DELETE FROM {SCHEMA}.migration_checksums WHERE migration_id = :id",
            {"id": migration.id},
        )
