"""pliersdb export and import (pliersdb/transfer.py), run as the command: a round trip
between two organizations, bad rows reported by line with nothing of their batch
written, and the progress bar only on a terminal or when asked for."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World

import pliersdb
from pliersdb import cli, transfer
from pliersdb.forms import Form
from pliersdb.submissions import ImportRow

DEFINITION: dict[str, Any] = {
    "title": "Intake",
    "fields": [
        {"id": "f1", "type": "text", "name": "fullName", "required": True},
        {"id": "f2", "type": "integer", "name": "age"},
        {"id": "f3", "type": "boolean", "name": "member"},
        {"id": "f4", "type": "multiple_choice", "name": "topics",
         "choices": [{"code": "a"}, {"code": "b"}]},
        {"id": "f5", "type": "group", "name": "address",
         "fields": [{"id": "f6", "type": "text", "name": "zip"}]},
        # Codes that are numbers: the answer is still the string.
        {"id": "f7", "type": "single_choice", "name": "size",
         "choices": [{"code": "1"}, {"code": "2"}]},
        {"id": "f8", "type": "date", "name": "since"},
        {"id": "f9", "type": "hidden", "name": "ref"},
    ],
}
# Columns that are the target's own after an import: its ids, its user, its clock.
OWN_COLUMNS = {"submission_id", "submitted_by", "updated_at"}


@pytest.fixture(scope="module")
def seeded(cluster: clusterlib.Cluster, template: str) -> Iterator[World]:
    with appworld.world(cluster, template, "transfer", {
        "acme": {"users": {"alice": ["org_admin"]}},
        "globex": {"users": {"gina": ["org_admin"]}},
    }) as built:
        yield built


@pytest.fixture(scope="module")
def app(seeded: World) -> Iterator[pliersdb.Database]:
    with pliersdb.connect(seeded.app_dsn, min_size=1, max_size=2, timeout=10) as database:
        yield database


def tenant(seeded: World, org: str) -> list[str]:
    """The --org and --user options of the organization's first user."""
    found = seeded.orgs[org]
    return ["--org", str(found.id), "--user", str(next(iter(found.users.values())))]


def as_user(app: pliersdb.Database, seeded: World, org: str) -> Any:
    found = seeded.orgs[org]
    return app.tenant(found.id, next(iter(found.users.values())))


def published_form(app: pliersdb.Database, seeded: World, org: str, slug: str) -> Form:
    with as_user(app, seeded, org) as t:
        form = t.forms.create("Intake", slug, DEFINITION)
        return t.forms.publish(form.id, "1.0.0")  # type: ignore[no-any-return]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command, without a terminal (stdin, stdout and stderr are pipes)."""
    return subprocess.run([sys.executable, "-m", "pliersdb", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120,
                          check=False, stdin=subprocess.DEVNULL)


def count(seeded: World, form: Form) -> int:
    with psycopg.connect(seeded.admin_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pliers.submissions WHERE form_id = %s",
                           (form.id,)).fetchone()
    assert row is not None
    return int(row[0])


def comparable(text: str) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in OWN_COLUMNS}
            for row in csv.DictReader(io.StringIO(text))]


def test_round_trip_between_organizations(app: pliersdb.Database, seeded: World,
                                          tmp_path: Path) -> None:
    slug = f"intake-{uuid.uuid4().hex[:8]}"
    source = published_form(app, seeded, "acme", slug)
    target = published_form(app, seeded, "globex", slug)
    # One transaction each: three times, so the export's order (oldest first) is theirs.
    for data, external_id in (({"fullName": 'Doe, "JJ"\nsecond line', "age": 40,
                                "member": True, "topics": ["a", "b"],
                                "address": {"zip": "01000"}, "size": "2",
                                "since": "2024-01-31", "ref": {"n": 1}}, "legacy-1"),
                              ({"fullName": "Zoë", "member": False}, None),
                              ({"fullName": "Only a name"}, None)):
        with as_user(app, seeded, "acme") as t:
            t.submissions.create(source.id, data, submit=True, external_id=external_id)

    exported = tmp_path / "acme.csv"
    proc = run("export", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
               "--output", str(exported))
    assert proc.returncode == 0, proc.stderr
    # Not a terminal: no progress bar, only the summary.
    assert proc.stderr == f"exported 3 submissions of form {slug}\n"

    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "globex"), "--form", slug,
               "--batch-size", "2", str(exported))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (f"form {slug} 1.0.0: 3 created, "
                           f"0 skipped (external id already imported)\n")
    assert count(seeded, target) == 3

    proc = run("export", "--dsn", seeded.app_dsn, *tenant(seeded, "globex"), "--form", slug)
    assert proc.returncode == 0, proc.stderr
    original = exported.read_text(encoding="utf-8")
    assert comparable(proc.stdout) == comparable(original)
    assert len(comparable(original)) == 3

    # Again: every row has been imported, the one with an external id is skipped (the
    # others, without one, are new submissions).
    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "globex"), "--form", slug,
               str(exported))
    assert proc.returncode == 0, proc.stderr
    assert "2 created, 1 skipped" in proc.stderr


def test_export_columns_give_each_answer_s_json_type(app: pliersdb.Database,
                                                     seeded: World) -> None:
    """The import reads a cell by the JSON type the export says its answers have: as it
    is for a string (a zip code, a numeric choice code, a date), as JSON otherwise."""
    slug = f"types-{uuid.uuid4().hex[:8]}"
    published_form(app, seeded, "acme", slug)
    with as_user(app, seeded, "acme") as t:
        columns = t.submissions.export_columns(slug)
    assert {c.name: (c.kind, c.json_type) for c in columns if c.path is not None} == {
        "fullName": ("text", "string"), "age": ("integer", "number"),
        "member": ("boolean", "boolean"), "topics": ("multiple_choice", "array"),
        "address.zip": ("text", "string"), "size": ("single_choice", "string"),
        "since": ("date", "string"), "ref": ("hidden", None)}
    assert {c.json_type for c in columns if c.kind == "meta"} == {None}
    text = io.StringIO("fullName,age,member,topics,address.zip,size,since,ref\n"
                       '123,3,true,"[""a""]",01000,2,2024-01-31,"{""n"": 1}"\n'
                       "x,,,,,,,plain\n")
    rows = [row for _, row in transfer.csv_rows(text, columns)]
    assert [r.data for r in rows if isinstance(r, ImportRow)] == [
        {"fullName": "123", "age": 3, "member": True, "topics": ["a"],
         "address": {"zip": "01000"}, "size": "2", "since": "2024-01-31", "ref": {"n": 1}},
        {"fullName": "x", "ref": "plain"}]


def test_api_key_from_the_environment(app: pliersdb.Database, seeded: World) -> None:
    slug = f"keyed-{uuid.uuid4().hex[:8]}"
    form = published_form(app, seeded, "acme", slug)
    with as_user(app, seeded, "acme") as t:
        key = t.api_keys.create("import").key
    lines = json.dumps({"data": {"fullName": "By key"}, "external_id": "k-1"}) + "\n"
    proc = subprocess.run(
        [sys.executable, "-m", "pliersdb", "import", "--dsn", seeded.app_dsn, "--form", slug,
         "--format", "jsonl", "-"], input=lines, capture_output=True, text=True, check=False,
        env={**os.environ, cli.API_KEY_VARIABLE: key}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert count(seeded, form) == 1
    proc = run("import", "--dsn", seeded.app_dsn, "--form", slug, "-",
               env={cli.API_KEY_VARIABLE: ""})
    assert proc.returncode == 2
    assert proc.stderr == (f"pliersdb import: give --org and --user (ids), or the API key "
                           f"in {cli.API_KEY_VARIABLE}\n")


def test_bad_rows_are_reported_by_line_and_their_batch_writes_nothing(
        app: pliersdb.Database, seeded: World, tmp_path: Path) -> None:
    slug = f"bad-{uuid.uuid4().hex[:8]}"
    form = published_form(app, seeded, "acme", slug)
    rows = [{"data": {"fullName": "One"}}, {"data": {"fullName": "Two"}},
            {"data": {"fullName": "Three", "age": "old"}}, {"data": {"fullName": "Four"}}]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n{not json\n"
                      + json.dumps({"data": {"fullName": "Six"}, "color": "red"}) + "\n")
    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
               "--batch-size", "2", str(source))
    assert proc.returncode == cli.EXIT_REJECTED == 5, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "pliersdb import: line 3: $.data.age: invalid_type (must be a number)"
    assert lines[1].startswith("pliersdb import: line 6: not JSON: ")
    assert lines[2] == ("pliersdb import: line 7: unknown key color (the keys of a row: "
                        "created_at, data, external_id, metadata, source, status, "
                        "submitted_at, tags)")
    assert lines[3] == (f"form {slug} 1.0.0: 2 created, 0 skipped (external id already "
                        f"imported); 4 rows in batches with errors not written (3 errors above)")
    assert len(lines) == 4
    assert "Traceback" not in proc.stderr
    # Lines 1-2 written; 3-4 (line 4 is good) not, nor 6-7.
    with psycopg.connect(seeded.admin_dsn) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT data ->> 'fullName' FROM pliers.submissions WHERE form_id = %s",
            (form.id,))}
    assert names == {"One", "Two"}


def test_csv_line_numbers_count_lines_inside_quoted_cells(
        app: pliersdb.Database, seeded: World, tmp_path: Path) -> None:
    slug = f"csv-{uuid.uuid4().hex[:8]}"
    form = published_form(app, seeded, "acme", slug)
    source = tmp_path / "rows.csv"
    source.write_text('fullName,age,member,topics,address.zip,submission_number\n'
                      '"two\nlines",3,true,"[""a""]",01000,S-000009\n'
                      'Bad,x,maybe,,,\n', encoding="utf-8")
    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
               str(source))
    assert proc.returncode == 5
    assert proc.stderr.splitlines()[:2] == [
        "pliersdb import: line 4: $.data.age: invalid_type (must be a number)",
        "pliersdb import: line 4: $.data.member: invalid_type (must be true or false)"]
    assert count(seeded, form) == 0
    source.write_text('fullName,age,member,topics,address.zip,submission_number\n'
                      '"two\nlines",3,true,"[""a""]",01000,S-000009\n', encoding="utf-8")
    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
               str(source))
    assert proc.returncode == 0, proc.stderr
    with as_user(app, seeded, "acme") as t:
        (imported,) = t.submissions.list(form_id=form.id).items
    # Types from the form: a text stays a string ("01000"), the others are JSON.
    assert imported.data == {"fullName": "two\nlines", "age": 3, "member": True,
                             "topics": ["a"], "address": {"zip": "01000"}}
    source.write_text("fullName,colour\nx,y\n", encoding="utf-8")
    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
               str(source))
    assert proc.returncode == 2
    assert proc.stderr == ("pliersdb import: unknown column colour: the header names "
                           "columns of the form's export\n")


def test_progress_only_when_asked_or_on_a_terminal(app: pliersdb.Database, seeded: World,
                                                   tmp_path: Path) -> None:
    slug = f"progress-{uuid.uuid4().hex[:8]}"
    published_form(app, seeded, "acme", slug)
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps({"data": {"fullName": f"n{i}"}}) + "\n"
                              for i in range(50)))
    quiet = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
                str(source))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == (f"form {slug} 1.0.0: 50 created, 0 skipped "
                            f"(external id already imported)\n")
    shown = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
                "--progress", str(source))
    assert shown.returncode == 0, shown.stderr
    assert f"import {source}:   0%|" in shown.stderr  # tqdm's bar, of the file's bytes
    exported = run("export", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
                   "--progress", "--output", str(tmp_path / "out.csv"))
    assert exported.returncode == 0, exported.stderr
    assert f"export {slug}: " in exported.stderr and "B/s]" in exported.stderr
    never = run("export", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", slug,
                "--no-progress", "--output", str(tmp_path / "out.csv"))
    assert never.stderr == f"exported 100 submissions of form {slug}\n"


def test_unknown_form_and_foreign_user_are_one_line(app: pliersdb.Database,
                                                    seeded: World) -> None:
    proc = run("export", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", "nope")
    assert proc.returncode == 1
    assert proc.stderr == "pliersdb export: form nope not found\n"
    acme, globex = seeded.orgs["acme"], seeded.orgs["globex"]
    proc = run("export", "--dsn", seeded.app_dsn, "--org", str(acme.id), "--user",
               str(next(iter(globex.users.values()))), "--form", "x")
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    draft = f"draft-{uuid.uuid4().hex[:8]}"
    with as_user(app, seeded, "acme") as t:
        t.forms.create("Intake", draft, DEFINITION)
    proc = run("import", "--dsn", seeded.app_dsn, *tenant(seeded, "acme"), "--form", draft,
               "-")
    assert proc.returncode == 1
    assert proc.stderr == (f"pliersdb import: form {draft}: no published or deprecated "
                           f"version to import into\n")
