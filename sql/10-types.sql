-- Domains and enum types. Every value list of the seed is an enum here, and
-- only here: the tables use the types, they repeat no CHECK (... IN (...)).
-- Adding a value later is cheap (ALTER TYPE ... ADD VALUE); removing one is not,
-- so the lists hold only what the seed names, plus the lists pliersdb decided
-- (subscription_status, form_visibility), documented in docs/deviations.md.

-- Domains ------------------------------------------------------------------

CREATE DOMAIN pliers.email AS varchar(255)
CONSTRAINT email_format CHECK (
    value ~ '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$'
);

COMMENT ON DOMAIN pliers.email IS
'An e-mail address (seed pattern). Stored as typed; uniqueness is case-insensitive (unique indexes on lower(email)).';

CREATE DOMAIN pliers.url AS text
CONSTRAINT url_format CHECK (value ~ '^https?://');

COMMENT ON DOMAIN pliers.url IS
'An absolute http(s) URL. Only the scheme is checked: no javascript:, data: or relative links.';

CREATE DOMAIN pliers.semver AS varchar(20)
CONSTRAINT semver_format CHECK (value ~ '^\d+\.\d+\.\d+(-[a-z0-9]+)?$');

COMMENT ON DOMAIN pliers.semver IS
'A semantic version MAJOR.MINOR.PATCH with an optional lower-case pre-release suffix (1.2.0-beta1).';

CREATE DOMAIN pliers.slug AS varchar(255)
CONSTRAINT slug_format CHECK (value ~ '^[a-z0-9]+(-[a-z0-9]+)*$');

COMMENT ON DOMAIN pliers.slug IS
'A URL-safe identifier: lower-case letters and digits in groups joined by single hyphens (no leading, trailing or double hyphen).';

-- Enums of the seed ---------------------------------------------------------

CREATE TYPE pliers.user_status AS ENUM (
    'active',
    'inactive',
    'suspended',
    'pending',
    'deleted'
);

COMMENT ON TYPE pliers.user_status IS
'users.status. pending = invited, not yet activated; deleted goes with users.deleted_at (users_deleted_consistent).';

CREATE TYPE pliers.form_status AS ENUM (
    'draft',
    'published',
    'deprecated',
    'archived'
);

COMMENT ON TYPE pliers.form_status IS
'forms.status. Only a draft form version may change its content (trigger forms_immutable_published).';

CREATE TYPE pliers.submission_status AS ENUM (
    'draft',
    'submitted',
    'processing',
    'approved',
    'rejected',
    'completed',
    'archived'
);

COMMENT ON TYPE pliers.submission_status IS 'submissions.status';

CREATE TYPE pliers.workflow_status AS ENUM (
    'draft',
    'published',
    'deprecated',
    'archived'
);

COMMENT ON TYPE pliers.workflow_status IS 'workflows.status. Only a published workflow can be active.';

CREATE TYPE pliers.execution_status AS ENUM (
    'pending',
    'running',
    'completed',
    'failed',
    'cancelled',
    'timeout'
);

COMMENT ON TYPE pliers.execution_status IS
'workflow_executions.status. pending and running are open; the others are terminal and need completed_at.';

CREATE TYPE pliers.trigger_type AS ENUM (
    'manual',
    'form_submission',
    'event',
    'schedule',
    'webhook'
);

COMMENT ON TYPE pliers.trigger_type IS 'workflows.trigger_type: what starts an execution of the workflow';

-- Enums for the seed's CHECK (... IN (...)) lists ---------------------------

CREATE TYPE pliers.team_role AS ENUM (
    'owner',
    'admin',
    'member',
    'viewer'
);

COMMENT ON TYPE pliers.team_role IS 'team_members.role (seed constraint valid_team_role)';

CREATE TYPE pliers.scope_type AS ENUM (
    'organization',
    'form',
    'workflow',
    'team'
);

COMMENT ON TYPE pliers.scope_type IS
'role_assignments.scope_type (seed constraint valid_scope_type): what a role assignment applies to';

CREATE TYPE pliers.plugin_type AS ENUM (
    'field',
    'action',
    'integration',
    'validation',
    'transformation'
);

COMMENT ON TYPE pliers.plugin_type IS 'plugins.type (seed constraint valid_plugin_type)';

CREATE TYPE pliers.plugin_status AS ENUM (
    'active',
    'inactive',
    'error',
    'updating'
);

COMMENT ON TYPE pliers.plugin_status IS
'plugin_installations.status (seed constraint valid_plugin_status, on plugins.status in the seed)';

CREATE TYPE pliers.notification_priority AS ENUM (
    'low',
    'normal',
    'high',
    'urgent'
);

COMMENT ON TYPE pliers.notification_priority IS 'notifications.priority (seed constraint valid_priority)';

CREATE TYPE pliers.audit_status AS ENUM (
    'success',
    'failure',
    'partial'
);

COMMENT ON TYPE pliers.audit_status IS
'audit_logs.status (seed constraint valid_audit_status); the table itself is defined in 70-history.sql';

-- Enums pliersdb decided (the seed gives a default but no list) -------------

CREATE TYPE pliers.subscription_status AS ENUM (
    'trial',
    'active',
    'past_due',
    'suspended',
    'cancelled',
    'expired'
);

COMMENT ON TYPE pliers.subscription_status IS
'organizations.subscription_status. The seed has only the default trial; this list is pliersdb''s decision.';

CREATE TYPE pliers.form_visibility AS ENUM (
    'private',
    'organization',
    'public'
);

COMMENT ON TYPE pliers.form_visibility IS
'forms.visibility. private = collaborators and role holders only; organization = every user of the tenant; public = anyone with the link may submit. The seed gives only the default private.';
