"""Access: role assignments, form collaborators and effective permissions of a tenant
session, ``session.access``.

    with db.tenant(org_id, admin_id) as t:
        grant = t.access.grant(user_id, "form_manager", scope_type="form", scope_id=form_id,
                               expires_at=tomorrow)
        t.access.revoke(grant.id)
        for p in t.access.effective_permissions(user_id):
            print(p.permission, p.source, p.role, p.allowed)

Each method is one call of the SQL API (``docs/api.md`` "Teams, roles and access").
No escalation: a role is given or taken only by a user who holds every permission it
grants at that scope, a collaborator flag only by one who holds its permission on the
form (``PermissionDenied``); ``org_owner`` is given through the user's roles, never by
assignment (``ValidationError``, code ``not_assignable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from pliersdb._api import Api, Call, S, api, record, records
from pliersdb._records import given

__all__ = ["Access", "Collaborator", "EffectivePermission", "RoleAssignment", "ScopeType"]

ScopeType = Literal["organization", "form", "workflow", "team"]


@dataclass(frozen=True)
class RoleAssignment:
    """A role given to a user at a scope: a row of ``pliers.role_assignments``.
    Live while neither revoked nor expired."""

    id: UUID
    user_id: UUID
    role: str
    scope_type: str
    scope_id: UUID | None
    granted_by: UUID | None
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: UUID | None


@dataclass(frozen=True)
class Collaborator:
    """A user's rights on one form version: a row of ``pliers.form_collaborators``."""

    id: UUID
    form_id: UUID
    user_id: UUID
    permission_level: str
    can_edit: bool
    can_delete: bool
    can_publish: bool
    can_view_submissions: bool
    granted_at: datetime
    granted_by: UUID | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class EffectivePermission:
    """One permission of a user and one reason for it (``pliers.effective_permissions``).

    ``source``: ``role`` (users.roles, ``role`` names it), ``assignment`` (a live role
    assignment, ``reference_id`` its id), ``collaborator`` (a form collaborator row,
    ``role`` its permission level), ``team_member`` (``role`` the team role), ``grant``
    or ``denial`` (users.permissions). ``allowed`` is False when the permission is
    denied: a denial overrides every grant.
    """

    permission: str
    allowed: bool
    scope_type: str
    scope_id: UUID | None
    source: str
    role: str | None
    reference_id: UUID | None
    expires_at: datetime | None


class Access(Api[S]):
    """Roles, collaborators and effective permissions of one tenant session
    (``session.access``)."""

    # Role assignments ---------------------------------------------------------

    @api
    def grant(self, user_id: UUID | str, role: str, *, scope_type: ScopeType = "organization",
              scope_id: UUID | str | None = None, expires_at: datetime | None = None,
              expected_revision: int | None = None) -> Call[RoleAssignment]:
        """Grant ``role`` to a user, organization-wide or on one form, workflow or team,
        optionally until ``expires_at`` (``pliers.grant_role``; needs ``user.manage`` and
        every permission of the role at that scope). ``expected_revision``: the user's."""
        return record(
            RoleAssignment, "grant_role", user_id=user_id, role=role, scope_type=scope_type,
            **given(scope_id=scope_id, expires_at=expires_at,
                    expected_revision=expected_revision))

    @api
    def revoke(self, assignment_id: UUID | str, *,
               expected_revision: int | None = None) -> Call[RoleAssignment]:
        """Revoke a role assignment (``pliers.revoke_role``; idempotent)."""
        return record(
            RoleAssignment, "revoke_role", assignment_id=assignment_id,
            **given(expected_revision=expected_revision))

    @api
    def assignments(self, user_id: UUID | str | None = None, *,
                    include_inactive: bool = False) -> Call[list[RoleAssignment]]:
        """The live role assignments of a user (None: of everyone; another user's need
        ``user.manage``); ``include_inactive`` adds revoked and expired ones."""
        return records(RoleAssignment, "list_role_assignments", user_id=user_id,
                       include_inactive=include_inactive)

    # Form collaborators -------------------------------------------------------

    @api
    def add_collaborator(self, form_id: UUID | str, user_id: UUID | str, *,
                         permission_level: str = "viewer", can_edit: bool = False,
                         can_delete: bool = False, can_publish: bool = False,
                         can_view_submissions: bool = False,
                         expected_revision: int | None = None) -> Call[Collaborator]:
        """Make a user a collaborator of a form version (``pliers.add_form_collaborator``;
        needs ``form.edit`` on it and the permission of each flag given)."""
        return record(
            Collaborator, "add_form_collaborator", form_id=form_id, user_id=user_id,
            permission_level=permission_level, can_edit=can_edit, can_delete=can_delete,
            can_publish=can_publish, can_view_submissions=can_view_submissions,
            **given(expected_revision=expected_revision))

    @api
    def update_collaborator(self, form_id: UUID | str, user_id: UUID | str, *,
                            permission_level: str | None = None, can_edit: bool | None = None,
                            can_delete: bool | None = None, can_publish: bool | None = None,
                            can_view_submissions: bool | None = None,
                            expected_revision: int | None = None) -> Call[Collaborator]:
        """Change a collaborator's level or flags (None: unchanged;
        ``pliers.update_form_collaborator``)."""
        return record(
            Collaborator, "update_form_collaborator", form_id=form_id, user_id=user_id,
            **given(permission_level=permission_level, can_edit=can_edit,
                    can_delete=can_delete, can_publish=can_publish,
                    can_view_submissions=can_view_submissions,
                    expected_revision=expected_revision))

    @api
    def revoke_collaborator(self, form_id: UUID | str, user_id: UUID | str, *,
                            expected_revision: int | None = None) -> Call[Collaborator]:
        """End a user's collaboration on a form (``pliers.revoke_form_collaborator``)."""
        return record(
            Collaborator, "revoke_form_collaborator", form_id=form_id, user_id=user_id,
            **given(expected_revision=expected_revision))

    # Effective permissions ----------------------------------------------------

    @api
    def effective_permissions(self, user_id: UUID | str | None = None
                              ) -> Call[list[EffectivePermission]]:
        """Every permission of a user (None: the caller) with the reason for each
        (``pliers.effective_permissions``; another user's need ``user.manage``)."""
        return records(EffectivePermission, "effective_permissions", **given(user_id=user_id))
