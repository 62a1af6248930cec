"""Validation cost against input size: t(2n) / t(n) for the form validators.

    python bench/validation.py [--pg 15|18] [--dsn URL] [--rollback N] [--record]

Each case builds an input of size n and of size 2n (a definition with n fields, groups
nested n deep, answers to n fields, a repeat of n items, ...), times the validator on
both in the server (a PL/pgSQL loop, so no client round trip is counted) and prints the
ratio: about 2 when the cost is linear, about 4 when it is quadratic. The sizes go up to
the limits of pliers.form_limits(). bench/README.md explains the cases; --record appends
the table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import run  # bench/run.py: the throwaway server, databases, machine description

from pliersdb.migrate import Migrator

TARGET_SECONDS = 0.3  # each timing runs the validator this long at least
REPEATS = 3  # timings per size; the median is kept


# ---------------------------------------------------------------------------
# Inputs (JSON text: a nested definition is deeper than Python's json recursion)
# ---------------------------------------------------------------------------


def field(i: int) -> dict[str, Any]:
    """The i-th field of a flat form: a mix of kinds, rules and conditions."""
    kind = i % 5
    if kind == 0:
        return {"type": "text", "name": f"f{i}", "label": f"Field {i}",
                "validation": {"maxLength": 80}}
    if kind == 1:
        return {"type": "integer", "name": f"f{i}", "validation": {"min": 0, "max": 1000}}
    if kind == 2:
        return {"type": "single_choice", "name": f"f{i}",
                "choices": [{"code": f"c{c}", "label": f"Choice {c}"} for c in range(5)]}
    if kind == 3:
        return {"type": "date", "name": f"f{i}", "required": True,
                "visibleWhen": {"field": f"f{i - 2}", "operator": "not_equals", "value": 7}}
    return {"type": "text", "name": f"f{i}",
            "visibleWhen": {"any": [{"field": f"f{i - 2}", "operator": "equals", "value": "c1"},
                                    {"not": {"field": f"f{i - 4}", "operator": "empty"}}]}}


def answer(i: int) -> Any:
    return ["some text", 42, "c1", "2024-05-01", "more text"][i % 5]


def flat_definition(n: int) -> str:
    return json.dumps({"fields": [field(i) for i in range(n)]})


def flat_answers(n: int) -> str:
    return json.dumps({f"f{i}": answer(i) for i in range(n)})


def nested_definition(n: int) -> str:
    """Groups nested n deep, each with a text field and a condition on its neighbour."""
    inner = '{"type": "text", "name": "leaf"}'
    for i in range(n, 0, -1):
        inner = (f'{{"type": "group", "name": "g{i}", "fields": [{{"type": "text", "name": "t"}}, '
                 f'{{"type": "integer", "name": "v", "visibleWhen": '
                 f'{{"field": "{".".join(f"g{k}" for k in range(1, i + 1))}.t", '
                 f'"operator": "not_empty"}}}}, {inner}]}}')
    return f'{{"fields": [{inner}]}}'


def nested_answers(n: int) -> str:
    inner = f'{{"t": "a", "v": {n}, "leaf": "x"}}'
    for i in range(n - 1, 0, -1):
        inner = f'{{"t": "a", "v": {i}, "g{i + 1}": {inner}}}'
    return f'{{"g1": {inner}}}'


def repeat_definition() -> str:
    return json.dumps({"fields": [{"type": "repeat", "name": "items", "fields": [
        {"type": "text", "name": "name", "required": True},
        {"type": "integer", "name": "qty", "validation": {"min": 1}},
        {"type": "single_choice", "name": "unit", "choices": [{"code": "kg"}, {"code": "l"}]},
        {"type": "date", "name": "day", "visibleWhen": {"field": "items.qty", "operator":
                                                        "greater_than", "value": 1}},
    ]}]})


def repeat_answers(n: int) -> str:
    return json.dumps({"items": [{"name": f"n{i}", "qty": i % 4 + 1, "unit": "kg",
                                  "day": "2024-01-02"} for i in range(n)]})


def choices_definition(n: int) -> str:
    return json.dumps({"fields": [{"type": "multiple_choice", "name": "m", "choices": [
        {"code": f"c{i}", "label": f"Choice {i}"} for i in range(n)]}]})


def choices_answers(n: int) -> str:
    return json.dumps({"m": [f"c{i}" for i in range(n)]})


def cycle_definition(n: int) -> str:
    """n fields whose visibility forms one cycle: every field is reported."""
    return json.dumps({"fields": [
        {"type": "text", "name": f"f{i}",
         "visibleWhen": {"field": f"f{(i + 1) % n}", "operator": "not_empty"}}
        for i in range(n)]})


# case name, sizes n (2n is timed too), the SQL call, its arguments for a size
Case = tuple[str, list[int], str, Callable[[int], tuple[str, ...]]]

CASES: list[Case] = [
    ("validate_form_definition: n fields", [125, 250, 500, 1000],
     "pliers.validate_form_definition($1::jsonb)", lambda n: (flat_definition(n),)),
    ("validate_form_definition: groups nested n deep", [4, 8, 16],
     "pliers.validate_form_definition($1::jsonb)", lambda n: (nested_definition(n),)),
    ("validate_form_definition: a cycle of n fields", [125, 250, 500, 1000],
     "pliers.validate_form_definition($1::jsonb)", lambda n: (cycle_definition(n),)),
    ("validate_form_definition: a field of n choices", [1250, 2500, 5000],
     "pliers.validate_form_definition($1::jsonb)", lambda n: (choices_definition(n),)),
    ("validate_submission_data: answers to n fields", [125, 250, 500, 1000],
     "pliers.validate_submission_data($1::jsonb, $2::jsonb)",
     lambda n: (flat_definition(n), flat_answers(n))),
    ("validate_submission_data: n answers and an unknown key (rebuilt)", [125, 250, 500, 1000],
     "pliers.validate_submission_data($1::jsonb, $2::jsonb)",
     lambda n: (flat_definition(n), flat_answers(n)[:-1] + ', "unknown": 1}')),
    ("validate_submission_data: groups nested n deep", [4, 8, 16],
     "pliers.validate_submission_data($1::jsonb, $2::jsonb)",
     lambda n: (nested_definition(n), nested_answers(n))),
    ("validate_submission_data: a repeat of n items", [625, 1250, 2500, 5000],
     "pliers.validate_submission_data($1::jsonb, $2::jsonb)",
     lambda n: (repeat_definition(), repeat_answers(n))),
    ("validate_submission_data: n codes of a multiple choice", [1250, 2500, 5000],
     "pliers.validate_submission_data($1::jsonb, $2::jsonb)",
     lambda n: (choices_definition(n), choices_answers(n))),
]


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def seconds_per_call(conn: Any, call: str, args: tuple[str, ...]) -> tuple[float, int]:
    """Median time of one call, from a PL/pgSQL loop long enough to be measured;
    also the number of errors the call returns (0 for a valid input)."""
    conn.execute(
        "CREATE OR REPLACE FUNCTION pg_temp.bench_loop(p_count integer, a jsonb, b jsonb)"
        " RETURNS double precision LANGUAGE plpgsql AS $$"
        " DECLARE v_start timestamptz := clock_timestamp(); v jsonb;"
        " BEGIN FOR i IN 1 .. p_count LOOP v := "
        + call.replace("$1::jsonb", "a").replace("$2::jsonb", "b")
        + "; END LOOP; RETURN extract(epoch FROM clock_timestamp() - v_start); END $$")
    padded = (*args, "null")[:2]
    query = call.replace("$1", "%s").replace("$2", "%s")
    errors = conn.execute(f"SELECT jsonb_array_length({query})", args).fetchone()[0]
    count = 1
    while True:  # calibrate
        elapsed = conn.execute("SELECT pg_temp.bench_loop(%s, %s, %s)", (count, *padded)
                               ).fetchone()[0]
        if elapsed >= TARGET_SECONDS or count >= 100_000:
            break
        count = max(count * 2, int(count * 1.2 * TARGET_SECONDS / max(elapsed, 1e-6)))
    times = [conn.execute("SELECT pg_temp.bench_loop(%s, %s, %s)", (count, *padded)
                          ).fetchone()[0] / count for _ in range(REPEATS)]
    return statistics.median(times), int(errors)


def measure(dsn: str) -> list[dict[str, Any]]:
    import psycopg

    rows: list[dict[str, Any]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, sizes, call, make in CASES:
            cache: dict[int, tuple[float, int, int]] = {}
            for n in sizes:
                for size in (n, 2 * n):
                    if size not in cache:
                        args = make(size)
                        seconds, errors = seconds_per_call(conn, call, args)
                        cache[size] = (seconds, errors, len(args[-1]))
                small, large = cache[n], cache[2 * n]
                row = {"case": name, "n": n, "t_n": small[0], "t_2n": large[0],
                       "ratio": large[0] / small[0], "bytes_2n": large[2],
                       "errors": (small[1], large[1])}
                rows.append(row)
                run.log(f"{name}: n={n} {small[0] * 1000:.2f} ms, 2n {large[0] * 1000:.2f} ms, "
                        f"ratio {row['ratio']:.2f}")
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| case | n | t(n) | t(2n) | t(2n)/t(n) | input at 2n | errors (n, 2n) |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['case']} | {r['n']:,} | {r['t_n'] * 1000:.2f} ms | "
                   f"{r['t_2n'] * 1000:.2f} ms | **{r['ratio']:.2f}** | {r['bytes_2n']:,} B | "
                   f"{r['errors'][0]}, {r['errors'][1]} |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", help="an existing server (superuser); default: a throwaway one")
    parser.add_argument("--pg", choices=["15", "18"], default="15",
                        help="throwaway server: system PostgreSQL 15 or the embedded 18")
    parser.add_argument("--rollback", type=int, default=0,
                        help="roll back the newest N migrations before measuring (a baseline)")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--results", default=str(run.BENCH / "RESULTS.md"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.keep = False
    server = run.open_server(args)
    db = f"pliers_bench_{secrets.token_hex(3)}_validation"
    try:
        run.create_database(server, db)
        migrator = Migrator(server.dsn(db))
        migrator.migrate()
        if args.rollback:
            migrator.rollback(args.rollback)
        applied = [s.migration_id for s in migrator.status() if s.applied]
        run.log(f"PostgreSQL {server.version}; migrations up to {applied[-1]}")
        rows = measure(server.dsn(db))
    finally:
        run.cleanup(server, False)
    lines = table(rows)
    print(f"validation cost against input size: PostgreSQL {server.version}, "
          f"migrations up to {applied[-1]}")
    print("\n".join(lines))
    if args.record:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = ["", f"## {now}: PostgreSQL {server.version}, validation cost against input "
                f"size (bench/validation.py, migrations up to {applied[-1]})", "",
                f"- Machine: {run.machine()}.",
                f"- Each time is the median of {REPEATS} loops of at least "
                f"{TARGET_SECONDS:.1f} s in the server; t(2n)/t(n) is about 2 when "
                "the cost is linear, 4 when quadratic.", "", *lines]
        with Path(args.results).open("a") as fh:
            fh.write("\n".join(text) + "\n")
        print(f"results appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
