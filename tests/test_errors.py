"""The PL SQLSTATE registry: every code raised in sql/ is documented and mapped."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

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


# How the SQL raises a PL code: RAISE ... USING ERRCODE = 'PL001' (or :=), or
# RAISE SQLSTATE 'PL001'. Codes are matched loosely (PL + 3 characters), so that a typo
# such as 'PL01' or 'PLO01' fails the test instead of escaping it.
RAISED = re.compile(r"(?:ERRCODE\s*:?=\s*|RAISE\s+(?:\w+\s+)?SQLSTATE\s+)'(PL[^']*)'", re.I)


def raised_in_sql() -> dict[str, set[str]]:
    """PL code -> the files of sql/ (templates included) that raise it."""
    raised: dict[str, set[str]] = {}
    for path in sorted((ROOT / "sql").rglob("*")):
        if path.name.endswith((".sql", ".sql.j2")):
            for code in RAISED.findall(path.read_text()):
                raised.setdefault(code.upper(), set()).add(path.name)
    return raised


def test_every_code_raised_in_sql_is_registered() -> None:
    raised = set(raised_in_sql())
    assert raised <= registry(), raised - registry()


def test_every_code_raised_in_sql_is_mapped_to_an_exception() -> None:
    raised = raised_in_sql()
    assert raised, "no PL code found in sql/: the pattern no longer matches the SQL"
    unmapped = {code: files for code, files in raised.items() if code not in errors.BY_SQLSTATE}
    assert not unmapped, f"codes raised in sql/ but not in pliersdb.errors.BY_SQLSTATE: {unmapped}"
    assert all(re.fullmatch(r"PL\d{3}", code) for code in raised), sorted(raised)
    files = {name for names in raised.values() for name in names}
    templates = [p.name for p in (ROOT / "sql").rglob("*.sql.j2")]
    assert templates, "sql/ has no template: the scan of .sql.j2 files is untested"
    for template in templates:  # the scan covers them (whether or not they raise)
        text = (ROOT / "sql" / template).read_text()
        assert bool(RAISED.search(text)) == (template in files)


def test_each_class_is_raised_for_its_code_with_the_psycopg_error_as_cause(
        db: psycopg.Connection) -> None:
    for code, cls in errors.BY_SQLSTATE.items():
        with db.transaction(force_rollback=True), pytest.raises(psycopg.Error) as caught:
            db.execute(f"""DO $$ BEGIN RAISE EXCEPTION 'failed {code}'
                          USING ERRCODE = '{code}', DETAIL = '{{"code": "{code}"}}'; END $$""")
        mapped = errors.from_psycopg(caught.value)
        assert type(mapped) is cls and isinstance(mapped, errors.PliersError)
        assert mapped.sqlstate == code and mapped.detail == {"code": code}
        assert mapped.__cause__ is caught.value


def test_validation_error_lists_its_errors_and_quota_names_its_limit() -> None:
    items = [{"path": "$.data.age", "code": "below_minimum", "message": "must be at least 0"}]
    assert errors.ValidationError("invalid", {"errors": items}).errors == items
    assert errors.ValidationError("invalid", {}).errors == []
    assert errors.ValidationError("invalid", {"errors": "not a list"}).errors == []
    quota = errors.QuotaExceeded("limit reached", {"limit": "max_forms", "value": 5})
    assert quota.limit == "max_forms"
    assert errors.QuotaExceeded("limit reached").limit is None


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
