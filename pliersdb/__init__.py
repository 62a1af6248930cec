"""pliersdb: the PostgreSQL data layer of Pliers v3.

The schema and its rules live in SQL (``sql/``, ``migrations/``); this package
opens connections, applies migrations and maps the SQL API's errors to Python.
"""

from pliersdb.errors import (
    Conflict,
    Immutable,
    InvalidArgument,
    InvalidTransition,
    NoTenantContext,
    NotFound,
    PermissionDenied,
    PliersError,
    QuotaExceeded,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "Conflict",
    "Immutable",
    "InvalidArgument",
    "InvalidTransition",
    "NoTenantContext",
    "NotFound",
    "PermissionDenied",
    "PliersError",
    "QuotaExceeded",
    "ValidationError",
]
