-- WIP
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;
-- Expressions (docs/expressions.md, schemas/expression.schema.json): a JSON Logic-shaped,
-- typed language for calculations, constraints, conditions, repeat counts, choice filters
-- and defaults. Three entry points: _expr_check type-checks one expression when a
-- definition is saved, _expr_eval interprets it against answers, and _expr_sql compiles
-- a checked expression into one SQL expression for the compiled validators (sql/43).
-- The interpreter and the compiled SQL call the same small helpers below for every
-- operation that is more than one SQL operator, so that they agree by construction.
-- Helpers that need functions of sql/42 (_is_blank, _is_date, ...) are PL/pgSQL: SQL
-- functions are checked when created, and 42 is loaded after this file.
-- Private: nothing here is granted to pliers_app (Privileges at the end).

-- Values ---------------------------------------------------------------------------------

CREATE FUNCTION pliers._expr_val(p_value jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT nullif(p_value, 'null'::jsonb)
$$;

COMMENT ON FUNCTION pliers._expr_val(jsonb) IS
'An answer as an expression value: JSON null is SQL NULL (a missing answer).';

CREATE FUNCTION pliers._expr_num(p_value jsonb)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(p_value) = 'number' THEN p_value::numeric END
$$;

COMMENT ON FUNCTION pliers._expr_num(jsonb) IS
'A JSON number as numeric; NULL for anything else.';

CREATE FUNCTION pliers._expr_txt(p_value jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(p_value) = 'string' THEN p_value #>> '{}' END
$$;

COMMENT ON FUNCTION pliers._expr_txt(jsonb) IS
'A JSON string as text; NULL for anything else.';

CREATE FUNCTION pliers._expr_bool(p_value jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(p_value) = 'boolean' THEN p_value::boolean END
$$;

COMMENT ON FUNCTION pliers._expr_bool(jsonb) IS
'A JSON boolean as boolean; NULL for anything else.';

CREATE FUNCTION pliers._expr_nb(p_value text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN btrim(p_value, E' \t\r\n') <> '' THEN p_value END
$$;

COMMENT ON FUNCTION pliers._expr_nb(text) IS
'The text, or NULL when it is blank (white space only, as _is_blank): coalesce skips it.';

-- Numbers: an operand of magnitude 1e308 or more (beyond a JavaScript number) makes the
-- result NULL, so that no chain of operations can overflow numeric.

CREATE FUNCTION pliers._expr_add(p_left numeric, p_right numeric)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN abs(p_left) < 1e308 AND abs(p_right) < 1e308 THEN p_left + p_right END
$$;

COMMENT ON FUNCTION pliers._expr_add(numeric, numeric) IS
'+ of expressions: NULL when an operand is NULL or of magnitude 1e308 or more.';

CREATE FUNCTION pliers._expr_sub(p_left numeric, p_right numeric)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN abs(p_left) < 1e308 AND abs(p_right) < 1e308 THEN p_left - p_right END
$$;

COMMENT ON FUNCTION pliers._expr_sub(numeric, numeric) IS
'- of expressions: NULL when an operand is NULL or of magnitude 1e308 or more.';

CREATE FUNCTION pliers._expr_mul(p_left numeric, p_right numeric)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN abs(p_left) < 1e308 AND abs(p_right) < 1e308 THEN p_left * p_right END
$$;

COMMENT ON FUNCTION pliers._expr_mul(numeric, numeric) IS
'* of expressions: NULL when an operand is NULL or of magnitude 1e308 or more.';

CREATE FUNCTION pliers._expr_div(p_left numeric, p_right numeric)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN abs(p_left) < 1e308 AND abs(p_right) < 1e308 AND p_right <> 0 THEN p_left / p_right
    END
$$;

COMMENT ON FUNCTION pliers._expr_div(numeric, numeric) IS
'/ of expressions: NULL when the divisor is 0, an operand is NULL or of magnitude 1e308 or more.';

CREATE FUNCTION pliers._expr_mod(p_left numeric, p_right numeric)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN abs(p_left) < 1e308 AND abs(p_right) < 1e308 AND p_right <> 0 THEN mod(p_left, p_right)
    END
$$;

COMMENT ON FUNCTION pliers._expr_mod(numeric, numeric) IS
'% of expressions (the sign of the dividend, as JavaScript): NULL when the divisor is 0, an operand is NULL '
'or of magnitude 1e308 or more.';

CREATE FUNCTION pliers._expr_round(p_value numeric, p_digits numeric)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_digits IS NOT NULL THEN round(p_value, greatest(least(trunc(p_digits), 1000), -1000)::integer) END
$$;

COMMENT ON FUNCTION pliers._expr_round(numeric, numeric) IS
'round of expressions with a number of digits (truncated, within -1000 to 1000): half away from zero.';

CREATE FUNCTION pliers._expr_min(VARIADIC p_values numeric[])
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN array_position(p_values, NULL) IS NULL THEN (SELECT min(v) FROM unnest(p_values) AS v) END
$$;

COMMENT ON FUNCTION pliers._expr_min(numeric[]) IS
'min of expressions over arguments: NULL when one is NULL.';

CREATE FUNCTION pliers._expr_max(VARIADIC p_values numeric[])
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN array_position(p_values, NULL) IS NULL THEN (SELECT max(v) FROM unnest(p_values) AS v) END
$$;

COMMENT ON FUNCTION pliers._expr_max(numeric[]) IS
'max of expressions over arguments: NULL when one is NULL.';

-- Lists: the numbers of a list (a path through a repeat), other items skipped.
CREATE FUNCTION pliers._expr_list_agg(p_list jsonb, p_op text)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE p_op
        WHEN 'sum' THEN coalesce(sum(e::numeric), 0)
        WHEN 'min' THEN min(e::numeric)
        ELSE max(e::numeric)
    END
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_list) = 'array' THEN p_list ELSE '[]' END) AS e
    WHERE jsonb_typeof(e) = 'number'
$$;

COMMENT ON FUNCTION pliers._expr_list_agg(jsonb, text) IS
'sum (0 for none), min or max (NULL for none) of the numbers of a JSON array; other items are skipped.';

CREATE FUNCTION pliers._expr_count(p_value jsonb)
RETURNS numeric
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF jsonb_typeof(p_value) = 'array' THEN
        RETURN (SELECT count(*) FROM jsonb_array_elements(p_value) AS e WHERE NOT pliers._is_blank(e));
    END IF;
    RETURN CASE WHEN pliers._is_blank(p_value) THEN 0 ELSE 1 END;
END
$$;

COMMENT ON FUNCTION pliers._expr_count(jsonb) IS
'count of expressions: the non-blank items of a list; 0 for a blank value, 1 for another one.';

CREATE FUNCTION pliers._expr_length(p_value jsonb)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE jsonb_typeof(p_value)
        WHEN 'string' THEN char_length(p_value #>> '{}')
        WHEN 'array' THEN jsonb_array_length(p_value)
        ELSE 0
    END
$$;

COMMENT ON FUNCTION pliers._expr_length(jsonb) IS
'length of expressions: characters of a string, items of a list, 0 for a missing value.';

CREATE FUNCTION pliers._expr_nonblank(p_value jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN CASE WHEN pliers._is_blank(p_value) THEN NULL ELSE p_value END;
END
$$;

COMMENT ON FUNCTION pliers._expr_nonblank(jsonb) IS
'The value, or NULL when it is blank (_is_blank): coalesce of lists and untyped values skips it.';

-- Strings --------------------------------------------------------------------------------

-- JSON Logic's substr: a negative start counts from the end, a negative length stops
-- that many characters before the end (left() with a negative count does just that).
CREATE FUNCTION pliers._expr_substr(p_text text, p_start numeric)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT substr(p_text, 1 + CASE
        WHEN p_start IS NULL THEN NULL
        WHEN p_start < 0 THEN greatest(char_length(p_text) + greatest(trunc(p_start), -1e9)::integer, 0)
        ELSE least(trunc(p_start), 1e9)::integer
    END)
$$;

COMMENT ON FUNCTION pliers._expr_substr(text, numeric) IS
'substr of expressions (JSON Logic) without a length: from start (truncated; negative: from the end) to the end.';

CREATE FUNCTION pliers._expr_substr(p_text text, p_start numeric, p_length numeric)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_length IS NOT NULL
        THEN left(pliers._expr_substr(p_text, p_start), greatest(least(trunc(p_length), 1e9), -1e9)::integer)
    END
$$;

COMMENT ON FUNCTION pliers._expr_substr(text, numeric, numeric) IS
'substr of expressions (JSON Logic) with a length: length characters from start (truncated; negative: all but '
'that many at the end). NULL when an argument is.';

CREATE FUNCTION pliers._expr_selected(p_value jsonb, p_code text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(CASE jsonb_typeof(p_value)
        WHEN 'string' THEN p_value #>> '{}' = p_code
        WHEN 'array' THEN p_value @> jsonb_build_array(p_code)
    END, FALSE)
$$;

COMMENT ON FUNCTION pliers._expr_selected(jsonb, text) IS
'selected of expressions: the code is the answer of a single choice, or one of the codes of a multiple choice.';

CREATE FUNCTION pliers._expr_ordnum(p_code text)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_code ~ '^-?[0-9]+(\.[0-9]+)?$' THEN p_code::numeric END
$$;

COMMENT ON FUNCTION pliers._expr_ordnum(text) IS
'The number a numeric choice code stands for ("2" -> 2, ordinal choices); NULL for another string.';

-- Dates and times --------------------------------------------------------------------------

CREATE FUNCTION pliers._expr_time(p_value text)
RETURNS time
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_value ~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$' THEN p_value::time END
$$;

COMMENT ON FUNCTION pliers._expr_time(text) IS
'A time of day HH:MM[:SS[.ffffff]] as time; NULL for anything else.';

CREATE FUNCTION pliers._expr_instant(p_value text)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN CASE WHEN pliers._is_datetime(p_value) THEN p_value::timestamptz END;
END
$$;

COMMENT ON FUNCTION pliers._expr_instant(text) IS
'An RFC 3339 date-time with offset as the instant it names; NULL for anything else.';

CREATE FUNCTION pliers._expr_date_add(p_date text, p_count numeric, p_unit text)
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_date date;
    v_count bigint;
BEGIN
    IF NOT coalesce(pliers._is_date(p_date), FALSE) OR p_count IS NULL OR abs(p_count) > 1e7 THEN
        RETURN NULL;
    END IF;
    v_date := p_date::date;
    v_count := trunc(p_count)::bigint;
    -- Bounded in days or months before the date is moved: a result outside years 1 to
    -- 9999 is NULL, and the arithmetic never leaves the range of date.
    IF p_unit IN ('day', 'week') THEN
        v_count := v_count * CASE p_unit WHEN 'week' THEN 7 ELSE 1 END;
        IF (v_date - DATE '0001-01-01') + v_count NOT BETWEEN 0 AND DATE '9999-12-31' - DATE '0001-01-01' THEN
            RETURN NULL;
        END IF;
        RETURN to_char(v_date + v_count::integer, 'YYYY-MM-DD');
    ELSIF p_unit IN ('month', 'year') THEN
        v_count := v_count * CASE p_unit WHEN 'year' THEN 12 ELSE 1 END;
        IF 12 * extract(YEAR FROM v_date) + extract(MONTH FROM v_date) - 1 + v_count NOT BETWEEN 12 AND 12 * 9999 + 11 THEN
            RETURN NULL;
        END IF;
        RETURN to_char(v_date + make_interval(months => v_count::integer), 'YYYY-MM-DD');
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._expr_date_add(text, numeric, text) IS
'date_add of expressions: the date (YYYY-MM-DD) moved by a whole number (truncated) of days, weeks, months or '
'years; a month or year that lands past the end of a month gives its last day (01-31 + 1 month = 02-28). '
'NULL outside years 1 to 9999.';

CREATE FUNCTION pliers._expr_date_diff(p_from text, p_to text, p_unit text)
RETURNS numeric
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_age interval;
BEGIN
    IF NOT coalesce(pliers._is_date(p_from) AND pliers._is_date(p_to), FALSE) THEN
        RETURN NULL;
    END IF;
    IF p_unit IN ('day', 'week') THEN
        RETURN trunc((p_to::date - p_from::date)::numeric / CASE p_unit WHEN 'week' THEN 7 ELSE 1 END);
    END IF;
    v_age := age(p_to::date, p_from::date);
    RETURN CASE p_unit
        WHEN 'month' THEN 12 * extract(YEAR FROM v_age) + extract(MONTH FROM v_age)
        WHEN 'year' THEN extract(YEAR FROM v_age)
    END;
END
$$;

COMMENT ON FUNCTION pliers._expr_date_diff(text, text, text) IS
'date_diff of expressions: the whole days, weeks, months or years from one date to another, negative when the '
'second is earlier (months and years as age(): 2024-01-31 to 2024-02-29 is 0 months).';

-- Comparison --------------------------------------------------------------------------------

-- The order of two values with no knowledge of their fields: numbers numerically, a
-- numeric string (an ordinal choice code) and a number numerically, two date-times as
-- instants, two times of day as times, other strings by code point, booleans false < true.
CREATE FUNCTION pliers._expr_cmp(p_left jsonb, p_right jsonb)
RETURNS integer
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_left constant text := p_left #>> '{}';
    v_right constant text := p_right #>> '{}';
    v_types constant text := jsonb_typeof(p_left) || ' ' || jsonb_typeof(p_right);
BEGIN
    CASE v_types
        WHEN 'number number' THEN
            RETURN sign(p_left::numeric - p_right::numeric)::integer;
        WHEN 'string number' THEN
            RETURN sign(pliers._expr_ordnum(v_left) - p_right::numeric)::integer;
        WHEN 'number string' THEN
            RETURN sign(p_left::numeric - pliers._expr_ordnum(v_right))::integer;
        WHEN 'boolean boolean' THEN
            RETURN (p_left::boolean > p_right::boolean)::integer - (p_left::boolean < p_right::boolean)::integer;
        WHEN 'string string' THEN
            IF pliers._is_datetime(v_left) AND pliers._is_datetime(v_right) THEN
                RETURN (v_left::timestamptz > v_right::timestamptz)::integer
                    - (v_left::timestamptz < v_right::timestamptz)::integer;
            ELSIF pliers._is_time(v_left) AND pliers._is_time(v_right) THEN
                RETURN (v_left::time > v_right::time)::integer - (v_left::time < v_right::time)::integer;
            END IF;
            RETURN (v_left COLLATE "C" > v_right)::integer - (v_left COLLATE "C" < v_right)::integer;
        ELSE
            RETURN NULL;
    END CASE;
END
$$;

COMMENT ON FUNCTION pliers._expr_cmp(jsonb, jsonb) IS
'-1, 0 or 1 as one expression value is less than, equal to or greater than another; NULL when they cannot be '
'compared. Numbers numerically, a numeric string (ordinal choice code) with a number numerically, two RFC 3339 '
'date-times as instants, two times of day as times, other strings by code point, false < true.';

CREATE FUNCTION pliers._expr_eq(p_left jsonb, p_right jsonb)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_left IS NULL OR p_right IS NULL THEN
        RETURN p_left IS NULL AND p_right IS NULL;
    END IF;
    RETURN coalesce(pliers._expr_cmp(p_left, p_right) = 0, p_left = p_right);
END
$$;

COMMENT ON FUNCTION pliers._expr_eq(jsonb, jsonb) IS
'== of expressions on SQL NULL-for-missing values: two missing values are equal, a missing and a given one are '
'not; else _expr_cmp = 0 (other JSON, as lists, by equality).';

CREATE FUNCTION pliers._expr_in(p_value jsonb, p_list jsonb)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_list) IS DISTINCT FROM 'array' THEN
        RETURN FALSE;
    END IF;
    FOR v_i IN 0 .. jsonb_array_length(p_list) - 1 LOOP
        IF pliers._expr_cmp(p_value, p_list -> v_i) = 0 THEN
            RETURN TRUE;
        END IF;
    END LOOP;
    RETURN FALSE;
END
$$;

COMMENT ON FUNCTION pliers._expr_in(jsonb, jsonb) IS
'in of expressions: TRUE when the value equals (== of expressions) an item of the list; FALSE when it is missing.';

-- References ---------------------------------------------------------------------------------

-- The answer a dotted path names, as pliers._eval_condition reads it: inside a repeat
-- item, the path through the repeat reads the current item (p_item, at repeat path
-- p_scope) or an enclosing one (p_context, by repeat path); everything else reads the
-- root. A path that passes through a repeat from outside it names the list of the
-- values in every item, blanks skipped (nested repeats flattened).
CREATE FUNCTION pliers._resolve_ref(p_ref text, p_root jsonb, p_context jsonb, p_scope text, p_item jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_parts text[];
    v_prefix text;
    v_base text := NULL;  -- where the path starts: NULL (the root), '' (the item) or a repeat path
    v_rest text[];
    v_value jsonb;
    v_path text;
BEGIN
    IF strpos(p_ref, '.') = 0 OR p_ref IS NULL THEN
        RETURN p_root -> p_ref;
    END IF;
    v_parts := string_to_array(p_ref, '.');
    v_rest := v_parts;
    FOR v_i IN REVERSE cardinality(v_parts) - 1 .. 1 LOOP
        v_prefix := array_to_string(v_parts[1:v_i], '.');
        IF v_prefix = p_scope THEN
            v_value := p_item #> v_parts[v_i + 1:];
            v_base := '';
            v_rest := v_parts[v_i + 1:];
            EXIT;
        ELSIF p_context ? v_prefix THEN
            v_value := p_context #> (v_prefix || v_parts[v_i + 1:]);
            v_base := v_prefix;
            v_rest := v_parts[v_i + 1:];
            EXIT;
        END IF;
    END LOOP;
    -- #> extracts the answer alone: walking with -> would copy each object on the way.
    -- It gives NULL when an array (a repeat) is on the way, but for a name that is an
    -- index ("0"): both are walked below.
    IF v_base IS NULL THEN
        v_value := p_root #> v_parts;
    END IF;
    IF v_value IS NOT NULL AND NOT p_ref ~ '(^|\.)-?[0-9]+(\.|$)' THEN
        RETURN v_value;
    END IF;
    v_value := CASE WHEN v_base IS NULL THEN p_root WHEN v_base = '' THEN p_item ELSE p_context -> v_base END;
    FOR v_i IN 1 .. cardinality(v_rest) LOOP
        IF jsonb_typeof(v_value) = 'array' THEN
            -- lax jsonpath unwraps the arrays (repeats) met on the way, not the last value.
            SELECT string_agg(to_jsonb(k)::text, '.' ORDER BY n) INTO v_path
            FROM unnest(v_rest[v_i:]) WITH ORDINALITY AS x (k, n);
            RETURN (
                SELECT coalesce(jsonb_agg(e ORDER BY n), '[]')
                FROM jsonb_array_elements(jsonb_path_query_array(v_value, ('lax $.' || v_path)::jsonpath))
                    WITH ORDINALITY AS x (e, n)
                WHERE NOT pliers._is_blank(e)
            );
        END IF;
        v_value := v_value -> v_rest[v_i];
        IF v_value IS NULL THEN
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN v_value;
END
$$;

COMMENT ON FUNCTION pliers._resolve_ref(text, jsonb, jsonb, text, jsonb) IS
'The answer a dotted path names: from the current repeat item p_item (at repeat path p_scope), an enclosing '
'item of p_context ({"<repeat path>": item}) or the root p_root. A path through a repeat from outside it gives '
'the JSON array of the values of every item, blanks skipped (the repeat''s own path gives its items).';

-- Type checking ------------------------------------------------------------------------------

-- The shape of the operators: the least and the most arguments (NULL: no most).
CREATE FUNCTION pliers._expr_arity(p_op text)
RETURNS integer[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE p_op
        WHEN 'var' THEN ARRAY[1, 1]
        WHEN '==' THEN ARRAY[2, 2] WHEN '!=' THEN ARRAY[2, 2]
        WHEN '<' THEN ARRAY[2, 2] WHEN '<=' THEN ARRAY[2, 2] WHEN '>' THEN ARRAY[2, 2] WHEN '>=' THEN ARRAY[2, 2]
        WHEN 'and' THEN ARRAY[2, NULL] WHEN 'or' THEN ARRAY[2, NULL] WHEN '!' THEN ARRAY[1, 1]
        WHEN 'if' THEN ARRAY[3, NULL]
        WHEN '+' THEN ARRAY[2, NULL] WHEN '*' THEN ARRAY[2, NULL] WHEN '-' THEN ARRAY[1, 2]
        WHEN '/' THEN ARRAY[2, 2] WHEN '%' THEN ARRAY[2, 2]
        WHEN 'min' THEN ARRAY[1, NULL] WHEN 'max' THEN ARRAY[1, NULL]
        WHEN 'abs' THEN ARRAY[1, 1] WHEN 'round' THEN ARRAY[1, 2] WHEN 'floor' THEN ARRAY[1, 1]
        WHEN 'ceil' THEN ARRAY[1, 1]
        WHEN 'cat' THEN ARRAY[1, NULL] WHEN 'length' THEN ARRAY[1, 1] WHEN 'lower' THEN ARRAY[1, 1]
        WHEN 'upper' THEN ARRAY[1, 1] WHEN 'trim' THEN ARRAY[1, 1] WHEN 'substr' THEN ARRAY[2, 3]
        WHEN 'regex' THEN ARRAY[2, 2]
        WHEN 'today' THEN ARRAY[0, 0] WHEN 'now' THEN ARRAY[0, 0]
        WHEN 'date_add' THEN ARRAY[3, 3] WHEN 'date_diff' THEN ARRAY[3, 3]
        WHEN 'selected' THEN ARRAY[2, 2] WHEN 'count' THEN ARRAY[1, 1] WHEN 'sum' THEN ARRAY[1, 1]
        WHEN 'coalesce' THEN ARRAY[2, NULL] WHEN 'empty' THEN ARRAY[1, 1] WHEN 'in' THEN ARRAY[2, 2]
        WHEN 'choice' THEN ARRAY[1, 1]
    END
$$;

COMMENT ON FUNCTION pliers._expr_arity(text) IS
'The least and most number of arguments of an expression operator (most NULL: any); NULL for an unknown one.';

-- How two operands of a comparison compare, from their types (t1, t2) and whether each
-- is a string literal (s1, s2): number, string, date, time, datetime, boolean, ordnum
-- (ordinal choice with a number), any, null (a null literal on either side), or NULL
-- when they cannot be compared.
CREATE FUNCTION pliers._expr_cmp_kind(p_t1 text, p_s1 boolean, p_t2 text, p_s2 boolean)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_t1 = 'null' OR p_t2 = 'null' THEN 'null'
        WHEN p_t1 LIKE 'list:%' OR p_t2 LIKE 'list:%' OR p_t1 = 'opaque' OR p_t2 = 'opaque' THEN NULL
        WHEN p_t1 = 'any' OR p_t2 = 'any' THEN 'any'
        WHEN p_t1 = p_t2 AND p_t1 <> 'ordinal' THEN p_t1
        WHEN p_t1 = 'ordinal' AND p_t2 = 'number' OR p_t1 = 'number' AND p_t2 = 'ordinal' THEN 'ordnum'
        WHEN p_t1 IN ('ordinal', 'string') AND p_t2 IN ('ordinal', 'string') THEN 'string'
        WHEN p_t1 IN ('date', 'time', 'datetime') AND p_s2 THEN p_t1
        WHEN p_t2 IN ('date', 'time', 'datetime') AND p_s1 THEN p_t2
    END
$$;

COMMENT ON FUNCTION pliers._expr_cmp_kind(text, boolean, text, boolean) IS
'How two operands of an expression comparison compare, from their types and whether each is a string literal '
'(a string literal takes the date, time or datetime type of the other side); NULL when they cannot be compared.';

-- The type of the values of if / coalesce: any if one is (all become JSON), else a date,
-- time or datetime if one is (string literals are then of that type), else string if
-- one is (ordinal codes are strings), else the first that is not the null literal.
CREATE FUNCTION pliers._expr_join_type(p_types text[])
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN 'any' = ANY (p_types) THEN 'any' ELSE coalesce(
        (SELECT t FROM unnest(p_types) WITH ORDINALITY AS x (t, i) WHERE t IN ('date', 'time', 'datetime') ORDER BY i LIMIT 1),
        (SELECT 'string' WHERE 'string' = ANY (p_types)),
        (SELECT t FROM unnest(p_types) WITH ORDINALITY AS x (t, i) WHERE t <> 'null' ORDER BY i LIMIT 1),
        'null'
    ) END
$$;

COMMENT ON FUNCTION pliers._expr_join_type(text[]) IS
'The type of the values of an expression if or coalesce: any if one is, else date, time or datetime if one is, '
'else string if one is, else the first that is not the null literal (null if none).';

CREATE FUNCTION pliers._expr_literal_ok(p_type text, p_value text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN CASE p_type
        WHEN 'date' THEN pliers._is_date(p_value)
        WHEN 'time' THEN pliers._is_time(p_value)
        WHEN 'datetime' THEN pliers._is_datetime(p_value)
        ELSE TRUE
    END;
END
$$;

COMMENT ON FUNCTION pliers._expr_literal_ok(text, text) IS
'TRUE when a string literal is a valid value of the type it is used as (date YYYY-MM-DD, time, RFC 3339 datetime).';

-- One node: its type, its errors and references appended. The types are those of
-- _expr_check, plus 'null' (the null literal) and NULL (the node has errors: no further
-- error is reported about it).
CREATE FUNCTION pliers._expr_type(
    p_expr jsonb, p_path text, p_vars jsonb, p_choice boolean, p_bare boolean,
    INOUT p_errors jsonb[], INOUT p_refs text[], OUT p_type text
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_op text;
    v_args jsonb;
    v_n integer;
    v_arity integer[];
    v_types text[] := '{}';
    v_paths text[] := '{}';
    v_t text;
    v_kind text;
    v_lit boolean[] := '{}';
    v_arg jsonb;
    v_ref text;
    v_want text;
BEGIN
    CASE jsonb_typeof(p_expr)
        WHEN 'number' THEN
            IF abs(p_expr::numeric) >= 1e308 THEN
                p_errors := p_errors || pliers._form_error(p_path, 'invalid_literal', 'a number of magnitude 1e308 or more');
                RETURN;
            END IF;
            p_type := 'number';
            RETURN;
        WHEN 'string' THEN
            p_type := 'string';
            RETURN;
        WHEN 'boolean' THEN
            p_type := 'boolean';
            RETURN;
        WHEN 'null' THEN
            p_type := 'null';
            RETURN;
        WHEN 'array' THEN
            p_errors := p_errors || pliers._form_error(p_path, 'invalid_expression',
                'an array is an expression only as the list of in');
            RETURN;
        ELSE
            NULL;
    END CASE;
    IF (SELECT count(*) FROM jsonb_object_keys(p_expr)) <> 1 THEN
        p_errors := p_errors || pliers._form_error(p_path, 'invalid_expression',
            'an operation is an object with exactly one key, the operator');
        RETURN;
    END IF;
    v_op := (SELECT k FROM jsonb_object_keys(p_expr) AS k);
    v_arity := pliers._expr_arity(v_op);
    IF v_arity IS NULL THEN
        p_errors := p_errors || pliers._form_error(p_path || '.' || pliers._json_path_key(v_op), 'unknown_operator',
            format('unknown operator %s', to_json(v_op)));
        RETURN;
    END IF;
    v_args := p_expr -> v_op;
    p_path := p_path || '.' || pliers._json_path_key(v_op);
    IF jsonb_typeof(v_args) <> 'array' THEN
        v_args := jsonb_build_array(v_args);
        v_paths := ARRAY[p_path];
    ELSE
        SELECT coalesce(array_agg(p_path || '[' || i || ']' ORDER BY i), '{}') INTO v_paths
        FROM generate_series(0, jsonb_array_length(v_args) - 1) AS i;
    END IF;
    v_n := jsonb_array_length(v_args);
    IF v_n < v_arity[1] OR v_n > coalesce(v_arity[2], v_n)
        OR v_op = 'if' AND v_n % 2 = 0 THEN
        p_errors := p_errors || pliers._form_error(p_path, 'wrong_argument_count', format(
            '%s takes %s', v_op, CASE
                WHEN v_op = 'if' THEN 'an odd number (3 or more) of arguments: condition, value, ..., else'
                WHEN v_arity[1] = v_arity[2] THEN v_arity[1] || ' argument(s)'
                WHEN v_arity[2] IS NULL THEN v_arity[1] || ' or more arguments'
                ELSE v_arity[1] || ' to ' || v_arity[2] || ' arguments'
            END));
        RETURN;
    END IF;

    -- Operators whose arguments are not expressions.
    IF v_op IN ('var', 'choice') THEN
        v_ref := v_args ->> 0;
        IF jsonb_typeof(v_args -> 0) <> 'string' OR v_ref = '' THEN
            p_errors := p_errors || pliers._form_error(v_paths[1], 'invalid_expression',
                format('%s takes a non-empty string', v_op));
        ELSIF v_op = 'choice' THEN
            IF NOT p_choice THEN
                p_errors := p_errors || pliers._form_error(p_path, 'invalid_reference',
                    'choice is only allowed in a choiceFilter');
            ELSE
                p_type := CASE WHEN v_ref = 'code' THEN 'string' ELSE 'any' END;
            END IF;
        ELSIF NOT coalesce(p_vars ? v_ref, FALSE) OR p_vars ->> v_ref = 'opaque' AND NOT p_bare THEN
            p_errors := p_errors || pliers._form_error(v_paths[1], 'invalid_reference', CASE
                WHEN coalesce(p_vars ? v_ref, FALSE) THEN format('%s can only be tested with empty or count', to_json(v_ref))
                ELSE format('no field %s can be referred to here', to_json(v_ref))
            END);
        ELSE
            p_type := p_vars ->> v_ref;
            IF NOT v_ref = ANY (p_refs) THEN
                p_refs := p_refs || v_ref;
            END IF;
        END IF;
        RETURN;
    END IF;
    IF v_op IN ('today', 'now') THEN
        p_type := CASE v_op WHEN 'today' THEN 'date' ELSE 'datetime' END;
        RETURN;
    END IF;

    -- The arguments, checked first; a literal list only as the list of in.
    FOR v_i IN 0 .. v_n - 1 LOOP
        v_arg := v_args -> v_i;
        v_lit := v_lit || (jsonb_typeof(v_arg) = 'string');
        IF v_op = 'in' AND v_i = 1 AND jsonb_typeof(v_arg) = 'array' THEN
            v_types := v_types || 'list'::text;
            CONTINUE;
        END IF;
        SELECT t.p_errors, t.p_refs, t.p_type INTO p_errors, p_refs, v_t
        FROM pliers._expr_type(v_arg, v_paths[v_i + 1], p_vars, p_choice, v_op IN ('empty', 'count'), p_errors, p_refs) AS t;
        v_types := v_types || v_t;
    END LOOP;
    IF array_position(v_types, NULL) IS NOT NULL THEN
        RETURN;  -- an argument has errors
    END IF;

    CASE
        WHEN v_op IN ('==', '!=', '<', '<=', '>', '>=') THEN
            v_kind := pliers._expr_cmp_kind(v_types[1], v_lit[1], v_types[2], v_lit[2]);
            IF v_kind IS NULL OR v_kind = 'null' AND v_op NOT IN ('==', '!=')
                OR v_kind = 'boolean' AND v_op NOT IN ('==', '!=') THEN
                p_errors := p_errors || pliers._form_error(p_path, 'type_mismatch',
                    format('%s cannot compare %s with %s', v_op, v_types[1], v_types[2]));
                RETURN;
            END IF;
            FOR v_i IN 1 .. 2 LOOP
                IF v_kind IN ('date', 'time', 'datetime') AND v_lit[v_i]
                    AND NOT pliers._expr_literal_ok(v_kind, v_args ->> (v_i - 1)) THEN
                    p_errors := p_errors || pliers._form_error(v_paths[v_i], 'invalid_literal',
                        format('%s is not a valid %s', v_args -> (v_i - 1), v_kind));
                END IF;
            END LOOP;
            p_type := 'boolean';
        WHEN v_op IN ('and', 'or', '!') THEN
            v_want := 'boolean';
            p_type := 'boolean';
        WHEN v_op IN ('if', 'coalesce') THEN
            IF v_op = 'if' THEN
                FOR v_i IN 1 .. v_n - 1 BY 2 LOOP
                    IF v_types[v_i] NOT IN ('boolean', 'any') THEN
                        p_errors := p_errors || pliers._form_error(v_paths[v_i], 'type_mismatch',
                            format('a condition of if is boolean, not %s', v_types[v_i]));
                    END IF;
                    v_types[v_i] := 'null';  -- not a value
                END LOOP;
            END IF;
            p_type := pliers._expr_join_type(v_types);
            FOR v_i IN 1 .. v_n LOOP
                CONTINUE WHEN v_op = 'if' AND v_i % 2 = 1 AND v_i < v_n;
                v_t := v_types[v_i];
                IF p_type IN ('date', 'time', 'datetime') AND v_t = 'string' AND v_lit[v_i] THEN
                    IF NOT pliers._expr_literal_ok(p_type, v_args ->> (v_i - 1)) THEN
                        p_errors := p_errors || pliers._form_error(v_paths[v_i], 'invalid_literal',
                            format('%s is not a valid %s', v_args -> (v_i - 1), p_type));
                    END IF;
                ELSIF NOT (v_t IN ('null', p_type) OR p_type = 'any' OR p_type = 'string' AND v_t = 'ordinal') THEN
                    p_errors := p_errors || pliers._form_error(v_paths[v_i], 'type_mismatch',
                        format('the values of %s are of one type: %s, not %s', v_op, p_type, v_t));
                END IF;
            END LOOP;
        WHEN v_op IN ('+', '*', '-', '/', '%', 'abs', 'floor', 'ceil', 'round') THEN
            v_want := 'number';
            p_type := 'number';
        WHEN v_op IN ('min', 'max') THEN
            v_want := CASE WHEN v_n = 1 AND v_types[1] = 'list:number' THEN 'list:number' ELSE 'number' END;
            p_type := 'number';
        WHEN v_op = 'cat' THEN
            FOR v_i IN 1 .. v_n LOOP
                IF v_types[v_i] LIKE 'list:%' THEN
                    p_errors := p_errors || pliers._form_error(v_paths[v_i], 'type_mismatch',
                        format('cat joins single values, not %s', v_types[v_i]));
                END IF;
            END LOOP;
            p_type := 'string';
        WHEN v_op = 'length' THEN
            IF v_types[1] NOT IN ('string', 'ordinal', 'any', 'null') AND v_types[1] NOT LIKE 'list:%' THEN
                p_errors := p_errors || pliers._form_error(v_paths[1], 'type_mismatch',
                    format('length takes a string or a list, not %s', v_types[1]));
            END IF;
            p_type := 'number';
        WHEN v_op IN ('lower', 'upper', 'trim') THEN
            v_want := 'string';
            p_type := 'string';
        WHEN v_op = 'substr' THEN
            v_types[1] := CASE WHEN v_types[1] IN ('string', 'ordinal', 'any') THEN 'number' ELSE 'string' END;
            v_want := 'number';
            IF v_types[1] = 'string' THEN
                v_types[1] := 'number';
                p_errors := p_errors || pliers._form_error(v_paths[1], 'type_mismatch', 'substr takes a string first');
            END IF;
            p_type := 'string';
        WHEN v_op = 'regex' THEN
            IF v_types[1] NOT IN ('string', 'ordinal', 'any') THEN
                p_errors := p_errors || pliers._form_error(v_paths[1], 'type_mismatch',
                    format('regex tests a string, not %s', v_types[1]));
            END IF;
            IF jsonb_typeof(v_args -> 1) <> 'string' THEN
                p_errors := p_errors || pliers._form_error(v_paths[2], 'invalid_expression', 'the pattern of regex is a string literal');
            ELSIF char_length(v_args ->> 1) > coalesce((pliers.form_limits() ->> 'pattern_chars')::integer, 1000) THEN
                p_errors := p_errors || pliers._form_error(v_paths[2], 'invalid_pattern',
                    format('a pattern is at most %s characters', pliers.form_limits() ->> 'pattern_chars'));
            ELSE
                BEGIN
                    PERFORM '' ~ (v_args ->> 1);
                EXCEPTION WHEN invalid_regular_expression THEN
                    p_errors := p_errors || pliers._form_error(v_paths[2], 'invalid_pattern',
                        'not a valid regular expression (PostgreSQL advanced regular expressions)');
                END;
            END IF;
            p_type := 'boolean';
        WHEN v_op IN ('date_add', 'date_diff') THEN
            IF v_op = 'date_add' THEN
                v_types[1] := CASE WHEN v_types[1] = 'string' AND v_lit[1] AND pliers._is_date(v_args ->> 0)
                    OR v_types[1] IN ('date', 'any') THEN 'ok' ELSE v_types[1] END;
                v_types[2] := CASE WHEN v_types[2] IN ('number', 'any') THEN 'ok' ELSE v_types[2] END;
            ELSE
                FOR v_i IN 1 .. 2 LOOP
                    v_types[v_i] := CASE WHEN v_types[v_i] = 'string' AND v_lit[v_i] AND pliers._is_date(v_args ->> (v_i - 1))
                        OR v_types[v_i] IN ('date', 'any') THEN 'ok' ELSE v_types[v_i] END;
                END LOOP;
            END IF;
            FOR v_i IN 1 .. 2 LOOP
                IF v_types[v_i] <> 'ok' THEN
                    p_errors := p_errors || pliers._form_error(v_paths[v_i],
                        CASE WHEN v_lit[v_i] AND (v_op = 'date_diff' OR v_i = 1) THEN 'invalid_literal' ELSE 'type_mismatch' END,
                        format('%s takes %s here, not %s', v_op,
                            CASE WHEN v_op = 'date_add' AND v_i = 2 THEN 'a number' ELSE 'a date (YYYY-MM-DD)' END,
                            CASE WHEN v_lit[v_i] THEN (v_args -> (v_i - 1))::text ELSE v_types[v_i] END));
                END IF;
            END LOOP;
            IF v_args ->> 2 IS NULL OR jsonb_typeof(v_args -> 2) <> 'string'
                OR v_args ->> 2 NOT IN ('day', 'week', 'month', 'year') THEN
                p_errors := p_errors || pliers._form_error(v_paths[3], 'invalid_literal',
                    'the unit is one of the literals "day", "week", "month", "year"');
            END IF;
            p_type := CASE v_op WHEN 'date_add' THEN 'date' ELSE 'number' END;
        WHEN v_op = 'selected' THEN
            IF v_types[1] NOT IN ('string', 'ordinal', 'list:string', 'any') THEN
                p_errors := p_errors || pliers._form_error(v_paths[1], 'type_mismatch',
                    format('selected tests a choice answer, not %s', v_types[1]));
            END IF;
            IF jsonb_typeof(v_args -> 1) <> 'string' THEN
                p_errors := p_errors || pliers._form_error(v_paths[2], 'invalid_expression',
                    'the code of selected is a string literal');
            END IF;
            p_type := 'boolean';
        WHEN v_op = 'count' THEN
            IF v_types[1] NOT LIKE 'list:%' AND v_types[1] NOT IN ('opaque', 'any') THEN
                p_errors := p_errors || pliers._form_error(v_paths[1], 'type_mismatch',
                    format('count takes a list, not %s', v_types[1]));
            END IF;
            p_type := 'number';
        WHEN v_op = 'sum' THEN
            v_want := 'list:number';
            p_type := 'number';
        WHEN v_op = 'empty' THEN
            p_type := 'boolean';
        WHEN v_op = 'in' THEN
            IF v_types[2] <> 'list' THEN
                p_errors := p_errors || pliers._form_error(v_paths[2], 'invalid_expression',
                    'the second argument of in is an array of literals');
            ELSIF v_types[1] LIKE 'list:%' OR v_types[1] IN ('null', 'opaque') THEN
                p_errors := p_errors || pliers._form_error(v_paths[1], 'type_mismatch',
                    format('in tests a single value, not %s', v_types[1]));
            ELSE
                FOR v_i IN 0 .. jsonb_array_length(v_args -> 1) - 1 LOOP
                    v_arg := v_args -> 1 -> v_i;
                    v_t := CASE jsonb_typeof(v_arg) WHEN 'number' THEN 'number' WHEN 'string' THEN 'string'
                        WHEN 'boolean' THEN 'boolean' END;
                    v_kind := pliers._expr_cmp_kind(v_types[1], FALSE, v_t, v_t = 'string');
                    IF v_t IS NULL OR v_kind IS NULL OR v_kind = 'null' THEN
                        p_errors := p_errors || pliers._form_error(v_paths[2] || '[' || v_i || ']', 'type_mismatch',
                            format('an item of the list of in is a %s literal', v_types[1]));
                    ELSIF v_kind IN ('date', 'time', 'datetime') AND NOT pliers._expr_literal_ok(v_kind, v_arg #>> '{}') THEN
                        p_errors := p_errors || pliers._form_error(v_paths[2] || '[' || v_i || ']', 'invalid_literal',
                            format('%s is not a valid %s', v_arg, v_kind));
                    END IF;
                END LOOP;
            END IF;
            p_type := 'boolean';
    END CASE;

    -- Operators whose every argument is of one type.
    IF v_want IS NOT NULL THEN
        FOR v_i IN 1 .. v_n LOOP
            IF NOT (v_types[v_i] = v_want OR v_types[v_i] = 'any' AND v_want NOT LIKE 'list:%'
                OR v_want = 'string' AND v_types[v_i] = 'ordinal') THEN
                p_errors := p_errors || pliers._form_error(v_paths[v_i], 'type_mismatch',
                    format('%s takes %s, not %s', v_op, v_want, v_types[v_i]));
            END IF;
        END LOOP;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._expr_type(jsonb, text, jsonb, boolean, boolean, jsonb[], text[]) IS
'Type-checks one node of an expression at JSON path p_path (recursively): its type (or NULL when it has errors), '
'with its errors and references appended to p_errors and p_refs. p_bare: the node is the argument of empty or '
'count, which may refer to any field. Called by _expr_check.';

CREATE FUNCTION pliers._expr_check(
    p_expr jsonb, p_path text, p_vars jsonb, p_expected text, p_in_choice_filter boolean DEFAULT FALSE,
    OUT errors jsonb[], OUT type text, OUT refs text[]
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_limits constant jsonb := pliers.form_limits();
    v_nodes constant integer := coalesce((v_limits ->> 'expression_nodes')::integer, 500);
    v_depth constant integer := coalesce((v_limits ->> 'json_depth')::integer, 128);
BEGIN
    errors := '{}';
    refs := '{}';
    -- Bounded before it is walked: the depth first (jsonpath stops at the level asked),
    -- then the nodes (values that are not arrays), counted up to one past the limit.
    IF jsonb_path_exists(p_expr,
            format('strict $.**{%s} ? (@.type() == "object" || @.type() == "array")', v_depth)::jsonpath)
        OR (SELECT count(*) FROM (
            SELECT FROM jsonb_path_query(p_expr, 'strict $.** ? (@.type() != "array")') LIMIT v_nodes + 1
        ) AS n) > v_nodes THEN
        errors := ARRAY[pliers._form_error(p_path, 'expression_too_large',
            format('an expression has at most %s nodes, nested at most %s deep', v_nodes, v_depth))];
        RETURN;
    END IF;
    SELECT t.p_errors, t.p_refs, t.p_type INTO errors, refs, type
    FROM pliers._expr_type(p_expr, p_path, p_vars, p_in_choice_filter, FALSE, errors, refs) AS t;
    IF type = 'string' AND jsonb_typeof(p_expr) = 'string' AND p_expected IN ('date', 'time', 'datetime') THEN
        IF NOT pliers._expr_literal_ok(p_expected, p_expr #>> '{}') THEN
            errors := errors || pliers._form_error(p_path, 'invalid_literal',
                format('%s is not a valid %s', p_expr, p_expected));
        END IF;
        type := p_expected;
    END IF;
    IF type IS NOT NULL AND p_expected IS NOT NULL AND type NOT IN (p_expected, 'any', 'null')
        AND NOT (p_expected = 'string' AND type = 'ordinal') THEN
        errors := errors || pliers._form_error(p_path, 'type_mismatch',
            format('the expression is %s here, not %s', p_expected, type));
    END IF;
    IF cardinality(errors) > 0 THEN
        type := NULL;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._expr_check(jsonb, text, jsonb, text, boolean) IS
'Type-checks the expression p_expr found at JSON path p_path of a definition. p_vars maps each path it may refer '
'to to its type (number, string, boolean, date, time, datetime, any, ordinal, list:number, list:string, '
'list:object, opaque); p_expected is the type required (NULL: any); choice is allowed only with '
'p_in_choice_filter. Returns the errors ({path, code, message}: invalid_expression, unknown_operator, '
'wrong_argument_count, type_mismatch, invalid_reference, invalid_pattern, invalid_literal, expression_too_large), '
'the type (NULL with errors; null for a null literal) and the distinct paths referred to.';

-- Interpretation -----------------------------------------------------------------------------

CREATE FUNCTION pliers._expr_eval(
    p_expr jsonb, p_root jsonb, p_context jsonb, p_scope text, p_item jsonb, p_choice jsonb DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_op text;
    v_args jsonb;
    v_n integer;
    v_a jsonb;
    v_b jsonb;
    v_text text;
    v_nums numeric[];
    v_num numeric;
BEGIN
    IF jsonb_typeof(p_expr) IS DISTINCT FROM 'object' THEN
        RETURN nullif(p_expr, 'null'::jsonb);  -- a literal (arrays are only read by in)
    END IF;
    v_op := jsonb_path_query_first(p_expr, 'strict $.keyvalue().key') #>> '{}';
    v_args := p_expr -> v_op;
    IF jsonb_typeof(v_args) IS DISTINCT FROM 'array' THEN
        v_args := jsonb_build_array(v_args);
    END IF;
    v_n := jsonb_array_length(v_args);
    CASE v_op
        WHEN 'var' THEN
            RETURN nullif(pliers._resolve_ref(v_args ->> 0, p_root, p_context, p_scope, p_item), 'null'::jsonb);
        WHEN '==', '!=', '<', '<=', '>', '>=' THEN
            v_a := pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice);
            v_b := pliers._expr_eval(v_args -> 1, p_root, p_context, p_scope, p_item, p_choice);
            RETURN to_jsonb(CASE v_op
                WHEN '==' THEN pliers._expr_eq(v_a, v_b)
                WHEN '!=' THEN NOT pliers._expr_eq(v_a, v_b)
                WHEN '<' THEN coalesce(pliers._expr_cmp(v_a, v_b) < 0, FALSE)
                WHEN '<=' THEN coalesce(pliers._expr_cmp(v_a, v_b) <= 0, FALSE)
                WHEN '>' THEN coalesce(pliers._expr_cmp(v_a, v_b) > 0, FALSE)
                ELSE coalesce(pliers._expr_cmp(v_a, v_b) >= 0, FALSE)
            END);
        WHEN 'and', 'or' THEN
            FOR v_i IN 0 .. v_n - 1 LOOP
                IF coalesce(pliers._expr_eval(v_args -> v_i, p_root, p_context, p_scope, p_item, p_choice) = 'true', FALSE)
                    = (v_op = 'or') THEN
                    RETURN to_jsonb(v_op = 'or');
                END IF;
            END LOOP;
            RETURN to_jsonb(v_op = 'and');
        WHEN '!' THEN
            RETURN to_jsonb(NOT coalesce(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice) = 'true', FALSE));
        WHEN 'if' THEN
            FOR v_i IN 0 .. v_n - 2 BY 2 LOOP
                IF coalesce(pliers._expr_eval(v_args -> v_i, p_root, p_context, p_scope, p_item, p_choice) = 'true', FALSE) THEN
                    RETURN pliers._expr_eval(v_args -> (v_i + 1), p_root, p_context, p_scope, p_item, p_choice);
                END IF;
            END LOOP;
            RETURN pliers._expr_eval(v_args -> (v_n - 1), p_root, p_context, p_scope, p_item, p_choice);
        WHEN '+', '*', '-', '/', '%', 'min', 'max', 'abs', 'floor', 'ceil', 'round' THEN
            IF v_op IN ('min', 'max') AND v_n = 1 THEN
                v_a := pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice);
                IF jsonb_typeof(v_a) = 'array' THEN
                    RETURN to_jsonb(pliers._expr_list_agg(v_a, v_op));
                END IF;
            END IF;
            SELECT array_agg(pliers._expr_num(pliers._expr_eval(a, p_root, p_context, p_scope, p_item, p_choice)) ORDER BY i)
            INTO v_nums
            FROM jsonb_array_elements(v_args) WITH ORDINALITY AS x (a, i);
            IF v_op IN ('+', '*') THEN
                -- Left to right, as the compiled SQL nests them.
                v_num := v_nums[1];
                FOR v_i IN 2 .. v_n LOOP
                    v_num := CASE v_op WHEN '+' THEN pliers._expr_add(v_num, v_nums[v_i])
                        ELSE pliers._expr_mul(v_num, v_nums[v_i]) END;
                END LOOP;
            END IF;
            RETURN to_jsonb(CASE v_op
                WHEN '+' THEN v_num
                WHEN '*' THEN v_num
                WHEN '-' THEN CASE WHEN v_n = 1 THEN - v_nums[1] ELSE pliers._expr_sub(v_nums[1], v_nums[2]) END
                WHEN '/' THEN pliers._expr_div(v_nums[1], v_nums[2])
                WHEN '%' THEN pliers._expr_mod(v_nums[1], v_nums[2])
                WHEN 'min' THEN pliers._expr_min(VARIADIC v_nums)
                WHEN 'max' THEN pliers._expr_max(VARIADIC v_nums)
                WHEN 'abs' THEN abs(v_nums[1])
                WHEN 'floor' THEN floor(v_nums[1])
                WHEN 'ceil' THEN ceil(v_nums[1])
                ELSE CASE WHEN v_n = 1 THEN round(v_nums[1]) ELSE pliers._expr_round(v_nums[1], v_nums[2]) END
            END);
        WHEN 'cat' THEN
            SELECT string_agg(coalesce(pliers._expr_eval(a, p_root, p_context, p_scope, p_item, p_choice) #>> '{}', ''), '' ORDER BY i)
            INTO v_text
            FROM jsonb_array_elements(v_args) WITH ORDINALITY AS x (a, i);
            RETURN to_jsonb(v_text);
        WHEN 'length' THEN
            RETURN to_jsonb(pliers._expr_length(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice)));
        WHEN 'lower', 'upper', 'trim' THEN
            v_text := pliers._expr_txt(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice));
            RETURN to_jsonb(CASE v_op WHEN 'lower' THEN lower(v_text) WHEN 'upper' THEN upper(v_text)
                ELSE btrim(v_text, E' \t\r\n') END);
        WHEN 'substr' THEN
            v_text := pliers._expr_txt(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice));
            v_a := pliers._expr_eval(v_args -> 1, p_root, p_context, p_scope, p_item, p_choice);
            IF v_n = 2 THEN
                RETURN to_jsonb(pliers._expr_substr(v_text, pliers._expr_num(v_a)));
            END IF;
            RETURN to_jsonb(pliers._expr_substr(v_text, pliers._expr_num(v_a), pliers._expr_num(
                pliers._expr_eval(v_args -> 2, p_root, p_context, p_scope, p_item, p_choice))));
        WHEN 'regex' THEN
            v_text := pliers._expr_txt(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice));
            IF v_text IS NULL THEN
                RETURN 'false';
            END IF;
            -- A checked pattern compiles; an unchecked one must not raise either.
            BEGIN
                RETURN to_jsonb(coalesce(v_text ~ (v_args ->> 1), FALSE));
            EXCEPTION WHEN invalid_regular_expression THEN
                RETURN NULL;
            END;
        WHEN 'today' THEN
            RETURN to_jsonb(to_char(current_date, 'YYYY-MM-DD'));
        WHEN 'now' THEN
            RETURN to_jsonb(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
        WHEN 'date_add' THEN
            RETURN to_jsonb(pliers._expr_date_add(
                pliers._expr_txt(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice)),
                pliers._expr_num(pliers._expr_eval(v_args -> 1, p_root, p_context, p_scope, p_item, p_choice)),
                v_args ->> 2));
        WHEN 'date_diff' THEN
            RETURN to_jsonb(pliers._expr_date_diff(
                pliers._expr_txt(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice)),
                pliers._expr_txt(pliers._expr_eval(v_args -> 1, p_root, p_context, p_scope, p_item, p_choice)),
                v_args ->> 2));
        WHEN 'selected' THEN
            RETURN to_jsonb(pliers._expr_selected(
                pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice), v_args ->> 1));
        WHEN 'count' THEN
            RETURN to_jsonb(pliers._expr_count(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice)));
        WHEN 'sum' THEN
            RETURN to_jsonb(pliers._expr_list_agg(
                pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice), 'sum'));
        WHEN 'coalesce' THEN
            FOR v_i IN 0 .. v_n - 1 LOOP
                v_a := pliers._expr_nonblank(pliers._expr_eval(v_args -> v_i, p_root, p_context, p_scope, p_item, p_choice));
                IF v_a IS NOT NULL THEN
                    RETURN v_a;
                END IF;
            END LOOP;
            RETURN NULL;
        WHEN 'empty' THEN
            RETURN to_jsonb(pliers._is_blank(pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice)));
        WHEN 'in' THEN
            RETURN to_jsonb(pliers._expr_in(
                pliers._expr_eval(v_args -> 0, p_root, p_context, p_scope, p_item, p_choice), v_args -> 1));
        WHEN 'choice' THEN
            RETURN nullif(CASE WHEN v_args ->> 0 = 'code' THEN p_choice -> 'code'
                ELSE p_choice -> 'attributes' -> (v_args ->> 0) END, 'null'::jsonb);
        ELSE
            RETURN NULL;
    END CASE;
END
$$;

COMMENT ON FUNCTION pliers._expr_eval(jsonb, jsonb, jsonb, text, jsonb, jsonb) IS
'Evaluates an expression (checked by _expr_check) against the answers: p_root (the root), p_item (the current '
'repeat item, at repeat path p_scope; the root itself at the root, with p_scope '''') and p_context (the enclosing '
'items: {"<repeat path>": item}), as _resolve_ref reads them; p_choice is the choice being filtered (choice). '
'Returns the value as jsonb, SQL NULL for a missing one; never raises (a division by 0 or an out-of-range '
'operation is NULL).';

-- Compilation ----------------------------------------------------------------------------------

-- How the compiled SQL holds a value of a type: numeric, text, boolean, jsonb, or NULL
-- (the null literal).
CREATE FUNCTION pliers._expr_sql_repr(p_type text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_type = 'number' THEN 'numeric'
        WHEN p_type = 'boolean' THEN 'boolean'
        WHEN p_type IN ('string', 'ordinal', 'date', 'time', 'datetime') THEN 'text'
        WHEN p_type = 'null' THEN NULL
        ELSE 'jsonb'
    END
$$;

COMMENT ON FUNCTION pliers._expr_sql_repr(text) IS
'The SQL type that compiled expressions hold a value of an expression type in (NULL for the null literal).';

-- The SQL of a value (p_sql, of expression type p_type) as SQL type p_want.
CREATE FUNCTION pliers._expr_sql_as(p_sql text, p_type text, p_want text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_type = 'null' THEN 'NULL::' || p_want
        WHEN pliers._expr_sql_repr(p_type) = p_want THEN p_sql
        WHEN p_want = 'jsonb' THEN 'to_jsonb(' || p_sql || ')'
        WHEN pliers._expr_sql_repr(p_type) = 'jsonb' THEN CASE p_want
            WHEN 'numeric' THEN 'pliers._expr_num(' WHEN 'text' THEN 'pliers._expr_txt('
            ELSE 'pliers._expr_bool(' END || p_sql || ')'
        WHEN p_want = 'text' THEN '(' || p_sql || ')::text'
    END
$$;

COMMENT ON FUNCTION pliers._expr_sql_as(text, text, text) IS
'The SQL of a compiled value of expression type p_type as SQL type p_want (numeric, text, boolean, jsonb).';

-- One node compiled: its SQL, of the SQL type _expr_sql_repr gives for its type.
CREATE FUNCTION pliers._expr_sql_node(p_expr jsonb, p_refs jsonb, p_types jsonb, OUT p_sql text, OUT p_type text)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_op text;
    v_args jsonb;
    v_n integer;
    v_sql text[] := '{}';
    v_types text[] := '{}';
    v_lit boolean[] := '{}';
    v_kind text;
    v_want text;
    v_a text;
    v_b text;
    v_items text;
BEGIN
    CASE jsonb_typeof(p_expr)
        WHEN 'number' THEN
            p_sql := format('%L::numeric', p_expr #>> '{}');
            p_type := 'number';
            RETURN;
        WHEN 'string' THEN
            p_sql := format('%L::text', p_expr #>> '{}');
            p_type := 'string';
            RETURN;
        WHEN 'boolean' THEN
            p_sql := upper(p_expr #>> '{}');
            p_type := 'boolean';
            RETURN;
        WHEN 'object' THEN
            NULL;
        ELSE
            p_sql := 'NULL';
            p_type := 'null';
            RETURN;
    END CASE;
    v_op := jsonb_path_query_first(p_expr, 'strict $.keyvalue().key') #>> '{}';
    v_args := p_expr -> v_op;
    IF jsonb_typeof(v_args) <> 'array' THEN
        v_args := jsonb_build_array(v_args);
    END IF;
    v_n := jsonb_array_length(v_args);

    IF v_op = 'var' THEN
        p_type := p_types ->> (v_args ->> 0);
        v_a := '(' || (p_refs ->> (v_args ->> 0)) || ')';
        p_sql := CASE pliers._expr_sql_repr(p_type)
            WHEN 'numeric' THEN 'pliers._expr_num' WHEN 'text' THEN 'pliers._expr_txt'
            WHEN 'boolean' THEN 'pliers._expr_bool' ELSE 'pliers._expr_val' END || v_a;
        RETURN;
    ELSIF v_op = 'choice' THEN
        v_a := '(' || (p_refs ->> '@choice') || ')';
        IF v_args ->> 0 = 'code' THEN
            p_sql := format('pliers._expr_txt(%s -> %L)', v_a, 'code');
            p_type := 'string';
        ELSE
            p_sql := format('pliers._expr_val(%s -> %L -> %L)', v_a, 'attributes', v_args ->> 0);
            p_type := 'any';
        END IF;
        RETURN;
    ELSIF v_op = 'today' THEN
        p_sql := $s$to_char(current_date, 'YYYY-MM-DD')$s$;
        p_type := 'date';
        RETURN;
    ELSIF v_op = 'now' THEN
        p_sql := $s$to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')$s$;
        p_type := 'datetime';
        RETURN;
    END IF;

    FOR v_i IN 0 .. v_n - 1 LOOP
        v_lit := v_lit || (jsonb_typeof(v_args -> v_i) = 'string');
        IF v_op = 'in' AND v_i = 1 OR v_op IN ('regex', 'selected') AND v_i = 1
            OR v_op IN ('date_add', 'date_diff') AND v_i = 2 THEN
            v_sql := v_sql || NULL::text;  -- a literal read as it is
            v_types := v_types || NULL::text;
            CONTINUE;
        END IF;
        SELECT t.p_sql, t.p_type INTO v_a, v_b FROM pliers._expr_sql_node(v_args -> v_i, p_refs, p_types) AS t;
        v_sql := v_sql || v_a;
        v_types := v_types || v_b;
    END LOOP;

    CASE
        WHEN v_op IN ('==', '!=', '<', '<=', '>', '>=') THEN
            p_type := 'boolean';
            v_kind := pliers._expr_cmp_kind(v_types[1], v_lit[1], v_types[2], v_lit[2]);
            IF v_kind = 'null' THEN
                p_sql := CASE
                    WHEN v_types[1] = 'null' AND v_types[2] = 'null' THEN 'TRUE'
                    ELSE format('(%s IS %sNULL)', CASE WHEN v_types[1] = 'null' THEN v_sql[2] ELSE v_sql[1] END,
                        CASE v_op WHEN '==' THEN '' ELSE 'NOT ' END)
                END;
                RETURN;
            END IF;
            -- Strings compare by code point unless both may be date-times or times:
            -- inline when one side cannot be (a date, an ordinal code, a plain literal).
            IF v_kind = 'string' AND NOT (
                'ordinal' = ANY (v_types)
                OR v_lit[1] AND NOT pliers._is_datetime(v_args ->> 0) AND NOT pliers._is_time(v_args ->> 0)
                OR v_lit[2] AND NOT pliers._is_datetime(v_args ->> 1) AND NOT pliers._is_time(v_args ->> 1)
            ) THEN
                v_kind := 'any';
            END IF;
            CASE v_kind
                WHEN 'number', 'boolean', 'string', 'date' THEN
                    v_want := pliers._expr_sql_repr(v_kind);
                    v_a := pliers._expr_sql_as(v_sql[1], v_types[1], v_want);
                    v_b := pliers._expr_sql_as(v_sql[2], v_types[2], v_want);
                    IF v_want = 'text' THEN
                        v_a := '(' || v_a || ') COLLATE "C"';
                    END IF;
                WHEN 'time', 'datetime' THEN
                    v_a := format('pliers._expr_%s(%s)', CASE v_kind WHEN 'time' THEN 'time' ELSE 'instant' END,
                        pliers._expr_sql_as(v_sql[1], v_types[1], 'text'));
                    v_b := format('pliers._expr_%s(%s)', CASE v_kind WHEN 'time' THEN 'time' ELSE 'instant' END,
                        pliers._expr_sql_as(v_sql[2], v_types[2], 'text'));
                WHEN 'ordnum' THEN
                    v_a := CASE WHEN v_types[1] = 'ordinal' THEN format('pliers._expr_ordnum(%s)', v_sql[1]) ELSE v_sql[1] END;
                    v_b := CASE WHEN v_types[2] = 'ordinal' THEN format('pliers._expr_ordnum(%s)', v_sql[2]) ELSE v_sql[2] END;
                ELSE
                    v_a := pliers._expr_sql_as(v_sql[1], v_types[1], 'jsonb');
                    v_b := pliers._expr_sql_as(v_sql[2], v_types[2], 'jsonb');
                    p_sql := CASE v_op
                        WHEN '==' THEN format('pliers._expr_eq(%s, %s)', v_a, v_b)
                        WHEN '!=' THEN format('(NOT pliers._expr_eq(%s, %s))', v_a, v_b)
                        ELSE format('coalesce(pliers._expr_cmp(%s, %s) %s 0, FALSE)', v_a, v_b, v_op)
                    END;
                    RETURN;
            END CASE;
            p_sql := CASE v_op
                WHEN '==' THEN format('(%s IS NOT DISTINCT FROM %s)', v_a, v_b)
                WHEN '!=' THEN format('(%s IS DISTINCT FROM %s)', v_a, v_b)
                ELSE format('coalesce(%s %s %s, FALSE)', v_a, v_op, v_b)
            END;
        WHEN v_op IN ('and', 'or') THEN
            SELECT '(' || string_agg(format('coalesce(%s, FALSE)', pliers._expr_sql_as(s, t, 'boolean')),
                CASE v_op WHEN 'and' THEN ' AND ' ELSE ' OR ' END ORDER BY i) || ')'
            INTO p_sql
            FROM unnest(v_sql, v_types) WITH ORDINALITY AS x (s, t, i);
            p_type := 'boolean';
        WHEN v_op = '!' THEN
            p_sql := format('(NOT coalesce(%s, FALSE))', pliers._expr_sql_as(v_sql[1], v_types[1], 'boolean'));
            p_type := 'boolean';
        WHEN v_op IN ('if', 'coalesce') THEN
            SELECT pliers._expr_join_type(array_agg(CASE
                WHEN v_op = 'if' AND i % 2 = 1 AND i < v_n THEN 'null' ELSE t END ORDER BY i))
            INTO p_type
            FROM unnest(v_types) WITH ORDINALITY AS x (t, i);
            v_want := coalesce(pliers._expr_sql_repr(p_type), 'jsonb');
            IF v_op = 'if' THEN
                p_sql := 'CASE';
                FOR v_i IN 1 .. v_n - 1 BY 2 LOOP
                    p_sql := p_sql || format(' WHEN %s THEN %s', pliers._expr_sql_as(v_sql[v_i], v_types[v_i], 'boolean'),
                        pliers._expr_sql_as(v_sql[v_i + 1], v_types[v_i + 1], v_want));
                END LOOP;
                p_sql := p_sql || format(' ELSE %s END', pliers._expr_sql_as(v_sql[v_n], v_types[v_n], v_want));
            ELSE
                SELECT 'coalesce(' || string_agg(CASE
                    WHEN t = 'null' THEN 'NULL::' || v_want
                    WHEN v_want = 'text' THEN format('pliers._expr_nb(%s)', s)
                    WHEN v_want = 'jsonb' THEN format('pliers._expr_nonblank(%s)', pliers._expr_sql_as(s, t, 'jsonb'))
                    ELSE s
                END, ', ' ORDER BY i) || ')'
                INTO p_sql
                FROM unnest(v_sql, v_types) WITH ORDINALITY AS x (s, t, i);
            END IF;
            IF p_type = 'null' THEN
                p_sql := 'NULL';
            END IF;
        WHEN v_op IN ('+', '*') THEN
            p_sql := pliers._expr_sql_as(v_sql[1], v_types[1], 'numeric');
            FOR v_i IN 2 .. v_n LOOP
                p_sql := format('pliers._expr_%s(%s, %s)', CASE v_op WHEN '+' THEN 'add' ELSE 'mul' END, p_sql,
                    pliers._expr_sql_as(v_sql[v_i], v_types[v_i], 'numeric'));
            END LOOP;
            p_type := 'number';
        WHEN v_op IN ('-', '/', '%', 'abs', 'floor', 'ceil', 'round') OR v_op IN ('min', 'max') AND v_types[1] NOT LIKE 'list:%' THEN
            v_a := pliers._expr_sql_as(v_sql[1], v_types[1], 'numeric');
            v_b := pliers._expr_sql_as(v_sql[2], v_types[2], 'numeric');
            p_sql := CASE
                WHEN v_op = '-' AND v_n = 1 THEN format('(- %s)', v_a)
                WHEN v_op IN ('-', '/', '%') THEN format('pliers._expr_%s(%s, %s)',
                    CASE v_op WHEN '-' THEN 'sub' WHEN '/' THEN 'div' ELSE 'mod' END, v_a, v_b)
                WHEN v_op = 'round' AND v_n = 2 THEN format('pliers._expr_round(%s, %s)', v_a, v_b)
                WHEN v_op IN ('abs', 'floor', 'ceil', 'round') THEN format('%s(%s)', v_op, v_a)
            END;
            IF v_op IN ('min', 'max') THEN
                SELECT format('pliers._expr_%s(%s)', v_op, string_agg(pliers._expr_sql_as(s, t, 'numeric'), ', ' ORDER BY i))
                INTO p_sql
                FROM unnest(v_sql, v_types) WITH ORDINALITY AS x (s, t, i);
            END IF;
            p_type := 'number';
        WHEN v_op IN ('min', 'max', 'sum') THEN
            p_sql := format('pliers._expr_list_agg(%s, %L)', pliers._expr_sql_as(v_sql[1], v_types[1], 'jsonb'), v_op);
            p_type := 'number';
        WHEN v_op = 'cat' THEN
            SELECT 'concat(' || string_agg(CASE
                WHEN t = 'null' THEN 'NULL'
                WHEN pliers._expr_sql_repr(t) = 'jsonb' THEN format('(%s #>> %L)', s, '{}')
                ELSE pliers._expr_sql_as(s, t, 'text')
            END, ', ' ORDER BY i) || ')'
            INTO p_sql
            FROM unnest(v_sql, v_types) WITH ORDINALITY AS x (s, t, i);
            p_type := 'string';
        WHEN v_op = 'length' THEN
            p_sql := CASE WHEN pliers._expr_sql_repr(v_types[1]) = 'text'
                THEN format('coalesce(char_length(%s), 0)::numeric', v_sql[1])
                ELSE format('pliers._expr_length(%s)', pliers._expr_sql_as(v_sql[1], v_types[1], 'jsonb')) END;
            p_type := 'number';
        WHEN v_op IN ('lower', 'upper', 'trim') THEN
            v_a := pliers._expr_sql_as(v_sql[1], v_types[1], 'text');
            p_sql := CASE v_op WHEN 'trim' THEN format('btrim(%s, %L)', v_a, E' \t\r\n')
                ELSE format('%s(%s)', v_op, v_a) END;
            p_type := 'string';
        WHEN v_op = 'substr' THEN
            SELECT format('pliers._expr_substr(%s)', string_agg(pliers._expr_sql_as(s, t,
                CASE WHEN i = 1 THEN 'text' ELSE 'numeric' END), ', ' ORDER BY i))
            INTO p_sql
            FROM unnest(v_sql, v_types) WITH ORDINALITY AS x (s, t, i);
            p_type := 'string';
        WHEN v_op = 'regex' THEN
            p_sql := format('coalesce(%s ~ %L, FALSE)', pliers._expr_sql_as(v_sql[1], v_types[1], 'text'), v_args ->> 1);
            p_type := 'boolean';
        WHEN v_op = 'date_add' THEN
            p_sql := format('pliers._expr_date_add(%s, %s, %L)', pliers._expr_sql_as(v_sql[1], v_types[1], 'text'),
                pliers._expr_sql_as(v_sql[2], v_types[2], 'numeric'), v_args ->> 2);
            p_type := 'date';
        WHEN v_op = 'date_diff' THEN
            p_sql := format('pliers._expr_date_diff(%s, %s, %L)', pliers._expr_sql_as(v_sql[1], v_types[1], 'text'),
                pliers._expr_sql_as(v_sql[2], v_types[2], 'text'), v_args ->> 2);
            p_type := 'number';
        WHEN v_op = 'selected' THEN
            p_sql := CASE pliers._expr_sql_repr(v_types[1])
                WHEN 'text' THEN format('coalesce(%s = %L, FALSE)', v_sql[1], v_args ->> 1)
                ELSE format('pliers._expr_selected(%s, %L)', v_sql[1], v_args ->> 1) END;
            p_type := 'boolean';
        WHEN v_op = 'count' THEN
            p_sql := format('pliers._expr_count(%s)', pliers._expr_sql_as(v_sql[1], v_types[1], 'jsonb'));
            p_type := 'number';
        WHEN v_op = 'empty' THEN
            p_sql := CASE pliers._expr_sql_repr(v_types[1])
                WHEN 'numeric' THEN format('(%s IS NULL)', v_sql[1])
                WHEN 'boolean' THEN format('(%s IS NULL)', v_sql[1])
                WHEN 'text' THEN format('coalesce(btrim(%s, %L) = %L, TRUE)', v_sql[1], E' \t\r\n', '')
                WHEN 'jsonb' THEN format('pliers._is_blank(%s)', v_sql[1])
                ELSE 'TRUE' END;
            p_type := 'boolean';
        WHEN v_op = 'in' THEN
            SELECT (array_agg(e #>> '{}' ORDER BY i))::text,
                pliers._expr_cmp_kind(v_types[1], FALSE, min(jsonb_typeof(e)), min(jsonb_typeof(e)) = 'string')
            INTO v_items, v_kind
            FROM jsonb_array_elements(v_args -> 1) WITH ORDINALITY AS x (e, i);
            IF EXISTS (
                SELECT FROM jsonb_array_elements_text(v_args -> 1) AS e
                WHERE pliers._is_datetime(e) OR pliers._is_time(e)
            ) AND v_kind = 'string' AND v_types[1] <> 'ordinal' THEN
                v_kind := 'any';
            END IF;
            p_sql := CASE
                WHEN v_items IS NULL THEN 'FALSE'
                WHEN v_kind IN ('number', 'ordnum', 'boolean', 'string', 'date') THEN format(
                    'coalesce(%s = ANY (%L::%s[]), FALSE)',
                    CASE WHEN v_kind = 'ordnum' THEN format('pliers._expr_ordnum(%s)', v_sql[1]) ELSE v_sql[1] END,
                    v_items, CASE WHEN v_kind IN ('number', 'ordnum') THEN 'numeric' ELSE pliers._expr_sql_repr(v_kind) END)
                ELSE format('pliers._expr_in(%s, %L::jsonb)', pliers._expr_sql_as(v_sql[1], v_types[1], 'jsonb'), v_args -> 1)
            END;
            p_type := 'boolean';
        ELSE
            p_sql := 'NULL';
            p_type := 'null';
    END CASE;
END
$$;

COMMENT ON FUNCTION pliers._expr_sql_node(jsonb, jsonb, jsonb) IS
'One node of a checked expression compiled to SQL (recursively): its SQL, of the SQL type _expr_sql_repr gives '
'for its expression type (p_type). Called by _expr_sql.';

CREATE FUNCTION pliers._expr_sql(p_expr jsonb, p_refs jsonb, p_types jsonb)
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_sql text;
    v_type text;
BEGIN
    SELECT t.p_sql, t.p_type INTO v_sql, v_type FROM pliers._expr_sql_node(p_expr, p_refs, p_types) AS t;
    RETURN pliers._expr_sql_as(v_sql, v_type, 'jsonb');
END
$$;

COMMENT ON FUNCTION pliers._expr_sql(jsonb, jsonb, jsonb) IS
'A checked expression compiled into one SQL expression of type jsonb, equal to _expr_eval''s result: p_refs maps '
'each path it refers to (and @choice, the choice being filtered) to the SQL of that answer as jsonb, p_types '
'maps each path to its type (p_vars of _expr_check). Every literal of the definition is quoted (format %L).';

-- Privileges ---------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers._expr_val(jsonb),
pliers._expr_num(jsonb),
pliers._expr_txt(jsonb),
pliers._expr_bool(jsonb),
pliers._expr_nb(text),
pliers._expr_add(numeric, numeric),
pliers._expr_sub(numeric, numeric),
pliers._expr_mul(numeric, numeric),
pliers._expr_div(numeric, numeric),
pliers._expr_mod(numeric, numeric),
pliers._expr_round(numeric, numeric),
pliers._expr_min(numeric[]),
pliers._expr_max(numeric[]),
pliers._expr_list_agg(jsonb, text),
pliers._expr_count(jsonb),
pliers._expr_length(jsonb),
pliers._expr_nonblank(jsonb),
pliers._expr_substr(text, numeric),
pliers._expr_substr(text, numeric, numeric),
pliers._expr_selected(jsonb, text),
pliers._expr_ordnum(text),
pliers._expr_time(text),
pliers._expr_instant(text),
pliers._expr_date_add(text, numeric, text),
pliers._expr_date_diff(text, text, text),
pliers._expr_cmp(jsonb, jsonb),
pliers._expr_eq(jsonb, jsonb),
pliers._expr_in(jsonb, jsonb),
pliers._resolve_ref(text, jsonb, jsonb, text, jsonb),
pliers._expr_arity(text),
pliers._expr_cmp_kind(text, boolean, text, boolean),
pliers._expr_join_type(text[]),
pliers._expr_literal_ok(text, text),
pliers._expr_type(jsonb, text, jsonb, boolean, boolean, jsonb[], text[]),
pliers._expr_check(jsonb, text, jsonb, text, boolean),
pliers._expr_eval(jsonb, jsonb, jsonb, text, jsonb, jsonb),
pliers._expr_sql_repr(text),
pliers._expr_sql_as(text, text, text),
pliers._expr_sql_node(jsonb, jsonb, jsonb),
pliers._expr_sql(jsonb, jsonb, jsonb)
FROM public;

-- sql/42-form-definitions.sql

CREATE OR REPLACE FUNCTION pliers._eval_condition(
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

CREATE OR REPLACE FUNCTION pliers._process_instance(
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
    s_keys text[] := '{}';          -- key path from the instance, comma-separated
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
                s_path[v_n] := p_path || '.' || v_name;
                s_raw[v_n] := p_raw -> v_name;
            ELSE
                s_keys[v_n] := s_keys[v_parent] || ',' || v_name;
                s_path[v_n] := s_path[v_parent] || '.' || v_name;
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
        v_root_known := ',' || array_to_string(k_name, ',');
    ELSE
        FOR v_result IN
            SELECT k.slot, string_agg(',' || k.name, '' ORDER BY k.ord) AS known
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
        v_drop := v_has_calcs OR p_raw - string_to_array(v_root_known, ',') <> '{}'::jsonb;
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
                    THEN v_value - string_to_array(s_known[v_i], ',') <> '{}'::jsonb
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
                v_tokens[v_nt] := CASE WHEN st_first[v_sd] THEN '"' ELSE ',"' END || s_name[v_i] || '":';
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
                        v_tokens[v_nt] := v_tokens[v_nt] || ',"' || s_name[v_i] || '_other":' || v_other::text;
                    END IF;
                END IF;
            END LOOP;
            FOR v_i IN 2 .. v_sd LOOP
                v_nt := v_nt + 1;
                v_tokens[v_nt] := '}';
            END LOOP;
            cleaned := ('{' || array_to_string(v_tokens, '') || '}')::jsonb;
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
    IF p_validate AND p_raw - string_to_array(v_root_known, ',') <> '{}'::jsonb THEN
        errors := errors || pliers._unknown_field_errors(p_raw, string_to_array(v_root_known, ','), p_path, 'form');
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
                ELSIF v_value - string_to_array(s_known[v_i], ',') <> '{}'::jsonb THEN
                    errors := errors || pliers._unknown_field_errors(
                        v_value, string_to_array(s_known[v_i], ','), s_path[v_i], 'group'
                    );
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
            v_scope := CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || replace(s_keys[v_i], ',', '.');
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
                cleaned := jsonb_set(cleaned, string_to_array(s_keys[v_i], ','), to_jsonb(v_items));
            END IF;
        END IF;
    END LOOP;

    -- 4. The items of repeats now cleaned (their calculations done), the calculations that
    -- read them once more: a total over the items' own totals. Conditions are not
    -- evaluated again (docs/expressions.md, "Order of evaluation").
    IF v_has_calcs AND 'repeat' = ANY (s_kind) THEN
        FOR v_i IN 1 .. v_n LOOP
            CONTINUE WHEN NOT s_calc[v_i] OR NOT s_vis[v_i];
            v_value := pliers._expr_eval(s_field[v_i] -> 'expression', coalesce(p_root, cleaned), p_context, p_scope, cleaned);
            CONTINUE WHEN v_value IS NOT DISTINCT FROM cleaned #> string_to_array(s_keys[v_i], ',');
            cleaned := CASE WHEN v_value IS NULL OR v_value = 'null'::jsonb
                THEN cleaned #- string_to_array(s_keys[v_i], ',')
                ELSE jsonb_set(cleaned, string_to_array(s_keys[v_i], ','), v_value) END;
        END LOOP;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION pliers.validate_form_definition(p_definition jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    c_top constant text[] := ARRAY[
        '$schema', 'title', 'description', 'fields', 'sections', 'pages', 'logic', 'calculations', 'integrations',
        'ui', 'metadata'
    ];
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
    FOREACH v_key IN ARRAY ARRAY['$schema', 'title', 'description'] LOOP
        IF jsonb_typeof(p_definition -> v_key) <> 'string' THEN
            v_errors := v_errors || pliers._form_error(
                '$.' || pliers._json_path_key(v_key), 'invalid_type', 'must be a string'
            );
        END IF;
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
            v_errors := v_errors || pliers._check_field(v_field, v_path);
            v_kind := v_field ->> 'type';
            v_name := v_field ->> 'name';
            v_valid_name := coalesce(
                jsonb_typeof(v_field -> 'name') = 'string' AND v_name ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$', FALSE
            );
            v_abs := fr_prefix[v_depth] || coalesce(v_name, '?');

            IF v_valid_name THEN
                IF fr_names[v_depth] ? v_name THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.name', 'duplicate_name',
                        CASE
                            WHEN fr_names[v_depth] ->> v_name = '' THEN
                                format('the name %s is already used in this scope', v_name)
                            ELSE format(
                                'the name %s is the key of the "other" text of the field %s',
                                v_name, fr_names[v_depth] ->> v_name
                            )
                        END
                    );
                ELSE
                    fr_names[v_depth] := fr_names[v_depth] || jsonb_build_object(v_name, '');
                    IF v_field -> 'allowOther' = 'true'::jsonb AND v_kind IN ('single_choice', 'multiple_choice') THEN
                        IF fr_names[v_depth] ? (v_name || '_other') THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path || '.allowOther', 'duplicate_name',
                                format('the "other" text is kept under %s_other, already the name of a field', v_name)
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
        ELSIF v_kind IN ('single_choice', 'multiple_choice') AND v_operator IN ('equals', 'not_equals', 'in', 'not_in') THEN
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
                IF jsonb_typeof(v_item -> v_key) <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be a string');
                END IF;
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
                IF jsonb_typeof(v_item -> v_key) <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be a string');
                END IF;
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
        WHEN 'single_choice' THEN CASE
            WHEN jsonb_typeof(p_field -> 'choices') = 'array'
                AND NOT jsonb_path_exists(p_field, '$.choices[*] ? (!(@.code like_regex "^-?[0-9]+(\\.[0-9]+)?$"))')
                THEN 'ordinal'
            ELSE 'string'
        END
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

REVOKE ALL ON FUNCTION pliers._field_expression_type(jsonb, text, jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._index_expression_types(jsonb, jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._field_expressions(jsonb, text, text) FROM public;

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

REVOKE ALL ON FUNCTION pliers._expression_vars(jsonb, jsonb, text) FROM public;

CREATE FUNCTION pliers._check_form_expressions(
    p_index jsonb, OUT errors jsonb[], OUT dep_from text[], OUT dep_to text[]
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_max_refs constant integer := (pliers.form_limits() ->> 'conditions')::integer;
    v_calc_types jsonb := '{}';
    v_vars jsonb := '{}';           -- repeat scope -> its variables, built when first needed
    v_top jsonb;
    v_by_repeat jsonb;
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
END
$$;

COMMENT ON FUNCTION pliers._check_form_expressions(jsonb) IS
'Private: checks every expression of a definition (calculations, condition leaves, constraints, repeat counts, '
'choice filters, default expressions) in its scope, given validate_form_definition''s field index; returns the '
'errors and the dependencies of calculations and visibility (dep_from[i] reads dep_to[i]) for the cycle check. '
'Raises PL001 too_many_conditions past the conditions limit of references.';

REVOKE ALL ON FUNCTION pliers._check_form_expressions(jsonb) FROM public;

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
        -- A translated constraintMessage is for the renderer; the database's is English.
        v_errors := v_errors || pliers._form_error(
            p_path, 'constraint_failed', CASE
                WHEN jsonb_typeof(p_field #> '{validation,constraintMessage}') = 'string'
                    THEN p_field #>> '{validation,constraintMessage}'
                ELSE 'does not satisfy the constraint of the field'
            END
        );
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

REVOKE ALL ON FUNCTION pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text, jsonb) FROM public;

-- sql/43-compiled-validators.sql

CREATE OR REPLACE FUNCTION pliers._draft_errors(p_errors jsonb[])
RETURNS jsonb[]
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_kept jsonb[] := '{}';
    v_error jsonb;
BEGIN
    FOREACH v_error IN ARRAY p_errors LOOP
        IF v_error ->> 'code' NOT IN ('consent_required', 'too_few_items', 'other_text_required', 'wrong_item_count') THEN
            v_kept := v_kept || v_error;
        END IF;
    END LOOP;
    RETURN v_kept;
END
$$;

COMMENT ON FUNCTION pliers._draft_errors(jsonb[]) IS
'Private: the errors of a final check of one answer (pliers._check_answer, p_final TRUE) that a draft check also '
'reports: all but consent_required, too_few_items, other_text_required and wrong_item_count, in order.';

CREATE OR REPLACE FUNCTION pliers._compile_instance(
    p_fields jsonb, p_id text, p_scope text, INOUT p_next integer, OUT code text
)
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_root constant boolean := p_id = '0';
    v_raw constant text := 'r_' || p_id;
    v_clean constant text := 'c_' || p_id;
    v_context constant text := CASE WHEN v_root THEN '''{}''::jsonb' ELSE 'x_' || p_id END;
    v_eval_root constant text := CASE WHEN v_root THEN v_clean ELSE 'v_root' END;
    v_first constant integer := p_next;
    f_field jsonb[] := '{}';
    f_kind text[] := '{}';
    f_name text[] := '{}';
    f_parent integer[] := '{}';
    f_keys text[] := '{}';
    f_suffix text[] := '{}';
    f_cond jsonb[] := '{}';
    f_known jsonb[] := '{}';         -- groups: the keys their object may hold
    v_known text[] := '{}';          -- the instance's
    fr_fields jsonb[] := ARRAY[p_fields];
    fr_next integer[] := ARRAY[0];
    fr_slot integer[] := ARRAY[0];
    v_depth integer := 1;
    v_n integer := 0;
    v_field jsonb;
    v_parent integer;
    v_conditions boolean := FALSE;
    v_declare text := '';
    v_drop text;
    v_build text := '';
    v_visibility text := '';
    v_checks text := '';
    v_open integer[] := ARRAY[0];
    v_top integer;
    v_k integer;
    v_of_parent text;
    v_members text;
    v_path text;
    v_required text;
    v_rules jsonb;
    v_scope text;
    v_nested record;
    v_bad_parent text;
    v_call text;
    v_items text;
BEGIN
    -- 1. The fields, groups flattened depth-first (a group before its fields), and the
    -- keys each object may hold, "" first as in _process_instance's comma lists.
    WHILE v_depth > 0 LOOP
        IF fr_next[v_depth] < pg_catalog.jsonb_array_length(fr_fields[v_depth]) THEN
            v_field := fr_fields[v_depth] -> fr_next[v_depth];
            fr_next[v_depth] := fr_next[v_depth] + 1;
            v_n := v_n + 1;
            v_parent := fr_slot[v_depth];
            f_field[v_n] := v_field;
            f_kind[v_n] := v_field ->> 'type';
            f_name[v_n] := v_field ->> 'name';
            f_parent[v_n] := v_parent;
            f_keys[v_n] := CASE WHEN v_parent = 0 THEN '' ELSE f_keys[v_parent] || ',' END || f_name[v_n];
            f_suffix[v_n] := CASE WHEN v_parent = 0 THEN '' ELSE f_suffix[v_parent] END || '.' || f_name[v_n];
            f_cond[v_n] := CASE
                WHEN v_field ? 'visibleWhen' THEN v_field -> 'visibleWhen'
                WHEN pg_catalog.jsonb_typeof(v_field #> '{conditional,when}') IS DISTINCT FROM 'array'
                    OR pg_catalog.jsonb_array_length(v_field #> '{conditional,when}') = 0 THEN NULL
                WHEN v_field #> '{conditional,show}' = 'false'::jsonb THEN pg_catalog.jsonb_build_object(
                    'not', pg_catalog.jsonb_build_object('all', v_field #> '{conditional,when}'))
                ELSE pg_catalog.jsonb_build_object('all', v_field #> '{conditional,when}')
            END;
            v_conditions := v_conditions OR f_cond[v_n] IS NOT NULL;
            IF v_parent = 0 THEN
                v_known := CASE WHEN v_known = '{}' THEN ARRAY[''] ELSE v_known END || f_name[v_n];
                IF v_field -> 'allowOther' = 'true'::jsonb THEN
                    v_known := v_known || (f_name[v_n] || '_other');
                END IF;
            ELSE
                f_known[v_parent] := f_known[v_parent] || pg_catalog.to_jsonb(f_name[v_n]);
                IF v_field -> 'allowOther' = 'true'::jsonb THEN
                    f_known[v_parent] := f_known[v_parent] || pg_catalog.to_jsonb(f_name[v_n] || '_other');
                END IF;
            END IF;
            IF f_kind[v_n] = 'group' THEN
                f_known[v_n] := '[""]';
                v_depth := v_depth + 1;
                fr_fields[v_depth] := v_field -> 'fields';
                fr_next[v_depth] := 0;
                fr_slot[v_depth] := v_n;
            END IF;
        ELSE
            v_depth := v_depth - 1;
        END IF;
    END LOOP;
    p_next := p_next + v_n;

    v_declare := pg_catalog.format('y_%1$s jsonb; m_%1$s text[];', p_id) || E'\n';
    v_drop := pg_catalog.format('%s - %L::text[] <> ''{}''::jsonb', v_raw, v_known);
    FOR v_i IN 1 .. v_n LOOP
        v_k := v_first + v_i;
        v_of_parent := CASE WHEN f_parent[v_i] = 0 THEN v_raw ELSE 'a' || (v_first + f_parent[v_i]) END;
        v_members := CASE WHEN f_parent[v_i] = 0 THEN 'm_' || p_id ELSE 'm' || (v_first + f_parent[v_i]) END;
        v_path := CASE WHEN v_root THEN pg_catalog.quote_literal('$.data' || f_suffix[v_i])
            ELSE pg_catalog.format('(p_%s || %L)', p_id, f_suffix[v_i]) END;
        v_declare := v_declare || pg_catalog.format(
            'a%1$s jsonb := %2$s -> %3$L; s%1$s boolean := TRUE;', v_k, v_of_parent, f_name[v_i]
        ) || CASE f_kind[v_i]
            WHEN 'group' THEN pg_catalog.format(' b%1$s boolean := FALSE; m%1$s text[];', v_k)
            WHEN 'repeat' THEN pg_catalog.format(
                ' r_%1$s jsonb; c_%1$s jsonb; p_%1$s text; x_%1$s jsonb; i%1$s jsonb[]; h%1$s boolean;', v_k)
            ELSE ''
        END || E'\n';

        -- 2a. Anything to drop (the CASE of _process_instance, one per field).
        v_drop := v_drop || E'\n        OR CASE'
            || CASE WHEN f_field[v_i] -> 'allowOther' = 'true'::jsonb THEN pg_catalog.format(
                ' WHEN %1$s ? %3$L AND NOT coalesce(s%2$s AND (a%2$s = ''"other"''::jsonb'
                ' OR (pg_catalog.jsonb_typeof(a%2$s) = ''array'' AND a%2$s ? ''other''))'
                ' AND %1$s -> %3$L <> ''null''::jsonb, FALSE) THEN TRUE',
                v_of_parent, v_k, f_name[v_i] || '_other') ELSE '' END
            || pg_catalog.format(' WHEN a%s IS NULL THEN FALSE', v_k)
            || CASE WHEN f_kind[v_i] IN ('display', 'calculated') THEN ' ELSE TRUE END'
                ELSE pg_catalog.format(' WHEN NOT s%1$s OR a%1$s = ''null''::jsonb THEN TRUE', v_k)
                    || CASE WHEN f_kind[v_i] = 'group' THEN pg_catalog.format(
                        ' WHEN pg_catalog.jsonb_typeof(a%1$s) = ''object'' THEN a%1$s - %2$L::text[] <> ''{}''::jsonb',
                        v_k, ARRAY(SELECT pg_catalog.jsonb_array_elements_text(f_known[v_i]))) ELSE '' END
                    || ' ELSE FALSE END'
            END;

        -- 2b. The cleaned object as JSON text, member by member in document order (a
        -- group's members in m<k>, closed when its last field is passed).
        WHILE v_open[pg_catalog.cardinality(v_open)] <> f_parent[v_i] LOOP
            v_top := v_open[pg_catalog.cardinality(v_open)];
            v_open := v_open[1:pg_catalog.cardinality(v_open) - 1];
            v_build := v_build || pg_catalog.format(
                '%1$s := %1$s || (%2$L || pg_catalog.array_to_string(m%3$s, '','') || ''}''); END IF; END IF;',
                CASE WHEN f_parent[v_top] = 0 THEN 'm_' || p_id ELSE 'm' || (v_first + f_parent[v_top]) END,
                '"' || f_name[v_top] || '":{', v_first + v_top) || E'\n';
        END LOOP;
        IF f_kind[v_i] NOT IN ('display', 'calculated') THEN
            v_build := v_build || pg_catalog.format(
                'IF s%1$s AND a%1$s IS NOT NULL AND a%1$s <> ''null''::jsonb THEN ', v_k);
            IF f_kind[v_i] = 'group' THEN
                v_build := v_build || pg_catalog.format(
                    'IF pg_catalog.jsonb_typeof(a%1$s) <> ''object'' THEN %2$s := %2$s || (%3$L || a%1$s::text); '
                    'ELSE m%1$s := ''{}'';', v_k, v_members, '"' || f_name[v_i] || '":') || E'\n';
                v_open := v_open || v_i;
            ELSE
                v_build := v_build || pg_catalog.format(
                    '%1$s := %1$s || (%2$L || a%3$s::text);', v_members, '"' || f_name[v_i] || '":', v_k);
                IF f_field[v_i] -> 'allowOther' = 'true'::jsonb THEN
                    v_build := v_build || pg_catalog.format(
                        ' IF a%1$s = ''"other"''::jsonb OR (pg_catalog.jsonb_typeof(a%1$s) = ''array'' AND a%1$s ? ''other'') THEN'
                        ' v_other := %2$s -> %3$L; IF v_other IS NOT NULL AND v_other <> ''null''::jsonb THEN'
                        ' %4$s := %4$s || (%5$L || v_other::text); END IF; END IF;',
                        v_k, v_of_parent, f_name[v_i] || '_other', v_members, '"' || f_name[v_i] || '_other":');
                END IF;
                v_build := v_build || E' END IF;\n';
            END IF;
        END IF;

        -- 2c. Visibility: the group's, and the condition on the cleaned answers.
        IF f_cond[v_i] IS NOT NULL OR f_parent[v_i] <> 0 THEN
            v_visibility := v_visibility || pg_catalog.format(
                'v_visible := %s AND %s; IF v_visible <> s%s THEN s%3$s := v_visible; v_changed := TRUE; END IF;',
                CASE WHEN f_parent[v_i] = 0 THEN 'TRUE' ELSE 's' || (v_first + f_parent[v_i]) END,
                CASE WHEN f_cond[v_i] IS NULL THEN 'TRUE' ELSE pg_catalog.format(
                    'pliers._eval_condition(%L::jsonb, %s, %s, %L, %s)',
                    f_cond[v_i], v_eval_root, v_context, p_scope, v_clean) END,
                v_k) || E'\n';
        END IF;

        -- 3. The checks of a visible answer, in document order.
        CONTINUE WHEN f_kind[v_i] IN ('display', 'calculated');
        v_bad_parent := CASE WHEN f_parent[v_i] = 0 THEN NULL ELSE 'b' || (v_first + f_parent[v_i]) END;
        v_checks := v_checks || pg_catalog.format('IF s%s THEN ', v_k)
            || CASE WHEN v_bad_parent IS NULL THEN '' ELSE pg_catalog.format('IF %s THEN %s ELSE ', v_bad_parent,
                CASE WHEN f_kind[v_i] = 'group' THEN pg_catalog.format('b%s := TRUE;', v_k) ELSE 'NULL;' END) END
            || E'\n';
        IF f_kind[v_i] = 'group' THEN
            v_checks := v_checks || pg_catalog.format(
                'IF a%1$s IS NULL OR a%1$s = ''null''::jsonb THEN NULL; '
                'ELSIF pg_catalog.jsonb_typeof(a%1$s) <> ''object'' THEN b%1$s := TRUE; ', v_k)
                || pliers._compile_error(v_path, 'invalid_type', '''must be an object''')
                || pg_catalog.format(
                'ELSIF a%1$s - %2$L::text[] <> ''{}''::jsonb THEN '
                'v_errors := v_errors || pliers._unknown_field_errors(a%1$s, %2$L::text[], %3$s, ''group''); END IF;',
                v_k, ARRAY(SELECT pg_catalog.jsonb_array_elements_text(f_known[v_i])), v_path) || E'\n';
        ELSE
            v_rules := coalesce(f_field[v_i] -> 'validation', '{}');
            -- The number of items of a repeat or a multiple choice (minItems: final only).
            v_items := CASE WHEN v_rules ? 'minItems' THEN pliers._compile_check(
                    pg_catalog.format('pg_catalog.jsonb_array_length(a%s) < %L::numeric', v_k, v_rules ->> 'minItems'),
                    v_path, 'too_few_items', pg_catalog.format('must have at least %s items', v_rules ->> 'minItems'), TRUE
                ) ELSE '' END
                || CASE WHEN v_rules ? 'maxItems' THEN pliers._compile_check(
                    pg_catalog.format('pg_catalog.jsonb_array_length(a%s) > %L::numeric', v_k, v_rules ->> 'maxItems'),
                    v_path, 'too_many_items', pg_catalog.format('must have at most %s items', v_rules ->> 'maxItems')
                ) ELSE '' END;
            v_required := CASE
                WHEN f_field[v_i] -> 'required' = 'true'::jsonb THEN 'TRUE'
                WHEN f_field[v_i] ? 'requiredWhen' THEN pg_catalog.format(
                    'pliers._eval_condition(%L::jsonb, v_root, %s, %L, %s)',
                    f_field[v_i] -> 'requiredWhen', v_context, p_scope, v_clean)
            END;
            v_checks := v_checks || pg_catalog.format('IF pliers._is_blank(a%s) THEN ', v_k)
                || CASE WHEN v_required IS NULL THEN 'NULL;' ELSE pg_catalog.format('IF %s THEN ', v_required)
                    || pliers._compile_error(v_path, 'required', '''is required''', TRUE) || 'END IF;' END
                || E'\nELSE ';
            IF f_kind[v_i] = 'repeat' THEN
                v_checks := v_checks || pg_catalog.format('IF pg_catalog.jsonb_typeof(a%s) <> ''array'' THEN ', v_k)
                    || pliers._compile_error(v_path, 'invalid_type', '''must be an array of objects''') || 'ELSE '
                    || v_items || 'END IF;';
            ELSIF NOT f_field[v_i] ?| ARRAY['validation', 'readOnly'] AND f_kind[v_i] = 'hidden' THEN
                v_checks := v_checks || 'NULL;';
            ELSE
                -- pliers._check_answer, final (one call whatever p_final; a draft keeps
                -- the errors a draft check reports), for what is not inlined below: the
                -- rarer kinds, and any answer of the wrong type or out of the ordinary.
                v_call := pg_catalog.format(
                    'v_list := pliers._check_answer(%L::jsonb, %L, a%s, %s, TRUE, %s, %s, p_attachments); '
                    'IF v_list <> ''{}'' THEN v_final := v_final || v_list; '
                    'v_errors := v_errors || CASE WHEN p_final THEN v_list ELSE pliers._draft_errors(v_list) END; END IF;',
                    f_field[v_i], f_kind[v_i], v_k, v_path,
                    CASE WHEN f_kind[v_i] = 'consent' THEN coalesce(v_required, 'FALSE') ELSE 'FALSE' END,
                    CASE WHEN f_field[v_i] -> 'allowOther' = 'true'::jsonb
                        THEN pg_catalog.format('%s -> %L', v_of_parent, f_name[v_i] || '_other') ELSE 'NULL' END);
                v_checks := v_checks || CASE
                    WHEN f_kind[v_i] = 'password' OR (
                        f_kind[v_i] IN ('text', 'textarea') AND f_field[v_i] ?| ARRAY['validation', 'readOnly']
                    ) THEN
                        -- Long answers go to _check_answer, which checks the answer_chars limit.
                        pg_catalog.format(
                            'IF pg_catalog.jsonb_typeof(a%1$s) <> ''string'' OR pg_catalog.char_length(a%1$s #>> ''{}'') > 1000 THEN ', v_k)
                        || v_call || ' ELSE '
                        || CASE WHEN v_rules ? 'minLength' THEN pliers._compile_check(
                            pg_catalog.format('pg_catalog.char_length(a%s #>> ''{}'') < %L::numeric', v_k, v_rules ->> 'minLength'),
                            v_path, 'too_short', pg_catalog.format('must be at least %s characters long', v_rules ->> 'minLength')
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'maxLength' THEN pliers._compile_check(
                            pg_catalog.format('pg_catalog.char_length(a%s #>> ''{}'') > %L::numeric', v_k, v_rules ->> 'maxLength'),
                            v_path, 'too_long', pg_catalog.format('must be at most %s characters long', v_rules ->> 'maxLength')
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'pattern' THEN pliers._compile_check(
                            pg_catalog.format('(a%s #>> ''{}'') !~ %L', v_k, v_rules ->> 'pattern'),
                            v_path, 'pattern_mismatch', pg_catalog.format('must match the pattern %s', v_rules ->> 'pattern')
                        ) ELSE '' END
                        || 'END IF;'
                    WHEN f_kind[v_i] IN ('number', 'integer', 'currency', 'rating') THEN
                        pg_catalog.format('IF pg_catalog.jsonb_typeof(a%s) <> ''number''', v_k)
                        || CASE WHEN f_kind[v_i] IN ('integer', 'rating') THEN pg_catalog.format(
                            ' OR a%1$s::numeric <> pg_catalog.trunc(a%1$s::numeric)', v_k) ELSE '' END
                        || ' THEN ' || v_call || ' ELSE '
                        || CASE WHEN f_kind[v_i] IN ('number', 'currency') AND coalesce((v_rules ->> 'decimals')::integer,
                                CASE WHEN f_kind[v_i] = 'currency' THEN 2 END) IS NOT NULL THEN pliers._compile_check(
                            pg_catalog.format('pg_catalog.scale(pg_catalog.trim_scale(a%s::numeric)) > %s', v_k,
                                coalesce((v_rules ->> 'decimals')::integer, 2)),
                            v_path, 'too_many_decimals', pg_catalog.format(
                                'must have at most %s decimal places', coalesce((v_rules ->> 'decimals')::integer, 2))
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'min' OR f_kind[v_i] = 'rating' THEN pliers._compile_check(
                            pg_catalog.format('a%s::numeric < (%L::jsonb)::numeric', v_k, coalesce(v_rules -> 'min', '1')),
                            v_path, 'below_minimum', pg_catalog.format('must be at least %s', coalesce(v_rules -> 'min', '1'))
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'max' OR f_kind[v_i] = 'rating' THEN pliers._compile_check(
                            pg_catalog.format('a%s::numeric > (%L::jsonb)::numeric', v_k, coalesce(v_rules -> 'max', '5')),
                            v_path, 'above_maximum', pg_catalog.format('must be at most %s', coalesce(v_rules -> 'max', '5'))
                        ) ELSE '' END
                        || 'END IF;'
                    WHEN f_kind[v_i] = 'date' THEN
                        pg_catalog.format(
                            'IF pg_catalog.jsonb_typeof(a%1$s) <> ''string'' OR NOT pliers._is_date(a%1$s #>> ''{}'') THEN ', v_k)
                        || v_call || ' ELSE '
                        || CASE WHEN v_rules ? 'min' THEN pliers._compile_check(
                            pg_catalog.format('(a%s #>> ''{}'') COLLATE "C" < %L COLLATE "C"', v_k, v_rules ->> 'min'),
                            v_path, 'below_minimum', pg_catalog.format('must be %s or later', v_rules ->> 'min')
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'max' THEN pliers._compile_check(
                            pg_catalog.format('(a%s #>> ''{}'') COLLATE "C" > %L COLLATE "C"', v_k, v_rules ->> 'max'),
                            v_path, 'above_maximum', pg_catalog.format('must be %s or earlier', v_rules ->> 'max')
                        ) ELSE '' END
                        || 'END IF;'
                    WHEN f_kind[v_i] = 'multiple_choice' AND f_field[v_i] -> 'allowOther' IS DISTINCT FROM 'true'::jsonb THEN
                        -- Codes of the choices, each once (a short answer): only the
                        -- number of items is left to check.
                        pg_catalog.format(
                            'IF pg_catalog.jsonb_typeof(a%1$s) <> ''array'' OR pg_catalog.jsonb_array_length(a%1$s) > 10'
                            ' OR NOT a%1$s <@ %2$L::jsonb OR NOT pliers._distinct_items(a%1$s) THEN ', v_k,
                            pg_catalog.jsonb_path_query_array(f_field[v_i], '$.choices[*].code'))
                        || v_call || ' ELSE ' || v_items || 'END IF;'
                    WHEN f_kind[v_i] IN ('text', 'textarea', 'boolean') OR (
                        f_kind[v_i] = 'single_choice' AND f_field[v_i] -> 'allowOther' IS DISTINCT FROM 'true'::jsonb
                    ) THEN
                        -- Nothing more to check on an answer of the right type (a choice:
                        -- one of the codes; text without rules: not even its length).
                        pg_catalog.format('IF pg_catalog.jsonb_typeof(a%s) <> %L', v_k,
                            CASE f_kind[v_i] WHEN 'boolean' THEN 'boolean' ELSE 'string' END)
                        || CASE WHEN f_kind[v_i] = 'single_choice' THEN pg_catalog.format(
                            ' OR NOT a%s = ANY (%L::jsonb[])', v_k,
                            ARRAY(SELECT c.choice -> 'code' FROM pg_catalog.jsonb_array_elements(f_field[v_i] -> 'choices') AS c (choice)))
                            ELSE '' END
                        || ' THEN ' || v_call || ' END IF;'
                    ELSE v_call
                END
                    || CASE WHEN f_field[v_i] -> 'readOnly' = 'true'::jsonb AND f_field[v_i] ? 'default' THEN
                        pg_catalog.format(' IF a%s <> %L::jsonb THEN ', v_k, f_field[v_i] -> 'default')
                        || pliers._compile_error(v_path, 'read_only', pg_catalog.quote_literal(pg_catalog.format(
                            'is read-only: must be its default %s', f_field[v_i] -> 'default')))
                        || 'END IF;' ELSE '' END;
            END IF;
            v_checks := v_checks || E'\nEND IF;\n';
            -- The rules stated as expressions, as _process_instance checks them.
            IF f_field[v_i] ?| ARRAY['repeatCount', 'choiceFilter'] OR v_rules ? 'constraint' THEN
                v_checks := v_checks || pg_catalog.format(
                    'v_list := pliers._check_expression_rules(%L::jsonb, a%s, %s, TRUE, v_root, %s, %L, %s); '
                    'IF v_list <> ''{}'' THEN v_final := v_final || v_list; '
                    'v_errors := v_errors || CASE WHEN p_final THEN v_list ELSE pliers._draft_errors(v_list) END; END IF;',
                    f_field[v_i], v_k, v_path, v_context, p_scope, v_clean) || E'\n';
            END IF;
            IF f_kind[v_i] = 'repeat' THEN
                -- Each item an instance of its own, seeing the answers around it.
                v_scope := CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || pg_catalog.replace(f_keys[v_i], ',', '.');
                SELECT * INTO v_nested FROM pliers._compile_instance(f_field[v_i] -> 'fields', v_k::text, v_scope, p_next);
                p_next := v_nested.p_next;
                v_checks := v_checks || pg_catalog.format(
                    'IF pg_catalog.jsonb_typeof(a%1$s) = ''array'' THEN i%1$s := ''{}''; h%1$s := FALSE; '
                    'IF y_%2$s IS NULL THEN y_%2$s := %3$s; END IF;' || E'\n'
                    'FOR j%1$s IN 0 .. pg_catalog.jsonb_array_length(a%1$s) - 1 LOOP r_%1$s := a%1$s -> j%1$s; '
                    'IF pg_catalog.jsonb_typeof(r_%1$s) = ''object'' THEN p_%1$s := %4$s || ''['' || j%1$s || '']''; '
                    'x_%1$s := y_%2$s;' || E'\n',
                    v_k, p_id,
                    CASE WHEN v_root THEN '''{}''::jsonb'
                        ELSE pg_catalog.format('x_%s || pg_catalog.jsonb_build_object(%L, %s)', p_id, p_scope, v_clean) END,
                    v_path)
                    || v_nested.code
                    || pg_catalog.format(
                        'i%1$s[j%1$s + 1] := c_%1$s; h%1$s := h%1$s OR c_%1$s <> r_%1$s; ELSE i%1$s[j%1$s + 1] := r_%1$s; ',
                        v_k)
                    || pliers._compile_error(pg_catalog.format('%s || ''['' || j%s || '']''', v_path, v_k),
                        'invalid_type', '''must be an object''')
                    || pg_catalog.format(
                        'END IF; END LOOP; IF h%s THEN %s := pg_catalog.jsonb_set(%2$s, %L::text[], pg_catalog.to_jsonb(i%1$s)); END IF; END IF;',
                        v_k, v_clean, pg_catalog.string_to_array(f_keys[v_i], ',')) || E'\n';
            END IF;
        END IF;
        v_checks := v_checks || CASE WHEN v_bad_parent IS NULL THEN '' ELSE 'END IF; ' END || E'END IF;\n';
    END LOOP;
    WHILE pg_catalog.cardinality(v_open) > 1 LOOP
        v_top := v_open[pg_catalog.cardinality(v_open)];
        v_open := v_open[1:pg_catalog.cardinality(v_open) - 1];
        v_build := v_build || pg_catalog.format(
            '%1$s := %1$s || (%2$L || pg_catalog.array_to_string(m%3$s, '','') || ''}''); END IF; END IF;',
            CASE WHEN f_parent[v_top] = 0 THEN 'm_' || p_id ELSE 'm' || (v_first + f_parent[v_top]) END,
            '"' || f_name[v_top] || '":{', v_first + v_top) || E'\n';
    END LOOP;

    code := E'DECLARE\n' || v_declare || E'BEGIN\n'
        || CASE WHEN v_conditions THEN E'v_rounds := 0;\nLOOP\n' ELSE '' END
        -- In parentheses: PL/pgSQL would end the condition at the THEN of a CASE.
        || 'IF (' || v_drop || pg_catalog.format(E')\nTHEN m_%s := ''{}'';\n', p_id) || v_build
        || pg_catalog.format(E'%1$s := (''{'' || pg_catalog.array_to_string(m_%2$s, '','') || ''}'')::jsonb;\nELSE %1$s := %3$s;\nEND IF;\n',
            v_clean, p_id, v_raw)
        || CASE WHEN v_conditions THEN pg_catalog.format(
            E'v_rounds := v_rounds + 1;\nEXIT WHEN v_rounds > %s;\nv_changed := FALSE;\n', v_n + 1)
            || v_visibility || E'EXIT WHEN NOT v_changed;\nEND LOOP;\n' ELSE '' END
        || CASE WHEN v_root THEN E'v_root := c_0;\n' ELSE '' END
        || pg_catalog.format(
            E'IF %1$s - %2$L::text[] <> ''{}''::jsonb THEN v_errors := v_errors || pliers._unknown_field_errors(%1$s, %2$L::text[], %3$s, ''form''); END IF;\n',
            v_raw, v_known, CASE WHEN v_root THEN '''$.data''' ELSE 'p_' || p_id END)
        || v_checks
        || E'END;\n';
END
$$;

CREATE OR REPLACE FUNCTION pliers._compile_validator(p_form pliers.forms)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_name constant text := pliers._validator_name(p_form.id);
    v_instance record;
BEGIN
    IF p_form.status = 'draft' THEN
        RETURN FALSE;
    END IF;
    -- Only a valid definition within the limits: on any other the interpreter's result
    -- is what it is, and it stays the validator.
    BEGIN
        IF NOT pliers._check_document_limits(p_form.definition, '$', NULL, FALSE)
            OR pliers.validate_form_definition(p_form.definition) <> '[]' THEN
            RETURN FALSE;
        END IF;
    EXCEPTION WHEN SQLSTATE 'PL001' THEN
        RETURN FALSE;
    END;
    -- Nor a large form: its code grows with it (about 1 kB a field), each session compiles
    -- it on first use (1.5 s at 1,000 fields), and past 100 to 200 fields it runs no
    -- faster than the interpreter (one PL/pgSQL statement costs more in a larger function).
    IF pg_catalog.jsonb_array_length(pg_catalog.jsonb_path_query_array(
        p_form.definition, 'strict $.**.fields[*] ? (@.type() == "object")'
    )) > 100 THEN
        RETURN FALSE;
    END IF;
    -- Nor, yet, a form with calculations: the interpreter evaluates them.
    IF pg_catalog.jsonb_path_exists(
        p_form.definition, 'strict $.**.fields[*] ? (@.type == "calculated" && @.expression.type() != "string")'
    ) THEN
        RETURN FALSE;
    END IF;
    v_instance := pliers._compile_instance(p_form.definition -> 'fields', '0', '', 1);
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION pliers_validators.%I(p_data jsonb, p_final boolean, p_attachments jsonb, '
        'OUT cleaned jsonb, OUT errors jsonb, OUT final_errors jsonb) '
        'LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = '''' AS %L',
        v_name,
        E'DECLARE\n'
        'v_errors jsonb[] := ''{}''; v_final jsonb[] := ''{}''; v_e jsonb; v_list jsonb[]; v_root jsonb; v_other jsonb;\n'
        'v_rounds integer; v_changed boolean; v_visible boolean; r_0 jsonb := p_data; c_0 jsonb;\n'
        'BEGIN\n'
        -- The limits of the answers (the definition's were checked above).
        'PERFORM pliers._check_document_limits(p_data, ''$.data'', ''data_bytes'', TRUE);\n'
        'IF pg_catalog.jsonb_typeof(p_data) IS DISTINCT FROM ''object'' THEN\n'
        'cleaned := p_data;\n'
        'errors := pg_catalog.jsonb_build_array('
        'pliers._form_error(''$.data'', ''invalid_type'', ''submission data must be a JSON object''));\n'
        'final_errors := errors;\nRETURN;\nEND IF;\n'
        || v_instance.code
        || E'cleaned := c_0;\nerrors := pg_catalog.to_jsonb(v_errors);\n'
        'final_errors := pg_catalog.to_jsonb(v_final);\nEND'
    );
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION pliers_validators.%I(jsonb, boolean, jsonb) FROM PUBLIC', v_name);
    EXECUTE pg_catalog.format(
        'COMMENT ON FUNCTION pliers_validators.%I(jsonb, boolean, jsonb) IS %L', v_name,
        pg_catalog.format('Compiled validator of form %s version %s (%s): pliers._check_answers calls it.',
            p_form.id, p_form.version, p_form.slug)
    );
    RETURN TRUE;
END
$$;

RESET ROLE;
