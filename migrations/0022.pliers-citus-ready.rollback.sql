SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
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
    -- (this function runs as pliers_lister, which row-level security does not bind): the answer
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

SET LOCAL ROLE pliers_lister;
ALTER FUNCTION pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
) OWNER TO pliers_lister;
SET LOCAL ROLE pliers_owner;

ALTER POLICY submissions_select ON pliers.submissions
USING (
    organization_id = pliers.current_organization_id()
    AND pliers.submission_visible(
        form_id, submitted_by, assigned_to, assigned_team_id,
        (SELECT pliers.current_permissions()), (SELECT pliers.current_user_id())
    )
);

CREATE FUNCTION pliers._roles_permissions_changed()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_names constant text[] := ARRAY[old.name, new.name]::text[];
    v_user record;
BEGIN
    IF (old.name, old.permissions) IS NOT DISTINCT FROM (new.name, new.permissions) THEN
        RETURN NULL;
    END IF;
    -- Every tenant: the catalogue is global (a DBA's change, rare).
    FOR v_user IN
        SELECT u.organization_id, u.id
        FROM pliers.users AS u
        WHERE u.roles && v_names
        UNION
        SELECT ra.organization_id, ra.user_id
        FROM pliers.role_assignments AS ra
        WHERE ra.role = ANY(v_names) AND ra.scope_type = 'organization' AND ra.revoked_at IS NULL
    LOOP
        PERFORM pliers._refresh_user_permissions(v_user.organization_id, v_user.id, FALSE);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._roles_permissions_changed() IS
'Private trigger: a role of the catalogue created, renamed, deleted or given other permissions: recompute the '
'pliers.user_permissions rows of the users that hold it, in every tenant.';

CREATE TRIGGER roles_permissions
AFTER INSERT OR UPDATE OR DELETE ON pliers.roles
FOR EACH ROW EXECUTE FUNCTION pliers._roles_permissions_changed();

COMMENT ON TRIGGER roles_permissions ON pliers.roles IS
'Recomputes pliers.user_permissions for every holder of the role, in every tenant';

CREATE OR REPLACE FUNCTION pliers.create_api_key(
    p_name text,
    p_environment text DEFAULT 'live',
    p_scopes text[] DEFAULT '{}',
    p_expires_at timestamptz DEFAULT NULL,
    p_rate_limit_per_minute integer DEFAULT 60
)
RETURNS TABLE (id uuid, key text, prefix text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_errors jsonb := '[]';
    v_scope_errors jsonb;
    v_unknown text[];
    v_key text;
    v_prefix text;
    v_id uuid;
BEGIN
    PERFORM pliers._require_permission('api_key.manage');

    IF p_name IS NULL OR pg_catalog.btrim(p_name) = '' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'required', 'message', 'a name is required');
    ELSIF pg_catalog.length(p_name) > 255 THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'too_long', 'message', 'at most 255 characters');
    END IF;
    IF p_environment IS NULL OR p_environment !~ '^[a-z]{2,8}$' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'environment', 'code', 'invalid_format',
            'message', '2 to 8 lower-case letters, e.g. live or test');
    END IF;
    IF p_scopes IS NULL THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'scopes', 'code', 'invalid', 'message', 'scopes must be an array without NULL');
    ELSE
        v_scope_errors := pliers._check_text_array('scopes', p_scopes, 100, 255);
        v_errors := v_errors || v_scope_errors;
    END IF;
    IF v_scope_errors = '[]' THEN
        SELECT pg_catalog.array_agg(s.scope ORDER BY s.scope)
        INTO v_unknown
        FROM pg_catalog.unnest(p_scopes) AS s (scope)
        WHERE NOT EXISTS (SELECT FROM pliers.roles AS r WHERE s.scope = ANY(r.permissions));
        IF v_unknown IS NOT NULL THEN
            v_errors := v_errors || pg_catalog.jsonb_build_object(
                'path', 'scopes', 'code', 'unknown_permission',
                'message', 'not a permission of the catalogue: ' || pg_catalog.array_to_string(v_unknown, ', '));
        END IF;
    END IF;
    IF p_expires_at <= pg_catalog.now() THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'expires_at', 'code', 'not_in_future', 'message', 'the expiry must be in the future');
    END IF;
    IF p_rate_limit_per_minute IS NULL OR p_rate_limit_per_minute <= 0 THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'rate_limit_per_minute', 'code', 'not_positive', 'message', 'must be a positive integer');
    END IF;
    IF pg_catalog.jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION 'invalid API key parameters'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', v_errors)::text;
    END IF;

    v_key := 'pk_' || p_environment || '_' || pg_catalog.encode(
        pg_catalog.sha256(pg_catalog.convert_to(
            pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text
            || pg_catalog.gen_random_uuid()::text, 'UTF8'
        )),
        'hex'
    );
    v_prefix := pg_catalog.left(v_key, pg_catalog.length(p_environment) + 12);

    INSERT INTO pliers.api_keys AS k (
        organization_id, name, key_hash, prefix, scopes, rate_limit_per_minute, expires_at, created_by
    )
    VALUES (
        pliers.current_organization_id(),
        p_name,
        pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_key, 'UTF8')), 'hex'),
        v_prefix,
        ARRAY(SELECT DISTINCT s.scope FROM pg_catalog.unnest(p_scopes) AS s (scope) ORDER BY s.scope),
        p_rate_limit_per_minute,
        p_expires_at,
        pliers.current_user_id()
    )
    RETURNING k.id INTO v_id;

    RETURN QUERY SELECT v_id, v_key, v_prefix;
END
$$;

COMMENT ON FUNCTION pliers.create_api_key(text, text, text[], timestamptz, integer) IS
'Creates an API key of the current organization, created by the current user (needs api_key.manage, else PL006; '
'no context: PL008). Returns its id, the full key pk_<environment>_<64 hex digits> (shown this once: only its '
'SHA-256 is stored) and its display prefix. p_scopes: permission names of the catalogue, empty = the creator''s '
'permissions. Bad arguments raise PL001 (DETAIL {errors: [{path, code, message}]}).';

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
AS $$
DECLARE
    v_status pliers.user_status;
    v_organization_deleted_at timestamptz;
    v_permissions text[];
    v_denied text[];
    v_valid boolean;
BEGIN
    -- No SET clause (a few us a call): its callers run with search_path = '' and every
    -- name here is qualified; the plans of these primary-key lookups are generic after
    -- five calls without plan_cache_mode.
    PERFORM pg_catalog.set_config('pliers.context', '', true);
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RETURN 'no_context';
    END IF;

    SELECT u.status, o.deleted_at, p.permissions, p.denied, p.valid_until > pg_catalog.now()
    INTO v_status, v_organization_deleted_at, v_permissions, v_denied, v_valid
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    LEFT JOIN pliers.user_permissions AS p ON u.organization_id = p.organization_id AND u.id = p.user_id
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        RETURN 'not_a_member';
    ELSIF v_organization_deleted_at IS NOT NULL THEN
        RETURN 'organization_deleted';
    ELSIF v_status <> 'active' THEN
        RETURN 'user_' || v_status::text;
    END IF;
    IF v_valid IS NOT TRUE THEN
        SELECT l.permissions, l.denied
        INTO v_permissions, v_denied
        FROM pliers._user_permissions(p_organization_id, p_user_id) AS l;
        IF pg_catalog.current_setting('transaction_read_only') = 'off'
            AND pg_catalog.current_setting('transaction_isolation') = 'read committed' THEN
            PERFORM pliers._refresh_user_permissions(p_organization_id, p_user_id, TRUE);
        END IF;
    END IF;
    IF pg_catalog.cardinality(p_api_key_scopes) > 0 THEN
        v_permissions := ARRAY(
            SELECT g.permission FROM pg_catalog.unnest(v_permissions) AS g (permission)
            WHERE g.permission = ANY(p_api_key_scopes)
        );
    END IF;

    PERFORM pliers._store_context(pliers._context_payload(
        p_organization_id, p_user_id, v_permissions, p_api_key_id, v_denied, p_api_key_scopes,
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
'organization_deleted, user_<status>. The permissions come from pliers.user_permissions; past its valid_until '
'they are computed again, and stored again by a read-write READ COMMITTED transaction.';

CREATE OR REPLACE FUNCTION pliers._store_context(p_payload text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- No SET clause (a few us a call): its callers run with search_path = '' and every
    -- name here is qualified.
    PERFORM pg_catalog.set_config(
        'pliers.context',
        p_payload || '|' || pliers._context_mac(pg_catalog.textsend(p_payload), pliers._context_key()),
        true
    );
END
$$;

COMMENT ON FUNCTION pliers._store_context(text) IS
'Private: sets pliers.context, transaction-locally, to p_payload signed for this transaction.';

CREATE OR REPLACE FUNCTION pliers._context_mac(p_payload bytea, p_key bytea)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(pg_catalog.sha256(
        p_key || p_payload || pg_catalog.textsend('|' || EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp())::text)
    ), 'hex')
$$;

COMMENT ON FUNCTION pliers._context_mac(bytea, bytea) IS
'Private: hex(sha256(key || payload || ''|'' || start of this transaction)), the payload as bytes.';

CREATE OR REPLACE FUNCTION pliers._refresh_user_permissions(p_organization_id uuid, p_user_id uuid, p_skip_locked boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_skip_locked THEN
        PERFORM FROM pliers.users AS u
        WHERE u.organization_id = p_organization_id AND u.id = p_user_id
        FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    ELSE
        PERFORM FROM pliers.users AS u
        WHERE u.organization_id = p_organization_id AND u.id = p_user_id
        FOR NO KEY UPDATE;
    END IF;
    INSERT INTO pliers.user_permissions AS p (organization_id, user_id, permissions, denied, valid_until)
    SELECT p_organization_id, p_user_id, l.permissions, l.denied, l.valid_until
    FROM pliers._user_permissions(p_organization_id, p_user_id) AS l
    ON CONFLICT (organization_id, user_id) DO UPDATE
    SET permissions = excluded.permissions, denied = excluded.denied, valid_until = excluded.valid_until;
END
$$;

COMMENT ON FUNCTION pliers._refresh_user_permissions(uuid, uuid, boolean) IS
'Private: recomputes the pliers.user_permissions row of a user under the lock of its users row (with '
'p_skip_locked, does nothing if another transaction holds that lock).';

CREATE OR REPLACE FUNCTION pliers._user_permissions(p_organization_id uuid, p_user_id uuid)
RETURNS TABLE (permissions text[], denied text[], valid_until timestamptz)
LANGUAGE sql
STABLE
AS $$
    SELECT
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
                WHERE ra.organization_id = u.organization_id
                    AND ra.user_id = u.id
                    AND ra.scope_type = 'organization'
                    AND ra.revoked_at IS NULL
                    AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
                UNION ALL
                SELECT j.key
                FROM pg_catalog.jsonb_each(u.permissions) AS j
                WHERE j.value = 'true'::jsonb
            ) AS g
            WHERE g.permission <> ALL(d.denied)
        ),
        d.denied,
        (
            SELECT coalesce(pg_catalog.min(ra.expires_at), 'infinity')
            FROM pliers.role_assignments AS ra
            WHERE ra.organization_id = u.organization_id
                AND ra.user_id = u.id
                AND ra.scope_type = 'organization'
                AND ra.revoked_at IS NULL
                AND ra.expires_at > pg_catalog.now()
        )
    FROM pliers.users AS u
    CROSS JOIN LATERAL (
        SELECT coalesce(pg_catalog.array_agg(j.key ORDER BY j.key), '{}') AS denied
        FROM pg_catalog.jsonb_each(u.permissions) AS j
        WHERE j.value = 'false'::jsonb
    ) AS d
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id
$$;

COMMENT ON FUNCTION pliers._user_permissions(uuid, uuid) IS
'Private: the organization-wide permissions of a user computed from users, roles and role_assignments now: '
'granted minus denied, the denials, and until when they hold (the first expiry of a counted assignment).';

CREATE OR REPLACE FUNCTION pliers._audit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_excluded text[];
    v_ignored text[];
    v_reason text := nullif(pg_catalog.current_setting('pliers.audit_reason', true), '');
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_diff jsonb;
    v_organization_id uuid;
    v_context text;
    v_context_organization_id uuid;
    v_user_id uuid;
    v_request record;
    v_name text;
    v_metadata jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_old := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := pg_catalog.to_jsonb(NEW);
    END IF;
    v_row := coalesce(v_new, v_old);

    -- The tenant of the row. A deleted organization cannot own its audit row (foreign key).
    IF TG_TABLE_NAME = 'organizations' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN NULL;
        END IF;
        v_organization_id := (v_row ->> 'id')::uuid;
    ELSE
        v_organization_id := (v_row ->> 'organization_id')::uuid;
    END IF;
    IF v_organization_id IS NULL THEN
        RETURN NULL;
    END IF;

    -- TG_ARGV[0]: columns never recorded; TG_ARGV[1]: columns whose change alone records
    -- nothing (text[] literals, written by pliers.enable_audit).
    IF TG_OP = 'UPDATE' THEN
        -- No-op update: nothing changed but the ignored columns. Decided first, on the
        -- whole rows: such updates (last_activity_at, last_used_at) are the commonest.
        v_ignored := coalesce(TG_ARGV[1], '{}')::text[] || '{updated_at,revision}'::text[];
        IF (v_old - v_ignored) = (v_new - v_ignored) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- Never recorded: the excluded columns and the secret ones (the row's keys are the
    -- table's columns as they are now, so a column added later is covered).
    v_excluded := coalesce(TG_ARGV[0], '{}')::text[] || ARRAY(
        SELECT k.key FROM pg_catalog.jsonb_object_keys(v_row) AS k (key) WHERE pliers.is_audit_secret(k.key)
    );
    IF TG_OP = 'UPDATE' THEN
        SELECT pg_catalog.jsonb_object_agg(
            n.key,
            CASE
                WHEN n.key = ANY(v_excluded) THEN '{"omitted": true}'::jsonb
                ELSE pg_catalog.jsonb_build_object('old', o.value, 'new', n.value)
            END
        )
        INTO v_diff
        FROM pg_catalog.jsonb_each(v_new) AS n
        INNER JOIN pg_catalog.jsonb_each(v_old) AS o ON n.key = o.key
        WHERE n.value IS DISTINCT FROM o.value AND n.key NOT IN ('updated_at', 'revision');
    END IF;

    v_old := v_old - v_excluded;
    v_new := v_new - v_excluded;
    v_row := coalesce(v_new, v_old);
    v_name := pg_catalog.left(coalesce(
        v_row ->> 'name', v_row ->> 'title', v_row ->> 'slug', v_row ->> 'email',
        v_row ->> 'submission_number', v_row ->> 'original_filename', v_row ->> 'filename', v_row ->> 'role'
    ), 255);

    SELECT r.* INTO v_request FROM pliers.current_request() AS r;
    v_metadata := pg_catalog.jsonb_build_object('transaction_id', pg_catalog.pg_current_xact_id()::text);
    IF v_request.correlation_id IS NOT NULL THEN
        v_metadata := v_metadata || pg_catalog.jsonb_build_object('correlation_id', v_request.correlation_id);
    END IF;

    -- Purge and erasure (pliers.purge_deleted, pliers.erase_user set pliers.audit_reason
    -- while they run) record that a row changed, never its values. Honoured only
    -- for a role that bypasses RLS (superuser or BYPASSRLS), as those functions require:
    -- the application cannot silence the audit by setting it.
    IF v_reason IS NOT NULL AND (
        SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user
    ) THEN
        v_old := NULL;
        v_new := NULL;
        v_diff := NULL;
        v_name := NULL;
        v_metadata := v_metadata || pg_catalog.jsonb_build_object('reason', v_reason, 'values', 'omitted');
    END IF;

    -- The acting user is recorded when the context is the row's tenant (audit_logs.user_id
    -- references a user of the row's organization); otherwise it goes to metadata.
    v_context := pg_catalog.current_setting('pliers.context', true);
    v_context_organization_id := v_request.organization_id;
    v_user_id := v_request.user_id;
    IF v_user_id IS NOT NULL AND (
        v_context_organization_id IS DISTINCT FROM v_organization_id
        OR (TG_TABLE_NAME = 'users' AND TG_OP = 'DELETE' AND v_user_id = (v_old ->> 'id')::uuid)
    ) THEN
        v_metadata := v_metadata || pg_catalog.jsonb_build_object(
            'actor_organization_id', v_context_organization_id, 'actor_user_id', v_user_id);
        v_user_id := NULL;
    END IF;

    -- A row of a tenant other than the context's reaches this trigger only through a
    -- write that was allowed: by a role that bypasses RLS, or by a foreign-key action
    -- (ON DELETE CASCADE / SET NULL), which PostgreSQL 16 and later run as the table
    -- owner under its FORCE'd policies. For that case the audit row is written in the
    -- row's tenant, then the context is restored.
    IF v_context_organization_id IS DISTINCT FROM v_organization_id
        AND pg_catalog.row_security_active('pliers.audit_logs'::regclass) THEN
        PERFORM pliers._store_context(pliers._context_payload(v_organization_id));
    ELSE
        v_context_organization_id := v_organization_id;
    END IF;

    INSERT INTO pliers.audit_logs (
        organization_id, action, resource_type, resource_id, resource_name,
        old_values, new_values, diff,
        user_id, session_id, ip_address, user_agent,
        status, metadata
    ) VALUES (
        v_organization_id,
        pg_catalog.lower(TG_OP),
        TG_TABLE_NAME,
        CASE
            WHEN v_row ->> 'id' ~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
                THEN (v_row ->> 'id')::uuid
        END,
        v_name,
        v_old,
        v_new,
        v_diff,
        v_user_id,
        v_request.session_id,
        v_request.ip_address,
        v_request.user_agent,
        'success',
        v_metadata
    );
    IF v_context_organization_id IS DISTINCT FROM v_organization_id THEN
        PERFORM pg_catalog.set_config('pliers.context', v_context, true);
    END IF;
    RETURN NULL;
END
$function$;

COMMENT ON FUNCTION pliers._audit() IS
'Trigger function of the <table>_audit triggers (AFTER INSERT OR UPDATE OR DELETE, row) that pliers.enable_audit '
'creates: one pliers.audit_logs row per changed row (action insert/update/delete, resource_type = table name, '
'old_values, new_values, diff {"column": {"old", "new"}} of updates, actor and request from the tenant context, '
'status success). No row for an update that changes only updated_at, revision or the ignored columns, nor for rows '
'without a tenant. Secret columns (pliers.is_audit_secret) and the excluded columns are never recorded: a change to '
'one shows in diff as {"omitted": true}. TG_ARGV: excluded columns, ignored columns (text[] literals).';

CREATE OR REPLACE FUNCTION pliers._lock_form(p_form_id uuid)
RETURNS pliers.forms
LANGUAGE plpgsql
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
    WHERE f.organization_id = pliers.current_organization_id() AND f.id = p_form_id AND f.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers._lock_form(uuid) IS
'Private: the live form version p_form_id of the current tenant, locked FOR UPDATE (writers of one version queue); '
'PL001 when p_form_id is NULL, PL002 when it is unknown, deleted or another tenant''s.';

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

CREATE OR REPLACE FUNCTION pliers._submission_attachments(p_submission_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
BEGIN
    RETURN (
        SELECT coalesce(pg_catalog.jsonb_object_agg(
            a.id::text,
            pg_catalog.jsonb_build_object('mime_type', a.mime_type, 'file_size_bytes', a.file_size_bytes)
        ), '{}')
        FROM pliers.attachments AS a
        WHERE
            a.organization_id = pliers.current_organization_id()
            AND a.submission_id = p_submission_id
            AND a.deleted_at IS NULL
    );
END
$$;

COMMENT ON FUNCTION pliers._submission_attachments(uuid) IS
'Private: the live attachments of a submission as {"<id>": {mime_type, file_size_bytes}}, the p_attachments '
'argument of pliers.validate_submission_data (file answers must name them; accept and maxSizeBytes are checked).';

CREATE OR REPLACE FUNCTION pliers.revoke_api_key(p_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    PERFORM pliers._require_permission('api_key.manage');

    UPDATE pliers.api_keys AS k
    SET revoked_at = pg_catalog.now(), revoked_by = pliers.current_user_id()
    WHERE k.organization_id = pliers.current_organization_id()
        AND k.id = p_id
        AND k.revoked_at IS NULL;

    IF NOT FOUND AND NOT EXISTS (
        SELECT
        FROM pliers.api_keys AS k
        WHERE k.organization_id = pliers.current_organization_id() AND k.id = p_id
    ) THEN
        RAISE EXCEPTION 'API key % not found', p_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'api_key', 'id', p_id)::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.revoke_api_key(uuid) IS
'Revokes an API key of the current organization (needs api_key.manage, else PL006); it never authenticates again. '
'Idempotent: an already revoked key stays as it was. A key of no (or another) organization raises PL002.';

CREATE OR REPLACE FUNCTION pliers.create_webhook(
    p_name text,
    p_url text,
    p_events text[],
    p_secret_ciphertext bytea,
    p_secret_key_id text,
    p_headers jsonb DEFAULT '{}'
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
    v_id uuid;
BEGIN
    PERFORM pliers._require_permission('webhook.manage');

    IF p_name IS NULL OR pg_catalog.btrim(p_name) = '' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'required', 'message', 'a name is required');
    ELSIF pg_catalog.length(p_name) > 255 THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'too_long', 'message', 'at most 255 characters');
    END IF;
    IF p_url IS NULL OR p_url !~ '^https?://' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'url', 'code', 'invalid_format', 'message', 'an absolute http(s) URL is required');
    END IF;
    IF coalesce(pg_catalog.cardinality(p_events), 0) = 0
        OR EXISTS (SELECT FROM pg_catalog.unnest(p_events) AS e (name) WHERE coalesce(pg_catalog.btrim(e.name), '') = '') THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'events', 'code', 'invalid', 'message', 'at least one event name, none blank');
    END IF;
    v_errors := v_errors || pliers._check_text_array('events', p_events, 100, 255);
    IF (p_secret_ciphertext IS NULL) <> (p_secret_key_id IS NULL) THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'secret_key_id', 'code', 'secret_incomplete',
            'message', 'the secret ciphertext and the id of its key go together');
    END IF;
    IF p_headers IS NULL OR pg_catalog.jsonb_typeof(p_headers) <> 'object' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'headers', 'code', 'invalid', 'message', 'headers must be a JSON object');
    END IF;
    IF pg_catalog.jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION 'invalid webhook parameters'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', v_errors)::text;
    END IF;

    INSERT INTO pliers.webhooks AS w (
        organization_id, name, url, events, headers, secret_ciphertext, secret_key_id, created_by
    )
    VALUES (
        pliers.current_organization_id(), p_name, p_url, p_events, p_headers,
        p_secret_ciphertext, p_secret_key_id, pliers.current_user_id()
    )
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION pliers.create_webhook(text, text, text[], bytea, text, jsonb) IS
'Creates a webhook of the current organization (needs webhook.manage, else PL006; no context: PL008) and returns '
'its id. The signing secret arrives encrypted by the Python library (p_secret_ciphertext, with the id of its key); '
'tenants can never read it back, only the delivery worker (role pliers_worker). Bad arguments raise PL001.';

COMMENT ON TRIGGER audit_logs_append_only ON pliers.audit_logs IS
'Audit rows are append-only: UPDATE and DELETE raise PL005, except the users foreign key''s SET NULL and maintenance';
COMMENT ON TRIGGER events_append_only ON pliers.events IS
'Events are append-only: UPDATE and DELETE raise PL005, except processed_at/processing_errors by a member of '
'pliers_worker, the users foreign key''s SET NULL, and maintenance (see pliers._history_append_only)';

DROP FUNCTION pliers.list_attachments(uuid);
DROP FUNCTION pliers.get_submission(uuid);
DROP FUNCTION pliers.list_forms(uuid, text, pliers.form_status, boolean);
CREATE OR REPLACE FUNCTION pliers.create_partitions(p_parent regclass, p_from date, p_to date)
RETURNS TABLE (partition_name text, created boolean, rows_moved bigint)
LANGUAGE plpgsql
SET search_path = ''
SET timezone = 'UTC'
SET datestyle = 'ISO, YMD'
AS $function$
DECLARE
    c_max_months CONSTANT integer := 120;
    v_parent record;
    v_first date;
    v_last date;
    v_month date;
    v_lower timestamptz;
    v_upper timestamptz;
    v_name name;
    v_existing regclass;
    v_new regclass;
    v_columns text;
    v_moved bigint;
    v_locked boolean := false;
    v_busy boolean;
BEGIN
    IF p_from IS NULL OR NOT pg_catalog.isfinite(p_from) THEN
        RAISE EXCEPTION 'p_from must be a finite date'
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_from', 'value', p_from)::text;
    END IF;
    IF p_to IS NULL OR NOT pg_catalog.isfinite(p_to) THEN
        RAISE EXCEPTION 'p_to must be a finite date'
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_to', 'value', p_to)::text;
    END IF;
    IF p_from > p_to THEN
        RAISE EXCEPTION 'p_from (%) is after p_to (%)', p_from, p_to
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_from', 'value', p_from)::text;
    END IF;
    v_first := pg_catalog.make_date(
        pg_catalog.date_part('year', p_from)::integer, pg_catalog.date_part('month', p_from)::integer, 1);
    v_last := pg_catalog.make_date(
        pg_catalog.date_part('year', p_to)::integer, pg_catalog.date_part('month', p_to)::integer, 1);
    IF (pg_catalog.date_part('year', v_last) - pg_catalog.date_part('year', v_first)) * 12
       + pg_catalog.date_part('month', v_last) - pg_catalog.date_part('month', v_first) + 1 > c_max_months THEN
        RAISE EXCEPTION 'at most % months can be created in one call', c_max_months
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_to', 'value', p_to)::text;
    END IF;
    SELECT * INTO v_parent FROM pliers._partitioned_parent(p_parent);

    -- Under REPEATABLE READ the catalog re-check below could not see partitions
    -- committed by a concurrent call while this one waited for the lock.
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'pliers.create_partitions must run in a READ COMMITTED transaction'
            USING ERRCODE = '25000';
    END IF;
    -- One maintenance call per parent at a time (shared with detach_partitions);
    -- each month is checked again once the lock is held.
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtext('pliers.partition_maintenance'), p_parent::oid::integer);

    -- Column list of the parent, to move rows without relying on column positions.
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
      INTO v_columns
      FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';

    v_month := v_first;
    WHILE v_month <= v_last LOOP
        v_lower := v_month::timestamp AT TIME ZONE 'UTC';
        v_upper := (v_month + INTERVAL '1 month')::timestamp AT TIME ZONE 'UTC';
        v_name := pg_catalog.format('%s_p%s', v_parent.parent_name, pg_catalog.to_char(v_month, 'YYYY_MM'));

        SELECT b.partition_oid INTO v_existing
          FROM pliers._partition_bounds(p_parent) AS b
         WHERE NOT b.is_default AND b.lower_bound <= v_lower AND b.upper_bound >= v_upper
         LIMIT 1;

        IF v_existing IS NOT NULL THEN
            SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO partition_name
              FROM pg_catalog.pg_class AS c
              JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
             WHERE c.oid = v_existing;
            created := false;
            rows_moved := 0;
        ELSE
            IF NOT v_locked THEN
                -- Lock the parent once, before its DEFAULT partition (always in that
                -- order). ATTACH needs SHARE UPDATE EXCLUSIVE, which lets writers go on.
                -- But an INSERT that routed a row to the DEFAULT partition before the
                -- ATTACH fails once the ATTACH commits (23514, partition constraint):
                -- if the DEFAULT partition already holds rows of the months still to
                -- create, such rows are arriving now, so block the writers of the
                -- parent (SHARE ROW EXCLUSIVE; readers go on) until commit instead.
                v_busy := false;
                IF v_parent.default_partition IS NOT NULL THEN
                    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s WHERE %I >= $1 AND %I < $2)',
                                              v_parent.default_partition, v_parent.key_column, v_parent.key_column)
                        INTO v_busy
                        USING v_lower, (v_last + INTERVAL '1 month')::timestamp AT TIME ZONE 'UTC';
                END IF;
                EXECUTE pg_catalog.format('LOCK TABLE %I.%I IN %s MODE',
                                          v_parent.parent_schema, v_parent.parent_name,
                                          CASE WHEN v_busy THEN 'SHARE ROW EXCLUSIVE' ELSE 'SHARE UPDATE EXCLUSIVE' END);
                v_locked := true;
            END IF;
            partition_name := pg_catalog.format('%I.%I', v_parent.parent_schema, v_name);

            -- pg_partman's way: a standalone table, filled, then attached. CREATE TABLE
            -- ... PARTITION OF would lock the parent ACCESS EXCLUSIVE and would fail
            -- while the DEFAULT partition holds rows of the month. Indexes are not
            -- copied: ATTACH builds them, after the rows are in.
            EXECUTE pg_catalog.format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING ALL EXCLUDING INDEXES)',
                                      v_parent.parent_schema, v_name,
                                      v_parent.parent_schema, v_parent.parent_name);
            v_new := pg_catalog.to_regclass(partition_name);
            -- A partition belongs to the owner of its parent, whoever runs maintenance.
            IF (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = v_new)
               <> (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = p_parent) THEN
                EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', v_new,
                    (SELECT r.rolname FROM pg_catalog.pg_class AS c
                       JOIN pg_catalog.pg_roles AS r ON r.oid = c.relowner
                      WHERE c.oid = p_parent));
            END IF;

            v_moved := 0;
            IF v_parent.default_partition IS NOT NULL THEN
                -- ATTACH takes this lock too; holding it now also keeps new rows of
                -- the month from entering the DEFAULT partition after the move.
                EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_parent.default_partition);
                EXECUTE pg_catalog.format(
                    'WITH moved AS (DELETE FROM %1$s WHERE %2$I >= $1 AND %2$I < $2 RETURNING %3$s) '
                    'INSERT INTO %4$s (%3$s) SELECT %3$s FROM moved',
                    v_parent.default_partition, v_parent.key_column, v_columns, v_new)
                    USING v_lower, v_upper;
                GET DIAGNOSTICS v_moved = ROW_COUNT;
            END IF;

            EXECUTE pg_catalog.format('ALTER TABLE %I.%I ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                                      v_parent.parent_schema, v_parent.parent_name, v_new,
                                      pg_catalog.to_char(v_month, 'YYYY-MM-DD') || ' 00:00:00+00',
                                      pg_catalog.to_char(v_month + INTERVAL '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
            EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', v_new,
                pg_catalog.format('Partition of %I.%I for %s (UTC), created by pliers.create_partitions.',
                                  v_parent.parent_schema, v_parent.parent_name,
                                  pg_catalog.to_char(v_month, 'YYYY-MM')));
            created := true;
            rows_moved := v_moved;
        END IF;
        RETURN NEXT;
        v_month := v_month + INTERVAL '1 month';
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.create_partitions(regclass, date, date) IS
'Creates the monthly partitions <parent>_pYYYY_MM of p_parent (pliers.events, pliers.audit_logs) for every month '
'from the month of p_from to the month of p_to (at most 120), bounds at UTC month starts. Idempotent: a month '
'already covered by a partition is reported with created = false. Rows of a new month found in the DEFAULT '
'partition are moved into the new partition (rows_moved). Safe to run concurrently (advisory lock per parent, '
'READ COMMITTED required). When it creates a partition it locks the parent SHARE UPDATE EXCLUSIVE (writers go on), '
'or SHARE ROW EXCLUSIVE (writers wait) if the DEFAULT partition holds rows to move, and the DEFAULT partition '
'ACCESS EXCLUSIVE: run it in its own short transaction with a lock_timeout, months ahead of need. '
'Bad arguments raise PL009.';

CREATE OR REPLACE FUNCTION pliers._history_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    -- TG_ARGV[0]: the table as named to users; TG_ARGV[1]: its processing columns (text[] literal).
    v_processing text[] := coalesce(TG_ARGV[1], '{}')::text[];
    v_old jsonb;
    v_new jsonb;
BEGIN
    IF TG_LEVEL = 'ROW' AND pg_catalog.pg_has_role(current_user, 'pliers_owner', 'USAGE') THEN
        IF pg_catalog.current_setting('pliers.maintenance', true) = 'on' THEN
            RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
        END IF;
        -- pliers.create_partitions locks the DEFAULT partition ACCESS EXCLUSIVE, then
        -- moves the rows of the new month out of it. The lock lasts until the end of the
        -- transaction: once seen, it is remembered for the other rows of the move.
        IF TG_OP = 'DELETE' THEN
            IF pg_catalog.current_setting('pliers.moving_rows', true)
                = TG_RELID::oid::text || '@' || pg_catalog.pg_current_xact_id()::text THEN
                RETURN OLD;
            END IF;
            IF EXISTS (SELECT FROM pg_catalog.pg_partitioned_table AS p WHERE p.partdefid = TG_RELID)
                AND EXISTS (
                    SELECT
                    FROM pg_catalog.pg_locks AS l
                    WHERE
                        l.locktype = 'relation' AND l.relation = TG_RELID AND l.pid = pg_catalog.pg_backend_pid()
                        AND l.mode = 'AccessExclusiveLock' AND l.granted
                ) THEN
                PERFORM pg_catalog.set_config(
                    'pliers.moving_rows', TG_RELID::oid::text || '@' || pg_catalog.pg_current_xact_id()::text, true
                );
                RETURN OLD;
            END IF;
        END IF;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        v_old := pg_catalog.to_jsonb(OLD);
        v_new := pg_catalog.to_jsonb(NEW);
        -- ON DELETE SET NULL (user_id) of the users foreign key.
        IF v_old ->> 'user_id' IS NOT NULL AND v_new ->> 'user_id' IS NULL THEN
            v_old := v_old - 'user_id';
            v_new := v_new - 'user_id';
        END IF;
        IF v_old = v_new THEN
            RETURN NEW;
        END IF;
        IF (v_old - v_processing) = (v_new - v_processing)
            AND (
                pg_catalog.pg_has_role(current_user, 'pliers_worker', 'USAGE')
                OR pg_catalog.pg_has_role(current_user, 'pliers_owner', 'USAGE')
            ) THEN
            RETURN NEW;
        END IF;
    END IF;

    RAISE EXCEPTION 'pliers.% is append-only: % refused', TG_ARGV[0], pg_catalog.lower(TG_OP)
        USING
            ERRCODE = 'PL005',
            DETAIL = pg_catalog.jsonb_build_object(
                'object', TG_ARGV[0],
                'id', CASE WHEN TG_LEVEL = 'ROW' THEN OLD.id END,
                'operation', pg_catalog.lower(TG_OP)
            )::text,
            HINT = CASE
                WHEN TG_ARGV[1] IS NOT NULL
                    THEN 'Only ' || pg_catalog.array_to_string(v_processing, ', ')
                    || ' may change, by a member of pliers_worker.'
                ELSE 'Rows leave the table only when their partition is detached (pliers.run_maintenance).'
            END;
END
$function$;

COMMENT ON FUNCTION pliers._history_append_only() IS
'Trigger function of <table>_append_only (BEFORE UPDATE OR DELETE, row) and <table>_append_only_truncate '
'(BEFORE TRUNCATE, statement) on pliers.events and pliers.audit_logs: raises PL005 (DETAIL {object, id, operation}) '
'unless the update changes only the processing columns given as TG_ARGV[1] (by a member of pliers_worker or '
'pliers_owner), or only sets user_id to NULL (the users foreign key''s ON DELETE SET NULL), or a member of '
'pliers_owner deletes from a DEFAULT partition it has locked ACCESS EXCLUSIVE (pliers.create_partitions moving '
'rows) or changes rows while the setting pliers.maintenance is ''on'' (pliers.erase_user). TG_ARGV[0] names the table.';

CREATE OR REPLACE FUNCTION pliers._forms_immutable_published()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    frozen constant text[] := ARRAY[
        'organization_id', 'id', 'name', 'slug', 'version', 'definition', 'settings',
        'parent_id', 'published_at', 'published_by', 'created_at', 'created_by'
    ];
    old_row constant jsonb := to_jsonb(OLD);
    new_row constant jsonb := to_jsonb(NEW);
    changed text[];
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN NEW;
    END IF;

    SELECT coalesce(array_agg(col ORDER BY col), '{}')
    INTO changed
    FROM unnest(frozen) AS col
    WHERE old_row -> col IS DISTINCT FROM new_row -> col
        -- ON DELETE SET NULL of a hard-deleted author arrives from the FK's own
        -- trigger (depth > 1): clearing the reference is not a content change.
        AND NOT (
            col IN ('created_by', 'published_by')
            AND new_row -> col = 'null'::jsonb
            AND pg_catalog.pg_trigger_depth() > 1
        );

    IF NEW.status = 'draft' THEN
        changed := changed || 'status'::text;
    END IF;

    IF cardinality(changed) > 0 THEN
        RAISE EXCEPTION 'form % version % is % and cannot change', OLD.id, OLD.version, OLD.status
            USING
                ERRCODE = 'PL005',
                DETAIL = jsonb_build_object(
                    'object', 'form',
                    'id', OLD.id,
                    'status', OLD.status,
                    'columns', to_jsonb(changed)
                )::text,
                HINT = 'Create a new draft version of the form instead.';
    END IF;

    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._forms_immutable_published() IS
'BEFORE UPDATE trigger of forms. On a non-draft row (published, deprecated, archived), raises PL005 '
'(DETAIL {object, id, status, columns}) if any of organization_id, id, name, slug, version, definition, settings, '
'parent_id, published_at, published_by, created_at, created_by changes, or if status goes back to draft. '
'Still allowed: status among published/deprecated/archived, is_latest, deprecated_at, deleted_at, visibility, '
'permissions, category, tags, metadata, updated_at, updated_by, revision.';

CREATE OR REPLACE FUNCTION pliers.purge_deleted(p_older_than interval DEFAULT '90 days')
RETURNS TABLE (table_name text, rows_purged bigint, rows_kept bigint)
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    -- Children before parents: attachments reference submissions and forms, submissions
    -- reference forms and teams, everything references users.
    c_tables CONSTANT text[] := ARRAY['attachments', 'submissions', 'workflows', 'forms', 'teams', 'users'];
    v_cutoff timestamptz;
    v_table text;
    v_guard text;
    v_row record;
    v_pass bigint;
    v_saved_reason text := pg_catalog.current_setting('pliers.audit_reason', true);
BEGIN
    IF p_older_than IS NULL OR p_older_than < INTERVAL '0' THEN
        RAISE EXCEPTION 'p_older_than must be a period of at least 0'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_older_than', 'value', p_older_than)::text;
    END IF;
    PERFORM pliers._require_rls_bypass('pliers.purge_deleted');
    v_cutoff := pg_catalog.now() - p_older_than;
    PERFORM pg_catalog.set_config('pliers.audit_reason', 'purge_deleted', true);

    FOREACH v_table IN ARRAY c_tables LOOP
        table_name := 'pliers.' || v_table;
        rows_purged := 0;
        -- Rows still referenced through a NO ACTION / RESTRICT foreign key stay (a deleted
        -- form that still has submissions, a user who uploaded an attachment, ...).
        SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
            ' AND NOT EXISTS (SELECT FROM %s AS r WHERE %s)',
            c.conrelid::regclass,
            (
                SELECT pg_catalog.string_agg(pg_catalog.format('r.%I = t.%I', ra.attname, ta.attname), ' AND ')
                FROM unnest(c.conkey, c.confkey) AS k (referencing, referenced)
                INNER JOIN pg_catalog.pg_attribute AS ra ON ra.attrelid = c.conrelid AND ra.attnum = k.referencing
                INNER JOIN pg_catalog.pg_attribute AS ta ON ta.attrelid = c.confrelid AND ta.attnum = k.referenced
            )
        ), ''), '')
        INTO v_guard
        FROM pg_catalog.pg_constraint AS c
        WHERE
            c.contype = 'f' AND c.conparentid = 0 AND c.confdeltype IN ('a', 'r')
            AND c.confrelid = pg_catalog.to_regclass(table_name);

        -- Row by row: a row that some other rule keeps (a published form's immutable
        -- columns, ...) is skipped, not fatal. Repeated while rows go: a deleted form
        -- version is purged once the deleted version that points at it is gone.
        LOOP
            v_pass := 0;
            FOR v_row IN EXECUTE pg_catalog.format(
                'SELECT t.organization_id, t.id FROM %s AS t WHERE t.deleted_at < $1%s ORDER BY t.deleted_at',
                table_name, v_guard
            ) USING v_cutoff LOOP
                BEGIN
                    EXECUTE pg_catalog.format('DELETE FROM %s WHERE organization_id = $1 AND id = $2', table_name)
                    USING v_row.organization_id, v_row.id;
                    v_pass := v_pass + 1;
                EXCEPTION WHEN foreign_key_violation OR restrict_violation OR SQLSTATE 'PL005' THEN
                    NULL;
                END;
            END LOOP;
            rows_purged := rows_purged + v_pass;
            EXIT WHEN v_pass = 0;
        END LOOP;
        EXECUTE pg_catalog.format('SELECT count(*) FROM %s WHERE deleted_at < $1', table_name)
        INTO rows_kept USING v_cutoff;
        RETURN NEXT;
    END LOOP;
    PERFORM pg_catalog.set_config('pliers.audit_reason', coalesce(v_saved_reason, ''), true);
END
$function$;

COMMENT ON FUNCTION pliers.purge_deleted(interval) IS
'Hard-deletes the rows soft-deleted (deleted_at) more than p_older_than ago (default 90 days) in attachments, '
'submissions, workflows, forms, teams and users, children first, across all tenants; returns per table the rows '
'purged and the rows kept because something still references them (a NO ACTION foreign key, an immutable published '
'form). Cascades and SET NULL actions follow the foreign keys. Audited: each deleted row gets an audit row without '
'values (metadata.reason = purge_deleted). Organizations are never purged (their history references them). '
'Stored files of purged attachments are the application''s to delete. Must run as a role that bypasses RLS (else '
'PL006); a negative period raises PL009. Owner/DBA only.';

CREATE OR REPLACE FUNCTION pliers._set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to the transaction time. Used by every <table>_updated_at trigger.';

CREATE OR REPLACE FUNCTION pliers.update_form(
    p_form_id uuid,
    p_expected_revision integer,
    p_name text DEFAULT NULL,
    p_definition jsonb DEFAULT NULL,
    p_settings jsonb DEFAULT NULL,
    p_visibility pliers.form_visibility DEFAULT NULL,
    p_category text DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL,
    p_permissions jsonb DEFAULT NULL
)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_errors jsonb := '[]';
    v_changes jsonb := '{}';
    v_frozen text[] := '{}';
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.edit', 'form', v_form.id);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);

    -- Content is frozen once published (as trigger forms_immutable_published enforces).
    IF v_form.status <> 'draft' THEN
        IF p_name IS NOT NULL THEN
            v_frozen := v_frozen || 'name'::text;
        END IF;
        IF p_definition IS NOT NULL THEN
            v_frozen := v_frozen || 'definition'::text;
        END IF;
        IF p_settings IS NOT NULL THEN
            v_frozen := v_frozen || 'settings'::text;
        END IF;
        IF pg_catalog.cardinality(v_frozen) > 0 THEN
            RAISE EXCEPTION 'form % version % is % and cannot change', v_form.id, v_form.version, v_form.status
                USING
                    ERRCODE = 'PL005',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'object', 'form', 'id', v_form.id, 'status', v_form.status,
                        'columns', pg_catalog.to_jsonb(v_frozen)
                    )::text,
                    HINT = 'Create a new draft version with pliers.create_form_version.';
        END IF;
    END IF;

    v_errors := pliers._check_form_attributes(p_name, p_settings, p_category, p_tags, p_metadata, p_permissions);
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_form_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the form is not valid', v_errors);
    END IF;

    SELECT coalesce(pg_catalog.jsonb_object_agg(c.key, c.value), '{}')
    INTO v_changes
    FROM (
        VALUES
        ('name', pg_catalog.to_jsonb(p_name), pg_catalog.to_jsonb(v_form.name)),
        ('definition', p_definition, v_form.definition),
        ('settings', p_settings, v_form.settings),
        ('visibility', pg_catalog.to_jsonb(p_visibility), pg_catalog.to_jsonb(v_form.visibility)),
        ('category', pg_catalog.to_jsonb(p_category), pg_catalog.to_jsonb(v_form.category)),
        ('tags', pg_catalog.to_jsonb(p_tags), pg_catalog.to_jsonb(v_form.tags)),
        ('metadata', p_metadata, v_form.metadata),
        ('permissions', p_permissions, v_form.permissions)
    ) AS c (key, value, old_value)
    WHERE c.value IS NOT NULL AND c.value IS DISTINCT FROM c.old_value;

    IF v_changes = '{}' THEN
        RETURN v_form;  -- nothing changes: no write, no event
    END IF;

    UPDATE pliers.forms AS f
    SET
        name = coalesce(p_name, f.name),
        definition = coalesce(p_definition, f.definition),
        settings = coalesce(p_settings, f.settings),
        visibility = coalesce(p_visibility, f.visibility),
        category = coalesce(p_category, f.category),
        tags = coalesce(p_tags, f.tags),
        metadata = coalesce(p_metadata, f.metadata),
        permissions = coalesce(p_permissions, f.permissions),
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.updated', pg_catalog.jsonb_build_object('changes', v_changes)
    );
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers.update_form(
    uuid, integer, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb
) IS
'Edits a form version; NULL arguments leave their column unchanged. p_expected_revision is required (PL001 '
'without it, PL003 when stale: nothing is written). name, definition and settings change only on a draft (PL005, '
'DETAIL {object, id, status, columns}); visibility, category, tags, metadata and permissions on any version. The '
'definition is validated when saved (PL001 with every error). Permission form.edit on the form. PL002, PL006, '
'PL008. Appends form.updated (payload {changes: {column: new value}}) unless nothing changes.';

CREATE OR REPLACE FUNCTION pliers.delete_form(p_form_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.delete', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    IF v_form.status <> 'draft' THEN
        RAISE EXCEPTION 'form % version % is % and cannot be deleted', v_form.id, v_form.version, v_form.status
            USING
                ERRCODE = 'PL005',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'form', 'id', v_form.id, 'status', v_form.status,
                    'columns', pg_catalog.jsonb_build_array('deleted_at')
                )::text,
                HINT = 'Published versions are archived (pliers.archive_form), not deleted.';
    END IF;

    UPDATE pliers.forms AS f
    SET deleted_at = pg_catalog.now(), updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.deleted',
        pg_catalog.jsonb_build_object('deleted_at', v_form.deleted_at, 'slug', v_form.slug)
    );
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers.delete_form(uuid, integer) IS
'Discards a draft version (soft delete: deleted_at). Deleting the first draft of a form frees its slug. Only '
'drafts: PL005 otherwise (published versions are archived). Permission form.delete on the form. PL002, PL003 '
'(stale p_expected_revision, when given), PL006, PL008. Appends form.deleted.';

CREATE OR REPLACE FUNCTION pliers.publish_form(p_form_id uuid, p_version text, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_previous pliers.forms;
    v_breaking jsonb := '[]';
    v_superseded record;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.publish', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    IF v_form.status <> 'draft' THEN
        RAISE EXCEPTION 'form % version % is % and cannot be published', v_form.id, v_form.version, v_form.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'form', 'id', v_form.id, 'from', v_form.status, 'to', 'published'
                )::text;
    END IF;
    IF p_version IS NULL OR pg_catalog.length(p_version) > 20
        OR p_version !~ '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$' THEN
        PERFORM pliers._raise_invalid(
            'invalid version',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'version', 'invalid_version', 'the version is MAJOR.MINOR.PATCH, e.g. 1.2.0 (no leading zeros)'
            ))
        );
    END IF;
    PERFORM pliers.assert_valid_form_definition(v_form.definition);

    -- The previous version: the highest published one of the slug (deprecated and archived included).
    SELECT f.* INTO v_previous
    FROM pliers.forms AS f
    WHERE
        f.organization_id = v_org
        AND f.slug = v_form.slug
        AND f.deleted_at IS NULL
        AND f.published_at IS NOT NULL
    ORDER BY pliers._semver_key(f.version) DESC
    LIMIT 1;

    IF v_previous.id IS NOT NULL THEN
        IF pliers._semver_key(p_version) <= pliers._semver_key(v_previous.version) THEN
            PERFORM pliers._raise_invalid(
                'the version must be greater than every published version',
                pg_catalog.jsonb_build_array(pliers._form_error(
                    'version', 'version_not_greater',
                    pg_catalog.format('%s is not greater than the published version %s', p_version, v_previous.version)
                )),
                pg_catalog.jsonb_build_object('latest_version', v_previous.version)
            );
        END IF;
        v_breaking := pliers.form_breaking_changes(v_previous.definition, v_form.definition);
        IF v_breaking <> '[]'
            AND (pliers._semver_key(p_version))[1] <= (pliers._semver_key(v_previous.version))[1] THEN
            PERFORM pliers._raise_invalid(
                'breaking changes need a new major version',
                pg_catalog.jsonb_build_array(pliers._form_error(
                    'version', 'major_version_required',
                    pg_catalog.format(
                        'the definition breaks answers valid under %s (%s changes): publish %s.0.0 or higher',
                        v_previous.version, pg_catalog.jsonb_array_length(v_breaking),
                        (pliers._semver_key(v_previous.version))[1] + 1
                    )
                )),
                pg_catalog.jsonb_build_object('latest_version', v_previous.version, 'breaking_changes', v_breaking)
            );
        END IF;
    END IF;

    -- Move the latest flag: clear the old latest first (the unique index is checked per row).
    FOR v_superseded IN
        UPDATE pliers.forms AS f
        SET is_latest = FALSE, updated_by = pliers.current_user_id()
        WHERE
            f.organization_id = v_org
            AND f.slug = v_form.slug
            AND f.is_latest
            AND f.deleted_at IS NULL
            AND f.id <> v_form.id
        RETURNING f.id, f.revision
    LOOP
        PERFORM pliers._append_event(
            'form', v_superseded.id, v_superseded.revision, 'form.updated',
            pg_catalog.jsonb_build_object(
                'changes', pg_catalog.jsonb_build_object('is_latest', FALSE), 'superseded_by', v_form.id
            )
        );
    END LOOP;

    UPDATE pliers.forms AS f
    SET
        status = 'published',
        version = p_version,
        published_at = pg_catalog.now(),
        published_by = pliers.current_user_id(),
        is_latest = TRUE,
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;
    -- Its answers are validated by a function of its own from now on (sql/43).
    PERFORM pliers._compile_validator(v_form);

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.published',
        pg_catalog.jsonb_build_object(
            'from', 'draft',
            'to', 'published',
            'version', v_form.version,
            'published_at', v_form.published_at,
            'published_by', v_form.published_by,
            'is_latest', TRUE,
            'previous_version_id', v_previous.id,
            'previous_version', v_previous.version,
            'breaking_changes', v_breaking
        )
    );
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers.publish_form(uuid, text, integer) IS
'Publishes a draft version as p_version (MAJOR.MINOR.PATCH): sets status, version, published_at/by, and makes it '
'the latest version of its slug (the previous latest loses the flag and gets a form.updated event). The definition '
'must be valid (PL001), p_version greater than every published version of the slug (PL001 code '
'version_not_greater), and a major bump is required when form_breaking_changes(previous published definition, this '
'one) is not empty (PL001 code major_version_required; DETAIL also has breaking_changes and latest_version). '
'Not a draft: PL004 {from, to}. Permission form.publish on the form. PL002, PL003 (stale p_expected_revision, '
'when given), PL006, PL008. Appends form.published (payload: version, published_at/by, previous version, '
'breaking changes). Compiles the version''s validator (pliers._compile_validator).';

CREATE OR REPLACE FUNCTION pliers._change_form_status(
    p_form_id uuid,
    p_to pliers.form_status,
    p_expected_revision integer
)
RETURNS pliers.forms
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_from pliers.form_status;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.publish', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    v_from := v_form.status;
    IF NOT EXISTS (
        SELECT FROM pliers.form_status_moves() AS m
        WHERE m.from_status = v_from AND m.to_status = p_to AND m.via <> 'publish_form'
    ) THEN
        RAISE EXCEPTION 'form % version % cannot go from % to %', v_form.id, v_form.version, v_from, p_to
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'id', v_form.id, 'from', v_from, 'to', p_to)::text,
                HINT = 'The allowed moves are listed by pliers.form_status_moves().';
    END IF;

    UPDATE pliers.forms AS f
    SET
        status = p_to,
        deprecated_at = CASE WHEN p_to = 'deprecated' THEN pg_catalog.now() ELSE f.deprecated_at END,
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.' || p_to::text,
        pg_catalog.jsonb_build_object('from', v_from, 'to', p_to, 'deprecated_at', v_form.deprecated_at)
    );
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers._change_form_status(uuid, pliers.form_status, integer) IS
'Private: deprecate_form and archive_form. Checks the move against pliers.form_status_moves() (PL004 {from, to}), '
'then sets the status (and deprecated_at) and appends form.deprecated or form.archived ({from, to, deprecated_at}).';

CREATE OR REPLACE FUNCTION pliers.update_submission(
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

CREATE OR REPLACE FUNCTION pliers.set_submission_status(
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
        status = p_status,
        completed_at = CASE WHEN p_status = 'completed' THEN pg_catalog.now() ELSE s.completed_at END
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

CREATE OR REPLACE FUNCTION pliers.assign_submission(
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
    SET assigned_to = p_user_id, assigned_team_id = p_team_id
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

CREATE OR REPLACE FUNCTION pliers.delete_submission(p_submission_id uuid, p_expected_revision integer DEFAULT NULL)
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
    SET deleted_at = pg_catalog.now(), deleted_by = pliers.current_user_id()
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

CREATE OR REPLACE FUNCTION pliers.attach_file(
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

CREATE OR REPLACE FUNCTION pliers.detach_file(p_attachment_id uuid, p_expected_revision integer DEFAULT NULL)
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
        coalesce(v_attachment.metadata ->> 'field', ''), '([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]', 'g'
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
    v_final_errors jsonb[];
    v_count integer;
    v_last timestamptz;
    v_constraint text;
    v_key text;
BEGIN
    SELECT r.ip_address, r.user_agent INTO v_ip, v_agent FROM pliers.current_request() AS r;
    v_form := pliers._get_form(v_org, p_form_id);
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
    -- by the version's compiled validator (_check_answers, as create_submission), its defaults
    -- filled in. The valid rows are kept for the insert, in row order (unnest and the
    -- nested loops keep the array's order: no sort of the wide rows).
    SELECT
        v_errors || coalesce(pg_catalog.jsonb_agg(e.error ORDER BY c.ord, e.n) FILTER (WHERE e.n IS NOT NULL), '[]'),
        v_error_count + pg_catalog.count(e.n),
        pg_catalog.array_agg(c.checked) FILTER (WHERE e.n IS NULL),
        pg_catalog.array_agg(c.ord) FILTER (WHERE e.n IS NULL),
        pg_catalog.array_agg(c.final_errors) FILTER (WHERE e.n IS NULL),
        pg_catalog.max((c.checked).created_at) FILTER (WHERE e.n IS NULL)
    INTO v_errors, v_error_count, v_rows, v_ords, v_final_errors, v_last
    FROM (
        SELECT
            r.ord::integer AS ord,
            pliers._check_import_row(
                r.status, r.external_id, r.metadata, r.tags, r.source, r.created_at, r.submitted_at, v_now
            ) || p.errors AS errors,
            p.final_errors,
            ROW(
                p.cleaned, coalesce(r.status, 'submitted'), r.external_id, coalesce(r.metadata, '{}'),
                coalesce(r.tags, '{}'), coalesce(r.source, 'import'),
                coalesce(r.created_at, r.submitted_at, v_now),
                CASE WHEN r.status IS DISTINCT FROM 'draft' THEN coalesce(r.submitted_at, r.created_at, v_now) END
            )::pliers.submission_import AS checked
        FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
            data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
        )
        CROSS JOIN LATERAL pliers._check_answers(
            v_form, coalesce(r.data, '{}'), r.status IS DISTINCT FROM 'draft', '{}'
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
    PERFORM pliers._check_quota('max_submissions_per_month', v_count, v_org);

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
                v_org, v_form.id, pliers._next_submission_number(v_org), r.external_id, r.status, r.data,
                r.final_errors = '[]', r.final_errors, v_user, r.created_at, r.submitted_at, r.source, v_ip, v_agent,
                r.metadata, r.tags, CASE WHEN r.status = 'draft' THEN 1 ELSE 2 END
            -- A draft records whether it could be submitted as it is (create_submission):
            -- the final errors of its validation above.
            FROM ROWS FROM (pg_catalog.unnest(v_rows), pg_catalog.unnest(v_final_errors)) AS r (
                data, status, external_id, metadata, tags, source, created_at, submitted_at, final_errors
            )
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
    PERFORM pliers._count_usage(v_org, 'submissions', v_count);
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

CREATE OR REPLACE FUNCTION pliers.erase_user(p_organization_id uuid, p_user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    -- Personal fields of a user row, and the request metadata of a submission.
    c_user_keys CONSTANT text[] := ARRAY[
        'email', 'username', 'first_name', 'last_name', 'display_name', 'avatar_url', 'profile',
        'preferences', 'metadata', 'timezone', 'locale', 'last_login_at', 'last_activity_at',
        'password_changed_at', 'ip_address', 'user_agent'
    ];
    c_request_keys CONSTANT text[] := ARRAY['ip_address', 'user_agent', 'referrer'];
    v_user record;
    v_placeholder text;
    v_values text[];
    v_submissions uuid[];
    v_revision integer;
    v_counts jsonb := '{}';
    v_count bigint;
    v_saved_reason text := pg_catalog.current_setting('pliers.audit_reason', true);
    v_saved_maintenance text := pg_catalog.current_setting('pliers.maintenance', true);
BEGIN
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RAISE EXCEPTION 'erase_user needs an organization and a user'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object(
                    'argument', CASE WHEN p_organization_id IS NULL THEN 'p_organization_id' ELSE 'p_user_id' END,
                    'value', NULL
                )::text;
    END IF;
    PERFORM pliers._require_rls_bypass('pliers.erase_user');

    SELECT u.email, u.username INTO v_user
    FROM pliers.users AS u
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found in organization %', p_user_id, p_organization_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'user', 'id', p_user_id, 'organization_id', p_organization_id
                )::text;
    END IF;
    v_placeholder := pg_catalog.format('erased+%s@invalid.example', p_user_id);
    -- Audit rows without values; history rows may change (append-only triggers).
    PERFORM pg_catalog.set_config('pliers.audit_reason', 'erase_user', true);
    PERFORM pg_catalog.set_config('pliers.maintenance', 'on', true);

    -- The user's identifiers, current and earlier ones (from the user's audit rows):
    -- copies of them are looked for in every audit row and event of the organization.
    SELECT coalesce(pg_catalog.array_agg(DISTINCT pg_catalog.lower(s.v)), '{}')
    INTO v_values
    FROM (
        SELECT v_user.email::text
        UNION ALL
        SELECT v_user.username::text
        UNION ALL
        SELECT x.v
        FROM pliers.audit_logs AS a
        CROSS JOIN LATERAL (
            VALUES
            (a.old_values ->> 'email'), (a.new_values ->> 'email'),
            (a.old_values ->> 'username'), (a.new_values ->> 'username')
        ) AS x (v)
        WHERE a.organization_id = p_organization_id AND a.resource_type = 'users' AND a.resource_id = p_user_id
    ) AS s (v)
    WHERE s.v IS NOT NULL AND s.v NOT IN ('', '[erased]') AND pg_catalog.lower(s.v) <> v_placeholder;

    -- 1. The user row: personal fields cleared, credentials gone, the account deleted.
    UPDATE pliers.users
    SET
        email = v_placeholder,
        username = NULL,
        first_name = NULL,
        last_name = NULL,
        display_name = NULL,
        avatar_url = NULL,
        profile = '{}',
        auth_data = '{}',
        mfa_enabled = false,
        mfa_settings = '{}',
        preferences = '{}',
        metadata = '{}',
        timezone = DEFAULT,
        locale = DEFAULT,
        last_login_at = NULL,
        last_activity_at = NULL,
        password_changed_at = NULL,
        status = 'deleted',
        deleted_at = coalesce(deleted_at, pg_catalog.now())
    WHERE organization_id = p_organization_id AND id = p_user_id
    RETURNING revision INTO v_revision;
    v_counts := v_counts || pg_catalog.jsonb_build_object('users', 1);

    -- 2. The request metadata of the user's submissions (their answers are the
    --    tenant's data and stay); one submission.erased event each.
    WITH erased AS (
        UPDATE pliers.submissions
        SET ip_address = NULL, user_agent = NULL, referrer = NULL
        WHERE
            organization_id = p_organization_id AND submitted_by = p_user_id
            AND (ip_address IS NOT NULL OR user_agent IS NOT NULL OR referrer IS NOT NULL)
        RETURNING id, revision
    ),

    appended AS (
        INSERT INTO pliers.events (
            organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, metadata
        )
        SELECT
            p_organization_id, 'submission.erased', 'submission', e.id, e.revision,
            pg_catalog.jsonb_build_object('fields', c_request_keys),
            '{"reason": "erase_user"}'::jsonb
        FROM erased AS e
        RETURNING 1
    )

    SELECT count(*) INTO v_count FROM appended;
    v_counts := v_counts || pg_catalog.jsonb_build_object('submissions', v_count);
    SELECT coalesce(pg_catalog.array_agg(s.id), '{}')
    INTO v_submissions
    FROM pliers.submissions AS s
    WHERE s.organization_id = p_organization_id AND s.submitted_by = p_user_id;

    -- 3. Events: the user's own events (aggregate user), the request fields of the
    --    events of the user's submissions, the user's identifiers anywhere, and the IP
    --    address and user agent of the events the user caused. Rows stay (shape, counts).
    UPDATE pliers.events AS e
    SET
        payload = pliers._erase_jsonb(
            e.payload,
            CASE
                WHEN e.aggregate_type = 'user' AND e.aggregate_id = p_user_id THEN c_user_keys
                WHEN e.aggregate_type = 'submission' AND e.aggregate_id = ANY(v_submissions) THEN c_request_keys
                ELSE '{}'::text[]
            END,
            v_values, v_placeholder
        ),
        metadata = pliers._erase_jsonb(e.metadata, '{}', v_values, v_placeholder),
        ip_address = CASE WHEN e.user_id = p_user_id THEN NULL ELSE e.ip_address END,
        user_agent = CASE WHEN e.user_id = p_user_id THEN NULL ELSE e.user_agent END
    WHERE
        e.organization_id = p_organization_id
        AND (
            e.user_id = p_user_id
            OR (e.aggregate_type = 'user' AND e.aggregate_id = p_user_id)
            OR (e.aggregate_type = 'submission' AND e.aggregate_id = ANY(v_submissions))
            OR EXISTS (
                SELECT FROM pg_catalog.unnest(v_values) AS v (value)
                WHERE pg_catalog.strpos(pg_catalog.lower(e.payload::text || e.metadata::text), v.value) > 0
            )
        );
    GET DIAGNOSTICS v_count = ROW_COUNT;
    v_counts := v_counts || pg_catalog.jsonb_build_object('events', v_count);

    -- 4. Audit rows: the same, on old_values, new_values, diff, metadata and resource_name.
    UPDATE pliers.audit_logs AS a
    SET
        old_values = pliers._erase_jsonb(a.old_values, k.keys, v_values, v_placeholder),
        new_values = pliers._erase_jsonb(a.new_values, k.keys, v_values, v_placeholder),
        diff = pliers._erase_jsonb(a.diff, k.keys, v_values, v_placeholder),
        metadata = pliers._erase_jsonb(a.metadata, '{}', v_values, v_placeholder),
        resource_name = CASE
            WHEN a.resource_name IS NOT NULL AND (
                (a.resource_type = 'users' AND a.resource_id = p_user_id)
                OR pg_catalog.lower(a.resource_name) = ANY(v_values)
            )
                THEN CASE WHEN pg_catalog.strpos(a.resource_name, '@') > 0 THEN v_placeholder ELSE '[erased]' END
            ELSE a.resource_name
        END,
        ip_address = CASE WHEN a.user_id = p_user_id THEN NULL ELSE a.ip_address END,
        user_agent = CASE WHEN a.user_id = p_user_id THEN NULL ELSE a.user_agent END
    FROM (
        SELECT
            c.organization_id, c.id, c.created_at,
            CASE
                WHEN c.resource_type = 'users' AND c.resource_id = p_user_id THEN c_user_keys
                WHEN c.resource_type = 'submissions' AND c.resource_id = ANY(v_submissions) THEN c_request_keys
                ELSE '{}'::text[]
            END AS keys
        FROM pliers.audit_logs AS c
        WHERE
            c.organization_id = p_organization_id
            AND (
                c.user_id = p_user_id
                OR (c.resource_type = 'users' AND c.resource_id = p_user_id)
                OR (c.resource_type = 'submissions' AND c.resource_id = ANY(v_submissions))
                OR EXISTS (
                    SELECT FROM pg_catalog.unnest(v_values) AS v (value)
                    WHERE pg_catalog.strpos(pg_catalog.lower(
                        pg_catalog.concat_ws(' ', c.old_values, c.new_values, c.diff, c.metadata, c.resource_name)
                    ), v.value) > 0
                )
            )
    ) AS k
    WHERE a.organization_id = k.organization_id AND a.id = k.id AND a.created_at = k.created_at;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    v_counts := v_counts || pg_catalog.jsonb_build_object('audit_logs', v_count);

    -- 5. The erasure itself, recorded without personal data.
    INSERT INTO pliers.events (
        organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, metadata
    ) VALUES (
        p_organization_id, 'user.erased', 'user', p_user_id, v_revision,
        pg_catalog.jsonb_build_object('fields', c_user_keys),
        '{"reason": "erase_user"}'::jsonb
    );
    INSERT INTO pliers.audit_logs (
        organization_id, action, resource_type, resource_id, resource_name, status, metadata
    ) VALUES (
        p_organization_id, 'user.erase', 'users', p_user_id, v_placeholder, 'success',
        pg_catalog.jsonb_build_object(
            'erased', v_counts, 'by', session_user, 'transaction_id', pg_catalog.pg_current_xact_id()::text
        )
    );

    PERFORM pg_catalog.set_config('pliers.audit_reason', coalesce(v_saved_reason, ''), true);
    PERFORM pg_catalog.set_config('pliers.maintenance', coalesce(v_saved_maintenance, ''), true);
    RETURN pg_catalog.jsonb_build_object(
        'organization_id', p_organization_id, 'user_id', p_user_id, 'email', v_placeholder, 'erased', v_counts
    );
END
$function$;

COMMENT ON FUNCTION pliers.erase_user(uuid, uuid) IS
'Erases the personal data of user p_user_id of organization p_organization_id (right to erasure). The user row: '
'email becomes erased+<id>@invalid.example, names, username, avatar, profile, preferences, metadata, credentials '
'(auth_data, MFA) and activity timestamps are cleared, timezone and locale reset, the account is deleted (status '
'deleted). The user''s submissions lose their IP address, user agent and referrer (answers stay). In the '
'organization''s events and audit rows, the user''s own rows (aggregate user, resource users), the request fields of '
'the user''s submissions, every copy of the user''s e-mail addresses and usernames (exact values, any depth) and the '
'IP address and user agent of what the user did are replaced in place: rows, keys and user_id references stay. '
'Appends user.erased and submission.erased events and a user.erase audit row (counts only). Returns '
'{organization_id, user_id, email, erased: {users, submissions, events, audit_logs}}. Must run as a role that '
'bypasses RLS (else PL006); an unknown user raises PL002, NULL arguments PL009. Owner/DBA only.';

CREATE OR REPLACE FUNCTION pliers.rotate_context_key()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = ''
AS $$
BEGIN
    UPDATE pliers.context_keys
    SET signing_key = pliers._random_key(), rotated_at = pg_catalog.now();
    -- A new row version of each function: every session compiles them again.
    ALTER FUNCTION pliers.current_context() SET search_path = '';
    ALTER FUNCTION pliers._store_context(text) COST 100;
END
$$;

COMMENT ON FUNCTION pliers.rotate_context_key() IS
'Replaces the key that signs tenant contexts (pliers_owner or a superuser). Contexts opened before end at once: '
'their next statement sees no tenant. For a key that may have leaked (a dump, a backup).';

CREATE OR REPLACE FUNCTION pliers.submission_history(p_submission_id uuid)
RETURNS TABLE (
    aggregate_version integer,
    event_type text,
    event_timestamp timestamptz,
    user_id uuid,
    state jsonb
)
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
DECLARE
    c_fields CONSTANT text[] := ARRAY[
        'form_id', 'submission_number', 'external_id', 'status', 'data', 'attachments', 'attachment_count',
        'is_valid', 'validation_errors', 'assigned_to', 'assigned_team_id', 'submitted_by', 'submitted_at',
        'completed_at', 'expires_at', 'source', 'referrer', 'metadata', 'tags', 'created_at', 'deleted_at',
        'deleted_by', 'revision'
    ];
    c_timestamps CONSTANT text[] := ARRAY['submitted_at', 'completed_at', 'expires_at', 'created_at', 'deleted_at'];
    v_organization_id CONSTANT uuid := pliers.current_organization_id();
    v_event record;
    v_payload jsonb;
    v_changes jsonb;
    v_state jsonb;
BEGIN
    IF v_organization_id IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_submission_id IS NULL THEN
        RAISE EXCEPTION 'submission_id is required'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object(
                        'path', 'submission_id', 'code', 'required', 'message', 'the submission id is required'
                    )
                ))::text;
    END IF;
    -- Visible to the caller: row-level security of pliers.submissions decides (a deleted
    -- submission keeps its history).
    IF NOT EXISTS (
        SELECT FROM pliers.submissions AS s
        WHERE s.organization_id = v_organization_id AND s.id = p_submission_id
    ) THEN
        RAISE EXCEPTION 'submission % not found', p_submission_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'submission', 'id', p_submission_id)::text;
    END IF;

    FOR v_event IN
        SELECT e.aggregate_version, e.event_type, e.event_timestamp, e.user_id, e.payload
        FROM pliers.events AS e
        WHERE
            e.organization_id = v_organization_id
            AND e.aggregate_type = 'submission'
            AND e.aggregate_id = p_submission_id
        ORDER BY e.aggregate_version, e.position
    LOOP
        v_payload := v_event.payload;
        IF v_event.event_type = 'submission.created' THEN
            -- Every column at its insert default, then the payload.
            v_state := (SELECT pg_catalog.jsonb_object_agg(f.name, 'null'::jsonb) FROM pg_catalog.unnest(c_fields) AS f (name))
                || '{"attachments": [], "attachment_count": 0}'::jsonb;
        END IF;
        v_changes := CASE v_event.event_type
            WHEN 'submission.created' THEN v_payload
            WHEN 'submission.updated' THEN v_payload
            WHEN 'submission.assigned' THEN v_payload
            WHEN 'submission.deleted' THEN v_payload
            WHEN 'submission.submitted' THEN v_payload || pg_catalog.jsonb_build_object('status', v_payload -> 'to')
            WHEN 'submission.status_changed' THEN
                pg_catalog.jsonb_build_object('status', v_payload -> 'to', 'completed_at', v_payload -> 'completed_at')
            WHEN 'submission.attachment_added' THEN
                v_payload || pg_catalog.jsonb_build_object(
                    'attachments', (v_state -> 'attachments') || pg_catalog.jsonb_build_array(
                        pg_catalog.jsonb_build_object(
                            'id', v_payload #> '{attachment,id}',
                            'field', v_payload #> '{attachment,field}',
                            'filename', v_payload #> '{attachment,filename}',
                            'mime_type', v_payload #> '{attachment,mime_type}',
                            'file_size_bytes', v_payload #> '{attachment,file_size_bytes}',
                            'checksum', v_payload #> '{attachment,checksum}'
                        )
                    )
                )
            WHEN 'submission.attachment_removed' THEN
                v_payload || pg_catalog.jsonb_build_object(
                    'attachments', coalesce((
                        SELECT pg_catalog.jsonb_agg(a.value ORDER BY a.ordinality)
                        FROM pg_catalog.jsonb_array_elements(v_state -> 'attachments') WITH ORDINALITY AS a (value, ordinality)
                        WHERE a.value ->> 'id' IS DISTINCT FROM v_payload ->> 'attachment_id'
                    ), '[]'::jsonb)
                )
            WHEN 'submission.restored' THEN '{"deleted_at": null, "deleted_by": null}'::jsonb
            WHEN 'submission.erased' THEN (
                SELECT coalesce(pg_catalog.jsonb_object_agg(f.name, 'null'::jsonb), '{}'::jsonb)
                FROM pg_catalog.jsonb_array_elements_text(coalesce(v_payload -> 'fields', '[]'::jsonb)) AS f (name)
            )
            ELSE '{}'::jsonb
        END;
        -- Merge the fields of the state (timestamps re-read in this session's TimeZone);
        -- a NULL state (no creation event yet) stays NULL.
        v_state := v_state
            || coalesce((
                SELECT pg_catalog.jsonb_object_agg(
                    c.key,
                    CASE
                        WHEN c.key = ANY(c_timestamps) AND pg_catalog.jsonb_typeof(c.value) = 'string'
                            THEN pg_catalog.to_jsonb((c.value #>> '{}')::timestamptz)
                        ELSE c.value
                    END
                )
                FROM pg_catalog.jsonb_each(v_changes) AS c
                WHERE c.key = ANY(c_fields) AND c.key <> 'revision'
            ), '{}'::jsonb)
            || pg_catalog.jsonb_build_object('revision', v_event.aggregate_version);

        aggregate_version := v_event.aggregate_version;
        event_type := v_event.event_type;
        event_timestamp := v_event.event_timestamp;
        user_id := v_event.user_id;
        state := v_state;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.submission_history(uuid) IS
'The history of a submission: one row per event, in aggregate_version order, with the event type, its time '
'(event_timestamp: the writing transaction''s start), the acting user, and the state after it: a JSON object of '
'the business fields (form_id, submission_number, external_id, status, data, attachments, attachment_count, '
'is_valid, validation_errors, assigned_to, assigned_team_id, submitted_by, submitted_at, completed_at, expires_at, '
'source, referrer, metadata, tags, created_at, deleted_at, deleted_by, revision), values as to_jsonb of the row''s '
'columns in this session, rebuilt by folding the event payloads. state is NULL before submission.created (e.g. '
'when the first events were detached by retention). The submission must be visible to the caller (row-level '
'security of pliers.submissions; deleted ones included): PL002 otherwise. PL001 when p_submission_id is NULL, '
'PL008 without a context. SECURITY INVOKER. docs/history.md, "Time travel".';

CREATE OR REPLACE FUNCTION pliers.form_history(p_form_id uuid)
RETURNS TABLE (
    aggregate_version integer,
    event_type text,
    event_timestamp timestamptz,
    user_id uuid,
    state jsonb
)
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
DECLARE
    c_fields CONSTANT text[] := ARRAY[
        'name', 'slug', 'version', 'status', 'visibility', 'definition', 'settings', 'permissions', 'category',
        'tags', 'metadata', 'parent_id', 'is_latest', 'published_at', 'published_by', 'deprecated_at',
        'created_at', 'created_by', 'deleted_at', 'revision'
    ];
    c_timestamps CONSTANT text[] := ARRAY['published_at', 'deprecated_at', 'created_at', 'deleted_at'];
    v_organization_id CONSTANT uuid := pliers.current_organization_id();
    v_event record;
    v_payload jsonb;
    v_changes jsonb;
    v_state jsonb;
BEGIN
    IF v_organization_id IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_form_id IS NULL THEN
        RAISE EXCEPTION 'form_id is required'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object('path', 'form_id', 'code', 'required', 'message', 'the form id is required')
                ))::text;
    END IF;
    -- Visible to the caller: row-level security of pliers.forms decides (deleted drafts
    -- keep their history).
    IF NOT EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_organization_id AND f.id = p_form_id
    ) THEN
        RAISE EXCEPTION 'form % not found', p_form_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'id', p_form_id)::text;
    END IF;

    FOR v_event IN
        SELECT e.aggregate_version, e.event_type, e.event_timestamp, e.user_id, e.payload
        FROM pliers.events AS e
        WHERE
            e.organization_id = v_organization_id
            AND e.aggregate_type = 'form'
            AND e.aggregate_id = p_form_id
        ORDER BY e.aggregate_version, e.position
    LOOP
        v_payload := v_event.payload;
        IF v_event.event_type IN ('form.created', 'form.cloned') THEN
            v_state := (SELECT pg_catalog.jsonb_object_agg(f.name, 'null'::jsonb) FROM pg_catalog.unnest(c_fields) AS f (name));
        END IF;
        v_changes := CASE
            WHEN v_event.event_type IN ('form.created', 'form.cloned') THEN v_payload
            WHEN v_event.event_type = 'form.updated' THEN coalesce(v_payload -> 'changes', '{}'::jsonb)
            WHEN v_event.event_type = 'form.published' THEN
                v_payload || pg_catalog.jsonb_build_object('status', v_payload -> 'to')
            WHEN v_event.event_type IN ('form.deprecated', 'form.archived') THEN
                pg_catalog.jsonb_build_object('status', v_payload -> 'to', 'deprecated_at', v_payload -> 'deprecated_at')
            WHEN v_event.event_type = 'form.deleted' THEN
                pg_catalog.jsonb_build_object('deleted_at', v_payload -> 'deleted_at')
            ELSE '{}'::jsonb
        END;
        v_state := v_state
            || coalesce((
                SELECT pg_catalog.jsonb_object_agg(
                    c.key,
                    CASE
                        WHEN c.key = ANY(c_timestamps) AND pg_catalog.jsonb_typeof(c.value) = 'string'
                            THEN pg_catalog.to_jsonb((c.value #>> '{}')::timestamptz)
                        ELSE c.value
                    END
                )
                FROM pg_catalog.jsonb_each(v_changes) AS c
                WHERE c.key = ANY(c_fields) AND c.key <> 'revision'
            ), '{}'::jsonb)
            || pg_catalog.jsonb_build_object('revision', v_event.aggregate_version);

        aggregate_version := v_event.aggregate_version;
        event_type := v_event.event_type;
        event_timestamp := v_event.event_timestamp;
        user_id := v_event.user_id;
        state := v_state;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.form_history(uuid) IS
'The history of a form version: one row per event, in aggregate_version order, with the event type, its time '
'(event_timestamp: the writing transaction''s start), the acting user, and the state after it: a JSON object of '
'the business fields (name, slug, version, status, visibility, definition, settings, permissions, category, tags, '
'metadata, parent_id, is_latest, published_at, published_by, deprecated_at, created_at, created_by, deleted_at, '
'revision), values as to_jsonb of the row''s columns in this session, rebuilt by folding the event payloads. '
'state is NULL before form.created / form.cloned (e.g. when the first events were detached by retention). The '
'version must be visible to the caller (row-level security of pliers.forms: the tenant''s rows, deleted drafts '
'included): PL002 otherwise. PL001 when p_form_id is NULL, PL008 without a context. SECURITY INVOKER. '
'docs/history.md, "Time travel".';

DROP FUNCTION pliers.refresh_user_permissions(text);
DROP FUNCTION pliers._context_binding();
DROP FUNCTION pliers._citus_transaction();
DROP FUNCTION pliers._on_citus();

DROP TABLE pliers.api_key_hashes;

ALTER TABLE pliers.plugins ADD CONSTRAINT plugins_organization_id_fkey FOREIGN KEY (organization_id)
REFERENCES pliers.organizations (id);
COMMENT ON CONSTRAINT plugins_organization_id_slug_key ON pliers.plugins IS
'One plugin per slug in each scope, NULLS NOT DISTINCT so that two global rows cannot share a slug; serves FK plugins_organization_id_fkey';

COMMENT ON INDEX pliers.users_created_by_idx IS 'Serves FK users_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.users_updated_by_idx IS 'Serves FK users_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.teams_created_by_idx IS 'Serves FK teams_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.teams_updated_by_idx IS 'Serves FK teams_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.role_assignments_granted_by_idx IS
'Serves FK role_assignments_granted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.role_assignments_revoked_by_idx IS
'Serves FK role_assignments_revoked_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.forms_created_by_idx IS 'Serves FK forms_created_by_fkey (ON DELETE SET NULL); forms by creator';
COMMENT ON INDEX pliers.forms_updated_by_idx IS 'Serves FK forms_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.forms_published_by_idx IS 'Serves FK forms_published_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.form_collaborators_granted_by_idx IS
'Serves FK form_collaborators_granted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.submissions_assigned_to_idx IS
'Submissions assigned to a user, by status; serves FK submissions_assigned_to_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.submissions_assigned_team_id_idx IS
'Submissions assigned to a team, by status; serves FK submissions_assigned_team_id_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.submissions_deleted_by_idx IS 'Serves FK submissions_deleted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.attachments_deleted_by_idx IS 'Serves FK attachments_deleted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflows_created_by_idx IS 'Serves FK workflows_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflows_updated_by_idx IS 'Serves FK workflows_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflow_forms_created_by_idx IS
'Serves FK workflow_forms_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflow_executions_triggered_by_idx IS
'Serves FK workflow_executions_triggered_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.plugin_installations_installed_by_idx IS
'Serves FK plugin_installations_installed_by_fkey (ON DELETE SET NULL)';
COMMENT ON COLUMN pliers.api_keys.key_hash IS
'sha256 of the full key, 64 lower-case hex digits; unique over all tenants because a request is authenticated before its tenant is known';
COMMENT ON INDEX pliers.api_keys_revoked_by_idx IS 'Serves FK api_keys_revoked_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.webhooks_created_by_idx IS 'Serves FK webhooks_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON TABLE pliers.user_permissions IS
'Private: the organization-wide permissions of each user, as pliers._user_permissions computes them, kept by '
'triggers on users, role_assignments and roles; read by set_context. Owner only.';


RESET ROLE;
