"""Job queue throughput: jobs/s through claim_jobs + complete_job (pliers.jobs, the
worker's calls) against a bare SKIP LOCKED loop on a table of the same shape, same run.

    python bench/jobs.py [--pg 15|18] [--dsn URL] [--jobs N] [--clients N] [--batch N]

Both loops: ``--clients`` connections (threads), each claiming ``--batch`` jobs at a
time and completing each with its own statement (as pliersdb.worker does), until the
queue is empty; the jobs are spread over 10 tenants. The bare loop is the textbook
``UPDATE ... WHERE id = ANY(ARRAY(SELECT id ... FOR UPDATE SKIP LOCKED LIMIT n))`` on a
copy of the table without foreign keys, RLS, fairness, leases' expiry or argument
checks. Also printed: the cost of an enqueue (``_enqueue_job`` vs a function doing a
bare INSERT, per call, 5,000 calls in one statement) and the cost of one claim while
one tenant has 100,000 jobs queued (the fairness scan). Figures go to the report;
bench/RESULTS.md is the lead's.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import threading
import time
import uuid
from typing import Any

import psycopg
import run  # bench/run.py: the throwaway server, databases, machine description

from pliersdb.migrate import Migrator

TENANTS = 10

BARE_TABLE = """
CREATE TABLE public.bare_jobs (LIKE pliers.jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE public.bare_jobs ADD PRIMARY KEY (organization_id, id);
CREATE INDEX ON public.bare_jobs (organization_id, run_at) WHERE status = 'queued';
CREATE INDEX ON public.bare_jobs (run_at) WHERE status = 'queued';
CREATE INDEX ON public.bare_jobs (locked_until) WHERE status = 'running';
CREATE INDEX ON public.bare_jobs (organization_id, created_at DESC, id DESC);
CREATE INDEX ON public.bare_jobs (finished_at) WHERE status IN ('done', 'dead');
"""

BARE_CLAIM = """
UPDATE public.bare_jobs AS j
SET status = 'running', attempts = j.attempts + 1, locked_by = %(w)s,
    locked_until = now() + interval '5 minutes', started_at = now()
WHERE j.id = ANY(ARRAY(
    SELECT c.id FROM public.bare_jobs AS c
    WHERE c.status = 'queued' AND c.run_at <= now()
    ORDER BY c.run_at LIMIT %(n)s FOR UPDATE SKIP LOCKED))
RETURNING j.organization_id, j.id, j.attempts
"""
BARE_COMPLETE = """
UPDATE public.bare_jobs AS j SET status = 'done', finished_at = now(), locked_by = NULL,
    locked_until = NULL
WHERE j.organization_id = %s AND j.id = %s AND j.status = 'running' AND j.locked_by = %s
    AND j.attempts = %s
"""
PLIERS_CLAIM = ("SELECT organization_id, id, attempts FROM "
                "pliers.claim_jobs(%(w)s, %(n)s, interval '5 minutes', NULL, %(after)s)")
PLIERS_COMPLETE = "SELECT pliers.complete_job(%s, %s, %s, %s)"


def fill(conn: psycopg.Connection[Any], table: str, orgs: list[uuid.UUID], jobs: int) -> None:
    conn.execute(
        f"INSERT INTO {table} (organization_id, kind, run_at) "
        "SELECT (%s::uuid[])[1 + g %% %s], 'bench.job', now() - interval '1 minute' "
        "FROM generate_series(1, %s) AS g", (orgs, len(orgs), jobs))
    conn.execute(f"ANALYZE {table}")


def drain(dsn: str, claim: str, complete: str, clients: int, batch: int) -> tuple[int, float]:
    """Jobs completed and seconds, ``clients`` threads claiming and completing."""
    done = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def loop(i: int) -> None:
        name, after = f"bench-{i}", None
        with psycopg.connect(dsn, autocommit=True) as conn:
            barrier.wait()
            while True:
                rows = conn.execute(claim, {"w": name, "n": batch, "after": after}).fetchall()
                if not rows:
                    return
                after = rows[-1][0]
                for org, job_id, attempt in rows:
                    conn.execute(complete, (org, job_id, name, attempt))
                done[i] += len(rows)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - start


def per_row(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...],
            rows: int) -> float:
    """Microseconds per row of one statement that writes ``rows`` rows (rolled back)."""
    with conn.transaction(force_rollback=True):
        start = time.perf_counter()
        conn.execute(statement, params)
        return (time.perf_counter() - start) / rows * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", help="an existing server (superuser); default: a throwaway one")
    parser.add_argument("--pg", choices=["15", "18"], default="15")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    args.keep = False
    server = run.open_server(args)
    db = f"pliers_bench_{secrets.token_hex(3)}_jobs"
    lines = []
    try:
        run.create_database(server, db)
        dsn = server.dsn(db)
        Migrator(dsn).migrate()
        with psycopg.connect(dsn, autocommit=True) as conn:
            orgs = [uuid.uuid4() for _ in range(TENANTS)]
            for n, org in enumerate(orgs):
                conn.execute("INSERT INTO pliers.organizations (id, slug, name) "
                             "VALUES (%s, %s, %s)", (org, f"bench-{n}", f"Bench {n}"))
            conn.execute(BARE_TABLE)
            enqueue = per_row(conn, "SELECT count(pliers._enqueue_job(%s, 'bench.job', '{}')) "
                              "FROM generate_series(1, 5000)", (orgs[0],), 5000)
            conn.execute("CREATE FUNCTION public.bare_enqueue(p_org uuid) RETURNS uuid "
                         "LANGUAGE sql AS $$ INSERT INTO public.bare_jobs (organization_id, kind) "
                         "VALUES (p_org, 'bench.job') RETURNING id $$")
            bare_insert = per_row(conn, "SELECT count(public.bare_enqueue(%s)) "
                                  "FROM generate_series(1, 5000)", (orgs[0],), 5000)
            lines.append(f"enqueue_us_per_job  pliers {enqueue:.1f}  bare {bare_insert:.1f}")
            for r in range(args.rounds):
                results = {}
                for label, table, claim, complete in (
                        ("pliers", "pliers.jobs", PLIERS_CLAIM, PLIERS_COMPLETE),
                        ("bare", "public.bare_jobs", BARE_CLAIM, BARE_COMPLETE)):
                    conn.execute(f"TRUNCATE {table}")
                    fill(conn, table, orgs, args.jobs)
                    count, seconds = drain(dsn, claim, complete, args.clients, args.batch)
                    assert count == args.jobs, (label, count)
                    results[label] = count / seconds
                    run.log(f"round {r + 1}: {label} {count / seconds:.0f} jobs/s")
                ratio = results["pliers"] / results["bare"]
                lines.append(f"jobs_per_s round {r + 1}  pliers {results['pliers']:.0f}  bare "
                             f"{results['bare']:.0f}  ratio {ratio:.2f}")
            # One claim while a tenant floods the queue (the fairness scan's cost).
            conn.execute("TRUNCATE pliers.jobs")
            conn.execute("INSERT INTO pliers.jobs (organization_id, kind) SELECT %s, 'bench.job' "
                         "FROM generate_series(1, 100000)", (orgs[0],))
            fill(conn, "pliers.jobs", orgs[1:], 90)
            times = []
            for _ in range(20):
                with conn.transaction(force_rollback=True):
                    start = time.perf_counter()
                    conn.execute("SELECT count(*) FROM pliers.claim_jobs('b', 10)")
                    times.append((time.perf_counter() - start) * 1000)
            times.sort()
            lines.append(f"claim_ms_with_100k_queued_in_one_tenant  median {times[10]:.2f}  "
                         f"max {times[-1]:.2f}  (10 tenants ready, batch 10)")
    finally:
        run.cleanup(server, False)
    print(f"job queue: PostgreSQL {server.version}; {args.jobs} jobs over {TENANTS} tenants, "
          f"{args.clients} clients, batch {args.batch}; {run.machine()}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
