"""The declarative schema in sql/: rendered in file-name order, printable, buildable.

Files ending in ``.sql.j2`` are jinja2 templates for what is truly repetitive;
``pliersdb sql`` prints the rendered whole, exactly what ``build`` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import psycopg

from pliersdb import resources

# sql/00-foundation.sql creates the roles and schemas as the installing
# superuser; everything after it is created by, and owned by, pliers_owner.
OWNER_SWITCH = "SET ROLE pliers_owner;"


def files(directory: Path | None = None) -> list[Path]:
    root = directory or resources.directory("sql")
    return sorted(p for p in root.iterdir() if p.name.endswith((".sql", ".sql.j2")))


def render_file(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".j2"):
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(path.parent),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,  # noqa: S701 - renders SQL, not HTML
        )
        text = env.get_template(path.name).render()
    return text


def render(directory: Path | None = None) -> str:
    parts = []
    for path in files(directory):
        parts.append(f"-- {path.name}\n{render_file(path).rstrip()}\n")
        if path.name.startswith("00-"):
            parts.append(OWNER_SWITCH + "\n")
    return "\n".join(parts)


def build(conn: psycopg.Connection[Any], directory: Path | None = None) -> None:
    """Create the whole schema from sql/ in one transaction (tests compare it
    with the database that the migrations build)."""
    with conn.transaction():
        conn.execute(render(directory).encode())
        conn.execute("RESET ROLE")
