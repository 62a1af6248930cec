-- History: the event log (decision 7) and the audit log, both range-partitioned
-- by month on their time column (decision 8), and the two maintenance functions
-- that create monthly partitions ahead of time and detach old ones.
--
-- This file creates no dated partition: only the DEFAULT partitions, so the schema
-- built from sql/ is the same whenever it is built (the sql/ vs migrations/
-- comparison). Months are created by maintenance (pliers.create_partitions); until
-- then rows land in the DEFAULT partition and are moved out when their month is
-- created.
--
-- Partition bounds are UTC month starts. Partitions get no grants: the application
-- reaches rows only through the parent tables.

-- ---------------------------------------------------------------------------
-- pliers.events
-- ---------------------------------------------------------------------------

-- The seed's CHECK list valid_aggregate_type, as an enum like every other value
-- list (10-types.sql); defined here because only events uses it.
CREATE TYPE pliers.aggregate_type AS ENUM (
    'form',
    'submission',
    'workflow',
    'user',
    'organization'
);

COMMENT ON TYPE pliers.aggregate_type IS
'events.aggregate_type (seed constraint valid_aggregate_type): the kinds of aggregate whose changes are recorded as events';

-- Feed position of an event (pliers.read_feed, sql/74-feed.sql): a tie-break
-- between the events of one transaction, in the order they were appended.
CREATE SEQUENCE pliers.events_position_seq AS bigint;

CREATE TABLE pliers.events (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,

    -- Event identification
    event_type varchar(255) NOT NULL,
    event_version varchar(10) NOT NULL DEFAULT '1.0',
    event_timestamp timestamptz NOT NULL DEFAULT now(),

    -- Aggregate information
    aggregate_type pliers.aggregate_type NOT NULL,
    aggregate_id uuid NOT NULL,
    aggregate_version integer NOT NULL,

    -- Event data
    payload jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',

    -- Causation and correlation
    correlation_id uuid,
    causation_id uuid,

    -- Source
    user_id uuid,
    session_id uuid,
    ip_address inet,
    user_agent text,

    -- Processing
    processed_at timestamptz,
    processing_errors jsonb,

    -- Indexing helpers
    indexed_values jsonb NOT NULL DEFAULT '{}',

    -- Change feed (pliers.read_feed): the writing transaction, then the order within it
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    position bigint NOT NULL DEFAULT nextval('pliers.events_position_seq'),

    -- A primary key of a partitioned table must contain the partition key.
    CONSTRAINT events_pkey PRIMARY KEY (organization_id, id, event_timestamp),
    CONSTRAINT events_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT events_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT events_event_type_format CHECK (
        event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'
    ),
    CONSTRAINT events_event_version_format CHECK (event_version ~ '^[0-9]+\.[0-9]+$'),
    CONSTRAINT events_aggregate_version_positive CHECK (aggregate_version > 0),
    CONSTRAINT events_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT events_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT events_indexed_values_object CHECK (jsonb_typeof(indexed_values) = 'object')
) PARTITION BY RANGE (event_timestamp);

COMMENT ON TABLE pliers.events IS
'Append-only event log: one row per change of an aggregate, written in the same transaction as the change. '
'Range-partitioned by month of event_timestamp (UTC); see pliers.create_partitions and pliers.detach_partitions.';
COMMENT ON COLUMN pliers.events.id IS
'Event id. Unique by generation (gen_random_uuid); the key is (organization_id, id, event_timestamp) '
'because a partitioned table''s key must contain the partition key.';
COMMENT ON COLUMN pliers.events.event_type IS
'Dotted lower-case name, <aggregate>.<what happened>, e.g. submission.created.';
COMMENT ON COLUMN pliers.events.event_version IS 'Version of the payload format of this event type, <major>.<minor>.';
COMMENT ON COLUMN pliers.events.event_timestamp IS 'When the event happened; the partition key.';
COMMENT ON COLUMN pliers.events.aggregate_type IS 'Kind of the aggregate the event belongs to.';
COMMENT ON COLUMN pliers.events.aggregate_version IS
'Version of the aggregate after this event: the aggregate row''s revision after the change (decision 7).';
COMMENT ON COLUMN pliers.events.payload IS 'Event data, a JSON object whose shape is given by event_type and event_version.';
COMMENT ON COLUMN pliers.events.metadata IS 'Free-form context of the event, a JSON object.';
COMMENT ON COLUMN pliers.events.correlation_id IS 'Groups the events caused by one request or workflow run.';
COMMENT ON COLUMN pliers.events.causation_id IS
'Id of the event that caused this one (not a foreign key: the key of events also holds the timestamp).';
COMMENT ON COLUMN pliers.events.user_id IS 'User who caused the event; set to NULL if that user is deleted.';
COMMENT ON COLUMN pliers.events.processed_at IS 'When a consumer finished processing the event; NULL while pending.';
COMMENT ON COLUMN pliers.events.processing_errors IS 'Errors reported by consumers, if any.';
COMMENT ON COLUMN pliers.events.indexed_values IS 'Values extracted from the payload for searching, a JSON object.';
COMMENT ON COLUMN pliers.events.transaction_id IS
'Id of the transaction that appended the event (pg_current_xact_id(), forced by trigger events_transaction_id). '
'The change feed reads events in (transaction_id, position) order, only below the oldest running transaction.';
COMMENT ON COLUMN pliers.events.position IS
'Feed position from sequence pliers.events_position_seq: unique, and within one transaction in append order. '
'Across transactions the feed orders by transaction_id first (see pliers.read_feed).';

ALTER SEQUENCE pliers.events_position_seq OWNED BY pliers.events.position;
COMMENT ON SEQUENCE pliers.events_position_seq IS 'Source of events.position (change feed tie-break within a transaction).';

-- An aggregate's history, in version order (replay, optimistic concurrency checks).
CREATE INDEX events_org_aggregate_version_idx
ON pliers.events (organization_id, aggregate_type, aggregate_id, aggregate_version);
COMMENT ON INDEX pliers.events_org_aggregate_version_idx IS
'History of one aggregate in version order. Not unique: a unique index on a partitioned table '
'would have to contain event_timestamp; versions are unique because they come from the aggregate row''s revision.';

-- Each index on events serves a query of the API (issue 13: the others cost every
-- append and were never read): the history of one aggregate (time travel, sql/76) and
-- the feed (sql/74). The users foreign key's check when a user is hard-deleted (NO
-- ACTION) and pliers.erase_user read the tenant's events through the feed index's
-- leading column: rare operations.
-- A tenant's change feed after a cursor (pliers.read_feed).
CREATE INDEX events_org_transaction_position_idx
ON pliers.events (organization_id, transaction_id, position);
COMMENT ON INDEX pliers.events_org_transaction_position_idx IS
'Change feed of one organization in (transaction_id, position) order, read after a cursor by pliers.read_feed.';

CREATE TABLE pliers.events_default PARTITION OF pliers.events DEFAULT;
COMMENT ON TABLE pliers.events_default IS
'Catches events of months that have no partition yet; pliers.create_partitions moves them out.';

-- ---------------------------------------------------------------------------
-- pliers.audit_logs
-- ---------------------------------------------------------------------------

CREATE TABLE pliers.audit_logs (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,

    -- Action details
    action varchar(100) NOT NULL,
    resource_type varchar(50) NOT NULL,
    resource_id uuid,
    resource_name varchar(255),

    -- Changes
    old_values jsonb,
    new_values jsonb,
    diff jsonb,

    -- Context
    user_id uuid,
    session_id uuid,
    ip_address inet,
    user_agent text,

    -- Result
    status pliers.audit_status NOT NULL,
    error_message text,

    -- Timing
    created_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',

    -- A primary key of a partitioned table must contain the partition key.
    CONSTRAINT audit_logs_pkey PRIMARY KEY (organization_id, id, created_at),
    CONSTRAINT audit_logs_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT audit_logs_duration_ms_not_negative CHECK (duration_ms >= 0),
    CONSTRAINT audit_logs_old_values_object CHECK (jsonb_typeof(old_values) = 'object'),
    CONSTRAINT audit_logs_new_values_object CHECK (jsonb_typeof(new_values) = 'object'),
    CONSTRAINT audit_logs_diff_object CHECK (jsonb_typeof(diff) = 'object'),
    CONSTRAINT audit_logs_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
) PARTITION BY RANGE (created_at);

COMMENT ON TABLE pliers.audit_logs IS
'Append-only audit trail of row changes and actions, without secrets (decision 7). '
'Range-partitioned by month of created_at (UTC); see pliers.create_partitions and pliers.detach_partitions.';
COMMENT ON COLUMN pliers.audit_logs.id IS
'Audit row id; the key is (organization_id, id, created_at) because it must contain the partition key.';
COMMENT ON COLUMN pliers.audit_logs.action IS 'What was done, e.g. insert, update, delete or an API action name.';
COMMENT ON COLUMN pliers.audit_logs.resource_type IS 'Kind of the object acted upon, e.g. the table name.';
COMMENT ON COLUMN pliers.audit_logs.resource_id IS 'Id of the object acted upon, when it has one.';
COMMENT ON COLUMN pliers.audit_logs.resource_name IS 'Human-readable name of the object at the time of the action.';
COMMENT ON COLUMN pliers.audit_logs.old_values IS 'Row before the change (JSON object, secrets removed); NULL for inserts.';
COMMENT ON COLUMN pliers.audit_logs.new_values IS 'Row after the change (JSON object, secrets removed); NULL for deletes.';
COMMENT ON COLUMN pliers.audit_logs.diff IS 'Changed keys only (JSON object), for updates.';
COMMENT ON COLUMN pliers.audit_logs.user_id IS 'User who acted; set to NULL if that user is deleted.';
COMMENT ON COLUMN pliers.audit_logs.status IS 'Outcome: success, failure or partial.';
COMMENT ON COLUMN pliers.audit_logs.created_at IS 'When the action happened; the partition key.';
COMMENT ON COLUMN pliers.audit_logs.duration_ms IS 'How long the action took, in milliseconds.';
COMMENT ON COLUMN pliers.audit_logs.metadata IS 'Free-form context, a JSON object.';

-- The history of one object: "who changed this form, and when".
CREATE INDEX audit_logs_org_resource_created_at_idx
ON pliers.audit_logs (organization_id, resource_type, resource_id, created_at);
COMMENT ON INDEX pliers.audit_logs_org_resource_created_at_idx IS
'Audit trail of one resource, by time.';

-- What one user did, by time; also serves the users foreign key (its NO ACTION check when
-- a user is hard-deleted).
CREATE INDEX audit_logs_org_user_created_at_idx
ON pliers.audit_logs (organization_id, user_id, created_at)
WHERE user_id IS NOT NULL;
COMMENT ON INDEX pliers.audit_logs_org_user_created_at_idx IS
'Actions of one user, by time; also the index of the (organization_id, user_id) foreign key.';

-- An organization's audit log page, newest first.
CREATE INDEX audit_logs_org_created_at_idx
ON pliers.audit_logs (organization_id, created_at);
COMMENT ON INDEX pliers.audit_logs_org_created_at_idx IS
'Audit log of one organization, by time (the primary key orders by id, not time).';

CREATE TABLE pliers.audit_logs_default PARTITION OF pliers.audit_logs DEFAULT;
COMMENT ON TABLE pliers.audit_logs_default IS
'Catches audit rows of months that have no partition yet; pliers.create_partitions moves them out.';

-- ---------------------------------------------------------------------------
-- Partition maintenance
-- ---------------------------------------------------------------------------

-- Validates a table given to the partition functions and describes it.
CREATE FUNCTION pliers._partitioned_parent(
    p_parent regclass,
    OUT parent_schema name,
    OUT parent_name name,
    OUT key_column name,
    OUT default_partition regclass
)
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
DECLARE
    v_relkind "char";
    v_is_partition boolean;
    v_strategy "char";
    v_key_count smallint;
    v_key_type regtype;
BEGIN
    SELECT n.nspname, c.relname, c.relkind, c.relispartition,
           pt.partstrat, pt.partnatts, a.attname, a.atttypid::regtype,
           NULLIF(pt.partdefid, '0')::regclass
      INTO parent_schema, parent_name, v_relkind, v_is_partition,
           v_strategy, v_key_count, key_column, v_key_type, default_partition
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      LEFT JOIN pg_catalog.pg_partitioned_table AS pt ON pt.partrelid = c.oid
      LEFT JOIN pg_catalog.pg_attribute AS a
             ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
     WHERE c.oid = p_parent;

    IF p_parent IS NULL OR NOT FOUND THEN
        RAISE EXCEPTION 'p_parent must name an existing table'
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_parent', 'value', p_parent::text)::text;
    END IF;
    IF parent_schema <> 'pliers' OR v_relkind <> 'p' OR v_is_partition
       OR v_strategy <> 'r' OR v_key_count <> 1
       OR v_key_type IS DISTINCT FROM 'timestamptz'::regtype THEN
        RAISE EXCEPTION '% is not a table of schema pliers range-partitioned on one timestamptz column', p_parent
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_parent', 'value', p_parent::text)::text,
                  HINT = 'Partition maintenance applies to pliers.events and pliers.audit_logs.';
    END IF;
    -- '<parent>_pYYYY_MM' must fit in an identifier (63 bytes).
    IF pg_catalog.octet_length(parent_name) > 54 THEN
        RAISE EXCEPTION 'the name of % is too long for monthly partition names', p_parent
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_parent', 'value', p_parent::text)::text;
    END IF;
END
$function$;

COMMENT ON FUNCTION pliers._partitioned_parent(regclass) IS
'Private. Checks that p_parent is a table of schema pliers range-partitioned on one timestamptz column '
'(else PL009) and returns its schema, name, partition key column and DEFAULT partition (NULL if none).';

-- The partitions of a table with their bounds (NULL bounds for the DEFAULT partition).
CREATE FUNCTION pliers._partition_bounds(p_parent regclass)
RETURNS TABLE (
    partition_oid regclass,
    is_default boolean,
    lower_bound timestamptz,
    upper_bound timestamptz
)
LANGUAGE sql
STABLE
-- The bounds are read back from their text form, written in these settings.
SET search_path = ''
SET timezone = 'UTC'
SET datestyle = 'ISO, YMD'
AS $function$
    SELECT
        c.oid::regclass,
        c.relpartbound IS NOT NULL AND r.m IS NULL,
        CASE r.m[1] WHEN 'MINVALUE' THEN '-infinity' ELSE pg_catalog.btrim(r.m[1], '''') END::timestamptz,
        CASE r.m[2] WHEN 'MAXVALUE' THEN 'infinity' ELSE pg_catalog.btrim(r.m[2], '''') END::timestamptz
    FROM pg_catalog.pg_inherits AS i
    INNER JOIN pg_catalog.pg_class AS c ON i.inhrelid = c.oid
    CROSS JOIN LATERAL (
        SELECT pg_catalog.regexp_match(
            pg_catalog.pg_get_expr(c.relpartbound, c.oid),
            '^FOR VALUES FROM \((.+)\) TO \((.+)\)$'
        ) AS m
    ) AS r
    WHERE i.inhparent = p_parent;
$function$;

COMMENT ON FUNCTION pliers._partition_bounds(regclass) IS
'Private. The partitions of a table range-partitioned on one timestamptz column, with their bounds '
'[lower_bound, upper_bound); is_default marks the DEFAULT partition (bounds NULL).';

CREATE FUNCTION pliers.create_partitions(p_parent regclass, p_from date, p_to date)
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
                    EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= $1 AND %I < $2)',
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

            IF pliers._on_citus() THEN
                -- Citus distributes a partition created as one, with its parent's
                -- shards; a standalone table attached later would stay on the
                -- coordinator. Rows of the month in the DEFAULT partition make it fail
                -- (23514): run maintenance ahead of time (docs/scale-out.md).
                EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                                          v_parent.parent_schema, v_name,
                                          v_parent.parent_schema, v_parent.parent_name,
                                          pg_catalog.to_char(v_month, 'YYYY-MM-DD') || ' 00:00:00+00',
                                          pg_catalog.to_char(v_month + INTERVAL '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
                v_new := pg_catalog.to_regclass(partition_name);
                v_moved := 0;
            ELSE
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
            END IF;
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

CREATE FUNCTION pliers.detach_partitions(p_parent regclass, p_retention interval)
RETURNS TABLE (partition_name text, archived_as text)
LANGUAGE plpgsql
SET search_path = ''
SET timezone = 'UTC'
SET datestyle = 'ISO, YMD'
AS $function$
DECLARE
    v_parent record;
    v_cutoff timestamptz;
    v_partition record;
    v_archive_name name;
    v_suffix integer;
    v_tail text;
    v_index record;
BEGIN
    IF p_retention IS NULL OR p_retention < INTERVAL '1 month' THEN
        RAISE EXCEPTION 'p_retention must be at least 1 month'
            USING ERRCODE = 'PL009',
                  DETAIL = pg_catalog.jsonb_build_object('argument', 'p_retention', 'value', p_retention)::text;
    END IF;
    SELECT * INTO v_parent FROM pliers._partitioned_parent(p_parent);
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'pliers.detach_partitions must run in a READ COMMITTED transaction'
            USING ERRCODE = '25000';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtext('pliers.partition_maintenance'), p_parent::oid::integer);

    -- With a retention of at least a month, the cutoff lies in the past: a partition
    -- detached here can only receive rows back-dated by more than the retention.
    v_cutoff := pg_catalog.now() - p_retention;

    FOR v_partition IN
        SELECT b.partition_oid, c.relname, b.lower_bound, b.upper_bound
          FROM pliers._partition_bounds(p_parent) AS b
          JOIN pg_catalog.pg_class AS c ON c.oid = b.partition_oid
         WHERE NOT b.is_default AND b.upper_bound <= v_cutoff
         ORDER BY b.lower_bound
    LOOP
        partition_name := pg_catalog.format('%I.%I', v_parent.parent_schema, v_partition.relname);
        -- Non-concurrent DETACH (a function runs inside a transaction): it takes
        -- ACCESS EXCLUSIVE on the parent for a catalog-only change.
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I DETACH PARTITION %s',
                                  v_parent.parent_schema, v_parent.parent_name, v_partition.partition_oid);

        -- Keep the name in the archive. If the archive already holds a table or an
        -- index of that name (the month was archived before), the table and its
        -- indexes get the first free suffix _N (names cut to fit 63 bytes).
        v_suffix := 0;
        LOOP
            v_tail := CASE WHEN v_suffix > 0 THEN '_' || v_suffix ELSE '' END;
            EXIT WHEN NOT EXISTS (
                SELECT
                  FROM pg_catalog.pg_class AS c
                 WHERE c.relnamespace IN ('pliers_archive'::regnamespace, 'pliers'::regnamespace)
                   AND c.oid <> v_partition.partition_oid
                   AND c.relname IN (
                           SELECT pg_catalog.left(ic.relname, 63 - pg_catalog.length(v_tail)) || v_tail
                             FROM pg_catalog.pg_class AS ic
                            WHERE ic.oid = v_partition.partition_oid
                               OR ic.oid IN (SELECT x.indexrelid FROM pg_catalog.pg_index AS x
                                              WHERE x.indrelid = v_partition.partition_oid))
                   AND (v_suffix > 0 OR c.relnamespace = 'pliers_archive'::regnamespace)
            );
            v_suffix := v_suffix + 1;
        END LOOP;
        v_archive_name := pg_catalog.left(v_partition.relname, 63 - pg_catalog.length(v_tail)) || v_tail;
        IF v_suffix > 0 THEN
            FOR v_index IN
                SELECT ic.relname
                  FROM pg_catalog.pg_index AS x
                  JOIN pg_catalog.pg_class AS ic ON ic.oid = x.indexrelid
                 WHERE x.indrelid = v_partition.partition_oid
            LOOP
                EXECUTE pg_catalog.format('ALTER INDEX %I.%I RENAME TO %I', v_parent.parent_schema, v_index.relname,
                                          pg_catalog.left(v_index.relname, 63 - pg_catalog.length(v_tail)) || v_tail);
            END LOOP;
            EXECUTE pg_catalog.format('ALTER TABLE %s RENAME TO %I', v_partition.partition_oid, v_archive_name);
        END IF;
        EXECUTE pg_catalog.format('ALTER TABLE %s SET SCHEMA pliers_archive', v_partition.partition_oid);
        EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', v_partition.partition_oid,
            pg_catalog.format('Detached from %I.%I on %s by pliers.detach_partitions; rows from %s to %s (UTC).',
                              v_parent.parent_schema, v_parent.parent_name,
                              pg_catalog.to_char(pg_catalog.now(), 'YYYY-MM-DD'),
                              v_partition.lower_bound, v_partition.upper_bound));
        archived_as := pg_catalog.format('%I.%I', 'pliers_archive', v_archive_name);
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.detach_partitions(regclass, interval) IS
'Detaches the partitions of p_parent (pliers.events, pliers.audit_logs) whose upper bound is at least p_retention '
'(at least 1 month) in the past and moves them to schema pliers_archive (suffix _N if the name is taken there); '
'never the DEFAULT partition, never drops anything. Idempotent: returns one row per partition detached now. '
'DETACH takes ACCESS EXCLUSIVE on the parent briefly: run it with a lock_timeout. Bad arguments raise PL009.';
