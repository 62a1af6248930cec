-- The workflow API: the lifecycle of workflow versions (docs/workflows.md), as forms'
-- (sql/45-forms-api.sql):
--
--     create_workflow ──> draft ──publish_workflow──> published ──deprecate_workflow──> deprecated
--                          │  ^                          │  ^ activate / deactivate        │
--         update_workflow ─┘  │                          └──────archive_workflow──────> archived <─┘
--         delete_workflow     └── create_workflow_version (a new draft from the latest version)
--
-- A published version is immutable: its definition, trigger and configuration never
-- change (a new version is a new row). At most one version of a slug is active (new
-- executions start from it): activate_workflow moves the flag. The forms a workflow
-- listens to are workflow_forms rows (attach_workflow_form / detach_workflow_form);
-- the guards that read answers are checked against each attached form's definition.
--
-- Every function opens with the tenant context (PL008 without one), finds the row
-- (PL002), checks workflow.manage (write) or workflow.view (read) (PL006), the expected
-- revision (PL003), validates (PL001, every error at once), writes and appends its
-- events (aggregate workflow, aggregate_version = revision) in the caller's
-- transaction. Every statement names the tenant as a value (v_org): Citus routes it.

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.workflow_status_moves()
RETURNS TABLE (from_status pliers.workflow_status, to_status pliers.workflow_status, via text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT m.from_status::pliers.workflow_status, m.to_status::pliers.workflow_status, m.via
    FROM (
        VALUES
        ('draft', 'published', 'publish_workflow'),
        ('published', 'deprecated', 'deprecate_workflow'),
        ('published', 'archived', 'archive_workflow'),
        ('deprecated', 'archived', 'archive_workflow')
    ) AS m (from_status, to_status, via)
$$;

COMMENT ON FUNCTION pliers.workflow_status_moves() IS
'The status moves a workflow version may make, and the API function of each: draft -> published (publish_workflow), '
'published -> deprecated (deprecate_workflow), published or deprecated -> archived (archive_workflow). Any other '
'move raises PL004 (DETAIL {object, id, from, to}). Deprecating or archiving an active version deactivates it.';

CREATE FUNCTION pliers._workflow_payload(p_workflow pliers.workflows)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'name', p_workflow.name,
        'slug', p_workflow.slug,
        'version', p_workflow.version,
        'type', p_workflow.type,
        'trigger_type', p_workflow.trigger_type,
        'trigger_config', p_workflow.trigger_config,
        'status', p_workflow.status,
        'definition', p_workflow.definition,
        'settings', p_workflow.settings,
        'timeout_seconds', p_workflow.timeout_seconds,
        'retry_config', p_workflow.retry_config,
        'tags', to_jsonb(p_workflow.tags),
        'metadata', p_workflow.metadata,
        'created_at', p_workflow.created_at,
        'created_by', p_workflow.created_by
    )
$$;

COMMENT ON FUNCTION pliers._workflow_payload(pliers.workflows) IS
'Private: the business fields of a workflow version, the payload of workflow.created (enough to rebuild the row).';

CREATE FUNCTION pliers._lock_workflow(p_org uuid, p_workflow_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_workflow pliers.workflows;
BEGIN
    IF p_workflow_id IS NULL THEN
        PERFORM pliers._raise_invalid('workflow_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('workflow_id', 'required', 'the workflow id is required')));
    END IF;
    SELECT w.* INTO v_workflow
    FROM pliers.workflows AS w
    WHERE w.organization_id = p_org AND w.id = p_workflow_id AND w.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow', p_workflow_id);
    END IF;
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers._lock_workflow(uuid, uuid) IS
'Private: the live workflow version p_workflow_id of tenant p_org, locked FOR UPDATE; PL001 when p_workflow_id is '
'NULL, PL002 when it is unknown, deleted or another tenant''s.';

CREATE FUNCTION pliers._raise_workflow_immutable(p_workflow pliers.workflows)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'workflow % version % is % and cannot change', p_workflow.id, p_workflow.version, p_workflow.status
        USING
            ERRCODE = 'PL005',
            DETAIL = pg_catalog.jsonb_build_object(
                'object', 'workflow', 'id', p_workflow.id, 'status', p_workflow.status
            )::text,
            HINT = 'Make a new draft with create_workflow_version.';
END
$$;

COMMENT ON FUNCTION pliers._raise_workflow_immutable(pliers.workflows) IS
'Private: raises PL005 (Immutable, DETAIL {object: workflow, id, status}): only a draft version changes.';

-- The errors of the attributes every write takes; NULL arguments are not checked.
CREATE FUNCTION pliers._check_workflow_attributes(
    p_name text,
    p_type text,
    p_trigger_type pliers.trigger_type,
    p_trigger_config jsonb,
    p_settings jsonb,
    p_timeout_seconds integer,
    p_retry_config jsonb,
    p_tags text[],
    p_metadata jsonb
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_name IS NOT NULL AND (pg_catalog.btrim(p_name) = '' OR pg_catalog.length(p_name) > 255) THEN
        v_errors := v_errors || pliers._form_error('name', 'invalid', 'the name is 1 to 255 characters, not blank');
    END IF;
    IF p_type IS NOT NULL AND (pg_catalog.btrim(p_type) = '' OR pg_catalog.length(p_type) > 50) THEN
        v_errors := v_errors || pliers._form_error('type', 'invalid', 'the type is 1 to 50 characters, not blank');
    END IF;
    IF p_settings IS NOT NULL AND pg_catalog.jsonb_typeof(p_settings) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('settings', 'invalid_type', 'settings must be a JSON object');
    ELSIF p_settings IS NOT NULL THEN
        PERFORM pliers._check_workflow_document(p_settings, 'settings', 'config_bytes');
    END IF;
    IF p_metadata IS NOT NULL AND pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    ELSIF p_metadata IS NOT NULL THEN
        PERFORM pliers._check_workflow_document(p_metadata, 'metadata', 'config_bytes');
    END IF;
    IF p_timeout_seconds IS NOT NULL AND p_timeout_seconds NOT BETWEEN 60 AND 31622400 THEN
        v_errors := v_errors || pliers._form_error('timeout_seconds', 'out_of_range',
            'an execution''s time limit is 60 seconds to 366 days');
    END IF;
    IF p_trigger_type IS NOT NULL THEN
        v_errors := v_errors || pliers._check_workflow_trigger(p_trigger_type, coalesce(p_trigger_config, '{}'));
    END IF;
    IF p_retry_config IS NOT NULL THEN
        v_errors := v_errors || pliers._check_workflow_retry_config(p_retry_config);
    END IF;
    v_errors := v_errors || pliers._check_text_array('tags', p_tags, 100, 255);
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_attributes(
    text, text, pliers.trigger_type, jsonb, jsonb, integer, jsonb, text[], jsonb
) IS
'Private: the argument errors ({path, code, message}) of a workflow''s attributes: name, type, settings, metadata, '
'timeout_seconds (60 s to 366 days), trigger_config against p_trigger_type ($.trigger_config...), retry_config '
'($.retry_config...), tags. NULL arguments are not checked.';

-- A change that is not a column of the row (its forms, its secret) is a change of the
-- aggregate all the same: a new revision and an event.
CREATE FUNCTION pliers._touch_workflow(p_org uuid, p_workflow_id uuid, p_event_type text, p_payload jsonb)
RETURNS pliers.workflows
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_workflow pliers.workflows;
BEGIN
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), updated_by = pliers.current_user_id()
    WHERE w.organization_id = p_org AND w.id = p_workflow_id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event('workflow', v_workflow.id, v_workflow.revision, p_event_type, p_payload);
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers._touch_workflow(uuid, uuid, text, jsonb) IS
'Private: bumps the revision of workflow p_workflow_id of tenant p_org (updated_at, updated_by) and appends event '
'p_event_type (payload p_payload) at that revision: attach, detach, secret rotation.';

-- The references of a definition that need the tenant: teams and users of assign and
-- notify actions, workflows of start_workflow actions, and the answers guards read,
-- against each attached form's definition.
CREATE FUNCTION pliers._check_workflow_references(p_org uuid, p_workflow pliers.workflows)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
    v_action record;
    v_guard record;
    v_form record;
    v_check record;
    v_team text;
    v_user text;
    v_attached boolean := FALSE;
BEGIN
    FOR v_action IN SELECT a.path, a.action FROM pliers.workflow_actions(p_workflow.definition) AS a ORDER BY a.path LOOP
        v_team := coalesce(v_action.action ->> 'team', v_action.action #>> '{to,team}');
        v_user := coalesce(v_action.action ->> 'user', v_action.action #>> '{to,user}');
        IF v_action.action ->> 'type' IN ('assign', 'notify') AND v_team IS NOT NULL AND NOT EXISTS (
            SELECT FROM pliers.teams AS t
            WHERE t.organization_id = p_org AND t.slug = v_team::pliers.slug AND t.deleted_at IS NULL
        ) THEN
            v_errors := v_errors || pliers._form_error(
                v_action.path || CASE WHEN v_action.action ? 'team' THEN '.team' ELSE '.to.team' END,
                'unknown_team', pg_catalog.format('no team %s', pg_catalog.to_json(v_team)));
        END IF;
        IF v_action.action ->> 'type' IN ('assign', 'notify') AND v_user IS NOT NULL AND NOT EXISTS (
            SELECT FROM pliers.users AS u
            WHERE u.organization_id = p_org AND u.id = v_user::uuid AND u.deleted_at IS NULL
        ) THEN
            v_errors := v_errors || pliers._form_error(
                v_action.path || CASE WHEN v_action.action ? 'user' THEN '.user' ELSE '.to.user' END,
                'unknown_user', pg_catalog.format('no user %s in this organization', v_user));
        END IF;
        IF v_action.action ->> 'type' = 'start_workflow' AND NOT EXISTS (
            SELECT FROM pliers.workflows AS w
            WHERE w.organization_id = p_org AND w.slug = (v_action.action ->> 'workflow')::pliers.slug
                AND w.deleted_at IS NULL
        ) THEN
            v_errors := v_errors || pliers._form_error(v_action.path || '.workflow', 'unknown_workflow',
                pg_catalog.format('no workflow %s', pg_catalog.to_json(v_action.action ->> 'workflow')));
        END IF;
    END LOOP;

    -- Guards against each attached form (the version attached: its submissions start the run).
    FOR v_form IN
        SELECT f.id, f.slug, f.version, f.definition
        FROM pliers.workflow_forms AS wf
        INNER JOIN pliers.forms AS f ON wf.organization_id = f.organization_id AND wf.form_id = f.id
        WHERE wf.organization_id = p_org AND wf.workflow_id = p_workflow.id AND f.deleted_at IS NULL
        ORDER BY f.slug, f.version, f.id
    LOOP
        v_attached := TRUE;
        FOR v_guard IN SELECT * FROM pliers._workflow_guard_expressions(p_workflow.definition) LOOP
            v_check := pliers._expr_check(
                v_guard.expression, v_guard.path, pliers._workflow_guard_vars(v_guard.expression, v_form.definition),
                'boolean'
            );
            v_errors := v_errors || coalesce((
                SELECT pg_catalog.jsonb_agg(e.error || pg_catalog.jsonb_build_object(
                    'message', (e.error ->> 'message') || pg_catalog.format(' (form %s %s)', v_form.slug, v_form.version)
                ) ORDER BY e.n)
                FROM pg_catalog.unnest(v_check.errors) WITH ORDINALITY AS e (error, n)
            ), '[]');
        END LOOP;
    END LOOP;
    IF NOT v_attached THEN
        v_errors := v_errors || coalesce((
            SELECT pg_catalog.jsonb_agg(pliers._form_error(g.path, 'invalid_reference',
                'this guard reads answers.*: attach a form first (attach_workflow_form)') ORDER BY g.path)
            FROM pliers._workflow_guard_expressions(p_workflow.definition) AS g
            WHERE pg_catalog.jsonb_path_exists(g.expression,
                'strict $.**.var ? (@.type() == "string" && @ starts with "answers") ')
                OR pg_catalog.jsonb_path_exists(g.expression,
                'strict $.**.var[0] ? (@.type() == "string" && @ starts with "answers") ')
        ), '[]');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_references(uuid, pliers.workflows) IS
'Private: the errors of the references of a workflow''s definition within tenant p_org: unknown_team, unknown_user '
'(assign, notify), unknown_workflow (start_workflow: a live workflow of that slug), and each guard expression '
'type-checked against the definition of each attached form (invalid_reference for an unknown answers.* field, the '
'message naming the form); without an attached form, a guard reading answers.* is an invalid_reference.';

-- The next fire time of an active schedule workflow after p_after (NULL for the others).
CREATE FUNCTION pliers._workflow_next_fire(p_workflow pliers.workflows, p_after timestamptz)
RETURNS timestamptz
LANGUAGE sql
STABLE
AS $$
    SELECT CASE WHEN p_workflow.trigger_type = 'schedule' THEN pliers._cron_next(
        p_workflow.trigger_config ->> 'cron', coalesce(p_workflow.trigger_config ->> 'timezone', 'UTC'), p_after
    ) END
$$;

COMMENT ON FUNCTION pliers._workflow_next_fire(pliers.workflows, timestamptz) IS
'Private: the first time after p_after that the schedule of workflow p_workflow fires (pliers._cron_next of its '
'trigger_config), NULL unless its trigger is schedule. activate_workflow and the schedule sweep set next_fire_at '
'with it.';

-- ---------------------------------------------------------------------------
-- Drafts
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_workflow(
    p_slug text,
    p_name text,
    p_definition jsonb,
    p_trigger_type pliers.trigger_type DEFAULT 'manual',
    p_trigger_config jsonb DEFAULT '{}',
    p_type text DEFAULT 'approval',
    p_settings jsonb DEFAULT '{}',
    p_timeout_seconds integer DEFAULT NULL,
    p_retry_config jsonb DEFAULT '{}',
    p_tags text[] DEFAULT '{}',
    p_metadata jsonb DEFAULT '{}'
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
    v_workflow pliers.workflows;
BEGIN
    PERFORM pliers._require_permission('workflow.manage');
    IF p_name IS NULL THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'the name is required');
    END IF;
    IF p_trigger_type IS NULL THEN
        v_errors := v_errors || pliers._form_error('trigger_type', 'required', 'the trigger type is required');
    END IF;
    IF p_definition IS NULL THEN
        v_errors := v_errors || pliers._form_error('definition', 'required', 'the definition is required');
    END IF;
    v_errors := v_errors || pliers._check_slug(p_slug) || pliers._check_workflow_attributes(
        p_name, coalesce(p_type, ''), p_trigger_type, coalesce(p_trigger_config, 'null'),
        coalesce(p_settings, 'null'), p_timeout_seconds, coalesce(p_retry_config, 'null'),
        coalesce(p_tags, ARRAY[NULL]::text[]), coalesce(p_metadata, 'null')
    );
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_workflow_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow is not valid', v_errors);
    END IF;
    IF EXISTS (
        SELECT FROM pliers.workflows AS w
        WHERE w.organization_id = v_org AND w.slug = p_slug::pliers.slug AND w.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'a workflow with slug % already exists', p_slug
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object('object', 'workflow', 'slug', p_slug)::text,
                HINT = 'Choose another slug, or create a new version of the existing workflow.';
    END IF;

    INSERT INTO pliers.workflows (
        organization_id, name, slug, version, type, trigger_type, trigger_config, status, definition,
        settings, timeout_seconds, retry_config, tags, metadata, created_by, updated_by
    ) VALUES (
        v_org, p_name, p_slug, '1.0.0', p_type, p_trigger_type, p_trigger_config, 'draft', p_definition,
        p_settings, p_timeout_seconds, p_retry_config, p_tags, p_metadata,
        pliers.current_user_id(), pliers.current_user_id()
    )
    RETURNING * INTO v_workflow;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.created', pliers._workflow_payload(v_workflow)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.create_workflow(
    text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
) IS
'Creates the first version of a workflow: a draft 1.0.0 with slug p_slug (unique among the tenant''s live '
'workflows: PL003 {object, slug}), its definition validated (pliers.validate_workflow_definition), its trigger '
'configuration and retry policy too. Permission workflow.manage. PL001 (every error at once), PL006, PL008. Appends '
'workflow.created.';

CREATE FUNCTION pliers.update_workflow(
    p_workflow_id uuid,
    p_expected_revision integer,
    p_name text DEFAULT NULL,
    p_definition jsonb DEFAULT NULL,
    p_trigger_type pliers.trigger_type DEFAULT NULL,
    p_trigger_config jsonb DEFAULT NULL,
    p_type text DEFAULT NULL,
    p_settings jsonb DEFAULT NULL,
    p_timeout_seconds integer DEFAULT NULL,
    p_retry_config jsonb DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_errors jsonb;
    v_changes jsonb;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'draft' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    -- The trigger configuration is checked against the trigger type it will have.
    v_errors := pliers._check_workflow_attributes(
        p_name, p_type, CASE WHEN p_trigger_type IS NOT NULL OR p_trigger_config IS NOT NULL
            THEN coalesce(p_trigger_type, v_workflow.trigger_type) END,
        coalesce(p_trigger_config, CASE WHEN p_trigger_type IS NOT NULL THEN v_workflow.trigger_config END),
        p_settings, p_timeout_seconds, p_retry_config, p_tags, p_metadata
    );
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_workflow_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow is not valid', v_errors);
    END IF;
    v_changes := pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'name', p_name, 'definition', p_definition, 'trigger_type', p_trigger_type,
        'trigger_config', p_trigger_config, 'type', p_type, 'settings', p_settings,
        'timeout_seconds', p_timeout_seconds, 'retry_config', p_retry_config, 'tags', pg_catalog.to_jsonb(p_tags),
        'metadata', p_metadata
    ));

    UPDATE pliers.workflows AS w
    SET
        updated_at = pg_catalog.now(),
        name = coalesce(p_name, w.name),
        definition = coalesce(p_definition, w.definition),
        trigger_type = coalesce(p_trigger_type, w.trigger_type),
        trigger_config = coalesce(p_trigger_config, w.trigger_config),
        type = coalesce(p_type, w.type),
        settings = coalesce(p_settings, w.settings),
        timeout_seconds = coalesce(p_timeout_seconds, w.timeout_seconds),
        retry_config = coalesce(p_retry_config, w.retry_config),
        tags = coalesce(p_tags, w.tags),
        metadata = coalesce(p_metadata, w.metadata),
        updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.updated',
        pg_catalog.jsonb_build_object('changes', v_changes)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
) IS
'Edits a draft version: each argument given replaces the column (NULL: unchanged), validated as create_workflow '
'does. p_expected_revision is required (PL001 without it, PL003 when stale). Only drafts: PL005 (Immutable) for a '
'published, deprecated or archived version. Permission workflow.manage on the workflow. PL002, PL006, PL008. '
'Appends workflow.updated {changes}.';

CREATE FUNCTION pliers.delete_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'draft' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), deleted_at = pg_catalog.now(), updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.deleted',
        pg_catalog.jsonb_build_object('deleted_at', v_workflow.deleted_at, 'slug', v_workflow.slug)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.delete_workflow(uuid, integer) IS
'Discards a draft version (soft delete: deleted_at); deleting the only version frees the slug. Only drafts: PL005 '
'otherwise (published versions are archived). Permission workflow.manage. PL002, PL003 (stale revision, when '
'given), PL006, PL008. Appends workflow.deleted.';

-- ---------------------------------------------------------------------------
-- Publishing and versions
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.publish_workflow(
    p_workflow_id uuid,
    p_version text DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_previous pliers.workflows;
    v_version text;
    v_errors jsonb;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'draft' THEN
        RAISE EXCEPTION 'workflow % version % is % and cannot be published', v_workflow.id, v_workflow.version,
            v_workflow.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'id', v_workflow.id, 'from', v_workflow.status, 'to', 'published'
                )::text;
    END IF;
    v_version := coalesce(p_version, v_workflow.version);
    IF pg_catalog.length(v_version) > 20
        OR v_version !~ '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$' THEN
        PERFORM pliers._raise_invalid('invalid version', pg_catalog.jsonb_build_array(pliers._form_error(
            'version', 'invalid_version', 'the version is MAJOR.MINOR.PATCH, e.g. 1.2.0 (no leading zeros)')));
    END IF;

    -- Everything again (the rules may have changed since the draft was saved), and the
    -- references that need the tenant.
    v_errors := pliers.validate_workflow_definition(v_workflow.definition)
        || pliers._check_workflow_attributes(
            NULL, NULL, v_workflow.trigger_type, v_workflow.trigger_config, NULL, NULL, v_workflow.retry_config,
            NULL, NULL
        );
    IF v_errors = '[]' THEN
        v_errors := pliers._check_workflow_references(v_org, v_workflow);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow is not valid', v_errors);
    END IF;

    -- Versions of a slug only grow: greater than every version published before.
    SELECT w.* INTO v_previous
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = v_workflow.slug AND w.deleted_at IS NULL
        AND w.status <> 'draft' AND w.id <> v_workflow.id
    ORDER BY pliers._semver_key(w.version) DESC
    LIMIT 1;
    IF v_previous.id IS NOT NULL AND pliers._semver_key(v_version) <= pliers._semver_key(v_previous.version) THEN
        PERFORM pliers._raise_invalid(
            'the version must be greater than every published version',
            pg_catalog.jsonb_build_array(pliers._form_error('version', 'version_not_greater', pg_catalog.format(
                '%s is not greater than the published version %s', v_version, v_previous.version))),
            pg_catalog.jsonb_build_object('latest_version', v_previous.version)
        );
    END IF;

    BEGIN
        UPDATE pliers.workflows AS w
        SET
            updated_at = pg_catalog.now(),
            status = 'published',
            version = v_version,
            published_at = pg_catalog.now(),
            updated_by = pliers.current_user_id()
        WHERE w.organization_id = v_org AND w.id = v_workflow.id
        RETURNING w.* INTO v_workflow;
    EXCEPTION WHEN unique_violation THEN
        -- A draft of the slug holds the version (create_workflow_version's provisional one).
        PERFORM pliers._raise_invalid('the version is taken', pg_catalog.jsonb_build_array(pliers._form_error(
            'version', 'version_taken', pg_catalog.format('another version of %s is %s', v_workflow.slug, v_version))));
    END;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.published',
        pg_catalog.jsonb_build_object(
            'from', 'draft', 'to', 'published', 'version', v_workflow.version,
            'published_at', v_workflow.published_at, 'previous_version_id', v_previous.id,
            'previous_version', v_previous.version
        )
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.publish_workflow(uuid, text, integer) IS
'Publishes a draft version as p_version (MAJOR.MINOR.PATCH; NULL: its current version), which must be greater than '
'every other published version of the slug (PL001 version_not_greater, DETAIL latest_version). Validates everything '
'again and the references that need the tenant: teams, users, workflows named by actions (unknown_team, '
'unknown_user, unknown_workflow) and the answers guards read, against each attached form (invalid_reference). The '
'version is immutable from then on. Does not activate it (activate_workflow). Permission workflow.manage. PL002, '
'PL003 (stale revision), PL004 (not a draft), PL006, PL008. Appends workflow.published.';

CREATE FUNCTION pliers.create_workflow_version(p_workflow_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_source pliers.workflows;
    v_latest pliers.workflows;
    v_draft uuid;
    v_top numeric[];
    v_workflow pliers.workflows;
BEGIN
    IF p_workflow_id IS NULL THEN
        PERFORM pliers._raise_invalid('workflow_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('workflow_id', 'required', 'the workflow id is required')));
    END IF;
    SELECT w.* INTO v_source
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.id = p_workflow_id AND w.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow', p_workflow_id);
    END IF;
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_source.id);

    -- One open draft per slug: serialise the makers of new versions of this slug.
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('pliers.workflow_version:' || v_org::text || ':' || v_source.slug, 0)
    );
    SELECT w.id INTO v_draft
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = v_source.slug AND w.deleted_at IS NULL AND w.status = 'draft';
    IF v_draft IS NOT NULL THEN
        RAISE EXCEPTION 'workflow % already has a draft version %', v_source.slug, v_draft
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object('object', 'workflow', 'slug', v_source.slug, 'draft_id', v_draft)::text,
                HINT = 'Edit, publish or delete the existing draft first.';
    END IF;
    -- The new draft starts from the latest version of the slug, whichever was named.
    SELECT w.* INTO v_latest
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = v_source.slug AND w.deleted_at IS NULL
    ORDER BY pliers._semver_key(w.version) DESC
    LIMIT 1;
    v_top := pliers._semver_key(v_latest.version);

    INSERT INTO pliers.workflows (
        organization_id, name, slug, version, type, trigger_type, trigger_config, status, definition,
        settings, timeout_seconds, retry_config, tags, metadata, created_by, updated_by
    ) VALUES (
        v_org, v_latest.name, v_latest.slug, pg_catalog.format('%s.%s.%s', v_top[1], v_top[2], v_top[3] + 1),
        v_latest.type, v_latest.trigger_type, v_latest.trigger_config, 'draft', v_latest.definition,
        v_latest.settings, v_latest.timeout_seconds, v_latest.retry_config, v_latest.tags,
        v_latest.metadata || pg_catalog.jsonb_build_object('parent_id', v_latest.id),
        pliers.current_user_id(), pliers.current_user_id()
    )
    RETURNING * INTO v_workflow;

    -- The new version listens to the same forms and keeps the webhook secret.
    INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id, created_by)
    SELECT wf.organization_id, v_workflow.id, wf.form_id, pliers.current_user_id()
    FROM pliers.workflow_forms AS wf
    WHERE wf.organization_id = v_org AND wf.workflow_id = v_latest.id;
    INSERT INTO pliers.workflow_secrets (organization_id, workflow_id, secret_hash, rotated_at)
    SELECT s.organization_id, v_workflow.id, s.secret_hash, s.rotated_at
    FROM pliers.workflow_secrets AS s
    WHERE s.organization_id = v_org AND s.workflow_id = v_latest.id;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.created',
        pliers._workflow_payload(v_workflow) || pg_catalog.jsonb_build_object('parent_id', v_latest.id)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.create_workflow_version(uuid) IS
'Starts the next version of the workflow of p_workflow_id''s slug: a new draft copying the latest version (content, '
'attached forms, webhook secret; metadata.parent_id), with a provisional version (patch after the highest; '
'publish_workflow sets the real one). One draft per slug: PL003 {object, slug, draft_id}. Permission '
'workflow.manage. PL002, PL006, PL008. Appends workflow.created.';

CREATE FUNCTION pliers._change_workflow_status(
    p_workflow_id uuid,
    p_to pliers.workflow_status,
    p_expected_revision integer
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_from pliers.workflow_status;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    v_from := v_workflow.status;
    IF NOT EXISTS (
        SELECT FROM pliers.workflow_status_moves() AS m
        WHERE m.from_status = v_from AND m.to_status = p_to AND m.via <> 'publish_workflow'
    ) THEN
        RAISE EXCEPTION 'workflow % version % cannot go from % to %', v_workflow.id, v_workflow.version, v_from, p_to
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'id', v_workflow.id, 'from', v_from, 'to', p_to
                )::text,
                HINT = 'The allowed moves are listed by pliers.workflow_status_moves().';
    END IF;
    -- Only a published version is active: it stops starting executions first.
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), status = p_to, is_active = FALSE, next_fire_at = NULL,
        updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.' || p_to::text,
        pg_catalog.jsonb_build_object('from', v_from, 'to', p_to)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers._change_workflow_status(uuid, pliers.workflow_status, integer) IS
'Private: deprecate_workflow and archive_workflow. Checks the move against pliers.workflow_status_moves() (PL004 '
'{object, id, from, to}), deactivates the version, sets the status and appends workflow.deprecated or '
'workflow.archived ({from, to}).';

CREATE FUNCTION pliers.deprecate_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._change_workflow_status(p_workflow_id, 'deprecated', p_expected_revision);
END
$$;

COMMENT ON FUNCTION pliers.deprecate_workflow(uuid, integer) IS
'Deprecates a published version (and deactivates it: no new execution starts from it; running ones go on). '
'PL004 from any other status. Permission workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.deprecated.';

CREATE FUNCTION pliers.archive_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._change_workflow_status(p_workflow_id, 'archived', p_expected_revision);
END
$$;

COMMENT ON FUNCTION pliers.archive_workflow(uuid, integer) IS
'Archives a published or deprecated version (and deactivates it). PL004 from draft (delete_workflow) or archived. '
'Permission workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.archived.';

-- ---------------------------------------------------------------------------
-- Activation
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.activate_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_other record;
    v_errors jsonb;
    v_next_fire_at timestamptz;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'published' THEN
        RAISE EXCEPTION 'workflow % version % is %: only a published version is activated', v_workflow.id,
            v_workflow.version, v_workflow.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'id', v_workflow.id, 'from', v_workflow.status, 'to', 'active'
                )::text;
    END IF;
    IF v_workflow.is_active THEN
        RETURN v_workflow;  -- already: nothing changes, no event
    END IF;
    -- Teams, users or workflows named may have gone since it was published.
    v_errors := pliers._check_workflow_references(v_org, v_workflow);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow refers to objects that are gone', v_errors);
    END IF;

    -- One active version per slug: activations of one slug queue here, so that the one
    -- that comes second sees (and deactivates) the version the first made active; then
    -- the other one first (the unique index is checked per row).
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('pliers.workflow_active:' || v_org::text || ':' || v_workflow.slug, 0)
    );
    FOR v_other IN
        UPDATE pliers.workflows AS w
        SET updated_at = pg_catalog.now(), is_active = FALSE, next_fire_at = NULL,
            updated_by = pliers.current_user_id()
        WHERE w.organization_id = v_org AND w.slug = v_workflow.slug AND w.is_active AND w.id <> v_workflow.id
        RETURNING w.id, w.revision
    LOOP
        PERFORM pliers._append_event(
            'workflow', v_other.id, v_other.revision, 'workflow.deactivated',
            pg_catalog.jsonb_build_object('superseded_by', v_workflow.id)
        );
    END LOOP;
    -- A value: Citus allows no non-IMMUTABLE function inside the CASE of an UPDATE.
    v_next_fire_at := pliers._workflow_next_fire(v_workflow, pg_catalog.now());
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), is_active = TRUE, next_fire_at = v_next_fire_at,
        updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.activated',
        pg_catalog.jsonb_build_object('version', v_workflow.version, 'next_fire_at', v_workflow.next_fire_at)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.activate_workflow(uuid, integer) IS
'Makes a published version the active one of its slug (new executions start from it): the previously active '
'version is deactivated (workflow.deactivated, superseded_by). A schedule workflow gets its next_fire_at. The '
'references are checked again (PL001). Already active: returned unchanged. PL004 unless published. Permission '
'workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.activated {version, next_fire_at}.';

CREATE FUNCTION pliers.deactivate_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF NOT v_workflow.is_active THEN
        RETURN v_workflow;
    END IF;
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), is_active = FALSE, next_fire_at = NULL, updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event('workflow', v_workflow.id, v_workflow.revision, 'workflow.deactivated', '{}');
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.deactivate_workflow(uuid, integer) IS
'Stops a version from starting executions (running ones go on); a schedule''s next_fire_at is cleared. Not active: '
'returned unchanged. Permission workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.deactivated.';

-- ---------------------------------------------------------------------------
-- Forms
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.attach_workflow_form(p_workflow_id uuid, p_form_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_form pliers.forms;
    v_errors jsonb;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    IF v_workflow.status = 'archived' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid('form_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('form_id', 'required', 'the form id is required')));
    END IF;
    SELECT f.* INTO v_form
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.id = p_form_id AND f.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    PERFORM pliers._require_permission('form.view', 'form', v_form.id);
    IF EXISTS (
        SELECT FROM pliers.workflow_forms AS wf
        WHERE wf.organization_id = v_org AND wf.workflow_id = v_workflow.id AND wf.form_id = v_form.id
    ) THEN
        RETURN v_workflow;  -- attached already
    END IF;
    INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id, created_by)
    VALUES (v_org, v_workflow.id, v_form.id, pliers.current_user_id());
    -- The guards must read fields of this form too.
    v_errors := pliers._check_workflow_references(v_org, v_workflow);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow''s guards do not fit this form', v_errors);
    END IF;
    RETURN pliers._touch_workflow(v_org, v_workflow.id, 'workflow.form_attached', pg_catalog.jsonb_build_object(
        'form_id', v_form.id, 'form_slug', v_form.slug, 'form_version', v_form.version
    ));
END
$$;

COMMENT ON FUNCTION pliers.attach_workflow_form(uuid, uuid) IS
'Attaches form version p_form_id to a workflow version (a workflow_forms row): a form_submission workflow starts '
'when a submission of it is submitted, and guards read its answers: each guard is checked against its definition '
'(PL001 invalid_reference, nothing attached). Not for an archived version (PL005). Attached already: unchanged. '
'Permissions workflow.manage on the workflow and form.view on the form. PL002, PL006, PL008. Appends '
'workflow.form_attached {form_id, form_slug, form_version}.';

CREATE FUNCTION pliers.detach_workflow_form(p_workflow_id uuid, p_form_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    DELETE FROM pliers.workflow_forms AS wf
    WHERE wf.organization_id = v_org AND wf.workflow_id = v_workflow.id AND wf.form_id = p_form_id;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow_form', p_form_id);
    END IF;
    RETURN pliers._touch_workflow(
        v_org, v_workflow.id, 'workflow.form_detached', pg_catalog.jsonb_build_object('form_id', p_form_id)
    );
END
$$;

COMMENT ON FUNCTION pliers.detach_workflow_form(uuid, uuid) IS
'Detaches form p_form_id from a workflow version: its submissions no longer start it. PL002 (object workflow_form) '
'when it is not attached. Permission workflow.manage. PL006, PL008. Appends workflow.form_detached {form_id}.';

-- ---------------------------------------------------------------------------
-- The webhook trigger's secret
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.rotate_workflow_secret(p_workflow_id uuid)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    -- 256 random bits; the caller sees it once, the database keeps its SHA-256.
    v_secret constant text := 'wfs_' || pg_catalog.encode(pliers._random_key(), 'hex');
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    IF v_workflow.trigger_type <> 'webhook' THEN
        PERFORM pliers._raise_invalid('not a webhook workflow', pg_catalog.jsonb_build_array(pliers._form_error(
            'workflow_id', 'not_webhook', 'only a workflow with trigger_type webhook has a secret')));
    END IF;
    IF v_workflow.status = 'archived' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    INSERT INTO pliers.workflow_secrets AS s (organization_id, workflow_id, secret_hash, rotated_at)
    VALUES (v_org, v_workflow.id, pg_catalog.sha256(pg_catalog.convert_to(v_secret, 'UTF8')), pg_catalog.now())
    ON CONFLICT (organization_id, workflow_id) DO UPDATE
    SET secret_hash = excluded.secret_hash, rotated_at = excluded.rotated_at;
    PERFORM pliers._touch_workflow(v_org, v_workflow.id, 'workflow.secret_rotated', '{}');
    RETURN v_secret;
END
$$;

COMMENT ON FUNCTION pliers.rotate_workflow_secret(uuid) IS
'Sets a new random secret (wfs_ and 64 hex digits) for the webhook trigger of a workflow version and returns it, '
'once: only its SHA-256 is kept (pliers.workflow_secrets); the previous one stops working. PL001 (not_webhook) '
'unless trigger_type is webhook; PL005 for an archived version. Permission workflow.manage. PL002, PL006, PL008. '
'Appends workflow.secret_rotated (without the secret).';

CREATE FUNCTION pliers._workflow_secret_matches(p_org uuid, p_workflow_id uuid, p_secret text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_hash constant bytea := sha256(convert_to(coalesce(p_secret, ''), 'UTF8'));
BEGIN
    -- Hashes compared, not secrets: how long the comparison takes tells nothing of the
    -- secret. PL/pgSQL: Citus plans no parameterised query of an SQL function.
    RETURN coalesce((
        SELECT s.secret_hash = v_hash
        FROM pliers.workflow_secrets AS s
        WHERE s.organization_id = p_org AND s.workflow_id = p_workflow_id
    ), FALSE);
END
$$;

COMMENT ON FUNCTION pliers._workflow_secret_matches(uuid, uuid, text) IS
'Private, for trigger_workflow_webhook: TRUE when p_secret is the current secret of workflow p_workflow_id of '
'tenant p_org (its SHA-256 equals the stored one; comparing hashes takes a time independent of the secret).';

-- ---------------------------------------------------------------------------
-- Reading (as the owner, the tenant as a value: docs/scale-out.md)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.list_workflows(
    p_workflow_id uuid DEFAULT NULL,
    p_slug text DEFAULT NULL,
    p_status pliers.workflow_status DEFAULT NULL,
    p_active boolean DEFAULT NULL,
    p_trigger_type pliers.trigger_type DEFAULT NULL
)
RETURNS SETOF pliers.workflows
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_all constant boolean := pliers.has_permission('workflow.view');
BEGIN
    RETURN QUERY
    SELECT w.*
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org
        AND w.deleted_at IS NULL
        AND (p_workflow_id IS NULL OR w.id = p_workflow_id)
        AND (p_slug IS NULL OR w.slug = p_slug)
        AND (p_status IS NULL OR w.status = p_status)
        AND (p_active IS NULL OR w.is_active = p_active)
        AND (p_trigger_type IS NULL OR w.trigger_type = p_trigger_type)
        AND (v_all OR pliers.has_permission('workflow.view', 'workflow', w.id))
    ORDER BY w.slug, pliers._semver_key(w.version), w.created_at, w.id;
END
$$;

COMMENT ON FUNCTION pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type) IS
'The live workflow versions of the tenant that the caller may view (workflow.view, organization-wide or on the '
'workflow), each filter applied when given; by slug, then version. PL008 without a context.';

CREATE FUNCTION pliers.get_workflow(p_workflow_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    SELECT w.* INTO v_workflow
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.id = p_workflow_id AND w.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow', p_workflow_id);
    END IF;
    PERFORM pliers._require_permission('workflow.view', 'workflow', v_workflow.id);
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.get_workflow(uuid) IS
'One live workflow version. Permission workflow.view on it. PL002, PL006, PL008.';

CREATE FUNCTION pliers.list_workflow_forms(p_workflow_id uuid)
RETURNS SETOF pliers.workflow_forms
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
BEGIN
    PERFORM pliers.get_workflow(p_workflow_id);
    RETURN QUERY
    SELECT wf.*
    FROM pliers.workflow_forms AS wf
    WHERE wf.organization_id = v_org AND wf.workflow_id = p_workflow_id
    ORDER BY wf.created_at, wf.form_id;
END
$$;

COMMENT ON FUNCTION pliers.list_workflow_forms(uuid) IS
'The forms attached to a workflow version (workflow_forms rows), in attachment order. Permission workflow.view. '
'PL002, PL006, PL008.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.workflow_status_moves(),
pliers._workflow_payload(pliers.workflows),
pliers._lock_workflow(uuid, uuid),
pliers._raise_workflow_immutable(pliers.workflows),
pliers._check_workflow_attributes(text, text, pliers.trigger_type, jsonb, jsonb, integer, jsonb, text[], jsonb),
pliers._touch_workflow(uuid, uuid, text, jsonb),
pliers._check_workflow_references(uuid, pliers.workflows),
pliers._workflow_next_fire(pliers.workflows, timestamptz),
pliers.create_workflow(text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb),
pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
),
pliers.delete_workflow(uuid, integer),
pliers.publish_workflow(uuid, text, integer),
pliers.create_workflow_version(uuid),
pliers._change_workflow_status(uuid, pliers.workflow_status, integer),
pliers.deprecate_workflow(uuid, integer),
pliers.archive_workflow(uuid, integer),
pliers.activate_workflow(uuid, integer),
pliers.deactivate_workflow(uuid, integer),
pliers.attach_workflow_form(uuid, uuid),
pliers.detach_workflow_form(uuid, uuid),
pliers.rotate_workflow_secret(uuid),
pliers._workflow_secret_matches(uuid, uuid, text),
pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type),
pliers.get_workflow(uuid),
pliers.list_workflow_forms(uuid)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.workflow_status_moves(),
pliers.create_workflow(text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb),
pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
),
pliers.delete_workflow(uuid, integer),
pliers.publish_workflow(uuid, text, integer),
pliers.create_workflow_version(uuid),
pliers.deprecate_workflow(uuid, integer),
pliers.archive_workflow(uuid, integer),
pliers.activate_workflow(uuid, integer),
pliers.deactivate_workflow(uuid, integer),
pliers.attach_workflow_form(uuid, uuid),
pliers.detach_workflow_form(uuid, uuid),
pliers.rotate_workflow_secret(uuid),
pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type),
pliers.get_workflow(uuid),
pliers.list_workflow_forms(uuid)
TO pliers_app;
