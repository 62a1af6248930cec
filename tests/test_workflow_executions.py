"""The workflow engine (``session.executions``, sql/64-workflow-executions.sql) end to
end, as an application runs it: through ``pliersdb.connect`` as a LOGIN role in
pliers_app, under row-level security; the worker's sweep as a LOGIN role in
pliers_worker. Workflow versions are seeded here as the superuser (published and
active, attached to a form), so that these tests depend on the engine only; the
lifecycle API that makes them is tests/test_workflows.py's.

Each test makes its own form and workflows (their own slugs) in one database per module."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb import errors
from pliersdb.executions import Execution

FORM: dict[str, Any] = {
    "title": "Expense claim",
    "fields": [
        {"id": "f1", "type": "text", "name": "purpose", "required": True},
        {"id": "f2", "type": "number", "name": "amount", "required": True},
    ],
}


def review(reviewers: str = "reviewers") -> dict[str, Any]:
    """The brief's review workflow: submitted -> in_review -> approved / rejected."""
    return {
        "initial": "submitted",
        "states": {
            "submitted": {
                "label": "Submitted",
                "on": {"start_review": {"target": "in_review",
                                        "actions": [{"type": "assign", "team": reviewers}]}},
                "timeout": {"after": "P3D", "event": "start_review"},
            },
            "in_review": {
                "onEntry": [{"type": "set_status", "status": "processing"}],
                "sla": {"after": "PT48H"},
                "on": {
                    "approve": {"target": "approved",
                                "guard": {"expression": {"<=": [{"var": "answers.amount"}, 1000]},
                                          "permission": "submission.update",
                                          "roles": ["submission_reviewer", "org_admin"]}},
                    "reject": {"target": "rejected"},
                },
                "timeout": {"after": "P7D", "event": "reject"},
            },
            "approved": {"final": True, "onEntry": [
                {"type": "set_status", "status": "approved"},
                {"type": "notify", "to": "submitter", "title": "Your claim was approved"}]},
            "rejected": {"final": True, "onEntry": [{"type": "set_status", "status": "rejected"}]},
        },
    }


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "executions", {
        "acme": {"users": {"alice": ["org_admin"], "rita": ["submission_reviewer"],
                           "mo": ["member"]},
                 "teams": ("reviewers",)},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=4, timeout=10) as database:
        yield database


@pytest.fixture(scope="module")
def worker_dsn(cluster: clusterlib.Cluster, seeded: World) -> Iterator[str]:
    with appworld.login(cluster, "pliers_worker", "worker") as (role, password):
        yield cluster.dsn(conninfo_to_dict(seeded.admin_dsn)["dbname"], user=role,
                          password=password)


def as_user(app: pliersdb.Database, seeded: World, user: str = "alice", org: str = "acme") -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, tenant.users[user])


def slug(prefix: str = "wf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def published_form(app: pliersdb.Database, seeded: World, org: str = "acme",
                   user: str = "alice") -> Any:
    with as_user(app, seeded, user, org) as t:
        form = t.forms.create("Claims", slug("claims"), FORM, visibility="organization")
        return t.forms.publish(form.id, "1.0.0")


def seed_workflow(seeded: World, definition: dict[str, Any], *, org: str = "acme",
                  workflow_slug: str | None = None, trigger_type: str = "manual",
                  trigger_config: dict[str, Any] | None = None, form_id: UUID | None = None,
                  timeout_seconds: int | None = None) -> tuple[UUID, str]:
    """An active, published workflow version, as the superuser: (id, slug)."""
    tenant = seeded.orgs[org]
    name = workflow_slug or slug()
    with psycopg.connect(seeded.admin_dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO pliers.workflows (organization_id, name, slug, version, type,"
            " trigger_type, trigger_config, status, is_active, definition, timeout_seconds)"
            " VALUES (%s, %s, %s, '1.0.0', 'approval', %s, %s, 'published', TRUE, %s, %s)"
            " RETURNING id",
            (tenant.id, name, name, trigger_type, Jsonb(trigger_config or {}), Jsonb(definition),
             timeout_seconds)).fetchone()
        assert row is not None
        if form_id is not None:
            conn.execute("INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id)"
                         " VALUES (%s, %s, %s)", (tenant.id, row[0], form_id))
    return row[0], name


def admin(seeded: World, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(seeded.admin_dsn, autocommit=True) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]


def events_of(seeded: World, aggregate_id: UUID) -> list[str]:
    return [r[0] for r in admin(
        seeded, "SELECT event_type FROM pliers.events WHERE aggregate_id = %s"
        " ORDER BY aggregate_version, position", aggregate_id)]


def claim(app: pliersdb.Database, seeded: World, form: Any, amount: int, user: str = "mo") -> Any:
    with as_user(app, seeded, user) as t:
        return t.submissions.create(form.id, {"purpose": "Train", "amount": amount}, submit=True)


def run_of(app: pliersdb.Database, seeded: World, submission_id: UUID) -> Execution:
    with as_user(app, seeded) as t:
        (run,) = t.executions.list(submission_id=submission_id)
    return run


# A submission starts its workflow and ends approved or rejected -------------------------


def test_a_submission_starts_its_workflow_and_ends_approved(
        app: pliersdb.Database, seeded: World) -> None:
    acme = seeded.orgs["acme"]
    form = published_form(app, seeded)
    workflow_id, _ = seed_workflow(seeded, review(), trigger_type="form_submission",
                                   form_id=form.id)
    s = claim(app, seeded, form, 250)
    # Started in the submit's transaction: the initial state's workflow_state is on the row.
    assert s.workflow_state == "submitted"
    run = run_of(app, seeded, s.id)
    assert isinstance(run, Execution)
    assert (run.workflow_id, run.current_state, run.status, run.trigger_source, run.revision) == (
        workflow_id, "submitted", "running", "form_submission", 1)
    assert run.triggered_by == acme.users["mo"] and run.timeout_at is not None
    assert run.state_history[0]["state"] == "submitted" and run.state_history[0]["event"] is None

    with as_user(app, seeded) as t:
        run = t.executions.transition(run.id, "start_review", expected_state="submitted")
        sub = t.submissions.get(s.id)
    assert (run.previous_state, run.current_state, run.revision) == ("submitted", "in_review", 2)
    assert run.sla_due_at is not None and run.timeout_at is not None
    assert (sub.status, sub.assigned_team_id, sub.assigned_to) == (
        "processing", acme.teams["reviewers"], None)

    with as_user(app, seeded, "rita") as t:  # a reviewer: role and permission of the guard
        run = t.executions.transition(run.id, "approve", payload={"note": "fine"})
        sub = t.submissions.get(s.id)
    assert (run.current_state, run.status, run.revision) == ("approved", "completed", 4)
    assert run.completed_at is not None and run.duration_ms is not None and run.duration_ms >= 0
    assert run.timeout_at is None and run.sla_due_at is None
    assert [h["state"] for h in run.state_history] == ["submitted", "in_review", "approved"]
    assert run.state_history[2]["actor"] == str(acme.users["rita"])
    assert run.state_history[2]["payload"] == {"note": "fine"}
    assert sub.status == "approved"
    assert admin(seeded, "SELECT workflow_state FROM pliers.submissions WHERE id = %s",
                 s.id) == [("approved",)]
    assert admin(seeded, "SELECT user_id, title FROM pliers.notifications"
                 " WHERE data->>'execution_id' = %s", str(run.id)) == [
                     (acme.users["mo"], "Your claim was approved")]
    assert events_of(seeded, run.id) == [
        "execution.started", "execution.transitioned", "execution.transitioned",
        "execution.completed"]
    assert "submission.workflow_state_changed" in events_of(seeded, s.id)
    assert admin(seeded, "SELECT execution_count FROM pliers.workflow_usage WHERE workflow_id = %s",
                 workflow_id) == [(1,)]


def test_a_submission_can_end_rejected(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    seed_workflow(seeded, review(), trigger_type="form_submission", form_id=form.id)
    s = claim(app, seeded, form, 5000)
    run = run_of(app, seeded, s.id)
    with as_user(app, seeded) as t:
        t.executions.transition(run.id, "start_review")
        run = t.executions.transition(run.id, "reject")
        assert t.submissions.get(s.id).status == "rejected"
    assert (run.current_state, run.status) == ("rejected", "completed")


def test_no_workflow_no_execution(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    s = claim(app, seeded, form, 10)
    with as_user(app, seeded) as t:
        assert t.executions.list(submission_id=s.id) == []


# Guards, events, concurrency ------------------------------------------------------------


def test_guards_and_events_not_allowed(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    seed_workflow(seeded, review(), trigger_type="form_submission", form_id=form.id)
    s = claim(app, seeded, form, 5000)
    run = run_of(app, seeded, s.id)

    with pytest.raises(errors.InvalidTransition) as not_here, as_user(app, seeded) as t:
        t.executions.transition(run.id, "approve")
    assert not_here.value.detail == {
        "object": "workflow_execution", "id": str(run.id), "from": "submitted", "event": "approve",
        "allowed": ["start_review"]}

    with as_user(app, seeded) as t:
        run = t.executions.transition(run.id, "start_review")
    # The expression: 5000 > 1000.
    with pytest.raises(errors.InvalidTransition) as guard, as_user(app, seeded) as t:
        t.executions.transition(run.id, "approve")
    assert guard.value.detail["reason"] == "guard_failed"
    # The submitter sees the run but may not move it (workflow.execute, submission.update).
    with pytest.raises(errors.PermissionDenied) as permission, as_user(app, seeded, "mo") as t:
        t.executions.transition(run.id, "approve")
    assert permission.value.detail["permission"] == "workflow.execute"
    # Stale expected state.
    with pytest.raises(errors.Conflict) as stale, as_user(app, seeded) as t:
        t.executions.transition(run.id, "reject", expected_state="submitted")
    assert (stale.value.detail["expected"], stale.value.detail["actual"]) == (
        "submitted", "in_review")
    with as_user(app, seeded) as t:
        assert t.executions.get(run.id).revision == run.revision  # nothing written


def test_a_guard_role_is_required(app: pliersdb.Database, seeded: World) -> None:
    definition = {"initial": "a", "states": {
        "a": {"on": {"go": {"target": "b", "guard": {"roles": ["submission_reviewer"]}},
                     "own": {"target": "b", "guard": {"permission": "organization.manage"}}}},
        "b": {"final": True}}}
    _, name = seed_workflow(seeded, definition)
    with as_user(app, seeded) as t:
        run = t.executions.start(name)
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded) as t:
        t.executions.transition(run.id, "go")  # alice is org_admin, not a reviewer
    assert denied.value.detail["roles"] == ["submission_reviewer"]
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded) as t:
        t.executions.transition(run.id, "own")  # an org_admin does not manage the organization
    assert (denied.value.detail["permission"], denied.value.detail["reason"]) == (
        "organization.manage", "guard")


def test_concurrent_transitions_exactly_one_wins(app: pliersdb.Database, seeded: World) -> None:
    definition = {"initial": "a", "states": {
        "a": {"on": {"left": {"target": "l"}, "right": {"target": "r"}}},
        "l": {"final": True}, "r": {"final": True}}}
    _, name = seed_workflow(seeded, definition)
    with as_user(app, seeded) as t:
        run = t.executions.start(name)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt(event: str) -> None:
        barrier.wait()
        try:
            with as_user(app, seeded) as t:
                t.executions.transition(run.id, event, expected_state="a")
            outcomes.append("won")
        except (errors.Conflict, errors.InvalidTransition):
            outcomes.append("lost")

    threads = [threading.Thread(target=attempt, args=(e,)) for e in ("left", "right") * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    with as_user(app, seeded) as t:
        final = t.executions.get(run.id)
    assert final.status == "completed" and len(final.state_history) == 2


# Cancel, fail, children, reading ---------------------------------------------------------


def test_cancel_and_fail(app: pliersdb.Database, seeded: World) -> None:
    child = {"initial": "x", "states": {"x": {"on": {"done": {"target": "y"}}},
                                        "y": {"final": True}}}
    _, child_slug = seed_workflow(seeded, child)
    parent = {"initial": "a", "states": {
        "a": {"onEntry": [{"type": "start_workflow", "workflow": child_slug}],
              "on": {"go": {"target": "b"}}},
        "b": {"final": True}}}
    _, parent_slug = seed_workflow(seeded, parent)
    with as_user(app, seeded) as t:
        run = t.executions.start(parent_slug, input={"why": "test"})
        (kid,) = [e for e in t.executions.list(workflow_slug=child_slug)
                  if e.parent_execution_id == run.id]
        assert (kid.depth, kid.trigger_source, kid.status) == (1, "parent", "running")
        cancelled = t.executions.cancel(run.id, reason="no longer needed")
        assert (cancelled.status, cancelled.revision) == ("cancelled", 2)
        assert t.executions.get(kid.id).status == "cancelled"
    with pytest.raises(errors.InvalidTransition), as_user(app, seeded) as t:
        t.executions.cancel(run.id)

    with as_user(app, seeded) as t:
        other = t.executions.start(child_slug)
    with pytest.raises(errors.Conflict), as_user(app, seeded) as t:
        t.executions.fail(other.id, {"message": "boom"}, expected_revision=7)
    with as_user(app, seeded) as t:
        failed = t.executions.fail(other.id, {"message": "boom", "code": 3})
    assert (failed.status, failed.error_message, failed.error_details) == (
        "failed", "boom", {"message": "boom", "code": 3})
    assert events_of(seeded, failed.id) == ["execution.started", "execution.failed"]


def test_children_nest_at_most_five_deep(app: pliersdb.Database, seeded: World) -> None:
    name = slug("loop")
    definition = {"initial": "a", "states": {
        "a": {"onEntry": [{"type": "start_workflow", "workflow": name}],
              "on": {"go": {"target": "b"}}},
        "b": {"final": True}}}
    seed_workflow(seeded, definition, workflow_slug=name)
    with pytest.raises(errors.ValidationError) as deep, as_user(app, seeded) as t:
        t.executions.start(name)
    assert deep.value.errors[0]["code"] == "too_deep"


def test_reading_paging_and_tenants(app: pliersdb.Database, seeded: World) -> None:
    definition = {"initial": "a", "states": {
        "a": {"sla": {"after": "PT1M"}, "on": {"go": {"target": "b"}}}, "b": {"final": True}}}
    workflow_id, name = seed_workflow(seeded, definition)
    with as_user(app, seeded) as t:
        runs = [t.executions.start(name) for _ in range(5)]
    with as_user(app, seeded) as t:
        first = t.executions.list(workflow_slug=name, limit=2)
        rest = t.executions.list(workflow_slug=name, after=first[-1], limit=10)
        assert {e.id for e in first + rest} == {r.id for r in runs} and len(first + rest) == 5
        assert t.executions.list(workflow_slug=name, status="completed") == []
    admin(seeded, "UPDATE pliers.workflow_executions SET sla_due_at = now() - interval '1 hour'"
          " WHERE workflow_id = %s AND id = %s RETURNING id", workflow_id, runs[0].id)
    with as_user(app, seeded) as t:
        assert [e.id for e in t.executions.overdue()] == [runs[0].id]
    # Another tenant sees none of it.
    with pytest.raises(errors.NotFound), as_user(app, seeded, "gina", "globex") as t:
        t.executions.get(runs[0].id)
    with as_user(app, seeded, "gina", "globex") as t:
        assert t.executions.list(workflow_slug=name) == []
    # A member without workflow.view lists nothing.
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "mo") as t:
        t.executions.list()
    # The application cannot write executions except through the API.
    denied = pytest.raises(psycopg.errors.InsufficientPrivilege)
    with psycopg.connect(seeded.app_dsn) as conn, appworld.fanning_out(conn), denied:
        conn.execute("UPDATE pliers.workflow_executions SET status = 'completed'")


def test_invalid_arguments(app: pliersdb.Database, seeded: World) -> None:
    with pytest.raises(errors.NotFound) as missing, as_user(app, seeded) as t:
        t.executions.start("no-such-workflow")
    assert missing.value.detail["reason"] == "not_active"
    _, name = seed_workflow(seeded, {"initial": "a", "states": {
        "a": {"on": {"go": {"target": "b"}}}, "b": {"final": True}}})
    with pytest.raises(errors.ValidationError) as big, as_user(app, seeded) as t:
        t.executions.start(name, input={"x": "y" * 70000})
    assert big.value.errors[0]["path"] == "input"
    with as_user(app, seeded) as t:
        run = t.executions.start(name)
    with pytest.raises(errors.ValidationError), as_user(app, seeded) as t:
        t.executions.transition(run.id, "Not An Event")


# The event trigger -----------------------------------------------------------------------


def test_an_event_starts_its_workflows_without_loops(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    # Started by submission.assigned; its own action assigns again: no second run.
    definition = {"initial": "seen", "states": {
        "seen": {"onEntry": [{"type": "notify", "to": "actor", "title": "Assigned"}],
                 "on": {"done": {"target": "end"}}},
        "end": {"final": True}}}
    workflow_id, _ = seed_workflow(seeded, definition, trigger_type="event",
                                   trigger_config={"event_type": "submission.assigned"})
    seed_workflow(seeded, review(), trigger_type="form_submission", form_id=form.id)
    s = claim(app, seeded, form, 1)
    acme = seeded.orgs["acme"]
    with as_user(app, seeded) as t:
        review_run = next(e for e in t.executions.list(submission_id=s.id))
        t.executions.transition(review_run.id, "start_review")  # assigns by action: no trigger
        assert [e.workflow_id for e in t.executions.list(status="running", limit=1000)].count(
            workflow_id) == 0
        t.submissions.assign(s.id, user_id=acme.users["rita"])  # a user's event: triggers
        started = [e for e in t.executions.list(limit=1000) if e.workflow_id == workflow_id]
    assert len(started) == 1 and started[0].trigger_source == "event"
    assert started[0].input_data == {"event_type": "submission.assigned"}


# The worker's sweep ----------------------------------------------------------------------


def sweep(worker_dsn: str, limit: int = 100) -> int:
    with psycopg.connect(worker_dsn) as conn:
        row = conn.execute("SELECT pliers.fire_workflow_timeouts(%s)", (limit,)).fetchone()
    assert row is not None
    return int(row[0])


def test_timeouts_move_expired_executions(app: pliersdb.Database, seeded: World,
                                          worker_dsn: str) -> None:
    form = published_form(app, seeded)
    seed_workflow(seeded, review(), trigger_type="form_submission", form_id=form.id)
    small, large = claim(app, seeded, form, 10), claim(app, seeded, form, 99999)
    runs = [run_of(app, seeded, s.id) for s in (small, large)]
    ids = [r.id for r in runs]
    admin(seeded, "UPDATE pliers.workflow_executions SET timeout_at = now() - interval '1 minute'"
          " WHERE id = ANY(%s) RETURNING id", ids)
    sweep(worker_dsn)
    with as_user(app, seeded) as t:
        moved = [t.executions.get(i) for i in ids]
    assert [m.current_state for m in moved] == ["in_review", "in_review"]
    assert moved[0].state_history[1]["actor"] is None  # the system
    assert "execution.timed_out" in events_of(seeded, ids[0])

    # in_review times out with reject: no guard, so both end rejected.
    admin(seeded, "UPDATE pliers.workflow_executions SET timeout_at = now() - interval '1 minute'"
          " WHERE id = ANY(%s) RETURNING id", ids)
    assert sweep(worker_dsn) >= 2
    with as_user(app, seeded) as t:
        done = [t.executions.get(i) for i in ids]
        assert [t.submissions.get(s.id).status for s in (small, large)] == ["rejected", "rejected"]
    assert [(d.current_state, d.status) for d in done] == [("rejected", "completed")] * 2
    assert sweep(worker_dsn) == 0 or all(not d.is_open for d in done)


def test_a_timeout_whose_guard_fails_stays_and_is_recorded(
        app: pliersdb.Database, seeded: World, worker_dsn: str) -> None:
    definition = {"initial": "a", "states": {
        "a": {"timeout": {"after": "PT1M", "event": "go"},
              "on": {"go": {"target": "b", "guard": {"expression": {"==": [1, 2]}}}}},
        "b": {"final": True}}}
    _, name = seed_workflow(seeded, definition)
    with as_user(app, seeded) as t:
        run = t.executions.start(name)
    admin(seeded, "UPDATE pliers.workflow_executions SET timeout_at = now() - interval '1 minute'"
          " WHERE id = %s RETURNING id", run.id)
    sweep(worker_dsn)
    with as_user(app, seeded) as t:
        after = t.executions.get(run.id)
    assert (after.current_state, after.status, after.timeout_at) == ("a", "running", None)
    assert events_of(seeded, run.id)[-1] == "execution.timeout_refused"


def test_a_run_past_its_deadline_times_out(app: pliersdb.Database, seeded: World,
                                           worker_dsn: str) -> None:
    definition = {"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}},
                                             "b": {"final": True}}}
    _, name = seed_workflow(seeded, definition, timeout_seconds=3600)
    with as_user(app, seeded) as t:
        run = t.executions.start(name)
    assert run.deadline_at is not None
    admin(seeded, "UPDATE pliers.workflow_executions SET deadline_at = now() - interval '1 second'"
          " WHERE id = %s RETURNING id", run.id)
    assert sweep(worker_dsn) >= 1
    with as_user(app, seeded) as t:
        assert t.executions.get(run.id).status == "timeout"


def test_the_sweep_is_the_workers_not_the_apps(seeded: World) -> None:
    denied = pytest.raises(psycopg.errors.InsufficientPrivilege)
    with psycopg.connect(seeded.app_dsn) as conn, denied:
        conn.execute("SELECT pliers.fire_workflow_timeouts(10)")


def test_webhook_trigger_needs_the_secret(app: pliersdb.Database, seeded: World) -> None:
    acme = seeded.orgs["acme"]
    workflow_id, _ = seed_workflow(seeded, {"initial": "a", "states": {
        "a": {"on": {"go": {"target": "b"}}}, "b": {"final": True}}}, trigger_type="webhook")
    with as_user(app, seeded) as t:
        secret = t.call("rotate_workflow_secret", workflow_id=workflow_id)[0][
            "rotate_workflow_secret"]
    # The application's endpoint: no user context.
    with psycopg.connect(seeded.app_dsn) as conn:
        row = conn.execute(
            "SELECT id, trigger_source, input_data, triggered_by"
            " FROM pliers.trigger_workflow_webhook(%s, %s, %s, %s)",
            (acme.id, workflow_id, secret, Jsonb({"order": 42}))).fetchone()
    assert row is not None and row[1:] == ("webhook", {"order": 42}, None)
    for org, wid, given_secret in ((acme.id, workflow_id, secret + "x"),
                                   (acme.id, uuid.uuid4(), secret),
                                   (seeded.orgs["globex"].id, workflow_id, secret)):
        with psycopg.connect(seeded.app_dsn) as conn, pytest.raises(psycopg.Error) as refused:
            conn.execute("SELECT pliers.trigger_workflow_webhook(%s, %s, %s)",
                         (org, wid, given_secret))
        assert refused.value.sqlstate == "PL006"
    assert events_of(seeded, row[0]) == ["execution.started"]


def test_schedules_fire_once_and_move_on(app: pliersdb.Database, seeded: World,
                                         worker_dsn: str) -> None:
    workflow_id, name = seed_workflow(seeded, {"initial": "a", "states": {
        "a": {"on": {"go": {"target": "b"}}}, "b": {"final": True}}},
        trigger_type="schedule", trigger_config={"cron": "*/5 * * * *"})
    admin(seeded, "UPDATE pliers.workflows SET next_fire_at = now() - interval '1 hour'"
          " WHERE id = %s RETURNING id", workflow_id)
    with psycopg.connect(worker_dsn) as conn:
        row = conn.execute("SELECT pliers.fire_workflow_schedules(100)").fetchone()
    assert row is not None and row[0] >= 1
    with as_user(app, seeded) as t:
        (run,) = t.executions.list(workflow_slug=name)
    assert run.trigger_source == "schedule" and "scheduled_for" in run.input_data
    ((next_fire,),) = admin(
        seeded, "SELECT next_fire_at > now() FROM pliers.workflows WHERE id = %s", workflow_id)
    assert next_fire is True
    assert events_of(seeded, workflow_id)[-1] == "workflow.schedule_fired"
    with psycopg.connect(worker_dsn) as conn:  # nothing due any more
        conn.execute("SELECT pliers.fire_workflow_schedules(100)")
    with as_user(app, seeded) as t:
        assert len(t.executions.list(workflow_slug=name)) == 1


def test_made_through_the_lifecycle_api(app: pliersdb.Database, seeded: World) -> None:
    """The review workflow made, published, attached and activated through sql/63."""
    form = published_form(app, seeded)
    name = slug("review")
    with as_user(app, seeded) as t:
        (created,) = t.call("create_workflow", slug=name, name="Review", definition=review(),
                            trigger_type="form_submission")
        t.call("attach_workflow_form", workflow_id=created["id"], form_id=form.id)
        t.call("publish_workflow", workflow_id=created["id"], version="1.0.0")
        t.call("activate_workflow", workflow_id=created["id"])
    s = claim(app, seeded, form, 20)
    run = run_of(app, seeded, s.id)
    with as_user(app, seeded) as t:
        t.executions.transition(run.id, "start_review")
        done = t.executions.transition(run.id, "approve")
        assert t.submissions.get(s.id).status == "approved"
    assert done.status == "completed" and done.workflow_id == created["id"]


def test_durable_actions_are_enqueued_with_the_transition(
        app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    definition = {"initial": "a", "states": {
        "a": {"on": {
            "go": {"target": "b", "actions": [
                {"type": "webhook", "event": "review.approved"},
                {"type": "job", "kind": "crm.sync", "payload": {"full": True}}]},
            # The job is enqueued, then the set_status is illegal (submitted -> completed):
            # the whole transition rolls back, the job with it.
            "bad": {"target": "b", "actions": [
                {"type": "job", "kind": "crm.sync", "payload": {}},
                {"type": "set_status", "status": "completed"}]}}},
        "b": {"final": True}}}
    seed_workflow(seeded, definition, trigger_type="form_submission", form_id=form.id)
    s = claim(app, seeded, form, 1)
    run = run_of(app, seeded, s.id)
    with pytest.raises(errors.InvalidTransition) as refused, as_user(app, seeded) as t:
        t.executions.transition(run.id, "bad")
    assert refused.value.detail["reason"] == "workflow_action"
    assert admin(seeded, "SELECT count(*) FROM pliers.jobs WHERE execution_id = %s",
                 run.id) == [(0,)]
    with as_user(app, seeded) as t:
        t.executions.transition(run.id, "go")
    jobs = admin(seeded, "SELECT kind, payload, idempotency_key, submission_id FROM pliers.jobs"
                 " WHERE execution_id = %s ORDER BY kind", run.id)
    assert [j[0] for j in jobs] == ["crm.sync", "pliers.webhook"]
    assert jobs[0][1] == {"full": True} and jobs[0][3] == s.id
    assert jobs[1][1] == {"event": "review.approved", "execution": str(run.id),
                          "workflow": str(run.workflow_id), "submission": str(s.id), "state": "a"}
    assert jobs[1][2] == f"workflow:{run.id}:1:$.states.a.on.go.actions[0]"


def test_end_to_end_through_the_worker(app: pliersdb.Database, seeded: World,
                                       worker_dsn: str) -> None:
    """A submission starts the review; the worker (pliersdb.worker.Worker) fires its
    timeout; a reviewer approves; the worker runs the approved state's durable job."""
    from pliersdb.worker import ClaimedJob, Worker

    form = published_form(app, seeded)
    definition = review()
    definition["states"]["approved"]["onEntry"].append(
        {"type": "job", "kind": "claims.pay", "payload": {"currency": "EUR"}})
    seed_workflow(seeded, definition, trigger_type="form_submission", form_id=form.id)
    s = claim(app, seeded, form, 400)
    run = run_of(app, seeded, s.id)
    admin(seeded, "UPDATE pliers.workflow_executions SET timeout_at = now() - interval '1 second'"
          " WHERE id = %s RETURNING id", run.id)
    paid: list[ClaimedJob] = []
    worker = Worker(worker_dsn, {"claims.pay": paid.append}, concurrency=1, poll_interval=0.1)
    worker.run(until_idle=True)  # the sweep: submitted -> in_review (start_review)
    with as_user(app, seeded) as t:
        moved = t.executions.get(run.id)
        assert (moved.current_state, moved.state_history[-1]["actor"]) == ("in_review", None)
    with as_user(app, seeded, "rita") as t:
        done = t.executions.transition(run.id, "approve", expected_state="in_review")
    assert done.status == "completed"
    worker.run(until_idle=True)  # the durable job, after the transition committed
    assert [(j.kind, j.payload, j.execution_id, j.submission_id) for j in paid] == [
        ("claims.pay", {"currency": "EUR"}, run.id, s.id)]
    assert admin(seeded, "SELECT status FROM pliers.jobs WHERE execution_id = %s",
                 run.id) == [("done",)]
