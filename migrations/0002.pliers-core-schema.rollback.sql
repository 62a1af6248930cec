-- Undo 0002: every table, view, function and type of the core schema.
-- Runtime partitions go with their parents; detached partitions in
-- pliers_archive still reference organizations and make this fail, on purpose.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

DROP VIEW pliers.workflow_usage, pliers.form_usage;

-- One statement: organizations and users reference each other.
DROP TABLE
pliers.system_settings,
pliers.notifications,
pliers.webhooks,
pliers.api_keys,
pliers.plugin_installations,
pliers.plugins,
pliers.audit_logs,
pliers.events,
pliers.workflow_counters,
pliers.workflow_executions,
pliers.workflow_forms,
pliers.workflows,
pliers.usage_counters,
pliers.attachments,
pliers.submissions,
pliers.form_counters,
pliers.form_collaborators,
pliers.forms,
pliers.role_assignments,
pliers.roles,
pliers.team_members,
pliers.teams,
pliers.users,
pliers.organizations;

-- The per-organization submission number sequences that pliers._next_submission_number
-- (0006) creates at runtime number rows of the submissions table dropped above.
DO $drop_sequences$
DECLARE
    v_name text;
BEGIN
    FOR v_name IN
        SELECT c.relname FROM pg_catalog.pg_class AS c
        WHERE
            c.relnamespace = 'pliers'::regnamespace
            AND c.relkind = 'S'
            AND c.relname ~ '^submission_number_[0-9a-f]{32}$'
    LOOP
        EXECUTE pg_catalog.format('DROP SEQUENCE pliers.%I', v_name);
    END LOOP;
END
$drop_sequences$;

DROP FUNCTION
pliers._plugin_installations_plugin_visible(),
pliers._plugins_slug_scope(),
pliers.detach_partitions(regclass, interval),
pliers.create_partitions(regclass, date, date),
pliers._partition_bounds(regclass),
pliers._partitioned_parent(regclass),
pliers._forms_immutable_published(),
pliers._bump_revision(),
pliers._set_updated_at();

DROP TYPE
pliers.aggregate_type,
pliers.form_visibility,
pliers.subscription_status,
pliers.audit_status,
pliers.notification_priority,
pliers.plugin_status,
pliers.plugin_type,
pliers.scope_type,
pliers.team_role,
pliers.trigger_type,
pliers.execution_status,
pliers.workflow_status,
pliers.submission_status,
pliers.form_status,
pliers.user_status;

DROP DOMAIN pliers.slug, pliers.semver, pliers.url, pliers.email;
