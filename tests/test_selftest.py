"""pliersdb selftest: the shipped pgTAP suites through psycopg, each file rolled back;
it fails on a defect, naming the file and the assertion, and refuses to run where the
suites cannot (no pgTAP, not migrated, not a superuser, a file that could commit)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from test_pgtap import FILES, snapshot

from pliersdb import cli, selftest
from pliersdb.migrate import Migrator


def selftest_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["selftest", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_suites_pass_on_a_migrated_database_and_leave_it_unchanged(
        shared_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(shared_dsn)
    code, out, err = selftest_cli(capsys, "--dsn", shared_dsn, "-v")
    assert (code, err) == (0, ""), out[-3000:]
    for path in FILES:
        assert f"\n{path.name} ." in f"\n{out}" and f"{path.name} " in out
    assert "    1..14\n    ok 1 - " in out, "-v prints every TAP line"
    assert out.rstrip().splitlines()[-1].startswith(f"ok: {len(FILES)} files, ")
    assert snapshot(shared_dsn) == before


def test_files_lists_the_suites_for_pg_prove(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = selftest_cli(capsys, "--files")
    assert (code, err) == (0, "")
    assert [Path(line).name for line in out.splitlines()] == [p.name for p in FILES]
    assert all(Path(line).is_file() for line in out.splitlines())


def test_a_defect_fails_naming_the_file_and_the_assertion(
        fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE pliers.events DROP CONSTRAINT events_event_type_format")
    code, out, _ = selftest_cli(capsys, "--dsn", fresh_db)
    assert code == 1
    assert [line for line in out.splitlines() if line.endswith(" FAILED")] == [
        f"{name} {'.' * (31 - len(name))} FAILED" for name in ("70-history.sql", "74-feed.sql")]
    assert ("    not ok 27 - _append_event: a bad event type violates events_event_type_format\n"
            "    # Failed test 27: \"_append_event: a bad event type violates "
            "events_event_type_format\"\n"
            "    #       caught: no exception\n"
            "    #       wanted: 23514\n") in out
    assert out.splitlines()[-1].startswith(
        f"FAILED: 2 of {len(FILES)} files (70-history.sql, 74-feed.sql); ")


PLIERS_ROLES = "pliers_app, pliers_platform, pliers_readonly"


@pytest.mark.parametrize(("setup", "error"), [
    (["DROP EXTENSION pgtap"], selftest.NO_PGTAP),
    (["CREATE SCHEMA tap", "ALTER EXTENSION pgtap SET SCHEMA tap"],
     "pgTAP is installed in schema tap, which is not on the search_path (\"$user\", public): "
     "add it, e.g. PGOPTIONS='-c search_path=public,tap'"),
    (["REVOKE ALL ON SCHEMA public FROM PUBLIC",
      "GRANT USAGE ON SCHEMA public TO pliers_owner, pliers_worker"],
     f"pgTAP's schema public is not usable by {PLIERS_ROLES}, as which the suites call it: "
     f"GRANT USAGE ON SCHEMA public TO {PLIERS_ROLES}"),
], ids=["not-installed", "off-the-search-path", "unusable-by-pliers-roles"])
def test_pgtap_it_cannot_use_is_one_clear_line(
        fresh_db: str, capsys: pytest.CaptureFixture[str], setup: list[str], error: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        for statement in setup:
            conn.execute(statement.encode())
    code, out, err = selftest_cli(capsys, "--dsn", fresh_db)
    assert (code, out, err) == (1, "", f"pliersdb: selftest: {error}\n")


def test_an_unmigrated_database_is_refused(fresh_db: str, empty_db: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    last = Migrator(fresh_db).status()[-1].migration_id
    Migrator(fresh_db).rollback(1)
    code, out, err = selftest_cli(capsys, "--dsn", fresh_db)
    assert (code, out) == (1, "")
    assert err == (f"pliersdb: selftest: the database is not migrated: 1 pending ({last}): "
                   "run pliersdb migrate first\n")
    code, out, err = selftest_cli(capsys, "--dsn", empty_db)
    assert (code, out) == (1, "")
    assert "the database is not migrated: " in err and "run pliersdb migrate first" in err


def test_a_login_that_is_not_a_superuser_is_refused(
        shared_dsn: str, app_role: tuple[str, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    name, password = app_role
    dsn = make_conninfo(shared_dsn, user=name, password=password)
    code, out, err = selftest_cli(capsys, "--dsn", dsn)
    assert (code, out) == (1, "")
    assert err.startswith("pliersdb: selftest: the suites need a superuser")


def test_statements_split_outside_quotes_and_comments() -> None:
    text = ("-- a comment; not a statement\nBEGIN;\nSELECT 'a;b', \"c;d\", E'e\\';f';\n"
            "DO $x$ BEGIN PERFORM 1; END $x$;\n/* x; */ SELECT $$;$$;\nROLLBACK;\n")
    parts = list(selftest.statements(text))
    assert [(p.line, p.head) for p in parts] == [
        (2, "BEGIN;"), (3, "SELECT 'a;b', \"c;d\", E'e\\';f';"),
        (4, "DO $x$ BEGIN PERFORM 1; END $x$;"), (5, "SELECT $$;$$;"), (6, "ROLLBACK;")]


@pytest.mark.parametrize("body", [
    "BEGIN;\nSELECT plan(1);\nSELECT pass('x');\nCOMMIT;\n",
    "BEGIN;\nSELECT plan(1);\nCOMMIT;\nSELECT pass('x');\nROLLBACK;\n",
    "SELECT plan(1);\nSELECT pass('x');\n",
    "BEGIN;\nEND;\nROLLBACK;\n",
])
def test_a_file_that_could_commit_is_not_run(tmp_path: Path, body: str) -> None:
    path = tmp_path / "99-bad.sql"
    path.write_text(body)
    # No database: the file is refused before anything connects.
    with pytest.raises(selftest.SelftestError, match=r"^99-bad\.sql"):
        selftest.run_file("host=/nonexistent dbname=none", path)


def test_rollback_to_a_savepoint_is_allowed(tmp_path: Path, shared_dsn: str) -> None:
    path = tmp_path / "99-savepoint.sql"
    path.write_text("BEGIN;\nSELECT plan(2);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n"
                    "SELECT pass('one');\nSELECT fail('two');\nSELECT * FROM finish();\n"
                    "ROLLBACK;\n")
    result = selftest.run_file(shared_dsn, path)
    assert (result.planned, result.passed, result.ok) == (2, 1, False)
    assert result.failures == ["not ok 2 - two\n# Failed test 2: \"two\""]
