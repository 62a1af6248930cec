-- Plugins: a catalogue that is global (organization_id NULL, visible to every
-- tenant) or tenant-private (organization_id set), and per-tenant installations.
-- A slug names one plugin for a tenant: a private plugin cannot take the slug of a
-- global one, nor a global one the slug of any private one (trigger plugins_slug_scope).

CREATE TABLE pliers.plugins (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    organization_id uuid,

    -- Identification
    name varchar(255) NOT NULL,
    slug pliers.slug NOT NULL,
    version pliers.semver NOT NULL,

    -- Type
    type pliers.plugin_type NOT NULL,
    is_system boolean NOT NULL DEFAULT FALSE,

    -- Definition
    manifest jsonb NOT NULL,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',

    -- Audit fields
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT plugins_pkey PRIMARY KEY (id),
    -- No foreign key to organizations: the catalogue is global (a reference table on
    -- Citus, which cannot reference a distributed table); organizations are never
    -- hard-deleted, and only the owner writes the catalogue.
    CONSTRAINT plugins_organization_id_slug_key UNIQUE NULLS NOT DISTINCT (organization_id, slug),
    CONSTRAINT plugins_system_is_global CHECK (NOT is_system OR organization_id IS NULL),
    CONSTRAINT plugins_manifest_object CHECK (jsonb_typeof(manifest) = 'object'),
    CONSTRAINT plugins_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

COMMENT ON TABLE pliers.plugins IS
'Plugin catalogue. organization_id NULL = global entry visible to all tenants (a Citus reference-table candidate); '
'set = private to that tenant. Installation state is per tenant in plugin_installations.';
COMMENT ON COLUMN pliers.plugins.organization_id IS
'NULL for a global plugin, else the only organization that can see and install it. Cannot change (trigger plugins_slug_scope).';
COMMENT ON COLUMN pliers.plugins.slug IS
'Unique per scope (NULLS NOT DISTINCT: one global row per slug), and a private slug may not equal a global slug';
COMMENT ON COLUMN pliers.plugins.version IS 'Version of the catalogue entry (semver); upgrading replaces it in place';
COMMENT ON COLUMN pliers.plugins.is_system IS 'Shipped with Pliers; only global plugins can be system plugins';
COMMENT ON COLUMN pliers.plugins.manifest IS
'JSON object: entry points, configuration schema, requested permissions';
COMMENT ON COLUMN pliers.plugins.metadata IS 'JSON object: catalogue metadata (author, homepage, ...)';
COMMENT ON CONSTRAINT plugins_organization_id_slug_key ON pliers.plugins IS
'One plugin per slug in each scope, NULLS NOT DISTINCT so that two global rows cannot share a slug';

CREATE FUNCTION pliers._plugins_slug_scope()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    clash_scope text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN
        RAISE EXCEPTION 'plugin % cannot move between global and private scope', OLD.id
            USING
                ERRCODE = 'PL005',
                DETAIL = jsonb_build_object('object', 'plugin', 'id', OLD.id)::text;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.slug = OLD.slug THEN
        RETURN NEW;
    END IF;

    -- Serialise concurrent inserts of the same slug in any scope. The re-check
    -- below sees a concurrent winner only under READ COMMITTED, the level the
    -- API runs at; under REPEATABLE READ the unique index still guards each scope.
    PERFORM pg_advisory_xact_lock(hashtextextended('pliers.plugins.slug:' || NEW.slug, 0));

    IF NEW.organization_id IS NULL THEN
        SELECT 'private' INTO clash_scope
        FROM pliers.plugins AS p
        WHERE p.slug = NEW.slug AND p.organization_id IS NOT NULL AND p.id <> NEW.id
        LIMIT 1;
    ELSE
        SELECT 'global' INTO clash_scope
        FROM pliers.plugins AS p
        WHERE p.slug = NEW.slug AND p.organization_id IS NULL AND p.id <> NEW.id
        LIMIT 1;
    END IF;

    IF clash_scope IS NOT NULL THEN
        RAISE EXCEPTION 'plugin slug % is already used by a % plugin', NEW.slug, clash_scope
            USING
                ERRCODE = 'PL003',
                DETAIL = jsonb_build_object(
                    'object', 'plugin',
                    'slug', NEW.slug,
                    'conflicting_scope', clash_scope
                )::text,
                HINT = 'Choose another slug.';
    END IF;

    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._plugins_slug_scope() IS
'BEFORE INSERT OR UPDATE trigger of plugins. Raises PL005 if organization_id changes (global <-> private), '
'PL003 (DETAIL {object, slug, conflicting_scope}) if a private plugin takes a global slug or a global plugin the slug '
'of some private plugin. Takes a transaction advisory lock on the slug so that concurrent inserts cannot both pass.';

CREATE TRIGGER plugins_slug_scope
BEFORE INSERT OR UPDATE ON pliers.plugins
FOR EACH ROW EXECUTE FUNCTION pliers._plugins_slug_scope();

COMMENT ON TRIGGER plugins_slug_scope ON pliers.plugins IS
'A slug names one plugin for every tenant; see pliers._plugins_slug_scope()';

CREATE TRIGGER plugins_updated_at
BEFORE UPDATE ON pliers.plugins
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER plugins_updated_at ON pliers.plugins IS 'Maintains updated_at';

-- Slug lookups without the scope (catalogue search, plugins_slug_scope's clash check).
CREATE INDEX plugins_slug_idx ON pliers.plugins (slug);

COMMENT ON INDEX pliers.plugins_slug_idx IS
'Finds the rows of a slug in every scope (slug clash check, resolving a slug to the global or the tenant row)';

-- Plugin installations ------------------------------------------------------------

CREATE TABLE pliers.plugin_installations (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL,

    -- Status
    status pliers.plugin_status NOT NULL DEFAULT 'inactive',

    -- Configuration
    config jsonb NOT NULL DEFAULT '{}',
    permissions jsonb NOT NULL DEFAULT '{}',

    -- Installation
    installed_at timestamptz NOT NULL DEFAULT now(),
    installed_by uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),

    -- Usage
    execution_count bigint NOT NULL DEFAULT 0,
    last_execution_at timestamptz,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',

    CONSTRAINT plugin_installations_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT plugin_installations_organization_id_plugin_id_key UNIQUE (organization_id, plugin_id),
    CONSTRAINT plugin_installations_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT plugin_installations_plugin_id_fkey FOREIGN KEY (plugin_id)
    REFERENCES pliers.plugins (id),
    CONSTRAINT plugin_installations_installed_by_fkey FOREIGN KEY (organization_id, installed_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT plugin_installations_execution_count_non_negative CHECK (execution_count >= 0),
    CONSTRAINT plugin_installations_config_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT plugin_installations_permissions_object CHECK (jsonb_typeof(permissions) = 'object'),
    CONSTRAINT plugin_installations_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

COMMENT ON TABLE pliers.plugin_installations IS
'A plugin installed in one organization: the seed''s per-install columns of plugins (status, config, permissions, '
'installed_at/by, updated_at, execution_count, last_execution_at). One installation per plugin and organization.';
COMMENT ON COLUMN pliers.plugin_installations.plugin_id IS
'A global plugin or a private plugin of this organization (trigger plugin_installations_plugin_visible)';
COMMENT ON COLUMN pliers.plugin_installations.config IS 'JSON object: configuration, valid against the manifest''s schema';
COMMENT ON COLUMN pliers.plugin_installations.permissions IS 'JSON object: permissions granted to the plugin';
COMMENT ON COLUMN pliers.plugin_installations.execution_count IS
'Executions of the plugin in this organization. Updated in place: if plugins run on every submission, '
'batch the increments or move them to a slotted counter table like form_counters.';
COMMENT ON CONSTRAINT plugin_installations_organization_id_plugin_id_key ON pliers.plugin_installations IS
'One installation of a plugin per organization; finds it';

CREATE FUNCTION pliers._plugin_installations_plugin_visible()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.plugin_id = OLD.plugin_id
        AND NEW.organization_id = OLD.organization_id THEN
        RETURN NEW;
    END IF;

    IF NOT EXISTS (
        SELECT
        FROM pliers.plugins AS p
        WHERE p.id = NEW.plugin_id
            AND (p.organization_id IS NULL OR p.organization_id = NEW.organization_id)
    ) THEN
        RAISE EXCEPTION 'plugin % not found', NEW.plugin_id
            USING
                ERRCODE = 'PL002',
                DETAIL = jsonb_build_object('object', 'plugin', 'id', NEW.plugin_id)::text;
    END IF;

    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._plugin_installations_plugin_visible() IS
'BEFORE INSERT OR UPDATE trigger of plugin_installations: the plugin must be global or private to the installing '
'organization, else PL002 (DETAIL {object, id}), as if it did not exist. A plugin cannot change scope afterwards (plugins_slug_scope).';

CREATE TRIGGER plugin_installations_plugin_visible
BEFORE INSERT OR UPDATE ON pliers.plugin_installations
FOR EACH ROW EXECUTE FUNCTION pliers._plugin_installations_plugin_visible();

COMMENT ON TRIGGER plugin_installations_plugin_visible ON pliers.plugin_installations IS
'No installation of another tenant''s private plugin; see pliers._plugin_installations_plugin_visible()';

CREATE TRIGGER plugin_installations_updated_at
BEFORE UPDATE ON pliers.plugin_installations
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER plugin_installations_updated_at ON pliers.plugin_installations IS 'Maintains updated_at';

-- "Which tenants installed plugin X" (upgrade roll-out, catalogue removal) and FK plugin_installations_plugin_id_fkey.
CREATE INDEX plugin_installations_plugin_id_idx ON pliers.plugin_installations (plugin_id);

COMMENT ON INDEX pliers.plugin_installations_plugin_id_idx IS
'Installations of a plugin across tenants; serves FK plugin_installations_plugin_id_fkey';

-- FK plugin_installations_installed_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX plugin_installations_installed_by_idx ON pliers.plugin_installations (organization_id, installed_by)
WHERE installed_by IS NOT NULL;

COMMENT ON INDEX pliers.plugin_installations_installed_by_idx IS
'Serves FK plugin_installations_installed_by_fkey';
