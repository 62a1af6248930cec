-- Domains and enum types of sql/10-types.sql: that they exist with their base
-- type or exact labels, that each domain accepts good values and rejects bad
-- ones (23514), and that each enum rejects an unknown label (22P02).
BEGIN;
SELECT plan(99);

-- A column of each domain: an INSERT applies the length limit (an explicit cast truncates).
CREATE TEMPORARY TABLE domain_probe (
    email pliers.email,
    url pliers.url,
    semver pliers.semver,
    slug pliers.slug
);

-- The types that exist ----------------------------------------------------------

SELECT set_eq(
    $$SELECT t.typname::text FROM pg_catalog.pg_type AS t
      JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
      WHERE n.nspname = 'pliers' AND t.typtype = 'd'$$,
    ARRAY['email', 'url', 'semver', 'slug'],
    'pliers has exactly the domains email, url, semver, slug'
);
SELECT set_eq(
    $$SELECT t.typname::text FROM pg_catalog.pg_type AS t
      JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
      WHERE n.nspname = 'pliers' AND t.typtype = 'e'$$,
    ARRAY[
        'user_status', 'form_status', 'submission_status', 'workflow_status', 'execution_status',
        'trigger_type', 'team_role', 'scope_type', 'plugin_type', 'plugin_status',
        'notification_priority', 'audit_status', 'subscription_status', 'form_visibility',
        -- defined and tested in 70-history.sql:
        'aggregate_type'
    ],
    'pliers has exactly the fourteen enum types of 10-types.sql (and aggregate_type of 70-history.sql)'
);

SELECT is(
    (SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod) FROM pg_catalog.pg_type AS t
     WHERE t.oid = 'pliers.email'::regtype),
    'character varying(255)', 'domain email is varchar(255)'
);
SELECT is(
    (SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod) FROM pg_catalog.pg_type AS t
     WHERE t.oid = 'pliers.url'::regtype),
    'text', 'domain url is text'
);
SELECT is(
    (SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod) FROM pg_catalog.pg_type AS t
     WHERE t.oid = 'pliers.semver'::regtype),
    'character varying(20)', 'domain semver is varchar(20)'
);
SELECT is(
    (SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod) FROM pg_catalog.pg_type AS t
     WHERE t.oid = 'pliers.slug'::regtype),
    'character varying(255)', 'domain slug is varchar(255)'
);

SELECT enum_has_labels('pliers', 'user_status',
    ARRAY['active', 'inactive', 'suspended', 'pending', 'deleted']);
SELECT enum_has_labels('pliers', 'form_status',
    ARRAY['draft', 'published', 'deprecated', 'archived']);
SELECT enum_has_labels('pliers', 'submission_status',
    ARRAY['draft', 'submitted', 'processing', 'approved', 'rejected', 'completed', 'archived']);
SELECT enum_has_labels('pliers', 'workflow_status',
    ARRAY['draft', 'published', 'deprecated', 'archived']);
SELECT enum_has_labels('pliers', 'execution_status',
    ARRAY['pending', 'running', 'completed', 'failed', 'cancelled', 'timeout']);
SELECT enum_has_labels('pliers', 'trigger_type',
    ARRAY['manual', 'form_submission', 'event', 'schedule', 'webhook']);
SELECT enum_has_labels('pliers', 'team_role',
    ARRAY['owner', 'admin', 'member', 'viewer']);
SELECT enum_has_labels('pliers', 'scope_type',
    ARRAY['organization', 'form', 'workflow', 'team']);
SELECT enum_has_labels('pliers', 'plugin_type',
    ARRAY['field', 'action', 'integration', 'validation', 'transformation']);
SELECT enum_has_labels('pliers', 'plugin_status',
    ARRAY['active', 'inactive', 'error', 'updating']);
SELECT enum_has_labels('pliers', 'notification_priority',
    ARRAY['low', 'normal', 'high', 'urgent']);
SELECT enum_has_labels('pliers', 'audit_status',
    ARRAY['success', 'failure', 'partial']);
SELECT enum_has_labels('pliers', 'subscription_status',
    ARRAY['trial', 'active', 'past_due', 'suspended', 'cancelled', 'expired']);
SELECT enum_has_labels('pliers', 'form_visibility',
    ARRAY['private', 'organization', 'public']);

-- Domain email ------------------------------------------------------------------

SELECT lives_ok($$SELECT 'ann@example.com'::pliers.email$$, 'email: plain address');
SELECT lives_ok($$SELECT 'Ann.Neil+forms_1%x@Mail.Example-1.co.uk'::pliers.email$$,
    'email: capitals, dots, plus, underscore, percent, hyphenated subdomains');
SELECT lives_ok($$SELECT NULL::pliers.email$$, 'email: NULL passes the domain (columns decide on NOT NULL)');
SELECT throws_ok($$SELECT 'ann.example.com'::pliers.email$$, '23514', NULL, 'email: no @ is rejected');
SELECT throws_ok($$SELECT 'ann@example'::pliers.email$$, '23514', NULL, 'email: no top-level domain is rejected');
SELECT throws_ok($$SELECT 'ann@example.c'::pliers.email$$, '23514', NULL,
    'email: one-letter top-level domain is rejected');
SELECT throws_ok($$SELECT 'ann smith@example.com'::pliers.email$$, '23514', NULL, 'email: a space is rejected');
SELECT throws_ok($$SELECT 'ann@@example.com'::pliers.email$$, '23514', NULL, 'email: two @ are rejected');
SELECT throws_ok($$SELECT '@example.com'::pliers.email$$, '23514', NULL, 'email: empty local part is rejected');
SELECT throws_ok($$SELECT ''::pliers.email$$, '23514', NULL, 'email: empty string is rejected');
SELECT throws_ok($$SELECT 'ann@example.com '::pliers.email$$, '23514', NULL, 'email: trailing space is rejected');
SELECT throws_ok(
    $$INSERT INTO pg_temp.domain_probe (email) VALUES (repeat('a', 250) || '@example.com')$$, '22001', NULL,
    'email: longer than 255 characters is rejected on assignment'
);

-- Domain url --------------------------------------------------------------------

SELECT lives_ok($$SELECT 'https://example.com/a?b=c'::pliers.url$$, 'url: https');
SELECT lives_ok($$SELECT 'http://localhost:8080/x'::pliers.url$$, 'url: http');
SELECT throws_ok($$SELECT 'javascript:alert(1)'::pliers.url$$, '23514', NULL, 'url: javascript: is rejected');
SELECT throws_ok($$SELECT 'data:text/html,<b>x</b>'::pliers.url$$, '23514', NULL, 'url: data: is rejected');
SELECT throws_ok($$SELECT '/relative/path'::pliers.url$$, '23514', NULL, 'url: a relative path is rejected');
SELECT throws_ok($$SELECT '//example.com/x'::pliers.url$$, '23514', NULL, 'url: a scheme-relative URL is rejected');
SELECT throws_ok($$SELECT 'ftp://example.com/x'::pliers.url$$, '23514', NULL, 'url: ftp is rejected');
SELECT throws_ok($$SELECT ' https://example.com'::pliers.url$$, '23514', NULL, 'url: leading space is rejected');
SELECT throws_ok($$SELECT 'https:example.com'::pliers.url$$, '23514', NULL, 'url: missing // is rejected');

-- Domain semver -----------------------------------------------------------------

SELECT lives_ok($$SELECT '1.2.3'::pliers.semver$$, 'semver: MAJOR.MINOR.PATCH');
SELECT lives_ok($$SELECT '10.20.30'::pliers.semver$$, 'semver: several digits');
SELECT lives_ok($$SELECT '1.0.0-beta1'::pliers.semver$$, 'semver: lower-case pre-release suffix');
SELECT throws_ok($$SELECT '1.2'::pliers.semver$$, '23514', NULL, 'semver: two parts are rejected');
SELECT throws_ok($$SELECT '1.2.3.4'::pliers.semver$$, '23514', NULL, 'semver: four parts are rejected');
SELECT throws_ok($$SELECT 'v1.2.3'::pliers.semver$$, '23514', NULL, 'semver: a v prefix is rejected');
SELECT throws_ok($$SELECT '1.2.3-Beta'::pliers.semver$$, '23514', NULL, 'semver: upper-case pre-release is rejected');
SELECT throws_ok($$SELECT '1.2.3-'::pliers.semver$$, '23514', NULL, 'semver: empty pre-release is rejected');
SELECT throws_ok($$SELECT '1.2.3-rc.1'::pliers.semver$$, '23514', NULL, 'semver: dotted pre-release is rejected');
SELECT throws_ok($$SELECT '1.2.x'::pliers.semver$$, '23514', NULL, 'semver: a letter in a number is rejected');
SELECT throws_ok($$SELECT ''::pliers.semver$$, '23514', NULL, 'semver: empty string is rejected');
SELECT throws_ok(
    $$INSERT INTO pg_temp.domain_probe (semver) VALUES ('1.0.0-abcdefghijklmnop')$$, '22001', NULL,
    'semver: longer than 20 characters is rejected on assignment'
);

-- Domain slug -------------------------------------------------------------------

SELECT lives_ok($$SELECT 'abc'::pliers.slug$$, 'slug: one group');
SELECT lives_ok($$SELECT 'hr-onboarding-2024'::pliers.slug$$, 'slug: groups joined by single hyphens');
SELECT lives_ok($$SELECT '42'::pliers.slug$$, 'slug: digits only');
SELECT throws_ok($$SELECT 'Abc'::pliers.slug$$, '23514', NULL, 'slug: upper case is rejected');
SELECT throws_ok($$SELECT '-abc'::pliers.slug$$, '23514', NULL, 'slug: leading hyphen is rejected');
SELECT throws_ok($$SELECT 'abc-'::pliers.slug$$, '23514', NULL, 'slug: trailing hyphen is rejected');
SELECT throws_ok($$SELECT 'a--b'::pliers.slug$$, '23514', NULL, 'slug: double hyphen is rejected');
SELECT throws_ok($$SELECT 'a_b'::pliers.slug$$, '23514', NULL, 'slug: underscore is rejected');
SELECT throws_ok($$SELECT 'a b'::pliers.slug$$, '23514', NULL, 'slug: space is rejected');
SELECT throws_ok($$SELECT 'a.b'::pliers.slug$$, '23514', NULL, 'slug: dot is rejected');
SELECT throws_ok($$SELECT 'café'::pliers.slug$$, '23514', NULL, 'slug: non-ASCII letter is rejected');
SELECT throws_ok($$SELECT ''::pliers.slug$$, '23514', NULL, 'slug: empty string is rejected');
SELECT throws_ok(
    $$INSERT INTO pg_temp.domain_probe (slug) VALUES (repeat('a', 256))$$, '22001', NULL,
    'slug: longer than 255 characters is rejected on assignment'
);

-- Enums: a known label is accepted, an unknown one (or another case) is 22P02 ------

SELECT lives_ok($$SELECT 'pending'::pliers.user_status$$, 'user_status accepts pending');
SELECT throws_ok($$SELECT 'banned'::pliers.user_status$$, '22P02', NULL, 'user_status rejects banned');
SELECT throws_ok($$SELECT 'Active'::pliers.user_status$$, '22P02', NULL, 'user_status is case-sensitive');
SELECT lives_ok($$SELECT 'deprecated'::pliers.form_status$$, 'form_status accepts deprecated');
SELECT throws_ok($$SELECT 'deleted'::pliers.form_status$$, '22P02', NULL, 'form_status rejects deleted');
SELECT lives_ok($$SELECT 'processing'::pliers.submission_status$$, 'submission_status accepts processing');
SELECT throws_ok($$SELECT 'pending'::pliers.submission_status$$, '22P02', NULL, 'submission_status rejects pending');
SELECT lives_ok($$SELECT 'archived'::pliers.workflow_status$$, 'workflow_status accepts archived');
SELECT throws_ok($$SELECT 'active'::pliers.workflow_status$$, '22P02', NULL, 'workflow_status rejects active');
SELECT lives_ok($$SELECT 'timeout'::pliers.execution_status$$, 'execution_status accepts timeout');
SELECT throws_ok($$SELECT 'done'::pliers.execution_status$$, '22P02', NULL, 'execution_status rejects done');
SELECT lives_ok($$SELECT 'form_submission'::pliers.trigger_type$$, 'trigger_type accepts form_submission');
SELECT throws_ok($$SELECT 'cron'::pliers.trigger_type$$, '22P02', NULL, 'trigger_type rejects cron');
SELECT lives_ok($$SELECT 'viewer'::pliers.team_role$$, 'team_role accepts viewer');
SELECT throws_ok($$SELECT 'guest'::pliers.team_role$$, '22P02', NULL, 'team_role rejects guest');
SELECT lives_ok($$SELECT 'team'::pliers.scope_type$$, 'scope_type accepts team');
SELECT throws_ok($$SELECT 'submission'::pliers.scope_type$$, '22P02', NULL, 'scope_type rejects submission');
SELECT lives_ok($$SELECT 'transformation'::pliers.plugin_type$$, 'plugin_type accepts transformation');
SELECT throws_ok($$SELECT 'theme'::pliers.plugin_type$$, '22P02', NULL, 'plugin_type rejects theme');
SELECT lives_ok($$SELECT 'updating'::pliers.plugin_status$$, 'plugin_status accepts updating');
SELECT throws_ok($$SELECT 'installed'::pliers.plugin_status$$, '22P02', NULL, 'plugin_status rejects installed');
SELECT lives_ok($$SELECT 'urgent'::pliers.notification_priority$$, 'notification_priority accepts urgent');
SELECT throws_ok($$SELECT 'critical'::pliers.notification_priority$$, '22P02', NULL,
    'notification_priority rejects critical');
SELECT lives_ok($$SELECT 'partial'::pliers.audit_status$$, 'audit_status accepts partial');
SELECT throws_ok($$SELECT 'error'::pliers.audit_status$$, '22P02', NULL, 'audit_status rejects error');
SELECT lives_ok($$SELECT 'past_due'::pliers.subscription_status$$, 'subscription_status accepts past_due');
SELECT throws_ok($$SELECT 'free'::pliers.subscription_status$$, '22P02', NULL, 'subscription_status rejects free');
SELECT lives_ok($$SELECT 'public'::pliers.form_visibility$$, 'form_visibility accepts public');
SELECT throws_ok($$SELECT 'internal'::pliers.form_visibility$$, '22P02', NULL, 'form_visibility rejects internal');
SELECT throws_ok($$SELECT ''::pliers.form_visibility$$, '22P02', NULL, 'form_visibility rejects the empty string');

-- Enum order is the lifecycle order (the API compares statuses with < and >) -----

SELECT ok('draft'::pliers.form_status < 'published' AND 'published'::pliers.form_status < 'deprecated'
    AND 'deprecated'::pliers.form_status < 'archived', 'form_status sorts draft < published < deprecated < archived');
SELECT ok('low'::pliers.notification_priority < 'normal' AND 'normal'::pliers.notification_priority < 'high'
    AND 'high'::pliers.notification_priority < 'urgent', 'notification_priority sorts low < normal < high < urgent');

-- Comments: every domain and enum is documented (a DBA reads \dT+) ------------------

SELECT is_empty(
    $$SELECT t.typname FROM pg_catalog.pg_type AS t
      JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
      WHERE n.nspname = 'pliers' AND t.typtype IN ('d', 'e')
        AND pg_catalog.obj_description(t.oid, 'pg_type') IS NULL$$,
    'every domain and enum of pliers has a comment'
);

SELECT * FROM finish();
ROLLBACK;
