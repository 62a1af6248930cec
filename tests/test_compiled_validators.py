"""Compiled validators (sql/43-compiled-validators.sql, docs/forms.md "Compiled
validators"): publishing a version compiles its validator, which pliers._check_answers
then uses instead of the interpreter; it belongs to pliers_owner and nobody else may run
it; a hostile definition compiles to code that validates as the interpreter does; the
migration compiles the versions published before it, and its rollback drops them.

tests/test_validation_properties.py checks that compiled and interpreted verdicts are
equal on generated definitions and answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from test_validation_properties import COMPILED_SETTINGS, _compiled_form, assert_same_verdicts

import pliersdb
from pliersdb.migrate import Migrator

DEFINITION: dict[str, Any] = {"fields": [
    {"type": "text", "name": "fullName", "required": True, "validation": {"maxLength": 80}},
    {"type": "integer", "name": "age", "validation": {"min": 0}},
]}
# Quotes, dollar quotes, semicolons, comments, backslashes, a NUL-free control character
# and unicode, wherever a definition holds free text that the generated code embeds.
HOSTILE = "it's $$; DROP TABLE pliers.forms; -- $f$ \\ \"q\" \u0001 中文 ☃ '); --"
HOSTILE_DEFINITION: dict[str, Any] = {"title": HOSTILE, "description": HOSTILE, "fields": [
    {"id": HOSTILE, "type": "text", "name": "a", "label": HOSTILE,
     "validation": {"pattern": "^(it's|\\$\\$|a;b|\\\\|中文|\"q\"|'\\);)+$", "maxLength": 40}},
    {"type": "single_choice", "name": "b", "label": HOSTILE,
     "choices": [{"code": HOSTILE, "label": HOSTILE}, {"code": "$$"}]},
    {"type": "text", "name": "c", "readOnly": True, "default": HOSTILE},
    {"type": "text", "name": "d", "visibleWhen": {"field": "b", "operator": "equals",
                                                  "value": HOSTILE}},
    {"type": "group", "name": "g", "fields": [
        {"type": "text", "name": "e", "requiredWhen": {"field": "b", "operator": "in",
                                                       "value": [HOSTILE, "$$"]}}]},
    {"type": "repeat", "name": "r", "fields": [
        {"type": "text", "name": "f", "visibleWhen": {"field": "a", "operator": "not_equals",
                                                      "value": "it's"}}]},
]}


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "compiled", {
        "acme": {"users": {"alice": ["org_admin"]}, "limits": {"max_forms": 50}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def publish(app: pliersdb.Database, seeded: World, definition: dict[str, Any]) -> uuid.UUID:
    acme = seeded.orgs["acme"]
    with app.tenant(acme.id, acme.users["alice"]) as t:
        draft = t.forms.create("Compiled", f"form-{uuid.uuid4().hex[:8]}", definition)
    with app.tenant(acme.id, acme.users["alice"]) as t:
        t.forms.publish(draft.id, "1.0.0")
    return draft.id


def validator(conn: psycopg.Connection[Any], form_id: uuid.UUID) -> Any:
    """The regprocedure of the form version's compiled validator, or None."""
    row = conn.execute("SELECT pg_catalog.to_regprocedure('pliers_validators.'"
                       " || pliers._validator_name(%s) || '(jsonb, boolean, jsonb)')",
                       (form_id,)).fetchone()
    assert row is not None
    return row[0]


def form_row(conn: psycopg.Connection[Any], form_id: uuid.UUID) -> str:
    row = conn.execute("SELECT f::text FROM pliers.forms AS f WHERE f.id = %s",
                       (form_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_publishing_compiles_a_validator_that_only_pliers_owner_may_run(
        app: pliersdb.Database, seeded: World) -> None:
    acme = seeded.orgs["acme"]
    with app.tenant(acme.id, acme.users["alice"]) as t:
        draft = t.forms.create("Compiled", f"form-{uuid.uuid4().hex[:8]}", DEFINITION)
    with psycopg.connect(seeded.admin_dsn) as conn:
        assert validator(conn, draft.id) is None  # a draft has none
    with app.tenant(acme.id, acme.users["alice"]) as t:
        t.forms.publish(draft.id, "1.0.0")
    with psycopg.connect(seeded.admin_dsn) as conn:
        function = validator(conn, draft.id)
        assert function is not None
        row = conn.execute(
            "SELECT r.rolname, p.prosecdef, p.proconfig,"
            " has_function_privilege('pliers_app', p.oid, 'EXECUTE'),"
            " has_function_privilege('public', p.oid, 'EXECUTE'),"
            " has_schema_privilege('pliers_app', 'pliers_validators', 'USAGE')"
            " FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_roles AS r ON r.oid = p.proowner"
            " WHERE p.oid = %s::regprocedure", (function,)).fetchone()
        assert row == ("pliers_owner", False, ['search_path=""'], False, False, False)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), \
            app.tenant(acme.id, acme.users["alice"]) as t:
        t.execute(f"SELECT * FROM {function.split('(')[0]}('{{}}', TRUE, NULL)")


def test_a_published_version_is_validated_by_its_compiled_validator(
        app: pliersdb.Database, seeded: World) -> None:
    form_id = publish(app, seeded, DEFINITION)
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("SET LOCAL track_functions = 'all'")
        form = form_row(conn, form_id)
        calls = ("SELECT coalesce(pg_stat_get_xact_function_calls(%s::regprocedure), 0),"
                 " coalesce(pg_stat_get_xact_function_calls("
                 "'pliers._process_instance(jsonb, jsonb, jsonb, jsonb, text, text, boolean,"
                 " boolean, jsonb)'::regprocedure), 0)")
        function = validator(conn, form_id)
        row = conn.execute(
            "SELECT c.cleaned, c.errors, c.final_errors"
            " FROM pliers._check_answers(%s::pliers.forms, %s, FALSE, NULL) AS c",
            (form, Jsonb({"age": -1, "zz": None}))).fetchone()
        assert row == ({"age": -1}, [
            {"path": "$.data.zz", "code": "unknown_field",
             "message": '"zz" is not a field of this form'},
            {"path": "$.data.age", "code": "below_minimum", "message": "must be at least 0"},
        ], [
            {"path": "$.data.fullName", "code": "required", "message": "is required"},
            {"path": "$.data.age", "code": "below_minimum", "message": "must be at least 0"},
        ])
        assert conn.execute(calls, (function,)).fetchone() == (1, 0)  # not the interpreter
        conn.execute("SELECT pliers._check_answers(jsonb_populate_record(%s::pliers.forms,"
                     " '{\"status\": \"draft\"}'), '{}', TRUE, NULL)", (form,))
        compiled, interpreted = conn.execute(calls, (function,)).fetchone() or (None, None)
        assert compiled == 1 and interpreted > 0  # a draft version: interpreted


def test_a_hostile_definition_compiles_and_validates_as_the_interpreter(
        app: pliersdb.Database, seeded: World) -> None:
    form_id = publish(app, seeded, HOSTILE_DEFINITION)
    with psycopg.connect(seeded.admin_dsn) as conn:
        assert validator(conn, form_id) is not None
        form = form_row(conn, form_id)
        for answers in [
            {"a": "it's$$a;b", "b": HOSTILE, "c": HOSTILE, "d": "x", "g": {"e": "y"},
             "r": [{"f": "z"}]},
            {"a": "it's", "b": "$$", "c": "changed", "d": "dropped", "g": {}, "r": [{"f": 1}]},
            {"a": HOSTILE, "b": "$$; --", "c": None, HOSTILE: 1, "g": {HOSTILE: "'"},
             "r": [{"f": "z", "$$": 2}, "'"]},
        ]:
            assert_same_verdicts(conn, form, HOSTILE_DEFINITION, answers)
        errors = conn.execute(
            "SELECT c.errors FROM pliers._check_answers(%s::pliers.forms, %s, TRUE, NULL) AS c",
            (form, Jsonb({"a": "nope", "b": "$$"}))).fetchone()
        assert errors is not None
        assert [e["code"] for e in errors[0]] == ["pattern_mismatch", "required"]
        assert conn.execute("SELECT to_regclass('pliers.forms') IS NOT NULL").fetchone() == (True,)


# Keys as written (quotes, backslashes, dollar quotes, commas, 200 characters) and the
# kinds and rules of issue 17, where the generated code turns names into JSON text,
# key lists and paths.
KEY = 'it\'s "$$", a\\b; -- x/y: ?'
LONG = "k" * 199 + "!"
KEYED_DEFINITION: dict[str, Any] = {"fields": [
    {"type": "text", "name": KEY, "required": True},
    {"type": "single_choice", "name": "pick, one", "allowOther": True, "choices": [{"code": "a"}]},
    {"type": "group", "name": "$$ group", "validation": {"minAnswered": 2}, "fields": [
        {"type": "phone", "name": "tel (home)"},
        {"type": "phone", "name": LONG, "validation": {"format": "e164"}},
        {"type": "display", "name": "note", "content": "x"},
        {"type": "group", "name": "inner, g", "fields": [{"type": "text", "name": "z z"}]}]},
    {"type": "ranking", "name": "rank \"it\"", "choices": [{"code": "x"}, {"code": "y"}]},
    {"type": "single_choice", "name": "kids",
     "choices": [{"code": "0"}, {"code": "1"}, {"code": "2"}]},
    {"type": "repeat", "name": "trips: list",
     "visibleWhen": {"field": "kids", "operator": "greater_than", "value": 0},
     "fields": [{"type": "geotrace", "name": "route/1", "required": True},
                {"type": "geoshape", "name": "zone-1"},
                {"type": "signature", "name": "sig \\"}]},
    {"type": "single_choice", "name": "city", "choiceList": "cities"},
]}


def test_keys_as_written_and_the_new_kinds_compile_and_validate_as_the_interpreter(
        app: pliersdb.Database, seeded: World) -> None:
    acme = seeded.orgs["acme"]
    with app.tenant(acme.id, acme.users["alice"]) as t:  # the tenant's list the form names
        t.choice_lists.create("cities", [{"code": "lyon", "label": "Lyon"},
                                         {"code": "paris", "label": "Paris"}])
    form_id = publish(app, seeded, KEYED_DEFINITION)
    ring = [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1}, {"lat": 1, "lon": 1}, {"lat": 0, "lon": 0}]
    with psycopg.connect(seeded.admin_dsn) as conn:
        assert validator(conn, form_id) is not None
        form = form_row(conn, form_id)
        for answers in [
            {KEY: "x", "pick, one": "other", "pick, one_other": "b",
             "$$ group": {"tel (home)": "+1 (555) 123-4567 ext. 8", LONG: "+33123456789"},
             'rank "it"': ["y", "x"], "kids": "2", "city": "lyon",
             "trips: list": [{"route/1": ring[:2], "zone-1": ring}]},
            {KEY: "", "pick, one": "other", "$$ group": {"tel (home)": "12", LONG: "+33 1",
                                                         "inner, g": {"z z": "a", "q": 1}},
             'rank "it"': ["x"], "kids": "0", "trips: list": [{"zone-1": ring[:3]}], "zz\"": 1},
            {"$$ group": {"inner, g": {"z z": "a"}}, 'rank "it"': ["x", "x", "w"], "kids": "1",
             "trips: list": [{"route/1": [{"lat": 91, "lon": 0}], "zone-1": [*ring[:3], ring[2]],
                              "sig \\": "data:image/png;base64,AAAA"}, 3],
             "city": 4},
            {"$$ group": None, "kids": "x"},
            {"$$ group": "not an object", 'rank "it"': "x"},
        ]:
            assert_same_verdicts(conn, form, KEYED_DEFINITION, answers)
        row = conn.execute(
            "SELECT c.cleaned, c.errors"
            " FROM pliers._check_answers(%s::pliers.forms, %s, TRUE, NULL) AS c",
            (form, Jsonb({KEY: "x", "pick, one": "other", "pick, one_other": "b", "kids": "1",
                          "$$ group": {"tel (home)": "555 1234"}, 'rank "it"': ["x"],
                          "trips: list": [{"zone-1": ring[:3]}]}))).fetchone()
        assert row is not None
        assert row[0][KEY] == "x" and row[0]["pick, one_other"] == "b"
        assert [(e["path"], e["code"]) for e in row[1]] == [
            ('$.data."$$ group"', "too_few_answers"),
            ('$.data."rank \\"it\\""', "incomplete_ranking"),
            ('$.data."trips: list"[0]."route/1"', "required"),
            ('$.data."trips: list"[0]."zone-1"', "too_few_points"),
        ]


def test_the_migration_compiles_published_versions_and_its_rollback_drops_them(
        fresh_db: str) -> None:
    migrator = Migrator(fresh_db)
    since = [m.migration_id for m in migrator.status()
             if m.migration_id >= "0016.pliers-compiled-validators"]
    assert migrator.rollback(len(since))[-1] == "0016.pliers-compiled-validators"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        org = appworld.seed_org(conn, f"mig-{uuid.uuid4().hex[:6]}", {"ann": ["org_admin"]})
        published = conn.execute(
            "INSERT INTO pliers.forms (organization_id, name, slug, definition, status, version,"
            " published_at) VALUES (%s, 'Before', 'before', %s, 'published', '1.0.0', now())"
            " RETURNING id", (org.id, Jsonb(DEFINITION))).fetchone()
        draft = conn.execute(
            "INSERT INTO pliers.forms (organization_id, name, slug, definition)"
            " VALUES (%s, 'Draft', 'draft', %s) RETURNING id",
            (org.id, Jsonb(DEFINITION))).fetchone()
        assert published is not None and draft is not None
    migrator.migrate()
    with psycopg.connect(fresh_db) as conn:
        assert validator(conn, published[0]) is not None
        assert validator(conn, draft[0]) is None
        assert_same_verdicts(conn, form_row(conn, published[0]), DEFINITION,
                             {"fullName": "x" * 81, "age": 1.5})
    migrator.rollback(len(since))
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM pg_catalog.pg_namespace"
                            " WHERE nspname = 'pliers_validators'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_catalog.pg_proc"
                            " WHERE proname ~ '^_(compile|check_answers)'").fetchone() == (0,)


def test_migration_0033_compiles_published_versions_again_and_its_rollback_too(
        fresh_db: str) -> None:
    """0033 changes the code generator: every published version is compiled again; its
    rollback compiles them again with the generator it restores, and drops the validator
    of a version that the restored one refuses (here one with a calculation)."""
    migrator = Migrator(fresh_db)
    since = [m.migration_id for m in migrator.status()
             if m.migration_id >= "0033.pliers-real-forms"]
    assert migrator.rollback(len(since))[-1] == "0033.pliers-real-forms"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        org = appworld.seed_org(conn, f"mig-{uuid.uuid4().hex[:6]}", {"ann": ["org_admin"]})
        before = conn.execute(
            "INSERT INTO pliers.forms (organization_id, name, slug, definition, status, version,"
            " published_at) VALUES (%s, 'Before', 'before', %s, 'published', '1.0.0', now())"
            " RETURNING id", (org.id, Jsonb(DEFINITION))).fetchone()
        assert before is not None
        conn.execute("SELECT pliers._compile_validator(f) FROM pliers.forms AS f WHERE f.id = %s",
                     (before[0],))
    migrator.migrate()
    calculated = {"fields": [*DEFINITION["fields"], {
        "type": "calculated", "name": "next", "expression": {"+": [{"var": "age"}, 1]}}]}
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert validator(conn, before[0]) is not None
        assert_same_verdicts(conn, form_row(conn, before[0]), DEFINITION,
                             {"fullName": "x" * 81, "age": 1.5})
        after = conn.execute(
            "INSERT INTO pliers.forms (organization_id, name, slug, definition, status, version,"
            " published_at) VALUES (%s, 'After', 'after', %s, 'published', '1.0.0', now())"
            " RETURNING id", (org.id, Jsonb(calculated))).fetchone()
        assert after is not None
        conn.execute("SELECT pliers._compile_validator(f) FROM pliers.forms AS f WHERE f.id = %s",
                     (after[0],))
        assert validator(conn, after[0]) is not None
        assert_same_verdicts(conn, form_row(conn, after[0]), calculated, {"age": 2})
    migrator.rollback(len(since))
    with psycopg.connect(fresh_db) as conn:
        assert validator(conn, before[0]) is not None
        assert validator(conn, after[0]) is None
        row = conn.execute("SELECT c.errors FROM pliers._check_answers(%s::pliers.forms, %s,"
                           " TRUE, NULL) AS c", (form_row(conn, before[0]),
                                                 Jsonb({"age": -1}))).fetchone()
        assert row is not None and [e["code"] for e in row[0]] == ["required", "below_minimum"]


def test_a_definition_that_is_invalid_or_large_stays_interpreted(
        db: psycopg.Connection[Any]) -> None:
    form = ("jsonb_populate_record(NULL::pliers.forms, jsonb_build_object('id',"
            " gen_random_uuid(), 'status', 'published', 'definition', %s::jsonb))")
    fields = [{"type": "text", "name": f"f{i}"} for i in range(101)]
    for definition, compiled in [({"fields": fields[:100]}, True), ({"fields": fields}, False),
                                 ({"fields": [{"type": "text"}]}, False)]:
        row = db.execute(f"SELECT pliers._compile_validator({form})",
                         (Jsonb(definition),)).fetchone()
        assert row == (compiled,)


# Condition leaves {"expression": ...} (visibleWhen, requiredWhen, conditional) and inline
# choice filters are compiled: generated forms mix them with {field, operator, value}
# leaves, all / any / not, and filters that read the root, the repeat item and the
# choice's code and attributes.
WEIGHTED = [{"code": c, "attributes": {"w": w, "tag": t}} for c, w, t in
            (("a", 1, "x"), ("b", 2, "y"), ("c", 3, "x"))] + [{"code": "d"}]


@st.composite
def _leaf(draw: st.DrawFn, refs: tuple[str, ...]) -> dict[str, Any]:
    ref = draw(st.sampled_from(refs))
    number = ref in ("n", "r.k")
    if draw(st.booleans()):  # {field, operator, value}
        operator = draw(st.sampled_from(
            ["greater_than", "less_or_equal", "equals", "empty"] if number
            else ["equals", "not_equals", "in", "not_empty"]))
        if operator in ("empty", "not_empty"):
            return {"field": ref, "operator": operator}
        value = (draw(st.integers(-2, 4)) if number else
                 draw(st.sampled_from(["a", "b", "d"])) if operator != "in" else ["a", "c"])
        return {"field": ref, "operator": operator, "value": value}
    if number:
        return {"expression": {draw(st.sampled_from([">", "<=", "==", "!="])): [
            {"var": ref}, {"+": [draw(st.integers(-2, 3)), {"var": "n"}]}
            if draw(st.booleans()) else draw(st.integers(-2, 4))]}}
    return {"expression": draw(st.sampled_from([
        {"==": [{"var": ref}, "a"]}, {"in": [{"var": ref}, ["b", "c"]]},
        {"regex": [{"coalesce": [{"var": ref}, ""]}, "^[ab]"]}, {"empty": [{"var": ref}]}]))}


def _condition(refs: tuple[str, ...], depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return _leaf(refs)
    inner = _condition(refs, depth - 1)
    return st.one_of(
        _leaf(refs),
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda part: {"not": part}, inner))


@st.composite
def _choice_filter(draw: st.DrawFn, scope: str) -> dict[str, Any]:
    number = "r.k" if scope and draw(st.booleans()) else "n"
    return draw(st.sampled_from([
        {draw(st.sampled_from(["<=", ">", "=="])): [{"choice": "w"}, {"var": number}]},
        {"==": [{"choice": "tag"}, "x"]},
        {"!=": [{"choice": "code"}, {"var": "s"}]},
        {"or": [{"empty": [{"var": number}]}, {">=": [{"var": number}, {"choice": "w"}]}]},
    ]))


@st.composite
def _filtered_form(draw: st.DrawFn) -> dict[str, Any]:
    def visibility(*refs: str, container: bool = False) -> dict[str, Any]:
        """A condition on the answers refs (earlier fields: no cycle)."""
        kind = draw(st.sampled_from(["visibleWhen", "conditional", "none"] if container
                                    else ["visibleWhen", "requiredWhen", "conditional", "none"]))
        if kind == "conditional":
            return {"conditional": {"when": draw(st.lists(_leaf(refs), min_size=1, max_size=3)),
                                    "show": draw(st.booleans())}}
        return {} if kind == "none" else {kind: draw(_condition(refs))}
    return {"fields": [
        {"type": "integer", "name": "n"},
        {"type": "single_choice", "name": "s", "choices": WEIGHTED, **visibility("n")},
        {"type": "multiple_choice", "name": "m", "choices": WEIGHTED,
         "choiceFilter": draw(_choice_filter("")), **visibility("n", "s")},
        {"type": "text", "name": "t", **visibility("n", "s")},
        {"type": "repeat", "name": "r", **visibility("n", "s", container=True), "fields": [
            {"type": "integer", "name": "k"},
            {"type": "single_choice", "name": "p", "choices": WEIGHTED,
             "choiceFilter": draw(_choice_filter("r")), **visibility("n", "s", "r.k")},
            {"type": "group", "name": "g", **visibility("n", "s", "r.k", "r.p", container=True),
             "fields": [
                {"type": "multiple_choice", "name": "q", "choices": WEIGHTED,
                 "choiceFilter": draw(_choice_filter("r"))}]},
        ]},
    ]}


CODES = st.sampled_from(["a", "b", "c", "d", "e", 1])
ANSWERS = st.fixed_dictionaries({}, optional={
    "n": st.one_of(st.integers(-1, 4), st.just("x")),
    "s": CODES, "m": st.one_of(st.lists(CODES, max_size=4), CODES), "t": st.just("text"),
    "r": st.lists(st.fixed_dictionaries({}, optional={
        "k": st.integers(-1, 4), "p": st.one_of(CODES, st.lists(CODES, max_size=2)),
        "g": st.fixed_dictionaries({}, optional={"q": st.lists(CODES, max_size=3)})}),
        max_size=3),
})


@settings(COMPILED_SETTINGS, max_examples=80)
@given(_filtered_form(), ANSWERS)
def test_expression_leaves_and_choice_filters_compile_to_the_interpreters_verdicts(
        db: psycopg.Connection[Any], definition: dict[str, Any], answers: dict[str, Any]) -> None:
    with db.transaction(force_rollback=True):
        form = _compiled_form(db, definition)
        assert_same_verdicts(db, form, definition, answers)


def test_expression_leaves_and_choice_filters_are_not_interpreted(
        db: psycopg.Connection[Any]) -> None:
    """The compiled validator evaluates them without the interpreter's functions."""
    definition = {"fields": [
        {"type": "integer", "name": "n"},
        {"type": "text", "name": "t", "requiredWhen": {"any": [
            {"expression": {">": [{"var": "n"}, 2]}}, {"not": {"expression": {"==": [1, 1]}}}]}},
        {"type": "multiple_choice", "name": "m", "choices": WEIGHTED,
         "visibleWhen": {"expression": {">=": [{"var": "n"}, 0]}},
         "choiceFilter": {"<=": [{"choice": "w"}, {"var": "n"}]}},
    ]}
    db.execute("SET LOCAL track_functions = 'all'")
    form = _compiled_form(db, definition)
    interpreter = ("SELECT coalesce(pg_stat_get_xact_function_calls(%s::regprocedure), 0)"
                   " + coalesce(pg_stat_get_xact_function_calls(%s::regprocedure), 0)")
    functions = ("pliers._expr_eval(jsonb, jsonb, jsonb, text, jsonb, jsonb)",
                 "pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text,"
                 " jsonb)")
    row = db.execute("SELECT c.errors FROM pliers._check_answers(%s::pliers.forms, %s, TRUE, NULL)"
                     " AS c", (form, Jsonb({"n": 3, "m": ["a", "c", "d", "zz"]}))).fetchone()
    assert row is not None
    assert [(e["path"], e["code"]) for e in row[0]] == [
        ("$.data.t", "required"), ("$.data.m[3]", "invalid_choice"),
        ("$.data.m[2]", "choice_filtered_out")]
    assert db.execute(interpreter, functions).fetchone() == (0,)
