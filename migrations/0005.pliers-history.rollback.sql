-- Undo 0005: the audit triggers, the DBA's maintenance functions, the feed and the
-- append-only triggers. The rows they wrote (audit rows, events) stay. A table that a
-- DBA audited later with pliers.enable_audit keeps its trigger and makes this fail on
-- DROP FUNCTION pliers._audit(): run pliers.disable_audit on it first.
-- The grants of 0005 repeat grants of 0003 (SELECT, INSERT on events and audit_logs,
-- USAGE on the sequences, to pliers_app): they stay.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- sql/89-audit-tables.sql
DROP TRIGGER webhooks_audit ON pliers.webhooks;
DROP TRIGGER api_keys_audit ON pliers.api_keys;
DROP TRIGGER plugin_installations_audit ON pliers.plugin_installations;
DROP TRIGGER plugins_audit ON pliers.plugins;
DROP TRIGGER workflow_executions_audit ON pliers.workflow_executions;
DROP TRIGGER workflows_audit ON pliers.workflows;
DROP TRIGGER attachments_audit ON pliers.attachments;
DROP TRIGGER submissions_audit ON pliers.submissions;
DROP TRIGGER form_collaborators_audit ON pliers.form_collaborators;
DROP TRIGGER forms_audit ON pliers.forms;
DROP TRIGGER role_assignments_audit ON pliers.role_assignments;
DROP TRIGGER team_members_audit ON pliers.team_members;
DROP TRIGGER teams_audit ON pliers.teams;
DROP TRIGGER users_audit ON pliers.users;
DROP TRIGGER organizations_audit ON pliers.organizations;

-- sql/78-maintenance.sql
DROP FUNCTION
pliers.erase_user(uuid, uuid),
pliers._erase_jsonb(jsonb, text[], text[], text, boolean),
pliers.purge_deleted(interval),
pliers._require_rls_bypass(text),
pliers.run_maintenance(integer, interval, interval),
pliers._default_partition_months(regclass);

-- sql/74-feed.sql
DROP FUNCTION
pliers.read_feed(xid8, bigint, integer),
pliers._check_expected_version(text, uuid, integer, integer),
pliers._append_event(pliers.aggregate_type, uuid, integer, text, jsonb, uuid);

DROP TRIGGER events_transaction_id ON pliers.events;
DROP FUNCTION pliers._events_transaction_id();
DROP TRIGGER events_append_only_truncate ON pliers.events;
DROP TRIGGER events_append_only ON pliers.events;

-- sql/72-audit.sql
DROP FUNCTION pliers.disable_audit(regclass), pliers.enable_audit(regclass, text[], text[]);
DROP VIEW pliers.audit_settings;
DROP FUNCTION pliers._audit(), pliers.is_audit_secret(text);
DROP TRIGGER audit_logs_append_only_truncate ON pliers.audit_logs;
DROP TRIGGER audit_logs_append_only ON pliers.audit_logs;
DROP FUNCTION pliers._history_append_only();
