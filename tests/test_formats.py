"""pliersdb.formats: forms written in other builders' formats (tests/formats/), converted,
then published through the library and fed their own sample answers.

Two parts:

- the conversion, pure Python: each source converts to ``<name>.expected.json`` exactly
  (the definition and the warnings), the expression grammars parse to the expected ASTs,
  an XLSForm reads the same from ``.xlsx`` (built here with openpyxl) as from pyxform's
  markdown form;
- the database (``test_published_*``): every definition, the six converted and the two
  converted by hand (JSON Forms, Formbricks: no converter), passes
  ``pliers.validate_form_definition``, publishes, accepts its valid samples (attachments
  uploaded first, as an application does) and refuses each broken one with exactly the
  expected (path, code) errors.

Run the first part alone with ``-k "not published"``. ``contact`` (Form.io) uses only what
pliersdb had before issue 17: its database tests also check this harness (attachments
uploaded, then submitted) on the schema of then.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb.formats import Conversion, from_formio, from_surveyjs, from_xlsform
from pliersdb.formats import _expressions as ex
from pliersdb.formats import surveyjs as sjs
from pliersdb.formats import xlsform as xls
from pliersdb.formats._common import Dropped, FieldInfo
from pliersdb.forms import Form

FORMATS = Path(__file__).resolve().parent / "formats"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _json(name: str) -> Any:
    return json.loads((FORMATS / name).read_text(encoding="utf-8"))


CONVERTERS: dict[str, Callable[[], Conversion]] = {
    "household": lambda: from_xlsform(FORMATS / "household.md"),
    "clinic": lambda: from_xlsform(FORMATS / "clinic.md"),
    "feedback": lambda: from_surveyjs(_json("feedback.surveyjs.json")),
    "registration": lambda: from_surveyjs(_json("registration.surveyjs.json")),
    "job": lambda: from_formio(_json("job.formio.json")),
    "incident": lambda: from_formio(_json("incident.formio.json")),
    # Only what pliersdb had before issue 17: its database tests pass on the schema of then.
    "contact": lambda: from_formio(_json("contact.formio.json")),
}
BY_HAND = ("person.jsonforms.json", "nps.formbricks.json")


# The conversion -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONVERTERS))
def test_converts_to_the_expected_definition_and_warnings(name: str) -> None:
    conversion = CONVERTERS[name]()
    expected = _json(f"{name}.expected.json")
    assert conversion.definition == expected["definition"]
    assert [list(w) for w in conversion.codes()] == expected["warnings"]
    assert all(w.message for w in conversion.warnings)


def test_xlsform_keeps_translations_cascades_repeat_counts_and_new_kinds() -> None:
    definition = from_xlsform(FORMATS / "household.md").definition
    fields = {f["name"]: f for f in definition["fields"]}
    assert (definition["languages"], definition["defaultLanguage"]) == (["en", "fr"], "en")
    assert fields["respondent"]["label"] == {"en": "Respondent's name", "fr": "Nom du répondant"}
    assert fields["respondent"]["validation"] == {
        "constraint": {"regex": [{"var": "respondent"}, "^[A-Za-z][A-Za-z .-]*$"]},
        "constraintMessage": {"en": "Letters only", "fr": "Lettres seulement"}}
    assert "phone-number" in fields  # the name as written
    district = fields["district"]
    assert district["choiceFilter"] == {"==": [{"choice": "region"}, {"var": "region"}]}
    assert district["choices"][0] == {"code": "n1", "label": {
        "en": "Hill district", "fr": "District des collines"}, "attributes": {"region": "north"}}
    members = fields["members"]
    assert members["repeatCount"] == {"var": "hh_size"}
    at_school = members["fields"][2]
    assert at_school["requiredWhen"] == {"all": [
        {"field": "members.member_age", "operator": "greater_or_equal", "value": 5},
        {"field": "members.member_age", "operator": "less_than", "value": 18}]}
    assert fields["total_age"] == {"type": "calculated", "name": "total_age",
                                   "expression": {"sum": [{"var": "members.member_age"}]}}
    assert fields["last_visit"]["visibleWhen"] == {"any": [
        {"field": "water", "operator": "in", "value": ["river"]},
        {"field": "hh_size", "operator": "greater_than", "value": 5}]}
    assert [fields[n]["type"] for n in ("path_to_water", "plot", "priorities",
                                        "consent_signature", "survey_date")] == [
        "geotrace", "geoshape", "ranking", "signature", "hidden"]


def test_xlsform_drops_what_it_cannot_carry_with_a_warning() -> None:
    conversion = from_xlsform(FORMATS / "clinic.md")
    fields = {f["name"]: f for f in conversion.definition["fields"]}
    assert fields["reference"] == {"type": "text", "name": "reference", "label": "Reference"}
    assert ("survey row 20 (reference)", "expression_dropped") in conversion.codes()
    assert fields["referred_to"]["choiceList"] == "clinics"
    # or_other: pyxform's text question visit_reason_other is pliersdb's <name>_other.
    assert fields["visit_reason"]["allowOther"] is True and "visit_reason_other" not in fields
    assert fields["bmi_class"]["expression"] == {"if": [
        {">=": [{"var": "bmi"}, 30]}, "obese",
        {"if": [{">=": [{"var": "bmi"}, 25]}, "overweight", "normal"]}]}
    assert fields["weeks"]["requiredWhen"] == {"field": "pregnant", "operator": "equals",
                                               "value": "yes"}


def _markdown_sheets(text: str) -> dict[str, list[list[str]]]:
    """pyxform's markdown form: '| sheet |' starts a sheet, '| | a | b |' is a row."""
    sheets: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.strip():
            continue
        if cells[0]:
            current = sheets.setdefault(cells[0], [])
        else:
            current.append(cells[1:])
    return sheets


def _xlsx(markdown: Path, target: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in _markdown_sheets(markdown.read_text(encoding="utf-8")).items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append([cell or None for cell in row])
    workbook.save(target)
    return target


@pytest.mark.parametrize("name", ["household", "clinic"])
def test_an_xlsx_workbook_converts_as_its_markdown_form(name: str, tmp_path: Path) -> None:
    workbook = _xlsx(FORMATS / f"{name}.md", tmp_path / f"{name}.xlsx")
    expected = from_xlsform(FORMATS / f"{name}.md")
    from_path = from_xlsform(workbook)
    assert from_path.definition == expected.definition
    assert from_path.codes() == expected.codes()
    with workbook.open("rb") as opened:
        assert from_xlsform(opened).definition == expected.definition
    assert from_xlsform(io.BytesIO(workbook.read_bytes())).definition == expected.definition


def test_surveyjs_keeps_localized_texts_ordinal_choices_and_dynamic_panels() -> None:
    conversion = from_surveyjs(_json("feedback.surveyjs.json"))
    definition = conversion.definition
    fields = {f["name"]: f for f in definition["fields"]}
    assert (definition["languages"], definition["defaultLanguage"]) == (["en", "fr"], "en")
    assert definition["title"] == {"en": "Customer feedback", "fr": "Avis client"}
    assert fields["kids"]["choices"][2] == {"code": "2"}
    # The panel's visibleIf {kids} >= 2 is on each of its questions: an ordinal condition.
    assert fields["family discount?"]["visibleWhen"] == {
        "field": "kids", "operator": "greater_or_equal", "value": 2}
    assert fields["birthdate"]["validation"]["constraint"] == {
        ">=": [{"date_diff": [{"var": "birthdate"}, {"today": []}, "year"]}, 18]}
    assert fields["complaint"]["visibleWhen"] == {"all": [
        {"field": "satisfaction", "operator": "less_than", "value": 5},
        {"field": "liked", "operator": "not_empty"}]}
    assert fields["visits_per_month"]["expression"] == {"/": [{"var": "visits"}, 12]}
    assert [p["fields"][:2] for p in definition["pages"]] == [
        ["Full name", "e-mail"], ["satisfaction", "liked"]]
    assert ("element 'family_notes'", "rule_dropped") in conversion.codes()

    registration = {f["name"]: f for f in from_surveyjs(
        _json("registration.surveyjs.json")).definition["fields"]}
    assert registration["contact"]["validation"] == {"minAnswered": 1}
    guardian = registration["attendees"]["fields"][3]
    assert guardian["requiredWhen"] == {"all": [
        {"field": "attendees.age", "operator": "less_than", "value": 16},
        {"field": "event", "operator": "in", "value": ["conf", "both"]}]}
    assert registration["total"]["defaultExpression"] == {"count": [{"var": "attendees.name"}]}


def test_formio_flattens_layout_and_maps_conditionals_and_json_logic() -> None:
    conversion = from_formio(_json("job.formio.json"))
    fields = {f["name"]: f for f in conversion.definition["fields"]}
    assert list(fields)[:5] == ["firstName", "lastName", "email", "phone", "birthDay"]
    assert fields["firstName"]["validation"]["pattern"] == "^(?:[A-Za-z' -]+)$"
    assert fields["officeCity"]["visibleWhen"] == {
        "field": "remote", "operator": "equals", "value": "onsite"}
    assert fields["skills"]["visibleWhen"] == {
        "not": {"field": "role", "operator": "equals", "value": "manager"}}
    assert fields["yearsExperience"]["validation"] == {
        "min": 0, "max": 50, "constraint": {"<=": [{"var": "yearsExperience"}, {"var": "age"}]},
        "constraintMessage": "More years than your age"}
    assert fields["privacyAccepted"]["type"] == "consent"
    assert "submit" not in fields
    assert ("component 'managementStyle'", "rule_dropped") in conversion.codes()

    incident = from_formio(_json("incident.formio.json")).definition
    assert [p["id"] for p in incident["pages"]] == ["what", "who"]
    injured = next(f for f in incident["fields"] if f["name"] == "injured")
    assert injured["fields"][3] == {"type": "calculated", "name": "cost", "label": "Cost",
                                    "expression": {"*": [{"var": "injured.daysOff"},
                                                         {"var": "injured.costPerDay"}]}}


def test_names_keep_what_they_may_and_replace_what_they_may_not() -> None:
    conversion = from_formio({"components": [
        {"type": "textfield", "key": "a.b", "label": "Dotted"},
        {"type": "textfield", "key": "what? (1/2): yes-no", "label": "Free"},
        {"type": "textfield", "key": "x[0]", "label": "Bracketed"}]})
    assert [f["name"] for f in conversion.definition["fields"]] == [
        "a_b", "what? (1/2): yes-no", "x_0_"]
    assert conversion.codes() == [("component 'a.b'", "name_changed"),
                                  ("component 'x[0]'", "name_changed")]


FIELDS = {name: FieldInfo(name, kind, codes) for name, kind, codes in [
    ("age", "integer", None), ("b", "number", None), ("x", "multiple_choice", ("a", "b")),
    ("kids", "single_choice", ("0", "1", "2")), ("name", "text", None),
    ("d", "date", None), ("ok", "boolean", None), ("members", "repeat", None),
    ("members.age", "integer", None), ("panel.age", "integer", None)]}


def _resolve(name: str) -> FieldInfo:
    if name not in FIELDS:
        raise Dropped(f"unknown {name}")
    return FIELDS[name]


@pytest.mark.parametrize(("source", "expected"), [
    ("${age} + ${b}", {"+": [{"var": "age"}, {"var": "b"}]}),
    (". >= today()", {">=": [{"var": "d"}, {"today": []}]}),
    ("selected(${x}, 'a')", {"selected": [{"var": "x"}, "a"]}),
    ("count-selected(${x}) > 1 and not(${age} = 3)",
     {"and": [{">": [{"count": [{"var": "x"}]}, 1]}, {"!": [{"==": [{"var": "age"}, 3]}]}]}),
    ("regex(${name}, '^..$')", {"regex": [{"var": "name"}, "^..$"]}),
    ("if(${age} mod 2 = 0, 'even', 'odd')",
     {"if": [{"==": [{"%": [{"var": "age"}, 2]}, 0]}, "even", "odd"]}),
    ("${age} div 2 - -1", {"-": [{"/": [{"var": "age"}, 2]}, -1]}),
    ("string-length(concat(${name}, 'x')) <= 10",
     {"<=": [{"length": [{"cat": [{"var": "name"}, "x"]}]}, 10]}),
    ("coalesce(${age}, ${b}) != 1 or ${ok} = true()",
     {"or": [{"!=": [{"coalesce": [{"var": "age"}, {"var": "b"}]}, 1]},
             {"==": [{"var": "ok"}, True]}]}),
    ("sum(${members.age}) + count(${members})",
     {"+": [{"sum": [{"var": "members.age"}]}, {"count": [{"var": "members"}]}]}),
    ("${d} < date('2020-01-01') and now() != ''",
     {"and": [{"<": [{"var": "d"}, "2020-01-01"]}, {"!=": [{"now": []}, ""]}]}),
    ("${kids} = 2", {"==": [{"var": "kids"}, "2"]}),
    ("${age} > '5'", {">": [{"var": "age"}, 5]}),
    ("contains(${name}, 'a.b')", {"regex": [{"var": "name"}, "a\\.b"]}),
])
def test_xlsform_expressions(source: str, expected: Any) -> None:
    current = FIELDS["d"]
    assert ex.parse(source, xls.DIALECT, _resolve, current).ast == expected


@pytest.mark.parametrize(("source", "expected"), [
    ("{age} + {b}", {"+": [{"var": "age"}, {"var": "b"}]}),
    ("{kids} >= 2", {">=": [{"var": "kids"}, 2]}),
    ("{kids} = 2", {"==": [{"var": "kids"}, "2"]}),
    ("{name} notempty and {age} empty or !({ok} = true)",
     {"or": [{"and": [{"!": [{"empty": [{"var": "name"}]}]}, {"empty": [{"var": "age"}]}]},
             {"!": [{"==": [{"var": "ok"}, True]}]}]}),
    ("{x} contains 'a'", {"selected": [{"var": "x"}, "a"]}),
    ("{x} anyof ['a', 'b']", {"or": [{"selected": [{"var": "x"}, "a"]},
                                     {"selected": [{"var": "x"}, "b"]}]}),
    ("{kids} anyof [1, 2]", {"in": [{"var": "kids"}, ["1", "2"]]}),
    ("{x} allof ['a', 'b']", {"and": [{"selected": [{"var": "x"}, "a"]},
                                      {"selected": [{"var": "x"}, "b"]}]}),
    ("{name} notcontains 'z'", {"!": [{"regex": [{"var": "name"}, "z"]}]}),
    ("iif({age} > 17, 'adult', 'minor')",
     {"if": [{">": [{"var": "age"}, 17]}, "adult", "minor"]}),
    ("age({d}) >= 18", {">=": [{"date_diff": [{"var": "d"}, {"today": []}, "year"]}, 18]}),
    ("{d} <= today(-1)", {"<=": [{"var": "d"}, {"date_add": [{"today": []}, -1, "day"]}]}),
    ("sum({age}, {b})", {"+": [{"coalesce": [{"var": "age"}, 0]},
                               {"coalesce": [{"var": "b"}, 0]}]}),
    ("sumInArray({members}, 'age') > 10", {">": [{"sum": [{"var": "members.age"}]}, 10]}),
    ("{age} <> 3 && {b} % 2 == 1",
     {"and": [{"!=": [{"var": "age"}, 3]}, {"==": [{"%": [{"var": "b"}, 2]}, 1]}]}),
    ("dateDiff({d}, today(), 'months')",
     {"date_diff": [{"var": "d"}, {"today": []}, "month"]}),
])
def test_surveyjs_expressions(source: str, expected: Any) -> None:
    assert ex.parse(source, sjs.DIALECT, _resolve).ast == expected


@pytest.mark.parametrize(("dialect", "source"), [
    (xls.DIALECT, "pulldata('a', 'b', 'c', ${age})"),
    (xls.DIALECT, "${nope} > 1"),
    (xls.DIALECT, "${age} >"),
    (xls.DIALECT, "/data/age > 1"),
    (xls.DIALECT, "${age} | ${b}"),
    (xls.DIALECT, "if(${age}, 1)"),
    (xls.DIALECT, "regex(${name}, 'unterminated)"),
    (sjs.DIALECT, "{name} contains {age}"),
    (sjs.DIALECT, "avgInArray({members}, 'age')"),
    (sjs.DIALECT, "{age} anyof ['a']"),
    (sjs.DIALECT, "{members[0].age} > 1"),
])
def test_unknown_or_unfaithful_expressions_are_dropped(dialect: ex.Dialect, source: str) -> None:
    with pytest.raises(Dropped):
        ex.parse(source, dialect, _resolve, FIELDS["age"])


def test_a_dropped_rule_is_a_warning_never_a_wrong_rule() -> None:
    conversion = from_surveyjs({"elements": [
        {"type": "text", "name": "a", "visibleIf": "{b} = 1 and isContainerReady('x')"},
        {"type": "text", "name": "b", "inputType": "number",
         "validators": [{"type": "expression", "expression": "{a} contains {b}"}]}]})
    assert conversion.definition == {"fields": [
        {"type": "text", "name": "a", "label": "a"},
        {"type": "number", "name": "b", "label": "b"}]}
    assert [c for _, c in conversion.codes()] == ["expression_dropped", "expression_dropped"]


def test_formio_json_logic_with_unsupported_operators_is_dropped() -> None:
    conversion = from_formio({"components": [
        {"type": "number", "key": "n", "validate": {"json": {"some": [[1], {"var": ""}]}}},
        {"type": "textfield", "key": "t", "conditional": {"json": {
            "in": ["abc", {"var": "data.t"}]}}}]})
    fields = conversion.definition["fields"]
    assert fields[0] == {"type": "number", "name": "n"}
    assert fields[1]["visibleWhen"] == {"expression": {"regex": [{"var": "t"}, "abc"]}}
    assert conversion.codes() == [("component 'n'", "expression_dropped")]


def test_surveyjs_matrix_rows_are_a_repeat_and_a_missing_default_text_is_filled() -> None:
    conversion = from_surveyjs({"elements": [
        {"type": "matrixdynamic", "name": "items", "title": {"fr": "Articles"},
         "minRowCount": 1, "choices": ["a", "b"],
         "columns": [{"name": "item", "isRequired": True},
                     {"name": "qty", "cellType": "text", "inputType": "number"}]},
        {"type": "text", "name": "total", "title": {"default": "Total", "fr": "Total"},
         "visibleIf": "sumInArray({items}, 'qty') > 0"}]})
    assert conversion.definition == {
        "languages": ["en", "fr"], "defaultLanguage": "en",
        "fields": [
            {"type": "repeat", "name": "items", "label": {"en": "Articles", "fr": "Articles"},
             "validation": {"minItems": 1},
             "fields": [{"type": "single_choice", "name": "item", "label": {"en": "item"},
                         "required": True, "choices": [{"code": "a"}, {"code": "b"}]},
                        {"type": "number", "name": "qty", "label": {"en": "qty"}}]},
            {"type": "text", "name": "total", "label": {"en": "Total", "fr": "Total"},
             "visibleWhen": {"expression": {">": [{"sum": [{"var": "items.qty"}]}, 0]}}}]}
    assert conversion.codes() == [("element 'items'", "translation_missing")]


@pytest.mark.parametrize("name", BY_HAND)
def test_hand_converted_examples_carry_source_definition_and_samples(name: str) -> None:
    example = _json(name)
    assert set(example) == {"about", "source", "notes", "definition", "samples"}
    assert example["samples"]["valid"] and example["samples"]["invalid"]


# The database ---------------------------------------------------------------------------


def _forms() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, definition, samples) of every form: the converted ones and the two by hand."""
    forms = [(name, _json(f"{name}.expected.json")["definition"], _json(f"{name}.samples.json"))
             for name in CONVERTERS]
    for name in BY_HAND:
        example = _json(name)
        forms.append((name.split(".")[0], example["definition"], example["samples"]))
    return forms


FORMS = _forms()


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "formats", {
        "acme": {"users": {"alice": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def _tenant(app: pliersdb.Database, seeded: World) -> Any:
    acme = seeded.orgs["acme"]
    return app.tenant(acme.id, acme.users["alice"])


def _published(app: pliersdb.Database, seeded: World, name: str,
               definition: dict[str, Any], samples: dict[str, Any]) -> Form:
    """The form published, after the tenant's choice lists it names (``lists`` of its
    samples: XLSForm's select_one_from_file) are made."""
    with _tenant(app, seeded) as t:
        existing = {c.name for c in t.choice_lists.list()} if samples.get("lists") else set()
        for list_name, items in samples.get("lists", {}).items():
            if list_name not in existing:
                t.choice_lists.create(list_name, items)
        form = t.forms.create(name, f"{name}-{uuid.uuid4().hex[:8]}", definition)
        return t.forms.publish(form.id, "1.0.0")  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "definition"), [(n, d) for n, d, _ in FORMS])
def test_published_definitions_are_valid(name: str, definition: dict[str, Any],
                                         seeded: World) -> None:
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute("SELECT pliers.validate_form_definition(%s)",
                           (Jsonb(definition),)).fetchone()
    assert row is not None and row[0] == [], name


def _attachments(definition: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    """The top-level file and signature answers of a sample, which hold placeholder ids:
    field -> the media type to upload for it."""
    kinds = {f["name"]: f for f in definition["fields"]}
    found = {}
    for key, value in data.items():
        ids = value if isinstance(value, list) else [value]
        if kinds.get(key, {}).get("type") in ("file", "signature") and all(
                isinstance(i, str) and _UUID.match(i) for i in ids):
            accept = kinds[key].get("validation", {}).get("accept", ["image/png"])[0]
            found[key] = accept.replace("*", "png")
        assert not (isinstance(value, str) and _UUID.match(value)) or key in found
    return found


@pytest.mark.parametrize(("name", "definition", "samples"), FORMS)
def test_published_forms_accept_their_valid_samples(
        name: str, definition: dict[str, Any], samples: dict[str, Any],
        app: pliersdb.Database, seeded: World) -> None:
    form = _published(app, seeded, name, definition, samples)
    for data in samples["valid"]:
        files = _attachments(definition, data)
        with _tenant(app, seeded) as t:
            draft = t.submissions.create(
                form.id, {k: v for k, v in data.items() if k not in files})
            for field, media_type in files.items():
                for _ in (data[field] if isinstance(data[field], list) else [data[field]]):
                    content = uuid.uuid4().bytes
                    t.submissions.attach(
                        draft.id, field, filename=f"{field}.bin", mime_type=media_type,
                        size_bytes=len(content), storage_key=f"{draft.id}/{field}",
                        checksum=hashlib.sha256(content).hexdigest())
            submitted = t.submissions.submit(draft.id)
        assert (submitted.status, submitted.is_valid) == ("submitted", True), (name, data)


@pytest.mark.parametrize(("name", "definition", "samples"), FORMS)
def test_published_forms_refuse_broken_samples_with_paths_and_codes(
        name: str, definition: dict[str, Any], samples: dict[str, Any],
        app: pliersdb.Database, seeded: World) -> None:
    form = _published(app, seeded, name, definition, samples)
    for broken in samples["invalid"]:
        with pytest.raises(pliersdb.ValidationError) as caught, _tenant(app, seeded) as t:
            t.submissions.create(form.id, broken["data"], submit=True)
        found = sorted((e["path"], e["code"]) for e in caught.value.errors)
        assert found == sorted(tuple(e) for e in broken["errors"]), (name, broken["data"])
