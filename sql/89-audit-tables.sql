-- The tables audited from the start (pliers.enable_audit, sql/72-audit.sql). This
-- file comes after the last table it names (sql/81-integrations.sql); pliers.audit_settings
-- shows the result, and a DBA changes it with enable_audit / disable_audit.
--
-- Counters and high-frequency timestamps are ignored columns (a login does not
-- write an audit row, an API request neither); webhook headers and plugin
-- configuration may carry credentials: excluded. The answers of submissions are
-- excluded too: their events hold every version of them (time travel reads those),
-- and a third copy was a quarter of the bytes of a submission (bench/RESULTS.md). The
-- writes of the forms and submissions API are not audited at all: their events record
-- them (pliers.enable_audit; audit_settings.api_writes_in_events). Nor are those of the
-- choice-list API: a list's event records each create, replace and delete, and an audit
-- row per item would make replacing a 100,000-item data set write 200,000 rows. What
-- other roles write to the lists and items (a DBA's fix, purge_deleted) is audited; the
-- items a purged list takes with it (ON DELETE CASCADE, run as the owner) are not.
-- Not audited: system_settings (no tenant: audit_logs.organization_id is NOT NULL),
-- the counter tables, notifications, workflow_forms, events and audit_logs.
DO $audit$
BEGIN
    PERFORM pliers.enable_audit('pliers.organizations');
    PERFORM pliers.enable_audit(
        'pliers.users', p_ignored_columns => '{last_activity_at,last_login_at,failed_login_count}'
    );
    PERFORM pliers.enable_audit('pliers.teams');
    PERFORM pliers.enable_audit('pliers.team_members');
    PERFORM pliers.enable_audit('pliers.role_assignments');
    PERFORM pliers.enable_audit('pliers.forms');
    PERFORM pliers.enable_audit('pliers.form_collaborators');
    PERFORM pliers.enable_audit('pliers.choice_lists');
    PERFORM pliers.enable_audit('pliers.choice_list_items');
    PERFORM pliers.enable_audit('pliers.submissions', '{data}');
    PERFORM pliers.enable_audit('pliers.attachments');
    PERFORM pliers.enable_audit('pliers.workflows');
    PERFORM pliers.enable_audit('pliers.workflow_executions');
    PERFORM pliers.enable_audit('pliers.plugins');
    PERFORM pliers.enable_audit(
        'pliers.plugin_installations', '{config}', '{execution_count,last_execution_at}'
    );
    PERFORM pliers.enable_audit('pliers.api_keys', p_ignored_columns => '{last_used_at}');
    PERFORM pliers.enable_audit(
        'pliers.webhooks', '{headers}', '{failure_count,last_failure_at,last_success_at}'
    );
END
$audit$;
