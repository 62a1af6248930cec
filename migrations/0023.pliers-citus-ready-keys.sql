-- transactional: false
-- Citus-ready, part 2 (issue 14): the keys, outside a transaction, statement by
-- statement, so that no lock outlives its statement on a live database.
--   * The 27 actor references (created_by, assigned_to, events.user_id, ...) lose
--     ON DELETE SET NULL (col), which Citus refuses when the key holds the
--     distribution column: users and teams are soft-deleted, and a hard delete of one
--     still referenced now fails (purge_deleted keeps it, as it keeps every row a
--     NO ACTION key references). Each key is replaced in one statement (the old one
--     dropped, the new one added NOT VALID: checked for new rows at once), then
--     validated without blocking writes. The old keys held the same rows: validation
--     finds nothing. events and audit_logs, partitioned, cannot take a NOT VALID key:
--     theirs is validated in its statement.
--   * api_keys: the hash unique per tenant (an index built CONCURRENTLY) instead of
--     globally (pliers.api_key_hashes, 0022, holds that), and registered there.
-- The rollback file holds the partner of each statement, last first.
SET lock_timeout = '5s';

SET statement_timeout = 0;

SET ROLE pliers_owner;

ALTER TABLE pliers.api_keys
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT api_keys_revoked_by_fkey,
ADD CONSTRAINT api_keys_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.api_keys VALIDATE CONSTRAINT api_keys_revoked_by_fkey;

ALTER TABLE pliers.attachments
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT attachments_deleted_by_fkey,
ADD CONSTRAINT attachments_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.attachments VALIDATE CONSTRAINT attachments_deleted_by_fkey;

ALTER TABLE pliers.audit_logs
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT audit_logs_user_id_fkey,
-- The partitioned table validates in this statement (no NOT VALID key there).
-- squawk-ignore constraint-missing-not-valid, adding-foreign-key-constraint
ADD CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (organization_id, user_id) REFERENCES pliers.users (organization_id, id);

ALTER TABLE pliers.events
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT events_user_id_fkey,
-- The partitioned table validates in this statement (no NOT VALID key there).
-- squawk-ignore constraint-missing-not-valid, adding-foreign-key-constraint
ADD CONSTRAINT events_user_id_fkey FOREIGN KEY (organization_id, user_id) REFERENCES pliers.users (organization_id, id);

ALTER TABLE pliers.form_collaborators
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT form_collaborators_granted_by_fkey,
ADD CONSTRAINT form_collaborators_granted_by_fkey FOREIGN KEY (organization_id, granted_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.form_collaborators VALIDATE CONSTRAINT form_collaborators_granted_by_fkey;

ALTER TABLE pliers.forms
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT forms_created_by_fkey,
ADD CONSTRAINT forms_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.forms VALIDATE CONSTRAINT forms_created_by_fkey;

ALTER TABLE pliers.forms
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT forms_published_by_fkey,
ADD CONSTRAINT forms_published_by_fkey FOREIGN KEY (organization_id, published_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.forms VALIDATE CONSTRAINT forms_published_by_fkey;

ALTER TABLE pliers.forms
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT forms_updated_by_fkey,
ADD CONSTRAINT forms_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.forms VALIDATE CONSTRAINT forms_updated_by_fkey;

ALTER TABLE pliers.organizations
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT organizations_created_by_fkey,
ADD CONSTRAINT organizations_created_by_fkey FOREIGN KEY (id, created_by) REFERENCES pliers.users (organization_id, id) DEFERRABLE NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.organizations VALIDATE CONSTRAINT organizations_created_by_fkey;

ALTER TABLE pliers.organizations
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT organizations_primary_contact_id_fkey,
ADD CONSTRAINT organizations_primary_contact_id_fkey FOREIGN KEY (id, primary_contact_id) REFERENCES pliers.users (organization_id, id) DEFERRABLE NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.organizations VALIDATE CONSTRAINT organizations_primary_contact_id_fkey;

ALTER TABLE pliers.organizations
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT organizations_updated_by_fkey,
ADD CONSTRAINT organizations_updated_by_fkey FOREIGN KEY (id, updated_by) REFERENCES pliers.users (organization_id, id) DEFERRABLE NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.organizations VALIDATE CONSTRAINT organizations_updated_by_fkey;

ALTER TABLE pliers.plugin_installations
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT plugin_installations_installed_by_fkey,
ADD CONSTRAINT plugin_installations_installed_by_fkey FOREIGN KEY (organization_id, installed_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.plugin_installations VALIDATE CONSTRAINT plugin_installations_installed_by_fkey;

ALTER TABLE pliers.role_assignments
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT role_assignments_granted_by_fkey,
ADD CONSTRAINT role_assignments_granted_by_fkey FOREIGN KEY (organization_id, granted_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.role_assignments VALIDATE CONSTRAINT role_assignments_granted_by_fkey;

ALTER TABLE pliers.role_assignments
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT role_assignments_revoked_by_fkey,
ADD CONSTRAINT role_assignments_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.role_assignments VALIDATE CONSTRAINT role_assignments_revoked_by_fkey;

ALTER TABLE pliers.submissions
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT submissions_assigned_team_id_fkey,
ADD CONSTRAINT submissions_assigned_team_id_fkey FOREIGN KEY (organization_id, assigned_team_id) REFERENCES pliers.teams (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_assigned_team_id_fkey;

ALTER TABLE pliers.submissions
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT submissions_assigned_to_fkey,
ADD CONSTRAINT submissions_assigned_to_fkey FOREIGN KEY (organization_id, assigned_to) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_assigned_to_fkey;

ALTER TABLE pliers.submissions
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT submissions_deleted_by_fkey,
ADD CONSTRAINT submissions_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_deleted_by_fkey;

ALTER TABLE pliers.submissions
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT submissions_submitted_by_fkey,
ADD CONSTRAINT submissions_submitted_by_fkey FOREIGN KEY (organization_id, submitted_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.submissions VALIDATE CONSTRAINT submissions_submitted_by_fkey;

ALTER TABLE pliers.teams
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT teams_created_by_fkey,
ADD CONSTRAINT teams_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.teams VALIDATE CONSTRAINT teams_created_by_fkey;

ALTER TABLE pliers.teams
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT teams_updated_by_fkey,
ADD CONSTRAINT teams_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.teams VALIDATE CONSTRAINT teams_updated_by_fkey;

ALTER TABLE pliers.users
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT users_created_by_fkey,
ADD CONSTRAINT users_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.users VALIDATE CONSTRAINT users_created_by_fkey;

ALTER TABLE pliers.users
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT users_updated_by_fkey,
ADD CONSTRAINT users_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.users VALIDATE CONSTRAINT users_updated_by_fkey;

ALTER TABLE pliers.webhooks
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT webhooks_created_by_fkey,
ADD CONSTRAINT webhooks_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.webhooks VALIDATE CONSTRAINT webhooks_created_by_fkey;

ALTER TABLE pliers.workflow_executions
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT workflow_executions_triggered_by_fkey,
ADD CONSTRAINT workflow_executions_triggered_by_fkey FOREIGN KEY (organization_id, triggered_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.workflow_executions VALIDATE CONSTRAINT workflow_executions_triggered_by_fkey;

ALTER TABLE pliers.workflow_forms
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT workflow_forms_created_by_fkey,
ADD CONSTRAINT workflow_forms_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.workflow_forms VALIDATE CONSTRAINT workflow_forms_created_by_fkey;

ALTER TABLE pliers.workflows
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT workflows_created_by_fkey,
ADD CONSTRAINT workflows_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.workflows VALIDATE CONSTRAINT workflows_created_by_fkey;

ALTER TABLE pliers.workflows
-- squawk-ignore ban-drop-constraint
DROP CONSTRAINT workflows_updated_by_fkey,
ADD CONSTRAINT workflows_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.workflows VALIDATE CONSTRAINT workflows_updated_by_fkey;

-- squawk-ignore ban-concurrent-index-creation-in-transaction
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS api_keys_organization_id_key_hash_key
ON pliers.api_keys (organization_id, key_hash);

ALTER TABLE pliers.api_keys
ADD CONSTRAINT api_keys_organization_id_key_hash_key UNIQUE USING INDEX api_keys_organization_id_key_hash_key;

COMMENT ON CONSTRAINT api_keys_organization_id_key_hash_key ON pliers.api_keys IS
'Authentication lookup within the tenant that pliers.api_key_hashes names';

-- Replaced by the per-tenant key above and api_key_hashes' primary key.
-- squawk-ignore ban-drop-constraint
ALTER TABLE pliers.api_keys DROP CONSTRAINT api_keys_key_hash_key;

ALTER TABLE pliers.api_keys ADD CONSTRAINT api_keys_key_hash_fkey FOREIGN KEY (key_hash, organization_id)
REFERENCES pliers.api_key_hashes (key_hash, organization_id) NOT VALID;

-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.api_keys VALIDATE CONSTRAINT api_keys_key_hash_fkey;

COMMENT ON CONSTRAINT api_keys_key_hash_fkey ON pliers.api_keys IS
'Every key is registered in pliers.api_key_hashes (global uniqueness of the hash) under its own organization';

RESET ROLE;

RESET statement_timeout;

RESET lock_timeout;
