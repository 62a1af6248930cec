"""``pliersdb export`` and ``pliersdb import``: a form's submissions out as CSV, and in
from CSV or JSON lines through the bulk path (``t.submissions.import_rows``), as a
tenant, with a progress bar on a terminal.

CSV in is CSV out: the header names the columns of ``export_columns`` of the form.
Of the submission's own columns, ``status``, ``external_id``, ``created_at`` and
``submitted_at`` are imported, the others (numbers, ids, ``updated_at``, ...) are the
target's own and ignored; each other column is an answer at its path (``address.zip``
nests; ``data.status`` is the answer ``status``). A cell of a column whose answers are
strings (``json_type`` string: text, dates, single choices ...) is the answer as it is;
of another column it is parsed as JSON, as the export writes numbers, booleans,
multiple choices and repeats, and kept as a string when it does not parse (the form's
validation then reports it). An empty cell is no answer.

A JSON line is an object with the keys of ``ImportRow``: ``data``, ``status``,
``external_id``, ``metadata``, ``tags``, ``source``, ``created_at``, ``submitted_at``
(times as ISO 8601 strings).

Rows go in batches of ``batch_size``, each in its own transaction, all or nothing (the
API's rule): a batch with a bad row writes nothing, every bad row of it is reported
with its line number, and the next batches go on. A row whose external id is already
imported is skipped, so a file is imported again as it is once its bad rows are fixed.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, BinaryIO, cast

from tqdm import tqdm

from pliersdb import errors
from pliersdb.db import Session
from pliersdb.submissions import ExportColumn, ImportRow

__all__ = ["ImportReport", "RowError", "export", "import_file"]

# The export's own columns that an import takes; the others are the target's own.
_IMPORTED_META = ("status", "external_id", "created_at", "submitted_at")
_TIMES = ("created_at", "submitted_at")
_JSON_KEYS = frozenset(ImportRow.__dataclass_fields__)

# A tenant transaction: ``db.tenant(org, user)`` or ``db.with_api_key(key)``.
Tenant = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class RowError:
    """What is wrong with the row at ``line`` of the input (from 1)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """The rows created and skipped, and the rows of the batches that wrote nothing."""

    created: int = 0
    skipped: int = 0
    rejected: int = 0  # rows of failed batches (bad or not)
    errors: list[RowError] = field(default_factory=list)


def progress_bar(show: bool | None, total: int | None, unit: str, what: str) -> tqdm[Any]:
    """A tqdm bar on stderr; ``show`` None shows it only when stderr is a terminal."""
    shown = sys.stderr.isatty() if show is None else show
    return tqdm(total=total, unit=unit, unit_scale=True, desc=what, disable=not shown,
                file=sys.stderr, leave=False)


class _CountingWriter(io.RawIOBase):
    """A binary stream that advances the bar by the bytes written through it."""

    def __init__(self, out: BinaryIO, advance: Callable[[int], object]) -> None:
        self._out, self._advance = out, advance

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        written = self._out.write(data)
        self._advance(len(data))
        return written


class _CountingReader(io.RawIOBase):
    """A binary stream that advances the bar by the bytes read through it."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], object]) -> None:
        self._raw, self._advance = raw, advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self._advance(count or 0)
        return int(count or 0)


def export(tenant: Tenant, slug: str, out: BinaryIO, *, include_drafts: bool = False,
           show_progress: bool | None = None) -> int:
    """Stream the CSV of form ``slug`` into ``out``; the number of rows."""
    with progress_bar(show_progress, None, "B", f"export {slug}") as bar, tenant() as t:
        # A RawIOBase: the export writes bytes to it.
        return t.submissions.export(slug, cast(IO[bytes], _CountingWriter(out, bar.update)),
                                    include_drafts=include_drafts)


def text_input(raw: BinaryIO, size: int | None, show_progress: bool | None,
               what: str) -> tuple[IO[str], tqdm[Any]]:
    """``raw`` as UTF-8 text (universal newlines left to the csv module), and the bar
    that its reading advances (of ``size`` bytes, when known)."""
    bar = progress_bar(show_progress, size, "B", what)
    reader = io.BufferedReader(_CountingReader(raw, bar.update))
    return io.TextIOWrapper(reader, encoding="utf-8-sig", newline=""), bar


def _nest(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        data = data.setdefault(name, {})
    data[last] = value


def _answer(column: ExportColumn, cell: str) -> Any:
    # The export writes a string answer as it is, any other as JSON.
    if column.json_type == "string":
        return cell
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def _time(key: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{key}: {value!r} is not an ISO 8601 time") from None


def csv_rows(text: IO[str], columns: list[ExportColumn]
             ) -> Iterator[tuple[int, ImportRow | RowError]]:
    """(line, row or error) of each record of a CSV whose header names export columns;
    ValueError for a header naming an unknown column."""
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        return
    known = {c.name: c for c in columns}
    unknown = [name for name in header if name not in known]
    if unknown:
        raise ValueError(f"unknown column{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)}: the header names columns of the form's "
                         f"export")
    line = reader.line_num + 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if len(record) != len(header):
            yield start, RowError(start, f"{len(record)} cells, the header has {len(header)}")
            continue
        data: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for name, cell in zip(header, record, strict=True):
            column = known[name]
            if cell == "":
                continue
            if column.path is not None:
                _nest(data, column.path, _answer(column, cell))
            elif name in _IMPORTED_META:
                meta[name] = cell
        yield start, _row(start, {"data": data, **meta})


def json_rows(text: IO[str]) -> Iterator[tuple[int, ImportRow | RowError]]:
    """(line, row or error) of each non-blank line of JSON lines."""
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        try:
            value = json.loads(content)
        except ValueError as exc:
            yield line, RowError(line, f"not JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield line, RowError(line, "not a JSON object")
            continue
        unknown = sorted(set(value) - _JSON_KEYS)
        if unknown:
            yield line, RowError(line, f"unknown key{'s' if len(unknown) > 1 else ''} "
                                       f"{', '.join(unknown)} (the keys of a row: "
                                       f"{', '.join(sorted(_JSON_KEYS))})")
            continue
        yield line, _row(line, value)


# The JSON type of each key of a row (null is always allowed: the default).
_TYPES: dict[str, tuple[type, str]] = {
    "data": (dict, "an object"), "metadata": (dict, "an object"), "tags": (list, "an array"),
    **{key: (str, "a string")
       for key in ("status", "external_id", "source", "created_at", "submitted_at")}}


def _row(line: int, values: dict[str, Any]) -> ImportRow | RowError:
    for key, value in values.items():
        kind, name = _TYPES[key]
        if value is not None and not isinstance(value, kind):
            return RowError(line, f"{key}: must be {name} or null")
    try:
        return ImportRow(**{**values, **{key: _time(key, values.get(key)) for key in _TIMES}})
    except ValueError as exc:
        return RowError(line, str(exc))


def _batches(rows: Iterable[tuple[int, ImportRow | RowError]], size: int
             ) -> Iterator[list[tuple[int, ImportRow | RowError]]]:
    batch: list[tuple[int, ImportRow | RowError]] = []
    for item in rows:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _batch_errors(exc: errors.PliersError, lines: list[int]) -> list[RowError] | None:
    """The row errors of a refused batch (rows numbered from 1 in the batch), else None
    for an error that is not about its rows."""
    first, last = lines[0], lines[-1]
    if isinstance(exc, errors.ValidationError) and exc.errors:
        found = [RowError(lines[int(e["row"]) - 1], f"{e.get('path')}: {e.get('code')} "
                                                    f"({e.get('message')})")
                 for e in exc.errors if isinstance(e.get("row"), int)]
        more = int(exc.detail.get("error_count", len(found))) - len(found)
        if more > 0:
            found.append(RowError(first, f"and {more} more errors in lines {first}-{last}"))
        return found
    if isinstance(exc, errors.Conflict) and isinstance(exc.detail.get("row"), int):
        return [RowError(lines[int(exc.detail["row"]) - 1], exc.message)]
    if isinstance(exc, (errors.Conflict, errors.QuotaExceeded)):
        return [RowError(first, f"lines {first}-{last}: {exc.message}")]
    return None


def import_file(tenant: Tenant, form_id: Any,
                rows: Iterable[tuple[int, ImportRow | RowError]], *, batch_size: int,
                advance: Callable[[int], object] = lambda rows: None,
                report_error: Callable[[RowError], object] = lambda error: None
                ) -> ImportReport:
    """Import ``rows`` into form version ``form_id``, ``batch_size`` rows a transaction.
    Each error is passed to ``report_error`` as it is found; an error that is not about
    rows (the form, the tenant, a privilege) is raised."""
    report = ImportReport()
    for batch in _batches(rows, batch_size):
        lines = [line for line, _ in batch]
        found = [item for _, item in batch if isinstance(item, RowError)]
        if not found:
            try:
                with tenant() as t:
                    result = t.submissions.import_rows(
                        form_id, [item for _, item in batch if isinstance(item, ImportRow)])
                report.created += result.created
                report.skipped += result.skipped
            except errors.PliersError as exc:
                refused = _batch_errors(exc, lines)
                if refused is None:
                    raise
                found = refused
        if found:
            report.rejected += len(batch)
            report.errors += found
            for error in found:
                report_error(error)
    return report
