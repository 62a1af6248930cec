-- History, part 2: the append-only rule of events and audit_logs, and the generic
-- audit of row changes (decision 7). docs/history.md explains both for a DBA.
--
-- Append-only. Rows of pliers.events and pliers.audit_logs are never updated or
-- deleted, with two exceptions, checked by trigger <table>_append_only on top of
-- the privileges (pliers_app has SELECT and INSERT only):
--   1. events.processed_at / processing_errors, by the role that processes events
--      (a member of pliers_worker, or of pliers_owner);
--   2. maintenance, by a member of pliers_owner (or a superuser): deleting rows from
--      a DEFAULT partition that the transaction holds in ACCESS EXCLUSIVE mode
--      (pliers.create_partitions locks it, then moves the rows of a new month out with
--      DELETE ... RETURNING), and any change while the transaction-local setting
--      pliers.maintenance is 'on' (pliers.erase_user sets it while it runs).
-- Everything else raises PL005. TRUNCATE of the parent table is refused as well.
--
-- Audit. Trigger function pliers._audit(), attached AFTER INSERT OR UPDATE OR DELETE
-- FOR EACH ROW as trigger <table>_audit by pliers.enable_audit(table) and removed by
-- pliers.disable_audit(table), writes one pliers.audit_logs row per changed row:
--   action         insert | update | delete
--   resource_type  the table name (e.g. users); resource_id its id column
--   resource_name  the first of name, title, slug, email, submission_number,
--                  original_filename, filename, role present in the row
--   old_values     the row before (update, delete), new_values the row after (insert, update)
--   diff           updates only: {"column": {"old": ..., "new": ...}} for each changed
--                  column, {"column": {"omitted": true}} for a changed excluded column
--   user_id, session_id, ip_address, user_agent   from the tenant context
--   metadata       {"transaction_id": "...", "correlation_id": "..."}
-- An update that changes nothing but updated_at, revision and the table's ignored
-- columns records nothing. Secret columns are never recorded (pliers.is_audit_secret),
-- nor the table's excluded columns (enable_audit's p_excluded_columns). Rows without a
-- tenant (a global plugin) are not recorded: audit_logs.organization_id is NOT NULL.
--
-- The trigger runs with the rights of the writer (it is not SECURITY DEFINER): the
-- audit row is inserted as pliers_app, or as pliers_owner inside the SECURITY DEFINER
-- API, under the audit_logs policies of the current tenant; a superuser bypasses RLS.

-- ---------------------------------------------------------------------------
-- Append-only
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._history_append_only()
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
'pliers_owner), or a member of pliers_owner deletes from a DEFAULT partition it has locked ACCESS EXCLUSIVE (pliers.create_partitions moving '
'rows) or changes rows while the setting pliers.maintenance is ''on'' (pliers.erase_user). TG_ARGV[0] names the table.';

CREATE TRIGGER audit_logs_append_only
BEFORE UPDATE OR DELETE ON pliers.audit_logs
FOR EACH ROW EXECUTE FUNCTION pliers._history_append_only('audit_logs');

COMMENT ON TRIGGER audit_logs_append_only ON pliers.audit_logs IS
'Audit rows are append-only: UPDATE and DELETE raise PL005, except maintenance';

CREATE TRIGGER audit_logs_append_only_truncate
BEFORE TRUNCATE ON pliers.audit_logs
FOR EACH STATEMENT EXECUTE FUNCTION pliers._history_append_only('audit_logs');

COMMENT ON TRIGGER audit_logs_append_only_truncate ON pliers.audit_logs IS
'TRUNCATE of the audit log raises PL005 (old partitions are detached by retention instead)';

-- The application reads and appends (its own tenant's rows, by RLS); it never updates
-- or deletes. Nothing else is granted here: docs/security.md lists every grant.
GRANT SELECT, INSERT ON pliers.audit_logs TO pliers_app;

-- ---------------------------------------------------------------------------
-- Audit
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.is_audit_secret(p_column text)
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

COMMENT ON FUNCTION pliers.is_audit_secret(text) IS
'TRUE for a column whose values pliers._audit never records, whatever the table''s settings: key_hash, '
'auth_data, mfa_settings, secret_ciphertext, and any column named like password, passwd, secret, token, '
'credential or private_key (except timestamps, *_at, e.g. password_changed_at). Executable by pliers_app: the audit '
'trigger calls it with the writer''s rights.';

CREATE FUNCTION pliers._audit()
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
    -- On Citus a reference table (plugins: global, with tenant-private rows) has a
    -- placement on every node and the trigger fires on each: the change is recorded
    -- once, by the placement of the lowest node group (the coordinator's, when it holds
    -- one), so that no worker writes another node's audit shard from inside its own
    -- part of the transaction. Reached on Citus shards only (the name has the suffix):
    -- a nested IF, since PL/pgSQL prepares a whole condition, Citus' catalogue included.
    IF v_table <> TG_TABLE_NAME THEN
        IF (
            SELECT pg_catalog.min(pl.groupid) <> (SELECT g.groupid FROM pg_catalog.pg_dist_local_group AS g)
            FROM pg_catalog.pg_dist_partition AS p
            INNER JOIN pg_catalog.pg_dist_shard AS s ON p.logicalrelid = s.logicalrelid
            INNER JOIN pg_catalog.pg_dist_placement AS pl ON s.shardid = pl.shardid
            WHERE p.logicalrelid = pg_catalog.to_regclass('pliers.' || v_table) AND p.partmethod = 'n'
        ) THEN
            RETURN NULL;
        END IF;
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

-- The settings of each audited table, read from its trigger's arguments (one source of truth).
CREATE VIEW pliers.audit_settings
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
'log (api_writes_in_events: forms, submissions, choice lists and their items, workflow executions). Change them '
'with pliers.enable_audit / pliers.disable_audit.';

CREATE FUNCTION pliers.enable_audit(
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

CREATE FUNCTION pliers.disable_audit(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_trigger name;
BEGIN
    SELECT t.tgname INTO v_trigger
    FROM pg_catalog.pg_trigger AS t
    WHERE t.tgrelid = p_table AND t.tgfoid = 'pliers._audit()'::regprocedure AND t.tgparentid = 0;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', v_trigger, p_table);
    RETURN true;
END
$function$;

COMMENT ON FUNCTION pliers.disable_audit(regclass) IS
'Stops recording the row changes of p_table: drops its audit trigger. Idempotent: returns false when p_table was not '
'audited. The rows already in pliers.audit_logs stay. Owner/DBA only.';

REVOKE ALL ON FUNCTION
pliers._history_append_only(),
pliers.is_audit_secret(text),
pliers._audit(),
pliers.enable_audit(regclass, text[], text[]),
pliers.disable_audit(regclass)
FROM public;

-- The audit trigger runs with the writer's rights, and the writer may be pliers_app.
GRANT EXECUTE ON FUNCTION pliers.is_audit_secret(text) TO pliers_app;
