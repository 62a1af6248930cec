-- Bulk import of submissions (issue 7; docs/api.md, "Bulk import"). The caller COPYs
-- its rows into a temporary table of its own, then passes them as one array to
-- pliers.import_submissions, which checks them all and inserts them set-based:
--
--     BEGIN;
--     SELECT pliers.set_context(:organization_id, :user_id);
--     CREATE TEMPORARY TABLE staging (LIKE pliers.submission_import) ON COMMIT DROP;
--     COPY staging (data, external_id, submitted_at) FROM STDIN;
--     SELECT * FROM pliers.import_submissions(
--         :form_id, ARRAY(SELECT ROW(s.*)::pliers.submission_import FROM staging AS s)
--     );
--     COMMIT;
--
-- The rows travel as a value, so the SECURITY DEFINER function never reads the caller's
-- table (it could not: a temporary table belongs to its session's role).
--
-- The rules are those of pliers.create_submission, applied once per batch where they do
-- not depend on the row: tenant context, live form version, permission submission.create,
-- the form accepting submissions, quota, counters. Per row: external-id idempotency,
-- validation and cleaning against the pinned version, numbering, events (same types and
-- payloads, so time travel rebuilds an imported submission), and the audit trigger of
-- pliers.submissions. All or nothing.

CREATE TYPE pliers.submission_import AS (
    data jsonb,
    status pliers.submission_status,
    external_id text,
    metadata jsonb,
    tags text [],
    source text,
    created_at timestamptz,
    submitted_at timestamptz
);

COMMENT ON TYPE pliers.submission_import IS
'One row of a bulk import (pliers.import_submissions), and the shape of the caller''s staging table: '
'CREATE TEMPORARY TABLE staging (LIKE pliers.submission_import). A NULL attribute takes its default.';
COMMENT ON COLUMN pliers.submission_import.data IS
'The answers (NULL: {}), validated and stored cleaned as by create_submission';
COMMENT ON COLUMN pliers.submission_import.status IS 'draft or submitted (NULL: submitted)';
COMMENT ON COLUMN pliers.submission_import.external_id IS
'Identifier in the source system, optional; a row whose external id exists already for this form is skipped';
COMMENT ON COLUMN pliers.submission_import.metadata IS 'A JSON object (NULL: {})';
COMMENT ON COLUMN pliers.submission_import.tags IS 'Tags (NULL: none)';
COMMENT ON COLUMN pliers.submission_import.source IS 'The channel, 1 to 50 characters (NULL: import)';
COMMENT ON COLUMN pliers.submission_import.created_at IS
'When it was created in the source system, not in the future (NULL: submitted_at, else the transaction time)';
COMMENT ON COLUMN pliers.submission_import.submitted_at IS
'When it was submitted in the source system, not before created_at nor in the future (NULL: created_at, else the '
'transaction time); NULL for a draft';

CREATE FUNCTION pliers._check_import_row(
    p_status pliers.submission_status,
    p_external_id text,
    p_metadata jsonb,
    p_tags text[],
    p_source text,
    p_created_at timestamptz,
    p_submitted_at timestamptz,
    p_now timestamptz
)
RETURNS jsonb
LANGUAGE sql
STABLE
AS $$
    -- Inlined into the caller's query (a plain SQL expression): no call per row, and
    -- _check_submission_attributes only for rows that bring attributes. STABLE, as
    -- jsonb_build_array and format are: an IMMUTABLE SQL function is not inlined.
    SELECT
        CASE
            WHEN p_external_id IS NULL AND p_metadata IS NULL AND p_tags IS NULL AND p_source IS NULL THEN '[]'::jsonb
            ELSE pliers._check_submission_attributes(
                coalesce(p_metadata, '{}'), coalesce(p_tags, '{}'), coalesce(p_source, 'import'), p_external_id
            )
        END
        || CASE
            WHEN p_status NOT IN ('draft', 'submitted') THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'status', 'invalid', pg_catalog.format('an import creates drafts or submitted submissions, not %s', p_status)
            ))
            WHEN p_status = 'draft' AND p_submitted_at IS NOT NULL THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'submitted_at', 'invalid', 'a draft has no submitted_at'
            ))
            ELSE '[]'::jsonb
        END
        || CASE
            WHEN p_created_at > p_now THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'created_at', 'invalid', 'created_at is in the future'
            ))
            ELSE '[]'::jsonb
        END
        || CASE
            WHEN p_submitted_at > p_now THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'submitted_at', 'invalid', 'submitted_at is in the future'
            ))
            WHEN p_submitted_at < p_created_at THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'submitted_at', 'invalid', 'submitted_at is before created_at'
            ))
            ELSE '[]'::jsonb
        END
$$;

COMMENT ON FUNCTION pliers._check_import_row(
    pliers.submission_status, text, jsonb, text[], text, timestamptz, timestamptz, timestamptz
) IS
'Private: the errors ({path, code, message}) of an imported row''s attributes other than its answers: metadata, '
'tags, source and external id (_check_submission_attributes), status (draft or submitted), and its times '
'(a draft has no submitted_at; neither time after p_now; submitted_at not before created_at).';

CREATE FUNCTION pliers.import_submissions(p_form_id uuid, p_rows pliers.submission_import[])
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
    v_final_errors jsonb[];
    v_count integer;
    v_last timestamptz;
    v_constraint text;
    v_key text;
    v_message text;
    v_first record;
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
    -- by the version's compiled validator (_check_answers, as create_submission), its defaults
    -- filled in. The valid rows are kept for the insert, in row order (unnest and the
    -- nested loops keep the array's order: no sort of the wide rows).
    SELECT
        v_errors || coalesce(pg_catalog.jsonb_agg(e.error ORDER BY c.ord, e.n) FILTER (WHERE e.n IS NOT NULL), '[]'),
        v_error_count + pg_catalog.count(e.n),
        pg_catalog.array_agg(c.checked) FILTER (WHERE e.n IS NULL),
        pg_catalog.array_agg(c.ord) FILTER (WHERE e.n IS NULL),
        pg_catalog.array_agg(c.final_errors) FILTER (WHERE e.n IS NULL),
        pg_catalog.max((c.checked).created_at) FILTER (WHERE e.n IS NULL)
    INTO v_errors, v_error_count, v_rows, v_ords, v_final_errors, v_last
    FROM (
        SELECT
            r.ord::integer AS ord,
            pliers._check_import_row(
                r.status, r.external_id, r.metadata, r.tags, r.source, r.created_at, r.submitted_at, v_now
            ) || p.errors AS errors,
            p.final_errors,
            ROW(
                p.cleaned, coalesce(r.status, 'submitted'), r.external_id, coalesce(r.metadata, '{}'),
                coalesce(r.tags, '{}'), coalesce(r.source, 'import'),
                coalesce(r.created_at, r.submitted_at, v_now),
                CASE WHEN r.status IS DISTINCT FROM 'draft' THEN coalesce(r.submitted_at, r.created_at, v_now) END
            )::pliers.submission_import AS checked
        FROM pg_catalog.unnest(p_rows) WITH ORDINALITY AS r (
            data, status, external_id, metadata, tags, source, created_at, submitted_at, ord
        )
        CROSS JOIN LATERAL pliers._check_answers(
            v_form, coalesce(r.data, '{}'), r.status IS DISTINCT FROM 'draft', '{}'
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
                r.final_errors = '[]', r.final_errors, v_user, r.created_at, r.submitted_at, r.source, v_ip, v_agent,
                r.metadata, r.tags, CASE WHEN r.status = 'draft' THEN 1 ELSE 2 END
            -- A draft records whether it could be submitted as it is (create_submission):
            -- the final errors of its validation above.
            FROM ROWS FROM (pg_catalog.unnest(v_rows), pg_catalog.unnest(v_final_errors)) AS r (
                data, status, external_id, metadata, tags, source, created_at, submitted_at, final_errors
            )
            RETURNING *
        )
        -- RETURNING gives the rows in insert order: v_created[k] is row v_ords[k].
        SELECT pg_catalog.array_agg(i::pliers.submissions) INTO v_created FROM ins AS i;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent import or create_submission took an external id of these rows (or a
        -- number was taken without the API): nothing is written; a retry skips the rows
        -- that exist then.
        GET STACKED DIAGNOSTICS
            v_constraint = CONSTRAINT_NAME, v_key = PG_EXCEPTION_DETAIL, v_message = MESSAGE_TEXT;
        -- On Citus the error comes from a worker, without the constraint's name: the
        -- message names it, with the shard id the constraint has there.
        IF v_constraint = '' THEN
            v_constraint := pg_catalog.regexp_replace(
                pg_catalog.substring(v_message, '"([^"]+)"'), '_[0-9]{6,}$', ''
            );
        END IF;
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
    -- context is read in one place only and the partitioned table is entered once. The
    -- first is read into a value before (Citus pushes no distributed table joined with
    -- the lateral rows down to the shard).
    v_event := pliers._append_event(
        'submission', (v_created[1]).id, 1, 'submission.created',
        pliers._submission_created_payload(v_created[1], v_form)
    );
    SELECT t.* INTO v_first
    FROM pliers.events AS t
    WHERE t.organization_id = v_org AND t.id = v_event AND t.event_timestamp = v_now;
    INSERT INTO pliers.events (
        id, organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
        correlation_id, causation_id, user_id, session_id, ip_address, user_agent
    )
    SELECT
        e.id, v_org, e.event_type, 'submission', (c.s).id, e.version, e.payload,
        v_first.correlation_id, e.causation_id, v_first.user_id, v_first.session_id, v_first.ip_address,
        v_first.user_agent
    FROM (
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
    WHERE (e.version = 1 AND c.i > 1) OR (e.version = 2 AND (c.s).status = 'submitted');

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

REVOKE ALL ON FUNCTION
pliers._check_import_row(pliers.submission_status, text, jsonb, text[], text, timestamptz, timestamptz, timestamptz),
pliers.import_submissions(uuid, pliers.submission_import[])
FROM public;

GRANT EXECUTE ON FUNCTION pliers.import_submissions(uuid, pliers.submission_import[]) TO pliers_app;
