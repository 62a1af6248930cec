-- Submissions of a form version, and file attachments.

CREATE TABLE pliers.submissions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    form_id uuid NOT NULL,

    -- Identification
    submission_number varchar(50) NOT NULL,
    external_id varchar(255),

    -- Status tracking
    status pliers.submission_status NOT NULL DEFAULT 'draft',
    workflow_state varchar(63),

    -- Submission data (flat key-value pairs)
    data jsonb NOT NULL DEFAULT '{}',

    -- Files and attachments
    attachments jsonb NOT NULL DEFAULT '[]',
    attachment_count integer NOT NULL DEFAULT 0,

    -- Validation and processing
    validation_state jsonb NOT NULL DEFAULT '{}',
    validation_errors jsonb NOT NULL DEFAULT '[]',
    is_valid boolean NOT NULL DEFAULT FALSE,

    -- Assignment and ownership
    submitted_by uuid,
    assigned_to uuid,
    assigned_team_id uuid,

    -- Timestamps
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    completed_at timestamptz,
    expires_at timestamptz,

    -- Source and context
    source varchar(50) NOT NULL DEFAULT 'web',
    ip_address inet,
    user_agent text,
    referrer text,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',

    -- Optimistic concurrency
    revision integer NOT NULL DEFAULT 1,

    -- Audit
    deleted_at timestamptz,
    deleted_by uuid,

    CONSTRAINT submissions_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT unique_submission_number UNIQUE (organization_id, submission_number),
    CONSTRAINT submissions_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT submissions_form_id_fkey FOREIGN KEY (organization_id, form_id)
    REFERENCES pliers.forms (organization_id, id),
    CONSTRAINT submissions_submitted_by_fkey FOREIGN KEY (organization_id, submitted_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT submissions_assigned_to_fkey FOREIGN KEY (organization_id, assigned_to)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT submissions_assigned_team_id_fkey FOREIGN KEY (organization_id, assigned_team_id)
    REFERENCES pliers.teams (organization_id, id),
    CONSTRAINT submissions_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT submissions_submission_number_not_blank CHECK (btrim(submission_number) <> ''),
    CONSTRAINT submissions_attachment_count_non_negative CHECK (attachment_count >= 0),
    CONSTRAINT submissions_submitted_at_consistent CHECK (
        CASE status
            WHEN 'draft' THEN submitted_at IS NULL
            WHEN 'archived' THEN TRUE
            ELSE submitted_at IS NOT NULL
        END
    ),
    CONSTRAINT submissions_completed_at_consistent CHECK (
        status <> 'completed' OR completed_at IS NOT NULL
    ),
    CONSTRAINT submissions_completed_after_submitted CHECK (completed_at >= submitted_at),
    CONSTRAINT submissions_deleted_by_needs_deleted_at CHECK (
        deleted_by IS NULL OR deleted_at IS NOT NULL
    ),
    CONSTRAINT submissions_data_object CHECK (jsonb_typeof(data) = 'object'),
    CONSTRAINT submissions_attachments_array CHECK (jsonb_typeof(attachments) = 'array'),
    CONSTRAINT submissions_validation_state_object CHECK (jsonb_typeof(validation_state) = 'object'),
    CONSTRAINT submissions_validation_errors_array CHECK (jsonb_typeof(validation_errors) = 'array'),
    CONSTRAINT submissions_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT submissions_tags_no_null CHECK (array_position(tags, NULL) IS NULL),
    CONSTRAINT submissions_revision_positive CHECK (revision > 0)
);

COMMENT ON TABLE pliers.submissions IS
'Submissions (answers) to one form version. Soft-deleted. Creating one never updates the forms row (counters: form_counters).';
COMMENT ON COLUMN pliers.submissions.form_id IS 'The form version submitted to (same organization)';
COMMENT ON COLUMN pliers.submissions.submission_number IS
'Human-readable number, unique per organization and never reused, deleted rows included (unique_submission_number)';
COMMENT ON CONSTRAINT unique_submission_number ON pliers.submissions IS
'Seed rule: submission numbers are unique per organization, deleted submissions included; also finds a submission by number';
COMMENT ON COLUMN pliers.submissions.external_id IS 'Identifier in an external system (imports, integrations)';
COMMENT ON COLUMN pliers.submissions.workflow_state IS 'Current state name in the workflow processing the submission';
COMMENT ON COLUMN pliers.submissions.data IS 'JSON object: the answers, field name -> value';
COMMENT ON COLUMN pliers.submissions.attachments IS
'JSON array: attachment references as the form renders them; the files themselves are rows of pliers.attachments';
COMMENT ON COLUMN pliers.submissions.validation_state IS 'JSON object: per-field validation state';
COMMENT ON COLUMN pliers.submissions.validation_errors IS 'JSON array: validation errors {path, code, message}';
COMMENT ON COLUMN pliers.submissions.submitted_by IS 'The submitting user; NULL for anonymous (public) submissions';
COMMENT ON COLUMN pliers.submissions.assigned_team_id IS
'Team the submission is assigned to (seed: assigned_team VARCHAR; now a composite FK to teams)';
COMMENT ON COLUMN pliers.submissions.submitted_at IS 'NULL while draft; required once submitted (archived drafts excepted)';
COMMENT ON COLUMN pliers.submissions.expires_at IS 'A draft not submitted by then may be purged';
COMMENT ON COLUMN pliers.submissions.source IS 'Channel: web, api, import, email... (no fixed list in the seed)';
COMMENT ON COLUMN pliers.submissions.ip_address IS 'Client address; personal data';
COMMENT ON COLUMN pliers.submissions.revision IS
'Optimistic-concurrency token, incremented on every update (trigger submissions_revision)';

CREATE TRIGGER submissions_updated_at
BEFORE UPDATE ON pliers.submissions
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER submissions_updated_at ON pliers.submissions IS 'Maintains updated_at';

CREATE TRIGGER submissions_revision
BEFORE UPDATE ON pliers.submissions
FOR EACH ROW EXECUTE FUNCTION pliers._bump_revision();

COMMENT ON TRIGGER submissions_revision ON pliers.submissions IS 'Increments revision';

-- A form's submissions by date with keyset paging (created_at, id); also FK submissions_form_id_fkey.
CREATE INDEX submissions_form_id_created_at_idx ON pliers.submissions (
    organization_id, form_id, created_at DESC, id
);

COMMENT ON INDEX pliers.submissions_form_id_created_at_idx IS
'Submissions of a form, newest first, keyset paging on (created_at, id); serves FK submissions_form_id_fkey';

-- Review queues: the tenant's live submissions in one status, newest first.
CREATE INDEX submissions_status_created_at_idx ON pliers.submissions (
    organization_id, status, created_at DESC, id
)
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.submissions_status_created_at_idx IS
'Live submissions of a tenant by status, newest first (review queues, dashboards)';

-- "Assigned to me" by status, and FK submissions_assigned_to_fkey.
CREATE INDEX submissions_assigned_to_idx ON pliers.submissions (organization_id, assigned_to, status)
WHERE assigned_to IS NOT NULL;

COMMENT ON INDEX pliers.submissions_assigned_to_idx IS
'Submissions assigned to a user, by status; serves FK submissions_assigned_to_fkey';

-- "Assigned to my team" by status, and FK submissions_assigned_team_id_fkey.
CREATE INDEX submissions_assigned_team_id_idx ON pliers.submissions (organization_id, assigned_team_id, status)
WHERE assigned_team_id IS NOT NULL;

COMMENT ON INDEX pliers.submissions_assigned_team_id_idx IS
'Submissions assigned to a team, by status; serves FK submissions_assigned_team_id_fkey';

-- No index on submitted_by: the API never lists by submitter, and one on every row
-- cost each insert (bench/RESULTS.md, issue 13). The foreign key's check when a user is
-- hard-deleted (NO ACTION) and pliers.erase_user find a user's submissions through the
-- primary key's tenant range: rare operations that read the tenant's submissions once.

-- FK submissions_deleted_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX submissions_deleted_by_idx ON pliers.submissions (organization_id, deleted_by)
WHERE deleted_by IS NOT NULL;

COMMENT ON INDEX pliers.submissions_deleted_by_idx IS 'Serves FK submissions_deleted_by_fkey';

-- Import/integration lookup by external id, and idempotent creation: one submission per
-- external id and tenant, deleted ones included (a retry never re-creates a deleted submission).
CREATE UNIQUE INDEX submissions_external_id_idx ON pliers.submissions (organization_id, external_id)
WHERE external_id IS NOT NULL;

COMMENT ON INDEX pliers.submissions_external_id_idx IS
'Finds a submission by its external_id within a tenant; unique, deleted rows included: pliers.create_submission '
'returns the existing submission when a retry brings the same external_id (idempotent creation)';

-- The tenant's live submissions, newest first, keyset paging on (created_at, id)
-- (pliers.list_submissions without a form).
CREATE INDEX submissions_created_at_idx ON pliers.submissions (organization_id, created_at DESC, id)
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.submissions_created_at_idx IS
'Live submissions of a tenant, newest first, keyset paging on (created_at, id); also serves a status filter '
'under RLS, where the enum comparison cannot be an index condition (enum_eq is not leakproof)';

-- Search answers, per form. A GIN index on data alone holds every tenant's matches in
-- one posting list: a frequent answer read 125,000 entries at 1M submissions, whatever
-- the size of the form searched (bench/RESULTS.md, figure 3). Indexing the answers
-- under their form's id instead, {"<form_id>": data}, makes each entry one form's
-- matches (jsonb_path_ops hashes the whole path) without an extension. Only
-- pliers.list_submissions writes this expression: other queries on form_id are not
-- drawn to the index. IMMUTABLE: jsonb_set and uuid's text form are.
CREATE FUNCTION pliers.scoped_answers(p_form_id uuid, p_answers jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN p_form_id IS NOT NULL THEN pg_catalog.jsonb_set('{}'::jsonb, ARRAY[p_form_id::text], p_answers) END;
END;

COMMENT ON FUNCTION pliers.scoped_answers(uuid, jsonb) IS
'The answers p_answers under the key p_form_id, {"<form_id>": answers}: the expression of the GIN index '
'submissions_answers_idx, which pliers.list_submissions queries. data @> filter within a form is '
'scoped_answers(form_id, data) @> scoped_answers(form_id, filter). Executable by pliers_app and pliers_readonly: '
'writing a submission evaluates it. Inlinable. NULL when p_form_id is NULL (as when p_answers is).';

-- fastupdate off: every search would otherwise scan the pending list of recent entries,
-- which grows with the write rate until vacuum merges it.
CREATE INDEX submissions_answers_idx ON pliers.submissions
USING gin (pliers.scoped_answers(form_id, data) jsonb_path_ops) WITH (fastupdate = off);

COMMENT ON INDEX pliers.submissions_answers_idx IS
'Containment (@>) and jsonpath (@@) searches of answers, one form at a time (pliers.scoped_answers: a posting '
'list holds one form''s matches). Used by pliers.list_submissions; jsonb_path_ops: smaller, no key-exists operators.';

-- A form belongs to one organization: without this, the planner multiplies the
-- selectivities of organization_id and form_id as if independent, underestimates a
-- large tenant's form by its share of all rows, and reads an answer filter through the
-- GIN index (every tenant's matches) instead of walking the form's rows by date until
-- the page is full (bench/RESULTS.md, figure 3). Used from the next ANALYZE.
CREATE STATISTICS pliers.submissions_organization_form (DEPENDENCIES)
ON organization_id, form_id FROM pliers.submissions;

COMMENT ON STATISTICS pliers.submissions_organization_form IS
'form_id determines organization_id: row estimates for a form of one tenant';

-- No index on tags: no API query filters on them (a GIN entry per row cost each insert).

-- Maintenance job across tenants: purge drafts whose expires_at has passed.
CREATE INDEX submissions_expires_at_idx ON pliers.submissions (expires_at)
WHERE status = 'draft' AND expires_at IS NOT NULL;

COMMENT ON INDEX pliers.submissions_expires_at_idx IS
'Expired-draft purge (WHERE status = ''draft'' AND expires_at < now()); not tenant-leading on purpose: the job spans tenants';

-- Attachments ------------------------------------------------------------------

CREATE TABLE pliers.attachments (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),

    -- Associations (at least one required)
    submission_id uuid,
    form_id uuid,
    user_id uuid,

    -- File information
    filename varchar(255) NOT NULL,
    original_filename varchar(255),
    mime_type varchar(100) NOT NULL,
    file_size_bytes bigint NOT NULL,

    -- Storage
    storage_provider varchar(50) NOT NULL DEFAULT 's3',
    storage_key text NOT NULL,
    storage_bucket varchar(255),
    cdn_url pliers.url,

    -- Security
    checksum varchar(64),
    encryption_key_id varchar(255),
    access_control varchar(50) NOT NULL DEFAULT 'private',

    -- Scanning and validation
    virus_scanned boolean NOT NULL DEFAULT FALSE,
    virus_scan_result jsonb,
    content_validated boolean NOT NULL DEFAULT FALSE,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',
    exif_data jsonb,

    -- Audit
    uploaded_by uuid NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    deleted_by uuid,

    CONSTRAINT attachments_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT attachments_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT attachments_submission_id_fkey FOREIGN KEY (organization_id, submission_id)
    REFERENCES pliers.submissions (organization_id, id),
    CONSTRAINT attachments_form_id_fkey FOREIGN KEY (organization_id, form_id)
    REFERENCES pliers.forms (organization_id, id),
    CONSTRAINT attachments_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT attachments_uploaded_by_fkey FOREIGN KEY (organization_id, uploaded_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT attachments_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT require_association CHECK (
        submission_id IS NOT NULL OR form_id IS NOT NULL OR user_id IS NOT NULL
    ),
    CONSTRAINT valid_mime_type CHECK (mime_type ~ '^[a-z]+/[a-z0-9\.\-\+]+$'),
    CONSTRAINT attachments_filename_not_blank CHECK (btrim(filename) <> ''),
    CONSTRAINT attachments_file_size_bytes_non_negative CHECK (file_size_bytes >= 0),
    CONSTRAINT attachments_storage_key_not_blank CHECK (storage_key <> ''),
    CONSTRAINT attachments_checksum_sha256 CHECK (checksum ~ '^[0-9a-f]{64}$'),
    CONSTRAINT attachments_scan_result_needs_scan CHECK (virus_scan_result IS NULL OR virus_scanned),
    CONSTRAINT attachments_deleted_by_needs_deleted_at CHECK (
        deleted_by IS NULL OR deleted_at IS NOT NULL
    ),
    CONSTRAINT attachments_virus_scan_result_object CHECK (jsonb_typeof(virus_scan_result) = 'object'),
    CONSTRAINT attachments_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT attachments_exif_data_object CHECK (jsonb_typeof(exif_data) = 'object')
);

COMMENT ON TABLE pliers.attachments IS
'Uploaded files (the bytes are in object storage). Belongs to a submission, a form or a user (require_association). Soft-deleted.';
COMMENT ON COLUMN pliers.attachments.filename IS 'Sanitised file name used for storage and download';
COMMENT ON COLUMN pliers.attachments.original_filename IS 'File name as uploaded by the client';
COMMENT ON COLUMN pliers.attachments.mime_type IS 'Lower-case type/subtype (valid_mime_type), no parameters';
COMMENT ON COLUMN pliers.attachments.storage_provider IS 'Object store: s3, gcs, azure, local... (no fixed list in the seed)';
COMMENT ON COLUMN pliers.attachments.storage_key IS 'Object key within storage_bucket';
COMMENT ON COLUMN pliers.attachments.cdn_url IS 'Public http(s) URL, when access_control allows one';
COMMENT ON COLUMN pliers.attachments.checksum IS 'SHA-256 of the content, 64 lower-case hex digits';
COMMENT ON COLUMN pliers.attachments.encryption_key_id IS
'Identifier of the key the content is encrypted with (in the key store, never here)';
COMMENT ON COLUMN pliers.attachments.access_control IS
'Access mode of the object, e.g. private, public-read (no fixed list in the seed)';
COMMENT ON COLUMN pliers.attachments.virus_scan_result IS 'JSON object: scanner verdict; only once virus_scanned';
COMMENT ON COLUMN pliers.attachments.exif_data IS 'JSON object: image EXIF metadata (may contain location: personal data)';
COMMENT ON COLUMN pliers.attachments.uploaded_by IS
'Uploading user (NOT NULL as in the seed, so no SET NULL: a user who uploaded files cannot be hard-deleted before them)';

-- Files of a submission, and FK attachments_submission_id_fkey.
CREATE INDEX attachments_submission_id_idx ON pliers.attachments (organization_id, submission_id)
WHERE submission_id IS NOT NULL;

COMMENT ON INDEX pliers.attachments_submission_id_idx IS
'Attachments of a submission; serves FK attachments_submission_id_fkey';

-- Files of a form (images, downloads), and FK attachments_form_id_fkey.
CREATE INDEX attachments_form_id_idx ON pliers.attachments (organization_id, form_id)
WHERE form_id IS NOT NULL;

COMMENT ON INDEX pliers.attachments_form_id_idx IS 'Attachments of a form; serves FK attachments_form_id_fkey';

-- Files of a user (avatar, documents), and FK attachments_user_id_fkey.
CREATE INDEX attachments_user_id_idx ON pliers.attachments (organization_id, user_id)
WHERE user_id IS NOT NULL;

COMMENT ON INDEX pliers.attachments_user_id_idx IS 'Attachments of a user; serves FK attachments_user_id_fkey';

-- "Uploaded by" (quota per user, GDPR export) and FK attachments_uploaded_by_fkey.
CREATE INDEX attachments_uploaded_by_idx ON pliers.attachments (organization_id, uploaded_by);

COMMENT ON INDEX pliers.attachments_uploaded_by_idx IS
'Attachments uploaded by a user; serves FK attachments_uploaded_by_fkey';

-- FK attachments_deleted_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX attachments_deleted_by_idx ON pliers.attachments (organization_id, deleted_by)
WHERE deleted_by IS NOT NULL;

COMMENT ON INDEX pliers.attachments_deleted_by_idx IS 'Serves FK attachments_deleted_by_fkey';

-- Virus-scan worker queue across tenants: oldest unscanned live uploads first.
CREATE INDEX attachments_uploaded_at_unscanned_idx ON pliers.attachments (uploaded_at)
WHERE NOT virus_scanned AND deleted_at IS NULL;

COMMENT ON INDEX pliers.attachments_uploaded_at_unscanned_idx IS
'Scan queue: unscanned live attachments by upload time; small, since rows leave it once scanned';

-- Storage reports and retention across tenants by upload month (rows are appended in uploaded_at order).
CREATE INDEX attachments_uploaded_at_idx ON pliers.attachments USING brin (uploaded_at);

COMMENT ON INDEX pliers.attachments_uploaded_at_idx IS
'BRIN: uploaded_at ranges (storage reports, retention sweeps); tiny because rows arrive in time order';

-- Usage counters (quotas) ------------------------------------------------------

CREATE TABLE pliers.usage_counters (
    organization_id uuid NOT NULL,
    metric varchar(50) NOT NULL,
    period_start date NOT NULL,
    slot smallint NOT NULL,
    value bigint NOT NULL DEFAULT 0,

    CONSTRAINT usage_counters_pkey PRIMARY KEY (organization_id, metric, period_start, slot),
    CONSTRAINT usage_counters_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT usage_counters_metric_check CHECK (metric IN ('submissions', 'attachment_bytes')),
    CONSTRAINT usage_counters_period_start_check CHECK (
        CASE metric
            WHEN 'submissions' THEN isfinite(period_start) AND extract(DAY FROM period_start) = 1
            ELSE period_start = '-infinity'::date
        END
    ),
    CONSTRAINT usage_counters_slot_range CHECK (slot >= 0 AND slot < 16)
);

COMMENT ON TABLE pliers.usage_counters IS
'Usage of an organization measured against organizations.limits (quotas, pliers._check_quota), split over up to '
'16 slots per metric and period so that concurrent writers rarely share a row (DESIGN decision 6). Written by the '
'submission API only; the usage is the sum over the slots.';
COMMENT ON COLUMN pliers.usage_counters.metric IS
'submissions: submissions created in the month (limit max_submissions_per_month); attachment_bytes: bytes of the '
'live attachments (limit max_attachment_bytes)';
COMMENT ON COLUMN pliers.usage_counters.period_start IS
'First day of the UTC month for monthly metrics (submissions); -infinity for running totals (attachment_bytes)';
COMMENT ON COLUMN pliers.usage_counters.slot IS
'0..15, chosen per transaction (its transaction id modulo 16): concurrent transactions use different rows, one '
'transaction always the same row';
COMMENT ON COLUMN pliers.usage_counters.value IS
'Amount counted in this slot; a running total may be negative in one slot (a decrement lands in another slot '
'than the increment), never in the sum';
