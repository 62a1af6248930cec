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
