-- History, part 4: time travel. The state of a submission or of a form version at any
-- past instant, rebuilt from its events, and its full history in order (issue 6;
-- docs/history.md, "Time travel").
--
-- The state is the aggregate's business fields as a JSON object, each value as
-- to_jsonb gives it for the row's column in the reading session (timestamps in the
-- session's TimeZone), so that it compares equal with the row:
--
--     submissions: form_id, submission_number, external_id, status, data, attachments,
--                  attachment_count, is_valid, validation_errors, assigned_to,
--                  assigned_team_id, submitted_by, submitted_at, completed_at,
--                  expires_at, source, referrer, metadata, tags, created_at,
--                  deleted_at, deleted_by, revision
--     forms:       name, slug, version, status, visibility, definition, settings,
--                  permissions, category, tags, metadata, parent_id, is_latest,
--                  published_at, published_by, deprecated_at, created_at, created_by,
--                  deleted_at, revision
--
-- Left out: the keys (organization_id, id), updated_at / updated_by (the event's
-- event_timestamp and user_id say when and by whom), the request metadata of a
-- submission (ip_address, user_agent: on the event row of submission.created), and
-- the columns no API call writes (submissions.workflow_state, validation_state).
--
-- The fold. The events of the aggregate are read in aggregate_version order. A
-- creation event (submission.created; form.created, form.cloned) starts the state from
-- its payload, every column not in it at its insert default; each later event merges
-- the fields it changes (the payload keys that are state fields, plus status from
-- "to", the attachments list from the attachment, NULLs for submission.restored and
-- submission.erased); revision is the event's aggregate_version. An event type the fold
-- does not know changes only revision. Before a creation event the state is NULL: the
-- aggregate did not exist yet, or its first events are in a partition detached by
-- retention (the state is then unknown, never guessed).
--
-- "As of" an instant: event_timestamp is the start time of the writing transaction.
-- The state as of p_at is the state after the longest run of events, in version order,
-- whose event_timestamp are all at or before p_at (so a version never takes effect
-- before the version it follows).
--
-- The histories are SECURITY DEFINER and apply the rules of the policies themselves: a
-- submission must be visible to the caller (pliers.submission_visible, the rule of
-- submissions_select: who may view the submissions of its form, the submitter, the
-- assignee, the team); a form version a row of the tenant. Every query names the
-- organization. (On Citus a transaction that wrote through the API reads the shards it
-- wrote only as the API's role, docs/scale-out.md.) The *_at functions read the
-- histories and run as the caller.

-- ---------------------------------------------------------------------------
-- Submissions
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.submission_history(p_submission_id uuid)
RETURNS TABLE (
    aggregate_version integer,
    event_type text,
    event_timestamp timestamptz,
    user_id uuid,
    state jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $function$
DECLARE
    c_fields CONSTANT text[] := ARRAY[
        'form_id', 'submission_number', 'external_id', 'status', 'data', 'attachments', 'attachment_count',
        'is_valid', 'validation_errors', 'assigned_to', 'assigned_team_id', 'submitted_by', 'submitted_at',
        'completed_at', 'expires_at', 'source', 'referrer', 'metadata', 'tags', 'created_at', 'deleted_at',
        'deleted_by', 'revision'
    ];
    c_timestamps CONSTANT text[] := ARRAY['submitted_at', 'completed_at', 'expires_at', 'created_at', 'deleted_at'];
    v_organization_id CONSTANT uuid := pliers.current_organization_id();
    v_event record;
    v_payload jsonb;
    v_changes jsonb;
    v_state jsonb;
BEGIN
    IF v_organization_id IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_submission_id IS NULL THEN
        RAISE EXCEPTION 'submission_id is required'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object(
                        'path', 'submission_id', 'code', 'required', 'message', 'the submission id is required'
                    )
                ))::text;
    END IF;
    -- Visible to the caller, as the policy submissions_select decides (a deleted
    -- submission keeps its history).
    IF NOT EXISTS (
        SELECT FROM pliers.submissions AS s
        WHERE s.organization_id = v_organization_id AND s.id = p_submission_id
            AND pliers.submission_visible(
                s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id,
                pliers.current_permissions(), pliers.current_user_id()
            )
    ) THEN
        RAISE EXCEPTION 'submission % not found', p_submission_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'submission', 'id', p_submission_id)::text;
    END IF;

    FOR v_event IN
        SELECT e.aggregate_version, e.event_type, e.event_timestamp, e.user_id, e.payload
        FROM pliers.events AS e
        WHERE
            e.organization_id = v_organization_id
            AND e.aggregate_type = 'submission'
            AND e.aggregate_id = p_submission_id
        ORDER BY e.aggregate_version, e.position
    LOOP
        v_payload := v_event.payload;
        IF v_event.event_type = 'submission.created' THEN
            -- Every column at its insert default, then the payload.
            v_state := (SELECT pg_catalog.jsonb_object_agg(f.name, 'null'::jsonb) FROM pg_catalog.unnest(c_fields) AS f (name))
                || '{"attachments": [], "attachment_count": 0}'::jsonb;
        END IF;
        v_changes := CASE v_event.event_type
            WHEN 'submission.created' THEN v_payload
            WHEN 'submission.updated' THEN v_payload
            WHEN 'submission.assigned' THEN v_payload
            WHEN 'submission.deleted' THEN v_payload
            WHEN 'submission.submitted' THEN v_payload || pg_catalog.jsonb_build_object('status', v_payload -> 'to')
            WHEN 'submission.status_changed' THEN
                pg_catalog.jsonb_build_object('status', v_payload -> 'to', 'completed_at', v_payload -> 'completed_at')
            WHEN 'submission.attachment_added' THEN
                v_payload || pg_catalog.jsonb_build_object(
                    'attachments', (v_state -> 'attachments') || pg_catalog.jsonb_build_array(
                        pg_catalog.jsonb_build_object(
                            'id', v_payload #> '{attachment,id}',
                            'field', v_payload #> '{attachment,field}',
                            'filename', v_payload #> '{attachment,filename}',
                            'mime_type', v_payload #> '{attachment,mime_type}',
                            'file_size_bytes', v_payload #> '{attachment,file_size_bytes}',
                            'checksum', v_payload #> '{attachment,checksum}'
                        )
                    )
                )
            WHEN 'submission.attachment_removed' THEN
                v_payload || pg_catalog.jsonb_build_object(
                    'attachments', coalesce((
                        SELECT pg_catalog.jsonb_agg(a.value ORDER BY a.ordinality)
                        FROM pg_catalog.jsonb_array_elements(v_state -> 'attachments') WITH ORDINALITY AS a (value, ordinality)
                        WHERE a.value ->> 'id' IS DISTINCT FROM v_payload ->> 'attachment_id'
                    ), '[]'::jsonb)
                )
            WHEN 'submission.restored' THEN '{"deleted_at": null, "deleted_by": null}'::jsonb
            WHEN 'submission.erased' THEN (
                SELECT coalesce(pg_catalog.jsonb_object_agg(f.name, 'null'::jsonb), '{}'::jsonb)
                FROM pg_catalog.jsonb_array_elements_text(coalesce(v_payload -> 'fields', '[]'::jsonb)) AS f (name)
            )
            ELSE '{}'::jsonb
        END;
        -- Merge the fields of the state (timestamps re-read in this session's TimeZone);
        -- a NULL state (no creation event yet) stays NULL.
        v_state := v_state
            || coalesce((
                SELECT pg_catalog.jsonb_object_agg(
                    c.key,
                    CASE
                        WHEN c.key = ANY(c_timestamps) AND pg_catalog.jsonb_typeof(c.value) = 'string'
                            THEN pg_catalog.to_jsonb((c.value #>> '{}')::timestamptz)
                        ELSE c.value
                    END
                )
                FROM pg_catalog.jsonb_each(v_changes) AS c
                WHERE c.key = ANY(c_fields) AND c.key <> 'revision'
            ), '{}'::jsonb)
            || pg_catalog.jsonb_build_object('revision', v_event.aggregate_version);

        aggregate_version := v_event.aggregate_version;
        event_type := v_event.event_type;
        event_timestamp := v_event.event_timestamp;
        user_id := v_event.user_id;
        state := v_state;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.submission_history(uuid) IS
'The history of a submission: one row per event, in aggregate_version order, with the event type, its time '
'(event_timestamp: the writing transaction''s start), the acting user, and the state after it: a JSON object of '
'the business fields (form_id, submission_number, external_id, status, data, attachments, attachment_count, '
'is_valid, validation_errors, assigned_to, assigned_team_id, submitted_by, submitted_at, completed_at, expires_at, '
'source, referrer, metadata, tags, created_at, deleted_at, deleted_by, revision), values as to_jsonb of the row''s '
'columns in this session, rebuilt by folding the event payloads. state is NULL before submission.created (e.g. '
'when the first events were detached by retention). The submission must be visible to the caller '
'(pliers.submission_visible, the rule of the policy; deleted ones included): PL002 otherwise. PL001 when '
'p_submission_id is NULL, PL008 without a context. SECURITY DEFINER. docs/history.md, "Time travel".';

CREATE FUNCTION pliers.submission_at(p_submission_id uuid, p_at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
DECLARE
    v_row record;
    v_state jsonb;
BEGIN
    IF pliers.current_organization_id() IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_at IS NULL THEN
        RAISE EXCEPTION 'at is required'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object('path', 'at', 'code', 'required', 'message', 'the instant is required')
                ))::text;
    END IF;
    -- The longest run of events, in version order, that happened at or before p_at.
    FOR v_row IN
        SELECT h.event_timestamp, h.state
        FROM pliers.submission_history(p_submission_id) AS h
        ORDER BY h.aggregate_version
    LOOP
        EXIT WHEN v_row.event_timestamp > p_at;
        v_state := v_row.state;
    END LOOP;
    RETURN v_state;
END
$function$;

COMMENT ON FUNCTION pliers.submission_at(uuid, timestamptz) IS
'The state of a submission as of p_at (the state column of pliers.submission_history after the last event, in '
'version order, of the longest run of events whose event_timestamp is at or before p_at), or NULL when it did '
'not exist yet at p_at (or its creation event is no longer in pliers.events). Errors as submission_history: '
'PL002 (unknown or invisible id), PL001 (NULL id or p_at), PL008. SECURITY INVOKER.';

-- ---------------------------------------------------------------------------
-- Forms
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.form_history(p_form_id uuid)
RETURNS TABLE (
    aggregate_version integer,
    event_type text,
    event_timestamp timestamptz,
    user_id uuid,
    state jsonb
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $function$
DECLARE
    c_fields CONSTANT text[] := ARRAY[
        'name', 'slug', 'version', 'status', 'visibility', 'definition', 'settings', 'permissions', 'category',
        'tags', 'metadata', 'parent_id', 'is_latest', 'published_at', 'published_by', 'deprecated_at',
        'created_at', 'created_by', 'deleted_at', 'revision'
    ];
    c_timestamps CONSTANT text[] := ARRAY['published_at', 'deprecated_at', 'created_at', 'deleted_at'];
    v_organization_id CONSTANT uuid := pliers.current_organization_id();
    v_event record;
    v_payload jsonb;
    v_changes jsonb;
    v_state jsonb;
BEGIN
    IF v_organization_id IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_form_id IS NULL THEN
        RAISE EXCEPTION 'form_id is required'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object('path', 'form_id', 'code', 'required', 'message', 'the form id is required')
                ))::text;
    END IF;
    -- Visible to the caller: a row of the tenant, as the policy of pliers.forms decides
    -- (deleted drafts keep their history).
    IF NOT EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_organization_id AND f.id = p_form_id
    ) THEN
        RAISE EXCEPTION 'form % not found', p_form_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'id', p_form_id)::text;
    END IF;

    FOR v_event IN
        SELECT e.aggregate_version, e.event_type, e.event_timestamp, e.user_id, e.payload
        FROM pliers.events AS e
        WHERE
            e.organization_id = v_organization_id
            AND e.aggregate_type = 'form'
            AND e.aggregate_id = p_form_id
        ORDER BY e.aggregate_version, e.position
    LOOP
        v_payload := v_event.payload;
        IF v_event.event_type IN ('form.created', 'form.cloned') THEN
            v_state := (SELECT pg_catalog.jsonb_object_agg(f.name, 'null'::jsonb) FROM pg_catalog.unnest(c_fields) AS f (name));
        END IF;
        v_changes := CASE
            WHEN v_event.event_type IN ('form.created', 'form.cloned') THEN v_payload
            WHEN v_event.event_type = 'form.updated' THEN coalesce(v_payload -> 'changes', '{}'::jsonb)
            WHEN v_event.event_type = 'form.published' THEN
                v_payload || pg_catalog.jsonb_build_object('status', v_payload -> 'to')
            WHEN v_event.event_type IN ('form.deprecated', 'form.archived') THEN
                pg_catalog.jsonb_build_object('status', v_payload -> 'to', 'deprecated_at', v_payload -> 'deprecated_at')
            WHEN v_event.event_type = 'form.deleted' THEN
                pg_catalog.jsonb_build_object('deleted_at', v_payload -> 'deleted_at')
            ELSE '{}'::jsonb
        END;
        v_state := v_state
            || coalesce((
                SELECT pg_catalog.jsonb_object_agg(
                    c.key,
                    CASE
                        WHEN c.key = ANY(c_timestamps) AND pg_catalog.jsonb_typeof(c.value) = 'string'
                            THEN pg_catalog.to_jsonb((c.value #>> '{}')::timestamptz)
                        ELSE c.value
                    END
                )
                FROM pg_catalog.jsonb_each(v_changes) AS c
                WHERE c.key = ANY(c_fields) AND c.key <> 'revision'
            ), '{}'::jsonb)
            || pg_catalog.jsonb_build_object('revision', v_event.aggregate_version);

        aggregate_version := v_event.aggregate_version;
        event_type := v_event.event_type;
        event_timestamp := v_event.event_timestamp;
        user_id := v_event.user_id;
        state := v_state;
        RETURN NEXT;
    END LOOP;
END
$function$;

COMMENT ON FUNCTION pliers.form_history(uuid) IS
'The history of a form version: one row per event, in aggregate_version order, with the event type, its time '
'(event_timestamp: the writing transaction''s start), the acting user, and the state after it: a JSON object of '
'the business fields (name, slug, version, status, visibility, definition, settings, permissions, category, tags, '
'metadata, parent_id, is_latest, published_at, published_by, deprecated_at, created_at, created_by, deleted_at, '
'revision), values as to_jsonb of the row''s columns in this session, rebuilt by folding the event payloads. '
'state is NULL before form.created / form.cloned (e.g. when the first events were detached by retention). The '
'version must be a row of the tenant (as the policy of pliers.forms decides; deleted drafts included): PL002 '
'otherwise. PL001 when p_form_id is NULL, PL008 without a context. SECURITY DEFINER. docs/history.md, "Time '
'travel".';

CREATE FUNCTION pliers.form_at(p_form_id uuid, p_at timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
DECLARE
    v_row record;
    v_state jsonb;
BEGIN
    IF pliers.current_organization_id() IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_at IS NULL THEN
        RAISE EXCEPTION 'at is required'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object('path', 'at', 'code', 'required', 'message', 'the instant is required')
                ))::text;
    END IF;
    FOR v_row IN
        SELECT h.event_timestamp, h.state
        FROM pliers.form_history(p_form_id) AS h
        ORDER BY h.aggregate_version
    LOOP
        EXIT WHEN v_row.event_timestamp > p_at;
        v_state := v_row.state;
    END LOOP;
    RETURN v_state;
END
$function$;

COMMENT ON FUNCTION pliers.form_at(uuid, timestamptz) IS
'The state of a form version as of p_at (the state column of pliers.form_history after the last event, in '
'version order, of the longest run of events whose event_timestamp is at or before p_at), or NULL when it did '
'not exist yet at p_at (or its creation event is no longer in pliers.events). Errors as form_history: PL002 '
'(unknown or invisible id), PL001 (NULL id or p_at), PL008. SECURITY INVOKER.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.submission_history(uuid),
pliers.submission_at(uuid, timestamptz),
pliers.form_history(uuid),
pliers.form_at(uuid, timestamptz)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.submission_history(uuid),
pliers.submission_at(uuid, timestamptz),
pliers.form_history(uuid),
pliers.form_at(uuid, timestamptz)
TO pliers_app;
