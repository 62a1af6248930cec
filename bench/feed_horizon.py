"""The price of read_feed's horizon taken in its statement (migration 0024, issue 14)
against the horizon in a PL/pgSQL variable (migration 0005), in the same run.

    .venv/bin/python bench/feed_horizon.py [--events N] [--rounds N]

A throwaway PostgreSQL (the system's), migrated; one tenant with N events (100
transactions); the 0005 body installed beside the current one as read_feed_0005. Each
round reads the whole feed in pages of 1,000, as a consumer catching up does, with each
version in turn (the order alternates). Prints each version's median rate and the
ratio current/0005.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

from pliersdb.migrate import Migrator

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
sys.path.insert(0, str(MIGRATIONS.parent / "tests"))  # the harness, tests/pgcluster.py
import pgcluster as cluster  # noqa: E402


def read_all(conn: psycopg.Connection, function: str, org: uuid.UUID, user: uuid.UUID) -> int:
    cursor: tuple[str, int] = ("0", 0)
    read = 0
    while True:
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        rows = conn.execute(f"SELECT transaction_id::text, position FROM pliers.{function}"
                            "(%s::xid8, %s, 1000)", cursor).fetchall()
        conn.commit()
        if not rows:
            return read
        read += len(rows)
        cursor = (rows[-1][0], rows[-1][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = cluster.start(cluster.system_bin_dir())
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE feed_horizon")
        dsn = server.dsn("feed_horizon")
        Migrator(dsn).migrate()
        source = (MIGRATIONS / "0005.pliers-history.sql").read_text()
        start = source.index("CREATE FUNCTION pliers.read_feed(")
        before = source[start:source.index("COMMENT ON FUNCTION pliers.read_feed", start)]
        org, user = uuid.uuid4(), uuid.uuid4()
        per_transaction = max(1, args.events // 100)
        with psycopg.connect(dsn) as conn:
            conn.execute(before.replace("pliers.read_feed(", "pliers.read_feed_0005(", 1))
            conn.execute("INSERT INTO pliers.organizations (id, slug, name) "
                         "VALUES (%s, 'feed-horizon', 'Feed horizon')", (org,))
            conn.execute("INSERT INTO pliers.users (organization_id, id, email, roles) "
                         "VALUES (%s, %s, 'a@feed.example', '{org_admin}')", (org, user))
            conn.commit()
            for _ in range(100):
                conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
                conn.execute("SELECT pliers._append_events('form', gen_random_uuid(), 1, "
                             "array_fill('form.updated'::text, ARRAY[%s]), "
                             "array_fill('{}'::jsonb, ARRAY[%s]))",
                             (per_transaction, per_transaction))
                conn.commit()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE pliers.events")
        rates: dict[str, list[float]] = {"read_feed_0005": [], "read_feed": []}
        with psycopg.connect(dsn) as conn:
            for n in range(args.rounds):
                for function in (list(rates) if n % 2 == 0 else list(rates)[::-1]):
                    started = time.perf_counter()
                    read = read_all(conn, function, org, user)
                    rates[function].append(read / (time.perf_counter() - started))
        for function, values in rates.items():
            print(f"{function:15} {statistics.median(values):>12,.0f} events/s "
                  f"(median of {len(values)}: {', '.join(f'{v:,.0f}' for v in values)})")
        ratio = statistics.median(rates["read_feed"]) / statistics.median(rates["read_feed_0005"])
        print(f"ratio current/0005 {ratio:.3f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
