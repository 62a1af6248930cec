-- Form definitions (docs/forms.md, schemas/form-definition.schema.json):
-- validation of forms.definition, validation and cleaning of submission data
-- against a definition, and the breaking changes between two definitions.
-- Pure functions: they read no table and write nothing; the form and
-- submission API calls them. The public functions pin search_path = '';
-- the private helpers (leading _) run under that setting when called from
-- them and take no SET clause of their own (one per call would cost on the
-- submission path, and would stop the SQL helpers from being inlined).
-- The public functions are SECURITY DEFINER only so that pliers_app may call
-- them without being able to call the private helpers: they read nothing.

-- Small helpers ------------------------------------------------------------------

CREATE FUNCTION pliers._form_error(p_path text, p_code text, p_message text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('path', p_path, 'code', p_code, 'message', p_message)
$$;

COMMENT ON FUNCTION pliers._form_error(text, text, text) IS
'One validation error {path, code, message}: path is a JSON path ($.fields[2].choices, $.data.address.zip), '
'code a machine code listed in docs/forms.md, message a sentence for people.';

-- STABLE, as to_json is: declared IMMUTABLE it was not inlined, and the call cost the
-- interpreter 4 to 6 µs per field (bench/RESULTS.md, 2026-12-08).
CREATE FUNCTION pliers._json_path_key(p_key text)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_key ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN p_key ELSE to_json(p_key)::text END
$$;

COMMENT ON FUNCTION pliers._json_path_key(text) IS
'A key as a JSON path member: the key itself when it is an identifier, else double-quoted ($.data."first name").';

-- Names are the answer keys as the source wrote them (spaces, ?, :, /, -, quotes...):
-- only ., [ and ] are kept out (the separators of field paths: address.zip,
-- children[0].photo) and control characters, which lets U+001F separate names in
-- the lists of keys below.
CREATE FUNCTION pliers._valid_field_name(p_name text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(
        char_length(p_name) BETWEEN 1 AND 200
        AND p_name !~ '[].[[:cntrl:]]'
        AND p_name !~ '^[[:space:]]|[[:space:]]$',
        FALSE
    )
$$;

COMMENT ON FUNCTION pliers._valid_field_name(text) IS
'TRUE for a field name (an answer key): 1 to 200 characters, none of . [ ] or a control character, no leading or '
'trailing white space.';

-- The JSON path of the "other, please specify" text of the answer at p_path: the
-- sibling key <name>_other (quoted as the name is: $.data."my choice_other").
CREATE FUNCTION pliers._other_path(p_path text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN right(p_path, 1) = '"' THEN left(p_path, -1) || '_other"' ELSE p_path || '_other' END
$$;

COMMENT ON FUNCTION pliers._other_path(text) IS
'The JSON path of the <name>_other answer beside the answer at p_path ($.data.contract -> $.data.contract_other, '
'$.data."my choice" -> $.data."my choice_other").';

-- A translatable text (docs/forms.md, "Translations"): a string, or, when the form
-- declares languages, an object language -> string with the default language.
CREATE FUNCTION pliers._check_translatable(p_value jsonb, p_path text, p_languages jsonb, p_default text)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_errors jsonb[] := '{}';
    v_key text;
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'string' THEN
        RETURN v_errors;
    END IF;
    IF jsonb_typeof(p_value) <> 'object' OR p_languages IS NULL THEN
        RETURN ARRAY[pliers._form_error(
            p_path, 'invalid_type',
            CASE WHEN p_languages IS NULL THEN 'must be a string (translations need the form''s languages)'
                ELSE 'must be a string, or an object of translations by language' END
        )];
    END IF;
    FOR v_key IN SELECT k.key FROM jsonb_object_keys(p_value) AS k (key) ORDER BY k.key COLLATE "C" LOOP
        IF NOT p_languages ? v_key THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.' || pliers._json_path_key(v_key), 'unknown_language',
                format('%s is not one of the form''s languages', to_json(v_key))
            );
        ELSIF jsonb_typeof(p_value -> v_key) <> 'string' THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.' || pliers._json_path_key(v_key), 'invalid_type', 'must be a string'
            );
        END IF;
    END LOOP;
    IF p_default IS NOT NULL AND NOT p_value ? p_default THEN
        v_errors := v_errors || pliers._form_error(
            p_path, 'missing_default_translation', format('the text in the default language %s is missing', p_default)
        );
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_translatable(jsonb, text, jsonb, text) IS
'Errors of a translatable text at p_path (absent: none): a string, or, when p_languages (the form''s languages, '
'NULL when it declares none) is given, an object of strings by language whose keys are languages of the form '
'and include p_default (unknown_language, missing_default_translation, invalid_type).';

-- A point of a geo answer (geo_point, and each point of geotrace and geoshape).
CREATE FUNCTION pliers._geo_point_errors(p_value jsonb, p_path text)
RETURNS jsonb[]
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_errors jsonb[] := '{}';
BEGIN
    IF jsonb_typeof(p_value) <> 'object'
        OR jsonb_typeof(p_value -> 'lat') IS DISTINCT FROM 'number'
        OR jsonb_typeof(p_value -> 'lon') IS DISTINCT FROM 'number'
        OR (p_value - ARRAY['lat', 'lon', 'alt', 'accuracy']) <> '{}'::jsonb
        OR jsonb_typeof(coalesce(p_value -> 'alt', '0')) <> 'number'
        OR jsonb_typeof(coalesce(p_value -> 'accuracy', '0')) <> 'number' THEN
        RETURN ARRAY[pliers._form_error(
            p_path, 'invalid_geo_point',
            'must be {"lat": number, "lon": number} with optional numbers alt and accuracy'
        )];
    END IF;
    IF (p_value -> 'lat')::numeric NOT BETWEEN -90 AND 90 THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.lat', 'invalid_geo_point', 'latitude must be between -90 and 90'
        );
    END IF;
    IF (p_value -> 'lon')::numeric NOT BETWEEN -180 AND 180 THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.lon', 'invalid_geo_point', 'longitude must be between -180 and 180'
        );
    END IF;
    IF (p_value -> 'accuracy')::numeric < 0 THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.accuracy', 'invalid_geo_point', 'accuracy must not be negative'
        );
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._geo_point_errors(jsonb, text) IS
'Errors of one geographic point at p_path: {lat: -90..90, lon: -180..180, alt?, accuracy? >= 0}, no other key '
'(invalid_geo_point).';

CREATE FUNCTION pliers._is_blank(p_value jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT p_value IS NULL OR CASE jsonb_typeof(p_value)
        WHEN 'null' THEN TRUE
        WHEN 'string' THEN btrim(p_value #>> '{}', E' \t\r\n') = ''
        WHEN 'array' THEN jsonb_array_length(p_value) = 0
        WHEN 'object' THEN p_value = '{}'::jsonb
        ELSE FALSE
    END
$$;

COMMENT ON FUNCTION pliers._is_blank(jsonb) IS
'TRUE when an answer counts as not given: absent (SQL NULL), JSON null, a string of white space only, [] or {}. '
'Used by required and by the empty / not_empty condition operators.';

CREATE FUNCTION pliers._is_date(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_value ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' THEN
            substr(p_value, 1, 4)::integer >= 1
            AND substr(p_value, 9, 2)::integer <= CASE substr(p_value, 6, 2)
                WHEN '02' THEN CASE
                    WHEN substr(p_value, 1, 4)::integer % 400 = 0 THEN 29
                    WHEN substr(p_value, 1, 4)::integer % 100 = 0 THEN 28
                    WHEN substr(p_value, 1, 4)::integer % 4 = 0 THEN 29
                    ELSE 28
                END
                WHEN '04' THEN 30
                WHEN '06' THEN 30
                WHEN '09' THEN 30
                WHEN '11' THEN 30
                ELSE 31
            END
        ELSE FALSE
    END
$$;

COMMENT ON FUNCTION pliers._is_date(text) IS
'TRUE for a real calendar date written YYYY-MM-DD (years 0001 to 9999, leap years included). Never raises.';

CREATE FUNCTION pliers._is_datetime(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_value ~ (
            '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?'
            || '([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$'
        ) THEN pliers._is_date(substr(p_value, 1, 10))
        ELSE FALSE
    END
$$;

COMMENT ON FUNCTION pliers._is_datetime(text) IS
'TRUE for an ISO 8601 / RFC 3339 date and time with its offset: YYYY-MM-DDTHH:MM[:SS[.f]](Z|+HH:MM|-HH:MM), '
'on a real date. Never raises.';

CREATE FUNCTION pliers._compare_values(p_left jsonb, p_right jsonb)
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(p_left) = 'number' AND jsonb_typeof(p_right) = 'number' THEN
            (p_left::numeric > p_right::numeric)::integer - (p_left::numeric < p_right::numeric)::integer
        -- An ordinal choice code ("2") against a number (docs/forms.md, "Conditions").
        WHEN jsonb_typeof(p_left) = 'string' AND jsonb_typeof(p_right) = 'number'
            AND pliers._expr_ordnum(p_left #>> '{}') IS NOT NULL THEN
            (pliers._expr_ordnum(p_left #>> '{}') > p_right::numeric)::integer
            - (pliers._expr_ordnum(p_left #>> '{}') < p_right::numeric)::integer
        WHEN jsonb_typeof(p_left) = 'number' AND jsonb_typeof(p_right) = 'string'
            AND pliers._expr_ordnum(p_right #>> '{}') IS NOT NULL THEN
            (p_left::numeric > pliers._expr_ordnum(p_right #>> '{}'))::integer
            - (p_left::numeric < pliers._expr_ordnum(p_right #>> '{}'))::integer
        WHEN jsonb_typeof(p_left) <> 'string' OR jsonb_typeof(p_right) <> 'string' THEN NULL
        WHEN pliers._is_datetime(p_left #>> '{}') AND pliers._is_datetime(p_right #>> '{}') THEN
            ((p_left #>> '{}')::timestamptz > (p_right #>> '{}')::timestamptz)::integer
            - ((p_left #>> '{}')::timestamptz < (p_right #>> '{}')::timestamptz)::integer
        WHEN pliers._is_time(p_left #>> '{}') AND pliers._is_time(p_right #>> '{}') THEN
            ((p_left #>> '{}')::time > (p_right #>> '{}')::time)::integer
            - ((p_left #>> '{}')::time < (p_right #>> '{}')::time)::integer
        ELSE
            ((p_left #>> '{}') COLLATE "C" > (p_right #>> '{}') COLLATE "C")::integer
            - ((p_left #>> '{}') COLLATE "C" < (p_right #>> '{}') COLLATE "C")::integer
    END
$$;

COMMENT ON FUNCTION pliers._compare_values(jsonb, jsonb) IS
'-1, 0 or 1 as p_left is less than, equal to or greater than p_right; NULL when they cannot be compared. '
'Numbers compare as numbers, a decimal number string with a number as numbers (ordinal choice codes); two '
'date-times with offsets as instants; two times of day as times; '
'other strings by code point (right for YYYY-MM-DD dates). STABLE: the timestamptz cast is.';

-- STABLE, as jsonb_build_object is: declared IMMUTABLE it was not inlined, and cost a
-- function call (6 µs) per choice answer validated.
CREATE FUNCTION pliers._choice_allowed(p_field jsonb, p_code jsonb)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(p_field -> 'choices' @> jsonb_build_array(jsonb_build_object('code', p_code)), FALSE)
        OR coalesce(p_code = '"other"'::jsonb AND p_field -> 'allowOther' = 'true'::jsonb, FALSE)
        -- A shared list's codes are checked by the API (sql/44), not here.
        OR coalesce(p_field ? 'choiceList' AND jsonb_typeof(p_code) = 'string', FALSE)
$$;

COMMENT ON FUNCTION pliers._choice_allowed(jsonb, jsonb) IS
'TRUE when p_code is the code of one of the field''s choices, or is "other" on a field with allowOther: true, or '
'is any string on a field whose choices come from a choiceList (the API checks those).';

CREATE FUNCTION pliers._mime_accepted(p_accept jsonb, p_mime_type text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_pattern text;
    v_mime_type constant text := lower(p_mime_type);
BEGIN
    FOR v_i IN 0 .. jsonb_array_length(p_accept) - 1 LOOP
        v_pattern := p_accept ->> v_i;
        IF v_pattern = v_mime_type
            OR (right(v_pattern, 2) = '/*' AND starts_with(v_mime_type, left(v_pattern, -1))) THEN
            RETURN TRUE;
        END IF;
    END LOOP;
    RETURN FALSE;
END
$$;

COMMENT ON FUNCTION pliers._mime_accepted(jsonb, text) IS
'TRUE when a media type (image/png, or a pattern such as image/*) matches one of the patterns of an accept list '
'(["image/*", "application/pdf"]): equal, or type/* and the same type.';

-- Input limits ---------------------------------------------------------------------
-- Every input of the validators is bounded, and each bound is checked before the work
-- it bounds, so that a hostile definition or answer is refused in bounded time
-- (docs/forms.md, "Limits"). One place holds the values.

CREATE FUNCTION pliers.form_limits()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT '{
        "definition_bytes": 1048576,
        "data_bytes": 4194304,
        "json_depth": 128,
        "fields": 2000,
        "field_depth": 32,
        "choices": 10000,
        "conditions": 10000,
        "condition_depth": 16,
        "array_items": 10000,
        "sections": 1000,
        "pattern_chars": 1000,
        "answer_chars": 100000,
        "expression_nodes": 500
    }'::jsonb
$$;

COMMENT ON FUNCTION pliers.form_limits() IS
'The input limits of the definition and answer validators, by name: definition_bytes (JSON text of a definition), '
'data_bytes (JSON text of the answers), json_depth (nesting of objects and arrays, definition and answers), fields '
'(in a definition, nested ones included), field_depth (groups and repeats inside one another), choices (of one '
'field), conditions (field tests and expression references in a definition), condition_depth (all / any / not '
'inside one another), array_items (any other array of a definition or of the answers), pattern_chars (a '
'validation pattern), answer_chars (a text answer), expression_nodes (the nodes of one expression). Exceeding one '
'raises PL001 with one error naming it '
'(docs/forms.md).';

CREATE FUNCTION pliers._raise_limit(p_path text, p_code text, p_message text)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RAISE EXCEPTION 'input limit exceeded: % %', p_path, p_message
        USING
            ERRCODE = 'PL001',
            DETAIL = jsonb_build_object('errors', jsonb_build_array(pliers._form_error(p_path, p_code, p_message)))::text,
            HINT = 'pliers.form_limits() lists the limits; docs/forms.md explains them.';
END
$$;

COMMENT ON FUNCTION pliers._raise_limit(text, text, text) IS
'Raises PL001 with DETAIL {"errors": [{path, code, message}]}: an input limit is exceeded, and validation stops there.';

-- The limits that bound the whole document, before it is walked: its size, its nesting
-- (every walk below is bounded by it: recursion, containment tests, paths) and, for the
-- answers, the length of any array. jsonpath's .** stops at the level asked, so a
-- deeper document costs no more than one of the limit's depth.
CREATE FUNCTION pliers._check_document_limits(p_value jsonb, p_path text, p_bytes text, p_arrays boolean)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_limits constant jsonb := pliers.form_limits();
    v_depth constant integer := (v_limits ->> 'json_depth')::integer;
BEGIN
    IF p_bytes IS NOT NULL AND octet_length(p_value::text) > (v_limits ->> p_bytes)::integer THEN
        PERFORM pliers._raise_limit(
            p_path, CASE p_bytes WHEN 'data_bytes' THEN 'data_too_large' ELSE 'definition_too_large' END,
            format('larger than %s bytes of JSON text', v_limits ->> p_bytes)
        );
    END IF;
    IF jsonb_path_exists(
        p_value, format('strict $.**{%s} ? (@.type() == "object" || @.type() == "array")', v_depth)::jsonpath
    ) THEN
        PERFORM pliers._raise_limit(
            p_path, 'nesting_too_deep', format('objects and arrays are nested more than %s deep', v_depth)
        );
    END IF;
    IF p_arrays AND jsonb_path_exists(
        p_value, format('strict $.**{0 to %s} ? (@.type() == "array" && @.size() > %s)', v_depth - 1,
            v_limits ->> 'array_items')::jsonpath
    ) THEN
        PERFORM pliers._raise_limit(
            p_path, 'array_too_long', format('an array has more than %s items', v_limits ->> 'array_items')
        );
    END IF;
    RETURN TRUE;
END
$$;

COMMENT ON FUNCTION pliers._check_document_limits(jsonb, text, text, boolean) IS
'TRUE, or raises PL001 (_raise_limit) when p_value, a definition or answers at JSON path p_path, is larger than the limit '
'named p_bytes (definition_bytes, data_bytes; NULL: not checked), nested deeper than json_depth, or, if p_arrays, '
'holds an array longer than array_items (pliers.form_limits()).';

-- A list of the definition longer than array_items, refused before it is walked.
CREATE FUNCTION pliers._check_array_limit(p_array jsonb, p_path text, p_limit text DEFAULT 'array_items')
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    IF jsonb_typeof(p_array) = 'array'
        AND jsonb_array_length(p_array) > (pliers.form_limits() ->> p_limit)::integer THEN
        PERFORM pliers._raise_limit(
            p_path, CASE p_limit WHEN 'choices' THEN 'too_many_choices' WHEN 'sections' THEN 'too_many_sections' ELSE 'array_too_long' END,
            format('more than %s items', pliers.form_limits() ->> p_limit)
        );
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._check_array_limit(jsonb, text, text) IS
'Raises PL001 (_raise_limit) when p_array, at JSON path p_path, has more items than the limit p_limit '
'(array_items, or choices: code too_many_choices; else array_too_long).';

-- Conditions -----------------------------------------------------------------------

CREATE FUNCTION pliers._eval_condition(
    p_condition jsonb, p_root jsonb, p_context jsonb, p_scope text, p_item jsonb
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_ref constant text := p_condition ->> 'field';
    v_expected constant jsonb := p_condition -> 'value';
    v_parts text[];
    v_prefix text;
    v_value jsonb;
    v_found boolean := FALSE;
BEGIN
    IF v_ref IS NULL THEN
        IF p_condition ? 'expression' THEN
            RETURN coalesce(
                pliers._expr_eval(p_condition -> 'expression', p_root, p_context, p_scope, p_item) = 'true'::jsonb, FALSE
            );
        ELSIF p_condition ? 'all' THEN
            FOR v_i IN 0 .. jsonb_array_length(p_condition -> 'all') - 1 LOOP
                IF NOT pliers._eval_condition(p_condition -> 'all' -> v_i, p_root, p_context, p_scope, p_item) THEN
                    RETURN FALSE;
                END IF;
            END LOOP;
            RETURN TRUE;
        ELSIF p_condition ? 'any' THEN
            FOR v_i IN 0 .. jsonb_array_length(p_condition -> 'any') - 1 LOOP
                IF pliers._eval_condition(p_condition -> 'any' -> v_i, p_root, p_context, p_scope, p_item) THEN
                    RETURN TRUE;
                END IF;
            END LOOP;
            RETURN FALSE;
        ELSIF p_condition ? 'not' THEN
            RETURN NOT pliers._eval_condition(p_condition -> 'not', p_root, p_context, p_scope, p_item);
        END IF;
        RETURN FALSE;
    END IF;

    -- The answer referred to: a dotted path from the root of the form. Inside a
    -- repeat item, the path through the repeat reads the current item (p_item, whose
    -- repeat path is p_scope) or an enclosing one (p_context, by repeat path);
    -- everything else reads the root. #> extracts the answer alone: taking the
    -- object first (->) would copy it on every test.
    IF strpos(v_ref, '.') = 0 THEN
        v_value := p_root -> v_ref;
    ELSE
        v_parts := string_to_array(v_ref, '.');
        FOR v_i IN REVERSE cardinality(v_parts) - 1 .. 1 LOOP
            v_prefix := array_to_string(v_parts[1:v_i], '.');
            IF v_prefix = p_scope THEN
                v_value := p_item #> v_parts[v_i + 1:];
                v_found := TRUE;
                EXIT;
            ELSIF p_context ? v_prefix THEN
                v_value := p_context #> (v_prefix || v_parts[v_i + 1:]);
                v_found := TRUE;
                EXIT;
            END IF;
        END LOOP;
        IF NOT v_found THEN
            v_value := p_root #> v_parts;
        END IF;
    END IF;

    CASE p_condition ->> 'operator'
        WHEN 'equals' THEN
            RETURN coalesce(v_value = v_expected, FALSE);
        WHEN 'not_equals' THEN
            RETURN coalesce(v_value <> v_expected, TRUE);
        WHEN 'empty' THEN
            RETURN pliers._is_blank(v_value);
        WHEN 'not_empty' THEN
            RETURN NOT pliers._is_blank(v_value);
        WHEN 'in', 'not_in' THEN
            v_found := FALSE;
            IF v_value IS NULL OR jsonb_typeof(v_expected) IS DISTINCT FROM 'array' THEN
                v_found := FALSE;
            ELSIF jsonb_typeof(v_value) = 'array' THEN
                FOR v_i IN 0 .. jsonb_array_length(v_value) - 1 LOOP
                    IF v_expected @> jsonb_build_array(v_value -> v_i) THEN
                        v_found := TRUE;
                        EXIT;
                    END IF;
                END LOOP;
            ELSE
                v_found := v_expected @> jsonb_build_array(v_value);
            END IF;
            RETURN CASE WHEN p_condition ->> 'operator' = 'in' THEN v_found ELSE NOT v_found END;
        WHEN 'greater_than' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) > 0, FALSE);
        WHEN 'greater_or_equal' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) >= 0, FALSE);
        WHEN 'less_than' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) < 0, FALSE);
        WHEN 'less_or_equal' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) <= 0, FALSE);
        ELSE
            RETURN FALSE;
    END CASE;
END
$$;

COMMENT ON FUNCTION pliers._eval_condition(jsonb, jsonb, jsonb, text, jsonb) IS
'Evaluates a visibleWhen / requiredWhen condition ({field, operator, value}, {all: [...]}, {any: [...]}, '
'{not: ...}) against the cleaned answers: p_root (the root), p_item (the current repeat item, at repeat path '
'p_scope; the root itself at the root, with p_scope '''') and p_context (the enclosing items: {"<repeat path>": item}). '
'A missing answer is blank: equals, in and the comparisons are false on it, not_equals and not_in true.';

-- Answers ----------------------------------------------------------------------------

-- Builders that inline files and signatures send data URLs; pliersdb keeps files as
-- attachments (docs/forms.md, "Files and signatures"): the error says what to do.
CREATE FUNCTION pliers._is_data_url(p_value jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_typeof(p_value) = 'string' AND left(p_value #>> '{}', 5) = 'data:', FALSE)
$$;

COMMENT ON FUNCTION pliers._is_data_url(jsonb) IS
'TRUE when an answer is a string data URL (data:image/png;base64,...), which a file or signature answer must not be.';

CREATE FUNCTION pliers._data_url_error(p_path text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pliers._form_error(
        p_path, 'data_url_not_accepted',
        'a data URL is not accepted: upload the file as an attachment and send the attachment id'
    )
$$;

COMMENT ON FUNCTION pliers._data_url_error(text) IS
'The data_url_not_accepted error at p_path: a file or signature answer sent inline as a data URL.';

CREATE FUNCTION pliers._check_answer(
    p_field jsonb,
    p_kind text,
    p_value jsonb,
    p_path text,
    p_final boolean,
    p_required boolean,
    p_other jsonb,
    p_attachments jsonb
)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_rules constant jsonb := coalesce(p_field -> 'validation', '{}');
    v_type constant text := jsonb_typeof(p_value);
    v_errors jsonb[] := '{}';
    v_text text;
    v_number numeric;
    v_limit jsonb;
    v_count integer;
    v_item jsonb;
    v_repeated boolean[];
    v_known boolean[];
    v_attachment jsonb;
    v_item_path text;
BEGIN
    CASE
        WHEN p_kind IN ('text', 'textarea', 'password', 'email', 'url', 'phone') THEN
            IF v_type <> 'string' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be a string')];
            END IF;
            v_text := p_value #>> '{}';
            -- Formats and patterns are matched on it: bounded first.
            IF char_length(v_text) > 1000
                AND char_length(v_text) > (pliers.form_limits() ->> 'answer_chars')::integer THEN
                PERFORM pliers._raise_limit(
                    p_path, 'string_too_long',
                    format('a text answer has at most %s characters', pliers.form_limits() ->> 'answer_chars')
                );
            END IF;
            IF p_kind = 'email' AND v_text !~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$' THEN
                v_errors := v_errors || pliers._form_error(p_path, 'invalid_email', 'must be an e-mail address');
            ELSIF p_kind = 'url' AND v_text !~ '^https?://[^\s/?#]+([/?#]\S*)?$' THEN
                v_errors := v_errors || pliers._form_error(p_path, 'invalid_url', 'must be an http or https URL');
            ELSIF p_kind = 'phone' AND v_rules ->> 'format' = 'e164' THEN
                IF v_text !~ '^\+[1-9][0-9]{1,14}$' THEN
                    v_errors := v_errors || pliers._form_error(
                        p_path, 'invalid_phone', 'must be an E.164 phone number: + and 2 to 15 digits, such as +33123456789'
                    );
                END IF;
            ELSIF p_kind = 'phone' THEN
                -- Lenient: what people type, an extension (ext, ext., x, #) apart.
                v_text := regexp_replace(v_text, '[[:space:]]*(ext\.?|x|#)[[:space:]]*[0-9]{1,6}$', '', 'i');
                IF v_text !~ '^\+?[0-9 ()./-]+$'
                    OR length(regexp_replace(v_text, '[^0-9]', '', 'g')) NOT BETWEEN 3 AND 15 THEN
                    v_errors := v_errors || pliers._form_error(
                        p_path, 'invalid_phone',
                        'must be a phone number: 3 to 15 digits, optional +, spaces, ( ) . - /, optional extension (ext 12)'
                    );
                END IF;
                v_text := p_value #>> '{}';
            END IF;
            IF char_length(v_text) < (v_rules ->> 'minLength')::numeric THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_short', format('must be at least %s characters long', v_rules ->> 'minLength')
                );
            END IF;
            IF char_length(v_text) > (v_rules ->> 'maxLength')::numeric THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_long', format('must be at most %s characters long', v_rules ->> 'maxLength')
                );
            END IF;
            IF v_text !~ (v_rules ->> 'pattern') THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'pattern_mismatch', format('must match the pattern %s', v_rules ->> 'pattern')
                );
            END IF;

        WHEN p_kind IN ('number', 'integer', 'currency', 'rating') THEN
            IF v_type <> 'number' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be a number')];
            END IF;
            v_number := p_value::numeric;
            IF p_kind IN ('integer', 'rating') AND v_number <> trunc(v_number) THEN
                RETURN ARRAY[pliers._form_error(p_path, 'not_integer', 'must be a whole number')];
            END IF;
            IF p_kind IN ('number', 'currency')
                AND scale(trim_scale(v_number))
                > coalesce((v_rules ->> 'decimals')::integer, CASE WHEN p_kind = 'currency' THEN 2 END) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_many_decimals',
                    format(
                        'must have at most %s decimal places',
                        coalesce((v_rules ->> 'decimals')::integer, CASE WHEN p_kind = 'currency' THEN 2 END)
                    )
                );
            END IF;
            v_limit := coalesce(v_rules -> 'min', CASE WHEN p_kind = 'rating' THEN '1'::jsonb END);
            IF v_number < v_limit::numeric THEN
                v_errors := v_errors || pliers._form_error(p_path, 'below_minimum', format('must be at least %s', v_limit));
            END IF;
            v_limit := coalesce(v_rules -> 'max', CASE WHEN p_kind = 'rating' THEN '5'::jsonb END);
            IF v_number > v_limit::numeric THEN
                v_errors := v_errors || pliers._form_error(p_path, 'above_maximum', format('must be at most %s', v_limit));
            END IF;

        WHEN p_kind IN ('date', 'time', 'datetime') THEN
            v_text := p_value #>> '{}';
            IF v_type <> 'string'
                OR (p_kind = 'date' AND NOT pliers._is_date(v_text))
                OR (p_kind = 'time' AND NOT pliers._is_time(v_text))
                OR (p_kind = 'datetime' AND NOT pliers._is_datetime(v_text)) THEN
                RETURN ARRAY[pliers._form_error(
                    p_path, 'invalid_' || p_kind,
                    CASE p_kind
                        WHEN 'date' THEN 'must be a date YYYY-MM-DD'
                        WHEN 'time' THEN 'must be a time HH:MM or HH:MM:SS'
                        ELSE 'must be a date and time with offset, YYYY-MM-DDTHH:MM:SS+HH:MM or ...Z'
                    END
                )];
            END IF;
            IF v_rules ? 'min' AND (CASE p_kind
                WHEN 'date' THEN v_text COLLATE "C" < (v_rules ->> 'min') COLLATE "C"
                WHEN 'time' THEN v_text::time < (v_rules ->> 'min')::time
                ELSE v_text::timestamptz < (v_rules ->> 'min')::timestamptz
            END) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'below_minimum', format('must be %s or later', v_rules ->> 'min')
                );
            END IF;
            IF v_rules ? 'max' AND (CASE p_kind
                WHEN 'date' THEN v_text COLLATE "C" > (v_rules ->> 'max') COLLATE "C"
                WHEN 'time' THEN v_text::time > (v_rules ->> 'max')::time
                ELSE v_text::timestamptz > (v_rules ->> 'max')::timestamptz
            END) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'above_maximum', format('must be %s or earlier', v_rules ->> 'max')
                );
            END IF;

        WHEN p_kind IN ('boolean', 'consent') THEN
            IF v_type <> 'boolean' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be true or false')];
            END IF;
            IF p_kind = 'consent' AND p_required AND p_final AND p_value = 'false'::jsonb THEN
                v_errors := v_errors || pliers._form_error(p_path, 'consent_required', 'must be given (true)');
            END IF;

        WHEN p_kind = 'single_choice' THEN
            IF v_type <> 'string' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be the code of a choice (a string)')];
            END IF;
            IF NOT pliers._choice_allowed(p_field, p_value) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'invalid_choice', format('%s is not one of the choices', p_value)
                );
            END IF;

        WHEN p_kind IN ('multiple_choice', 'ranking') THEN
            IF v_type <> 'array' THEN
                RETURN ARRAY[pliers._form_error(
                    p_path, 'invalid_type',
                    CASE p_kind WHEN 'ranking' THEN 'must be an array of choice codes in rank order'
                        ELSE 'must be an array of choice codes' END
                )];
            END IF;
            -- Repeats and unknown codes found by one query (a hash per answer), not by
            -- searching the items seen and the choices for each item.
            SELECT array_agg(e.nth > 1 ORDER BY e.i), array_agg(c.code IS NOT NULL ORDER BY e.i)
            INTO v_repeated, v_known
            FROM (
                SELECT x.item, x.i, row_number() OVER (PARTITION BY x.item ORDER BY x.i) AS nth
                FROM jsonb_array_elements(p_value) WITH ORDINALITY AS x (item, i)
            ) AS e
            LEFT JOIN (
                SELECT DISTINCT ch.choice -> 'code' AS code
                FROM jsonb_array_elements(p_field -> 'choices') AS ch (choice)
            ) AS c ON e.item = c.code;
            FOR v_i IN 0 .. jsonb_array_length(p_value) - 1 LOOP
                v_item := p_value -> v_i;
                v_item_path := p_path || '[' || v_i || ']';
                IF jsonb_typeof(v_item) <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'invalid_type', 'must be the code of a choice (a string)'
                    );
                ELSIF v_repeated[v_i + 1] THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'duplicate_item', format('%s is selected more than once', v_item)
                    );
                ELSIF NOT v_known[v_i + 1] AND NOT p_field ? 'choiceList'
                    AND NOT coalesce(v_item = '"other"'::jsonb AND p_field -> 'allowOther' = 'true'::jsonb, FALSE) THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'invalid_choice', format('%s is not one of the choices', v_item)
                    );
                END IF;
            END LOOP;

        WHEN p_kind = 'file' THEN
            IF v_type <> 'array' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be an array of attachment ids')];
            END IF;
            SELECT array_agg(e.nth > 1 ORDER BY e.i)
            INTO v_repeated
            FROM (
                SELECT x.i, row_number() OVER (PARTITION BY x.item ORDER BY x.i) AS nth
                FROM jsonb_array_elements(p_value) WITH ORDINALITY AS x (item, i)
            ) AS e;
            FOR v_i IN 0 .. jsonb_array_length(p_value) - 1 LOOP
                v_item := p_value -> v_i;
                v_item_path := p_path || '[' || v_i || ']';
                IF jsonb_typeof(v_item) <> 'string'
                    OR (v_item #>> '{}') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                    v_errors := v_errors || CASE WHEN pliers._is_data_url(v_item) THEN pliers._data_url_error(v_item_path)
                        ELSE pliers._form_error(v_item_path, 'invalid_attachment_id', 'must be an attachment id (a lower-case UUID)')
                    END;
                    CONTINUE;
                ELSIF v_repeated[v_i + 1] THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'duplicate_item', format('attachment %s is listed more than once', v_item)
                    );
                    CONTINUE;
                END IF;
                CONTINUE WHEN p_attachments IS NULL;
                v_attachment := p_attachments -> (v_item #>> '{}');
                IF v_attachment IS NULL THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'attachment_not_found', format('attachment %s does not exist', v_item)
                    );
                    CONTINUE;
                END IF;
                IF v_rules ? 'accept'
                    AND NOT pliers._mime_accepted(v_rules -> 'accept', v_attachment ->> 'mime_type') THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'file_type_not_allowed',
                        format('files of type %s are not accepted', v_attachment ->> 'mime_type')
                    );
                END IF;
                IF (v_attachment ->> 'file_size_bytes')::numeric > (v_rules ->> 'maxSizeBytes')::numeric THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'file_too_large',
                        format('the file is larger than %s bytes', v_rules ->> 'maxSizeBytes')
                    );
                END IF;
            END LOOP;

        WHEN p_kind = 'signature' THEN
            IF v_type <> 'string'
                OR (p_value #>> '{}') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                RETURN ARRAY[CASE WHEN pliers._is_data_url(p_value) THEN pliers._data_url_error(p_path)
                    ELSE pliers._form_error(p_path, 'invalid_attachment_id', 'must be the attachment id of the signature image')
                END];
            END IF;
            IF p_attachments IS NOT NULL AND NOT p_attachments ? (p_value #>> '{}') THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'attachment_not_found', format('attachment %s does not exist', p_value)
                );
            END IF;

        WHEN p_kind = 'geo_point' THEN
            v_errors := pliers._geo_point_errors(p_value, p_path);

        WHEN p_kind IN ('geotrace', 'geoshape') THEN
            -- A line (at least 2 points) or a closed ring (at least 4, the last the first).
            IF v_type <> 'array' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be an array of points {lat, lon}')];
            END IF;
            FOR v_i IN 0 .. jsonb_array_length(p_value) - 1 LOOP
                v_errors := v_errors || pliers._geo_point_errors(p_value -> v_i, p_path || '[' || v_i || ']');
            END LOOP;
            v_count := CASE p_kind WHEN 'geotrace' THEN 2 ELSE 4 END;
            IF jsonb_array_length(p_value) < v_count THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_few_points', format('must have at least %s points', v_count)
                );
            ELSIF p_kind = 'geoshape' AND p_value -> 0 <> p_value -> -1 THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'ring_not_closed', 'the last point of a shape must be its first point (a closed ring)'
                );
            END IF;

        ELSE
            -- hidden: any JSON value; group, repeat, display, calculated: checked by the caller.
            NULL;
    END CASE;

    -- A ranking without bounds ranks every choice (a final answer).
    IF p_kind = 'ranking' AND p_final AND NOT v_rules ?| ARRAY['minItems', 'maxItems']
        AND jsonb_typeof(p_field -> 'choices') = 'array'
        AND jsonb_array_length(p_value) < jsonb_array_length(p_field -> 'choices') THEN
        v_errors := v_errors || pliers._form_error(
            p_path, 'incomplete_ranking',
            format('must rank all %s choices', jsonb_array_length(p_field -> 'choices'))
        );
    END IF;

    -- Number of items: multiple choice, ranking and file (repeat: checked by the caller).
    IF p_kind IN ('multiple_choice', 'ranking', 'file') THEN
        v_count := jsonb_array_length(p_value);
        IF p_final AND v_count < (v_rules ->> 'minItems')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'too_few_items', format('must have at least %s items', v_rules ->> 'minItems')
            );
        END IF;
        IF v_count > (v_rules ->> 'maxItems')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'too_many_items', format('must have at most %s items', v_rules ->> 'maxItems')
            );
        END IF;
    END IF;

    -- "Other, please specify": the free text is the sibling answer <name>_other.
    IF p_field -> 'allowOther' = 'true'::jsonb
        AND (p_value = '"other"'::jsonb OR (v_type = 'array' AND p_value ? 'other')) THEN
        IF pliers._is_blank(p_other) THEN
            IF p_final THEN
                v_errors := v_errors || pliers._form_error(
                    pliers._other_path(p_path), 'other_text_required', 'please specify the other answer'
                );
            END IF;
        ELSIF jsonb_typeof(p_other) <> 'string' THEN
            v_errors := v_errors || pliers._form_error(pliers._other_path(p_path), 'invalid_type', 'must be a string');
        END IF;
    END IF;

    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_answer(jsonb, text, jsonb, text, boolean, boolean, jsonb, jsonb) IS
'Errors of one non-blank answer p_value of a leaf field of kind p_kind (type, format, the rules of its validation '
'object, choices, attachments). p_final: enforce completeness (minItems, consent true, other text). p_required: the '
'field is required here (consent). p_other: the <name>_other answer. p_attachments: see validate_submission_data. '
'Assumes a valid definition (rules are not re-checked: a bad pattern would raise).';

-- Submission data ----------------------------------------------------------------------

-- The unknown keys of an object of the answers (the root, a repeat item, a group):
-- _process_instance and the compiled validators (sql/43) report them so.
CREATE FUNCTION pliers._unknown_field_errors(p_object jsonb, p_known text[], p_path text, p_of text)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_errors jsonb[] := '{}';
    v_key text;
BEGIN
    FOR v_key IN
        SELECT k.key
        FROM pg_catalog.jsonb_object_keys(p_object - p_known) AS k (key)
        ORDER BY k.key COLLATE "C"
    LOOP
        v_errors := v_errors || pliers._form_error(
            p_path || '.' || pliers._json_path_key(v_key), 'unknown_field',
            pg_catalog.format('%s is not a field of this %s', pg_catalog.to_json(v_key), p_of)
        );
    END LOOP;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._unknown_field_errors(jsonb, text[], text, text) IS
'An unknown_field error for each key of p_object not in p_known, by key (C order), '
'at p_path.<key>; p_of: form or group, for the message.';


CREATE FUNCTION pliers._process_instance(
    p_fields jsonb,
    p_raw jsonb,
    p_root jsonb,
    p_context jsonb,
    p_scope text,
    p_path text,
    p_validate boolean,
    p_final boolean,
    p_attachments jsonb,
    OUT cleaned jsonb,
    OUT errors jsonb[]
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    -- The fields of this instance (the root, or one repeat item), groups
    -- flattened depth-first: a group comes before its fields (parent < child).
    s_field jsonb[] := '{}';
    s_kind text[] := '{}';
    s_name text[] := '{}';
    s_parent integer[] := '{}';
    s_keys text[] := '{}';          -- key path from the instance, names separated by U+001F
    s_path text[] := '{}';          -- JSON path for errors
    s_raw jsonb[] := '{}';          -- the answer as received
    s_cond jsonb[] := '{}';         -- visibility condition, NULL if none
    s_known text[] := '{}';         -- groups: the keys their object may hold
    s_vis boolean[] := '{}';
    s_bad boolean[] := '{}';        -- inside a group whose answer is not an object
    s_calc boolean[] := '{}';       -- a calculation evaluated here (an expression, not a string)
    -- Frames of the depth-first walk.
    fr_fields jsonb[];
    fr_next integer[];
    fr_slot integer[];
    -- The keys each object may hold (slot 0: the instance), gathered as pairs and
    -- joined once: appending to one string per field was quadratic.
    k_slot integer[] := '{}';
    k_name text[] := '{}';
    v_nk integer := 0;
    s_end integer[] := '{}';        -- last field inside a group (itself for other kinds)
    v_tokens text[];                -- the cleaned object as JSON text, in pieces
    v_nt integer;
    st_first boolean[];
    st_end integer[];
    v_sd integer;
    v_depth integer := 1;
    v_root_known text := '';
    v_n integer := 0;
    v_has_conditions boolean := FALSE;
    v_has_calcs boolean := FALSE;
    v_field jsonb;
    v_kind text;
    v_name text;
    v_parent integer;
    v_value jsonb;
    v_drop boolean;
    v_other jsonb;
    v_visible boolean;
    v_changed boolean;
    v_rounds integer := 0;
    v_root jsonb;
    v_context jsonb;
    v_required boolean;
    v_rules jsonb;
    v_items jsonb[];
    v_items_changed boolean;
    v_item jsonb;
    v_scope text;
    v_result record;
    v_answered integer;
BEGIN
    errors := '{}';
    fr_fields := ARRAY[CASE WHEN jsonb_typeof(p_fields) = 'array' THEN p_fields ELSE '[]'::jsonb END];
    fr_next := ARRAY[0];
    fr_slot := ARRAY[0];

    -- 1. Flatten the fields of this instance (not the fields of nested repeats).
    WHILE v_depth > 0 LOOP
        IF fr_next[v_depth] < jsonb_array_length(fr_fields[v_depth]) THEN
            v_field := fr_fields[v_depth] -> fr_next[v_depth];
            fr_next[v_depth] := fr_next[v_depth] + 1;
            v_n := v_n + 1;
            v_parent := fr_slot[v_depth];
            v_name := v_field ->> 'name';
            s_field[v_n] := v_field;
            s_kind[v_n] := v_field ->> 'type';
            s_name[v_n] := v_name;
            s_parent[v_n] := v_parent;
            IF v_parent = 0 THEN
                s_keys[v_n] := v_name;
                s_path[v_n] := p_path || '.' || pliers._json_path_key(v_name);
                s_raw[v_n] := p_raw -> v_name;
            ELSE
                -- U+001F: no name holds a control character (_valid_field_name).
                s_keys[v_n] := s_keys[v_parent] || E'\x1f' || v_name;
                s_path[v_n] := s_path[v_parent] || '.' || pliers._json_path_key(v_name);
                s_raw[v_n] := s_raw[v_parent] -> v_name;
            END IF;
            IF v_field ?| ARRAY['visibleWhen', 'conditional'] THEN
                s_cond[v_n] := CASE
                    WHEN v_field ? 'visibleWhen' THEN v_field -> 'visibleWhen'
                    WHEN jsonb_typeof(v_field #> '{conditional,when}') = 'array' THEN CASE
                        WHEN jsonb_array_length(v_field #> '{conditional,when}') = 0 THEN NULL
                        WHEN v_field #> '{conditional,show}' = 'false'::jsonb
                            THEN jsonb_build_object('not', jsonb_build_object('all', v_field #> '{conditional,when}'))
                        ELSE jsonb_build_object('all', v_field #> '{conditional,when}')
                    END
                END;
                v_has_conditions := v_has_conditions OR s_cond[v_n] IS NOT NULL;
            END IF;
            s_vis[v_n] := TRUE;
            s_calc[v_n] := s_kind[v_n] = 'calculated' AND jsonb_typeof(v_field -> 'expression') <> 'string';
            v_has_calcs := v_has_calcs OR s_calc[v_n];
            s_end[v_n] := v_n;
            v_nk := v_nk + 1;
            k_slot[v_nk] := v_parent;
            k_name[v_nk] := v_name;
            IF v_field -> 'allowOther' = 'true'::jsonb THEN
                v_nk := v_nk + 1;
                k_slot[v_nk] := v_parent;
                k_name[v_nk] := v_name || '_other';
            END IF;
            IF s_kind[v_n] = 'group' AND jsonb_typeof(v_field -> 'fields') = 'array' THEN
                v_depth := v_depth + 1;
                fr_fields[v_depth] := v_field -> 'fields';
                fr_next[v_depth] := 0;
                fr_slot[v_depth] := v_n;
                s_known[v_n] := '';
            END IF;
        ELSE
            IF fr_slot[v_depth] <> 0 THEN
                s_end[fr_slot[v_depth]] := v_n;
            END IF;
            v_depth := v_depth - 1;
        END IF;
    END LOOP;
    IF v_nk > 0 AND NOT 'group' = ANY (s_kind) THEN
        v_root_known := E'\x1f' || array_to_string(k_name, E'\x1f');
    ELSE
        FOR v_result IN
            SELECT k.slot, string_agg(E'\x1f' || k.name, '' ORDER BY k.ord) AS known
            FROM unnest(k_slot, k_name) WITH ORDINALITY AS k (slot, name, ord)
            GROUP BY k.slot
        LOOP
            IF v_result.slot = 0 THEN
                v_root_known := v_result.known;
            ELSE
                s_known[v_result.slot] := v_result.known;
            END IF;
        END LOOP;
    END IF;

    -- 2. Visibility: a field is visible when its group is and its condition holds
    -- on the cleaned answers (those of visible fields). Start from "all visible",
    -- clean, re-evaluate, until nothing changes: without cycles (the definition
    -- validation refuses them) this reaches the one consistent state.
    LOOP
        -- Anything to drop? Usually not, and the answers are kept as they are (not with
        -- calculations: they put their values in).
        v_drop := v_has_calcs OR p_raw - string_to_array(v_root_known, E'\x1f') <> '{}'::jsonb;
        FOR v_i IN 1 .. v_n LOOP
            EXIT WHEN v_drop;
            v_value := s_raw[v_i];
            v_drop := CASE
                WHEN s_field[v_i] -> 'allowOther' = 'true'::jsonb
                    AND (CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END) ? (s_name[v_i] || '_other')
                    AND NOT coalesce(
                        s_vis[v_i] AND (v_value = '"other"'::jsonb OR (jsonb_typeof(v_value) = 'array' AND v_value ? 'other'))
                        AND (CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END)
                        -> (s_name[v_i] || '_other') <> 'null'::jsonb,
                        FALSE
                    ) THEN TRUE
                WHEN v_value IS NULL THEN FALSE
                WHEN NOT s_vis[v_i] OR s_kind[v_i] IN ('display', 'calculated') OR v_value = 'null'::jsonb THEN TRUE
                WHEN s_kind[v_i] = 'group' AND jsonb_typeof(v_value) = 'object'
                    THEN v_value - string_to_array(s_known[v_i], E'\x1f') <> '{}'::jsonb
                ELSE FALSE
            END;
        END LOOP;

        IF NOT v_drop THEN
            cleaned := p_raw;
        ELSE
            -- Rebuild the object as text in document order, opening and closing the
            -- objects of groups, and parse it once.
            v_tokens := '{}';
            v_nt := 0;
            st_first := ARRAY[TRUE];
            st_end := ARRAY[v_n];
            v_sd := 1;
            FOR v_i IN 1 .. v_n LOOP
                WHILE v_sd > 1 AND st_end[v_sd] < v_i LOOP
                    v_nt := v_nt + 1;
                    v_tokens[v_nt] := '}';
                    v_sd := v_sd - 1;
                END LOOP;
                v_value := s_raw[v_i];
                CONTINUE WHEN v_value IS NULL OR v_value = 'null'::jsonb OR NOT s_vis[v_i]
                    OR s_kind[v_i] = 'display' OR (s_kind[v_i] = 'calculated' AND NOT s_calc[v_i]);
                v_nt := v_nt + 1;
                -- Keys as JSON strings: names may hold quotes and backslashes.
                v_tokens[v_nt] := CASE WHEN st_first[v_sd] THEN '' ELSE ',' END || to_json(s_name[v_i])::text || ':';
                st_first[v_sd] := FALSE;
                IF s_kind[v_i] = 'group' AND jsonb_typeof(v_value) = 'object' THEN
                    v_tokens[v_nt] := v_tokens[v_nt] || '{';
                    v_sd := v_sd + 1;
                    st_first[v_sd] := TRUE;
                    st_end[v_sd] := s_end[v_i];
                    CONTINUE;
                END IF;
                v_tokens[v_nt] := v_tokens[v_nt] || v_value::text;
                IF s_field[v_i] -> 'allowOther' = 'true'::jsonb
                    AND (v_value = '"other"'::jsonb OR (jsonb_typeof(v_value) = 'array' AND v_value ? 'other')) THEN
                    v_other := (CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END)
                        -> (s_name[v_i] || '_other');
                    IF v_other IS NOT NULL AND v_other <> 'null'::jsonb THEN
                        v_tokens[v_nt] := v_tokens[v_nt] || ',' || to_json(s_name[v_i] || '_other')::text || ':'
                            || v_other::text;
                    END IF;
                END IF;
            END LOOP;
            FOR v_i IN 2 .. v_sd LOOP
                v_nt := v_nt + 1;
                v_tokens[v_nt] := '}';
            END LOOP;
            cleaned := ('{' || array_to_string(v_tokens, '') || '}')::jsonb;
        END IF;

        -- Calculations may read the items of repeats, and the items' own calculations: the
        -- items are cleaned (not checked: step 3 does) before the calculations run.
        IF v_has_calcs THEN
            FOR v_i IN 1 .. v_n LOOP
                -- IS DISTINCT FROM: a repeat not answered (NULL) has no items to clean.
                CONTINUE WHEN s_kind[v_i] <> 'repeat' OR NOT s_vis[v_i] OR jsonb_typeof(s_raw[v_i]) IS DISTINCT FROM 'array';
                v_items := '{}';
                FOR v_j IN 0 .. jsonb_array_length(s_raw[v_i]) - 1 LOOP
                    v_item := s_raw[v_i] -> v_j;
                    v_items[v_j + 1] := CASE WHEN jsonb_typeof(v_item) <> 'object' THEN v_item ELSE (
                        pliers._process_instance(
                            s_field[v_i] -> 'fields', v_item, coalesce(p_root, cleaned),
                            CASE WHEN p_scope = '' THEN p_context ELSE p_context || jsonb_build_object(p_scope, cleaned) END,
                            CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || replace(s_keys[v_i], E'\x1f', '.'),
                            '', FALSE, p_final, p_attachments
                        )
                    ).cleaned END;
                END LOOP;
                cleaned := jsonb_set(cleaned, string_to_array(s_keys[v_i], E'\x1f'), to_jsonb(v_items));
            END LOOP;
        END IF;

        EXIT WHEN NOT (v_has_conditions OR v_has_calcs);
        v_rounds := v_rounds + 1;
        EXIT WHEN v_rounds > v_n + 1;  -- only an invalid (cyclic) definition gets here
        v_changed := FALSE;
        -- Calculations on the cleaned answers; a new value is put in at the next round.
        FOR v_i IN 1 .. v_n LOOP
            CONTINUE WHEN NOT s_calc[v_i] OR NOT s_vis[v_i];
            v_value := pliers._expr_eval(s_field[v_i] -> 'expression', coalesce(p_root, cleaned), p_context, p_scope, cleaned);
            IF v_value IS DISTINCT FROM s_raw[v_i] THEN
                s_raw[v_i] := v_value;
                v_changed := TRUE;
            END IF;
        END LOOP;
        FOR v_i IN 1 .. v_n LOOP
            v_visible := (s_parent[v_i] = 0 OR s_vis[s_parent[v_i]])
                AND (s_cond[v_i] IS NULL
                    OR pliers._eval_condition(s_cond[v_i], coalesce(p_root, cleaned), p_context, p_scope, cleaned));
            IF v_visible <> s_vis[v_i] THEN
                s_vis[v_i] := v_visible;
                v_changed := TRUE;
            END IF;
        END LOOP;
        EXIT WHEN NOT v_changed;
    END LOOP;

    -- 3. Check the visible answers in document order; clean repeat items.
    -- The root answers (at the root: these) and, for the items of repeats here, the
    -- enclosing items, built once per repeat rather than once per item.
    v_root := coalesce(p_root, cleaned);
    v_context := NULL;
    IF p_validate AND p_raw - string_to_array(v_root_known, E'\x1f') <> '{}'::jsonb THEN
        errors := errors || pliers._unknown_field_errors(p_raw, string_to_array(v_root_known, E'\x1f'), p_path, 'form');
    END IF;

    FOR v_i IN 1 .. v_n LOOP
        v_kind := s_kind[v_i];
        CONTINUE WHEN NOT s_vis[v_i] OR v_kind IN ('display', 'calculated');
        v_field := s_field[v_i];
        v_value := s_raw[v_i];

        IF p_validate THEN
            -- Inside a group whose answer is not an object: only that is reported.
            IF s_parent[v_i] <> 0 AND s_bad[s_parent[v_i]] THEN
                s_bad[v_i] := TRUE;
                CONTINUE;
            END IF;
            IF v_kind = 'group' THEN
                IF v_value IS NULL OR v_value = 'null'::jsonb THEN
                    NULL;
                ELSIF jsonb_typeof(v_value) <> 'object' THEN
                    s_bad[v_i] := TRUE;
                    errors := errors || pliers._form_error(s_path[v_i], 'invalid_type', 'must be an object');
                ELSIF v_value - string_to_array(s_known[v_i], E'\x1f') <> '{}'::jsonb THEN
                    errors := errors || pliers._unknown_field_errors(
                        v_value, string_to_array(s_known[v_i], E'\x1f'), s_path[v_i], 'group'
                    );
                END IF;
                -- A required group: at least minAnswered of its direct fields answered.
                IF p_final AND v_field #> '{validation,minAnswered}' IS NOT NULL AND NOT coalesce(s_bad[v_i], FALSE) THEN
                    SELECT count(*) INTO v_answered
                    FROM generate_series(v_i + 1, s_end[v_i]) AS c (i)
                    WHERE s_parent[c.i] = v_i AND s_vis[c.i] AND s_kind[c.i] NOT IN ('display', 'calculated')
                        AND NOT pliers._is_blank(s_raw[c.i]);
                    IF v_answered < (v_field #>> '{validation,minAnswered}')::numeric THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i], 'too_few_answers',
                            format('answer at least %s of these questions', v_field #>> '{validation,minAnswered}')
                        );
                    END IF;
                END IF;
                CONTINUE;
            END IF;

            v_required := v_field -> 'required' = 'true'::jsonb
                OR (v_field ? 'requiredWhen'
                    AND pliers._eval_condition(v_field -> 'requiredWhen', v_root, p_context, p_scope, cleaned));
            IF pliers._is_blank(v_value) THEN
                IF p_final AND v_required THEN
                    errors := errors || pliers._form_error(s_path[v_i], 'required', 'is required');
                END IF;
            ELSIF v_kind = 'repeat' THEN
                v_rules := v_field -> 'validation';
                IF jsonb_typeof(v_value) <> 'array' THEN
                    errors := errors || pliers._form_error(s_path[v_i], 'invalid_type', 'must be an array of objects');
                ELSE
                    IF p_final AND jsonb_array_length(v_value) < (v_rules ->> 'minItems')::numeric THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i], 'too_few_items', format('must have at least %s items', v_rules ->> 'minItems')
                        );
                    END IF;
                    IF jsonb_array_length(v_value) > (v_rules ->> 'maxItems')::numeric THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i], 'too_many_items', format('must have at most %s items', v_rules ->> 'maxItems')
                        );
                    END IF;
                END IF;
            ELSIF NOT v_field ?| ARRAY['validation', 'readOnly'] AND (CASE v_kind
                -- the commonest answers with nothing more to check, without a call
                WHEN 'text' THEN jsonb_typeof(v_value) = 'string'
                WHEN 'textarea' THEN jsonb_typeof(v_value) = 'string'
                WHEN 'boolean' THEN jsonb_typeof(v_value) = 'boolean'
                WHEN 'number' THEN jsonb_typeof(v_value) = 'number'
                WHEN 'hidden' THEN TRUE
                ELSE FALSE
            END) THEN
                NULL;
            ELSE
                errors := errors || pliers._check_answer(
                    v_field, v_kind, v_value, s_path[v_i], p_final, v_required,
                    CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END -> (s_name[v_i] || '_other'),
                    p_attachments
                );
                IF v_field -> 'readOnly' = 'true'::jsonb AND v_field ? 'default' AND v_value <> v_field -> 'default' THEN
                    errors := errors || pliers._form_error(
                        s_path[v_i], 'read_only', format('is read-only: must be its default %s', v_field -> 'default')
                    );
                END IF;
            END IF;
            IF v_field ?| ARRAY['repeatCount', 'choiceFilter'] OR v_field -> 'validation' ? 'constraint' THEN
                errors := errors || pliers._check_expression_rules(
                    v_field, v_value, s_path[v_i], p_final, v_root, p_context, p_scope, cleaned
                );
            END IF;
        END IF;

        -- Repeat items: each is an instance of its own, seeing the answers around it.
        IF v_kind = 'repeat' AND jsonb_typeof(v_value) = 'array' THEN
            v_items := '{}';
            v_items_changed := FALSE;
            v_scope := CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || replace(s_keys[v_i], E'\x1f', '.');
            IF v_context IS NULL THEN
                v_context := CASE WHEN p_scope = '' THEN p_context ELSE p_context || jsonb_build_object(p_scope, cleaned) END;
            END IF;
            FOR v_j IN 0 .. jsonb_array_length(v_value) - 1 LOOP
                v_item := v_value -> v_j;
                IF jsonb_typeof(v_item) = 'object' THEN
                    v_result := pliers._process_instance(
                        v_field -> 'fields', v_item, v_root, v_context, v_scope, s_path[v_i] || '[' || v_j || ']',
                        p_validate, p_final, p_attachments
                    );
                    v_items[v_j + 1] := v_result.cleaned;
                    v_items_changed := v_items_changed OR v_result.cleaned <> v_item;
                    FOREACH v_other IN ARRAY v_result.errors LOOP
                        errors := errors || v_other;
                    END LOOP;
                ELSE
                    v_items[v_j + 1] := v_item;
                    IF p_validate THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i] || '[' || v_j || ']', 'invalid_type', 'must be an object'
                        );
                    END IF;
                END IF;
            END LOOP;
            -- Unchanged items are kept as sent: no copy of the answers per repeat.
            IF v_items_changed THEN
                cleaned := jsonb_set(cleaned, string_to_array(s_keys[v_i], E'\x1f'), to_jsonb(v_items));
            END IF;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION pliers._process_instance(jsonb, jsonb, jsonb, jsonb, text, text, boolean, boolean, jsonb) IS
'Core of clean_submission_data and validate_submission_data for one instance (the root answers, or one repeat '
'item, recursively): flattens the fields (groups inline), computes visibility on the cleaned answers (fixpoint), '
'returns the cleaned answers and, if p_validate, the errors in document order. p_root: the cleaned root answers '
'(NULL at the root), p_context: the cleaned enclosing repeat items by repeat path, p_scope names this instance '
'('''' = root). Linear in the size of the definition and the answers.';

-- The answer functions take a definition that validate_form_definition accepted, but
-- may be given any (the application may call them; a form stored before the limits):
-- its nesting is checked, which bounds the recursion of conditions and repeats; its
-- size is the definition validator's business. The answers: size, nesting, arrays.
CREATE FUNCTION pliers._check_answer_limits(p_definition jsonb, p_data jsonb)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pliers._check_document_limits(p_definition, '$', NULL, FALSE)
        AND pliers._check_document_limits(p_data, '$.data', 'data_bytes', TRUE)
$$;

COMMENT ON FUNCTION pliers._check_answer_limits(jsonb, jsonb) IS
'TRUE, or raises PL001 when the answers p_data exceed data_bytes, json_depth or array_items, or the definition '
'json_depth (pliers.form_limits()). Called before the answers are walked.';

-- The answers of a submission validated and cleaned in one pass over the definition
-- (_process_instance, with the arguments of validate_submission_data and
-- clean_submission_data): validate_submission_data, create_submission and
-- import_submissions (sql/57) call it. A set of one row, so that it is inlined into the
-- caller's query.
CREATE FUNCTION pliers._check_submission_data(
    p_definition jsonb, p_data jsonb, p_final boolean, p_attachments jsonb
)
RETURNS TABLE (cleaned jsonb, errors jsonb)
LANGUAGE sql
STABLE
AS $$
    SELECT
        CASE WHEN pg_catalog.jsonb_typeof(p_data) = 'object' THEN p.cleaned ELSE p_data END,
        CASE
            WHEN pg_catalog.jsonb_typeof(p_data) = 'object' THEN pg_catalog.to_jsonb(p.errors)
            ELSE pg_catalog.jsonb_build_array(
                pliers._form_error('$.data', 'invalid_type', 'submission data must be a JSON object')
            )
        END
    FROM pliers._process_instance(
        -- The limits first (raising PL001): the argument is evaluated before the walk.
        CASE WHEN pliers._check_answer_limits(p_definition, p_data) THEN p_definition -> 'fields' END,
        CASE WHEN pg_catalog.jsonb_typeof(p_data) = 'object' THEN p_data ELSE '{}' END,
        NULL, '{}', '', '$.data', TRUE, p_final, p_attachments
    ) AS p
$$;

COMMENT ON FUNCTION pliers._check_submission_data(jsonb, jsonb, boolean, jsonb) IS
'Private: one row, the answers p_data as stored (clean_submission_data) and their errors (validate_submission_data), '
'from one pass over the definition. A p_data that is not an object is kept as is, with one invalid_type error.';

CREATE FUNCTION pliers.clean_submission_data(p_definition jsonb, p_data jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_result record;
BEGIN
    IF jsonb_typeof(p_data) IS DISTINCT FROM 'object' THEN
        RETURN p_data;
    END IF;
    PERFORM pliers._check_answer_limits(p_definition, p_data);
    v_result := pliers._process_instance(p_definition -> 'fields', p_data, NULL, '{}', '', '$.data', FALSE, FALSE, NULL);
    RETURN v_result.cleaned;
END
$$;

COMMENT ON FUNCTION pliers.clean_submission_data(jsonb, jsonb) IS
'The answers to store: p_data without the answers of fields that are not visible (visibleWhen false, or inside '
'a hidden group or repeat), of display and calculated fields, of keys that are no field, JSON nulls, and '
'<name>_other texts whose choice field does not select "other". Visibility is evaluated on the cleaned answers. '
'A p_data that is not an object is returned as is (validate_submission_data reports it).';

CREATE FUNCTION pliers.validate_submission_data(
    p_definition jsonb,
    p_data jsonb,
    p_final boolean DEFAULT TRUE,
    p_attachments jsonb DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN (
        SELECT d.errors
        FROM pliers._check_submission_data(p_definition, p_data, coalesce(p_final, TRUE), p_attachments) AS d
    );
END
$$;

COMMENT ON FUNCTION pliers.validate_submission_data(jsonb, jsonb, boolean, jsonb) IS
'All the errors of submission answers p_data against form definition p_definition (a valid one), as a JSON array '
'of {path, code, message} with paths like $.data.address.zip or $.data.children[1].age; [] when valid. '
'Fields that are not visible are neither required nor checked (clean_submission_data drops them); unknown keys '
'are errors (unknown_field). p_final = FALSE (a draft): required, requiredWhen, consent, minItems and the '
'"other" text are not enforced; types, formats and the other rules are. p_attachments, optional: '
'{"<attachment id>": {"mime_type": ..., "file_size_bytes": ...}} for the ids the answers use; when given, file '
'and signature answers must name one of them, and file rules accept / maxSizeBytes are checked. Codes: docs/forms.md.';

CREATE FUNCTION pliers.assert_valid_submission_data(
    p_definition jsonb,
    p_data jsonb,
    p_final boolean DEFAULT TRUE,
    p_attachments jsonb DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_errors constant jsonb := pliers.validate_submission_data(p_definition, p_data, p_final, p_attachments);
BEGIN
    IF v_errors <> '[]'::jsonb THEN
        RAISE EXCEPTION 'submission data is not valid (% errors)', jsonb_array_length(v_errors)
            USING
                ERRCODE = 'PL001',
                DETAIL = jsonb_build_object('errors', v_errors)::text,
                HINT = 'DETAIL lists every error with its JSON path, code and message.';
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.assert_valid_submission_data(jsonb, jsonb, boolean, jsonb) IS
'Raises PL001 (ValidationError) with DETAIL {"errors": [{path, code, message}, ...]} when '
'validate_submission_data finds errors; returns nothing otherwise.';

-- Form definitions ---------------------------------------------------------------------

CREATE FUNCTION pliers._check_condition(
    p_condition jsonb,
    p_path text,
    p_owner text,
    p_role text,
    INOUT p_errors jsonb[],
    INOUT p_refs jsonb[]
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    c_operators constant text[] := ARRAY[
        'equals', 'not_equals', 'in', 'not_in', 'greater_than', 'greater_or_equal', 'less_than', 'less_or_equal',
        'empty', 'not_empty'
    ];
    v_limits constant jsonb := pliers.form_limits();
    v_max_depth constant integer := (v_limits ->> 'condition_depth')::integer;
    v_max_count constant integer := (v_limits ->> 'conditions')::integer;
    -- A stack instead of recursion: the depth is checked before going deeper, and a
    -- deep condition cannot exhaust the server's stack. Children are pushed in reverse
    -- so that they are checked, and their errors reported, in document order.
    st_condition jsonb[] := ARRAY[p_condition];
    st_path text[] := ARRAY[p_path];
    st_depth integer[] := ARRAY[1];
    v_top integer := 1;
    v_condition jsonb;
    v_path text;
    v_depth integer;
    v_combinator text;
    v_list jsonb;
    v_operator text;
    v_value jsonb;
    v_key text;
    v_valid boolean;
BEGIN
    WHILE v_top > 0 LOOP
        v_condition := st_condition[v_top];
        v_path := st_path[v_top];
        v_depth := st_depth[v_top];
        v_top := v_top - 1;
        IF v_depth > v_max_depth THEN
            PERFORM pliers._raise_limit(
                v_path, 'condition_too_deep', format('conditions are nested more than %s levels deep', v_max_depth)
            );
        END IF;

        IF jsonb_typeof(v_condition) IS DISTINCT FROM 'object' THEN
            p_errors := p_errors || pliers._form_error(
                v_path, 'invalid_condition',
                'a condition is an object: {field, operator, value}, {all}, {any}, {not} or {expression}'
            );
            CONTINUE;
        END IF;

        IF v_condition ?| ARRAY['all', 'any', 'not'] THEN
            IF (v_condition ? 'all')::integer + (v_condition ? 'any')::integer + (v_condition ? 'not')::integer > 1
                OR v_condition - ARRAY['all', 'any', 'not'] <> '{}'::jsonb THEN
                p_errors := p_errors || pliers._form_error(
                    v_path, 'invalid_condition', 'all, any and not each stand alone in their condition object'
                );
                CONTINUE;
            END IF;
            IF v_condition ? 'not' THEN
                v_top := v_top + 1;
                st_condition[v_top] := v_condition -> 'not';
                st_path[v_top] := v_path || '.not';
                st_depth[v_top] := v_depth + 1;
                CONTINUE;
            END IF;
            v_combinator := CASE WHEN v_condition ? 'all' THEN 'all' ELSE 'any' END;
            v_list := v_condition -> v_combinator;
            IF jsonb_typeof(v_list) <> 'array' OR jsonb_array_length(v_list) = 0 THEN
                p_errors := p_errors || pliers._form_error(
                    v_path || '.' || v_combinator, 'invalid_condition', 'must be a non-empty array of conditions'
                );
                CONTINUE;
            END IF;
            PERFORM pliers._check_array_limit(v_list, v_path || '.' || v_combinator);
            FOR v_i IN REVERSE jsonb_array_length(v_list) - 1 .. 0 LOOP
                v_top := v_top + 1;
                st_condition[v_top] := v_list -> v_i;
                st_path[v_top] := v_path || '.' || v_combinator || '[' || v_i || ']';
                st_depth[v_top] := v_depth + 1;
            END LOOP;
            CONTINUE;
        END IF;

        -- An expression leaf {"expression": <boolean expression>} (docs/expressions.md):
        -- sql/41's checker checks the expression.
        IF v_condition ? 'expression' THEN
            IF v_condition - 'expression' <> '{}'::jsonb THEN
                p_errors := p_errors || pliers._form_error(
                    v_path, 'invalid_condition', 'expression stands alone in its condition object'
                );
            END IF;
            CONTINUE;
        END IF;

        FOR v_key IN
            SELECT k.key
            FROM jsonb_object_keys(v_condition - ARRAY['field', 'operator', 'value']) AS k (key)
            ORDER BY k.key COLLATE "C"
        LOOP
            p_errors := p_errors || pliers._form_error(
                v_path || '.' || v_key, 'unknown_property',
                format(
                    '%s is not a property of a condition (field, operator, value; or all, any, not, expression)',
                    to_json(v_key)
                )
            );
        END LOOP;

        v_valid := TRUE;
        IF NOT v_condition ? 'field' THEN
            p_errors := p_errors || pliers._form_error(v_path || '.field', 'missing_property', 'field is required');
            v_valid := FALSE;
        ELSIF jsonb_typeof(v_condition -> 'field') <> 'string' THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.field', 'invalid_type', 'must be the name (or dotted path) of a field'
            );
            v_valid := FALSE;
        END IF;

        v_operator := v_condition ->> 'operator';
        v_value := v_condition -> 'value';
        IF NOT v_condition ? 'operator' THEN
            p_errors := p_errors || pliers._form_error(v_path || '.operator', 'missing_property', 'operator is required');
            CONTINUE;
        ELSIF jsonb_typeof(v_condition -> 'operator') <> 'string' OR NOT v_operator = ANY (c_operators) THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.operator', 'invalid_operator',
                format('the operator must be one of %s', array_to_string(c_operators, ', '))
            );
            CONTINUE;
        END IF;

        IF v_operator IN ('empty', 'not_empty') THEN
            IF v_condition ? 'value' THEN
                p_errors := p_errors || pliers._form_error(
                    v_path || '.value', 'invalid_condition', format('the operator %s takes no value', v_operator)
                );
                v_valid := FALSE;
            END IF;
        ELSIF v_value IS NULL OR v_value = 'null'::jsonb THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.value', 'missing_property',
                format('the operator %s needs a value (use empty / not_empty to test for no answer)', v_operator)
            );
            v_valid := FALSE;
        ELSIF v_operator IN ('in', 'not_in') AND (jsonb_typeof(v_value) <> 'array' OR jsonb_array_length(v_value) = 0) THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.value', 'invalid_value', format('the operator %s needs a non-empty array', v_operator)
            );
            v_valid := FALSE;
        ELSIF v_operator IN ('greater_than', 'greater_or_equal', 'less_than', 'less_or_equal')
            AND jsonb_typeof(v_value) NOT IN ('number', 'string') THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.value', 'invalid_value', format('the operator %s needs a number or a string', v_operator)
            );
            v_valid := FALSE;
        END IF;
        PERFORM pliers._check_array_limit(v_value, v_path || '.value');

        IF v_valid THEN
            IF cardinality(p_refs) >= v_max_count THEN
                PERFORM pliers._raise_limit(
                    v_path, 'too_many_conditions',
                    format('the definition has more than %s conditions and expression references', v_max_count)
                );
            END IF;
            p_refs := p_refs || jsonb_build_object(
                'owner', p_owner, 'role', p_role, 'field', v_condition -> 'field', 'operator', v_operator,
                'value', v_value, 'path', v_path
            );
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION pliers._check_condition(jsonb, text, text, text, jsonb[], jsonb[]) IS
'Checks the structure of one condition at p_path (through all / any / not, with a stack, not recursion), appending '
'errors to p_errors and, for each well-formed {field, operator, value}, a reference {owner, role, field, operator, '
'value, path} to p_refs; validate_form_definition resolves the references once every field is known. Raises PL001 '
'(limits): condition_too_deep, too_many_conditions (p_refs full), array_too_long (an all / any list or a value).';

CREATE FUNCTION pliers._check_field(
    p_field jsonb, p_path text, p_languages jsonb DEFAULT NULL, p_default_language text DEFAULT NULL
)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    c_kinds constant text[] := ARRAY[
        'text', 'textarea', 'email', 'url', 'phone', 'password', 'number', 'integer', 'currency', 'boolean',
        'consent', 'single_choice', 'multiple_choice', 'ranking', 'date', 'time', 'datetime', 'rating', 'file',
        'signature', 'geo_point', 'geotrace', 'geoshape', 'hidden', 'calculated', 'display', 'group', 'repeat'
    ];
    c_properties constant text[] := ARRAY[
        'id', 'name', 'type', 'label', 'description', 'hint', 'required', 'readOnly', 'default', 'visibleWhen',
        'requiredWhen', 'conditional', 'validation', 'ui', 'metadata', 'choices', 'choiceList', 'choiceFilter',
        'allowOther', 'currency', 'fields', 'repeatCount', 'expression', 'defaultExpression', 'content'
    ];
    c_rules constant text[] := ARRAY[
        'minLength', 'maxLength', 'pattern', 'format', 'min', 'max', 'decimals', 'minItems', 'maxItems', 'accept',
        'maxSizeBytes', 'minAnswered', 'constraint', 'constraintMessage'
    ];
    -- The kinds whose answer is one value of the field itself (not display, calculated,
    -- group, repeat): they take a constraint and a defaultExpression.
    c_answer_kinds constant text[] := ARRAY[
        'text', 'textarea', 'email', 'url', 'phone', 'password', 'number', 'integer', 'currency', 'boolean',
        'consent', 'single_choice', 'multiple_choice', 'ranking', 'date', 'time', 'datetime', 'rating', 'file',
        'signature', 'geo_point', 'geotrace', 'geoshape', 'hidden'
    ];
    v_kind text;
    v_known_kind boolean;
    v_allowed text[];
    v_kind_rules text[];
    v_errors jsonb[] := '{}';
    v_key text;
    v_value jsonb;
    v_rules jsonb;
    v_choices jsonb;
    v_choice jsonb;
    v_first text[];
    v_path text;
    v_min jsonb;
    v_max jsonb;
    v_inner jsonb;
    v_count integer;
    v_bad_rules text[] := '{}';
BEGIN
    -- type
    v_kind := p_field ->> 'type';
    IF NOT p_field ? 'type' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.type', 'missing_property', 'type is required');
    ELSIF jsonb_typeof(p_field -> 'type') <> 'string' OR NOT v_kind = ANY (c_kinds) THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.type', 'unknown_field_type',
            format('%s is not a field type; the types are %s', p_field -> 'type', array_to_string(c_kinds, ', '))
        );
    END IF;
    v_known_kind := coalesce(v_kind = ANY (c_kinds), FALSE);

    -- Properties that apply to this kind.
    v_allowed := ARRAY[
        'id', 'name', 'type', 'label', 'description', 'hint', 'required', 'readOnly', 'default', 'visibleWhen',
        'requiredWhen', 'conditional', 'validation', 'ui', 'metadata'
    ] || CASE
        WHEN v_kind IN ('single_choice', 'multiple_choice') THEN ARRAY['choices', 'choiceList', 'choiceFilter', 'allowOther']
        WHEN v_kind = 'ranking' THEN ARRAY['choices', 'choiceList', 'choiceFilter']
        WHEN v_kind = 'currency' THEN ARRAY['currency']
        WHEN v_kind = 'group' THEN ARRAY['fields']
        WHEN v_kind = 'repeat' THEN ARRAY['fields', 'repeatCount']
        WHEN v_kind = 'calculated' THEN ARRAY['expression']
        WHEN v_kind = 'display' THEN ARRAY['content']
        ELSE '{}'::text[]
    END || CASE WHEN v_kind = ANY (c_answer_kinds) THEN ARRAY['defaultExpression'] ELSE '{}'::text[] END;
    IF v_kind IN ('display', 'calculated', 'group') THEN
        v_allowed := array_remove(array_remove(array_remove(v_allowed, 'required'), 'requiredWhen'), 'default');
    END IF;
    IF v_kind IN ('display', 'calculated') THEN
        v_allowed := array_remove(v_allowed, 'readOnly');
    END IF;
    IF v_kind = 'repeat' THEN
        v_allowed := array_remove(v_allowed, 'default');
    END IF;
    v_kind_rules := CASE
        WHEN v_kind = 'phone' THEN ARRAY['minLength', 'maxLength', 'pattern', 'format']
        WHEN v_kind IN ('text', 'textarea', 'password', 'email', 'url') THEN
            ARRAY['minLength', 'maxLength', 'pattern']
        WHEN v_kind IN ('number', 'currency') THEN ARRAY['min', 'max', 'decimals']
        WHEN v_kind IN ('integer', 'rating', 'date', 'time', 'datetime') THEN ARRAY['min', 'max']
        WHEN v_kind IN ('multiple_choice', 'ranking', 'repeat') THEN ARRAY['minItems', 'maxItems']
        WHEN v_kind = 'file' THEN ARRAY['minItems', 'maxItems', 'accept', 'maxSizeBytes']
        WHEN v_kind = 'group' THEN ARRAY['minAnswered']
        ELSE '{}'::text[]
    END || CASE WHEN v_kind = ANY (c_answer_kinds) THEN ARRAY['constraint', 'constraintMessage'] ELSE '{}'::text[] END;

    FOR v_key IN SELECT k.key FROM jsonb_object_keys(p_field) AS k (key) ORDER BY k.key COLLATE "C" LOOP
        CONTINUE WHEN v_key = ANY (v_allowed) OR (NOT v_known_kind AND v_key = ANY (c_properties));
        v_errors := v_errors || CASE
            WHEN v_key = ANY (c_properties) THEN pliers._form_error(
                p_path || '.' || v_key, 'property_not_applicable',
                format('%s does not apply to a %s field', v_key, v_kind)
            )
            WHEN v_key = ANY (c_rules) THEN pliers._form_error(
                p_path || '.' || v_key, 'unknown_property', format('%s belongs inside validation', v_key)
            )
            ELSE pliers._form_error(
                p_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                format('%s is not a property of a field', to_json(v_key))
            )
        END;
    END LOOP;

    -- name, id and the simple properties
    IF NOT p_field ? 'name' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.name', 'missing_property', 'name is required');
    ELSIF jsonb_typeof(p_field -> 'name') <> 'string' OR NOT pliers._valid_field_name(p_field ->> 'name') THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.name', 'invalid_name',
            'a name is 1 to 200 characters, without . [ ] or control characters, '
            'and without leading or trailing white space'
        );
    END IF;
    IF p_field ? 'id' AND (
        jsonb_typeof(p_field -> 'id') <> 'string' OR char_length(p_field ->> 'id') NOT BETWEEN 1 AND 100
    ) THEN
        v_errors := v_errors || pliers._form_error(p_path || '.id', 'invalid_value', 'an id is a string of 1 to 100 characters');
    END IF;
    FOREACH v_key IN ARRAY ARRAY['label', 'description', 'hint'] LOOP
        v_errors := v_errors || pliers._check_translatable(
            p_field -> v_key, p_path || '.' || v_key, p_languages, p_default_language
        );
    END LOOP;
    IF jsonb_typeof(p_field -> 'content') <> 'string' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.content', 'invalid_type', 'must be a string');
    END IF;
    -- A calculated expression: a string for the renderer (legacy, {name} references,
    -- checked by validate_form_definition), or an expression object (docs/expressions.md),
    -- which sql/41's checker checks.
    IF jsonb_typeof(p_field -> 'expression') NOT IN ('string', 'object') THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.expression', 'invalid_type', 'must be an expression (an object) or a string for the renderer'
        );
    END IF;
    -- repeatCount, choiceFilter, defaultExpression: expressions (docs/expressions.md),
    -- which sql/41's checker checks; any JSON value here.
    FOREACH v_key IN ARRAY ARRAY['required', 'readOnly', 'allowOther'] LOOP
        IF jsonb_typeof(p_field -> v_key) <> 'boolean' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.' || v_key, 'invalid_type', 'must be true or false');
        END IF;
    END LOOP;
    FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
        IF jsonb_typeof(p_field -> v_key) <> 'object' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.' || v_key, 'invalid_type', 'must be an object');
        END IF;
    END LOOP;
    IF v_kind = 'calculated' AND NOT p_field ? 'expression' THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.expression', 'missing_property', 'a calculated field needs an expression'
        );
    END IF;
    IF v_kind = 'currency' AND p_field ? 'currency' AND coalesce(p_field ->> 'currency' !~ '^[A-Z]{3}$', TRUE) THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.currency', 'invalid_value', 'must be an ISO 4217 currency code such as EUR'
        );
    END IF;
    IF p_field ? 'visibleWhen' AND p_field ? 'conditional' THEN
        v_errors := v_errors || pliers._form_error(
            p_path, 'conflicting_properties', 'use visibleWhen or conditional, not both'
        );
    END IF;
    IF p_field -> 'required' = 'true'::jsonb AND p_field ? 'requiredWhen' THEN
        v_errors := v_errors || pliers._form_error(
            p_path, 'conflicting_properties', 'a field that is always required takes no requiredWhen'
        );
    END IF;
    IF p_field ? 'conditional' THEN
        v_value := p_field -> 'conditional';
        IF jsonb_typeof(v_value) <> 'object' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.conditional', 'invalid_type', 'must be an object');
        ELSE
            FOR v_key IN
                SELECT k.key FROM jsonb_object_keys(v_value - ARRAY['show', 'when']) AS k (key)
                ORDER BY k.key COLLATE "C"
            LOOP
                v_errors := v_errors || pliers._form_error(
                    p_path || '.conditional.' || pliers._json_path_key(v_key), 'unknown_property',
                    format('%s is not a property of conditional (show, when)', to_json(v_key))
                );
            END LOOP;
            IF jsonb_typeof(v_value -> 'show') <> 'boolean' THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.conditional.show', 'invalid_type', 'must be true or false'
                );
            END IF;
            IF jsonb_typeof(v_value -> 'when') <> 'array' THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.conditional.when', 'invalid_type', 'must be an array of conditions'
                );
            END IF;
        END IF;
    END IF;

    -- choices: inline, or the name of a tenant's shared list (sql/44 checks it exists)
    IF v_kind IN ('single_choice', 'multiple_choice', 'ranking') THEN
        v_choices := p_field -> 'choices';
        IF p_field ? 'choiceList' THEN
            IF v_choices IS NOT NULL THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'conflicting_properties', 'a choice field takes choices or choiceList, not both'
                );
            END IF;
            IF jsonb_typeof(p_field -> 'choiceList') <> 'string'
                OR (p_field ->> 'choiceList') !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.choiceList', 'invalid_value',
                    'must be the name of a choice list: 1 to 63 lower-case letters, digits, _ and -, not starting with _ or -'
                );
            END IF;
        END IF;
        IF v_choices IS NULL THEN
            IF NOT p_field ? 'choiceList' THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.choices', 'missing_property', 'choices (or a choiceList) are required'
                );
            END IF;
        ELSIF jsonb_typeof(v_choices) <> 'array' OR jsonb_array_length(v_choices) = 0 THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.choices', 'invalid_type', 'must be a non-empty array of {code, label}'
            );
        ELSE
            PERFORM pliers._check_array_limit(v_choices, p_path || '.choices', 'choices');
            -- The first choice with each code, found by one query (adding each code to
            -- a jsonb object copied it every time).
            SELECT array_agg(CASE WHEN d.nth > 1 THEN d.first_path END ORDER BY d.i)
            INTO v_first
            FROM (
                SELECT
                    c.i,
                    row_number() OVER w AS nth,
                    first_value(p_path || '.choices[' || (c.i - 1) || ']') OVER w AS first_path
                FROM jsonb_array_elements(v_choices) WITH ORDINALITY AS c (choice, i)
                WINDOW w AS (
                    PARTITION BY CASE
                        WHEN jsonb_typeof(c.choice -> 'code') = 'string'
                            AND char_length(c.choice ->> 'code') BETWEEN 1 AND 100 THEN c.choice ->> 'code'
                    END
                    ORDER BY c.i
                )
            ) AS d;
            FOR v_i IN 0 .. jsonb_array_length(v_choices) - 1 LOOP
                v_choice := v_choices -> v_i;
                v_path := p_path || '.choices[' || v_i || ']';
                IF jsonb_typeof(v_choice) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a choice is an object {code, label}');
                    CONTINUE;
                END IF;
                FOR v_key IN
                    SELECT k.key
                    FROM jsonb_object_keys(v_choice - ARRAY['code', 'label', 'description', 'attributes', 'metadata']) AS k (key)
                    ORDER BY k.key COLLATE "C"
                LOOP
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                        format(
                            '%s is not a property of a choice (code, label, description, attributes, metadata)', to_json(v_key)
                        )
                    );
                END LOOP;
                IF NOT v_choice ? 'code' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.code', 'missing_property', 'code is required');
                ELSIF jsonb_typeof(v_choice -> 'code') <> 'string'
                    OR char_length(v_choice ->> 'code') NOT BETWEEN 1 AND 100 THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.code', 'invalid_value', 'a code is a string of 1 to 100 characters'
                    );
                ELSIF v_first[v_i + 1] IS NOT NULL THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.code', 'duplicate_choice_code',
                        format('the code %s is already used by %s', v_choice -> 'code', v_first[v_i + 1])
                    );
                END IF;
                v_errors := v_errors
                    || pliers._check_translatable(v_choice -> 'label', v_path || '.label', p_languages, p_default_language)
                    || pliers._check_translatable(
                        v_choice -> 'description', v_path || '.description', p_languages, p_default_language
                    );
                -- Attributes of a choice, read by choice filters: flat values only.
                IF jsonb_typeof(v_choice -> 'attributes') <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.attributes', 'invalid_type', 'must be an object of strings, numbers and booleans'
                    );
                ELSIF v_choice ? 'attributes' THEN
                    FOR v_key IN
                        SELECT a.key FROM jsonb_each(v_choice -> 'attributes') AS a (key, value)
                        WHERE jsonb_typeof(a.value) NOT IN ('string', 'number', 'boolean')
                        ORDER BY a.key COLLATE "C"
                    LOOP
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.attributes.' || pliers._json_path_key(v_key), 'invalid_type',
                            'an attribute is a string, a number or a boolean'
                        );
                    END LOOP;
                END IF;
                IF jsonb_typeof(v_choice -> 'metadata') <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.metadata', 'invalid_type', 'must be an object');
                END IF;
            END LOOP;
        END IF;
    END IF;

    -- nested fields (checked one by one by the caller)
    IF v_kind IN ('group', 'repeat') THEN
        IF NOT p_field ? 'fields' THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.fields', 'missing_property', format('a %s needs fields', v_kind)
            );
        ELSIF jsonb_typeof(p_field -> 'fields') <> 'array' OR jsonb_array_length(p_field -> 'fields') = 0 THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.fields', 'invalid_type', 'must be a non-empty array of fields'
            );
        END IF;
    END IF;

    -- validation rules
    v_rules := p_field -> 'validation';
    IF v_rules IS NOT NULL AND jsonb_typeof(v_rules) <> 'object' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.validation', 'invalid_type', 'must be an object');
    ELSIF v_rules IS NOT NULL THEN
        FOR v_key IN SELECT k.key FROM jsonb_object_keys(v_rules) AS k (key) ORDER BY k.key COLLATE "C" LOOP
            v_value := v_rules -> v_key;
            v_path := p_path || '.validation.' || pliers._json_path_key(v_key);
            IF NOT v_key = ANY (c_rules) THEN
                v_errors := v_errors || pliers._form_error(
                    v_path, 'unknown_property', format('%s is not a validation rule', to_json(v_key))
                );
                CONTINUE;
            ELSIF v_known_kind AND NOT v_key = ANY (v_kind_rules) THEN
                v_errors := v_errors || pliers._form_error(
                    v_path, 'rule_not_applicable', format('%s does not apply to a %s field', v_key, v_kind)
                );
                CONTINUE;
            END IF;
            v_count := cardinality(v_errors);
            CASE
                WHEN v_key IN (
                    'minLength', 'maxLength', 'minItems', 'maxItems', 'decimals', 'maxSizeBytes', 'minAnswered'
                ) THEN
                    IF jsonb_typeof(v_value) <> 'number' OR v_value::numeric <> trunc(v_value::numeric)
                        OR v_value::numeric < (CASE WHEN v_key IN ('maxSizeBytes', 'minAnswered') THEN 1 ELSE 0 END)
                        OR v_value::numeric > 9007199254740991 THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_value',
                            CASE WHEN v_key IN ('maxSizeBytes', 'minAnswered') THEN 'must be a positive integer'
                                ELSE 'must be a non-negative integer' END
                        );
                    END IF;
                WHEN v_key = 'format' THEN
                    IF v_value IS DISTINCT FROM '"lenient"' AND v_value IS DISTINCT FROM '"e164"' THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_value', 'the phone format is "lenient" or "e164"'
                        );
                    END IF;
                WHEN v_key = 'constraint' THEN
                    -- An expression (docs/expressions.md): sql/41's checker checks it.
                    NULL;
                WHEN v_key = 'constraintMessage' THEN
                    v_errors := v_errors || pliers._check_translatable(v_value, v_path, p_languages, p_default_language);
                WHEN v_key = 'pattern' THEN
                    IF jsonb_typeof(v_value) <> 'string' THEN
                        v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'must be a regular expression (a string)');
                    ELSE
                        -- Compiling a pattern costs more than its length: bounded first.
                        IF char_length(v_value #>> '{}') > (pliers.form_limits() ->> 'pattern_chars')::integer THEN
                            PERFORM pliers._raise_limit(
                                v_path, 'string_too_long',
                                format('a pattern has at most %s characters', pliers.form_limits() ->> 'pattern_chars')
                            );
                        END IF;
                        BEGIN
                            PERFORM '' ~ (v_value #>> '{}');
                        EXCEPTION WHEN invalid_regular_expression OR program_limit_exceeded THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path, 'invalid_pattern', 'not a valid regular expression: ' || sqlerrm
                            );
                        END;
                    END IF;
                WHEN v_key = 'accept' THEN
                    IF jsonb_typeof(v_value) <> 'array' OR jsonb_array_length(v_value) = 0 THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_type', 'must be a non-empty array of media types such as image/* or application/pdf'
                        );
                    ELSE
                        PERFORM pliers._check_array_limit(v_value, v_path);
                        FOR v_i IN 0 .. jsonb_array_length(v_value) - 1 LOOP
                            IF jsonb_typeof(v_value -> v_i) <> 'string' OR (v_value ->> v_i) !~ (
                                '^[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$'
                            ) THEN
                                v_errors := v_errors || pliers._form_error(
                                    v_path || '[' || v_i || ']', 'invalid_value',
                                    'must be a lower-case media type type/subtype or type/*'
                                );
                            END IF;
                        END LOOP;
                    END IF;
                ELSE
                    -- min, max: of the kind of the answer
                    IF v_kind IN ('number', 'currency', 'integer', 'rating') THEN
                        IF jsonb_typeof(v_value) <> 'number'
                            OR (v_kind IN ('integer', 'rating') AND v_value::numeric <> trunc(v_value::numeric)) THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path, 'invalid_value',
                                CASE WHEN v_kind IN ('integer', 'rating') THEN 'must be an integer' ELSE 'must be a number' END
                            );
                        END IF;
                    ELSIF (v_kind = 'date' AND NOT coalesce(pliers._is_date(v_value #>> '{}'), FALSE))
                        OR (v_kind = 'time' AND NOT coalesce(pliers._is_time(v_value #>> '{}'), FALSE))
                        OR (v_kind = 'datetime' AND NOT coalesce(pliers._is_datetime(v_value #>> '{}'), FALSE))
                        OR jsonb_typeof(v_value) <> 'string' THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_value', format('must be a %s like the answers', v_kind)
                        );
                    END IF;
            END CASE;
            IF cardinality(v_errors) > v_count THEN
                v_bad_rules := v_bad_rules || v_key;
            END IF;
        END LOOP;

        -- lower bound <= upper bound (when both are valid)
        FOREACH v_key IN ARRAY ARRAY['Length', 'Items', ''] LOOP
            CONTINUE WHEN ('min' || v_key) = ANY (v_bad_rules) OR ('max' || v_key) = ANY (v_bad_rules);
            v_min := v_rules -> ('min' || v_key);
            v_max := v_rules -> ('max' || v_key);
            IF v_key = '' AND v_kind = 'rating' THEN
                v_min := coalesce(v_min, '1');
                v_max := coalesce(v_max, '5');
            END IF;
            IF pliers._compare_values(v_min, v_max) > 0 THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.validation', 'min_greater_than_max',
                    format('min%s (%s) is greater than max%s (%s)', v_key, v_min, v_key, v_max)
                );
            END IF;
        END LOOP;
    END IF;

    -- default: must be a valid answer (types and rules, completeness aside)
    IF cardinality(v_errors) = 0 AND p_field ? 'default' AND NOT pliers._is_blank(p_field -> 'default')
        AND v_kind NOT IN ('hidden', 'group', 'repeat', 'display', 'calculated') THEN
        FOREACH v_inner IN ARRAY pliers._check_answer(
            p_field, v_kind, p_field -> 'default', p_path || '.default', FALSE, FALSE, NULL, NULL
        ) LOOP
            v_errors := v_errors || jsonb_set(v_inner, '{code}', '"invalid_default"');
        END LOOP;
    END IF;

    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_field(jsonb, text, jsonb, text) IS
'Errors of one field object at p_path taken alone: type, properties of its kind, name format, simple property types, '
'choices (unique codes), validation rules (types, valid pattern, min <= max), default. Names across fields, '
'conditions and nested fields are checked by validate_form_definition.';

-- Cycles in linear time: strongly connected components (Tarjan's algorithm, with a stack
-- of its own instead of recursion), then two breadth-first searches per cyclic component
-- from its first field. The recursive query used before walked every path from every
-- field: a chain of nested groups alone cost more than the cube of its depth.
CREATE FUNCTION pliers._dependency_cycles(p_from text[], p_to text[], p_index jsonb)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_names text[];             -- node -> field path; nodes numbered in document order
    v_n integer;
    v_m integer;
    e_src integer[];            -- edges sorted by source
    e_dst integer[];
    f_start integer[];          -- edges of node v: f_start[v] .. f_start[v + 1] - 1
    r_src integer[];            -- edges sorted by target
    r_dst integer[];
    r_start integer[];
    t_index integer[];
    t_low integer[];
    t_on boolean[];
    t_stack integer[] := '{}';
    t_sp integer := 0;
    c_node integer[] := '{}';   -- the depth-first walk: node, next edge to follow
    c_edge integer[] := '{}';
    c_sp integer;
    v_counter integer := 0;
    v_comp integer[];
    v_comps integer := 0;
    v_size integer[] := '{}';
    v_root integer[] := '{}';   -- component -> its first node in document order
    v_loop boolean[];           -- node with an edge to itself
    d_fwd integer[];            -- breadth-first from the root: distance, previous node
    p_fwd integer[];
    d_bwd integer[];            -- breadth-first to the root: distance, next node
    n_bwd integer[];
    q integer[];
    q_head integer;
    q_tail integer;
    v_k integer;
    v_u integer;
    v_w integer;
    v_r integer;
    v_best integer;
    v_head text[];
    v_tail text[];
    v_errors jsonb[] := '{}';
BEGIN
    IF coalesce(cardinality(p_from), 0) = 0 THEN
        RETURN v_errors;
    END IF;
    SELECT array_agg(n.name ORDER BY (p_index -> n.name ->> 'ord')::integer NULLS LAST, n.name COLLATE "C")
    INTO v_names
    FROM (SELECT DISTINCT u.name FROM unnest(p_from || p_to) AS u (name)) AS n;
    v_n := cardinality(v_names);

    WITH node AS (
        SELECT u.name, u.id::integer AS id FROM unnest(v_names) WITH ORDINALITY AS u (name, id)
    ),

    edge AS (
        SELECT DISTINCT s.id AS src, d.id AS dst
        FROM unnest(p_from, p_to) AS e (src, dst)
        INNER JOIN node AS s ON e.src = s.name
        INNER JOIN node AS d ON e.dst = d.name
    )

    SELECT
        array_agg(edge.src ORDER BY edge.src, edge.dst),
        array_agg(edge.dst ORDER BY edge.src, edge.dst),
        array_agg(edge.src ORDER BY edge.dst, edge.src),
        array_agg(edge.dst ORDER BY edge.dst, edge.src)
    INTO e_src, e_dst, r_src, r_dst
    FROM edge;
    v_m := cardinality(e_src);

    f_start := array_fill(v_m + 1, ARRAY[v_n + 1]);
    r_start := array_fill(v_m + 1, ARRAY[v_n + 1]);
    v_k := 1;
    FOR v_v IN 1 .. v_n + 1 LOOP
        WHILE v_k <= v_m AND e_src[v_k] < v_v LOOP
            v_k := v_k + 1;
        END LOOP;
        f_start[v_v] := v_k;
    END LOOP;
    v_k := 1;
    FOR v_v IN 1 .. v_n + 1 LOOP
        WHILE v_k <= v_m AND r_dst[v_k] < v_v LOOP
            v_k := v_k + 1;
        END LOOP;
        r_start[v_v] := v_k;
    END LOOP;

    -- Strongly connected components.
    t_index := array_fill(0, ARRAY[v_n]);
    t_low := array_fill(0, ARRAY[v_n]);
    t_on := array_fill(FALSE, ARRAY[v_n]);
    v_comp := array_fill(0, ARRAY[v_n]);
    v_loop := array_fill(FALSE, ARRAY[v_n]);
    FOR v_k IN 1 .. v_m LOOP
        IF e_src[v_k] = e_dst[v_k] THEN
            v_loop[e_src[v_k]] := TRUE;
        END IF;
    END LOOP;
    FOR v_v IN 1 .. v_n LOOP
        CONTINUE WHEN t_index[v_v] > 0;
        v_counter := v_counter + 1;
        t_index[v_v] := v_counter;
        t_low[v_v] := v_counter;
        t_sp := t_sp + 1;
        t_stack[t_sp] := v_v;
        t_on[v_v] := TRUE;
        c_sp := 1;
        c_node[1] := v_v;
        c_edge[1] := f_start[v_v];
        WHILE c_sp > 0 LOOP
            v_u := c_node[c_sp];
            IF c_edge[c_sp] < f_start[v_u + 1] THEN
                v_w := e_dst[c_edge[c_sp]];
                c_edge[c_sp] := c_edge[c_sp] + 1;
                IF t_index[v_w] = 0 THEN
                    v_counter := v_counter + 1;
                    t_index[v_w] := v_counter;
                    t_low[v_w] := v_counter;
                    t_sp := t_sp + 1;
                    t_stack[t_sp] := v_w;
                    t_on[v_w] := TRUE;
                    c_sp := c_sp + 1;
                    c_node[c_sp] := v_w;
                    c_edge[c_sp] := f_start[v_w];
                ELSIF t_on[v_w] AND t_index[v_w] < t_low[v_u] THEN
                    t_low[v_u] := t_index[v_w];
                END IF;
            ELSE
                IF t_low[v_u] = t_index[v_u] THEN
                    v_comps := v_comps + 1;
                    v_size[v_comps] := 0;
                    v_root[v_comps] := v_u;
                    LOOP
                        v_w := t_stack[t_sp];
                        t_sp := t_sp - 1;
                        t_on[v_w] := FALSE;
                        v_comp[v_w] := v_comps;
                        v_size[v_comps] := v_size[v_comps] + 1;
                        v_root[v_comps] := least(v_root[v_comps], v_w);
                        EXIT WHEN v_w = v_u;
                    END LOOP;
                END IF;
                c_sp := c_sp - 1;
                IF c_sp > 0 AND t_low[v_u] < t_low[c_node[c_sp]] THEN
                    t_low[c_node[c_sp]] := t_low[v_u];
                END IF;
            END IF;
        END LOOP;
    END LOOP;

    -- Shortest paths from and to the root of each cyclic component, inside it.
    d_fwd := array_fill(NULL::integer, ARRAY[v_n]);
    p_fwd := array_fill(NULL::integer, ARRAY[v_n]);
    d_bwd := array_fill(NULL::integer, ARRAY[v_n]);
    n_bwd := array_fill(NULL::integer, ARRAY[v_n]);
    FOR v_c IN 1 .. v_comps LOOP
        v_r := v_root[v_c];
        CONTINUE WHEN v_size[v_c] = 1 AND NOT v_loop[v_r];
        q := ARRAY[v_r];
        q_head := 1;
        q_tail := 1;
        d_fwd[v_r] := 0;
        WHILE q_head <= q_tail LOOP
            v_u := q[q_head];
            q_head := q_head + 1;
            FOR v_k IN f_start[v_u] .. f_start[v_u + 1] - 1 LOOP
                v_w := e_dst[v_k];
                CONTINUE WHEN v_comp[v_w] <> v_c OR d_fwd[v_w] IS NOT NULL;
                d_fwd[v_w] := d_fwd[v_u] + 1;
                p_fwd[v_w] := v_u;
                q_tail := q_tail + 1;
                q[q_tail] := v_w;
            END LOOP;
        END LOOP;
        q := ARRAY[v_r];
        q_head := 1;
        q_tail := 1;
        d_bwd[v_r] := 0;
        WHILE q_head <= q_tail LOOP
            v_u := q[q_head];
            q_head := q_head + 1;
            FOR v_k IN r_start[v_u] .. r_start[v_u + 1] - 1 LOOP
                v_w := r_src[v_k];
                CONTINUE WHEN v_comp[v_w] <> v_c OR d_bwd[v_w] IS NOT NULL;
                d_bwd[v_w] := d_bwd[v_u] + 1;
                n_bwd[v_w] := v_u;
                q_tail := q_tail + 1;
                q[q_tail] := v_w;
            END LOOP;
        END LOOP;
    END LOOP;

    -- One error per field on a cycle, in document order, with a cycle through it: to
    -- the root of its component, then back. Long cycles are shortened in the middle,
    -- so that each message costs the same.
    FOR v_v IN 1 .. v_n LOOP
        CONTINUE WHEN v_size[v_comp[v_v]] = 1 AND NOT v_loop[v_v];
        CONTINUE WHEN p_index -> v_names[v_v] IS NULL;
        v_r := v_root[v_comp[v_v]];
        v_head := '{}';
        v_tail := '{}';
        IF v_v = v_r THEN
            -- Back to itself: the predecessor closest to the root closes the shortest cycle.
            IF v_loop[v_v] THEN
                v_best := v_v;
            ELSE
                v_best := NULL;
                FOR v_k IN r_start[v_v] .. r_start[v_v + 1] - 1 LOOP
                    v_w := r_src[v_k];
                    IF v_comp[v_w] = v_comp[v_v]
                        AND (v_best IS NULL OR d_fwd[v_w] < d_fwd[v_best]) THEN
                        v_best := v_w;
                    END IF;
                END LOOP;
            END IF;
            v_tail := ARRAY[v_names[v_v]];
            v_w := v_best;
            WHILE v_w IS NOT NULL AND cardinality(v_tail) < 11 LOOP
                v_tail := v_names[v_w] || v_tail;
                v_w := p_fwd[v_w];
            END LOOP;
            IF v_w IS NOT NULL THEN
                v_head := ARRAY[v_names[v_v]];
            END IF;
        ELSE
            v_w := v_v;
            WHILE v_w IS NOT NULL AND cardinality(v_head) < 6 LOOP
                v_head := v_head || v_names[v_w];
                v_w := n_bwd[v_w];
            END LOOP;
            v_u := v_v;
            WHILE v_u <> v_r AND cardinality(v_tail) < 6 LOOP
                v_tail := v_names[v_u] || v_tail;
                v_u := p_fwd[v_u];
            END LOOP;
            IF v_w IS NULL AND v_u = v_r THEN
                v_head := v_head || v_tail;     -- the whole cycle
                v_tail := '{}';
            END IF;
        END IF;
        v_errors := v_errors || pliers._form_error(
            p_index -> v_names[v_v] ->> 'path', 'dependency_cycle',
            format(
                '%s depends on itself: %s', v_names[v_v],
                array_to_string(v_head || CASE WHEN cardinality(v_head) > 0 AND cardinality(v_tail) > 0
                    THEN ARRAY['...'] ELSE '{}' END || v_tail, ' -> ')
            )
        );
    END LOOP;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._dependency_cycles(text[], text[], jsonb) IS
'Private to validate_form_definition: one dependency_cycle error per field on a cycle of the graph p_from[i] -> '
'p_to[i] (field paths; p_index: the fields by path, with their ord and JSON path), in document order, each with '
'a cycle through the field (shortened in the middle when long). Linear in the size of the graph.';

CREATE FUNCTION pliers.validate_form_definition(p_definition jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    c_top constant text[] := ARRAY[
        '$schema', 'title', 'description', 'languages', 'defaultLanguage', 'fields', 'sections', 'pages', 'logic',
        'calculations', 'integrations', 'ui', 'metadata'
    ];
    v_languages jsonb;              -- the form's languages (translatable texts), NULL if none
    v_default_language text;
    v_errors jsonb[] := '{}';
    v_refs jsonb[] := '{}';
    v_limits constant jsonb := pliers.form_limits();
    v_max_fields constant integer := (v_limits ->> 'fields')::integer;
    v_max_depth constant integer := (v_limits ->> 'field_depth')::integer;
    v_max_refs constant integer := (v_limits ->> 'conditions')::integer;
    v_index jsonb := '{}';          -- dotted field path -> {kind, repeat, parent, path, ord, field}
    v_ids jsonb := '{}';            -- field id -> JSON path of the field
    -- The fields that have a name of their own, for v_index, built once after the walk:
    -- adding to a jsonb object copies it, so one addition per field was quadratic.
    x_abs text[] := '{}';
    x_entry jsonb[] := '{}';
    v_count integer := 0;
    v_cond_errors jsonb[];
    v_cond_refs jsonb[];
    -- frames of the depth-first walk over fields, groups and repeats
    fr_fields jsonb[];
    fr_next integer[];
    fr_path text[];
    fr_prefix text[];
    fr_repeat text[];
    fr_parent text[];
    fr_names jsonb[];
    v_depth integer;
    v_ord integer := 0;
    v_field jsonb;
    v_path text;
    v_name text;
    v_abs text;
    v_kind text;
    v_valid_name boolean;
    v_from text[] := '{}';
    v_to text[] := '{}';
    v_expr_from text[];
    v_expr_to text[];
    v_ref jsonb;
    v_target jsonb;
    v_at text;
    v_operator text;
    v_value jsonb;
    v_row record;
    v_key text;
    v_list jsonb;
    v_item jsonb;
    v_sections jsonb := '{}';
    v_pages jsonb := '{}';
    v_placed jsonb := '{}';
    v_page_placed jsonb := '{}';
BEGIN
    IF jsonb_typeof(p_definition) IS DISTINCT FROM 'object' THEN
        RETURN jsonb_build_array(pliers._form_error('$', 'invalid_type', 'a form definition is a JSON object'));
    END IF;
    -- Limits first: size and nesting bound every walk below.
    PERFORM pliers._check_document_limits(p_definition, '$', 'definition_bytes', FALSE);

    -- The definition object ---------------------------------------------------------
    FOR v_key IN
        SELECT k.key FROM jsonb_object_keys(p_definition - c_top) AS k (key) ORDER BY k.key COLLATE "C"
    LOOP
        v_errors := v_errors || pliers._form_error(
            '$.' || pliers._json_path_key(v_key), 'unknown_property',
            format('%s is not a property of a form definition', to_json(v_key))
        );
    END LOOP;
    IF jsonb_typeof(p_definition -> '$schema') <> 'string' THEN
        v_errors := v_errors || pliers._form_error('$."$schema"', 'invalid_type', 'must be a string');
    END IF;
    -- Languages: BCP 47 tags, distinct; the default one of them. Translatable texts
    -- may then be objects language -> text.
    v_list := p_definition -> 'languages';
    IF v_list IS NOT NULL THEN
        IF jsonb_typeof(v_list) <> 'array' OR jsonb_array_length(v_list) = 0 THEN
            v_errors := v_errors || pliers._form_error(
                '$.languages', 'invalid_type', 'must be a non-empty array of language tags such as "en" or "fr-CA"'
            );
        ELSE
            PERFORM pliers._check_array_limit(v_list, '$.languages');
            v_languages := '{}';
            FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
                IF jsonb_typeof(v_list -> v_i) <> 'string'
                    OR (v_list ->> v_i) !~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$' THEN
                    v_errors := v_errors || pliers._form_error(
                        '$.languages[' || v_i || ']', 'invalid_value', 'must be a language tag such as "en" or "fr-CA"'
                    );
                ELSIF v_languages ? (v_list ->> v_i) THEN
                    v_errors := v_errors || pliers._form_error(
                        '$.languages[' || v_i || ']', 'invalid_value', format('%s is listed twice', v_list -> v_i)
                    );
                ELSE
                    v_languages := v_languages || jsonb_build_object(v_list ->> v_i, TRUE);
                END IF;
            END LOOP;
        END IF;
        IF NOT p_definition ? 'defaultLanguage' THEN
            v_errors := v_errors || pliers._form_error(
                '$.defaultLanguage', 'missing_property', 'defaultLanguage is required with languages'
            );
        END IF;
    END IF;
    IF p_definition ? 'defaultLanguage' THEN
        v_default_language := p_definition ->> 'defaultLanguage';
        IF v_list IS NULL THEN
            v_errors := v_errors || pliers._form_error(
                '$.defaultLanguage', 'unknown_language', 'the form declares no languages'
            );
            v_default_language := NULL;
        ELSIF jsonb_typeof(p_definition -> 'defaultLanguage') <> 'string' THEN
            v_errors := v_errors || pliers._form_error('$.defaultLanguage', 'invalid_type', 'must be a language tag');
            v_default_language := NULL;
        ELSIF v_languages IS NOT NULL AND NOT v_languages ? v_default_language THEN
            v_errors := v_errors || pliers._form_error(
                '$.defaultLanguage', 'unknown_language',
                format('%s is not one of the form''s languages', p_definition -> 'defaultLanguage')
            );
            v_default_language := NULL;
        END IF;
    END IF;
    FOREACH v_key IN ARRAY ARRAY['title', 'description'] LOOP
        v_errors := v_errors || pliers._check_translatable(
            p_definition -> v_key, '$.' || v_key, v_languages, v_default_language
        );
    END LOOP;
    FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
        IF jsonb_typeof(p_definition -> v_key) <> 'object' THEN
            v_errors := v_errors || pliers._form_error('$.' || v_key, 'invalid_type', 'must be an object');
        END IF;
    END LOOP;
    IF NOT p_definition ? 'fields' THEN
        v_errors := v_errors || pliers._form_error('$.fields', 'missing_property', 'fields is required');
    ELSIF jsonb_typeof(p_definition -> 'fields') <> 'array' THEN
        v_errors := v_errors || pliers._form_error('$.fields', 'invalid_type', 'must be an array of fields');
    END IF;

    -- Fields, depth first: each field alone, names per scope, ids, conditions --------
    IF jsonb_typeof(p_definition -> 'fields') = 'array' THEN
        v_depth := 1;
        fr_fields := ARRAY[p_definition -> 'fields'];
        fr_next := ARRAY[0];
        fr_path := ARRAY['$.fields'];
        fr_prefix := ARRAY[''];
        fr_repeat := ARRAY[''];
        fr_parent := ARRAY[''];
        fr_names := ARRAY['{}'::jsonb];
        WHILE v_depth > 0 LOOP
            IF fr_next[v_depth] >= jsonb_array_length(fr_fields[v_depth]) THEN
                v_depth := v_depth - 1;
                CONTINUE;
            END IF;
            v_field := fr_fields[v_depth] -> fr_next[v_depth];
            v_path := fr_path[v_depth] || '[' || fr_next[v_depth] || ']';
            fr_next[v_depth] := fr_next[v_depth] + 1;
            v_count := v_count + 1;
            IF v_count > v_max_fields THEN
                PERFORM pliers._raise_limit(
                    v_path, 'too_many_fields', format('the definition has more than %s fields', v_max_fields)
                );
            END IF;
            IF jsonb_typeof(v_field) <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a field is an object');
                CONTINUE;
            END IF;
            v_errors := v_errors || pliers._check_field(v_field, v_path, v_languages, v_default_language);
            v_kind := v_field ->> 'type';
            v_name := v_field ->> 'name';
            v_valid_name := coalesce(
                jsonb_typeof(v_field -> 'name') = 'string' AND pliers._valid_field_name(v_name), FALSE
            );
            v_abs := fr_prefix[v_depth] || coalesce(v_name, '?');

            IF v_valid_name THEN
                IF fr_names[v_depth] ? v_name THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.name', 'duplicate_name',
                        CASE
                            WHEN fr_names[v_depth] ->> v_name = '' THEN
                                format('the name %s is already used in this scope', to_json(v_name))
                            ELSE format(
                                'the name %s is the key of the "other" text of the field %s',
                                to_json(v_name), to_json(fr_names[v_depth] ->> v_name)
                            )
                        END
                    );
                ELSE
                    fr_names[v_depth] := fr_names[v_depth] || jsonb_build_object(v_name, '');
                    IF v_field -> 'allowOther' = 'true'::jsonb AND v_kind IN ('single_choice', 'multiple_choice') THEN
                        IF fr_names[v_depth] ? (v_name || '_other') THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path || '.allowOther', 'duplicate_name',
                                format('the "other" text is kept under %s, already the name of a field', to_json(v_name || '_other'))
                            );
                        ELSE
                            fr_names[v_depth] := fr_names[v_depth] || jsonb_build_object(v_name || '_other', v_name);
                        END IF;
                    END IF;
                    v_ord := v_ord + 1;
                    x_abs[v_ord] := v_abs;
                    x_entry[v_ord] := jsonb_build_object(
                        'kind', v_kind, 'repeat', fr_repeat[v_depth], 'parent', fr_parent[v_depth],
                        'path', v_path, 'ord', v_ord, 'field', v_field - 'fields'
                    );
                END IF;
            END IF;

            IF jsonb_typeof(v_field -> 'id') = 'string' THEN
                IF v_ids ? (v_field ->> 'id') THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.id', 'duplicate_field_id',
                        format('the id %s is already the id of %s', v_field -> 'id', v_ids ->> (v_field ->> 'id'))
                    );
                ELSE
                    v_ids := v_ids || jsonb_build_object(v_field ->> 'id', v_path);
                END IF;
            END IF;

            -- Each condition is checked on its own (empty arrays in, its errors and references
            -- out, appended in place): passing the growing lists through every call copied them.
            PERFORM pliers._check_array_limit(v_field #> '{conditional,when}', v_path || '.conditional.when');
            FOR v_row IN
                SELECT c.ord, c.condition, c.path, c.role
                FROM (
                    VALUES
                    (-1, v_field -> 'visibleWhen', v_path || '.visibleWhen', 'visible'),
                    (0, v_field -> 'requiredWhen', v_path || '.requiredWhen', 'required')
                ) AS c (ord, condition, path, role)
                WHERE c.condition IS NOT NULL
                UNION ALL
                SELECT w.ord, w.condition, v_path || '.conditional.when[' || (w.ord - 1) || ']', 'visible'
                FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof(v_field #> '{conditional,when}') = 'array' THEN v_field #> '{conditional,when}' END
                ) WITH ORDINALITY AS w (condition, ord)
                ORDER BY 1
            LOOP
                SELECT c.p_errors, c.p_refs INTO v_cond_errors, v_cond_refs
                FROM pliers._check_condition(v_row.condition, v_row.path, v_abs, v_row.role, '{}', '{}') AS c;
                IF cardinality(v_refs) + cardinality(v_cond_refs) > v_max_refs THEN
                    PERFORM pliers._raise_limit(
                        v_row.path, 'too_many_conditions',
                        format('the definition has more than %s conditions and expression references', v_max_refs)
                    );
                END IF;
                FOREACH v_ref IN ARRAY v_cond_errors LOOP
                    v_errors := v_errors || v_ref;
                END LOOP;
                FOREACH v_ref IN ARRAY v_cond_refs LOOP
                    v_refs := v_refs || v_ref;
                END LOOP;
            END LOOP;
            IF v_kind = 'calculated' AND jsonb_typeof(v_field -> 'expression') = 'string' THEN
                FOR v_key IN
                    SELECT btrim(m.match[1]) FROM regexp_matches(v_field ->> 'expression', '\{([^{}]*)\}', 'g') AS m (match)
                LOOP
                    IF cardinality(v_refs) >= v_max_refs THEN
                        PERFORM pliers._raise_limit(
                            v_path || '.expression', 'too_many_conditions',
                            format('the definition has more than %s conditions and expression references', v_max_refs)
                        );
                    END IF;
                    v_refs := v_refs || jsonb_build_object(
                        'owner', v_abs, 'role', 'calc', 'field', v_key, 'path', v_path || '.expression'
                    );
                END LOOP;
            END IF;

            IF v_kind IN ('group', 'repeat') AND jsonb_typeof(v_field -> 'fields') = 'array' THEN
                IF v_depth > v_max_depth THEN
                    PERFORM pliers._raise_limit(
                        v_path || '.fields', 'fields_too_deep',
                        format('groups and repeats are nested more than %s levels deep', v_max_depth)
                    );
                END IF;
                v_depth := v_depth + 1;
                fr_fields[v_depth] := v_field -> 'fields';
                fr_next[v_depth] := 0;
                fr_path[v_depth] := v_path || '.fields';
                fr_prefix[v_depth] := v_abs || '.';
                fr_repeat[v_depth] := CASE WHEN v_kind = 'repeat' THEN v_abs ELSE fr_repeat[v_depth - 1] END;
                fr_parent[v_depth] := v_abs;
                fr_names[v_depth] := '{}';
            END IF;
        END LOOP;
    END IF;

    SELECT coalesce(jsonb_object_agg(x.abs, x.entry ORDER BY x.ord), '{}')
    INTO v_index
    FROM unnest(x_abs, x_entry) WITH ORDINALITY AS x (abs, entry, ord);

    -- References of conditions and expressions ------------------------------------------
    FOREACH v_ref IN ARRAY v_refs LOOP
        v_target := v_index -> (v_ref ->> 'field');
        v_at := (v_ref ->> 'path') || CASE WHEN v_ref ->> 'role' = 'calc' THEN '' ELSE '.field' END;
        v_kind := v_target ->> 'kind';
        v_operator := v_ref ->> 'operator';
        v_value := v_ref -> 'value';
        IF v_target IS NULL THEN
            v_errors := v_errors || pliers._form_error(
                v_at, 'unknown_reference',
                format('there is no field %s (name a field by its dotted path from the top: address.zip)', v_ref -> 'field')
            );
            CONTINUE;
        ELSIF v_target ->> 'repeat' <> '' AND NOT starts_with(v_ref ->> 'owner', (v_target ->> 'repeat') || '.') THEN
            v_errors := v_errors || pliers._form_error(
                v_at, 'invalid_reference',
                format(
                    '%s is inside the repeat %s: only the fields of that repeat can refer to it',
                    v_ref ->> 'field', v_target ->> 'repeat'
                )
            );
            CONTINUE;
        ELSIF v_kind IN ('display', 'group') OR (
            v_kind = 'calculated' AND v_ref ->> 'role' <> 'calc' AND jsonb_typeof(v_target #> '{field,expression}') = 'string'
        ) THEN
            v_errors := v_errors || pliers._form_error(
                v_at, 'invalid_reference', format('%s is a %s field, with no stored answer', v_ref ->> 'field', v_kind)
            );
            CONTINUE;
        ELSIF v_ref ->> 'role' = 'calc' THEN
            NULL;
        ELSIF v_kind = 'repeat' AND v_operator NOT IN ('empty', 'not_empty') THEN
            v_errors := v_errors || pliers._form_error(
                (v_ref ->> 'path') || '.operator', 'invalid_operator', 'a repeat is tested with empty or not_empty only'
            );
        ELSIF v_operator IN ('greater_than', 'greater_or_equal', 'less_than', 'less_or_equal')
            AND v_kind = 'single_choice' AND pliers._ordinal_choices(v_target -> 'field') THEN
            -- Ordinal choices: every code a decimal number, compared with a number.
            IF jsonb_typeof(v_value) <> 'number' THEN
                v_errors := v_errors || pliers._form_error(
                    (v_ref ->> 'path') || '.value', 'invalid_value',
                    format('must be a number: the choice codes of %s are numbers', v_ref ->> 'field')
                );
            END IF;
        ELSIF v_operator IN ('greater_than', 'greater_or_equal', 'less_than', 'less_or_equal') THEN
            IF v_kind NOT IN ('number', 'integer', 'currency', 'rating', 'date', 'time', 'datetime') THEN
                v_errors := v_errors || pliers._form_error(
                    (v_ref ->> 'path') || '.operator', 'invalid_operator',
                    format('%s compares numbers, dates and times, not the answer of a %s field', v_operator, v_kind)
                );
            ELSIF (v_kind IN ('number', 'integer', 'currency', 'rating') AND jsonb_typeof(v_value) <> 'number')
                OR (v_kind = 'date' AND NOT coalesce(pliers._is_date(v_value #>> '{}'), FALSE))
                OR (v_kind = 'time' AND NOT coalesce(pliers._is_time(v_value #>> '{}'), FALSE))
                OR (v_kind = 'datetime' AND NOT coalesce(pliers._is_datetime(v_value #>> '{}'), FALSE)) THEN
                v_errors := v_errors || pliers._form_error(
                    (v_ref ->> 'path') || '.value', 'invalid_value',
                    format('must be a %s, like the answers of %s', v_kind, v_ref ->> 'field')
                );
            END IF;
        ELSIF v_kind IN ('single_choice', 'multiple_choice', 'ranking') AND v_operator IN ('equals', 'not_equals', 'in', 'not_in') THEN
            FOR v_i IN 0 .. CASE WHEN jsonb_typeof(v_value) = 'array' THEN jsonb_array_length(v_value) - 1 ELSE 0 END LOOP
                v_item := CASE WHEN jsonb_typeof(v_value) = 'array' THEN v_value -> v_i ELSE v_value END;
                IF NOT pliers._choice_allowed(v_target -> 'field', v_item) THEN
                    v_errors := v_errors || pliers._form_error(
                        (v_ref ->> 'path') || '.value' || CASE WHEN jsonb_typeof(v_value) = 'array' THEN '[' || v_i || ']' ELSE '' END,
                        'unknown_choice_code', format('%s is not a choice code of %s', v_item, v_ref ->> 'field')
                    );
                END IF;
            END LOOP;
        END IF;
        IF v_ref ->> 'role' IN ('visible', 'calc') THEN
            v_from := v_from || (v_ref ->> 'owner');
            v_to := v_to || (v_ref ->> 'field');
        END IF;
    END LOOP;

    -- Expressions, each in its scope; calculations and visibility add dependencies.
    SELECT x.errors, x.dep_from, x.dep_to INTO v_cond_errors, v_expr_from, v_expr_to
    FROM pliers._check_form_expressions(v_index) AS x;
    FOREACH v_ref IN ARRAY v_cond_errors LOOP
        v_errors := v_errors || v_ref;
    END LOOP;
    v_from := v_from || v_expr_from;
    v_to := v_to || v_expr_to;

    -- Cycles: a field's visibility (or calculation) may not depend on itself, -----------
    -- directly or through other fields; a field also depends on its group.
    FOR v_key, v_item IN SELECT e.key, e.value FROM jsonb_each(v_index) AS e LOOP
        IF v_item ->> 'parent' <> '' THEN
            v_from := v_from || v_key;
            v_to := v_to || (v_item ->> 'parent');
        END IF;
    END LOOP;
    FOREACH v_item IN ARRAY pliers._dependency_cycles(v_from, v_to, v_index) LOOP
        v_errors := v_errors || v_item;
    END LOOP;

    -- Sections and pages: layout of top-level fields ---------------------------------
    v_list := p_definition -> 'sections';
    IF v_list IS NOT NULL AND jsonb_typeof(v_list) <> 'array' THEN
        v_errors := v_errors || pliers._form_error('$.sections', 'invalid_type', 'must be an array of sections');
    ELSIF v_list IS NOT NULL THEN
        PERFORM pliers._check_array_limit(v_list, '$.sections', 'sections');
        FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
            v_item := v_list -> v_i;
            v_path := '$.sections[' || v_i || ']';
            IF jsonb_typeof(v_item) <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a section is an object');
                CONTINUE;
            END IF;
            FOR v_key IN
                SELECT k.key
                FROM jsonb_object_keys(v_item - ARRAY['id', 'title', 'description', 'fields', 'ui', 'metadata']) AS k (key)
                ORDER BY k.key COLLATE "C"
            LOOP
                v_errors := v_errors || pliers._form_error(
                    v_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                    format('%s is not a property of a section (id, title, description, fields, ui, metadata)', to_json(v_key))
                );
            END LOOP;
            IF NOT v_item ? 'id' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'missing_property', 'id is required');
            ELSIF jsonb_typeof(v_item -> 'id') <> 'string' OR v_item ->> 'id' = '' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'invalid_value', 'must be a non-empty string');
            ELSIF v_sections ? (v_item ->> 'id') THEN
                v_errors := v_errors || pliers._form_error(
                    v_path || '.id', 'duplicate_section_id', format('the section id %s is already used', v_item -> 'id')
                );
            ELSE
                v_sections := v_sections || jsonb_build_object(v_item ->> 'id', v_path);
            END IF;
            FOREACH v_key IN ARRAY ARRAY['title', 'description'] LOOP
                v_errors := v_errors || pliers._check_translatable(
                    v_item -> v_key, v_path || '.' || v_key, v_languages, v_default_language
                );
            END LOOP;
            FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
                IF jsonb_typeof(v_item -> v_key) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be an object');
                END IF;
            END LOOP;
            IF v_item ? 'fields' AND jsonb_typeof(v_item -> 'fields') <> 'array' THEN
                v_errors := v_errors || pliers._form_error(
                    v_path || '.fields', 'invalid_type', 'must be an array of top-level field names'
                );
            ELSIF v_item ? 'fields' THEN
                PERFORM pliers._check_array_limit(v_item -> 'fields', v_path || '.fields');
                FOR v_j IN 0 .. jsonb_array_length(v_item -> 'fields') - 1 LOOP
                    v_name := v_item -> 'fields' ->> v_j;
                    IF jsonb_typeof(v_item -> 'fields' -> v_j) <> 'string'
                        OR coalesce(v_index -> v_name ->> 'parent', '?') <> '' THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.fields[' || v_j || ']', 'unknown_reference',
                            format('%s is not the name of a top-level field', v_item -> 'fields' -> v_j)
                        );
                    ELSIF v_placed ? v_name THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.fields[' || v_j || ']', 'duplicate_reference',
                            format('the field %s is already placed in %s', v_name, v_placed ->> v_name)
                        );
                    ELSE
                        v_placed := v_placed || jsonb_build_object(v_name, v_path);
                    END IF;
                END LOOP;
            END IF;
        END LOOP;
    END IF;

    v_list := p_definition -> 'pages';
    IF v_list IS NOT NULL AND jsonb_typeof(v_list) <> 'array' THEN
        v_errors := v_errors || pliers._form_error('$.pages', 'invalid_type', 'must be an array of pages');
    ELSIF v_list IS NOT NULL THEN
        PERFORM pliers._check_array_limit(v_list, '$.pages', 'sections');
        FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
            v_item := v_list -> v_i;
            v_path := '$.pages[' || v_i || ']';
            IF jsonb_typeof(v_item) <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a page is an object');
                CONTINUE;
            END IF;
            FOR v_key IN
                SELECT k.key
                FROM jsonb_object_keys(
                    v_item - ARRAY['id', 'title', 'description', 'sections', 'fields', 'ui', 'metadata']
                ) AS k (key)
                ORDER BY k.key COLLATE "C"
            LOOP
                v_errors := v_errors || pliers._form_error(
                    v_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                    format('%s is not a property of a page (id, title, description, sections, fields, ui, metadata)', to_json(v_key))
                );
            END LOOP;
            IF NOT v_item ? 'id' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'missing_property', 'id is required');
            ELSIF jsonb_typeof(v_item -> 'id') <> 'string' OR v_item ->> 'id' = '' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'invalid_value', 'must be a non-empty string');
            ELSIF v_pages ? (v_item ->> 'id') THEN
                v_errors := v_errors || pliers._form_error(
                    v_path || '.id', 'duplicate_page_id', format('the page id %s is already used', v_item -> 'id')
                );
            ELSE
                v_pages := v_pages || jsonb_build_object(v_item ->> 'id', v_path);
            END IF;
            FOREACH v_key IN ARRAY ARRAY['title', 'description'] LOOP
                v_errors := v_errors || pliers._check_translatable(
                    v_item -> v_key, v_path || '.' || v_key, v_languages, v_default_language
                );
            END LOOP;
            FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
                IF jsonb_typeof(v_item -> v_key) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be an object');
                END IF;
            END LOOP;
            FOREACH v_key IN ARRAY ARRAY['sections', 'fields'] LOOP
                CONTINUE WHEN NOT v_item ? v_key;
                IF jsonb_typeof(v_item -> v_key) <> 'array' THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.' || v_key, 'invalid_type',
                        CASE v_key WHEN 'sections' THEN 'must be an array of section ids'
                            ELSE 'must be an array of top-level field names' END
                    );
                    CONTINUE;
                END IF;
                PERFORM pliers._check_array_limit(v_item -> v_key, v_path || '.' || v_key);
                FOR v_j IN 0 .. jsonb_array_length(v_item -> v_key) - 1 LOOP
                    v_name := v_item -> v_key ->> v_j;
                    IF jsonb_typeof(v_item -> v_key -> v_j) <> 'string' OR (CASE v_key
                        WHEN 'sections' THEN NOT v_sections ? v_name
                        ELSE coalesce(v_index -> v_name ->> 'parent', '?') <> ''
                    END) THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.' || v_key || '[' || v_j || ']', 'unknown_reference',
                            CASE v_key WHEN 'sections' THEN format('%s is not the id of a section', v_item -> v_key -> v_j)
                                ELSE format('%s is not the name of a top-level field', v_item -> v_key -> v_j) END
                        );
                    ELSIF v_page_placed ? (v_key || ':' || v_name) THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.' || v_key || '[' || v_j || ']', 'duplicate_reference',
                            format('%s is already placed in %s', v_name, v_page_placed ->> (v_key || ':' || v_name))
                        );
                    ELSE
                        v_page_placed := v_page_placed || jsonb_build_object(v_key || ':' || v_name, v_path);
                    END IF;
                END LOOP;
            END LOOP;
        END LOOP;
    END IF;

    -- logic, calculations, integrations: arrays of objects for other components -------
    FOREACH v_key IN ARRAY ARRAY['logic', 'calculations', 'integrations'] LOOP
        v_list := p_definition -> v_key;
        IF v_list IS NOT NULL AND jsonb_typeof(v_list) <> 'array' THEN
            v_errors := v_errors || pliers._form_error('$.' || v_key, 'invalid_type', 'must be an array of objects');
        ELSIF v_list IS NOT NULL THEN
            PERFORM pliers._check_array_limit(v_list, '$.' || v_key);
            FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
                IF jsonb_typeof(v_list -> v_i) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(
                        '$.' || v_key || '[' || v_i || ']', 'invalid_type', 'must be an object'
                    );
                END IF;
            END LOOP;
        END IF;
    END LOOP;

    RETURN to_jsonb(v_errors);
END
$$;

COMMENT ON FUNCTION pliers.validate_form_definition(jsonb) IS
'All the errors of a form definition (forms.definition), as a JSON array of {path, code, message} with JSON paths '
'into the definition ($.fields[2].choices[0].code); [] when valid. Checks structure and types, field kinds and the '
'properties and validation rules of each, names (unique per scope: top level, group, repeat), ids (unique), choice '
'codes (unique), min <= max, regular expressions (a bad one is an error, not an exception), defaults, conditions '
'(operators, values, references to existing fields that have an answer), dependency cycles through visibleWhen, '
'groups and calculated expressions, sections and pages. Format and codes: docs/forms.md.';

CREATE FUNCTION pliers.assert_valid_form_definition(p_definition jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_errors constant jsonb := pliers.validate_form_definition(p_definition);
BEGIN
    IF v_errors <> '[]'::jsonb THEN
        RAISE EXCEPTION 'form definition is not valid (% errors)', jsonb_array_length(v_errors)
            USING
                ERRCODE = 'PL001',
                DETAIL = jsonb_build_object('errors', v_errors)::text,
                HINT = 'DETAIL lists every error with its JSON path, code and message.';
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.assert_valid_form_definition(jsonb) IS
'Raises PL001 (ValidationError) with DETAIL {"errors": [{path, code, message}, ...]} when validate_form_definition '
'finds errors; returns nothing otherwise. The form API calls it before saving a definition.';

-- Breaking changes -------------------------------------------------------------------------

CREATE FUNCTION pliers._form_field_list(p_definition jsonb)
RETURNS TABLE (
    sort_key integer[],
    def_path text,
    data_path text,
    parent_path text,
    name text,
    field_id text,
    kind text,
    field jsonb
)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    WITH RECURSIVE walk (sort_key, def_path, data_path, parent_path, field) AS (
        SELECT
            ARRAY[top.ord::integer],
            '$.fields[' || (top.ord - 1) || ']',
            top.field ->> 'name',
            '',
            top.field
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(p_definition -> 'fields') = 'array' THEN p_definition -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS top (field, ord)
        WHERE jsonb_typeof(top.field -> 'name') = 'string'
        UNION ALL
        SELECT
            walk.sort_key || child.ord::integer,
            walk.def_path || '.fields[' || (child.ord - 1) || ']',
            walk.data_path || '.' || (child.field ->> 'name'),
            walk.data_path,
            child.field
        FROM walk
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE
                WHEN walk.field ->> 'type' IN ('group', 'repeat') AND jsonb_typeof(walk.field -> 'fields') = 'array'
                    THEN walk.field -> 'fields'
                ELSE '[]'
            END
        ) WITH ORDINALITY AS child (field, ord)
        WHERE jsonb_typeof(child.field -> 'name') = 'string'
    )

    SELECT
        walk.sort_key,
        walk.def_path,
        walk.data_path,
        walk.parent_path,
        walk.field ->> 'name',
        walk.field ->> 'id',
        walk.field ->> 'type',
        walk.field
    FROM walk
$$;

COMMENT ON FUNCTION pliers._form_field_list(jsonb) IS
'Every field of a definition, nested ones included, with its position (sort_key: document order), JSON path in the '
'definition, dotted data path (address.zip), the data path of its group or repeat ('''' at the top), name, id, kind.';

CREATE FUNCTION pliers._kinds_compatible(p_old text, p_new text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT p_old = p_new
        OR p_new = 'hidden'
        OR (
            p_new IN ('text', 'textarea')
            AND p_old IN (
                'text', 'textarea', 'email', 'url', 'phone', 'password', 'date', 'time', 'datetime', 'single_choice'
            )
        )
        OR (p_old = 'integer' AND p_new IN ('number', 'currency'))
        OR (p_old = 'rating' AND p_new IN ('integer', 'number'))
        OR (p_old = 'currency' AND p_new = 'number')
        OR (p_old IN ('boolean', 'consent') AND p_new IN ('boolean', 'consent'))
        -- A ranking is a list of distinct codes; a closed ring is a line.
        OR (p_old = 'ranking' AND p_new = 'multiple_choice')
        OR (p_old = 'geoshape' AND p_new = 'geotrace')
$$;

COMMENT ON FUNCTION pliers._kinds_compatible(text, text) IS
'TRUE when every answer valid for a field of kind p_old has the right type for kind p_new (rules aside): the same '
'kind; any kind to hidden; string kinds to text or textarea; integer to number or currency; rating to integer or '
'number; currency to number; boolean and consent both ways; ranking to multiple_choice; geoshape to geotrace.';

CREATE FUNCTION pliers.form_breaking_changes(p_old jsonb, p_new jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_changes jsonb[] := '{}';
    v_new_by_path jsonb;
    v_new_by_id jsonb;
    v_matched jsonb := '{}';        -- new data paths matched by an old field
    v_moved jsonb := '{}';          -- old container path -> new container path
    v_dropped text[] := '{}';       -- old paths reported removed or restructured (skip what is inside)
    v_old record;
    v_new jsonb;
    v_new_field jsonb;
    v_expected text;
    v_old_rules jsonb;
    v_new_rules jsonb;
    v_rule text;
    v_old_value jsonb;
    v_new_value jsonb;
    v_tighter boolean;
    v_codes jsonb;
    v_old_required text;
    v_new_required text;
BEGIN
    SELECT
        coalesce(jsonb_object_agg(l.data_path, to_jsonb(l)), '{}'),
        coalesce(jsonb_object_agg(l.field_id, to_jsonb(l)) FILTER (WHERE l.field_id IS NOT NULL), '{}')
    INTO v_new_by_path, v_new_by_id
    FROM pliers._form_field_list(p_new) AS l;

    FOR v_old IN SELECT l.* FROM pliers._form_field_list(p_old) AS l ORDER BY l.sort_key LOOP
        CONTINUE WHEN EXISTS (SELECT FROM unnest(v_dropped) AS d (path) WHERE starts_with(v_old.data_path, d.path || '.'));
        -- Display and calculated fields store no answer: nothing can break.
        CONTINUE WHEN v_old.kind IN ('display', 'calculated');

        -- Where the field should be in the new definition: same id, else same name
        -- in the same (possibly renamed) group or repeat.
        v_expected := CASE
            WHEN v_old.parent_path = '' THEN v_old.name
            ELSE coalesce(v_moved ->> v_old.parent_path, v_old.parent_path) || '.' || v_old.name
        END;
        v_new := CASE
            WHEN v_old.field_id IS NOT NULL AND v_new_by_id ? v_old.field_id THEN v_new_by_id -> v_old.field_id
            ELSE v_new_by_path -> v_expected
        END;
        IF v_new IS NULL OR (v_new ->> 'kind' IN ('display', 'calculated') AND v_old.kind NOT IN ('group', 'repeat')) THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path,
                CASE WHEN v_new IS NULL THEN 'field_removed' ELSE 'field_retyped' END,
                CASE WHEN v_new IS NULL THEN format('the field %s is removed: its answers would be lost', v_old.data_path)
                    ELSE format('the field %s becomes a %s field: its answers would be dropped', v_old.data_path, v_new ->> 'kind')
                END
            );
            v_dropped := v_dropped || v_old.data_path;
            CONTINUE;
        END IF;
        v_matched := v_matched || jsonb_build_object(v_new ->> 'data_path', TRUE);
        v_new_field := v_new -> 'field';

        IF v_new ->> 'data_path' <> v_expected THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path,
                CASE WHEN v_new ->> 'name' = v_old.name THEN 'field_moved' ELSE 'field_renamed' END,
                format('the field %s (id %s) becomes %s: its answers are under the old key', v_old.data_path,
                    v_old.field_id, v_new ->> 'data_path')
            );
        END IF;
        IF v_old.kind IN ('group', 'repeat') OR v_new ->> 'kind' IN ('group', 'repeat') THEN
            IF v_old.kind IS DISTINCT FROM v_new ->> 'kind' THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path, 'structure_changed',
                    format('the %s %s becomes a %s: its answers no longer fit', v_old.kind, v_old.data_path, v_new ->> 'kind')
                );
                v_dropped := v_dropped || v_old.data_path;
                CONTINUE;
            END IF;
            v_moved := v_moved || jsonb_build_object(v_old.data_path, v_new ->> 'data_path');
        ELSIF NOT coalesce(pliers._kinds_compatible(v_old.kind, v_new ->> 'kind'), FALSE) THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path, 'field_retyped',
                format('the field %s changes from %s to %s: its answers no longer fit', v_old.data_path, v_old.kind,
                    v_new ->> 'kind')
            );
            CONTINUE;
        END IF;

        -- Choices from a shared list: another list, or inline choices, may lack its codes.
        IF v_old.field ? 'choiceList'
            AND v_old.field -> 'choiceList' IS DISTINCT FROM v_new_field -> 'choiceList' THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path || '.choiceList', 'choice_removed',
                format('the choices of %s no longer come from the list %s: answers with its codes could be invalid',
                    v_old.data_path, v_old.field -> 'choiceList')
            );
        END IF;
        -- A ranking without bounds ranks every choice: dropping the bounds makes partial
        -- rankings incomplete, a new choice makes complete ones incomplete.
        IF v_old.kind = 'ranking' AND v_new ->> 'kind' = 'ranking'
            AND NOT coalesce(v_new_field -> 'validation', '{}') ?| ARRAY['minItems', 'maxItems'] THEN
            IF coalesce(v_old.field -> 'validation', '{}') ?| ARRAY['minItems', 'maxItems'] THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path || '.validation', 'rule_tightened',
                    format('%s loses minItems / maxItems: partial rankings would become incomplete', v_old.data_path)
                );
            ELSIF jsonb_typeof(v_new_field -> 'choices') = 'array' AND EXISTS (
                SELECT FROM jsonb_array_elements(v_new_field -> 'choices') AS c (choice)
                WHERE NOT coalesce(
                    v_old.field -> 'choices' @> jsonb_build_array(jsonb_build_object('code', c.choice -> 'code')), FALSE
                )
            ) THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path || '.choices', 'rule_tightened',
                    format('%s gets new choices to rank: complete rankings would become incomplete', v_old.data_path)
                );
            END IF;
        END IF;
        -- Choices: removed codes, "other" no longer allowed.
        IF v_old.kind IN ('single_choice', 'multiple_choice', 'ranking')
            AND v_new ->> 'kind' IN ('single_choice', 'multiple_choice', 'ranking') THEN
            SELECT coalesce(jsonb_object_agg(c.choice ->> 'code', TRUE), '{}')
            INTO v_codes
            FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(v_new_field -> 'choices') = 'array' THEN v_new_field -> 'choices' ELSE '[]' END
            ) AS c (choice);
            FOR v_i IN 0 .. coalesce(jsonb_array_length(v_old.field -> 'choices'), 0) - 1 LOOP
                IF NOT v_codes ? (v_old.field -> 'choices' -> v_i ->> 'code')
                    AND NOT (v_old.field -> 'choices' -> v_i ->> 'code' = 'other' AND v_new_field -> 'allowOther' = 'true') THEN
                    v_changes := v_changes || pliers._form_error(
                        v_old.def_path || '.choices[' || v_i || ']', 'choice_removed',
                        format('the choice %s of %s is removed: answers with it would be invalid',
                            v_old.field -> 'choices' -> v_i -> 'code', v_old.data_path)
                    );
                END IF;
            END LOOP;
            IF v_old.field -> 'allowOther' = 'true' AND v_new_field -> 'allowOther' IS DISTINCT FROM 'true'
                AND NOT v_codes ? 'other' THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path || '.allowOther', 'other_removed',
                    format('%s no longer allows "other": answers with it would be invalid', v_old.data_path)
                );
            END IF;
        END IF;

        -- Currency of an amount.
        IF v_old.field ? 'currency' AND v_old.field -> 'currency' IS DISTINCT FROM v_new_field -> 'currency' THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path || '.currency', 'currency_changed',
                format('the currency of %s changes from %s to %s', v_old.data_path, v_old.field -> 'currency',
                    coalesce(v_new_field -> 'currency', '"none"'))
            );
        END IF;

        -- Required now, or in more cases.
        v_old_required := CASE
            WHEN v_old.field -> 'required' = 'true' THEN 'always'
            WHEN v_old.field ? 'requiredWhen' THEN (v_old.field -> 'requiredWhen')::text
            ELSE 'never'
        END;
        v_new_required := CASE
            WHEN v_new_field -> 'required' = 'true' THEN 'always'
            WHEN v_new_field ? 'requiredWhen' THEN (v_new_field -> 'requiredWhen')::text
            ELSE 'never'
        END;
        IF v_new_required <> v_old_required AND v_new_required <> 'never' AND v_old_required <> 'always' THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path || '.' || CASE WHEN v_new_required = 'always' THEN 'required' ELSE 'requiredWhen' END,
                'field_now_required',
                format('%s becomes required%s: answers without it would be invalid', v_old.data_path,
                    CASE WHEN v_new_required = 'always' THEN '' ELSE ' in other cases' END)
            );
        END IF;

        -- Tighter rules (the effective defaults of rating and currency included).
        v_old_rules := coalesce(v_old.field -> 'validation', '{}')
            || CASE v_old.kind
                WHEN 'rating' THEN jsonb_build_object(
                    'min', coalesce(v_old.field #> '{validation,min}', '1'),
                    'max', coalesce(v_old.field #> '{validation,max}', '5')
                )
                WHEN 'currency' THEN jsonb_build_object('decimals', coalesce(v_old.field #> '{validation,decimals}', '2'))
                ELSE '{}'
            END;
        v_new_rules := coalesce(v_new_field -> 'validation', '{}')
            || CASE v_new ->> 'kind'
                WHEN 'rating' THEN jsonb_build_object(
                    'min', coalesce(v_new_field #> '{validation,min}', '1'),
                    'max', coalesce(v_new_field #> '{validation,max}', '5')
                )
                WHEN 'currency' THEN jsonb_build_object('decimals', coalesce(v_new_field #> '{validation,decimals}', '2'))
                ELSE '{}'
            END;
        FOR v_rule IN
            SELECT k.key FROM jsonb_object_keys(v_new_rules) AS k (key) ORDER BY k.key COLLATE "C"
        LOOP
            v_old_value := v_old_rules -> v_rule;
            v_new_value := v_new_rules -> v_rule;
            v_tighter := CASE
                WHEN v_old_value = v_new_value THEN FALSE
                WHEN v_rule IN ('minLength', 'minItems', 'minAnswered') THEN
                    v_new_value::numeric > coalesce(v_old_value::numeric, 0)
                WHEN v_rule = 'format' THEN
                    v_new_value = '"e164"' AND v_old_value IS DISTINCT FROM '"e164"'
                WHEN v_rule = 'min' THEN
                    v_old_value IS NULL OR coalesce(pliers._compare_values(v_new_value, v_old_value) > 0, TRUE)
                WHEN v_rule IN ('maxLength', 'maxItems', 'decimals', 'maxSizeBytes') THEN
                    v_old_value IS NULL OR v_new_value::numeric < v_old_value::numeric
                WHEN v_rule = 'max' THEN
                    v_old_value IS NULL OR coalesce(pliers._compare_values(v_new_value, v_old_value) < 0, TRUE)
                WHEN v_rule = 'pattern' THEN TRUE
                WHEN v_rule = 'accept' THEN
                    v_old_value IS NULL OR EXISTS (
                        SELECT FROM jsonb_array_elements_text(v_old_value) AS a (pattern)
                        WHERE NOT pliers._mime_accepted(v_new_value, a.pattern)
                    )
                ELSE FALSE
            END;
            IF v_tighter THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path || '.validation.' || v_rule, 'rule_tightened',
                    format('%s of %s changes from %s to %s: some answers would become invalid', v_rule,
                        v_old.data_path, coalesce(v_old_value, '"none"'), v_new_value)
                );
            END IF;
        END LOOP;
    END LOOP;

    -- New fields that must be answered (in the form, or in a group or repeat that existed).
    FOR v_new IN
        SELECT to_jsonb(l)
        FROM pliers._form_field_list(p_new) AS l
        WHERE NOT v_matched ? l.data_path
            -- a required group (minAnswered) too
            AND (l.field -> 'required' = 'true' OR l.field ? 'requiredWhen' OR l.field #> '{validation,minAnswered}' IS NOT NULL)
            AND (l.parent_path = '' OR v_matched ? l.parent_path)
        ORDER BY l.sort_key
    LOOP
        v_changes := v_changes || pliers._form_error(
            v_new ->> 'def_path', 'required_field_added',
            format('the new field %s is required: answers without it would be invalid', v_new ->> 'data_path')
        );
    END LOOP;

    RETURN to_jsonb(v_changes);
END
$$;

COMMENT ON FUNCTION pliers.form_breaking_changes(jsonb, jsonb) IS
'The changes from definition p_old to p_new that break answers valid under p_old, as a JSON array of '
'{path, code, message} ([] when compatible). Paths point into p_old, except required_field_added (into p_new). '
'Codes: field_removed, field_renamed (same id, new name), field_moved (same id, other group or repeat), '
'field_retyped (incompatible kind), structure_changed (group or repeat turned into something else), '
'choice_removed, other_removed (allowOther dropped), currency_changed, field_now_required, required_field_added, '
'rule_tightened. Adding optional fields or choices, relabelling, reordering and loosening rules are not breaking. '
'Fields are matched by id, else by name in the same (possibly renamed) group or repeat.';

-- Expressions in forms --------------------------------------------------------------------
-- The expression language itself is sql/41-expressions.sql (docs/expressions.md); these
-- functions find where a definition uses it, check each use in its scope, and apply the
-- rules it expresses to the answers.

-- Ordinal choices: inline choices whose codes are all decimal numbers (pliers._expr_ordnum),
-- compared with numbers by conditions and expressions.
CREATE FUNCTION pliers._ordinal_choices(p_field jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT jsonb_typeof(p_field -> 'choices') = 'array' AND NOT EXISTS (
        SELECT FROM jsonb_array_elements(p_field -> 'choices') AS c (choice)
        WHERE pliers._expr_ordnum(c.choice ->> 'code') IS NULL
    )
$$;

COMMENT ON FUNCTION pliers._ordinal_choices(jsonb) IS
'Private: TRUE when the field''s inline choices all have a decimal number as code (ordinal choices: they compare '
'with numbers); FALSE for other fields and for a choiceList.';

-- The type of a field's answer as expressions see it (docs/expressions.md, "Types"); NULL
-- when its answer cannot be referred to. p_calc_types: the types of calculations, by path.
CREATE FUNCTION pliers._field_expression_type(p_field jsonb, p_abs text, p_calc_types jsonb)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE p_field ->> 'type'
        WHEN 'text' THEN 'string' WHEN 'textarea' THEN 'string' WHEN 'password' THEN 'string'
        WHEN 'email' THEN 'string' WHEN 'url' THEN 'string' WHEN 'phone' THEN 'string'
        WHEN 'number' THEN 'number' WHEN 'integer' THEN 'number' WHEN 'currency' THEN 'number'
        WHEN 'rating' THEN 'number'
        WHEN 'boolean' THEN 'boolean' WHEN 'consent' THEN 'boolean'
        WHEN 'date' THEN 'date' WHEN 'time' THEN 'time' WHEN 'datetime' THEN 'datetime'
        WHEN 'single_choice' THEN CASE WHEN pliers._ordinal_choices(p_field) THEN 'ordinal' ELSE 'string' END
        WHEN 'multiple_choice' THEN 'list:string' WHEN 'ranking' THEN 'list:string'
        WHEN 'repeat' THEN 'list:object'
        WHEN 'hidden' THEN 'any'
        WHEN 'calculated' THEN CASE
            WHEN jsonb_typeof(p_field -> 'expression') = 'string' THEN NULL
            ELSE coalesce(p_calc_types ->> p_abs, 'any')
        END
        WHEN 'file' THEN 'opaque' WHEN 'signature' THEN 'opaque' WHEN 'geo_point' THEN 'opaque'
        WHEN 'geotrace' THEN 'opaque' WHEN 'geoshape' THEN 'opaque'
    END
$$;

COMMENT ON FUNCTION pliers._field_expression_type(jsonb, text, jsonb) IS
'Private: the expression type of the answer of field p_field (at dotted path p_abs): string, number, boolean, date, '
'time, datetime, ordinal (a single choice whose codes are all numbers), list:string, list:object (a repeat), any, '
'opaque (only empty / count), NULL for fields without an answer (display, group, a calculation for the renderer).';

-- The expression types of the fields of validate_form_definition's index that have an answer.
CREATE FUNCTION pliers._index_expression_types(p_index jsonb, p_calc_types jsonb)
RETURNS TABLE (key text, repeat text, type text)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT e.key, e.value ->> 'repeat', t.type
    FROM jsonb_each(p_index) AS e (key, value)
    CROSS JOIN LATERAL pliers._field_expression_type(e.value -> 'field', e.key, p_calc_types) AS t (type)
    WHERE t.type IS NOT NULL
$$;

COMMENT ON FUNCTION pliers._index_expression_types(jsonb, jsonb) IS
'Private: (dotted path, enclosing repeat path, expression type) of each field of a validate_form_definition index '
'whose answer expressions can read.';

-- The expressions of one field: (role, expression, JSON path, expected type), in document
-- order. Condition leaves {"expression": ...} are found through all / any / not, with a
-- stack bounded by the condition depth that _check_condition enforces (it raises past it).
CREATE FUNCTION pliers._field_expressions(p_field jsonb, p_path text, p_type text)
RETURNS TABLE (role text, expression jsonb, path text, expected text)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_max_depth constant integer := (pliers.form_limits() ->> 'condition_depth')::integer;
    -- A stack, children pushed in reverse so that they come out in document order.
    st_condition jsonb[] := ARRAY[p_field -> 'requiredWhen'];
    st_path text[] := ARRAY[p_path || '.requiredWhen'];
    st_depth integer[] := ARRAY[1];
    st_role text[] := ARRAY['required'];
    v_top integer := 1;
    v_condition jsonb;
    v_at text;
    v_depth integer;
    v_role text;
    v_key text;
BEGIN
    IF p_field ->> 'type' = 'calculated' AND jsonb_typeof(p_field -> 'expression') <> 'string' THEN
        RETURN QUERY SELECT 'calc', p_field -> 'expression', p_path || '.expression', NULL::text;
    END IF;
    IF jsonb_typeof(p_field #> '{conditional,when}') = 'array' THEN
        FOR v_i IN REVERSE jsonb_array_length(p_field #> '{conditional,when}') - 1 .. 0 LOOP
            v_top := v_top + 1;
            st_condition[v_top] := p_field #> '{conditional,when}' -> v_i;
            st_path[v_top] := p_path || '.conditional.when[' || v_i || ']';
            st_depth[v_top] := 1;
            st_role[v_top] := 'visible';
        END LOOP;
    END IF;
    v_top := v_top + 1;
    st_condition[v_top] := p_field -> 'visibleWhen';
    st_path[v_top] := p_path || '.visibleWhen';
    st_depth[v_top] := 1;
    st_role[v_top] := 'visible';
    WHILE v_top > 0 LOOP
        v_condition := st_condition[v_top];
        v_at := st_path[v_top];
        v_depth := st_depth[v_top];
        v_role := st_role[v_top];
        v_top := v_top - 1;
        CONTINUE WHEN jsonb_typeof(v_condition) IS DISTINCT FROM 'object' OR v_depth > v_max_depth;
        v_key := CASE WHEN v_condition ? 'all' THEN 'all' WHEN v_condition ? 'any' THEN 'any' END;
        IF v_condition ? 'expression' THEN
            RETURN QUERY SELECT v_role, v_condition -> 'expression', v_at || '.expression', 'boolean';
        ELSIF v_condition ? 'not' THEN
            v_top := v_top + 1;
            st_condition[v_top] := v_condition -> 'not';
            st_path[v_top] := v_at || '.not';
            st_depth[v_top] := v_depth + 1;
            st_role[v_top] := v_role;
        ELSIF v_key IS NOT NULL AND jsonb_typeof(v_condition -> v_key) = 'array' THEN
            FOR v_i IN REVERSE jsonb_array_length(v_condition -> v_key) - 1 .. 0 LOOP
                v_top := v_top + 1;
                st_condition[v_top] := v_condition -> v_key -> v_i;
                st_path[v_top] := v_at || '.' || v_key || '[' || v_i || ']';
                st_depth[v_top] := v_depth + 1;
                st_role[v_top] := v_role;
            END LOOP;
        END IF;
    END LOOP;
    IF p_field #> '{validation,constraint}' IS NOT NULL THEN
        RETURN QUERY SELECT 'constraint', p_field #> '{validation,constraint}', p_path || '.validation.constraint', 'boolean';
    END IF;
    IF p_field ? 'repeatCount' THEN
        RETURN QUERY SELECT 'count', p_field -> 'repeatCount', p_path || '.repeatCount', 'number';
    END IF;
    IF p_field ? 'choiceFilter' THEN
        RETURN QUERY SELECT 'filter', p_field -> 'choiceFilter', p_path || '.choiceFilter', 'boolean';
    END IF;
    IF p_field ? 'defaultExpression' THEN
        RETURN QUERY SELECT 'default', p_field -> 'defaultExpression', p_path || '.defaultExpression',
            CASE WHEN p_type IN ('ordinal', 'any', 'opaque') THEN NULL ELSE p_type END;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._field_expressions(jsonb, text, text) IS
'Private: the expressions of field p_field at JSON path p_path: its calculation (role calc), the condition leaves '
'{"expression": ...} of visibleWhen / conditional (visible) and requiredWhen (required), validation.constraint '
'(constraint), repeatCount (count), choiceFilter (filter), defaultExpression (default, of type p_type), each with '
'its JSON path and the type it must have (NULL: any).';

-- The variables of an expression in repeat scope p_scope ('' = the top): p_top, every
-- field with an answer by dotted path with its type as the top sees it (the answers of a
-- field inside a repeat are a list), overridden by the fields of each repeat that the scope
-- is in (p_by_repeat: repeat path -> its fields and their types). Repeats nest at most
-- field_depth deep, so this is a few lookups, not a walk of the index.
CREATE FUNCTION pliers._expression_vars(p_top jsonb, p_by_repeat jsonb, p_scope text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_parts constant text[] := string_to_array(p_scope, '.');
    v_vars jsonb := p_top;
BEGIN
    FOR v_i IN 1 .. coalesce(cardinality(v_parts), 0) LOOP
        v_vars := v_vars || coalesce(p_by_repeat -> array_to_string(v_parts[1:v_i], '.'), '{}');
    END LOOP;
    RETURN v_vars;
END
$$;

COMMENT ON FUNCTION pliers._expression_vars(jsonb, jsonb, text) IS
'Private: the variables (dotted path -> type) of an expression of a field in repeat scope p_scope: p_top (the '
'fields as the top sees them, those inside repeats as lists) with the fields of each enclosing repeat as items.';

-- The field index of validate_form_definition (dotted path -> {kind, repeat, parent, path,
-- ord, field}) of a valid definition, for the compiled validators: from _form_field_list,
-- each field's enclosing repeat being the longest repeat path it is inside.
CREATE FUNCTION pliers._field_index(p_definition jsonb)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH list AS (SELECT * FROM pliers._form_field_list(p_definition))
    SELECT coalesce(jsonb_object_agg(l.data_path, jsonb_build_object(
        'kind', l.kind,
        'repeat', coalesce((
            SELECT r.data_path FROM list AS r
            WHERE r.kind = 'repeat' AND starts_with(l.data_path, r.data_path || '.')
            ORDER BY length(r.data_path) DESC
            LIMIT 1
        ), ''),
        'parent', l.parent_path, 'path', l.def_path, 'ord', row_number, 'field', l.field - 'fields'
    )), '{}')
    FROM (SELECT list.*, row_number() OVER (ORDER BY list.sort_key) FROM list) AS l
$$;

COMMENT ON FUNCTION pliers._field_index(jsonb) IS
'Private: the field index that validate_form_definition builds (dotted path -> {kind, repeat, parent, path, ord, '
'field}), from pliers._form_field_list, for the compiled validators. Quadratic in the number of repeats: for the '
'definitions that are compiled (at most 100 fields).';

-- Every expression of a definition checked in its scope (pliers._expr_check), given the field
-- index of validate_form_definition. Calculations first, with the calculations they read
-- typed 'any', to learn their types; then every expression with those types. Returns the
-- errors and the dependencies (owner -> referenced path) of calculations and visibility,
-- for the cycle check.
CREATE FUNCTION pliers._check_form_expressions(
    p_index jsonb, OUT errors jsonb[], OUT dep_from text[], OUT dep_to text[], OUT types jsonb
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_max_refs constant integer := (pliers.form_limits() ->> 'conditions')::integer;
    v_calc_types jsonb := '{}';
    v_vars jsonb := '{}';           -- repeat scope -> its variables, built when first needed
    v_top jsonb;                    -- the fields' types as the top sees them
    v_by_repeat jsonb;              -- repeat path -> the types of its fields, as its items see them
    v_refs integer := 0;
    v_site record;
    v_check record;
    v_scope text;
    v_error jsonb;
BEGIN
    errors := '{}';
    dep_from := '{}';
    dep_to := '{}';
    FOR v_pass IN 1 .. 2 LOOP
        -- The fields' types (the calculations' once known), as the top sees them and by repeat.
        SELECT
            coalesce(jsonb_object_agg(t.key, CASE
                WHEN t.repeat = '' THEN t.type
                WHEN t.type = 'number' THEN 'list:number'
                WHEN t.type IN ('string', 'ordinal') THEN 'list:string'
                ELSE 'opaque'
            END), '{}'),
            coalesce((
                SELECT jsonb_object_agg(r.repeat, r.vars)
                FROM (
                    SELECT u.repeat, jsonb_object_agg(u.key, u.type) AS vars
                    FROM pliers._index_expression_types(p_index, v_calc_types) AS u
                    WHERE u.repeat <> ''
                    GROUP BY u.repeat
                ) AS r
            ), '{}')
        INTO v_top, v_by_repeat
        FROM pliers._index_expression_types(p_index, v_calc_types) AS t;
        FOR v_site IN
            SELECT e.key AS owner, e.value ->> 'repeat' AS scope, x.role, x.expression, x.path, x.expected
            FROM jsonb_each(p_index) AS e (key, value)
            CROSS JOIN LATERAL pliers._field_expressions(
                e.value -> 'field', e.value ->> 'path',
                pliers._field_expression_type(e.value -> 'field', e.key, v_calc_types)
            ) AS x
            WHERE v_pass = 2 OR x.role = 'calc'
            ORDER BY (e.value ->> 'ord')::integer
        LOOP
            v_scope := v_site.scope;
            IF NOT v_vars ? v_scope THEN
                v_vars := v_vars || jsonb_build_object(v_scope, pliers._expression_vars(v_top, v_by_repeat, v_scope));
            END IF;
            v_check := pliers._expr_check(
                v_site.expression, v_site.path, v_vars -> v_scope, v_site.expected, v_site.role = 'filter'
            );
            IF v_pass = 1 THEN
                v_calc_types := v_calc_types || jsonb_build_object(v_site.owner, coalesce(v_check.type, 'any'));
                CONTINUE;
            END IF;
            FOREACH v_error IN ARRAY v_check.errors LOOP
                errors := errors || v_error;
            END LOOP;
            v_refs := v_refs + coalesce(cardinality(v_check.refs), 0);
            IF v_refs > v_max_refs THEN
                PERFORM pliers._raise_limit(
                    v_site.path, 'too_many_conditions',
                    format('the definition has more than %s conditions and expression references', v_max_refs)
                );
            END IF;
            IF v_site.role IN ('calc', 'visible') AND v_check.refs IS NOT NULL THEN
                dep_from := dep_from || array_fill(v_site.owner, ARRAY[cardinality(v_check.refs)]);
                dep_to := dep_to || v_check.refs;
            END IF;
        END LOOP;
        -- The second pass sees the calculations' types.
        v_vars := '{}';
    END LOOP;
    types := jsonb_build_object('top', v_top, 'by_repeat', v_by_repeat);
END
$$;

COMMENT ON FUNCTION pliers._check_form_expressions(jsonb) IS
'Private: checks every expression of a definition (calculations, condition leaves, constraints, repeat counts, '
'choice filters, default expressions) in its scope, given validate_form_definition''s field index; returns the '
'errors, the dependencies of calculations and visibility (dep_from[i] reads dep_to[i]) for the cycle check, and '
'the types of the fields ({top, by_repeat}, for pliers._expression_vars) that the compiled validators use. '
'Raises PL001 too_many_conditions past the conditions limit of references.';

-- The message of a failed constraint: the field's constraintMessage; a translated one is
-- for the renderer, and the database's message is then English.
CREATE FUNCTION pliers._constraint_message(p_field jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(p_field #> '{validation,constraintMessage}') = 'string'
            THEN p_field #>> '{validation,constraintMessage}'
        ELSE 'does not satisfy the constraint of the field'
    END
$$;

COMMENT ON FUNCTION pliers._constraint_message(jsonb) IS
'Private: the message of a constraint_failed error of field p_field: its validation.constraintMessage when a '
'string, else a sentence in English (a translated message is for the renderer).';

-- The rules a field states as expressions, on its visible answer p_value (at p_path),
-- evaluated on the cleaned answers (p_root, p_context, p_scope, p_item as for
-- _eval_condition): the constraint of a given answer, the item count of a repeat, the
-- choice filter of each chosen code. _process_instance and the compiled validators call
-- it for the fields that have any of them.
CREATE FUNCTION pliers._check_expression_rules(
    p_field jsonb, p_value jsonb, p_path text, p_final boolean,
    p_root jsonb, p_context jsonb, p_scope text, p_item jsonb
)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_errors jsonb[] := '{}';
    v_blank constant boolean := pliers._is_blank(p_value);
    v_count jsonb;
    v_code jsonb;
    v_choice jsonb;
BEGIN
    IF NOT v_blank AND p_field #> '{validation,constraint}' IS NOT NULL
        AND pliers._expr_eval(p_field #> '{validation,constraint}', p_root, p_context, p_scope, p_item)
            IS DISTINCT FROM 'true'::jsonb THEN
        v_errors := v_errors || pliers._form_error(p_path, 'constraint_failed', pliers._constraint_message(p_field));
    END IF;
    IF p_final AND p_field ? 'repeatCount' THEN
        v_count := pliers._expr_eval(p_field -> 'repeatCount', p_root, p_context, p_scope, p_item);
        -- In parentheses: PL/pgSQL would end the condition at the THEN of the CASE.
        IF (jsonb_typeof(v_count) = 'number'
            AND CASE WHEN jsonb_typeof(p_value) = 'array' THEN jsonb_array_length(p_value) ELSE 0 END
                <> greatest(v_count::numeric, 0)) THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'wrong_item_count', format('must have %s items', greatest(v_count::numeric, 0))
            );
        END IF;
    END IF;
    IF NOT v_blank AND p_field ? 'choiceFilter' AND jsonb_typeof(p_field -> 'choices') = 'array' THEN
        FOR v_i IN 0 .. CASE WHEN jsonb_typeof(p_value) = 'array' THEN jsonb_array_length(p_value) - 1 ELSE 0 END LOOP
            v_code := CASE WHEN jsonb_typeof(p_value) = 'array' THEN p_value -> v_i ELSE p_value END;
            -- Codes that are no choice (other, or wrong) are _check_answer's business.
            SELECT c.choice INTO v_choice
            FROM jsonb_array_elements(p_field -> 'choices') AS c (choice)
            WHERE c.choice -> 'code' = v_code
            LIMIT 1;
            IF FOUND AND pliers._expr_eval(p_field -> 'choiceFilter', p_root, p_context, p_scope, p_item, v_choice)
                IS DISTINCT FROM 'true'::jsonb THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || CASE WHEN jsonb_typeof(p_value) = 'array' THEN '[' || v_i || ']' ELSE '' END,
                    'choice_filtered_out', format('%s is not among the choices offered by the other answers', v_code)
                );
            END IF;
        END LOOP;
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text, jsonb) IS
'Private: the errors of the rules field p_field states as expressions, on its visible answer p_value at p_path: '
'constraint_failed (validation.constraint not true on a given answer), wrong_item_count (a final repeat whose number '
'of items is not its repeatCount), choice_filtered_out (a chosen code whose choice the choiceFilter excludes).';

-- Privileges ---------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers._form_error(text, text, text),
pliers._json_path_key(text),
pliers._is_blank(jsonb),
pliers._is_date(text),
pliers._is_datetime(text),
pliers._valid_field_name(text),
pliers._other_path(text),
pliers._check_translatable(jsonb, text, jsonb, text),
pliers._geo_point_errors(jsonb, text),
pliers._is_data_url(jsonb),
pliers._data_url_error(text),
pliers._compare_values(jsonb, jsonb),
pliers._choice_allowed(jsonb, jsonb),
pliers._mime_accepted(jsonb, text),
pliers.form_limits(),
pliers._raise_limit(text, text, text),
pliers._check_document_limits(jsonb, text, text, boolean),
pliers._check_array_limit(jsonb, text, text),
pliers._eval_condition(jsonb, jsonb, jsonb, text, jsonb),
pliers._check_answer(jsonb, text, jsonb, text, boolean, boolean, jsonb, jsonb),
pliers._unknown_field_errors(jsonb, text[], text, text),
pliers._process_instance(jsonb, jsonb, jsonb, jsonb, text, text, boolean, boolean, jsonb),
pliers._check_answer_limits(jsonb, jsonb),
pliers._check_submission_data(jsonb, jsonb, boolean, jsonb),
pliers.clean_submission_data(jsonb, jsonb),
pliers.validate_submission_data(jsonb, jsonb, boolean, jsonb),
pliers.assert_valid_submission_data(jsonb, jsonb, boolean, jsonb),
pliers._check_condition(jsonb, text, text, text, jsonb[], jsonb[]),
pliers._check_field(jsonb, text, jsonb, text),
pliers._ordinal_choices(jsonb),
pliers._field_expression_type(jsonb, text, jsonb),
pliers._index_expression_types(jsonb, jsonb),
pliers._field_expressions(jsonb, text, text),
pliers._expression_vars(jsonb, jsonb, text),
pliers._field_index(jsonb),
pliers._check_form_expressions(jsonb),
pliers._constraint_message(jsonb),
pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text, jsonb),
pliers._dependency_cycles(text[], text[], jsonb),
pliers.validate_form_definition(jsonb),
pliers.assert_valid_form_definition(jsonb),
pliers._form_field_list(jsonb),
pliers._kinds_compatible(text, text),
pliers.form_breaking_changes(jsonb, jsonb)
FROM public;

-- Pure functions: the application may validate and clean on its own (form builder, drafts).
GRANT EXECUTE ON FUNCTION
pliers.form_limits(),
pliers.clean_submission_data(jsonb, jsonb),
pliers.validate_submission_data(jsonb, jsonb, boolean, jsonb),
pliers.assert_valid_submission_data(jsonb, jsonb, boolean, jsonb),
pliers.validate_form_definition(jsonb),
pliers.assert_valid_form_definition(jsonb),
pliers.form_breaking_changes(jsonb, jsonb)
TO pliers_app;
