-- Rollback of 0036 (workflow definitions and their lifecycle).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/63-workflows-api.sql

DROP FUNCTION pliers.workflow_status_moves();

DROP FUNCTION pliers._workflow_payload(pliers.workflows);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._lock_workflow(uuid, uuid);

DROP FUNCTION pliers._raise_workflow_immutable(pliers.workflows);

DROP FUNCTION pliers._check_workflow_attributes(
    text, text, pliers.trigger_type, jsonb, jsonb, integer, jsonb, text[], jsonb
);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._touch_workflow(uuid, uuid, text, jsonb);

DROP FUNCTION pliers._check_workflow_references(uuid, pliers.workflows);

DROP FUNCTION pliers._workflow_next_fire(pliers.workflows, timestamptz);

DROP FUNCTION pliers.create_workflow(
    text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
);

DROP FUNCTION pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
);

DROP FUNCTION pliers.delete_workflow(uuid, integer);

DROP FUNCTION pliers.publish_workflow(uuid, text, integer);

DROP FUNCTION pliers.create_workflow_version(uuid);

DROP FUNCTION pliers._change_workflow_status(uuid, pliers.workflow_status, integer);

DROP FUNCTION pliers.deprecate_workflow(uuid, integer);

DROP FUNCTION pliers.archive_workflow(uuid, integer);

DROP FUNCTION pliers.activate_workflow(uuid, integer);

DROP FUNCTION pliers.deactivate_workflow(uuid, integer);

DROP FUNCTION pliers.attach_workflow_form(uuid, uuid);

DROP FUNCTION pliers.detach_workflow_form(uuid, uuid);

DROP FUNCTION pliers.rotate_workflow_secret(uuid);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._workflow_secret_matches(uuid, uuid, text);

DROP FUNCTION pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type);

DROP FUNCTION pliers.get_workflow(uuid);

DROP FUNCTION pliers.list_workflow_forms(uuid);

-- sql/61-workflow-definitions.sql

DROP FUNCTION pliers.workflow_limits();

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_workflow_document(jsonb, text, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._valid_workflow_name(text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._unknown_keys(jsonb, text[], text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._workflow_duration(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._cron_field(text, integer, integer, text[]);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._cron_next(text, text, timestamptz);

DROP FUNCTION pliers._check_workflow_trigger(pliers.trigger_type, jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_workflow_retry_config(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_workflow_action(jsonb, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_workflow_actions(jsonb, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._workflow_duration_errors(jsonb, text);

DROP FUNCTION pliers.workflow_actions(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._workflow_guard_expressions(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._workflow_guard_vars(jsonb, jsonb);

DROP FUNCTION pliers.validate_workflow_definition(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._assert_valid_workflow_definition(jsonb);

-- sql/95-security.sql.j2
GRANT INSERT, UPDATE, DELETE ON pliers.workflows, pliers.workflow_forms TO pliers_app;

-- sql/60-workflows.sql
DROP TABLE pliers.workflow_secrets;

-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.workflows_next_fire_at_idx;

-- squawk-ignore require-concurrent-index-deletion
DROP INDEX pliers.workflows_active_slug_key;

ALTER TABLE pliers.workflows DROP CONSTRAINT workflows_next_fire_at_scheduled;

ALTER TABLE pliers.workflows DROP COLUMN next_fire_at;

ALTER TABLE pliers.workflows DROP COLUMN published_at;

RESET ROLE;
