"""The job queue (``session.jobs``, sql/62-jobs.sql): enqueue as the application under
row-level security, claim / complete / fail as a worker (a LOGIN role in
pliers_worker), through the SQL functions the worker (tests/test_worker.py) calls.

One database per module; each test makes its own jobs (its own kinds), and the worker
tests claim only their kinds (``p_kinds``), so tests do not take each other's jobs.
Times are read from the database (``run_at - now()``), never measured."""

from __future__ import annotations

import threading
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
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb import errors
from pliersdb.jobs import Job


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "jobs", {
        "acme": {"users": {"alice": ["org_admin"], "mo": ["member"], "vic": ["viewer"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
        "initech": {"users": {"ian": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


@pytest.fixture(scope="module")
def worker_dsn(cluster: clusterlib.Cluster, seeded: World) -> Iterator[str]:
    """A LOGIN role in pliers_worker on the module's database."""
    dbname = psycopg.conninfo.conninfo_to_dict(seeded.admin_dsn)["dbname"]
    with appworld.login(cluster, "pliers_worker", "worker") as (role, password):
        yield cluster.dsn(str(dbname), user=role, password=password)


@pytest.fixture
def worker(worker_dsn: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(worker_dsn, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def as_user(app: pliersdb.Database, seeded: World, org: str = "acme",
            user: str | None = None) -> Any:
    tenant = seeded.orgs[org]
    return app.tenant(tenant.id, tenant.users[user] if user else next(iter(tenant.users.values())))


def kind() -> str:
    return f"test.k{uuid.uuid4().hex[:10]}"


def claim(conn: psycopg.Connection[Any], kinds: list[str], limit: int = 10,
          name: str = "w1", lease: str = "5 minutes",
          after: UUID | None = None) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM pliers.claim_jobs(%s, %s, %s::interval, %s, %s)",
                        (name, limit, lease, kinds, after)).fetchall()


def finish(conn: psycopg.Connection[Any], function: str, job: dict[str, Any], name: str = "w1",
           *extra: Any) -> Any:
    placeholders = ", ".join(["%s"] * (4 + len(extra)))
    args = (job["organization_id"], job["id"], name, job["attempts"], *extra)
    row = conn.execute(f"SELECT pliers.{function}({placeholders}) AS r", args).fetchone()
    assert row is not None
    return row["r"]


def admin_job(seeded: World, job_id: UUID) -> dict[str, Any]:
    with psycopg.connect(seeded.admin_dsn, row_factory=dict_row) as conn:
        row = conn.execute("SELECT *, run_at - now() AS wait FROM pliers.jobs WHERE id = %s",
                           (job_id,)).fetchone()
    assert row is not None
    return row


# Enqueue, read, list --------------------------------------------------------------


def test_enqueue_get_and_list_as_the_tenant(app: pliersdb.Database, seeded: World) -> None:
    k = kind()
    with as_user(app, seeded) as t:
        first = t.jobs.enqueue(k, {"n": 1})
        job = t.jobs.get(first)
    with as_user(app, seeded) as t:  # a later transaction: a later created_at
        second = t.jobs.enqueue(k, {"n": 2}, max_attempts=3)
    assert isinstance(job, Job) and isinstance(first, UUID)
    assert (job.kind, job.payload, job.status, job.attempts, job.max_attempts) == (
        k, {"n": 1}, "queued", 0, 5)
    assert (job.backoff_base_seconds, job.backoff_max_seconds) == (2, 3600)
    assert job.organization_id == seeded.orgs["acme"].id
    with as_user(app, seeded, user="vic") as t:  # a viewer reads (workflow.view)
        listed = t.jobs.list(kind=k)
        page = t.jobs.list(kind=k, limit=1)
        rest = t.jobs.list(kind=k, limit=1, before=page[0])
    assert [j.id for j in listed] == [second, first]
    assert [j.id for j in page + rest] == [second, first]
    assert listed[0].max_attempts == 3
    # Another tenant sees none of them.
    with as_user(app, seeded, "globex") as t:
        assert t.jobs.list(kind=k) == []
    with pytest.raises(errors.NotFound), as_user(app, seeded, "globex") as t:
        t.jobs.get(first)


def test_a_job_exists_only_if_its_transaction_commits(app: pliersdb.Database,
                                                      seeded: World) -> None:
    k = kind()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), as_user(app, seeded) as t:
        t.jobs.enqueue(k)
        raise Abort
    with as_user(app, seeded) as t:
        assert t.jobs.list(kind=k) == []


def test_idempotency_key_enqueues_once_even_after_the_job_ran(
        app: pliersdb.Database, seeded: World, worker: psycopg.Connection[Any]) -> None:
    k, key = kind(), f"key-{uuid.uuid4()}"
    with as_user(app, seeded) as t:
        first = t.jobs.enqueue(k, {"a": 1}, idempotency_key=key)
        again = t.jobs.enqueue(k, {"a": 2}, idempotency_key=key)
    assert again == first
    [job] = claim(worker, [k])
    assert finish(worker, "complete_job", job) is True
    with as_user(app, seeded) as t:
        assert t.jobs.enqueue(k, idempotency_key=key) == first
        assert len(t.jobs.list(kind=k)) == 1 and t.jobs.get(first).status == "done"
    # The same key in another tenant is another job.
    with as_user(app, seeded, "globex") as t:
        assert t.jobs.enqueue(k, idempotency_key=key) != first


def test_concurrent_enqueues_with_one_key_make_one_job(app: pliersdb.Database,
                                                       seeded: World) -> None:
    k, key = kind(), f"key-{uuid.uuid4()}"
    ids: list[UUID] = []
    barrier = threading.Barrier(4)

    def enqueue() -> None:
        with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1) as own, \
                as_user(own, seeded) as t:
            barrier.wait()
            ids.append(t.jobs.enqueue(k, idempotency_key=key))

    threads = [threading.Thread(target=enqueue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    with as_user(app, seeded) as t:
        assert len(t.jobs.list(kind=k)) == 1


def test_enqueue_validates_everything_at_once(app: pliersdb.Database, seeded: World) -> None:
    with pytest.raises(errors.ValidationError) as invalid, as_user(app, seeded) as t:
        t.jobs.enqueue("Bad Kind", {"x": "y" * 70000}, idempotency_key="", max_attempts=0)
    assert sorted((e["path"], e["code"]) for e in invalid.value.errors) == [
        ("idempotency_key", "invalid_length"), ("kind", "invalid_format"),
        ("max_attempts", "out_of_range"), ("payload", "payload_too_large")]
    with pytest.raises(errors.ValidationError) as reserved, as_user(app, seeded) as t:
        t.jobs.enqueue("pliers.webhook", {})
    assert [(e["path"], e["code"]) for e in reserved.value.errors] == [("kind", "reserved_kind")]
    with pytest.raises(errors.ValidationError), as_user(app, seeded) as t:
        t.jobs.list(limit=0)


def test_permissions(app: pliersdb.Database, seeded: World) -> None:
    with pytest.raises(errors.PermissionDenied) as denied, as_user(app, seeded, user="mo") as t:
        t.jobs.enqueue(kind())
    assert denied.value.detail["permission"] == "workflow.execute"
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, user="mo") as t:
        t.jobs.list()
    with pytest.raises(errors.PermissionDenied), as_user(app, seeded, user="vic") as t:
        t.jobs.retry_dead(uuid.uuid4())


def test_the_application_cannot_write_jobs_or_run_the_worker_functions(
        seeded: World) -> None:
    acme = seeded.orgs["acme"]
    with psycopg.connect(seeded.app_dsn) as conn:
        for statement in (
            "INSERT INTO pliers.jobs (organization_id, kind) VALUES (%(org)s, 'x')",
            "UPDATE pliers.jobs SET status = 'done' WHERE organization_id = %(org)s",
            "SELECT * FROM pliers.claim_jobs('app', 10)",
            "SELECT pliers.complete_job(%(org)s, gen_random_uuid(), 'app', 1)",
            "SELECT * FROM pliers.job_queue_status()",
            "SELECT pliers._enqueue_job(%(org)s, 'x', '{}')",
        ):
            with conn.transaction(force_rollback=True):
                conn.execute("SELECT pliers.set_context(%s, %s)", (acme.id, acme.users["alice"]))
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement, {"org": acme.id})
            conn.rollback()


# Claim, complete, fail -------------------------------------------------------------


def test_claim_complete_and_a_stale_lease(app: pliersdb.Database, seeded: World,
                                          worker: psycopg.Connection[Any]) -> None:
    k = kind()
    with as_user(app, seeded) as t:
        job_id = t.jobs.enqueue(k, {"x": 1})
    [job] = claim(worker, [k], name="w1")
    assert (job["id"], job["status"], job["attempts"], job["locked_by"]) == (
        job_id, "running", 1, "w1")
    assert claim(worker, [k], name="w2") == []  # claimed once
    # Another worker, or an older attempt, holds no lease.
    assert finish(worker, "complete_job", job, "w2") is False
    assert finish(worker, "complete_job", {**job, "attempts": 0}, "w1") is False
    assert finish(worker, "extend_job_lease", job, "w1", "10 minutes") is not None
    assert finish(worker, "complete_job", job, "w1") is True
    assert finish(worker, "complete_job", job, "w1") is False  # once
    done = admin_job(seeded, job_id)
    assert (done["status"], done["locked_by"], done["finished_at"] is not None) == (
        "done", None, True)


def test_an_expired_lease_is_claimed_again_and_the_old_worker_is_refused(
        app: pliersdb.Database, seeded: World, worker: psycopg.Connection[Any]) -> None:
    k = kind()
    with as_user(app, seeded) as t:
        job_id = t.jobs.enqueue(k)
    [first] = claim(worker, [k], name="dying", lease="1 second")
    # The lease ends (as the database sees it: moved back rather than waited for).
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("UPDATE pliers.jobs SET locked_until = now() - interval '1 second' "
                     "WHERE id = %s", (job_id,))
    [second] = claim(worker, [k], name="healthy")
    assert (second["id"], second["attempts"], second["locked_by"]) == (job_id, 2, "healthy")
    assert "lease of dying expired" in second["last_error"]
    assert finish(worker, "complete_job", first, "dying") is False
    assert finish(worker, "fail_job", first, "dying", "late") is None
    assert finish(worker, "complete_job", second, "healthy") is True


def test_backoff_follows_the_schedule_then_the_job_is_dead(
        app: pliersdb.Database, seeded: World, worker: psycopg.Connection[Any]) -> None:
    k = kind()
    with as_user(app, seeded) as t:
        job_id = t.jobs.enqueue(k, max_attempts=4)
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("UPDATE pliers.jobs SET backoff_base_seconds = 10, backoff_max_seconds = 30 "
                     "WHERE id = %s", (job_id,))
    # Delays: base * 2^(attempt - 1), capped at 30 s, jittered to [half, all].
    for attempt, full in ((1, 10), (2, 20), (3, 30)):
        [job] = claim(worker, [k])
        assert job["attempts"] == attempt
        assert finish(worker, "fail_job", job, "w1", f"boom {attempt}") == "queued"
        row = admin_job(seeded, job_id)
        assert (row["status"], row["last_error"]) == ("queued", f"boom {attempt}")
        assert timedelta(seconds=full / 2 - 1) <= row["wait"] <= timedelta(seconds=full)
        assert claim(worker, [k]) == []  # not before run_at
        with psycopg.connect(seeded.admin_dsn) as conn:
            conn.execute("UPDATE pliers.jobs SET run_at = now() WHERE id = %s", (job_id,))
    [last] = claim(worker, [k])
    assert finish(worker, "fail_job", last, "w1", "x" * 5000) == "dead"
    dead = admin_job(seeded, job_id)
    assert (dead["status"], dead["attempts"], len(dead["last_error"])) == ("dead", 4, 2000)
    assert claim(worker, [k]) == []
    with as_user(app, seeded) as t:
        retried = t.jobs.retry_dead(job_id)
        assert (retried.status, retried.attempts) == ("queued", 0)
    with pytest.raises(errors.InvalidTransition) as again, as_user(app, seeded) as t:
        t.jobs.retry_dead(job_id)
    assert again.value.detail["from"] == "queued"


def test_a_permanent_failure_is_dead_at_once_and_release_gives_the_attempt_back(
        app: pliersdb.Database, seeded: World, worker: psycopg.Connection[Any]) -> None:
    k = kind()
    with as_user(app, seeded) as t:
        kept, doomed = t.jobs.enqueue(k, {"n": 1}), t.jobs.enqueue(k, {"n": 2})
    jobs = {j["id"]: j for j in claim(worker, [k])}
    assert finish(worker, "fail_job", jobs[doomed], "w1", "no handler", False) == "dead"
    assert finish(worker, "release_job", jobs[kept]) is True
    row = admin_job(seeded, kept)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("queued", 0, None)


def test_retry_policy_of_a_workflow_and_defaults(seeded: World) -> None:
    acme = seeded.orgs["acme"]
    with psycopg.connect(seeded.admin_dsn, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT * FROM pliers._job_retry_policy(%s)",
            (Jsonb({"max_attempts": 7, "base_seconds": 5, "max_seconds": 60}),)).fetchall()
        assert rows == [{"max_attempts": 7, "base_seconds": 5, "max_seconds": 60}]
        rows = conn.execute("SELECT * FROM pliers._job_retry_policy(%s)",
                            (Jsonb({"max_attempts": "x", "base_seconds": 0}),)).fetchall()
        assert rows == [{"max_attempts": 5, "base_seconds": 2, "max_seconds": 3600}]
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT pliers.set_context(%s, %s)", (acme.id, acme.users["alice"]))
            made = conn.execute(
                "SELECT pliers._enqueue_job(%s, 'pliers.webhook', '{}', p_retry => %s) AS id",
                (acme.id, Jsonb({"max_attempts": 2, "base_seconds": 9}))).fetchone()
            assert made is not None
            job = conn.execute("SELECT * FROM pliers.jobs WHERE id = %s", (made["id"],)).fetchone()
            assert job is not None
            assert (job["max_attempts"], job["backoff_base_seconds"]) == (2, 9)


# Fairness --------------------------------------------------------------------------


def test_a_flooding_tenant_does_not_delay_another_tenant_beyond_the_bound(
        app: pliersdb.Database, seeded: World, worker: psycopg.Connection[Any]) -> None:
    """acme queues 20,000 jobs first; globex and initech one each, later. The claims
    serve the tenants with ready jobs in turn: with T tenants ready, a worker that passes
    the last tenant of its previous claim serves each within ceil(T / limit) claims
    (docs/jobs.md): here the first, then with a batch of one, within three."""
    k = kind()
    acme = seeded.orgs["acme"]
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute(
            "INSERT INTO pliers.jobs (organization_id, kind, run_at) "
            "SELECT %s, %s, now() - interval '1 hour' + g * interval '1 ms' "
            "FROM generate_series(1, 20000) AS g", (acme.id, k))
    with as_user(app, seeded, "globex") as t:
        late_globex = t.jobs.enqueue(k)
    with as_user(app, seeded, "initech") as t:
        late_initech = t.jobs.enqueue(k)
    first = claim(worker, [k], limit=3)
    assert {j["organization_id"] for j in first} == {
        acme.id, seeded.orgs["globex"].id, seeded.orgs["initech"].id}
    assert {late_globex, late_initech} <= {j["id"] for j in first}
    # Alone, the flooding tenant gets whole batches.
    second = claim(worker, [k], limit=50)
    assert len(second) == 50 and {j["organization_id"] for j in second} == {acme.id}
    # Oldest first within the tenant.
    assert [j["run_at"] for j in second] == sorted(j["run_at"] for j in second)
    # With more tenants ready than the batch, the bound is ceil(T / limit) claims.
    with as_user(app, seeded, "globex") as t:
        t.jobs.enqueue(k)
    with as_user(app, seeded, "initech") as t:
        waiting = t.jobs.enqueue(k)
    served: list[dict[str, Any]] = []
    for _ in range(3):
        served += claim(worker, [k], limit=1,
                        after=served[-1]["organization_id"] if served else None)
    assert waiting in {j["id"] for j in served}
    assert len({j["organization_id"] for j in served}) == 3
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("DELETE FROM pliers.jobs WHERE kind = %s", (k,))


# Operations ------------------------------------------------------------------------


def test_queue_status_and_purge(app: pliersdb.Database, seeded: World,
                                worker: psycopg.Connection[Any]) -> None:
    k = kind()
    with as_user(app, seeded) as t:
        t.jobs.enqueue(k)
        t.jobs.enqueue(k)
    status = worker.execute("SELECT * FROM pliers.job_queue_status()").fetchone()
    assert status is not None and status["ready"] >= 2 and status["tenants_ready"] >= 1
    assert status["oldest_ready_age"] is not None
    [job, other] = claim(worker, [k], limit=2)
    finish(worker, "complete_job", job)
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("UPDATE pliers.jobs SET finished_at = now() - interval '8 days' "
                     "WHERE kind = %s AND status = 'done'", (k,))
    row = worker.execute("SELECT pliers.purge_jobs() AS n").fetchone()
    assert row is not None and row["n"] >= 1
    with psycopg.connect(seeded.admin_dsn) as conn:
        left = conn.execute("SELECT id FROM pliers.jobs WHERE kind = %s", (k,)).fetchall()
    assert left == [(other["id"],)]
    with pytest.raises(psycopg.Error) as bad:
        worker.execute("SELECT * FROM pliers.claim_jobs('', 10)")
    assert bad.value.sqlstate == "PL009"
