-- Undo 0021: list_submissions as 0010 left it.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_lister;

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
    -- (this function runs as pliers_lister, whose policy shows every row): the answer
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
    p_after_created_at, p_after_id, v_filters, v_paths, p_limit,
    pliers.current_permissions(), pliers.current_user_id();
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

RESET ROLE;
