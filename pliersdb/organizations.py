"""Organizations: provisioning (``db.platform``) and the organization of a tenant
session (``session.organization``).

    with pliersdb.connect(platform_dsn) as db:          # a login in pliers_platform
        new = db.platform.create("acme", "Acme", "owner@acme.example")
    with pliersdb.connect(app_dsn) as db:               # a login in pliers_app
        with db.tenant(new.organization_id, new.user_id) as t:
            org = t.organization.get()
            t.organization.update(org.revision, settings={"branding": {"primary_color": "#0055aa"}})

Each method is one call of the SQL API (``docs/api.md`` "Organizations"); the
database validates (settings, features and limits against ``schemas/organization-*``),
checks permissions, moves states and records events. Errors are the
``pliersdb.errors`` exceptions: ``ValidationError`` (every error with its path; a slug
in use is code ``taken`` at path ``slug``), ``NotFound``, ``Conflict``,
``InvalidTransition``, ``PermissionDenied``, ``NoTenantContext``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pliersdb._records import as_dict as _dict
from pliersdb._records import as_list as _list
from pliersdb._records import from_row, given, scalar

if TYPE_CHECKING:
    from pliersdb.db import Database, Session

__all__ = ["Organization", "OrganizationApi", "Platform", "Provisioned", "SubscriptionMove"]

SubscriptionStatus = Literal["trial", "active", "past_due", "suspended", "cancelled", "expired"]


@dataclass(frozen=True)
class Organization:
    """A row of ``pliers.organizations``.

    ``revision`` is the optimistic-concurrency counter (pass it back as
    ``expected_revision``). ``suspended_at`` is set while the platform suspends it,
    ``deleted_at`` once deleted: either way its users are refused a context.
    """

    id: UUID
    slug: str
    name: str
    display_name: str | None
    description: str | None
    settings: dict[str, Any]
    features: dict[str, Any]
    limits: dict[str, Any]
    subscription_status: str
    subscription_expires_at: datetime | None
    primary_contact_id: UUID | None
    billing_email: str | None
    support_email: str | None
    tags: tuple[str, ...]
    revision: int
    created_at: datetime
    updated_at: datetime
    suspended_at: datetime | None
    deleted_at: datetime | None

    @property
    def state(self) -> Literal["active", "suspended", "deleted"]:
        """``deleted``, else ``suspended``, else ``active``."""
        if self.deleted_at is not None:
            return "deleted"
        return "suspended" if self.suspended_at is not None else "active"


@dataclass(frozen=True)
class Provisioned:
    """What ``Platform.create`` made: the organization and its first user (an org_owner)."""

    organization_id: UUID
    user_id: UUID


@dataclass(frozen=True)
class SubscriptionMove:
    """An allowed move of ``subscription_status``."""

    from_status: str
    to_status: str


class Platform:
    """Provisioning (``db.platform``): needs a Database whose login is a member of
    ``pliers_platform``. No tenant context; each method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def _call(self, function: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._database.transaction().call(function, **arguments)

    def _organization(self, function: str, **arguments: Any) -> Organization:
        rows = self._call(function, **arguments)
        return from_row(Organization, rows[0])

    def create(self, slug: str, name: str, owner_email: str, *,
               owner_display_name: str | None = None, display_name: str | None = None,
               settings: Mapping[str, Any] | None = None,
               features: Mapping[str, Any] | None = None,
               limits: Mapping[str, Any] | None = None,
               subscription_status: SubscriptionStatus | None = None) -> Provisioned:
        """Create an organization and its first user, an active org_owner and its primary
        contact (``pliers.create_organization``). ``ValidationError`` with every error;
        a slug in use (or once used) is code ``taken`` at path ``slug``."""
        row = self._call("create_organization", slug=slug, name=name, owner_email=owner_email,
                         **given(owner_display_name=owner_display_name,
                                 display_name=display_name, settings=_dict(settings),
                                 features=_dict(features), limits=_dict(limits),
                                 subscription_status=subscription_status))[0]
        return Provisioned(UUID(str(row["organization_id"])), UUID(str(row["user_id"])))

    def find(self, slug: str) -> Organization:
        """The organization with ``slug``, deleted or not (``NotFound`` if none)."""
        return self._organization("find_organization", slug=slug)

    def page(self, *, after_slug: str | None = None, limit: int = 50,
             include_deleted: bool = False) -> list[Organization]:
        """One page of organizations in slug order, after ``after_slug`` (keyset)."""
        return [from_row(Organization, row) for row in self._call(
            "list_organizations", after_slug=after_slug, limit=limit,
            include_deleted=include_deleted)]

    def iterate(self, *, page_size: int = 100,
                include_deleted: bool = False) -> Iterator[Organization]:
        """Every organization in slug order, a page (one transaction) at a time."""
        after: str | None = None
        while True:
            rows = self.page(after_slug=after, limit=page_size, include_deleted=include_deleted)
            yield from rows
            if len(rows) < page_size:
                return
            after = rows[-1].slug

    def suspend(self, organization_id: UUID | str, *, reason: str | None = None,
                expected_revision: int | None = None) -> Organization:
        """Suspend an organization: its users get no context (PermissionDenied) until
        ``reactivate``; ``InvalidTransition`` if it already is suspended."""
        return self._organization("suspend_organization", organization_id=organization_id,
                                  **given(reason=reason, expected_revision=expected_revision))

    def reactivate(self, organization_id: UUID | str, *,
                   expected_revision: int | None = None) -> Organization:
        """End a suspension; ``InvalidTransition`` if it is not suspended."""
        return self._organization("reactivate_organization", organization_id=organization_id,
                                  **given(expected_revision=expected_revision))

    def delete(self, organization_id: UUID | str, *,
               expected_revision: int | None = None) -> Organization:
        """Soft-delete an organization (final; its data stays, its slug stays reserved)."""
        return self._organization("delete_organization", organization_id=organization_id,
                                  **given(expected_revision=expected_revision))

    def set_subscription_status(self, organization_id: UUID | str, status: SubscriptionStatus,
                                *, expires_at: datetime | None = None,
                                expected_revision: int | None = None) -> Organization:
        """Move ``subscription_status`` along ``subscription_moves()``
        (``InvalidTransition`` otherwise) and set its expiry (None clears it)."""
        return self._organization("set_subscription_status", organization_id=organization_id,
                                  status=status, expires_at=expires_at,
                                  **given(expected_revision=expected_revision))

    def set_plan(self, organization_id: UUID | str, *,
                 features: Mapping[str, Any] | None = None,
                 limits: Mapping[str, Any] | None = None,
                 expected_revision: int | None = None) -> Organization:
        """Replace the features and/or limits of an organization (None: unchanged)."""
        return self._organization("set_organization_plan", organization_id=organization_id,
                                  **given(features=_dict(features), limits=_dict(limits),
                                          expected_revision=expected_revision))

    def subscription_moves(self) -> list[SubscriptionMove]:
        """The allowed moves of ``subscription_status``."""
        return [from_row(SubscriptionMove, row)
                for row in self._call("subscription_status_moves")]


class OrganizationApi:
    """The organization of one tenant session (``session.organization``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self) -> Organization:
        """The organization of the session's context (any member may read it)."""
        return from_row(Organization, self._session.call_one("get_organization"))

    def update(self, expected_revision: int, *, name: str | None = None,
               display_name: str | None = None, description: str | None = None,
               primary_contact_id: UUID | str | None = None,
               billing_email: str | None = None, support_email: str | None = None,
               tags: Sequence[str] | None = None,
               settings: Mapping[str, Any] | None = None) -> Organization:
        """Edit the organization (permission organization.manage); an argument left None
        is unchanged, ``settings`` replaces the whole document. ``Conflict`` if
        ``expected_revision`` is not the revision; ``ValidationError`` with every error."""
        return from_row(Organization, self._session.call_one(
            "update_organization", expected_revision=expected_revision,
            **given(name=name, display_name=display_name, description=description,
                    primary_contact_id=primary_contact_id, billing_email=billing_email,
                    support_email=support_email, tags=_list(tags),
                    settings=_dict(settings))))

    def validate_settings(self, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every error of a settings document, ``[]`` if valid
        (``pliers.validate_organization_settings``)."""
        return list(scalar(self._session, "validate_organization_settings",
                           settings=dict(settings)) or [])
