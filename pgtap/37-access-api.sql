-- The access API (sql/37-access-api.sql): teams and members (the last team owner is
-- kept), role assignments (no escalation, org_owner not assignable, expiry), form
-- collaborators (a flag only from who holds its permission), effective permissions
-- with their reasons; every error code of each function. Run as pliers_app, never as
-- superuser (the data is made as superuser).
BEGIN;
SELECT plan(82);

-- Data, as superuser: organizations A and B. a1 administers A, a2 is a member, a3 a viewer
-- who may manage users (users.permissions), a4 a form editor, a5 the owner; b1 administers B.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('37000000-0000-0000-0000-00000000000a', 't37-a', 'Access A'),
('37000000-0000-0000-0000-00000000000b', 't37-b', 'Access B');

INSERT INTO pliers.users (organization_id, id, email, roles, permissions) VALUES
('37000000-0000-0000-0000-00000000000a', '37000001-0000-0000-0000-000000000001', 'a1@t37.example', '{org_admin}', '{}'),
('37000000-0000-0000-0000-00000000000a', '37000001-0000-0000-0000-000000000002', 'a2@t37.example', '{member}', '{}'),
(
    '37000000-0000-0000-0000-00000000000a', '37000001-0000-0000-0000-000000000003', 'a3@t37.example', '{viewer}',
    '{"user.manage": true, "form.view": false}'
),
('37000000-0000-0000-0000-00000000000a', '37000001-0000-0000-0000-000000000004', 'a4@t37.example', '{form_editor}', '{}'),
('37000000-0000-0000-0000-00000000000a', '37000001-0000-0000-0000-000000000005', 'a5@t37.example', '{org_owner}', '{}'),
('37000000-0000-0000-0000-00000000000b', '37000002-0000-0000-0000-000000000001', 'b1@t37.example', '{org_admin}', '{}');

CREATE TEMPORARY TABLE made (name text PRIMARY KEY, id uuid);
GRANT ALL ON made TO PUBLIC;

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
    SELECT array_agg((e ->> 'path') || ':' || (e ->> 'code') ORDER BY e ->> 'path', e ->> 'code')
    FROM jsonb_array_elements(pg_temp.detail_of(p_statement) -> 'errors') AS e
$$;

CREATE FUNCTION pg_temp.id(p_name text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM made WHERE name = p_name $$;

CREATE FUNCTION pg_temp.as_user(p_user text)
RETURNS void
LANGUAGE sql
AS $$
    SELECT pliers.set_context(
        CASE WHEN p_user LIKE 'b%' THEN '37000000-0000-0000-0000-00000000000b'
             ELSE '37000000-0000-0000-0000-00000000000a' END::uuid,
        CASE p_user
            WHEN 'a1' THEN '37000001-0000-0000-0000-000000000001'
            WHEN 'a2' THEN '37000001-0000-0000-0000-000000000002'
            WHEN 'a3' THEN '37000001-0000-0000-0000-000000000003'
            WHEN 'a4' THEN '37000001-0000-0000-0000-000000000004'
            WHEN 'a5' THEN '37000001-0000-0000-0000-000000000005'
            ELSE '37000002-0000-0000-0000-000000000001'
        END::uuid
    )
$$;

CREATE FUNCTION pg_temp.state_of(p_statement text)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE p_statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;

-- Every API function, called with ids of nothing: the SQLSTATE each raises.
CREATE FUNCTION pg_temp.states()
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT array_agg(pg_temp.state_of(c.statement) ORDER BY c.n)
    FROM unnest(ARRAY[
        $q$SELECT * FROM pliers.create_team('T', 't37-nope')$q$,
        $q$SELECT * FROM pliers.update_team(gen_random_uuid(), 'x')$q$,
        $q$SELECT * FROM pliers.delete_team(gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.add_team_member(gen_random_uuid(), gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.remove_team_member(gen_random_uuid(), gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.set_team_member_role(gen_random_uuid(), gen_random_uuid(), 'member')$q$,
        $q$SELECT * FROM pliers.list_teams()$q$,
        $q$SELECT * FROM pliers.list_team_members(gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.grant_role(gen_random_uuid(), 'viewer')$q$,
        $q$SELECT * FROM pliers.revoke_role(gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.list_role_assignments()$q$,
        $q$SELECT * FROM pliers.add_form_collaborator(gen_random_uuid(), gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.update_form_collaborator(gen_random_uuid(), gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.revoke_form_collaborator(gen_random_uuid(), gen_random_uuid())$q$,
        $q$SELECT * FROM pliers.effective_permissions(gen_random_uuid())$q$
    ]) WITH ORDINALITY AS c (statement, n)
$$;

-- The writes of organization A, to show that a failed call wrote nothing.
CREATE FUNCTION pg_temp.footprint()
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
AS $$
    SELECT (SELECT count(*) FROM pliers.teams WHERE organization_id = '37000000-0000-0000-0000-00000000000a')
        + (SELECT count(*) FROM pliers.team_members WHERE organization_id = '37000000-0000-0000-0000-00000000000a')
        + (SELECT count(*) FROM pliers.role_assignments WHERE organization_id = '37000000-0000-0000-0000-00000000000a')
        + (SELECT count(*) FROM pliers.form_collaborators WHERE organization_id = '37000000-0000-0000-0000-00000000000a')
        + (SELECT count(*) FROM pliers.events WHERE organization_id = '37000000-0000-0000-0000-00000000000a')
        + (SELECT count(*) FROM pliers.audit_logs WHERE organization_id = '37000000-0000-0000-0000-00000000000a')
$$;
GRANT EXECUTE ON FUNCTION pg_temp.footprint() TO PUBLIC;
CREATE TEMPORARY TABLE marks (name text PRIMARY KEY, n bigint);
GRANT ALL ON marks TO PUBLIC;

-- Privileges -----------------------------------------------------------------------------

SELECT ok(
    has_function_privilege('pliers_app', 'pliers.create_team(text, text, text, uuid)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.grant_role(uuid, text, pliers.scope_type, uuid, timestamptz, integer)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.effective_permissions(uuid)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.add_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer)', 'EXECUTE'),
    'pliers_app may call the access API'
);
SELECT ok(
    NOT has_function_privilege('pliers_readonly', 'pliers.create_team(text, text, text, uuid)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_readonly', 'pliers.grant_role(uuid, text, pliers.scope_type, uuid, timestamptz, integer)', 'EXECUTE'),
    'pliers_readonly may not'
);
SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
         AND p.proname IN ('_object_event', '_user_event', '_require_user', '_lock_team', '_assert_team_owner_remains',
                           '_check_team_attributes', '_raise_team_slug_taken', '_require_collaborator_flags',
                           '_check_permission_level', '_collaborator', '_collaborator_payload', '_lock_collaborator')
         AND has_function_privilege('pliers_app', p.oid, 'EXECUTE')),
    NULL,
    'pliers_app may call none of the private helpers'
);
SELECT is(
    (SELECT count(*)::integer FROM pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
         AND p.proname IN ('create_team', 'update_team', 'delete_team', 'add_team_member', 'remove_team_member',
                           'set_team_member_role', 'list_teams', 'list_team_members', 'grant_role', 'revoke_role',
                           'list_role_assignments', 'add_form_collaborator', 'update_form_collaborator',
                           'revoke_form_collaborator', 'effective_permissions')
         AND p.prosecdef AND p.proconfig = ARRAY['search_path=""']),
    15,
    'the 15 API functions are SECURITY DEFINER with search_path = ''''' 
);

SET LOCAL ROLE pliers_app;

-- Teams ----------------------------------------------------------------------------------

SELECT is(pg_temp.states(), array_fill('PL008'::text, ARRAY[15]), 'every access function without a context: PL008');
SELECT pg_temp.as_user('a2');
SELECT is(
    pg_temp.states(),
    ARRAY['PL006', 'PL002', 'PL002', 'PL002', 'PL002', 'PL002', 'ok', 'PL002', 'PL006', 'PL006', 'PL006', 'PL002',
          'PL002', 'PL002', 'PL006'],
    'a member: PL006 for what needs an organization-wide permission, PL002 for unknown objects, lists allowed'
);
SELECT set_config('pliers.context', '', true);
SELECT throws_ok($$SELECT * FROM pliers.create_team('T', 'tee')$$, 'PL008', NULL, 'create_team without a context: PL008');
SELECT throws_ok($$SELECT * FROM pliers.list_teams()$$, 'PL008', NULL, 'list_teams without a context: PL008');
SELECT pg_temp.as_user('a2');
SELECT throws_ok($$SELECT * FROM pliers.create_team('T', 'tee')$$, 'PL006', NULL,
    'create_team without team.manage: PL006');

SELECT pg_temp.as_user('a1');
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.create_team(' ', 'Bad Slug', repeat('x', 10001))$$),
    ARRAY['description:too_long', 'name:required', 'slug:invalid_slug'],
    'create_team: PL001 with every error'
);
INSERT INTO made SELECT 'red', t.id FROM pliers.create_team('Red', 'red', 'the red team') AS t;
SELECT is(
    (SELECT array_agg(m.user_id::text || ':' || m.role) FROM pliers.list_team_members(pg_temp.id('red')) AS m),
    ARRAY['37000001-0000-0000-0000-000000000001:owner'],
    'create_team: the caller is the first member, owner'
);
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.create_team('Again', 'red')$$),
    ARRAY['slug:taken'],
    'create_team: a live team''s slug is PL001 taken'
);
SELECT throws_ok($$SELECT * FROM pliers.create_team('O', 'owned', NULL, '37000002-0000-0000-0000-000000000001')$$,
    'PL002', NULL, 'create_team: an owner of another organization is PL002');
SELECT is((SELECT array_agg(t.slug::text) FROM pliers.list_teams() AS t), ARRAY['red'], 'list_teams lists it');

SELECT is((SELECT t.name::text FROM pliers.update_team(pg_temp.id('red'), 'Crimson') AS t), 'Crimson',
    'update_team renames');
SELECT is((SELECT t.slug::text FROM pliers.update_team(pg_temp.id('red'), NULL, 'crimson') AS t), 'crimson',
    'update_team changes the slug');
SELECT is(pg_temp.errors_of($$SELECT * FROM pliers.update_team(pg_temp.id('red'), repeat('n', 256))$$),
    ARRAY['name:too_long'], 'update_team: PL001');
SELECT throws_ok($$SELECT * FROM pliers.update_team(gen_random_uuid(), 'x')$$, 'PL002', NULL,
    'update_team of an unknown team: PL002');

SELECT is(
    (SELECT m.role::text FROM pliers.add_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000002', 'admin') AS m),
    'admin', 'add_team_member adds with a team role'
);
SELECT is(pg_temp.errors_of($$SELECT * FROM pliers.add_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000002')$$),
    ARRAY['user_id:already_member'], 'add_team_member: a current member is PL001 already_member');
SELECT is(pg_temp.errors_of($$SELECT * FROM pliers.add_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000003', NULL)$$),
    ARRAY['role:required'], 'add_team_member: PL001 without a role');
SELECT throws_ok($$SELECT * FROM pliers.add_team_member(pg_temp.id('red'), '37000002-0000-0000-0000-000000000001')$$,
    'PL002', NULL, 'add_team_member: a user of another organization is PL002');

-- a2, team admin, manages the team without team.manage organization-wide; a4 may not.
SELECT pg_temp.as_user('a2');
SELECT lives_ok($$SELECT * FROM pliers.add_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000004', 'viewer')$$,
    'a team admin adds members');
SELECT pg_temp.as_user('a4');
SELECT throws_ok($$SELECT * FROM pliers.remove_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000002')$$,
    'PL006', NULL, 'a team viewer may not manage the team: PL006');
SELECT pg_temp.as_user('b1');
SELECT throws_ok($$SELECT * FROM pliers.list_team_members(pg_temp.id('red'))$$, 'PL002', NULL,
    'another organization''s team is PL002');

SELECT pg_temp.as_user('a1');
INSERT INTO marks VALUES ('last owner', pg_temp.footprint());
SELECT throws_ok($$SELECT * FROM pliers.remove_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000001')$$,
    'PL003', NULL, 'remove_team_member: the last owner cannot leave (PL003)');
SELECT is(
    pg_temp.detail_of($$SELECT * FROM pliers.set_team_member_role(pg_temp.id('red'), '37000001-0000-0000-0000-000000000001', 'admin')$$),
    jsonb_build_object('object', 'team', 'id', pg_temp.id('red'), 'rule', 'last_owner',
                       'user_id', '37000001-0000-0000-0000-000000000001'),
    'set_team_member_role: demoting the last owner is PL003 rule last_owner'
);
SELECT is(pg_temp.footprint(), (SELECT n FROM marks WHERE name = 'last owner'), 'the refused calls wrote nothing');
SELECT throws_ok($$SELECT * FROM pliers.set_team_member_role(pg_temp.id('red'), '37000001-0000-0000-0000-000000000003', 'admin')$$,
    'PL002', NULL, 'set_team_member_role of a non-member: PL002');
SELECT is(pg_temp.errors_of($$SELECT * FROM pliers.set_team_member_role(pg_temp.id('red'), '37000001-0000-0000-0000-000000000002', NULL)$$),
    ARRAY['role:required'], 'set_team_member_role: PL001 without a role');
SELECT lives_ok($$SELECT * FROM pliers.set_team_member_role(pg_temp.id('red'), '37000001-0000-0000-0000-000000000002', 'owner')$$,
    'set_team_member_role makes a second owner');
SELECT is(
    (SELECT m.removed_at IS NOT NULL FROM pliers.remove_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000001') AS m),
    TRUE, 'then the first owner may leave'
);
SELECT throws_ok($$SELECT * FROM pliers.remove_team_member(pg_temp.id('red'), '37000001-0000-0000-0000-000000000001')$$,
    'PL002', NULL, 'remove_team_member of a non-member: PL002');

INSERT INTO made SELECT 'scoped', a.id
FROM pliers.grant_role('37000001-0000-0000-0000-000000000004', 'viewer', 'team', pg_temp.id('red')) AS a;
SELECT is((SELECT t.deleted_at IS NOT NULL FROM pliers.delete_team(pg_temp.id('red')) AS t), TRUE, 'delete_team');
RESET ROLE;
SELECT is(
    (SELECT count(*)::integer FROM pliers.team_members WHERE team_id = pg_temp.id('red') AND removed_at IS NULL)
    + (SELECT count(*)::integer FROM pliers.role_assignments WHERE id = pg_temp.id('scoped') AND revoked_at IS NULL),
    0, 'delete_team removes the members and revokes the team''s assignments'
);
SELECT is(
    (SELECT array_agg(e.event_type::text || '@' || e.aggregate_version ORDER BY e.aggregate_version)
     FROM pliers.events AS e WHERE e.aggregate_id = pg_temp.id('red') AND e.aggregate_type = 'organization'),
    ARRAY['team.created@1', 'team.updated@2', 'team.updated@3', 'team.member_added@4', 'team.member_added@5',
          'team.member_role_changed@6', 'team.member_removed@7', 'team.deleted@8'],
    'the team''s events, on its own aggregate id, numbered'
);
SET LOCAL ROLE pliers_app;
SELECT pg_temp.as_user('a1');
SELECT throws_ok($$SELECT * FROM pliers.delete_team(pg_temp.id('red'))$$, 'PL002', NULL, 'a deleted team is PL002');
SELECT is((SELECT count(*)::integer FROM pliers.list_teams()), 0, 'list_teams omits deleted teams');

-- Role assignments -----------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM pliers.revoke_role(gen_random_uuid())$$, 'PL002', NULL,
    'revoke_role of an unknown assignment: PL002');
SELECT pg_temp.as_user('a2');
SELECT throws_ok($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'org_admin')$$, 'PL006', NULL,
    'a member cannot grant itself org_admin (no user.manage): PL006');
SELECT throws_ok($$SELECT * FROM pliers.list_role_assignments('37000001-0000-0000-0000-000000000001')$$, 'PL006', NULL,
    'another user''s assignments need user.manage');
SELECT lives_ok($$SELECT * FROM pliers.list_role_assignments('37000001-0000-0000-0000-000000000002')$$,
    'one''s own assignments need nothing');
SELECT pg_temp.as_user('a3');
INSERT INTO marks VALUES ('escalation', pg_temp.footprint());
SELECT is(
    pg_temp.detail_of($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000003', 'org_admin')$$) ->> 'role',
    'org_admin',
    'a viewer with user.manage cannot grant itself org_admin: PL006 naming the role'
);
SELECT throws_ok($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000003', 'org_admin')$$, 'PL006', NULL,
    'the same is PL006');
SELECT is(pg_temp.footprint(), (SELECT n FROM marks WHERE name = 'escalation'), 'and wrote nothing');

SELECT pg_temp.as_user('a1');
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.grant_role(NULL, 'wizard', 'form', NULL, now() - interval '1 day')$$),
    ARRAY['expires_at:not_in_future', 'role:unknown_role', 'scope_id:required', 'user_id:required'],
    'grant_role: PL001 with every error, the unknown role at path role'
);
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'viewer', 'organization', gen_random_uuid())$$),
    ARRAY['scope_id:not_allowed'], 'grant_role: no scope_id at organization scope'
);
SELECT pg_temp.as_user('a5');
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'org_owner')$$),
    ARRAY['role:not_assignable'], 'grant_role: org_owner is not given by assignment, even by an owner'
);
SELECT pg_temp.as_user('a1');
SELECT throws_ok($$SELECT * FROM pliers.grant_role('37000002-0000-0000-0000-000000000001', 'viewer')$$, 'PL002', NULL,
    'grant_role to a user of another organization: PL002');
SELECT throws_ok($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'viewer', 'workflow', gen_random_uuid())$$,
    'PL002', NULL, 'grant_role on an unknown workflow: PL002');
SELECT throws_ok(
    $$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'viewer', 'organization', NULL, NULL, 999)$$,
    'PL003', NULL, 'grant_role with a stale expected revision of the user: PL003');

INSERT INTO made SELECT 'reviewer', a.id
FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'submission_reviewer') AS a;
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'submission_reviewer')$$),
    ARRAY['role:already_granted'], 'grant_role: a role held at that scope is PL001 already_granted'
);
SELECT pg_temp.as_user('a2');
SELECT ok('submission.view' = ANY(pliers.current_permissions()), 'the next set_context gives the role''s permissions');
SELECT is(
    (SELECT array_agg(a.role::text) FROM pliers.list_role_assignments('37000001-0000-0000-0000-000000000002') AS a),
    ARRAY['submission_reviewer'], 'list_role_assignments lists it'
);
SELECT pg_temp.as_user('a1');
SELECT is((SELECT a.revoked_at IS NOT NULL FROM pliers.revoke_role(pg_temp.id('reviewer')) AS a), TRUE, 'revoke_role');
SELECT lives_ok($$SELECT * FROM pliers.revoke_role(pg_temp.id('reviewer'))$$, 'revoke_role is idempotent');
SELECT pg_temp.as_user('a2');
SELECT ok(NOT 'submission.view' = ANY(pliers.current_permissions()), 'after a revoke, set_context does not give it');
SELECT pg_temp.as_user('a1');
RESET ROLE;
SELECT is(
    (SELECT array_agg(e.event_type::text ORDER BY e.aggregate_version) FROM pliers.events AS e
     WHERE e.aggregate_type = 'user' AND e.aggregate_id = '37000001-0000-0000-0000-000000000002'),
    ARRAY['role.granted', 'role.revoked'], 'role.granted and role.revoked on the user''s aggregate (once each)'
);
SELECT is(
    (SELECT array_agg(e.aggregate_version ORDER BY e.aggregate_version) FROM pliers.events AS e
     WHERE e.aggregate_type = 'user' AND e.aggregate_id = '37000001-0000-0000-0000-000000000002'),
    (SELECT ARRAY[revision - 1, revision] FROM pliers.users WHERE id = '37000001-0000-0000-0000-000000000002'),
    'their versions are the user''s revisions'
);
-- An assignment that expired grants nothing (made as superuser: an expiry in the past).
INSERT INTO pliers.role_assignments (organization_id, user_id, role, granted_at, expires_at) VALUES
('37000000-0000-0000-0000-00000000000a', '37000001-0000-0000-0000-000000000002', 'viewer',
 now() - interval '2 days', now() - interval '1 day');
SET LOCAL ROLE pliers_app;
SELECT pg_temp.as_user('a2');
SELECT ok(NOT 'workflow.view' = ANY(pliers.current_permissions()), 'an expired assignment grants nothing');
SELECT is(
    (SELECT count(*)::integer FROM pliers.effective_permissions() AS p WHERE p.source = 'assignment'),
    0, 'nor is it listed by effective_permissions'
);
SELECT pg_temp.as_user('a1');
SELECT lives_ok($$SELECT * FROM pliers.grant_role('37000001-0000-0000-0000-000000000002', 'viewer')$$,
    'the role can be granted again: the expired row is closed');

-- Form collaborators ---------------------------------------------------------------------

INSERT INTO made SELECT 'form', f.id
FROM pliers.create_form('Access form', 't37-form', '{"title": "T", "fields": [{"id": "f1", "type": "text", "name": "a"}]}') AS f;
SELECT throws_ok($$SELECT * FROM pliers.add_form_collaborator(gen_random_uuid(), '37000001-0000-0000-0000-000000000004')$$,
    'PL002', NULL, 'add_form_collaborator on an unknown form: PL002');
SELECT is(
    (SELECT c.can_edit FROM pliers.add_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000004', 'editor', TRUE) AS c),
    TRUE, 'add_form_collaborator'
);
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.add_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000004', repeat('l', 51))$$),
    ARRAY['permission_level:too_long'], 'add_form_collaborator: PL001 for a long level'
);
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.add_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000004')$$),
    ARRAY['user_id:already_collaborator'], 'add_form_collaborator: PL001 already_collaborator'
);
SELECT pg_temp.as_user('a4');
SELECT is(
    pg_temp.detail_of($$SELECT * FROM pliers.add_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002', 'x', FALSE, FALSE, TRUE)$$) ->> 'permission',
    'form.publish', 'a form editor cannot give can_publish: PL006 naming form.publish'
);
SELECT lives_ok($$SELECT * FROM pliers.add_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002', 'editor', TRUE)$$,
    'a form editor may give can_edit');
SELECT pg_temp.as_user('a2');
SELECT ok(pliers.has_permission('form.edit', 'form', pg_temp.id('form')), 'the collaborator may edit the form');
SELECT throws_ok($$SELECT * FROM pliers.update_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002', NULL, TRUE, TRUE)$$,
    'PL006', NULL, 'update_form_collaborator: can_delete needs form.delete');
SELECT pg_temp.as_user('a1');
SELECT is(
    (SELECT c.can_edit::text || c.can_view_submissions::text
     FROM pliers.update_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002', NULL, FALSE, NULL, NULL, TRUE) AS c),
    'falsetrue', 'update_form_collaborator changes the flags given'
);
SELECT throws_ok($$SELECT * FROM pliers.update_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000003', 'x')$$,
    'PL002', NULL, 'update_form_collaborator of a non-collaborator: PL002');
SELECT is(
    pg_temp.errors_of($$SELECT * FROM pliers.update_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002', ' ')$$),
    ARRAY['permission_level:required'], 'update_form_collaborator: PL001'
);
SELECT is(
    (SELECT c.revoked_at IS NOT NULL FROM pliers.revoke_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002') AS c),
    TRUE, 'revoke_form_collaborator'
);
SELECT throws_ok($$SELECT * FROM pliers.revoke_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000002')$$,
    'PL002', NULL, 'revoke_form_collaborator of a revoked collaborator: PL002');
SELECT pg_temp.as_user('a2');
SELECT ok(NOT pliers.has_permission('form.edit', 'form', pg_temp.id('form')), 'a revoked collaborator may not edit');
SELECT throws_ok($$SELECT * FROM pliers.revoke_form_collaborator(pg_temp.id('form'), '37000001-0000-0000-0000-000000000004')$$,
    'PL006', NULL, 'revoke_form_collaborator needs form.edit');

-- Effective permissions -------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM pliers.effective_permissions('37000001-0000-0000-0000-000000000003')$$, 'PL006', NULL,
    'effective_permissions of another user needs user.manage');
SELECT pg_temp.as_user('a1');
SELECT throws_ok($$SELECT * FROM pliers.effective_permissions(gen_random_uuid())$$, 'PL002', NULL,
    'effective_permissions of an unknown user: PL002');
SELECT is(
    (SELECT array_agg(p.permission || ':' || p.source || ':' || coalesce(p.role, '-') || ':' || p.allowed
                      ORDER BY p.source, p.permission)
     FROM pliers.effective_permissions('37000001-0000-0000-0000-000000000003') AS p),
    ARRAY['form.view:denial:-:false', 'user.manage:grant:-:true',
          'form.view:role:viewer:false', 'submission.view:role:viewer:true', 'workflow.view:role:viewer:true'],
    'effective_permissions: roles, grants and denials, a denied permission not allowed'
);
SELECT is(
    (SELECT array_agg(DISTINCT p.source ORDER BY p.source)
     FROM pliers.effective_permissions('37000001-0000-0000-0000-000000000004') AS p),
    ARRAY['collaborator', 'role'],
    'effective_permissions: a collaborator row is a reason'
);
SELECT pg_temp.as_user('b1');
SELECT throws_ok($$SELECT * FROM pliers.effective_permissions('37000001-0000-0000-0000-000000000004')$$, 'PL002', NULL,
    'another organization''s user is PL002');

SELECT * FROM finish();
ROLLBACK;
