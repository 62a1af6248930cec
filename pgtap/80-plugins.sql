-- pliers.plugins and pliers.plugin_installations (sql/80-plugins.sql): columns,
-- keys, CHECKs, the slug rules (one global row per slug, private slugs per tenant,
-- no private/global clash: PL003), the fixed scope (PL005), installation
-- visibility (PL002), and the updated_at triggers.
BEGIN;
SELECT plan(88);

-- Structure: plugins ------------------------------------------------------------------

SELECT has_table('pliers', 'plugins', 'pliers.plugins exists');
SELECT columns_are('pliers', 'plugins', ARRAY[
    'id', 'organization_id', 'name', 'slug', 'version', 'type', 'is_system', 'manifest', 'metadata',
    'created_at', 'updated_at'
], 'plugins keeps the catalogue columns (per-installation columns moved to plugin_installations)');
SELECT hasnt_column('pliers', 'plugins', 'config', 'plugins.config moved to plugin_installations');
SELECT col_is_pk('pliers', 'plugins', 'id', 'plugins is keyed by id (organization_id may be NULL)');
SELECT col_is_null('pliers', 'plugins', 'organization_id', 'organization_id is nullable (NULL = global)');
SELECT col_type_is('pliers', 'plugins', 'slug', 'pliers.slug', 'slug uses domain slug');
SELECT col_type_is('pliers', 'plugins', 'version', 'pliers.semver', 'version uses domain semver');
SELECT col_type_is('pliers', 'plugins', 'type', 'pliers.plugin_type', 'type uses enum plugin_type');
SELECT col_type_is('pliers', 'plugins', 'manifest', 'jsonb', 'manifest is jsonb');
SELECT col_not_null('pliers', 'plugins', 'version', 'version is NOT NULL');
SELECT col_not_null('pliers', 'plugins', 'type', 'type is NOT NULL');
SELECT col_not_null('pliers', 'plugins', 'manifest', 'manifest is NOT NULL');
SELECT col_not_null('pliers', 'plugins', 'is_system', 'is_system is NOT NULL');
SELECT col_default_is('pliers', 'plugins', 'is_system', FALSE, 'is_system defaults to false');
SELECT hasnt_fk('pliers', 'plugins',
    'plugins (the global catalogue, a reference table on Citus) has no foreign key: not even to organizations');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.plugins'::regclass AND contype <> 'n'$$,
    ARRAY['plugins_pkey', 'plugins_organization_id_slug_key',
        'plugins_system_is_global', 'plugins_manifest_object', 'plugins_metadata_object'],
    'plugins has exactly the expected constraints'
);
SELECT col_is_unique('pliers', 'plugins', ARRAY['organization_id', 'slug'],
    'plugins is unique on (organization_id, slug)');
SELECT ok(
    (SELECT indnullsnotdistinct FROM pg_catalog.pg_index
     WHERE indexrelid = 'pliers.plugins_organization_id_slug_key'::regclass),
    'plugins_organization_id_slug_key is NULLS NOT DISTINCT'
);
SELECT indexes_are('pliers', 'plugins', ARRAY['plugins_pkey', 'plugins_organization_id_slug_key', 'plugins_slug_idx'],
    'plugins has the expected indexes');
SELECT triggers_are('pliers', 'plugins', ARRAY['plugins_slug_scope', 'plugins_updated_at', 'plugins_audit'],
    'plugins has the slug-scope, updated_at and audit triggers');
SELECT trigger_is('pliers', 'plugins', 'plugins_slug_scope', 'pliers', '_plugins_slug_scope',
    'plugins_slug_scope runs _plugins_slug_scope()');
SELECT trigger_is('pliers', 'plugins', 'plugins_updated_at', 'pliers', '_set_updated_at',
    'plugins_updated_at runs _set_updated_at()');

-- Structure: plugin_installations ---------------------------------------------------------

SELECT has_table('pliers', 'plugin_installations', 'pliers.plugin_installations exists');
SELECT columns_are('pliers', 'plugin_installations', ARRAY[
    'organization_id', 'id', 'plugin_id', 'status', 'config', 'permissions',
    'installed_at', 'installed_by', 'updated_at', 'execution_count', 'last_execution_at', 'metadata'
], 'plugin_installations has the seed''s per-installation columns');
SELECT col_is_pk('pliers', 'plugin_installations', ARRAY['organization_id', 'id'],
    'plugin_installations is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'plugin_installations', 'status', 'pliers.plugin_status',
    'status uses enum plugin_status');
SELECT col_type_is('pliers', 'plugin_installations', 'execution_count', 'bigint', 'execution_count is bigint');
SELECT col_not_null('pliers', 'plugin_installations', 'status', 'status is NOT NULL');
SELECT col_not_null('pliers', 'plugin_installations', 'config', 'config is NOT NULL');
SELECT col_default_is('pliers', 'plugin_installations', 'status', 'inactive', 'status defaults to inactive');
SELECT col_default_is('pliers', 'plugin_installations', 'execution_count', 0, 'execution_count defaults to 0');
SELECT fk_ok('pliers', 'plugin_installations', 'plugin_id', 'pliers', 'plugins', 'id',
    'plugin_installations.plugin_id references plugins');
SELECT fk_ok('pliers', 'plugin_installations', ARRAY['organization_id', 'installed_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'plugin_installations.installed_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.plugin_installations'::regclass AND contype <> 'n'$$,
    ARRAY['plugin_installations_pkey', 'plugin_installations_organization_id_plugin_id_key',
        'plugin_installations_organization_id_fkey', 'plugin_installations_plugin_id_fkey',
        'plugin_installations_installed_by_fkey', 'plugin_installations_execution_count_non_negative',
        'plugin_installations_config_object', 'plugin_installations_permissions_object',
        'plugin_installations_metadata_object'],
    'plugin_installations has exactly the expected constraints'
);
SELECT col_is_unique('pliers', 'plugin_installations', ARRAY['organization_id', 'plugin_id'],
    'a plugin is installed once per organization');
SELECT indexes_are('pliers', 'plugin_installations', ARRAY[
    'plugin_installations_pkey', 'plugin_installations_organization_id_plugin_id_key',
    'plugin_installations_plugin_id_idx', 'plugin_installations_installed_by_idx'
], 'plugin_installations has the expected indexes');
SELECT triggers_are('pliers', 'plugin_installations',
    ARRAY['plugin_installations_plugin_visible', 'plugin_installations_updated_at', 'plugin_installations_audit'],
    'plugin_installations has the visibility, updated_at and audit triggers');
SELECT trigger_is('pliers', 'plugin_installations', 'plugin_installations_plugin_visible', 'pliers',
    '_plugin_installations_plugin_visible',
        'plugin_installations_plugin_visible runs _plugin_installations_plugin_visible()');

-- Fixture -------------------------------------------------------------------------------
-- Organizations A and B with one user each. Plugins: global system "signature";
-- private "crm-sync" of A and private "crm-sync" of B (a private slug may repeat across tenants).

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'plugins-test-a', 'Plugins test A'),
('00000000-0000-0000-0000-0000000000b0', 'plugins-test-b', 'Plugins test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com');

-- plugins: inserts, CHECKs, slug rules ----------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.plugins (id, organization_id, name, slug, version, type, is_system, manifest, created_at,
        updated_at)
      VALUES ('00000008-0000-0000-0000-0000000000f1', NULL, 'Signature', 'signature', '1.0.0', 'field', TRUE,
        '{"entry": "sig.js"}', '2001-01-01', '2001-01-01')$$,
    'a global system plugin is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.plugins (id, organization_id, name, slug, version, type, manifest, created_at, updated_at)
      VALUES ('00000008-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a0', 'CRM sync', 'crm-sync',
        '0.3.0-beta2', 'integration', '{}', '2001-01-01', '2001-01-01')$$,
    'a private plugin of A with a pre-release version is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.plugins (id, organization_id, name, slug, version, type, manifest)
      VALUES ('00000008-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b0', 'CRM sync', 'crm-sync',
        '1.0.0', 'integration', '{}')$$,
    'a private plugin of B may use the same slug as a private plugin of A'
);
SELECT results_eq(
    $$SELECT id, organization_id, slug::text FROM pliers.plugins
      WHERE id IN ('00000008-0000-0000-0000-0000000000f1', '00000008-0000-0000-0000-0000000000a1',
                   '00000008-0000-0000-0000-0000000000b1') ORDER BY id$$,
    $$VALUES ('00000008-0000-0000-0000-0000000000a1'::uuid, '00000000-0000-0000-0000-0000000000a0'::uuid, 'crm-sync'),
             ('00000008-0000-0000-0000-0000000000b1'::uuid, '00000000-0000-0000-0000-0000000000b0'::uuid, 'crm-sync'),
             ('00000008-0000-0000-0000-0000000000f1'::uuid, NULL::uuid, 'signature')$$,
    'the INSERT trigger lets the rows through unchanged'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, is_system, manifest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '1.0.0', 'field', TRUE, '{}')$$,
    '23514', NULL, 'a private plugin cannot be a system plugin'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest) VALUES ('X', 'x', '1.0.0', 'field', '[]')$$,
    '23514', NULL, 'manifest must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest, metadata)
      VALUES ('X', 'x', '1.0.0', 'field', '{}', '[]')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type) VALUES ('X', 'x', '1.0.0', 'field')$$,
    '23502', NULL, 'manifest is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest) VALUES ('X', 'x', '1', 'field', '{}')$$,
    '23514', NULL, 'a version that is not semver is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest) VALUES ('X', 'X', '1.0.0', 'field', '{}')$$,
    '23514', NULL, 'a slug that is not a slug is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest) VALUES ('X', 'x', '1.0.0', 'theme', '{}')$$,
    '22P02', NULL, 'an unknown plugin type is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES ('00000000-0000-0000-0000-0000000000c0', 'X', 'x', '1.0.0', 'field', '{}')$$,
    '23503', NULL,
    'a private plugin of an unknown organization is refused all the same: its audit row references organizations'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest) VALUES ('Sig 2', 'signature', '2.0.0', 'field',
        '{}')$$,
    '23505', NULL, 'two global plugins cannot share a slug (NULLS NOT DISTINCT)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'CRM 2', 'crm-sync', '1.0.0', 'action', '{}')$$,
    '23505', NULL, 'two private plugins of one organization cannot share a slug'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'My signature', 'signature', '1.0.0', 'field', '{}')$$,
    'PL003', NULL, 'a private plugin cannot take the slug of a global plugin'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (name, slug, version, type, manifest) VALUES ('CRM', 'crm-sync', '1.0.0',
        'integration', '{}')$$,
    'PL003', NULL, 'a global plugin cannot take the slug of a private plugin'
);
SELECT throws_ok(
    $$UPDATE pliers.plugins SET slug = 'signature' WHERE id = '00000008-0000-0000-0000-0000000000a1'$$,
    'PL003', NULL, 'a private plugin cannot be renamed to a global slug'
);
SELECT throws_ok(
    $$UPDATE pliers.plugins SET slug = 'crm-sync' WHERE id = '00000008-0000-0000-0000-0000000000f1'$$,
    'PL003', NULL, 'a global plugin cannot be renamed to a private slug'
);
SELECT throws_ok(
    $$UPDATE pliers.plugins SET organization_id = NULL WHERE id = '00000008-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a private plugin cannot become global'
);
SELECT throws_ok(
    $$UPDATE pliers.plugins SET organization_id = '00000000-0000-0000-0000-0000000000a0', is_system = FALSE
      WHERE id = '00000008-0000-0000-0000-0000000000f1'$$,
    'PL005', NULL, 'a global plugin cannot become private'
);
SELECT throws_ok(
    $$UPDATE pliers.plugins SET organization_id = '00000000-0000-0000-0000-0000000000b0', slug = 'crm-sync-a'
      WHERE id = '00000008-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a private plugin cannot move to another organization'
);
SELECT lives_ok(
    $$UPDATE pliers.plugins SET slug = 'crm-connector',
        version = '0.4.0' WHERE id = '00000008-0000-0000-0000-0000000000a1'$$,
    'a private plugin can change to a free slug'
);
SELECT lives_ok(
    $$UPDATE pliers.plugins SET slug = 'e-signature',
        name = 'E-signature' WHERE id = '00000008-0000-0000-0000-0000000000f1'$$,
    'a global plugin can change to a free slug'
);
SELECT row_eq(
    $$SELECT slug::text, version::text, updated_at, created_at FROM pliers.plugins
      WHERE id = '00000008-0000-0000-0000-0000000000a1'$$,
    ROW('crm-connector'::text, '0.4.0'::text, now(), '2001-01-01'::timestamptz),
    'the UPDATE trigger keeps the change; updated_at is now(), created_at kept'
);
UPDATE pliers.plugins SET version = '0.5.0', manifest = '{"entry": "crm5.js"}'
WHERE id = '00000008-0000-0000-0000-0000000000a1';
SELECT row_eq(
    $$SELECT slug::text, version::text,
        manifest FROM pliers.plugins WHERE id = '00000008-0000-0000-0000-0000000000a1'$$,
    ROW('crm-connector'::text, '0.5.0'::text, '{"entry": "crm5.js"}'::jsonb),
    'an UPDATE that keeps the slug (the trigger''s early return) keeps the change'
);
SELECT lives_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES ('00000000-0000-0000-0000-0000000000b0', 'Signature', 'signature', '1.0.0', 'field', '{}')$$,
    'a global plugin''s old slug is free for a private plugin once renamed'
);

-- plugin_installations ----------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, id, plugin_id, installed_by, updated_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000009-0000-0000-0000-0000000000a1',
        '00000008-0000-0000-0000-0000000000f1', '00000001-0000-0000-0000-0000000000a1', '2001-01-01')$$,
    'organization A installs the global plugin'
);
SELECT lives_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, id, plugin_id, status, config)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000009-0000-0000-0000-0000000000a2',
        '00000008-0000-0000-0000-0000000000a1', 'active', '{"endpoint": "https://crm.example.com"}')$$,
    'organization A installs its own private plugin'
);
SELECT lives_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, id, plugin_id)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000009-0000-0000-0000-0000000000b1',
        '00000008-0000-0000-0000-0000000000f1')$$,
    'organization B installs the same global plugin'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.plugin_installations
     WHERE id IN ('00000009-0000-0000-0000-0000000000a1', '00000009-0000-0000-0000-0000000000a2',
                  '00000009-0000-0000-0000-0000000000b1')),
    3, 'the INSERT trigger lets the installations through'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000008-0000-0000-0000-0000000000b1')$$,
    'PL002', NULL, 'organization A cannot install a private plugin of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000008-0000-0000-0000-0000000000ff')$$,
    'PL002', NULL, 'a plugin that does not exist cannot be installed'
);
SELECT throws_ok(
    $$UPDATE pliers.plugin_installations SET plugin_id = '00000008-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000009-0000-0000-0000-0000000000a2'$$,
    'PL002', NULL, 'an installation cannot be switched to another tenant''s private plugin'
);
SELECT throws_ok(
    $$UPDATE pliers.plugin_installations SET organization_id = '00000000-0000-0000-0000-0000000000b0'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000009-0000-0000-0000-0000000000a2'$$,
    'PL002', NULL, 'an installation of a private plugin cannot move to another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000008-0000-0000-0000-0000000000f1')$$,
    '23505', NULL, 'a plugin is installed once per organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id, installed_by)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000008-0000-0000-0000-0000000000b1',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23503', NULL, 'installed_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id, status)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000008-0000-0000-0000-0000000000b1', 'installed')$$,
    '22P02', NULL, 'an unknown installation status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id, execution_count)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000008-0000-0000-0000-0000000000b1', -1)$$,
    '23514', NULL, 'a negative execution_count is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id, config)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000008-0000-0000-0000-0000000000b1', '[]')$$,
    '23514', NULL, 'config must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id, permissions)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000008-0000-0000-0000-0000000000b1', '[]')$$,
    '23514', NULL, 'permissions must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugin_installations (organization_id, plugin_id, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000b0', '00000008-0000-0000-0000-0000000000b1', '"x"')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT lives_ok(
    $$UPDATE pliers.plugin_installations SET status = 'active', config = '{"color": "blue"}', execution_count = 5
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000009-0000-0000-0000-0000000000a1'$$,
    'an installation''s status, config and counter can change'
);
SELECT row_eq(
    $$SELECT status, execution_count, updated_at FROM pliers.plugin_installations
      WHERE id = '00000009-0000-0000-0000-0000000000a1'$$,
    ROW('active'::pliers.plugin_status, 5::bigint, now()),
    'the UPDATE keeps the change and sets updated_at to now()'
);

-- Deletes -----------------------------------------------------------------------------------

SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a user who installed a plugin cannot be hard-deleted while the installation names it (NO ACTION)'
);
SELECT row_eq(
    $$SELECT organization_id,
        installed_by FROM pliers.plugin_installations WHERE id = '00000009-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a1'::uuid),
    'installed_by keeps the user, the installation stays in its organization'
);
SELECT throws_ok(
    $$DELETE FROM pliers.plugins WHERE id = '00000008-0000-0000-0000-0000000000f1'$$,
    '23503', NULL, 'an installed plugin cannot be deleted from the catalogue'
);
SELECT lives_ok(
    $$DELETE FROM pliers.plugin_installations WHERE plugin_id = '00000008-0000-0000-0000-0000000000f1'$$,
    'installations can be deleted (DELETE with BEFORE INSERT OR UPDATE triggers)'
);
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    'once no installation names it, the user who installed the plugin can be hard-deleted'
);
SELECT lives_ok(
    $$DELETE FROM pliers.plugins WHERE id = '00000008-0000-0000-0000-0000000000f1'$$,
    'a plugin without installations can be deleted (DELETE with BEFORE INSERT OR UPDATE triggers)'
);
SELECT is_empty(
    $$SELECT FROM pliers.plugins WHERE id = '00000008-0000-0000-0000-0000000000f1'$$,
    'the deleted plugin is gone'
);

SELECT * FROM finish();
ROLLBACK;
