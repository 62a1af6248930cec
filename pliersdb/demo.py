"""pliersdb demo: a small, realistic data set for two organizations, then a tour.

Rows go in through plain INSERTs for the tables that no API function owns yet;
each later capability moves its part of the demo onto the SQL API.
Running it twice is harmless: a database that has the demo already gets the tour.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pliersdb import dsn as dsnlib

Say = Callable[[str], None]

INTAKE_V1 = {
    "title": "Patient intake",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "label": "Full name", "required": True},
        {"id": "f2", "type": "date", "name": "birthDate", "label": "Date of birth"},
        {"id": "f3", "type": "single_choice", "name": "reason", "label": "Reason for visit",
         "choices": [{"code": "checkup", "label": "Check-up"},
                     {"code": "injury", "label": "Injury"}]},
    ],
    "sections": [], "pages": [], "logic": [], "calculations": [], "integrations": [],
}
INTAKE_V2 = {**INTAKE_V1, "fields": [*INTAKE_V1["fields"], {
    "id": "f4", "type": "consent", "name": "consent", "label": "I consent to treatment",
    "required": True}]}
DELIVERY = {
    "title": "Delivery report",
    "fields": [
        {"id": "f1", "type": "text", "name": "trackingNumber", "label": "Tracking number",
         "required": True},
        {"id": "f2", "type": "geo_point", "name": "location", "label": "Drop-off point"},
        {"id": "f3", "type": "file", "name": "photo", "label": "Photo"},
    ],
    "sections": [], "pages": [], "logic": [], "calculations": [], "integrations": [],
}
REVIEW_FLOW = {"initial": "received", "states": {
    "received": {"on": {"triage": "in_review"}},
    "in_review": {"on": {"approve": "approved", "reject": "rejected"}},
    "approved": {"type": "final"}, "rejected": {"type": "final"}}}


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


def _organization(conn: psycopg.Connection[Any], slug: str, name: str,
                  people: list[tuple[str, str, str]]) -> tuple[Any, list[Any]]:
    org = insert(conn, "organizations", {
        "slug": slug, "name": name, "billing_email": f"billing@{slug}.example",
        "settings": {"security": {"mfa_required": slug == "acme-health"}},
        "tags": ["demo"]})
    users = [insert(conn, "users", {
        "organization_id": org, "email": f"{first.lower()}@{slug}.example",
        "username": first.lower(), "first_name": first, "last_name": last,
        "display_name": f"{first} {last}", "roles": [role]})
        for first, last, role in people]
    conn.execute("UPDATE pliers.organizations SET primary_contact_id = %s, created_by = %s "
                 "WHERE id = %s", (users[0], users[0], org))
    return org, users


def _form(conn: psycopg.Connection[Any], org: Any, author: Any, name: str, slug: str,
          versions: list[dict[str, Any]]) -> list[Any]:
    ids: list[Any] = []
    for number, definition in enumerate(versions, start=1):
        latest = number == len(versions)
        if ids:
            conn.execute("UPDATE pliers.forms SET is_latest = false "
                         "WHERE organization_id = %s AND id = %s", (org, ids[-1]))
        ids.append(insert(conn, "forms", {
            "organization_id": org, "name": name, "slug": slug, "version": f"1.{number - 1}.0",
            "status": "published", "published_at": "now", "published_by": author,
            "definition": definition, "parent_id": ids[-1] if ids else None,
            "is_latest": latest, "category": "demo", "tags": ["demo"], "created_by": author}))
    return ids


def _submission(conn: psycopg.Connection[Any], org: Any, form: Any, number: int,
                status: str, data: dict[str, Any], by: Any) -> Any:
    submitted = status != "draft"
    row = {"organization_id": org, "form_id": form, "submission_number": f"S-{number:06d}",
           "status": status, "data": data, "submitted_by": by, "is_valid": submitted,
           "submitted_at": "now" if submitted else None}
    if status in ("approved", "completed"):
        row["completed_at"] = "now" if status == "completed" else None
    submission = insert(conn, "submissions", row)
    insert(conn, "form_counters", {"organization_id": org, "form_id": form,
                                   "slot": number % 4, "submission_count": 1,
                                   "last_submission_at": "now"}, returning="slot")
    insert(conn, "events", {
        "organization_id": org, "event_type": "submission.created",
        "aggregate_type": "submission", "aggregate_id": submission, "aggregate_version": 1,
        "payload": {"form_id": str(form), "status": status}, "user_id": by})
    return submission


def load(conn: psycopg.Connection[Any]) -> None:
    """Insert the demo data set in the caller's transaction."""
    today = date.today()
    for parent in ("pliers.events", "pliers.audit_logs"):
        conn.execute("SELECT count(*) FROM pliers.create_partitions(%s::regclass, %s, %s)",
                     (parent, today, today.replace(day=28)))
    insert(conn, "system_settings", {"key": "platform.default_locale", "value": {"v": "en-US"},
                                     "description": "Locale of new users", "category": "i18n",
                                     "updated_by": "pliersdb demo"}, returning="key")
    signature = insert(conn, "plugins", {
        "name": "Signature pad", "slug": "signature-pad", "version": "2.1.0", "type": "field",
        "is_system": True, "manifest": {"fields": ["signature"]}})

    acme, (alice, bob, carol) = _organization(conn, "acme-health", "Acme Health", [
        ("Alice", "Martin", "admin"), ("Bob", "Okafor", "editor"), ("Carol", "Nguyen", "viewer")])
    north, (dan, erin) = _organization(conn, "northwind", "Northwind Logistics", [
        ("Dan", "Silva", "admin"), ("Erin", "Kowalski", "member")])

    insert(conn, "role_assignments", {"organization_id": acme, "user_id": carol,
                                      "role": "viewer", "scope_type": "organization",
                                      "granted_by": alice})
    cases: list[tuple[Any, Any, Any, str, str, str, list[dict[str, Any]],
                      list[dict[str, Any]]]] = [
        (acme, alice, bob, "Front desk", "Patient intake", "patient-intake",
         [INTAKE_V1, INTAKE_V2],
         [{"fullName": "Jane Roe", "reason": "checkup", "consent": True},
          {"fullName": "John Doe", "reason": "injury", "consent": True},
          {"fullName": "Mia Wong"}]),
        (north, dan, erin, "Drivers", "Delivery report", "delivery-report", [DELIVERY],
         [{"trackingNumber": "NW-1001", "location": {"lat": 52.37, "lon": 4.9}},
          {"trackingNumber": "NW-1002"}]),
    ]
    for org, admin, member, team_name, form_name, form_slug, versions, answers in cases:
        team = insert(conn, "teams", {"organization_id": org, "name": team_name,
                                      "slug": team_name.lower().replace(" ", "-"),
                                      "created_by": admin})
        for user, role in ((admin, "owner"), (member, "member")):
            insert(conn, "team_members", {"organization_id": org, "team_id": team,
                                          "user_id": user, "role": role})
        insert(conn, "role_assignments", {"organization_id": org, "user_id": admin,
                                          "role": "org_admin", "scope_type": "organization",
                                          "granted_by": admin})
        forms = _form(conn, org, admin, form_name, form_slug, versions)
        insert(conn, "role_assignments", {"organization_id": org, "user_id": member,
                                          "role": "form_editor", "scope_type": "form",
                                          "scope_id": forms[-1], "granted_by": admin})
        insert(conn, "form_collaborators", {
            "organization_id": org, "form_id": forms[-1], "user_id": member,
            "permission_level": "editor", "can_edit": True, "granted_by": admin})
        statuses = ["approved", "submitted", "draft"]
        submissions = [
            _submission(conn, org, forms[-1], n + 1, statuses[n], data, member)
            for n, data in enumerate(answers)]
        conn.execute("UPDATE pliers.submissions SET assigned_to = %s, assigned_team_id = %s "
                     "WHERE organization_id = %s AND id = %s",
                     (admin, team, org, submissions[1]))
        content = f"scan of {form_slug} #1".encode()
        insert(conn, "attachments", {
            "organization_id": org, "submission_id": submissions[0],
            "filename": "scan.pdf",
            "original_filename": "Scan 0001.pdf", "mime_type": "application/pdf",
            "file_size_bytes": len(content), "storage_key": f"{org}/{submissions[0]}/scan.pdf",
            "storage_bucket": "pliers-demo", "checksum": hashlib.sha256(content).hexdigest(),
            "uploaded_by": member})
        conn.execute("UPDATE pliers.submissions SET attachment_count = 1 "
                     "WHERE organization_id = %s AND id = %s", (org, submissions[0]))
        workflow = insert(conn, "workflows", {
            "organization_id": org, "name": f"{form_name} review",
            "slug": f"{form_slug}-review", "type": "approval",
            "trigger_type": "form_submission", "status": "published", "is_active": True,
            "definition": REVIEW_FLOW, "created_by": admin})
        insert(conn, "workflow_forms", {"organization_id": org, "workflow_id": workflow,
                                        "form_id": forms[-1], "created_by": admin},
               returning="workflow_id")
        insert(conn, "workflow_executions", {
            "organization_id": org, "workflow_id": workflow, "submission_id": submissions[1],
            "current_state": "in_review", "previous_state": "received",
            "state_history": Jsonb([
                {"from": "received", "to": "in_review", "event": "triage"}]),
            "triggered_by": member, "trigger_source": "form_submission"})
        insert(conn, "workflow_counters", {"organization_id": org, "workflow_id": workflow,
                                           "slot": 0, "execution_count": 1,
                                           "last_execution_at": "now"}, returning="slot")
        private = insert(conn, "plugins", {
            "organization_id": org, "name": f"{form_name} export", "slug": f"{form_slug}-export",
            "version": "0.3.0", "type": "integration", "manifest": {"format": "csv"}})
        for plugin in (signature, private):
            insert(conn, "plugin_installations", {
                "organization_id": org, "plugin_id": plugin, "status": "active",
                "installed_at": "now", "installed_by": admin})
        key = f"pk_demo_{secrets.token_urlsafe(24)}"
        insert(conn, "api_keys", {
            "organization_id": org, "name": "Reporting export", "prefix": key[:12],
            "key_hash": hashlib.sha256(key.encode()).hexdigest(), "scopes": ["submissions:read"],
            "created_by": admin})
        insert(conn, "webhooks", {
            "organization_id": org, "name": "Case system",
            "url": f"https://hooks.{form_slug}.example/pliers",
            "events": ["submission.created", "submission.approved"], "created_by": admin})
        insert(conn, "notifications", {
            "organization_id": org, "user_id": admin, "type": "submission.submitted",
            "title": f"New {form_name.lower()} to review", "priority": "high",
            "data": {"submission_id": str(submissions[1])}, "action_url": "/submissions"})
        insert(conn, "audit_logs", {
            "organization_id": org, "action": "form.publish", "resource_type": "form",
            "resource_id": forms[-1], "resource_name": form_name, "user_id": admin,
            "status": "success", "new_values": {"status": "published"}})


TOUR = """
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


def tour(conn: psycopg.Connection[Any], say: Say) -> None:
    say("\nOrganizations (users, form versions, submissions, events):")
    for name, users, forms, submissions, events in conn.execute(TOUR):
        say(f"  {name:22} {users} users, {forms} form versions, {submissions} submissions, "
            f"{events} events")
    say("\nForms and their usage (counters summed from slots, no hot row on forms):")
    for org, form, version, count in conn.execute(
            "SELECT o.name, f.name, f.version, u.submission_count "
            "FROM pliers.forms AS f JOIN pliers.organizations AS o ON o.id = f.organization_id "
            "JOIN pliers.form_usage AS u ON (u.organization_id, u.form_id) = "
            "(f.organization_id, f.id) WHERE f.is_latest ORDER BY 1, 2"):
        say(f"  {org:22} {form} {version}: {count} submissions")
    say("\nRows per table:")
    rows = []
    for (name,) in conn.execute(TABLES).fetchall():
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier("pliers", name))).fetchone()
        rows.append((name, count[0] if count else 0))
    say("  " + ", ".join(f"{name} {count}" for name, count in rows))
    empty = [name for name, count in rows if not count]
    if empty:
        say(f"  (empty: {', '.join(empty)})")


def run(dsn: str, say: Say = print) -> None:
    # autocommit: the load below is its own transaction, committed before the tour.
    with dsnlib.connect(dsn, autocommit=True) as conn:
        present = conn.execute(
            "SELECT true FROM pliers.organizations WHERE slug = 'acme-health'").fetchone()
        if present:
            say("The demo data set is already loaded; here is the tour again.")
        else:
            with conn.transaction():
                load(conn)
            say("Loaded the demo data set: organizations acme-health and northwind.")
        tour(conn, say)
