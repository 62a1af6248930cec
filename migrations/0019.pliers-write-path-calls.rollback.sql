-- Undo 0019: the helpers as 0011 to 0015 left them, and their callers.
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
        coalesce(v_attachment.metadata ->> 'field', ''), '([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]', 'g'
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
    PERFORM pliers._count_usage('attachment_bytes', -v_attachment.file_size_bytes);

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

COMMENT ON FUNCTION pliers.detach_file(uuid, integer) IS
'Removes an attachment from its draft submission: the attachment is soft-deleted (deleted_at, deleted_by; the '
'object in storage is the caller''s to delete), its id leaves the answer and the attachments column, '
'attachment_count goes down, and its bytes stop counting against max_attachment_bytes. Not a draft: PL005. '
'p_expected_revision is the submission''s. Permission as update_submission. PL002 (attachment, or its '
'submission), PL003, PL006, PL008. Appends submission.attachment_removed ({attachment_id, field, path, value, '
'attachment_count, data, is_valid, validation_errors}). Returns the attachment row.';

CREATE OR REPLACE FUNCTION pliers.attach_file(
    p_submission_id uuid,
    p_field text,
    p_filename text,
    p_mime_type text,
    p_size_bytes bigint,
    p_storage_key text,
    p_checksum text,
    p_storage_provider text DEFAULT 's3',
    p_storage_bucket text DEFAULT NULL,
    p_original_filename text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}',
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.attachments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_submission pliers.submissions;
    v_form pliers.forms;
    v_target record;
    v_rules jsonb;
    v_current jsonb;
    v_errors jsonb := '[]';
    v_mime_type constant text := pg_catalog.lower(p_mime_type);
    v_checksum constant text := pg_catalog.lower(p_checksum);
    v_attachment pliers.attachments;
    v_data jsonb;
    v_final_errors jsonb;
BEGIN
    v_submission := pliers._lock_submission(p_submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        PERFORM pliers._raise_not_draft(v_submission, ARRAY['attachments']);
    END IF;
    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;

    SELECT t.* INTO v_target FROM pliers._attachment_field(v_form.definition, p_field, v_submission.data) AS t;
    v_errors := v_target.errors;
    IF p_filename IS NULL OR pg_catalog.btrim(p_filename) = '' OR pg_catalog.length(p_filename) > 255 THEN
        v_errors := v_errors || pliers._form_error('filename', 'invalid', 'the file name is 1 to 255 characters');
    END IF;
    IF p_original_filename IS NOT NULL AND pg_catalog.length(p_original_filename) > 255 THEN
        v_errors := v_errors || pliers._form_error('original_filename', 'invalid', 'at most 255 characters');
    END IF;
    IF v_mime_type IS NULL OR pg_catalog.length(v_mime_type) > 100 OR v_mime_type !~ '^[a-z]+/[a-z0-9\.\-\+]+$' THEN
        v_errors := v_errors || pliers._form_error('mime_type', 'invalid_mime_type', 'a media type such as image/png');
    END IF;
    IF p_size_bytes IS NULL OR p_size_bytes < 0 THEN
        v_errors := v_errors || pliers._form_error('size_bytes', 'invalid', 'the size is a number of bytes, 0 or more');
    END IF;
    IF p_storage_key IS NULL OR p_storage_key = '' THEN
        v_errors := v_errors || pliers._form_error('storage_key', 'required', 'the storage key is required');
    END IF;
    IF p_storage_provider IS NULL OR pg_catalog.btrim(p_storage_provider) = '' OR pg_catalog.length(p_storage_provider) > 50 THEN
        v_errors := v_errors || pliers._form_error('storage_provider', 'invalid', 'the provider is 1 to 50 characters');
    END IF;
    IF p_storage_bucket IS NOT NULL AND pg_catalog.length(p_storage_bucket) > 255 THEN
        v_errors := v_errors || pliers._form_error('storage_bucket', 'invalid', 'at most 255 characters');
    END IF;
    IF v_checksum IS NULL OR v_checksum !~ '^[0-9a-f]{64}$' THEN
        v_errors := v_errors || pliers._form_error('checksum', 'invalid_checksum', 'the SHA-256 of the content, 64 hex digits');
    END IF;
    IF p_metadata IS NULL OR pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    END IF;

    -- The field's own rules (the codes of validate_submission_data).
    IF v_target.kind IS NOT NULL AND v_target.errors = '[]' THEN
        v_rules := coalesce(v_target.field -> 'validation', '{}');
        v_current := v_submission.data #> v_target.path;
        IF v_rules ? 'accept' AND v_mime_type IS NOT NULL
            AND NOT pliers._mime_accepted(v_rules -> 'accept', v_mime_type) THEN
            v_errors := v_errors || pliers._form_error(
                'mime_type', 'file_type_not_allowed', pg_catalog.format('files of type %s are not accepted', v_mime_type)
            );
        END IF;
        IF p_size_bytes > (v_rules ->> 'maxSizeBytes')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                'size_bytes', 'file_too_large', pg_catalog.format('the file is larger than %s bytes', v_rules ->> 'maxSizeBytes')
            );
        END IF;
        IF v_target.kind = 'signature' AND v_current IS NOT NULL AND pg_catalog.jsonb_typeof(v_current) <> 'null' THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'too_many_items', 'the signature is given already: detach it first'
            );
        ELSIF v_target.kind = 'file' AND pg_catalog.jsonb_typeof(v_current) NOT IN ('array', 'null') THEN
            v_errors := v_errors || pliers._form_error('field', 'invalid_type', 'the answer is not an array of attachment ids');
        ELSIF v_target.kind = 'file'
            AND coalesce(pg_catalog.jsonb_array_length(nullif(v_current, 'null')), 0) + 1 > (v_rules ->> 'maxItems')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'too_many_items', pg_catalog.format('must have at most %s items', v_rules ->> 'maxItems')
            );
        END IF;
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the attachment is not valid', v_errors);
    END IF;
    PERFORM pliers._check_quota('max_attachment_bytes', p_size_bytes);

    INSERT INTO pliers.attachments (
        organization_id, submission_id, filename, original_filename, mime_type, file_size_bytes,
        storage_provider, storage_key, storage_bucket, checksum, metadata, uploaded_by
    ) VALUES (
        v_org, v_submission.id, p_filename, p_original_filename, v_mime_type, p_size_bytes,
        p_storage_provider, p_storage_key, p_storage_bucket, v_checksum,
        p_metadata || pg_catalog.jsonb_build_object('field', p_field), pliers.current_user_id()
    )
    RETURNING * INTO v_attachment;

    v_data := pliers._jsonb_set_deep(
        v_submission.data, v_target.path,
        CASE
            WHEN v_target.kind = 'signature' THEN pg_catalog.to_jsonb(v_attachment.id::text)
            ELSE coalesce(nullif(v_current, 'null'), '[]') || pg_catalog.to_jsonb(v_attachment.id::text)
        END
    );
    v_final_errors := pliers.validate_submission_data(
        v_form.definition, v_data, TRUE, pliers._submission_attachments(v_submission.id)
    );

    UPDATE pliers.submissions AS s
    SET
        data = v_data,
        attachments = s.attachments || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'id', v_attachment.id, 'field', p_field, 'filename', v_attachment.filename,
            'mime_type', v_attachment.mime_type, 'file_size_bytes', v_attachment.file_size_bytes,
            'checksum', v_attachment.checksum
        )),
        attachment_count = s.attachment_count + 1,
        is_valid = v_final_errors = '[]',
        validation_errors = v_final_errors
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._count_usage('attachment_bytes', p_size_bytes);

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.attachment_added',
        pg_catalog.jsonb_build_object(
            'attachment', pg_catalog.jsonb_build_object(
                'id', v_attachment.id, 'field', p_field, 'filename', v_attachment.filename,
                'original_filename', v_attachment.original_filename, 'mime_type', v_attachment.mime_type,
                'file_size_bytes', v_attachment.file_size_bytes, 'checksum', v_attachment.checksum,
                'storage_provider', v_attachment.storage_provider, 'storage_bucket', v_attachment.storage_bucket,
                'storage_key', v_attachment.storage_key
            ),
            'path', pg_catalog.to_jsonb(v_target.path),
            'value', v_data #> v_target.path,
            'attachment_count', v_submission.attachment_count,
            'data', v_submission.data,
            'is_valid', v_submission.is_valid,
            'validation_errors', v_submission.validation_errors
        )
    );
    RETURN v_attachment;
END
$$;

COMMENT ON FUNCTION pliers.attach_file(
    uuid, text, text, text, bigint, text, text, text, text, text, jsonb, integer
) IS
'Records a file uploaded to object storage as an attachment of a draft submission, for file or signature field '
'p_field (a data path: photo, address.proof, children[0].photo), and puts its id in the answer (appended to the '
'file array, or as the signature). Checks, all reported at once (PL001): the field exists and takes files, the '
'media type matches its accept patterns (file_type_not_allowed), the size its maxSizeBytes (file_too_large), the '
'answer has fewer than maxItems files (too_many_items; a signature holds one), checksum is a SHA-256 in hex '
'(stored lower-case), file name, media type, storage key. attachment_count and the attachments column follow. '
'Not a draft: PL005. Permission as update_submission. PL002, PL003 (stale p_expected_revision, when given), '
'PL006, PL007 (max_attachment_bytes), PL008. Appends submission.attachment_added (attachment, path, new value, '
'attachment_count, and the new data, is_valid, validation_errors). Returns the attachment row.';

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
    v_request record;
BEGIN
    v_form := pliers._get_form(p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);
    SELECT r.ip_address, r.user_agent INTO v_request FROM pliers.current_request() AS r;

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
        v_errors := v_errors || pliers.validate_form_definition(p_definition);
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
    PERFORM pliers._check_quota('max_forms', 1);

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

COMMENT ON FUNCTION pliers.create_form(text, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb) IS
'Creates a form: its first version, a draft (version 1.0.0 until published, is_latest). Permission form.create. '
'PL001 (every error: name, slug, settings, ..., and the definition''s own errors from validate_form_definition), '
'PL003 when a live form has the slug (DETAIL {object, slug}), PL007 when max_forms is reached, PL006, PL008. '
'Appends form.created (aggregate_version 1, payload: the business fields). Returns the row.';

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

    v_errors := pliers._check_slug(p_slug) || pliers._check_form_attributes(p_name, NULL, NULL, NULL, NULL, NULL);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the clone is not valid', v_errors);
    END IF;
    IF EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug::pliers.slug AND f.deleted_at IS NULL
    ) THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END IF;
    PERFORM pliers._check_quota('max_forms', 1);

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

COMMENT ON FUNCTION pliers.clone_form(uuid, text, text) IS
'Copies form version p_form_id (any status) into a new form: slug p_slug, name p_name (default: the source''s), a '
'draft 1.0.0, latest, metadata.cloned_from = {form_id, slug, version}. Permissions form.create and form.view on the '
'source. PL001 (slug, name), PL002, PL003 (slug taken), PL006, PL007 (max_forms), PL008. Appends form.cloned '
'(aggregate_version 1; payload: the business fields and cloned_from).';

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
DECLARE
    v_context constant text := pliers.current_context();
BEGIN
    IF nullif(pg_catalog.split_part(v_context, '|', 2), '') IS NULL THEN
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
                    'id', coalesce(p_scope_id, pg_catalog.split_part(v_context, '|', 1)::uuid)
                )::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_permission(text, pliers.scope_type, uuid) IS
'Private, for the API functions: raises PL008 without a tenant context, PL006 '
'(DETAIL {permission, object, id}; id is the organization for organization scope) unless '
'pliers.has_permission(p_permission, p_scope_type, p_scope_id).';

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
    v_context record;
    v_id uuid;
BEGIN
    -- The context read (and verified) once.
    SELECT r.* INTO v_context FROM pliers.current_request() AS r;
    IF v_context.organization_id IS NULL THEN
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
        v_context.organization_id, p_event_type, p_aggregate_type, p_aggregate_id, p_aggregate_version, p_payload,
        v_context.correlation_id, p_causation_id, v_context.user_id, v_context.session_id, v_context.ip_address,
        v_context.user_agent
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$function$;

COMMENT ON FUNCTION pliers._append_event(pliers.aggregate_type, uuid, integer, text, jsonb, uuid) IS
'Private, for the API. Appends one event to pliers.events in the caller''s transaction and returns its id: '
'organization from the tenant context (PL008 without one), correlation_id, user_id, session_id, ip_address and '
'user_agent from the context (pliers.current_request()), event_timestamp = transaction time. p_aggregate_version is '
'the aggregate row''s revision after the change. Constraint violations (event type format, payload not an '
'object, version < 1) raise their SQLSTATE (23514).';

DROP FUNCTION pliers._append_events(pliers.aggregate_type, uuid, integer, text[], jsonb[], uuid);

-- sql/55-submissions-api.sql
DROP FUNCTION pliers._get_form(uuid, uuid);

DROP FUNCTION pliers._next_submission_number(uuid);

DROP FUNCTION pliers._check_quota(text, bigint, uuid);

DROP FUNCTION pliers._count_usage(uuid, text, bigint);

CREATE FUNCTION pliers._count_usage(p_metric text, p_delta bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    INSERT INTO pliers.usage_counters AS u (organization_id, metric, period_start, slot, value)
    VALUES (
        pliers.current_organization_id(),
        p_metric,
        CASE
            WHEN p_metric = 'submissions' THEN
                pg_catalog.date_trunc('month', pg_catalog.timezone('UTC', pg_catalog.now()))::date
            ELSE '-infinity'::date
        END,
        pliers._counter_slot(),
        p_delta
    )
    ON CONFLICT (organization_id, metric, period_start, slot)
    DO UPDATE SET value = u.value + excluded.value;
END
$$;

COMMENT ON FUNCTION pliers._count_usage(text, bigint) IS
'Private: adds p_delta to the current tenant''s usage counter p_metric (submissions: the current UTC month; '
'attachment_bytes: the running total), in the slot of the current transaction.';

CREATE FUNCTION pliers._check_quota(p_limit text, p_adding bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_limits jsonb;
    v_value numeric;
    v_current numeric;
BEGIN
    IF p_limit IS NULL
        OR p_limit NOT IN ('max_forms', 'max_submissions_per_month', 'max_users', 'max_attachment_bytes') THEN
        RAISE EXCEPTION 'unknown limit %', p_limit
            USING
                ERRCODE = 'PL009',
                DETAIL = pg_catalog.jsonb_build_object('argument', 'p_limit', 'value', p_limit)::text;
    END IF;

    SELECT o.limits INTO v_limits FROM pliers.organizations AS o WHERE o.id = v_org;
    IF pg_catalog.jsonb_typeof(v_limits -> p_limit) IS DISTINCT FROM 'number' THEN
        RETURN;  -- no limit set (or not a number): unlimited
    END IF;
    v_value := (v_limits ->> p_limit)::numeric;

    CASE p_limit
        WHEN 'max_forms' THEN
            -- Forms are created rarely: serialise their creators per tenant and count exactly
            -- (at most max_forms rows, through the partial unique index of latest versions).
            PERFORM pg_catalog.pg_advisory_xact_lock(
                pg_catalog.hashtextextended('pliers.quota.max_forms:' || v_org::text, 0)
            );
            SELECT pg_catalog.count(*) INTO v_current
            FROM pliers.forms AS f
            WHERE f.organization_id = v_org AND f.is_latest AND f.deleted_at IS NULL AND f.status <> 'archived';
        WHEN 'max_users' THEN
            PERFORM pg_catalog.pg_advisory_xact_lock(
                pg_catalog.hashtextextended('pliers.quota.max_users:' || v_org::text, 0)
            );
            SELECT pg_catalog.count(*) INTO v_current
            FROM pliers.users AS u
            WHERE u.organization_id = v_org AND u.deleted_at IS NULL;
        WHEN 'max_submissions_per_month' THEN
            SELECT coalesce(pg_catalog.sum(u.value), 0) INTO v_current
            FROM pliers.usage_counters AS u
            WHERE
                u.organization_id = v_org
                AND u.metric = 'submissions'
                AND u.period_start = pg_catalog.date_trunc('month', pg_catalog.timezone('UTC', pg_catalog.now()))::date;
        ELSE  -- max_attachment_bytes
            SELECT coalesce(pg_catalog.sum(u.value), 0) INTO v_current
            FROM pliers.usage_counters AS u
            WHERE u.organization_id = v_org AND u.metric = 'attachment_bytes' AND u.period_start = '-infinity';
    END CASE;

    IF v_current + coalesce(p_adding, 0) > v_value THEN
        RAISE EXCEPTION 'quota % exceeded (limit %, current %, adding %)', p_limit, v_value, v_current, p_adding
            USING
                ERRCODE = 'PL007',
                DETAIL = pg_catalog.jsonb_build_object(
                    'limit', p_limit, 'value', v_value, 'current', v_current, 'adding', p_adding
                )::text,
                HINT = 'The limits of an organization are in organizations.limits.';
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._check_quota(text, bigint) IS
'Private, for the API: raises PL007 (QuotaExceeded, DETAIL {limit, value, current, adding}) when adding p_adding '
'to the current tenant''s usage would pass organizations.limits ->> p_limit; a limit that is absent or not a JSON '
'number means unlimited. p_limit: max_forms (live forms whose latest version is not archived; creators serialised '
'per tenant, exact), max_users (users not deleted; serialised, exact; for a user-invitation API), '
'max_submissions_per_month (submissions created in the current UTC month) and max_attachment_bytes (bytes of live '
'attachments), both summed over the slots of pliers.usage_counters: at most 16 rows read, no lock, so concurrent '
'transactions may overshoot the limit by the few that were in flight together. Another p_limit: PL009.';

CREATE FUNCTION pliers._next_submission_number()
RETURNS text
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_name constant text := 'submission_number_' || pg_catalog.replace(v_org::text, '-', '');
    v_sequence regclass;
    v_start bigint;
    v_number bigint;
BEGIN
    v_sequence := pg_catalog.to_regclass('pliers.' || v_name);
    IF v_sequence IS NULL THEN
        -- First submission of the tenant: make its sequence, once (concurrent first
        -- submitters wait here, then find it; the catalog is read with a fresh snapshot).
        PERFORM pg_catalog.pg_advisory_xact_lock(
            pg_catalog.hashtextextended('pliers.submission_number:' || v_org::text, 0)
        );
        SELECT c.oid::regclass INTO v_sequence
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'pliers'::regnamespace AND c.relname = v_name AND c.relkind = 'S';
        IF v_sequence IS NULL THEN
            -- Continue after numbers that exist already (rows inserted without the API).
            SELECT coalesce(pg_catalog.max(pg_catalog.substring(s.submission_number, '^S-([0-9]{1,18})$')::bigint), 0) + 1
            INTO v_start
            FROM pliers.submissions AS s
            WHERE s.organization_id = v_org;
            EXECUTE pg_catalog.format(
                'CREATE SEQUENCE pliers.%I AS bigint START WITH %s MINVALUE 1 NO CYCLE CACHE 1', v_name, v_start
            );
            EXECUTE pg_catalog.format(
                'COMMENT ON SEQUENCE pliers.%I IS %L', v_name,
                'Submission numbers of organization ' || v_org::text
                || ' (pliers._next_submission_number). Never reset: numbers are not reused.'
            );
            v_sequence := pg_catalog.to_regclass('pliers.' || v_name);
        END IF;
    END IF;
    v_number := pg_catalog.nextval(v_sequence);
    RETURN 'S-' || pg_catalog.lpad(v_number::text, greatest(6, pg_catalog.length(v_number::text)), '0');
END
$$;

COMMENT ON FUNCTION pliers._next_submission_number() IS
'Private: the next submission number of the current tenant, S-000001, S-000002, ... (six digits at least, more '
'past S-999999). Each organization has its own sequence pliers.submission_number_<organization id without '
'hyphens>, created at its first submission (under an advisory lock, starting after any S-number already stored). '
'No hot row: nextval never waits for another transaction to commit. Gaps: a number drawn by a transaction that '
'rolls back (an error later in the call or in the caller''s transaction, an idempotent retry that lost the race) '
'is not given again, and after a server crash a sequence skips up to 32 numbers; numbers follow the order in which '
'they were drawn, not commit order. The sequences are not dropped by the migration rollback, so numbers are never '
'reused.';

CREATE FUNCTION pliers._get_form(p_form_id uuid)
RETURNS pliers.forms
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_form pliers.forms;
BEGIN
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'form_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('form_id', 'required', 'the form id is required'))
        );
    END IF;
    SELECT f.* INTO v_form
    FROM pliers.forms AS f
    WHERE f.organization_id = pliers.current_organization_id() AND f.id = p_form_id AND f.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers._get_form(uuid) IS
'Private: the live form version p_form_id of the current tenant (PL001 when NULL, PL002 when not found).';

REVOKE ALL ON FUNCTION
pliers._count_usage(text, bigint),
pliers._check_quota(text, bigint),
pliers._next_submission_number(),
pliers._get_form(uuid)
FROM public;

RESET ROLE;
