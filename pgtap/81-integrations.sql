-- pliers.api_key_hashes, pliers.api_keys, pliers.webhooks, pliers.notifications
-- (sql/81-integrations.sql): columns, tenant keys, CHECKs (key prefix, SHA-256 key
-- hash, webhook URL and secret, notification action URL), the global key_hash rule
-- (through the directory pliers.api_key_hashes), cross-tenant foreign keys and ON
-- DELETE rules.
BEGIN;
SELECT plan(100);

-- Structure: api_key_hashes (global: the tenant of each key hash) ----------------------------

SELECT has_table('pliers', 'api_key_hashes', 'pliers.api_key_hashes exists');
SELECT columns_are('pliers', 'api_key_hashes', ARRAY['key_hash', 'organization_id'],
    'api_key_hashes holds a key hash and its organization');
SELECT col_is_pk('pliers', 'api_key_hashes', 'key_hash', 'api_key_hashes is keyed by key_hash alone (global)');
SELECT indexes_are('pliers', 'api_key_hashes', ARRAY[
    'api_key_hashes_pkey', 'api_key_hashes_key_hash_organization_id_key'
], 'api_key_hashes has its primary key and the target of api_keys_key_hash_fkey');
SELECT hasnt_fk('pliers', 'api_key_hashes', 'api_key_hashes (a reference table on Citus) has no foreign key');

-- Structure: api_keys ---------------------------------------------------------------------

SELECT has_table('pliers', 'api_keys', 'pliers.api_keys exists');
SELECT columns_are('pliers', 'api_keys', ARRAY[
    'organization_id', 'id', 'name', 'key_hash', 'prefix', 'scopes', 'rate_limit_per_minute',
    'expires_at', 'last_used_at', 'created_by', 'created_at', 'revoked_at', 'revoked_by'
], 'api_keys has the seed columns');
SELECT col_is_pk('pliers', 'api_keys', ARRAY['organization_id', 'id'], 'api_keys is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'api_keys', 'key_hash', 'character varying(255)', 'key_hash is varchar(255)');
SELECT col_type_is('pliers', 'api_keys', 'prefix', 'character varying(20)', 'prefix is varchar(20)');
SELECT col_type_is('pliers', 'api_keys', 'scopes', 'text[]', 'scopes is text[]');
SELECT col_not_null('pliers', 'api_keys', 'key_hash', 'key_hash is NOT NULL');
SELECT col_not_null('pliers', 'api_keys', 'scopes', 'scopes is NOT NULL');
SELECT col_not_null('pliers', 'api_keys', 'rate_limit_per_minute', 'rate_limit_per_minute is NOT NULL');
SELECT col_not_null('pliers', 'api_keys', 'created_by', 'created_by is NOT NULL (as in the seed)');
SELECT col_default_is('pliers', 'api_keys', 'rate_limit_per_minute', 60, 'rate_limit_per_minute defaults to 60');
SELECT col_default_is('pliers', 'api_keys', 'scopes', '{}', 'scopes defaults to the empty array');
SELECT fk_ok('pliers', 'api_keys', ARRAY['organization_id', 'created_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'api_keys.created_by is a user of the same organization');
SELECT fk_ok('pliers', 'api_keys', ARRAY['organization_id', 'revoked_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'api_keys.revoked_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.api_keys'::regclass AND contype <> 'n'$$,
    ARRAY['api_keys_pkey', 'api_keys_organization_id_key_hash_key', 'api_keys_key_hash_fkey',
        'api_keys_organization_id_fkey', 'api_keys_created_by_fkey',
        'api_keys_revoked_by_fkey', 'valid_key_prefix', 'api_keys_key_hash_sha256', 'api_keys_rate_limit_positive',
        'api_keys_expires_after_created', 'api_keys_revoked_by_needs_revoked_at', 'api_keys_scopes_no_null'],
    'api_keys has exactly the expected constraints'
);
SELECT col_is_unique('pliers', 'api_keys', ARRAY['organization_id', 'key_hash'],
    'key_hash is unique in its organization (the authentication lookup)');
SELECT fk_ok('pliers', 'api_keys', ARRAY['key_hash', 'organization_id'], 'pliers', 'api_key_hashes',
    ARRAY['key_hash', 'organization_id'], 'every key hash is registered in api_key_hashes under its organization');
SELECT indexes_are('pliers', 'api_keys', ARRAY[
    'api_keys_pkey', 'api_keys_organization_id_key_hash_key', 'api_keys_created_by_idx', 'api_keys_revoked_by_idx'
], 'api_keys has the expected indexes');

-- Structure: webhooks ---------------------------------------------------------------------

SELECT has_table('pliers', 'webhooks', 'pliers.webhooks exists');
SELECT columns_are('pliers', 'webhooks', ARRAY[
    'organization_id', 'id', 'name', 'url', 'events', 'headers', 'secret_ciphertext', 'secret_key_id',
    'is_active', 'retry_config', 'failure_count', 'last_success_at', 'last_failure_at', 'created_at', 'created_by'
], 'webhooks has the seed columns, secret_hash replaced by secret_ciphertext and secret_key_id');
SELECT hasnt_column('pliers', 'webhooks', 'secret_hash', 'webhooks.secret_hash is gone (a hash cannot sign)');
SELECT col_is_pk('pliers', 'webhooks', ARRAY['organization_id', 'id'], 'webhooks is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'webhooks', 'url', 'pliers.url', 'url uses domain url');
SELECT col_type_is('pliers', 'webhooks', 'events', 'text[]', 'events is text[]');
SELECT col_type_is('pliers', 'webhooks', 'secret_ciphertext', 'bytea', 'secret_ciphertext is bytea');
SELECT col_not_null('pliers', 'webhooks', 'url', 'url is NOT NULL');
SELECT col_not_null('pliers', 'webhooks', 'events', 'events is NOT NULL');
SELECT col_not_null('pliers', 'webhooks', 'failure_count', 'failure_count is NOT NULL');
SELECT col_default_is('pliers', 'webhooks', 'is_active', TRUE, 'is_active defaults to true');
SELECT col_default_is('pliers', 'webhooks', 'failure_count', 0, 'failure_count defaults to 0');
SELECT fk_ok('pliers', 'webhooks', ARRAY['organization_id', 'created_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'webhooks.created_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.webhooks'::regclass AND contype <> 'n'$$,
    ARRAY['webhooks_pkey', 'webhooks_organization_id_fkey', 'webhooks_created_by_fkey', 'valid_webhook_url',
        'webhooks_events_not_empty', 'webhooks_events_no_null', 'webhooks_secret_complete',
        'webhooks_failure_count_non_negative', 'webhooks_headers_object', 'webhooks_retry_config_object'],
    'webhooks has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'webhooks', ARRAY['webhooks_pkey', 'webhooks_created_by_idx'],
    'webhooks has the expected indexes');

-- Structure: notifications ------------------------------------------------------------------

SELECT has_table('pliers', 'notifications', 'pliers.notifications exists');
SELECT columns_are('pliers', 'notifications', ARRAY[
    'organization_id', 'id', 'user_id', 'type', 'title', 'message', 'data', 'priority',
    'read_at', 'dismissed_at', 'action_url', 'created_at', 'expires_at'
], 'notifications has the seed columns');
SELECT col_is_pk('pliers', 'notifications', ARRAY['organization_id', 'id'],
    'notifications is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'notifications', 'priority', 'pliers.notification_priority',
    'priority uses enum notification_priority');
SELECT col_type_is('pliers', 'notifications', 'action_url', 'text', 'action_url is text (paths allowed)');
SELECT col_not_null('pliers', 'notifications', 'priority', 'priority is NOT NULL');
SELECT col_not_null('pliers', 'notifications', 'data', 'data is NOT NULL');
SELECT col_default_is('pliers', 'notifications', 'priority', 'normal', 'priority defaults to normal');
SELECT fk_ok('pliers', 'notifications', ARRAY['organization_id', 'user_id'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'notifications.user_id is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.notifications'::regclass AND contype <> 'n'$$,
    ARRAY['notifications_pkey', 'notifications_organization_id_fkey', 'notifications_user_id_fkey',
        'notifications_type_not_blank', 'notifications_action_url_format', 'notifications_expires_after_created',
        'notifications_data_object'],
    'notifications has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'notifications', ARRAY[
    'notifications_pkey', 'notifications_user_id_created_at_idx', 'notifications_user_id_unread_idx',
    'notifications_created_at_idx', 'notifications_expires_at_idx'
], 'notifications has the expected indexes');
SELECT index_is_type('pliers', 'notifications', 'notifications_created_at_idx', 'brin',
    'notifications_created_at_idx is a BRIN index');
SELECT triggers_are('pliers', 'notifications', ARRAY[]::name[], 'notifications has no trigger');

-- Fixture: organizations A and B, ann and bob in A, cat in B ------------------------------------

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'integrations-test-a', 'Integrations test A'),
('00000000-0000-0000-0000-0000000000b0', 'integrations-test-b', 'Integrations test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com'),
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'bob@example.com'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com');

-- api_keys ----------------------------------------------------------------------------------

-- A key's hash is registered first (create_api_key does both): secret1 and k2 in A.
INSERT INTO pliers.api_key_hashes (key_hash, organization_id) VALUES
(encode(sha256('pk_live_secret1'::bytea), 'hex'), '00000000-0000-0000-0000-0000000000a0'),
(encode(sha256('k2'::bytea), 'hex'), '00000000-0000-0000-0000-0000000000a0');
SELECT lives_ok(
    $$INSERT INTO pliers.api_keys (organization_id, id, name, key_hash, prefix, scopes, expires_at, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000a-0000-0000-0000-0000000000a1', 'CI',
        encode(sha256('pk_live_secret1'::bytea), 'hex'), 'pk_live_ab12', '{forms:read,submissions:write}',
        now() + interval '1 year', '00000001-0000-0000-0000-0000000000a1')$$,
    'an API key with good values is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'sk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a key prefix not starting with pk_ is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_LIVE_ab12',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a key prefix with an upper-case environment is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a key prefix without the underscore after the environment is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', 'pk_live_plaintextkey', 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a plaintext key stored as key_hash is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', upper(encode(sha256('k2'::bytea), 'hex')), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'an upper-case hex key_hash is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha512('k2'::bytea), 'hex'), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a SHA-512 key_hash (128 hex digits) is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by, rate_limit_per_minute)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1', 0)$$,
    '23514', NULL, 'rate_limit_per_minute must be positive'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by, created_at, expires_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1', '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'expires_at before created_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by, revoked_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'revoked_by without revoked_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by, scopes)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000a1', ARRAY['forms:read', NULL])$$,
    '23514', NULL, 'scopes may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live_ab12')$$,
    '23502', NULL, 'created_by is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_key_hashes (key_hash, organization_id)
      VALUES (encode(sha256('pk_live_secret1'::bytea), 'hex'), '00000000-0000-0000-0000-0000000000b0')$$,
    '23505', NULL, 'a key hash cannot be registered twice, even for another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000b0', 'K', encode(sha256('pk_live_secret1'::bytea), 'hex'),
          'pk_live_cd34',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'an API key of organization B cannot use a hash registered for organization A'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('pk_live_secret1'::bytea), 'hex'),
          'pk_live_cd34',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23505', NULL, 'a key_hash is unique within its organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.api_keys (organization_id, name, key_hash, prefix, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'K', encode(sha256('k2'::bytea), 'hex'), 'pk_live_ab12',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'an API key of organization A cannot be created by a user of organization B'
);
SELECT throws_ok(
    $$UPDATE pliers.api_keys SET revoked_at = now(), revoked_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '0000000a-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'revoked_by cannot be a user of another organization'
);
SELECT lives_ok(
    $$UPDATE pliers.api_keys SET revoked_at = now(), revoked_by = '00000001-0000-0000-0000-0000000000a2'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '0000000a-0000-0000-0000-0000000000a1'$$,
    'a key is revoked by a user of its organization'
);

-- webhooks -------------------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.webhooks (organization_id, id, name, url, events, headers, secret_ciphertext, secret_key_id,
        created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000b-0000-0000-0000-0000000000a1', 'CRM',
        'https://hooks.example.com/pliers', '{submission.created,form.published}', '{"X-Env": "prod"}',
        '\x0102'::bytea, 'key-2024-01', '00000001-0000-0000-0000-0000000000a2')$$,
    'a webhook with good values is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Local', 'http://localhost:8080/hook', '{submission.created}')$$,
    'a webhook without a secret, over http, is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'ftp://hooks.example.com', '{submission.created}')$$,
    '23514', NULL, 'an ftp webhook URL is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'javascript:alert(1)', '{submission.created}')$$,
    '23514', NULL, 'a javascript: webhook URL is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'hooks.example.com/x', '{submission.created}')$$,
    '23514', NULL, 'a webhook URL without scheme is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{}')$$,
    '23514', NULL, 'a webhook needs at least one event'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', ARRAY['submission.created',
          NULL])$$,
    '23514', NULL, 'events may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com')$$,
    '23502', NULL, 'events is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events, secret_ciphertext)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{a}', '\x01'::bytea)$$,
    '23514', NULL, 'a secret_ciphertext without secret_key_id is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events, secret_key_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{a}', 'key-1')$$,
    '23514', NULL, 'a secret_key_id without secret_ciphertext is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events, failure_count)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{a}', -1)$$,
    '23514', NULL, 'a negative failure_count is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events, headers)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{a}', '[]')$$,
    '23514', NULL, 'headers must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events, retry_config)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{a}', '3')$$,
    '23514', NULL, 'retry_config must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.webhooks (organization_id, name, url, events, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'W', 'https://hooks.example.com', '{a}',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'a webhook of organization A cannot be created by a user of organization B'
);

-- notifications ----------------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.notifications (organization_id, id, user_id, type, title, data, priority, action_url,
        expires_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000c-0000-0000-0000-0000000000a1',
        '00000001-0000-0000-0000-0000000000a2', 'submission.assigned', 'New submission', '{"submission": "S-1"}',
            'high',
        '/submissions/S-1', now() + interval '7 days')$$,
    'a notification with an app-path action_url is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, action_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'Home', '/')$$,
    'action_url / is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, action_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'Docs',
        'https://docs.example.com/x')$$,
    'an absolute https action_url is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, action_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'X',
        'javascript:alert(1)')$$,
    '23514', NULL, 'a javascript: action_url is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, action_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'X',
        '//evil.example.com/x')$$,
    '23514', NULL, 'a scheme-relative //host action_url is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, action_url)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'X',
        'submissions/1')$$,
    '23514', NULL, 'a relative path action_url is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', '  ', 'X')$$,
    '23514', NULL, 'a blank type is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system')$$,
    '23502', NULL, 'a title is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, priority)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'X',
          'critical')$$,
    '22P02', NULL, 'an unknown priority is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, created_at, expires_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'X',
        '2001-01-02', '2001-01-02')$$,
    '23514', NULL, 'expires_at must be after created_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title, data)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'system', 'X', '[]')$$,
    '23514', NULL, 'data must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.notifications (organization_id, user_id, type, title)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000b1', 'system', 'X')$$,
    '23503', NULL, 'a notification of organization A cannot be for a user of organization B'
);

-- Deletes ----------------------------------------------------------------------------------------

SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a user who created API keys cannot be hard-deleted before them (created_by is NOT NULL)'
);
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    '23503', NULL, 'a user still named as a key''s revoker and a webhook''s creator cannot be hard-deleted (NO ACTION)'
);
SELECT row_eq(
    $$SELECT k.organization_id, k.revoked_by, k.revoked_at IS NOT NULL, w.created_by
      FROM pliers.api_keys AS k, pliers.webhooks AS w
      WHERE k.id = '0000000a-0000-0000-0000-0000000000a1' AND w.id = '0000000b-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a2'::uuid, TRUE,
        '00000001-0000-0000-0000-0000000000a2'::uuid),
    'api_keys.revoked_by and webhooks.created_by keep the user; the key stays revoked'
);
UPDATE pliers.api_keys SET revoked_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND revoked_by = '00000001-0000-0000-0000-0000000000a2';
UPDATE pliers.webhooks SET created_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND created_by = '00000001-0000-0000-0000-0000000000a2';
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    'once nothing references it, a user with notifications can be hard-deleted'
);
SELECT is_empty(
    $$SELECT FROM pliers.notifications WHERE user_id = '00000001-0000-0000-0000-0000000000a2'$$,
    'the user''s notifications are deleted with the user'
);

SELECT * FROM finish();
ROLLBACK;
