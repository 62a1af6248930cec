-- Rollback of 0030: pliers.run_maintenance without its DEBUG messages, as in 0015.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

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

RESET ROLE;
