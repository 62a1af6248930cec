"""pliersdb: the PostgreSQL data layer of Pliers v3.

The schema and its rules live in SQL (``sql/``, ``migrations/``); this package
opens connections, applies migrations and maps the SQL API's errors to Python.

    import pliersdb

    db = pliersdb.connect("postgresql://app_login@db/pliers")
    with db.tenant(organization_id, user_id) as t:
        form = t.forms.create("Intake", "intake", {"fields": [...]})
        t.forms.publish(form.id, "1.0.0")
        t.submissions.create(form.id, {"fullName": "Ann"}, submit=True)

    async with await pliersdb.connect_async(dsn) as db:       # the same API, awaited
        async with db.tenant(organization_id, user_id) as t:
            form = await t.forms.latest("intake")

docs/python.md is the reference.
"""

from typing import Any

from pliersdb.aio import AsyncDatabase, connect_async
from pliersdb.db import ContextLeak, Database
from pliersdb.errors import (
    Conflict,
    DatabaseUnavailable,
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
from pliersdb.forms import Form
from pliersdb.submissions import Attachment, Cursor, Page, Submission
from pliersdb.workflows import Workflow

__version__ = "0.1.0"

__all__ = [
    "AsyncDatabase",
    "Attachment",
    "Conflict",
    "ContextLeak",
    "Cursor",
    "Database",
    "DatabaseUnavailable",
    "Form",
    "Immutable",
    "InvalidArgument",
    "InvalidTransition",
    "NoTenantContext",
    "NotFound",
    "Page",
    "PermissionDenied",
    "PliersError",
    "QuotaExceeded",
    "Submission",
    "ValidationError",
    "Workflow",
    "connect",
    "connect_async",
]


def connect(dsn: str | None = None, **pool_options: Any) -> Database:
    """A ``Database`` (a connection pool) on ``dsn``.

    ``dsn`` is resolved like the CLI's: the argument, else ``PLIERSDB_DSN``, else
    ``DATABASE_URL``, else the embedded server. ``pool_options`` go to ``Database``
    (``min_size``, ``max_size``, ``timeout``, ``prepare_threshold``, ``name``,
    ``statement_timeout``: seconds per statement, 30 by default, None for the server's;
    ``connect_timeout`` (seconds, 3), ``max_lifetime`` (3600), ``max_idle`` (600) and
    ``configure`` (run on each new connection) of psycopg_pool; ``replica_dsn``,
    ``read_your_writes``, ``replica_timeout``, ``replica_retry``: a hot standby for the
    units opened with ``replica=True``, docs/api.md "Read replicas").
    Connect as a LOGIN role that is a member of ``pliers_app`` (docs/security.md).
    Close it with ``db.close()``, or use it as a context manager. A server that cannot
    be reached raises ``DatabaseUnavailable`` after ``connect_timeout``, not ``timeout``.
    """
    return Database(dsn, **pool_options)
