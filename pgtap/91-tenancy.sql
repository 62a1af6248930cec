-- Tenant context and permissions (sql/91-tenancy.sql): set_context's errors and
-- SQLSTATEs, what it sets and that it is transaction-local, the context helpers,
-- and pliers.has_permission on each path (organization roles, organization-scope
-- assignments, form- and team-scoped roles, team membership, collaborator flags,
-- form visibility, users.permissions grants and denials, expired and revoked
-- assignments, other tenants' objects). Checked as pliers_app, never as superuser.
BEGIN;
SELECT plan(121);

-- Data, as superuser -------------------------------------------------------------------
-- Organizations A, B and a deleted one (D). Users of A:
--   a1 org_admin (users.roles)          a2 no role; scoped assignments below
--   a3 collaborator, team viewer        a4 team member (T1), team admin (T2), collaborator
--   a5 deleted                          a6 suspended
--   a7 viewer, users.permissions {"audit.view": true, "form.view": false}
--   a8 organization-scope assignments: form_editor live, submission_reviewer expired, viewer revoked
INSERT INTO pliers.organizations (id, slug, name, deleted_at) VALUES
('91000000-0000-0000-0000-00000000000a', 't91-a', 'Tenancy A', NULL),
('91000000-0000-0000-0000-00000000000b', 't91-b', 'Tenancy B', NULL),
('91000000-0000-0000-0000-00000000000d', 't91-d', 'Tenancy D', now());

INSERT INTO pliers.users (organization_id, id, email, roles, permissions, status, deleted_at) VALUES
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000001', 'a1@t91.example',
 '{org_admin}', '{}', 'active', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002', 'a2@t91.example',
 '{}', '{}', 'active', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000003', 'a3@t91.example',
 '{}', '{}', 'active', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000004', 'a4@t91.example',
 '{}', '{}', 'active', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000005', 'a5@t91.example',
 '{org_admin}', '{}', 'deleted', now()),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000006', 'a6@t91.example',
 '{org_admin}', '{}', 'suspended', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000007', 'a7@t91.example',
 '{viewer}', '{"audit.view": true, "form.view": false, "submission.delete": "yes"}', 'active', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000008', 'a8@t91.example',
 '{}', '{}', 'active', NULL),
('91000000-0000-0000-0000-00000000000b', '91000002-0000-0000-0000-000000000001', 'b1@t91.example',
 '{org_admin}', '{}', 'active', NULL),
('91000000-0000-0000-0000-00000000000d', '91000003-0000-0000-0000-000000000001', 'd1@t91.example',
 '{org_owner}', '{}', 'active', NULL);

-- Forms of A: F1 private, F2 visible to the organization, F3 private; FB of B.
INSERT INTO pliers.forms (organization_id, id, name, slug, visibility, definition) VALUES
('91000000-0000-0000-0000-00000000000a', '91000004-0000-0000-0000-0000000000f1', 'F1', 't91-f1', 'private', '{}'),
('91000000-0000-0000-0000-00000000000a', '91000004-0000-0000-0000-0000000000f2', 'F2', 't91-f2', 'organization', '{}'),
('91000000-0000-0000-0000-00000000000a', '91000004-0000-0000-0000-0000000000f3', 'F3', 't91-f3', 'private', '{}'),
('91000000-0000-0000-0000-00000000000b', '91000004-0000-0000-0000-0000000000fb', 'FB', 't91-fb', 'organization', '{}');

INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('91000000-0000-0000-0000-00000000000a', '91000005-0000-0000-0000-0000000000a1', 'T1', 't91-t1'),
('91000000-0000-0000-0000-00000000000a', '91000005-0000-0000-0000-0000000000a2', 'T2', 't91-t2');

INSERT INTO pliers.team_members (organization_id, team_id, user_id, role, joined_at, removed_at) VALUES
('91000000-0000-0000-0000-00000000000a', '91000005-0000-0000-0000-0000000000a1',
 '91000001-0000-0000-0000-000000000004', 'member', now(), NULL),
('91000000-0000-0000-0000-00000000000a', '91000005-0000-0000-0000-0000000000a2',
 '91000001-0000-0000-0000-000000000004', 'admin', now(), NULL),
('91000000-0000-0000-0000-00000000000a', '91000005-0000-0000-0000-0000000000a2',
 '91000001-0000-0000-0000-000000000003', 'viewer', now(), NULL),
('91000000-0000-0000-0000-00000000000a', '91000005-0000-0000-0000-0000000000a1',
 '91000001-0000-0000-0000-000000000003', 'member', now() - interval '2 days', now() - interval '1 day');

INSERT INTO pliers.role_assignments (
    organization_id, user_id, role, scope_type, scope_id, granted_at, expires_at, revoked_at
) VALUES
-- a2: form_manager on F1 (live), on F3 (expired), on F2 (revoked); submission_reviewer on team T1
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002', 'form_manager', 'form',
 '91000004-0000-0000-0000-0000000000f1', now(), NULL, NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002', 'form_manager', 'form',
 '91000004-0000-0000-0000-0000000000f3', now() - interval '2 days', now() - interval '1 day', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002', 'form_manager', 'form',
 '91000004-0000-0000-0000-0000000000f2', now() - interval '2 days', NULL, now() - interval '1 day'),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002', 'submission_reviewer', 'team',
 '91000005-0000-0000-0000-0000000000a1', now(), NULL, NULL),
-- a8: organization scope, live / expired / revoked
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000008', 'form_editor', 'organization',
 NULL, now(), now() + interval '1 day', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000008', 'submission_reviewer',
 'organization', NULL, now() - interval '2 days', now() - interval '1 day', NULL),
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000008', 'viewer', 'organization',
 NULL, now() - interval '2 days', NULL, now() - interval '1 day');

-- a3 collaborates on F1 (may edit, not publish, not read submissions); revoked on F3.
-- a4 collaborates on F3 (may delete and read submissions, not edit nor publish).
INSERT INTO pliers.form_collaborators (
    organization_id, form_id, user_id, permission_level, can_edit, can_delete, can_publish, can_view_submissions,
    granted_at, revoked_at
) VALUES
('91000000-0000-0000-0000-00000000000a', '91000004-0000-0000-0000-0000000000f1',
 '91000001-0000-0000-0000-000000000003', 'editor', TRUE, FALSE, FALSE, FALSE, now(), NULL),
('91000000-0000-0000-0000-00000000000a', '91000004-0000-0000-0000-0000000000f3',
 '91000001-0000-0000-0000-000000000003', 'editor', TRUE, TRUE, TRUE, TRUE, now() - interval '1 day', now()),
('91000000-0000-0000-0000-00000000000a', '91000004-0000-0000-0000-0000000000f3',
 '91000001-0000-0000-0000-000000000004', 'custom', FALSE, TRUE, FALSE, TRUE, now(), NULL);

-- The DETAIL of the error a statement raises, as JSON (NULL if it raises none).
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

-- The functions ---------------------------------------------------------------------------

SELECT has_function('pliers', 'set_context', ARRAY['uuid', 'uuid', 'uuid', 'inet', 'text', 'uuid'],
    'set_context(org, user, session, ip, user agent, correlation) exists');
SELECT has_function('pliers', 'has_permission', ARRAY['text', 'pliers.scope_type', 'uuid'],
    'has_permission(permission, scope type, scope id) exists');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'sql'), p.provolatile::text, p.prosecdef, p.proconfig IS NULL
      FROM pg_catalog.pg_proc AS p
      WHERE p.pronamespace = 'pliers'::regnamespace
        AND p.proname IN ('current_organization_id', 'current_user_id', 'current_permissions')
      ORDER BY 1$$,
    $$VALUES ('current_organization_id', TRUE, 's', FALSE, TRUE), ('current_permissions', TRUE, 's', FALSE, TRUE),
             ('current_user_id', TRUE, 's', FALSE, TRUE)$$,
    'the context helpers are inlinable: LANGUAGE sql, STABLE, no SECURITY DEFINER, no SET clause'
);
SELECT is(
    (SELECT p.prosecdef AND p.proconfig = ARRAY['search_path=""']
     FROM pg_catalog.pg_proc AS p WHERE p.oid = 'pliers.set_context(uuid, uuid, uuid, inet, text, uuid)'::regprocedure),
    TRUE,
    'set_context is SECURITY DEFINER with search_path pinned to the empty string'
);
SELECT is(
    (SELECT p.proconfig FROM pg_catalog.pg_proc AS p
     WHERE p.oid = 'pliers.has_permission(text, pliers.scope_type, uuid)'::regprocedure),
    ARRAY['search_path=""', 'plan_cache_mode=force_generic_plan'],
    'has_permission pins search_path and plan_cache_mode = force_generic_plan: else the plan cache '
    'plans its checks that query again on every call, 4-8 times slower (bench/scoped_permissions.py)'
);
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('_set_context', 'set_context', 'authenticate_api_key')
       AND pg_catalog.pg_get_functiondef(p.oid) ~* 'set_config\([^;]*,\s*false\s*\)'),
    0,
    'the context is only ever set transaction-locally (no set_config(..., false))'
);

-- set_context: errors -------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT pliers.set_context(NULL, '91000001-0000-0000-0000-000000000001')$$, 'PL008', NULL,
    'set_context without an organization: PL008');
SELECT throws_ok($$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', NULL)$$, 'PL008', NULL,
    'set_context without a user: PL008');
SELECT throws_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000002-0000-0000-0000-000000000001')$$,
    'PL006', NULL, 'set_context with a user of another organization: PL006');
SELECT throws_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000b', '91000001-0000-0000-0000-000000000001')$$,
    'PL006', NULL, 'set_context with an organization the user does not belong to: PL006');
SELECT throws_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', gen_random_uuid())$$,
    'PL006', NULL, 'set_context with an unknown user: PL006');
SELECT throws_ok(
    $$SELECT pliers.set_context(gen_random_uuid(), '91000001-0000-0000-0000-000000000001')$$,
    'PL006', NULL, 'set_context with an unknown organization: PL006');
SELECT throws_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000005')$$,
    'PL006', NULL, 'set_context with a deleted user: PL006');
SELECT throws_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000006')$$,
    'PL006', NULL, 'set_context with a suspended user: PL006');
SELECT throws_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000d', '91000003-0000-0000-0000-000000000001')$$,
    'PL006', NULL, 'set_context in a deleted organization: PL006');
SELECT is(
    pg_temp.detail_of(
        $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000005')$$
    ) - 'user_id',
    '{"permission": "organization.member", "object": "organization", "id": "91000000-0000-0000-0000-00000000000a",
      "reason": "user_deleted"}'::jsonb,
    'PL006 of set_context has a JSON DETAIL naming the organization and the reason'
);
SELECT is(pliers.current_organization_id(), NULL, 'a refused set_context leaves no context');

-- set_context: what it sets ---------------------------------------------------------------------

SELECT lives_ok(
    $$SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000001',
        '91000006-0000-0000-0000-000000000001', '192.0.2.10', 'pgTAP', '91000006-0000-0000-0000-000000000002')$$,
    'set_context with an active member'
);
SELECT is(pliers.current_organization_id(), '91000000-0000-0000-0000-00000000000a', 'current_organization_id');
SELECT is(pliers.current_user_id(), '91000001-0000-0000-0000-000000000001', 'current_user_id');
SELECT is(
    (SELECT ROW(r.session_id, r.ip_address, r.user_agent, r.correlation_id, r.api_key_id)::text
     FROM pliers.current_request() AS r),
    ROW('91000006-0000-0000-0000-000000000001'::uuid, '192.0.2.10'::inet, 'pgTAP',
        '91000006-0000-0000-0000-000000000002'::uuid, NULL::uuid)::text,
    'request metadata in current_request(): session, address, user agent, correlation; no API key'
);
SELECT is(
    pliers.current_permissions(),
    (SELECT array_agg(p ORDER BY p) FROM pliers.roles AS r, unnest(r.permissions) AS p WHERE r.name = 'org_admin'),
    'current_permissions: the permissions of the user''s roles'
);

SAVEPOINT inner_context;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000b', '91000002-0000-0000-0000-000000000001');
SELECT is(pliers.current_organization_id(), '91000000-0000-0000-0000-00000000000b', 'a second set_context switches');
ROLLBACK TO SAVEPOINT inner_context;
SELECT is(pliers.current_organization_id(), '91000000-0000-0000-0000-00000000000a',
    'a context set in a rolled-back savepoint is gone');

SELECT set_config('pliers.context', '', true);
SELECT is(pliers.current_organization_id(), NULL, 'an empty setting means no tenant');
SELECT is(pliers.has_permission('form.view'), FALSE, 'no permission without a tenant');

-- has_permission: organization-wide paths -------------------------------------------------------

SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000001');
SELECT ok(pliers.has_permission('form.publish'), 'a role of users.roles grants organization-wide');
SELECT ok(NOT pliers.has_permission('organization.manage'), 'org_admin lacks organization.manage');
SELECT ok(pliers.has_permission('form.edit', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'an organization-wide permission applies to a form of the organization');
SELECT ok(NOT pliers.has_permission('form.edit', 'form', '91000004-0000-0000-0000-0000000000fb'),
    '... not to a form of another organization');
SELECT ok(NOT pliers.has_permission('form.edit', 'form', gen_random_uuid()), '... nor to an unknown form');
SELECT ok(pliers.has_permission('form.view', 'organization', '91000000-0000-0000-0000-00000000000a'),
    'organization scope naming the current organization');
SELECT ok(NOT pliers.has_permission('form.view', 'organization', '91000000-0000-0000-0000-00000000000b'),
    'organization scope naming another organization: no');
SELECT ok(NOT pliers.has_permission(NULL), 'a NULL permission: no');

SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000008');
SELECT ok(pliers.has_permission('form.edit'), 'a live organization-scope assignment grants organization-wide');
SELECT ok(NOT pliers.has_permission('submission.update'), 'an expired organization-scope assignment grants nothing');
SELECT ok(NOT pliers.has_permission('workflow.view'), 'a revoked organization-scope assignment grants nothing');

SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000007');
SELECT ok(pliers.has_permission('audit.view'), 'users.permissions {"P": true} grants P');
SELECT ok(NOT pliers.has_permission('form.view'), 'users.permissions {"P": false} denies P over a role');
SELECT ok(NOT pliers.has_permission('form.view', 'form', '91000004-0000-0000-0000-0000000000f2'),
    '... and on every object (form visibility included)');
SELECT ok(pliers.has_permission('submission.view'), 'other permissions of the role remain');
SELECT ok(NOT pliers.has_permission('submission.delete'), 'a non-boolean users.permissions value grants nothing');
SELECT ok(NOT pliers.current_permissions() @> '{form.view}', 'a denied permission is not among current_permissions');

-- has_permission: form-scoped roles, visibility --------------------------------------------------

SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002');
SELECT is(pliers.current_permissions(), '{}'::text[], 'no organization-wide permission for a2');
SELECT ok(NOT pliers.has_permission('form.publish'), 'a form-scoped role grants nothing organization-wide');
SELECT ok(pliers.has_permission('form.publish', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'a form-scoped role grants on its form');
SELECT ok(NOT pliers.has_permission('form.publish', 'form', '91000004-0000-0000-0000-0000000000f3'),
    'an expired form-scoped role grants nothing');
SELECT ok(NOT pliers.has_permission('form.publish', 'form', '91000004-0000-0000-0000-0000000000f2'),
    'a revoked form-scoped role grants nothing');
SELECT ok(NOT pliers.has_permission('form.publish', 'workflow', '91000004-0000-0000-0000-0000000000f1'),
    'a form-scoped role does not apply to another scope type');
SELECT ok(pliers.has_permission('form.view', 'form', '91000004-0000-0000-0000-0000000000f2'),
    'a form visible to the organization: form.view');
SELECT ok(pliers.has_permission('submission.create', 'form', '91000004-0000-0000-0000-0000000000f2'),
    'a form visible to the organization: submission.create');
SELECT ok(NOT pliers.has_permission('submission.view', 'form', '91000004-0000-0000-0000-0000000000f2'),
    'visibility does not grant submission.view');
SELECT ok(NOT pliers.has_permission('form.view', 'form', '91000004-0000-0000-0000-0000000000f3'),
    'a private form: no form.view without a grant');
SELECT ok(NOT pliers.has_permission('form.view', 'form', '91000004-0000-0000-0000-0000000000fb'),
    'a form of another organization, even visible to its own: no');

-- has_permission: team-scoped roles and team membership ------------------------------------------

SELECT ok(pliers.has_permission('submission.view', 'team', '91000005-0000-0000-0000-0000000000a1'),
    'a team-scoped role grants on its team');
SELECT ok(NOT pliers.has_permission('submission.view', 'team', '91000005-0000-0000-0000-0000000000a2'),
    '... not on another team');

SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000004');
SELECT ok(pliers.has_permission('submission.view', 'team', '91000005-0000-0000-0000-0000000000a1'),
    'a team member: submission.view on the team');
SELECT ok(pliers.has_permission('submission.update', 'team', '91000005-0000-0000-0000-0000000000a1'),
    'a team member: submission.update on the team');
SELECT ok(NOT pliers.has_permission('team.manage', 'team', '91000005-0000-0000-0000-0000000000a1'),
    'a team member: no team.manage');
SELECT ok(pliers.has_permission('team.manage', 'team', '91000005-0000-0000-0000-0000000000a2'),
    'a team admin: team.manage');
SELECT ok(NOT pliers.has_permission('submission.view'), 'team membership grants nothing organization-wide');

-- has_permission: collaborators ------------------------------------------------------------------

SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000003');
SELECT ok(pliers.has_permission('form.view', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'a collaborator: form.view');
SELECT ok(pliers.has_permission('form.edit', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'a collaborator with can_edit: form.edit');
SELECT ok(NOT pliers.has_permission('form.publish', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'a collaborator without can_publish: no form.publish');
SELECT ok(NOT pliers.has_permission('form.delete', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'a collaborator without can_delete: no form.delete');
SELECT ok(NOT pliers.has_permission('submission.view', 'form', '91000004-0000-0000-0000-0000000000f1'),
    'a collaborator without can_view_submissions: no submission.view');
SELECT ok(NOT pliers.has_permission('form.edit', 'form', '91000004-0000-0000-0000-0000000000f3'),
    'a revoked collaborator: nothing');
SELECT ok(pliers.has_permission('submission.view', 'team', '91000005-0000-0000-0000-0000000000a2'),
    'a team viewer: submission.view on the team');
SELECT ok(NOT pliers.has_permission('submission.update', 'team', '91000005-0000-0000-0000-0000000000a2'),
    'a team viewer: no submission.update');
SELECT ok(NOT pliers.has_permission('submission.view', 'team', '91000005-0000-0000-0000-0000000000a1'),
    'a removed team member: nothing');

-- The two mappings (collaborator flags, team roles), which has_permission and
-- effective_permissions share: their values, and both readers agree on them --------------------

SELECT is(pliers.collaborator_permissions(FALSE, FALSE, FALSE, FALSE), '{form.view}'::text[],
    'collaborator_permissions: form.view for any collaborator');
SELECT is(pliers.collaborator_permissions(TRUE, TRUE, TRUE, TRUE),
    '{form.view,form.edit,form.delete,form.publish,submission.view}'::text[],
    'collaborator_permissions: one permission per flag, in the order of the flags');
SELECT is(pliers.collaborator_permissions(FALSE, TRUE, FALSE, TRUE), '{form.view,form.delete,submission.view}'::text[],
    'collaborator_permissions: mixed flags');
SELECT is(pliers.collaborator_permissions(TRUE, FALSE, TRUE, FALSE), '{form.view,form.edit,form.publish}'::text[],
    'collaborator_permissions: the other mixed flags');
SELECT is(pliers.team_role_permissions('viewer'), '{submission.view}'::text[], 'team_role_permissions: a viewer');
SELECT is(pliers.team_role_permissions('member'), '{submission.view,submission.update}'::text[],
    'team_role_permissions: a member');
SELECT is(pliers.team_role_permissions('admin'), '{submission.view,submission.update,team.manage}'::text[],
    'team_role_permissions: an admin');
SELECT is(pliers.team_role_permissions('owner'), '{submission.view,submission.update,team.manage}'::text[],
    'team_role_permissions: an owner');
SELECT results_eq(
    $$SELECT p.proname::text COLLATE "default", p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'sql'), p.provolatile::text, p.prosecdef, p.proconfig IS NULL, p.prosqlbody IS NOT NULL
      FROM pg_catalog.pg_proc AS p
      WHERE p.pronamespace = 'pliers'::regnamespace
        AND p.proname IN ('collaborator_permissions', 'team_role_permissions')
      ORDER BY 1$$,
    $$VALUES ('collaborator_permissions', TRUE, 'i', FALSE, TRUE, TRUE), ('team_role_permissions', TRUE, 'i', FALSE, TRUE, TRUE)$$,
    'the mappings are inlinable: LANGUAGE sql with a SQL-standard body, IMMUTABLE, no SECURITY DEFINER, no SET clause'
);

-- has_permission on every object a3 and a4 reach as collaborator or team member, against
-- effective_permissions' rows of those sources, and against the rule written out (a3: a
-- collaborator with can_edit, a team viewer, a revoked collaborator and a removed member;
-- a4: a collaborator with mixed flags, a team member and a team admin). Their forms are
-- private and they hold no role: no other path grants anything there.
CREATE TEMPORARY VIEW granted AS
SELECT p.permission, s.scope_type, s.scope_id
FROM (VALUES
    ('form'::pliers.scope_type, '91000004-0000-0000-0000-0000000000f1'::uuid),
    ('form', '91000004-0000-0000-0000-0000000000f3'),
    ('team', '91000005-0000-0000-0000-0000000000a1'),
    ('team', '91000005-0000-0000-0000-0000000000a2')
) AS s (scope_type, scope_id)
CROSS JOIN unnest('{form.view,form.edit,form.delete,form.publish,submission.view,submission.update,team.manage}'::text[])
    AS p (permission)
WHERE pliers.has_permission(p.permission, s.scope_type, s.scope_id);
CREATE TEMPORARY VIEW listed AS
SELECT e.permission, e.scope_type, e.scope_id
FROM pliers.effective_permissions() AS e
WHERE e.source IN ('collaborator', 'team_member') AND e.allowed;

SELECT set_eq('SELECT * FROM granted', 'SELECT * FROM listed',
    'a3: has_permission and effective_permissions agree');
SELECT set_eq('SELECT * FROM granted',
    $$VALUES ('form.view', 'form'::pliers.scope_type, '91000004-0000-0000-0000-0000000000f1'::uuid),
             ('form.edit', 'form', '91000004-0000-0000-0000-0000000000f1'),
             ('submission.view', 'team', '91000005-0000-0000-0000-0000000000a2')$$,
    'a3: form.view and form.edit on F1, submission.view on T2 (viewer)');
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000004');
SELECT set_eq('SELECT * FROM granted', 'SELECT * FROM listed',
    'a4: has_permission and effective_permissions agree');
SELECT set_eq('SELECT * FROM granted',
    $$VALUES ('form.view', 'form'::pliers.scope_type, '91000004-0000-0000-0000-0000000000f3'::uuid),
             ('form.delete', 'form', '91000004-0000-0000-0000-0000000000f3'),
             ('submission.view', 'form', '91000004-0000-0000-0000-0000000000f3'),
             ('submission.view', 'team', '91000005-0000-0000-0000-0000000000a1'),
             ('submission.update', 'team', '91000005-0000-0000-0000-0000000000a1'),
             ('submission.view', 'team', '91000005-0000-0000-0000-0000000000a2'),
             ('submission.update', 'team', '91000005-0000-0000-0000-0000000000a2'),
             ('team.manage', 'team', '91000005-0000-0000-0000-0000000000a2')$$,
    'a4: form.view, form.delete, submission.view on F3 (mixed flags); T1 as member, T2 as admin');

-- _require_permission ---------------------------------------------------------------------------------

SELECT throws_ok($$SELECT pliers._require_permission('form.view')$$, '42501', NULL,
    'pliers_app cannot execute the private _require_permission');
RESET ROLE;
SET LOCAL ROLE pliers_owner;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers._require_permission('form.publish')$$, 'PL006', 'permission form.publish denied',
    '_require_permission raises PL006');
SELECT is(
    pg_temp.detail_of($$SELECT pliers._require_permission('form.publish', 'team', '91000005-0000-0000-0000-0000000000a2')$$),
    '{"permission": "form.publish", "object": "team", "id": "91000005-0000-0000-0000-0000000000a2"}'::jsonb,
    'PL006 DETAIL {permission, object, id}'
);
SELECT lives_ok($$SELECT pliers._require_permission('form.publish', 'form', '91000004-0000-0000-0000-0000000000f1')$$,
    '_require_permission passes when has_permission does');
SELECT set_config('pliers.context', '', true);
SELECT throws_ok($$SELECT pliers._require_permission('form.view')$$, 'PL008', NULL,
    '_require_permission without a context: PL008');
RESET ROLE;

-- Precomputed permissions (pliers.user_permissions) ---------------------------------------------
-- tests/test_tenancy.py changes every grant in its own transactions; here, the rows the
-- inserts above made, and a row past its valid_until.

SELECT results_eq(
    $$SELECT p.permissions, p.valid_until FROM pliers.user_permissions AS p
      WHERE p.organization_id = '91000000-0000-0000-0000-00000000000a'
        AND p.user_id = '91000001-0000-0000-0000-000000000008'$$,
    $$SELECT (SELECT array_agg(p ORDER BY p) FROM unnest(r.permissions) AS p), ra.expires_at
      FROM pliers.roles AS r, pliers.role_assignments AS ra
      WHERE r.name = 'form_editor' AND ra.role = r.name
        AND ra.user_id = '91000001-0000-0000-0000-000000000008'$$,
    'a8: the live organization-scope assignment only, valid until it expires'
);
SELECT is_empty(
    $$SELECT u.id FROM pliers.users AS u
      LEFT JOIN pliers.user_permissions AS p ON (p.organization_id, p.user_id) = (u.organization_id, u.id)
      LEFT JOIN LATERAL pliers._user_permissions(u.organization_id, u.id) AS l ON TRUE
      WHERE u.organization_id IN ('91000000-0000-0000-0000-00000000000a', '91000000-0000-0000-0000-00000000000b')
        AND (p.permissions, p.denied, p.valid_until) IS DISTINCT FROM (l.permissions, l.denied, l.valid_until)$$,
    'every user has its row, equal to what _user_permissions computes'
);
UPDATE pliers.user_permissions SET permissions = '{}', valid_until = now() - interval '1 second'
WHERE organization_id = '91000000-0000-0000-0000-00000000000a' AND user_id = '91000001-0000-0000-0000-000000000001';
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000001');
SELECT is(
    pliers.current_permissions(),
    (SELECT array_agg(p ORDER BY p) FROM pliers.roles AS r, unnest(r.permissions) AS p WHERE r.name = 'org_admin'),
    'a row past its valid_until is not trusted: set_context computes the permissions again'
);
SELECT throws_ok($$SELECT * FROM pliers.user_permissions$$, '42501', NULL, 'pliers_app cannot read user_permissions');
RESET ROLE;
SELECT is(
    (SELECT ROW(p.permissions, p.valid_until)::text FROM pliers.user_permissions AS p
     WHERE p.organization_id = '91000000-0000-0000-0000-00000000000a'
       AND p.user_id = '91000001-0000-0000-0000-000000000001'),
    (SELECT ROW(array_agg(p ORDER BY p), 'infinity'::timestamptz)::text
     FROM pliers.roles AS r, unnest(r.permissions) AS p WHERE r.name = 'org_admin'),
    '... and stores them again'
);
SELECT is(
    (SELECT p.proconfig FROM pg_catalog.pg_proc AS p
     WHERE p.oid = 'pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[])'::regprocedure),
    NULL,
    '_set_context has no SET clause (its callers pin search_path)'
);

-- The private _set_context reports why it refuses, and leaves no context ------------------------------

SELECT is(
    pliers._set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000006',
                        NULL, NULL, NULL, NULL, NULL, NULL),
    'user_suspended',
    '_set_context returns the reason of a refusal'
);
SELECT is(pliers.current_organization_id(), NULL, '... and leaves the context empty');

-- The submissions policy's rule is inlined into the query, not called per row: its
-- arguments (the viewer's permissions and id) are plain calls, no sub-select, which the
-- planner would refuse to copy into the inlined expression.
RESET ROLE;
CREATE FUNCTION pg_temp.plan(p_sql text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || p_sql;
END
$$;
SET LOCAL ROLE pliers_app;
SELECT unalike(
    (SELECT string_agg(l, ' ') FROM pg_temp.plan('SELECT id FROM pliers.submissions') AS l),
    '%submission_visible%', 'the submissions policy inlines pliers.submission_visible (no call per row)'
);
-- has_permission's queries run as the caller, pliers_app: the mappings inline for it.
SELECT unalike(
    (SELECT string_agg(l, ' ') FROM pg_temp.plan(
        $$SELECT FROM pliers.form_collaborators AS fc WHERE 'form.edit' = ANY(pliers.collaborator_permissions(
              fc.can_edit, fc.can_delete, fc.can_publish, fc.can_view_submissions))$$) AS l),
    '%collaborator_permissions%', 'pliers_app: collaborator_permissions is inlined'
);
SELECT unalike(
    (SELECT string_agg(l, ' ') FROM pg_temp.plan(
        $$SELECT FROM pliers.team_members AS tm WHERE 'team.manage' = ANY(pliers.team_role_permissions(tm.role))$$) AS l),
    '%team_role_permissions%', 'pliers_app: team_role_permissions is inlined'
);

-- The context cannot be forged (docs/security.md): as pliers_app, every way of writing
-- pliers.context other than set_context leaves no tenant, and no permission is gained.
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000007');
SELECT set_config('pliers.context', replace(current_setting('pliers.context'),
    '91000000-0000-0000-0000-00000000000a', '91000000-0000-0000-0000-00000000000b'), true);
SELECT is(pliers.current_organization_id(), NULL, 'another organization written into the token: no tenant');
SELECT is((SELECT count(*) FROM pliers.forms), 0::bigint, '... and no row of either tenant');
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000007');
SELECT set_config('pliers.context', replace(current_setting('pliers.context'),
    '|audit.view,', '|audit.view,form.create,form.publish,'), true);
SELECT ok(current_setting('pliers.context') LIKE '%|audit.view,form.create,form.publish,%',
    'a viewer writes form.create into its token');
SELECT ok(NOT pliers.has_permission('form.create'), 'permissions added to the token: not granted');
SELECT throws_ok(
    $$SELECT pliers.create_form(p_name => 'Forged', p_slug => 't91-forged', p_definition => '{"fields": []}')$$,
    'PL008', NULL, '... and the API sees no context (PL008)');
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000007');
SET LOCAL pliers.context = '91000000-0000-0000-0000-00000000000b|91000002-0000-0000-0000-000000000001|form.view';
SELECT is(pliers.current_user_id(), NULL, 'SET LOCAL of a hand-made context: no user');
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000007');
RESET pliers.context;
SELECT is(pliers.current_organization_id(), NULL, 'RESET: no tenant');
SELECT throws_ok($$SELECT * FROM pliers.context_keys$$, '42501', NULL, 'pliers_app cannot read the signing key');
SELECT throws_ok($$SELECT pliers._store_context('91000000-0000-0000-0000-00000000000b|||||||||')$$, '42501', NULL,
    '... nor sign a context');
SELECT throws_ok($$SELECT pliers.rotate_context_key()$$, '42501', NULL, '... nor rotate the key');
RESET ROLE;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000001');
SELECT pliers.rotate_context_key();
SELECT is(pliers.current_organization_id(), NULL, 'a context opened before the key rotates ends with it');

-- The roles catalogue: no trigger fans out from it (global, a reference table on Citus);
-- a change of it reaches the stored permissions through pliers.refresh_user_permissions,
-- which the owner (or a DBA) calls, never pliers_app.
RESET ROLE;
SELECT hasnt_trigger('pliers', 'roles', 'roles_permissions', 'no trigger on pliers.roles recomputes permissions');
SELECT hasnt_function('pliers', '_roles_permissions_changed', 'the trigger function of the roles catalogue is gone');
SELECT has_function('pliers', 'refresh_user_permissions', ARRAY['text'], 'refresh_user_permissions(role) exists');
SELECT ok(
    NOT has_function_privilege('pliers_app', 'pliers.refresh_user_permissions(text)', 'EXECUTE')
    AND NOT has_function_privilege('public', 'pliers.refresh_user_permissions(text)', 'EXECUTE'),
    'refresh_user_permissions: not executable by pliers_app nor public'
);
-- A role of the catalogue held by a2 (users.roles) and by a4 (a live organization-scope
-- assignment), then given another permission.
INSERT INTO pliers.roles (name, description, permissions) VALUES ('t91_role', 'test', '{audit.view}');
UPDATE pliers.users SET roles = '{t91_role}'
WHERE organization_id = '91000000-0000-0000-0000-00000000000a' AND id = '91000001-0000-0000-0000-000000000002';
INSERT INTO pliers.role_assignments (organization_id, user_id, role) VALUES
('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000004', 't91_role');
UPDATE pliers.roles SET permissions = '{audit.view,form.create}' WHERE name = 't91_role';
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002');
SELECT is(pliers.current_permissions(), '{audit.view}'::text[],
    'a role given another permission: the stored permissions stay until refresh_user_permissions');
SELECT throws_ok($$SELECT pliers.refresh_user_permissions('t91_role')$$, '42501', NULL,
    'pliers_app cannot call refresh_user_permissions');
RESET ROLE;
SELECT is(pliers.refresh_user_permissions('t91_role'), 2::bigint,
    'refresh_user_permissions(role) recomputes the holders of the role, by users.roles and by assignment');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002');
SELECT is(pliers.current_permissions(), '{audit.view,form.create}'::text[],
    '... then set_context sees the new permissions (users.roles)');
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000004');
SELECT ok(pliers.current_permissions() @> '{audit.view,form.create}',
    '... and so does a holder through an organization-scope assignment');
RESET ROLE;
UPDATE pliers.roles SET permissions = '{audit.view}' WHERE name = 't91_role';
SELECT is(pliers.refresh_user_permissions(), (SELECT count(*) FROM pliers.users),
    'refresh_user_permissions() recomputes every user, in every tenant');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('91000000-0000-0000-0000-00000000000a', '91000001-0000-0000-0000-000000000002');
SELECT is(pliers.current_permissions(), '{audit.view}'::text[], '... the permission taken back is gone');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
