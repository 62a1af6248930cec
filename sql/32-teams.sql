-- Teams (missing from the seed, which references them from team_members and
-- submissions.assigned_team), their members, the catalogue of roles, and scoped
-- role assignments. What a role lets a user do is decided by pliers.has_permission
-- (sql/91-tenancy.sql); docs/security.md lists the roles and permissions.

CREATE TABLE pliers.teams (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name varchar(255) NOT NULL,
    slug pliers.slug NOT NULL,
    description text,
    metadata jsonb NOT NULL DEFAULT '{}',

    -- Audit fields
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by uuid,
    updated_by uuid,

    CONSTRAINT teams_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT teams_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT teams_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT teams_updated_by_fkey FOREIGN KEY (organization_id, updated_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT teams_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

COMMENT ON TABLE pliers.teams IS
'Groups of users of one organization (not in the seed). Soft-deleted; submissions can be assigned to a team.';
COMMENT ON COLUMN pliers.teams.slug IS 'Unique per organization among non-deleted teams (teams_slug_idx)';

CREATE TRIGGER teams_updated_at
BEFORE UPDATE ON pliers.teams
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER teams_updated_at ON pliers.teams IS 'Maintains updated_at';

-- Find a live team by slug; one live team per slug in a tenant.
CREATE UNIQUE INDEX teams_slug_idx ON pliers.teams (organization_id, slug)
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.teams_slug_idx IS 'One non-deleted team per slug and organization; slug lookups';

-- FK teams_created_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX teams_created_by_idx ON pliers.teams (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.teams_created_by_idx IS 'Serves FK teams_created_by_fkey';

-- FK teams_updated_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX teams_updated_by_idx ON pliers.teams (organization_id, updated_by)
WHERE updated_by IS NOT NULL;

COMMENT ON INDEX pliers.teams_updated_by_idx IS 'Serves FK teams_updated_by_fkey';

-- Team members --------------------------------------------------------------

CREATE TABLE pliers.team_members (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role pliers.team_role NOT NULL DEFAULT 'member',
    joined_at timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,

    CONSTRAINT team_members_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT team_members_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT team_members_team_id_fkey FOREIGN KEY (organization_id, team_id)
    REFERENCES pliers.teams (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT team_members_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT team_members_removed_after_joined CHECK (removed_at >= joined_at)
);

COMMENT ON TABLE pliers.team_members IS
'Membership of a user in a team. Removing sets removed_at (the row stays as history); a removed user can join again.';
COMMENT ON COLUMN pliers.team_members.removed_at IS 'Set when the user leaves the team; NULL = current member';

-- A team's current members, and the FK team_members_team_id_fkey (CASCADE); one current membership per user.
CREATE UNIQUE INDEX unique_team_member ON pliers.team_members (organization_id, team_id, user_id)
WHERE removed_at IS NULL;

COMMENT ON INDEX pliers.unique_team_member IS
'Seed rule unique_team_member, among current (not removed) memberships only; lists a team''s members';

-- FK team_members_team_id_fkey, over current and removed rows (the unique index above is partial).
CREATE INDEX team_members_team_id_idx ON pliers.team_members (organization_id, team_id);

COMMENT ON INDEX pliers.team_members_team_id_idx IS 'Serves FK team_members_team_id_fkey (ON DELETE CASCADE)';

-- "The teams of this user" (permission checks, assignment lists) and FK team_members_user_id_fkey.
CREATE INDEX team_members_user_id_idx ON pliers.team_members (organization_id, user_id, team_id);

COMMENT ON INDEX pliers.team_members_user_id_idx IS
'Teams of a user; serves FK team_members_user_id_fkey (ON DELETE CASCADE)';

-- Roles catalogue -------------------------------------------------------------

CREATE TABLE pliers.roles (
    name varchar(100) NOT NULL,
    description text NOT NULL,
    permissions text[] NOT NULL,

    CONSTRAINT roles_pkey PRIMARY KEY (name),
    CONSTRAINT roles_name_format CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT roles_permissions_no_null CHECK (array_position(permissions, NULL) IS NULL),
    -- Each element is <object>.<action>: the joined list matches the pattern, and splitting
    -- it again gives the same elements (so no element holds two permissions).
    CONSTRAINT roles_permissions_format CHECK (
        array_to_string(permissions, ' ') ~ '^([a-z][a-z_]*\.[a-z][a-z_]*( |$))*$'
        AND permissions = string_to_array(array_to_string(permissions, ' '), ' ')
    )
);

COMMENT ON TABLE pliers.roles IS
'Catalogue of roles and the permissions each grants (not in the seed). Global: the same for every tenant '
'(a Citus reference-table candidate). Named by users.roles (organization-wide) and role_assignments.role (scoped). '
'Maintained by the DBA as pliers_owner; the application can only read it.';
COMMENT ON COLUMN pliers.roles.name IS 'Role name, e.g. form_editor; referenced by role_assignments.role';
COMMENT ON COLUMN pliers.roles.permissions IS
'Permissions granted by the role, <object>.<action> (e.g. form.publish); see docs/security.md for the list';

-- The built-in roles. org_owner holds every permission: its list is the permission catalogue.
INSERT INTO pliers.roles (name, description, permissions) VALUES
(
    'org_owner', 'Owns the organization: every permission, including organization.manage',
    ARRAY[
        'organization.manage', 'user.manage', 'team.manage',
        'form.create', 'form.view', 'form.edit', 'form.publish', 'form.delete',
        'submission.create', 'submission.view', 'submission.update', 'submission.delete',
        'workflow.view', 'workflow.manage', 'workflow.execute',
        'api_key.manage', 'webhook.manage', 'plugin.manage', 'audit.view', 'user.erase'
    ]
),
(
    'org_admin', 'Administers the organization: everything except organization.manage',
    ARRAY[
        'user.manage', 'team.manage',
        'form.create', 'form.view', 'form.edit', 'form.publish', 'form.delete',
        'submission.create', 'submission.view', 'submission.update', 'submission.delete',
        'workflow.view', 'workflow.manage', 'workflow.execute',
        'api_key.manage', 'webhook.manage', 'plugin.manage', 'audit.view'
    ]
),
(
    'form_manager', 'Creates, edits, publishes and deletes forms and their workflows; handles their submissions',
    ARRAY[
        'form.create', 'form.view', 'form.edit', 'form.publish', 'form.delete',
        'submission.create', 'submission.view', 'submission.update', 'submission.delete',
        'workflow.view', 'workflow.manage', 'workflow.execute'
    ]
),
(
    'form_editor', 'Creates and edits forms, does not publish them nor read their submissions',
    ARRAY['form.create', 'form.view', 'form.edit', 'submission.create']
),
(
    'submission_reviewer', 'Reads and processes submissions (status, assignment)',
    ARRAY['form.view', 'submission.create', 'submission.view', 'submission.update']
),
(
    'viewer', 'Reads forms, submissions and workflows',
    ARRAY['form.view', 'submission.view', 'workflow.view']
),
(
    'member', 'Sees forms and submits them',
    ARRAY['form.view', 'submission.create']
);

-- Role assignments -----------------------------------------------------------

CREATE TABLE pliers.role_assignments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    role varchar(100) NOT NULL,
    scope_type pliers.scope_type NOT NULL DEFAULT 'organization',
    scope_id uuid,
    granted_by uuid,
    granted_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid,

    CONSTRAINT role_assignments_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT role_assignments_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT role_assignments_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT role_assignments_role_fkey FOREIGN KEY (role)
    REFERENCES pliers.roles (name),
    CONSTRAINT role_assignments_granted_by_fkey FOREIGN KEY (organization_id, granted_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT role_assignments_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT role_assignments_role_not_blank CHECK (btrim(role) <> ''),
    CONSTRAINT role_assignments_scope_consistent CHECK (
        (scope_type = 'organization') = (scope_id IS NULL)
    ),
    CONSTRAINT role_assignments_expires_after_granted CHECK (expires_at > granted_at),
    CONSTRAINT role_assignments_revoked_after_granted CHECK (revoked_at >= granted_at),
    CONSTRAINT role_assignments_revoked_by_needs_revoked_at CHECK (
        revoked_by IS NULL OR revoked_at IS NOT NULL
    )
);

COMMENT ON TABLE pliers.role_assignments IS
'A role granted to a user, organization-wide or on one form, workflow or team. Revoking sets revoked_at; the row stays as history.';
COMMENT ON COLUMN pliers.role_assignments.role IS
'A role of the catalogue pliers.roles (FK role_assignments_role_fkey; the seed had no list), e.g. form_editor';
COMMENT ON COLUMN pliers.role_assignments.scope_type IS
'What the role applies to. organization = the whole tenant, with scope_id NULL (the seed allowed a NULL scope_type too; pliersdb has one spelling)';
COMMENT ON COLUMN pliers.role_assignments.scope_id IS
'id of the form, workflow or team named by scope_type; NULL for organization scope. Polymorphic: no FK, the API checks it exists.';
COMMENT ON COLUMN pliers.role_assignments.expires_at IS 'The assignment stops applying at this time; NULL = no expiry';
COMMENT ON COLUMN pliers.role_assignments.revoked_at IS 'Set when revoked; NULL = in force (unless expired)';

-- Permission checks: the live roles of a user on a scope; one live assignment per (user, role, scope).
CREATE UNIQUE INDEX unique_role_assignment ON pliers.role_assignments (
    organization_id, user_id, role, scope_type, scope_id
) NULLS NOT DISTINCT
WHERE revoked_at IS NULL;

COMMENT ON INDEX pliers.unique_role_assignment IS
'Seed rule unique_role_assignment, NULLS NOT DISTINCT (an organization-scope role, scope_id NULL, cannot be granted twice), among non-revoked rows only';

-- FK role_assignments_user_id_fkey over revoked rows too, and a user's assignment history.
CREATE INDEX role_assignments_user_id_idx ON pliers.role_assignments (organization_id, user_id, granted_at DESC);

COMMENT ON INDEX pliers.role_assignments_user_id_idx IS
'Assignment history of a user; serves FK role_assignments_user_id_fkey (ON DELETE CASCADE)';

-- "Who holds a role on this form/workflow/team" (collaborator lists, cleanup when the object is deleted).
CREATE INDEX role_assignments_scope_idx ON pliers.role_assignments (organization_id, scope_type, scope_id)
WHERE revoked_at IS NULL AND scope_id IS NOT NULL;

COMMENT ON INDEX pliers.role_assignments_scope_idx IS 'Live role holders of one form, workflow or team';

-- FK role_assignments_role_fkey has no index of its own: a role is removed from the
-- catalogue by a DBA, rarely, and that one check may scan role_assignments.

-- FK role_assignments_granted_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX role_assignments_granted_by_idx ON pliers.role_assignments (organization_id, granted_by)
WHERE granted_by IS NOT NULL;

COMMENT ON INDEX pliers.role_assignments_granted_by_idx IS
'Serves FK role_assignments_granted_by_fkey';

-- FK role_assignments_revoked_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX role_assignments_revoked_by_idx ON pliers.role_assignments (organization_id, revoked_by)
WHERE revoked_by IS NOT NULL;

COMMENT ON INDEX pliers.role_assignments_revoked_by_idx IS
'Serves FK role_assignments_revoked_by_fkey';
