"""API keys: the key API of a tenant session, ``session.api_keys``.

    with db.tenant(org_id, admin_id) as t:
        created = t.api_keys.create("CI", scopes=["form.view"])
        print(created.key)  # shown this once
        rotated = t.api_keys.rotate(created.id, grace=timedelta(hours=1))

The database keeps only a key's SHA-256 and its display prefix; a listing never shows
the key or its hash. Every method needs ``api_key.manage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from pliersdb._api import Api, Call, S, api, record, records
from pliersdb._records import given

__all__ = ["ApiKey", "ApiKeys", "NewApiKey", "RotatedApiKey"]


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed: never the key nor its hash."""

    id: UUID
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit_per_minute: int
    expires_at: datetime | None
    last_used_at: datetime | None
    created_by: UUID
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: UUID | None


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: ``key`` is shown this once (only its SHA-256 is stored)."""

    id: UUID
    key: str
    prefix: str

    def __repr__(self) -> str:  # no secret in logs or tracebacks
        return f"NewApiKey(id={self.id!r}, prefix={self.prefix!r}, key=<hidden>)"


@dataclass(frozen=True)
class RotatedApiKey:
    """The key that replaces ``replaced_id``, which stops working at ``replaced_until``."""

    id: UUID
    key: str
    prefix: str
    replaced_id: UUID
    replaced_until: datetime

    def __repr__(self) -> str:
        return (f"RotatedApiKey(id={self.id!r}, prefix={self.prefix!r}, key=<hidden>, "
                f"replaced_id={self.replaced_id!r}, replaced_until={self.replaced_until!r})")


class ApiKeys(Api[S]):
    """The API-key API of one tenant session (``session.api_keys``)."""

    @api
    def create(self, name: str, *, environment: str = "live", scopes: Sequence[str] = (),
               expires_at: datetime | None = None,
               rate_limit_per_minute: int | None = None) -> Call[NewApiKey]:
        """A new key acting as the caller (``pliers.create_api_key``); ``scopes``:
        permission names, empty = the caller's permissions."""
        return record(
            NewApiKey, "create_api_key", name=name, environment=environment, scopes=list(scopes),
            **given(expires_at=expires_at, rate_limit_per_minute=rate_limit_per_minute))

    @api
    def rotate(self, key_id: UUID | str, *, grace: timedelta | None = None) -> Call[RotatedApiKey]:
        """Replace a key with a new one of the same name, environment, scopes, expiry and
        rate limit (``pliers.rotate_api_key``). The old key stops at once, or after
        ``grace`` (at most 30 days). ``InvalidTransition`` for a revoked or expired key."""
        return record(
            RotatedApiKey, "rotate_api_key", id=key_id,
            **given(grace_seconds=None if grace is None else round(grace.total_seconds())))

    @api
    def revoke(self, key_id: UUID | str) -> Call[None]:
        """Revoke a key for good (``pliers.revoke_api_key``; idempotent)."""
        return Call("revoke_api_key", (), {"id": key_id}, lambda rows: None)

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self, *, include_revoked: bool = False) -> Call[list[ApiKey]]:
        """The organization's keys, oldest first (``pliers.list_api_keys``)."""
        return records(ApiKey, "list_api_keys", include_revoked=include_revoked)
