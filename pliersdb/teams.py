"""Teams: the team API of a tenant session, ``session.teams``.

    with db.tenant(org_id, user_id) as t:
        team = t.teams.create("Front desk", "front-desk")
        t.teams.add_member(team.id, other_user_id, role="admin")

Each method is one call of the SQL API (``docs/api.md`` "Teams, roles and access"):
the database checks ``team.manage`` (organization-wide, or as an owner or admin of the
team), keeps the team's last owner (``Conflict``) and records the ``team.*`` events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pliersdb._api import Api, Call, Plan, S, api, record, records
from pliersdb._records import given

__all__ = ["Team", "TeamMember", "TeamRole", "Teams"]

TeamRole = Literal["owner", "admin", "member", "viewer"]


@dataclass(frozen=True)
class Team:
    """A team: a row of ``pliers.teams`` (``deleted_at`` set once deleted)."""

    id: UUID
    organization_id: UUID
    name: str
    slug: str
    description: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    created_by: UUID | None
    updated_by: UUID | None


@dataclass(frozen=True)
class TeamMember:
    """A membership: a row of ``pliers.team_members`` (``removed_at`` set once removed)."""

    id: UUID
    team_id: UUID
    user_id: UUID
    role: str
    joined_at: datetime
    removed_at: datetime | None


class Teams(Api[S]):
    """The team API of one tenant session (``session.teams``)."""

    @api
    def create(self, name: str, slug: str, *, description: str | None = None,
               owner_id: UUID | str | None = None) -> Call[Team]:
        """A new team whose first member, ``owner_id`` (default: the caller), is its
        owner (``pliers.create_team``; needs ``team.manage``). ``ValidationError`` for a
        bad name or slug, or a slug taken by a live team (code ``taken``)."""
        return record(Team, "create_team", name=name, slug=slug,
                      **given(description=description, owner_id=owner_id))

    @api
    def update(self, team_id: UUID | str, *, name: str | None = None, slug: str | None = None,
               description: str | None = None) -> Call[Team]:
        """Change a team's name, slug or description (None: unchanged; ``pliers.update_team``)."""
        return record(Team, "update_team", team_id=team_id,
                      **given(name=name, slug=slug, description=description))

    @api
    def rename(self, team_id: UUID | str, name: str) -> Plan[Team]:
        """Rename a team (``update`` with a name only)."""
        return Teams.update.plan(self, team_id, name=name)

    @api
    def delete(self, team_id: UUID | str) -> Call[Team]:
        """Soft-delete a team: its members removed and its team-scope role assignments
        revoked with it (``pliers.delete_team``)."""
        return record(Team, "delete_team", team_id=team_id)

    @api
    def add_member(self, team_id: UUID | str, user_id: UUID | str, *,
                   role: TeamRole = "member") -> Call[TeamMember]:
        """Add a user to a team (``pliers.add_team_member``); ``ValidationError`` (code
        ``already_member``) if a current member."""
        return record(TeamMember, "add_team_member", team_id=team_id, user_id=user_id, role=role)

    @api
    def remove_member(self, team_id: UUID | str, user_id: UUID | str) -> Call[TeamMember]:
        """Remove a member (``pliers.remove_team_member``); ``Conflict`` for the last owner."""
        return record(TeamMember, "remove_team_member", team_id=team_id, user_id=user_id)

    @api
    def set_role(self, team_id: UUID | str, user_id: UUID | str,
                 role: TeamRole) -> Call[TeamMember]:
        """Change a member's team role (``pliers.set_team_member_role``); ``Conflict``
        when it would demote the last owner."""
        return record(TeamMember, "set_team_member_role", team_id=team_id, user_id=user_id,
                      role=role)

    @api
    def members(self, team_id: UUID | str) -> Call[list[TeamMember]]:
        """The current members of a live team, in the order they joined."""
        return records(TeamMember, "list_team_members", team_id=team_id)

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self) -> Call[list[Team]]:
        """The live teams of the organization, by name."""
        return records(Team, "list_teams")
