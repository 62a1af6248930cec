-- Users belong to exactly one organization. Also adds the foreign keys of
-- organizations that point at users (primary contact and actor columns).

CREATE TABLE pliers.users (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),

    -- Authentication
    email pliers.email NOT NULL,
    username varchar(255),
    auth_data jsonb NOT NULL DEFAULT '{}',

    -- Profile
    first_name varchar(255),
    last_name varchar(255),
    display_name varchar(255),
    avatar_url pliers.url,
    profile jsonb NOT NULL DEFAULT '{}',

    -- Status and roles
    status pliers.user_status NOT NULL DEFAULT 'active',
    roles text[] NOT NULL DEFAULT '{}',
    permissions jsonb NOT NULL DEFAULT '{}',

    -- Preferences
    preferences jsonb NOT NULL DEFAULT '{}',
    timezone varchar(100) NOT NULL DEFAULT 'UTC',
    locale varchar(10) NOT NULL DEFAULT 'en-US',

    -- Security
    last_login_at timestamptz,
    last_activity_at timestamptz,
    password_changed_at timestamptz,
    mfa_enabled boolean NOT NULL DEFAULT FALSE,
    mfa_settings jsonb NOT NULL DEFAULT '{}',

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',

    -- Optimistic concurrency
    revision integer NOT NULL DEFAULT 1,

    -- Audit fields
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by uuid,
    updated_by uuid,

    CONSTRAINT users_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT users_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT users_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT users_updated_by_fkey FOREIGN KEY (organization_id, updated_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT users_username_not_blank CHECK (btrim(username) <> ''),
    CONSTRAINT users_locale_format CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
    CONSTRAINT users_deleted_consistent CHECK ((status = 'deleted') = (deleted_at IS NOT NULL)),
    CONSTRAINT users_auth_data_object CHECK (jsonb_typeof(auth_data) = 'object'),
    CONSTRAINT users_profile_object CHECK (jsonb_typeof(profile) = 'object'),
    CONSTRAINT users_permissions_object CHECK (jsonb_typeof(permissions) = 'object'),
    CONSTRAINT users_preferences_object CHECK (jsonb_typeof(preferences) = 'object'),
    CONSTRAINT users_mfa_settings_object CHECK (jsonb_typeof(mfa_settings) = 'object'),
    CONSTRAINT users_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT users_roles_no_null CHECK (array_position(roles, NULL) IS NULL),
    CONSTRAINT users_revision_positive CHECK (revision > 0)
);

COMMENT ON TABLE pliers.users IS
'Users of one organization. Soft-deleted: deleted_at set together with status deleted; a deleted user''s e-mail and username can be used again.';
COMMENT ON COLUMN pliers.users.email IS
'Login e-mail, unique per organization among non-deleted users, case-insensitively (unique_email_per_org)';
COMMENT ON COLUMN pliers.users.username IS
'Optional handle, unique per organization among non-deleted users, case-insensitively (unique_username_per_org)';
COMMENT ON COLUMN pliers.users.auth_data IS
'JSON object: identity-provider data (external ids, password hash). Secret: never copied to audit_logs.';
COMMENT ON COLUMN pliers.users.status IS 'pending = invited, not yet activated; deleted iff deleted_at is set';
COMMENT ON COLUMN pliers.users.roles IS 'Organization-wide role names; scoped roles are in role_assignments';
COMMENT ON COLUMN pliers.users.permissions IS 'JSON object: permission overrides for this user';
COMMENT ON COLUMN pliers.users.timezone IS 'IANA time-zone name (not checked against pg_timezone_names)';
COMMENT ON COLUMN pliers.users.locale IS 'BCP 47 language tag, e.g. en-US';
COMMENT ON COLUMN pliers.users.mfa_settings IS 'JSON object: MFA factors and their secrets. Secret: never copied to audit_logs.';
COMMENT ON COLUMN pliers.users.revision IS
'Optimistic-concurrency token, incremented on every update (trigger users_revision)';

CREATE TRIGGER users_updated_at
BEFORE UPDATE ON pliers.users
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER users_updated_at ON pliers.users IS 'Maintains updated_at';

CREATE TRIGGER users_revision
BEFORE UPDATE ON pliers.users
FOR EACH ROW EXECUTE FUNCTION pliers._bump_revision();

COMMENT ON TRIGGER users_revision ON pliers.users IS 'Increments revision';

-- Login and invitation: find the live user with this e-mail in the tenant; one live user per e-mail.
CREATE UNIQUE INDEX unique_email_per_org ON pliers.users (organization_id, lower(email))
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.unique_email_per_org IS
'Seed rule unique_email_per_org, case-insensitive and among non-deleted users only (a deleted user can be invited again)';

-- Find the live user by username in the tenant; one live user per username.
CREATE UNIQUE INDEX unique_username_per_org ON pliers.users (organization_id, lower(username))
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.unique_username_per_org IS
'Seed rule unique_username_per_org, case-insensitive and among non-deleted users only; NULL usernames do not collide';

-- FK users_created_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX users_created_by_idx ON pliers.users (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.users_created_by_idx IS 'Serves FK users_created_by_fkey';

-- FK users_updated_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX users_updated_by_idx ON pliers.users (organization_id, updated_by)
WHERE updated_by IS NOT NULL;

COMMENT ON INDEX pliers.users_updated_by_idx IS 'Serves FK users_updated_by_fkey';

-- Foreign keys of organizations to users (users did not exist in 30-organizations.sql).
-- Composite (id, x) -> users (organization_id, id): the contact and the actors are users
-- of the same organization. DEFERRABLE: sign-up may insert the organization naming its
-- first user, then the user, in one transaction with SET CONSTRAINTS ... DEFERRED.
-- The primary key of organizations serves these (id leads), no extra index.
ALTER TABLE pliers.organizations
ADD CONSTRAINT organizations_primary_contact_id_fkey
FOREIGN KEY (id, primary_contact_id)
REFERENCES pliers.users (organization_id, id)
DEFERRABLE INITIALLY IMMEDIATE;

ALTER TABLE pliers.organizations
ADD CONSTRAINT organizations_created_by_fkey
FOREIGN KEY (id, created_by)
REFERENCES pliers.users (organization_id, id)
DEFERRABLE INITIALLY IMMEDIATE;

ALTER TABLE pliers.organizations
ADD CONSTRAINT organizations_updated_by_fkey
FOREIGN KEY (id, updated_by)
REFERENCES pliers.users (organization_id, id)
DEFERRABLE INITIALLY IMMEDIATE;
