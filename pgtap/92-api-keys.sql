-- API keys and webhooks (sql/92-api-keys.sql): create_api_key returns the key once
-- and stores only its SHA-256; authenticate_api_key opens the key's context and
-- refuses unknown, revoked, expired keys and keys of inactive creators alike (PL006);
-- last_used_at is written at most once a minute; key_hash, the directory of key
-- hashes (pliers.api_key_hashes) and the webhook secret are unreadable by pliers_app
-- and pliers_readonly, and the secret is readable by pliers_worker. Checked as those roles, never as superuser.
BEGIN;
SELECT plan(86);

-- Data, as superuser: organizations A and B; a1 and a3 administer A, a2 is a member, b1 administers B.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('92000000-0000-0000-0000-00000000000a', 't92-a', 'Keys A'),
('92000000-0000-0000-0000-00000000000b', 't92-b', 'Keys B');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001', 'a1@t92.example', '{org_admin}'),
('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000002', 'a2@t92.example', '{member}'),
('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000003', 'a3@t92.example', '{org_admin}'),
('92000000-0000-0000-0000-00000000000b', '92000002-0000-0000-0000-000000000001', 'b1@t92.example', '{org_admin}');

-- Keys and webhooks created below, by name.
CREATE TEMPORARY TABLE created (name text PRIMARY KEY, id uuid, key text, prefix text);
GRANT ALL ON created TO PUBLIC;

CREATE FUNCTION pg_temp.detail_of(p_statement text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_detail text;
BEGIN
    EXECUTE p_statement;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_detail::jsonb;
END
$$;

CREATE FUNCTION pg_temp.key(p_name text) RETURNS text LANGUAGE sql AS $$ SELECT key FROM created WHERE name = p_name $$;
CREATE FUNCTION pg_temp.id(p_name text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM created WHERE name = p_name $$;

SELECT has_function('pliers', 'create_api_key', ARRAY['text', 'text', 'text[]', 'timestamp with time zone', 'integer'],
    'create_api_key(name, environment, scopes, expires_at, rate_limit_per_minute) exists');
SELECT has_function('pliers', 'authenticate_api_key', ARRAY['text', 'uuid', 'inet', 'text', 'uuid'],
    'authenticate_api_key(key, session, ip, user agent, correlation) exists');
SELECT has_function('pliers', 'revoke_api_key', ARRAY['uuid'], 'revoke_api_key(id) exists');
SELECT has_function('pliers', 'create_webhook', ARRAY['text', 'text', 'text[]', 'bytea', 'text', 'jsonb'],
    'create_webhook(name, url, events, secret ciphertext, secret key id, headers) exists');
SELECT function_privs_are('pliers', 'create_api_key', ARRAY['text', 'text', 'text[]', 'timestamp with time zone', 'integer'],
    'pliers_readonly', ARRAY[]::text[], 'pliers_readonly cannot create API keys');
SELECT function_privs_are('pliers', 'create_webhook', ARRAY['text', 'text', 'text[]', 'bytea', 'text', 'jsonb'],
    'pliers_worker', ARRAY[]::text[], 'pliers_worker cannot create webhooks');

-- create_api_key ---------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT * FROM pliers.create_api_key('no context')$$, 'PL008', NULL,
    'create_api_key without a context: PL008');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT * FROM pliers.create_api_key('member')$$, 'PL006', NULL,
    'create_api_key without api_key.manage: PL006');

SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT throws_ok(
    $$SELECT * FROM pliers.create_api_key(' ', 'LIVE', '{form.view,forms:read}', now() - interval '1 day', 0)$$,
    'PL001', NULL, 'create_api_key with bad arguments: PL001');
SELECT is(
    (SELECT array_agg(e ->> 'path' ORDER BY e ->> 'path')
     FROM jsonb_array_elements(pg_temp.detail_of(
         $$SELECT * FROM pliers.create_api_key(' ', 'LIVE', '{form.view,forms:read}', now() - interval '1 day', 0)$$
     ) -> 'errors') AS e),
    ARRAY['environment', 'expires_at', 'name', 'rate_limit_per_minute', 'scopes'],
    'PL001 lists every bad argument in DETAIL errors[].path'
);

INSERT INTO created SELECT 'k1', k.* FROM pliers.create_api_key('integration') AS k;
INSERT INTO created
SELECT 'k2', k.* FROM pliers.create_api_key('read only', 'test', '{submission.view,form.view,form.view}') AS k;
INSERT INTO created SELECT 'k4', k.* FROM pliers.create_api_key('short lived', p_expires_at => now() + interval '1 hour') AS k;
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000003');
INSERT INTO created SELECT 'k3', k.* FROM pliers.create_api_key('of a3') AS k;
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000b', '92000002-0000-0000-0000-000000000001');
INSERT INTO created SELECT 'kb', k.* FROM pliers.create_api_key('of b') AS k;

SELECT matches(pg_temp.key('k1'), '^pk_live_[0-9a-f]{64}$', 'a key is pk_live_ and 64 hex digits (256 bits)');
SELECT matches(pg_temp.key('k2'), '^pk_test_[0-9a-f]{64}$', 'the environment is part of the key');
SELECT is((SELECT prefix FROM created WHERE name = 'k1'), left(pg_temp.key('k1'), 16),
    'the display prefix is pk_<env>_ and 8 characters of the key');
SELECT isnt(pg_temp.key('k1'), pg_temp.key('k4'), 'two keys differ');

RESET ROLE;
SELECT is(
    (SELECT k.key_hash::text FROM pliers.api_keys AS k WHERE k.id = pg_temp.id('k1')),
    encode(sha256(convert_to(pg_temp.key('k1'), 'UTF8')), 'hex'),
    'the stored key_hash is the SHA-256 (hex) of the key'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.api_keys AS k, created AS c
     WHERE strpos(to_jsonb(k)::text, substr(c.key, 17)) > 0),
    0,
    'no column of api_keys holds a key (beyond its display prefix)'
);
SELECT set_eq(
    $$SELECT c.name, h.organization_id FROM created AS c
      JOIN pliers.api_key_hashes AS h ON h.key_hash = encode(sha256(convert_to(c.key, 'UTF8')), 'hex')$$,
    $$VALUES ('k1', '92000000-0000-0000-0000-00000000000a'::uuid), ('k2', '92000000-0000-0000-0000-00000000000a'),
             ('k3', '92000000-0000-0000-0000-00000000000a'), ('k4', '92000000-0000-0000-0000-00000000000a'),
             ('kb', '92000000-0000-0000-0000-00000000000b')$$,
    'create_api_key registers each key''s hash in api_key_hashes under its organization'
);
SELECT results_eq(
    $$SELECT k.organization_id, k.created_by, k.name::text, k.scopes, k.rate_limit_per_minute
      FROM pliers.api_keys AS k WHERE k.id = pg_temp.id('k2')$$,
    $$VALUES ('92000000-0000-0000-0000-00000000000a'::uuid, '92000001-0000-0000-0000-000000000001'::uuid,
              'read only', '{form.view,submission.view}'::text[], 60)$$,
    'the key belongs to the current organization and user; scopes deduplicated and sorted'
);

-- authenticate_api_key -------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT set_config('pliers.context', '', true);

SELECT results_eq(
    $$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k1'), p_ip_address => '198.51.100.7')$$,
    $$VALUES ('92000000-0000-0000-0000-00000000000a'::uuid, '92000001-0000-0000-0000-000000000001'::uuid,
              pg_temp.id('k1'), '{}'::text[])$$,
    'authenticate_api_key returns the organization, the creator, the key and its scopes'
);
SELECT is(pliers.current_organization_id(), '92000000-0000-0000-0000-00000000000a', 'it opens the key''s organization');
SELECT is(pliers.current_user_id(), '92000001-0000-0000-0000-000000000001', '... acting as the key''s creator');
SELECT is(
    (SELECT ROW(r.api_key_id, r.ip_address)::text FROM pliers.current_request() AS r),
    ROW(pg_temp.id('k1'), '198.51.100.7'::inet)::text,
    'the key and the request metadata are in the context'
);
SELECT ok(pliers.has_permission('api_key.manage'), 'a key without scopes has its creator''s permissions');

SELECT lives_ok($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k2'))$$, 'a scoped key authenticates');
SELECT is(pliers.current_permissions(), '{form.view,submission.view}', 'a scoped key: its scopes only');
SELECT ok(NOT pliers.has_permission('api_key.manage'), 'a scoped key cannot do what its scopes exclude');
SELECT is((SELECT r.api_key_id FROM pliers.current_request() AS r), pg_temp.id('k2'), 'the context names the scoped key');

SELECT lives_ok($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('kb'))$$, 'a key of B authenticates');
SELECT is(pliers.current_organization_id(), '92000000-0000-0000-0000-00000000000b', '... in B');
SELECT is((SELECT count(*)::integer FROM pliers.api_keys WHERE organization_id = '92000000-0000-0000-0000-00000000000a'),
    0, '... where the keys of A are invisible');

-- refusals: same error for unknown, revoked, expired, inactive creator
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT lives_ok($$SELECT pliers.revoke_api_key(pg_temp.id('k1'))$$, 'revoke_api_key');
SELECT lives_ok($$SELECT pliers.revoke_api_key(pg_temp.id('k1'))$$, 'revoke_api_key again: nothing changes');
RESET ROLE;
UPDATE pliers.api_keys SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
WHERE id = pg_temp.id('k4');
UPDATE pliers.users SET status = 'deleted', deleted_at = now() WHERE id = '92000001-0000-0000-0000-000000000003';
SELECT results_eq(
    $$SELECT revoked_by, revoked_at IS NOT NULL FROM pliers.api_keys WHERE id = pg_temp.id('k1')$$,
    $$VALUES ('92000001-0000-0000-0000-000000000001'::uuid, TRUE)$$,
    'a revoked key records who revoked it, and when'
);
SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT * FROM pliers.authenticate_api_key('pk_live_' || repeat('0', 64))$$,
    'PL006', 'invalid API key', 'an unknown key: PL006');
SELECT throws_ok($$SELECT * FROM pliers.authenticate_api_key(NULL)$$, 'PL006', 'invalid API key', 'no key: PL006');
SELECT throws_ok($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k1'))$$,
    'PL006', 'invalid API key', 'a revoked key: PL006, same message');
SELECT throws_ok($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k4'))$$,
    'PL006', 'invalid API key', 'an expired key: PL006, same message');
SELECT throws_ok($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k3'))$$,
    'PL006', 'invalid API key', 'a key whose creator was deleted: PL006, same message');
SELECT is(
    ARRAY[
        pg_temp.detail_of($$SELECT * FROM pliers.authenticate_api_key('pk_live_nope')$$) ->> 'reason',
        pg_temp.detail_of($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k1'))$$) ->> 'reason',
        pg_temp.detail_of($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k4'))$$) ->> 'reason',
        pg_temp.detail_of($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k3'))$$) ->> 'reason'
    ],
    ARRAY['unknown', 'revoked', 'expired', 'creator_not_active'],
    'the DETAIL tells the reason code'
);

-- last_used_at: written at most once a minute
RESET ROLE;
UPDATE pliers.api_keys SET last_used_at = NULL WHERE id = pg_temp.id('k2');
SET LOCAL ROLE pliers_app;
SELECT FROM pliers.authenticate_api_key(pg_temp.key('k2'));
RESET ROLE;
SELECT is((SELECT last_used_at FROM pliers.api_keys WHERE id = pg_temp.id('k2')), now(), 'first use: last_used_at set');
UPDATE pliers.api_keys SET last_used_at = now() - interval '30 seconds' WHERE id = pg_temp.id('k2');
SET LOCAL ROLE pliers_app;
SELECT FROM pliers.authenticate_api_key(pg_temp.key('k2'));
RESET ROLE;
SELECT is((SELECT last_used_at FROM pliers.api_keys WHERE id = pg_temp.id('k2')), now() - interval '30 seconds',
    'used again within a minute: last_used_at not written');
UPDATE pliers.api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = pg_temp.id('k2');
SET LOCAL ROLE pliers_app;
SELECT FROM pliers.authenticate_api_key(pg_temp.key('k2'));
RESET ROLE;
SELECT is((SELECT last_used_at FROM pliers.api_keys WHERE id = pg_temp.id('k2')), now(),
    'used after more than a minute: last_used_at written');

-- revoke_api_key ---------------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers.revoke_api_key(pg_temp.id('k2'))$$, 'PL006', NULL,
    'revoke_api_key without api_key.manage: PL006');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000b', '92000002-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.revoke_api_key(pg_temp.id('k2'))$$, 'PL002', NULL,
    'revoke_api_key of another organization''s key: PL002, as if it did not exist');
SELECT throws_ok($$SELECT pliers.revoke_api_key(gen_random_uuid())$$, 'PL002', NULL, 'revoke_api_key of no key: PL002');

-- key_hash is unreadable -----------------------------------------------------------------------

SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT key_hash FROM pliers.api_keys$$, '42501', NULL, 'pliers_app cannot read key_hash');
SELECT throws_ok($$SELECT * FROM pliers.api_keys$$, '42501', NULL, '... nor SELECT * of api_keys');
SELECT throws_ok($$SELECT * FROM pliers.api_key_hashes$$, '42501', NULL,
    'pliers_app cannot read api_key_hashes (the tenant of every key hash)');
SELECT throws_ok(
    $$INSERT INTO pliers.api_key_hashes (key_hash, organization_id)
      VALUES (encode(sha256('t92'::bytea), 'hex'), '92000000-0000-0000-0000-00000000000a')$$,
    '42501', NULL, '... nor register a key hash');
SELECT is((SELECT count(*)::integer FROM (SELECT id, prefix, scopes, last_used_at FROM pliers.api_keys) AS k), 4,
    'pliers_app reads the other columns of its keys');
RESET ROLE;
SET LOCAL ROLE pliers_readonly;
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT key_hash FROM pliers.api_keys$$, '42501', NULL, 'pliers_readonly cannot read key_hash');
SELECT throws_ok($$SELECT * FROM pliers.api_key_hashes$$, '42501', NULL, 'pliers_readonly cannot read api_key_hashes');
SELECT is((SELECT count(*)::integer FROM (SELECT id, prefix FROM pliers.api_keys) AS k), 4,
    'pliers_readonly reads the other columns');
SELECT throws_ok($$SELECT * FROM pliers.authenticate_api_key(pg_temp.key('k2'))$$, '42501', NULL,
    'pliers_readonly cannot authenticate keys');
RESET ROLE;

-- Webhooks ---------------------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers.create_webhook('hook', 'https://example.com/h', '{submission.created}', NULL, NULL)$$,
    'PL006', NULL, 'create_webhook without webhook.manage: PL006');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.create_webhook('', 'ftp://example.com', '{}', '\x01', NULL, '[]')$$,
    'PL001', NULL, 'create_webhook with bad arguments: PL001');
SELECT is(
    (SELECT array_agg(e ->> 'path' ORDER BY e ->> 'path')
     FROM jsonb_array_elements(pg_temp.detail_of(
         $$SELECT pliers.create_webhook('', 'ftp://example.com', '{}', '\x01', NULL, '[]')$$) -> 'errors') AS e),
    ARRAY['events', 'headers', 'name', 'secret_key_id', 'url'],
    'PL001 lists every bad argument'
);
INSERT INTO created (name, id)
SELECT 'wa', pliers.create_webhook('hook', 'https://example.com/h', '{submission.created}', '\x0102', 'key-1',
                                   '{"X-Env": "test"}');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000b', '92000002-0000-0000-0000-000000000001');
INSERT INTO created (name, id)
SELECT 'wb', pliers.create_webhook('hook b', 'https://example.org/h', '{form.published}', '\x0304', 'key-1');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT results_eq(
    $$SELECT organization_id, created_by, url::text, secret_key_id FROM pliers.webhooks WHERE id = pg_temp.id('wa')$$,
    $$VALUES ('92000000-0000-0000-0000-00000000000a'::uuid, '92000001-0000-0000-0000-000000000001'::uuid,
              'https://example.com/h', 'key-1')$$,
    'create_webhook writes into the current organization, as the current user'
);
SELECT throws_ok($$SELECT secret_ciphertext FROM pliers.webhooks$$, '42501', NULL,
    'pliers_app cannot read secret_ciphertext');
SELECT throws_ok($$SELECT * FROM pliers.webhooks$$, '42501', NULL, '... nor SELECT * of webhooks');
RESET ROLE;
SET LOCAL ROLE pliers_readonly;
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT secret_ciphertext FROM pliers.webhooks$$, '42501', NULL,
    'pliers_readonly cannot read secret_ciphertext');
SELECT is((SELECT count(*)::integer FROM (SELECT id, url FROM pliers.webhooks) AS w), 1,
    'pliers_readonly reads the other columns of its webhooks');
RESET ROLE;

-- The delivery worker: the ciphertexts of every organization, and nothing else
SET LOCAL ROLE pliers_worker;
SELECT results_eq(
    $$SELECT w.secret_ciphertext, w.secret_key_id FROM pliers.webhooks AS w
      WHERE w.id IN (pg_temp.id('wa'), pg_temp.id('wb')) ORDER BY w.url$$,
    $$VALUES ('\x0102'::bytea, 'key-1'), ('\x0304'::bytea, 'key-1')$$,
    'pliers_worker reads the secret ciphertext of every organization, without a context'
);
SELECT throws_ok($$UPDATE pliers.webhooks SET secret_key_id = 'x'$$, '42501', NULL, 'pliers_worker cannot change webhooks');
SELECT throws_ok($$SELECT id FROM pliers.users$$, '42501', NULL, 'pliers_worker cannot read users');
SELECT throws_ok($$SELECT id FROM pliers.api_keys$$, '42501', NULL, 'pliers_worker cannot read api_keys');
SELECT throws_ok($$SELECT * FROM pliers.create_api_key('x')$$, '42501', NULL, 'pliers_worker cannot call the API');
RESET ROLE;

-- Listing and rotation (issue 15) -----------------------------------------------------------
SET LOCAL ROLE pliers_app;
SELECT pg_catalog.set_config('pliers.context', '', true);
SELECT throws_ok($$SELECT * FROM pliers.list_api_keys()$$, 'PL008', NULL, 'list_api_keys without a context: PL008');
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(gen_random_uuid())$$, 'PL008', NULL,
    'rotate_api_key without a context: PL008');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT * FROM pliers.list_api_keys()$$, 'PL006', NULL, 'list_api_keys without api_key.manage: PL006');
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(pg_temp.id('k2'))$$, 'PL006', NULL,
    'rotate_api_key without api_key.manage: PL006');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
SELECT ok(
    NOT EXISTS (SELECT FROM pliers.list_api_keys(TRUE) AS k, created AS c
                WHERE (to_jsonb(k)::text LIKE '%' || c.key || '%')
                   OR to_jsonb(k)::text LIKE '%' || encode(sha256(convert_to(c.key, 'UTF8')), 'hex') || '%'),
    'list_api_keys shows no key and no hash'
);
SELECT is(
    (SELECT k.prefix FROM pliers.list_api_keys() AS k WHERE k.id = pg_temp.id('k2')),
    (SELECT prefix FROM created WHERE name = 'k2'), 'list_api_keys shows the prefix'
);
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(gen_random_uuid())$$, 'PL002', NULL,
    'rotate_api_key of an unknown key: PL002');
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(pg_temp.id('k2'), -1)$$, 'PL001', NULL,
    'rotate_api_key with a negative grace: PL001');
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(pg_temp.id('k2'), 2592001)$$, 'PL001', NULL,
    'rotate_api_key with a grace over 30 days: PL001');
INSERT INTO created SELECT 'k2r', r.id, r.key, r.prefix FROM pliers.rotate_api_key(pg_temp.id('k2')) AS r;
SELECT is(
    (SELECT (k.name, k.scopes, k.prefix LIKE 'pk_test_%') FROM pliers.list_api_keys() AS k WHERE k.id = pg_temp.id('k2r')),
    ('read only'::text, '{form.view,submission.view}'::text[], TRUE),
    'rotate_api_key: a new key with the old one''s name, environment and scopes'
);
SELECT ok(
    (SELECT k.revoked_at IS NOT NULL FROM pliers.list_api_keys(TRUE) AS k WHERE k.id = pg_temp.id('k2')),
    'rotate_api_key without a grace revokes the old key at once'
);
SELECT throws_ok(format('SELECT * FROM pliers.authenticate_api_key(%L)', pg_temp.key('k2')), 'PL006', NULL,
    'the old key no longer authenticates');
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(pg_temp.id('k2'))$$, 'PL004', NULL,
    'rotate_api_key of a revoked key: PL004');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000a', '92000001-0000-0000-0000-000000000001');
INSERT INTO created SELECT 'k2g', r.id, r.key, r.prefix FROM pliers.rotate_api_key(pg_temp.id('k2r'), 3600) AS r;
SELECT is(
    (SELECT k.expires_at FROM pliers.list_api_keys() AS k WHERE k.id = pg_temp.id('k2r')),
    now() + interval '1 hour', 'with a grace period the old key expires at its end'
);
SELECT lives_ok(format('SELECT * FROM pliers.authenticate_api_key(%L)', pg_temp.key('k2r')),
    'and works until then');
SELECT lives_ok(format('SELECT * FROM pliers.authenticate_api_key(%L)', pg_temp.key('k2g')), 'so does the new key');
SELECT pliers.set_context('92000000-0000-0000-0000-00000000000b', '92000002-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT * FROM pliers.rotate_api_key(pg_temp.id('k2g'))$$, 'PL002', NULL,
    'another organization''s key is PL002');
RESET ROLE;
SELECT is(
    (SELECT array_agg(e.event_type::text ORDER BY e.aggregate_version) FROM pliers.events AS e
     WHERE e.aggregate_type = 'organization' AND e.aggregate_id = pg_temp.id('k2r')),
    ARRAY['api_key.created', 'api_key.rotated'], 'api_key.created, then api_key.rotated, on the key''s id'
);
SELECT ok(
    NOT EXISTS (SELECT FROM pliers.events AS e, created AS c
                WHERE e.organization_id = '92000000-0000-0000-0000-00000000000a'
                    AND (e.payload::text LIKE '%' || c.key || '%'
                         OR e.payload::text LIKE '%' || encode(sha256(convert_to(c.key, 'UTF8')), 'hex') || '%')),
    'no event holds a key or its hash'
);

SELECT * FROM finish();
ROLLBACK;
