"""The job worker: runs the jobs of ``pliers.jobs`` (sql/62-jobs.sql, docs/jobs.md).

    from pliersdb.worker import Worker

    def send_invoice(job):                 # job: a ClaimedJob
        mail(job.payload["invoice"])       # an exception: retried with backoff

    Worker(dsn, {"invoice.send": send_invoice}, concurrency=4).run()

or ``pliersdb worker --dsn ...`` for the built-in handlers alone. The DSN is a login
role in pliers_worker. The worker claims batches of the kinds it has handlers for
(``pliers.claim_jobs``, fair between tenants), runs each in a thread of its own,
completes or fails it (``complete_job``, ``fail_job``: retried with exponential
backoff, dead after its last attempt; ``PermanentError`` makes it dead at once), and
extends the leases of running jobs (a killed worker's jobs are claimed again when
their lease ends). It sleeps on ``LISTEN pliers_jobs`` (a hint sent when a job is
enqueued), polling as well, calls the periodic maintenance functions that exist
(``PERIODIC``: workflow timeouts and schedules, purge), prints a status line, and
stops gracefully on SIGTERM or SIGINT: it claims no more, lets running jobs finish
(a second signal: it exits at once, and their leases expire).

Built-in handler: ``pliers.webhook`` (``deliver_webhook``): POSTs the job's payload
to the tenant's active webhooks subscribed to its event.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

__all__ = [
    "PERIODIC",
    "ClaimedJob",
    "Handler",
    "Periodic",
    "PermanentError",
    "UnsafeAddress",
    "Worker",
    "deliver_webhook",
]

logger = logging.getLogger("pliersdb.worker")

CHANNEL = "pliers_jobs"


class PermanentError(Exception):
    """Raised by a handler: the job cannot succeed by retrying; it is dead at once."""


class UnsafeAddress(PermanentError):
    """A webhook URL resolves to a private, loopback, link-local or reserved address."""


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds: what its handler receives.

    ``attempt`` is this attempt's number (1 for the first); the lease is
    (``id``, the worker's name, ``attempt``). ``worker`` is the Worker running it.
    """

    organization_id: UUID
    id: UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    execution_id: UUID | None
    submission_id: UUID | None
    locked_until: datetime
    worker: Worker = field(repr=False, compare=False)


Handler = Callable[[ClaimedJob], object]


@dataclass(frozen=True)
class Periodic:
    """A maintenance function the worker calls every ``every`` seconds if it exists:
    ``SELECT pliers.<function>(<args>)``; ``signature`` is its regprocedure."""

    function: str
    signature: str
    args: tuple[Any, ...]
    every: float


# Called when they exist: the workflow engine's sweeps (sql/64) and the queue's purge.
# Add to a Worker's ``periodic`` list for more.
PERIODIC: tuple[Periodic, ...] = (
    Periodic("fire_workflow_timeouts", "pliers.fire_workflow_timeouts(integer)", (100,), 5.0),
    Periodic("fire_workflow_schedules", "pliers.fire_workflow_schedules(integer)", (100,), 15.0),
    Periodic("purge_jobs", "pliers.purge_jobs(interval, interval, integer)",
             (timedelta(days=7), timedelta(days=30), 10000), 3600.0),
)


def _cross_tenant(conn: psycopg.Connection[Any]) -> None:
    """The worker reads across tenants by design (the due jobs, leases and timeouts of
    every tenant, one bounded read each; its writes name one tenant). On Citus, a login
    whose settings turn multi-shard statements into errors, as an application's should,
    would refuse those reads: the worker's connections allow them. Nothing on a server
    without Citus (the setting does not exist there)."""
    conn.execute("SELECT pg_catalog.set_config('citus.multi_task_query_log_level', 'off', false)"
                 " WHERE pg_catalog.current_setting('citus.multi_task_query_log_level', true)"
                 " IS NOT NULL")


def default_name() -> str:
    """host:pid:random, unique per process (a lease names its worker)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Counters:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # complete/fail refused: the lease had been taken over


class Worker:
    """Runs jobs of ``pliers.jobs`` with ``handlers`` (kind -> callable(ClaimedJob)).

    ``concurrency`` jobs at once (threads); claims of at most ``batch`` (default:
    the free slots); leases of ``lease``, extended every third of it while a job runs;
    ``kinds`` restricts the kinds claimed (default: every kind with a handler);
    ``poll_interval`` seconds between claims when no notification comes;
    ``allow_private_addresses`` lets ``pliers.webhook`` post to private networks
    (tests, an internal receiver); ``status_every`` seconds between status lines on
    ``out`` (0: none). The built-in handlers are added unless ``builtins`` is False.
    """

    def __init__(self, dsn: str, handlers: Mapping[str, Handler] | None = None, *,
                 concurrency: int = 4, batch: int | None = None,
                 lease: timedelta = timedelta(seconds=60),
                 kinds: Sequence[str] | None = None, name: str | None = None,
                 poll_interval: float = 5.0, periodic: Sequence[Periodic] = PERIODIC,
                 allow_private_addresses: bool = False,
                 webhook_timeout: tuple[float, float] = (5.0, 10.0),
                 status_every: float = 0.0, out: TextIO | None = None,
                 builtins: bool = True) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.dsn = dsn
        self.handlers: dict[str, Handler] = {}
        if builtins:
            self.handlers["pliers.webhook"] = deliver_webhook
        self.handlers.update(handlers or {})
        self.kinds = sorted(kinds if kinds is not None else self.handlers)
        missing = [k for k in self.kinds if k not in self.handlers]
        if missing:
            raise ValueError(f"no handler for kinds {missing}")
        if not self.kinds:
            raise ValueError("no kind to run: give handlers")
        self.concurrency = concurrency
        self.batch = batch
        self.lease = lease
        self.name = (name or default_name())[:200]
        self.poll_interval = poll_interval
        self.periodic = list(periodic)
        self.allow_private_addresses = allow_private_addresses
        self.webhook_timeout = webhook_timeout
        self.status_every = status_every
        self.out = out if out is not None else sys.stderr
        self.counters = Counters()
        self._stopping = threading.Event()
        self._freed = threading.Event()
        self._finished = threading.Event()  # run's jobs have all ended
        self._lock = threading.Lock()
        self._running: dict[UUID, ClaimedJob] = {}
        self._after_tenant: UUID | None = None
        self._next_periodic: dict[str, float] = {}
        self._pool: ConnectionPool | None = None

    # Life cycle -------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; ``run`` returns when the running jobs have finished."""
        self._stopping.set()
        self._freed.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop gracefully; a second one exits at once."""
        def handle(signum: int, frame: FrameType | None) -> None:
            if self._stopping.is_set():
                self.out.write(f"worker {self.name}: second signal, exiting now; the "
                               "leases of running jobs will expire\n")
                self.out.flush()
                os._exit(1)
            self.out.write(f"worker {self.name}: stopping, waiting for "
                           f"{len(self._running)} running job(s)\n")
            self.out.flush()
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self, *, until_idle: bool = False) -> Counters:
        """Claim and run jobs until ``stop()`` (or a signal), or with ``until_idle``
        until a claim finds nothing and no job runs. Returns the counters."""
        self._stopping.clear()
        self._finished.clear()
        with ConnectionPool(self.dsn, min_size=1, max_size=self.concurrency + 2,
                            kwargs={"autocommit": True}, configure=_cross_tenant,
                            open=True) as pool, \
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="pliers-job") as threads:
            self._pool = pool
            listener = self._listen()
            heartbeat = threading.Thread(target=self._heartbeat, daemon=True,
                                         name="pliers-job-lease")
            heartbeat.start()
            last_status = time.monotonic()
            try:
                while not self._stopping.is_set():
                    try:
                        self._run_periodic(pool)
                        claimed = self._claim_and_submit(pool, threads)
                        if self.status_every and \
                                time.monotonic() - last_status >= self.status_every:
                            self.print_status(pool)
                            last_status = time.monotonic()
                        if until_idle and not claimed and not self._running:
                            break
                        if claimed and self._free_slots() > 0:
                            continue  # there may be more ready now
                        self._wait(listener)
                    except (psycopg.OperationalError, PoolTimeout):
                        # The server restarted or the network failed: the pool reconnects;
                        # the listener is opened again; running jobs go on.
                        logger.exception("worker %s: database unavailable, retrying", self.name)
                        self._stopping.wait(self.poll_interval)
                        if listener.closed or listener.broken:
                            with contextlib.suppress(psycopg.OperationalError):
                                listener = self._listen()
            finally:
                self._stopping.set()
                threads.shutdown(wait=True)  # graceful: running jobs finish
                self._finished.set()
                heartbeat.join()
                listener.close()
                self._pool = None
        return self.counters

    def _listen(self) -> psycopg.Connection[Any]:
        """A connection listening to the channel of the wake-up hints."""
        listener = psycopg.connect(self.dsn, autocommit=True)
        listener.execute(f"LISTEN {CHANNEL}")
        return listener

    # Claiming and running ---------------------------------------------------------

    def _free_slots(self) -> int:
        with self._lock:
            return self.concurrency - len(self._running)

    def _claim_and_submit(self, pool: ConnectionPool, threads: ThreadPoolExecutor) -> int:
        free = self._free_slots()
        if free <= 0:
            return 0
        jobs = self.claim(pool, min(free, self.batch or free))
        for job in jobs:
            with self._lock:
                self._running[job.id] = job
            future: Future[None] = threads.submit(self._execute, pool, job)
            future.add_done_callback(lambda _: self._freed.set())
        return len(jobs)

    def claim(self, pool: ConnectionPool, limit: int) -> list[ClaimedJob]:
        """One ``pliers.claim_jobs`` of at most ``limit`` jobs, for this worker; the
        round robin over tenants continues after the last tenant served."""
        with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT * FROM pliers.claim_jobs(%s, %s, %s, %s, %s)",
                (self.name, limit, self.lease, self.kinds, self._after_tenant)).fetchall()
        if rows:
            self._after_tenant = rows[-1]["organization_id"]
        self.counters.claimed += len(rows)
        return [ClaimedJob(r["organization_id"], r["id"], r["kind"], r["payload"],
                           r["attempts"], r["max_attempts"], r["execution_id"],
                           r["submission_id"], r["locked_until"], self) for r in rows]

    def _execute(self, pool: ConnectionPool, job: ClaimedJob) -> None:
        try:
            self.handlers[job.kind](job)
        except PermanentError as exc:
            self._finish(pool, job, f"{type(exc).__name__}: {exc}", retry=False)
        except Exception as exc:  # any failure of a handler is the job's
            logger.info("job %s (%s) attempt %s failed: %r", job.id, job.kind, job.attempt, exc)
            self._finish(pool, job, f"{type(exc).__name__}: {exc}", retry=True)
        else:
            self._finish(pool, job, None, retry=False)
        finally:
            with self._lock:
                self._running.pop(job.id, None)

    def _finish(self, pool: ConnectionPool, job: ClaimedJob, error: str | None,
                retry: bool) -> None:
        lease = (job.organization_id, job.id, self.name, job.attempt)
        try:
            with pool.connection() as conn:
                if error is None:
                    row = conn.execute("SELECT pliers.complete_job(%s, %s, %s, %s)",
                                       lease).fetchone()
                    outcome = "done" if row and row[0] else None
                else:
                    row = conn.execute("SELECT pliers.fail_job(%s, %s, %s, %s, %s, %s)",
                                       (*lease, error, retry)).fetchone()
                    outcome = row[0] if row else None
        except psycopg.Error:
            # The lease stays until it expires; the job is then run again.
            logger.exception("job %s: could not record its outcome", job.id)
            return
        if outcome == "done":
            self.counters.done += 1
        elif outcome == "queued":
            self.counters.retried += 1
        elif outcome == "dead":
            self.counters.dead += 1
        else:
            self.counters.lost += 1
            logger.warning("job %s: lease lost before its outcome was recorded", job.id)

    def _heartbeat(self) -> None:
        """Extends the leases of running jobs every third of a lease."""
        every = max(self.lease.total_seconds() / 3, 0.5)
        while not self._finished.wait(every):
            pool = self._pool
            if pool is None:
                return
            with self._lock:
                running = list(self._running.values())
            for job in running:
                try:
                    with pool.connection() as conn:
                        conn.execute("SELECT pliers.extend_job_lease(%s, %s, %s, %s, %s)",
                                     (job.organization_id, job.id, self.name, job.attempt,
                                      self.lease))
                except psycopg.Error:
                    logger.exception("job %s: could not extend its lease", job.id)

    def _wait(self, listener: psycopg.Connection[Any]) -> None:
        """Until a notification, a freed slot, a stop, or the poll interval."""
        if self._free_slots() <= 0:
            self._freed.wait(self.poll_interval)
            self._freed.clear()
            return
        # Short waits, so that a stop or a freed slot is seen soon.
        deadline = time.monotonic() + self.poll_interval
        while not self._stopping.is_set() and time.monotonic() < deadline:
            for _ in listener.notifies(timeout=min(0.5, self.poll_interval), stop_after=1):
                # Drain what else came meanwhile: one claim serves them all.
                for _ in listener.notifies(timeout=0):
                    pass
                return

    # Periodic tasks, status ------------------------------------------------------

    def _run_periodic(self, pool: ConnectionPool) -> None:
        now = time.monotonic()
        for task in self.periodic:
            if self._next_periodic.get(task.function, 0.0) > now:
                continue
            self._next_periodic[task.function] = now + task.every
            try:
                with pool.connection() as conn:
                    found = conn.execute("SELECT pg_catalog.to_regprocedure(%s) IS NOT NULL",
                                         (task.signature,)).fetchone()
                    if not (found and found[0]):
                        continue
                    placeholders = ", ".join(["%s"] * len(task.args))
                    conn.execute(f"SELECT pliers.{task.function}({placeholders})", task.args)
            except psycopg.Error:
                logger.exception("periodic pliers.%s failed", task.function)

    def status(self, pool: ConnectionPool | None = None) -> dict[str, Any]:
        """``pliers.job_queue_status()`` (the whole queue) and this worker's counters."""
        def read(conn: psycopg.Connection[Any]) -> dict[str, Any]:
            with conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute("SELECT * FROM pliers.job_queue_status()").fetchone()
            return dict(row or {})

        if pool is not None:
            with pool.connection() as conn:
                queue = read(conn)
        else:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                queue = read(conn)
        return {"queue": queue, "worker": vars(self.counters).copy(),
                "running": len(self._running)}

    def print_status(self, pool: ConnectionPool | None = None) -> None:
        s = self.status(pool)
        q, c = s["queue"], s["worker"]
        age = q.get("oldest_ready_age")
        self.out.write(
            f"worker {self.name}: running {s['running']}/{self.concurrency}, "
            f"done {c['done']}, retried {c['retried']}, dead {c['dead']} | queue: "
            f"ready {q.get('ready')} (oldest {age.total_seconds() if age else 0:.1f}s), "
            f"running {q.get('running')}, dead {q.get('dead')}\n")
        self.out.flush()


# The built-in webhook handler ------------------------------------------------------------


def _check_address(host: str, port: int, allow_private: bool) -> None:
    """Refuse a host that resolves to an address that is not public (SSRF)."""
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise UnsafeAddress(f"{host} resolves to {address}, not a public address "
                                "(allow_private_addresses is off)")


def deliver_webhook(job: ClaimedJob) -> None:
    """``pliers.webhook``: POST the job's payload (JSON) to each active webhook of the
    tenant whose ``events`` contains ``payload["event"]``.

    Headers: the webhook's ``headers``, ``Content-Type: application/json``,
    ``X-Pliers-Event``, and ``X-Pliers-Job`` / ``Idempotency-Key`` (the job id:
    delivery is at least once, and a retry re-sends to every webhook). A non-2xx answer
    or a network error fails the attempt (retried); a webhook whose address is not public
    is skipped unless the worker's ``allow_private_addresses``, and when nothing else
    failed the job is dead (``UnsafeAddress``). Signing is issue 19's.
    """
    import httpx  # the worker's optional dependency (pliersdb[worker])

    event = job.payload.get("event")
    if not isinstance(event, str):
        raise PermanentError("a pliers.webhook job needs a string payload.event")
    worker = job.worker
    with psycopg.connect(worker.dsn, autocommit=True) as conn:
        hooks = conn.execute(
            "SELECT w.id, w.url, w.headers FROM pliers.webhooks AS w "
            "WHERE w.organization_id = %s AND w.is_active AND %s = ANY(w.events) ORDER BY w.id",
            (job.organization_id, event)).fetchall()
    body = json.dumps(job.payload, separators=(",", ":"), default=str).encode()
    connect, read = worker.webhook_timeout
    failures, refused = [], []
    with httpx.Client(timeout=httpx.Timeout(read, connect=connect),
                      follow_redirects=False) as client:
        for hook_id, url, headers in hooks:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                _check_address(parts.hostname or "", port, worker.allow_private_addresses)
            except UnsafeAddress as exc:
                refused.append(f"{hook_id}: {exc}")  # the others are still sent
                continue
            except ConnectionError as exc:
                failures.append(f"{hook_id}: {exc}")
                continue
            sent = {str(k): str(v) for k, v in (headers or {}).items()}
            sent.update({"Content-Type": "application/json", "X-Pliers-Event": event,
                         "X-Pliers-Job": str(job.id), "Idempotency-Key": str(job.id)})
            try:
                response = client.post(url, content=body, headers=sent)
            except httpx.HTTPError as exc:
                failures.append(f"{hook_id}: {type(exc).__name__}: {exc}")
                continue
            if not 200 <= response.status_code < 300:
                failures.append(f"{hook_id}: HTTP {response.status_code}")
    if failures:  # retried: every webhook is sent again (at least once)
        raise ConnectionError("; ".join(failures + refused))
    if refused:
        raise UnsafeAddress("; ".join(refused))
