"""The price of re-planning pliers.has_permission's queries on every call (migration 0032):
the function with plan_cache_mode = force_generic_plan (its own SET, as shipped) against
the same function with that setting reset (the session's `auto`), in the same run.

    .venv/bin/python bench/scoped_permissions.py [--calls N] [--rounds N]

A throwaway PostgreSQL (the system's), migrated; one organization with an admin
(org_admin), a form reviewer (submission_reviewer assigned on the form), a collaborator
on the form and a member of a team (each otherwise a plain member), a published form
with 400 submissions, half of them assigned to the team. Each round times, as a
pliers_app login with the user's context, N calls of has_permission on each path in
one statement, and pages of 50 submissions through pliers.list_submissions as the team
member (two has_permission calls per row it reads), with the function in each state in
turn (ALTER FUNCTION between them; the order alternates). Prints medians and the ratio
reset/generic.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pliersdb.migrate import Migrator

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
sys.path.insert(0, str(MIGRATIONS.parent / "tests"))  # the harness, tests/pgcluster.py
import pgcluster as cluster  # noqa: E402

FUNCTION = "pliers.has_permission(text, pliers.scope_type, uuid)"
GENERIC = "plan_cache_mode=force_generic_plan"
STATES = {"generic": "SET plan_cache_mode = force_generic_plan", "reset": "RESET plan_cache_mode"}
# Other organizations, so that the tables the checks read have realistic statistics:
# with a few rows each, the generic plan looks as cheap as a custom one and is chosen
# anyway. Each has 20 members, 10 forms, 10 form collaborators, 10 form-scoped role
# assignments and 3 teams of 5 members.
FILLER = """
WITH o AS (
    INSERT INTO pliers.organizations (slug, name)
    SELECT 'filler-' || n, 'Filler ' || n FROM generate_series(1, %(orgs)s) AS n
    RETURNING id
), u AS (
    INSERT INTO pliers.users (organization_id, email, roles)
    SELECT o.id, 'u' || k || '@' || o.id || '.example', '{member}'
    FROM o, generate_series(1, 20) AS k
    RETURNING organization_id, id, substr(split_part(email, '@', 1), 2)::integer AS k
), f AS (
    INSERT INTO pliers.forms (organization_id, name, slug, definition)
    SELECT o.id, 'Form ' || k, 'form-' || k, '{"title": "F", "fields": []}'
    FROM o, generate_series(1, 10) AS k
    RETURNING organization_id, id, split_part(slug::text, '-', 2)::integer AS k
), t AS (
    INSERT INTO pliers.teams (organization_id, name, slug)
    SELECT o.id, 'Team ' || k, 'team-' || k FROM o, generate_series(1, 3) AS k
    RETURNING organization_id, id, split_part(slug::text, '-', 2)::integer AS k
), tm AS (
    INSERT INTO pliers.team_members (organization_id, team_id, user_id)
    SELECT t.organization_id, t.id, u.id FROM t JOIN u USING (organization_id)
    WHERE u.k BETWEEN t.k * 5 - 4 AND t.k * 5
), fc AS (
    INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level)
    SELECT f.organization_id, f.id, u.id, 'view'
    FROM f JOIN u USING (organization_id) WHERE u.k = f.k
)
INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type, scope_id)
SELECT f.organization_id, u.id, 'submission_reviewer', 'form', f.id
FROM f JOIN u USING (organization_id) WHERE u.k = f.k + 10
"""
DEFINITION = ('{"title": "Scoped", "fields": '
              '[{"id": "f1", "type": "text", "name": "note", "label": "Note"}]}')


def build(dsn: str, app_dsn: str, orgs: int) -> dict[str, Any]:
    """The organization, its users, form, team, grants and submissions, the other
    organizations (FILLER); the ids."""
    ids: dict[str, Any] = {"org": uuid.uuid4()}
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO pliers.organizations (id, slug, name) "
                     "VALUES (%s, 'scoped', 'Scoped')", (ids["org"],))
        for name, role in (("admin", "org_admin"), ("reviewer", "member"),
                           ("collaborator", "member"), ("teamer", "member")):
            row = conn.execute("INSERT INTO pliers.users (organization_id, email, roles) "
                               "VALUES (%s, %s, %s) RETURNING id",
                               (ids["org"], f"{name}@scoped.example", [role])).fetchone()
            assert row is not None
            ids[name] = row[0]
        conn.commit()
    with psycopg.connect(app_dsn) as app:
        app.execute("SELECT pliers.set_context(%s, %s)", (ids["org"], ids["admin"]))
        row = app.execute("SELECT id FROM pliers.create_form('Scoped', 'scoped', %s)",
                          (DEFINITION,)).fetchone()
        assert row is not None
        ids["form"] = row[0]
        app.execute("SELECT pliers.publish_form(%s, '1.0.0')", (ids["form"],))
        app.execute("SELECT pliers.create_submission(%s, jsonb_build_object('note', 'n' || i), "
                    "p_submit => TRUE) FROM generate_series(1, 400) AS i", (ids["form"],))
        app.commit()
    with psycopg.connect(dsn) as conn:
        org, form = ids["org"], ids["form"]
        row = conn.execute("INSERT INTO pliers.teams (organization_id, name, slug, created_by) "
                           "VALUES (%s, 'Team', 'team', %s) RETURNING id",
                           (org, ids["admin"])).fetchone()
        assert row is not None
        ids["team"] = row[0]
        conn.execute("INSERT INTO pliers.team_members (organization_id, team_id, user_id) "
                     "VALUES (%s, %s, %s)", (org, ids["team"], ids["teamer"]))
        conn.execute("INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, "
                     "permission_level) VALUES (%s, %s, %s, 'view')",
                     (org, form, ids["collaborator"]))
        conn.execute("INSERT INTO pliers.role_assignments (organization_id, user_id, role, "
                     "scope_type, scope_id) VALUES (%s, %s, 'submission_reviewer', 'form', %s)",
                     (org, ids["reviewer"], form))
        conn.execute("UPDATE pliers.submissions AS s SET assigned_team_id = %s "
                     "FROM (SELECT id, row_number() OVER (ORDER BY created_at) AS n "
                     "FROM pliers.submissions WHERE organization_id = %s) AS every "
                     "WHERE s.organization_id = %s AND s.id = every.id AND every.n %% 2 = 0",
                     (ids["team"], org, org))
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FILLER, {"orgs": orgs})
        conn.execute("VACUUM ANALYZE")
    return ids


def per_call_us(app: psycopg.Connection[Any], org: uuid.UUID, user: uuid.UUID, scope: str,
                scope_id: uuid.UUID | None, calls: int) -> float:
    """µs per has_permission('submission.view', scope, scope_id) call, N in one statement."""
    app.execute("SELECT pliers.set_context(%s, %s)", (org, user))
    started = time.perf_counter()
    row = app.execute("SELECT count(*) FILTER (WHERE pliers.has_permission('submission.view', "
                      "%s, %s)) FROM generate_series(1, %s)", (scope, scope_id, calls)).fetchone()
    elapsed = time.perf_counter() - started
    app.commit()
    assert row is not None and row[0] == calls, f"{scope} path denied"
    return elapsed / calls * 1e6


def page_ms(app: psycopg.Connection[Any], org: uuid.UUID, user: uuid.UUID, form: uuid.UUID,
            pages: int) -> float:
    """ms per first page of 50 submissions of the form (list_submissions) as ``user``."""
    app.execute("SELECT pliers.set_context(%s, %s)", (org, user))
    started = time.perf_counter()
    for _ in range(pages):
        row = app.execute("SELECT count(*) FROM pliers.list_submissions(%s)", (form,)).fetchone()
        assert row is not None and row[0] == 50, f"a page of {row}"
    elapsed = time.perf_counter() - started
    app.commit()
    return elapsed / pages * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--orgs", type=int, default=200, help="other organizations (FILLER)")
    args = parser.parse_args()
    server = cluster.start(cluster.system_bin_dir())
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE scoped_permissions")
        dsn = server.dsn("scoped_permissions")
        Migrator(dsn).migrate()
        password = secrets.token_hex(12)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE scoped_app LOGIN PASSWORD {} IN ROLE pliers_app")
                         .format(sql.Literal(password)))
            row = conn.execute("SELECT proconfig FROM pg_catalog.pg_proc "
                               "WHERE oid = %s::regprocedure", (FUNCTION,)).fetchone()
            assert row is not None
            shipped: list[str] = row[0] or []
            version = conn.execute("SHOW server_version").fetchone()
        app_dsn = server.dsn("scoped_permissions", user="scoped_app", password=password)
        ids = build(dsn, app_dsn, args.orgs)
        paths = {
            "organization-wide (no query)": (ids["admin"], "organization", None),
            "organization-wide on a form": (ids["admin"], "form", ids["form"]),
            "role assignment on the form": (ids["reviewer"], "form", ids["form"]),
            "form collaborator": (ids["collaborator"], "form", ids["form"]),
            "team member": (ids["teamer"], "team", ids["team"]),
        }
        page = "list_submissions page, team member (ms)"
        times: dict[str, dict[str, list[float]]] = {
            name: {state: [] for state in STATES} for name in [*paths, page]}
        with psycopg.connect(dsn, autocommit=True) as owner, psycopg.connect(app_dsn) as app:
            for n in range(args.rounds):
                for state in (list(STATES) if n % 2 == 0 else list(STATES)[::-1]):
                    owner.execute(f"ALTER FUNCTION {FUNCTION} {STATES[state]}")
                    for name, (user, scope, scope_id) in paths.items():
                        times[name][state].append(
                            per_call_us(app, ids["org"], user, scope, scope_id, args.calls))
                    times[page][state].append(
                        page_ms(app, ids["org"], ids["teamer"], ids["form"], args.pages))
            owner.execute(f"ALTER FUNCTION {FUNCTION} "
                          f"{STATES['generic' if GENERIC in shipped else 'reset']}")
        print(f"PostgreSQL {version[0] if version else '?'}; as shipped: proconfig {shipped}; "
              f"{args.calls} calls per statement, {args.pages} pages, {args.rounds} rounds, "
              "medians")
        print(f"{'path':42} {'generic':>9} {'reset':>9} {'reset/generic':>14}")
        for name, by_state in times.items():
            generic, reset = (statistics.median(by_state[s]) for s in STATES)
            unit = "" if name == page else " µs"
            print(f"{name:42} {generic:>9.1f} {reset:>9.1f} {reset / generic:>14.2f}{unit}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
