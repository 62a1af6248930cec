"""Citus: turn a migrated database on a coordinator into a distributed one.

docs/scale-out.md tells the whole story. In short: every table with an
``organization_id`` is distributed by it and colocated with ``organizations``
(distributed by ``id``), so that all of one tenant's rows live on one node and a
single-tenant call is routed there; the global tables are reference tables, a copy
on every node. Idempotent: run again (``pliersdb migrate`` does, after applying
migrations to a distributed database) it distributes what a later migration added
and changes nothing else.

Citus cannot distribute a table that references a table still local, and
``organizations`` and ``users`` reference each other (an organization's primary
contact and authors are its users): the keys from ``organizations`` to the other
tenant tables are dropped and re-created, identical, in the same transaction as
the distribution, so no row is ever unguarded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

# Global tables: the same rows for every tenant, read by every node.
REFERENCE_TABLES = ("roles", "system_settings", "context_keys", "plugins", "api_key_hashes")
# The global directory of slugs that distribute makes (below).
SLUGS = "organization_slugs"
GLOBAL_TABLES = (*REFERENCE_TABLES, SLUGS)
# Distributed by its own id; the colocation group of every tenant table.
TENANTS = "organizations"

# The roles that run statements reaching the shards: Citus opens the connections to
# the workers as the current role, so each must be able to log in there (through
# pg_dist_authinfo, a password file or certificates: docs/scale-out.md). Created
# before the first migration, which then finds them (it creates only missing roles).
ROLES_SQL = """
DO $roles$
DECLARE
    v_role record;
BEGIN
    FOR v_role IN
        SELECT r.name, r.options FROM (VALUES
            ('pliers_owner', ''),
            ('pliers_app', 'NOBYPASSRLS'),
            ('pliers_readonly', 'NOBYPASSRLS'),
            ('pliers_worker', 'NOBYPASSRLS'),
            ('pliers_platform', 'NOBYPASSRLS')
        ) AS r (name, options)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role.name) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN %s', v_role.name, v_role.options);
        ELSIF NOT (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = v_role.name) THEN
            EXECUTE pg_catalog.format('ALTER ROLE %I LOGIN', v_role.name);
        END IF;
    END LOOP;
END
$roles$
"""


# Slugs are unique across tenants, which a distributed table cannot check: on Citus a
# global directory holds them, and each organization's (slug, id) must be in it. It
# replaces organizations_slug_key; whoever creates or renames an organization writes
# the directory first (docs/scale-out.md).
# One statement each: Citus sends each DDL statement to the workers on its own.
SLUGS_SQL = (
    """CREATE TABLE pliers.organization_slugs (
    slug pliers.slug NOT NULL,
    organization_id uuid NOT NULL,
    CONSTRAINT organization_slugs_pkey PRIMARY KEY (slug),
    CONSTRAINT organization_slugs_slug_organization_id_key UNIQUE (slug, organization_id)
)""",
    "ALTER TABLE pliers.organization_slugs OWNER TO pliers_owner",
    "ALTER TABLE pliers.organization_slugs ENABLE ROW LEVEL SECURITY",
    """COMMENT ON TABLE pliers.organization_slugs IS
'Citus only (pliersdb distribute): the slug of every organization, unique across tenants '
'(a reference table). Owner only.'""",
    """INSERT INTO pliers.organization_slugs (slug, organization_id)
SELECT o.slug, o.id FROM pliers.organizations AS o""",
    "ALTER TABLE pliers.organizations DROP CONSTRAINT organizations_slug_key",
    "SELECT create_reference_table('pliers.organization_slugs')",
)
SLUGS_KEY_SQL = (
    """ALTER TABLE pliers.organizations
ADD CONSTRAINT organizations_slug_fkey FOREIGN KEY (slug, id)
REFERENCES pliers.organization_slugs (slug, organization_id)""",
    """COMMENT ON CONSTRAINT organizations_slug_fkey ON pliers.organizations IS
'Citus: the slug is registered, for this organization, in pliers.organization_slugs '
'(unique across tenants)'""",
)


class DistributeError(Exception):
    """The database cannot be distributed as it is (one line, for the CLI)."""


@dataclass
class Report:
    reference: list[str] = field(default_factory=list)
    distributed: list[str] = field(default_factory=list)
    functions: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.reference or self.distributed or self.functions)


def has_citus(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus')").fetchone()
    return bool(row and row[0])


def is_distributed(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``pliers.organizations`` is a distributed table here."""
    if not has_citus(conn):
        return False
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition "
        "WHERE logicalrelid = pg_catalog.to_regclass('pliers.organizations'))").fetchone()
    return bool(row and row[0])


def register_slug(conn: psycopg.Connection[Any], slug: str,
                  organization_id: UUID | None = None) -> UUID:
    """The id of an organization about to be created with ``slug`` (``organization_id``,
    else a new one). On a distributed database ``(slug, id)`` is written to the global
    directory ``pliers.organization_slugs`` first, as whoever inserts an organization
    must (it replaces UNIQUE (slug)); elsewhere nothing is written. Insert the
    organization with this id, in the same transaction."""
    organization_id = organization_id or uuid4()
    row = conn.execute(
        "SELECT pg_catalog.to_regclass('pliers.organization_slugs') IS NOT NULL").fetchone()
    if row and row[0]:
        conn.execute("INSERT INTO pliers.organization_slugs (slug, organization_id) "
                     "VALUES (%s, %s)", (slug, organization_id))
    return organization_id


def prepare_roles(conn: psycopg.Connection[Any]) -> None:
    """On a Citus coordinator, make pliers' roles able to log in on the workers."""
    if has_citus(conn):
        conn.execute(ROLES_SQL)


def _citus_tables(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_dist_partition AS p "
        "JOIN pg_catalog.pg_class AS c ON c.oid = p.logicalrelid "
        "WHERE c.relnamespace = 'pliers'::regnamespace").fetchall()
    return {r[0] for r in rows}


def _tenant_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables of schema pliers with an organization_id (not partitions), parents first:
    a table comes after every table it references, the keys from organizations aside."""
    tables = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class AS c "
        "JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attname = 'organization_id' "
        "WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition AND NOT a.attisdropped ORDER BY c.relname").fetchall()
        if r[0] not in GLOBAL_TABLES]
    edges = conn.execute(
        "SELECT f.relname, t.relname FROM pg_catalog.pg_constraint AS k "
        "JOIN pg_catalog.pg_class AS f ON f.oid = k.conrelid "
        "JOIN pg_catalog.pg_class AS t ON t.oid = k.confrelid "
        "WHERE k.contype = 'f' AND k.conparentid = 0 AND f.relnamespace = 'pliers'::regnamespace "
        "AND k.conrelid <> k.confrelid AND f.relname <> %s", (TENANTS,)).fetchall()
    needs: dict[str, set[str]] = {t: set() for t in tables}
    for referencing, referenced in edges:
        if referencing in needs and referenced in needs:
            needs[referencing].add(referenced)
    ordered: list[str] = [TENANTS]
    done = {TENANTS}
    while len(ordered) < len(tables) + (TENANTS not in tables):
        ready = [t for t in tables if t not in done and needs[t] <= done]
        if not ready:
            raise DistributeError(f"foreign keys form a cycle among {sorted(set(tables) - done)}")
        ordered.extend(ready)
        done.update(ready)
    return ordered


def _tenant_keys(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the keys from organizations to another table."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT k.conname, pg_catalog.pg_get_constraintdef(k.oid) "
        "FROM pg_catalog.pg_constraint AS k "
        "WHERE k.conrelid = 'pliers.organizations'::regclass AND k.contype = 'f' "
        "AND k.confrelid <> k.conrelid ORDER BY k.conname").fetchall()]


def distribute(conn: psycopg.Connection[Any],
               say: Callable[[str], None] = lambda _: None) -> Report:
    """Distribute the migrated database of ``conn`` (a superuser's, on the coordinator).
    One transaction; returns what it changed (nothing, run a second time)."""
    if not has_citus(conn):
        raise DistributeError("the Citus extension is not installed in this database "
                              "(CREATE EXTENSION citus, on the coordinator and every worker)")
    if conn.execute("SELECT pg_catalog.to_regclass('pliers.organizations')").fetchone() == (None,):
        raise DistributeError("pliers' schema is not there: run pliersdb migrate first")
    report = Report()
    with conn.transaction():
        # Triggers run on the shards (each writes its tenant's rows only); the keys to
        # the reference tables are created with them, not through Citus-local tables.
        conn.execute("SET LOCAL citus.enable_unsafe_triggers = on")
        conn.execute("SET LOCAL citus.enable_local_reference_table_foreign_keys = off")
        conn.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
        present = _citus_tables(conn)
        for table in REFERENCE_TABLES:
            if table not in present:
                conn.execute("SELECT create_reference_table(%s)", (f"pliers.{table}",))
                report.reference.append(table)
                say(f"reference table pliers.{table}")
        first = TENANTS not in present
        if first:
            # While the tables are local: rows out of the DEFAULT partitions into their
            # months, months ahead created. On Citus create_partitions makes a new
            # month as a partition of the distributed parent, which cannot take rows
            # from the DEFAULT partition (docs/scale-out.md).
            conn.execute("SELECT count(*) FROM pliers.run_maintenance()")
            for statement in SLUGS_SQL:
                conn.execute(statement)
            report.reference.append(SLUGS)
            say("reference table pliers.organization_slugs (replaces organizations_slug_key)")
        keys = _tenant_keys(conn) if first else []
        for name, _ in keys:
            conn.execute(sql.SQL("ALTER TABLE pliers.organizations DROP CONSTRAINT {}").format(
                sql.Identifier(name)))
        for table in _tenant_tables(conn):
            if table in present:
                continue
            if table == TENANTS:
                conn.execute("SELECT create_distributed_table('pliers.organizations', 'id')")
            else:
                conn.execute(
                    "SELECT create_distributed_table(%s, 'organization_id', "
                    "colocate_with => 'pliers.organizations')", (f"pliers.{table}",))
            report.distributed.append(table)
            say(f"distributed pliers.{table} by {'id' if table == TENANTS else 'organization_id'}")
        for name, definition in keys:
            conn.execute(sql.SQL("ALTER TABLE pliers.organizations ADD CONSTRAINT {} {}").format(
                sql.Identifier(name), sql.SQL(definition)))
        if first:
            for statement in SLUGS_KEY_SQL:
                conn.execute(statement)
        report.functions = _distribute_functions(conn)
        _custom_plans_only(conn)
        # Row-level security on a worker verifies the context (the key is a reference
        # table) and has_permission reads its tenant's rows; triggers write their
        # tenant's audit rows: queries from a query on a shard, always to the local
        # placements of the same tenant, which Citus runs only when allowed.
        # (Citus sends ALTER DATABASE to every node.)
        database = conn.execute("SELECT pg_catalog.current_database()").fetchone()
        assert database is not None
        conn.execute(sql.SQL(
            "ALTER DATABASE {} SET citus.allow_nested_distributed_execution = on").format(
            sql.Identifier(database[0])))
        if report.functions:
            say(f"{report.functions} functions created on the workers")
    return report


def _custom_plans_only(conn: psycopg.Connection[Any]) -> None:
    """RESET plan_cache_mode where a function forces generic plans (has_permission,
    migration 0032): Citus plans a query of distributed tables whose parameters are not
    bound yet only as a custom plan (a generic one fails: "could not create distributed
    plan"). ALTER FUNCTION reaches the workers."""
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p "
        "WHERE p.pronamespace = 'pliers'::regnamespace "
        "AND 'plan_cache_mode=force_generic_plan' = ANY(p.proconfig)").fetchall()
    for (signature,) in rows:
        conn.execute(sql.SQL("ALTER FUNCTION {} RESET plan_cache_mode").format(
            sql.SQL(signature)))


def _distribute_functions(conn: psycopg.Connection[Any]) -> int:
    """Functions of pliers' schemas that Citus has not yet created on the workers
    (those whose signature names a table's row type wait for the table)."""
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p "
        "WHERE p.pronamespace IN ('pliers'::regnamespace, 'pliers_validators'::regnamespace) "
        "AND p.prokind IN ('f', 'p') AND NOT EXISTS (SELECT FROM pg_catalog.pg_dist_object AS o "
        "WHERE o.classid = 'pg_catalog.pg_proc'::regclass AND o.objid = p.oid) "
        "ORDER BY p.oid").fetchall()
    for (signature,) in rows:
        conn.execute("SELECT create_distributed_function(%s)", (signature,))
    return len(rows)
