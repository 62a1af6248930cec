"""Forms: the form API of a tenant session, ``session.forms``.

    with db.tenant(org_id, user_id) as t:
        form = t.forms.create("Patient intake", "patient-intake", definition)
        form = t.forms.publish(form.id, "1.0.0")

Each method is one call of the SQL API (``docs/api.md``): the database validates the
definition, checks permissions, numbers versions, moves statuses and records events.
This module only passes arguments and turns the returned rows into ``Form`` objects.
Errors are the ``pliersdb.errors`` exceptions of the API's SQLSTATEs (``ValidationError``
with ``.errors``, ``NotFound``, ``Conflict``, ``InvalidTransition``, ``Immutable``,
``PermissionDenied``, ``QuotaExceeded``, ``NoTenantContext``).

A form has one row per version; the versions of one form share its ``slug``. A
version's ``id`` is what submissions are made against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pliersdb import errors
from pliersdb._records import as_dict as _dict
from pliersdb._records import as_list as _list
from pliersdb._records import from_row, given, scalar
from pliersdb.submissions import HistoryEntry

if TYPE_CHECKING:
    from pliersdb.db import Session

__all__ = ["Form", "FormStatusMove", "Forms", "HistoryEntry"]

FormStatus = Literal["draft", "published", "deprecated", "archived"]
Visibility = Literal["private", "organization", "public"]


@dataclass(frozen=True)
class Form:
    """One version of a form: a row of ``pliers.forms``.

    ``revision`` is the optimistic-concurrency counter: pass it back as
    ``expected_revision`` to refuse a change made meanwhile (``Conflict``).
    ``status`` is draft, published, deprecated or archived; ``version`` is
    provisional until the draft is published.
    """

    id: UUID
    organization_id: UUID
    name: str
    slug: str
    version: str
    status: str
    visibility: str
    definition: dict[str, Any]
    settings: dict[str, Any]
    permissions: dict[str, Any]
    category: str | None
    tags: tuple[str, ...]
    parent_id: UUID | None
    is_latest: bool
    published_at: datetime | None
    deprecated_at: datetime | None
    metadata: dict[str, Any]
    revision: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    created_by: UUID | None
    updated_by: UUID | None
    published_by: UUID | None

    @property
    def accepts_submissions(self) -> bool:
        """Whether this version is published or deprecated (as the API decides it)."""
        return self.status in ("published", "deprecated") and self.deleted_at is None


@dataclass(frozen=True)
class FormStatusMove:
    """An allowed form status move and the API function that makes it."""

    from_status: str
    to_status: str
    via: str




class Forms:
    """The form API of one tenant session (``session.forms``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _form(self, function: str, **arguments: Any) -> Form:
        return from_row(Form, self._session.call_one(function, **arguments))

    def _find(self, **filters: Any) -> list[Form]:
        return [from_row(Form, row) for row in self._session.call("list_forms", **filters)]

    # Writing ------------------------------------------------------------------

    def create(self, name: str, slug: str, definition: Mapping[str, Any], *,
               settings: Mapping[str, Any] | None = None,
               visibility: Visibility | None = None, category: str | None = None,
               tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
               permissions: Mapping[str, Any] | None = None) -> Form:
        """Create a form: its first version, a draft 1.0.0, latest (``pliers.create_form``).

        ``definition`` follows ``docs/forms.md``; every error of it, and of the other
        arguments, comes at once in ``ValidationError.errors``. ``Conflict`` when a live
        form has the slug, ``QuotaExceeded`` at ``max_forms``; needs ``form.create``.
        """
        return self._form("create_form", name=name, slug=slug, definition=dict(definition),
                          **given(settings=_dict(settings), visibility=visibility,
                                  category=category, tags=_list(tags),
                                  metadata=_dict(metadata), permissions=_dict(permissions)))

    def update(self, form_id: UUID | str, expected_revision: int, *, name: str | None = None,
               definition: Mapping[str, Any] | None = None,
               settings: Mapping[str, Any] | None = None,
               visibility: Visibility | None = None, category: str | None = None,
               tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
               permissions: Mapping[str, Any] | None = None) -> Form:
        """Edit a version (``pliers.update_form``); an argument left None is unchanged.

        ``expected_revision`` is the ``revision`` read (``Conflict`` if it changed).
        Name, definition and settings change on a draft only (``Immutable`` otherwise).
        """
        return self._form("update_form", form_id=form_id, expected_revision=expected_revision,
                          **given(name=name, definition=_dict(definition),
                                  settings=_dict(settings), visibility=visibility,
                                  category=category, tags=_list(tags),
                                  metadata=_dict(metadata), permissions=_dict(permissions)))

    def publish(self, form_id: UUID | str, version: str, *,
                expected_revision: int | None = None) -> Form:
        """Publish a draft as ``version`` (MAJOR.MINOR.PATCH; ``pliers.publish_form``).

        The version must be greater than every published one of the slug, and a breaking
        change of the definition needs a new major version: both are ``ValidationError``
        (codes ``version_not_greater``, ``major_version_required``; the DETAIL also has
        ``breaking_changes`` and ``latest_version``). The version becomes the latest.
        """
        return self._form("publish_form", form_id=form_id, version=version,
                          **given(expected_revision=expected_revision))

    def new_version(self, form_id: UUID | str) -> Form:
        """Start the next version of a form from a published, deprecated or archived
        version: a new draft with the same content (``pliers.create_form_version``).

        Edit it with ``update`` and publish it; ``Conflict`` if the slug has a draft.
        """
        return self._form("create_form_version", form_id=form_id)

    def deprecate(self, form_id: UUID | str, *, expected_revision: int | None = None) -> Form:
        """published -> deprecated (still accepts submissions; ``pliers.deprecate_form``)."""
        return self._form("deprecate_form", form_id=form_id,
                          **given(expected_revision=expected_revision))

    def archive(self, form_id: UUID | str, *, expected_revision: int | None = None) -> Form:
        """published or deprecated -> archived: no new submission (``pliers.archive_form``)."""
        return self._form("archive_form", form_id=form_id,
                          **given(expected_revision=expected_revision))

    def clone(self, form_id: UUID | str, slug: str, *, name: str | None = None) -> Form:
        """Copy a version into a new form ``slug``, a draft 1.0.0 (``pliers.clone_form``)."""
        return self._form("clone_form", form_id=form_id, slug=slug, **given(name=name))

    def delete(self, form_id: UUID | str, *, expected_revision: int | None = None) -> Form:
        """Discard a draft (soft delete; ``pliers.delete_form``). Published versions are
        archived instead (``Immutable``)."""
        return self._form("delete_form", form_id=form_id,
                          **given(expected_revision=expected_revision))

    # Reading ------------------------------------------------------------------

    def get(self, form_id: UUID | str) -> Form:
        """The live form version ``form_id`` of the tenant; ``NotFound`` otherwise."""
        found = self._find(form_id=form_id)
        if not found:
            raise errors.NotFound(f"form {form_id} not found",
                                  {"object": "form", "id": str(form_id)})
        return found[0]

    def latest(self, slug: str) -> Form:
        """The latest version of the form ``slug`` (the one marked ``is_latest``)."""
        found = self._find(slug=slug, latest=True)
        if not found:
            raise errors.NotFound(f"form {slug} not found", {"object": "form", "slug": slug})
        return found[0]

    def versions(self, slug: str) -> list[Form]:
        """Every live version of the form ``slug``, in version order (a draft's
        provisional version is above the published ones)."""
        return self._find(slug=slug)

    def history(self, form_id: UUID | str) -> list[HistoryEntry]:
        """The events of a form version in version order, each with the state after it
        (``pliers.form_history``)."""
        return [from_row(HistoryEntry, row)
                for row in self._session.call("form_history", form_id=form_id)]

    def at(self, form_id: UUID | str, moment: datetime) -> dict[str, Any] | None:
        """The business fields of a form version as they were at ``moment`` (a JSON
        object; ``pliers.form_at``), None if it did not exist yet then."""
        state = scalar(self._session, "form_at", form_id=form_id, at=moment)
        return state if isinstance(state, dict) else None

    def validate(self, definition: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every error of a definition, ``[]`` if valid (``pliers.validate_form_definition``):
        each ``{path, code, message}``, as ``ValidationError.errors``."""
        result = scalar(self._session, "validate_form_definition", definition=dict(definition))
        return list(result or [])

    def status_moves(self) -> list[FormStatusMove]:
        """The allowed status moves (``pliers.form_status_moves``), for user interfaces."""
        return [from_row(FormStatusMove, row) for row in self._session.call("form_status_moves")]

    # Last in the class: below it, "list" would name this method in annotations.
    def list(self, *, status: FormStatus | None = None) -> list[Form]:
        """The latest version of each live form of the tenant, by name (and slug);
        with ``status``, only those whose latest version has it."""
        return self._find(latest=True, **given(status=status))

