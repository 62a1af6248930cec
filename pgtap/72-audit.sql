-- Audit (sql/72-audit.sql, sql/89-audit-tables.sql): the audited tables, the audit
-- row format (action, resource, old/new values, diff, context), no-op updates,
-- secrets and excluded columns, rows without a tenant, enable/disable_audit, the
-- append-only rule of audit_logs, privileges, and an audited write as pliers_app
-- under the tenant policies. Everything is rolled back.
BEGIN;
SELECT plan(93);

-- Helpers ---------------------------------------------------------------------------

-- The DETAIL of the error a statement raises, as jsonb (NULL if it raises none).
CREATE FUNCTION pg_temp.error_detail(p_sql text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_detail text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_detail::jsonb;
END
$$;

-- The audit rows of one resource and action (all rows of a transaction share created_at).
CREATE FUNCTION pg_temp.audit(p_resource_id uuid, p_action text)
RETURNS SETOF pliers.audit_logs
LANGUAGE sql
AS $$
    SELECT * FROM pliers.audit_logs WHERE resource_id = p_resource_id AND action = p_action
$$;

CREATE FUNCTION pg_temp.audit_count(p_resource_id uuid)
RETURNS integer
LANGUAGE sql
AS $$
    SELECT count(*)::integer FROM pliers.audit_logs WHERE resource_id = p_resource_id
$$;

-- Data, as superuser: organizations A and B, an admin in each.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('72000000-0000-0000-0000-00000000000a', 't72-a', 'Audit A'),
('72000000-0000-0000-0000-00000000000b', 't72-b', 'Audit B');
INSERT INTO pliers.users (organization_id, id, email, roles, auth_data, mfa_settings) VALUES
('72000000-0000-0000-0000-00000000000a', '72000001-0000-0000-0000-000000000001', 'ann@t72.example',
 '{org_admin}', '{"password_hash": "s3cr3t-hash"}', '{"totp": "s3cr3t-seed"}'),
('72000000-0000-0000-0000-00000000000b', '72000002-0000-0000-0000-000000000001', 'bob@t72.example',
 '{org_admin}', '{}', '{}');

-- Structure -------------------------------------------------------------------------

SELECT has_function('pliers', '_audit', ARRAY[]::name[], 'pliers._audit() exists');
SELECT function_returns('pliers', '_audit', ARRAY[]::name[], 'trigger', 'pliers._audit() is a trigger function');
SELECT has_function('pliers', 'enable_audit', ARRAY['regclass', 'text[]', 'text[]'],
    'pliers.enable_audit(regclass, text[], text[]) exists');
SELECT has_function('pliers', 'disable_audit', ARRAY['regclass'], 'pliers.disable_audit(regclass) exists');
SELECT has_view('pliers', 'audit_settings', 'pliers.audit_settings exists');
SELECT is(
    (SELECT array_agg(table_name::text ORDER BY table_name::text) FROM pliers.audit_settings),
    ARRAY[
        'pliers.api_keys', 'pliers.attachments', 'pliers.choice_list_items', 'pliers.choice_lists',
        'pliers.form_collaborators', 'pliers.forms',
        'pliers.organizations', 'pliers.plugin_installations', 'pliers.plugins', 'pliers.role_assignments',
        'pliers.submissions', 'pliers.team_members', 'pliers.teams', 'pliers.users', 'pliers.webhooks',
        'pliers.workflow_executions', 'pliers.workflows'
    ],
    'the tables audited from the start'
);
SELECT has_trigger('pliers', t, t || '_audit', 'pliers.' || t || ' has trigger ' || t || '_audit')
FROM unnest(ARRAY['organizations', 'users', 'forms', 'submissions', 'webhooks']) AS t;
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_trigger AS t
     WHERE t.tgfoid = 'pliers._audit()'::regprocedure AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 0
       AND t.tgtype & 28 = 28),
    17, 'every audit trigger is AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW'
);
SELECT is(
    (SELECT row(excluded_columns, ignored_columns, secret_columns)::text FROM pliers.audit_settings
     WHERE table_name = 'pliers.webhooks'::regclass),
    row('{headers}'::text[], '{failure_count,last_failure_at,last_success_at}'::text[],
        '{secret_ciphertext,secret_key_id}'::text[])::text,
    'audit_settings shows excluded, ignored and secret columns (webhooks)'
);
SELECT is(
    (SELECT excluded_columns FROM pliers.audit_settings WHERE table_name = 'pliers.submissions'::regclass),
    '{data}'::text[], 'submissions: the answers are not audited (their events hold them)'
);
SELECT is(
    (SELECT secret_columns FROM pliers.audit_settings WHERE table_name = 'pliers.users'::regclass),
    '{auth_data,mfa_settings}'::text[], 'users: auth_data and mfa_settings are secret'
);
SELECT ok(pliers.is_audit_secret('key_hash') AND pliers.is_audit_secret('api_token')
    AND pliers.is_audit_secret('db_password') AND NOT pliers.is_audit_secret('password_changed_at')
    AND NOT pliers.is_audit_secret('email'),
    'secret columns: key_hash, *token*, *password* (not timestamps), not email');
-- The rule as first written, with regular expressions: the substring tests are the same
-- rule (every column name of the schema, and names made to hit each branch).
WITH names AS (
    SELECT DISTINCT a.attname::text AS n
    FROM pg_catalog.pg_attribute AS a
    INNER JOIN pg_catalog.pg_class AS c ON a.attrelid = c.oid
    WHERE c.relnamespace = 'pliers'::regnamespace AND a.attnum > 0
    UNION
    SELECT unnest(ARRAY[
        'password', 'passwd', 'secret', 'token', 'credential', 'private_key', 'privatekey', 'private_keys',
        'x_password_at', 'token_at', 'token_at_x', 'tokenat', 'secret_', '_at', 'at', '', 'PASSWORD',
        'key_hash', 'key_hash_at', 'auth_data', 'mfa_settings', 'secret_ciphertext', 'refresh_token_at_x'
    ])
)
SELECT is(
    (SELECT array_agg(n ORDER BY n) FROM names WHERE pliers.is_audit_secret(n)),
    (SELECT array_agg(n ORDER BY n) FROM names
     WHERE n IN ('key_hash', 'auth_data', 'mfa_settings', 'secret_ciphertext')
        OR (n ~ '(password|passwd|secret|token|credential|private_key)' AND n !~ '_at$')),
    'is_audit_secret is the rule of the regular expressions'
);

-- Privileges ------------------------------------------------------------------------

SELECT ok(NOT has_function_privilege('pliers_app', p, 'EXECUTE'), p || ': not executable by pliers_app')
FROM unnest(ARRAY[
    'pliers._audit()', 'pliers._history_append_only()',
    'pliers.enable_audit(regclass, text[], text[])', 'pliers.disable_audit(regclass)'
]) AS p;
SELECT ok(NOT has_function_privilege('public', 'pliers.enable_audit(regclass, text[], text[])', 'EXECUTE'),
    'enable_audit: not executable by PUBLIC');
SELECT ok(has_function_privilege('pliers_app', 'pliers.is_audit_secret(text)', 'EXECUTE'),
    'is_audit_secret: executable by pliers_app (the audit trigger calls it as the writer)');
SELECT ok(has_table_privilege('pliers_app', 'pliers.audit_logs', 'SELECT')
    AND has_table_privilege('pliers_app', 'pliers.audit_logs', 'INSERT'),
    'pliers_app may read and append audit rows');
SELECT ok(NOT has_table_privilege('pliers_app', 'pliers.audit_logs', 'UPDATE')
    AND NOT has_table_privilege('pliers_app', 'pliers.audit_logs', 'DELETE')
    AND NOT has_table_privilege('pliers_app', 'pliers.audit_logs', 'TRUNCATE'),
    'pliers_app may not update, delete or truncate audit rows');
SELECT ok(NOT has_table_privilege('pliers_app', 'pliers.audit_settings', 'SELECT'),
    'audit_settings is the DBA''s');

-- Insert ----------------------------------------------------------------------------

-- The context, as set_context would set it (the superuser writes every tenant's rows).
-- One part of the context (or pliers.audit_reason), the others kept: the parts live in
-- settings t72.*, and the signed context is stored again from them, as set_context would.
CREATE FUNCTION pg_temp.context(p_name text, p_value text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_name = 'audit_reason' THEN
        PERFORM set_config('pliers.audit_reason', coalesce(p_value, ''), true);
        RETURN;
    END IF;
    PERFORM set_config('t72.' || p_name, coalesce(p_value, ''), true);
    PERFORM pliers._store_context(pliers._context_payload(
        nullif(current_setting('t72.organization_id', true), '')::uuid,
        nullif(current_setting('t72.user_id', true), '')::uuid,
        p_session_id => nullif(current_setting('t72.session_id', true), '')::uuid,
        p_correlation_id => nullif(current_setting('t72.correlation_id', true), '')::uuid,
        p_ip_address => nullif(current_setting('t72.ip_address', true), '')::inet,
        p_user_agent => nullif(current_setting('t72.user_agent', true), '')
    ));
END
$$;

DO $$
BEGIN
    PERFORM pg_temp.context('organization_id', '72000000-0000-0000-0000-00000000000a');
    PERFORM pg_temp.context('user_id', '72000001-0000-0000-0000-000000000001');
    PERFORM pg_temp.context('session_id', '72000009-0000-0000-0000-000000000001');
    PERFORM pg_temp.context('ip_address', '192.0.2.7');
    PERFORM pg_temp.context('user_agent', 'pgtap/72');
    PERFORM pg_temp.context('correlation_id', '72000009-0000-0000-0000-0000000000cc');
END
$$;

INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('72000000-0000-0000-0000-00000000000a', '72000003-0000-0000-0000-000000000001', 'Reviewers', 'reviewers');

SELECT is(pg_temp.audit_count('72000003-0000-0000-0000-000000000001'), 1, 'an insert writes one audit row');
SELECT results_eq(
    $$SELECT organization_id, resource_type::text, resource_name::text, status::text, user_id, session_id,
             ip_address, user_agent, old_values IS NULL, diff IS NULL, duration_ms
      FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'insert')$$,
    $$VALUES ('72000000-0000-0000-0000-00000000000a'::uuid, 'teams', 'Reviewers', 'success',
              '72000001-0000-0000-0000-000000000001'::uuid, '72000009-0000-0000-0000-000000000001'::uuid,
              '192.0.2.7'::inet, 'pgtap/72', true, true, NULL::integer)$$,
    'insert: organization from the row, resource, status success, actor and request from the context'
);
SELECT is(
    (SELECT new_values ->> 'slug' FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'insert')),
    'reviewers', 'insert: new_values holds the row'
);
SELECT is(
    (SELECT metadata ->> 'correlation_id' FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'insert')),
    '72000009-0000-0000-0000-0000000000cc', 'metadata carries the correlation id'
);
SELECT is(
    (SELECT (metadata ->> 'transaction_id')::xid8 FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'insert')),
    pg_current_xact_id(), 'metadata carries the transaction id'
);

-- Update: diff, no-op, ignored columns ------------------------------------------------

UPDATE pliers.teams SET description = 'Reviews submissions', metadata = '{"floor": 2}'
WHERE id = '72000003-0000-0000-0000-000000000001';
SELECT is(
    (SELECT diff FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'update')),
    '{"description": {"old": null, "new": "Reviews submissions"}, "metadata": {"old": {}, "new": {"floor": 2}}}'::jsonb,
    'update: diff holds the changed columns only, old and new (not updated_at)'
);
SELECT is(
    (SELECT row(old_values ->> 'description', new_values ->> 'description')::text
     FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'update')),
    row(NULL::text, 'Reviews submissions')::text, 'update: old_values and new_values are the whole rows'
);
UPDATE pliers.teams SET description = description WHERE id = '72000003-0000-0000-0000-000000000001';
SELECT is(pg_temp.audit_count('72000003-0000-0000-0000-000000000001'), 2,
    'a no-op update (only updated_at changes) records nothing');
UPDATE pliers.users SET last_activity_at = now() WHERE id = '72000001-0000-0000-0000-000000000001';
SELECT is(
    (SELECT count(*)::integer FROM pg_temp.audit('72000001-0000-0000-0000-000000000001', 'update')), 0,
    'an update of an ignored column alone (users.last_activity_at) records nothing'
);
UPDATE pliers.users SET first_name = 'Ann', last_activity_at = now() + INTERVAL '1 minute'
WHERE id = '72000001-0000-0000-0000-000000000001';
SELECT is(
    (SELECT array_agg(k ORDER BY k) FROM pg_temp.audit('72000001-0000-0000-0000-000000000001', 'update') AS a,
         jsonb_object_keys(a.diff) AS k),
    '{first_name,last_activity_at}'::text[],
    'with another change, the ignored column shows in the diff; revision and updated_at do not'
);

-- Secrets -----------------------------------------------------------------------------

UPDATE pliers.users SET auth_data = '{"password_hash": "n3w-hash"}', mfa_settings = '{"totp": "n3w-seed"}'
WHERE id = '72000001-0000-0000-0000-000000000001';
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE resource_id = '72000001-0000-0000-0000-000000000001'
       AND concat_ws(' ', old_values, new_values, diff) ~ 's3cr3t|n3w-'),
    0, 'users: auth_data and mfa_settings values never reach audit_logs'
);
SELECT is(
    (SELECT diff FROM pg_temp.audit('72000001-0000-0000-0000-000000000001', 'update')
     WHERE diff ? 'auth_data'),
    '{"auth_data": {"omitted": true}, "mfa_settings": {"omitted": true}}'::jsonb,
    'a change of secrets only is recorded as {"omitted": true}, without values'
);
SELECT ok(
    (SELECT bool_and(NOT (coalesce(old_values, '{}') ?| '{auth_data,mfa_settings}')
                     AND NOT (coalesce(new_values, '{}') ?| '{auth_data,mfa_settings}'))
     FROM pliers.audit_logs WHERE resource_id = '72000001-0000-0000-0000-000000000001'),
    'users: the secret keys are absent from old_values and new_values'
);

INSERT INTO pliers.api_key_hashes (key_hash, organization_id) VALUES
(encode(sha256('pk_test_72'), 'hex'), '72000000-0000-0000-0000-00000000000a');
INSERT INTO pliers.api_keys (organization_id, id, name, key_hash, prefix, created_by) VALUES
('72000000-0000-0000-0000-00000000000a', '72000004-0000-0000-0000-000000000001', 'CI key',
 encode(sha256('pk_test_72'), 'hex'), 'pk_test_72', '72000001-0000-0000-0000-000000000001');
UPDATE pliers.api_keys SET last_used_at = now() WHERE id = '72000004-0000-0000-0000-000000000001';
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE resource_id = '72000004-0000-0000-0000-000000000001'
       AND concat_ws(' ', old_values, new_values, diff) LIKE '%' || encode(sha256('pk_test_72'), 'hex') || '%'),
    0, 'api_keys: key_hash never reaches audit_logs'
);
SELECT is(pg_temp.audit_count('72000004-0000-0000-0000-000000000001'), 1,
    'api_keys: using a key (last_used_at) records nothing');

INSERT INTO pliers.webhooks (organization_id, id, name, url, events, headers, secret_ciphertext, secret_key_id)
VALUES ('72000000-0000-0000-0000-00000000000a', '72000005-0000-0000-0000-000000000001', 'Hook',
        'https://hooks.t72.example/in', '{submission.created}', '{"Authorization": "Bearer t0ken-72"}',
        '\x0102'::bytea, 'key-1');
UPDATE pliers.webhooks SET headers = '{"Authorization": "Bearer rotated-72"}', failure_count = 1
WHERE id = '72000005-0000-0000-0000-000000000001';
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE resource_id = '72000005-0000-0000-0000-000000000001'
       AND concat_ws(' ', old_values, new_values, diff) ~ 't0ken-72|rotated-72|secret_ciphertext|x0102'),
    0, 'webhooks: headers (excluded) and the secret never reach audit_logs'
);
SELECT is(
    (SELECT diff FROM pg_temp.audit('72000005-0000-0000-0000-000000000001', 'update')),
    '{"headers": {"omitted": true}, "failure_count": {"old": 0, "new": 1}}'::jsonb,
    'webhooks: an excluded column shows as omitted in the diff'
);

-- Delete, tenants, organizations -------------------------------------------------------

DELETE FROM pliers.teams WHERE id = '72000003-0000-0000-0000-000000000001';
SELECT results_eq(
    $$SELECT old_values ->> 'name', new_values IS NULL, diff IS NULL, resource_name::text
      FROM pg_temp.audit('72000003-0000-0000-0000-000000000001', 'delete')$$,
    $$VALUES ('Reviewers', true, true, 'Reviewers')$$,
    'delete: old_values holds the row, no new_values nor diff'
);

INSERT INTO pliers.plugins (id, organization_id, name, slug, version, type, manifest) VALUES
('72000006-0000-0000-0000-000000000001', NULL, 'Global 72', 'global-72', '1.0.0', 'integration', '{}'),
('72000006-0000-0000-0000-000000000002', '72000000-0000-0000-0000-00000000000a', 'Private 72', 'private-72',
 '1.0.0', 'integration', '{}');
SELECT is(pg_temp.audit_count('72000006-0000-0000-0000-000000000001'), 0,
    'a global plugin (no tenant) is not audited');
SELECT is(pg_temp.audit_count('72000006-0000-0000-0000-000000000002'), 1, 'a private plugin is audited');

SELECT is(
    (SELECT organization_id FROM pg_temp.audit('72000000-0000-0000-0000-00000000000a', 'insert')),
    '72000000-0000-0000-0000-00000000000a'::uuid, 'organizations: the audit row belongs to the organization itself'
);

-- A write for another tenant than the context's: the actor goes to metadata.
UPDATE pliers.users SET first_name = 'Bob' WHERE id = '72000002-0000-0000-0000-000000000001';
SELECT results_eq(
    $$SELECT user_id, metadata ->> 'actor_user_id', metadata ->> 'actor_organization_id'
      FROM pg_temp.audit('72000002-0000-0000-0000-000000000001', 'update')$$,
    $$VALUES (NULL::uuid, '72000001-0000-0000-0000-000000000001', '72000000-0000-0000-0000-00000000000a')$$,
    'a row of another tenant than the context: user_id NULL, the actor in metadata'
);

-- audit_reason is honoured only for roles that bypass RLS (purge, erasure).
DO $$ BEGIN PERFORM pg_temp.context('audit_reason', 'test'); END $$;
UPDATE pliers.users SET first_name = 'Bobby' WHERE id = '72000002-0000-0000-0000-000000000001';
SELECT results_eq(
    $$SELECT old_values IS NULL, new_values IS NULL, diff IS NULL, resource_name IS NULL, metadata ->> 'reason'
      FROM pg_temp.audit('72000002-0000-0000-0000-000000000001', 'update') WHERE metadata ? 'reason'$$,
    $$VALUES (true, true, true, true, 'test')$$,
    'with pliers.audit_reason set by a superuser, the row is recorded without values'
);
DO $$ BEGIN PERFORM pg_temp.context('audit_reason', NULL); END $$;

-- audit_logs.user_id is NO ACTION: a user who acted cannot be hard-deleted (users are
-- soft-deleted), and the audit row keeps who acted.
INSERT INTO pliers.users (organization_id, id, email) VALUES
('72000000-0000-0000-0000-00000000000a', '72000001-0000-0000-0000-000000000009', 'zed@t72.example');
DO $$ BEGIN PERFORM pg_temp.context('user_id', '72000001-0000-0000-0000-000000000009'); END $$;
INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('72000000-0000-0000-0000-00000000000a', '72000003-0000-0000-0000-000000000002', 'Zed''s', 'zeds');
DO $$ BEGIN PERFORM pg_temp.context('user_id', '72000001-0000-0000-0000-000000000001'); END $$;
SELECT throws_ok(
    $$DELETE FROM pliers.users WHERE id = '72000001-0000-0000-0000-000000000009'$$,
    '23503', NULL, 'deleting a user who acted fails: audit_logs.user_id still names the user'
);
SELECT is(
    (SELECT user_id FROM pg_temp.audit('72000003-0000-0000-0000-000000000002', 'insert')),
    '72000001-0000-0000-0000-000000000009'::uuid,
    'the audit row stays, naming the user'
);
SELECT is(
    (SELECT count(*)::integer FROM pg_temp.audit('72000001-0000-0000-0000-000000000009', 'delete')), 0,
    'the refused deletion leaves no audit row'
);

-- A superuser without a context: a user still named as a team's creator cannot be
-- hard-deleted; clearing the reference is an update audited in the row's tenant, after
-- which the user can go.
DO $$
BEGIN
    PERFORM pg_temp.context('organization_id', NULL);
    PERFORM pg_temp.context('user_id', NULL);
END
$$;
INSERT INTO pliers.users (organization_id, id, email) VALUES
('72000000-0000-0000-0000-00000000000a', '72000001-0000-0000-0000-00000000000b', 'kim@t72.example');
INSERT INTO pliers.teams (organization_id, id, name, slug, created_by) VALUES
('72000000-0000-0000-0000-00000000000a', '72000003-0000-0000-0000-000000000005', 'Kim''s', 'kims',
 '72000001-0000-0000-0000-00000000000b');
SELECT throws_ok(
    $$DELETE FROM pliers.users WHERE id = '72000001-0000-0000-0000-00000000000b'$$,
    '23503', NULL, 'a superuser without a context cannot hard-delete a user still named as a team''s creator'
);
UPDATE pliers.teams SET created_by = NULL WHERE id = '72000003-0000-0000-0000-000000000005';
SELECT is(
    (SELECT diff FROM pg_temp.audit('72000003-0000-0000-0000-000000000005', 'update')),
    '{"created_by": {"old": "72000001-0000-0000-0000-00000000000b", "new": null}}'::jsonb,
    'clearing the reference is audited in the row''s tenant'
);
SELECT lives_ok(
    $$DELETE FROM pliers.users WHERE id = '72000001-0000-0000-0000-00000000000b'$$,
    'then the user can be hard-deleted'
);
SELECT is(pliers.current_organization_id(), NULL, 'and the (empty) context is left as it was');
DO $$
BEGIN
    PERFORM pg_temp.context('organization_id', '72000000-0000-0000-0000-00000000000a');
    PERFORM pg_temp.context('user_id', '72000001-0000-0000-0000-000000000001');
END
$$;

-- A secret column added later is never recorded either (the trigger reads the row's
-- columns as they are), and an update of it alone shows as omitted.
ALTER TABLE pliers.teams ADD COLUMN refresh_token text;
INSERT INTO pliers.teams (organization_id, id, name, slug, refresh_token) VALUES
('72000000-0000-0000-0000-00000000000a', '72000003-0000-0000-0000-000000000006', 'Later', 'later', 'rt-72-one');
UPDATE pliers.teams SET refresh_token = 'rt-72-two' WHERE id = '72000003-0000-0000-0000-000000000006';
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE resource_id = '72000003-0000-0000-0000-000000000006'
       AND (concat_ws(' ', old_values, new_values, diff) ~ 'rt-72'
            OR coalesce(old_values, '{}') ? 'refresh_token' OR coalesce(new_values, '{}') ? 'refresh_token')),
    0, 'a secret column added to an audited table never reaches audit_logs'
);
SELECT is(
    (SELECT diff FROM pg_temp.audit('72000003-0000-0000-0000-000000000006', 'update')),
    '{"refresh_token": {"omitted": true}}'::jsonb, 'a change of that column alone is recorded as omitted'
);
ALTER TABLE pliers.teams DROP COLUMN refresh_token;

-- enable_audit / disable_audit -----------------------------------------------------------

SELECT is(pliers.disable_audit('pliers.teams'), true, 'disable_audit drops the trigger: true');
SELECT hasnt_trigger('pliers', 'teams', 'teams_audit', 'teams_audit is gone');
SELECT is(pliers.disable_audit('pliers.teams'), false, 'disable_audit again: false (idempotent)');
INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('72000000-0000-0000-0000-00000000000a', '72000003-0000-0000-0000-000000000003', 'Unaudited', 'unaudited');
SELECT is(pg_temp.audit_count('72000003-0000-0000-0000-000000000003'), 0, 'a table not audited records nothing');
SELECT is(pliers.enable_audit('pliers.teams'), true, 'enable_audit creates the trigger: true');
SELECT is(pliers.enable_audit('pliers.teams'), false, 'enable_audit again: false (idempotent)');
SELECT has_trigger('pliers', 'teams', 'teams_audit', 'teams_audit is back');
SELECT is(pliers.enable_audit('pliers.teams', '{description}'), true, 'enable_audit with new exclusions: true');
SELECT is(
    (SELECT excluded_columns FROM pliers.audit_settings WHERE table_name = 'pliers.teams'::regclass),
    '{description}'::text[], 'the new exclusions are in audit_settings'
);
SELECT is(pliers.enable_audit('pliers.teams'), false, 'enable_audit without lists keeps the current ones');
UPDATE pliers.teams SET description = 'hidden', name = 'Visible'
WHERE id = '72000003-0000-0000-0000-000000000003';
SELECT is(
    (SELECT row(diff, new_values ? 'description')::text
     FROM pg_temp.audit('72000003-0000-0000-0000-000000000003', 'update')),
    row('{"description": {"omitted": true}, "name": {"old": "Unaudited", "new": "Visible"}}'::jsonb, false)::text,
    'an excluded column is omitted from the values and the diff'
);
SELECT throws_ok($$SELECT pliers.enable_audit('pliers.system_settings')$$, 'PL009', NULL,
    'system_settings (no tenant) cannot be audited: PL009');
SELECT throws_ok($$SELECT pliers.enable_audit('pliers.audit_logs')$$, 'PL009', NULL,
    'audit_logs cannot be audited: PL009');
SELECT throws_ok($$SELECT pliers.enable_audit('pliers.events')$$, 'PL009', NULL, 'events cannot be audited: PL009');
SELECT throws_ok($$SELECT pliers.enable_audit('pg_catalog.pg_class')$$, 'PL009', NULL,
    'a table outside schema pliers cannot be audited: PL009');
SELECT throws_ok($$SELECT pliers.enable_audit('pliers.teams', '{no_such_column}')$$, 'PL009', NULL,
    'an unknown excluded column: PL009');
SELECT is(
    pg_temp.error_detail($$SELECT pliers.enable_audit('pliers.teams', p_ignored_columns => '{nope}')$$),
    '{"argument": "p_excluded_columns", "value": ["nope"]}'::jsonb,
    'PL009 names the unknown columns'
);

-- Append-only -----------------------------------------------------------------------------

SELECT throws_ok($$UPDATE pliers.audit_logs SET action = 'forged'$$, 'PL005', NULL,
    'updating an audit row raises PL005, even as superuser');
SELECT throws_ok($$DELETE FROM pliers.audit_logs$$, 'PL005', NULL,
    'deleting audit rows raises PL005, even as superuser');
SELECT throws_ok($$TRUNCATE pliers.audit_logs$$, 'PL005', NULL, 'truncating audit_logs raises PL005');
SELECT is(
    pg_temp.error_detail($$UPDATE pliers.audit_logs SET action = 'forged'
                           WHERE resource_id = '72000004-0000-0000-0000-000000000001'$$) - 'id',
    '{"object": "audit_logs", "operation": "update"}'::jsonb,
    'PL005 DETAIL names the object, the row id and the operation'
);
SELECT throws_ok(
    $$UPDATE pliers.audit_logs SET user_id = NULL, action = 'forged' WHERE user_id IS NOT NULL$$, 'PL005', NULL,
    'nulling user_id together with another change raises PL005'
);

-- As pliers_app, under the tenant policies ---------------------------------------------------

RESET ROLE;
DO $$
BEGIN
    PERFORM pg_temp.context(s, NULL)
    FROM unnest(ARRAY['organization_id', 'user_id', 'session_id', 'ip_address', 'user_agent', 'correlation_id']) AS s;
END
$$;
SET LOCAL ROLE pliers_app;
DO $$
BEGIN
    PERFORM pliers.set_context('72000000-0000-0000-0000-00000000000a', '72000001-0000-0000-0000-000000000001',
        '72000009-0000-0000-0000-000000000002', '198.51.100.9', 'app/1.0');
END
$$;
SELECT lives_ok(
    $$INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
      ('72000000-0000-0000-0000-00000000000a', '72000003-0000-0000-0000-000000000004', 'App team', 'app-team')$$,
    'pliers_app inserts an audited row under FORCE RLS'
);
SELECT lives_ok(
    $$UPDATE pliers.teams SET name = 'App team 2' WHERE id = '72000003-0000-0000-0000-000000000004'$$,
    'pliers_app updates an audited row under FORCE RLS'
);
SELECT results_eq(
    $$SELECT action::text, user_id, session_id, ip_address, user_agent
      FROM pliers.audit_logs WHERE resource_id = '72000003-0000-0000-0000-000000000004' ORDER BY action$$,
    $$VALUES ('insert', '72000001-0000-0000-0000-000000000001'::uuid, '72000009-0000-0000-0000-000000000002'::uuid,
              '198.51.100.9'::inet, 'app/1.0'),
             ('update', '72000001-0000-0000-0000-000000000001'::uuid, '72000009-0000-0000-0000-000000000002'::uuid,
              '198.51.100.9'::inet, 'app/1.0')$$,
    'pliers_app''s writes are audited with its context, and it reads them back'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs WHERE organization_id = '72000000-0000-0000-0000-00000000000b'),
    0, 'pliers_app sees no audit row of another tenant'
);
-- Forms and submissions: their API (pliers_owner) records events; other writers are audited.
SELECT lives_ok(
    $$INSERT INTO pliers.forms (organization_id, id, name, slug, definition, created_by, updated_by) VALUES
      ('72000000-0000-0000-0000-00000000000a', '72000004-0000-0000-0000-000000000009', 'Direct', 'direct',
       '{"title": "Direct", "fields": []}', '72000001-0000-0000-0000-000000000001',
       '72000001-0000-0000-0000-000000000001')$$,
    'pliers_app writes a form directly, outside the API'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs WHERE resource_id = '72000004-0000-0000-0000-000000000009'),
    1, 'a write to forms outside the API is audited'
);
RESET ROLE;
SET LOCAL ROLE pliers_owner;
UPDATE pliers.forms SET name = 'Direct 2' WHERE id = '72000004-0000-0000-0000-000000000009';
RESET ROLE;
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs WHERE resource_id = '72000004-0000-0000-0000-000000000009'),
    1, 'a write by pliers_owner (the API, which appends the events) is not'
);
SELECT results_eq(
    $$SELECT table_name::text, api_writes_in_events FROM pliers.audit_settings WHERE api_writes_in_events ORDER BY 1$$,
    $$VALUES ('pliers.choice_list_items', TRUE), ('pliers.choice_lists', TRUE), ('pliers.forms', TRUE),
             ('pliers.submissions', TRUE), ('pliers.workflow_executions', TRUE)$$,
    'audit_settings: the API writes of forms, submissions, choice lists and executions are left to their events, of no other table'
);
SET LOCAL ROLE pliers_app;
SELECT throws_ok($$UPDATE pliers.audit_logs SET action = 'forged'$$, '42501', NULL,
    'pliers_app may not update audit rows (no privilege)');
SELECT throws_ok($$DELETE FROM pliers.audit_logs$$, '42501', NULL, 'pliers_app may not delete audit rows');
SELECT throws_ok($$SELECT pliers.disable_audit('pliers.teams')$$, '42501', NULL,
    'pliers_app may not disable the audit');
SELECT is(set_config('pliers.audit_reason', 'forged', true), 'forged', 'pliers_app sets pliers.audit_reason');
UPDATE pliers.teams SET name = 'App team 3' WHERE id = '72000003-0000-0000-0000-000000000004';
SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE resource_id = '72000003-0000-0000-0000-000000000004' AND diff -> 'name' ->> 'new' = 'App team 3'),
    1, 'pliers_app cannot silence the values with pliers.audit_reason'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
