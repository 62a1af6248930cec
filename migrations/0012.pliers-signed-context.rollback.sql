-- Undo 0012: the context as plain settings again, the functions as 0003, 0005, 0006, 0009 and 0011 made them.
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

-- sql/74-feed.sql
CREATE OR REPLACE FUNCTION pliers._append_event(
    p_aggregate_type pliers.aggregate_type,
    p_aggregate_id uuid,
    p_aggregate_version integer,
    p_event_type text,
    p_payload jsonb,
    p_causation_id uuid DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_organization_id uuid := pliers.current_organization_id();
    v_id uuid;
BEGIN
    IF v_organization_id IS NULL THEN
        RAISE EXCEPTION 'no tenant context: an event needs pliers.set_context first'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object(
                    'aggregate_type', p_aggregate_type, 'aggregate_id', p_aggregate_id, 'event_type', p_event_type
                )::text;
    END IF;

    INSERT INTO pliers.events (
        organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
        correlation_id, causation_id, user_id, session_id, ip_address, user_agent
    ) VALUES (
        v_organization_id, p_event_type, p_aggregate_type, p_aggregate_id, p_aggregate_version, p_payload,
        nullif(pg_catalog.current_setting('pliers.correlation_id', true), '')::uuid,
        p_causation_id,
        nullif(pg_catalog.current_setting('pliers.user_id', true), '')::uuid,
        nullif(pg_catalog.current_setting('pliers.session_id', true), '')::uuid,
        nullif(pg_catalog.current_setting('pliers.ip_address', true), '')::inet,
        nullif(pg_catalog.current_setting('pliers.user_agent', true), '')
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$function$;


COMMENT ON FUNCTION pliers._append_event(pliers.aggregate_type, uuid, integer, text, jsonb, uuid) IS
'Private, for the API. Appends one event to pliers.events in the caller''s transaction and returns its id: '
'organization from the tenant context (PL008 without one), correlation_id, user_id, session_id, ip_address and '
'user_agent from the context settings (empty = NULL), event_timestamp = transaction time. p_aggregate_version is '
'the aggregate row''s revision after the change. Constraint violations (event type format, payload not an '
'object, version < 1) raise their SQLSTATE (23514).';

-- sql/45-forms-api.sql
CREATE OR REPLACE FUNCTION pliers._require_context()
RETURNS uuid
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
BEGIN
    IF v_organization_id IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    RETURN v_organization_id;
END
$$;


COMMENT ON FUNCTION pliers._require_context() IS
'Private, for the API: the organization of the tenant context; raises PL008 (DETAIL {}) when no organization or '
'no user is set.';

-- sql/72-audit.sql
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


COMMENT ON FUNCTION pliers._audit() IS
'Trigger function of the <table>_audit triggers (AFTER INSERT OR UPDATE OR DELETE, row) that pliers.enable_audit '
'creates: one pliers.audit_logs row per changed row (action insert/update/delete, resource_type = table name, '
'old_values, new_values, diff {"column": {"old", "new"}} of updates, actor and request from the tenant context, '
'status success). No row for an update that changes only updated_at, revision or the ignored columns, nor for rows '
'without a tenant. Secret columns (pliers.is_audit_secret) and the excluded columns are never recorded: a change to '
'one shows in diff as {"omitted": true}. TG_ARGV: excluded columns, ignored columns (text[] literals).';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers._require_permission(
    p_permission text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
BEGIN
    IF pliers.current_organization_id() IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object('permission', p_permission)::text;
    END IF;
    IF NOT pliers.has_permission(p_permission, p_scope_type, p_scope_id) THEN
        RAISE EXCEPTION 'permission % denied', p_permission
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', p_permission,
                    'object', p_scope_type,
                    'id', coalesce(p_scope_id, pliers.current_organization_id())
                )::text;
    END IF;
END
$$;


COMMENT ON FUNCTION pliers._require_permission(text, pliers.scope_type, uuid) IS
'Private, for the API functions: raises PL008 without a tenant context, PL006 '
'(DETAIL {permission, object, id}; id is the organization for organization scope) unless '
'pliers.has_permission(p_permission, p_scope_type, p_scope_id).';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers.has_permission(
    p_permission text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = ''
AS $$
BEGIN
    -- PL/pgSQL, not SQL: with its SET clause an SQL function is never inlined, and
    -- before PostgreSQL 18 it is planned again on every call (about 1 ms, 30% of a
    -- submission, bench/RESULTS.md); PL/pgSQL keeps the plan for the session.
    RETURN (SELECT CASE
        WHEN pliers.current_organization_id() IS NULL OR pliers.current_user_id() IS NULL
            OR p_permission IS NULL OR p_scope_type IS NULL THEN FALSE
        WHEN p_permission = ANY(
            coalesce(nullif(pg_catalog.current_setting('pliers.denied_permissions', true), '')::text[], '{}')
        ) THEN FALSE
        WHEN coalesce(pg_catalog.cardinality(
            nullif(pg_catalog.current_setting('pliers.api_key_scopes', true), '')::text[]
        ), 0) > 0
        AND p_permission <> ALL(
            nullif(pg_catalog.current_setting('pliers.api_key_scopes', true), '')::text[]
        ) THEN FALSE
        WHEN p_scope_type = 'organization' THEN
            coalesce(p_scope_id = pliers.current_organization_id(), TRUE)
            AND p_permission = ANY(pliers.current_permissions())
        WHEN p_scope_id IS NULL THEN FALSE
        -- An organization-wide permission applies to the objects of this organization.
        WHEN p_permission = ANY(pliers.current_permissions()) THEN
            CASE p_scope_type
                WHEN 'form' THEN EXISTS (
                    SELECT FROM pliers.forms AS f
                    WHERE f.organization_id = pliers.current_organization_id() AND f.id = p_scope_id
                )
                WHEN 'workflow' THEN EXISTS (
                    SELECT FROM pliers.workflows AS w
                    WHERE w.organization_id = pliers.current_organization_id() AND w.id = p_scope_id
                )
                WHEN 'team' THEN EXISTS (
                    SELECT FROM pliers.teams AS t
                    WHERE t.organization_id = pliers.current_organization_id() AND t.id = p_scope_id
                )
                ELSE FALSE
            END
        ELSE
            EXISTS (
                SELECT
                FROM pliers.role_assignments AS ra
                INNER JOIN pliers.roles AS r ON ra.role = r.name
                WHERE ra.organization_id = pliers.current_organization_id()
                    AND ra.user_id = pliers.current_user_id()
                    AND ra.scope_type = p_scope_type
                    AND ra.scope_id = p_scope_id
                    AND ra.revoked_at IS NULL
                    AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
                    AND p_permission = ANY(r.permissions)
            )
            OR (
                p_scope_type = 'form'
                AND EXISTS (
                    SELECT
                    FROM pliers.form_collaborators AS fc
                    WHERE fc.organization_id = pliers.current_organization_id()
                        AND fc.form_id = p_scope_id
                        AND fc.user_id = pliers.current_user_id()
                        AND fc.revoked_at IS NULL
                        AND CASE p_permission
                            WHEN 'form.view' THEN TRUE
                            WHEN 'form.edit' THEN fc.can_edit
                            WHEN 'form.delete' THEN fc.can_delete
                            WHEN 'form.publish' THEN fc.can_publish
                            WHEN 'submission.view' THEN fc.can_view_submissions
                            ELSE FALSE
                        END
                )
            )
            OR (
                p_scope_type = 'form'
                AND p_permission IN ('form.view', 'submission.create')
                AND EXISTS (
                    SELECT
                    FROM pliers.forms AS f
                    WHERE f.organization_id = pliers.current_organization_id()
                        AND f.id = p_scope_id
                        AND f.visibility IN ('organization', 'public')
                        AND f.deleted_at IS NULL
                )
            )
            OR (
                p_scope_type = 'team'
                AND p_permission IN ('submission.view', 'submission.update', 'team.manage')
                AND EXISTS (
                    SELECT
                    FROM pliers.team_members AS tm
                    INNER JOIN pliers.teams AS t
                        ON tm.organization_id = t.organization_id AND tm.team_id = t.id
                    WHERE tm.organization_id = pliers.current_organization_id()
                        AND tm.team_id = p_scope_id
                        AND tm.user_id = pliers.current_user_id()
                        AND tm.removed_at IS NULL
                        AND t.deleted_at IS NULL
                        AND CASE p_permission
                            WHEN 'submission.view' THEN TRUE
                            WHEN 'submission.update' THEN tm.role <> 'viewer'
                            ELSE tm.role IN ('owner', 'admin')
                        END
                )
            )
    END);
END
$$;


COMMENT ON FUNCTION pliers.has_permission(text, pliers.scope_type, uuid) IS
'May the current user do p_permission (e.g. form.publish) on the object p_scope_type/p_scope_id? '
'FALSE without a context. TRUE if the permission is organization-wide (pliers.current_permissions) and the object '
'belongs to the current organization (organization scope: p_scope_id NULL or the current organization), else, for a '
'form, workflow or team, if a live role assignment on that object grants it, or (form) a current collaborator '
'flag or the form''s visibility, or (team) current membership; never if users.permissions denies it or an API '
'key''s scopes exclude it. The paths are listed in sql/91-tenancy.sql and docs/security.md. '
'Runs with the caller''s rights (RLS applies); used by the API and by the submissions SELECT policy.';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers._set_context(
    p_organization_id uuid,
    p_user_id uuid,
    p_session_id uuid,
    p_ip_address inet,
    p_user_agent text,
    p_correlation_id uuid,
    p_api_key_id uuid,
    p_api_key_scopes text[]
)
RETURNS text
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_name text;
    v_user record;
    v_reason text;
    v_denied text[];
    v_permissions text[];
BEGIN
    -- Start from an empty context, then set the organization alone: pliers_owner is
    -- bound by the tenant policies too (FORCE ROW LEVEL SECURITY), so the lookups
    -- below see this organization's rows and nothing else.
    FOREACH v_name IN ARRAY ARRAY[
        'organization_id', 'user_id', 'session_id', 'ip_address', 'user_agent', 'correlation_id',
        'api_key_id', 'api_key_scopes', 'permissions', 'denied_permissions'
    ] LOOP
        PERFORM pg_catalog.set_config('pliers.' || v_name, '', true);
    END LOOP;
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RETURN 'no_context';
    END IF;
    PERFORM pg_catalog.set_config('pliers.organization_id', p_organization_id::text, true);

    SELECT u.status, u.roles, u.permissions, o.deleted_at AS organization_deleted_at
    INTO v_user
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        v_reason := 'not_a_member';
    ELSIF v_user.organization_deleted_at IS NOT NULL THEN
        v_reason := 'organization_deleted';
    ELSIF v_user.status <> 'active' THEN
        v_reason := 'user_' || v_user.status::text;
    END IF;
    IF v_reason IS NOT NULL THEN
        PERFORM pg_catalog.set_config('pliers.organization_id', '', true);
        RETURN v_reason;
    END IF;

    SELECT coalesce(pg_catalog.array_agg(j.key ORDER BY j.key), '{}')
    INTO v_denied
    FROM pg_catalog.jsonb_each(v_user.permissions) AS j
    WHERE j.value = 'false'::jsonb;

    SELECT coalesce(pg_catalog.array_agg(DISTINCT g.permission ORDER BY g.permission), '{}')
    INTO v_permissions
    FROM (
        SELECT pg_catalog.unnest(r.permissions) AS permission
        FROM pliers.roles AS r
        WHERE r.name = ANY(v_user.roles)
        UNION ALL
        SELECT pg_catalog.unnest(r.permissions)
        FROM pliers.role_assignments AS ra
        INNER JOIN pliers.roles AS r ON ra.role = r.name
        WHERE ra.organization_id = p_organization_id
            AND ra.user_id = p_user_id
            AND ra.scope_type = 'organization'
            AND ra.revoked_at IS NULL
            AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
        UNION ALL
        SELECT j.key
        FROM pg_catalog.jsonb_each(v_user.permissions) AS j
        WHERE j.value = 'true'::jsonb
    ) AS g
    WHERE g.permission <> ALL(v_denied)
        AND (coalesce(pg_catalog.cardinality(p_api_key_scopes), 0) = 0 OR g.permission = ANY(p_api_key_scopes));

    PERFORM pg_catalog.set_config('pliers.user_id', p_user_id::text, true);
    PERFORM pg_catalog.set_config('pliers.session_id', coalesce(p_session_id::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.ip_address', coalesce(pg_catalog.abbrev(p_ip_address), ''), true);
    PERFORM pg_catalog.set_config('pliers.user_agent', coalesce(p_user_agent, ''), true);
    PERFORM pg_catalog.set_config('pliers.correlation_id', coalesce(p_correlation_id::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.api_key_id', coalesce(p_api_key_id::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.api_key_scopes', coalesce(p_api_key_scopes::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.permissions', v_permissions::text, true);
    PERFORM pg_catalog.set_config('pliers.denied_permissions', v_denied::text, true);
    RETURN NULL;
END
$$;


COMMENT ON FUNCTION pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[]) IS
'Private (set_context, authenticate_api_key). Clears the context, then, if p_user_id is an active user of the '
'non-deleted organization p_organization_id, sets every pliers.* setting transaction-locally (including the '
'organization-wide permissions, restricted to p_api_key_scopes when that is not empty) and returns NULL. '
'Otherwise leaves the context empty and returns why: no_context, not_a_member, organization_deleted, user_<status>.';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers.current_permissions()
RETURNS text[]
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(nullif(pg_catalog.current_setting('pliers.permissions', true), '')::text[], '{}'::text[])
$$;


COMMENT ON FUNCTION pliers.current_permissions() IS
'The organization-wide permissions of the current user, computed by set_context (roles of users.roles, live '
'organization-scope role assignments, users.permissions grants; minus denials; within the API key''s scopes). '
'Empty without a context. Inlinable; permissions on one form, workflow or team: pliers.has_permission.';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers.current_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT nullif(pg_catalog.current_setting('pliers.user_id', true), '')::uuid
$$;


COMMENT ON FUNCTION pliers.current_user_id() IS
'The acting user of the current tenant context (for an API key: its creator), NULL when none is set. Inlinable.';

-- sql/91-tenancy.sql
CREATE OR REPLACE FUNCTION pliers.current_organization_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT nullif(pg_catalog.current_setting('pliers.organization_id', true), '')::uuid
$$;


COMMENT ON FUNCTION pliers.current_organization_id() IS
'The organization of the current tenant context, NULL when none is set (an unset or empty setting). '
'Inlinable: RLS policies compare organization_id with it.';

-- sql/91-tenancy.sql
COMMENT ON FUNCTION pliers.set_context(uuid, uuid, uuid, inet, text, uuid) IS
'Opens the tenant context of this transaction: organization, acting user and request metadata, as '
'transaction-local settings pliers.* (never beyond the transaction; call it in every transaction, after BEGIN). '
'The user must be an active user (status active) of a non-deleted organization, else PL006 '
'(DETAIL {permission, object, id, user_id, reason}) and no context; a NULL organization or user raises PL008. '
'Also computes the user''s organization-wide permissions (pliers.current_permissions). '
'SECURITY DEFINER: the membership check must read users before RLS lets anyone see them.';

-- sql/92-api-keys.sql
COMMENT ON FUNCTION pliers.authenticate_api_key(text, uuid, inet, text, uuid) IS
'Resolves a presented API key without a tenant context and opens the context of its organization, acting as the '
'key''s creator, with pliers.api_key_id and pliers.api_key_scopes set (as pliers.set_context otherwise does). '
'Unknown, revoked and expired keys, and keys whose creator is no longer an active user, raise PL006 with the same '
'message (DETAIL {permission, object, reason}: unknown, revoked, expired, creator_not_active). '
'Updates last_used_at when it is older than a minute (skipped if the row is locked or the transaction read-only). '
'Returns the organization, the user, the key and its scopes.';

DROP FUNCTION pliers._store_context(text);

DROP FUNCTION pliers._context_payload(uuid, uuid, text[], uuid, text[], text[], uuid, uuid, inet, text);

DROP FUNCTION pliers.current_request();

DROP FUNCTION pliers.current_context();

DROP FUNCTION pliers._context_mac(bytea, bytea);

DROP FUNCTION pliers.rotate_context_key();

DROP FUNCTION pliers._context_key();

DROP FUNCTION pliers._random_key();

DROP TABLE pliers.context_keys;

RESET ROLE;
