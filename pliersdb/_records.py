"""Private helpers of the API modules: rows to typed objects, and arguments of the SQL API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def from_row(cls: type[R], row: Mapping[str, Any]) -> R:
    """An instance of dataclass ``cls`` from a row (a dict of column -> value).

    Columns the dataclass does not name are ignored (a column added to the table does
    not break the library); arrays become tuples where the field is a tuple.
    """
    values: dict[str, Any] = {}
    for field in fields(cls):
        value = row[field.name]
        if isinstance(value, list) and str(field.type).startswith("tuple"):
            value = tuple(value)
        values[field.name] = value
    return cls(**values)


def given(**arguments: Any) -> dict[str, Any]:
    """The arguments that are not None: the others are left to the SQL defaults."""
    return {name: value for name, value in arguments.items() if value is not None}


def as_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A mapping as a dict (sent as jsonb), None as None."""
    return None if value is None else dict(value)


def as_list(value: Sequence[str] | None) -> list[str] | None:
    """A sequence of strings as a list (sent as text[]), None as None."""
    return None if value is None else list(value)
