"""Partition maintenance from Python and the CLI (``pliersdb maintain``).

``pliers.run_maintenance`` does the work in SQL (docs/history.md): monthly
partitions ahead for events and audit_logs, rows moved out of the DEFAULT
partitions, retention by detaching into ``pliers_archive``. This module runs it
in one short READ COMMITTED transaction with a ``lock_timeout``, so that it never
queues for long behind a busy table (and, while queued, never blocks the
queries behind it), and tries again a few times when a lock is not free.
Concurrent runs are safe: the SQL takes an advisory lock, the second run waits
and then finds nothing to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pliersdb import dsn as dsnlib
from pliersdb import errors

__all__ = ["Action", "MaintenanceError", "run"]


@dataclass(frozen=True)
class Action:
    """One line of the report: action (created, detached, warning, unchanged),
    target (a partition or a table) and a human-readable detail."""

    action: str
    target: str
    detail: str

    def __str__(self) -> str:
        return f"{self.action:10} {self.target:40} {self.detail}"


class MaintenanceError(Exception):
    """Maintenance did not run to the end; nothing of it remains. ``argument`` names
    the keyword argument of ``run`` that was refused, if one was."""

    def __init__(self, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


def _refused(argument: str, exc: psycopg.Error) -> MaintenanceError:
    """The error of a value the server refused, naming ``run``'s argument."""
    reason = dsnlib.first_line(exc.diag.message_primary or str(exc))
    return MaintenanceError(f"{argument}: {reason}", argument)


def _prepare(conn: psycopg.Connection[Any], lock_timeout: str,
             intervals: dict[str, str | None]) -> None:
    """Set the session's lock_timeout and parse each given interval as the call will,
    so that a bad value names its argument (the SQL function's own checks name its
    parameters)."""
    for argument, value in intervals.items():
        if value is not None:
            try:
                conn.execute("SELECT %s::interval", (value,))
            except psycopg.DataError as exc:
                raise _refused(argument, exc) from exc
    try:
        conn.execute("SELECT pg_catalog.set_config('lock_timeout', %s, false)", (lock_timeout,))
    except psycopg.errors.InvalidParameterValue as exc:
        raise _refused("lock_timeout", exc) from exc


def _call(months_ahead: int | None, events_retention: str | None,
          audit_retention: str | None) -> sql.Composed:
    """SELECT ... FROM pliers.run_maintenance(...), naming only the arguments given:
    the defaults stay in one place, the SQL function."""
    args: list[sql.Composable] = []
    for name, value, cast in (("p_months_ahead", months_ahead, "integer"),
                              ("p_events_retention", events_retention, "interval"),
                              ("p_audit_retention", audit_retention, "interval")):
        if value is not None:
            args.append(sql.SQL("{} => {}::{}").format(
                sql.Identifier(name), sql.Literal(value), sql.SQL(cast)))
    return sql.SQL("SELECT action, target, detail FROM pliers.run_maintenance({})").format(
        sql.SQL(", ").join(args))


# How the DEBUG message of each step of pliers.run_maintenance begins.
_STEP = "pliers.run_maintenance: "


def _silent(line: str) -> None:
    """The default ``say`` of ``run``: nothing."""


def run(dsn: str, *, months_ahead: int | None = None, events_retention: str | None = None,
        audit_retention: str | None = None, lock_timeout: str = "10s", attempts: int = 3,
        retry_delay: float = 2.0, say: Callable[[str], None] = _silent) -> list[Action]:
    """Run ``pliers.run_maintenance`` once and return its report.

    Arguments left to None take the SQL defaults (3 months ahead, events kept
    24 months, audit rows 84 months). A lock not obtained within ``lock_timeout``
    rolls the attempt back; after ``attempts`` tries, MaintenanceError. A value the
    server refuses is a MaintenanceError naming its argument. ``say`` gets one line
    per step as it is done, with its duration: the connection, each row of the report
    (the function's DEBUG messages), the commit."""
    query = _call(months_ahead, events_retention, audit_retention)
    started = time.monotonic()
    with dsnlib.connect(dsn, autocommit=True) as conn:
        _prepare(conn, lock_timeout, {"events_retention": events_retention,
                                      "audit_retention": audit_retention})
        say(f"connected to {dsnlib.describe(dsn)} ({time.monotonic() - started:.2f} s)")
        last = time.monotonic()

        def step(notice: psycopg.errors.Diagnostic) -> None:
            nonlocal last
            message = notice.message_primary or ""
            if message.startswith(_STEP):  # not the server's own DEBUG messages
                now = time.monotonic()
                say(f"{message.removeprefix(_STEP)} ({now - last:.2f} s)")
                last = now

        conn.add_notice_handler(step)
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        for attempt in range(1, attempts + 1):
            try:
                with conn.transaction():
                    # Its DEBUG message after each step (migration 0030), as it comes.
                    conn.execute("SELECT pg_catalog.set_config('client_min_messages', "
                                 "'debug1', true)")
                    rows: list[tuple[Any, ...]] = conn.execute(query).fetchall()
                    last = time.monotonic()
                say(f"committed ({time.monotonic() - last:.2f} s)")
                return [Action(str(a), str(t), str(d)) for a, t, d in rows]
            except psycopg.errors.LockNotAvailable as exc:
                if attempt == attempts:
                    raise MaintenanceError(
                        f"maintenance gave up after {attempts} attempts: a lock was not "
                        f"free within {lock_timeout} ({dsnlib.first_line(str(exc))})"
                    ) from exc
                say(f"attempt {attempt} of {attempts}: a lock was not free within "
                    f"{lock_timeout}; rolled back, trying again in {retry_delay * attempt:g} s")
                time.sleep(retry_delay * attempt)
            except psycopg.Error as exc:
                raise _failed(exc) from exc
    raise MaintenanceError("maintenance did not run")  # attempts < 1


def _failed(exc: psycopg.Error) -> MaintenanceError:
    """A failed run; a value the SQL function refused names ``run``'s argument (its
    parameter without the p_ prefix)."""
    mapped = errors.from_psycopg(exc)
    if isinstance(mapped, errors.InvalidArgument) and mapped.detail.get("argument"):
        parameter = str(mapped.detail["argument"])
        argument = parameter.removeprefix("p_")
        return MaintenanceError(mapped.message.replace(parameter, argument), argument)
    message = mapped.message if mapped is not None else dsnlib.first_line(str(exc))
    return MaintenanceError(f"maintenance failed and was rolled back: {message}")
