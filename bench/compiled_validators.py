"""Compiled validators against the interpreter: microseconds per call.

    python bench/compiled_validators.py [--pg 15|18] [--dsn URL] [--baseline REV]

For each form (the 8- and 15-field forms of bench/setup.sql, a flat 15-field form with
conditions, a form with a group, a repeat and conditions), the answers are checked by
the interpreter (pliers._check_submission_data; a draft also needs the final check of
the cleaned answers, as create_submission does) and by the version's compiled validator
through pliers._check_answers, in a PL/pgSQL loop in the server (no round trip counted).

With --baseline REV (a git revision), the same calls also run, in the same run and on the
same server, in a database migrated with the migrations of REV: the table then gives both
figures and their ratio, the cost of the changes since REV on forms that do not use them.
A form that the database of REV does not accept (expressions, docs/expressions.md, before
they were made) has no figure before.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import run  # bench/run.py: the throwaway server, databases, machine description
from validation import REPEATS, TARGET_SECONDS, flat_answers, flat_definition

from pliersdb.migrate import Migrator

# A group, a repeat whose items test each other, conditions on the root.
STRUCTURED = {"fields": [
    {"type": "text", "name": "name", "required": True, "validation": {"maxLength": 80}},
    {"type": "single_choice", "name": "kind", "choices": [{"code": "a"}, {"code": "b"}],
     "allowOther": True},
    {"type": "group", "name": "address", "visibleWhen": {"field": "kind", "operator": "equals",
                                                         "value": "a"},
     "fields": [{"type": "text", "name": "street"},
                {"type": "text", "name": "zip", "validation": {"pattern": "^[0-9]{5}$"}},
                {"type": "email", "name": "mail", "requiredWhen": {
                    "field": "address.street", "operator": "empty"}}]},
    {"type": "repeat", "name": "items", "validation": {"maxItems": 10}, "fields": [
        {"type": "text", "name": "label", "required": True},
        {"type": "integer", "name": "qty", "validation": {"min": 1}},
        {"type": "date", "name": "day", "visibleWhen": {"field": "items.qty",
                                                        "operator": "greater_than", "value": 1}}]},
    {"type": "boolean", "name": "agree"},
    {"type": "rating", "name": "score", "visibleWhen": {"field": "agree", "operator": "equals",
                                                        "value": True}},
]}
STRUCTURED_ANSWERS = {
    "name": "Ann", "kind": "a", "address": {"street": "1 Main St", "zip": "75001"},
    "items": [{"label": "x", "qty": 2, "day": "2024-05-01"}, {"label": "y", "qty": 1}],
    "agree": True, "score": 4,
}

# An order form: a repeat whose items compute their totals, a total over them, constraints
# and a condition on a calculation (docs/expressions.md).
INVOICE = {"fields": [
    {"type": "text", "name": "customer", "required": True},
    {"type": "date", "name": "ordered"},
    {"type": "date", "name": "delivery", "validation": {
        "constraint": {">=": [{"var": "delivery"}, {"var": "ordered"}]}}},
    {"type": "repeat", "name": "lines", "validation": {"maxItems": 20}, "fields": [
        {"type": "text", "name": "item", "required": True},
        {"type": "integer", "name": "qty", "validation": {
            "constraint": {"and": [{">": [{"var": "lines.qty"}, 0]},
                                   {"<=": [{"var": "lines.qty"}, 100]}]}}},
        {"type": "currency", "name": "price", "currency": "EUR"},
        {"type": "calculated", "name": "amount",
         "expression": {"*": [{"var": "lines.qty"}, {"var": "lines.price"}]}}]},
    {"type": "calculated", "name": "total", "expression": {"sum": [{"var": "lines.amount"}]}},
    {"type": "text", "name": "approver", "required": True,
     "visibleWhen": {"expression": {">": [{"var": "total"}, 1000]}}},
]}
INVOICE_ANSWERS = {
    "customer": "Ann", "ordered": "2026-12-01", "delivery": "2026-12-09",
    "lines": [{"item": "x", "qty": 2, "price": 10.5}, {"item": "y", "qty": 1, "price": 4}],
}

# Conditions written as expressions and cascading inline choices (choiceFilter), at the
# root and in a repeat: compiled since helper F's change of issue 17.
STATES = ["ca", "ny", "tx", "wa", "fl"]
CITIES = [{"code": f"{state}{n}", "attributes": {"state": state}} for state in STATES
          for n in range(4)]
IN_STATE = {"==": [{"choice": "state"}, {"var": "state"}]}
FILTERED = {"fields": [
    {"type": "integer", "name": "age"},
    {"type": "single_choice", "name": "state", "choices": [{"code": s} for s in STATES]},
    {"type": "single_choice", "name": "city", "choices": CITIES, "choiceFilter": IN_STATE},
    {"type": "multiple_choice", "name": "visited", "choices": CITIES, "choiceFilter": IN_STATE},
    {"type": "text", "name": "school", "visibleWhen": {"expression": {"and": [
        {">=": [{"var": "age"}, 5]}, {"<": [{"var": "age"}, 18]}]}}},
    {"type": "text", "name": "job", "requiredWhen": {"expression": {">=": [{"var": "age"}, 18]}}},
    {"type": "text", "name": "guardian", "visibleWhen": {"any": [
        {"field": "age", "operator": "less_than", "value": 18},
        {"expression": {"regex": [{"var": "job"}, "^student"]}}]}},
    {"type": "repeat", "name": "trips", "validation": {"maxItems": 10}, "fields": [
        {"type": "single_choice", "name": "city", "choices": CITIES, "choiceFilter": IN_STATE},
        {"type": "integer", "name": "nights", "visibleWhen": {
            "expression": {"!=": [{"var": "trips.city"}, {"var": "city"}]}}}]},
]}
FILTERED_ANSWERS = {
    "age": 30, "state": "ca", "city": "ca1", "visited": ["ca0", "ca2"], "job": "engineer",
    "trips": [{"city": "ca0", "nights": 2}, {"city": "ca3", "nights": 1}, {"city": "ca1"}],
}

FORMS = [
    ("benchmark form (bench.definition, 8 fields)", "bench.definition('bench')",
     "bench.answer(3)"),
    ("15 fields, a group (bench.wide_definition)", "bench.wide_definition('bench')",
     "bench.wide_answer(3)"),
    ("15 fields, conditions (bench/validation.py)", repr(flat_definition(15)) + "::jsonb",
     repr(flat_answers(15)) + "::jsonb"),
    ("group, repeat of 2 items, conditions", repr(json.dumps(STRUCTURED)) + "::jsonb",
     repr(json.dumps(STRUCTURED_ANSWERS)) + "::jsonb"),
    ("expressions: calculations in a repeat, a total, constraints",
     repr(json.dumps(INVOICE)) + "::jsonb", repr(json.dumps(INVOICE_ANSWERS)) + "::jsonb"),
    ("expressions: conditions and choice filters, a repeat",
     repr(json.dumps(FILTERED)) + "::jsonb", repr(json.dumps(FILTERED_ANSWERS)) + "::jsonb"),
]


def understood(conn: Any, definition: str) -> bool:
    """Whether the database on conn accepts the definition (one of before the expression
    language does not: such a form has no figure before)."""
    try:
        with conn.transaction():
            row = conn.execute(f"SELECT pliers.validate_form_definition({definition}) = '[]'")
            return bool(row.fetchone()[0])
    except Exception:  # no such function, or it raises: not understood
        return False

# The statements timed: $D the definition, $F the form version (compiled), $A the answers.
# A draft is checked as create_submission does today: the interpreter twice.
CALLS = [
    ("interpreted, final",
     "SELECT d.errors INTO v FROM pliers._check_submission_data($D, $A, TRUE, NULL) d;"),
    ("compiled, final",
     "SELECT c.errors INTO v FROM pliers._check_answers($F, $A, TRUE, NULL) c;"),
    ("interpreted, draft + final check of the cleaned answers",
     "SELECT d.cleaned INTO v FROM pliers._check_submission_data($D, $A, FALSE, NULL) d;"
     " v := pliers.validate_submission_data($D, v, TRUE, NULL);"),
    ("compiled, draft (final_errors in the same pass)",
     "SELECT c.final_errors INTO v FROM pliers._check_answers($F, $A, FALSE, NULL) c;"),
]


def prepare(conn: Any, query: str, definition: str, answers: str) -> int:
    """Create the timing loop of one call on conn; return a count of calls long enough to
    be measured."""
    body = query.replace("$D", "v_d").replace("$A", "v_a").replace("$F", "v_f")
    conn.execute(
        "CREATE OR REPLACE FUNCTION pg_temp.bench_loop(p_count integer)"
        # search_path pinned as in the API functions (a caller whose search_path differs
        # from that of the SECURITY DEFINER validate_submission_data replans the inlined
        # _check_submission_data query after every call of it: milliseconds).
        " RETURNS double precision LANGUAGE plpgsql SET search_path = '' AS $$"
        f" DECLARE v_d jsonb := {definition}; v_a jsonb := {answers}; v_f pliers.forms;"
        " v_start timestamptz; v jsonb;"
        " BEGIN"
        " v_f := jsonb_populate_record(NULL::pliers.forms, jsonb_build_object('id',"
        " '00000000-0000-4000-8000-000000000001', 'status', 'published', 'version', '1.0.0',"
        " 'slug', 'bench', 'definition', v_d));"
        " PERFORM pliers._compile_validator(v_f);"
        " v_start := clock_timestamp();"
        f" FOR i IN 1 .. p_count LOOP {body} END LOOP;"
        " RETURN extract(epoch FROM clock_timestamp() - v_start); END $$")
    count = 100
    while True:  # calibrate
        elapsed = sample(conn, count) * count
        if elapsed >= TARGET_SECONDS or count >= 1_000_000:
            return count
        count = max(count * 2, int(count * 1.2 * TARGET_SECONDS / max(elapsed, 1e-6)))


def sample(conn: Any, count: int) -> float:
    """Seconds per call of the loop prepared on conn, over count calls."""
    return float(conn.execute("SELECT pg_temp.bench_loop(%s)", (count,)).fetchone()[0]) / count


def per_call(conns: dict[str, Any], query: str, definition: str, answers: str) -> dict[str, float]:
    """Seconds per call on each connection: the least of REPEATS + 2 timings, taken in turn
    on each (the machine's noise falls on both; the least is the call without it)."""
    counts = {when: prepare(conn, query, definition, answers) for when, conn in conns.items()}
    best = {when: float("inf") for when in conns}
    for _ in range(REPEATS + 2):
        for when, conn in conns.items():
            best[when] = min(best[when], sample(conn, counts[when]))
    return best


def baseline_migrations(rev: str, into: Path) -> Path:
    """The migrations directory of git revision rev, extracted into a directory."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "archive", rev, "migrations"], cwd=root, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "migrations"


def main(argv: list[str] | None = None) -> int:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", help="an existing server (superuser); default: a throwaway one")
    parser.add_argument("--pg", choices=["15", "18"], default="15",
                        help="throwaway server: system PostgreSQL 15 or the embedded 18")
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure a database migrated with the migrations of git REV")
    args = parser.parse_args(argv)
    args.keep = False
    server = run.open_server(args)
    db = f"pliers_bench_{secrets.token_hex(3)}_compiled"
    dbs = {"": db} | ({"before": db + "_before"} if args.baseline else {})
    heads: list[str] = []
    for name, _ in CALLS:
        heads += [f"{name}, after", f"{name}, before"] if args.baseline else [name]
    if args.baseline:
        heads += [f"{name}: after / before" for name, _ in CALLS]
    lines = ["| form | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for when, name in dbs.items():
                run.create_database(server, name)
                directory = baseline_migrations(args.baseline, Path(tmp)) if when else None
                Migrator(server.dsn(name), directory).migrate()
                with psycopg.connect(server.dsn(name), autocommit=True) as conn:
                    run.run_sql_file(conn, run.BENCH / "setup.sql")
        conns = {when: psycopg.connect(server.dsn(name), autocommit=True)
                 for when, name in dbs.items()}
        try:
            for form, definition, answers in FORMS:
                cells: list[str] = []
                ratios: list[str] = []
                measured = {when: conn for when, conn in conns.items()
                            if not when or understood(conn, definition)}
                for name, query in CALLS:
                    seen = per_call(measured, query, definition, answers)
                    for when in conns:
                        if when not in seen:
                            cells.append("—")
                            continue
                        micros = seen[when] * 1e6
                        run.log(f"{form}: {name}{' ' + when if when else ''}: {micros:.1f} µs")
                        cells.append(f"{micros:.1f} µs")
                    if "before" in seen:
                        ratios.append(f"{seen[''] / seen['before']:.2f}")
                    elif args.baseline:
                        ratios.append("—")
                lines.append(f"| {form} | " + " | ".join(cells + ratios) + " |")
        finally:
            for conn in conns.values():
                conn.close()
    finally:
        run.cleanup(server, False)
    print(f"compiled validators, µs per call: PostgreSQL {server.version}, {run.machine()}"
          + (f"; before = migrations of {args.baseline}" if args.baseline else ""))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
