"""XLSForm (ODK, KoBoToolbox) -> pliersdb, through pyxform's reading of the workbook."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import IO, Any

from pliersdb.formats import _expressions as ex
from pliersdb.formats._common import (
    Context,
    Conversion,
    Dropped,
    FieldInfo,
    join_path,
    lower_condition,
)
from pliersdb.formats._expressions import Dialect, Term, op

__all__ = ["from_xlsform"]

# pyxform's question types -> pliersdb kinds (docs/formats.md).
KINDS = {
    "text": "text", "integer": "integer", "decimal": "number", "range": "number",
    "date": "date", "time": "time", "dateTime": "datetime",
    "select one": "single_choice", "select all that apply": "multiple_choice",
    "rank": "ranking", "geopoint": "geo_point", "geotrace": "geotrace",
    "geoshape": "geoshape", "note": "display", "calculate": "calculated",
    "hidden": "hidden", "acknowledge": "consent", "trigger": "consent",
    "photo": "file", "image": "file", "audio": "file", "video": "file", "file": "file",
    "background-audio": "file", "barcode": "text", "group": "group", "repeat": "repeat",
}
ACCEPT = {"photo": ["image/*"], "image": ["image/*"], "audio": ["audio/*"],
          "background-audio": ["audio/*"], "video": ["video/*"]}
# Metadata the client fills in: kept as hidden answers.
METADATA = frozenset({"start", "end", "today", "deviceid", "subscriberid", "simserial",
                      "username", "phonenumber", "email", "audit", "start-geopoint",
                      "uri:deviceid", "uri:email", "uri:phonenumber", "uri:username"})
_CHOICE_KEYS = frozenset({"name", "label", "media", "image", "audio", "video", "big-image"})
_TRUE = frozenset({"yes", "true", "true()", "1"})
_FALSE = frozenset({"no", "false", "false()", "0", ""})
_LANGUAGE = re.compile(r"\(([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\)\s*$")
_LANGUAGE_NAMES = {"english": "en", "french": "fr", "français": "fr", "spanish": "es",
                   "español": "es", "portuguese": "pt", "português": "pt", "arabic": "ar",
                   "swahili": "sw", "german": "de", "deutsch": "de", "italian": "it",
                   "hindi": "hi", "russian": "ru", "chinese": "zh"}


def _string_test(kind: str) -> ex.Function:
    """contains() / starts-with() / ends-with() of a literal: a regular expression."""
    def build(args: list[Term]) -> Term:
        if len(args) != 2 or not isinstance(args[1].ast, str):
            raise Dropped(f"{kind}() of something else than a string literal")
        escaped = ex.escape_regex(args[1].ast)
        pattern = {"contains": escaped, "starts-with": "^" + escaped,
                   "ends-with": escaped + "$"}[kind]
        return Term({"regex": [args[0].ast, pattern]}, "boolean")
    return build


DIALECT = Dialect(
    name="xlsform",
    reference=re.compile(r"\$\{([^}]*)\}"),
    identifier=re.compile(r"[A-Za-z_][A-Za-z0-9_:-]*(?<!-)"),
    binary={
        "or": (10, op("or", "boolean")), "and": (20, op("and", "boolean")),
        "=": (30, ex.compare("==")), "!=": (30, ex.compare("!=")),
        "<": (40, ex.compare("<")), "<=": (40, ex.compare("<=")),
        ">": (40, ex.compare(">")), ">=": (40, ex.compare(">=")),
        "+": (50, op("+", "number")), "-": (50, op("-", "number")),
        "*": (60, op("*", "number")), "div": (60, op("/", "number")),
        "mod": (60, op("%", "number")),
    },
    prefix={"-": ex.negative},
    functions={
        "if": ex.conditional, "selected": ex.selected,
        "count-selected": ex.call("count", "number", 1),
        "string-length": ex.call("length", "number", 1), "concat": ex.call("cat", "string"),
        "coalesce": ex.call("coalesce", "", 2), "sum": ex.call("sum", "number", 1),
        "count": ex.call("count", "number", 1), "today": ex.call("today", "date", 0),
        "now": ex.call("now", "datetime", 0), "date": ex.date_literal,
        "regex": ex.call("regex", "boolean", 2), "not": ex.call("!", "boolean", 1),
        "true": ex.arity(0, lambda _: Term(True, "boolean")),
        "false": ex.arity(0, lambda _: Term(False, "boolean")),
        "round": ex.call("round", "number", (1, 2)), "abs": ex.call("abs", "number", 1),
        "floor": ex.call("floor", "number", 1), "ceiling": ex.call("ceil", "number", 1),
        "min": ex.call("min", "number"), "max": ex.call("max", "number"),
        "contains": _string_test("contains"), "starts-with": _string_test("starts-with"),
        "ends-with": _string_test("ends-with"),
    },
    current=".",
)


def from_xlsform(source: str | PathLike[str] | bytes | IO[bytes]) -> Conversion:
    """Convert an XLSForm (``.xlsx``, ``.xls``, or pyxform's markdown / CSV forms: a
    path, the bytes, or a binary file) into a pliersdb definition and its warnings."""
    try:
        from pyxform.xls2json import workbook_to_json  # type: ignore[import-untyped]
        from pyxform.xls2json_backends import get_xlsform  # type: ignore[import-untyped]
    except ImportError as missing:  # an optional dependency
        raise ImportError("from_xlsform reads workbooks with pyxform: "
                          "pip install 'pliersdb[formats]'") from missing

    workbook = get_xlsform(xlsform=source.read() if hasattr(source, "read") else source)
    notes: list[str] = []
    form_name = Path(str(source)).stem if isinstance(source, str | PathLike) else "form"
    survey = workbook_to_json(workbook_dict=workbook, form_name=form_name,
                              fallback_form_name=workbook.fallback_form_name,
                              warnings=notes)
    rows = {str(row.get("name", "")).strip(): index + 2
            for index, row in reversed(list(enumerate(workbook.survey or [])))}
    return _Converter(survey, rows, notes).convert()


class _Converter:
    def __init__(self, survey: dict[str, Any], rows: Mapping[str, int],
                 notes: list[str]) -> None:
        self.survey = survey
        self.rows = rows
        language = survey.get("default_language") or "default"
        self.tags: dict[str, str] = {}
        self.ctx = Context(default_language=self.tag(language))
        for note in notes:
            if "max-pixels" not in note:  # image sizes: nothing of a definition
                self.ctx.warn("workbook", "pyxform_warning", note)

    def tag(self, language: str) -> str:
        """'English (en)' -> 'en'; a bare known name -> its tag; else 'und' (warned)."""
        if language not in self.tags:
            found = _LANGUAGE.search(language)
            tag = found.group(1) if found else _LANGUAGE_NAMES.get(language.strip().lower())
            if tag is None:
                tag = "und"
                if language != "default":
                    self.ctx.warn("workbook", "language_unknown",
                                  f"language {language!r} has no tag '(xx)': stored as 'und'")
            self.tags[language] = tag
        return self.tags[language]

    def text(self, value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            value = {self.tag(k): v for k, v in value.items()}
        return self.ctx.text(value, where)

    def where(self, name: str) -> str:
        row = self.rows.get(name)
        return f"survey row {row} ({name})" if row else f"survey ({name})"

    def convert(self) -> Conversion:
        definition: dict[str, Any] = {}
        title = self.text(self.survey.get("title"), "settings")
        if title:
            definition["title"] = title
        definition["fields"] = self.fields(self.survey.get("children", []), "", None)
        metadata = {k: self.survey[k] for k in ("id_string", "version")
                    if self.survey.get(k)}
        if metadata:
            definition["metadata"] = {"xlsform": metadata}
        return Conversion(self.ctx.finish(definition), self.ctx.warnings)

    def fields(self, children: list[dict[str, Any]], parent: str,
               repeat: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        by_name = {c.get("name"): c for c in children}
        # pyxform's <repeat>_count calculate of a repeat_count expression: folded back
        # into the repeat's repeatCount (repeat_count below).
        generated = {f"{c.get('name')}_count" for c in children
                     if c.get("type") == "repeat" and (c.get("control") or {}).get(
                         "jr:count") == "${" + f"{c.get('name')}_count" + "}"}
        for child in children:
            if child.get("name") == "meta" and (child.get("control") or {}).get("bodyless"):
                continue  # pyxform's instanceID
            if child.get("type") == "calculate" and child.get("name") in generated:
                continue
            converted = self.field(child, parent, repeat, by_name)
            if converted is not None:
                out.append(converted)
        return out

    def field(self, source: dict[str, Any], parent: str, repeat: str | None,
              siblings: Mapping[Any, dict[str, Any]]) -> dict[str, Any] | None:
        raw_type = str(source.get("type", ""))
        raw_name = str(source.get("name", ""))
        where = self.where(raw_name)
        owner = str(raw_name[:-len("_other")])
        if (raw_name.endswith("_other") and raw_type == "text"
                and any(c.get("name") == "other" for c in
                        siblings.get(owner, {}).get("choices", []) or [])):
            return None  # the free text of or_other: pliersdb's <name>_other
        name = self.ctx.name(raw_name, where, f"field_{len(self.ctx.fields) + 1}")
        path = join_path(parent, name)
        bind: dict[str, Any] = source.get("bind", {}) or {}
        control: dict[str, Any] = source.get("control", {}) or {}
        kind = KINDS.get(raw_type)
        if raw_type in METADATA:
            kind = "hidden"
        if raw_type == "photo" and control.get("appearance") in ("signature", "draw"):
            kind = "signature"
        if raw_type == "text" and "multiline" in str(control.get("appearance", "")):
            kind = "textarea"
        if kind is None:
            self.ctx.warn(where, "kind_not_supported",
                          f"type {raw_type!r} has no pliersdb kind: the question is dropped")
            return None
        field: dict[str, Any] = {"type": kind, "name": name}
        info = FieldInfo(path, kind, repeat=repeat)
        self.ctx.fields[raw_name] = info
        for key in ("label", "hint"):
            text = self.text(source.get(key), where)
            if text and kind not in ("calculated", "hidden"):
                field[key] = text
                if any("${" in t for t in text.values()):
                    self.ctx.warn(where, "text_reference", f"the {key} shows other answers "
                                  "(${...}): pliersdb keeps the text as written")
        for key in ("guidance_hint", "media", "image", "audio", "video"):
            if source.get(key):
                self.ctx.warn(where, "media_dropped", f"{key} is not carried")
        if control.get("appearance"):
            field["ui"] = {"appearance": control["appearance"]}
        if kind in ("single_choice", "multiple_choice", "ranking"):
            self.choices(source, field, info, where)
            if f"{raw_name}_other" in siblings and "other" in (info.codes or ()):
                field["allowOther"] = True  # or_other: its text is <name>_other
        elif kind == "file":
            field["validation"] = {"maxItems": 1, **({"accept": ACCEPT[raw_type]}
                                                     if raw_type in ACCEPT else {})}
        elif raw_type == "range":
            self.range(source, field, where)
        elif raw_type == "barcode":
            self.ctx.warn(where, "kind_approximated", "a barcode is stored as its text")
        elif kind in ("group", "repeat"):
            inner = repeat if kind == "group" else path
            field["fields"] = self.fields(source.get("children", []), path, inner)
            if kind == "repeat":
                self.repeat_count(source, field, siblings, where)
            if not field["fields"]:
                self.ctx.warn(where, "empty_container", f"{kind} without questions: dropped")
                return None
        self.binds(bind, source, field, info, where)
        return field

    def choices(self, source: dict[str, Any], field: dict[str, Any], info: FieldInfo,
                where: str) -> None:
        choices = source.get("choices")
        if not choices:
            itemset = str(source.get("itemset") or source.get("list_name") or "")
            stem = re.sub(r"[^a-z0-9_-]", "-", Path(itemset).stem.lower()).strip("-_")[:63]
            field["choiceList"] = stem or "choices"
            self.ctx.warn(where, "external_choices",
                          f"choices from {itemset!r}: the tenant's choice list "
                          f"{field['choiceList']!r} must hold them")
            return
        out = []
        for choice in choices:
            code = str(choice.get("name", ""))
            item: dict[str, Any] = {"code": code}
            label = self.text(choice.get("label"), where)
            if label:
                item["label"] = label
            attributes = {k: v for k, v in choice.items()
                          if k not in _CHOICE_KEYS and isinstance(v, str | int | float | bool)}
            if attributes:
                item["attributes"] = attributes
            out.append(item)
        field["choices"] = out
        info.codes = tuple(c["code"] for c in out)

    def range(self, source: dict[str, Any], field: dict[str, Any], where: str) -> None:
        parameters = source.get("parameters", {}) or {}
        rules = {}
        for key, rule in (("start", "min"), ("end", "max")):
            try:
                rules[rule] = _number(parameters[key])
            except (KeyError, ValueError):
                continue
        if rules:
            field["validation"] = rules
        if parameters.get("step") not in (None, "1"):
            self.ctx.warn(where, "rule_dropped", "range step is not carried")

    def repeat_count(self, source: dict[str, Any], field: dict[str, Any],
                     siblings: Mapping[Any, dict[str, Any]], where: str) -> None:
        count = str((source.get("control", {}) or {}).get("jr:count", "") or "")
        if not count:
            return
        generated = siblings.get(f"{source.get('name')}_count")
        if generated is not None and count == "${" + str(generated.get("name")) + "}":
            count = str(generated.get("bind", {}).get("calculate", count))

        def later() -> None:
            term = self.expression(count, where, "repeat_count")
            if term is not None:
                field["repeatCount"] = term.ast
        self.ctx.later.append(later)

    def binds(self, bind: Mapping[str, Any], source: dict[str, Any], field: dict[str, Any],
              info: FieldInfo, where: str) -> None:
        kind = field["type"]
        required = str(bind.get("required", "")).strip()
        if required.lower() in _TRUE and kind not in ("calculated", "display", "group"):
            field["required"] = True
        elif required.lower() not in _FALSE:
            self.rule(required, where, "required",
                      lambda t: field.__setitem__("requiredWhen", lower_condition(
                          t.ast, self.ctx)))
        if str(bind.get("readonly", "")).lower() in _TRUE and kind not in (
                "calculated", "display", "group", "repeat"):
            field["readOnly"] = True
        if bind.get("relevant"):
            self.rule(bind["relevant"], where, "relevant",
                      lambda t: field.__setitem__("visibleWhen", lower_condition(
                          t.ast, self.ctx)))
        if bind.get("constraint"):
            message = self.text(bind.get("jr:constraintMsg"), where)

            def constrain(term: Term) -> None:
                rules = field.setdefault("validation", {})
                rules["constraint"] = term.ast
                if message:
                    rules["constraintMessage"] = message
            self.rule(bind["constraint"], where, "constraint", constrain, info)
        if bind.get("jr:requiredMsg"):
            self.ctx.warn(where, "message_dropped", "required_message is not carried")
        calculation = bind.get("calculate")
        if kind == "calculated":
            if not calculation:
                field["type"] = "hidden"
                info.kind = "hidden"
                self.ctx.warn(where, "kind_approximated", "a calculate without calculation")
            else:
                def calculated(term: Term | None) -> None:
                    if term is None:
                        field["type"] = "hidden"
                        info.kind = "hidden"
                        return
                    field["expression"] = term.ast
                    info.kind = term.kind if term.kind in (
                        "number", "string", "boolean", "date") else "calculated"
                self.ctx.later.append(lambda: calculated(
                    self.expression(calculation, where, "calculation")))
        elif calculation:
            def recomputed(term: Term) -> None:
                field["defaultExpression"] = term.ast
                self.ctx.warn(where, "kind_approximated",
                              "a calculation on a question is kept as its defaultExpression")
            self.rule(calculation, where, "calculation", recomputed)
        default = source.get("default")
        if default not in (None, "") and kind not in ("calculated", "display", "group",
                                                       "repeat"):
            if source.get("_dynamic_default"):
                self.rule(str(default), where, "default",
                          lambda t: field.__setitem__("defaultExpression", t.ast))
            else:
                field["default"] = _typed_default(kind, str(default))
        if source.get("choice_filter"):
            self.rule(source["choice_filter"], where, "choice_filter",
                      lambda t: field.__setitem__("choiceFilter", t.ast), choice=True)
        if bind.get("trigger") or source.get("trigger"):
            self.ctx.warn(where, "rule_dropped", "trigger is not carried")

    def rule(self, text: str, where: str, column: str, apply: Callable[[Term], None],
             current: FieldInfo | None = None, choice: bool = False) -> None:
        def later() -> None:
            term = self.expression(text, where, column, current, choice)
            if term is not None:
                apply(term)
        self.ctx.later.append(later)

    def expression(self, text: str, where: str, column: str,
                   current: FieldInfo | None = None, choice: bool = False) -> Term | None:
        """Parse a rule once every field is known; None (and a warning) if it cannot be."""
        def resolve(name: str) -> FieldInfo:
            if name not in self.ctx.fields:
                raise Dropped(f"unknown field ${{{name}}}")
            return self.ctx.fields[name]

        dialect = DIALECT
        if choice:  # bare names in a choice filter are columns of the choices sheet
            words = _ChoiceColumns()
            dialect = replace(DIALECT, words=words)
        try:
            term = ex.parse(text.replace("../", "").replace("current()/", ""), dialect,
                            resolve, current)
        except Dropped as reason:
            self.ctx.warn(where, "expression_dropped", f"{column} {text!r} dropped: {reason}")
            return None
        return term


class _ChoiceColumns(dict[str, Any]):
    """The words of a choice filter: ``name`` is the choice's code, any other name one
    of its attributes (``{"choice": "state"}``)."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key not in ("and", "or", "div", "mod")

    def __getitem__(self, key: str) -> Any:
        return {"choice": "code" if key == "name" else key}


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _typed_default(kind: str, text: str) -> Any:
    if kind in ("integer", "number", "rating", "currency"):
        try:
            return _number(text)
        except ValueError:
            return text
    if kind in ("multiple_choice", "ranking"):
        return text.split()
    if kind in ("boolean", "consent"):
        return text.lower() in _TRUE
    return text
