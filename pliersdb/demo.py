"""pliersdb demo: two organizations using the library under row-level security, then a tour.

1. **Provisioning, through the API**: each organization and its owner created by the
   platform (``db.platform``, as ``pliers_platform``), then its users (with passwords),
   team and role assignment added by that owner (``t.users``, ``t.teams``,
   ``t.access``). Only this month's partitions are made by the DSN's superuser, as a
   DBA's maintenance would.
2. **The application's part, through the library**: ``Database.tenant()`` then
   ``t.forms`` / ``t.submissions`` and the rest of the SQL API. These connections run
   as ``pliers_app`` (``SET ROLE`` at connection start, ``options=-c role=pliers_app``),
   so every statement is subject to row-level security exactly as an application login
   in ``pliers_app`` would be (docs/security.md). Forms are created, validated,
   versioned and published; submissions are drafted, submitted (one with a validation
   error, caught and printed), assigned, moved along their statuses, given a file;
   an API key and a webhook with an encrypted secret are created.
   Each member then becomes its form's editor by a form-scope role assignment and a
   collaborator row (``t.access``).
3. **A review workflow, end to end through the worker**: Acme's intake review is
   created, attached to the form, published and activated (``t.workflows``); each
   submission starts a run; ``pliersdb.worker.Worker`` (as ``pliers_worker``) fires the
   first state's timeout (its assignment and status move), a guard refuses one approval,
   the runs end approved and rejected (``t.executions``), and the worker runs the
   approved state's durable job.
4. **Rows the API cannot write yet**, as the superuser: plugins, notifications, a
   system setting (issues 19 and 20 add their APIs), so that every table holds data for
   both organizations.

Running it twice is harmless: a database that has the demo (its marker setting) gets the
tour again. The tour reads through the library too: a keyset page, a CSV export, tenant
isolation, and a submission's history when ``pliers.submission_history`` exists.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from pliersdb import dsn as dsnlib
from pliersdb import errors, webhooks, workflows
from pliersdb.db import Database, Session
from pliersdb.submissions import ImportRow, Submissions
from pliersdb.worker import ClaimedJob, Worker

Say = Callable[[str], None]

MARKER = "pliersdb.demo"  # system_settings key written last: the demo is complete
APP_ROLE = "pliers_app"
PLATFORM_ROLE = "pliers_platform"  # provisioning: creates organizations (sql/35)
META_COLUMNS = 12  # the submission's own columns, first in an export (docs/api.md)

INTAKE_V1: dict[str, Any] = {
    "title": "Patient intake",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "label": "Full name", "required": True,
         "validation": {"maxLength": 100}},
        {"id": "f2", "type": "date", "name": "birthDate", "label": "Date of birth"},
        {"id": "f3", "type": "single_choice", "name": "reason", "label": "Reason for visit",
         "choices": [{"code": "checkup", "label": "Check-up"},
                     {"code": "injury", "label": "Injury"}]},
    ],
}
# Version 2 adds a required consent (a breaking change: a new major version) and an
# optional insurance card upload.
INTAKE_V2: dict[str, Any] = {**INTAKE_V1, "fields": [
    *INTAKE_V1["fields"],
    {"id": "f4", "type": "consent", "name": "consent", "label": "I consent to treatment",
     "required": True},
    {"id": "f5", "type": "file", "name": "insuranceCard", "label": "Insurance card",
     "validation": {"accept": ["image/*", "application/pdf"], "maxSizeBytes": 5_000_000,
                    "maxItems": 1}},
]}
DELIVERY: dict[str, Any] = {
    "title": "Delivery report",
    "fields": [
        {"id": "f1", "type": "text", "name": "trackingNumber", "label": "Tracking number",
         "required": True, "validation": {"pattern": "^NW-[0-9]{4}$"}},
        {"id": "f2", "type": "geo_point", "name": "location", "label": "Drop-off point"},
        {"id": "f3", "type": "file", "name": "photo", "label": "Photo",
         "validation": {"accept": ["image/*"], "maxItems": 3}},
    ],
}
# A data set in XLSForm's external-choices layout (docs/choice-lists.md).
CLINICS_CSV = """name,label::en,label::fr,city
north,North clinic,Clinique nord,Lille
south,South clinic,Clinique sud,Marseille
"""
# docs/workflows.md's format (pliers.validate_workflow_definition accepts it).
REVIEW_FLOW = {"initial": "received", "states": {
    "received": {"on": {"triage": {"target": "in_review"}}},
    "in_review": {"on": {"approve": {"target": "approved"}, "reject": {"target": "rejected"}}},
    "approved": {"final": True}, "rejected": {"final": True}}}
WORKER_ROLE = "pliers_worker"  # the job worker's role (docs/jobs.md)
# Acme's intake review: a submission waits a minute, then the review starts by itself
# (the state's timeout, fired by the worker) and goes to the front desk; approving needs
# a date of birth (a guard on the answers) and the permission to update submissions.
INTAKE_REVIEW: dict[str, Any] = {"initial": "submitted", "states": {
    "submitted": {"label": "Submitted",
                  "on": {"start_review": {"target": "in_review", "actions": [
                      {"type": "assign", "team": "front-desk"}]}},
                  "timeout": {"after": "PT1M", "event": "start_review"}},
    "in_review": {"label": "In review",
                  "onEntry": [{"type": "set_status", "status": "processing"}],
                  "sla": {"after": "PT48H"},
                  "on": {"approve": {"target": "approved", "guard": {
                             "expression": {"!=": [{"var": "answers.birthDate"}, None]},
                             "permission": "submission.update"}},
                         "reject": {"target": "rejected"}},
                  "timeout": {"after": "P7D", "event": "reject"}},
    "approved": {"final": True, "onEntry": [
        {"type": "set_status", "status": "approved"},
        {"type": "notify", "to": "submitter", "title": "Your intake was approved"},
        {"type": "job", "kind": "demo.welcome_letter", "payload": {"template": "welcome"}}]},
    "rejected": {"final": True, "onEntry": [{"type": "set_status", "status": "rejected"}]}}}


def _value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def insert(conn: psycopg.Connection[Any], table: str, row: dict[str, Any],
           returning: str = "id") -> Any:
    """INSERT one row into pliers.<table>; identifiers via psycopg.sql, values as parameters."""
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier("pliers", table),
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)),
        sql.Identifier(returning),
    )
    result = conn.execute(query, [_value(v) for v in row.values()]).fetchone()
    assert result is not None
    return result[0]


@dataclass
class Tenant:
    """One demo organization: its ids, and what the library part made."""

    slug: str
    name: str
    id: UUID
    users: dict[str, UUID]
    admin: str
    member: str
    team: UUID
    forms: list[UUID] = field(default_factory=list)  # versions of its form, oldest first
    submissions: list[UUID] = field(default_factory=list)

    @property
    def admin_id(self) -> UUID:
        return self.users[self.admin]

    @property
    def member_id(self) -> UUID:
        return self.users[self.member]


def app_dsn(dsn: str, role: str = APP_ROLE) -> str:
    """The DSN with ``SET ROLE <role>`` at connection start: the library's connections
    then run as the application role, under row-level security."""
    options = conninfo_to_dict(dsn).get("options")
    extra = f"-c role={role}"
    return make_conninfo(dsn, options=f"{options} {extra}" if options else extra)


# 1. Provisioning, through the API -----------------------------------------------------


def partitions(conn: psycopg.Connection[Any]) -> None:
    """This month's partitions of the history tables, as maintenance makes them (the
    DBA's part). A transaction of its own: on Citus, DDL on a distributed table runs
    on its shards in parallel, after which the transaction may not write a reference
    table (provisioning writes pliers.organization_slugs)."""
    today = date.today()
    for parent in ("pliers.events", "pliers.audit_logs"):
        conn.execute("SELECT count(*) FROM pliers.create_partitions(%s::regclass, %s, %s)",
                     (parent, today, today.replace(day=28)))


@dataclass
class Person:
    first: str
    last: str
    role: str

    @property
    def username(self) -> str:
        return self.first.lower()


def provision(platform: Database, db: Database, say: Say) -> tuple[Tenant, Tenant]:
    """Both organizations through the API: each created by the platform with its owner
    (``db.platform``, as pliers_platform), then its people, team and grants added by
    that owner (``t.users``, ``t.teams``, ``t.access``, as pliers_app)."""
    acme = _organization(platform, db, "acme-health", "Acme Health", "Front desk", [
        Person("Alice", "Martin", "org_owner"), Person("Bob", "Okafor", "form_editor"),
        Person("Carol", "Nguyen", "viewer")], member="bob", mfa_required=True)
    north = _organization(platform, db, "northwind", "Northwind Logistics", "Drivers", [
        Person("Dan", "Silva", "org_owner"), Person("Erin", "Kowalski", "member")],
        member="erin", mfa_required=False)
    with db.tenant(acme.id, acme.admin_id) as t:
        # Carol also holds viewer by assignment, organization-wide (an admin console's grant).
        t.access.grant(acme.users["carol"], "viewer")
    say("Provisioned through the API: Acme Health (alice, bob, carol) and Northwind "
        "Logistics (dan, erin), by the platform (pliers_platform) and each owner: users, "
        "teams, role assignments.")
    return acme, north


def _organization(platform: Database, db: Database, slug: str, name: str, team_name: str,
                  people: list[Person], member: str, mfa_required: bool) -> Tenant:
    owner, *others = people
    made = platform.platform.create(
        slug, name, f"{owner.username}@{slug}.example",
        owner_display_name=f"{owner.first} {owner.last}",
        settings={"security": {"mfa_required": mfa_required}},
        limits={"max_forms": 20, "max_submissions_per_month": 10000})
    users = {owner.username: made.user_id}
    with db.tenant(made.organization_id, made.user_id) as t:
        org = t.organization.get()
        t.organization.update(org.revision, billing_email=f"billing@{slug}.example",
                              tags=["demo"])
        me = t.users.get(made.user_id)
        t.users.update_profile(me.id, me.revision, username=owner.username,
                               first_name=owner.first, last_name=owner.last)
        for person in others:
            users[person.username] = t.users.add(
                f"{person.username}@{slug}.example", roles=[person.role],
                username=person.username, first_name=person.first, last_name=person.last,
                display_name=f"{person.first} {person.last}",
                password=f"demo password of {person.first}!").id
        team = t.teams.create(team_name, team_name.lower().replace(" ", "-"))
        t.teams.add_member(team.id, users[member])
    return Tenant(slug, name, made.organization_id, users, owner.username, member, team.id)


# 2. The application's part, through the library --------------------------------------


def _validation_errors(error: errors.ValidationError, say: Say) -> None:
    say(f"    ValidationError (PL001): {error}")
    for item in error.errors:
        say(f"      {item['path']:22} {item['code']:22} {item['message']}")


def application(db: Database, acme: Tenant, north: Tenant, keyring: webhooks.Keyring,
                say: Say) -> None:
    """Forms, submissions, an API key and a webhook for both tenants, through the library."""
    say("\nAcme Health, as alice (org_admin) and bob (form_editor), through the library:")
    with db.tenant(acme.id, acme.admin_id) as t:
        v1 = t.forms.create("Patient intake", "patient-intake", INTAKE_V1,
                            category="clinic", tags=["demo"])
        v1 = t.forms.publish(v1.id, "1.0.0")
        say(f"  t.forms.create + publish   -> {v1.name} {v1.version} ({v1.status})")
    with db.tenant(acme.id, acme.member_id) as t:
        early = t.submissions.create(v1.id, {"fullName": "Jane Roe", "birthDate": "1984-03-02",
                                             "reason": "checkup"}, submit=True,
                                     external_id="acme-kiosk-0001")
        say(f"  t.submissions.create       -> {early.submission_number} on 1.0.0 "
            f"({early.status})")
    with db.tenant(acme.id, acme.admin_id) as t:
        draft = t.forms.new_version(v1.id)
        draft = t.forms.update(draft.id, draft.revision, definition=INTAKE_V2)
    try:
        with db.tenant(acme.id, acme.admin_id) as t:
            t.forms.publish(draft.id, "1.1.0")
    except errors.ValidationError as exc:
        say("  t.forms.publish(v2, '1.1.0') is refused: a required consent breaks old answers")
        _validation_errors(exc, say)
    with db.tenant(acme.id, acme.admin_id) as t:
        v2 = t.forms.publish(draft.id, "2.0.0")
        say(f"  t.forms.publish(v2, '2.0.0') -> {v2.version}, latest; 1.0.0 keeps its answers")
    acme.forms = [v1.id, v2.id]

    try:
        with db.tenant(acme.id, acme.member_id) as t:
            t.submissions.create(v2.id, {"fullName": "", "birthDate": "1990-02-30",
                                         "reason": "flu", "consent": False}, submit=True)
    except errors.ValidationError as exc:
        say("  t.submissions.create with bad answers: nothing is written, every error at once")
        _validation_errors(exc, say)

    with db.tenant(acme.id, acme.member_id) as t:
        john = t.submissions.create(v2.id, {"fullName": "John Doe", "reason": "injury",
                                            "consent": True}, submit=True)
        mia = t.submissions.create(v2.id, {"fullName": "Mia Wong", "birthDate": "2001-11-23"})
        card = b"%PDF-1.7 demo insurance card"
        attachment = t.submissions.attach(
            mia.id, "insuranceCard", filename="card.pdf", mime_type="application/pdf",
            size_bytes=len(card), storage_key=f"{acme.slug}/{mia.id}/card.pdf",
            checksum=hashlib.sha256(card).hexdigest(), storage_bucket="pliers-demo",
            original_filename="Insurance card.pdf")
        say(f"  drafts, files: {mia.submission_number} is a draft (valid: {mia.is_valid}); "
            f"attached {attachment.filename} ({attachment.file_size_bytes} bytes)")
    with db.tenant(acme.id, acme.admin_id) as t:
        t.submissions.assign(john.id, user_id=acme.admin_id, team_id=acme.team)
        moved = t.submissions.set_status(early.id, "processing", reason="triage")
        moved = t.submissions.set_status(early.id, "approved", expected_revision=moved.revision)
        say(f"  t.submissions.assign / set_status -> {john.submission_number} assigned to "
            f"alice and Front desk; {moved.submission_number} {moved.status}")
    acme.submissions = [early.id, john.id, mia.id]
    with db.tenant(acme.id, acme.admin_id) as t:
        clinics = t.choice_lists.import_csv("clinics", io.StringIO(CLINICS_CSV), title="Clinics")
        say(f"  t.choice_lists.import_csv  -> data set {clinics.name}: {clinics.item_count} "
            f"items, columns {', '.join(clinics.columns)} (a field names it: choiceList)")
    _keys_and_hooks(db, acme, keyring, say)

    say("\nNorthwind Logistics, as dan (org_admin) and erin (member):")
    with db.tenant(north.id, north.admin_id) as t:
        form = t.forms.create("Delivery report", "delivery-report", DELIVERY,
                              visibility="organization", tags=["demo"])
        form = t.forms.publish(form.id, "1.0.0")
        say(f"  {form.name} {form.version} published")
    north.forms = [form.id]
    with db.tenant(north.id, north.member_id) as t:
        first = t.submissions.create(form.id, {"trackingNumber": "NW-1001",
                                               "location": {"lat": 52.37, "lon": 4.9}},
                                     submit=True)
        second = t.submissions.create(form.id, {"trackingNumber": "NW-1002"})
        photo = b"\xff\xd8\xff demo jpeg"
        t.submissions.attach(second.id, "photo", filename="porch.jpg", mime_type="image/jpeg",
                             size_bytes=len(photo), storage_key=f"northwind/{second.id}.jpg",
                             checksum=hashlib.sha256(photo).hexdigest())
        second = t.submissions.submit(second.id)
        third = t.submissions.create(form.id, {"trackingNumber": "NW-1003"})
        say(f"  {first.submission_number}, {second.submission_number} (with a photo) submitted; "
            f"{third.submission_number} a draft")
    with db.tenant(north.id, north.admin_id) as t:
        t.submissions.assign(first.id, user_id=north.admin_id, team_id=north.team)
        t.submissions.set_status(first.id, "approved")
        t.submissions.set_status(first.id, "completed")
        # Bulk path: COPY into a staging table, one validated set-based insert. The
        # external ids make it idempotent: the second run skips both rows.
        legacy = [ImportRow({"trackingNumber": f"NW-090{n}"}, external_id=f"legacy-{n}",
                            source="legacy", submitted_at=datetime(2024, 3, n, 9, tzinfo=UTC))
                  for n in (1, 2)]
        imported = t.submissions.import_rows(form.id, legacy)
        again = t.submissions.import_rows(form.id, legacy)
        say(f"  t.submissions.import_rows  -> {imported.created} imported "
            f"({', '.join(r.submission_number for r in imported.rows)}, submitted in March 2024); "
            f"run again: {again.created} imported, {again.skipped} skipped (same external ids)")
    north.submissions = [first.id, second.id, third.id]
    with db.tenant(north.id, north.admin_id) as t:
        t.choice_lists.create("depots", [{"code": "ams", "label": "Amsterdam"},
                                         {"code": "rtm", "label": "Rotterdam"}], title="Depots")
    _keys_and_hooks(db, north, keyring, say)


def _keys_and_hooks(db: Database, tenant: Tenant, keyring: webhooks.Keyring, say: Say) -> None:
    with db.tenant(tenant.id, tenant.admin_id) as t:
        key = t.call_one("create_api_key", name="Reporting export",
                         scopes=["form.view", "submission.view"])
        hook = webhooks.create_webhook(
            t, "Case system", f"https://hooks.{tenant.slug}.example/pliers",
            ["submission.created", "submission.status_changed"], webhooks.new_secret(),
            keyring)
        # A job of the application, queued for a worker (pliersdb worker).
        t.jobs.enqueue("demo.weekly_report", {"format": "csv"}, idempotency_key="weekly-report")
        # An inbound webhook starts a workflow (docs/workflows.md): its secret, shown once.
        inbound = t.workflows.create(f"{tenant.slug}-inbound", "Inbound case", REVIEW_FLOW,
                                     trigger_type="webhook")
        t.workflows.rotate_secret(inbound.id)
    with db.with_api_key(key["key"]) as k:
        seen = len(k.submissions.list(limit=100))
    say(f"  API key {key['prefix']}... (scopes form.view, submission.view): "
        f"db.with_api_key sees {seen} submissions")
    say(f"  webhook {hook}: secret encrypted with key {keyring.current_id!r}; "
        "the tenant cannot read it back")
    say(f"  workflow {inbound.slug} (trigger webhook): its secret returned once, only its "
        "SHA-256 kept (t.workflows.rotate_secret)")


def grants(db: Database, tenants: tuple[Tenant, Tenant], say: Say) -> None:
    """Each member gets its form's editor role and a collaborator row on it, from the owner."""
    for tenant in tenants:
        form = tenant.forms[-1]
        with db.tenant(tenant.id, tenant.admin_id) as t:
            t.access.grant(tenant.member_id, "form_editor", scope_type="form", scope_id=form)
            t.access.add_collaborator(form, tenant.member_id, permission_level="editor",
                                      can_edit=True)
            granted = [p for p in t.access.effective_permissions(tenant.member_id)
                       if p.allowed]
        say(f"  {tenant.member} is form_editor and a collaborator of {tenant.name}'s form: "
            f"{len(granted)} effective permissions, each with its reason "
            "(t.access.effective_permissions)")


# 3. A review workflow, end to end through the worker -----------------------------------


def review_workflow(db: Database, conn: psycopg.Connection[Any], dsn: str, acme: Tenant,
                    north: Tenant, say: Say) -> None:
    """Acme's intake review through t.workflows, t.executions and the worker."""
    say("\nA review workflow, end to end through the worker (docs/workflows.md):")
    with db.tenant(acme.id, acme.admin_id) as t:
        flow = t.workflows.create("intake-review", "Intake review", INTAKE_REVIEW,
                                  trigger_type="form_submission")
        t.workflows.attach_form(flow.id, acme.forms[-1])
        t.workflows.publish(flow.id, "1.0.0")
        flow = t.workflows.activate(flow.id)
    say(f"  t.workflows.create + attach_form + publish + activate -> {flow.slug} "
        f"{flow.version} (active: {flow.is_active}); its diagram "
        "(pliersdb workflow diagram intake-review):")
    for line in workflows.diagram(INTAKE_REVIEW).splitlines():
        say(f"    {line}")
    with db.tenant(acme.id, acme.member_id) as t:
        ana = t.submissions.create(acme.forms[-1], {"fullName": "Ana Lima", "reason": "checkup",
                                                    "birthDate": "1979-06-14", "consent": True},
                                   submit=True)
        ken = t.submissions.create(acme.forms[-1], {"fullName": "Ken Ito", "reason": "injury",
                                                    "consent": True}, submit=True)
    acme.submissions += [ana.id, ken.id]
    with db.tenant(acme.id, acme.admin_id) as t:
        runs = {s.id: t.executions.list(submission_id=s.id)[0] for s in (ana, ken)}
    say(f"  submitting {ana.submission_number} and {ken.submission_number} started a run each, "
        f"state {runs[ana.id].current_state!r} (workflow_state of the submission), its timeout "
        "in a minute")
    # The DBA's shortcut for a demo: the minute has passed.
    conn.execute("UPDATE pliers.workflow_executions SET timeout_at = now()"
                 " WHERE organization_id = %s AND id = ANY(%s)",
                 (acme.id, [r.id for r in runs.values()]))
    letters: list[str] = []
    handlers: dict[str, Callable[[ClaimedJob], None]] = {
        "demo.welcome_letter": lambda job: letters.append(f"{job.kind} {job.payload}"),
        "demo.weekly_report": lambda job: letters.append(f"{job.kind} {job.payload}")}
    worker = Worker(app_dsn(dsn, WORKER_ROLE), handlers, concurrency=1, poll_interval=0.1,
                    name="pliersdb-demo")
    counters = worker.run(until_idle=True)
    with db.tenant(acme.id, acme.admin_id) as t:
        moved = t.executions.get(runs[ken.id].id)
    say(f"  (a minute later) Worker(...).run(): the timeout sweep moved both runs to "
        f"{moved.current_state!r}, assigned to the front desk, status processing; "
        f"{counters.done} application jobs done: {', '.join(letters)}")
    try:
        with db.tenant(acme.id, acme.admin_id) as t:
            t.executions.transition(runs[ken.id].id, "approve")
    except errors.InvalidTransition as exc:
        say(f"  alice approves {ken.submission_number}: InvalidTransition "
            f"({exc.detail.get('reason')}: the guard needs a date of birth)")
    with db.tenant(acme.id, acme.admin_id) as t:
        t.executions.transition(runs[ken.id].id, "reject", expected_state="in_review")
        done = t.executions.transition(runs[ana.id].id, "approve", expected_state="in_review")
    states = " -> ".join(h["state"] for h in done.state_history)
    say(f"  alice rejects {ken.submission_number}, approves {ana.submission_number}: "
        f"{states} ({done.status})")
    letters.clear()
    worker.run(until_idle=True)
    with db.tenant(acme.id, acme.admin_id) as t:
        final = {s.submission_number: s.status for s in (t.submissions.get(ana.id),
                                                          t.submissions.get(ken.id))}
    say(f"  the worker runs the approved state's durable job: {', '.join(letters)}; "
        f"submissions now {final}")
    with db.tenant(north.id, north.admin_id) as t:
        check = t.workflows.create("delivery-check", "Delivery check", REVIEW_FLOW,
                                   trigger_type="form_submission")
        t.workflows.attach_form(check.id, north.forms[-1])
        t.workflows.publish(check.id, "1.0.0")
        t.workflows.activate(check.id)
        run = t.executions.start("delivery-check", submission_id=north.submissions[0])
        run = t.executions.transition(run.id, "triage")
    say(f"  Northwind: {check.slug} started by hand (t.executions.start) on a delivery, "
        f"now {run.current_state!r}")


# 4. Rows the API cannot write yet (superuser) -----------------------------------------


def other_rows(conn: psycopg.Connection[Any], tenants: tuple[Tenant, Tenant]) -> None:
    """Plugins, notifications, a system setting: no API writes them yet (issues 19, 20)."""
    insert(conn, "system_settings", {"key": "platform.default_locale", "value": {"v": "en-US"},
                                     "description": "Locale of new users", "category": "i18n",
                                     "updated_by": "pliersdb demo"}, returning="key")
    signature = insert(conn, "plugins", {
        "name": "Signature pad", "slug": "signature-pad", "version": "2.1.0", "type": "field",
        "is_system": True, "manifest": {"fields": ["signature"]}})
    for tenant in tenants:
        org, admin = tenant.id, tenant.admin_id
        private = insert(conn, "plugins", {
            "organization_id": org, "name": f"{tenant.name} export",
            "slug": f"{tenant.slug}-export", "version": "0.3.0", "type": "integration",
            "manifest": {"format": "csv"}})
        for plugin in (signature, private):
            insert(conn, "plugin_installations", {
                "organization_id": org, "plugin_id": plugin, "status": "active",
                "installed_at": "now", "installed_by": admin})
        insert(conn, "notifications", {
            "organization_id": org, "user_id": admin, "type": "submission.submitted",
            "title": "A new submission to review", "priority": "high",
            "data": {"submission_id": str(tenant.submissions[1])},
            "action_url": "/submissions"})
    insert(conn, "system_settings", {"key": MARKER, "value": {"loaded": True},
                                     "description": "the pliersdb demo data set is loaded",
                                     "category": "demo", "updated_by": "pliersdb demo"},
           returning="key")


# The tour ---------------------------------------------------------------------------

SUMMARY = """
SELECT o.name,
       (SELECT count(*) FROM pliers.users AS u WHERE u.organization_id = o.id) AS users,
       (SELECT count(*) FROM pliers.forms AS f WHERE f.organization_id = o.id) AS form_versions,
       (SELECT count(*) FROM pliers.submissions AS s WHERE s.organization_id = o.id) AS submissions,
       (SELECT count(*) FROM pliers.events AS e WHERE e.organization_id = o.id) AS events
FROM pliers.organizations AS o
WHERE o.slug IN ('acme-health', 'northwind')
ORDER BY o.name
"""

TABLES = """
SELECT c.relname
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""


def _tenants(conn: psycopg.Connection[Any]) -> dict[str, tuple[UUID, UUID]]:
    """slug -> (organization id, primary contact), read as the superuser."""
    return {slug: (org, contact) for slug, org, contact in conn.execute(
        "SELECT slug, id, primary_contact_id FROM pliers.organizations "
        "WHERE slug IN ('acme-health', 'northwind')").fetchall()}


def tour(conn: psycopg.Connection[Any], db: Database, say: Say) -> None:
    """What the data set looks like, read through the library, then counted as the DBA."""
    tenants = _tenants(conn)
    acme, north = tenants["acme-health"], tenants["northwind"]
    with db.tenant(*acme) as t:
        role = t.execute("SELECT current_user, pliers.current_organization_id()").fetchone()
        say(f"\nTour, through the library as {role[0] if role else '?'} (row-level security):")
        _tour_lists(t.submissions, say)
        form = t.forms.latest("patient-intake")
        out = io.StringIO(newline="")
        rows = t.submissions.export(form.slug, out)
        columns = [c.name for c in t.submissions.export_columns(form.slug)]
        say(f"  t.submissions.export('{form.slug}', out): {rows} rows x {len(columns)} columns, "
            "versions 1.0.0 and 2.0.0; first lines (ids and times elided):")
        for line in _first_lines(out.getvalue(), 3):
            say(f"    {line}")
        _history(t, say)
    with db.tenant(*north) as t:
        theirs = t.submissions.list(limit=1).items[0]
    try:
        with db.tenant(*acme) as t:
            t.submissions.get(theirs.id)
    except errors.NotFound as exc:
        say(f"  Isolation: Acme's session asks for Northwind's {theirs.submission_number}: "
            f"NotFound ({exc})")
    with db.tenant(*acme) as t:
        mine = {s.organization_id for s in t.submissions.iterate()}
        say(f"  Acme's session lists submissions of {len(mine)} organization(s) only: its own")

    say("\nAs the DBA (superuser): organizations (users, form versions, submissions, events)")
    for name, users, forms, submissions, events in conn.execute(SUMMARY):
        say(f"  {name:22} {users} users, {forms} form versions, {submissions} submissions, "
            f"{events} events")
    say("  Forms and usage (counters summed from slots, no hot row on forms):")
    for org, form_name, version, count in conn.execute(
            "SELECT o.name, f.name, f.version, u.submission_count "
            "FROM pliers.forms AS f JOIN pliers.organizations AS o ON o.id = f.organization_id "
            "JOIN pliers.form_usage AS u ON (u.organization_id, u.form_id) = "
            "(f.organization_id, f.id) ORDER BY 1, 2, f.created_at"):
        say(f"    {org:22} {form_name} {version}: {count} submissions")
    rows_per_table = []
    for (name,) in conn.execute(TABLES).fetchall():
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier("pliers", name))).fetchone()
        rows_per_table.append((name, count[0] if count else 0))
    say("  Rows per table: " + ", ".join(f"{n} {c}" for n, c in rows_per_table))
    empty = [n for n, c in rows_per_table if not c]
    if empty:
        say(f"  (empty: {', '.join(empty)})")


def _first_lines(text: str, count: int) -> list[str]:
    """The first CSV lines of an export, keeping number, version, status and the answers."""
    rows = list(csv.reader(io.StringIO(text, newline="")))[:count]
    if not rows:
        return []
    keep = [i for i, name in enumerate(rows[0])
            if name in ("submission_number", "form_version", "status") or i >= META_COLUMNS]
    lines = io.StringIO(newline="")
    writer = csv.writer(lines, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] for i in keep])
    return lines.getvalue().splitlines()


def _tour_lists(submissions: Submissions, say: Say) -> None:
    page = submissions.list(limit=2)
    say("  t.submissions.list(limit=2): newest first, keyset cursor for the next page")
    while True:
        for s in page:
            say(f"    {s.submission_number} {s.status:10} {s.data.get('fullName', '')}")
        if page.next is None:
            break
        say(f"    -- next page: list(after=Cursor({page.next.encode()}))")
        page = submissions.list(limit=2, after=page.next)
    injured = submissions.list(contains={"reason": "injury"})
    say(f"  list(contains={{'reason': 'injury'}}): "
        f"{', '.join(s.submission_number for s in injured)}")


def _history(t: Session, say: Say) -> None:
    """The history of Acme's oldest submission, if pliers.submission_history is installed."""
    present = t.execute(
        "SELECT to_regprocedure('pliers.submission_history(uuid)') IS NOT NULL").fetchone()
    if present != (True,):
        return
    submissions: Submissions = t.submissions
    oldest = list(submissions.iterate())[-1]
    history = submissions.history(oldest.id)
    say(f"  t.submissions.history({oldest.submission_number}):")
    for entry in history:
        say(f"    v{entry.aggregate_version} {entry.event_type:28} "
            f"{entry.event_timestamp:%H:%M:%S.%f} -> "
            f"{(entry.state or {}).get('status')}")
    if len(history) > 1:
        then = submissions.at(oldest.id, history[1].event_timestamp)
        say(f"  t.submissions.at({oldest.submission_number}, <time of v2>): status "
            f"{(then or {}).get('status')} (now {oldest.status})")


def _keyring(say: Say) -> webhooks.Keyring:
    if os.environ.get(webhooks.ENV_VAR, "").strip():
        keyring = webhooks.Keyring.from_env()
        say(f"Webhook secrets: encrypted with key {keyring.current_id!r} from "
            f"{webhooks.ENV_VAR}.")
        return keyring
    key = webhooks.Keyring.generate_key()
    say("Webhook secrets: no PLIERSDB_WEBHOOK_KEYS, so a DEMO key was generated for this run;")
    say(f"  keep it to decrypt the demo's webhook secrets: {webhooks.ENV_VAR}=demo:{key}")
    return webhooks.Keyring.parse(f"demo:{key}")


class DemoError(RuntimeError):
    """The database holds part of the demo (an earlier run stopped half-way)."""


def run(dsn: str, say: Say = print) -> None:
    """Load the demo data set unless it is there, then print the tour."""
    with dsnlib.connect(dsn, autocommit=True) as conn:
        loaded = conn.execute("SELECT true FROM pliers.system_settings WHERE key = %s",
                              (MARKER,)).fetchone()
        started = conn.execute(
            "SELECT true FROM pliers.organizations WHERE slug = 'acme-health'").fetchone()
        if started and not loaded:
            raise DemoError("the database holds an unfinished demo (organization acme-health "
                            "without the demo marker): load the demo into a fresh database")
        with Database(app_dsn(dsn), min_size=1, max_size=2, name="pliersdb-demo") as db:
            if loaded:
                say("The demo data set is already loaded; here is the tour again.")
            else:
                with conn.transaction():
                    partitions(conn)
                with Database(app_dsn(dsn, PLATFORM_ROLE), min_size=1, max_size=1,
                              name="pliersdb-demo-platform") as platform:
                    tenants = provision(platform, db, say)
                application(db, *tenants, keyring=_keyring(say), say=say)
                grants(db, tenants, say)
                review_workflow(db, conn, dsn, *tenants, say=say)
                with conn.transaction():
                    other_rows(conn, tenants)
                say("\nLoaded the demo data set: organizations acme-health and northwind "
                    "(plugins, notifications added as the superuser: no API yet).")
            tour(conn, db, say)
