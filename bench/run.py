"""pliersdb benchmarks: ratios measured in one run, against baselines, with pgbench.

    python bench/run.py [--quick] [--dsn URL] [--pg 15|18] [--scale small|large]

Starts a throwaway PostgreSQL (the system's 15, or with --pg 18 the embedded 18) or
uses --dsn (a superuser), builds data sets through the stored-procedure API, runs the
workloads of bench/*.sql with the server's own pgbench, and prints one line per figure:
name, value, target, met or missed. bench/README.md explains the figures. A run at
--scale large (or with --record) appends its results to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import queue
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # run from a clone without installing pliersdb
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway-server harness, tests/pgcluster.py

import pgcluster as cluster  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

import pliersdb  # noqa: E402
from pliersdb.migrate import Migrator  # noqa: E402

APP_ROLE = "pliers_bench_app"
LARGE_SHARE = 0.4  # of the submissions, in the one large organization
LARGE_FORMS = 6
FORMS_PER_ORG = 2
BATCH = 5000  # rows per bulk-import transaction when building data sets
CURSORS = 2000
CLIENTS = 8

# The throwaway server: tests/pgcluster.py's options plus what profiling and the
# feed need. fsync and synchronous_commit are off (these figures are CPU-bound ratios,
# not disk benchmarks) through ALTER SYSTEM, not the command line, so that the durable
# variant of figure 1 can turn them on with a reload.
SERVER_OPTIONS = (
    "-c full_page_writes=on -c max_connections=200 -c shared_buffers=1GB "
    "-c max_locks_per_transaction=256 -c max_wal_size=8GB -c checkpoint_timeout=30min "
    "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000 "
    "-c pg_stat_statements.track_planning=on "
    "-c track_io_timing=on -c track_commit_timestamp=on"
)
FAST = {"fsync": "off", "synchronous_commit": "off"}


# ---------------------------------------------------------------------------
# Plans: how big, how long
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    name: str
    sizes: tuple[int, int]  # submissions in the small and the large data set
    orgs: int
    seconds: int  # one pgbench run (pgbench -T takes whole seconds)
    rounds: int
    storage_per_client: int  # API submissions per client for figure 5
    bulk_rows: int
    loop_rows: int  # create_submission loop of figure 4 (rates are compared)
    uuid_rows: int  # one-shot insert of the ID-locality benchmark
    feed_seconds: float


PLANS = {
    "quick": Plan("quick", (10_000, 100_000), 40, 2, 2, 250, 5_000, 1_000, 100_000, 3.0),
    "small": Plan("small", (10_000, 100_000), 40, 8, 3, 1_500, 50_000, 5_000, 500_000, 10.0),
    "large": Plan("large", (100_000, 1_000_000), 100, 10, 3, 3_000, 100_000, 10_000,
                  1_000_000, 20.0),
}


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: str  # "" for information only
    met: bool | None
    detail: str = ""

    def line(self) -> str:
        value = "n/a" if self.value is None else _fmt(self.value) + self.unit
        verdict = "info" if self.met is None else ("met" if self.met else "MISSED")
        target = self.target or "-"
        return f"{self.name:<52} {value:>12}  target {target:<8} {verdict:<6} {self.detail}"


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"  # a ratio: 1.304 is not within "<= 1.3"


def at_least(value: float, target: float) -> bool:
    return value >= target


def at_most(value: float, target: float) -> bool:
    return value <= target


# ---------------------------------------------------------------------------
# Server and databases
# ---------------------------------------------------------------------------


@dataclass
class Server:
    """A superuser connection target, the app login, and the client binaries."""

    conninfo: dict[str, Any]
    bin_dir: Path
    throwaway: cluster.Cluster | None = None
    app_password: str = field(default_factory=lambda: secrets.token_hex(12))
    version: str = ""
    databases: list[str] = field(default_factory=list)
    created_role: bool = False

    def dsn(self, dbname: str, app: bool = False) -> str:
        params = dict(self.conninfo, dbname=dbname)
        if app:
            params.update(user=APP_ROLE, password=self.app_password)
        return make_conninfo(**params)

    def connect(self, dbname: str, app: bool = False, autocommit: bool = True
                ) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.dsn(dbname, app), autocommit=autocommit)

    def env(self, dbname: str, app: bool) -> dict[str, str]:
        params = dict(self.conninfo, dbname=dbname)
        if app:
            params.update(user=APP_ROLE, password=self.app_password)
        env = dict(os.environ)
        for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"),
                         ("password", "PGPASSWORD"), ("dbname", "PGDATABASE"),
                         ("sslmode", "PGSSLMODE")):
            if params.get(key) not in (None, ""):
                env[var] = str(params[key])
        return env

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def start_throwaway(bin_dir: Path) -> cluster.Cluster:
    """pgcluster.start with the benchmark's server options."""
    user = cluster._os_user()
    if user is not None:
        cluster._open_to(bin_dir)
        cluster._open_to(bin_dir.parent / "lib")
    root = Path(tempfile.mkdtemp(prefix="pliersdb-bench-"))
    root.chmod(0o755)
    password = secrets.token_hex(8)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if user is not None:
        shutil.chown(root, user)
        shutil.chown(pwfile, user)
    data = root / "data"
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", cluster.SUPERUSER, "--pwfile",
         str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
         "--no-sync", "--locale=C"],
        check=True, capture_output=True, user=user,
    )
    port = cluster._free_port()
    options = f"-p {port} -h 127.0.0.1 -k {root} {SERVER_OPTIONS}"
    result = subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
         "-w", "-t", "60", "start"],
        capture_output=True, text=True, user=user,
    )
    if result.returncode != 0:
        text = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{text}")
    version = int((data / "PG_VERSION").read_text().strip())
    return cluster.Cluster(bin_dir, "127.0.0.1", port, password, cluster.SUPERUSER, root,
                           user, version)


def open_server(args: argparse.Namespace) -> Server:
    if args.dsn:
        params = conninfo_to_dict(args.dsn)
        server = Server(dict(params), cluster.system_bin_dir())
    else:
        if args.pg == "18":
            from pliersdb import server as embedded

            bin_dir = embedded.bin_dir()
        else:
            bin_dir = cluster.system_bin_dir()
        log(f"starting a throwaway PostgreSQL from {bin_dir}")
        throwaway = start_throwaway(bin_dir)
        params = conninfo_to_dict(throwaway.dsn())
        server = Server(dict(params), bin_dir, throwaway)
    with server.connect(str(server.conninfo.get("dbname") or "postgres")) as conn:
        row = conn.execute("SELECT current_setting('server_version'), "
                           "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
                           ).fetchone()
        assert row is not None
        server.version = str(row[0])
        if not row[1]:
            raise SystemExit("--dsn must name a superuser (baselines and data sets need one)")
    if server.throwaway is not None:
        set_durability(server, FAST)
    return server


def set_durability(server: Server, settings: dict[str, str]) -> None:
    """ALTER SYSTEM + reload (throwaway server only)."""
    with server.connect(admin_db(server)) as conn:
        for name, value in settings.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name),
                                                                    sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)
    with server.connect(admin_db(server)) as conn:
        for name, value in settings.items():
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            if row is None or row[0] != value:
                raise RuntimeError(f"{name} is {row[0] if row else None}, not {value}")


def admin_db(server: Server) -> str:
    return str(server.conninfo.get("dbname") or "postgres")


def create_database(server: Server, name: str, template: str | None = None) -> None:
    with server.connect(admin_db(server)) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server.databases.append(name)


def cleanup(server: Server, keep: bool) -> None:
    if keep:
        log(f"kept: {server.dsn(server.databases[0]) if server.databases else ''}")
        return
    if server.throwaway is not None:
        server.throwaway.stop()
        return
    with server.connect(admin_db(server)) as conn:
        for name in server.databases:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        if server.created_role:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(APP_ROLE)))


def run_sql_file(conn: psycopg.Connection[Any], path: Path) -> None:
    conn.execute(path.read_text())


# ---------------------------------------------------------------------------
# Data sets
# ---------------------------------------------------------------------------


def build_template(server: Server, name: str, plan: Plan) -> None:
    """Migrated database with the bench schema, organizations, users and published forms."""
    create_database(server, name)
    Migrator(server.dsn(name)).migrate()
    with server.connect(name) as conn:
        exists = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pliers_app").format(
                sql.Identifier(APP_ROLE), sql.Literal(server.app_password)))
            server.created_role = True
        else:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(server.app_password)))
        run_sql_file(conn, BENCH / "setup.sql")
        with contextlib.suppress(psycopg.Error):
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA bench")
        with contextlib.suppress(psycopg.Error):
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA bench")
        conn.execute("SELECT count(*) FROM pliers.run_maintenance()")
        # Organizations and users: no API creates them (sign-up is outside pliersdb).
        with conn.transaction():
            for n in range(1, plan.orgs + 1):
                org, admin = uuid.uuid4(), uuid.uuid4()
                members = [uuid.uuid4(), uuid.uuid4()]
                conn.execute("INSERT INTO pliers.organizations (id, slug, name) "
                             "VALUES (%s, %s, %s)", (org, f"bench-{n:04d}", f"Bench org {n}"))
                conn.execute(
                    "INSERT INTO pliers.users (organization_id, id, email, roles) VALUES "
                    "(%s, %s, %s, '{org_admin}'), (%s, %s, %s, '{member}'), "
                    "(%s, %s, %s, '{member}')",
                    (org, admin, f"admin@bench-{n}.example", org, members[0],
                     f"m1@bench-{n}.example", org, members[1], f"m2@bench-{n}.example"))
                conn.execute("INSERT INTO bench.orgs VALUES (%s, %s, %s, %s, %s)",
                             (n, org, admin, members, n == 1))
        orgs = conn.execute("SELECT n, organization_id, admin_id, member_ids, is_large "
                            "FROM bench.orgs ORDER BY n").fetchall()
    # Forms through the API, as the application would.
    target = 0
    with server.connect(name, app=True, autocommit=False) as app, \
            server.connect(name) as conn:
        for n, org, admin, members, is_large in orgs:
            for k in range(LARGE_FORMS if is_large else FORMS_PER_ORG):
                app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
                row = app.execute(
                    "SELECT id FROM pliers.create_form(%s, %s, bench.definition(%s))",
                    (f"Form {n}.{k}", f"form-{k}", f"Form {n}.{k}")).fetchone()
                assert row is not None
                app.execute("SELECT pliers.publish_form(%s, '1.0.0')", (row[0],))
                app.commit()
                target += 1
                conn.execute("INSERT INTO bench.targets VALUES (%s, %s, %s, %s, %s)",
                              (target, org, members[k % 2], row[0], is_large))
            # The 15-field form of the server-time figure.
            app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
            row = app.execute(
                "SELECT id FROM pliers.create_form(%s, 'wide', bench.wide_definition(%s))",
                (f"Wide {n}", f"Wide {n}")).fetchone()
            assert row is not None
            app.execute("SELECT pliers.publish_form(%s, '1.0.0')", (row[0],))
            app.commit()
            conn.execute("INSERT INTO bench.wide_targets VALUES (%s, %s, %s, %s)",
                         (n, org, members[0], row[0]))
        conn.execute("VACUUM ANALYZE")


def form_shares(server: Server, db: str, total: int) -> dict[uuid.UUID, int]:
    """How many submissions each form gets: LARGE_SHARE in the large organization."""
    with server.connect(db) as conn:
        rows = conn.execute("SELECT form_id, is_large FROM bench.targets ORDER BY n").fetchall()
    large = [r[0] for r in rows if r[1]]
    small = [r[0] for r in rows if not r[1]]
    shares: dict[uuid.UUID, int] = {}
    for forms, amount in ((large, int(total * LARGE_SHARE)),
                          (small, total - int(total * LARGE_SHARE))):
        for i, form in enumerate(forms):
            shares[form] = amount // len(forms) + (1 if i < amount % len(forms) else 0)
    return shares


def import_submissions(server: Server, db: str, counts: dict[uuid.UUID, int]) -> float:
    """Load submissions with the bulk path (pliers.import_submissions), as the
    application login, in batches, on as many connections as there are CPUs."""
    with server.connect(db) as conn:
        owners = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT t.form_id, o.organization_id, o.admin_id "
            "FROM bench.targets AS t JOIN bench.orgs AS o USING (organization_id)")}
    jobs: queue.Queue[tuple[uuid.UUID, int]] = queue.Queue()
    for form, count in counts.items():
        while count > 0:
            jobs.put((form, min(BATCH, count)))
            count -= BATCH
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with server.connect(db, app=True, autocommit=False) as app:
                while True:
                    try:
                        form, count = jobs.get_nowait()
                    except queue.Empty:
                        return
                    org, admin = owners[form]
                    app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
                    # Submitted over the last year (an import of history): distinct times,
                    # as single submissions have.
                    app.execute(
                        "SELECT count(*) FROM pliers.import_submissions(%s, ARRAY("
                        "SELECT ROW(bench.answer((random() * 1e12)::bigint), NULL, NULL, NULL,"
                        " NULL, NULL, NULL, now() - random() * interval '365 days')"
                        "::pliers.submission_import FROM generate_series(1, %s) AS g))",
                        (form, count))
                    app.commit()
        except BaseException as exc:
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(max(2, os.cpu_count() or 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.monotonic() - started


def make_cursors(server: Server, db: str) -> None:
    with server.connect(db) as conn:
        conn.execute("TRUNCATE bench.cursors")
        conn.execute(
            "INSERT INTO bench.cursors "
            "SELECT row_number() OVER (), s.organization_id, o.admin_id, s.form_id, s.created_at,"
            " s.id, jsonb_build_object('department', s.data -> 'department'),"
            " jsonb_build_object('email', s.data -> 'email') "
            "FROM (SELECT * FROM pliers.submissions ORDER BY random() LIMIT %s) AS s "
            "JOIN bench.orgs AS o USING (organization_id)", (CURSORS,))
        conn.execute("VACUUM ANALYZE")


def count_submissions(server: Server, db: str) -> int:
    with server.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM pliers.submissions").fetchone()
        assert row is not None
        return int(row[0])


# ---------------------------------------------------------------------------
# pgbench
# ---------------------------------------------------------------------------


@dataclass
class Result:
    tps: float
    latency_ms: float
    transactions: int


def script(name: str, variant: str = "", tag: str = "", table: str = "") -> str:
    """The text of bench/<name>.sql, as the variant wants it (see read_page.sql)."""
    text = (BENCH / name).read_text()
    if variant == "app":
        text = text.replace("/*@tenant*/ ", "")
    elif variant in ("owner", "owner_noctx"):
        text = text.replace("/*@tenant*/", "s.organization_id = :org AND")
    if variant == "owner_noctx":
        text = "\n".join(line for line in text.splitlines() if "-- @context" not in line) + "\n"
    # No colon in the tag: pgbench would take ":word" for a variable, even in a comment.
    text = text.replace("/*@tag*/", f"/* bench.{(tag or name).replace(':', '.')} */")
    return text.replace("@table", table) if table else text


class Bench:
    def __init__(self, server: Server, plan: Plan, workdir: Path) -> None:
        self.server = server
        self.plan = plan
        self.workdir = workdir
        self.counter = 0
        self.usage = IndexUsage(server)

    def pgbench(self, db: str, text: str, *, app: bool, defines: dict[str, Any] | None = None,
                seconds: float | None = None, per_client: int | None = None,
                clients: int = CLIENTS, options: str = "", protocol: str = "prepared",
                track: bool = False) -> Result:
        """One pgbench run; with ``track``, its index scans count in the index-usage table."""
        with self.usage.track(db) if track else contextlib.nullcontext():
            return self._pgbench(db, text, app=app, defines=defines, seconds=seconds,
                                 per_client=per_client, clients=clients, options=options,
                                 protocol=protocol)

    def _pgbench(self, db: str, text: str, *, app: bool, defines: dict[str, Any] | None,
                 seconds: float | None, per_client: int | None, clients: int, options: str,
                 protocol: str) -> Result:
        self.counter += 1
        path = self.workdir / f"script{self.counter}.sql"
        path.write_text(text)
        cmd = [self.server.tool("pgbench"), "-n", "-M", protocol, "-c", str(clients),
               "-j", str(min(clients, 2)), "-f", str(path)]
        if per_client is not None:
            cmd += ["-t", str(per_client)]
        else:
            cmd += ["-T", str(max(1, round(seconds or self.plan.seconds)))]
        for key, value in (defines or {}).items():
            cmd += ["-D", f"{key}={value}"]
        env = self.server.env(db, app)
        if options:
            env["PGOPTIONS"] = options
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        out = proc.stdout
        tps = re.search(r"^tps = ([0-9.]+)", out, re.M)
        lat = re.search(r"^latency average = ([0-9.]+) ms", out, re.M)
        done = re.search(r"^number of transactions actually processed: (\d+)", out, re.M)
        failed = re.search(r"^number of failed transactions: (\d+)", out, re.M)
        if proc.returncode != 0 or tps is None or (failed and int(failed.group(1)) > 0):
            raise RuntimeError(f"pgbench failed ({' '.join(cmd)}):\n{out}\n{proc.stderr[-3000:]}")
        return Result(float(tps.group(1)), float(lat.group(1)) if lat else 0.0,
                      int(done.group(1)) if done else 0)


# ---------------------------------------------------------------------------
# Figures 1 to 3: interleaved rounds
# ---------------------------------------------------------------------------


# The reads are not prepared (pgbench -M extended: parsed and planned with their values
# each time, as psycopg does with prepare_threshold=None). Prepared, PostgreSQL may switch
# a keyset query to a generic plan that reads a form's whole history plus a sort
# (RESULTS.md). Not plan_cache_mode = force_custom_plan either: that would also re-plan
# every statement inside the API's PL/pgSQL (set_context, list_submissions) on each call.
READ_PROTOCOL = "extended"


@dataclass
class Workload:
    key: str
    db: str
    text: str
    app: bool
    defines: dict[str, Any]
    options: str = ""
    protocol: str = "prepared"
    api: bool = False  # an API workload: its index scans count in the index-usage table


def rounds(bench: Bench, workloads: list[Workload], count: int) -> dict[str, list[float]]:
    """Run every workload once per round, in order (each subject right after its
    baseline); return the TPS of each workload, per round."""
    tps: dict[str, list[float]] = {w.key: [] for w in workloads}
    for r in range(count):
        for w in workloads:
            result = bench.pgbench(w.db, w.text, app=w.app, defines=w.defines,
                                   options=w.options, protocol=w.protocol, track=w.api)
            tps[w.key].append(result.tps)
            log(f"round {r + 1}/{count} {w.key}: {result.tps:,.0f} tps "
                f"({result.latency_ms:.2f} ms)")
    return tps


def paired(tps: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Median over rounds of numerator/denominator TPS (paired within a round)."""
    return statistics.median(a / b for a, b in zip(tps[numerator], tps[denominator],
                                                   strict=True))


def med(tps: dict[str, list[float]], key: str) -> float:
    return statistics.median(tps[key])


def statement_times(server: Server, db: str) -> dict[str, float]:
    """Mean planning + execution time (ms) of the tagged read statements, per tag and role
    (the API plans its query inside the execution of its call)."""
    try:
        with server.connect(db) as conn:
            rows = conn.execute(
                "SELECT replace(substring(s.query FROM '/\\* bench\\.([a-z_.]+) \\*/'), '.', ':'), "
                "r.rolname, "
                "sum(s.total_exec_time + s.total_plan_time) / nullif(sum(s.calls), 0) "
                "FROM bench.pg_stat_statements AS s JOIN pg_roles AS r ON r.oid = s.userid "
                "JOIN pg_database AS d ON d.oid = s.dbid "
                "WHERE d.datname = current_database() AND s.query LIKE '%%/* bench.%%' "
                "GROUP BY 1, 2").fetchall()
    except psycopg.Error:
        return {}
    return {f"{tag}:{'app' if role == APP_ROLE else 'super'}": float(ms)
            for tag, role, ms in rows if tag and ms is not None}


def reset_statements(server: Server, db: str) -> bool:
    try:
        with server.connect(db) as conn:
            conn.execute("SELECT bench.pg_stat_statements_reset()")
            conn.execute("SELECT pg_stat_reset()")
        return True
    except psycopg.Error:
        return False


def read_workloads(small: str, large: str, reads: tuple[str, ...]) -> list[Workload]:
    """For each read: the owner's hand-written query on the large data set, then the API
    (list_submissions) on the large and small ones, then the same SQL as the owner's
    under row-level security as the application login."""
    cursors = {"ncursors": CURSORS}
    w: list[Workload] = []
    for read in reads:
        name = f"read_{read}.sql"
        api = script(f"read_{read}_api.sql", tag=f"{read}:api")
        w += [
            Workload(f"{read}_owner_L", large, script(name, "owner", f"{read}:owner"),
                     False, cursors, protocol=READ_PROTOCOL),
            Workload(f"{read}_api_L", large, api, True, cursors, protocol=READ_PROTOCOL,
                     api=True),
            Workload(f"{read}_api_S", small, api, True, cursors, protocol=READ_PROTOCOL,
                     api=True),
            Workload(f"{read}_rls_L", large, script(name, "app", f"{read}:rls"), True,
                     cursors, protocol=READ_PROTOCOL),
        ]
    return w


def figures_1_to_3(bench: Bench, small: str, large: str, figures: list[Figure],
                   notes: dict[str, Any]) -> None:
    with bench.server.connect(large) as conn:
        row = conn.execute("SELECT count(*), count(*) FILTER (WHERE is_large) "
                           "FROM bench.targets").fetchone()
        assert row is not None
        n_targets, n_large = int(row[0]), int(row[1])
    everywhere = {"lo": 1, "hi": n_targets}
    one_form = {"lo": 1, "hi": 1}
    w = [
        Workload("bare", large, script("submit_bare.sql"), False, {}),
        Workload("api_many_S", small, script("submit_api.sql"), True, everywhere, api=True),
        Workload("api_many_L", large, script("submit_api.sql"), True, everywhere, api=True),
        Workload("api_one_L", large, script("submit_api.sql"), True, one_form, api=True),
        Workload("rows_L", large, script("submit_rows.sql"), False, everywhere),
    ]
    w += read_workloads(small, large, ("page", "filter", "search"))
    w.append(Workload("page_owner_noctx_L", large, script("read_page.sql", "owner_noctx",
                                                          "page:noctx"), False,
                      {"ncursors": CURSORS}, protocol=READ_PROTOCOL))
    profiled = reset_statements(bench.server, large) and reset_statements(bench.server, small)
    tps = rounds(bench, w, bench.plan.rounds)
    notes["tps"] = {k: med(tps, k) for k in tps}
    notes["n_large_targets"] = n_large

    def detail(*keys: str) -> str:
        return ", ".join(f"{k} {med(tps, k):,.0f} tps" for k in keys)

    value = paired(tps, "api_many_L", "bare")
    figures.append(Figure("1 submit, many orgs: API/bare throughput", value, "", ">= 0.10",
                          at_least(value, 0.10), detail("api_many_L", "bare")))
    value = paired(tps, "api_one_L", "bare")
    figures.append(Figure("1 submit, one form of one org: API/bare throughput", value, "",
                          ">= 0.08", at_least(value, 0.08), detail("api_one_L", "bare")))
    value = paired(tps, "api_many_L", "rows_L")
    figures.append(Figure("1 submit: API/the same rows written by hand", value, "", ">= 0.70",
                          at_least(value, 0.70),
                          detail("api_many_L", "rows_L") + " (submit_rows.sql)"))
    times_l = statement_times(bench.server, large) if profiled else {}
    times_s = statement_times(bench.server, small) if profiled else {}
    notes["statement_ms"] = {"large": times_l, "small": times_s}
    reads = (("page", "keyset page"), ("filter", "answer filter (1 in 8)"),
             ("search", "answer search (1 row)"))
    targets = {"page": 1.10}  # issue 13: the 50-row keyset page; the other reads: information
    for read, label in reads:
        value = paired(tps, f"{read}_owner_L", f"{read}_api_L")
        statement = ""
        app_ms = times_l.get(f"{read}:api:app")
        owner_ms = times_l.get(f"{read}:owner:super")
        if app_ms and owner_ms:
            statement = f"; statement alone {app_ms / owner_ms:.2f} ({app_ms:.3f} vs " \
                        f"{owner_ms:.3f} ms)"
        target = targets.get(read)
        figures.append(Figure(f"2 tenant cost, {label}: latency API/owner", value, "",
                              f"<= {target:.2f}" if target else "",
                              at_most(value, target) if target else None,
                              detail(f"{read}_api_L", f"{read}_owner_L") + statement))
    for read, label in reads:
        value = paired(tps, f"{read}_owner_L", f"{read}_rls_L")
        figures.append(Figure(f"2 RLS cost, {label}, raw SQL: latency app/owner", value, "",
                              "", None, detail(f"{read}_rls_L", f"{read}_owner_L")))
    value = paired(tps, "page_owner_noctx_L", "page_api_L")
    figures.append(Figure("2 API + set_context, keyset page: API/owner w/o ctx", value, "", "",
                          None, detail("page_api_L", "page_owner_noctx_L")))
    sizes = bench.plan.sizes
    scale = f"{sizes[1] // 1000:,}k vs {sizes[0] // 1000:,}k"
    value = paired(tps, "api_many_S", "api_many_L")
    figures.append(Figure(f"3 flat cost, submit: cost at {scale}", value, "", "", None,
                          detail("api_many_L", "api_many_S")))
    for read in ("page", "filter", "search"):
        value = paired(tps, f"{read}_api_S", f"{read}_api_L")
        extra = ""
        s_ms, l_ms = times_s.get(f"{read}:api:app"), times_l.get(f"{read}:api:app")
        if s_ms and l_ms:
            extra = f"; statement alone {l_ms / s_ms:.2f}"
        target = 1.25 if read == "filter" else None  # issue 13: the answer filter
        figures.append(Figure(f"3 flat cost, read {read} (API): cost at {scale}", value, "",
                              f"<= {target}" if target else "",
                              at_most(value, target) if target else None,
                              detail(f"{read}_api_L", f"{read}_api_S") + extra))


def figure_1_durable(bench: Bench, large: str, figures: list[Figure]) -> None:
    """Figure 1 again with fsync and synchronous_commit on: every commit waits for its WAL
    flush, as in production (the flush time is this machine's disk)."""
    server = bench.server
    if server.throwaway is None:
        return
    with server.connect(large) as conn:
        row = conn.execute("SELECT count(*) FROM bench.targets").fetchone()
        assert row is not None
        everywhere = {"lo": 1, "hi": int(row[0])}
    set_durability(server, {"fsync": "on", "synchronous_commit": "on"})
    try:
        tps = rounds(bench, [
            Workload("bare_durable", large, script("submit_bare.sql"), False, {}),
            Workload("api_many_durable", large, script("submit_api.sql"), True, everywhere),
        ], bench.plan.rounds)
    finally:
        set_durability(server, FAST)
    value = paired(tps, "api_many_durable", "bare_durable")
    figures.append(Figure("1 submit, many orgs, durable commits: API/bare", value, "", "",
                          None, f"api {med(tps, 'api_many_durable'):,.0f} tps, bare "
                          f"{med(tps, 'bare_durable'):,.0f} tps; fsync and synchronous_commit "
                          "on (this machine's disk)"))


# ---------------------------------------------------------------------------
# Figure 5: storage; figure 4: bulk import
# ---------------------------------------------------------------------------

# Every table of schema pliers (a partitioned table with its partitions): whatever the
# write path writes per submission (today submissions, events, audit_logs, form_counters,
# usage_counters) is counted, also a table that a redesign adds.
STORAGE_TABLES_SQL = """
SELECT c.oid::regclass::text FROM pg_class AS c
WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1
"""


PARTS_SQL = """
WITH t AS (
    SELECT relid FROM pg_partition_tree(%(rel)s::regclass) WHERE isleaf
    UNION ALL
    SELECT %(rel)s::regclass WHERE NOT EXISTS (SELECT FROM pg_partition_tree(%(rel)s::regclass))
)
SELECT 'heap', sum(pg_relation_size(t.relid)) FROM t
UNION ALL
SELECT 'toast', sum(pg_total_relation_size(t.relid) - pg_relation_size(t.relid)
                    - pg_indexes_size(t.relid)) FROM t
UNION ALL
SELECT coalesce(top.relname, ic.relname), sum(pg_relation_size(i.indexrelid))
FROM t
JOIN pg_index AS i ON i.indrelid = t.relid
JOIN pg_class AS ic ON ic.oid = i.indexrelid
LEFT JOIN pg_class AS top ON top.oid = pg_partition_root(i.indexrelid)
GROUP BY 1
"""


def relation_bytes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Bytes of each relation of the write path: heap, TOAST and each index (by the
    name of its partitioned parent), partitions summed."""
    sizes: dict[str, int] = {}
    for (parent,) in conn.execute(STORAGE_TABLES_SQL).fetchall():
        for part, size in conn.execute(PARTS_SQL, {"rel": parent}).fetchall():
            sizes[f"{parent.split('.')[1]}:{part}"] = int(size or 0)
    return sizes


def figure_5(bench: Bench, db: str, figures: list[Figure], notes: dict[str, Any]) -> None:
    server = bench.server
    with server.connect(db) as conn:
        conn.execute("CHECKPOINT")
        before = relation_bytes(conn)
        row = conn.execute("SELECT count(*) FROM bench.targets").fetchone()
        assert row is not None
        n_targets = int(row[0])
    bench.pgbench(db, script("submit_api.sql"), app=True, per_client=bench.plan.storage_per_client,
                  defines={"lo": 1, "hi": n_targets})
    with server.connect(db) as conn:
        conn.execute("CREATE TABLE bench.bare_storage (id uuid PRIMARY KEY "
                     "DEFAULT gen_random_uuid(), data jsonb NOT NULL)")
        conn.execute("INSERT INTO bench.bare_storage (data) SELECT data FROM pliers.submissions")
        conn.execute("VACUUM (ANALYZE) pliers.submissions, bench.bare_storage")
        after = relation_bytes(conn)
        row = conn.execute("SELECT count(*), pg_total_relation_size('bench.bare_storage'), "
                           "avg(pg_column_size(data)) FROM bench.bare_storage").fetchone()
        assert row is not None
        rows, bare_bytes, json_bytes = int(row[0]), int(row[1]), float(row[2])
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    api_per_row = sum(delta.values()) / rows
    bare_per_row = bare_bytes / rows
    value = api_per_row / bare_per_row
    tables: dict[str, int] = {}
    for key, size in delta.items():
        tables[key.split(":")[0]] = tables.get(key.split(":")[0], 0) + size
    parts = ", ".join(f"{k} {v / rows:,.0f}" for k, v in tables.items())
    notes["storage"] = {"rows": rows, "api_per_row": api_per_row, "bare_per_row": bare_per_row,
                        "json_bytes": json_bytes, "parts": parts,
                        "detail": {k: v / rows for k, v in delta.items()}}
    figures.append(Figure("5 storage: bytes per submission, API/bare", value, "", "<= 4.0",
                          at_most(value, 4.0),
                          f"{api_per_row:,.0f} vs {bare_per_row:,.0f} B/row over {rows:,} "
                          f"rows (answers {json_bytes:.0f} B); {parts}"))
    state = tables.get("submissions", 0) / rows
    figures.append(Figure("5 storage: the submissions table alone (heap, TOAST, indexes)/bare",
                          state / bare_per_row, "", "", None,
                          f"{state:,.0f} vs {bare_per_row:,.0f} B/row; the rest is history "
                          f"(events, audit_logs) and counters"))


def figure_4(bench: Bench, db: str, figures: list[Figure], notes: dict[str, Any]) -> None:
    server, plan = bench.server, bench.plan
    with server.connect(db) as conn:
        conn.execute("CREATE TABLE bench.raw_copy (id uuid PRIMARY KEY "
                     "DEFAULT gen_random_uuid(), data jsonb NOT NULL)")
        row = conn.execute("SELECT t.organization_id, o.admin_id, t.form_id FROM bench.targets "
                           "AS t JOIN bench.orgs AS o USING (organization_id) WHERE t.n = 1"
                           ).fetchone()
        assert row is not None
        org, admin, form = row
        lines: list[bytes] = []
        with conn.cursor().copy(
                f"COPY (SELECT bench.answer(g * 7919) FROM generate_series(1, {plan.bulk_rows:d})"
                " AS g) TO STDOUT") as copy:
            lines.extend(bytes(chunk) for chunk in copy)
    payload = b"".join(lines)

    def raw() -> float:
        with server.connect(db) as conn:
            started = time.monotonic()
            with conn.transaction(), conn.cursor().copy(
                    "COPY bench.raw_copy (data) FROM STDIN") as copy:
                copy.write(payload)
            return time.monotonic() - started

    def copy_rows(app: psycopg.Connection[Any], statement: str, rows: int,
                  batch: uuid.UUID | None) -> None:
        with app.cursor().copy(statement) as copy:
            for i, line in enumerate(payload.splitlines()[:rows], start=1):
                copy.write_row((batch, i, line.decode()) if batch else (i, line.decode()))

    def bulk() -> float:
        with server.connect(db, app=True, autocommit=False) as app:
            started = time.monotonic()
            app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
            app.execute("CREATE TEMPORARY TABLE staging (line bigint, "
                        "LIKE pliers.submission_import) ON COMMIT DROP")
            copy_rows(app, "COPY staging (line, data) FROM STDIN", plan.bulk_rows, None)
            app.execute("SELECT count(*) FROM pliers.import_submissions(%s, ARRAY("
                        "SELECT ROW(s.data, s.status, s.external_id, s.metadata, s.tags, s.source,"
                        " s.created_at, s.submitted_at)::pliers.submission_import"
                        " FROM staging AS s ORDER BY s.line))", (form,))
            app.commit()
            return time.monotonic() - started

    def loop() -> float:
        with server.connect(db, app=True, autocommit=False) as app:
            started = time.monotonic()
            app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
            app.execute("CREATE TEMPORARY TABLE rows (line bigint, data jsonb) ON COMMIT DROP")
            copy_rows(app, "COPY rows (line, data) FROM STDIN", plan.loop_rows, None)
            app.execute("SELECT count(*) FROM (SELECT data FROM rows ORDER BY line) AS s, "
                        "pliers.create_submission(%s, s.data, p_submit => TRUE) AS c", (form,))
            app.commit()
            return time.monotonic() - started

    raw_t: list[float] = []
    bulk_t: list[float] = []
    loop_t: list[float] = []
    for r in range(2):
        raw_t.append(raw())
        bulk_t.append(bulk())
        raw_t.append(raw())
        loop_t.append(loop())
        log(f"bulk round {r + 1}/2: raw COPY {raw_t[-2]:.2f}s/{raw_t[-1]:.2f}s, "
            f"import {bulk_t[-1]:.2f}s ({plan.bulk_rows:,} rows), "
            f"create_submission loop {loop_t[-1]:.2f}s ({plan.loop_rows:,} rows)")
    raw_rate = plan.bulk_rows / statistics.median(raw_t)
    bulk_rate = plan.bulk_rows / statistics.median(bulk_t)
    loop_rate = plan.loop_rows / statistics.median(loop_t)
    notes["bulk"] = {"raw_rate": raw_rate, "bulk_rate": bulk_rate, "loop_rate": loop_rate}
    figures.append(Figure("4 bulk import, API (create_submission loop)/raw COPY",
                          loop_rate / raw_rate, "", "", None,
                          f"create_submission per row: {loop_rate:,.0f} rows/s in one "
                          f"transaction vs raw COPY {raw_rate:,.0f} rows/s "
                          f"({plan.loop_rows:,} vs {plan.bulk_rows:,} rows)"))
    figures.append(Figure("4 bulk import, pliers.import_submissions/raw COPY", bulk_rate /
                          raw_rate, "", ">= 0.25", at_least(bulk_rate / raw_rate, 0.25),
                          f"COPY to a temporary staging table + one validated set-based "
                          f"insert (pliers.import_submissions): {bulk_rate:,.0f} rows/s"))


# ---------------------------------------------------------------------------
# Figure 6: the change feed
# ---------------------------------------------------------------------------


def figure_6(bench: Bench, db: str, figures: list[Figure], notes: dict[str, Any]) -> None:
    server, plan = bench.server, bench.plan
    with server.connect(db) as conn:
        row = conn.execute("SELECT o.organization_id, o.admin_id, "
                           "(SELECT count(*) FROM bench.targets WHERE is_large) "
                           "FROM bench.orgs AS o WHERE o.is_large").fetchone()
        assert row is not None
        org, admin, n_large = row
        has_commit_ts = conn.execute("SHOW track_commit_timestamp").fetchone() == ("on",)
    lag_sql = ("extract(epoch FROM clock_timestamp() - pg_xact_commit_timestamp("
               "f.transaction_id::text::xid))" if has_commit_ts else
               "extract(epoch FROM clock_timestamp() - f.event_timestamp)")
    query = (f"SELECT f.transaction_id::text, f.position, {lag_sql} "
             "FROM pliers.read_feed(%s::xid8, %s, 1000) AS f")

    # The feed's reads and its writers are API workloads: their index scans count.
    with bench.usage.track(db), server.connect(db, app=True, autocommit=False) as app:
        # Catch-up: the large organization's backlog, from the start.
        cursor: tuple[str, int] = ("0", 0)
        read = 0
        started = time.monotonic()
        while time.monotonic() - started < plan.feed_seconds:
            app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
            rows = app.execute(query, cursor).fetchall()
            app.commit()
            if not rows:
                break
            read += len(rows)
            cursor = (rows[-1][0], rows[-1][1])
        catch_up = read / (time.monotonic() - started)
        # Live: jump to the end, then follow while writers submit to the large organization.
        with server.connect(db) as conn:
            end = conn.execute("SELECT e.transaction_id::text, e.position FROM pliers.events AS e "
                               "WHERE e.organization_id = %s ORDER BY e.transaction_id DESC, "
                               "e.position DESC LIMIT 1", (org,)).fetchone()
        cursor = (str(end[0]), int(end[1])) if end else ("0", 0)
        path = bench.workdir / "feed_writers.sql"
        path.write_text(script("submit_api.sql"))
        cmd = [server.tool("pgbench"), "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", "2",
               "-T", str(round(plan.feed_seconds)), "-f", str(path), "-D", "lo=1", "-D",
               f"hi={n_large}"]
        lags: list[float] = []
        writers = subprocess.Popen(cmd, env=server.env(db, True), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        live_read = 0
        while writers.poll() is None:
            app.execute("SELECT pliers.set_context(%s, %s)", (org, admin))
            rows = app.execute(query, cursor).fetchall()
            app.commit()
            if rows:
                live_read += len(rows)
                lags.extend(float(r[2]) for r in rows if r[2] is not None)
                cursor = (rows[-1][0], rows[-1][1])
            if len(rows) < 1000:
                time.sleep(0.02)
        elapsed = time.monotonic() - started
        out, err = writers.communicate()
    if writers.returncode != 0:
        raise RuntimeError(f"feed writers failed:\n{out}\n{err[-2000:]}")
    tps_match = re.search(r"^tps = ([0-9.]+)", out, re.M)
    appended = 2 * float(tps_match.group(1)) if tps_match else 0.0
    live = live_read / elapsed
    lags.sort()
    p50 = lags[len(lags) // 2] * 1000 if lags else 0.0
    p95 = lags[int(len(lags) * 0.95)] * 1000 if lags else 0.0
    notes["feed"] = {"catch_up": catch_up, "live": live, "appended": appended, "p50": p50,
                     "p95": p95, "commit_ts": has_commit_ts}
    figures.append(Figure("6 feed: events read/s while 8 writers submit", live, "/s", "", None,
                          f"writers appended ~{appended:,.0f} events/s (one org, "
                          f"{n_large} forms)"))
    basis = "commit" if has_commit_ts else "transaction start (no track_commit_timestamp)"
    figures.append(Figure("6 feed: lag, median", p50, " ms", "", None,
                          f"p95 {p95:.0f} ms; from {basis} to read; polling every 20 ms "
                          "when idle"))
    figures.append(Figure("6 feed: catch-up read rate (backlog)", catch_up, "/s", "", None,
                          "read_feed pages of 1000, one consumer"))


# ---------------------------------------------------------------------------
# ID locality: UUIDv4 vs time-ordered ids
# ---------------------------------------------------------------------------


def id_locality(bench: Bench, db: str, figures: list[Figure], notes: dict[str, Any]) -> None:
    server, plan = bench.server, bench.plan
    with server.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM bench.targets").fetchone()
        assert row is not None
        defines = {"lo": 1, "hi": int(row[0])}
    work = [Workload(t, db, script("ids_insert.sql", table=t), False, defines)
            for t in ("ids_v4", "ids_v7")]
    tps = rounds(bench, work, plan.rounds)
    one_shot: dict[str, dict[str, float]] = {}
    with server.connect(db) as conn:
        for kind, default, key in (("v4", "gen_random_uuid()", "organization_id, id"),
                                   ("v7", "bench.uuid_v7()", "organization_id, id"),
                                   ("v4_id", "gen_random_uuid()", "id"),
                                   ("v7_id", "bench.uuid_v7()", "id")):
            table = f"oneshot_{kind}"
            conn.execute(sql.SQL(
                "CREATE TABLE bench.{} (organization_id uuid NOT NULL, id uuid NOT NULL "
                "DEFAULT {}, created_at timestamptz NOT NULL DEFAULT now(), data jsonb NOT NULL, "
                "PRIMARY KEY ({}))").format(sql.Identifier(table), sql.SQL(default),
                                            sql.SQL(key)))
            conn.execute("CHECKPOINT")
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
            assert lsn is not None
            started = time.monotonic()
            conn.execute(sql.SQL(
                "INSERT INTO bench.{} (organization_id, data) "
                "SELECT o.ids[1 + g %% cardinality(o.ids)], bench.answer(g) "
                "FROM (SELECT array_agg(organization_id) AS ids FROM bench.orgs) AS o, "
                "generate_series(1, %s) AS g").format(sql.Identifier(table)), (plan.uuid_rows,))
            elapsed = time.monotonic() - started
            row = conn.execute(
                sql.SQL("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s), "
                        "pg_relation_size({})").format(
                    sql.Literal(f"bench.{table}_pkey")), (lsn[0],)).fetchone()
            assert row is not None
            density = None
            with contextlib.suppress(psycopg.Error):
                d = conn.execute("SELECT avg_leaf_density FROM bench.pgstatindex(%s)",
                                 (f"bench.{table}_pkey",)).fetchone()
                density = float(d[0]) if d else None
            one_shot[kind] = {"seconds": elapsed, "wal": float(row[0]), "index": float(row[1]),
                              "density": density or 0.0}
            log(f"one-shot {kind}: {plan.uuid_rows:,} rows in {elapsed:.2f}s, WAL "
                f"{float(row[0]) / 2**20:.0f} MiB, pkey {float(row[1]) / 2**20:.1f} MiB")
        sizes = {}
        for t in ("ids_v4", "ids_v7"):
            r2 = conn.execute(sql.SQL("SELECT pg_relation_size({}), (SELECT count(*) FROM {})")
                              .format(sql.Literal(f"bench.{t}_pkey"), sql.Identifier("bench", t))
                              ).fetchone()
            assert r2 is not None
            sizes[t] = float(r2[0]) / max(1, int(r2[1]))
    value = paired(tps, "ids_v7", "ids_v4")
    notes["ids"] = {"tps_v4": med(tps, "ids_v4"), "tps_v7": med(tps, "ids_v7"),
                    "one_shot": one_shot, "bytes_per_row": sizes}
    v4, v7 = one_shot["v4"], one_shot["v7"]
    g4, g7 = one_shot["v4_id"], one_shot["v7_id"]
    figures.append(Figure("7 ID locality: insert TPS, UUIDv7/UUIDv4 (8 clients)", value, "", "",
                          None, f"v4 {med(tps, 'ids_v4'):,.0f} tps, v7 {med(tps, 'ids_v7'):,.0f}"
                          f" tps; pkey {sizes['ids_v4']:.0f} vs {sizes['ids_v7']:.0f} B/row"))
    figures.append(Figure(f"7 ID locality: one-shot {plan.uuid_rows:,} rows, time v7/v4",
                          v7["seconds"] / v4["seconds"], "", "", None,
                          f"pkey {v4['index'] / 2**20:.1f} vs {v7['index'] / 2**20:.1f} MiB "
                          f"(leaf density {v4['density']:.0f}% vs {v7['density']:.0f}%), WAL "
                          f"{v4['wal'] / 2**20:.0f} vs {v7['wal'] / 2**20:.0f} MiB; key "
                          "(organization_id, id)"))
    figures.append(Figure("7 ID locality: same, key (id) alone, time v7/v4",
                          g7["seconds"] / g4["seconds"], "", "", None,
                          f"pkey {g4['index'] / 2**20:.1f} vs {g7['index'] / 2**20:.1f} MiB "
                          f"(leaf density {g4['density']:.0f}% vs {g7['density']:.0f}%), WAL "
                          f"{g4['wal'] / 2**20:.0f} vs {g7['wal'] / 2**20:.0f} MiB"))


# ---------------------------------------------------------------------------
# Index usage: the evidence for an index diet
# ---------------------------------------------------------------------------

# The tables the write path writes per submission, whose indexes it maintains.
INDEXED_TABLES = ("pliers.submissions", "pliers.events", "pliers.audit_logs")

# Scans per index, partitions summed under the partitioned index they belong to.
INDEX_SCANS_SQL = """
SELECT coalesce(pg_partition_root(s.indexrelid), s.indexrelid)::regclass::text,
       sum(s.idx_scan)::bigint, sum(s.idx_tup_read)::bigint
FROM pg_stat_user_indexes AS s
WHERE coalesce(pg_partition_root(s.relid), s.relid) = ANY (%s::regclass[])
GROUP BY 1
"""

INDEX_SIZES_SQL = """
SELECT coalesce(pg_partition_root(i.indexrelid), i.indexrelid)::regclass::text,
       coalesce(pg_partition_root(i.indrelid), i.indrelid)::regclass::text,
       sum(pg_relation_size(i.indexrelid))::bigint, bool_or(i.indisunique), bool_or(i.indisprimary)
FROM pg_index AS i
WHERE coalesce(pg_partition_root(i.indrelid), i.indrelid) = ANY (%s::regclass[])
GROUP BY 1, 2
"""


class IndexUsage:
    """idx_scan and idx_tup_read of the indexes of INDEXED_TABLES accumulated over the API
    workloads only (a snapshot before and after each, so that the baselines' scans of
    the same indexes, and resets of the statistics in between, do not count)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.scans: dict[str, list[int]] = {}
        self.workloads = 0

    def snapshot(self, db: str) -> dict[str, tuple[int, int]]:
        with self.server.connect(db) as conn:
            return {str(r[0]): (int(r[1] or 0), int(r[2] or 0))
                    for r in conn.execute(INDEX_SCANS_SQL, (list(INDEXED_TABLES),))}

    @contextlib.contextmanager
    def track(self, db: str) -> Iterator[None]:
        before = self.snapshot(db)
        yield
        time.sleep(0.2)  # the clients' backends flush their statistics as they exit
        for name, (scans, tuples) in self.snapshot(db).items():
            total = self.scans.setdefault(name, [0, 0])
            old = before.get(name, (0, 0))
            total[0] += max(0, scans - old[0])
            total[1] += max(0, tuples - old[1])
        self.workloads += 1

    def table(self, db: str) -> list[dict[str, Any]]:
        """Every index of INDEXED_TABLES: scans during the API workloads, size per row of
        its table in ``db`` (all partitions)."""
        with self.server.connect(db) as conn:
            sizes = conn.execute(INDEX_SIZES_SQL, (list(INDEXED_TABLES),)).fetchall()
            rows: dict[str, int] = {}
            for table in INDEXED_TABLES:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(*table.split(".")))).fetchone()
                rows[table] = int(row[0]) if row else 0
        out: list[dict[str, Any]] = []
        for index, table, size, unique, primary in sizes:
            scans, tuples = self.scans.get(str(index), [0, 0])
            out.append({"table": str(table), "index": str(index), "scans": scans,
                        "tuples": tuples, "bytes_per_row": int(size) / max(1, rows[str(table)]),
                        "unique": "primary key" if primary else ("unique" if unique else "")})
        out.sort(key=lambda r: (INDEXED_TABLES.index(r["table"]), -r["bytes_per_row"]))
        return out


def index_table_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"  {'index':<48} {'scans':>10} {'tuples read':>12} {'B/row':>7}  note"]
    for r in rows:
        note = "NEVER READ" if r["scans"] == 0 else ""
        if r["unique"]:
            note = f"{note} ({r['unique']}: enforces a constraint)".strip()
        lines.append(f"  {r['index'].removeprefix('pliers.'):<48} {r['scans']:>10,} "
                     f"{r['tuples']:>12,} {r['bytes_per_row']:>7,.0f}  {note}")
    return lines


# ---------------------------------------------------------------------------
# Figure 1: server time per submission (one client, the 15-field form), by part
# ---------------------------------------------------------------------------


def wide_script() -> str:
    """submit_api.sql on the 15-field forms (bench.wide_targets, bench.wide_answer)."""
    return (script("submit_api.sql").replace("bench.targets", "bench.wide_targets")
            .replace("bench.answer(", "bench.wide_answer("))


@dataclass
class Statement:
    role: str
    toplevel: bool
    calls: int
    ms: float  # execution + planning
    buffers: int
    query: str  # whitespace collapsed


def statements(conn: psycopg.Connection[Any], schema: str = "bench") -> list[Statement]:
    """pg_stat_statements of the current database (bench/context.py uses it too)."""
    rows = conn.execute(sql.SQL(
        "SELECT r.rolname, s.toplevel, s.calls, s.total_exec_time + s.total_plan_time, "
        "s.shared_blks_hit + s.shared_blks_read, regexp_replace(s.query, '\\s+', ' ', 'g') "
        "FROM {}.pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid "
        "JOIN pg_roles AS r ON r.oid = s.userid "
        "WHERE d.datname = current_database()").format(sql.Identifier(schema))).fetchall()
    return [Statement(str(r[0]), bool(r[1]), int(r[2]), float(r[3]), int(r[4]), str(r[5]))
            for r in rows]


def mean_us(rows: list[Statement], pattern: str, role: str | None = None) -> float | None:
    """Mean server time (execution + planning) per call, in µs, of the top-level
    statements whose text matches ``pattern`` (of ``role``, or of every role)."""
    match = [s for s in rows if s.toplevel and re.search(pattern, s.query)
             and (role is None or s.role == role)]
    calls = sum(s.calls for s in match)
    return sum(s.ms for s in match) * 1000 / calls if calls else None


def reset_statement_stats(server: Server, db: str) -> None:
    """pg_stat_statements only (pg_stat_reset would also reset the index scans)."""
    with server.connect(db) as conn:
        conn.execute("SELECT bench.pg_stat_statements_reset()")


CREATE_SUBMISSION = r"\bpliers\.create_submission\("


def submit_unit(conn: psycopg.Connection[Any], target: tuple[Any, Any, Any],
                answers: Jsonb) -> None:
    """The application's unit of work for one submission: BEGIN, set_context,
    create_submission(p_submit => true), COMMIT, a round trip each (psycopg prepares the
    statements after 5 uses): bench/latency.py compares it with the library's one call."""
    org, user, form = target
    with conn.transaction():
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        conn.execute("SELECT s.submission_number FROM pliers.create_submission(%s, %s, "
                     "p_submit => TRUE) AS s", (form, answers)).fetchone()


def backend_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a server process (a local server only: /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def figure_1_server(bench: Bench, db: str, figures: list[Figure], notes: dict[str, Any]
                    ) -> None:
    """Server time per submission (1 client, 15-field form), set_context's, the client's
    latency against it, and the breakdown by part (profile)."""
    server, plan = bench.server, bench.plan
    with server.connect(db) as conn:
        targets = conn.execute("SELECT organization_id, user_id, form_id FROM bench.wide_targets "
                               "ORDER BY n").fetchall()
        answers = [Jsonb(r[0]) for r in conn.execute(
            "SELECT bench.wide_answer(g * 7919) FROM generate_series(1, 2000) AS g")]
    defines = {"lo": 1, "hi": len(targets)}
    try:
        reset_statement_stats(server, db)
    except psycopg.Error:  # --dsn without pg_stat_statements: no server times
        log("pg_stat_statements is not loaded: no server time, no breakdown")
        notes["plans"] = explain_reads(server, db)
        return
    # Server time without nested tracking (pg_stat_statements.track = top, no function
    # timings): the top-level statements of the application login, per submission; one
    # run per round, the median (one client's wall-clock times move with the machine's load).
    runs: list[tuple[float, float, float, int, float]] = []
    for _ in range(plan.rounds):
        reset_statement_stats(server, db)
        result = bench.pgbench(db, wide_script(), app=True, clients=1, defines=defines,
                               track=True)
        with server.connect(db) as conn:
            rows = [s for s in statements(conn) if s.role == APP_ROLE and s.toplevel]
        subs = sum(s.calls for s in rows if re.search(CREATE_SUBMISSION, s.query))
        if not subs:
            raise RuntimeError("no create_submission in pg_stat_statements")
        runs.append((sum(s.ms for s in rows) * 1000 / subs,
                     mean_us(rows, r"\bpliers\.set_context\(") or 0.0,
                     mean_us(rows, CREATE_SUBMISSION) or 0.0, subs, result.latency_ms * 1000))
        log(f"server time, 1 client, 15 fields: {runs[-1][0]:,.0f} µs per submission "
            f"(set_context {runs[-1][1]:.0f} µs)")
    server_us = statistics.median(r[0] for r in runs)
    context_us = statistics.median(r[1] for r in runs)
    call_us = statistics.median(r[2] for r in runs)
    figures.append(Figure("1 server time per submission, 1 client, 15 fields", server_us, " µs",
                          "<= 500", at_most(server_us, 500),
                          f"set_context {context_us:.0f}, create_submission {call_us:.0f} µs "
                          f"(BEGIN/COMMIT the rest); rounds "
                          f"{', '.join(f'{r[0]:,.0f}' for r in runs)} µs; "
                          f"{sum(r[3] for r in runs):,} submissions; pgbench latency "
                          f"{statistics.median(r[4] for r in runs):,.0f} µs"))
    figures.append(Figure("1 set_context, server time per call", context_us, " µs", "<= 50",
                          at_most(context_us, 50), "the same runs (pg_stat_statements, "
                          f"execution + planning); rounds {', '.join(f'{r[1]:.0f}' for r in runs)}"
                          " µs"))
    # The client's latency of the same unit of work through the library (one pipelined
    # round trip: BEGIN, set_context, create_submission, COMMIT), against its server time.
    rng = random.Random(13)  # noqa: S311 - picks targets, not secrets
    latencies: list[float] = []

    def one_call(database: pliersdb.Database, target: tuple[Any, Any, Any], answer: Jsonb) -> None:
        org, user, form = target
        database.tenant(org, user).call("create_submission", form, answer, submit=True)

    with bench.usage.track(db), pliersdb.Database(server.dsn(db, app=True), min_size=1,
                                                  max_size=1) as library:
        for i in range(50):  # prepared statements, caches
            one_call(library, rng.choice(targets), answers[i % len(answers)])
        with library.pool.connection() as conn:
            pid = conn.info.backend_pid
        reset_statement_stats(server, db)
        cpu = backend_cpu(pid)
        deadline = time.monotonic() + plan.seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            one_call(library, rng.choice(targets), answers[len(latencies) % len(answers)])
            latencies.append(time.perf_counter() - started)
        cpu_after = backend_cpu(pid)
    cpu_detail = ""
    if server.throwaway is not None and cpu is not None and cpu_after is not None:
        cpu_detail = (f"; the backend's CPU time {(cpu_after - cpu) * 1e6 / len(latencies):.0f} µs "
                      "per unit (/proc: against the server time, the wait for a CPU)")
    with server.connect(db) as conn:
        rows = [s for s in statements(conn) if s.role == APP_ROLE and s.toplevel]
    unit_server = sum(s.ms for s in rows) * 1000 / len(latencies)
    client = statistics.mean(latencies) * 1e6
    figures.append(Figure("1 client latency/server time, 1 client (pliersdb, one call)",
                          client / unit_server, "", "<= 1.3", at_most(client / unit_server, 1.3),
                          f"{client:.0f} µs (median {statistics.median(latencies) * 1e6:.0f}) vs "
                          f"server {unit_server:.0f} µs per unit of work, {len(latencies):,} "
                          "units: db.tenant(...).call('create_submission', ...), one round trip"
                          + cpu_detail))
    profile(bench, db, defines, notes, plain_us=server_us)


@dataclass(frozen=True)
class Part:
    part: str
    kind: str  # "toplevel", "statement" or "function"
    pattern: str
    minus: str = ""


# Where a submission's server time goes. Each rule gives a part an inclusive time:
# "toplevel": a top-level statement (execution + planning, pg_stat_statements);
# "statement": a statement run inside the API (pg_stat_statements.track = all), less the
# total time of the functions of `minus`, which run inside it and have their own rule;
# "function": a function's total time, its callees included (pg_stat_user_functions,
# track_functions = all). Patterns: re.search on the statement's text (whitespace
# collapsed) or on schema.function. The first rule that matches takes the item. Name only
# what the API function runs directly: a function called from inside another rule's
# function or statement is counted twice (then "other" goes negative and is flagged).
# "other" is what no rule takes, printed with its named pieces. Adapt the patterns when
# functions are renamed.
BREAKDOWN: tuple[Part, ...] = (
    Part("set_context", "toplevel", r"\bpliers\.set_context\("),
    # create_submission's SELECT ... FROM pliers._check_answers(...): the version's compiled
    # validator (or the interpreter's walk of the answers) and _check_submission_attributes.
    Part("validation", "statement", r"\bpliers\._check_(submission_data|answers)\("),
    Part("validation", "function", r"^pliers\.(validate_submission_data|clean_submission_data)$"),
    Part("submissions INSERT", "statement", r"^INSERT INTO pliers\.submissions\b",
         minus=r"^pliers\.(_audit|_next_submission_number)$"),
    Part("audit", "function", r"^pliers\._audit$"),
    Part("events", "function", r"^pliers\.(_append_events|_submission_created_payload"
                               r"|_submission_submitted_payload)$"),
    Part("counters + quota + numbering", "function",
         r"^pliers\.(_check_quota|_count_usage|_next_submission_number)$"),
    Part("counters + quota + numbering", "statement", r"^INSERT INTO pliers\.form_counters\b"),
    Part("permission checks", "function", r"^pliers\._require_permission$"),
    Part("other", "function", r"^pliers\.(_get_form|_require_accepting|current_request)$"),
    Part("other", "function", r"^bench\.(answer|wide_answer)$"),
    Part("other", "toplevel", r"^(BEGIN|COMMIT)\b"),
)
PARTS = ("set_context", "validation", "submissions INSERT", "audit", "events",
         "counters + quota + numbering", "permission checks", "other")
# The verification of the signed context: counted inside the parts, reported apart.
VERIFICATION = r"^pliers\.current_context$"


@dataclass
class Profile:
    tps: float
    transactions: int
    functions: list[tuple[str, int, float, float]]  # schema.name, calls, total ms, self ms
    statements: list[Statement]


def profiled_run(bench: Bench, db: str, text: str, defines: dict[str, Any]) -> Profile | None:
    """One client running ``text`` with nested statements and function timings, for this
    database and this run only (the measured runs do without: instrumentation would
    weigh on the API more than on the baselines). None without pg_stat_statements."""
    server = bench.server
    settings = ("pg_stat_statements.track", "track_functions")
    try:
        with server.connect(db) as conn:
            for setting in settings:
                conn.execute(sql.SQL("ALTER DATABASE {} SET {} = 'all'").format(
                    sql.Identifier(db), sql.Identifier(*setting.split("."))))
    except psycopg.Error:
        return None
    try:
        if not reset_statements(server, db):  # pg_stat_statements is not loaded
            return None
        # One client: function times are wall-clock, and 8 clients on few cores would
        # count the time each backend waits for a CPU.
        result = bench.pgbench(db, text, app=True, clients=1, defines=defines, track=True)
        time.sleep(0.7)  # function statistics are flushed by the backends at exit
        with server.connect(db) as conn:
            functions = [(str(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in conn.execute(
                "SELECT schemaname || '.' || funcname, calls, total_time, self_time "
                "FROM pg_stat_user_functions WHERE calls > 0 ORDER BY self_time DESC")]
            rows = statements(conn)
    finally:
        with server.connect(db) as conn:
            for setting in settings:
                conn.execute(sql.SQL("ALTER DATABASE {} RESET {}").format(
                    sql.Identifier(db), sql.Identifier(*setting.split("."))))
    return Profile(result.tps, result.transactions, functions, rows)


def breakdown(prof: Profile) -> dict[str, Any]:
    """µs per submission by part (BREAKDOWN), and what each part holds."""
    top = [s for s in prof.statements if s.toplevel and s.role == APP_ROLE]
    nested = [s for s in prof.statements if not s.toplevel]
    subs = sum(s.calls for s in top if re.search(CREATE_SUBMISSION, s.query)) or 1
    total = sum(s.ms for s in top) * 1000 / subs
    totals = {name: ms for name, _calls, ms, _self in prof.functions}
    items: dict[str, list[tuple[str, float]]] = {p: [] for p in PARTS}
    taken: set[str] = set()
    for rule in BREAKDOWN:
        rx = re.compile(rule.pattern)
        if rule.kind == "function":
            for name, calls, ms, _self in prof.functions:
                if name not in taken and rx.search(name):
                    taken.add(name)
                    items[rule.part].append((f"{name} x{calls / subs:.3g}", ms * 1000 / subs))
            continue
        pool = top if rule.kind == "toplevel" else nested
        found = [s for s in pool if f"{s.toplevel}:{s.query}" not in taken and rx.search(s.query)]
        if not found:
            continue
        taken.update(f"{s.toplevel}:{s.query}" for s in found)
        ms = sum(s.ms for s in found)
        inside = [n for n in totals if rule.minus and re.search(rule.minus, n)]
        ms -= sum(totals[n] for n in inside)
        label = " / ".join(sorted({q.query[:60] + (" ..." if len(q.query) > 60 else "")
                                   for q in found}))
        if inside:
            label += f" (less {', '.join(n.removeprefix('pliers.') for n in inside)})"
        items[rule.part].append((label, ms * 1000 / subs))
    parts = {p: sum(us for _label, us in items[p]) for p in PARTS if p != "other"}
    named_other = sum(us for _label, us in items["other"])
    parts["other"] = total - sum(parts.values())
    items["other"].append(("unattributed: the API's own PL/pgSQL and statements, the calls",
                           parts["other"] - named_other))
    verify = [(calls, self_ms) for name, calls, _ms, self_ms in prof.functions
              if re.search(VERIFICATION, name)]
    # The functions no rule names, by self time: they run inside the parts (a part's
    # time includes its callees) or in "other"; where to look when adapting BREAKDOWN.
    unnamed = [(name, calls / subs, self_ms * 1000 / subs)
               for name, calls, _ms, self_ms in prof.functions
               if name not in taken and not name.startswith("bench.pg_stat")][:8]
    return {"total": total, "submissions": subs, "parts": parts, "items": items,
            "unnamed": unnamed,
            "verifications": (sum(c for c, _ in verify) / subs,
                              sum(ms for _, ms in verify) * 1000 / subs)}


def breakdown_lines(b: dict[str, Any], plain_us: float | None) -> list[str]:
    plain = f", {plain_us:.0f} µs uninstrumented (figure 1)" if plain_us else ""
    lines = [f"submit path, server µs per submission by part (1 client, 15-field form, "
             f"{b['submissions']:,} submissions; {b['total']:.0f} µs instrumented{plain}):"]
    for part in PARTS:
        us = b["parts"][part]
        flag = "  NEGATIVE: a rule counts something twice" if us < 0 else ""
        lines.append(f"  {part:<30} {us:8.0f} µs {us / b['total']:6.1%}{flag}")
        for label, item_us in sorted(b["items"][part], key=lambda kv: -kv[1]):
            lines.append(f"      {item_us:8.1f}  {label}")
    calls, us = b["verifications"]
    lines.append(f"  (context verifications, within the parts above: {calls:.0f} calls of "
                 f"pliers.current_context, {us:.0f} µs self time)")
    lines.append("  (functions no rule names, self µs x calls per submission: " + ", ".join(
        f"{name.removeprefix('pliers.')} {us:.0f} x{calls:.3g}"
        for name, calls, us in b.get("unnamed", [])) + ")")
    return lines


def profile(bench: Bench, db: str, defines: dict[str, Any], notes: dict[str, Any],
            plain_us: float | None = None) -> None:
    """Where the submit path spends its time (the 15-field form), and the read plans."""
    prof = profiled_run(bench, db, wide_script(), defines)
    if prof is not None:
        notes["profile"] = {
            "tps": prof.tps, "transactions": prof.transactions,
            "functions": prof.functions[:20],
            "statements": sorted(prof.statements, key=lambda s: -s.ms)[:15]}
        notes["breakdown"] = breakdown(prof)
        notes["breakdown_plain_us"] = plain_us
    notes["plans"] = explain_reads(bench.server, db)


def explain_reads(server: Server, db: str) -> dict[str, str]:
    plans: dict[str, str] = {}
    with server.connect(db) as conn:
        row = conn.execute("SELECT c.organization_id, c.user_id, c.form_id, c.after_created_at, "
                           "c.after_id, c.department, c.email FROM bench.cursors AS c "
                           "JOIN bench.orgs AS o USING (organization_id) WHERE o.is_large "
                           "ORDER BY c.n LIMIT 1").fetchone()
    if row is None:
        return plans
    org, usr, form, ts, aid, dept, email = row
    for read in ("page", "filter", "search"):
        values = {"org": org, "form": form, "ts": ts, "aid": aid,
                  "answer": Jsonb(dept if read == "filter" else email)}
        text = script(f"read_{read}.sql", "app")
        body = text[text.index("SELECT /*"):text.index("LIMIT 50;") + len("LIMIT 50")]
        # api: the owner's query as pliers_lister runs it inside list_submissions (for a
        # user with submission.view organization-wide, the visibility rule folds away).
        for variant, app in (("app", True), ("owner", False), ("api", False)):
            query = body if app else body.replace("WHERE ", "WHERE s.organization_id = :org AND ",
                                                  1)
            names = re.findall(r":(org|form|ts|aid|answer)\b", query)
            params = [values[name] for name in names]
            rendered = re.sub(r":(org|form|ts|aid|answer)\b", "%s", query)
            with server.connect(db, app=app, autocommit=False) as conn:
                conn.execute("SELECT pliers.set_context(%s, %s)", (org, usr))
                if variant == "api":
                    conn.execute("SET LOCAL ROLE pliers_lister")
                lines = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON) " + rendered,
                    params).fetchall()
                plans[f"{read}:{variant}"] = "\n".join(str(r[0]) for r in lines)
                if read == "page" and variant != "api":  # the API always plans with values
                    plans[f"{read}:{variant}, generic plan"] = generic_plan(conn, query, values)
                conn.rollback()
    return plans


def generic_plan(conn: psycopg.Connection[Any], query: str, values: dict[str, Any]) -> str:
    """EXPLAIN ANALYZE of the generic plan a prepared statement may switch to."""
    types = {"org": "uuid", "form": "uuid", "ts": "timestamptz", "aid": "uuid",
             "answer": "jsonb"}
    order: list[str] = []
    for name in re.findall(r":(org|form|ts|aid|answer)\b", query):
        if name not in order:
            order.append(name)
    text = re.sub(r":(org|form|ts|aid|answer)\b",
                  lambda m: f"${order.index(m.group(1)) + 1}", query)
    conn.execute(f"PREPARE bench_generic ({', '.join(types[n] for n in order)}) AS {text}")
    conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    cur = psycopg.ClientCursor(conn)
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS ON, SUMMARY ON) EXECUTE bench_generic ("
                + ", ".join(["%s"] * len(order)) + ")", [values[n] for n in order])
    lines = cur.fetchall()
    conn.execute("DEALLOCATE bench_generic")
    return "\n".join(str(r[0]) for r in lines)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0.0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 2**20
    return f"{os.cpu_count()} CPUs (nproc), {mem:.1f} GiB RAM, {cpu}, {platform.platform()}"


def write_results(path: Path, args: argparse.Namespace, server: Server, plan: Plan,
                  figures: list[Figure], notes: dict[str, Any], elapsed: float) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = "--dsn server" if args.dsn else "throwaway cluster"
    sizes = plan.sizes
    out = [
        "",
        f"## {now}: PostgreSQL {server.version}, {plan.name} run "
        f"({sizes[0]:,} vs {sizes[1]:,} submissions)",
        "",
        f"- Machine: {machine()}.",
        f"- Server: {where}; `{SERVER_OPTIONS}`, fsync and synchronous_commit off (ALTER "
        "SYSTEM) except for the durable variant of figure 1"
        + (" (that variant and the LEAKPROOF what-if are not run in --quick)."
           if plan.name == "quick" else ".") if not args.dsn else f"- Server: {where}.",
        f"- Plan: {plan.orgs} organizations (one holds {LARGE_SHARE:.0%} of the submissions "
        f"over {LARGE_FORMS} forms, the others {FORMS_PER_ORG} forms each), {CLIENTS} clients, "
        f"pgbench runs of {plan.seconds:g} s, {plan.rounds} interleaved rounds, medians of "
        "per-round ratios.",
        f"- Data sets built in {notes.get('build_seconds', 0):.0f} s; whole run "
        f"{elapsed / 60:.1f} min. Submissions at the end: small "
        f"{notes.get('count_small', 0):,}, large {notes.get('count_large', 0):,}.",
        "",
        "| figure | value | target | verdict | detail |",
        "|---|---|---|---|---|",
    ]
    for f in figures:
        value = "n/a" if f.value is None else _fmt(f.value) + f.unit
        verdict = "info" if f.met is None else ("met" if f.met else "**missed**")
        out.append(f"| {f.name} | {value} | {f.target or '-'} | {verdict} | "
                   f"{f.detail.replace('|', '/')} |")
    prof = notes.get("profile")
    if prof:
        if notes.get("breakdown"):
            out += ["", "### Server time per submission by part", "", "```",
                    *breakdown_lines(notes["breakdown"], notes.get("breakdown_plain_us")), "```"]
        out += ["", f"### Profile of the submit path, 15-field form ({prof['transactions']:,} "
                f"transactions at {prof['tps']:,.0f} tps; pg_stat_user_functions)", "",
                "| function | calls | self µs/call | total µs/call | self share |",
                "|---|---|---|---|---|"]
        total_self = sum(float(r[3]) for r in prof["functions"]) or 1.0
        for name, calls, total, self_time in prof["functions"]:
            out.append(f"| {name} | {calls:,} | {float(self_time) / calls * 1000:.1f} | "
                       f"{float(total) / calls * 1000:.1f} | "
                       f"{float(self_time) / total_self:.0%} |")
        out += ["", "Top statements (pg_stat_statements, track = all, nested statements "
                "included; execution + planning):", "",
                "| calls | total ms | mean ms | buffers | statement |", "|---|---|---|---|---|"]
        for st in prof["statements"]:
            text = st.query[:150].replace("|", "/")
            out.append(f"| {st.calls:,} | {st.ms:,.0f} | {st.ms / max(1, st.calls):.3f} | "
                       f"{st.buffers:,} | `{text}` |")
    if notes.get("index_usage"):
        out += ["", f"### Index usage during the API workloads ({notes['index_usage_workloads']} "
                "runs; partitions summed; bytes per row of the large data set)", "", "```",
                *index_table_lines(notes["index_usage"]), "```"]
    plans = notes.get("plans") or {}
    if plans:
        out += ["", "### Read plans on the large data set (a cursor in the large organization)",
                ""]
        for key, text in plans.items():
            out += [f"`{key}`:", "", "```", text, "```", ""]
    storage = notes.get("storage")
    if storage:
        out += ["", f"### Storage per submission ({storage['rows']:,} submissions through the "
                f"API; bare table {storage['bare_per_row']:,.0f} B/row)", "",
                "| relation: part | bytes per submission |", "|---|---|"]
        for key, per_row in sorted(storage["detail"].items(), key=lambda kv: -kv[1]):
            if per_row >= 1:
                out.append(f"| {key} | {per_row:,.0f} |")
    ids = notes.get("ids")
    if ids:
        shots = ids["one_shot"]
        out += ["", "### ID locality (bare tables)", "",
                "| | UUIDv4 (org, id) | UUIDv7 (org, id) | UUIDv4 (id) | UUIDv7 (id) |",
                "|---|---|---|---|---|",
                f"| pgbench insert, tps | {ids['tps_v4']:,.0f} | {ids['tps_v7']:,.0f} | | |"]
        for key, label, scale in (
                ("seconds", f"one-shot insert of {plan.uuid_rows:,} rows, s", 1),
                ("index", "pkey, MiB", 2**20), ("wal", "WAL, MiB", 2**20),
                ("density", "pkey leaf density, %", 1)):
            out.append(f"| {label} | " + " | ".join(
                f"{shots[k][key] / scale:,.1f}" for k in ("v4", "v7", "v4_id", "v7_id")) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by `python bench/run.py`; see "
                        "bench/README.md.\n")
    with path.open("a") as fh:
        fh.write("\n".join(out) + "\n")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="small data sets, short runs: under 3 minutes")
    parser.add_argument("--dsn", help="an existing server (superuser); default: a throwaway one")
    parser.add_argument("--pg", choices=["15", "18"], default="15",
                        help="throwaway server: system PostgreSQL 15 or the embedded 18")
    parser.add_argument("--scale", choices=["small", "large"], default=None,
                        help="small: 10k vs 100k submissions; large: 100k vs 1M")
    parser.add_argument("--sizes", help="override the two data-set sizes, e.g. 100000,500000")
    parser.add_argument("--seconds", type=int, help="override the length of a pgbench run")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--record", action="store_true",
                        help="append the results to bench/RESULTS.md (always at --scale large)")
    parser.add_argument("--results", default=str(BENCH / "RESULTS.md"), help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="leave the server and databases")
    return parser.parse_args(argv)


def choose_plan(args: argparse.Namespace) -> Plan:
    if args.quick and args.scale == "large":
        raise SystemExit("--quick runs at the small scale")
    plan = PLANS["quick" if args.quick else (args.scale or "small")]
    if args.sizes:
        small, large = (int(x) for x in args.sizes.split(","))
        plan = replace(plan, sizes=(small, large))
    if args.seconds:
        plan = replace(plan, seconds=args.seconds)
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    return plan


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pliersdb-bench-scripts-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def step(name: str, fn: Callable[[], None], failures: list[str]) -> None:
    try:
        fn()
    except (psycopg.Error, RuntimeError) as exc:
        failures.append(f"{name}: {str(exc).strip().splitlines()[0][:300]}")
        log(f"{name} FAILED: {exc}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan = choose_plan(args)
    server = open_server(args)
    log(f"PostgreSQL {server.version}; plan {plan.name}: {plan.sizes[0]:,} vs "
        f"{plan.sizes[1]:,} submissions, {plan.orgs} organizations")
    tag = secrets.token_hex(3)
    template, small, large, other = (f"pliers_bench_{tag}_{n}"
                                     for n in ("template", "small", "large", "other"))
    figures: list[Figure] = []
    notes: dict[str, Any] = {}
    failures: list[str] = []
    try:
        with workdir() as scripts:
            bench = Bench(server, plan, scripts)
            started = time.monotonic()
            build_template(server, template, plan)
            log("template: migrated; organizations, users, published forms")
            create_database(server, small, template)
            seconds = import_submissions(server, small, form_shares(server, small, plan.sizes[0]))
            log(f"small data set: {plan.sizes[0]:,} submissions imported in {seconds:.1f}s")
            make_cursors(server, small)
            create_database(server, large, small)
            grow = form_shares(server, large, plan.sizes[1] - plan.sizes[0])
            seconds = import_submissions(server, large, grow)
            log(f"large data set: +{plan.sizes[1] - plan.sizes[0]:,} submissions in "
                f"{seconds:.1f}s")
            make_cursors(server, large)
            create_database(server, other, template)
            notes["build_seconds"] = time.monotonic() - started
            step("figures 1-3", lambda: figures_1_to_3(bench, small, large, figures, notes),
                 failures)
            if plan.name != "quick":  # extras that do not fit in 3 minutes
                step("figure 1, durable", lambda: figure_1_durable(bench, large, figures),
                     failures)
            step("figure 5", lambda: figure_5(bench, other, figures, notes), failures)
            step("figure 4", lambda: figure_4(bench, other, figures, notes), failures)
            step("figure 6", lambda: figure_6(bench, large, figures, notes), failures)
            step("ID locality", lambda: id_locality(bench, other, figures, notes), failures)
            step("figure 1, server time and profile",
                 lambda: figure_1_server(bench, large, figures, notes), failures)

            def usage() -> None:
                notes["index_usage"] = bench.usage.table(large)
                notes["index_usage_workloads"] = bench.usage.workloads

            step("index usage", usage, failures)
            notes["count_small"] = count_submissions(server, small)
            notes["count_large"] = count_submissions(server, large)
    finally:
        cleanup(server, args.keep)
    elapsed = time.monotonic() - START
    print(f"pliersdb benchmarks: PostgreSQL {server.version}, {plan.name} "
          f"({plan.sizes[0]:,} vs {plan.sizes[1]:,} submissions), {elapsed:.0f} s")
    figures.sort(key=lambda f: int(f.name.split()[0]))  # by figure number, stable
    for figure in figures:
        print(figure.line())
    if notes.get("breakdown"):
        print("\n".join(breakdown_lines(notes["breakdown"], notes.get("breakdown_plain_us"))))
    if notes.get("index_usage"):
        print(f"index usage during the API workloads ({notes['index_usage_workloads']} runs; "
              "pg_stat_user_indexes, partitions summed; bytes per row of the large data set):")
        print("\n".join(index_table_lines(notes["index_usage"])))
    prof = notes.get("profile")
    if prof:
        print("submit path (15 fields), self time per call (pg_stat_user_functions):")
        for name, calls, _total, self_time in prof["functions"][:8]:
            print(f"  {name:<40} {float(self_time) / calls * 1000:8.1f} µs x "
                  f"{calls / prof['transactions']:.3g}")
    for failure in failures:
        print(f"FAILED {failure}")
    if args.record or plan.name == "large" or args.scale == "large":
        write_results(Path(args.results), args, server, plan, figures, notes, elapsed)
        print(f"results appended to {args.results}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
