"""The job worker (pliersdb.worker, ``pliersdb worker``) against a real database, as a
LOGIN role in pliers_worker: exactly once with workers racing, a worker killed mid-job
(its job claimed again after the lease), a graceful stop on SIGTERM, retries and
dead jobs, the built-in webhook handler against a local HTTP server.

Each test makes its own kinds, and its workers handle only those. Waits for another
process are bounded polls of the database, never timed assertions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

import pliersdb
from pliersdb import webhooks
from pliersdb.worker import PERIODIC, ClaimedJob, Periodic, PermanentError, Worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "worker", {
        "acme": {"users": {"alice": ["org_admin"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def worker_dsn(cluster: clusterlib.Cluster, seeded: World) -> Iterator[str]:
    dbname = psycopg.conninfo.conninfo_to_dict(seeded.admin_dsn)["dbname"]
    with appworld.login(cluster, "pliers_worker", "worker") as (role, password):
        yield cluster.dsn(str(dbname), user=role, password=password)


def kind() -> str:
    return f"test.w{uuid.uuid4().hex[:10]}"


def enqueue(seeded: World, k: str, count: int = 1, org: str = "acme",
            payload: dict[str, Any] | None = None) -> list[UUID]:
    """``count`` jobs through pliers._enqueue_job, as the superuser (one transaction)."""
    with psycopg.connect(seeded.admin_dsn) as conn:
        rows = conn.execute(
            "SELECT pliers._enqueue_job(%s, %s, %s) FROM generate_series(1, %s)",
            (seeded.orgs[org].id, k, Jsonb(payload or {}), count)).fetchall()
    return [r[0] for r in rows]


def jobs(seeded: World, k: str) -> list[dict[str, Any]]:
    with psycopg.connect(seeded.admin_dsn, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM pliers.jobs WHERE kind = %s ORDER BY created_at, id",
                            (k,)).fetchall()


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def worker(dsn: str, handlers: dict[str, Any], **options: Any) -> Worker:
    options.setdefault("poll_interval", 0.2)
    return Worker(dsn, handlers, builtins=False, periodic=(), **options)


def test_exactly_once_with_four_workers_racing(seeded: World, worker_dsn: str) -> None:
    k = kind()
    ids = enqueue(seeded, k, 400) + enqueue(seeded, k, 100, org="globex")
    seen: list[UUID] = []
    lock = threading.Lock()

    def handle(job: ClaimedJob) -> None:
        with lock:
            seen.append(job.id)

    workers = [worker(worker_dsn, {k: handle}, concurrency=3, batch=7) for _ in range(4)]
    threads = [threading.Thread(target=w.run, kwargs={"until_idle": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(seen)
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    rows = jobs(seeded, k)
    assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}
    assert sum(w.counters.done for w in workers) == 500
    assert all(w.counters.lost == 0 for w in workers)
    assert sum(1 for w in workers if w.counters.done) > 1  # they did race


def test_a_failure_is_retried_with_backoff_and_a_permanent_one_is_dead(
        seeded: World, worker_dsn: str) -> None:
    flaky, broken = kind(), kind()
    [flaky_id] = enqueue(seeded, flaky)
    [broken_id] = enqueue(seeded, broken)

    def fail(job: ClaimedJob) -> None:
        raise RuntimeError(f"boom {job.attempt}")

    def give_up(job: ClaimedJob) -> None:
        raise PermanentError("no such invoice")

    w = worker(worker_dsn, {flaky: fail, broken: give_up})
    counters = w.run(until_idle=True)
    assert (counters.retried, counters.dead) == (1, 1)
    [retried] = jobs(seeded, flaky)
    assert (retried["id"], retried["status"], retried["attempts"], retried["last_error"]) == (
        flaky_id, "queued", 1, "RuntimeError: boom 1")
    [dead] = jobs(seeded, broken)
    assert (dead["id"], dead["status"], dead["attempts"], dead["last_error"]) == (
        broken_id, "dead", 1, "PermanentError: no such invoice")
    # The last attempt makes it dead (dead-letter), and nothing claims it any more.
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("UPDATE pliers.jobs SET run_at = now(), attempts = max_attempts - 1 "
                     "WHERE id = %s", (flaky_id,))
    w.run(until_idle=True)
    [last] = jobs(seeded, flaky)
    assert (last["status"], last["attempts"], last["last_error"]) == (
        "dead", 5, "RuntimeError: boom 5")
    claimed = w.counters.claimed
    assert w.run(until_idle=True).claimed == claimed  # nothing left to claim


WORKER_SCRIPT = """
import sys, time
from datetime import timedelta
from pathlib import Path
from pliersdb.worker import Worker

marker = Path(sys.argv[3])

def slow(job):
    marker.write_text(str(job.id))
    time.sleep(float(sys.argv[4]))

w = Worker(sys.argv[1], {{sys.argv[2]: slow}}, builtins=False, periodic=(), poll_interval=0.2,
           lease=timedelta(seconds=2), name="sub-" + sys.argv[5])
w.install_signal_handlers()
counters = w.run()
print("done", counters.done, flush=True)
"""


def start_worker(tmp_path: Path, dsn: str, k: str, sleep: float, name: str
                 ) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "worker_script.py"
    script.write_text(textwrap.dedent(WORKER_SCRIPT).replace("{{", "{").replace("}}", "}"))
    marker = tmp_path / f"started-{name}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, str(script), dsn, k, str(marker), str(sleep), name],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, marker


def test_a_killed_worker_s_job_is_taken_by_another_after_the_lease(
        seeded: World, worker_dsn: str, tmp_path: Path) -> None:
    k = kind()
    [job_id] = enqueue(seeded, k)
    process, marker = start_worker(tmp_path, worker_dsn, k, 3600, "killed")
    try:
        wait_for(marker.exists, "the subprocess worker to start the job")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    [running] = jobs(seeded, k)
    assert (running["status"], running["locked_by"]) == ("running", "sub-killed")
    ran: list[int] = []
    healthy = worker(worker_dsn, {k: lambda job: ran.append(job.attempt)})
    # Claimed again only once its lease (2 s) has ended.
    wait_for(lambda: bool(healthy.run(until_idle=True).done), "the job to be claimed again")
    [done] = jobs(seeded, k)
    assert (done["id"], done["status"], done["attempts"], ran) == (job_id, "done", 2, [2])
    assert "lease of sub-killed expired" in done["last_error"]


def test_sigterm_lets_the_running_job_finish(seeded: World, worker_dsn: str,
                                             tmp_path: Path) -> None:
    k = kind()
    [job_id] = enqueue(seeded, k)
    process, marker = start_worker(tmp_path, worker_dsn, k, 2, "graceful")
    try:
        wait_for(marker.exists, "the subprocess worker to start the job")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "done 1"
    assert "stopping, waiting for 1 running job(s)" in err
    [done] = jobs(seeded, k)
    assert (done["id"], done["status"], done["attempts"]) == (job_id, "done", 1)


def test_long_jobs_keep_their_lease(seeded: World, worker_dsn: str) -> None:
    k = kind()
    enqueue(seeded, k)
    taken: list[int] = []
    other = worker(worker_dsn, {k: lambda job: taken.append(job.attempt)})

    def slow(job: ClaimedJob) -> None:
        # Longer than two leases: the heartbeat extends it, nobody else claims it.
        for _ in range(3):
            time.sleep(2.5)
            other.run(until_idle=True)

    # Extended every second; it would need to be 2 s late for the lease to end.
    w = worker(worker_dsn, {k: slow}, lease=timedelta(seconds=3))
    assert w.run(until_idle=True).done == 1
    assert taken == [] and other.counters.claimed == 0


# pliers.webhook -----------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, dict(self.headers), body))
        self.send_response(204 if self.path == "/ok" else 500)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def add_webhook(seeded: World, url: str, events: list[str], org: str = "acme") -> UUID:
    keyring = webhooks.Keyring.parse(f"t:{webhooks.Keyring.generate_key()}")
    tenant = seeded.orgs[org]
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=1) as db, \
            db.tenant(tenant.id, next(iter(tenant.users.values()))) as t:
        return webhooks.create_webhook(t, "test", url, events, webhooks.new_secret(), keyring)


def test_webhook_posts_the_payload_to_the_subscribed_webhooks(
        seeded: World, worker_dsn: str, receiver: str) -> None:
    event = f"review.{uuid.uuid4().hex[:8]}"
    add_webhook(seeded, f"{receiver}/ok", [event])
    add_webhook(seeded, f"{receiver}/other", ["something.else"])
    add_webhook(seeded, f"{receiver}/globex", [event], org="globex")
    payload = {"event": event, "execution": str(uuid.uuid4()), "state": "approved"}
    [job_id] = enqueue(seeded, "pliers.webhook", payload=payload)
    w = Worker(worker_dsn, kinds=["pliers.webhook"], periodic=(), poll_interval=0.2,
               allow_private_addresses=True)
    assert w.run(until_idle=True).done == 1
    [(path, headers, body)] = Receiver.received
    assert path == "/ok" and json.loads(body) == payload
    assert headers["X-Pliers-Event"] == event and headers["Idempotency-Key"] == str(job_id)


def test_webhook_failures_are_retried_and_private_addresses_refused(
        seeded: World, worker_dsn: str, receiver: str) -> None:
    failing, private = f"fail.{uuid.uuid4().hex[:8]}", f"priv.{uuid.uuid4().hex[:8]}"
    add_webhook(seeded, f"{receiver}/fail", [failing])
    add_webhook(seeded, f"{receiver}/ok", [private])
    [failed_id] = enqueue(seeded, "pliers.webhook", payload={"event": failing})
    allowed = Worker(worker_dsn, kinds=["pliers.webhook"], periodic=(), poll_interval=0.2,
                     allow_private_addresses=True)
    assert allowed.run(until_idle=True).retried == 1
    with psycopg.connect(seeded.admin_dsn) as conn:  # not retried during this test
        conn.execute("UPDATE pliers.jobs SET run_at = now() + interval '1 hour' WHERE id = %s",
                     (failed_id,))
    [private_id] = enqueue(seeded, "pliers.webhook", payload={"event": private})
    strict = Worker(worker_dsn, kinds=["pliers.webhook"], periodic=(), poll_interval=0.2)
    assert strict.run(until_idle=True).dead == 1
    with psycopg.connect(seeded.admin_dsn, row_factory=dict_row) as conn:
        rows = {r["id"]: r for r in conn.execute(
            "SELECT id, status, last_error FROM pliers.jobs WHERE id = ANY(%s)",
            ([failed_id, private_id],)).fetchall()}
    assert rows[failed_id]["status"] == "queued" and "HTTP 500" in rows[failed_id]["last_error"]
    assert rows[private_id]["status"] == "dead"
    assert "not a public address" in rows[private_id]["last_error"]
    assert [p for p, _, _ in Receiver.received] == ["/fail"]


def test_status_and_the_command_line(seeded: World, worker_dsn: str) -> None:
    w = Worker(worker_dsn, periodic=())
    status = w.status()
    assert set(status["queue"]) >= {"queued", "ready", "running", "dead", "oldest_ready_age"}
    usage = subprocess.run([sys.executable, "-m", "pliersdb", "worker", "--help"],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "--concurrency" in usage.stdout and "pliers_worker" in usage.stdout


def test_periodic_maintenance_runs_what_exists(seeded: World, worker_dsn: str) -> None:
    """PERIODIC: the workflow sweeps are called when they exist, purge_jobs here."""
    k = kind()
    [old] = enqueue(seeded, k)
    with psycopg.connect(seeded.admin_dsn) as conn:
        conn.execute("UPDATE pliers.jobs SET status = 'done', finished_at = now() - "
                     "interval '8 days' WHERE id = %s", (old,))
    missing = Periodic("no_such_sweep", "pliers.no_such_sweep(integer)", (1,), 1.0)
    w = Worker(worker_dsn, {k: lambda job: None}, builtins=False, poll_interval=0.2,
               periodic=(missing, *PERIODIC))
    w.run(until_idle=True)
    assert jobs(seeded, k) == []
