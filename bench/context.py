"""The price of the signed tenant context (docs/security.md, issue 12).

    .venv/bin/python bench/context.py [--pg 15|18] [--dsn URL] [--seconds N] [--rounds N]

One pgbench client, prepared statements, pairs of scripts run alternately in the same
server; each figure is the difference of their mean latencies (server and round trips
the same on both sides), in microseconds, then the same from the server's side alone
(pg_stat_statements: execution and planning time, no round trips):

- set_context: a transaction that opens a context against the same transaction that
  does not (target: 50 us, the write-path issue's budget);
- policy, per statement: ten primary-key reads of tenant rows as the application
  (RLS: one verification of the context per index scan) against the same reads as the
  owner-less superuser (no RLS), divided by ten (target: a few us);
- policy, per row: a sequential scan of a tenant's forms as the application against
  the superuser's, divided by the rows scanned (information: the filter verifies the
  context on every row; only plans without an index on organization_id pay it);
- one verification: pliers.current_context() in a loop of 1,000 (information).

Prints `name  value  target  met|MISSED|info` lines, like bench/run.py.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import run  # bench/run.py: the throwaway server and its helpers

from pliersdb.migrate import Migrator

FORMS = 200  # rows of the tenant's forms table that the sequential scan reads
READS = 10


def pgbench(server: run.Server, db: str, text: str, app: bool, seconds: int,
            defines: dict[str, str]) -> float:
    """Mean latency in microseconds of one client running ``text``."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(text)
    args = [server.tool("pgbench"), "-n", "-c", "1", "-M", "prepared", "-T", str(seconds),
            "-f", f.name]
    for key, value in defines.items():
        args += ["-D", f"{key}={value}"]
    out = subprocess.run([*args, db], env=server.env(db, app), capture_output=True, text=True,
                         check=True).stdout
    match = re.search(r"latency average = ([0-9.]+) ms", out)
    if match is None:
        raise RuntimeError(out)
    return float(match.group(1)) * 1000


def build(server: run.Server, db: str) -> dict[str, str]:
    run.create_database(server, db)
    Migrator(server.dsn(db)).migrate()
    org, user = uuid.uuid4(), uuid.uuid4()
    with server.connect(db) as conn:
        conn.execute(f"CREATE ROLE {run.APP_ROLE} LOGIN PASSWORD '{server.app_password}' "
                     "IN ROLE pliers_app")
        server.created_role = True
        conn.execute("INSERT INTO pliers.organizations (id, slug, name) VALUES (%s, 'b', 'B')",
                     (org,))
        conn.execute("INSERT INTO pliers.users (organization_id, id, email, roles) "
                     "VALUES (%s, %s, 'b@b.example', '{org_admin}')", (org, user))
        conn.execute("INSERT INTO pliers.forms (organization_id, name, slug, definition) "
                     "SELECT %s, 'F' || i, 'f' || i, '{}' FROM generate_series(1, %s) AS i",
                     (org, FORMS))
        form = conn.execute("SELECT id FROM pliers.forms LIMIT 1").fetchone()
        conn.execute("ANALYZE")
    assert form is not None
    return {"org": str(org), "user": str(user), "form": str(form[0])}


def script(*statements: str) -> str:
    return "\n".join(["BEGIN;", *statements, "COMMIT;"]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", choices=("15", "18"), default="15")
    parser.add_argument("--dsn")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = run.open_server(args)
    db = "pliers_bench_context"
    try:
        ids = build(server, db)
        with server.connect(db) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        context = "SELECT pliers.set_context(:org, :user);"
        read = "SELECT name FROM pliers.forms WHERE organization_id = :org AND id = :form;"
        seq = ("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; "
               "SELECT count(*) FROM pliers.forms WHERE name <> '';")
        pairs = {
            "set_context": ((script(context), True), (script("SELECT 1;"), True), 1),
            "policy, per statement": ((script(context, *[read] * READS), True),
                                      (script(context, *[read] * READS), False), READS),
            "policy, per row": ((script(context, seq), True), (script(context, seq), False),
                                FORMS),
        }
        diffs: dict[str, list[float]] = {name: [] for name in pairs}
        for _ in range(args.rounds):
            for name, (with_, without, per) in pairs.items():
                a = pgbench(server, db, with_[0], with_[1], args.seconds, ids)
                b = pgbench(server, db, without[0], without[1], args.seconds, ids)
                diffs[name].append((a - b) / per)
        with server.connect(db) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT pliers.set_context(%s, %s)", (ids["org"], ids["user"]))
            row = conn.execute(
                "SELECT extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000 "
                "FROM (SELECT count(*) FROM generate_series(1, 1000) AS g "
                "WHERE pliers.current_context() <> g::text) AS x"
            ).fetchone()
            conn.execute("ROLLBACK")
            # Server time alone (no round trips): the read as the application and as the
            # superuser, and set_context, from pg_stat_statements (run.py's helpers).
            rows = run.statements(conn, schema="public")
            superuser = [s for s in rows if s.role != run.APP_ROLE]
            server_us = {
                "set_context": run.mean_us(rows, r"^SELECT pliers\.set_context\("),
                "read, application": run.mean_us(rows, r"^SELECT name FROM pliers\.forms",
                                                 run.APP_ROLE),
                "read, superuser": run.mean_us(superuser, r"^SELECT name FROM pliers\.forms"),
            }
        assert row is not None
        version = server.version
        targets = {"set_context": 50.0, "policy, per statement": 5.0}
        for name, values in diffs.items():
            value = statistics.median(values)
            target = targets.get(name)
            verdict = "info" if target is None else ("met" if value <= target else "MISSED")
            print(f"context {name} (PG {version}): {value:.1f} us  "
                  f"{'<= ' + str(target) if target else ''}  {verdict}  "
                  f"rounds {', '.join(f'{v:.1f}' for v in values)}")
        print(f"context one verification (PG {version}): {float(row[0]):.1f} us  info")
        app, owner = server_us["read, application"] or 0.0, server_us["read, superuser"] or 0.0
        verdict = "met" if app - owner <= targets["policy, per statement"] else "MISSED"
        print(f"context policy, per statement, server time (PG {version}): {app - owner:.1f} us  "
              f"<= {targets['policy, per statement']}  {verdict}  read {app:.1f} vs {owner:.1f} us")
        value = float(server_us["set_context"] or 0.0)
        verdict = "met" if value <= targets["set_context"] else "MISSED"
        print(f"context set_context, server time (PG {version}): {value:.1f} us  "
              f"<= {targets['set_context']}  {verdict}")
        return 0
    finally:
        run.cleanup(server, keep=False)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
