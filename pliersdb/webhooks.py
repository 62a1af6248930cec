"""Webhook signing secrets: encrypted at rest by the library, never seen by the database.

A webhook's signing secret must be recoverable (the delivery worker signs every
payload with it), so it cannot be stored as a hash. The library encrypts it with
AES-256-GCM under a key the database never sees; the database stores only the
ciphertext and the id of the key (``webhooks.secret_ciphertext``, ``secret_key_id``).

Keys come from the environment, ``PLIERSDB_WEBHOOK_KEYS="kid1:<base64 key>,kid2:..."``:
the first key encrypts, all of them decrypt, so a key is rotated by putting a new
one first, re-encrypting the stored secrets (``reencrypt_secret``), then dropping
the old one. A key is 16, 24 or 32 random bytes, base64 (``Keyring.generate_key()``).

Ciphertext layout: ``0x01 || nonce (12 bytes) || AES-GCM(secret) || tag (16 bytes)``,
authenticated with the associated data ``pliersdb.webhook-secret.v1:<key id>``, so a
ciphertext decrypts only with the key id it was stored with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pliersdb import errors

if TYPE_CHECKING:
    from pliersdb.db import Session

__all__ = [
    "ENV_VAR",
    "DecryptionError",
    "Keyring",
    "KeyringError",
    "create_webhook",
    "decrypt_secret",
    "encrypt_secret",
    "load_secret",
    "new_secret",
    "reencrypt_secret",
    "sign",
    "verify",
]

ENV_VAR = "PLIERSDB_WEBHOOK_KEYS"
VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class KeyringError(ValueError):
    """The keyring is malformed, empty, or lacks the key a ciphertext names."""


class DecryptionError(ValueError):
    """A ciphertext is malformed, was tampered with, or belongs to another key id."""


class Keyring:
    """Named AES keys: the first (``current_id``) encrypts, every key decrypts."""

    def __init__(self, keys: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> None:
        items = list(keys.items()) if isinstance(keys, Mapping) else list(keys)
        if not items:
            raise KeyringError("the webhook keyring has no key")
        self._keys: dict[str, bytes] = {}
        for key_id, key in items:
            if not _KEY_ID.fullmatch(key_id):
                raise KeyringError(f"invalid key id {key_id!r}: letters, digits, _ . - only")
            if key_id in self._keys:
                raise KeyringError(f"duplicate key id {key_id!r}")
            if len(key) not in (16, 24, 32):
                raise KeyringError(
                    f"key {key_id!r} is {len(key)} bytes; AES needs 16, 24 or 32")
            self._keys[key_id] = bytes(key)
        self.current_id: str = items[0][0]

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(current={self.current_id!r}, ids={self.ids!r})"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyringError(f"no webhook key with id {key_id!r} in the keyring") from None

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """``kid1:base64key,kid2:base64key`` (whitespace around entries ignored)."""
        items: list[tuple[str, bytes]] = []
        for entry in text.split(","):
            entry = entry.strip()
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise KeyringError(f"keyring entry {key_id.strip()!r} is not <id>:<base64 key>")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {key_id.strip()!r} is not valid base64") from None
            items.append((key_id.strip(), key))
        return cls(items)

    @classmethod
    def from_env(cls, var: str = ENV_VAR, environ: Mapping[str, str] = os.environ) -> Keyring:
        """The keyring of environment variable ``var`` (PLIERSDB_WEBHOOK_KEYS)."""
        text = environ.get(var, "")
        if not text.strip():
            raise KeyringError(f"{var} is not set: expected kid1:<base64 key>[,kid2:...]")
        return cls.parse(text)

    @staticmethod
    def generate_key() -> str:
        """A new random AES-256 key, base64, for PLIERSDB_WEBHOOK_KEYS."""
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _aad(key_id: str) -> bytes:
    return b"pliersdb.webhook-secret.v1:" + key_id.encode("ascii")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def new_secret() -> str:
    """A new random signing secret (256 bits), to share with the webhook's receiver."""
    return "whsec_" + secrets.token_urlsafe(32)


def encrypt_secret(secret: str | bytes, keyring: Keyring) -> tuple[bytes, str]:
    """(ciphertext, key id): the secret encrypted under the keyring's current key."""
    plaintext = _as_bytes(secret)
    if not plaintext:
        raise ValueError("a webhook secret cannot be empty")
    key_id = keyring.current_id
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(keyring.key(key_id)).encrypt(nonce, plaintext, _aad(key_id))
    return VERSION + nonce + sealed, key_id


def decrypt_secret(ciphertext: bytes, key_id: str, keyring: Keyring) -> bytes:
    """The secret; DecryptionError if the ciphertext was altered or is not for ``key_id``."""
    data = bytes(ciphertext)
    if len(data) < 1 + NONCE_BYTES + TAG_BYTES + 1 or data[:1] != VERSION:
        raise DecryptionError("not a pliersdb webhook secret ciphertext (version 1)")
    key = keyring.key(key_id)
    nonce, sealed = data[1:1 + NONCE_BYTES], data[1 + NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, sealed, _aad(key_id))
    except InvalidTag:
        raise DecryptionError(
            f"webhook secret does not decrypt with key {key_id!r}: altered or wrong key"
        ) from None


def reencrypt_secret(ciphertext: bytes, key_id: str, keyring: Keyring) -> tuple[bytes, str]:
    """The secret re-encrypted under the current key (rotation); unchanged if already so."""
    if key_id == keyring.current_id:
        decrypt_secret(ciphertext, key_id, keyring)  # still verify it
        return bytes(ciphertext), key_id
    return encrypt_secret(decrypt_secret(ciphertext, key_id, keyring), keyring)


def create_webhook(session: Session, name: str, url: str, events: Sequence[str],
                   secret: str | bytes, keyring: Keyring,
                   headers: Mapping[str, Any] | None = None) -> UUID:
    """Create a webhook of the session's organization, its secret encrypted; its id.

    Calls ``pliers.create_webhook``; the database receives only the ciphertext and key id.
    """
    ciphertext, key_id = encrypt_secret(secret, keyring)
    row = session.call_one("create_webhook", name=name, url=url, events=list(events),
                           secret_ciphertext=ciphertext, secret_key_id=key_id,
                           headers=dict(headers or {}))
    value = next(iter(row.values()))
    return value if isinstance(value, UUID) else UUID(str(value))


def load_secret(conn: psycopg.Connection[Any], organization_id: UUID | str,
                webhook_id: UUID | str, keyring: Keyring) -> bytes:
    """The decrypted signing secret of a webhook, for the delivery worker.

    ``conn`` is a connection of a login role in ``pliers_worker``, the only role that
    may read ``webhooks.secret_ciphertext`` (of every tenant: no context needed).
    NotFound if the webhook does not exist or has no secret.
    """
    row = conn.execute(
        "SELECT secret_ciphertext, secret_key_id FROM pliers.webhooks "
        "WHERE organization_id = %s AND id = %s", (organization_id, webhook_id)).fetchone()
    if row is None or row[0] is None:
        raise errors.NotFound(f"webhook {webhook_id} has no signing secret",
                              {"object": "webhook", "id": str(webhook_id)})
    return decrypt_secret(bytes(row[0]), str(row[1]), keyring)


def sign(payload: bytes, secret: str | bytes) -> str:
    """HMAC-SHA256 of the payload under the secret, lower-case hex (the delivery signature)."""
    return hmac.new(_as_bytes(secret), payload, hashlib.sha256).hexdigest()


def verify(payload: bytes, secret: str | bytes, signature: str) -> bool:
    """Whether ``signature`` is sign(payload, secret), compared in constant time."""
    return hmac.compare_digest(sign(payload, secret), signature.strip().lower())
