"""README.md's "Using the library", steps 1 to 3, run as written: the SQL blocks as the
superuser (the login roles), the Python blocks in one namespace, in order, against a
fresh database: ``pliersdb.server.url`` (the demo server's DSN, for a user and password)
gives the test server's instead, for the same user and password."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pliersdb import server

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("app_login", "platform_login")


def steps() -> tuple[list[str], str]:
    text = (ROOT / "README.md").read_text()
    part = text[text.index("**1. A login role"):text.index("**4. The same in SQL")]
    python = re.findall(r"```python\n(.*?)```", part, re.S)
    # The block after <!-- one call --> is run by tests/test_pipeline.py with its names.
    one_call = re.search(r"<!-- one call -->\n```python\n(.*?)```", part, re.S)
    blocks = [b for b in python if one_call is None or b != one_call.group(1)]
    return re.findall(r"```sql\n(.*?)```", part, re.S), "\n".join(blocks)


def test_the_steps_of_using_the_library_run_as_written(
        fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sql_blocks, code = steps()
    assert len(sql_blocks) == 2 and "platform.platform.create(" in code
    asked: list[str | None] = []

    def url(user: str | None = None, password: str | None = None) -> str:
        asked.append(user)
        return make_conninfo(fresh_db, user=user, password=password)

    monkeypatch.setattr(server, "url", url)
    try:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            for block in sql_blocks:
                conn.execute(block)
        out = io.StringIO()
        names: dict[str, Any] = {}
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), names)  # noqa: S102
        assert asked == ["platform_login", "app_login"]
        printed = out.getvalue().splitlines()
        # The outputs the README's comments announce.
        assert printed[0].startswith("inv_"), printed[:1]
        assert printed[1] == "S-000001 submitted"
        assert printed[2:5] == [
            "$.data.name required is required",
            "$.data.day invalid_date must be a date YYYY-MM-DD",
            '$.data.reason invalid_choice "fun" is not one of the choices']
        with psycopg.connect(fresh_db) as conn:
            owner = conn.execute(
                "SELECT u.roles, o.primary_contact_id = u.id FROM pliers.organizations AS o "
                "JOIN pliers.users AS u ON u.organization_id = o.id "
                "WHERE o.slug = 'clinic' AND u.email = 'ann@clinic.example'").fetchone()
            assert owner == (["org_owner"], True)
            people = conn.execute(
                "SELECT array_agg(u.email || ' ' || u.status ORDER BY u.email) "
                "FROM pliers.users AS u JOIN pliers.organizations AS o "
                "ON o.id = u.organization_id WHERE o.slug = 'clinic'").fetchone()
            assert people == (["ann@clinic.example active", "bob@clinic.example active",
                               "cy@clinic.example pending"],)
            grants = conn.execute(
                "SELECT a.role, a.scope_type::text, m.role::text FROM pliers.role_assignments AS a "
                "JOIN pliers.users AS u ON u.id = a.user_id "
                "JOIN pliers.team_members AS m ON m.user_id = u.id "
                "WHERE u.email = 'bob@clinic.example'").fetchall()
            assert grants == [("form_manager", "organization", "member")]
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = ANY(%s)", (list(ROLES),))
            for role in ROLES:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
