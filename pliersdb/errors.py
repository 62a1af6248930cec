"""SQLSTATE class PL, mapped one-to-one to exception classes (docs/errors.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


class PliersError(Exception):
    """An error raised on purpose by the pliersdb SQL API."""

    sqlstate = "PL000"

    def __init__(self, message: str, detail: dict[str, Any] | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, Any] = detail or {}
        self.hint = hint


class ValidationError(PliersError):
    """PL001: the input failed validation; ``errors`` lists every problem at once."""

    sqlstate = "PL001"

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every error, each ``{"path", "code", "message"}`` (DETAIL ``errors``): a JSON
        path (``$.data.address.zip``, ``$.fields[2].name``) or an argument name, a stable
        machine code (docs/forms.md), and an English sentence that may change."""
        value = self.detail.get("errors")
        if not isinstance(value, list):
            return []
        return [item for item in value if isinstance(item, dict)]


class NotFound(PliersError):
    sqlstate = "PL002"


class Conflict(PliersError):
    sqlstate = "PL003"


class InvalidTransition(PliersError):
    sqlstate = "PL004"


class Immutable(PliersError):
    sqlstate = "PL005"


class PermissionDenied(PliersError):
    sqlstate = "PL006"


class QuotaExceeded(PliersError):
    """PL007: an organization limit is reached; ``limit`` names it (``max_forms``...)."""

    sqlstate = "PL007"

    @property
    def limit(self) -> str | None:
        """The name of the limit (DETAIL ``limit``), e.g. ``max_submissions_per_month``."""
        value = self.detail.get("limit")
        return value if isinstance(value, str) else None


class NoTenantContext(PliersError):
    sqlstate = "PL008"


class InvalidArgument(PliersError):
    sqlstate = "PL009"


class DatabaseUnavailable(psycopg.OperationalError):
    """The database server cannot be reached: no pooled connection came within the
    connect timeout, and a direct connection failed too (its error is ``__cause__``).
    An ``OperationalError``, as psycopg_pool's ``PoolTimeout`` it replaces in that case."""


BY_SQLSTATE: dict[str, type[PliersError]] = {
    cls.sqlstate: cls
    for cls in (ValidationError, NotFound, Conflict, InvalidTransition, Immutable,
                PermissionDenied, QuotaExceeded, NoTenantContext, InvalidArgument)
}


def from_psycopg(exc: psycopg.Error) -> PliersError | None:
    """The PliersError for a database error of class PL, else None."""
    diag = exc.diag
    cls = BY_SQLSTATE.get(diag.sqlstate or "")
    if cls is None:
        return None
    detail: dict[str, Any] = {}
    if diag.message_detail:
        try:
            parsed = json.loads(diag.message_detail)
        except ValueError:
            parsed = {"text": diag.message_detail}
        detail = parsed if isinstance(parsed, dict) else {"value": parsed}
    error = cls(diag.message_primary or str(exc), detail, diag.message_hint)
    error.__cause__ = exc
    return error


@contextmanager
def mapped() -> Iterator[None]:
    """Re-raise a psycopg error of SQLSTATE class PL as its pliersdb.errors exception."""
    try:
        yield
    except psycopg.Error as exc:
        error = from_psycopg(exc)
        if error is None:
            raise
        raise error from exc
