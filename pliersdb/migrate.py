"""Migrations: yoyo applies them; pliersdb adds a session lock, checksums and verify.

yoyo's bookkeeping (``_yoyo_migration``, ``_yoyo_log``, ``_yoyo_version``,
``yoyo_lock``) and pliersdb's ``migration_checksums`` live in schema
``pliersdb_migrations``: never in ``pliers``, so rolling everything back leaves
``pliers`` empty, and never in ``public``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


class MigrationError(Exception):
    """A migration failed; nothing of it remains. Names the file and the statement."""


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


class Migrator:
    """Applies, rolls back and verifies pliersdb's migrations on one database."""

    def __init__(self, dsn: str, directory: Path | None = None) -> None:
        self.dsn = dsn
        self.directory = _sources(directory)

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

    def _fail(self, backend: Any, migration: Any, exc: Exception) -> MigrationError:
        statement = (backend.failed_statement or ["?"])[0].strip()
        if len(statement) > 400:
            statement = statement[:400] + " ..."
        message = dsnlib.first_line(str(exc))
        return MigrationError(
            f"migration {Path(migration.path).name} failed and was rolled back: {message}\n"
            f"statement: {statement}"
        )

    # -- queries --------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A read-only transaction, without the migration lock: a read-only role can
        run status."""
        with dsnlib.connect(self.dsn) as conn:
            conn.read_only = True
            yield conn

    def status(self) -> list[Status]:
        """Every migration, on disk or applied, in order. Only reads: the role needs
        USAGE on schema pliersdb_migrations and SELECT on its tables."""
        with self._reading() as conn:
            exists = _fetch_bool(
                conn, "SELECT EXISTS (SELECT FROM pg_catalog.pg_class AS c "
                "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = '_yoyo_migration')", SCHEMA)
            try:
                applied = dict(conn.execute(
                    f"SELECT migration_id, applied_at_utc FROM {SCHEMA}._yoyo_migration"
                ).fetchall()) if exists else {}
            except psycopg.errors.InsufficientPrivilege as exc:
                raise MigrationError(
                    f"cannot read the migration bookkeeping: {dsnlib.first_line(str(exc))} "
                    f"(status needs USAGE on schema {SCHEMA} and SELECT on its tables)"
                ) from exc
        on_disk = [m.id for m in self._migrations()]
        result = [Status(mid, applied.get(mid), True) for mid in on_disk]
        result += [Status(mid, at, False) for mid, at in sorted(applied.items())
                   if mid not in on_disk]
        return result

    def verify(self) -> list[Problem]:
        """Edited, missing and unknown applied migrations (empty when all is well)."""
        with self._locked() as conn, self._backend() as backend:
            backend.ensure_internal_schema_updated()
            applied = [row[0] for row in conn.execute(
                f"SELECT migration_id FROM {SCHEMA}._yoyo_migration ORDER BY applied_at_utc")]
            sums = dict(conn.execute(
                f"SELECT migration_id, sha256 FROM {SCHEMA}.migration_checksums").fetchall())
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
        each in one transaction with its bookkeeping."""
        done = []
        with self._locked(), self._backend() as backend, backend.lock():
            todo = list(backend.to_apply(self._migrations()))
            for migration in todo[:count] if count is not None else todo:
                self._apply(backend, migration)
                done.append(migration.id)
        return done

    def rollback(self, count: int | None) -> list[str]:
        """Roll back the last ``count`` applied migrations (all when None)."""
        done = []
        with self._locked(), self._backend() as backend, backend.lock():
            todo = list(backend.to_rollback(self._migrations()))
            for migration in todo[:count] if count is not None else todo:
                self._rollback(backend, migration)
                done.append(migration.id)
        return done

    def _apply(self, backend: Any, migration: Any) -> None:
        digest = sha256_of(migration.path)
        started = time.monotonic()
        migration.load()
        if not migration.use_transactions:
            # "-- transactional: false" (CONCURRENTLY): yoyo runs it statement by
            # statement; the bookkeeping follows in its own transaction.
            try:
                migration.process_steps(backend, "apply")
            except backend.DatabaseError as exc:
                raise self._fail(backend, migration, exc) from exc
            with backend.transaction():
                self._mark(backend, migration, digest, started)
            return
        try:
            with backend.transaction():
                migration.process_steps(backend, "apply")
                self._mark(backend, migration, digest, started)
        except backend.DatabaseError as exc:
            raise self._fail(backend, migration, exc) from exc

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

    def _rollback(self, backend: Any, migration: Any) -> None:
        migration.load()
        if not migration.use_transactions:
            # As _apply: the rollback of a "-- transactional: false" migration runs
            # statement by statement, its bookkeeping in a transaction after it.
            try:
                migration.process_steps(backend, "rollback")
            except backend.DatabaseError as exc:
                raise self._fail(backend, migration, exc) from exc
            with backend.transaction():
                self._unmark(backend, migration)
            return
        try:
            with backend.transaction():
                migration.process_steps(backend, "rollback")
                self._unmark(backend, migration)
        except backend.DatabaseError as exc:
            raise self._fail(backend, migration, exc) from exc

    def _unmark(self, backend: Any, migration: Any) -> None:
        backend.unmark_one(migration, log=False)
        backend.log_migration(migration, "rollback")
        backend.execute(
            f"DELETE FROM {SCHEMA}.migration_checksums WHERE migration_id = :id",
            {"id": migration.id},
        )
