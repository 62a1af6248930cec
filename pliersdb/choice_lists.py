"""Choice lists: a tenant's shared choice lists and CSV data sets, ``session.choice_lists``.

    with db.tenant(org_id, user_id) as t:
        t.choice_lists.create("countries", [{"code": "fr", "label": "France"}])
        with open("schools.csv", newline="", encoding="utf-8") as f:
            t.choice_lists.import_csv("schools", f, title="Schools")

A choice field names a list with ``"choiceList": "<name>"`` instead of inline
``choices`` (``docs/choice-lists.md``). Each method is one call of the SQL API: the
database validates the items (every error with its path, ``$.items[3].code``),
checks permissions (``form.edit`` to write, ``form.view`` to read), versions the list
and records events. This module parses CSV (``items_from_csv``) and turns rows into
``ChoiceList`` objects; what a valid item is stays in SQL.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from pliersdb._api import Api, Call, S, Steps, api, one_row, record, records
from pliersdb._records import as_list as _list
from pliersdb._records import from_row, given

__all__ = ["ChoiceItem", "ChoiceList", "ChoiceListPage", "ChoiceLists", "items_from_csv"]

Kind = Literal["list", "dataset"]
# The CSV header names of the code (the first found) and of the label (XLSForm's).
CODE_COLUMNS = ("name", "code")
LABEL_COLUMN = "label"


@dataclass(frozen=True)
class ChoiceList:
    """A choice list or data set: a row of ``pliers.choice_lists``, without its items.

    ``version`` is the optimistic-concurrency counter: pass it back as
    ``expected_version`` to ``replace`` to refuse a change made meanwhile (``Conflict``).
    ``columns`` are the attribute names of the items (a data set's CSV header order).
    """

    id: UUID
    organization_id: UUID
    name: str
    title: str | None
    description: str | None
    kind: str
    columns: tuple[str, ...]
    item_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None
    updated_by: UUID | None


@dataclass(frozen=True)
class ChoiceItem:
    """One item: its ``code`` (what answers store), its ``label`` (a string, or a dict
    language -> string) and its ``attributes`` (read by choice filters)."""

    code: str
    label: str | dict[str, str]
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ChoiceListPage:
    """A list and a page of its items, in order (``ChoiceLists.get``)."""

    choice_list: ChoiceList
    items: tuple[ChoiceItem, ...]


def _page(rows: list[dict[str, Any]]) -> ChoiceListPage:
    row = one_row("get_choice_list", rows)
    items = tuple(ChoiceItem(i["code"], i["label"], i["attributes"]) for i in row["items"])
    return ChoiceListPage(from_row(ChoiceList, row), items)


def _items(items: Iterable[ChoiceItem | Mapping[str, Any]]) -> Jsonb:
    """Items as the JSON array the SQL API takes: ChoiceItem objects or dicts, as given."""
    return Jsonb([{"code": i.code, "label": i.label, "attributes": i.attributes}
                  if isinstance(i, ChoiceItem) else dict(i) if isinstance(i, Mapping) else i
                  for i in items])


def items_from_csv(lines: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The items and the attribute columns of a CSV data set (XLSForm's external choices).

    The header names the code column (``name``, else ``code``), the label (``label``,
    or ``label::<language>`` columns for a translated label: ``label::en``,
    ``label::fr``; not both kinds) and the attributes (every other column, in header
    order). Values are strings as written; an empty attribute cell is left out of its
    item, an empty translation out of its label. The rules of a valid item (distinct
    codes, labels, limits) are the database's: this only reshapes.

    ``ValueError`` when the header has no code or no label column, or both ``label`` and
    ``label::<language>`` columns, or a row has more cells than the header.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise ValueError("the CSV is empty: its first line is the header")
    header = [h.strip() for h in header]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]  # a byte-order mark (spreadsheets write one)
    code_column = next((c for c in CODE_COLUMNS if c in header), None)
    if code_column is None:
        raise ValueError("the CSV header has no name (or code) column")
    translated = {h: h.split("::", 1)[1].strip() for h in header if h.startswith("label::")}
    if LABEL_COLUMN in header and translated:
        raise ValueError("the CSV header has both label and label::<language> columns")
    if LABEL_COLUMN not in header and not translated:
        raise ValueError("the CSV header has no label (or label::<language>) column")
    skipped = {code_column, LABEL_COLUMN, *translated, *(c for c in CODE_COLUMNS if c in header)}
    columns = [h for h in header if h not in skipped]
    items: list[dict[str, Any]] = []
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines
        if len(row) > len(header):
            raise ValueError(f"line {number} has {len(row)} cells, the header {len(header)}")
        cells = dict(zip(header, row, strict=False))
        label: str | dict[str, str] = (
            cells.get(LABEL_COLUMN, "") if not translated
            else {language: cells[h] for h, language in translated.items() if cells.get(h)})
        item: dict[str, Any] = {"code": cells.get(code_column, ""), "label": label}
        attributes = {c: cells[c] for c in columns if cells.get(c, "") != ""}
        if attributes:
            item["attributes"] = attributes
        items.append(item)
    return items, columns


class ChoiceLists(Api[S]):
    """The choice lists of one tenant session (``session.choice_lists``)."""

    # Writing ------------------------------------------------------------------

    @api
    def create(self, name: str, items: Iterable[ChoiceItem | Mapping[str, Any]], *,
               title: str | None = None, kind: Kind = "list", description: str | None = None,
               columns: Sequence[str] | None = None) -> Call[ChoiceList]:
        """Create a list ``name`` (what a field's ``choiceList`` names) with its items, in
        display order: each ``{code, label, attributes?}`` (``pliers.create_choice_list``).

        Every error comes at once in ``ValidationError.errors`` (the first 100; ``detail``
        has ``error_count``); ``Conflict`` when a live list has the name.
        """
        return record(ChoiceList, "create_choice_list", name=name, title=title,
                      items=_items(items), kind=kind,
                      **given(description=description, columns=_list(columns)))

    @api
    def replace(self, name: str, items: Iterable[ChoiceItem | Mapping[str, Any]],
                expected_version: int, *, title: str | None = None,
                columns: Sequence[str] | None = None) -> Call[ChoiceList]:
        """Replace every item of a list at once (``pliers.replace_choice_list_items``).

        ``expected_version`` is the ``version`` read (``Conflict`` if it changed); the
        version is incremented. Forms that name the list see the new items at once.
        """
        return record(ChoiceList, "replace_choice_list_items", name=name, items=_items(items),
                      expected_version=expected_version,
                      **given(title=title, columns=_list(columns)))

    @api
    def import_csv(self, name: str, lines: Iterable[str], *,
                   title: str | None = None) -> Steps[ChoiceList]:
        """Load a data set from CSV (``items_from_csv`` has the format): a new list of kind
        ``dataset``, or the items of the existing one ``name`` replaced (at the version
        read here: ``Conflict`` if another change comes in between)."""
        items, columns = items_from_csv(lines)
        current: list[ChoiceList] = yield records(ChoiceList, "list_choice_lists")
        existing = next((c for c in current if c.name == name), None)
        if existing is None:
            created: ChoiceList = yield record(
                ChoiceList, "create_choice_list", name=name, title=title, items=Jsonb(items),
                kind="dataset", columns=columns)
            return created
        replaced: ChoiceList = yield record(
            ChoiceList, "replace_choice_list_items", name=name, items=Jsonb(items),
            expected_version=existing.version, columns=columns, **given(title=title))
        return replaced

    @api
    def delete(self, name: str, *, expected_version: int | None = None) -> Call[ChoiceList]:
        """Delete a list (``pliers.delete_choice_list``; its name is free again).

        ``Conflict`` (``detail["rule"] == "in_use"``, ``detail["forms"]``) while a form
        version that is not archived names it.
        """
        return record(ChoiceList, "delete_choice_list", name=name,
                      **given(expected_version=expected_version))

    # Reading ------------------------------------------------------------------

    @api
    def get(self, name: str, *, offset: int = 0, limit: int = 10000) -> Call[ChoiceListPage]:
        """A list and a page of its items in order: after the first ``offset``, at most
        ``limit`` (10,000 at most; ``pliers.get_choice_list``). ``NotFound`` if none."""
        return Call("get_choice_list", (), {"name": name, "offset": offset, "limit": limit}, _page)

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self) -> Call[list[ChoiceList]]:
        """The live lists of the tenant, by name, without their items."""
        return records(ChoiceList, "list_choice_lists")
