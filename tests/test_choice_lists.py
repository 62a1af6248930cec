"""Shared choice lists and CSV data sets (``session.choice_lists``, sql/44-choice-lists.sql)
end to end, as an application runs them: through ``pliersdb.connect`` as a LOGIN role
in pliers_app, under row-level security. The checks the form and submission API call
(``_check_list_references``, ``_check_list_answers``) are private: they are called
here as the superuser, with the tenant's lists made through the API.

Each test makes its own lists (its own names) in one database per module. A call that
fails aborts its transaction, so a test expects the error around the ``with`` block."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb import errors
from pliersdb.choice_lists import ChoiceItem, ChoiceList, items_from_csv

ROOT = Path(__file__).resolve().parent.parent

FRUITS = [
    {"code": "apple", "label": "Apple", "attributes": {"colour": "red"}},
    {"code": "pear", "label": {"en": "Pear", "fr": "Poire"}, "attributes": {"colour": "green"}},
    {"code": "kiwi", "label": "Kiwi"},
]


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "lists", {
        "acme": {"users": {"alice": ["org_admin"], "mo": ["member"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def name() -> str:
    return f"list-{uuid.uuid4().hex[:8]}"


def as_user(app: pliersdb.Database, seeded: World, org: str = "acme",
            user: str | None = None) -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, tenant.users[user] if user else next(iter(tenant.users.values())))


def error_codes(raised: pytest.ExceptionInfo[errors.ValidationError]) -> list[tuple[str, str]]:
    return [(e["path"], e["code"]) for e in raised.value.errors]


# Create, get, list, replace, delete -----------------------------------------------


def test_create_get_and_list_as_typed_objects(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    acme = seeded.orgs["acme"]
    with as_user(app, seeded) as t:
        created = t.choice_lists.create(fruits, FRUITS, title="Fruits")
    assert isinstance(created, ChoiceList)
    assert (created.name, created.title, created.kind, created.item_count, created.version) == (
        fruits, "Fruits", "list", 3, 1)
    assert created.columns == ("colour",) and created.organization_id == acme.id
    assert created.created_by == acme.users["alice"]

    with as_user(app, seeded, user="mo") as t:  # a member reads (form.view)
        page = t.choice_lists.get(fruits)
        listed = t.choice_lists.list()
    assert page.choice_list == created
    assert [i.code for i in page.items] == ["apple", "pear", "kiwi"]
    assert page.items[1] == ChoiceItem("pear", {"en": "Pear", "fr": "Poire"}, {"colour": "green"})
    assert page.items[2].attributes == {}
    assert created in listed

    with as_user(app, seeded) as t:
        second = t.choice_lists.get(fruits, offset=1, limit=1)
    assert [i.code for i in second.items] == ["pear"]


def test_replace_is_atomic_and_checks_the_version(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        created = t.choice_lists.create(fruits, FRUITS)
        replaced = t.choice_lists.replace(
            fruits, [ChoiceItem("plum", "Plum", {"stone": True})], created.version, title="Plums")
    assert (replaced.version, replaced.item_count, replaced.title, replaced.columns) == (
        2, 1, "Plums", ("stone",))

    with pytest.raises(errors.Conflict) as stale, as_user(app, seeded) as t:
        t.choice_lists.replace(fruits, FRUITS, created.version)
    assert stale.value.detail["expected"] == 1 and stale.value.detail["actual"] == 2

    # A bad item refuses the whole replacement: nothing is written.
    with pytest.raises(errors.ValidationError) as invalid, as_user(app, seeded) as t:
        t.choice_lists.replace(fruits, [*FRUITS, {"code": "apple", "label": "Again"}], 2)
    assert error_codes(invalid) == [("$.items[3].code", "duplicate_code")]
    with as_user(app, seeded) as t:
        page = t.choice_lists.get(fruits)
    assert [i.code for i in page.items] == ["plum"] and page.choice_list.version == 2

    with pytest.raises(errors.ValidationError) as missing, as_user(app, seeded) as t:
        t.execute("SELECT pliers.replace_choice_list_items(%s, '[]', NULL)", (fruits,))
    assert error_codes(missing) == [("expected_version", "required")]


@pytest.mark.sync_only("two sessions at once, one in a thread")
def test_concurrent_replacements_of_one_version_one_wins(
        app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        created = t.choice_lists.create(fruits, FRUITS)

    def second() -> Any:
        with as_user(app, seeded) as t2:  # waits for the first's row lock
            return t2.choice_lists.replace(fruits, FRUITS[:1], created.version)

    with ThreadPoolExecutor(1) as pool:
        with as_user(app, seeded) as t:
            first = t.choice_lists.replace(fruits, FRUITS[:2], created.version)
            waiting = pool.submit(second)
            time.sleep(0.5)
            assert not waiting.done()
        with pytest.raises(errors.Conflict) as lost:
            waiting.result(timeout=30)
    assert lost.value.detail["actual"] == first.version == 2
    with as_user(app, seeded) as t:
        assert t.choice_lists.get(fruits).choice_list.item_count == 2


def test_every_item_error_at_once_with_its_path(app: pliersdb.Database, seeded: World) -> None:
    items: list[Any] = [
        {"code": "a", "label": "A"},
        "not an object",
        {"label": "no code"},
        {"code": " ", "label": "blank"},
        {"code": 7, "label": "number"},
        {"code": "a", "label": "duplicate"},
        {"code": "b"},
        {"code": "c", "label": {"en": 1}},
        {"code": "d", "label": {"not a tag": "x"}},
        {"code": "e", "label": "E", "attributes": []},
        {"code": "f", "label": "F", "attributes": {"nested": {"x": 1}, "ok": 1.5, "flag": False}},
        {"code": "g", "label": "G", "colour": "red"},
        {"code": "x" * 256, "label": "long"},
        {"code": "h", "label": "H", "attributes": {"b": None, "a": [], "ok": "x" * 2001}},
    ]
    with pytest.raises(errors.ValidationError) as raised, as_user(app, seeded) as t:
        t.choice_lists.create("Bad Name", items, kind="list")
    assert error_codes(raised) == [
        ("name", "invalid_name"),
        ("$.items[1]", "invalid_type"),
        ("$.items[2].code", "required"),
        ("$.items[3].code", "blank_code"),
        ("$.items[4].code", "invalid_type"),
        ("$.items[5].code", "duplicate_code"),
        ("$.items[6].label", "required"),
        ("$.items[7].label", "invalid_type"),
        ("$.items[8].label", "invalid_type"),
        ("$.items[9].attributes", "invalid_type"),
        ("$.items[10].attributes.nested", "invalid_type"),
        ("$.items[11].colour", "unknown_property"),
        ("$.items[12].code", "too_long"),
        ("$.items[13].attributes.a", "invalid_type"),
        ("$.items[13].attributes.b", "invalid_type"),
        ("$.items[13].attributes.ok", "too_long"),
    ]
    assert raised.value.detail["error_count"] == 16

    with pytest.raises(errors.ValidationError) as kind, as_user(app, seeded) as t:
        t.choice_lists.create(name(), [], kind="table")  # type: ignore[arg-type]
    assert error_codes(kind) == [("kind", "invalid_kind")]

    with pytest.raises(errors.ValidationError) as columns, as_user(app, seeded) as t:
        t.choice_lists.create(name(), [{"code": "a", "label": "A", "attributes": {"z": "1"}}],
                              kind="dataset", columns=["y"])
    assert error_codes(columns) == [("$.items[0].attributes.z", "unknown_attribute")]


def test_limits_of_items(app: pliersdb.Database, seeded: World) -> None:
    too_many = [{"code": str(i), "label": str(i)} for i in range(10001)]
    with pytest.raises(errors.ValidationError) as raised, as_user(app, seeded) as t:
        t.choice_lists.create(name(), too_many)
    assert error_codes(raised) == [("$.items", "too_many_items")]
    # A data set may hold more; the errors reported are bounded (the first 100).
    with as_user(app, seeded) as t:
        dataset = t.choice_lists.create(name(), too_many, kind="dataset")
    assert dataset.item_count == 10001
    duplicates = [{"code": "same", "label": str(i)} for i in range(500)]
    with pytest.raises(errors.ValidationError) as bounded, as_user(app, seeded) as t:
        t.choice_lists.create(name(), duplicates, kind="dataset")
    assert len(bounded.value.errors) == 100 and bounded.value.detail["error_count"] == 499
    assert bounded.value.errors[0]["path"] == "$.items[1].code"


def test_a_few_bad_items_among_many_are_each_found(app: pliersdb.Database,
                                                   seeded: World) -> None:
    """A data set is checked in proportion: what is cheap to know of every item decides
    which are taken apart. Each rule broken by one item among 20,000 valid ones (with
    translated labels and attributes, as a CSV gives them) is still found, at its path."""
    items: list[Any] = [
        {"code": f"c{i}", "label": {"en": f"City {i}", "fr": f"Ville {i}"},
         "attributes": {"region": f"r{i % 50}", "pop": str(i)}}
        for i in range(20000)]
    items[5000]["label"] = {"en": "x", "fr": 1}
    items[6000]["label"] = {"en": "x", "f r": "y"}
    items[7000]["label"] = {"en": "é" * 2001}
    items[12000]["attributes"] = {"region": None}
    items[15000]["attributes"] = {"zzz": "1", "region": "r1"}
    items[17000]["code"] = "c3"
    items[19999]["attributes"] = {"region": "x" * 2001}
    with pytest.raises(errors.ValidationError) as raised, as_user(app, seeded) as t:
        t.choice_lists.create(name(), items, kind="dataset", columns=["region", "pop"])
    assert error_codes(raised) == [
        ("$.items[5000].label", "invalid_type"),
        ("$.items[6000].label", "invalid_type"),
        ("$.items[7000].label", "too_long"),
        ("$.items[12000].attributes.region", "invalid_type"),
        ("$.items[15000].attributes.zzz", "unknown_attribute"),
        ("$.items[17000].code", "duplicate_code"),
        ("$.items[19999].attributes.region", "too_long"),
    ]
    items[7000]["label"] = {"en": "é" * 2000}  # 4,000 bytes, 2,000 characters: valid
    for i in (5000, 6000, 12000, 15000, 17000, 19999):
        items[i] = {"code": f"c{i}", "label": "fixed"}
    with as_user(app, seeded) as t:
        assert t.choice_lists.create(name(), items, kind="dataset").item_count == 20000


def test_names_are_unique_among_live_lists(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        first = t.choice_lists.create(fruits, FRUITS)
    with pytest.raises(errors.Conflict) as taken, as_user(app, seeded) as t:
        t.choice_lists.create(fruits, FRUITS)
    assert taken.value.detail == {"object": "choice_list", "name": fruits}
    with as_user(app, seeded) as t:
        deleted = t.choice_lists.delete(fruits, expected_version=first.version)
        again = t.choice_lists.create(fruits, FRUITS[:1])
        assert fruits in [c.name for c in t.choice_lists.list()]
    assert deleted.version == 2 and again.id != first.id and again.version == 1
    with pytest.raises(errors.NotFound) as gone, as_user(app, seeded) as t:
        t.choice_lists.get(name())
    assert gone.value.detail["object"] == "choice_list"


def test_permissions(app: pliersdb.Database, seeded: World) -> None:
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded, user="mo") as t:
        t.choice_lists.create(name(), FRUITS)
    assert denied.value.detail["permission"] == "form.edit"
    with pytest.raises(errors.NoTenantContext), app.transaction() as t:
        t.call("list_choice_lists")


def test_tenant_isolation_as_the_application(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        t.choice_lists.create(fruits, FRUITS)
    with as_user(app, seeded, "globex") as t:
        assert fruits not in [c.name for c in t.choice_lists.list()]
    with pytest.raises(errors.NotFound), as_user(app, seeded, "globex") as t:
        t.choice_lists.get(fruits)
    with as_user(app, seeded, "globex") as t:
        # Row-level security: the other tenant's rows are invisible to plain SQL too
        # (each statement names a tenant: on Citus it goes to that one shard).
        rows = t.execute("SELECT count(*) FROM pliers.choice_lists "
                         "WHERE name = %s AND organization_id = %s",
                         (fruits, seeded.orgs["acme"].id)).fetchone()
        items = t.execute("SELECT count(*) FROM pliers.choice_list_items AS i "
                          "WHERE i.code = 'apple' AND i.organization_id = %s",
                          (seeded.orgs["acme"].id,)).fetchone()
        assert rows == (0,) and items == (0,)
    # The same name in another tenant is another list.
    with as_user(app, seeded, "globex") as t:
        assert t.choice_lists.create(fruits, FRUITS[:1]).item_count == 1
    # The tables are the API's to write: the application only reads them.
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(app, seeded) as t:
        t.execute("UPDATE pliers.choice_lists SET item_count = 0 "
                  "WHERE name = %s AND organization_id = %s", (fruits, seeded.orgs["acme"].id))


def test_events_describe_the_list_not_its_items(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        created = t.choice_lists.create(fruits, FRUITS)
        t.choice_lists.replace(fruits, FRUITS[:2], 1)
        t.choice_lists.delete(fruits)
    with psycopg.connect(seeded.admin_dsn) as conn:
        rows = conn.execute(
            "SELECT event_type, aggregate_type::text, aggregate_version, payload "
            "FROM pliers.events WHERE organization_id = %s AND aggregate_id = %s "
            "ORDER BY aggregate_version",
            (seeded.orgs["acme"].id, created.id)).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("choice_list.created", "organization", 1),
        ("choice_list.items_replaced", "organization", 2),
        ("choice_list.deleted", "organization", 3),
    ]
    assert rows[1][3]["item_count"] == 2 and "items" not in rows[1][3]


# Forms that name a list -----------------------------------------------------------


def choice_form(list_name: str, **extra: Any) -> dict[str, Any]:
    return {"fields": [
        {"type": "text", "name": "who"},
        {"type": "group", "name": "basket", "fields": [
            {"type": "single_choice", "name": "fruit", "choiceList": list_name, **extra},
        ]},
        {"type": "repeat", "name": "orders", "fields": [
            {"type": "multiple_choice", "name": "fruits", "choiceList": list_name},
            {"type": "single_choice", "name": "size", "choices": [{"code": "s"}]},
        ]},
        {"type": "ranking", "name": "taste order", "choiceList": "missing-list"},
    ]}


def owner_call(seeded: World, query: str, *args: Any) -> Any:
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute(query, args).fetchone()
        assert row is not None
        return row[0]


def test_check_list_references(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        t.choice_lists.create(fruits, FRUITS)
    acme, globex = seeded.orgs["acme"].id, seeded.orgs["globex"].id
    query = "SELECT to_jsonb(pliers._check_list_references(%s, %s))"
    found = owner_call(seeded, query, acme, Jsonb(choice_form(fruits)))
    assert [(e["path"], e["code"]) for e in found] == [
        ("$.fields[3].choiceList", "unknown_choice_list")]
    other = owner_call(seeded, query, globex, Jsonb(choice_form(fruits)))
    assert [e["path"] for e in other] == [
        "$.fields[1].fields[0].choiceList", "$.fields[2].fields[0].choiceList",
        "$.fields[3].choiceList"]
    assert owner_call(seeded, query, acme, Jsonb({"fields": []})) == []
    assert owner_call(seeded, query, acme, Jsonb([1])) == []

    # Wired into the form API: the error comes with the definition's own.
    with pytest.raises(errors.ValidationError) as raised, as_user(app, seeded) as t:
        t.forms.create("Fruit", f"fruit-{uuid.uuid4().hex[:6]}", choice_form(fruits))
    assert ("$.fields[3].choiceList", "unknown_choice_list") in error_codes(raised)
    assert ("$.fields[1].fields[0].choiceList", "unknown_choice_list") not in error_codes(raised)


def test_check_list_answers(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        t.choice_lists.create(fruits, FRUITS)
    acme = seeded.orgs["acme"].id
    definition = choice_form(fruits, allowOther=True)
    definition["fields"][3]["choiceList"] = fruits
    query = "SELECT to_jsonb(pliers._check_list_answers(%s, %s, %s))"

    def check(data: dict[str, Any], org: Any = acme) -> list[tuple[str, str]]:
        found = owner_call(seeded, query, org, Jsonb(definition), Jsonb(data))
        return [(e["path"], e["code"]) for e in found]

    good = {"who": "x", "basket": {"fruit": "pear"},
            "orders": [{"fruits": ["apple", "kiwi"], "size": "s"}, {"fruits": []}],
            "taste order": ["kiwi", "pear", "apple"]}
    assert check(good) == []
    assert check({"basket": {"fruit": "other"}}) == []  # allowOther
    bad = {"basket": {"fruit": "banana"},
           "orders": [{"fruits": ["apple"]}, {"fruits": ["kiwi", "mango", 3, "other"]}],
           "taste order": ["pear", "lime"]}
    assert check(bad) == [
        ("$.data.basket.fruit", "invalid_choice"),
        ("$.data.orders[1].fruits[1]", "invalid_choice"),
        ("$.data.orders[1].fruits[3]", "invalid_choice"),  # no allowOther on this field
        ('$.data."taste order"[1]', "invalid_choice"),
    ]
    # Another tenant's list of the same name is not this tenant's.
    assert len(check(good, seeded.orgs["globex"].id)) == 6
    assert check({}) == [] and check({"basket": "not an object"}) == []
    inline = {"fields": [{"type": "single_choice", "name": "a", "choices": [{"code": "x"}]}]}
    assert owner_call(seeded, query, acme, Jsonb(inline), Jsonb({"a": "y"})) == []



def test_a_list_in_use_is_not_deleted(app: pliersdb.Database, seeded: World) -> None:
    fruits = name()
    with as_user(app, seeded) as t:
        t.choice_lists.create(fruits, FRUITS)
    acme = seeded.orgs["acme"]
    slug = f"fruit-{uuid.uuid4().hex[:6]}"
    # Stored as the owner: the definition validator of this branch may not know
    # choiceList yet; delete_choice_list reads definitions as stored.
    with psycopg.connect(seeded.admin_dsn) as conn:
        form_id = conn.execute(
            "INSERT INTO pliers.forms (organization_id, name, slug, definition) "
            "VALUES (%s, 'Fruit', %s, %s) RETURNING id",
            (acme.id, slug, Jsonb(choice_form(fruits)))).fetchone()
    assert form_id is not None
    with pytest.raises(errors.Conflict) as in_use, as_user(app, seeded) as t:
        t.choice_lists.delete(fruits)
    assert in_use.value.detail["rule"] == "in_use"
    assert [f["slug"] for f in in_use.value.detail["forms"]] == [slug]
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("UPDATE pliers.forms SET status = 'archived' "
                     "WHERE organization_id = %s AND id = %s", (acme.id, form_id[0]))
    with as_user(app, seeded) as t:
        assert t.choice_lists.delete(fruits).name == fruits


# CSV data sets --------------------------------------------------------------------

SCHOOLS = """name,label::en,label::fr,district,pupils
s1,North School,École du Nord,north,120
s2,South School,,south,
s3,Hill School,École de la colline,,45
"""


def test_items_from_csv() -> None:
    items, columns = items_from_csv(io.StringIO(SCHOOLS))
    assert columns == ["district", "pupils"]
    assert items == [
        {"code": "s1", "label": {"en": "North School", "fr": "École du Nord"},
         "attributes": {"district": "north", "pupils": "120"}},
        {"code": "s2", "label": {"en": "South School"}, "attributes": {"district": "south"}},
        {"code": "s3", "label": {"en": "Hill School", "fr": "École de la colline"},
         "attributes": {"pupils": "45"}},
    ]
    plain, _ = items_from_csv(io.StringIO("\ufeffcode,label\na,A\n\n"))
    assert plain == [{"code": "a", "label": "A"}]
    for bad, message in [("label\nA\n", "no name"), ("code,x\na,1\n", "no label"),
                         ("code,label,label::en\n", "both"), ("code,label\na,A,extra\n", "cells"),
                         ("", "empty")]:
        with pytest.raises(ValueError, match=message):
            items_from_csv(io.StringIO(bad))


def test_import_csv_creates_then_replaces(app: pliersdb.Database, seeded: World) -> None:
    schools = name()
    with as_user(app, seeded) as t:
        created = t.choice_lists.import_csv(schools, io.StringIO(SCHOOLS), title="Schools")
    assert (created.kind, created.item_count, created.columns, created.title) == (
        "dataset", 3, ("district", "pupils"), "Schools")
    with as_user(app, seeded) as t:
        replaced = t.choice_lists.import_csv(
            schools, io.StringIO("name,label,district\ns9,Nine,east\n"))
        page = t.choice_lists.get(schools)
    assert (replaced.version, replaced.item_count, replaced.columns, replaced.title) == (
        2, 1, ("district",), "Schools")
    assert page.items == (ChoiceItem("s9", "Nine", {"district": "east"}),)

    # Duplicate codes are the database's to find, with their CSV item's path.
    with pytest.raises(errors.ValidationError) as raised, as_user(app, seeded) as t:
        t.choice_lists.import_csv(name(), io.StringIO("code,label\na,A\na,B\n"))
    assert error_codes(raised) == [("$.items[1].code", "duplicate_code")]


def test_cli_import_and_list(seeded: World, tmp_path: Path) -> None:
    acme = seeded.orgs["acme"]
    schools = name()
    csv_file = tmp_path / "schools.csv"
    csv_file.write_text(SCHOOLS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tenant = ["--dsn", seeded.app_dsn, "--org", str(acme.id),
              "--user", str(acme.users["alice"])]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pliersdb", "choices", *args, *tenant],
                              capture_output=True, text=True, env=env, check=False)

    imported = cli("import", schools, str(csv_file), "--title", "Schools")
    assert imported.returncode == 0, imported.stderr
    assert f"{schools}: 3 items, version 1" in imported.stdout
    again = cli("import", schools, str(csv_file))
    assert again.returncode == 0 and f"{schools}: 3 items, version 2" in again.stdout
    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split("\t")[:3] == [schools, "dataset", "3"]
               for line in listed.stdout.splitlines())
    bad = tmp_path / "bad.csv"
    bad.write_text("code,label\na,A\na,B\n", encoding="utf-8")
    refused = cli("import", name(), str(bad))
    assert refused.returncode == 1 and "$.items[1].code" in refused.stderr
    assert json.dumps("duplicate_code")[1:-1] in refused.stderr
