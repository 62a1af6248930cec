-- Organizations: the tenants. The only tenant-level table keyed by id alone;
-- every other tenant table carries organization_id and references this one.
-- The foreign keys of primary_contact_id, created_by and updated_by point at
-- users, which does not exist yet: 31-users.sql adds them.

CREATE TABLE pliers.organizations (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    slug pliers.slug NOT NULL,
    name varchar(255) NOT NULL,
    display_name varchar(255),
    description text,

    -- Settings and configuration
    settings jsonb NOT NULL DEFAULT '{}',
    features jsonb NOT NULL DEFAULT '{}',
    limits jsonb NOT NULL DEFAULT '{}',

    -- Subscription and billing
    plan_id uuid,
    subscription_status pliers.subscription_status NOT NULL DEFAULT 'trial',
    subscription_expires_at timestamptz,

    -- Contact information
    primary_contact_id uuid,
    billing_email pliers.email,
    support_email pliers.email,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',

    -- Optimistic concurrency
    revision integer NOT NULL DEFAULT 1,

    -- Audit fields
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by uuid,
    updated_by uuid,

    -- Suspension by the platform (pliers.suspend_organization), added by migration 0026
    suspended_at timestamptz,

    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_slug_key UNIQUE (slug),
    CONSTRAINT organization_slug_format CHECK (slug ~ '^[a-z0-9-]+$'),
    CONSTRAINT organizations_settings_object CHECK (jsonb_typeof(settings) = 'object'),
    CONSTRAINT organizations_features_object CHECK (jsonb_typeof(features) = 'object'),
    CONSTRAINT organizations_limits_object CHECK (jsonb_typeof(limits) = 'object'),
    CONSTRAINT organizations_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT organizations_tags_no_null CHECK (array_position(tags, NULL) IS NULL),
    CONSTRAINT organizations_revision_positive CHECK (revision > 0)
);

COMMENT ON TABLE pliers.organizations IS
'Tenants. Soft-deleted (deleted_at); the slug stays reserved after deletion (links and e-mails name it).';
COMMENT ON COLUMN pliers.organizations.slug IS
'URL identifier of the tenant, unique over all organizations, deleted ones included';
COMMENT ON CONSTRAINT organizations_slug_key ON pliers.organizations IS
'Seed UNIQUE (slug), kept over deleted rows too: a deleted tenant''s slug is never handed to another tenant';
COMMENT ON COLUMN pliers.organizations.settings IS
'JSON object: branding, security (mfa_required, password_policy, session_timeout_minutes), notifications';
COMMENT ON COLUMN pliers.organizations.features IS 'JSON object: feature flags enabled for this tenant';
COMMENT ON COLUMN pliers.organizations.limits IS
'JSON object: quotas (e.g. max_forms, max_submissions_per_month); exceeding one raises PL007';
COMMENT ON COLUMN pliers.organizations.plan_id IS
'Billing plan identifier, kept from the seed. No plans table exists, so it references nothing.';
COMMENT ON COLUMN pliers.organizations.primary_contact_id IS
'A user of this organization (composite FK (id, primary_contact_id) to users, added in 31-users.sql)';
COMMENT ON COLUMN pliers.organizations.revision IS
'Optimistic-concurrency token, incremented on every update (trigger organizations_revision)';
COMMENT ON COLUMN pliers.organizations.suspended_at IS
'Set while the platform suspends the organization (pliers.suspend_organization): set_context refuses its users';
COMMENT ON COLUMN pliers.organizations.created_by IS
'A user of this organization (composite FK, deferrable so sign-up can create the organization and its first user together)';

CREATE TRIGGER organizations_updated_at
BEFORE UPDATE ON pliers.organizations
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER organizations_updated_at ON pliers.organizations IS 'Maintains updated_at';

CREATE TRIGGER organizations_revision
BEFORE UPDATE ON pliers.organizations
FOR EACH ROW EXECUTE FUNCTION pliers._bump_revision();

COMMENT ON TRIGGER organizations_revision ON pliers.organizations IS 'Increments revision';

-- No secondary index: slug lookups use organizations_slug_key, and the foreign keys
-- (id, primary_contact_id), (id, created_by), (id, updated_by) are served by the primary key.
