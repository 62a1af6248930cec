-- The organizations API (sql/35-organizations-api.sql): provisioning as pliers_platform
-- (create, list, find, suspend, reactivate, delete, subscription moves, plan), the
-- organization read and edited as pliers_app in its tenant context, the JSON Schema
-- validators, each function's errors and SQLSTATEs, its events, and set_context
-- refusing the users of a suspended or deleted organization.
BEGIN;
SELECT plan(76);

-- Ids produced during the test, kept in transaction-local settings.
CREATE FUNCTION pg_temp.keep(p_name text, p_id uuid)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT set_config('t35.' || p_name, p_id::text, true)::uuid
$$;

CREATE FUNCTION pg_temp.id(p_name text)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT current_setting('t35.' || p_name)::uuid
$$;

-- The DETAIL of the error a statement raises, as JSON (NULL if it raises none).
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

-- (path, code) pairs of a PL001 DETAIL, sorted.
CREATE FUNCTION pg_temp.codes(p_detail jsonb)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT array_agg(e ->> 'path' || ':' || (e ->> 'code') ORDER BY e ->> 'path')
    FROM jsonb_array_elements(p_detail -> 'errors') AS e
$$;

CREATE FUNCTION pg_temp.events_of(p_id uuid)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT coalesce(array_agg(e.event_type || '@' || e.aggregate_version ORDER BY e.transaction_id, e.position), '{}')
    FROM pliers.events AS e
    WHERE e.aggregate_id = p_id
$$;

-- The catalog ------------------------------------------------------------------------------

SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace AND has_function_privilege('pliers_platform', p.oid, 'EXECUTE')),
    ARRAY['create_organization', 'delete_organization', 'find_organization', 'list_organizations',
          'organization_schema', 'reactivate_organization', 'set_organization_plan', 'set_subscription_status',
          'subscription_status_moves', 'suspend_organization', 'validate_organization_features',
          'validate_organization_limits', 'validate_organization_settings'],
    'pliers_platform may execute the provisioning functions and the validators, nothing else'
);
SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace AND has_function_privilege('pliers_app', p.oid, 'EXECUTE')
       AND p.proname ~ 'organization'),
    ARRAY['current_organization_id', 'get_organization', 'organization_schema', 'update_organization',
          'validate_organization_features', 'validate_organization_limits', 'validate_organization_settings'],
    'pliers_app may read and update its organization, and no provisioning function'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('create_organization', 'list_organizations', 'find_organization', 'suspend_organization',
                         'reactivate_organization', 'delete_organization', 'set_subscription_status',
                         'set_organization_plan', 'get_organization', 'update_organization')
       AND p.prosecdef AND p.proconfig = ARRAY['search_path=""']
       AND obj_description(p.oid, 'pg_proc') IS NOT NULL),
    10,
    'the organization API functions are SECURITY DEFINER, pin search_path to '''' and are documented'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('_validate_json', '_validate_organization_document', '_check_email',
                         '_check_organization_attributes', '_organization_payload', '_organization_id_by_slug',
                         '_raise_organization_slug_taken', '_lock_organization', '_append_platform_event')
       AND (has_function_privilege('pliers_app', p.oid, 'EXECUTE')
            OR has_function_privilege('pliers_platform', p.oid, 'EXECUTE')
            OR has_function_privilege('public', p.oid, 'EXECUTE'))),
    0,
    'the private helpers are executable by neither pliers_app, pliers_platform nor PUBLIC'
);
SELECT ok(
    (SELECT NOT r.rolcanlogin AND NOT r.rolbypassrls AND NOT r.rolsuper FROM pg_catalog.pg_roles AS r
     WHERE r.rolname = 'pliers_platform'),
    'pliers_platform is a NOLOGIN role without BYPASSRLS'
);
SELECT ok(has_schema_privilege('pliers_platform', 'pliers', 'USAGE'), 'pliers_platform may use schema pliers');
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_class AS c
     WHERE c.relnamespace = 'pliers'::regnamespace AND c.relkind IN ('r', 'p', 'v')
       AND (has_table_privilege('pliers_platform', c.oid, 'SELECT')
            OR has_table_privilege('pliers_platform', c.oid, 'INSERT')
            OR has_table_privilege('pliers_platform', c.oid, 'UPDATE'))),
    0,
    'pliers_platform reads and writes no table directly'
);
SELECT has_column('pliers', 'organizations', 'suspended_at', 'organizations.suspended_at exists');

-- Validators -------------------------------------------------------------------------------

SELECT is(pliers.validate_organization_settings('{}'), '[]', 'empty settings are valid');
SELECT is(
    pliers.validate_organization_settings('{"branding": {"primary_color": "#0a0B0c"},
        "security": {"mfa_required": true, "session_timeout_minutes": 30,
                     "password_policy": {"min_length": 12, "require_special": true}},
        "notifications": {"email_enabled": false, "digest": "daily"}}'),
    '[]',
    'the settings shape of the issue is valid'
);
SELECT is(
    pg_temp.codes(jsonb_build_object('errors', pliers.validate_organization_settings(
        '{"branding": {"primary_color": "red", "accent_color": "#abcdef0"}, "theme": 1, "weird key": 2,
          "security": {"mfa_required": "yes", "password_policy": {"min_length": 7, "extra": true},
                       "session_timeout_minutes": 1.5},
          "notifications": {"digest": "hourly", "sender_name": ""}}'))),
    ARRAY['$.settings.branding.accent_color:invalid_format', '$.settings.branding.primary_color:invalid_format',
          '$.settings.notifications.digest:invalid_value', '$.settings.notifications.sender_name:too_short',
          '$.settings.security.mfa_required:invalid_type',
          '$.settings.security.password_policy.extra:unknown_key',
          '$.settings.security.password_policy.min_length:out_of_range',
          '$.settings.security.session_timeout_minutes:invalid_type',
          '$.settings.theme:unknown_key', '$.settings["weird key"]:unknown_key'],
    'settings: every error with its JSON path and code'
);
SELECT is(
    pliers.validate_organization_settings('[]'),
    '[{"path": "$.settings", "code": "invalid_type", "message": "must be a JSON object"}]',
    'settings must be an object'
);
SELECT is(
    pliers.validate_organization_settings(jsonb_build_object('x', repeat('a', 70000)))-> 0 ->> 'code',
    'too_large',
    'a settings document over 64 KiB is refused whole'
);
SELECT is(
    pg_temp.codes(jsonb_build_object('errors', pliers.validate_organization_features('{"sso": 1, "teleport": true}'))),
    ARRAY['$.features.sso:invalid_type', '$.features.teleport:unknown_key'],
    'features: known flags, booleans only'
);
SELECT is(
    pg_temp.codes(jsonb_build_object('errors', pliers.validate_organization_limits(
        '{"max_forms": -1, "max_users": 1.5, "max_submissions_per_month": "9", "max_bytes": 1}'))),
    ARRAY['$.limits.max_bytes:unknown_key', '$.limits.max_forms:out_of_range',
          '$.limits.max_submissions_per_month:invalid_type', '$.limits.max_users:invalid_type'],
    'limits: the quota names of _check_quota, non-negative integers'
);
SELECT is(
    (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pliers.organization_schema('limits') -> 'properties') AS k),
    ARRAY['max_attachment_bytes', 'max_forms', 'max_submissions_per_month', 'max_users'],
    'the limits schema names exactly the limits pliers._check_quota knows'
);
SELECT is(pliers.organization_schema('nope'), NULL, 'organization_schema of an unknown name is NULL');

-- Provisioning as pliers_platform -------------------------------------------------------------

SET LOCAL ROLE pliers_platform;

SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT * FROM pliers.create_organization(
        'Bad Slug', '', 'nobody', repeat('x', 300), NULL, '{"colour": "red"}', '{"x": true}', '{"max_forms": -2}')$$)),
    ARRAY['$.features.x:unknown_key', '$.limits.max_forms:out_of_range', '$.settings.colour:unknown_key',
          'name:invalid', 'owner_display_name:invalid', 'owner_email:invalid_email', 'slug:invalid_slug'],
    'create_organization: PL001 with every error'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.create_organization(NULL, NULL, NULL)$$,
    'PL001', NULL, 'create_organization: slug, name and owner_email are required'
);
SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT * FROM pliers.create_organization(NULL, NULL, NULL)$$)),
    ARRAY['name:required', 'owner_email:required', 'slug:required'],
    'create_organization: each missing argument named'
);

SELECT lives_ok(
    $$SELECT pg_temp.keep('a', c.organization_id), pg_temp.keep('a_owner', c.user_id)
      FROM pliers.create_organization('t35-a', 'T35 A', 'owner@t35a.example', 'Ann Owner',
                                      p_settings => '{"security": {"mfa_required": true}}',
                                      p_limits => '{"max_forms": 1}') AS c$$,
    'create_organization creates an organization and its owner'
);
SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT * FROM pliers.create_organization('t35-a', 'Other', 'o@t35.example')$$)),
    ARRAY['slug:taken'],
    'a taken slug: PL001, code taken at path slug'
);
SELECT is(
    pg_temp.detail_of($$SELECT * FROM pliers.create_organization('t35-a', 'Other', 'o@t35.example')$$),
    '{"errors": [{"code": "taken", "path": "slug", "message": "this slug is not available: choose another"}]}',
    'a taken slug reveals nothing of the organization that has it'
);
SELECT throws_ok(
    $$SELECT * FROM pliers.get_organization()$$, '42501', NULL,
    'pliers_platform may not call the tenant functions'
);

RESET ROLE;

SELECT is(
    (SELECT (o.slug::text, o.name::text, o.subscription_status::text, o.primary_contact_id, o.settings, o.limits)
     FROM pliers.organizations AS o WHERE o.id = pg_temp.id('a')),
    ('t35-a'::text, 'T35 A'::text, 'trial'::text, pg_temp.id('a_owner'), '{"security": {"mfa_required": true}}'::jsonb,
     '{"max_forms": 1}'::jsonb),
    'the organization: slug, name, trial, its owner as primary contact, settings, limits'
);
SELECT is(
    (SELECT (u.email::text, u.display_name::text, u.roles, u.status::text)
     FROM pliers.users AS u WHERE u.organization_id = pg_temp.id('a') AND u.id = pg_temp.id('a_owner')),
    ('owner@t35a.example'::text, 'Ann Owner'::text, '{org_owner}'::text[], 'active'::text),
    'the first user: an active org_owner'
);
SELECT is(
    pg_temp.events_of(pg_temp.id('a')),
    ARRAY['organization.created@1', 'organization.updated@2'],
    'organization.created, then organization.updated naming the owner: one event per revision'
);
SELECT is(pg_temp.events_of(pg_temp.id('a_owner')), '{user.created@1}', 'user.created');
SELECT is(
    (SELECT (e.organization_id, e.user_id) FROM pliers.events AS e
     WHERE e.aggregate_id = pg_temp.id('a') AND e.event_type = 'organization.created'),
    (pg_temp.id('a'), NULL::uuid),
    'a platform event belongs to the organization, without an acting user'
);
SELECT is(current_setting('pliers.context', true), '', 'no context is left behind by a platform call');

SET LOCAL ROLE pliers_platform;

SELECT lives_ok(
    $$SELECT pg_temp.keep('b', c.organization_id), pg_temp.keep('b_owner', c.user_id)
      FROM pliers.create_organization('t35-b', 'T35 B', 'owner@t35b.example') AS c$$,
    'a second organization'
);
SELECT is((pliers.find_organization('t35-b')).id, pg_temp.id('b'), 'find_organization by slug');
SELECT throws_ok($$SELECT pliers.find_organization('t35-none')$$, 'PL002', NULL, 'find_organization: PL002 for no such slug');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.find_organization('t35-none')$$),
    '{"object": "organization", "slug": "t35-none"}',
    'find_organization: DETAIL {object, slug}'
);
SELECT throws_ok($$SELECT pliers.find_organization('Bad Slug')$$, 'PL001', NULL, 'find_organization: PL001 for a bad slug');
SELECT is(
    ARRAY(SELECT o.slug::text FROM pliers.list_organizations(NULL, 1000) AS o WHERE o.slug::text LIKE 't35-%'),
    ARRAY['t35-a', 't35-b'],
    'list_organizations in slug order'
);
SELECT is(
    ARRAY(SELECT o.slug::text FROM pliers.list_organizations('t35-a', 1) AS o),
    ARRAY(SELECT x.slug FROM (SELECT o.slug::text AS slug FROM pliers.list_organizations(NULL, 1000) AS o) AS x
          WHERE x.slug COLLATE "C" > 't35-a' LIMIT 1),
    'list_organizations: the page after a slug'
);
SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT * FROM pliers.list_organizations(repeat('a', 300), 0, NULL)$$)),
    ARRAY['after_slug:too_long', 'include_deleted:required', 'limit:out_of_range'],
    'list_organizations: PL001 with every error'
);

-- Suspension
SELECT throws_ok($$SELECT pliers.suspend_organization(NULL)$$, 'PL001', NULL, 'suspend_organization: PL001 without an id');
SELECT throws_ok(
    $$SELECT pliers.suspend_organization(gen_random_uuid())$$, 'PL002', NULL, 'suspend_organization: PL002 for no such id'
);
SELECT throws_ok(
    $$SELECT pliers.suspend_organization(pg_temp.id('b'), NULL, 99)$$, 'PL003', NULL,
    'suspend_organization: PL003 for a stale revision'
);
SELECT throws_ok(
    $$SELECT pliers.suspend_organization(pg_temp.id('b'), repeat('r', 1001))$$, 'PL001', NULL,
    'suspend_organization: the reason is bounded'
);
SELECT isnt((pliers.suspend_organization(pg_temp.id('b'), 'unpaid')).suspended_at, NULL, 'suspend_organization');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.suspend_organization(pg_temp.id('b'))$$),
    '{"from": "suspended", "to": "suspended"}',
    'suspend_organization: PL004 when it already is'
);
SELECT throws_ok($$SELECT pliers.suspend_organization(pg_temp.id('b'))$$, 'PL004', NULL, 'suspended twice: PL004');

RESET ROLE;
SET LOCAL ROLE pliers_app;

SELECT throws_ok(
    $$SELECT pliers.set_context(pg_temp.id('b'), pg_temp.id('b_owner'))$$, 'PL006', NULL,
    'set_context refuses the users of a suspended organization'
);
SELECT is(
    pg_temp.detail_of($$SELECT pliers.set_context(pg_temp.id('b'), pg_temp.id('b_owner'))$$) ->> 'reason',
    'organization_suspended',
    'set_context: reason organization_suspended'
);

RESET ROLE;
SET LOCAL ROLE pliers_platform;

SELECT is((pliers.reactivate_organization(pg_temp.id('b'))).suspended_at, NULL, 'reactivate_organization');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.reactivate_organization(pg_temp.id('b'))$$),
    '{"from": "active", "to": "active"}',
    'reactivate_organization: PL004 when it is not suspended'
);

RESET ROLE;
SET LOCAL ROLE pliers_app;
SELECT lives_ok(
    $$SELECT pliers.set_context(pg_temp.id('b'), pg_temp.id('b_owner'))$$,
    'set_context admits the users of a reactivated organization'
);
RESET ROLE;
SELECT is(
    pg_temp.events_of(pg_temp.id('b')),
    ARRAY['organization.created@1', 'organization.updated@2', 'organization.suspended@3', 'organization.reactivated@4'],
    'organization.suspended and organization.reactivated, one version each'
);
SET LOCAL ROLE pliers_platform;

-- Subscription moves
SELECT ok(
    (SELECT count(*) = 13 AND bool_and(m.from_status <> m.to_status) FROM pliers.subscription_status_moves() AS m),
    'subscription_status_moves: 13 moves, none staying put'
);
SELECT is(
    (pliers.set_subscription_status(pg_temp.id('b'), 'active', '2030-01-01')).subscription_status::text, 'active',
    'set_subscription_status: trial -> active'
);
SELECT is(
    pg_temp.detail_of($$SELECT pliers.set_subscription_status(pg_temp.id('b'), 'trial')$$),
    '{"from": "active", "to": "trial"}',
    'set_subscription_status: PL004 {from, to} for a move not in the table'
);
SELECT throws_ok(
    $$SELECT pliers.set_subscription_status(pg_temp.id('b'), 'active')$$, 'PL004', NULL,
    'set_subscription_status: staying put is no move'
);
SELECT throws_ok(
    $$SELECT pliers.set_subscription_status(pg_temp.id('b'), NULL)$$, 'PL001', NULL,
    'set_subscription_status: the status is required'
);

-- Plan
SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT pliers.set_organization_plan(pg_temp.id('b'), '{"sso": "y"}', '{"max_forms": "x"}')$$)),
    ARRAY['$.features.sso:invalid_type', '$.limits.max_forms:invalid_type'],
    'set_organization_plan: PL001 with every error'
);
SELECT is(
    (SELECT (p.features, p.limits) FROM pliers.set_organization_plan(pg_temp.id('b'), NULL, '{"max_users": 3}') AS p),
    ('{}'::jsonb, '{"max_users": 3}'::jsonb),
    'set_organization_plan: NULL leaves the features, the limits are replaced'
);

-- Deletion
SELECT isnt((pliers.delete_organization(pg_temp.id('b'))).deleted_at, NULL, 'delete_organization');
SELECT throws_ok($$SELECT pliers.delete_organization(pg_temp.id('b'))$$, 'PL002', NULL, 'deleted twice: PL002');
SELECT isnt((pliers.find_organization('t35-b')).deleted_at, NULL, 'find_organization still finds a deleted one');
SELECT is(
    ARRAY(SELECT o.slug::text FROM pliers.list_organizations(NULL, 1000) AS o WHERE o.slug::text LIKE 't35-%'),
    ARRAY['t35-a'],
    'list_organizations leaves deleted ones out'
);
SELECT is(
    ARRAY(SELECT o.slug::text FROM pliers.list_organizations(NULL, 1000, TRUE) AS o WHERE o.slug::text LIKE 't35-%'),
    ARRAY['t35-a', 't35-b'],
    '... unless asked'
);
SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT * FROM pliers.create_organization('t35-b', 'Again', 'x@t35.example')$$)),
    ARRAY['slug:taken'],
    'the slug of a deleted organization stays taken'
);

RESET ROLE;
SET LOCAL ROLE pliers_app;
SELECT is(
    pg_temp.detail_of($$SELECT pliers.set_context(pg_temp.id('b'), pg_temp.id('b_owner'))$$) ->> 'reason',
    'organization_deleted',
    'set_context refuses the users of a deleted organization'
);

-- The organization in its tenant context ----------------------------------------------------

-- The context opened for b above, before b was deleted, ends with this (test) transaction.
SELECT set_config('pliers.context', '', true);
SELECT throws_ok($$SELECT pliers.get_organization()$$, 'PL008', NULL, 'get_organization: PL008 without a context');
SELECT throws_ok(
    $$SELECT pliers.create_organization('t35-c', 'C', 'c@t35.example')$$, '42501', NULL,
    'pliers_app may not provision'
);
RESET ROLE;
INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
(pg_temp.id('a'), '35000001-0000-0000-0000-000000000002', 'viewer@t35a.example', '{viewer}');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context(pg_temp.id('a'), '35000001-0000-0000-0000-000000000002');
SELECT is((pliers.get_organization()).slug::text, 't35-a', 'get_organization: any member reads it');
SELECT throws_ok(
    $$SELECT pliers.update_organization(2, 'Renamed')$$, 'PL006', NULL,
    'update_organization: PL006 without organization.manage'
);
SELECT pliers.set_context(pg_temp.id('a'), pg_temp.id('a_owner'));
SELECT throws_ok(
    $$SELECT pliers.update_organization(NULL, 'Renamed')$$, 'PL001', NULL,
    'update_organization: the expected revision is required'
);
SELECT throws_ok(
    $$SELECT pliers.update_organization(99, 'Renamed')$$, 'PL003', NULL,
    'update_organization: PL003 for a stale revision'
);
SELECT is(
    pg_temp.codes(pg_temp.detail_of($$SELECT pliers.update_organization(
        2, ' ', repeat('d', 256), repeat('x', 10001), gen_random_uuid(), 'bad', 'bad@', ARRAY[NULL],
        '{"branding": {"primary_color": "#12345g"}, "nope": 1}')$$)),
    ARRAY['$.settings.branding.primary_color:invalid_format', '$.settings.nope:unknown_key',
          'billing_email:invalid_email', 'description:too_long', 'display_name:invalid', 'name:invalid',
          'primary_contact_id:unknown_user', 'support_email:invalid_email', 'tags:invalid'],
    'update_organization: PL001 with every error'
);
SELECT is(
    (SELECT (o.name::text, o.tags, o.settings, o.revision, o.updated_by)
     FROM pliers.update_organization(2, 'Renamed', p_tags => '{eu}',
                                     p_settings => '{"branding": {"primary_color": "#123456"}}') AS o),
    ('Renamed'::text, '{eu}'::text[], '{"branding": {"primary_color": "#123456"}}'::jsonb, 3, pg_temp.id('a_owner')),
    'update_organization: name, tags and settings, one revision more, updated_by the user'
);
SELECT is(
    (SELECT (e.aggregate_version, e.payload, e.user_id) FROM pliers.events AS e
     WHERE e.aggregate_id = pg_temp.id('a') AND e.event_type = 'organization.updated' AND e.aggregate_version = 3),
    (3, '{"name": "Renamed", "tags": ["eu"], "settings": {"branding": {"primary_color": "#123456"}}}'::jsonb,
     pg_temp.id('a_owner')),
    'organization.updated: the fields given, by the acting user'
);
SELECT throws_ok(
    $$SELECT pliers.update_organization(3, p_primary_contact_id => pg_temp.id('b_owner'))$$, 'PL001', NULL,
    'another tenant''s user is no primary contact'
);
SELECT is(
    (pliers.update_organization(3, p_primary_contact_id => '35000001-0000-0000-0000-000000000002')).primary_contact_id,
    '35000001-0000-0000-0000-000000000002'::uuid,
    'update_organization: a primary contact among its active users'
);

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
