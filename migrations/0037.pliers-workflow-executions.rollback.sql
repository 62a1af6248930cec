-- Rollback of 0037 (the workflow engine).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

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
    RETURN v_ids;
END
$function$;

COMMENT ON FUNCTION pliers._append_events(pliers.aggregate_type, uuid, integer, text[], jsonb[], uuid) IS
'Private, for the API. Appends the events p_event_types (payloads p_payloads, same order) of one aggregate to '
'pliers.events in one INSERT, in the caller''s transaction, and returns their ids in order: aggregate_version '
'p_first_version, p_first_version + 1, ...; the first caused by p_causation_id, each next one by the one before; '
'organization from the tenant context (PL008 without one), correlation_id, user_id, session_id, ip_address and '
'user_agent from the context (pliers.current_request()), event_timestamp = transaction time. Constraint '
'violations (event type format, payload not an object, version < 1) raise their SQLSTATE (23514).';

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
    v_events := v_table.relname IN ('forms', 'submissions', 'choice_lists', 'choice_list_items');

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
    -- Forms and submissions are event-sourced: every write of the API (SECURITY DEFINER,
    -- so pliers_owner) appends an event that records who, when, from where and what, in
    -- the same transaction (sql/74-feed.sql). An audit row would be a second copy of the
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
'pliers.choice_lists and pliers.choice_list_items, whose API writes are recorded as events, the trigger records only '
'writes made by other roles than pliers_owner (the API). '
'Idempotent: returns false when the trigger '
'already has these settings, true when it was created or changed. p_table must be a table of schema pliers with an '
'organization_id column, or pliers.organizations, not events or audit_logs (else PL009). Owner/DBA only.';

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

    LOOP
        -- ON CONFLICT DO NOTHING, no arbiter: a concurrent creator of the same external id
        -- (or a number already taken by a row inserted without the API) makes this a no-op.
        -- Created and submitted in one call: two changes (created, submitted), so revision 2.
        INSERT INTO pliers.submissions (
            organization_id, form_id, submission_number, external_id, status, data, is_valid,
            validation_errors, submitted_by, submitted_at, expires_at, source, ip_address, user_agent, referrer,
            metadata, tags, revision
        ) VALUES (
            v_org, v_form.id, pliers._next_submission_number(v_org), p_external_id,
            CASE WHEN v_submit THEN 'submitted' ELSE 'draft' END::pliers.submission_status,
            v_data, v_final_errors = '[]', v_final_errors, v_request.user_id,
            CASE WHEN v_submit THEN pg_catalog.now() END, p_expires_at, p_source,
            v_request.ip_address,
            v_request.user_agent,
            p_referrer, p_metadata, p_tags, CASE WHEN v_submit THEN 2 ELSE 1 END
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
'a submission created submitted starts at revision 2.';

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

    UPDATE pliers.submissions AS s
    SET updated_at = pg_catalog.now(), status = 'submitted', submitted_at = pg_catalog.now(), is_valid = TRUE, validation_errors = '[]'
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.submitted',
        pliers._submission_submitted_payload(v_submission)
    );
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.submit_submission(uuid, integer) IS
'Submits a draft: its answers are validated as final against the pinned form version (PL001 with every error, e.g. '
'required fields), the version must still accept submissions (PL001 form_not_published when archived); status '
'submitted, submitted_at now. Not a draft: PL004 {from, to}. Permission as update_submission. PL002, PL003 (stale '
'p_expected_revision, when given), PL006, PL008. Appends submission.submitted ({from, to, submitted_at, is_valid, '
'validation_errors}).';

COMMENT ON VIEW pliers.audit_settings IS
'One row per audited table (a <table>_audit trigger exists): whether the trigger is enabled, the columns never '
'recorded for it (excluded_columns, plus secret_columns, always excluded) and the columns whose change alone records '
'nothing (ignored_columns, plus updated_at and revision), and whether the writes of the API are left to the event '
'log (api_writes_in_events: forms, submissions, choice lists and their items). Change them with '
'pliers.enable_audit / pliers.disable_audit.';

DROP TRIGGER workflow_executions_audit ON pliers.workflow_executions;
CREATE TRIGGER workflow_executions_audit AFTER INSERT OR UPDATE OR DELETE ON pliers.workflow_executions
FOR EACH ROW EXECUTE FUNCTION pliers._audit('{}', '{}');
COMMENT ON TRIGGER workflow_executions_audit ON pliers.workflow_executions IS
'Records row changes in pliers.audit_logs (pliers._audit); created by pliers.enable_audit, removed by pliers.disable_audit';

DROP FUNCTION pliers.fire_workflow_schedules(integer);
DROP FUNCTION pliers.fire_workflow_timeouts(integer);
DROP FUNCTION pliers.trigger_workflow_webhook(uuid, uuid, text, jsonb);
DROP FUNCTION pliers._start_event_workflows(uuid, text[]);
DROP FUNCTION pliers._start_submission_workflows(uuid, pliers.submissions);
DROP FUNCTION pliers._submission_workflow_state(uuid, uuid);
DROP FUNCTION pliers.overdue_workflow_executions(integer);
DROP FUNCTION pliers.list_workflow_executions(text, uuid, pliers.execution_status, timestamptz, uuid, integer);
DROP FUNCTION pliers.get_workflow_execution(uuid);
DROP FUNCTION pliers.fail_workflow_execution(uuid, jsonb, integer);
DROP FUNCTION pliers.cancel_workflow_execution(uuid, text, integer);
DROP FUNCTION pliers._lock_open_execution(uuid, uuid, integer);
DROP FUNCTION pliers._close_execution(uuid, pliers.workflow_executions, pliers.execution_status, text, jsonb);
DROP FUNCTION pliers.transition_workflow_execution(uuid, text, jsonb, text);
DROP FUNCTION pliers.start_workflow_execution(text, uuid, jsonb);
DROP FUNCTION pliers._transition_execution(uuid, pliers.workflow_executions, text, jsonb, boolean);
DROP FUNCTION pliers._complete_execution(uuid, pliers.workflow_executions);
DROP FUNCTION pliers._start_execution(uuid, pliers.workflows, uuid, jsonb, text, uuid, uuid, integer);
DROP FUNCTION pliers._workflow_actions_end();
DROP FUNCTION pliers._workflow_actions_begin();
DROP FUNCTION pliers._on_state_entered(uuid, pliers.workflow_executions, jsonb, uuid);
DROP FUNCTION pliers._run_workflow_actions(uuid, pliers.workflow_executions, jsonb, text, uuid);
DROP FUNCTION pliers._workflow_notify(uuid, jsonb, pliers.workflow_executions, uuid);
DROP FUNCTION pliers._workflow_assign(uuid, uuid, jsonb);
DROP FUNCTION pliers._workflow_set_status(uuid, uuid, pliers.submission_status, text);
DROP FUNCTION pliers._require_execution_permission(pliers.workflow_executions);
DROP FUNCTION pliers._execution_visible(pliers.workflow_executions);
DROP FUNCTION pliers._lock_execution(uuid, uuid);
DROP FUNCTION pliers._state_deadline(jsonb, text, timestamptz);
DROP FUNCTION pliers._execution_payload(pliers.workflow_executions);
DROP FUNCTION pliers._enter_tenant(uuid);
DROP FUNCTION pliers._check_json_argument(text, jsonb, integer);
DROP FUNCTION pliers._raise_execution_limit(text, text, text);
DROP FUNCTION pliers.workflow_execution_limits();

CREATE INDEX workflow_executions_started_at_open_idx ON pliers.workflow_executions (started_at)
WHERE status IN ('pending', 'running');
COMMENT ON INDEX pliers.workflow_executions_started_at_open_idx IS
'Pending and running executions by start time (job pick-up, timeout detection); only open runs are indexed';
GRANT INSERT, UPDATE, DELETE ON pliers.workflow_executions, pliers.workflow_counters TO pliers_app;
ALTER TABLE pliers.submissions ALTER COLUMN workflow_state TYPE varchar(50);
DROP INDEX pliers.workflow_executions_started_at_idx;
DROP INDEX pliers.workflow_executions_sla_due_at_idx;
DROP INDEX pliers.workflow_executions_deadline_at_idx;
DROP INDEX pliers.workflow_executions_timeout_at_idx;
ALTER TABLE pliers.workflow_executions
DROP CONSTRAINT workflow_executions_depth_range,
DROP CONSTRAINT workflow_executions_revision_positive,
DROP COLUMN depth,
DROP COLUMN deadline_at,
DROP COLUMN sla_due_at,
DROP COLUMN timeout_at,
DROP COLUMN revision;

RESET ROLE;
