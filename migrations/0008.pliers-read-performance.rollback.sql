-- Undo 0008: list_submissions back to pliers_owner under row-level security, the
-- submissions policy as 0003 made it, the GIN pending list, the answers in the audit.
-- The role pliers_lister stays (roles are cluster-wide, as in 0001's rollback).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
-- pliers_lister hands list_submissions back (it is a member of pliers_owner).
SET LOCAL ROLE pliers_lister;
ALTER FUNCTION pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
) OWNER TO pliers_owner;
SET LOCAL ROLE pliers_owner;

CREATE OR REPLACE FUNCTION pliers.list_submissions(
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
    v_errors jsonb := '[]';
    v_path jsonpath;
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
        IF p_field !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})*$' THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'invalid_field_path', 'a field name, or a dotted path into groups (address.zip)'
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
    IF p_field IS NOT NULL THEN
        -- Keys double-quoted, the value a JSON literal, the operator from a fixed list: no injection.
        v_path := pg_catalog.format(
            '$.%s %s %s',
            (SELECT pg_catalog.string_agg(pg_catalog.to_json(k)::text, '.') FROM pg_catalog.unnest(pg_catalog.string_to_array(p_field, '.')) AS k),
            CASE p_op WHEN '=' THEN '==' WHEN '<>' THEN '!=' ELSE p_op END,
            p_value::text
        )::jsonpath;
    END IF;

    -- Only the conditions asked for, so that the planner sees each query as it is: the
    -- keyset bound on (created_at, id) and the equalities on uuid columns are index
    -- conditions of the B-tree indexes (their operators are leakproof, so row-level
    -- security lets them into the index scan).
    v_sql := 'SELECT s.* FROM pliers.submissions AS s WHERE s.organization_id = $1'
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
        || CASE WHEN p_filter IS NOT NULL THEN ' AND s.data @> $10' ELSE '' END
        || CASE WHEN v_path IS NOT NULL THEN ' AND s.data @@ $11' ELSE '' END
        || ' ORDER BY s.created_at DESC, s.id LIMIT $12';

    RETURN QUERY EXECUTE v_sql
    USING v_org, p_form_id, p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before,
    p_after_created_at, p_after_id, p_filter, v_path, p_limit;
END
$$;

COMMENT ON FUNCTION pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
) IS
'One page of the submissions the caller may see (row-level security), newest first: ORDER BY created_at DESC, id. '
'Keyset paging: pass the created_at and id of the last row of a page as p_after_created_at, p_after_id to get the '
'next (no OFFSET, no count). Filters, all optional and combined with AND: form version, status, assignee (user, '
'team), creation time range [p_created_from, p_created_before), answers containing p_filter (data @> p_filter), '
'and one comparison p_field p_op p_value (p_field a field name or dotted group path; p_op =, <>, <, <=, >, >=; '
'p_value a JSON number or string, also true/false/null for = and <>; strings compare as text, so ISO dates '
'compare in time order; a repeat''s answers match if any instance matches), built as a jsonpath with quoted keys '
'and a JSON literal. p_deleted lists the deleted submissions instead. p_limit 1 to 1000. PL001 for invalid '
'arguments (every error), PL008 without a context.';

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
BEGIN
    v_form := pliers._get_form(p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);

    -- Idempotency: a retry with a known external id gets the existing submission.
    IF p_external_id IS NOT NULL THEN
        SELECT s.* INTO v_submission
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.external_id = p_external_id;
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
    v_errors := pliers._check_submission_attributes(
        coalesce(p_metadata, 'null'), coalesce(p_tags, ARRAY[NULL]::text[]), coalesce(p_source, ''), p_external_id
    ) || pliers.validate_submission_data(v_form.definition, coalesce(p_data, '{}'), v_submit, '{}');
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the submission is not valid', v_errors);
    END IF;
    v_data := pliers.clean_submission_data(v_form.definition, coalesce(p_data, '{}'));
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
            nullif(pg_catalog.current_setting('pliers.ip_address', TRUE), '')::inet,
            nullif(pg_catalog.current_setting('pliers.user_agent', TRUE), ''),
            p_referrer, p_metadata, p_tags, CASE WHEN v_submit THEN 2 ELSE 1 END
        )
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_submission;
        EXIT WHEN FOUND;

        IF p_external_id IS NOT NULL THEN
            SELECT s.* INTO v_submission
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.external_id = p_external_id;
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
        pliers._submission_payload(v_submission, v_form)
        || pg_catalog.jsonb_build_object('status', 'draft', 'submitted_at', NULL)
    );
    IF v_submit THEN
        PERFORM pliers._append_event(
            'submission', v_submission.id, 2, 'submission.submitted',
            pg_catalog.jsonb_build_object(
                'from', 'draft', 'to', 'submitted', 'submitted_at', v_submission.submitted_at,
                'is_valid', v_submission.is_valid, 'validation_errors', v_submission.validation_errors
            ),
            v_event
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
    SET status = 'submitted', submitted_at = pg_catalog.now(), is_valid = TRUE, validation_errors = '[]'
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.submitted',
        pg_catalog.jsonb_build_object(
            'from', 'draft', 'to', 'submitted', 'submitted_at', v_submission.submitted_at,
            'is_valid', v_submission.is_valid, 'validation_errors', v_submission.validation_errors
        )
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

DROP FUNCTION
pliers._submission_created_payload(pliers.submissions, pliers.forms),
pliers._submission_submitted_payload(pliers.submissions);

ALTER FUNCTION pliers._submission_payload(pliers.submissions, pliers.forms) IMMUTABLE;

DO $audit$
BEGIN
    PERFORM pliers.enable_audit('pliers.submissions', '{}');
END
$audit$;

DROP STATISTICS pliers.submissions_organization_form;

ALTER INDEX pliers.submissions_data_idx RESET (fastupdate);

DROP POLICY submissions_lister_select ON pliers.submissions;

ALTER POLICY submissions_select ON pliers.submissions
USING (
    organization_id = pliers.current_organization_id()
    AND (
        pliers.current_permissions() @> '{submission.view}'
        OR submitted_by = pliers.current_user_id()
        OR assigned_to = pliers.current_user_id()
        OR pliers.has_permission('submission.view', 'form', form_id)
        OR (assigned_team_id IS NOT NULL AND pliers.has_permission('submission.view', 'team', assigned_team_id))
    )
);

COMMENT ON POLICY submissions_select ON pliers.submissions IS
'Rows of the current tenant that the current user may view: submission.view organization-wide, own submissions '
'(submitted_by), assigned ones (assigned_to), or submission.view on the form or on the assigned team (has_permission)';

DROP FUNCTION pliers.submission_visible(uuid, uuid, uuid, uuid, text[], uuid);

RESET ROLE;
