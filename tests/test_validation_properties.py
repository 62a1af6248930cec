"""Property-based tests (hypothesis) of the answer validator,
``pliers.validate_submission_data`` (docs/forms.md), and of the JSON Schema of
definitions (schemas/form-definition.schema.json): every generated definition the
database accepts passes it.

Hypothesis generates definitions (text, email, integer, number, boolean, date, single and
multiple choice, ranking, phone, geotrace, geoshape and file fields, with length, bound,
item and pattern rules, required or not, some inside a group; names as a source writes
them: spaces, ``?``, ``:``, ``/``, ``-``, quotes, commas, backslashes, up to 200
characters) and answers that satisfy them: the validator must return ``[]``.
Then exactly one rule is broken (too long, too short, below min, above max, bad choice,
missing required, wrong type...): the errors must name that rule's code at that field's
path, and no other field.

The SQL functions are pure: they run in the ``db`` fixture's rolled-back transaction."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

# A break: (rule code, path suffix after the field's path, the invalid answer; None = no answer)
Break = tuple[str, str, Any]
MISSING = object()

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])

LETTERS = string.ascii_letters + "éßøçÆ中文"
LOWER = string.ascii_lowercase
# Answer keys as written (docs/forms.md, Fields): anything but . [ ] and control
# characters, no white space around; <name>_other is reserved beside allowOther.
NAME_CHARS = string.ascii_letters + string.digits + ' _?:/-",\\éß中'
NAMES = st.one_of(
    st.text(NAME_CHARS, min_size=1, max_size=12),
    st.text(NAME_CHARS, min_size=1, max_size=12),
    st.text(NAME_CHARS, min_size=200, max_size=200),
).filter(lambda n: n == n.strip() and n != "grp" and not n.endswith("_other"))
CODES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
NOT_A_STRING = st.one_of(st.integers(), st.booleans(), st.just([1]), st.just({"a": 1}))
NOT_A_NUMBER = st.one_of(st.text(LOWER, min_size=1, max_size=5), st.booleans(), st.just([1]))


@dataclass
class Field:
    """A generated field: its definition, a strategy of valid answers, and the ways to
    break one of its rules."""

    definition: dict[str, Any]
    valid: st.SearchStrategy[Any]
    breaks: list[st.SearchStrategy[Break]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.definition["name"])

    @property
    def required(self) -> bool:
        return bool(self.definition.get("required"))


def _with(rules: dict[str, Any]) -> dict[str, Any]:
    return {"validation": rules} if rules else {}


@st.composite
def text_field(draw: st.DrawFn, name: str) -> Field:
    kind = draw(st.sampled_from(["text", "textarea"]))
    rules: dict[str, Any] = {}
    low = draw(st.one_of(st.none(), st.integers(0, 6)))
    high = draw(st.one_of(st.none(), st.integers(max(low or 0, 1), 15)))
    patterned = draw(st.booleans())
    alphabet = LOWER if patterned else LETTERS
    if low is not None:
        rules["minLength"] = low
    if high is not None:
        rules["maxLength"] = high
    if patterned:
        rules["pattern"] = "^[a-z]+$"
    smallest, largest = max(low or 0, 1), high if high is not None else 30
    valid = st.text(alphabet, min_size=smallest, max_size=largest)
    breaks = [NOT_A_STRING.map(lambda v: ("invalid_type", "", v))]
    if high is not None:
        breaks.append(st.text(alphabet, min_size=high + 1, max_size=high + 8)
                      .map(lambda v: ("too_long", "", v)))
    if low is not None and low >= 2:  # an empty string is no answer, not a short one
        breaks.append(st.text(alphabet, min_size=1, max_size=low - 1)
                      .map(lambda v: ("too_short", "", v)))
    if patterned:
        breaks.append(st.tuples(valid, st.sampled_from("A0-Z9"), st.integers(0, 100)).map(
            lambda t: ("pattern_mismatch", "", _replace_at(t[0], t[2], t[1]))))
    return Field({"type": kind, "name": name, **_with(rules)}, valid, breaks)


def _replace_at(text: str, index: int, char: str) -> str:
    i = index % len(text)
    return text[:i] + char + text[i + 1:]


def email_field(name: str) -> st.SearchStrategy[Field]:
    valid = st.from_regex(r"[a-z0-9._%+-]{1,12}@[a-z0-9-]{1,10}\.[a-z]{2,5}", fullmatch=True)
    broken = st.from_regex(r"[a-z0-9.]{1,12}(@[a-z0-9]{1,8})?", fullmatch=True)
    return st.just(Field({"type": "email", "name": name}, valid, [
        broken.map(lambda v: ("invalid_email", "", v)),
        NOT_A_STRING.map(lambda v: ("invalid_type", "", v)),
    ]))


@st.composite
def integer_field(draw: st.DrawFn, name: str) -> Field:
    low = draw(st.integers(-10_000, 10_000))
    high = draw(st.integers(low, low + 10_000))
    breaks = [
        st.integers(low - 10_000, low - 1).map(lambda v: ("below_minimum", "", v)),
        st.integers(high + 1, high + 10_000).map(lambda v: ("above_maximum", "", v)),
        NOT_A_NUMBER.map(lambda v: ("invalid_type", "", v)),
    ]
    if high > low:
        breaks.append(st.integers(low, high - 1).map(lambda v: ("not_integer", "", v + 0.5)))
    return Field({"type": "integer", "name": name, "validation": {"min": low, "max": high}},
                 st.integers(low, high), breaks)


@st.composite
def number_field(draw: st.DrawFn, name: str) -> Field:
    low = draw(st.integers(-1000, 1000))
    high = draw(st.integers(low + 1, low + 1000))
    numbers = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return Field({"type": "number", "name": name, "validation": {"min": low, "max": high}},
                 st.one_of(numbers, st.integers(low, high)), [
        st.floats(low - 1000, low, exclude_max=True, allow_subnormal=False)
        .map(lambda v: ("below_minimum", "", v)),
        st.floats(high, high + 1000, exclude_min=True, allow_subnormal=False)
        .map(lambda v: ("above_maximum", "", v)),
        NOT_A_NUMBER.map(lambda v: ("invalid_type", "", v)),
    ])


def boolean_field(name: str) -> st.SearchStrategy[Field]:
    return st.just(Field({"type": "boolean", "name": name}, st.booleans(), [
        st.sampled_from(["yes", "true", 1, 0, [True]]).map(lambda v: ("invalid_type", "", v))]))


@st.composite
def date_field(draw: st.DrawFn, name: str) -> Field:
    low = draw(st.dates(date(1900, 1, 1), date(2100, 1, 1)))
    high = low + timedelta(days=draw(st.integers(0, 3650)))
    return Field({"type": "date", "name": name,
                  "validation": {"min": low.isoformat(), "max": high.isoformat()}},
                 st.dates(low, high).map(date.isoformat), [
        st.dates(date(1800, 1, 1), low - timedelta(days=1))
        .map(lambda d: ("below_minimum", "", d.isoformat())),
        st.dates(high + timedelta(days=1), date(2200, 1, 1))
        .map(lambda d: ("above_maximum", "", d.isoformat())),
        # Any answer that is not a date, a number or an object included, is invalid_date.
        st.one_of(st.sampled_from(["2023-02-30", "2023-13-01", "2023-1-5", "yesterday",
                                   "01/02/2023"]), NOT_A_STRING)
        .map(lambda v: ("invalid_date", "", v)),
    ])


@st.composite
def single_choice_field(draw: st.DrawFn, name: str) -> Field:
    codes = draw(st.lists(CODES, min_size=1, max_size=6, unique=True))
    return Field({"type": "single_choice", "name": name,
                  "choices": [{"code": c, "label": c.upper()} for c in codes]},
                 st.sampled_from(codes), [
        CODES.filter(lambda c: c not in codes).map(lambda c: ("invalid_choice", "", c)),
        st.one_of(st.integers(), st.just([codes[0]])).map(lambda v: ("invalid_type", "", v)),
    ])


@st.composite
def multiple_choice_field(draw: st.DrawFn, name: str) -> Field:
    codes = draw(st.lists(CODES, min_size=2, max_size=6, unique=True))
    high = draw(st.integers(1, len(codes)))
    pick = st.sampled_from(codes)
    valid = st.lists(pick, min_size=1, max_size=high, unique=True)

    def bad_choice(t: tuple[list[str], str, int]) -> Break:
        answer, bogus, at = t
        at = at % len(answer)
        return ("invalid_choice", f"[{at}]", [*answer[:at], bogus, *answer[at + 1:]])

    breaks = [
        st.tuples(valid, CODES.filter(lambda c: c not in codes), st.integers(0, 10))
        .map(bad_choice),
        st.sampled_from(["a", 3, {"a": 1}]).map(lambda v: ("invalid_type", "", v)),
    ]
    if high < len(codes):
        breaks.append(st.lists(pick, min_size=high + 1, max_size=len(codes), unique=True)
                      .map(lambda v: ("too_many_items", "", v)))
    return Field({"type": "multiple_choice", "name": name, "validation": {"maxItems": high},
                  "choices": [{"code": c} for c in codes]}, valid, breaks)


@st.composite
def ranking_field(draw: st.DrawFn, name: str) -> Field:
    """Without bounds a final ranking ranks every choice."""
    codes = draw(st.lists(CODES, min_size=2, max_size=5, unique=True))
    valid = st.permutations(codes)

    def swap(t: tuple[list[str], int, str]) -> Break:
        order, at, bogus = t
        at = at % len(order)
        return ("invalid_choice", f"[{at}]", [*order[:at], bogus, *order[at + 1:]])

    definition = {"type": "ranking", "name": name, "choices": [{"code": c} for c in codes]}
    return Field(definition, valid, [
        valid.map(lambda v: ("incomplete_ranking", "", v[:-1])),
        valid.map(lambda v: ("duplicate_item", "[1]", [v[0], v[0], *v[2:]])),
        st.tuples(valid, st.integers(0, 10), CODES.filter(lambda c: c not in codes)).map(swap),
        st.sampled_from(["a", {"a": 1}]).map(lambda v: ("invalid_type", "", v)),
    ])


POINTS = st.builds(lambda lat, lon: {"lat": lat, "lon": lon},
                   st.integers(-90, 90), st.integers(-180, 180))


@st.composite
def geo_field(draw: st.DrawFn, name: str) -> Field:
    """A line (2 points or more) or a closed ring (4 or more, the last the first)."""
    kind = draw(st.sampled_from(["geotrace", "geoshape"]))
    fewest = 2 if kind == "geotrace" else 3
    line = st.lists(POINTS, min_size=fewest, max_size=5, unique_by=json.dumps)
    valid = line if kind == "geotrace" else line.map(lambda p: [*p, p[0]])

    def bad_point(t: tuple[list[dict[str, int]], int]) -> Break:
        points, at = t
        at = at % (len(points) - (kind == "geoshape"))  # not the closing point
        moved = [dict(p) for p in points]
        moved[at]["lat"] = 91
        return ("invalid_geo_point", f"[{at}].lat", moved)

    breaks = [
        st.tuples(valid, st.integers(0, 10)).map(bad_point),
        POINTS.map(lambda p: ("too_few_points", "", [p])),
        st.just(("invalid_type", "", {"lat": 1, "lon": 2})),
    ]
    if kind == "geoshape":
        breaks.append(line.map(lambda p: ("ring_not_closed", "", [*p, {"lat": 0.5, "lon": 0.5}])))
    return Field({"type": kind, "name": name}, valid, breaks)


def phone_field(name: str) -> st.SearchStrategy[Field]:
    return st.sampled_from([
        Field({"type": "phone", "name": name, "validation": {"format": "e164"}},
              st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True), [
            st.sampled_from(["+33 1 23 45 67 89", "0123456789", "+0123"])
            .map(lambda v: ("invalid_phone", "", v))]),
        Field({"type": "phone", "name": name},
              st.from_regex(r"\+?[0-9]{2,3}[ ./-]?[0-9]{4,8}( ext\. ?[0-9]{1,4}| x[0-9]{1,6})?",
                            fullmatch=True), [
            st.sampled_from(["12", "call me", "555 1234 ext 1234567"])
            .map(lambda v: ("invalid_phone", "", v))]),
    ])


def file_field(name: str) -> st.SearchStrategy[Field]:
    return st.just(Field({"type": "file", "name": name}, st.just([UPLOADED]), [
        st.just(("data_url_not_accepted", "[0]", ["data:image/png;base64,iVBORw0KGgo="])),
        st.just(("invalid_attachment_id", "[0]", ["photo.png"]))]))


UPLOADED = "0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10"
KINDS: list[Callable[[str], st.SearchStrategy[Field]]] = [
    text_field, email_field, integer_field, number_field, boolean_field, date_field,
    single_choice_field, multiple_choice_field, ranking_field, geo_field, phone_field, file_field]


@dataclass
class Form:
    """A generated definition: top-level fields, and maybe some inside group ``grp``."""

    top: list[Field]
    grouped: list[Field]

    def definition(self) -> dict[str, Any]:
        fields = [f.definition for f in self.top]
        if self.grouped:
            fields.append({"type": "group", "name": "grp",
                           "fields": [f.definition for f in self.grouped]})
        return {"title": "generated", "fields": fields}

    def all(self) -> Iterator[tuple[Field, list[str]]]:
        """Each field with its key path in the answers."""
        for f in self.top:
            yield f, [f.name]
        for f in self.grouped:
            yield f, ["grp", f.name]


@st.composite
def forms(draw: st.DrawFn) -> Form:
    names = draw(st.lists(NAMES, min_size=1, max_size=7, unique=True))
    made = []
    for name in names:
        made.append(draw(st.sampled_from(KINDS).flatmap(lambda kind, n=name: kind(n))))
        if draw(st.booleans()):
            made[-1].definition["required"] = True
    split = draw(st.integers(0, len(made)))
    return Form(made[:split], made[split:])


@st.composite
def valid_answers(draw: st.DrawFn, form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f, path in form.all():
        if f.required or draw(st.booleans()):
            _put(data, path, draw(f.valid))
    return data


def _put(data: dict[str, Any], path: list[str], value: Any) -> None:
    target = data
    for key in path[:-1]:
        target = target.setdefault(key, {})
    if value is MISSING:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


def json_path(path: list[str]) -> str:
    """The JSON path of the answer at path, keys quoted as pliers._json_path_key does."""
    return "$.data." + ".".join(
        k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else json.dumps(k, ensure_ascii=False)
        for k in path)


def validate(db: psycopg.Connection[Any], definition: dict[str, Any], data: dict[str, Any],
             final: bool = True) -> list[dict[str, Any]]:
    row = db.execute("SELECT pliers.validate_submission_data(%s, %s, %s)",
                     (Jsonb(definition), Jsonb(data), final)).fetchone()
    assert row is not None
    return list(row[0])


# ---------------------------------------------------------------------------
# schemas/form-definition.schema.json: every definition the database accepts passes it
# (the venv has no jsonschema package: the keywords the schema uses are read here).
# ---------------------------------------------------------------------------

FORM_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "schemas" / "form-definition.schema.json")
    .read_text(encoding="utf-8"))
SCHEMA_KEYWORDS = {
    "$defs", "$id", "$ref", "$schema", "additionalProperties", "allOf", "const",
    "dependentRequired", "description", "else", "enum", "format", "if", "items", "maxLength",
    "maxProperties", "minItems", "minLength", "minProperties", "minimum", "not", "oneOf",
    "pattern", "properties", "required", "then", "title", "type", "unevaluatedProperties",
    "uniqueItems"}
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _check(value: Any, schema: Any, path: str) -> tuple[list[str], set[str]]:
    """The errors of value against schema (draft 2020-12, the keywords above), and the
    properties it evaluated (for unevaluatedProperties)."""
    if schema is True or schema is False:
        return ([] if schema else [f"{path}: not allowed"]), set()
    errors: list[str] = []
    seen: set[str] = set()

    def sub(v: Any, sch: Any, at: str, keep: bool = True) -> bool:
        e, ev = _check(v, sch, at)
        if keep:
            errors.extend(e)
            seen.update(ev if not e else set())
        return not e

    # A reference to another schema (expressions: tests/test_expressions.py holds the
    # database to expression.schema.json) is not followed here.
    if schema.get("$ref", "").startswith("#/$defs/"):
        sub(value, FORM_SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]], path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return [f"{path}: not of type {types}"], set()
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        errors.append(f"{path}: not in enum")
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(f"{path}: not the const")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            errors.append(f"{path}: length")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: pattern {schema['pattern']}")
    if _TYPES["number"](value) and value < schema.get("minimum", value):
        errors.append(f"{path}: below minimum")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: too few items")
        if schema.get("uniqueItems") and len(
                {json.dumps(v, sort_keys=True) for v in value}) < len(value):
            errors.append(f"{path}: items not unique")
        for i, item in enumerate(value):
            if "items" in schema:
                sub(item, schema["items"], f"{path}[{i}]")
    for name in ("allOf", "oneOf"):
        if name in schema:
            passed = [s for s in schema[name] if sub(value, s, path, keep=False)]
            for s in passed:
                sub(value, s, path)
            if (name == "allOf" and len(passed) < len(schema[name])) or (
                    name == "oneOf" and len(passed) != 1):
                errors.append(f"{path}: {name} ({len(passed)} of {len(schema[name])} pass)")
    if "not" in schema and sub(value, schema["not"], path, keep=False):
        errors.append(f"{path}: matches not")
    if "if" in schema:
        branch = "then" if sub(value, schema["if"], path, keep=False) else "else"
        if branch == "then":
            sub(value, schema["if"], path)
        if branch in schema:
            sub(value, schema[branch], path)
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: {key} is required")
        for key, needs in schema.get("dependentRequired", {}).items():
            if key in value and any(n not in value for n in needs):
                errors.append(f"{path}: {key} needs {needs}")
        if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", 10**9):
            errors.append(f"{path}: number of properties")
        properties = schema.get("properties", {})
        for key, v in value.items():
            if key in properties:
                sub(v, properties[key], f"{path}.{key}")
                seen.add(key)
            elif "additionalProperties" in schema:
                sub(v, schema["additionalProperties"], f"{path}.{key}")
                seen.add(key)
        if "unevaluatedProperties" in schema:
            for key in sorted(set(value) - seen):
                sub(value[key], schema["unevaluatedProperties"], f"{path}.{key}")
                seen.add(key)
    return errors, seen


def schema_errors(definition: Any) -> list[str]:
    """What schemas/form-definition.schema.json finds wrong with a definition."""
    return _check(definition, FORM_SCHEMA, "$")[0]


def test_the_schema_uses_only_the_keywords_read_here() -> None:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                found.add(key)
                for child in (value.values() if key in ("properties", "$defs",
                                                         "dependentRequired") else [value]):
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(FORM_SCHEMA)
    assert found <= SCHEMA_KEYWORDS, found - SCHEMA_KEYWORDS


# Definitions of issue 17's features: the database and the schema agree on each.
SCHEMA_EXAMPLES: list[tuple[bool, dict[str, Any]]] = [
    (True, {"languages": ["en", "fr-CA"], "defaultLanguage": "en",
            "title": {"en": "T", "fr-CA": "T"}, "description": "same in both",
            "sections": [{"id": "s", "title": {"en": "S"}, "fields": ["first name?"]}],
            "pages": [{"id": "p", "description": {"en": "P", "fr-CA": "P"}, "sections": ["s"]}],
            "fields": [
                {"type": "text", "name": "first name?", "label": {"en": "A", "fr-CA": "B"},
                 "hint": {"en": "h"}, "defaultExpression": {"var": "tel"},
                 "validation": {"maxLength": 3, "constraint": {"!": [True]},
                                "constraintMessage": {"en": "no"}}},
                {"type": "phone", "name": "tel", "validation": {"format": "e164"}},
                {"type": "ranking", "name": "r", "validation": {"maxItems": 2},
                 "choices": [{"code": "a", "label": {"en": "A"}, "attributes": {"k": 1}}]},
                {"type": "ranking", "name": "r2", "choiceList": "my-list",
                 "choiceFilter": {"==": [{"choice": "k"}, 1]}},
                {"type": "single_choice", "name": "kids",
                 "choices": [{"code": "0"}, {"code": "1"}]},
                {"type": "geotrace", "name": "line"}, {"type": "geoshape", "name": "zone"},
                {"type": "group", "name": "x y", "validation": {"minAnswered": 1},
                 "visibleWhen": {"any": [
                     {"expression": {"==": [1, 1]}},
                     {"field": "kids", "operator": "greater_than", "value": 0}]},
                 "fields": [{"type": "text", "name": "a/b: c"}]},
                {"type": "repeat", "name": "rep", "repeatCount": {"count": [{"var": "m"}]},
                 "fields": [{"type": "calculated", "name": "k", "expression": {"+": [1, 2]}},
                            {"type": "calculated", "name": "k2", "expression": "{kids}"}]},
                {"type": "multiple_choice", "name": "m", "choiceList": "cities"},
                {"type": "signature", "name": "sig", "validation": {"constraint": True}},
            ]}),
    (False, {"fields": [{"type": "text", "name": "a.b"}]}),
    (False, {"fields": [{"type": "text", "name": " a"}]}),
    (False, {"fields": [{"type": "text", "name": "x" * 201}]}),
    (False, {"languages": ["en"], "fields": []}),
    (False, {"languages": ["english"], "defaultLanguage": "english", "fields": []}),
    (False, {"fields": [{"type": "single_choice", "name": "a", "choiceList": "l",
                         "choices": [{"code": "x"}]}]}),
    (False, {"fields": [{"type": "ranking", "name": "a"}]}),
    (False, {"fields": [{"type": "phone", "name": "a", "validation": {"format": "E164"}}]}),
    (False, {"fields": [{"type": "text", "name": "a", "validation": {"format": "e164"}}]}),
    (False, {"fields": [{"type": "group", "name": "g", "validation": {"minAnswered": 0},
                         "fields": [{"type": "text", "name": "a"}]}]}),
    (False, {"fields": [{"type": "repeat", "name": "g", "defaultExpression": 1,
                         "fields": [{"type": "text", "name": "a"}]}]}),
    (False, {"fields": [{"type": "single_choice", "name": "a",
                         "choices": [{"code": "x", "attributes": {"k": [1]}}]}]}),
    (False, {"fields": [{"type": "text", "name": "a", "visibleWhen": {"expression": 1,
                                                                      "field": "b"}}]}),
]


def test_the_schema_and_the_database_agree_on_the_new_features(
        db: psycopg.Connection[Any]) -> None:
    for valid, definition in SCHEMA_EXAMPLES:
        row = db.execute("SELECT pliers.validate_form_definition(%s)",
                         (Jsonb(definition),)).fetchone()
        assert row is not None
        assert (row[0] == []) is valid, (definition, row[0])
        assert (schema_errors(definition) == []) is valid, (definition, schema_errors(definition))


@SETTINGS
@given(st.data())
def test_generated_answers_validate_and_one_broken_rule_is_reported(
        db: psycopg.Connection[Any], data: st.DataObject) -> None:
    form = data.draw(forms(), label="form")
    definition = form.definition()
    row = db.execute("SELECT pliers.validate_form_definition(%s)",
                       (Jsonb(definition),)).fetchone()
    assert row is not None and row[0] == [], row  # the generator makes valid definitions
    assert schema_errors(definition) == []  # and the JSON Schema accepts them

    answers = data.draw(valid_answers(form), label="answers")
    assert validate(db, definition, answers) == []
    cleaned = db.execute("SELECT pliers.clean_submission_data(%s, %s)",
                           (Jsonb(definition), Jsonb(answers))).fetchone()
    assert cleaned is not None and cleaned[0] == answers  # valid answers are kept as sent

    # Break exactly one rule of one field.
    choices: list[tuple[Field, list[str], st.SearchStrategy[Break]]] = []
    for f, path in form.all():
        choices += [(f, path, b) for b in f.breaks]
        if f.required:
            choices.append((f, path, st.just(("required", "", MISSING))))
    f, path, breaking = data.draw(st.sampled_from(choices), label="broken field")
    code, suffix, value = data.draw(breaking, label="broken rule")
    broken = _copy(answers)
    _put(broken, path, value)

    errors = validate(db, definition, broken)
    where = json_path(path)
    assert {"path": where + suffix, "code": code} in [
        {"path": e["path"], "code": e["code"]} for e in errors], errors
    # Only that field is reported (an item of a list may be, e.g. $.data.tags[1]).
    assert all(e["path"] == where or e["path"].startswith((where + "[", where + "."))
               for e in errors), errors
    assert all(e["message"] for e in errors)

    if code == "required":  # a draft does not check completeness
        assert validate(db, definition, broken, final=False) == []


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (_copy(v) if isinstance(v, dict) else v) for k, v in data.items()}


@SETTINGS
@given(st.data())
def test_one_pass_check_cleans_as_clean_submission_data(db: psycopg.Connection[Any],
                                                        data: st.DataObject) -> None:
    """``pliers._check_submission_data`` (validate_submission_data, create_submission and
    import_submissions) stores the answers that ``clean_submission_data`` keeps: one pass
    that validates and cleans, the same cleaning as the pass that only cleans. Its errors
    are validate_submission_data's by construction (that function calls it)."""
    form = data.draw(forms(), label="form")
    definition = form.definition()
    answers: Any = data.draw(valid_answers(form), label="answers")
    f, path = data.draw(st.sampled_from(list(form.all())), label="field")
    change = data.draw(st.sampled_from(["none", "break", "unknown key", "null", "not an object"]),
                       label="change")
    if change == "break" and f.breaks:
        _put(answers, path, data.draw(data.draw(st.sampled_from(f.breaks)))[2])
    elif change == "unknown key":
        answers["zz_unknown"] = 1
    elif change == "null":
        _put(answers, path, None)
    elif change == "not an object":
        answers = data.draw(st.sampled_from([[1], "text", 3, None]))
    final = data.draw(st.booleans(), label="final")
    row = db.execute(
        "SELECT d.cleaned, d.errors, pliers.clean_submission_data(%(d)s, %(a)s)"
        " FROM pliers._check_submission_data(%(d)s, %(a)s, %(f)s, '{}') AS d",
        {"d": Jsonb(definition), "a": Jsonb(answers), "f": final}).fetchone()
    assert row is not None
    cleaned, errors, expected_cleaned = row
    assert cleaned == expected_cleaned
    if change == "not an object":
        assert [e["code"] for e in errors] == ["invalid_type"]


# ---------------------------------------------------------------------------
# Compiled validators (sql/43): the same verdicts as the interpreter
# ---------------------------------------------------------------------------

COMPILED_SETTINGS = settings(SETTINGS, derandomize=True)  # the same examples on every run
JUNK = st.one_of(st.none(), st.integers(-3, 3), st.booleans(), st.text(LETTERS, max_size=4),
                 st.just([]), st.just({}), st.just({"a": 1}), st.just(["x", "x"]), st.just(2.5))


RING = [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1}, {"lat": 1, "lon": 1}, {"lat": 0, "lon": 0}]


def _extra_kind(name: str) -> st.SearchStrategy[Field]:
    """Kinds and properties the rule-breaking generator above leaves out."""
    codes = ["a", "b", "other"]
    return st.sampled_from([
        Field({"type": "rating", "name": name}, st.integers(1, 5), [st.just(("", "", 7))]),
        Field({"type": "currency", "name": name, "currency": "EUR", "validation": {"min": 0}},
              st.sampled_from([0, 1.5, 10.25]), [st.just(("", "", 1.234))]),
        Field({"type": "consent", "name": name}, st.booleans()),
        Field({"type": "time", "name": name, "validation": {"min": "08:00", "max": "18:00"}},
              st.sampled_from(["09:30", "12:00:01"]), [st.just(("", "", "07:00"))]),
        Field({"type": "datetime", "name": name},
              st.sampled_from(["2024-05-01T09:30:00+02:00", "2024-05-01T09:30Z"]),
              [st.just(("", "", "2024-05-01 09:30"))]),
        Field({"type": "single_choice", "name": name, "allowOther": True,
               "choices": [{"code": c} for c in codes[:2]]}, st.sampled_from(codes)),
        Field({"type": "multiple_choice", "name": name, "allowOther": True,
               "validation": {"minItems": 1}, "choices": [{"code": c} for c in codes]},
              st.lists(st.sampled_from(codes), max_size=3, unique=True)),
        Field({"type": "text", "name": name, "readOnly": True, "default": "fixed"},
              st.just("fixed"), [st.just(("", "", "other"))]),
        Field({"type": "password", "name": name}, st.text(LETTERS, max_size=5)),
        Field({"type": "url", "name": name}, st.just("https://example.com/x"),
              [st.just(("", "", "ftp://x"))]),
        Field({"type": "phone", "name": name}, st.just("+33 1 23 45 67 89"),
              [st.just(("", "", "12"))]),
        Field({"type": "hidden", "name": name}, JUNK),
        Field({"type": "display", "name": name, "content": "Hello"}, JUNK),
        Field({"type": "signature", "name": name},
              st.just(UPLOADED), [st.just(("", "", "nope"))]),
        Field({"type": "file", "name": name, "validation": {"maxItems": 2}},
              st.just([UPLOADED]), [st.just(("", "", ["x"]))]),
        Field({"type": "geo_point", "name": name}, st.just({"lat": 1, "lon": 2}),
              [st.just(("", "", {"lat": 100, "lon": 2}))]),
        Field({"type": "ranking", "name": name, "validation": {"minItems": 1, "maxItems": 2},
               "choices": [{"code": c} for c in codes]},
              st.lists(st.sampled_from(codes), min_size=1, max_size=2, unique=True),
              [st.just(("", "", ["a", "a", "z"]))]),
        Field({"type": "ranking", "name": name, "choices": [{"code": c} for c in codes[:2]]},
              st.permutations(codes[:2]), [st.just(("", "", ["b"]))]),
        Field({"type": "single_choice", "name": name, "choiceList": "cities"},
              st.sampled_from(["lyon", "paris"]), [st.just(("", "", 3))]),
        Field({"type": "multiple_choice", "name": name, "choiceList": "cities"},
              st.just(["lyon"]), [st.just(("", "", ["lyon", "lyon"]))]),
        Field({"type": "single_choice", "name": name,
               "choices": [{"code": c} for c in ["0", "1", "2", "10"]]},
              st.sampled_from(["0", "1", "2", "10"]), [st.just(("", "", "3"))]),
        Field({"type": "geotrace", "name": name}, st.just(RING[:2]), [st.just(("", "", RING[:1]))]),
        Field({"type": "geoshape", "name": name}, st.just(RING),
              [st.just(("", "", [*RING[:3], {"lat": 1, "lon": 0}]))]),
        Field({"type": "phone", "name": name, "validation": {"format": "e164"}},
              st.just("+33123456789"), [st.just(("", "", "+33 1 23"))]),
        Field({"type": "phone", "name": name}, st.just("(555) 123-4567 ext. 89"),
              [st.just(("", "", "555"))]),
        Field({"type": "signature", "name": name}, st.just(UPLOADED),
              [st.just(("", "", "data:image/png;base64,iVBORw0KGgo="))]),
    ])


ANY_KIND = [*KINDS, _extra_kind]
# Operators every testable field takes, and those that compare.
PLAIN_OPERATORS = ["empty", "not_empty", "equals", "not_equals", "in", "not_in"]
COMPARABLE = {"integer", "number", "date", "rating", "currency", "time", "datetime"}


def _ordinal(target: Field) -> bool:
    """A single choice whose codes are all numbers: ordinal comparisons apply."""
    choices = target.definition.get("choices")
    return target.definition["type"] == "single_choice" and choices is not None and all(
        re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", c["code"]) for c in choices)
SCALAR_CONDITIONS = {"text", "textarea", "email", "integer", "number", "boolean", "date",
                     "single_choice", "rating", "currency", "consent", "time", "datetime",
                     "password", "url", "phone", "hidden"}


@dataclass
class Node:
    """A generated field with its answer strategy: a leaf (Field) or a group / repeat."""

    definition: dict[str, Any]
    answer: st.SearchStrategy[Any]


@st.composite
def _condition(draw: st.DrawFn, targets: list[tuple[str, Field]]) -> dict[str, Any]:
    """A condition on fields defined before (so that visibility makes no cycle)."""
    def leaf() -> dict[str, Any]:
        path, target = draw(st.sampled_from(targets))
        kind = target.definition["type"]
        compare = (["greater_than", "less_or_equal"] if kind in COMPARABLE
                   else ["greater_or_equal", "less_than"] if _ordinal(target) else [])
        operators = PLAIN_OPERATORS + compare
        if kind not in SCALAR_CONDITIONS:
            operators = ["empty", "not_empty"]
        op = draw(st.sampled_from(operators))
        if op in ("empty", "not_empty"):
            return {"field": path, "operator": op}
        value = draw(target.valid)
        if isinstance(value, list) or value is None:
            return {"field": path, "operator": "not_empty"}
        listed = op in ("in", "not_in")
        if _ordinal(target) and op in compare:
            value = float(value) if "." in value else int(value)
        return {"field": path, "operator": op, "value": [value] if listed else value}

    shape = draw(st.sampled_from(["leaf", "leaf", "all", "any", "not"]))
    if shape == "leaf":
        return leaf()
    if shape == "not":
        return {"not": leaf()}
    return {shape: [leaf() for _ in range(draw(st.integers(1, 3)))]}


@st.composite
def _nodes(draw: st.DrawFn, prefix: str, depth: int, scope: list[tuple[str, Field]],
           outer: list[tuple[str, Field]]) -> list[Node]:
    """The fields of one level: leaves, and (depth permitting) a group and a repeat.
    scope: the testable fields seen so far (dotted paths); outer: those of the top level
    that fields inside a repeat may test."""
    names = draw(st.lists(NAMES, min_size=1, max_size=max(1, 4 - depth), unique=True))
    nodes: list[Node] = []
    for name in names:
        path = prefix + name
        before = list(scope)  # a group's condition may not test its own fields
        shape = draw(st.sampled_from(["leaf"] * 5 + (["group", "repeat"] if depth < 2 else [])))
        definition: dict[str, Any]
        if shape == "leaf":
            f = draw(st.sampled_from(ANY_KIND).flatmap(lambda kind, n=name: kind(n)))
            definition = dict(f.definition)
            answer: st.SearchStrategy[Any] = st.one_of(
                f.valid, *[b.map(lambda t: t[2]) for b in f.breaks], JUNK)
            if definition["type"] != "display" and draw(st.integers(0, 4)) == 0:
                definition["required"] = True
            elif definition["type"] != "display" and scope and draw(st.integers(0, 5)) == 0:
                definition["requiredWhen"] = draw(_condition(scope + outer))
        elif shape == "group":
            inner = draw(_nodes(path + ".", depth + 1, scope, outer))
            definition = {"type": "group", "name": name, "fields": [n.definition for n in inner]}
            if draw(st.integers(0, 2)) == 0:  # a required group
                definition["validation"] = {"minAnswered": draw(st.integers(1, 2))}
            answer = st.one_of(_object(inner), JUNK)
        else:
            inner = draw(_nodes(path + ".", depth + 1, [], scope + outer))
            rules = draw(st.sampled_from([{}, {"minItems": 1}, {"maxItems": 2}]))
            definition = {"type": "repeat", "name": name, "fields": [n.definition for n in inner],
                          **_with(rules)}
            answer = st.one_of(st.lists(st.one_of(_object(inner), JUNK), max_size=3), JUNK)
        if (before or outer) and draw(st.integers(0, 3)) == 0:
            definition["visibleWhen"] = draw(_condition(before + outer))
        nodes.append(Node(definition, answer))
        if shape == "leaf" and definition["type"] not in ("display",):
            scope.append((path, f))
    return nodes


def _object(nodes: list[Node]) -> st.SearchStrategy[dict[str, Any]]:
    """Answers to these fields: some missing or null, maybe an unknown key or an _other text."""
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for node in nodes:
            if draw(st.integers(0, 3)) > 0:
                data[node.definition["name"]] = draw(node.answer)
            if node.definition.get("allowOther") and draw(st.booleans()):
                data[node.definition["name"] + "_other"] = draw(st.one_of(st.just("Origami"), JUNK))
        if draw(st.integers(0, 5)) == 0:
            data[draw(st.sampled_from(["zz", "", "a b", "é", 'q"\\,']))] = 1
        return data
    return build()


def _compiled_form(db: psycopg.Connection[Any], definition: dict[str, Any]) -> str:
    """A published version of the definition (a row value, not stored), compiled."""
    form = ("jsonb_populate_record(NULL::pliers.forms, jsonb_build_object("
            "'id', gen_random_uuid(), 'status', 'published', 'version', '1.0.0', 'slug', 'g', "
            "'definition', %s::jsonb))")
    row = db.execute(f"SELECT f, pliers._compile_validator(f), pliers.validate_form_definition(%s)"
                     f" FROM {form} AS f", (Jsonb(definition), Jsonb(definition))).fetchone()
    assert row is not None
    assert row[1] is True, row[2]
    return str(row[0])


def assert_same_verdicts(db: psycopg.Connection[Any], form: str, definition: dict[str, Any],
                         answers: Any, attachments: Any = None) -> None:
    """_check_answers (compiled; and as a draft version, the interpreter) ==
    _check_submission_data (interpreted), and final_errors == validate_submission_data of
    the cleaned answers, each with the errors of _check_list_answers, for a final check
    and a draft."""
    for final, status in ((True, "published"), (False, "published"), (True, "draft"),
                          (False, "draft")):
        params = {"form": form, "status": Jsonb({"status": status}), "d": Jsonb(definition),
                  "a": Jsonb(answers), "f": final,
                  "att": Jsonb(attachments) if attachments is not None else None}
        compiled = db.execute(
            "SELECT c.cleaned, c.errors, c.final_errors"
            " FROM pliers._check_answers(jsonb_populate_record(%(form)s::pliers.forms, %(status)s),"
            " %(a)s, %(f)s, %(att)s) AS c",
            params).fetchone()
        # The answers of choice-list fields are checked against the tenant's lists after
        # the rest (here the version belongs to no organization: every code of one is refused).
        interpreted = db.execute(
            "SELECT d.cleaned, d.errors || l.errors,"
            " pliers.validate_submission_data(%(d)s, d.cleaned, TRUE, %(att)s) || l.errors"
            " FROM pliers._check_submission_data(%(d)s, %(a)s, %(f)s, %(att)s) AS d,"
            " LATERAL (SELECT to_jsonb(pliers._check_list_answers("
            "   (%(form)s::pliers.forms).organization_id, %(d)s, d.cleaned)) AS errors) AS l",
            params).fetchone()
        assert compiled == interpreted, (final, status, definition, answers)


@COMPILED_SETTINGS
@given(st.data())
def test_compiled_validator_gives_the_interpreters_verdicts(db: psycopg.Connection[Any],
                                                           data: st.DataObject) -> None:
    """Generated definitions (every kind, groups, repeats, conditions, required and
    requiredWhen, allowOther, readOnly) and answers (valid, broken, junk, missing, null,
    unknown keys): the compiled validator returns what the interpreter returns."""
    scope: list[tuple[str, Field]] = []
    nodes = data.draw(_nodes("", 0, scope, []), label="fields")
    definition = {"title": "generated", "fields": [n.definition for n in nodes]}
    answers = data.draw(st.one_of(_object(nodes), _object(nodes), JUNK), label="answers")
    attachments = data.draw(st.sampled_from([None, {}, {UPLOADED: {"mime_type": "image/png",
                                                                   "file_size_bytes": 10}}]),
                            label="attachments")
    with db.transaction(force_rollback=True):  # the example's function goes with it
        form = _compiled_form(db, definition)  # a definition the database accepts...
        assert schema_errors(definition) == []  # ...passes the JSON Schema
        assert_same_verdicts(db, form, definition, answers, attachments)


@COMPILED_SETTINGS
@given(st.data())
def test_compiled_validator_on_the_rule_breaking_forms(db: psycopg.Connection[Any],
                                                       data: st.DataObject) -> None:
    """The forms and broken answers of the first test: the same verdicts compiled."""
    form_ = data.draw(forms(), label="form")
    definition = form_.definition()
    answers = data.draw(valid_answers(form_), label="answers")
    choices = [(path, b) for f, path in form_.all() for b in f.breaks]
    if choices and data.draw(st.booleans(), label="break"):
        path, breaking = data.draw(st.sampled_from(choices), label="broken field")
        _put(answers, path, data.draw(breaking)[2])
    with db.transaction(force_rollback=True):
        form = _compiled_form(db, definition)
        assert_same_verdicts(db, form, definition, answers)
