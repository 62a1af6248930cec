"""The form library (``session.forms``) end to end, as an application runs it: through
``pliersdb.connect`` as a LOGIN role in pliers_app, under row-level security.

Each test makes its own forms (its own slugs) in one database per module. A call that
fails aborts its transaction, so a test expects the error around the ``with`` block
(the block then rolls back), as an application would."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World

import pliersdb
from pliersdb import errors
from pliersdb.forms import Form

DEFINITION: dict[str, Any] = {
    "title": "Intake",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "required": True,
         "validation": {"maxLength": 80}},
        {"id": "f2", "type": "single_choice", "name": "reason",
         "choices": [{"code": "checkup"}, {"code": "injury"}]},
    ],
}


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "forms", {
        "acme": {"users": {"alice": ["org_admin"], "mo": ["member"]},
                 "limits": {"max_forms": 50}},
        "globex": {"users": {"gina": ["org_admin"]}},
        "tiny": {"users": {"tim": ["org_admin"]}, "limits": {"max_forms": 1}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def slug() -> str:
    return f"form-{uuid.uuid4().hex[:8]}"


def as_admin(app: pliersdb.Database, seeded: World, org: str = "acme") -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, next(iter(tenant.users.values())))


@pytest.mark.sync_only("asserts the class of pliersdb.connect's result")
def test_connect_returns_a_pooled_database_of_an_application_role(
        app: pliersdb.Database, seeded: World) -> None:
    assert isinstance(app, pliersdb.Database)
    assert "connect" in pliersdb.__all__
    with as_admin(app, seeded) as t:
        row = t.execute("SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles "
                        "WHERE rolname = current_user").fetchone()
        assert row == (False,)


def test_create_publish_and_read_back_as_typed_objects(
        app: pliersdb.Database, seeded: World) -> None:
    name = slug()
    acme = seeded.orgs["acme"]
    with as_admin(app, seeded) as t:
        draft = t.forms.create("Intake", name, DEFINITION, tags=["health"],
                               metadata={"owner": "front desk"}, category="clinic")
    assert isinstance(draft, Form)
    assert isinstance(draft.id, UUID) and isinstance(draft.created_at, datetime)
    assert (draft.slug, draft.version, draft.status, draft.is_latest) == (
        name, "1.0.0", "draft", True)
    assert draft.organization_id == acme.id and draft.created_by == acme.users["alice"]
    assert draft.definition == DEFINITION and draft.tags == ("health",)
    assert draft.metadata == {"owner": "front desk"} and draft.revision == 1
    assert not draft.accepts_submissions

    with as_admin(app, seeded) as t:
        published = t.forms.publish(draft.id, "1.0.0", expected_revision=draft.revision)
    assert (published.id, published.status, published.version) == (draft.id, "published", "1.0.0")
    assert published.published_by == acme.users["alice"] and published.published_at is not None
    assert published.revision == draft.revision + 1 and published.accepts_submissions

    with as_admin(app, seeded) as t:
        assert t.forms.get(draft.id) == published
        assert t.forms.latest(name) == published
        assert t.forms.versions(name) == [published]
        assert published in t.forms.list()
        assert published in t.forms.list(status="published")
        assert published not in t.forms.list(status="draft")


def test_update_checks_the_revision_and_refuses_published_content(
        app: pliersdb.Database, seeded: World) -> None:
    with as_admin(app, seeded) as t:
        draft = t.forms.create("Survey", slug(), DEFINITION)
        renamed = t.forms.update(draft.id, draft.revision, name="Survey 2024",
                                 tags=["2024"])
    assert (renamed.name, renamed.tags, renamed.revision) == ("Survey 2024", ("2024",), 2)

    with pytest.raises(errors.Conflict) as stale, as_admin(app, seeded) as t:
        t.forms.update(draft.id, draft.revision, name="lost update")
    assert stale.value.detail["expected"] == 1 and stale.value.detail["actual"] == 2
    assert isinstance(stale.value.__cause__, psycopg.Error)

    with as_admin(app, seeded) as t:
        published = t.forms.publish(draft.id, "1.0.0")
    with pytest.raises(errors.Immutable) as immutable, as_admin(app, seeded) as t:
        t.forms.update(published.id, published.revision, definition={"fields": []})
    assert "definition" in immutable.value.detail["columns"]
    with as_admin(app, seeded) as t:  # metadata may change on any version
        tagged = t.forms.update(published.id, published.revision, tags=["kept"])
    assert tagged.tags == ("kept",) and tagged.status == "published"


def test_an_invalid_definition_reports_every_error_with_its_path(
        app: pliersdb.Database, seeded: World) -> None:
    bad = {"fields": [
        {"type": "text", "name": "ok"},
        {"type": "nope", "name": "kind"},
        {"type": "text", "name": "ok"},
        {"type": "single_choice", "name": "pick"},
    ]}
    with pytest.raises(pliersdb.ValidationError) as caught, as_admin(app, seeded) as t:
        t.forms.create("Broken", slug(), bad)
    found = [(e["path"], e["code"]) for e in caught.value.errors]
    assert found == [("$.fields[1].type", "unknown_field_type"),
                     ("$.fields[2].name", "duplicate_name"),
                     ("$.fields[3].choices", "missing_property")]
    assert all(set(e) >= {"path", "code", "message"} for e in caught.value.errors)
    assert caught.value.sqlstate == "PL001"
    assert isinstance(caught.value.__cause__, psycopg.Error)

    with as_admin(app, seeded) as t:  # the same list, without raising
        assert [(e["path"], e["code"]) for e in t.forms.validate(bad)] == found
        assert t.forms.validate(DEFINITION) == []

    with pytest.raises(pliersdb.ValidationError) as args, as_admin(app, seeded) as t:
        t.forms.create("", "Not A Slug", DEFINITION)
    assert {e["path"] for e in args.value.errors} >= {"slug"}


def test_new_version_breaking_change_needs_a_major_version(
        app: pliersdb.Database, seeded: World) -> None:
    name = slug()
    with as_admin(app, seeded) as t:
        v1 = t.forms.publish(t.forms.create("Claims", name, DEFINITION).id, "1.0.0")
        draft = t.forms.new_version(v1.id)
        assert (draft.status, draft.parent_id, draft.is_latest) == ("draft", v1.id, False)
        without_reason = {**DEFINITION, "fields": DEFINITION["fields"][:1]}
        draft = t.forms.update(draft.id, draft.revision, definition=without_reason)

    with pytest.raises(pliersdb.ValidationError) as minor, as_admin(app, seeded) as t:
        t.forms.publish(draft.id, "1.1.0")
    assert [e["code"] for e in minor.value.errors] == ["major_version_required"]
    assert minor.value.detail["latest_version"] == "1.0.0"
    assert [c["code"] for c in minor.value.detail["breaking_changes"]] == ["field_removed"]

    with pytest.raises(pliersdb.ValidationError) as older, as_admin(app, seeded) as t:
        t.forms.publish(draft.id, "0.9.0")
    assert [e["code"] for e in older.value.errors] == ["version_not_greater"]

    with as_admin(app, seeded) as t:
        v2 = t.forms.publish(draft.id, "2.0.0")
        assert (v2.version, v2.is_latest) == ("2.0.0", True)
        assert t.forms.get(v1.id).is_latest is False
        assert t.forms.latest(name).id == v2.id
        assert [f.version for f in t.forms.versions(name)] == ["1.0.0", "2.0.0"]

    # A compatible change (an optional field added) is a minor version.
    with as_admin(app, seeded) as t:
        v3 = t.forms.new_version(v2.id)
        more = {**v2.definition,
                "fields": [*v2.definition["fields"], {"type": "textarea", "name": "notes"}]}
        v3 = t.forms.publish(t.forms.update(v3.id, v3.revision, definition=more).id, "2.1.0")
    assert v3.version == "2.1.0"

    with pytest.raises(pliersdb.Conflict), as_admin(app, seeded) as t:  # one draft per slug
        t.forms.new_version(v3.id)
        t.forms.new_version(v3.id)


def test_deprecate_archive_and_refused_moves(app: pliersdb.Database, seeded: World) -> None:
    with as_admin(app, seeded) as t:
        form = t.forms.publish(t.forms.create("Old", slug(), DEFINITION).id, "1.0.0")
        deprecated = t.forms.deprecate(form.id, expected_revision=form.revision)
        assert deprecated.status == "deprecated" and deprecated.deprecated_at is not None
        assert deprecated.accepts_submissions
        archived = t.forms.archive(form.id)
        assert archived.status == "archived" and not archived.accepts_submissions
        moves = {(m.from_status, m.to_status, m.via) for m in t.forms.status_moves()}
        assert ("draft", "published", "publish_form") in moves

    with pytest.raises(pliersdb.InvalidTransition) as caught, as_admin(app, seeded) as t:
        t.forms.deprecate(form.id)
    assert caught.value.detail["from"] == "archived"
    assert caught.value.detail["to"] == "deprecated"

    with pytest.raises(pliersdb.InvalidTransition), as_admin(app, seeded) as t:
        t.forms.archive(t.forms.create("Draft", slug(), DEFINITION).id)  # a draft is deleted


def test_clone_then_delete_a_draft(app: pliersdb.Database, seeded: World) -> None:
    source_slug, copy_slug = slug(), slug()
    with as_admin(app, seeded) as t:
        source = t.forms.publish(t.forms.create("Source", source_slug, DEFINITION).id, "1.0.0")
        copy = t.forms.clone(source.id, copy_slug, name="Copy")
    assert (copy.slug, copy.name, copy.status, copy.version) == (
        copy_slug, "Copy", "draft", "1.0.0")
    assert copy.definition == source.definition
    assert copy.metadata["cloned_from"]["form_id"] == str(source.id)

    with pytest.raises(pliersdb.Conflict), as_admin(app, seeded) as t:
        t.forms.clone(source.id, copy_slug)

    with as_admin(app, seeded) as t:
        deleted = t.forms.delete(copy.id)
        assert deleted.deleted_at is not None
    with pytest.raises(pliersdb.NotFound), as_admin(app, seeded) as t:
        t.forms.get(copy.id)
    with as_admin(app, seeded) as t:  # the slug is free again
        assert t.forms.create("Again", copy_slug, DEFINITION).slug == copy_slug

    with pytest.raises(pliersdb.Immutable), as_admin(app, seeded) as t:
        t.forms.delete(source.id)  # published: archive it instead


def test_quota_max_forms_names_the_limit(app: pliersdb.Database, seeded: World) -> None:
    with as_admin(app, seeded, "tiny") as t:
        t.forms.create("Only", slug(), DEFINITION)
    with pytest.raises(pliersdb.QuotaExceeded) as caught, as_admin(app, seeded, "tiny") as t:
        t.forms.create("One too many", slug(), DEFINITION)
    assert caught.value.limit == "max_forms"
    assert caught.value.detail["value"] == 1 and caught.value.detail["current"] == 1
    assert caught.value.detail["limit"] == "max_forms"


def test_permissions_and_tenants_are_enforced_by_the_database(
        app: pliersdb.Database, seeded: World) -> None:
    acme, globex = seeded.orgs["acme"], seeded.orgs["globex"]
    with as_admin(app, seeded) as t:
        form = t.forms.create("Private", slug(), DEFINITION)

    with pytest.raises(pliersdb.PermissionDenied) as denied, \
            app.tenant(acme.id, acme.users["mo"]) as t:
        t.forms.create("Member form", slug(), DEFINITION)  # member: no form.create
    assert denied.value.detail["permission"] == "form.create"

    with as_admin(app, seeded, "globex") as t:
        assert form.id not in {f.id for f in t.forms.list()}
    with pytest.raises(pliersdb.NotFound), app.tenant(globex.id, globex.users["gina"]) as t:
        t.forms.get(form.id)
    with pytest.raises(pliersdb.NotFound), app.tenant(globex.id, globex.users["gina"]) as t:
        t.forms.publish(form.id, "1.0.0")
    with pytest.raises(pliersdb.PermissionDenied), app.tenant(acme.id, globex.users["gina"]):
        pass  # a user of another organization cannot open a context here


def nested_groups(depth: int) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "text", "name": "leaf"}
    for level in range(depth):
        field = {"type": "group", "name": f"g{level}", "fields": [field]}
    return {"fields": [field]}


def test_input_limits_refuse_hostile_definitions_with_the_limit_named(
        app: pliersdb.Database, seeded: World) -> None:
    # Groups nested 200 deep (9 KB) took 2.3 s to validate before the limits.
    name = slug()
    with pytest.raises(pliersdb.ValidationError) as deep, as_admin(app, seeded) as t:
        t.forms.create("Deep", name, nested_groups(200))
    assert deep.value.sqlstate == "PL001"
    assert [(e["path"], e["code"]) for e in deep.value.errors] == [("$", "nesting_too_deep")]

    with pytest.raises(pliersdb.ValidationError) as groups, as_admin(app, seeded) as t:
        t.forms.create("Deep", name, nested_groups(33))
    assert [e["code"] for e in groups.value.errors] == ["fields_too_deep"]

    nots: dict[str, Any] = {"field": "a", "operator": "empty"}
    for _ in range(16):
        nots = {"not": nots}
    too_deep = {"fields": [{"type": "text", "name": "a"},
                           {"type": "text", "name": "b", "visibleWhen": nots}]}
    with pytest.raises(pliersdb.ValidationError) as conditions, as_admin(app, seeded) as t:
        t.forms.validate(too_deep)
    assert [e["code"] for e in conditions.value.errors] == ["condition_too_deep"]

    with as_admin(app, seeded) as t:  # the failed calls wrote nothing; the limit itself is fine
        assert all(f.slug != name for f in t.forms.list())
        form = t.forms.create("Deep", name, nested_groups(32))
        assert form.slug == name


LONG_KEY = "How many people, counting yourself, live in this household? " * 4
LONG_KEY = LONG_KEY.strip()[:200]
KEYED: dict[str, Any] = {
    "title": "Keys as written",
    "fields": [
        {"type": "text", "name": "first name", "required": True},
        {"type": "integer", "name": "Age?"},
        {"type": "text", "name": "q1:a/b"},
        {"type": "date", "name": "date-of-birth"},
        {"type": "text", "name": 'say "hi", \\o/'},
        {"type": "integer", "name": LONG_KEY},
        {"type": "single_choice", "name": "pick, one", "allowOther": True,
         "choices": [{"code": "a"}]},
        {"type": "group", "name": "home address",
         "fields": [{"type": "text", "name": "zip code"}]},
        {"type": "file", "name": "photo id"},
        {"type": "repeat", "name": "kids: list",
         "fields": [{"type": "text", "name": "kid name", "required": True},
                    {"type": "file", "name": "photo id"}]},
    ],
}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_answer_keys_as_written_are_published_stored_searched_and_exported(
        app: pliersdb.Database, seeded: World) -> None:
    """Keys with spaces, ?, :, /, -, quotes, commas, a backslash, 200 characters: the
    answers are stored under them exactly, errors point at them (quoted), they are
    searched and exported by their dotted paths."""
    assert len(LONG_KEY) == 200
    data = {"first name": "Ann", "Age?": 41, "q1:a/b": "yes", "date-of-birth": "1983-04-02",
            'say "hi", \\o/': "hi", LONG_KEY: 3, "pick, one": "other", "pick, one_other": "b",
            "home address": {"zip code": "75001"},
            "kids: list": [{"kid name": "Léa"}, {"kid name": "Tom"}]}
    with as_admin(app, seeded) as t:
        form = t.forms.publish(t.forms.create("Keys", slug(), KEYED).id, "1.0.0")
        stored = t.submissions.create(form.id, data, submit=True)
        assert stored.data == data
        other = t.submissions.create(form.id, {"first name": "Bob", LONG_KEY: 5,
                                               "home address": {"zip code": "1000"}}, submit=True)
        zip_code = ("home address.zip code", "=", "75001")
        found = {s.id for s in t.submissions.list(form_id=form.id, where=zip_code)}
        assert found == {stored.id}
        found = {s.id for s in t.submissions.list(form_id=form.id, where=(LONG_KEY, ">", 4))}
        assert found == {other.id}
        # Files by the path of their field, in a repeat item too.
        draft = t.submissions.create(form.id, {"first name": "Cid",
                                               "kids: list": [{"kid name": "Kim"}]})
        top = t.submissions.attach(draft.id, "photo id", filename="a.png", mime_type="image/png",
                                   size_bytes=3, storage_key="k1", checksum=sha256(b"abc"))
        kid = t.submissions.attach(draft.id, "kids: list[0].photo id", filename="b.png",
                                   mime_type="image/png", size_bytes=3, storage_key="k2",
                                   checksum=sha256(b"abc"))
        after = t.submissions.get(draft.id)
        assert after.data["photo id"] == [str(top.id)]
        assert after.data["kids: list"][0]["photo id"] == [str(kid.id)]
        t.submissions.detach(kid.id)
        assert not t.submissions.get(draft.id).data["kids: list"][0]["photo id"]
        columns = [c.name for c in t.submissions.export_columns(form.slug)]
        assert columns[-10:] == [
            "first name", "Age?", "q1:a/b", "date-of-birth", 'say "hi", \\o/', LONG_KEY,
            "pick, one", "home address.zip code", "photo id", "kids: list"]
        out = io.StringIO()
        assert t.submissions.export(form.slug, out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    answers = {row[1]: row[-10:] for row in rows[1:]}
    assert answers[str(stored.id)] == [
        "Ann", "41", "yes", "1983-04-02", "hi", "3", "other", "75001", "",
        '[{"kid name": "Léa"}, {"kid name": "Tom"}]']
    # CSV header: the column names whole (not cut at PostgreSQL's 63 bytes of a name).
    assert rows[0] == columns

    # Errors point at the keys, quoted; unknown keys as written too.
    with pytest.raises(pliersdb.ValidationError) as caught, as_admin(app, seeded) as t:
        t.submissions.create(form.id, {"Age?": "x", "kids: list": [{"kid name": ""}],
                                       "pick, one": "other", "home address": {"zip": 1}},
                             submit=True)
    assert [(e["path"], e["code"]) for e in caught.value.errors] == [
        ('$.data."first name"', "required"),
        ('$.data."Age?"', "invalid_type"),
        ('$.data."pick, one_other"', "other_text_required"),
        ('$.data."home address".zip', "unknown_field"),
        ('$.data."kids: list"[0]."kid name"', "required"),
    ]
