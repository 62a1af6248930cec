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
