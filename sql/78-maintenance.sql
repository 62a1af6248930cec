-- History, part 4: the DBA's functions. One entry point for partition maintenance
-- (pliers.run_maintenance, scheduled daily: docs/history.md), the purge of
-- soft-deleted rows (pliers.purge_deleted) and the erasure of a user's personal data
-- (pliers.erase_user). None is executable by the application (pliers_app).
--
-- purge_deleted and erase_user work across the tenant policies: they must run as a
-- role that bypasses row-level security (the installing superuser, or a BYPASSRLS
-- role), like any cross-tenant data change (docs/security.md); under RLS they raise
-- PL006 instead of silently seeing one tenant or none. While they run, they set
-- pliers.audit_reason (transaction-local, restored when they return): the audit rows
-- of the rows they change record that the row changed, not its values (pliers._audit).
-- run_maintenance needs the rights of pliers_owner; moving rows out of a DEFAULT
-- partition also needs a role that bypasses RLS (ATTACH checks their foreign keys).

-- ---------------------------------------------------------------------------
-- Partition maintenance
-- ---------------------------------------------------------------------------

-- The months (UTC) of the rows in the DEFAULT partition of a partitioned history table.
CREATE FUNCTION pliers._default_partition_months(p_parent regclass)
RETURNS SETOF date
LANGUAGE plpgsql
STABLE
SET search_path = ''
SET timezone = 'UTC'
AS $function$
DECLARE
    v_parent record;
BEGIN
    SELECT * INTO v_parent FROM pliers._partitioned_parent(p_parent);
    IF v_parent.default_partition IS NOT NULL THEN
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT DISTINCT pg_catalog.date_trunc(''month'', %1$I)::date FROM %2$s WHERE pg_catalog.isfinite(%1$I)',
            v_parent.key_column, v_parent.default_partition
        );
    END IF;
END
$function$;

COMMENT ON FUNCTION pliers._default_partition_months(regclass) IS
'Private (run_maintenance). The distinct months (first day, UTC) of the rows with a finite key in the DEFAULT '
'partition of p_parent; none if it has no DEFAULT partition.';

CREATE FUNCTION pliers.run_maintenance(
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
                    RAISE DEBUG 'pliers.run_maintenance: % % (%)', action, target, detail;
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
                RAISE DEBUG 'pliers.run_maintenance: % % (%)', action, target, detail;
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
            RAISE DEBUG 'pliers.run_maintenance: % % (%)', action, target, detail;
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
                RAISE DEBUG 'pliers.run_maintenance: % % (%)', action, target, detail;
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
            RAISE DEBUG 'pliers.run_maintenance: % % (%)', action, target, detail;
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
'Each row is also raised as a DEBUG message when it is done (pliers.run_maintenance: action target (detail)), '
'seen with client_min_messages = debug1: pliersdb maintain prints them as they come. '
'Bad arguments raise PL009. Owner/DBA only; schedule it daily (docs/history.md).';

-- ---------------------------------------------------------------------------
-- Retention of soft-deleted rows
-- ---------------------------------------------------------------------------

-- Callers must not be subject to the tenant policies (see the top of this file).
CREATE FUNCTION pliers._require_rls_bypass(p_function text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
BEGIN
    IF pg_catalog.row_security_active('pliers.users'::regclass) THEN
        RAISE EXCEPTION '% must run as a role that bypasses row-level security', p_function
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object('permission', 'bypassrls', 'object', p_function)::text,
                HINT = 'Run it as the installing superuser or a BYPASSRLS role (docs/history.md).';
    END IF;
END
$function$;

COMMENT ON FUNCTION pliers._require_rls_bypass(text) IS
'Private. Raises PL006 (DETAIL {permission: bypassrls, object}) when row-level security applies to the current role: '
'cross-tenant maintenance (purge_deleted, erase_user) would otherwise see one tenant or none.';

CREATE FUNCTION pliers.purge_deleted(p_older_than interval DEFAULT '90 days')
RETURNS TABLE (table_name text, rows_purged bigint, rows_kept bigint)
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    -- Children before parents: attachments reference submissions and forms, submissions
    -- reference forms and teams, everything references users. A choice list is referenced
    -- by its items only (they cascade): forms name lists, and only live ones resolve.
    c_tables CONSTANT text[] := ARRAY[
        'attachments', 'submissions', 'workflows', 'forms', 'choice_lists', 'teams', 'users'
    ];
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
            ' AND NOT EXISTS (SELECT FROM %s AS r WHERE %s%s)',
            c.conrelid::regclass,
            (
                SELECT pg_catalog.string_agg(pg_catalog.format('r.%I = t.%I', ra.attname, ta.attname), ' AND ')
                FROM unnest(c.conkey, c.confkey) AS k (referencing, referenced)
                INNER JOIN pg_catalog.pg_attribute AS ra ON ra.attrelid = c.conrelid AND ra.attnum = k.referencing
                INNER JOIN pg_catalog.pg_attribute AS ta ON ta.attrelid = c.confrelid AND ta.attnum = k.referenced
            ),
            -- A row that names itself (a user who created their own account) does not
            -- keep itself: its DELETE removes the reference with it.
            CASE WHEN c.conrelid = c.confrelid THEN ' AND r.ctid <> t.ctid' ELSE '' END
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
'submissions, workflows, forms, choice_lists (with their items), teams and users, children first, across all '
'tenants; returns per table the rows '
'purged and the rows kept because something still references them (a NO ACTION foreign key, an immutable published '
'form; a user still named as the author of a row, since actor references are NO ACTION). Cascades follow the '
'foreign keys. Audited: each deleted row gets an audit row without '
'values (metadata.reason = purge_deleted). Organizations are never purged (their history references them). '
'Stored files of purged attachments are the application''s to delete. Must run as a role that bypasses RLS (else '
'PL006); a negative period raises PL009. Owner/DBA only.';

-- ---------------------------------------------------------------------------
-- Erasure of a user's personal data
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._erase_jsonb(
    p_value jsonb,
    p_keys text[],
    p_values text[],
    p_placeholder text,
    p_erase_all boolean DEFAULT FALSE
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = ''
AS $function$
DECLARE
    v_result jsonb;
BEGIN
    CASE pg_catalog.jsonb_typeof(p_value)
        WHEN 'object' THEN
            SELECT coalesce(pg_catalog.jsonb_object_agg(e.key, pliers._erase_jsonb(
                e.value, p_keys, p_values, p_placeholder, p_erase_all OR coalesce(e.key = ANY(p_keys), false)
            )), '{}'::jsonb)
            INTO v_result
            FROM pg_catalog.jsonb_each(p_value) AS e;
        WHEN 'array' THEN
            SELECT coalesce(pg_catalog.jsonb_agg(
                pliers._erase_jsonb(e.value, p_keys, p_values, p_placeholder, p_erase_all) ORDER BY e.n
            ), '[]'::jsonb)
            INTO v_result
            FROM pg_catalog.jsonb_array_elements(p_value) WITH ORDINALITY AS e (value, n);
        WHEN 'string' THEN
            v_result := CASE
                WHEN p_erase_all OR pg_catalog.lower(p_value #>> '{}') = ANY(p_values)
                    THEN pg_catalog.to_jsonb(CASE
                        WHEN pg_catalog.strpos(p_value #>> '{}', '@') > 0 THEN p_placeholder ELSE '[erased]'
                    END)
                ELSE p_value
            END;
        WHEN 'number', 'boolean' THEN
            v_result := CASE WHEN p_erase_all THEN 'null'::jsonb ELSE p_value END;
        ELSE
            v_result := p_value;
    END CASE;
    RETURN v_result;
END
$function$;

COMMENT ON FUNCTION pliers._erase_jsonb(jsonb, text[], text[], text, boolean) IS
'Private (erase_user). p_value with the same shape, its personal values replaced: every string, number and boolean '
'under a key of p_keys (at any depth), and every string equal to one of p_values (lower case) anywhere. A replaced '
'string becomes p_placeholder if it contained @ (an e-mail address), else [erased]; numbers and booleans become null.';

CREATE FUNCTION pliers.erase_user(p_organization_id uuid, p_user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_now constant timestamptz := pg_catalog.now();
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
        updated_at = pg_catalog.now(),
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
        -- The time as a value: Citus evaluates no non-IMMUTABLE function on a shard.
        deleted_at = coalesce(deleted_at, v_now)
    WHERE organization_id = p_organization_id AND id = p_user_id
    RETURNING revision INTO v_revision;
    v_counts := v_counts || pg_catalog.jsonb_build_object('users', 1);

    -- 2. The request metadata of the user's submissions (their answers are the
    --    tenant's data and stay); one submission.erased event each.
    WITH erased AS (
        UPDATE pliers.submissions
        SET updated_at = pg_catalog.now(), ip_address = NULL, user_agent = NULL, referrer = NULL
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

REVOKE ALL ON FUNCTION
pliers._default_partition_months(regclass),
pliers.run_maintenance(integer, interval, interval),
pliers._require_rls_bypass(text),
pliers.purge_deleted(interval),
pliers._erase_jsonb(jsonb, text[], text[], text, boolean),
pliers.erase_user(uuid, uuid)
FROM public;
