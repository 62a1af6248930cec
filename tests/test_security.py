"""Tenant isolation, tested as the application would connect: a LOGIN role that is a
member of pliers_app (and one of pliers_readonly), never a superuser or an owner,
both of which bypass row-level security.

The data is the demo data set (organizations acme-health and northwind, rows in
every table), loaded as superuser into a clone of the template. For every tenant
table, each tenant must see only its own rows and must not read, update, delete,
insert or move rows of the other; without a context nothing is visible or writable.
The SECURITY DEFINER API (set_context, authenticate_api_key, ...) must not open a
way around that.

On Citus (PLIERSDB_TEST_CLUSTER=citus) the raw-SQL probes reach every shard
(``probe``: the policies must hold on each); the API's calls stay routed to one."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from pliersdb import demo, errors, users, webhooks

# Every table of schema pliers with an organization_id NOT NULL column (partitions
# excluded). test_tenant_tables_are_all_listed keeps this list equal to the catalog's,
# so a new tenant table cannot escape the tests below.
TENANT_TABLES = (
    "api_keys",
    "attachments",
    "audit_logs",
    "choice_list_items",
    "choice_lists",
    "events",
    "form_collaborators",
    "form_counters",
    "forms",
    "jobs",
    "notifications",
    "plugin_installations",
    "role_assignments",
    "submissions",
    "team_members",
    "teams",
    "usage_counters",
    "users",
    "webhooks",
    "workflow_counters",
    "workflow_executions",
    "workflow_forms",
    "workflows",
)
HYBRID_TABLES = ("plugins",)  # organization_id NULL = global row, visible to every tenant
GLOBAL_TABLES = ("roles", "system_settings")  # no tenant at all
# Tables of the owner's alone, no grant at all: the key that signs contexts, and the
# precomputed permissions that set_context reads (per tenant, so the owner's statements
# on it name the tenant; RLS enabled without a policy).
PRIVATE_TENANT_TABLES = ("user_permissions", "user_secrets", "workflow_secrets")  # sql/36, sql/60
# The owner's global directory of API-key hashes (a reference table on Citus): its
# organization_id NOT NULL is the tenant of each key, found by hash before any tenant is
# known (authenticate_api_key). No grant, RLS enabled without a policy.
# On Citus, distribute adds the global directory of slugs, of the same kind
# (docs/scale-out.md: slugs are unique across tenants, which no shard can check).
PRIVATE_GLOBAL_TABLES = (("api_key_hashes", "organization_slugs") if appworld.citus_mode()
                         else ("api_key_hashes",))
OWNER_ONLY_TABLES = ("context_keys", *PRIVATE_TENANT_TABLES, *PRIVATE_GLOBAL_TABLES)
TENANT_ROOT = "organizations"  # the tenants themselves, keyed by id

# SQLSTATE 42501 is both "new row violates row-level security policy" and
# "permission denied": either way the row is refused.
REFUSED = "42501"

CATALOG_TABLES = """
SELECT c.relname,
       a.attname IS NOT NULL AS has_org,
       coalesce(a.attnotnull, false) AS org_not_null
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute AS a
    ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""

COLUMNS = """
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute AS a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""


# Which row of a table the INSERT tests copy, where it matters: an installation of a
# global plugin, so that the trigger checking the plugin's visibility (which runs
# before RLS) lets the copy through to the policy, whatever the tenant.
SAMPLE = {
    "plugin_installations": sql.SQL(
        "plugin_id IN (SELECT p.id FROM pliers.plugins AS p WHERE p.organization_id IS NULL)"),
}


# Rows the tests add, as superuser, where the demo data set has none for a tenant (the
# demo may fill these tables itself later; tests/test_demo.py asks it to).
@dataclass
class Tenant:
    slug: str
    org: UUID
    admin: UUID
    member: UUID
    api_key: str = ""
    api_key_id: UUID | None = None
    webhook_id: UUID | None = None
    webhook_secret: str = ""
    rotated_keys: tuple[str, ...] = ()  # a key and the one rotate_api_key made from it
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # one row per table

    def row(self, table: str) -> dict[str, Any]:
        """A row of this tenant in the table, as JSON: the tests need one in every table."""
        if table not in self.rows:
            pytest.fail(f"the demo data set has no {table} row for {self.slug}: "
                        "extend pliersdb/demo.py", pytrace=False)
        return self.rows[table]


@dataclass
class World:
    admin_dsn: str
    app_dsn: str
    readonly_dsn: str
    worker_dsn: str
    a: Tenant
    b: Tenant
    columns: dict[str, list[tuple[str, str]]]  # name, type
    keyring: webhooks.Keyring


@pytest.fixture(scope="module")
def roles(cluster: clusterlib.Cluster) -> Iterator[dict[str, tuple[str, str]]]:
    """LOGIN roles in pliers_app, pliers_readonly and pliers_worker (cluster-wide roles:
    dropped at the end)."""
    with contextlib.ExitStack() as stack:
        yield {group: stack.enter_context(appworld.login(cluster, group, prefix=group))
               for group in ("pliers_app", "pliers_readonly", "pliers_worker")}


def _tenant(conn: psycopg.Connection[Any], slug: str, admin: str, member: str,
            keyring: webhooks.Keyring) -> Tenant:
    org = conn.execute("SELECT id FROM pliers.organizations WHERE slug = %s", (slug,)).fetchone()
    assert org is not None, slug
    users = dict(conn.execute("SELECT username, id FROM pliers.users WHERE organization_id = %s",
                              (org[0],)).fetchall())
    tenant = Tenant(slug, org[0], users[admin], users[member])
    with conn.transaction():
        conn.execute("SELECT pliers.set_context(%s, %s)", (tenant.org, tenant.admin))
        key = conn.execute("SELECT id, key FROM pliers.create_api_key(%s, 'live', %s)",
                           (f"security test {slug}", ["form.view"])).fetchone()
        assert key is not None
        tenant.api_key_id, tenant.api_key = key
        old = conn.execute("SELECT id, key FROM pliers.create_api_key(%s)",
                           (f"rotated {slug}",)).fetchone()
        assert old is not None
        new = conn.execute("SELECT key FROM pliers.rotate_api_key(%s, 3600)",
                           (old[0],)).fetchone()
        assert new is not None
        tenant.rotated_keys = (old[1], new[0])
        tenant.webhook_secret = webhooks.new_secret()
        ciphertext, key_id = webhooks.encrypt_secret(tenant.webhook_secret, keyring)
        hook = conn.execute("SELECT pliers.create_webhook(%s, %s, %s, %s, %s)", (
            f"security test {slug}", f"https://hooks.{slug}.example/", ["submission.created"],
            ciphertext, key_id)).fetchone()
        assert hook is not None
        tenant.webhook_id = hook[0]
    for table in (*TENANT_TABLES, *HYBRID_TABLES):
        row = conn.execute(sql.SQL(
            "SELECT to_jsonb(t) FROM {} AS t WHERE organization_id = %s AND {} "
            "ORDER BY to_jsonb(t)::text LIMIT 1").format(
                sql.Identifier("pliers", table), SAMPLE.get(table, sql.SQL("true"))),
            (tenant.org,)).fetchone()
        if row is not None:  # else the tests of that table fail, saying so (Tenant.row)
            tenant.rows[table] = row[0]
    return tenant


@pytest.fixture(scope="module")
def world(cluster: clusterlib.Cluster, template: str,
          roles: dict[str, tuple[str, str]]) -> Iterator[World]:
    name = f"security_{uuid.uuid4().hex[:10]}"
    try:
        admin_dsn = appworld.create_database(cluster, name, template)
        demo.run(admin_dsn, say=lambda _: None)
        keyring = webhooks.Keyring.parse(f"test:{webhooks.Keyring.generate_key()}")
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            a = _tenant(conn, "acme-health", "alice", "bob", keyring)
            b = _tenant(conn, "northwind", "dan", "erin", keyring)
            conn.execute("INSERT INTO pliers.system_settings (key, value, is_sensitive) "
                         "VALUES ('test.secret', '\"hidden\"', true)")
            columns = {t: conn.execute(COLUMNS, (f"pliers.{t}",)).fetchall()
                       for t in (*TENANT_TABLES, *HYBRID_TABLES, *GLOBAL_TABLES, TENANT_ROOT)}
        def login(group: str) -> str:
            return cluster.dsn(name, user=roles[group][0], password=roles[group][1])

        yield World(admin_dsn, login("pliers_app"), login("pliers_readonly"),
                    login("pliers_worker"), a, b, columns, keyring)
    finally:
        appworld.drop_database(cluster, name)


@pytest.fixture
def app(world: World) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the application role; everything it does is rolled back."""
    with psycopg.connect(world.app_dsn) as conn:
        assert conn.execute("SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles "
                            "WHERE rolname = current_user").fetchone() == (False,)
        conn.rollback()
        try:
            yield conn
        finally:
            conn.rollback()


@pytest.fixture
def readonly(world: World) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(world.readonly_dsn) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


# Helpers ---------------------------------------------------------------------------


@dataclass
class Outcome:
    sqlstate: str  # "ok" or the SQLSTATE of the error
    rowcount: int
    message: str

    def __str__(self) -> str:
        return self.message if self.sqlstate != "ok" else f"ok, {self.rowcount} row(s)"


def attempt(conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL | str,
            params: Any = None) -> Outcome:
    """Run one statement in a savepoint; report its outcome instead of raising."""
    try:
        with conn.transaction():
            cur = conn.execute(query, params)
            return Outcome("ok", cur.rowcount, "")
    except psycopg.Error as exc:
        return Outcome(exc.diag.sqlstate or "?", 0, exc.diag.message_primary or str(exc))


# The raw-SQL probes below read or write whole tables under RLS: on Citus they reach
# every shard (appworld.fanning_out), which is their point. The API's calls never do.
def probe(conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL | str,
          params: Any = None) -> Outcome:
    """``attempt`` of a raw-SQL probe (never of an API call)."""
    with appworld.fanning_out(conn):
        return attempt(conn, query, params)


def set_context(conn: psycopg.Connection[Any], tenant: Tenant) -> None:
    conn.execute("SELECT pliers.set_context(%s, %s)", (tenant.org, tenant.admin))


def ident(table: str) -> sql.Identifier:
    return sql.Identifier("pliers", table)


def probe_rows(conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL | str,
               params: Any = None) -> list[tuple[Any, ...]]:
    """The rows of a raw-SQL probe (never of an API call)."""
    with appworld.fanning_out(conn):
        return conn.execute(query, params).fetchall()


def orgs_visible(conn: psycopg.Connection[Any], table: str) -> set[Any]:
    query = sql.SQL("SELECT DISTINCT organization_id FROM {}").format(ident(table))
    return {r[0] for r in probe_rows(conn, query)}


def count(conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL, params: Any = None) -> int:
    [(n,)] = probe_rows(conn, query, params)
    return int(n)


def insert_copy(conn: psycopg.Connection[Any], world: World, table: str, row: dict[str, Any],
                organization_id: UUID | None) -> Outcome:
    """Probe: INSERT of a copy of a row (given as JSON), moved to another organization,
    with a new id. One VALUES row, each column typed: Citus routes it to the copy's
    shard, where the policy's WITH CHECK must refuse it (an INSERT ... SELECT from
    jsonb_populate_record, Citus refuses itself before RLS is consulted: 0A000, or
    "COPY FROM not supported with row-level security" where it runs it as a COPY)."""
    copy = dict(row, organization_id=None if organization_id is None else str(organization_id))
    if "id" in copy:
        copy["id"] = str(uuid.uuid4())
    columns = world.columns[table]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        ident(table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns),
        sql.SQL(", ").join(sql.SQL("%s::" + type_) for _, type_ in columns))
    values = [Jsonb(copy[name]) if type_ == "jsonb" and copy.get(name) is not None
              else copy.get(name) for name, type_ in columns]
    return probe(conn, query, values)


def assert_refused(outcome: Outcome, what: str) -> None:
    assert outcome.sqlstate == REFUSED, f"{what}: expected refusal (42501), got {outcome}"


def assert_nothing_touched(outcome: Outcome, what: str) -> None:
    """An UPDATE/DELETE of rows that must be invisible: no row, or no privilege at all."""
    ok = (outcome.sqlstate == "ok" and outcome.rowcount == 0) or outcome.sqlstate == REFUSED
    assert ok, f"{what}: expected 0 rows or refusal, got {outcome}"


# The catalog -----------------------------------------------------------------------


def test_tenant_tables_are_all_listed(app: psycopg.Connection[Any], world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        rows = conn.execute(CATALOG_TABLES).fetchall()
    tenant = {name for name, has_org, not_null in rows if has_org and not_null}
    hybrid = {name for name, has_org, not_null in rows if has_org and not not_null}
    other = {name for name, has_org, _ in rows if not has_org}
    assert tenant == {*TENANT_TABLES, *PRIVATE_TENANT_TABLES, *PRIVATE_GLOBAL_TABLES}, (
        "update TENANT_TABLES to the catalog's tenant tables")
    assert hybrid == set(HYBRID_TABLES), "a table with a nullable organization_id"
    assert other == {TENANT_ROOT, *GLOBAL_TABLES,
                     *set(OWNER_ONLY_TABLES) - {*PRIVATE_TENANT_TABLES, *PRIVATE_GLOBAL_TABLES}}, (
        "a table without organization_id")


@pytest.mark.parametrize("table", OWNER_ONLY_TABLES)
def test_owner_only_tables_are_granted_to_no_role(world: World, table: str) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        granted = conn.execute("""
            SELECT r.rolname, p.privilege
            FROM pg_catalog.pg_roles AS r
            CROSS JOIN unnest('{SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER}'::text[])
                AS p (privilege)
            WHERE r.rolname LIKE 'pliers\\_%%' AND r.rolname <> 'pliers_owner'
                AND NOT pg_catalog.pg_has_role(r.rolname, 'pliers_owner', 'USAGE')
                AND pg_catalog.has_table_privilege(r.rolname, %s, p.privilege)
        """, (f"pliers.{table}",)).fetchall()
        owner = conn.execute("SELECT pg_catalog.pg_get_userbyid(relowner) FROM pg_catalog.pg_class "
                             "WHERE oid = %s::regclass", (f"pliers.{table}",)).fetchone()
    assert granted == []
    assert owner == ("pliers_owner",)


def test_every_tenant_table_enables_row_level_security_unforced(world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        rows = conn.execute("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (SELECT count(*) FROM pg_catalog.pg_policy AS p WHERE p.polrelid = c.oid)
            FROM pg_catalog.pg_class AS c
            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        """).fetchall()
    status = {name: (rls, force, policies) for name, rls, force, policies in rows}
    for table in (*TENANT_TABLES, *HYBRID_TABLES, TENANT_ROOT):
        rls, force, policies = status[table]
        # Not forced: the owner's SECURITY DEFINER API names the tenant in every
        # statement (next test) and verifies the context once per call.
        assert rls and not force, f"{table}: RLS enabled={rls}, forced={force}"
        assert policies > 0, f"{table}: RLS without any policy"
    # No grant, and no row for a grant added by mistake.
    for table in (*PRIVATE_TENANT_TABLES, *PRIVATE_GLOBAL_TABLES):
        assert status[table] == (True, False, 0), f"{table}: {status[table]}"


# Functions whose statements span tenants on purpose, each with its reason.
CROSS_TENANT = {
    "authenticate_api_key": "finds a key by its hash before any tenant is known",
    "_plugins_slug_scope": "a plugin slug is unique across the global and every private catalogue",
    "refresh_user_permissions": (
        "after a change of the global roles catalogue, the stored permissions of its holders "
        "in every tenant (owner or DBA only, not granted to pliers_app)"),
    # The job queue's workers (pliers_worker, sql/62-jobs.sql): the cross-tenant part is a
    # read; each lock and write names the tenant found.
    "_ready_job_tenants": "the tenants with ready jobs, in turn (claim_jobs' fairness)",
    "_expire_job_leases": "the running jobs of every tenant whose lease ended",
    "job_queue_status": "the health of the whole queue (pliers_worker, the DBA)",
    "purge_jobs": "finished jobs of every tenant past their retention",
}
STATEMENT = re.compile(r"[^;]+")
# organization_id compared with something (a value, or a column that is)
TENANT_FILTER = re.compile(
    r"organization_id\s*(=|IN\b)|=\s*(\w+\.)?organization_id\b", re.IGNORECASE)
INSERT = re.compile(r"\bINSERT\s+INTO\s+pliers\.", re.IGNORECASE)
TENANT_TABLE = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(?:ONLY\s+)?pliers\.(?:"
    + "|".join((*TENANT_TABLES, *HYBRID_TABLES, *PRIVATE_TENANT_TABLES)) + r")\b", re.IGNORECASE)


def _unqualified_statements(conn: psycopg.Connection[Any]) -> list[str]:
    functions = conn.execute("""
        SELECT p.proname, p.prosrc FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
        WHERE p.pronamespace = 'pliers'::regnamespace AND l.lanname IN ('plpgsql', 'sql')
    """).fetchall()
    assert functions
    unqualified = []
    for name, source in functions:
        if name in CROSS_TENANT:
            continue
        code = re.sub(r"--[^\n]*", "", source)
        for statement in STATEMENT.findall(code):
            if TENANT_TABLE.search(statement) and not (
                TENANT_FILTER.search(statement)
                or (INSERT.search(statement) and "organization_id" in statement)
            ):
                unqualified.append(f"{name}: {' '.join(statement.split())[:160]}")
    return unqualified


def test_every_statement_of_the_owner_names_the_tenant(world: World) -> None:
    """Row-level security does not bind the owner, so every statement of a function that
    runs as the owner (the SECURITY DEFINER API and everything it calls) that reads or
    writes a tenant table must name the tenant itself: organization_id compared with a
    value (v_org, a parameter, the verified context). Citus routes by that value too."""
    with psycopg.connect(world.admin_dsn) as conn:
        assert _unqualified_statements(conn) == []
        # The check sees a statement that forgets the tenant (rolled back).
        forgetful = "SELECT count(*) FROM pliers.forms AS f WHERE f.slug = 'x'"
        conn.execute("CREATE FUNCTION pliers.t_forgetful() RETURNS bigint LANGUAGE plpgsql AS "
                     f"$$ BEGIN RETURN ({forgetful}); END $$")
        assert _unqualified_statements(conn) == [f"t_forgetful: BEGIN RETURN ({forgetful})"]
        conn.rollback()
        assert set(CROSS_TENANT) <= {name for (name,) in conn.execute(
            "SELECT proname FROM pg_catalog.pg_proc WHERE pronamespace = 'pliers'::regnamespace")}


def test_roles_cannot_bypass_row_level_security(world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper OR rolbypassrls, rolcanlogin FROM pg_catalog.pg_roles "
            "WHERE rolname IN ('pliers_app', 'pliers_owner', 'pliers_readonly', 'pliers_worker')"
        ).fetchall()
    # Citus connects to the workers as the current role: they log in there
    # (distribute.prepare_roles, docs/scale-out.md).
    login = appworld.citus_mode()
    assert sorted(rows) == [(f"pliers_{r}", False, login)
                            for r in ("app", "owner", "readonly", "worker")]


# Every tenant table, as the application role ---------------------------------------


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_tenant_rows_are_isolated(app: psycopg.Connection[Any], world: World,
                                  table: str) -> None:
    t = ident(table)
    world.a.row(table), world.b.row(table)  # both tenants have rows here
    for me, other in ((world.a, world.b), (world.b, world.a)):
        who = f"{table}, as {me.slug}"
        with app.transaction(force_rollback=True):
            set_context(app, me)
            assert orgs_visible(app, table) == {me.org}, f"{who}: must see its own rows only"
            hidden = sql.SQL("SELECT count(*) FROM {} WHERE organization_id = %s").format(t)
            assert count(app, hidden, (other.org,)) == 0, f"{who}: sees {other.slug}'s rows"

            touch = sql.SQL("UPDATE {} SET organization_id = organization_id "
                            "WHERE organization_id = %s").format(t)
            assert_nothing_touched(probe(app, touch, (other.org,)),
                                   f"{who}: UPDATE of {other.slug}'s rows")
            delete = sql.SQL("DELETE FROM {} WHERE organization_id = %s").format(t)
            assert_nothing_touched(probe(app, delete, (other.org,)),
                                   f"{who}: DELETE of {other.slug}'s rows")
            assert_refused(insert_copy(app, world, table, me.row(table), other.org),
                           f"{who}: INSERT of a row for {other.slug}")
            move = sql.SQL("UPDATE {} SET organization_id = %s WHERE organization_id = %s")
            outcome = probe(app, move.format(t), (other.org, me.org))
            assert outcome.sqlstate != "ok", f"{who}: moved rows to {other.slug}: {outcome}"
            # Citus refuses any change of the distribution column, before RLS or a trigger.
            refusals = ("0A000",) if appworld.citus_mode() else (REFUSED, "PL005")
            assert outcome.sqlstate in refusals, f"{who}: move refused as {outcome}"
    with psycopg.connect(world.admin_dsn) as conn:  # nothing changed, seen from above
        for tenant in (world.a, world.b):
            query = sql.SQL("SELECT count(*) FROM {} WHERE organization_id = %s").format(t)
            assert count(conn, query, (tenant.org,)) > 0


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_context_sees_and_writes_nothing(app: psycopg.Connection[Any], world: World,
                                            table: str) -> None:
    t = ident(table)
    world.a.row(table), world.b.row(table)  # both tenants have rows here
    app.autocommit = True
    assert count(app, sql.SQL("SELECT count(*) FROM {}").format(t)) == 0, (
        f"{table}: rows visible in autocommit without context")
    app.autocommit = False
    with app.transaction(force_rollback=True):
        assert count(app, sql.SQL("SELECT count(*) FROM {}").format(t)) == 0, (
            f"{table}: rows visible without context")
        for tenant in (world.a, world.b):
            assert_refused(insert_copy(app, world, table, tenant.row(table), tenant.org),
                           f"{table}: INSERT for {tenant.slug} without context")
        touch = sql.SQL("UPDATE {} SET organization_id = organization_id").format(t)
        assert_nothing_touched(probe(app, touch), f"{table}: UPDATE without context")
        assert_nothing_touched(probe(app, sql.SQL("DELETE FROM {}").format(t)),
                               f"{table}: DELETE without context")


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_readonly_role_reads_its_tenant_only_and_writes_nothing(
        readonly: psycopg.Connection[Any], world: World, table: str) -> None:
    t = ident(table)
    world.a.row(table), world.b.row(table)  # both tenants have rows here
    with readonly.transaction(force_rollback=True):
        assert count(readonly, sql.SQL("SELECT count(*) FROM {}").format(t)) == 0, (
            f"{table}: pliers_readonly sees rows without context")
    for me in (world.a, world.b):
        with readonly.transaction(force_rollback=True):
            set_context(readonly, me)
            assert orgs_visible(readonly, table) == {me.org}, f"{table}: as {me.slug}"
            assert_refused(insert_copy(readonly, world, table, me.row(table), me.org),
                           f"{table}: pliers_readonly INSERT")
            for verb in ("UPDATE {} SET organization_id = organization_id", "DELETE FROM {}"):
                assert_refused(probe(readonly, sql.SQL(verb).format(t)),
                               f"{table}: pliers_readonly {verb.split()[0]}")


def test_views_show_the_current_tenant_only(app: psycopg.Connection[Any],
                                            world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        views = conn.execute("""
            SELECT c.relname, coalesce('security_invoker=true' = ANY (c.reloptions)
                                       OR 'security_invoker=on' = ANY (c.reloptions), false),
                   EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                           WHERE a.attrelid = c.oid AND a.attname = 'organization_id')
            FROM pg_catalog.pg_class AS c
            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'pliers' AND c.relkind = 'v' ORDER BY 1
        """).fetchall()
        matviews = conn.execute("""
            SELECT c.relname FROM pg_catalog.pg_class AS c
            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'pliers' AND c.relkind = 'm'
        """).fetchall()
    assert views, "expected the usage views (form_usage, workflow_usage)"
    for view, invoker, tenant in views:
        assert invoker, f"view {view} must be security_invoker (else it bypasses RLS)"
        v = ident(view)
        if not tenant:
            continue
        with app.transaction(force_rollback=True):
            assert count(app, sql.SQL("SELECT count(*) FROM {}").format(v)) == 0, view
            for me in (world.a, world.b):
                set_context(app, me)
                assert orgs_visible(app, view) <= {me.org}, f"view {view} as {me.slug}"
    for (matview,) in matviews:  # materialized views ignore RLS: no direct access
        outcome = probe(app, sql.SQL("SELECT 1 FROM {} LIMIT 1").format(ident(matview)))
        assert outcome.sqlstate == REFUSED, f"materialized view {matview}: {outcome}"


def test_partitions_give_no_way_around_the_parent(app: psycopg.Connection[Any],
                                                  world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        partitions = conn.execute("""
            SELECT c.relname, p.relname
            FROM pg_catalog.pg_inherits AS i
            JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
            JOIN pg_catalog.pg_class AS p ON p.oid = i.inhparent
            JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') ORDER BY 1
        """).fetchall()
    assert len(partitions) >= 4, "the demo creates partitions of events and audit_logs"
    for partition, parent in partitions:
        p = ident(partition)
        for me, other in ((world.a, world.b), (world.b, world.a)):
            with app.transaction(force_rollback=True):
                set_context(app, me)
                query = sql.SQL("SELECT count(*) FROM {} WHERE organization_id = %s").format(p)
                outcome = probe(app, query, (other.org,))
                if outcome.sqlstate == "ok":
                    assert count(app, query, (other.org,)) == 0, f"{partition} as {me.slug}"
                else:
                    assert outcome.sqlstate == REFUSED, f"{partition}: {outcome}"
                assert_refused(insert_copy(app, world, parent, me.row(parent), other.org),
                               f"{partition}: INSERT through the parent for {other.slug}")
                direct = sql.SQL("UPDATE {} SET organization_id = organization_id").format(p)
                assert_nothing_touched(probe(app, direct), f"{partition}: UPDATE")


# Special tables -----------------------------------------------------------------------


def test_organizations_each_tenant_sees_itself(app: psycopg.Connection[Any],
                                               world: World) -> None:
    orgs = ident("organizations")
    with app.transaction(force_rollback=True):
        assert count(app, sql.SQL("SELECT count(*) FROM {}").format(orgs)) == 0
    for me, other in ((world.a, world.b), (world.b, world.a)):
        with app.transaction(force_rollback=True):
            set_context(app, me)
            assert {r[0] for r in probe_rows(app, "SELECT id FROM pliers.organizations")} == {
                me.org}, me.slug
            for verb in ("UPDATE pliers.organizations SET name = 'taken' WHERE id = %s",
                         "DELETE FROM pliers.organizations WHERE id = %s"):
                assert_nothing_touched(probe(app, verb, (other.org,)), f"{me.slug}: {verb}")
            outcome = probe(app, "INSERT INTO pliers.organizations (slug, name) "
                            "VALUES ('intruder', 'Intruder')")
            assert_refused(outcome, f"{me.slug}: INSERT of an organization")


def test_plugins_global_rows_are_shared_private_rows_are_not(app: psycopg.Connection[Any],
                                                             world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        global_ids = {r[0] for r in conn.execute(
            "SELECT id FROM pliers.plugins WHERE organization_id IS NULL")}
    assert global_ids, "the demo has a global plugin"
    with app.transaction(force_rollback=True):
        rows = app.execute("SELECT id, organization_id FROM pliers.plugins").fetchall()
        assert all(org is None for _, org in rows), "private plugins visible without context"
        assert {i for i, _ in rows} == global_ids, "global plugins are visible to all"
        assert_refused(insert_copy(app, world, "plugins", world.a.row("plugins"), world.a.org),
                       "plugins: INSERT without context")
    for me, other in ((world.a, world.b), (world.b, world.a)):
        who = f"plugins, as {me.slug}"
        with app.transaction(force_rollback=True):
            set_context(app, me)
            rows = app.execute("SELECT id, organization_id FROM pliers.plugins").fetchall()
            assert {org for _, org in rows} == {None, me.org}, f"{who}: global + own"
            assert {i for i, org in rows if org is None} == global_ids, f"{who}: all global"
            for query in ("UPDATE pliers.plugins SET name = 'hijacked' WHERE {}",
                          "DELETE FROM pliers.plugins WHERE {}"):
                for where, params in (("organization_id IS NULL", ()),
                                      ("organization_id = %s", (other.org,))):
                    assert_nothing_touched(probe(app, query.format(where), params),
                                           f"{who}: {query.format(where)}")
            # A new slug: the slug-scope trigger, which runs before RLS, must not be the refusal.
            mine = dict(me.row("plugins"), slug=f"test-{uuid.uuid4().hex[:8]}")
            for target in (None, other.org):
                assert_refused(insert_copy(app, world, "plugins", mine, target),
                               f"{who}: INSERT of a plugin for {target or 'everyone'}")
                outcome = probe(app, "UPDATE pliers.plugins SET organization_id = %s "
                                "WHERE organization_id = %s", (target, me.org))
                assert outcome.sqlstate in (REFUSED, "PL005"), (
                    f"{who}: moving a private plugin to {target or 'global'}: {outcome}")


def test_system_settings_are_not_writable_by_tenants(app: psycopg.Connection[Any],
                                                     world: World) -> None:
    with app.transaction(force_rollback=True):
        keys = {r[0] for r in app.execute("SELECT key FROM pliers.system_settings")}
        assert "platform.default_locale" in keys, "global settings are readable"
        assert "test.secret" not in keys, "a sensitive setting is visible"
        set_context(app, world.a)
        for statement in (
                "UPDATE pliers.system_settings SET value = '\"x\"'",
                "DELETE FROM pliers.system_settings",
                "INSERT INTO pliers.system_settings (key, value) VALUES ('evil.key', '1')"):
            outcome = probe(app, statement)
            assert outcome.sqlstate == REFUSED, f"{statement}: {outcome}"


# SECURITY DEFINER functions ------------------------------------------------------------


def test_security_definer_functions_are_locked_down(world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        rows = conn.execute("""
            SELECT p.oid::regprocedure::text, p.proname, pg_catalog.pg_get_userbyid(p.proowner),
                   coalesce(EXISTS (SELECT FROM unnest(p.proconfig) AS c
                                    WHERE c LIKE 'search_path=%'), false),
                   pg_catalog.has_function_privilege('pliers_app', p.oid, 'EXECUTE'),
                   pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
            FROM pg_catalog.pg_proc AS p
            JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname = 'pliers' AND p.prosecdef
        """).fetchall()
        lister = conn.execute(
            "SELECT rolsuper, rolcanlogin, rolbypassrls FROM pg_catalog.pg_roles "
            "WHERE rolname = 'pliers_lister'").fetchone()
        lister_owns = conn.execute(
            "SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) "
            "FROM pg_catalog.pg_shdepend AS d JOIN pg_catalog.pg_roles AS r ON r.oid = d.refobjid "
            "WHERE r.rolname = 'pliers_lister' AND d.deptype = 'o' "
            "AND d.dbid = (SELECT oid FROM pg_catalog.pg_database "
            "WHERE datname = pg_catalog.current_database())").fetchall()
    names = {name for _, name, *_ in rows}
    assert {"set_context", "authenticate_api_key"} <= names
    for signature, name, owner, fixed_path, app_exec, public_exec in rows:
        assert fixed_path, f"{signature}: SECURITY DEFINER without a fixed search_path"
        assert not public_exec, f"{signature}: executable by PUBLIC"
        # Every one runs as pliers_owner: on Citus a transaction may not touch a
        # tenant's shards as two roles (list_submissions was pliers_lister's until 0022).
        assert owner == "pliers_owner", f"{signature}: owned by {owner}"
        if name.startswith("_"):
            assert not app_exec, f"{signature}: private helper executable by pliers_app"
    # The suite installs as a superuser, which gives pliers_lister BYPASSRLS (sql/00);
    # it owns nothing since 0022 and logs in nowhere, on Citus neither (it runs nothing
    # there: distribute.prepare_roles leaves it out).
    assert lister == (False, False, True)
    assert lister_owns == []


def test_private_functions_are_not_executable_by_tenant_roles(world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        rows = conn.execute("""
            SELECT p.oid::regprocedure::text, r.rolname
            FROM pg_catalog.pg_proc AS p
            CROSS JOIN (VALUES ('pliers_app'), ('pliers_readonly'), ('pliers_worker'),
                               ('public')) AS r (rolname)
            WHERE p.pronamespace = 'pliers'::regnamespace
                AND (p.proname LIKE '\\_%' OR p.proname IN ('create_partitions',
                                                           'detach_partitions'))
                AND pg_catalog.has_function_privilege(r.rolname, p.oid, 'EXECUTE')
        """).fetchall()
        private = conn.execute("SELECT count(*) FROM pg_catalog.pg_proc "
                               "WHERE pronamespace = 'pliers'::regnamespace "
                               "AND proname LIKE '\\_%'").fetchone()
    assert private is not None and private[0] > 0
    assert rows == [], f"private or maintenance functions executable by: {rows}"


def test_set_context_refuses_users_of_other_tenants(app: psycopg.Connection[Any],
                                                   world: World) -> None:
    a, b = world.a, world.b
    cases = [((a.org, b.admin), "PL006"), ((b.org, a.admin), "PL006"),
             ((a.org, uuid.uuid4()), "PL006"), ((uuid.uuid4(), a.admin), "PL006"),
             ((None, a.admin), "PL008"), ((a.org, None), "PL008")]
    with app.transaction(force_rollback=True):
        set_context(app, a)
        for args, expected in cases:
            outcome = attempt(app, "SELECT pliers.set_context(%s, %s)", args)
            assert outcome.sqlstate == expected, f"set_context{args}: {outcome}"
            # The failed call changed nothing: still a's context and rows.
            assert app.execute("SELECT pliers.current_organization_id()").fetchone() == (a.org,)
            assert orgs_visible(app, "users") == {a.org}


def test_set_context_refuses_inactive_members(app: psycopg.Connection[Any],
                                              world: World) -> None:
    with psycopg.connect(world.admin_dsn) as conn:
        carol = conn.execute("SELECT id FROM pliers.users WHERE username = 'carol'").fetchone()
        assert carol is not None
        for status in ("suspended", "inactive", "pending"):
            conn.execute("UPDATE pliers.users SET status = %s WHERE id = %s",
                         (status, carol[0]))
            conn.commit()
            outcome = attempt(app, "SELECT pliers.set_context(%s, %s)", (world.a.org, carol[0]))
            app.rollback()
            assert outcome.sqlstate == "PL006", f"a {status} user got a context: {outcome}"
        conn.execute("UPDATE pliers.users SET status = 'active' WHERE id = %s", (carol[0],))
        conn.commit()
    with app.transaction(force_rollback=True):
        app.execute("SELECT pliers.set_context(%s, %s)", (world.a.org, carol[0]))


def test_api_key_of_another_tenant_gives_that_tenant_only(app: psycopg.Connection[Any],
                                                         world: World) -> None:
    a, b = world.a, world.b
    # authenticate_api_key writes last_used_at as the owner, after which Citus refuses
    # the app's own reads of that tenant in the transaction (docs/scale-out.md): there,
    # read-only transactions, in which it writes nothing.
    app.read_only = appworld.citus_mode()
    for holder, other in ((a, b), (b, a)):
        with app.transaction(force_rollback=True):
            set_context(app, other)  # whatever was set before, the key decides
            row = app.execute("SELECT * FROM pliers.authenticate_api_key(%s)",
                              (holder.api_key,)).fetchone()
            assert row is not None
            assert (row[0], row[2]) == (holder.org, holder.api_key_id), holder.slug
            assert app.execute("SELECT pliers.current_organization_id()").fetchone() == (
                holder.org,)
            for table in ("users", "forms", "api_keys", "webhooks"):
                assert orgs_visible(app, table) == {holder.org}, f"{table} via {holder.slug}'s key"


def test_api_key_cannot_be_forged_revoked_or_used_across_tenants(
        app: psycopg.Connection[Any], world: World) -> None:
    a, b = world.a, world.b
    with app.transaction(force_rollback=True):
        for key in (a.api_key[:-1] + ("x" if a.api_key[-1] != "x" else "y"),
                    a.api_key.upper(), a.api_key[:12], "", "' OR TRUE --"):
            outcome = attempt(app, "SELECT * FROM pliers.authenticate_api_key(%s)", (key,))
            assert outcome.sqlstate == "PL006", f"key {key!r}: {outcome}"
        assert app.execute("SELECT pliers.current_organization_id()").fetchone() == (None,)
        # The hash of a key is not a key.
        with psycopg.connect(world.admin_dsn) as conn:
            digest = conn.execute("SELECT key_hash FROM pliers.api_keys WHERE id = %s",
                                  (a.api_key_id,)).fetchone()
        assert digest is not None
        outcome = attempt(app, "SELECT * FROM pliers.authenticate_api_key(%s)", (digest[0],))
        assert outcome.sqlstate == "PL006", outcome
        # b cannot revoke a's key.
        set_context(app, b)
        outcome = attempt(app, "SELECT pliers.revoke_api_key(%s)", (a.api_key_id,))
        assert outcome.sqlstate in ("PL002", "PL006"), f"b revoked a's key: {outcome}"
        row = app.execute("SELECT organization_id FROM pliers.authenticate_api_key(%s)",
                          (a.api_key,)).fetchone()
        assert row == (a.org,)
    with app.transaction(force_rollback=True):
        outcome = attempt(app, "SELECT * FROM pliers.create_api_key('no tenant')")
        assert outcome.sqlstate == "PL008", f"create_api_key without context: {outcome}"


def test_api_functions_write_into_the_current_tenant(app: psycopg.Connection[Any],
                                                     world: World) -> None:
    # Committed, then read in another transaction: on Citus the app may not read the
    # shards that the API (as the owner) wrote in its transaction (docs/scale-out.md).
    with app.transaction():
        set_context(app, world.b)
        key = app.execute("SELECT id FROM pliers.create_api_key('mine')").fetchone()
        hook = app.execute(
            "SELECT pliers.create_webhook('mine', 'https://b.example/hook', %s, %s, 'k1')",
            (["submission.created"], b"\x01" + bytes(40))).fetchone()
    assert key is not None and hook is not None
    created = (("api_keys", key[0]), ("webhooks", hook[0]))
    try:
        with app.transaction(force_rollback=True):
            set_context(app, world.b)
            for table, row_id in created:
                query = sql.SQL("SELECT organization_id FROM {} WHERE id = %s").format(ident(table))
                assert probe_rows(app, query, (row_id,)) == [(world.b.org,)], table
            set_context(app, world.a)
            for table, row_id in created:
                query = sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(ident(table))
                assert count(app, query, (row_id,)) == 0, f"{table}: a sees b's new row"
    finally:  # the module's other tests find the world as the fixture made it
        with psycopg.connect(world.admin_dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM pliers.webhooks WHERE organization_id = %s AND id = %s",
                         (world.b.org, hook[0]))
            digest = conn.execute("DELETE FROM pliers.api_keys WHERE organization_id = %s "
                                  "AND id = %s RETURNING key_hash", (world.b.org, key[0]))
            conn.execute("DELETE FROM pliers.api_key_hashes WHERE key_hash = %s",
                         digest.fetchone())


def test_has_permission_never_grants_across_tenants(app: psycopg.Connection[Any],
                                                    world: World) -> None:
    a, b = world.a, world.b
    other_form = b.rows["forms"]["id"]
    own_form = a.rows["forms"]["id"]
    with app.transaction(force_rollback=True):
        set_context(app, a)
        for permission in ("form.view", "form.edit", "form.delete"):
            own = app.execute("SELECT pliers.has_permission(%s, 'form', %s)",
                              (permission, own_form)).fetchone()
            theirs = app.execute("SELECT pliers.has_permission(%s, 'form', %s)",
                                 (permission, other_form)).fetchone()
            assert theirs == (False,), f"{a.slug}'s admin has {permission} on {b.slug}'s form"
            assert own == (True,), f"{a.slug}'s admin lacks {permission} on its own form"
        org_scope = app.execute("SELECT pliers.has_permission('form.view', 'organization', %s)",
                                (b.org,)).fetchone()
        assert org_scope == (False,), "permission on another organization"
    with app.transaction(force_rollback=True):  # no context: no permission (or PL008)
        try:
            with app.transaction():
                granted = app.execute("SELECT pliers.has_permission('form.view')").fetchone()
        except psycopg.Error as exc:
            assert exc.diag.sqlstate == "PL008", exc
        else:
            assert granted == (False,), "has_permission is true without context"


def test_secret_columns_are_not_readable_by_tenants(app: psycopg.Connection[Any],
                                                    readonly: psycopg.Connection[Any],
                                                    world: World) -> None:
    for conn, role in ((app, "pliers_app"), (readonly, "pliers_readonly")):
        with conn.transaction(force_rollback=True):
            set_context(conn, world.a)
            for query in ("SELECT secret_ciphertext FROM pliers.webhooks",
                          "SELECT * FROM pliers.webhooks",
                          "SELECT key_hash FROM pliers.api_keys",
                          "SELECT 1 FROM pliers.api_keys WHERE key_hash IS NOT NULL",
                          "SELECT password_hash FROM pliers.user_secrets",
                          "SELECT * FROM pliers.user_secrets"):
                assert_refused(probe(conn, query), f"{role}: {query}")
            # The other columns are readable, by name.
            hooks = probe_rows(conn, "SELECT id FROM pliers.webhooks WHERE id = %s",
                               (world.a.webhook_id,))
            assert hooks == [(world.a.webhook_id,)], role


def _user_secrets(world: World) -> dict[str, set[str]]:
    """Per tenant, the secrets of a user invited by its admin who accepts, sets a password
    and an MFA secret (sql/36-users-api.sql): the token, its hash, the password hash, the
    MFA ciphertext and its plaintext."""
    found: dict[str, set[str]] = {}
    for me in (world.a, world.b):
        with psycopg.connect(world.admin_dsn) as conn:
            conn.execute("SELECT pliers.set_context(%s, %s)", (me.org, me.admin))
            invited = conn.execute("SELECT user_id, token FROM pliers.invite_user(%s)",
                                   (f"secret-{uuid.uuid4().hex[:8]}@{me.slug}.example",)).fetchone()
            assert invited is not None
            user_id, token = invited
            conn.execute("SELECT * FROM pliers.accept_invitation(%s)", (token,))
            password_hash = users.hash_password("correct horse battery staple")
            conn.execute("SELECT pliers.set_user_password(%s, %s)", (user_id, password_hash))
            mfa_secret = "JBSWY3DPEHPK3PXP" + uuid.uuid4().hex[:8].upper()
            ciphertext, key_id = users.encrypt_mfa_secret(mfa_secret, world.keyring, user_id)
            conn.execute("SELECT pliers.set_user_mfa(%s, %s, %s)", (user_id, ciphertext, key_id))
        found[me.slug] = {token, hashlib.sha256(token.encode()).hexdigest(), password_hash,
                          password_hash.rsplit("$", 1)[1], ciphertext.hex(), mfa_secret}
    return found


def test_secrets_do_not_leak_through_history(app: psycopg.Connection[Any],
                                            world: World) -> None:
    """Creating the API keys and webhooks of the fixture, and inviting users who accept
    and set a password and an MFA secret, wrote events and audit rows: none of them, as
    the tenant reads them, holds a key, a token, their hashes or a secret."""
    user_secrets = _user_secrets(world)
    with psycopg.connect(world.admin_dsn) as conn:
        ciphertexts = {bytes(r[0]).hex() for r in conn.execute(
            "SELECT secret_ciphertext FROM pliers.webhooks WHERE secret_ciphertext IS NOT NULL")}
    assert len(ciphertexts) >= 2
    for me in (world.a, world.b):
        secrets_ = {me.api_key, hashlib.sha256(me.api_key.encode()).hexdigest(),
                    me.webhook_secret, *ciphertexts, *user_secrets[me.slug], *me.rotated_keys,
                    *(hashlib.sha256(k.encode()).hexdigest() for k in me.rotated_keys)}
        assert len(me.rotated_keys) == 2, f"{me.slug}: no rotated key to look for"
        with app.transaction(force_rollback=True):
            set_context(app, me)
            audited = count(app, sql.SQL("SELECT count(*) FROM pliers.audit_logs "
                                         "WHERE resource_type IN ('api_keys', 'webhooks')"))
            assert audited >= 2, f"{me.slug}: the key and webhook creations are not audited"
            for table in ("audit_logs", "events"):
                text = " ".join(r[0] for r in probe_rows(app, sql.SQL(
                    "SELECT to_jsonb(t)::text FROM {} AS t").format(ident(table))))
                assert text, f"{table}: nothing visible to {me.slug}"
                leaked = [x[:12] for x in secrets_ if x in text]
                assert not leaked, f"{table} shows {me.slug} secrets starting {leaked}"


def test_worker_reads_every_webhook_secret_and_nothing_else(world: World) -> None:
    """pliers_worker (the delivery worker) reads the ciphertext of every tenant's webhooks
    without a context, decrypts it with the library's key, and can do nothing else."""
    with psycopg.connect(world.worker_dsn) as worker:
        for tenant in (world.a, world.b):
            assert tenant.webhook_id is not None
            secret = webhooks.load_secret(worker, tenant.org, tenant.webhook_id, world.keyring)
            assert secret == tenant.webhook_secret.encode(), tenant.slug
        worker.rollback()
        with pytest.raises(errors.NotFound):
            webhooks.load_secret(worker, world.a.org, uuid.uuid4(), world.keyring)
        worker.rollback()
        for statement in (
                "UPDATE pliers.webhooks SET url = 'https://evil.example/'",
                "DELETE FROM pliers.webhooks",
                "SELECT count(*) FROM pliers.users",
                "SELECT count(*) FROM pliers.submissions",
                "SELECT key_hash FROM pliers.api_keys",
                "SELECT pliers.create_api_key('worker')"):
            with worker.transaction(force_rollback=True):
                assert_refused(attempt(worker, statement), f"pliers_worker: {statement}")
