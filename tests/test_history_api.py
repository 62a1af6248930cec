"""What the forms and submissions API records, and time travel, against committed
transactions, as the application connects (a LOGIN role in pliers_app, pliers.set_context
with a session, IP address, user agent and a correlation id per call):

- each API mutation writes exactly its events and audit rows: the event types in append
  order, aggregate_version = the row's revision (consecutive within a call), the audit
  rows (table, action, row) of the other tables it changes (forms and submissions are
  recorded by their events only), and the context (user, session, IP, user agent,
  correlation id) on both; the tenant's counts of events and audit rows grow by exactly
  that much;
- an expected-version mismatch writes nothing: PL003 with {expected, actual}, and no row
  change, no event, no audit row, no attachment, no counter;
- the state rebuilt from the events equals the row at every step: after each call,
  submission_at / form_at (clock_timestamp()) and the last state of the history are the
  row's business fields; at the end, every intermediate state of every history equals the
  snapshot of the row taken at that step, and the state as of the instant after each step
  equals that step's snapshot (NULL before creation).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

ORG = UUID("77000000-0000-4000-8000-00000000000a")
OWNER = UUID("77000001-0000-4000-8000-000000000001")
MEMBER = UUID("77000001-0000-4000-8000-000000000002")
TEAM = UUID("77000005-0000-4000-8000-0000000000a1")
SESSION = UUID("77000009-0000-4000-8000-000000000001")
IP = "203.0.113.7"
USER_AGENT = "pliers-history-test/1.0"

DEFINITION = {
    "title": "Claim",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "label": "Name", "required": True},
        {"id": "f2", "type": "integer", "name": "age", "label": "Age"},
        {
            "id": "f3",
            "type": "file",
            "name": "docs",
            "label": "Documents",
            "validation": {"maxItems": 3, "accept": ["image/*", "application/pdf"]},
        },
        {"id": "f4", "type": "signature", "name": "sig", "label": "Signature"},
    ],
}
DEFINITION_V2 = {
    **DEFINITION,
    "title": "Claim v2",
    "fields": [
        *DEFINITION["fields"],
        {"id": "f5", "type": "textarea", "name": "notes", "label": "Notes"},
    ],
}

# The columns time travel leaves out of the state (docs/history.md, "Time travel").
LEFT_OUT = {
    "forms": ["organization_id", "id", "updated_at", "updated_by"],
    "submissions": [
        "organization_id",
        "id",
        "workflow_state",
        "validation_state",
        "updated_at",
        "ip_address",
        "user_agent",
    ],
}

Conn = psycopg.Connection[Any]


# Fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def app(cluster: clusterlib.Cluster, fresh_db: str, app_role: tuple[str, str]) -> Iterator[Conn]:
    """A committed tenant (seeded as superuser) and a connection to it as the application."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        appworld.new_organization(conn, "hist-api", "History API", ORG)
        conn.execute(
            "INSERT INTO pliers.users (organization_id, id, email, roles) VALUES "
            "(%s, %s, 'owner@hist-api.example', '{org_owner}'), "
            "(%s, %s, 'member@hist-api.example', '{member}')",
            (ORG, OWNER, ORG, MEMBER),
        )
        conn.execute(
            "INSERT INTO pliers.teams (organization_id, id, name, slug) "
            "VALUES (%s, %s, 'Reviewers', 'reviewers')",
            (ORG, TEAM),
        )
    dbname = psycopg.conninfo.conninfo_to_dict(fresh_db)["dbname"]
    with psycopg.connect(cluster.dsn(str(dbname), user=app_role[0], password=app_role[1])) as conn:
        yield conn


def one(conn: Conn, query: str, params: Any = None) -> Any:
    """The single value a query returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def set_context(conn: Conn, correlation_id: UUID | None = None) -> None:
    conn.execute(
        "SELECT pliers.set_context(%s, %s, %s, %s, %s, %s)",
        (ORG, OWNER, SESSION, IP, USER_AGENT, correlation_id),
    )


def kind_of(name: str) -> str:
    """Aggregates are named F... (form versions) and S... (submissions) in the scenario."""
    return "forms" if name.startswith("F") else "submissions"


# The raw reads below name the tenant as a value: on Citus, that routes them to one shard.
def row_state(conn: Conn, table: str, row_id: UUID) -> dict[str, Any]:
    """The business fields of a row: to_jsonb of the row without the columns left out."""
    state = one(
        conn,
        sql.SQL(
            "SELECT to_jsonb(t) - %s::text[] FROM pliers.{} AS t "
            "WHERE t.organization_id = %s AND t.id = %s"
        ).format(sql.Identifier(table)),
        (LEFT_OUT[table], ORG, row_id),
    )
    assert isinstance(state, dict)
    return state


def revision(conn: Conn, table: str, row_id: UUID) -> int:
    return int(
        one(
            conn,
            sql.SQL("SELECT revision FROM pliers.{} WHERE organization_id = %s AND id = %s").format(
                sql.Identifier(table)
            ),
            (ORG, row_id),
        )
    )


def history(conn: Conn, table: str, row_id: UUID) -> list[tuple[int, str, dict[str, Any] | None]]:
    function = "form_history" if table == "forms" else "submission_history"
    rows = conn.execute(
        sql.SQL("SELECT aggregate_version, event_type, state FROM pliers.{}(%s)").format(
            sql.Identifier(function)
        ),
        (row_id,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def state_at(conn: Conn, table: str, row_id: UUID, at: Any) -> dict[str, Any] | None:
    function = "form_at" if table == "forms" else "submission_at"
    value = one(
        conn, sql.SQL("SELECT pliers.{}(%s, %s)").format(sql.Identifier(function)), (row_id, at)
    )
    assert value is None or isinstance(value, dict)
    return value


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def differs(got: dict[str, Any] | None, expected: dict[str, Any] | None) -> str:
    """What differs between two states, shortly (the keys, with both values)."""
    if got is None or expected is None:
        return f"{got!r} != {expected!r}"
    keys = sorted(set(got) | set(expected))
    return "; ".join(f"{k}: {got.get(k, '<absent>')!r} != {expected.get(k, '<absent>')!r}"
                     for k in keys if got.get(k, "<absent>") != expected.get(k, "<absent>"))


# The scenario: every mutation of the API, in an order that makes each valid ------------------


@dataclass
class Step:
    name: str
    call: Callable[[Conn, dict[str, UUID]], None]
    events: list[tuple[str, str]]  # (aggregate, event type), in append order
    audit: list[tuple[str, str]]  # (table, action), any order


def _new(ids: dict[str, UUID], name: str, conn: Conn, query: str, params: Any) -> None:
    ids[name] = one(conn, query, params)


def scenario() -> list[Step]:
    def rev(conn: Conn, ids: dict[str, UUID], name: str) -> int:
        return revision(conn, kind_of(name), ids[name])

    return [
        Step(
            "create_form",
            lambda c, ids: _new(
                ids,
                "F1",
                c,
                "SELECT id FROM pliers.create_form('Claim', 'claim', %s, p_tags => '{hr}')",
                (Jsonb(DEFINITION),),
            ),
            [("F1", "form.created")],
            [],
        ),
        Step(
            "update_form",
            lambda c, ids: c.execute(
                "SELECT pliers.update_form(%s, %s, p_category => 'claims', "
                "p_metadata => '{\"k\": 1}')",
                (ids["F1"], rev(c, ids, "F1")),
            ),
            [("F1", "form.updated")],
            [],
        ),
        Step(
            "publish_form",
            lambda c, ids: c.execute(
                "SELECT pliers.publish_form(%s, '1.0.0', %s)", (ids["F1"], rev(c, ids, "F1"))
            ),
            [("F1", "form.published")],
            [],
        ),
        Step(
            "create_form_version",
            lambda c, ids: _new(
                ids, "F2", c, "SELECT id FROM pliers.create_form_version(%s)", (ids["F1"],)
            ),
            [("F2", "form.created")],
            [("form_collaborators", "insert")],
        ),
        Step(
            "update_form (draft content)",
            lambda c, ids: c.execute(
                "SELECT pliers.update_form(%s, %s, p_name => 'Claim v2', p_definition => %s, "
                "p_visibility => 'organization')",
                (ids["F2"], rev(c, ids, "F2"), Jsonb(DEFINITION_V2)),
            ),
            [("F2", "form.updated")],
            [],
        ),
        Step(
            "publish_form (new latest)",
            lambda c, ids: c.execute(
                "SELECT pliers.publish_form(%s, '1.1.0', %s)", (ids["F2"], rev(c, ids, "F2"))
            ),
            [("F1", "form.updated"), ("F2", "form.published")],
            [],
        ),
        Step(
            "deprecate_form",
            lambda c, ids: c.execute(
                "SELECT pliers.deprecate_form(%s, %s)", (ids["F1"], rev(c, ids, "F1"))
            ),
            [("F1", "form.deprecated")],
            [],
        ),
        Step(
            "archive_form",
            lambda c, ids: c.execute(
                "SELECT pliers.archive_form(%s, %s)", (ids["F1"], rev(c, ids, "F1"))
            ),
            [("F1", "form.archived")],
            [],
        ),
        Step(
            "clone_form",
            lambda c, ids: _new(
                ids,
                "F3",
                c,
                "SELECT id FROM pliers.clone_form(%s, 'claim-copy', 'Claim copy')",
                (ids["F2"],),
            ),
            [("F3", "form.cloned")],
            [],
        ),
        Step(
            "delete_form",
            lambda c, ids: c.execute(
                "SELECT pliers.delete_form(%s, %s)", (ids["F3"], rev(c, ids, "F3"))
            ),
            [("F3", "form.deleted")],
            [],
        ),
        Step(
            "create_submission (draft)",
            lambda c, ids: _new(
                ids,
                "SD",
                c,
                "SELECT id FROM pliers.create_submission(%s, %s, p_tags => '{new}', "
                "p_referrer => 'https://ref.example/')",
                (ids["F2"], Jsonb({"age": 40})),
            ),
            [("SD", "submission.created")],
            [],
        ),
        Step(
            "update_submission",
            lambda c, ids: c.execute(
                "SELECT pliers.update_submission(%s, %s, %s, '{\"k\": \"v\"}', '{x,y}', "
                "now() + interval '30 days')",
                (ids["SD"], rev(c, ids, "SD"), Jsonb({"age": 41, "fullName": "Ann"})),
            ),
            [("SD", "submission.updated")],
            [],
        ),
        Step(
            "attach_file",
            lambda c, ids: _new(
                ids,
                "A1",
                c,
                "SELECT id FROM pliers.attach_file(%s, 'docs', 'a.png', 'image/png', 10, 'k/a', "
                "%s, p_expected_revision => %s)",
                (ids["SD"], sha("a"), rev(c, ids, "SD")),
            ),
            [("SD", "submission.attachment_added")],
            [("attachments", "insert")],
        ),
        Step(
            "attach_file (second)",
            lambda c, ids: _new(
                ids,
                "A2",
                c,
                "SELECT id FROM pliers.attach_file(%s, 'docs', 'b.pdf', 'application/pdf', 20, "
                "'k/b', %s)",
                (ids["SD"], sha("b")),
            ),
            [("SD", "submission.attachment_added")],
            [("attachments", "insert")],
        ),
        Step(
            "attach_file (signature)",
            lambda c, ids: _new(
                ids,
                "A3",
                c,
                "SELECT id FROM pliers.attach_file(%s, 'sig', 's.png', 'image/png', 5, 'k/s', %s)",
                (ids["SD"], sha("s")),
            ),
            [("SD", "submission.attachment_added")],
            [("attachments", "insert")],
        ),
        Step(
            "detach_file",
            lambda c, ids: c.execute(
                "SELECT pliers.detach_file(%s, %s)", (ids["A1"], rev(c, ids, "SD"))
            ),
            [("SD", "submission.attachment_removed")],
            [("attachments", "update")],
        ),
        Step(
            "detach_file (signature)",
            lambda c, ids: c.execute("SELECT pliers.detach_file(%s)", (ids["A3"],)),
            [("SD", "submission.attachment_removed")],
            [("attachments", "update")],
        ),
        Step(
            "assign_submission",
            lambda c, ids: c.execute(
                "SELECT pliers.assign_submission(%s, %s, %s, %s)",
                (ids["SD"], MEMBER, TEAM, rev(c, ids, "SD")),
            ),
            [("SD", "submission.assigned")],
            [],
        ),
        Step(
            "submit_submission",
            lambda c, ids: c.execute(
                "SELECT pliers.submit_submission(%s, %s)", (ids["SD"], rev(c, ids, "SD"))
            ),
            [("SD", "submission.submitted")],
            [],
        ),
        Step(
            "set_submission_status (approved)",
            lambda c, ids: c.execute(
                "SELECT pliers.set_submission_status(%s, 'approved', %s, 'looks fine')",
                (ids["SD"], rev(c, ids, "SD")),
            ),
            [("SD", "submission.status_changed")],
            [],
        ),
        Step(
            "set_submission_status (completed)",
            lambda c, ids: c.execute(
                "SELECT pliers.set_submission_status(%s, 'completed')", (ids["SD"],)
            ),
            [("SD", "submission.status_changed")],
            [],
        ),
        Step(
            "assign_submission (unassign)",
            lambda c, ids: c.execute("SELECT pliers.assign_submission(%s)", (ids["SD"],)),
            [("SD", "submission.assigned")],
            [],
        ),
        Step(
            "delete_submission",
            lambda c, ids: c.execute(
                "SELECT pliers.delete_submission(%s, %s)", (ids["SD"], rev(c, ids, "SD"))
            ),
            [("SD", "submission.deleted")],
            [],
        ),
        Step(
            "restore_submission",
            lambda c, ids: c.execute(
                "SELECT pliers.restore_submission(%s, %s)", (ids["SD"], rev(c, ids, "SD"))
            ),
            [("SD", "submission.restored")],
            [],
        ),
        Step(
            "create_submission (submitted)",
            lambda c, ids: _new(
                ids,
                "SS",
                c,
                "SELECT id FROM pliers.create_submission(%s, %s, TRUE, 'ext-1', "
                "'{\"via\": \"api\"}')",
                (ids["F2"], Jsonb({"fullName": "Bo", "age": 9})),
            ),
            [("SS", "submission.created"), ("SS", "submission.submitted")],
            [],
        )]


def setup_collaborator(conn: Conn, ids: dict[str, UUID]) -> None:
    """A collaborator on version 1.0.0 (not an API mutation): create_form_version copies it."""
    with conn.transaction():
        set_context(conn)
        conn.execute(
            "INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, "
            "permission_level, can_edit, granted_by) VALUES (%s, %s, %s, 'editor', TRUE, %s)",
            (ORG, ids["F1"], MEMBER, OWNER),
        )


@dataclass
class Recorded:
    events: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    # The transaction ids the step's events and audit rows carry, and the step's own.
    transactions: set[str] = field(default_factory=set)
    xid: str = ""
    counts_before: tuple[int, int] = (0, 0)
    counts_after: tuple[int, int] = (0, 0)
    correlation_id: UUID = field(default_factory=uuid.uuid4)


def tenant_counts(conn: Conn) -> tuple[int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pliers.events WHERE organization_id = %(o)s), "
        "(SELECT count(*) FROM pliers.audit_logs WHERE organization_id = %(o)s)",
        {"o": ORG},
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run_step(conn: Conn, step: Step, ids: dict[str, UUID]) -> Recorded:
    """Runs one API call in its own committed transaction; returns the events and audit rows
    it wrote and the tenant's counts before and after.

    The rows are read after the commit (on Citus the application may not read shards the
    API, as pliers_owner, wrote in its transaction: docs/scale-out.md) and found by the
    step's own correlation id, which every node records alike (a transaction id is the
    writing node's). A row of the step without that id is missing from them, a row
    with it of another step is not among those expected, and the counts grow by exactly
    as many rows: nothing else was written."""
    rec = Recorded()
    with conn.transaction():
        set_context(conn, rec.correlation_id)
        rec.counts_before = tenant_counts(conn)
        step.call(conn, ids)
        rec.xid = one(conn, "SELECT pg_current_xact_id()::text")
    with conn.transaction():
        set_context(conn)
        rec.counts_after = tenant_counts(conn)
        events = conn.execute(
            "SELECT event_type, aggregate_id, aggregate_version, user_id, session_id, "
            "host(ip_address), user_agent, correlation_id, transaction_id::text "
            "FROM pliers.events WHERE organization_id = %s AND correlation_id = %s "
            "ORDER BY position",
            (ORG, rec.correlation_id),
        ).fetchall()
        audit = conn.execute(
            "SELECT resource_type, action, resource_id, user_id, session_id, host(ip_address), "
            "user_agent, (metadata ->> 'correlation_id')::uuid, metadata ->> 'transaction_id' "
            "FROM pliers.audit_logs "
            "WHERE organization_id = %s AND metadata ->> 'correlation_id' = %s",
            (ORG, str(rec.correlation_id)),
        ).fetchall()
    rec.events = [tuple(r[:-1]) for r in events]
    rec.audit = [tuple(r[:-1]) for r in audit]
    rec.transactions = {r[-1] for r in [*events, *audit]}
    return rec


def run_scenario(
    conn: Conn, after_step: Callable[[Step, Recorded, dict[str, UUID]], None]
) -> dict[str, UUID]:
    ids: dict[str, UUID] = {}
    for step in scenario():
        if step.name == "create_form_version":
            setup_collaborator(conn, ids)
        rec = run_step(conn, step, ids)
        after_step(step, rec, ids)
    return ids


# Each mutation writes exactly its events and audit rows --------------------------------------


def test_each_mutation_writes_exactly_its_events_and_audit_rows(app: Conn) -> None:
    problems: list[str] = []
    covered: set[str] = set()
    transactions: set[str] = set()  # of the steps before

    def check(step: Step, rec: Recorded, ids: dict[str, UUID]) -> None:
        covered.add(step.name.split(" ")[0])
        name = step.name
        context = (OWNER, SESSION, IP, USER_AGENT, rec.correlation_id)
        # Events: types and aggregates in append order, the context of the call.
        got = [(e[0], e[1]) for e in rec.events]
        want = [(event_type, ids[aggregate]) for aggregate, event_type in step.events]
        if got != want:
            problems.append(f"{name}: events {got}, expected {want}")
        for event in rec.events:
            if tuple(event[3:]) != context:
                problems.append(f"{name}: event {event[0]} context {event[3:]}, expected {context}")
        # All written by the step's own transaction, a new one. On one server that is its
        # pg_current_xact_id(); on Citus the shards' triggers record the id of its
        # transaction on the tenant's worker, which the coordinator's id does not name.
        if (
            len(rec.transactions) != 1
            or rec.transactions & transactions
            or (not appworld.citus_mode() and rec.transactions != {rec.xid})
        ):
            problems.append(f"{name}: transaction ids {rec.transactions} (the step's {rec.xid})")
        transactions.update(rec.transactions)
        # aggregate_version = the row's revision: the versions of one aggregate in one call
        # are consecutive and end at the revision of the row after the call.
        with app.transaction():
            set_context(app)
            for aggregate in dict.fromkeys(a for a, _ in step.events):
                versions = [e[2] for e in rec.events if e[1] == ids[aggregate]]
                current = revision(app, kind_of(aggregate), ids[aggregate])
                expected = list(range(current - len(versions) + 1, current + 1))
                if versions != expected:
                    problems.append(
                        f"{name}: {aggregate} versions {versions}, row revision {current}"
                    )
        # Audit rows: one per changed row, with the same context.
        audit = sorted((a[0], a[1]) for a in rec.audit)
        if audit != sorted(step.audit):
            problems.append(f"{name}: audit rows {audit}, expected {sorted(step.audit)}")
        for row in rec.audit:
            if tuple(row[3:]) != context:
                problems.append(
                    f"{name}: audit {row[0]}/{row[1]} context {row[3:]}, expected {context}"
                )
            # Forms and submissions are event-sourced: the events above are the
            # record of the API's writes, no audit row copies them.
            if row[0] in ("forms", "submissions"):
                problems.append(f"{name}: audit row of {row[0]} {row[2]}: the events record it")
        # Exactly these: the tenant's counts grew by as many rows, no more.
        grown = (
            rec.counts_after[0] - rec.counts_before[0],
            rec.counts_after[1] - rec.counts_before[1],
        )
        if grown != (len(step.events), len(step.audit)):
            problems.append(
                f"{name}: events/audit rows grew by {grown}, "
                f"expected {(len(step.events), len(step.audit))}"
            )

    run_scenario(app, check)
    assert not problems, "\n".join(problems)
    assert covered == {
        "create_form",
        "update_form",
        "publish_form",
        "create_form_version",
        "deprecate_form",
        "archive_form",
        "clone_form",
        "delete_form",
        "create_submission",
        "update_submission",
        "submit_submission",
        "set_submission_status",
        "assign_submission",
        "attach_file",
        "detach_file",
        "delete_submission",
        "restore_submission",
    }


# An expected-version mismatch writes nothing ------------------------------------------------


def _tenant_fingerprint(conn: Conn) -> dict[str, Any]:
    """Everything an API call could write, for the tenant: rows of the aggregates (all
    columns), attachments, counters, and the numbers of events and audit rows."""
    row = conn.execute(
        """
        SELECT
            (SELECT jsonb_agg(to_jsonb(f) ORDER BY f.id) FROM pliers.forms AS f
             WHERE f.organization_id = %(o)s),
            (SELECT jsonb_agg(to_jsonb(s) ORDER BY s.id) FROM pliers.submissions AS s
             WHERE s.organization_id = %(o)s),
            (SELECT jsonb_agg(to_jsonb(a) ORDER BY a.id) FROM pliers.attachments AS a
             WHERE a.organization_id = %(o)s),
            (SELECT jsonb_agg(to_jsonb(u) ORDER BY u.metric, u.period_start, u.slot)
             FROM pliers.usage_counters AS u WHERE u.organization_id = %(o)s),
            (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.form_id, c.slot) FROM pliers.form_counters AS c
             WHERE c.organization_id = %(o)s),
            (SELECT count(*) FROM pliers.events WHERE organization_id = %(o)s),
            (SELECT count(*) FROM pliers.audit_logs WHERE organization_id = %(o)s)
        """,
        {"o": ORG},
    ).fetchone()
    assert row is not None
    keys = [
        "forms",
        "submissions",
        "attachments",
        "usage_counters",
        "form_counters",
        "events",
        "audit_logs",
    ]
    return dict(zip(keys, row, strict=True))


def test_expected_version_mismatch_writes_nothing(app: Conn) -> None:
    ids: dict[str, UUID] = {}
    with app.transaction():
        set_context(app)
        _new(
            ids,
            "FD",
            app,
            "SELECT id FROM pliers.create_form('Draft', 'draft', %s)",
            (Jsonb(DEFINITION),),
        )
        _new(
            ids,
            "FP",
            app,
            "SELECT id FROM pliers.create_form('Pub', 'pub', %s)",
            (Jsonb(DEFINITION),),
        )
        app.execute("SELECT pliers.publish_form(%s, '1.0.0')", (ids["FP"],))
        _new(
            ids,
            "SD",
            app,
            "SELECT id FROM pliers.create_submission(%s, %s)",
            (ids["FP"], Jsonb({"fullName": "Ann"})),
        )
        _new(
            ids,
            "A1",
            app,
            "SELECT id FROM pliers.attach_file(%s, 'docs', 'a.png', 'image/png', 10, 'k/a', %s)",
            (ids["SD"], sha("a")),
        )
        _new(ids, "SX", app, "SELECT id FROM pliers.create_submission(%s, '{}')", (ids["FP"],))
        app.execute("SELECT pliers.delete_submission(%s)", (ids["SX"],))

    stale = 99
    cases: list[tuple[str, str, str, tuple[Any, ...]]] = [
        ("update_form", "FD", "SELECT pliers.update_form(%s, %s, p_name => 'New')", ()),
        ("publish_form", "FD", "SELECT pliers.publish_form(%s, '1.0.0', %s)", ()),
        ("delete_form", "FD", "SELECT pliers.delete_form(%s, %s)", ()),
        ("deprecate_form", "FP", "SELECT pliers.deprecate_form(%s, %s)", ()),
        ("archive_form", "FP", "SELECT pliers.archive_form(%s, %s)", ()),
        (
            "update_submission",
            "SD",
            "SELECT pliers.update_submission(%s, p_data => %s, p_expected_revision => %s)",
            (Jsonb({"age": 3}),),
        ),
        ("submit_submission", "SD", "SELECT pliers.submit_submission(%s, %s)", ()),
        (
            "set_submission_status",
            "SD",
            "SELECT pliers.set_submission_status(%s, 'archived', %s)",
            (),
        ),
        ("assign_submission", "SD", "SELECT pliers.assign_submission(%s, %s, NULL, %s)", (MEMBER,)),
        (
            "attach_file",
            "SD",
            "SELECT pliers.attach_file(%s, 'docs', 'b.png', 'image/png', 10, 'k/b', %s, "
            "p_expected_revision => %s)",
            (sha("b"),),
        ),
        ("detach_file", "A1", "SELECT pliers.detach_file(%s, %s)", ()),
        ("delete_submission", "SD", "SELECT pliers.delete_submission(%s, %s)", ()),
        ("restore_submission", "SX", "SELECT pliers.restore_submission(%s, %s)", ()),
    ]
    problems: list[str] = []
    for name, target, query, extra in cases:
        # Placeholders: the target id, the extra arguments, the stale revision last.
        params = (ids[target], *extra, stale)
        aggregate = "SD" if target == "A1" else target
        with app.transaction():
            set_context(app)
            before = _tenant_fingerprint(app)
            actual = revision(app, kind_of(aggregate), ids[aggregate])
            try:
                with app.transaction():
                    app.execute(query, params)
                problems.append(f"{name}: no error")
            except psycopg.Error as exc:
                if exc.diag.sqlstate != "PL003":
                    problems.append(f"{name}: {exc.diag.sqlstate} {exc}")
                else:
                    detail = exc.diag.message_detail or ""
                    if f'"expected": {stale}' not in detail or f'"actual": {actual}' not in detail:
                        problems.append(f"{name}: DETAIL {detail}")
            if _tenant_fingerprint(app) != before:
                problems.append(f"{name}: something changed inside the transaction")
        with app.transaction():
            set_context(app)
            if _tenant_fingerprint(app) != before:
                problems.append(f"{name}: something was written")
    assert not problems, "\n".join(problems)


# The rebuilt state equals the row at every step --------------------------------------------


def test_rebuilt_state_equals_row_at_every_step(app: Conn) -> None:
    snapshots: dict[UUID, dict[int, dict[str, Any]]] = {}
    kinds: dict[UUID, str] = {}
    # (instant after a step, the latest snapshot of every aggregate at that instant)
    instants: list[tuple[Any, dict[UUID, int]]] = []
    problems: list[str] = []
    with app.transaction():
        start = one(app, "SELECT clock_timestamp()")

    def check(step: Step, rec: Recorded, ids: dict[str, UUID]) -> None:
        with app.transaction():
            set_context(app)
            for aggregate in dict.fromkeys(a for a, _ in step.events):
                table, row_id = kind_of(aggregate), ids[aggregate]
                kinds[row_id] = table
                row = row_state(app, table, row_id)
                now = state_at(app, table, row_id, one(app, "SELECT clock_timestamp()"))
                rows = history(app, table, row_id)
                if now != row:
                    problems.append(
                        f"{step.name}: {aggregate} at clock_timestamp(): {differs(now, row)}"
                    )
                if rows[-1][2] != row or rows[-1][0] != row["revision"]:
                    problems.append(
                        f"{step.name}: {aggregate} last of history (v{rows[-1][0]}): "
                        f"{differs(rows[-1][2], row)}"
                    )
                snapshots.setdefault(row_id, {})[row["revision"]] = row
        with app.transaction():
            instants.append(
                (one(app, "SELECT clock_timestamp()"), {i: max(s) for i, s in snapshots.items()})
            )

    ids = run_scenario(app, check)
    names = {row_id: name for name, row_id in ids.items()}

    with app.transaction():
        set_context(app)
        # Every intermediate state equals the row as it was at that step.
        for row_id, by_revision in snapshots.items():
            rows = history(app, kinds[row_id], row_id)
            versions = [r[0] for r in rows]
            if versions != list(range(1, len(rows) + 1)):
                problems.append(f"{names[row_id]}: versions {versions}")
            if not set(by_revision) <= set(versions):
                problems.append(
                    f"{names[row_id]}: snapshots {sorted(by_revision)} not all in history"
                )
            for version, _event_type, state in rows:
                if version in by_revision and state != by_revision[version]:
                    problems.append(
                        f"{names[row_id]}@{version}: {differs(state, by_revision[version])}"
                    )
        # Before the first step nothing existed; after each step, the state as of that
        # instant is that step's snapshot (or NULL for an aggregate created later).
        for row_id in snapshots:
            if state_at(app, kinds[row_id], row_id, start) is not None:
                problems.append(f"{names[row_id]}: a state before it was created")
        for index, (instant, latest) in enumerate(instants):
            for row_id, by_revision in snapshots.items():
                expected = by_revision[latest[row_id]] if row_id in latest else None
                got = state_at(app, kinds[row_id], row_id, instant)
                if got != expected:
                    problems.append(
                        f"after step {index + 1}: {names[row_id]} then: {differs(got, expected)}"
                    )
    assert not problems, "\n".join(problems)
    # The scenario made three form versions and two submissions, at many revisions.
    assert sorted(kinds.values()) == ["forms"] * 3 + ["submissions"] * 2
    assert sum(len(s) for s in snapshots.values()) >= 25
