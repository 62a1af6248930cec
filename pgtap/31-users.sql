-- pliers.users (sql/31-users.sql): columns, tenant keys, CHECKs, the
-- case-insensitive partial unique rules on email and username, the triggers, and
-- the foreign keys of organizations to users that the same file adds.
BEGIN;
SELECT plan(104);

-- Structure ---------------------------------------------------------------------

SELECT has_table('pliers', 'users', 'pliers.users exists');
SELECT columns_are('pliers', 'users', ARRAY[
    'organization_id', 'id',
    'email', 'username', 'auth_data',
    'first_name', 'last_name', 'display_name', 'avatar_url', 'profile',
    'status', 'roles', 'permissions',
    'preferences', 'timezone', 'locale',
    'last_login_at', 'last_activity_at', 'password_changed_at', 'mfa_enabled', 'mfa_settings',
    'metadata', 'revision',
    'created_at', 'updated_at', 'deleted_at', 'created_by', 'updated_by',
    'failed_login_count', 'locked_until', 'invitation_expires_at'
], 'users has the seed columns plus revision, and the login and invitation columns (sql/36-users-api.sql)');

SELECT has_pk('pliers', 'users', 'users has a primary key');
SELECT col_is_pk('pliers', 'users', ARRAY['organization_id', 'id'], 'users is keyed by (organization_id, id)');

SELECT col_type_is('pliers', 'users', 'organization_id', 'uuid', 'organization_id is uuid');
SELECT col_type_is('pliers', 'users', 'email', 'pliers.email', 'email uses domain email');
SELECT col_type_is('pliers', 'users', 'username', 'character varying(255)', 'username is varchar(255)');
SELECT col_type_is('pliers', 'users', 'auth_data', 'jsonb', 'auth_data is jsonb');
SELECT col_type_is('pliers', 'users', 'avatar_url', 'pliers.url', 'avatar_url uses domain url');
SELECT col_type_is('pliers', 'users', 'status', 'pliers.user_status', 'status uses enum user_status');
SELECT col_type_is('pliers', 'users', 'roles', 'text[]', 'roles is text[]');
SELECT col_type_is('pliers', 'users', 'timezone', 'character varying(100)', 'timezone is varchar(100)');
SELECT col_type_is('pliers', 'users', 'locale', 'character varying(10)', 'locale is varchar(10)');
SELECT col_type_is('pliers', 'users', 'mfa_enabled', 'boolean', 'mfa_enabled is boolean');
SELECT col_type_is('pliers', 'users', 'revision', 'integer', 'revision is integer');
SELECT col_type_is('pliers', 'users', 'last_login_at', 'timestamp with time zone', 'last_login_at is timestamptz');

SELECT col_not_null('pliers', 'users', 'organization_id', 'organization_id is NOT NULL');
SELECT col_not_null('pliers', 'users', 'email', 'email is NOT NULL');
SELECT col_not_null('pliers', 'users', 'auth_data', 'auth_data is NOT NULL');
SELECT col_not_null('pliers', 'users', 'status', 'status is NOT NULL');
SELECT col_not_null('pliers', 'users', 'roles', 'roles is NOT NULL');
SELECT col_not_null('pliers', 'users', 'timezone', 'timezone is NOT NULL');
SELECT col_not_null('pliers', 'users', 'locale', 'locale is NOT NULL');
SELECT col_not_null('pliers', 'users', 'mfa_enabled', 'mfa_enabled is NOT NULL');
SELECT col_not_null('pliers', 'users', 'mfa_settings', 'mfa_settings is NOT NULL');
SELECT col_not_null('pliers', 'users', 'revision', 'revision is NOT NULL');
SELECT col_is_null('pliers', 'users', 'username', 'username is optional');
SELECT col_is_null('pliers', 'users', 'deleted_at', 'deleted_at is nullable');

SELECT col_default_is('pliers', 'users', 'status', 'active', 'status defaults to active');
SELECT col_default_is('pliers', 'users', 'roles', '{}', 'roles defaults to the empty array');
SELECT col_default_is('pliers', 'users', 'timezone', 'UTC', 'timezone defaults to UTC');
SELECT col_default_is('pliers', 'users', 'locale', 'en-US', 'locale defaults to en-US');
SELECT col_default_is('pliers', 'users', 'mfa_enabled', FALSE, 'mfa_enabled defaults to false');
SELECT col_default_is('pliers', 'users', 'auth_data', '{}', 'auth_data defaults to {}');
SELECT col_default_is('pliers', 'users', 'revision', 1, 'revision defaults to 1');

SELECT fk_ok('pliers', 'users', ARRAY['organization_id'], 'pliers', 'organizations', ARRAY['id'],
    'users.organization_id references organizations');
SELECT fk_ok('pliers', 'users', ARRAY['organization_id', 'created_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'users.created_by is a user of the same organization');
SELECT fk_ok('pliers', 'users', ARRAY['organization_id', 'updated_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'users.updated_by is a user of the same organization');
SELECT fk_ok('pliers', 'organizations', ARRAY['id', 'primary_contact_id'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'organizations.primary_contact_id is a user of the organization');
SELECT fk_ok('pliers', 'organizations', ARRAY['id', 'created_by'], 'pliers', 'users', ARRAY['organization_id', 'id'],
    'organizations.created_by is a user of the organization');
SELECT fk_ok('pliers', 'organizations', ARRAY['id', 'updated_by'], 'pliers', 'users', ARRAY['organization_id', 'id'],
    'organizations.updated_by is a user of the organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.organizations'::regclass AND contype = 'f' AND condeferrable AND NOT condeferred$$,
    ARRAY['organizations_primary_contact_id_fkey', 'organizations_created_by_fkey', 'organizations_updated_by_fkey'],
    'the foreign keys of organizations to users are DEFERRABLE INITIALLY IMMEDIATE'
);

SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.users'::regclass AND contype <> 'n'$$,
    ARRAY[
        'users_pkey', 'users_organization_id_fkey', 'users_created_by_fkey', 'users_updated_by_fkey',
        'users_username_not_blank', 'users_locale_format', 'users_deleted_consistent',
        'users_auth_data_object', 'users_profile_object', 'users_permissions_object',
        'users_preferences_object', 'users_mfa_settings_object', 'users_metadata_object',
        'users_roles_no_null', 'users_revision_positive'
    ],
    'users has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'users', ARRAY[
    'users_pkey', 'unique_email_per_org', 'unique_username_per_org', 'users_created_by_idx', 'users_updated_by_idx'
], 'users has the expected indexes');
SELECT index_is_unique('pliers', 'users', 'unique_email_per_org', 'unique_email_per_org is unique');
SELECT index_is_unique('pliers', 'users', 'unique_username_per_org', 'unique_username_per_org is unique');
SELECT triggers_are('pliers', 'users',
    ARRAY['users_updated_at', 'users_revision', 'users_audit', 'users_permissions_insert', 'users_permissions_update'],
    'users has the updated_at, revision and audit triggers, and those of user_permissions (sql/91)');
SELECT trigger_is('pliers', 'users', 'users_updated_at', 'pliers', '_set_updated_at',
    'users_updated_at runs _set_updated_at()');
SELECT trigger_is('pliers', 'users', 'users_revision', 'pliers', '_bump_revision',
    'users_revision runs _bump_revision()');

-- Fixture: organizations A and B; ann and bob in A, cat in B ---------------------------

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'users-test-a', 'Users test A'),
('00000000-0000-0000-0000-0000000000b0', 'users-test-b', 'Users test B');
INSERT INTO pliers.users (organization_id, id, email, username, created_at, updated_at) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com', 'ann',
    '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'bob@example.com', NULL,
    '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com', 'cat',
    '2001-01-01', '2001-01-01');

-- CHECKs, domains, enums, NOT NULL -------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.users (organization_id, email, username, avatar_url, status, roles, locale, timezone,
        profile, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Dan.O+x@Example.org', 'dan', 'https://cdn.example.com/d.png',
        'pending', '{admin}', 'pt-BR', 'America/Sao_Paulo', '{"title": "Dr"}',
        '00000001-0000-0000-0000-0000000000a1')$$,
    'a user with good values is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000a0',
        'not-an-email')$$,
    '23514', NULL, 'a bad e-mail is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000a0', NULL)$$,
    '23502', NULL, 'email is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (email) VALUES ('eve@example.com')$$,
    '23502', NULL, 'organization_id is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000c0',
        'eve@example.com')$$,
    '23503', NULL, 'organization_id must name an organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, avatar_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'javascript:alert(1)')$$,
    '23514', NULL, 'a javascript: avatar_url is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, avatar_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'img/eve.png')$$,
    '23514', NULL, 'a relative avatar_url is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'banned')$$,
    '22P02', NULL, 'an unknown status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, username)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', '   ')$$,
    '23514', NULL, 'a blank username is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, username)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', '')$$,
    '23514', NULL, 'an empty username is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, locale)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'english')$$,
    '23514', NULL, 'locale english is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, locale)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'en_US')$$,
    '23514', NULL, 'locale en_US (underscore) is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, locale)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'EN-us')$$,
    '23514', NULL, 'locale with an upper-case language is rejected'
);
SELECT lives_ok(
    $$INSERT INTO pliers.users (organization_id, email, locale)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'eve@example.com', 'zh-Hant-TW')$$,
    'locale zh-Hant-TW is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', 'deleted')$$,
    '23514', NULL, 'status deleted without deleted_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, deleted_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', now())$$,
    '23514', NULL, 'deleted_at on an active user is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, auth_data)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', '[]')$$,
    '23514', NULL, 'auth_data must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, profile)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', '"x"')$$,
    '23514', NULL, 'profile must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, permissions)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', '[]')$$,
    '23514', NULL, 'permissions must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, preferences)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', 'true')$$,
    '23514', NULL, 'preferences must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, mfa_settings)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', '[]')$$,
    '23514', NULL, 'mfa_settings must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', '1')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, roles)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', ARRAY['admin', NULL])$$,
    '23514', NULL, 'roles may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, revision)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'fay@example.com', 0)$$,
    '23514', NULL, 'revision must be positive'
);

-- Unique e-mail and username: per organization, case-insensitive, live users only ---------

SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000a0',
        'ann@example.com')$$,
    '23505', NULL, 'the same e-mail twice in one organization is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000a0',
        'ANN@Example.COM')$$,
    '23505', NULL, 'e-mail uniqueness is case-insensitive'
);
SELECT lives_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000b0',
        'ann@example.com')$$,
    'the same e-mail in another organization is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, username)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'ann2@example.com', 'ANN')$$,
    '23505', NULL, 'username uniqueness is case-insensitive'
);
SELECT lives_ok(
    $$INSERT INTO pliers.users (organization_id, email, username)
      VALUES ('00000000-0000-0000-0000-0000000000b0', 'ann2@example.com', 'ann')$$,
    'the same username in another organization is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000a0',
        'gus@example.com')$$,
    'several users without username are accepted (NULL usernames do not collide)'
);
SELECT lives_ok(
    $$UPDATE pliers.users SET status = 'deleted', deleted_at = now()
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    'a user is soft-deleted with status deleted and deleted_at together'
);
SELECT lives_ok(
    $$INSERT INTO pliers.users (organization_id, id, email, username, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a3', 'Ann@example.com', 'Ann',
        'pending')$$,
    'a soft-deleted user''s e-mail and username can be invited again'
);
SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email) VALUES ('00000000-0000-0000-0000-0000000000a0',
        'ann@example.com')$$,
    '23505', NULL, 'but only one live user per e-mail'
);
SELECT throws_ok(
    $$UPDATE pliers.users SET status = 'active', deleted_at = NULL
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23505', NULL, 'restoring the deleted user while the e-mail is taken again is rejected'
);

-- Tenant isolation of the actor columns --------------------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.users (organization_id, email, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'hal@example.com', '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'created_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.users SET updated_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    '23503', NULL, 'updated_by cannot be a user of another organization'
);
SELECT lives_ok(
    $$UPDATE pliers.users SET updated_by = '00000001-0000-0000-0000-0000000000a3',
        created_by = '00000001-0000-0000-0000-0000000000a3'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    'created_by and updated_by can be users of the same organization'
);

-- Foreign keys of organizations to users -------------------------------------------------

SELECT throws_ok(
    $$UPDATE pliers.organizations SET primary_contact_id = '00000001-0000-0000-0000-0000000000b1'
      WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    '23503', NULL, 'an organization''s primary contact cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.organizations SET created_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    '23503', NULL, 'an organization''s created_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.organizations SET updated_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    '23503', NULL, 'an organization''s updated_by cannot be a user of another organization'
);
SELECT lives_ok(
    $$UPDATE pliers.organizations
      SET primary_contact_id = '00000001-0000-0000-0000-0000000000a2',
          created_by = '00000001-0000-0000-0000-0000000000a2',
          updated_by = '00000001-0000-0000-0000-0000000000a2'
      WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    'primary contact, created_by and updated_by can be users of the organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.organizations (id, slug, name, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000c0', 'users-test-c', 'C', '00000001-0000-0000-0000-0000000000c1')$$,
    '23503', NULL, 'without deferring, an organization cannot name a user that does not exist yet'
);
SELECT lives_ok(
    $$SET CONSTRAINTS pliers.organizations_created_by_fkey, pliers.organizations_primary_contact_id_fkey DEFERRED;
      INSERT INTO pliers.organizations (id, slug, name, created_by, primary_contact_id)
      VALUES ('00000000-0000-0000-0000-0000000000c0', 'users-test-c', 'C',
        '00000001-0000-0000-0000-0000000000c1', '00000001-0000-0000-0000-0000000000c1');
      INSERT INTO pliers.users (organization_id, id, email)
      VALUES ('00000000-0000-0000-0000-0000000000c0', '00000001-0000-0000-0000-0000000000c1', 'founder@example.com');
      SET CONSTRAINTS ALL IMMEDIATE$$,
    'sign-up: with the foreign keys deferred, the organization and its first user are created together'
);
SELECT throws_ok(
    $$SET CONSTRAINTS pliers.organizations_created_by_fkey DEFERRED;
      INSERT INTO pliers.organizations (id, slug, name, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000d0', 'users-test-d', 'D', '00000001-0000-0000-0000-0000000000d1');
      SET CONSTRAINTS ALL IMMEDIATE$$,
    '23503', NULL, 'a deferred organization created_by still fails at the check if the user never comes'
);
SET CONSTRAINTS ALL IMMEDIATE;

-- Actor references are NO ACTION: users are soft-deleted, and a user still referenced
-- cannot be hard-deleted (no dangling reference); once nothing references it, it can be,
-- and the rows that referenced it keep their tenant --------------------------------------

SELECT is_empty(
    $$SELECT c.conrelid::regclass::text || '.' || c.conname FROM pg_catalog.pg_constraint AS c
      WHERE c.contype = 'f' AND c.confrelid IN ('pliers.users'::regclass, 'pliers.teams'::regclass)
        AND c.confdeltype IN ('n', 'd')$$,
    'no foreign key to users or teams is ON DELETE SET NULL / SET DEFAULT (Citus refuses them)'
);
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a3'$$,
    '23503', NULL,
    'a user still referenced as created_by and updated_by cannot be hard-deleted (NO ACTION)'
);
SELECT row_eq(
    $$SELECT organization_id, created_by, updated_by FROM pliers.users
      WHERE id = '00000001-0000-0000-0000-0000000000a2'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a3'::uuid,
        '00000001-0000-0000-0000-0000000000a3'::uuid),
    'the referencing user keeps its organization_id, created_by and updated_by'
);
UPDATE pliers.users SET created_by = NULL, updated_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2';
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a3'$$,
    'once no row references it, the user can be hard-deleted'
);
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    '23503', NULL,
    'the primary contact, creator and updater of an organization cannot be hard-deleted (NO ACTION)'
);
SELECT row_eq(
    $$SELECT id, primary_contact_id, created_by, updated_by FROM pliers.organizations
      WHERE id = '00000000-0000-0000-0000-0000000000a0'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a2'::uuid,
        '00000001-0000-0000-0000-0000000000a2'::uuid, '00000001-0000-0000-0000-0000000000a2'::uuid),
    'the organization keeps its primary_contact_id, created_by and updated_by'
);
UPDATE pliers.organizations SET primary_contact_id = NULL, created_by = NULL, updated_by = NULL
WHERE id = '00000000-0000-0000-0000-0000000000a0';
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    'once the organization no longer names it, the user can be hard-deleted'
);
SELECT is(
    (SELECT count(*) FROM pliers.users
     WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'
        AND id IN ('00000001-0000-0000-0000-0000000000a2', '00000001-0000-0000-0000-0000000000a3')),
    0::bigint,
    'both users are gone, the organization stays'
);

-- Triggers -------------------------------------------------------------------------------

SELECT row_eq(
    $$SELECT revision, updated_at FROM pliers.users WHERE id = '00000001-0000-0000-0000-0000000000b1'$$,
    ROW(1, '2001-01-01'::timestamptz),
    'INSERT keeps the given updated_at and starts at revision 1'
);
UPDATE pliers.users SET display_name = 'Cat', revision = 99, updated_at = '1999-01-01'
WHERE organization_id = '00000000-0000-0000-0000-0000000000b0' AND id = '00000001-0000-0000-0000-0000000000b1';
SELECT row_eq(
    $$SELECT display_name, revision, updated_at, created_at FROM pliers.users
      WHERE id = '00000001-0000-0000-0000-0000000000b1'$$,
    ROW('Cat'::varchar, 2, now(), '2001-01-01'::timestamptz),
    'UPDATE keeps the change, sets updated_at to now() and revision to OLD + 1 whatever the caller wrote'
);
UPDATE pliers.users SET last_login_at = now()
WHERE organization_id = '00000000-0000-0000-0000-0000000000b0' AND id = '00000001-0000-0000-0000-0000000000b1';
SELECT is(
    (SELECT revision FROM pliers.users WHERE id = '00000001-0000-0000-0000-0000000000b1'), 3,
    'every UPDATE increments revision'
);

SELECT * FROM finish();
ROLLBACK;
