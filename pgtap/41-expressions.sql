-- Expressions (sql/41-expressions.sql, docs/expressions.md): _expr_check's errors with
-- their paths and codes, _expr_eval and _expr_sql on every operator, null propagation,
-- _resolve_ref, and the privileges. Pure functions: nothing is written.
BEGIN;
SELECT plan(50);

-- Helpers ---------------------------------------------------------------------

-- The references of the tests, with their types.
CREATE FUNCTION pg_temp.vars()
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT '{"n": "number", "m": "number", "s": "string", "b": "boolean", "d": "date", "t": "time",
             "dt": "datetime", "k": "ordinal", "c": "list:string", "items": "list:object",
             "items.price": "list:number", "h": "any", "f": "opaque", "first name": "string"}'::jsonb
$$;

-- The answers of the tests.
CREATE FUNCTION pg_temp.root()
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT '{"n": 3, "s": " Hi ", "b": true, "d": "2024-01-31", "t": "10:30", "dt": "2024-01-01T10:00:00+02:00",
             "k": "2", "c": ["x", "y"], "items": [{"price": 2}, {"price": null}, {"price": 5}], "h": "zz",
             "f": [{"id": 1}], "first name": "Ann"}'::jsonb
$$;

-- The errors of an expression as a JSON array of 'path code' strings.
CREATE FUNCTION pg_temp.errs(p_expr jsonb, p_expected text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT coalesce(jsonb_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY n), '[]')
    FROM pliers._expr_check(p_expr, '$.x', pg_temp.vars(), p_expected) AS c,
        unnest(c.errors) WITH ORDINALITY AS u (e, n)
$$;

-- The value of an expression on the answers, interpreted and compiled; the compiled SQL
-- reads every reference through _resolve_ref on the same answers. Raises when the two
-- differ.
CREATE FUNCTION pg_temp.ev(p_expr jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_refs jsonb;
    v_interpreted jsonb;
    v_compiled jsonb;
BEGIN
    SELECT jsonb_object_agg(r, format('pliers._resolve_ref(%L, $1, %L, %L, $1)', r, '{}', ''))
    INTO v_refs
    FROM jsonb_object_keys(pg_temp.vars()) AS r;
    v_interpreted := pliers._expr_eval(p_expr, pg_temp.root(), '{}', '', pg_temp.root());
    EXECUTE 'SELECT ' || pliers._expr_sql(p_expr, v_refs, pg_temp.vars()) INTO v_compiled USING pg_temp.root();
    IF v_interpreted IS DISTINCT FROM v_compiled THEN
        RAISE EXCEPTION 'interpreted % but compiled %', v_interpreted, v_compiled;
    END IF;
    RETURN v_interpreted;
END
$$;

-- Check errors -------------------------------------------------------------------

SELECT is(pg_temp.errs('{"+": [{"var": "n"}, 1]}'), '[]', 'a well-typed expression has no error');
SELECT is(pg_temp.errs('{"+": [1, "x"]}'), '["$.x.\"+\"[1] type_mismatch"]', 'type_mismatch at the argument');
SELECT is(pg_temp.errs('{"nope": [1]}'), '["$.x.nope unknown_operator"]', 'unknown_operator');
SELECT is(pg_temp.errs('{"a": 1, "b": 2}'), '["$.x invalid_expression"]', 'an object of two keys');
SELECT is(pg_temp.errs('[1]'), '["$.x invalid_expression"]', 'an array is not an expression');
SELECT is(pg_temp.errs('{"var": "zz"}'), '["$.x.var invalid_reference"]', 'an unknown path');
SELECT is(pg_temp.errs('{"var": "f"}'), '["$.x.var invalid_reference"]', 'an opaque field outside empty / count');
SELECT is(pg_temp.errs('{"count": {"var": "f"}}'), '[]', 'an opaque field counted');
SELECT is(pg_temp.errs('{"choice": "code"}'), '["$.x.choice invalid_reference"]', 'choice outside a choiceFilter');
SELECT is(pg_temp.errs('{"/": [1]}'), '["$.x.\"/\" wrong_argument_count"]', 'wrong_argument_count');
SELECT is(pg_temp.errs('{"if": [true, 1]}'), '["$.x.if wrong_argument_count"]', 'if takes an odd number');
SELECT is(pg_temp.errs('{"regex": [{"var": "s"}, "("]}'), '["$.x.regex[1] invalid_pattern"]', 'invalid_pattern');
SELECT is(pg_temp.errs('{"<": [{"var": "d"}, "2024-02-30"]}'), '["$.x.\"<\"[1] invalid_literal"]',
    'a date literal that does not parse');
SELECT is(pg_temp.errs('{"==": [{"var": "n"}, "3"]}'), '["$.x.\"==\" type_mismatch"]', 'a number is not a string');
SELECT is(pg_temp.errs('{">": [{"var": "k"}, 1]}'), '[]', 'an ordinal choice compares with a number');
SELECT is(pg_temp.errs('{"var": "n"}', 'boolean'), '["$.x type_mismatch"]', 'the expected type');
SELECT is(pg_temp.errs('{"date_add": [{"var": "d"}, 1, "days"]}'), '["$.x.date_add[2] invalid_literal"]',
    'a unit of date_add');
SELECT is(pg_temp.errs(('{"+": [' || repeat('1, ', 500) || '1]}')::jsonb), '["$.x expression_too_large"]',
    'more than expression_nodes nodes');
SELECT is(
    (SELECT c.refs FROM pliers._expr_check('{"+": [{"var": "n"}, {"var": "m"}, {"var": "n"}]}', '$.x', pg_temp.vars(), 'number') AS c),
    '{n,m}', 'the distinct paths referred to'
);
SELECT is(
    (SELECT c.type FROM pliers._expr_check('{"if": [true, {"var": "d"}, "2020-01-01"]}', '$.x', pg_temp.vars(), NULL) AS c),
    'date', 'a string literal beside a date is a date'
);

-- Evaluation: interpreted and compiled agree (ev raises if not) --------------------------

SELECT is(pg_temp.ev('{"+": [{"var": "n"}, 1, 0.5]}'), '4.5', '+');
SELECT is(pg_temp.ev('{"-": [{"var": "n"}]}'), '-3', 'unary -');
SELECT is(pg_temp.ev('{"/": [{"var": "n"}, 0]}'), NULL, 'a division by 0 is null');
SELECT is(pg_temp.ev('{"+": [{"var": "m"}, 1]}'), NULL, 'a missing operand makes null');
SELECT is(pg_temp.ev('{"%": [-7, {"var": "n"}]}'), '-1', '% has the sign of the dividend');
SELECT is(pg_temp.ev('{"round": [2.345, 2]}'), '2.35', 'round with digits');
SELECT is(pg_temp.ev('{"max": {"var": "items.price"}}'), '5', 'max of a list through a repeat');
SELECT is(pg_temp.ev('{"sum": {"var": "items.price"}}'), '7', 'sum skips the blanks');
SELECT is(pg_temp.ev('{"count": {"var": "items"}}'), '3', 'count of the items of a repeat');
SELECT is(pg_temp.ev('{"==": [{"var": "k"}, 2]}'), 'true', 'an ordinal code equals its number');
SELECT is(pg_temp.ev('{"==": [{"var": "m"}, null]}'), 'true', 'a missing answer equals null');
SELECT is(pg_temp.ev('{"<": [{"var": "m"}, 1]}'), 'false', 'a comparison with a missing answer is false');
SELECT is(pg_temp.ev('{"==": [{"var": "dt"}, "2024-01-01T08:00:00Z"]}'), 'true', 'date-times compare as instants');
SELECT is(pg_temp.ev('{"<": [{"var": "t"}, "09:00"]}'), 'false', 'times compare as times');
SELECT is(pg_temp.ev('{"or": [false, {"var": "b"}]}'), 'true', 'or');
SELECT is(pg_temp.ev('{"if": [{"var": "b"}, "a", "b"]}'), '"a"', 'if');
SELECT is(pg_temp.ev('{"cat": ["n=", {"var": "n"}, null]}'), '"n=3"', 'cat: null is empty');
SELECT is(pg_temp.ev('{"substr": ["abcdef", -4, -1]}'), '"cde"', 'substr from the end');
SELECT is(pg_temp.ev('{"trim": {"var": "s"}}'), '"Hi"', 'trim');
SELECT is(pg_temp.ev('{"regex": [{"var": "first name"}, "^A"]}'), 'true', 'regex, a path quoted');
SELECT is(pg_temp.ev('{"date_add": [{"var": "d"}, 1, "month"]}'), '"2024-02-29"', 'date_add clamps to the month');
SELECT is(pg_temp.ev('{"date_diff": ["2000-02-29", {"var": "d"}, "year"]}'), '23', 'date_diff in whole years');
SELECT is(pg_temp.ev('{"selected": [{"var": "c"}, "y"]}'), 'true', 'selected in a multiple choice');
SELECT is(pg_temp.ev('{"coalesce": [{"var": "m"}, 7]}'), '7', 'coalesce');
SELECT is(pg_temp.ev('{"in": [{"var": "s"}, ["a", " Hi "]]}'), 'true', 'in');
SELECT is(pg_temp.ev('{"empty": {"var": "f"}}'), 'false', 'empty of an opaque answer');

-- References and privileges ----------------------------------------------------------

SELECT is(
    pliers._resolve_ref('r.x', '{"r": [{"x": 1}, {"x": " "}, {"x": 4}]}', '{}', '', '{}'),
    '[1, 4]', 'a path through a repeat from outside it: the values of every item, blanks skipped'
);
-- One rule for times of day: the answers' (_is_time) and the expressions' (_expr_time).
SELECT is(
    (SELECT array_agg(x ORDER BY x) FILTER (WHERE pliers._is_time(x))
     FROM unnest(ARRAY['00:00', '23:59:59', '12:30:00.123456', '24:00', '7:05', '12:60', '12:00:00.1234567',
                       '12:00Z', '', NULL]) AS t (x)),
    ARRAY['00:00', '12:30:00.123456', '23:59:59'],
    '_is_time: HH:MM[:SS[.ffffff]], 24-hour clock, nothing else'
);
SELECT is(
    (SELECT count(*) FILTER (WHERE (pliers._expr_time(x) IS NOT NULL) <> pliers._is_time(x))
     FROM unnest(ARRAY['00:00', '23:59:59', '12:30:00.123456', '24:00', '7:05', '12:60', '12:00Z', '']) AS t (x)),
    0::bigint,
    '_expr_time reads exactly the times _is_time accepts'
);
SELECT ok(
    NOT has_function_privilege('pliers_app', 'pliers._is_time(text)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._expr_eval(jsonb, jsonb, jsonb, text, jsonb, jsonb)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._expr_check(jsonb, text, jsonb, text, boolean)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._expr_sql(jsonb, jsonb, jsonb)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._resolve_ref(text, jsonb, jsonb, text, jsonb)', 'EXECUTE'),
    'the expression functions are private'
);

SELECT * FROM finish();
ROLLBACK;
