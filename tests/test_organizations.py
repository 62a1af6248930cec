"""Organizations end to end (docs/api.md "Organizations"): provisioning as a LOGIN role in
pliers_platform (``db.platform``, the CLI's ``pliersdb org``), and the organization in
its own tenant context as a LOGIN role in pliers_app (``t.organization``).

The JSON Schemas of schemas/organization-*.schema.json are checked twice: their
validation keywords must equal what the database interprets
(``pliers.organization_schema``), and samples, valid and invalid, must get the same
verdict from the database and from ``schema_errors`` below, an independent reading of
the same keywords (the venv has no jsonschema package; the schemas use only these
keywords, which the test checks too).

On Citus (``PLIERSDB_TEST_CLUSTER=citus``) the platform login is routed like the
application's (a statement reaching more than one shard is an error), except for
``list_organizations``, which reads every shard by nature: the listing runs on
``platform_fanout``, a connection that allows it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pliersdb
from pliersdb import cli, errors
from pliersdb.organizations import Organization

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
ANNOTATIONS = {"$schema", "$id", "title", "description"}
KEYWORDS = {"type", "properties", "additionalProperties", "enum", "pattern", "minLength",
            "maxLength", "minimum", "maximum"}


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "orgs", {
        "bystander": {"users": {"bea": ["org_owner"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def platform_dsn(cluster: clusterlib.Cluster, seeded: World) -> Iterator[str]:
    """A LOGIN role in pliers_platform; on Citus routed as the application's logins."""
    with appworld.login(cluster, "pliers_platform", prefix="platform") as (role, password):
        if appworld.citus_mode():
            with appworld.superuser(cluster) as conn:
                conn.execute("SET citus.enable_alter_role_set_propagation = off")
                conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    sql.Identifier(role),
                    sql.Identifier(*appworld.ROUTED_SETTING[0].split(".")),
                    sql.Literal(appworld.ROUTED_SETTING[1])))
        yield cluster.dsn(str(conninfo_to_dict(seeded.admin_dsn)["dbname"]), user=role,
                          password=password)


@pytest.fixture(scope="module")
def platform(platform_dsn: str) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(platform_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


@pytest.fixture(scope="module")
def platform_fanout(platform_dsn: str) -> Iterator[pliersdb.Database]:
    """The platform login on connections that may reach every shard: the listing of
    organizations is cross-tenant by nature (docs/scale-out.md). A client option
    outranks the role's setting."""
    dsn = platform_dsn
    if appworld.citus_mode():
        dsn = make_conninfo(dsn, options=f"-c {appworld.ROUTED_SETTING[0]}=off")
    with pliersdb.connect(dsn, min_size=1, max_size=1, timeout=10) as database:
        yield database


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def new_slug() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def admin(seeded: World) -> psycopg.Connection[Any]:
    return psycopg.connect(seeded.admin_dsn, autocommit=True)


def counts(seeded: World) -> tuple[int, ...]:
    """Rows of the tables a provisioning call writes (the superuser sees all shards)."""
    with admin(seeded) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pliers.organizations), "
            "(SELECT count(*) FROM pliers.users), (SELECT count(*) FROM pliers.events)").fetchone()
    assert row is not None
    return tuple(row)


def events_of(seeded: World, aggregate_id: UUID) -> list[tuple[str, int, dict[str, Any]]]:
    with admin(seeded) as conn:
        rows = conn.execute(
            "SELECT event_type, aggregate_version, payload FROM pliers.events "
            "WHERE aggregate_id = %s ORDER BY aggregate_version", (aggregate_id,)).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def paths(exc: errors.ValidationError) -> dict[str, str]:
    return {e["path"]: e["code"] for e in exc.errors}


# Provisioning ----------------------------------------------------------------------------

def test_create_makes_the_organization_and_its_owner(platform: pliersdb.Database,
                                                     app: pliersdb.Database,
                                                     seeded: World) -> None:
    slug = new_slug()
    made = platform.platform.create(
        slug, "Acme Clinics", "Owner@Acme.example", owner_display_name="Olive Owner",
        settings={"branding": {"primary_color": "#0055AA"}}, limits={"max_forms": 5})
    found = platform.platform.find(slug)
    assert (found.id, found.name, found.state) == (made.organization_id, "Acme Clinics", "active")
    assert found.primary_contact_id == made.user_id
    assert found.subscription_status == "trial"
    assert found.limits == {"max_forms": 5}
    with admin(seeded) as conn:
        user = conn.execute("SELECT email, display_name, roles, status FROM pliers.users "
                            "WHERE organization_id = %s AND id = %s",
                            (made.organization_id, made.user_id)).fetchone()
    assert user == ("Owner@Acme.example", "Olive Owner", ["org_owner"], "active")
    organization_events = events_of(seeded, made.organization_id)
    assert [(e[0], e[1]) for e in organization_events] == [
        ("organization.created", 1), ("organization.updated", 2)]
    assert found.revision == 2
    assert organization_events[1][2] == {"primary_contact_id": str(made.user_id)}
    assert organization_events[0][2]["slug"] == slug
    assert [e[0] for e in events_of(seeded, made.user_id)] == ["user.created"]
    # The owner works in the new tenant at once, with every permission of org_owner.
    with app.tenant(made.organization_id, made.user_id) as t:
        assert t.organization.get().id == made.organization_id
        assert t.forms.list() == []
    # The platform call leaves no tenant context behind in its transaction.
    with platform.transaction() as s:
        s.call("create_organization", slug=new_slug(), name="N", owner_email="n@n.example")
        row = s.execute("SELECT pg_catalog.current_setting('pliers.context', true)").fetchone()
        assert row == ("",)


def test_create_reports_every_error_with_its_path_and_writes_nothing(
        platform: pliersdb.Database, seeded: World) -> None:
    before = counts(seeded)
    with pytest.raises(errors.ValidationError) as caught:
        platform.platform.create(
            "Bad Slug!", " ", "not-an-email", owner_display_name="x" * 256,
            settings={"branding": {"primary_color": "blue", "font": "Comic"},
                      "security": {"mfa_required": "yes",
                                   "password_policy": {"min_length": 4}}},
            features={"teleport": True}, limits={"max_forms": -1, "max_users": 2.5})
    assert paths(caught.value) == {
        "name": "invalid",
        "owner_display_name": "invalid",
        "slug": "invalid_slug",
        "owner_email": "invalid_email",
        "$.settings.branding.font": "unknown_key",
        "$.settings.branding.primary_color": "invalid_format",
        "$.settings.security.mfa_required": "invalid_type",
        "$.settings.security.password_policy.min_length": "out_of_range",
        "$.features.teleport": "unknown_key",
        "$.limits.max_forms": "out_of_range",
        "$.limits.max_users": "invalid_type",
    }
    assert counts(seeded) == before


def test_a_taken_slug_is_code_taken_and_reveals_nothing(platform: pliersdb.Database,
                                                         seeded: World) -> None:
    slug = new_slug()
    made = platform.platform.create(slug, "Secret Holder Ltd", "first@taken.example")
    before = counts(seeded)
    with pytest.raises(errors.ValidationError) as caught:
        platform.platform.create(slug, "Someone Else", "second@taken.example")
    assert caught.value.errors == [{"path": "slug", "code": "taken",
                                    "message": "this slug is not available: choose another"}]
    assert set(caught.value.detail) == {"errors"}
    text = f"{caught.value} {caught.value.detail} {caught.value.hint}"
    assert str(made.organization_id) not in text and "Secret Holder" not in text
    assert counts(seeded) == before
    # A deleted organization's slug stays reserved.
    platform.platform.delete(made.organization_id)
    with pytest.raises(errors.ValidationError) as again:
        platform.platform.create(slug, "Someone Else", "second@taken.example")
    assert paths(again.value) == {"slug": "taken"}


def test_find_and_list_by_slug(platform: pliersdb.Database,
                               platform_fanout: pliersdb.Database) -> None:
    prefix = f"list-{uuid.uuid4().hex[:6]}"
    made = {s: platform.platform.create(s, s.title(), f"{s}@list.example").organization_id
            for s in (f"{prefix}-a", f"{prefix}-b", f"{prefix}-c")}
    platform.platform.delete(made[f"{prefix}-b"])
    with pytest.raises(errors.NotFound) as missing:
        platform.platform.find(f"{prefix}-z")
    assert missing.value.detail == {"object": "organization", "slug": f"{prefix}-z"}
    with pytest.raises(errors.ValidationError):
        platform.platform.find("Not A Slug")
    assert platform.platform.find(f"{prefix}-b").state == "deleted"

    if appworld.citus_mode() and not appworld.MULTI_TASK_LOG:
        # The listing reaches every shard: refused where multi-shard statements are errors.
        with pytest.raises(psycopg.Error, match="multi-task"):
            platform.platform.page()
    listed = [o.slug for o in platform_fanout.platform.iterate(page_size=2)
              if o.slug.startswith(prefix)]
    assert listed == [f"{prefix}-a", f"{prefix}-c"]
    every = [o.slug for o in platform_fanout.platform.iterate(page_size=2, include_deleted=True)
             if o.slug.startswith(prefix)]
    assert every == sorted(made)
    page = platform_fanout.platform.page(after_slug=f"{prefix}-a", limit=1, include_deleted=True)
    assert [o.slug for o in page] == [f"{prefix}-b"]
    with pytest.raises(errors.ValidationError) as bad:
        platform_fanout.platform.page(limit=0)
    assert paths(bad.value) == {"limit": "out_of_range"}


def test_a_suspended_organization_refuses_its_users_until_reactivated(
        platform: pliersdb.Database, app: pliersdb.Database, seeded: World) -> None:
    made = platform.platform.create(new_slug(), "Paused", "owner@paused.example")
    key = app.tenant(made.organization_id, made.user_id).call_one("create_api_key", "ops")["key"]
    with app.tenant(made.organization_id, made.user_id) as t:
        before = t.organization.get()
    suspended = platform.platform.suspend(made.organization_id, reason="unpaid",
                                          expected_revision=before.revision)
    assert suspended.state == "suspended" and suspended.revision == before.revision + 1
    for open_unit in (lambda: app.tenant(made.organization_id, made.user_id),
                      lambda: app.with_api_key(key)):
        with pytest.raises(errors.PermissionDenied) as refused:
            open_unit().call("get_organization")
    with pytest.raises(errors.PermissionDenied) as refused, \
            app.tenant(made.organization_id, made.user_id) as t:
        t.forms.list()
    assert refused.value.detail["reason"] == "organization_suspended"
    with pytest.raises(errors.InvalidTransition) as twice:
        platform.platform.suspend(made.organization_id)
    assert twice.value.detail == {"from": "suspended", "to": "suspended"}

    active = platform.platform.reactivate(made.organization_id)
    assert active.state == "active"
    with app.tenant(made.organization_id, made.user_id) as t:
        assert t.organization.get().suspended_at is None
    with app.with_api_key(key) as t:
        assert t.organization_id == made.organization_id
    with pytest.raises(errors.InvalidTransition):
        platform.platform.reactivate(made.organization_id)
    assert [e[0] for e in events_of(seeded, made.organization_id)] == [
        "organization.created", "organization.updated", "organization.suspended",
        "organization.reactivated"]


def test_a_deleted_organization_refuses_its_users_and_keeps_its_data(
        platform: pliersdb.Database, app: pliersdb.Database, seeded: World) -> None:
    made = platform.platform.create(new_slug(), "Gone", "owner@gone.example")
    with pytest.raises(errors.Conflict):
        platform.platform.delete(made.organization_id, expected_revision=99)
    deleted = platform.platform.delete(made.organization_id)
    assert deleted.state == "deleted"
    with pytest.raises(errors.PermissionDenied) as refused:
        app.tenant(made.organization_id, made.user_id).call("get_organization")
    assert refused.value.detail["reason"] == "organization_deleted"
    for again in (platform.platform.delete, platform.platform.suspend,
                  platform.platform.reactivate):
        with pytest.raises(errors.NotFound):
            again(made.organization_id)
    with admin(seeded) as conn:
        row = conn.execute("SELECT count(*) FROM pliers.users WHERE organization_id = %s",
                           (made.organization_id,)).fetchone()
    assert row == (1,)


def test_subscription_moves_along_the_table_only(platform: pliersdb.Database) -> None:
    made = platform.platform.create(new_slug(), "Billing", "owner@billing.example")
    moves = {(m.from_status, m.to_status) for m in platform.platform.subscription_moves()}
    assert ("trial", "active") in moves and ("active", "trial") not in moves
    active = platform.platform.set_subscription_status(made.organization_id, "active")
    assert active.subscription_status == "active"
    with pytest.raises(errors.InvalidTransition) as refused:
        platform.platform.set_subscription_status(made.organization_id, "trial")
    assert refused.value.detail == {"from": "active", "to": "trial"}
    with pytest.raises(errors.InvalidTransition):
        platform.platform.set_subscription_status(made.organization_id, "active")
    with pytest.raises(errors.Conflict):
        platform.platform.set_subscription_status(made.organization_id, "past_due",
                                                  expected_revision=active.revision - 1)
    past_due = platform.platform.set_subscription_status(made.organization_id, "past_due")
    assert past_due.subscription_status == "past_due"


def test_the_plan_sets_limits_that_the_quotas_enforce(platform: pliersdb.Database,
                                                      app: pliersdb.Database) -> None:
    made = platform.platform.create(new_slug(), "Quota", "owner@quota.example")
    with pytest.raises(errors.ValidationError) as bad:
        platform.platform.set_plan(made.organization_id, limits={"max_formz": 1},
                                   features={"sso": "on"})
    assert paths(bad.value) == {"$.limits.max_formz": "unknown_key",
                                "$.features.sso": "invalid_type"}
    plan = platform.platform.set_plan(made.organization_id, limits={"max_forms": 0},
                                      features={"sso": True})
    assert (plan.limits, plan.features) == ({"max_forms": 0}, {"sso": True})
    with pytest.raises(errors.QuotaExceeded) as quota, \
            app.tenant(made.organization_id, made.user_id) as t:
        t.forms.create("F", "f", {"fields": []})
    assert quota.value.limit == "max_forms"


def test_the_platform_and_the_application_cannot_call_each_other(
        platform: pliersdb.Database, app: pliersdb.Database, seeded: World) -> None:
    bystander = seeded.orgs["bystander"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.tenant(bystander.id, bystander.users["bea"]).call(
            "create_organization", slug=new_slug(), name="X", owner_email="x@x.example")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.tenant(bystander.id, bystander.users["bea"]).call(
            "suspend_organization", organization_id=bystander.id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        platform.transaction().call("get_organization")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), platform.transaction() as s:
        s.execute("SELECT pliers.set_context(%s, %s)", (bystander.id, bystander.users["bea"]))


# The organization in its tenant context ---------------------------------------------------

def test_update_checks_revision_permission_and_every_error(
        platform: pliersdb.Database, app: pliersdb.Database, seeded: World) -> None:
    made = platform.platform.create(new_slug(), "Editable", "owner@edit.example")
    with admin(seeded) as conn:
        row = conn.execute(
            "INSERT INTO pliers.users (organization_id, email, roles) VALUES (%s, %s, %s) "
            "RETURNING id", (made.organization_id, "viewer@edit.example", ["viewer"])).fetchone()
        assert row is not None
        viewer = row[0]
    owner = app.tenant(made.organization_id, made.user_id)
    with owner as t:
        org = t.organization.get()
        settings = {"branding": {"primary_color": "#112233", "logo_url": "https://x.example/l.png"},
                    "security": {"mfa_required": True, "session_timeout_minutes": 60,
                                 "password_policy": {"min_length": 12, "require_special": True}},
                    "notifications": {"digest": "daily"}}
        updated = t.organization.update(org.revision, name="Edited", tags=["eu"],
                                        support_email="help@edit.example", settings=settings)
    assert (updated.name, updated.tags, updated.settings) == ("Edited", ("eu",), settings)
    assert updated.revision == org.revision + 1
    assert events_of(seeded, made.organization_id)[-1][:2] == ("organization.updated",
                                                              updated.revision)

    with pytest.raises(errors.Conflict), owner as t:
        t.organization.update(org.revision, name="Stale")
    with pytest.raises(errors.PermissionDenied) as denied, \
            app.tenant(made.organization_id, viewer) as t:
        assert t.organization.get().name == "Edited"  # any member reads it
        t.organization.update(updated.revision, name="Viewer")
    assert denied.value.detail["permission"] == "organization.manage"

    before = counts(seeded)
    with pytest.raises(errors.ValidationError) as invalid, owner as t:
        t.organization.update(
            updated.revision, name="", billing_email="nope", tags=["x" * 300],
            primary_contact_id=uuid.uuid4(),
            settings={"branding": {"primary_color": "#12345"}, "colour": "red",
                      "notifications": {"digest": "hourly", "sender_name": ""}})
    assert paths(invalid.value) == {
        "name": "invalid", "billing_email": "invalid_email", "tags": "too_long",
        "primary_contact_id": "unknown_user",
        "$.settings.branding.primary_color": "invalid_format",
        "$.settings.colour": "unknown_key",
        "$.settings.notifications.digest": "invalid_value",
        "$.settings.notifications.sender_name": "too_short",
    }
    assert counts(seeded) == before
    with pytest.raises(errors.ValidationError) as required, owner as t:
        t.organization.update(None, name="No revision")  # type: ignore[arg-type]
    assert paths(required.value) == {"expected_revision": "required"}
    with owner as t:
        assert t.organization.get() == updated


def test_one_tenant_edits_only_its_own_organization(platform: pliersdb.Database,
                                                    app: pliersdb.Database,
                                                    seeded: World) -> None:
    made = platform.platform.create(new_slug(), "Mine", "owner@mine.example")
    bystander = seeded.orgs["bystander"]
    with app.tenant(bystander.id, bystander.users["bea"]) as t:
        theirs = t.organization.get()
        assert theirs.id == bystander.id
    # Naming another tenant's user as the contact is as unknown as a made-up id.
    with pytest.raises(errors.ValidationError) as caught, \
            app.tenant(bystander.id, bystander.users["bea"]) as t:
        t.organization.update(theirs.revision, primary_contact_id=made.user_id)
    assert paths(caught.value) == {"primary_contact_id": "unknown_user"}
    with app.tenant(made.organization_id, made.user_id) as t:
        assert t.organization.get().name == "Mine"


# The published JSON Schemas and the database agree ----------------------------------------

def schema_errors(schema: dict[str, Any], value: Any, path: str) -> list[tuple[str, str]]:
    """(path, code) of ``value`` against ``schema``: the keywords of KEYWORDS, as JSON
    Schema defines them, read independently of the SQL."""
    kind = schema["type"]
    ok = {"object": isinstance(value, dict), "string": isinstance(value, str),
          "boolean": isinstance(value, bool),
          "integer": (isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, float) and value.is_integer())}[kind]
    if not ok:
        return [(path, "invalid_type")]
    found: list[tuple[str, str]] = []
    if kind == "object":
        for key in sorted(value):
            child = f"{path}.{key}" if re.fullmatch(r"[A-Za-z_]\w*", key) else \
                f"{path}[{json.dumps(key)}]"
            if key in schema.get("properties", {}):
                found += schema_errors(schema["properties"][key], value[key], child)
            elif schema.get("additionalProperties") is False:
                found.append((child, "unknown_key"))
    elif kind == "string":
        if "enum" in schema and value not in schema["enum"]:
            found.append((path, "invalid_value"))
        if len(value) > schema.get("maxLength", len(value)):
            found.append((path, "too_long"))
        elif len(value) < schema.get("minLength", 0):
            found.append((path, "too_short"))
        elif "pattern" in schema and not re.search(schema["pattern"], value):
            found.append((path, "invalid_format"))
    elif kind == "integer" and not (schema.get("minimum", value) <= value
                                    <= schema.get("maximum", value)):
        found.append((path, "out_of_range"))
    return found


def keywords(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    found = set(schema) - ANNOTATIONS
    for child in schema.get("properties", {}).values():
        found |= keywords(child)
    return found


SAMPLES: dict[str, list[Any]] = {
    "settings": [
        {},
        {"branding": {"primary_color": "#a1B2c3", "secondary_color": "#000000",
                      "accent_color": "#FFFFFF", "logo_url": "https://cdn.example/logo.svg"},
         "security": {"mfa_required": False, "session_timeout_minutes": 5,
                      "password_policy": {"min_length": 128, "require_special": False,
                                          "max_failed_attempts": 5, "lockout_minutes": 1440}},
         "notifications": {"email_enabled": True, "digest": "weekly", "sender_name": "Acme"}},
        {"branding": {"primary_color": "#a1B2c"}}, {"branding": {"primary_color": "a1B2c3f"}},
        {"branding": {"primary_color": "#GGGGGG"}}, {"branding": {"primary_color": 123456}},
        {"branding": {"logo_url": "http://insecure.example/l.png"}},
        {"branding": {"logo_url": "https://" + "x" * 2050}},
        {"branding": "#ffffff"}, {"theme": "dark"}, {"weird key": 1},
        {"security": {"mfa_required": 1, "session_timeout_minutes": 4}},
        {"security": {"session_timeout_minutes": 30.5}},
        {"security": {"session_timeout_minutes": 30.0}},
        {"security": {"password_policy": {"min_length": 129, "require_special": "true"}}},
        {"security": {"password_policy": {"min_lenght": 10}}},
        {"security": {"password_policy": {"lockout_minutes": 1441, "max_failed_attempts": 0,
                                          "require_uppercase": True}}},
        {"notifications": {"digest": "monthly", "sender_name": ""}},
        {"notifications": {"sender_name": "s" * 256}},
    ],
    "features": [
        {}, {"sso": True, "webhooks": False, "api_keys": True},
        {"sso": "yes"}, {"quantum": True}, {"workflows": None},
    ],
    "limits": [
        {}, {"max_forms": 0, "max_users": 1000000, "max_submissions_per_month": 10,
             "max_attachment_bytes": 10 ** 15},
        {"max_forms": -1}, {"max_users": 1000001}, {"max_forms": 1.5}, {"max_forms": "5"},
        {"max_bytes": 1}, {"max_attachment_bytes": 10 ** 15 + 1},
    ],
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_published_schemas_equal_what_the_database_checks(name: str,
                                                          app: pliersdb.Database,
                                                          seeded: World) -> None:
    published = json.loads((SCHEMAS / f"organization-{name}.schema.json").read_text())
    assert keywords(published) <= KEYWORDS, "schema_errors and the SQL know only KEYWORDS"
    bystander = seeded.orgs["bystander"]
    with app.tenant(bystander.id, bystander.users["bea"]) as t:
        in_sql = t.call_one("organization_schema", name)["organization_schema"]
        assert in_sql == {k: v for k, v in published.items() if k not in ANNOTATIONS}
        verdicts = set()
        for sample in SAMPLES[name]:
            errs = t.call_one(f"validate_organization_{name}", sample)
            database = sorted((e["path"], e["code"]) for e in next(iter(errs.values())))
            expected = sorted(schema_errors(published, sample, f"$.{name}"))
            assert database == expected, sample
            verdicts.add(bool(database))
        assert verdicts == {True, False}  # both valid and invalid samples
        if name == "settings":
            assert t.organization.validate_settings({"theme": "x"}) == [{
                "path": "$.settings.theme", "code": "unknown_key", "message": "no such setting"}]


def test_every_seeded_shape_of_the_demo_is_valid(app: pliersdb.Database, seeded: World) -> None:
    """The settings and limits pliersdb demo gives its organizations pass the schemas."""
    bystander = seeded.orgs["bystander"]
    with app.tenant(bystander.id, bystander.users["bea"]) as t:
        assert t.organization.validate_settings({"security": {"mfa_required": True}}) == []
        assert t.call_one("validate_organization_limits", {
            "max_forms": 20, "max_submissions_per_month": 10000}) == {
                "validate_organization_limits": []}


# The command line ------------------------------------------------------------------------

def test_cli_org_create_and_list(platform_dsn: str, platform_fanout: pliersdb.Database,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    slug = new_slug()
    assert cli.main(["org", "create", "--slug", slug, "--name", "Cli Co",
                     "--owner-email", "cli@cli.example", "--owner-name", "Cli Owner",
                     "--dsn", platform_dsn]) == 0
    out = capsys.readouterr().out
    found: Organization = platform_fanout.platform.find(slug)
    assert out == (f"created organization {slug} {found.id}, owner cli@cli.example "
                   f"{found.primary_contact_id}\n")

    listing_dsn = platform_dsn
    if appworld.citus_mode():  # the listing reads every shard (module docstring)
        listing_dsn = make_conninfo(platform_dsn,
                                    options=f"-c {appworld.ROUTED_SETTING[0]}=off")
    assert cli.main(["org", "list", "--dsn", listing_dsn]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{slug}\t{found.id}\tactive\ttrial\tCli Co" in lines
    assert [line.split("\t")[0] for line in lines] == sorted(
        line.split("\t")[0] for line in lines)

    assert cli.main(["org", "create", "--slug", "Bad!", "--name", "X",
                     "--owner-email", "nope", "--dsn", platform_dsn]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("pliersdb: org create: ")
    assert "slug: invalid_slug" in captured.err and "owner_email: invalid_email" in captured.err

    assert cli.main(["org", "create", "--slug", slug, "--name", "X",
                     "--owner-email", "x@x.example", "--dsn", platform_dsn]) == 1
    assert "slug: taken" in capsys.readouterr().err


def test_cli_org_refuses_a_login_outside_pliers_platform(
        seeded: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["org", "create", "--slug", new_slug(), "--name", "X",
                     "--owner-email", "x@x.example", "--dsn", seeded.app_dsn]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pliers_platform" in err
