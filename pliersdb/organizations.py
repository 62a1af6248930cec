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

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pliersdb._api import (
    Api,
    AsyncCaller,
    Call,
    Caller,
    S,
    api,
    json_list,
    record,
    records,
    row_of,
    then,
    value,
)
from pliersdb._records import as_dict as _dict
from pliersdb._records import as_list as _list
from pliersdb._records import given

__all__ = ["AsyncPlatform", "Organization", "OrganizationApi", "Platform", "PlatformApi",
           "Provisioned", "SubscriptionMove"]

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


def _provisioned(row: dict[str, Any]) -> Provisioned:
    return Provisioned(UUID(str(row["organization_id"])), UUID(str(row["user_id"])))


def _next_slug(page: list[Organization], page_size: int) -> str | None:
    """Where ``iterate`` goes on after a page: None after the last (a short page)."""
    return page[-1].slug if len(page) >= page_size else None


class PlatformApi(Api[S]):
    """Provisioning (``db.platform``): needs a Database whose login is a member of
    ``pliers_platform``. No tenant context; each method is one transaction."""

    @api
    def create(self, slug: str, name: str, owner_email: str, *,
               owner_display_name: str | None = None, display_name: str | None = None,
               settings: Mapping[str, Any] | None = None,
               features: Mapping[str, Any] | None = None,
               limits: Mapping[str, Any] | None = None,
               subscription_status: SubscriptionStatus | None = None) -> Call[Provisioned]:
        """Create an organization and its first user, an active org_owner and its primary
        contact (``pliers.create_organization``). ``ValidationError`` with every error;
        a slug in use (or once used) is code ``taken`` at path ``slug``."""
        return then(row_of(
            "create_organization", slug=slug, name=name, owner_email=owner_email,
            **given(owner_display_name=owner_display_name, display_name=display_name,
                    settings=_dict(settings), features=_dict(features), limits=_dict(limits),
                    subscription_status=subscription_status)), _provisioned)

    @api
    def find(self, slug: str) -> Call[Organization]:
        """The organization with ``slug``, deleted or not (``NotFound`` if none)."""
        return record(Organization, "find_organization", slug=slug)

    @api
    def page(self, *, after_slug: str | None = None, limit: int = 50,
             include_deleted: bool = False) -> Call[list[Organization]]:
        """One page of organizations in slug order, after ``after_slug`` (keyset)."""
        return records(Organization, "list_organizations", after_slug=after_slug, limit=limit,
                       include_deleted=include_deleted)

    @api
    def suspend(self, organization_id: UUID | str, *, reason: str | None = None,
                expected_revision: int | None = None) -> Call[Organization]:
        """Suspend an organization: its users get no context (PermissionDenied) until
        ``reactivate``; ``InvalidTransition`` if it already is suspended."""
        return record(Organization, "suspend_organization", organization_id=organization_id,
                      **given(reason=reason, expected_revision=expected_revision))

    @api
    def reactivate(self, organization_id: UUID | str, *,
                   expected_revision: int | None = None) -> Call[Organization]:
        """End a suspension; ``InvalidTransition`` if it is not suspended."""
        return record(Organization, "reactivate_organization",
                      organization_id=organization_id, **given(expected_revision=expected_revision))

    @api
    def delete(self, organization_id: UUID | str, *,
               expected_revision: int | None = None) -> Call[Organization]:
        """Soft-delete an organization (final; its data stays, its slug stays reserved)."""
        return record(Organization, "delete_organization", organization_id=organization_id,
                      **given(expected_revision=expected_revision))

    @api
    def set_subscription_status(self, organization_id: UUID | str, status: SubscriptionStatus,
                                *, expires_at: datetime | None = None,
                                expected_revision: int | None = None) -> Call[Organization]:
        """Move ``subscription_status`` along ``subscription_moves()``
        (``InvalidTransition`` otherwise) and set its expiry (None clears it)."""
        return record(Organization, "set_subscription_status",
                      organization_id=organization_id, status=status, expires_at=expires_at,
                      **given(expected_revision=expected_revision))

    @api
    def set_plan(self, organization_id: UUID | str, *,
                 features: Mapping[str, Any] | None = None,
                 limits: Mapping[str, Any] | None = None,
                 expected_revision: int | None = None) -> Call[Organization]:
        """Replace the features and/or limits of an organization (None: unchanged)."""
        return record(Organization, "set_organization_plan", organization_id=organization_id,
                      **given(features=_dict(features), limits=_dict(limits),
                              expected_revision=expected_revision))

    @api
    def subscription_moves(self) -> Call[list[SubscriptionMove]]:
        """The allowed moves of ``subscription_status``."""
        return records(SubscriptionMove, "subscription_status_moves")


class Platform(PlatformApi[Caller]):
    """``Database.platform``: PlatformApi, and ``iterate``."""

    def iterate(self, *, page_size: int = 100,
                include_deleted: bool = False) -> Iterator[Organization]:
        """Every organization in slug order, a page (one transaction) at a time."""
        after: str | None = None
        while True:
            page = self.page(after_slug=after, limit=page_size, include_deleted=include_deleted)
            yield from page
            after = _next_slug(page, page_size)
            if after is None:
                return


class AsyncPlatform(PlatformApi[AsyncCaller]):
    """``AsyncDatabase.platform``: PlatformApi, and ``iterate`` as an async iterator."""

    async def iterate(self, *, page_size: int = 100,
                      include_deleted: bool = False) -> AsyncIterator[Organization]:
        """Every organization in slug order, a page (one transaction) at a time."""
        after: str | None = None
        while True:
            page = await self.page(after_slug=after, limit=page_size,
                                   include_deleted=include_deleted)
            for organization in page:
                yield organization
            after = _next_slug(page, page_size)
            if after is None:
                return


class OrganizationApi(Api[S]):
    """The organization of one tenant session (``session.organization``)."""

    @api
    def get(self) -> Call[Organization]:
        """The organization of the session's context (any member may read it)."""
        return record(Organization, "get_organization")

    @api
    def update(self, expected_revision: int, *, name: str | None = None,
               display_name: str | None = None, description: str | None = None,
               primary_contact_id: UUID | str | None = None,
               billing_email: str | None = None, support_email: str | None = None,
               tags: Sequence[str] | None = None,
               settings: Mapping[str, Any] | None = None) -> Call[Organization]:
        """Edit the organization (permission organization.manage); an argument left None
        is unchanged, ``settings`` replaces the whole document. ``Conflict`` if
        ``expected_revision`` is not the revision; ``ValidationError`` with every error."""
        return record(
            Organization, "update_organization", expected_revision=expected_revision,
            **given(name=name, display_name=display_name, description=description,
                    primary_contact_id=primary_contact_id, billing_email=billing_email,
                    support_email=support_email, tags=_list(tags), settings=_dict(settings)))

    @api
    def validate_settings(self, settings: Mapping[str, Any]) -> Call[list[dict[str, Any]]]:
        """Every error of a settings document, ``[]`` if valid
        (``pliers.validate_organization_settings``)."""
        return then(value("validate_organization_settings", settings=dict(settings)),
                    json_list)
