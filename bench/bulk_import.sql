-- A PROPOSED bulk path for submissions. Not part of pliersdb.
--
-- The stored-procedure API (sql/55-submissions-api.sql) has no bulk path: loading N
-- submissions means N calls of pliers.create_submission. This file is the benchmark's
-- sketch of the missing function, so that figure 4 can measure what a set-based path
-- would cost with the same rules as the single-row path. bench/run.py installs it in
-- its own databases only (schema bench); it also builds the data sets with it.
--
-- Usage (as an application login, member of pliers_app):
--
--     BEGIN;
--     SELECT pliers.set_context(:organization_id, :user_id);
--     COPY bench.submission_staging (batch_id, line, data[, submitted_at]) FROM STDIN;
--     SELECT bench.import_submissions(:form_id, :batch_id);   -- rows imported
--     COMMIT;
--
-- Same rules as create_submission(p_submit => true), set-based:
--   * tenant context (PL008), live form version of the tenant (PL002), permission
--     submission.create on the form (PL006), form published or deprecated (PL001);
--   * every row validated with pliers.validate_submission_data (final); if any row is
--     invalid nothing is written and PL001 lists the errors (the first 100), each with
--     its staging line; then stored cleaned (pliers.clean_submission_data);
--   * quota max_submissions_per_month for the whole batch (PL007);
--   * numbers from the tenant's sequence, in line order (pliers._next_submission_number);
--   * created_at and submitted_at: the staged submitted_at (the source system's time), else
--     now(); rows staged without one share the transaction's timestamp (see RESULTS.md on
--     keyset pages over ties);
--   * counters: one form_counters slot and one usage_counters slot for the batch;
--   * events submission.created and submission.submitted per row (the second caused by
--     the first), appended set-based with the columns pliers._append_event writes;
--   * the audit trigger of submissions fires per row, as for single rows.
-- Not handled (create_submission does): external ids (idempotent retries), drafts,
-- attachments. A real implementation belongs in sql/55-submissions-api.sql.

CREATE UNLOGGED TABLE bench.submission_staging (
    organization_id uuid NOT NULL,  -- set by trigger submission_staging_tenant
    batch_id uuid NOT NULL,
    line bigint NOT NULL,
    data jsonb NOT NULL,
    external_id text,
    submitted_at timestamptz,  -- when it was submitted in the source system; NULL: now()
    PRIMARY KEY (organization_id, batch_id, line)
);

-- COPY refuses a table under row-level security, so the staging table has none: the
-- application may only INSERT (COPY) into it, never read it, and a trigger stamps each
-- row with the tenant of the context. Only the import function (pliers_owner) reads
-- and deletes rows, of the current tenant only.
CREATE FUNCTION bench._stamp_staging_tenant()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.organization_id := pliers.current_organization_id();
    IF NEW.organization_id IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first' USING ERRCODE = 'PL008';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER submission_staging_tenant
BEFORE INSERT ON bench.submission_staging
FOR EACH ROW EXECUTE FUNCTION bench._stamp_staging_tenant();

GRANT INSERT ON bench.submission_staging TO pliers_app;
GRANT SELECT, DELETE ON bench.submission_staging TO pliers_owner;
GRANT USAGE ON SCHEMA bench TO pliers_owner;

CREATE FUNCTION bench.import_submissions(p_form_id uuid, p_batch_id uuid)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user constant uuid := pliers.current_user_id();
    v_form pliers.forms;
    v_count bigint;
    v_errors jsonb;
BEGIN
    v_form := pliers._get_form(p_form_id);
    PERFORM pliers._require_permission('submission.create', 'form', v_form.id);
    PERFORM pliers._require_accepting(v_form);

    -- Pass 1: validate every row (final, as p_submit => true); nothing is written
    -- when one is invalid. The first 100 errors are reported, each with its line.
    SELECT jsonb_agg(b.error || jsonb_build_object('line', b.line) ORDER BY b.line, b.ordinality)
    INTO v_errors
    FROM (
        SELECT s.line, e.error, e.ordinality
        FROM bench.submission_staging AS s
        CROSS JOIN LATERAL jsonb_array_elements(
            pliers.validate_submission_data(v_form.definition, s.data, TRUE, '{}')
        ) WITH ORDINALITY AS e (error, ordinality)
        WHERE s.organization_id = v_org AND s.batch_id = p_batch_id
        ORDER BY s.line, e.ordinality
        LIMIT 100
    ) AS b;
    IF v_errors IS NOT NULL THEN
        PERFORM pliers._raise_invalid('the import has invalid rows: nothing was imported', v_errors);
    END IF;
    SELECT count(*) INTO v_count
    FROM bench.submission_staging AS s
    WHERE s.organization_id = v_org AND s.batch_id = p_batch_id;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;

    PERFORM pliers._check_quota('max_submissions_per_month', v_count);

    WITH ins AS (
        INSERT INTO pliers.submissions (
            organization_id, form_id, submission_number, status, data, is_valid, validation_errors,
            submitted_by, created_at, submitted_at, source, ip_address, user_agent
        )
        SELECT
            v_org, v_form.id, pliers._next_submission_number(), 'submitted', r.data, TRUE, '[]', v_user,
            r.submitted_at, r.submitted_at, 'import',
            nullif(current_setting('pliers.ip_address', TRUE), '')::inet,
            nullif(current_setting('pliers.user_agent', TRUE), '')
        FROM (
            -- Pass 2: store the cleaned answers, numbered in line order.
            SELECT pliers.clean_submission_data(v_form.definition, s.data) AS data,
                coalesce(s.submitted_at, now()) AS submitted_at
            FROM bench.submission_staging AS s
            WHERE s.organization_id = v_org AND s.batch_id = p_batch_id
            ORDER BY s.line
        ) AS r
        RETURNING *
    ),
    created AS (
        SELECT gen_random_uuid() AS event_id, i::pliers.submissions AS submission FROM ins AS i
    ),
    ev AS (
        INSERT INTO pliers.events (
            id, organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
            correlation_id, causation_id, user_id, session_id, ip_address, user_agent
        )
        SELECT
            e.id, v_org, e.event_type, 'submission', (c.submission).id, (c.submission).revision, e.payload,
            nullif(current_setting('pliers.correlation_id', TRUE), '')::uuid,
            e.causation_id, v_user,
            nullif(current_setting('pliers.session_id', TRUE), '')::uuid,
            nullif(current_setting('pliers.ip_address', TRUE), '')::inet,
            nullif(current_setting('pliers.user_agent', TRUE), '')
        FROM created AS c
        CROSS JOIN LATERAL (
            VALUES
            (1, c.event_id, 'submission.created', pliers._submission_payload(c.submission, v_form), NULL::uuid),
            (2, gen_random_uuid(), 'submission.submitted',
             jsonb_build_object('from', 'draft', 'to', 'submitted', 'submitted_at', (c.submission).submitted_at),
             c.event_id)
        ) AS e (k, id, event_type, payload, causation_id)
        ORDER BY (c.submission).submission_number, e.k
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM ev;
    v_count := v_count / 2;

    INSERT INTO pliers.form_counters AS c (organization_id, form_id, slot, submission_count, last_submission_at)
    VALUES (v_org, v_form.id, pliers._counter_slot(), v_count, now())
    ON CONFLICT (organization_id, form_id, slot) DO UPDATE
    SET
        submission_count = c.submission_count + excluded.submission_count,
        last_submission_at = greatest(c.last_submission_at, excluded.last_submission_at);
    PERFORM pliers._count_usage('submissions', v_count);

    DELETE FROM bench.submission_staging AS s WHERE s.organization_id = v_org AND s.batch_id = p_batch_id;
    RETURN v_count;
END
$$;

ALTER FUNCTION bench.import_submissions(uuid, uuid) OWNER TO pliers_owner;
REVOKE ALL ON FUNCTION bench.import_submissions(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bench.import_submissions(uuid, uuid) TO pliers_app;
