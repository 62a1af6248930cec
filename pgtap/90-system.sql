-- pliers.system_settings (sql/90-system.sql): columns, the key format, the
-- primary key and the updated_at trigger; the seed's database_migrations table
-- is not created (yoyo's bookkeeping replaces it).
BEGIN;
SELECT plan(31);

-- Structure ---------------------------------------------------------------------------

SELECT has_table('pliers', 'system_settings', 'pliers.system_settings exists');
SELECT columns_are('pliers', 'system_settings', ARRAY[
    'key', 'value', 'description', 'category', 'is_sensitive', 'updated_at', 'updated_by'
], 'system_settings has the seed columns');
SELECT col_is_pk('pliers', 'system_settings', 'key', 'system_settings is keyed by key');
SELECT hasnt_column('pliers', 'system_settings', 'organization_id', 'system_settings is global (no organization_id)');
SELECT col_type_is('pliers', 'system_settings', 'key', 'character varying(255)', 'key is varchar(255)');
SELECT col_type_is('pliers', 'system_settings', 'value', 'jsonb', 'value is jsonb');
SELECT col_type_is('pliers', 'system_settings', 'updated_by', 'character varying(255)',
    'updated_by is free text varchar(255), not a user reference');
SELECT col_not_null('pliers', 'system_settings', 'value', 'value is NOT NULL');
SELECT col_not_null('pliers', 'system_settings', 'is_sensitive', 'is_sensitive is NOT NULL');
SELECT col_default_is('pliers', 'system_settings', 'is_sensitive', FALSE, 'is_sensitive defaults to false');
SELECT col_default_is('pliers', 'system_settings', 'updated_at', 'now()', 'updated_at defaults to now()');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.system_settings'::regclass AND contype <> 'n'$$,
    ARRAY['system_settings_pkey', 'system_settings_key_format'],
    'system_settings has exactly the expected constraints (no foreign key)'
);
SELECT indexes_are('pliers', 'system_settings', ARRAY['system_settings_pkey'],
    'system_settings has only its primary key as index');
SELECT triggers_are('pliers', 'system_settings', ARRAY['system_settings_updated_at'],
    'system_settings has the updated_at trigger');
SELECT trigger_is('pliers', 'system_settings', 'system_settings_updated_at', 'pliers', '_set_updated_at',
    'system_settings_updated_at runs _set_updated_at()');
SELECT hasnt_table('pliers', 'database_migrations', 'the seed''s database_migrations table is not created');

-- Key format, value, primary key ---------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.system_settings (key, value, category, is_sensitive, updated_at, updated_by)
      VALUES ('email.smtp_host', '"smtp.example.com"', 'email', FALSE, '2001-01-01', 'dba')$$,
    'a dotted lower-case key is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('maintenance', 'false'), ('limits.max_upload_mb2', '25'),
      ('banner', 'null')$$,
    'single-segment keys, digits and underscores after the first letter, any JSON value (even null) are accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('Email.Host', '1')$$,
    '23514', NULL, 'an upper-case key is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('email..host', '1')$$,
    '23514', NULL, 'an empty segment is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('.email', '1')$$,
    '23514', NULL, 'a leading dot is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('email.', '1')$$,
    '23514', NULL, 'a trailing dot is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('email.2fa', '1')$$,
    '23514', NULL, 'a segment starting with a digit is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('email-host', '1')$$,
    '23514', NULL, 'a hyphen is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('', '1')$$,
    '23514', NULL, 'an empty key is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key) VALUES ('email.port')$$,
    '23502', NULL, 'a value is required (SQL NULL)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.system_settings (key, value) VALUES ('email.smtp_host', '"other"')$$,
    '23505', NULL, 'a key exists once'
);

-- Trigger ------------------------------------------------------------------------------

SELECT is(
    (SELECT updated_at FROM pliers.system_settings WHERE key = 'email.smtp_host'), '2001-01-01'::timestamptz,
    'INSERT keeps the given updated_at'
);
UPDATE pliers.system_settings SET value = '"smtp2.example.com"', updated_at = '1999-01-01', updated_by = 'ops'
WHERE key = 'email.smtp_host';
SELECT row_eq(
    $$SELECT value, updated_at, updated_by FROM pliers.system_settings WHERE key = 'email.smtp_host'$$,
    ROW('"smtp2.example.com"'::jsonb, now(), 'ops'::varchar),
    'UPDATE keeps the change and sets updated_at to now() whatever the caller wrote'
);
SELECT lives_ok(
    $$DELETE FROM pliers.system_settings WHERE key = 'email.smtp_host'$$,
    'DELETE works despite the BEFORE UPDATE trigger'
);
SELECT is_empty(
    $$SELECT FROM pliers.system_settings WHERE key = 'email.smtp_host'$$,
    'the deleted setting is gone'
);

SELECT * FROM finish();
ROLLBACK;
