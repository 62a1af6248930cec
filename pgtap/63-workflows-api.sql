-- The workflow API (sql/63-workflows-api.sql): the lifecycle, one active version per slug,
-- attached forms and the guards checked against them, the tenant's references at publish,
-- the webhook secret, privileges and SQLSTATEs. Data is seeded as superuser; every API
-- call runs as pliers_app after pliers.set_context.
BEGIN;
SELECT plan(39);

-- Data, as superuser ---------------------------------------------------------------------
-- Organization A: a1 org_owner, a2 viewer, a3 member; team reviewers; a claim form.
-- Organization B: b1 org_owner.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('63000000-0000-0000-0000-00000000000a', 't63-a', 'Workflows A'),
('63000000-0000-0000-0000-00000000000b', 't63-b', 'Workflows B');
INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('63000000-0000-0000-0000-00000000000a', '63000001-0000-0000-0000-000000000001', 'a1@t63.example', '{org_owner}'),
('63000000-0000-0000-0000-00000000000a', '63000001-0000-0000-0000-000000000002', 'a2@t63.example', '{viewer}'),
('63000000-0000-0000-0000-00000000000a', '63000001-0000-0000-0000-000000000003', 'a3@t63.example', '{member}'),
('63000000-0000-0000-0000-00000000000b', '63000002-0000-0000-0000-000000000001', 'b1@t63.example', '{org_owner}');
INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('63000000-0000-0000-0000-00000000000a', '63000003-0000-0000-0000-000000000001', 'Reviewers', 'reviewers');
INSERT INTO pliers.forms (organization_id, id, name, slug, definition) VALUES
('63000000-0000-0000-0000-00000000000a', '63000004-0000-0000-0000-000000000001', 'Claim', 'claim',
    '{"fields": [{"name": "amount", "type": "number", "label": "Amount"}]}'),
('63000000-0000-0000-0000-00000000000a', '63000004-0000-0000-0000-000000000002', 'Note', 'note',
    '{"fields": [{"name": "text", "type": "text", "label": "Text"}]}'),
('63000000-0000-0000-0000-00000000000b', '63000004-0000-0000-0000-0000000000b1', 'Claim', 'claim',
    '{"fields": [{"name": "amount", "type": "number", "label": "Amount"}]}');

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

CREATE FUNCTION pg_temp.errors_of(p_statement text)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT array_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY n)
    FROM jsonb_array_elements(pg_temp.detail_of(p_statement) -> 'errors') WITH ORDINALITY AS x (e, n)
$$;

GRANT EXECUTE ON FUNCTION pg_temp.detail_of(text), pg_temp.errors_of(text) TO pliers_app;

-- The catalog ---------------------------------------------------------------------------------

SELECT has_table('pliers', 'workflow_secrets', 'table pliers.workflow_secrets');
SELECT ok(
    NOT has_table_privilege('pliers_app', 'pliers.workflow_secrets', 'SELECT, INSERT, UPDATE, DELETE')
    AND NOT has_table_privilege('pliers_readonly', 'pliers.workflow_secrets', 'SELECT'),
    'the secrets are the owner''s alone'
);
SELECT ok(
    has_table_privilege('pliers_app', 'pliers.workflows', 'SELECT')
    AND NOT has_table_privilege('pliers_app', 'pliers.workflows', 'INSERT, UPDATE, DELETE')
    AND NOT has_table_privilege('pliers_app', 'pliers.workflow_forms', 'INSERT, UPDATE, DELETE'),
    'the application reads workflows and writes them through the API only'
);
SELECT has_index('pliers', 'workflows', 'workflows_active_slug_key', 'one active version per slug: an index');
SELECT has_index('pliers', 'workflows', 'workflows_next_fire_at_idx', 'the schedule sweep''s index');

-- Without context, without permission ---------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT throws_ok($$SELECT pliers.create_workflow('x', 'X', '{}')$$, 'PL008', NULL,
    'create_workflow without a context: PL008');
SELECT throws_ok($$SELECT pliers.list_workflows()$$, 'PL008', NULL, 'list_workflows without a context: PL008');

SELECT pliers.set_context('63000000-0000-0000-0000-00000000000a', '63000001-0000-0000-0000-000000000002');
SELECT throws_ok(
    $$SELECT pliers.create_workflow('x', 'X', '{"initial": "a", "states": {"a": {"final": true}}}')$$,
    'PL006', NULL, 'a viewer may not create a workflow (workflow.manage): PL006'
);

-- create, update, publish -----------------------------------------------------------------------

SELECT pliers.set_context('63000000-0000-0000-0000-00000000000a', '63000001-0000-0000-0000-000000000001');
CREATE TEMPORARY TABLE ids (name text PRIMARY KEY, id uuid);
INSERT INTO ids SELECT 'review', w.id FROM pliers.create_workflow('review', 'Review', '{
  "initial": "submitted",
  "states": {
    "submitted": {"on": {"start_review": {"target": "in_review", "actions": [{"type": "assign", "team": "reviewers"}]}},
      "timeout": {"after": "P3D", "event": "start_review"}},
    "in_review": {"on": {"approve": {"target": "approved", "guard": {"expression": {"<=": [{"var": "answers.amount"}, 1000]}}},
                         "reject": {"target": "rejected"}}},
    "approved": {"final": true}, "rejected": {"final": true}}}', 'form_submission') AS w;
SELECT is(
    (SELECT row(w.status, w.version, w.revision, w.is_active, w.trigger_type)::text
     FROM pliers.workflows AS w WHERE w.id = (SELECT id FROM ids WHERE name = 'review')),
    '(draft,1.0.0,1,f,form_submission)', 'create_workflow: a draft 1.0.0'
);
SELECT throws_ok(
    $$SELECT pliers.create_workflow('review', 'Again', '{"initial": "a", "states": {"a": {"final": true}}}')$$,
    'PL003', NULL, 'a live slug is taken: PL003'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers.create_workflow('Bad Slug', NULL, '{"initial": "a", "states": {}}', 'schedule', '{}')$$),
    ARRAY['name required', 'slug invalid_slug', '$.trigger_config.cron required', '$.states required',
        '$.initial unknown_state'],
    'create_workflow reports every error at once'
);
SELECT throws_ok(
    $$SELECT pliers.update_workflow((SELECT id FROM ids WHERE name = 'review'), 7, p_name => 'X')$$,
    'PL003', NULL, 'update_workflow with a stale revision: PL003'
);
SELECT throws_ok(
    $$SELECT pliers.update_workflow((SELECT id FROM ids WHERE name = 'review'), NULL, p_name => 'X')$$,
    'PL001', NULL, 'update_workflow without a revision: PL001'
);
SELECT is(
    (SELECT w.revision FROM pliers.update_workflow((SELECT id FROM ids WHERE name = 'review'), 1, p_tags => '{claims}') AS w),
    2, 'update_workflow bumps the revision'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers.publish_workflow((SELECT id FROM ids WHERE name = 'review'))$$),
    ARRAY['$.states.in_review.on.approve.guard.expression invalid_reference'],
    'a guard on answers needs an attached form before publishing'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers.attach_workflow_form((SELECT id FROM ids WHERE name = 'review'),
        '63000004-0000-0000-0000-000000000002')$$),
    ARRAY['$.states.in_review.on.approve.guard.expression."<="[0].var invalid_reference'],
    'attaching a form whose fields the guards do not find: refused'
);
SELECT throws_ok(
    $$SELECT pliers.attach_workflow_form((SELECT id FROM ids WHERE name = 'review'), '63000004-0000-0000-0000-0000000000b1')$$,
    'PL002', NULL, 'another tenant''s form: PL002'
);
SELECT lives_ok(
    $$SELECT pliers.attach_workflow_form((SELECT id FROM ids WHERE name = 'review'), '63000004-0000-0000-0000-000000000001')$$,
    'a form whose fields fit the guards is attached'
);
SELECT is(
    (SELECT row(w.status, w.version, w.published_at IS NOT NULL)::text
     FROM pliers.publish_workflow((SELECT id FROM ids WHERE name = 'review'), '1.0.0') AS w),
    '(published,1.0.0,t)', 'publish_workflow'
);
SELECT throws_ok(
    $$SELECT pliers.update_workflow((SELECT id FROM ids WHERE name = 'review'), 4, p_name => 'X')$$,
    'PL005', NULL, 'a published version is immutable: PL005'
);
SELECT throws_ok(
    $$SELECT pliers.publish_workflow((SELECT id FROM ids WHERE name = 'review'), '2.0.0')$$,
    'PL004', NULL, 'publishing twice: PL004'
);

-- Versions and activation ---------------------------------------------------------------------------

SELECT is(
    (SELECT w.is_active FROM pliers.activate_workflow((SELECT id FROM ids WHERE name = 'review')) AS w),
    TRUE, 'activate_workflow'
);
INSERT INTO ids SELECT 'review2', w.id FROM pliers.create_workflow_version((SELECT id FROM ids WHERE name = 'review')) AS w;
SELECT is(
    (SELECT row(w.status, w.version, w.is_active)::text FROM pliers.workflows AS w
     WHERE w.id = (SELECT id FROM ids WHERE name = 'review2')),
    '(draft,1.0.1,f)', 'create_workflow_version: a draft after the highest version'
);
SELECT throws_ok(
    $$SELECT pliers.create_workflow_version((SELECT id FROM ids WHERE name = 'review'))$$,
    'PL003', NULL, 'one draft per slug: PL003'
);
SELECT throws_ok(
    $$SELECT pliers.activate_workflow((SELECT id FROM ids WHERE name = 'review2'))$$,
    'PL004', NULL, 'a draft is not activated: PL004'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers.publish_workflow((SELECT id FROM ids WHERE name = 'review2'), '1.0.0')$$),
    ARRAY['version version_not_greater'], 'versions only grow'
);
SELECT lives_ok(
    $$SELECT pliers.publish_workflow((SELECT id FROM ids WHERE name = 'review2'), '1.1.0')$$, 'the next version is published'
);
SELECT lives_ok(
    $$SELECT pliers.activate_workflow((SELECT id FROM ids WHERE name = 'review2'))$$, 'the next version is activated'
);
SELECT is(
    (SELECT array_agg(w.version::text ORDER BY w.version) FROM pliers.list_workflows(p_slug => 'review', p_active => TRUE) AS w),
    ARRAY['1.1.0'], 'activating a version deactivates the other one of its slug'
);
SELECT is(
    (SELECT array_agg(e.event_type::text ORDER BY e.aggregate_version) FROM pliers.events AS e
     WHERE e.aggregate_type = 'workflow' AND e.aggregate_id = (SELECT id FROM ids WHERE name = 'review')),
    ARRAY['workflow.created', 'workflow.updated', 'workflow.form_attached', 'workflow.published',
        'workflow.activated', 'workflow.deactivated'],
    'every change appends an event, aggregate_version = revision'
);
SELECT is(
    (SELECT row(w.status, w.is_active)::text FROM pliers.deprecate_workflow((SELECT id FROM ids WHERE name = 'review2')) AS w),
    '(deprecated,f)', 'deprecate_workflow deactivates'
);
SELECT throws_ok(
    $$SELECT pliers.deprecate_workflow((SELECT id FROM ids WHERE name = 'review2'))$$,
    'PL004', NULL, 'deprecated twice: PL004'
);

-- References checked at publish; schedules; secrets ---------------------------------------------------

INSERT INTO ids SELECT 'refs', w.id FROM pliers.create_workflow('refs', 'Refs', '{"initial": "a", "states": {
    "a": {"on": {"go": {"target": "b"}}, "onEntry": [{"type": "assign", "team": "ghosts"},
        {"type": "notify", "to": {"user": "63000002-0000-0000-0000-000000000001"}, "title": "Hi"},
        {"type": "start_workflow", "workflow": "review"}]},
    "b": {"final": true}}}') AS w;
SELECT is(
    pg_temp.errors_of($$SELECT pliers.publish_workflow((SELECT id FROM ids WHERE name = 'refs'))$$),
    ARRAY['$.states.a.onEntry[0].team unknown_team', '$.states.a.onEntry[1].to.user unknown_user'],
    'publish checks teams and users in the tenant (another tenant''s user is unknown)'
);
INSERT INTO ids SELECT 'nightly', w.id FROM pliers.create_workflow('nightly', 'Nightly',
    '{"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}}, "b": {"final": true}}}',
    'schedule', '{"cron": "0 2 * * *"}') AS w;
SELECT lives_ok($$SELECT pliers.publish_workflow((SELECT id FROM ids WHERE name = 'nightly'))$$, 'a schedule is published');
SELECT ok(
    (SELECT w.next_fire_at > now() AND w.next_fire_at <= now() + interval '1 day'
        AND to_char(w.next_fire_at AT TIME ZONE 'UTC', 'HH24:MI') = '02:00'
     FROM pliers.activate_workflow((SELECT id FROM ids WHERE name = 'nightly')) AS w),
    'activating a schedule sets next_fire_at: the next 02:00 UTC'
);
SELECT throws_ok(
    $$SELECT pliers.rotate_workflow_secret((SELECT id FROM ids WHERE name = 'nightly'))$$,
    'PL001', NULL, 'only a webhook workflow has a secret'
);
INSERT INTO ids SELECT 'hook', w.id FROM pliers.create_workflow('hook', 'Hook',
    '{"initial": "a", "states": {"a": {"on": {"go": {"target": "b"}}}, "b": {"final": true}}}', 'webhook') AS w;
SELECT ok(
    (SELECT pliers.rotate_workflow_secret((SELECT id FROM ids WHERE name = 'hook'))) ~ '^wfs_[0-9a-f]{64}$',
    'rotate_workflow_secret returns wfs_ and 64 hex digits'
);

-- Another tenant ------------------------------------------------------------------------------------------

SELECT pliers.set_context('63000000-0000-0000-0000-00000000000b', '63000002-0000-0000-0000-000000000001');
SELECT throws_ok(
    $$SELECT pliers.get_workflow((SELECT id FROM ids WHERE name = 'review'))$$,
    'PL002', NULL, 'another tenant''s workflow: PL002'
);
SELECT is((SELECT count(*)::integer FROM pliers.list_workflows()), 0, 'another tenant lists none of them');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
