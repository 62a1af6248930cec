-- Privileges and row-level security (sql/95-security.sql.j2): roles, RLS enabled (not
-- forced) on every tenant table (found in the catalog), the policies of each table,
-- table, column and function privileges per role, default privileges, partitions;
-- then behaviour as pliers_app / pliers_readonly / pliers_owner with and without a
-- context: own rows only, cross-tenant writes refused (42501), hybrid plugins,
-- sensitive system settings, submissions hidden by permission.
BEGIN;
SELECT plan(269);

-- Roles ------------------------------------------------------------------------------------

SELECT has_role('pliers_worker', 'the webhook and event worker role exists');
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_roles
     WHERE rolname IN ('pliers_owner', 'pliers_app', 'pliers_readonly', 'pliers_worker')
       AND NOT rolcanlogin AND NOT rolsuper AND NOT rolbypassrls),
    4,
    'the four tenant-facing pliers roles are NOLOGIN, not superuser, NOBYPASSRLS'
);
SELECT ok(
    (SELECT NOT rolcanlogin AND NOT rolsuper AND rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = 'pliers_lister'),
    'pliers_lister (owner of nothing since 0022) is NOLOGIN, not superuser, BYPASSRLS (installed by a superuser)'
);
SELECT ok(pg_has_role('pliers_lister', 'pliers_owner', 'USAGE'),
    'pliers_lister has the privileges of pliers_owner (and its tenant policies)');
SELECT is_empty(
    $$SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c
      WHERE c.relnamespace IN ('pliers'::regnamespace, 'pliers_archive'::regnamespace)
        AND c.relowner <> 'pliers_owner'::regrole
      UNION ALL
      SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
      WHERE p.pronamespace = 'pliers'::regnamespace AND p.proowner <> 'pliers_owner'::regrole
      UNION ALL
      SELECT t.oid::regtype::text FROM pg_catalog.pg_type AS t
      WHERE t.typnamespace = 'pliers'::regnamespace AND t.typowner <> 'pliers_owner'::regrole$$,
    'pliers_owner owns every relation, function and type of pliers (list_submissions too since 0022)'
);

-- Row-level security in the catalog ----------------------------------------------------------

SELECT is_empty(
    $$SELECT c.relname FROM pg_catalog.pg_class AS c
      WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped)
        AND NOT (c.relrowsecurity AND NOT c.relforcerowsecurity)$$,
    'RLS is enabled, not forced (the owner''s API names the tenant itself), on every table of pliers with an organization_id column'
);
SELECT results_eq(
    $$SELECT relname::text COLLATE "default", relrowsecurity, relforcerowsecurity FROM pg_catalog.pg_class
      WHERE oid IN ('pliers.organizations'::regclass, 'pliers.system_settings'::regclass, 'pliers.roles'::regclass)
      ORDER BY 1$$,
    $$VALUES ('organizations', TRUE, FALSE), ('roles', FALSE, FALSE), ('system_settings', TRUE, FALSE)$$,
    'organizations and system_settings: RLS, not forced; roles: a global catalogue'
);
SELECT set_eq(
    $$SELECT c.relname::text FROM pg_catalog.pg_class AS c
      WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND EXISTS (SELECT FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND a.attnotnull)
        AND c.relname NOT IN ('user_permissions', 'user_secrets', 'api_key_hashes', 'workflow_secrets')$$,
    ARRAY['users', 'teams', 'team_members', 'role_assignments', 'forms', 'form_collaborators', 'form_counters',
          'submissions', 'attachments', 'workflows', 'workflow_forms', 'workflow_executions', 'workflow_counters',
          'events', 'audit_logs', 'plugin_installations', 'api_keys', 'webhooks', 'notifications',
          'usage_counters', 'choice_lists', 'choice_list_items', 'jobs'],
    'the tenant tables checked below are those of the catalog'
);
SELECT policies_are('pliers', 'user_permissions', ARRAY[]::name[],
    'user_permissions (the owner''s, sql/91): RLS without a policy, so a grant added by mistake shows no row');
SELECT policies_are('pliers', 'workflow_secrets', ARRAY[]::name[],
    'workflow_secrets (the owner''s, sql/60): RLS without a policy, so a grant added by mistake shows no row');
SELECT is_empty(
    $$SELECT r.rolname FROM pg_catalog.pg_roles AS r
      WHERE r.rolname IN ('pliers_app', 'pliers_readonly', 'pliers_worker')
        AND pg_catalog.has_table_privilege(r.oid, 'pliers.user_permissions',
                                           'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')$$,
    'user_permissions: no privilege for pliers_app, pliers_readonly, pliers_worker'
);
SELECT policies_are('pliers', 'api_key_hashes', ARRAY[]::name[],
    'api_key_hashes (the owner''s global directory, sql/81): RLS without a policy');
SELECT is_empty(
    $$SELECT r.rolname FROM pg_catalog.pg_roles AS r
      WHERE r.rolname IN ('pliers_app', 'pliers_readonly', 'pliers_worker')
        AND pg_catalog.has_table_privilege(r.oid, 'pliers.api_key_hashes',
                                           'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')$$,
    'api_key_hashes: no privilege for pliers_app, pliers_readonly, pliers_worker'
);

-- Policies ---------------------------------------------------------------------------------------

SELECT policies_are('pliers', t, ARRAY[t || '_select', t || '_insert', t || '_update', t || '_delete'] || extra,
    t || ': one policy per command' || CASE WHEN extra <> '{}' THEN ' and ' || array_to_string(extra, ', ') ELSE '' END)
FROM (VALUES
    ('users', '{}'::text[]), ('teams', '{}'), ('team_members', '{}'), ('role_assignments', '{}'), ('forms', '{}'),
    ('form_collaborators', '{}'), ('form_counters', '{}'), ('submissions', '{}'),
    ('attachments', '{}'),
    ('workflows', '{}'), ('workflow_forms', '{}'), ('workflow_executions', '{}'), ('workflow_counters', '{}'),
    ('events', '{events_worker_select,events_worker_update}'), ('audit_logs', '{}'),
    ('plugin_installations', '{}'), ('api_keys', '{}'),
    ('webhooks', '{webhooks_worker_select}'), ('notifications', '{}'), ('usage_counters', '{}'), ('organizations', '{}'),
    ('plugins', '{}'), ('choice_lists', '{}'), ('choice_list_items', '{}'), ('jobs', '{}')
) AS v (t, extra);
SELECT policies_are('pliers', 'system_settings', ARRAY['system_settings_select'],
    'system_settings: a SELECT policy only');

SELECT is_empty(
    $$SELECT p.tablename || '.' || p.policyname FROM pg_catalog.pg_policies AS p
      WHERE p.schemaname = 'pliers' AND p.tablename <> 'system_settings'
        AND p.policyname IN (p.tablename || '_select', p.tablename || '_insert', p.tablename || '_update',
                             p.tablename || '_delete')
        AND (SELECT array_agg(r::text ORDER BY r) FROM unnest(p.roles) AS r)
            <> ARRAY['pliers_app', 'pliers_owner', 'pliers_readonly']$$,
    'the tenant policies apply to pliers_owner, pliers_app and pliers_readonly'
);
SELECT is_empty(
    $$SELECT p.tablename || '.' || p.policyname FROM pg_catalog.pg_policies AS p
      WHERE p.schemaname = 'pliers'
        AND p.policyname IN (p.tablename || '_select', p.tablename || '_insert', p.tablename || '_update',
                             p.tablename || '_delete')
        AND p.tablename NOT IN ('organizations', 'plugins', 'system_settings')
        AND p.policyname <> 'submissions_select'
        AND (coalesce(p.qual, p.with_check) <> '(organization_id = pliers.current_organization_id())'
             OR coalesce(p.with_check, p.qual) <> '(organization_id = pliers.current_organization_id())')$$,
    'each tenant policy is exactly organization_id = pliers.current_organization_id(): no sub-select'
);
SELECT is_empty(
    $$SELECT p.tablename || '.' || p.policyname FROM pg_catalog.pg_policies AS p
      WHERE p.schemaname = 'pliers'
        AND (p.qual ~* 'current_organization_id\(\) IS NULL' OR p.with_check ~* 'current_organization_id\(\) IS NULL'
             OR p.permissive <> 'PERMISSIVE')$$,
    'no policy has a fail-open branch; all are permissive'
);
SELECT results_eq(
    $$SELECT p.cmd, p.qual ~ '^\(\(organization_id = pliers.current_organization_id\(\)\) AND pliers.submission_visible\('
      FROM pg_catalog.pg_policies AS p WHERE p.schemaname = 'pliers' AND p.policyname = 'submissions_select'$$,
    $$VALUES ('SELECT', TRUE)$$,
    'submissions_select: the tenant, then the rule pliers.submission_visible'
);
SELECT unalike(
    (SELECT p.qual FROM pg_catalog.pg_policies AS p
     WHERE p.schemaname = 'pliers' AND p.policyname = 'submissions_select'),
    '%SELECT%',
    'submissions_select: no sub-select (Citus refuses them in the policies of distributed tables)'
);
SELECT is_empty(
    $$SELECT p.tablename || '.' || p.policyname FROM pg_catalog.pg_policies AS p
      WHERE p.schemaname = 'pliers' AND ('pliers_lister' = ANY(p.roles) OR p.roles = '{pliers_owner}'::name[])$$,
    'no policy for the owner or its members alone: RLS does not bind them'
);

-- Table privileges -------------------------------------------------------------------------------

SELECT table_privs_are('pliers', t, r, privs, t || ': ' || r || ' may ' || coalesce(array_to_string(privs, ', '), 'nothing'))
FROM (VALUES
    ('users', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'::text[]), ('users', 'pliers_readonly', '{}'),
    ('users', 'pliers_worker', '{}'),
    ('teams', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('teams', 'pliers_readonly', '{SELECT}'),
    ('team_members', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('team_members', 'pliers_readonly', '{SELECT}'),
    ('role_assignments', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'),
    ('role_assignments', 'pliers_readonly', '{SELECT}'),
    ('forms', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('forms', 'pliers_readonly', '{SELECT}'),
    ('form_collaborators', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'),
    ('form_collaborators', 'pliers_readonly', '{SELECT}'),
    ('form_counters', 'pliers_app', '{SELECT}'), ('form_counters', 'pliers_readonly', '{SELECT}'),
    ('usage_counters', 'pliers_app', '{SELECT}'), ('usage_counters', 'pliers_readonly', '{SELECT}'),
    ('choice_lists', 'pliers_app', '{SELECT}'), ('choice_lists', 'pliers_readonly', '{SELECT}'),
    ('choice_list_items', 'pliers_app', '{SELECT}'), ('choice_list_items', 'pliers_readonly', '{SELECT}'),
    ('jobs', 'pliers_app', '{SELECT}'), ('jobs', 'pliers_readonly', '{SELECT}'), ('jobs', 'pliers_worker', '{}'),
    ('submissions', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('submissions', 'pliers_readonly', '{SELECT}'),
    ('attachments', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('attachments', 'pliers_readonly', '{SELECT}'),
    ('workflows', 'pliers_app', '{SELECT}'), ('workflows', 'pliers_readonly', '{SELECT}'),
    ('workflow_forms', 'pliers_app', '{SELECT}'), ('workflow_forms', 'pliers_readonly', '{SELECT}'),
    ('workflow_executions', 'pliers_app', '{SELECT}'),
    ('workflow_executions', 'pliers_readonly', '{SELECT}'),
    ('workflow_counters', 'pliers_app', '{SELECT}'),
    ('workflow_counters', 'pliers_readonly', '{SELECT}'),
    ('events', 'pliers_app', '{SELECT,INSERT}'), ('events', 'pliers_readonly', '{SELECT}'),
    ('events', 'pliers_worker', '{SELECT}'),
    ('audit_logs', 'pliers_app', '{SELECT,INSERT}'), ('audit_logs', 'pliers_readonly', '{SELECT}'),
    ('audit_logs', 'pliers_worker', '{}'),
    ('plugin_installations', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'),
    ('plugin_installations', 'pliers_readonly', '{SELECT}'),
    ('api_keys', 'pliers_app', '{INSERT,UPDATE,DELETE}'), ('api_keys', 'pliers_readonly', '{}'),
    ('api_keys', 'pliers_worker', '{}'),
    ('webhooks', 'pliers_app', '{INSERT,UPDATE,DELETE}'), ('webhooks', 'pliers_readonly', '{}'),
    ('webhooks', 'pliers_worker', '{SELECT}'),
    ('notifications', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('notifications', 'pliers_readonly', '{SELECT}'),
    ('organizations', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('organizations', 'pliers_readonly', '{SELECT}'),
    ('organizations', 'pliers_worker', '{}'),
    ('plugins', 'pliers_app', '{SELECT,INSERT,UPDATE,DELETE}'), ('plugins', 'pliers_readonly', '{SELECT}'),
    ('system_settings', 'pliers_app', '{SELECT}'), ('system_settings', 'pliers_readonly', '{SELECT}'),
    ('system_settings', 'pliers_worker', '{}'),
    ('roles', 'pliers_app', '{SELECT}'), ('roles', 'pliers_readonly', '{SELECT}'),
    ('form_usage', 'pliers_app', '{SELECT}'), ('form_usage', 'pliers_readonly', '{SELECT}'),
    ('workflow_usage', 'pliers_app', '{SELECT}'), ('workflow_usage', 'pliers_readonly', '{SELECT}')
) AS v (t, r, privs);

SELECT is_empty(
    $$SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c
      WHERE c.relnamespace IN ('pliers'::regnamespace, 'pliers_archive'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND (pg_catalog.has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
             OR pg_catalog.has_any_column_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))$$,
    'PUBLIC has no privilege on any relation of pliers or pliers_archive'
);
SELECT is_empty(
    $$SELECT c.oid::regclass::text || ' ' || r.rolname FROM pg_catalog.pg_class AS c
      CROSS JOIN pg_catalog.pg_roles AS r
      WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p')
        AND NOT c.relrowsecurity
        AND r.rolname IN ('pliers_app', 'pliers_readonly', 'pliers_worker')
        AND c.relname NOT IN ('roles')
        AND (pg_catalog.has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
             OR pg_catalog.has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE'))$$,
    'no table without RLS (partitions included) is reachable by pliers_app, pliers_readonly or pliers_worker, '
    || 'except the roles catalogue'
);
SELECT is_empty(
    $$SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c
      WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind = 'v'
        AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), FALSE)$$,
    'every view of pliers is security_invoker'
);
SELECT is_empty(
    $$SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c
      WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind = 'm'
        AND (pg_catalog.has_table_privilege('pliers_app', c.oid, 'SELECT')
             OR pg_catalog.has_table_privilege('pliers_readonly', c.oid, 'SELECT'))$$,
    'no materialized view is readable by pliers_app or pliers_readonly (they ignore RLS)'
);

-- Column privileges: the secrets ------------------------------------------------------------------

SELECT is(
    (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_catalog.pg_attribute AS a
     WHERE a.attrelid = ('pliers.' || t)::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT pg_catalog.has_column_privilege(r, a.attrelid, a.attnum, 'SELECT')),
    hidden,
    t || ': ' || r || ' may SELECT every column except ' || array_to_string(hidden, ', ')
)
FROM (VALUES
    ('users', 'pliers_readonly', '{auth_data,mfa_settings}'::text[]),
    ('api_keys', 'pliers_readonly', '{key_hash}'), ('api_keys', 'pliers_app', '{key_hash}'),
    ('webhooks', 'pliers_readonly', '{secret_ciphertext}'), ('webhooks', 'pliers_app', '{secret_ciphertext}')
) AS v (t, r, hidden);
SELECT column_privs_are('pliers', 'users', 'auth_data', 'pliers_app', ARRAY['SELECT', 'INSERT', 'UPDATE'],
    'pliers_app reads and writes users.auth_data');
SELECT column_privs_are('pliers', 'api_keys', 'key_hash', 'pliers_app', ARRAY['INSERT', 'UPDATE'],
    'pliers_app writes api_keys.key_hash, cannot read it');
SELECT column_privs_are('pliers', 'webhooks', 'secret_ciphertext', 'pliers_app', ARRAY['INSERT', 'UPDATE'],
    'pliers_app writes webhooks.secret_ciphertext, cannot read it');
SELECT column_privs_are('pliers', 'webhooks', 'secret_ciphertext', 'pliers_worker', ARRAY['SELECT'],
    'pliers_worker reads webhooks.secret_ciphertext');
SELECT column_privs_are('pliers', 'events', 'processed_at', 'pliers_worker', ARRAY['SELECT', 'UPDATE'],
    'pliers_worker marks events processed');
SELECT column_privs_are('pliers', 'events', 'payload', 'pliers_worker', ARRAY['SELECT'],
    'pliers_worker changes nothing else of an event');
SELECT column_privs_are('pliers', 'events', 'processed_at', 'pliers_app', ARRAY['SELECT', 'INSERT'],
    'pliers_app only appends events');

-- Function privileges ---------------------------------------------------------------------------------

SELECT function_privs_are('pliers', f, args, r, privs, f || ': ' || r || CASE WHEN privs = '{}' THEN ' may not' ELSE '' END || ' execute')
FROM (VALUES
    ('current_organization_id', '{}'::text[], 'pliers_app', '{EXECUTE}'::text[]),
    ('current_organization_id', '{}', 'pliers_readonly', '{EXECUTE}'),
    ('current_user_id', '{}', 'pliers_app', '{EXECUTE}'),
    ('current_user_id', '{}', 'pliers_readonly', '{EXECUTE}'),
    ('current_permissions', '{}', 'pliers_app', '{EXECUTE}'),
    ('current_permissions', '{}', 'pliers_readonly', '{EXECUTE}'),
    ('set_context', '{uuid,uuid,uuid,inet,text,uuid}', 'pliers_app', '{EXECUTE}'),
    ('set_context', '{uuid,uuid,uuid,inet,text,uuid}', 'pliers_readonly', '{EXECUTE}'),
    ('has_permission', '{text,pliers.scope_type,uuid}', 'pliers_app', '{EXECUTE}'),
    ('has_permission', '{text,pliers.scope_type,uuid}', 'pliers_readonly', '{EXECUTE}'),
    ('collaborator_permissions', '{boolean,boolean,boolean,boolean}', 'pliers_app', '{EXECUTE}'),
    ('collaborator_permissions', '{boolean,boolean,boolean,boolean}', 'pliers_readonly', '{EXECUTE}'),
    ('team_role_permissions', '{pliers.team_role}', 'pliers_app', '{EXECUTE}'),
    ('team_role_permissions', '{pliers.team_role}', 'pliers_readonly', '{EXECUTE}'),
    ('authenticate_api_key', '{text,uuid,inet,text,uuid}', 'pliers_app', '{EXECUTE}'),
    ('authenticate_api_key', '{text,uuid,inet,text,uuid}', 'pliers_readonly', '{}'),
    ('create_api_key', '{text,text,text[],"timestamp with time zone",integer}', 'pliers_app', '{EXECUTE}'),
    ('revoke_api_key', '{uuid}', 'pliers_app', '{EXECUTE}'),
    ('create_webhook', '{text,text,text[],bytea,text,jsonb}', 'pliers_app', '{EXECUTE}'),
    ('scoped_answers', '{uuid,jsonb}', 'pliers_app', '{EXECUTE}'),
    ('scoped_answers', '{uuid,jsonb}', 'pliers_readonly', '{EXECUTE}'),
    ('scoped_answers', '{uuid,jsonb}', 'pliers_worker', '{}'),
    ('_set_context', '{uuid,uuid,uuid,inet,text,uuid,uuid,text[]}', 'pliers_app', '{}'),
    ('_require_permission', '{text,pliers.scope_type,uuid}', 'pliers_app', '{}'),
    ('create_partitions', '{regclass,date,date}', 'pliers_app', '{}'),
    ('detach_partitions', '{regclass,interval}', 'pliers_app', '{}'),
    ('_set_updated_at', '{}', 'pliers_app', '{}')
) AS v (f, args, r, privs);
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
      WHERE p.pronamespace = 'pliers'::regnamespace AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')$$,
    'PUBLIC may execute no function of pliers'
);
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text || ' ' || r.rolname FROM pg_catalog.pg_proc AS p
      CROSS JOIN pg_catalog.pg_roles AS r
      WHERE p.pronamespace = 'pliers'::regnamespace
        AND r.rolname IN ('pliers_app', 'pliers_readonly', 'pliers_worker')
        AND (p.proname LIKE '\_%' OR p.prorettype = 'trigger'::regtype)
        AND pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')$$,
    'no private (_) helper nor trigger function is executable by pliers_app, pliers_readonly, pliers_worker'
);
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
      WHERE p.pronamespace = 'pliers'::regnamespace AND p.prosecdef
        AND (p.proconfig IS NULL OR NOT 'search_path=""' = ANY(p.proconfig))$$,
    'every SECURITY DEFINER function pins search_path to the empty string'
);

-- Default privileges: future functions, tables and partitions ------------------------------------------

SELECT ok(
    EXISTS (SELECT FROM pg_catalog.pg_default_acl AS d
            WHERE d.defaclrole = 'pliers_owner'::regrole AND d.defaclnamespace = 0 AND d.defaclobjtype = 'f'
              AND NOT EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) AS x WHERE x.grantee = 0)),
    'default privileges of pliers_owner: new functions are not executable by PUBLIC'
);
SET LOCAL ROLE pliers_owner;
CREATE FUNCTION pliers.zz_probe() RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE TABLE pliers.zz_probe (id integer);
RESET ROLE;
SELECT function_privs_are('pliers', 'zz_probe', ARRAY[]::text[], 'pliers_app', ARRAY[]::text[],
    'a function created later by pliers_owner is not executable by pliers_app');
SELECT ok(NOT has_function_privilege('public', 'pliers.zz_probe()', 'EXECUTE'), '... nor by PUBLIC');
SELECT table_privs_are('pliers', 'zz_probe', 'pliers_app', ARRAY[]::text[],
    'a table created later by pliers_owner grants nothing to pliers_app');

SELECT is(
    (SELECT count(*)::integer FROM pliers.create_partitions('pliers.events', '2031-01-01', '2031-02-01') WHERE created),
    2,
    'create_partitions makes two monthly partitions of events'
);
SELECT is_empty(
    $$SELECT i.inhrelid::regclass::text || ' ' || r.rolname FROM pg_catalog.pg_inherits AS i
      CROSS JOIN pg_catalog.pg_roles AS r
      WHERE i.inhparent IN ('pliers.events'::regclass, 'pliers.audit_logs'::regclass)
        AND r.rolname IN ('pliers_app', 'pliers_readonly', 'pliers_worker', 'public')
        AND (pg_catalog.has_table_privilege(r.oid, i.inhrelid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
             OR pg_catalog.has_any_column_privilege(r.oid, i.inhrelid, 'SELECT, INSERT, UPDATE'))$$,
    'no partition of events or audit_logs, old or new, grants anything to the tenant roles'
);

-- Data, as superuser ----------------------------------------------------------------------------------
-- A: a1 org_admin; a2 no role; a3 collaborator on FA without can_view_submissions; a4 collaborator
-- with it; a5 member of team TA. B: b1 org_admin. Submissions of FA: by a1, by a2, assigned to a3,
-- assigned to team TA.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('95000000-0000-0000-0000-00000000000a', 't95-a', 'Security A'),
('95000000-0000-0000-0000-00000000000b', 't95-b', 'Security B');
INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000001', 'a1@t95.example', '{org_admin}'),
('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000002', 'a2@t95.example', '{}'),
('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000003', 'a3@t95.example', '{}'),
('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000004', 'a4@t95.example', '{}'),
('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000005', 'a5@t95.example', '{}'),
('95000000-0000-0000-0000-00000000000b', '95000002-0000-0000-0000-000000000001', 'b1@t95.example', '{org_admin}');
INSERT INTO pliers.forms (organization_id, id, name, slug, definition) VALUES
('95000000-0000-0000-0000-00000000000a', '95000004-0000-0000-0000-0000000000fa', 'FA', 't95-fa', '{}'),
('95000000-0000-0000-0000-00000000000b', '95000004-0000-0000-0000-0000000000fb', 'FB', 't95-fb', '{}');
INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('95000000-0000-0000-0000-00000000000a', '95000005-0000-0000-0000-0000000000ea', 'TA', 't95-ta'),
('95000000-0000-0000-0000-00000000000b', '95000005-0000-0000-0000-0000000000eb', 'TB', 't95-tb');
INSERT INTO pliers.team_members (organization_id, team_id, user_id) VALUES
('95000000-0000-0000-0000-00000000000a', '95000005-0000-0000-0000-0000000000ea', '95000001-0000-0000-0000-000000000005');
INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level, can_view_submissions) VALUES
('95000000-0000-0000-0000-00000000000a', '95000004-0000-0000-0000-0000000000fa',
 '95000001-0000-0000-0000-000000000003', 'editor', FALSE),
('95000000-0000-0000-0000-00000000000a', '95000004-0000-0000-0000-0000000000fa',
 '95000001-0000-0000-0000-000000000004', 'reviewer', TRUE);
INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number, submitted_by, assigned_to,
                                assigned_team_id) VALUES
('95000000-0000-0000-0000-00000000000a', '95000006-0000-0000-0000-000000000001', '95000004-0000-0000-0000-0000000000fa',
 'A-1', '95000001-0000-0000-0000-000000000001', NULL, NULL),
('95000000-0000-0000-0000-00000000000a', '95000006-0000-0000-0000-000000000002', '95000004-0000-0000-0000-0000000000fa',
 'A-2', '95000001-0000-0000-0000-000000000002', NULL, NULL),
('95000000-0000-0000-0000-00000000000a', '95000006-0000-0000-0000-000000000003', '95000004-0000-0000-0000-0000000000fa',
 'A-3', NULL, '95000001-0000-0000-0000-000000000003', NULL),
('95000000-0000-0000-0000-00000000000a', '95000006-0000-0000-0000-000000000004', '95000004-0000-0000-0000-0000000000fa',
 'A-4', NULL, NULL, '95000005-0000-0000-0000-0000000000ea'),
('95000000-0000-0000-0000-00000000000b', '95000006-0000-0000-0000-0000000000b1', '95000004-0000-0000-0000-0000000000fb',
 'B-1', '95000002-0000-0000-0000-000000000001', NULL, NULL);
INSERT INTO pliers.notifications (organization_id, user_id, type, title) VALUES
('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000001', 'test', 'for a1'),
('95000000-0000-0000-0000-00000000000b', '95000002-0000-0000-0000-000000000001', 'test', 'for b1');
INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
                           event_timestamp) VALUES
('95000000-0000-0000-0000-00000000000a', 'form.created', 'form', '95000004-0000-0000-0000-0000000000fa', 1, '{}',
 '2031-01-15'),
('95000000-0000-0000-0000-00000000000b', 'form.created', 'form', '95000004-0000-0000-0000-0000000000fb', 1, '{}',
 '2031-01-15');
INSERT INTO pliers.webhooks (organization_id, name, url, events, secret_ciphertext, secret_key_id) VALUES
('95000000-0000-0000-0000-00000000000a', 'A hook', 'https://a.example/h', '{form.created}', '\x01', 'k'),
('95000000-0000-0000-0000-00000000000b', 'B hook', 'https://b.example/h', '{form.created}', '\x02', 'k');
INSERT INTO pliers.plugins (id, organization_id, name, slug, version, type, manifest) VALUES
('95000007-0000-0000-0000-0000000000ff', NULL, 'Global', 't95-global', '1.0.0', 'field', '{}'),
('95000007-0000-0000-0000-0000000000aa', '95000000-0000-0000-0000-00000000000a', 'Private A', 't95-pa', '1.0.0',
 'field', '{}'),
('95000007-0000-0000-0000-0000000000bb', '95000000-0000-0000-0000-00000000000b', 'Private B', 't95-pb', '1.0.0',
 'field', '{}');
INSERT INTO pliers.system_settings (key, value, is_sensitive) VALUES
('t95.public', '1', FALSE),
('t95.secret', '"hunter2"', TRUE);

-- Rows a statement changed (UPDATE/DELETE), for "nothing touched".
CREATE FUNCTION pg_temp.affected(p_statement text)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_count integer;
BEGIN
    EXECUTE p_statement;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- As pliers_app, without a context ---------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT is_empty(pg_catalog.format('SELECT organization_id FROM pliers.%I', t), t || ': nothing visible without a context')
FROM unnest(ARRAY['users', 'teams', 'team_members', 'role_assignments', 'forms', 'form_collaborators', 'form_counters',
                  'submissions', 'attachments', 'workflows', 'workflow_forms', 'workflow_executions',
                  'workflow_counters', 'events', 'audit_logs', 'plugin_installations', 'api_keys', 'webhooks',
                  'notifications', 'usage_counters', 'choice_lists', 'choice_list_items', 'jobs']) AS t;
SELECT is_empty('SELECT id FROM pliers.organizations', 'organizations: nothing visible without a context');
SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug) VALUES ('95000000-0000-0000-0000-00000000000a', 'X', 'x')$$,
    '42501', NULL, 'no write without a context');
SELECT is(pg_temp.affected($$UPDATE pliers.forms SET name = 'x'$$), 0, 'an UPDATE without a context touches nothing');
SELECT is_empty('SELECT id FROM pliers.plugins WHERE organization_id IS NOT NULL',
    'plugins without a context: no private plugin');
SELECT isnt_empty($$SELECT id FROM pliers.plugins WHERE id = '95000007-0000-0000-0000-0000000000ff'$$,
    'plugins without a context: global plugins are visible');

-- As pliers_app, in organization A --------------------------------------------------------------------

SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000001');

SELECT is_empty(pg_catalog.format('SELECT organization_id FROM pliers.%I WHERE organization_id <> %L', t,
                                  '95000000-0000-0000-0000-00000000000a'),
                t || ': no row of another organization')
FROM unnest(ARRAY['users', 'teams', 'team_members', 'role_assignments', 'forms', 'form_collaborators', 'form_counters',
                  'submissions', 'attachments', 'workflows', 'workflow_forms', 'workflow_executions',
                  'workflow_counters', 'events', 'audit_logs', 'plugin_installations', 'api_keys', 'webhooks',
                  'notifications', 'usage_counters', 'choice_lists', 'choice_list_items', 'jobs']) AS t;
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM pliers.users)::integer, (SELECT count(*) FROM pliers.forms)::integer,
             (SELECT count(*) FROM pliers.teams)::integer, (SELECT count(*) FROM pliers.submissions)::integer,
             (SELECT count(*) FROM pliers.events)::integer, (SELECT count(*) FROM pliers.notifications)::integer,
             (SELECT count(id) FROM pliers.webhooks)::integer$$,
    $$VALUES (5, 1, 1, 4, 1, 1, 1)$$,
    'A sees its own users, forms, teams, submissions, events, notifications and webhooks'
);
SELECT results_eq('SELECT id FROM pliers.organizations', $$VALUES ('95000000-0000-0000-0000-00000000000a'::uuid)$$,
    'organizations: A sees itself only');
SELECT results_eq('SELECT form_id FROM pliers.form_usage', $$VALUES ('95000004-0000-0000-0000-0000000000fa'::uuid)$$,
    'the security_invoker view form_usage shows A''s forms only');

SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug) VALUES ('95000000-0000-0000-0000-00000000000b', 'X', 'x')$$,
    '42501', NULL, 'INSERT of a row of another organization: 42501');
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition)
      VALUES ('95000000-0000-0000-0000-00000000000b', 'X', 'x', '{}')$$,
    '42501', NULL, 'INSERT of a form of another organization: 42501');
SELECT throws_ok(
    $$INSERT INTO pliers.events (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload)
      VALUES ('95000000-0000-0000-0000-00000000000b', 'form.created', 'form', gen_random_uuid(), 1, '{}')$$,
    '42501', NULL, 'INSERT of an event of another organization (through the parent): 42501');
SELECT throws_ok(
    $$UPDATE pliers.teams SET organization_id = '95000000-0000-0000-0000-00000000000b'
      WHERE id = '95000005-0000-0000-0000-0000000000ea'$$,
    '42501', NULL, 'UPDATE moving a team to another organization: 42501');
SELECT throws_ok(
    $$UPDATE pliers.notifications SET organization_id = '95000000-0000-0000-0000-00000000000b',
                                      user_id = '95000002-0000-0000-0000-000000000001'$$,
    '42501', NULL, 'UPDATE moving a notification to another organization: 42501');
SELECT is(pg_temp.affected($$UPDATE pliers.forms SET name = 'taken' WHERE id = '95000004-0000-0000-0000-0000000000fb'$$),
    0, 'UPDATE of another organization''s row touches nothing');
SELECT is(pg_temp.affected($$DELETE FROM pliers.notifications WHERE organization_id = '95000000-0000-0000-0000-00000000000b'$$),
    0, 'DELETE of another organization''s rows touches nothing');
SELECT is(pg_temp.affected($$UPDATE pliers.organizations SET name = 'taken' WHERE id = '95000000-0000-0000-0000-00000000000b'$$),
    0, 'UPDATE of another organization touches nothing');
SELECT lives_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug) VALUES ('95000000-0000-0000-0000-00000000000a', 'Y', 'y')$$,
    'INSERT into the own organization works');

-- Partitions: not reachable directly
SELECT throws_ok('SELECT 1 FROM pliers.events_default', '42501', NULL, 'events_default is not readable');
SELECT throws_ok('SELECT 1 FROM pliers.audit_logs_default', '42501', NULL, 'audit_logs_default is not readable');
SELECT throws_ok('SELECT 1 FROM pliers.events_p2031_01', '42501', NULL,
    'a partition made by create_partitions is not readable');
SELECT throws_ok(
    $$INSERT INTO pliers.events_p2031_01 (organization_id, event_type, aggregate_type, aggregate_id, aggregate_version,
                                          payload, event_timestamp)
      VALUES ('95000000-0000-0000-0000-00000000000a', 'form.created', 'form', gen_random_uuid(), 1, '{}', '2031-01-02')$$,
    '42501', NULL, '... nor writable');

-- Hybrid plugins
SELECT results_eq(
    $$SELECT id FROM pliers.plugins WHERE slug LIKE 't95-%' ORDER BY id$$,
    $$VALUES ('95000007-0000-0000-0000-0000000000aa'::uuid), ('95000007-0000-0000-0000-0000000000ff'::uuid)$$,
    'plugins: the global plugin and A''s private plugin, not B''s'
);
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES (NULL, 'Evil', 't95-evil', '1.0.0', 'field', '{}')$$,
    '42501', NULL, 'a tenant cannot insert a global plugin');
SELECT throws_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES ('95000000-0000-0000-0000-00000000000b', 'Evil', 't95-evil', '1.0.0', 'field', '{}')$$,
    '42501', NULL, 'a tenant cannot insert a plugin of another tenant');
SELECT is(pg_temp.affected($$UPDATE pliers.plugins SET name = 'hijacked' WHERE organization_id IS NULL$$), 0,
    'a tenant cannot update global plugins');
SELECT is(pg_temp.affected($$DELETE FROM pliers.plugins WHERE organization_id IS NULL$$), 0,
    'a tenant cannot delete global plugins');
SELECT lives_ok(
    $$INSERT INTO pliers.plugins (organization_id, name, slug, version, type, manifest)
      VALUES ('95000000-0000-0000-0000-00000000000a', 'Mine', 't95-mine', '1.0.0', 'field', '{}')$$,
    'a tenant inserts its own private plugin');

-- system_settings
SELECT results_eq($$SELECT key::text FROM pliers.system_settings WHERE key LIKE 't95.%'$$, $$VALUES ('t95.public')$$,
    'system_settings: sensitive rows are hidden from pliers_app');
SELECT throws_ok($$UPDATE pliers.system_settings SET value = '2' WHERE key = 't95.public'$$, '42501', NULL,
    'pliers_app cannot change system settings');
SELECT throws_ok($$INSERT INTO pliers.system_settings (key, value) VALUES ('t95.evil', '1')$$, '42501', NULL,
    'pliers_app cannot add system settings');
SELECT throws_ok($$INSERT INTO pliers.roles (name, description, permissions) VALUES ('evil', 'x', '{}')$$, '42501', NULL,
    'pliers_app cannot change the roles catalogue');

-- Submissions hidden by permission ------------------------------------------------------------------

SELECT is((SELECT count(*)::integer FROM pliers.submissions), 4, 'a1 (submission.view organization-wide) sees all of A''s');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000002');
SELECT results_eq('SELECT submission_number::text FROM pliers.submissions', $$VALUES ('A-2')$$,
    'a2, without permission, sees the submission it made, only');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000003');
SELECT results_eq('SELECT submission_number::text FROM pliers.submissions', $$VALUES ('A-3')$$,
    'a collaborator without can_view_submissions sees only the submission assigned to it');
SELECT is(pg_temp.affected($$UPDATE pliers.submissions SET tags = '{x}' WHERE submission_number = 'A-1'$$), 0,
    '... and cannot update the ones it cannot see');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000004');
SELECT is((SELECT count(*)::integer FROM pliers.submissions), 4,
    'a collaborator with can_view_submissions sees the form''s submissions');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000005');
SELECT results_eq('SELECT submission_number::text FROM pliers.submissions', $$VALUES ('A-4')$$,
    'a team member sees the submissions assigned to the team');
-- list_submissions reads without row-level security (as pliers_owner, the tables' owner)
-- and applies the same rule itself: for every user it lists exactly what the policy
-- shows. The filter {} matches every answer and takes the answer-filter path of the
-- query.
CREATE FUNCTION pg_temp.list_is_policy(p_mode text) RETURNS SETOF text LANGUAGE sql AS $f$
    SELECT set_eq(
        format($$SELECT id FROM pliers.list_submissions(p_filter => '{}', p_limit => 1000,
                 p_after_created_at => %L, p_after_id => %L)$$, 'infinity', '00000000-0000-0000-0000-000000000000'),
        'SELECT id FROM pliers.submissions',
        format('list_submissions shows %s what the policy shows (%s)', u, p_mode))
    FROM (VALUES ('a1'), ('a2'), ('a3'), ('a4'), ('a5'), ('b1')) AS v (u)
    CROSS JOIN LATERAL (
        SELECT pliers.set_context(
            CASE WHEN u = 'b1' THEN '95000000-0000-0000-0000-00000000000b' ELSE '95000000-0000-0000-0000-00000000000a' END::uuid,
            CASE WHEN u = 'b1' THEN '95000002-0000-0000-0000-000000000001'
                ELSE '95000001-0000-0000-0000-00000000000' || right(u, 1) END::uuid
        )
    ) AS c
$f$;
SELECT pg_temp.list_is_policy('as the owner');
-- A form's page without other conditions is static SQL (its own plan): the same rows in
-- the same order as the general query, which a condition that holds for every row takes.
SELECT results_eq(
    format($$SELECT id FROM pliers.list_submissions(p_form_id => %L, p_limit => 3)
             UNION ALL SELECT id FROM pliers.list_submissions(p_form_id => %L, p_limit => 1000,
                 p_after_created_at => 'infinity', p_after_id => '00000000-0000-0000-0000-000000000000')$$,
           f, f),
    format($$SELECT id FROM pliers.list_submissions(p_form_id => %L, p_limit => 3, p_created_from => '-infinity')
             UNION ALL SELECT id FROM pliers.list_submissions(p_form_id => %L, p_limit => 1000,
                 p_after_created_at => 'infinity', p_after_id => '00000000-0000-0000-0000-000000000000',
                 p_created_from => '-infinity')$$,
           f, f),
    format('a form''s page (static SQL) lists what the general query lists, for user %s', u))
FROM (VALUES ('a1'), ('a2'), ('a3'), ('a4'), ('a5')) AS v (u)
CROSS JOIN (VALUES ('95000004-0000-0000-0000-0000000000fa'::uuid)) AS w (f)
CROSS JOIN LATERAL (
    SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a',
        ('95000001-0000-0000-0000-00000000000' || right(u, 1))::uuid)
) AS c;
RESET ROLE;

-- As pliers_readonly -----------------------------------------------------------------------------------

SET LOCAL ROLE pliers_readonly;
SELECT set_config('pliers.context', '', true);
SELECT is_empty('SELECT id FROM pliers.forms', 'pliers_readonly sees nothing without a context');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000002');
SELECT results_eq('SELECT submission_number::text FROM pliers.submissions', $$VALUES ('A-2')$$,
    'pliers_readonly is bound by the same submission permissions');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000a', '95000001-0000-0000-0000-000000000001');
SELECT results_eq('SELECT id FROM pliers.forms', $$VALUES ('95000004-0000-0000-0000-0000000000fa'::uuid)$$,
    'pliers_readonly reads its tenant''s rows');
SELECT throws_ok(
    $$INSERT INTO pliers.teams (organization_id, name, slug) VALUES ('95000000-0000-0000-0000-00000000000a', 'Z', 'z')$$,
    '42501', NULL, 'pliers_readonly cannot write');
SELECT throws_ok('SELECT auth_data FROM pliers.users', '42501', NULL, 'pliers_readonly cannot read users.auth_data');
SELECT throws_ok('SELECT mfa_settings FROM pliers.users', '42501', NULL, 'pliers_readonly cannot read users.mfa_settings');
SELECT results_eq($$SELECT key::text FROM pliers.system_settings WHERE key LIKE 't95.%'$$, $$VALUES ('t95.public')$$,
    'system_settings: sensitive rows are hidden from pliers_readonly');
RESET ROLE;

-- As pliers_owner: not bound by RLS (the SECURITY DEFINER API names the tenant itself) -------------

SET LOCAL ROLE pliers_owner;
SELECT set_config('pliers.context', '', true);
SELECT set_eq($$SELECT id FROM pliers.forms WHERE id::text LIKE '95000004-%'$$,
    $$VALUES ('95000004-0000-0000-0000-0000000000fa'::uuid), ('95000004-0000-0000-0000-0000000000fb'::uuid)$$,
    'pliers_owner sees every tenant''s rows without a context');
SELECT pliers.set_context('95000000-0000-0000-0000-00000000000b', '95000002-0000-0000-0000-000000000001');
SELECT set_eq($$SELECT id FROM pliers.forms WHERE id::text LIKE '95000004-%'$$,
    $$VALUES ('95000004-0000-0000-0000-0000000000fa'::uuid), ('95000004-0000-0000-0000-0000000000fb'::uuid)$$,
    'and with one: a context does not narrow what the owner reads');
SELECT results_eq($$SELECT key::text FROM pliers.system_settings WHERE key LIKE 't95.%' ORDER BY 1$$,
    $$VALUES ('t95.public'), ('t95.secret')$$, 'pliers_owner reads every system setting');
SELECT is(pg_temp.affected($$UPDATE pliers.plugins SET name = 'Global 2' WHERE id = '95000007-0000-0000-0000-0000000000ff'$$),
    1, 'pliers_owner maintains the global plugins');
SELECT is((SELECT count(*)::integer FROM pliers.plugins WHERE slug IN ('t95-global', 't95-pa', 't95-pb')), 3,
    'pliers_owner sees the whole plugin catalogue (slug clashes across tenants)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
