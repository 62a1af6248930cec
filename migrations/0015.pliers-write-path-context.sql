-- The write path, part 1 (issue 13): the API verifies the tenant context once per call
-- instead of once per statement, events are the history of forms and submissions, and
-- the event and audit indexes that no query of the API reads are gone.
-- Hand-written delta: sql/55, 57, 70, 72, 78, 89, 91, 92 and 95 hold the same changes.
--
-- Row-level security is no longer forced: the owner (the SECURITY DEFINER API, which
-- names the tenant in every statement) is not bound by it; pliers_app, pliers_readonly
-- and pliers_worker are, as before. The owner-only policies that existed because the
-- owner was bound go with it. set_context reads the user in one query, and
-- authenticate_api_key finds a key by its hash without a lookup policy.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/95-security.sql.j2
ALTER TABLE pliers.users NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.teams NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.team_members NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.role_assignments NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.forms NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.form_collaborators NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.form_counters NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.submissions NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.attachments NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflows NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflow_forms NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflow_executions NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflow_counters NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.events NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.audit_logs NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.plugin_installations NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.api_keys NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.webhooks NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.notifications NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.usage_counters NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.organizations NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.plugins NO FORCE ROW LEVEL SECURITY;

DROP POLICY submissions_lister_select ON pliers.submissions;

DROP POLICY api_keys_authenticate ON pliers.api_keys;

DROP POLICY plugins_catalogue_select ON pliers.plugins;

DROP POLICY plugins_catalogue_write ON pliers.plugins;

-- sql/78-maintenance.sql: its comment on who moves rows
CREATE OR REPLACE FUNCTION pliers.run_maintenance(
    p_months_ahead integer DEFAULT 3,
    p_events_retention interval DEFAULT '24 months',
    p_audit_retention interval DEFAULT '84 months'
)
RETURNS TABLE (action text, target text, detail text)
LANGUAGE plpgsql
SET search_path = ''
SET timezone = 'UTC'
SET datestyle = 'ISO, YMD'
AS $function$
DECLARE
    v_this_month date := pg_catalog.date_trunc('month', pg_catalog.now())::date;
    v_table record;
    v_parent record;
    v_partition record;
    v_month date;
    v_changed boolean;
    v_left bigint;
    v_through timestamptz;
    v_under_rls boolean := pg_catalog.row_security_active('pliers.organizations'::regclass);
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead NOT BETWEEN 0 AND 119 THEN
        RAISE EXCEPTION 'p_months_ahead must be between 0 and 119'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_months_ahead', 'value', p_months_ahead)::text;
    END IF;
    IF p_events_retention IS NULL OR p_events_retention < INTERVAL '1 month' THEN
        RAISE EXCEPTION 'p_events_retention must be at least 1 month'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object(
                    'argument', 'p_events_retention', 'value', p_events_retention
                )::text;
    END IF;
    IF p_audit_retention IS NULL OR p_audit_retention < INTERVAL '1 month' THEN
        RAISE EXCEPTION 'p_audit_retention must be at least 1 month'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object(
                    'argument', 'p_audit_retention', 'value', p_audit_retention
                )::text;
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'pliers.run_maintenance must run in a READ COMMITTED transaction'
            USING ERRCODE = '25000';
    END IF;

    -- One run at a time: a second run waits here, then finds the work done.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pliers.run_maintenance'));

    FOR v_table IN
        SELECT t.parent, t.retention
        FROM (
            VALUES
            ('pliers.events'::regclass, p_events_retention),
            ('pliers.audit_logs'::regclass, p_audit_retention)
        ) AS t (parent, retention)
    LOOP
        v_changed := false;
        SELECT * INTO v_parent FROM pliers._partitioned_parent(v_table.parent);

        -- 1. This month and the next p_months_ahead, and 2. any other month that has
        --    rows in the DEFAULT partition (back-dated or far ahead): each month's
        --    partition is created and its rows move there from the DEFAULT partition.
        FOR v_month IN
            SELECT m.month::date
            FROM pg_catalog.generate_series(
                v_this_month::timestamp, (v_this_month + pg_catalog.make_interval(months => p_months_ahead))::timestamp,
                INTERVAL '1 month'
            ) AS m (month)
            UNION
            SELECT d.month
            FROM pliers._default_partition_months(v_table.parent) AS d (month)
            ORDER BY 1
        LOOP
            -- ATTACH checks the foreign keys of the rows that move; under the tenant
            -- policies (a role that RLS binds) it would see no organization and fail.
            -- Such a month waits for a run by a role that RLS does not bind (the owner,
            -- a superuser); the others go on.
            IF v_under_rls AND v_parent.default_partition IS NOT NULL THEN
                EXECUTE pg_catalog.format(
                    'SELECT count(*) FROM %s WHERE %I >= $1 AND %I < $2',
                    v_parent.default_partition, v_parent.key_column, v_parent.key_column
                ) INTO v_left
                USING v_month::timestamp AT TIME ZONE 'UTC', (v_month + INTERVAL '1 month')::timestamp AT TIME ZONE 'UTC';
                IF v_left > 0 THEN
                    action := 'warning';
                    target := v_parent.default_partition::text;
                    detail := pg_catalog.format(
                        '%s rows of %s stay in the default partition: moving them needs a role that bypasses '
                        'row-level security', v_left, pg_catalog.to_char(v_month, 'YYYY-MM')
                    );
                    v_changed := true;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            FOR v_partition IN
                SELECT c.partition_name, c.rows_moved
                FROM pliers.create_partitions(v_table.parent, v_month, v_month) AS c
                WHERE c.created
            LOOP
                action := 'created';
                target := v_partition.partition_name;
                detail := pg_catalog.format('%s rows moved from the default partition', v_partition.rows_moved);
                v_changed := true;
                RETURN NEXT;
            END LOOP;
        END LOOP;

        -- 3. Retention: partitions past it go to schema pliers_archive (never dropped).
        FOR v_partition IN
            SELECT d.partition_name, d.archived_as
            FROM pliers.detach_partitions(v_table.parent, v_table.retention) AS d
        LOOP
            action := 'detached';
            target := v_partition.partition_name;
            detail := 'archived as ' || v_partition.archived_as;
            v_changed := true;
            RETURN NEXT;
        END LOOP;

        IF v_parent.default_partition IS NOT NULL THEN
            EXECUTE pg_catalog.format(
                'SELECT count(*) FROM %s WHERE NOT pg_catalog.isfinite(%I)', v_parent.default_partition, v_parent.key_column
            ) INTO v_left;
            IF v_left > 0 THEN
                action := 'warning';
                target := v_parent.default_partition::text;
                detail := pg_catalog.format('%s rows with an infinite timestamp stay in the default partition', v_left);
                RETURN NEXT;
            END IF;
        END IF;
        IF NOT v_changed THEN
            SELECT max(b.upper_bound) INTO v_through
            FROM pliers._partition_bounds(v_table.parent) AS b
            WHERE NOT b.is_default;
            action := 'unchanged';
            target := v_table.parent::text;
            detail := pg_catalog.format(
                'partitions exist through %s; nothing past the %s retention',
                pg_catalog.to_char(v_through - INTERVAL '1 day', 'YYYY-MM'), v_table.retention
            );
            RETURN NEXT;
        END IF;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.run_maintenance(integer, interval, interval) IS
'Partition maintenance of pliers.events and pliers.audit_logs in one call, safe to run at any time and concurrently '
'(the second run waits on an advisory lock, then finds nothing to do). For each table: creates the monthly partitions '
'of this month and the next p_months_ahead (0 to 119), creates the month of every row still in the DEFAULT partition '
'and moves it there, then detaches the partitions older than the retention (events: p_events_retention, audit_logs: '
'p_audit_retention, at least 1 month) into schema pliers_archive. Returns what it did: action created | detached | '
'warning | unchanged, target (partition or table), detail (rows moved, archive name, ...). Rows of the DEFAULT '
'partition move only for a role that bypasses RLS (else a warning: ATTACH checks their foreign keys under the '
'tenant policies); empty partitions need only pliers_owner. READ COMMITTED only; '
'takes the locks of create_partitions and detach_partitions: run it with a lock_timeout (pliersdb maintain does). '
'Bad arguments raise PL009. Owner/DBA only; schedule it daily (docs/history.md).';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers._set_context(
    p_organization_id uuid,
    p_user_id uuid,
    p_session_id uuid,
    p_ip_address inet,
    p_user_agent text,
    p_correlation_id uuid,
    p_api_key_id uuid,
    p_api_key_scopes text[]
)
RETURNS text
LANGUAGE plpgsql
-- Generic plans: a custom plan would be made again on every call.
SET plan_cache_mode = force_generic_plan
SET search_path = ''
AS $$
DECLARE
    v_user record;
BEGIN
    PERFORM pg_catalog.set_config('pliers.context', '', true);
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RETURN 'no_context';
    END IF;

    SELECT
        u.status,
        o.deleted_at AS organization_deleted_at,
        d.denied,
        (
            SELECT coalesce(pg_catalog.array_agg(DISTINCT g.permission ORDER BY g.permission), '{}')
            FROM (
                SELECT pg_catalog.unnest(r.permissions) AS permission
                FROM pliers.roles AS r
                WHERE r.name = ANY(u.roles)
                UNION ALL
                SELECT pg_catalog.unnest(r.permissions)
                FROM pliers.role_assignments AS ra
                INNER JOIN pliers.roles AS r ON ra.role = r.name
                WHERE ra.organization_id = p_organization_id
                    AND ra.user_id = p_user_id
                    AND ra.scope_type = 'organization'
                    AND ra.revoked_at IS NULL
                    AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
                UNION ALL
                SELECT j.key
                FROM pg_catalog.jsonb_each(u.permissions) AS j
                WHERE j.value = 'true'::jsonb
            ) AS g
            WHERE g.permission <> ALL(d.denied)
                AND (coalesce(pg_catalog.cardinality(p_api_key_scopes), 0) = 0 OR g.permission = ANY(p_api_key_scopes))
        ) AS permissions
    INTO v_user
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    CROSS JOIN LATERAL (
        SELECT coalesce(pg_catalog.array_agg(j.key ORDER BY j.key), '{}') AS denied
        FROM pg_catalog.jsonb_each(u.permissions) AS j
        WHERE j.value = 'false'::jsonb
    ) AS d
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        RETURN 'not_a_member';
    ELSIF v_user.organization_deleted_at IS NOT NULL THEN
        RETURN 'organization_deleted';
    ELSIF v_user.status <> 'active' THEN
        RETURN 'user_' || v_user.status::text;
    END IF;

    PERFORM pliers._store_context(pliers._context_payload(
        p_organization_id, p_user_id, v_user.permissions, p_api_key_id, v_user.denied, p_api_key_scopes,
        p_session_id, p_correlation_id, p_ip_address, p_user_agent
    ));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[]) IS
'Private (set_context, authenticate_api_key). Clears the context, then, if p_user_id is an active user of the '
'non-deleted organization p_organization_id, stores the signed context (pliers.context: organization, user, '
'organization-wide permissions restricted to p_api_key_scopes when that is not empty, denials, API key, request '
'metadata) and returns NULL. Otherwise leaves no context and returns why: no_context, not_a_member, '
'organization_deleted, user_<status>.';

-- sql/92-api-keys.sql
CREATE OR REPLACE FUNCTION pliers.authenticate_api_key(
    p_key text,
    p_session_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL,
    p_correlation_id uuid DEFAULT NULL
)
RETURNS TABLE (organization_id uuid, user_id uuid, api_key_id uuid, scopes text[])
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_hash text := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(coalesce(p_key, ''), 'UTF8')), 'hex');
    v_key record;
    v_reason text;
BEGIN
    -- No tenant yet: the key's hash finds its organization (unique across tenants).
    SELECT k.organization_id, k.id, k.created_by, k.scopes, k.revoked_at, k.expires_at
    INTO v_key
    FROM pliers.api_keys AS k
    WHERE k.key_hash = v_hash;

    IF v_key.id IS NULL THEN
        v_reason := 'unknown';
    ELSIF v_key.revoked_at IS NOT NULL THEN
        v_reason := 'revoked';
    ELSIF v_key.expires_at <= pg_catalog.now() THEN
        v_reason := 'expired';
    ELSIF pliers._set_context(
        v_key.organization_id, v_key.created_by, p_session_id, p_ip_address, p_user_agent, p_correlation_id,
        v_key.id, v_key.scopes
    ) IS NOT NULL THEN
        v_reason := 'creator_not_active';
    END IF;
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'invalid API key'
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'api_key.authenticate', 'object', 'api_key', 'reason', v_reason
                )::text;
    END IF;

    -- last_used_at at most once a minute per key, and never waiting: a request that
    -- finds the row locked by another one skips the update. Not in read-only transactions.
    IF pg_catalog.current_setting('transaction_read_only') = 'off' THEN
        PERFORM
        FROM pliers.api_keys AS k
        WHERE k.organization_id = v_key.organization_id
            AND k.id = v_key.id
            AND (k.last_used_at IS NULL OR k.last_used_at < pg_catalog.now() - INTERVAL '1 minute')
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE pliers.api_keys AS k
            SET last_used_at = pg_catalog.now()
            WHERE k.organization_id = v_key.organization_id AND k.id = v_key.id;
        END IF;
    END IF;

    RETURN QUERY SELECT v_key.organization_id, v_key.created_by, v_key.id, v_key.scopes;
END
$$;

COMMENT ON FUNCTION pliers.authenticate_api_key(text, uuid, inet, text, uuid) IS
'Resolves a presented API key without a tenant context and opens the context of its organization, acting as the '
'key''s creator, the key and its scopes in the context (pliers.current_request().api_key_id; as pliers.set_context otherwise does). '
'Unknown, revoked and expired keys, and keys whose creator is no longer an active user, raise PL006 with the same '
'message (DETAIL {permission, object, reason}: unknown, revoked, expired, creator_not_active). '
'Updates last_used_at when it is older than a minute (skipped if the row is locked or the transaction read-only). '
'Returns the organization, the user, the key and its scopes.';

-- The API reads only the submissions the caller may see: pliers.submission_visible,
-- the rule of the submissions_select policy, now in its queries.
-- sql/55-submissions-api.sql
CREATE OR REPLACE FUNCTION pliers._lock_submission(p_submission_id uuid, p_deleted boolean DEFAULT FALSE)
RETURNS pliers.submissions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_submission pliers.submissions;
BEGIN
    IF p_submission_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'submission_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('submission_id', 'required', 'the submission id is required'))
        );
    END IF;
    -- Visible to the caller (the rule of the submissions_select policy): the API is not
    -- bound by row-level security, so it applies the rule itself.
    SELECT s.* INTO v_submission
    FROM pliers.submissions AS s
    WHERE
        s.organization_id = pliers.current_organization_id()
        AND s.id = p_submission_id
        AND (s.deleted_at IS NOT NULL) = p_deleted
        AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), pliers.current_user_id())
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('submission', p_submission_id);
    END IF;
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers._lock_submission(uuid, boolean) IS
'Private: submission p_submission_id of the current tenant, visible to the caller (pliers.submission_visible), live (or deleted, with '
'p_deleted), locked FOR UPDATE; PL001 when NULL, PL002 when not found.';

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
    v_user constant uuid := pliers.current_user_id();
    v_submit constant boolean := coalesce(p_submit, FALSE);
    v_form pliers.forms;
    v_errors jsonb;
    v_data jsonb;
    v_final_errors jsonb;
    v_submission pliers.submissions;
    v_event uuid;
    v_attempt integer := 0;
    v_request record;
BEGIN
    v_form := pliers._get_form(p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);
    SELECT r.ip_address, r.user_agent INTO v_request FROM pliers.current_request() AS r;

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
    SELECT
        d.cleaned,
        pliers._check_submission_attributes(
            coalesce(p_metadata, 'null'), coalesce(p_tags, ARRAY[NULL]::text[]), coalesce(p_source, ''), p_external_id
        ) || d.errors
    INTO v_data, v_errors
    FROM pliers._check_submission_data(v_form.definition, coalesce(p_data, '{}'), v_submit, '{}') AS d;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the submission is not valid', v_errors);
    END IF;
    v_final_errors := CASE
        WHEN v_submit THEN '[]'
        ELSE pliers.validate_submission_data(v_form.definition, v_data, TRUE, '{}')
    END;

    PERFORM pliers._check_quota('max_submissions_per_month', 1);

    LOOP
        -- ON CONFLICT DO NOTHING, no arbiter: a concurrent creator of the same external id
        -- (or a number already taken by a row inserted without the API) makes this a no-op.
        -- Created and submitted in one call: two changes (created, submitted), so revision 2.
        INSERT INTO pliers.submissions (
            organization_id, form_id, submission_number, external_id, status, data, is_valid,
            validation_errors, submitted_by, submitted_at, expires_at, source, ip_address, user_agent, referrer,
            metadata, tags, revision
        ) VALUES (
            v_org, v_form.id, pliers._next_submission_number(), p_external_id,
            CASE WHEN v_submit THEN 'submitted' ELSE 'draft' END::pliers.submission_status,
            v_data, v_final_errors = '[]', v_final_errors, v_user,
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
    PERFORM pliers._count_usage('submissions', 1);

    v_event := pliers._append_event(
        'submission', v_submission.id, 1, 'submission.created',
        pliers._submission_created_payload(v_submission, v_form)
    );
    IF v_submit THEN
        PERFORM pliers._append_event(
            'submission', v_submission.id, 2, 'submission.submitted',
            pliers._submission_submitted_payload(v_submission), v_event
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

-- sql/55-submissions-api.sql
CREATE OR REPLACE FUNCTION pliers.restore_submission(p_submission_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
BEGIN
    IF EXISTS (
        SELECT FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.id = p_submission_id AND s.deleted_at IS NULL
            AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), pliers.current_user_id())
    ) THEN
        RAISE EXCEPTION 'submission % is not deleted', p_submission_id
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'submission', 'id', p_submission_id, 'from', 'live', 'to', 'live'
                )::text;
    END IF;
    v_submission := pliers._lock_submission(p_submission_id, TRUE);
    PERFORM pliers._require_submission_permission('submission.delete', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);

    UPDATE pliers.submissions AS s
    SET deleted_at = NULL, deleted_by = NULL
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.restored', '{}'::jsonb
    );
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.restore_submission(uuid, integer) IS
'Restores a soft-deleted submission. PL004 (DETAIL {from: live, to: live}) when it is not deleted, PL002 when '
'unknown. Permission submission.delete on the form (or one''s own draft). PL003 (stale p_expected_revision, when '
'given), PL006, PL008. Appends submission.restored.';

-- sql/55-submissions-api.sql
CREATE OR REPLACE FUNCTION pliers.export_submissions(p_slug text, p_include_drafts boolean DEFAULT FALSE)
RETURNS SETOF text[]
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_permissions constant text[] := pliers.current_permissions();
    v_user constant uuid := pliers.current_user_id();
    v_paths text[];
    v_versions uuid[];
BEGIN
    SELECT pg_catalog.array_agg(c.path ORDER BY c.ordinal) INTO v_paths
    FROM pliers.export_columns(p_slug) AS c
    WHERE c.path IS NOT NULL;
    SELECT pg_catalog.array_agg(f.id) INTO v_versions
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL AND f.published_at IS NOT NULL;

    RETURN QUERY
    SELECT
        ARRAY[
            s.submission_number::text,
            s.id::text,
            f.version::text,
            s.status::text,
            pg_catalog.to_char(pg_catalog.timezone('UTC', s.created_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            pg_catalog.to_char(pg_catalog.timezone('UTC', s.submitted_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            pg_catalog.to_char(pg_catalog.timezone('UTC', s.updated_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            pg_catalog.to_char(pg_catalog.timezone('UTC', s.completed_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            s.submitted_by::text,
            s.assigned_to::text,
            s.assigned_team_id::text,
            s.external_id::text
        ]
        || ARRAY(
            SELECT CASE pg_catalog.jsonb_typeof(v.value)
                WHEN 'string' THEN v.value #>> '{}'
                WHEN 'null' THEN NULL
                ELSE v.value::text
            END
            FROM pg_catalog.unnest(coalesce(v_paths, '{}')) WITH ORDINALITY AS p (path, n)
            CROSS JOIN LATERAL (SELECT s.data #> pg_catalog.string_to_array(p.path, '.') AS value) AS v
            ORDER BY p.n
        )
    FROM pliers.submissions AS s
    INNER JOIN pliers.forms AS f ON s.organization_id = f.organization_id AND s.form_id = f.id
    WHERE
        s.organization_id = v_org
        AND f.organization_id = v_org
        AND s.form_id = ANY(v_versions)
        AND s.deleted_at IS NULL
        AND (coalesce(p_include_drafts, FALSE) OR s.status <> 'draft')
        AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user)
    ORDER BY s.created_at, s.id;
END
$$;

COMMENT ON FUNCTION pliers.export_submissions(text, boolean) IS
'The rows of the export of form p_slug across its versions: one text array per live submission the caller may '
'see, oldest first, aligned with pliers.export_columns(p_slug) (meta columns, then answers: strings as is, '
'numbers and booleans as text, arrays and objects, repeats included, as JSON; times in UTC ISO 8601). Drafts only '
'with p_include_drafts. Stream it with COPY (pliers.export_query builds the statement). PL002, PL008.';

-- sql/57-submission-import.sql
CREATE OR REPLACE FUNCTION pliers.import_submissions(p_form_id uuid, p_rows pliers.submission_import[])
RETURNS TABLE (row_index integer, id uuid, submission_number text, external_id text, created boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user constant uuid := pliers.current_user_id();
    v_now constant timestamptz := pg_catalog.now();
    v_ip inet;
    v_agent text;
    v_form pliers.forms;
    v_total integer;
    v_errors jsonb := '[]';
    v_error_count bigint := 0;
    v_conflicts jsonb;
    v_skip boolean[];
    v_skip_rows integer[] := '{}';
    v_skip_ids uuid[];
    v_skip_numbers text[];
    v_skip_external_ids text[];
    v_rows pliers.submission_import[];
    v_created pliers.submissions[];
    v_event uuid;
    v_ords integer[];
    v_count integer;
    v_last timestamptz;
    v_constraint text;
    v_key text;
BEGIN
    SELECT r.ip_address, r.user_agent INTO v_ip, v_agent FROM pliers.current_request() AS r;
    v_form := pliers._get_form(p_form_id);
    IF p_rows IS NULL THEN
        PERFORM pliers._raise_invalid(
            'rows is required',
            pg_catalog.jsonb_build_array(pliers._form_error('rows', 'required', 'the rows are required'))
        );
    END IF;
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);
    v_total := coalesce(pg_catalog.cardinality(p_rows), 0);

    -- External ids. Duplicates inside the batch are errors (PL001, with those below); an
    -- id of another form's submission is PL003 (as in create_submission); a row whose id
    -- exists for this form is skipped and returned with that submission (a retry).
    IF EXISTS (SELECT FROM pg_catalog.unnest(p_rows) AS r WHERE r.external_id IS NOT NULL) THEN
        SELECT
            coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'row', d.ord, 'path', 'external_id', 'code', 'duplicate',
                'message', pg_catalog.format('external id %s is also on row %s', pg_catalog.to_json(d.external_id), d.first)
            ) ORDER BY d.ord), '[]'),
            pg_catalog.count(*)
        INTO v_errors, v_error_count
        FROM (
            SELECT r.ord, r.external_id, pg_catalog.min(r.ord) OVER (PARTITION BY r.external_id) AS first
            FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
                data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
            )
            WHERE r.external_id IS NOT NULL
        ) AS d
        WHERE d.ord <> d.first;

        SELECT
            pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'row', r.ord, 'external_id', r.external_id, 'id', s.id, 'form_id', s.form_id
            ) ORDER BY r.ord) FILTER (WHERE s.form_id <> v_form.id),
            coalesce(pg_catalog.array_agg(r.ord::integer ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id), '{}'),
            pg_catalog.array_agg(s.id ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id),
            pg_catalog.array_agg(s.submission_number ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id),
            pg_catalog.array_agg(s.external_id ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id)
        INTO v_conflicts, v_skip_rows, v_skip_ids, v_skip_numbers, v_skip_external_ids
        FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
            data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
        )
        INNER JOIN pliers.submissions AS s ON s.organization_id = v_org AND s.external_id = r.external_id
        WHERE r.external_id IS NOT NULL
            AND pliers.submission_visible(
                s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), v_user
            );
        IF v_conflicts IS NOT NULL THEN
            RAISE EXCEPTION 'external id % belongs to a submission of another form', v_conflicts -> 0 ->> 'external_id'
                USING
                    ERRCODE = 'PL003',
                    DETAIL = (
                        pg_catalog.jsonb_build_object('object', 'submission')
                        || (v_conflicts -> 0)
                        || pg_catalog.jsonb_build_object(
                            'conflicts', pg_catalog.jsonb_path_query_array(v_conflicts, '$[0 to 99]'),
                            'conflict_count', pg_catalog.jsonb_array_length(v_conflicts)
                        )
                    )::text,
                    HINT = 'An external id names one submission of the organization, of one form.';
        END IF;
        IF v_skip_rows <> '{}' THEN
            -- One flag per row, looked up by index below (an expanded array: O(1)).
            v_skip := pg_catalog.array_fill(FALSE, ARRAY[v_total]);
            FOR v_i IN 1 .. pg_catalog.cardinality(v_skip_rows) LOOP
                v_skip[v_skip_rows[v_i]] := TRUE;
            END LOOP;
        END IF;
    END IF;

    IF v_total > pg_catalog.cardinality(v_skip_rows) THEN
        PERFORM pliers._require_accepting(v_form);
    END IF;

    -- Every row not skipped: checked, and its answers validated and cleaned in one pass
    -- over the definition (_check_submission_data, as create_submission), its defaults
    -- filled in. The valid rows are kept for the insert, in row order (unnest and the
    -- nested loops keep the array's order: no sort of the wide rows).
    SELECT
        v_errors || coalesce(pg_catalog.jsonb_agg(e.error ORDER BY c.ord, e.n) FILTER (WHERE e.n IS NOT NULL), '[]'),
        v_error_count + pg_catalog.count(e.n),
        pg_catalog.array_agg(c.checked) FILTER (WHERE e.n IS NULL),
        pg_catalog.array_agg(c.ord) FILTER (WHERE e.n IS NULL),
        pg_catalog.max((c.checked).created_at) FILTER (WHERE e.n IS NULL)
    INTO v_errors, v_error_count, v_rows, v_ords, v_last
    FROM (
        SELECT
            r.ord::integer AS ord,
            pliers._check_import_row(
                r.status, r.external_id, r.metadata, r.tags, r.source, r.created_at, r.submitted_at, v_now
            ) || p.errors AS errors,
            ROW(
                p.cleaned, coalesce(r.status, 'submitted'), r.external_id, coalesce(r.metadata, '{}'),
                coalesce(r.tags, '{}'), coalesce(r.source, 'import'),
                coalesce(r.created_at, r.submitted_at, v_now),
                CASE WHEN r.status IS DISTINCT FROM 'draft' THEN coalesce(r.submitted_at, r.created_at, v_now) END
            )::pliers.submission_import AS checked
        FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
            data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
        )
        CROSS JOIN LATERAL pliers._check_submission_data(
            v_form.definition, coalesce(r.data, '{}'), r.status IS DISTINCT FROM 'draft', '{}'
        ) AS p
        WHERE v_skip IS NULL OR NOT v_skip[r.ord]
    ) AS c
    LEFT JOIN LATERAL pg_catalog.jsonb_array_elements(c.errors) WITH ORDINALITY AS x (error, n) ON TRUE
    CROSS JOIN LATERAL (SELECT x.n, x.error || pg_catalog.jsonb_build_object('row', c.ord) AS error) AS e;
    IF v_error_count > 0 THEN
        -- The first 100 in row order, and how many there are.
        SELECT pg_catalog.jsonb_agg(x.error ORDER BY (x.error ->> 'row')::integer, x.n)
        INTO v_errors
        FROM (
            SELECT x.error, x.n
            FROM pg_catalog.jsonb_array_elements(v_errors) WITH ORDINALITY AS x (error, n)
            ORDER BY (x.error ->> 'row')::integer, x.n
            LIMIT 100
        ) AS x;
        PERFORM pliers._raise_invalid(
            pg_catalog.format('%s errors in the rows: nothing was imported', v_error_count),
            v_errors,
            pg_catalog.jsonb_build_object('error_count', v_error_count, 'row_count', v_total)
        );
    END IF;

    RETURN QUERY
    SELECT k.row_index, k.id, k.submission_number, k.external_id, FALSE
    FROM ROWS FROM (
        pg_catalog.unnest(v_skip_rows), pg_catalog.unnest(v_skip_ids), pg_catalog.unnest(v_skip_numbers),
        pg_catalog.unnest(v_skip_external_ids)
    ) AS k (row_index, id, submission_number, external_id);

    v_count := coalesce(pg_catalog.cardinality(v_rows), 0);
    IF v_count = 0 THEN
        RETURN;
    END IF;
    PERFORM pliers._check_quota('max_submissions_per_month', v_count);

    BEGIN
        -- Numbered in row order: v_rows is scanned in array order, and each number is drawn
        -- as its row is inserted. Created submitted: two changes, so revision 2.
        WITH ins AS (
            INSERT INTO pliers.submissions (
                organization_id, form_id, submission_number, external_id, status, data, is_valid,
                validation_errors, submitted_by, created_at, submitted_at, source, ip_address, user_agent,
                metadata, tags, revision
            )
            SELECT
                v_org, v_form.id, pliers._next_submission_number(), r.external_id, r.status, r.data,
                f.errors = '[]', f.errors, v_user, r.created_at, r.submitted_at, r.source, v_ip, v_agent,
                r.metadata, r.tags, CASE WHEN r.status = 'draft' THEN 1 ELSE 2 END
            FROM pg_catalog.unnest(v_rows) AS r
            CROSS JOIN LATERAL (
                -- A draft records whether it could be submitted as it is (create_submission).
                SELECT CASE
                    WHEN r.status = 'draft' THEN pliers.validate_submission_data(v_form.definition, r.data, TRUE, '{}')
                    ELSE '[]'::jsonb
                END AS errors
            ) AS f
            RETURNING *
        )
        -- RETURNING gives the rows in insert order: v_created[k] is row v_ords[k].
        SELECT pg_catalog.array_agg(i::pliers.submissions) INTO v_created FROM ins AS i;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent import or create_submission took an external id of these rows (or a
        -- number was taken without the API): nothing is written; a retry skips the rows
        -- that exist then.
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME, v_key = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'the import conflicts with an existing submission (%)', v_constraint
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'submission', 'constraint', v_constraint, 'key', v_key
                )::text,
                HINT = 'Retry the import: rows whose external id exists for this form are skipped.';
    END;

    -- Events, as create_submission appends them. The first by pliers._append_event; the
    -- others in one INSERT that copies its context columns (organization, correlation,
    -- user, session, address, user agent: one transaction, one context), so that the
    -- context is read in one place only and the partitioned table is entered once.
    v_event := pliers._append_event(
        'submission', (v_created[1]).id, 1, 'submission.created',
        pliers._submission_created_payload(v_created[1], v_form)
    );
    INSERT INTO pliers.events (
        id, organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
        correlation_id, causation_id, user_id, session_id, ip_address, user_agent
    )
    SELECT
        e.id, t.organization_id, e.event_type, 'submission', (c.s).id, e.version, e.payload,
        t.correlation_id, e.causation_id, t.user_id, t.session_id, t.ip_address, t.user_agent
    FROM pliers.events AS t
    CROSS JOIN (
        SELECT u AS s, pg_catalog.row_number() OVER () AS i FROM pg_catalog.unnest(v_created) AS u
    ) AS c
    CROSS JOIN LATERAL (
        SELECT CASE WHEN c.i = 1 THEN v_event ELSE pg_catalog.gen_random_uuid() END AS id
    ) AS k
    CROSS JOIN LATERAL (
        VALUES
        (
            1, k.id, 'submission.created', pliers._submission_created_payload(c.s, v_form), NULL::uuid
        ),
        (
            2, pg_catalog.gen_random_uuid(), 'submission.submitted',
            pliers._submission_submitted_payload(c.s), k.id
        )
    ) AS e (version, id, event_type, payload, causation_id)
    WHERE
        t.organization_id = v_org AND t.id = v_event AND t.event_timestamp = v_now
        AND ((e.version = 1 AND c.i > 1) OR (e.version = 2 AND (c.s).status = 'submitted'));

    RETURN QUERY
    SELECT v_ords[c.i], (c.s).id, (c.s).submission_number::text, (c.s).external_id::text, TRUE
    FROM (
        SELECT u AS s, pg_catalog.row_number() OVER () AS i FROM pg_catalog.unnest(v_created) AS u
    ) AS c;

    INSERT INTO pliers.form_counters AS c (organization_id, form_id, slot, submission_count, last_submission_at)
    VALUES (v_org, v_form.id, pliers._counter_slot(), v_count, v_last)
    ON CONFLICT (organization_id, form_id, slot) DO UPDATE
    SET
        submission_count = c.submission_count + excluded.submission_count,
        last_submission_at = greatest(c.last_submission_at, excluded.last_submission_at);
    PERFORM pliers._count_usage('submissions', v_count);
END
$$;

COMMENT ON FUNCTION pliers.import_submissions(uuid, pliers.submission_import[]) IS
'Bulk import: creates one submission per element of p_rows (pliers.submission_import; its index, from 1, is the '
'row) to form version p_form_id, all or nothing. The rules of create_submission: permission submission.create on '
'the form, the form published or deprecated (PL001 form_not_published), every row''s answers validated against '
'the pinned version (final for submitted rows, as a draft for drafts) and stored cleaned, numbered in row order, '
'one quota check for the batch (PL007), the counters once, the events of create_submission per row '
'(submission.created, and submission.submitted for a submitted row). PL001 when any row is invalid: DETAIL '
'{errors: the first 100 [{row, path, code, message}] in row order, error_count, row_count}; duplicate external ids '
'in the batch are errors (code duplicate). A row whose external id exists for this form is skipped (idempotent '
'retries); an external id of another form''s submission is PL003 (DETAIL {object, row, external_id, id, form_id, '
'conflicts: the first 100, conflict_count}), and so is a clash with a submission created concurrently (DETAIL '
'{object, constraint, key}: retry). Returns one row per row of p_rows: its row_index, the submission id, number '
'and external id, and created (false: skipped). PL002, PL006, PL008; p_rows NULL: PL001 (path rows).';

-- sql/72-audit.sql
CREATE OR REPLACE VIEW pliers.audit_settings
WITH (security_invoker = TRUE) AS
SELECT
    t.tgrelid::regclass AS table_name,
    t.tgenabled <> 'D' AS enabled,
    coalesce(a.args[1], '{}')::text[] AS excluded_columns,
    coalesce(a.args[2], '{}')::text[] AS ignored_columns,
    (
        SELECT coalesce(pg_catalog.array_agg(c.attname::text ORDER BY c.attnum), '{}')
        FROM pg_catalog.pg_attribute AS c
        WHERE
            c.attrelid = t.tgrelid AND c.attnum > 0 AND NOT c.attisdropped
            AND pliers.is_audit_secret(c.attname::text)
    ) AS secret_columns,
    t.tgqual IS NOT NULL AS api_writes_in_events
FROM pg_catalog.pg_trigger AS t
CROSS JOIN
    LATERAL (
        SELECT (pg_catalog.string_to_array(pg_catalog.encode(t.tgargs, 'escape'), '\000'))[1:t.tgnargs] AS args
    ) AS a
WHERE t.tgfoid = 'pliers._audit()'::regprocedure AND t.tgparentid = 0;

COMMENT ON VIEW pliers.audit_settings IS
'One row per audited table (a <table>_audit trigger exists): whether the trigger is enabled, the columns never '
'recorded for it (excluded_columns, plus secret_columns, always excluded) and the columns whose change alone records '
'nothing (ignored_columns, plus updated_at and revision), and whether the writes of the API are left to the event '
'log (api_writes_in_events: forms and submissions). Change them with pliers.enable_audit / pliers.disable_audit.';

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
    v_events := v_table.relname IN ('forms', 'submissions');

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
    -- bench/RESULTS.md), so only the writes made outside the API are audited.
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
'updated_at and revision) records nothing. NULL keeps the current list. On pliers.forms and pliers.submissions, whose '
'API writes are recorded as events, the trigger records only writes made by other roles than pliers_owner (the API). '
'Idempotent: returns false when the trigger '
'already has these settings, true when it was created or changed. p_table must be a table of schema pliers with an '
'organization_id column, or pliers.organizations, not events or audit_logs (else PL009). Owner/DBA only.';

-- sql/89-audit-tables.sql: the API's writes to forms and submissions are left to their events.
SELECT pliers.enable_audit('pliers.forms');

SELECT pliers.enable_audit('pliers.submissions');

-- sql/70-history.sql: indexes that no query of the API reads (bench/RESULTS.md, issue 13).
-- An index of a partitioned table cannot be dropped CONCURRENTLY; the drop is a catalog
-- change (no scan) under each partition's lock, bounded by lock_timeout.
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.events_org_event_type_timestamp_idx;

-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.events_org_user_timestamp_idx;

-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.events_event_timestamp_brin_idx;

-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.audit_logs_created_at_brin_idx;

RESET ROLE;
