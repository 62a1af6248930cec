-- Choice lists that are not inline (docs/choice-lists.md): a tenant's shared choice
-- lists, reused across forms, and data sets loaded from a CSV upload (ODK's external
-- choices and entity lists). A choice field names one with "choiceList": "<name>"
-- instead of inline "choices"; the API checks that the list exists when a definition is
-- saved or published (_check_list_references), and that each answer is one of its codes
-- when a submission is validated (_check_list_answers).
--
-- As in sql/45-forms-api.sql: each API function opens with the tenant context (PL008),
-- names the tenant as a value in every statement (one shard on Citus), checks the
-- caller's permission (PL006: form.edit to write, form.view to read: lists are part of
-- the design of forms), validates every argument at once (PL001), then writes and
-- appends its events in the caller's transaction; a failed call writes nothing. The
-- tables are the API's to write: pliers_app reads them under row-level security
-- (sql/95-security.sql.j2) and changes them through these functions only, which keep
-- item_count and version right.
--
-- Events: pliers.aggregate_type has no 'choice_list' (sql/37-access-api.sql says why
-- none is added): choice_list.created, choice_list.items_replaced and
-- choice_list.deleted are recorded with aggregate_type organization, aggregate_id the
-- list's id, aggregate_version the list's version. Their payloads describe the list
-- (name, title, kind, columns, item_count, version), never its items: a data set may
-- hold 100,000 of them. Both tables are audited (sql/89-audit-tables.sql), the API's
-- writes left to these events, as for forms; pliers.purge_deleted removes deleted lists.
--
-- This file comes before sql/45, whose helpers (_require_context, _raise_invalid,
-- _raise_not_found) the PL/pgSQL functions here call at run time.

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

CREATE TABLE pliers.choice_lists (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    title text,
    description text,
    kind text NOT NULL DEFAULT 'list',
    columns text[] NOT NULL DEFAULT '{}',
    item_count integer NOT NULL DEFAULT 0,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by uuid,
    updated_by uuid,

    CONSTRAINT choice_lists_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT choice_lists_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT choice_lists_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT choice_lists_updated_by_fkey FOREIGN KEY (organization_id, updated_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT choice_lists_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    CONSTRAINT choice_lists_title_length CHECK (char_length(title) <= 255),
    CONSTRAINT choice_lists_description_length CHECK (char_length(description) <= 2000),
    CONSTRAINT choice_lists_kind CHECK (kind IN ('list', 'dataset')),
    CONSTRAINT choice_lists_columns_no_null CHECK (array_position(columns, NULL) IS NULL),
    CONSTRAINT choice_lists_item_count_positive CHECK (item_count >= 0),
    CONSTRAINT choice_lists_version_positive CHECK (version > 0)
);

COMMENT ON TABLE pliers.choice_lists IS
'Choice lists of a tenant that forms share (kind list) and data sets loaded from CSV (kind dataset), named by a '
'choice field''s choiceList. Written through the API only (pliers.create_choice_list ...); soft-deleted.';
COMMENT ON COLUMN pliers.choice_lists.name IS
'What a definition names ("choiceList": "<name>"): ^[a-z0-9][a-z0-9_-]{0,62}$, unique among the live lists of '
'the organization (choice_lists_name_idx); freed when the list is deleted';
COMMENT ON COLUMN pliers.choice_lists.kind IS 'list (typed in, at most 10,000 items) or dataset (from a CSV, 100,000)';
COMMENT ON COLUMN pliers.choice_lists.columns IS
'The attribute names of the items: for a data set the CSV header without the code and label columns, in its '
'order; else the attribute names found in the items, sorted';
COMMENT ON COLUMN pliers.choice_lists.item_count IS 'Number of rows of pliers.choice_list_items of the list';
COMMENT ON COLUMN pliers.choice_lists.version IS
'Optimistic-concurrency token and aggregate_version of its events: 1 when created, incremented by every change';

-- The live lists of a tenant by name: the lookup of every API call, and the rule that
-- a live name is unique (a deleted list frees it).
CREATE UNIQUE INDEX choice_lists_name_idx ON pliers.choice_lists (organization_id, name)
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.choice_lists_name_idx IS 'One live list per name and organization; finds it by name';

-- FKs choice_lists_created_by_fkey and choice_lists_updated_by_fkey (NO ACTION), as every
-- actor reference: a hard delete of a user a list names fails (purge_deleted keeps the user).
CREATE INDEX choice_lists_created_by_idx ON pliers.choice_lists (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.choice_lists_created_by_idx IS 'Serves FK choice_lists_created_by_fkey';

CREATE INDEX choice_lists_updated_by_idx ON pliers.choice_lists (organization_id, updated_by)
WHERE updated_by IS NOT NULL;

COMMENT ON INDEX pliers.choice_lists_updated_by_idx IS 'Serves FK choice_lists_updated_by_fkey';

CREATE TRIGGER choice_lists_updated_at
BEFORE UPDATE ON pliers.choice_lists
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER choice_lists_updated_at ON pliers.choice_lists IS 'Maintains updated_at';

CREATE TABLE pliers.choice_list_items (
    organization_id uuid NOT NULL,
    list_id uuid NOT NULL,
    code text NOT NULL,
    label jsonb NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    position integer NOT NULL,

    CONSTRAINT choice_list_items_pkey PRIMARY KEY (organization_id, list_id, code),
    CONSTRAINT choice_list_items_list_id_fkey FOREIGN KEY (organization_id, list_id)
    REFERENCES pliers.choice_lists (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT choice_list_items_code_length CHECK (char_length(code) BETWEEN 1 AND 255),
    CONSTRAINT choice_list_items_label_type CHECK (jsonb_typeof(label) IN ('string', 'object')),
    CONSTRAINT choice_list_items_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    CONSTRAINT choice_list_items_position_positive CHECK (position > 0)
);

COMMENT ON TABLE pliers.choice_list_items IS
'The items of a choice list: the code stored in answers, its label, its attributes (read by choice filters). '
'Replaced as a whole by pliers.replace_choice_list_items.';
COMMENT ON COLUMN pliers.choice_list_items.code IS 'The answer''s value: 1 to 255 characters, unique in the list';
COMMENT ON COLUMN pliers.choice_list_items.label IS
'A translatable text: a string, or an object language tag -> string';
COMMENT ON COLUMN pliers.choice_list_items.attributes IS
'An object of scalars (string, number, boolean): the other columns of a data set''s row';
COMMENT ON COLUMN pliers.choice_list_items.position IS 'Display order, 1 to item_count';

-- ---------------------------------------------------------------------------
-- Limits and validation of items
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.choice_list_limits()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'list_items', (pliers.form_limits() ->> 'choices')::integer,
        'dataset_items', 100000,
        'items_bytes', 67108864,
        'code_chars', 255,
        'text_chars', 2000,
        'attributes', 100,
        'errors', 100
    )
$$;

COMMENT ON FUNCTION pliers.choice_list_limits() IS
'The input limits of choice lists, by name: list_items (items of a list: form_limits() choices, 10,000), '
'dataset_items (items of a data set, 100,000), items_bytes (the items argument, as stored: pg_column_size), '
'code_chars (a code), '
'text_chars (a label text or a string attribute), attributes (per item), errors (reported at most; DETAIL also '
'has error_count).';

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

-- Every rule of an item, for every item at once, in one query: a data set of 100,000
-- rows is checked without a loop per item. The first errors, in item order (within
-- an item: the rule, then the key it names).
CREATE FUNCTION pliers._check_choice_list_items(
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

COMMENT ON FUNCTION pliers._check_choice_list_items(jsonb, text, text[]) IS
'Private: the errors ({path, code, message}, paths $.items[i].code ...) of the items of a list of kind p_kind, the '
'first choice_list_limits() errors of them in item order, and how many there are. An item is {code, label, '
'attributes?}: code a string, not blank, at most code_chars, distinct (duplicate_code on the later ones); label a '
'translatable text (a string or {tag: string}); attributes an object of strings, numbers and booleans, names among '
'p_columns when given (unknown_attribute). Too many items (list_items or dataset_items), too many bytes: one error.';

CREATE FUNCTION pliers._check_choice_list_attributes(
    p_name text, p_title text, p_description text, p_kind text, p_columns text[]
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_name IS NULL THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'the name is required');
    ELSIF p_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        v_errors := v_errors || pliers._form_error(
            'name', 'invalid_name',
            'a list name is 1 to 63 lower-case letters, digits, _ and -, starting with a letter or a digit'
        );
    END IF;
    IF pg_catalog.char_length(p_title) > 255 THEN
        v_errors := v_errors || pliers._form_error('title', 'too_long', 'the title is at most 255 characters');
    END IF;
    IF pg_catalog.char_length(p_description) > 2000 THEN
        v_errors := v_errors || pliers._form_error('description', 'too_long', 'the description is at most 2000 characters');
    END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('list', 'dataset') THEN
        v_errors := v_errors || pliers._form_error('kind', 'invalid_kind', 'the kind is list or dataset');
    END IF;
    IF p_columns IS NOT NULL THEN
        v_errors := v_errors || pliers._check_text_array('columns', p_columns, (pliers.choice_list_limits() ->> 'attributes')::integer, 255);
        IF pg_catalog.array_ndims(p_columns) = 1 AND pg_catalog.cardinality(p_columns) <> (
            SELECT pg_catalog.count(DISTINCT c.name) FROM pg_catalog.unnest(p_columns) AS c (name)
        ) THEN
            v_errors := v_errors || pliers._form_error('columns', 'duplicate_item', 'the column names are distinct');
        END IF;
        IF 'code' = ANY(p_columns) OR 'label' = ANY(p_columns) THEN
            v_errors := v_errors || pliers._form_error('columns', 'invalid', 'code and label are not attribute columns');
        END IF;
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_choice_list_attributes(text, text, text, text, text[]) IS
'Private: the argument errors ({path, code, message}) of a list''s name (required, ^[a-z0-9][a-z0-9_-]{0,62}$: '
'invalid_name), title (255 characters), description (2000), kind (list or dataset: invalid_kind) and columns '
'(distinct, at most choice_list_limits() attributes, not code or label). A NULL title, description or columns is '
'not checked.';

CREATE FUNCTION pliers._assert_valid_choice_list(
    p_name text, p_title text, p_description text, p_kind text, p_columns text[], p_items jsonb
)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_errors constant jsonb := pliers._check_choice_list_attributes(p_name, p_title, p_description, p_kind, p_columns);
    v_items record;
BEGIN
    v_items := pliers._check_choice_list_items(p_items, coalesce(p_kind, 'list'), p_columns);
    IF v_errors <> '[]' OR v_items.error_count > 0 THEN
        PERFORM pliers._raise_invalid(
            'the choice list is not valid', v_errors || v_items.errors,
            pg_catalog.jsonb_build_object('error_count', pg_catalog.jsonb_array_length(v_errors) + v_items.error_count)
        );
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._assert_valid_choice_list(text, text, text, text, text[], jsonb) IS
'Private: PL001 with DETAIL {errors, error_count} unless the list''s arguments (_check_choice_list_attributes) and '
'its items (_check_choice_list_items) are valid; errors: the argument errors, then the first '
'choice_list_limits() errors of the items.';

CREATE FUNCTION pliers._raise_choice_list_not_found(p_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'choice list % not found', p_name
        USING
            ERRCODE = 'PL002',
            DETAIL = pg_catalog.jsonb_build_object('object', 'choice_list', 'name', p_name)::text;
END
$$;

COMMENT ON FUNCTION pliers._raise_choice_list_not_found(text) IS
'Private: PL002 (NotFound) with DETAIL {object: choice_list, name}: no live list of that name in the tenant.';

CREATE FUNCTION pliers._choice_list_payload(p_list pliers.choice_lists)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'name', p_list.name,
        'title', p_list.title,
        'description', p_list.description,
        'kind', p_list.kind,
        'columns', pg_catalog.to_jsonb(p_list.columns),
        'item_count', p_list.item_count,
        'version', p_list.version
    )
$$;

COMMENT ON FUNCTION pliers._choice_list_payload(pliers.choice_lists) IS
'Private: the payload of the events of a choice list: name, title, description, kind, columns, item_count, '
'version (never the items).';

CREATE FUNCTION pliers._lock_choice_list(p_name text)
RETURNS pliers.choice_lists
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers.current_organization_id();
    v_list pliers.choice_lists;
BEGIN
    IF p_name IS NULL THEN
        PERFORM pliers._raise_invalid(
            'name is required',
            pg_catalog.jsonb_build_array(pliers._form_error('name', 'required', 'the name is required'))
        );
    END IF;
    SELECT l.* INTO v_list
    FROM pliers.choice_lists AS l
    WHERE l.organization_id = v_org AND l.name = p_name AND l.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_choice_list_not_found(p_name);
    END IF;
    RETURN v_list;
END
$$;

COMMENT ON FUNCTION pliers._lock_choice_list(text) IS
'Private: the live choice list p_name of the current tenant, locked FOR UPDATE (its writers queue); PL001 when '
'p_name is NULL, PL002 (DETAIL {object: choice_list, name}) when there is none.';

CREATE FUNCTION pliers._item_columns(p_items jsonb)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(pg_catalog.array_agg(DISTINCT a.key ORDER BY a.key), '{}')
    FROM pg_catalog.jsonb_array_elements(p_items) AS e (item)
    CROSS JOIN LATERAL pg_catalog.jsonb_object_keys(coalesce(e.item -> 'attributes', '{}')) AS a (key)
$$;

COMMENT ON FUNCTION pliers._item_columns(jsonb) IS
'Private: the attribute names of valid items, sorted: the columns of a list given without them.';

CREATE FUNCTION pliers._insert_choice_list_items(p_list_id uuid, p_items jsonb)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers.current_organization_id();
    v_count integer;
BEGIN
    INSERT INTO pliers.choice_list_items (organization_id, list_id, code, label, attributes, position)
    SELECT v_org, p_list_id, e.item ->> 'code', e.item -> 'label', coalesce(e.item -> 'attributes', '{}'), e.n
    FROM pg_catalog.jsonb_array_elements(p_items) WITH ORDINALITY AS e (item, n);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers._insert_choice_list_items(uuid, jsonb) IS
'Private: inserts valid items (checked by _check_choice_list_items) into list p_list_id of the current tenant, in '
'order (position 1, 2, ...); returns how many.';

-- ---------------------------------------------------------------------------
-- The API
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_choice_list(
    p_name text,
    p_title text,
    p_items jsonb,
    p_kind text DEFAULT 'list',
    p_description text DEFAULT NULL,
    p_columns text[] DEFAULT NULL
)
RETURNS pliers.choice_lists
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_count integer;
    v_list pliers.choice_lists;
BEGIN
    PERFORM pliers._require_permission('form.edit');
    PERFORM pliers._assert_valid_choice_list(p_name, p_title, p_description, p_kind, p_columns, p_items);

    BEGIN
        INSERT INTO pliers.choice_lists (
            organization_id, name, title, description, kind, columns, created_by, updated_by
        ) VALUES (
            v_org, p_name, p_title, p_description, p_kind, coalesce(p_columns, pliers._item_columns(p_items)),
            pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING * INTO v_list;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'a choice list named % already exists', p_name
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object('object', 'choice_list', 'name', p_name)::text,
                HINT = 'Replace its items (pliers.replace_choice_list_items), or choose another name.';
    END;
    -- A value: Citus allows no function with side effects in an UPDATE.
    v_count := pliers._insert_choice_list_items(v_list.id, p_items);
    UPDATE pliers.choice_lists AS l
    SET item_count = v_count
    WHERE l.organization_id = v_org AND l.id = v_list.id
    RETURNING l.* INTO v_list;

    PERFORM pliers._append_event(
        'organization', v_list.id, v_list.version, 'choice_list.created', pliers._choice_list_payload(v_list)
    );
    RETURN v_list;
END
$$;

COMMENT ON FUNCTION pliers.create_choice_list(text, text, jsonb, text, text, text[]) IS
'Creates a choice list of the current tenant: name p_name (^[a-z0-9][a-z0-9_-]{0,62}$, what a definition''s '
'choiceList names), kind list or dataset, its items p_items ([{code, label, attributes?}], in display order; '
'pliers._check_choice_list_items has the rules) and, for a data set, its columns (attribute names, in order; '
'default: those of the items, sorted). Version 1. Permission form.edit. PL001 (every error, the first 100, with '
'error_count), PL003 (a live list has the name; DETAIL {object: choice_list, name}), PL006, PL008. Appends '
'choice_list.created (aggregate_type organization, aggregate_id the list''s id). Returns the row.';

CREATE FUNCTION pliers.replace_choice_list_items(
    p_name text,
    p_items jsonb,
    p_expected_version integer,
    p_title text DEFAULT NULL,
    p_columns text[] DEFAULT NULL
)
RETURNS pliers.choice_lists
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_list pliers.choice_lists;
    v_count integer;
BEGIN
    v_list := pliers._lock_choice_list(p_name);
    PERFORM pliers._require_permission('form.edit');
    IF p_expected_version IS NULL THEN
        PERFORM pliers._raise_invalid(
            'expected_version is required',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'expected_version', 'required', 'pass the version you read (optimistic concurrency)'
            ))
        );
    END IF;
    PERFORM pliers._check_expected_version('choice_list', v_list.id, p_expected_version, v_list.version);
    PERFORM pliers._assert_valid_choice_list(p_name, p_title, NULL, v_list.kind, p_columns, p_items);

    DELETE FROM pliers.choice_list_items AS i WHERE i.organization_id = v_org AND i.list_id = v_list.id;
    v_count := pliers._insert_choice_list_items(v_list.id, p_items);
    UPDATE pliers.choice_lists AS l
    SET
        updated_at = pg_catalog.now(),
        title = coalesce(p_title, l.title),
        columns = coalesce(p_columns, pliers._item_columns(p_items)),
        item_count = v_count,
        version = l.version + 1,
        updated_by = pliers.current_user_id()
    WHERE l.organization_id = v_org AND l.id = v_list.id
    RETURNING l.* INTO v_list;

    PERFORM pliers._append_event(
        'organization', v_list.id, v_list.version, 'choice_list.items_replaced', pliers._choice_list_payload(v_list)
    );
    RETURN v_list;
END
$$;

COMMENT ON FUNCTION pliers.replace_choice_list_items(text, jsonb, integer, text, text[]) IS
'Replaces every item of the live choice list p_name, atomically (the rules of create_choice_list), and its title '
'(when given) and columns (p_columns, else those of the items). p_expected_version is required: the version read '
'(PL001 without it, PL003 {aggregate_type, id, expected, actual} when stale: nothing is written). Increments '
'version. Published forms that name the list see the new items at once (a removed code is refused in new '
'answers). Permission form.edit. PL001, PL002, PL006, PL008. Appends choice_list.items_replaced.';

CREATE FUNCTION pliers.delete_choice_list(p_name text, p_expected_version integer DEFAULT NULL)
RETURNS pliers.choice_lists
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_list pliers.choice_lists;
    v_forms jsonb;
BEGIN
    v_list := pliers._lock_choice_list(p_name);
    PERFORM pliers._require_permission('form.edit');
    PERFORM pliers._check_expected_version('choice_list', v_list.id, p_expected_version, v_list.version);

    -- A form that names the list: any live version that is not archived.
    SELECT pg_catalog.jsonb_agg(
        pg_catalog.jsonb_build_object('id', f.id, 'slug', f.slug, 'version', f.version, 'status', f.status)
        ORDER BY f.slug, f.created_at
    )
    INTO v_forms
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org
        AND f.deleted_at IS NULL
        AND f.status <> 'archived'
        AND pg_catalog.jsonb_path_exists(
            f.definition, 'strict $.**.choiceList ? (@ == $name)', pg_catalog.jsonb_build_object('name', p_name)
        );
    IF v_forms IS NOT NULL THEN
        RAISE EXCEPTION 'choice list % is used by % form versions', p_name, pg_catalog.jsonb_array_length(v_forms)
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'choice_list', 'name', p_name, 'rule', 'in_use', 'forms', v_forms
                )::text,
                HINT = 'Archive or delete those form versions, or point their fields at another list, first.';
    END IF;

    UPDATE pliers.choice_lists AS l
    SET
        updated_at = pg_catalog.now(),
        deleted_at = pg_catalog.now(),
        version = l.version + 1,
        updated_by = pliers.current_user_id()
    WHERE l.organization_id = v_org AND l.id = v_list.id
    RETURNING l.* INTO v_list;

    PERFORM pliers._append_event(
        'organization', v_list.id, v_list.version, 'choice_list.deleted',
        pliers._choice_list_payload(v_list) || pg_catalog.jsonb_build_object('deleted_at', v_list.deleted_at)
    );
    RETURN v_list;
END
$$;

COMMENT ON FUNCTION pliers.delete_choice_list(text, integer) IS
'Deletes the live choice list p_name (soft delete: deleted_at; the row and its items stay until '
'pliers.purge_deleted; the name is free again). Refused while a live form version that is not archived names it in a choiceList: PL003 '
'DETAIL {object: choice_list, name, rule: in_use, forms: [{id, slug, version, status}]}. PL003 also when '
'p_expected_version is given and stale. Permission form.edit. PL002, PL006, PL008. Appends choice_list.deleted.';

-- Reading: as the owner, as list_forms does (on Citus a transaction that wrote through
-- the API reads through it).
CREATE FUNCTION pliers.list_choice_lists()
RETURNS SETOF pliers.choice_lists
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
BEGIN
    PERFORM pliers._require_permission('form.view');
    RETURN QUERY
    SELECT l.*
    FROM pliers.choice_lists AS l
    WHERE l.organization_id = v_org AND l.deleted_at IS NULL
    ORDER BY l.name;
END
$$;

COMMENT ON FUNCTION pliers.list_choice_lists() IS
'The live choice lists of the current tenant, by name, without their items. Permission form.view. PL006, PL008.';

CREATE FUNCTION pliers.get_choice_list(p_name text, p_offset integer DEFAULT 0, p_limit integer DEFAULT 10000)
RETURNS TABLE (
    organization_id uuid,
    id uuid,
    name text,
    title text,
    description text,
    kind text,
    columns text[],
    item_count integer,
    version integer,
    created_at timestamptz,
    updated_at timestamptz,
    created_by uuid,
    updated_by uuid,
    items jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_org constant uuid := pliers._require_context();
    v_list pliers.choice_lists;
BEGIN
    PERFORM pliers._require_permission('form.view');
    IF p_offset IS NULL OR p_offset < 0 OR p_limit IS NULL OR p_limit NOT BETWEEN 0 AND 10000 THEN
        PERFORM pliers._raise_invalid(
            'invalid page',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'limit', 'invalid', 'offset is at least 0, limit 0 to 10000'
            ))
        );
    END IF;
    SELECT l.* INTO v_list
    FROM pliers.choice_lists AS l
    WHERE l.organization_id = v_org AND l.name = p_name AND l.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_choice_list_not_found(p_name);
    END IF;
    RETURN QUERY
    SELECT
        v_list.organization_id, v_list.id, v_list.name, v_list.title, v_list.description, v_list.kind,
        v_list.columns, v_list.item_count, v_list.version, v_list.created_at, v_list.updated_at,
        v_list.created_by, v_list.updated_by,
        coalesce((
            SELECT pg_catalog.jsonb_agg(
                pg_catalog.jsonb_build_object('code', i.code, 'label', i.label, 'attributes', i.attributes)
                ORDER BY i.position
            )
            FROM pliers.choice_list_items AS i
            WHERE i.organization_id = v_org
                AND i.list_id = v_list.id
                AND i.position > p_offset
                AND i.position <= p_offset::bigint + p_limit
        ), '[]');
END
$$;

COMMENT ON FUNCTION pliers.get_choice_list(text, integer, integer) IS
'The live choice list p_name of the current tenant and a page of its items in order ([{code, label, attributes}]: '
'those after the first p_offset, at most p_limit, 10,000 at most; item_count says how many there are). Permission '
'form.view. PL001 (a bad page), PL002 (DETAIL {object: choice_list, name}), PL006, PL008.';

-- ---------------------------------------------------------------------------
-- Checks called by the form and submission API
-- ---------------------------------------------------------------------------

-- The choice fields of a definition that name a list, with the JSON path of each:
-- fields, and the fields of groups and repeats, as deep as they go (bounded by the
-- definition's own limits, checked before: field_depth).
CREATE FUNCTION pliers._list_fields(p_definition jsonb)
RETURNS TABLE (path text, list text, ord integer[])
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    WITH RECURSIVE f (field, path, ord) AS (
        SELECT e.field, '$.fields[' || (e.n - 1) || ']', ARRAY[e.n::integer]
        FROM pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(p_definition -> 'fields') = 'array' THEN p_definition -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS e (field, n)
        UNION ALL
        SELECT e.field, f.path || '.fields[' || (e.n - 1) || ']', f.ord || e.n::integer
        FROM f
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(f.field -> 'fields') = 'array' THEN f.field -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS e (field, n)
        WHERE pg_catalog.cardinality(f.ord) <= (pliers.form_limits() ->> 'field_depth')::integer
    )
    SELECT f.path || '.choiceList', f.field ->> 'choiceList', f.ord
    FROM f
    WHERE pg_catalog.jsonb_typeof(f.field -> 'choiceList') = 'string'
$$;

COMMENT ON FUNCTION pliers._list_fields(jsonb) IS
'Private: (path of the choiceList property, list name, position in document order) of every field of a definition '
'that names a choice list, groups and repeats included (down to form_limits() field_depth).';

-- The same walk over the cleaned answers: a group's fields in its object, a repeat's in
-- each of its items. Each answer carries its field's choiceFilter and the scope the
-- interpreter evaluates it in (_process_instance: the instance's repeat path, the instance
-- and the enclosing items by repeat path; the root is p_cleaned). One statement, no
-- table: on Citus it runs on the coordinator.
CREATE FUNCTION pliers._list_answers(p_definition jsonb, p_cleaned jsonb)
RETURNS TABLE (
    path text, list text, code text, ord integer[], filter jsonb, scope text, item jsonb, context jsonb
)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- keys: the dotted names from the instance to the field (groups included), as the
    -- repeat paths of scopes are written.
    WITH RECURSIVE w (field, value, path, ord, keys, scope, item, context) AS (
        SELECT e.field, p_cleaned -> (e.field ->> 'name'), '$.data.' || pliers._json_path_key(e.field ->> 'name'),
            ARRAY[e.n::integer], e.field ->> 'name', '', p_cleaned, '{}'::jsonb
        FROM pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(p_definition -> 'fields') = 'array' THEN p_definition -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS e (field, n)
        WHERE pg_catalog.jsonb_typeof(p_cleaned) = 'object' AND pg_catalog.jsonb_typeof(e.field -> 'name') = 'string'
        UNION ALL
        SELECT c.field, x.data -> (c.field ->> 'name'),
            w.path || x.suffix || '.' || pliers._json_path_key(c.field ->> 'name'),
            w.ord || x.k::integer || c.n::integer,
            x.prefix || (c.field ->> 'name'), x.scope, x.item, x.context
        FROM w
        CROSS JOIN LATERAL (
            -- A group's fields: the same instance. A repeat's: each item an instance, at
            -- its repeat path, the enclosing instance added to the context (not the root).
            SELECT w.value, '', 1::bigint, w.keys || '.', w.scope, w.item, w.context
            WHERE w.field ->> 'type' = 'group' AND pg_catalog.jsonb_typeof(w.value) = 'object'
            UNION ALL
            SELECT i.data, '[' || (i.k - 1) || ']', i.k, '',
                CASE WHEN w.scope = '' THEN '' ELSE w.scope || '.' END || w.keys, i.data,
                CASE WHEN w.scope = '' THEN w.context ELSE w.context || pg_catalog.jsonb_build_object(w.scope, w.item) END
            FROM pg_catalog.jsonb_array_elements(
                CASE WHEN w.field ->> 'type' = 'repeat' AND pg_catalog.jsonb_typeof(w.value) = 'array' THEN w.value ELSE '[]' END
            ) WITH ORDINALITY AS i (data, k)
        ) AS x (data, suffix, k, prefix, scope, item, context)
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(w.field -> 'fields') = 'array' THEN w.field -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS c (field, n)
        WHERE pg_catalog.jsonb_typeof(x.data) = 'object' AND pg_catalog.jsonb_typeof(c.field -> 'name') = 'string'
            AND pg_catalog.cardinality(w.ord) <= 2 * (pliers.form_limits() ->> 'field_depth')::integer
    )
    -- Codes that are not strings are the pure validators' (invalid_type); "other" with
    -- allowOther is no list's.
    SELECT a.path, w.field ->> 'choiceList', a.code #>> '{}', w.ord || a.k::integer, w.field -> 'choiceFilter',
        w.scope, w.item, w.context
    FROM w
    CROSS JOIN LATERAL (
        SELECT w.path, w.value, 0::bigint
        WHERE pg_catalog.jsonb_typeof(w.value) = 'string'
        UNION ALL
        SELECT w.path || '[' || (e.k - 1) || ']', e.code, e.k
        FROM pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(w.value) = 'array' THEN w.value ELSE '[]' END
        ) WITH ORDINALITY AS e (code, k)
        WHERE pg_catalog.jsonb_typeof(e.code) = 'string'
    ) AS a (path, code, k)
    WHERE pg_catalog.jsonb_typeof(w.field -> 'choiceList') = 'string'
        AND NOT (a.code = '"other"' AND coalesce(w.field -> 'allowOther' = 'true', FALSE))
$$;

COMMENT ON FUNCTION pliers._list_answers(jsonb, jsonb) IS
'Private: (JSON path of the answer, list name, code, position in document order, the field''s choiceFilter or NULL, '
'and the scope it is evaluated in: repeat path, instance, enclosing items by repeat path) of every string code '
'answered, in cleaned answers p_cleaned (the root of the scope), to a field of p_definition that names a choice '
'list (single_choice: the answer; multiple_choice, ranking: each item), through groups and each item of repeats; '
'"other" on a field with allowOther is left out.';

CREATE FUNCTION pliers._check_list_references(p_org uuid, p_definition jsonb)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_paths text[];
    v_names text[];
    v_known text[];
BEGIN
    IF pg_catalog.jsonb_typeof(p_definition) <> 'object' THEN
        RETURN '{}';
    END IF;
    SELECT pg_catalog.array_agg(r.path ORDER BY r.ord), pg_catalog.array_agg(r.list ORDER BY r.ord)
    INTO v_paths, v_names
    FROM pliers._list_fields(p_definition) AS r;
    IF v_paths IS NULL THEN
        RETURN '{}';  -- no field names a list: no query
    END IF;
    SELECT pg_catalog.array_agg(l.name) INTO v_known
    FROM pliers.choice_lists AS l
    WHERE l.organization_id = p_org AND l.deleted_at IS NULL AND l.name = ANY(v_names);
    RETURN coalesce((
        SELECT pg_catalog.array_agg(
            pliers._form_error(r.path, 'unknown_choice_list', pg_catalog.format('the choice list %s does not exist', r.name))
            ORDER BY r.n
        )
        FROM ROWS FROM (pg_catalog.unnest(v_paths), pg_catalog.unnest(v_names)) WITH ORDINALITY AS r (path, name, n)
        WHERE r.name <> ALL(coalesce(v_known, '{}'))
    ), '{}');
END
$$;

COMMENT ON FUNCTION pliers._check_list_references(uuid, jsonb) IS
'Private, for the form API: an error {path: $.fields[i]...choiceList, code: unknown_choice_list} for each field of '
'p_definition (groups and repeats included) whose choiceList names no live choice list of organization p_org. '
'One indexed query, none when no field names a list. Called where definitions are saved (create_form, update_form, '
'clone_form) and published (publish_form).';

CREATE FUNCTION pliers._check_list_answers(p_org uuid, p_definition jsonb, p_cleaned jsonb)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_paths text[];
    v_keys text[];
    v_codes text[];
    v_filters jsonb[];
    v_scopes text[];
    v_items jsonb[];
    v_contexts jsonb[];
    v_lists text[];
    v_filtered boolean;
    v_found jsonb;
    v_errors jsonb[] := '{}';
BEGIN
    IF pg_catalog.jsonb_typeof(p_cleaned) <> 'object' OR pg_catalog.jsonb_typeof(p_definition) <> 'object'
        OR NOT pg_catalog.jsonb_path_exists(p_definition, 'strict $.**.choiceList') THEN
        RETURN '{}';  -- no field names a list: no walk, no query
    END IF;
    -- U+001F between list and code: no list name holds it.
    SELECT
        pg_catalog.array_agg(a.path ORDER BY a.ord),
        pg_catalog.array_agg(a.list || E'\x1f' || a.code ORDER BY a.ord),
        pg_catalog.array_agg(a.code ORDER BY a.ord),
        pg_catalog.array_agg(a.filter ORDER BY a.ord),
        -- The scope of an answer only when a filter reads it: no copy of the items else.
        pg_catalog.array_agg(CASE WHEN a.filter IS NOT NULL THEN a.scope END ORDER BY a.ord),
        pg_catalog.array_agg(CASE WHEN a.filter IS NOT NULL THEN a.item END ORDER BY a.ord),
        pg_catalog.array_agg(CASE WHEN a.filter IS NOT NULL THEN a.context END ORDER BY a.ord),
        pg_catalog.array_agg(DISTINCT a.list),
        pg_catalog.bool_or(a.filter IS NOT NULL)
    INTO v_paths, v_keys, v_codes, v_filters, v_scopes, v_items, v_contexts, v_lists, v_filtered
    FROM pliers._list_answers(p_definition, p_cleaned) AS a;
    IF v_paths IS NULL THEN
        RETURN '{}';
    END IF;

    -- One query on the primary key of the items (organization_id, list_id, code), the
    -- tenant as a value on both tables (one shard on Citus): the items answered, with
    -- their attributes when a filter reads them.
    SELECT pg_catalog.jsonb_object_agg(l.name || E'\x1f' || i.code, CASE WHEN v_filtered THEN i.attributes END)
    INTO v_found
    FROM pliers.choice_lists AS l
    INNER JOIN pliers.choice_list_items AS i ON l.organization_id = i.organization_id AND l.id = i.list_id
    WHERE l.organization_id = p_org
        AND i.organization_id = p_org
        AND l.deleted_at IS NULL
        AND l.name = ANY(v_lists)
        AND i.code = ANY(v_codes);
    v_found := coalesce(v_found, '{}');
    FOR v_i IN 1 .. pg_catalog.cardinality(v_paths) LOOP
        IF NOT v_found ? v_keys[v_i] THEN
            v_errors := v_errors || pliers._form_error(
                v_paths[v_i], 'invalid_choice',
                pg_catalog.format('%s is not one of the choices', pg_catalog.to_jsonb(v_codes[v_i]))
            );
        -- The choice filter as on inline choices (_check_expression_rules), the item's
        -- code and attributes as the choice.
        ELSIF v_filters[v_i] IS NOT NULL AND pliers._expr_eval(
            v_filters[v_i], p_cleaned, v_contexts[v_i], v_scopes[v_i], v_items[v_i],
            pg_catalog.jsonb_build_object('code', v_codes[v_i], 'attributes', v_found -> v_keys[v_i])
        ) IS DISTINCT FROM 'true'::jsonb THEN
            v_errors := v_errors || pliers._form_error(
                v_paths[v_i], 'choice_filtered_out',
                pg_catalog.format('%s is not among the choices offered by the other answers', pg_catalog.to_jsonb(v_codes[v_i]))
            );
        END IF;
    END LOOP;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_list_answers(uuid, jsonb, jsonb) IS
'Private, for the submission API: for each answer in p_cleaned (cleaned answers: visible fields only) of a field of '
'p_definition that names a choice list (groups and repeats walked; single_choice a code, multiple_choice and '
'ranking an array of codes), in document order, an error {path: $.data..., code: invalid_choice} for each code that '
'is not an item of that live list of organization p_org (the code inline choices get; "other" passes with '
'allowOther), and choice_filtered_out for an item that the field''s choiceFilter does not keep (evaluated on '
'p_cleaned in the answer''s scope, as on inline choices, with the item''s code and attributes as the choice). '
'Codes that are not strings are left to the pure validators. One indexed query, none when no answer names a list.';

-- ---------------------------------------------------------------------------
-- Privileges: the API to pliers_app, the helpers to nobody but the owner
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.choice_list_limits(),
pliers._is_translatable_text(jsonb, text[]),
pliers._check_choice_list_items(jsonb, text, text[]),
pliers._check_choice_list_attributes(text, text, text, text, text[]),
pliers._assert_valid_choice_list(text, text, text, text, text[], jsonb),
pliers._raise_choice_list_not_found(text),
pliers._choice_list_payload(pliers.choice_lists),
pliers._lock_choice_list(text),
pliers._item_columns(jsonb),
pliers._insert_choice_list_items(uuid, jsonb),
pliers.create_choice_list(text, text, jsonb, text, text, text[]),
pliers.replace_choice_list_items(text, jsonb, integer, text, text[]),
pliers.delete_choice_list(text, integer),
pliers.list_choice_lists(),
pliers.get_choice_list(text, integer, integer),
pliers._list_fields(jsonb),
pliers._list_answers(jsonb, jsonb),
pliers._check_list_references(uuid, jsonb),
pliers._check_list_answers(uuid, jsonb, jsonb)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.choice_list_limits(),
pliers.create_choice_list(text, text, jsonb, text, text, text[]),
pliers.replace_choice_list_items(text, jsonb, integer, text, text[]),
pliers.delete_choice_list(text, integer),
pliers.list_choice_lists(),
pliers.get_choice_list(text, integer, integer)
TO pliers_app;
