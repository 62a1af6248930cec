"""Teams, role assignments, form collaborators, effective permissions and API keys
(``session.teams``, ``session.access``, ``session.api_keys``) end to end, as an
application runs them: through ``pliersdb.connect`` as a LOGIN role in pliers_app,
under row-level security (on Citus, every statement routed to one shard).

Each test makes its own teams, forms and grants in one database per module. A call
that fails aborts its transaction: a test expects the error around the ``with`` block."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg import sql

import pliersdb
from pliersdb import errors
from pliersdb.access import EffectivePermission
from pliersdb.teams import Team

DEFINITION: dict[str, Any] = {"title": "Intake", "fields": [
    {"id": "f1", "type": "text", "name": "fullName", "required": True}]}

# The tables an access call writes, counted per organization to show a failure wrote nothing.
WRITTEN = ("teams", "team_members", "role_assignments", "form_collaborators", "api_keys",
           "events", "audit_logs")


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "access", {
        "acme": {"users": {"alice": ["org_admin"], "vic": ["viewer"], "hal": ["viewer"],
                           "ed": ["form_editor"], "mo": ["member"], "ann": ["member"],
                           "owen": ["org_owner"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        with psycopg.connect(built.admin_dsn, autocommit=True) as conn:
            # hal may manage users but holds nothing else: the no-escalation case.
            conn.execute("UPDATE pliers.users SET permissions = '{\"user.manage\": true}' "
                         "WHERE id = %s", (built.orgs["acme"].users["hal"],))
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def user(seeded: World, name: str, org: str = "acme") -> UUID:
    return seeded.orgs[org].users[name]


def as_user(app: pliersdb.Database, seeded: World, name: str, org: str = "acme") -> Any:
    return app.tenant(seeded.orgs[org].id, user(seeded, name, org))


def slug(prefix: str = "team") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def counts(seeded: World, org: str = "acme") -> dict[str, int]:
    """Rows of the organization in every table an access call writes (as the superuser)."""
    with psycopg.connect(seeded.admin_dsn) as conn:
        result = {}
        for table in WRITTEN:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE organization_id = %s").format(
                sql.Identifier("pliers", table)), (seeded.orgs[org].id,)).fetchone()
            assert row is not None
            result[table] = row[0]
        return result


def events(seeded: World, aggregate_id: UUID) -> list[tuple[str, str, int]]:
    with psycopg.connect(seeded.admin_dsn) as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT event_type, aggregate_type::text, aggregate_version FROM pliers.events "
            "WHERE aggregate_id = %s ORDER BY aggregate_version", (aggregate_id,))]


def new_form(app: pliersdb.Database, seeded: World) -> UUID:
    with as_user(app, seeded, "alice") as t:
        form_id: UUID = t.forms.create("Intake", slug("form"), DEFINITION).id
    return form_id


def permissions(app: pliersdb.Database, seeded: World, name: str) -> list[str]:
    """The organization-wide permissions set_context gives a user now."""
    with as_user(app, seeded, name) as t:
        row = t.execute("SELECT pliers.current_permissions()").fetchone()
    return list(row[0])


# Teams ---------------------------------------------------------------------------

def test_team_lifecycle_keeps_its_members_and_events(app: pliersdb.Database,
                                                      seeded: World) -> None:
    name = slug()
    with as_user(app, seeded, "alice") as t:
        team = t.teams.create("Front desk", name, description="reception")
        assert isinstance(team, Team)
        assert (team.name, team.slug, team.description) == ("Front desk", name, "reception")
        [owner] = t.teams.members(team.id)
        assert (owner.user_id, owner.role) == (user(seeded, "alice"), "owner")
        t.teams.add_member(team.id, user(seeded, "mo"))
        t.teams.add_member(team.id, user(seeded, "ann"), role="admin")
        t.teams.set_role(team.id, user(seeded, "mo"), "viewer")
        renamed = t.teams.rename(team.id, "Reception")
        assert (renamed.name, renamed.slug) == ("Reception", name)
        assert team.id in [x.id for x in t.teams.list()]
        members = {m.user_id: m.role for m in t.teams.members(team.id)}
        assert members == {user(seeded, "alice"): "owner", user(seeded, "mo"): "viewer",
                           user(seeded, "ann"): "admin"}
        t.teams.remove_member(team.id, user(seeded, "mo"))
        assert user(seeded, "mo") not in [m.user_id for m in t.teams.members(team.id)]

    # A team admin manages its own team without team.manage organization-wide.
    with as_user(app, seeded, "ann") as t:
        assert "team.manage" not in t.execute("SELECT pliers.current_permissions()").fetchone()[0]
        t.teams.add_member(team.id, user(seeded, "mo"))
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "mo") as t:
        t.teams.add_member(team.id, user(seeded, "vic"))

    with as_user(app, seeded, "alice") as t:
        deleted = t.teams.delete(team.id)
        assert deleted.deleted_at is not None
        assert team.id not in [x.id for x in t.teams.list()]
    with pytest.raises(errors.NotFound), as_user(app, seeded, "alice") as t:
        t.teams.members(team.id)
    # The slug is free again.
    with as_user(app, seeded, "alice") as t:
        t.teams.create("Front desk again", name)

    assert [e[0] for e in events(seeded, team.id)] == [
        "team.created", "team.member_added", "team.member_added", "team.member_role_changed",
        "team.updated", "team.member_removed", "team.member_added", "team.deleted"]
    assert [e[2] for e in events(seeded, team.id)] == list(range(1, 9))
    assert {e[1] for e in events(seeded, team.id)} == {"organization"}


def test_a_team_keeps_its_last_owner(app: pliersdb.Database, seeded: World) -> None:
    with as_user(app, seeded, "alice") as t:
        team = t.teams.create("Billing", slug())
        t.teams.add_member(team.id, user(seeded, "mo"))
    before = counts(seeded)
    with pytest.raises(errors.Conflict) as leave, as_user(app, seeded, "alice") as t:
        t.teams.remove_member(team.id, user(seeded, "alice"))
    assert leave.value.detail == {"object": "team", "id": str(team.id), "rule": "last_owner",
                                  "user_id": str(user(seeded, "alice"))}
    with pytest.raises(errors.Conflict), as_user(app, seeded, "alice") as t:
        t.teams.set_role(team.id, user(seeded, "alice"), "admin")
    assert counts(seeded) == before
    # With a second owner, the first may step down, and then leave.
    with as_user(app, seeded, "alice") as t:
        t.teams.set_role(team.id, user(seeded, "mo"), "owner")
        t.teams.set_role(team.id, user(seeded, "alice"), "member")
        t.teams.remove_member(team.id, user(seeded, "alice"))
        assert [(m.user_id, m.role) for m in t.teams.members(team.id)] == [
            (user(seeded, "mo"), "owner")]


def test_team_input_errors_come_at_once_and_write_nothing(app: pliersdb.Database,
                                                          seeded: World) -> None:
    taken = slug()
    with as_user(app, seeded, "alice") as t:
        team = t.teams.create("Taken", taken)
    before = counts(seeded)
    with pytest.raises(errors.ValidationError) as bad, as_user(app, seeded, "alice") as t:
        t.teams.create("", "Not A Slug", description="x" * 10001)
    assert {(e["path"], e["code"]) for e in bad.value.errors} == {
        ("name", "required"), ("slug", "invalid_slug"), ("description", "too_long")}
    with pytest.raises(errors.ValidationError) as dup, as_user(app, seeded, "alice") as t:
        t.teams.create("Again", taken)
    assert [(e["path"], e["code"]) for e in dup.value.errors] == [("slug", "taken")]
    with pytest.raises(errors.ValidationError) as member, as_user(app, seeded, "alice") as t:
        t.teams.add_member(team.id, user(seeded, "alice"))
    assert [e["code"] for e in member.value.errors] == ["already_member"]
    with pytest.raises(errors.NotFound), as_user(app, seeded, "alice") as t:
        t.teams.add_member(team.id, user(seeded, "gina", "globex"))
    with pytest.raises(errors.NotFound), as_user(app, seeded, "gina", "globex") as t:
        t.teams.rename(team.id, "stolen")
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "vic") as t:
        t.teams.create("Mine", slug())
    assert counts(seeded) == before


# Role assignments ---------------------------------------------------------------

def test_a_viewer_cannot_grant_itself_org_admin(app: pliersdb.Database, seeded: World) -> None:
    before = counts(seeded)
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "vic") as t:
        t.access.grant(user(seeded, "vic"), "org_admin")
    # hal holds user.manage and nothing more: still no escalation.
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded, "hal") as t:
        t.access.grant(user(seeded, "hal"), "org_admin")
    assert denied.value.detail["role"] == "org_admin"
    assert denied.value.detail["permission"] != "user.manage"
    # Nobody is made org_owner by assignment, not even by an owner.
    with pytest.raises(errors.ValidationError) as owner, as_user(app, seeded, "owen") as t:
        t.access.grant(user(seeded, "alice"), "org_owner")
    assert [(e["path"], e["code"]) for e in owner.value.errors] == [("role", "not_assignable")]
    assert counts(seeded) == before
    assert "user.manage" not in permissions(app, seeded, "vic")


def test_unknown_role_or_permission_is_pl001_with_its_path(app: pliersdb.Database,
                                                          seeded: World) -> None:
    before = counts(seeded)
    with pytest.raises(errors.ValidationError) as bad, as_user(app, seeded, "alice") as t:
        t.access.grant(user(seeded, "mo"), "wizard", scope_type="form",
                       expires_at=datetime(2000, 1, 1).astimezone())
    assert {(e["path"], e["code"]) for e in bad.value.errors} == {
        ("role", "unknown_role"), ("scope_id", "required"), ("expires_at", "not_in_future")}
    with pytest.raises(errors.ValidationError) as scope, as_user(app, seeded, "alice") as t:
        t.api_keys.create("ci", scopes=["form.view", "form.fly"])
    assert [(e["path"], e["code"]) for e in scope.value.errors] == [
        ("scopes", "unknown_permission")]
    with pytest.raises(errors.NotFound), as_user(app, seeded, "alice") as t:
        t.access.grant(user(seeded, "mo"), "viewer", scope_type="form", scope_id=uuid.uuid4())
    assert counts(seeded) == before


def test_a_grant_applies_from_the_next_context_and_a_revoke_ends_it(
        app: pliersdb.Database, seeded: World) -> None:
    mo = user(seeded, "mo")
    assert "submission.view" not in permissions(app, seeded, "mo")
    with as_user(app, seeded, "alice") as t:
        grant = t.access.grant(mo, "submission_reviewer")
        assert (grant.user_id, grant.role, grant.scope_type, grant.scope_id) == (
            mo, "submission_reviewer", "organization", None)
        assert grant.granted_by == user(seeded, "alice")
    with pytest.raises(errors.ValidationError) as again, as_user(app, seeded, "alice") as t:
        t.access.grant(mo, "submission_reviewer")
    assert [e["code"] for e in again.value.errors] == ["already_granted"]
    assert "submission.view" in permissions(app, seeded, "mo")
    with as_user(app, seeded, "mo") as t:
        assert [a.id for a in t.access.assignments(mo)] == [grant.id]
    with as_user(app, seeded, "alice") as t:
        revoked = t.access.revoke(grant.id)
        assert revoked.revoked_at is not None
        assert t.access.revoke(grant.id).revoked_at == revoked.revoked_at  # idempotent
        assert grant.id in [a.id for a in t.access.assignments(mo, include_inactive=True)]
        assert grant.id not in [a.id for a in t.access.assignments(mo)]
    assert "submission.view" not in permissions(app, seeded, "mo")
    assert [e[:2] for e in events(seeded, mo)][-2:] == [("role.granted", "user"),
                                                        ("role.revoked", "user")]


def test_a_scoped_grant_applies_to_its_object_only(app: pliersdb.Database,
                                                   seeded: World) -> None:
    form_id, other = new_form(app, seeded), new_form(app, seeded)
    with as_user(app, seeded, "alice") as t:
        grant = t.access.grant(user(seeded, "ann"), "form_manager", scope_type="form",
                               scope_id=form_id)
    with as_user(app, seeded, "ann") as t:
        check = "SELECT pliers.has_permission('form.publish', 'form', %s)"
        assert t.execute(check, (form_id,)).fetchone() == (True,)
        assert t.execute(check, (other,)).fetchone() == (False,)
        assert "form.publish" not in t.execute("SELECT pliers.current_permissions()").fetchone()[0]
    with as_user(app, seeded, "alice") as t:
        t.access.revoke(grant.id)
    with as_user(app, seeded, "ann") as t:
        assert t.execute(check, (form_id,)).fetchone() == (False,)


def test_an_expired_assignment_grants_nothing(app: pliersdb.Database, seeded: World) -> None:
    form_id = new_form(app, seeded)
    mo = user(seeded, "mo")
    with as_user(app, seeded, "alice") as t:
        now = t.execute("SELECT now()").fetchone()[0]
        t.access.grant(mo, "viewer", expires_at=now + timedelta(seconds=2))
        t.access.grant(mo, "form_manager", scope_type="form", scope_id=form_id,
                       expires_at=now + timedelta(seconds=2))
    assert "workflow.view" in permissions(app, seeded, "mo")
    time.sleep(2.5)
    assert "workflow.view" not in permissions(app, seeded, "mo")
    with as_user(app, seeded, "mo") as t:
        assert t.execute("SELECT pliers.has_permission('form.publish', 'form', %s)",
                         (form_id,)).fetchone() == (False,)
        assert not [p for p in t.access.effective_permissions() if p.source == "assignment"]
    # The expired row is closed when the role is granted again.
    with as_user(app, seeded, "alice") as t:
        again = t.access.grant(mo, "viewer")
        t.access.revoke(again.id)


def test_effective_permissions_give_the_reason_for_each(app: pliersdb.Database,
                                                         seeded: World) -> None:
    form_id = new_form(app, seeded)
    ann = user(seeded, "ann")
    with psycopg.connect(seeded.admin_dsn, autocommit=True) as conn:
        conn.execute("UPDATE pliers.users SET permissions = '{\"audit.view\": true, "
                     "\"form.view\": false}' WHERE id = %s", (ann,))
    try:
        with as_user(app, seeded, "alice") as t:
            team = t.teams.create("Reviewers", slug())
            t.teams.add_member(team.id, ann, role="admin")
            grant = t.access.grant(ann, "viewer",
                                   scope_type="team", scope_id=team.id)
            collaborator = t.access.add_collaborator(form_id, ann, permission_level="editor",
                                                     can_edit=True)
            found = t.access.effective_permissions(ann)
        assert all(isinstance(p, EffectivePermission) for p in found)
        reasons = {(p.permission, p.source, p.role, p.scope_id, p.allowed) for p in found}
        assert ("submission.create", "role", "member", None, True) in reasons
        assert ("form.view", "role", "member", None, False) in reasons  # denied
        assert ("workflow.view", "assignment", "viewer", team.id, True) in reasons
        assert ("form.edit", "collaborator", "editor", form_id, True) in reasons
        assert ("team.manage", "team_member", "admin", team.id, True) in reasons
        assert ("audit.view", "grant", None, None, True) in reasons
        assert ("form.view", "denial", None, None, False) in reasons
        by_source = {p.source: p.reference_id for p in found}
        assert by_source["assignment"] == grant.id
        assert by_source["collaborator"] == collaborator.id
        # One's own needs no permission; another user's needs user.manage.
        with as_user(app, seeded, "ann") as t:
            assert {(p.permission, p.source) for p in t.access.effective_permissions()} == {
                (p.permission, p.source) for p in found}
        with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "mo") as t:
            t.access.effective_permissions(ann)
    finally:
        with psycopg.connect(seeded.admin_dsn, autocommit=True) as conn:
            conn.execute("UPDATE pliers.users SET permissions = '{}' WHERE id = %s", (ann,))


# Form collaborators ---------------------------------------------------------------

def test_collaborators_are_added_changed_and_revoked_without_escalation(
        app: pliersdb.Database, seeded: World) -> None:
    form_id = new_form(app, seeded)
    mo, ed = user(seeded, "mo"), user(seeded, "ed")
    check = "SELECT pliers.has_permission('form.edit', 'form', %s)"
    with as_user(app, seeded, "alice") as t:
        added = t.access.add_collaborator(form_id, ed, permission_level="editor", can_edit=True)
        assert (added.form_id, added.user_id, added.can_edit, added.can_publish) == (
            form_id, ed, True, False)
    # ed (form_editor: form.edit, not form.publish) shares the form, but not publishing.
    before = counts(seeded)
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded, "ed") as t:
        t.access.add_collaborator(form_id, mo, can_publish=True)
    assert denied.value.detail["permission"] == "form.publish"
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "mo") as t:
        t.access.add_collaborator(form_id, mo, can_edit=True)
    with pytest.raises(errors.ValidationError) as dup, as_user(app, seeded, "alice") as t:
        t.access.add_collaborator(form_id, ed, permission_level="")
    assert {(e["path"], e["code"]) for e in dup.value.errors} == {
        ("permission_level", "required")}
    assert counts(seeded) == before
    with as_user(app, seeded, "ed") as t:
        t.access.add_collaborator(form_id, mo, can_edit=True)
    with as_user(app, seeded, "mo") as t:
        assert t.execute(check, (form_id,)).fetchone() == (True,)
    with as_user(app, seeded, "alice") as t:
        changed = t.access.update_collaborator(form_id, mo, can_edit=False, can_publish=True)
        assert (changed.can_edit, changed.can_publish) == (False, True)
    with as_user(app, seeded, "mo") as t:
        assert t.execute(check, (form_id,)).fetchone() == (False,)
    with as_user(app, seeded, "alice") as t:
        revoked = t.access.revoke_collaborator(form_id, mo)
        assert revoked.revoked_at is not None
    with pytest.raises(errors.NotFound), as_user(app, seeded, "alice") as t:
        t.access.revoke_collaborator(form_id, mo)
    assert [e[0] for e in events(seeded, mo)][-3:] == [
        "role.collaborator_added", "role.collaborator_changed", "role.collaborator_revoked"]


def test_expected_revision_of_the_user_is_checked(app: pliersdb.Database, seeded: World) -> None:
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute("SELECT revision FROM pliers.users WHERE id = %s",
                           (user(seeded, "vic"),)).fetchone()
    assert row is not None
    with pytest.raises(errors.Conflict), as_user(app, seeded, "alice") as t:
        t.access.grant(user(seeded, "vic"), "form_editor", expected_revision=row[0] + 5)
    with as_user(app, seeded, "alice") as t:
        grant = t.access.grant(user(seeded, "vic"), "form_editor", expected_revision=row[0])
        t.access.revoke(grant.id, expected_revision=row[0] + 1)


# API keys -------------------------------------------------------------------------

def test_api_keys_list_without_secrets(app: pliersdb.Database, seeded: World) -> None:
    with as_user(app, seeded, "alice") as t:
        created = t.api_keys.create("listing", scopes=["form.view"])
        assert created.key not in repr(created)
        listed = {k.id: k for k in t.api_keys.list()}
        key = listed[created.id]
        assert (key.name, key.prefix, key.scopes) == ("listing", created.prefix, ("form.view",))
        rows = t.call("list_api_keys")
        assert rows and not any("hash" in column for column in rows[0])
        text = str(rows)
        assert created.key not in text
        assert hashlib.sha256(created.key.encode()).hexdigest() not in text
        t.api_keys.revoke(created.id)
        assert created.id not in [k.id for k in t.api_keys.list()]
        assert created.id in [k.id for k in t.api_keys.list(include_revoked=True)]
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, "vic") as t:
        t.api_keys.list()


def test_rotation_keeps_the_old_key_only_during_the_grace_period(
        app: pliersdb.Database, seeded: World) -> None:
    with as_user(app, seeded, "alice") as t:
        first = t.api_keys.create("rotating", scopes=["form.view"])
        at_once = t.api_keys.rotate(first.id)
        assert at_once.replaced_id == first.id and at_once.key != first.key
    with pytest.raises(errors.PermissionDenied), app.with_api_key(first.key):
        pass
    with app.with_api_key(at_once.key) as session:
        assert session.scopes == ("form.view",)

    with as_user(app, seeded, "alice") as t:
        graced = t.api_keys.rotate(at_once.id, grace=timedelta(seconds=2))
        now = t.execute("SELECT now()").fetchone()[0]
        assert graced.replaced_until == now + timedelta(seconds=2)
    with app.with_api_key(at_once.key):
        pass  # still works
    with app.with_api_key(graced.key):
        pass
    time.sleep(2.5)
    with pytest.raises(errors.PermissionDenied), app.with_api_key(at_once.key):
        pass
    with app.with_api_key(graced.key):
        pass

    before = counts(seeded)
    with pytest.raises(errors.InvalidTransition), as_user(app, seeded, "alice") as t:
        t.api_keys.rotate(first.id)
    with pytest.raises(errors.ValidationError) as bad, as_user(app, seeded, "alice") as t:
        t.api_keys.rotate(graced.id, grace=timedelta(days=31))
    assert [(e["path"], e["code"]) for e in bad.value.errors] == [("grace_seconds", "too_long")]
    with pytest.raises(errors.NotFound), as_user(app, seeded, "gina", "globex") as t:
        t.api_keys.rotate(graced.id)
    assert counts(seeded) == before
    assert [e[0] for e in events(seeded, at_once.id)] == ["api_key.created", "api_key.rotated"]
    with psycopg.connect(seeded.admin_dsn) as conn:
        text = " ".join(r[0] for r in conn.execute(
            "SELECT to_jsonb(e)::text FROM pliers.events AS e WHERE organization_id = %s "
            "UNION ALL SELECT to_jsonb(a)::text FROM pliers.audit_logs AS a "
            "WHERE organization_id = %s", (seeded.orgs["acme"].id,) * 2))
    for key in (first.key, at_once.key, graced.key):
        assert key not in text
        assert hashlib.sha256(key.encode()).hexdigest() not in text
