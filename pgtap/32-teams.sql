-- pliers.teams, pliers.team_members, pliers.role_assignments (sql/32-teams.sql):
-- columns, tenant keys, CHECKs, the partial unique rules (a removed member can
-- rejoin, a revoked role can be granted again, NULLS NOT DISTINCT on org-wide
-- roles), cross-tenant foreign keys, cascades, NO ACTION on actor references and the
-- updated_at trigger.
BEGIN;
SELECT plan(120);

-- Structure: teams ------------------------------------------------------------------

SELECT has_table('pliers', 'teams', 'pliers.teams exists');
SELECT columns_are('pliers', 'teams', ARRAY[
    'organization_id', 'id', 'name', 'slug', 'description', 'metadata',
    'created_at', 'updated_at', 'deleted_at', 'created_by', 'updated_by'
], 'teams has the expected columns');
SELECT col_is_pk('pliers', 'teams', ARRAY['organization_id', 'id'], 'teams is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'teams', 'slug', 'pliers.slug', 'teams.slug uses domain slug');
SELECT col_type_is('pliers', 'teams', 'name', 'character varying(255)', 'teams.name is varchar(255)');
SELECT col_type_is('pliers', 'teams', 'metadata', 'jsonb', 'teams.metadata is jsonb');
SELECT col_not_null('pliers', 'teams', 'name', 'teams.name is NOT NULL');
SELECT col_not_null('pliers', 'teams', 'slug', 'teams.slug is NOT NULL');
SELECT col_not_null('pliers', 'teams', 'metadata', 'teams.metadata is NOT NULL');
SELECT col_default_is('pliers', 'teams', 'metadata', '{}', 'teams.metadata defaults to {}');
SELECT fk_ok('pliers', 'teams', ARRAY['organization_id'], 'pliers', 'organizations', ARRAY['id'],
    'teams.organization_id references organizations');
SELECT fk_ok('pliers', 'teams', ARRAY['organization_id', 'created_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'teams.created_by is a user of the same organization');
SELECT fk_ok('pliers', 'teams', ARRAY['organization_id', 'updated_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'teams.updated_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.teams'::regclass AND contype <> 'n'$$,
    ARRAY['teams_pkey', 'teams_organization_id_fkey', 'teams_created_by_fkey', 'teams_updated_by_fkey',
        'teams_metadata_object'],
    'teams has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'teams', ARRAY['teams_pkey', 'teams_slug_idx', 'teams_created_by_idx',
    'teams_updated_by_idx'],
    'teams has the expected indexes');
SELECT index_is_unique('pliers', 'teams', 'teams_slug_idx', 'teams_slug_idx is unique');
SELECT triggers_are('pliers', 'teams', ARRAY['teams_updated_at', 'teams_audit'], 'teams has the updated_at and audit triggers');
SELECT trigger_is('pliers', 'teams', 'teams_updated_at', 'pliers', '_set_updated_at',
    'teams_updated_at runs _set_updated_at()');

-- Structure: team_members -------------------------------------------------------------

SELECT has_table('pliers', 'team_members', 'pliers.team_members exists');
SELECT columns_are('pliers', 'team_members', ARRAY[
    'organization_id', 'id', 'team_id', 'user_id', 'role', 'joined_at', 'removed_at'
], 'team_members has the seed columns');
SELECT col_is_pk('pliers', 'team_members', ARRAY['organization_id', 'id'],
    'team_members is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'team_members', 'role', 'pliers.team_role', 'team_members.role uses enum team_role');
SELECT col_not_null('pliers', 'team_members', 'role', 'team_members.role is NOT NULL');
SELECT col_not_null('pliers', 'team_members', 'team_id', 'team_members.team_id is NOT NULL');
SELECT col_not_null('pliers', 'team_members', 'user_id', 'team_members.user_id is NOT NULL');
SELECT col_default_is('pliers', 'team_members', 'role', 'member', 'team_members.role defaults to member');
SELECT col_default_is('pliers', 'team_members', 'joined_at', 'now()', 'team_members.joined_at defaults to now()');
SELECT fk_ok('pliers', 'team_members', ARRAY['organization_id', 'team_id'], 'pliers', 'teams',
    ARRAY['organization_id', 'id'], 'team_members.team_id is a team of the same organization');
SELECT fk_ok('pliers', 'team_members', ARRAY['organization_id', 'user_id'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'team_members.user_id is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.team_members'::regclass AND contype <> 'n'$$,
    ARRAY['team_members_pkey', 'team_members_organization_id_fkey', 'team_members_team_id_fkey',
        'team_members_user_id_fkey', 'team_members_removed_after_joined'],
    'team_members has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'team_members', ARRAY[
    'team_members_pkey', 'unique_team_member', 'team_members_team_id_idx', 'team_members_user_id_idx'
], 'team_members has the expected indexes');
SELECT index_is_unique('pliers', 'team_members', 'unique_team_member', 'unique_team_member is unique');
SELECT triggers_are('pliers', 'team_members', ARRAY['team_members_audit'], 'team_members has the audit trigger only');

-- Structure: roles (the catalogue role_assignments.role refers to) -------------------------

SELECT has_table('pliers', 'roles', 'pliers.roles exists');
SELECT columns_are('pliers', 'roles', ARRAY['name', 'description', 'permissions'], 'roles has the expected columns');
SELECT col_is_pk('pliers', 'roles', 'name', 'roles is keyed by name');
SELECT hasnt_column('pliers', 'roles', 'organization_id', 'roles is global (the same for every tenant)');
SELECT col_type_is('pliers', 'roles', 'name', 'character varying(100)',
    'roles.name is varchar(100), as role_assignments.role');
SELECT col_type_is('pliers', 'roles', 'permissions', 'text[]', 'roles.permissions is text[]');
SELECT col_not_null('pliers', 'roles', 'permissions', 'roles.permissions is NOT NULL');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.roles'::regclass AND contype <> 'n'$$,
    ARRAY['roles_pkey', 'roles_name_format', 'roles_permissions_no_null', 'roles_permissions_format'],
    'roles has exactly the expected constraints'
);
SELECT set_has(
    $$SELECT name::text FROM pliers.roles$$,
    $$SELECT unnest(ARRAY['org_owner', 'org_admin', 'form_manager', 'form_editor', 'submission_reviewer', 'viewer',
                          'member'])$$,
    'the built-in roles are in the catalogue'
);
SELECT is_empty(
    $$SELECT p FROM pliers.roles, unnest(permissions) AS p
      EXCEPT SELECT unnest(permissions) FROM pliers.roles WHERE name = 'org_owner'$$,
    'org_owner holds every permission any built-in role grants'
);

-- Structure: role_assignments -----------------------------------------------------------

SELECT has_table('pliers', 'role_assignments', 'pliers.role_assignments exists');
SELECT columns_are('pliers', 'role_assignments', ARRAY[
    'organization_id', 'id', 'user_id', 'role', 'scope_type', 'scope_id',
    'granted_by', 'granted_at', 'expires_at', 'revoked_at', 'revoked_by'
], 'role_assignments has the seed columns');
SELECT col_is_pk('pliers', 'role_assignments', ARRAY['organization_id', 'id'],
    'role_assignments is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'role_assignments', 'role', 'character varying(100)', 'role is varchar(100)');
SELECT col_type_is('pliers', 'role_assignments', 'scope_type', 'pliers.scope_type', 'scope_type uses enum scope_type');
SELECT col_type_is('pliers', 'role_assignments', 'scope_id', 'uuid', 'scope_id is uuid');
SELECT col_not_null('pliers', 'role_assignments', 'scope_type', 'scope_type is NOT NULL');
SELECT col_is_null('pliers', 'role_assignments', 'scope_id', 'scope_id is nullable (organization scope)');
SELECT col_default_is('pliers', 'role_assignments', 'scope_type', 'organization',
    'scope_type defaults to organization');
SELECT fk_ok('pliers', 'role_assignments', ARRAY['organization_id', 'user_id'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'role_assignments.user_id is a user of the same organization');
SELECT fk_ok('pliers', 'role_assignments', 'role', 'pliers', 'roles', 'name',
    'role_assignments.role is a role of the catalogue');
SELECT fk_ok('pliers', 'role_assignments', ARRAY['organization_id', 'granted_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'role_assignments.granted_by is a user of the same organization');
SELECT fk_ok('pliers', 'role_assignments', ARRAY['organization_id', 'revoked_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'role_assignments.revoked_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.role_assignments'::regclass AND contype <> 'n'$$,
    ARRAY['role_assignments_pkey', 'role_assignments_organization_id_fkey', 'role_assignments_user_id_fkey',
        'role_assignments_role_fkey', 'role_assignments_granted_by_fkey', 'role_assignments_revoked_by_fkey',
            'role_assignments_role_not_blank',
        'role_assignments_scope_consistent', 'role_assignments_expires_after_granted',
        'role_assignments_revoked_after_granted', 'role_assignments_revoked_by_needs_revoked_at'],
    'role_assignments has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'role_assignments', ARRAY[
    'role_assignments_pkey', 'unique_role_assignment', 'role_assignments_user_id_idx', 'role_assignments_scope_idx',
    'role_assignments_granted_by_idx', 'role_assignments_revoked_by_idx'
], 'role_assignments has the expected indexes');
SELECT index_is_unique('pliers', 'role_assignments', 'unique_role_assignment', 'unique_role_assignment is unique');
SELECT ok(
    (SELECT indnullsnotdistinct FROM pg_catalog.pg_index WHERE indexrelid = 'pliers.unique_role_assignment'::regclass),
    'unique_role_assignment is NULLS NOT DISTINCT'
);
SELECT triggers_are('pliers', 'role_assignments', ARRAY['role_assignments_audit', 'role_assignments_permissions'],
    'role_assignments has the audit trigger and that of user_permissions (sql/91)');

-- Fixture: organizations A and B, users ann and bob in A, cat in B, a team in each --------

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'teams-test-a', 'Teams test A'),
('00000000-0000-0000-0000-0000000000b0', 'teams-test-b', 'Teams test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com'),
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'bob@example.com'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com');
INSERT INTO pliers.teams (organization_id, id, name, slug, created_by, created_at, updated_at) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1', 'Support', 'support',
    '00000001-0000-0000-0000-0000000000a1', '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000b0', '00000002-0000-0000-0000-0000000000b1', 'Support', 'support', NULL,
    '2001-01-01', '2001-01-01');

-- teams: CHECKs, unique slug, tenant keys, trigger ----------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a0', 'S',
        'Sales Team')$$,
    '23514', NULL, 'a team slug that is not a slug is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'S', 'sales', '[]')$$,
    '23514', NULL, 'teams.metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, slug) VALUES ('00000000-0000-0000-0000-0000000000a0', 'sales')$$,
    '23502', NULL, 'a team needs a name'
);
SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a0', 'S 2',
        'support')$$,
    '23505', NULL, 'two live teams of an organization cannot share a slug'
);
SELECT lives_ok(
    $$UPDATE pliers.teams SET deleted_at = now()
      WHERE organization_id = '00000000-0000-0000-0000-0000000000b0' AND id = '00000002-0000-0000-0000-0000000000b1'$$,
    'a team is soft-deleted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.teams (organization_id, id, name, slug)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000002-0000-0000-0000-0000000000b2', 'Support', 'support')$$,
    'a deleted team''s slug can be used again (and another organization''s slug too)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Sales', 'sales', '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'teams.created_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.teams SET updated_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000002-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'teams.updated_by cannot be a user of another organization'
);
UPDATE pliers.teams SET description = 'First line', updated_at = '1999-01-01'
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000002-0000-0000-0000-0000000000a1';
SELECT row_eq(
    $$SELECT description, updated_at, created_at FROM pliers.teams WHERE id = '00000002-0000-0000-0000-0000000000a1'$$,
    ROW('First line'::text, now(), '2001-01-01'::timestamptz),
    'UPDATE of a team keeps the change and sets updated_at to now()'
);

-- team_members ------------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.team_members (organization_id, id, team_id, user_id, role, joined_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000e-0000-0000-0000-0000000000a1',
        '00000002-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a1', 'owner', '2001-01-01')$$,
    'a user joins a team of the same organization'
);
SELECT is(
    (SELECT role FROM pliers.team_members WHERE id = '0000000e-0000-0000-0000-0000000000a1'), 'owner'::pliers.team_role,
    'the member row keeps its role'
);
SELECT throws_ok(
    $$INSERT INTO pliers.team_members (organization_id, team_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000a2', 'guest')$$,
    '22P02', NULL, 'an unknown team role is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.team_members (organization_id, team_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000a2', NULL)$$,
    '23502', NULL, 'the team role cannot be NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.team_members (organization_id, team_id, user_id, joined_at, removed_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000a2', '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'removed_at before joined_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.team_members (organization_id, team_id, user_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000b2',
        '00000001-0000-0000-0000-0000000000a2')$$,
    '23503', NULL, 'a member of organization A cannot join a team of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.team_members (organization_id, team_id, user_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'a user of organization B cannot join a team of organization A'
);
SELECT throws_ok(
    $$INSERT INTO pliers.team_members (organization_id, team_id, user_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23505', NULL, 'a current member cannot be added twice'
);
SELECT lives_ok(
    $$UPDATE pliers.team_members SET removed_at = now() WHERE id = '0000000e-0000-0000-0000-0000000000a1'$$,
    'a member is removed (removed_at set)'
);
SELECT lives_ok(
    $$INSERT INTO pliers.team_members (organization_id, id, team_id, user_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000e-0000-0000-0000-0000000000a2',
        '00000002-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a1')$$,
    'a removed member can be added again (the removed row stays as history)'
);
SELECT throws_ok(
    $$UPDATE pliers.team_members SET removed_at = NULL WHERE id = '0000000e-0000-0000-0000-0000000000a1'$$,
    '23505', NULL, 'the old membership cannot be revived while the new one is current'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.team_members
     WHERE team_id = '00000002-0000-0000-0000-0000000000a1' AND user_id = '00000001-0000-0000-0000-0000000000a1'),
    2, 'the removed and the current membership both exist'
);

-- roles ----------------------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.roles (name, description, permissions)
      VALUES ('auditor', 'Reads the audit log', '{audit.view,form.view}')$$,
    'a role with a lower-case name and <object>.<action> permissions is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('nobody', 'No permission', '{}')$$,
    'a role without permissions is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('Form Admin', 'x', '{}')$$,
    '23514', NULL, 'a role name with capitals or spaces is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('x1', 'x', ARRAY['form.view', NULL])$$,
    '23514', NULL, 'a NULL permission is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('x1', 'x', '{form}')$$,
    '23514', NULL, 'a permission without action is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('x1', 'x', '{Form.View}')$$,
    '23514', NULL, 'an upper-case permission is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('x1', 'x', '{"form.view form.edit"}')$$,
    '23514', NULL, 'two permissions in one element are rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.roles (name, description, permissions) VALUES ('viewer', 'again', '{}')$$,
    '23505', NULL, 'a role name exists once'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'superuser')$$,
    '23503', NULL, 'a role that is not in the catalogue cannot be granted'
);

-- role_assignments ----------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, id, user_id, role, granted_by, granted_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000d-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000a2', 'form_editor', '00000001-0000-0000-0000-0000000000a1', '2001-01-01')$$,
    'an organization-wide role is granted (scope_type defaults to organization, scope_id NULL)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'form_editor')$$,
    '23505', NULL, 'the same organization-wide role cannot be granted twice (NULLS NOT DISTINCT)'
);
SELECT lives_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type, scope_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'form_editor', 'form',
        '00000003-0000-0000-0000-0000000000a1')$$,
    'the same role on one form is another assignment'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type, scope_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'form_editor', 'form',
        '00000003-0000-0000-0000-0000000000a1')$$,
    '23505', NULL, 'the same role on the same form cannot be granted twice'
);
SELECT lives_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type, scope_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'form_editor', 'team',
        '00000003-0000-0000-0000-0000000000a1')$$,
    'the same role and scope_id under another scope_type is another assignment'
);
SELECT lives_ok(
    $$UPDATE pliers.role_assignments SET revoked_at = now(), revoked_by = '00000001-0000-0000-0000-0000000000a1'
      WHERE id = '0000000d-0000-0000-0000-0000000000a1'$$,
    'an assignment is revoked'
);
SELECT lives_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'form_editor')$$,
    'a revoked organization-wide role can be granted again'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', '  ')$$,
    '23514', NULL, 'a blank role name is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer', 'submission')$$,
    '22P02', NULL, 'an unknown scope_type is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer', NULL)$$,
    '23502', NULL, 'scope_type cannot be NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer', 'form')$$,
    '23514', NULL, 'a form-scoped role needs a scope_id'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, scope_type, scope_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer', 'organization',
        '00000000-0000-0000-0000-0000000000a0')$$,
    '23514', NULL, 'an organization-scoped role has no scope_id'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, granted_at, expires_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer',
        '2001-01-02', '2001-01-02')$$,
    '23514', NULL, 'expires_at must be after granted_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, granted_at, revoked_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer',
        '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'revoked_at before granted_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, revoked_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'revoked_by without revoked_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000b1', 'viewer')$$,
    '23503', NULL, 'a role cannot be granted to a user of another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, granted_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'granted_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.role_assignments (organization_id, user_id, role, revoked_at, revoked_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'viewer', now(),
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'revoked_by cannot be a user of another organization'
);

SELECT throws_ok(
    $$DELETE FROM pliers.roles WHERE name = 'form_editor'$$,
    '23503', NULL, 'a role that is assigned cannot be removed from the catalogue'
);

-- Deletes: cascades, and NO ACTION on the actor references -----------------------------------

SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23503', NULL,
    'a user still referenced as a team''s creator and as granter and revoker of roles cannot be hard-deleted'
);
SELECT row_eq(
    $$SELECT organization_id, created_by FROM pliers.teams WHERE id = '00000002-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a1'::uuid),
    'teams.created_by keeps the user'
);
SELECT row_eq(
    $$SELECT organization_id, user_id, granted_by, revoked_by FROM pliers.role_assignments
      WHERE id = '0000000d-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a2'::uuid,
        '00000001-0000-0000-0000-0000000000a1'::uuid, '00000001-0000-0000-0000-0000000000a1'::uuid),
    'role_assignments.granted_by and revoked_by keep the user'
);
UPDATE pliers.teams SET created_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND created_by = '00000001-0000-0000-0000-0000000000a1';
UPDATE pliers.role_assignments SET granted_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND granted_by = '00000001-0000-0000-0000-0000000000a1';
UPDATE pliers.role_assignments SET revoked_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND revoked_by = '00000001-0000-0000-0000-0000000000a1';
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    'once nothing references it, a user who is a team member can be hard-deleted'
);
SELECT is_empty(
    $$SELECT FROM pliers.team_members WHERE user_id = '00000001-0000-0000-0000-0000000000a1'$$,
    'the user''s memberships are deleted with the user'
);
SELECT row_eq(
    $$SELECT t.organization_id, ra.organization_id, ra.user_id
      FROM pliers.teams AS t, pliers.role_assignments AS ra
      WHERE t.id = '00000002-0000-0000-0000-0000000000a1' AND ra.id = '0000000d-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000000-0000-0000-0000-0000000000a0'::uuid,
        '00000001-0000-0000-0000-0000000000a2'::uuid),
    'the team and the assignment stay, in their organization'
);
INSERT INTO pliers.team_members (organization_id, team_id, user_id) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1',
    '00000001-0000-0000-0000-0000000000a2');
SELECT lives_ok(
    $$DELETE FROM pliers.teams
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000002-0000-0000-0000-0000000000a1'$$,
    'a team with members can be hard-deleted (DELETE with a BEFORE UPDATE trigger)'
);
SELECT is_empty(
    $$SELECT FROM pliers.team_members WHERE team_id = '00000002-0000-0000-0000-0000000000a1'$$,
    'the team''s memberships are deleted with the team'
);
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    'a user holding role assignments can be hard-deleted'
);
SELECT is_empty(
    $$SELECT FROM pliers.role_assignments WHERE user_id = '00000001-0000-0000-0000-0000000000a2'$$,
    'the user''s role assignments are deleted with the user'
);

SELECT * FROM finish();
ROLLBACK;
