"""Workflow definitions and their lifecycle (``session.workflows``, sql/61-workflow-definitions.sql,
sql/63-workflows-api.sql) end to end, as an application runs them: through
``pliersdb.connect`` as a LOGIN role in pliers_app, under row-level security; and the
Mermaid diagram (``pliersdb.workflows.diagram``, ``pliersdb workflow diagram``).

Each test makes its own workflows (its own slugs) in one database per module. A call that
fails aborts its transaction, so a test expects the error around the ``with`` block."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World

import pliersdb
from pliersdb import cli, errors
from pliersdb.workflows import Workflow, WorkflowForm, diagram

ROOT = Path(__file__).resolve().parent.parent
REVIEW: dict[str, Any] = {
    "initial": "submitted",
    "states": {
        "submitted": {
            "label": "Submitted",
            "on": {"start_review": {"target": "in_review",
                                    "actions": [{"type": "assign", "team": "reviewers"}]}},
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
SIMPLE: dict[str, Any] = {"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}},
                                                     "b": {"final": True}}}
CLAIM_FORM = {"fields": [
    {"name": "amount", "type": "number", "label": "Amount"},
    {"name": "reason", "type": "text", "label": "Reason"},
]}


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "flows", {
        "acme": {"users": {"alice": ["org_admin"], "vic": ["viewer"], "mo": ["member"]},
                 "teams": ("reviewers",)},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def slug() -> str:
    return f"wf-{uuid.uuid4().hex[:8]}"


def as_user(app: pliersdb.Database, seeded: World, org: str = "acme",
            user: str | None = None) -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, tenant.users[user] if user else next(iter(tenant.users.values())))


def codes(raised: pytest.ExceptionInfo[errors.ValidationError]) -> list[tuple[str, str]]:
    return [(e["path"], e["code"]) for e in raised.value.errors]


def claim_form(app: pliersdb.Database, seeded: World, definition: dict[str, Any] | None = None
               ) -> Any:
    with as_user(app, seeded) as t:
        form = t.forms.create("Claim", f"claim-{uuid.uuid4().hex[:8]}", definition or CLAIM_FORM)
        return t.forms.publish(form.id, "1.0.0")


def published_review(app: pliersdb.Database, seeded: World) -> tuple[Workflow, Any]:
    form = claim_form(app, seeded)
    with as_user(app, seeded) as t:
        created = t.workflows.create(slug(), "Claim review", REVIEW, trigger_type="form_submission")
        t.workflows.attach_form(created.id, form.id)
        return t.workflows.publish(created.id, "1.0.0"), form


# The lifecycle -------------------------------------------------------------------------


def test_create_publish_activate_as_typed_objects(app: pliersdb.Database, seeded: World) -> None:
    acme = seeded.orgs["acme"]
    workflow, form = published_review(app, seeded)
    assert isinstance(workflow, Workflow)
    assert (workflow.status, workflow.version, workflow.is_active) == ("published", "1.0.0", False)
    assert workflow.published_at is not None and workflow.organization_id == acme.id
    assert workflow.created_by == acme.users["alice"] and workflow.definition == REVIEW
    with as_user(app, seeded) as t:
        active = t.workflows.activate(workflow.id)
        again = t.workflows.activate(workflow.id)  # already active: unchanged
        attached = t.workflows.forms(workflow.id)
    assert active.is_active and again == active and active.next_fire_at is None
    assert [(a.workflow_id, a.form_id) for a in attached] == [(workflow.id, form.id)]
    assert isinstance(attached[0], WorkflowForm)

    with as_user(app, seeded, user="vic") as t:  # a viewer reads (workflow.view)
        assert t.workflows.get(workflow.id) == active
        assert t.workflows.active(workflow.slug) == active
        assert active in t.workflows.list(active=True)

    with as_user(app, seeded) as t:
        events = t.execute(
            "SELECT event_type, aggregate_version FROM pliers.events WHERE organization_id = %s "
            "AND aggregate_type = 'workflow' AND aggregate_id = %s ORDER BY aggregate_version",
            (acme.id, workflow.id)).fetchall()
    assert [e[0] for e in events] == ["workflow.created", "workflow.form_attached",
                                      "workflow.published", "workflow.activated"]
    assert [e[1] for e in events] == [1, 2, 3, 4]


def test_one_active_version_per_slug(app: pliersdb.Database, seeded: World) -> None:
    workflow, _ = published_review(app, seeded)
    with as_user(app, seeded) as t:
        first = t.workflows.activate(workflow.id)
        draft = t.workflows.new_version(workflow.id)
        second = t.workflows.publish(draft.id, "1.1.0")
        moved = t.workflows.activate(second.id)
        versions = t.workflows.versions(workflow.slug)
        forms = t.workflows.forms(second.id)
    assert draft.version == "1.0.1" and draft.status == "draft"
    assert draft.metadata["parent_id"] == str(first.id)
    assert len(forms) == 1  # the new version listens to the same form
    assert moved.is_active
    assert [(v.version, v.is_active) for v in versions] == [("1.0.0", False), ("1.1.0", True)]

    with as_user(app, seeded) as t:
        retired = t.workflows.deprecate(second.id)
        assert (retired.status, retired.is_active) == ("deprecated", False)
        archived = t.workflows.archive(retired.id)
    assert archived.status == "archived"


def test_published_versions_are_immutable_and_versions_grow(app: pliersdb.Database,
                                                            seeded: World) -> None:
    workflow, _ = published_review(app, seeded)
    with pytest.raises(errors.Immutable), as_user(app, seeded) as t:
        t.workflows.update(workflow.id, workflow.revision, name="Renamed")
    with pytest.raises(errors.InvalidTransition), as_user(app, seeded) as t:
        t.workflows.publish(workflow.id, "2.0.0")
    with as_user(app, seeded) as t:
        draft = t.workflows.new_version(workflow.id)
    with pytest.raises(errors.ValidationError) as low, as_user(app, seeded) as t:
        t.workflows.publish(draft.id, "0.9.0")
    assert codes(low) == [("version", "version_not_greater")]
    assert low.value.detail["latest_version"] == "1.0.0"
    with pytest.raises(errors.Conflict) as second_draft, as_user(app, seeded) as t:
        t.workflows.new_version(workflow.id)
    assert second_draft.value.detail["draft_id"] == str(draft.id)
    with pytest.raises(errors.InvalidTransition), as_user(app, seeded) as t:
        t.workflows.activate(draft.id)  # only published versions are activated
    with pytest.raises(errors.InvalidTransition) as moved, as_user(app, seeded) as t:
        t.workflows.archive(draft.id)
    assert moved.value.detail["from"] == "draft"


def test_update_checks_the_revision_and_validates(app: pliersdb.Database, seeded: World) -> None:
    with as_user(app, seeded) as t:
        created = t.workflows.create(slug(), "Simple", SIMPLE)
        updated = t.workflows.update(created.id, created.revision, name="Renamed", tags=["ops"])
    assert (updated.name, updated.tags, updated.revision) == ("Renamed", ("ops",), 2)
    with pytest.raises(errors.Conflict) as stale, as_user(app, seeded) as t:
        t.workflows.update(created.id, created.revision, name="Again")
    assert (stale.value.detail["expected"], stale.value.detail["actual"]) == (1, 2)
    broken = copy.deepcopy(SIMPLE)
    broken["states"]["a"]["on"]["go"]["target"] = "nowhere"
    with pytest.raises(errors.ValidationError) as invalid, as_user(app, seeded) as t:
        t.workflows.update(created.id, 2, definition=broken)
    assert ("$.states.a.on.go.target", "unknown_state") in codes(invalid)
    with as_user(app, seeded) as t:
        deleted = t.workflows.delete(created.id)
        assert deleted.deleted_at is not None
    with pytest.raises(errors.NotFound), as_user(app, seeded) as t:
        t.workflows.get(created.id)


def test_slugs_are_unique_per_tenant(app: pliersdb.Database, seeded: World) -> None:
    name = slug()
    with as_user(app, seeded) as t:
        t.workflows.create(name, "One", SIMPLE)
    with pytest.raises(errors.Conflict), as_user(app, seeded) as t:
        t.workflows.create(name, "Two", SIMPLE)
    with as_user(app, seeded, "globex") as t:  # another tenant may use it
        assert t.workflows.create(name, "Theirs", SIMPLE).slug == name


# Validation ----------------------------------------------------------------------------


def test_every_definition_error_with_its_path(app: pliersdb.Database, seeded: World) -> None:
    bad = {
        "initial": "start",
        "states": {
            "start": {"on": {"go": {"target": "gone"}, "next": {"target": "middle"}},
                      "timeout": {"after": "P400D", "event": "missing"}},
            "middle": {"on": {}},
            "island": {"on": {"back": {"target": "start"}}},
            "done": {"final": True, "on": {"again": {"target": "start"}},
                     "onEntry": [{"type": "set_status", "status": "paid"}, {"type": "fly"}]},
        },
    }
    with as_user(app, seeded) as t:
        found = t.workflows.validate(bad)
    assert [(e["path"], e["code"]) for e in found] == [
        ("$.states.done.onEntry[0].status", "invalid_status"),
        ("$.states.done.onEntry[1].type", "invalid_action"),
        ("$.states.done.on", "final_has_exits"),
        ("$.states.middle", "dead_end"),
        ("$.states.start.on.go.target", "unknown_state"),
        ("$.states.start.timeout.after", "invalid_duration"),
        ("$.states.start.timeout.event", "unknown_event"),
        ("$.states.done", "unreachable_state"),
        ("$.states.island", "unreachable_state"),
    ]
    with pytest.raises(errors.ValidationError) as refused, as_user(app, seeded) as t:
        t.workflows.create(slug(), "Bad", bad)
    assert codes(refused) == [(e["path"], e["code"]) for e in found]


def test_no_final_state_and_guard_expressions(app: pliersdb.Database, seeded: World) -> None:
    loop = {"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}},
                                       "b": {"on": {"back": {"target": "a", "guard": {
                                           "expression": {"==": [{"var": "submission.status"}, 1]},
                                           "permission": "nope.never", "roles": ["emperor"]}}}}}}
    with as_user(app, seeded) as t:
        found = [(e["path"], e["code"]) for e in t.workflows.validate(loop)]
        valid = t.workflows.validate(REVIEW)
    assert ("$.states", "no_final_state") in found
    assert ("$.states.b.on.back.guard.permission", "unknown_permission") in found
    assert ("$.states.b.on.back.guard.roles[0]", "unknown_role") in found
    assert ("$.states.b.on.back.guard.expression.\"==\"", "type_mismatch") in found
    assert valid == []


def test_trigger_config_and_retry_config(app: pliersdb.Database, seeded: World) -> None:
    with pytest.raises(errors.ValidationError) as invalid, as_user(app, seeded) as t:
        t.workflows.create(slug(), "Nightly", SIMPLE, trigger_type="schedule",
                           trigger_config={"cron": "0 25 * * *", "timezone": "Mars/Olympus",
                                           "every": "day"},
                           retry_config={"max_attempts": 0, "base_seconds": 10, "max_seconds": 5})
    assert codes(invalid) == [
        ("$.trigger_config.every", "unknown_key"),
        ("$.trigger_config.cron", "invalid_cron"),
        ("$.trigger_config.timezone", "unknown_timezone"),
        ("$.retry_config.max_attempts", "out_of_range"),
        ("$.retry_config.max_seconds", "out_of_range"),
    ]
    with pytest.raises(errors.ValidationError) as loops, as_user(app, seeded) as t:
        t.workflows.create(slug(), "Loop", SIMPLE, trigger_type="event",
                           trigger_config={"event_type": "workflow.published"})
    assert codes(loops) == [("$.trigger_config.event_type", "invalid_event_type")]


def test_a_schedule_gets_its_next_fire_time_when_active(app: pliersdb.Database,
                                                        seeded: World) -> None:
    with as_user(app, seeded) as t:
        created = t.workflows.create(slug(), "Nightly", SIMPLE, trigger_type="schedule",
                                     trigger_config={"cron": "30 2 * * *",
                                                     "timezone": "Europe/Paris"})
        published = t.workflows.publish(created.id)
        active = t.workflows.activate(published.id)
        stopped = t.workflows.deactivate(active.id)
    assert published.next_fire_at is None and stopped.next_fire_at is None
    fire = active.next_fire_at
    assert fire is not None and datetime.now(UTC) < fire <= datetime.now(UTC) + timedelta(days=1)
    assert fire.astimezone(_paris()).strftime("%H:%M") == "02:30"


def _paris() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Paris")


def test_limits_refuse_at_once(app: pliersdb.Database, seeded: World) -> None:
    many = {"initial": "s0", "states": {f"s{i}": {"final": True} for i in range(201)}}
    with pytest.raises(errors.ValidationError) as too_many, as_user(app, seeded) as t:
        t.workflows.validate(many)
    assert codes(too_many) == [("$.states", "too_many_states")]
    deep: Any = {"x": 1}
    for _ in range(40):
        deep = {"and": [deep]}
    nested = copy.deepcopy(SIMPLE)
    nested["states"]["a"]["on"]["go"]["guard"] = {"expression": deep}
    with pytest.raises(errors.ValidationError) as too_deep, as_user(app, seeded) as t:
        t.workflows.validate(nested)
    assert codes(too_deep) == [("$", "nesting_too_deep")]


# References checked at publish ----------------------------------------------------------


def test_publish_checks_the_tenants_references(app: pliersdb.Database, seeded: World) -> None:
    definition = copy.deepcopy(SIMPLE)
    definition["states"]["a"]["onEntry"] = [
        {"type": "assign", "team": "nobody"},
        {"type": "notify", "to": {"user": str(uuid.uuid4())}, "title": "Hi"},
        {"type": "start_workflow", "workflow": "no-such-flow"},
        {"type": "notify", "to": {"user": str(seeded.orgs["globex"].users["gina"])},
         "title": "Another tenant's user"},
        {"type": "assign", "team": "reviewers"},
    ]
    with as_user(app, seeded) as t:
        created = t.workflows.create(slug(), "Refs", definition)
    with pytest.raises(errors.ValidationError) as refused, as_user(app, seeded) as t:
        t.workflows.publish(created.id)
    assert codes(refused) == [
        ("$.states.a.onEntry[0].team", "unknown_team"),
        ("$.states.a.onEntry[1].to.user", "unknown_user"),
        ("$.states.a.onEntry[2].workflow", "unknown_workflow"),
        ("$.states.a.onEntry[3].to.user", "unknown_user"),
    ]


def test_guards_are_checked_against_the_attached_forms(app: pliersdb.Database,
                                                       seeded: World) -> None:
    with as_user(app, seeded) as t:
        created = t.workflows.create(slug(), "Review", REVIEW, trigger_type="form_submission")
    path = "$.states.in_review.on.approve.guard.expression"
    with pytest.raises(errors.ValidationError) as unattached, as_user(app, seeded) as t:
        t.workflows.publish(created.id)
    assert codes(unattached) == [(path, "invalid_reference")]
    assert "attach a form" in unattached.value.errors[0]["message"]

    other = claim_form(app, seeded, {"fields": [{"name": "total", "type": "number",
                                                 "label": "Total"}]})
    with pytest.raises(errors.ValidationError) as mismatch, as_user(app, seeded) as t:
        t.workflows.attach_form(created.id, other.id)
    assert codes(mismatch) == [(path + '."<="[0].var', "invalid_reference")]
    assert other.slug in mismatch.value.errors[0]["message"]

    text_form = claim_form(app, seeded, {"fields": [{"name": "amount", "type": "text",
                                                     "label": "Amount"}]})
    with pytest.raises(errors.ValidationError) as typed, as_user(app, seeded) as t:
        t.workflows.attach_form(created.id, text_form.id)
    assert codes(typed) == [(path + '."<="', "type_mismatch")]

    form = claim_form(app, seeded)
    with as_user(app, seeded) as t:
        t.workflows.attach_form(created.id, form.id)
        published = t.workflows.publish(created.id, "1.0.0")
        detached = t.workflows.detach_form(published.id, form.id)
    assert detached.revision == published.revision + 1
    with pytest.raises(errors.NotFound), as_user(app, seeded) as t:
        t.workflows.detach_form(published.id, form.id)


# Permissions, tenants, secrets -------------------------------------------------------------


def test_permissions_and_tenant_isolation(app: pliersdb.Database, seeded: World) -> None:
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, user="vic") as t:
        t.workflows.create(slug(), "Viewer's", SIMPLE)
    with as_user(app, seeded, user="mo") as t:  # no workflow.view: sees none
        assert t.workflows.list() == []
    with as_user(app, seeded) as t:
        mine = t.workflows.create(slug(), "Mine", SIMPLE)
    with pytest.raises(errors.NotFound), as_user(app, seeded, "globex") as t:
        t.workflows.get(mine.id)
    with as_user(app, seeded, "globex") as t:
        assert mine.id not in {w.id for w in t.workflows.list()}
    with pytest.raises(errors.NotFound), as_user(app, seeded, "globex") as t:
        t.workflows.publish(mine.id)


def test_the_application_cannot_write_workflows_directly(app: pliersdb.Database,
                                                         seeded: World) -> None:
    with as_user(app, seeded) as t:
        mine = t.workflows.create(slug(), "Mine", SIMPLE)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(app, seeded) as t:
        t.execute("UPDATE pliers.workflows SET is_active = TRUE "
                  "WHERE organization_id = %s AND id = %s", (mine.organization_id, mine.id))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(app, seeded) as t:
        t.execute("SELECT * FROM pliers.workflow_secrets WHERE organization_id = %s",
                  (mine.organization_id,))


def test_webhook_secret_is_returned_once_and_stored_hashed(app: pliersdb.Database,
                                                           seeded: World) -> None:
    with as_user(app, seeded) as t:
        hook = t.workflows.create(slug(), "Inbound", SIMPLE, trigger_type="webhook")
        first = t.workflows.rotate_secret(hook.id)
        second = t.workflows.rotate_secret(hook.id)
    assert first.startswith("wfs_") and len(first) == 68 and first != second
    with psycopg.connect(seeded.admin_dsn) as conn:
        stored = conn.execute(
            "SELECT pliers._workflow_secret_matches(%s, %s, %s), "
            "pliers._workflow_secret_matches(%s, %s, %s)",
            (hook.organization_id, hook.id, second, hook.organization_id, hook.id, first),
        ).fetchone()
        payloads = conn.execute(
            "SELECT string_agg(payload::text, ' ') FROM pliers.events WHERE aggregate_id = %s",
            (hook.id,)).fetchone()
    assert stored == (True, False)
    assert payloads is not None and second not in payloads[0] and first not in payloads[0]
    with as_user(app, seeded) as t:
        manual = t.workflows.create(slug(), "Manual", SIMPLE)
    with pytest.raises(errors.ValidationError) as refused, as_user(app, seeded) as t:
        t.workflows.rotate_secret(manual.id)
    assert codes(refused) == [("workflow_id", "not_webhook")]


def test_status_moves(app: pliersdb.Database, seeded: World) -> None:
    with as_user(app, seeded) as t:
        moves = t.workflows.status_moves()
    assert {(m.from_status, m.to_status) for m in moves} == {
        ("draft", "published"), ("published", "deprecated"), ("published", "archived"),
        ("deprecated", "archived")}


# The diagram --------------------------------------------------------------------------------


def test_diagram_of_the_review_workflow() -> None:
    assert diagram(REVIEW) == (
        "stateDiagram-v2\n"
        "    [*] --> submitted\n"
        "    submitted : Submitted\n"
        "    submitted --> in_review : start_review (after P3D)\n"
        "    in_review --> approved : approve [answers.amount #lt;= 1000, permission "
        "submission.update, role submission_reviewer or org_admin]\n"
        "    in_review --> rejected : reject (after P7D)\n"
        "    note right of in_review : SLA PT48H\n"
        "    approved --> [*]\n"
        "    rejected --> [*]\n"
    )


def test_diagram_escapes_labels_and_draws_refused_definitions() -> None:
    drawn = diagram({"initial": "a b", "states": {
        "a b": {"label": 'Say "hi"; then: #go', "on": {"x": {"target": "zz"}}}}})
    assert drawn.splitlines() == [
        "stateDiagram-v2",
        "    [*] --> s_a_b",
        "    s_a_b : Say #quot;hi#quot;#59; then#58; #35;go",
        "    s_a_b --> zz : x",
    ]


def test_cli_prints_the_diagram(app: pliersdb.Database, seeded: World,
                                capsys: pytest.CaptureFixture[str]) -> None:
    workflow, _ = published_review(app, seeded)
    acme = seeded.orgs["acme"]
    argv = ["workflow", "diagram", workflow.slug, "--dsn", seeded.app_dsn,
            "--org", str(acme.id), "--user", str(acme.users["alice"])]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == diagram(REVIEW)
    assert cli.main([*argv, "--version", "9.9.9"]) == 1
    assert "not found" in capsys.readouterr().err


def test_concurrent_activations_leave_one_active_version(app: pliersdb.Database,
                                                         seeded: World) -> None:
    with as_user(app, seeded) as t:
        first = t.workflows.publish(t.workflows.create(slug(), "Race", SIMPLE).id)
        second = t.workflows.publish(t.workflows.new_version(first.id).id, "1.1.0")

    def activate(workflow_id: Any) -> bool:
        with as_user(app, seeded) as t:
            return t.workflows.activate(workflow_id).is_active

    for _ in range(5):
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(activate, [first.id, second.id]))
        assert results == [True, True]  # each committed; the later one won
        with as_user(app, seeded) as t:
            assert len([w for w in t.workflows.versions(first.slug) if w.is_active]) == 1
        with as_user(app, seeded) as t:
            for version in t.workflows.versions(first.slug):
                if version.is_active:
                    t.workflows.deactivate(version.id)


def test_the_json_schema_agrees_with_the_validator(app: pliersdb.Database, seeded: World) -> None:
    """schemas/workflow-definition.schema.json: its patterns are the database's, its
    status list is the enum's, and the definitions these tests use as valid pass both."""
    schema = json.loads((ROOT / "schemas" / "workflow-definition.schema.json").read_text())
    source = (ROOT / "sql" / "61-workflow-definitions.sql").read_text()
    names = schema["$defs"]["name"]["pattern"]
    assert f"'{names}'" in source
    assert schema["$defs"]["duration"]["pattern"] in source
    set_status = next(a for a in schema["$defs"]["action"]["oneOf"]
                      if a["properties"]["type"] == {"const": "set_status"})
    with as_user(app, seeded) as t:
        statuses = t.execute("SELECT enum_range(NULL::pliers.submission_status)::text[]").fetchone()
        assert t.workflows.validate(REVIEW) == [] and t.workflows.validate(SIMPLE) == []
    assert statuses is not None and set_status["properties"]["status"]["enum"] == statuses[0]
    for state in REVIEW["states"]:
        assert re.fullmatch(names, state)
    for after in ("P3D", "PT48H", "P7D", "P1DT12H30M", "PT1M"):
        assert re.fullmatch(schema["$defs"]["duration"]["pattern"], after)
    for wrong in ("PT", "P", "3D", "P1.5D"):
        assert not re.fullmatch(schema["$defs"]["duration"]["pattern"], wrong)
