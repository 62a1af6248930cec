-- Issue 17, finished: choice filters enforced on choice lists (data sets), condition
-- expressions and inline choice filters compiled, one time rule; choice lists purged
-- and audited, their items checked in proportion; export_columns gives each column's
-- JSON type.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/41-expressions.sql


CREATE OR REPLACE FUNCTION pliers._expr_time(p_value text)
RETURNS time
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN pliers._is_time(p_value) THEN p_value::time END
$$;

COMMENT ON FUNCTION pliers._expr_time(text) IS
'A time of day HH:MM[:SS[.ffffff]] (pliers._is_time) as time; NULL for anything else.';

-- sql/42-form-definitions.sql

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

-- sql/43-compiled-validators.sql

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._compile_expression(jsonb, jsonb, text, text, text, text);

CREATE FUNCTION pliers._compile_expression(
    p_expr jsonb, p_types jsonb, p_root text, p_context text, p_scope text, p_item text, p_choice text DEFAULT NULL
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH vars AS (
        SELECT pliers._expression_vars(p_types -> 'top', p_types -> 'by_repeat', p_scope) AS types
    ),
    refs AS (
        SELECT r.path, pliers._compile_ref(
            r.path, vars.types ->> r.path, p_scope,
            ARRAY(SELECT jsonb_object_keys(coalesce(p_types -> 'by_repeat', '{}'))), p_root, p_context, p_item
        ) AS sql, CASE pliers._expr_sql_repr(vars.types ->> r.path)
            WHEN 'numeric' THEN 'number' WHEN 'text' THEN 'string' WHEN 'boolean' THEN 'boolean'
        END AS json_type
        FROM vars, (SELECT DISTINCT v #>> '{}' AS path
                    FROM jsonb_path_query(p_expr, 'strict $.**.var ? (@.type() == "string")') AS v) AS r
    ),
    compiled AS (
        SELECT pliers._expr_sql(p_expr, coalesce((SELECT jsonb_object_agg(refs.path, refs.sql) FROM refs), '{}')
            || CASE WHEN p_choice IS NULL THEN '{}' ELSE jsonb_build_object('@choice', p_choice) END, vars.types) AS sql,
            (SELECT string_agg(format('coalesce(pg_catalog.jsonb_typeof(%s) IN (%L, ''null''), TRUE)', refs.sql,
                refs.json_type), ' AND ' ORDER BY refs.path) FROM refs WHERE refs.json_type IS NOT NULL) AS typed
        FROM vars
    )
    SELECT CASE WHEN compiled.typed IS NULL THEN compiled.sql ELSE format(
        'CASE WHEN %s THEN %s ELSE pliers._expr_eval(%L::jsonb, %s, %s, %L, %s, %s) END',
        compiled.typed, compiled.sql, p_expr, p_root, p_context, p_scope, p_item, coalesce(p_choice, 'NULL')
    ) END
    FROM compiled
$$;

COMMENT ON FUNCTION pliers._compile_expression(jsonb, jsonb, text, text, text, text, text) IS
'Private (code generation): the SQL (jsonb-valued) of a checked expression in a compiled validator, equal to '
'pliers._expr_eval on the same answers: its paths read as pliers._resolve_ref reads them (pliers._compile_ref) from '
'the SQL p_root, p_context, p_item of the instance (scope p_scope), typed by p_types ({top, by_repeat} of '
'pliers._check_form_expressions); p_choice: the SQL of the choice that {"choice": ...} reads (choice filters). '
'When an answer read is not of its field''s JSON type, the expression is interpreted (pliers._expr_eval).';

REVOKE ALL ON FUNCTION pliers._compile_expression(jsonb, jsonb, text, text, text, text, text) FROM public;

CREATE FUNCTION pliers._compile_condition(
    p_condition jsonb, p_types jsonb, p_root text, p_context text, p_scope text, p_item text
)
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    -- _eval_condition's order: a field leaf first, then expression, all, any, not.
    IF p_condition ->> 'field' IS NOT NULL OR NOT pg_catalog.jsonb_path_exists(p_condition, 'strict $.**.expression') THEN
        RETURN pg_catalog.format(
            'pliers._eval_condition(%L::jsonb, %s, %s, %L, %s)', p_condition, p_root, p_context, p_scope, p_item);
    ELSIF p_condition ? 'expression' THEN
        RETURN pg_catalog.format('coalesce((%s) = ''true''::jsonb, FALSE)', pliers._compile_expression(
            p_condition -> 'expression', p_types, p_root, p_context, p_scope, p_item));
    ELSIF p_condition ? 'all' OR p_condition ? 'any' THEN
        RETURN '(' || CASE WHEN p_condition ? 'all' THEN 'TRUE' ELSE 'FALSE' END || (
            SELECT coalesce(pg_catalog.string_agg(
                CASE WHEN p_condition ? 'all' THEN ' AND ' ELSE ' OR ' END
                    || pliers._compile_condition(c.part, p_types, p_root, p_context, p_scope, p_item), '' ORDER BY c.n), '')
            FROM pg_catalog.jsonb_array_elements(
                CASE WHEN p_condition ? 'all' THEN p_condition -> 'all' ELSE p_condition -> 'any' END
            ) WITH ORDINALITY AS c (part, n)
        ) || ')';
    ELSIF p_condition ? 'not' THEN
        RETURN '(NOT ' || pliers._compile_condition(p_condition -> 'not', p_types, p_root, p_context, p_scope, p_item) || ')';
    END IF;
    RETURN 'FALSE';
END
$$;

COMMENT ON FUNCTION pliers._compile_condition(jsonb, jsonb, text, text, text, text) IS
'Private (code generation): the SQL boolean (never NULL) of a checked condition in a compiled validator, equal to '
'pliers._eval_condition(p_condition, <p_root>, <p_context>, p_scope, <p_item>): expression leaves compiled '
'(pliers._compile_expression, types p_types), all / any / not as AND / OR / NOT, parts without an expression leaf '
'one call of pliers._eval_condition.';

REVOKE ALL ON FUNCTION pliers._compile_condition(jsonb, jsonb, text, text, text, text) FROM public;

CREATE OR REPLACE FUNCTION pliers._compile_instance(
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
                CASE WHEN f_cond[v_i] IS NULL THEN 'TRUE' ELSE pliers._compile_condition(
                    f_cond[v_i], p_types, v_eval_root, v_context, p_scope, v_clean) END,
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
                WHEN f_field[v_i] ? 'requiredWhen' THEN pliers._compile_condition(
                    f_field[v_i] -> 'requiredWhen', p_types, 'v_root', v_context, p_scope, v_clean)
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
            -- Inline choices (a list's are pliers._check_list_answers'): each code chosen
            -- looked up among the choices, constants here ({code: {code, attributes}}), and
            -- the compiled filter evaluated on that choice, as _check_expression_rules does.
            IF f_field[v_i] ? 'choiceFilter' AND pg_catalog.jsonb_typeof(f_field[v_i] -> 'choices') = 'array' THEN
                v_checks := v_checks || pg_catalog.format(
                    'IF NOT pliers._is_blank(a%1$s) THEN FOR q%1$s IN 0 .. CASE WHEN pg_catalog.jsonb_typeof(a%1$s) = '
                    '''array'' THEN pg_catalog.jsonb_array_length(a%1$s) - 1 ELSE 0 END LOOP' || E'\n'
                    'v_c := CASE WHEN pg_catalog.jsonb_typeof(a%1$s) = ''array'' THEN a%1$s -> q%1$s ELSE a%1$s END; '
                    'v_choice := CASE WHEN pg_catalog.jsonb_typeof(v_c) = ''string'' THEN %2$L::jsonb -> (v_c #>> ''{}'') END;'
                    || E'\nIF v_choice IS NOT NULL AND (%3$s) IS DISTINCT FROM ''true''::jsonb THEN ',
                    v_k,
                    (SELECT pg_catalog.jsonb_object_agg(c.choice ->> 'code',
                        pg_catalog.jsonb_build_object('code', c.choice -> 'code') || CASE WHEN c.choice ? 'attributes'
                            THEN pg_catalog.jsonb_build_object('attributes', c.choice -> 'attributes') ELSE '{}' END)
                     FROM pg_catalog.jsonb_array_elements(f_field[v_i] -> 'choices') AS c (choice)),
                    pliers._compile_expression(
                        f_field[v_i] -> 'choiceFilter', p_types, 'v_root', v_context, p_scope, v_clean, 'v_choice'))
                    || pliers._compile_error(
                        pg_catalog.format('%s || CASE WHEN pg_catalog.jsonb_typeof(a%s) = ''array'' THEN ''['' || q%2$s || '']'' ELSE '''' END',
                            v_path, v_k),
                        'choice_filtered_out',
                        'pg_catalog.format(''%s is not among the choices offered by the other answers'', v_c)')
                    || E'END IF; END LOOP; END IF;\n';
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
        'v_c jsonb; v_choice jsonb;\n'
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

-- sql/44-choice-lists.sql

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._is_translatable_text(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._list_answer_attributes(uuid, jsonb, jsonb);

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

-- Its result columns change: dropped and created.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._list_answers(jsonb, jsonb);

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

REVOKE ALL ON FUNCTION pliers._list_answers(jsonb, jsonb) FROM public;

CREATE OR REPLACE FUNCTION pliers._check_list_answers(p_org uuid, p_definition jsonb, p_cleaned jsonb)
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

-- sql/55-submissions-api.sql

-- Its result columns change: dropped and created.
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

-- The published versions compiled again with this code generator (as 0033 does).
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
