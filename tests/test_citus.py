"""pliersdb on a real Citus cluster: a coordinator and two workers on 127.0.0.1.

Run by ``.ci/run`` with ``PLIERSDB_TEST_CITUS=1`` (Citus installed by
``../shared/citus/install.sh``); without it these tests are deselected, not skipped.
Every tenant call runs with ``citus.multi_task_query_log_level = 'error'``: a
single-tenant statement that reaches more than one shard fails the test.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgcluster as clusterlib
import psycopg
import pytest
from psycopg import sql

import pliersdb
from pliersdb import distribute
from pliersdb.migrate import Migrator

pytestmark = pytest.mark.citus

DATABASE = "pliers_citus"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
ROUTED = "-c citus.multi_task_query_log_level=error"
FORM = {"fields": [{"name": "name", "type": "text", "label": "Name", "required": True}]}


@dataclass
class Tenant:
    organization_id: uuid.UUID
    user_id: uuid.UUID


@dataclass
class Cluster:
    citus: clusterlib.CitusCluster
    dsn: str  # superuser, coordinator
    app_dsn: str  # a LOGIN role in pliers_app
    tenants: dict[str, Tenant]


def _with_database(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + name


def _seed(conn: psycopg.Connection[Any], slug: str) -> Tenant:
    """An organization and its admin, as the platform would create them (the slug in
    the global directory first: on Citus it replaces UNIQUE (slug))."""
    tenant = Tenant(distribute.register_slug(conn, slug), uuid.uuid4())
    conn.execute("INSERT INTO pliers.organizations (id, slug, name) VALUES (%s, %s, %s)",
                 (tenant.organization_id, slug, slug.title()))
    conn.execute("INSERT INTO pliers.users (organization_id, id, email, username, roles) "
                 "VALUES (%s, %s, %s, %s, '{org_admin}')",
                 (tenant.organization_id, tenant.user_id, f"admin@{slug}.example", "admin"))
    return tenant


@pytest.fixture(scope="module")
def citus() -> Iterator[Cluster]:
    nodes = clusterlib.start_citus(clusterlib.system_bin_dir())
    try:
        # On every node, the nodes registered, migrated, distributed.
        dsn = nodes.create_database(DATABASE)
        with psycopg.connect(dsn, autocommit=True) as conn:
            tenants = {slug: _seed(conn, slug) for slug in ("acme", "globex")}
            conn.execute("CREATE ROLE citus_app LOGIN IN ROLE pliers_app")
        yield Cluster(nodes, dsn, _with_database(nodes.coordinator.dsn(DATABASE, user="citus_app"),
                                                 DATABASE), tenants)
    finally:
        nodes.stop()


def test_migrate_makes_the_roles_able_to_log_in_on_the_workers(citus: Cluster) -> None:
    for node in citus.citus.workers:
        with psycopg.connect(node.dsn(DATABASE)) as conn:
            rows = conn.execute("SELECT rolname, rolcanlogin FROM pg_catalog.pg_roles "
                                "WHERE rolname LIKE 'pliers\\_%' ORDER BY 1").fetchall()
        # pliers_lister runs nothing since 0022: it stays NOLOGIN. pliers_platform (0026)
        # logs in like the application's roles (pliersdb.distribute.ROLES_SQL).
        assert dict(rows) == {"pliers_owner": True, "pliers_app": True, "pliers_readonly": True,
                              "pliers_worker": True, "pliers_lister": False,
                              "pliers_platform": True}, rows


def test_tenant_tables_are_distributed_and_colocated_global_ones_replicated(citus: Cluster) -> None:
    with psycopg.connect(citus.dsn) as conn:
        rows = dict(conn.execute(
            "SELECT c.relname, p.partmethod::text || ':' || p.colocationid "
            "FROM pg_catalog.pg_dist_partition AS p "
            "JOIN pg_catalog.pg_class AS c ON c.oid = p.logicalrelid "
            "WHERE c.relnamespace = 'pliers'::regnamespace").fetchall())
        tenant_tables = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_attribute AS a "
            "ON a.attrelid = c.oid AND a.attname = 'organization_id' "
            "WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition").fetchall()}
    group = rows["organizations"]
    assert group.startswith("h:")
    for table in tenant_tables - set(distribute.GLOBAL_TABLES):
        assert rows.get(table) == group, (table, rows.get(table))
    for table in distribute.GLOBAL_TABLES:
        assert rows[table].startswith("n:"), table


def test_distribute_again_changes_nothing(citus: Cluster) -> None:
    with psycopg.connect(citus.dsn, autocommit=True) as conn:
        report = distribute.distribute(conn)
    assert not report.changed, report


def test_the_foreign_keys_from_organizations_are_back(citus: Cluster) -> None:
    with psycopg.connect(citus.dsn) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT conname FROM pg_catalog.pg_constraint "
            "WHERE conrelid = 'pliers.organizations'::regclass AND contype = 'f'").fetchall()}
    assert {"organizations_primary_contact_id_fkey", "organizations_created_by_fkey",
            "organizations_updated_by_fkey", "organizations_slug_fkey"} <= names


def test_a_slug_is_unique_across_tenants(citus: Cluster) -> None:
    with psycopg.connect(citus.dsn) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO pliers.organization_slugs (slug, organization_id) "
                     "VALUES ('acme', %s)", (uuid.uuid4(),))


def _routed(dsn: str) -> pliersdb.Database:
    return pliersdb.connect(dsn + f"?options={ROUTED.replace(' ', '%20').replace('=', '%3D')}")


def test_the_write_path_is_routed_to_one_shard(citus: Cluster) -> None:
    """Each call its own transaction: on Citus a transaction may not read as the
    application the shards that the API (running as pliers_owner) wrote in it
    (docs/scale-out.md)."""
    acme = citus.tenants["acme"]
    with _routed(citus.app_dsn) as db:
        def tenant() -> Any:
            return db.tenant(acme.organization_id, acme.user_id)

        with tenant() as t:
            form = t.forms.create("Survey", "survey", FORM)
        with tenant() as t:
            form = t.forms.publish(form.id, "1.0.0")
        with tenant() as t:
            draft = t.submissions.create(form.id, {"name": "Ann"})
        with tenant() as t:
            assert t.submissions.submit(draft.id).status == "submitted"
        with tenant() as t:
            assert t.submissions.get(draft.id).data == {"name": "Ann"}
            assert [s.id for s in t.submissions.list(form_id=form.id)] == [draft.id]
            assert len(t.submissions.history(draft.id)) >= 2
            assert [f.slug for f in t.forms.list()] == ["survey"]


def test_api_keys_authenticate_through_the_global_directory(citus: Cluster) -> None:
    acme = citus.tenants["acme"]
    with _routed(citus.app_dsn) as db:
        created = db.tenant(acme.organization_id, acme.user_id).call_one("create_api_key", "ci")
        with db.with_api_key(created["key"]) as t:
            # authenticate_api_key wrote last_used_at as pliers_owner: in this transaction
            # the tenant's shards are read through the API (list_submissions), not as
            # the application (docs/scale-out.md).
            assert t.organization_id == acme.organization_id
            assert len(t.submissions.list()) == 1


def test_a_tenant_sees_nothing_of_another_as_the_application(citus: Cluster) -> None:
    acme, globex = citus.tenants["acme"], citus.tenants["globex"]
    with _routed(citus.app_dsn) as db, db.tenant(globex.organization_id, globex.user_id) as t:
        t.forms.create("Other", "other", FORM)
    # Every tenant table the application may read, probed for the other tenant's rows
    # (each probe names a tenant: one shard), where the superuser sees some.
    with psycopg.connect(citus.dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_attribute AS a "
            "ON a.attrelid = c.oid AND a.attname = 'organization_id' "
            "WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition "
            "AND pg_catalog.has_table_privilege('pliers_app', c.oid, 'SELECT') "
            "ORDER BY 1").fetchall()]
        present = {table for table in tables if conn.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM pliers.{} WHERE organization_id = %s)").format(
                sql.Identifier(table)), (globex.organization_id,)).fetchone() == (True,)}
    assert {"forms", "users", "events", "audit_logs"} <= present, present
    with psycopg.connect(citus.app_dsn, options=ROUTED) as conn:
        conn.execute("SELECT pliers.set_context(%s, %s)", (acme.organization_id, acme.user_id))
        for table in tables:
            theirs = conn.execute(
                sql.SQL("SELECT count(*) FROM pliers.{} WHERE organization_id = %s").format(
                    sql.Identifier(table)), (globex.organization_id,)).fetchone()
            assert theirs == (0,), table
        for table in ("forms", "users", "events"):
            ours = conn.execute(
                sql.SQL("SELECT count(*) FROM pliers.{} WHERE organization_id = %s").format(
                    sql.Identifier(table)), (acme.organization_id,)).fetchone()
            assert ours is not None and ours[0] > 0, table
        conn.rollback()
        # A context written by hand verifies nowhere: the workers see no tenant either.
        conn.execute("SELECT set_config('pliers.context', %s, true)",
                     (f"{acme.organization_id}|{acme.user_id}|form.view|||||||" + "0" * 64,))
        conn.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        conn.execute(sql.SQL("SET LOCAL pliers.context = {}").format(sql.Literal(
            f"{acme.organization_id}|{acme.user_id}|form.view|||||||" + "0" * 64)))
        row = conn.execute("SELECT count(*) FROM pliers.forms WHERE organization_id = %s",
                           (acme.organization_id,)).fetchone()
        assert row == (0,)


def test_the_demo_data_of_the_write_path_is_audited_under_the_table_name(citus: Cluster) -> None:
    with psycopg.connect(citus.dsn) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT DISTINCT resource_type FROM pliers.audit_logs").fetchall()}
    assert names and all(not name.rsplit("_", 1)[-1].isdigit() for name in names), names


def test_a_change_of_a_reference_table_is_audited_once(citus: Cluster) -> None:
    """plugins is a reference table (a placement on every node): its audit trigger fires
    on each, and exactly one of them records the change."""
    acme = citus.tenants["acme"]
    with psycopg.connect(citus.dsn) as conn:
        conn.execute("SELECT pliers.set_context(%s, %s)", (acme.organization_id, acme.user_id))
        row = conn.execute(
            "INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest) "
            "VALUES (%s, 'Acme audit', 'acme-audit', '1.0.0', 'integration', '{}') "
            "RETURNING id", (acme.organization_id,)).fetchone()
        assert row is not None
        conn.execute("UPDATE pliers.plugins SET version = '1.0.1' WHERE id = %s", row)
        conn.commit()
        audited = conn.execute(
            "SELECT action, count(*) FROM pliers.audit_logs WHERE organization_id = %s "
            "AND resource_type = 'plugins' AND resource_id = %s GROUP BY action ORDER BY action",
            (acme.organization_id, row[0])).fetchall()
        placements = conn.execute(
            "SELECT count(*) FROM pg_dist_placement JOIN pg_dist_shard USING (shardid) "
            "WHERE logicalrelid = 'pliers.plugins'::regclass").fetchone()
    assert placements is not None and placements[0] == 3  # coordinator and two workers
    assert audited == [("insert", 1), ("update", 1)]


def test_maintenance_creates_distributed_partitions(citus: Cluster) -> None:
    """distribute ran the maintenance while the tables were local; later months are
    created as partitions of the distributed parents, distributed with them."""
    with psycopg.connect(citus.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT * FROM pliers.create_partitions('pliers.events', "
            "(now() + interval '5 months')::date, (now() + interval '6 months')::date)").fetchall()
        names = [r[0] for r in rows]
        distributed = conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_dist_partition "
            "WHERE logicalrelid::text = ANY(%s)", (names,)).fetchone()
        report = conn.execute("SELECT count(*) FROM pliers.run_maintenance()").fetchone()
    assert len(rows) == 2 and all(r[1] and r[2] == 0 for r in rows), rows
    assert distributed == (2,), (names, distributed)
    assert report is not None and report[0] > 0


def test_a_later_migration_applies_to_the_distributed_database(
        citus: Cluster, tmp_path: Path) -> None:
    """A migration after distribute (here a new tenant table, written the way pliers'
    migrations are) applies, and migrate distributes the table with its tenants."""
    for source in sorted(MIGRATIONS.glob("*.sql")):
        shutil.copy(source, tmp_path / source.name)
    (tmp_path / "9999.pliers-later.sql").write_text(
        "SET LOCAL lock_timeout = '5s';\nSET LOCAL ROLE pliers_owner;\n"
        "CREATE TABLE pliers.later_notes (organization_id uuid NOT NULL, id uuid NOT NULL,\n"
        "    note text NOT NULL, PRIMARY KEY (organization_id, id),\n"
        "    FOREIGN KEY (organization_id) REFERENCES pliers.organizations (id));\n"
        "RESET ROLE;\n")
    (tmp_path / "9999.pliers-later.rollback.sql").write_text(
        "SET LOCAL ROLE pliers_owner;\nDROP TABLE pliers.later_notes;\nRESET ROLE;\n")
    try:
        assert Migrator(citus.dsn, tmp_path).migrate() == ["9999.pliers-later"]
        with psycopg.connect(citus.dsn) as conn:
            row = conn.execute(
                "SELECT p.colocationid = o.colocationid FROM pg_catalog.pg_dist_partition AS p, "
                "pg_catalog.pg_dist_partition AS o "
                "WHERE p.logicalrelid = 'pliers.later_notes'::regclass "
                "AND o.logicalrelid = 'pliers.organizations'::regclass").fetchone()
        assert row == (True,)
    finally:
        Migrator(citus.dsn, tmp_path).rollback(1)


def test_a_rotated_key_reaches_the_workers(citus: Cluster) -> None:
    """rotate_context_key updates the key (a reference table, every node) and makes the
    verifying functions planned again there: a context signed with the new key verifies
    on the workers (the application reads its rows), one read before does not exist."""
    acme = citus.tenants["acme"]
    with psycopg.connect(citus.dsn, autocommit=True) as conn:
        before = conn.execute("SELECT signing_key FROM pliers.context_keys").fetchone()
        conn.execute("SET ROLE pliers_owner")
        conn.execute("SELECT pliers.rotate_context_key()")
        conn.execute("RESET ROLE")
        after = conn.execute("SELECT signing_key FROM pliers.context_keys").fetchone()
    assert before != after
    with psycopg.connect(citus.app_dsn, options=ROUTED) as conn:
        conn.execute("SELECT pliers.set_context(%s, %s)", (acme.organization_id, acme.user_id))
        row = conn.execute("SELECT count(*) FROM pliers.users WHERE organization_id = %s",
                           (acme.organization_id,)).fetchone()
        assert row is not None and row[0] > 0


def test_purge_deleted_reaches_every_shard(citus: Cluster) -> None:
    """purge_deleted is cross-tenant maintenance (docs/scale-out.md): it runs on the
    cluster, row by row, each DELETE routed to its tenant's shard."""
    acme = citus.tenants["acme"]
    with psycopg.connect(citus.dsn) as conn:
        user = conn.execute(
            "INSERT INTO pliers.users (organization_id, email, username, status, deleted_at) "
            "VALUES (%s, 'old@acme.example', 'old', 'deleted', now() - interval '200 days') "
            "RETURNING id", (acme.organization_id,)).fetchone()
        assert user is not None
        purged = dict(conn.execute(
            "SELECT table_name, rows_purged FROM pliers.purge_deleted()").fetchall())
        left = conn.execute("SELECT count(*) FROM pliers.users WHERE organization_id = %s "
                            "AND id = %s", (acme.organization_id, user[0])).fetchone()
        conn.rollback()
    assert purged["pliers.users"] >= 1 and left == (0,), purged
