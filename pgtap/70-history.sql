-- History tables (events, audit_logs): partitioning, columns, constraints, indexes,
-- and the partition maintenance functions create_partitions / detach_partitions.
-- The months used (2001-03, 2001-04) are far in the past so that no partition made
-- by real maintenance gets in the way; everything is rolled back.
BEGIN;
SELECT plan(159);

-- Helpers ---------------------------------------------------------------------

-- Names of the relations a query's plan reads (EXPLAIN, without running it).
CREATE FUNCTION pg_temp.plan_relations(p_query text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
DECLARE
    v_plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || p_query INTO v_plan;
    RETURN QUERY
    WITH RECURSIVE nodes (node) AS (
        SELECT v_plan -> 0 -> 'Plan'
        UNION ALL
        SELECT child
        FROM nodes CROSS JOIN LATERAL jsonb_array_elements(nodes.node -> 'Plans') AS c (child)
        WHERE nodes.node ? 'Plans'
    )
    SELECT node ->> 'Relation Name' FROM nodes WHERE node ? 'Relation Name' ORDER BY 1;
END
$$;

-- The DETAIL of the error a statement raises, as jsonb (NULL if it raises none).
CREATE FUNCTION pg_temp.error_detail(p_sql text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_detail text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_detail::jsonb;
END
$$;

-- Two tenants, one user in the first.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('a0000000-0000-4000-8000-000000000001', 'history-test-a', 'History test A'),
('b0000000-0000-4000-8000-000000000002', 'history-test-b', 'History test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('a0000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', 'ann@example.com');

-- Structure: events -------------------------------------------------------------

SELECT has_table('pliers', 'events', 'pliers.events exists');
SELECT is_partitioned('pliers', 'events', 'pliers.events is partitioned');
SELECT is(
    pg_catalog.pg_get_partkeydef('pliers.events'::regclass), 'RANGE (event_timestamp)',
    'pliers.events is partitioned by range on event_timestamp'
);
SELECT has_pk('pliers', 'events', 'pliers.events has a primary key');
SELECT col_is_pk(
    'pliers', 'events', ARRAY['organization_id', 'id', 'event_timestamp']::name[],
    'the key of pliers.events is (organization_id, id, event_timestamp)'
);
SELECT columns_are('pliers', 'events', ARRAY[
    'id', 'organization_id', 'event_type', 'event_version', 'event_timestamp',
    'aggregate_type', 'aggregate_id', 'aggregate_version', 'payload', 'metadata',
    'correlation_id', 'causation_id', 'user_id', 'session_id', 'ip_address', 'user_agent',
    'processed_at', 'processing_errors', 'indexed_values', 'transaction_id', 'position'
]::name[], 'pliers.events has the columns of the seed, plus the change-feed cursor');
SELECT col_type_is('pliers', 'events', v.col, v.typ, 'events.' || v.col || ' is ' || v.typ)
FROM (
    VALUES
    ('id', 'uuid'),
    ('organization_id', 'uuid'),
    ('event_type', 'character varying(255)'),
    ('event_version', 'character varying(10)'),
    ('event_timestamp', 'timestamp with time zone'),
    ('aggregate_type', 'pliers.aggregate_type'),
    ('aggregate_id', 'uuid'),
    ('aggregate_version', 'integer'),
    ('payload', 'jsonb'),
    ('metadata', 'jsonb'),
    ('correlation_id', 'uuid'),
    ('causation_id', 'uuid'),
    ('user_id', 'uuid'),
    ('session_id', 'uuid'),
    ('ip_address', 'inet'),
    ('user_agent', 'text'),
    ('processed_at', 'timestamp with time zone'),
    ('processing_errors', 'jsonb'),
    ('indexed_values', 'jsonb')
) AS v (col, typ);
SELECT enum_has_labels(
    'pliers', 'aggregate_type',
    ARRAY['form', 'submission', 'workflow', 'user', 'organization'],
    'pliers.aggregate_type has the seed''s values'
);
SELECT fk_ok(
    'pliers', 'events', ARRAY['organization_id']::name[], 'pliers', 'organizations', ARRAY['id']::name[],
    'events.organization_id references organizations'
);
SELECT fk_ok(
    'pliers', 'events', ARRAY['organization_id', 'user_id']::name[],
    'pliers', 'users', ARRAY['organization_id', 'id']::name[],
    'events.user_id is a composite foreign key to users of the same organization'
);
SELECT is_partition_of('pliers', 'events_default', 'pliers', 'events', 'pliers.events_default is a partition');
SELECT is(
    (
        SELECT pt.partdefid::regclass FROM pg_catalog.pg_partitioned_table AS pt
        WHERE pt.partrelid = 'pliers.events'::regclass
    ),
    'pliers.events_default'::regclass, 'pliers.events_default is the DEFAULT partition'
);

SELECT has_index(
    'pliers', 'events', 'events_org_aggregate_version_idx',
    ARRAY['organization_id', 'aggregate_type', 'aggregate_id', 'aggregate_version']::name[],
    'index: an aggregate''s history in version order'
);
SELECT indexes_are(
    'pliers', 'events', ARRAY['events_pkey', 'events_org_aggregate_version_idx', 'events_org_transaction_position_idx'],
    'events: only the indexes the API reads (history of an aggregate, the feed) and the key'
);

-- Structure: audit_logs ---------------------------------------------------------

SELECT has_table('pliers', 'audit_logs', 'pliers.audit_logs exists');
SELECT is_partitioned('pliers', 'audit_logs', 'pliers.audit_logs is partitioned');
SELECT is(
    pg_catalog.pg_get_partkeydef('pliers.audit_logs'::regclass), 'RANGE (created_at)',
    'pliers.audit_logs is partitioned by range on created_at'
);
SELECT has_pk('pliers', 'audit_logs', 'pliers.audit_logs has a primary key');
SELECT col_is_pk(
    'pliers', 'audit_logs', ARRAY['organization_id', 'id', 'created_at']::name[],
    'the key of pliers.audit_logs is (organization_id, id, created_at)'
);
SELECT columns_are('pliers', 'audit_logs', ARRAY[
    'id', 'organization_id', 'action', 'resource_type', 'resource_id', 'resource_name',
    'old_values', 'new_values', 'diff', 'user_id', 'session_id', 'ip_address', 'user_agent',
    'status', 'error_message', 'created_at', 'duration_ms', 'metadata'
]::name[], 'pliers.audit_logs has the columns of the seed');
SELECT col_type_is('pliers', 'audit_logs', v.col, v.typ, 'audit_logs.' || v.col || ' is ' || v.typ)
FROM (
    VALUES
    ('id', 'uuid'),
    ('organization_id', 'uuid'),
    ('action', 'character varying(100)'),
    ('resource_type', 'character varying(50)'),
    ('resource_id', 'uuid'),
    ('resource_name', 'character varying(255)'),
    ('old_values', 'jsonb'),
    ('new_values', 'jsonb'),
    ('diff', 'jsonb'),
    ('user_id', 'uuid'),
    ('session_id', 'uuid'),
    ('ip_address', 'inet'),
    ('user_agent', 'text'),
    ('status', 'pliers.audit_status'),
    ('error_message', 'text'),
    ('created_at', 'timestamp with time zone'),
    ('duration_ms', 'integer'),
    ('metadata', 'jsonb')
) AS v (col, typ);
SELECT fk_ok(
    'pliers', 'audit_logs', ARRAY['organization_id']::name[], 'pliers', 'organizations', ARRAY['id']::name[],
    'audit_logs.organization_id references organizations'
);
SELECT fk_ok(
    'pliers', 'audit_logs', ARRAY['organization_id', 'user_id']::name[],
    'pliers', 'users', ARRAY['organization_id', 'id']::name[],
    'audit_logs.user_id is a composite foreign key to users of the same organization'
);
SELECT is(
    (
        SELECT pt.partdefid::regclass FROM pg_catalog.pg_partitioned_table AS pt
        WHERE pt.partrelid = 'pliers.audit_logs'::regclass
    ),
    'pliers.audit_logs_default'::regclass, 'pliers.audit_logs_default is the DEFAULT partition'
);
SELECT has_index(
    'pliers', 'audit_logs', 'audit_logs_org_resource_created_at_idx',
    ARRAY['organization_id', 'resource_type', 'resource_id', 'created_at']::name[],
    'index: audit trail of one resource by time'
);
SELECT has_index(
    'pliers', 'audit_logs', 'audit_logs_org_user_created_at_idx',
    ARRAY['organization_id', 'user_id', 'created_at']::name[],
    'index: actions of one user by time (users foreign key)'
);
SELECT has_index(
    'pliers', 'audit_logs', 'audit_logs_org_created_at_idx',
    ARRAY['organization_id', 'created_at']::name[],
    'index: audit log of one organization by time'
);
SELECT indexes_are(
    'pliers', 'audit_logs', ARRAY[
        'audit_logs_pkey', 'audit_logs_org_resource_created_at_idx', 'audit_logs_org_user_created_at_idx',
        'audit_logs_org_created_at_idx'
    ],
    'audit_logs: no BRIN (months are partitions)'
);

-- Documentation -------------------------------------------------------------------

SELECT is_empty($$
    SELECT i.indexrelid::regclass::text
    FROM pg_catalog.pg_index AS i
    WHERE i.indrelid IN ('pliers.events'::regclass, 'pliers.audit_logs'::regclass)
      AND NOT i.indisprimary
      AND pg_catalog.obj_description(i.indexrelid, 'pg_class') IS NULL
$$, 'every secondary index of events and audit_logs has a comment');
SELECT isnt(pg_catalog.obj_description(v.obj, 'pg_class'), NULL, v.obj::text || ' has a comment')
FROM (
    VALUES
    ('pliers.events'::regclass), ('pliers.audit_logs'::regclass),
    ('pliers.events_default'::regclass), ('pliers.audit_logs_default'::regclass)
) AS v (obj);
SELECT isnt(pg_catalog.obj_description(v.obj, 'pg_proc'), NULL, v.obj::text || ' has a comment')
FROM (
    VALUES
    ('pliers.create_partitions(regclass, date, date)'::regprocedure),
    ('pliers.detach_partitions(regclass, interval)'::regprocedure),
    ('pliers._partitioned_parent(regclass)'::regprocedure),
    ('pliers._partition_bounds(regclass)'::regprocedure)
) AS v (obj);
SELECT ok('search_path=""' = any(p.proconfig), p.oid::regprocedure::text || ' runs with an empty search_path')
FROM pg_catalog.pg_proc AS p
WHERE
    p.oid IN (
        'pliers.create_partitions(regclass, date, date)'::regprocedure,
        'pliers.detach_partitions(regclass, interval)'::regprocedure,
        'pliers._partitioned_parent(regclass)'::regprocedure,
        'pliers._partition_bounds(regclass)'::regprocedure
    )
ORDER BY p.oid;
SELECT function_returns(
    'pliers', 'create_partitions', ARRAY['regclass', 'date', 'date'], 'setof record',
    'create_partitions(regclass, date, date) returns a set'
);
SELECT function_returns(
    'pliers', 'detach_partitions', ARRAY['regclass', 'interval'], 'setof record',
    'detach_partitions(regclass, interval) returns a set'
);

-- Constraints -----------------------------------------------------------------------

PREPARE ev AS
INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload)
VALUES ($1, $2, $3, 'c0000000-0000-4000-8000-000000000001', $4, $5);

SELECT lives_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'submission.created', 'submission', 1, '{}')$$,
    'a valid event is accepted'
);
SELECT lives_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'workflow.step_2.failed', 'workflow', 3, '{}')$$,
    'an event name may have several dotted parts'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'created', 'form', 1, '{}')$$,
    '23514', NULL, 'an event name without a dot is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'Form.Created', 'form', 1, '{}')$$,
    '23514', NULL, 'an upper-case event name is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.', 'form', 1, '{}')$$,
    '23514', NULL, 'an event name with an empty part is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.created', 'invoice', 1, '{}')$$,
    '22P02', NULL, 'an unknown aggregate_type is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 0, '{}')$$,
    '23514', NULL, 'aggregate_version 0 is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', NULL, '{}')$$,
    '23502', NULL, 'aggregate_version is required'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 1, '[]')$$,
    '23514', NULL, 'a payload that is an array is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 1, '"x"')$$,
    '23514', NULL, 'a payload that is a string is rejected'
);
SELECT throws_ok(
    $$EXECUTE ev('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 1, NULL)$$,
    '23502', NULL, 'payload is required'
);
SELECT throws_ok(
    $$EXECUTE ev('d0000000-0000-4000-8000-000000000009', 'form.created', 'form', 1, '{}')$$,
    '23503', NULL, 'an event of an unknown organization is rejected'
);
SELECT throws_ok($$
    INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
                               metadata)
    VALUES ('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 'c0000000-0000-4000-8000-000000000001',
            1, '{}', '[]')
$$, '23514', NULL, 'metadata that is not an object is rejected');
SELECT throws_ok($$
    INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
                               event_version)
    VALUES ('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 'c0000000-0000-4000-8000-000000000001',
            1, '{}', 'v1')
$$, '23514', NULL, 'an event_version not of the form <major>.<minor> is rejected');
SELECT throws_ok($$
    INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
                               indexed_values)
    VALUES ('a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 'c0000000-0000-4000-8000-000000000001',
            1, '{}', '1')
$$, '23514', NULL, 'indexed_values that is not an object is rejected');
SELECT lives_ok($$
    INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
                               user_id)
    VALUES ('a0000000-0000-4000-8000-000000000001', 'user.logged_in', 'user', 'a1000000-0000-4000-8000-000000000001',
            1, '{}', 'a1000000-0000-4000-8000-000000000001')
$$, 'an event may name a user of its own organization');
SELECT throws_ok($$
    INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
                               user_id)
    VALUES ('b0000000-0000-4000-8000-000000000002', 'user.logged_in', 'user', 'a1000000-0000-4000-8000-000000000001',
            1, '{}', 'a1000000-0000-4000-8000-000000000001')
$$, '23503', NULL, 'an event may not name a user of another organization');

PREPARE au AS
INSERT INTO pliers.audit_logs (organization_id, action, resource_type, status, user_id, duration_ms, old_values)
VALUES ($1, 'update', 'forms', $2, $3, $4, $5);

SELECT lives_ok(
    $$EXECUTE au('a0000000-0000-4000-8000-000000000001', 'success',
                             'a1000000-0000-4000-8000-000000000001', 12, '{"title": "x"}')$$,
    'a valid audit row is accepted'
);
SELECT throws_ok(
    $$EXECUTE au('a0000000-0000-4000-8000-000000000001', 'ok', NULL, NULL, NULL)$$,
    '22P02', NULL, 'an unknown audit status is rejected'
);
SELECT throws_ok(
    $$EXECUTE au('a0000000-0000-4000-8000-000000000001', NULL, NULL, NULL, NULL)$$,
    '23502', NULL, 'an audit status is required'
);
SELECT throws_ok(
    $$EXECUTE au('a0000000-0000-4000-8000-000000000001', 'failure', NULL, -1, NULL)$$,
    '23514', NULL, 'a negative duration_ms is rejected'
);
SELECT throws_ok(
    $$EXECUTE au('a0000000-0000-4000-8000-000000000001', 'partial', NULL, NULL, '[1]')$$,
    '23514', NULL, 'old_values that is not an object is rejected'
);
SELECT throws_ok(
    $$EXECUTE au('b0000000-0000-4000-8000-000000000002', 'success',
                              'a1000000-0000-4000-8000-000000000001', NULL, NULL)$$,
    '23503', NULL, 'an audit row may not name a user of another organization'
);

-- A user named by the history cannot be hard-deleted (NO ACTION: users are soft-deleted),
-- and the history keeps who acted.
SELECT throws_ok(
    $$DELETE FROM pliers.users WHERE id = 'a1000000-0000-4000-8000-000000000001'$$,
    '23503', NULL, 'a user named by events and audit rows cannot be hard-deleted'
);
SELECT is(
    (
        SELECT count(*)::integer
        FROM pliers.events
        WHERE
            aggregate_id = 'a1000000-0000-4000-8000-000000000001'
            AND user_id = 'a1000000-0000-4000-8000-000000000001'
    ),
    1, 'events.user_id still names the user'
);
SELECT is(
    (
        SELECT count(*)::integer
        FROM pliers.audit_logs
        WHERE
            organization_id = 'a0000000-0000-4000-8000-000000000001'
            AND action = 'update' AND user_id = 'a1000000-0000-4000-8000-000000000001'
    ),
    1, 'audit_logs.user_id still names the user'
);

-- Default partition and create_partitions ------------------------------------------------

INSERT INTO pliers.events (
    organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
    event_timestamp
)
VALUES
(
    'a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 'f0000000-0000-4000-8000-000000000001', 1, '{}',
    '2001-04-15 12:00:00+00'
),
-- the last microsecond of April in UTC, and the first of May
(
    'a0000000-0000-4000-8000-000000000001', 'form.updated', 'form', 'f0000000-0000-4000-8000-000000000001', 2, '{}',
    '2001-04-30 23:59:59.999999+00'
),
(
    'a0000000-0000-4000-8000-000000000001', 'form.updated', 'form', 'f0000000-0000-4000-8000-000000000001', 3, '{}',
    '2001-04-30 23:30:00-02'
),
(
    'a0000000-0000-4000-8000-000000000001', 'form.created', 'form', 'f0000000-0000-4000-8000-000000000002', 1, '{}',
    '2001-03-10 00:00:00+00'
);
INSERT INTO pliers.audit_logs (organization_id, action, resource_type, status, created_at)
VALUES ('a0000000-0000-4000-8000-000000000001', 'insert', 'forms', 'success', '2001-04-02 00:00:00+00');

CREATE TEMPORARY TABLE total_before AS
SELECT count(*) AS n FROM pliers.events;

SELECT is(
    (
        SELECT count(*)::integer FROM pliers.events_default
        WHERE event_timestamp < '2001-06-01+00'
    ), 4,
    'events of months without a partition land in the DEFAULT partition'
);
SELECT is(
    (
        SELECT count(*)::integer FROM pliers.audit_logs_default
        WHERE created_at < '2001-06-01+00'
    ), 1,
    'audit rows of months without a partition land in the DEFAULT partition'
);

SELECT results_eq(
    $$SELECT partition_name, created, rows_moved FROM pliers.create_partitions('pliers.events', '2001-04-20', '2001-04-20')$$,
    $$VALUES ('pliers.events_p2001_04'::text, TRUE, 2::bigint)$$,
    'create_partitions creates the month of p_from and moves its 2 rows out of the DEFAULT partition'
);
SELECT is_partition_of('pliers', 'events_p2001_04', 'pliers', 'events', 'pliers.events_p2001_04 is a partition of events');
SELECT results_eq(
    $$SELECT b.lower_bound, b.upper_bound FROM pliers._partition_bounds('pliers.events') AS b
      WHERE b.partition_oid = 'pliers.events_p2001_04'::regclass$$,
    $$VALUES ('2001-04-01 00:00:00+00'::timestamptz, '2001-05-01 00:00:00+00'::timestamptz)$$,
    'its bounds are UTC month starts'
);
SELECT is((SELECT count(*)::integer FROM pliers.events_p2001_04), 2, 'the new partition holds the 2 rows of April (UTC)');
SELECT is(
    (
        SELECT count(*)::integer FROM pliers.events_default
        WHERE event_timestamp >= '2001-04-01+00' AND event_timestamp < '2001-05-01+00'
    ),
    0,
    'the DEFAULT partition holds no row of April any more'
);
SELECT is(
    (
        SELECT count(*)::integer FROM pliers.events_default
        WHERE event_timestamp >= '2001-05-01+00' AND event_timestamp < '2001-06-01+00'
    ),
    1,
    'a row of 1 May UTC (30 April in UTC-2) stays in the DEFAULT partition'
);
SELECT is((SELECT count(*) FROM pliers.events), (SELECT n FROM total_before), 'no event was lost or duplicated');
SELECT table_owner_is(
    'pliers', 'events_p2001_04', 'pliers_owner',
    'the partition belongs to the owner of its parent, whoever created it'
);
SELECT is(
    (
        SELECT count(*)::integer FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = 'pliers.events_p2001_04'::regclass
    ),
    (
        SELECT count(*)::integer FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = 'pliers.events'::regclass
    ),
    'the partition has every index of its parent'
);
SELECT is_empty($$
    SELECT c.relname FROM pg_catalog.pg_class AS c
    WHERE c.oid = 'pliers.events_p2001_04'::regclass AND c.relacl IS NOT NULL
$$, 'the partition has no grants of its own');

SELECT results_eq(
    $$SELECT partition_name, created, rows_moved FROM pliers.create_partitions('pliers.events', '2001-04-01', '2001-04-30')$$,
    $$VALUES ('pliers.events_p2001_04'::text, FALSE, 0::bigint)$$,
    'create_partitions again for the same month is a no-op (created = false)'
);
SELECT results_eq(
    $$SELECT partition_name, created FROM pliers.create_partitions('pliers.events', '2001-03-31', '2001-05-01')$$,
    $$VALUES ('pliers.events_p2001_03'::text, TRUE), ('pliers.events_p2001_04', FALSE), ('pliers.events_p2001_05', TRUE)$$,
    'create_partitions covers every month from p_from to p_to and skips existing ones'
);
SELECT is(
    (
        SELECT count(*)::integer FROM pliers.events_default
        WHERE event_timestamp < '2001-06-01+00'
    ), 0,
    'the rows of March and May moved out of the DEFAULT partition too'
);
SELECT is((SELECT count(*) FROM pliers.events), (SELECT n FROM total_before), 'still no event lost or duplicated');

SELECT results_eq(
    $$SELECT partition_name, created, rows_moved FROM pliers.create_partitions('pliers.audit_logs', '2001-04-01', '2001-04-01')$$,
    $$VALUES ('pliers.audit_logs_p2001_04'::text, TRUE, 1::bigint)$$,
    'create_partitions works on audit_logs and moves its row'
);
SELECT is((SELECT count(*)::integer FROM pliers.audit_logs_p2001_04), 1, 'the audit row is in its month''s partition');

-- A new row of an existing month goes to its partition.
INSERT INTO pliers.events (
    organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
    event_timestamp
)
VALUES (
    'a0000000-0000-4000-8000-000000000001', 'form.updated', 'form', 'f0000000-0000-4000-8000-000000000001', 4, '{}',
    '2001-04-01 00:00:00+00'
);
SELECT is((SELECT count(*)::integer FROM pliers.events_p2001_04), 3, 'a new row of April goes to the April partition');

-- Partition pruning: a query on one month reads one partition.
SELECT results_eq(
    $$SELECT * FROM pg_temp.plan_relations($q$
        SELECT * FROM pliers.events
        WHERE organization_id = 'a0000000-0000-4000-8000-000000000001'
          AND event_timestamp >= '2001-04-01 00:00:00+00' AND event_timestamp < '2001-05-01 00:00:00+00'
    $q$)$$,
    ARRAY['events_p2001_04'],
    'a query on April reads only the April partition'
);
SELECT results_eq(
    $$SELECT * FROM pg_temp.plan_relations($q$
        SELECT * FROM pliers.events
        WHERE event_timestamp >= '2001-03-15 00:00:00+00' AND event_timestamp < '2001-04-15 00:00:00+00'
    $q$)$$,
    ARRAY['events_p2001_03', 'events_p2001_04'],
    'a query across two months reads those two partitions only'
);

-- Bad arguments of create_partitions --------------------------------------------------------

SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions(NULL, '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a NULL parent raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events', NULL, '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a NULL p_from raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events', '2001-01-01', NULL)$$,
    'PL009', NULL, 'create_partitions: a NULL p_to raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events', '2001-02-01', '2001-01-31')$$,
    'PL009', NULL, 'create_partitions: p_from after p_to raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events', '2001-01-01', 'infinity')$$,
    'PL009', NULL, 'create_partitions: an infinite date raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events', '1990-01-01', '2000-01-01')$$,
    'PL009', NULL, 'create_partitions: more than 120 months raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.users', '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a table that is not partitioned raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events_default', '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a partition raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions(12345::oid::regclass, '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: an oid that is no table raises PL009'
);
CREATE TABLE pliers.history_test_list (t timestamptz NOT NULL) PARTITION BY LIST (t);
CREATE TABLE pliers.history_test_date (d date NOT NULL) PARTITION BY RANGE (d);
CREATE TEMPORARY TABLE history_test_temp (t timestamptz NOT NULL) PARTITION BY RANGE (t);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.history_test_list', '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a list-partitioned table raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.history_test_date', '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a partition key that is not timestamptz raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_partitions('pg_temp.history_test_temp', '2001-01-01', '2001-01-01')$$,
    'PL009', NULL, 'create_partitions: a table outside schema pliers raises PL009'
);
SELECT is(
    pg_temp.error_detail($$SELECT * FROM pliers.create_partitions('pliers.events', '2001-02-01', '2001-01-31')$$),
    '{"argument": "p_from", "value": "2001-02-01"}'::jsonb,
    'the PL009 DETAIL is JSON naming the argument and its value'
);
SELECT is(
    pg_temp.error_detail($$SELECT * FROM pliers.create_partitions('pliers.users', '2001-01-01', '2001-01-01')$$),
    '{"argument": "p_parent", "value": "pliers.users"}'::jsonb,
    'the PL009 DETAIL names p_parent when the table is wrong'
);

-- detach_partitions -------------------------------------------------------------------------

-- A partition of this month (it may exist already) must never be detached.
SELECT lives_ok(
    $$SELECT * FROM pliers.create_partitions('pliers.events', current_date, current_date)$$,
    'create_partitions for the current month'
);
CREATE TEMPORARY TABLE detached AS
SELECT * FROM pliers.detach_partitions('pliers.events', '1 month');

SELECT set_eq(
    $$SELECT partition_name, archived_as FROM detached WHERE partition_name LIKE 'pliers.events\_p2001\_%'$$,
    $$VALUES ('pliers.events_p2001_03'::text, 'pliers_archive.events_p2001_03'::text),
             ('pliers.events_p2001_04', 'pliers_archive.events_p2001_04'),
             ('pliers.events_p2001_05', 'pliers_archive.events_p2001_05')$$,
    'detach_partitions detaches the old monthly partitions into pliers_archive'
);
SELECT has_table('pliers_archive', 'events_p2001_04', 'the April partition is now pliers_archive.events_p2001_04');
SELECT hasnt_table('pliers', 'events_p2001_04', 'and no longer in schema pliers');
SELECT isnt_partitioned('pliers_archive', 'events_p2001_04', 'the archived table is a plain table');
SELECT is(
    (
        SELECT count(*)::integer FROM pg_catalog.pg_inherits AS i
        WHERE i.inhrelid = 'pliers_archive.events_p2001_04'::regclass
    ),
    0,
    'the archived table is no partition of events any more'
);
SELECT is((SELECT count(*)::integer FROM pliers_archive.events_p2001_04), 3, 'the archived table keeps its rows');
SELECT is(
    (
        SELECT count(*)::integer FROM pliers.events
        WHERE event_timestamp < '2001-06-01+00'
    ), 0,
    'the archived rows are no longer read through pliers.events'
);
SELECT is_partition_of('pliers', 'events_default', 'pliers', 'events', 'the DEFAULT partition is never detached');
SELECT is_empty($$
    SELECT d.partition_name FROM detached AS d
    WHERE d.partition_name = pg_catalog.format('pliers.events_p%s', pg_catalog.to_char(current_date, 'YYYY_MM'))
$$, 'the partition of the current month is not detached');
SELECT is_empty(
    $$SELECT * FROM pliers.detach_partitions('pliers.events', '1 month')$$,
    'detach_partitions again detaches nothing (idempotent)'
);

-- Archiving a month a second time keeps the first archive: the new one gets a suffix.
INSERT INTO pliers.events (
    organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
    event_timestamp
)
VALUES (
    'a0000000-0000-4000-8000-000000000001', 'form.updated', 'form', 'f0000000-0000-4000-8000-000000000001', 5, '{}',
    '2001-04-20 00:00:00+00'
);
SELECT results_eq(
    $$SELECT partition_name, created, rows_moved FROM pliers.create_partitions('pliers.events', '2001-04-01', '2001-04-01')$$,
    $$VALUES ('pliers.events_p2001_04'::text, TRUE, 1::bigint)$$,
    'a month already archived can be created again for late rows'
);
SELECT results_eq(
    $$SELECT partition_name, archived_as FROM pliers.detach_partitions('pliers.events', '1 month')$$,
    $$VALUES ('pliers.events_p2001_04'::text, 'pliers_archive.events_p2001_04_1'::text)$$,
    'archiving it again adds a suffix instead of failing'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers_archive.events_p2001_04) * 10
    + (SELECT count(*)::integer FROM pliers_archive.events_p2001_04_1), 31,
    'both archives keep their rows'
);

SELECT results_eq(
    $$SELECT partition_name, archived_as FROM pliers.detach_partitions('pliers.audit_logs', '12 months')$$,
    $$VALUES ('pliers.audit_logs_p2001_04'::text, 'pliers_archive.audit_logs_p2001_04'::text)$$,
    'detach_partitions works on audit_logs'
);

-- Bad arguments of detach_partitions
SELECT throws_ok(
    $$SELECT * FROM pliers.detach_partitions('pliers.events', NULL)$$,
    'PL009', NULL, 'detach_partitions: a NULL retention raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.detach_partitions('pliers.events', '29 days')$$,
    'PL009', NULL, 'detach_partitions: a retention under a month raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.detach_partitions('pliers.events', '-1 year')$$,
    'PL009', NULL, 'detach_partitions: a negative retention raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.detach_partitions(NULL, '1 year')$$,
    'PL009', NULL, 'detach_partitions: a NULL parent raises PL009'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.detach_partitions('pliers.organizations', '1 year')$$,
    'PL009', NULL, 'detach_partitions: a table that is not partitioned raises PL009'
);

SELECT * FROM finish();
ROLLBACK;
