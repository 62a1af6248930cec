-- The job queue (issue 18, sql/62-jobs.sql) and its
-- grants and policies (sql/95-security.sql.j2, section pliers.jobs).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
-- Objects belong to pliers_owner, not to whoever runs the migration.
SET LOCAL ROLE pliers_owner;


-- sql/62-jobs.sql

-- The job queue (docs/jobs.md): a transactional outbox and queue in one table. Work
-- that must happen after a transaction commits, and may have to be retried (a
-- workflow's webhook and job actions, the application's own jobs), is a row of
-- pliers.jobs inserted in that transaction: it exists if and only if the transaction
-- committed. Workers (pliersdb.worker, role pliers_worker) claim rows with a lease,
-- run their handler, and complete or fail them; a failed job is retried with
-- exponential backoff and jitter, and is dead after its last attempt.
--
-- Shaped after procrastinate (status column, SKIP LOCKED fetch), graphile-worker
-- (attempts, max_attempts, run_at, job key, exponential backoff) and pgmq (a read
-- hides a message for a visibility timeout: here locked_until, the lease). What they do
-- not do and this does: fairness between tenants (claim_jobs serves the tenants with
-- ready jobs in turn, a batch shared between them), and Citus: the cross-tenant part of
-- a claim is a read, every lock and write names one tenant as a value (one shard).
--
-- Finished jobs stay (status done or dead, finished_at) until purge_jobs removes them:
-- a tenant can see that its webhook was sent (get_job), the idempotency key of a
-- finished job still holds (a transaction that enqueues the same work again, with the
-- same key, after the first ran, enqueues nothing), and operations see the dead ones.
-- The claim path does not pay for them: its indexes are partial (status queued,
-- status running).
--
-- No events: a job is not an aggregate but the bookkeeping of delivery (as counters
-- are). The business change that enqueued it has its event; the row records its own
-- history (attempts, last_error, started_at, finished_at).

-- ---------------------------------------------------------------------------
-- Table
-- ---------------------------------------------------------------------------

CREATE TABLE pliers.jobs (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    kind text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'queued',
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 5,
    backoff_base_seconds integer NOT NULL DEFAULT 2,
    backoff_max_seconds integer NOT NULL DEFAULT 3600,
    run_at timestamptz NOT NULL DEFAULT now(),
    locked_by text,
    locked_until timestamptz,
    last_error text,
    idempotency_key text,
    execution_id uuid,
    submission_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,

    CONSTRAINT jobs_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT jobs_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT jobs_execution_id_fkey FOREIGN KEY (organization_id, execution_id)
    REFERENCES pliers.workflow_executions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT jobs_submission_id_fkey FOREIGN KEY (organization_id, submission_id)
    REFERENCES pliers.submissions (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT jobs_kind_format CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    CONSTRAINT jobs_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT jobs_status CHECK (status IN ('queued', 'running', 'done', 'dead')),
    CONSTRAINT jobs_attempts_range CHECK (attempts >= 0 AND attempts <= max_attempts),
    CONSTRAINT jobs_max_attempts_range CHECK (max_attempts BETWEEN 1 AND 100),
    CONSTRAINT jobs_backoff_range CHECK (
        backoff_base_seconds BETWEEN 1 AND 86400 AND backoff_max_seconds BETWEEN backoff_base_seconds AND 604800
    ),
    CONSTRAINT jobs_lease_when_running CHECK (
        (status = 'running') = (locked_by IS NOT NULL) AND (status = 'running') = (locked_until IS NOT NULL)
    ),
    CONSTRAINT jobs_finished_when_finished CHECK ((status IN ('done', 'dead')) = (finished_at IS NOT NULL)),
    CONSTRAINT jobs_locked_by_length CHECK (char_length(locked_by) BETWEEN 1 AND 200),
    CONSTRAINT jobs_last_error_length CHECK (char_length(last_error) <= 2000),
    CONSTRAINT jobs_idempotency_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 255)
);

COMMENT ON TABLE pliers.jobs IS
'The job queue and transactional outbox (docs/jobs.md): work to run after the enqueuing transaction commits, '
'claimed by workers with a lease, retried with backoff, dead after its last attempt. Written through the API '
'only (pliers._enqueue_job, enqueue_job, claim_jobs, complete_job, fail_job...); finished rows stay until '
'purge_jobs.';
COMMENT ON COLUMN pliers.jobs.kind IS
'What to do, the handler''s name: ^[a-z][a-z0-9_.-]{0,99}$; pliers.* kinds are the schema''s own (pliers.webhook), '
'others the application''s';
COMMENT ON COLUMN pliers.jobs.payload IS 'JSON object given to the handler, at most job_limits() payload_bytes';
COMMENT ON COLUMN pliers.jobs.status IS
'queued (waiting for run_at), running (claimed: locked_by holds a lease until locked_until), done, dead (failed '
'its last attempt, or failed for good; retry_dead_job queues it again)';
COMMENT ON COLUMN pliers.jobs.attempts IS 'Attempts started: incremented by each claim; with locked_by, names a lease';
COMMENT ON COLUMN pliers.jobs.max_attempts IS 'Attempts allowed before the job is dead (1 to 100)';
COMMENT ON COLUMN pliers.jobs.backoff_base_seconds IS
'Retry delay after the first failed attempt; doubled by each further one (exponential backoff), up to '
'backoff_max_seconds, then jittered to between half and all of it. From the workflow''s retry_config or the defaults';
COMMENT ON COLUMN pliers.jobs.backoff_max_seconds IS 'The longest retry delay';
COMMENT ON COLUMN pliers.jobs.run_at IS 'Not claimed before this time (a delayed job, or the next retry)';
COMMENT ON COLUMN pliers.jobs.locked_by IS 'The worker holding the lease of a running job (its name: host, pid, random)';
COMMENT ON COLUMN pliers.jobs.locked_until IS
'End of the lease: a running job whose lease ended (its worker died) is queued again by the next claim, or dead if '
'it was its last attempt';
COMMENT ON COLUMN pliers.jobs.last_error IS 'The last failure, truncated to 2,000 characters';
COMMENT ON COLUMN pliers.jobs.idempotency_key IS
'Unique in the organization among all rows kept (finished ones included, until purged): enqueuing a job with the key '
'of an existing one returns the existing job and adds nothing';
COMMENT ON COLUMN pliers.jobs.execution_id IS 'The workflow execution whose action enqueued the job, if any';
COMMENT ON COLUMN pliers.jobs.submission_id IS 'The submission the job is about, if any';
COMMENT ON COLUMN pliers.jobs.started_at IS 'When the current or last attempt was claimed';
COMMENT ON COLUMN pliers.jobs.finished_at IS 'When the job became done or dead';

-- The claim: a tenant's ready jobs, oldest first (and the tenants that have any).
CREATE INDEX jobs_ready_idx ON pliers.jobs (organization_id, run_at)
WHERE status = 'queued';

COMMENT ON INDEX pliers.jobs_ready_idx IS
'Queued jobs of a tenant by run_at: the claim (claim_jobs), the tenants with ready jobs, the queue status';

-- Expired leases, across tenants (claim_jobs queues them again).
CREATE INDEX jobs_lease_idx ON pliers.jobs (locked_until)
WHERE status = 'running';

COMMENT ON INDEX pliers.jobs_lease_idx IS 'Running jobs by the end of their lease: expired leases, the queue status';

CREATE UNIQUE INDEX jobs_idempotency_key_idx ON pliers.jobs (organization_id, idempotency_key)
WHERE idempotency_key IS NOT NULL;

COMMENT ON INDEX pliers.jobs_idempotency_key_idx IS
'One job per idempotency key and organization (the conflict target of _enqueue_job)';

-- list_jobs: a tenant's jobs, newest first, keyset paging.
CREATE INDEX jobs_created_at_idx ON pliers.jobs (organization_id, created_at DESC, id DESC);

COMMENT ON INDEX pliers.jobs_created_at_idx IS 'Jobs of a tenant, newest first (list_jobs, keyset paging)';

-- purge_jobs and the queue status: finished jobs by age, across tenants.
CREATE INDEX jobs_finished_at_idx ON pliers.jobs (finished_at)
WHERE status IN ('done', 'dead');

COMMENT ON INDEX pliers.jobs_finished_at_idx IS 'Finished jobs by age: purge_jobs, the dead and done counts';

-- FK jobs_execution_id_fkey (ON DELETE CASCADE), and the jobs of an execution.
CREATE INDEX jobs_execution_id_idx ON pliers.jobs (organization_id, execution_id)
WHERE execution_id IS NOT NULL;

COMMENT ON INDEX pliers.jobs_execution_id_idx IS 'Jobs of an execution; serves FK jobs_execution_id_fkey';

-- FK jobs_submission_id_fkey (ON DELETE CASCADE: an erased submission takes its jobs).
CREATE INDEX jobs_submission_id_idx ON pliers.jobs (organization_id, submission_id)
WHERE submission_id IS NOT NULL;

COMMENT ON INDEX pliers.jobs_submission_id_idx IS 'Jobs of a submission; serves FK jobs_submission_id_fkey';

-- ---------------------------------------------------------------------------
-- Limits and helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.job_limits()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'payload_bytes', 65536,
        'idempotency_key_chars', 255,
        'error_chars', 2000,
        'worker_chars', 200,
        'claim_batch', 1000,
        'kinds', 100,
        'list_page', 1000,
        'max_attempts', 100,
        'default_max_attempts', 5,
        'default_base_seconds', 2,
        'default_max_seconds', 3600,
        'lease_min_seconds', 1,
        'lease_max_seconds', 86400
    )
$$;

COMMENT ON FUNCTION pliers.job_limits() IS
'The limits and defaults of the job queue, by name: payload_bytes (a payload as stored, pg_column_size), '
'idempotency_key_chars, error_chars (last_error is truncated to it), worker_chars (a worker name), claim_batch '
'(jobs per claim), kinds (p_kinds items), list_page, max_attempts; the default retry policy (default_max_attempts, '
'default_base_seconds, default_max_seconds); a lease''s bounds in seconds.';

-- Private: PL009 for a bad argument of a worker function (InvalidArgument: the caller
-- is a program, not a person filling a form).
CREATE FUNCTION pliers._raise_job_argument(p_argument text, p_value text)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'invalid argument %: %', p_argument, coalesce(p_value, 'NULL')
        USING
            ERRCODE = 'PL009',
            DETAIL = pg_catalog.jsonb_build_object('argument', p_argument, 'value', p_value)::text;
END
$$;

COMMENT ON FUNCTION pliers._raise_job_argument(text, text) IS
'Private: raises PL009 (InvalidArgument) with DETAIL {argument, value} for the worker functions of the job queue.';

-- The errors of a job's kind and payload, as validation errors (paths kind, payload).
CREATE FUNCTION pliers._job_errors(p_kind text, p_payload jsonb, p_idempotency_key text, p_max_attempts integer)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_limits constant jsonb := pliers.job_limits();
    v_errors jsonb := '[]';
BEGIN
    IF p_kind IS NULL THEN
        v_errors := v_errors || pliers._form_error('kind', 'required', 'the kind is required');
    ELSIF p_kind !~ '^[a-z][a-z0-9_.-]{0,99}$' THEN
        v_errors := v_errors || pliers._form_error(
            'kind', 'invalid_format', 'a kind is ^[a-z][a-z0-9_.-]{0,99}$ (lower case, digits, _ . -)'
        );
    END IF;
    IF p_payload IS NULL THEN
        v_errors := v_errors || pliers._form_error('payload', 'required', 'the payload is required');
    ELSIF pg_catalog.pg_column_size(p_payload) > (v_limits ->> 'payload_bytes')::integer THEN
        v_errors := v_errors || pliers._form_error(
            'payload', 'payload_too_large', pg_catalog.format('larger than %s bytes', v_limits ->> 'payload_bytes')
        );
    ELSIF pg_catalog.jsonb_typeof(p_payload) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('payload', 'invalid_type', 'the payload must be a JSON object');
    END IF;
    IF pg_catalog.char_length(p_idempotency_key) NOT BETWEEN 1 AND (v_limits ->> 'idempotency_key_chars')::integer THEN
        v_errors := v_errors || pliers._form_error(
            'idempotency_key', 'invalid_length',
            pg_catalog.format('1 to %s characters', v_limits ->> 'idempotency_key_chars')
        );
    END IF;
    IF p_max_attempts NOT BETWEEN 1 AND (v_limits ->> 'max_attempts')::integer THEN
        v_errors := v_errors || pliers._form_error(
            'max_attempts', 'out_of_range', pg_catalog.format('1 to %s', v_limits ->> 'max_attempts')
        );
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._job_errors(text, jsonb, text, integer) IS
'Private: the validation errors ({path, code, message}) of a job to enqueue: kind format, payload (required, an '
'object, at most payload_bytes), idempotency key length, max_attempts range; [] when valid.';

-- A retry policy {"max_attempts", "base_seconds", "max_seconds"} (workflows.retry_config,
-- validated by the workflow API) made whole: a missing or out-of-range member takes
-- the default, so a job never holds an unusable policy.
CREATE FUNCTION pliers._job_retry_policy(
    p_retry jsonb,
    OUT max_attempts integer,
    OUT base_seconds integer,
    OUT max_seconds integer
)
LANGUAGE sql
IMMUTABLE
SET search_path = ''
AS $$
    WITH l AS (SELECT pliers.job_limits() AS v),
    r AS (
        SELECT
            CASE WHEN pg_catalog.jsonb_typeof(p_retry -> 'max_attempts') = 'number'
                AND (p_retry ->> 'max_attempts')::numeric BETWEEN 1 AND (l.v ->> 'max_attempts')::integer
                THEN (p_retry ->> 'max_attempts')::numeric::integer
                ELSE (l.v ->> 'default_max_attempts')::integer END AS a,
            CASE WHEN pg_catalog.jsonb_typeof(p_retry -> 'base_seconds') = 'number'
                AND (p_retry ->> 'base_seconds')::numeric BETWEEN 1 AND 86400
                THEN (p_retry ->> 'base_seconds')::numeric::integer
                ELSE (l.v ->> 'default_base_seconds')::integer END AS b,
            CASE WHEN pg_catalog.jsonb_typeof(p_retry -> 'max_seconds') = 'number'
                AND (p_retry ->> 'max_seconds')::numeric BETWEEN 1 AND 604800
                THEN (p_retry ->> 'max_seconds')::numeric::integer
                ELSE (l.v ->> 'default_max_seconds')::integer END AS m
        FROM l
    )
    SELECT r.a, r.b, greatest(r.b, r.m) FROM r
$$;

COMMENT ON FUNCTION pliers._job_retry_policy(jsonb) IS
'Private: a retry policy {max_attempts, base_seconds, max_seconds} made whole with the defaults of job_limits() '
'(a missing or out-of-range member takes its default; max_seconds at least base_seconds).';

-- ---------------------------------------------------------------------------
-- Enqueuing (inside the caller's transaction)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._enqueue_job(
    p_org uuid,
    p_kind text,
    p_payload jsonb,
    p_idempotency_key text DEFAULT NULL,
    p_run_at timestamptz DEFAULT NULL,
    p_max_attempts integer DEFAULT NULL,
    p_execution_id uuid DEFAULT NULL,
    p_submission_id uuid DEFAULT NULL,
    p_retry jsonb DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb;
    v_retry jsonb := p_retry;
    v_policy record;
    v_id uuid;
BEGIN
    IF p_org IS NULL THEN
        PERFORM pliers._raise_job_argument('p_org', NULL);
    END IF;
    v_errors := pliers._job_errors(p_kind, p_payload, p_idempotency_key, p_max_attempts);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the job is not valid', v_errors);
    END IF;
    -- A workflow's job retries by the workflow's policy.
    IF v_retry IS NULL AND p_execution_id IS NOT NULL THEN
        SELECT w.retry_config INTO v_retry
        FROM pliers.workflow_executions AS e
        JOIN pliers.workflows AS w ON w.organization_id = e.organization_id AND w.id = e.workflow_id
        WHERE e.organization_id = p_org AND e.id = p_execution_id AND w.organization_id = p_org;
    END IF;
    v_policy := pliers._job_retry_policy(v_retry);

    INSERT INTO pliers.jobs AS j (
        organization_id, kind, payload, max_attempts, backoff_base_seconds, backoff_max_seconds, run_at,
        idempotency_key, execution_id, submission_id
    ) VALUES (
        p_org, p_kind, p_payload, coalesce(p_max_attempts, v_policy.max_attempts), v_policy.base_seconds,
        v_policy.max_seconds, coalesce(p_run_at, pg_catalog.now()), p_idempotency_key, p_execution_id,
        p_submission_id
    )
    ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING j.id INTO v_id;

    IF v_id IS NULL THEN
        -- The key is taken (by a committed job, or one whose transaction committed
        -- while this insert waited for it): that job is the one.
        SELECT j.id INTO v_id
        FROM pliers.jobs AS j
        WHERE j.organization_id = p_org AND j.idempotency_key = p_idempotency_key;
        RETURN v_id;
    END IF;

    -- A wake-up hint for the workers listening (sent at commit; identical notifications of
    -- one transaction are sent once). A delayed job waits for the polling instead.
    IF p_run_at IS NULL OR p_run_at <= pg_catalog.now() THEN
        PERFORM pg_catalog.pg_notify('pliers_jobs', p_kind);
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION pliers._enqueue_job(uuid, text, jsonb, text, timestamptz, integer, uuid, uuid, jsonb) IS
'Private, for other SQL (workflow actions) in its own transaction: enqueues a job of organization p_org (the job '
'exists if and only if that transaction commits) and returns its id. An existing job with the same idempotency key '
'(any status, until purged) is returned instead and nothing is added. Retry policy: p_retry, else the retry_config '
'of p_execution_id''s workflow, else the defaults (job_limits()); p_max_attempts overrides its max_attempts. PL001 '
'for a bad kind, payload, key or max_attempts. NOTIFY pliers_jobs (payload: the kind) unless delayed.';

CREATE FUNCTION pliers.enqueue_job(
    p_kind text,
    p_payload jsonb DEFAULT '{}',
    p_idempotency_key text DEFAULT NULL,
    p_run_at timestamptz DEFAULT NULL,
    p_max_attempts integer DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
BEGIN
    PERFORM pliers._require_permission('workflow.execute');
    IF p_kind LIKE 'pliers.%' THEN
        PERFORM pliers._raise_invalid('the job is not valid', pg_catalog.jsonb_build_array(pliers._form_error(
            'kind', 'reserved_kind', 'kinds starting with pliers. are the schema''s own'
        )));
    END IF;
    RETURN pliers._enqueue_job(v_org, p_kind, p_payload, p_idempotency_key, p_run_at, p_max_attempts);
END
$$;

COMMENT ON FUNCTION pliers.enqueue_job(text, jsonb, text, timestamptz, integer) IS
'Enqueues an application job of the current tenant in the caller''s transaction (it runs only if that commits); '
'returns its id, or the id of the job that already has p_idempotency_key. Permission workflow.execute. PL001: kind '
'(format, or reserved: pliers.*), payload (an object, at most job_limits() payload_bytes), idempotency_key '
'(1-255 characters), max_attempts (1-100); PL006, PL008.';

-- ---------------------------------------------------------------------------
-- The tenant's view
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.get_job(p_job_id uuid)
RETURNS pliers.jobs
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_job pliers.jobs;
BEGIN
    PERFORM pliers._require_permission('workflow.view');
    SELECT j.* INTO v_job FROM pliers.jobs AS j WHERE j.organization_id = v_org AND j.id = p_job_id;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('job', p_job_id);
    END IF;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION pliers.get_job(uuid) IS
'A job of the current tenant. Permission workflow.view. PL002 when unknown (or another tenant''s), PL006, PL008.';

CREATE FUNCTION pliers.list_jobs(
    p_status text DEFAULT NULL,
    p_kind text DEFAULT NULL,
    p_limit integer DEFAULT 50,
    p_before_created_at timestamptz DEFAULT NULL,
    p_before_id uuid DEFAULT NULL
)
RETURNS SETOF pliers.jobs
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
BEGIN
    PERFORM pliers._require_permission('workflow.view');
    IF p_status NOT IN ('queued', 'running', 'done', 'dead') THEN
        v_errors := v_errors || pliers._form_error('status', 'invalid_value', 'queued, running, done or dead');
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND (pliers.job_limits() ->> 'list_page')::integer THEN
        v_errors := v_errors || pliers._form_error(
            'limit', 'out_of_range', pg_catalog.format('1 to %s', pliers.job_limits() ->> 'list_page')
        );
    END IF;
    IF (p_before_created_at IS NULL) <> (p_before_id IS NULL) THEN
        v_errors := v_errors || pliers._form_error(
            'before_id', 'required', 'the keyset is before_created_at and before_id together'
        );
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid arguments', v_errors);
    END IF;
    RETURN QUERY
    SELECT j.*
    FROM pliers.jobs AS j
    WHERE
        j.organization_id = v_org
        AND (p_status IS NULL OR j.status = p_status)
        AND (p_kind IS NULL OR j.kind = p_kind)
        AND (p_before_created_at IS NULL OR (j.created_at, j.id) < (p_before_created_at, p_before_id))
    ORDER BY j.created_at DESC, j.id DESC
    LIMIT p_limit;
END
$$;

COMMENT ON FUNCTION pliers.list_jobs(text, text, integer, timestamptz, uuid) IS
'The current tenant''s jobs, newest first, optionally of one status and kind; keyset paging: pass the created_at '
'and id of the last row of the previous page. Permission workflow.view. PL001 (status, limit 1-1000, keyset), '
'PL006, PL008.';

CREATE FUNCTION pliers.retry_dead_job(p_job_id uuid)
RETURNS pliers.jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_job pliers.jobs;
BEGIN
    PERFORM pliers._require_permission('workflow.manage');
    SELECT j.* INTO v_job FROM pliers.jobs AS j WHERE j.organization_id = v_org AND j.id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('job', p_job_id);
    END IF;
    IF v_job.status <> 'dead' THEN
        RAISE EXCEPTION 'job % is %, only a dead job can be retried', p_job_id, v_job.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'job', 'id', p_job_id, 'from', v_job.status, 'to', 'queued'
                )::text;
    END IF;
    UPDATE pliers.jobs AS j
    SET status = 'queued', attempts = 0, run_at = pg_catalog.now(), finished_at = NULL
    WHERE j.organization_id = v_org AND j.id = p_job_id
    RETURNING j.* INTO v_job;
    PERFORM pg_catalog.pg_notify('pliers_jobs', v_job.kind);
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION pliers.retry_dead_job(uuid) IS
'Queues a dead job of the current tenant again, now, with all its attempts (last_error kept until the next '
'failure). Permission workflow.manage. PL002 unknown, PL004 when it is not dead (DETAIL {object, id, from, to}), '
'PL006, PL008.';

-- ---------------------------------------------------------------------------
-- Workers (pliers_worker only): claim, complete, fail, extend, release
-- ---------------------------------------------------------------------------

-- A running job whose lease ended belongs to a worker that died or stalled: queued
-- again (its attempt counted, so a job that kills its workers dies in the end), or
-- dead after its last attempt. Found across tenants (a read), changed one by one with
-- the tenant as a value; a row another claim changed meanwhile is left alone.
CREATE FUNCTION pliers._expire_job_leases(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_expired record;
    v_dead boolean;
    v_count integer := 0;
    v_found integer;
BEGIN
    FOR v_expired IN
        SELECT j.organization_id, j.id, j.attempts, j.max_attempts, j.locked_by, j.locked_until
        FROM pliers.jobs AS j
        WHERE j.status = 'running' AND j.locked_until < v_now
        ORDER BY j.locked_until
        LIMIT p_limit
    LOOP
        -- Values computed here, not from the row in the UPDATE: Citus refuses STABLE
        -- functions (now, format) over column references there. The lease read is
        -- checked again (status, holder, attempt), so a row another claim changed
        -- meanwhile is left alone.
        v_dead := v_expired.attempts >= v_expired.max_attempts;
        UPDATE pliers.jobs AS j
        SET
            status = CASE WHEN v_dead THEN 'dead' ELSE 'queued' END,
            finished_at = CASE WHEN v_dead THEN v_now END,
            run_at = v_now,
            last_error = pg_catalog.left(pg_catalog.format(
                'lease of %s expired at %s (attempt %s)', v_expired.locked_by, v_expired.locked_until,
                v_expired.attempts
            ), 2000),
            locked_by = NULL,
            locked_until = NULL
        WHERE
            j.organization_id = v_expired.organization_id AND j.id = v_expired.id
            AND j.status = 'running' AND j.locked_by = v_expired.locked_by AND j.attempts = v_expired.attempts
            AND j.locked_until < v_now;
        GET DIAGNOSTICS v_found = ROW_COUNT;
        v_count := v_count + v_found;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers._expire_job_leases(integer) IS
'Private, for claim_jobs: up to p_limit running jobs whose lease ended are queued again (now), or dead when that '
'was their last attempt; last_error says whose lease expired. Returns how many.';

-- The tenants that have ready jobs (of p_kinds), at most p_limit, in turn: those after
-- p_after (the last tenant the calling worker was served) first, in organization_id
-- order, then from the first again (round robin). One server: a skip scan of jobs_ready_idx, one probe per tenant with queued
-- jobs, whatever their number (a tenant with 100,000 costs what a tenant with one
-- does). Citus has no recursive CTE over a distributed table: there each shard groups
-- its ready jobs by tenant (one read of every shard, in parallel).
CREATE FUNCTION pliers._ready_job_tenants(p_limit integer, p_kinds text[], p_after uuid)
RETURNS uuid[]
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
BEGIN
    IF pliers._on_citus() THEN
        RETURN ARRAY(
            SELECT j.organization_id
            FROM pliers.jobs AS j
            WHERE j.status = 'queued' AND j.run_at <= pg_catalog.now() AND (p_kinds IS NULL OR j.kind = ANY(p_kinds))
            GROUP BY j.organization_id
            ORDER BY j.organization_id <= p_after, j.organization_id
            LIMIT p_limit
        );
    END IF;
    RETURN ARRAY(
        WITH RECURSIVE tenants (org) AS (
            (
                SELECT j.organization_id FROM pliers.jobs AS j
                WHERE j.status = 'queued'
                ORDER BY j.organization_id
                LIMIT 1
            )
            UNION ALL
            SELECT (
                SELECT j.organization_id FROM pliers.jobs AS j
                WHERE j.status = 'queued' AND j.organization_id > t.org
                ORDER BY j.organization_id
                LIMIT 1
            )
            FROM tenants AS t
            WHERE t.org IS NOT NULL
        ),
        heads AS (
            SELECT
                t.org,
                (
                    SELECT j.run_at FROM pliers.jobs AS j
                    WHERE
                        j.organization_id = t.org AND j.status = 'queued'
                        AND (p_kinds IS NULL OR j.kind = ANY(p_kinds))
                    ORDER BY j.run_at
                    LIMIT 1
                ) AS head
            FROM tenants AS t
            WHERE t.org IS NOT NULL
        )
        SELECT h.org FROM heads AS h
        WHERE h.head <= pg_catalog.now()
        ORDER BY h.org <= p_after, h.org
        LIMIT p_limit
    );
END
$$;

COMMENT ON FUNCTION pliers._ready_job_tenants(integer, text[], uuid) IS
'Private, for claim_jobs: up to p_limit organizations with queued jobs (of p_kinds) whose run_at has come, in turn: '
'those after p_after first (organization_id order), then from the first. A skip scan of jobs_ready_idx on one server; on Citus a grouped read '
'of each shard.';

CREATE FUNCTION pliers.claim_jobs(
    p_worker text,
    p_limit integer DEFAULT 10,
    p_lease interval DEFAULT '5 minutes',
    p_kinds text[] DEFAULT NULL,
    p_after_tenant uuid DEFAULT NULL
)
RETURNS SETOF pliers.jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_limits constant jsonb := pliers.job_limits();
    v_tenants uuid[];
    v_org uuid;
    v_ids uuid[];
    v_orgs uuid[];
    v_share integer;
    v_left integer := p_limit;
    v_claimed integer;
    v_pass_claimed integer;
BEGIN
    IF p_worker IS NULL OR pg_catalog.char_length(p_worker) NOT BETWEEN 1 AND (v_limits ->> 'worker_chars')::integer THEN
        PERFORM pliers._raise_job_argument('p_worker', p_worker);
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND (v_limits ->> 'claim_batch')::integer THEN
        PERFORM pliers._raise_job_argument('p_limit', p_limit::text);
    END IF;
    IF p_lease IS NULL OR pg_catalog.date_part('epoch', p_lease)
        NOT BETWEEN (v_limits ->> 'lease_min_seconds')::integer AND (v_limits ->> 'lease_max_seconds')::integer THEN
        PERFORM pliers._raise_job_argument('p_lease', p_lease::text);
    END IF;
    IF pg_catalog.cardinality(p_kinds) NOT BETWEEN 1 AND (v_limits ->> 'kinds')::integer
        OR pg_catalog.array_position(p_kinds, NULL) IS NOT NULL THEN
        PERFORM pliers._raise_job_argument('p_kinds', p_kinds::text);
    END IF;

    PERFORM pliers._expire_job_leases(p_limit);
    v_tenants := pliers._ready_job_tenants(p_limit, p_kinds, p_after_tenant);
    IF pg_catalog.cardinality(v_tenants) = 0 THEN
        RETURN;
    END IF;

    -- Fairness: the batch is shared between at most p_limit tenants with ready jobs,
    -- taken in turn after p_after_tenant, each taking at most its share in the first
    -- pass; what is left goes to whoever still has ready jobs in later passes. A worker
    -- that passes the last tenant of its previous claim (pliersdb.worker does) serves a
    -- tenant's oldest ready job within ceil(T / p_limit) claims, T the number of tenants
    -- with ready jobs, however many jobs the others have queued (docs/jobs.md).
    -- One server: the first pass in one statement, every tenant's share at once (the
    -- rows come back in the order of the turn, so the last is the tenant to continue
    -- after). Citus: one tenant at a time below (each statement on one shard).
    IF NOT pliers._on_citus() THEN
        v_share := greatest(1, p_limit / pg_catalog.cardinality(v_tenants));
        SELECT array_agg(c.organization_id), array_agg(c.id) INTO v_orgs, v_ids
        FROM pg_catalog.unnest(v_tenants) AS t (org)
        CROSS JOIN LATERAL (
            SELECT j.organization_id, j.id
            FROM pliers.jobs AS j
            WHERE
                j.organization_id = t.org AND j.status = 'queued' AND j.run_at <= pg_catalog.now()
                AND (p_kinds IS NULL OR j.kind = ANY(p_kinds))
            ORDER BY j.run_at
            LIMIT v_share
            FOR UPDATE SKIP LOCKED
        ) AS c;
        IF v_ids IS NULL THEN
            RETURN;
        END IF;
        RETURN QUERY
        WITH claimed AS (
            UPDATE pliers.jobs AS j
            SET
                status = 'running',
                attempts = j.attempts + 1,
                locked_by = p_worker,
                locked_until = pg_catalog.now() + p_lease,
                started_at = pg_catalog.now()
            WHERE j.organization_id = ANY(v_orgs) AND j.id = ANY(v_ids) AND j.status = 'queued'
            RETURNING j.*
        )
        SELECT c.* FROM claimed AS c
        ORDER BY c.organization_id <= p_after_tenant, c.organization_id, c.run_at;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
        v_left := v_left - v_claimed;
        IF v_left <= 0 OR v_claimed = 0 THEN
            RETURN;
        END IF;
        v_share := v_left;
    ELSE
        v_share := greatest(1, ceil(p_limit::numeric / pg_catalog.cardinality(v_tenants))::integer);
    END IF;
    LOOP
        v_pass_claimed := 0;
        FOREACH v_org IN ARRAY v_tenants LOOP
            EXIT WHEN v_left <= 0;
            -- One tenant, one shard: the lock and the write name it as a value. The ids
            -- first, then the update: as a sub-query of the UPDATE, the planner may run
            -- the LIMIT ... SKIP LOCKED again for each row (and claim them all).
            v_ids := ARRAY(
                SELECT c.id
                FROM pliers.jobs AS c
                WHERE
                    c.organization_id = v_org AND c.status = 'queued' AND c.run_at <= pg_catalog.now()
                    AND (p_kinds IS NULL OR c.kind = ANY(p_kinds))
                ORDER BY c.run_at
                LIMIT least(v_share, v_left)
                FOR UPDATE SKIP LOCKED
            );
            CONTINUE WHEN pg_catalog.cardinality(v_ids) = 0;
            RETURN QUERY
            UPDATE pliers.jobs AS j
            SET
                status = 'running',
                attempts = j.attempts + 1,
                locked_by = p_worker,
                locked_until = pg_catalog.now() + p_lease,
                started_at = pg_catalog.now()
            WHERE j.organization_id = v_org AND j.id = ANY(v_ids) AND j.status = 'queued'
            RETURNING j.*;
            GET DIAGNOSTICS v_claimed = ROW_COUNT;
            v_left := v_left - v_claimed;
            v_pass_claimed := v_pass_claimed + v_claimed;
        END LOOP;
        EXIT WHEN v_left <= 0 OR v_pass_claimed = 0;
        v_share := v_left;
    END LOOP;
END
$$;

COMMENT ON FUNCTION pliers.claim_jobs(text, integer, interval, text[], uuid) IS
'For workers (pliers_worker): claims up to p_limit ready jobs (of p_kinds, NULL = all) for worker p_worker with a '
'lease of p_lease, and returns them (status running, attempts incremented: the lease is (id, p_worker, attempts)). '
'First queues again the jobs whose lease expired. Fair between tenants: the batch is shared between up to p_limit '
'tenants with ready jobs taken in turn after p_after_tenant (pass the organization_id of the last job of the '
'previous claim: round robin; docs/jobs.md). Within a tenant, oldest run_at first. SKIP LOCKED: concurrent claims never return the '
'same job. PL009 for p_worker (1-200 characters), p_limit (1-1000), p_lease (1 s to 1 day), p_kinds (1-100 kinds).';

-- The lease p_worker holds on attempt p_attempt of a job, locked; NULL when that lease is
-- not held any more (expired and taken over, or finished).
CREATE FUNCTION pliers._lock_job_lease(p_org uuid, p_job_id uuid, p_worker text, p_attempt integer)
RETURNS pliers.jobs
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_job pliers.jobs;
BEGIN
    IF p_org IS NULL THEN
        PERFORM pliers._raise_job_argument('p_organization_id', NULL);
    END IF;
    IF p_job_id IS NULL THEN
        PERFORM pliers._raise_job_argument('p_job_id', NULL);
    END IF;
    IF p_worker IS NULL THEN
        PERFORM pliers._raise_job_argument('p_worker', NULL);
    END IF;
    IF p_attempt IS NULL THEN
        PERFORM pliers._raise_job_argument('p_attempt', NULL);
    END IF;
    SELECT j.* INTO v_job
    FROM pliers.jobs AS j
    WHERE
        j.organization_id = p_org AND j.id = p_job_id AND j.status = 'running'
        AND j.locked_by = p_worker AND j.attempts = p_attempt
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN v_job;
END
$$;

COMMENT ON FUNCTION pliers._lock_job_lease(uuid, uuid, text, integer) IS
'Private: the running job p_job_id of p_org whose lease p_worker holds for attempt p_attempt, locked FOR UPDATE; '
'NULL when that lease is gone. PL009 for a NULL argument.';

CREATE FUNCTION pliers.complete_job(p_organization_id uuid, p_job_id uuid, p_worker text, p_attempt integer)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    IF p_organization_id IS NULL OR p_job_id IS NULL OR p_worker IS NULL OR p_attempt IS NULL THEN
        PERFORM pliers._raise_job_argument('p_organization_id, p_job_id, p_worker, p_attempt', NULL);
    END IF;
    -- One statement, the hot path: the lease is the WHERE.
    UPDATE pliers.jobs AS j
    SET status = 'done', finished_at = pg_catalog.now(), locked_by = NULL, locked_until = NULL
    WHERE
        j.organization_id = p_organization_id AND j.id = p_job_id AND j.status = 'running'
        AND j.locked_by = p_worker AND j.attempts = p_attempt;
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION pliers.complete_job(uuid, uuid, text, integer) IS
'For workers: marks the job done if p_worker still holds its lease for attempt p_attempt (TRUE); FALSE, and nothing '
'changes, when the lease was lost (expired and queued again or taken over by another worker). PL009 for a NULL '
'argument.';

CREATE FUNCTION pliers.fail_job(
    p_organization_id uuid,
    p_job_id uuid,
    p_worker text,
    p_attempt integer,
    p_error text,
    p_retry boolean DEFAULT TRUE
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_job pliers.jobs := pliers._lock_job_lease(p_organization_id, p_job_id, p_worker, p_attempt);
    v_delay double precision;
BEGIN
    IF v_job.id IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_retry AND v_job.attempts < v_job.max_attempts THEN
        -- Exponential backoff with "equal jitter": between half and all of
        -- base * 2^(attempts - 1), capped, so that retries of jobs that failed together
        -- spread out.
        v_delay := least(
            v_job.backoff_max_seconds::double precision,
            v_job.backoff_base_seconds * pg_catalog.power(2::double precision, least(v_job.attempts - 1, 40))
        );
        v_delay := v_delay / 2 + pg_catalog.random() * v_delay / 2;
        UPDATE pliers.jobs AS j
        SET
            status = 'queued',
            run_at = pg_catalog.now() + pg_catalog.make_interval(secs => v_delay),
            last_error = pg_catalog.left(coalesce(p_error, 'failed'), 2000),
            locked_by = NULL,
            locked_until = NULL
        WHERE j.organization_id = p_organization_id AND j.id = p_job_id;
        RETURN 'queued';
    END IF;
    UPDATE pliers.jobs AS j
    SET
        status = 'dead',
        finished_at = pg_catalog.now(),
        last_error = pg_catalog.left(coalesce(p_error, 'failed'), 2000),
        locked_by = NULL,
        locked_until = NULL
    WHERE j.organization_id = p_organization_id AND j.id = p_job_id;
    RETURN 'dead';
END
$$;

COMMENT ON FUNCTION pliers.fail_job(uuid, uuid, text, integer, text, boolean) IS
'For workers: records a failed attempt of a job whose lease p_worker holds for attempt p_attempt. Queued again after '
'min(backoff_max_seconds, backoff_base_seconds * 2^(attempts-1)), jittered to between half and all of it (returns '
'queued); dead after its last attempt, or at once when p_retry is FALSE (returns dead). last_error: p_error '
'truncated to 2,000 characters. NULL, and nothing changes, when the lease was lost. PL009 for a NULL argument.';

CREATE FUNCTION pliers.extend_job_lease(
    p_organization_id uuid,
    p_job_id uuid,
    p_worker text,
    p_attempt integer,
    p_lease interval DEFAULT '5 minutes'
)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_limits constant jsonb := pliers.job_limits();
    v_job pliers.jobs := pliers._lock_job_lease(p_organization_id, p_job_id, p_worker, p_attempt);
BEGIN
    IF p_lease IS NULL OR pg_catalog.date_part('epoch', p_lease)
        NOT BETWEEN (v_limits ->> 'lease_min_seconds')::integer AND (v_limits ->> 'lease_max_seconds')::integer THEN
        PERFORM pliers._raise_job_argument('p_lease', p_lease::text);
    END IF;
    IF v_job.id IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE pliers.jobs AS j
    SET locked_until = pg_catalog.now() + p_lease
    WHERE j.organization_id = p_organization_id AND j.id = p_job_id
    RETURNING j.locked_until INTO v_job.locked_until;
    RETURN v_job.locked_until;
END
$$;

COMMENT ON FUNCTION pliers.extend_job_lease(uuid, uuid, text, integer, interval) IS
'For workers: the lease p_worker holds on attempt p_attempt of a job now ends p_lease from now (a long job calls it '
'before its lease ends); returns the new end, NULL when the lease was lost. PL009 for a NULL argument or a lease '
'outside 1 s to 1 day.';

CREATE FUNCTION pliers.release_job(p_organization_id uuid, p_job_id uuid, p_worker text, p_attempt integer)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_job pliers.jobs := pliers._lock_job_lease(p_organization_id, p_job_id, p_worker, p_attempt);
BEGIN
    IF v_job.id IS NULL THEN
        RETURN FALSE;
    END IF;
    UPDATE pliers.jobs AS j
    SET status = 'queued', attempts = j.attempts - 1, run_at = pg_catalog.now(), locked_by = NULL, locked_until = NULL
    WHERE j.organization_id = p_organization_id AND j.id = p_job_id;
    PERFORM pg_catalog.pg_notify('pliers_jobs', v_job.kind);
    RETURN TRUE;
END
$$;

COMMENT ON FUNCTION pliers.release_job(uuid, uuid, text, integer) IS
'For workers stopping: gives back a claimed job not run (or interrupted), queued now, its attempt not counted. '
'TRUE; FALSE when the lease was lost. PL009 for a NULL argument.';

-- ---------------------------------------------------------------------------
-- Operations (pliers_worker and the DBA)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.job_queue_status()
RETURNS TABLE (
    queued bigint,
    ready bigint,
    running bigint,
    expired_leases bigint,
    done bigint,
    dead bigint,
    oldest_ready_age interval,
    tenants_ready bigint
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT
        (SELECT count(*) FROM pliers.jobs AS j WHERE j.status = 'queued'),
        (SELECT count(*) FROM pliers.jobs AS j WHERE j.status = 'queued' AND j.run_at <= pg_catalog.now()),
        (SELECT count(*) FROM pliers.jobs AS j WHERE j.status = 'running'),
        (SELECT count(*) FROM pliers.jobs AS j WHERE j.status = 'running' AND j.locked_until < pg_catalog.now()),
        (SELECT count(*) FROM pliers.jobs AS j WHERE j.status = 'done'),
        (SELECT count(*) FROM pliers.jobs AS j WHERE j.status = 'dead'),
        (
            SELECT pg_catalog.now() - min(j.run_at) FROM pliers.jobs AS j
            WHERE j.status = 'queued' AND j.run_at <= pg_catalog.now()
        ),
        (
            SELECT count(DISTINCT j.organization_id) FROM pliers.jobs AS j
            WHERE j.status = 'queued' AND j.run_at <= pg_catalog.now()
        )
$$;

COMMENT ON FUNCTION pliers.job_queue_status() IS
'Health of the queue, all tenants: jobs queued, ready (run_at come), running, running with an expired lease, done '
'(kept until purged), dead; the age of the oldest ready job (NULL when none); the tenants with ready jobs. For '
'pliers_worker and the DBA; counts read the partial indexes of the claim path.';

CREATE FUNCTION pliers.purge_jobs(
    p_done_older_than interval DEFAULT '7 days',
    p_dead_older_than interval DEFAULT '30 days',
    p_limit integer DEFAULT 10000
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_batch record;
    v_count integer := 0;
    v_found integer;
BEGIN
    IF p_done_older_than IS NULL OR p_done_older_than < interval '0' THEN
        PERFORM pliers._raise_job_argument('p_done_older_than', p_done_older_than::text);
    END IF;
    IF p_dead_older_than IS NULL OR p_dead_older_than < interval '0' THEN
        PERFORM pliers._raise_job_argument('p_dead_older_than', p_dead_older_than::text);
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000000 THEN
        PERFORM pliers._raise_job_argument('p_limit', p_limit::text);
    END IF;
    -- Found across tenants (a read), deleted per tenant (one shard each).
    FOR v_batch IN
        SELECT f.organization_id, array_agg(f.id) AS ids
        FROM (
            SELECT j.organization_id, j.id
            FROM pliers.jobs AS j
            WHERE
                j.status IN ('done', 'dead')
                AND j.finished_at < pg_catalog.now() - least(p_done_older_than, p_dead_older_than)
                AND j.finished_at < pg_catalog.now()
                - CASE j.status WHEN 'done' THEN p_done_older_than ELSE p_dead_older_than END
            ORDER BY j.finished_at
            LIMIT p_limit
        ) AS f
        GROUP BY f.organization_id
    LOOP
        DELETE FROM pliers.jobs AS j
        WHERE j.organization_id = v_batch.organization_id AND j.id = ANY(v_batch.ids);
        GET DIAGNOSTICS v_found = ROW_COUNT;
        v_count := v_count + v_found;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers.purge_jobs(interval, interval, integer) IS
'Deletes up to p_limit finished jobs: done ones finished more than p_done_older_than ago, dead ones more than '
'p_dead_older_than ago (their idempotency keys are free again). Returns how many. For pliers_worker (the worker '
'calls it periodically) and the DBA. PL009 for a negative age or p_limit outside 1 to 1,000,000.';

-- ---------------------------------------------------------------------------
-- Privileges: the tenant API to pliers_app, the worker functions to pliers_worker
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.job_limits(),
pliers._raise_job_argument(text, text),
pliers._job_errors(text, jsonb, text, integer),
pliers._job_retry_policy(jsonb),
pliers._enqueue_job(uuid, text, jsonb, text, timestamptz, integer, uuid, uuid, jsonb),
pliers.enqueue_job(text, jsonb, text, timestamptz, integer),
pliers.get_job(uuid),
pliers.list_jobs(text, text, integer, timestamptz, uuid),
pliers.retry_dead_job(uuid),
pliers._expire_job_leases(integer),
pliers._ready_job_tenants(integer, text[], uuid),
pliers.claim_jobs(text, integer, interval, text[], uuid),
pliers._lock_job_lease(uuid, uuid, text, integer),
pliers.complete_job(uuid, uuid, text, integer),
pliers.fail_job(uuid, uuid, text, integer, text, boolean),
pliers.extend_job_lease(uuid, uuid, text, integer, interval),
pliers.release_job(uuid, uuid, text, integer),
pliers.job_queue_status(),
pliers.purge_jobs(interval, interval, integer)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.job_limits(),
pliers.enqueue_job(text, jsonb, text, timestamptz, integer),
pliers.get_job(uuid),
pliers.list_jobs(text, text, integer, timestamptz, uuid),
pliers.retry_dead_job(uuid)
TO pliers_app;

-- Not to pliers_app: a tenant must not claim, complete or fail another tenant's jobs.
GRANT EXECUTE ON FUNCTION
pliers.job_limits(),
pliers.claim_jobs(text, integer, interval, text[], uuid),
pliers.complete_job(uuid, uuid, text, integer),
pliers.fail_job(uuid, uuid, text, integer, text, boolean),
pliers.extend_job_lease(uuid, uuid, text, integer, interval),
pliers.release_job(uuid, uuid, text, integer),
pliers.job_queue_status(),
pliers.purge_jobs(interval, interval, integer)
TO pliers_worker;

-- sql/95-security.sql.j2: pliers.jobs
GRANT SELECT ON pliers.jobs TO pliers_app;

GRANT SELECT ON pliers.jobs TO pliers_readonly;

ALTER TABLE pliers.jobs ENABLE ROW LEVEL SECURITY;

CREATE POLICY jobs_select ON pliers.jobs
FOR SELECT
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id());

COMMENT ON POLICY jobs_select ON pliers.jobs IS 'Rows of the current tenant only';

CREATE POLICY jobs_insert ON pliers.jobs
FOR INSERT
TO pliers_owner, pliers_app, pliers_readonly
WITH CHECK (organization_id = pliers.current_organization_id());

COMMENT ON POLICY jobs_insert ON pliers.jobs IS 'New rows belong to the current tenant';

CREATE POLICY jobs_update ON pliers.jobs
FOR UPDATE
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id())
WITH CHECK (organization_id = pliers.current_organization_id());

COMMENT ON POLICY jobs_update ON pliers.jobs IS
'Rows of the current tenant, which stay in it (no move to another organization)';

CREATE POLICY jobs_delete ON pliers.jobs
FOR DELETE
TO pliers_owner, pliers_app, pliers_readonly
USING (organization_id = pliers.current_organization_id());

COMMENT ON POLICY jobs_delete ON pliers.jobs IS 'Rows of the current tenant only';

RESET ROLE;
