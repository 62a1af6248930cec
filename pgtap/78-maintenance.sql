-- The DBA's functions (sql/78-maintenance.sql): run_maintenance (partitions ahead,
-- rows of any month out of the DEFAULT partitions, retention, the report, PL009),
-- purge_deleted (what goes, what stays and why, audit without values, RLS bypass
-- required) and erase_user (the user row, the copies in events and audit rows,
-- shape and counts kept, its own audit row and event). Everything is rolled back.
--
-- These functions work across all tenants and on whatever partitions maintenance has
-- made: on a database with data of its own (a staging copy, after pliersdb maintain),
-- the assertions are about this file's organization, or relative to what the database
-- held before (partitions already there, rows that are not this file's).
BEGIN;
SELECT plan(64);

-- Helpers -----------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.month_name(p_parent text, p_months integer)
RETURNS text
LANGUAGE sql
AS $$
    SELECT p_parent || '_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => p_months),
                                      'YYYY_MM')
$$;

-- What purge_deleted does to the rows already in the database (none in a test database,
-- real ones on a staging copy): it runs in a subtransaction that is rolled back, and
-- returns its report.
CREATE FUNCTION pg_temp.purge_dry_run()
RETURNS TABLE (table_name text, rows_purged bigint, rows_kept bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_report jsonb;
BEGIN
    BEGIN
        SELECT jsonb_agg(to_jsonb(p)) INTO v_report FROM pliers.purge_deleted() AS p;
        RAISE EXCEPTION USING ERRCODE = 'PT001', MESSAGE = 'dry run';
    EXCEPTION WHEN SQLSTATE 'PT001' THEN
        NULL;
    END;
    RETURN QUERY SELECT r.table_name, r.rows_purged, r.rows_kept
        FROM jsonb_to_recordset(v_report) AS r (table_name text, rows_purged bigint, rows_kept bigint);
END
$$;

CREATE TEMPORARY TABLE purge_before AS SELECT * FROM pg_temp.purge_dry_run();
CREATE TEMPORARY TABLE infinite_before AS
SELECT count(*) AS events FROM pliers.events_default WHERE event_timestamp = 'infinity';

-- Data, as superuser --------------------------------------------------------------------------

INSERT INTO pliers.organizations (id, slug, name) VALUES
('78000000-0000-0000-0000-00000000000a', 't78-a', 'Maintenance A');

-- Users: admin (active), gone (deleted long ago), uploader (deleted long ago, still the
-- uploader of a live attachment), recent (deleted 10 days ago), publisher (deleted long
-- ago, still the creator of a published form: a NO ACTION reference), ann (to be erased).
INSERT INTO pliers.users (organization_id, id, email, username, status, deleted_at, first_name, last_name,
    display_name, auth_data, profile) VALUES
('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000001', 'admin@t78.example', 'admin',
 'active', NULL, NULL, NULL, NULL, '{}', '{}'),
('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000002', 'gone@t78.example', 'gone',
 'deleted', now() - INTERVAL '100 days', NULL, NULL, NULL, '{}', '{}'),
('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000003', 'uploader@t78.example', 'uploader',
 'deleted', now() - INTERVAL '100 days', NULL, NULL, NULL, '{}', '{}'),
('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000004', 'recent@t78.example', 'recent',
 'deleted', now() - INTERVAL '10 days', NULL, NULL, NULL, '{}', '{}'),
('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000005', 'publisher@t78.example',
 'publisher', 'deleted', now() - INTERVAL '100 days', NULL, NULL, NULL, '{}', '{}'),
('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000006', 'Ann.Lee@t78.example', 'annlee',
 'active', NULL, 'Ann', 'Lee', 'Ann Lee', '{"password_hash": "x"}', '{"phone": "+1 555 0100"}');

-- gone created its own account: a row naming itself does not keep itself from purge_deleted.
UPDATE pliers.users SET created_by = id WHERE id = '78000001-0000-0000-0000-000000000002';

INSERT INTO pliers.forms (organization_id, id, name, slug, version, status, definition, published_at, created_by,
    deleted_at) VALUES
('78000000-0000-0000-0000-00000000000a', '78000003-0000-0000-0000-000000000001', 'Old draft', 'old-draft', '1.0.0',
 'draft', '{"title": "Old", "fields": []}', NULL, NULL, now() - INTERVAL '100 days'),
('78000000-0000-0000-0000-00000000000a', '78000003-0000-0000-0000-000000000002', 'Used', 'used', '1.0.0',
 'published', '{"title": "Used", "fields": []}', now() - INTERVAL '200 days', NULL, now() - INTERVAL '100 days'),
('78000000-0000-0000-0000-00000000000a', '78000003-0000-0000-0000-000000000003', 'Live', 'live', '1.0.0',
 'published', '{"title": "Live", "fields": []}', now() - INTERVAL '200 days',
 '78000001-0000-0000-0000-000000000005', NULL);

INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number, status, submitted_at,
    submitted_by, data, ip_address, user_agent, referrer, deleted_at) VALUES
('78000000-0000-0000-0000-00000000000a', '78000004-0000-0000-0000-000000000001', '78000003-0000-0000-0000-000000000002',
 'S-1', 'submitted', now() - INTERVAL '150 days', NULL, '{}', NULL, NULL, NULL, NULL),
('78000000-0000-0000-0000-00000000000a', '78000004-0000-0000-0000-000000000002', '78000003-0000-0000-0000-000000000003',
 'S-2', 'submitted', now() - INTERVAL '150 days', NULL, '{}', NULL, NULL, NULL, now() - INTERVAL '100 days'),
('78000000-0000-0000-0000-00000000000a', '78000004-0000-0000-0000-000000000003', '78000003-0000-0000-0000-000000000003',
 'S-3', 'submitted', now(), '78000001-0000-0000-0000-000000000006', '{"contact": "ann.lee@t78.example"}',
 '198.51.100.23', 'Firefox/128', 'https://ref.t78.example/', NULL);

INSERT INTO pliers.teams (organization_id, id, name, slug, deleted_at) VALUES
('78000000-0000-0000-0000-00000000000a', '78000002-0000-0000-0000-000000000001', 'Old team', 'old-team',
 now() - INTERVAL '100 days'),
('78000000-0000-0000-0000-00000000000a', '78000002-0000-0000-0000-000000000002', 'New team', 'new-team',
 now() - INTERVAL '5 days');

INSERT INTO pliers.attachments (organization_id, id, submission_id, filename, mime_type, file_size_bytes,
    storage_key, uploaded_by, deleted_at) VALUES
('78000000-0000-0000-0000-00000000000a', '78000005-0000-0000-0000-000000000001', '78000004-0000-0000-0000-000000000001',
 'a.pdf', 'application/pdf', 1, 'k/a', '78000001-0000-0000-0000-000000000003', NULL),
('78000000-0000-0000-0000-00000000000a', '78000005-0000-0000-0000-000000000002', '78000004-0000-0000-0000-000000000001',
 'b.pdf', 'application/pdf', 1, 'k/b', '78000001-0000-0000-0000-000000000001', now() - INTERVAL '100 days');

-- Structure and privileges ---------------------------------------------------------------------

SELECT has_function('pliers', 'run_maintenance', ARRAY['integer', 'interval', 'interval'], 'run_maintenance exists');
SELECT has_function('pliers', 'purge_deleted', ARRAY['interval'], 'purge_deleted exists');
SELECT has_function('pliers', 'erase_user', ARRAY['uuid', 'uuid'], 'erase_user exists');
SELECT function_returns('pliers', 'erase_user', ARRAY['uuid', 'uuid'], 'jsonb', 'erase_user returns jsonb');
SELECT ok(NOT has_function_privilege(r, p, 'EXECUTE'), p || ': not executable by ' || r)
FROM unnest(ARRAY[
    'pliers.run_maintenance(integer, interval, interval)', 'pliers.purge_deleted(interval)',
    'pliers.erase_user(uuid, uuid)', 'pliers._erase_jsonb(jsonb, text[], text[], text, boolean)',
    'pliers._require_rls_bypass(text)'
]) AS p
CROSS JOIN unnest(ARRAY['pliers_app', 'public']) AS r;
SELECT ok(
    (SELECT bool_and(NOT p.prosecdef) FROM pg_catalog.pg_proc AS p
     WHERE p.oid IN ('pliers.run_maintenance(integer, interval, interval)'::regprocedure,
                     'pliers.purge_deleted(interval)'::regprocedure, 'pliers.erase_user(uuid, uuid)'::regprocedure)),
    'the DBA functions run with the caller''s rights (not SECURITY DEFINER)'
);

-- run_maintenance --------------------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM pliers.run_maintenance(-1)$$, 'PL009', NULL, 'p_months_ahead -1: PL009');
SELECT throws_ok($$SELECT * FROM pliers.run_maintenance(120)$$, 'PL009', NULL, 'p_months_ahead 120: PL009');
SELECT throws_ok($$SELECT * FROM pliers.run_maintenance(3, '2 weeks')$$, 'PL009', NULL,
    'an events retention under a month: PL009');
SELECT throws_ok($$SELECT * FROM pliers.run_maintenance(3, '24 months', NULL)$$, 'PL009', NULL,
    'a NULL audit retention: PL009');

-- Rows far from now sit in the DEFAULT partitions: back-dated, far ahead, infinite.
INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
    event_timestamp) VALUES
('78000000-0000-0000-0000-00000000000a', 'form.created', 'form', '78000003-0000-0000-0000-000000000001', 1, '{}',
 '2001-02-10 10:00:00+00'),
('78000000-0000-0000-0000-00000000000a', 'form.created', 'form', '78000003-0000-0000-0000-000000000002', 1, '{}',
 'infinity');
INSERT INTO pliers.audit_logs (organization_id, action, resource_type, status, created_at) VALUES
('78000000-0000-0000-0000-00000000000a', 'form.publish', 'forms', 'success', '2035-06-01 00:00:00+00');

-- This month and the next 2, and whether maintenance already made their partitions.
CREATE TEMPORARY TABLE months_ahead AS
SELECT 'pliers.' || pg_temp.month_name(t, m) AS target,
       to_regclass('pliers.' || pg_temp.month_name(t, m)) IS NOT NULL AS existed
FROM unnest(ARRAY['events', 'audit_logs']) AS t, generate_series(0, 2) AS m;

CREATE TEMPORARY TABLE report1 AS SELECT * FROM pliers.run_maintenance(2, '1000 months', '1000 months');
SELECT set_eq(
    $$SELECT action, target FROM report1 WHERE action = 'created' AND target IN (SELECT target FROM months_ahead)$$,
    $$SELECT 'created' AS action, target FROM months_ahead WHERE NOT existed$$,
    'run_maintenance creates the partitions of this month and the next 2 that do not exist yet'
);
SELECT is(
    (SELECT count(*)::integer FROM months_ahead AS m JOIN pg_catalog.pg_class AS c ON c.oid = to_regclass(m.target)
     WHERE c.relispartition),
    6, 'events and audit_logs have partitions for this month and the next 2'
);
SELECT set_has(
    $$SELECT action, target FROM report1$$,
    $$VALUES ('created', 'pliers.events_p2001_02'), ('created', 'pliers.audit_logs_p2035_06')$$,
    'run_maintenance creates the months of rows in the DEFAULT partitions'
);
SELECT is(
    (SELECT detail FROM report1 WHERE target = 'pliers.events_p2001_02'), '1 rows moved from the default partition',
    'the back-dated event moved to its month'
);
SELECT is(
    (SELECT detail FROM report1 WHERE target = 'pliers.audit_logs_p2035_06'),
    '1 rows moved from the default partition', 'the audit row of 2035 moved to its month'
);
SELECT is(
    (SELECT array_agg(DISTINCT tableoid::regclass::text) FROM pliers.audit_logs
     WHERE organization_id = '78000000-0000-0000-0000-00000000000a' AND created_at = now()),
    ARRAY['pliers.' || pg_temp.month_name('audit_logs', 0)],
    'this month''s audit rows (written above by the audit triggers) are in this month''s partition'
);
SELECT results_eq(
    $$SELECT action, target, detail FROM report1 WHERE action = 'warning' AND target = 'pliers.events_default'$$,
    $$SELECT 'warning', 'pliers.events_default',
             events + 1 || ' rows with an infinite timestamp stay in the default partition' FROM infinite_before$$,
    'rows with an infinite timestamp stay in the DEFAULT partition, with a warning'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs_default
     WHERE organization_id = '78000000-0000-0000-0000-00000000000a'),
    0, 'the audit DEFAULT partition holds none of these rows'
);
SELECT is_partition_of('pliers', 'events_p2001_02', 'pliers', 'events', 'events_p2001_02 is a partition of events');

CREATE TEMPORARY TABLE report2 AS SELECT * FROM pliers.run_maintenance(2, '1000 months', '1000 months');
SELECT set_eq(
    $$SELECT action, target FROM report2 WHERE action <> 'warning'$$,
    $$VALUES ('unchanged', 'pliers.events'), ('unchanged', 'pliers.audit_logs')$$,
    'run again: nothing to do (idempotent)'
);
SELECT is(
    (SELECT detail FROM report2 WHERE target = 'pliers.audit_logs'),
    -- The retention as the session's IntervalStyle shows it.
    'partitions exist through 2035-06; nothing past the ' || '1000 months'::interval || ' retention',
    'the unchanged row says how far the partitions go'
);

CREATE TEMPORARY TABLE report3 AS SELECT * FROM pliers.run_maintenance();
SELECT results_eq(
    $$SELECT action, target, detail FROM report3 WHERE target = 'pliers.events_p2001_02'$$,
    $$VALUES ('detached', 'pliers.events_p2001_02', 'archived as pliers_archive.events_p2001_02')$$,
    'with the default retention (24 months of events), the partition of 2001 is detached to the archive'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers_archive.events_p2001_02), 1, 'its rows are kept in pliers_archive'
);
SELECT hasnt_table('pliers', 'events_p2001_02', 'and it is no longer in schema pliers');

-- A role under RLS cannot move rows (ATTACH would check their foreign keys under the
-- tenant policies): that month waits, with a warning; the rest is done. pliers_owner is
-- not bound by RLS unless a DBA forces it, as here (rolled back with the file).
INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
    event_timestamp) VALUES
('78000000-0000-0000-0000-00000000000a', 'form.created', 'form', '78000003-0000-0000-0000-000000000001', 1, '{}',
 '2011-03-03 03:00:00+00');
-- What that run reports: the month's rows wait, the infinite rows stay, and the 4th month
-- ahead is created unless maintenance already made it.
CREATE TEMPORARY TABLE expected_under_rls AS
SELECT 'warning' AS action, 'pliers.events_default' AS target,
       '1 rows of 2011-03 stay in the default partition: moving them needs a role that bypasses row-level security'
       AS detail
UNION ALL SELECT 'warning', 'pliers.events_default',
                 events + 1 || ' rows with an infinite timestamp stay in the default partition' FROM infinite_before
UNION ALL SELECT 'created', 'pliers.' || pg_temp.month_name(t, 4), '0 rows moved from the default partition'
          FROM unnest(ARRAY['events', 'audit_logs']) AS t
          WHERE to_regclass('pliers.' || pg_temp.month_name(t, 4)) IS NULL;
GRANT SELECT ON expected_under_rls TO pliers_owner;
ALTER TABLE pliers.organizations FORCE ROW LEVEL SECURITY;
ALTER TABLE pliers.users FORCE ROW LEVEL SECURITY;
SET LOCAL ROLE pliers_owner;
SELECT set_eq(
    $$SELECT action, target, detail FROM pliers.run_maintenance(4, '1000 months', '1000 months')
      WHERE action <> 'unchanged'$$,
    $$SELECT * FROM expected_under_rls$$,
    'under RLS: empty partitions are created, a month with rows to move waits with a warning'
);
RESET ROLE;
ALTER TABLE pliers.organizations NO FORCE ROW LEVEL SECURITY;
SET LOCAL ROLE pliers_owner;
SELECT results_eq(
    $$SELECT action, target FROM pliers.run_maintenance(4, '1000 months', '1000 months') WHERE action = 'created'$$,
    $$VALUES ('created', 'pliers.events_p2011_03')$$,
    'the next run by pliers_owner, which RLS does not bind, moves them'
);
RESET ROLE;

-- purge_deleted ------------------------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM pliers.purge_deleted('-1 day')$$, 'PL009', NULL, 'a negative period: PL009');
SET LOCAL ROLE pliers_owner;
SELECT throws_ok($$SELECT * FROM pliers.purge_deleted()$$, 'PL006', NULL,
    'purge_deleted under RLS (pliers_owner, forced): PL006, not a silent partial purge');
RESET ROLE;

CREATE TEMPORARY TABLE purged AS SELECT * FROM pliers.purge_deleted();
SELECT results_eq(
    $$SELECT table_name, rows_purged, rows_kept FROM purged$$,
    $$SELECT t.table_name, t.purged + b.rows_purged, t.kept + b.rows_kept
      FROM (VALUES (1, 'pliers.attachments', 1, 0), (2, 'pliers.submissions', 1, 0), (3, 'pliers.workflows', 0, 0),
                   (4, 'pliers.forms', 1, 1), (5, 'pliers.choice_lists', 0, 0), (6, 'pliers.teams', 1, 0),
                   (7, 'pliers.users', 1, 2))
           AS t (n, table_name, purged, kept)
      JOIN purge_before AS b USING (table_name)
      ORDER BY t.n$$,
    'purge_deleted: per table, children first, rows purged and rows kept (these rows, and the database''s own)'
);
SELECT is(
    (SELECT array_agg(id ORDER BY id) FROM pliers.users WHERE organization_id = '78000000-0000-0000-0000-00000000000a'),
    '{78000001-0000-0000-0000-000000000001,78000001-0000-0000-0000-000000000003,78000001-0000-0000-0000-000000000004,'
    '78000001-0000-0000-0000-000000000005,78000001-0000-0000-0000-000000000006}'::uuid[],
    'users: the uploader and the publisher (NO ACTION references) and the recently deleted one stay'
);
SELECT is(
    (SELECT created_by FROM pliers.forms WHERE id = '78000003-0000-0000-0000-000000000003'),
    '78000001-0000-0000-0000-000000000005'::uuid,
    'the published form still names its creator, who is kept: no dangling reference'
);
SELECT is(
    (SELECT array_agg(id ORDER BY id) FROM pliers.forms WHERE organization_id = '78000000-0000-0000-0000-00000000000a'),
    '{78000003-0000-0000-0000-000000000002,78000003-0000-0000-0000-000000000003}'::uuid[],
    'forms: the deleted form that still has a submission stays'
);
SELECT is(
    (SELECT array_agg(id) FROM pliers.teams WHERE organization_id = '78000000-0000-0000-0000-00000000000a'),
    '{78000002-0000-0000-0000-000000000002}'::uuid[], 'teams: the recently deleted team stays'
);
SELECT results_eq(
    $$SELECT action::text, old_values IS NULL, new_values IS NULL, resource_name IS NULL, metadata ->> 'reason'
      FROM pliers.audit_logs WHERE resource_id = '78000001-0000-0000-0000-000000000002' AND action = 'delete'$$,
    $$VALUES ('delete', true, true, true, 'purge_deleted')$$,
    'a purged row is audited, without its values'
);
SELECT is(current_setting('pliers.audit_reason', true), '', 'purge_deleted restores pliers.audit_reason');
CREATE TEMPORARY TABLE purged_5_days AS SELECT * FROM pliers.purge_deleted('5 days');
SELECT ok(
    NOT EXISTS (SELECT FROM pliers.users WHERE id = '78000001-0000-0000-0000-000000000004'),
    'a shorter period purges the recently deleted user'
);

-- erase_user ----------------------------------------------------------------------------------------

-- History of ann: her row's audit rows (insert above, an update now), events about her
-- and her submission, an event naming her e-mail elsewhere, audit rows of what she did.
UPDATE pliers.users SET email = 'ann@t78.example', display_name = 'Ann L.'
WHERE id = '78000001-0000-0000-0000-000000000006';
DO $$
BEGIN
    PERFORM pliers._store_context(pliers._context_payload(
        '78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000006',
        p_ip_address => '198.51.100.23', p_user_agent => 'Firefox/128'
    ));
    PERFORM pliers._append_event('user', '78000001-0000-0000-0000-000000000006', 2, 'user.updated',
        '{"email": "ann@t78.example", "display_name": "Ann L.", "changes": {"first_name": "Ann"}}');
    PERFORM pliers._append_event('submission', '78000004-0000-0000-0000-000000000003', 1, 'submission.created',
        '{"ip_address": "198.51.100.23", "number": "S-3"}');
    PERFORM pliers._append_event('form', '78000003-0000-0000-0000-000000000003', 1, 'form.shared',
        '{"with": ["ANN.LEE@t78.example", "bob@t78.example"], "count": 2}');
    UPDATE pliers.teams SET description = 'edited by ann' WHERE id = '78000002-0000-0000-0000-000000000002';
    PERFORM set_config('pliers.context', '', true);
END
$$;

CREATE TEMPORARY TABLE counts_before AS
SELECT
    (SELECT count(*) FROM pliers.events WHERE organization_id = '78000000-0000-0000-0000-00000000000a') AS events,
    (SELECT count(*) FROM pliers.audit_logs WHERE organization_id = '78000000-0000-0000-0000-00000000000a') AS audit,
    (SELECT count(*) FROM pliers.audit_logs WHERE user_id = '78000001-0000-0000-0000-000000000006') AS by_ann;

SELECT throws_ok($$SELECT pliers.erase_user('78000000-0000-0000-0000-00000000000a', gen_random_uuid())$$,
    'PL002', NULL, 'erase_user of an unknown user: PL002');
SELECT throws_ok($$SELECT pliers.erase_user(NULL, '78000001-0000-0000-0000-000000000006')$$, 'PL009', NULL,
    'erase_user with a NULL organization: PL009');
SET LOCAL ROLE pliers_owner;
SELECT throws_ok(
    $$SELECT pliers.erase_user('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000006')$$,
    'PL006', NULL, 'erase_user under RLS (pliers_owner, forced): PL006'
);
RESET ROLE;
ALTER TABLE pliers.users NO FORCE ROW LEVEL SECURITY;

CREATE TEMPORARY TABLE erased AS
SELECT pliers.erase_user('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000006') AS result;

SELECT is(
    (SELECT result - 'erased' FROM erased),
    '{"organization_id": "78000000-0000-0000-0000-00000000000a", "user_id": "78000001-0000-0000-0000-000000000006",
      "email": "erased+78000001-0000-0000-0000-000000000006@invalid.example"}'::jsonb,
    'erase_user returns the user and the placeholder e-mail'
);
SELECT is((SELECT (result #>> '{erased,submissions}')::integer FROM erased), 1, 'one submission erased');
SELECT results_eq(
    $$SELECT email::text, username, first_name, last_name, display_name, avatar_url::text, profile, auth_data,
             mfa_settings, status::text, deleted_at IS NOT NULL
      FROM pliers.users WHERE id = '78000001-0000-0000-0000-000000000006'$$,
    $$VALUES ('erased+78000001-0000-0000-0000-000000000006@invalid.example', NULL::varchar, NULL::varchar,
              NULL::varchar, NULL::varchar, NULL::text, '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, 'deleted', true)$$,
    'the user row: placeholder e-mail, personal fields and credentials cleared, account deleted'
);
SELECT results_eq(
    $$SELECT ip_address, user_agent, referrer, data
      FROM pliers.submissions WHERE id = '78000004-0000-0000-0000-000000000003'$$,
    $$VALUES (NULL::inet, NULL::text, NULL::text, '{"contact": "ann.lee@t78.example"}'::jsonb)$$,
    'her submission loses its request metadata; its answers are the tenant''s and stay'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.events WHERE organization_id = '78000000-0000-0000-0000-00000000000a'
       AND payload::text || metadata::text ~* 'ann\.lee@|ann@t78|annlee|"Ann|Ann L|198\.51\.100\.23|Firefox'),
    0, 'no event holds her e-mail addresses, username, names, IP address or user agent'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs WHERE organization_id = '78000000-0000-0000-0000-00000000000a'
       AND concat_ws(' ', old_values, new_values, diff, metadata, resource_name, ip_address, user_agent)
           ~* 'ann\.lee@|ann@t78|annlee|"Ann"|Ann L|555 0100|198\.51\.100\.23|Firefox'),
    0, 'no audit row holds them either (old_values, new_values, diff, resource_name, request)'
);
SELECT is(
    (SELECT payload FROM pliers.events WHERE event_type = 'form.shared'
       AND organization_id = '78000000-0000-0000-0000-00000000000a'),
    '{"with": ["erased+78000001-0000-0000-0000-000000000006@invalid.example", "bob@t78.example"], "count": 2}'::jsonb,
    'a copy of her e-mail anywhere in a payload is replaced; other values stay'
);
SELECT is(
    (SELECT payload FROM pliers.events WHERE event_type = 'user.updated'
       AND aggregate_id = '78000001-0000-0000-0000-000000000006'),
    '{"email": "erased+78000001-0000-0000-0000-000000000006@invalid.example", "display_name": "[erased]",
      "changes": {"first_name": "[erased]"}}'::jsonb,
    'her own events keep their shape, personal values replaced'
);
SELECT is(
    (SELECT payload FROM pliers.events WHERE event_type = 'submission.created'
       AND aggregate_id = '78000004-0000-0000-0000-000000000003'),
    '{"ip_address": "[erased]", "number": "S-3"}'::jsonb,
    'the events of her submission lose its request fields'
);
SELECT results_eq(
    $$SELECT
        (SELECT count(*) FROM pliers.events WHERE organization_id = '78000000-0000-0000-0000-00000000000a'
           AND event_type NOT IN ('user.erased', 'submission.erased')),
        (SELECT count(*) FROM pliers.audit_logs WHERE organization_id = '78000000-0000-0000-0000-00000000000a'
           AND metadata ->> 'reason' IS DISTINCT FROM 'erase_user' AND action <> 'user.erase'),
        (SELECT count(*) FROM pliers.audit_logs WHERE user_id = '78000001-0000-0000-0000-000000000006')$$,
    $$SELECT events, audit, by_ann FROM counts_before$$,
    'rows are kept, not deleted, and keep their user_id: the counts are the same'
);
SELECT results_eq(
    $$SELECT action::text, resource_type::text, resource_name::text, old_values IS NULL AND new_values IS NULL,
             metadata #>> '{erased,users}'
      FROM pliers.audit_logs
      WHERE action = 'user.erase' AND organization_id = '78000000-0000-0000-0000-00000000000a'$$,
    $$VALUES ('user.erase', 'users', 'erased+78000001-0000-0000-0000-000000000006@invalid.example', true, '1')$$,
    'the erasure is audited (user.erase), with counts only'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE resource_id = '78000001-0000-0000-0000-000000000006' AND metadata ->> 'reason' = 'erase_user'),
    1, 'the users row change itself is recorded without values'
);
SELECT results_eq(
    $$SELECT event_type::text, aggregate_version FROM pliers.events
      WHERE aggregate_id IN ('78000001-0000-0000-0000-000000000006', '78000004-0000-0000-0000-000000000003')
        AND event_type LIKE '%.erased' ORDER BY event_type$$,
    $$SELECT 'submission.erased' AS event_type, (SELECT revision FROM pliers.submissions
                                    WHERE id = '78000004-0000-0000-0000-000000000003')
      UNION ALL
      SELECT 'user.erased', (SELECT revision FROM pliers.users WHERE id = '78000001-0000-0000-0000-000000000006')$$,
    'user.erased and submission.erased events carry the aggregates'' new revisions'
);
SELECT is(
    current_setting('pliers.maintenance', true) || '/' || current_setting('pliers.audit_reason', true), '/',
    'erase_user restores pliers.maintenance and pliers.audit_reason'
);
SELECT throws_ok($$DELETE FROM pliers.events WHERE organization_id = '78000000-0000-0000-0000-00000000000a'$$,
    'PL005', NULL, 'after erase_user, events are append-only again');
SELECT lives_ok(
    $$SELECT pliers.erase_user('78000000-0000-0000-0000-00000000000a', '78000001-0000-0000-0000-000000000006')$$,
    'erase_user again works (nothing left to erase)'
);

SELECT * FROM finish();
ROLLBACK;
