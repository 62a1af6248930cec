"""Workflows: the workflow API of a tenant session, ``session.workflows``, and the
Mermaid diagram of a definition.

    with db.tenant(org_id, user_id) as t:
        wf = t.workflows.create("claim-review", "Claim review", definition,
                                trigger_type="form_submission")
        wf = t.workflows.attach_form(wf.id, form.id)
        wf = t.workflows.publish(wf.id, "1.0.0")
        wf = t.workflows.activate(wf.id)
    print(diagram(wf.definition))

A workflow is a state machine (``docs/workflows.md``): one row per version, like forms.
Each method is one call of the SQL API (sql/63-workflows-api.sql): the database
validates the definition (every error with its path, ``$.states.review.on.approve``),
checks permissions (``workflow.manage`` to write, ``workflow.view`` to read), moves
statuses, keeps one active version per slug and records events. This module passes
arguments, turns rows into ``Workflow`` objects and draws diagrams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pliersdb import errors
from pliersdb._api import Api, Call, S, api, json_list, record, records, then, value
from pliersdb._records import as_dict as _dict
from pliersdb._records import as_list as _list
from pliersdb._records import from_row, given

__all__ = ["Workflow", "WorkflowForm", "WorkflowStatusMove", "Workflows", "diagram"]

TriggerType = Literal["manual", "form_submission", "event", "schedule", "webhook"]
WorkflowStatus = Literal["draft", "published", "deprecated", "archived"]


@dataclass(frozen=True)
class Workflow:
    """One version of a workflow: a row of ``pliers.workflows``.

    ``revision`` is the optimistic-concurrency counter (pass it back as
    ``expected_revision``). ``is_active``: new executions start from this version (at
    most one version of a slug). ``next_fire_at``: the next start of an active schedule
    workflow. ``version`` is provisional until the draft is published.
    """

    id: UUID
    organization_id: UUID
    name: str
    slug: str
    version: str
    type: str
    trigger_type: str
    trigger_config: dict[str, Any]
    status: str
    is_active: bool
    definition: dict[str, Any]
    settings: dict[str, Any]
    timeout_seconds: int | None
    retry_config: dict[str, Any]
    metadata: dict[str, Any]
    tags: tuple[str, ...]
    revision: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    created_by: UUID | None
    updated_by: UUID | None
    published_at: datetime | None
    next_fire_at: datetime | None


@dataclass(frozen=True)
class WorkflowForm:
    """A form version attached to a workflow version (a row of ``pliers.workflow_forms``)."""

    workflow_id: UUID
    form_id: UUID
    created_at: datetime
    created_by: UUID | None


@dataclass(frozen=True)
class WorkflowStatusMove:
    """An allowed workflow status move and the API function that makes it."""

    from_status: str
    to_status: str
    via: str


def _first(what: str, **key: str) -> Callable[[list[dict[str, Any]]], Workflow]:
    """The conversion of list_workflows' rows to their first workflow; NotFound if none."""
    def convert(rows: list[dict[str, Any]]) -> Workflow:
        if not rows:
            raise errors.NotFound(f"workflow {what} not found", {"object": "workflow", **key})
        return from_row(Workflow, rows[0])

    return convert


class Workflows(Api[S]):
    """The workflow API of one tenant session (``session.workflows``)."""

    # Writing ------------------------------------------------------------------

    @api
    def create(self, slug: str, name: str, definition: Mapping[str, Any], *,
               trigger_type: TriggerType = "manual",
               trigger_config: Mapping[str, Any] | None = None, type: str | None = None,
               settings: Mapping[str, Any] | None = None, timeout_seconds: int | None = None,
               retry_config: Mapping[str, Any] | None = None,
               tags: Sequence[str] | None = None,
               metadata: Mapping[str, Any] | None = None) -> Call[Workflow]:
        """Create a workflow: its first version, a draft 1.0.0 (``pliers.create_workflow``).

        ``definition`` follows ``docs/workflows.md``; ``trigger_config`` the trigger
        (``{"cron": "0 2 * * *"}`` for a schedule, ``{"event_type": ...}`` for an event).
        Every error comes at once in ``ValidationError.errors``; ``Conflict`` when a live
        workflow has the slug; needs ``workflow.manage``.
        """
        return record(Workflow, "create_workflow", slug=slug, name=name,
                      definition=dict(definition), trigger_type=trigger_type,
                      **given(trigger_config=_dict(trigger_config), type=type,
                              settings=_dict(settings), timeout_seconds=timeout_seconds,
                              retry_config=_dict(retry_config), tags=_list(tags),
                              metadata=_dict(metadata)))

    @api
    def update(self, workflow_id: UUID | str, expected_revision: int, *,
               name: str | None = None, definition: Mapping[str, Any] | None = None,
               trigger_type: TriggerType | None = None,
               trigger_config: Mapping[str, Any] | None = None, type: str | None = None,
               settings: Mapping[str, Any] | None = None, timeout_seconds: int | None = None,
               retry_config: Mapping[str, Any] | None = None,
               tags: Sequence[str] | None = None,
               metadata: Mapping[str, Any] | None = None) -> Call[Workflow]:
        """Edit a draft (``pliers.update_workflow``); an argument left None is unchanged.
        ``Immutable`` once published; ``Conflict`` if ``expected_revision`` is stale."""
        return record(Workflow, "update_workflow", workflow_id=workflow_id,
                      expected_revision=expected_revision,
                      **given(name=name, definition=_dict(definition),
                              trigger_type=trigger_type, trigger_config=_dict(trigger_config),
                              type=type, settings=_dict(settings),
                              timeout_seconds=timeout_seconds,
                              retry_config=_dict(retry_config), tags=_list(tags),
                              metadata=_dict(metadata)))

    @api
    def delete(self, workflow_id: UUID | str, *,
               expected_revision: int | None = None) -> Call[Workflow]:
        """Discard a draft (soft delete; ``pliers.delete_workflow``)."""
        return record(Workflow, "delete_workflow", workflow_id=workflow_id,
                      **given(expected_revision=expected_revision))

    @api
    def publish(self, workflow_id: UUID | str, version: str | None = None, *,
                expected_revision: int | None = None) -> Call[Workflow]:
        """Publish a draft as ``version`` (default: its own; ``pliers.publish_workflow``).

        Checks the references that need the tenant too: teams, users and workflows that
        actions name, and the answers guards read against each attached form. The
        version must be greater than every published one of the slug.
        """
        return record(Workflow, "publish_workflow", workflow_id=workflow_id,
                      **given(version=version, expected_revision=expected_revision))

    @api
    def new_version(self, workflow_id: UUID | str) -> Call[Workflow]:
        """A new draft from the latest version of the slug, its forms and secret
        included (``pliers.create_workflow_version``); ``Conflict`` if a draft exists."""
        return record(Workflow, "create_workflow_version", workflow_id=workflow_id)

    @api
    def deprecate(self, workflow_id: UUID | str, *,
                  expected_revision: int | None = None) -> Call[Workflow]:
        """published -> deprecated, deactivated (``pliers.deprecate_workflow``)."""
        return record(Workflow, "deprecate_workflow", workflow_id=workflow_id,
                      **given(expected_revision=expected_revision))

    @api
    def archive(self, workflow_id: UUID | str, *,
                expected_revision: int | None = None) -> Call[Workflow]:
        """published or deprecated -> archived, deactivated (``pliers.archive_workflow``)."""
        return record(Workflow, "archive_workflow", workflow_id=workflow_id,
                      **given(expected_revision=expected_revision))

    @api
    def activate(self, workflow_id: UUID | str, *,
                 expected_revision: int | None = None) -> Call[Workflow]:
        """Make a published version the active one of its slug (the other one is
        deactivated; ``pliers.activate_workflow``)."""
        return record(Workflow, "activate_workflow", workflow_id=workflow_id,
                      **given(expected_revision=expected_revision))

    @api
    def deactivate(self, workflow_id: UUID | str, *,
                   expected_revision: int | None = None) -> Call[Workflow]:
        """No new execution starts from this version (``pliers.deactivate_workflow``)."""
        return record(Workflow, "deactivate_workflow", workflow_id=workflow_id,
                      **given(expected_revision=expected_revision))

    @api
    def attach_form(self, workflow_id: UUID | str, form_id: UUID | str) -> Call[Workflow]:
        """Attach a form version (``pliers.attach_workflow_form``): its submissions start a
        form_submission workflow, its answers are what guards read (checked now)."""
        return record(Workflow, "attach_workflow_form", workflow_id=workflow_id,
                      form_id=form_id)

    @api
    def detach_form(self, workflow_id: UUID | str, form_id: UUID | str) -> Call[Workflow]:
        """Detach a form version (``pliers.detach_workflow_form``)."""
        return record(Workflow, "detach_workflow_form", workflow_id=workflow_id,
                      form_id=form_id)

    @api
    def rotate_secret(self, workflow_id: UUID | str) -> Call[str]:
        """A new secret for a webhook workflow, returned once (only its hash is kept;
        ``pliers.rotate_workflow_secret``)."""
        return then(value("rotate_workflow_secret", workflow_id=workflow_id), str)

    # Reading ------------------------------------------------------------------

    @api
    def get(self, workflow_id: UUID | str) -> Call[Workflow]:
        """The live workflow version ``workflow_id``; ``NotFound`` otherwise."""
        return record(Workflow, "get_workflow", workflow_id=workflow_id)

    @api
    def versions(self, slug: str) -> Call[list[Workflow]]:
        """Every live version of the workflow ``slug``, in version order."""
        return records(Workflow, "list_workflows", slug=slug)

    @api
    def version(self, slug: str, version: str) -> Call[Workflow]:
        """Version ``version`` of the workflow ``slug``; ``NotFound`` if none."""
        def convert(rows: list[dict[str, Any]]) -> Workflow:
            return _first(f"{slug} {version}", slug=slug, version=version)(
                [row for row in rows if row["version"] == version])

        return Call("list_workflows", (), {"slug": slug}, convert)

    @api
    def active(self, slug: str) -> Call[Workflow]:
        """The active version of the workflow ``slug``; ``NotFound`` if none is active."""
        return Call("list_workflows", (), {"slug": slug, "active": True},
                    _first(slug, slug=slug))

    @api
    def latest(self, slug: str) -> Call[Workflow]:
        """The highest version of the workflow ``slug`` (a draft's included)."""
        return Call("list_workflows", (), {"slug": slug},
                    lambda rows: _first(slug, slug=slug)(rows[-1:]))

    @api
    def forms(self, workflow_id: UUID | str) -> Call[list[WorkflowForm]]:
        """The form versions attached to a workflow version, in attachment order."""
        return records(WorkflowForm, "list_workflow_forms", workflow_id=workflow_id)

    @api
    def validate(self, definition: Mapping[str, Any]) -> Call[list[dict[str, Any]]]:
        """Every error of a definition, ``[]`` if valid
        (``pliers.validate_workflow_definition``; the tenant's references aside)."""
        return then(value("validate_workflow_definition", definition=dict(definition)),
                    json_list)

    @api
    def status_moves(self) -> Call[list[WorkflowStatusMove]]:
        """The allowed status moves (``pliers.workflow_status_moves``)."""
        return records(WorkflowStatusMove, "workflow_status_moves")

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self, *, status: WorkflowStatus | None = None, active: bool | None = None,
             trigger_type: TriggerType | None = None) -> Call[list[Workflow]]:
        """The live workflow versions the caller may view, by slug and version; each
        filter applied when given."""
        return records(Workflow, "list_workflows",
                       **given(status=status, active=active, trigger_type=trigger_type))


# The diagram ----------------------------------------------------------------------

_BINARY = {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "and", "or", "in"}
_MAX_EXPRESSION = 120


def _expression(node: Any, depth: int = 0) -> str:
    """A guard expression as a short infix text: {"<=": [{"var": "a"}, 1]} -> a <= 1."""
    if depth > 8:
        return "…"
    if not isinstance(node, dict) or len(node) != 1:
        return json.dumps(node, ensure_ascii=False)
    ((op, args),) = node.items()
    args = args if isinstance(args, list) else [args]
    if op == "var":
        return str(args[0]) if args else "var"
    parts = [_expression(a, depth + 1) for a in args]
    if op in _BINARY and len(parts) >= 2:
        text = f" {op} ".join(f"({p})" if " " in p and depth else p for p in parts)
        return f"({text})" if depth else text
    if op == "!" and len(parts) == 1:
        return f"not {parts[0]}"
    return f"{op}({', '.join(parts)})"


_ENTITIES = {"#": "#35;", ";": "#59;", ":": "#58;", '"': "#quot;", "{": "#123;", "}": "#125;",
             "<": "#lt;", ">": "#gt;"}


def _text(raw: str) -> str:
    """Text as Mermaid shows it: one line; its separators as entity codes."""
    return re.sub(r'[#;:"{}<>]', lambda m: _ENTITIES[m.group()], " ".join(str(raw).split()))


def _order(states: dict[str, Any], initial: Any) -> list[str]:
    """The states in a stable order whatever the JSON's key order (jsonb sorts keys):
    breadth first from the initial state, events by name, then the others by name."""
    order: list[str] = [initial] if initial in states else []
    for name in order:  # grows while it is walked
        transitions = states[name].get("on") if isinstance(states[name], dict) else None
        if isinstance(transitions, dict):
            for event in sorted(transitions):
                target = transitions[event].get("target") if isinstance(
                    transitions[event], dict) else None
                if isinstance(target, str) and target in states and target not in order:
                    order.append(target)
    return order + sorted(set(states) - set(order))


def _guard(guard: Any) -> str:
    if not isinstance(guard, dict):
        return ""
    parts = []
    if "expression" in guard:
        shown = _expression(guard["expression"])
        parts.append(shown if len(shown) <= _MAX_EXPRESSION else shown[:_MAX_EXPRESSION] + "…")
    if "permission" in guard:
        parts.append(f"permission {guard['permission']}")
    if isinstance(guard.get("roles"), list):
        parts.append("role " + " or ".join(str(r) for r in guard["roles"]))
    return " [" + ", ".join(parts) + "]" if parts else ""


def diagram(definition: Mapping[str, Any]) -> str:
    """The Mermaid ``stateDiagram-v2`` of a workflow definition: its states (labels as
    descriptions), the initial and final states, one arrow per event labelled with the
    event, its guard (``[amount <= 1000, permission ..., role ...]``) and the timeout
    that fires it (``after P7D``), and the SLA of a state as a note. States come breadth
    first from the initial one, events by name: the same text for the same definition,
    whatever its key order. A definition the database would refuse is drawn as far as
    it goes (unknown targets included)."""
    found = definition.get("states")
    states: dict[str, Any] = found if isinstance(found, dict) else {}
    lines = ["stateDiagram-v2"]
    initial = definition.get("initial")
    if isinstance(initial, str):
        lines.append(f"    [*] --> {_name(initial)}")
    for name in _order(states, initial):
        state = states[name]
        if not isinstance(state, dict):
            continue
        if isinstance(state.get("label"), str) and state["label"]:
            lines.append(f"    {_name(name)} : {_text(state['label'])}")
        timeout: dict[str, Any] = state["timeout"] if isinstance(state.get("timeout"), dict) else {}
        transitions: dict[str, Any] = state["on"] if isinstance(state.get("on"), dict) else {}
        for event, transition in sorted(transitions.items()):
            if not isinstance(transition, dict) or not isinstance(transition.get("target"), str):
                continue
            label = event + _guard(transition.get("guard"))
            if timeout.get("event") == event and isinstance(timeout.get("after"), str):
                label += f" (after {timeout['after']})"
            lines.append(f"    {_name(name)} --> {_name(transition['target'])} : {_text(label)}")
        if state.get("final") is True:
            lines.append(f"    {_name(name)} --> [*]")
        sla = state.get("sla")
        if isinstance(sla, dict) and isinstance(sla.get("after"), str):
            lines.append(f"    note right of {_name(name)} : SLA {_text(sla['after'])}")
    return "\n".join(lines) + "\n"


def _name(state: str) -> str:
    """A state name as a Mermaid id: valid names are identifiers already; others are
    reduced to one (a refused definition is still drawn)."""
    return state if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", state) else (
        "s_" + re.sub(r"[^A-Za-z0-9_]", "_", state))
