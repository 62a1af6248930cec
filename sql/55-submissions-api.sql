-- The submission API: create, edit, submit, move through statuses, assign, delete and
-- restore submissions, attach files, list them with keyset paging, export them; and
-- the organization quotas (docs/api.md).
--
-- Conventions as in sql/45-forms-api.sql: PL008 without a tenant context, PL002 for
-- ids that are unknown, deleted or hidden by row-level security, PL006 without the
-- permission, PL003 for a stale expected revision, PL001 with every validation error
-- at once, PL004 for a status move that is not allowed, PL005 for a submission that
-- is no longer a draft, PL007 for a quota; nothing is written when a call fails. Every
-- change appends its events (aggregate_type submission, aggregate_version = the row's
-- revision after the change). SECURITY DEFINER for the same reason as the form API:
-- private helpers. Row-level security does not bind pliers_owner: every query names the
-- tenant, and reads of submissions apply pliers.submission_visible, the policy's rule.
--
-- Hot path (create_submission): no UPDATE of the forms row. The form's counters are
-- an upsert into one of 16 slots of pliers.form_counters, the month's usage one into
-- pliers.usage_counters; the number comes from a sequence. Two concurrent submissions
-- to one form wait on each other only if their transactions share a slot (their
-- transaction ids are equal modulo 16), and then only for that upsert's row.

-- ---------------------------------------------------------------------------
-- Counters and quotas
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._counter_slot()
RETURNS smallint
LANGUAGE sql
VOLATILE
AS $$
    SELECT (pg_catalog.pg_current_xact_id()::text::bigint % 16)::smallint
$$;

COMMENT ON FUNCTION pliers._counter_slot() IS
'Private: the counter slot (0..15) of the current transaction, its transaction id modulo 16. Concurrent '
'transactions mostly get different slots (consecutive ids); one transaction always gets the same slot, so a '
'transaction that creates many submissions locks one row per counter and two such transactions cannot deadlock '
'on counters by taking slots in opposite orders.';

CREATE FUNCTION pliers._count_usage(p_organization_id uuid, p_metric text, p_delta bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    INSERT INTO pliers.usage_counters AS u (organization_id, metric, period_start, slot, value)
    VALUES (
        p_organization_id,
        p_metric,
        CASE
            WHEN p_metric = 'submissions' THEN
                pg_catalog.date_trunc('month', pg_catalog.timezone('UTC', pg_catalog.now()))::date
            ELSE '-infinity'::date
        END,
        pliers._counter_slot(),
        p_delta
    )
    ON CONFLICT (organization_id, metric, period_start, slot)
    DO UPDATE SET value = u.value + excluded.value;
END
$$;

COMMENT ON FUNCTION pliers._count_usage(uuid, text, bigint) IS
'Private: adds p_delta to the usage counter p_metric of tenant p_organization_id (submissions: the current UTC month; '
'attachment_bytes: the running total), in the slot of the current transaction.';

CREATE FUNCTION pliers._check_quota(p_limit text, p_adding bigint, p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_limits jsonb;
    v_value numeric;
    v_current numeric;
BEGIN
    IF p_limit IS NULL
        OR p_limit NOT IN ('max_forms', 'max_submissions_per_month', 'max_users', 'max_attachment_bytes') THEN
        RAISE EXCEPTION 'unknown limit %', p_limit
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_limit', 'value', p_limit)::text;
    END IF;

    SELECT o.limits INTO v_limits FROM pliers.organizations AS o WHERE o.id = v_org;
    IF pg_catalog.jsonb_typeof(v_limits -> p_limit) IS DISTINCT FROM 'number' THEN
        RETURN;  -- no limit set (or not a number): unlimited
    END IF;
    v_value := (v_limits ->> p_limit)::numeric;

    CASE p_limit
        WHEN 'max_forms' THEN
            -- Forms are created rarely: serialise their creators per tenant and count exactly
            -- (at most max_forms rows, through the partial unique index of latest versions).
            PERFORM pg_catalog.pg_advisory_xact_lock(
                pg_catalog.hashtextextended('pliers.quota.max_forms:' || v_org::text, 0)
            );
            SELECT pg_catalog.count(*) INTO v_current
            FROM pliers.forms AS f
            WHERE f.organization_id = v_org AND f.is_latest AND f.deleted_at IS NULL AND f.status <> 'archived';
        WHEN 'max_users' THEN
            PERFORM pg_catalog.pg_advisory_xact_lock(
                pg_catalog.hashtextextended('pliers.quota.max_users:' || v_org::text, 0)
            );
            SELECT pg_catalog.count(*) INTO v_current
            FROM pliers.users AS u
            WHERE u.organization_id = v_org AND u.deleted_at IS NULL;
        WHEN 'max_submissions_per_month' THEN
            SELECT coalesce(pg_catalog.sum(u.value), 0) INTO v_current
            FROM pliers.usage_counters AS u
            WHERE
                u.organization_id = v_org
                AND u.metric = 'submissions'
                AND u.period_start = pg_catalog.date_trunc('month', pg_catalog.timezone('UTC', pg_catalog.now()))::date;
        ELSE  -- max_attachment_bytes
            SELECT coalesce(pg_catalog.sum(u.value), 0) INTO v_current
            FROM pliers.usage_counters AS u
            WHERE u.organization_id = v_org AND u.metric = 'attachment_bytes' AND u.period_start = '-infinity';
    END CASE;

    IF v_current + coalesce(p_adding, 0) > v_value THEN
        RAISE EXCEPTION 'quota % exceeded (limit %, current %, adding %)', p_limit, v_value, v_current, p_adding
            USING
                ERRCODE = 'PL007',
                DETAIL = pg_catalog.jsonb_build_object(
                    'limit', p_limit, 'value', v_value, 'current', v_current, 'adding', p_adding
                )::text,
                HINT = 'The limits of an organization are in organizations.limits.';
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._check_quota(text, bigint, uuid) IS
'Private, for the API: raises PL007 (QuotaExceeded, DETAIL {limit, value, current, adding}) when adding p_adding '
'to the usage of tenant p_organization_id (the caller''s, from pliers._require_context) would pass organizations.limits ->> p_limit; a limit that is absent or not a JSON '
'number means unlimited. p_limit: max_forms (live forms whose latest version is not archived; creators serialised '
'per tenant, exact), max_users (users not deleted; serialised, exact; for a user-invitation API), '
'max_submissions_per_month (submissions created in the current UTC month) and max_attachment_bytes (bytes of live '
'attachments), both summed over the slots of pliers.usage_counters: at most 16 rows read, no lock, so concurrent '
'transactions may overshoot the limit by the few that were in flight together. Another p_limit: PL009.';

-- ---------------------------------------------------------------------------
-- Submission numbers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._next_submission_number(p_organization_id uuid)
RETURNS text
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := p_organization_id;
    v_name constant text := 'submission_number_' || pg_catalog.replace(v_org::text, '-', '');
    v_sequence regclass;
    v_start bigint;
    v_number bigint;
BEGIN
    v_sequence := pg_catalog.to_regclass('pliers.' || v_name);
    IF v_sequence IS NULL THEN
        -- First submission of the tenant: make its sequence, once (concurrent first
        -- submitters wait here, then find it; the catalog is read with a fresh snapshot).
        PERFORM pg_catalog.pg_advisory_xact_lock(
            pg_catalog.hashtextextended('pliers.submission_number:' || v_org::text, 0)
        );
        SELECT c.oid::regclass INTO v_sequence
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'pliers'::regnamespace AND c.relname = v_name AND c.relkind = 'S';
        IF v_sequence IS NULL THEN
            -- Continue after numbers that exist already (rows inserted without the API).
            SELECT coalesce(pg_catalog.max(pg_catalog.substring(s.submission_number, '^S-([0-9]{1,18})$')::bigint), 0) + 1
            INTO v_start
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org;
            EXECUTE pg_catalog.format(
                'CREATE SEQUENCE pliers.%I AS bigint START WITH %s MINVALUE 1 NO CYCLE CACHE 1', v_name, v_start
            );
            EXECUTE pg_catalog.format(
                'COMMENT ON SEQUENCE pliers.%I IS %L', v_name,
                'Submission numbers of organization ' || v_org::text
                || ' (pliers._next_submission_number). Never reset: numbers are not reused.'
            );
            v_sequence := pg_catalog.to_regclass('pliers.' || v_name);
        END IF;
    END IF;
    v_number := pg_catalog.nextval(v_sequence);
    RETURN 'S-' || pg_catalog.lpad(v_number::text, greatest(6, pg_catalog.length(v_number::text)), '0');
END
$$;

COMMENT ON FUNCTION pliers._next_submission_number(uuid) IS
'Private: the next submission number of tenant p_organization_id, S-000001, S-000002, ... (six digits at least, more '
'past S-999999). Each organization has its own sequence pliers.submission_number_<organization id without '
'hyphens>, created at its first submission (under an advisory lock, starting after any S-number already stored). '
'No hot row: nextval never waits for another transaction to commit. Gaps: a number drawn by a transaction that '
'rolls back (an error later in the call or in the caller''s transaction, an idempotent retry that lost the race) '
'is not given again, and after a server crash a sequence skips up to 32 numbers; numbers follow the order in which '
'they were drawn, not commit order. The sequences are not dropped by the migration rollback, so numbers are never '
'reused.';

-- ---------------------------------------------------------------------------
-- Submission helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.submission_status_moves()
RETURNS TABLE (from_status pliers.submission_status, to_status pliers.submission_status)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT m.from_status::pliers.submission_status, m.to_status::pliers.submission_status
    FROM (
        VALUES
        ('draft', 'submitted'),
        ('draft', 'archived'),
        ('submitted', 'processing'),
        ('submitted', 'approved'),
        ('submitted', 'rejected'),
        ('submitted', 'archived'),
        ('processing', 'submitted'),
        ('processing', 'approved'),
        ('processing', 'rejected'),
        ('processing', 'archived'),
        ('approved', 'completed'),
        ('approved', 'archived'),
        ('rejected', 'processing'),
        ('rejected', 'archived'),
        ('completed', 'archived')
    ) AS m (from_status, to_status)
$$;

COMMENT ON FUNCTION pliers.submission_status_moves() IS
'The status moves a submission may make (set_submission_status; draft -> submitted is submit_submission): '
'draft -> submitted, archived; submitted -> processing, approved, rejected, archived; processing -> submitted, '
'approved, rejected, archived; approved -> completed, archived; rejected -> processing, archived; completed -> '
'archived; archived is final. Any other move raises PL004 (DETAIL {from, to}).';

-- STABLE, not IMMUTABLE: jsonb_build_object and to_jsonb are STABLE, and an SQL
-- function declared more strictly than its body is never inlined (before PostgreSQL 18
-- it was then planned again on every call: 110 us per submission, bench/RESULTS.md).
CREATE FUNCTION pliers._submission_payload(p_submission pliers.submissions, p_form pliers.forms)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'form_id', p_submission.form_id,
        'form_slug', p_form.slug,
        'form_version', p_form.version,
        'submission_number', p_submission.submission_number,
        'external_id', p_submission.external_id,
        'status', p_submission.status,
        'data', p_submission.data,
        'is_valid', p_submission.is_valid,
        'validation_errors', p_submission.validation_errors,
        'submitted_by', p_submission.submitted_by,
        'submitted_at', p_submission.submitted_at,
        'expires_at', p_submission.expires_at,
        'source', p_submission.source,
        'referrer', p_submission.referrer,
        'metadata', p_submission.metadata,
        'tags', pg_catalog.to_jsonb(p_submission.tags),
        'created_at', p_submission.created_at
    )
$$;

COMMENT ON FUNCTION pliers._submission_payload(pliers.submissions, pliers.forms) IS
'Private: the business fields of a submission (and its form''s slug and version), the payload of '
'submission.created. ip_address and user_agent are on the event row itself.';

-- The two events of a new submission, for create_submission, submit_submission and
-- import_submissions (sql/57): submission.created holds the row as the draft it was
-- created as, submission.submitted the move. Time travel (sql/76) reads these shapes.
CREATE FUNCTION pliers._submission_created_payload(p_submission pliers.submissions, p_form pliers.forms)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pliers._submission_payload(p_submission, p_form)
        || pg_catalog.jsonb_build_object('status', 'draft', 'submitted_at', NULL)
$$;

COMMENT ON FUNCTION pliers._submission_created_payload(pliers.submissions, pliers.forms) IS
'Private: the payload of submission.created: _submission_payload as a draft (status draft, submitted_at NULL), '
'also for a submission created and submitted in one call.';

CREATE FUNCTION pliers._submission_submitted_payload(p_submission pliers.submissions)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'from', 'draft', 'to', 'submitted', 'submitted_at', p_submission.submitted_at,
        'is_valid', p_submission.is_valid, 'validation_errors', p_submission.validation_errors
    )
$$;

COMMENT ON FUNCTION pliers._submission_submitted_payload(pliers.submissions) IS
'Private: the payload of submission.submitted ({from, to, submitted_at, is_valid, validation_errors}) for the '
'submitted row p_submission.';

CREATE FUNCTION pliers._lock_submission(p_submission_id uuid, p_deleted boolean DEFAULT FALSE)
RETURNS pliers.submissions
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    -- The tenant as a value: the planner routes it (one shard on Citus).
    v_organization_id constant uuid := pliers.current_organization_id();
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
        s.organization_id = v_organization_id
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

CREATE FUNCTION pliers._require_submission_permission(p_permission text, p_submission pliers.submissions)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
BEGIN
    IF pliers.has_permission(p_permission, 'form', p_submission.form_id) THEN
        RETURN;
    END IF;
    -- Team members process the submissions assigned to their team.
    IF p_permission = 'submission.update' AND p_submission.assigned_team_id IS NOT NULL
        AND pliers.has_permission(p_permission, 'team', p_submission.assigned_team_id) THEN
        RETURN;
    END IF;
    -- A submitter edits, deletes and restores their own drafts.
    IF p_submission.status = 'draft'
        AND p_submission.submitted_by = pliers.current_user_id()
        AND p_permission IN ('submission.update', 'submission.delete')
        AND pliers.has_permission('submission.create', 'form', p_submission.form_id) THEN
        RETURN;
    END IF;
    PERFORM pliers._require_permission(p_permission, 'form', p_submission.form_id);
END
$$;

COMMENT ON FUNCTION pliers._require_submission_permission(text, pliers.submissions) IS
'Private: raises PL006 unless the current user may do p_permission on the submission: p_permission on its form '
'(organization-wide, form role, collaborator); for submission.update also on its assigned team; and for '
'submission.update / submission.delete on one''s own draft, submission.create on the form.';

CREATE FUNCTION pliers._get_form(p_organization_id uuid, p_form_id uuid)
RETURNS pliers.forms
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_form pliers.forms;
BEGIN
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'form_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('form_id', 'required', 'the form id is required'))
        );
    END IF;
    SELECT f.* INTO v_form
    FROM pliers.forms AS f
    WHERE f.organization_id = p_organization_id AND f.id = p_form_id AND f.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers._get_form(uuid, uuid) IS
'Private: the live form version p_form_id of tenant p_organization_id (PL001 when NULL, PL002 when not found).';

CREATE FUNCTION pliers._require_accepting(p_form pliers.forms)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF p_form.status NOT IN ('published', 'deprecated') THEN
        PERFORM pliers._raise_invalid(
            'the form version does not accept submissions',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'form_id', 'form_not_published',
                pg_catalog.format('form %s version %s is %s: only published and deprecated versions accept submissions',
                    p_form.slug, p_form.version, p_form.status)
            ))
        );
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_accepting(pliers.forms) IS
'Private: PL001 (code form_not_published, path form_id) unless the form version is published or deprecated.';

CREATE FUNCTION pliers._submission_attachments(p_submission_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
BEGIN
    RETURN (
        SELECT coalesce(pg_catalog.jsonb_object_agg(
            a.id::text,
            pg_catalog.jsonb_build_object('mime_type', a.mime_type, 'file_size_bytes', a.file_size_bytes)
        ), '{}')
        FROM pliers.attachments AS a
        WHERE
            a.organization_id = v_organization_id
            AND a.submission_id = p_submission_id
            AND a.deleted_at IS NULL
    );
END
$$;

COMMENT ON FUNCTION pliers._submission_attachments(uuid) IS
'Private: the live attachments of a submission as {"<id>": {mime_type, file_size_bytes}}, the p_attachments '
'argument of pliers.validate_submission_data (file answers must name them; accept and maxSizeBytes are checked).';

CREATE FUNCTION pliers._check_submission_attributes(
    p_metadata jsonb,
    p_tags text[],
    p_source text,
    p_external_id text
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_metadata IS NOT NULL AND pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    END IF;
    v_errors := v_errors || pliers._check_text_array('tags', p_tags, 100, 255);
    IF p_source IS NOT NULL AND (pg_catalog.btrim(p_source) = '' OR pg_catalog.length(p_source) > 50) THEN
        v_errors := v_errors || pliers._form_error('source', 'invalid', 'the source is 1 to 50 characters');
    END IF;
    IF p_external_id IS NOT NULL AND (pg_catalog.btrim(p_external_id) = '' OR pg_catalog.length(p_external_id) > 255) THEN
        v_errors := v_errors || pliers._form_error('external_id', 'invalid', 'the external id is 1 to 255 characters');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_submission_attributes(jsonb, text[], text, text) IS
'Private: argument errors ({path, code, message}) of a submission''s metadata, tags, source and external id.';

CREATE FUNCTION pliers._raise_not_draft(p_submission pliers.submissions, p_columns text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'submission % is % and its answers cannot change', p_submission.id, p_submission.status
        USING
            ERRCODE = 'PL005',
            DETAIL = pg_catalog.jsonb_build_object(
                'object', 'submission', 'id', p_submission.id, 'status', p_submission.status,
                'columns', pg_catalog.to_jsonb(p_columns)
            )::text,
            HINT = 'Only drafts are edited; a submitted submission moves on with set_submission_status.';
END
$$;

COMMENT ON FUNCTION pliers._raise_not_draft(pliers.submissions, text[]) IS
'Private: raises PL005 (Immutable) with DETAIL {object: submission, id, status, columns}.';

-- ---------------------------------------------------------------------------
-- Creating, editing, submitting
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_submission(
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

CREATE FUNCTION pliers.update_submission(
    p_submission_id uuid,
    p_expected_revision integer,
    p_data jsonb DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_expires_at timestamptz DEFAULT NULL
)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
    v_form pliers.forms;
    v_attachments jsonb;
    v_errors jsonb;
    v_data jsonb;
    v_final_errors jsonb;
    v_changes jsonb := '{}';
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        PERFORM pliers._raise_not_draft(v_submission, ARRAY['data']);
    END IF;

    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;
    v_attachments := pliers._submission_attachments(v_submission.id);
    v_errors := pliers._check_submission_attributes(p_metadata, p_tags, NULL, NULL);
    IF p_data IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_submission_data(v_form.definition, p_data, FALSE, v_attachments);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the submission is not valid', v_errors);
    END IF;
    v_data := CASE
        WHEN p_data IS NULL THEN v_submission.data
        ELSE pliers.clean_submission_data(v_form.definition, p_data)
    END;
    v_final_errors := pliers.validate_submission_data(v_form.definition, v_data, TRUE, v_attachments);

    IF v_data IS DISTINCT FROM v_submission.data THEN
        v_changes := v_changes || pg_catalog.jsonb_build_object('data', v_data);
    END IF;
    IF p_metadata IS NOT NULL AND p_metadata IS DISTINCT FROM v_submission.metadata THEN
        v_changes := v_changes || pg_catalog.jsonb_build_object('metadata', p_metadata);
    END IF;
    IF p_tags IS NOT NULL AND p_tags IS DISTINCT FROM v_submission.tags THEN
        v_changes := v_changes || pg_catalog.jsonb_build_object('tags', p_tags);
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at IS DISTINCT FROM v_submission.expires_at THEN
        v_changes := v_changes || pg_catalog.jsonb_build_object('expires_at', p_expires_at);
    END IF;
    IF v_changes = '{}' THEN
        RETURN v_submission;  -- nothing changes: no write, no event
    END IF;

    UPDATE pliers.submissions AS s
    SET
        updated_at = pg_catalog.now(),
        data = v_data,
        is_valid = v_final_errors = '[]',
        validation_errors = v_final_errors,
        metadata = coalesce(p_metadata, s.metadata),
        tags = coalesce(p_tags, s.tags),
        expires_at = coalesce(p_expires_at, s.expires_at)
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.updated',
        v_changes || pg_catalog.jsonb_build_object(
            'is_valid', v_submission.is_valid, 'validation_errors', v_submission.validation_errors
        )
    );
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.update_submission(uuid, integer, jsonb, jsonb, text[], timestamptz) IS
'Edits a draft submission: p_data replaces the answers (validated as a draft against the pinned form version, '
'stored cleaned; file answers must name live attachments of the submission), p_metadata, p_tags, p_expires_at '
'replace theirs; NULL leaves a column unchanged. is_valid / validation_errors say whether the draft could be '
'submitted as is. p_expected_revision is required (PL001 without it; PL003 when stale, nothing written). Not a '
'draft: PL005 (DETAIL {object, id, status, columns}). Permission submission.update on the form or the assigned '
'team, or one''s own draft with submission.create. PL001, PL002, PL006, PL008. Appends submission.updated '
'(payload: the changed fields, data being the new answers) unless nothing changes.';

CREATE FUNCTION pliers.submit_submission(p_submission_id uuid, p_expected_revision integer DEFAULT NULL)
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

CREATE FUNCTION pliers.set_submission_status(
    p_submission_id uuid,
    p_status pliers.submission_status,
    p_expected_revision integer DEFAULT NULL,
    p_reason text DEFAULT NULL
)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    -- A value: Citus allows no non-IMMUTABLE function inside a CASE of an UPDATE.
    v_now constant timestamptz := pg_catalog.now();
    v_submission pliers.submissions;
    v_from pliers.submission_status;
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    IF p_status IS NULL THEN
        PERFORM pliers._raise_invalid(
            'status is required',
            pg_catalog.jsonb_build_array(pliers._form_error('status', 'required', 'the new status is required'))
        );
    END IF;
    IF v_submission.status = 'draft' AND p_status = 'submitted' THEN
        RETURN pliers.submit_submission(p_submission_id, p_expected_revision);
    END IF;
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    v_from := v_submission.status;
    IF NOT EXISTS (
        SELECT FROM pliers.submission_status_moves() AS m WHERE m.from_status = v_from AND m.to_status = p_status
    ) THEN
        RAISE EXCEPTION 'submission % cannot go from % to %', v_submission.id, v_from, p_status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'submission', 'id', v_submission.id, 'from', v_from, 'to', p_status
                )::text,
                HINT = 'The allowed moves are listed by pliers.submission_status_moves().';
    END IF;

    UPDATE pliers.submissions AS s
    SET
        updated_at = pg_catalog.now(),
        status = p_status,
        completed_at = CASE WHEN p_status = 'completed' THEN v_now ELSE s.completed_at END
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.status_changed',
        pg_catalog.jsonb_build_object(
            'from', v_from, 'to', p_status, 'reason', p_reason, 'completed_at', v_submission.completed_at
        )
    );
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.set_submission_status(uuid, pliers.submission_status, integer, text) IS
'Moves a submission to p_status along pliers.submission_status_moves() (PL004, DETAIL {from, to}, otherwise; '
'draft -> submitted is delegated to submit_submission); completed sets completed_at. p_reason is recorded in the '
'event. Permission submission.update on the form or on the assigned team. PL001, PL002, PL003 (stale '
'p_expected_revision, when given), PL006, PL008. Appends submission.status_changed ({from, to, reason, '
'completed_at}).';

CREATE FUNCTION pliers.assign_submission(
    p_submission_id uuid,
    p_user_id uuid DEFAULT NULL,
    p_team_id uuid DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
    v_previous jsonb;
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF p_user_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM pliers.users AS u
        WHERE u.organization_id = v_org AND u.id = p_user_id AND u.deleted_at IS NULL AND u.status = 'active'
    ) THEN
        PERFORM pliers._raise_not_found('user', p_user_id);
    END IF;
    IF p_team_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM pliers.teams AS t
        WHERE t.organization_id = v_org AND t.id = p_team_id AND t.deleted_at IS NULL
    ) THEN
        PERFORM pliers._raise_not_found('team', p_team_id);
    END IF;
    IF v_submission.assigned_to IS NOT DISTINCT FROM p_user_id
        AND v_submission.assigned_team_id IS NOT DISTINCT FROM p_team_id THEN
        RETURN v_submission;  -- already so: no write, no event
    END IF;
    v_previous := pg_catalog.jsonb_build_object(
        'assigned_to', v_submission.assigned_to, 'assigned_team_id', v_submission.assigned_team_id
    );

    UPDATE pliers.submissions AS s
    SET updated_at = pg_catalog.now(), assigned_to = p_user_id, assigned_team_id = p_team_id
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.assigned',
        pg_catalog.jsonb_build_object(
            'assigned_to', p_user_id, 'assigned_team_id', p_team_id, 'previous', v_previous
        )
    );
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.assign_submission(uuid, uuid, uuid, integer) IS
'Assigns a submission to user p_user_id (an active user of the tenant) and/or team p_team_id (a live team); NULL '
'clears that assignment (both NULL: unassigned). PL002 for an unknown submission, user (DETAIL object user) or '
'team (object team). Permission submission.update on the form or the assigned team. PL003 (stale '
'p_expected_revision, when given), PL006, PL008. Appends submission.assigned ({assigned_to, assigned_team_id, '
'previous}) unless nothing changes.';

CREATE FUNCTION pliers.delete_submission(p_submission_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    PERFORM pliers._require_submission_permission('submission.delete', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);

    UPDATE pliers.submissions AS s
    SET updated_at = pg_catalog.now(), deleted_at = pg_catalog.now(), deleted_by = pliers.current_user_id()
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.deleted',
        pg_catalog.jsonb_build_object('deleted_at', v_submission.deleted_at, 'deleted_by', v_submission.deleted_by)
    );
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.delete_submission(uuid, integer) IS
'Soft-deletes a submission (deleted_at, deleted_by): it leaves the lists and exports; its number and external id '
'stay taken; its attachments stay (and count against max_attachment_bytes). Permission submission.delete on the '
'form, or one''s own draft with submission.create. PL002 (also when already deleted), PL003 (stale '
'p_expected_revision, when given), PL006, PL008. Appends submission.deleted.';

CREATE FUNCTION pliers.restore_submission(p_submission_id uuid, p_expected_revision integer DEFAULT NULL)
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
    SET updated_at = pg_catalog.now(), deleted_at = NULL, deleted_by = NULL
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

-- ---------------------------------------------------------------------------
-- Attachments
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._attachment_field(p_definition jsonb, p_field text, p_data jsonb)
RETURNS TABLE (path text[], field jsonb, kind text, errors jsonb)
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_segments text[] := '{}';
    v_names text[] := '{}';
    v_indexes integer[] := '{}';
    v_shape text := '';
    v_expected text := '';
    v_match text[];
    v_entry record;
    v_i integer;
BEGIN
    path := NULL;
    field := NULL;
    kind := NULL;
    errors := '[]';
    -- Names are any characters but . [ ] and control characters (sql/42,
    -- _valid_field_name): the path stays unambiguous.
    IF p_field IS NULL
        OR p_field !~ '^[^].[[:cntrl:]]{1,200}(\[[0-9]{1,6}\])?(\.[^].[[:cntrl:]]{1,200}(\[[0-9]{1,6}\])?)*$' THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'invalid_field_path',
            'the field is a data path such as photo, address.proof or children[0].photo: names (without . [ ]) '
            'separated by dots, an index after each repeat'
        ));
        RETURN NEXT;
        RETURN;
    END IF;

    -- children[1].photo -> segments {children,1,photo}, names {children,photo}, shape children[].photo
    FOR v_match IN SELECT m FROM pg_catalog.regexp_matches(p_field, '([^].[]+)|\[([0-9]+)\]', 'g') AS m LOOP
        IF v_match[1] IS NOT NULL THEN
            v_segments := v_segments || v_match[1];
            v_names := v_names || v_match[1];
            v_shape := v_shape || CASE WHEN v_shape = '' THEN '' ELSE '.' END || v_match[1];
        ELSE
            v_segments := v_segments || v_match[2];
            v_indexes := v_indexes || pg_catalog.cardinality(v_segments);
            v_shape := v_shape || '[]';
        END IF;
    END LOOP;

    FOR v_i IN 1 .. pg_catalog.cardinality(v_names) LOOP
        SELECT l.kind, l.field INTO v_entry
        FROM pliers._form_field_list(p_definition) AS l
        WHERE l.data_path = pg_catalog.array_to_string(v_names[1:v_i], '.');
        IF NOT FOUND THEN
            errors := pg_catalog.jsonb_build_array(pliers._form_error(
                'field', 'unknown_field', pg_catalog.format('%s is not a field of the form version', p_field)
            ));
            RETURN NEXT;
            RETURN;
        END IF;
        v_expected := v_expected || CASE WHEN v_i = 1 THEN '' ELSE '.' END || v_names[v_i]
            || CASE WHEN v_entry.kind = 'repeat' AND v_i < pg_catalog.cardinality(v_names) THEN '[]' ELSE '' END;
    END LOOP;

    IF v_entry.kind NOT IN ('file', 'signature') THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'not_a_file_field', pg_catalog.format('%s is a %s field, not a file or signature field', p_field, v_entry.kind)
        ));
    ELSIF v_shape <> v_expected THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'invalid_field_path',
            pg_catalog.format('%s does not match the form: expected the shape %s (an index after each repeat)', p_field, v_expected)
        ));
    ELSIF EXISTS (
        -- The indexes (a name may be digits too: "2024").
        SELECT FROM pg_catalog.unnest(v_indexes) AS k
        WHERE pg_catalog.jsonb_typeof(p_data #> v_segments[1:k]) IS DISTINCT FROM 'object'
    ) THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'unknown_instance', pg_catalog.format('the repeat instance of %s does not exist in the answers', p_field)
        ));
    END IF;
    path := v_segments;
    field := v_entry.field;
    kind := v_entry.kind;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION pliers._attachment_field(jsonb, text, jsonb) IS
'Private: resolves the data path p_field (photo, address.proof, children[0].photo: an index after each repeat) '
'in a definition: its jsonb path, field, kind, and argument errors (invalid_field_path, unknown_field, '
'not_a_file_field, unknown_instance when the repeat instance is not in p_data).';

CREATE FUNCTION pliers._jsonb_set_deep(p_target jsonb, p_path text[], p_value jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_result jsonb := p_target;
BEGIN
    FOR v_i IN 1 .. pg_catalog.cardinality(p_path) - 1 LOOP
        IF v_result #> p_path[1:v_i] IS NULL OR pg_catalog.jsonb_typeof(v_result #> p_path[1:v_i]) = 'null' THEN
            v_result := pg_catalog.jsonb_set(v_result, p_path[1:v_i], '{}', TRUE);
        END IF;
    END LOOP;
    RETURN pg_catalog.jsonb_set(v_result, p_path, p_value, TRUE);
END
$$;

COMMENT ON FUNCTION pliers._jsonb_set_deep(jsonb, text[], jsonb) IS
'Private: jsonb_set that also creates the missing objects along p_path (answers of a group not given yet).';

CREATE FUNCTION pliers.attach_file(
    p_submission_id uuid,
    p_field text,
    p_filename text,
    p_mime_type text,
    p_size_bytes bigint,
    p_storage_key text,
    p_checksum text,
    p_storage_provider text DEFAULT 's3',
    p_storage_bucket text DEFAULT NULL,
    p_original_filename text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}',
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.attachments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
    v_form pliers.forms;
    v_target record;
    v_rules jsonb;
    v_current jsonb;
    v_errors jsonb := '[]';
    v_mime_type constant text := pg_catalog.lower(p_mime_type);
    v_checksum constant text := pg_catalog.lower(p_checksum);
    v_attachment pliers.attachments;
    v_data jsonb;
    v_final_errors jsonb;
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        PERFORM pliers._raise_not_draft(v_submission, ARRAY['attachments']);
    END IF;
    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;

    SELECT t.* INTO v_target FROM pliers._attachment_field(v_form.definition, p_field, v_submission.data) AS t;
    v_errors := v_target.errors;
    IF p_filename IS NULL OR pg_catalog.btrim(p_filename) = '' OR pg_catalog.length(p_filename) > 255 THEN
        v_errors := v_errors || pliers._form_error('filename', 'invalid', 'the file name is 1 to 255 characters');
    END IF;
    IF p_original_filename IS NOT NULL AND pg_catalog.length(p_original_filename) > 255 THEN
        v_errors := v_errors || pliers._form_error('original_filename', 'invalid', 'at most 255 characters');
    END IF;
    IF v_mime_type IS NULL OR pg_catalog.length(v_mime_type) > 100 OR v_mime_type !~ '^[a-z]+/[a-z0-9\.\-\+]+$' THEN
        v_errors := v_errors || pliers._form_error('mime_type', 'invalid_mime_type', 'a media type such as image/png');
    END IF;
    IF p_size_bytes IS NULL OR p_size_bytes < 0 THEN
        v_errors := v_errors || pliers._form_error('size_bytes', 'invalid', 'the size is a number of bytes, 0 or more');
    END IF;
    IF p_storage_key IS NULL OR p_storage_key = '' THEN
        v_errors := v_errors || pliers._form_error('storage_key', 'required', 'the storage key is required');
    END IF;
    IF p_storage_provider IS NULL OR pg_catalog.btrim(p_storage_provider) = '' OR pg_catalog.length(p_storage_provider) > 50 THEN
        v_errors := v_errors || pliers._form_error('storage_provider', 'invalid', 'the provider is 1 to 50 characters');
    END IF;
    IF p_storage_bucket IS NOT NULL AND pg_catalog.length(p_storage_bucket) > 255 THEN
        v_errors := v_errors || pliers._form_error('storage_bucket', 'invalid', 'at most 255 characters');
    END IF;
    IF v_checksum IS NULL OR v_checksum !~ '^[0-9a-f]{64}$' THEN
        v_errors := v_errors || pliers._form_error('checksum', 'invalid_checksum', 'the SHA-256 of the content, 64 hex digits');
    END IF;
    IF p_metadata IS NULL OR pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    END IF;

    -- The field's own rules (the codes of validate_submission_data).
    IF v_target.kind IS NOT NULL AND v_target.errors = '[]' THEN
        v_rules := coalesce(v_target.field -> 'validation', '{}');
        v_current := v_submission.data #> v_target.path;
        IF v_rules ? 'accept' AND v_mime_type IS NOT NULL
            AND NOT pliers._mime_accepted(v_rules -> 'accept', v_mime_type) THEN
            v_errors := v_errors || pliers._form_error(
                'mime_type', 'file_type_not_allowed', pg_catalog.format('files of type %s are not accepted', v_mime_type)
            );
        END IF;
        IF p_size_bytes > (v_rules ->> 'maxSizeBytes')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                'size_bytes', 'file_too_large', pg_catalog.format('the file is larger than %s bytes', v_rules ->> 'maxSizeBytes')
            );
        END IF;
        IF v_target.kind = 'signature' AND v_current IS NOT NULL AND pg_catalog.jsonb_typeof(v_current) <> 'null' THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'too_many_items', 'the signature is given already: detach it first'
            );
        ELSIF v_target.kind = 'file' AND pg_catalog.jsonb_typeof(v_current) NOT IN ('array', 'null') THEN
            v_errors := v_errors || pliers._form_error('field', 'invalid_type', 'the answer is not an array of attachment ids');
        ELSIF v_target.kind = 'file'
            AND coalesce(pg_catalog.jsonb_array_length(nullif(v_current, 'null')), 0) + 1 > (v_rules ->> 'maxItems')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'too_many_items', pg_catalog.format('must have at most %s items', v_rules ->> 'maxItems')
            );
        END IF;
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the attachment is not valid', v_errors);
    END IF;
    PERFORM pliers._check_quota('max_attachment_bytes', p_size_bytes, v_org);

    INSERT INTO pliers.attachments (
        organization_id, submission_id, filename, original_filename, mime_type, file_size_bytes,
        storage_provider, storage_key, storage_bucket, checksum, metadata, uploaded_by
    ) VALUES (
        v_org, v_submission.id, p_filename, p_original_filename, v_mime_type, p_size_bytes,
        p_storage_provider, p_storage_key, p_storage_bucket, v_checksum,
        p_metadata || pg_catalog.jsonb_build_object('field', p_field), pliers.current_user_id()
    )
    RETURNING * INTO v_attachment;

    v_data := pliers._jsonb_set_deep(
        v_submission.data, v_target.path,
        CASE
            WHEN v_target.kind = 'signature' THEN pg_catalog.to_jsonb(v_attachment.id::text)
            ELSE coalesce(nullif(v_current, 'null'), '[]') || pg_catalog.to_jsonb(v_attachment.id::text)
        END
    );
    v_final_errors := pliers.validate_submission_data(
        v_form.definition, v_data, TRUE, pliers._submission_attachments(v_submission.id)
    );

    UPDATE pliers.submissions AS s
    SET
        updated_at = pg_catalog.now(),
        data = v_data,
        attachments = s.attachments || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'id', v_attachment.id, 'field', p_field, 'filename', v_attachment.filename,
            'mime_type', v_attachment.mime_type, 'file_size_bytes', v_attachment.file_size_bytes,
            'checksum', v_attachment.checksum
        )),
        attachment_count = s.attachment_count + 1,
        is_valid = v_final_errors = '[]',
        validation_errors = v_final_errors
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._count_usage(v_org, 'attachment_bytes', p_size_bytes);

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.attachment_added',
        pg_catalog.jsonb_build_object(
            'attachment', pg_catalog.jsonb_build_object(
                'id', v_attachment.id, 'field', p_field, 'filename', v_attachment.filename,
                'original_filename', v_attachment.original_filename, 'mime_type', v_attachment.mime_type,
                'file_size_bytes', v_attachment.file_size_bytes, 'checksum', v_attachment.checksum,
                'storage_provider', v_attachment.storage_provider, 'storage_bucket', v_attachment.storage_bucket,
                'storage_key', v_attachment.storage_key
            ),
            'path', pg_catalog.to_jsonb(v_target.path),
            'value', v_data #> v_target.path,
            'attachment_count', v_submission.attachment_count,
            'data', v_submission.data,
            'is_valid', v_submission.is_valid,
            'validation_errors', v_submission.validation_errors
        )
    );
    RETURN v_attachment;
END
$$;

COMMENT ON FUNCTION pliers.attach_file(
    uuid, text, text, text, bigint, text, text, text, text, text, jsonb, integer
) IS
'Records a file uploaded to object storage as an attachment of a draft submission, for file or signature field '
'p_field (a data path: photo, address.proof, children[0].photo), and puts its id in the answer (appended to the '
'file array, or as the signature). Checks, all reported at once (PL001): the field exists and takes files, the '
'media type matches its accept patterns (file_type_not_allowed), the size its maxSizeBytes (file_too_large), the '
'answer has fewer than maxItems files (too_many_items; a signature holds one), checksum is a SHA-256 in hex '
'(stored lower-case), file name, media type, storage key. attachment_count and the attachments column follow. '
'Not a draft: PL005. Permission as update_submission. PL002, PL003 (stale p_expected_revision, when given), '
'PL006, PL007 (max_attachment_bytes), PL008. Appends submission.attachment_added (attachment, path, new value, '
'attachment_count, and the new data, is_valid, validation_errors). Returns the attachment row.';

CREATE FUNCTION pliers.detach_file(p_attachment_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.attachments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_attachment pliers.attachments;
    v_submission pliers.submissions;
    v_path text[];
    v_value jsonb;
    v_data jsonb;
    v_form pliers.forms;
    v_final_errors jsonb;
BEGIN
    IF p_attachment_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'attachment_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('attachment_id', 'required', 'the attachment id is required'))
        );
    END IF;
    SELECT a.* INTO v_attachment
    FROM pliers.attachments AS a
    WHERE
        a.organization_id = v_org AND a.id = p_attachment_id AND a.deleted_at IS NULL AND a.submission_id IS NOT NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('attachment', p_attachment_id);
    END IF;
    v_submission := pliers._lock_submission(v_attachment.submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        PERFORM pliers._raise_not_draft(v_submission, ARRAY['attachments']);
    END IF;

    UPDATE pliers.attachments AS a
    SET deleted_at = pg_catalog.now(), deleted_by = pliers.current_user_id()
    WHERE a.organization_id = v_org AND a.id = v_attachment.id AND a.deleted_at IS NULL
    RETURNING a.* INTO v_attachment;

    -- Take the id out of the answer where attach_file put it (if the answer still holds it).
    v_data := v_submission.data;
    SELECT pg_catalog.array_agg(coalesce(m[1], m[2]) ORDER BY n) INTO v_path
    FROM pg_catalog.regexp_matches(
        coalesce(v_attachment.metadata ->> 'field', ''), '([^].[]+)|\[([0-9]+)\]', 'g'
    ) WITH ORDINALITY AS r (m, n);
    IF v_path IS NOT NULL THEN
        v_value := v_data #> v_path;
        IF pg_catalog.jsonb_typeof(v_value) = 'array' THEN
            v_data := pg_catalog.jsonb_set(v_data, v_path, v_value - v_attachment.id::text);
        ELSIF v_value = pg_catalog.to_jsonb(v_attachment.id::text) THEN
            v_data := v_data #- v_path;
        END IF;
    END IF;
    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;
    v_final_errors := pliers.validate_submission_data(
        v_form.definition, v_data, TRUE, pliers._submission_attachments(v_submission.id)
    );

    UPDATE pliers.submissions AS s
    SET
        updated_at = pg_catalog.now(),
        data = v_data,
        attachments = coalesce((
            SELECT pg_catalog.jsonb_agg(e.value ORDER BY e.ordinality)
            FROM pg_catalog.jsonb_array_elements(s.attachments) WITH ORDINALITY AS e (value, ordinality)
            WHERE e.value ->> 'id' IS DISTINCT FROM v_attachment.id::text
        ), '[]'),
        attachment_count = s.attachment_count - 1,
        is_valid = v_final_errors = '[]',
        validation_errors = v_final_errors
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._count_usage(v_org, 'attachment_bytes', -v_attachment.file_size_bytes);

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.attachment_removed',
        pg_catalog.jsonb_build_object(
            'attachment_id', v_attachment.id,
            'field', v_attachment.metadata ->> 'field',
            'path', pg_catalog.to_jsonb(v_path),
            'value', v_data #> v_path,
            'attachment_count', v_submission.attachment_count,
            'data', v_submission.data,
            'is_valid', v_submission.is_valid,
            'validation_errors', v_submission.validation_errors
        )
    );
    RETURN v_attachment;
END
$$;

COMMENT ON FUNCTION pliers.detach_file(uuid, integer) IS
'Removes an attachment from its draft submission: the attachment is soft-deleted (deleted_at, deleted_by; the '
'object in storage is the caller''s to delete), its id leaves the answer and the attachments column, '
'attachment_count goes down, and its bytes stop counting against max_attachment_bytes. Not a draft: PL005. '
'p_expected_revision is the submission''s. Permission as update_submission. PL002 (attachment, or its '
'submission), PL003, PL006, PL008. Appends submission.attachment_removed ({attachment_id, field, path, value, '
'attachment_count, data, is_valid, validation_errors}). Returns the attachment row.';

-- ---------------------------------------------------------------------------
-- Reading: keyset pages
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.list_submissions(
    p_form_id uuid DEFAULT NULL,
    p_status pliers.submission_status DEFAULT NULL,
    p_assigned_to uuid DEFAULT NULL,
    p_after_created_at timestamptz DEFAULT NULL,
    p_after_id uuid DEFAULT NULL,
    p_limit integer DEFAULT 50,
    p_filter jsonb DEFAULT NULL,
    p_field text DEFAULT NULL,
    p_op text DEFAULT NULL,
    p_value jsonb DEFAULT NULL,
    p_assigned_team_id uuid DEFAULT NULL,
    p_created_from timestamptz DEFAULT NULL,
    p_created_before timestamptz DEFAULT NULL,
    p_deleted boolean DEFAULT FALSE
)
RETURNS SETOF pliers.submissions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_permissions constant text[] := pliers.current_permissions();
    v_user constant uuid := pliers.current_user_id();
    v_errors jsonb := '[]';
    v_forms uuid[];
    v_filters jsonb[];
    v_paths jsonpath[];
    v_sql text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        v_errors := v_errors || pliers._form_error('limit', 'invalid', 'the limit is 1 to 1000');
    END IF;
    IF (p_after_created_at IS NULL) <> (p_after_id IS NULL) THEN
        v_errors := v_errors || pliers._form_error(
            'after_id', 'invalid_cursor', 'the cursor is after_created_at and after_id together: the last row''s'
        );
    END IF;
    IF p_filter IS NOT NULL AND pg_catalog.jsonb_typeof(p_filter) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('filter', 'invalid_type', 'the filter is a JSON object of answers');
    END IF;
    IF num_nulls(p_field, p_op, p_value) NOT IN (0, 3) THEN
        v_errors := v_errors || pliers._form_error('op', 'invalid', 'field, op and value go together');
    ELSIF p_field IS NOT NULL THEN
        IF p_field !~ '^[^].[[:cntrl:]]{1,200}(\.[^].[[:cntrl:]]{1,200})*$' THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'invalid_field_path',
                'a field name, or a dotted path into groups (address.zip); names have no . [ ] or control characters'
            );
        END IF;
        IF p_op NOT IN ('=', '<>', '<', '<=', '>', '>=') THEN
            v_errors := v_errors || pliers._form_error('op', 'invalid_operator', 'the operator is =, <>, <, <=, > or >=');
        ELSIF pg_catalog.jsonb_typeof(p_value) NOT IN ('number', 'string', 'boolean', 'null')
            OR (p_op NOT IN ('=', '<>') AND pg_catalog.jsonb_typeof(p_value) NOT IN ('number', 'string')) THEN
            v_errors := v_errors || pliers._form_error(
                'value', 'invalid_value', 'compare with a number or a string (dates as ISO 8601 strings); = and <> also with true, false, null'
            );
        END IF;
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid list arguments', v_errors);
    END IF;
    -- The commonest page, a form's newest submissions (after a cursor) and no other
    -- condition, is static SQL: PL/pgSQL keeps its plan for the session, where the
    -- EXECUTE below is planned on every call (0.2 ms, three times the page itself,
    -- bench/RESULTS.md). Its conditions are those the EXECUTE would write.
    IF p_form_id IS NOT NULL AND pg_catalog.num_nonnulls(
        p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before, p_filter, p_field
    ) = 0 AND NOT coalesce(p_deleted, FALSE) THEN
        IF p_after_created_at IS NULL THEN
            RETURN QUERY
            SELECT s.* FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.form_id = p_form_id AND s.deleted_at IS NULL
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user
                )
            ORDER BY s.created_at DESC, s.id
            LIMIT p_limit;
        ELSE
            RETURN QUERY
            SELECT s.* FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.form_id = p_form_id AND s.deleted_at IS NULL
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user
                )
                AND s.created_at <= p_after_created_at
                AND (s.created_at < p_after_created_at OR s.id > p_after_id)
            ORDER BY s.created_at DESC, s.id
            LIMIT p_limit;
        END IF;
        RETURN;
    END IF;
    -- Answer conditions go through the per-form index (pliers.scoped_answers): one probe
    -- per form, the one asked for or each of the tenant's. Same snapshot as the query:
    -- every submission it may list belongs to one of these forms.
    -- (The one-form case in plain expressions: PL/pgSQL runs those without a query.)
    IF p_form_id IS NOT NULL THEN
        v_forms := ARRAY[p_form_id];
    ELSIF p_filter IS NOT NULL OR p_field IS NOT NULL THEN
        v_forms := ARRAY(SELECT f.id FROM pliers.forms AS f WHERE f.organization_id = v_org);
    END IF;
    IF p_filter IS NOT NULL AND p_form_id IS NOT NULL THEN
        v_filters := ARRAY[pliers.scoped_answers(p_form_id, p_filter)];
    ELSIF p_filter IS NOT NULL THEN
        v_filters := ARRAY(SELECT pliers.scoped_answers(f.id, p_filter) FROM pg_catalog.unnest(v_forms) AS f (id));
    END IF;
    IF p_field IS NOT NULL THEN
        -- Keys double-quoted, the value a JSON literal, the operator from a fixed list: no injection.
        v_paths := ARRAY(
            SELECT pg_catalog.format(
                '$.%s.%s %s %s',
                pg_catalog.to_json(f.id::text)::text,
                (SELECT pg_catalog.string_agg(pg_catalog.to_json(k)::text, '.') FROM pg_catalog.unnest(pg_catalog.string_to_array(p_field, '.')) AS k),
                CASE p_op WHEN '=' THEN '==' WHEN '<>' THEN '!=' ELSE p_op END,
                p_value::text
            )::jsonpath
            FROM pg_catalog.unnest(v_forms) AS f (id)
        );
    END IF;

    -- Only the conditions asked for, so that the planner sees each query as it is. The
    -- tenant and the visibility rule are written here, not applied by row-level security
    -- (this function runs as pliers_owner, the tables' owner, which row-level security does
    -- not bind, so the planner reads the column statistics): the answer
    -- filters may then use the GIN index and its statistics. EXECUTE ... USING plans
    -- once with the values, so for a user with submission.view organization-wide the
    -- visibility rule folds to TRUE and disappears from the query.
    v_sql := 'SELECT s.* FROM pliers.submissions AS s WHERE s.organization_id = $1'
        || ' AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, $13, $14)'
        || CASE WHEN coalesce(p_deleted, FALSE) THEN ' AND s.deleted_at IS NOT NULL' ELSE ' AND s.deleted_at IS NULL' END
        || CASE WHEN p_form_id IS NOT NULL THEN ' AND s.form_id = $2' ELSE '' END
        || CASE WHEN p_status IS NOT NULL THEN ' AND s.status = $3' ELSE '' END
        || CASE WHEN p_assigned_to IS NOT NULL THEN ' AND s.assigned_to = $4' ELSE '' END
        || CASE WHEN p_assigned_team_id IS NOT NULL THEN ' AND s.assigned_team_id = $5' ELSE '' END
        || CASE WHEN p_created_from IS NOT NULL THEN ' AND s.created_at >= $6' ELSE '' END
        || CASE WHEN p_created_before IS NOT NULL THEN ' AND s.created_at < $7' ELSE '' END
        || CASE
            WHEN p_after_created_at IS NOT NULL THEN ' AND s.created_at <= $8 AND (s.created_at < $8 OR s.id > $9)'
            ELSE ''
        END
        || CASE WHEN p_filter IS NOT NULL THEN ' AND pliers.scoped_answers(s.form_id, s.data) @> ANY ($10)' ELSE '' END
        || CASE WHEN p_field IS NOT NULL THEN ' AND pliers.scoped_answers(s.form_id, s.data) @@ ANY ($11)' ELSE '' END
        || ' ORDER BY s.created_at DESC, s.id LIMIT $12';

    RETURN QUERY EXECUTE v_sql
    USING v_org, p_form_id, p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before,
    p_after_created_at, p_after_id, v_filters, v_paths, p_limit, v_permissions, v_user;
END
$$;

COMMENT ON FUNCTION pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
) IS
'One page of the submissions the caller may see (pliers.submission_visible, as the submissions_select policy), newest first: ORDER BY created_at DESC, id. '
'Keyset paging: pass the created_at and id of the last row of a page as p_after_created_at, p_after_id to get the '
'next (no OFFSET, no count). Filters, all optional and combined with AND: form version, status, assignee (user, '
'team), creation time range [p_created_from, p_created_before), answers containing p_filter (data @> p_filter), '
'and one comparison p_field p_op p_value (p_field a field name or dotted group path; p_op =, <>, <, <=, >, >=; '
'p_value a JSON number or string, also true/false/null for = and <>; strings compare as text, so ISO dates '
'compare in time order; a repeat''s answers match if any instance matches), built as a jsonpath with quoted keys '
'and a JSON literal. p_deleted lists the deleted submissions instead. p_limit 1 to 1000. PL001 for invalid '
'arguments (every error), PL008 without a context.';


-- ---------------------------------------------------------------------------
-- Export: one column per answer key across all versions of a form
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.export_columns(p_slug text)
RETURNS TABLE (ordinal integer, name text, path text, kind text, json_type text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    c_meta constant text[] := ARRAY[
        'submission_number', 'submission_id', 'form_version', 'status', 'created_at', 'submitted_at',
        'updated_at', 'completed_at', 'submitted_by', 'assigned_to', 'assigned_team_id', 'external_id'
    ];
BEGIN
    IF NOT EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'form % not found', p_slug
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'slug', p_slug)::text;
    END IF;

    RETURN QUERY
    WITH versions AS (
        SELECT f.definition, pliers._semver_key(f.version) AS version_key
        FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL AND f.published_at IS NOT NULL
    ),

    fields AS (
        SELECT
            v.version_key, l.sort_key, l.data_path, l.kind,
            -- The JSON type of the answer, from the type expressions give it (one rule);
            -- NULL where the kind allows more than one (hidden, files, locations).
            CASE pliers._field_expression_type(l.field, l.data_path, '{}')
                WHEN 'string' THEN 'string' WHEN 'ordinal' THEN 'string' WHEN 'date' THEN 'string'
                WHEN 'time' THEN 'string' WHEN 'datetime' THEN 'string'
                WHEN 'number' THEN 'number' WHEN 'boolean' THEN 'boolean'
                WHEN 'list:string' THEN 'array' WHEN 'list:object' THEN 'array'
            END AS json_type
        FROM versions AS v
        CROSS JOIN LATERAL pliers._form_field_list(v.definition) AS l
        WHERE
            l.kind NOT IN ('group', 'display')
            -- a calculation for the renderer (a string) has no stored answer; one evaluated here has
            AND NOT (l.kind = 'calculated' AND pg_catalog.jsonb_typeof(l.field -> 'expression') = 'string')
            -- fields inside a repeat are exported with the repeat, as JSON
            AND NOT EXISTS (
                SELECT FROM pliers._form_field_list(v.definition) AS r
                WHERE r.kind = 'repeat' AND starts_with(l.data_path, r.data_path || '.')
            )
    ),

    newest AS (
        SELECT DISTINCT ON (fields.data_path)
            fields.data_path, fields.kind, fields.json_type, fields.version_key, fields.sort_key
        FROM fields
        ORDER BY fields.data_path, fields.version_key DESC
    ),

    firsts AS (
        SELECT fields.data_path, min(fields.version_key || fields.sort_key::numeric[]) AS first_seen
        FROM fields
        GROUP BY fields.data_path
    )

    SELECT m.n::integer, m.name, NULL::text, 'meta'::text, NULL::text
    FROM pg_catalog.unnest(c_meta) WITH ORDINALITY AS m (name, n)
    UNION ALL
    SELECT
        (pg_catalog.cardinality(c_meta) + pg_catalog.row_number() OVER (ORDER BY fi.first_seen, c.data_path))::integer,
        CASE WHEN c.data_path = ANY(c_meta) THEN 'data.' || c.data_path ELSE c.data_path END,
        c.data_path,
        c.kind,
        c.json_type
    FROM newest AS c
    INNER JOIN firsts AS fi ON c.data_path = fi.data_path
    ORDER BY 1;
END
$$;

COMMENT ON FUNCTION pliers.export_columns(text) IS
'The columns of the export of form p_slug (all its published versions): first the submission''s own columns '
'(kind meta: submission_number, submission_id, form_version, status, created_at, submitted_at, updated_at, '
'completed_at, submitted_by, assigned_to, assigned_team_id, external_id), then one column per answer path of any '
'version (name = the dotted path, address.zip; prefixed data. when it equals a meta name), in the order they '
'first appear (oldest version first, then form order). Groups are flattened into their fields; a repeat is one '
'column (its answers as JSON); display fields and calculations for the renderer (a string expression) have none. '
'path is NULL for meta columns; kind is '
'the field type in the newest version that has it, json_type the JSON type of its answers there: string (the export '
'writes it as it is), number, boolean or array (as JSON), NULL for meta columns and for kinds whose answers are of '
'more than one type or of none that expressions name (hidden, calculated, file, signature, geo_point, geotrace, '
'geoshape: JSON, or a string). PL002 when no live version has the slug, PL008.';

CREATE FUNCTION pliers.export_submissions(p_slug text, p_include_drafts boolean DEFAULT FALSE)
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

CREATE FUNCTION pliers.export_query(p_slug text, p_include_drafts boolean DEFAULT FALSE)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN (
        SELECT pg_catalog.format(
            'SELECT %s FROM pliers.export_submissions(%L, %L) AS e (r)',
            pg_catalog.string_agg(pg_catalog.format('e.r[%s] AS %I', c.ordinal, c.name), ', ' ORDER BY c.ordinal),
            p_slug,
            coalesce(p_include_drafts, FALSE)
        )
        FROM pliers.export_columns(p_slug) AS c
    );
END
$$;

COMMENT ON FUNCTION pliers.export_query(text, boolean) IS
'The SELECT that exports form p_slug with one named column per export column, for the client to stream: '
'COPY (<this query>) TO STDOUT WITH (FORMAT csv, HEADER). Identifiers and literals are quoted (format %I, %L). '
'Columns only ever get appended (a new version adds its new fields at the end). PL002, PL008.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

-- Reading one submission and its files: the rows row-level security shows (the
-- visibility rule of submissions_select), read as the owner, as list_forms does
-- (sql/45-forms-api.sql) and for the same reason.
CREATE FUNCTION pliers.get_submission(p_submission_id uuid)
RETURNS SETOF pliers.submissions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_permissions constant text[] := pliers.current_permissions();
    v_user_id constant uuid := pliers.current_user_id();
BEGIN
    RETURN QUERY
    SELECT s.*
    FROM pliers.submissions AS s
    WHERE s.organization_id = v_organization_id
        AND s.id = p_submission_id
        AND s.deleted_at IS NULL
        AND pliers.submission_visible(
            s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user_id
        );
END
$$;

COMMENT ON FUNCTION pliers.get_submission(uuid) IS
'The live submission p_submission_id of the current tenant if the current user may view it '
'(pliers.submission_visible), else no row. PL008 without a context.';

CREATE FUNCTION pliers.list_attachments(p_submission_id uuid)
RETURNS SETOF pliers.attachments
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_permissions constant text[] := pliers.current_permissions();
    v_user_id constant uuid := pliers.current_user_id();
BEGIN
    RETURN QUERY
    SELECT a.*
    FROM pliers.attachments AS a
    WHERE a.organization_id = v_organization_id
        AND a.submission_id = p_submission_id
        AND a.deleted_at IS NULL
        AND EXISTS (
            SELECT
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_organization_id
                AND s.id = p_submission_id
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user_id
                )
        )
    ORDER BY a.uploaded_at, a.id;
END
$$;

COMMENT ON FUNCTION pliers.list_attachments(uuid) IS
'The live attachments of submission p_submission_id, in upload order, if the current user may view the submission '
'(pliers.submission_visible), else none. PL008 without a context.';

REVOKE ALL ON FUNCTION
pliers._counter_slot(),
pliers._count_usage(uuid, text, bigint),
pliers._check_quota(text, bigint, uuid),
pliers._next_submission_number(uuid),
pliers.submission_status_moves(),
pliers._submission_payload(pliers.submissions, pliers.forms),
pliers._lock_submission(uuid, boolean),
pliers._require_submission_permission(text, pliers.submissions),
pliers._get_form(uuid, uuid),
pliers._require_accepting(pliers.forms),
pliers._submission_attachments(uuid),
pliers._check_submission_attributes(jsonb, text[], text, text),
pliers._raise_not_draft(pliers.submissions, text[]),
pliers.create_submission(uuid, jsonb, boolean, text, jsonb, text[], text, timestamptz, text),
pliers.update_submission(uuid, integer, jsonb, jsonb, text[], timestamptz),
pliers.submit_submission(uuid, integer),
pliers.set_submission_status(uuid, pliers.submission_status, integer, text),
pliers.assign_submission(uuid, uuid, uuid, integer),
pliers.delete_submission(uuid, integer),
pliers.restore_submission(uuid, integer),
pliers._attachment_field(jsonb, text, jsonb),
pliers._jsonb_set_deep(jsonb, text[], jsonb),
pliers.attach_file(uuid, text, text, text, bigint, text, text, text, text, text, jsonb, integer),
pliers.detach_file(uuid, integer),
pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
),
pliers.export_columns(text),
pliers.export_submissions(text, boolean),
pliers.export_query(text, boolean)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.submission_status_moves(),
pliers.create_submission(uuid, jsonb, boolean, text, jsonb, text[], text, timestamptz, text),
pliers.update_submission(uuid, integer, jsonb, jsonb, text[], timestamptz),
pliers.submit_submission(uuid, integer),
pliers.set_submission_status(uuid, pliers.submission_status, integer, text),
pliers.assign_submission(uuid, uuid, uuid, integer),
pliers.delete_submission(uuid, integer),
pliers.restore_submission(uuid, integer),
pliers.attach_file(uuid, text, text, text, bigint, text, text, text, text, text, jsonb, integer),
pliers.detach_file(uuid, integer),
pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
),
pliers.export_columns(text),
pliers.export_submissions(text, boolean),
pliers.export_query(text, boolean),
pliers.get_submission(uuid),
pliers.list_attachments(uuid)
TO pliers_app;
