"""The pliersdb command line: migrate, rollback, status, verify, maintain, demo, server, sql,
org."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import psycopg

from pliersdb import dsn as dsnlib
from pliersdb import errors
from pliersdb import migrate as migratelib
from pliersdb.distribute import DistributeError


def _migrator(args: argparse.Namespace) -> migratelib.Migrator:
    return migratelib.Migrator(dsnlib.resolve(args.dsn))


# pliersdb status found an invalid index that migrate drops (README, "Command line").
EXIT_INVALID_INDEX = 3


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

    try:
        report = maintenance.run(dsnlib.resolve(args.dsn), months_ahead=args.months_ahead,
                                 events_retention=args.events_retention,
                                 audit_retention=args.audit_retention,
                                 lock_timeout=args.lock_timeout)
    except maintenance.MaintenanceError as exc:
        print(f"pliersdb: {exc}", file=sys.stderr)
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

    with dsnlib.connect(dsnlib.resolve(args.dsn)) as conn:
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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="pliersdb",
        description="PostgreSQL data layer of Pliers v3. The database is --dsn, else "
                    "PLIERSDB_DSN, else DATABASE_URL, else the embedded PostgreSQL.",
    )
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
    which.add_argument("--count", type=_positive, metavar="N", help="roll back the last N")
    add("status", cmd_status,
        f"list applied and pending migrations and invalid indexes (read-only); exit "
        f"{EXIT_INVALID_INDEX} if an invalid index is there for migrate to drop")
    add("verify", cmd_verify, "check applied migrations against their files (sha256)")
    mnt = add("maintain", cmd_maintain,
              "partition maintenance of events and audit_logs (pliers.run_maintenance): "
              "months ahead, rows out of the default partitions, retention; prints the report")
    mnt.add_argument("--months-ahead", type=_months, metavar="N",
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
    srv = add("server", cmd_server, "manage the embedded PostgreSQL", dsn=False)
    srv.add_argument("action", choices=["start", "stop", "status", "url"])
    srv.add_argument("--user", help="url: as this login (default: the superuser)")
    srv.add_argument("--password", help="url: with this password")
    return top


def _months(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 119:
        raise argparse.ArgumentTypeError("must be 0 to 119")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except dsnlib.ConnectError as exc:
        print(f"pliersdb: {exc}", file=sys.stderr)
        return 1
    except migratelib.MigrationError as exc:
        print(f"pliersdb: {exc}", file=sys.stderr)
        return 1
    except DistributeError as exc:
        print(f"pliersdb: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
