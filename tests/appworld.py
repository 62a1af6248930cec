"""A database for the library tests: organizations, users and role assignments seeded
as the superuser (there is no sign-up API), then used through ``pliersdb.connect`` as a
LOGIN role that is a member of pliers_app, never a superuser or the owner.

Used by tests/test_forms.py and tests/test_submissions.py: each builds one ``World``
per module (a clone of the migrated template) and the tests make their own forms with
their own slugs, so they do not depend on each other."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pliersdb import cluster as clusterlib


@dataclass
class Org:
    slug: str
    id: UUID
    users: dict[str, UUID] = field(default_factory=dict)
    teams: dict[str, UUID] = field(default_factory=dict)


@dataclass
class World:
    admin_dsn: str  # superuser: seeding and checks only
    app_dsn: str  # the application's LOGIN role (member of pliers_app)
    orgs: dict[str, Org]


def superuser(cluster: clusterlib.Cluster, dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(cluster.dsn(dbname), autocommit=True)


def seed_org(conn: psycopg.Connection[Any], slug: str, users: dict[str, list[str]],
             limits: dict[str, Any] | None = None, teams: tuple[str, ...] = ()) -> Org:
    """One organization, its users (username -> roles) and teams, as the superuser."""
    row = conn.execute(
        "INSERT INTO pliers.organizations (slug, name, limits) VALUES (%s, %s, %s) RETURNING id",
        (slug, slug.replace("-", " ").title(), Jsonb(limits or {}))).fetchone()
    assert row is not None
    org = Org(slug, row[0])
    for username, roles in users.items():
        user = conn.execute(
            "INSERT INTO pliers.users (organization_id, email, username, roles) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (org.id, f"{username}@{slug}.example", username, roles)).fetchone()
        assert user is not None
        org.users[username] = user[0]
    creator = next(iter(org.users.values()))
    for name in teams:
        team = conn.execute(
            "INSERT INTO pliers.teams (organization_id, name, slug, created_by) "
            "VALUES (%s, %s, %s, %s) RETURNING id", (org.id, name, name, creator)).fetchone()
        assert team is not None
        org.teams[name] = team[0]
    return org


@contextmanager
def app_login(cluster: clusterlib.Cluster) -> Iterator[tuple[str, str]]:
    """A LOGIN role in pliers_app (roles are cluster-wide: dropped at the end)."""
    name, password = f"app_{uuid.uuid4().hex[:12]}", secrets.token_hex(12)
    with superuser(cluster) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pliers_app").format(
            sql.Identifier(name), sql.Literal(password)))
    try:
        yield name, password
    finally:
        with superuser(cluster) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@contextmanager
def world(cluster: clusterlib.Cluster, template: str, prefix: str,
          orgs: dict[str, dict[str, Any]]) -> Iterator[World]:
    """A clone of the template seeded with ``orgs`` (slug -> seed_org keyword arguments),
    and the DSN of a pliers_app login on it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with app_login(cluster) as (role, password):
        with superuser(cluster) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        try:
            admin_dsn = cluster.dsn(name)
            with psycopg.connect(admin_dsn) as conn:
                seeded = {slug: seed_org(conn, slug, **spec) for slug, spec in orgs.items()}
            app_dsn = cluster.dsn(name, user=role, password=password)
            with psycopg.connect(app_dsn) as conn:
                flags = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_catalog.pg_roles "
                                     "WHERE rolname = current_user").fetchone()
                assert flags == (False, False), "the library tests must run under RLS"
            yield World(admin_dsn, app_dsn, seeded)
        finally:
            with superuser(cluster) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
