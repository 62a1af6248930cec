"""SurveyJS (survey JSON) -> pliersdb."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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

__all__ = ["from_surveyjs"]

# SurveyJS question types -> pliersdb kinds; `text` goes by its inputType (INPUT_TYPES).
KINDS = {
    "text": "text", "comment": "textarea", "radiogroup": "single_choice",
    "dropdown": "single_choice", "checkbox": "multiple_choice", "tagbox": "multiple_choice",
    "imagepicker": "single_choice", "boolean": "boolean", "rating": "rating",
    "ranking": "ranking", "signaturepad": "signature", "file": "file", "html": "display",
    "image": "display", "expression": "calculated", "paneldynamic": "repeat",
    "matrixdynamic": "repeat", "matrix": "group", "multipletext": "group",
}
INPUT_TYPES = {
    "": "text", "text": "text", "number": "number", "range": "number", "date": "date",
    "datetime-local": "datetime", "time": "time", "email": "email", "tel": "phone",
    "url": "url", "password": "password", "color": "text", "month": "text", "week": "text",
}
_DROPPED_PROPERTIES = {
    "enableIf": "enableIf (the field is always enabled)",
    "choicesVisibleIf": "choicesVisibleIf (every choice is offered)",
    "choicesEnableIf": "choicesEnableIf (every choice is enabled)",
    "resetValueIf": "resetValueIf", "setValueIf": "setValueIf",
    "setValueExpression": "setValueExpression",
}
SURVEY_JS_DEFAULT_LANGUAGE = "en"


def _empty(term: Term) -> Term:
    return Term({"empty": [term.ast]}, "boolean")


def _not_empty(term: Term) -> Term:
    return Term({"!": [{"empty": [term.ast]}]}, "boolean")


def _negate(term: Term) -> Term:
    return Term({"!": [term.ast]}, "boolean")


def _membership(mode: str) -> Callable[[Term, Term], Term]:
    """contains / notcontains / anyof / allof of a multiple choice (or a single choice
    for anyof); of a text, contains is a substring test (a regular expression)."""
    def build(left: Term, right: Term) -> Term:
        values = right.ast if isinstance(right.ast, list) else [right.ast]
        if not values or not all(isinstance(v, str | int | float) for v in values):
            raise Dropped(f"{mode} of something else than literals")
        codes = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                 for v in values]
        if left.kind in ex.LIST_KINDS:
            tests = [{"selected": [left.ast, c]} for c in codes]
            joined: Any = tests[0] if len(tests) == 1 else {
                "and" if mode in ("allof", "contains") else "or": tests}
            return Term({"!": [joined]} if mode == "notcontains" else joined, "boolean")
        if left.kind == "single_choice" and mode == "anyof":
            return Term({"in": [left.ast, codes]}, "boolean")
        if left.kind in ("text", "textarea") and mode in ("contains", "notcontains") and len(
                codes) == 1:
            test = {"regex": [left.ast, ex.escape_regex(codes[0])]}
            return Term({"!": [test]} if mode == "notcontains" else test, "boolean")
        raise Dropped(f"{mode} on a {left.kind or 'value'}")
    return build


def _age(args: list[Term]) -> Term:
    return Term({"date_diff": [args[0].ast, {"today": []}, "year"]}, "number")


def _today(args: list[Term]) -> Term:
    if not args:
        return Term({"today": []}, "date")
    if len(args) == 1:
        return Term({"date_add": [{"today": []}, args[0].ast, "day"]}, "date")
    raise Dropped("today() takes at most one argument")


def _sum(args: list[Term]) -> Term:
    if len(args) == 1 and args[0].kind in ("list", "repeat"):
        return Term({"sum": [args[0].ast]}, "number")
    if not args:
        raise Dropped("sum() of nothing")
    # SurveyJS adds what is given, a missing answer counting 0.
    parts = [{"coalesce": [a.ast, 0]} if isinstance(a.ast, dict) else a.ast for a in args]
    return Term(parts[0] if len(parts) == 1 else {"+": parts}, "number")


_UNITS = {"days": "day", "day": "day", "weeks": "week", "months": "month", "month": "month",
          "years": "year", "year": "year"}


def _date_diff(args: list[Term]) -> Term:
    unit = args[2].ast if len(args) == 3 else "days"
    if len(args) not in (2, 3) or unit not in _UNITS:
        raise Dropped("dateDiff(from, to, 'days' | 'months' | 'years')")
    return Term({"date_diff": [args[0].ast, args[1].ast, _UNITS[unit]]}, "number")


def _date_add(args: list[Term]) -> Term:
    unit = args[2].ast if len(args) == 3 else "days"
    if len(args) not in (2, 3) or unit not in _UNITS:
        raise Dropped("dateAdd(date, n, 'days' | 'months' | 'years')")
    return Term({"date_add": [args[0].ast, args[1].ast, _UNITS[unit]]}, "date")


def _in_array(name: str) -> ex.Function:
    def build(args: list[Term]) -> Term:
        if len(args) != 2 or not isinstance(args[1].ast, str) or not isinstance(
                args[0].ast, dict) or "var" not in args[0].ast:
            raise Dropped(f"{name}InArray({{panel}}, 'field')")
        path = f"{args[0].ast['var']}.{args[1].ast}"
        return Term({name: [{"var": path}]}, "number")
    return build


DIALECT = Dialect(
    name="surveyjs",
    reference=re.compile(r"\{([^{}]*)\}"),
    identifier=re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
    binary={
        "or": (10, op("or", "boolean")), "||": (10, op("or", "boolean")),
        "and": (20, op("and", "boolean")), "&&": (20, op("and", "boolean")),
        **{w: (30, ex.compare("==")) for w in ("=", "==", "equal")},
        **{w: (30, ex.compare("!=")) for w in ("!=", "<>", "notequal")},
        **{w: (40, ex.compare("<")) for w in ("<", "less")},
        **{w: (40, ex.compare("<=")) for w in ("<=", "lessorequal")},
        **{w: (40, ex.compare(">")) for w in (">", "greater")},
        **{w: (40, ex.compare(">=")) for w in (">=", "greaterorequal")},
        **{w: (40, _membership(w)) for w in ("contains", "notcontains", "anyof", "allof")},
        "+": (50, op("+", "number")), "-": (50, op("-", "number")),
        "*": (60, op("*", "number")), "/": (60, op("/", "number")),
        "%": (60, op("%", "number")),
    },
    prefix={"!": _negate, "not": _negate, "-": ex.negative},
    postfix={"empty": (45, _empty), "notempty": (45, _not_empty)},
    functions={
        "iif": ex.conditional, "not": ex.call("!", "boolean", 1), "age": ex.arity(1, _age),
        "today": _today, "currentdate": ex.call("now", "datetime", 0),
        "sum": _sum, "min": ex.call("min", "number"), "max": ex.call("max", "number"),
        "round": ex.call("round", "number", (1, 2)), "datediff": _date_diff,
        "dateadd": _date_add, "getdate": ex.date_literal,
        "suminarray": _in_array("sum"), "countinarray": _in_array("count"),
        "maxinarray": _in_array("max"), "mininarray": _in_array("min"),
    },
    words={"true": True, "false": False, "null": None, "undefined": None},
    case_insensitive=True,
    arrays=True,
)


def from_surveyjs(survey: Mapping[str, Any]) -> Conversion:
    """Convert a SurveyJS survey JSON (a dict) into a pliersdb definition and warnings."""
    return _Converter(survey).convert()


class _Converter:
    def __init__(self, survey: Mapping[str, Any]) -> None:
        self.survey = survey
        self.ctx = Context(default_language=SURVEY_JS_DEFAULT_LANGUAGE)

    def text(self, value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            texts = {(self.ctx.default_language if k == "default" else k): v
                     for k, v in value.items() if k != "default"}
            if "default" in value:
                texts[self.ctx.default_language] = value["default"]
            value = texts
        return self.ctx.text(value, where)

    def convert(self) -> Conversion:
        definition: dict[str, Any] = {}
        for key in ("title", "description"):
            text = self.text(self.survey.get(key), "survey")
            if text:
                definition[key] = text
        pages = self.survey.get("pages")
        if pages is None:
            pages = [{"elements": self.survey.get("elements") or self.survey.get(
                "questions") or []}]
        fields: list[dict[str, Any]] = []
        layout: list[dict[str, Any]] = []
        for number, page in enumerate(pages, 1):
            where = f"page {page.get('name') or number}"
            before = len(fields)
            fields += self.elements(page.get("elements") or page.get("questions") or [],
                                    "", "", None, page.get("visibleIf"), where)
            if len(pages) > 1:
                entry: dict[str, Any] = {"id": str(page.get("name") or f"page{number}"),
                                         "fields": [f["name"] for f in fields[before:]]}
                for key in ("title", "description"):
                    text = self.text(page.get(key), where)
                    if text:
                        entry[key] = text
                layout.append(entry)
        for value in self.survey.get("calculatedValues", []) or []:
            fields.append(self.calculated_value(value))
        definition["fields"] = fields
        if layout:
            definition["pages"] = layout
        for key in ("triggers", "completedHtmlOnCondition"):
            if self.survey.get(key):
                self.ctx.warn("survey", "rule_dropped", f"{key} are not carried")
        return Conversion(self.ctx.finish(definition), self.ctx.warnings)

    def calculated_value(self, value: Mapping[str, Any]) -> dict[str, Any]:
        raw = str(value.get("name", ""))
        where = f"calculatedValue {raw!r}"
        name = self.ctx.name(raw, where, "calculated")
        field: dict[str, Any] = {"type": "calculated", "name": name}
        info = FieldInfo(name, "calculated")
        self.ctx.fields[raw] = info
        self.calculation(str(value.get("expression", "")), field, info, where, "")
        return field

    def calculation(self, text: str, field: dict[str, Any], info: FieldInfo, where: str,
                    scope: str) -> None:
        def later() -> None:
            term = self.expression(text, where, "expression", scope)
            if term is None:
                field["type"] = info.kind = "hidden"
                field.pop("label", None)
                return
            field["expression"] = term.ast
            info.kind = term.kind if term.kind in ("number", "string", "boolean",
                                                   "date") else "calculated"
        self.ctx.later.append(later)

    def elements(self, elements: Sequence[Mapping[str, Any]], parent: str, scope: str,
                 repeat: str | None, inherited: str | None,
                 where_parent: str) -> list[dict[str, Any]]:
        """The fields of a list of elements; panels are flattened (their data is flat in
        SurveyJS), their visibleIf conjoined to their questions'."""
        out: list[dict[str, Any]] = []
        for element in elements:
            where = f"element {join_path(scope, str(element.get('name', '')))!r}"
            visible = _conjoin(inherited, element.get("visibleIf"))
            if element.get("type") == "panel":
                if element.get("isRequired"):
                    self.ctx.warn(where, "rule_dropped", "a required panel (at least one "
                                  "answer) needs a group: its answers are flat in SurveyJS")
                out += self.elements(element.get("elements") or [], parent, scope, repeat,
                                     visible, where)
                continue
            field = self.element(element, parent, scope, repeat, visible, where)
            if field is not None:
                out.append(field)
        return out

    def element(self, element: Mapping[str, Any], parent: str, scope: str,
                repeat: str | None, visible: str | None,
                where: str) -> dict[str, Any] | None:
        raw_type = str(element.get("type", ""))
        kind = KINDS.get(raw_type)
        if raw_type == "text":
            kind = INPUT_TYPES.get(str(element.get("inputType", "")))
            if element.get("inputType") in ("color", "month", "week"):
                self.ctx.warn(where, "kind_approximated",
                              f"inputType {element['inputType']!r} is kept as text")
        if kind is None:
            self.ctx.warn(where, "kind_not_supported",
                          f"type {raw_type!r} has no pliersdb kind: the element is dropped")
            return None
        raw = str(element.get("valueName") or element.get("name") or "")
        name = self.ctx.name(raw, where, f"field_{len(self.ctx.fields) + 1}")
        path = join_path(parent, name)
        source_path = join_path(scope, raw)
        field: dict[str, Any] = {"type": kind, "name": name}
        info = FieldInfo(path, kind, repeat=repeat)
        self.ctx.fields[source_path] = info
        label = self.text(element.get("title"), where) or (
            self.text(raw, where) if kind not in ("display", "calculated") else None)
        if label and kind != "calculated":
            field["label"] = label
        description = self.text(element.get("description"), where)
        if description and kind != "calculated":
            field["description"] = description
        placeholder = self.text(element.get("placeholder"), where)
        if placeholder:
            field["ui"] = {"placeholder": placeholder}
        if element.get("isRequired") and kind not in ("display", "calculated", "group"):
            field["required"] = True
        if element.get("readOnly") and kind not in ("display", "calculated", "group",
                                                    "repeat"):
            field["readOnly"] = True
        if element.get("visible") is False:
            self.ctx.warn(where, "rule_dropped", "visible: false (a question the survey's "
                          "code shows or fills): the field is visible")
        for key, what in _DROPPED_PROPERTIES.items():
            if element.get(key):
                self.ctx.warn(where, "rule_dropped", f"{what} is not carried")
        self.kind_properties(element, field, info, path, source_path, where)
        self.validators(element.get("validators") or [], field, info, where, scope)
        if visible:
            self.condition(visible, field, "visibleWhen", where, scope)
        if element.get("requiredIf") and kind not in ("display", "calculated", "group"):
            if field.get("required"):
                self.ctx.warn(where, "rule_dropped", "requiredIf beside isRequired")
            else:
                self.condition(element["requiredIf"], field, "requiredWhen", where, scope)
        if "defaultValue" in element and kind not in ("display", "calculated", "group",
                                                      "repeat"):
            field["default"] = _answer(kind, element["defaultValue"])
        if element.get("defaultValueExpression"):
            text = str(element["defaultValueExpression"])

            def default() -> None:
                term = self.expression(text, where, "defaultValueExpression", scope)
                if term is not None:
                    field["defaultExpression"] = term.ast
            self.ctx.later.append(default)
        return field

    def kind_properties(self, element: Mapping[str, Any], field: dict[str, Any],
                        info: FieldInfo, path: str, source_path: str, where: str) -> None:
        kind = field["type"]
        rules: dict[str, Any] = {}
        if kind in ("single_choice", "multiple_choice", "ranking"):
            if element.get("type") == "imagepicker" and element.get("multiSelect"):
                field["type"] = info.kind = "multiple_choice"
            self.choices(element, field, info, where)
            if element.get("minSelectedChoices"):
                rules["minItems"] = element["minSelectedChoices"]
            if element.get("maxSelectedChoices"):
                rules["maxItems"] = element["maxSelectedChoices"]
        elif kind in ("number", "date", "time", "datetime"):
            for key, rule in (("min", "min"), ("max", "max")):
                value = element.get(key)
                if (isinstance(value, int | float) and kind == "number") or (
                        isinstance(value, str) and kind != "number"
                        and not value.startswith("=")):
                    rules[rule] = value
                elif value is not None:
                    self.ctx.warn(where, "rule_dropped", f"{key} {value!r} is not carried")
            if kind == "datetime":
                self.ctx.warn(where, "answer_shape", "datetime-local answers have no offset: "
                              "pliersdb's datetime needs one (add it when importing answers)")
        elif kind in ("text", "textarea", "email", "url", "phone", "password"):
            if isinstance(element.get("maxLength"), int) and element["maxLength"] > 0:
                rules["maxLength"] = element["maxLength"]
        elif kind == "rating":
            if element.get("rateValues"):
                field["type"] = info.kind = "single_choice"
                self.choices({"choices": element["rateValues"]}, field, info, where)
            else:
                rules["min"] = element.get("rateMin", 1)
                rules["max"] = element.get("rateMax", 5)
                if element.get("rateStep", 1) != 1:
                    self.ctx.warn(where, "rule_dropped", "rateStep is not carried")
        elif kind == "boolean":
            if "valueTrue" in element or "valueFalse" in element:
                self.ctx.warn(where, "answer_shape", "valueTrue / valueFalse: answers are "
                              "true / false in pliersdb")
        elif kind in ("signature", "file"):
            self.attachment(element, field, rules, where)
        elif kind == "display":
            content = element.get("html") or element.get("imageLink")
            if isinstance(content, str) and content:
                field["content"] = content
            elif isinstance(content, Mapping):
                self.ctx.warn(where, "text_dropped", "translated html: the default kept")
                field["content"] = str(content.get("default") or next(iter(content.values())))
        elif kind == "calculated":
            self.calculation(str(element.get("expression", "")), field, info, where,
                             source_path.rpartition(".")[0])
        elif kind == "repeat":
            self.repeat(element, field, rules, path, source_path, where)
        elif kind == "group":
            self.group(element, field, path, source_path, info.repeat, where)
        if rules:
            field["validation"] = rules

    def choices(self, element: Mapping[str, Any], field: dict[str, Any], info: FieldInfo,
                where: str) -> None:
        choices = list(element.get("choices") or [])
        if element.get("showNoneItem") or element.get("hasNone"):
            choices.append({"value": "none", "text": element.get("noneText", "None")})
        if element.get("showOtherItem") or element.get("hasOther"):
            field["allowOther"] = True
            choices.append({"value": "other", "text": element.get("otherText", "Other")})
            self.ctx.warn(where, "answer_shape", "the text of 'other' is <name>_other in "
                          "pliersdb (<name>-Comment in SurveyJS)")
        if not choices:
            self.ctx.warn(where, "kind_approximated", "no inline choices (choicesByUrl, "
                          "choicesFromQuestion): the answer is kept as text")
            field["type"] = info.kind = "text"
            return
        out, seen, stringified = [], set(), False
        for choice in choices:
            value, text = (choice.get("value"), choice.get("text")) if isinstance(
                choice, Mapping) else (choice, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                stringified = True
            code = _code(value)
            if code in seen:
                continue
            seen.add(code)
            item: dict[str, Any] = {"code": code}
            label = self.text(text, where)
            if label:
                item["label"] = label
            if isinstance(choice, Mapping) and choice.get("visibleIf"):
                self.ctx.warn(where, "rule_dropped", f"visibleIf of choice {code!r}")
            out.append(item)
        if stringified:
            self.ctx.warn(where, "answer_shape",
                          "numeric choice values are string codes in pliersdb ('2', not 2)")
        field["choices"] = out
        info.codes = tuple(seen)

    def attachment(self, element: Mapping[str, Any], field: dict[str, Any],
                   rules: dict[str, Any], where: str) -> None:
        self.ctx.warn(where, "data_url", "SurveyJS sends data URLs: upload each as an "
                      "attachment and answer its id (docs/formats.md)")
        if field["type"] == "signature":
            return
        if not element.get("allowMultiple"):
            rules["maxItems"] = 1
        accepted = [t.strip() for t in str(element.get("acceptedTypes", "")).split(",")
                    if t.strip()]
        media = [t for t in accepted if re.fullmatch(r"[\w.+-]+/(\*|[\w.+-]+)", t)]
        if media:
            rules["accept"] = media
        if len(media) != len(accepted):
            self.ctx.warn(where, "rule_dropped", "file extensions in acceptedTypes: only "
                          "media types are carried")
        if isinstance(element.get("maxSize"), int) and element["maxSize"] > 0:
            rules["maxSizeBytes"] = element["maxSize"]

    def repeat(self, element: Mapping[str, Any], field: dict[str, Any],
               rules: dict[str, Any], path: str, source_path: str, where: str) -> None:
        if element.get("type") == "paneldynamic":
            inner = element.get("templateElements") or []
            field["fields"] = self.elements(inner, path, source_path, path, None, where)
            low, high = element.get("minPanelCount"), element.get("maxPanelCount")
        else:
            columns = []
            for column in element.get("columns") or []:
                cell = dict(column)
                cell.setdefault("type", column.get("cellType") or element.get(
                    "cellType") or "dropdown")
                if cell["type"] in ("dropdown", "checkbox", "radiogroup") and not cell.get(
                        "choices"):
                    cell["choices"] = element.get("choices") or []
                cell.setdefault("title", column.get("title") or column.get("name"))
                columns.append(cell)
            field["fields"] = self.elements(columns, path, source_path, path, None, where)
            low, high = element.get("minRowCount"), element.get("maxRowCount")
        if isinstance(low, int) and low > 0:
            rules["minItems"] = low
        if isinstance(high, int) and high > 0:
            rules["maxItems"] = high

    def group(self, element: Mapping[str, Any], field: dict[str, Any], path: str,
              source_path: str, repeat: str | None, where: str) -> None:
        if element.get("type") == "multipletext":
            items = [{"type": "text", **item, "title": item.get("title") or item.get("name")}
                     for item in element.get("items") or []]
            for item in items:
                if "validators" in item:
                    item["validators"] = list(item["validators"])
            field["fields"] = self.elements(items, path, source_path, repeat, None, where)
            if element.get("isRequired"):
                field["validation"] = {"minAnswered": 1}  # SurveyJS: some item answered
            return
        columns = element.get("columns") or []
        choices = [c if isinstance(c, Mapping) else {"value": c} for c in columns]
        rows = []
        for row in element.get("rows") or []:
            value, text = (row.get("value"), row.get("text")) if isinstance(
                row, Mapping) else (row, row)
            rows.append({"type": "radiogroup", "name": _code(value), "title": text,
                         "choices": choices,
                         "isRequired": bool(element.get("isAllRowRequired"))})
        field["fields"] = self.elements(rows, path, source_path, repeat, None, where)
        if element.get("isRequired") and not element.get("isAllRowRequired"):
            field["validation"] = {"minAnswered": 1}

    def validators(self, validators: list[Mapping[str, Any]], field: dict[str, Any],
                   info: FieldInfo, where: str, scope: str) -> None:
        rules: dict[str, Any] = field.setdefault("validation", {})
        constraints: list[str] = []
        messages: list[Any] = []
        for validator in validators:
            kind = validator.get("type")
            if kind == "numeric" and field["type"] in ("number", "integer", "rating"):
                for key, rule in (("minValue", "min"), ("maxValue", "max")):
                    if isinstance(validator.get(key), int | float):
                        rules[rule] = validator[key]
            elif kind == "text" and field["type"] in ("text", "textarea", "email", "url",
                                                      "phone", "password"):
                for key in ("minLength", "maxLength"):
                    if isinstance(validator.get(key), int) and validator[key] > 0:
                        rules[key] = validator[key]
                if validator.get("allowDigits") is False:
                    rules["pattern"] = "^[^0-9]*$"
            elif kind == "regex" and isinstance(validator.get("regex"), str):
                if "pattern" in rules:
                    self.ctx.warn(where, "rule_dropped", "a second pattern")
                else:
                    rules["pattern"] = validator["regex"]
            elif kind == "email" and field["type"] == "text":
                field["type"] = info.kind = "email"
            elif kind == "answercount" and field["type"] == "multiple_choice":
                for key, rule in (("minCount", "minItems"), ("maxCount", "maxItems")):
                    if isinstance(validator.get(key), int):
                        rules[rule] = validator[key]
            elif kind == "expression" and validator.get("expression"):
                constraints.append(str(validator["expression"]))
                if validator.get("text"):
                    messages.append(validator["text"])
                continue
            else:
                self.ctx.warn(where, "rule_dropped", f"validator {kind!r} is not carried")
                continue
            if validator.get("text"):
                self.ctx.warn(where, "message_dropped",
                              f"the message of validator {kind!r}: pliersdb's own is used")
        if not rules:
            field.pop("validation")
        if constraints:
            source = " and ".join(f"({c})" for c in constraints)
            message = self.text(messages[0], where) if len(messages) == 1 else (
                self.text(" / ".join(m for m in messages if isinstance(m, str)), where)
                if messages else None)

            def constrain() -> None:
                term = self.expression(source, where, "expression validator", scope)
                if term is not None:
                    target = field.setdefault("validation", {})
                    target["constraint"] = term.ast
                    if message:
                        target["constraintMessage"] = message
            self.ctx.later.append(constrain)

    def condition(self, text: str, field: dict[str, Any], key: str, where: str,
                  scope: str) -> None:
        def later() -> None:
            term = self.expression(text, where, key, scope)
            if term is not None:
                field[key] = lower_condition(term.ast, self.ctx)
        self.ctx.later.append(later)

    def expression(self, text: str, where: str, what: str, scope: str) -> Term | None:
        def resolve(reference: str) -> FieldInfo:
            for prefix in ("panel.", "row."):  # the current dynamic panel / matrix row
                if reference.startswith(prefix) and scope:
                    reference = join_path(scope, reference[len(prefix):])
            found = self.ctx.fields.get(reference)
            if found is None:
                raise Dropped(f"unknown question {{{reference}}}")
            return found
        try:
            return ex.parse(text, DIALECT, resolve)
        except Dropped as reason:
            self.ctx.warn(where, "expression_dropped", f"{what} {text!r} dropped: {reason}")
            return None


def _conjoin(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"({first}) and ({second})"
    return first or second


def _code(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _answer(kind: str, value: Any) -> Any:
    """A SurveyJS default as a pliersdb answer: choice values are string codes."""
    if kind in ("single_choice",):
        return _code(value)
    if kind in ("multiple_choice", "ranking") and isinstance(value, list):
        return [_code(v) for v in value]
    return value
