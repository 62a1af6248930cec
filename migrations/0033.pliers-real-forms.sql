-- Real forms (issue 17): the expression language (sql/41-expressions.sql: checked when a
-- definition is saved, evaluated by the interpreter, compiled into the validators of
-- published versions), answer keys as written, translations, geotrace / geoshape / ranking
-- kinds, required groups, phone formats, ordinal choice conditions, calculations stored
-- with the answers and exported, constraints, repeat counts, choice filters, and the
-- tenant's shared choice lists and data sets (sql/44-choice-lists.sql).
-- Published versions are compiled again with the new code generator.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
-- Objects belong to pliers_owner, not to whoever runs the migration.
SET LOCAL ROLE pliers_owner;


-- sql/41-expressions.sql

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

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_field(jsonb, text);

CREATE OR REPLACE FUNCTION pliers._json_path_key(p_key text)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_key ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN p_key ELSE to_json(p_key)::text END
$$;

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

REVOKE ALL ON FUNCTION pliers._valid_field_name(text) FROM public;

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

REVOKE ALL ON FUNCTION pliers._other_path(text) FROM public;

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

REVOKE ALL ON FUNCTION pliers._check_translatable(jsonb, text, jsonb, text) FROM public;

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

REVOKE ALL ON FUNCTION pliers._geo_point_errors(jsonb, text) FROM public;

CREATE OR REPLACE FUNCTION pliers._compare_values(p_left jsonb, p_right jsonb)
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

CREATE OR REPLACE FUNCTION pliers._choice_allowed(p_field jsonb, p_code jsonb)
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

CREATE OR REPLACE FUNCTION pliers.form_limits()
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

REVOKE ALL ON FUNCTION pliers._is_data_url(jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._data_url_error(text) FROM public;

CREATE OR REPLACE FUNCTION pliers._check_answer(
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
                CONTINUE WHEN s_kind[v_i] <> 'repeat' OR NOT s_vis[v_i] OR jsonb_typeof(s_raw[v_i]) <> 'array';
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

CREATE OR REPLACE FUNCTION pliers._check_condition(
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

REVOKE ALL ON FUNCTION pliers._check_field(jsonb, text, jsonb, text) FROM public;

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

CREATE OR REPLACE FUNCTION pliers._kinds_compatible(p_old text, p_new text)
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

CREATE OR REPLACE FUNCTION pliers.form_breaking_changes(p_old jsonb, p_new jsonb)
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

REVOKE ALL ON FUNCTION pliers._ordinal_choices(jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._field_index(jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._check_form_expressions(jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._constraint_message(jsonb) FROM public;

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

REVOKE ALL ON FUNCTION pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text, jsonb) FROM public;

-- sql/43-compiled-validators.sql

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._compile_instance(jsonb, text, text, integer);

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
        IF v_error ->> 'code' NOT IN (
            'consent_required', 'too_few_items', 'other_text_required', 'incomplete_ranking', 'wrong_item_count'
        ) THEN
            v_kept := v_kept || v_error;
        END IF;
    END LOOP;
    RETURN v_kept;
END
$$;

COMMENT ON FUNCTION pliers._draft_errors(jsonb[]) IS
'Private: the errors of a final check of one answer (pliers._check_answer, p_final TRUE) that a draft check also '
'reports: all but consent_required, too_few_items, other_text_required, incomplete_ranking and wrong_item_count, '
'in order.';

CREATE FUNCTION pliers._compile_ref(
    p_path text, p_type text, p_scope text, p_repeats text[], p_root text, p_context text, p_item text
)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_parts constant text[] := pg_catalog.string_to_array(p_path, '.');
    v_prefix text;
BEGIN
    IF p_type IS NULL OR p_type NOT IN ('number', 'string', 'boolean', 'date', 'time', 'datetime', 'ordinal')
        OR p_path ~ '(^|\.)-?[0-9]+(\.|$)' THEN
        RETURN pg_catalog.format('pliers._resolve_ref(%L, %s, %s, %L, %s)', p_path, p_root, p_context, p_scope, p_item);
    END IF;
    FOR v_i IN REVERSE pg_catalog.cardinality(v_parts) - 1 .. 1 LOOP
        v_prefix := pg_catalog.array_to_string(v_parts[1:v_i], '.');
        IF v_prefix = p_scope THEN
            RETURN pg_catalog.format('(%s #> %L::text[])', p_item, v_parts[v_i + 1:]);
        ELSIF pg_catalog.starts_with(p_scope, v_prefix || '.') AND v_prefix = ANY (p_repeats) THEN
            RETURN pg_catalog.format('(%s #> %L::text[])', p_context, v_prefix || v_parts[v_i + 1:]);
        END IF;
    END LOOP;
    RETURN pg_catalog.format('(%s #> %L::text[])', p_root, v_parts);
END
$$;

COMMENT ON FUNCTION pliers._compile_ref(text, text, text, text[], text, text, text) IS
'Private (code generation): the SQL of the answer that the expression path p_path (of type p_type) names in a '
'compiled validator, equal to pliers._resolve_ref(p_path, p_root, p_context, p_scope, p_item) on it: inline for a '
'scalar through objects, that call otherwise.';

REVOKE ALL ON FUNCTION pliers._compile_ref(text, text, text, text[], text, text, text) FROM public;

CREATE FUNCTION pliers._compile_expression(
    p_expr jsonb, p_types jsonb, p_root text, p_context text, p_scope text, p_item text
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH vars AS (
        SELECT pliers._expression_vars(p_types -> 'top', p_types -> 'by_repeat', p_scope) AS types
    )
    SELECT pliers._expr_sql(p_expr, coalesce((
        SELECT jsonb_object_agg(r.path, pliers._compile_ref(
            r.path, vars.types ->> r.path, p_scope,
            ARRAY(SELECT jsonb_object_keys(coalesce(p_types -> 'by_repeat', '{}'))), p_root, p_context, p_item
        ))
        FROM (SELECT DISTINCT v #>> '{}' AS path
              FROM jsonb_path_query(p_expr, 'strict $.**.var ? (@.type() == "string")') AS v) AS r
    ), '{}'), vars.types)
    FROM vars
$$;

COMMENT ON FUNCTION pliers._compile_expression(jsonb, jsonb, text, text, text, text) IS
'Private (code generation): the SQL (jsonb-valued) of a checked expression in a compiled validator, its paths read '
'as pliers._resolve_ref reads them (pliers._compile_ref) from the SQL p_root, p_context, p_item of the instance '
'(scope p_scope), typed by p_types ({top, by_repeat} of pliers._check_form_expressions).';

REVOKE ALL ON FUNCTION pliers._compile_expression(jsonb, jsonb, text, text, text, text) FROM public;

CREATE FUNCTION pliers._compile_instance(
    p_fields jsonb, p_id text, p_scope text, p_types jsonb, INOUT p_next integer, OUT code text
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
    f_calc boolean[] := '{}';       -- a calculation evaluated here (an expression)
    v_calcs boolean := FALSE;
    v_calc_code text := '';         -- the calculations
    v_clean_items text := '';       -- the items of repeats cleaned, for the calculations (as checked)
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
    v_item_loop text;
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
            -- Names as written: U+001F separates them (no name holds a control character).
            f_keys[v_n] := CASE WHEN v_parent = 0 THEN '' ELSE f_keys[v_parent] || E'\x1f' END || f_name[v_n];
            f_suffix[v_n] := CASE WHEN v_parent = 0 THEN '' ELSE f_suffix[v_parent] END
                || '.' || pliers._json_path_key(f_name[v_n]);
            f_cond[v_n] := CASE
                WHEN v_field ? 'visibleWhen' THEN v_field -> 'visibleWhen'
                WHEN pg_catalog.jsonb_typeof(v_field #> '{conditional,when}') IS DISTINCT FROM 'array'
                    OR pg_catalog.jsonb_array_length(v_field #> '{conditional,when}') = 0 THEN NULL
                WHEN v_field #> '{conditional,show}' = 'false'::jsonb THEN pg_catalog.jsonb_build_object(
                    'not', pg_catalog.jsonb_build_object('all', v_field #> '{conditional,when}'))
                ELSE pg_catalog.jsonb_build_object('all', v_field #> '{conditional,when}')
            END;
            v_conditions := v_conditions OR f_cond[v_n] IS NOT NULL;
            f_calc[v_n] := f_kind[v_n] = 'calculated' AND pg_catalog.jsonb_typeof(v_field -> 'expression') <> 'string';
            v_calcs := v_calcs OR f_calc[v_n];
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
                ' r_%1$s jsonb; c_%1$s jsonb; p_%1$s text; x_%1$s jsonb; i%1$s jsonb[]; h%1$s boolean;'
                ' e%1$s jsonb[]; f%1$s jsonb[];', v_k)
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
                pg_catalog.to_json(f_name[v_top])::text || ':{', v_first + v_top) || E'\n';
        END LOOP;
        IF f_kind[v_i] <> 'display' AND (f_kind[v_i] <> 'calculated' OR f_calc[v_i]) THEN
            v_build := v_build || pg_catalog.format(
                'IF s%1$s AND a%1$s IS NOT NULL AND a%1$s <> ''null''::jsonb THEN ', v_k);
            IF f_kind[v_i] = 'group' THEN
                v_build := v_build || pg_catalog.format(
                    'IF pg_catalog.jsonb_typeof(a%1$s) <> ''object'' THEN %2$s := %2$s || (%3$L || a%1$s::text); '
                    'ELSE m%1$s := ''{}'';', v_k, v_members, pg_catalog.to_json(f_name[v_i])::text || ':') || E'\n';
                v_open := v_open || v_i;
            ELSE
                v_build := v_build || pg_catalog.format(
                    '%1$s := %1$s || (%2$L || a%3$s::text);', v_members, pg_catalog.to_json(f_name[v_i])::text || ':', v_k);
                IF f_field[v_i] -> 'allowOther' = 'true'::jsonb THEN
                    v_build := v_build || pg_catalog.format(
                        ' IF a%1$s = ''"other"''::jsonb OR (pg_catalog.jsonb_typeof(a%1$s) = ''array'' AND a%1$s ? ''other'') THEN'
                        ' v_other := %2$s -> %3$L; IF v_other IS NOT NULL AND v_other <> ''null''::jsonb THEN'
                        ' %4$s := %4$s || (%5$L || v_other::text); END IF; END IF;',
                        v_k, v_of_parent, f_name[v_i] || '_other', v_members, pg_catalog.to_json(f_name[v_i] || '_other')::text || ':');
                END IF;
                v_build := v_build || E' END IF;\n';
            END IF;
        END IF;

        -- 2c. Calculations on the cleaned answers (put in at the next round).
        IF f_calc[v_i] THEN
            v_calc_code := v_calc_code || pg_catalog.format(
                'IF s%1$s THEN v_x := %2$s; IF v_x IS DISTINCT FROM a%1$s THEN a%1$s := v_x; v_changed := TRUE; END IF; END IF;',
                v_k, pliers._compile_expression(f_field[v_i] -> 'expression', p_types, v_eval_root, v_context, p_scope, v_clean)
            ) || E'\n';
        END IF;

        -- 2d. Visibility: the group's, and the condition on the cleaned answers.
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
            -- A required group: the answered visible fields among its own, counted.
            IF f_field[v_i] #> '{validation,minAnswered}' IS NOT NULL THEN
                v_checks := v_checks || pliers._compile_check(
                    pg_catalog.format('NOT b%s AND (0', v_k) || (
                        SELECT coalesce(pg_catalog.string_agg(
                            pg_catalog.format(' + (s%1$s AND NOT pliers._is_blank(a%1$s))::integer', v_first + c.j), ''
                            ORDER BY c.j), '')
                        FROM pg_catalog.generate_series(v_i + 1, v_n) AS c (j)
                        WHERE f_parent[c.j] = v_i AND f_kind[c.j] NOT IN ('display', 'calculated')
                    ) || pg_catalog.format(') < %L::numeric', f_field[v_i] #>> '{validation,minAnswered}'),
                    v_path, 'too_few_answers',
                    pg_catalog.format('answer at least %s of these questions', f_field[v_i] #>> '{validation,minAnswered}'),
                    TRUE
                ) || E'\n';
            END IF;
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
            -- The rules stated as expressions, in _check_expression_rules' order: the
            -- constraint and the item count compiled, the choice filter by that function.
            IF v_rules ? 'constraint' THEN
                v_checks := v_checks || pliers._compile_check(
                    pg_catalog.format('(NOT pliers._is_blank(a%s) AND (%s) IS DISTINCT FROM ''true''::jsonb)', v_k,
                        pliers._compile_expression(v_rules -> 'constraint', p_types, 'v_root', v_context, p_scope, v_clean)),
                    v_path, 'constraint_failed', pliers._constraint_message(f_field[v_i])) || E'\n';
            END IF;
            IF f_field[v_i] ? 'repeatCount' THEN
                v_checks := v_checks || pg_catalog.format(
                    'v_x := %s; IF (pg_catalog.jsonb_typeof(v_x) = ''number'' AND CASE WHEN pg_catalog.jsonb_typeof(a%s) = '
                    '''array'' THEN pg_catalog.jsonb_array_length(a%2$s) ELSE 0 END <> greatest(v_x::numeric, 0)) THEN ',
                    pliers._compile_expression(f_field[v_i] -> 'repeatCount', p_types, 'v_root', v_context, p_scope, v_clean),
                    v_k)
                    || pliers._compile_error(v_path, 'wrong_item_count',
                        'pg_catalog.format(''must have %s items'', greatest(v_x::numeric, 0))', TRUE)
                    || E'END IF;\n';
            END IF;
            IF f_field[v_i] ? 'choiceFilter' THEN
                v_checks := v_checks || pg_catalog.format(
                    'v_list := pliers._check_expression_rules(%L::jsonb, a%s, %s, TRUE, v_root, %s, %L, %s); '
                    'IF v_list <> ''{}'' THEN v_final := v_final || v_list; v_errors := v_errors || v_list; END IF;',
                    pg_catalog.jsonb_build_object(
                        'choices', f_field[v_i] -> 'choices', 'choiceFilter', f_field[v_i] -> 'choiceFilter'),
                    v_k, v_path, v_context, p_scope, v_clean) || E'\n';
            END IF;
            IF f_kind[v_i] = 'repeat' THEN
                -- Each item an instance of its own, seeing the answers around it.
                v_scope := CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || pg_catalog.replace(f_keys[v_i], E'\x1f', '.');
                SELECT * INTO v_nested
                FROM pliers._compile_instance(f_field[v_i] -> 'fields', v_k::text, v_scope, p_types, p_next);
                p_next := v_nested.p_next;
                v_item_loop := pg_catalog.format(
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
                        v_k, v_clean, pg_catalog.string_to_array(f_keys[v_i], E'\x1f')) || E'\n';
                v_checks := v_checks || v_item_loop;
                -- With calculations here, the items are cleaned before they run, each round,
                -- as _process_instance does: the same code, its errors set aside, the
                -- enclosing items and the root taken anew.
                IF v_calcs THEN
                    v_clean_items := v_clean_items || pg_catalog.format(
                        'IF s%1$s THEN e%1$s := v_errors; f%1$s := v_final; y_%2$s := NULL;%3$s' || E'\n',
                        v_k, p_id, CASE WHEN v_root THEN ' v_root := c_0;' ELSE '' END)
                        || v_item_loop
                        || pg_catalog.format(E'v_errors := e%1$s; v_final := f%1$s; y_%2$s := NULL; END IF;\n', v_k, p_id);
                END IF;
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
            pg_catalog.to_json(f_name[v_top])::text || ':{', v_first + v_top) || E'\n';
    END LOOP;

    code := E'DECLARE\n' || v_declare || E'BEGIN\n'
        || CASE WHEN v_conditions OR v_calcs THEN E'v_rounds := 0;\nLOOP\n' ELSE '' END
        -- In parentheses: PL/pgSQL would end the condition at the THEN of a CASE.
        -- Calculations put their values in: always rebuilt, as _process_instance does.
        || 'IF (' || CASE WHEN v_calcs THEN 'TRUE' ELSE v_drop END
        || pg_catalog.format(E')\nTHEN m_%s := ''{}'';\n', p_id) || v_build
        || pg_catalog.format(E'%1$s := (''{'' || pg_catalog.array_to_string(m_%2$s, '','') || ''}'')::jsonb;\nELSE %1$s := %3$s;\nEND IF;\n',
            v_clean, p_id, v_raw)
        || CASE WHEN v_calcs THEN v_clean_items ELSE '' END
        || CASE WHEN v_conditions OR v_calcs THEN pg_catalog.format(
            E'v_rounds := v_rounds + 1;\nEXIT WHEN v_rounds > %s;\nv_changed := FALSE;\n', v_n + 1)
            || v_calc_code || v_visibility || E'EXIT WHEN NOT v_changed;\nEND LOOP;\n' ELSE '' END
        || CASE WHEN v_root THEN E'v_root := c_0;\n' ELSE '' END
        || pg_catalog.format(
            E'IF %1$s - %2$L::text[] <> ''{}''::jsonb THEN v_errors := v_errors || pliers._unknown_field_errors(%1$s, %2$L::text[], %3$s, ''form''); END IF;\n',
            v_raw, v_known, CASE WHEN v_root THEN '''$.data''' ELSE 'p_' || p_id END)
        || v_checks
        || E'END;\n';
END
$$;

COMMENT ON FUNCTION pliers._compile_instance(jsonb, text, text, jsonb, integer) IS
'Private (code generation): the PL/pgSQL block that checks and cleans one instance of the fields p_fields (the '
'root answers, p_id ''0'', or an item of repeat number p_id at repeat path p_scope) as _process_instance does; '
'p_types: the types of the fields for expressions ({top, by_repeat} of pliers._check_form_expressions); p_next: the '
'first field number to use, returned past the last one used.';

REVOKE ALL ON FUNCTION pliers._compile_instance(jsonb, text, text, jsonb, integer) FROM public;

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
    v_instance := pliers._compile_instance(
        p_form.definition -> 'fields', '0', '',
        (SELECT x.types FROM pliers._check_form_expressions(pliers._field_index(p_form.definition)) AS x), 1
    );
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION pliers_validators.%I(p_data jsonb, p_final boolean, p_attachments jsonb, '
        'OUT cleaned jsonb, OUT errors jsonb, OUT final_errors jsonb) '
        'LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = '''' AS %L',
        v_name,
        E'DECLARE\n'
        'v_errors jsonb[] := ''{}''; v_final jsonb[] := ''{}''; v_e jsonb; v_list jsonb[]; v_root jsonb; v_other jsonb;\n'
        'v_rounds integer; v_changed boolean; v_visible boolean; r_0 jsonb := p_data; c_0 jsonb; v_x jsonb;\n'
        'BEGIN\n'
        -- The limits of the answers (the definition's were checked above).
        'PERFORM pliers._check_document_limits(p_data, ''$.data'', ''data_bytes'', TRUE);\n'
        'IF pg_catalog.jsonb_typeof(p_data) IS DISTINCT FROM ''object'' THEN\n'
        'cleaned := p_data;\n'
        'errors := pg_catalog.jsonb_build_array('
        'pliers._form_error(''$.data'', ''invalid_type'', ''submission data must be a JSON object''));\n'
        'final_errors := errors;\nRETURN;\nEND IF;\n'
        || v_instance.code
        -- Answers of fields of the tenant's choice lists (sql/44), checked against the lists.
        || CASE WHEN pg_catalog.jsonb_path_exists(p_form.definition, 'strict $.**.choiceList') THEN pg_catalog.format(
            E'v_list := pliers._check_list_answers(%L::uuid, %L::jsonb, c_0);\n'
            'IF v_list <> ''{}'' THEN v_errors := v_errors || v_list; v_final := v_final || v_list; END IF;\n',
            p_form.organization_id, p_form.definition) ELSE '' END
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

CREATE OR REPLACE FUNCTION pliers._check_answers(p_form pliers.forms, p_data jsonb, p_final boolean, p_attachments jsonb)
RETURNS TABLE (cleaned jsonb, errors jsonb, final_errors jsonb)
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_lists jsonb;
BEGIN
    IF p_form.status <> 'draft'
        AND pg_catalog.to_regproc('pliers_validators.' || pliers._validator_name(p_form.id)) IS NOT NULL THEN
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT * FROM pliers_validators.%I($1, $2, $3)', pliers._validator_name(p_form.id)
        ) USING p_data, p_final, p_attachments;
        RETURN;
    END IF;
    SELECT d.cleaned, d.errors INTO cleaned, errors
    FROM pliers._check_submission_data(p_form.definition, p_data, p_final, p_attachments) AS d;
    -- A final check that found nothing found nothing in the cleaned answers either.
    final_errors := CASE WHEN p_final AND errors = '[]' THEN errors ELSE (
        SELECT f.errors FROM pliers._check_submission_data(p_form.definition, cleaned, TRUE, p_attachments) AS f
    ) END;
    -- Answers of fields of the tenant's choice lists (sql/44), checked against the lists.
    v_lists := pg_catalog.to_jsonb(pliers._check_list_answers(p_form.organization_id, p_form.definition, cleaned));
    IF v_lists <> '[]' THEN
        errors := errors || v_lists;
        final_errors := final_errors || v_lists;
    END IF;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION pliers._check_answers(pliers.forms, jsonb, boolean, jsonb) IS
'Private: one row for the answers p_data of form version p_form: cleaned and errors, exactly those of '
'_check_submission_data(p_form.definition, p_data, p_final, p_attachments), and final_errors, those of '
'validate_submission_data(p_form.definition, cleaned, TRUE, p_attachments) (errors without the unknown_field ones '
'when p_final: the cleaned answers have no unknown key). From the '
'version''s compiled validator when it has one (pliers._compile_validator), else from the interpreter; with the '
'errors of the answers of fields of the tenant''s choice lists (pliers._check_list_answers) after the others.';

-- sql/55-submissions-api.sql

CREATE OR REPLACE FUNCTION pliers._attachment_field(p_definition jsonb, p_field text, p_data jsonb)
RETURNS TABLE (path text[], field jsonb, kind text, errors jsonb)
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_segments text[] := '{}';
    v_names text[] := '{}';
    v_indexes integer[] := '{}';
    v_shape text := '';
    v_expected text := '';
    v_match text[];
    v_entry record;
    v_i integer;
BEGIN
    path := NULL;
    field := NULL;
    kind := NULL;
    errors := '[]';
    -- Names are any characters but . [ ] and control characters (sql/42,
    -- _valid_field_name): the path stays unambiguous.
    IF p_field IS NULL
        OR p_field !~ '^[^].[[:cntrl:]]{1,200}(\[[0-9]{1,6}\])?(\.[^].[[:cntrl:]]{1,200}(\[[0-9]{1,6}\])?)*$' THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'invalid_field_path',
            'the field is a data path such as photo, address.proof or children[0].photo: names (without . [ ]) '
            'separated by dots, an index after each repeat'
        ));
        RETURN NEXT;
        RETURN;
    END IF;

    -- children[1].photo -> segments {children,1,photo}, names {children,photo}, shape children[].photo
    FOR v_match IN SELECT m FROM pg_catalog.regexp_matches(p_field, '([^].[]+)|\[([0-9]+)\]', 'g') AS m LOOP
        IF v_match[1] IS NOT NULL THEN
            v_segments := v_segments || v_match[1];
            v_names := v_names || v_match[1];
            v_shape := v_shape || CASE WHEN v_shape = '' THEN '' ELSE '.' END || v_match[1];
        ELSE
            v_segments := v_segments || v_match[2];
            v_indexes := v_indexes || pg_catalog.cardinality(v_segments);
            v_shape := v_shape || '[]';
        END IF;
    END LOOP;

    FOR v_i IN 1 .. pg_catalog.cardinality(v_names) LOOP
        SELECT l.kind, l.field INTO v_entry
        FROM pliers._form_field_list(p_definition) AS l
        WHERE l.data_path = pg_catalog.array_to_string(v_names[1:v_i], '.');
        IF NOT FOUND THEN
            errors := pg_catalog.jsonb_build_array(pliers._form_error(
                'field', 'unknown_field', pg_catalog.format('%s is not a field of the form version', p_field)
            ));
            RETURN NEXT;
            RETURN;
        END IF;
        v_expected := v_expected || CASE WHEN v_i = 1 THEN '' ELSE '.' END || v_names[v_i]
            || CASE WHEN v_entry.kind = 'repeat' AND v_i < pg_catalog.cardinality(v_names) THEN '[]' ELSE '' END;
    END LOOP;

    IF v_entry.kind NOT IN ('file', 'signature') THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'not_a_file_field', pg_catalog.format('%s is a %s field, not a file or signature field', p_field, v_entry.kind)
        ));
    ELSIF v_shape <> v_expected THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'invalid_field_path',
            pg_catalog.format('%s does not match the form: expected the shape %s (an index after each repeat)', p_field, v_expected)
        ));
    ELSIF EXISTS (
        -- The indexes (a name may be digits too: "2024").
        SELECT FROM pg_catalog.unnest(v_indexes) AS k
        WHERE pg_catalog.jsonb_typeof(p_data #> v_segments[1:k]) IS DISTINCT FROM 'object'
    ) THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'unknown_instance', pg_catalog.format('the repeat instance of %s does not exist in the answers', p_field)
        ));
    END IF;
    path := v_segments;
    field := v_entry.field;
    kind := v_entry.kind;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION pliers.detach_file(p_attachment_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.attachments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_attachment pliers.attachments;
    v_submission pliers.submissions;
    v_path text[];
    v_value jsonb;
    v_data jsonb;
    v_form pliers.forms;
    v_final_errors jsonb;
BEGIN
    IF p_attachment_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'attachment_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('attachment_id', 'required', 'the attachment id is required'))
        );
    END IF;
    SELECT a.* INTO v_attachment
    FROM pliers.attachments AS a
    WHERE
        a.organization_id = v_org AND a.id = p_attachment_id AND a.deleted_at IS NULL AND a.submission_id IS NOT NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('attachment', p_attachment_id);
    END IF;
    v_submission := pliers._lock_submission(v_attachment.submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        PERFORM pliers._raise_not_draft(v_submission, ARRAY['attachments']);
    END IF;

    UPDATE pliers.attachments AS a
    SET deleted_at = pg_catalog.now(), deleted_by = pliers.current_user_id()
    WHERE a.organization_id = v_org AND a.id = v_attachment.id AND a.deleted_at IS NULL
    RETURNING a.* INTO v_attachment;

    -- Take the id out of the answer where attach_file put it (if the answer still holds it).
    v_data := v_submission.data;
    SELECT pg_catalog.array_agg(coalesce(m[1], m[2]) ORDER BY n) INTO v_path
    FROM pg_catalog.regexp_matches(
        coalesce(v_attachment.metadata ->> 'field', ''), '([^].[]+)|\[([0-9]+)\]', 'g'
    ) WITH ORDINALITY AS r (m, n);
    IF v_path IS NOT NULL THEN
        v_value := v_data #> v_path;
        IF pg_catalog.jsonb_typeof(v_value) = 'array' THEN
            v_data := pg_catalog.jsonb_set(v_data, v_path, v_value - v_attachment.id::text);
        ELSIF v_value = pg_catalog.to_jsonb(v_attachment.id::text) THEN
            v_data := v_data #- v_path;
        END IF;
    END IF;
    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;
    v_final_errors := pliers.validate_submission_data(
        v_form.definition, v_data, TRUE, pliers._submission_attachments(v_submission.id)
    );

    UPDATE pliers.submissions AS s
    SET
        updated_at = pg_catalog.now(),
        data = v_data,
        attachments = coalesce((
            SELECT pg_catalog.jsonb_agg(e.value ORDER BY e.ordinality)
            FROM pg_catalog.jsonb_array_elements(s.attachments) WITH ORDINALITY AS e (value, ordinality)
            WHERE e.value ->> 'id' IS DISTINCT FROM v_attachment.id::text
        ), '[]'),
        attachment_count = s.attachment_count - 1,
        is_valid = v_final_errors = '[]',
        validation_errors = v_final_errors
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._count_usage(v_org, 'attachment_bytes', -v_attachment.file_size_bytes);

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.attachment_removed',
        pg_catalog.jsonb_build_object(
            'attachment_id', v_attachment.id,
            'field', v_attachment.metadata ->> 'field',
            'path', pg_catalog.to_jsonb(v_path),
            'value', v_data #> v_path,
            'attachment_count', v_submission.attachment_count,
            'data', v_submission.data,
            'is_valid', v_submission.is_valid,
            'validation_errors', v_submission.validation_errors
        )
    );
    RETURN v_attachment;
END
$$;

CREATE OR REPLACE FUNCTION pliers.list_submissions(
    p_form_id uuid DEFAULT NULL,
    p_status pliers.submission_status DEFAULT NULL,
    p_assigned_to uuid DEFAULT NULL,
    p_after_created_at timestamptz DEFAULT NULL,
    p_after_id uuid DEFAULT NULL,
    p_limit integer DEFAULT 50,
    p_filter jsonb DEFAULT NULL,
    p_field text DEFAULT NULL,
    p_op text DEFAULT NULL,
    p_value jsonb DEFAULT NULL,
    p_assigned_team_id uuid DEFAULT NULL,
    p_created_from timestamptz DEFAULT NULL,
    p_created_before timestamptz DEFAULT NULL,
    p_deleted boolean DEFAULT FALSE
)
RETURNS SETOF pliers.submissions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_permissions constant text[] := pliers.current_permissions();
    v_user constant uuid := pliers.current_user_id();
    v_errors jsonb := '[]';
    v_forms uuid[];
    v_filters jsonb[];
    v_paths jsonpath[];
    v_sql text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        v_errors := v_errors || pliers._form_error('limit', 'invalid', 'the limit is 1 to 1000');
    END IF;
    IF (p_after_created_at IS NULL) <> (p_after_id IS NULL) THEN
        v_errors := v_errors || pliers._form_error(
            'after_id', 'invalid_cursor', 'the cursor is after_created_at and after_id together: the last row''s'
        );
    END IF;
    IF p_filter IS NOT NULL AND pg_catalog.jsonb_typeof(p_filter) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('filter', 'invalid_type', 'the filter is a JSON object of answers');
    END IF;
    IF num_nulls(p_field, p_op, p_value) NOT IN (0, 3) THEN
        v_errors := v_errors || pliers._form_error('op', 'invalid', 'field, op and value go together');
    ELSIF p_field IS NOT NULL THEN
        IF p_field !~ '^[^].[[:cntrl:]]{1,200}(\.[^].[[:cntrl:]]{1,200})*$' THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'invalid_field_path',
                'a field name, or a dotted path into groups (address.zip); names have no . [ ] or control characters'
            );
        END IF;
        IF p_op NOT IN ('=', '<>', '<', '<=', '>', '>=') THEN
            v_errors := v_errors || pliers._form_error('op', 'invalid_operator', 'the operator is =, <>, <, <=, > or >=');
        ELSIF pg_catalog.jsonb_typeof(p_value) NOT IN ('number', 'string', 'boolean', 'null')
            OR (p_op NOT IN ('=', '<>') AND pg_catalog.jsonb_typeof(p_value) NOT IN ('number', 'string')) THEN
            v_errors := v_errors || pliers._form_error(
                'value', 'invalid_value', 'compare with a number or a string (dates as ISO 8601 strings); = and <> also with true, false, null'
            );
        END IF;
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid list arguments', v_errors);
    END IF;
    -- The commonest page, a form's newest submissions (after a cursor) and no other
    -- condition, is static SQL: PL/pgSQL keeps its plan for the session, where the
    -- EXECUTE below is planned on every call (0.2 ms, three times the page itself,
    -- bench/RESULTS.md). Its conditions are those the EXECUTE would write.
    IF p_form_id IS NOT NULL AND pg_catalog.num_nonnulls(
        p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before, p_filter, p_field
    ) = 0 AND NOT coalesce(p_deleted, FALSE) THEN
        IF p_after_created_at IS NULL THEN
            RETURN QUERY
            SELECT s.* FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.form_id = p_form_id AND s.deleted_at IS NULL
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user
                )
            ORDER BY s.created_at DESC, s.id
            LIMIT p_limit;
        ELSE
            RETURN QUERY
            SELECT s.* FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.form_id = p_form_id AND s.deleted_at IS NULL
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user
                )
                AND s.created_at <= p_after_created_at
                AND (s.created_at < p_after_created_at OR s.id > p_after_id)
            ORDER BY s.created_at DESC, s.id
            LIMIT p_limit;
        END IF;
        RETURN;
    END IF;
    -- Answer conditions go through the per-form index (pliers.scoped_answers): one probe
    -- per form, the one asked for or each of the tenant's. Same snapshot as the query:
    -- every submission it may list belongs to one of these forms.
    -- (The one-form case in plain expressions: PL/pgSQL runs those without a query.)
    IF p_form_id IS NOT NULL THEN
        v_forms := ARRAY[p_form_id];
    ELSIF p_filter IS NOT NULL OR p_field IS NOT NULL THEN
        v_forms := ARRAY(SELECT f.id FROM pliers.forms AS f WHERE f.organization_id = v_org);
    END IF;
    IF p_filter IS NOT NULL AND p_form_id IS NOT NULL THEN
        v_filters := ARRAY[pliers.scoped_answers(p_form_id, p_filter)];
    ELSIF p_filter IS NOT NULL THEN
        v_filters := ARRAY(SELECT pliers.scoped_answers(f.id, p_filter) FROM pg_catalog.unnest(v_forms) AS f (id));
    END IF;
    IF p_field IS NOT NULL THEN
        -- Keys double-quoted, the value a JSON literal, the operator from a fixed list: no injection.
        v_paths := ARRAY(
            SELECT pg_catalog.format(
                '$.%s.%s %s %s',
                pg_catalog.to_json(f.id::text)::text,
                (SELECT pg_catalog.string_agg(pg_catalog.to_json(k)::text, '.') FROM pg_catalog.unnest(pg_catalog.string_to_array(p_field, '.')) AS k),
                CASE p_op WHEN '=' THEN '==' WHEN '<>' THEN '!=' ELSE p_op END,
                p_value::text
            )::jsonpath
            FROM pg_catalog.unnest(v_forms) AS f (id)
        );
    END IF;

    -- Only the conditions asked for, so that the planner sees each query as it is. The
    -- tenant and the visibility rule are written here, not applied by row-level security
    -- (this function runs as pliers_owner, the tables' owner, which row-level security does
    -- not bind, so the planner reads the column statistics): the answer
    -- filters may then use the GIN index and its statistics. EXECUTE ... USING plans
    -- once with the values, so for a user with submission.view organization-wide the
    -- visibility rule folds to TRUE and disappears from the query.
    v_sql := 'SELECT s.* FROM pliers.submissions AS s WHERE s.organization_id = $1'
        || ' AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, $13, $14)'
        || CASE WHEN coalesce(p_deleted, FALSE) THEN ' AND s.deleted_at IS NOT NULL' ELSE ' AND s.deleted_at IS NULL' END
        || CASE WHEN p_form_id IS NOT NULL THEN ' AND s.form_id = $2' ELSE '' END
        || CASE WHEN p_status IS NOT NULL THEN ' AND s.status = $3' ELSE '' END
        || CASE WHEN p_assigned_to IS NOT NULL THEN ' AND s.assigned_to = $4' ELSE '' END
        || CASE WHEN p_assigned_team_id IS NOT NULL THEN ' AND s.assigned_team_id = $5' ELSE '' END
        || CASE WHEN p_created_from IS NOT NULL THEN ' AND s.created_at >= $6' ELSE '' END
        || CASE WHEN p_created_before IS NOT NULL THEN ' AND s.created_at < $7' ELSE '' END
        || CASE
            WHEN p_after_created_at IS NOT NULL THEN ' AND s.created_at <= $8 AND (s.created_at < $8 OR s.id > $9)'
            ELSE ''
        END
        || CASE WHEN p_filter IS NOT NULL THEN ' AND pliers.scoped_answers(s.form_id, s.data) @> ANY ($10)' ELSE '' END
        || CASE WHEN p_field IS NOT NULL THEN ' AND pliers.scoped_answers(s.form_id, s.data) @@ ANY ($11)' ELSE '' END
        || ' ORDER BY s.created_at DESC, s.id LIMIT $12';

    RETURN QUERY EXECUTE v_sql
    USING v_org, p_form_id, p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before,
    p_after_created_at, p_after_id, v_filters, v_paths, p_limit, v_permissions, v_user;
END
$$;

CREATE OR REPLACE FUNCTION pliers.export_columns(p_slug text)
RETURNS TABLE (ordinal integer, name text, path text, kind text)
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
        SELECT v.version_key, l.sort_key, l.data_path, l.kind
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
            fields.data_path, fields.kind, fields.version_key, fields.sort_key
        FROM fields
        ORDER BY fields.data_path, fields.version_key DESC
    ),

    firsts AS (
        SELECT fields.data_path, min(fields.version_key || fields.sort_key::numeric[]) AS first_seen
        FROM fields
        GROUP BY fields.data_path
    )

    SELECT m.n::integer, m.name, NULL::text, 'meta'::text
    FROM pg_catalog.unnest(c_meta) WITH ORDINALITY AS m (name, n)
    UNION ALL
    SELECT
        (pg_catalog.cardinality(c_meta) + pg_catalog.row_number() OVER (ORDER BY fi.first_seen, c.data_path))::integer,
        CASE WHEN c.data_path = ANY(c_meta) THEN 'data.' || c.data_path ELSE c.data_path END,
        c.data_path,
        c.kind
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
'the field type in the newest version that has it. PL002 when no live version has the slug, PL008.';

-- sql/44-choice-lists.sql

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
-- hold 100,000 of them.
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

CREATE FUNCTION pliers._is_translatable_text(p_value jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE pg_catalog.jsonb_typeof(p_value)
        WHEN 'string' THEN TRUE
        WHEN 'object' THEN p_value <> '{}'::jsonb AND NOT pg_catalog.jsonb_path_exists(
            p_value, 'strict $.keyvalue() ? (@.value.type() != "string" || !(@.key like_regex "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"))'
        )
        ELSE FALSE
    END
$$;

COMMENT ON FUNCTION pliers._is_translatable_text(jsonb) IS
'Private: TRUE when p_value is a translatable text of a list item: a string, or a non-empty object whose keys are '
'BCP 47 tags (^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$) and whose values are strings.';

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
AS $$
DECLARE
    v_limits constant jsonb := pliers.choice_list_limits();
    v_max_items constant integer := (v_limits ->> CASE p_kind WHEN 'dataset' THEN 'dataset_items' ELSE 'list_items' END)::integer;
    v_code_chars constant integer := (v_limits ->> 'code_chars')::integer;
    v_text_chars constant integer := (v_limits ->> 'text_chars')::integer;
    v_max_errors constant integer := (v_limits ->> 'errors')::integer;
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

    WITH item AS (
        SELECT
            e.value AS item,
            e.n - 1 AS i,
            '$.items[' || (e.n - 1) || ']' AS path,
            pg_catalog.jsonb_typeof(e.value) AS type,
            pliers._is_translatable_text(e.value -> 'label') AS label_ok,
            pg_catalog.row_number() OVER (PARTITION BY e.value -> 'code' ORDER BY e.n) AS nth
        FROM pg_catalog.jsonb_array_elements(p_items) WITH ORDINALITY AS e (value, n)
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
        CROSS JOIN LATERAL pg_catalog.jsonb_object_keys(
            CASE WHEN t.type = 'object' AND t.item - '{code,label,attributes}'::text[] <> '{}' THEN t.item ELSE '{}' END
        ) AS x (key)
        -- Only the items that have other keys are taken apart.
        WHERE x.key NOT IN ('code', 'label', 'attributes')
        UNION ALL
        SELECT t.i, 2, NULL, CASE
            WHEN NOT t.item ? 'code' THEN pliers._form_error(t.path || '.code', 'required', 'the code is required')
            WHEN pg_catalog.jsonb_typeof(t.item -> 'code') <> 'string' THEN
                pliers._form_error(t.path || '.code', 'invalid_type', 'the code is a string')
            WHEN pg_catalog.btrim(t.item ->> 'code') = '' THEN
                pliers._form_error(t.path || '.code', 'blank_code', 'the code may not be blank')
            WHEN pg_catalog.char_length(t.item ->> 'code') > v_code_chars THEN
                pliers._form_error(t.path || '.code', 'too_long', pg_catalog.format('a code is at most %s characters', v_code_chars))
            WHEN t.nth > 1 THEN pliers._form_error(
                t.path || '.code', 'duplicate_code', pg_catalog.format('the code %s is already used by an earlier item', t.item -> 'code')
            )
        END
        FROM item AS t
        WHERE t.type = 'object' AND (
            NOT t.item ? 'code' OR pg_catalog.jsonb_typeof(t.item -> 'code') <> 'string'
            OR pg_catalog.btrim(t.item ->> 'code') = '' OR pg_catalog.char_length(t.item ->> 'code') > v_code_chars
            OR t.nth > 1
        )
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
        -- The JSON text bounds the texts' length: most labels are not looked into.
        WHERE t.label_ok AND pg_catalog.octet_length((t.item -> 'label')::text) > v_text_chars AND EXISTS (
            SELECT FROM pg_catalog.jsonb_path_query(t.item -> 'label', 'strict $.**') AS s (value)
            WHERE pg_catalog.jsonb_typeof(s.value) = 'string' AND pg_catalog.char_length(s.value #>> '{}') > v_text_chars
        )
        UNION ALL
        SELECT t.i, 5, NULL, pliers._form_error(
            t.path || '.attributes', 'invalid_type', 'attributes is an object of strings, numbers and booleans'
        )
        FROM item AS t
        WHERE t.type = 'object' AND t.item ? 'attributes' AND pg_catalog.jsonb_typeof(t.item -> 'attributes') <> 'object'
        UNION ALL
        SELECT t.i, 6, NULL, pliers._form_error(
            t.path || '.attributes', 'too_many_attributes',
            pg_catalog.format('an item has at most %s attributes', v_limits ->> 'attributes')
        )
        FROM item AS t
        WHERE pg_catalog.jsonb_typeof(t.item -> 'attributes') = 'object'
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
            CASE WHEN pg_catalog.jsonb_typeof(t.item -> 'attributes') = 'object' THEN t.item -> 'attributes' ELSE '{}' END
        ) AS a (key, value)
        WHERE pg_catalog.jsonb_typeof(a.value) NOT IN ('string', 'number', 'boolean')
            OR (p_columns IS NOT NULL AND a.key <> ALL(p_columns))
            OR pg_catalog.char_length(a.value #>> '{}') > v_text_chars
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
'Deletes the live choice list p_name (soft delete: deleted_at; its items stay for the archived forms'' answers; '
'the name is free again). Refused while a live form version that is not archived names it in a choiceList: PL003 '
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
-- each of its items. One statement, no table: on Citus it runs on the coordinator.
CREATE FUNCTION pliers._list_answers(p_definition jsonb, p_cleaned jsonb)
RETURNS TABLE (path text, list text, code text, ord integer[])
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    WITH RECURSIVE w (field, value, path, ord) AS (
        SELECT e.field, p_cleaned -> (e.field ->> 'name'), '$.data.' || pliers._json_path_key(e.field ->> 'name'),
            ARRAY[e.n::integer]
        FROM pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(p_definition -> 'fields') = 'array' THEN p_definition -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS e (field, n)
        WHERE pg_catalog.jsonb_typeof(p_cleaned) = 'object' AND pg_catalog.jsonb_typeof(e.field -> 'name') = 'string'
        UNION ALL
        SELECT c.field, x.data -> (c.field ->> 'name'),
            w.path || x.suffix || '.' || pliers._json_path_key(c.field ->> 'name'),
            w.ord || x.k::integer || c.n::integer
        FROM w
        CROSS JOIN LATERAL (
            SELECT i.data, CASE WHEN w.field ->> 'type' = 'repeat' THEN '[' || (i.k - 1) || ']' ELSE '' END, i.k
            FROM pg_catalog.jsonb_array_elements(CASE
                WHEN w.field ->> 'type' = 'group' AND pg_catalog.jsonb_typeof(w.value) = 'object' THEN
                    pg_catalog.jsonb_build_array(w.value)
                WHEN w.field ->> 'type' = 'repeat' AND pg_catalog.jsonb_typeof(w.value) = 'array' THEN w.value
                ELSE '[]'
            END) WITH ORDINALITY AS i (data, k)
        ) AS x (data, suffix, k)
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
            CASE WHEN pg_catalog.jsonb_typeof(w.field -> 'fields') = 'array' THEN w.field -> 'fields' ELSE '[]' END
        ) WITH ORDINALITY AS c (field, n)
        WHERE pg_catalog.jsonb_typeof(x.data) = 'object' AND pg_catalog.jsonb_typeof(c.field -> 'name') = 'string'
            AND pg_catalog.cardinality(w.ord) <= 2 * (pliers.form_limits() ->> 'field_depth')::integer
    )
    -- Codes that are not strings are the pure validators' (invalid_type); "other" with
    -- allowOther is no list's.
    SELECT a.path, w.field ->> 'choiceList', a.code #>> '{}', w.ord || a.k::integer
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
'Private: (JSON path of the answer, list name, code, position in document order) of every string code answered, '
'in cleaned answers p_cleaned, to a field of p_definition that names a choice list (single_choice: the answer; '
'multiple_choice, ranking: each item), through groups and each item of repeats; "other" on a field with '
'allowOther is left out.';

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
    v_lists text[];
    v_codes text[];
    v_known text[];
BEGIN
    IF pg_catalog.jsonb_typeof(p_cleaned) <> 'object' OR pg_catalog.jsonb_typeof(p_definition) <> 'object'
        OR NOT pg_catalog.jsonb_path_exists(p_definition, 'strict $.**.choiceList') THEN
        RETURN '{}';  -- no field names a list: no walk, no query
    END IF;
    SELECT
        pg_catalog.array_agg(a.path ORDER BY a.ord),
        pg_catalog.array_agg(a.list ORDER BY a.ord),
        pg_catalog.array_agg(a.code ORDER BY a.ord)
    INTO v_paths, v_lists, v_codes
    FROM pliers._list_answers(p_definition, p_cleaned) AS a;
    IF v_paths IS NULL THEN
        RETURN '{}';
    END IF;

    -- One query on the primary key of the items (organization_id, list_id, code), the
    -- tenant as a value on both tables (one shard on Citus).
    SELECT pg_catalog.array_agg(l.name || E'\x1f' || i.code) INTO v_known
    FROM pliers.choice_lists AS l
    INNER JOIN pliers.choice_list_items AS i ON l.organization_id = i.organization_id AND l.id = i.list_id
    WHERE l.organization_id = p_org
        AND i.organization_id = p_org
        AND l.deleted_at IS NULL
        AND l.name = ANY(v_lists)
        AND i.code = ANY(v_codes);
    RETURN coalesce((
        SELECT pg_catalog.array_agg(
            pliers._form_error(
                a.path, 'invalid_choice', pg_catalog.format('%s is not one of the choices', pg_catalog.to_jsonb(a.code))
            )
            ORDER BY a.n
        )
        FROM ROWS FROM (pg_catalog.unnest(v_paths), pg_catalog.unnest(v_lists), pg_catalog.unnest(v_codes)) WITH ORDINALITY AS a (path, list, code, n)
        WHERE (a.list || E'\x1f' || a.code) <> ALL(coalesce(v_known, '{}'))
    ), '{}');
END
$$;

COMMENT ON FUNCTION pliers._check_list_answers(uuid, jsonb, jsonb) IS
'Private, for the submission API: for each answer in p_cleaned (cleaned answers: visible fields only) of a field of '
'p_definition that names a choice list (groups and repeats walked; single_choice a code, multiple_choice and '
'ranking an array of codes), an error {path: $.data..., code: invalid_choice} for each code that is not an item of '
'that live list of organization p_org (the code inline choices get; "other" passes with allowOther). Codes that '
'are not strings are left to the pure validators. One indexed query, none when no answer names a list.';

-- For choice filters on list fields ({"choice": "<attribute>"}, docs/expressions.md):
-- the attributes of the items answered, fetched as _check_list_answers checks them.
CREATE FUNCTION pliers._list_answer_attributes(p_org uuid, p_definition jsonb, p_cleaned jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_lists text[];
    v_codes text[];
    v_found jsonb;
BEGIN
    IF pg_catalog.jsonb_typeof(p_cleaned) <> 'object' OR pg_catalog.jsonb_typeof(p_definition) <> 'object'
        OR NOT pg_catalog.jsonb_path_exists(p_definition, 'strict $.**.choiceList') THEN
        RETURN '{}';
    END IF;
    SELECT pg_catalog.array_agg(DISTINCT a.list), pg_catalog.array_agg(DISTINCT a.code) INTO v_lists, v_codes
    FROM pliers._list_answers(p_definition, p_cleaned) AS a;
    IF v_lists IS NULL THEN
        RETURN '{}';
    END IF;
    SELECT pg_catalog.jsonb_object_agg(x.name, x.items) INTO v_found
    FROM (
        SELECT l.name, pg_catalog.jsonb_object_agg(i.code, i.attributes) AS items
        FROM pliers.choice_lists AS l
        INNER JOIN pliers.choice_list_items AS i ON l.organization_id = i.organization_id AND l.id = i.list_id
        WHERE l.organization_id = p_org
            AND i.organization_id = p_org
            AND l.deleted_at IS NULL
            AND l.name = ANY(v_lists)
            AND i.code = ANY(v_codes)
        GROUP BY l.name
    ) AS x;
    RETURN coalesce(v_found, '{}');
END
$$;

COMMENT ON FUNCTION pliers._list_answer_attributes(uuid, jsonb, jsonb) IS
'Private, for the submission API (choice filters of list fields): {list name: {code: attributes}} of the items '
'of organization p_org''s live lists that the cleaned answers p_cleaned choose in fields of p_definition naming a '
'list (as _check_list_answers walks them); codes that are no item are absent. One query on the items'' key, none '
'when no answer names a list.';

-- ---------------------------------------------------------------------------
-- Privileges: the API to pliers_app, the helpers to nobody but the owner
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.choice_list_limits(),
pliers._is_translatable_text(jsonb),
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
pliers._check_list_answers(uuid, jsonb, jsonb),
pliers._list_answer_attributes(uuid, jsonb, jsonb)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.choice_list_limits(),
pliers.create_choice_list(text, text, jsonb, text, text, text[]),
pliers.replace_choice_list_items(text, jsonb, integer, text, text[]),
pliers.delete_choice_list(text, integer),
pliers.list_choice_lists(),
pliers.get_choice_list(text, integer, integer)
TO pliers_app;

-- sql/95-security.sql.j2: the choice lists

-- pliers.choice_lists
GRANT SELECT ON pliers.choice_lists TO pliers_app;

GRANT SELECT ON pliers.choice_lists TO pliers_readonly;

ALTER TABLE pliers.choice_lists ENABLE ROW LEVEL SECURITY;

CREATE POLICY choice_lists_select ON pliers.choice_lists
FOR SELECT
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_lists_select ON pliers.choice_lists IS 'Rows of the current tenant only';

CREATE POLICY choice_lists_insert ON pliers.choice_lists
FOR INSERT
TO pliers_owner, pliers_app, pliers_readonly
WITH CHECK (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_lists_insert ON pliers.choice_lists IS 'New rows belong to the current tenant';

CREATE POLICY choice_lists_update ON pliers.choice_lists
FOR UPDATE
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id())
WITH CHECK (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_lists_update ON pliers.choice_lists IS
'Rows of the current tenant, which stay in it (no move to another organization)';

CREATE POLICY choice_lists_delete ON pliers.choice_lists
FOR DELETE
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_lists_delete ON pliers.choice_lists IS 'Rows of the current tenant only';

-- pliers.choice_list_items
GRANT SELECT ON pliers.choice_list_items TO pliers_app;

GRANT SELECT ON pliers.choice_list_items TO pliers_readonly;

ALTER TABLE pliers.choice_list_items ENABLE ROW LEVEL SECURITY;

CREATE POLICY choice_list_items_select ON pliers.choice_list_items
FOR SELECT
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_list_items_select ON pliers.choice_list_items IS 'Rows of the current tenant only';

CREATE POLICY choice_list_items_insert ON pliers.choice_list_items
FOR INSERT
TO pliers_owner, pliers_app, pliers_readonly
WITH CHECK (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_list_items_insert ON pliers.choice_list_items IS 'New rows belong to the current tenant';

CREATE POLICY choice_list_items_update ON pliers.choice_list_items
FOR UPDATE
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id())
WITH CHECK (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_list_items_update ON pliers.choice_list_items IS
'Rows of the current tenant, which stay in it (no move to another organization)';

CREATE POLICY choice_list_items_delete ON pliers.choice_list_items
FOR DELETE
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id());

COMMENT ON POLICY choice_list_items_delete ON pliers.choice_list_items IS 'Rows of the current tenant only';

-- sql/45-forms-api.sql

CREATE OR REPLACE FUNCTION pliers.create_form(
    p_name text,
    p_slug text,
    p_definition jsonb,
    p_settings jsonb DEFAULT '{}',
    p_visibility pliers.form_visibility DEFAULT 'private',
    p_category text DEFAULT NULL,
    p_tags text[] DEFAULT '{}',
    p_metadata jsonb DEFAULT '{}',
    p_permissions jsonb DEFAULT '{}'
)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
    v_form pliers.forms;
BEGIN
    PERFORM pliers._require_permission('form.create');

    IF p_name IS NULL THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'the name is required');
    END IF;
    IF p_visibility IS NULL THEN
        v_errors := v_errors || pliers._form_error('visibility', 'required', 'the visibility is required');
    END IF;
    v_errors := v_errors || pliers._check_slug(p_slug)
        || pliers._check_form_attributes(
            p_name, coalesce(p_settings, 'null'), p_category, coalesce(p_tags, ARRAY[NULL]::text[]),
            coalesce(p_metadata, 'null'), coalesce(p_permissions, 'null')
        );
    IF p_definition IS NULL THEN
        v_errors := v_errors || pliers._form_error('definition', 'required', 'the definition is required');
    ELSE
        v_errors := v_errors || pliers.validate_form_definition(p_definition)
            || pg_catalog.to_jsonb(pliers._check_list_references(v_org, p_definition));
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the form is not valid', v_errors);
    END IF;

    IF EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug::pliers.slug AND f.deleted_at IS NULL
    ) THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END IF;
    PERFORM pliers._check_quota('max_forms', 1, v_org);

    BEGIN
        INSERT INTO pliers.forms (
            organization_id, name, slug, version, status, visibility, definition, settings, permissions,
            category, tags, metadata, is_latest, created_by, updated_by
        ) VALUES (
            v_org, p_name, p_slug, '1.0.0', 'draft', p_visibility, p_definition, p_settings, p_permissions,
            p_category, p_tags, p_metadata, TRUE, pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING * INTO v_form;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent create_form of the same slug committed first.
        PERFORM pliers._raise_slug_taken(p_slug);
    END;

    PERFORM pliers._append_event('form', v_form.id, v_form.revision, 'form.created', pliers._form_payload(v_form));
    RETURN v_form;
END
$$;

CREATE OR REPLACE FUNCTION pliers.update_form(
    p_form_id uuid,
    p_expected_revision integer,
    p_name text DEFAULT NULL,
    p_definition jsonb DEFAULT NULL,
    p_settings jsonb DEFAULT NULL,
    p_visibility pliers.form_visibility DEFAULT NULL,
    p_category text DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL,
    p_permissions jsonb DEFAULT NULL
)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_errors jsonb := '[]';
    v_changes jsonb := '{}';
    v_frozen text[] := '{}';
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.edit', 'form', v_form.id);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);

    -- Content is frozen once published (as trigger forms_immutable_published enforces).
    IF v_form.status <> 'draft' THEN
        IF p_name IS NOT NULL THEN
            v_frozen := v_frozen || 'name'::text;
        END IF;
        IF p_definition IS NOT NULL THEN
            v_frozen := v_frozen || 'definition'::text;
        END IF;
        IF p_settings IS NOT NULL THEN
            v_frozen := v_frozen || 'settings'::text;
        END IF;
        IF pg_catalog.cardinality(v_frozen) > 0 THEN
            RAISE EXCEPTION 'form % version % is % and cannot change', v_form.id, v_form.version, v_form.status
                USING
                    ERRCODE = 'PL005',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'object', 'form', 'id', v_form.id, 'status', v_form.status,
                        'columns', pg_catalog.to_jsonb(v_frozen)
                    )::text,
                    HINT = 'Create a new draft version with pliers.create_form_version.';
        END IF;
    END IF;

    v_errors := pliers._check_form_attributes(p_name, p_settings, p_category, p_tags, p_metadata, p_permissions);
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_form_definition(p_definition)
            || pg_catalog.to_jsonb(pliers._check_list_references(v_org, p_definition));
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the form is not valid', v_errors);
    END IF;

    SELECT coalesce(pg_catalog.jsonb_object_agg(c.key, c.value), '{}')
    INTO v_changes
    FROM (
        VALUES
        ('name', pg_catalog.to_jsonb(p_name), pg_catalog.to_jsonb(v_form.name)),
        ('definition', p_definition, v_form.definition),
        ('settings', p_settings, v_form.settings),
        ('visibility', pg_catalog.to_jsonb(p_visibility), pg_catalog.to_jsonb(v_form.visibility)),
        ('category', pg_catalog.to_jsonb(p_category), pg_catalog.to_jsonb(v_form.category)),
        ('tags', pg_catalog.to_jsonb(p_tags), pg_catalog.to_jsonb(v_form.tags)),
        ('metadata', p_metadata, v_form.metadata),
        ('permissions', p_permissions, v_form.permissions)
    ) AS c (key, value, old_value)
    WHERE c.value IS NOT NULL AND c.value IS DISTINCT FROM c.old_value;

    IF v_changes = '{}' THEN
        RETURN v_form;  -- nothing changes: no write, no event
    END IF;

    UPDATE pliers.forms AS f
    SET
        updated_at = pg_catalog.now(),
        name = coalesce(p_name, f.name),
        definition = coalesce(p_definition, f.definition),
        settings = coalesce(p_settings, f.settings),
        visibility = coalesce(p_visibility, f.visibility),
        category = coalesce(p_category, f.category),
        tags = coalesce(p_tags, f.tags),
        metadata = coalesce(p_metadata, f.metadata),
        permissions = coalesce(p_permissions, f.permissions),
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.updated', pg_catalog.jsonb_build_object('changes', v_changes)
    );
    RETURN v_form;
END
$$;

CREATE OR REPLACE FUNCTION pliers.publish_form(p_form_id uuid, p_version text, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_previous pliers.forms;
    v_breaking jsonb := '[]';
    v_list_errors jsonb[];
    v_superseded record;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.publish', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    IF v_form.status <> 'draft' THEN
        RAISE EXCEPTION 'form % version % is % and cannot be published', v_form.id, v_form.version, v_form.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'form', 'id', v_form.id, 'from', v_form.status, 'to', 'published'
                )::text;
    END IF;
    IF p_version IS NULL OR pg_catalog.length(p_version) > 20
        OR p_version !~ '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$' THEN
        PERFORM pliers._raise_invalid(
            'invalid version',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'version', 'invalid_version', 'the version is MAJOR.MINOR.PATCH, e.g. 1.2.0 (no leading zeros)'
            ))
        );
    END IF;
    PERFORM pliers.assert_valid_form_definition(v_form.definition);
    -- A list named by a choice field exists (deleted since the draft was saved?).
    v_list_errors := pliers._check_list_references(v_org, v_form.definition);
    IF pg_catalog.cardinality(v_list_errors) > 0 THEN
        PERFORM pliers._raise_invalid('the form is not valid', pg_catalog.to_jsonb(v_list_errors));
    END IF;

    -- The previous version: the highest published one of the slug (deprecated and archived included).
    SELECT f.* INTO v_previous
    FROM pliers.forms AS f
    WHERE
        f.organization_id = v_org
        AND f.slug = v_form.slug
        AND f.deleted_at IS NULL
        AND f.published_at IS NOT NULL
    ORDER BY pliers._semver_key(f.version) DESC
    LIMIT 1;

    IF v_previous.id IS NOT NULL THEN
        IF pliers._semver_key(p_version) <= pliers._semver_key(v_previous.version) THEN
            PERFORM pliers._raise_invalid(
                'the version must be greater than every published version',
                pg_catalog.jsonb_build_array(pliers._form_error(
                    'version', 'version_not_greater',
                    pg_catalog.format('%s is not greater than the published version %s', p_version, v_previous.version)
                )),
                pg_catalog.jsonb_build_object('latest_version', v_previous.version)
            );
        END IF;
        v_breaking := pliers.form_breaking_changes(v_previous.definition, v_form.definition);
        IF v_breaking <> '[]'
            AND (pliers._semver_key(p_version))[1] <= (pliers._semver_key(v_previous.version))[1] THEN
            PERFORM pliers._raise_invalid(
                'breaking changes need a new major version',
                pg_catalog.jsonb_build_array(pliers._form_error(
                    'version', 'major_version_required',
                    pg_catalog.format(
                        'the definition breaks answers valid under %s (%s changes): publish %s.0.0 or higher',
                        v_previous.version, pg_catalog.jsonb_array_length(v_breaking),
                        (pliers._semver_key(v_previous.version))[1] + 1
                    )
                )),
                pg_catalog.jsonb_build_object('latest_version', v_previous.version, 'breaking_changes', v_breaking)
            );
        END IF;
    END IF;

    -- Move the latest flag: clear the old latest first (the unique index is checked per row).
    FOR v_superseded IN
        UPDATE pliers.forms AS f
        SET updated_at = pg_catalog.now(), is_latest = FALSE, updated_by = pliers.current_user_id()
        WHERE
            f.organization_id = v_org
            AND f.slug = v_form.slug
            AND f.is_latest
            AND f.deleted_at IS NULL
            AND f.id <> v_form.id
        RETURNING f.id, f.revision
    LOOP
        PERFORM pliers._append_event(
            'form', v_superseded.id, v_superseded.revision, 'form.updated',
            pg_catalog.jsonb_build_object(
                'changes', pg_catalog.jsonb_build_object('is_latest', FALSE), 'superseded_by', v_form.id
            )
        );
    END LOOP;

    UPDATE pliers.forms AS f
    SET
        updated_at = pg_catalog.now(),
        status = 'published',
        version = p_version,
        published_at = pg_catalog.now(),
        published_by = pliers.current_user_id(),
        is_latest = TRUE,
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;
    -- Its answers are validated by a function of its own from now on (sql/43).
    PERFORM pliers._compile_validator(v_form);

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.published',
        pg_catalog.jsonb_build_object(
            'from', 'draft',
            'to', 'published',
            'version', v_form.version,
            'published_at', v_form.published_at,
            'published_by', v_form.published_by,
            'is_latest', TRUE,
            'previous_version_id', v_previous.id,
            'previous_version', v_previous.version,
            'breaking_changes', v_breaking
        )
    );
    RETURN v_form;
END
$$;

CREATE OR REPLACE FUNCTION pliers.clone_form(p_form_id uuid, p_slug text, p_name text DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_source pliers.forms;
    v_errors jsonb;
    v_form pliers.forms;
BEGIN
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'form_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('form_id', 'required', 'the form id is required'))
        );
    END IF;
    SELECT f.* INTO v_source
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.id = p_form_id AND f.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    PERFORM pliers._require_permission('form.create');
    PERFORM pliers._require_permission('form.view', 'form', v_source.id);

    -- The source may be archived, and a list it names deleted since.
    v_errors := pliers._check_slug(p_slug) || pliers._check_form_attributes(p_name, NULL, NULL, NULL, NULL, NULL)
        || pg_catalog.to_jsonb(pliers._check_list_references(v_org, v_source.definition));
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the clone is not valid', v_errors);
    END IF;
    IF EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug::pliers.slug AND f.deleted_at IS NULL
    ) THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END IF;
    PERFORM pliers._check_quota('max_forms', 1, v_org);

    BEGIN
        INSERT INTO pliers.forms (
            organization_id, name, slug, version, status, visibility, definition, settings, permissions,
            category, tags, metadata, is_latest, created_by, updated_by
        ) VALUES (
            v_org, coalesce(p_name, v_source.name), p_slug, '1.0.0', 'draft', v_source.visibility,
            v_source.definition, v_source.settings, v_source.permissions, v_source.category, v_source.tags,
            v_source.metadata || pg_catalog.jsonb_build_object('cloned_from', pg_catalog.jsonb_build_object(
                'form_id', v_source.id, 'slug', v_source.slug, 'version', v_source.version
            )),
            TRUE, pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING * INTO v_form;
    EXCEPTION WHEN unique_violation THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.cloned',
        pliers._form_payload(v_form) || pg_catalog.jsonb_build_object(
            'cloned_from', pg_catalog.jsonb_build_object(
                'form_id', v_source.id, 'slug', v_source.slug, 'version', v_source.version
            )
        )
    );
    RETURN v_form;
END
$$;

-- The migration runner records the migration as itself.
RESET ROLE;

-- The published versions compiled again by the installing superuser, who sees every
-- tenant (_compile_validator is SECURITY DEFINER: the functions belong to pliers_owner),
-- with the code generator of this migration. The validators are dropped first: one that
-- is not compiled again (its definition not valid here) must not call what is gone.
DO $$
DECLARE
    v_validator regprocedure;
BEGIN
    FOR v_validator IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = 'pliers_validators'::regnamespace
    LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', v_validator);
    END LOOP;
    PERFORM pliers._compile_validator(f)
    FROM pliers.forms AS f
    WHERE f.status <> 'draft' AND f.deleted_at IS NULL
    ORDER BY f.organization_id, f.id;
END
$$;
