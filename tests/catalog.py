"""A normalised schema dump, to compare databases built different ways."""

from __future__ import annotations

import subprocess

import psycopg
from pgcluster import Cluster

SCHEMAS = ("pliers", "pliers_archive", "pliers_validators")


def dump(cluster: Cluster, dsn: str) -> str:
    """pg_dump --schema-only of pliersdb's schemas, without comments, SET lines and
    the per-run \\restrict keys of recent pg_dump releases."""
    with psycopg.connect(dsn) as conn:
        present = conn.execute("SELECT count(*) FROM pg_catalog.pg_namespace "
                               "WHERE nspname = ANY(%s)", (list(SCHEMAS),)).fetchone()
    if present == (0,):
        return ""  # pg_dump refuses patterns that match nothing
    args = [cluster.tool("pg_dump"), "--schema-only", "--no-tablespaces", "-d", dsn]
    for schema in SCHEMAS:
        args += ["-n", schema]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    keep = []
    for line in out.splitlines():
        if not line.strip() or line.startswith(("--", "SET ", "SELECT pg_catalog.set_config",
                                                "\\restrict", "\\unrestrict")):
            continue
        keep.append(line)
    return "\n".join(keep)
