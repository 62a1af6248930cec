"""pliersdb demo: both organizations get data in every table, and a second run
leaves the data as it is."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from pliersdb import cli

TABLES = """
SELECT c.relname, EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = c.oid AND a.attname = 'organization_id')
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""


def test_demo_fills_every_table_for_both_organizations(
        fresh_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--dsn", fresh_db]) == 0
    out = capsys.readouterr().out
    assert "Loaded the demo data set" in out
    assert "Acme Health" in out and "Northwind Logistics" in out

    with psycopg.connect(fresh_db) as conn:
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
        before = conn.execute("SELECT count(*) FROM pliers.submissions").fetchone()

    assert cli.main(["demo", "--dsn", fresh_db]) == 0
    assert "already loaded" in capsys.readouterr().out
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM pliers.submissions").fetchone() == before
