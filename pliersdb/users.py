"""Users: the user API of a session, ``session.users``.

    with db.tenant(org_id, admin_id) as t:
        invitation = t.users.invite("ada@example.org", roles=["form_editor"])
    # e-mail invitation.token to Ada; when she follows the link:
    with db.transaction() as s:            # no tenant context yet: the token names it
        ada = s.users.accept(token, password="correct horse battery staple")

    with db.transaction() as s:
        result = s.users.login(org_id, "ada@example.org", password)
        if result.ok: ...                   # the transaction now has Ada's context

Each method is one call of the SQL API (``docs/api.md`` "Users"), except where the
plaintext is: passwords are checked against the organization's policy
(``pliers.password_policy()``) and hashed with argon2id here, in the library, and only
the hash reaches the database (``pliers.user_secrets``, which no application role can
read). MFA (TOTP) secrets are encrypted here with AES-256-GCM under a key the database
never sees, as webhook secrets are (``pliersdb.webhooks``): keys in
``PLIERSDB_MFA_KEYS="kid1:<base64 key>,..."``, the first encrypts, all decrypt.

Errors are the ``pliersdb.errors`` exceptions of the API's SQLSTATEs.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pliersdb import errors
from pliersdb._api import (
    Api,
    Call,
    S,
    Steps,
    api,
    record,
    records,
    row_of,
    steps,
    then,
    value,
)
from pliersdb._records import as_list as _list
from pliersdb._records import given
from pliersdb.webhooks import DecryptionError, Keyring

__all__ = [
    "MFA_ENV_VAR",
    "Invitation",
    "LoginResult",
    "PasswordPolicy",
    "User",
    "Users",
    "check_password",
    "decrypt_mfa_secret",
    "encrypt_mfa_secret",
    "hash_password",
    "mfa_keyring",
    "verify_password",
]

UserStatus = Literal["active", "inactive", "suspended", "pending", "deleted"]
MFA_ENV_VAR = "PLIERSDB_MFA_KEYS"
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes anything; an unbounded input is a denial of service
_SPECIAL = re.compile(r"[^A-Za-z0-9]")
# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).
_HASHER = PasswordHasher()
_MFA_VERSION = b"\x01"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class User:
    """A row of ``pliers.users``, without its secret-bearing columns (``auth_data``,
    ``mfa_settings``). ``revision`` is the optimistic-concurrency counter."""

    id: UUID
    organization_id: UUID
    email: str
    username: str | None
    display_name: str | None
    first_name: str | None
    last_name: str | None
    avatar_url: str | None
    status: str
    roles: tuple[str, ...]
    preferences: dict[str, Any]
    timezone: str
    locale: str
    last_login_at: datetime | None
    last_activity_at: datetime | None
    password_changed_at: datetime | None
    mfa_enabled: bool
    failed_login_count: int
    locked_until: datetime | None
    invitation_expires_at: datetime | None
    revision: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class Invitation:
    """What ``invite`` returns: the token is shown this once (only its hash is stored)."""

    user_id: UUID
    token: str
    expires_at: datetime

    def __repr__(self) -> str:  # never the token
        return f"Invitation(user_id={self.user_id!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class PasswordPolicy:
    """An organization's ``settings.security.password_policy``, defaulted
    (``pliers.password_policy()``: the defaults live there)."""

    min_length: int
    require_special: bool
    max_failed_attempts: int
    lockout_minutes: int


@dataclass(frozen=True)
class LoginResult:
    """The outcome of ``login``. ``ok``: the password was right and the transaction has
    the user's context. Else ``reason``: ``invalid`` (unknown e-mail, wrong password,
    user not active: one reason, revealing nothing) or ``locked_out`` (``locked_until``)."""

    ok: bool
    organization_id: UUID
    user_id: UUID | None = None
    reason: str | None = None
    locked_until: datetime | None = None
    mfa_enabled: bool = False
    mfa_secret_ciphertext: bytes | None = None
    mfa_secret_key_id: str | None = None

    def __repr__(self) -> str:
        return (f"LoginResult(ok={self.ok!r}, user_id={self.user_id!r}, reason={self.reason!r}, "
                f"locked_until={self.locked_until!r}, mfa_enabled={self.mfa_enabled!r})")


# Passwords ---------------------------------------------------------------------------


def check_password(password: str, policy: PasswordPolicy) -> list[dict[str, str]]:
    """Every way ``password`` breaks ``policy``: ``{path: "password", code, message}``."""
    problems: list[dict[str, str]] = []
    if len(password) < policy.min_length:
        problems.append({"path": "password", "code": "too_short",
                         "message": f"at least {policy.min_length} characters"})
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append({"path": "password", "code": "too_long",
                         "message": f"at most {MAX_PASSWORD_LENGTH} characters"})
    if policy.require_special and not _SPECIAL.search(password):
        problems.append({"path": "password", "code": "special_required",
                         "message": "at least one character that is not a letter or a digit"})
    return problems


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of a password: what the database stores."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password is at most {MAX_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified when the e-mail is unknown, so that an unknown user costs as long as a known one."""
    return _HASHER.hash("pliersdb: no such user")


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the argon2 hash (in constant time for its length)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# MFA secrets -------------------------------------------------------------------------


def mfa_keyring(environ: Mapping[str, str] = os.environ) -> Keyring:
    """The keyring of ``PLIERSDB_MFA_KEYS`` (``kid1:<base64 key>[,kid2:...]``)."""
    return Keyring.from_env(MFA_ENV_VAR, environ)


def _mfa_aad(key_id: str, user_id: UUID | str) -> bytes:
    # Bound to the key and the user: a ciphertext copied to another user does not decrypt.
    return f"pliersdb.mfa-secret.v1:{key_id}:{UUID(str(user_id))}".encode("ascii")


def encrypt_mfa_secret(secret: str | bytes, keyring: Keyring,
                       user_id: UUID | str) -> tuple[bytes, str]:
    """(ciphertext, key id): ``0x01 || nonce || AES-GCM(secret) || tag`` under the current key."""
    plaintext = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not plaintext or len(plaintext) > 512:
        raise ValueError("an MFA secret is 1 to 512 bytes")
    key_id = keyring.current_id
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(keyring.key(key_id)).encrypt(nonce, plaintext, _mfa_aad(key_id, user_id))
    return _MFA_VERSION + nonce + sealed, key_id


def decrypt_mfa_secret(ciphertext: bytes, key_id: str, keyring: Keyring,
                       user_id: UUID | str) -> bytes:
    """The MFA secret; DecryptionError if altered, or not this user's or this key's."""
    data = bytes(ciphertext)
    if len(data) < 1 + _NONCE_BYTES + 17 or data[:1] != _MFA_VERSION:
        raise DecryptionError("not a pliersdb MFA secret ciphertext (version 1)")
    try:
        return AESGCM(keyring.key(key_id)).decrypt(
            data[1:1 + _NONCE_BYTES], data[1 + _NONCE_BYTES:], _mfa_aad(key_id, user_id))
    except InvalidTag:
        raise DecryptionError(
            "MFA secret does not decrypt: altered, wrong key or wrong user") from None


# The API ------------------------------------------------------------------------------


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _invitation(row: dict[str, Any]) -> Invitation:
    return Invitation(_uuid(row["user_id"]), str(row["token"]), row["expires_at"])


def _policy(value: Any) -> PasswordPolicy:
    return PasswordPolicy(int(value["min_length"]), bool(value["require_special"]),
                          int(value["max_failed_attempts"]), int(value["lockout_minutes"]))


class Users(Api[S]):
    """The user API of one session (``session.users``)."""

    # Invitations -----------------------------------------------------------------------

    @api
    def invite(self, email: str, *, roles: Sequence[str] | None = None,
               display_name: str | None = None,
               valid_for: timedelta | None = None) -> Call[Invitation]:
        """Invite a user (``pliers.invite_user``): pending, with ``roles`` (default viewer).
        The token is returned this once; send it to the invitee. Needs ``user.manage`` and
        every permission of the roles (``PermissionDenied``); ``ValidationError`` lists
        every error (an e-mail taken in this organization: code ``taken``)."""
        return then(row_of("invite_user", email=email, **given(
            roles=_list(roles), display_name=display_name, valid_for=valid_for)), _invitation)

    @api
    def accept(self, token: str, *, password: str | None = None,
               session_id: UUID | str | None = None, ip_address: str | None = None,
               user_agent: str | None = None) -> Steps[User]:
        """Accept an invitation (``pliers.accept_invitation``), in a session without a
        context (``db.transaction()``): the user becomes active and the transaction gets
        its context. With ``password``, checked against the organization's policy and
        stored as its hash in the same transaction. ``PermissionDenied`` (``detail
        reason``: used, expired, revoked, unknown) for a token that no longer works."""
        row = yield row_of("accept_invitation", token=token, **given(
            session_id=session_id, ip_address=ip_address, user_agent=user_agent))
        user_id = _uuid(row["user_id"])
        if password is not None:
            return (yield from steps(Users.set_password.plan(self, user_id, password)))
        return (yield from steps(record(User, "get_user", user_id=user_id)))

    # Users -----------------------------------------------------------------------------

    @api
    def add(self, email: str, *, roles: Sequence[str] | None = None,
            display_name: str | None = None, first_name: str | None = None,
            last_name: str | None = None, username: str | None = None,
            timezone: str | None = None, locale: str | None = None,
            password: str | None = None) -> Steps[User]:
        """Add an active user directly (``pliers.add_user``); with ``password``, its hash
        too, in the same transaction."""
        user: User = yield record(User, "add_user", email=email, **given(
            roles=_list(roles), display_name=display_name, first_name=first_name,
            last_name=last_name, username=username, timezone=timezone, locale=locale))
        if password is None:
            return user
        return (yield from steps(Users.set_password.plan(self, user.id, password)))

    @api
    def get(self, user_id: UUID | str) -> Call[User]:
        """A user of the organization (``pliers.get_user``); NotFound otherwise."""
        return record(User, "get_user", user_id=user_id)

    @api
    def update_profile(self, user_id: UUID | str, expected_revision: int, *,
                       email: str | None = None, username: str | None = None,
                       display_name: str | None = None, first_name: str | None = None,
                       last_name: str | None = None, avatar_url: str | None = None,
                       timezone: str | None = None, locale: str | None = None) -> Call[User]:
        """Edit a profile (``pliers.update_user_profile``); None leaves a field as it is.
        ``timezone``: a name of pg_timezone_names; ``locale``: BCP 47 (``en-US``)."""
        return record(User, "update_user_profile", user_id=user_id,
                      expected_revision=expected_revision, **given(
                          email=email, username=username, display_name=display_name,
                          first_name=first_name, last_name=last_name,
                          avatar_url=avatar_url, timezone=timezone, locale=locale))

    @api
    def update_preferences(self, user_id: UUID | str, preferences: Mapping[str, Any], *,
                           expected_revision: int | None = None) -> Call[User]:
        """Replace a user's preferences, a JSON object (``pliers.update_user_preferences``)."""
        return record(User, "update_user_preferences", user_id=user_id,
                      preferences=dict(preferences),
                      **given(expected_revision=expected_revision))

    @api
    def change_roles(self, user_id: UUID | str, roles: Sequence[str],
                     expected_revision: int) -> Call[User]:
        """Replace a user's roles (``pliers.change_user_roles``): only roles whose every
        permission the caller holds may be given or taken (``PermissionDenied``), and the
        last owner keeps org_owner (``Conflict``)."""
        return record(User, "change_user_roles", user_id=user_id, roles=list(roles),
                      expected_revision=expected_revision)

    @api
    def suspend(self, user_id: UUID | str, *, expected_revision: int | None = None) -> Call[User]:
        """Suspend a user (``pliers.suspend_user``); not the last owner (``Conflict``)."""
        return record(User, "suspend_user", user_id=user_id,
                      **given(expected_revision=expected_revision))

    @api
    def reactivate(self, user_id: UUID | str, *,
                   expected_revision: int | None = None) -> Call[User]:
        """Make a suspended user active again (``pliers.reactivate_user``)."""
        return record(User, "reactivate_user", user_id=user_id,
                      **given(expected_revision=expected_revision))

    @api
    def delete(self, user_id: UUID | str, *, expected_revision: int | None = None) -> Call[User]:
        """Soft-delete a user and drop its secrets (``pliers.delete_user``)."""
        return record(User, "delete_user", user_id=user_id,
                      **given(expected_revision=expected_revision))

    @api
    def erase(self, user_id: UUID | str) -> Call[dict[str, Any]]:
        """Erase a user's personal data (``pliers.erase_user_account``, permission
        ``user.erase``); returns what was erased."""
        return then(value("erase_user_account", user_id=user_id), dict)

    # Passwords and MFA -----------------------------------------------------------------

    @api
    def password_policy(self) -> Call[PasswordPolicy]:
        """The organization's password policy, defaulted (``pliers.password_policy()``)."""
        return then(value("password_policy"), _policy)

    @api
    def set_password(self, user_id: UUID | str, password: str) -> Steps[User]:
        """Check ``password`` against the policy (``ValidationError`` with every problem,
        path ``password``), hash it with argon2id and store the hash
        (``pliers.set_user_password``). The user itself or ``user.manage``."""
        policy = yield then(value("password_policy"), _policy)
        problems = check_password(password, policy)
        if problems:
            raise errors.ValidationError("the password does not meet the policy",
                                         {"errors": problems})
        return (yield from steps(record(User, "set_user_password", user_id=user_id,
                                        password_hash=hash_password(password))))

    @api
    def set_mfa_secret(self, user_id: UUID | str, secret: str | bytes,
                       keyring: Keyring) -> Call[User]:
        """Store a user's MFA (TOTP) secret, encrypted here (``pliers.set_user_mfa``)."""
        ciphertext, key_id = encrypt_mfa_secret(secret, keyring, user_id)
        return record(User, "set_user_mfa", user_id=user_id, secret_ciphertext=ciphertext,
                      secret_key_id=key_id)

    @api
    def clear_mfa_secret(self, user_id: UUID | str) -> Call[User]:
        """Remove a user's MFA secret: ``mfa_enabled`` becomes false."""
        return record(User, "set_user_mfa", user_id=user_id, secret_ciphertext=None,
                      secret_key_id=None)

    # Logins ----------------------------------------------------------------------------

    @api
    def login(self, organization_id: UUID | str, email: str, password: str, *,
              session_id: UUID | str | None = None, ip_address: str | None = None,
              user_agent: str | None = None) -> Steps[LoginResult]:
        """Check a password login, in a session without a context (``db.transaction()``),
        and record it (``pliers.login_credentials``, then ``pliers.record_login``): a
        success opens the user's context in this transaction; a failure counts towards
        the lockout of the organization's policy; a locked-out user is refused without
        its password being checked. Returns a LoginResult, raises nothing for a refusal
        (commit the transaction: the failure is recorded). With MFA, verify the code
        with ``decrypt_mfa_secret(result.mfa_secret_ciphertext, ...)`` before trusting it."""
        org = _uuid(organization_id)
        row = yield row_of("login_credentials", organization_id=org, email=email)
        if row["refused"] is not None:
            if row["refused"] == "invalid":
                verify_password(_dummy_hash(), password)  # the same time as a real check
            return LoginResult(False, org, row["user_id"], str(row["refused"]),
                               row["locked_until"])
        user_id = _uuid(row["user_id"])
        ok = verify_password(str(row["password_hash"]), password)
        recorded = yield row_of(
            "record_login", organization_id=org, user_id=user_id, success=ok,
            **given(session_id=session_id, ip_address=ip_address, user_agent=user_agent))
        if not ok:
            locked = recorded["locked_until"]
            return LoginResult(False, org, user_id, "locked_out" if locked else "invalid", locked)
        ciphertext = row["mfa_secret_ciphertext"]
        return LoginResult(True, org, user_id, None, None, bool(row["mfa_enabled"]),
                           None if ciphertext is None else bytes(ciphertext),
                           row["mfa_secret_key_id"])

    @api
    def touch_activity(self) -> Call[bool]:
        """Record the current user's activity (``pliers.touch_user_activity``): written at
        most once a minute; True when written."""
        return then(value("touch_user_activity"), bool)

    @api
    def list(self, *, status: UserStatus | None = None,
             limit: int | None = None) -> Call[list[User]]:
        """The live users (or those of ``status``) by e-mail (``pliers.list_users``)."""
        return records(User, "list_users", **given(status=status, limit=limit))
