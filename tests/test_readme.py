"""README.md runs as written: every fenced block, in order, against the server that
``make demo`` starts (the embedded PostgreSQL 18 in a temporary ``PLIERSDB_HOME``, then
``pliersdb demo``), from a directory laid out as the top of a clone after ``make demo``:
the checkout's files (linked) and a ``.venv/bin`` with ``pliersdb``, ``python`` and
``psql`` (running this checkout).

How a block runs, by its language (any other fails the test):

- ``sh``: bash, stopping at the first failing command; the shell variables it sets stay
  set for the blocks after it, as in one shell.
- ``sql``: the input of the last ``.venv/bin/psql ...`` command that the README names in
  inline code before the block, run by that shell.
- ``python``: one ``.venv/bin/python`` process runs them all, in order, in one namespace.

A comment ``# -> TEXT`` (``-- -> TEXT`` in SQL) announces a line the block prints: the
announced lines must come out, in that order. In SQL, every error psql reports must be
announced by a comment ``-- ERROR:  TEXT``, and every announced one reported.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pliersdb import server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PSQL = ".venv/bin/psql "
TIMEOUT = 120  # seconds for one block

# The persistent interpreter: one JSON line in (a block), one JSON line out.
RUNNER = r"""
import contextlib, io, json, sys, traceback
names = {"__name__": "__main__"}
for line in sys.stdin:
    block = json.loads(line)
    out, error = io.StringIO(), None
    with contextlib.redirect_stdout(out):
        try:
            # Blank lines first: a traceback gives the README's line numbers.
            exec(compile("\n" * block["line"] + block["code"], "README.md", "exec"), names)
        except BaseException:
            error = traceback.format_exc()
    print(json.dumps({"out": out.getvalue(), "error": error}), flush=True)
"""


@dataclass
class Block:
    language: str
    line: int  # of its first line of code in README.md, from 1
    code: str
    psql: str | None  # the psql command named before it


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    psql = None
    prose: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        fence = re.match(r"```(\S*)\s*$", lines[i])
        if fence is None:
            prose.append(lines[i])
            i += 1
            continue
        spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", "".join(prose))]
        psql = next((s for s in reversed(spans) if s.startswith(PSQL)), psql)
        prose = []
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        found.append(Block(fence.group(1), i + 2, "".join(lines[i + 1:end]), psql))
        i = end + 1
    return found


def announced(block: Block) -> list[str]:
    comment = "--" if block.language == "sql" else "#"
    return re.findall(rf"{comment} -> (.*)$", block.code, re.M)


def where(block: Block) -> str:
    return f"README.md block at line {block.line} ({block.language})"


class Reader:
    """Runs the blocks of README.md in a directory laid out as make demo leaves it."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.shell_vars = top / "shell-vars"
        for entry in ROOT.iterdir():  # the checkout's files, as at the top of a clone
            if entry.name not in (".venv", ".git"):
                (top / entry.name).symlink_to(entry)
        bin_dir = top / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        for name, target in (("pliersdb", f"{shlex.quote(sys.executable)} -m pliersdb"),
                             ("python", shlex.quote(sys.executable))):
            (bin_dir / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
            (bin_dir / name).chmod(0o755)
        (bin_dir / "psql").symlink_to(server.bin_dir() / "psql")  # as make demo links it
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PLIERSDB_DSN", "DATABASE_URL")}
        self.env.update(PLIERSDB_HOME=str(top / "home"), PYTHONPATH=str(ROOT))
        self.python: subprocess.Popen[str] | None = None
        self.python_stderr = (top / "python.stderr").open("w")

    def shell(self, script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """``script`` in bash, its variables exported to (and kept for) the next ones."""
        dump = f"\nenv -0 > {shlex.quote(str(self.shell_vars))}\n"
        proc = subprocess.run(["bash", "-c", "set -ea -o pipefail\n" + script + dump],
                              input=stdin, cwd=self.top, env=self.env, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
        if proc.returncode == 0:
            pairs = self.shell_vars.read_text().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
        return proc

    def run(self, block: Block) -> str:
        """The block's output; fails the test with its place in README.md if it fails."""
        if block.language == "python":
            return self.run_python(block)
        if block.language == "sh":
            proc = self.shell(block.code)
        elif block.language == "sql":
            assert block.psql, f"{where(block)}: no `{PSQL}...` command named before it"
            proc = self.shell(block.psql, stdin=block.code)
            errors = [re.sub(r"^psql:[^:]*:\d+: ", "", line)
                      for line in proc.stderr.splitlines() if "ERROR:" in line]
            expected = re.findall(r"^-- (ERROR: .*)$", block.code, re.M)
            assert errors == expected, (
                f"{where(block)}, through {block.psql}:\nerrors reported {errors}, "
                f"announced {expected}\n{proc.stderr}")
        else:
            pytest.fail(f"{where(block)}: no way to run a ```{block.language} block")
        assert proc.returncode == 0, f"{where(block)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def run_python(self, block: Block) -> str:
        if self.python is None:
            self.python = subprocess.Popen(
                [".venv/bin/python", "-c", RUNNER], cwd=self.top, env=self.env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.python_stderr)
        assert self.python.stdin and self.python.stdout
        request = {"line": block.line - 1, "code": block.code}
        self.python.stdin.write(json.dumps(request) + "\n")
        self.python.stdin.flush()
        ready = select.select([self.python.stdout], [], [], TIMEOUT)[0]
        answer = self.python.stdout.readline() if ready else ""
        if not answer:
            stderr = (self.top / "python.stderr").read_text()
            pytest.fail(f"{where(block)}: no answer within {TIMEOUT} s\n{stderr}")
        result = json.loads(answer)
        assert result["error"] is None, f"{where(block)} failed:\n{result['error']}"
        return str(result["out"])

    def close(self) -> None:
        if self.python is not None:
            assert self.python.stdin
            self.python.stdin.close()
            self.python.wait(timeout=TIMEOUT)
        self.python_stderr.close()


@pytest.fixture
def reader() -> Iterator[Reader]:
    # Not under pytest's basetemp: as root, the embedded server opens the directories on
    # the way to its data for its OS user.
    top = Path(tempfile.mkdtemp(prefix="pliersdb-readme-"))
    reader = Reader(top)
    try:
        demo = reader.shell(".venv/bin/pliersdb demo")  # make demo, after its installs
        assert demo.returncode == 0, f"pliersdb demo failed:\n{demo.stdout}\n{demo.stderr}"
        yield reader
    finally:
        reader.close()
        stopped = reader.shell(".venv/bin/pliersdb server stop")
        shutil.rmtree(top, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr


def test_every_block_of_the_readme_runs_as_written(reader: Reader) -> None:
    found = blocks(README.read_text())
    assert {b.language for b in found} >= {"sh", "sql", "python"}, found
    for block in found:
        out = reader.run(block).splitlines()
        expected = announced(block)
        # The announced lines, in order, among those printed.
        rest = iter(out)
        missing = [line for line in expected if line not in rest]
        assert not missing, f"{where(block)} did not print {missing}; printed:\n" + "\n".join(out)


def test_the_commands_and_files_the_readme_names_exist() -> None:
    text = README.read_text()
    usage = subprocess.run([sys.executable, "-m", "pliersdb", "--help"], capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    commands = set(re.findall(r"^    (\w+)(?:\s|$)", usage.stdout, re.M))
    listed = set(re.findall(r"^    pliersdb (\w+)", text, re.M))
    assert listed and listed <= commands, (listed - commands, commands)
    # .venv is made by make (the README's .venv/bin/psql only by make demo).
    top = "|".join(re.escape(p.name) for p in ROOT.iterdir() if p.is_dir() and p.name != ".venv")
    paths = set(re.findall(rf"(?<![\w/.~-])(?:{top})/[\w./-]*\w", text))
    missing = [p for p in paths if "NNNN" not in p and not (ROOT / p).exists()]
    assert paths and not missing, missing
