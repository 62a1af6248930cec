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
    WHERE jsonb_typeof(e) = 'number' AND abs(e::numeric) < 1e308  -- as the operands of + (no overflow)
$$;

COMMENT ON FUNCTION pliers._expr_list_agg(jsonb, text) IS
'sum (0 for none), min or max (NULL for none) of the numbers of a JSON array of magnitude below 1e308; other '
'items are skipped.';

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

-- The time rule, one copy: the answers' (sql/42) and the expressions'. Defined here,
-- before both; SQL functions, inlined where they are called.
CREATE FUNCTION pliers._is_time(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(p_value ~ '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$', FALSE)
$$;

COMMENT ON FUNCTION pliers._is_time(text) IS
'TRUE for a time of day HH:MM, HH:MM:SS or HH:MM:SS.ffffff (24-hour clock, no offset).';

CREATE FUNCTION pliers._expr_time(p_value text)
RETURNS time
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN pliers._is_time(p_value) THEN p_value::time END
$$;

COMMENT ON FUNCTION pliers._expr_time(text) IS
'A time of day HH:MM[:SS[.ffffff]] (pliers._is_time) as time; NULL for anything else.';

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

-- The order of two values with no knowledge of their fields: as pliers._compare_values
-- (numbers, date-times as instants, times, other strings by code point), and a numeric
-- string (an ordinal choice code) with a number numerically, booleans false < true.
CREATE FUNCTION pliers._expr_cmp(p_left jsonb, p_right jsonb)
RETURNS integer
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    CASE jsonb_typeof(p_left) || ' ' || jsonb_typeof(p_right)
        WHEN 'string number' THEN
            RETURN -pliers._expr_cmp(p_right, p_left);
        WHEN 'number string' THEN
            -- Compared, not subtracted: a difference of two huge numbers could overflow.
            RETURN (p_left::numeric > pliers._expr_ordnum(p_right #>> '{}'))::integer
                - (p_left::numeric < pliers._expr_ordnum(p_right #>> '{}'))::integer;
        WHEN 'boolean boolean' THEN
            RETURN (p_left::boolean > p_right::boolean)::integer - (p_left::boolean < p_right::boolean)::integer;
        ELSE
            RETURN pliers._compare_values(p_left, p_right);
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
            v_path := 'lax $';
            FOREACH v_prefix IN ARRAY v_rest[v_i:] LOOP
                v_path := v_path || '.' || to_jsonb(v_prefix)::text;
            END LOOP;
            RETURN (
                SELECT coalesce(jsonb_agg(e ORDER BY n), '[]')
                FROM jsonb_array_elements(jsonb_path_query_array(v_value, v_path::jsonpath))
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
    v_nums numeric[] := '{}';
    v_num numeric;
    v_cmp integer;
BEGIN
    IF jsonb_typeof(p_expr) IS DISTINCT FROM 'object' THEN
        RETURN nullif(p_expr, 'null'::jsonb);  -- a literal (arrays are only read by in)
    END IF;
    -- References first, the commonest node: an answer at the root without a call.
    v_text := CASE WHEN jsonb_typeof(p_expr -> 'var') = 'string' THEN p_expr ->> 'var' END;
    IF strpos(v_text, '.') = 0 THEN
        RETURN nullif(p_root -> v_text, 'null'::jsonb);
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
            -- _expr_eq and _expr_cmp, with two numbers compared without a call.
            IF v_a IS NULL OR v_b IS NULL THEN
                RETURN to_jsonb(CASE v_op
                    WHEN '==' THEN v_a IS NULL AND v_b IS NULL
                    WHEN '!=' THEN v_a IS NOT NULL OR v_b IS NOT NULL
                    ELSE FALSE
                END);
            END IF;
            v_cmp := CASE WHEN jsonb_typeof(v_a) = 'number' AND jsonb_typeof(v_b) = 'number'
                THEN (v_a > v_b)::integer - (v_a < v_b)::integer ELSE pliers._expr_cmp(v_a, v_b) END;
            RETURN to_jsonb(CASE v_op
                WHEN '==' THEN coalesce(v_cmp = 0, v_a = v_b)
                WHEN '!=' THEN NOT coalesce(v_cmp = 0, v_a = v_b)
                WHEN '<' THEN coalesce(v_cmp < 0, FALSE)
                WHEN '<=' THEN coalesce(v_cmp <= 0, FALSE)
                WHEN '>' THEN coalesce(v_cmp > 0, FALSE)
                ELSE coalesce(v_cmp >= 0, FALSE)
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
            -- A loop, not a query: no SPI call per node.
            FOR v_i IN 0 .. v_n - 1 LOOP
                v_nums[v_i + 1] := pliers._expr_num(pliers._expr_eval(v_args -> v_i, p_root, p_context, p_scope, p_item, p_choice));
            END LOOP;
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
            v_text := '';
            FOR v_i IN 0 .. v_n - 1 LOOP
                v_text := v_text || coalesce(pliers._expr_eval(v_args -> v_i, p_root, p_context, p_scope, p_item, p_choice) #>> '{}', '');
            END LOOP;
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
pliers._is_time(text),
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
