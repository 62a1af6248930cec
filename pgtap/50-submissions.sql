-- pliers.submissions and pliers.attachments (sql/50-submissions.sql): columns,
-- tenant keys, CHECKs (status timestamps, JSON shapes, MIME type, SHA-256
-- checksum), the never-reused submission number, cross-tenant foreign keys,
-- ON DELETE rules and the revision / updated_at triggers.
BEGIN;
SELECT plan(143);

-- Structure: submissions ----------------------------------------------------------------

SELECT has_table('pliers', 'submissions', 'pliers.submissions exists');
SELECT columns_are('pliers', 'submissions', ARRAY[
    'organization_id', 'id', 'form_id',
    'submission_number', 'external_id',
    'status', 'workflow_state',
    'data',
    'attachments', 'attachment_count',
    'validation_state', 'validation_errors', 'is_valid',
    'submitted_by', 'assigned_to', 'assigned_team_id',
    'created_at', 'updated_at', 'submitted_at', 'completed_at', 'expires_at',
    'source', 'ip_address', 'user_agent', 'referrer',
    'metadata', 'tags', 'revision',
    'deleted_at', 'deleted_by'
], 'submissions has the seed columns (assigned_team became assigned_team_id) plus revision');
SELECT col_is_pk('pliers', 'submissions', ARRAY['organization_id', 'id'],
    'submissions is keyed by (organization_id, id)');

SELECT col_type_is('pliers', 'submissions', 'form_id', 'uuid', 'form_id is uuid');
SELECT col_type_is('pliers', 'submissions', 'submission_number', 'character varying(50)',
    'submission_number is varchar(50)');
SELECT col_type_is('pliers', 'submissions', 'status', 'pliers.submission_status', 'status uses enum submission_status');
SELECT col_type_is('pliers', 'submissions', 'data', 'jsonb', 'data is jsonb');
SELECT col_type_is('pliers', 'submissions', 'attachments', 'jsonb', 'attachments is jsonb');
SELECT col_type_is('pliers', 'submissions', 'attachment_count', 'integer', 'attachment_count is integer');
SELECT col_type_is('pliers', 'submissions', 'assigned_team_id', 'uuid', 'assigned_team_id is uuid');
SELECT col_type_is('pliers', 'submissions', 'ip_address', 'inet', 'ip_address is inet');
SELECT col_type_is('pliers', 'submissions', 'tags', 'text[]', 'tags is text[]');
SELECT col_type_is('pliers', 'submissions', 'revision', 'integer', 'revision is integer');

SELECT col_not_null('pliers', 'submissions', 'form_id', 'form_id is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'submission_number', 'submission_number is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'status', 'status is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'data', 'data is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'attachments', 'attachments is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'attachment_count', 'attachment_count is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'is_valid', 'is_valid is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'source', 'source is NOT NULL');
SELECT col_not_null('pliers', 'submissions', 'revision', 'revision is NOT NULL');
SELECT col_is_null('pliers', 'submissions', 'submitted_by', 'submitted_by is nullable (anonymous submissions)');

SELECT col_default_is('pliers', 'submissions', 'status', 'draft', 'status defaults to draft');
SELECT col_default_is('pliers', 'submissions', 'data', '{}', 'data defaults to {}');
SELECT col_default_is('pliers', 'submissions', 'attachments', '[]', 'attachments defaults to []');
SELECT col_default_is('pliers', 'submissions', 'validation_errors', '[]', 'validation_errors defaults to []');
SELECT col_default_is('pliers', 'submissions', 'attachment_count', 0, 'attachment_count defaults to 0');
SELECT col_default_is('pliers', 'submissions', 'is_valid', FALSE, 'is_valid defaults to false');
SELECT col_default_is('pliers', 'submissions', 'source', 'web', 'source defaults to web');
SELECT col_default_is('pliers', 'submissions', 'revision', 1, 'revision defaults to 1');

SELECT fk_ok('pliers', 'submissions', ARRAY['organization_id'], 'pliers', 'organizations', ARRAY['id'],
    'submissions.organization_id references organizations');
SELECT fk_ok('pliers', 'submissions', ARRAY['organization_id', 'form_id'], 'pliers', 'forms',
    ARRAY['organization_id', 'id'], 'submissions.form_id is a form of the same organization');
SELECT fk_ok('pliers', 'submissions', ARRAY['organization_id', 'submitted_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'submissions.submitted_by is a user of the same organization');
SELECT fk_ok('pliers', 'submissions', ARRAY['organization_id', 'assigned_to'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'submissions.assigned_to is a user of the same organization');
SELECT fk_ok('pliers', 'submissions', ARRAY['organization_id', 'assigned_team_id'], 'pliers', 'teams',
    ARRAY['organization_id', 'id'], 'submissions.assigned_team_id is a team of the same organization');
SELECT fk_ok('pliers', 'submissions', ARRAY['organization_id', 'deleted_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'submissions.deleted_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.submissions'::regclass AND contype <> 'n'$$,
    ARRAY[
        'submissions_pkey', 'unique_submission_number', 'submissions_organization_id_fkey', 'submissions_form_id_fkey',
        'submissions_submitted_by_fkey', 'submissions_assigned_to_fkey', 'submissions_assigned_team_id_fkey',
        'submissions_deleted_by_fkey', 'submissions_submission_number_not_blank',
        'submissions_attachment_count_non_negative', 'submissions_submitted_at_consistent',
        'submissions_completed_at_consistent', 'submissions_completed_after_submitted',
        'submissions_deleted_by_needs_deleted_at', 'submissions_data_object', 'submissions_attachments_array',
        'submissions_validation_state_object', 'submissions_validation_errors_array', 'submissions_metadata_object',
        'submissions_tags_no_null', 'submissions_revision_positive'
    ],
    'submissions has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'submissions', ARRAY[
    'submissions_pkey', 'unique_submission_number', 'submissions_form_id_created_at_idx',
    'submissions_status_created_at_idx', 'submissions_assigned_to_idx', 'submissions_assigned_team_id_idx',
    'submissions_deleted_by_idx', 'submissions_external_id_idx',
    'submissions_answers_idx', 'submissions_expires_at_idx', 'submissions_created_at_idx'
], 'submissions has the expected indexes (none on submitted_by or tags: no API query reads them)');
SELECT index_is_unique('pliers', 'submissions', 'unique_submission_number', 'unique_submission_number is unique');
SELECT index_is_unique('pliers', 'submissions', 'submissions_external_id_idx',
    'submissions_external_id_idx is unique (idempotent creation by external id)');
SELECT index_is_type('pliers', 'submissions', 'submissions_answers_idx', 'gin', 'submissions_answers_idx is a GIN index');
SELECT is(
    (SELECT c.reloptions FROM pg_catalog.pg_class AS c WHERE c.oid = 'pliers.submissions_answers_idx'::regclass),
    '{fastupdate=off}'::text[], 'submissions_answers_idx has no pending list (searches stay flat)'
);
SELECT is(
    (SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index AS i
     WHERE i.indexrelid = 'pliers.submissions_answers_idx'::regclass AND i.indisvalid),
    'CREATE INDEX submissions_answers_idx ON pliers.submissions USING gin (pliers.scoped_answers(form_id, data) '
    'jsonb_path_ops) WITH (fastupdate=off)',
    'the answer index is per form: one form''s matches per posting list'
);
SELECT is(
    pliers.scoped_answers('00000000-0000-4000-8000-000000000001', '{"a": {"b": [1, 2]}}'),
    '{"00000000-0000-4000-8000-000000000001": {"a": {"b": [1, 2]}}}'::jsonb,
    'scoped_answers puts the answers under the form''s id'
);
SELECT ok(
    EXISTS (SELECT FROM pg_catalog.pg_statistic_ext AS s
            WHERE s.stxrelid = 'pliers.submissions'::regclass AND s.stxname = 'submissions_organization_form'
              AND s.stxkind = '{f}'
              AND (SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = s.stxrelid AND a.attnum = ANY(s.stxkeys)) = '{form_id,organization_id}'),
    'extended statistics: form_id determines organization_id'
);
SELECT triggers_are('pliers', 'submissions', ARRAY['submissions_updated_at', 'submissions_revision', 'submissions_audit'],
    'submissions has the updated_at, revision and audit triggers');
SELECT trigger_is('pliers', 'submissions', 'submissions_updated_at', 'pliers', '_set_updated_at',
    'submissions_updated_at runs _set_updated_at()');
SELECT trigger_is('pliers', 'submissions', 'submissions_revision', 'pliers', '_bump_revision',
    'submissions_revision runs _bump_revision()');

-- Structure: usage_counters ---------------------------------------------------------------

SELECT has_table('pliers', 'usage_counters', 'pliers.usage_counters exists');
SELECT columns_are('pliers', 'usage_counters', ARRAY['organization_id', 'metric', 'period_start', 'slot', 'value'],
    'usage_counters has the expected columns');
SELECT indexes_are('pliers', 'usage_counters', ARRAY['usage_counters_pkey'], 'usage_counters has its primary key only');
SELECT col_is_pk('pliers', 'usage_counters', ARRAY['organization_id', 'metric', 'period_start', 'slot'],
    'usage_counters is keyed by organization, metric, period and slot');

-- Structure: attachments ----------------------------------------------------------------

SELECT has_table('pliers', 'attachments', 'pliers.attachments exists');
SELECT columns_are('pliers', 'attachments', ARRAY[
    'organization_id', 'id',
    'submission_id', 'form_id', 'user_id',
    'filename', 'original_filename', 'mime_type', 'file_size_bytes',
    'storage_provider', 'storage_key', 'storage_bucket', 'cdn_url',
    'checksum', 'encryption_key_id', 'access_control',
    'virus_scanned', 'virus_scan_result', 'content_validated',
    'metadata', 'exif_data',
    'uploaded_by', 'uploaded_at', 'deleted_at', 'deleted_by'
], 'attachments has the seed columns');
SELECT col_is_pk('pliers', 'attachments', ARRAY['organization_id', 'id'],
    'attachments is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'attachments', 'mime_type', 'character varying(100)', 'mime_type is varchar(100)');
SELECT col_type_is('pliers', 'attachments', 'file_size_bytes', 'bigint', 'file_size_bytes is bigint');
SELECT col_type_is('pliers', 'attachments', 'cdn_url', 'pliers.url', 'cdn_url uses domain url');
SELECT col_type_is('pliers', 'attachments', 'checksum', 'character varying(64)', 'checksum is varchar(64)');
SELECT col_not_null('pliers', 'attachments', 'filename', 'filename is NOT NULL');
SELECT col_not_null('pliers', 'attachments', 'mime_type', 'mime_type is NOT NULL');
SELECT col_not_null('pliers', 'attachments', 'file_size_bytes', 'file_size_bytes is NOT NULL');
SELECT col_not_null('pliers', 'attachments', 'storage_key', 'storage_key is NOT NULL');
SELECT col_not_null('pliers', 'attachments', 'uploaded_by', 'uploaded_by is NOT NULL (as in the seed)');
SELECT col_is_null('pliers', 'attachments', 'virus_scan_result', 'virus_scan_result is nullable');
SELECT col_default_is('pliers', 'attachments', 'storage_provider', 's3', 'storage_provider defaults to s3');
SELECT col_default_is('pliers', 'attachments', 'access_control', 'private', 'access_control defaults to private');
SELECT col_default_is('pliers', 'attachments', 'virus_scanned', FALSE, 'virus_scanned defaults to false');
SELECT fk_ok('pliers', 'attachments', ARRAY['organization_id', 'submission_id'], 'pliers', 'submissions',
    ARRAY['organization_id', 'id'], 'attachments.submission_id is a submission of the same organization');
SELECT fk_ok('pliers', 'attachments', ARRAY['organization_id', 'form_id'], 'pliers', 'forms',
    ARRAY['organization_id', 'id'], 'attachments.form_id is a form of the same organization');
SELECT fk_ok('pliers', 'attachments', ARRAY['organization_id', 'user_id'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'attachments.user_id is a user of the same organization');
SELECT fk_ok('pliers', 'attachments', ARRAY['organization_id', 'uploaded_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'attachments.uploaded_by is a user of the same organization');
SELECT fk_ok('pliers', 'attachments', ARRAY['organization_id', 'deleted_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'attachments.deleted_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.attachments'::regclass AND contype <> 'n'$$,
    ARRAY[
        'attachments_pkey', 'attachments_organization_id_fkey', 'attachments_submission_id_fkey',
        'attachments_form_id_fkey', 'attachments_user_id_fkey', 'attachments_uploaded_by_fkey',
        'attachments_deleted_by_fkey', 'require_association', 'valid_mime_type', 'attachments_filename_not_blank',
        'attachments_file_size_bytes_non_negative', 'attachments_storage_key_not_blank',
        'attachments_checksum_sha256', 'attachments_scan_result_needs_scan',
        'attachments_deleted_by_needs_deleted_at', 'attachments_virus_scan_result_object',
        'attachments_metadata_object', 'attachments_exif_data_object'
    ],
    'attachments has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'attachments', ARRAY[
    'attachments_pkey', 'attachments_submission_id_idx', 'attachments_form_id_idx', 'attachments_user_id_idx',
    'attachments_uploaded_by_idx', 'attachments_deleted_by_idx', 'attachments_uploaded_at_unscanned_idx',
    'attachments_uploaded_at_idx'
], 'attachments has the expected indexes');
SELECT index_is_type('pliers', 'attachments', 'attachments_uploaded_at_idx', 'brin',
    'attachments_uploaded_at_idx is a BRIN index');
SELECT triggers_are('pliers', 'attachments', ARRAY['attachments_audit'], 'attachments has the audit trigger only');

-- Fixture -------------------------------------------------------------------------------
-- Organizations A and B; ann and bob in A, cat in B; a team and a published form in each;
-- submission S-1 (submitted) in A, S-1 in B.

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'submissions-test-a', 'Submissions test A'),
('00000000-0000-0000-0000-0000000000b0', 'submissions-test-b', 'Submissions test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com'),
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'bob@example.com'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com');
INSERT INTO pliers.teams (organization_id, id, name, slug) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000002-0000-0000-0000-0000000000a1', 'Review', 'review'),
('00000000-0000-0000-0000-0000000000b0', '00000002-0000-0000-0000-0000000000b1', 'Review', 'review');
INSERT INTO pliers.forms (organization_id, id, name, slug, status, published_at, definition) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'Leave', 'leave', 'published', now(),
    '{"title": "Leave"}'),
('00000000-0000-0000-0000-0000000000b0', '00000003-0000-0000-0000-0000000000b1', 'Leave', 'leave', 'published', now(),
    '{"title": "Leave"}');
INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number, status, submitted_at, submitted_by,
    data, created_at, updated_at) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000004-0000-0000-0000-0000000000a1', '00000003-0000-0000-0000-0000000000a1',
    'S-1', 'submitted', '2001-01-01', '00000001-0000-0000-0000-0000000000a1', '{"days": 3}', '2001-01-01',
        '2001-01-01'),
('00000000-0000-0000-0000-0000000000b0', '00000004-0000-0000-0000-0000000000b1', '00000003-0000-0000-0000-0000000000b1',
    'S-1', 'draft', NULL, NULL, '{}', '2001-01-01', '2001-01-01');

-- submissions: CHECKs, enums, NOT NULL ----------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, status, submitted_at, completed_at,
        data, attachments, attachment_count, validation_state, validation_errors, is_valid, submitted_by, assigned_to,
        assigned_team_id, source, ip_address, tags)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-2', 'completed',
        '2001-01-01', '2001-01-02', '{"days": 2}', '[{"name": "cv.pdf"}]', 1, '{"days": "ok"}', '[]', TRUE,
        '00000001-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a2',
        '00000002-0000-0000-0000-0000000000a1', 'api', '192.0.2.1', '{urgent}')$$,
    'a submission with good values is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', 'pending')$$,
    '22P02', NULL, 'an unknown status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', '  ')$$,
    '23514', NULL, 'a blank submission_number is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1')$$,
    '23502', NULL, 'submission_number is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, submission_number)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'S-3')$$,
    '23502', NULL, 'form_id is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, attachment_count)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', -1)$$,
    '23514', NULL, 'a negative attachment_count is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, submitted_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', now())$$,
    '23514', NULL, 'a draft has no submitted_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', 'approved')$$,
    '23514', NULL, 'a submission past draft needs submitted_at'
);
SELECT lives_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-4', 'archived')$$,
    'an archived draft may lack submitted_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, status, submitted_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', 'completed',
          now())$$,
    '23514', NULL, 'a completed submission needs completed_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, status, submitted_at, completed_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', 'completed',
        '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'completed_at before submitted_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, deleted_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'deleted_by without deleted_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, data)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', '[]')$$,
    '23514', NULL, 'data must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, attachments)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', '{}')$$,
    '23514', NULL, 'attachments must be a JSON array'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, validation_state)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', '[]')$$,
    '23514', NULL, 'validation_state must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, validation_errors)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', '{}')$$,
    '23514', NULL, 'validation_errors must be a JSON array'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', '"x"')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, tags)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3',
          ARRAY[NULL::text])$$,
    '23514', NULL, 'tags may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, revision)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', 0)$$,
    '23514', NULL, 'revision must be positive'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number, ip_address)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-3', 'localhost')$$,
    '22P02', NULL, 'an ip_address that is not an address is rejected'
);

-- submissions: submission numbers ----------------------------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-1')$$,
    '23505', NULL, 'a submission number is used once per organization'
);
SELECT lives_ok(
    $$UPDATE pliers.submissions SET deleted_at = now(), deleted_by = '00000001-0000-0000-0000-0000000000a2'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1'$$,
    'a submission is soft-deleted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'S-1')$$,
    '23505', NULL, 'a deleted submission''s number is never reused'
);

-- submissions: tenant isolation --------------------------------------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000b1', 'S-9')$$,
    '23503', NULL, 'a submission of organization A cannot point at a form of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.submissions (organization_id, form_id, submission_number)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a9', 'S-9')$$,
    '23503', NULL, 'a submission cannot point at a form that does not exist'
);
SELECT throws_ok(
    $$UPDATE pliers.submissions SET submitted_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'submitted_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.submissions SET assigned_to = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'assigned_to cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.submissions SET assigned_team_id = '00000002-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'assigned_team_id cannot be a team of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.submissions SET deleted_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'deleted_by cannot be a user of another organization'
);

-- submissions: triggers --------------------------------------------------------------------

UPDATE pliers.submissions SET status = 'processing', assigned_to = '00000001-0000-0000-0000-0000000000a2',
    assigned_team_id = '00000002-0000-0000-0000-0000000000a1', revision = 10, updated_at = '1999-01-01'
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1';
SELECT row_eq(
    $$SELECT status, revision, updated_at, created_at FROM pliers.submissions
      WHERE id = '00000004-0000-0000-0000-0000000000a1'$$,
    ROW('processing'::pliers.submission_status, 3, now(), '2001-01-01'::timestamptz),
    'UPDATE keeps the change, revision is OLD + 1 (third version), updated_at now(), created_at kept'
);

-- attachments -------------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.attachments (organization_id, id, submission_id, filename, original_filename, mime_type,
        file_size_bytes, storage_key, cdn_url, checksum, virus_scanned, virus_scan_result, exif_data, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000005-0000-0000-0000-0000000000a1',
        '00000004-0000-0000-0000-0000000000a1', 'cv.pdf', 'My CV.pdf', 'application/pdf', 1024, 'a/cv.pdf',
        'https://cdn.example.com/a/cv.pdf', encode(sha256('cv'::bytea), 'hex'), TRUE, '{"clean": true}', '{}',
        '00000001-0000-0000-0000-0000000000a1')$$,
    'an attachment of a submission with good values is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.attachments (organization_id, form_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'logo.svg',
        'image/svg+xml', 0, 'a/logo.svg', '00000001-0000-0000-0000-0000000000a1')$$,
    'an empty attachment of a form, image/svg+xml, is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'sheet.xlsx',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 10, 'a/sheet.xlsx',
        '00000001-0000-0000-0000-0000000000a1')$$,
    'an attachment of a user with a long vendor MIME type is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, filename, mime_type, file_size_bytes, storage_key, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'x.txt', 'text/plain', 1, 'a/x',
          '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'an attachment needs a submission, a form or a user (require_association)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x.png', 'Image/PNG', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'an upper-case MIME type is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'pdf', 1, 'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a MIME type without subtype is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x.txt',
        'text/plain; charset=utf-8', 1, 'a/x', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a MIME type with parameters is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        checksum, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        upper(encode(sha256('x'::bytea), 'hex')), '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'an upper-case hex checksum is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        checksum, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        md5('x'), '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'an MD5 checksum (32 hex digits) is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        checksum, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        repeat('g', 64), '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a 64-character checksum that is not hex is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', -1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a negative file size is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', ' ', 'text/plain', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a blank filename is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1, '',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'an empty storage_key is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        cdn_url, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        'javascript:alert(1)', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a javascript: cdn_url is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        virus_scan_result, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        '{"clean": true}', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'a virus_scan_result before the scan is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        virus_scanned, virus_scan_result, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        TRUE, '["clean"]', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'virus_scan_result must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        metadata, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        '[]', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'attachments.metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        exif_data, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'image/jpeg', 1,
          'a/x',
        '[]', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'exif_data must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        deleted_by, uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a1')$$,
    '23514', NULL, 'deleted_by without deleted_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x')$$,
    '23502', NULL, 'uploaded_by is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, submission_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000004-0000-0000-0000-0000000000b1', 'x', 'text/plain', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23503', NULL, 'an attachment of organization A cannot belong to a submission of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, form_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000b1', 'x', 'text/plain', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23503', NULL, 'an attachment of organization A cannot belong to a form of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000b1', 'x', 'text/plain', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23503', NULL, 'an attachment of organization A cannot belong to a user of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.attachments (organization_id, user_id, filename, mime_type, file_size_bytes, storage_key,
        uploaded_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'x', 'text/plain', 1,
          'a/x',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'uploaded_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.attachments SET deleted_at = now(), deleted_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000005-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'attachments.deleted_by cannot be a user of another organization'
);

-- Deletes: NO ACTION -------------------------------------------------------------------------

SELECT throws_ok(
    $$DELETE FROM pliers.forms
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a form with submissions cannot be hard-deleted'
);
SELECT throws_ok(
    $$DELETE FROM pliers.submissions
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000004-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a submission with attachments cannot be hard-deleted'
);
SELECT throws_ok(
    $$DELETE FROM pliers.teams
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000002-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a team still assigned submissions cannot be hard-deleted (NO ACTION: teams are soft-deleted)'
);
SELECT row_eq(
    $$SELECT organization_id, assigned_team_id, revision FROM pliers.submissions
      WHERE id = '00000004-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000002-0000-0000-0000-0000000000a1'::uuid, 3),
    'the submission keeps its team and its organization, its revision unchanged'
);
UPDATE pliers.submissions SET assigned_team_id = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND assigned_team_id = '00000002-0000-0000-0000-0000000000a1';
SELECT lives_ok(
    $$DELETE FROM pliers.teams
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000002-0000-0000-0000-0000000000a1'$$,
    'once no submission is assigned to it, the team can be hard-deleted'
);
DELETE FROM pliers.attachments
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND user_id = '00000001-0000-0000-0000-0000000000a2';
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    '23503', NULL, 'a user still assigned a submission and named as its deleter cannot be hard-deleted (NO ACTION)'
);
SELECT row_eq(
    $$SELECT organization_id, assigned_to, deleted_by, deleted_at IS NOT NULL FROM pliers.submissions
      WHERE id = '00000004-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, '00000001-0000-0000-0000-0000000000a2'::uuid,
        '00000001-0000-0000-0000-0000000000a2'::uuid, TRUE),
    'assigned_to and deleted_by keep the user, the submission stays deleted'
);
UPDATE pliers.submissions SET assigned_to = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND assigned_to = '00000001-0000-0000-0000-0000000000a2';
UPDATE pliers.submissions SET deleted_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND deleted_by = '00000001-0000-0000-0000-0000000000a2';
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    'once nothing references it, the user can be hard-deleted'
);
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a user who uploaded attachments cannot be hard-deleted before them (uploaded_by is NOT NULL)'
);
SELECT lives_ok(
    $$DELETE FROM pliers.submissions
      WHERE organization_id = '00000000-0000-0000-0000-0000000000b0' AND id = '00000004-0000-0000-0000-0000000000b1'$$,
    'a submission without attachments can be hard-deleted (DELETE with BEFORE UPDATE triggers)'
);

SELECT * FROM finish();
ROLLBACK;
