-- The submission API (sql/55-submissions-api.sql): creating (draft or submitted, pinned
-- to a published version, validated, cleaned, numbered, idempotent by external id),
-- editing, submitting, status moves, assignment, soft delete and restore, attachments,
-- keyset lists with filters, the export across versions, quotas, counters and the events
-- of every call. Data is seeded as superuser; every call runs as pliers_app after
-- pliers.set_context, never as superuser.
BEGIN;
SELECT plan(168);

-- Data, as superuser ---------------------------------------------------------------------
-- Organization A: s1 org_owner, s2 member, s3 submission_reviewer, s4 viewer, s5 no role
-- but member of team TA. Organization B: b1 org_owner with a published form FB.
-- Organization C: c1 org_owner, with a submission numbered S-000050 inserted directly.
INSERT INTO pliers.organizations (id, slug, name, limits) VALUES
('55000000-0000-0000-0000-00000000000a', 't55-a', 'Submissions A',
 '{"max_submissions_per_month": 1000, "max_attachment_bytes": 5000000}'),
('55000000-0000-0000-0000-00000000000b', 't55-b', 'Submissions B', '{}'),
('55000000-0000-0000-0000-00000000000c', 't55-c', 'Submissions C', '{}');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001', 's1@t55.example', '{org_owner}'),
('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000002', 's2@t55.example', '{member}'),
('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000003', 's3@t55.example',
 '{submission_reviewer}'),
('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000004', 's4@t55.example', '{viewer}'),
('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000005', 's5@t55.example', '{}'),
('55000000-0000-0000-0000-00000000000b', '55000002-0000-0000-0000-000000000001', 'b1@t55.example', '{org_owner}'),
('55000000-0000-0000-0000-00000000000c', '55000003-0000-0000-0000-000000000001', 'c1@t55.example', '{org_owner}');

INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('55000000-0000-0000-0000-00000000000a', '55000005-0000-0000-0000-0000000000a1', 'Team A', 't55-ta');
INSERT INTO pliers.team_members (organization_id, team_id, user_id, role) VALUES
('55000000-0000-0000-0000-00000000000a', '55000005-0000-0000-0000-0000000000a1',
 '55000001-0000-0000-0000-000000000005', 'member');

INSERT INTO pliers.forms (organization_id, id, name, slug, definition, status, published_at, visibility) VALUES
('55000000-0000-0000-0000-00000000000b', '55000004-0000-0000-0000-0000000000fb', 'FB', 't55-fb', '{"fields": []}',
 'published', now(), 'organization'),
('55000000-0000-0000-0000-00000000000c', '55000004-0000-0000-0000-0000000000fc', 'FC', 't55-fc', '{"fields": []}',
 'published', now(), 'organization');
INSERT INTO pliers.submissions (organization_id, form_id, submission_number) VALUES
('55000000-0000-0000-0000-00000000000c', '55000004-0000-0000-0000-0000000000fc', 'S-000050');

CREATE FUNCTION pg_temp.def(p_which text)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object('title', 'Claim', 'fields', '[
        {"id": "f1", "type": "text", "name": "fullName", "label": "Name", "required": true},
        {"id": "f2", "type": "integer", "name": "age", "label": "Age", "validation": {"min": 0, "max": 150}},
        {"id": "f3", "type": "single_choice", "name": "dept", "label": "Dept",
         "choices": [{"code": "hr", "label": "HR"}, {"code": "it", "label": "IT"}]},
        {"id": "f4", "type": "file", "name": "docs", "label": "Documents",
         "validation": {"maxItems": 2, "accept": ["image/*", "application/pdf"], "maxSizeBytes": 1000000}},
        {"id": "f5", "type": "signature", "name": "sig", "label": "Signature"},
        {"id": "f6", "type": "group", "name": "address", "label": "Address", "fields": [
            {"id": "f7", "type": "text", "name": "zip", "label": "ZIP"},
            {"id": "f8", "type": "file", "name": "proof", "label": "Proof"}]},
        {"id": "f9", "type": "repeat", "name": "children", "label": "Children", "fields": [
            {"id": "f10", "type": "text", "name": "name", "label": "Name"},
            {"id": "f11", "type": "file", "name": "photo", "label": "Photo"}]},
        {"id": "f12", "type": "date", "name": "visit", "label": "Visit"},
        {"id": "f13", "type": "display", "name": "intro", "label": "Intro", "content": "Hello"}
    ]'::jsonb || CASE WHEN p_which = 'v2'
        THEN '[{"id": "f14", "type": "textarea", "name": "notes", "label": "Notes"}]'::jsonb
        ELSE '[]'::jsonb END)
$$;

CREATE FUNCTION pg_temp.keep(p_name text, p_id uuid)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT set_config('t55.' || p_name, p_id::text, true)::uuid
$$;

CREATE FUNCTION pg_temp.id(p_name text)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT current_setting('t55.' || p_name)::uuid
$$;

CREATE FUNCTION pg_temp.rev(p_name text)
RETURNS integer
LANGUAGE sql
AS $$
    SELECT revision FROM pliers.submissions WHERE id = current_setting('t55.' || p_name)::uuid
$$;

CREATE FUNCTION pg_temp.detail_of(p_statement text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_detail text;
BEGIN
    EXECUTE p_statement;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_detail::jsonb;
END
$$;

-- The codes (or paths) of the PL001 errors of a statement, sorted.
CREATE FUNCTION pg_temp.error_list(p_statement text, p_key text DEFAULT 'code')
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT array_agg(e ->> p_key ORDER BY e ->> p_key)
    FROM jsonb_array_elements(pg_temp.detail_of(p_statement) -> 'errors') AS e
$$;

CREATE FUNCTION pg_temp.events_of(p_id uuid)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT coalesce(array_agg(e.event_type || '@' || e.aggregate_version ORDER BY e.transaction_id, e.position), '{}')
    FROM pliers.events AS e
    WHERE e.aggregate_id = p_id
$$;

CREATE FUNCTION pg_temp.sha(p_text text)
RETURNS text
LANGUAGE sql
AS $$
    SELECT encode(sha256(convert_to(p_text, 'UTF8')), 'hex')
$$;

-- Runs a query and returns its rows as one JSON array (for the export query).
CREATE FUNCTION pg_temp.rows_of(p_query text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_rows jsonb;
BEGIN
    EXECUTE 'SELECT coalesce(jsonb_agg(to_jsonb(q)), ''[]'') FROM (' || p_query || ') AS q' INTO v_rows;
    RETURN v_rows;
END
$$;

-- The catalog --------------------------------------------------------------------------------

SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace AND has_function_privilege('pliers_app', p.oid, 'EXECUTE')
       AND p.prosecdef AND p.proconfig = ARRAY['search_path=""'] AND obj_description(p.oid, 'pg_proc') IS NOT NULL
       AND p.proname IN ('create_submission', 'update_submission', 'submit_submission', 'set_submission_status',
                         'assign_submission', 'delete_submission', 'restore_submission', 'attach_file',
                         'detach_file', 'list_submissions', 'export_columns', 'export_submissions',
                         'export_query')),
    ARRAY['assign_submission', 'attach_file', 'create_submission', 'delete_submission', 'detach_file',
          'export_columns', 'export_query', 'export_submissions', 'list_submissions', 'restore_submission',
          'set_submission_status', 'submit_submission', 'update_submission'],
    'the submission API: executable by pliers_app, SECURITY DEFINER with search_path '''', documented'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('_check_quota', '_count_usage', '_next_submission_number', '_counter_slot',
                         '_lock_submission', '_require_submission_permission', '_attachment_field')
       AND (has_function_privilege('pliers_app', p.oid, 'EXECUTE')
            OR has_function_privilege('public', p.oid, 'EXECUTE'))),
    0,
    'the private helpers (quotas, numbering, counters) are not executable by pliers_app nor PUBLIC'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.submission_status_moves()), 15,
    'submission_status_moves lists 15 allowed moves'
);
SELECT ok(
    NOT EXISTS (SELECT FROM pliers.submission_status_moves() WHERE from_status = 'archived'),
    'archived is final'
);

-- No context ----------------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT pliers.create_submission(gen_random_uuid(), '{}')$$, 'PL008', NULL,
    'create_submission without a context: PL008');
SELECT throws_ok($$SELECT * FROM pliers.list_submissions()$$, 'PL008', NULL,
    'list_submissions without a context: PL008');
SELECT throws_ok($$SELECT * FROM pliers.export_columns('claim')$$, 'PL008', NULL,
    'export_columns without a context: PL008');
SELECT throws_ok($$SELECT pliers.attach_file(gen_random_uuid(), 'docs', 'a', 'image/png', 1, 'k', 'x')$$,
    'PL008', NULL, 'attach_file without a context: PL008');

-- The forms: claim 1.0.0 (f1), then 1.1.0 (f2) with a new field notes; a draft form --------------

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');
SELECT lives_ok($$SELECT pg_temp.keep('f1', (pliers.create_form('Claim', 'claim', pg_temp.def('v1'))).id)$$,
    'setup: form claim');
SELECT lives_ok($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.0')$$, 'setup: claim 1.0.0 published');
SELECT lives_ok($$SELECT pg_temp.keep('fd', (pliers.create_form('Draft only', 'draft-only', pg_temp.def('v1'))).id)$$,
    'setup: a form that stays a draft');
SELECT is((SELECT revision FROM pliers.forms WHERE id = pg_temp.id('f1')), 2, 'claim 1.0.0 is at revision 2');

-- create_submission ------------------------------------------------------------------------------

SELECT lives_ok(
    $$SELECT pg_temp.keep('d1', (pliers.create_submission(pg_temp.id('f1'),
        '{"age": 40, "dept": "hr", "visit": "2024-03-01", "intro": "a display field"}')).id)$$,
    'a draft may lack required answers'
);
SELECT is(
    (SELECT data FROM pliers.submissions WHERE id = pg_temp.id('d1')),
    '{"age": 40, "dept": "hr", "visit": "2024-03-01"}'::jsonb,
    'the answers are stored cleaned (no answer for a display field)'
);
SELECT results_eq(
    $$SELECT status::text, form_id, submitted_by, submitted_at, is_valid, revision, attachment_count,
             submission_number::text
      FROM pliers.submissions WHERE id = pg_temp.id('d1')$$,
    $$SELECT 'draft', pg_temp.id('f1'), '55000001-0000-0000-0000-000000000001'::uuid, NULL::timestamptz, FALSE, 1, 0,
             'S-000001'$$,
    'the draft: pinned to the version, by the current user, not submittable yet, numbered S-000001'
);
SELECT is(
    (SELECT validation_errors #>> '{0,path}' || ' ' || (validation_errors #>> '{0,code}')
     FROM pliers.submissions WHERE id = pg_temp.id('d1')),
    '$.data.fullName required',
    'validation_errors says what submitting would need'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('s1', (pliers.create_submission(pg_temp.id('f1'),
        '{"fullName": "Ann", "age": 30, "dept": "it", "visit": "2024-07-15", "address": {"zip": "1000"},
          "children": [{"name": "Bo"}], "sig": null}', TRUE, 'ext-1')).id)$$,
    'create_submission submits in one call'
);
SELECT results_eq(
    $$SELECT status::text, submitted_at IS NOT NULL, is_valid, external_id::text, submission_number::text, data
      FROM pliers.submissions WHERE id = pg_temp.id('s1')$$,
    $$VALUES ('submitted', TRUE, TRUE, 'ext-1', 'S-000002',
              '{"fullName": "Ann", "age": 30, "dept": "it", "visit": "2024-07-15", "address": {"zip": "1000"},
                "children": [{"name": "Bo"}]}'::jsonb)$$,
    'submitted, S-000002, stored cleaned (the JSON null is dropped)'
);
SELECT is(
    pg_temp.events_of(pg_temp.id('s1')), ARRAY['submission.created@1', 'submission.submitted@2'],
    'create-and-submit appends submission.created@1 and submission.submitted@2 (the row is at revision 2)'
);
SELECT is(
    (SELECT payload - 'created_at' FROM pliers.events
     WHERE aggregate_id = pg_temp.id('s1') AND event_type = 'submission.created'),
    jsonb_build_object(
        'form_id', pg_temp.id('f1'), 'form_slug', 'claim', 'form_version', '1.0.0', 'submission_number', 'S-000002',
        'external_id', 'ext-1', 'status', 'draft', 'submitted_at', NULL,
        'data', (SELECT data FROM pliers.submissions WHERE id = pg_temp.id('s1')),
        'is_valid', TRUE, 'validation_errors', '[]'::jsonb,
        'submitted_by', '55000001-0000-0000-0000-000000000001', 'expires_at', NULL, 'source', 'web',
        'referrer', NULL, 'metadata', '{}'::jsonb, 'tags', '[]'::jsonb
    ),
    'submission.created carries the business fields of the row (as the draft it was before submission.submitted)'
);
SELECT is(
    (SELECT causation_id FROM pliers.events WHERE aggregate_id = pg_temp.id('s1') AND event_type = 'submission.submitted'),
    (SELECT id FROM pliers.events WHERE aggregate_id = pg_temp.id('s1') AND event_type = 'submission.created'),
    'submission.submitted is caused by submission.created'
);

-- Idempotency
SELECT is(
    (pliers.create_submission(pg_temp.id('f1'), '{"fullName": "Someone else"}', TRUE, 'ext-1')).id,
    pg_temp.id('s1'),
    'a retry with the same external id returns the existing submission'
);
SELECT results_eq(
    $$SELECT (SELECT count(*)::integer FROM pliers.submissions WHERE external_id = 'ext-1'),
             (SELECT data ->> 'fullName' FROM pliers.submissions WHERE id = pg_temp.id('s1')),
             cardinality(pg_temp.events_of(pg_temp.id('s1')))$$,
    $$VALUES (1, 'Ann', 2)$$,
    '... without writing anything: one row, unchanged, no new event'
);

-- Validation: every error at once, with field paths
SELECT throws_ok(
    $$SELECT pliers.create_submission(pg_temp.id('f1'), '{"age": "old", "dept": "sales", "colour": "red"}', TRUE)$$,
    'PL001', NULL, 'invalid answers: PL001'
);
SELECT is(
    pg_temp.error_list(
        $$SELECT pliers.create_submission(pg_temp.id('f1'), '{"age": "old", "dept": "sales", "colour": "red"}', TRUE)$$,
        'path'),
    ARRAY['$.data.age', '$.data.colour', '$.data.dept', '$.data.fullName'],
    'PL001 lists every error with its path: type, unknown field, choice, required'
);
SELECT is(
    pg_temp.error_list(
        $$SELECT pliers.create_submission(pg_temp.id('f1'), '{"age": 200}', FALSE, p_tags => '{NULL}', p_source => '')$$,
        'path'),
    ARRAY['$.data.age', 'source', 'tags'],
    'a draft is checked too (not for required); argument errors come with the answer errors'
);
SELECT throws_ok($$SELECT pliers.create_submission(pg_temp.id('fd'), '{}')$$, 'PL001', NULL,
    'a draft form version takes no submission: PL001');
SELECT is(
    pg_temp.error_list($$SELECT pliers.create_submission(pg_temp.id('fd'), '{}')$$),
    ARRAY['form_not_published'],
    '... code form_not_published'
);
SELECT throws_ok($$SELECT pliers.create_submission(gen_random_uuid(), '{}')$$, 'PL002', NULL,
    'an unknown form: PL002');
SELECT throws_ok($$SELECT pliers.create_submission('55000004-0000-0000-0000-0000000000fb', '{}')$$, 'PL002', NULL,
    'another tenant''s form: PL002');
SELECT throws_ok($$SELECT pliers.create_submission(NULL, '{}')$$, 'PL001', NULL, 'no form: PL001');
SELECT is(
    (SELECT count(*)::integer FROM pliers.submissions), 2, 'the refused calls wrote nothing'
);

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000004');
SELECT throws_ok($$SELECT pliers.create_submission(pg_temp.id('f1'), '{}')$$, 'PL006', NULL,
    'a viewer may not submit a private form: PL006');

-- Pinning to a version: claim 1.1.0 adds notes ----------------------------------------------------

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');
SELECT lives_ok(
    $$SELECT pg_temp.keep('f2', (pliers.create_form_version(pg_temp.id('f1'))).id),
             pliers.update_form(pg_temp.id('f2'), 1, p_definition => pg_temp.def('v2')),
             pliers.publish_form(pg_temp.id('f2'), '1.1.0')$$,
    'setup: claim 1.1.0 adds notes'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.create_submission(pg_temp.id('f1'), '{"fullName": "X", "notes": "n"}', TRUE)$$),
    ARRAY['unknown_field'],
    'a submission to 1.0.0 is validated against 1.0.0 (notes is unknown there)'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('s2', (pliers.create_submission(pg_temp.id('f2'),
        '{"fullName": "Bea", "age": 25, "dept": "hr", "visit": "2024-05-20", "notes": "line 1\nline \"2\""}',
        TRUE)).id)$$,
    'a submission to 1.1.0 may answer notes'
);
SELECT is(
    (SELECT array_agg(f.version::text ORDER BY s.submission_number)
     FROM pliers.submissions AS s JOIN pliers.forms AS f ON f.id = s.form_id
     WHERE s.id IN (pg_temp.id('s1'), pg_temp.id('s2'))),
    ARRAY['1.0.0', '1.1.0'],
    'each submission is pinned to the version it was made against'
);
SELECT lives_ok($$SELECT pliers.create_submission(pg_temp.id('f1'), '{"fullName": "Old client"}', TRUE)$$,
    'the older published version still accepts submissions');
SELECT throws_ok($$SELECT pliers.create_submission(pg_temp.id('f2'), '{}', TRUE, 'ext-1')$$, 'PL003', NULL,
    'an external id used by a submission to another form version: PL003');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.create_submission(pg_temp.id('f2'), '{}', TRUE, 'ext-1')$$)
        - 'id' - 'form_id',
    '{"object": "submission", "external_id": "ext-1"}'::jsonb,
    'PL003 names the external id'
);

-- Numbering ------------------------------------------------------------------------------------

SELECT is(
    (SELECT array_agg(submission_number::text ORDER BY submission_number) FROM pliers.submissions),
    ARRAY['S-000001', 'S-000002', 'S-000003', 'S-000004'],
    'numbers are S-nnnnnn, per organization, in creation order'
);
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_class
     WHERE relname = 'submission_number_' || replace('55000000-0000-0000-0000-00000000000a', '-', '')
       AND relkind = 'S'),
    1,
    'the organization has its own sequence'
);
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000c', '55000003-0000-0000-0000-000000000001');
SELECT is(
    (pliers.create_submission('55000004-0000-0000-0000-0000000000fc', '{}', TRUE)).submission_number::text,
    'S-000051',
    'a new sequence continues after the numbers already stored (S-000050)'
);
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000b', '55000002-0000-0000-0000-000000000001');
SELECT is(
    (pliers.create_submission('55000004-0000-0000-0000-0000000000fb', '{}', TRUE, 'ext-1')).submission_number::text,
    'S-000001',
    'another organization numbers from S-000001, and may reuse an external id of another tenant'
);

-- Counters: no write on forms ---------------------------------------------------------------------

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');
SELECT results_eq(
    $$SELECT (SELECT revision FROM pliers.forms WHERE id = pg_temp.id('f1')),
             (SELECT submission_count FROM pliers.form_usage WHERE form_id = pg_temp.id('f1')),
             (SELECT submission_count FROM pliers.form_usage WHERE form_id = pg_temp.id('f2'))$$,
    $$VALUES (3, 3::bigint, 1::bigint)$$,
    'submissions leave the forms row alone (revision 3 = 2 + the latest flag); form_usage counts them'
);
RESET ROLE;
SELECT is(
    (SELECT sum(value)::integer FROM pliers.usage_counters
     WHERE organization_id = '55000000-0000-0000-0000-00000000000a' AND metric = 'submissions'
       AND period_start = date_trunc('month', now() AT TIME ZONE 'UTC')::date),
    4,
    'usage_counters count the submissions of the month (read as superuser: the counters are internal)'
);
SET LOCAL ROLE pliers_app;

-- update_submission ------------------------------------------------------------------------------

SELECT lives_ok(
    $$SELECT pliers.update_submission(pg_temp.id('d1'), 1, '{"fullName": "Dan", "age": 41, "dept": "hr", "visit": "2024-02-10"}')$$,
    'update_submission replaces the answers of a draft'
);
SELECT results_eq(
    $$SELECT data ->> 'fullName', revision, is_valid FROM pliers.submissions WHERE id = pg_temp.id('d1')$$,
    $$VALUES ('Dan', 2, TRUE)$$,
    'new answers, revision 2, now submittable'
);
SELECT is(
    (SELECT payload -> 'data' ->> 'fullName' FROM pliers.events
     WHERE aggregate_id = pg_temp.id('d1') AND event_type = 'submission.updated' AND aggregate_version = 2),
    'Dan',
    'submission.updated@2 carries the new data'
);
SELECT throws_ok($$SELECT pliers.update_submission(pg_temp.id('d1'), 1, '{"fullName": "Stale"}')$$, 'PL003', NULL,
    'a stale revision: PL003');
SELECT results_eq(
    $$SELECT data ->> 'fullName', revision, cardinality(pg_temp.events_of(id)) FROM pliers.submissions
      WHERE id = pg_temp.id('d1')$$,
    $$VALUES ('Dan', 2, 2)$$,
    'the stale write changed nothing, appended nothing'
);
SELECT throws_ok($$SELECT pliers.update_submission(pg_temp.id('d1'), NULL, '{}')$$, 'PL001', NULL,
    'no expected revision: PL001');
SELECT throws_ok($$SELECT pliers.update_submission(pg_temp.id('d1'), 2, '{"age": -1}')$$, 'PL001', NULL,
    'invalid answers: PL001');
SELECT is(
    pg_temp.error_list($$SELECT pliers.update_submission(pg_temp.id('d1'), 2, '{"docs": ["00000000-0000-0000-0000-000000000000"]}')$$),
    ARRAY['attachment_not_found'],
    'a file answer must name an attachment of the submission'
);
SELECT throws_ok($$SELECT pliers.update_submission(pg_temp.id('s1'), 2, '{"fullName": "X"}')$$, 'PL005', NULL,
    'a submitted submission''s answers cannot change: PL005');
SELECT throws_ok($$SELECT pliers.update_submission(gen_random_uuid(), 1, '{}')$$, 'PL002', NULL,
    'an unknown submission: PL002');

-- A member edits and submits their own draft, sees nobody else's
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000002');
SELECT lives_ok($$SELECT pg_temp.keep('m1', (pliers.create_submission(pg_temp.id('f2'), '{"age": 5}')).id)$$,
    'a member creates a draft');
SELECT lives_ok($$SELECT pliers.update_submission(pg_temp.id('m1'), 1, '{"age": 6}')$$,
    'a member updates their own draft');
SELECT throws_ok($$SELECT pliers.update_submission(pg_temp.id('d1'), 2, '{"age": 6}')$$, 'PL002', NULL,
    'another user''s submission is invisible to a member: PL002');
SELECT throws_ok($$SELECT pliers.submit_submission(pg_temp.id('m1'))$$, 'PL001', NULL,
    'submitting a draft without its required answers: PL001');
SELECT is(
    pg_temp.error_list($$SELECT pliers.submit_submission(pg_temp.id('m1'))$$, 'path'),
    ARRAY['$.data.fullName'],
    '... naming the missing answer'
);
SELECT lives_ok($$SELECT pliers.update_submission(pg_temp.id('m1'), 2, '{"age": 6, "fullName": "Mia"}')$$,
    'the member completes the draft');
SELECT throws_ok($$SELECT pliers.submit_submission(pg_temp.id('m1'), 2)$$, 'PL003', NULL,
    'submit with a stale revision: PL003');
SELECT lives_ok($$SELECT pliers.submit_submission(pg_temp.id('m1'), 3)$$, 'the member submits the draft');
SELECT results_eq(
    $$SELECT status::text, submitted_at IS NOT NULL, revision FROM pliers.submissions WHERE id = pg_temp.id('m1')$$,
    $$VALUES ('submitted', TRUE, 4)$$,
    'submitted, submitted_at set, revision 4'
);
SELECT throws_ok($$SELECT pliers.update_submission(pg_temp.id('m1'), 4, '{"age": 7}')$$, 'PL006', NULL,
    'the author''s right to edit ends with the draft: PL006');
SELECT throws_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'approved')$$, 'PL006', NULL,
    'a member may not approve: PL006');
SELECT is(
    pg_temp.events_of(pg_temp.id('m1')),
    ARRAY['submission.created@1', 'submission.updated@2', 'submission.updated@3', 'submission.submitted@4'],
    'one event per change, aggregate_version = revision'
);

-- Status moves -------------------------------------------------------------------------------

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000003');
SELECT throws_ok($$SELECT pliers.submit_submission(pg_temp.id('m1'))$$, 'PL004', NULL,
    'submitting a submitted submission: PL004');
SELECT lives_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'processing', 4)$$,
    'a reviewer moves submitted -> processing');
SELECT lives_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'approved', p_reason => 'fine')$$,
    'processing -> approved');
SELECT throws_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'draft')$$, 'PL004', NULL,
    'approved -> draft: PL004');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'rejected')$$) - 'id' - 'object',
    '{"from": "approved", "to": "rejected"}'::jsonb,
    'PL004 DETAIL {from, to}'
);
SELECT lives_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'completed')$$, 'approved -> completed');
SELECT results_eq(
    $$SELECT status::text, completed_at IS NOT NULL, revision FROM pliers.submissions WHERE id = pg_temp.id('m1')$$,
    $$VALUES ('completed', TRUE, 7)$$,
    'completed, completed_at set'
);
SELECT is(
    (SELECT array_agg((payload ->> 'from') || '>' || (payload ->> 'to') ORDER BY aggregate_version)
     FROM pliers.events WHERE aggregate_id = pg_temp.id('m1') AND event_type = 'submission.status_changed'),
    ARRAY['submitted>processing', 'processing>approved', 'approved>completed'],
    'submission.status_changed records each move'
);
SELECT is(
    (SELECT payload ->> 'reason' FROM pliers.events WHERE aggregate_id = pg_temp.id('m1') AND aggregate_version = 6),
    'fine',
    '... with its reason'
);
SELECT lives_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'archived')$$, 'completed -> archived');
SELECT throws_ok($$SELECT pliers.set_submission_status(pg_temp.id('m1'), 'completed')$$, 'PL004', NULL,
    'archived is final: PL004');
SELECT throws_ok($$SELECT pliers.set_submission_status(pg_temp.id('s1'), NULL)$$, 'PL001', NULL,
    'no status: PL001');

-- set_submission_status delegates draft -> submitted to submit_submission (final validation)
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');
SELECT lives_ok($$SELECT pliers.set_submission_status(pg_temp.id('d1'), 'submitted')$$,
    'set_submission_status(draft -> submitted) submits');
SELECT is(
    (pg_temp.events_of(pg_temp.id('d1')))[3], 'submission.submitted@3', '... appending submission.submitted'
);

-- Assignment ----------------------------------------------------------------------------------

SELECT lives_ok(
    $$SELECT pliers.assign_submission(pg_temp.id('s2'), '55000001-0000-0000-0000-000000000003',
        '55000005-0000-0000-0000-0000000000a1')$$,
    'assign_submission to a user and a team'
);
SELECT results_eq(
    $$SELECT assigned_to, assigned_team_id, revision FROM pliers.submissions WHERE id = pg_temp.id('s2')$$,
    $$VALUES ('55000001-0000-0000-0000-000000000003'::uuid, '55000005-0000-0000-0000-0000000000a1'::uuid, 3)$$,
    'assigned'
);
SELECT is(
    (SELECT payload FROM pliers.events WHERE aggregate_id = pg_temp.id('s2') AND event_type = 'submission.assigned'),
    '{"assigned_to": "55000001-0000-0000-0000-000000000003", "assigned_team_id": "55000005-0000-0000-0000-0000000000a1",
      "previous": {"assigned_to": null, "assigned_team_id": null}}'::jsonb,
    'submission.assigned@3 records the new and previous assignment'
);
SELECT throws_ok($$SELECT pliers.assign_submission(pg_temp.id('s2'), gen_random_uuid())$$, 'PL002', NULL,
    'assigning to an unknown user: PL002');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.assign_submission(pg_temp.id('s2'), '55000002-0000-0000-0000-000000000001')$$)
        ->> 'object',
    'user',
    'a user of another tenant is unknown (object user)'
);
SELECT throws_ok($$SELECT pliers.assign_submission(pg_temp.id('s2'), NULL, gen_random_uuid())$$, 'PL002', NULL,
    'assigning to an unknown team: PL002');
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000005');
SELECT lives_ok($$SELECT pliers.set_submission_status(pg_temp.id('s2'), 'processing')$$,
    'a member of the assigned team (no role) processes the submission');
SELECT throws_ok($$SELECT pliers.set_submission_status(pg_temp.id('s1'), 'processing')$$, 'PL002', NULL,
    '... but does not see the submissions of other teams: PL002');

-- Delete and restore ---------------------------------------------------------------------------

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000003');
SELECT throws_ok($$SELECT pliers.delete_submission(pg_temp.id('s2'))$$, 'PL006', NULL,
    'a reviewer may not delete: PL006');
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.restore_submission(pg_temp.id('s2'))$$, 'PL004', NULL,
    'restoring a live submission: PL004');
SELECT lives_ok($$SELECT pliers.delete_submission(pg_temp.id('s2'), 4)$$, 'delete_submission');
SELECT results_eq(
    $$SELECT deleted_at IS NOT NULL, deleted_by FROM pliers.submissions WHERE id = pg_temp.id('s2')$$,
    $$VALUES (TRUE, '55000001-0000-0000-0000-000000000001'::uuid)$$,
    'soft-deleted: deleted_at and deleted_by'
);
SELECT throws_ok($$SELECT pliers.delete_submission(pg_temp.id('s2'))$$, 'PL002', NULL,
    'deleting a deleted submission: PL002');
SELECT throws_ok($$SELECT pliers.set_submission_status(pg_temp.id('s2'), 'approved')$$, 'PL002', NULL,
    'a deleted submission is not found by the other functions: PL002');
SELECT ok(
    NOT EXISTS (SELECT FROM pliers.list_submissions() WHERE id = pg_temp.id('s2')),
    'a deleted submission leaves the list'
);
SELECT is(
    (SELECT array_agg(id) FROM pliers.list_submissions(p_deleted => TRUE)), ARRAY[pg_temp.id('s2')],
    '... and is listed with p_deleted'
);
SELECT lives_ok($$SELECT pliers.restore_submission(pg_temp.id('s2'))$$, 'restore_submission');
SELECT is(
    (pg_temp.events_of(pg_temp.id('s2')))[5:6], ARRAY['submission.deleted@5', 'submission.restored@6'],
    'submission.deleted@5, submission.restored@6'
);
SELECT throws_ok($$SELECT pliers.restore_submission(gen_random_uuid())$$, 'PL002', NULL,
    'restoring an unknown submission: PL002');

-- Attachments --------------------------------------------------------------------------------

SELECT lives_ok(
    $$SELECT pg_temp.keep('a', (pliers.create_submission(pg_temp.id('f2'),
        '{"fullName": "Att", "children": [{"name": "C"}]}')).id)$$,
    'a draft to attach files to'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('att1', (pliers.attach_file(pg_temp.id('a'), 'docs', 'scan.png', 'image/png', 1000,
        'org/a/scan.png', upper(pg_temp.sha('one')), p_original_filename => 'Scan 1.PNG')).id)$$,
    'attach_file records a file of a file field'
);
SELECT results_eq(
    $$SELECT a.submission_id, a.checksum::text, a.uploaded_by, a.metadata ->> 'field', s.attachment_count,
             s.data -> 'docs', s.attachments -> 0 ->> 'filename', s.revision
      FROM pliers.attachments AS a JOIN pliers.submissions AS s ON s.id = a.submission_id
      WHERE a.id = pg_temp.id('att1')$$,
    $$SELECT pg_temp.id('a'), pg_temp.sha('one'), '55000001-0000-0000-0000-000000000001'::uuid, 'docs', 1,
             jsonb_build_array(pg_temp.id('att1')), 'scan.png', 2$$,
    'the attachment (checksum lower-case) is in the answer, attachment_count 1, revision 2'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('att2', (pliers.attach_file(pg_temp.id('a'), 'docs', 'b.pdf', 'application/pdf', 2000,
        'org/a/b.pdf', pg_temp.sha('two'))).id)$$,
    'a second file'
);
SELECT throws_ok(
    $$SELECT pliers.attach_file(pg_temp.id('a'), 'docs', 'c.pdf', 'application/pdf', 10, 'k', pg_temp.sha('3'))$$,
    'PL001', NULL, 'a third file where maxItems is 2: PL001'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'docs', 'c.pdf', 'application/pdf', 10, 'k', pg_temp.sha('3'))$$),
    ARRAY['too_many_items'], '... code too_many_items'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'docs', 'c.txt', 'text/plain', 2000000, 'k', 'abc')$$),
    ARRAY['file_too_large', 'file_type_not_allowed', 'invalid_checksum', 'too_many_items'],
    'every error of the file at once: type, size, checksum, count'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'age', 'x.png', 'image/png', 1, 'k', pg_temp.sha('x'))$$),
    ARRAY['not_a_file_field'], 'a field that takes no file: not_a_file_field'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'nope', 'x.png', 'image/png', 1, 'k', pg_temp.sha('x'))$$),
    ARRAY['unknown_field'], 'an unknown field: unknown_field'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'children.photo', 'x.png', 'image/png', 1, 'k', pg_temp.sha('x'))$$),
    ARRAY['invalid_field_path'], 'a field in a repeat needs the instance index: invalid_field_path'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'children[3].photo', 'x.png', 'image/png', 1, 'k', pg_temp.sha('x'))$$),
    ARRAY['unknown_instance'], 'an instance that is not in the answers: unknown_instance'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('att3', (pliers.attach_file(pg_temp.id('a'), 'children[0].photo', 'kid.jpg', 'image/jpeg', 300,
        'org/a/kid.jpg', pg_temp.sha('kid'))).id)$$,
    'a file in a repeat instance'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('att4', (pliers.attach_file(pg_temp.id('a'), 'address.proof', 'bill.pdf', 'application/pdf', 400,
        'org/a/bill.pdf', pg_temp.sha('bill'))).id)$$,
    'a file in a group not answered yet'
);
SELECT lives_ok(
    $$SELECT pg_temp.keep('att5', (pliers.attach_file(pg_temp.id('a'), 'sig', 'sig.png', 'image/png', 50,
        'org/a/sig.png', pg_temp.sha('sig'))).id)$$,
    'a signature'
);
SELECT is(
    pg_temp.error_list($$SELECT pliers.attach_file(pg_temp.id('a'), 'sig', 's.png', 'image/png', 1, 'k', pg_temp.sha('s'))$$),
    ARRAY['too_many_items'], 'a second signature: too_many_items'
);
SELECT results_eq(
    $$SELECT data #> '{children,0,photo}', data #> '{address,proof}', data -> 'sig', attachment_count, is_valid,
             jsonb_array_length(attachments)
      FROM pliers.submissions WHERE id = pg_temp.id('a')$$,
    $$SELECT jsonb_build_array(pg_temp.id('att3')), jsonb_build_array(pg_temp.id('att4')), to_jsonb(pg_temp.id('att5')),
             5, TRUE, 5$$,
    'the answers name the files where they belong; attachment_count 5; the draft stays valid'
);
SELECT lives_ok($$SELECT pliers.detach_file(pg_temp.id('att1'), pg_temp.rev('a'))$$, 'detach_file');
SELECT results_eq(
    $$SELECT s.data -> 'docs', s.attachment_count, jsonb_array_length(s.attachments), a.deleted_at IS NOT NULL
      FROM pliers.submissions AS s JOIN pliers.attachments AS a ON a.id = pg_temp.id('att1')
      WHERE s.id = pg_temp.id('a')$$,
    $$SELECT jsonb_build_array(pg_temp.id('att2')), 4, 4, TRUE$$,
    'the id leaves the answer, attachment_count 4, the attachment is soft-deleted'
);
SELECT lives_ok($$SELECT pliers.detach_file(pg_temp.id('att5'))$$, 'detaching the signature');
SELECT ok((SELECT NOT data ? 'sig' FROM pliers.submissions WHERE id = pg_temp.id('a')), '... removes the answer');
SELECT throws_ok($$SELECT pliers.detach_file(pg_temp.id('att1'))$$, 'PL002', NULL, 'detaching twice: PL002');
SELECT throws_ok($$SELECT pliers.detach_file(pg_temp.id('att2'), 1)$$, 'PL003', NULL,
    'detach with a stale submission revision: PL003');
SELECT is(
    pg_temp.events_of(pg_temp.id('a')),
    ARRAY['submission.created@1', 'submission.attachment_added@2', 'submission.attachment_added@3',
          'submission.attachment_added@4', 'submission.attachment_added@5', 'submission.attachment_added@6',
          'submission.attachment_removed@7', 'submission.attachment_removed@8'],
    'one event per attachment change, with the submission''s revisions'
);
SELECT is(
    (SELECT payload #>> '{attachment,storage_key}' || ' ' || (payload ->> 'value')
     FROM pliers.events WHERE aggregate_id = pg_temp.id('a') AND aggregate_version = 4),
    'org/a/kid.jpg ' || jsonb_build_array(pg_temp.id('att3'))::text,
    'submission.attachment_added carries the attachment and the new answer'
);
SELECT throws_ok(
    $$SELECT pliers.attach_file(pg_temp.id('s1'), 'docs', 'x.png', 'image/png', 1, 'k', pg_temp.sha('x'))$$,
    'PL005', NULL, 'attaching to a submitted submission: PL005'
);
RESET ROLE;
SELECT is(
    (SELECT sum(value)::integer FROM pliers.usage_counters
     WHERE organization_id = '55000000-0000-0000-0000-00000000000a' AND metric = 'attachment_bytes'),
    2000 + 300 + 400,
    'usage_counters count the bytes of the live attachments'
);
SET LOCAL ROLE pliers_app;
SELECT lives_ok($$SELECT pliers.submit_submission(pg_temp.id('a'))$$, 'the draft with files is submitted');

-- Quotas -----------------------------------------------------------------------------------------

-- The limit: one more than this month's submissions so far.
RESET ROLE;
UPDATE pliers.organizations
SET limits = jsonb_build_object(
    'max_submissions_per_month',
    (SELECT sum(value) + 1 FROM pliers.usage_counters
     WHERE organization_id = '55000000-0000-0000-0000-00000000000a' AND metric = 'submissions'),
    'max_attachment_bytes', 3000
)
WHERE id = '55000000-0000-0000-0000-00000000000a';
DO $$
BEGIN
    PERFORM set_config('t55.limit', limits ->> 'max_submissions_per_month', true)
    FROM pliers.organizations WHERE id = '55000000-0000-0000-0000-00000000000a';
END
$$;
SET LOCAL ROLE pliers_app;
SELECT lives_ok($$SELECT pg_temp.keep('q', (pliers.create_submission(pg_temp.id('f2'), '{}')).id)$$,
    'the last submission the monthly limit allows');
SELECT throws_ok($$SELECT pliers.create_submission(pg_temp.id('f2'), '{}')$$, 'PL007', NULL,
    'one more submission this month: PL007');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.create_submission(pg_temp.id('f2'), '{}')$$),
    jsonb_build_object('limit', 'max_submissions_per_month', 'value', current_setting('t55.limit')::integer,
                       'current', current_setting('t55.limit')::integer, 'adding', 1),
    'PL007 names the limit, its value and the current usage'
);
SELECT is(
    (pliers.create_submission(pg_temp.id('f1'), '{}', TRUE, 'ext-1')).id, pg_temp.id('s1'),
    'an idempotent retry is not refused by the quota (it creates nothing)'
);
SELECT is(
    pg_temp.detail_of($$SELECT pliers.attach_file(pg_temp.id('q'), 'docs', 'x.png', 'image/png', 400, 'k', pg_temp.sha('x'))$$),
    '{"limit": "max_attachment_bytes", "value": 3000, "current": 2700, "adding": 400}'::jsonb,
    'max_attachment_bytes: PL007 with the bytes stored and the bytes added'
);

-- Lists: keyset paging, filters ------------------------------------------------------------------

-- Eight submitted submissions to 1.1.0 spread over eight days, two of them at the same instant.
RESET ROLE;
UPDATE pliers.organizations SET limits = '{}' WHERE id = '55000000-0000-0000-0000-00000000000a';
SET LOCAL ROLE pliers_app;
SELECT is(
    (SELECT count(*)::integer FROM (
        SELECT pliers.create_submission(pg_temp.id('f2'),
            jsonb_build_object('fullName', 'L' || i, 'age', 10 * i, 'dept', CASE WHEN i % 2 = 0 THEN 'hr' ELSE 'it' END,
                               'visit', '2024-0' || i || '-01'),
            TRUE, 'list-' || i)
        FROM generate_series(1, 8) AS i) AS x),
    8,
    'setup: eight submissions to list'
);
RESET ROLE;
UPDATE pliers.submissions
SET created_at = '2024-01-01 12:00+00'::timestamptz + (least(substring(external_id FROM 6)::integer, 7) || ' days')::interval
WHERE external_id LIKE 'list-%';
SET LOCAL ROLE pliers_app;

CREATE FUNCTION pg_temp.all_pages(p_limit integer, p_filter jsonb DEFAULT NULL)
RETURNS text[]
LANGUAGE plpgsql
AS $$
DECLARE
    v_result text[] := '{}';
    v_after_at timestamptz;
    v_after_id uuid;
    v_row record;
    v_count integer;
BEGIN
    LOOP
        v_count := 0;
        FOR v_row IN
            SELECT * FROM pliers.list_submissions(
                p_form_id => pg_temp.id('f2'), p_after_created_at => v_after_at, p_after_id => v_after_id,
                p_limit => p_limit, p_filter => p_filter)
        LOOP
            v_result := v_result || coalesce(v_row.external_id::text, v_row.id::text);
            v_after_at := v_row.created_at;
            v_after_id := v_row.id;
            v_count := v_count + 1;
        END LOOP;
        EXIT WHEN v_count < p_limit;
    END LOOP;
    RETURN v_result;
END
$$;

SELECT is(
    (SELECT array_agg(coalesce(external_id::text, id::text) ORDER BY created_at DESC, id) FROM pliers.submissions
     WHERE form_id = pg_temp.id('f2') AND deleted_at IS NULL),
    pg_temp.all_pages(100),
    'one page: newest first, ties (one transaction''s rows) by id'
);
SELECT is(
    pg_temp.all_pages(3),
    (SELECT array_agg(coalesce(external_id::text, id::text) ORDER BY created_at DESC, id) FROM pliers.submissions
     WHERE form_id = pg_temp.id('f2') AND deleted_at IS NULL),
    'pages of 3 with the keyset cursor: the same rows, in the same order, none twice, none lost (across a tie)'
);
SELECT is(
    pg_temp.all_pages(1),
    (SELECT array_agg(coalesce(external_id::text, id::text) ORDER BY created_at DESC, id) FROM pliers.submissions
     WHERE form_id = pg_temp.id('f2') AND deleted_at IS NULL),
    'pages of 1: also right'
);
SELECT is(
    pg_temp.all_pages(2, '{"dept": "hr"}'),
    ARRAY[pg_temp.id('s2')::text, 'list-8', 'list-6', 'list-4', 'list-2'],
    'p_filter (data @> ...) pages too'
);
SELECT is(
    (SELECT array_agg(external_id::text ORDER BY external_id)
     FROM pliers.list_submissions(p_form_id => pg_temp.id('f2'), p_field => 'age', p_op => '>', p_value => '50')),
    ARRAY['list-6', 'list-7', 'list-8'],
    'a comparison on a number: age > 50'
);
SELECT is(
    (SELECT array_agg(external_id::text ORDER BY external_id)
     FROM pliers.list_submissions(p_form_id => pg_temp.id('f2'), p_field => 'visit', p_op => '<=',
                                  p_value => '"2024-02-01"')),
    ARRAY['list-1', 'list-2'],
    'a comparison on a date (ISO string): visit <= 2024-02-01'
);
SELECT is(
    (SELECT array_agg(external_id::text ORDER BY external_id)
     FROM pliers.list_submissions(p_field => 'fullName', p_op => '=', p_value => '"L3"')),
    ARRAY['list-3'],
    'equality on a text answer'
);
SELECT is(
    (SELECT array_agg(id ORDER BY id) FROM pliers.list_submissions(p_filter => '{"dept": "it"}', p_limit => 1000)),
    (SELECT array_agg(id ORDER BY id) FROM pliers.submissions WHERE data @> '{"dept": "it"}' AND deleted_at IS NULL),
    'p_filter without a form: the matches of every form of the tenant (one index probe per form)'
);
SELECT is(
    (SELECT count(DISTINCT form_id)::integer FROM pliers.list_submissions(p_filter => '{"dept": "it"}', p_limit => 1000)),
    2,
    'those matches are answers to two forms'
);
SELECT is(
    (SELECT array_agg(id ORDER BY id)
     FROM pliers.list_submissions(p_field => 'dept', p_op => '=', p_value => '"it"', p_limit => 1000)),
    (SELECT array_agg(id ORDER BY id) FROM pliers.list_submissions(p_filter => '{"dept": "it"}', p_limit => 1000)),
    'a comparison without a form: the same rows as the containment filter'
);
SELECT is(
    (SELECT array_agg(id ORDER BY id)
     FROM pliers.list_submissions(p_form_id => pg_temp.id('f1'), p_filter => '{"dept": "it"}', p_limit => 1000)),
    (SELECT array_agg(id ORDER BY id) FROM pliers.submissions
     WHERE form_id = pg_temp.id('f1') AND data @> '{"dept": "it"}' AND deleted_at IS NULL),
    'p_filter with a form: that form''s matches only'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pliers.list_submissions(p_form_id => pg_temp.id('f2'), p_field => 'dept', p_op => '<>', p_value => '"hr"',
                                  p_filter => '{"age": 70}')),
    1,
    'a comparison and a containment filter together'
);
SELECT is(
    (SELECT array_agg(external_id::text ORDER BY external_id)
     FROM pliers.list_submissions(p_created_from => '2024-01-07 00:00+00', p_created_before => '2024-01-09 00:00+00')),
    ARRAY['list-6', 'list-7', 'list-8'],
    'a creation time range'
);
SELECT is(
    (SELECT array_agg(id) FROM pliers.list_submissions(p_assigned_to => '55000001-0000-0000-0000-000000000003')),
    ARRAY[pg_temp.id('s2')],
    'by assignee'
);
SELECT is(
    (SELECT array_agg(id) FROM pliers.list_submissions(p_assigned_team_id => '55000005-0000-0000-0000-0000000000a1',
                                                       p_status => 'processing')),
    ARRAY[pg_temp.id('s2')],
    'by team and status'
);
SELECT is(
    (SELECT array_agg(DISTINCT status::text) FROM pliers.list_submissions(p_status => 'draft')),
    ARRAY['draft'],
    'by status'
);
SELECT is(
    pg_temp.error_list($$SELECT * FROM pliers.list_submissions(p_limit => 0, p_after_id => gen_random_uuid(),
        p_field => 'age', p_op => 'LIKE', p_value => '1', p_filter => '[]')$$, 'path'),
    ARRAY['after_id', 'filter', 'limit', 'op'],
    'invalid list arguments: PL001 with every error'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.list_submissions(p_field => 'age[0]''; DROP TABLE x; --', p_op => '=', p_value => '1')$$,
    'PL001', NULL, 'a field that is not a field path (names hold no [ ]): PL001 (no injection)'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.list_submissions(p_field => 'age', p_op => '<', p_value => '{"a": 1}')$$,
    'PL001', NULL, 'an ordering comparison with an object: PL001'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.list_submissions(p_field => 'fullName', p_op => '=',
                                                           p_value => '"x\" || $.a == \"y"')),
    0,
    'a string value stays a string literal in the jsonpath'
);

-- A member lists only their own submissions (row-level security)
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000002');
SELECT is(
    (SELECT array_agg(id) FROM pliers.list_submissions()), ARRAY[pg_temp.id('m1')],
    'a member lists their own submissions only'
);
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');

-- Export across versions ---------------------------------------------------------------------------

SELECT results_eq(
    $$SELECT ordinal, name, kind FROM pliers.export_columns('claim') WHERE kind <> 'meta' ORDER BY ordinal$$,
    $$VALUES (13, 'fullName', 'text'), (14, 'age', 'integer'), (15, 'dept', 'single_choice'), (16, 'docs', 'file'),
             (17, 'sig', 'signature'), (18, 'address.zip', 'text'), (19, 'address.proof', 'file'),
             (20, 'children', 'repeat'), (21, 'visit', 'date'), (22, 'notes', 'textarea')$$,
    'one column per answer path of all versions: groups flattened, a repeat as one column, no display field, '
    'the field of 1.1.0 last'
);
SELECT is(
    (SELECT array_agg(name ORDER BY ordinal) FROM pliers.export_columns('claim') WHERE kind = 'meta'),
    ARRAY['submission_number', 'submission_id', 'form_version', 'status', 'created_at', 'submitted_at',
          'updated_at', 'completed_at', 'submitted_by', 'assigned_to', 'assigned_team_id', 'external_id'],
    'the meta columns come first'
);
SELECT throws_ok($$SELECT * FROM pliers.export_columns('no-such-form')$$, 'PL002', NULL,
    'exporting an unknown form: PL002');
SELECT is(
    (SELECT count(*)::integer FROM pliers.export_submissions('claim')),
    (SELECT count(*)::integer FROM pliers.submissions AS s JOIN pliers.forms AS f ON f.id = s.form_id
     WHERE f.slug = 'claim' AND s.status <> 'draft' AND s.deleted_at IS NULL),
    'export_submissions: one row per live, non-draft submission of every version'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.export_submissions('claim', TRUE)),
    (SELECT count(*)::integer FROM pliers.submissions AS s JOIN pliers.forms AS f ON f.id = s.form_id
     WHERE f.slug = 'claim' AND s.deleted_at IS NULL),
    '... drafts included on request'
);
SELECT is(
    (SELECT r FROM pliers.export_submissions('claim') AS r WHERE r[2] = pg_temp.id('s1')::text)[12:22],
    ARRAY['ext-1', 'Ann', '30', 'it', NULL, NULL, '1000', NULL, '[{"name": "Bo"}]', '2024-07-15', NULL],
    'a 1.0.0 row: answers as text, group fields flattened, the repeat as JSON, notes empty'
);
SELECT is(
    (SELECT r[3] || ' ' || r[22] FROM pliers.export_submissions('claim') AS r WHERE r[2] = pg_temp.id('s2')::text),
    E'1.1.0 line 1\nline "2"',
    'a 1.1.0 row has its version and notes'
);
SELECT is(
    pliers.export_query('claim'),
    'SELECT e.r[1] AS submission_number, e.r[2] AS submission_id, e.r[3] AS form_version, e.r[4] AS status, '
    || 'e.r[5] AS created_at, e.r[6] AS submitted_at, e.r[7] AS updated_at, e.r[8] AS completed_at, '
    || 'e.r[9] AS submitted_by, e.r[10] AS assigned_to, e.r[11] AS assigned_team_id, e.r[12] AS external_id, '
    || 'e.r[13] AS "fullName", e.r[14] AS age, e.r[15] AS dept, e.r[16] AS docs, e.r[17] AS sig, '
    || 'e.r[18] AS "address.zip", e.r[19] AS "address.proof", e.r[20] AS children, e.r[21] AS visit, '
    || 'e.r[22] AS notes FROM pliers.export_submissions(''claim'', ''f'') AS e (r)',
    'export_query: the SELECT for COPY, one quoted column name per export column'
);
SELECT is(
    (SELECT x ->> 'address.zip' FROM jsonb_array_elements(pg_temp.rows_of(pliers.export_query('claim'))) AS x
     WHERE x ->> 'submission_id' = pg_temp.id('s1')::text),
    '1000',
    'the export query runs, with its named columns'
);
SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000002');
SELECT is(
    (SELECT array_agg(r[2]) FROM pliers.export_submissions('claim') AS r), ARRAY[pg_temp.id('m1')::text],
    'the export shows only what the caller may see'
);

-- Events: one per change, aggregate_version = revision ------------------------------------------

SELECT pliers.set_context('55000000-0000-0000-0000-00000000000a', '55000001-0000-0000-0000-000000000001');
SELECT is(
    (SELECT count(*)::integer FROM pliers.submissions AS s
     WHERE (s.external_id IS NULL OR s.external_id NOT LIKE 'list-%')
       AND s.revision <> (SELECT max(e.aggregate_version) FROM pliers.events AS e WHERE e.aggregate_id = s.id)),
    0,
    'every submission''s revision is the aggregate_version of its last event'
);
SELECT is(
    (SELECT count(*)::integer
     FROM (SELECT e.aggregate_id, count(*) AS n, max(e.aggregate_version) AS v
           FROM pliers.events AS e WHERE e.aggregate_type = 'submission' GROUP BY e.aggregate_id) AS x
     WHERE x.n <> x.v),
    0,
    'each submission has one event per revision (versions 1..n, none twice)'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.events AS e
     WHERE e.aggregate_type = 'submission' AND (e.user_id IS NULL OR e.organization_id <> pliers.current_organization_id())),
    0,
    'submission events record the acting user, in the tenant'
);

SELECT * FROM finish();
ROLLBACK;
