"""The submission library (``session.submissions``) end to end, as an application runs
it: through ``pliersdb.connect`` as a LOGIN role in pliers_app, under row-level security.

Each test makes its own form (its own slug). A failing API call aborts its transaction:
tests expect the error around the ``with`` block, which then rolls back."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World

import pliersdb
from pliersdb.forms import Form
from pliersdb.submissions import Attachment, Cursor, Page, Submission

V1: dict[str, Any] = {
    "title": "Patient intake",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "required": True,
         "validation": {"maxLength": 40}},
        {"id": "f2", "type": "integer", "name": "age", "validation": {"min": 0, "max": 130}},
        {"id": "f3", "type": "single_choice", "name": "reason",
         "choices": [{"code": "checkup"}, {"code": "injury"}]},
        {"id": "f4", "type": "group", "name": "address", "fields": [
            {"type": "text", "name": "zip", "validation": {"pattern": "^[0-9]{4,5}$"}}]},
        {"id": "f5", "type": "file", "name": "photo",
         "validation": {"accept": ["image/*"], "maxSizeBytes": 1000000, "maxItems": 2}},
    ],
}
V2: dict[str, Any] = {**V1, "fields": [*V1["fields"], {"id": "f6", "type": "email",
                                                       "name": "email"}]}
META = ["submission_number", "submission_id", "form_version", "status", "created_at",
        "submitted_at", "updated_at", "completed_at", "submitted_by", "assigned_to",
        "assigned_team_id", "external_id"]


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "submissions", {
        "acme": {"users": {"alice": ["org_admin"], "mo": ["member"]}, "teams": ("triage",)},
        "globex": {"users": {"gina": ["org_admin"]}},
        "small": {"users": {"sam": ["org_admin"]},
                  "limits": {"max_submissions_per_month": 2}},
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
                   definition: dict[str, Any] = V1) -> Form:
    with as_user(app, seeded, org) as t:
        form = t.forms.create("Intake", f"intake-{uuid.uuid4().hex[:8]}", definition)
        return t.forms.publish(form.id, "1.0.0")  # type: ignore[no-any-return]


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_submit_valid_data(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    alice = seeded.orgs["acme"].users["alice"]
    with as_user(app, seeded) as t:
        s = t.submissions.create(form.id, {"fullName": "Jane Roe", "age": 41, "reason": "checkup",
                                           "address": {"zip": "75001"}, "photo": None},
                                 submit=True, tags=["walk-in"], metadata={"desk": 2})
    assert isinstance(s, Submission)
    assert isinstance(s.id, UUID) and isinstance(s.created_at, datetime)
    assert re.fullmatch(r"S-\d{6,}", s.submission_number)
    assert (s.status, s.form_id, s.submitted_by, s.is_valid) == ("submitted", form.id, alice, True)
    assert s.data == {"fullName": "Jane Roe", "age": 41, "reason": "checkup",
                      "address": {"zip": "75001"}}  # stored cleaned: no JSON null
    assert s.revision == 2 and s.submitted_at is not None
    assert s.tags == ("walk-in",) and s.metadata == {"desk": 2}
    with as_user(app, seeded) as t:
        assert t.submissions.get(s.id) == s


def test_a_draft_waits_for_required_answers_until_submitted(
        app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    with as_user(app, seeded) as t:
        draft = t.submissions.create(form.id, {"age": 30})
    assert (draft.status, draft.is_valid) == ("draft", False)
    assert [(e["path"], e["code"]) for e in draft.validation_errors] == [
        ("$.data.fullName", "required")]

    with pytest.raises(pliersdb.ValidationError) as caught, as_user(app, seeded) as t:
        t.submissions.submit(draft.id)
    assert [(e["path"], e["code"]) for e in caught.value.errors] == [
        ("$.data.fullName", "required")]

    with as_user(app, seeded) as t:
        draft = t.submissions.update(draft.id, draft.revision, data={"fullName": "Ann", "age": 30})
        assert draft.is_valid
        submitted = t.submissions.submit(draft.id, expected_revision=draft.revision)
    assert submitted.status == "submitted" and submitted.data == {"fullName": "Ann", "age": 30}

    with pytest.raises(pliersdb.Immutable) as immutable, as_user(app, seeded) as t:
        t.submissions.update(submitted.id, submitted.revision, data={"fullName": "Changed"})
    assert immutable.value.detail["status"] == "submitted"


def test_invalid_answers_raise_every_error_with_its_path(
        app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    bad = {"fullName": "x" * 41, "age": -1, "reason": "boredom",
           "address": {"zip": "ABC"}, "shoeSize": 44}
    with pytest.raises(pliersdb.ValidationError) as caught, as_user(app, seeded) as t:
        t.submissions.create(form.id, bad, submit=True)
    found = {(e["path"], e["code"]) for e in caught.value.errors}
    assert found == {
        ("$.data.shoeSize", "unknown_field"),
        ("$.data.fullName", "too_long"),
        ("$.data.age", "below_minimum"),
        ("$.data.reason", "invalid_choice"),
        ("$.data.address.zip", "pattern_mismatch"),
    }
    assert all(e["message"] for e in caught.value.errors)
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert caught.value.__cause__.diag.sqlstate == "PL001"

    with as_user(app, seeded) as t:  # nothing was written
        assert len(t.submissions.list(form_id=form.id)) == 0


def test_list_pages_by_keyset_until_exhausted(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    made: list[UUID] = []
    for batch in (8, 8, 7):  # three transactions: ties on created_at inside each
        with as_user(app, seeded) as t:
            made += [t.submissions.create(form.id, {"fullName": f"P{len(made) + i}"},
                                          submit=True).id for i in range(batch)]

    seen: list[Submission] = []
    pages: list[Page[Submission]] = []
    after: Cursor | None = None
    while True:
        with as_user(app, seeded) as t:  # a page per request, the cursor carried as text
            page = t.submissions.list(form_id=form.id, limit=5, after=after)
        pages.append(page)
        seen += page.items
        if page.next is None:
            break
        after = Cursor.decode(page.next.encode())
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert len({s.id for s in seen}) == len(seen) == 23  # no duplicate
    assert {s.id for s in seen} == set(made)  # none missing
    keys = [(-s.created_at.timestamp(), str(s.id)) for s in seen]
    assert keys == sorted(keys)  # newest first, then id

    with as_user(app, seeded) as t:
        assert [s.id for s in t.submissions.iterate(form_id=form.id, page_size=4)] == [
            s.id for s in seen]
        exact = t.submissions.list(form_id=form.id, limit=23)
        assert len(exact) == 23 and exact.next is not None
        assert len(t.submissions.list(form_id=form.id, limit=23, after=exact.next)) == 0

    with pytest.raises(pliersdb.ValidationError) as caught, as_user(app, seeded) as t:
        t.submissions.list(limit=0)
    assert [e["path"] for e in caught.value.errors] == ["limit"]


def test_filter_on_answers_status_and_assignee(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    acme = seeded.orgs["acme"]
    with as_user(app, seeded) as t:
        ann = t.submissions.create(form.id, {"fullName": "Ann", "age": 17, "reason": "injury",
                                             "address": {"zip": "1000"}}, submit=True)
        bob = t.submissions.create(form.id, {"fullName": "Bob", "age": 64, "reason": "checkup",
                                             "address": {"zip": "75001"}}, submit=True)
        cid = t.submissions.create(form.id, {"fullName": "Cid", "age": 30, "reason": "injury"})
        t.submissions.assign(bob.id, user_id=acme.users["alice"], team_id=acme.teams["triage"])

        def ids(**filters: Any) -> set[UUID]:
            return {s.id for s in t.submissions.list(form_id=form.id, **filters)}

        assert ids(contains={"reason": "injury"}) == {ann.id, cid.id}
        assert ids(where=("age", ">=", 18)) == {bob.id, cid.id}
        assert ids(where=("address.zip", "=", "1000")) == {ann.id}
        assert ids(where=("reason", "<>", "injury")) == {bob.id}
        assert ids(status="draft") == {cid.id}
        assert ids(status="submitted", contains={"reason": "injury"}) == {ann.id}
        assert ids(assigned_to=acme.users["alice"]) == {bob.id}
        assert ids(assigned_team_id=acme.teams["triage"]) == {bob.id}

    with pytest.raises(pliersdb.ValidationError) as caught, as_user(app, seeded) as t:
        t.submissions.list(where=("age", "LIKE", 3))  # type: ignore[arg-type]
    assert [e["code"] for e in caught.value.errors] == ["invalid_operator"]


class CountingWriter(io.BytesIO):
    """A binary stream that counts the writes: the export arrives row by row."""

    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)


def test_export_csv_across_two_versions(app: pliersdb.Database, seeded: World,
                                        tmp_path: Path) -> None:
    v1 = published_form(app, seeded)
    with as_user(app, seeded) as t:
        first = t.submissions.create(v1.id, {"fullName": 'Doe, "JJ"', "age": 40,
                                             "address": {"zip": "1000"}}, submit=True)
        draft = t.submissions.create(v1.id, {"fullName": "Not yet"})
        v2 = t.forms.new_version(v1.id)
        v2 = t.forms.update(v2.id, v2.revision, definition=V2)
        v2 = t.forms.publish(v2.id, "1.1.0")
    with as_user(app, seeded) as t:
        second = t.submissions.create(v2.id, {"fullName": "Zoë", "reason": "injury",
                                              "email": "zoe@example.com"}, submit=True)

    with as_user(app, seeded) as t:
        columns = t.submissions.export_columns(v1.slug)
        text = io.StringIO(newline="")
        count = t.submissions.export(v1.slug, text)
        binary = io.BytesIO()
        assert t.submissions.export(v1.slug, binary) == count
        with_drafts = io.StringIO(newline="")
        assert t.submissions.export(v1.slug, with_drafts, include_drafts=True) == 3
        streamed = CountingWriter()
        t.submissions.export(v1.slug, streamed)
        with open(tmp_path / "t.csv", "w", encoding="utf-8", newline="") as text_file, \
                open(tmp_path / "b.csv", "wb") as binary_file:
            t.submissions.export(v1.slug, text_file)
            t.submissions.export(v1.slug, binary_file)
    assert count == 2
    assert binary.getvalue() == text.getvalue().encode("utf-8") == streamed.getvalue()
    assert streamed.writes >= 1 + count  # the header, then each row as it comes
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "b.csv").read_bytes() == \
        binary.getvalue()

    answers = ["fullName", "age", "reason", "address.zip", "photo", "email"]
    assert [c.name for c in columns] == META + answers  # v2's field appended
    assert [c.kind for c in columns][len(META):] == [
        "text", "integer", "single_choice", "text", "file", "email"]
    rows = list(csv.DictReader(io.StringIO(text.getvalue(), newline="")))
    assert list(rows[0]) == META + answers
    assert [r["submission_id"] for r in rows] == [str(first.id), str(second.id)]  # oldest first
    old, new = rows
    assert (old["form_version"], old["fullName"], old["age"], old["address.zip"]) == (
        "1.0.0", 'Doe, "JJ"', "40", "1000")
    assert old["email"] == "" and old["reason"] == ""  # absent answers are empty fields
    assert (new["form_version"], new["fullName"], new["email"], new["reason"]) == (
        "1.1.0", "Zoë", "zoe@example.com", "injury")
    assert new["submission_number"] == second.submission_number
    assert all(r["status"] == "submitted" for r in rows)
    drafts = list(csv.DictReader(io.StringIO(with_drafts.getvalue(), newline="")))
    assert str(draft.id) in {r["submission_id"] for r in drafts}

    with pytest.raises(pliersdb.NotFound), as_user(app, seeded) as t:
        t.submissions.export("no-such-form", io.BytesIO())


def test_attachments(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    png = b"\x89PNG fake image"
    with as_user(app, seeded) as t:
        draft = t.submissions.create(form.id, {"fullName": "Ann"})
        attachment = t.submissions.attach(
            draft.id, "photo", filename="ann.png", mime_type="image/png", size_bytes=len(png),
            storage_key=f"acme/{draft.id}/ann.png", checksum=sha256(png).upper(),
            storage_bucket="uploads", original_filename="IMG_0001.PNG")
        assert isinstance(attachment, Attachment)
        assert (attachment.submission_id, attachment.field, attachment.checksum) == (
            draft.id, "photo", sha256(png))
        assert attachment.file_size_bytes == len(png) and attachment.deleted_at is None
        after = t.submissions.get(draft.id)
        assert after.data["photo"] == [str(attachment.id)]
        assert after.attachment_count == 1
        assert [a["id"] for a in after.attachments] == [str(attachment.id)]
        assert t.submissions.attachments(draft.id) == [attachment]

    with pytest.raises(pliersdb.ValidationError) as caught, as_user(app, seeded) as t:
        t.submissions.attach(draft.id, "photo", filename="a.pdf", mime_type="application/pdf",
                             size_bytes=2_000_000, storage_key="k", checksum="nope")
    assert {(e["path"], e["code"]) for e in caught.value.errors} >= {
        ("mime_type", "file_type_not_allowed"), ("checksum", "invalid_checksum")}
    assert "file_too_large" in {e["code"] for e in caught.value.errors}

    with pytest.raises(pliersdb.ValidationError) as unknown, as_user(app, seeded) as t:
        t.submissions.attach(draft.id, "fullName", filename="a.png", mime_type="image/png",
                             size_bytes=1, storage_key="k", checksum=sha256(b"x"))
    assert [e["code"] for e in unknown.value.errors] == ["not_a_file_field"]

    with as_user(app, seeded) as t:
        removed = t.submissions.detach(attachment.id)
        assert removed.deleted_at is not None
        after = t.submissions.get(draft.id)
        assert after.attachment_count == 0 and not after.data.get("photo")
        assert t.submissions.attachments(draft.id) == []
        second = t.submissions.attach(draft.id, "photo", filename="b.png", mime_type="image/png",
                                      size_bytes=3, storage_key="k2", checksum=sha256(b"abc"))
        submitted = t.submissions.submit(draft.id)
        assert submitted.data["photo"] == [str(second.id)]

    with pytest.raises(pliersdb.Immutable), as_user(app, seeded) as t:
        t.submissions.attach(draft.id, "photo", filename="c.png", mime_type="image/png",
                             size_bytes=3, storage_key="k3", checksum=sha256(b"abc"))


def test_status_transitions_and_assignment(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    acme = seeded.orgs["acme"]
    with as_user(app, seeded) as t:
        s = t.submissions.create(form.id, {"fullName": "Ann"}, submit=True)
        s = t.submissions.set_status(s.id, "processing", reason="triage")
        assigned = t.submissions.assign(s.id, user_id=acme.users["alice"],
                                        team_id=acme.teams["triage"],
                                        expected_revision=s.revision)
        assert (assigned.assigned_to, assigned.assigned_team_id) == (
            acme.users["alice"], acme.teams["triage"])
        s = t.submissions.set_status(s.id, "approved", expected_revision=assigned.revision)
        assert s.completed_at is None
        s = t.submissions.set_status(s.id, "completed")
        assert s.status == "completed" and s.completed_at is not None
        cleared = t.submissions.assign(s.id)
        assert cleared.assigned_to is None and cleared.assigned_team_id is None
        moves = {(m.from_status, m.to_status) for m in t.submissions.status_moves()}
        assert ("completed", "archived") in moves and ("completed", "draft") not in moves

    with pytest.raises(pliersdb.InvalidTransition) as caught, as_user(app, seeded) as t:
        t.submissions.set_status(s.id, "rejected")
    assert (caught.value.detail["from"], caught.value.detail["to"]) == ("completed", "rejected")

    with pytest.raises(pliersdb.Conflict) as stale, as_user(app, seeded) as t:
        t.submissions.set_status(s.id, "archived", expected_revision=1)
    assert stale.value.detail["expected"] == 1

    with pytest.raises(pliersdb.NotFound), as_user(app, seeded) as t:
        t.submissions.assign(s.id, user_id=seeded.orgs["globex"].users["gina"])


def test_external_id_makes_creation_idempotent(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    key = f"order-{uuid.uuid4().hex[:6]}"
    with as_user(app, seeded) as t:
        first = t.submissions.create(form.id, {"fullName": "Ann"}, submit=True, external_id=key)
    with as_user(app, seeded) as t:  # a retry, even with other answers
        retry = t.submissions.create(form.id, {"fullName": "Other"}, submit=True,
                                     external_id=key)
        assert retry == first
        assert [s.id for s in t.submissions.list(form_id=form.id)] == [first.id]

    other = published_form(app, seeded)
    with pytest.raises(pliersdb.Conflict), as_user(app, seeded) as t:
        t.submissions.create(other.id, {"fullName": "Ann"}, external_id=key)


def test_quota_of_submissions_per_month_names_the_limit(
        app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded, "small")
    with as_user(app, seeded, "small") as t:
        kept = t.submissions.create(form.id, {"fullName": "One"}, external_id="one")
        t.submissions.create(form.id, {"fullName": "Two"})
    with pytest.raises(pliersdb.QuotaExceeded) as caught, as_user(app, seeded, "small") as t:
        t.submissions.create(form.id, {"fullName": "Three"})
    assert caught.value.limit == "max_submissions_per_month"
    assert (caught.value.detail["value"], caught.value.detail["current"],
            caught.value.detail["adding"]) == (2, 2, 1)
    with as_user(app, seeded, "small") as t:  # a retry is not counted
        assert t.submissions.create(form.id, {"fullName": "One"}, external_id="one") == kept


def test_delete_and_restore(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    with as_user(app, seeded) as t:
        s = t.submissions.create(form.id, {"fullName": "Ann"}, submit=True)
        deleted = t.submissions.delete(s.id, expected_revision=s.revision)
        assert deleted.deleted_at is not None
        assert len(t.submissions.list(form_id=form.id)) == 0
        assert [x.id for x in t.submissions.list(form_id=form.id, deleted=True)] == [s.id]
    with pytest.raises(pliersdb.NotFound), as_user(app, seeded) as t:
        t.submissions.get(s.id)
    with as_user(app, seeded) as t:
        restored = t.submissions.restore(s.id)
        assert restored.deleted_at is None
        assert restored.submission_number == s.submission_number
        assert t.submissions.get(s.id).id == s.id
    with pytest.raises(pliersdb.InvalidTransition), as_user(app, seeded) as t:
        t.submissions.restore(s.id)


def test_tenants_and_submitters_see_only_their_own(app: pliersdb.Database,
                                                   seeded: World) -> None:
    form = published_form(app, seeded)
    with as_user(app, seeded) as t:
        by_alice = t.submissions.create(form.id, {"fullName": "Alice's"}, submit=True)
    with as_user(app, seeded, user="mo") as t:  # role member: submission.create only
        by_mo = t.submissions.create(form.id, {"fullName": "Mo's"}, submit=True)
        assert [s.id for s in t.submissions.list(form_id=form.id)] == [by_mo.id]
    with pytest.raises(pliersdb.NotFound), as_user(app, seeded, user="mo") as t:
        t.submissions.get(by_alice.id)

    with as_user(app, seeded, "globex") as t:
        assert len(t.submissions.list()) == 0
    with pytest.raises(pliersdb.NotFound), as_user(app, seeded, "globex") as t:
        t.submissions.get(by_alice.id)
    with pytest.raises(pliersdb.NotFound), as_user(app, seeded, "globex") as t:
        t.submissions.create(form.id, {"fullName": "Intruder"})
    with pytest.raises(pliersdb.NotFound), as_user(app, seeded, "globex") as t:
        t.submissions.export(form.slug, io.BytesIO())


def test_history_and_state_at_a_moment(app: pliersdb.Database, seeded: World) -> None:
    form = published_form(app, seeded)
    alice = seeded.orgs["acme"].users["alice"]
    with as_user(app, seeded) as t:
        draft = t.submissions.create(form.id, {"fullName": "Ann"})
    with as_user(app, seeded) as t:
        edited = t.submissions.update(draft.id, draft.revision, data={"fullName": "Ann Lee"})
    with as_user(app, seeded) as t:
        t.submissions.submit(draft.id)
    with as_user(app, seeded) as t:
        history = t.submissions.history(draft.id)
        assert [(h.aggregate_version, h.event_type) for h in history] == [
            (1, "submission.created"), (2, "submission.updated"), (3, "submission.submitted")]
        assert all(isinstance(h.event_timestamp, datetime) for h in history)
        assert {h.user_id for h in history} == {alice}
        assert history[0].state is not None and history[0].state["data"] == {"fullName": "Ann"}
        assert history[-1].state is not None and history[-1].state["status"] == "submitted"
        before = t.submissions.at(draft.id, edited.updated_at - timedelta(microseconds=1))
        assert before is not None and before["data"] == {"fullName": "Ann"}
        assert t.submissions.at(draft.id, draft.created_at - timedelta(seconds=1)) is None
        assert [h.event_type for h in t.forms.history(form.id)][-1] == "form.published"
        now = t.forms.at(form.id, form.updated_at)
        assert now is not None and (now["status"], now["version"]) == ("published", "1.0.0")
        assert t.forms.at(form.id, form.created_at - timedelta(seconds=1)) is None
