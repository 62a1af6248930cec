"""pliersdb demo: both organizations get data in every table, the application's part
goes through the library under row-level security (the SQL API's events, numbers and
encrypted webhook secrets are there), and a second run leaves the data as it is."""

from __future__ import annotations

import appworld
import psycopg
import pytest
from psycopg import sql

from pliersdb import cli, demo, distribute, webhooks

TABLES = """
SELECT c.relname, EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = c.oid AND a.attname = 'organization_id')
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""


@pytest.fixture(autouse=True)
def routed_application(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Citus (PLIERSDB_TEST_CLUSTER=citus) the demo's application connections run
    with multi-shard statements as errors: they log in as the superuser with ``SET ROLE
    pliers_app``, which no role setting reaches, so the option goes into their DSN
    (``demo.app_dsn``). The superuser's parts (bootstrap, the DBA's counts) may fan out."""
    if appworld.citus_mode():
        plain = demo.app_dsn
        monkeypatch.setattr(demo, "app_dsn", lambda dsn, role=demo.APP_ROLE:
                            appworld.routed_dsn(plain(dsn, role)))


def test_demo_fills_every_table_for_both_organizations(
        fresh_db: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    keys = f"test:{webhooks.Keyring.generate_key()}"
    monkeypatch.setenv(webhooks.ENV_VAR, keys)  # the demo encrypts webhook secrets with it
    keyring = webhooks.Keyring.parse(keys)
    assert cli.main(["demo", "--dsn", fresh_db]) == 0
    out = capsys.readouterr().out
    assert "Loaded the demo data set" in out
    assert "Acme Health" in out and "Northwind Logistics" in out
    # The tour of the library: run under RLS, a clear validation error, a page, an export,
    # two tenants isolated, a history.
    assert "through the library as pliers_app" in out
    assert "ValidationError (PL001)" in out
    assert "$.data.birthDate" in out and "invalid_date" in out
    assert "run again: 0 imported, 2 skipped" in out
    assert "major_version_required" in out
    assert "next page" in out and "first lines" in out
    assert "submission_number,form_version,status,fullName" in out
    assert "Isolation" in out and "NotFound" in out
    assert "db.with_api_key sees 3 submissions" in out

    with psycopg.connect(fresh_db) as conn:
        # On Citus the demo ran on a distributed database (tests/conftest.py).
        assert distribute.is_distributed(conn) == appworld.citus_mode()
        orgs = [r[0] for r in conn.execute(
            "SELECT id FROM pliers.organizations WHERE slug IN ('acme-health', 'northwind')")]
        assert len(orgs) == 2
        for table, tenant in conn.execute(TABLES).fetchall():
            ident = sql.Identifier("pliers", table)
            if not tenant:
                count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
                assert count is not None and count[0] > 0, table
                continue
            for org in orgs:
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE organization_id = %s").format(ident),
                    (org,)).fetchone()
                assert count is not None and count[0] > 0, (table, org)
        # Made by the SQL API, not by INSERTs: numbered per organization, with their events.
        numbers = conn.execute(
            "SELECT organization_id, array_agg(submission_number ORDER BY submission_number) "
            "FROM pliers.submissions GROUP BY 1").fetchall()
        assert sorted(n for _, n in numbers) == [
            ["S-000001", "S-000002", "S-000003", "S-000004", "S-000005"],  # Acme: 2 reviewed
            ["S-000001", "S-000002", "S-000003", "S-000004", "S-000005"],  # Northwind: 2 imported
        ]
        # The review workflow ran through the API and the worker: started by the submits,
        # moved by the timeout sweep (no actor), one guard refusal, approved and rejected,
        # the approved state's job done by the worker; every run has its started event.
        runs = conn.execute(
            "SELECT s.submission_number, s.status, e.status, e.current_state,"
            " e.state_history -> 1 ->> 'actor' IS NULL"
            " FROM pliers.workflow_executions AS e JOIN pliers.workflows AS w"
            " ON (w.organization_id, w.id) = (e.organization_id, e.workflow_id)"
            " JOIN pliers.submissions AS s ON (s.organization_id, s.id) ="
            " (e.organization_id, e.submission_id) WHERE w.slug = 'intake-review'"
            " ORDER BY 1").fetchall()
        assert runs == [("S-000004", "approved", "completed", "approved", True),
                        ("S-000005", "rejected", "completed", "rejected", True)]
        assert "InvalidTransition (guard_failed" in out
        assert conn.execute(
            "SELECT kind, status FROM pliers.jobs WHERE kind = 'demo.welcome_letter'"
        ).fetchall() == [("demo.welcome_letter", "done")]
        assert conn.execute(
            "SELECT count(*) FROM pliers.workflow_executions AS x WHERE NOT EXISTS ("
            "SELECT FROM pliers.events AS e WHERE e.organization_id = x.organization_id "
            "AND e.aggregate_id = x.id AND e.event_type = 'execution.started')").fetchone() == (0,)
        assert conn.execute(
            "SELECT array_agg(external_id || ' ' || source || ' ' || submitted_at::date::text "
            "ORDER BY external_id) FROM pliers.submissions WHERE source = 'legacy'"
        ).fetchone() == (["legacy-1 legacy 2024-03-01", "legacy-2 legacy 2024-03-02"],)
        assert conn.execute(
            "SELECT count(*) FROM pliers.submissions AS s WHERE NOT EXISTS ("
            "SELECT FROM pliers.events AS e WHERE e.organization_id = s.organization_id "
            "AND e.aggregate_id = s.id AND e.event_type = 'submission.created')").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pliers.forms AS f WHERE NOT EXISTS ("
            "SELECT FROM pliers.events AS e WHERE e.organization_id = f.organization_id "
            "AND e.aggregate_id = f.id AND e.event_type = 'form.created')").fetchone() == (0,)
        # Provisioned through the API too: every organization, user and team has the
        # event of its creation, and every role assignment its grant's.
        for table, event in (("organizations", "organization.created"),
                             ("users", "user.created"), ("teams", "team.created")):
            key = "id" if table == "organizations" else "organization_id"
            assert conn.execute(sql.SQL(
                "SELECT count(*) FROM {} AS r WHERE NOT EXISTS (SELECT FROM pliers.events AS e "
                "WHERE e.organization_id = r.{} AND e.aggregate_id = r.id "
                "AND e.event_type = %s)").format(sql.Identifier("pliers", table),
                                                 sql.Identifier(key)),
                (event,)).fetchone() == (0,), table
        assert conn.execute(
            "SELECT count(*) FROM pliers.role_assignments AS a WHERE NOT EXISTS ("
            "SELECT FROM pliers.events AS e WHERE e.organization_id = a.organization_id "
            "AND e.aggregate_id = a.user_id AND e.event_type = 'role.granted')").fetchone() == (0,)
        assert conn.execute(
            "SELECT array_agg(version::text ORDER BY version) FROM pliers.forms "
            "WHERE slug = 'patient-intake'").fetchone() == (["1.0.0", "2.0.0"],)
        secrets = conn.execute("SELECT organization_id, secret_ciphertext, secret_key_id "
                               "FROM pliers.webhooks").fetchall()
        assert {org for org, _, _ in secrets} == set(orgs)
        for _, ciphertext, key_id in secrets:
            assert webhooks.decrypt_secret(ciphertext, key_id, keyring).startswith(b"whsec_")
        before = conn.execute("SELECT count(*) FROM pliers.submissions").fetchone()

    assert cli.main(["demo", "--dsn", fresh_db]) == 0
    assert "already loaded" in capsys.readouterr().out
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM pliers.submissions").fetchone() == before


def test_demo_refuses_a_half_loaded_database(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        appworld.new_organization(conn, "acme-health", "Acme Health")
    with pytest.raises(demo.DemoError, match="unfinished demo"):
        demo.run(fresh_db, say=lambda _: None)
