"""Submissions: the submission API of a tenant session, ``session.submissions``.

    with db.tenant(org_id, user_id) as t:
        s = t.submissions.create(form.id, {"fullName": "Ann"}, submit=True)
        page = t.submissions.list(form_id=form.id, limit=50)
        while page.next:
            page = t.submissions.list(form_id=form.id, limit=50, after=page.next)
        with open("intake.csv", "wb") as out:
            t.submissions.export("patient-intake", out)

Each method is one call of the SQL API (``docs/api.md``): the database validates the
answers against the pinned form version, numbers submissions, moves statuses, keeps
attachments and counters right, checks quotas and records events. This module passes
arguments and turns rows into ``Submission``, ``Attachment`` and ``Page`` objects.
Errors are the ``pliersdb.errors`` exceptions of the API's SQLSTATEs; a
``ValidationError`` lists every answer error at once in ``.errors``, each
``{"path": "$.data.address.zip", "code": "too_long", "message": ...}``.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import IO, TYPE_CHECKING, Any, Generic, Literal, LiteralString, TypeVar, cast
from uuid import UUID

from psycopg import sql
from psycopg.abc import Buffer
from psycopg.types.json import Jsonb

from pliersdb import errors
from pliersdb._api import (
    Api,
    AsyncCaller,
    Call,
    Caller,
    S,
    api,
    json_object,
    record,
    records,
    then,
    value,
)
from pliersdb._records import as_dict as _dict
from pliersdb._records import as_list as _list
from pliersdb._records import from_row, given

if TYPE_CHECKING:
    from pliersdb.aio import AsyncSession
    from pliersdb.db import Session

__all__ = [
    "AsyncSubmissions",
    "Attachment",
    "Cursor",
    "ExportColumn",
    "HistoryEntry",
    "ImportResult",
    "ImportRow",
    "ImportedRow",
    "Page",
    "Submission",
    "SubmissionStatusMove",
    "Submissions",
    "SubmissionsApi",
]

SubmissionStatus = Literal[
    "draft", "submitted", "processing", "approved", "rejected", "completed", "archived"]
Operator = Literal["=", "<>", "<", "<=", ">", ">="]
T = TypeVar("T")


@dataclass(frozen=True)
class Submission:
    """A submission: a row of ``pliers.submissions``.

    ``form_id`` is the form version it is pinned to; ``data`` its answers (cleaned by
    the API); ``revision`` the optimistic-concurrency counter to pass back as
    ``expected_revision``. A draft's ``is_valid`` / ``validation_errors`` tell whether
    it could be submitted as it is.
    """

    id: UUID
    organization_id: UUID
    form_id: UUID
    submission_number: str
    external_id: str | None
    status: str
    workflow_state: str | None
    data: dict[str, Any]
    attachments: list[dict[str, Any]]
    attachment_count: int
    validation_state: dict[str, Any]
    validation_errors: list[dict[str, Any]]
    is_valid: bool
    submitted_by: UUID | None
    assigned_to: UUID | None
    assigned_team_id: UUID | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    source: str
    ip_address: IPv4Address | IPv6Address | None
    user_agent: str | None
    referrer: str | None
    metadata: dict[str, Any]
    tags: tuple[str, ...]
    revision: int
    deleted_at: datetime | None
    deleted_by: UUID | None

    @property
    def cursor(self) -> Cursor:
        """The keyset position of this submission in ``list`` order."""
        return Cursor(self.created_at, self.id)


@dataclass(frozen=True)
class Attachment:
    """The metadata of a file of a submission: a row of ``pliers.attachments``
    (the bytes are in object storage, at ``storage_key``)."""

    id: UUID
    organization_id: UUID
    submission_id: UUID | None
    form_id: UUID | None
    user_id: UUID | None
    filename: str
    original_filename: str | None
    mime_type: str
    file_size_bytes: int
    storage_provider: str
    storage_key: str
    storage_bucket: str | None
    cdn_url: str | None
    checksum: str | None
    encryption_key_id: str | None
    access_control: str
    virus_scanned: bool
    virus_scan_result: dict[str, Any] | None
    content_validated: bool
    metadata: dict[str, Any]
    exif_data: dict[str, Any] | None
    uploaded_by: UUID
    uploaded_at: datetime
    deleted_at: datetime | None
    deleted_by: UUID | None

    @property
    def field(self) -> str | None:
        """The data path of the field the file answers (``photo``, ``children[0].photo``)."""
        value = self.metadata.get("field")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the ``created_at`` and ``id`` of the last row of a page.

    ``encode()`` gives an opaque string for a web client; ``Cursor.decode`` reads it.
    """

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        """The cursor as one string, ``<ISO 8601 created_at>|<id>``."""
        return f"{self.created_at.isoformat()}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor of ``encode()``; ValueError if the text is not one."""
        created_at, sep, ident = text.partition("|")
        if not sep:
            raise ValueError(f"not a submission cursor: {text!r}")
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError(f"not a submission cursor (no time zone): {text!r}")
        return cls(moment, UUID(ident))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset list: its ``items``, and ``next``, the cursor of the next
    page (None when this page is the last: it has fewer rows than the limit)."""

    items: tuple[T, ...]
    next: Cursor | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class ExportColumn:
    """A column of a form's CSV export (``pliers.export_columns``): kind ``meta`` for
    the submission's own columns, else the field kind of the answer at ``path``;
    ``json_type`` the JSON type of that answer (``string``, written as it is; ``number``,
    ``boolean``, ``array``, written as JSON), None for meta columns and for kinds whose
    answers have no single type (hidden, calculated, files, locations)."""

    ordinal: int
    name: str
    path: str | None
    kind: str
    json_type: str | None


@dataclass(frozen=True)
class SubmissionStatusMove:
    """An allowed submission status move."""

    from_status: str
    to_status: str


@dataclass(frozen=True)
class HistoryEntry:
    """One event in the history of a submission or form version
    (``pliers.submission_history`` / ``pliers.form_history``): its version, type,
    time and acting user, and ``state``, the aggregate's business fields after it (a
    JSON object; None before the creation event, e.g. after retention)."""

    aggregate_version: int
    event_type: str
    event_timestamp: datetime
    user_id: UUID | None
    state: dict[str, Any] | None


@dataclass(frozen=True)
class ImportRow:
    """One row of a bulk import (``Submissions.import_rows``; the SQL type
    ``pliers.submission_import``). None takes the default: ``status`` submitted, no
    external id, empty metadata and tags, ``source`` import, ``created_at`` /
    ``submitted_at`` each other's value, else the transaction time."""

    data: Mapping[str, Any] | None = None
    status: Literal["draft", "submitted"] | None = None
    external_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    tags: Sequence[str] | None = None
    source: str | None = None
    created_at: datetime | None = None
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class ImportedRow:
    """What became of one imported row: ``row_index`` is its position in the input,
    from 1; ``created`` is False when it was skipped, its ``external_id`` being already
    that of submission ``id`` of this form (a retry)."""

    row_index: int
    id: UUID
    submission_number: str
    external_id: str | None
    created: bool


@dataclass(frozen=True)
class ImportResult:
    """The result of ``Submissions.import_rows``: one ``ImportedRow`` per input row, in
    input order."""

    rows: tuple[ImportedRow, ...]

    @property
    def created(self) -> int:
        """How many submissions the import created."""
        return sum(1 for row in self.rows if row.created)

    @property
    def skipped(self) -> int:
        """How many rows were skipped (their external id existed for this form)."""
        return len(self.rows) - self.created


# import_rows: a staging table of the caller (the row type plus the input order), and
# the call that passes its rows, in order, as one array.
_IMPORT_STAGING = ("CREATE TEMPORARY TABLE pliers_import_staging "
                   "(row_index integer NOT NULL, LIKE pliers.submission_import) ON COMMIT DROP")
_IMPORT_COPY = ("COPY pg_temp.pliers_import_staging (row_index, data, status, external_id, "
                "metadata, tags, source, created_at, submitted_at) FROM STDIN")
_IMPORT_CALL = ("SELECT * FROM pliers.import_submissions(%s, ARRAY("
                "SELECT ROW(s.data, s.status, s.external_id, s.metadata, s.tags, s.source, "
                "s.created_at, s.submitted_at)::pliers.submission_import "
                "FROM pg_temp.pliers_import_staging AS s ORDER BY s.row_index))")
# Dropped after the call, so that the transaction can import again (ON COMMIT DROP, and
# the rollback of a failed call, cover the other ends).
_IMPORT_DROP = "DROP TABLE pg_temp.pliers_import_staging"




def _page(limit: int, rows: list[dict[str, Any]]) -> Page[Submission]:
    items = tuple(from_row(Submission, row) for row in rows)
    more = len(items) >= limit and bool(items)
    return Page(items, items[-1].cursor if more else None)


def _found(submission_id: UUID | str, rows: list[dict[str, Any]]) -> Submission:
    if not rows:
        raise errors.NotFound(f"submission {submission_id} not found",
                              {"object": "submission", "id": str(submission_id)})
    return from_row(Submission, rows[0])


def _copy_out(query: Any) -> sql.Composed:
    """The COPY of an export query. The query is built by the SQL API with format('%I',
    '%L'): nothing of the caller is in it but the slug, quoted as a literal. No HEADER:
    PostgreSQL cuts column names at 63 bytes, and answer keys may be longer
    (``_header`` writes the export columns' names whole)."""
    return sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(
        sql.SQL(cast(LiteralString, query)))


def _header(columns: list[ExportColumn]) -> str:
    """The CSV header line of an export: its columns' names, quoted as COPY quotes."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(c.name for c in columns)
    return line.getvalue()


def _imported(found: list[tuple[Any, ...]]) -> ImportResult:
    return ImportResult(tuple(sorted((ImportedRow(*values) for values in found),
                                     key=lambda r: r.row_index)))


class SubmissionsApi(Api[S]):
    """The submission API of one tenant session (``session.submissions``): the methods
    of both ``Submissions`` (sync) and ``AsyncSubmissions``."""

    # Writing ------------------------------------------------------------------

    @api
    def create(self, form_id: UUID | str, data: Mapping[str, Any] | None = None, *,
               submit: bool = False, external_id: str | None = None,
               metadata: Mapping[str, Any] | None = None, tags: Sequence[str] | None = None,
               source: str | None = None, expires_at: datetime | None = None,
               referrer: str | None = None) -> Call[Submission]:
        """Create a draft, or a submitted submission with ``submit=True``
        (``pliers.create_submission``), against a published or deprecated form version.

        The answers are validated against that version (as a draft: required fields
        wait for submission) and stored cleaned; ``ValidationError`` lists every error.
        With ``external_id``, a retry returns the submission already made with it,
        unchanged. ``QuotaExceeded`` at ``max_submissions_per_month``.
        """
        return record(Submission, "create_submission", form_id=form_id,
                                **given(data=_dict(data), submit=submit or None,
                                        external_id=external_id, metadata=_dict(metadata),
                                        tags=_list(tags), source=source, expires_at=expires_at,
                                        referrer=referrer))

    @api
    def update(self, submission_id: UUID | str, expected_revision: int, *,
               data: Mapping[str, Any] | None = None,
               metadata: Mapping[str, Any] | None = None, tags: Sequence[str] | None = None,
               expires_at: datetime | None = None) -> Call[Submission]:
        """Edit a draft (``pliers.update_submission``): ``data`` replaces the answers;
        an argument left None is unchanged. ``Immutable`` once submitted."""
        return record(Submission, "update_submission", submission_id=submission_id,
                                expected_revision=expected_revision,
                                **given(data=_dict(data), metadata=_dict(metadata),
                                        tags=_list(tags), expires_at=expires_at))

    @api
    def submit(self, submission_id: UUID | str, *,
               expected_revision: int | None = None) -> Call[Submission]:
        """draft -> submitted, the answers validated as final (``pliers.submit_submission``)."""
        return record(Submission, "submit_submission", submission_id=submission_id,
                                **given(expected_revision=expected_revision))

    @api
    def set_status(self, submission_id: UUID | str, status: SubmissionStatus, *,
                   expected_revision: int | None = None,
                   reason: str | None = None) -> Call[Submission]:
        """Move a submission to ``status`` (``pliers.set_submission_status``);
        ``InvalidTransition`` for a move the state machine does not allow."""
        return record(Submission, "set_submission_status", submission_id=submission_id,
                                status=status, **given(expected_revision=expected_revision,
                                                       reason=reason))

    @api
    def assign(self, submission_id: UUID | str, *, user_id: UUID | str | None = None,
               team_id: UUID | str | None = None,
               expected_revision: int | None = None) -> Call[Submission]:
        """Assign to a user and/or a team; None clears (``pliers.assign_submission``)."""
        return record(Submission, "assign_submission", submission_id=submission_id,
                                user_id=user_id, team_id=team_id,
                                **given(expected_revision=expected_revision))

    @api
    def delete(self, submission_id: UUID | str, *,
               expected_revision: int | None = None) -> Call[Submission]:
        """Soft-delete (``pliers.delete_submission``): it leaves lists and exports."""
        return record(Submission, "delete_submission", submission_id=submission_id,
                                **given(expected_revision=expected_revision))

    @api
    def restore(self, submission_id: UUID | str, *,
                expected_revision: int | None = None) -> Call[Submission]:
        """Undo ``delete`` (``pliers.restore_submission``)."""
        return record(Submission, "restore_submission", submission_id=submission_id,
                                **given(expected_revision=expected_revision))

    @api
    def attach(self, submission_id: UUID | str, field: str, *, filename: str, mime_type: str,
               size_bytes: int, storage_key: str, checksum: str,
               storage_provider: str | None = None, storage_bucket: str | None = None,
               original_filename: str | None = None, metadata: Mapping[str, Any] | None = None,
               expected_revision: int | None = None) -> Call[Attachment]:
        """Record an uploaded file for the file or signature field at data path ``field``
        of a draft (``photo``, ``address.proof``, ``children[0].photo``;
        ``pliers.attach_file``). ``checksum`` is the SHA-256 of the bytes, in hex.

        The field's ``accept``, ``maxSizeBytes`` and ``maxItems`` are checked
        (``ValidationError``), then the quota ``max_attachment_bytes``. The attachment's
        id is put in the answer; read the submission again to see it.
        """
        return record(
            Attachment, "attach_file", submission_id=submission_id, field=field,
            filename=filename,
            mime_type=mime_type, size_bytes=size_bytes, storage_key=storage_key,
            checksum=checksum,
            **given(storage_provider=storage_provider, storage_bucket=storage_bucket,
                    original_filename=original_filename, metadata=_dict(metadata),
                    expected_revision=expected_revision))

    @api
    def detach(self, attachment_id: UUID | str, *,
               expected_revision: int | None = None) -> Call[Attachment]:
        """Remove a file from its draft (``pliers.detach_file``; ``expected_revision`` is
        the submission's). Deleting the object in storage is the application's job."""
        return record(Attachment, "detach_file", attachment_id=attachment_id,
                      **given(expected_revision=expected_revision))

    # Reading ------------------------------------------------------------------

    @api
    def get(self, submission_id: UUID | str) -> Call[Submission]:
        """The live submission ``submission_id``, if the caller may see it; else ``NotFound``."""
        return Call("get_submission", (), {"submission_id": submission_id},
                    functools.partial(_found, submission_id))

    @api
    def attachments(self, submission_id: UUID | str) -> Call[list[Attachment]]:
        """The live attachments of a submission, in upload order."""
        return records(Attachment, "list_attachments", submission_id=submission_id)

    @api
    def export_columns(self, form_slug: str) -> Call[list[ExportColumn]]:
        """The columns of the form's CSV export, in order (``pliers.export_columns``)."""
        return records(ExportColumn, "export_columns", slug=form_slug)

    @api
    def _export(self, form_slug: str, include_drafts: bool) -> Call[sql.Composed]:
        return then(value("export_query", slug=form_slug, include_drafts=include_drafts),
                    _copy_out)

    @api
    def history(self, submission_id: UUID | str) -> Call[list[HistoryEntry]]:
        """The events of a submission in version order, each with the state after it
        (``pliers.submission_history``); deleted submissions included."""
        return records(HistoryEntry, "submission_history", submission_id=submission_id)

    @api
    def at(self, submission_id: UUID | str, moment: datetime) -> Call[dict[str, Any] | None]:
        """The business fields of a submission as they were at ``moment`` (a JSON object:
        status, data, revision, ...; ``pliers.submission_at``), None if it did not exist
        yet then."""
        return then(value("submission_at", submission_id=submission_id, at=moment),
                    json_object)

    @api
    def status_moves(self) -> Call[list[SubmissionStatusMove]]:
        """The allowed status moves (``pliers.submission_status_moves``)."""
        return records(SubmissionStatusMove, "submission_status_moves")

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self, *, form_id: UUID | str | None = None,
             status: SubmissionStatus | None = None,
             assigned_to: UUID | str | None = None, assigned_team_id: UUID | str | None = None,
             created_from: datetime | None = None, created_before: datetime | None = None,
             contains: Mapping[str, Any] | None = None,
             where: tuple[str, Operator, Any] | None = None, deleted: bool = False,
             limit: int = 50, after: Cursor | None = None) -> Call[Page[Submission]]:
        """One page of the submissions the caller may see, newest first
        (``pliers.list_submissions``, keyset paging: no OFFSET, no count).

        Pass ``page.next`` as ``after`` for the next page; ``next`` is None on the last.
        Filters combine with AND: form version, status, assignee, creation range
        ``[created_from, created_before)``, ``contains`` (answers containing this JSON
        object, ``data @> contains``), and ``where=(field, op, value)``, one comparison of
        an answer (``("address.zip", "=", "1000")``, ``("age", ">=", 18)``; ``op`` one of
        = <> < <= > >=; strings compare as text, ISO dates in time order). ``deleted``
        lists the deleted submissions instead. ``limit`` is 1 to 1000.
        """
        arguments = given(form_id=form_id, status=status, assigned_to=assigned_to,
                          assigned_team_id=assigned_team_id, created_from=created_from,
                          created_before=created_before, limit=limit,
                          deleted=deleted or None)
        if contains is not None:
            arguments["filter"] = Jsonb(dict(contains))
        if where is not None:
            field, op, value = where
            arguments.update(field=field, op=op, value=Jsonb(value))
        if after is not None:
            arguments.update(after_created_at=after.created_at, after_id=after.id)
        return Call("list_submissions", (), arguments, functools.partial(_page, limit))

class Submissions(SubmissionsApi[Caller]):
    """``session.submissions`` of a ``Session``: SubmissionsApi, and its methods that
    stream (``import_rows``, ``export``) or page (``iterate``)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._session = session  # import_rows and export COPY on its connection

    def import_rows(self, form_id: UUID | str,
                    rows: Iterable[ImportRow | Mapping[str, Any]]) -> ImportResult:
        """Bulk import into form version ``form_id`` (``pliers.import_submissions``):
        the rows are COPYed into a temporary table, then checked and inserted by one
        call, all or nothing. ``rows`` are ``ImportRow`` objects or mappings with the
        same keys.

        The rules of ``create``: ``ValidationError`` lists the errors of every row (the
        first 100, each with its ``row``, from 1; ``detail["error_count"]`` counts them
        all), ``Conflict`` for an external id of another form's submission,
        ``QuotaExceeded`` for the batch. A row whose external id exists for this form
        is skipped (``created`` False): a failed import can be retried as it is.
        """
        with errors.mapped(), self._session.connection.cursor() as cur:
            cur.execute(_IMPORT_STAGING)
            with cur.copy(_IMPORT_COPY) as copy:
                for index, row in enumerate(rows, start=1):
                    copy.write_row((index, *_import_values(row)))
            cur.execute(_IMPORT_CALL, (form_id,))
            found = cur.fetchall()
            cur.execute(_IMPORT_DROP)
        return _imported(found)

    def export(self, form_slug: str, out: IO[bytes] | IO[str], *,
               include_drafts: bool = False) -> int:
        """Stream the CSV of every live submission of the form ``form_slug``, all its
        versions, into ``out`` (binary or text); return the number of rows.

        One column per export column (``export_columns``), a header line first. The
        rows go from the server to ``out`` as they are produced (``COPY ... TO STDOUT``
        in the session's transaction), never all in memory. Bytes are in the
        connection's client encoding (UTF-8 unless configured otherwise), lines end
        with ``\\n``: open a text file with ``newline=""``.
        """
        header = _header(self.export_columns(form_slug))
        statement = self._export(form_slug, include_drafts)
        connection = self._session.connection
        sink = _Sink(out, connection.info.encoding)
        sink.write_text(header)
        with errors.mapped(), connection.cursor() as cur:
            with cur.copy(statement) as copy:
                for chunk in copy:
                    sink.write(chunk)
            sink.close()
            return max(cur.rowcount, 0)

    def iterate(self, *, page_size: int = 200, **filters: Any) -> Iterator[Submission]:
        """Every submission matching ``filters`` (those of ``list``), page by page."""
        after: Cursor | None = None
        while True:
            page = self.list(limit=page_size, after=after, **filters)
            yield from page.items
            if page.next is None:
                return
            after = page.next


class AsyncSubmissions(SubmissionsApi[AsyncCaller]):
    """``session.submissions`` of an ``AsyncSession``: SubmissionsApi, and the async
    twins of ``Submissions.import_rows``, ``export`` and ``iterate``."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._session = session  # import_rows and export COPY on its connection

    async def import_rows(self, form_id: UUID | str,
                          rows: Iterable[ImportRow | Mapping[str, Any]]) -> ImportResult:
        """``Submissions.import_rows``, awaited."""
        with errors.mapped():
            async with self._session.connection.cursor() as cur:
                await cur.execute(_IMPORT_STAGING)
                async with cur.copy(_IMPORT_COPY) as copy:
                    for index, row in enumerate(rows, start=1):
                        await copy.write_row((index, *_import_values(row)))
                await cur.execute(_IMPORT_CALL, (form_id,))
                found = await cur.fetchall()
                await cur.execute(_IMPORT_DROP)
        return _imported(found)

    async def export(self, form_slug: str, out: IO[bytes] | IO[str], *,
                     include_drafts: bool = False) -> int:
        """``Submissions.export``, awaited (``out`` is written synchronously)."""
        header = _header(await self.export_columns(form_slug))
        statement = await self._export(form_slug, include_drafts)
        connection = self._session.connection
        sink = _Sink(out, connection.info.encoding)
        sink.write_text(header)
        with errors.mapped():
            async with connection.cursor() as cur:
                async with cur.copy(statement) as copy:
                    async for chunk in copy:
                        sink.write(chunk)
                sink.close()
                return max(cur.rowcount, 0)

    async def iterate(self, *, page_size: int = 200,
                      **filters: Any) -> AsyncIterator[Submission]:
        """``Submissions.iterate`` as an async iterator."""
        after: Cursor | None = None
        while True:
            page = await self.list(limit=page_size, after=after, **filters)
            for item in page.items:
                yield item
            if page.next is None:
                return
            after = page.next


class _Sink:
    """Where ``export`` writes the chunks of its COPY: ``out`` as it is for a binary
    stream, decoded (incrementally: a character may span chunks) for a text stream."""

    def __init__(self, out: IO[bytes] | IO[str], encoding: str) -> None:
        self._out = out
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)() if _is_text(out) else None

    def write_text(self, text: str) -> None:
        if self._decoder is None:
            cast(IO[bytes], self._out).write(text.encode(self._encoding))
        else:
            cast(IO[str], self._out).write(text)

    def write(self, chunk: Buffer) -> None:
        if self._decoder is None:
            cast(IO[bytes], self._out).write(chunk)
        else:
            cast(IO[str], self._out).write(self._decoder.decode(chunk))

    def close(self) -> None:
        if self._decoder is not None:
            cast(IO[str], self._out).write(self._decoder.decode(b"", final=True))


def _import_values(row: ImportRow | Mapping[str, Any]) -> tuple[Any, ...]:
    """The staging columns of one row (TypeError for a mapping with unknown keys)."""
    item = row if isinstance(row, ImportRow) else ImportRow(**row)
    return (None if item.data is None else Jsonb(dict(item.data)), item.status,
            item.external_id,
            None if item.metadata is None else Jsonb(dict(item.metadata)),
            None if item.tags is None else list(item.tags), item.source, item.created_at,
            item.submitted_at)


def _is_text(out: IO[bytes] | IO[str]) -> bool:
    """Whether ``out`` takes str (a text stream) rather than bytes."""
    if isinstance(out, io.TextIOBase):
        return True
    if isinstance(out, (io.RawIOBase, io.BufferedIOBase)):
        return False
    mode = getattr(out, "mode", None)
    if isinstance(mode, str):
        return "b" not in mode
    return hasattr(out, "encoding")

