"""Workflow executions: runs of a workflow through its states, ``session.executions``.

    with db.tenant(org_id, user_id) as t:
        run = t.executions.start("claim-review", submission_id=s.id)
        run = t.executions.transition(run.id, "approve", expected_state="in_review")

A submission of a form with an active ``form_submission`` workflow starts its run by
itself (in the transaction of the submit); ``start`` is the manual trigger. Each method
is one call of the SQL API (``sql/64-workflow-executions.sql``): the database checks
the guard, runs the actions, records the events; this module only types the rows.
Errors: ``InvalidTransition`` for an event the current state does not have (its
``detail["allowed"]`` lists the events that are) or a guard that is false
(``detail["reason"] == "guard_failed"``), ``Conflict`` for a stale
``expected_state``, ``PermissionDenied`` for a guard's permission or roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from pliersdb._api import Api, Call, S, api, record, records
from pliersdb._records import given

__all__ = ["Execution", "ExecutionStatus", "Executions"]

ExecutionStatus = Literal["pending", "running", "completed", "failed", "cancelled", "timeout"]


@dataclass(frozen=True)
class Execution:
    """A row of ``pliers.workflow_executions``.

    ``state_history`` lists the states entered, oldest first: ``{state, event,
    entered_at, actor, payload?}`` (``event`` None for the initial state, ``actor`` None
    for the worker). ``revision`` counts the run's events. ``timeout_at`` is when the
    current state's timeout fires, ``sla_due_at`` when it is overdue, ``deadline_at``
    when the whole run times out.
    """

    id: UUID
    organization_id: UUID
    workflow_id: UUID
    submission_id: UUID | None
    parent_execution_id: UUID | None
    current_state: str
    previous_state: str | None
    state_history: tuple[dict[str, Any], ...]
    context: dict[str, Any]
    input_data: dict[str, Any]
    output_data: dict[str, Any]
    status: str
    error_message: str | None
    error_details: dict[str, Any] | None
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    triggered_by: UUID | None
    trigger_source: str | None
    metadata: dict[str, Any]
    revision: int
    timeout_at: datetime | None
    sla_due_at: datetime | None
    deadline_at: datetime | None
    depth: int

    @property
    def is_open(self) -> bool:
        """Whether the run can still move (status pending or running)."""
        return self.status in ("pending", "running")


class Executions(Api[S]):
    """The workflow executions of one tenant session (``session.executions``)."""

    @api
    def start(self, workflow_slug: str, *, submission_id: UUID | str | None = None,
              input: Mapping[str, Any] | None = None) -> Call[Execution]:
        """Start a run of the active version of ``workflow_slug``, for a submission
        when given (``pliers.start_workflow_execution``; permission ``workflow.execute``).
        ``NotFound`` when the slug has no active version."""
        return record(Execution, "start_workflow_execution", workflow_slug=workflow_slug,
                      **given(submission_id=submission_id,
                              input=None if input is None else Jsonb(dict(input))))

    @api
    def transition(self, execution_id: UUID | str, event: str, *,
                   payload: Mapping[str, Any] | None = None,
                   expected_state: str | None = None) -> Call[Execution]:
        """Fire ``event`` in the run's current state (``pliers.transition_workflow_execution``).

        ``expected_state``: the state you read; ``Conflict`` when another transition
        came first. ``payload`` (a JSON object) is kept in ``state_history``."""
        return record(Execution, "transition_workflow_execution", execution_id=execution_id,
                      event=event,
                      **given(payload=None if payload is None else Jsonb(dict(payload)),
                              expected_state=expected_state))

    @api
    def cancel(self, execution_id: UUID | str, *, reason: str | None = None,
               expected_revision: int | None = None) -> Call[Execution]:
        """Cancel an open run and its open child runs (``pliers.cancel_workflow_execution``)."""
        return record(Execution, "cancel_workflow_execution", execution_id=execution_id,
                      **given(reason=reason, expected_revision=expected_revision))

    @api
    def fail(self, execution_id: UUID | str, error: Mapping[str, Any], *,
             expected_revision: int | None = None) -> Call[Execution]:
        """End an open run as failed with ``error`` (a JSON object; its ``message``
        becomes ``error_message``; ``pliers.fail_workflow_execution``)."""
        return record(Execution, "fail_workflow_execution", execution_id=execution_id,
                      error=Jsonb(dict(error)), **given(expected_revision=expected_revision))

    @api
    def get(self, execution_id: UUID | str) -> Call[Execution]:
        """One run (``NotFound`` if unknown or not visible to the user)."""
        return record(Execution, "get_workflow_execution", execution_id=execution_id)

    @api
    def overdue(self, *, limit: int = 100) -> Call[list[Execution]]:
        """The open runs past their current state's SLA, most overdue first."""
        return records(Execution, "overdue_workflow_executions", limit=limit)

    # Last in the class: below it, "list" would name this method in annotations.
    @api
    def list(self, *, workflow_slug: str | None = None,
             submission_id: UUID | str | None = None, status: ExecutionStatus | None = None,
             after: Execution | None = None, limit: int = 50) -> Call[list[Execution]]:
        """Runs, newest first, at most ``limit`` (1 to 1000); pass the last one read as
        ``after`` for the next page (keyset paging)."""
        return records(Execution, "list_workflow_executions",
                       **given(workflow_slug=workflow_slug, submission_id=submission_id,
                               status=status,
                               after_started_at=after.started_at if after else None,
                               after_id=after.id if after else None),
                       limit=limit)
