-- The workflow engine (sql/64-workflow-executions.sql): the columns and privileges,
-- transitions (allowed events, expected state, guards, actions), timeouts fired by the
-- worker's sweep, cancel and fail, tenants. Data is seeded as superuser (a published
-- form, submissions, an active workflow version); every API call runs as pliers_app
-- after pliers.set_context, the sweep as pliers_worker.
BEGIN;
SELECT plan(36);

-- Data, as superuser ---------------------------------------------------------------------
INSERT INTO pliers.organizations (id, slug, name) VALUES
('64000000-0000-0000-0000-00000000000a', 't64-a', 'Engine A'),
('64000000-0000-0000-0000-00000000000b', 't64-b', 'Engine B');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('64000000-0000-0000-0000-00000000000a', '64000001-0000-0000-0000-000000000001', 'a1@t64.example', '{org_admin}'),
('64000000-0000-0000-0000-00000000000a', '64000001-0000-0000-0000-000000000002', 'a2@t64.example', '{member}'),
('64000000-0000-0000-0000-00000000000b', '64000002-0000-0000-0000-000000000001', 'b1@t64.example', '{org_owner}');

INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('64000000-0000-0000-0000-00000000000a', '64000003-0000-0000-0000-000000000001', 'Reviewers', 'reviewers');

INSERT INTO pliers.forms (organization_id, id, name, slug, definition, status, published_at, visibility) VALUES
('64000000-0000-0000-0000-00000000000a', '64000004-0000-0000-0000-000000000001', 'Claims', 't64-claims',
 '{"fields": [{"type": "number", "name": "amount"}]}', 'published', now(), 'organization');

INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number, status, data, submitted_by, submitted_at) VALUES
('64000000-0000-0000-0000-00000000000a', '64000005-0000-0000-0000-000000000001',
 '64000004-0000-0000-0000-000000000001', 'S-640001', 'submitted', '{"amount": 300}',
 '64000001-0000-0000-0000-000000000002', now()),
('64000000-0000-0000-0000-00000000000a', '64000005-0000-0000-0000-000000000002',
 '64000004-0000-0000-0000-000000000001', 'S-640002', 'submitted', '{"amount": 5000}',
 '64000001-0000-0000-0000-000000000002', now());

INSERT INTO pliers.workflows (
    organization_id, id, name, slug, type, trigger_type, status, is_active, definition
) VALUES (
    '64000000-0000-0000-0000-00000000000a', '64000006-0000-0000-0000-000000000001', 'Review', 't64-review',
    'approval', 'manual', 'published', TRUE,
    '{"initial": "submitted", "states": {
        "submitted": {"on": {"start_review": {"target": "in_review",
                                              "actions": [{"type": "assign", "team": "reviewers"}]}}},
        "in_review": {"onEntry": [{"type": "set_status", "status": "processing"}],
                      "sla": {"after": "PT48H"},
                      "timeout": {"after": "P7D", "event": "reject"},
                      "on": {"approve": {"target": "approved",
                                         "guard": {"expression": {"<=": [{"var": "answers.amount"}, 1000]}}},
                             "reject": {"target": "rejected"}}},
        "approved": {"final": true, "onEntry": [{"type": "set_status", "status": "approved"},
                     {"type": "notify", "to": "submitter", "title": "Approved"}]},
        "rejected": {"final": true, "onEntry": [{"type": "set_status", "status": "rejected"}]}}}'
);

-- Started by an event: submission.assigned; its own action assigns again (no second run).
INSERT INTO pliers.workflows (
    organization_id, id, name, slug, type, trigger_type, trigger_config, status, is_active, definition
) VALUES (
    '64000000-0000-0000-0000-00000000000a', '64000006-0000-0000-0000-000000000002', 'On assign', 't64-on-assign',
    'notification', 'event', '{"event_type": "submission.assigned"}', 'published', TRUE,
    '{"initial": "seen", "states": {"seen": {"on": {"done": {"target": "end"}}}, "end": {"final": true}}}'
);

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

GRANT EXECUTE ON FUNCTION pg_temp.detail_of(text) TO pliers_app;

-- The catalog --------------------------------------------------------------------------------

SELECT has_column('pliers', 'workflow_executions', 'revision', 'executions have a revision');
SELECT has_column('pliers', 'workflow_executions', 'timeout_at', 'executions have timeout_at');
SELECT has_column('pliers', 'workflow_executions', 'sla_due_at', 'executions have sla_due_at');
SELECT has_column('pliers', 'workflow_executions', 'deadline_at', 'executions have deadline_at');
SELECT has_index('pliers', 'workflow_executions', 'workflow_executions_timeout_at_idx', 'the sweep has its index');
SELECT ok(
    has_table_privilege('pliers_app', 'pliers.workflow_executions', 'SELECT')
    AND NOT has_table_privilege('pliers_app', 'pliers.workflow_executions', 'INSERT, UPDATE, DELETE')
    AND NOT has_table_privilege('pliers_app', 'pliers.workflow_counters', 'INSERT, UPDATE, DELETE'),
    'pliers_app reads executions and changes them through the API only'
);
SELECT ok(
    has_function_privilege('pliers_worker', 'pliers.fire_workflow_timeouts(integer)', 'EXECUTE')
    AND has_function_privilege('pliers_worker', 'pliers.fire_workflow_schedules(integer)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers.fire_workflow_timeouts(integer)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers.fire_workflow_schedules(integer)', 'EXECUTE'),
    'the sweeps are the worker''s, not the application''s'
);
SELECT ok(
    NOT has_function_privilege('pliers_app', 'pliers._start_execution(uuid, pliers.workflows, uuid, jsonb, text, uuid, uuid, integer)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._transition_execution(uuid, pliers.workflow_executions, text, jsonb, boolean)', 'EXECUTE'),
    'the engine''s helpers are private'
);

-- Starting and moving, as the application -------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('64000000-0000-0000-0000-00000000000a', '64000001-0000-0000-0000-000000000001');

CREATE TEMPORARY TABLE runs AS
SELECT 'small'::text AS name, e.id FROM pliers.start_workflow_execution('t64-review', '64000005-0000-0000-0000-000000000001') AS e
UNION ALL
SELECT 'large', e.id FROM pliers.start_workflow_execution('t64-review', '64000005-0000-0000-0000-000000000002') AS e;

SELECT is(
    (SELECT array_agg(e.current_state || '/' || e.status || '/' || e.revision ORDER BY r.name)
     FROM pliers.workflow_executions AS e INNER JOIN runs AS r ON e.id = r.id),
    ARRAY['submitted/running/1', 'submitted/running/1'],
    'a run starts in the initial state, running, at revision 1'
);
SELECT is(
    (SELECT workflow_state FROM pliers.submissions WHERE id = '64000005-0000-0000-0000-000000000001'),
    'submitted', 'the submission''s workflow_state follows the run'
);

SELECT throws_ok(
    format('SELECT pliers.transition_workflow_execution(%L, %L)', (SELECT id FROM runs WHERE name = 'small'), 'approve'),
    'PL004', NULL, 'an event the current state does not have is refused'
);
SELECT is(
    pg_temp.detail_of(format('SELECT pliers.transition_workflow_execution(%L, %L)', (SELECT id FROM runs WHERE name = 'small'), 'approve'))
        - 'id',
    '{"object": "workflow_execution", "from": "submitted", "event": "approve", "allowed": ["start_review"]}'::jsonb,
    'its DETAIL names the allowed events'
);
SELECT throws_ok(
    format('SELECT pliers.transition_workflow_execution(%L, %L, %L, %L)', (SELECT id FROM runs WHERE name = 'small'),
           'start_review', '{}', 'in_review'),
    'PL003', NULL, 'a stale expected state is a conflict'
);
SELECT throws_ok(
    format('SELECT pliers.transition_workflow_execution(%L, %L, %L)', (SELECT id FROM runs WHERE name = 'small'),
           'start_review', '[1]'),
    'PL001', NULL, 'a payload is a JSON object'
);

SELECT is(
    (SELECT e.current_state || '/' || e.previous_state || '/' || e.revision
     FROM pliers.transition_workflow_execution((SELECT id FROM runs WHERE name = 'small'), 'start_review', '{}', 'submitted') AS e),
    'in_review/submitted/2', 'a transition moves the run'
);
SELECT is(
    (SELECT status::text || '/' || assigned_team_id::text FROM pliers.submissions WHERE id = '64000005-0000-0000-0000-000000000001'),
    'processing/64000003-0000-0000-0000-000000000001',
    'the transition''s assign and the target''s set_status ran'
);
SELECT ok(
    (SELECT timeout_at > now() + interval '6 days' AND sla_due_at > now() + interval '47 hours'
     FROM pliers.workflow_executions WHERE id = (SELECT id FROM runs WHERE name = 'small')),
    'entering a state sets its timeout and SLA'
);

SELECT lives_ok(
    format('SELECT pliers.transition_workflow_execution(%L, %L)', (SELECT id FROM runs WHERE name = 'large'), 'start_review'),
    'the other run moves too'
);
SELECT is(
    pg_temp.detail_of(format('SELECT pliers.transition_workflow_execution(%L, %L)', (SELECT id FROM runs WHERE name = 'large'), 'approve'))
        ->> 'reason',
    'guard_failed', 'a false guard expression is refused (PL004, reason guard_failed)'
);

SELECT is(
    (SELECT e.status::text || '/' || e.current_state || '/' || (e.duration_ms >= 0)::text
     FROM pliers.transition_workflow_execution((SELECT id FROM runs WHERE name = 'small'), 'approve') AS e),
    'completed/approved/true', 'a final state completes the run with its duration'
);
SELECT is(
    (SELECT status::text FROM pliers.submissions WHERE id = '64000005-0000-0000-0000-000000000001'),
    'approved', 'the final state''s set_status ran'
);
SELECT throws_ok(
    format('SELECT pliers.transition_workflow_execution(%L, %L)', (SELECT id FROM runs WHERE name = 'small'), 'reject'),
    'PL004', NULL, 'a completed run moves no more'
);

-- Another tenant sees nothing; a member may not move a run.
SELECT pliers.set_context('64000000-0000-0000-0000-00000000000b', '64000002-0000-0000-0000-000000000001');
SELECT throws_ok(
    format('SELECT pliers.get_workflow_execution(%L)', (SELECT id FROM runs WHERE name = 'large')),
    'PL002', NULL, 'another tenant''s run is not found'
);
SELECT is((SELECT count(*)::integer FROM pliers.workflow_executions), 0, 'row-level security hides the runs');
SELECT pliers.set_context('64000000-0000-0000-0000-00000000000a', '64000001-0000-0000-0000-000000000002');
SELECT throws_ok(
    format('SELECT pliers.cancel_workflow_execution(%L)', (SELECT id FROM runs WHERE name = 'large')),
    'PL006', NULL, 'the submitter sees the run but may not cancel it'
);
RESET ROLE;

-- Timeouts, by the worker ---------------------------------------------------------------------

UPDATE pliers.workflow_executions SET timeout_at = now() - interval '1 minute'
WHERE id = (SELECT id FROM runs WHERE name = 'large');

SET LOCAL ROLE pliers_worker;
SELECT is(pliers.fire_workflow_timeouts(10), 1, 'the sweep fires the due timeout');
SELECT is(pliers.fire_workflow_timeouts(10), 0, 'and only once');
SELECT throws_ok('SELECT pliers.fire_workflow_timeouts(0)', 'PL009', NULL, 'the sweep is bounded');
RESET ROLE;

SELECT is(
    (SELECT current_state || '/' || status::text FROM pliers.workflow_executions WHERE id = (SELECT id FROM runs WHERE name = 'large')),
    'rejected/completed', 'the timeout''s event moved the run'
);
SELECT is(
    (SELECT array_agg(event_type::text ORDER BY aggregate_version) FROM pliers.events
     WHERE aggregate_id = (SELECT id FROM runs WHERE name = 'large')),
    ARRAY['execution.started', 'execution.transitioned', 'execution.transitioned', 'execution.completed',
          'execution.timed_out'],
    'every step is an event, versions in order'
);

-- Triggers: an event, a webhook ------------------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('64000000-0000-0000-0000-00000000000a', '64000001-0000-0000-0000-000000000001');
SELECT lives_ok(
    $$SELECT pliers.assign_submission('64000005-0000-0000-0000-000000000002', '64000001-0000-0000-0000-000000000001')$$,
    'a user assigns a submission'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.workflow_executions
     WHERE workflow_id = '64000006-0000-0000-0000-000000000002' AND trigger_source = 'event'),
    1, 'its submission.assigned event started the event workflow, once'
);
SELECT throws_ok(
    $$SELECT pliers.trigger_workflow_webhook('64000000-0000-0000-0000-00000000000a',
        '64000006-0000-0000-0000-000000000001', 'not the secret')$$,
    'PL006', NULL, 'a webhook call without the secret of an active webhook workflow is refused'
);
RESET ROLE;
SET LOCAL ROLE pliers_worker;
SELECT throws_ok('SELECT pliers.fire_workflow_schedules(100000)', 'PL009', NULL, 'the schedule sweep is bounded');
RESET ROLE;

-- Cancel and fail -------------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('64000000-0000-0000-0000-00000000000a', '64000001-0000-0000-0000-000000000001');
SELECT is(
    (SELECT e.status::text FROM pliers.cancel_workflow_execution(
        (SELECT id FROM pliers.start_workflow_execution('t64-review')), 'test') AS e),
    'cancelled', 'a run is cancelled'
);
SELECT throws_ok(
    format('SELECT pliers.fail_workflow_execution(%L, %L)',
           (SELECT id FROM pliers.start_workflow_execution('t64-review')), '"boom"'),
    'PL001', NULL, 'a failure''s error is a JSON object'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
