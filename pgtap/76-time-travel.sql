-- Time travel (sql/76-time-travel.sql): submission_history, submission_at, form_history,
-- form_at. The catalog (SECURITY DEFINER histories, search_path, grants, comments), the state
-- rebuilt from the events of every API call compared with the row after each call
-- (snapshots), the state as of an instant, unknown event types, a history without its
-- creation event, erasure, and the error codes (PL008, PL001, PL002 for unknown, other
-- tenants' and invisible ids). Data is seeded as superuser; every call runs as
-- pliers_app after pliers.set_context. Everything is rolled back.
--
-- This file is one transaction: every event here has the same event_timestamp (the
-- transaction's start). tests/test_history_api.py travels between committed
-- transactions.
BEGIN;
SELECT plan(55);

-- Data, as superuser ---------------------------------------------------------------------
-- Organization A: a1 org_owner, a2 member (no submission.view), a3 member (erased later).
-- Organization B: b1 org_owner, form FB published, submission SB (inserted, no events).
INSERT INTO pliers.organizations (id, slug, name) VALUES
('76000000-0000-0000-0000-00000000000a', 't76-a', 'Time travel A'),
('76000000-0000-0000-0000-00000000000b', 't76-b', 'Time travel B');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000001', 'a1@t76.example', '{org_owner}'),
('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000002', 'a2@t76.example', '{member}'),
('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000003', 'a3@t76.example', '{member}'),
('76000000-0000-0000-0000-00000000000b', '76000002-0000-0000-0000-000000000001', 'b1@t76.example', '{org_owner}');

INSERT INTO pliers.forms (organization_id, id, name, slug, definition, status, published_at, visibility) VALUES
('76000000-0000-0000-0000-00000000000b', '76000004-0000-0000-0000-0000000000fb', 'FB', 't76-fb', '{"fields": []}',
 'published', now(), 'organization');
INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number) VALUES
('76000000-0000-0000-0000-00000000000b', '76000005-0000-0000-0000-0000000000bb',
 '76000004-0000-0000-0000-0000000000fb', 'S-000001');

-- Helpers ---------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.def(p_title text)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object('title', p_title, 'fields', '[
        {"id": "f1", "type": "text", "name": "fullName", "label": "Name", "required": true},
        {"id": "f2", "type": "integer", "name": "age", "label": "Age"},
        {"id": "f3", "type": "file", "name": "docs", "label": "Documents",
         "validation": {"maxItems": 2, "accept": ["image/*"]}},
        {"id": "f4", "type": "signature", "name": "sig", "label": "Signature"}
    ]'::jsonb)
$$;

CREATE FUNCTION pg_temp.keep(p_name text, p_id uuid)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT set_config('t76.' || p_name, p_id::text, true)::uuid
$$;

CREATE FUNCTION pg_temp.id(p_name text)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT current_setting('t76.' || p_name)::uuid
$$;

CREATE FUNCTION pg_temp.sha(p_text text)
RETURNS text
LANGUAGE sql
AS $$
    SELECT encode(sha256(convert_to(p_text, 'UTF8')), 'hex')
$$;

-- The business fields of the rows as the caller sees them: the whole row but the
-- columns time travel leaves out (docs/history.md).
CREATE FUNCTION pg_temp.submission_state(p_id uuid)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT to_jsonb(s) - ARRAY['organization_id', 'id', 'workflow_state', 'validation_state', 'updated_at',
                               'ip_address', 'user_agent']
    FROM pliers.submissions AS s WHERE s.id = p_id
$$;

CREATE FUNCTION pg_temp.form_state(p_id uuid)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT to_jsonb(f) - ARRAY['organization_id', 'id', 'updated_at', 'updated_by']
    FROM pliers.forms AS f WHERE f.id = p_id
$$;

-- Snapshots of the rows after each call, by (id, revision).
CREATE TEMPORARY TABLE snapshots (id uuid, revision integer, state jsonb, PRIMARY KEY (id, revision));
GRANT ALL ON snapshots TO pliers_app;

CREATE FUNCTION pg_temp.snap_submission(p_name text)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO snapshots
    SELECT pg_temp.id(p_name), (pg_temp.submission_state(pg_temp.id(p_name)) ->> 'revision')::integer,
           pg_temp.submission_state(pg_temp.id(p_name))
$$;

CREATE FUNCTION pg_temp.snap_form(p_name text)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO snapshots
    SELECT pg_temp.id(p_name), (pg_temp.form_state(pg_temp.id(p_name)) ->> 'revision')::integer,
           pg_temp.form_state(pg_temp.id(p_name))
$$;

CREATE FUNCTION pg_temp.rev(p_name text)
RETURNS integer
LANGUAGE sql
AS $$
    SELECT max(revision) FROM snapshots WHERE id = pg_temp.id(p_name)
$$;

-- The catalog --------------------------------------------------------------------------------

SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace AND has_function_privilege('pliers_app', p.oid, 'EXECUTE')
       AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
       AND p.prosecdef = (p.proname LIKE '%_history')
       AND p.provolatile = 's' AND p.proconfig = ARRAY['search_path=""']
       AND obj_description(p.oid, 'pg_proc') IS NOT NULL
       AND p.proname IN ('submission_history', 'submission_at', 'form_history', 'form_at')),
    ARRAY['form_at', 'form_history', 'submission_at', 'submission_history'],
    'the time-travel functions: STABLE, the histories SECURITY DEFINER, the *_at SECURITY INVOKER, search_path '''', '
    || 'documented, pliers_app only'
);
SELECT is(
    pg_get_function_result('pliers.submission_history(uuid)'::regprocedure),
    'TABLE(aggregate_version integer, event_type text, event_timestamp timestamp with time zone, user_id uuid, '
    || 'state jsonb)',
    'submission_history returns (aggregate_version, event_type, event_timestamp, user_id, state)'
);
SELECT is(
    pg_get_function_result('pliers.form_history(uuid)'::regprocedure),
    pg_get_function_result('pliers.submission_history(uuid)'::regprocedure),
    'form_history returns the same columns'
);
SELECT is(
    ARRAY[pg_get_function_result('pliers.submission_at(uuid, timestamptz)'::regprocedure),
          pg_get_function_result('pliers.form_at(uuid, timestamptz)'::regprocedure)],
    ARRAY['jsonb', 'jsonb'],
    'submission_at and form_at return jsonb'
);

-- No context ------------------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT * FROM pliers.submission_history(gen_random_uuid())$$, 'PL008', NULL,
    'submission_history without a context: PL008');
SELECT throws_ok($$SELECT pliers.submission_at(gen_random_uuid(), now())$$, 'PL008', NULL,
    'submission_at without a context: PL008');
SELECT throws_ok($$SELECT * FROM pliers.form_history(gen_random_uuid())$$, 'PL008', NULL,
    'form_history without a context: PL008');
SELECT throws_ok($$SELECT pliers.form_at(gen_random_uuid(), now())$$, 'PL008', NULL,
    'form_at without a context: PL008');

-- Forms: every call of the form API, a snapshot after each -----------------------------------

SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000001');

SELECT lives_ok($$
    SELECT pg_temp.keep('f1', (pliers.create_form('Claim', 't76-claim', pg_temp.def('Claim'))).id);
    SELECT pg_temp.snap_form('f1');
    SELECT pliers.update_form(pg_temp.id('f1'), 1, p_category => 'hr', p_tags => '{a,b}', p_metadata => '{"k": 1}');
    SELECT pg_temp.snap_form('f1');
    SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.0');
    SELECT pg_temp.snap_form('f1');
    SELECT pg_temp.keep('f2', (pliers.create_form_version(pg_temp.id('f1'))).id);
    SELECT pg_temp.snap_form('f2');
    SELECT pliers.update_form(pg_temp.id('f2'), pg_temp.rev('f2'), p_name => 'Claim v2',
                              p_definition => pg_temp.def('Claim v2'), p_visibility => 'organization');
    SELECT pg_temp.snap_form('f2');
    SELECT pliers.publish_form(pg_temp.id('f2'), '1.1.0');
    SELECT pg_temp.snap_form('f1');
    SELECT pg_temp.snap_form('f2');
    SELECT pliers.deprecate_form(pg_temp.id('f1'));
    SELECT pg_temp.snap_form('f1');
    SELECT pliers.archive_form(pg_temp.id('f1'), pg_temp.rev('f1'));
    SELECT pg_temp.snap_form('f1');
    SELECT pg_temp.keep('f3', (pliers.clone_form(pg_temp.id('f2'), 't76-clone', 'Clone')).id);
    SELECT pg_temp.snap_form('f3');
    SELECT pliers.delete_form(pg_temp.id('f3'));
    SELECT pg_temp.snap_form('f3');
$$, 'setup: every form call, with a snapshot of the row after each');

SELECT is(
    (SELECT array_agg(h.event_type || '@' || h.aggregate_version ORDER BY h.aggregate_version)
     FROM pliers.form_history(pg_temp.id('f1')) AS h),
    ARRAY['form.created@1', 'form.updated@2', 'form.published@3', 'form.updated@4', 'form.deprecated@5',
          'form.archived@6'],
    'form_history: every event of the version, in version order (form.updated@4: superseded by 1.1.0)'
);
SELECT results_eq(
    format($$SELECT aggregate_version, state FROM pliers.form_history(%L) ORDER BY 1$$, pg_temp.id('f1')),
    format($$SELECT revision, state FROM snapshots WHERE id = %L ORDER BY 1$$, pg_temp.id('f1')),
    'form 1.0.0: the state after each event equals the row after that call'
);
SELECT results_eq(
    format($$SELECT aggregate_version, state FROM pliers.form_history(%L) ORDER BY 1$$, pg_temp.id('f2')),
    format($$SELECT revision, state FROM snapshots WHERE id = %L ORDER BY 1$$, pg_temp.id('f2')),
    'form 1.1.0 (create_form_version, update, publish): each state equals the row'
);
SELECT results_eq(
    format($$SELECT aggregate_version, state FROM pliers.form_history(%L) ORDER BY 1$$, pg_temp.id('f3')),
    format($$SELECT revision, state FROM snapshots WHERE id = %L ORDER BY 1$$, pg_temp.id('f3')),
    'a clone (form.cloned), then deleted: each state equals the row, deleted included'
);
SELECT is(
    (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pliers.form_at(pg_temp.id('f1'), now())) AS k),
    ARRAY['category', 'created_at', 'created_by', 'definition', 'deleted_at', 'deprecated_at', 'is_latest',
          'metadata', 'name', 'parent_id', 'permissions', 'published_at', 'published_by', 'revision', 'settings',
          'slug', 'status', 'tags', 'version', 'visibility'],
    'the state of a form has the documented fields'
);
SELECT is(pliers.form_at(pg_temp.id('f1'), now()), pg_temp.form_state(pg_temp.id('f1')),
    'form_at(now()) is the row');
SELECT is(pliers.form_at(pg_temp.id('f1'), clock_timestamp()), pg_temp.form_state(pg_temp.id('f1')),
    'form_at(clock_timestamp()) is the row');
SELECT is(pliers.form_at(pg_temp.id('f1'), now() - interval '1 microsecond'), NULL,
    'form_at before the first event: NULL (the version did not exist)');
SELECT is(
    (SELECT array_agg(DISTINCT h.user_id) FROM pliers.form_history(pg_temp.id('f2')) AS h),
    ARRAY['76000001-0000-0000-0000-000000000001'::uuid],
    'form_history gives the acting user of each event'
);

-- Submissions: every call of the submission API, a snapshot after each -------------------------

SELECT lives_ok($$
    SELECT pg_temp.keep('d1', (pliers.create_submission(pg_temp.id('f2'), '{"age": 40}')).id);
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.update_submission(pg_temp.id('d1'), 1, '{"age": 41, "fullName": "Ann"}', '{"k": "v"}', '{x,y}',
                                    now() + interval '30 days');
    SELECT pg_temp.snap_submission('d1');
    SELECT pg_temp.keep('att1', (pliers.attach_file(pg_temp.id('d1'), 'docs', 'a.png', 'image/png', 10, 'key-a',
                                                    pg_temp.sha('a'))).id);
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.attach_file(pg_temp.id('d1'), 'docs', 'b.png', 'image/png', 20, 'key-b', pg_temp.sha('b'),
                              p_expected_revision => pg_temp.rev('d1'));
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.attach_file(pg_temp.id('d1'), 'sig', 's.png', 'image/png', 5, 'key-s', pg_temp.sha('s'));
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.detach_file(pg_temp.id('att1'));
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.assign_submission(pg_temp.id('d1'), '76000001-0000-0000-0000-000000000002');
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.submit_submission(pg_temp.id('d1'), pg_temp.rev('d1'));
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.set_submission_status(pg_temp.id('d1'), 'approved', p_reason => 'fine');
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.set_submission_status(pg_temp.id('d1'), 'completed');
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.delete_submission(pg_temp.id('d1'));
    SELECT pg_temp.snap_submission('d1');
    SELECT pliers.restore_submission(pg_temp.id('d1'));
    SELECT pg_temp.snap_submission('d1');
    SELECT pg_temp.keep('s1', (pliers.create_submission(pg_temp.id('f2'), '{"fullName": "Bo"}', TRUE, 't76-ext',
                                                        p_referrer => 'https://ref.example/')).id);
    SELECT pg_temp.snap_submission('s1');
$$, 'setup: every submission call, with a snapshot of the row after each');

SELECT is(
    (SELECT array_agg(h.event_type ORDER BY h.aggregate_version) FROM pliers.submission_history(pg_temp.id('d1')) AS h),
    ARRAY['submission.created', 'submission.updated', 'submission.attachment_added', 'submission.attachment_added',
          'submission.attachment_added', 'submission.attachment_removed', 'submission.assigned',
          'submission.submitted', 'submission.status_changed', 'submission.status_changed', 'submission.deleted',
          'submission.restored'],
    'submission_history: every event, in version order'
);
SELECT results_eq(
    format($$SELECT aggregate_version, state FROM pliers.submission_history(%L) ORDER BY 1$$, pg_temp.id('d1')),
    format($$SELECT revision, state FROM snapshots WHERE id = %L ORDER BY 1$$, pg_temp.id('d1')),
    'the state after each event equals the row after that call (answers, attachments, validity, assignment, '
    || 'status, timestamps, deletion)'
);
SELECT is(
    (SELECT h.state -> 'attachments' FROM pliers.submission_history(pg_temp.id('d1')) AS h
     WHERE h.aggregate_version = 5),
    (SELECT state -> 'attachments' FROM snapshots WHERE id = pg_temp.id('d1') AND revision = 5),
    'the attachments list is rebuilt in order'
);
SELECT ok(
    (SELECT jsonb_array_length(h.state -> 'attachments') = 3 AND h.state -> 'is_valid' = 'true'
     FROM pliers.submission_history(pg_temp.id('d1')) AS h WHERE h.aggregate_version = 5),
    '... three files after the third attach_file, and the draft became valid'
);
SELECT is(
    (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pliers.submission_at(pg_temp.id('d1'), now())) AS k),
    ARRAY['assigned_team_id', 'assigned_to', 'attachment_count', 'attachments', 'completed_at', 'created_at',
          'data', 'deleted_at', 'deleted_by', 'expires_at', 'external_id', 'form_id', 'is_valid', 'metadata',
          'referrer', 'revision', 'source', 'status', 'submission_number', 'submitted_at', 'submitted_by', 'tags',
          'validation_errors'],
    'the state of a submission has the documented fields'
);
SELECT is(pliers.submission_at(pg_temp.id('d1'), now()), pg_temp.submission_state(pg_temp.id('d1')),
    'submission_at(now()) is the row');
SELECT is(pliers.submission_at(pg_temp.id('d1'), 'infinity'), pg_temp.submission_state(pg_temp.id('d1')),
    'submission_at(infinity) is the row');
SELECT is(pliers.submission_at(pg_temp.id('d1'), now() - interval '1 microsecond'), NULL,
    'submission_at before the first event: NULL (the submission did not exist)');
SELECT is(pliers.submission_at(pg_temp.id('d1'), '-infinity'), NULL, 'submission_at(-infinity): NULL');

-- Created submitted: two events, one row change (revision 2).
SELECT is(
    (SELECT array_agg(h.event_type || '@' || h.aggregate_version ORDER BY h.aggregate_version)
     FROM pliers.submission_history(pg_temp.id('s1')) AS h),
    ARRAY['submission.created@1', 'submission.submitted@2'],
    'created submitted: submission.created@1, submission.submitted@2'
);
SELECT is(
    (SELECT h.state FROM pliers.submission_history(pg_temp.id('s1')) AS h WHERE h.aggregate_version = 2),
    (SELECT state FROM snapshots WHERE id = pg_temp.id('s1') AND revision = 2),
    '... the state after the second is the row'
);
SELECT is(
    (SELECT h.state FROM pliers.submission_history(pg_temp.id('s1')) AS h WHERE h.aggregate_version = 1),
    (SELECT state || '{"status": "draft", "submitted_at": null, "revision": 1}' FROM snapshots
     WHERE id = pg_temp.id('s1') AND revision = 2),
    '... and after the first, the same as a draft'
);

-- Visibility -----------------------------------------------------------------------------------

-- a2 (member, no submission.view) sees d1, assigned to them, not s1; forms: the tenant's.
SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000002');
SELECT throws_ok(format($$SELECT * FROM pliers.submission_history(%L)$$, pg_temp.id('s1')), 'PL002', NULL,
    'a submission the caller may not see (row-level security): PL002');
SELECT throws_ok(format($$SELECT pliers.submission_at(%L, now())$$, pg_temp.id('s1')), 'PL002', NULL,
    '... submission_at too');
SELECT is(
    (SELECT count(*)::integer FROM pliers.submission_history(pg_temp.id('d1'))), 12,
    'a submission assigned to the caller: visible, its whole history'
);
SELECT is(pliers.form_at(pg_temp.id('f1'), now()) ->> 'status', 'archived', 'forms: every version of the tenant');

-- Other tenants, unknown ids, missing arguments ----------------------------------------------

SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT * FROM pliers.submission_history('76000005-0000-0000-0000-0000000000bb')$$,
    'PL002', NULL, 'another tenant''s submission: PL002');
SELECT throws_ok($$SELECT * FROM pliers.form_history('76000004-0000-0000-0000-0000000000fb')$$,
    'PL002', NULL, 'another tenant''s form: PL002');
SELECT throws_ok($$SELECT pliers.form_at('76000004-0000-0000-0000-0000000000fb', now())$$,
    'PL002', NULL, '... form_at too');
SELECT throws_ok($$SELECT * FROM pliers.submission_history(gen_random_uuid())$$, 'PL002', NULL,
    'an unknown submission: PL002');
SELECT throws_ok($$SELECT pliers.submission_at(gen_random_uuid(), now())$$, 'PL002', NULL,
    '... submission_at too');
SELECT throws_ok($$SELECT * FROM pliers.form_history(gen_random_uuid())$$, 'PL002', NULL, 'an unknown form: PL002');
SELECT throws_ok($$SELECT * FROM pliers.submission_history(NULL)$$, 'PL001', NULL,
    'submission_history(NULL): PL001');
SELECT throws_ok($$SELECT * FROM pliers.form_history(NULL)$$, 'PL001', NULL, 'form_history(NULL): PL001');
SELECT throws_ok(format($$SELECT pliers.submission_at(%L, NULL)$$, pg_temp.id('d1')), 'PL001', NULL,
    'submission_at without an instant: PL001');
SELECT throws_ok(format($$SELECT pliers.form_at(%L, NULL)$$, pg_temp.id('f1')), 'PL001', NULL,
    'form_at without an instant: PL001');
SELECT throws_ok($$SELECT pliers.submission_at(NULL, now())$$, 'PL001', NULL, 'submission_at(NULL, ...): PL001');

-- Erasure: submission.erased clears the request fields ------------------------------------------

SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000003');
SELECT lives_ok($$
    SELECT pg_temp.keep('e1', (pliers.create_submission(pg_temp.id('f2'), '{"age": 7}',
                                                        p_referrer => 'https://ref.example/a3')).id)
$$, 'setup: a3 creates a draft with a referrer');
RESET ROLE;
SELECT lives_ok($$SELECT pliers.erase_user('76000000-0000-0000-0000-00000000000a',
                                           '76000001-0000-0000-0000-000000000003')$$,
    'setup: a3''s personal data is erased (as superuser)');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000001');
SELECT is(
    (SELECT array_agg(h.event_type ORDER BY h.aggregate_version) FROM pliers.submission_history(pg_temp.id('e1')) AS h),
    ARRAY['submission.created', 'submission.erased'],
    'erasure appends submission.erased'
);
SELECT is(pliers.submission_at(pg_temp.id('e1'), now()), pg_temp.submission_state(pg_temp.id('e1')),
    '... and the state after it is the row (referrer cleared)');
SELECT is(
    (SELECT h.state ->> 'referrer' FROM pliers.submission_history(pg_temp.id('e1')) AS h WHERE h.aggregate_version = 1),
    '[erased]',
    '... the earlier states show the referrer as erasure rewrote it in the payload'
);

-- Events the fold does not know, and a history without its creation event -----------------------

RESET ROLE;
INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload)
VALUES ('76000000-0000-0000-0000-00000000000a', 'submission.noted', 'submission', pg_temp.id('s1'), 3,
        '{"status": "rejected", "note": "n"}');
INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number) VALUES
('76000000-0000-0000-0000-00000000000a', '76000005-0000-0000-0000-0000000000a1', pg_temp.id('f2'), 'S-900001');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000001');
SELECT is(
    (SELECT h.state FROM pliers.submission_history(pg_temp.id('s1')) AS h WHERE h.aggregate_version = 3),
    (SELECT state || '{"revision": 3}' FROM snapshots WHERE id = pg_temp.id('s1') AND revision = 2),
    'an event type the fold does not know changes only revision (its payload is not read)'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.submission_history('76000005-0000-0000-0000-0000000000a1')), 0,
    'a submission without events (inserted directly): an empty history'
);
SELECT is(pliers.submission_at('76000005-0000-0000-0000-0000000000a1', now()), NULL,
    '... and no state at any instant');
RESET ROLE;
INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload)
VALUES ('76000000-0000-0000-0000-00000000000a', 'submission.deleted', 'submission',
        '76000005-0000-0000-0000-0000000000a1', 2, '{"deleted_at": "2024-01-01T00:00:00Z", "deleted_by": null}');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('76000000-0000-0000-0000-00000000000a', '76000001-0000-0000-0000-000000000001');
SELECT results_eq(
    $$SELECT event_type, aggregate_version, state FROM pliers.submission_history('76000005-0000-0000-0000-0000000000a1')$$,
    $$VALUES ('submission.deleted', 2, NULL::jsonb)$$,
    'a history whose creation event is missing (e.g. detached by retention): the events, state NULL (never guessed)'
);

SELECT * FROM finish();
ROLLBACK;
