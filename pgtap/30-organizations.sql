-- pliers.organizations (sql/30-organizations.sql): columns, keys, CHECKs, the
-- unique slug, and the updated_at / revision triggers. Its foreign keys to users
-- are added by sql/31-users.sql and tested in pgtap/31-users.sql.
BEGIN;
SELECT plan(69);

-- Structure ---------------------------------------------------------------------

SELECT has_table('pliers', 'organizations', 'pliers.organizations exists');
SELECT columns_are('pliers', 'organizations', ARRAY[
    'id', 'slug', 'name', 'display_name', 'description',
    'settings', 'features', 'limits',
    'plan_id', 'subscription_status', 'subscription_expires_at',
    'primary_contact_id', 'billing_email', 'support_email',
    'metadata', 'tags', 'revision',
    'created_at', 'updated_at', 'deleted_at', 'created_by', 'updated_by', 'suspended_at'
], 'organizations has the seed columns plus revision and suspended_at');

SELECT has_pk('pliers', 'organizations', 'organizations has a primary key');
SELECT col_is_pk('pliers', 'organizations', 'id', 'organizations is keyed by id alone');

SELECT col_type_is('pliers', 'organizations', 'id', 'uuid', 'id is uuid');
SELECT col_type_is('pliers', 'organizations', 'slug', 'pliers.slug', 'slug uses domain slug');
SELECT col_type_is('pliers', 'organizations', 'name', 'character varying(255)', 'name is varchar(255)');
SELECT col_type_is('pliers', 'organizations', 'settings', 'jsonb', 'settings is jsonb');
SELECT col_type_is('pliers', 'organizations', 'features', 'jsonb', 'features is jsonb');
SELECT col_type_is('pliers', 'organizations', 'limits', 'jsonb', 'limits is jsonb');
SELECT col_type_is('pliers', 'organizations', 'plan_id', 'uuid', 'plan_id is uuid');
SELECT col_type_is('pliers', 'organizations', 'subscription_status', 'pliers.subscription_status',
    'subscription_status uses enum subscription_status');
SELECT col_type_is('pliers', 'organizations', 'primary_contact_id', 'uuid', 'primary_contact_id is uuid');
SELECT col_type_is('pliers', 'organizations', 'billing_email', 'pliers.email', 'billing_email uses domain email');
SELECT col_type_is('pliers', 'organizations', 'support_email', 'pliers.email', 'support_email uses domain email');
SELECT col_type_is('pliers', 'organizations', 'tags', 'text[]', 'tags is text[]');
SELECT col_type_is('pliers', 'organizations', 'revision', 'integer', 'revision is integer');
SELECT col_type_is('pliers', 'organizations', 'created_at', 'timestamp with time zone', 'created_at is timestamptz');
SELECT col_type_is('pliers', 'organizations', 'deleted_at', 'timestamp with time zone', 'deleted_at is timestamptz');

SELECT col_not_null('pliers', 'organizations', 'slug', 'slug is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'name', 'name is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'settings', 'settings is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'features', 'features is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'limits', 'limits is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'subscription_status', 'subscription_status is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'metadata', 'metadata is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'tags', 'tags is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'revision', 'revision is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'created_at', 'created_at is NOT NULL');
SELECT col_not_null('pliers', 'organizations', 'updated_at', 'updated_at is NOT NULL');
SELECT col_is_null('pliers', 'organizations', 'deleted_at', 'deleted_at is nullable');
SELECT col_is_null('pliers', 'organizations', 'primary_contact_id', 'primary_contact_id is nullable');

SELECT col_default_is('pliers', 'organizations', 'id', 'gen_random_uuid()', 'id defaults to gen_random_uuid()');
SELECT col_default_is('pliers', 'organizations', 'subscription_status', 'trial',
    'subscription_status defaults to trial');
SELECT col_default_is('pliers', 'organizations', 'settings', '{}', 'settings defaults to {}');
SELECT col_default_is('pliers', 'organizations', 'tags', '{}', 'tags defaults to the empty array');
SELECT col_default_is('pliers', 'organizations', 'revision', 1, 'revision defaults to 1');
SELECT col_default_is('pliers', 'organizations', 'updated_at', 'now()', 'updated_at defaults to now()');

SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.organizations'::regclass AND contype <> 'n'$$,
    ARRAY[
        'organizations_pkey', 'organizations_slug_key', 'organization_slug_format',
        'organizations_settings_object', 'organizations_features_object', 'organizations_limits_object',
        'organizations_metadata_object', 'organizations_tags_no_null', 'organizations_revision_positive',
        -- added by sql/31-users.sql:
        'organizations_primary_contact_id_fkey', 'organizations_created_by_fkey', 'organizations_updated_by_fkey'
    ],
    'organizations has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'organizations', ARRAY['organizations_pkey', 'organizations_slug_key'],
    'organizations has only its primary key and the slug key as indexes');
SELECT index_is_unique('pliers', 'organizations', 'organizations_slug_key', 'organizations_slug_key is unique');
SELECT col_is_unique('pliers', 'organizations', 'slug', 'slug is unique over all organizations');
SELECT triggers_are('pliers', 'organizations', ARRAY['organizations_updated_at', 'organizations_revision', 'organizations_audit'],
    'organizations has the updated_at, revision and audit triggers');
SELECT trigger_is('pliers', 'organizations', 'organizations_updated_at', 'pliers', '_set_updated_at',
    'organizations_updated_at runs _set_updated_at()');
SELECT trigger_is('pliers', 'organizations', 'organizations_revision', 'pliers', '_bump_revision',
    'organizations_revision runs _bump_revision()');

-- Fixture -------------------------------------------------------------------------

INSERT INTO pliers.organizations (id, slug, name, created_at, updated_at) VALUES
('00000000-0000-0000-0000-0000000000a0', 'org-test-a', 'Org test A', '2001-01-01', '2001-01-01');

-- CHECKs, domains, enums, NOT NULL ---------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.organizations (id, slug, name, subscription_status, billing_email, support_email,
        settings, tags)
      VALUES ('00000000-0000-0000-0000-0000000000b0', 'org-test-b', 'Org test B', 'active',
        'billing@example.com', 'help@example.com', '{"security": {"mfa_required": true}}', '{eu,beta}')$$,
    'an organization with good values is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name) VALUES ('Org Test C', 'C')$$, '23514', NULL,
    'a slug that is not a slug is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name) VALUES ('org--c', 'C')$$, '23514', NULL,
    'a slug with a double hyphen is rejected (domain slug, stricter than organization_slug_format)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, subscription_status) VALUES ('org-c', 'C', 'free')$$,
    '22P02', NULL, 'an unknown subscription_status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, billing_email) VALUES ('org-c', 'C', 'billing')$$,
    '23514', NULL, 'a billing_email that is not an e-mail is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, support_email) VALUES ('org-c', 'C', 'help@example')$$,
    '23514', NULL, 'a support_email that is not an e-mail is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, settings) VALUES ('org-c', 'C', '[]')$$,
    '23514', NULL, 'settings must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, features) VALUES ('org-c', 'C', '"sso"')$$,
    '23514', NULL, 'features must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, limits) VALUES ('org-c', 'C', '10')$$,
    '23514', NULL, 'limits must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, metadata) VALUES ('org-c', 'C', 'null')$$,
    '23514', NULL, 'metadata must be a JSON object (not JSON null)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, tags) VALUES ('org-c', 'C', ARRAY['a', NULL])$$,
    '23514', NULL, 'tags may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, revision) VALUES ('org-c', 'C', 0)$$,
    '23514', NULL, 'revision must be positive'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug) VALUES ('org-c')$$, '23502', NULL, 'name is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (name) VALUES ('C')$$, '23502', NULL, 'slug is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name, settings) VALUES ('org-c', 'C', NULL)$$,
    '23502', NULL, 'settings cannot be NULL'
);

-- Unique slug --------------------------------------------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name) VALUES ('org-test-a', 'Another A')$$, '23505', NULL,
    'a second organization cannot take a used slug'
);
UPDATE pliers.organizations SET deleted_at = now() WHERE id = '00000000-0000-0000-0000-0000000000b0';
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (slug, name) VALUES ('org-test-b', 'New B')$$, '23505', NULL,
    'a deleted organization''s slug stays reserved'
);

-- Triggers: INSERT keeps what it is given, UPDATE sets updated_at and bumps revision ---

SELECT row_eq(
    $$SELECT revision, updated_at FROM pliers.organizations WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    ROW(1, '2001-01-01'::timestamptz),
    'INSERT keeps the given updated_at and starts at revision 1'
);
UPDATE pliers.organizations SET name = 'Org test A renamed' WHERE id = '00000000-0000-0000-0000-0000000000a0';
SELECT row_eq(
    $$SELECT name, revision, updated_at, created_at FROM pliers.organizations
      WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    ROW('Org test A renamed'::varchar, 2, now(), '2001-01-01'::timestamptz),
    'UPDATE keeps the change, sets updated_at to now(), revision 2, and leaves created_at'
);
UPDATE pliers.organizations SET revision = 40, updated_at = '1999-01-01'
WHERE id = '00000000-0000-0000-0000-0000000000a0';
SELECT row_eq(
    $$SELECT revision, updated_at FROM pliers.organizations WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    ROW(3, now()),
    'the triggers override a revision and an updated_at written by the caller'
);
WITH u AS (
    UPDATE pliers.organizations SET description = 'stale'
    WHERE id = '00000000-0000-0000-0000-0000000000a0' AND revision = 2
    RETURNING 1
)
SELECT is(count(*)::integer, 0, 'an optimistic update with a stale revision updates nothing') FROM u;
WITH u AS (
    UPDATE pliers.organizations SET description = 'current'
    WHERE id = '00000000-0000-0000-0000-0000000000a0' AND revision = 3
    RETURNING revision
)
SELECT is(max(revision), 4, 'an optimistic update with the current revision returns the next revision') FROM u;
SELECT throws_ok(
    $$DELETE FROM pliers.organizations WHERE id = '00000000-0000-0000-0000-0000000000b0'$$,
    '23503',
    NULL,
    'an audited organization cannot be hard-deleted: its append-only audit trail references it'
);
SELECT isnt_empty(
    $$SELECT FROM pliers.organizations WHERE id = '00000000-0000-0000-0000-0000000000b0'$$,
    'the organization is still there'
);

SELECT * FROM finish();
ROLLBACK;
