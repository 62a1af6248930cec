-- The workflow engine (issue 18): executions started by hand, by submissions, events, schedules and inbound webhooks; transitions with guards and actions; timeouts.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- workflow_executions: the engine's columns (sql/60-workflows.sql).
-- Nothing wrote workflow_executions before this release (no API did): the table is
-- empty, so the checks, the indexes and the lock they take cost nothing.
ALTER TABLE pliers.workflow_executions
ADD COLUMN revision integer NOT NULL DEFAULT 1,
ADD COLUMN timeout_at timestamptz,
ADD COLUMN sla_due_at timestamptz,
ADD COLUMN deadline_at timestamptz,
ADD COLUMN depth smallint NOT NULL DEFAULT 0,
-- squawk-ignore constraint-missing-not-valid
ADD CONSTRAINT workflow_executions_revision_positive CHECK (revision > 0),
-- squawk-ignore constraint-missing-not-valid
ADD CONSTRAINT workflow_executions_depth_range CHECK (depth BETWEEN 0 AND 5);

COMMENT ON COLUMN pliers.workflow_executions.revision IS
'Optimistic-concurrency token and aggregate_version of the execution.* events: 1 when started, +1 per event';
COMMENT ON COLUMN pliers.workflow_executions.timeout_at IS
'When the current state''s timeout fires its event (the state''s timeout.after after entering it); NULL: none';
COMMENT ON COLUMN pliers.workflow_executions.sla_due_at IS
'When the current state is overdue (its sla.after after entering it); NULL: no SLA. Listed, never moved';
COMMENT ON COLUMN pliers.workflow_executions.deadline_at IS
'started_at + workflows.timeout_seconds: past it an open run ends with status timeout; NULL: no limit';
COMMENT ON COLUMN pliers.workflow_executions.depth IS
'0 for a run started by a trigger; a child run (start_workflow action) is its parent''s depth + 1, at most 5';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX workflow_executions_timeout_at_idx ON pliers.workflow_executions (timeout_at)
WHERE status IN ('pending', 'running') AND timeout_at IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_timeout_at_idx IS
'Open executions whose current state has a timeout, by due time (pliers.fire_workflow_timeouts)';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX workflow_executions_deadline_at_idx ON pliers.workflow_executions (deadline_at)
WHERE status IN ('pending', 'running') AND deadline_at IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_deadline_at_idx IS
'Open executions with a run-time limit, by deadline (pliers.fire_workflow_timeouts)';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX workflow_executions_sla_due_at_idx ON pliers.workflow_executions (organization_id, sla_due_at)
WHERE status IN ('pending', 'running') AND sla_due_at IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_sla_due_at_idx IS
'Open executions of a tenant with an SLA, by due time (pliers.overdue_workflow_executions)';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX workflow_executions_started_at_idx ON pliers.workflow_executions (organization_id, started_at DESC, id);

COMMENT ON INDEX pliers.workflow_executions_started_at_idx IS
'Executions of a tenant, newest first, keyset paging (pliers.list_workflow_executions without a workflow)';

-- State names are up to 63 characters (schemas/workflow-definition.schema.json). A longer
-- varchar limit is binary-compatible: no rewrite, no scan.
-- squawk-ignore changing-column-type
ALTER TABLE pliers.submissions ALTER COLUMN workflow_state TYPE varchar(63);

-- Executions and their counters change through the API only (sql/95-security.sql.j2).
REVOKE INSERT, UPDATE, DELETE ON pliers.workflow_executions, pliers.workflow_counters FROM pliers_app;

-- Read by no query of the API: the sweeps read workflow_executions_timeout_at_idx and
-- workflow_executions_deadline_at_idx, and every open run was in this one.
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.workflow_executions_started_at_open_idx;

-- The workflow engine (docs/workflows.md "Executions"): runs of a published, active
-- workflow version (sql/60, sql/63) through the states of its definition (the format:
-- schemas/workflow-definition.schema.json, validated by sql/61 when it is published).
--
-- An execution starts in the definition's initial state, and each transition
-- (transition_workflow_execution, or a state's timeout fired by the worker) moves it
-- along one of the current state's events: the guard is checked, then the source
-- state's onExit actions, the transition's actions and the target's onEntry actions run
-- in that order, in the caller's transaction. set_status, assign, notify and
-- start_workflow act at once; webhook and job are durable, enqueued in the same
-- transaction (pliers._enqueue_job, sql/62: a transactional outbox) and run by the
-- worker after commit. A final state completes the run. Any failure rolls the whole
-- transition back: the state, the actions, the jobs and the events.
--
-- Conventions as in sql/45-forms-api.sql: PL008 without a tenant context, the tenant as
-- a value in every statement (one shard on Citus), PL001 for invalid arguments (every
-- input bounded), PL002 for what is not found or not visible, PL003 for a stale
-- p_expected_state, PL004 for an event the current state does not allow (DETAIL {object,
-- id, from, event, allowed}) or a guard expression that is false (reason guard_failed),
-- PL006 for a permission.
--
-- Events: pliers.aggregate_type has no 'workflow_execution', and a value added with
-- ALTER TYPE ... ADD VALUE has no inverse for a migration's rollback (sql/37 says the
-- same of teams): the events of an execution (execution.started, transitioned,
-- completed, cancelled, failed, timed_out, timeout_refused) are recorded with
-- aggregate_type workflow, aggregate_id the execution's id, aggregate_version its
-- revision. A workflow version's own events (workflow.*) have the workflow's id.
--
-- Triggers (what starts a run besides start_workflow_execution):
--   form_submission  submit_submission calls _start_submission_workflows in its
--                    transaction: one probe of workflow_forms' index when none is attached.
--   event            synchronous: _append_events calls _start_event_workflows for the
--                    events it appends, one probe of the active event workflows (an index
--                    of a few rows per tenant); never for execution.* and workflow.*
--                    events, nor for events appended by the actions of a run (no loops:
--                    the transaction-local flag pliers.workflow_actions). Synchronous, so
--                    the run starts in the transaction of the event, or not at all.
--   webhook          trigger_workflow_webhook, called by the application's endpoint
--                    without a user context, with the workflow's secret.
--   schedule         fire_workflow_schedules, called by the worker.
-- Timeouts (state timeouts and whole-run limits): fire_workflow_timeouts, by the worker.
-- The two worker functions read the due rows of every tenant in one bounded query, then
-- act per tenant (the tenant as a value, SKIP LOCKED so that two workers never fire one
-- row), in a context of that tenant without a user.

-- ---------------------------------------------------------------------------
-- Limits and small helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.workflow_execution_limits()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT '{"input_bytes": 65536, "payload_bytes": 65536, "error_bytes": 16384, "history": 1000, "depth": 5,
             "page": 1000, "sweep": 10000}'::jsonb
$$;

COMMENT ON FUNCTION pliers.workflow_execution_limits() IS
'The input limits of executions, by name: input_bytes (p_input of a start, as stored), payload_bytes (p_payload of a '
'transition), error_bytes (p_error of fail_workflow_execution), history (entries of state_history kept: the oldest '
'go first, the events keep them all), depth (child runs nested through start_workflow actions), page (rows of a '
'list), sweep (p_limit of the worker functions).';

CREATE FUNCTION pliers._raise_execution_limit(p_path text, p_code text, p_message text)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    PERFORM pliers._raise_invalid(p_message, pg_catalog.jsonb_build_array(pliers._form_error(p_path, p_code, p_message)));
END
$$;

COMMENT ON FUNCTION pliers._raise_execution_limit(text, text, text) IS
'Private: PL001 with one error {path, code, message}.';

CREATE FUNCTION pliers._check_json_argument(p_path text, p_value jsonb, p_max_bytes integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF p_value IS NULL OR pg_catalog.jsonb_typeof(p_value) <> 'object' THEN
        PERFORM pliers._raise_execution_limit(p_path, 'invalid_type', p_path || ' is a JSON object');
    ELSIF pg_catalog.pg_column_size(p_value) > p_max_bytes THEN
        PERFORM pliers._raise_execution_limit(
            p_path, 'too_large', pg_catalog.format('%s is at most %s bytes', p_path, p_max_bytes)
        );
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._check_json_argument(text, jsonb, integer) IS
'Private: PL001 unless p_value is a JSON object of at most p_max_bytes (its stored size).';

-- The context of a run without a user (worker sweeps, the webhook trigger): the tenant
-- only, so that events record it and permission checks find no user.
CREATE FUNCTION pliers._enter_tenant(p_organization_id uuid)
RETURNS text
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_previous constant text := pliers.current_context();
BEGIN
    PERFORM pliers._store_context(pliers._context_payload(p_organization_id));
    RETURN v_previous;
END
$$;

COMMENT ON FUNCTION pliers._enter_tenant(uuid) IS
'Private: opens a context of organization p_organization_id without a user (for the worker''s sweeps and the '
'webhook trigger) and returns the previous context, for pliers._store_context to restore.';

CREATE FUNCTION pliers._execution_payload(p_execution pliers.workflow_executions)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'workflow_id', p_execution.workflow_id,
        'submission_id', p_execution.submission_id,
        'parent_execution_id', p_execution.parent_execution_id,
        'state', p_execution.current_state,
        'status', p_execution.status
    )
$$;

COMMENT ON FUNCTION pliers._execution_payload(pliers.workflow_executions) IS
'Private: the common part of the payload of execution.* events: workflow_id, submission_id, parent_execution_id, '
'state, status.';

-- ISO 8601 durations (P3D, PT30M) are interval input; the validator (sql/61) bounds them.
CREATE FUNCTION pliers._state_deadline(p_state jsonb, p_key text, p_from timestamptz)
RETURNS timestamptz
LANGUAGE sql
STABLE
AS $$
    SELECT p_from + (p_state #>> ARRAY[p_key, 'after'])::interval
$$;

COMMENT ON FUNCTION pliers._state_deadline(jsonb, text, timestamptz) IS
'Private: p_from plus the duration of a state''s p_key (timeout or sla) "after", NULL when the state has none.';

CREATE FUNCTION pliers._lock_execution(p_organization_id uuid, p_execution_id uuid)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_execution pliers.workflow_executions;
BEGIN
    IF p_execution_id IS NULL THEN
        PERFORM pliers._raise_execution_limit('execution_id', 'required', 'the execution id is required');
    END IF;
    SELECT e.* INTO v_execution
    FROM pliers.workflow_executions AS e
    WHERE e.organization_id = v_org AND e.id = p_execution_id
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow_execution', p_execution_id);
    END IF;
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers._lock_execution(uuid, uuid) IS
'Private: execution p_execution_id of tenant p_organization_id locked FOR UPDATE (concurrent transitions queue '
'here: one wins, the next sees its state); PL001 when NULL, PL002 when not found.';

-- Who may see an execution: workflow.view on its workflow, or (a run of a submission)
-- whoever sees the submission: its submitter, assignee, reviewers.
CREATE FUNCTION pliers._execution_visible(p_execution pliers.workflow_executions)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_execution.organization_id;
BEGIN
    IF pliers.has_permission('workflow.view', 'workflow', p_execution.workflow_id) THEN
        RETURN TRUE;
    END IF;
    RETURN p_execution.submission_id IS NOT NULL AND EXISTS (
        SELECT FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.id = p_execution.submission_id
            AND pliers.submission_visible(
                s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id,
                pliers.current_permissions(), pliers.current_user_id()
            )
    );
END
$$;

COMMENT ON FUNCTION pliers._execution_visible(pliers.workflow_executions) IS
'Private: may the current user see the execution? workflow.view on its workflow, or the execution''s submission '
'visible to the user (pliers.submission_visible).';

-- Who may move or stop an execution: workflow.execute on its workflow, or who may
-- process its submission (submission.update on the form or the assigned team). A
-- transition's guard (permission, roles) narrows this further.
CREATE FUNCTION pliers._require_execution_permission(p_execution pliers.workflow_executions)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_execution.organization_id;
    v_submission pliers.submissions;
BEGIN
    IF pliers.has_permission('workflow.execute', 'workflow', p_execution.workflow_id) THEN
        RETURN;
    END IF;
    IF p_execution.submission_id IS NOT NULL THEN
        SELECT s.* INTO v_submission
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.id = p_execution.submission_id;
        IF FOUND AND (
            pliers.has_permission('submission.update', 'form', v_submission.form_id)
            OR (v_submission.assigned_team_id IS NOT NULL
                AND pliers.has_permission('submission.update', 'team', v_submission.assigned_team_id))
        ) THEN
            RETURN;
        END IF;
    END IF;
    PERFORM pliers._require_permission('workflow.execute', 'workflow', p_execution.workflow_id);
END
$$;

COMMENT ON FUNCTION pliers._require_execution_permission(pliers.workflow_executions) IS
'Private: PL006 (or PL008) unless the current user holds workflow.execute on the execution''s workflow, or '
'submission.update on its submission''s form or assigned team.';

-- ---------------------------------------------------------------------------
-- Actions
-- ---------------------------------------------------------------------------

-- A set_status action: the submission_status_moves rules of set_submission_status,
-- without its permission check (the workflow's definition, published by a
-- workflow.manage holder, is the authority; the transition's guard checks the actor).
CREATE FUNCTION pliers._workflow_set_status(
    p_organization_id uuid, p_submission_id uuid, p_status pliers.submission_status, p_reason text
)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_now constant timestamptz := pg_catalog.now();
    v_submission pliers.submissions;
    v_from pliers.submission_status;
BEGIN
    SELECT s.* INTO v_submission
    FROM pliers.submissions AS s
    WHERE s.organization_id = v_org AND s.id = p_submission_id AND s.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('submission', p_submission_id);
    END IF;
    v_from := v_submission.status;
    IF v_from = p_status THEN
        RETURN;  -- already so: no write, no event
    END IF;
    IF NOT EXISTS (
        SELECT FROM pliers.submission_status_moves() AS m WHERE m.from_status = v_from AND m.to_status = p_status
    ) OR v_from = 'draft' THEN
        RAISE EXCEPTION 'submission % cannot go from % to %', p_submission_id, v_from, p_status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'submission', 'id', p_submission_id, 'from', v_from, 'to', p_status,
                    'reason', 'workflow_action'
                )::text,
                HINT = 'A set_status action follows pliers.submission_status_moves(); the whole transition is refused.';
    END IF;
    UPDATE pliers.submissions AS s
    SET
        updated_at = v_now,
        status = p_status,
        completed_at = CASE WHEN p_status = 'completed' THEN v_now ELSE s.completed_at END
    WHERE s.organization_id = v_org AND s.id = p_submission_id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.status_changed',
        pg_catalog.jsonb_build_object(
            'from', v_from, 'to', p_status, 'reason', p_reason, 'completed_at', v_submission.completed_at
        )
    );
END
$$;

COMMENT ON FUNCTION pliers._workflow_set_status(uuid, uuid, pliers.submission_status, text) IS
'Private: a set_status action: moves submission p_submission_id to p_status along submission_status_moves() '
'(PL004 {object: submission, id, from, to, reason: workflow_action} otherwise; a draft never moves), nothing when '
'it is already there; appends submission.status_changed with p_reason.';

CREATE FUNCTION pliers._workflow_assign(p_organization_id uuid, p_submission_id uuid, p_action jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_user uuid;
    v_team uuid;
    v_submission pliers.submissions;
    v_previous jsonb;
BEGIN
    IF p_action ? 'user' THEN
        v_user := (p_action ->> 'user')::uuid;
        IF NOT EXISTS (
            SELECT FROM pliers.users AS u
            WHERE u.organization_id = v_org AND u.id = v_user AND u.deleted_at IS NULL AND u.status = 'active'
        ) THEN
            PERFORM pliers._raise_not_found('user', v_user);
        END IF;
    ELSE
        SELECT t.id INTO v_team
        FROM pliers.teams AS t
        WHERE t.organization_id = v_org AND t.slug = (p_action ->> 'team') AND t.deleted_at IS NULL;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'team % not found', p_action ->> 'team'
                USING
                    ERRCODE = 'PL002',
                    DETAIL = pg_catalog.jsonb_build_object('object', 'team', 'slug', p_action ->> 'team')::text;
        END IF;
    END IF;
    SELECT s.* INTO v_submission
    FROM pliers.submissions AS s
    WHERE s.organization_id = v_org AND s.id = p_submission_id AND s.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('submission', p_submission_id);
    END IF;
    IF v_submission.assigned_to IS NOT DISTINCT FROM v_user AND v_submission.assigned_team_id IS NOT DISTINCT FROM v_team THEN
        RETURN;
    END IF;
    v_previous := pg_catalog.jsonb_build_object(
        'assigned_to', v_submission.assigned_to, 'assigned_team_id', v_submission.assigned_team_id
    );
    UPDATE pliers.submissions AS s
    SET updated_at = pg_catalog.now(), assigned_to = v_user, assigned_team_id = v_team
    WHERE s.organization_id = v_org AND s.id = p_submission_id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.assigned',
        pg_catalog.jsonb_build_object('assigned_to', v_user, 'assigned_team_id', v_team, 'previous', v_previous)
    );
END
$$;

COMMENT ON FUNCTION pliers._workflow_assign(uuid, uuid, jsonb) IS
'Private: an assign action, as assign_submission(user, team) does it: {"user": id} assigns to that active user and '
'no team, {"team": slug} to that live team and no user; PL002 when the user or team is gone; nothing when already '
'so; appends submission.assigned.';

CREATE FUNCTION pliers._workflow_notify(
    p_organization_id uuid,
    p_action jsonb,
    p_execution pliers.workflow_executions,
    p_actor uuid
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_to constant jsonb := p_action -> 'to';
    v_submission pliers.submissions;
    v_users uuid[] := '{}';
    v_team uuid;
    v_count integer;
BEGIN
    IF p_execution.submission_id IS NOT NULL THEN
        SELECT s.* INTO v_submission
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.id = p_execution.submission_id;
    END IF;
    IF v_to = '"submitter"' THEN
        v_users := ARRAY[v_submission.submitted_by];
    ELSIF v_to = '"actor"' THEN
        v_users := ARRAY[p_actor];
    ELSIF v_to = '"assignee"' THEN
        v_users := ARRAY[v_submission.assigned_to];
        v_team := CASE WHEN v_submission.assigned_to IS NULL THEN v_submission.assigned_team_id END;
    ELSIF v_to ? 'user' THEN
        v_users := ARRAY[(v_to ->> 'user')::uuid];
    ELSIF v_to ? 'team' THEN
        SELECT t.id INTO v_team
        FROM pliers.teams AS t
        WHERE t.organization_id = v_org AND t.slug = (v_to ->> 'team') AND t.deleted_at IS NULL;
    END IF;
    IF v_team IS NOT NULL THEN
        v_users := v_users || ARRAY(
            SELECT m.user_id FROM pliers.team_members AS m
            WHERE m.organization_id = v_org AND m.team_id = v_team AND m.removed_at IS NULL
        );
    END IF;
    -- Active users only; a recipient that is missing (no actor for the worker, no
    -- assignee yet) is no one.
    INSERT INTO pliers.notifications (organization_id, user_id, type, title, message, priority, data)
    SELECT
        v_org, u.id, 'workflow.notification', pg_catalog.left(p_action ->> 'title', 255), p_action ->> 'message',
        coalesce(p_action ->> 'priority', 'normal')::pliers.notification_priority,
        pg_catalog.jsonb_build_object(
            'execution_id', p_execution.id, 'workflow_id', p_execution.workflow_id,
            'submission_id', p_execution.submission_id, 'state', p_execution.current_state
        )
    FROM pliers.users AS u
    WHERE u.organization_id = v_org AND u.id = ANY(v_users) AND u.deleted_at IS NULL AND u.status = 'active';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers._workflow_notify(uuid, jsonb, pliers.workflow_executions, uuid) IS
'Private: a notify action: one pliers.notifications row (type workflow.notification, data {execution_id, '
'workflow_id, submission_id, state}) for each active recipient: submitter, actor (none for the worker), assignee '
'(the user, else the members of the assigned team), {user}, {team: slug} (its current members). Returns how many.';

-- One list of actions (onExit, a transition's actions, onEntry), in order. p_path is
-- where the list is in the definition, for the errors and the jobs' idempotency keys.
CREATE FUNCTION pliers._run_workflow_actions(
    p_organization_id uuid,
    p_execution pliers.workflow_executions,
    p_actions jsonb,
    p_path text,
    p_actor uuid
)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_action jsonb;
    v_n integer := 0;
    v_type text;
    v_child pliers.workflows;
    v_key text;
BEGIN
    IF pg_catalog.jsonb_typeof(p_actions) IS DISTINCT FROM 'array' THEN
        RETURN;
    END IF;
    FOR v_action IN SELECT a.value FROM pg_catalog.jsonb_array_elements(p_actions) AS a (value) LOOP
        v_type := v_action ->> 'type';
        -- The idempotency key of a durable action: this run, this step (revision), this action.
        v_key := pg_catalog.format('workflow:%s:%s:%s[%s]', p_execution.id, p_execution.revision, p_path, v_n);
        IF v_type IN ('set_status', 'assign') AND p_execution.submission_id IS NULL THEN
            NULL;  -- a run without a submission: nothing to change
        ELSIF v_type = 'set_status' THEN
            PERFORM pliers._workflow_set_status(
                v_org, p_execution.submission_id, (v_action ->> 'status')::pliers.submission_status,
                pg_catalog.format('workflow %s: %s', p_execution.id, p_execution.current_state)
            );
        ELSIF v_type = 'assign' THEN
            PERFORM pliers._workflow_assign(v_org, p_execution.submission_id, v_action);
        ELSIF v_type = 'notify' THEN
            PERFORM pliers._workflow_notify(v_org, v_action, p_execution, p_actor);
        ELSIF v_type = 'start_workflow' THEN
            IF p_execution.depth >= (pliers.workflow_execution_limits() ->> 'depth')::integer THEN
                PERFORM pliers._raise_execution_limit(
                    p_path || '[' || v_n || ']', 'too_deep',
                    pg_catalog.format('child workflows nest at most %s deep', pliers.workflow_execution_limits() ->> 'depth')
                );
            END IF;
            SELECT w.* INTO v_child
            FROM pliers.workflows AS w
            WHERE w.organization_id = v_org AND w.slug = (v_action ->> 'workflow') AND w.is_active AND w.deleted_at IS NULL;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no active version of workflow %', v_action ->> 'workflow'
                    USING
                        ERRCODE = 'PL002',
                        DETAIL = pg_catalog.jsonb_build_object(
                            'object', 'workflow', 'slug', v_action ->> 'workflow', 'reason', 'not_active'
                        )::text;
            END IF;
            PERFORM pliers._start_execution(
                v_org, v_child, p_execution.submission_id, '{}', 'parent', p_actor, p_execution.id, p_execution.depth + 1
            );
        ELSIF v_type = 'webhook' THEN
            PERFORM pliers._enqueue_job(
                v_org, 'pliers.webhook',
                pg_catalog.jsonb_build_object(
                    'event', v_action ->> 'event', 'execution', p_execution.id, 'workflow', p_execution.workflow_id,
                    'submission', p_execution.submission_id, 'state', p_execution.current_state
                ),
                p_idempotency_key => v_key, p_execution_id => p_execution.id, p_submission_id => p_execution.submission_id
            );
        ELSIF v_type = 'job' THEN
            PERFORM pliers._enqueue_job(
                v_org, v_action ->> 'kind', coalesce(v_action -> 'payload', '{}'),
                p_idempotency_key => v_key, p_execution_id => p_execution.id, p_submission_id => p_execution.submission_id
            );
        END IF;
        v_n := v_n + 1;
    END LOOP;
END
$$;

COMMENT ON FUNCTION pliers._run_workflow_actions(uuid, pliers.workflow_executions, jsonb, text, uuid) IS
'Private: runs the actions p_actions (found at p_path of the definition) of execution p_execution in order: '
'set_status (_workflow_set_status), assign (_workflow_assign), notify (_workflow_notify), start_workflow (a child '
'run of the slug''s active version, same submission; PL002 without one, PL001 too_deep past depth 5), webhook '
'(a pliers.webhook job {event, execution, workflow, submission, state}) and job (a job of the action''s kind and '
'payload), both durable, enqueued (pliers._enqueue_job, with the execution and submission, so by the workflow''s '
'retry_config) with the idempotency key workflow:<execution>:<revision>:<path>[<n>]. '
'set_status and assign do nothing for a run without a submission. p_actor is the acting user (NULL: the worker).';

-- ---------------------------------------------------------------------------
-- The engine
-- ---------------------------------------------------------------------------

-- Runs the onEntry actions of the state the execution is in (already written), and
-- keeps the submission's workflow_state (root runs only: a child run does not own it).
CREATE FUNCTION pliers._on_state_entered(
    p_organization_id uuid,
    p_execution pliers.workflow_executions,
    p_definition jsonb,
    p_actor uuid
)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_submission pliers.submissions;
    v_from text;
BEGIN
    IF p_execution.submission_id IS NOT NULL AND p_execution.parent_execution_id IS NULL THEN
        SELECT s.workflow_state INTO v_from
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.id = p_execution.submission_id
        FOR UPDATE;
        IF v_from IS DISTINCT FROM p_execution.current_state THEN
            UPDATE pliers.submissions AS s
            SET updated_at = pg_catalog.now(), workflow_state = p_execution.current_state
            WHERE s.organization_id = v_org AND s.id = p_execution.submission_id
            RETURNING s.* INTO v_submission;
            PERFORM pliers._append_event(
                'submission', v_submission.id, v_submission.revision, 'submission.workflow_state_changed',
                pg_catalog.jsonb_build_object(
                    'from', v_from, 'to', p_execution.current_state, 'execution_id', p_execution.id
                )
            );
        END IF;
    END IF;
    PERFORM pliers._run_workflow_actions(
        v_org, p_execution, p_definition #> ARRAY['states', p_execution.current_state, 'onEntry'],
        '$.states.' || pliers._json_path_key(p_execution.current_state) || '.onEntry', p_actor
    );
END
$$;

COMMENT ON FUNCTION pliers._on_state_entered(uuid, pliers.workflow_executions, jsonb, uuid) IS
'Private: after an execution entered its current state: the submission''s workflow_state (root runs; appends '
'submission.workflow_state_changed when it changes), then the state''s onEntry actions.';

-- The flag that stops event triggers while a run's actions append events (no loops).
CREATE FUNCTION pliers._workflow_actions_begin()
RETURNS text
LANGUAGE sql
VOLATILE
AS $$
    SELECT pg_catalog.set_config('pliers.workflow_actions', 'on', true)
$$;

COMMENT ON FUNCTION pliers._workflow_actions_begin() IS
'Private: marks the transaction as running workflow actions (pliers.workflow_actions on): the events they append '
'start no event-triggered workflow.';

CREATE FUNCTION pliers._workflow_actions_end()
RETURNS text
LANGUAGE sql
VOLATILE
AS $$
    SELECT pg_catalog.set_config('pliers.workflow_actions', '', true)
$$;

COMMENT ON FUNCTION pliers._workflow_actions_end() IS 'Private: ends what pliers._workflow_actions_begin marked.';

CREATE FUNCTION pliers._start_execution(
    p_organization_id uuid,
    p_workflow pliers.workflows,
    p_submission_id uuid,
    p_input jsonb,
    p_trigger_source text,
    p_actor uuid,
    p_parent_execution_id uuid DEFAULT NULL,
    p_depth integer DEFAULT 0
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_now constant timestamptz := pg_catalog.now();
    v_initial constant text := p_workflow.definition ->> 'initial';
    v_state constant jsonb := p_workflow.definition #> ARRAY['states', v_initial];
    v_outer constant boolean := coalesce(pg_catalog.current_setting('pliers.workflow_actions', true), '') = 'on';
    v_execution pliers.workflow_executions;
BEGIN
    INSERT INTO pliers.workflow_executions (
        organization_id, workflow_id, submission_id, parent_execution_id, current_state, state_history,
        input_data, status, started_at, triggered_by, trigger_source, timeout_at, sla_due_at, deadline_at, depth
    ) VALUES (
        v_org, p_workflow.id, p_submission_id, p_parent_execution_id, v_initial,
        pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'state', v_initial, 'event', NULL, 'entered_at', v_now, 'actor', p_actor
        )),
        coalesce(p_input, '{}'), 'running', v_now, p_actor, p_trigger_source,
        pliers._state_deadline(v_state, 'timeout', v_now), pliers._state_deadline(v_state, 'sla', v_now),
        v_now + pg_catalog.make_interval(secs => p_workflow.timeout_seconds), p_depth
    )
    RETURNING * INTO v_execution;

    INSERT INTO pliers.workflow_counters AS c (organization_id, workflow_id, slot, execution_count, last_execution_at)
    VALUES (v_org, p_workflow.id, pliers._counter_slot(), 1, v_now)
    ON CONFLICT (organization_id, workflow_id, slot)
    DO UPDATE SET execution_count = c.execution_count + 1, last_execution_at = excluded.last_execution_at;

    PERFORM pliers._append_event(
        'workflow', v_execution.id, v_execution.revision, 'execution.started',
        pliers._execution_payload(v_execution) || pg_catalog.jsonb_build_object(
            'workflow_slug', p_workflow.slug, 'workflow_version', p_workflow.version,
            'trigger_source', p_trigger_source, 'input', v_execution.input_data
        )
    );
    PERFORM pliers._workflow_actions_begin();
    PERFORM pliers._on_state_entered(v_org, v_execution, p_workflow.definition, p_actor);
    IF NOT v_outer THEN
        PERFORM pliers._workflow_actions_end();
    END IF;
    IF coalesce((v_state ->> 'final')::boolean, FALSE) THEN
        v_execution := pliers._complete_execution(v_org, v_execution);
    END IF;
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers._start_execution(
    uuid, pliers.workflows, uuid, jsonb, text, uuid, uuid, integer
) IS
'Private, the one way a run starts (every trigger): inserts the execution of workflow version p_workflow in its '
'initial state (status running, state_history [{state, event: null, entered_at, actor}], timeout_at and sla_due_at '
'of the state, deadline_at from timeout_seconds), counts it (workflow_counters, a slot per transaction), appends '
'execution.started, then runs the state''s onEntry actions; an initial state that is final completes the run. '
'Returns the row.';

CREATE FUNCTION pliers._complete_execution(p_organization_id uuid, p_execution pliers.workflow_executions)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_now constant timestamptz := pg_catalog.now();
    v_execution pliers.workflow_executions;
BEGIN
    UPDATE pliers.workflow_executions AS e
    SET
        status = 'completed', completed_at = v_now,
        duration_ms = greatest(0, (pg_catalog.date_part('epoch', v_now - e.started_at) * 1000)::integer),
        timeout_at = NULL, sla_due_at = NULL, deadline_at = NULL, revision = e.revision + 1
    WHERE e.organization_id = v_org AND e.id = p_execution.id
    RETURNING e.* INTO v_execution;
    PERFORM pliers._append_event(
        'workflow', v_execution.id, v_execution.revision, 'execution.completed',
        pliers._execution_payload(v_execution) || pg_catalog.jsonb_build_object('duration_ms', v_execution.duration_ms)
    );
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers._complete_execution(uuid, pliers.workflow_executions) IS
'Private: a run that entered a final state: status completed, completed_at, duration_ms (since started_at); '
'appends execution.completed.';

-- A transition, by a user (p_system FALSE: the guard's permission and roles apply to
-- the current user) or by the worker (a timeout: they are skipped, the expression is
-- still checked). The execution is locked and open.
CREATE FUNCTION pliers._transition_execution(
    p_organization_id uuid,
    p_execution pliers.workflow_executions,
    p_event text,
    p_payload jsonb,
    p_system boolean
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_now constant timestamptz := pg_catalog.now();
    v_actor constant uuid := CASE WHEN p_system THEN NULL ELSE pliers.current_user_id() END;
    v_outer constant boolean := coalesce(pg_catalog.current_setting('pliers.workflow_actions', true), '') = 'on';
    v_max_history constant integer := (pliers.workflow_execution_limits() ->> 'history')::integer;
    v_definition jsonb;
    v_from constant text := p_execution.current_state;
    v_source jsonb;
    v_transition jsonb;
    v_guard jsonb;
    v_target text;
    v_target_state jsonb;
    v_submission pliers.submissions;
    v_execution pliers.workflow_executions := p_execution;
    v_entry jsonb;
    v_history jsonb;
BEGIN
    SELECT w.definition INTO v_definition
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.id = p_execution.workflow_id;
    v_source := v_definition #> ARRAY['states', v_from];
    v_transition := v_source #> ARRAY['on', p_event];
    IF v_transition IS NULL THEN
        RAISE EXCEPTION 'event % is not allowed in state % of execution %', p_event, v_from, p_execution.id
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow_execution', 'id', p_execution.id, 'from', v_from, 'event', p_event,
                    'allowed', coalesce((
                        SELECT pg_catalog.jsonb_agg(k.key ORDER BY k.key)
                        FROM pg_catalog.jsonb_object_keys(coalesce(v_source -> 'on', '{}')) AS k (key)
                    ), '[]')
                )::text,
                HINT = 'The allowed events are in DETAIL allowed.';
    END IF;

    v_guard := v_transition -> 'guard';
    IF v_guard IS NOT NULL THEN
        IF p_execution.submission_id IS NOT NULL THEN
            SELECT s.* INTO v_submission
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.id = p_execution.submission_id;
        END IF;
        IF NOT p_system AND v_guard ? 'permission' AND NOT (
            CASE
                WHEN v_submission.form_id IS NOT NULL THEN pliers.has_permission(v_guard ->> 'permission', 'form', v_submission.form_id)
                ELSE pliers.has_permission(v_guard ->> 'permission')
            END
        ) THEN
            RAISE EXCEPTION 'permission % denied by the guard of % in state %', v_guard ->> 'permission', p_event, v_from
                USING
                    ERRCODE = 'PL006',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'permission', v_guard ->> 'permission', 'object', 'workflow_execution', 'id', p_execution.id,
                        'event', p_event, 'reason', 'guard'
                    )::text;
        END IF;
        IF NOT p_system AND v_guard ? 'roles' AND NOT (
            EXISTS (
                SELECT FROM pliers.users AS u
                WHERE u.organization_id = v_org AND u.id = v_actor
                    AND u.roles && ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v_guard -> 'roles'))
            )
            OR EXISTS (
                SELECT FROM pliers.role_assignments AS ra
                WHERE ra.organization_id = v_org AND ra.user_id = v_actor AND ra.scope_type = 'organization'
                    AND ra.revoked_at IS NULL AND (ra.expires_at IS NULL OR ra.expires_at > v_now)
                    AND ra.role = ANY(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v_guard -> 'roles')))
            )
        ) THEN
            RAISE EXCEPTION 'the guard of % in state % needs one of the roles %', p_event, v_from, v_guard -> 'roles'
                USING
                    ERRCODE = 'PL006',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'permission', 'workflow.guard', 'object', 'workflow_execution', 'id', p_execution.id,
                        'event', p_event, 'reason', 'guard', 'roles', v_guard -> 'roles'
                    )::text;
        END IF;
        IF v_guard ? 'expression' AND pliers._expr_eval(
            v_guard -> 'expression',
            pg_catalog.jsonb_build_object(
                'answers', coalesce(v_submission.data, '{}'),
                'submission', pg_catalog.jsonb_build_object(
                    'status', v_submission.status, 'priority', v_submission.metadata ->> 'priority'
                )
            ),
            '{}', NULL, NULL
        ) IS DISTINCT FROM 'true'::jsonb THEN
            RAISE EXCEPTION 'the guard of % in state % is false', p_event, v_from
                USING
                    ERRCODE = 'PL004',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'object', 'workflow_execution', 'id', p_execution.id, 'from', v_from, 'event', p_event,
                        'reason', 'guard_failed'
                    )::text;
        END IF;
    END IF;

    v_target := v_transition ->> 'target';
    v_target_state := v_definition #> ARRAY['states', v_target];
    PERFORM pliers._workflow_actions_begin();
    -- The source's onExit and the transition's actions, with the execution as it was.
    PERFORM pliers._run_workflow_actions(
        v_org, p_execution, v_source -> 'onExit', '$.states.' || pliers._json_path_key(v_from) || '.onExit', v_actor
    );
    PERFORM pliers._run_workflow_actions(
        v_org, p_execution, v_transition -> 'actions',
        '$.states.' || pliers._json_path_key(v_from) || '.on.' || pliers._json_path_key(p_event) || '.actions', v_actor
    );

    v_entry := pg_catalog.jsonb_build_object('state', v_target, 'event', p_event, 'entered_at', v_now, 'actor', v_actor);
    IF p_payload IS NOT NULL AND p_payload <> '{}' THEN
        v_entry := v_entry || pg_catalog.jsonb_build_object('payload', p_payload);
    END IF;
    v_history := p_execution.state_history || pg_catalog.jsonb_build_array(v_entry);
    IF pg_catalog.jsonb_array_length(v_history) > v_max_history THEN
        v_history := (
            SELECT pg_catalog.jsonb_agg(h.value ORDER BY h.n)
            FROM pg_catalog.jsonb_array_elements(v_history) WITH ORDINALITY AS h (value, n)
            WHERE h.n > pg_catalog.jsonb_array_length(v_history) - v_max_history
        );
    END IF;
    UPDATE pliers.workflow_executions AS e
    SET
        previous_state = v_from,
        current_state = v_target,
        state_history = v_history,
        timeout_at = pliers._state_deadline(v_target_state, 'timeout', v_now),
        sla_due_at = pliers._state_deadline(v_target_state, 'sla', v_now),
        revision = e.revision + 1
    WHERE e.organization_id = v_org AND e.id = p_execution.id
    RETURNING e.* INTO v_execution;
    PERFORM pliers._append_event(
        'workflow', v_execution.id, v_execution.revision, 'execution.transitioned',
        pliers._execution_payload(v_execution) || pg_catalog.jsonb_build_object(
            'from', v_from, 'to', v_target, 'event', p_event, 'payload', coalesce(p_payload, '{}'),
            'by', CASE WHEN p_system THEN 'timeout' ELSE 'user' END
        )
    );
    PERFORM pliers._on_state_entered(v_org, v_execution, v_definition, v_actor);
    IF NOT v_outer THEN
        PERFORM pliers._workflow_actions_end();
    END IF;
    IF coalesce((v_target_state ->> 'final')::boolean, FALSE) THEN
        v_execution := pliers._complete_execution(v_org, v_execution);
    END IF;
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers._transition_execution(uuid, pliers.workflow_executions, text, jsonb, boolean) IS
'Private, the one transition (transition_workflow_execution, fire_workflow_timeouts): the current state''s event '
'p_event (PL004 {object, id, from, event, allowed} when it has none), its guard (permission on the submission''s '
'form and roles of the current user: PL006 {..., reason: guard}, skipped when p_system; expression on {answers, '
'submission: {status, priority}}: PL004 reason guard_failed), then the actions in order (source onExit, '
'transition actions, target onEntry), previous_state/current_state, state_history + {state, event, entered_at, '
'actor, payload?} (the last workflow_execution_limits() history), timeout_at and sla_due_at of the target, '
'execution.transitioned; a final target completes the run. p_execution is locked and open.';

-- ---------------------------------------------------------------------------
-- The API
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.start_workflow_execution(
    p_workflow_slug text,
    p_submission_id uuid DEFAULT NULL,
    p_input jsonb DEFAULT '{}'
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_submission pliers.submissions;
BEGIN
    IF p_workflow_slug IS NULL THEN
        PERFORM pliers._raise_execution_limit('workflow_slug', 'required', 'the workflow slug is required');
    END IF;
    PERFORM pliers._check_json_argument(
        'input', p_input, (pliers.workflow_execution_limits() ->> 'input_bytes')::integer
    );
    SELECT w.* INTO v_workflow
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = p_workflow_slug AND w.is_active AND w.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active version of workflow %', p_workflow_slug
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'slug', p_workflow_slug, 'reason', 'not_active'
                )::text,
                HINT = 'Publish and activate a version (pliers.activate_workflow).';
    END IF;
    PERFORM pliers._require_permission('workflow.execute', 'workflow', v_workflow.id);
    IF p_submission_id IS NOT NULL THEN
        v_submission := pliers._lock_submission(p_submission_id);  -- visible to the caller, live
    END IF;
    RETURN pliers._start_execution(
        v_org, v_workflow, p_submission_id, p_input, 'manual', pliers.current_user_id()
    );
END
$$;

COMMENT ON FUNCTION pliers.start_workflow_execution(text, uuid, jsonb) IS
'Starts a run of the active version of workflow p_workflow_slug (PL002 {object: workflow, slug, reason: '
'not_active} without one), for submission p_submission_id when given (visible to the caller, else PL002), with '
'input p_input (a JSON object, at most workflow_execution_limits() input_bytes). trigger_source manual, '
'triggered_by the current user. Enters the initial state (its onEntry actions, timeout, SLA). Permission '
'workflow.execute on the workflow. PL001, PL006, PL008. Appends execution.started. Returns the execution.';

CREATE FUNCTION pliers.transition_workflow_execution(
    p_execution_id uuid,
    p_event text,
    p_payload jsonb DEFAULT '{}',
    p_expected_state text DEFAULT NULL
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_execution pliers.workflow_executions;
BEGIN
    v_execution := pliers._lock_execution(v_org, p_execution_id);
    IF NOT pliers._execution_visible(v_execution) THEN
        PERFORM pliers._raise_not_found('workflow_execution', p_execution_id);
    END IF;
    PERFORM pliers._require_execution_permission(v_execution);
    IF p_event IS NULL OR p_event !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        PERFORM pliers._raise_execution_limit('event', 'invalid_name', 'an event name matches ^[a-z][a-z0-9_]{0,62}$');
    END IF;
    PERFORM pliers._check_json_argument(
        'payload', p_payload, (pliers.workflow_execution_limits() ->> 'payload_bytes')::integer
    );
    IF p_expected_state IS NOT NULL AND p_expected_state IS DISTINCT FROM v_execution.current_state THEN
        RAISE EXCEPTION 'execution % is in state %, not %', v_execution.id, v_execution.current_state, p_expected_state
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow_execution', 'id', v_execution.id,
                    'expected', p_expected_state, 'actual', v_execution.current_state
                )::text,
                HINT = 'Read the execution again: another transition came first.';
    END IF;
    IF v_execution.status NOT IN ('pending', 'running') THEN
        RAISE EXCEPTION 'execution % is %', v_execution.id, v_execution.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow_execution', 'id', v_execution.id, 'from', v_execution.current_state,
                    'event', p_event, 'status', v_execution.status, 'reason', 'not_running', 'allowed', '[]'::jsonb
                )::text;
    END IF;
    RETURN pliers._transition_execution(v_org, v_execution, p_event, p_payload, FALSE);
END
$$;

COMMENT ON FUNCTION pliers.transition_workflow_execution(uuid, text, jsonb, text) IS
'Fires event p_event on execution p_execution_id (locked FOR UPDATE: of concurrent transitions one wins, the '
'others then see its state). p_expected_state, when given, must be the current state (PL003 {object, id, '
'expected, actual}). A closed run or an event the current state does not have: PL004 {object: '
'workflow_execution, id, from, event, allowed}. The guard: PL006 (permission, roles: reason guard), PL004 '
'(expression false: reason guard_failed). Then the actions, the new state, state_history (+ p_payload, a JSON '
'object of at most payload_bytes), the submission''s workflow_state, timeout and SLA; a final state completes the '
'run. Permission workflow.execute on the workflow, or submission.update on its submission. PL001, PL002, PL008. '
'Appends execution.transitioned (and execution.completed). Returns the execution.';

CREATE FUNCTION pliers._close_execution(
    p_organization_id uuid,
    p_execution pliers.workflow_executions,
    p_status pliers.execution_status,
    p_event_type text,
    p_details jsonb
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_now constant timestamptz := pg_catalog.now();
    v_execution pliers.workflow_executions;
    v_child pliers.workflow_executions;
BEGIN
    UPDATE pliers.workflow_executions AS e
    SET
        status = p_status, completed_at = v_now,
        duration_ms = greatest(0, (pg_catalog.date_part('epoch', v_now - e.started_at) * 1000)::integer),
        error_message = CASE WHEN p_status = 'failed' THEN pg_catalog.left(p_details #>> '{error,message}', 1000) ELSE e.error_message END,
        error_details = CASE WHEN p_status = 'failed' THEN p_details -> 'error' ELSE e.error_details END,
        timeout_at = NULL, sla_due_at = NULL, deadline_at = NULL, revision = e.revision + 1
    WHERE e.organization_id = v_org AND e.id = p_execution.id
    RETURNING e.* INTO v_execution;
    PERFORM pliers._append_event(
        'workflow', v_execution.id, v_execution.revision, p_event_type,
        pliers._execution_payload(v_execution) || p_details
    );
    -- Open children end with their parent (depth at most 5: the recursion is bounded).
    FOR v_child IN
        SELECT c.* FROM pliers.workflow_executions AS c
        WHERE c.organization_id = v_org AND c.parent_execution_id = p_execution.id AND c.status IN ('pending', 'running')
        ORDER BY c.started_at, c.id
        FOR UPDATE
    LOOP
        PERFORM pliers._close_execution(
            v_org, v_child, 'cancelled', 'execution.cancelled',
            pg_catalog.jsonb_build_object('reason', 'parent_' || p_status::text, 'parent_execution_id', p_execution.id)
        );
    END LOOP;
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers._close_execution(
    uuid, pliers.workflow_executions, pliers.execution_status, text, jsonb
) IS
'Private: ends an open run with p_status (cancelled, failed, timeout): completed_at, duration_ms, no more timeout '
'or SLA, for failed error_message and error_details from p_details error; appends p_event_type with p_details; its '
'open child runs are cancelled (reason parent_<status>).';

CREATE FUNCTION pliers._lock_open_execution(p_organization_id uuid, p_execution_id uuid, p_expected_revision integer)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_execution pliers.workflow_executions;
BEGIN
    v_execution := pliers._lock_execution(p_organization_id, p_execution_id);
    IF NOT pliers._execution_visible(v_execution) THEN
        PERFORM pliers._raise_not_found('workflow_execution', p_execution_id);
    END IF;
    PERFORM pliers._require_execution_permission(v_execution);
    PERFORM pliers._check_expected_version('workflow_execution', v_execution.id, p_expected_revision, v_execution.revision);
    IF v_execution.status NOT IN ('pending', 'running') THEN
        RAISE EXCEPTION 'execution % is already %', v_execution.id, v_execution.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow_execution', 'id', v_execution.id, 'from', v_execution.status,
                    'reason', 'not_running'
                )::text;
    END IF;
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers._lock_open_execution(uuid, uuid, integer) IS
'Private (cancel, fail): the execution locked, visible, the caller allowed (_require_execution_permission), at '
'p_expected_revision when given (PL003), open (PL004 {object, id, from: status, reason: not_running}).';

CREATE FUNCTION pliers.cancel_workflow_execution(
    p_execution_id uuid,
    p_reason text DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_execution pliers.workflow_executions;
BEGIN
    v_execution := pliers._lock_open_execution(v_org, p_execution_id, p_expected_revision);
    IF pg_catalog.char_length(p_reason) > 1000 THEN
        PERFORM pliers._raise_execution_limit('reason', 'too_long', 'a reason is at most 1000 characters');
    END IF;
    RETURN pliers._close_execution(
        v_org, v_execution, 'cancelled', 'execution.cancelled', pg_catalog.jsonb_build_object('reason', p_reason)
    );
END
$$;

COMMENT ON FUNCTION pliers.cancel_workflow_execution(uuid, text, integer) IS
'Cancels an open execution (status cancelled, completed_at, duration_ms) and its open child runs; p_reason (1000 '
'characters) is recorded. PL004 when it is already closed, PL003 for a stale p_expected_revision (when given). '
'Permission as transition_workflow_execution. PL001, PL002, PL006, PL008. Appends execution.cancelled.';

CREATE FUNCTION pliers.fail_workflow_execution(
    p_execution_id uuid,
    p_error jsonb,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_execution pliers.workflow_executions;
BEGIN
    v_execution := pliers._lock_open_execution(v_org, p_execution_id, p_expected_revision);
    PERFORM pliers._check_json_argument('error', p_error, (pliers.workflow_execution_limits() ->> 'error_bytes')::integer);
    RETURN pliers._close_execution(
        v_org, v_execution, 'failed', 'execution.failed', pg_catalog.jsonb_build_object('error', p_error)
    );
END
$$;

COMMENT ON FUNCTION pliers.fail_workflow_execution(uuid, jsonb, integer) IS
'Ends an open execution as failed: error_details p_error (a JSON object of at most error_bytes; its "message" '
'becomes error_message), completed_at, duration_ms; open child runs are cancelled. PL004 when already closed, '
'PL003 for a stale p_expected_revision. Permission as transition_workflow_execution. PL001, PL002, PL006, PL008. '
'Appends execution.failed ({..., error}).';

CREATE FUNCTION pliers.get_workflow_execution(p_execution_id uuid)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_execution pliers.workflow_executions;
BEGIN
    IF p_execution_id IS NULL THEN
        PERFORM pliers._raise_execution_limit('execution_id', 'required', 'the execution id is required');
    END IF;
    SELECT e.* INTO v_execution
    FROM pliers.workflow_executions AS e
    WHERE e.organization_id = v_org AND e.id = p_execution_id;
    IF NOT FOUND OR NOT pliers._execution_visible(v_execution) THEN
        PERFORM pliers._raise_not_found('workflow_execution', p_execution_id);
    END IF;
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers.get_workflow_execution(uuid) IS
'Execution p_execution_id of the current tenant: visible with workflow.view on its workflow, or to who sees its '
'submission. PL001, PL002 (unknown or not visible), PL008.';

CREATE FUNCTION pliers.list_workflow_executions(
    p_workflow_slug text DEFAULT NULL,
    p_submission_id uuid DEFAULT NULL,
    p_status pliers.execution_status DEFAULT NULL,
    p_after_started_at timestamptz DEFAULT NULL,
    p_after_id uuid DEFAULT NULL,
    p_limit integer DEFAULT 50
)
RETURNS SETOF pliers.workflow_executions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflows uuid[];
    v_submission_visible boolean := FALSE;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND (pliers.workflow_execution_limits() ->> 'page')::integer
        OR (p_after_started_at IS NULL) <> (p_after_id IS NULL) THEN
        PERFORM pliers._raise_execution_limit(
            'limit', 'invalid', 'the limit is 1 to 1000; the cursor is both after_started_at and after_id, or neither'
        );
    END IF;
    IF p_workflow_slug IS NOT NULL THEN
        SELECT pg_catalog.array_agg(w.id) INTO v_workflows
        FROM pliers.workflows AS w
        WHERE w.organization_id = v_org AND w.slug = p_workflow_slug;
    END IF;
    -- The runs of a submission the caller sees are the caller's to see (its submitter, its
    -- reviewers); else workflow.view organization-wide, or on the workflow's versions.
    -- Checked once, before the query: on Citus a row cannot be passed to a function.
    IF p_submission_id IS NOT NULL THEN
        v_submission_visible := EXISTS (
            SELECT FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.id = p_submission_id
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id,
                    pliers.current_permissions(), pliers.current_user_id()
                )
        );
    END IF;
    IF NOT v_submission_visible AND NOT pliers.has_permission('workflow.view') AND NOT (
        v_workflows IS NOT NULL AND EXISTS (
            SELECT FROM pg_catalog.unnest(v_workflows) AS w (id) WHERE pliers.has_permission('workflow.view', 'workflow', w.id)
        )
    ) THEN
        PERFORM pliers._require_permission('workflow.view');
    END IF;
    RETURN QUERY
    SELECT e.*
    FROM pliers.workflow_executions AS e
    WHERE e.organization_id = v_org
        AND (v_workflows IS NULL OR e.workflow_id = ANY(v_workflows))
        AND (p_workflow_slug IS NULL OR v_workflows IS NOT NULL)
        AND (p_submission_id IS NULL OR e.submission_id = p_submission_id)
        AND (p_status IS NULL OR e.status = p_status)
        AND (p_after_started_at IS NULL OR (e.started_at, e.id) < (p_after_started_at, p_after_id))
    ORDER BY e.started_at DESC, e.id DESC
    LIMIT p_limit;
END
$$;

COMMENT ON FUNCTION pliers.list_workflow_executions(text, uuid, pliers.execution_status, timestamptz, uuid, integer) IS
'Executions of the current tenant, newest first (started_at DESC, id DESC), at most p_limit (1 to 1000), after '
'the keyset cursor (p_after_started_at, p_after_id: the last row read), filtered by workflow slug (every '
'version), submission and status. Permission workflow.view (organization-wide or on the workflow), or, filtered '
'by a submission the caller sees (pliers.submission_visible), none. PL001, PL006, PL008.';

CREATE FUNCTION pliers.overdue_workflow_executions(p_limit integer DEFAULT 100)
RETURNS SETOF pliers.workflow_executions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_now constant timestamptz := pg_catalog.now();
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND (pliers.workflow_execution_limits() ->> 'page')::integer THEN
        PERFORM pliers._raise_execution_limit('limit', 'invalid', 'the limit is 1 to 1000');
    END IF;
    PERFORM pliers._require_permission('workflow.view');
    RETURN QUERY
    SELECT e.*
    FROM pliers.workflow_executions AS e
    WHERE e.organization_id = v_org AND e.status IN ('pending', 'running') AND e.sla_due_at <= v_now
    ORDER BY e.sla_due_at, e.id
    LIMIT p_limit;
END
$$;

COMMENT ON FUNCTION pliers.overdue_workflow_executions(integer) IS
'The open executions of the current tenant past their current state''s SLA (sla_due_at), most overdue first, at '
'most p_limit (1 to 1000). Nothing moves them: this is the list to act on. Permission workflow.view. PL001, PL006, '
'PL008.';

-- ---------------------------------------------------------------------------
-- Triggers
-- ---------------------------------------------------------------------------

-- form_submission, in two steps so that a form without a workflow costs one probe and
-- the submission's workflow_state is written with the row (no second UPDATE of it, no
-- second event): the submit asks for the initial state first, then, when there is one,
-- starts the runs after its write.
CREATE FUNCTION pliers._submission_workflow_state(p_organization_id uuid, p_form_id uuid)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_state text;
BEGIN
    SELECT w.definition ->> 'initial' INTO v_state
    FROM pliers.workflow_forms AS wf
    INNER JOIN pliers.workflows AS w ON wf.organization_id = w.organization_id AND wf.workflow_id = w.id
    WHERE wf.organization_id = v_org
        AND w.organization_id = v_org
        AND wf.form_id = p_form_id
        AND w.is_active
        AND w.trigger_type = 'form_submission'
        AND w.deleted_at IS NULL
    ORDER BY w.slug
    LIMIT 1;
    RETURN v_state;
END
$$;

COMMENT ON FUNCTION pliers._submission_workflow_state(uuid, uuid) IS
'Private, for create_submission and submit_submission: the initial state of the first (by slug) active '
'form_submission workflow attached to form version p_form_id, NULL when none is: one probe of '
'workflow_forms_form_id_idx. Its runs are then started by _start_submission_workflows.';

-- Called by submit_submission and create_submission (sql/55) in their transaction, after
-- the submission's write, when _submission_workflow_state found a workflow.
CREATE FUNCTION pliers._start_submission_workflows(p_organization_id uuid, p_submission pliers.submissions)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_workflow pliers.workflows;
    v_count integer := 0;
BEGIN
    FOR v_workflow IN
        SELECT w.*
        FROM pliers.workflow_forms AS wf
        INNER JOIN pliers.workflows AS w ON wf.organization_id = w.organization_id AND wf.workflow_id = w.id
        WHERE wf.organization_id = v_org
            AND w.organization_id = v_org
            AND wf.form_id = p_submission.form_id
            AND w.is_active
            AND w.trigger_type = 'form_submission'
            AND w.deleted_at IS NULL
        ORDER BY w.slug
    LOOP
        PERFORM pliers._start_execution(
            v_org, v_workflow, p_submission.id, '{}', 'form_submission', pliers.current_user_id()
        );
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers._start_submission_workflows(uuid, pliers.submissions) IS
'Private, for submit_submission and create_submission: starts a run (trigger_source form_submission) of every '
'active form_submission workflow attached to the submission''s form version (workflow_forms), in slug order; '
'returns how many.';

-- event: called by _append_events (sql/74) for the events it appends.
CREATE FUNCTION pliers._start_event_workflows(p_organization_id uuid, p_event_types text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_workflow pliers.workflows;
    v_count integer := 0;
BEGIN
    IF coalesce(pg_catalog.current_setting('pliers.workflow_actions', true), '') = 'on' THEN
        RETURN 0;  -- events of a run's own actions start nothing (no loops)
    END IF;
    FOR v_workflow IN
        SELECT w.*
        FROM pliers.workflows AS w
        WHERE w.organization_id = v_org
            AND w.trigger_type = 'event'
            AND w.is_active
            AND w.deleted_at IS NULL
            AND (w.trigger_config ->> 'event_type') = ANY(p_event_types)
            AND (w.trigger_config ->> 'event_type') !~ '^(execution|workflow)\.'
        ORDER BY w.slug
    LOOP
        PERFORM pliers._start_execution(
            v_org, v_workflow, NULL,
            pg_catalog.jsonb_build_object('event_type', v_workflow.trigger_config ->> 'event_type'),
            'event', pliers.current_user_id()
        );
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers._start_event_workflows(uuid, text[]) IS
'Private, for _append_events: starts a run (trigger_source event, input {event_type}) of every active event '
'workflow of tenant p_organization_id whose trigger_config event_type is one of p_event_types; never for '
'execution.* or workflow.* events, nor while a run''s actions append events (pliers.workflow_actions). One probe '
'of workflows_trigger_type_active_idx.';

-- webhook: the application's HTTP endpoint calls this without a user context, with the
-- secret it received. An unknown workflow, an inactive one and a wrong secret fail alike
-- (PL006): the caller learns nothing of which ids exist.
CREATE FUNCTION pliers.trigger_workflow_webhook(
    p_organization_id uuid,
    p_workflow_id uuid,
    p_secret text,
    p_payload jsonb DEFAULT '{}'
)
RETURNS pliers.workflow_executions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_workflow pliers.workflows;
    v_previous text;
    v_matches boolean;
    v_execution pliers.workflow_executions;
BEGIN
    IF p_organization_id IS NULL OR p_workflow_id IS NULL THEN
        PERFORM pliers._raise_execution_limit(
            CASE WHEN p_organization_id IS NULL THEN 'organization_id' ELSE 'workflow_id' END, 'required',
            'the organization and the workflow are required'
        );
    END IF;
    PERFORM pliers._check_json_argument(
        'payload', p_payload, (pliers.workflow_execution_limits() ->> 'input_bytes')::integer
    );
    SELECT w.* INTO v_workflow
    FROM pliers.workflows AS w
    INNER JOIN pliers.organizations AS o ON w.organization_id = o.id
    WHERE w.organization_id = v_org AND o.id = v_org AND w.id = p_workflow_id
        AND w.trigger_type = 'webhook' AND w.is_active AND w.deleted_at IS NULL
        AND o.deleted_at IS NULL AND o.suspended_at IS NULL;
    -- The secret is checked whether or not the workflow was found: the same work either way.
    -- Hashes compared, not secrets (as pliers._workflow_secret_matches, whose SQL body
    -- Citus cannot plan with parameters): the time taken tells nothing of the secret.
    SELECT s.secret_hash = pg_catalog.sha256(pg_catalog.convert_to(coalesce(p_secret, ''), 'UTF8')) INTO v_matches
    FROM pliers.workflow_secrets AS s
    WHERE s.organization_id = v_org AND s.workflow_id = p_workflow_id;
    IF v_matches IS NOT TRUE OR v_workflow.id IS NULL THEN
        RAISE EXCEPTION 'webhook trigger refused'
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'workflow.webhook', 'object', 'workflow', 'id', p_workflow_id,
                    'reason', 'invalid_secret_or_inactive'
                )::text,
                HINT = 'The secret is the one rotate_workflow_secret returned last, for an active webhook workflow.';
    END IF;
    v_previous := pliers._enter_tenant(v_org);
    v_execution := pliers._start_execution(v_org, v_workflow, NULL, p_payload, 'webhook', NULL);
    PERFORM pliers._store_context(v_previous);
    RETURN v_execution;
END
$$;

COMMENT ON FUNCTION pliers.trigger_workflow_webhook(uuid, uuid, text, jsonb) IS
'The webhook trigger, for the application''s endpoint (no user context needed): starts a run (trigger_source '
'webhook, input p_payload: a JSON object of at most input_bytes) of workflow version p_workflow_id of organization '
'p_organization_id when p_secret is its current secret (its SHA-256 is the one stored: hashes compared) and it '
'is an active webhook workflow of a live organization; else PL006 {permission: workflow.webhook, object, id, '
'reason: invalid_secret_or_inactive}, the same for every cause. PL001. Appends execution.started. Returns the run.';

-- ---------------------------------------------------------------------------
-- The worker's sweeps (pliers_worker only)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.fire_workflow_timeouts(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_previous text;
    v_due record;
    v_execution pliers.workflow_executions;
    v_event text;
    v_fired integer := 0;
    v_message text;
    v_detail text;
    v_state text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND (pliers.workflow_execution_limits() ->> 'sweep')::integer THEN
        RAISE EXCEPTION 'p_limit is 1 to 10000'
            USING ERRCODE = 'PL009', DETAIL = pg_catalog.jsonb_build_object('argument', 'p_limit', 'value', p_limit)::text;
    END IF;
    v_previous := pliers.current_context();
    -- One read across tenants, bounded: the due rows of both kinds, oldest first.
    FOR v_due IN
        SELECT d.organization_id, d.id, d.kind
        FROM (
            (SELECT e.organization_id, e.id, 'deadline' AS kind, e.deadline_at AS due
             FROM pliers.workflow_executions AS e
             WHERE e.status IN ('pending', 'running') AND e.deadline_at IS NOT NULL AND e.deadline_at <= v_now
             ORDER BY e.deadline_at LIMIT p_limit)
            UNION ALL
            (SELECT e.organization_id, e.id, 'state', e.timeout_at
             FROM pliers.workflow_executions AS e
             WHERE e.status IN ('pending', 'running') AND e.timeout_at IS NOT NULL AND e.timeout_at <= v_now
             ORDER BY e.timeout_at LIMIT p_limit)
        ) AS d
        ORDER BY d.due
        LIMIT p_limit
    LOOP
        -- Per tenant, the tenant as a value; a row another worker holds is its.
        SELECT e.* INTO v_execution
        FROM pliers.workflow_executions AS e
        WHERE e.organization_id = v_due.organization_id AND e.id = v_due.id AND e.status IN ('pending', 'running')
        FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        PERFORM pliers._enter_tenant(v_due.organization_id);
        IF v_due.kind = 'deadline' THEN
            CONTINUE WHEN v_execution.deadline_at IS NULL OR v_execution.deadline_at > v_now;
            PERFORM pliers._close_execution(
                v_due.organization_id, v_execution, 'timeout', 'execution.timed_out',
                pg_catalog.jsonb_build_object('kind', 'execution', 'deadline_at', v_execution.deadline_at)
            );
            v_fired := v_fired + 1;
            CONTINUE;
        END IF;
        CONTINUE WHEN v_execution.timeout_at IS NULL OR v_execution.timeout_at > v_now;
        v_state := v_execution.current_state;
        SELECT w.definition #>> ARRAY['states', v_state, 'timeout', 'event'] INTO v_event
        FROM pliers.workflows AS w
        WHERE w.organization_id = v_due.organization_id AND w.id = v_execution.workflow_id;
        BEGIN
            v_execution := pliers._transition_execution(v_due.organization_id, v_execution, v_event, '{}', TRUE);
            UPDATE pliers.workflow_executions AS e
            SET revision = e.revision + 1
            WHERE e.organization_id = v_due.organization_id AND e.id = v_execution.id
            RETURNING e.* INTO v_execution;
            PERFORM pliers._append_event(
                'workflow', v_execution.id, v_execution.revision, 'execution.timed_out',
                pliers._execution_payload(v_execution) || pg_catalog.jsonb_build_object(
                    'kind', 'state', 'state', v_state, 'event', v_event
                )
            );
            v_fired := v_fired + 1;
        EXCEPTION WHEN OTHERS THEN
            -- A guard that is false, an action that fails: the run stays where it is, the
            -- timeout is spent (not fired again each sweep), the failure recorded.
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            UPDATE pliers.workflow_executions AS e
            SET timeout_at = NULL, revision = e.revision + 1
            WHERE e.organization_id = v_due.organization_id AND e.id = v_execution.id
            RETURNING e.* INTO v_execution;
            PERFORM pliers._append_event(
                'workflow', v_execution.id, v_execution.revision, 'execution.timeout_refused',
                pliers._execution_payload(v_execution) || pg_catalog.jsonb_build_object(
                    'event', v_event, 'sqlstate', SQLSTATE, 'message', pg_catalog.left(v_message, 1000),
                    'detail', CASE WHEN v_detail ~ '^\{' THEN v_detail::jsonb END
                )
            );
        END;
    END LOOP;
    PERFORM pliers._store_context(v_previous);
    RETURN v_fired;
END
$$;

COMMENT ON FUNCTION pliers.fire_workflow_timeouts(integer) IS
'For the worker (pliers_worker): fires what is due, at most p_limit (1 to 10000, else PL009) rows, oldest first, '
'across tenants (one bounded read; then each row locked SKIP LOCKED by its tenant as a value, so two workers '
'never fire one row). A state timeout fires its event as the system (guard permission and roles skipped, '
'expression checked) and appends execution.timed_out {kind: state}; when the transition fails (a false guard, an '
'action refused) the run stays, its timeout is spent and execution.timeout_refused records why. A run past its '
'deadline_at (workflows.timeout_seconds) ends with status timeout (execution.timed_out {kind: execution}). '
'Returns how many fired.';

CREATE FUNCTION pliers.fire_workflow_schedules(p_limit integer DEFAULT 100)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_previous text;
    v_due record;
    v_workflow pliers.workflows;
    v_execution pliers.workflow_executions;
    v_next timestamptz;
    v_fired integer := 0;
    v_message text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND (pliers.workflow_execution_limits() ->> 'sweep')::integer THEN
        RAISE EXCEPTION 'p_limit is 1 to 10000'
            USING ERRCODE = 'PL009', DETAIL = pg_catalog.jsonb_build_object('argument', 'p_limit', 'value', p_limit)::text;
    END IF;
    v_previous := pliers.current_context();
    FOR v_due IN
        SELECT w.organization_id, w.id
        FROM pliers.workflows AS w
        WHERE w.next_fire_at <= v_now
        ORDER BY w.next_fire_at
        LIMIT p_limit
    LOOP
        SELECT w.* INTO v_workflow
        FROM pliers.workflows AS w
        WHERE w.organization_id = v_due.organization_id AND w.id = v_due.id AND w.is_active AND w.next_fire_at <= v_now
        FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        PERFORM pliers._enter_tenant(v_due.organization_id);
        -- Missed fire times are not caught up: one run, then the next time after now.
        v_next := pliers._workflow_next_fire(v_workflow, v_now);
        v_message := NULL;
        BEGIN
            v_execution := pliers._start_execution(
                v_due.organization_id, v_workflow, NULL,
                pg_catalog.jsonb_build_object('scheduled_for', v_workflow.next_fire_at), 'schedule', NULL
            );
            v_fired := v_fired + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
            v_execution := NULL;
        END;
        UPDATE pliers.workflows AS w
        SET next_fire_at = v_next
        WHERE w.organization_id = v_due.organization_id AND w.id = v_workflow.id
        RETURNING w.* INTO v_workflow;
        PERFORM pliers._append_event(
            'workflow', v_workflow.id, v_workflow.revision,
            CASE WHEN v_message IS NULL THEN 'workflow.schedule_fired' ELSE 'workflow.schedule_failed' END,
            pg_catalog.jsonb_build_object(
                'execution_id', v_execution.id, 'next_fire_at', v_next, 'error', pg_catalog.left(v_message, 1000)
            )
        );
    END LOOP;
    PERFORM pliers._store_context(v_previous);
    RETURN v_fired;
END
$$;

COMMENT ON FUNCTION pliers.fire_workflow_schedules(integer) IS
'For the worker (pliers_worker): starts a run (trigger_source schedule, input {scheduled_for}) of each active '
'schedule workflow whose next_fire_at has come, at most p_limit (1 to 10000, else PL009), earliest first, across '
'tenants (one bounded read, then each version locked SKIP LOCKED by its tenant as a value: two workers never fire '
'one); next_fire_at moves to the next time after now (missed times are not caught up), and workflow.schedule_fired '
'{execution_id, next_fire_at} is appended, or workflow.schedule_failed {error} when the run could not start. '
'Returns how many runs started.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.workflow_execution_limits(),
pliers._raise_execution_limit(text, text, text),
pliers._check_json_argument(text, jsonb, integer),
pliers._enter_tenant(uuid),
pliers._execution_payload(pliers.workflow_executions),
pliers._state_deadline(jsonb, text, timestamptz),
pliers._lock_execution(uuid, uuid),
pliers._execution_visible(pliers.workflow_executions),
pliers._require_execution_permission(pliers.workflow_executions),
pliers._workflow_set_status(uuid, uuid, pliers.submission_status, text),
pliers._workflow_assign(uuid, uuid, jsonb),
pliers._workflow_notify(uuid, jsonb, pliers.workflow_executions, uuid),
pliers._run_workflow_actions(uuid, pliers.workflow_executions, jsonb, text, uuid),
pliers._on_state_entered(uuid, pliers.workflow_executions, jsonb, uuid),
pliers._workflow_actions_begin(),
pliers._workflow_actions_end(),
pliers._start_execution(uuid, pliers.workflows, uuid, jsonb, text, uuid, uuid, integer),
pliers._complete_execution(uuid, pliers.workflow_executions),
pliers._transition_execution(uuid, pliers.workflow_executions, text, jsonb, boolean),
pliers.start_workflow_execution(text, uuid, jsonb),
pliers.transition_workflow_execution(uuid, text, jsonb, text),
pliers._close_execution(uuid, pliers.workflow_executions, pliers.execution_status, text, jsonb),
pliers._lock_open_execution(uuid, uuid, integer),
pliers.cancel_workflow_execution(uuid, text, integer),
pliers.fail_workflow_execution(uuid, jsonb, integer),
pliers.get_workflow_execution(uuid),
pliers.list_workflow_executions(text, uuid, pliers.execution_status, timestamptz, uuid, integer),
pliers.overdue_workflow_executions(integer),
pliers._submission_workflow_state(uuid, uuid),
pliers._start_submission_workflows(uuid, pliers.submissions),
pliers._start_event_workflows(uuid, text[]),
pliers.trigger_workflow_webhook(uuid, uuid, text, jsonb),
pliers.fire_workflow_timeouts(integer),
pliers.fire_workflow_schedules(integer)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.workflow_execution_limits(),
pliers.start_workflow_execution(text, uuid, jsonb),
pliers.transition_workflow_execution(uuid, text, jsonb, text),
pliers.cancel_workflow_execution(uuid, text, integer),
pliers.fail_workflow_execution(uuid, jsonb, integer),
pliers.get_workflow_execution(uuid),
pliers.list_workflow_executions(text, uuid, pliers.execution_status, timestamptz, uuid, integer),
pliers.overdue_workflow_executions(integer),
pliers.trigger_workflow_webhook(uuid, uuid, text, jsonb)
TO pliers_app;

GRANT EXECUTE ON FUNCTION
pliers.fire_workflow_timeouts(integer),
pliers.fire_workflow_schedules(integer)
TO pliers_worker;

-- sql/55-submissions-api.sql

CREATE OR REPLACE FUNCTION pliers.create_submission(
    p_form_id uuid,
    p_data jsonb DEFAULT '{}',
    p_submit boolean DEFAULT FALSE,
    p_external_id text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}',
    p_tags text[] DEFAULT '{}',
    p_source text DEFAULT 'web',
    p_expires_at timestamptz DEFAULT NULL,
    p_referrer text DEFAULT NULL
)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submit constant boolean := coalesce(p_submit, FALSE);
    v_form pliers.forms;
    v_errors jsonb;
    v_data jsonb;
    v_final_errors jsonb;
    v_submission pliers.submissions;
    v_attempt integer := 0;
    v_request record;
    v_workflow_state text;
BEGIN
    -- The tenant is passed on to the helpers as a value: the context is verified a few
    -- times per call, not once per helper.
    SELECT r.user_id, r.ip_address, r.user_agent INTO v_request FROM pliers.current_request() AS r;
    v_form := pliers._get_form(v_org, p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);

    -- Idempotency: a retry with a known external id gets the existing submission.
    IF p_external_id IS NOT NULL THEN
        SELECT s.* INTO v_submission
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.external_id = p_external_id
            AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), pliers.current_user_id());
        IF FOUND THEN
            IF v_submission.form_id <> v_form.id THEN
                RAISE EXCEPTION 'external id % belongs to a submission of another form', p_external_id
                    USING
                        ERRCODE = 'PL003',
                        DETAIL = pg_catalog.jsonb_build_object(
                            'object', 'submission', 'external_id', p_external_id, 'id', v_submission.id,
                            'form_id', v_submission.form_id
                        )::text;
            END IF;
            RETURN v_submission;
        END IF;
    END IF;

    PERFORM pliers._require_accepting(v_form);
    -- The version's compiled validator (pliers._check_answers): the answers checked and
    -- cleaned, and for a draft what submitting it as it is would report, in one pass.
    SELECT
        d.cleaned,
        pliers._check_submission_attributes(
            coalesce(p_metadata, 'null'), coalesce(p_tags, ARRAY[NULL]::text[]), coalesce(p_source, ''), p_external_id
        ) || d.errors,
        d.final_errors
    INTO v_data, v_errors, v_final_errors
    FROM pliers._check_answers(v_form, coalesce(p_data, '{}'), v_submit, '{}') AS d;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the submission is not valid', v_errors);
    END IF;

    PERFORM pliers._check_quota('max_submissions_per_month', 1, v_org);
    -- Submitted: the initial state of the form's workflow (sql/64), NULL without one (one
    -- probe), written with the row.
    IF v_submit THEN
        v_workflow_state := pliers._submission_workflow_state(v_org, v_form.id);
    END IF;

    LOOP
        -- ON CONFLICT DO NOTHING, no arbiter: a concurrent creator of the same external id
        -- (or a number already taken by a row inserted without the API) makes this a no-op.
        -- Created and submitted in one call: two changes (created, submitted), so revision 2.
        INSERT INTO pliers.submissions (
            organization_id, form_id, submission_number, external_id, status, data, is_valid,
            validation_errors, submitted_by, submitted_at, expires_at, source, ip_address, user_agent, referrer,
            metadata, tags, revision, workflow_state
        ) VALUES (
            v_org, v_form.id, pliers._next_submission_number(v_org), p_external_id,
            CASE WHEN v_submit THEN 'submitted' ELSE 'draft' END::pliers.submission_status,
            v_data, v_final_errors = '[]', v_final_errors, v_request.user_id,
            CASE WHEN v_submit THEN pg_catalog.now() END, p_expires_at, p_source,
            v_request.ip_address,
            v_request.user_agent,
            p_referrer, p_metadata, p_tags, CASE WHEN v_submit THEN 2 ELSE 1 END, v_workflow_state
        )
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_submission;
        EXIT WHEN FOUND;

        IF p_external_id IS NOT NULL THEN
            SELECT s.* INTO v_submission
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.external_id = p_external_id
                AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), pliers.current_user_id());
            IF FOUND AND v_submission.form_id = v_form.id THEN
                RETURN v_submission;  -- the concurrent creator won: idempotent result
            END IF;
        END IF;
        v_attempt := v_attempt + 1;
        IF v_attempt >= 5 THEN
            RAISE EXCEPTION 'the submission conflicts with an existing one'
                USING
                    ERRCODE = 'PL003',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'object', 'submission', 'external_id', p_external_id, 'id', v_submission.id
                    )::text,
                    HINT = 'The external id belongs to a submission you cannot see or to another form.';
        END IF;
    END LOOP;

    -- Counters: one slot row each, never the forms row.
    INSERT INTO pliers.form_counters AS c (organization_id, form_id, slot, submission_count, last_submission_at)
    VALUES (v_org, v_form.id, pliers._counter_slot(), 1, v_submission.created_at)
    ON CONFLICT (organization_id, form_id, slot) DO UPDATE
    SET
        submission_count = c.submission_count + 1,
        last_submission_at = greatest(c.last_submission_at, excluded.last_submission_at);
    PERFORM pliers._count_usage(v_org, 'submissions', 1);

    IF v_submit THEN
        PERFORM pliers._append_events(
            'submission', v_submission.id, 1, ARRAY['submission.created', 'submission.submitted'],
            ARRAY[
                pliers._submission_created_payload(v_submission, v_form),
                pliers._submission_submitted_payload(v_submission)
            ]
        );
        -- Submitted: the form's workflows start here too, as in submit_submission.
        IF v_workflow_state IS NOT NULL AND pliers._start_submission_workflows(v_org, v_submission) > 0 THEN
            SELECT s.* INTO v_submission FROM pliers.submissions AS s WHERE s.organization_id = v_org AND s.id = v_submission.id;
        END IF;
    ELSE
        PERFORM pliers._append_event(
            'submission', v_submission.id, 1, 'submission.created',
            pliers._submission_created_payload(v_submission, v_form)
        );
    END IF;
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.create_submission(uuid, jsonb, boolean, text, jsonb, text[], text, timestamptz, text) IS
'Creates a submission to form version p_form_id (published or deprecated; else PL001 code form_not_published), '
'pinned to that version: a draft, or submitted when p_submit. p_data is validated against that version''s '
'definition (drafts with p_final => false: required rules wait for submission) and stored cleaned '
'(clean_submission_data); PL001 lists every error with its path ($.data.<field>). Numbered S-000123 per '
'organization (see pliers._next_submission_number). p_external_id makes creation idempotent: when a submission '
'of the tenant has it, that submission is returned unchanged, also when a concurrent call created it (PL003 when '
'it belongs to another form). Counts: form_counters and usage_counters slots, never the forms row. Permission '
'submission.create on the form (organization role, form role, collaborator, or the form''s visibility). PL002, '
'PL006, PL007 (max_submissions_per_month), PL008. Appends submission.created (aggregate_version 1, payload: the '
'business fields of the draft) and, when submitted, submission.submitted (aggregate_version 2, caused by the first): '
'a submission created submitted starts at revision 2, and starts the form''s workflows as submit_submission does.';

CREATE OR REPLACE FUNCTION pliers.submit_submission(p_submission_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
    v_form pliers.forms;
    v_workflow_state text;
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        RAISE EXCEPTION 'submission % is %, not a draft', v_submission.id, v_submission.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'submission', 'id', v_submission.id, 'from', v_submission.status, 'to', 'submitted'
                )::text;
    END IF;
    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;
    PERFORM pliers._require_accepting(v_form);
    PERFORM pliers.assert_valid_submission_data(
        v_form.definition, v_submission.data, TRUE, pliers._submission_attachments(v_submission.id)
    );

    -- The initial state of the form's workflow (sql/64), NULL without one: one probe.
    v_workflow_state := pliers._submission_workflow_state(v_org, v_submission.form_id);
    UPDATE pliers.submissions AS s
    SET updated_at = pg_catalog.now(), status = 'submitted', submitted_at = pg_catalog.now(), is_valid = TRUE,
        validation_errors = '[]', workflow_state = coalesce(v_workflow_state, s.workflow_state)
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.submitted',
        pliers._submission_submitted_payload(v_submission)
    );
    -- The form's workflows start in this transaction; their actions may change the row
    -- (status, assignment): it is read again then.
    IF v_workflow_state IS NOT NULL AND pliers._start_submission_workflows(v_org, v_submission) > 0 THEN
        SELECT s.* INTO v_submission FROM pliers.submissions AS s WHERE s.organization_id = v_org AND s.id = v_submission.id;
    END IF;
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.submit_submission(uuid, integer) IS
'Submits a draft: its answers are validated as final against the pinned form version (PL001 with every error, e.g. '
'required fields), the version must still accept submissions (PL001 form_not_published when archived); status '
'submitted, submitted_at now. Not a draft: PL004 {from, to}. Permission as update_submission. PL002, PL003 (stale '
'p_expected_revision, when given), PL006, PL008. Appends submission.submitted ({from, to, submitted_at, is_valid, '
'validation_errors}). Starts the active form_submission workflows attached to the form version in the same '
'transaction (pliers._start_submission_workflows; workflow_state their initial state, written with the row); a '
'run that fails refuses the submit.';

-- sql/72-audit.sql

CREATE OR REPLACE FUNCTION pliers.enable_audit(
    p_table regclass,
    p_excluded_columns text[] DEFAULT NULL,
    p_ignored_columns text[] DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_table record;
    v_trigger name;
    v_current record;
    v_excluded text[];
    v_ignored text[];
    v_unknown text[];
    v_events boolean;
BEGIN
    SELECT n.nspname, c.relname, c.relkind, c.relispartition,
        EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        ) AS has_organization
    INTO v_table
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    WHERE c.oid = p_table;
    IF NOT FOUND OR v_table.nspname <> 'pliers' OR v_table.relkind NOT IN ('r', 'p') OR v_table.relispartition
        OR v_table.relname IN ('audit_logs', 'events')
        OR NOT (v_table.has_organization OR v_table.relname = 'organizations') THEN
        RAISE EXCEPTION '% cannot be audited', coalesce(p_table::text, 'NULL')
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_table', 'value', p_table::text)::text,
                HINT = 'Audited tables are tables of schema pliers with an organization_id column '
                || '(or pliers.organizations), other than events and audit_logs.';
    END IF;
    IF pg_catalog.array_position(p_excluded_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'p_excluded_columns contains NULL'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_excluded_columns', 'value', p_excluded_columns)::text;
    END IF;
    IF pg_catalog.array_position(p_ignored_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'p_ignored_columns contains NULL'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_ignored_columns', 'value', p_ignored_columns)::text;
    END IF;
    v_trigger := v_table.relname || '_audit';
    v_events := v_table.relname IN ('forms', 'submissions', 'choice_lists', 'choice_list_items', 'workflow_executions');

    SELECT s.enabled, s.excluded_columns, s.ignored_columns, s.api_writes_in_events INTO v_current
    FROM pliers.audit_settings AS s
    WHERE s.table_name = p_table;

    -- NULL keeps the current list (none for a table not audited yet).
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c ORDER BY c), '{}')
    INTO v_excluded
    FROM pg_catalog.unnest(coalesce(p_excluded_columns, v_current.excluded_columns)) AS c;
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c ORDER BY c), '{}')
    INTO v_ignored
    FROM pg_catalog.unnest(coalesce(p_ignored_columns, v_current.ignored_columns)) AS c;

    SELECT pg_catalog.array_agg(c ORDER BY c)
    INTO v_unknown
    FROM pg_catalog.unnest(v_excluded || v_ignored) AS c
    WHERE NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped
    );
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION '% has no column %', p_table, pg_catalog.array_to_string(v_unknown, ', ')
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_excluded_columns', 'value', v_unknown)::text;
    END IF;

    IF v_current.enabled AND v_current.excluded_columns = v_excluded AND v_current.ignored_columns = v_ignored
        AND v_current.api_writes_in_events = v_events THEN
        RETURN false;
    END IF;
    -- Forms, submissions and workflow executions (sql/64) are event-sourced: every
    -- write of the API (SECURITY DEFINER, so pliers_owner) appends an event that records
    -- who, when, from where and what, in the same transaction (sql/74-feed.sql). An audit row would be a second copy of the
    -- history (a quarter of the bytes and a sixth of the time of a submission,
    -- bench/RESULTS.md), so only the writes made outside the API are audited. So are
    -- choice lists (their events describe the list) and their items: a row per item
    -- would make a 100,000-item replace write 200,000 audit rows (8 to 14 times slower,
    -- about 130 MB) for a change its one event records.
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW %s'
        'EXECUTE FUNCTION pliers._audit(%L, %L)',
        v_trigger, p_table,
        CASE WHEN v_events THEN 'WHEN (CURRENT_USER <> ''pliers_owner'') ' ELSE '' END,
        v_excluded::text, v_ignored::text
    );
    IF v_current.enabled IS false THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', p_table, v_trigger);
    END IF;
    EXECUTE pg_catalog.format(
        'COMMENT ON TRIGGER %I ON %s IS %L', v_trigger, p_table,
        'Records row changes in pliers.audit_logs (pliers._audit); created by pliers.enable_audit, '
        || 'removed by pliers.disable_audit'
    );
    RETURN true;
END
$function$;

COMMENT ON FUNCTION pliers.enable_audit(regclass, text[], text[]) IS
'Starts recording the row changes of p_table in pliers.audit_logs: creates (or replaces) its trigger <table>_audit. '
'p_excluded_columns are never recorded (secret columns never are anyway); a change to p_ignored_columns alone (like '
'updated_at and revision) records nothing. NULL keeps the current list. On pliers.forms, pliers.submissions, '
'pliers.choice_lists, pliers.choice_list_items and pliers.workflow_executions, whose API writes are recorded as '
'events, the trigger records only writes made by other roles than pliers_owner (the API). '
'Idempotent: returns false when the trigger '
'already has these settings, true when it was created or changed. p_table must be a table of schema pliers with an '
'organization_id column, or pliers.organizations, not events or audit_logs (else PL009). Owner/DBA only.';

-- sql/74-feed.sql

CREATE OR REPLACE FUNCTION pliers._append_events(
    p_aggregate_type pliers.aggregate_type,
    p_aggregate_id uuid,
    p_first_version integer,
    p_event_types text[],
    p_payloads jsonb[],
    p_causation_id uuid DEFAULT NULL
)
RETURNS uuid[]
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_context record;
    v_ids uuid[];
BEGIN
    SELECT r.* INTO v_context FROM pliers.current_request() AS r;
    IF v_context.organization_id IS NULL THEN
        RAISE EXCEPTION 'no tenant context: an event needs pliers.set_context first'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object(
                    'aggregate_type', p_aggregate_type, 'aggregate_id', p_aggregate_id, 'event_type', p_event_types[1]
                )::text;
    END IF;

    -- Ids first: each event after the first is caused by the one before it.
    v_ids := ARRAY(SELECT pg_catalog.gen_random_uuid() FROM pg_catalog.generate_subscripts(p_event_types, 1));
    INSERT INTO pliers.events (
        id, organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
        correlation_id, causation_id, user_id, session_id, ip_address, user_agent
    )
    SELECT
        v_ids[e.n], v_context.organization_id, e.event_type, p_aggregate_type, p_aggregate_id,
        p_first_version + e.n::integer - 1, p_payloads[e.n], v_context.correlation_id,
        CASE WHEN e.n = 1 THEN p_causation_id ELSE v_ids[e.n - 1] END,
        v_context.user_id, v_context.session_id, v_context.ip_address, v_context.user_agent
    FROM pg_catalog.unnest(p_event_types) WITH ORDINALITY AS e (event_type, n)
    ORDER BY e.n;
    -- Workflows triggered by these events (sql/64), in this transaction; a run's own
    -- events (execution.*) and the workflows' (workflow.*) trigger nothing.
    IF EXISTS (SELECT FROM pg_catalog.unnest(p_event_types) AS t (event_type) WHERE t.event_type !~ '^(execution|workflow)\.') THEN
        PERFORM pliers._start_event_workflows(v_context.organization_id, p_event_types);
    END IF;
    RETURN v_ids;
END
$function$;

COMMENT ON FUNCTION pliers._append_events(pliers.aggregate_type, uuid, integer, text[], jsonb[], uuid) IS
'Private, for the API. Appends the events p_event_types (payloads p_payloads, same order) of one aggregate to '
'pliers.events in one INSERT, in the caller''s transaction, and returns their ids in order: aggregate_version '
'p_first_version, p_first_version + 1, ...; the first caused by p_causation_id, each next one by the one before; '
'organization from the tenant context (PL008 without one), correlation_id, user_id, session_id, ip_address and '
'user_agent from the context (pliers.current_request()), event_timestamp = transaction time. Starts the active '
'workflows of trigger type event on these event types (pliers._start_event_workflows). Constraint '
'violations (event type format, payload not an object, version < 1) raise their SQLSTATE (23514).';

COMMENT ON VIEW pliers.audit_settings IS
'One row per audited table (a <table>_audit trigger exists): whether the trigger is enabled, the columns never '
'recorded for it (excluded_columns, plus secret_columns, always excluded) and the columns whose change alone records '
'nothing (ignored_columns, plus updated_at and revision), and whether the writes of the API are left to the event '
'log (api_writes_in_events: forms, submissions, choice lists and their items, workflow executions). Change them '
'with pliers.enable_audit / pliers.disable_audit.';

-- Executions are event-sourced (sql/64): their API writes leave the audit log.
DO $audit$
BEGIN
    PERFORM pliers.enable_audit('pliers.workflow_executions');
END
$audit$;

RESET ROLE;
