"""Expressions in forms (docs/expressions.md, docs/forms.md): where a definition uses them
(calculations, constraints, condition leaves, repeat counts, choice filters, default
expressions), how each use is checked when the definition is saved (in its scope, with
its type), and what each does to the answers: calculations stored with the answers,
constraints and counts reported with the field's path, cascading choices. The compiled
validator of a published version gives the interpreter's verdicts on each.

The SQL functions are pure: they run in the ``db`` fixture's rolled-back transaction;
the end-to-end test goes through the library as the application role."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from test_validation_properties import _compiled_form, assert_same_verdicts

import pliersdb

INVOICE: dict[str, Any] = {"fields": [
    {"type": "text", "name": "customer name", "required": True},
    {"type": "repeat", "name": "lines", "fields": [
        {"type": "text", "name": "item"},
        {"type": "number", "name": "qty", "validation": {
            "constraint": {">": [{"var": "lines.qty"}, 0]},
            "constraintMessage": "at least one"}},
        {"type": "currency", "name": "price", "currency": "EUR"},
        {"type": "calculated", "name": "line total",
         "expression": {"*": [{"var": "lines.qty"}, {"var": "lines.price"}]}},
    ]},
    {"type": "calculated", "name": "total", "expression": {"sum": [{"var": "lines.line total"}]}},
    {"type": "text", "name": "approval", "required": True,
     "visibleWhen": {"expression": {">": [{"var": "total"}, 100]}}},
]}

TRIP: dict[str, Any] = {"languages": ["en", "fr"], "defaultLanguage": "en", "fields": [
    {"type": "date", "name": "start"},
    {"type": "date", "name": "end", "validation": {
        "constraint": {">=": [{"var": "end"}, {"var": "start"}]},
        "constraintMessage": {"en": "after the start", "fr": "après le début"}}},
    {"type": "integer", "name": "travellers"},
    {"type": "repeat", "name": "people", "repeatCount": {"var": "travellers"},
     "fields": [{"type": "text", "name": "who"}]},
    {"type": "text", "name": "code",
     "requiredWhen": {"expression": {"regex": [{"var": "who else"}, "^x"]}}},
    {"type": "text", "name": "who else"},
]}

CASCADE: dict[str, Any] = {"fields": [
    {"type": "single_choice", "name": "state",
     "choices": [{"code": "ca"}, {"code": "ny"}]},
    {"type": "single_choice", "name": "city",
     "choices": [{"code": "la", "attributes": {"state": "ca"}},
                 {"code": "sf", "attributes": {"state": "ca"}},
                 {"code": "nyc", "attributes": {"state": "ny"}}],
     "choiceFilter": {"==": [{"choice": "state"}, {"var": "state"}]}},
    {"type": "multiple_choice", "name": "stops",
     "choices": [{"code": "la", "attributes": {"state": "ca"}},
                 {"code": "nyc", "attributes": {"state": "ny"}}],
     "choiceFilter": {"==": [{"choice": "state"}, {"var": "state"}]}},
]}

WRONG_TYPES: dict[str, Any] = {"fields": [
    {"type": "integer", "name": "n"},
    {"type": "text", "name": "s"},
    {"type": "calculated", "name": "same",
     "expression": {"==": [{"var": "n"}, {"+": [0, {"var": "n"}]}]}},
    {"type": "repeat", "name": "r",
     "conditional": {"when": [{"expression": {"!=": [{"var": "n"}, {"+": [0, {"var": "n"}]}]}}],
                     "show": False},
     "fields": [{"type": "integer", "name": "k"},
                {"type": "text", "name": "t",
                 "visibleWhen": {"expression": {"empty": [{"var": "r.k"}]}}},
                {"type": "text", "name": "u",
                 "requiredWhen": {"expression": {"==": [{"var": "s"}, {"var": "s"}]}},
                 "validation": {"constraint": {"!=": [{"var": "r.k"}, {"var": "n"}]}}}]},
]}


def definition_errors(db: psycopg.Connection[Any], definition: Any) -> list[dict[str, Any]]:
    row = db.execute("SELECT pliers.validate_form_definition(%s)", (Jsonb(definition),)).fetchone()
    assert row is not None
    return list(row[0])


def check(db: psycopg.Connection[Any], definition: dict[str, Any], data: dict[str, Any],
          final: bool = True) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The cleaned answers and the (path, code) of each error, from the interpreter."""
    row = db.execute("SELECT d.cleaned, d.errors"
                     " FROM pliers._check_submission_data(%s, %s, %s, NULL) AS d",
                     (Jsonb(definition), Jsonb(data), final)).fetchone()
    assert row is not None
    return row[0], [(e["path"], e["code"]) for e in row[1]]


@pytest.mark.parametrize("definition", [INVOICE, TRIP, CASCADE])
def test_the_examples_are_valid_definitions(db: psycopg.Connection[Any],
                                            definition: dict[str, Any]) -> None:
    assert definition_errors(db, definition) == []


def test_calculations_are_stored_with_the_answers(db: psycopg.Connection[Any]) -> None:
    sent = {"customer name": "Ann", "lines": [
        {"item": "a", "qty": 2, "price": 30, "line total": 999},  # the sent value is replaced
        {"item": "b", "qty": 1, "price": 50}],
        "total": 1, "approval": "ok"}
    cleaned, errors = check(db, INVOICE, sent)
    assert errors == []
    assert [line["line total"] for line in cleaned["lines"]] == [60, 50]
    assert cleaned["total"] == 110
    assert cleaned["approval"] == "ok"


def test_a_repeat_not_answered_beside_calculations(db: psycopg.Connection[Any]) -> None:
    # The items of repeats are cleaned before the calculations: none when not answered.
    cleaned, errors = check(db, INVOICE, {"customer name": "Ann"})
    assert errors == [] and cleaned == {"customer name": "Ann", "total": 0}


def test_a_condition_on_a_calculation(db: psycopg.Connection[Any]) -> None:
    small = {"customer name": "Ann", "lines": [{"qty": 1, "price": 10}], "approval": "x"}
    cleaned, errors = check(db, INVOICE, small)
    assert errors == [] and "approval" not in cleaned and cleaned["total"] == 10
    big = {"customer name": "Ann", "lines": [{"qty": 3, "price": 50}]}
    assert check(db, INVOICE, big)[1] == [("$.data.approval", "required")]


def test_constraint_fails_with_the_fields_path_and_message(db: psycopg.Connection[Any]) -> None:
    broken = {"customer name": "A", "lines": [{"qty": 0}]}
    row = db.execute("SELECT pliers.validate_submission_data(%s, %s)",
                     (Jsonb(INVOICE), Jsonb(broken))).fetchone()
    assert row is not None
    assert row[0] == [{"path": "$.data.lines[0].qty", "code": "constraint_failed",
                       "message": "at least one"}]
    _, errors = check(db, TRIP, {"start": "2026-05-02", "end": "2026-05-01"})
    assert errors == [("$.data.end", "constraint_failed")]
    # A constraint applies to a given answer only.
    assert check(db, TRIP, {"start": "2026-05-02"})[1] == []
    assert check(db, TRIP, {"start": "2026-05-02", "end": "2026-05-02"})[1] == []


def test_repeat_count_and_required_if_by_regex(db: psycopg.Connection[Any]) -> None:
    assert check(db, TRIP, {"travellers": 2, "people": [{"who": "a"}]})[1] == [
        ("$.data.people", "wrong_item_count")]
    assert check(db, TRIP, {"travellers": 2, "people": [{"who": "a"}]}, final=False)[1] == []
    assert check(db, TRIP, {"travellers": 1, "people": [{"who": "a"}]})[1] == []
    assert check(db, TRIP, {"travellers": 1})[1] == [("$.data.people", "wrong_item_count")]
    assert check(db, TRIP, {"who else": "xavier"})[1] == [("$.data.code", "required")]
    assert check(db, TRIP, {"who else": "yann"})[1] == []


def test_cascading_choices(db: psycopg.Connection[Any]) -> None:
    assert check(db, CASCADE, {"state": "ca", "city": "sf", "stops": ["la"]})[1] == []
    assert check(db, CASCADE, {"state": "ca", "city": "nyc", "stops": ["la", "nyc"]})[1] == [
        ("$.data.city", "choice_filtered_out"), ("$.data.stops[1]", "choice_filtered_out")]
    # A code that is no choice is reported as such, once.
    assert check(db, CASCADE, {"state": "ca", "city": "xx"})[1] == [
        ("$.data.city", "invalid_choice")]


@pytest.mark.parametrize(("field", "code"), [
    ({"type": "calculated", "name": "c", "expression": {"+": [{"var": "nope"}, 1]}},
     "invalid_reference"),
    ({"type": "text", "name": "c", "validation": {"constraint": {"+": [1, 2]}}}, "type_mismatch"),
    ({"type": "repeat", "name": "c", "repeatCount": {"==": [1, 1]},
      "fields": [{"type": "text", "name": "x"}]}, "type_mismatch"),
    ({"type": "text", "name": "c", "visibleWhen": {"expression": {"choice": "state"}}},
     "invalid_reference"),
    ({"type": "text", "name": "c", "visibleWhen": {"expression": {"bogus": [1]}}},
     "unknown_operator"),
])
def test_each_use_is_checked_in_its_scope(db: psycopg.Connection[Any], field: dict[str, Any],
                                          code: str) -> None:
    definition = {"fields": [{"type": "number", "name": "n"}, field]}
    errors = definition_errors(db, definition)
    assert code in [e["code"] for e in errors], errors
    assert all(e["path"].startswith("$.fields[1]") for e in errors), errors


def test_a_field_of_a_repeat_is_a_list_outside_it(db: psycopg.Connection[Any]) -> None:
    outside = {"fields": [
        {"type": "repeat", "name": "r", "fields": [{"type": "number", "name": "x"}]},
        {"type": "calculated", "name": "bad", "expression": {"+": [{"var": "r.x"}, 1]}},
    ]}
    assert "type_mismatch" in [e["code"] for e in definition_errors(db, outside)]
    outside["fields"][1]["expression"] = {"+": [{"sum": [{"var": "r.x"}]}, 1]}
    assert definition_errors(db, outside) == []


def test_calculations_in_a_cycle_are_refused(db: psycopg.Connection[Any]) -> None:
    definition = {"fields": [
        {"type": "calculated", "name": "a", "expression": {"+": [{"var": "b"}, 1]}},
        {"type": "calculated", "name": "b", "expression": {"+": [{"var": "a"}, 1]}},
    ]}
    errors = definition_errors(db, definition)
    assert [e["code"] for e in errors] == ["dependency_cycle", "dependency_cycle"], errors


@pytest.mark.parametrize(("definition", "answers"), [
    (INVOICE, {"customer name": "A", "lines": [{"qty": 0, "price": 1}, {"qty": 2, "price": 80}]}),
    (TRIP, {"start": "2026-05-02", "end": "2026-05-01", "travellers": 2, "people": [{}]}),
    (TRIP, {"who else": "x", "travellers": 0}),
    (CASCADE, {"state": "ny", "city": "la", "stops": ["la", "nyc"]}),
    (CASCADE, {"state": "ca", "city": "la"}),
    # An answer of the wrong type is not the value of its field to compiled SQL: the
    # compiled validator hands such an expression to the interpreter.
    (WRONG_TYPES, {"n": "x", "s": 3, "r": []}),
    (WRONG_TYPES, {"n": 2, "s": "a", "r": [{"k": "1"}, {"k": 1}]}),
])
def test_compiled_validators_give_the_interpreters_verdicts(
        db: psycopg.Connection[Any], definition: dict[str, Any], answers: dict[str, Any]) -> None:
    with db.transaction(force_rollback=True):
        form = _compiled_form(db, definition)
        assert_same_verdicts(db, form, definition, answers)


# Generated forms: two numbers with a constraint between them, and a calculation over them.
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
OPERATORS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
             ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@SETTINGS
@given(st.sampled_from(sorted(OPERATORS)), st.integers(-50, 50), st.integers(-50, 50),
       st.sampled_from(["low", "a b", "x-y?", "ünï:c/d"]))
def test_generated_constraints_hold_or_fail_at_their_path(
        db: psycopg.Connection[Any], operator: str, a: int, b: int, name: str) -> None:
    definition = {"fields": [
        {"type": "integer", "name": "first"},
        {"type": "integer", "name": name,
         "validation": {"constraint": {operator: [{"var": "first"}, {"var": name}]}}},
        {"type": "calculated", "name": "sum",
         "expression": {"+": [{"var": "first"}, {"var": name}]}},
    ]}
    assert definition_errors(db, definition) == []
    cleaned, errors = check(db, definition, {"first": a, name: b})
    assert cleaned["sum"] == a + b
    path = "$.data." + (name if name.isidentifier() else f'"{name}"')
    assert errors == ([] if OPERATORS[operator](a, b) else [(path, "constraint_failed")])


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "expressions", {
        "acme": {"users": {"alice": ["org_admin"]}, "limits": {"max_forms": 20}},
    }) as built:
        yield built


def test_a_published_form_stores_its_calculations(cluster: clusterlib.Cluster,
                                                  seeded: World) -> None:
    acme = seeded.orgs["acme"]
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, timeout=10) as app:
        with app.tenant(acme.id, acme.users["alice"]) as t:
            form = t.forms.create("Invoice", f"inv-{uuid.uuid4().hex[:8]}", INVOICE)
            t.forms.publish(form.id, "1.0.0")
        with app.tenant(acme.id, acme.users["alice"]) as t:
            sub = t.submissions.create(form.id, {"customer name": "Ann", "lines": [
                {"qty": 2, "price": 40}]}, submit=True)
        assert sub.data["total"] == 80 and sub.data["lines"][0]["line total"] == 80
        with app.tenant(acme.id, acme.users["alice"]) as t:
            out = io.StringIO()
            assert t.submissions.export(form.slug, out) == 1
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert rows[0]["total"] == "80"  # the calculation is exported with the answers
        with pytest.raises(pliersdb.errors.ValidationError) as caught, \
                app.tenant(acme.id, acme.users["alice"]) as t:
            t.submissions.create(form.id, {"customer name": "Ann", "lines": [{"qty": 0}]},
                                 submit=True)
        assert [(e["path"], e["code"]) for e in caught.value.errors] == [
            ("$.data.lines[0].qty", "constraint_failed")]


# Cascading choices over the tenant's data sets (country -> region -> city): the filter of
# a choiceList field reads the attributes of the list's items, in the answer's scope.
COUNTRIES = [{"code": "fr", "label": "France"}, {"code": "es", "label": "Spain"}]
REGIONS = [{"code": "idf", "label": "Ile-de-France", "attributes": {"country": "fr"}},
           {"code": "ara", "label": "Auvergne", "attributes": {"country": "fr"}},
           {"code": "cat", "label": "Catalonia", "attributes": {"country": "es"}}]
CITIES = [{"code": "paris", "label": "Paris", "attributes": {"region": "idf"}},
          {"code": "lyon", "label": "Lyon", "attributes": {"region": "ara"}},
          {"code": "bcn", "label": "Barcelona", "attributes": {"region": "cat"}},
          {"code": "nowhere", "label": "No region"}]
IN_COUNTRY = {"==": [{"choice": "country"}, {"var": "country"}]}


def in_region(region: str) -> dict[str, Any]:
    return {"==": [{"choice": "region"}, {"var": region}]}


def geo_definition(lists: dict[str, str]) -> dict[str, Any]:
    return {"fields": [
        {"type": "single_choice", "name": "country", "choiceList": lists["countries"]},
        {"type": "single_choice", "name": "region", "choiceList": lists["regions"],
         "choiceFilter": IN_COUNTRY},
        {"type": "single_choice", "name": "city", "choiceList": lists["cities"],
         "choiceFilter": in_region("region")},
        {"type": "multiple_choice", "name": "also", "choiceList": lists["cities"],
         "choiceFilter": in_region("region")},
        {"type": "repeat", "name": "trips", "fields": [
            # filtered by an answer outside the repeat
            {"type": "single_choice", "name": "region", "choiceList": lists["regions"],
             "choiceFilter": IN_COUNTRY},
            # by the item's own answer, in a group of the item
            {"type": "group", "name": "stay", "fields": [
                {"type": "multiple_choice", "name": "cities", "choiceList": lists["cities"],
                 "choiceFilter": in_region("trips.region")}]},
            # by the enclosing item's answer, from an item of a nested repeat
            {"type": "repeat", "name": "days", "fields": [
                {"type": "single_choice", "name": "city", "choiceList": lists["cities"],
                 "choiceFilter": in_region("trips.region")}]},
        ]},
    ]}


@pytest.fixture(scope="module")
def geo_lists(seeded: World) -> dict[str, str]:
    acme = seeded.orgs["acme"]
    names = {kind: f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("countries", "regions", "cities")}
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, timeout=10) as app, \
            app.tenant(acme.id, acme.users["alice"]) as t:
        for kind, items in (("countries", COUNTRIES), ("regions", REGIONS), ("cities", CITIES)):
            t.choice_lists.create(names[kind], items)
    return names


def published_row(seeded: World, definition: dict[str, Any]) -> tuple[uuid.UUID, str]:
    """A version of the definition published by the tenant: its id and row (as text)."""
    acme = seeded.orgs["acme"]
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, timeout=10) as app:
        with app.tenant(acme.id, acme.users["alice"]) as t:
            draft = t.forms.create("Geo", f"geo-{uuid.uuid4().hex[:8]}", definition)
        with app.tenant(acme.id, acme.users["alice"]) as t:
            t.forms.publish(draft.id, "1.0.0")
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute("SELECT f::text, pg_catalog.to_regproc('pliers_validators.'"
                           " || pliers._validator_name(f.id)) IS NOT NULL"
                           " FROM pliers.forms AS f WHERE f.id = %s", (draft.id,)).fetchone()
    assert row is not None and row[1] is True  # compiled
    return draft.id, str(row[0])


def answer_errors(conn: psycopg.Connection[Any], form: str, data: dict[str, Any], final: bool,
                  status: str = "published") -> list[tuple[str, str]]:
    """The (path, code) of the errors of _check_answers: the compiled validator of a
    published version, the interpreter as a draft version."""
    row = conn.execute("SELECT c.errors FROM pliers._check_answers(jsonb_populate_record("
                       "%s::pliers.forms, %s), %s, %s, NULL) AS c",
                       (form, Jsonb({"status": status}), Jsonb(data), final)).fetchone()
    assert row is not None
    return [(e["path"], e["code"]) for e in row[0]]


GEO_VALID = {"country": "fr", "region": "idf", "city": "paris", "also": ["paris"],
             "trips": [{"region": "ara", "stay": {"cities": ["lyon"]},
                        "days": [{"city": "lyon"}]},
                       {"region": "idf", "stay": {"cities": ["paris"]}}]}
GEO_BROKEN = {"country": "fr", "region": "cat", "city": "bcn", "also": ["paris", "bcn", "nope"],
              "trips": [{"region": "ara", "stay": {"cities": ["lyon", "paris"]},
                         "days": [{"city": "lyon"}, {"city": "bcn"}]},
                        {"region": "cat", "stay": {"cities": ["bcn", "nowhere"]}}]}
GEO_BROKEN_ERRORS = [
    ("$.data.region", "choice_filtered_out"),        # Catalonia is not in France
    ("$.data.also[0]", "choice_filtered_out"),       # Paris is not in the region answered
    ("$.data.also[2]", "invalid_choice"),            # no such item: that error only
    ("$.data.trips[0].stay.cities[1]", "choice_filtered_out"),  # the item's region
    ("$.data.trips[0].days[1].city", "choice_filtered_out"),    # the enclosing item's
    ("$.data.trips[1].region", "choice_filtered_out"),          # the root's country
    ("$.data.trips[1].stay.cities[1]", "choice_filtered_out"),  # an item with no region
]


def test_cascading_choices_over_data_sets(seeded: World, geo_lists: dict[str, str]) -> None:
    definition = geo_definition(geo_lists)
    _, form = published_row(seeded, definition)
    with psycopg.connect(seeded.admin_dsn) as conn:
        for final in (True, False):  # a draft check reports them too, as on inline choices
            for status in ("published", "draft"):  # compiled, interpreted
                assert answer_errors(conn, form, GEO_VALID, final, status) == []
                assert answer_errors(conn, form, GEO_BROKEN, final, status) == GEO_BROKEN_ERRORS
        row = conn.execute("SELECT c.errors -> 0 FROM pliers._check_answers(%s::pliers.forms,"
                           " %s, TRUE, NULL) AS c", (form, Jsonb(GEO_BROKEN))).fetchone()
        assert row is not None and row[0] == {
            "path": "$.data.region", "code": "choice_filtered_out",
            "message": '"cat" is not among the choices offered by the other answers'}
        # With no country answered, no region is offered.
        assert answer_errors(conn, form, {"region": "idf"}, True) == [
            ("$.data.region", "choice_filtered_out")]
        for answers in (GEO_VALID, GEO_BROKEN, {"country": "es", "trips": [{"region": "cat"}]},
                        {"also": "paris", "region": "idf"}, {"trips": [3, {"days": [{}]}]}):
            assert_same_verdicts(conn, form, definition, answers)


def test_cascading_data_set_choices_through_the_api(seeded: World,
                                                    geo_lists: dict[str, str]) -> None:
    form_id, _ = published_row(seeded, geo_definition(geo_lists))
    acme = seeded.orgs["acme"]
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, timeout=10) as app:
        with app.tenant(acme.id, acme.users["alice"]) as t:
            assert t.submissions.create(form_id, GEO_VALID, submit=True).data == GEO_VALID
        with pytest.raises(pliersdb.errors.ValidationError) as caught, \
                app.tenant(acme.id, acme.users["alice"]) as t:
            t.submissions.create(form_id, GEO_BROKEN, submit=True)
        assert [(e["path"], e["code"]) for e in caught.value.errors] == GEO_BROKEN_ERRORS


XLSFORM_CASCADE = """\
| survey |
| | type | name | label | choice_filter |
| | select_one_from_file regions.csv | region | Region | |
| | select_one_from_file districts.csv | district | District | region=${region} |
| settings |
| | form_title | form_id |
| | Cascade | cascade |
"""


def test_an_xlsform_choice_filter_over_external_lists_is_enforced(
        seeded: World, tmp_path: Any) -> None:
    """XLSForm's select_one_from_file with a choice_filter: the lists are the tenant's
    data sets (loaded from the CSV files), and the filter holds on the answers."""
    from pliersdb.formats import from_xlsform
    source = tmp_path / "cascade.md"
    source.write_text(XLSFORM_CASCADE, encoding="utf-8")
    definition = from_xlsform(source).definition
    district = definition["fields"][1]
    assert district["choiceList"] == "districts"
    assert district["choiceFilter"] == {"==": [{"choice": "region"}, {"var": "region"}]}
    acme = seeded.orgs["acme"]
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1, timeout=10) as app:
        with app.tenant(acme.id, acme.users["alice"]) as t:
            t.choice_lists.import_csv("regions", ["name,label", "north,North", "south,South"])
            t.choice_lists.import_csv("districts", [
                "name,label,region", "n1,Hills,north", "n2,Lakes,north", "s1,Coast,south"])
        form_id, _ = published_row(seeded, definition)
        with app.tenant(acme.id, acme.users["alice"]) as t:
            t.submissions.create(form_id, {"region": "north", "district": "n2"}, submit=True)
        with pytest.raises(pliersdb.errors.ValidationError) as caught, \
                app.tenant(acme.id, acme.users["alice"]) as t:
            t.submissions.create(form_id, {"region": "south", "district": "n2"}, submit=True)
        assert [(e["path"], e["code"]) for e in caught.value.errors] == [
            ("$.data.district", "choice_filtered_out")]
