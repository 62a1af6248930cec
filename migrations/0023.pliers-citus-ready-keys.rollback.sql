-- transactional: false
-- Undo 0023, outside a transaction too: one statement per statement of 0023, last
-- first; the old keys come back validated in their statement.
SET lock_timeout = '5s';

SET statement_timeout = 0;

SET ROLE pliers_owner;

COMMENT ON CONSTRAINT api_keys_key_hash_fkey ON pliers.api_keys IS NULL;

ALTER TABLE pliers.api_keys VALIDATE CONSTRAINT api_keys_key_hash_fkey;

ALTER TABLE pliers.api_keys DROP CONSTRAINT IF EXISTS api_keys_key_hash_fkey;

ALTER TABLE pliers.api_keys ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);

COMMENT ON CONSTRAINT api_keys_key_hash_key ON pliers.api_keys IS
'Authentication lookup: key_hash -> key row, before any tenant context exists (hence global, not tenant-leading)';

ALTER TABLE pliers.api_keys DROP CONSTRAINT IF EXISTS api_keys_organization_id_key_hash_key;

DROP INDEX CONCURRENTLY IF EXISTS pliers.api_keys_organization_id_key_hash_key;

ALTER TABLE pliers.workflows VALIDATE CONSTRAINT workflows_updated_by_fkey;

ALTER TABLE pliers.workflows
DROP CONSTRAINT workflows_updated_by_fkey,
ADD CONSTRAINT workflows_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);

ALTER TABLE pliers.workflows VALIDATE CONSTRAINT workflows_created_by_fkey;

ALTER TABLE pliers.workflows
DROP CONSTRAINT workflows_created_by_fkey,
ADD CONSTRAINT workflows_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);

ALTER TABLE pliers.workflow_forms VALIDATE CONSTRAINT workflow_forms_created_by_fkey;

ALTER TABLE pliers.workflow_forms
DROP CONSTRAINT workflow_forms_created_by_fkey,
ADD CONSTRAINT workflow_forms_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);

ALTER TABLE pliers.workflow_executions VALIDATE CONSTRAINT workflow_executions_triggered_by_fkey;

ALTER TABLE pliers.workflow_executions
DROP CONSTRAINT workflow_executions_triggered_by_fkey,
ADD CONSTRAINT workflow_executions_triggered_by_fkey FOREIGN KEY (organization_id, triggered_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (triggered_by);

ALTER TABLE pliers.webhooks VALIDATE CONSTRAINT webhooks_created_by_fkey;

ALTER TABLE pliers.webhooks
DROP CONSTRAINT webhooks_created_by_fkey,
ADD CONSTRAINT webhooks_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);

ALTER TABLE pliers.users VALIDATE CONSTRAINT users_updated_by_fkey;

ALTER TABLE pliers.users
DROP CONSTRAINT users_updated_by_fkey,
ADD CONSTRAINT users_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);

ALTER TABLE pliers.users VALIDATE CONSTRAINT users_created_by_fkey;

ALTER TABLE pliers.users
DROP CONSTRAINT users_created_by_fkey,
ADD CONSTRAINT users_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);

ALTER TABLE pliers.teams VALIDATE CONSTRAINT teams_updated_by_fkey;

ALTER TABLE pliers.teams
DROP CONSTRAINT teams_updated_by_fkey,
ADD CONSTRAINT teams_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);

ALTER TABLE pliers.teams VALIDATE CONSTRAINT teams_created_by_fkey;

ALTER TABLE pliers.teams
DROP CONSTRAINT teams_created_by_fkey,
ADD CONSTRAINT teams_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);

ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_submitted_by_fkey;

ALTER TABLE pliers.submissions
DROP CONSTRAINT submissions_submitted_by_fkey,
ADD CONSTRAINT submissions_submitted_by_fkey FOREIGN KEY (organization_id, submitted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (submitted_by);

ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_deleted_by_fkey;

ALTER TABLE pliers.submissions
DROP CONSTRAINT submissions_deleted_by_fkey,
ADD CONSTRAINT submissions_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (deleted_by);

ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_assigned_to_fkey;

ALTER TABLE pliers.submissions
DROP CONSTRAINT submissions_assigned_to_fkey,
ADD CONSTRAINT submissions_assigned_to_fkey FOREIGN KEY (organization_id, assigned_to) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (assigned_to);

ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_assigned_team_id_fkey;

ALTER TABLE pliers.submissions
DROP CONSTRAINT submissions_assigned_team_id_fkey,
ADD CONSTRAINT submissions_assigned_team_id_fkey FOREIGN KEY (organization_id, assigned_team_id) REFERENCES pliers.teams (organization_id, id) ON DELETE SET NULL (assigned_team_id);

ALTER TABLE pliers.role_assignments VALIDATE CONSTRAINT role_assignments_revoked_by_fkey;

ALTER TABLE pliers.role_assignments
DROP CONSTRAINT role_assignments_revoked_by_fkey,
ADD CONSTRAINT role_assignments_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (revoked_by);

ALTER TABLE pliers.role_assignments VALIDATE CONSTRAINT role_assignments_granted_by_fkey;

ALTER TABLE pliers.role_assignments
DROP CONSTRAINT role_assignments_granted_by_fkey,
ADD CONSTRAINT role_assignments_granted_by_fkey FOREIGN KEY (organization_id, granted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (granted_by);

ALTER TABLE pliers.plugin_installations VALIDATE CONSTRAINT plugin_installations_installed_by_fkey;

ALTER TABLE pliers.plugin_installations
DROP CONSTRAINT plugin_installations_installed_by_fkey,
ADD CONSTRAINT plugin_installations_installed_by_fkey FOREIGN KEY (organization_id, installed_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (installed_by);

ALTER TABLE pliers.organizations VALIDATE CONSTRAINT organizations_updated_by_fkey;

ALTER TABLE pliers.organizations
DROP CONSTRAINT organizations_updated_by_fkey,
ADD CONSTRAINT organizations_updated_by_fkey FOREIGN KEY (id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by) DEFERRABLE;

ALTER TABLE pliers.organizations VALIDATE CONSTRAINT organizations_primary_contact_id_fkey;

ALTER TABLE pliers.organizations
DROP CONSTRAINT organizations_primary_contact_id_fkey,
ADD CONSTRAINT organizations_primary_contact_id_fkey FOREIGN KEY (id, primary_contact_id) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (primary_contact_id) DEFERRABLE;

ALTER TABLE pliers.organizations VALIDATE CONSTRAINT organizations_created_by_fkey;

ALTER TABLE pliers.organizations
DROP CONSTRAINT organizations_created_by_fkey,
ADD CONSTRAINT organizations_created_by_fkey FOREIGN KEY (id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by) DEFERRABLE;

ALTER TABLE pliers.forms VALIDATE CONSTRAINT forms_updated_by_fkey;

ALTER TABLE pliers.forms
DROP CONSTRAINT forms_updated_by_fkey,
ADD CONSTRAINT forms_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);

ALTER TABLE pliers.forms VALIDATE CONSTRAINT forms_published_by_fkey;

ALTER TABLE pliers.forms
DROP CONSTRAINT forms_published_by_fkey,
ADD CONSTRAINT forms_published_by_fkey FOREIGN KEY (organization_id, published_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (published_by);

ALTER TABLE pliers.forms VALIDATE CONSTRAINT forms_created_by_fkey;

ALTER TABLE pliers.forms
DROP CONSTRAINT forms_created_by_fkey,
ADD CONSTRAINT forms_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);

ALTER TABLE pliers.form_collaborators VALIDATE CONSTRAINT form_collaborators_granted_by_fkey;

ALTER TABLE pliers.form_collaborators
DROP CONSTRAINT form_collaborators_granted_by_fkey,
ADD CONSTRAINT form_collaborators_granted_by_fkey FOREIGN KEY (organization_id, granted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (granted_by);

ALTER TABLE pliers.events
DROP CONSTRAINT events_user_id_fkey,
ADD CONSTRAINT events_user_id_fkey FOREIGN KEY (organization_id, user_id) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (user_id);

ALTER TABLE pliers.audit_logs
DROP CONSTRAINT audit_logs_user_id_fkey,
ADD CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (organization_id, user_id) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (user_id);

ALTER TABLE pliers.attachments VALIDATE CONSTRAINT attachments_deleted_by_fkey;

ALTER TABLE pliers.attachments
DROP CONSTRAINT attachments_deleted_by_fkey,
ADD CONSTRAINT attachments_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (deleted_by);

ALTER TABLE pliers.api_keys VALIDATE CONSTRAINT api_keys_revoked_by_fkey;

ALTER TABLE pliers.api_keys
DROP CONSTRAINT api_keys_revoked_by_fkey,
ADD CONSTRAINT api_keys_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (revoked_by);

RESET ROLE;

RESET statement_timeout;

RESET lock_timeout;
