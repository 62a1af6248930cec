"""Client latency against server time of one unit of work, with one client (issue 13).

    .venv/bin/python bench/latency.py [--pg 15|18] [--dsn URL] [--units N] [--rounds N]

The throwaway server and the data are bench/run.py's (pg_stat_statements loaded; forms
created and published through the API). The unit of work is figure 1's: one valid
submission on a 15-field form (``bench.wide_targets``, ``bench.wide_answer``) as a
member, through one pool (``pliersdb.connect``, default options), three ways:

- step by step: ``run.submit_unit`` on a pooled connection: BEGIN; set_context; the call;
  COMMIT, a round trip each, as the library sent them before pipelining (its pool's
  leak check then follows in the pool's worker thread);
- block: ``with db.tenant(org, user) as t: t.call(...)``: 3 round trips;
- one call: ``db.tenant(org, user).call(...)``: 1 round trip;
- typed API: ``with db.tenant(org, user) as t: t.submissions.create(...)``: the block's 3
  round trips, plus the library's plan (pliersdb._api) and the row as a ``Submission``;
- async one call: ``await adb.tenant(org, user).call(...)`` on ``pliersdb.connect_async``'s
  pool, each unit run to completion on one event loop: 1 round trip.

For each: the client latency per unit (wall clock around the units, mean), the server
time per unit (the application role's top-level statements in pg_stat_statements,
execution and planning, BEGIN and COMMIT included, as figure 1 counts it), and their
ratio (target: 1.3 or less); for information, the client's CPU time per unit (all its
threads), which a busy machine does not inflate as it does the latency. Rounds
alternate the ways; the medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import run  # bench/run.py: the throwaway server and its helpers
from psycopg.types.json import Jsonb

import pliersdb

TARGET = 1.3

Unit = Callable[[Any], object]


def ways(db: pliersdb.Database, adb: pliersdb.AsyncDatabase, loop: asyncio.AbstractEventLoop,
         org: Any, user: Any, form: Any) -> dict[str, Unit]:
    def step_by_step(answers: Any) -> object:
        with db.pool.connection() as conn:
            run.submit_unit(conn, (org, user, form), Jsonb(answers))
        return None

    def block(answers: Any) -> object:
        with db.tenant(org, user) as t:
            return t.call("create_submission", form, answers, submit=True)

    def one_call(answers: Any) -> object:
        return db.tenant(org, user).call("create_submission", form, answers, submit=True)

    def typed(answers: Any) -> object:
        with db.tenant(org, user) as t:
            return t.submissions.create(form, answers, submit=True)

    def async_one_call(answers: Any) -> object:
        return loop.run_until_complete(
            adb.tenant(org, user).call("create_submission", form, answers, submit=True))

    return {"step by step": step_by_step, "block": block, "one call": one_call,
            "typed API": typed, "async one call": async_one_call}


def measure(server: run.Server, db_name: str, unit: Unit,
            answers: list[Any]) -> tuple[float, float, float]:
    """(client latency, server time, client CPU) per unit, in us."""
    run.reset_statement_stats(server, db_name)
    began, cpu = time.perf_counter(), time.process_time()
    for item in answers:
        unit(item)
    client = (time.perf_counter() - began) * 1e6 / len(answers)
    cpu = (time.process_time() - cpu) * 1e6 / len(answers)
    with server.connect(db_name) as admin:
        ms = sum(s.ms for s in run.statements(admin) if s.role == run.APP_ROLE and s.toplevel)
    return client, ms * 1000 / len(answers), cpu


def round_trip(db: pliersdb.Database, count: int) -> float:
    """Microseconds of a ``SELECT 1`` on a pooled connection: this machine's round trip."""
    with db.pool.connection() as conn:
        began = time.perf_counter()
        for _ in range(count):
            conn.execute("SELECT 1").fetchall()
        return (time.perf_counter() - began) * 1e6 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", choices=("15", "18"), default="15")
    parser.add_argument("--dsn")
    parser.add_argument("--units", type=int, default=2000, help="units of work per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = run.open_server(args)
    db_name = "pliers_bench_latency"
    try:
        run.build_template(server, db_name, replace(run.PLANS["quick"], orgs=1))
        with server.connect(db_name) as conn:
            target = conn.execute("SELECT organization_id, user_id, form_id "
                                  "FROM bench.wide_targets ORDER BY n LIMIT 1").fetchone()
            answers = [row[0] for row in conn.execute(
                "SELECT bench.wide_answer(g * 7919) FROM generate_series(1, %s) AS g",
                (args.units,))]
        assert target is not None
        results: dict[str, list[tuple[float, float, float]]] = {}
        loop = asyncio.new_event_loop()
        adb = loop.run_until_complete(pliersdb.connect_async(server.dsn(db_name, app=True)))
        with pliersdb.connect(server.dsn(db_name, app=True)) as db:
            units = ways(db, adb, loop, *target)
            for unit in units.values():  # warm up: connections, caches, prepared statements
                for item in answers[:50]:
                    unit(item)
            trips = []
            for n in range(args.rounds):
                for name, unit in units.items():
                    results.setdefault(name, []).append(measure(server, db_name, unit, answers))
                    run.log(f"round {n + 1} {name}: {results[name][-1]}")
                trips.append(round_trip(db, args.units))
        loop.run_until_complete(adb.close())
        loop.close()
        print(f"# PG {server.version}, {args.units} units x {args.rounds} rounds, 1 client; "
              f"{run.machine()}; load average {os.getloadavg()[0]:.1f}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"round trip (SELECT 1)  {statistics.median(trips):.1f} us  info")
        for name, values in results.items():
            client, server_us, cpu = (statistics.median(v[i] for v in values) for i in range(3))
            ratio = statistics.median(v[0] / v[1] for v in values)
            verdict = "met" if ratio <= TARGET else "MISSED"
            print(f"latency {name:<14} client {client:7.1f} us  server {server_us:7.1f} us  "
                  f"client/server {ratio:.2f}  <= {TARGET}  {verdict}  client CPU {cpu:.0f} us")
        return 0
    finally:
        run.cleanup(server, keep=False)


if __name__ == "__main__":
    sys.exit(main())
