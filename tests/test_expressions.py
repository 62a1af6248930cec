"""Expressions (sql/41-expressions.sql, docs/expressions.md): the type checker
``pliers._expr_check``, the interpreter ``pliers._expr_eval``, the compiler
``pliers._expr_sql`` and ``pliers._resolve_ref``.

Per-operator tables of cases run through all three: each expression is accepted with its
type, and the interpreter and the compiled SQL (run with its references bound as columns
of a VALUES list) give the expected value. Hypothesis then generates well-typed random
expressions over random answers: the checker accepts every one, and the interpreter and
the compiled SQL agree on every one; a mutated expression (an unknown reference, an
unknown operator, a string where a number is required) is refused with the path of the
mutated node. Neither the checker nor the interpreter raises on any JSON.

The module's database is built from this checkout's sql/ (``pliersdb.schema.build``),
so that it tests what sql/ defines."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pgcluster as clusterlib
import psycopg
import pytest
from appworld import create_database, drop_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

from pliersdb import schema

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# The references of every case and generated expression, with their types.
VARS: dict[str, str] = {
    "n1": "number",
    "n2": "number",
    "s1": "string",
    "s2": "string",
    "b1": "boolean",
    "d1": "date",
    "d2": "date",
    "t1": "time",
    "dt1": "datetime",
    "k1": "ordinal",
    "m1": "list:string",
    "items": "list:object",
    "items.price": "list:number",
    "items.tag": "list:string",
    "h1": "any",
    "f1": "opaque",
    "first name": "string",
    # never answered in ROOT
    "n9": "number",
    "s9": "string",
    "b9": "boolean",
    "d9": "date",
    "m9": "list:string",
    "l9": "list:number",
}

ROOT: dict[str, Any] = {
    "n1": 3,
    "n2": 4.5,
    "s1": " Hello ",
    "s2": "b",
    "b1": True,
    "d1": "2024-01-31",
    "d2": "2024-03-01",
    "t1": "10:30",
    "dt1": "2024-01-01T10:00:00+02:00",
    "k1": "2",
    "m1": ["x", "y"],
    "items": [{"price": 2, "tag": "a"}, {"price": None, "tag": " "}, {"price": 5.5}],
    "h1": "zz",
    "f1": [{"id": 1}],
    "first name": "Ann",
}


@pytest.fixture(scope="module")
def conn(cluster: clusterlib.Cluster, template: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to a database built from this checkout's sql/ (template: roles exist)."""
    name = f"expr_{template[-8:]}"
    dsn = create_database(cluster, name)
    try:
        with psycopg.connect(dsn) as build:
            schema.build(build)
        with psycopg.connect(dsn, autocommit=True) as connection:
            yield connection
    finally:
        drop_database(cluster, name)


def check(
    conn: psycopg.Connection[Any],
    expr: Any,
    expected: str | None = None,
    variables: dict[str, str] | None = None,
    choice: bool = False,
) -> tuple[list[dict[str, str]], str | None, list[str]]:
    row = conn.execute(
        "SELECT to_jsonb(errors), type, refs FROM pliers._expr_check(%s, '$.e', %s, %s, %s)",
        (Jsonb(expr), Jsonb(VARS if variables is None else variables), expected, choice),
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def codes(errors: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(e["path"], e["code"]) for e in errors]


def evaluate(
    conn: psycopg.Connection[Any], expr: Any, root: dict[str, Any], choice: Any = None
) -> tuple[Any, Any]:
    """(interpreted, compiled) values of a checked expression at the root of the answers:
    the references are resolved by _resolve_ref and bound as columns of VALUES."""
    errors, _type, refs = check(conn, expr, choice=choice is not None)
    assert errors == [], errors
    values = [
        conn.execute(
            "SELECT pliers._resolve_ref(%s, %s, '{}', '', %s)", (ref, Jsonb(root), Jsonb(root))
        ).fetchone()[0]  # type: ignore[index]
        for ref in refs
    ]
    columns = [f"a{i}" for i in range(len(refs))] + ["ch"]
    bound = {ref: f"v.a{i}" for i, ref in enumerate(refs)} | {"@choice": "v.ch"}
    compiled = conn.execute(
        "SELECT pliers._expr_sql(%s, %s, %s)", (Jsonb(expr), Jsonb(bound), Jsonb(VARS))
    ).fetchone()[0]  # type: ignore[index]
    row = conn.execute(
        sql.SQL(
            "SELECT pliers._expr_eval(%s, %s, '{{}}', '', %s, %s), {compiled}, "
            "pliers._expr_eval(%s, %s, '{{}}', '', %s, %s) IS NOT DISTINCT FROM {compiled} "
            "FROM (VALUES ({values})) AS v ({columns})"
        ).format(
            compiled=sql.SQL(compiled),  # the function's output is the SQL under test
            values=sql.SQL(", ").join([sql.SQL("%s::jsonb")] * len(columns)),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        ),
        [Jsonb(expr), Jsonb(root), Jsonb(root), Jsonb(choice)] * 2
        + [None if v is None else Jsonb(v) for v in values]
        + [Jsonb(choice)],
    ).fetchone()
    assert row is not None
    assert row[2], f"{expr}: interpreted {row[0]!r}, compiled {row[1]!r}\n{compiled}"
    return row[0], row[1]


# (expression, expected value) at ROOT, per operator ------------------------------------

V = {"var": "n1"}
CASES: list[tuple[Any, Any]] = [
    # literals and references
    (1.5, 1.5),
    ("a", "a"),
    (True, True),
    ({"var": "n1"}, 3),
    ({"var": "first name"}, "Ann"),
    ({"var": "items.price"}, [2, 5.5]),
    ({"var": "items.tag"}, ["a"]),
    # == != (same type; numbers numerically; null == null; ordinal codes with numbers)
    ({"==": [{"var": "n1"}, 3.0]}, True),
    ({"==": [{"var": "s2"}, "b"]}, True),
    ({"!=": [{"var": "s2"}, "b"]}, False),
    ({"==": [{"var": "k1"}, 2]}, True),
    ({"==": [{"var": "k1"}, "2"]}, True),
    ({"==": [{"var": "k1"}, "2.0"]}, False),
    ({"==": [{"var": "n9"}, None]}, True),
    ({"!=": [{"var": "n1"}, None]}, True),
    ({"==": [None, None]}, True),
    ({"==": [{"var": "b1"}, True]}, True),
    ({"==": [{"var": "dt1"}, "2024-01-01T08:00:00Z"]}, True),
    ({"==": [{"var": "t1"}, "10:30:00"]}, True),
    ({"==": [{"var": "h1"}, "zz"]}, True),
    ({"==": [{"var": "n9"}, 3]}, False),
    ({"==": [{"var": "s1"}, {"var": "s2"}]}, False),
    # < <= > >= (null operand -> false)
    ({"<": [{"var": "n1"}, {"var": "n2"}]}, True),
    ({">=": [{"var": "n1"}, 3]}, True),
    ({">": [{"var": "k1"}, 10]}, False),
    ({"<": [{"var": "k1"}, 10]}, True),
    ({"<": [{"var": "d1"}, {"var": "d2"}]}, True),
    ({"<": [{"var": "d1"}, "2024-01-30"]}, False),
    ({"<": [{"var": "t1"}, "09:00"]}, False),
    ({"<=": [{"var": "dt1"}, "2024-01-01T08:00:00Z"]}, True),
    ({"<": [{"var": "s2"}, "a"]}, False),
    ({">": ["b", "B"]}, True),
    ({"<": [{"var": "n9"}, 1]}, False),
    ({">=": [{"var": "n9"}, 1]}, False),
    # and or ! if (null counts false)
    ({"and": [{"var": "b1"}, True]}, True),
    ({"and": [{"var": "b1"}, {"var": "b9"}]}, False),
    ({"or": [{"var": "b9"}, False]}, False),
    ({"or": [{"var": "b9"}, {"var": "b1"}]}, True),
    ({"!": {"var": "b9"}}, True),
    ({"!": [{"var": "b1"}]}, False),
    ({"if": [{"var": "b1"}, 1, 2]}, 1),
    ({"if": [{"var": "b9"}, 1, False, 2, 3]}, 3),
    ({"if": [{"var": "b9"}, "2020-01-01", {"var": "d1"}]}, "2024-01-31"),
    ({"if": [True, None, 1]}, None),
    ({"if": [True, {"var": "k1"}, "x"]}, "2"),
    # arithmetic (any null operand -> null; divisor 0 -> null)
    ({"+": [V, 1, 0.5]}, 4.5),
    ({"*": [V, 2, 2]}, 12),
    ({"-": [V, 5]}, -2),
    ({"-": V}, -3),
    ({"/": [V, 4]}, 0.75),
    ({"/": [V, 0]}, None),
    ({"%": [7, V]}, 1),
    ({"%": [-7, V]}, -1),
    ({"%": [V, 0]}, None),
    ({"+": [V, {"var": "n9"}]}, None),
    ({"min": [V, 1, 2]}, 1),
    ({"max": [V, {"var": "n2"}]}, 4.5),
    ({"min": [V, {"var": "n9"}]}, None),
    ({"min": {"var": "items.price"}}, 2),
    ({"max": [{"var": "items.price"}]}, 5.5),
    ({"abs": -2}, 2),
    ({"round": 2.5}, 3),
    ({"round": -2.5}, -3),
    ({"round": [2.345, 2]}, 2.35),
    ({"round": [1234, -2]}, 1200),
    ({"floor": -1.5}, -2),
    ({"ceil": 1.2}, 2),
    ({"*": [1e300, 1e300]}, 10**600),
    ({"*": [{"*": [1e300, 1e300]}, 2]}, None),
    # strings
    ({"cat": ["a", V, None, True, {"var": "d1"}]}, "a3true2024-01-31"),
    ({"cat": [None]}, ""),
    ({"length": {"var": "s1"}}, 7),
    ({"length": {"var": "m1"}}, 2),
    ({"length": {"var": "s9"}}, 0),
    ({"lower": "AbC"}, "abc"),
    ({"upper": "ab"}, "AB"),
    ({"trim": {"var": "s1"}}, "Hello"),
    ({"substr": ["abcdef", 2]}, "cdef"),
    ({"substr": ["abcdef", -2]}, "ef"),
    ({"substr": ["abcdef", 1, 2]}, "bc"),
    ({"substr": ["abcdef", 1, -2]}, "bcd"),
    ({"substr": ["abcdef", -4, -1]}, "cde"),
    ({"substr": ["abc", 10]}, ""),
    ({"substr": ["abc", -10, 2]}, "ab"),
    ({"substr": ["abc", 0, {"var": "n9"}]}, None),
    ({"substr": [{"var": "s9"}, 0]}, None),
    ({"substr": ["abc", {"var": "n9"}]}, None),
    ({"round": [2.5, {"var": "n9"}]}, None),
    ({"regex": [{"var": "s2"}, "^[a-c]$"]}, True),
    ({"regex": [{"var": "s9"}, "^$"]}, False),
    ({"regex": ["ABC", "^[a-z]+$"]}, False),
    # dates
    ({"date_add": [{"var": "d1"}, 1, "month"]}, "2024-02-29"),
    ({"date_add": ["2024-02-29", 1, "year"]}, "2025-02-28"),
    ({"date_add": [{"var": "d1"}, -2, "week"]}, "2024-01-17"),
    ({"date_add": [{"var": "d1"}, 1.9, "day"]}, "2024-02-01"),
    ({"date_add": ["9999-12-31", 1, "day"]}, None),
    ({"date_add": [{"var": "d9"}, 1, "day"]}, None),
    ({"date_diff": [{"var": "d1"}, {"var": "d2"}, "day"]}, 30),
    ({"date_diff": [{"var": "d2"}, {"var": "d1"}, "week"]}, -4),
    ({"date_diff": ["2024-01-31", "2024-02-29", "month"]}, 0),
    ({"date_diff": ["2000-02-29", "2024-02-28", "year"]}, 23),
    ({"date_diff": ["2020-03-15", "2020-01-01", "month"]}, -2),
    # choices, lists, blanks
    ({"selected": [{"var": "m1"}, "y"]}, True),
    ({"selected": [{"var": "k1"}, "2"]}, True),
    ({"selected": [{"var": "m9"}, "y"]}, False),
    ({"count": {"var": "items"}}, 3),
    ({"count": {"var": "items.price"}}, 2),
    ({"count": {"var": "f1"}}, 1),
    ({"count": {"var": "m9"}}, 0),
    ({"sum": {"var": "items.price"}}, 7.5),
    ({"sum": {"var": "l9"}}, 0),
    ({"coalesce": [{"var": "s9"}, "  ", {"var": "s2"}]}, "b"),
    ({"coalesce": [{"var": "n9"}, 1]}, 1),
    ({"coalesce": [{"var": "n9"}, None]}, None),
    ({"coalesce": [{"var": "m9"}, {"var": "m1"}]}, ["x", "y"]),
    ({"empty": {"var": "s9"}}, True),
    ({"empty": {"var": "f1"}}, False),
    ({"empty": "  "}, True),
    ({"empty": {"var": "n1"}}, False),
    ({"empty": {"var": "l9"}}, True),
    ({"in": [{"var": "s2"}, ["a", "b"]]}, True),
    ({"in": [V, [1, 2]]}, False),
    ({"in": [V, [3.0]]}, True),
    ({"in": [{"var": "k1"}, [1, 2]]}, True),
    ({"in": [{"var": "s9"}, ["a"]]}, False),
    ({"in": [V, []]}, False),
    ({"in": [{"var": "t1"}, ["10:30:00"]]}, True),
    ({"in": [{"var": "d1"}, ["2024-01-31"]]}, True),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[json.dumps(c[0])[:60] for c in CASES])
def test_operator(conn: psycopg.Connection[Any], expr: Any, expected: Any) -> None:
    interpreted, compiled = evaluate(conn, expr, ROOT)
    assert interpreted == expected
    assert compiled == expected


def test_today_and_now(conn: psycopg.Connection[Any]) -> None:
    assert (
        evaluate(conn, {"today": []}, ROOT)[0]
        == conn.execute("SELECT current_date::text").fetchone()[0]
    )  # type: ignore[index]
    now = evaluate(conn, {"now": []}, ROOT)[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now)
    assert evaluate(conn, {"<": [{"var": "dt1"}, {"now": []}]}, ROOT) == (True, True)
    assert evaluate(
        conn, {"date_diff": [{"today": []}, {"date_add": [{"today": []}, 3, "day"]}, "day"]}, ROOT
    ) == (3, 3)


def test_choice_in_a_choice_filter(conn: psycopg.Connection[Any]) -> None:
    choice = {"code": "2", "label": "Two", "attributes": {"region": "north", "size": 3}}
    assert evaluate(conn, {"==": [{"choice": "code"}, "2"]}, ROOT, choice) == (True, True)
    assert evaluate(conn, {"==": [{"choice": "region"}, "north"]}, ROOT, choice) == (True, True)
    assert evaluate(conn, {">": [{"choice": "size"}, {"var": "n1"}]}, ROOT, choice) == (
        False,
        False,
    )
    assert evaluate(conn, {"empty": {"choice": "missing"}}, ROOT, choice) == (True, True)
    assert codes(check(conn, {"choice": "code"})[0]) == [("$.e.choice", "invalid_reference")]


def test_types_and_references(conn: psycopg.Connection[Any]) -> None:
    assert check(conn, {"+": [{"var": "n1"}, {"var": "n2"}, {"var": "n1"}]})[1:] == (
        "number",
        ["n1", "n2"],
    )
    assert check(conn, {"if": [True, {"var": "d1"}, "2020-01-01"]})[1] == "date"
    assert check(conn, {"coalesce": [{"var": "k1"}, "x"]})[1] == "string"
    assert check(conn, {"coalesce": [{"var": "h1"}, 1]})[1] == "any"
    assert check(conn, {"var": "k1"}, "string")[1] == "ordinal"
    assert check(conn, "2020-02-29", "date")[1] == "date"
    assert check(conn, None, "number")[1] == "null"
    assert check(conn, {"count": {"var": "f1"}})[2] == ["f1"]


# (expression, expected type or None, [(path, code)]) ---------------------------------------
ERRORS: list[tuple[Any, str | None, list[tuple[str, str]]]] = [
    ({"+": [1, "x"]}, None, [('$.e."+"[1]', "type_mismatch")]),
    ({"foo": [1]}, None, [("$.e.foo", "unknown_operator")]),
    ({"a": 1, "b": 2}, None, [("$.e", "invalid_expression")]),
    ({}, None, [("$.e", "invalid_expression")]),
    ([1, 2], None, [("$.e", "invalid_expression")]),
    ({"var": 1}, None, [("$.e.var", "invalid_expression")]),
    ({"var": "nope"}, None, [("$.e.var", "invalid_reference")]),
    ({"var": "f1"}, None, [("$.e.var", "invalid_reference")]),
    ({"length": {"var": "items"}}, None, []),
    ({"/": [1]}, None, [('$.e."/"', "wrong_argument_count")]),
    ({"if": [True, 1]}, None, [("$.e.if", "wrong_argument_count")]),
    ({"today": [1]}, None, [("$.e.today", "wrong_argument_count")]),
    ({"==": [{"var": "n1"}, "3"]}, None, [('$.e."=="', "type_mismatch")]),
    ({"<": [{"var": "b1"}, True]}, None, [('$.e."<"', "type_mismatch")]),
    ({"<": [None, 1]}, None, [('$.e."<"', "type_mismatch")]),
    ({"<": [{"var": "d1"}, "2024-02-30"]}, None, [('$.e."<"[1]', "invalid_literal")]),
    ({"==": [{"var": "dt1"}, "2024-01-01 10:00"]}, None, [('$.e."=="[1]', "invalid_literal")]),
    ({"<": [{"var": "t1"}, "9:00"]}, None, [('$.e."<"[1]', "invalid_literal")]),
    ({"<": [{"var": "m1"}, "x"]}, None, [('$.e."<"', "type_mismatch")]),
    ({"and": [True, 1]}, None, [("$.e.and[1]", "type_mismatch")]),
    ({"if": [1, 2, 3]}, None, [("$.e.if[0]", "type_mismatch")]),
    ({"if": [True, 2, "x"]}, None, [("$.e.if[1]", "type_mismatch")]),
    ({"if": [True, {"var": "d1"}, "2020-13-01"]}, None, [("$.e.if[2]", "invalid_literal")]),
    ({"coalesce": [{"var": "n1"}, "x"]}, None, [("$.e.coalesce[0]", "type_mismatch")]),
    ({"regex": [{"var": "s1"}, "("]}, None, [("$.e.regex[1]", "invalid_pattern")]),
    ({"regex": [{"var": "s1"}, {"var": "s2"}]}, None, [("$.e.regex[1]", "invalid_expression")]),
    ({"regex": [{"var": "n1"}, "x"]}, None, [("$.e.regex[0]", "type_mismatch")]),
    ({"date_add": [{"var": "d1"}, 1, "days"]}, None, [("$.e.date_add[2]", "invalid_literal")]),
    ({"date_add": ["2024-02-30", 1, "day"]}, None, [("$.e.date_add[0]", "invalid_literal")]),
    ({"date_add": [{"var": "d1"}, "1", "day"]}, None, [("$.e.date_add[1]", "type_mismatch")]),
    (
        {"date_diff": [{"var": "dt1"}, {"var": "d1"}, "day"]},
        None,
        [("$.e.date_diff[0]", "type_mismatch")],
    ),
    ({"selected": [{"var": "n1"}, "a"]}, None, [("$.e.selected[0]", "type_mismatch")]),
    ({"selected": [{"var": "m1"}, 1]}, None, [("$.e.selected[1]", "invalid_expression")]),
    ({"sum": {"var": "m1"}}, None, [("$.e.sum", "type_mismatch")]),
    ({"count": {"var": "n1"}}, None, [("$.e.count", "type_mismatch")]),
    ({"in": [{"var": "s1"}, "abc"]}, None, [("$.e.in[1]", "invalid_expression")]),
    ({"in": [{"var": "s1"}, ["a", 1]]}, None, [("$.e.in[1][1]", "type_mismatch")]),
    ({"in": [{"var": "d1"}, ["2024-02-30"]]}, None, [("$.e.in[1][0]", "invalid_literal")]),
    ({"+": [1, [1]]}, None, [('$.e."+"[1]', "invalid_expression")]),
    ({"cat": [{"var": "m1"}]}, None, [("$.e.cat[0]", "type_mismatch")]),
    ({"+": [1e308, 1]}, None, [('$.e."+"[0]', "invalid_literal")]),
    ({"var": "n1"}, "boolean", [("$.e", "type_mismatch")]),
    ("2024-02-30", "date", [("$.e", "invalid_literal")]),
    (
        {"+": [{"-": ["x"]}, {"foo": 1}]},
        None,
        [('$.e."+"[0]."-"[0]', "type_mismatch"), ('$.e."+"[1].foo', "unknown_operator")],
    ),
]


@pytest.mark.parametrize(
    ("expr", "expected", "errors"), ERRORS, ids=[json.dumps(c[0])[:60] for c in ERRORS]
)
def test_check_errors(
    conn: psycopg.Connection[Any], expr: Any, expected: str | None, errors: list[tuple[str, str]]
) -> None:
    found, found_type, _refs = check(conn, expr, expected)
    assert codes(found) == errors
    assert (found_type is None) == bool(errors)


def test_limits(conn: psycopg.Connection[Any]) -> None:
    wide = {"+": [1] * 500}
    assert codes(check(conn, wide)[0]) == [("$.e", "expression_too_large")]
    assert check(conn, {"+": [1] * 498})[1] == "number"
    deep: Any = 1
    for _ in range(70):
        deep = {"-": [deep]}
    assert codes(check(conn, deep)[0]) == [("$.e", "expression_too_large")]


def test_resolve_ref(conn: psycopg.Connection[Any]) -> None:
    root = {
        "a": 1,
        "g": {"b": 2, "0": 7},
        "r": [{"x": 1, "q": [{"y": 1}, {"y": None}]}, {"x": " ", "q": [{"y": 3}]}, {"x": 4}],
    }

    def ref(path: str, scope: str = "", item: Any = None, context: Any = None) -> Any:
        return conn.execute(
            "SELECT pliers._resolve_ref(%s, %s, %s, %s, %s)",
            (path, Jsonb(root), Jsonb(context or {}), scope, Jsonb(root if item is None else item)),
        ).fetchone()[0]  # type: ignore[index]

    assert ref("a") == 1
    assert ref("g.b") == 2
    assert ref("g.0") == 7
    assert ref("g.zz") is None
    assert ref("r") == root["r"]
    assert ref("r.x") == [1, 4]  # from outside the repeat: a list, blanks skipped
    assert ref("r.q.y") == [1, 3]  # nested repeats flattened
    assert ref("r.zz") == []
    assert ref("r.x", "r", {"x": 9}) == 9  # inside: the current item
    assert ref("r.q.y", "r.q", {"y": 5}, {"r": {"x": 1}}) == 5
    assert ref("r.x", "r.q", {"y": 5}, {"r": {"x": 8}}) == 8  # an enclosing item
    assert ref("r.q.y", "r", {"q": [{"y": 6}, {}]}) == [6]


# Hypothesis: well-typed random expressions over random answers --------------------------

TEXT = st.text(alphabet=string.ascii_letters + " éß", max_size=5)
STRINGS = st.one_of(
    TEXT,
    st.sampled_from(
        ["10:00", "09:30:00", "2024-01-01T10:00:00Z", "2024-01-01T11:00:00+01:00", " ", "", "2"]
    ),
)
NUMBERS = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, width=32),
    st.sampled_from([0, 1e300, -1e-5]),
)
DATES = st.dates().map(lambda d: d.isoformat())
TIMES = st.sampled_from(["00:00", "10:30", "10:30:00", "23:59:59.5"])
DATETIMES = st.sampled_from(
    ["2024-01-01T10:00:00Z", "2024-01-01T12:00:00+02:00", "1999-12-31T23:59:59.123-05:00"]
)
ORDINALS = st.sampled_from(["1", "2", "10", "-3", "0.5"])
ANSWERS: dict[str, st.SearchStrategy[Any]] = {
    "n1": NUMBERS,
    "n2": NUMBERS,
    "s1": STRINGS,
    "s2": STRINGS,
    "b1": st.booleans(),
    "d1": DATES,
    "d2": DATES,
    "t1": TIMES,
    "dt1": DATETIMES,
    "k1": ORDINALS,
    "m1": st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=3),
    "h1": st.one_of(STRINGS, NUMBERS, st.booleans()),
    "f1": st.lists(st.just({"id": 1}), max_size=2),
    "first name": STRINGS,
}
ITEMS = st.lists(st.fixed_dictionaries({}, optional={"price": NUMBERS, "tag": STRINGS}), max_size=3)
PATTERNS = ["^[a-z]+$", "b", "^$", "[0-9]{2}", "^ ", "(?i)^h"]


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    root = {
        name: draw(strategy) for name, strategy in ANSWERS.items() if draw(st.integers(0, 5)) > 0
    }
    if draw(st.booleans()):
        root["items"] = draw(ITEMS)
    return root


def var(names: list[str]) -> st.SearchStrategy[Any]:
    return st.sampled_from(names).map(lambda n: {"var": n})


def typed(kind: str, depth: int) -> st.SearchStrategy[Any]:
    """Well-typed expressions of a type, at most depth operators deep."""
    leaves: dict[str, st.SearchStrategy[Any]] = {
        "number": st.one_of(NUMBERS, var(["n1", "n2"])),
        "string": st.one_of(STRINGS, var(["s1", "s2", "first name"])),
        "boolean": st.one_of(st.booleans(), var(["b1"])),
        "date": st.one_of(var(["d1", "d2"]), st.just({"today": []})),
        "datetime": st.one_of(var(["dt1"]), st.just({"now": []})),
    }
    if depth == 0 or kind not in ("number", "string", "boolean", "date"):
        return leaves[kind]

    def sub(k: str) -> st.SearchStrategy[Any]:
        return typed(k, depth - 1)

    def op(name: str, *args: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.tuples(*args).map(lambda a: {name: list(a)})

    def lit(value: Any) -> st.SearchStrategy[Any]:
        return st.just(value)

    number, string_, boolean, date = sub("number"), sub("string"), sub("boolean"), sub("date")
    branches: dict[str, list[st.SearchStrategy[Any]]] = {
        "number": [
            st.lists(number, min_size=2, max_size=3).map(lambda a: {"+": a}),
            st.lists(number, min_size=2, max_size=3).map(lambda a: {"*": a}),
            op("-", number, number),
            number.map(lambda a: {"-": a}),
            op("/", number, number),
            op("%", number, number),
            st.lists(number, min_size=1, max_size=3).map(lambda a: {"min": a}),
            st.lists(number, min_size=1, max_size=3).map(lambda a: {"max": a}),
            lit({"max": {"var": "items.price"}}),
            lit({"sum": {"var": "items.price"}}),
            lit({"count": {"var": "items"}}),
            lit({"count": {"var": "f1"}}),
            number.map(lambda a: {"abs": a}),
            number.map(lambda a: {"floor": a}),
            number.map(lambda a: {"ceil": a}),
            op("round", number, st.integers(-2, 3)),
            number.map(lambda a: {"round": a}),
            string_.map(lambda a: {"length": a}),
            lit({"length": {"var": "m1"}}),
            op("date_diff", date, date, st.sampled_from(["day", "week", "month", "year"])),
            op("if", boolean, number, number),
            op("coalesce", number, number),
        ],
        "string": [
            st.lists(st.one_of(string_, number, boolean, date), min_size=1, max_size=3).map(
                lambda a: {"cat": a}
            ),
            string_.map(lambda a: {"lower": a}),
            string_.map(lambda a: {"upper": a}),
            string_.map(lambda a: {"trim": a}),
            op("substr", string_, number),
            op("substr", string_, number, number),
            op("if", boolean, string_, string_),
            op("coalesce", string_, string_),
            lit({"var": "k1"}).map(lambda a: {"cat": [a]}),
            op("if", boolean, var(["k1"]), STRINGS),
        ],
        "boolean": [
            st.lists(boolean, min_size=2, max_size=3).map(lambda a: {"and": a}),
            st.lists(boolean, min_size=2, max_size=3).map(lambda a: {"or": a}),
            boolean.map(lambda a: {"!": a}),
            op("if", boolean, boolean, boolean),
            st.tuples(
                st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                st.sampled_from(["number", "string", "date"]),
            ).flatmap(lambda t: op(t[0], sub(t[1]), sub(t[1]))),
            st.tuples(st.sampled_from(["==", "!=", "<", ">="]), var(["t1"]), TIMES).map(
                lambda t: {t[0]: [t[1], t[2]]}
            ),
            st.tuples(
                st.sampled_from(["==", "<", ">="]),
                var(["dt1"]),
                st.one_of(DATETIMES, leaves["datetime"]),
            ).map(lambda t: {t[0]: [t[1], t[2]]}),
            st.tuples(
                st.sampled_from(["==", "!=", "<", ">"]),
                var(["k1"]),
                st.one_of(number, ORDINALS, var(["k1"])),
            ).map(lambda t: {t[0]: [t[1], t[2]]}),
            st.tuples(
                st.sampled_from(["==", "!="]),
                var(["h1", "k1", "n1", "s1", "d1", "b1"]),
                st.just(None),
            ).map(lambda t: {t[0]: [t[1], t[2]]}),
            st.tuples(st.sampled_from(["==", "<"]), var(["h1"]), st.one_of(STRINGS, NUMBERS)).map(
                lambda t: {t[0]: [t[1], t[2]]}
            ),
            st.tuples(string_, st.sampled_from(PATTERNS)).map(lambda t: {"regex": list(t)}),
            st.tuples(st.one_of(var(["m1", "k1", "s1"])), st.sampled_from(["x", "y", "2"])).map(
                lambda t: {"selected": list(t)}
            ),
            st.tuples(number, st.lists(st.integers(-3, 3), max_size=3)).map(
                lambda t: {"in": list(t)}
            ),
            st.tuples(string_, st.lists(STRINGS, max_size=3)).map(lambda t: {"in": list(t)}),
            st.tuples(var(["t1"]), st.lists(TIMES, max_size=2)).map(lambda t: {"in": list(t)}),
            st.tuples(var(["k1"]), st.lists(st.integers(-3, 3), max_size=2)).map(
                lambda t: {"in": list(t)}
            ),
            st.one_of(number, string_, date, var(["m1", "f1", "items", "h1", "items.tag"])).map(
                lambda a: {"empty": a}
            ),
        ],
        "date": [
            op("date_add", date, number, st.sampled_from(["day", "week", "month", "year"])),
            op("if", boolean, date, DATES),
            op("coalesce", date, date),
        ],
    }
    return st.one_of(leaves[kind], *branches[kind])


EXPRESSIONS = st.sampled_from(["number", "string", "boolean", "date"]).flatmap(
    lambda k: typed(k, 3)
)


@SETTINGS
@given(expr=EXPRESSIONS, root=answers())
def test_interpreter_equals_compiled(
    conn: psycopg.Connection[Any], expr: Any, root: dict[str, Any]
) -> None:
    errors, kind, _refs = check(conn, expr)
    assert errors == [] and kind is not None, (expr, errors)
    evaluate(conn, expr, root)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else json.dumps(name)


LITERAL_ARGS = {("in", 1), ("regex", 1), ("selected", 1), ("date_add", 2), ("date_diff", 2)}
NUMERIC_OPS = {"+", "*", "-", "/", "%", "abs", "floor", "ceil", "round"}


def nodes(
    expr: Any, path: str = "$.e", parent: str | None = None
) -> Iterator[tuple[str, tuple[Any, ...], str | None]]:
    """(path, key path inside expr, parent operator) of every expression node."""

    def walk(
        node: Any, path: str, keys: tuple[Any, ...], parent: str | None
    ) -> Iterator[tuple[str, tuple[Any, ...], str | None]]:
        yield path, keys, parent
        if not isinstance(node, dict):
            return
        ((name, args),) = node.items()
        if name in ("var", "choice", "today", "now"):
            return
        if not isinstance(args, list):
            yield from walk(args, f"{path}.{_key(name)}", (*keys, name), name)
            return
        for i, arg in enumerate(args):
            if (name, i) not in LITERAL_ARGS:
                yield from walk(arg, f"{path}.{_key(name)}[{i}]", (*keys, name, i), name)

    yield from walk(expr, path, (), parent)


def replaced(expr: Any, keys: tuple[Any, ...], new: Any) -> Any:
    if not keys:
        return new
    copy = json.loads(json.dumps(expr))
    target = copy
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = new
    return copy


@SETTINGS
@given(expr=EXPRESSIONS, data=st.data())
def test_mutation_is_refused_with_its_path(
    conn: psycopg.Connection[Any], expr: Any, data: st.DataObject
) -> None:
    path, keys, parent = data.draw(st.sampled_from(list(nodes(expr))))
    mutations = [
        ({"var": "no such field"}, f"{path}.var", "invalid_reference"),
        ({"no_such_op": [1]}, f"{path}.no_such_op", "unknown_operator"),
    ]
    if parent in NUMERIC_OPS:
        mutations.append(("a string", path, "type_mismatch"))
    new, error_path, code = data.draw(st.sampled_from(mutations))
    errors, kind, _refs = check(conn, replaced(expr, keys, new))
    assert kind is None
    assert (error_path, code) in codes(errors), (expr, keys, errors)


JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["var", "n1", "items.price", "2024-01-01", "(", "day"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "var",
                    "+",
                    "if",
                    "==",
                    "<",
                    "cat",
                    "substr",
                    "regex",
                    "date_add",
                    "in",
                    "count",
                    "min",
                    "choice",
                    "x",
                ]
            ),
            children,
            max_size=2,
        ),
    ),
    max_leaves=12,
)


@SETTINGS
@given(expr=JSON, root=answers())
def test_never_raises(conn: psycopg.Connection[Any], expr: Any, root: dict[str, Any]) -> None:
    check(conn, expr)
    conn.execute(
        "SELECT pliers._expr_eval(%s, %s, '{}', '', %s, '{}')",
        (Jsonb(expr), Jsonb(root), Jsonb(root)),
    )


def test_schema_enumerates_every_operator_with_its_arity(conn: psycopg.Connection[Any]) -> None:
    """schemas/expression.schema.json (a front end validates with it) and the database
    know the same operators, with the same numbers of arguments."""
    schema_doc = json.loads(
        (Path(__file__).resolve().parent.parent / "schemas" / "expression.schema.json").read_text()
    )
    arities: dict[str, list[int | None]] = {}
    for name, definition in schema_doc["$defs"].items():
        if not name.startswith("op_"):
            continue
        ((op, args),) = definition["properties"].items()
        assert definition["required"] == [op] and definition["additionalProperties"] is False
        array = next(s for s in [args, *args.get("oneOf", [])] if s.get("type") == "array")
        if op in ("var", "choice"):
            arities[op] = [1, 1]
        else:
            arities[op] = [array.get("minItems", 0), array.get("maxItems")]
    assert len(arities) == sum(1 for n in schema_doc["$defs"] if n.startswith("op_"))
    for op, arity in arities.items():
        assert conn.execute("SELECT pliers._expr_arity(%s)", (op,)).fetchone() == (arity,), op
    for op in ("foo", "log", "merge", "some", "all", "none", "map", "reduce", "filter"):
        assert conn.execute("SELECT pliers._expr_arity(%s)", (op,)).fetchone() == (None,)
    refs = {f"#/$defs/{name}" for name in schema_doc["$defs"] if name.startswith("op_")}
    assert refs == {r["$ref"] for r in schema_doc["$defs"]["expression"]["oneOf"] if "$ref" in r}


def test_huge_numbers_do_not_overflow(conn: psycopg.Connection[Any]) -> None:
    """Answers hold any JSON number (numeric's range); an operation on one of magnitude
    1e308 or more is null, never an overflow error, interpreted or compiled."""
    huge = "9" + "0" * 131000
    items = f'[{{"price": {huge}}}, {{"price": 1}}]'
    root = f'{{"n1": {huge}, "n2": -{huge}, "k1": "{huge}", "items": {items}}}'
    for expr, expected in [
        ({"+": [{"var": "n1"}, {"var": "n1"}]}, None),
        ({"-": [{"var": "n1"}, {"var": "n2"}]}, None),
        ({"*": [{"var": "n1"}, {"var": "n1"}]}, None),
        ({"/": [{"var": "n1"}, 0.5]}, None),
        ({"sum": {"var": "items.price"}}, 1),
        ({">": [{"var": "k1"}, {"var": "n2"}]}, True),
        ({"<": [{"var": "n2"}, {"var": "k1"}]}, True),
    ]:
        value = conn.execute(
            "SELECT pliers._expr_eval(%s, r, '{}', '', r) FROM (SELECT %s::jsonb AS r) AS x",
            (Jsonb(expr), root),
        ).fetchone()
        assert value == (expected,), expr
        refs = check(conn, expr)[2]
        bound = {ref: f"pliers._resolve_ref({sql.quote(ref)}, r, '{{}}', '', r)" for ref in refs}
        compiled = conn.execute(
            "SELECT pliers._expr_sql(%s, %s, %s)", (Jsonb(expr), Jsonb(bound), Jsonb(VARS))
        ).fetchone()[0]  # type: ignore[index]
        value = conn.execute(
            sql.SQL("SELECT {} FROM (SELECT %s::jsonb AS r) AS x").format(sql.SQL(compiled)),
            (root,),
        ).fetchone()
        assert value == (expected,), (expr, compiled)
