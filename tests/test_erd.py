"""docs/schema.md is generated from the catalog by `pliersdb erd` and must be current."""

from __future__ import annotations

from pathlib import Path

import psycopg
from pgcluster import Cluster

from pliersdb import erd

DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def test_schema_md_is_current(cluster: Cluster, template: str) -> None:
    with psycopg.connect(cluster.dsn(template)) as conn:
        current = erd.document(conn)
    assert DOC.read_text() == current, (
        "docs/schema.md is stale: run `pliersdb erd --dsn <migrated db> --output docs/schema.md`")


def test_diagram_has_every_table_and_composite_keys(cluster: Cluster, template: str) -> None:
    with psycopg.connect(cluster.dsn(template)) as conn:
        diagram = erd.mermaid(conn)
    assert diagram.startswith("erDiagram")
    for table in ("organizations", "users", "forms", "submissions", "events", "audit_logs"):
        assert f"    {table} {{" in diagram
    assert "uuid organization_id PK,FK" in diagram
    assert "organizations ||--o{ users : users_organization_id_fkey" in diagram
