"""Fuzzing the SQL API (hypothesis): only documented SQLSTATEs, whatever the arguments.

Every function of schema ``pliers`` that ``pliers_app`` may EXECUTE is read from the
catalog (``has_function_privilege``), so a new API function is fuzzed without editing
this file; an argument type without a strategy below fails ``test_every_argument_type_
has_a_strategy`` instead of being skipped.

Each call runs as an application login (a member of pliers_app, never a superuser or
the owner) in a populated tenant (forms in every status, submissions, attachments, an
API key, a webhook; and a second tenant whose ids are thrown in too), inside one
transaction per function, once with ``pliers.set_context(organization, user)`` and once
without a context. Each call is wrapped in a savepoint and must:

- succeed, or fail with a SQLSTATE of class PL that ``docs/errors.md`` registers, with
  a DETAIL that is a JSON object when there is one. ``docs/errors.md`` documents no
  other SQLSTATE, so anything else fails: ``0A000`` (a two-dimensional array),
  ``22xxx`` (data exceptions: NULL, range, bad input), ``23xxx`` (a constraint the
  validation should have caught), ``42xxx``, ``54001`` (stack depth), ``57014`` (the
  per-call ``statement_timeout``: no input may run unbounded), ``XX000``...;
- write nothing when it fails: after ``ROLLBACK TO SAVEPOINT`` the contents of every
  pliers table the application may read (a checksum per table, as the application sees
  it) equal those before the call, the session holds no advisory lock, and the tenant
  context is the one set before. (PostgreSQL undoes a failed statement's rows by
  itself; what a failed call could leak is what is not transactional: session-level
  advisory locks and settings. Sequence values are not compared: docs/api.md documents
  gaps in submission numbers.) A successful call is rolled back to the savepoint too, so
  every example starts from the same tenant.

Runs are bounded and reproducible: ``derandomize=True`` (hypothesis derives its
examples from the test, no random seed, no example database), a fixed number of
examples per function (``PLIERSDB_FUZZ_EXAMPLES`` raises it for a longer local run).

Definitions nest groups and conditions (``visibleWhen`` / ``requiredWhen``: ``all`` /
``any`` / ``not``) up to ``DEFINITION_DEPTH`` and ``CONDITION_DEPTH`` levels, far beyond
the input limits of docs/forms.md: those must answer PL001, never 54001 or a timeout."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import string
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import appworld
import pgcluster as clusterlib
import psycopg
import pytest
from appworld import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent

# Nesting well past the limits (32 groups, 16 conditions, 128 JSON levels): the fuzz
# checks that they answer PL001, not 54001 or a timeout. (Python's JSON encoder stops
# near 1,000 levels; a condition level is two.)
DEFINITION_DEPTH = 300
CONDITION_DEPTH = 300

EXAMPLES = int(os.environ.get("PLIERSDB_FUZZ_EXAMPLES", "60"))
EXAMPLES_WITHOUT_CONTEXT = max(EXAMPLES // 4, 5)
CALL_TIMEOUT = "10s"

SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


def registry() -> set[str]:
    text = (ROOT / "docs" / "errors.md").read_text()
    return set(re.findall(r"^\| `(PL\d{3})` \|", text, re.M))


# ---------------------------------------------------------------------------
# The tenant
# ---------------------------------------------------------------------------

FILE_DEFINITION: dict[str, Any] = {
    "title": "Fuzz",
    "fields": [
        {"type": "text", "name": "name", "validation": {"maxLength": 80}},
        {"type": "integer", "name": "age", "validation": {"min": 0, "max": 150}},
        {"type": "single_choice", "name": "kind",
         "choices": [{"code": "a"}, {"code": "b"}], "allowOther": True},
        {"type": "file", "name": "photo", "validation": {"maxItems": 3}},
        {"type": "signature", "name": "sign"},
        {"type": "group", "name": "grp", "fields": [
            {"type": "text", "name": "zip", "visibleWhen": {
                "field": "kind", "operator": "equals", "value": "a"}},
            {"type": "file", "name": "proof"},
        ]},
        {"type": "repeat", "name": "reps", "fields": [
            {"type": "text", "name": "label", "required": True},
            {"type": "file", "name": "doc"},
        ]},
    ],
}
ANSWERS: dict[str, Any] = {"name": "Ann", "age": 40, "kind": "a", "grp": {"zip": "1000"},
                           "reps": [{"label": "one"}, {"label": "two"}]}
SHA = hashlib.sha256(b"fuzz").hexdigest()
FLOW: dict[str, Any] = {"initial": "open", "states": {
    "open": {"on": {"close": {"target": "closed", "guard": {
        "expression": {"==": [{"var": "answers.kind"}, "a"]}}}},
             "timeout": {"after": "P1D", "event": "close"}},
    "closed": {"final": True, "onEntry": [{"type": "set_status", "status": "approved"}]}}}


@dataclass
class Tenant:
    organization_id: uuid.UUID
    user_id: uuid.UUID
    ids: list[uuid.UUID]  # every id of the tenant's rows
    by_table: dict[str, list[uuid.UUID]]  # "forms" -> the ids of its forms...
    slugs: list[str]

    def ids_for(self, argument: str) -> list[uuid.UUID]:
        """The ids of the tables an argument names (p_form_id: forms), else all."""
        word = argument.removeprefix("p_").removesuffix("_id").removesuffix("_to")
        word = {"assigned": "user"}.get(word, word)
        if self.by_table.get(word + "s"):
            return self.by_table[word + "s"]
        return [i for t, ids in self.by_table.items() if t.startswith(word) for i in ids] or (
            self.ids)


@dataclass
class Fuzzed:
    world: World
    home: Tenant
    away: Tenant
    texts: list[str]  # names and values taken from the tenants (slugs, field paths...)


def _call(conn: psycopg.Connection[Any], query: str, *args: Any) -> Any:
    row = conn.execute(query, args).fetchone()
    assert row is not None
    return row[0]


def _populate(conn: psycopg.Connection[Any], org: uuid.UUID, user: uuid.UUID, tag: str) -> None:
    """Forms in every status, submissions with attachments, an API key and a webhook,
    made through the API as the application."""
    with conn.transaction():
        conn.execute("SELECT pliers.set_context(%s, %s)", (org, user))
        d = Jsonb(FILE_DEFINITION)
        _call(conn, "SELECT id FROM pliers.create_form('Draft', %s, %s)", f"{tag}-draft", d)
        published = _call(conn, "SELECT id FROM pliers.create_form('Pub', %s, %s, "
                          "p_tags => '{x,y}')", f"{tag}-pub", d)
        conn.execute("SELECT pliers.publish_form(%s, '1.0.0')", (published,))
        old = _call(conn, "SELECT id FROM pliers.create_form('Old', %s, %s)", f"{tag}-old", d)
        conn.execute("SELECT pliers.publish_form(%s, '1.0.0')", (old,))
        conn.execute("SELECT pliers.deprecate_form(%s)", (old,))
        gone = _call(conn, "SELECT id FROM pliers.create_form('Gone', %s, %s)", f"{tag}-gone", d)
        conn.execute("SELECT pliers.publish_form(%s, '1.0.0')", (gone,))
        conn.execute("SELECT pliers.archive_form(%s)", (gone,))
        conn.execute("SELECT pliers.create_form_version(%s)", (published,))
        # A workflow of the published version: the submits below start its runs.
        flow = _call(conn, "SELECT id FROM pliers.create_workflow(%s, 'Flow', %s,"
                     " 'form_submission')", f"{tag}-flow", Jsonb(FLOW))
        conn.execute("SELECT pliers.attach_workflow_form(%s, %s)", (flow, published))
        conn.execute("SELECT pliers.publish_workflow(%s, '1.0.0')", (flow,))
        conn.execute("SELECT pliers.activate_workflow(%s)", (flow,))
        conn.execute("SELECT pliers.enqueue_job('fuzz.job', '{}', 'fuzz-key')")
        answers = Jsonb(ANSWERS)
        for submit in (False, False, True, True):
            sub = _call(conn, "SELECT id FROM pliers.create_submission(%s, %s, %s, %s)",
                        published, answers, submit, f"{tag}-{uuid.uuid4().hex[:6]}")
            if not submit:
                conn.execute("SELECT pliers.attach_file(%s, 'photo', 'a.png', 'image/png', 10,"
                             " 'k/a', %s)", (sub, SHA))
                conn.execute("SELECT pliers.attach_file(%s, 'reps[1].doc', 'b.pdf',"
                             " 'application/pdf', 20, 'k/b', %s)", (sub, SHA))
        conn.execute("SELECT pliers.set_submission_status(id, 'approved') FROM pliers.submissions"
                     " WHERE status = 'submitted' AND organization_id = %s LIMIT 1", (org,))
        deleted = _call(conn, "SELECT id FROM pliers.create_submission(%s, %s)", published,
                        answers)
        conn.execute("SELECT pliers.delete_submission(%s)", (deleted,))
        conn.execute("SELECT * FROM pliers.create_api_key('fuzz key', 'live', '{form.view}')")
        conn.execute("SELECT pliers.create_webhook('hook', 'https://example.com/h',"
                     " '{submission.created}', '\\x00'::bytea, 'k1')")


def _collect(admin_dsn: str, org: uuid.UUID, user: uuid.UUID) -> Tenant:
    """Every uuid id of the tenant's rows (read as the superuser), and its form slugs."""
    with psycopg.connect(admin_dsn) as conn:
        tables = conn.execute(
            """SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
                             AND a.attname = 'organization_id')
                 AND EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
                             AND a.attname = 'id' AND a.atttypid = 'uuid'::regtype)
               ORDER BY 1""").fetchall()
        by_table: dict[str, list[uuid.UUID]] = {}
        for (table,) in tables:
            by_table[table.removeprefix("pliers.")] = [r[0] for r in conn.execute(
                sql.SQL("SELECT id FROM {} WHERE organization_id = %s ORDER BY id").format(
                    sql.SQL(table)), (org,))]
        ids = [org, user, *(i for found in by_table.values() for i in found)]
        slugs = [r[0] for r in conn.execute(
            "SELECT slug FROM pliers.forms WHERE organization_id = %s"
            " UNION SELECT slug FROM pliers.workflows WHERE organization_id = %s ORDER BY 1",
            (org, org))]
    return Tenant(org, user, sorted(set(ids)), by_table, slugs)


@pytest.fixture(scope="module")
def fuzzed(cluster: clusterlib.Cluster, template: str) -> Iterator[Fuzzed]:
    with appworld.world(cluster, template, "fuzz", {
        "home": {"users": {"ada": ["org_admin"], "mo": ["member"]}, "teams": ("ops",)},
        "away": {"users": {"bob": ["org_admin"]}, "teams": ("far",)},
    }) as built:
        with psycopg.connect(built.app_dsn) as conn:
            for slug, tag in (("home", "h"), ("away", "a")):
                org = built.orgs[slug]
                _populate(conn, org.id, org.users[next(iter(org.users))], tag)
        home, away = (_collect(built.admin_dsn, built.orgs[s].id,
                               next(iter(built.orgs[s].users.values()))) for s in ("home", "away"))
        texts = [*home.slugs, *away.slugs, "name", "photo", "sign", "grp.proof", "grp.zip",
                 "reps[0].doc", "reps[1].doc", "reps[9].doc", "reps.doc", "grp", "reps",
                 "1.0.0", "2.0.0", "1.0.1", "99999999999999999999.0.0", "1.0", "01.0.0",
                 "image/png", "application/pdf", SHA, SHA.upper(), "form.view", "form.create",
                 "submission.view", "submission.created", "=", "<>", "<", "<=", ">", ">=",
                 "web", "import", "live", "test", "https://example.com/x", "open", "close",
                 "closed", "fuzz.job"]
        yield Fuzzed(built, home, away, texts)


# ---------------------------------------------------------------------------
# The functions, from the catalog
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Function:
    name: str
    signature: str  # regprocedure
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]  # format_type: 'uuid', 'text[]', 'pliers.form_status'...
    defaults: int


FUNCTIONS_QUERY = """
SELECT p.proname, p.oid::regprocedure::text,
       coalesce((SELECT array_agg(coalesce(nullif(a.name, ''), 'arg' || a.ord) ORDER BY a.ord)
                 FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a (name, mode, ord)
                 WHERE coalesce(a.mode, 'i') IN ('i', 'b', 'v')), '{}'),
       coalesce((SELECT array_agg(pg_catalog.format_type(t.typ, NULL) ORDER BY t.ord)
                 FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS t (typ, ord)), '{}'),
       p.pronargdefaults
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = 'pliers' AND p.prokind = 'f'
  AND pg_catalog.has_function_privilege('pliers_app', p.oid, 'EXECUTE')
ORDER BY 2
"""


def functions(conn: psycopg.Connection[Any]) -> list[Function]:
    found = []
    for name, signature, names, types, defaults in conn.execute(FUNCTIONS_QUERY):
        types = list(types)
        names = list(names) if len(names) == len(types) else [f"arg{i}" for i in range(
            len(types))]
        found.append(Function(name, signature, tuple(names), tuple(types), defaults))
    return found


def enum_labels(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    return {t: list(labels) for t, labels in conn.execute(
        "SELECT pg_catalog.format_type(enumtypid, NULL), array_agg(enumlabel ORDER BY "
        "enumsortorder) FROM pg_catalog.pg_enum GROUP BY 1")}


# ---------------------------------------------------------------------------
# Arguments: each one a SQL fragment and its parameters
# ---------------------------------------------------------------------------

Arg = tuple[str, list[Any]]  # e.g. ("%s::uuid", [UUID(...)])


# invite_user's p_valid_for: negative, zero, the bounds and past them, the largest interval.
INTERVALS = ["-1 day", "0", "00:59:59", "1 hour", "30 days", "30 days 00:00:01",
             "178000000 years", "-178000000 years"]


def typed(type_: str) -> Callable[[Any], Arg]:
    return lambda value: (f"%s::{type_}", [value])


CONTROL = "".join(chr(c) for c in range(1, 32)) + "\x7f"
SQLISH = ["'", "''", "'; DROP TABLE pliers.forms; --", "%s", "%%", "$1", "$$", "\\",
          '"', '")', "a.b.c", "..", ".", "$.x", "$[*]", "@", "*", "?", "NULL", "null",
          "{}", "[]", "{a,b}", "a,b", "\\x00", "like_%", "E'\\n'", "(", ")", "/*", "--"]
TEXT_ALPHABET = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


# Values an argument of that name expects, so that calls get past the first check.
NAMED_TEXTS: dict[str, list[str]] = {
    "version": ["1.0.0", "1.0.1", "2.0.0", "1.1.0", "10.20.30", "0.0.0", "1.0", "01.0.0",
                "99999999999999999999.0.0", "2147483648.0.0", "1.0.0-rc.1", "v1.0.0"],
    "field": ["name", "photo", "sign", "grp.proof", "grp.zip", "reps[0].doc", "reps[1].doc",
              "reps[9].doc", "reps[-1].doc", "reps[99999999999999999999].doc", "reps.doc",
              "reps[0]", "grp", "reps", "photo[0]", "a..b", "[0]", "name.x.y"],
    "mime_type": ["image/png", "application/pdf", "text/plain", "image", "/", "a/b/c"],
    "checksum": [SHA, SHA.upper(), SHA[:-1], "z" * 64],
    "op": ["=", "<>", "<", "<=", ">", ">=", "==", "like", "@@"],
    "environment": ["live", "test", "LIVE", "toolongname"],
    "source": ["web", "import", "api"],
    "url": ["https://example.com/x", "http://", "https://" + "a" * 5000, "ftp://x"],
    "filename": ["a.png", "../../etc/passwd", ".", "a" * 300],
    "storage_key": ["k/a", "k/b", "../x"],
    "storage_provider": ["s3", "gcs", ""],
    "reason": ["because"],
}


def texts(pool: list[str], name: str = "") -> st.SearchStrategy[str | None]:
    named = [v for key, values in NAMED_TEXTS.items() if name.endswith(key) for v in values]
    return st.one_of(
        st.none(), st.just(""), st.sampled_from(pool), st.sampled_from(SQLISH),
        *([st.sampled_from(named)] * 3 if named else []),
        st.text(TEXT_ALPHABET, max_size=40),
        st.text(st.sampled_from(CONTROL), min_size=1, max_size=10),
        st.text(string.ascii_lowercase + "-_.", min_size=1, max_size=80),
        st.sampled_from(["x" * 101, "x" * 256, "é" * 300, "x" * 10_001, "中" * 70_000,
                         "a" * 1_000_000]),
        st.builds(lambda s, n: s * n, st.sampled_from(["a", "é", "-", "ab/"]),
                  st.integers(0, 5_000)),
    )


JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(TEXT_ALPHABET, max_size=20),
    st.sampled_from(["", "a", "1", "2024-06-01", "2024-02-30", "x" * 5000, "image/png",
                     "00000000-0000-0000-0000-000000000000", "true", "null"]),
    st.sampled_from([1e300, -1e300, 10**400, 0.1, -0.0, 2**31, 2**63]),
)
JSON_KEYS = st.one_of(st.sampled_from(["name", "age", "kind", "photo", "sign", "grp", "reps",
                                       "zip", "fields", "type", "errors", "", "$", "a.b"]),
                      st.text(TEXT_ALPHABET, max_size=10))


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=6), st.dictionaries(JSON_KEYS, inner, max_size=6))


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    return st.recursive(JSON_LEAF, _containers, max_leaves=max_leaves)


def deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "array" else {"a": value}
    return value


def wide(n: int, kind: str) -> Any:
    return list(range(n)) if kind == "array" else {f"k{i}": i for i in range(n)}


FIELD_TYPES = ["text", "textarea", "email", "integer", "number", "boolean", "date",
               "single_choice", "multiple_choice", "ranking", "phone", "geotrace", "geoshape",
               "file", "signature", "group", "repeat", "display", "calculated", "unknown", ""]


def nested_groups(depth: int, kind: str = "group") -> dict[str, Any]:
    """A definition whose fields nest ``depth`` groups (or repeats) deep."""
    field: dict[str, Any] = {"type": "text", "name": "leaf"}
    for i in range(depth):
        field = {"type": kind, "name": f"g{i}", "fields": [field]}
    return {"fields": [field]}


def nested_condition(depth: int) -> dict[str, Any]:
    """A definition with a visibleWhen condition nested ``depth`` levels deep."""
    cond: dict[str, Any] = {"field": "a", "operator": "equals", "value": "x"}
    for i in range(depth):
        cond = {("all", "any", "not")[i % 3]: cond if i % 3 == 2 else [cond]}
    return {"fields": [{"type": "text", "name": "a"},
                       {"type": "text", "name": "b", "visibleWhen": cond}]}


def definitions() -> st.SearchStrategy[Any]:
    """Definition-shaped JSON: fields of every type, with generated properties."""
    field = st.fixed_dictionaries(
        {"type": st.sampled_from(FIELD_TYPES), "name": JSON_KEYS},
        optional={"required": json_values(3), "validation": json_values(6),
                  "choices": json_values(6), "fields": json_values(6),
                  "visibleWhen": json_values(6), "requiredWhen": json_values(6),
                  "expression": json_values(3), "accept": json_values(3), "id": JSON_LEAF,
                  "label": json_values(3), "hint": json_values(3), "choiceList": JSON_LEAF,
                  "repeatCount": json_values(3), "choiceFilter": json_values(3),
                  "defaultExpression": json_values(3)})
    return st.one_of(
        st.fixed_dictionaries({"fields": st.lists(field, max_size=6)},
                              optional={"sections": json_values(6), "pages": json_values(6),
                                        "title": json_values(3), "languages": json_values(3),
                                        "defaultLanguage": JSON_LEAF}),
        st.integers(0, DEFINITION_DEPTH).map(nested_groups),
        st.integers(0, DEFINITION_DEPTH).map(lambda d: nested_groups(d, "repeat")),
        st.integers(0, CONDITION_DEPTH).map(nested_condition),
        st.just(FILE_DEFINITION),
    )


def jsonb_values(name: str) -> st.SearchStrategy[Any]:
    """Python JSON values (None is SQL NULL; JSON null is the string 'null' below)."""
    special: list[st.SearchStrategy[Any]] = [
        json_values(),
        st.builds(deep, st.integers(1, 100), st.sampled_from(["array", "object"])),
        st.builds(wide, st.sampled_from([100, 5000]), st.sampled_from(["array", "object"])),
        st.just(ANSWERS), st.just({}), st.just([]),
    ]
    if "definition" in name:
        special.append(definitions())
    return st.one_of(*special)


def jsonb_args(name: str) -> st.SearchStrategy[Arg]:
    return st.one_of(
        st.just(("%s::jsonb", [None])), st.just(("'null'::jsonb", [])),
        jsonb_values(name).map(lambda v: ("%s::jsonb", [Jsonb(v)])))


def text_elements(pool: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(pool), st.text(TEXT_ALPHABET, max_size=12),
                     st.just(""), st.sampled_from(["x" * 256, "é" * 3000, "y" * 100_000]))


def text_array_args(pool: list[str]) -> st.SearchStrategy[Arg]:
    element = text_elements(pool)
    return st.one_of(
        st.just(("%s::text[]", [None])),
        st.lists(element, max_size=6).map(lambda v: ("%s::text[]", [v])),
        st.lists(st.lists(element, min_size=1, max_size=3), min_size=1, max_size=3)
        .map(lambda rows: ("%s::text[]", [[r + [r[0]] * (3 - len(r)) for r in rows]]))
        .filter(lambda a: len({len(r) for r in a[1][0]}) == 1),
        st.just(("'{{a,b},{c,d}}'::text[]", [])),
        st.just(("'{{{a}}}'::text[]", [])),
        st.just(("'[0:1]={a,b}'::text[]", [])),  # lower bound 0
        st.sampled_from([1_000, 100_000]).map(lambda n: ("%s::text[]", [["t"] * n])),
        st.integers(1, 5_000).map(lambda n: ("%s::text[]", [[f"t{i}" for i in range(n)]])),
    )


def uuid_args(f: Fuzzed, name: str) -> st.SearchStrategy[Arg]:
    """Random ids, NULL, and ids of this tenant's rows (mostly of the table the argument
    names) and of the other tenant's."""
    own = f.home.ids_for(name)
    return st.one_of(
        st.none(), st.uuids(), st.just(uuid.UUID(int=0)), st.sampled_from(own),
        st.sampled_from(own), st.sampled_from(f.home.ids), st.sampled_from(f.away.ids_for(name)),
    ).map(typed("uuid"))


def timestamp_args() -> st.SearchStrategy[Arg]:
    return st.one_of(
        st.none(),
        st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC))
        .map(lambda d: d.isoformat()),
        st.sampled_from(["infinity", "-infinity", "epoch", "4713-01-01 BC",
                         "294276-12-31 23:59:59+00"]),
        st.integers(-3_600_000, 3_600_000).map(
            lambda s: (datetime.now(UTC) + timedelta(seconds=s)).isoformat()),
    ).map(typed("timestamptz"))


def import_rows(f: Fuzzed, enums: dict[str, list[str]]) -> st.SearchStrategy[Arg]:
    status = st.one_of(st.none(), st.sampled_from(enums["pliers.submission_status"]))

    def row(values: tuple[Any, ...]) -> Arg:
        data, stat, ext, meta, tags, source, created, submitted = values
        parts = [data, ("%s::pliers.submission_status", [stat]), ext, meta, tags, source,
                 created, submitted]
        return ("ROW(" + ", ".join(p[0] for p in parts) + ")::pliers.submission_import",
                [v for p in parts for v in p[1]])

    one = st.tuples(jsonb_args("data"), status, texts(f.texts, "external_id").map(typed("text")),
                    jsonb_args("metadata"), text_array_args(f.texts),
                    texts(f.texts, "source").map(typed("text")), timestamp_args(),
                    timestamp_args()).map(row)
    null_row: Arg = ("NULL::pliers.submission_import", [])

    def array(items: list[Arg]) -> Arg:
        if not items:
            return ("'{}'::pliers.submission_import[]", [])
        return ("ARRAY[" + ", ".join(i[0] for i in items) + "]",
                [v for i in items for v in i[1]])

    many: Arg = ("(SELECT array_agg(ROW('{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
                 "::pliers.submission_import) FROM generate_series(1, 2000))", [])
    return st.one_of(
        st.just(("NULL::pliers.submission_import[]", [])),
        st.lists(st.one_of(one, st.just(null_row)), max_size=4).map(array),
        st.lists(one, min_size=2, max_size=2).map(
            lambda rows: ("ARRAY[ARRAY[" + rows[0][0] + "], ARRAY[" + rows[1][0] + "]]",
                          rows[0][1] + rows[1][1])),
        st.just(many),
    )


def strategy(f: Fuzzed, enums: dict[str, list[str]], name: str, type_: str
             ) -> st.SearchStrategy[Arg] | None:
    """The arguments generated for a parameter of this type (None: no strategy)."""
    if type_ in enums:
        return st.one_of(st.none(), st.sampled_from(enums[type_])).map(typed(type_))
    match type_:
        case "uuid":
            return uuid_args(f, name)
        case "text":
            return texts(f.texts, name).map(typed("text"))
        case "jsonb":
            return jsonb_args(name)
        case "text[]":
            return text_array_args(f.texts)
        case "integer":
            return st.one_of(st.none(), st.integers(-3, 5), st.integers(-(2**31), 2**31 - 1),
                             st.sampled_from([-(2**31), 2**31 - 1, 1000, 1001])).map(
                typed("integer"))
        case "bigint":
            return st.one_of(st.none(), st.integers(-3, 5), st.integers(-(2**63), 2**63 - 1),
                             st.sampled_from([-(2**63), 2**63 - 1, 2**53])).map(typed("bigint"))
        case "boolean":
            return st.one_of(st.none(), st.booleans()).map(typed("boolean"))
        case "timestamp with time zone":
            return timestamp_args()
        case "inet":
            return st.one_of(st.none(), st.ip_addresses().map(str),
                             st.sampled_from(["10.0.0.0/8", "::1/128", "192.0.2.1"])
                             ).map(typed("inet"))
        case "xid8":
            return st.one_of(st.none(), st.integers(0, 2**64 - 1).map(str),
                             st.sampled_from(["0", "1", "3", str(2**64 - 1)])).map(typed("xid8"))
        case "bytea":
            return st.one_of(st.none(), st.binary(max_size=64),
                             st.just(b"\x00" * 100_000)).map(typed("bytea"))
        case "interval":
            return st.one_of(st.none(), st.sampled_from(INTERVALS)).map(typed("interval"))
        case "pliers.submission_import[]":
            return import_rows(f, enums)
    return None


def plausible(f: Fuzzed, enums: dict[str, list[str]], name: str, type_: str) -> list[Arg]:
    """Arguments that pass the usual checks, so that one bad argument among them reaches
    the code behind those checks."""
    if type_ in enums:
        return [(f"%s::{type_}", [v]) for v in enums[type_]]
    named = [v for key, values in NAMED_TEXTS.items() if name.endswith(key) for v in values]
    match type_:
        case "uuid":
            return [("%s::uuid", [i]) for i in f.home.ids_for(name)]
        case "text":
            return [("%s::text", [v]) for v in (named[:3] or ["fuzz", *f.home.slugs])]
        case "jsonb":
            value = (FILE_DEFINITION if "definition" in name else
                     ANSWERS if name.endswith(("data", "value", "answers")) else {})
            return [("%s::jsonb", [Jsonb(value)])]
        case "text[]":
            return [("%s::text[]", [v]) for v in ([], ["a"], ["form.view"],
                                                  ["submission.created"])]
        case "integer" | "bigint":
            return [(f"%s::{type_}", [v]) for v in (1, 2, 3)]
        case "boolean":
            return [("%s::boolean", [v]) for v in (False, True)]
        case "timestamp with time zone":
            return [("NULL::timestamptz", [])]
        case "pliers.submission_import[]":
            return [(f"ARRAY[{IMPORT_ROW}]", [Jsonb(ANSWERS), "submitted", None, Jsonb({}),
                                             [], None, None, None])]
    return sweep(f, enums, name, type_)


IMPORT_ROW = ("ROW(%s::jsonb, %s::pliers.submission_status, %s::text, %s::jsonb, %s::text[], "
              "%s::text, %s::timestamptz, %s::timestamptz)::pliers.submission_import")
IMPORT_FIELDS = [("data", "jsonb"), ("status", "pliers.submission_status"),
                 ("external_id", "text"), ("metadata", "jsonb"), ("tags", "text[]"),
                 ("source", "text"), ("created_at", "timestamp with time zone"),
                 ("submitted_at", "timestamp with time zone")]


def sweep(f: Fuzzed, enums: dict[str, list[str]], name: str, type_: str) -> list[Arg]:
    """The bad (and edge) values tried, one at a time, for every argument of this type."""
    if type_ in enums:
        return [(f"%s::{type_}", [v]) for v in [None, *enums[type_]]]
    named = [v for key, values in NAMED_TEXTS.items() if name.endswith(key) for v in values]
    now = datetime.now(UTC)
    values: list[Any]
    match type_:
        case "uuid":
            values = [None, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4(),
                      *f.away.ids_for(name)[:3], *f.home.ids[:: max(len(f.home.ids) // 8, 1)]]
        case "text":
            values = [None, "", " ", "x" * 256, "é" * 70_000, "a" * 1_000_000, CONTROL,
                      "\\u0000", *SQLISH[:12], *named]
        case "jsonb":
            return [("%s::jsonb", [None]), ("'null'::jsonb", []), *(
                ("%s::jsonb", [Jsonb(v)]) for v in [
                    1, "s", True, [], {}, [1], {"": None}, 10**400, -1e300, "x" * 100_000,
                    deep(100, "array"), deep(100, "object"), wide(5000, "array"),
                    wide(5000, "object"), ANSWERS, {"fields": 1}, {"fields": [None]},
                    FILE_DEFINITION, nested_groups(DEFINITION_DEPTH),
                    nested_groups(DEFINITION_DEPTH, "repeat"),
                    nested_condition(CONDITION_DEPTH)])]
        case "text[]":
            return [("%s::text[]", [None]), *((f"'{v}'::text[]", []) for v in [
                "{}", "{NULL}", "{a,NULL}", "{{a,b},{c,d}}", "{{{a}}}", "{{NULL}}",
                "[0:1]={a,b}", "{\"\"}"]), *(("%s::text[]", [v]) for v in [
                    ["x" * 100_000], ["é" * 3000], ["t"] * 100_000, [f"t{i}" for i in range(101)],
                    ["form.view", "form.view"], ["a; DROP TABLE x"]])]
        case "integer":
            values = [None, -(2**31), -1, 0, 1, 2, 1000, 1001, 2**31 - 1]
        case "bigint":
            values = [None, -(2**63), -1, 0, 1, 2**53, 2**63 - 1]
        case "boolean":
            values = [None, False, True]
        case "timestamp with time zone":
            values = [None, "infinity", "-infinity", "4713-01-01 BC", "294276-12-31 23:59:59+00",
                      "epoch", (now + timedelta(hours=1)).isoformat(),
                      (now - timedelta(hours=1)).isoformat()]
            return [("%s::timestamptz", [v]) for v in values]
        case "inet":
            values = [None, "::1", "10.0.0.0/8", "255.255.255.255"]
        case "xid8":
            values = [None, "0", "3", str(2**64 - 1)]
        case "bytea":
            values = [None, b"", b"\x00" * 100_000]
        case "interval":
            values = [None, *INTERVALS]
        case "pliers.submission_import[]":
            return import_sweep(f, enums)
        case _:
            return []
    return [(f"%s::{type_}", [v]) for v in values]


def import_sweep(f: Fuzzed, enums: dict[str, list[str]]) -> list[Arg]:
    """NULL, empty, NULL rows, two dimensions, 2000 rows, and one row per bad value of each
    of its attributes (the others plausible)."""
    base = plausible(f, enums, "rows", "pliers.submission_import[]")[0][1]
    rows: list[Arg] = [
        ("NULL::pliers.submission_import[]", []), ("'{}'::pliers.submission_import[]", []),
        ("ARRAY[NULL::pliers.submission_import]", []),
        (f"ARRAY[ARRAY[{IMPORT_ROW}], ARRAY[{IMPORT_ROW}]]", base + base),
        ("(SELECT array_agg(ROW('{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
         "::pliers.submission_import) FROM generate_series(1, 2000))", []),
    ]
    for i, (name, type_) in enumerate(IMPORT_FIELDS):
        for fragment, params in sweep(f, enums, name, type_):
            parts = IMPORT_ROW.split("%s")
            row = "".join(p + ((fragment if j == i else "%s") if j < len(parts) - 1 else "")
                          for j, p in enumerate(parts))
            rows.append((f"ARRAY[{row}]", base[:i] + params + base[i + 1:]))
    return rows


@st.composite
def calls(draw: st.DrawFn, fn: Function, f: Fuzzed, enums: dict[str, list[str]]
          ) -> tuple[str, list[Any]]:
    """A call of the function with generated arguments (trailing defaults may be left
    out): every argument fuzzed, or one fuzzed among plausible ones."""
    count = draw(st.integers(len(fn.arg_types) - fn.defaults, len(fn.arg_types)))
    fuzzed = draw(st.one_of(st.none(), st.integers(0, max(count - 1, 0))), label="fuzzed")
    args = []
    for i, (name, type_) in enumerate(zip(fn.arg_names[:count], fn.arg_types[:count],
                                          strict=True)):
        s = strategy(f, enums, name, type_)
        assert s is not None, f"no strategy for {type_} ({fn.signature})"
        if fuzzed is not None and i != fuzzed:
            s = st.sampled_from(plausible(f, enums, name, type_))
        args.append(draw(s, label=name))
    return call_sql(fn, [a[0] for a in args]), [v for a in args for v in a[1]]


def call_sql(fn: Function, fragments: list[str]) -> str:
    """The call, each result row as text (the client converts no value: an infinite
    timestamp is a valid result that Python's datetime cannot hold)."""
    return f"SELECT r::text FROM pliers.{fn.name}({', '.join(fragments)}) AS r"


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------

def snapshot_query(conn: psycopg.Connection[Any]) -> str:
    """One query: per pliers table, the row count and a checksum of the columns the
    application may read, as it sees them (row-level security applies)."""
    parts = []
    for table, columns in conn.execute(
        """SELECT c.oid::regclass::text,
                  array_agg(pg_catalog.quote_ident(a.attname) ORDER BY a.attnum)
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
                AND a.attnum > 0 AND NOT a.attisdropped
           WHERE n.nspname = 'pliers' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT')
           GROUP BY 1 ORDER BY 1"""):
        row = "ROW(" + ", ".join(columns) + ")::text"
        parts.append(f"(SELECT pg_catalog.jsonb_build_array('{table}', count(*), "
                     f"pg_catalog.md5(coalesce(string_agg(pg_catalog.md5({row}), '' "
                     f"ORDER BY pg_catalog.md5({row})), ''))) FROM {table})")
    assert parts
    return "SELECT pg_catalog.jsonb_build_array(" + ", ".join(parts) + ")"


SESSION_STATE = """
SELECT pliers.current_organization_id(), pliers.current_user_id(),
       (SELECT count(*) FROM pg_catalog.pg_locks
        WHERE pid = pg_catalog.pg_backend_pid() AND locktype = 'advisory')
"""


@dataclass
class Failure:
    function: str
    query: str
    sqlstate: str | None
    message: str
    params: str = ""


@dataclass
class Baseline:
    snapshot_query: str
    snapshot: Any
    session: Any
    codes: set[str]


def check(conn: psycopg.Connection[Any], function: str, query: str, params: list[Any],
          base: Baseline) -> Failure | None:
    """Run one call in a savepoint; None if the outcome is allowed."""
    failure = None
    conn.execute("SAVEPOINT fuzz")
    try:
        conn.execute(query, params).fetchall()
    except psycopg.Error as exc:
        code = exc.sqlstate
        conn.execute("ROLLBACK TO SAVEPOINT fuzz")
        detail = exc.diag.message_detail
        if code not in base.codes:
            failure = Failure(function, query, code, str(exc).splitlines()[0][:300])
        elif detail is not None and not _json_object(detail):
            failure = Failure(function, query, code, f"DETAIL is not a JSON object: {detail}")
        elif conn.execute(base.snapshot_query).fetchone() != base.snapshot:
            failure = Failure(function, query, code, "a failed call changed tables")
        elif conn.execute(SESSION_STATE).fetchone() != base.session:
            failure = Failure(function, query, code,
                              "a failed call left a lock or changed the context")
    else:
        conn.execute("ROLLBACK TO SAVEPOINT fuzz")
    conn.execute("RELEASE SAVEPOINT fuzz")
    return failure


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def baseline(conn: psycopg.Connection[Any], snapshot_query: str) -> Baseline:
    return Baseline(snapshot_query, conn.execute(snapshot_query).fetchone(),
                    conn.execute(SESSION_STATE).fetchone(), registry())


def fuzz_function(conn: psycopg.Connection[Any], fn: Function, f: Fuzzed,
                  enums: dict[str, list[str]], base: Baseline, examples: int
                  ) -> list[Failure]:
    """The failures found for one function: the sweep's (one per argument and SQLSTATE),
    then hypothesis's (one per SQLSTATE, the last, shrunk, example)."""
    found: dict[str | None, Failure] = {}
    swept: dict[tuple[str, str | None], Failure] = {}
    for name, fragment, params in sweep_calls(fn, f, enums):
        failure = check(conn, fn.signature, fragment, params, base)
        if failure is not None:
            failure.params = repr(params)[:400]
            swept.setdefault((name, failure.sqlstate), failure)

    @settings(SETTINGS, max_examples=examples)
    @given(call=calls(fn, f, enums))
    def run(call: tuple[str, list[Any]]) -> None:
        failure = check(conn, fn.signature, call[0], call[1], base)
        if failure is not None:
            failure.params = repr(call[1])[:400]
            found[failure.sqlstate] = failure
            raise AssertionError(failure)

    with contextlib.suppress(AssertionError):
        run()
    return [*swept.values(), *found.values()]


def sweep_calls(fn: Function, f: Fuzzed, enums: dict[str, list[str]]
                ) -> Iterator[tuple[str, str, list[Any]]]:
    """Each argument in turn takes each value of ``sweep`` while the others are plausible
    (cycling through their plausible values): (argument, query, parameters)."""
    others = [plausible(f, enums, n, t) for n, t in zip(fn.arg_names, fn.arg_types, strict=True)]
    turn = 0
    for i, (name, type_) in enumerate(zip(fn.arg_names, fn.arg_types, strict=True)):
        for value in sweep(f, enums, name, type_):
            turn += 1
            args = [value if j == i else choices[turn % len(choices)]
                    for j, choices in enumerate(others)]
            yield name, call_sql(fn, [a[0] for a in args]), [v for a in args for v in a[1]]


def fuzz(f: Fuzzed, with_context: bool, examples: int) -> list[Failure]:
    failures: list[Failure] = []
    with psycopg.connect(f.world.app_dsn) as conn:
        flags = conn.execute("SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles "
                             "WHERE rolname = current_user").fetchone()
        assert flags == (False,)
        query = snapshot_query(conn)
        enums = enum_labels(conn)
        found = functions(conn)
        conn.rollback()
        for fn in found:
            with conn.transaction(force_rollback=True):
                conn.execute(f"SET LOCAL statement_timeout = '{CALL_TIMEOUT}'")
                if with_context:
                    conn.execute("SELECT pliers.set_context(%s, %s)",
                                 (f.home.organization_id, f.home.user_id))
                started = time.monotonic()
                failures += fuzz_function(conn, fn, f, enums, baseline(conn, query), examples)
                if os.environ.get("PLIERSDB_FUZZ_TIMES"):
                    print(f"{time.monotonic() - started:7.2f}s {fn.signature}")
    return failures


def report(failures: list[Failure]) -> str:
    return "\n".join(f"{x.function}: {x.sqlstate} {x.message}\n    {x.query[:400]}"
                     f"\n    {x.params[:400]}" for x in failures)


def test_every_api_function_is_found_with_a_strategy_for_each_argument(
        fuzzed: Fuzzed) -> None:
    with psycopg.connect(fuzzed.world.app_dsn) as conn:
        found = functions(conn)
        enums = enum_labels(conn)
    names = {fn.name for fn in found}
    assert {"create_form", "create_submission", "import_submissions", "list_submissions",
            "set_context", "attach_file", "create_api_key"} <= names
    assert not any(name.startswith("_") for name in names), names  # private helpers
    missing = {(fn.signature, t) for fn in found for name, t in zip(
        fn.arg_names, fn.arg_types, strict=True) if strategy(fuzzed, enums, name, t) is None}
    assert not missing, f"argument types without a fuzz strategy: {missing}"


def test_fuzz_every_api_function_in_a_tenant_context(fuzzed: Fuzzed) -> None:
    failures = fuzz(fuzzed, with_context=True, examples=EXAMPLES)
    assert not failures, report(failures)


def test_fuzz_every_api_function_without_a_context(fuzzed: Fuzzed) -> None:
    failures = fuzz(fuzzed, with_context=False, examples=EXAMPLES_WITHOUT_CONTEXT)
    assert not failures, report(failures)


def test_the_fuzz_check_catches_a_non_pl_error_and_a_leaked_lock(fuzzed: Fuzzed) -> None:
    """The check itself: an undocumented SQLSTATE and a session lock left by a failed call
    are reported; a PL error that changed nothing is not."""
    with psycopg.connect(fuzzed.world.app_dsn) as conn, conn.transaction(force_rollback=True):
        base = baseline(conn, snapshot_query(conn))
        assert check(conn, "probe", "SELECT 1", [], base) is None
        bad = check(conn, "probe", "SELECT 1 / (random() * 0)::int", [], base)
        assert bad is not None and bad.sqlstate == "22012"
        no_context = check(conn, "probe", "SELECT pliers.create_form('x', 'y', '{}')", [], base)
        assert no_context is None  # PL008
        base.codes.add("22012")
        leak = check(conn, "probe", "SELECT CASE WHEN pg_catalog.pg_advisory_lock(42) IS NULL"
                     " THEN 0 ELSE 1 / (random() * 0)::int END", [], base)
        assert leak is not None and "lock" in leak.message
        conn.execute("SELECT pg_catalog.pg_advisory_unlock_all()")


def errors_of(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[tuple[str, str]]:
    """(path, code) of the PL001 errors of a call, which must fail with PL001."""
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        conn.execute(query, params)
    assert caught.value.sqlstate == "PL001", caught.value
    detail = json.loads(caught.value.diag.message_detail or "{}")
    return [(e["path"], e["code"]) for e in detail["errors"]]


def test_text_array_arguments_are_one_dimensional_without_null_and_bounded(
        fuzzed: Fuzzed) -> None:
    """The rule of pliers._check_text_array, through each kind of caller: PL001 naming the
    argument, never 0A000; 100 items of 255 characters pass."""
    form = fuzzed.home.by_table["forms"][0]
    published = _call_as(fuzzed, "SELECT id FROM pliers.forms WHERE status = 'published' "
                         "AND organization_id = %s LIMIT 1", fuzzed.home.organization_id)
    with psycopg.connect(fuzzed.world.app_dsn) as conn, conn.transaction(force_rollback=True):
        conn.execute("SELECT pliers.set_context(%s, %s)",
                     (fuzzed.home.organization_id, fuzzed.home.user_id))
        create = "SELECT pliers.create_form('N', %s, %s, p_tags => %s::text[])"
        d = Jsonb(FILE_DEFINITION)
        assert errors_of(conn, create, "t-1", d, "{{a,b},{c,d}}") == [("tags", "invalid")]
        assert errors_of(conn, create, "t-1", d, "{a,NULL}") == [("tags", "invalid")]
        assert errors_of(conn, create, "t-1", d, ["t"] * 101) == [("tags", "too_many_items")]
        assert errors_of(conn, create, "t-1", d, ["t" * 256]) == [("tags", "too_long")]
        with conn.transaction(force_rollback=True):
            conn.execute(create, ("t-1", d, ["t" * 255] * 100))
        assert ("tags", "invalid") in errors_of(
            conn, "SELECT pliers.update_form(id, revision, p_tags => '{{a}}') FROM pliers.forms"
            " WHERE id = %s", form)
        assert errors_of(conn, "SELECT pliers.create_submission(%s, p_tags => '{{{a}}}')",
                         published) == [("tags", "invalid")]
        assert errors_of(conn, "SELECT pliers.create_api_key('k', 'live', '{{form.view}}')"
                         ) == [("scopes", "invalid")]
        assert errors_of(conn, "SELECT pliers.create_webhook('h', 'https://example.com',"
                         " '{{submission.created}}', NULL, NULL)") == [("events", "invalid")]
        rows = ("SELECT pliers.import_submissions(%s, ARRAY[ROW('{}', NULL, NULL, NULL,"
                " '{{a}}', NULL, NULL, NULL)::pliers.submission_import])")
        assert errors_of(conn, rows, published) == [("tags", "invalid")]
        scoped = conn.execute("SELECT pliers.scoped_answers(NULL, 'null'),"
                              " pliers.scoped_answers(%s, '{\"a\": 1}')", (form,)).fetchone()
        assert scoped == (None, {str(form): {"a": 1}})


def _call_as(fuzzed: Fuzzed, query: str, *params: Any) -> Any:
    with psycopg.connect(fuzzed.world.admin_dsn) as conn:
        return _call(conn, query, *params)
