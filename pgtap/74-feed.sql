-- Events (sql/74-feed.sql): the feed columns and index, _append_event and its
-- context, _check_expected_version, the append-only rule (privileges and trigger,
-- the worker's processing columns, partition moves), and read_feed (cursor, order,
-- tenant, horizon) as pliers_app. Everything is rolled back.
--
-- read_feed returns only events of transactions that have ended, and this whole file
-- is one transaction: to read a feed here, rows are inserted with the trigger that
-- stamps transaction_id disabled, as if older transactions had written them.
-- tests/test_history.py reads the feed of real concurrent transactions.
BEGIN;
SELECT plan(62);

-- Helpers -----------------------------------------------------------------------------

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

-- Data, as superuser: organizations A and B, a user in each.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('74000000-0000-0000-0000-00000000000a', 't74-a', 'Feed A'),
('74000000-0000-0000-0000-00000000000b', 't74-b', 'Feed B');
INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('74000000-0000-0000-0000-00000000000a', '74000001-0000-0000-0000-000000000001', 'ann@t74.example', '{org_admin}'),
('74000000-0000-0000-0000-00000000000a', '74000001-0000-0000-0000-000000000002', 'cy@t74.example', '{}'),
('74000000-0000-0000-0000-00000000000b', '74000002-0000-0000-0000-000000000001', 'bob@t74.example', '{org_admin}');

-- Structure ---------------------------------------------------------------------------

SELECT col_type_is('pliers', 'events', 'transaction_id', 'xid8', 'events.transaction_id is xid8');
SELECT col_not_null('pliers', 'events', 'transaction_id', 'events.transaction_id is NOT NULL');
SELECT col_type_is('pliers', 'events', 'position', 'bigint', 'events.position is bigint');
SELECT col_not_null('pliers', 'events', 'position', 'events.position is NOT NULL');
SELECT col_default_is('pliers', 'events', 'position', $$nextval('pliers.events_position_seq'::regclass)$$,
    'events.position comes from sequence pliers.events_position_seq');
SELECT has_index('pliers', 'events', 'events_org_transaction_position_idx',
    ARRAY['organization_id', 'transaction_id', '"position"'], 'the feed index (organization_id, transaction_id, position)');
SELECT has_trigger('pliers', 'events', t, 'pliers.events has trigger ' || t)
FROM unnest(ARRAY['events_append_only', 'events_append_only_truncate', 'events_transaction_id']) AS t;
SELECT has_function('pliers', '_append_event',
    ARRAY['pliers.aggregate_type', 'uuid', 'integer', 'text', 'jsonb', 'uuid'], '_append_event exists');
SELECT function_returns('pliers', '_append_event',
    ARRAY['pliers.aggregate_type', 'uuid', 'integer', 'text', 'jsonb', 'uuid'], 'uuid', '_append_event returns uuid');
SELECT has_function('pliers', '_check_expected_version', ARRAY['text', 'uuid', 'integer', 'integer'],
    '_check_expected_version exists');
SELECT has_function('pliers', 'read_feed', ARRAY['xid8', 'bigint', 'integer'], 'read_feed exists');
SELECT function_returns('pliers', 'read_feed', ARRAY['xid8', 'bigint', 'integer'], 'setof pliers.events',
    'read_feed returns events');

-- Privileges ----------------------------------------------------------------------------

SELECT ok(NOT has_function_privilege('pliers_app', p, 'EXECUTE'), p || ': not executable by pliers_app')
FROM unnest(ARRAY[
    'pliers._append_event(pliers.aggregate_type, uuid, integer, text, jsonb, uuid)',
    'pliers._check_expected_version(text, uuid, integer, integer)',
    'pliers._events_transaction_id()'
]) AS p;
SELECT ok(has_function_privilege('pliers_app', 'pliers.read_feed(xid8, bigint, integer)', 'EXECUTE'),
    'read_feed: executable by pliers_app');
SELECT ok(NOT has_function_privilege('public', 'pliers.read_feed(xid8, bigint, integer)', 'EXECUTE'),
    'read_feed: not executable by PUBLIC');
SELECT ok(has_table_privilege('pliers_app', 'pliers.events', 'SELECT')
    AND has_table_privilege('pliers_app', 'pliers.events', 'INSERT'), 'pliers_app may read and append events');
SELECT ok(NOT has_table_privilege('pliers_app', 'pliers.events', 'DELETE')
    AND NOT has_table_privilege('pliers_app', 'pliers.events', 'TRUNCATE')
    AND NOT has_any_column_privilege('pliers_app', 'pliers.events', 'UPDATE'),
    'pliers_app may not update, delete or truncate events');
SELECT ok(has_column_privilege('pliers_worker', 'pliers.events', 'processed_at', 'UPDATE')
    AND has_column_privilege('pliers_worker', 'pliers.events', 'processing_errors', 'UPDATE')
    AND NOT has_column_privilege('pliers_worker', 'pliers.events', 'payload', 'UPDATE')
    AND NOT has_table_privilege('pliers_worker', 'pliers.events', 'DELETE'),
    'pliers_worker may update processed_at and processing_errors only');

-- _append_event ---------------------------------------------------------------------------

SELECT throws_ok(
    $$SELECT pliers._append_event('user', '74000001-0000-0000-0000-000000000001', 1, 'user.updated', '{}')$$,
    'PL008', NULL, '_append_event without a tenant context: PL008'
);

-- The context as set_context stores it, signed (a superuser may call the private helpers).
SELECT pliers._store_context(pliers._context_payload(
    '74000000-0000-0000-0000-00000000000a', '74000001-0000-0000-0000-000000000001',
    p_session_id => '74000009-0000-0000-0000-000000000001', p_ip_address => '203.0.113.4',
    p_user_agent => 'pgtap/74', p_correlation_id => '74000009-0000-0000-0000-0000000000cc'
));

-- The API runs as pliers_owner (SECURITY DEFINER), bound by the tenant policies.
SET LOCAL ROLE pliers_owner;
CREATE TEMPORARY TABLE appended AS
SELECT
    pliers._append_event('user', '74000001-0000-0000-0000-000000000002', 2, 'user.updated',
        '{"first_name": "Cy"}') AS first,
    pliers._append_event('user', '74000001-0000-0000-0000-000000000002', 3, 'user.updated',
        '{"first_name": "Cyd"}', '74000009-0000-0000-0000-0000000000ca') AS second;
RESET ROLE;

SELECT results_eq(
    $$SELECT e.organization_id, e.event_type::text, e.aggregate_type::text, e.aggregate_id, e.aggregate_version,
             e.payload, e.correlation_id, e.causation_id, e.user_id, e.session_id, e.ip_address, e.user_agent,
             e.event_timestamp = now(), e.transaction_id = pg_current_xact_id()
      FROM pliers.events AS e JOIN appended AS a ON e.id = a.first$$,
    $$VALUES ('74000000-0000-0000-0000-00000000000a'::uuid, 'user.updated', 'user',
              '74000001-0000-0000-0000-000000000002'::uuid, 2, '{"first_name": "Cy"}'::jsonb,
              '74000009-0000-0000-0000-0000000000cc'::uuid, NULL::uuid, '74000001-0000-0000-0000-000000000001'::uuid,
              '74000009-0000-0000-0000-000000000001'::uuid, '203.0.113.4'::inet, 'pgtap/74', true, true)$$,
    '_append_event: organization, actor and request from the context, the transaction''s id and time'
);
SELECT is(
    (SELECT causation_id FROM pliers.events AS e JOIN appended AS a ON e.id = a.second),
    '74000009-0000-0000-0000-0000000000ca'::uuid, '_append_event records the causation id'
);
SELECT ok(
    (SELECT f.position < s.position FROM pliers.events AS f, pliers.events AS s, appended AS a
     WHERE f.id = a.first AND s.id = a.second),
    'within a transaction, position follows the order of appending'
);
SELECT throws_ok(
    $$SELECT pliers._append_event('user', '74000001-0000-0000-0000-000000000002', 4, 'Bad Type', '{}')$$,
    '23514', NULL, '_append_event: a bad event type violates events_event_type_format'
);
SELECT throws_ok(
    $$SELECT pliers._append_event('user', '74000001-0000-0000-0000-000000000002', 4, 'user.updated', '[]')$$,
    '23514', NULL, '_append_event: a payload that is not an object is refused'
);

-- A caller cannot choose transaction_id: the trigger stamps the current one.
INSERT INTO pliers.events (
    organization_id, id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, transaction_id
) VALUES (
    '74000000-0000-0000-0000-00000000000a', '74000008-0000-0000-0000-000000000001', 'user.updated', 'user',
    '74000001-0000-0000-0000-000000000002', 9, '{}', '3'
);
SELECT is(
    (SELECT transaction_id FROM pliers.events WHERE id = '74000008-0000-0000-0000-000000000001'),
    pg_current_xact_id(), 'an explicit transaction_id is replaced by the inserting transaction''s id'
);

-- _check_expected_version -----------------------------------------------------------------

SELECT lives_ok($$SELECT pliers._check_expected_version('form', gen_random_uuid(), NULL, 7)$$,
    'no expected version: no check');
SELECT lives_ok($$SELECT pliers._check_expected_version('form', gen_random_uuid(), 7, 7)$$,
    'expected = actual: no error');
SELECT throws_ok($$SELECT pliers._check_expected_version('form', gen_random_uuid(), 6, 7)$$, 'PL003', NULL,
    'expected <> actual: PL003 (Conflict)');
SELECT is(
    pg_temp.error_detail($$SELECT pliers._check_expected_version(
        'form', '74000007-0000-0000-0000-000000000001', 6, 7)$$),
    '{"aggregate_type": "form", "id": "74000007-0000-0000-0000-000000000001", "expected": 6, "actual": 7}'::jsonb,
    'PL003 DETAIL: aggregate_type, id, expected, actual'
);
SELECT throws_ok($$SELECT pliers._check_expected_version('form', gen_random_uuid(), 6, NULL)$$, 'PL003', NULL,
    'an expected version against a missing actual one: PL003');

-- Append-only -------------------------------------------------------------------------------

SELECT throws_ok($$UPDATE pliers.events SET payload = '{}' WHERE organization_id = '74000000-0000-0000-0000-00000000000a'$$,
    'PL005', NULL, 'updating an event raises PL005, even as superuser');
SELECT throws_ok($$DELETE FROM pliers.events WHERE organization_id = '74000000-0000-0000-0000-00000000000a'$$,
    'PL005', NULL, 'deleting an event raises PL005, even as superuser');
-- An infinite timestamp stays in the DEFAULT partition whatever partitions maintenance made.
INSERT INTO pliers.events (
    organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, event_timestamp
) VALUES (
    '74000000-0000-0000-0000-00000000000a', 'user.updated', 'user', '74000001-0000-0000-0000-000000000002', 5, '{}',
    'infinity'
);
SELECT throws_ok($$DELETE FROM pliers.events_default WHERE organization_id = '74000000-0000-0000-0000-00000000000a'$$,
    'PL005', NULL, 'deleting from the DEFAULT partition without its lock raises PL005');
SELECT throws_ok($$TRUNCATE pliers.events$$, 'PL005', NULL, 'truncating events raises PL005');
SELECT is(
    pg_temp.error_detail($$UPDATE pliers.events SET aggregate_version = 99
                           WHERE id = '74000008-0000-0000-0000-000000000001'$$),
    '{"object": "events", "id": "74000008-0000-0000-0000-000000000001", "operation": "update"}'::jsonb,
    'PL005 DETAIL: object, id, operation'
);
SELECT throws_ok(
    $$UPDATE pliers.events SET processed_at = now(), payload = '{"x": 1}'
      WHERE id = '74000008-0000-0000-0000-000000000001'$$,
    'PL005', NULL, 'a processing column together with another column: PL005'
);

SET LOCAL ROLE pliers_worker;
SELECT lives_ok(
    $$UPDATE pliers.events SET processed_at = now(), processing_errors = '{"webhook": "timeout"}'
      WHERE id = '74000008-0000-0000-0000-000000000001'$$,
    'pliers_worker marks an event processed (any tenant, no context)'
);
SELECT throws_ok(
    $$UPDATE pliers.events SET payload = '{}' WHERE id = '74000008-0000-0000-0000-000000000001'$$,
    '42501', NULL, 'pliers_worker may not update another column (privilege)'
);
SELECT throws_ok($$DELETE FROM pliers.events$$, '42501', NULL, 'pliers_worker may not delete events');
RESET ROLE;
SELECT isnt(
    (SELECT processed_at FROM pliers.events WHERE id = '74000008-0000-0000-0000-000000000001'), NULL,
    'the worker''s update is stored'
);

SET LOCAL ROLE pliers_app;
SELECT throws_ok(
    $$UPDATE pliers.events SET processed_at = now() WHERE id = '74000008-0000-0000-0000-000000000001'$$,
    '42501', NULL, 'pliers_app may not mark events processed'
);
SELECT throws_ok($$DELETE FROM pliers.events$$, '42501', NULL, 'pliers_app may not delete events');
RESET ROLE;

-- events.user_id is NO ACTION: a user who caused events cannot be hard-deleted (users
-- are soft-deleted), and the events keep who acted.
SELECT throws_ok(
    $$DELETE FROM pliers.users WHERE id = '74000001-0000-0000-0000-000000000001'$$,
    '23503', NULL, 'deleting a user who caused events fails (NO ACTION)'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.events AS e JOIN appended AS a ON e.id IN (a.first, a.second)
     WHERE e.user_id = '74000001-0000-0000-0000-000000000001'),
    2, 'the events stay, naming the user'
);

-- Partition maintenance moves rows out of the DEFAULT partition (a DELETE, allowed).
INSERT INTO pliers.events (
    organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, event_timestamp
) VALUES (
    '74000000-0000-0000-0000-00000000000b', 'user.updated', 'user', '74000002-0000-0000-0000-000000000001', 2, '{}',
    '2002-07-04 12:00:00+00'
);
SELECT results_eq(
    $$SELECT created, rows_moved FROM pliers.create_partitions('pliers.events', '2002-07-01', '2002-07-01')$$,
    $$VALUES (true, 1::bigint)$$,
    'create_partitions moves an event out of the DEFAULT partition despite the append-only trigger'
);
SELECT is(
    (SELECT transaction_id FROM pliers.events_p2002_07), pg_current_xact_id(),
    'the moved event keeps its transaction_id'
);
SELECT throws_ok($$DELETE FROM pliers.events_p2002_07$$, 'PL005', NULL,
    'the new partition is append-only too');

-- read_feed ------------------------------------------------------------------------------------

SELECT set_config('pliers.context', '', true);
SELECT throws_ok($$SELECT * FROM pliers.read_feed()$$, 'PL008', NULL, 'read_feed without a tenant context: PL008');

-- Rows "written by earlier transactions": the stamping trigger is off for this.
ALTER TABLE pliers.events DISABLE TRIGGER events_transaction_id;
INSERT INTO pliers.events (
    organization_id, id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, transaction_id,
    position
) VALUES
('74000000-0000-0000-0000-00000000000a', '74000008-0000-0000-0000-0000000000a3', 'user.updated', 'user',
 '74000001-0000-0000-0000-000000000002', 13, '{}', '101', 1),
('74000000-0000-0000-0000-00000000000a', '74000008-0000-0000-0000-0000000000a1', 'user.updated', 'user',
 '74000001-0000-0000-0000-000000000002', 11, '{}', '100', 7),
('74000000-0000-0000-0000-00000000000a', '74000008-0000-0000-0000-0000000000a2', 'user.updated', 'user',
 '74000001-0000-0000-0000-000000000002', 12, '{}', '100', 8),
('74000000-0000-0000-0000-00000000000b', '74000008-0000-0000-0000-0000000000b1', 'user.updated', 'user',
 '74000002-0000-0000-0000-000000000001', 11, '{}', '100', 9);
ALTER TABLE pliers.events ENABLE TRIGGER events_transaction_id;

SET LOCAL ROLE pliers_app;
DO $$
BEGIN
    PERFORM pliers.set_context('74000000-0000-0000-0000-00000000000b', '74000002-0000-0000-0000-000000000001');
END
$$;
SELECT is(
    (SELECT array_agg(id ORDER BY transaction_id, position) FROM pliers.read_feed()),
    '{74000008-0000-0000-0000-0000000000b1}'::uuid[],
    'tenant B''s feed holds its ended transactions only (its own row of this transaction is not yet in it)'
);
DO $$
BEGIN
    PERFORM pliers.set_context('74000000-0000-0000-0000-00000000000a', '74000001-0000-0000-0000-000000000002');
END
$$;
SELECT is(
    (SELECT array_agg(id) FROM pliers.read_feed()),
    '{74000008-0000-0000-0000-0000000000a1,74000008-0000-0000-0000-0000000000a2,74000008-0000-0000-0000-0000000000a3}'
    ::uuid[],
    'tenant A''s feed, in (transaction_id, position) order: not B''s rows, not this transaction''s'
);
SELECT is(
    (SELECT array_agg(id) FROM pliers.read_feed('100', 7)),
    '{74000008-0000-0000-0000-0000000000a2,74000008-0000-0000-0000-0000000000a3}'::uuid[],
    'after a cursor: the rows after it'
);
SELECT is(
    (SELECT array_agg(id) FROM pliers.read_feed('100', 8, 1)),
    '{74000008-0000-0000-0000-0000000000a3}'::uuid[],
    'a cursor at the end of a transaction moves to the next transaction; p_limit caps the rows'
);
SELECT is_empty($$SELECT * FROM pliers.read_feed('101', 1)$$, 'after the last row: nothing');
SELECT is(
    (SELECT count(*)::integer FROM pliers.read_feed(pg_current_xact_id(), 0)), 0,
    'a cursor beyond the horizon returns nothing (never rows of transactions still running)'
);
SELECT throws_ok($$SELECT * FROM pliers.read_feed('0', 0, 0)$$, 'PL001', NULL, 'p_limit 0: PL001');
SELECT throws_ok($$SELECT * FROM pliers.read_feed('0', 0, 10001)$$, 'PL001', NULL, 'p_limit over 10000: PL001');
SELECT throws_ok($$SELECT * FROM pliers.read_feed(NULL, 0)$$, 'PL001', NULL, 'a NULL cursor: PL001');
SELECT is(
    pg_temp.error_detail($$SELECT * FROM pliers.read_feed('0', 0, 0)$$) #>> '{errors,0,path}', 'limit',
    'PL001 DETAIL names the bad argument'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
