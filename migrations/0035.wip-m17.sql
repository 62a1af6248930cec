-- WIP (Helper M, issue 17): the lead replaces this with the real migration.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/44-choice-lists.sql

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._is_translatable_text(jsonb);

CREATE FUNCTION pliers._is_translatable_text(p_value jsonb, p_tags text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE pg_catalog.jsonb_typeof(p_value)
        WHEN 'string' THEN TRUE
        WHEN 'object' THEN p_value <> '{}'::jsonb
            AND NOT pg_catalog.jsonb_path_exists(p_value, 'strict $.* ? (@.type() != "string")')
            -- Only the keys not known to be tags are matched (a regex per key is the cost).
            AND (p_value - p_tags = '{}'::jsonb OR NOT pg_catalog.jsonb_path_exists(
                p_value - p_tags, 'strict $.keyvalue() ? (!(@.key like_regex "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"))'
            ))
        ELSE FALSE
    END
$$;

COMMENT ON FUNCTION pliers._is_translatable_text(jsonb, text[]) IS
'Private: TRUE when p_value is a translatable text of a list item: a string, or a non-empty object whose keys are '
'BCP 47 tags (^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$) and whose values are strings. p_tags: keys already known to be '
'such tags (not matched again; ''{}'' for none): a data set''s labels share a few languages.';

REVOKE ALL ON FUNCTION pliers._is_translatable_text(jsonb, text[]) FROM public;

CREATE OR REPLACE FUNCTION pliers._check_choice_list_items(
    p_items jsonb,
    p_kind text,
    p_columns text[],
    OUT errors jsonb,
    OUT error_count integer
)
LANGUAGE plpgsql
STABLE
SET search_path = ''
-- Its one query is planned once a session: a custom plan of its ten branches took about
-- 2 ms a call (most of checking a short list), and the items' row estimate is the same.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_limits constant jsonb := pliers.choice_list_limits();
    v_max_items constant integer := (v_limits ->> CASE p_kind WHEN 'dataset' THEN 'dataset_items' ELSE 'list_items' END)::integer;
    v_code_chars constant integer := (v_limits ->> 'code_chars')::integer;
    v_text_chars constant integer := (v_limits ->> 'text_chars')::integer;
    v_max_errors constant integer := (v_limits ->> 'errors')::integer;
    v_max_attributes constant integer := (v_limits ->> 'attributes')::integer;
    -- Stored bytes under which an item can hold neither a text over text_chars nor more
    -- than max_attributes attributes (an object spends 8 bytes of entries on each).
    v_small constant integer := least(v_text_chars, 8 * v_max_attributes);
    v_tags text[];
BEGIN
    errors := '[]';
    error_count := 0;
    IF p_items IS NULL THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error('$.items', 'required', 'the items are required'));
        error_count := 1;
        RETURN;
    END IF;
    -- Bounded before it is walked (its stored size: no JSON text is made of it).
    IF pg_catalog.pg_column_size(p_items) > (v_limits ->> 'items_bytes')::integer THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            '$.items', 'items_too_large', pg_catalog.format('larger than %s bytes', v_limits ->> 'items_bytes')
        ));
        error_count := 1;
        RETURN;
    END IF;
    IF pg_catalog.jsonb_typeof(p_items) <> 'array' THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error('$.items', 'invalid_type', 'must be an array of items'));
        error_count := 1;
        RETURN;
    END IF;
    IF pg_catalog.jsonb_array_length(p_items) > v_max_items THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            '$.items', 'too_many_items', pg_catalog.format('a %s has at most %s items', p_kind, v_max_items)
        ));
        error_count := 1;
        RETURN;
    END IF;

    -- The languages of the first item's label, when they are tags: a data set's labels
    -- share them (a CSV's label::<language> columns), and each is then matched once, not
    -- once per item.
    SELECT pg_catalog.array_agg(k.key) INTO v_tags
    FROM pg_catalog.jsonb_object_keys(CASE
        WHEN pg_catalog.jsonb_typeof(p_items -> 0 -> 'label') = 'object' THEN p_items -> 0 -> 'label' ELSE '{}'
    END) AS k (key)
    WHERE pliers._is_translatable_text(pg_catalog.jsonb_build_object(k.key, ''), '{}');

    -- What is cheap to know of every item: the rules below take apart only the items
    -- that may break them (in most data sets, none).
    WITH item AS (
        SELECT
            e.value AS item,
            e.n - 1 AS i,
            '$.items[' || (e.n - 1) || ']' AS path,
            pg_catalog.jsonb_typeof(e.value) AS type,
            pliers._is_translatable_text(e.value -> 'label', coalesce(v_tags, '{}')) AS label_ok,
            e.value ->> 'code' AS code,
            -- Its stored size bounds its texts' length and its number of attributes.
            pg_catalog.pg_column_size(e.value) > v_small AS big,
            CASE WHEN pg_catalog.jsonb_typeof(e.value) = 'object'
                THEN e.value - '{code,label,attributes}'::text[] <> '{}'::jsonb
            END AS other_keys,
            pg_catalog.jsonb_typeof(e.value -> 'code') = 'string'
            AND pg_catalog.btrim(e.value ->> 'code') <> ''
            AND pg_catalog.char_length(e.value ->> 'code') <= v_code_chars AS code_ok,
            pg_catalog.jsonb_typeof(e.value -> 'attributes') AS attributes_type,
            -- Attributes that may break a rule: taken apart below.
            CASE WHEN pg_catalog.jsonb_typeof(e.value -> 'attributes') = 'object' THEN
                pg_catalog.pg_column_size(e.value) > v_small
                OR (p_columns IS NOT NULL AND (e.value -> 'attributes') - p_columns <> '{}'::jsonb)
                OR pg_catalog.jsonb_path_exists(
                    e.value -> 'attributes',
                    'strict $.* ? (@.type() != "string" && @.type() != "number" && @.type() != "boolean")', '{}', TRUE
                )
                ELSE FALSE
            END AS attributes_doubtful
        FROM pg_catalog.jsonb_array_elements(p_items) WITH ORDINALITY AS e (value, n)
    ),
    -- Codes used more than once (hashed: no sort of every item).
    repeated AS (
        SELECT t.code FROM item AS t WHERE t.code_ok GROUP BY t.code HAVING pg_catalog.count(*) > 1
    ),
    found AS (
        -- Not an object: nothing else is said of it.
        SELECT
            t.i, 0 AS k, NULL::text AS key,
            pliers._form_error(t.path, 'invalid_type', 'an item is an object {code, label, attributes?}') AS error
        FROM item AS t
        WHERE t.type <> 'object'
        UNION ALL
        SELECT t.i, 1, x.key, pliers._form_error(
            t.path || '.' || pliers._json_path_key(x.key), 'unknown_property', 'an item has code, label and attributes only'
        )
        FROM item AS t
        CROSS JOIN LATERAL pg_catalog.jsonb_object_keys(CASE WHEN t.other_keys THEN t.item ELSE '{}' END) AS x (key)
        -- Only the items that have other keys are taken apart.
        WHERE t.other_keys AND x.key NOT IN ('code', 'label', 'attributes')
        UNION ALL
        SELECT t.i, 2, NULL, CASE
            WHEN NOT t.item ? 'code' THEN pliers._form_error(t.path || '.code', 'required', 'the code is required')
            WHEN pg_catalog.jsonb_typeof(t.item -> 'code') <> 'string' THEN
                pliers._form_error(t.path || '.code', 'invalid_type', 'the code is a string')
            WHEN pg_catalog.btrim(t.item ->> 'code') = '' THEN
                pliers._form_error(t.path || '.code', 'blank_code', 'the code may not be blank')
            ELSE pliers._form_error(
                t.path || '.code', 'too_long', pg_catalog.format('a code is at most %s characters', v_code_chars)
            )
        END
        FROM item AS t
        WHERE t.type = 'object' AND NOT coalesce(t.code_ok, FALSE)
        UNION ALL
        -- A valid code used by an earlier item.
        SELECT d.i, 2, NULL, pliers._form_error(
            d.path || '.code', 'duplicate_code', pg_catalog.format('the code %s is already used by an earlier item', d.item -> 'code')
        )
        FROM (
            SELECT t.i, t.path, t.item, pg_catalog.row_number() OVER (PARTITION BY t.code ORDER BY t.i) AS nth
            FROM item AS t
            WHERE t.code_ok AND t.code IN (SELECT r.code FROM repeated AS r)
        ) AS d
        WHERE d.nth > 1
        UNION ALL
        SELECT t.i, 3, NULL, CASE
            WHEN NOT t.item ? 'label' THEN pliers._form_error(t.path || '.label', 'required', 'the label is required')
            ELSE pliers._form_error(
                t.path || '.label', 'invalid_type',
                'a label is a string or an object language tag -> string (e.g. {"en": "Yes", "fr": "Oui"})'
            )
        END
        FROM item AS t
        WHERE t.type = 'object' AND NOT coalesce(t.label_ok, FALSE)
        UNION ALL
        SELECT t.i, 4, NULL, pliers._form_error(
            t.path || '.label', 'too_long', pg_catalog.format('a label text is at most %s characters', v_text_chars)
        )
        FROM item AS t
        -- Only big items are looked into.
        WHERE t.label_ok AND t.big AND EXISTS (
            SELECT FROM pg_catalog.jsonb_path_query(t.item -> 'label', 'strict $.**') AS s (value)
            WHERE pg_catalog.jsonb_typeof(s.value) = 'string' AND pg_catalog.char_length(s.value #>> '{}') > v_text_chars
        )
        UNION ALL
        SELECT t.i, 5, NULL, pliers._form_error(
            t.path || '.attributes', 'invalid_type', 'attributes is an object of strings, numbers and booleans'
        )
        FROM item AS t
        WHERE t.attributes_type <> 'object'
        UNION ALL
        SELECT t.i, 6, NULL, pliers._form_error(
            t.path || '.attributes', 'too_many_attributes',
            pg_catalog.format('an item has at most %s attributes', v_limits ->> 'attributes')
        )
        FROM item AS t
        WHERE t.attributes_doubtful
            AND (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(t.item -> 'attributes'))
            > (v_limits ->> 'attributes')::integer
        UNION ALL
        SELECT t.i, 7, a.key, CASE
            WHEN pg_catalog.jsonb_typeof(a.value) NOT IN ('string', 'number', 'boolean') THEN pliers._form_error(
                t.path || '.attributes.' || pliers._json_path_key(a.key), 'invalid_type',
                'an attribute is a string, a number or a boolean'
            )
            WHEN p_columns IS NOT NULL AND a.key <> ALL(p_columns) THEN pliers._form_error(
                t.path || '.attributes.' || pliers._json_path_key(a.key), 'unknown_attribute',
                'not one of the columns of the data set'
            )
            ELSE pliers._form_error(
                t.path || '.attributes.' || pliers._json_path_key(a.key), 'too_long',
                pg_catalog.format('an attribute is at most %s characters', v_text_chars)
            )
        END
        FROM item AS t
        CROSS JOIN LATERAL pg_catalog.jsonb_each(
            CASE WHEN t.attributes_doubtful THEN t.item -> 'attributes' ELSE '{}' END
        ) AS a (key, value)
        WHERE t.attributes_doubtful AND (
            pg_catalog.jsonb_typeof(a.value) NOT IN ('string', 'number', 'boolean')
            OR (p_columns IS NOT NULL AND a.key <> ALL(p_columns))
            OR pg_catalog.char_length(a.value #>> '{}') > v_text_chars
        )
    )
    SELECT
        coalesce(pg_catalog.jsonb_agg(f.error ORDER BY f.rank) FILTER (WHERE f.rank <= v_max_errors), '[]'),
        pg_catalog.count(*)
    INTO errors, error_count
    FROM (
        SELECT x.error, pg_catalog.row_number() OVER (ORDER BY x.i, x.k, x.key COLLATE "C") AS rank FROM found AS x
    ) AS f;
END
$$;

COMMENT ON FUNCTION pliers.delete_choice_list(text, integer) IS
'Deletes the live choice list p_name (soft delete: deleted_at; the row and its items stay until '
'pliers.purge_deleted; the name is free again). Refused while a live form version that is not archived names it in a choiceList: PL003 '
'DETAIL {object: choice_list, name, rule: in_use, forms: [{id, slug, version, status}]}. PL003 also when '
'p_expected_version is given and stale. Permission form.edit. PL002, PL006, PL008. Appends choice_list.deleted.';

-- sql/72-audit.sql

CREATE OR REPLACE FUNCTION pliers.enable_audit(
    p_table regclass,
    p_excluded_columns text[] DEFAULT NULL,
    p_ignored_columns text[] DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_table record;
    v_trigger name;
    v_current record;
    v_excluded text[];
    v_ignored text[];
    v_unknown text[];
    v_events boolean;
BEGIN
    SELECT n.nspname, c.relname, c.relkind, c.relispartition,
        EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        ) AS has_organization
    INTO v_table
    FROM pg_catalog.pg_class AS c
    INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
    WHERE c.oid = p_table;
    IF NOT FOUND OR v_table.nspname <> 'pliers' OR v_table.relkind NOT IN ('r', 'p') OR v_table.relispartition
        OR v_table.relname IN ('audit_logs', 'events')
        OR NOT (v_table.has_organization OR v_table.relname = 'organizations') THEN
        RAISE EXCEPTION '% cannot be audited', coalesce(p_table::text, 'NULL')
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_table', 'value', p_table::text)::text,
                HINT = 'Audited tables are tables of schema pliers with an organization_id column '
                || '(or pliers.organizations), other than events and audit_logs.';
    END IF;
    IF pg_catalog.array_position(p_excluded_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'p_excluded_columns contains NULL'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_excluded_columns', 'value', p_excluded_columns)::text;
    END IF;
    IF pg_catalog.array_position(p_ignored_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'p_ignored_columns contains NULL'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_ignored_columns', 'value', p_ignored_columns)::text;
    END IF;
    v_trigger := v_table.relname || '_audit';
    v_events := v_table.relname IN ('forms', 'submissions', 'choice_lists', 'choice_list_items');

    SELECT s.enabled, s.excluded_columns, s.ignored_columns, s.api_writes_in_events INTO v_current
    FROM pliers.audit_settings AS s
    WHERE s.table_name = p_table;

    -- NULL keeps the current list (none for a table not audited yet).
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c ORDER BY c), '{}')
    INTO v_excluded
    FROM pg_catalog.unnest(coalesce(p_excluded_columns, v_current.excluded_columns)) AS c;
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c ORDER BY c), '{}')
    INTO v_ignored
    FROM pg_catalog.unnest(coalesce(p_ignored_columns, v_current.ignored_columns)) AS c;

    SELECT pg_catalog.array_agg(c ORDER BY c)
    INTO v_unknown
    FROM pg_catalog.unnest(v_excluded || v_ignored) AS c
    WHERE NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped
    );
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION '% has no column %', p_table, pg_catalog.array_to_string(v_unknown, ', ')
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_excluded_columns', 'value', v_unknown)::text;
    END IF;

    IF v_current.enabled AND v_current.excluded_columns = v_excluded AND v_current.ignored_columns = v_ignored
        AND v_current.api_writes_in_events = v_events THEN
        RETURN false;
    END IF;
    -- Forms and submissions are event-sourced: every write of the API (SECURITY DEFINER,
    -- so pliers_owner) appends an event that records who, when, from where and what, in
    -- the same transaction (sql/74-feed.sql). An audit row would be a second copy of the
    -- history (a quarter of the bytes and a sixth of the time of a submission,
    -- bench/RESULTS.md), so only the writes made outside the API are audited. So are
    -- choice lists (their events describe the list) and their items: a row per item
    -- would make a 100,000-item replace write 200,000 audit rows (8 to 14 times slower,
    -- about 130 MB) for a change its one event records.
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW %s'
        'EXECUTE FUNCTION pliers._audit(%L, %L)',
        v_trigger, p_table,
        CASE WHEN v_events THEN 'WHEN (CURRENT_USER <> ''pliers_owner'') ' ELSE '' END,
        v_excluded::text, v_ignored::text
    );
    IF v_current.enabled IS false THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I', p_table, v_trigger);
    END IF;
    EXECUTE pg_catalog.format(
        'COMMENT ON TRIGGER %I ON %s IS %L', v_trigger, p_table,
        'Records row changes in pliers.audit_logs (pliers._audit); created by pliers.enable_audit, '
        || 'removed by pliers.disable_audit'
    );
    RETURN true;
END
$function$;

COMMENT ON FUNCTION pliers.enable_audit(regclass, text[], text[]) IS
'Starts recording the row changes of p_table in pliers.audit_logs: creates (or replaces) its trigger <table>_audit. '
'p_excluded_columns are never recorded (secret columns never are anyway); a change to p_ignored_columns alone (like '
'updated_at and revision) records nothing. NULL keeps the current list. On pliers.forms, pliers.submissions, '
'pliers.choice_lists and pliers.choice_list_items, whose API writes are recorded as events, the trigger records only '
'writes made by other roles than pliers_owner (the API). '
'Idempotent: returns false when the trigger '
'already has these settings, true when it was created or changed. p_table must be a table of schema pliers with an '
'organization_id column, or pliers.organizations, not events or audit_logs (else PL009). Owner/DBA only.';

-- sql/78-maintenance.sql

CREATE OR REPLACE FUNCTION pliers.purge_deleted(p_older_than interval DEFAULT '90 days')
RETURNS TABLE (table_name text, rows_purged bigint, rows_kept bigint)
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    -- Children before parents: attachments reference submissions and forms, submissions
    -- reference forms and teams, everything references users. A choice list is referenced
    -- by its items only (they cascade): forms name lists, and only live ones resolve.
    c_tables CONSTANT text[] := ARRAY[
        'attachments', 'submissions', 'workflows', 'forms', 'choice_lists', 'teams', 'users'
    ];
    v_cutoff timestamptz;
    v_table text;
    v_guard text;
    v_row record;
    v_pass bigint;
    v_saved_reason text := pg_catalog.current_setting('pliers.audit_reason', true);
BEGIN
    IF p_older_than IS NULL OR p_older_than < INTERVAL '0' THEN
        RAISE EXCEPTION 'p_older_than must be a period of at least 0'
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_older_than', 'value', p_older_than)::text;
    END IF;
    PERFORM pliers._require_rls_bypass('pliers.purge_deleted');
    v_cutoff := pg_catalog.now() - p_older_than;
    PERFORM pg_catalog.set_config('pliers.audit_reason', 'purge_deleted', true);

    FOREACH v_table IN ARRAY c_tables LOOP
        table_name := 'pliers.' || v_table;
        rows_purged := 0;
        -- Rows still referenced through a NO ACTION / RESTRICT foreign key stay (a deleted
        -- form that still has submissions, a user who uploaded an attachment, ...).
        SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
            ' AND NOT EXISTS (SELECT FROM %s AS r WHERE %s%s)',
            c.conrelid::regclass,
            (
                SELECT pg_catalog.string_agg(pg_catalog.format('r.%I = t.%I', ra.attname, ta.attname), ' AND ')
                FROM unnest(c.conkey, c.confkey) AS k (referencing, referenced)
                INNER JOIN pg_catalog.pg_attribute AS ra ON ra.attrelid = c.conrelid AND ra.attnum = k.referencing
                INNER JOIN pg_catalog.pg_attribute AS ta ON ta.attrelid = c.confrelid AND ta.attnum = k.referenced
            ),
            -- A row that names itself (a user who created their own account) does not
            -- keep itself: its DELETE removes the reference with it.
            CASE WHEN c.conrelid = c.confrelid THEN ' AND r.ctid <> t.ctid' ELSE '' END
        ), ''), '')
        INTO v_guard
        FROM pg_catalog.pg_constraint AS c
        WHERE
            c.contype = 'f' AND c.conparentid = 0 AND c.confdeltype IN ('a', 'r')
            AND c.confrelid = pg_catalog.to_regclass(table_name);

        -- Row by row: a row that some other rule keeps (a published form's immutable
        -- columns, ...) is skipped, not fatal. Repeated while rows go: a deleted form
        -- version is purged once the deleted version that points at it is gone.
        LOOP
            v_pass := 0;
            FOR v_row IN EXECUTE pg_catalog.format(
                'SELECT t.organization_id, t.id FROM %s AS t WHERE t.deleted_at < $1%s ORDER BY t.deleted_at',
                table_name, v_guard
            ) USING v_cutoff LOOP
                BEGIN
                    EXECUTE pg_catalog.format('DELETE FROM %s WHERE organization_id = $1 AND id = $2', table_name)
                    USING v_row.organization_id, v_row.id;
                    v_pass := v_pass + 1;
                EXCEPTION WHEN foreign_key_violation OR restrict_violation OR SQLSTATE 'PL005' THEN
                    NULL;
                END;
            END LOOP;
            rows_purged := rows_purged + v_pass;
            EXIT WHEN v_pass = 0;
        END LOOP;
        EXECUTE pg_catalog.format('SELECT count(*) FROM %s WHERE deleted_at < $1', table_name)
        INTO rows_kept USING v_cutoff;
        RETURN NEXT;
    END LOOP;
    PERFORM pg_catalog.set_config('pliers.audit_reason', coalesce(v_saved_reason, ''), true);
END
$function$;

COMMENT ON FUNCTION pliers.purge_deleted(interval) IS
'Hard-deletes the rows soft-deleted (deleted_at) more than p_older_than ago (default 90 days) in attachments, '
'submissions, workflows, forms, choice_lists (with their items), teams and users, children first, across all '
'tenants; returns per table the rows '
'purged and the rows kept because something still references them (a NO ACTION foreign key, an immutable published '
'form; a user still named as the author of a row, since actor references are NO ACTION). Cascades follow the '
'foreign keys. Audited: each deleted row gets an audit row without '
'values (metadata.reason = purge_deleted). Organizations are never purged (their history references them). '
'Stored files of purged attachments are the application''s to delete. Must run as a role that bypasses RLS (else '
'PL006); a negative period raises PL009. Owner/DBA only.';

-- sql/89-audit-tables.sql

-- sql/55-submissions-api.sql

-- A new column (json_type): its return type changes.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers.export_columns(text);

CREATE FUNCTION pliers.export_columns(p_slug text)
RETURNS TABLE (ordinal integer, name text, path text, kind text, json_type text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    c_meta constant text[] := ARRAY[
        'submission_number', 'submission_id', 'form_version', 'status', 'created_at', 'submitted_at',
        'updated_at', 'completed_at', 'submitted_by', 'assigned_to', 'assigned_team_id', 'external_id'
    ];
BEGIN
    IF NOT EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'form % not found', p_slug
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'slug', p_slug)::text;
    END IF;

    RETURN QUERY
    WITH versions AS (
        SELECT f.definition, pliers._semver_key(f.version) AS version_key
        FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL AND f.published_at IS NOT NULL
    ),

    fields AS (
        SELECT
            v.version_key, l.sort_key, l.data_path, l.kind,
            -- The JSON type of the answer, from the type expressions give it (one rule);
            -- NULL where the kind allows more than one (hidden, files, locations).
            CASE pliers._field_expression_type(l.field, l.data_path, '{}')
                WHEN 'string' THEN 'string' WHEN 'ordinal' THEN 'string' WHEN 'date' THEN 'string'
                WHEN 'time' THEN 'string' WHEN 'datetime' THEN 'string'
                WHEN 'number' THEN 'number' WHEN 'boolean' THEN 'boolean'
                WHEN 'list:string' THEN 'array' WHEN 'list:object' THEN 'array'
            END AS json_type
        FROM versions AS v
        CROSS JOIN LATERAL pliers._form_field_list(v.definition) AS l
        WHERE
            l.kind NOT IN ('group', 'display')
            -- a calculation for the renderer (a string) has no stored answer; one evaluated here has
            AND NOT (l.kind = 'calculated' AND pg_catalog.jsonb_typeof(l.field -> 'expression') = 'string')
            -- fields inside a repeat are exported with the repeat, as JSON
            AND NOT EXISTS (
                SELECT FROM pliers._form_field_list(v.definition) AS r
                WHERE r.kind = 'repeat' AND starts_with(l.data_path, r.data_path || '.')
            )
    ),

    newest AS (
        SELECT DISTINCT ON (fields.data_path)
            fields.data_path, fields.kind, fields.json_type, fields.version_key, fields.sort_key
        FROM fields
        ORDER BY fields.data_path, fields.version_key DESC
    ),

    firsts AS (
        SELECT fields.data_path, min(fields.version_key || fields.sort_key::numeric[]) AS first_seen
        FROM fields
        GROUP BY fields.data_path
    )

    SELECT m.n::integer, m.name, NULL::text, 'meta'::text, NULL::text
    FROM pg_catalog.unnest(c_meta) WITH ORDINALITY AS m (name, n)
    UNION ALL
    SELECT
        (pg_catalog.cardinality(c_meta) + pg_catalog.row_number() OVER (ORDER BY fi.first_seen, c.data_path))::integer,
        CASE WHEN c.data_path = ANY(c_meta) THEN 'data.' || c.data_path ELSE c.data_path END,
        c.data_path,
        c.kind,
        c.json_type
    FROM newest AS c
    INNER JOIN firsts AS fi ON c.data_path = fi.data_path
    ORDER BY 1;
END
$$;

COMMENT ON FUNCTION pliers.export_columns(text) IS
'The columns of the export of form p_slug (all its published versions): first the submission''s own columns '
'(kind meta: submission_number, submission_id, form_version, status, created_at, submitted_at, updated_at, '
'completed_at, submitted_by, assigned_to, assigned_team_id, external_id), then one column per answer path of any '
'version (name = the dotted path, address.zip; prefixed data. when it equals a meta name), in the order they '
'first appear (oldest version first, then form order). Groups are flattened into their fields; a repeat is one '
'column (its answers as JSON); display fields and calculations for the renderer (a string expression) have none. '
'path is NULL for meta columns; kind is '
'the field type in the newest version that has it, json_type the JSON type of its answers there: string (the export '
'writes it as it is), number, boolean or array (as JSON), NULL for meta columns and for kinds whose answers are of '
'more than one type or of none that expressions name (hidden, calculated, file, signature, geo_point, geotrace, '
'geoshape: JSON, or a string). PL002 when no live version has the slug, PL008.';

REVOKE ALL ON FUNCTION pliers.export_columns(text) FROM public;
GRANT EXECUTE ON FUNCTION pliers.export_columns(text) TO pliers_app;

-- sql/72-audit.sql: the view's comment
COMMENT ON VIEW pliers.audit_settings IS
'One row per audited table (a <table>_audit trigger exists): whether the trigger is enabled, the columns never '
'recorded for it (excluded_columns, plus secret_columns, always excluded) and the columns whose change alone records '
'nothing (ignored_columns, plus updated_at and revision), and whether the writes of the API are left to the event '
'log (api_writes_in_events: forms, submissions, choice lists and their items). Change them with '
'pliers.enable_audit / pliers.disable_audit.';

-- sql/89-audit-tables.sql: choice lists audited (their API writes are in events)
DO $audit$
BEGIN
    PERFORM pliers.enable_audit('pliers.choice_lists');
    PERFORM pliers.enable_audit('pliers.choice_list_items');
END
$audit$;

-- sql/44-choice-lists.sql: the actor references of choice_lists, NO ACTION as every other
-- (purge_deleted keeps a user a list names), and their indexes.
ALTER TABLE pliers.choice_lists
ADD CONSTRAINT choice_lists_created_by_fkey FOREIGN KEY (organization_id, created_by)
REFERENCES pliers.users (organization_id, id) NOT VALID,
ADD CONSTRAINT choice_lists_updated_by_fkey FOREIGN KEY (organization_id, updated_by)
REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.choice_lists VALIDATE CONSTRAINT choice_lists_created_by_fkey;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.choice_lists VALIDATE CONSTRAINT choice_lists_updated_by_fkey;

-- A table of lists (a few hundred rows a tenant): built in the migration's transaction.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX choice_lists_created_by_idx ON pliers.choice_lists (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.choice_lists_created_by_idx IS 'Serves FK choice_lists_created_by_fkey';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX choice_lists_updated_by_idx ON pliers.choice_lists (organization_id, updated_by)
WHERE updated_by IS NOT NULL;

COMMENT ON INDEX pliers.choice_lists_updated_by_idx IS 'Serves FK choice_lists_updated_by_fkey';

RESET ROLE;
