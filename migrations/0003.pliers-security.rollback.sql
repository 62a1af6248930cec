-- Undo 0003: the grants, row-level security and policies of sql/95-security.sql.j2
-- (in reverse order), then the functions of sql/92-api-keys.sql and sql/91-tenancy.sql.
-- REVOKE ALL on a table also revokes the column privileges granted on it.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- Global tables and views

REVOKE SELECT ON pliers.form_usage, pliers.workflow_usage FROM pliers_app, pliers_readonly;

REVOKE SELECT ON pliers.roles FROM pliers_app, pliers_readonly;

REVOKE USAGE ON ALL SEQUENCES IN SCHEMA pliers FROM pliers_app;

DROP POLICY system_settings_select ON pliers.system_settings;

ALTER TABLE pliers.system_settings DISABLE ROW LEVEL SECURITY;

REVOKE SELECT ON pliers.system_settings FROM pliers_app, pliers_readonly;

-- plugins
DROP POLICY plugins_catalogue_write ON pliers.plugins;

DROP POLICY plugins_catalogue_select ON pliers.plugins;

DROP POLICY plugins_delete ON pliers.plugins;

DROP POLICY plugins_update ON pliers.plugins;

DROP POLICY plugins_insert ON pliers.plugins;

DROP POLICY plugins_select ON pliers.plugins;

ALTER TABLE pliers.plugins NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.plugins DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.plugins FROM pliers_app, pliers_readonly;

-- organizations
DROP POLICY organizations_delete ON pliers.organizations;

DROP POLICY organizations_update ON pliers.organizations;

DROP POLICY organizations_insert ON pliers.organizations;

DROP POLICY organizations_select ON pliers.organizations;

ALTER TABLE pliers.organizations NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.organizations DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.organizations FROM pliers_app, pliers_readonly;

-- pliers.usage_counters
DROP POLICY usage_counters_delete ON pliers.usage_counters;

DROP POLICY usage_counters_update ON pliers.usage_counters;

DROP POLICY usage_counters_insert ON pliers.usage_counters;

DROP POLICY usage_counters_select ON pliers.usage_counters;

ALTER TABLE pliers.usage_counters NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.usage_counters DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.usage_counters FROM pliers_app, pliers_readonly;

-- pliers.notifications
DROP POLICY notifications_delete ON pliers.notifications;

DROP POLICY notifications_update ON pliers.notifications;

DROP POLICY notifications_insert ON pliers.notifications;

DROP POLICY notifications_select ON pliers.notifications;

ALTER TABLE pliers.notifications NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.notifications DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.notifications FROM pliers_app, pliers_readonly;

-- pliers.webhooks
DROP POLICY webhooks_worker_select ON pliers.webhooks;

DROP POLICY webhooks_delete ON pliers.webhooks;

DROP POLICY webhooks_update ON pliers.webhooks;

DROP POLICY webhooks_insert ON pliers.webhooks;

DROP POLICY webhooks_select ON pliers.webhooks;

ALTER TABLE pliers.webhooks NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.webhooks DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.webhooks FROM pliers_app, pliers_readonly, pliers_worker;

-- pliers.api_keys
DROP POLICY api_keys_authenticate ON pliers.api_keys;

DROP POLICY api_keys_delete ON pliers.api_keys;

DROP POLICY api_keys_update ON pliers.api_keys;

DROP POLICY api_keys_insert ON pliers.api_keys;

DROP POLICY api_keys_select ON pliers.api_keys;

ALTER TABLE pliers.api_keys NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.api_keys DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.api_keys FROM pliers_app, pliers_readonly;

-- pliers.plugin_installations
DROP POLICY plugin_installations_delete ON pliers.plugin_installations;

DROP POLICY plugin_installations_update ON pliers.plugin_installations;

DROP POLICY plugin_installations_insert ON pliers.plugin_installations;

DROP POLICY plugin_installations_select ON pliers.plugin_installations;

ALTER TABLE pliers.plugin_installations NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.plugin_installations DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.plugin_installations FROM pliers_app, pliers_readonly;

-- pliers.audit_logs
DROP POLICY audit_logs_delete ON pliers.audit_logs;

DROP POLICY audit_logs_update ON pliers.audit_logs;

DROP POLICY audit_logs_insert ON pliers.audit_logs;

DROP POLICY audit_logs_select ON pliers.audit_logs;

ALTER TABLE pliers.audit_logs NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.audit_logs DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.audit_logs FROM pliers_app, pliers_readonly;

-- pliers.events
DROP POLICY events_worker_update ON pliers.events;

DROP POLICY events_worker_select ON pliers.events;

DROP POLICY events_delete ON pliers.events;

DROP POLICY events_update ON pliers.events;

DROP POLICY events_insert ON pliers.events;

DROP POLICY events_select ON pliers.events;

ALTER TABLE pliers.events NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.events DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.events FROM pliers_app, pliers_readonly, pliers_worker;

-- pliers.workflow_counters
DROP POLICY workflow_counters_delete ON pliers.workflow_counters;

DROP POLICY workflow_counters_update ON pliers.workflow_counters;

DROP POLICY workflow_counters_insert ON pliers.workflow_counters;

DROP POLICY workflow_counters_select ON pliers.workflow_counters;

ALTER TABLE pliers.workflow_counters NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflow_counters DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.workflow_counters FROM pliers_app, pliers_readonly;

-- pliers.workflow_executions
DROP POLICY workflow_executions_delete ON pliers.workflow_executions;

DROP POLICY workflow_executions_update ON pliers.workflow_executions;

DROP POLICY workflow_executions_insert ON pliers.workflow_executions;

DROP POLICY workflow_executions_select ON pliers.workflow_executions;

ALTER TABLE pliers.workflow_executions NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflow_executions DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.workflow_executions FROM pliers_app, pliers_readonly;

-- pliers.workflow_forms
DROP POLICY workflow_forms_delete ON pliers.workflow_forms;

DROP POLICY workflow_forms_update ON pliers.workflow_forms;

DROP POLICY workflow_forms_insert ON pliers.workflow_forms;

DROP POLICY workflow_forms_select ON pliers.workflow_forms;

ALTER TABLE pliers.workflow_forms NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflow_forms DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.workflow_forms FROM pliers_app, pliers_readonly;

-- pliers.workflows
DROP POLICY workflows_delete ON pliers.workflows;

DROP POLICY workflows_update ON pliers.workflows;

DROP POLICY workflows_insert ON pliers.workflows;

DROP POLICY workflows_select ON pliers.workflows;

ALTER TABLE pliers.workflows NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.workflows DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.workflows FROM pliers_app, pliers_readonly;

-- pliers.attachments
DROP POLICY attachments_delete ON pliers.attachments;

DROP POLICY attachments_update ON pliers.attachments;

DROP POLICY attachments_insert ON pliers.attachments;

DROP POLICY attachments_select ON pliers.attachments;

ALTER TABLE pliers.attachments NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.attachments DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.attachments FROM pliers_app, pliers_readonly;

-- pliers.submissions
DROP POLICY submissions_delete ON pliers.submissions;

DROP POLICY submissions_update ON pliers.submissions;

DROP POLICY submissions_insert ON pliers.submissions;

DROP POLICY submissions_select ON pliers.submissions;

ALTER TABLE pliers.submissions NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.submissions DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.submissions FROM pliers_app, pliers_readonly;

-- pliers.form_counters
DROP POLICY form_counters_delete ON pliers.form_counters;

DROP POLICY form_counters_update ON pliers.form_counters;

DROP POLICY form_counters_insert ON pliers.form_counters;

DROP POLICY form_counters_select ON pliers.form_counters;

ALTER TABLE pliers.form_counters NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.form_counters DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.form_counters FROM pliers_app, pliers_readonly;

-- pliers.form_collaborators
DROP POLICY form_collaborators_delete ON pliers.form_collaborators;

DROP POLICY form_collaborators_update ON pliers.form_collaborators;

DROP POLICY form_collaborators_insert ON pliers.form_collaborators;

DROP POLICY form_collaborators_select ON pliers.form_collaborators;

ALTER TABLE pliers.form_collaborators NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.form_collaborators DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.form_collaborators FROM pliers_app, pliers_readonly;

-- pliers.forms
DROP POLICY forms_delete ON pliers.forms;

DROP POLICY forms_update ON pliers.forms;

DROP POLICY forms_insert ON pliers.forms;

DROP POLICY forms_select ON pliers.forms;

ALTER TABLE pliers.forms NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.forms DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.forms FROM pliers_app, pliers_readonly;

-- pliers.role_assignments
DROP POLICY role_assignments_delete ON pliers.role_assignments;

DROP POLICY role_assignments_update ON pliers.role_assignments;

DROP POLICY role_assignments_insert ON pliers.role_assignments;

DROP POLICY role_assignments_select ON pliers.role_assignments;

ALTER TABLE pliers.role_assignments NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.role_assignments DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.role_assignments FROM pliers_app, pliers_readonly;

-- pliers.team_members
DROP POLICY team_members_delete ON pliers.team_members;

DROP POLICY team_members_update ON pliers.team_members;

DROP POLICY team_members_insert ON pliers.team_members;

DROP POLICY team_members_select ON pliers.team_members;

ALTER TABLE pliers.team_members NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.team_members DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.team_members FROM pliers_app, pliers_readonly;

-- pliers.teams
DROP POLICY teams_delete ON pliers.teams;

DROP POLICY teams_update ON pliers.teams;

DROP POLICY teams_insert ON pliers.teams;

DROP POLICY teams_select ON pliers.teams;

ALTER TABLE pliers.teams NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.teams DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.teams FROM pliers_app, pliers_readonly;

-- pliers.users
DROP POLICY users_delete ON pliers.users;

DROP POLICY users_update ON pliers.users;

DROP POLICY users_insert ON pliers.users;

DROP POLICY users_select ON pliers.users;

ALTER TABLE pliers.users NO FORCE ROW LEVEL SECURITY;

ALTER TABLE pliers.users DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON pliers.users FROM pliers_app, pliers_readonly;

-- Functions

ALTER DEFAULT PRIVILEGES FOR ROLE pliers_owner GRANT EXECUTE ON FUNCTIONS TO public;

-- Dropping a function drops its grants.
DROP FUNCTION
pliers.create_webhook(text, text, text[], bytea, text, jsonb),
pliers.revoke_api_key(uuid),
pliers.authenticate_api_key(text, uuid, inet, text, uuid),
pliers.create_api_key(text, text, text[], timestamptz, integer),
pliers._require_permission(text, pliers.scope_type, uuid),
pliers.has_permission(text, pliers.scope_type, uuid),
pliers.set_context(uuid, uuid, uuid, inet, text, uuid),
pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[]),
pliers.current_permissions(),
pliers.current_user_id(),
pliers.current_organization_id();

-- The functions of 0002 get back the default EXECUTE for PUBLIC.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pliers TO public;

RESET ROLE;
