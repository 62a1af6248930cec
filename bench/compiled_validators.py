"""Compiled validators against the interpreter: microseconds per call.

    python bench/compiled_validators.py [--pg 15|18] [--dsn URL]

For each form (the 8- and 15-field forms of bench/setup.sql, a flat 15-field form with
conditions, a form with a group, a repeat and conditions), the answers are checked by
the interpreter (pliers._check_submission_data; a draft also needs the final check of
the cleaned answers, as create_submission does) and by the version's compiled validator
through pliers._check_answers, in a PL/pgSQL loop in the server (no round trip counted).
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
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

FORMS = [
    ("benchmark form (bench.definition, 8 fields)", "bench.definition('bench')",
     "bench.answer(3)"),
    ("15 fields, a group (bench.wide_definition)", "bench.wide_definition('bench')",
     "bench.wide_answer(3)"),
    ("15 fields, conditions (bench/validation.py)", repr(flat_definition(15)) + "::jsonb",
     repr(flat_answers(15)) + "::jsonb"),
    ("group, repeat of 2 items, conditions", repr(json.dumps(STRUCTURED)) + "::jsonb",
     repr(json.dumps(STRUCTURED_ANSWERS)) + "::jsonb"),
]

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


def per_call(conn: Any, query: str, definition: str, answers: str) -> float:
    """Median seconds of one call, from PL/pgSQL loops long enough to be measured."""
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
        elapsed = conn.execute("SELECT pg_temp.bench_loop(%s)", (count,)).fetchone()[0]
        if elapsed >= TARGET_SECONDS or count >= 1_000_000:
            break
        count = max(count * 2, int(count * 1.2 * TARGET_SECONDS / max(elapsed, 1e-6)))
    return statistics.median(
        conn.execute("SELECT pg_temp.bench_loop(%s)", (count,)).fetchone()[0] / count
        for _ in range(REPEATS))


def main(argv: list[str] | None = None) -> int:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", help="an existing server (superuser); default: a throwaway one")
    parser.add_argument("--pg", choices=["15", "18"], default="15",
                        help="throwaway server: system PostgreSQL 15 or the embedded 18")
    args = parser.parse_args(argv)
    args.keep = False
    server = run.open_server(args)
    db = f"pliers_bench_{secrets.token_hex(3)}_compiled"
    lines = ["| form | " + " | ".join(name for name, _ in CALLS) + " |",
             "|---|" + "---|" * len(CALLS)]
    try:
        run.create_database(server, db)
        Migrator(server.dsn(db)).migrate()
        with psycopg.connect(server.dsn(db), autocommit=True) as conn:
            run.run_sql_file(conn, run.BENCH / "setup.sql")
            for form, definition, answers in FORMS:
                cells = []
                for name, query in CALLS:
                    micros = per_call(conn, query, definition, answers) * 1e6
                    run.log(f"{form}: {name}: {micros:.1f} µs")
                    cells.append(f"{micros:.1f} µs")
                lines.append(f"| {form} | " + " | ".join(cells) + " |")
    finally:
        run.cleanup(server, False)
    print(f"compiled validators, µs per call: PostgreSQL {server.version}, {run.machine()}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
