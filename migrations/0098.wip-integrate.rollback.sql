-- WIP
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;
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
        IF v_error ->> 'code' NOT IN ('consent_required', 'too_few_items', 'other_text_required') THEN
            v_kept := v_kept || v_error;
        END IF;
    END LOOP;
    RETURN v_kept;
END
$$;

COMMENT ON FUNCTION pliers._draft_errors(jsonb[]) IS
'Private: the errors of a final check of one answer (pliers._check_answer, p_final TRUE) that a draft check also '
'reports: all but consent_required, too_few_items and other_text_required, in order.';

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

-- sql/42-form-definitions.sql

DROP FUNCTION pliers._field_expression_type(jsonb, text, jsonb);

DROP FUNCTION pliers._index_expression_types(jsonb, jsonb);

DROP FUNCTION pliers._field_expressions(jsonb, text, text);

DROP FUNCTION pliers._expression_vars(jsonb, jsonb, text);

DROP FUNCTION pliers._check_form_expressions(jsonb);

DROP FUNCTION pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text, jsonb);

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
        IF p_condition ? 'all' THEN
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
        -- Anything to drop? Usually not, and the answers are kept as they are.
        v_drop := p_raw - string_to_array(v_root_known, ',') <> '{}'::jsonb;
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
                    OR s_kind[v_i] IN ('display', 'calculated');
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

        EXIT WHEN NOT v_has_conditions;
        v_rounds := v_rounds + 1;
        EXIT WHEN v_rounds > v_n + 1;  -- only an invalid (cyclic) definition gets here
        v_changed := FALSE;
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
        ELSIF v_kind IN ('display', 'group') OR (v_kind = 'calculated' AND v_ref ->> 'role' <> 'calc') THEN
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

DROP FUNCTION pliers._expr_sql(jsonb, jsonb, jsonb);
DROP FUNCTION pliers._expr_sql_node(jsonb, jsonb, jsonb);
DROP FUNCTION pliers._expr_sql_as(text, text, text);
DROP FUNCTION pliers._expr_sql_repr(text);
DROP FUNCTION pliers._expr_eval(jsonb, jsonb, jsonb, text, jsonb, jsonb);
DROP FUNCTION pliers._expr_check(jsonb, text, jsonb, text, boolean);
DROP FUNCTION pliers._expr_type(jsonb, text, jsonb, boolean, boolean, jsonb[], text[]);
DROP FUNCTION pliers._expr_literal_ok(text, text);
DROP FUNCTION pliers._expr_join_type(text[]);
DROP FUNCTION pliers._expr_cmp_kind(text, boolean, text, boolean);
DROP FUNCTION pliers._expr_arity(text);
DROP FUNCTION pliers._resolve_ref(text, jsonb, jsonb, text, jsonb);
DROP FUNCTION pliers._expr_in(jsonb, jsonb);
DROP FUNCTION pliers._expr_eq(jsonb, jsonb);
DROP FUNCTION pliers._expr_cmp(jsonb, jsonb);
DROP FUNCTION pliers._expr_date_diff(text, text, text);
DROP FUNCTION pliers._expr_date_add(text, numeric, text);
DROP FUNCTION pliers._expr_instant(text);
DROP FUNCTION pliers._expr_time(text);
DROP FUNCTION pliers._expr_ordnum(text);
DROP FUNCTION pliers._expr_selected(jsonb, text);
DROP FUNCTION pliers._expr_substr(text, numeric, numeric);
DROP FUNCTION pliers._expr_substr(text, numeric);
DROP FUNCTION pliers._expr_nonblank(jsonb);
DROP FUNCTION pliers._expr_length(jsonb);
DROP FUNCTION pliers._expr_count(jsonb);
DROP FUNCTION pliers._expr_list_agg(jsonb, text);
DROP FUNCTION pliers._expr_max(numeric[]);
DROP FUNCTION pliers._expr_min(numeric[]);
DROP FUNCTION pliers._expr_round(numeric, numeric);
DROP FUNCTION pliers._expr_mod(numeric, numeric);
DROP FUNCTION pliers._expr_div(numeric, numeric);
DROP FUNCTION pliers._expr_mul(numeric, numeric);
DROP FUNCTION pliers._expr_sub(numeric, numeric);
DROP FUNCTION pliers._expr_add(numeric, numeric);
DROP FUNCTION pliers._expr_nb(text);
DROP FUNCTION pliers._expr_bool(jsonb);
DROP FUNCTION pliers._expr_txt(jsonb);
DROP FUNCTION pliers._expr_num(jsonb);
DROP FUNCTION pliers._expr_val(jsonb);
RESET ROLE;
