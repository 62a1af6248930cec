"""``pliersdb selftest``: the shipped pgTAP suites against a live database.

A post-migration check a DBA can run on a staging copy: each file of ``pgtap/`` (in
the wheel ``pliersdb/pgtap``) is one transaction, BEGIN ... ROLLBACK, that makes its
own organizations and users and asserts the schema's behaviour; nothing is committed.
The files run through psycopg, statement by statement (no psql needed), and their
TAP output (plan, ok / not ok, diagnostics) is read from the statements' results.

What it needs: a superuser connection (the suites set roles and bypass row-level
security, as a DBA does), pgTAP installed in the database, on the search_path and
usable by pliers' roles (``CREATE EXTENSION pgtap`` puts it in public, which is), and
the database migrated to the migrations this pliersdb ships. Before running a file
it checks that the file only ever ends its transaction with its final ROLLBACK; while
running, that the transaction stays open; after, that the server rolled it back.
Sequences advance, as after any rolled-back insert: they are not transactional."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg.pq import TransactionStatus

from pliersdb import dsn as dsnlib
from pliersdb import migrate as migratelib
from pliersdb import resources

__all__ = ["FileResult", "SelftestError", "run", "run_file", "statements", "suites"]

# The roles the suites take (SET LOCAL ROLE), each calling pgTAP.
ROLES = ("pliers_app", "pliers_owner", "pliers_platform", "pliers_readonly", "pliers_worker")
NO_PGTAP = ("pgTAP is not installed in this database: CREATE EXTENSION pgtap "
            "(as a superuser), or use a staging copy")

# SQL text as tokens: comments, quoted text and dollar-quoted bodies are opaque, so a
# semicolon outside them ends a statement. Nested block comments are not needed here.
_TOKEN = re.compile(r"""
    --[^\n]*
  | /\*.*?\*/
  | (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'
  | '(?:[^']|'')*'
  | "(?:[^"]|"")*"
  | (?P<dollar>(?<![\w$])\$(?:[A-Za-z_]\w*)?\$).*?(?P=dollar)
  | ;
  | \s+
  | [^-/'"$;eE\s]+
  | .
""", re.S | re.X)

_PLAN = re.compile(r"^1\.\.(\d+)")
_RESULT = re.compile(r"^(not )?ok (\d+)(.*)$")
# A statement that could end the file's transaction before its final ROLLBACK.
_ENDS_TRANSACTION = re.compile(
    r"^(COMMIT|END|ABORT|PREPARE\s+TRANSACTION|ROLLBACK(?!\s+(WORK\s+|TRANSACTION\s+)?TO\b))\b",
    re.I)


class SelftestError(Exception):
    """The suites cannot run here; the message is one line saying why."""


@dataclass(frozen=True)
class Statement:
    line: int  # where its first keyword is, 1-based
    text: str

    @property
    def head(self) -> str:
        """The statement from its first keyword, comments before it left out."""
        return _head(self.text)


@dataclass
class FileResult:
    """One file's run: its plan, passes, failing assertions (with their diagnostics)
    and the error that stopped it, if any."""

    name: str
    planned: int | None = None
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    tap: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.passed + len(self.failures)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures and self.planned == self.ran


def _head(text: str) -> str:
    for token in _TOKEN.finditer(text):
        if not token.group().isspace() and not token.group().startswith(("--", "/*")):
            return text[token.start():]
    return ""


def statements(text: str) -> Iterator[Statement]:
    """The statements of an SQL file, split at semicolons outside comments, quotes
    and dollar quotes, each with the line it starts on."""
    start = 0
    for token in _TOKEN.finditer(text):
        if token.group() == ";":
            chunk = text[start:token.end()]
            head = _head(chunk)
            if head.strip(" \t\n;"):
                line = text.count("\n", 0, token.end() - len(head)) + 1
                yield Statement(line, chunk)
            start = token.end()
    if _head(text[start:]).strip():
        raise SelftestError(f"a statement does not end with a semicolon: {text[start:][:60]!r}")


def suites() -> list[Path]:
    """The shipped pgTAP files, in the order they run."""
    return sorted(resources.directory("pgtap").glob("*.sql"))


def _check_shape(path: Path, parts: list[Statement]) -> None:
    """Refuse a file that could commit: BEGIN first, ROLLBACK last, nothing that ends
    the transaction in between."""
    heads = [part.head.upper() for part in parts]
    if not heads or not re.match(r"BEGIN\b", heads[0]) or not re.match(r"ROLLBACK\s*;", heads[-1]):
        raise SelftestError(f"{path.name}: not one transaction rolled back (BEGIN ... ROLLBACK)")
    for part, head in zip(parts[1:-1], heads[1:-1], strict=True):
        if _ENDS_TRANSACTION.match(head):
            raise SelftestError(f"{path.name}, line {part.line}: ends its transaction "
                                f"before the final ROLLBACK; not run")


def _read_tap(result: FileResult, value: str) -> None:
    """Count the TAP lines of one value of a statement's result: an assertion keeps
    the diagnostics that pgTAP returns with it."""
    failing = False
    for line in value.splitlines():
        result.tap.append(line)
        if plan := _PLAN.match(line):
            result.planned = int(plan.group(1))
        elif found := _RESULT.match(line):
            # TAP: a "not ok" with a todo or skip directive (any case) never fails the run.
            failing = bool(found.group(1)) and not re.search(r"#\s*(todo|skip)\b", found.group(3),
                                                             re.I)
            if failing:
                result.failures.append(line)
            else:
                result.passed += 1
        elif failing and line.startswith("#"):
            result.failures[-1] += f"\n{line}"


def run_file(dsn: str, path: Path) -> FileResult:
    """Run one file in its own connection; raise SelftestError if its transaction was
    not rolled back (the run then stops: something may be committed)."""
    parts = list(statements(path.read_text(encoding="utf-8")))
    _check_shape(path, parts)
    result = FileResult(path.name)
    with dsnlib.connect(dsn, autocommit=True) as conn:
        xid = None
        for part in parts[:-1]:
            try:
                # As bytes: the text of a file, sent as it is (no placeholders).
                cur = conn.execute(part.text.encode())
            except psycopg.Error as exc:
                result.error = f"the statement at line {part.line}: {dsnlib.first_line(str(exc))}"
                break
            if conn.info.transaction_status != TransactionStatus.INTRANS:
                raise SelftestError(f"{path.name}, line {part.line}: the transaction ended "
                                    f"before the final ROLLBACK: changes may be committed")
            rows: list[Any] = cur.fetchall() if cur.description else []
            for row in rows:
                if len(row) == 1 and isinstance(row[0], str):
                    _read_tap(result, row[0])
        else:
            xid = conn.execute("SELECT pg_catalog.pg_current_xact_id_if_assigned()").fetchone()
        conn.execute("ROLLBACK")
        if xid is not None and xid[0] is not None:
            status = conn.execute("SELECT pg_catalog.pg_xact_status(%s)", xid).fetchone()
            if status is None or status[0] != "aborted":
                raise SelftestError(f"{path.name}: its transaction {xid[0]} is "
                                    f"{status and status[0]}, not rolled back")
    return result


def _check_database(dsn: str) -> None:
    """Refuse to run unless the role is a superuser, the database is migrated to the
    migrations shipped, and pgTAP is installed, on the search_path and usable by the
    roles the suites take."""
    with dsnlib.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), "
            "(SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension "
            " WHERE extname = 'pgtap'), "
            "pg_catalog.to_regprocedure('plan(integer)') IS NOT NULL, "
            "pg_catalog.current_setting('search_path'), "
            # The suites call pgTAP as each of pliers' roles (SET LOCAL ROLE).
            "ARRAY(SELECT r.rolname FROM pg_catalog.pg_roles AS r "
            "      JOIN pg_catalog.pg_extension AS e ON e.extname = 'pgtap' "
            "      WHERE r.rolname = ANY (%s) "
            "        AND NOT pg_catalog.has_schema_privilege(r.oid, e.extnamespace, 'USAGE') "
            "      ORDER BY 1)", (list(ROLES),)).fetchone()
    assert row is not None
    superuser, schema, found, search_path, without_usage = row
    if not superuser:
        raise SelftestError("the suites need a superuser (they take pliers' roles and "
                            "bypass row-level security): connect as one, on a staging copy")
    migrations = migratelib.Migrator(dsn).status()
    unknown = [m.migration_id for m in migrations if not m.on_disk]
    if unknown:
        raise SelftestError(f"the database has migrations this pliersdb does not ship "
                            f"({_ids(unknown)}): run the selftest of the pliersdb that "
                            f"migrated it")
    pending = [m.migration_id for m in migrations if not m.applied]
    if pending:
        raise SelftestError(f"the database is not migrated: {len(pending)} pending "
                            f"({_ids(pending)}): run pliersdb migrate first")
    if schema is None:
        raise SelftestError(NO_PGTAP)
    if not found:
        raise SelftestError(f"pgTAP is installed in schema {schema}, which is not on the "
                            f"search_path ({search_path}): add it, e.g. "
                            f"PGOPTIONS='-c search_path=public,{schema}'")
    if without_usage:
        roles = ", ".join(cast("list[str]", without_usage))
        raise SelftestError(f"pgTAP's schema {schema} is not usable by {roles}, as which the "
                            f"suites call it: GRANT USAGE ON SCHEMA {schema} TO {roles}")


def _ids(migrations: list[str]) -> str:
    return ", ".join(migrations) if len(migrations) <= 3 else \
        f"{migrations[0]} to {migrations[-1]}"


def run(dsn: str, verbose: bool = False, say: Callable[[str], None] = print) -> bool:
    """Run every suite against ``dsn``; print a line per file (with -v, every TAP
    line), the failing assertions and a summary. True when all passed."""
    _check_database(dsn)
    results = []
    for path in suites():
        result = run_file(dsn, path)
        results.append(result)
        if verbose:
            for line in result.tap:
                say(f"    {line}")
        say(_summary(result))
    failed = [r.name for r in results if not r.ok]
    tests = sum(r.ran for r in results)
    if failed:
        say(f"FAILED: {len(failed)} of {len(results)} files ({', '.join(failed)}); "
            f"{tests} tests run")
        return False
    say(f"ok: {len(results)} files, {tests} tests, all rolled back")
    return True


def _summary(result: FileResult) -> str:
    if result.ok:
        return f"{result.name + ' ':.<32} ok ({result.passed} tests)"
    lines = [f"{result.name + ' ':.<32} FAILED"]
    lines += ["    " + failure.replace("\n", "\n    ") for failure in result.failures]
    if result.error:
        lines.append(f"    stopped at {result.error}")
    if result.planned is None:
        lines.append("    no plan")
    elif result.planned != result.ran:
        lines.append(f"    planned {result.planned} tests, ran {result.ran}")
    return "\n".join(lines)
