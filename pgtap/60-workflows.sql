-- pliers.workflows, pliers.workflow_forms, pliers.workflow_executions,
-- pliers.workflow_counters and the view pliers.workflow_usage (sql/60-workflows.sql):
-- columns, tenant keys, CHECKs, the slug/version rule, cross-tenant foreign keys,
-- cascades, the revision / updated_at triggers and the slotted counters.
BEGIN;
SELECT plan(136);

-- Structure: workflows ------------------------------------------------------------------

SELECT has_table('pliers', 'workflows', 'pliers.workflows exists');
SELECT columns_are('pliers', 'workflows', ARRAY[
    'organization_id', 'id',
    'name', 'slug', 'version',
    'type', 'trigger_type', 'trigger_config',
    'status', 'is_active',
    'definition',
    'settings', 'timeout_seconds', 'retry_config',
    'metadata', 'tags', 'revision',
    'created_at', 'updated_at', 'deleted_at', 'created_by', 'updated_by',
    'published_at', 'next_fire_at'
], 'workflows has the seed columns (form_ids and counters moved out) plus revision, published_at, next_fire_at');
SELECT hasnt_column('pliers', 'workflows', 'form_ids', 'workflows.form_ids became the table workflow_forms');
SELECT col_is_pk('pliers', 'workflows', ARRAY['organization_id', 'id'], 'workflows is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'workflows', 'slug', 'pliers.slug', 'slug uses domain slug');
SELECT col_type_is('pliers', 'workflows', 'version', 'pliers.semver', 'version uses domain semver');
SELECT col_type_is('pliers', 'workflows', 'type', 'character varying(50)', 'type is varchar(50)');
SELECT col_type_is('pliers', 'workflows', 'trigger_type', 'pliers.trigger_type', 'trigger_type uses enum trigger_type');
SELECT col_type_is('pliers', 'workflows', 'status', 'pliers.workflow_status', 'status uses enum workflow_status');
SELECT col_type_is('pliers', 'workflows', 'is_active', 'boolean', 'is_active is boolean');
SELECT col_type_is('pliers', 'workflows', 'definition', 'jsonb', 'definition is jsonb');
SELECT col_type_is('pliers', 'workflows', 'timeout_seconds', 'integer', 'timeout_seconds is integer');
SELECT col_type_is('pliers', 'workflows', 'revision', 'integer', 'revision is integer');
SELECT col_not_null('pliers', 'workflows', 'type', 'type is NOT NULL');
SELECT col_not_null('pliers', 'workflows', 'trigger_type', 'trigger_type is NOT NULL');
SELECT col_not_null('pliers', 'workflows', 'status', 'status is NOT NULL');
SELECT col_not_null('pliers', 'workflows', 'is_active', 'is_active is NOT NULL');
SELECT col_not_null('pliers', 'workflows', 'definition', 'definition is NOT NULL');
SELECT col_not_null('pliers', 'workflows', 'tags', 'tags is NOT NULL');
SELECT col_is_null('pliers', 'workflows', 'timeout_seconds', 'timeout_seconds is nullable (no limit)');
SELECT col_default_is('pliers', 'workflows', 'version', '1.0.0', 'version defaults to 1.0.0');
SELECT col_default_is('pliers', 'workflows', 'status', 'draft', 'status defaults to draft');
SELECT col_default_is('pliers', 'workflows', 'is_active', FALSE, 'is_active defaults to false');
SELECT col_default_is('pliers', 'workflows', 'revision', 1, 'revision defaults to 1');
SELECT fk_ok('pliers', 'workflows', ARRAY['organization_id', 'created_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'workflows.created_by is a user of the same organization');
SELECT fk_ok('pliers', 'workflows', ARRAY['organization_id', 'updated_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'workflows.updated_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.workflows'::regclass AND contype <> 'n'$$,
    ARRAY[
        'workflows_pkey', 'workflows_organization_id_fkey', 'workflows_created_by_fkey', 'workflows_updated_by_fkey',
        'workflows_type_not_blank', 'workflows_active_needs_published', 'workflows_timeout_seconds_positive',
        'workflows_trigger_config_object', 'workflows_definition_object', 'workflows_settings_object',
        'workflows_retry_config_object', 'workflows_metadata_object', 'workflows_tags_no_null',
        'workflows_revision_positive', 'workflows_next_fire_at_scheduled'
    ],
    'workflows has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'workflows', ARRAY[
    'workflows_pkey', 'unique_workflow_slug', 'workflows_trigger_type_active_idx', 'workflows_tags_idx',
    'workflows_created_by_idx', 'workflows_updated_by_idx', 'workflows_active_slug_key', 'workflows_next_fire_at_idx'
], 'workflows has the expected indexes');
SELECT index_is_unique('pliers', 'workflows', 'unique_workflow_slug', 'unique_workflow_slug is unique');
SELECT triggers_are('pliers', 'workflows', ARRAY['workflows_updated_at', 'workflows_revision', 'workflows_audit'],
    'workflows has the updated_at, revision and audit triggers');
SELECT trigger_is('pliers', 'workflows', 'workflows_updated_at', 'pliers', '_set_updated_at',
    'workflows_updated_at runs _set_updated_at()');
SELECT trigger_is('pliers', 'workflows', 'workflows_revision', 'pliers', '_bump_revision',
    'workflows_revision runs _bump_revision()');

-- Structure: workflow_forms -------------------------------------------------------------

SELECT has_table('pliers', 'workflow_forms', 'pliers.workflow_forms exists');
SELECT columns_are('pliers', 'workflow_forms', ARRAY[
    'organization_id', 'workflow_id', 'form_id', 'created_at', 'created_by'
], 'workflow_forms has the expected columns');
SELECT col_is_pk('pliers', 'workflow_forms', ARRAY['organization_id', 'workflow_id', 'form_id'],
    'workflow_forms is keyed by (organization_id, workflow_id, form_id)');
SELECT fk_ok('pliers', 'workflow_forms', ARRAY['organization_id', 'workflow_id'], 'pliers', 'workflows',
    ARRAY['organization_id', 'id'], 'workflow_forms.workflow_id is a workflow of the same organization');
SELECT fk_ok('pliers', 'workflow_forms', ARRAY['organization_id', 'form_id'], 'pliers', 'forms',
    ARRAY['organization_id', 'id'], 'workflow_forms.form_id is a form of the same organization');
SELECT fk_ok('pliers', 'workflow_forms', ARRAY['organization_id', 'created_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'workflow_forms.created_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.workflow_forms'::regclass AND contype <> 'n'$$,
    ARRAY['workflow_forms_pkey', 'workflow_forms_organization_id_fkey', 'workflow_forms_workflow_id_fkey',
        'workflow_forms_form_id_fkey', 'workflow_forms_created_by_fkey'],
    'workflow_forms has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'workflow_forms', ARRAY[
    'workflow_forms_pkey', 'workflow_forms_form_id_idx', 'workflow_forms_created_by_idx'
], 'workflow_forms has the expected indexes');

-- Structure: workflow_executions ----------------------------------------------------------

SELECT has_table('pliers', 'workflow_executions', 'pliers.workflow_executions exists');
SELECT columns_are('pliers', 'workflow_executions', ARRAY[
    'organization_id', 'id', 'workflow_id',
    'submission_id', 'parent_execution_id',
    'current_state', 'previous_state', 'state_history',
    'context', 'input_data', 'output_data',
    'status', 'error_message', 'error_details',
    'started_at', 'completed_at', 'duration_ms',
    'triggered_by', 'trigger_source',
    'metadata',
    'revision', 'timeout_at', 'sla_due_at', 'deadline_at', 'depth'
], 'workflow_executions has the seed columns and the engine''s (sql/64)');
SELECT col_is_pk('pliers', 'workflow_executions', ARRAY['organization_id', 'id'],
    'workflow_executions is keyed by (organization_id, id)');
SELECT col_type_is('pliers', 'workflow_executions', 'status', 'pliers.execution_status',
    'status uses enum execution_status');
SELECT col_type_is('pliers', 'workflow_executions', 'state_history', 'jsonb', 'state_history is jsonb');
SELECT col_type_is('pliers', 'workflow_executions', 'duration_ms', 'integer', 'duration_ms is integer');
SELECT col_not_null('pliers', 'workflow_executions', 'current_state', 'current_state is NOT NULL');
SELECT col_not_null('pliers', 'workflow_executions', 'status', 'status is NOT NULL');
SELECT col_not_null('pliers', 'workflow_executions', 'started_at', 'started_at is NOT NULL');
SELECT col_default_is('pliers', 'workflow_executions', 'status', 'running', 'status defaults to running');
SELECT col_default_is('pliers', 'workflow_executions', 'state_history', '[]', 'state_history defaults to []');
SELECT fk_ok('pliers', 'workflow_executions', ARRAY['organization_id', 'workflow_id'], 'pliers', 'workflows',
    ARRAY['organization_id', 'id'], 'workflow_executions.workflow_id is a workflow of the same organization');
SELECT fk_ok('pliers', 'workflow_executions', ARRAY['organization_id', 'submission_id'], 'pliers', 'submissions',
    ARRAY['organization_id', 'id'], 'workflow_executions.submission_id is a submission of the same organization');
SELECT fk_ok('pliers', 'workflow_executions', ARRAY['organization_id', 'parent_execution_id'], 'pliers',
    'workflow_executions', ARRAY['organization_id', 'id'],
    'workflow_executions.parent_execution_id is an execution of the same organization');
SELECT fk_ok('pliers', 'workflow_executions', ARRAY['organization_id', 'triggered_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'workflow_executions.triggered_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.workflow_executions'::regclass AND contype <> 'n'$$,
    ARRAY[
        'workflow_executions_pkey', 'workflow_executions_organization_id_fkey', 'workflow_executions_workflow_id_fkey',
        'workflow_executions_submission_id_fkey', 'workflow_executions_parent_execution_id_fkey',
        'workflow_executions_triggered_by_fkey', 'workflow_executions_parent_not_self',
        'workflow_executions_completed_at_consistent', 'workflow_executions_completed_after_started',
        'workflow_executions_duration_ms_non_negative', 'workflow_executions_state_history_array',
        'workflow_executions_context_object', 'workflow_executions_input_data_object',
        'workflow_executions_output_data_object', 'workflow_executions_error_details_object',
        'workflow_executions_metadata_object', 'workflow_executions_revision_positive',
        'workflow_executions_depth_range'
    ],
    'workflow_executions has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'workflow_executions', ARRAY[
    'workflow_executions_pkey', 'workflow_executions_workflow_id_started_at_idx',
    'workflow_executions_submission_id_idx', 'workflow_executions_parent_execution_id_idx',
    'workflow_executions_triggered_by_idx',
    'workflow_executions_timeout_at_idx', 'workflow_executions_deadline_at_idx',
    'workflow_executions_sla_due_at_idx', 'workflow_executions_started_at_idx'
], 'workflow_executions has the expected indexes');
SELECT triggers_are('pliers', 'workflow_executions', ARRAY['workflow_executions_audit'], 'workflow_executions has the audit trigger only');

-- Structure: workflow_counters and workflow_usage ------------------------------------------

SELECT has_table('pliers', 'workflow_counters', 'pliers.workflow_counters exists');
SELECT columns_are('pliers', 'workflow_counters', ARRAY[
    'organization_id', 'workflow_id', 'slot', 'execution_count', 'last_execution_at'
], 'workflow_counters has the expected columns');
SELECT col_is_pk('pliers', 'workflow_counters', ARRAY['organization_id', 'workflow_id', 'slot'],
    'workflow_counters is keyed by (organization_id, workflow_id, slot)');
SELECT col_type_is('pliers', 'workflow_counters', 'execution_count', 'bigint', 'execution_count is bigint');
SELECT fk_ok('pliers', 'workflow_counters', ARRAY['organization_id', 'workflow_id'], 'pliers', 'workflows',
    ARRAY['organization_id', 'id'], 'workflow_counters.workflow_id is a workflow of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.workflow_counters'::regclass AND contype <> 'n'$$,
    ARRAY['workflow_counters_pkey', 'workflow_counters_organization_id_fkey', 'workflow_counters_workflow_id_fkey',
        'workflow_counters_slot_range', 'workflow_counters_execution_count_non_negative'],
    'workflow_counters has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'workflow_counters', ARRAY['workflow_counters_pkey'],
    'workflow_counters has only its primary key as index');
SELECT has_view('pliers', 'workflow_usage', 'pliers.workflow_usage exists');
SELECT columns_are('pliers', 'workflow_usage', ARRAY[
    'organization_id', 'workflow_id', 'execution_count', 'last_execution_at'
], 'workflow_usage has the seed counter columns, one row per workflow');
SELECT ok(
    (SELECT 'security_invoker=true' = ANY (reloptions) FROM pg_catalog.pg_class
     WHERE oid = 'pliers.workflow_usage'::regclass),
    'workflow_usage is a security_invoker view'
);

-- Fixture ---------------------------------------------------------------------------------
-- Organizations A and B, a user, a form, a submission and a workflow in each.

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'workflows-test-a', 'Workflows test A'),
('00000000-0000-0000-0000-0000000000b0', 'workflows-test-b', 'Workflows test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com');
INSERT INTO pliers.forms (organization_id, id, name, slug, definition) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'Leave', 'leave', '{}'),
('00000000-0000-0000-0000-0000000000b0', '00000003-0000-0000-0000-0000000000b1', 'Leave', 'leave', '{}');
INSERT INTO pliers.submissions (organization_id, id, form_id, submission_number) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000004-0000-0000-0000-0000000000a1',
    '00000003-0000-0000-0000-0000000000a1', 'S-1'),
('00000000-0000-0000-0000-0000000000b0', '00000004-0000-0000-0000-0000000000b1',
    '00000003-0000-0000-0000-0000000000b1', 'S-1');
INSERT INTO pliers.workflows (organization_id, id, name, slug, type, trigger_type, definition, created_by,
    created_at, updated_at) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 'Approval', 'approval', 'approval',
    'form_submission', '{"states": {}}', '00000001-0000-0000-0000-0000000000a1', '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000b0', '00000006-0000-0000-0000-0000000000b1', 'Approval', 'approval', 'approval',
    'form_submission', '{"states": {}}', NULL, '2001-01-01', '2001-01-01');

-- workflows: CHECKs, domains, enums ------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.workflows (organization_id, id, name, slug, version, type, trigger_type, trigger_config,
        status,
        is_active, definition, timeout_seconds, tags)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a2', 'Nightly', 'nightly',
        '2.0.0-rc1', 'notification', 'schedule', '{"cron": "0 2 * * *"}', 'published', TRUE, '{"states": {}}', 60,
        '{ops}')$$,
    'an active published workflow with a pre-release version is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, version, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '2.0', 'approval', 'manual', '{}')$$,
    '23514', NULL, 'a version that is not semver is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'X_1', 'approval', 'manual', '{}')$$,
    '23514', NULL, 'a slug that is not a slug is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'cron', '{}')$$,
    '22P02', NULL, 'an unknown trigger_type is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', 'active')$$,
    '22P02', NULL, 'an unknown status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', '{}')$$,
    '23502', NULL, 'trigger_type is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', ' ', 'manual', '{}')$$,
    '23514', NULL, 'a blank type is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, is_active)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', TRUE)$$,
    '23514', NULL, 'a draft workflow cannot be active'
);
SELECT throws_ok(
    $$UPDATE pliers.workflows SET deleted_at = now()
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000006-0000-0000-0000-0000000000a2'$$,
    '23514', NULL, 'an active workflow cannot be soft-deleted while active'
);
SELECT throws_ok(
    $$UPDATE pliers.workflows SET status = 'deprecated'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000006-0000-0000-0000-0000000000a2'$$,
    '23514', NULL, 'an active workflow cannot leave published while active'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, timeout_seconds)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', 0)$$,
    '23514', NULL, 'timeout_seconds must be positive'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, trigger_config)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', '[]')$$,
    '23514', NULL, 'trigger_config must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '[]')$$,
    '23514', NULL, 'definition must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, settings)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', '1')$$,
    '23514', NULL, 'settings must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, retry_config)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', '[]')$$,
    '23514', NULL, 'retry_config must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', '[]')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, tags)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', ARRAY[NULL::text])$$,
    '23514', NULL, 'tags may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, revision)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}', -1)$$,
    '23514', NULL, 'revision must be positive'
);

-- workflows: unique slug and version, tenant isolation, triggers --------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Approval', 'approval', 'approval', 'manual', '{}')$$,
    '23505', NULL, 'a slug cannot have the same version twice in an organization'
);
SELECT lives_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, version, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Approval', 'approval', '1.1.0', 'approval', 'manual', '{}')$$,
    'another version of the slug is accepted'
);
SELECT lives_ok(
    $$UPDATE pliers.workflows SET deleted_at = now()
      WHERE organization_id = '00000000-0000-0000-0000-0000000000b0' AND id = '00000006-0000-0000-0000-0000000000b1'$$,
    'an inactive workflow is soft-deleted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition)
      VALUES ('00000000-0000-0000-0000-0000000000b0', 'Approval', 'approval', 'approval', 'manual', '{}')$$,
    'a soft-deleted version''s slug and version can be created again'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflows (organization_id, name, slug, type, trigger_type, definition, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', 'approval', 'manual', '{}',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'created_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.workflows SET updated_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000006-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'updated_by cannot be a user of another organization'
);
UPDATE pliers.workflows SET definition = '{"states": {"start": {}}}', revision = 50, updated_at = '1999-01-01'
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000006-0000-0000-0000-0000000000a1';
SELECT row_eq(
    $$SELECT definition, revision, updated_at, created_at FROM pliers.workflows
      WHERE id = '00000006-0000-0000-0000-0000000000a1'$$,
    ROW('{"states": {"start": {}}}'::jsonb, 2, now(), '2001-01-01'::timestamptz),
    'UPDATE keeps the change, revision 2 whatever the caller wrote, updated_at now(), created_at kept'
);

-- workflow_forms --------------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1',
        '00000003-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a1')$$,
    'a workflow is attached to a form of its organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1',
        '00000003-0000-0000-0000-0000000000a1')$$,
    '23505', NULL, 'a workflow is attached to a form once'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1',
        '00000003-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'a workflow of organization A cannot be attached to a form of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000b1',
        '00000003-0000-0000-0000-0000000000a1')$$,
    '23503', NULL, 'a form of organization A cannot be attached to a workflow of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a2',
        '00000003-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'workflow_forms.created_by cannot be a user of another organization'
);

-- workflow_executions --------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, id, workflow_id, submission_id, current_state,
        triggered_by, started_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000007-0000-0000-0000-0000000000a1',
        '00000006-0000-0000-0000-0000000000a1', '00000004-0000-0000-0000-0000000000a1', 'start',
        '00000001-0000-0000-0000-0000000000a1', '2001-01-01')$$,
    'a running execution of a workflow for a submission is accepted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, id, workflow_id, parent_execution_id, current_state,
        status,
        started_at, completed_at, duration_ms, state_history, error_details)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000007-0000-0000-0000-0000000000a2',
        '00000006-0000-0000-0000-0000000000a1', '00000007-0000-0000-0000-0000000000a1', 'end', 'failed',
        '2001-01-01', '2001-01-01 00:00:01', 1000, '[{"state": "start"}]', '{"code": "timeout"}')$$,
    'a failed child execution with completed_at is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', 'done')$$,
    '22P02', NULL, 'an unknown execution status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1')$$,
    '23502', NULL, 'current_state is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, id, workflow_id, current_state, parent_execution_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000007-0000-0000-0000-0000000000af',
        '00000006-0000-0000-0000-0000000000a1', 's', '00000007-0000-0000-0000-0000000000af')$$,
    '23514', NULL, 'an execution cannot be its own parent'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, status, completed_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', 'running', now())$$,
    '23514', NULL, 'a running execution has no completed_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, status, completed_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', 'pending', now())$$,
    '23514', NULL, 'a pending execution has no completed_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', 'completed')$$,
    '23514', NULL, 'a completed execution needs completed_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', 'timeout')$$,
    '23514', NULL, 'a timed-out execution needs completed_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, status, started_at,
        completed_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', 'completed',
        '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'completed_at before started_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, duration_ms)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', -1)$$,
    '23514', NULL, 'a negative duration_ms is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, state_history)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', '{}')$$,
    '23514', NULL, 'state_history must be a JSON array'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, context)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', '[]')$$,
    '23514', NULL, 'context must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, input_data)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', '[]')$$,
    '23514', NULL, 'input_data must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, output_data)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', '"done"')$$,
    '23514', NULL, 'output_data must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, error_details)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', '[]')$$,
    '23514', NULL, 'error_details must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's', '[]')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000b1', 's')$$,
    '23503', NULL, 'an execution of organization A cannot run a workflow of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, submission_id, current_state)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1',
        '00000004-0000-0000-0000-0000000000b1', 's')$$,
    '23503', NULL, 'an execution of organization A cannot be for a submission of organization B'
);
INSERT INTO pliers.workflow_executions (organization_id, id, workflow_id, current_state) VALUES
('00000000-0000-0000-0000-0000000000b0', '00000007-0000-0000-0000-0000000000b1',
    '00000006-0000-0000-0000-0000000000b1', 's');
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, parent_execution_id, current_state)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1',
        '00000007-0000-0000-0000-0000000000b1', 's')$$,
    '23503', NULL, 'an execution of organization A cannot be the child of an execution of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_executions (organization_id, workflow_id, current_state, triggered_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 's',
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'triggered_by cannot be a user of another organization'
);

-- workflow_counters and workflow_usage -------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.workflow_counters (organization_id, workflow_id, slot, execution_count,
        last_execution_at) VALUES
      ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 0, 4, '2001-03-01'),
      ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 7, 1, '2001-03-05'),
      ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 15, 10, NULL)$$,
    'counter slots 0, 7 and 15 are accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_counters (organization_id, workflow_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 16)$$,
    '23514', NULL, 'slot 16 is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_counters (organization_id, workflow_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', -1)$$,
    '23514', NULL, 'slot -1 is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_counters (organization_id, workflow_id, slot, execution_count)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 1, -5)$$,
    '23514', NULL, 'a negative execution_count is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_counters (organization_id, workflow_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a1', 7)$$,
    '23505', NULL, 'a slot exists once per workflow'
);
SELECT throws_ok(
    $$INSERT INTO pliers.workflow_counters (organization_id, workflow_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000b1', 0)$$,
    '23503', NULL, 'a counter of organization A cannot count a workflow of organization B'
);
SELECT results_eq(
    $$SELECT workflow_id, execution_count, last_execution_at FROM pliers.workflow_usage
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'
        AND workflow_id IN ('00000006-0000-0000-0000-0000000000a1', '00000006-0000-0000-0000-0000000000a2')
      ORDER BY workflow_id$$,
    $$VALUES ('00000006-0000-0000-0000-0000000000a1'::uuid, 15::bigint, '2001-03-05'::timestamptz),
             ('00000006-0000-0000-0000-0000000000a2'::uuid, 0::bigint, NULL::timestamptz)$$,
    'workflow_usage sums the slots (4 + 1 + 10) and takes the latest time; no counters gives 0 and NULL'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.workflow_usage
     WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'),
    (SELECT count(*)::integer FROM pliers.workflows WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'),
    'workflow_usage has one row per workflow'
);

-- Deletes ------------------------------------------------------------------------------------

SELECT throws_ok(
    $$DELETE FROM pliers.workflows
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000006-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a workflow with executions cannot be hard-deleted'
);
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23503', NULL,
    'a user who created a workflow, attached a form and triggered an execution cannot be hard-deleted (NO ACTION)'
);
SELECT results_eq(
    $$SELECT w.created_by, wf.created_by, e.triggered_by, e.organization_id
      FROM pliers.workflows AS w
      JOIN pliers.workflow_forms AS wf ON wf.organization_id = w.organization_id AND wf.workflow_id = w.id
      JOIN pliers.workflow_executions AS e ON e.organization_id = w.organization_id AND e.workflow_id = w.id
      WHERE w.id = '00000006-0000-0000-0000-0000000000a1' AND e.id = '00000007-0000-0000-0000-0000000000a1'$$,
    $$VALUES ('00000001-0000-0000-0000-0000000000a1'::uuid, '00000001-0000-0000-0000-0000000000a1'::uuid,
              '00000001-0000-0000-0000-0000000000a1'::uuid, '00000000-0000-0000-0000-0000000000a0'::uuid)$$,
    'workflows.created_by, workflow_forms.created_by and triggered_by keep the user, organization_id stays'
);
UPDATE pliers.workflows SET created_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND created_by = '00000001-0000-0000-0000-0000000000a1';
UPDATE pliers.workflows SET updated_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND updated_by = '00000001-0000-0000-0000-0000000000a1';
UPDATE pliers.workflow_forms SET created_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND created_by = '00000001-0000-0000-0000-0000000000a1';
UPDATE pliers.workflow_executions SET triggered_by = NULL
WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND triggered_by = '00000001-0000-0000-0000-0000000000a1';
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    'once nothing references it, the user can be hard-deleted'
);
SELECT results_eq(
    $$SELECT w.organization_id, e.organization_id
      FROM pliers.workflows AS w
      JOIN pliers.workflow_executions AS e ON e.organization_id = w.organization_id AND e.workflow_id = w.id
      WHERE w.id = '00000006-0000-0000-0000-0000000000a1' AND e.id = '00000007-0000-0000-0000-0000000000a1'$$,
    $$VALUES ('00000000-0000-0000-0000-0000000000a0'::uuid, '00000000-0000-0000-0000-0000000000a0'::uuid)$$,
    'the workflow and its execution stay in their organization'
);
DELETE FROM pliers.workflow_executions WHERE organization_id = '00000000-0000-0000-0000-0000000000a0';
SELECT lives_ok(
    $$DELETE FROM pliers.workflows
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000006-0000-0000-0000-0000000000a1'$$,
    'a workflow without executions can be hard-deleted (DELETE with BEFORE UPDATE triggers)'
);
SELECT is_empty(
    $$SELECT FROM pliers.workflow_forms WHERE workflow_id = '00000006-0000-0000-0000-0000000000a1'
      UNION ALL SELECT FROM pliers.workflow_counters WHERE workflow_id = '00000006-0000-0000-0000-0000000000a1'$$,
    'its form links and counters are deleted with it'
);
INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000006-0000-0000-0000-0000000000a2',
    '00000003-0000-0000-0000-0000000000a1');
DELETE FROM pliers.submissions WHERE organization_id = '00000000-0000-0000-0000-0000000000a0';
SELECT lives_ok(
    $$DELETE FROM pliers.forms
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'a form attached to a workflow can be hard-deleted'
);
SELECT is_empty(
    $$SELECT FROM pliers.workflow_forms WHERE form_id = '00000003-0000-0000-0000-0000000000a1'$$,
    'its workflow links are deleted with it'
);

SELECT * FROM finish();
ROLLBACK;
