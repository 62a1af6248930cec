-- Choice lists and data sets (sql/44-choice-lists.sql): the tables' constraints, the
-- privileges and row-level security as pliers_app, the API's errors and SQLSTATEs,
-- versions and events, and the two checks the form and submission API call. Data is
-- seeded as superuser; every API call runs as pliers_app after pliers.set_context.
BEGIN;
SELECT plan(58);

-- Data, as superuser ---------------------------------------------------------------------
-- Organization A: a1 org_owner, a2 member. Organization B: b1 org_owner.
INSERT INTO pliers.organizations (id, slug, name) VALUES
('44000000-0000-0000-0000-00000000000a', 't44-a', 'Lists A'),
('44000000-0000-0000-0000-00000000000b', 't44-b', 'Lists B');

INSERT INTO pliers.users (organization_id, id, email, roles) VALUES
('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000001', 'a1@t44.example', '{org_owner}'),
('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000002', 'a2@t44.example', '{member}'),
('44000000-0000-0000-0000-00000000000b', '44000002-0000-0000-0000-000000000001', 'b1@t44.example', '{org_owner}');

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

-- The (path, code) pairs of a PL001's errors.
CREATE FUNCTION pg_temp.errors_of(p_statement text)
RETURNS text[]
LANGUAGE sql
AS $$
    SELECT array_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY n)
    FROM jsonb_array_elements(pg_temp.detail_of(p_statement) -> 'errors') WITH ORDINALITY AS x (e, n)
$$;

GRANT EXECUTE ON FUNCTION pg_temp.detail_of(text), pg_temp.errors_of(text) TO pliers_app;

-- The catalog --------------------------------------------------------------------------------

SELECT has_table('pliers', 'choice_lists', 'table pliers.choice_lists');
SELECT has_table('pliers', 'choice_list_items', 'table pliers.choice_list_items');
SELECT col_is_pk('pliers', 'choice_list_items', ARRAY['organization_id', 'list_id', 'code'],
    'the items are keyed by (organization_id, list_id, code)');
SELECT ok(
    (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = 'pliers.choice_lists'::regclass)
    AND (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = 'pliers.choice_list_items'::regclass),
    'row-level security is enabled on both tables'
);
SELECT ok(
    has_table_privilege('pliers_app', 'pliers.choice_lists', 'SELECT')
    AND NOT has_table_privilege('pliers_app', 'pliers.choice_lists', 'INSERT, UPDATE, DELETE')
    AND has_table_privilege('pliers_app', 'pliers.choice_list_items', 'SELECT')
    AND NOT has_table_privilege('pliers_app', 'pliers.choice_list_items', 'INSERT, UPDATE, DELETE'),
    'pliers_app reads the tables and writes them through the API only'
);
SELECT is(
    (SELECT array_agg(p.proname::text ORDER BY p.proname)
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace AND has_function_privilege('pliers_app', p.oid, 'EXECUTE')
       AND p.proname ~ 'choice_list'),
    ARRAY['choice_list_limits', 'create_choice_list', 'delete_choice_list', 'get_choice_list', 'list_choice_lists',
          'replace_choice_list_items'],
    'pliers_app may execute the choice list API'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('create_choice_list', 'replace_choice_list_items', 'delete_choice_list',
                         'get_choice_list', 'list_choice_lists')
       AND p.prosecdef AND p.proconfig = ARRAY['search_path=""']
       AND obj_description(p.oid, 'pg_proc') IS NOT NULL),
    5,
    'the API functions are SECURITY DEFINER, pin search_path to '''' and are documented'
);
SELECT is(
    (SELECT count(*)::integer
     FROM pg_catalog.pg_proc AS p
     WHERE p.pronamespace = 'pliers'::regnamespace
       AND p.proname IN ('_check_list_references', '_check_list_answers', '_check_choice_list_items',
                         '_list_fields', '_list_answers', '_lock_choice_list', '_insert_choice_list_items')
       AND (has_function_privilege('pliers_app', p.oid, 'EXECUTE')
            OR has_function_privilege('public', p.oid, 'EXECUTE'))),
    0,
    'the private helpers are not executable by pliers_app nor PUBLIC'
);

-- Constraints, as superuser ------------------------------------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.choice_lists (organization_id, name) VALUES ('44000000-0000-0000-0000-00000000000a', 'Bad')$$,
    '23514', NULL, 'a list name is lower case (choice_lists_name_format)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.choice_lists (organization_id, name, kind)
      VALUES ('44000000-0000-0000-0000-00000000000a', 'k', 'table')$$,
    '23514', NULL, 'the kind is list or dataset (choice_lists_kind)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.choice_list_items (organization_id, list_id, code, label, position)
      VALUES ('44000000-0000-0000-0000-00000000000a', gen_random_uuid(), 'x', '"X"', 1)$$,
    '23503', NULL, 'an item belongs to a list of its organization (choice_list_items_list_id_fkey)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.choice_lists (organization_id, name, created_by)
      VALUES ('44000000-0000-0000-0000-00000000000a', 'k', '44000002-0000-0000-0000-000000000001')$$,
    '23503', NULL, 'the author of a list is a user of its organization (choice_lists_created_by_fkey)'
);

-- No context, no permission -----------------------------------------------------------------

SET LOCAL ROLE pliers_app;

SELECT throws_ok($$SELECT pliers.create_choice_list('x', NULL, '[]')$$, 'PL008', NULL,
    'create_choice_list without a context: PL008');
SELECT throws_ok($$SELECT pliers.list_choice_lists()$$, 'PL008', NULL,
    'list_choice_lists without a context: PL008');
SELECT is((SELECT count(*)::integer FROM pliers.choice_lists), 0, 'without a context no list is visible');

SELECT pliers.set_context('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000002');
SELECT throws_ok($$SELECT pliers.create_choice_list('x', NULL, '[]')$$, 'PL006', NULL,
    'a member may not create a list (form.edit): PL006');

-- create_choice_list ----------------------------------------------------------------------------

SELECT pliers.set_context('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000001');
SELECT is(
    (SELECT row(l.name, l.kind, l.item_count, l.version, l.columns)::text
     FROM pliers.create_choice_list(
         'districts', 'Districts',
         '[{"code": "n", "label": {"en": "North", "fr": "Nord"}, "attributes": {"region": "r1", "size": 3}},
           {"code": "s", "label": "South", "attributes": {"region": "r2"}}]'
     ) AS l),
    '(districts,list,2,1,"{region,size}")',
    'create_choice_list returns the row: version 1, item_count, the columns of the items'
);
SELECT results_eq(
    $$SELECT code, label, attributes, position FROM pliers.choice_list_items ORDER BY position$$,
    $$VALUES ('n', '{"en": "North", "fr": "Nord"}'::jsonb, '{"region": "r1", "size": 3}'::jsonb, 1),
             ('s', '"South"'::jsonb, '{"region": "r2"}'::jsonb, 2)$$,
    'the items are stored in order, readable by pliers_app under RLS'
);
SELECT throws_ok($$SELECT pliers.create_choice_list('districts', NULL, '[]')$$, 'PL003', NULL,
    'a live list has the name: PL003');
SELECT is(pg_temp.detail_of($$SELECT pliers.create_choice_list('districts', NULL, '[]')$$),
    '{"object": "choice_list", "name": "districts"}', 'PL003 names the list');
SELECT throws_ok($$SELECT pliers.create_choice_list('bad', NULL, '[{"code": 1}]')$$, 'PL001', NULL,
    'an invalid item: PL001');
SELECT is(
    pg_temp.errors_of($$SELECT pliers.create_choice_list('Bad', NULL,
        '[{"code": "a", "label": "A"}, {"code": "a", "label": []}, 3, {"code": "b", "label": "B", "attributes": {"x": [1]}}]')$$),
    ARRAY['name invalid_name', '$.items[1].code duplicate_code', '$.items[1].label invalid_type',
          '$.items[2] invalid_type', '$.items[3].attributes.x invalid_type'],
    'every error at once, each with its path'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers.create_choice_list('big', NULL,
        (SELECT jsonb_agg(jsonb_build_object('code', i::text, 'label', 'x')) FROM generate_series(1, 10001) AS i))$$),
    ARRAY['$.items too_many_items'],
    'a list has at most form_limits() choices items'
);
SELECT is(
    (SELECT item_count FROM pliers.create_choice_list('big', NULL,
        (SELECT jsonb_agg(jsonb_build_object('code', i::text, 'label', 'x')) FROM generate_series(1, 10001) AS i),
        'dataset')),
    10001,
    'a data set may hold more (choice_list_limits() dataset_items)'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers.create_choice_list('cols', NULL, '[{"code": "a", "label": "A", "attributes": {"z": 1}}]',
        'dataset', NULL, ARRAY['y', 'code'])$$),
    ARRAY['columns invalid', '$.items[0].attributes.z unknown_attribute'],
    'a data set''s columns: not code or label; the attributes of its items among them'
);

-- replace_choice_list_items ---------------------------------------------------------------------

SELECT throws_ok($$SELECT pliers.replace_choice_list_items('districts', '[]', NULL)$$, 'PL001', NULL,
    'replace without expected_version: PL001');
SELECT throws_ok($$SELECT pliers.replace_choice_list_items('districts', '[]', 7)$$, 'PL003', NULL,
    'replace with a stale version: PL003');
SELECT throws_ok($$SELECT pliers.replace_choice_list_items('nope', '[]', 1)$$, 'PL002', NULL,
    'replace an unknown list: PL002');
SELECT is(
    (SELECT row(l.item_count, l.version, l.columns)::text
     FROM pliers.replace_choice_list_items('districts', '[{"code": "e", "label": "East"}]', 1) AS l),
    '(1,2,{})',
    'replace: the items, the version and the columns change'
);
SELECT is((SELECT array_agg(code) FROM pliers.choice_list_items AS i
           JOIN pliers.choice_lists AS l ON l.organization_id = i.organization_id AND l.id = i.list_id
           WHERE l.name = 'districts'), ARRAY['e'], 'the old items are gone');

-- get and list --------------------------------------------------------------------------------

SELECT is((SELECT items FROM pliers.get_choice_list('districts')), '[{"code": "e", "label": "East", "attributes": {}}]',
    'get_choice_list returns the items in order');
SELECT is((SELECT jsonb_array_length(items) FROM pliers.get_choice_list('big', 10000, 5)), 1,
    'get_choice_list pages the items');
SELECT throws_ok($$SELECT * FROM pliers.get_choice_list('big', 0, 10001)$$, 'PL001', NULL,
    'a page has at most 10,000 items');
SELECT is((SELECT array_agg(name ORDER BY name) FROM pliers.list_choice_lists()), ARRAY['big', 'districts'],
    'list_choice_lists: the live lists by name');

-- The checks the form API calls ------------------------------------------------------------

RESET ROLE;
SELECT is(
    (SELECT array_agg((e ->> 'path') || ' ' || (e ->> 'code'))
     FROM unnest(pliers._check_list_references('44000000-0000-0000-0000-00000000000a',
         '{"fields": [{"type": "single_choice", "name": "d", "choiceList": "districts"},
                      {"type": "group", "name": "g", "fields": [
                          {"type": "multiple_choice", "name": "m", "choiceList": "streets"}]}]}')) AS e),
    ARRAY['$.fields[1].fields[0].choiceList unknown_choice_list'],
    '_check_list_references: each field naming a list the tenant does not have'
);
SELECT is(
    cardinality(pliers._check_list_references('44000000-0000-0000-0000-00000000000b',
        '{"fields": [{"type": "single_choice", "name": "d", "choiceList": "districts"}]}')),
    1,
    '_check_list_references: another tenant''s list is unknown'
);
SELECT is(
    (SELECT array_agg((e ->> 'path') || ' ' || (e ->> 'code'))
     FROM unnest(pliers._check_list_answers('44000000-0000-0000-0000-00000000000a',
         '{"fields": [{"type": "single_choice", "name": "d", "choiceList": "districts"},
                      {"type": "repeat", "name": "r", "fields": [
                          {"type": "ranking", "name": "k", "choiceList": "districts"}]}]}',
         '{"d": "e", "r": [{"k": ["e"]}, {"k": ["w", "e"]}]}')) AS e),
    ARRAY['$.data.r[1].k[0] invalid_choice'],
    '_check_list_answers: each code not in the list, at its path'
);
SELECT is(
    pliers._check_list_answers('44000000-0000-0000-0000-00000000000a', '{"fields": []}', '{"x": 1}'),
    '{}'::jsonb[],
    '_check_list_answers: nothing to check without a field naming a list'
);

-- delete_choice_list, in use -----------------------------------------------------------------

INSERT INTO pliers.forms (organization_id, id, name, slug, definition) VALUES
('44000000-0000-0000-0000-00000000000a', '44000004-0000-0000-0000-000000000001', 'F', 't44-f',
 '{"fields": [{"type": "single_choice", "name": "d", "choiceList": "districts"}]}');
SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000001');
SELECT throws_ok($$SELECT pliers.delete_choice_list('districts')$$, 'PL003', NULL,
    'a list named by a draft is not deleted: PL003');
SELECT is(
    pg_temp.detail_of($$SELECT pliers.delete_choice_list('districts')$$) -> 'forms' -> 0 ->> 'slug',
    't44-f',
    'PL003 lists the form versions that name it'
);
SELECT is((SELECT version FROM pliers.delete_choice_list('big')), 2, 'a list no form names is deleted');
SELECT is((SELECT array_agg(name) FROM pliers.list_choice_lists()), ARRAY['districts'], 'a deleted list is not listed');
SELECT throws_ok($$SELECT * FROM pliers.get_choice_list('big')$$, 'PL002', NULL, 'a deleted list is not found');

-- Tenant isolation as pliers_app ---------------------------------------------------------------

SELECT pliers.set_context('44000000-0000-0000-0000-00000000000b', '44000002-0000-0000-0000-000000000001');
SELECT is((SELECT count(*)::integer FROM pliers.choice_lists), 0, 'another tenant sees no list of A');
SELECT is((SELECT count(*)::integer FROM pliers.choice_list_items), 0, 'another tenant sees no item of A');
SELECT throws_ok($$SELECT * FROM pliers.get_choice_list('districts')$$, 'PL002', NULL,
    'another tenant cannot read A''s list through the API');

-- Events ----------------------------------------------------------------------------------------

RESET ROLE;
SELECT results_eq(
    $$SELECT e.event_type, e.aggregate_type::text, e.aggregate_version FROM pliers.events AS e
      JOIN pliers.choice_lists AS l ON l.organization_id = e.organization_id AND l.id = e.aggregate_id
      WHERE l.name = 'districts' ORDER BY e.aggregate_version$$,
    $$VALUES ('choice_list.created'::varchar, 'organization', 1), ('choice_list.items_replaced'::varchar, 'organization', 2)$$,
    'each change appends an event at the list''s version (aggregate_type organization)'
);

-- The rules of items that only some items are taken apart for -----------------------------------

-- Labels sharing the languages of the first item's label, and items large enough to
-- break a length or count rule (the others are not looked into).
SELECT is(
    pg_temp.errors_of($$SELECT pliers._assert_valid_choice_list('x', NULL, NULL, 'dataset', NULL, (
        SELECT jsonb_build_array(
            '{"code": "a", "label": {"en": "A", "fr": "A"}}'::jsonb,
            '{"code": "b", "label": {"en": "B", "f r": "B"}}'::jsonb,
            '{"code": "c", "label": {"en": 3}}'::jsonb,
            '{"code": "d", "label": {}}'::jsonb,
            jsonb_build_object('code', 'e', 'label', 'E', 'attributes', (
                SELECT jsonb_object_agg('a' || i, i) FROM generate_series(1, 101) AS i)),
            jsonb_build_object('code', 'f', 'label', jsonb_build_object('en', repeat('x', 2001))),
            jsonb_build_object('code', 'g', 'label', 'G', 'attributes', jsonb_build_object('a', repeat('é', 2000))),
            '{"code": "h", "label": "H", "attributes": {"a": null}}'::jsonb,
            '{"code": "a", "label": "again"}'::jsonb
        )))$$),
    ARRAY['$.items[1].label invalid_type', '$.items[2].label invalid_type', '$.items[3].label invalid_type',
          '$.items[4].attributes too_many_attributes',
          '$.items[5].label too_long', '$.items[7].attributes.a invalid_type', '$.items[8].code duplicate_code'],
    'items: a label key that is no tag among shared ones, a label value not a string, an empty label, too many '
    'attributes, a long text (2,000 characters of two bytes are not), a null attribute, a repeated code'
);
SELECT is(
    pg_temp.errors_of($$SELECT pliers._assert_valid_choice_list('x', NULL, NULL, 'list', NULL,
        '[{"code": "a", "label": {"e n": "A"}}, {"code": "b", "label": {"e n": "B", "en": "B"}}, "x"]')$$),
    ARRAY['$.items[0].label invalid_type', '$.items[1].label invalid_type', '$.items[2] invalid_type'],
    'items: the first item''s label keys are matched too'
);

-- Audit: the API's writes are in the list's events, other writes are audited ----------------------

SELECT is(
    (SELECT count(*)::integer FROM pliers.audit_logs
     WHERE organization_id = '44000000-0000-0000-0000-00000000000a'
       AND resource_type IN ('choice_lists', 'choice_list_items')),
    0,
    'the API''s writes of lists and items are not audited (their events record them)'
);
UPDATE pliers.choice_list_items SET label = '"Est"'
WHERE organization_id = '44000000-0000-0000-0000-00000000000a' AND code = 'e';
SELECT results_eq(
    $$SELECT resource_type, action::text, diff -> 'label' FROM pliers.audit_logs
      WHERE organization_id = '44000000-0000-0000-0000-00000000000a'
        AND resource_type IN ('choice_lists', 'choice_list_items')$$,
    $$VALUES ('choice_list_items'::varchar, 'update', '{"old": "East", "new": "Est"}'::jsonb)$$,
    'a write made outside the API is audited'
);

-- purge_deleted: lists deleted long enough ago go, with their items ---------------------------------

SET LOCAL ROLE pliers_app;
SELECT pliers.set_context('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000001');
SELECT is((SELECT version FROM pliers.delete_choice_list(l.name)), 2, 'a list deleted now')
FROM pliers.create_choice_list('recent', NULL, '[{"code": "r", "label": "R"}]') AS l;
SELECT is((SELECT item_count FROM pliers.create_choice_list('big', NULL, '[{"code": "b", "label": "B"}]')), 1,
    'a live list takes the name of the deleted one');
RESET ROLE;
CREATE TEMPORARY TABLE big_deleted AS
SELECT id FROM pliers.choice_lists
WHERE organization_id = '44000000-0000-0000-0000-00000000000a' AND name = 'big' AND deleted_at IS NOT NULL;
UPDATE pliers.choice_lists SET deleted_at = now() - INTERVAL '100 days' WHERE id = (SELECT id FROM big_deleted);
-- A user deleted long ago whom only a list names (written here, without the API's event).
INSERT INTO pliers.users (organization_id, id, email, status, deleted_at) VALUES
('44000000-0000-0000-0000-00000000000a', '44000001-0000-0000-0000-000000000003', 'a3@t44.example', 'deleted',
 now() - INTERVAL '100 days');
INSERT INTO pliers.choice_lists (organization_id, name, created_by) VALUES
('44000000-0000-0000-0000-00000000000a', 'by-a3', '44000001-0000-0000-0000-000000000003');
CREATE TEMPORARY TABLE purged_lists AS SELECT * FROM pliers.purge_deleted();
SELECT ok(
    (SELECT rows_purged >= 1 FROM purged_lists WHERE table_name = 'pliers.choice_lists'),
    'purge_deleted reports the choice lists it purged'
);
SELECT results_eq(
    $$SELECT name, deleted_at IS NULL, item_count FROM pliers.choice_lists
      WHERE organization_id = '44000000-0000-0000-0000-00000000000a' ORDER BY name$$,
    $$VALUES ('big'::text, TRUE, 1), ('by-a3', TRUE, 0), ('districts', TRUE, 1), ('recent', FALSE, 1)$$,
    'the list deleted 100 days ago goes; the recently deleted one, the live ones (one of the same name) stay'
);
SELECT ok(
    EXISTS (SELECT FROM pliers.users WHERE id = '44000001-0000-0000-0000-000000000003'),
    'a deleted user whom a list names stays (choice_lists_created_by_fkey, NO ACTION)'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.choice_list_items WHERE list_id = (SELECT id FROM big_deleted)), 0,
    'its 10,001 items went with it'
);
SELECT results_eq(
    $$SELECT resource_type, count(*)::integer, min(metadata ->> 'reason') FROM pliers.audit_logs
      WHERE organization_id = '44000000-0000-0000-0000-00000000000a' AND action = 'delete'
        AND resource_type IN ('choice_lists', 'choice_list_items')
      GROUP BY resource_type$$,
    $$VALUES ('choice_lists'::varchar, 1, 'purge_deleted')$$,
    'the purge is audited once, by the list''s row: its items (a cascade, as the owner) are not, one by one'
);

SELECT * FROM finish();
ROLLBACK;
