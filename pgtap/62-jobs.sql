-- The job queue (sql/62-jobs.sql): the table's constraints, privileges and row-level
-- security, enqueue as pliers_app (idempotency, validation, reserved kinds), and the
-- worker functions as pliers_worker (claim, lease, complete, fail with backoff, dead,
-- release, expired leases, fairness). Data is seeded as superuser.
BEGIN;
SELECT plan(44);

INSERT INTO pliers.organizations (id, slug, name) VALUES
('62000000-0000-0000-0000-00000000000a', 't62-a', 'Jobs A'),
('62000000-0000-0000-0000-00000000000b', 't62-b', 'Jobs B');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('62000000-0000-0000-0000-00000000000a', '62000001-0000-0000-0000-000000000001', 'a1@t62.example', '{org_owner}'),
('62000000-0000-0000-0000-00000000000a', '62000001-0000-0000-0000-000000000002', 'a2@t62.example', '{member}'),
('62000000-0000-0000-0000-00000000000b', '62000002-0000-0000-0000-000000000001', 'b1@t62.example', '{org_owner}');

-- The (path, code) pairs of a PL001's errors.
CREATE FUNCTION pg_temp.errors_of(p_statement text)
RETURNS text[]
LANGUAGE plpgsql
AS $$
DECLARE
    v_detail text;
BEGIN
    EXECUTE p_statement;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN (
        SELECT array_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY e ->> 'path')
        FROM jsonb_array_elements(v_detail::jsonb -> 'errors') AS e
    );
END
$$;

GRANT EXECUTE ON FUNCTION pg_temp.errors_of(text) TO pliers_app;

-- The catalog ------------------------------------------------------------------------------

SELECT has_table('pliers', 'jobs', 'table pliers.jobs');
SELECT col_is_pk('pliers', 'jobs', ARRAY['organization_id', 'id'], 'jobs are keyed by (organization_id, id)');
SELECT ok(
    (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = 'pliers.jobs'::regclass),
    'row-level security is enabled on jobs'
);
SELECT ok(
    has_table_privilege('pliers_app', 'pliers.jobs', 'SELECT')
    AND NOT has_table_privilege('pliers_app', 'pliers.jobs', 'INSERT')
    AND NOT has_table_privilege('pliers_app', 'pliers.jobs', 'UPDATE')
    AND NOT has_table_privilege('pliers_app', 'pliers.jobs', 'DELETE'),
    'pliers_app reads jobs and writes them only through the API'
);
SELECT ok(
    has_function_privilege('pliers_app', 'pliers.enqueue_job(text, jsonb, text, timestamptz, integer)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers.claim_jobs(text, integer, interval, text[], uuid)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers.complete_job(uuid, uuid, text, integer)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers.job_queue_status()', 'EXECUTE'),
    'pliers_app enqueues; it cannot run the worker functions'
);
SELECT ok(
    has_function_privilege('pliers_worker', 'pliers.claim_jobs(text, integer, interval, text[], uuid)', 'EXECUTE')
    AND has_function_privilege('pliers_worker', 'pliers.fail_job(uuid, uuid, text, integer, text, boolean)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_worker', 'pliers.enqueue_job(text, jsonb, text, timestamptz, integer)', 'EXECUTE')
    AND NOT has_function_privilege(
        'pliers_worker', 'pliers._enqueue_job(uuid, text, jsonb, text, timestamptz, integer, uuid, uuid, jsonb)', 'EXECUTE'
    ),
    'pliers_worker runs the worker functions, and enqueues nothing itself'
);

-- Constraints, as superuser ----------------------------------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.jobs (organization_id, kind) VALUES ('62000000-0000-0000-0000-00000000000a', 'Bad Kind')$$,
    '23514', NULL, 'a kind is lower case'
);
SELECT throws_ok(
    $$INSERT INTO pliers.jobs (organization_id, kind, status) VALUES ('62000000-0000-0000-0000-00000000000a', 'k', 'running')$$,
    '23514', NULL, 'a running job has a lease'
);
SELECT throws_ok(
    $$INSERT INTO pliers.jobs (organization_id, kind, status) VALUES ('62000000-0000-0000-0000-00000000000a', 'k', 'done')$$,
    '23514', NULL, 'a finished job has finished_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.jobs (organization_id, kind, attempts, max_attempts) VALUES ('62000000-0000-0000-0000-00000000000a', 'k', 3, 2)$$,
    '23514', NULL, 'attempts never exceed max_attempts'
);

-- Enqueue, as pliers_app ------------------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('62000000-0000-0000-0000-00000000000a', '62000001-0000-0000-0000-000000000001');

CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
GRANT ALL ON ids TO PUBLIC;

INSERT INTO ids SELECT 'a1', pliers.enqueue_job('t62.mail', '{"to": "x"}', 'mail-1');
SELECT is(pliers.enqueue_job('t62.mail', '{"to": "y"}', 'mail-1'), (SELECT id FROM ids WHERE name = 'a1'),
    'the same idempotency key returns the same job');
SELECT is((SELECT count(*) FROM pliers.jobs WHERE kind = 't62.mail'), 1::bigint, 'and enqueues nothing more');
SELECT is((SELECT payload FROM pliers.jobs WHERE kind = 't62.mail'), '{"to": "x"}'::jsonb, 'the first payload stays');
SELECT is(
    pg_temp.errors_of($$SELECT pliers.enqueue_job('Bad', '[1]', '', NULL, 101)$$),
    ARRAY['idempotency_key invalid_length', 'kind invalid_format', 'max_attempts out_of_range', 'payload invalid_type'],
    'enqueue_job reports every error at once (PL001)'
);
SELECT throws_ok($$SELECT pliers.enqueue_job('pliers.webhook', '{}')$$, 'PL001', NULL, 'pliers.* kinds are reserved');
SELECT throws_ok($$SELECT pliers.retry_dead_job((SELECT id FROM ids WHERE name = 'a1'))$$, 'PL004', NULL,
    'only a dead job can be retried');
SELECT throws_ok($$SELECT pliers.get_job(gen_random_uuid())$$, 'PL002', NULL, 'an unknown job is not found');

SELECT pliers.set_context('62000000-0000-0000-0000-00000000000a', '62000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers.enqueue_job('t62.mail', '{}')$$, 'PL006', NULL, 'a member may not enqueue');

SELECT pliers.set_context('62000000-0000-0000-0000-00000000000b', '62000002-0000-0000-0000-000000000001');
SELECT is((SELECT count(*) FROM pliers.jobs WHERE kind = 't62.mail'), 0::bigint, 'another tenant sees no job of A');
SELECT throws_ok($$SELECT pliers.get_job((SELECT id FROM ids WHERE name = 'a1'))$$, 'PL002', NULL,
    'nor gets it');
SELECT isnt(pliers.enqueue_job('t62.mail', '{}', 'mail-1'), (SELECT id FROM ids WHERE name = 'a1'),
    'the same key in another tenant is another job');
RESET ROLE;

-- Workers, as pliers_worker ---------------------------------------------------------------

SET LOCAL ROLE pliers_worker;
SELECT throws_ok('SELECT count(*) FROM pliers.jobs', '42501', NULL, 'pliers_worker reads no job directly');

CREATE TEMP TABLE claimed AS SELECT * FROM pliers.claim_jobs('w1', 10, '5 minutes', ARRAY['t62.mail']);
SELECT is((SELECT count(*) FROM claimed), 2::bigint, 'a claim takes the ready jobs of both tenants');
SELECT is((SELECT count(DISTINCT organization_id) FROM claimed), 2::bigint, 'one of each tenant');
SELECT ok((SELECT bool_and(status = 'running' AND attempts = 1 AND locked_by = 'w1') FROM claimed),
    'claimed: running, first attempt, leased to w1');
SELECT is((SELECT count(*) FROM pliers.claim_jobs('w2', 10, '5 minutes', ARRAY['t62.mail'])), 0::bigint,
    'a claimed job is not claimed again');

SELECT is(pliers.complete_job(c.organization_id, c.id, 'w2', 1), FALSE, 'another worker''s complete is refused')
FROM claimed AS c WHERE c.organization_id = '62000000-0000-0000-0000-00000000000a';
SELECT is(pliers.complete_job(c.organization_id, c.id, 'w1', 1), TRUE, 'the lease holder completes')
FROM claimed AS c WHERE c.organization_id = '62000000-0000-0000-0000-00000000000a';
SELECT is(pliers.fail_job(c.organization_id, c.id, 'w1', 1, 'boom'), 'queued', 'a failed attempt is queued again')
FROM claimed AS c WHERE c.organization_id = '62000000-0000-0000-0000-00000000000b';
RESET ROLE;

SELECT ok(
    (SELECT run_at > now() AND run_at <= now() + interval '2 seconds' AND last_error = 'boom' AND locked_by IS NULL
     FROM pliers.jobs WHERE organization_id = '62000000-0000-0000-0000-00000000000b' AND kind = 't62.mail'),
    'after the first failure: retried within base_seconds (2 s, jittered to 1-2 s)'
);
SELECT is(
    (SELECT status FROM pliers.jobs WHERE id = (SELECT id FROM ids WHERE name = 'a1')), 'done', 'the completed job is done'
);

-- The last attempt: dead.
UPDATE pliers.jobs SET run_at = now(), attempts = max_attempts - 1
WHERE organization_id = '62000000-0000-0000-0000-00000000000b' AND kind = 't62.mail';
SET LOCAL ROLE pliers_worker;
SELECT is(pliers.fail_job(c.organization_id, c.id, 'w1', c.attempts, 'again'), 'dead', 'the last attempt fails: dead')
FROM pliers.claim_jobs('w1', 10, '5 minutes', ARRAY['t62.mail']) AS c;
RESET ROLE;
SELECT is(
    (SELECT finished_at IS NOT NULL FROM pliers.jobs WHERE organization_id = '62000000-0000-0000-0000-00000000000b'
     AND kind = 't62.mail'), TRUE, 'a dead job is finished'
);

-- An expired lease: queued again, the old holder refused.
INSERT INTO pliers.jobs (organization_id, id, kind, status, attempts, locked_by, locked_until, started_at) VALUES
('62000000-0000-0000-0000-00000000000a', '62000009-0000-0000-0000-000000000001', 't62.lease', 'running', 1, 'gone',
 now() - interval '1 second', now() - interval '1 minute');
SET LOCAL ROLE pliers_worker;
SELECT is(
    (SELECT attempts || ' ' || locked_by FROM pliers.claim_jobs('w3', 10, '1 minute', ARRAY['t62.lease'])), '2 w3',
    'an expired lease is claimed again by another worker, a second attempt'
);
SELECT is(
    pliers.complete_job('62000000-0000-0000-0000-00000000000a', '62000009-0000-0000-0000-000000000001', 'gone', 1),
    FALSE, 'the worker whose lease expired is refused'
);
SELECT isnt(
    pliers.extend_job_lease('62000000-0000-0000-0000-00000000000a', '62000009-0000-0000-0000-000000000001', 'w3', 2,
        '10 minutes'),
    NULL, 'the holder extends its lease'
);
SELECT is(
    pliers.release_job('62000000-0000-0000-0000-00000000000a', '62000009-0000-0000-0000-000000000001', 'w3', 2),
    TRUE, 'a stopping worker releases its job'
);
RESET ROLE;
SELECT is(
    (SELECT status || ' ' || attempts FROM pliers.jobs WHERE id = '62000009-0000-0000-0000-000000000001'), 'queued 1',
    'released: queued, the attempt not counted'
);

-- A lease that expires on the last attempt: dead.
UPDATE pliers.jobs SET status = 'running', attempts = max_attempts, locked_by = 'gone',
    locked_until = now() - interval '1 second'
WHERE id = '62000009-0000-0000-0000-000000000001';
SET LOCAL ROLE pliers_worker;
SELECT is((SELECT count(*) FROM pliers.claim_jobs('w3', 10, '1 minute', ARRAY['t62.lease'])), 0::bigint,
    'a job whose last lease expired is not claimed');
RESET ROLE;
SELECT is((SELECT status FROM pliers.jobs WHERE id = '62000009-0000-0000-0000-000000000001'), 'dead', 'it is dead');

-- Arguments of the worker functions: PL009.
SET LOCAL ROLE pliers_worker;
SELECT throws_ok($$SELECT * FROM pliers.claim_jobs('w', 0)$$, 'PL009', NULL, 'a claim of no job is refused');
SELECT throws_ok($$SELECT * FROM pliers.claim_jobs('w', 10, '0 seconds')$$, 'PL009', NULL, 'a lease of 0 s is refused');
SELECT throws_ok($$SELECT * FROM pliers.claim_jobs('w', 10, '1 minute', '{}')$$, 'PL009', NULL,
    'an empty list of kinds is refused');
SELECT is((SELECT dead >= 2 FROM pliers.job_queue_status()), TRUE, 'the queue status counts the dead jobs');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
