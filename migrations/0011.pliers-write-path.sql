-- The write path (submissions, bulk import, audit): the answers validated and cleaned in one pass by create_submission too, per-row SQL helpers inlined, the audit trigger decides a no-op update first and tests secret column names without a regular expression, the submissions policy's rule is inlined.
-- Hand-written delta: sql/42, 55, 57, 72 and 91 hold the same changes (bench/RESULTS.md, issue 7).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/42-form-definitions.sql
CREATE OR REPLACE FUNCTION pliers._choice_allowed(p_field jsonb, p_code jsonb)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(p_field -> 'choices' @> jsonb_build_array(jsonb_build_object('code', p_code)), FALSE)
        OR coalesce(p_code = '"other"'::jsonb AND p_field -> 'allowOther' = 'true'::jsonb, FALSE)
$$;

-- sql/42-form-definitions.sql
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
        p_definition -> 'fields',
        CASE WHEN pg_catalog.jsonb_typeof(p_data) = 'object' THEN p_data ELSE '{}' END,
        '{}', '', '$.data', TRUE, p_final, p_attachments
    ) AS p
$$;

COMMENT ON FUNCTION pliers._check_submission_data(jsonb, jsonb, boolean, jsonb) IS
'Private: one row, the answers p_data as stored (clean_submission_data) and their errors (validate_submission_data), '
'from one pass over the definition. A p_data that is not an object is kept as is, with one invalid_type error.';

REVOKE ALL ON FUNCTION pliers._check_submission_data(jsonb, jsonb, boolean, jsonb) FROM public;

-- sql/42-form-definitions.sql: the same pass as create_submission and import_submissions.
CREATE OR REPLACE FUNCTION pliers.validate_submission_data(
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
    v_user constant uuid := pliers.current_user_id();
    v_submit constant boolean := coalesce(p_submit, FALSE);
    v_form pliers.forms;
    v_errors jsonb;
    v_data jsonb;
    v_final_errors jsonb;
    v_submission pliers.submissions;
    v_event uuid;
    v_attempt integer := 0;
BEGIN
    v_form := pliers._get_form(p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);

    -- Idempotency: a retry with a known external id gets the existing submission.
    IF p_external_id IS NOT NULL THEN
        SELECT s.* INTO v_submission
        FROM pliers.submissions AS s
        WHERE s.organization_id = v_org AND s.external_id = p_external_id;
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

    PERFORM pliers._check_quota('max_submissions_per_month', 1);

    LOOP
        -- ON CONFLICT DO NOTHING, no arbiter: a concurrent creator of the same external id
        -- (or a number already taken by a row inserted without the API) makes this a no-op.
        -- Created and submitted in one call: two changes (created, submitted), so revision 2.
        INSERT INTO pliers.submissions (
            organization_id, form_id, submission_number, external_id, status, data, is_valid,
            validation_errors, submitted_by, submitted_at, expires_at, source, ip_address, user_agent, referrer,
            metadata, tags, revision
        ) VALUES (
            v_org, v_form.id, pliers._next_submission_number(), p_external_id,
            CASE WHEN v_submit THEN 'submitted' ELSE 'draft' END::pliers.submission_status,
            v_data, v_final_errors = '[]', v_final_errors, v_user,
            CASE WHEN v_submit THEN pg_catalog.now() END, p_expires_at, p_source,
            nullif(pg_catalog.current_setting('pliers.ip_address', TRUE), '')::inet,
            nullif(pg_catalog.current_setting('pliers.user_agent', TRUE), ''),
            p_referrer, p_metadata, p_tags, CASE WHEN v_submit THEN 2 ELSE 1 END
        )
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_submission;
        EXIT WHEN FOUND;

        IF p_external_id IS NOT NULL THEN
            SELECT s.* INTO v_submission
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.external_id = p_external_id;
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
    PERFORM pliers._count_usage('submissions', 1);

    v_event := pliers._append_event(
        'submission', v_submission.id, 1, 'submission.created',
        pliers._submission_created_payload(v_submission, v_form)
    );
    IF v_submit THEN
        PERFORM pliers._append_event(
            'submission', v_submission.id, 2, 'submission.submitted',
            pliers._submission_submitted_payload(v_submission), v_event
        );
    END IF;
    RETURN v_submission;
END
$$;

-- sql/57-submission-import.sql
CREATE OR REPLACE FUNCTION pliers._check_import_row(
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
    v_ip constant inet := nullif(pg_catalog.current_setting('pliers.ip_address', TRUE), '')::inet;
    v_agent constant text := nullif(pg_catalog.current_setting('pliers.user_agent', TRUE), '');
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
    v_form := pliers._get_form(p_form_id);
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
        WHERE r.external_id IS NOT NULL;
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
    PERFORM pliers._check_quota('max_submissions_per_month', v_count);

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
                v_org, v_form.id, pliers._next_submission_number(), r.external_id, r.status, r.data,
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
    PERFORM pliers._count_usage('submissions', v_count);
END
$$;

-- sql/72-audit.sql
CREATE OR REPLACE FUNCTION pliers.is_audit_secret(p_column text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $function$
    -- Substrings, not a regular expression: the audit trigger asks this for every column
    -- of every audited row, and a regular expression cost about 1 µs a call.
    SELECT p_column IN ('key_hash', 'auth_data', 'mfa_settings', 'secret_ciphertext')
        OR (
            (
                pg_catalog.strpos(p_column, 'password') > 0 OR pg_catalog.strpos(p_column, 'passwd') > 0
                OR pg_catalog.strpos(p_column, 'secret') > 0 OR pg_catalog.strpos(p_column, 'token') > 0
                OR pg_catalog.strpos(p_column, 'credential') > 0 OR pg_catalog.strpos(p_column, 'private_key') > 0
            )
            AND pg_catalog.right(p_column, 3) <> '_at'
        )
$function$;

CREATE OR REPLACE FUNCTION pliers._audit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_excluded text[];
    v_ignored text[];
    v_reason text := nullif(pg_catalog.current_setting('pliers.audit_reason', true), '');
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_diff jsonb;
    v_organization_id uuid;
    v_context_organization_id uuid;
    v_user_id uuid;
    v_name text;
    v_metadata jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_old := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := pg_catalog.to_jsonb(NEW);
    END IF;
    v_row := coalesce(v_new, v_old);

    -- The tenant of the row. A deleted organization cannot own its audit row (foreign key).
    IF TG_TABLE_NAME = 'organizations' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN NULL;
        END IF;
        v_organization_id := (v_row ->> 'id')::uuid;
    ELSE
        v_organization_id := (v_row ->> 'organization_id')::uuid;
    END IF;
    IF v_organization_id IS NULL THEN
        RETURN NULL;
    END IF;

    -- TG_ARGV[0]: columns never recorded; TG_ARGV[1]: columns whose change alone records
    -- nothing (text[] literals, written by pliers.enable_audit).
    IF TG_OP = 'UPDATE' THEN
        -- No-op update: nothing changed but the ignored columns. Decided first, on the
        -- whole rows: such updates (last_activity_at, last_used_at) are the commonest.
        v_ignored := coalesce(TG_ARGV[1], '{}')::text[] || '{updated_at,revision}'::text[];
        IF (v_old - v_ignored) = (v_new - v_ignored) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- Never recorded: the excluded columns and the secret ones (the row's keys are the
    -- table's columns as they are now, so a column added later is covered).
    v_excluded := coalesce(TG_ARGV[0], '{}')::text[] || ARRAY(
        SELECT k.key FROM pg_catalog.jsonb_object_keys(v_row) AS k (key) WHERE pliers.is_audit_secret(k.key)
    );
    IF TG_OP = 'UPDATE' THEN
        SELECT pg_catalog.jsonb_object_agg(
            n.key,
            CASE
                WHEN n.key = ANY(v_excluded) THEN '{"omitted": true}'::jsonb
                ELSE pg_catalog.jsonb_build_object('old', o.value, 'new', n.value)
            END
        )
        INTO v_diff
        FROM pg_catalog.jsonb_each(v_new) AS n
        INNER JOIN pg_catalog.jsonb_each(v_old) AS o ON n.key = o.key
        WHERE n.value IS DISTINCT FROM o.value AND n.key NOT IN ('updated_at', 'revision');
    END IF;

    v_old := v_old - v_excluded;
    v_new := v_new - v_excluded;
    v_row := coalesce(v_new, v_old);
    v_name := pg_catalog.left(coalesce(
        v_row ->> 'name', v_row ->> 'title', v_row ->> 'slug', v_row ->> 'email',
        v_row ->> 'submission_number', v_row ->> 'original_filename', v_row ->> 'filename', v_row ->> 'role'
    ), 255);

    v_metadata := pg_catalog.jsonb_build_object('transaction_id', pg_catalog.pg_current_xact_id()::text);
    IF pg_catalog.current_setting('pliers.correlation_id', true) <> '' THEN
        v_metadata := v_metadata || pg_catalog.jsonb_build_object(
            'correlation_id', pg_catalog.current_setting('pliers.correlation_id', true));
    END IF;

    -- Purge and erasure (pliers.purge_deleted, pliers.erase_user set pliers.audit_reason
    -- while they run) record that a row changed, never its values. Honoured only
    -- for a role that bypasses RLS (superuser or BYPASSRLS), as those functions require:
    -- the application cannot silence the audit by setting it.
    IF v_reason IS NOT NULL AND (
        SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user
    ) THEN
        v_old := NULL;
        v_new := NULL;
        v_diff := NULL;
        v_name := NULL;
        v_metadata := v_metadata || pg_catalog.jsonb_build_object('reason', v_reason, 'values', 'omitted');
    END IF;

    -- The acting user is recorded when the context is the row's tenant (audit_logs.user_id
    -- references a user of the row's organization); otherwise it goes to metadata.
    v_context_organization_id := nullif(pg_catalog.current_setting('pliers.organization_id', true), '')::uuid;
    v_user_id := nullif(pg_catalog.current_setting('pliers.user_id', true), '')::uuid;
    IF v_user_id IS NOT NULL AND (
        v_context_organization_id IS DISTINCT FROM v_organization_id
        OR (TG_TABLE_NAME = 'users' AND TG_OP = 'DELETE' AND v_user_id = (v_old ->> 'id')::uuid)
    ) THEN
        v_metadata := v_metadata || pg_catalog.jsonb_build_object(
            'actor_organization_id', v_context_organization_id, 'actor_user_id', v_user_id);
        v_user_id := NULL;
    END IF;

    -- A row of a tenant other than the context's reaches this trigger only through a
    -- write that was allowed: by a role that bypasses RLS, or by a foreign-key action
    -- (ON DELETE CASCADE / SET NULL), which PostgreSQL 16 and later run as the table
    -- owner under its FORCE'd policies. For that case the audit row is written in the
    -- row's tenant, then the context is restored.
    IF v_context_organization_id IS DISTINCT FROM v_organization_id
        AND pg_catalog.row_security_active('pliers.audit_logs'::regclass) THEN
        PERFORM pg_catalog.set_config('pliers.organization_id', v_organization_id::text, true);
    ELSE
        v_context_organization_id := v_organization_id;
    END IF;

    INSERT INTO pliers.audit_logs (
        organization_id, action, resource_type, resource_id, resource_name,
        old_values, new_values, diff,
        user_id, session_id, ip_address, user_agent,
        status, metadata
    ) VALUES (
        v_organization_id,
        pg_catalog.lower(TG_OP),
        TG_TABLE_NAME,
        CASE
            WHEN v_row ->> 'id' ~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
                THEN (v_row ->> 'id')::uuid
        END,
        v_name,
        v_old,
        v_new,
        v_diff,
        v_user_id,
        nullif(pg_catalog.current_setting('pliers.session_id', true), '')::uuid,
        nullif(pg_catalog.current_setting('pliers.ip_address', true), '')::inet,
        nullif(pg_catalog.current_setting('pliers.user_agent', true), ''),
        'success',
        v_metadata
    );
    IF v_context_organization_id IS DISTINCT FROM v_organization_id THEN
        PERFORM pg_catalog.set_config('pliers.organization_id', coalesce(v_context_organization_id::text, ''), true);
    END IF;
    RETURN NULL;
END
$function$;

-- sql/91-tenancy.sql: the policy's sub-select arguments once each, so that the planner
-- inlines the rule instead of calling it on every row.
CREATE OR REPLACE FUNCTION pliers.submission_visible(
    p_form_id uuid,
    p_submitted_by uuid,
    p_assigned_to uuid,
    p_assigned_team_id uuid,
    p_permissions text[],
    p_user_id uuid
)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT
        p_permissions @> '{submission.view}'
        OR p_user_id IN (p_submitted_by, p_assigned_to)
        OR pliers.has_permission('submission.view', 'form', p_form_id)
        OR (
            p_assigned_team_id IS NOT NULL
            AND pliers.has_permission('submission.view', 'team', p_assigned_team_id)
        );
END;

-- The migration runner records the migration as itself.
RESET ROLE;
