"""The PL SQLSTATE registry: every code raised in sql/ is documented and mapped."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from pliersdb import errors

ROOT = Path(__file__).resolve().parent.parent


def registry() -> set[str]:
    text = (ROOT / "docs" / "errors.md").read_text()
    return set(re.findall(r"^\| `(PL\d{3})` \|", text, re.M))


def test_registry_and_map_agree() -> None:
    assert registry() == set(errors.BY_SQLSTATE)
    for code, cls in errors.BY_SQLSTATE.items():
        assert cls.sqlstate == code
        assert f"`{code}` | `{cls.__name__}`" in (ROOT / "docs" / "errors.md").read_text()


def test_every_code_raised_in_sql_is_registered() -> None:
    raised = set()
    for path in (ROOT / "sql").rglob("*.sql*"):
        raised |= set(re.findall(r"ERRCODE\s*=\s*'(PL\d{3})'", path.read_text()))
    assert raised <= registry(), raised - registry()


def test_pl_error_maps_to_its_class_with_json_detail(db: psycopg.Connection) -> None:
    try:
        db.execute("""DO $$ BEGIN RAISE EXCEPTION 'stale revision'
                      USING ERRCODE = 'PL003', DETAIL = '{"expected": 3, "actual": 4}',
                            HINT = 'read it again'; END $$""")
    except psycopg.Error as exc:
        mapped = errors.from_psycopg(exc)
    assert isinstance(mapped, errors.Conflict)
    assert mapped.detail == {"expected": 3, "actual": 4}
    assert mapped.hint == "read it again"
    assert str(mapped) == "stale revision"


def test_other_errors_are_not_mapped(db: psycopg.Connection) -> None:
    try:
        db.execute("SELECT 1 / 0")
    except psycopg.Error as exc:
        assert errors.from_psycopg(exc) is None
