"""Migrations: up, down, up again; each one alone; sql/ equals migrations/;
failures leave nothing; the invalid indexes a failed CONCURRENTLY build leaves are
reported and dropped; verify finds edited, missing and unknown files."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from appworld import seed_org
from catalog import dump
from pgcluster import Cluster
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from pliersdb import cli, schema
from pliersdb.migrate import READ_GRANTS, SCHEMA, MigrationError, Migrator
from pliersdb.resources import directory

MIGRATIONS = sorted(p.stem for p in directory("migrations").glob("*.sql")
                    if not p.name.endswith(".rollback.sql"))


def objects_in_pliers(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM pg_catalog.pg_namespace
                    WHERE nspname IN ('pliers', 'pliers_archive'))
                 + (SELECT count(*) FROM pg_catalog.pg_class c
                    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'pliers')
                 + (SELECT count(*) FROM pg_catalog.pg_proc p
                    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'pliers')
                 + (SELECT count(*) FROM pg_catalog.pg_type t
                    JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname = 'pliers')
            """
        ).fetchone()
    assert row is not None
    return int(row[0])


def applied_ids(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            f"SELECT migration_id FROM {SCHEMA}._yoyo_migration ORDER BY migration_id")]


def test_migrations_exist() -> None:
    assert MIGRATIONS and MIGRATIONS[0] == "0001.pliers-foundation"
    for mid in MIGRATIONS:
        assert (directory("migrations") / f"{mid}.rollback.sql").is_file(), mid


def test_migrate_twice_rollback_all_migrate_again(empty_db: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "--dsn", empty_db]) == 0
    out = capsys.readouterr().out
    assert all(f"applied {mid}" in out for mid in MIGRATIONS)
    assert applied_ids(empty_db) == MIGRATIONS

    assert cli.main(["migrate", "--dsn", empty_db]) == 0
    assert "nothing to apply" in capsys.readouterr().out

    assert cli.main(["rollback", "--all", "--dsn", empty_db]) == 0
    out = capsys.readouterr().out
    assert all(f"rolled back {mid}" in out for mid in MIGRATIONS)
    assert objects_in_pliers(empty_db) == 0
    assert applied_ids(empty_db) == []

    assert cli.main(["migrate", "--dsn", empty_db]) == 0
    assert applied_ids(empty_db) == MIGRATIONS
    assert cli.main(["verify", "--dsn", empty_db]) == 0


def test_each_migration_up_down_up(cluster: Cluster, empty_db: str) -> None:
    migrator = Migrator(empty_db)
    for mid in MIGRATIONS:
        before = dump(cluster, empty_db)
        assert migrator.migrate(count=1) == [mid]
        after = dump(cluster, empty_db)
        assert after != before, f"{mid} changed nothing"
        assert migrator.rollback(count=1) == [mid]
        assert dump(cluster, empty_db) == before, f"{mid}'s rollback is not its exact inverse"
        assert migrator.migrate(count=1) == [mid]
        assert dump(cluster, empty_db) == after, f"{mid} differs when applied again"


def test_schema_sql_equals_migrations(cluster: Cluster, template: str, empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        schema.build(conn)
    from_sql = dump(cluster, empty_db)
    from_migrations = dump(cluster, cluster.dsn(template))
    assert from_sql == from_migrations


def test_status_lists_applied_and_pending(empty_db: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing applied: not a pliersdb database yet (exit 4), what migrate applies listed.
    assert cli.main(["status", "--dsn", empty_db]) == cli.EXIT_NOT_MIGRATED
    assert f"0 applied, {len(MIGRATIONS)} pending" in capsys.readouterr().out
    Migrator(empty_db).migrate(count=1)
    assert cli.main(["status", "--dsn", empty_db]) == 0
    out = capsys.readouterr().out
    assert f"1 applied, {len(MIGRATIONS) - 1} pending" in out
    assert "applied                0001.pliers-foundation" in out


def test_dry_run_prints_sql_and_applies_nothing(empty_db: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "--dry-run", "--dsn", empty_db]) == 0
    out = capsys.readouterr().out
    assert "-- migration 0001.pliers-foundation" in out
    assert "CREATE SCHEMA pliers AUTHORIZATION pliers_owner;" in out
    assert applied_ids(empty_db) == []
    assert objects_in_pliers(empty_db) == 0


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(directory("migrations"), target)
    return target


def test_failed_migration_leaves_nothing(empty_db: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = copy_migrations(tmp_path)
    (source / "9999.pliers-broken.sql").write_text(
        "CREATE TABLE pliers.half_done (id integer);\n"
        "SELECT 1 / 0 AS broken;\n"
    )
    (source / "9999.pliers-broken.rollback.sql").write_text("DROP TABLE pliers.half_done;\n")
    migrator = Migrator(empty_db, source)
    with pytest.raises(MigrationError) as failure:
        migrator.migrate()
    message = str(failure.value)
    assert "9999.pliers-broken.sql" in message
    assert "division by zero" in message
    assert "SELECT 1 / 0 AS broken" in message
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('pliers.half_done')").fetchone() == (None,)
    status = {s.migration_id: s.applied for s in migrator.status()}
    assert status.pop("9999.pliers-broken") is False
    assert all(status.values()), "the migrations before the broken one stay applied"
    assert migrator.verify() == []


def test_non_transactional_migration_fails_visibly_and_runs_again(empty_db: str,
                                                                  tmp_path: Path) -> None:
    # "-- transactional: false" (CREATE INDEX CONCURRENTLY): statements run one by one;
    # on a failure yoyo runs the rollback statements paired with those already done
    # (here the DROP INDEX),
    # the migration stays pending, and, written to be run again from the start, it
    # applies once the cause is gone.
    source = copy_migrations(tmp_path)
    broken = source / "9999.pliers-concurrent.sql"
    text = ("-- transactional: false\n"
            "DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_t9999_idx;\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS submissions_t9999_idx "
            "ON pliers.submissions (created_at);\n"
            "SELECT 1 / {divisor} AS maybe_broken;\n")
    broken.write_text(text.format(divisor=0))
    (source / "9999.pliers-concurrent.rollback.sql").write_text(
        "DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_t9999_idx;\n")
    migrator = Migrator(empty_db, source)
    with pytest.raises(MigrationError) as failure:
        migrator.migrate()
    assert "9999.pliers-concurrent.sql" in str(failure.value)
    assert "division by zero" in str(failure.value)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('pliers.submissions_t9999_idx')"
                            ).fetchone() == (None,)
    assert {s.migration_id: s.applied for s in migrator.status()}["9999.pliers-concurrent"] \
        is False
    broken.write_text(text.format(divisor=1))
    assert Migrator(empty_db, source).migrate() == ["9999.pliers-concurrent"]
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = "
                            "'pliers.submissions_t9999_idx'::regclass").fetchone() == (True,)
    assert Migrator(empty_db, source).rollback(count=1) == ["9999.pliers-concurrent"]
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('pliers.submissions_t9999_idx')").fetchone() \
            == (None,)


def indexes_in(dsn: str, *, valid: bool) -> list[str]:
    """The valid, or invalid, indexes in pliers' schemas."""
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pg_catalog.format('%%I.%%I', n.nspname, c.relname) "
            "FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid "
            "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE i.indisvalid = %s AND n.nspname IN ('pliers', 'pliers_archive') ORDER BY 1",
            (valid,))]


def two_organizations(dsn: str) -> None:
    """Two organizations with the same name (superuser: there is no sign-up API)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO pliers.organizations (slug, name) "
                     "VALUES ('one', 'Same'), ('two', 'Same')")


def leave_invalid_index(dsn: str, statement: str) -> None:
    """What a run killed after its CREATE UNIQUE INDEX CONCURRENTLY failed leaves
    (the build fails on duplicates: the catalog keeps the index, INVALID)."""
    with psycopg.connect(dsn, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(statement)


CONSTANT_INDEX = ("CREATE UNIQUE INDEX CONCURRENTLY {} ON pliers.organizations ((TRUE))")


def wait_for(dsn: str, query: str, *params: Any) -> Any:
    """The first column of the first row of ``query``, polled until there is one."""
    deadline = time.monotonic() + 60
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(query, params).fetchone()
            if row is not None:
                return row[0]
            assert time.monotonic() < deadline, f"timed out waiting for: {query} {params}"
            time.sleep(0.05)


def in_thread(func: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``func`` in a started thread; its result, or exception, goes in the list."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(func())
        except Exception as exc:  # asserted by the caller
            box.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_status_reports_an_invalid_index_and_migrate_drops_it(
        fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    two_organizations(fresh_db)
    leave_invalid_index(fresh_db, CONSTANT_INDEX.format("organizations_t9999_idx"))
    assert indexes_in(fresh_db, valid=False) == ["pliers.organizations_t9999_idx"]

    assert cli.main(["status", "--dsn", fresh_db]) == cli.EXIT_INVALID_INDEX == 3
    out = capsys.readouterr().out
    assert "applied                0011.pliers-write-path" in out  # migrations still listed
    assert ("invalid index          pliers.organizations_t9999_idx on pliers.organizations\n"
            "                       CREATE UNIQUE INDEX organizations_t9999_idx "
            "ON pliers.organizations USING btree ((true))\n"
            "                       left by a CONCURRENTLY build or drop that failed") in out
    assert "pliersdb migrate drops it" in out
    assert out.endswith(f"{len(MIGRATIONS)} applied, 0 pending, 1 invalid index\n")

    assert cli.main(["migrate", "--dry-run", "--dsn", fresh_db]) == 0
    assert "DROP INDEX CONCURRENTLY IF EXISTS pliers.organizations_t9999_idx;" \
        in capsys.readouterr().out
    assert indexes_in(fresh_db, valid=False) == ["pliers.organizations_t9999_idx"]

    valid = indexes_in(fresh_db, valid=True)
    assert cli.main(["migrate", "--dsn", fresh_db]) == 0  # nothing pending: repairs all the same
    assert capsys.readouterr().out == (
        "dropped invalid index pliers.organizations_t9999_idx on pliers.organizations "
        "(left by a failed CONCURRENTLY build or drop): CREATE UNIQUE INDEX "
        "organizations_t9999_idx ON pliers.organizations USING btree ((true))\n"
        "nothing to apply: the database is up to date\n")
    assert indexes_in(fresh_db, valid=False) == []
    assert indexes_in(fresh_db, valid=True) == valid
    assert cli.main(["status", "--dsn", fresh_db]) == 0
    assert "invalid" not in capsys.readouterr().out


def test_failed_concurrent_build_is_dropped_and_built_again(fresh_db: str,
                                                           tmp_path: Path) -> None:
    # A migration written to be run again from the start, whose CREATE INDEX
    # CONCURRENTLY IF NOT EXISTS would keep an invalid index as it is: the runner
    # drops it after the failure, and before a run, so the next run builds it.
    source = copy_migrations(tmp_path)
    build = ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS organizations_name_t9999_idx "
             "ON pliers.organizations (name);\n")
    (source / "9999.pliers-unique-names.sql").write_text("-- transactional: false\n" + build)
    (source / "9999.pliers-unique-names.rollback.sql").write_text(
        "DROP INDEX CONCURRENTLY IF EXISTS pliers.organizations_name_t9999_idx;\n")
    two_organizations(fresh_db)
    migrator = Migrator(fresh_db, source)
    with pytest.raises(MigrationError) as failure:
        migrator.migrate()
    assert "9999.pliers-unique-names.sql" in str(failure.value)
    assert 'could not create unique index "organizations_name_t9999_idx"' in str(failure.value)
    assert [i.name for i in migrator.repaired] == ["pliers.organizations_name_t9999_idx"]
    assert indexes_in(fresh_db, valid=False) == []
    assert {s.migration_id: s.applied for s in migrator.status()}["9999.pliers-unique-names"] \
        is False

    # A run killed after its build failed left the index; the cause is then fixed.
    leave_invalid_index(fresh_db, build)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("UPDATE pliers.organizations SET name = slug")
    migrator = Migrator(fresh_db, source)
    assert migrator.migrate() == ["9999.pliers-unique-names"]
    assert [i.name for i in migrator.repaired] == ["pliers.organizations_name_t9999_idx"]
    assert indexes_in(fresh_db, valid=False) == []
    assert "pliers.organizations_name_t9999_idx" in indexes_in(fresh_db, valid=True)

    # rollback repairs first too
    leave_invalid_index(fresh_db, CONSTANT_INDEX.format("organizations_t9998_idx"))
    migrator = Migrator(fresh_db, source)
    assert migrator.rollback(count=1) == ["9999.pliers-unique-names"]
    assert [i.name for i in migrator.repaired] == ["pliers.organizations_t9998_idx"]
    assert indexes_in(fresh_db, valid=False) == []


@pytest.mark.parametrize(("stop", "error", "next_wait"), [
    # cancelled (as by its lock_timeout): yoyo undoes the statements done, and its
    # DROP of the new index waits for the reader too
    ("pg_cancel_backend", "canceling statement due to user request",
     "%DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_answers_idx;"),
    # its connection killed: nothing is undone; the runner's repair, on the connection
    # that holds the migration lock, waits for the reader
    ("pg_terminate_backend", "terminating connection due to administrator command",
     "DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_data_idx"),
])
def test_answer_index_migration_stopped_midway_is_repaired_and_runs_again(
        empty_db: str, stop: str, error: str, next_wait: str) -> None:
    # The case seen: 0010's DROP INDEX CONCURRENTLY of submissions_data_idx, stopped
    # (by its lock_timeout) after it had marked the index invalid. yoyo undoes the
    # statements done, not the failed one: the database was left at 0009 with
    # submissions_data_idx invalid.
    Migrator(empty_db).migrate(count=MIGRATIONS.index(ANSWER_INDEX))
    migrator = Migrator(empty_db)
    waiting = ("SELECT pid FROM pg_catalog.pg_stat_activity "
               "WHERE wait_event_type = 'Lock' AND query LIKE %s")
    with psycopg.connect(empty_db) as reader:
        # A transaction that has read submissions: DROP INDEX CONCURRENTLY waits for
        # it. (0010's CREATE INDEX CONCURRENTLY does not: it holds no snapshot.)
        reader.execute("LOCK TABLE pliers.submissions IN ACCESS SHARE MODE")
        thread, result = in_thread(migrator.migrate)
        pid = wait_for(empty_db, waiting, "%DROP INDEX CONCURRENTLY IF EXISTS "
                       "pliers.submissions_data_idx;")
        assert indexes_in(empty_db, valid=False) == ["pliers.submissions_data_idx"]
        with psycopg.connect(empty_db, autocommit=True) as conn:
            conn.execute(sql.SQL("SELECT pg_catalog.{}(%s)").format(sql.Identifier(stop)),
                         (pid,))
        wait_for(empty_db, waiting, next_wait)
    thread.join()
    assert isinstance(result[0], MigrationError), result
    assert "0010.pliers-answer-index.sql" in str(result[0])
    assert error in str(result[0])
    assert ("its connection was lost" in str(result[0])) == (stop == "pg_terminate_backend")
    assert "DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_data_idx" in str(result[0])
    assert [i.name for i in migrator.repaired] == ["pliers.submissions_data_idx"]
    assert applied_ids(empty_db) == MIGRATIONS[:MIGRATIONS.index(ANSWER_INDEX)]
    assert indexes_in(empty_db, valid=False) == []
    with psycopg.connect(empty_db) as conn:  # yoyo's lock row went, even when killed
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.yoyo_lock").fetchone() == (0,)

    assert Migrator(empty_db).migrate() == MIGRATIONS[MIGRATIONS.index(ANSWER_INDEX):]
    assert indexes_in(empty_db, valid=False) == []
    valid = indexes_in(empty_db, valid=True)
    assert "pliers.submissions_answers_idx" in valid
    assert "pliers.submissions_data_idx" not in valid


def test_an_index_being_built_and_valid_indexes_are_left_alone(
        fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    two_organizations(fresh_db)
    leave_invalid_index(fresh_db, CONSTANT_INDEX.format("organizations_t9998_idx"))
    valid = indexes_in(fresh_db, valid=True)
    with psycopg.connect(fresh_db) as writer:
        # A transaction that writes forms: CREATE INDEX CONCURRENTLY waits for it, its
        # index already in the catalog, invalid until the build ends.
        writer.execute("LOCK TABLE pliers.forms IN ROW EXCLUSIVE MODE")

        def build() -> None:
            with psycopg.connect(fresh_db, autocommit=True) as conn:
                conn.execute("CREATE INDEX CONCURRENTLY forms_t9998_idx "
                             "ON pliers.forms (created_at)")

        thread, result = in_thread(build)
        wait_for(fresh_db, "SELECT TRUE FROM pg_catalog.pg_stat_progress_create_index "
                 "WHERE relid = 'pliers.forms'::regclass "
                 "AND phase = 'waiting for writers before build'")
        assert indexes_in(fresh_db, valid=False) == ["pliers.forms_t9998_idx",
                                                     "pliers.organizations_t9998_idx"]
        assert cli.main(["status", "--dsn", fresh_db]) == 3
        out = capsys.readouterr().out
        assert ("invalid index          pliers.forms_t9998_idx on pliers.forms\n"
                "                       CREATE INDEX forms_t9998_idx ON pliers.forms "
                "USING btree (created_at)\n"
                "                       another session is building an index on its table"
                ) in out

        migrator = Migrator(fresh_db)
        assert migrator.migrate() == []
        assert [i.name for i in migrator.repaired] == ["pliers.organizations_t9998_idx"]
        assert indexes_in(fresh_db, valid=False) == ["pliers.forms_t9998_idx"]
        assert indexes_in(fresh_db, valid=True) == valid
        assert cli.main(["status", "--dsn", fresh_db]) == 0  # only a build in progress
        assert capsys.readouterr().out.endswith(", 1 invalid index\n")
    thread.join()
    assert result == [None]
    assert indexes_in(fresh_db, valid=False) == []
    assert indexes_in(fresh_db, valid=True) == sorted([*valid, "pliers.forms_t9998_idx"])


def test_status_only_reads(cluster: Cluster, fresh_db: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    # A reporting role (pliers_readonly) may run status: no lock, no bookkeeping
    # created, a read-only transaction. It needs to read the bookkeeping.
    two_organizations(fresh_db)
    leave_invalid_index(fresh_db, CONSTANT_INDEX.format("organizations_t9997_idx"))
    role, password = f"ro_{uuid.uuid4().hex[:12]}", secrets.token_hex(12)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pliers_readonly").format(
            sql.Identifier(role), sql.Literal(password)))
    try:
        reporting = make_conninfo(fresh_db, user=role, password=password)
        assert cli.main(["status", "--dsn", reporting]) == 1
        assert capsys.readouterr().err == (
            f"pliersdb: cannot read the migration bookkeeping: permission denied for schema "
            f"{SCHEMA} (grant it: {READ_GRANTS})\n")
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {0} TO {1}; "
                                 "GRANT SELECT ON ALL TABLES IN SCHEMA {0} TO {1}").format(
                sql.Identifier(SCHEMA), sql.Identifier(role)))
        assert cli.main(["status", "--dsn", reporting]) == 3
        out = capsys.readouterr().out
        assert "invalid index          pliers.organizations_t9997_idx" in out
        assert out.endswith(f"{len(MIGRATIONS)} applied, 0 pending, 1 invalid index\n")
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(
                sql.Identifier(role)))


ANSWER_INDEX = "0010.pliers-answer-index"

LISTINGS = [  # list_submissions arguments; {form} is the first form
    "p_filter => '{\"dept\": \"it\"}', p_limit => 1000",
    "p_form_id => {form}, p_filter => '{\"dept\": \"it\"}', p_limit => 7",
    "p_form_id => {form}, p_filter => '{\"email\": \"p18@x.example\"}'",
    "p_field => 'age', p_op => '>=', p_value => '60', p_limit => 1000",
    "p_form_id => {form}, p_field => 'dept', p_op => '=', p_value => '\"hr\"', p_limit => 1000",
]


def listings(dsn: str, org: Any, user: Any, form: Any) -> list[list[Any]]:
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        return [[r[0] for r in conn.execute(
            "SELECT id FROM pliers.list_submissions(" + args.replace("{form}", f"'{form}'") + ")")]
            for args in LISTINGS]


def test_upgrade_to_the_answer_index_lists_the_same(empty_db: str) -> None:
    # 0010 replaces the GIN index on data with the per-form one, built CONCURRENTLY on a
    # live table, and list_submissions with a version that probes it: on a database
    # that has submissions, every listing is the same before, after, and after its
    # rollback.
    migrator = Migrator(empty_db)
    migrator.migrate(count=MIGRATIONS.index(ANSWER_INDEX))
    definition = {"title": "Upgrade", "fields": [
        {"id": "f1", "type": "text", "name": "dept", "label": "Department"},
        {"id": "f2", "type": "email", "name": "email", "label": "E-mail"},
        {"id": "f3", "type": "integer", "name": "age", "label": "Age"}]}
    with psycopg.connect(empty_db, autocommit=True) as conn:
        org = seed_org(conn, "upgrade", {"ann": ["org_admin"]})
        other = seed_org(conn, "other", {"bob": ["org_admin"]})
        forms = []
        for owner, user, slug in ((org, "ann", "a"), (org, "ann", "b"), (other, "bob", "c")):
            with conn.transaction():
                conn.execute("SELECT pliers.set_context(%s, %s)", (owner.id, owner.users[user]))
                row = conn.execute("SELECT id FROM pliers.create_form(%s, %s, %s)",
                                   (slug, slug, Jsonb(definition))).fetchone()
                assert row is not None
                conn.execute("SELECT pliers.publish_form(%s, '1.0.0')", (row[0],))
                forms.append((owner, user, row[0]))
        for i in range(60):
            owner, user, form = forms[i % 3]
            with conn.transaction():
                conn.execute("SELECT pliers.set_context(%s, %s)", (owner.id, owner.users[user]))
                conn.execute("SELECT pliers.create_submission(%s, %s, TRUE)", (form, Jsonb(
                    {"dept": ["hr", "it", "ops"][i % 4 % 3], "email": f"p{i}@x.example",
                     "age": 20 + i})))
    before = listings(empty_db, org.id, org.users["ann"], forms[0][2])
    assert [len(x) for x in before] == [10, 5, 1, 13, 10]

    assert migrator.migrate() == MIGRATIONS[MIGRATIONS.index(ANSWER_INDEX):]
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "SELECT indisvalid FROM pg_catalog.pg_index "
            "WHERE indexrelid = 'pliers.submissions_answers_idx'::regclass").fetchone() == (True,)
        gone = conn.execute("SELECT to_regclass('pliers.submissions_data_idx')").fetchone()
        assert gone == (None,)
    assert listings(empty_db, org.id, org.users["ann"], forms[0][2]) == before

    migrator.rollback(count=len(MIGRATIONS) - MIGRATIONS.index(ANSWER_INDEX))
    with psycopg.connect(empty_db) as conn:
        gone = conn.execute("SELECT to_regclass('pliers.submissions_answers_idx')").fetchone()
        assert gone == (None,)
    assert listings(empty_db, org.id, org.users["ann"], forms[0][2]) == before


def test_verify_reports_edited_missing_and_unknown(empty_db: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = copy_migrations(tmp_path)
    (source / "9998.pliers-extra.sql").write_text("CREATE TABLE pliers.extra (id integer);\n")
    (source / "9998.pliers-extra.rollback.sql").write_text("DROP TABLE pliers.extra;\n")
    migrator = Migrator(empty_db, source)
    migrator.migrate()
    assert migrator.verify() == []

    first = source / "0001.pliers-foundation.sql"
    first.write_text(first.read_text() + "\n-- an edit after release\n")
    (source / "9998.pliers-extra.sql").unlink()
    with psycopg.connect(empty_db) as conn:
        conn.execute(f"INSERT INTO {SCHEMA}._yoyo_migration "
                     "(migration_hash, migration_id, applied_at_utc) "
                     "VALUES ('x', '9997.pliers-foreign', now())")
    kinds = {(p.kind, p.migration_id) for p in migrator.verify()}
    assert kinds == {("edited", "0001.pliers-foundation"), ("missing", "9998.pliers-extra"),
                     ("missing", "9997.pliers-foreign")}

    with psycopg.connect(empty_db) as conn:
        conn.execute(f"DELETE FROM {SCHEMA}.migration_checksums "
                     "WHERE migration_id = '0001.pliers-foundation'")
    kinds = {(p.kind, p.migration_id) for p in migrator.verify()}
    assert ("unknown", "0001.pliers-foundation") in kinds


def test_verify_cli_exit_status(fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", "--dsn", fresh_db]) == 0
    assert "ok:" in capsys.readouterr().out
    with psycopg.connect(fresh_db) as conn:
        conn.execute(f"UPDATE {SCHEMA}.migration_checksums SET sha256 = repeat('0', 64) "
                     "WHERE migration_id = '0001.pliers-foundation'")
    assert cli.main(["verify", "--dsn", fresh_db]) == 1
    assert "edited: 0001.pliers-foundation" in capsys.readouterr().out


def test_concurrent_migrate_applies_each_migration_once(empty_db: str) -> None:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(Migrator(empty_db).migrate())
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(mid for r in results for mid in r) == MIGRATIONS
    assert applied_ids(empty_db) == MIGRATIONS


def test_stale_yoyo_lock_is_cleared(empty_db: str) -> None:
    Migrator(empty_db).migrate(count=1)
    with psycopg.connect(empty_db) as conn:
        conn.execute(f"INSERT INTO {SCHEMA}.yoyo_lock (locked, ctime, pid) "
                     "VALUES (1, now(), 999999)")
    assert Migrator(empty_db).migrate() == MIGRATIONS[1:]


WRITE_PATH = "0015.pliers-write-path-context"


def history(dsn: str, org: Any, user: Any, submissions: list[Any], forms: list[Any]
            ) -> dict[str, Any]:
    """What time travel, the feed and the audit log answer for a tenant."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        return {
            "submission_history": [
                conn.execute("SELECT * FROM pliers.submission_history(%s)", (s,)).fetchall()
                for s in submissions],
            "submission_at": [conn.execute(
                "SELECT pliers.submission_at(%s, clock_timestamp())", (s,)).fetchone()
                for s in submissions],
            "form_history": [conn.execute(
                "SELECT * FROM pliers.form_history(%s)", (f,)).fetchall() for f in forms],
            "feed": conn.execute("SELECT * FROM pliers.read_feed('0', 0, 10000)").fetchall(),
            "audit": conn.execute(
                "SELECT id, action, resource_type, resource_id, old_values, new_values, diff, "
                "user_id FROM pliers.audit_logs ORDER BY created_at, id").fetchall(),
        }


def test_upgrade_to_the_write_path_redesign_keeps_the_history(empty_db: str) -> None:
    # 0015 to 0020 (issue 13) change how the API writes history (no audit row for the API's
    # writes to forms and submissions, events appended together, indexes dropped,
    # compiled validators): on a database with submissions, events and audit rows made by
    # the previous release, time travel, the feed and the audit log answer the same after
    # the upgrade and after its rollback, and the upgraded API goes on writing history.
    migrator = Migrator(empty_db)
    migrator.migrate(count=MIGRATIONS.index(WRITE_PATH))
    definition = {"title": "History", "fields": [
        {"id": "f1", "type": "text", "name": "name", "label": "Name", "required": True},
        {"id": "f2", "type": "integer", "name": "age", "label": "Age"}]}
    with psycopg.connect(empty_db, autocommit=True) as conn:
        org = seed_org(conn, "history", {"ann": ["org_admin"]})
        user = org.users["ann"]

        def call(query: str, *params: Any) -> Any:
            with conn.transaction():
                conn.execute("SELECT pliers.set_context(%s, %s)", (org.id, user))
                row = conn.execute(query, params).fetchone()
                assert row is not None
                return row[0]

        form = call("SELECT id FROM pliers.create_form('h', 'h', %s)", Jsonb(definition))
        call("SELECT revision FROM pliers.publish_form(%s, '1.0.0')", form)
        submissions = [call("SELECT id FROM pliers.create_submission(%s, %s, %s)",
                            form, Jsonb({"name": f"n{i}", "age": i}), i % 2 == 0) for i in range(6)]
        call("SELECT revision FROM pliers.update_submission(%s, 1, %s)",
             submissions[1], Jsonb({"name": "renamed", "age": 40}))
        call("SELECT revision FROM pliers.set_submission_status(%s, 'processing')", submissions[0])
        call("SELECT revision FROM pliers.delete_submission(%s)", submissions[2])
    before = history(empty_db, org.id, user, submissions, [form])
    assert len(before["feed"]) >= 12 and len(before["audit"]) >= 8

    assert migrator.migrate() == MIGRATIONS[MIGRATIONS.index(WRITE_PATH):]
    assert history(empty_db, org.id, user, submissions, [form]) == before
    with psycopg.connect(empty_db, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pliers.set_context(%s, %s)", (org.id, user))
        row = conn.execute("SELECT id FROM pliers.create_submission(%s, %s, TRUE)",
                           (form, Jsonb({"name": "after", "age": 1}))).fetchone()
        assert row is not None
    after = history(empty_db, org.id, user, [*submissions, row[0]], [form])
    assert after["audit"] == before["audit"]  # the API's writes: events only
    assert [e[2] for e in after["feed"][len(before["feed"]):]] == [
        "submission.created", "submission.submitted"]
    assert [h[:2] for h in after["submission_history"][-1]] == [
        (1, "submission.created"), (2, "submission.submitted")]

    migrator.rollback(count=len(MIGRATIONS) - MIGRATIONS.index(WRITE_PATH))
    assert history(empty_db, org.id, user, submissions, [form]) == {**before, "feed": after["feed"]}
