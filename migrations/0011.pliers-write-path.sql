-- The write path (bulk import, audit): per-row SQL helpers inlined, the audit trigger decides a no-op update first and tests secret column names without a regular expression.
-- Hand-written delta: sql/42, 57 and 72 hold the same changes (bench/RESULTS.md, issue 7).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/42-form-definitions.sql
CREATE OR REPLACE FUNCTION pliers._choice_allowed(p_field jsonb, p_code jsonb)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(p_field -> 'choices' @> jsonb_build_array(jsonb_build_object('code', p_code)), FALSE)
        OR coalesce(p_code = '"other"'::jsonb AND p_field -> 'allowOther' = 'true'::jsonb, FALSE)
$$;

-- sql/57-submission-import.sql
CREATE OR REPLACE FUNCTION pliers._check_import_row(
    p_status pliers.submission_status,
    p_external_id text,
    p_metadata jsonb,
    p_tags text[],
    p_source text,
    p_created_at timestamptz,
    p_submitted_at timestamptz,
    p_now timestamptz
)
RETURNS jsonb
LANGUAGE sql
STABLE
AS $$
    -- Inlined into the caller's query (a plain SQL expression): no call per row, and
    -- _check_submission_attributes only for rows that bring attributes. STABLE, as
    -- jsonb_build_array and format are: an IMMUTABLE SQL function is not inlined.
    SELECT
        CASE
            WHEN p_external_id IS NULL AND p_metadata IS NULL AND p_tags IS NULL AND p_source IS NULL THEN '[]'::jsonb
            ELSE pliers._check_submission_attributes(
                coalesce(p_metadata, '{}'), coalesce(p_tags, '{}'), coalesce(p_source, 'import'), p_external_id
            )
        END
        || CASE
            WHEN p_status NOT IN ('draft', 'submitted') THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'status', 'invalid', pg_catalog.format('an import creates drafts or submitted submissions, not %s', p_status)
            ))
            WHEN p_status = 'draft' AND p_submitted_at IS NOT NULL THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'submitted_at', 'invalid', 'a draft has no submitted_at'
            ))
            ELSE '[]'::jsonb
        END
        || CASE
            WHEN p_created_at > p_now THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'created_at', 'invalid', 'created_at is in the future'
            ))
            ELSE '[]'::jsonb
        END
        || CASE
            WHEN p_submitted_at > p_now THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'submitted_at', 'invalid', 'submitted_at is in the future'
            ))
            WHEN p_submitted_at < p_created_at THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'submitted_at', 'invalid', 'submitted_at is before created_at'
            ))
            ELSE '[]'::jsonb
        END
$$;

-- sql/72-audit.sql
CREATE OR REPLACE FUNCTION pliers.is_audit_secret(p_column text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $function$
    -- Substrings, not a regular expression: the audit trigger asks this for every column
    -- of every audited row, and a regular expression cost about 1 µs a call.
    SELECT p_column IN ('key_hash', 'auth_data', 'mfa_settings', 'secret_ciphertext')
        OR (
            (
                pg_catalog.strpos(p_column, 'password') > 0 OR pg_catalog.strpos(p_column, 'passwd') > 0
                OR pg_catalog.strpos(p_column, 'secret') > 0 OR pg_catalog.strpos(p_column, 'token') > 0
                OR pg_catalog.strpos(p_column, 'credential') > 0 OR pg_catalog.strpos(p_column, 'private_key') > 0
            )
            AND pg_catalog.right(p_column, 3) <> '_at'
        )
$function$;

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
    v_context_organization_id uuid;
    v_user_id uuid;
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

    v_metadata := pg_catalog.jsonb_build_object('transaction_id', pg_catalog.pg_current_xact_id()::text);
    IF pg_catalog.current_setting('pliers.correlation_id', true) <> '' THEN
        v_metadata := v_metadata || pg_catalog.jsonb_build_object(
            'correlation_id', pg_catalog.current_setting('pliers.correlation_id', true));
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
    v_context_organization_id := nullif(pg_catalog.current_setting('pliers.organization_id', true), '')::uuid;
    v_user_id := nullif(pg_catalog.current_setting('pliers.user_id', true), '')::uuid;
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
        PERFORM pg_catalog.set_config('pliers.organization_id', v_organization_id::text, true);
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
        nullif(pg_catalog.current_setting('pliers.session_id', true), '')::uuid,
        nullif(pg_catalog.current_setting('pliers.ip_address', true), '')::inet,
        nullif(pg_catalog.current_setting('pliers.user_agent', true), ''),
        'success',
        v_metadata
    );
    IF v_context_organization_id IS DISTINCT FROM v_organization_id THEN
        PERFORM pg_catalog.set_config('pliers.organization_id', coalesce(v_context_organization_id::text, ''), true);
    END IF;
    RETURN NULL;
END
$function$;

-- The migration runner records the migration as itself.
RESET ROLE;
