-- The bulk import (sql/57-submission-import.sql): privileges, an import as pliers_app
-- that time travel rebuilds like create_submission's submissions, skipped retries, and
-- the error codes. Data is seeded as superuser; calls run as pliers_app. Rolled back.
BEGIN;
SELECT plan(17);

SELECT has_type('pliers', 'submission_import', 'the row type of an import exists');
SELECT function_privs_are(
    'pliers', 'import_submissions', ARRAY['uuid', 'pliers.submission_import[]'], 'pliers_app', ARRAY['EXECUTE'],
    'pliers_app may import'
);
SELECT ok(
    NOT has_function_privilege(
        'pliers_app',
        'pliers._check_import_row(pliers.submission_status, text, jsonb, text[], text, timestamptz, timestamptz, timestamptz)',
        'EXECUTE'
    ),
    'the row check is private'
);

-- The per-row SQL helpers are inlined into their callers' queries (no function call per
-- row): their declared volatility is not below their bodies'.
CREATE FUNCTION pg_temp.plan(p_sql text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || p_sql;
END
$$;
SELECT unalike(
    (SELECT string_agg(l, ' ') FROM pg_temp.plan($$
        SELECT pliers._check_import_row(r.s, r.e, r.m, r.t, r.src, r.c, r.sub, now())
        FROM (VALUES (NULL::pliers.submission_status, 'x', '{}'::jsonb, '{}'::text[], 'import', now(), now()))
            AS r (s, e, m, t, src, c, sub)$$) AS l),
    '%_check_import_row%', 'pliers._check_import_row is inlined'
);
SELECT unalike(
    (SELECT string_agg(l, ' ') FROM pg_temp.plan($$
        SELECT pliers._choice_allowed(r.f, r.c) FROM (VALUES ('{}'::jsonb, '"a"'::jsonb)) AS r (f, c)$$) AS l),
    '%_choice_allowed%', 'pliers._choice_allowed is inlined'
);
SELECT unalike(
    (SELECT string_agg(l, ' ') FROM pg_temp.plan($$
        SELECT d.* FROM (VALUES ('{}'::jsonb, '{}'::jsonb)) AS r (f, a), pliers._check_submission_data(r.f, r.a, TRUE, '{}') AS d
    $$) AS l),
    '%_check_submission_data%', 'pliers._check_submission_data is inlined'
);

INSERT INTO pliers.organizations (id, slug, name) VALUES ('57000000-0000-0000-0000-00000000000a', 't57-a', 'Import A');
INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('57000000-0000-0000-0000-00000000000a', '57000001-0000-0000-0000-000000000001', 'i1@t57.example', '{org_owner}');
INSERT INTO pliers.forms (organization_id, id, name, slug, definition, status, published_at) VALUES
('57000000-0000-0000-0000-00000000000a', '57000004-0000-0000-0000-0000000000f1', 'F1', 't57-f1',
 '{"fields": [{"type": "text", "name": "name", "required": true}]}', 'published', now()),
('57000000-0000-0000-0000-00000000000a', '57000004-0000-0000-0000-0000000000f2', 'F2', 't57-f2',
 '{"fields": [{"type": "text", "name": "name", "required": true}]}', 'published', now());

SET LOCAL ROLE pliers_app;
SELECT throws_ok(
    $$SELECT * FROM pliers.import_submissions('57000004-0000-0000-0000-0000000000f1', '{}')$$,
    'PL008', NULL, 'without a context: PL008'
);
SELECT pliers.set_context('57000000-0000-0000-0000-00000000000a', '57000001-0000-0000-0000-000000000001');

CREATE TEMPORARY TABLE staging (LIKE pliers.submission_import) ON COMMIT DROP;
INSERT INTO staging (data, status, external_id, submitted_at) VALUES
('{"name": "Ann"}', NULL, 'e-1', '2023-05-01 12:00+00'),
('{}', 'draft', NULL, NULL);

SELECT results_eq(
    $$SELECT row_index, submission_number, external_id, created FROM pliers.import_submissions(
        '57000004-0000-0000-0000-0000000000f1', ARRAY(SELECT ROW(s.*)::pliers.submission_import FROM staging AS s)
    ) ORDER BY row_index$$,
    $$VALUES (1, 'S-000001', 'e-1', TRUE), (2, 'S-000002', NULL, TRUE)$$,
    'two rows imported, numbered in row order'
);
SELECT results_eq(
    $$SELECT status::text, data, revision, submitted_at, created_at, source::text, is_valid
      FROM pliers.submissions ORDER BY submission_number$$,
    $$VALUES ('submitted', '{"name": "Ann"}'::jsonb, 2, '2023-05-01 12:00+00'::timestamptz,
              '2023-05-01 12:00+00'::timestamptz, 'import', TRUE),
             ('draft', '{}'::jsonb, 1, NULL, now(), 'import', FALSE)$$,
    'stored cleaned, with the source system''s times; the draft records that it is not complete'
);
SELECT results_eq(
    $$SELECT e.event_type::text, e.aggregate_version, e.causation_id IS NOT NULL, e.user_id
      FROM pliers.events AS e WHERE e.aggregate_type = 'submission' ORDER BY e.position$$,
    $$VALUES ('submission.created', 1, FALSE, '57000001-0000-0000-0000-000000000001'::uuid),
             ('submission.submitted', 2, TRUE, '57000001-0000-0000-0000-000000000001'::uuid),
             ('submission.created', 1, FALSE, '57000001-0000-0000-0000-000000000001'::uuid)$$,
    'the events of create_submission, row after row'
);
SELECT is(
    (SELECT count(*) FROM pliers.submissions AS s
     WHERE pliers.submission_at(s.id, now()) = pg_catalog.to_jsonb(s) - ARRAY[
         'organization_id', 'id', 'updated_at', 'ip_address', 'user_agent', 'workflow_state', 'validation_state'
     ]),
    2::bigint,
    'time travel rebuilds every imported submission as it is stored'
);
SELECT results_eq(
    $$SELECT row_index, external_id, created FROM pliers.import_submissions(
        '57000004-0000-0000-0000-0000000000f1', ARRAY[ROW('{"name": "B"}', NULL, 'e-1', NULL, NULL, NULL, NULL, NULL)]::pliers.submission_import[]
    )$$,
    $$VALUES (1, 'e-1', FALSE)$$,
    'a retry skips the row whose external id exists'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.import_submissions('57000004-0000-0000-0000-0000000000f2',
        ARRAY[ROW('{"name": "B"}', NULL, 'e-1', NULL, NULL, NULL, NULL, NULL)]::pliers.submission_import[])$$,
    'PL003', NULL, 'an external id of another form: PL003'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.import_submissions('57000004-0000-0000-0000-0000000000f1',
        ARRAY[ROW('{"name": "B"}', NULL, 'x', NULL, NULL, NULL, NULL, NULL),
              ROW('{}', NULL, 'x', NULL, NULL, NULL, NULL, NULL)]::pliers.submission_import[])$$,
    'PL001', '2 errors in the rows: nothing was imported', 'invalid rows and duplicate external ids: PL001'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.import_submissions('57000004-0000-0000-0000-0000000000f1', NULL)$$,
    'PL001', 'rows is required', 'no rows: PL001'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.import_submissions('57000004-0000-0000-0000-0000000000ff', '{}')$$,
    'PL002', NULL, 'an unknown form: PL002'
);
SELECT is((SELECT count(*) FROM pliers.submissions), 2::bigint, 'the failed imports wrote nothing');

SELECT * FROM finish();
ROLLBACK;
