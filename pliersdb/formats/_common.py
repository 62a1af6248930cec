"""What the three converters share: the result, the warnings, names, translatable texts,
the registry of converted fields that expressions resolve against, and the lowering of
boolean expressions to plain conditions (docs/formats.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conversion", "ConversionWarning"]

# docs/forms.md: a name is 1 to 200 characters, without '.', '[', ']' and controls.
_BAD_NAME_CHARS = re.compile(r"[.\[\]\x00-\x1f\x7f]")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
NAME_CHARS = 200
# Kinds whose answers the ordering operators of plain conditions accept.
ORDERED_KINDS = frozenset({"number", "integer", "currency", "rating", "date", "time",
                           "datetime"})
# Kinds a plain condition may test (docs/forms.md "Conditions").
TESTABLE_KINDS = frozenset({
    "text", "textarea", "password", "email", "url", "phone", "number", "integer", "currency",
    "boolean", "consent", "single_choice", "multiple_choice", "date", "time", "datetime",
    "rating", "hidden"})
_NUMERIC_CODE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class ConversionWarning:
    """Something of the source that the definition does not carry, or carries approximately.

    ``location`` names where it is in the source (``survey row 7 (age)``, ``element
    "kids"``, ``component "grid.price"``), ``code`` is stable (docs/formats.md lists
    them), ``message`` says what was dropped or approximated."""

    location: str
    code: str
    message: str


@dataclass(frozen=True)
class Conversion:
    """A converted form: the pliersdb definition and what it could not carry."""

    definition: dict[str, Any]
    warnings: list[ConversionWarning]

    def codes(self) -> list[tuple[str, str]]:
        """(location, code) of each warning, in order: handy in tests and logs."""
        return [(w.location, w.code) for w in self.warnings]


class Dropped(Exception):
    """A rule that cannot be converted faithfully: it is dropped with a warning."""


class Text(dict[str, str]):
    """A translatable text while converting: language tag -> text (``Context.finish``),
    and where it is in the source (for warnings)."""

    where = "form"


@dataclass
class FieldInfo:
    """A converted field, as expressions and conditions see it."""

    path: str
    kind: str
    codes: tuple[str, ...] | None = None  # inline choice codes
    repeat: str | None = None  # the path of the innermost repeat holding it

    @property
    def ordinal(self) -> bool:
        return (self.kind == "single_choice" and bool(self.codes)
                and all(_NUMERIC_CODE.match(c) for c in self.codes or ()))


@dataclass
class Context:
    """The state of one conversion: warnings, texts, fields, and the rules converted
    once every field is known (references may point forward)."""

    default_language: str = "en"
    warnings: list[ConversionWarning] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    fields: dict[str, FieldInfo] = field(default_factory=dict)  # source name -> info
    later: list[Callable[[], None]] = field(default_factory=list)

    def warn(self, location: str, code: str, message: str) -> None:
        self.warnings.append(ConversionWarning(location, code, message))

    def name(self, name: Any, location: str, fallback: str) -> str:
        """A source name as an answer key: as written, but '.', '[', ']' and control
        characters become '_' (with a warning), blanks are trimmed, 200 characters kept."""
        if not isinstance(name, str) or not name.strip():
            self.warn(location, "name_missing", f"no name: named {fallback!r}")
            return fallback
        fixed = _BAD_NAME_CHARS.sub("_", name.strip())[:NAME_CHARS]
        if fixed != name:
            self.warn(location, "name_changed",
                      f"name {name!r} is stored as {fixed!r} ('.', '[', ']', control "
                      "characters and surrounding blanks are not allowed in a name; at most "
                      f"{NAME_CHARS} characters)")
        return fixed

    def language(self, tag: str) -> None:
        if tag not in self.languages:
            self.languages.append(tag)

    def text(self, value: Any, location: str) -> Text | None:
        """A source text: a string (the default language) or language -> string."""
        if value is None or value == "":
            return None
        text = Text()
        text.where = location
        if isinstance(value, str):
            self.language(self.default_language)
            text[self.default_language] = value
            return text
        if isinstance(value, Mapping):
            for tag, string in value.items():
                if isinstance(string, str) and string != "":
                    self.language(tag)
                    text[tag] = string
            return text or None
        self.warn(location, "text_dropped", f"a text that is not a string: {value!r}")
        return None

    def finish(self, definition: dict[str, Any]) -> dict[str, Any]:
        """Run the deferred rules, then turn every Text into a string (one language) or
        a translation object (several: ``languages`` and ``defaultLanguage`` are set)."""
        for step in self.later:
            step()
        languages = [t for t in self.languages if _LANGUAGE_TAG.match(t)]
        several = len(languages) > 1
        default = self.default_language if self.default_language in languages else (
            languages[0] if languages else self.default_language)
        languages.sort(key=lambda tag: tag != default)  # the default first, then in order

        def final(value: Any) -> Any:
            if isinstance(value, Text):
                usable = {k: v for k, v in value.items() if k in languages}
                if default not in usable:
                    first = next(iter(usable.values()), next(iter(value.values()), ""))
                    if several:
                        self.warn(value.where, "translation_missing",
                                  f"no {default!r} text: the {first!r} of another language "
                                  "stands in")
                    usable = {default: first, **usable}
                if not several:
                    return usable[default]
                return {tag: usable[tag] for tag in languages if tag in usable}
            if isinstance(value, dict):
                return {k: final(v) for k, v in value.items()}
            if isinstance(value, list):
                return [final(v) for v in value]
            return value

        result: dict[str, Any] = final(definition)
        if several:
            result = {"languages": languages, "defaultLanguage": default, **result}
        return result


def lower_condition(expression: Any, ctx: Context) -> dict[str, Any]:
    """A boolean expression as a condition: the plain tests ({field, operator, value},
    all / any / not) where they say the same, an ``{"expression": ...}`` leaf elsewhere."""
    by_path = {info.path: info for info in ctx.fields.values()}

    def leaf(node: Any) -> dict[str, Any] | None:
        if not isinstance(node, dict) or len(node) != 1:
            return None
        (op, args), = node.items()
        if op in ("and", "or"):
            return {"all" if op == "and" else "any": [lower(a) for a in args]}
        if op == "!":
            inner = args[0] if isinstance(args, list) else args
            lowered = lower(inner)
            if lowered.get("operator") == "empty":
                return {"field": lowered["field"], "operator": "not_empty"}
            return {"not": lowered}
        args = args if isinstance(args, list) else [args]
        if op == "var":  # a boolean answer as a condition: that it is true
            info = _tested(node, by_path)
            if info and info.kind in ("boolean", "consent"):
                return {"field": info.path, "operator": "equals", "value": True}
            return None
        if op == "empty" and len(args) == 1:
            info = _tested(args[0], by_path)
            return {"field": info.path, "operator": "empty"} if info else None
        if op in ("selected", "in") and len(args) == 2:
            info = _tested(args[0], by_path)
            values = [args[1]] if op == "selected" else args[1]
            if info and isinstance(values, list) and values and _values_fit(info, values):
                return {"field": info.path, "operator": "in", "value": values}
            return None
        if op in _COMPARISONS and len(args) == 2:
            left, right = args
            if not isinstance(left, dict) and isinstance(right, dict):
                left, right, op = right, left, _FLIPPED[op]
            info = _tested(left, by_path)
            if info is None or isinstance(right, dict | list):
                return None
            if right is None:
                if op in ("==", "!="):
                    return {"field": info.path,
                            "operator": "empty" if op == "==" else "not_empty"}
                return None
            if op in ("==", "!="):
                if not _values_fit(info, [right]):
                    return None
                return {"field": info.path,
                        "operator": "equals" if op == "==" else "not_equals", "value": right}
            ordered = info.kind in ORDERED_KINDS and (
                isinstance(right, int | float) != (info.kind in ("date", "time", "datetime")))
            if (ordered and not isinstance(right, bool)) or (
                    info.ordinal and isinstance(right, int | float)
                    and not isinstance(right, bool)):
                return {"field": info.path, "operator": _COMPARISONS[op], "value": right}
        return None

    def lower(node: Any) -> dict[str, Any]:
        return leaf(node) or {"expression": node}

    return lower(expression)


_COMPARISONS = {"==": "equals", "!=": "not_equals", "<": "less_than",
                "<=": "less_or_equal", ">": "greater_than", ">=": "greater_or_equal"}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _tested(node: Any, by_path: Mapping[str, FieldInfo]) -> FieldInfo | None:
    if isinstance(node, dict) and set(node) == {"var"} and isinstance(node["var"], str):
        info = by_path.get(node["var"])
        if info is not None and info.kind in TESTABLE_KINDS:
            return info
    return None


def _values_fit(info: FieldInfo, values: Iterable[Any]) -> bool:
    """Whether a plain condition may compare the field with these values: choice codes
    of a choice field, strings of a text, numbers of a number..."""
    for value in values:
        if info.kind in ("single_choice", "multiple_choice"):
            if not isinstance(value, str) or (info.codes is not None
                                              and value not in info.codes):
                return False
        elif info.kind in ("number", "integer", "currency", "rating"):
            if not isinstance(value, int | float) or isinstance(value, bool):
                return False
        elif info.kind in ("boolean", "consent"):
            if not isinstance(value, bool):
                return False
        elif info.kind != "hidden" and not isinstance(value, str):
            return False
    return True


def join_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name
