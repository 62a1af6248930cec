"""One small Pratt parser for the text expression grammars of form builders (XLSForm's
XPath subset, SurveyJS expressions), parameterised by a ``Dialect``: how references are
written, the operators with their binding powers, the functions. It produces
pliersdb's JSON expression AST (docs/expressions.md). Anything it does not know raises
``Dropped``: the caller drops the rule with a warning, never keeps a wrong one."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pliersdb.formats._common import Dropped, FieldInfo

__all__ = ["Dialect", "Term", "parse"]

LIST_KINDS = frozenset({"multiple_choice", "ranking"})


@dataclass(frozen=True)
class Term:
    """A parsed sub-expression: its AST and what is known of its type: the field kind of
    a reference, ``number`` / ``string`` / ``boolean`` / ``null`` / ``list`` of a
    literal or an operation, or ``""`` (unknown)."""

    ast: Any
    kind: str = ""
    field: FieldInfo | None = None


Resolve = Callable[[str], FieldInfo]
Function = Callable[[list[Term]], Term]


@dataclass(frozen=True)
class Dialect:
    """A grammar: token patterns, operators and functions.

    ``reference`` matches a field reference (group 1: what is resolved); ``binary``
    maps an operator word or symbol to (binding power, builder); ``prefix`` and
    ``postfix`` to a builder of one operand; ``words`` are the literals written as
    words (``true``); ``current`` the token of the field itself (XLSForm ``.``)."""

    name: str
    reference: re.Pattern[str]
    identifier: re.Pattern[str]
    binary: dict[str, tuple[int, Callable[[Term, Term], Term]]]
    prefix: dict[str, Callable[[Term], Term]]
    postfix: dict[str, tuple[int, Callable[[Term], Term]]] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    words: dict[str, Any] = field(default_factory=dict)
    current: str | None = None
    case_insensitive: bool = False
    arrays: bool = False


_NUMBER = re.compile(r"\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+")
_SYMBOLS = ("<=", ">=", "!=", "==", "<>", "&&", "||", "=", "<", ">", "+", "-", "*", "/",
            "%", "!", "(", ")", ",", "[", "]")


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, ref, word, symbol, current, end
    text: str
    value: Any = None


def _tokens(source: str, dialect: Dialect) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(source):
        c = source[i]
        if c.isspace():
            i += 1
            continue
        ref = dialect.reference.match(source, i)
        if ref:
            out.append(_Token("ref", ref.group(0), ref.group(1).strip()))
            i = ref.end()
            continue
        if c in "'\"":
            end = source.find(c, i + 1)
            if end < 0:
                raise Dropped(f"unterminated string in {source!r}")
            out.append(_Token("string", source[i:end + 1], source[i + 1:end]))
            i = end + 1
            continue
        number = _NUMBER.match(source, i)
        if number and (c != "." or dialect.current != "."):
            text = number.group(0)
            out.append(_Token("number", text,
                              float(text) if any(x in text for x in ".eE") else int(text)))
            i = number.end()
            continue
        if dialect.current and source.startswith(dialect.current, i) and not (
                source.startswith("..", i)):
            out.append(_Token("current", dialect.current))
            i += len(dialect.current)
            continue
        word = dialect.identifier.match(source, i)
        if word:
            text = word.group(0)
            out.append(_Token("word", text.lower() if dialect.case_insensitive else text))
            i = word.end()
            continue
        symbol = next((s for s in _SYMBOLS if source.startswith(s, i)), None)
        if symbol is None:
            raise Dropped(f"unexpected {source[i:i + 10]!r}")
        out.append(_Token("symbol", symbol))
        i += len(symbol)
    out.append(_Token("end", ""))
    return out


class _Parser:
    def __init__(self, source: str, dialect: Dialect, resolve: Resolve,
                 current: FieldInfo | None) -> None:
        self.tokens = _tokens(source, dialect)
        self.at = 0
        self.dialect = dialect
        self.resolve = resolve
        self.current = current

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self, text: str | None = None) -> _Token:
        token = self.tokens[self.at]
        if text is not None and token.text != text:
            raise Dropped(f"expected {text!r}, found {token.text or 'the end'!r}")
        self.at += 1
        return token

    def binding(self, token: _Token) -> int:
        if token.kind in ("word", "symbol"):
            if token.text in self.dialect.binary:
                return self.dialect.binary[token.text][0]
            if token.text in self.dialect.postfix:
                return self.dialect.postfix[token.text][0]
        return 0

    def expression(self, right: int = 0) -> Term:
        left = self.operand()
        while self.binding(self.peek()) > right:
            token = self.take()
            if token.text in self.dialect.postfix:
                left = self.dialect.postfix[token.text][1](left)
            else:
                power, build = self.dialect.binary[token.text]
                left = build(left, self.expression(power))
        return left

    def operand(self) -> Term:
        token = self.take()
        if token.kind == "number":
            return Term(token.value, "number")
        if token.kind == "string":
            return Term(token.value, "string")
        if token.kind == "ref":
            info = self.resolve(token.value)
            return Term({"var": info.path}, info.kind, info)
        if token.kind == "current":
            if self.current is None:
                raise Dropped(f"{token.text!r} outside a field's own rule")
            return Term({"var": self.current.path}, self.current.kind, self.current)
        if token.text == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if token.text == "[" and self.dialect.arrays:
            items = self.arguments("]")
            if any(isinstance(t.ast, dict | list) for t in items):
                raise Dropped("an array literal holds only literals")
            return Term([t.ast for t in items], "list")
        if token.text in self.dialect.prefix and token.kind in ("word", "symbol") and (
                self.peek().text != "(" or token.kind == "symbol"):
            return self.dialect.prefix[token.text](self.expression(70))
        if token.kind == "word":
            if self.peek().text == "(":
                self.take("(")
                function = self.dialect.functions.get(token.text)
                if function is None:
                    raise Dropped(f"unknown function {token.text}()")
                return function(self.arguments(")"))
            if token.text in self.dialect.words:
                value = self.dialect.words[token.text]
                return Term(value, _literal_kind(value))
            raise Dropped(f"unknown name {token.text!r}")
        raise Dropped(f"unexpected {token.text or 'end'!r}")

    def arguments(self, close: str) -> list[Term]:
        items: list[Term] = []
        if self.peek().text == close:
            self.take()
            return items
        while True:
            items.append(self.expression())
            if self.take().text == close:
                return items
            if self.tokens[self.at - 1].text != ",":
                raise Dropped(f"expected ',' or {close!r}")


def parse(source: str, dialect: Dialect, resolve: Resolve,
          current: FieldInfo | None = None) -> Term:
    """Parse ``source``; ``resolve`` turns a reference into its field (raises ``Dropped``
    if unknown), ``current`` is the field of a constraint (XLSForm ``.``)."""
    parser = _Parser(source, dialect, resolve, current)
    term = parser.expression()
    if parser.peek().kind != "end":
        raise Dropped(f"unexpected {parser.peek().text!r} in {source!r}")
    return term


def _literal_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


# Builders shared by the dialects -----------------------------------------------------

NUMERIC_KINDS = frozenset({"number", "integer", "currency", "rating"})


def op(name: str, kind: str = "") -> Callable[..., Term]:
    """A builder of ``{name: [args...]}`` of result kind ``kind``."""
    def build(*terms: Term) -> Term:
        return Term({name: [t.ast for t in terms]}, kind)
    return build


def compare(name: str) -> Callable[[Term, Term], Term]:
    """A comparison, literals adjusted to the referenced field: a number compared with a
    choice code is that code (``{kids} = 2``) for ``==`` / ``!=``, a numeric string
    compared with a number field is that number; a comparison of a list (multiple
    choice) with a scalar is a membership test."""
    def build(left: Term, right: Term) -> Term:
        left, right = _adjust(left, right, name), _adjust(right, left, name)
        if name in ("==", "!=") and (left.kind in LIST_KINDS or right.kind in LIST_KINDS):
            listed, code = (left, right) if left.kind in LIST_KINDS else (right, left)
            if not isinstance(code.ast, str):
                raise Dropped("a multiple choice compared with something else than a code")
            test: Any = {"selected": [listed.ast, code.ast]}
            return Term(test if name == "==" else {"!": test}, "boolean")
        return Term({name: [left.ast, right.ast]}, "boolean")
    return build


def _adjust(term: Term, other: Term, name: str) -> Term:
    if other.field is None or isinstance(term.ast, dict | list):
        return term
    if other.kind == "single_choice" and isinstance(term.ast, int | float) and not isinstance(
            term.ast, bool) and (name in ("==", "!=") or not other.field.ordinal):
        return Term(_code(term.ast), "string")
    if other.kind in NUMERIC_KINDS and isinstance(term.ast, str):
        try:
            number = float(term.ast)
        except ValueError:
            return term
        return Term(int(number) if number.is_integer() else number, "number")
    return term


def _code(number: int | float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def arity(count: int | tuple[int, int], build: Function) -> Function:
    low, high = (count, count) if isinstance(count, int) else count

    def checked(args: list[Term]) -> Term:
        if not low <= len(args) <= high:
            raise Dropped(f"wrong number of arguments ({len(args)})")
        return build(args)
    return checked


def call(name: str, kind: str = "", count: int | tuple[int, int] = (1, 99)) -> Function:
    return arity(count, lambda args: op(name, kind)(*args))


def selected(args: list[Term]) -> Term:
    if len(args) != 2 or not isinstance(args[1].ast, str):
        raise Dropped("selected() takes a field and a choice code literal")
    return Term({"selected": [args[0].ast, args[1].ast]}, "boolean")


def date_literal(args: list[Term]) -> Term:
    if len(args) != 1:
        raise Dropped("date() takes one argument")
    if isinstance(args[0].ast, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", args[0].ast):
        return Term(args[0].ast, "date")
    if args[0].kind in ("date", "datetime"):
        return args[0]
    raise Dropped("date() of something else than a date literal or a date field")


def conditional(args: list[Term]) -> Term:
    """if(c, a, b) / iif(c, a, b)."""
    if len(args) != 3:
        raise Dropped("if() takes three arguments")
    return Term({"if": [a.ast for a in args]}, args[1].kind)


def negative(term: Term) -> Term:
    """Unary minus: a negative number literal, else ``{"-": [x]}``."""
    if isinstance(term.ast, int | float) and not isinstance(term.ast, bool):
        return Term(-term.ast, "number")
    return Term({"-": [term.ast]}, "number")


def escape_regex(text: str) -> str:
    """``text`` as a literal in a regular expression (the ``regex`` operator)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)
