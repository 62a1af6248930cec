"""Form.io (form JSON: ``components``) -> pliersdb."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
from pliersdb.formats._expressions import Term

__all__ = ["from_formio"]

KINDS = {
    "textfield": "text", "textarea": "textarea", "password": "password", "email": "email",
    "url": "url", "phoneNumber": "phone", "number": "number", "currency": "currency",
    "checkbox": "boolean", "selectboxes": "multiple_choice", "select": "single_choice",
    "radio": "single_choice", "datetime": "datetime", "day": "date", "time": "time",
    "signature": "signature", "file": "file", "htmlelement": "display", "content": "display",
    "hidden": "hidden", "container": "group", "datagrid": "repeat", "editgrid": "repeat",
    "survey": "group", "address": "hidden", "tags": "text",
}
LAYOUT = frozenset({"panel", "fieldset", "columns", "well", "table", "tabs"})
SKIPPED = frozenset({"button"})
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*$", re.IGNORECASE)
_SIZES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
# JSON Logic operators of Form.io -> pliersdb's (docs/formats.md).
_SAME = {"and": "and", "or": "or", "+": "+", "-": "-", "*": "*", "/": "/", "%": "%",
         "min": "min", "max": "max", "cat": "cat", "substr": "substr"}
_COMPARE = {"==": "==", "===": "==", "!=": "!=", "!==": "!=", "<": "<", "<=": "<=",
            ">": ">", ">=": ">="}
_OPERATORS = {"isEqual": "==", "isNotEqual": "!=", "lessThan": "<", "greaterThan": ">",
              "lessThanOrEqual": "<=", "greaterThanOrEqual": ">="}


def from_formio(form: Mapping[str, Any]) -> Conversion:
    """Convert a Form.io form JSON (a dict with ``components``) into a pliersdb
    definition and warnings."""
    return _Converter(form).convert()


class _Converter:
    def __init__(self, form: Mapping[str, Any]) -> None:
        self.form = form
        self.ctx = Context()

    def convert(self) -> Conversion:
        definition: dict[str, Any] = {}
        title = self.ctx.text(self.form.get("title"), "form")
        if title:
            definition["title"] = title
        components = list(self.form.get("components") or [])
        fields: list[dict[str, Any]] = []
        if self.form.get("display") == "wizard":
            pages = []
            for number, page in enumerate(components, 1):
                before = len(fields)
                fields += self.components([page], "", "", None, [])
                entry: dict[str, Any] = {"id": str(page.get("key") or f"page{number}"),
                                         "fields": [f["name"] for f in fields[before:]]}
                label = self.ctx.text(page.get("title") or page.get("label"), "form")
                if label:
                    entry["title"] = label
                pages.append(entry)
            definition["fields"] = fields
            definition["pages"] = pages
        else:
            definition["fields"] = self.components(components, "", "", None, [])
        return Conversion(self.ctx.finish(definition), self.ctx.warnings)

    def components(self, components: Sequence[Mapping[str, Any]], parent: str, scope: str,
                   repeat: str | None, inherited: list[Any]) -> list[dict[str, Any]]:
        """The fields of components; layout components are flattened (they hold no data),
        their conditions passed on to what they hold."""
        out: list[dict[str, Any]] = []
        for component in components:
            kind = str(component.get("type", ""))
            where = f"component {join_path(scope, str(component.get('key', '')))!r}"
            if kind in SKIPPED:
                continue
            conditions = [*inherited, (component, where)]
            if kind in LAYOUT:
                inner: list[Mapping[str, Any]] = list(component.get("components") or [])
                for column in component.get("columns") or []:
                    inner += column.get("components") or []
                for row in component.get("rows") or []:
                    for cell in row if isinstance(row, list) else []:
                        inner += cell.get("components") or []
                out += self.components(inner, parent, scope, repeat, conditions)
                continue
            field = self.component(component, parent, scope, repeat, where)
            if field is not None:
                self.visibility(field, conditions, scope)
                out.append(field)
        return out

    def component(self, component: Mapping[str, Any], parent: str, scope: str,
                  repeat: str | None, where: str) -> dict[str, Any] | None:
        raw_type = str(component.get("type", ""))
        kind = KINDS.get(raw_type)
        if kind is None:
            self.ctx.warn(where, "kind_not_supported",
                          f"type {raw_type!r} has no pliersdb kind: the component is dropped")
            return None
        raw = str(component.get("key", ""))
        name = self.ctx.name(raw, where, f"field_{len(self.ctx.fields) + 1}")
        path = join_path(parent, name)
        source_path = join_path(scope, raw)
        validate: Mapping[str, Any] = component.get("validate") or {}
        if raw_type == "checkbox" and validate.get("required"):
            kind = "consent"  # a required checkbox must be ticked
        if raw_type == "select" and component.get("multiple"):
            kind = "multiple_choice"
        if raw_type == "datetime":
            kind = "datetime"
            if component.get("enableTime") is False:
                kind = "date"
                self.ctx.warn(where, "answer_shape", "a datetime without time: answers "
                              "are dates (YYYY-MM-DD); Form.io sends a full date-time")
            elif component.get("enableDate") is False:
                kind = "time"
        if component.get("multiple") and kind in ("text", "number", "email", "phone", "url"):
            self.ctx.warn(where, "kind_approximated",
                          "a multiple value (array) is kept as a hidden answer")
            kind = "hidden"
        field: dict[str, Any] = {"type": kind, "name": name}
        info = FieldInfo(path, kind, repeat=repeat)
        self.ctx.fields[source_path] = info
        self.ctx.fields.setdefault(raw, info)
        if kind not in ("hidden",):
            for key, target in (("label", "label"), ("description", "description"),
                                ("tooltip", "hint")):
                text = self.ctx.text(component.get(key), where)
                if text:
                    field[target] = text
        if component.get("placeholder"):
            field["ui"] = {"placeholder": component["placeholder"]}
        if validate.get("required") and kind not in ("display", "group", "hidden"):
            field["required"] = True
        if component.get("disabled") and kind not in ("display", "group", "repeat"):
            field["readOnly"] = True
        rules = self.rules(component, validate, field, info, where)
        self.kind_properties(component, field, info, rules, path, source_path, where)
        if rules:
            field["validation"] = rules
        if component.get("defaultValue") not in (None, "", [], {}) and kind not in (
                "display", "group", "repeat", "signature", "file"):
            default = component["defaultValue"]
            if kind == "multiple_choice" and isinstance(default, Mapping):
                default = [k for k, v in default.items() if v]
            if default not in ([], False) or kind in ("boolean",):
                field["default"] = default
        if component.get("customConditional"):
            self.ctx.warn(where, "rule_dropped", "customConditional (JavaScript) is not "
                          "carried: the field is always visible")
        for key in ("custom",):
            if validate.get(key):
                self.ctx.warn(where, "rule_dropped",
                              f"validate.{key} (JavaScript) is not carried")
        if validate.get("json"):
            self.json_validation(validate["json"], field, info, where, scope)
        if validate.get("customMessage"):
            self.ctx.warn(where, "message_dropped", "customMessage: pliersdb's messages")
        calculate = component.get("calculateValue")
        if isinstance(calculate, str) and calculate:
            self.ctx.warn(where, "rule_dropped", "calculateValue (JavaScript) is not carried")
        elif isinstance(calculate, Mapping) and calculate:
            self.default_expression(calculate, field, where, scope, info)
        return field

    def rules(self, component: Mapping[str, Any], validate: Mapping[str, Any],
              field: dict[str, Any], info: FieldInfo, where: str) -> dict[str, Any]:
        kind = field["type"]
        rules: dict[str, Any] = {}
        if kind in ("text", "textarea", "password", "email", "url", "phone"):
            for key in ("minLength", "maxLength"):
                if isinstance(validate.get(key), int | str) and str(validate[key]).isdigit():
                    rules[key] = int(validate[key])
            if validate.get("pattern"):  # Form.io anchors its patterns
                rules["pattern"] = f"^(?:{validate['pattern']})$"
            if component.get("inputMask"):
                self.ctx.warn(where, "rule_dropped", f"inputMask "
                              f"{component['inputMask']!r} is not carried")
        elif kind in ("number", "currency"):
            for key in ("min", "max"):
                if isinstance(validate.get(key), int | float) and not isinstance(
                        validate[key], bool):
                    rules[key] = validate[key]
                elif validate.get(key) not in (None, ""):
                    try:
                        rules[key] = float(validate[key])
                    except (TypeError, ValueError):
                        self.ctx.warn(where, "rule_dropped", f"validate.{key} not a number")
            if isinstance(component.get("decimalLimit"), int):
                rules["decimals"] = component["decimalLimit"]
        elif kind in ("multiple_choice",) and isinstance(
                validate.get("minSelectedCount"), int):
            rules["minItems"] = validate["minSelectedCount"]
        if kind == "multiple_choice" and isinstance(validate.get("maxSelectedCount"), int):
            rules["maxItems"] = validate["maxSelectedCount"]
        return rules

    def kind_properties(self, component: Mapping[str, Any], field: dict[str, Any],
                        info: FieldInfo, rules: dict[str, Any], path: str, source_path: str,
                        where: str) -> None:
        raw_type = str(component.get("type", ""))
        kind = field["type"]
        if kind in ("single_choice", "multiple_choice"):
            values = component.get("values") if raw_type != "select" else (
                (component.get("data") or {}).get("values"))
            if raw_type == "select" and component.get("dataSrc", "values") != "values":
                values = None
            if not values:
                self.ctx.warn(where, "kind_approximated", "choices not inline (dataSrc "
                              f"{component.get('dataSrc')!r}): the answer is kept as text")
                field["type"] = info.kind = "text"
                return
            field["choices"] = [{"code": str(v.get("value")), **(
                {"label": self.ctx.text(v["label"], where)} if v.get("label") else {})}
                for v in values]
            info.codes = tuple(c["code"] for c in field["choices"])
            if raw_type == "selectboxes":
                self.ctx.warn(where, "answer_shape", "selectboxes answers are objects "
                              "{code: true|false} in Form.io, arrays of the true codes here")
        elif kind == "currency":
            field["currency"] = str(component.get("currency") or "USD")
        elif raw_type == "day":
            self.ctx.warn(where, "answer_shape", "day answers are 'MM/DD/YYYY' in Form.io, "
                          "'YYYY-MM-DD' here")
        elif kind in ("signature", "file"):
            self.ctx.warn(where, "data_url", "Form.io sends signatures (and base64 files) "
                          "as data URLs: upload each as an attachment and answer its id "
                          "(docs/formats.md)")
            if kind == "file":
                if not component.get("multiple"):
                    rules["maxItems"] = 1
                accepted = [t.strip() for t in str(component.get("filePattern") or "")
                            .split(",") if t.strip() and t.strip() != "*"]
                media = [t for t in accepted if "/" in t]
                if media:
                    rules["accept"] = media
                if len(media) != len(accepted):
                    self.ctx.warn(where, "rule_dropped", "file extensions in filePattern")
                size = _SIZE.match(str(component.get("fileMaxSize") or ""))
                if size:
                    rules["maxSizeBytes"] = int(float(size.group(1)) * _SIZES[
                        (size.group(2) or "B").upper()])
        elif kind == "display":
            content = component.get("content") or component.get("html")
            if content:
                field["content"] = str(content)
        elif raw_type == "address":
            self.ctx.warn(where, "kind_approximated", "an address (an object whose shape "
                          "depends on its provider) is kept as a hidden answer")
        elif raw_type == "tags":
            self.ctx.warn(where, "kind_approximated", "tags are kept as their text")
        elif raw_type == "survey":
            self.ctx.warn(where, "kind_approximated",
                          "a survey (matrix) is a group of single choices")
            choices = [{"value": v.get("value"), "label": v.get("label")}
                       for v in component.get("values") or []]
            questions = [{"type": "radio", "key": q.get("value"), "label": q.get("label"),
                          "values": choices,
                          "validate": {"required": bool(
                              (component.get("validate") or {}).get("required"))}}
                         for q in component.get("questions") or []]
            field.pop("required", None)
            field["fields"] = self.components(questions, path, source_path, info.repeat, [])
        elif kind == "group":
            field["fields"] = self.components(list(component.get("components") or []), path,
                                              source_path, info.repeat, [])
            field.pop("required", None)
        elif kind == "repeat":
            field["fields"] = self.components(list(component.get("components") or []), path,
                                              source_path, path, [])
            validate = component.get("validate") or {}
            for key, rule in (("minLength", "minItems"), ("maxLength", "maxItems")):
                if str(validate.get(key, "")).isdigit() and int(validate[key]) > 0:
                    rules[rule] = int(validate[key])
            rules.pop("minLength", None)
            rules.pop("maxLength", None)

    def visibility(self, field: dict[str, Any], conditions: list[Any], scope: str) -> None:
        """visibleWhen: the conditions of the component and of its layout parents."""
        def later() -> None:
            found = []
            for component, where in conditions:
                condition = self.conditional(component, where, scope)
                if condition is not None:
                    found.append(condition)
            if found:
                field["visibleWhen"] = found[0] if len(found) == 1 else {"all": found}
        self.ctx.later.append(later)

    def conditional(self, component: Mapping[str, Any], where: str,
                    scope: str) -> dict[str, Any] | None:
        conditional = component.get("conditional") or {}
        if not isinstance(conditional, Mapping):
            return None
        show = conditional.get("show")
        test: Any = None
        try:
            if conditional.get("json"):
                term = self.logic(conditional["json"], scope, None)
                return lower_condition(term.ast, self.ctx)
            if conditional.get("when"):
                test = self.test(str(conditional["when"]), "==", conditional.get("eq", ""),
                                 scope)
            elif conditional.get("conditions"):
                tests = [self.test(str(c.get("component", "")), c.get("operator", ""),
                                   c.get("value"), scope)
                         for c in conditional["conditions"]]
                joiner = "or" if conditional.get("conjunction") == "any" else "and"
                test = tests[0] if len(tests) == 1 else {joiner: tests}
        except Dropped as reason:
            self.ctx.warn(where, "expression_dropped", f"conditional dropped: {reason}")
            return None
        if test is None or show in (None, ""):
            return None
        if show in (False, "false"):
            test = {"!": [test]}
        return lower_condition(test, self.ctx)

    def test(self, key: str, operator: str, value: Any, scope: str) -> Any:
        info = self.resolve(key, scope)
        var = Term({"var": info.path}, info.kind, info)
        if operator in ("isEmpty", "isNotEmpty"):
            empty = {"empty": [var.ast]}
            return empty if operator == "isEmpty" else {"!": [empty]}
        if info.kind in ("boolean", "consent") and isinstance(value, str):
            value = value == "true"
        if info.kind == "multiple_choice":  # selectboxes: when the box of `value` is ticked
            if operator in ("==", "isEqual", "includes"):
                return {"selected": [var.ast, str(value)]}
            if operator in ("isNotEqual", "notIncludes"):
                return {"!": [{"selected": [var.ast, str(value)]}]}
        name = _OPERATORS.get(operator, operator)
        if name not in ("==", "!=", "<", "<=", ">", ">="):
            raise Dropped(f"operator {operator!r}")
        return ex.compare(name)(var, Term(value, "string" if isinstance(value, str)
                                          else "number")).ast

    def resolve(self, key: str, scope: str) -> FieldInfo:
        for candidate in (join_path(scope, key), key):
            if candidate in self.ctx.fields:
                return self.ctx.fields[candidate]
        raise Dropped(f"unknown component {key!r}")

    def logic(self, rule: Any, scope: str, current: FieldInfo | None) -> Term:
        """A JSON Logic rule of Form.io as a pliersdb expression (its vars: ``data.x``,
        ``row.x`` in a data grid, ``value`` / ``input`` the component's own answer)."""
        if isinstance(rule, bool | int | float | str) or rule is None:
            return Term(rule, "")
        if isinstance(rule, list):
            return Term([self.logic(r, scope, current).ast for r in rule], "list")
        if not isinstance(rule, Mapping) or len(rule) != 1:
            raise Dropped("not a JSON Logic rule")
        (name, args), = rule.items()
        if name == "var":
            target = args[0] if isinstance(args, list) else args
            if not isinstance(target, str):
                raise Dropped("a var that is not a path")
            if target in ("value", "input") and current is not None:
                info = current
            elif target.startswith("data."):
                info = self.resolve(target[len("data."):], "")
            elif target.startswith("row."):
                info = self.resolve(target[len("row."):], scope)
            else:
                raise Dropped(f"var {target!r}")
            term = Term({"var": info.path}, info.kind, info)
            if isinstance(args, list) and len(args) > 1:
                term = Term({"coalesce": [term.ast, args[1]]}, info.kind)
            return term
        items = args if isinstance(args, list) else [args]
        terms = [self.logic(a, scope, current) for a in items]
        if name in _COMPARE:
            if len(terms) == 3 and name in ("<", "<="):
                build = ex.compare(name)
                return Term({"and": [build(terms[0], terms[1]).ast,
                                     build(terms[1], terms[2]).ast]}, "boolean")
            if len(terms) != 2:
                raise Dropped(f"{name} of {len(terms)} arguments")
            return ex.compare(_COMPARE[name])(terms[0], terms[1])
        if name in _SAME:
            return Term({_SAME[name]: [t.ast for t in terms]}, "")
        if name in ("!", "!!"):  # JSON Logic truthiness: of an answer, whether it is given
            test = terms[0].ast
            if terms[0].kind not in ("boolean", "consent"):
                test = {"!": [{"empty": [test]}]}
            elif name == "!!":
                return Term({"==": [test, True]}, "boolean")
            return Term({"!": [test]} if name == "!" else test, "boolean")
        if name in ("if", "?:"):
            return Term({"if": [t.ast for t in terms]}, "")
        if name == "in" and len(terms) == 2:
            if isinstance(terms[1].ast, list):
                return Term({"in": [terms[0].ast, terms[1].ast]}, "boolean")
            if isinstance(terms[0].ast, str):
                return Term({"regex": [terms[1].ast, ex.escape_regex(terms[0].ast)]}, "boolean")
        raise Dropped(f"JSON Logic operator {name!r}")

    def json_validation(self, rule: Any, field: dict[str, Any], info: FieldInfo,
                        where: str, scope: str) -> None:
        """validate.json: true when valid, else the message. ``{"if": [c, true, msg]}``
        is the constraint c with its message; a boolean rule is the constraint."""
        def later() -> None:
            message = None
            body = rule
            if isinstance(rule, Mapping) and list(rule) == ["if"] and len(rule["if"]) == 3 \
                    and rule["if"][1] is True and isinstance(rule["if"][2], str):
                body, message = rule["if"][0], rule["if"][2]
            try:
                term = self.logic(body, scope, info)
            except Dropped as reason:
                self.ctx.warn(where, "expression_dropped", f"validate.json dropped: {reason}")
                return
            rules = field.setdefault("validation", {})
            rules["constraint"] = term.ast
            if message:
                rules["constraintMessage"] = self.ctx.text(message, where)
        self.ctx.later.append(later)

    def default_expression(self, rule: Mapping[str, Any], field: dict[str, Any],
                           where: str, scope: str, info: FieldInfo) -> None:
        def later() -> None:
            try:
                term = self.logic(rule, scope, None)
            except Dropped as reason:
                self.ctx.warn(where, "expression_dropped", f"calculateValue dropped: {reason}")
                return
            if field["type"] in ("display", "group", "repeat"):
                return
            if field.get("readOnly"):  # disabled and computed: a calculated field
                for key in ("readOnly", "required", "default", "validation", "ui"):
                    field.pop(key, None)
                field["type"] = "calculated"
                field["expression"] = term.ast
                info.kind = "calculated"
                return
            field["defaultExpression"] = term.ast
            self.ctx.warn(where, "kind_approximated", "calculateValue is kept as the "
                          "defaultExpression (Form.io recomputes it while the form is open)")
        self.ctx.later.append(later)
