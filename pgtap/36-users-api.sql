-- The user API (sql/36-users-api.sql): invitations (a token once, its SHA-256 stored,
-- expiry), direct additions, profiles (time zones, BCP 47 locales), preferences, roles
-- (no escalation, the last owner), suspension, deletion, erasure (user.erase), logins
-- with lockout, password hashes and MFA secrets in pliers.user_secrets, which no
-- application role reads. Every function and its error codes, as pliers_app.
BEGIN;
SELECT plan(108);

-- Data, as superuser: A has owner a1, admin a2, viewer a3; B has owner b1.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('36000000-0000-0000-0000-00000000000a', 't36-a', 'Users A'),
('36000000-0000-0000-0000-00000000000b', 't36-b', 'Users B');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000001', 'a1@t36.example', '{org_owner}'),
('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000002', 'a2@t36.example', '{org_admin}'),
('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000003', 'a3@t36.example', '{viewer}'),
('36000000-0000-0000-0000-00000000000b', '36000002-0000-0000-0000-000000000001', 'b1@t36.example', '{org_owner}');

CREATE TEMPORARY TABLE saved (name text PRIMARY KEY, id uuid, token text);
GRANT ALL ON saved TO PUBLIC;

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

CREATE FUNCTION pg_temp.paths(p_statement text)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT array_agg((e ->> 'path') || ':' || (e ->> 'code') ORDER BY e ->> 'path')
    FROM jsonb_array_elements(pg_temp.detail_of(p_statement) -> 'errors') AS e
$$;

CREATE FUNCTION pg_temp.id(p_name text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM saved WHERE name = p_name $$;
CREATE FUNCTION pg_temp.token(p_name text) RETURNS text LANGUAGE sql AS $$ SELECT token FROM saved WHERE name = p_name $$;
CREATE FUNCTION pg_temp.rev(p_id uuid) RETURNS integer LANGUAGE sql AS $$ SELECT revision FROM pliers.users WHERE id = p_id $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

-- Structure ----------------------------------------------------------------------------------

SELECT has_table('pliers', 'user_secrets', 'pliers.user_secrets exists');
SELECT columns_are('pliers', 'user_secrets', ARRAY[
    'organization_id', 'user_id', 'password_hash', 'mfa_secret_ciphertext', 'mfa_secret_key_id',
    'invitation_token_hash', 'invitation_accepted_at', 'updated_at'
], 'user_secrets holds the password hash, the encrypted MFA secret and the invitation hash');
SELECT col_is_pk('pliers', 'user_secrets', ARRAY['organization_id', 'user_id'], 'one row of secrets per user');
SELECT has_column('pliers', 'users', 'failed_login_count', 'users.failed_login_count exists');
SELECT has_column('pliers', 'users', 'locked_until', 'users.locked_until exists');
SELECT has_column('pliers', 'users', 'invitation_expires_at', 'users.invitation_expires_at exists');
SELECT ok((SELECT 'user.erase' = ANY(permissions) FROM pliers.roles WHERE name = 'org_owner'), 'org_owner holds user.erase');
SELECT ok((SELECT NOT 'user.erase' = ANY(permissions) FROM pliers.roles WHERE name = 'org_admin'), 'org_admin does not');
SELECT results_eq(
    $$SELECT from_status::text, to_status::text, via FROM pliers.user_status_moves() ORDER BY 1, 2$$,
    $$VALUES ('active', 'deleted', 'delete_user'), ('active', 'suspended', 'suspend_user'),
             ('inactive', 'active', 'reactivate_user'), ('inactive', 'deleted', 'delete_user'),
             ('inactive', 'suspended', 'suspend_user'), ('pending', 'active', 'accept_invitation'),
             ('pending', 'deleted', 'delete_user'), ('suspended', 'active', 'reactivate_user'),
             ('suspended', 'deleted', 'delete_user')$$,
    'user_status_moves lists the allowed status moves'
);

SELECT has_function('pliers', 'invite_user', ARRAY['text', 'text[]', 'text', 'interval'], 'invite_user exists');
SELECT has_function('pliers', 'accept_invitation', ARRAY['text', 'uuid', 'inet', 'text'], 'accept_invitation exists');
SELECT has_function('pliers', 'add_user', ARRAY['text', 'text[]', 'text', 'text', 'text', 'text', 'text', 'text'],
    'add_user exists');
SELECT has_function('pliers', 'get_user', ARRAY['uuid'], 'get_user exists');
SELECT has_function('pliers', 'list_users', ARRAY['pliers.user_status', 'integer'], 'list_users exists');
SELECT has_function('pliers', 'update_user_profile',
    ARRAY['uuid', 'integer', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text'], 'update_user_profile exists');
SELECT has_function('pliers', 'update_user_preferences', ARRAY['uuid', 'jsonb', 'integer'], 'update_user_preferences exists');
SELECT has_function('pliers', 'change_user_roles', ARRAY['uuid', 'text[]', 'integer'], 'change_user_roles exists');
SELECT has_function('pliers', 'suspend_user', ARRAY['uuid', 'integer'], 'suspend_user exists');
SELECT has_function('pliers', 'reactivate_user', ARRAY['uuid', 'integer'], 'reactivate_user exists');
SELECT has_function('pliers', 'delete_user', ARRAY['uuid', 'integer'], 'delete_user exists');
SELECT has_function('pliers', 'erase_user_account', ARRAY['uuid'], 'erase_user_account exists');
SELECT has_function('pliers', 'password_policy', ARRAY[]::text[], 'password_policy exists');
SELECT has_function('pliers', 'set_user_password', ARRAY['uuid', 'text'], 'set_user_password exists');
SELECT has_function('pliers', 'set_user_mfa', ARRAY['uuid', 'bytea', 'text'], 'set_user_mfa exists');
SELECT has_function('pliers', 'login_credentials', ARRAY['uuid', 'text'], 'login_credentials exists');
SELECT has_function('pliers', 'record_login', ARRAY['uuid', 'uuid', 'boolean', 'uuid', 'inet', 'text'], 'record_login exists');
SELECT has_function('pliers', 'touch_user_activity', ARRAY[]::text[], 'touch_user_activity exists');
SELECT function_privs_are('pliers', '_check_user_roles', ARRAY['text[]'], 'pliers_app', ARRAY[]::text[],
    'pliers_app cannot execute the private helpers');
SELECT function_privs_are('pliers', 'invite_user', ARRAY['text', 'text[]', 'text', 'interval'], 'pliers_readonly',
    ARRAY[]::text[], 'pliers_readonly cannot invite');

-- Invitations ---------------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT * FROM pliers.invite_user('x@t36.example')$$, 'PL008', NULL, 'invite_user without a context: PL008');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000003');
SELECT throws_ok($$SELECT * FROM pliers.invite_user('x@t36.example')$$, 'PL006', NULL, 'a viewer cannot invite: PL006');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT * FROM pliers.invite_user('nope', '{viewer,wizard}', ' ', '1 minute')$$, 'PL001', NULL,
    'invite_user with bad arguments: PL001');
SELECT is(pg_temp.paths($$SELECT * FROM pliers.invite_user('nope', '{viewer,wizard}', ' ', '1 minute')$$),
    ARRAY['display_name:blank', 'email:invalid_email', 'roles[1]:unknown_role', 'valid_for:out_of_range'],
    'PL001 lists every bad argument with its path and code');
SELECT throws_ok($$SELECT * FROM pliers.invite_user('x@t36.example', '{org_owner}')$$, 'PL006', NULL,
    'an org_admin cannot invite an org_owner (organization.manage): PL006');

INSERT INTO saved SELECT 'inv', i.user_id, i.token FROM pliers.invite_user('Invited@t36.example', '{form_editor}', 'Ivy') AS i;
INSERT INTO saved SELECT 'old', i.user_id, i.token FROM pliers.invite_user('old@t36.example', '{viewer}', NULL, '1 hour') AS i;
SELECT matches(pg_temp.token('inv'), '^inv_3600000000000000000000000000000a_[0-9a-f]{64}$'::text,
    'a token is inv_<organization>_<64 hex digits>');
SELECT is((SELECT status::text FROM pliers.get_user(pg_temp.id('inv'))), 'pending', 'an invited user is pending');
SELECT is(pg_temp.detail_of($$SELECT * FROM pliers.invite_user('INVITED@t36.example')$$) -> 'errors',
    '[{"path": "email", "code": "taken", "message": "another user of the organization has this email"}]'::jsonb,
    'an e-mail taken in the organization: PL001 code taken');
RESET ROLE;
SELECT is((SELECT invitation_token_hash FROM pliers.user_secrets WHERE user_id = pg_temp.id('inv')),
    encode(sha256(convert_to(pg_temp.token('inv'), 'UTF8')), 'hex'), 'only the SHA-256 of the token is stored');
SELECT is((SELECT count(*)::integer FROM pliers.events WHERE strpos(payload::text, substr(pg_temp.token('inv'), 38)) > 0),
    0, 'no event holds the token');
UPDATE pliers.users SET invitation_expires_at = now() - interval '1 second' WHERE id = pg_temp.id('old');
SELECT set_config('pliers.context', '', true);
SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT * FROM pliers.accept_invitation('inv_nothing')$$, 'PL006', 'not a valid invitation',
    'a malformed token: PL006');
SELECT is(pg_temp.detail_of(
    $$SELECT * FROM pliers.accept_invitation('inv_36000000000000000000000000000000a_' || repeat('0', 64))$$) ->> 'reason',
    'unknown', 'an unknown token: reason unknown');
SELECT throws_ok(format('SELECT * FROM pliers.accept_invitation(%L)', pg_temp.token('old')), 'PL006',
    'this invitation has expired', 'an expired invitation: PL006');
SELECT results_eq(format('SELECT * FROM pliers.accept_invitation(%L)', pg_temp.token('inv')),
    format($$VALUES ('36000000-0000-0000-0000-00000000000a'::uuid, %L::uuid)$$, pg_temp.id('inv')),
    'accept_invitation returns the organization and the user');
SELECT is(pliers.current_user_id(), pg_temp.id('inv'), 'and opens the user''s context');
SELECT is((SELECT status::text FROM pliers.get_user(pg_temp.id('inv'))), 'active', 'the user is active');
SELECT throws_ok(format('SELECT * FROM pliers.accept_invitation(%L)', pg_temp.token('inv')), 'PL006',
    'this invitation has already been accepted', 'a token works once: PL006');
SELECT is(pg_temp.detail_of(format('SELECT * FROM pliers.accept_invitation(%L)', pg_temp.token('inv'))) ->> 'reason',
    'used', 'reason used');

-- Adding, reading, editing -----------------------------------------------------------------------

SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000002');
SELECT is(
    pg_temp.paths($$SELECT pliers.add_user('bad', '{viewer,ghost}', p_timezone => 'Mars/Base', p_locale => 'english')$$),
    ARRAY['email:invalid_email', 'locale:invalid_format', 'roles[1]:unknown_role', 'timezone:unknown_timezone'],
    'add_user: every error at once (email, time zone, locale, unknown role)');
INSERT INTO saved SELECT 'u1', (pliers.add_user('u1@t36.example', '{viewer}', 'U One', p_timezone => 'Europe/Paris', p_locale => 'fr-FR')).id;
SELECT is((SELECT (status, timezone, locale)::text FROM pliers.get_user(pg_temp.id('u1'))), '(active,Europe/Paris,fr-FR)',
    'add_user makes an active user');
SELECT throws_ok($$SELECT pliers.add_user('U1@T36.example')$$, 'PL001', NULL, 'add_user with a taken e-mail: PL001');
SELECT throws_ok($$SELECT pliers.get_user('36000002-0000-0000-0000-000000000001')$$, 'PL002', NULL,
    'get_user of another tenant: PL002');
SELECT is((SELECT count(*)::integer FROM pliers.list_users()), 6, 'list_users: the live users of the tenant');
SELECT throws_ok($$SELECT pliers.list_users(p_limit => 0)$$, 'PL001', NULL, 'list_users with a bad limit: PL001');
SELECT throws_ok(format('SELECT pliers.update_user_profile(%L, NULL, p_display_name => %L)', pg_temp.id('u1'), 'X'),
    'PL001', NULL, 'update_user_profile without the expected revision: PL001');
SELECT throws_ok(format('SELECT pliers.update_user_profile(%L, 99, p_display_name => %L)', pg_temp.id('u1'), 'X'),
    'PL003', NULL, 'update_user_profile with a stale revision: PL003');
SELECT is(pg_temp.paths(format('SELECT pliers.update_user_profile(%L, %s, p_timezone => %L, p_locale => %L)',
    pg_temp.id('u1'), pg_temp.rev(pg_temp.id('u1')), 'CEST', 'fr_FR')),
    ARRAY['locale:invalid_format', 'timezone:unknown_timezone'], 'update_user_profile: a bad time zone and locale');
SELECT is((SELECT display_name::text FROM pliers.update_user_profile(pg_temp.id('u1'), pg_temp.rev(pg_temp.id('u1')),
    p_display_name => 'U 1', p_timezone => 'America/New_York')), 'U 1', 'update_user_profile edits');
SELECT throws_ok(format('SELECT pliers.update_user_profile(%L, 1)', '36000001-0000-0000-0000-000000000099'), 'PL002', NULL,
    'update_user_profile of an unknown user: PL002');
SELECT throws_ok(format($$SELECT pliers.update_user_preferences(%L, '[1]')$$, pg_temp.id('u1')), 'PL001', NULL,
    'preferences must be an object: PL001');
SELECT is((SELECT preferences FROM pliers.update_user_preferences(pg_temp.id('u1'), '{"theme": "dark"}')),
    '{"theme": "dark"}'::jsonb, 'update_user_preferences replaces them');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', pg_temp.id('u1'));
SELECT is((SELECT display_name::text FROM pliers.update_user_profile(pg_temp.id('u1'), pg_temp.rev(pg_temp.id('u1')),
    p_display_name => 'Me')), 'Me', 'a user edits its own profile without user.manage');
SELECT throws_ok($$SELECT pliers.update_user_profile('36000001-0000-0000-0000-000000000003', 1, p_display_name => 'X')$$,
    'PL006', NULL, 'but not another user''s: PL006');

-- Roles and the last owner -----------------------------------------------------------------------

SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000003');
SELECT throws_ok($$SELECT pliers.change_user_roles('36000001-0000-0000-0000-000000000003', '{viewer,org_admin}', 1)$$,
    'PL006', NULL, 'a viewer cannot grant itself org_admin: PL006');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000002');
SELECT throws_ok(format('SELECT pliers.change_user_roles(%L, %L, %s)', pg_temp.id('u1'), '{org_owner}', pg_temp.rev(pg_temp.id('u1'))),
    'PL006', NULL, 'an org_admin cannot give org_owner: PL006');
SELECT throws_ok(format('SELECT pliers.change_user_roles(%L, %L, %s)', '36000001-0000-0000-0000-000000000001', '{viewer}',
    pg_temp.rev('36000001-0000-0000-0000-000000000001')), 'PL006', NULL, 'nor take it away: PL006');
SELECT is(pg_temp.paths(format('SELECT pliers.change_user_roles(%L, %L, %s)', pg_temp.id('u1'), '{viewer,nobody}',
    pg_temp.rev(pg_temp.id('u1')))), ARRAY['roles[1]:unknown_role'], 'an unknown role: PL001 at roles[i]');
SELECT is((SELECT roles FROM pliers.change_user_roles(pg_temp.id('u1'), '{viewer,form_editor}', pg_temp.rev(pg_temp.id('u1')))),
    '{form_editor,viewer}'::text[], 'change_user_roles replaces the roles (sorted, distinct)');
SELECT throws_ok(format('SELECT pliers.suspend_user(%L)', '36000001-0000-0000-0000-000000000001'), 'PL006', NULL,
    'an org_admin cannot suspend an owner: PL006');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000001');
SELECT throws_ok(format('SELECT pliers.change_user_roles(%L, %L, %s)', '36000001-0000-0000-0000-000000000001', '{org_admin}',
    pg_temp.rev('36000001-0000-0000-0000-000000000001')), 'PL003', NULL, 'the last owner cannot be demoted: PL003');
SELECT throws_ok($$SELECT pliers.suspend_user('36000001-0000-0000-0000-000000000001')$$, 'PL003', NULL,
    'nor suspended: PL003');
SELECT throws_ok($$SELECT pliers.delete_user('36000001-0000-0000-0000-000000000001')$$, 'PL003', NULL, 'nor deleted: PL003');
SELECT throws_ok($$SELECT pliers.erase_user_account('36000001-0000-0000-0000-000000000001')$$, 'PL003', NULL,
    'nor erased: PL003');
SELECT is(pg_temp.detail_of($$SELECT pliers.delete_user('36000001-0000-0000-0000-000000000001')$$) ->> 'rule',
    'last_owner', 'DETAIL rule last_owner');

-- Status moves, erasure --------------------------------------------------------------------------

SELECT is((SELECT status::text FROM pliers.suspend_user(pg_temp.id('u1'))), 'suspended', 'suspend_user');
SELECT throws_ok(format('SELECT pliers.suspend_user(%L)', pg_temp.id('u1')), 'PL004', NULL, 'suspending twice: PL004');
SELECT throws_ok(format('SELECT pliers.reactivate_user(%L, 1)', pg_temp.id('u1')), 'PL003', NULL,
    'reactivate_user with a stale revision: PL003');
SELECT is((SELECT status::text FROM pliers.reactivate_user(pg_temp.id('u1'))), 'active', 'reactivate_user');
SELECT is((SELECT status::text FROM pliers.delete_user(pg_temp.id('u1'))), 'deleted', 'delete_user');
SELECT throws_ok(format('SELECT pliers.delete_user(%L)', pg_temp.id('u1')), 'PL002', NULL, 'a deleted user is not found: PL002');
SELECT is(
    (SELECT array_agg(event_type::text ORDER BY aggregate_version) FROM pliers.events WHERE aggregate_id = pg_temp.id('u1')),
    ARRAY['user.created', 'user.updated', 'user.preferences_updated', 'user.updated', 'user.roles_changed',
          'user.suspended', 'user.reactivated', 'user.deleted'],
    'every change appended its event'
);
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000002');
SELECT throws_ok(format('SELECT pliers.erase_user_account(%L)', pg_temp.id('u1')), 'PL006', NULL,
    'erase_user_account without user.erase: PL006');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000001');
SELECT is((pliers.erase_user_account(pg_temp.id('u1')) -> 'erased' ->> 'users'), '1', 'erase_user_account erases');
SELECT is((SELECT email::text FROM pliers.get_user(pg_temp.id('u1'))), 'erased+' || pg_temp.id('u1') || '@invalid.example',
    'the e-mail is gone');

-- Passwords, MFA, logins ---------------------------------------------------------------------------

SELECT is(pliers.password_policy(),
    '{"min_length": 12, "require_special": false, "max_failed_attempts": 5, "lockout_minutes": 15}'::jsonb,
    'password_policy: the defaults');
SELECT is(pg_temp.paths($$SELECT pliers.set_user_password('36000001-0000-0000-0000-000000000003', 'hunter2hunter2')$$),
    ARRAY['password_hash:invalid_format'], 'set_user_password refuses anything but an argon2id hash');
SELECT isnt((SELECT password_changed_at FROM pliers.set_user_password('36000001-0000-0000-0000-000000000003',
    '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA')), NULL, 'set_user_password sets password_changed_at');
SELECT throws_ok($$SELECT pliers.set_user_mfa('36000001-0000-0000-0000-000000000003', '\x01', NULL)$$, 'PL001', NULL,
    'set_user_mfa with half a secret: PL001');
SELECT ok((SELECT mfa_enabled FROM pliers.set_user_mfa('36000001-0000-0000-0000-000000000003',
    decode(repeat('ab', 40), 'hex'), 'k1')), 'set_user_mfa enables MFA');
SELECT set_config('pliers.context', '', true);
SELECT is((SELECT (user_id, refused)::text FROM pliers.login_credentials('36000000-0000-0000-0000-00000000000a', 'ghost@t36.example')),
    '(,invalid)', 'login_credentials of an unknown e-mail: refused invalid');
SELECT is((SELECT password_hash FROM pliers.login_credentials('36000000-0000-0000-0000-00000000000a', 'A3@t36.example')),
    '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'login_credentials: the hash, for the library');
SELECT is((SELECT refused FROM pliers.login_credentials('36000000-0000-0000-0000-00000000000b', 'a3@t36.example')),
    'invalid', 'not in another organization');
SELECT throws_ok($$SELECT * FROM pliers.record_login('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000003', NULL)$$,
    'PL001', NULL, 'record_login without an outcome: PL001');
CREATE TEMPORARY TABLE failures (n serial, failed integer);
INSERT INTO failures (failed) SELECT failed_login_count FROM pliers.record_login('36000000-0000-0000-0000-00000000000a',
    '36000001-0000-0000-0000-000000000003', FALSE);
INSERT INTO failures (failed) SELECT failed_login_count FROM pliers.record_login('36000000-0000-0000-0000-00000000000a',
    '36000001-0000-0000-0000-000000000003', FALSE);
INSERT INTO failures (failed) SELECT failed_login_count FROM pliers.record_login('36000000-0000-0000-0000-00000000000a',
    '36000001-0000-0000-0000-000000000003', FALSE);
INSERT INTO failures (failed) SELECT failed_login_count FROM pliers.record_login('36000000-0000-0000-0000-00000000000a',
    '36000001-0000-0000-0000-000000000003', FALSE);
SELECT is((SELECT array_agg(failed ORDER BY n) FROM failures), ARRAY[1, 2, 3, 4], 'record_login counts failures');
SELECT isnt((SELECT locked_until FROM pliers.record_login('36000000-0000-0000-0000-00000000000a',
    '36000001-0000-0000-0000-000000000003', FALSE)), NULL, 'the fifth failure locks the user out');
SELECT is((SELECT (refused, password_hash IS NULL)::text FROM pliers.login_credentials('36000000-0000-0000-0000-00000000000a', 'a3@t36.example')),
    '(locked_out,t)', 'a locked-out user gets no hash');
SELECT throws_ok($$SELECT * FROM pliers.record_login('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000003', TRUE)$$,
    'PL006', NULL, 'nor a login: PL006');
SELECT is(pg_temp.detail_of($$SELECT * FROM pliers.record_login('36000000-0000-0000-0000-00000000000a',
    '36000001-0000-0000-0000-000000000003', TRUE)$$) ->> 'reason', 'locked_out', 'reason locked_out');
SELECT throws_ok($$SELECT * FROM pliers.record_login('36000000-0000-0000-0000-00000000000b', '36000001-0000-0000-0000-000000000003', TRUE)$$,
    'PL006', NULL, 'record_login of another organization''s user: PL006');
SELECT is((SELECT user_id FROM pliers.record_login('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000002', TRUE)),
    '36000001-0000-0000-0000-000000000002'::uuid, 'a successful login');
SELECT is(pliers.current_user_id(), '36000001-0000-0000-0000-000000000002'::uuid, 'opens the user''s context');
SELECT ok(pliers.touch_user_activity() IS FALSE, 'touch_user_activity: not again within a minute of the login');
SELECT pliers.set_context('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000001');
SELECT ok(pliers.touch_user_activity(), 'touch_user_activity writes last_activity_at');
SELECT set_config('pliers.context', '', true);
SELECT throws_ok($$SELECT pliers.touch_user_activity()$$, 'PL008', NULL, 'touch_user_activity without a context: PL008');
SELECT throws_ok($$SELECT pliers.password_policy()$$, 'PL008', NULL, 'password_policy without a context: PL008');

-- Secrets ------------------------------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM pliers.user_secrets$$, '42501', NULL, 'pliers_app cannot read user_secrets');
SELECT throws_ok($$INSERT INTO pliers.user_secrets (organization_id, user_id) VALUES
    ('36000000-0000-0000-0000-00000000000a', '36000001-0000-0000-0000-000000000003')$$, '42501', NULL,
    'nor write it');
RESET ROLE;
SET LOCAL ROLE pliers_readonly;
SELECT throws_ok($$SELECT password_hash FROM pliers.user_secrets$$, '42501', NULL, 'pliers_readonly cannot read user_secrets');
RESET ROLE;
SELECT is((SELECT count(*)::integer FROM pliers.audit_logs
    WHERE strpos(concat_ws(' ', old_values, new_values, diff), 'argon2id') > 0), 0, 'no audit row holds a password hash');

SELECT * FROM finish();
ROLLBACK;
