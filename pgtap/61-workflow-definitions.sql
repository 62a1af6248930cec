-- Workflow definitions (sql/61-workflow-definitions.sql): the validator's codes and paths,
-- its limits, durations, cron expressions and their next fire times, trigger and retry
-- configuration. Pure functions, called as the superuser; validate_workflow_definition
-- also as pliers_app (it is granted).
BEGIN;
SELECT plan(38);

-- The (path, code) pairs of a definition's errors, in order.
CREATE FUNCTION pg_temp.codes(p_definition jsonb)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT coalesce(array_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY n), '{}')
    FROM jsonb_array_elements(pliers.validate_workflow_definition(p_definition)) WITH ORDINALITY AS x (e, n)
$$;

-- A valid definition: the issue's review workflow.
CREATE TEMPORARY TABLE review AS SELECT '{
  "initial": "submitted",
  "states": {
    "submitted": {"label": "Submitted",
      "on": {"start_review": {"target": "in_review", "actions": [{"type": "assign", "team": "reviewers"}]}},
      "timeout": {"after": "P3D", "event": "start_review"}},
    "in_review": {"onEntry": [{"type": "set_status", "status": "processing"}], "sla": {"after": "PT48H"},
      "on": {"approve": {"target": "approved", "guard": {
                "expression": {"<=": [{"var": "answers.amount"}, 1000]},
                "permission": "submission.update", "roles": ["submission_reviewer"]}},
             "reject": {"target": "rejected"}},
      "timeout": {"after": "P7D", "event": "reject"}},
    "approved": {"final": true, "onEntry": [{"type": "set_status", "status": "approved"},
      {"type": "notify", "to": "submitter", "title": "Your claim was approved"},
      {"type": "webhook", "event": "review.approved"}, {"type": "job", "kind": "crm.sync", "payload": {"a": 1}},
      {"type": "start_workflow", "workflow": "payout"}]},
    "rejected": {"final": true, "onEntry": [{"type": "set_status", "status": "rejected"}]}
  }}'::jsonb AS d;
GRANT SELECT ON review TO pliers_app;

SELECT is(pliers.validate_workflow_definition((SELECT d FROM review)), '[]', 'the review workflow is valid');
SELECT is(pg_temp.codes('[]'), ARRAY['$ invalid_type'], 'a definition is an object');
SELECT is(pg_temp.codes('{}'), ARRAY['$.states required'], 'states are required');
SELECT is(pg_temp.codes('{"states": {}}'), ARRAY['$.states required', '$.initial required'],
    'at least one state and an initial one');
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"final": true}}, "version": 2}'),
    ARRAY['$.version unknown_key'], 'unknown keys are named'
);
SELECT is(
    pg_temp.codes('{"initial": "zz", "states": {"a": {"final": true}}}'),
    ARRAY['$.initial unknown_state'], 'the initial state exists'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}}, "b": {"on": {"back": {"target": "a"}}}}}'),
    ARRAY['$.states no_final_state'], 'a definition has a final state'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "nowhere"}}}, "b": {"final": true}}}'),
    ARRAY['$.states.a.on.go.target unknown_state', '$.states.b unreachable_state'],
    'unknown targets, unreachable states'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}}, "b": {}, "c": {"final": true}}}'),
    ARRAY['$.states.b dead_end', '$.states.c unreachable_state'], 'a state that is not final needs an exit'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"final": true, "on": {"x": {"target": "a"}}, "timeout": {"after": "P1D", "event": "x"}, "onExit": []}}}'),
    ARRAY['$.states.a.on final_has_exits', '$.states.a.timeout final_has_exits', '$.states.a.onExit final_has_exits'],
    'a final state has no exits'
);
SELECT is(
    pg_temp.codes('{"initial": "A-1", "states": {"A-1": {"on": {"Go!": {"target": "b"}}}, "b": {"final": true}}}'),
    ARRAY['$.states."A-1" invalid_name', '$.states."A-1".on."Go!" invalid_name'],
    'state and event names are identifiers; others are quoted in paths'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}, "timeout": {"after": "PT30S", "event": "stop"}, "sla": {"after": "P2Y"}}, "b": {"final": true}}}'),
    ARRAY['$.states.a.timeout.after invalid_duration', '$.states.a.timeout.event unknown_event',
        '$.states.a.sla.after invalid_duration'],
    'durations from a minute to 366 days; a timeout fires an event of its state'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}, "onEntry": [
        {"type": "set_status", "status": "paid"}, {"type": "assign", "user": "x", "team": "t"},
        {"type": "notify", "to": "everyone", "title": ""}, {"type": "job", "kind": "pliers.webhook"},
        {"type": "webhook", "event": "Nope"}, {"type": "start_workflow"}, {"type": "teleport"}, 3]},
        "b": {"final": true}}}'),
    ARRAY['$.states.a.onEntry[0].status invalid_status', '$.states.a.onEntry[1] invalid_action',
        '$.states.a.onEntry[2].to invalid_action', '$.states.a.onEntry[2].title invalid_action',
        '$.states.a.onEntry[3].kind invalid_action', '$.states.a.onEntry[4].event invalid_action',
        '$.states.a.onEntry[5].workflow required', '$.states.a.onEntry[6].type invalid_action',
        '$.states.a.onEntry[7] invalid_type'],
    'each action is checked, with its path'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b", "guard": {
        "expression": {"+": [{"var": "submission.status"}, 1]}, "permission": "form.fly", "roles": ["king"], "when": 1}}}},
        "b": {"final": true}}}'),
    ARRAY['$.states.a.on.go.guard.when unknown_key', '$.states.a.on.go.guard.permission unknown_permission',
        '$.states.a.on.go.guard.roles[0] unknown_role', '$.states.a.on.go.guard.expression."+"[0] type_mismatch',
        '$.states.a.on.go.guard.expression type_mismatch'],
    'guards: permissions and roles of the catalogue, typed boolean expressions'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b", "guard": {
        "expression": {"==": [{"var": "answers"}, 1]}}}}}, "b": {"final": true}}}'),
    ARRAY['$.states.a.on.go.guard.expression."=="[0].var invalid_reference'],
    'a guard reads answers.<field>, submission.status and submission.priority only'
);
SELECT is(
    pg_temp.codes('{"initial": "a", "states": {"a": {"on": {"go": {"target": "b", "guard": {}}}}, "b": {"final": true}}}'),
    ARRAY['$.states.a.on.go.guard invalid_type'], 'an empty guard is refused'
);

-- Limits: PL001 at once.
SELECT throws_ok(
    $$SELECT pliers.validate_workflow_definition(jsonb_build_object('initial', 's1', 'states',
        (SELECT jsonb_object_agg('s' || i, '{"final": true}'::jsonb) FROM generate_series(1, 201) AS i)))$$,
    'PL001', NULL, 'more than 200 states: PL001'
);
SELECT throws_ok(
    $$SELECT pliers.validate_workflow_definition(jsonb_build_object('initial', 'a', 'states', jsonb_build_object(
        'a', jsonb_build_object('on', '{"go": {"target": "b"}}'::jsonb,
            'onEntry', (SELECT jsonb_agg('{"type": "set_status", "status": "draft"}'::jsonb) FROM generate_series(1, 21))),
        'b', '{"final": true}'::jsonb)))$$,
    'PL001', NULL, 'more than 20 actions: PL001'
);
SELECT throws_ok(
    $$SELECT pliers.validate_workflow_definition(jsonb_build_object('initial', 'a', 'states', '{}'::jsonb,
        'description', repeat('x', 300000)))$$,
    'PL001', NULL, 'more than 256 KiB: PL001'
);
SELECT throws_ok(
    $$SELECT pliers.validate_workflow_definition(jsonb_build_object('initial', 'a', 'states', '{}'::jsonb,
        'metadata', (SELECT repeat('{"x": ', 40) || '1' || repeat('}', 40))::jsonb))$$,
    'PL001', NULL, 'nested more than 32 deep: PL001'
);

-- Durations.
SELECT is(pliers._workflow_duration('"P3D"'), interval '3 days', 'P3D');
SELECT is(pliers._workflow_duration('"P1DT12H30M"'), interval '1 day 12:30', 'P1DT12H30M');
SELECT is(pliers._workflow_duration('"PT1M"'), interval '1 minute', 'one minute is the least');
SELECT ok(pliers._workflow_duration('"PT59S"') IS NULL AND pliers._workflow_duration('"P367D"') IS NULL
    AND pliers._workflow_duration('"PT"') IS NULL AND pliers._workflow_duration('"3 days"') IS NULL
    AND pliers._workflow_duration('3') IS NULL, 'out of range or not ISO 8601: NULL');

-- Cron.
SELECT is(pliers._cron_next('0 2 * * *', 'UTC', '2026-12-08 03:00Z'), '2026-12-09 02:00Z'::timestamptz,
    'daily at 02:00 UTC');
SELECT is(pliers._cron_next('*/15 9-17 * * MON-FRI', 'Europe/Paris', '2026-12-12 10:00Z'),
    '2026-12-14 08:00Z'::timestamptz, 'weekdays every quarter hour, Paris time, after a Saturday');
SELECT is(pliers._cron_next('0 0 29 2 *', 'UTC', '2026-12-08Z'), '2028-02-29 00:00Z'::timestamptz,
    '29 February: the next leap year');
SELECT is(pliers._cron_next('0 0 1 * 1', 'UTC', '2026-12-08Z'), '2026-12-14 00:00Z'::timestamptz,
    'both day fields restricted: either matches');
SELECT is(pliers._cron_next('30 2 * * *', 'Europe/Paris', '2027-03-27 12:00Z'), '2027-03-28 01:30Z'::timestamptz,
    'a local time skipped by a DST change fires right after it');
SELECT is(pliers._cron_next('30 1 * * *', 'America/New_York', '2026-11-01 05:00Z'),
    '2026-11-01 06:30Z'::timestamptz, 'a local time repeated by a DST change fires after the instant given');
SELECT ok(pliers._cron_next('0 0 31 2 *', 'UTC', now()) IS NULL AND pliers._cron_next('60 * * * *', 'UTC', now()) IS NULL
    AND pliers._cron_next('* * *', 'UTC', now()) IS NULL AND pliers._cron_next('1,,2 * * * *', 'UTC', now()) IS NULL,
    'never, out of range, too few fields, an empty item: NULL');
SELECT is(pliers._cron_next('0 12 * * SUN', 'UTC', '2026-12-08Z'), pliers._cron_next('0 12 * * 7', 'UTC', '2026-12-08Z'),
    '7 is Sunday too');

-- Trigger and retry configuration.
SELECT is(pliers._check_workflow_trigger('manual', '{}'), '[]', 'manual: {}');
SELECT is(pliers._check_workflow_trigger('schedule', '{"cron": "0 2 * * *", "timezone": "Europe/Paris"}'), '[]',
    'schedule: cron and time zone');
SELECT is(
    (SELECT array_agg(e ->> 'code' ORDER BY n) FROM jsonb_array_elements(
        pliers._check_workflow_trigger('schedule', '{"cron": "0 24 * * *", "timezone": "Mars/Base"}')
    ) WITH ORDINALITY AS x (e, n)),
    ARRAY['invalid_cron', 'unknown_timezone'], 'schedule: a bad cron, an unknown time zone'
);
SELECT is(
    (SELECT array_agg(e ->> 'path' ORDER BY n) FROM jsonb_array_elements(
        pliers._check_workflow_trigger('event', '{"event_type": "execution.completed"}')
    ) WITH ORDINALITY AS x (e, n)),
    ARRAY['$.trigger_config.event_type'], 'event: never execution.* or workflow.* events'
);
SELECT is(
    (SELECT array_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY n) FROM jsonb_array_elements(
        pliers._check_workflow_retry_config('{"max_attempts": 2.5, "base_seconds": 100, "max_seconds": 10, "x": 1}')
    ) WITH ORDINALITY AS x (e, n)),
    ARRAY['$.retry_config.x unknown_key', '$.retry_config.max_attempts out_of_range',
        '$.retry_config.max_seconds out_of_range'],
    'retry_config: integers in range, max_seconds >= base_seconds'
);

SET LOCAL ROLE pliers_app;
SELECT is(pliers.validate_workflow_definition((SELECT d FROM review)), '[]', 'pliers_app may validate');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
