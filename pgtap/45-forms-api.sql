-- The form API (sql/45-forms-api.sql): the lifecycle of form versions, each function's
-- errors and SQLSTATEs, the events appended with their aggregate_version, the latest
-- flag, breaking changes and the max_forms quota. Data is seeded as superuser; every
-- call runs as pliers_app after pliers.set_context, never as superuser.
BEGIN;
SELECT plan(104);

-- Data, as superuser ---------------------------------------------------------------------
-- Organization A (max_forms 3): a1 org_owner, a2 form_editor (no publish), a3 member,
-- a4 viewer. Organization B: b1 org_owner, with form FB.
INSERT INTO pliers.organizations (id, slug, name, limits) VALUES
('45000000-0000-0000-0000-00000000000a', 't45-a', 'Forms API A', '{"max_forms": 3}'),
('45000000-0000-0000-0000-00000000000b', 't45-b', 'Forms API B', '{}');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000001', 'a1@t45.example', '{org_owner}'),
('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000002', 'a2@t45.example', '{form_editor}'),
('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000003', 'a3@t45.example', '{member}'),
('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000004', 'a4@t45.example', '{viewer}'),
('45000000-0000-0000-0000-00000000000b', '45000002-0000-0000-0000-000000000001', 'b1@t45.example', '{org_owner}');

INSERT INTO pliers.forms (organization_id, id, name, slug, definition) VALUES
('45000000-0000-0000-0000-00000000000b', '45000004-0000-0000-0000-0000000000fb', 'FB', 't45-fb', '{"fields": []}');

-- Definitions: v1; v1 plus an optional field (compatible); v1 without choice b (breaking).
CREATE FUNCTION pg_temp.def(p_which text)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT CASE p_which
        WHEN 'v1' THEN
            '{"title": "Intake", "fields": [
                {"id": "f1", "type": "text", "name": "fullName", "label": "Full name", "required": true},
                {"id": "f2", "type": "single_choice", "name": "reason", "label": "Reason",
                 "choices": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}]}]}'::jsonb
        WHEN 'added' THEN
            '{"title": "Intake", "fields": [
                {"id": "f1", "type": "text", "name": "fullName", "label": "Full name", "required": true},
                {"id": "f2", "type": "single_choice", "name": "reason", "label": "Reason",
                 "choices": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}]},
                {"id": "f3", "type": "integer", "name": "age", "label": "Age"}]}'::jsonb
        WHEN 'breaking' THEN
            '{"title": "Intake", "fields": [
                {"id": "f1", "type": "text", "name": "fullName", "label": "Full name", "required": true},
                {"id": "f2", "type": "single_choice", "name": "reason", "label": "Reason",
                 "choices": [{"code": "a", "label": "A"}]},
                {"id": "f3", "type": "integer", "name": "age", "label": "Age"}]}'::jsonb
        WHEN 'invalid' THEN
            '{"fields": [{"type": "nope"}, {"id": "x", "type": "text", "name": "1.bad"}]}'::jsonb
    END
$$;

-- Ids produced during the test, kept in transaction-local settings.
CREATE FUNCTION pg_temp.keep(p_name text, p_id uuid)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT set_config('t45.' || p_name, p_id::text, true)::uuid
$$;

CREATE FUNCTION pg_temp.id(p_name text)
RETURNS uuid
LANGUAGE sql
AS $$
    SELECT current_setting('t45.' || p_name)::uuid
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

-- The events of an aggregate, in append order: "type@version" strings.
CREATE FUNCTION pg_temp.events_of(p_id uuid)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT coalesce(array_agg(e.event_type || '@' || e.aggregate_version ORDER BY e.transaction_id, e.position), '{}')
    FROM pliers.events AS e
    WHERE e.aggregate_id = p_id
$$;

-- The catalog --------------------------------------------------------------------------------

SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace AND has_function_privilege('pliers_app', p.oid, 'EXECUTE')
       AND p.proname IN ('create_form', 'update_form', 'delete_form', 'publish_form', 'create_form_version',
                         'deprecate_form', 'archive_form', 'clone_form', 'form_status_moves')),
    ARRAY['archive_form', 'clone_form', 'create_form', 'create_form_version', 'delete_form', 'deprecate_form',
          'form_status_moves', 'publish_form', 'update_form'],
    'pliers_app may execute every function of the form API'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('create_form', 'update_form', 'delete_form', 'publish_form', 'create_form_version',
                         'deprecate_form', 'archive_form', 'clone_form')
       AND p.prosecdef AND p.proconfig = ARRAY['search_path=""']
       AND obj_description(p.oid, 'pg_proc') IS NOT NULL),
    8,
    'the form API functions are SECURITY DEFINER, pin search_path to '''' and are documented'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('_require_context', '_raise_invalid', '_raise_not_found', '_lock_form',
                         '_change_form_status', '_form_payload', '_check_slug', '_semver_key')
       AND (has_function_privilege('pliers_app', p.oid, 'EXECUTE')
            OR has_function_privilege('public', p.oid, 'EXECUTE'))),
    0,
    'the private helpers are not executable by pliers_app nor PUBLIC'
);
SELECT results_eq(
    $$SELECT from_status::text, to_status::text, via FROM pliers.form_status_moves() ORDER BY 1, 2$$,
    $$VALUES ('deprecated', 'archived', 'archive_form'), ('draft', 'published', 'publish_form'),
             ('published', 'archived', 'archive_form'), ('published', 'deprecated', 'deprecate_form')$$,
    'form_status_moves lists the allowed moves'
);

-- No context: PL008 --------------------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT pliers.create_form('X', 'x', '{"fields": []}')$$, 'PL008', NULL,
    'create_form without a context: PL008');
SELECT throws_ok($$SELECT pliers.update_form(gen_random_uuid(), 1, 'X')$$, 'PL008', NULL,
    'update_form without a context: PL008');
SELECT throws_ok($$SELECT pliers.publish_form(gen_random_uuid(), '1.0.0')$$, 'PL008', NULL,
    'publish_form without a context: PL008');
SELECT throws_ok($$SELECT pliers.archive_form(gen_random_uuid())$$, 'PL008', NULL,
    'archive_form without a context: PL008');

-- create_form ----------------------------------------------------------------------------------

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000001');

SELECT lives_ok(
    $$SELECT pg_temp.keep('f1', (pliers.create_form('Intake', 'intake', pg_temp.def('v1'),
        p_tags => '{hr}', p_visibility => 'organization')).id)$$,
    'create_form makes a draft'
);
SELECT results_eq(
    $$SELECT name, slug::text, version::text, status::text, visibility::text, is_latest, revision, parent_id,
             created_by, tags, organization_id
      FROM pliers.forms WHERE id = pg_temp.id('f1')$$,
    $$VALUES ('Intake'::varchar, 'intake', '1.0.0', 'draft', 'organization', TRUE, 1, NULL::uuid,
              '45000001-0000-0000-0000-000000000001'::uuid, '{hr}'::text[], '45000000-0000-0000-0000-00000000000a'::uuid)$$,
    'the draft: version 1.0.0, latest, revision 1, in the current tenant, created by the current user'
);
SELECT is(pg_temp.events_of(pg_temp.id('f1')), ARRAY['form.created@1'], 'create_form appends form.created@1');
SELECT is(
    (SELECT payload -> 'definition' = pg_temp.def('v1') AND payload ->> 'slug' = 'intake'
     FROM pliers.events WHERE aggregate_id = pg_temp.id('f1') AND event_type = 'form.created'),
    TRUE,
    'form.created carries the business fields (slug, definition, ...)'
);

SELECT throws_ok($$SELECT pliers.create_form('Bad', 'bad', pg_temp.def('invalid'))$$, 'PL001', NULL,
    'create_form with an invalid definition: PL001');
SELECT is(
    (SELECT jsonb_agg(e ->> 'path' ORDER BY e ->> 'path')
     FROM jsonb_array_elements(
        pg_temp.detail_of($$SELECT pliers.create_form(' ', 'Bad Slug', pg_temp.def('invalid'))$$) -> 'errors'
     ) AS e),
    '["$.fields[0].name", "$.fields[0].type", "$.fields[1].name", "name", "slug"]'::jsonb,
    'PL001 lists every error at once: arguments (name, slug) and the definition''s own, with their paths'
);
SELECT is(
    (SELECT jsonb_agg(e ->> 'code' ORDER BY e ->> 'path')
     FROM jsonb_array_elements(
        pg_temp.detail_of($$SELECT pliers.create_form('Bad', 'bad', pg_temp.def('invalid'))$$) -> 'errors'
     ) AS e),
    '["missing_property", "unknown_field_type", "invalid_name"]'::jsonb,
    '... each with the validator''s code'
);
SELECT throws_ok($$SELECT pliers.create_form('X', 'x', NULL)$$, 'PL001', NULL,
    'create_form without a definition: PL001');
SELECT throws_ok($$SELECT pliers.create_form('Other intake', 'intake', pg_temp.def('v1'))$$, 'PL003', NULL,
    'create_form with a slug in use: PL003');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.create_form('Other intake', 'intake', pg_temp.def('v1'))$$),
    '{"object": "form", "slug": "intake"}'::jsonb,
    'PL003 names the object and the slug'
);
SELECT is((SELECT count(*)::integer FROM pliers.forms WHERE slug = 'bad'), 0, 'a refused create_form wrote nothing');

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000004');
SELECT throws_ok($$SELECT pliers.create_form('X', 'x', pg_temp.def('v1'))$$, 'PL006', NULL,
    'create_form by a viewer: PL006');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.create_form('X', 'x', pg_temp.def('v1'))$$) ->> 'permission',
    'form.create',
    'PL006 names the permission'
);

-- update_form ----------------------------------------------------------------------------------

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000002');
SELECT lives_ok(
    $$SELECT pliers.update_form(pg_temp.id('f1'), 1, p_name => 'Patient intake', p_definition => pg_temp.def('v1'))$$,
    'a form editor updates the draft with the revision read'
);
SELECT results_eq(
    $$SELECT name, revision, updated_by FROM pliers.forms WHERE id = pg_temp.id('f1')$$,
    $$VALUES ('Patient intake'::varchar, 2, '45000001-0000-0000-0000-000000000002'::uuid)$$,
    'the name changed, the revision is 2'
);
SELECT is(
    (SELECT payload FROM pliers.events WHERE aggregate_id = pg_temp.id('f1') AND aggregate_version = 2),
    '{"changes": {"name": "Patient intake"}}'::jsonb,
    'form.updated@2 carries only what changed (the same definition is no change)'
);
SELECT throws_ok($$SELECT pliers.update_form(pg_temp.id('f1'), 1, p_name => 'Stale')$$, 'PL003', NULL,
    'update_form with a stale revision: PL003');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.update_form(pg_temp.id('f1'), 1, p_name => 'Stale')$$)
        - 'id' - 'aggregate_type',
    '{"expected": 1, "actual": 2}'::jsonb,
    'PL003 has the expected and actual revisions'
);
SELECT results_eq(
    $$SELECT name::text, revision, cardinality(pg_temp.events_of(id)) FROM pliers.forms WHERE id = pg_temp.id('f1')$$,
    $$VALUES ('Patient intake', 2, 2)$$,
    'a stale write changed nothing and appended no event'
);
SELECT throws_ok($$SELECT pliers.update_form(pg_temp.id('f1'), NULL, p_name => 'X')$$, 'PL001', NULL,
    'update_form without an expected revision: PL001');
SELECT throws_ok($$SELECT pliers.update_form(pg_temp.id('f1'), 2, p_definition => pg_temp.def('invalid'))$$,
    'PL001', NULL, 'update_form with an invalid definition: PL001');
SELECT is(
    jsonb_array_length(pg_temp.detail_of(
        $$SELECT pliers.update_form(pg_temp.id('f1'), 2, p_definition => pg_temp.def('invalid'))$$) -> 'errors'),
    3,
    '... with all three errors of the definition'
);
SELECT throws_ok($$SELECT pliers.update_form(gen_random_uuid(), 1, p_name => 'X')$$, 'PL002', NULL,
    'update_form of an unknown form: PL002');
SELECT throws_ok($$SELECT pliers.update_form('45000004-0000-0000-0000-0000000000fb', 1, p_name => 'X')$$,
    'PL002', NULL, 'update_form of another tenant''s form: PL002');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.update_form('45000004-0000-0000-0000-0000000000fb', 1, p_name => 'X')$$),
    '{"object": "form", "id": "45000004-0000-0000-0000-0000000000fb"}'::jsonb,
    'PL002 names the object and the id'
);
SELECT is(
    (SELECT pliers.update_form(pg_temp.id('f1'), 2, p_name => 'Patient intake')).revision, 2,
    'an update that changes nothing writes nothing'
);
SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000003');
SELECT throws_ok($$SELECT pliers.update_form(pg_temp.id('f1'), 2, p_name => 'X')$$, 'PL006', NULL,
    'update_form by a member: PL006');

-- publish_form ---------------------------------------------------------------------------------

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.0')$$, 'PL006', NULL,
    'publish_form by a form editor (no form.publish): PL006');

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0')$$, 'PL001', NULL,
    'publish_form with a version that is not MAJOR.MINOR.PATCH: PL001');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.publish_form(pg_temp.id('f1'), '01.0.0')$$) #>> '{errors,0,code}',
    'invalid_version',
    '... code invalid_version (no leading zeros either)'
);
SELECT throws_ok($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.0', 1)$$, 'PL003', NULL,
    'publish_form with a stale expected revision: PL003');
SELECT lives_ok($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.0', 2)$$, 'publish_form publishes the draft');
SELECT results_eq(
    $$SELECT status::text, version::text, is_latest, published_at IS NOT NULL, published_by, revision
      FROM pliers.forms WHERE id = pg_temp.id('f1')$$,
    $$VALUES ('published', '1.0.0', TRUE, TRUE, '45000001-0000-0000-0000-000000000001'::uuid, 3)$$,
    'published 1.0.0, latest, published_at/by set, revision 3'
);
SELECT is(
    (SELECT payload ->> 'version' FROM pliers.events
     WHERE aggregate_id = pg_temp.id('f1') AND event_type = 'form.published' AND aggregate_version = 3),
    '1.0.0',
    'form.published@3 carries the version'
);
SELECT throws_ok($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.1')$$, 'PL004', NULL,
    'publishing a published version: PL004');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.publish_form(pg_temp.id('f1'), '1.0.1')$$) - 'id' - 'object',
    '{"from": "published", "to": "published"}'::jsonb,
    'PL004 has from and to'
);
SELECT throws_ok($$SELECT pliers.update_form(pg_temp.id('f1'), 3, p_definition => pg_temp.def('added'))$$,
    'PL005', NULL, 'the definition of a published version cannot change: PL005');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.update_form(pg_temp.id('f1'), 3, p_name => 'Y', p_settings => '{}')$$) -> 'columns',
    '["name", "settings"]'::jsonb,
    'PL005 lists the frozen columns asked for'
);
SELECT is(
    (SELECT tags FROM pliers.update_form(pg_temp.id('f1'), 3, p_tags => '{hr,intake}')),
    '{hr,intake}'::text[],
    'tags of a published version can change'
);

-- create_form_version and the latest flag ---------------------------------------------------------

SELECT lives_ok($$SELECT pg_temp.keep('f2', (pliers.create_form_version(pg_temp.id('f1'))).id)$$,
    'create_form_version starts a new draft from the published version');
SELECT results_eq(
    $$SELECT status::text, version::text, is_latest, parent_id, definition = pg_temp.def('v1'), revision
      FROM pliers.forms WHERE id = pg_temp.id('f2')$$,
    $$SELECT 'draft', '1.0.1', FALSE, pg_temp.id('f1'), TRUE, 1$$,
    'the new draft: parent_id, a provisional version, not latest, the same content'
);
SELECT is(pg_temp.events_of(pg_temp.id('f2')), ARRAY['form.created@1'], 'the new version has its form.created@1');
SELECT throws_ok($$SELECT pliers.create_form_version(pg_temp.id('f1'))$$, 'PL003', NULL,
    'a second open draft of the slug: PL003');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.create_form_version(pg_temp.id('f1'))$$) ->> 'draft_id',
    pg_temp.id('f2')::text,
    'PL003 names the existing draft'
);
SELECT throws_ok($$SELECT pliers.create_form_version(pg_temp.id('f2'))$$, 'PL001', NULL,
    'a new version from a draft: PL001');
SELECT lives_ok($$SELECT pliers.update_form(pg_temp.id('f2'), 1, p_definition => pg_temp.def('added'))$$,
    'the draft gets an optional field');
SELECT throws_ok($$SELECT pliers.publish_form(pg_temp.id('f2'), '1.0.0')$$, 'PL001', NULL,
    'publishing a version not greater than the published one: PL001');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.publish_form(pg_temp.id('f2'), '0.9.9')$$) #>> '{errors,0,code}',
    'version_not_greater',
    '... code version_not_greater'
);
SELECT lives_ok($$SELECT pliers.publish_form(pg_temp.id('f2'), '1.1.0')$$,
    'a compatible change is published as a minor version');
SELECT results_eq(
    $$SELECT id, is_latest, status::text FROM pliers.forms WHERE slug = 'intake' ORDER BY version$$,
    $$VALUES (pg_temp.id('f1'), FALSE, 'published'), (pg_temp.id('f2'), TRUE, 'published')$$,
    'the new version is the latest; the old one is still published'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.forms WHERE slug = 'intake' AND is_latest AND deleted_at IS NULL), 1,
    'exactly one latest version per slug'
);
SELECT is(
    pg_temp.events_of(pg_temp.id('f1')),
    ARRAY['form.created@1', 'form.updated@2', 'form.published@3', 'form.updated@4', 'form.updated@5'],
    'the old version: its tags update (4) and losing the latest flag (5) are events with its revisions'
);
SELECT is(
    (SELECT payload FROM pliers.events WHERE aggregate_id = pg_temp.id('f1') AND aggregate_version = 5),
    jsonb_build_object('changes', '{"is_latest": false}'::jsonb, 'superseded_by', pg_temp.id('f2')),
    'form.updated@5 records the superseding version'
);

-- Breaking changes need a major version
SELECT lives_ok($$SELECT pg_temp.keep('f3', (pliers.create_form_version(pg_temp.id('f2'))).id)$$,
    'a third version is started');
SELECT lives_ok($$SELECT pliers.update_form(pg_temp.id('f3'), 1, p_definition => pg_temp.def('breaking'))$$,
    'it removes a choice');
SELECT throws_ok($$SELECT pliers.publish_form(pg_temp.id('f3'), '1.2.0')$$, 'PL001', NULL,
    'a breaking change published as a minor version: PL001');
SELECT is(
    (SELECT d #>> '{errors,0,code}' || ' ' || (d #>> '{breaking_changes,0,code}') || ' ' || (d ->> 'latest_version')
     FROM pg_temp.detail_of($$SELECT pliers.publish_form(pg_temp.id('f3'), '1.1.1')$$) AS d),
    'major_version_required choice_removed 1.1.0',
    'PL001 code major_version_required, with the breaking changes and the latest version'
);
SELECT is((SELECT status::text FROM pliers.forms WHERE id = pg_temp.id('f3')), 'draft',
    'the refused publication left a draft');
SELECT lives_ok($$SELECT pliers.publish_form(pg_temp.id('f3'), '2.0.0')$$, 'the breaking change as 2.0.0 is accepted');
SELECT is(
    (SELECT array_agg(version::text || CASE WHEN is_latest THEN '*' ELSE '' END ORDER BY version)
     FROM pliers.forms WHERE slug = 'intake'),
    ARRAY['1.0.0', '1.1.0', '2.0.0*'],
    'three published versions, 2.0.0 the only latest'
);
SELECT is(
    (SELECT jsonb_array_length(payload -> 'breaking_changes') FROM pliers.events
     WHERE aggregate_id = pg_temp.id('f3') AND event_type = 'form.published'),
    1,
    'form.published records the breaking changes it was allowed'
);

-- deprecate_form, archive_form --------------------------------------------------------------------

SELECT throws_ok($$SELECT pliers.deprecate_form(pg_temp.id('f1'), 1)$$, 'PL003', NULL,
    'deprecate_form with a stale revision: PL003');
SELECT lives_ok($$SELECT pliers.deprecate_form(pg_temp.id('f1'))$$, 'deprecate_form deprecates 1.0.0');
SELECT results_eq(
    $$SELECT status::text, deprecated_at IS NOT NULL FROM pliers.forms WHERE id = pg_temp.id('f1')$$,
    $$VALUES ('deprecated', TRUE)$$,
    'deprecated, with deprecated_at'
);
SELECT throws_ok($$SELECT pliers.deprecate_form(pg_temp.id('f1'))$$, 'PL004', NULL,
    'deprecating a deprecated version: PL004');
SELECT lives_ok($$SELECT pliers.archive_form(pg_temp.id('f1'))$$, 'archive_form archives the deprecated version');
SELECT throws_ok($$SELECT pliers.archive_form(pg_temp.id('f1'))$$, 'PL004', NULL,
    'archiving an archived version: PL004');
SELECT is(
    (pg_temp.events_of(pg_temp.id('f1')))[6:7],
    ARRAY['form.deprecated@6', 'form.archived@7'],
    'form.deprecated@6 and form.archived@7'
);
SELECT is(
    (SELECT payload ->> 'from' FROM pliers.events WHERE aggregate_id = pg_temp.id('f1') AND aggregate_version = 7),
    'deprecated',
    'form.archived records where it came from'
);
SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers.archive_form(pg_temp.id('f2'))$$, 'PL006', NULL,
    'archive_form by a form editor: PL006');

-- clone_form, quota, delete_form ------------------------------------------------------------------

SELECT lives_ok($$SELECT pg_temp.keep('c1', (pliers.clone_form(pg_temp.id('f3'), 'intake-copy')).id)$$,
    'clone_form copies a version into a new form');
SELECT results_eq(
    $$SELECT slug::text, version::text, status::text, is_latest, parent_id, definition = pg_temp.def('breaking'),
             metadata #>> '{cloned_from,version}'
      FROM pliers.forms WHERE id = pg_temp.id('c1')$$,
    $$VALUES ('intake-copy', '1.0.0', 'draft', TRUE, NULL::uuid, TRUE, '2.0.0')$$,
    'the clone: a new slug, a draft 1.0.0, latest, the source''s definition, metadata.cloned_from'
);
SELECT is(pg_temp.events_of(pg_temp.id('c1')), ARRAY['form.cloned@1'], 'clone_form appends form.cloned@1');
SELECT throws_ok($$SELECT pliers.clone_form(pg_temp.id('f3'), 'intake')$$, 'PL003', NULL,
    'cloning to a slug in use: PL003');
SELECT throws_ok($$SELECT pliers.clone_form(pg_temp.id('f3'), 'Not A Slug')$$, 'PL001', NULL,
    'cloning to an invalid slug: PL001');
SELECT throws_ok($$SELECT pliers.clone_form(gen_random_uuid(), 'x')$$, 'PL002', NULL,
    'cloning an unknown form: PL002');

-- max_forms = 3: intake and intake-copy exist; a third is allowed, a fourth is not.
SELECT lives_ok($$SELECT pg_temp.keep('q3', (pliers.create_form('Third', 'third', pg_temp.def('v1'))).id)$$,
    'the third form is within max_forms');
SELECT throws_ok($$SELECT pliers.create_form('Fourth', 'fourth', pg_temp.def('v1'))$$, 'PL007', NULL,
    'a fourth form: PL007');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.create_form('Fourth', 'fourth', pg_temp.def('v1'))$$),
    '{"limit": "max_forms", "value": 3, "current": 3, "adding": 1}'::jsonb,
    'PL007 names the limit, its value and the current usage'
);
SELECT throws_ok($$SELECT pliers.clone_form(pg_temp.id('f3'), 'fourth')$$, 'PL007', NULL,
    'clone_form counts against max_forms too');

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000004');
SELECT throws_ok($$SELECT pliers.delete_form(pg_temp.id('q3'))$$, 'PL006', NULL, 'delete_form by a viewer: PL006');
SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.delete_form(pg_temp.id('f3'))$$, 'PL005', NULL,
    'deleting a published version: PL005');
SELECT lives_ok($$SELECT pliers.delete_form(pg_temp.id('q3'))$$, 'delete_form discards a draft');
SELECT is(pg_temp.events_of(pg_temp.id('q3')), ARRAY['form.created@1', 'form.deleted@2'],
    'delete_form appends form.deleted@2');
SELECT throws_ok($$SELECT pliers.delete_form(pg_temp.id('q3'))$$, 'PL002', NULL,
    'a deleted form is not found: PL002');
SELECT lives_ok($$SELECT pliers.create_form('Third again', 'third', pg_temp.def('v1'))$$,
    'deleting the draft freed its slug and its place in max_forms');
SELECT throws_ok($$SELECT pliers.archive_form((SELECT id FROM pliers.forms WHERE slug = 'third' AND deleted_at IS NULL))$$,
    'PL004', NULL, 'archiving a draft: PL004 (drafts are deleted)');

-- An archived latest version does not count: archive 2.0.0 of intake, then a new form fits.
SELECT lives_ok($$SELECT pliers.archive_form(pg_temp.id('f3'))$$, 'archive the latest version of intake');
SELECT lives_ok($$SELECT pliers.create_form('Fourth', 'fourth', pg_temp.def('v1'))$$,
    'an archived form no longer counts against max_forms');

-- A draft with a version inherits nothing from another tenant ------------------------------------

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000b', '45000002-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.create_form_version(pg_temp.id('f2'))$$, 'PL002', NULL,
    'another tenant''s form is not found: PL002');
SELECT lives_ok($$SELECT pliers.create_form('Intake of B', 'intake', pg_temp.def('v1'))$$,
    'slugs are per tenant: B may use intake');
SELECT is(
    (SELECT count(*)::integer FROM pliers.forms WHERE slug = 'intake'), 1,
    'B sees only its own intake'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.events WHERE aggregate_type = 'form'), 1,
    'B sees only its own form events'
);

-- Events of tenant A: one per change, versions without gaps --------------------------------------

SELECT pliers.set_context('45000000-0000-0000-0000-00000000000a', '45000001-0000-0000-0000-000000000001');
SELECT is(
    (SELECT count(*)::integer
     FROM pliers.forms AS f
     WHERE f.revision <> (SELECT max(e.aggregate_version) FROM pliers.events AS e WHERE e.aggregate_id = f.id)),
    0,
    'every form''s revision is the aggregate_version of its last event'
);
SELECT is(
    (SELECT count(*)::integer
     FROM (SELECT e.aggregate_id, count(*) AS n, max(e.aggregate_version) AS v
           FROM pliers.events AS e WHERE e.aggregate_type = 'form' GROUP BY e.aggregate_id) AS x
     WHERE x.n <> x.v),
    0,
    'each form has one event per revision'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.events AS e
     WHERE e.aggregate_type = 'form' AND e.user_id IS NULL),
    0,
    'form events record the acting user'
);

SELECT * FROM finish();
ROLLBACK;
