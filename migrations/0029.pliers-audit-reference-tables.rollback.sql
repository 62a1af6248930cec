-- Rollback of 0029: pliers._audit() as in 0022.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

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
    -- On Citus the trigger fires on a shard, named <table>_<shard id> (ids from 102008):
    -- no table of pliers' ends in six digits.
    v_table constant text := pg_catalog.regexp_replace(TG_TABLE_NAME, '_[0-9]{6,}$', '');
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_old := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := pg_catalog.to_jsonb(NEW);
    END IF;
    v_row := coalesce(v_new, v_old);

    -- The tenant of the row. A deleted organization cannot own its audit row (foreign key).
    IF v_table = 'organizations' THEN
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
        OR (v_table = 'users' AND TG_OP = 'DELETE' AND v_user_id = (v_old ->> 'id')::uuid)
    ) THEN
        v_metadata := v_metadata || pg_catalog.jsonb_build_object(
            'actor_organization_id', v_context_organization_id, 'actor_user_id', v_user_id);
        v_user_id := NULL;
    END IF;

    -- A row of a tenant other than the context's reaches this trigger only through a
    -- write that was allowed: by a role that bypasses RLS, or by a foreign-key action
    -- (ON DELETE CASCADE), which PostgreSQL 16 and later run as the table
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
        v_table,
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

RESET ROLE;
