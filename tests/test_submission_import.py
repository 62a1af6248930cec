"""The bulk import (``t.submissions.import_rows``, ``pliers.import_submissions``):
COPY into a staging table, one validated set-based insert, all or nothing, with the
rules of ``create``. Every error path has its SQLSTATE."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World

import pliersdb
from pliersdb import errors
from pliersdb.forms import Form
from pliersdb.submissions import ImportResult, ImportRow

DEFINITION: dict[str, Any] = {
    "title": "Intake",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "required": True,
         "validation": {"maxLength": 40}},
        {"id": "f2", "type": "integer", "name": "age", "validation": {"min": 0, "max": 130}},
        {"id": "f3", "type": "text", "name": "note",
         "visibleWhen": {"field": "age", "operator": "greater_than", "value": 17}},
    ],
}
PAST = datetime(2023, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "import", {
        "acme": {"users": {"alice": ["org_admin"], "nobody": []}},
        "small": {"users": {"sam": ["org_admin"]},
                  "limits": {"max_submissions_per_month": 2}},
        "clash": {"users": {"cid": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def as_user(app: pliersdb.Database, seeded: World, org: str = "acme",
            user: str | None = None) -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, tenant.users[user] if user else
                      next(iter(tenant.users.values())))


def published_form(app: pliersdb.Database, seeded: World, org: str = "acme",
                   publish: bool = True) -> Form:
    with as_user(app, seeded, org) as t:
        form = t.forms.create("Intake", f"intake-{uuid.uuid4().hex[:8]}", DEFINITION)
        return t.forms.publish(form.id, "1.0.0") if publish else form  # type: ignore[no-any-return]


def count(seeded: World, form: Form) -> int:
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pliers.submissions WHERE form_id = %s",
                           (form.id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_import_creates_numbered_cleaned_submissions_with_events(
        app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    rows: list[ImportRow | dict[str, Any]] = [
        ImportRow({"fullName": "Ann", "age": 40, "note": "hi"}, external_id="a-1",
                  submitted_at=PAST, tags=["legacy"], metadata={"batch": 7}),
        {"data": {"fullName": "Bob", "age": 12, "note": "hidden"}, "created_at": PAST},
        ImportRow({"age": 3}, status="draft", source="crm"),
    ]
    with as_user(app, seeded) as t:
        result = t.submissions.import_rows(form.id, rows)
        assert isinstance(result, ImportResult)
        assert (result.created, result.skipped) == (3, 0)
        assert [r.row_index for r in result.rows] == [1, 2, 3]
        numbers = [int(r.submission_number[2:]) for r in result.rows]
        assert numbers == sorted(numbers) and len(set(numbers)) == 3
        ann, bob, draft = (t.submissions.get(r.id) for r in result.rows)
        assert (ann.status, ann.revision, ann.source, ann.external_id) == (
            "submitted", 2, "import", "a-1")
        assert ann.created_at == PAST and ann.submitted_at == PAST
        assert ann.tags == ("legacy",) and ann.metadata == {"batch": 7}
        assert bob.data == {"fullName": "Bob", "age": 12}  # stored cleaned
        assert bob.created_at == PAST and bob.submitted_at == PAST
        assert (draft.status, draft.revision, draft.is_valid, draft.submitted_at) == (
            "draft", 1, False, None)
        assert [e["code"] for e in draft.validation_errors] == ["required"]
        assert draft.source == "crm"
        # Time travel rebuilds each one from its events, as for create_submission.
        for s in (ann, bob, draft):
            history = t.submissions.history(s.id)
            assert [h.event_type for h in history] == (
                ["submission.created"] if s.status == "draft"
                else ["submission.created", "submission.submitted"])
            state = history[-1].state
            assert state is not None
            assert (state["status"], state["data"], state["revision"]) == (
                s.status, s.data, s.revision)
            assert state["submission_number"] == s.submission_number
    assert count(seeded, form) == 3


def test_an_invalid_row_imports_nothing_and_every_error_has_its_row(
        app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    future = datetime.now(UTC) + timedelta(days=2)
    rows = [
        ImportRow({"fullName": "Ok"}),
        ImportRow({"fullName": 5, "extra": 1}),
        ImportRow({"fullName": "Late"}, submitted_at=future),
        ImportRow({"fullName": "D"}, status="draft", submitted_at=PAST),
        ImportRow({"fullName": "Early"}, created_at=PAST, submitted_at=PAST - timedelta(days=1)),
        ImportRow({"fullName": "M"}, metadata={"x": 1}, source=" "),
    ]
    with pytest.raises(pliersdb.ValidationError) as invalid, as_user(app, seeded) as t:
        t.submissions.import_rows(form.id, rows)
    found = [(e["row"], e["path"], e["code"]) for e in invalid.value.errors]
    assert found == [
        (2, "$.data.extra", "unknown_field"), (2, "$.data.fullName", "invalid_type"),
        (3, "submitted_at", "invalid"), (4, "submitted_at", "invalid"),
        (5, "submitted_at", "invalid"), (6, "source", "invalid"),
    ]
    assert invalid.value.detail["error_count"] == 6
    assert invalid.value.detail["row_count"] == 6
    assert count(seeded, form) == 0


def test_the_error_list_is_capped_at_100_with_the_total(app: pliersdb.Database,
                                                        seeded: World) -> None:
    form = published_form(app, seeded)
    with pytest.raises(pliersdb.ValidationError) as invalid, as_user(app, seeded) as t:
        t.submissions.import_rows(form.id, [{"data": {"age": -1}}] * 80)
    assert len(invalid.value.errors) == 100
    assert invalid.value.detail["error_count"] == 160  # required + too small, per row
    assert invalid.value.errors[-1]["row"] == 50


def test_data_that_is_not_an_object_and_a_bad_status_are_errors(app: pliersdb.Database,
                                                                seeded: World) -> None:
    form = published_form(app, seeded)
    with pytest.raises(pliersdb.ValidationError) as invalid, as_user(app, seeded) as t, \
            errors.mapped():
        t.execute("SELECT * FROM pliers.import_submissions(%s, ARRAY[ROW('[1]', 'archived', "
                  "NULL, NULL, NULL, NULL, NULL, NULL)]::pliers.submission_import[])", (form.id,))
    assert [(e["path"], e["code"]) for e in invalid.value.errors] == [
        ("status", "invalid"), ("$.data", "invalid_type")]


def test_a_retry_skips_the_rows_whose_external_id_exists(app: pliersdb.Database,
                                                          seeded: World) -> None:
    form = published_form(app, seeded)
    rows = [ImportRow({"fullName": f"P{i}"}, external_id=f"r-{i}") for i in range(3)]
    with as_user(app, seeded) as t:
        first = t.submissions.import_rows(form.id, rows[:2])
    with as_user(app, seeded) as t:
        again = t.submissions.import_rows(form.id, rows)
    assert (again.created, again.skipped) == (1, 2)
    assert [(r.row_index, r.created) for r in again.rows] == [(1, False), (2, False), (3, True)]
    assert [r.id for r in again.rows[:2]] == [r.id for r in first.rows]
    assert count(seeded, form) == 3


def test_duplicate_external_ids_in_a_batch_are_errors(app: pliersdb.Database,
                                                      seeded: World) -> None:
    form = published_form(app, seeded)
    rows = [ImportRow({"fullName": "A"}, external_id="d"), ImportRow({"fullName": "B"}),
            ImportRow({"fullName": "C"}, external_id="d")]
    with pytest.raises(pliersdb.ValidationError) as invalid, as_user(app, seeded) as t:
        t.submissions.import_rows(form.id, rows)
    assert [(e["row"], e["path"], e["code"]) for e in invalid.value.errors] == [
        (3, "external_id", "duplicate")]


def test_an_external_id_of_another_form_is_a_conflict(app: pliersdb.Database,
                                                      seeded: World) -> None:
    one, other = published_form(app, seeded), published_form(app, seeded)
    with as_user(app, seeded) as t:
        t.submissions.create(one.id, {"fullName": "A"}, external_id="shared", submit=True)
    with pytest.raises(pliersdb.Conflict) as conflict, as_user(app, seeded) as t:
        t.submissions.import_rows(other.id, [ImportRow({"fullName": "B"}),
                                             ImportRow({"fullName": "C"}, external_id="shared")])
    assert conflict.value.detail["row"] == 2
    assert conflict.value.detail["form_id"] == str(one.id)
    assert conflict.value.detail["conflict_count"] == 1
    assert count(seeded, other) == 0


def test_a_number_taken_without_the_api_is_a_conflict(app: pliersdb.Database,
                                                      seeded: World) -> None:
    form = published_form(app, seeded, "clash")
    with as_user(app, seeded, "clash") as t:
        first = t.submissions.import_rows(form.id, [ImportRow({"fullName": "A"})])
    taken = f"S-{int(first.rows[0].submission_number[2:]) + 1:06d}"
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("INSERT INTO pliers.submissions (organization_id, form_id, "
                     "submission_number) VALUES (%s, %s, %s)",
                     (seeded.orgs["clash"].id, form.id, taken))
    with pytest.raises(pliersdb.Conflict) as conflict, as_user(app, seeded, "clash") as t:
        t.submissions.import_rows(form.id, [ImportRow({"fullName": "B"})])
    assert conflict.value.detail["constraint"] == "unique_submission_number"


def test_the_quota_is_checked_once_for_the_batch(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded, "small")
    with pytest.raises(pliersdb.QuotaExceeded) as exceeded, as_user(app, seeded, "small") as t:
        t.submissions.import_rows(form.id, [{"data": {"fullName": "A"}}] * 3)
    assert (exceeded.value.limit, exceeded.value.detail["adding"]) == (
        "max_submissions_per_month", 3)
    with as_user(app, seeded, "small") as t:
        assert t.submissions.import_rows(form.id, [{"data": {"fullName": "A"}}] * 2).created == 2
    with psycopg.connect(seeded.admin_dsn) as conn:
        counted = conn.execute(
            "SELECT (SELECT sum(submission_count) FROM pliers.form_counters WHERE form_id = %s), "
            "(SELECT sum(value) FROM pliers.usage_counters WHERE organization_id = %s "
            "AND metric = 'submissions')", (form.id, seeded.orgs["small"].id)).fetchone()
    assert counted == (2, 2)


def test_form_permission_context_and_arguments(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    draft_form = published_form(app, seeded, publish=False)
    row = [ImportRow({"fullName": "A"})]
    with pytest.raises(pliersdb.ValidationError) as closed, as_user(app, seeded) as t:
        t.submissions.import_rows(draft_form.id, row)
    assert closed.value.errors[0]["code"] == "form_not_published"
    with pytest.raises(pliersdb.NotFound), as_user(app, seeded) as t:
        t.submissions.import_rows(uuid.uuid4(), row)
    with pytest.raises(pliersdb.PermissionDenied), as_user(app, seeded, user="nobody") as t:
        t.submissions.import_rows(form.id, row)
    with pytest.raises(pliersdb.NoTenantContext), app.transaction() as s:
        s.submissions.import_rows(form.id, row)
    with pytest.raises(pliersdb.ValidationError) as missing, as_user(app, seeded) as t:
        t.call("import_submissions", form.id, None)
    assert missing.value.errors[0]["path"] == "rows"
    with pytest.raises(TypeError), as_user(app, seeded) as t:
        t.submissions.import_rows(form.id, [{"answers": {}}])
    with as_user(app, seeded) as t:
        assert t.submissions.import_rows(form.id, []).rows == ()
    assert count(seeded, form) == 0
