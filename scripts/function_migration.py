"""Write the function changes of sql/ files since a git revision as a migration.

For files made of functions (their COMMENT ON FUNCTION, REVOKE and GRANT lists), such
as sql/42-form-definitions.sql, this prints the up and the rollback SQL of what
changed between REV and the working tree: new functions (created, comment, privileges
as the file gives them), changed ones (CREATE OR REPLACE with the new text, the
comment if it changed), removed ones (dropped), and the inverse for the rollback.
Each function is named by its COMMENT ON FUNCTION identity, which every function of
pliersdb has. Any other statement that changed is reported on stderr: it needs a hand.

    python scripts/function_migration.py 7b17dbc sql/42-form-definitions.sql \
        --up up.sql --down down.sql

The output goes between the standard prologue and epilogue of a migration; the test
suite compares the database built from sql/ with the one the migrations build.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pliersdb.selftest import statements

ROOT = Path(__file__).resolve().parent.parent
_CREATE = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.]+)\s*\(", re.I)
_COMMENT = re.compile(r"^COMMENT\s+ON\s+FUNCTION\s+([\w.]+\([^)]*\))", re.I)
_PRIVILEGE = re.compile(
    r"^(REVOKE|GRANT)\s+(.*?)\s+ON\s+FUNCTION\s+(.*?)\s+(FROM|TO)\s+(\w+)\s*;\s*$", re.I | re.S)
_IDENTITY = re.compile(r"[\w.]+\([^)]*\)")


@dataclass
class Function:
    identity: str
    create: str
    comment: str
    privileges: list[str] = field(default_factory=list)


def _strip_comments(text: str) -> str:
    """The statement without the comment and blank lines before it."""
    lines = text.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


def parse(text: str) -> tuple[dict[str, Function], list[str]]:
    functions: dict[str, Function] = {}
    others: list[str] = []
    pending: str | None = None
    for statement in statements(text):
        body = _strip_comments(statement.text)
        if _CREATE.match(body):
            pending = body
        elif match := _COMMENT.match(body):
            identity = match.group(1)
            if pending is not None and _CREATE.match(pending).group(1) == identity.split("(")[0]:  # type: ignore[union-attr]
                functions[identity] = Function(identity, pending, body)
                pending = None
            else:
                others.append(body)
        elif match := _PRIVILEGE.match(body):
            verb, what, targets, direction, role = match.groups()
            for identity in _IDENTITY.findall(targets):
                line = f"{verb} {what} ON FUNCTION {identity} {direction} {role};"
                if identity in functions:
                    functions[identity].privileges.append(line)
                else:
                    others.append(line)
        else:
            others.append(body)
    if pending is not None:
        raise SystemExit(f"a function without its COMMENT ON FUNCTION: {pending[:80]!r}")
    return functions, others


def _replace(create: str) -> str:
    return re.sub(r"^CREATE\s+FUNCTION", "CREATE OR REPLACE FUNCTION", create, count=1, flags=re.I)


def _drop(identity: str) -> str:
    if identity.split(".")[-1].startswith("_"):
        return ("-- A private function (no client calls it), replaced or no longer needed.\n"
                f"-- squawk-ignore ban-drop-function\nDROP FUNCTION {identity};")
    return f"DROP FUNCTION {identity};"


def changes(old: dict[str, Function], new: dict[str, Function]) -> list[str]:
    """The statements that turn the functions of old into those of new."""
    out = [_drop(identity) for identity in old if identity not in new]
    for identity, function in new.items():
        before = old.get(identity)
        if before is None:
            out += [function.create, function.comment, *function.privileges]
            continue
        if before.create != function.create:
            out.append(_replace(function.create))
        if before.comment != function.comment:
            out.append(function.comment)
        if before.privileges != function.privileges:
            print(f"privileges of {identity} changed: write them by hand", file=sys.stderr)
    return out


def _old_text(rev: str, path: str) -> str:
    result = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    return result.stdout if result.returncode == 0 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--up", type=Path, required=True)
    parser.add_argument("--down", type=Path, required=True)
    args = parser.parse_args()
    up: list[str] = []
    down: list[str] = []
    for name in args.files:
        old, old_others = parse(_old_text(args.rev, name))
        new, new_others = parse((ROOT / name).read_text(encoding="utf-8"))
        for statement in set(old_others) ^ set(new_others):
            print(f"{name}: other statement changed, write it by hand: {statement[:100]!r}",
                  file=sys.stderr)
        up += [f"-- {name}", *changes(old, new)]
        down = [f"-- {name}", *changes(new, old), *down]
    args.up.write_text("\n\n".join(up) + "\n", encoding="utf-8")
    args.down.write_text("\n\n".join(down) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
