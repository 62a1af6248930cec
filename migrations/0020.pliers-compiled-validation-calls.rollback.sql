-- Undo 0020: create_submission and import_submissions as 0019 left them.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/57-submission-import.sql
CREATE OR REPLACE FUNCTION pliers.import_submissions(p_form_id uuid, p_rows pliers.submission_import[])
RETURNS TABLE (row_index integer, id uuid, submission_number text, external_id text, created boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user constant uuid := pliers.current_user_id();
    v_now constant timestamptz := pg_catalog.now();
    v_ip inet;
    v_agent text;
    v_form pliers.forms;
    v_total integer;
    v_errors jsonb := '[]';
    v_error_count bigint := 0;
    v_conflicts jsonb;
    v_skip boolean[];
    v_skip_rows integer[] := '{}';
    v_skip_ids uuid[];
    v_skip_numbers text[];
    v_skip_external_ids text[];
    v_rows pliers.submission_import[];
    v_created pliers.submissions[];
    v_event uuid;
    v_ords integer[];
    v_count integer;
    v_last timestamptz;
    v_constraint text;
    v_key text;
BEGIN
    SELECT r.ip_address, r.user_agent INTO v_ip, v_agent FROM pliers.current_request() AS r;
    v_form := pliers._get_form(v_org, p_form_id);
    IF p_rows IS NULL THEN
        PERFORM pliers._raise_invalid(
            'rows is required',
            pg_catalog.jsonb_build_array(pliers._form_error('rows', 'required', 'the rows are required'))
        );
    END IF;
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);
    v_total := coalesce(pg_catalog.cardinality(p_rows), 0);

    -- External ids. Duplicates inside the batch are errors (PL001, with those below); an
    -- id of another form's submission is PL003 (as in create_submission); a row whose id
    -- exists for this form is skipped and returned with that submission (a retry).
    IF EXISTS (SELECT FROM pg_catalog.unnest(p_rows) AS r WHERE r.external_id IS NOT NULL) THEN
        SELECT
            coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'row', d.ord, 'path', 'external_id', 'code', 'duplicate',
                'message', pg_catalog.format('external id %s is also on row %s', pg_catalog.to_json(d.external_id), d.first)
            ) ORDER BY d.ord), '[]'),
            pg_catalog.count(*)
        INTO v_errors, v_error_count
        FROM (
            SELECT r.ord, r.external_id, pg_catalog.min(r.ord) OVER (PARTITION BY r.external_id) AS first
            FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
                data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
            )
            WHERE r.external_id IS NOT NULL
        ) AS d
        WHERE d.ord <> d.first;

        SELECT
            pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'row', r.ord, 'external_id', r.external_id, 'id', s.id, 'form_id', s.form_id
            ) ORDER BY r.ord) FILTER (WHERE s.form_id <> v_form.id),
            coalesce(pg_catalog.array_agg(r.ord::integer ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id), '{}'),
            pg_catalog.array_agg(s.id ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id),
            pg_catalog.array_agg(s.submission_number ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id),
            pg_catalog.array_agg(s.external_id ORDER BY r.ord) FILTER (WHERE s.form_id = v_form.id)
        INTO v_conflicts, v_skip_rows, v_skip_ids, v_skip_numbers, v_skip_external_ids
        FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
            data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
        )
        INNER JOIN pliers.submissions AS s ON s.organization_id = v_org AND s.external_id = r.external_id
        WHERE r.external_id IS NOT NULL
            AND pliers.submission_visible(
                s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), v_user
            );
        IF v_conflicts IS NOT NULL THEN
            RAISE EXCEPTION 'external id % belongs to a submission of another form', v_conflicts -> 0 ->> 'external_id'
                USING
                    ERRCODE = 'PL003',
                    DETAIL = (
                        pg_catalog.jsonb_build_object('object', 'submission')
                        || (v_conflicts -> 0)
                        || pg_catalog.jsonb_build_object(
                            'conflicts', pg_catalog.jsonb_path_query_array(v_conflicts, '$[0 to 99]'),
                            'conflict_count', pg_catalog.jsonb_array_length(v_conflicts)
                        )
                    )::text,
                    HINT = 'An external id names one submission of the organization, of one form.';
        END IF;
        IF v_skip_rows <> '{}' THEN
            -- One flag per row, looked up by index below (an expanded array: O(1)).
            v_skip := pg_catalog.array_fill(FALSE, ARRAY[v_total]);
            FOR v_i IN 1 .. pg_catalog.cardinality(v_skip_rows) LOOP
                v_skip[v_skip_rows[v_i]] := TRUE;
            END LOOP;
        END IF;
    END IF;

    IF v_total > pg_catalog.cardinality(v_skip_rows) THEN
        PERFORM pliers._require_accepting(v_form);
    END IF;

    -- Every row not skipped: checked, and its answers validated and cleaned in one pass
    -- over the definition (_check_submission_data, as create_submission), its defaults
    -- filled in. The valid rows are kept for the insert, in row order (unnest and the
    -- nested loops keep the array's order: no sort of the wide rows).
    SELECT
        v_errors || coalesce(pg_catalog.jsonb_agg(e.error ORDER BY c.ord, e.n) FILTER (WHERE e.n IS NOT NULL), '[]'),
        v_error_count + pg_catalog.count(e.n),
        pg_catalog.array_agg(c.checked) FILTER (WHERE e.n IS NULL),
        pg_catalog.array_agg(c.ord) FILTER (WHERE e.n IS NULL),
        pg_catalog.max((c.checked).created_at) FILTER (WHERE e.n IS NULL)
    INTO v_errors, v_error_count, v_rows, v_ords, v_last
    FROM (
        SELECT
            r.ord::integer AS ord,
            pliers._check_import_row(
                r.status, r.external_id, r.metadata, r.tags, r.source, r.created_at, r.submitted_at, v_now
            ) || p.errors AS errors,
            ROW(
                p.cleaned, coalesce(r.status, 'submitted'), r.external_id, coalesce(r.metadata, '{}'),
                coalesce(r.tags, '{}'), coalesce(r.source, 'import'),
                coalesce(r.created_at, r.submitted_at, v_now),
                CASE WHEN r.status IS DISTINCT FROM 'draft' THEN coalesce(r.submitted_at, r.created_at, v_now) END
            )::pliers.submission_import AS checked
        FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
            data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
        )
        CROSS JOIN LATERAL pliers._check_submission_data(
            v_form.definition, coalesce(r.data, '{}'), r.status IS DISTINCT FROM 'draft', '{}'
        ) AS p
        WHERE v_skip IS NULL OR NOT v_skip[r.ord]
    ) AS c
    LEFT JOIN LATERAL pg_catalog.jsonb_array_elements(c.errors) WITH ORDINALITY AS x (error, n) ON TRUE
    CROSS JOIN LATERAL (SELECT x.n, x.error || pg_catalog.jsonb_build_object('row', c.ord) AS error) AS e;
    IF v_error_count > 0 THEN
        -- The first 100 in row order, and how many there are.
        SELECT pg_catalog.jsonb_agg(x.error ORDER BY (x.error ->> 'row')::integer, x.n)
        INTO v_errors
        FROM (
            SELECT x.error, x.n
            FROM pg_catalog.jsonb_array_elements(v_errors) WITH ORDINALITY AS x (error, n)
            ORDER BY (x.error ->> 'row')::integer, x.n
            LIMIT 100
        ) AS x;
        PERFORM pliers._raise_invalid(
            pg_catalog.format('%s errors in the rows: nothing was imported', v_error_count),
            v_errors,
            pg_catalog.jsonb_build_object('error_count', v_error_count, 'row_count', v_total)
        );
    END IF;

    RETURN QUERY
    SELECT k.row_index, k.id, k.submission_number, k.external_id, FALSE
    FROM ROWS FROM (
        pg_catalog.unnest(v_skip_rows), pg_catalog.unnest(v_skip_ids), pg_catalog.unnest(v_skip_numbers),
        pg_catalog.unnest(v_skip_external_ids)
    ) AS k (row_index, id, submission_number, external_id);

    v_count := coalesce(pg_catalog.cardinality(v_rows), 0);
    IF v_count = 0 THEN
        RETURN;
    END IF;
    PERFORM pliers._check_quota('max_submissions_per_month', v_count, v_org);

    BEGIN
        -- Numbered in row order: v_rows is scanned in array order, and each number is drawn
        -- as its row is inserted. Created submitted: two changes, so revision 2.
        WITH ins AS (
            INSERT INTO pliers.submissions (
                organization_id, form_id, submission_number, external_id, status, data, is_valid,
                validation_errors, submitted_by, created_at, submitted_at, source, ip_address, user_agent,
                metadata, tags, revision
            )
            SELECT
                v_org, v_form.id, pliers._next_submission_number(v_org), r.external_id, r.status, r.data,
                f.errors = '[]', f.errors, v_user, r.created_at, r.submitted_at, r.source, v_ip, v_agent,
                r.metadata, r.tags, CASE WHEN r.status = 'draft' THEN 1 ELSE 2 END
            FROM pg_catalog.unnest(v_rows) AS r
            CROSS JOIN LATERAL (
                -- A draft records whether it could be submitted as it is (create_submission).
                SELECT CASE
                    WHEN r.status = 'draft' THEN pliers.validate_submission_data(v_form.definition, r.data, TRUE, '{}')
                    ELSE '[]'::jsonb
                END AS errors
            ) AS f
            RETURNING *
        )
        -- RETURNING gives the rows in insert order: v_created[k] is row v_ords[k].
        SELECT pg_catalog.array_agg(i::pliers.submissions) INTO v_created FROM ins AS i;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent import or create_submission took an external id of these rows (or a
        -- number was taken without the API): nothing is written; a retry skips the rows
        -- that exist then.
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME, v_key = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'the import conflicts with an existing submission (%)', v_constraint
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'submission', 'constraint', v_constraint, 'key', v_key
                )::text,
                HINT = 'Retry the import: rows whose external id exists for this form are skipped.';
    END;

    -- Events, as create_submission appends them. The first by pliers._append_event; the
    -- others in one INSERT that copies its context columns (organization, correlation,
    -- user, session, address, user agent: one transaction, one context), so that the
    -- context is read in one place only and the partitioned table is entered once.
    v_event := pliers._append_event(
        'submission', (v_created[1]).id, 1, 'submission.created',
        pliers._submission_created_payload(v_created[1], v_form)
    );
    INSERT INTO pliers.events (
        id, organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
        correlation_id, causation_id, user_id, session_id, ip_address, user_agent
    )
    SELECT
        e.id, t.organization_id, e.event_type, 'submission', (c.s).id, e.version, e.payload,
        t.correlation_id, e.causation_id, t.user_id, t.session_id, t.ip_address, t.user_agent
    FROM pliers.events AS t
    CROSS JOIN (
        SELECT u AS s, pg_catalog.row_number() OVER () AS i FROM pg_catalog.unnest(v_created) AS u
    ) AS c
    CROSS JOIN LATERAL (
        SELECT CASE WHEN c.i = 1 THEN v_event ELSE pg_catalog.gen_random_uuid() END AS id
    ) AS k
    CROSS JOIN LATERAL (
        VALUES
        (
            1, k.id, 'submission.created', pliers._submission_created_payload(c.s, v_form), NULL::uuid
        ),
        (
            2, pg_catalog.gen_random_uuid(), 'submission.submitted',
            pliers._submission_submitted_payload(c.s), k.id
        )
    ) AS e (version, id, event_type, payload, causation_id)
    WHERE
        t.organization_id = v_org AND t.id = v_event AND t.event_timestamp = v_now
        AND ((e.version = 1 AND c.i > 1) OR (e.version = 2 AND (c.s).status = 'submitted'));

    RETURN QUERY
    SELECT v_ords[c.i], (c.s).id, (c.s).submission_number::text, (c.s).external_id::text, TRUE
    FROM (
        SELECT u AS s, pg_catalog.row_number() OVER () AS i FROM pg_catalog.unnest(v_created) AS u
    ) AS c;

    INSERT INTO pliers.form_counters AS c (organization_id, form_id, slot, submission_count, last_submission_at)
    VALUES (v_org, v_form.id, pliers._counter_slot(), v_count, v_last)
    ON CONFLICT (organization_id, form_id, slot) DO UPDATE
    SET
        submission_count = c.submission_count + excluded.submission_count,
        last_submission_at = greatest(c.last_submission_at, excluded.last_submission_at);
    PERFORM pliers._count_usage(v_org, 'submissions', v_count);
END
$$;

COMMENT ON FUNCTION pliers.import_submissions(uuid, pliers.submission_import[]) IS
'Bulk import: creates one submission per element of p_rows (pliers.submission_import; its index, from 1, is the '
'row) to form version p_form_id, all or nothing. The rules of create_submission: permission submission.create on '
'the form, the form published or deprecated (PL001 form_not_published), every row''s answers validated against '
'the pinned version (final for submitted rows, as a draft for drafts) and stored cleaned, numbered in row order, '
'one quota check for the batch (PL007), the counters once, the events of create_submission per row '
'(submission.created, and submission.submitted for a submitted row). PL001 when any row is invalid: DETAIL '
'{errors: the first 100 [{row, path, code, message}] in row order, error_count, row_count}; duplicate external ids '
'in the batch are errors (code duplicate). A row whose external id exists for this form is skipped (idempotent '
'retries); an external id of another form''s submission is PL003 (DETAIL {object, row, external_id, id, form_id, '
'conflicts: the first 100, conflict_count}), and so is a clash with a submission created concurrently (DETAIL '
'{object, constraint, key}: retry). Returns one row per row of p_rows: its row_index, the submission id, number '
'and external id, and created (false: skipped). PL002, PL006, PL008; p_rows NULL: PL001 (path rows).';

-- sql/55-submissions-api.sql
CREATE OR REPLACE FUNCTION pliers.create_submission(
    p_form_id uuid,
    p_data jsonb DEFAULT '{}',
    p_submit boolean DEFAULT FALSE,
    p_external_id text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}',
    p_tags text[] DEFAULT '{}',
    p_source text DEFAULT 'web',
    p_expires_at timestamptz DEFAULT NULL,
    p_referrer text DEFAULT NULL
)
RETURNS pliers.submissions
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submit constant boolean := coalesce(p_submit, FALSE);
    v_form pliers.forms;
    v_errors jsonb;
    v_data jsonb;
    v_final_errors jsonb;
    v_submission pliers.submissions;
    v_attempt integer := 0;
    v_request record;
BEGIN
    -- The tenant is passed on to the helpers as a value: the context is verified a few
    -- times per call, not once per helper.
    SELECT r.user_id, r.ip_address, r.user_agent INTO v_request FROM pliers.current_request() AS r;
    v_form := pliers._get_form(v_org, p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);

    -- Idempotency: a retry with a known external id gets the existing submission.
    IF p_external_id IS NOT NULL THEN
        SELECT s.* INTO v_submission
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.external_id = p_external_id
            AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), pliers.current_user_id());
        IF FOUND THEN
            IF v_submission.form_id <> v_form.id THEN
                RAISE EXCEPTION 'external id % belongs to a submission of another form', p_external_id
                    USING
                        ERRCODE = 'PL003',
                        DETAIL = pg_catalog.jsonb_build_object(
                            'object', 'submission', 'external_id', p_external_id, 'id', v_submission.id,
                            'form_id', v_submission.form_id
                        )::text;
            END IF;
            RETURN v_submission;
        END IF;
    END IF;

    PERFORM pliers._require_accepting(v_form);
    SELECT
        d.cleaned,
        pliers._check_submission_attributes(
            coalesce(p_metadata, 'null'), coalesce(p_tags, ARRAY[NULL]::text[]), coalesce(p_source, ''), p_external_id
        ) || d.errors
    INTO v_data, v_errors
    FROM pliers._check_submission_data(v_form.definition, coalesce(p_data, '{}'), v_submit, '{}') AS d;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the submission is not valid', v_errors);
    END IF;
    v_final_errors := CASE
        WHEN v_submit THEN '[]'
        ELSE pliers.validate_submission_data(v_form.definition, v_data, TRUE, '{}')
    END;

    PERFORM pliers._check_quota('max_submissions_per_month', 1, v_org);

    LOOP
        -- ON CONFLICT DO NOTHING, no arbiter: a concurrent creator of the same external id
        -- (or a number already taken by a row inserted without the API) makes this a no-op.
        -- Created and submitted in one call: two changes (created, submitted), so revision 2.
        INSERT INTO pliers.submissions (
            organization_id, form_id, submission_number, external_id, status, data, is_valid,
            validation_errors, submitted_by, submitted_at, expires_at, source, ip_address, user_agent, referrer,
            metadata, tags, revision
        ) VALUES (
            v_org, v_form.id, pliers._next_submission_number(v_org), p_external_id,
            CASE WHEN v_submit THEN 'submitted' ELSE 'draft' END::pliers.submission_status,
            v_data, v_final_errors = '[]', v_final_errors, v_request.user_id,
            CASE WHEN v_submit THEN pg_catalog.now() END, p_expires_at, p_source,
            v_request.ip_address,
            v_request.user_agent,
            p_referrer, p_metadata, p_tags, CASE WHEN v_submit THEN 2 ELSE 1 END
        )
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_submission;
        EXIT WHEN FOUND;

        IF p_external_id IS NOT NULL THEN
            SELECT s.* INTO v_submission
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.external_id = p_external_id
                AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, pliers.current_permissions(), pliers.current_user_id());
            IF FOUND AND v_submission.form_id = v_form.id THEN
                RETURN v_submission;  -- the concurrent creator won: idempotent result
            END IF;
        END IF;
        v_attempt := v_attempt + 1;
        IF v_attempt >= 5 THEN
            RAISE EXCEPTION 'the submission conflicts with an existing one'
                USING
                    ERRCODE = 'PL003',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'object', 'submission', 'external_id', p_external_id, 'id', v_submission.id
                    )::text,
                    HINT = 'The external id belongs to a submission you cannot see or to another form.';
        END IF;
    END LOOP;

    -- Counters: one slot row each, never the forms row.
    INSERT INTO pliers.form_counters AS c (organization_id, form_id, slot, submission_count, last_submission_at)
    VALUES (v_org, v_form.id, pliers._counter_slot(), 1, v_submission.created_at)
    ON CONFLICT (organization_id, form_id, slot) DO UPDATE
    SET
        submission_count = c.submission_count + 1,
        last_submission_at = greatest(c.last_submission_at, excluded.last_submission_at);
    PERFORM pliers._count_usage(v_org, 'submissions', 1);

    IF v_submit THEN
        PERFORM pliers._append_events(
            'submission', v_submission.id, 1, ARRAY['submission.created', 'submission.submitted'],
            ARRAY[
                pliers._submission_created_payload(v_submission, v_form),
                pliers._submission_submitted_payload(v_submission)
            ]
        );
    ELSE
        PERFORM pliers._append_event(
            'submission', v_submission.id, 1, 'submission.created',
            pliers._submission_created_payload(v_submission, v_form)
        );
    END IF;
    RETURN v_submission;
END
$$;

COMMENT ON FUNCTION pliers.create_submission(uuid, jsonb, boolean, text, jsonb, text[], text, timestamptz, text) IS
'Creates a submission to form version p_form_id (published or deprecated; else PL001 code form_not_published), '
'pinned to that version: a draft, or submitted when p_submit. p_data is validated against that version''s '
'definition (drafts with p_final => false: required rules wait for submission) and stored cleaned '
'(clean_submission_data); PL001 lists every error with its path ($.data.<field>). Numbered S-000123 per '
'organization (see pliers._next_submission_number). p_external_id makes creation idempotent: when a submission '
'of the tenant has it, that submission is returned unchanged, also when a concurrent call created it (PL003 when '
'it belongs to another form). Counts: form_counters and usage_counters slots, never the forms row. Permission '
'submission.create on the form (organization role, form role, collaborator, or the form''s visibility). PL002, '
'PL006, PL007 (max_submissions_per_month), PL008. Appends submission.created (aggregate_version 1, payload: the '
'business fields of the draft) and, when submitted, submission.submitted (aggregate_version 2, caused by the first): '
'a submission created submitted starts at revision 2.';

RESET ROLE;
