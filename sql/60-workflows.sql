-- Workflows (state machines), the forms that trigger them, their executions,
-- and execution counters (DESIGN decision 6).

CREATE TABLE pliers.workflows (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),

    -- Identification
    name varchar(255) NOT NULL,
    slug pliers.slug NOT NULL,
    version pliers.semver NOT NULL DEFAULT '1.0.0',

    -- Type and trigger
    type varchar(50) NOT NULL,
    trigger_type pliers.trigger_type NOT NULL,
    trigger_config jsonb NOT NULL DEFAULT '{}',

    -- Status
    status pliers.workflow_status NOT NULL DEFAULT 'draft',
    is_active boolean NOT NULL DEFAULT FALSE,

    -- Workflow definition (state machine)
    definition jsonb NOT NULL,

    -- Configuration
    settings jsonb NOT NULL DEFAULT '{}',
    timeout_seconds integer,
    retry_config jsonb NOT NULL DEFAULT '{}',

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',

    -- Optimistic concurrency
    revision integer NOT NULL DEFAULT 1,

    -- Audit fields
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by uuid,
    updated_by uuid,

    -- Lifecycle and schedule (sql/63-workflows-api.sql)
    published_at timestamptz,
    next_fire_at timestamptz,

    CONSTRAINT workflows_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT workflows_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT workflows_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT workflows_updated_by_fkey FOREIGN KEY (organization_id, updated_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT workflows_type_not_blank CHECK (btrim(type) <> ''),
    CONSTRAINT workflows_active_needs_published CHECK (
        NOT is_active OR (status = 'published' AND deleted_at IS NULL)
    ),
    CONSTRAINT workflows_timeout_seconds_positive CHECK (timeout_seconds > 0),
    CONSTRAINT workflows_trigger_config_object CHECK (jsonb_typeof(trigger_config) = 'object'),
    CONSTRAINT workflows_definition_object CHECK (jsonb_typeof(definition) = 'object'),
    CONSTRAINT workflows_settings_object CHECK (jsonb_typeof(settings) = 'object'),
    CONSTRAINT workflows_retry_config_object CHECK (jsonb_typeof(retry_config) = 'object'),
    CONSTRAINT workflows_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT workflows_tags_no_null CHECK (array_position(tags, NULL) IS NULL),
    CONSTRAINT workflows_revision_positive CHECK (revision > 0),
    CONSTRAINT workflows_next_fire_at_scheduled CHECK (
        next_fire_at IS NULL OR (is_active AND trigger_type = 'schedule')
    )
);

COMMENT ON TABLE pliers.workflows IS
'Workflow versions: one row per (slug, version), a state machine in definition. Soft-deleted. '
'The forms a workflow listens to are rows of workflow_forms (seed: form_ids uuid[]).';
COMMENT ON COLUMN pliers.workflows.type IS 'Kind of workflow, e.g. approval, notification (no fixed list in the seed)';
COMMENT ON COLUMN pliers.workflows.trigger_config IS
'JSON object: parameters of the trigger (cron expression, event name, webhook path...)';
COMMENT ON COLUMN pliers.workflows.is_active IS
'TRUE = new executions start. Only a published, non-deleted workflow can be active (workflows_active_needs_published).';
COMMENT ON COLUMN pliers.workflows.definition IS
'JSON object: the state machine (states, transitions, actions); schemas/workflow-definition';
COMMENT ON COLUMN pliers.workflows.timeout_seconds IS 'Maximum run time of one execution; NULL = no limit';
COMMENT ON COLUMN pliers.workflows.retry_config IS 'JSON object: retry policy of failed steps';
COMMENT ON COLUMN pliers.workflows.revision IS
'Optimistic-concurrency token, incremented on every update (trigger workflows_revision)';
COMMENT ON COLUMN pliers.workflows.published_at IS 'When publish_workflow made this version immutable; NULL for a draft';
COMMENT ON COLUMN pliers.workflows.next_fire_at IS
'Schedule trigger: the next time the worker starts an execution (pliers._cron_next of trigger_config). Set by '
'activate_workflow, cleared by deactivation, advanced by the schedule sweep; NULL for the other workflows.';

CREATE TRIGGER workflows_updated_at
BEFORE UPDATE ON pliers.workflows
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER workflows_updated_at ON pliers.workflows IS 'Maintains updated_at';

CREATE TRIGGER workflows_revision
BEFORE UPDATE ON pliers.workflows
FOR EACH ROW EXECUTE FUNCTION pliers._bump_revision();

COMMENT ON TRIGGER workflows_revision ON pliers.workflows IS 'Increments revision';

-- Versions of one workflow and lookup by (slug, version); one live row per slug and version.
CREATE UNIQUE INDEX unique_workflow_slug ON pliers.workflows (organization_id, slug, version)
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.unique_workflow_slug IS
'Seed rule unique_workflow_slug among non-deleted versions; lists the versions of a slug';

-- At most one active version of a slug: activate_workflow moves the flag.
CREATE UNIQUE INDEX workflows_active_slug_key ON pliers.workflows (organization_id, slug)
WHERE is_active;

COMMENT ON INDEX pliers.workflows_active_slug_key IS
'One active version per slug and organization; finds the active version of a slug (start, start_workflow actions)';

-- The schedule sweep, across tenants: the due schedules, earliest first.
CREATE INDEX workflows_next_fire_at_idx ON pliers.workflows (next_fire_at)
WHERE next_fire_at IS NOT NULL;

COMMENT ON INDEX pliers.workflows_next_fire_at_idx IS
'Active schedule workflows by next fire time (pliers.fire_workflow_schedules reads the due ones)';

-- Scheduler and event dispatch: the tenant's active workflows of one trigger type.
CREATE INDEX workflows_trigger_type_active_idx ON pliers.workflows (organization_id, trigger_type)
WHERE is_active;

COMMENT ON INDEX pliers.workflows_trigger_type_active_idx IS 'Active workflows of a tenant by trigger type';

-- Filter workflows by tag.
CREATE INDEX workflows_tags_idx ON pliers.workflows USING gin (tags);

COMMENT ON INDEX pliers.workflows_tags_idx IS 'tags @> / && searches of workflows';

-- FK workflows_created_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX workflows_created_by_idx ON pliers.workflows (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.workflows_created_by_idx IS 'Serves FK workflows_created_by_fkey';

-- FK workflows_updated_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX workflows_updated_by_idx ON pliers.workflows (organization_id, updated_by)
WHERE updated_by IS NOT NULL;

COMMENT ON INDEX pliers.workflows_updated_by_idx IS 'Serves FK workflows_updated_by_fkey';

-- Webhook trigger secrets ------------------------------------------------------------

CREATE TABLE pliers.workflow_secrets (
    organization_id uuid NOT NULL,
    workflow_id uuid NOT NULL,
    secret_hash bytea NOT NULL,
    rotated_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT workflow_secrets_pkey PRIMARY KEY (organization_id, workflow_id),
    CONSTRAINT workflow_secrets_workflow_id_fkey FOREIGN KEY (organization_id, workflow_id)
    REFERENCES pliers.workflows (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT workflow_secrets_secret_hash_size CHECK (octet_length(secret_hash) = 32)
);

COMMENT ON TABLE pliers.workflow_secrets IS
'Private: the SHA-256 of the secret of each webhook-triggered workflow version (rotate_workflow_secret returns the '
'secret once). Owner only: no grant, RLS without a policy; not audited. A new version copies its parent''s.';
COMMENT ON COLUMN pliers.workflow_secrets.secret_hash IS
'sha256 of the secret''s UTF-8 text; trigger_workflow_webhook compares the hash of what it is given';

ALTER TABLE pliers.workflow_secrets ENABLE ROW LEVEL SECURITY;

-- Workflow <-> form junction ----------------------------------------------------

CREATE TABLE pliers.workflow_forms (
    organization_id uuid NOT NULL,
    workflow_id uuid NOT NULL,
    form_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,

    CONSTRAINT workflow_forms_pkey PRIMARY KEY (organization_id, workflow_id, form_id),
    CONSTRAINT workflow_forms_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT workflow_forms_workflow_id_fkey FOREIGN KEY (organization_id, workflow_id)
    REFERENCES pliers.workflows (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT workflow_forms_form_id_fkey FOREIGN KEY (organization_id, form_id)
    REFERENCES pliers.forms (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT workflow_forms_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id)
);

COMMENT ON TABLE pliers.workflow_forms IS
'The forms a workflow is associated with (replaces the seed''s workflows.form_ids uuid[], which no FK could check)';

-- On submit: the workflows attached to this form (and FK workflow_forms_form_id_fkey).
CREATE INDEX workflow_forms_form_id_idx ON pliers.workflow_forms (organization_id, form_id, workflow_id);

COMMENT ON INDEX pliers.workflow_forms_form_id_idx IS
'Workflows attached to a form (submission dispatch); serves FK workflow_forms_form_id_fkey (ON DELETE CASCADE)';

-- FK workflow_forms_created_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX workflow_forms_created_by_idx ON pliers.workflow_forms (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.workflow_forms_created_by_idx IS
'Serves FK workflow_forms_created_by_fkey';

-- Workflow executions -------------------------------------------------------------

CREATE TABLE pliers.workflow_executions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    workflow_id uuid NOT NULL,

    -- Optional associations
    submission_id uuid,
    parent_execution_id uuid,

    -- State management
    current_state varchar(255) NOT NULL,
    previous_state varchar(255),
    state_history jsonb NOT NULL DEFAULT '[]',

    -- Context and variables
    context jsonb NOT NULL DEFAULT '{}',
    input_data jsonb NOT NULL DEFAULT '{}',
    output_data jsonb NOT NULL DEFAULT '{}',

    -- Status
    status pliers.execution_status NOT NULL DEFAULT 'running',
    error_message text,
    error_details jsonb,

    -- Performance
    started_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    duration_ms integer,

    -- Execution details
    triggered_by uuid,
    trigger_source varchar(50),

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',

    -- The engine (sql/64-workflow-executions.sql)
    revision integer NOT NULL DEFAULT 1,
    timeout_at timestamptz,
    sla_due_at timestamptz,
    deadline_at timestamptz,
    depth smallint NOT NULL DEFAULT 0,

    CONSTRAINT workflow_executions_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT workflow_executions_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT workflow_executions_workflow_id_fkey FOREIGN KEY (organization_id, workflow_id)
    REFERENCES pliers.workflows (organization_id, id),
    CONSTRAINT workflow_executions_submission_id_fkey FOREIGN KEY (organization_id, submission_id)
    REFERENCES pliers.submissions (organization_id, id),
    CONSTRAINT workflow_executions_parent_execution_id_fkey FOREIGN KEY (organization_id, parent_execution_id)
    REFERENCES pliers.workflow_executions (organization_id, id),
    CONSTRAINT workflow_executions_triggered_by_fkey FOREIGN KEY (organization_id, triggered_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT workflow_executions_parent_not_self CHECK (parent_execution_id <> id),
    CONSTRAINT workflow_executions_completed_at_consistent CHECK (
        (status IN ('pending', 'running')) = (completed_at IS NULL)
    ),
    CONSTRAINT workflow_executions_completed_after_started CHECK (completed_at >= started_at),
    CONSTRAINT workflow_executions_duration_ms_non_negative CHECK (duration_ms >= 0),
    CONSTRAINT workflow_executions_state_history_array CHECK (jsonb_typeof(state_history) = 'array'),
    CONSTRAINT workflow_executions_context_object CHECK (jsonb_typeof(context) = 'object'),
    CONSTRAINT workflow_executions_input_data_object CHECK (jsonb_typeof(input_data) = 'object'),
    CONSTRAINT workflow_executions_output_data_object CHECK (jsonb_typeof(output_data) = 'object'),
    CONSTRAINT workflow_executions_error_details_object CHECK (jsonb_typeof(error_details) = 'object'),
    CONSTRAINT workflow_executions_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT workflow_executions_revision_positive CHECK (revision > 0),
    CONSTRAINT workflow_executions_depth_range CHECK (depth BETWEEN 0 AND 5)
);

COMMENT ON TABLE pliers.workflow_executions IS
'One run of a workflow version, optionally for a submission, optionally a child of another execution.';
COMMENT ON COLUMN pliers.workflow_executions.current_state IS 'Name of the state-machine state the run is in';
COMMENT ON COLUMN pliers.workflow_executions.state_history IS
'JSON array of the states passed through, {state, entered_at, ...}';
COMMENT ON COLUMN pliers.workflow_executions.context IS 'JSON object: variables of the run';
COMMENT ON COLUMN pliers.workflow_executions.status IS
'pending/running: completed_at is NULL; completed/failed/cancelled/timeout: completed_at is set';
COMMENT ON COLUMN pliers.workflow_executions.error_details IS 'JSON object: structured error of a failed run';
COMMENT ON COLUMN pliers.workflow_executions.duration_ms IS 'Run time in milliseconds, set on completion';
COMMENT ON COLUMN pliers.workflow_executions.triggered_by IS 'User who started the run, NULL for automatic triggers';
COMMENT ON COLUMN pliers.workflow_executions.trigger_source IS
'What started the run (manual, form_submission, schedule, webhook, parent...); free text as in the seed';
COMMENT ON COLUMN pliers.workflow_executions.revision IS
'Optimistic-concurrency token and aggregate_version of the execution.* events: 1 when started, +1 per event';
COMMENT ON COLUMN pliers.workflow_executions.timeout_at IS
'When the current state''s timeout fires its event (the state''s timeout.after after entering it); NULL: none';
COMMENT ON COLUMN pliers.workflow_executions.sla_due_at IS
'When the current state is overdue (its sla.after after entering it); NULL: no SLA. Listed, never moved';
COMMENT ON COLUMN pliers.workflow_executions.deadline_at IS
'started_at + workflows.timeout_seconds: past it an open run ends with status timeout; NULL: no limit';
COMMENT ON COLUMN pliers.workflow_executions.depth IS
'0 for a run started by a trigger; a child run (start_workflow action) is its parent''s depth + 1, at most 5';

-- A workflow's executions, newest first, keyset paging; also FK workflow_executions_workflow_id_fkey.
CREATE INDEX workflow_executions_workflow_id_started_at_idx ON pliers.workflow_executions (
    organization_id, workflow_id, started_at DESC, id
);

COMMENT ON INDEX pliers.workflow_executions_workflow_id_started_at_idx IS
'Executions of a workflow, newest first, keyset paging; serves FK workflow_executions_workflow_id_fkey';

-- Executions of a submission (submission timeline), and FK workflow_executions_submission_id_fkey.
CREATE INDEX workflow_executions_submission_id_idx ON pliers.workflow_executions (organization_id, submission_id)
WHERE submission_id IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_submission_id_idx IS
'Executions of a submission; serves FK workflow_executions_submission_id_fkey';

-- Child executions of a run, and FK workflow_executions_parent_execution_id_fkey.
CREATE INDEX workflow_executions_parent_execution_id_idx ON pliers.workflow_executions (
    organization_id, parent_execution_id
)
WHERE parent_execution_id IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_parent_execution_id_idx IS
'Children of an execution; serves FK workflow_executions_parent_execution_id_fkey';

-- FK workflow_executions_triggered_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX workflow_executions_triggered_by_idx ON pliers.workflow_executions (organization_id, triggered_by)
WHERE triggered_by IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_triggered_by_idx IS
'Serves FK workflow_executions_triggered_by_fkey';

-- The timeout sweep across tenants (pliers.fire_workflow_timeouts): due state timeouts, oldest first.
CREATE INDEX workflow_executions_timeout_at_idx ON pliers.workflow_executions (timeout_at)
WHERE status IN ('pending', 'running') AND timeout_at IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_timeout_at_idx IS
'Open executions whose current state has a timeout, by due time (pliers.fire_workflow_timeouts)';

-- The same sweep: open runs past their whole-execution limit (workflows.timeout_seconds).
CREATE INDEX workflow_executions_deadline_at_idx ON pliers.workflow_executions (deadline_at)
WHERE status IN ('pending', 'running') AND deadline_at IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_deadline_at_idx IS
'Open executions with a run-time limit, by deadline (pliers.fire_workflow_timeouts)';

-- A tenant's overdue list (pliers.overdue_workflow_executions).
CREATE INDEX workflow_executions_sla_due_at_idx ON pliers.workflow_executions (organization_id, sla_due_at)
WHERE status IN ('pending', 'running') AND sla_due_at IS NOT NULL;

COMMENT ON INDEX pliers.workflow_executions_sla_due_at_idx IS
'Open executions of a tenant with an SLA, by due time (pliers.overdue_workflow_executions)';

-- A tenant's executions of every workflow, newest first (pliers.list_workflow_executions).
CREATE INDEX workflow_executions_started_at_idx ON pliers.workflow_executions (organization_id, started_at DESC, id);

COMMENT ON INDEX pliers.workflow_executions_started_at_idx IS
'Executions of a tenant, newest first, keyset paging (pliers.list_workflow_executions without a workflow)';

-- Workflow counters (DESIGN decision 6) ---------------------------------------------

CREATE TABLE pliers.workflow_counters (
    organization_id uuid NOT NULL,
    workflow_id uuid NOT NULL,
    slot smallint NOT NULL,
    execution_count bigint NOT NULL DEFAULT 0,
    last_execution_at timestamptz,

    CONSTRAINT workflow_counters_pkey PRIMARY KEY (organization_id, workflow_id, slot),
    CONSTRAINT workflow_counters_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT workflow_counters_workflow_id_fkey FOREIGN KEY (organization_id, workflow_id)
    REFERENCES pliers.workflows (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT workflow_counters_slot_range CHECK (slot >= 0 AND slot < 16),
    CONSTRAINT workflow_counters_execution_count_non_negative CHECK (execution_count >= 0)
);

COMMENT ON TABLE pliers.workflow_counters IS
'Execution counters of a workflow, split over up to 16 slots so that concurrent executions do not queue on one row '
'(replaces workflows.execution_count / last_execution_at). Read through pliers.workflow_usage.';
COMMENT ON COLUMN pliers.workflow_counters.slot IS
'0..15. A writer picks a slot at random and upserts (INSERT ... ON CONFLICT DO UPDATE SET execution_count = execution_count + 1)';
COMMENT ON COLUMN pliers.workflow_counters.execution_count IS 'Executions counted in this slot';
COMMENT ON COLUMN pliers.workflow_counters.last_execution_at IS 'Latest execution time counted in this slot';

CREATE VIEW pliers.workflow_usage WITH (security_invoker = TRUE) AS
SELECT
    w.organization_id,
    w.id AS workflow_id,
    coalesce(sum(c.execution_count), 0)::bigint AS execution_count,
    max(c.last_execution_at) AS last_execution_at
FROM pliers.workflows AS w
LEFT JOIN pliers.workflow_counters AS c
    ON w.organization_id = c.organization_id AND w.id = c.workflow_id
GROUP BY w.organization_id, w.id;

COMMENT ON VIEW pliers.workflow_usage IS
'The seed''s workflows.execution_count and workflows.last_execution_at, summed over pliers.workflow_counters; one row per workflow. security_invoker: RLS of the caller applies.';
COMMENT ON COLUMN pliers.workflow_usage.execution_count IS 'Number of executions counted for the workflow (0 if none)';
COMMENT ON COLUMN pliers.workflow_usage.last_execution_at IS 'Time of the latest counted execution, NULL if none';
