"""The pliersdb command line: migrate, rollback, status, verify, maintain, demo, server, sql,
org, export, import, choices, workflow, worker."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import psycopg

from pliersdb import __version__, errors
from pliersdb import dsn as dsnlib
from pliersdb import migrate as migratelib
from pliersdb.distribute import DistributeError

if TYPE_CHECKING:
    from pliersdb.transfer import Tenant
    from pliersdb.workflows import Workflow


def _migrator(args: argparse.Namespace) -> migratelib.Migrator:
    return migratelib.Migrator(dsnlib.resolve(args.dsn))


# pliersdb status found an invalid index that migrate drops (README, "Command line").
EXIT_INVALID_INDEX = 3
# status, verify, erd: no migration applied (an empty or another application's database).
EXIT_NOT_MIGRATED = 4
# import: some rows were rejected (their batches wrote nothing).
EXIT_REJECTED = 5


@contextmanager
def _reporting_repairs(migrator: migratelib.Migrator) -> Iterator[None]:
    """Print the invalid indexes a migrate or rollback dropped, even when it failed."""
    try:
        yield
    finally:
        for index in migrator.repaired:
            print(f"dropped invalid index {index.name} on {index.table} "
                  f"(left by a failed CONCURRENTLY build or drop): {index.definition}")


def cmd_migrate(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    if args.dry_run:
        for index in migrator.invalid_indexes():
            if index.repairable:
                print(f"-- first, the invalid index {index.name} on {index.table}:\n"
                      f"DROP INDEX CONCURRENTLY IF EXISTS {index.name};\n")
        pending = migrator.pending_sql()
        for mid, text in pending:
            print(f"-- migration {mid}\n{text.rstrip()}\n")
        if not pending:
            print("-- nothing to apply")
        return 0
    with _reporting_repairs(migrator):
        applied = migrator.migrate()
    for mid in applied:
        print(f"applied {mid}")
    if not applied:
        print("nothing to apply: the database is up to date")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    with _reporting_repairs(migrator):
        done = migrator.rollback(None if args.all else args.count)
    for mid in done:
        print(f"rolled back {mid}")
    if not done:
        print("nothing to roll back")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    rows = migrator.status()
    for row in rows:
        if not row.on_disk:
            state = "applied, file missing"
        elif row.applied:
            state = "applied"
        else:
            state = "pending"
        when = f"  {row.applied_at:%Y-%m-%d %H:%M:%S} UTC" if row.applied_at else ""
        print(f"{state:22} {row.migration_id}{when}")
    invalid = migrator.invalid_indexes()
    for index in invalid:
        print(f"{'invalid index':22} {index.name} on {index.table}\n"
              f"{'':22} {index.definition}\n{'':22} {index.hint}")
    pending = sum(1 for r in rows if not r.applied)
    summary = f"{len(rows) - pending} applied, {pending} pending"
    if invalid:
        summary += f", {len(invalid)} invalid index{'es' if len(invalid) > 1 else ''}"
    print(summary)
    if pending == len(rows):
        # What migrate would apply is listed above; the database is not pliersdb's yet.
        raise migratelib.NotMigrated
    return EXIT_INVALID_INDEX if any(index.repairable for index in invalid) else 0


def cmd_verify(args: argparse.Namespace) -> int:
    problems = _migrator(args).verify()
    for problem in problems:
        print(f"{problem.kind}: {problem.migration_id}: {problem.detail}")
    if problems:
        return 1
    print("ok: every applied migration matches its file")
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from pliersdb import maintenance

    def say(line: str) -> None:
        print(f"pliersdb maintain: {line}", file=sys.stderr, flush=True)

    try:
        report = maintenance.run(dsnlib.resolve(args.dsn), months_ahead=args.months_ahead,
                                 events_retention=args.events_retention,
                                 audit_retention=args.audit_retention,
                                 lock_timeout=args.lock_timeout, say=say)
    except maintenance.MaintenanceError as exc:
        message = str(exc)
        if exc.argument is not None:
            # The library names its keyword argument; the user typed the option.
            message = message.replace(exc.argument, "--" + exc.argument.replace("_", "-"), 1)
        if isinstance(exc.__cause__, psycopg.errors.InsufficientPrivilege):
            message += f": {_PRIVILEGES['maintain']}"
        print(f"pliersdb maintain: {message}", file=sys.stderr)
        return 1
    for action in report:
        print(action)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pliersdb import demo

    dsn = dsnlib.resolve(args.dsn)
    for mid in migratelib.Migrator(dsn).migrate():
        print(f"applied {mid}")
    demo.run(dsn, print)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from pliersdb import schema

    sys.stdout.write(schema.render())
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from pliersdb import selftest

    if args.files:
        for path in selftest.suites():
            print(path)
        return 0
    try:
        return 0 if selftest.run(dsnlib.resolve(args.dsn), verbose=args.verbose) else 1
    except selftest.SelftestError as exc:
        print(f"pliersdb: selftest: {exc}", file=sys.stderr)
        return 1


def cmd_distribute(args: argparse.Namespace) -> int:
    from pliersdb import distribute

    with dsnlib.connect(dsnlib.resolve(args.dsn), autocommit=True) as conn:
        report = distribute.distribute(conn, say=print)
    if not report.changed:
        print("nothing to do: the database is distributed")
    return 0


def cmd_erd(args: argparse.Namespace) -> int:
    from pliersdb import erd

    with migratelib.reading(dsnlib.resolve(args.dsn)) as conn:
        migratelib.require_migrated(conn)
        text = erd.document(conn)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    from pliersdb import server

    if args.action == "start":
        server.ensure_database()
        print(f"running: {server.url()}")
    elif args.action == "stop":
        print("stopped" if server.stop() else "not running")
    elif args.action == "status":
        running = server.is_running()
        print(f"{'running' if running else 'stopped'}: data in {server.data_dir()}")
        return 0 if running else 3
    else:
        if not server.is_running():
            server.ensure_database()
        print(server.url(args.user, args.password))
    return 0


def _error_line(exc: errors.PliersError) -> str:
    """One line for an API error: the message, then each error's path and code."""
    if isinstance(exc, errors.ValidationError) and exc.errors:
        return "; ".join(f"{e.get('path')}: {e.get('code')} ({e.get('message')})"
                         for e in exc.errors)
    return exc.message


def cmd_org(args: argparse.Namespace) -> int:
    """Provisioning as a login in pliers_platform (docs/api.md "Organizations")."""
    from psycopg.rows import dict_row

    with dsnlib.connect(dsnlib.resolve(args.dsn), autocommit=True) as conn:
        try:
            with errors.mapped():
                cur = conn.cursor(row_factory=dict_row)
                if args.action == "create":
                    row = cur.execute(
                        "SELECT * FROM pliers.create_organization(p_slug => %s, p_name => %s, "
                        "p_owner_email => %s, p_owner_display_name => %s)",
                        (args.slug, args.name, args.owner_email, args.owner_name)).fetchone()
                    assert row is not None
                    print(f"created organization {args.slug} {row['organization_id']}, "
                          f"owner {args.owner_email} {row['user_id']}")
                    return 0
                after: str | None = None
                while True:
                    rows = cur.execute(
                        "SELECT o.id, o.slug, o.name, o.subscription_status, o.suspended_at, "
                        "o.deleted_at FROM pliers.list_organizations(p_after_slug => %s, "
                        "p_limit => 1000, p_include_deleted => %s) AS o",
                        (after, args.include_deleted)).fetchall()
                    for r in rows:
                        state = ("deleted" if r["deleted_at"] else
                                 "suspended" if r["suspended_at"] else "active")
                        print(f"{r['slug']}\t{r['id']}\t{state}\t{r['subscription_status']}"
                              f"\t{r['name']}")
                    if len(rows) < 1000:
                        return 0
                    after = rows[-1]["slug"]
        except errors.PliersError as exc:
            print(f"pliersdb: org {args.action}: {_error_line(exc)}", file=sys.stderr)
            return 1
        except psycopg.errors.InsufficientPrivilege as exc:
            print(f"pliersdb: org {args.action}: {dsnlib.first_line(str(exc))} "
                  "(connect as a login in pliers_platform)", file=sys.stderr)
            return 1
        except psycopg.Error as exc:
            print(f"pliersdb: org {args.action}: {dsnlib.first_line(str(exc))}", file=sys.stderr)
            return 1


# The environment variable of the API key export and import may run with.
API_KEY_VARIABLE = "PLIERSDB_API_KEY"


@contextmanager
def _tenant(args: argparse.Namespace) -> Iterator[Tenant]:
    """The tenant transactions of export and import: ``--org`` and ``--user`` (ids),
    else the API key in PLIERSDB_API_KEY (never on the command line, where ps shows
    it). A Database without a statement timeout: an export or a batch may be long."""
    import pliersdb

    key = os.environ.get(API_KEY_VARIABLE)
    if (args.org is None) != (args.user is None) or (args.org is None and not key):
        raise UsageError(f"give --org and --user (ids), or the API key in {API_KEY_VARIABLE}")
    dsn = dsnlib.resolve(args.dsn)
    # A one-line error now rather than the pool's timeout later.
    dsnlib.connect(dsn).close()
    with pliersdb.connect(dsn, min_size=1, max_size=1, statement_timeout=None) as db:
        if args.org is not None:
            yield lambda: db.tenant(args.org, args.user)
        else:
            yield lambda: db.with_api_key(str(key))


def cmd_export(args: argparse.Namespace) -> int:
    from pliersdb import transfer

    with _tenant(args) as tenant, contextlib.ExitStack() as stack:
        out = (sys.stdout.buffer if args.output in (None, "-")
               else stack.enter_context(open(args.output, "wb")))
        count = transfer.export(tenant, args.form, out, include_drafts=args.include_drafts,
                                show_progress=args.progress)
    print(f"exported {count} submission{'' if count == 1 else 's'} of form {args.form}",
          file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pliersdb import transfer

    json_lines = args.format == "jsonl" or (
        args.format is None and args.file.endswith((".jsonl", ".ndjson")))
    with _tenant(args) as tenant, contextlib.ExitStack() as stack:
        with tenant() as t:
            versions = [f for f in t.forms.versions(args.form) if f.accepts_submissions]
            if args.form_version is not None:
                versions = [f for f in versions if f.version == args.form_version]
            if not versions:
                version = f" {args.form_version}" if args.form_version else ""
                raise errors.NotFound(f"form {args.form}{version}: no published or "
                                      f"deprecated version to import into")
            columns = [] if json_lines else t.submissions.export_columns(args.form)
        if args.file == "-":
            raw, size = sys.stdin.buffer, None
        else:
            raw = stack.enter_context(open(args.file, "rb"))
            size = os.fstat(raw.fileno()).st_size
        text, bar = transfer.text_input(raw, size, args.progress, f"import {args.file}")
        stack.enter_context(bar)
        try:
            rows = transfer.json_rows(text) if json_lines else transfer.csv_rows(text, columns)
            report = transfer.import_file(
                tenant, versions[-1].id, rows, batch_size=args.batch_size,
                report_error=lambda error: bar.write(f"pliersdb import: {error}",
                                                     file=sys.stderr))
        except ValueError as exc:  # the CSV header
            raise UsageError(str(exc)) from exc
    summary = (f"form {args.form} {versions[-1].version}: {report.created} created, "
               f"{report.skipped} skipped (external id already imported)")
    if report.rejected:
        summary += (f"; {report.rejected} rows in batches with errors not written "
                    f"({len(report.errors)} errors above)")
    print(summary, file=sys.stderr)
    return EXIT_REJECTED if report.rejected else 0


def cmd_choices(args: argparse.Namespace) -> int:
    """Choice lists of a tenant (docs/choice-lists.md): import a CSV data set, list them."""
    from pliersdb.choice_lists import items_from_csv

    with _tenant(args) as tenant, tenant() as t:
        if args.action == "list":
            for c in t.choice_lists.list():
                print(f"{c.name}\t{c.kind}\t{c.item_count}\t{c.version}\t{c.title or ''}")
            return 0
        try:
            with open(args.file, encoding="utf-8-sig", newline="") as f:
                items_from_csv(f)  # the header's errors before any call
                f.seek(0)
                found = t.choice_lists.import_csv(args.name, f, title=args.title)
        except (ValueError, OSError) as exc:
            raise UsageError(f"{args.file}: {exc}") from exc
    print(f"{found.name}: {found.item_count} items, version {found.version}")
    return 0


def cmd_workflow(args: argparse.Namespace) -> int:
    """Workflows of a tenant (docs/workflows.md): the Mermaid diagram of a version."""
    from pliersdb.workflows import diagram

    with _tenant(args) as tenant, tenant() as t:
        found = (t.workflows.version(args.slug, args.version) if args.version
                 else _shown_version(t.workflows.versions(args.slug), args.slug))
    sys.stdout.write(diagram(found.definition))
    return 0


def _shown_version(versions: Sequence[Workflow], slug: str) -> Workflow:
    """The version ``workflow diagram`` draws without --version: the active one, else the
    highest published, else the draft."""
    if not versions:
        raise UsageError(f"no workflow {slug}")
    return next((v for v in versions if v.is_active), None) or next(
        (v for v in reversed(versions) if v.status != "draft"), versions[-1])


def cmd_worker(args: argparse.Namespace) -> int:
    """Run jobs (docs/jobs.md) until SIGTERM or SIGINT, as a login role in pliers_worker."""
    import importlib

    from pliersdb.worker import Worker

    handlers = {}
    for spec in args.handlers or ():
        module, _, attribute = spec.partition(":")
        try:
            found = getattr(importlib.import_module(module), attribute or "HANDLERS")
        except (ImportError, AttributeError) as exc:
            raise UsageError(f"--handlers {spec}: {exc}") from exc
        handlers.update(dict(found))
    try:
        worker = Worker(dsnlib.resolve(args.dsn), handlers, concurrency=args.concurrency,
                        kinds=args.kinds or None,
                        lease=timedelta(seconds=args.lease), poll_interval=args.poll,
                        allow_private_addresses=args.allow_private_addresses,
                        status_every=args.status_every, out=sys.stderr)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    worker.install_signal_handlers()
    print(f"worker {worker.name}: kinds {', '.join(worker.kinds)}; concurrency "
          f"{worker.concurrency}", file=sys.stderr)
    counters = worker.run()
    print(f"worker {worker.name}: stopped; claimed {counters.claimed}, done {counters.done}, "
          f"retried {counters.retried}, dead {counters.dead}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="pliersdb",
        description="PostgreSQL data layer of Pliers v3. The database is --dsn, else "
                    "PLIERSDB_DSN, else DATABASE_URL, else the embedded PostgreSQL.",
    )
    top.add_argument("--version", action="version", version=f"pliersdb {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str,
            dsn: bool = True) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if dsn:
            cmd.add_argument("--dsn", help="libpq URL or key=value string")
        cmd.set_defaults(func=func)
        return cmd

    mig = add("migrate", cmd_migrate,
              "apply pending migrations; first drops the invalid indexes that a failed "
              "or killed CONCURRENTLY build or drop left (as it does after a "
              "non-transactional migration fails)")
    mig.add_argument("--dry-run", action="store_true", help="print the SQL, apply nothing")
    rb = add("rollback", cmd_rollback,
             "roll back applied migrations, newest first; drops invalid indexes as migrate")
    which = rb.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="roll back every migration")
    which.add_argument("--count", type=_whole(1), metavar="N",
                       help="roll back the last N")
    add("status", cmd_status,
        f"list applied and pending migrations and invalid indexes (read-only); exit "
        f"{EXIT_INVALID_INDEX} if an invalid index is there for migrate to drop")
    add("verify", cmd_verify, "check applied migrations against their files (sha256)")
    mnt = add("maintain", cmd_maintain,
              "partition maintenance of events and audit_logs (pliers.run_maintenance): "
              "months ahead, rows out of the default partitions, retention; prints the report")
    mnt.add_argument("--months-ahead", type=_whole(0, 119), metavar="N",
                     help="create partitions for this month and the next N (default 3)")
    mnt.add_argument("--events-retention", metavar="INTERVAL",
                     help="detach events partitions older than this (default '24 months')")
    mnt.add_argument("--audit-retention", metavar="INTERVAL",
                     help="detach audit_logs partitions older than this (default '84 months')")
    mnt.add_argument("--lock-timeout", default="10s", metavar="DURATION",
                     help="give up a lock wait after this long, then retry (default 10s)")
    add("distribute", cmd_distribute,
        "on a Citus coordinator, distribute a migrated database: tenant tables by "
        "organization_id (colocated), global tables as reference tables; idempotent "
        "(docs/scale-out.md)")
    selftest = add("selftest", cmd_selftest,
                   "run the shipped pgTAP suites against a migrated database, each file in "
                   "a transaction rolled back: a post-migration check for a staging copy "
                   "(needs pgTAP installed there and a superuser)")
    selftest.add_argument("-v", "--verbose", action="store_true", help="print every TAP line")
    selftest.add_argument("--files", action="store_true",
                          help="print the paths of the suites (for pg_prove) and exit")
    add("demo", cmd_demo, "migrate, load a small realistic data set, print a tour")
    erd = add("erd", cmd_erd, "print docs/schema.md (Mermaid ER diagram) from a migrated database")
    erd.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    add("sql", cmd_sql, "print the whole schema rendered from sql/", dsn=False)
    org = add("org", cmd_org, "provision organizations, as a login in pliers_platform",
              dsn=False)
    actions = org.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create an organization and its owner",
                                description="create an organization and its first user, "
                                            "an org_owner (pliers.create_organization)")
    create.add_argument("--slug", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--owner-email", required=True)
    create.add_argument("--owner-name", help="the owner's display name")
    listing = actions.add_parser("list", help="list organizations, in slug order",
                                 description="list organizations: slug, id, state, "
                                             "subscription, name (tab-separated)")
    listing.add_argument("--include-deleted", action="store_true")
    for action in (create, listing):
        action.add_argument("--dsn", help="libpq URL or key=value string")
    for name, func, help_text in (
            ("export", cmd_export, "write the CSV of a form's submissions, all its versions, "
                                   "as a tenant (a login in pliers_app)"),
            ("import", cmd_import, "import submissions from CSV (the export's columns) or "
                                   "JSON lines into a form's newest published version, in "
                                   "batches, as a tenant (a login in pliers_app)")):
        cmd = add(name, func, help_text)
        cmd.add_argument("--form", required=True, metavar="SLUG", help="the form's slug")
        cmd.add_argument("--org", metavar="ID", type=_uuid, help="the organization's id "
                         f"(with --user; else the API key in {API_KEY_VARIABLE})")
        cmd.add_argument("--user", metavar="ID", type=_uuid, help="the acting user's id")
        cmd.add_argument("--progress", action=argparse.BooleanOptionalAction,
                         help="a progress bar on stderr (default: when it is a terminal)")
        if name == "export":
            cmd.add_argument("--output", metavar="FILE", help="write to FILE, not stdout")
            cmd.add_argument("--include-drafts", action="store_true")
        else:
            cmd.add_argument("file", metavar="FILE", help="the CSV or JSON lines file; - for stdin")
            cmd.add_argument("--format", choices=["csv", "jsonl"],
                             help="default: jsonl for *.jsonl and *.ndjson, else csv")
            cmd.add_argument("--form-version", metavar="VERSION",
                             help="into this version (default: the newest published one)")
            cmd.add_argument("--batch-size", type=_whole(1, 100_000),
                             default=1000, metavar="N",
                             help="rows per transaction, all or nothing (default 1000)")
    choices = add("choices", cmd_choices, "a tenant's choice lists and CSV data sets "
                  "(docs/choice-lists.md), as a tenant (a login in pliers_app)", dsn=False)
    lists = choices.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = lists.add_parser(
        "import", help="load a CSV data set: a new list, or the items of NAME replaced",
        description="load a CSV data set into the choice list NAME (kind dataset): the header "
                    "has name (or code), label (or label::<language> columns) and attribute "
                    "columns")
    load.add_argument("name", metavar="NAME", help="the list's name, as choiceList names it")
    load.add_argument("file", metavar="FILE", help="the CSV file (UTF-8)")
    load.add_argument("--title", help="the list's title")
    shown = lists.add_parser("list", help="list the tenant's choice lists",
                             description="list choice lists: name, kind, items, version, "
                                         "title (tab-separated)")
    for action in (load, shown):
        action.add_argument("--dsn", help="libpq URL or key=value string")
        action.add_argument("--org", metavar="ID", type=_uuid, help="the organization's id "
                            f"(with --user; else the API key in {API_KEY_VARIABLE})")
        action.add_argument("--user", metavar="ID", type=_uuid, help="the acting user's id")
    flows = add("workflow", cmd_workflow, "a tenant's workflows (docs/workflows.md), as a tenant "
                "(a login in pliers_app)", dsn=False)
    flow_actions = flows.add_subparsers(dest="action", required=True, metavar="ACTION")
    drawn = flow_actions.add_parser(
        "diagram", help="print the Mermaid stateDiagram-v2 of a workflow version",
        description="print the Mermaid diagram of workflow SLUG: the version given, else the "
                    "active one, else the highest published one, else the draft")
    drawn.add_argument("slug", metavar="SLUG", help="the workflow's slug")
    drawn.add_argument("--version", dest="version", metavar="VERSION",
                       help="this version (MAJOR.MINOR.PATCH)")
    drawn.add_argument("--dsn", help="libpq URL or key=value string")
    drawn.add_argument("--org", metavar="ID", type=_uuid, help="the organization's id "
                       f"(with --user; else the API key in {API_KEY_VARIABLE})")
    drawn.add_argument("--user", metavar="ID", type=_uuid, help="the acting user's id")
    srv = add("server", cmd_server, "manage the embedded PostgreSQL", dsn=False)
    srv.add_argument("action", choices=["start", "stop", "status", "url"])
    srv.add_argument("--user", help="url: as this login (default: the superuser)")
    srv.add_argument("--password", help="url: with this password")
    work = add("worker", cmd_worker,
               "run the job queue's jobs (docs/jobs.md) until SIGTERM or SIGINT (graceful: "
               "running jobs finish); the DSN is a login role in pliers_worker")
    work.add_argument("--concurrency", type=_whole(1, 256), default=4, metavar="N",
                      help="jobs run at once (default 4)")
    work.add_argument("--kinds", nargs="+", metavar="KIND",
                      help="claim only these kinds (default: every kind with a handler)")
    work.add_argument("--handlers", action="append", metavar="MODULE[:NAME]",
                      help="a mapping kind -> callable(job) to import (default NAME: "
                           "HANDLERS); repeatable")
    work.add_argument("--lease", type=_whole(1, 86400), default=60, metavar="SECONDS",
                      help="lease of a claimed job, extended while it runs (default 60)")
    work.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                      help="claim at least this often without a notification (default 5)")
    work.add_argument("--status-every", type=float, default=60.0, metavar="SECONDS",
                      help="print a status line this often, 0 never (default 60)")
    work.add_argument("--allow-private-addresses", action="store_true",
                      help="let pliers.webhook post to private, loopback and link-local "
                           "addresses (refused by default)")
    return top


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``. Its error says so
    after the option's name (argparse's own, for a ValueError, names this function)."""
    bounds = f"from {low} to {high}" if high is not None else f"{low} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be a whole number {bounds}, not {text!r}")
        return value

    return parse


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an id (a UUID), not {text!r}") from None


class UsageError(Exception):
    """Arguments that do not fit the database (a form, a header): one line, exit 2."""


# What to grant for a command refused by a missing privilege.
_PRIVILEGES = {
    **dict.fromkeys(("status", "verify", "erd"), f"grant the login: {migratelib.READ_GRANTS}"),
    **dict.fromkeys(("migrate", "rollback", "demo", "distribute"),
                    "run it as a superuser, or as a role with CREATEROLE that is a member "
                    "of pliers_owner"),
    "maintain": "run it as a superuser or a member of pliers_owner (docs/history.md)",
    **dict.fromkeys(("export", "import", "choices", "workflow"),
                    "connect as a login in pliers_app"),
}


def _environment(exc: psycopg.Error, command: str) -> str | None:
    """One line for a database error of the user's environment, else None (a bug)."""
    reason = dsnlib.first_line(str(exc))
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return f"{reason}: {_PRIVILEGES.get(command, 'grant the privilege it names')}"
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return (f"{reason}: the server is a standby or the login reads only "
                "(default_transaction_read_only): connect to the primary as a login that writes")
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return f"{reason}: another session holds a lock it needs: try again later"
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"{reason} (statement_timeout, or canceled by an administrator)"
    if isinstance(exc, psycopg.OperationalError):
        return f"the server failed or the connection was lost: {reason}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (dsnlib.ConnectError, migratelib.MigrationError, DistributeError) as exc:
        print(f"pliersdb: {exc}", file=sys.stderr)
        return 1
    except migratelib.NotMigrated as exc:
        print(f"pliersdb: {exc}", file=sys.stderr)
        return EXIT_NOT_MIGRATED
    except UsageError as exc:
        print(f"pliersdb {args.command}: {exc}", file=sys.stderr)
        return 2
    except errors.PliersError as exc:
        print(f"pliersdb {args.command}: {_error_line(exc)}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        line = _environment(exc, args.command)
        if line is None:
            raise
        print(f"pliersdb {args.command}: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
