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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pliersdb import errors
from pliersdb._api import Api, Call, S, api, json_list, json_object, record, records, then, value
from pliersdb._records import as_dict as _dict
from pliersdb._records import as_list as _list
from pliersdb._records import from_row, given
from pliersdb.submissions import HistoryEntry

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




def _found(what: str, **key: str) -> Callable[[list[dict[str, Any]]], Form]:
    """The conversion of list_forms' rows to their first form; NotFound if none."""
    def convert(rows: list[dict[str, Any]]) -> Form:
        if not rows:
            raise errors.NotFound(f"form {what} not found", {"object": "form", **key})
        return from_row(Form, rows[0])

    return convert


class Forms(Api[S]):
    """The form API of one tenant session (``session.forms``)."""

    # Writing ------------------------------------------------------------------

    @api
    def create(self, name: str, slug: str, definition: Mapping[str, Any], *,
               settings: Mapping[str, Any] | None = None,
               visibility: Visibility | None = None, category: str | None = None,
               tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
               permissions: Mapping[str, Any] | None = None) -> Call[Form]:
        """Create a form: its first version, a draft 1.0.0, latest (``pliers.create_form``).

        ``definition`` follows ``docs/forms.md``; every error of it, and of the other
        arguments, comes at once in ``ValidationError.errors``. ``Conflict`` when a live
        form has the slug, ``QuotaExceeded`` at ``max_forms``; needs ``form.create``.
        """
        return record(Form, "create_form", name=name, slug=slug, definition=dict(definition),
                      **given(settings=_dict(settings), visibility=visibility,
                              category=category, tags=_list(tags),
                              metadata=_dict(metadata), permissions=_dict(permissions)))

    @api
    def update(self, form_id: UUID | str, expected_revision: int, *, name: str | None = None,
               definition: Mapping[str, Any] | None = None,
               settings: Mapping[str, Any] | None = None,
               visibility: Visibility | None = None, category: str | None = None,
               tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
               permissions: Mapping[str, Any] | None = None) -> Call[Form]:
        """Edit a version (``pliers.update_form``); an argument left None is unchanged.

        ``expected_revision`` is the ``revision`` read (``Conflict`` if it changed).
        Name, definition and settings change on a draft only (``Immutable`` otherwise).
        """
        return record(Form, "update_form", form_id=form_id, expected_revision=expected_revision,
                      **given(name=name, definition=_dict(definition),
                              settings=_dict(settings), visibility=visibility,
                              category=category, tags=_list(tags),
                              metadata=_dict(metadata), permissions=_dict(permissions)))

    @api
    def publish(self, form_id: UUID | str, version: str, *,
                expected_revision: int | None = None) -> Call[Form]:
        """Publish a draft as ``version`` (MAJOR.MINOR.PATCH; ``pliers.publish_form``).

        The version must be greater than every published one of the slug, and a breaking
        change of the definition needs a new major version: both are ``ValidationError``
        (codes ``version_not_greater``, ``major_version_required``; the DETAIL also has
        ``breaking_changes`` and ``latest_version``). The version becomes the latest.
        """
        return record(Form, "publish_form", form_id=form_id, version=version,
                      **given(expected_revision=expected_revision))

    @api
    def new_version(self, form_id: UUID | str) -> Call[Form]:
        """Start the next version of a form from a published, deprecated or archived
        version: a new draft with the same content (``pliers.create_form_version``).

        Edit it with ``update`` and publish it; ``Conflict`` if the slug has a draft.
        """
        return record(Form, "create_form_version", form_id=form_id)

    @api
    def deprecate(self, form_id: UUID | str, *, expected_revision: int | None = None) -> Call[Form]:
        """published -> deprecated (still accepts submissions; ``pliers.deprecate_form``)."""
        return record(Form, "deprecate_form", form_id=form_id,
                      **given(expected_revision=expected_revision))

    @api
    def archive(self, form_id: UUID | str, *, expected_revision: int | None = None) -> Call[Form]:
        """published or deprecated -> archived: no new submission (``pliers.archive_form``)."""
        return record(Form, "archive_form", form_id=form_id,
                      **given(expected_revision=expected_revision))

    @api
    def clone(self, form_id: UUID | str, slug: str, *, name: str | None = None) -> Call[Form]:
        """Copy a version into a new form ``slug``, a draft 1.0.0 (``pliers.clone_form``)."""
        return record(Form, "clone_form", form_id=form_id, slug=slug, **given(name=name))

    @api
    def delete(self, form_id: UUID | str, *, expected_revision: int | None = None) -> Call[Form]:
        """Discard a draft (soft delete; ``pliers.delete_form``). Published versions are
        archived instead (``Immutable``)."""
        return record(Form, "delete_form", form_id=form_id,
                      **given(expected_revision=expected_revision))

    # Reading ------------------------------------------------------------------

    @api
    def get(self, form_id: UUID | str) -> Call[Form]:
        """The live form version ``form_id`` of the tenant; ``NotFound`` otherwise."""
        return Call("list_forms", (), {"form_id": form_id},
                    _found(str(form_id), id=str(form_id)))

    @api
    def latest(self, slug: str) -> Call[Form]:
        """The latest version of the form ``slug`` (the one marked ``is_latest``)."""
        return Call("list_forms", (), {"slug": slug, "latest": True}, _found(slug, slug=slug))

    @api
    def versions(self, slug: str) -> Call[list[Form]]:
        """Every live version of the form ``slug``, in version order (a draft's
        provisional version is above the published ones)."""
        return records(Form, "list_forms", slug=slug)

    @api
    def history(self, form_id: UUID | str) -> Call[list[HistoryEntry]]:
        """The events of a form version in version order, each with the state after it
        (``pliers.form_history``)."""
        return records(HistoryEntry, "form_history", form_id=form_id)

    @api
    def at(self, form_id: UUID | str, moment: datetime) -> Call[dict[str, Any] | None]:
        """The business fields of a form version as they were at ``moment`` (a JSON
        object; ``pliers.form_at``), None if it did not exist yet then."""
        return then(value("form_at", form_id=form_id, at=moment), json_object)

    @api
    def validate(self, definition: Mapping[str, Any]) -> Call[list[dict[str, Any]]]:
        """Every error of a definition, ``[]`` if valid (``pliers.validate_form_definition``):
        each ``{path, code, message}``, as ``ValidationError.errors``."""
        return then(value("validate_form_definition", definition=dict(definition)), json_list)

    @api
    def status_moves(self) -> Call[list[FormStatusMove]]:
        """The allowed status moves (``pliers.form_status_moves``), for user interfaces."""
        return records(FormStatusMove, "form_status_moves")

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self, *, status: FormStatus | None = None) -> Call[list[Form]]:
        """The latest version of each live form of the tenant, by name (and slug);
        with ``status``, only those whose latest version has it."""
        return records(Form, "list_forms", latest=True, **given(status=status))

