"""The job queue of a tenant, ``session.jobs`` (sql/62-jobs.sql, docs/jobs.md).

    with db.tenant(org_id, user_id) as t:
        job_id = t.jobs.enqueue("invoice.send", {"invoice": 42}, idempotency_key="invoice-42")
        t.jobs.get(job_id).status          # 'queued' until a worker runs it

A job enqueued in a transaction exists only if that transaction commits (a
transactional outbox): enqueue it in the same ``with`` block as the change it follows.
Workers (``pliersdb.worker.Worker``, role pliers_worker) run it after the commit,
retry it with exponential backoff, and mark it dead after its last attempt;
``retry_dead`` queues a dead job again. Each method is one call of the SQL API
(``workflow.execute`` to enqueue, ``workflow.view`` to read, ``workflow.manage`` to retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from pliersdb._api import Api, Call, S, api, record, records, value
from pliersdb._records import given

__all__ = ["Job", "JobStatus", "Jobs"]

JobStatus = Literal["queued", "running", "done", "dead"]


@dataclass(frozen=True)
class Job:
    """A row of ``pliers.jobs``.

    ``status``: queued (waiting for ``run_at``), running (``locked_by`` holds a lease
    until ``locked_until``), done, dead. ``attempts`` counts the attempts started;
    ``last_error`` is the last failure (2,000 characters at most).
    """

    id: UUID
    organization_id: UUID
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    backoff_base_seconds: int
    backoff_max_seconds: int
    run_at: datetime
    locked_by: str | None
    locked_until: datetime | None
    last_error: str | None
    idempotency_key: str | None
    execution_id: UUID | None
    submission_id: UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Jobs(Api[S]):
    """The jobs of one tenant session (``session.jobs``)."""

    @api
    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None, *,
                idempotency_key: str | None = None, run_at: datetime | None = None,
                max_attempts: int | None = None) -> Call[UUID]:
        """Enqueue an application job (``pliers.enqueue_job``) in this transaction; its id.

        ``kind`` names the handler (``^[a-z][a-z0-9_.-]{0,99}$``, not ``pliers.*``);
        ``payload`` a JSON object (64 kB at most). With ``idempotency_key``, a job that
        already has the key (whatever its status, until purged) is returned instead and
        nothing is added. ``run_at`` delays it; ``max_attempts`` (1-100, default 5).
        """
        return value("enqueue_job", kind=kind, payload=Jsonb(dict(payload or {})),
                     **given(idempotency_key=idempotency_key, run_at=run_at,
                             max_attempts=max_attempts))

    @api
    def get(self, job_id: UUID) -> Call[Job]:
        """One job of the tenant (``NotFound`` if none)."""
        return record(Job, "get_job", job_id=job_id)

    @api
    def retry_dead(self, job_id: UUID) -> Call[Job]:
        """Queue a dead job again, now, with all its attempts (``InvalidTransition`` if
        it is not dead)."""
        return record(Job, "retry_dead_job", job_id=job_id)

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self, *, status: JobStatus | None = None, kind: str | None = None,
             limit: int = 50, before: Job | None = None) -> Call[list[Job]]:
        """The tenant's jobs, newest first (``pliers.list_jobs``); ``before``: the last
        job of the previous page (keyset paging)."""
        return records(Job, "list_jobs", limit=limit,
                       **given(status=status, kind=kind,
                               before_created_at=before.created_at if before else None,
                               before_id=before.id if before else None))
