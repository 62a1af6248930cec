"""The user library (``session.users``) end to end, as an application runs it: through
``pliersdb.connect`` as a LOGIN role in pliers_app, under row-level security.

Invitations (a token that works once and expires), direct additions, profiles,
preferences, roles (no escalation, the last owner), suspension, deletion, erasure,
password logins with lockout, password hashes and MFA secrets that no tenant can read.
A call that fails aborts its transaction; the tests check that it wrote nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb import errors, users
from pliersdb.users import Invitation, User
from pliersdb.webhooks import DecryptionError, Keyring

PASSWORD = "correct horse battery staple"  # noqa: S105


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "users", {
        "acme": {"users": {"olive": ["org_owner"], "adam": ["org_admin"], "vic": ["viewer"]}},
        "globex": {"users": {"gina": ["org_owner"]}},
        "solo": {"users": {"sol": ["org_owner"], "sam": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def as_user(app: pliersdb.Database, seeded: World, org: str, name: str) -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, tenant.users[name])


def admin(app: pliersdb.Database, seeded: World) -> Any:
    return as_user(app, seeded, "acme", "adam")


def email() -> str:
    return f"u{uuid.uuid4().hex[:10]}@example.org"


def admin_query(seeded: World, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(seeded.admin_dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description is not None else []


def user_state(seeded: World, user_id: UUID) -> tuple[Any, ...]:
    rows = admin_query(seeded, "SELECT status, roles, revision, deleted_at FROM pliers.users "
                               "WHERE id = %s", (user_id,))
    assert len(rows) == 1
    return rows[0]


def event_count(seeded: World, org: str) -> int:
    return int(admin_query(seeded, "SELECT count(*) FROM pliers.events WHERE organization_id = %s",
                           (seeded.orgs[org].id,))[0][0])


def add(app: pliersdb.Database, seeded: World, roles: list[str], org: str = "acme",
        by: str = "adam", password: str | None = PASSWORD) -> User:
    with as_user(app, seeded, org, by) as t:
        user: User = t.users.add(email(), roles=roles, display_name="Someone", password=password)
    return user


# Invitations ---------------------------------------------------------------------------


def test_an_invitation_token_works_once(app: pliersdb.Database, seeded: World) -> None:
    address = email()
    with admin(app, seeded) as t:
        invitation = t.users.invite(address, roles=["form_editor"], display_name="Ada")
        pending = t.users.get(invitation.user_id)
    assert isinstance(invitation, Invitation)
    assert invitation.token.startswith("inv_" + seeded.orgs["acme"].id.hex + "_")
    assert invitation.token not in repr(invitation)
    assert (pending.status, pending.roles) == ("pending", ("form_editor",))
    assert pending.invitation_expires_at == invitation.expires_at
    # Only the SHA-256 of the token is stored.
    digest = hashlib.sha256(invitation.token.encode()).hexdigest()
    assert admin_query(seeded, "SELECT invitation_token_hash FROM pliers.user_secrets "
                               "WHERE user_id = %s", (invitation.user_id,)) == [(digest,)]

    with app.transaction() as s:
        ada = s.users.accept(invitation.token, password=PASSWORD)
        # The transaction has Ada's context now.
        assert s.execute("SELECT pliers.current_user_id()").fetchone() == (ada.id,)
    assert (ada.id, ada.status, ada.invitation_expires_at) == (invitation.user_id, "active", None)
    assert ada.password_changed_at is not None

    revision = user_state(seeded, ada.id)[2]
    with pytest.raises(errors.PermissionDenied) as used, app.transaction() as s:
        s.users.accept(invitation.token)
    assert used.value.detail["reason"] == "used"
    assert "already been accepted" in used.value.message
    assert user_state(seeded, ada.id)[2] == revision

    with app.transaction() as s:
        assert s.users.login(seeded.orgs["acme"].id, address.upper(), PASSWORD).ok
    events = [r[0] for r in admin_query(
        seeded, "SELECT event_type FROM pliers.events WHERE aggregate_id = %s "
                "ORDER BY aggregate_version", (ada.id,))]
    assert events[:3] == ["user.invited", "user.activated", "user.password_changed"]


def test_an_invitation_expires(app: pliersdb.Database, seeded: World) -> None:
    with admin(app, seeded) as t:
        invitation = t.users.invite(email(), valid_for=timedelta(hours=1))
    admin_query(seeded, "UPDATE pliers.users SET invitation_expires_at = "
                        "now() - interval '1 second' WHERE id = %s", (invitation.user_id,))
    before = user_state(seeded, invitation.user_id)
    with pytest.raises(errors.PermissionDenied) as expired, app.transaction() as s:
        s.users.accept(invitation.token)
    assert expired.value.detail == {"permission": "invitation.accept", "object": "invitation",
                                    "reason": "expired"}
    assert user_state(seeded, invitation.user_id) == before  # still pending, nothing written


def test_a_wrong_or_withdrawn_token_is_refused(app: pliersdb.Database, seeded: World) -> None:
    with admin(app, seeded) as t:
        invitation = t.users.invite(email())
    forged = invitation.token[:-1] + ("0" if invitation.token[-1] != "0" else "1")
    other_org = invitation.token.replace(seeded.orgs["acme"].id.hex, seeded.orgs["globex"].id.hex)
    for token in (forged, other_org, "", "inv_x", invitation.token.upper()):
        with pytest.raises(errors.PermissionDenied) as refused, app.transaction() as s:
            s.users.accept(token)
        assert refused.value.detail["reason"] == "unknown", token
    with admin(app, seeded) as t:
        t.users.delete(invitation.user_id)
    with pytest.raises(errors.PermissionDenied) as withdrawn, app.transaction() as s:
        s.users.accept(invitation.token)
    assert withdrawn.value.detail["reason"] in ("revoked", "unknown")


def test_invitations_need_user_manage_and_grantable_roles(app: pliersdb.Database,
                                                          seeded: World) -> None:
    before = event_count(seeded, "acme")
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "acme", "vic") as t:
        t.users.invite(email())
    # org_admin lacks organization.manage: it cannot make an owner.
    with pytest.raises(errors.PermissionDenied) as denied, admin(app, seeded) as t:
        t.users.invite(email(), roles=["org_owner"])
    assert denied.value.detail["role"] == "org_owner"
    assert event_count(seeded, "acme") == before


# Bad input -------------------------------------------------------------------------------


def test_every_invalid_field_is_reported_with_its_path(app: pliersdb.Database,
                                                       seeded: World) -> None:
    count = admin_query(seeded, "SELECT count(*) FROM pliers.users")[0][0]
    with pytest.raises(errors.ValidationError) as invalid, admin(app, seeded) as t:
        t.users.add("not-an-email", roles=["viewer", "wizard"], timezone="Mars/Olympus_Mons",
                    locale="english", display_name=" ", username="-x")
    found = {(e["path"], e["code"]) for e in invalid.value.errors}
    assert found == {("email", "invalid_email"), ("roles[1]", "unknown_role"),
                     ("timezone", "unknown_timezone"), ("locale", "invalid_format"),
                     ("display_name", "blank"), ("username", "invalid_format")}
    with pytest.raises(errors.ValidationError) as invited, admin(app, seeded) as t:
        t.users.invite("x" * 300 + "@example.org", roles=["nobody"], valid_for=timedelta(days=90))
    assert {(e["path"], e["code"]) for e in invited.value.errors} == {
        ("email", "invalid_email"), ("roles[0]", "unknown_role"), ("valid_for", "out_of_range")}
    assert admin_query(seeded, "SELECT count(*) FROM pliers.users")[0][0] == count


def test_time_zones_and_locales(app: pliersdb.Database, seeded: World) -> None:
    user = add(app, seeded, ["viewer"])
    with admin(app, seeded) as t:
        for zone, locale in (("Europe/Paris", "fr-FR"),
                             ("America/Argentina/Buenos_Aires", "es-419"),
                             ("UTC", "zh-Hans-CN"), ("Asia/Kolkata", "en")):
            user = t.users.update_profile(user.id, user.revision, timezone=zone, locale=locale)
            assert (user.timezone, user.locale) == (zone, locale)
    for zone, locale in (("CEST", "en_US"), ("Europe/Nowhere", "EN-us"), ("+02:00", "e")):
        with pytest.raises(errors.ValidationError) as bad, admin(app, seeded) as t:
            t.users.update_profile(user.id, user.revision, timezone=zone, locale=locale)
        assert {e["path"] for e in bad.value.errors} == {"timezone", "locale"}, (zone, locale)


def test_a_taken_email_is_refused_within_the_organization_only(app: pliersdb.Database,
                                                               seeded: World) -> None:
    user = add(app, seeded, ["viewer"])
    count = admin_query(seeded, "SELECT count(*) FROM pliers.users")[0][0]
    for call in ("add", "invite"):
        with pytest.raises(errors.ValidationError) as taken, admin(app, seeded) as t:
            getattr(t.users, call)(user.email.upper())
        assert taken.value.errors == [{
            "path": "email", "code": "taken",
            "message": "another user of the organization has this email"}]
    assert admin_query(seeded, "SELECT count(*) FROM pliers.users")[0][0] == count
    with as_user(app, seeded, "globex", "gina") as t:  # another organization: free
        assert t.users.add(user.email).email == user.email
    other = add(app, seeded, ["viewer"])
    with pytest.raises(errors.ValidationError) as renamed, admin(app, seeded) as t:
        t.users.update_profile(other.id, other.revision, email=user.email)
    assert [(e["path"], e["code"]) for e in renamed.value.errors] == [("email", "taken")]


# Roles, the last owner ---------------------------------------------------------------------


def test_a_viewer_cannot_grant_itself_org_admin(app: pliersdb.Database, seeded: World) -> None:
    vic = seeded.orgs["acme"].users["vic"]
    before = user_state(seeded, vic)
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded, "acme", "vic") as t:
        me = t.users.get(vic)
        t.users.change_roles(vic, ["viewer", "org_admin"], me.revision)
    assert denied.value.detail["permission"] == "user.manage"
    assert user_state(seeded, vic) == before
    # Nor may an org_admin make anyone an owner, or demote one.
    olive = seeded.orgs["acme"].users["olive"]
    with pytest.raises(errors.PermissionDenied), admin(app, seeded) as t:
        t.users.change_roles(vic, ["org_owner"], before[2])
    with pytest.raises(errors.PermissionDenied), admin(app, seeded) as t:
        t.users.change_roles(olive, ["viewer"], user_state(seeded, olive)[2])
    with pytest.raises(errors.PermissionDenied), admin(app, seeded) as t:
        t.users.suspend(olive)
    assert user_state(seeded, vic) == before


def test_roles_change_with_the_expected_revision(app: pliersdb.Database, seeded: World) -> None:
    user = add(app, seeded, ["viewer"])
    with admin(app, seeded) as t:
        changed = t.users.change_roles(user.id, ["form_editor", "viewer", "form_editor"],
                                       user.revision)
    assert changed.roles == ("form_editor", "viewer")
    assert changed.revision == user.revision + 1
    with pytest.raises(errors.Conflict), admin(app, seeded) as t:
        t.users.change_roles(user.id, ["viewer"], user.revision)
    with pytest.raises(errors.ValidationError) as unknown, admin(app, seeded) as t:
        t.users.change_roles(user.id, ["viewer", "root"], changed.revision)
    assert [(e["path"], e["code"]) for e in unknown.value.errors] == [("roles[1]", "unknown_role")]
    payload = admin_query(seeded, "SELECT payload FROM pliers.events WHERE aggregate_id = %s "
                                  "AND event_type = 'user.roles_changed'", (user.id,))
    assert payload == [({"roles": ["form_editor", "viewer"], "added": ["form_editor"],
                         "removed": []},)]


def test_the_last_owner_cannot_leave(app: pliersdb.Database, seeded: World) -> None:
    solo = seeded.orgs["solo"]
    sol = solo.users["sol"]
    before = user_state(seeded, sol)
    events = event_count(seeded, "solo")
    attempts = {
        "demote": lambda t: t.users.change_roles(sol, ["org_admin"], before[2]),
        "suspend": lambda t: t.users.suspend(sol),
        "delete": lambda t: t.users.delete(sol),
        "erase": lambda t: t.users.erase(sol),
    }
    for what, attempt in attempts.items():
        with pytest.raises(errors.Conflict) as refused, as_user(app, seeded, "solo", "sol") as t:
            attempt(t)
        assert refused.value.detail["rule"] == "last_owner", what
        assert user_state(seeded, sol) == before, what
    assert event_count(seeded, "solo") == events
    # With a second owner, the first may step down.
    with as_user(app, seeded, "solo", "sol") as t:
        sam = t.users.get(solo.users["sam"])
        t.users.change_roles(sam.id, ["org_owner"], sam.revision)
        me = t.users.change_roles(sol, ["org_admin"], before[2])
    assert me.roles == ("org_admin",)
    with pytest.raises(errors.Conflict), as_user(app, seeded, "solo", "sam") as t:
        t.users.suspend(solo.users["sam"])


# Status, erasure -----------------------------------------------------------------------------


def test_suspend_reactivate_delete(app: pliersdb.Database, seeded: World) -> None:
    user = add(app, seeded, ["viewer"])
    with admin(app, seeded) as t:
        suspended = t.users.suspend(user.id, expected_revision=user.revision)
    assert suspended.status == "suspended"
    acme = seeded.orgs["acme"]
    with pytest.raises((errors.PermissionDenied, errors.NoTenantContext)), \
            app.tenant(acme.id, user.id) as t:
        t.users.get(user.id)
    with app.transaction() as s:
        refused = s.users.login(acme.id, user.email, PASSWORD)
    assert (refused.ok, refused.reason) == (False, "invalid")
    with pytest.raises(errors.InvalidTransition), admin(app, seeded) as t:
        t.users.suspend(user.id)
    with admin(app, seeded) as t:
        active = t.users.reactivate(user.id)
        assert active.status == "active"
        deleted = t.users.delete(user.id, expected_revision=active.revision)
    assert deleted.status == "deleted" and deleted.deleted_at is not None
    assert admin_query(seeded, "SELECT count(*) FROM pliers.user_secrets WHERE user_id = %s",
                       (user.id,)) == [(0,)]
    with pytest.raises(errors.NotFound), admin(app, seeded) as t:
        t.users.reactivate(user.id)
    types = [r[0] for r in admin_query(
        seeded, "SELECT event_type FROM pliers.events WHERE aggregate_id = %s "
                "ORDER BY aggregate_version", (user.id,))]
    assert types == ["user.created", "user.password_changed", "user.suspended",
                     "user.reactivated", "user.deleted"]


def test_erase_needs_user_erase(app: pliersdb.Database, seeded: World) -> None:
    user = add(app, seeded, ["viewer"])
    with pytest.raises(errors.PermissionDenied) as denied, admin(app, seeded) as t:
        t.users.erase(user.id)
    assert denied.value.detail["permission"] == "user.erase"
    with as_user(app, seeded, "acme", "olive") as t:
        erased = t.users.erase(user.id)
        after = t.users.get(user.id)
    assert erased["user_id"] == str(user.id)
    assert (after.status, after.email, after.display_name) == (
        "deleted", f"erased+{user.id}@invalid.example", None)
    assert admin_query(seeded, "SELECT count(*) FROM pliers.user_secrets WHERE user_id = %s",
                       (user.id,)) == [(0,)]
    leftovers = admin_query(seeded, "SELECT count(*) FROM pliers.events WHERE organization_id = %s "
                                    "AND strpos(payload::text, %s) > 0",
                            (seeded.orgs["acme"].id, user.email))
    assert leftovers == [(0,)]


# Profile, preferences -------------------------------------------------------------------------


def test_users_edit_their_own_profile_and_preferences(app: pliersdb.Database,
                                                     seeded: World) -> None:
    user = add(app, seeded, ["viewer"])
    acme = seeded.orgs["acme"]
    with app.tenant(acme.id, user.id) as t:
        me = t.users.update_profile(user.id, user.revision, display_name="Me", first_name="Ada")
        me = t.users.update_preferences(user.id, {"theme": "dark"}, expected_revision=me.revision)
        assert t.users.update_profile(user.id, me.revision, display_name="Me") == me  # no change
    assert (me.display_name, me.first_name, me.preferences) == ("Me", "Ada", {"theme": "dark"})
    vic = seeded.orgs["acme"].users["vic"]
    with pytest.raises(errors.PermissionDenied), app.tenant(acme.id, user.id) as t:
        t.users.update_profile(vic, user_state(seeded, vic)[2], display_name="Hacked")
    with pytest.raises(errors.ValidationError) as bad, app.tenant(acme.id, user.id) as t:
        t.users.update_preferences(user.id, {"x": "y" * 20000})
    assert bad.value.errors[0]["code"] == "too_large"
    with pytest.raises(errors.ValidationError), app.tenant(acme.id, user.id) as t:
        t.users.update_profile(user.id, None)  # type: ignore[arg-type]
    with pytest.raises(errors.NotFound), as_user(app, seeded, "globex", "gina") as t:
        t.users.get(user.id)  # another tenant's user is not found
    payload = admin_query(seeded, "SELECT payload FROM pliers.events WHERE aggregate_id = %s "
                                  "AND event_type = 'user.updated'", (user.id,))
    assert payload == [({"changes": {"display_name": "Me", "first_name": "Ada"}},)]
    with admin(app, seeded) as t:
        listed = {u.id for u in t.users.list()}
    assert user.id in listed and seeded.orgs["globex"].users["gina"] not in listed


# Passwords, logins, lockout, MFA ------------------------------------------------------------


def test_passwords_follow_the_organization_policy(app: pliersdb.Database, seeded: World) -> None:
    user = add(app, seeded, ["viewer"], password=None)
    with admin(app, seeded) as t:
        assert t.users.password_policy() == users.PasswordPolicy(12, False, 5, 15)
        with pytest.raises(errors.ValidationError) as short:
            t.users.set_password(user.id, "short")
    assert [(e["path"], e["code"]) for e in short.value.errors] == [("password", "too_short")]
    admin_query(seeded, "UPDATE pliers.organizations SET settings = %s WHERE id = %s", (
        Jsonb({"security": {"password_policy": {"min_length": 8, "require_special": True}}}),
        seeded.orgs["solo"].id))
    with as_user(app, seeded, "solo", "sol") as t:
        policy = t.users.password_policy()
        assert (policy.min_length, policy.require_special) == (8, True)
        with pytest.raises(errors.ValidationError) as special:
            t.users.set_password(seeded.orgs["solo"].users["sam"], "abcdefghij")
        assert special.value.errors[0]["code"] == "special_required"
    stored = admin_query(seeded, "SELECT password_hash FROM pliers.user_secrets WHERE user_id = %s",
                         (user.id,))
    assert stored == []  # the refused passwords wrote nothing
    with admin(app, seeded) as t:
        changed = t.users.set_password(user.id, PASSWORD)
    assert changed.password_changed_at is not None
    [(hashed,)] = admin_query(seeded, "SELECT password_hash FROM pliers.user_secrets "
                                      "WHERE user_id = %s", (user.id,))
    assert hashed.startswith("$argon2id$") and users.verify_password(hashed, PASSWORD)
    # The database refuses anything but an argon2id hash.
    with pytest.raises(errors.ValidationError) as plain, admin(app, seeded) as t:
        t.call("set_user_password", user_id=user.id, password_hash=PASSWORD)
    assert plain.value.errors[0]["code"] == "invalid_format"


def test_a_locked_out_user_is_locked_out(app: pliersdb.Database, seeded: World) -> None:
    globex = seeded.orgs["globex"]
    admin_query(seeded, "UPDATE pliers.organizations SET settings = %s WHERE id = %s", (
        Jsonb({"security": {"password_policy": {"max_failed_attempts": 3, "lockout_minutes": 5}}}),
        globex.id))
    user = add(app, seeded, ["viewer"], org="globex", by="gina")
    for attempt in range(1, 4):
        with app.transaction() as s:
            result = s.users.login(globex.id, user.email, "wrong password!")
        assert not result.ok
        assert result.reason == ("locked_out" if attempt == 3 else "invalid"), attempt
    assert result.locked_until is not None
    with app.transaction() as s:  # the right password no longer opens it
        refused = s.users.login(globex.id, user.email, PASSWORD)
        assert s.execute("SELECT pliers.current_user_id()").fetchone() == (None,)
    assert (refused.ok, refused.reason, refused.locked_until) == (False, "locked_out",
                                                                   result.locked_until)
    with pytest.raises(errors.PermissionDenied) as raw, app.transaction() as s:
        s.call("record_login", organization_id=globex.id, user_id=user.id, success=True)
    assert raw.value.detail["reason"] == "locked_out"
    # An administrator's new password lifts the lockout.
    with as_user(app, seeded, "globex", "gina") as t:
        t.users.set_password(user.id, PASSWORD + "!")
    with app.transaction() as s:
        result = s.users.login(globex.id, user.email, PASSWORD + "!")
    assert result.ok and result.user_id == user.id
    state = admin_query(seeded, "SELECT failed_login_count, locked_until, "
                                "last_login_at IS NOT NULL "
                                "FROM pliers.users WHERE id = %s", (user.id,))
    assert state == [(0, None, True)]


def test_unknown_logins_and_activity(app: pliersdb.Database, seeded: World) -> None:
    acme = seeded.orgs["acme"]
    with app.transaction() as s:
        assert s.users.login(acme.id, "nobody@example.org", PASSWORD).reason == "invalid"
        assert s.users.login(acme.id, "x" * 5000, PASSWORD).reason == "invalid"
    user = add(app, seeded, ["viewer"])
    with app.tenant(acme.id, user.id) as t:
        assert t.users.touch_activity() is True
        assert t.users.touch_activity() is False  # at most once a minute
    with app.tenant(acme.id, user.id) as t:
        assert t.users.touch_activity() is False


def test_mfa_secrets_are_encrypted_at_rest(app: pliersdb.Database, seeded: World) -> None:
    keyring = Keyring.parse(f"k1:{Keyring.generate_key()}")
    user = add(app, seeded, ["viewer"])
    acme = seeded.orgs["acme"]
    secret = "JBSWY3DPEHPK3PXP"  # noqa: S105
    with app.tenant(acme.id, user.id) as t:
        me = t.users.set_mfa_secret(user.id, secret, keyring)
    assert me.mfa_enabled
    [(ciphertext, key_id)] = admin_query(
        seeded, "SELECT mfa_secret_ciphertext, mfa_secret_key_id FROM pliers.user_secrets "
                "WHERE user_id = %s", (user.id,))
    assert secret.encode() not in bytes(ciphertext) and key_id == "k1"
    with app.transaction() as s:
        result = s.users.login(acme.id, user.email, PASSWORD)
    assert result.ok and result.mfa_enabled and result.mfa_secret_ciphertext is not None
    plain = users.decrypt_mfa_secret(result.mfa_secret_ciphertext, "k1", keyring, user.id)
    assert plain == secret.encode()
    with pytest.raises(DecryptionError):  # bound to its user
        users.decrypt_mfa_secret(result.mfa_secret_ciphertext, "k1", keyring, uuid.uuid4())
    with app.tenant(acme.id, user.id) as t:
        assert not t.users.clear_mfa_secret(user.id).mfa_enabled


def test_secrets_are_unreadable_and_never_in_history(app: pliersdb.Database, seeded: World) -> None:
    with admin(app, seeded) as t:
        invitation = t.users.invite(email())
    with app.transaction() as s:
        accepted = s.users.accept(invitation.token, password=PASSWORD)
    [(hashed,)] = admin_query(seeded, "SELECT password_hash FROM pliers.user_secrets "
                                      "WHERE user_id = %s",
                              (accepted.id,))
    secrets = {invitation.token, hashlib.sha256(invitation.token.encode()).hexdigest(), hashed,
               hashed.rsplit("$", 1)[1]}
    with admin(app, seeded) as t:
        for query in ("SELECT * FROM pliers.user_secrets",
                      "SELECT password_hash FROM pliers.user_secrets"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), t.connection.transaction():
                t.execute(query)
        org = seeded.orgs["acme"].id
        text = " ".join(str(r) for r in t.execute(
            "SELECT to_jsonb(e)::text FROM pliers.events AS e WHERE organization_id = %s "
            "UNION ALL SELECT to_jsonb(a)::text FROM pliers.audit_logs AS a "
            "WHERE organization_id = %s", (org, org)).fetchall())
    assert accepted.email in text  # the history is there ...
    assert not [s[:12] for s in secrets if s in text]  # ... without a secret
