"""The price of a workflow on the submit path (issue 18): a submission created and
submitted through the API to a form without any workflow (the form_submission hook's one
probe of workflow_forms, and _append_events' probe of the event workflows) against the
same to a form with an active form_submission workflow attached (the review workflow of
docs/workflows.md: an execution inserted, counted, its event, the submission's
workflow_state and its event), in the same run.

    .venv/bin/python bench/workflow_submit.py [--submits N] [--rounds N]

A throwaway PostgreSQL (the system's), migrated; one organization with an admin, two
published forms of the same definition, the workflow made, attached to one of them and
activated through the lifecycle API (sql/63). Each round times, as a pliers_app login
with the admin's context, N submissions (pliers.create_submission(..., p_submit =>
TRUE)) to each form in one statement (server time, no round trips), in alternating
order, then each as its own transaction from the client (N transactions); and the form
without a workflow again with the two probes stubbed out (the functions replaced by
``SELECT NULL`` for that measure, then restored): the price of the probes when no
workflow is attached, as before issue 18. Prints the medians and the ratios.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pliersdb.migrate import Migrator

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
sys.path.insert(0, str(MIGRATIONS.parent / "tests"))  # the harness, tests/pgcluster.py
import pgcluster as cluster  # noqa: E402

FORM = {"title": "Claim", "fields": [
    {"id": "f1", "type": "text", "name": "purpose", "required": True},
    {"id": "f2", "type": "number", "name": "amount", "required": True}]}
REVIEW = {
    "initial": "submitted",
    "states": {
        "submitted": {
            "on": {"start_review": {"target": "in_review",
                                    "actions": [{"type": "assign", "team": "reviewers"}]}},
            "timeout": {"after": "P3D", "event": "start_review"}},
        "in_review": {"onEntry": [{"type": "set_status", "status": "processing"}],
                      "sla": {"after": "PT48H"},
                      "on": {"approve": {"target": "approved", "guard": {
                          "expression": {"<=": [{"var": "answers.amount"}, 1000]}}},
                             "reject": {"target": "rejected"}},
                      "timeout": {"after": "P7D", "event": "reject"}},
        "approved": {"final": True, "onEntry": [{"type": "set_status", "status": "approved"}]},
        "rejected": {"final": True, "onEntry": [{"type": "set_status", "status": "rejected"}]},
    },
}
VARIANTS = ("without", "with")
HOOKS = ("pliers._submission_workflow_state(uuid, uuid)",
         "pliers._start_event_workflows(uuid, text[])")


def build(dsn: str, app_dsn: str) -> dict[str, Any]:
    ids: dict[str, Any] = {"org": uuid.uuid4()}
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO pliers.organizations (id, slug, name) "
                     "VALUES (%s, 'bench-wf', 'Bench')", (ids["org"],))
        row = conn.execute("INSERT INTO pliers.users (organization_id, email, roles) "
                           "VALUES (%s, 'admin@bench.example', '{org_admin}') RETURNING id",
                           (ids["org"],)).fetchone()
        assert row is not None
        ids["admin"] = row[0]
        conn.execute("INSERT INTO pliers.teams (organization_id, name, slug) "
                     "VALUES (%s, 'Reviewers', 'reviewers')", (ids["org"],))
        conn.commit()
    with psycopg.connect(app_dsn) as app:
        app.execute("SELECT pliers.set_context(%s, %s)", (ids["org"], ids["admin"]))
        for variant in VARIANTS:
            row = app.execute("SELECT id FROM pliers.create_form('Claim', %s, %s)",
                              (f"claim-{variant}", Jsonb(FORM))).fetchone()
            assert row is not None
            ids[variant] = row[0]
            app.execute("SELECT pliers.publish_form(%s, '1.0.0')", (row[0],))
        row = app.execute("SELECT id FROM pliers.create_workflow('review', 'Review', %s, "
                          "'form_submission')", (Jsonb(REVIEW),)).fetchone()
        assert row is not None
        app.execute("SELECT pliers.attach_workflow_form(%s, %s)", (row[0], ids["with"]))
        app.execute("SELECT pliers.publish_workflow(%s, '1.0.0')", (row[0],))
        app.execute("SELECT pliers.activate_workflow(%s)", (row[0],))
        app.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return ids


def server_ms(app: psycopg.Connection[Any], ids: dict[str, Any], form: uuid.UUID,
              submits: int) -> float:
    """ms per submission, N in one statement (one transaction)."""
    app.execute("SELECT pliers.set_context(%s, %s)", (ids["org"], ids["admin"]))
    started = time.perf_counter()
    app.execute("SELECT count(*) FROM generate_series(1, %s) AS i, pliers.create_submission("
                "%s, jsonb_build_object('purpose', 'Train', 'amount', i), p_submit => TRUE) AS s",
                (submits, form))
    elapsed = time.perf_counter() - started
    app.commit()
    return elapsed / submits * 1e3


def client_ms(app: psycopg.Connection[Any], ids: dict[str, Any], form: uuid.UUID,
              submits: int) -> float:
    """ms per submission, each its own transaction (context + submit + commit)."""
    started = time.perf_counter()
    for i in range(submits):
        app.execute("SELECT pliers.set_context(%s, %s)", (ids["org"], ids["admin"]))
        app.execute("SELECT 1 FROM pliers.create_submission(%s, %s, p_submit => TRUE)",
                    (form, Jsonb({"purpose": "Train", "amount": i})))
        app.commit()
    return (time.perf_counter() - started) / submits * 1e3


def stub_hooks(owner: psycopg.Connection[Any], originals: dict[str, str] | None) -> None:
    """Replace the two probes by SELECT NULL (originals None), or restore them."""
    for hook in HOOKS:
        if originals is None:
            row = owner.execute("SELECT pg_catalog.pg_get_function_arguments(%s::regprocedure), "
                                "pg_catalog.pg_get_function_result(%s::regprocedure)",
                                (hook, hook)).fetchone()
            assert row is not None
            owner.execute(f"CREATE OR REPLACE FUNCTION {hook.split('(')[0]}({row[0]}) "
                          f"RETURNS {row[1]} LANGUAGE sql AS 'SELECT NULL::{row[1]}'")
        else:
            owner.execute(originals[hook])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    server = cluster.start(cluster.system_bin_dir())
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE workflow_submit")
            version = conn.execute("SHOW server_version").fetchone()
        dsn = server.dsn("workflow_submit")
        Migrator(dsn).migrate()
        password = secrets.token_hex(12)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE workflow_bench_app LOGIN PASSWORD {} IN ROLE "
                                 "pliers_app").format(sql.Literal(password)))
        app_dsn = server.dsn("workflow_submit", user="workflow_bench_app", password=password)
        ids = build(dsn, app_dsn)
        states = ("stubbed", *VARIANTS)
        times: dict[str, dict[str, list[float]]] = {
            kind: {v: [] for v in states} for kind in ("server", "client")}
        with psycopg.connect(dsn, autocommit=True) as owner:
            owner.execute("SET ROLE pliers_owner")
            originals = {}
            for hook in HOOKS:
                row = owner.execute("SELECT pg_catalog.pg_get_functiondef(%s::regprocedure)",
                                    (hook,)).fetchone()
                assert row is not None
                originals[hook] = row[0]
            with psycopg.connect(app_dsn) as app:
                for n in range(args.rounds):
                    for state in (states if n % 2 == 0 else states[::-1]):
                        form = ids["without" if state == "stubbed" else state]
                        if state == "stubbed":
                            stub_hooks(owner, None)
                        times["server"][state].append(server_ms(app, ids, form, args.submits))
                        times["client"][state].append(
                            client_ms(app, ids, form, args.submits // 3))
                        if state == "stubbed":
                            stub_hooks(owner, originals)
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM pliers.workflow_executions").fetchone()
        print(f"PostgreSQL {version[0] if version else '?'}; {args.submits} submits per "
              f"statement, {args.submits // 3} transactions, {args.rounds} rounds, medians; "
              f"{row[0] if row else '?'} executions started")
        print(f"{'ms per submit':36} {'no hooks':>9} {'without':>9} {'with':>9} "
              f"{'without/no hooks':>17} {'with/without':>13}")
        for kind, label in (("server", "one statement (server time)"),
                            ("client", "one transaction each (client)")):
            stubbed, without, with_ = (statistics.median(times[kind][v]) for v in states)
            print(f"{label:36} {stubbed:>9.3f} {without:>9.3f} {with_:>9.3f} "
                  f"{without / stubbed:>17.3f} {with_ / without:>13.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
