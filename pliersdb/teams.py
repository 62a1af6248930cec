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
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pliersdb._records import from_row, given

if TYPE_CHECKING:
    from pliersdb.db import Session

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


class Teams:
    """The team API of one tenant session (``session.teams``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _team(self, function: str, **arguments: Any) -> Team:
        return from_row(Team, self._session.call_one(function, **arguments))

    def _member(self, function: str, **arguments: Any) -> TeamMember:
        return from_row(TeamMember, self._session.call_one(function, **arguments))

    def create(self, name: str, slug: str, *, description: str | None = None,
               owner_id: UUID | str | None = None) -> Team:
        """A new team whose first member, ``owner_id`` (default: the caller), is its
        owner (``pliers.create_team``; needs ``team.manage``). ``ValidationError`` for a
        bad name or slug, or a slug taken by a live team (code ``taken``)."""
        return self._team("create_team", name=name, slug=slug,
                          **given(description=description, owner_id=owner_id))

    def update(self, team_id: UUID | str, *, name: str | None = None, slug: str | None = None,
               description: str | None = None) -> Team:
        """Change a team's name, slug or description (None: unchanged; ``pliers.update_team``)."""
        return self._team("update_team", team_id=team_id,
                          **given(name=name, slug=slug, description=description))

    def rename(self, team_id: UUID | str, name: str) -> Team:
        """Rename a team (``update`` with a name only)."""
        return self.update(team_id, name=name)

    def delete(self, team_id: UUID | str) -> Team:
        """Soft-delete a team: its members removed and its team-scope role assignments
        revoked with it (``pliers.delete_team``)."""
        return self._team("delete_team", team_id=team_id)

    def add_member(self, team_id: UUID | str, user_id: UUID | str, *,
                   role: TeamRole = "member") -> TeamMember:
        """Add a user to a team (``pliers.add_team_member``); ``ValidationError`` (code
        ``already_member``) if a current member."""
        return self._member("add_team_member", team_id=team_id, user_id=user_id, role=role)

    def remove_member(self, team_id: UUID | str, user_id: UUID | str) -> TeamMember:
        """Remove a member (``pliers.remove_team_member``); ``Conflict`` for the last owner."""
        return self._member("remove_team_member", team_id=team_id, user_id=user_id)

    def set_role(self, team_id: UUID | str, user_id: UUID | str, role: TeamRole) -> TeamMember:
        """Change a member's team role (``pliers.set_team_member_role``); ``Conflict``
        when it would demote the last owner."""
        return self._member("set_team_member_role", team_id=team_id, user_id=user_id, role=role)

    def members(self, team_id: UUID | str) -> list[TeamMember]:
        """The current members of a live team, in the order they joined."""
        return [from_row(TeamMember, row)
                for row in self._session.call("list_team_members", team_id=team_id)]

    # Last in the class: below it, "list" would name this method in annotations.
    def list(self) -> list[Team]:
        """The live teams of the organization, by name."""
        return [from_row(Team, row) for row in self._session.call("list_teams")]
