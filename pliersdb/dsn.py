"""Where pliersdb connects: --dsn, PLIERSDB_DSN, DATABASE_URL, else the embedded server."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict


class ConnectError(Exception):
    """A connection failed; the message is one line naming the server and the cause."""


def resolve(dsn: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The DSN to use: the argument, else the environment, else the embedded server."""
    for candidate in (dsn, environ.get("PLIERSDB_DSN"), environ.get("DATABASE_URL")):
        if candidate:
            return candidate
    from pliersdb import server

    try:
        return server.ensure_database()
    except server.NotInstalled as exc:
        raise ConnectError(f"no --dsn, PLIERSDB_DSN or DATABASE_URL given, and {exc}") from exc


def describe(dsn: str) -> str:
    """host:port/dbname of a DSN, for messages (never the password)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<invalid DSN>"
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    dbname = str(params.get("dbname") or params.get("user") or "")
    return f"{host}:{port}/{dbname}"


def connect(dsn: str, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """psycopg.connect, with failures turned into a one-line ConnectError."""
    try:
        return psycopg.connect(dsn, connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.ProgrammingError as exc:
        raise ConnectError(f"invalid DSN: {first_line(str(exc))}") from exc
    except psycopg.OperationalError as exc:
        raise ConnectError(f"cannot connect to {describe(dsn)}: {cause(exc)}") from exc


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def cause(exc: psycopg.OperationalError) -> str:
    """libpq's reason, without its 'connection to server at ... failed:' preamble."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    reasons = []
    for line in lines:
        if line.startswith("Is the server running"):
            continue
        if " failed: " in line:
            line = line.rsplit(" failed: ", 1)[1]
        line = re.sub(r"^(FATAL|ERROR):\s+", "", line)
        if line not in reasons:
            reasons.append(line)
    return "; ".join(reasons) or "unknown error"
