-- Rollback of 0033 (real forms): the functions as they were, the expression language and
-- the choice lists dropped, the published versions compiled again with the code
-- generator restored (their validators dropped first).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
-- Objects belong to pliers_owner, not to whoever runs the migration.
SET LOCAL ROLE pliers_owner;


-- sql/45-forms-api.sql

CREATE OR REPLACE FUNCTION pliers.create_form(
    p_name text,
    p_slug text,
    p_definition jsonb,
    p_settings jsonb DEFAULT '{}',
    p_visibility pliers.form_visibility DEFAULT 'private',
    p_category text DEFAULT NULL,
    p_tags text[] DEFAULT '{}',
    p_metadata jsonb DEFAULT '{}',
    p_permissions jsonb DEFAULT '{}'
)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
    v_form pliers.forms;
BEGIN
    PERFORM pliers._require_permission('form.create');

    IF p_name IS NULL THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'the name is required');
    END IF;
    IF p_visibility IS NULL THEN
        v_errors := v_errors || pliers._form_error('visibility', 'required', 'the visibility is required');
    END IF;
    v_errors := v_errors || pliers._check_slug(p_slug)
        || pliers._check_form_attributes(
            p_name, coalesce(p_settings, 'null'), p_category, coalesce(p_tags, ARRAY[NULL]::text[]),
            coalesce(p_metadata, 'null'), coalesce(p_permissions, 'null')
        );
    IF p_definition IS NULL THEN
        v_errors := v_errors || pliers._form_error('definition', 'required', 'the definition is required');
    ELSE
        v_errors := v_errors || pliers.validate_form_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the form is not valid', v_errors);
    END IF;

    IF EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug::pliers.slug AND f.deleted_at IS NULL
    ) THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END IF;
    PERFORM pliers._check_quota('max_forms', 1, v_org);

    BEGIN
        INSERT INTO pliers.forms (
            organization_id, name, slug, version, status, visibility, definition, settings, permissions,
            category, tags, metadata, is_latest, created_by, updated_by
        ) VALUES (
            v_org, p_name, p_slug, '1.0.0', 'draft', p_visibility, p_definition, p_settings, p_permissions,
            p_category, p_tags, p_metadata, TRUE, pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING * INTO v_form;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent create_form of the same slug committed first.
        PERFORM pliers._raise_slug_taken(p_slug);
    END;

    PERFORM pliers._append_event('form', v_form.id, v_form.revision, 'form.created', pliers._form_payload(v_form));
    RETURN v_form;
END
$$;

CREATE OR REPLACE FUNCTION pliers.update_form(
    p_form_id uuid,
    p_expected_revision integer,
    p_name text DEFAULT NULL,
    p_definition jsonb DEFAULT NULL,
    p_settings jsonb DEFAULT NULL,
    p_visibility pliers.form_visibility DEFAULT NULL,
    p_category text DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL,
    p_permissions jsonb DEFAULT NULL
)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_errors jsonb := '[]';
    v_changes jsonb := '{}';
    v_frozen text[] := '{}';
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.edit', 'form', v_form.id);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);

    -- Content is frozen once published (as trigger forms_immutable_published enforces).
    IF v_form.status <> 'draft' THEN
        IF p_name IS NOT NULL THEN
            v_frozen := v_frozen || 'name'::text;
        END IF;
        IF p_definition IS NOT NULL THEN
            v_frozen := v_frozen || 'definition'::text;
        END IF;
        IF p_settings IS NOT NULL THEN
            v_frozen := v_frozen || 'settings'::text;
        END IF;
        IF pg_catalog.cardinality(v_frozen) > 0 THEN
            RAISE EXCEPTION 'form % version % is % and cannot change', v_form.id, v_form.version, v_form.status
                USING
                    ERRCODE = 'PL005',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'object', 'form', 'id', v_form.id, 'status', v_form.status,
                        'columns', pg_catalog.to_jsonb(v_frozen)
                    )::text,
                    HINT = 'Create a new draft version with pliers.create_form_version.';
        END IF;
    END IF;

    v_errors := pliers._check_form_attributes(p_name, p_settings, p_category, p_tags, p_metadata, p_permissions);
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_form_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the form is not valid', v_errors);
    END IF;

    SELECT coalesce(pg_catalog.jsonb_object_agg(c.key, c.value), '{}')
    INTO v_changes
    FROM (
        VALUES
        ('name', pg_catalog.to_jsonb(p_name), pg_catalog.to_jsonb(v_form.name)),
        ('definition', p_definition, v_form.definition),
        ('settings', p_settings, v_form.settings),
        ('visibility', pg_catalog.to_jsonb(p_visibility), pg_catalog.to_jsonb(v_form.visibility)),
        ('category', pg_catalog.to_jsonb(p_category), pg_catalog.to_jsonb(v_form.category)),
        ('tags', pg_catalog.to_jsonb(p_tags), pg_catalog.to_jsonb(v_form.tags)),
        ('metadata', p_metadata, v_form.metadata),
        ('permissions', p_permissions, v_form.permissions)
    ) AS c (key, value, old_value)
    WHERE c.value IS NOT NULL AND c.value IS DISTINCT FROM c.old_value;

    IF v_changes = '{}' THEN
        RETURN v_form;  -- nothing changes: no write, no event
    END IF;

    UPDATE pliers.forms AS f
    SET
        updated_at = pg_catalog.now(),
        name = coalesce(p_name, f.name),
        definition = coalesce(p_definition, f.definition),
        settings = coalesce(p_settings, f.settings),
        visibility = coalesce(p_visibility, f.visibility),
        category = coalesce(p_category, f.category),
        tags = coalesce(p_tags, f.tags),
        metadata = coalesce(p_metadata, f.metadata),
        permissions = coalesce(p_permissions, f.permissions),
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.updated', pg_catalog.jsonb_build_object('changes', v_changes)
    );
    RETURN v_form;
END
$$;

CREATE OR REPLACE FUNCTION pliers.publish_form(p_form_id uuid, p_version text, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
    v_previous pliers.forms;
    v_breaking jsonb := '[]';
    v_superseded record;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.publish', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    IF v_form.status <> 'draft' THEN
        RAISE EXCEPTION 'form % version % is % and cannot be published', v_form.id, v_form.version, v_form.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'form', 'id', v_form.id, 'from', v_form.status, 'to', 'published'
                )::text;
    END IF;
    IF p_version IS NULL OR pg_catalog.length(p_version) > 20
        OR p_version !~ '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$' THEN
        PERFORM pliers._raise_invalid(
            'invalid version',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'version', 'invalid_version', 'the version is MAJOR.MINOR.PATCH, e.g. 1.2.0 (no leading zeros)'
            ))
        );
    END IF;
    PERFORM pliers.assert_valid_form_definition(v_form.definition);

    -- The previous version: the highest published one of the slug (deprecated and archived included).
    SELECT f.* INTO v_previous
    FROM pliers.forms AS f
    WHERE
        f.organization_id = v_org
        AND f.slug = v_form.slug
        AND f.deleted_at IS NULL
        AND f.published_at IS NOT NULL
    ORDER BY pliers._semver_key(f.version) DESC
    LIMIT 1;

    IF v_previous.id IS NOT NULL THEN
        IF pliers._semver_key(p_version) <= pliers._semver_key(v_previous.version) THEN
            PERFORM pliers._raise_invalid(
                'the version must be greater than every published version',
                pg_catalog.jsonb_build_array(pliers._form_error(
                    'version', 'version_not_greater',
                    pg_catalog.format('%s is not greater than the published version %s', p_version, v_previous.version)
                )),
                pg_catalog.jsonb_build_object('latest_version', v_previous.version)
            );
        END IF;
        v_breaking := pliers.form_breaking_changes(v_previous.definition, v_form.definition);
        IF v_breaking <> '[]'
            AND (pliers._semver_key(p_version))[1] <= (pliers._semver_key(v_previous.version))[1] THEN
            PERFORM pliers._raise_invalid(
                'breaking changes need a new major version',
                pg_catalog.jsonb_build_array(pliers._form_error(
                    'version', 'major_version_required',
                    pg_catalog.format(
                        'the definition breaks answers valid under %s (%s changes): publish %s.0.0 or higher',
                        v_previous.version, pg_catalog.jsonb_array_length(v_breaking),
                        (pliers._semver_key(v_previous.version))[1] + 1
                    )
                )),
                pg_catalog.jsonb_build_object('latest_version', v_previous.version, 'breaking_changes', v_breaking)
            );
        END IF;
    END IF;

    -- Move the latest flag: clear the old latest first (the unique index is checked per row).
    FOR v_superseded IN
        UPDATE pliers.forms AS f
        SET updated_at = pg_catalog.now(), is_latest = FALSE, updated_by = pliers.current_user_id()
        WHERE
            f.organization_id = v_org
            AND f.slug = v_form.slug
            AND f.is_latest
            AND f.deleted_at IS NULL
            AND f.id <> v_form.id
        RETURNING f.id, f.revision
    LOOP
        PERFORM pliers._append_event(
            'form', v_superseded.id, v_superseded.revision, 'form.updated',
            pg_catalog.jsonb_build_object(
                'changes', pg_catalog.jsonb_build_object('is_latest', FALSE), 'superseded_by', v_form.id
            )
        );
    END LOOP;

    UPDATE pliers.forms AS f
    SET
        updated_at = pg_catalog.now(),
        status = 'published',
        version = p_version,
        published_at = pg_catalog.now(),
        published_by = pliers.current_user_id(),
        is_latest = TRUE,
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;
    -- Its answers are validated by a function of its own from now on (sql/43).
    PERFORM pliers._compile_validator(v_form);

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.published',
        pg_catalog.jsonb_build_object(
            'from', 'draft',
            'to', 'published',
            'version', v_form.version,
            'published_at', v_form.published_at,
            'published_by', v_form.published_by,
            'is_latest', TRUE,
            'previous_version_id', v_previous.id,
            'previous_version', v_previous.version,
            'breaking_changes', v_breaking
        )
    );
    RETURN v_form;
END
$$;

CREATE OR REPLACE FUNCTION pliers.clone_form(p_form_id uuid, p_slug text, p_name text DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_source pliers.forms;
    v_errors jsonb;
    v_form pliers.forms;
BEGIN
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'form_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('form_id', 'required', 'the form id is required'))
        );
    END IF;
    SELECT f.* INTO v_source
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.id = p_form_id AND f.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    PERFORM pliers._require_permission('form.create');
    PERFORM pliers._require_permission('form.view', 'form', v_source.id);

    v_errors := pliers._check_slug(p_slug) || pliers._check_form_attributes(p_name, NULL, NULL, NULL, NULL, NULL);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the clone is not valid', v_errors);
    END IF;
    IF EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug::pliers.slug AND f.deleted_at IS NULL
    ) THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END IF;
    PERFORM pliers._check_quota('max_forms', 1, v_org);

    BEGIN
        INSERT INTO pliers.forms (
            organization_id, name, slug, version, status, visibility, definition, settings, permissions,
            category, tags, metadata, is_latest, created_by, updated_by
        ) VALUES (
            v_org, coalesce(p_name, v_source.name), p_slug, '1.0.0', 'draft', v_source.visibility,
            v_source.definition, v_source.settings, v_source.permissions, v_source.category, v_source.tags,
            v_source.metadata || pg_catalog.jsonb_build_object('cloned_from', pg_catalog.jsonb_build_object(
                'form_id', v_source.id, 'slug', v_source.slug, 'version', v_source.version
            )),
            TRUE, pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING * INTO v_form;
    EXCEPTION WHEN unique_violation THEN
        PERFORM pliers._raise_slug_taken(p_slug);
    END;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.cloned',
        pliers._form_payload(v_form) || pg_catalog.jsonb_build_object(
            'cloned_from', pg_catalog.jsonb_build_object(
                'form_id', v_source.id, 'slug', v_source.slug, 'version', v_source.version
            )
        )
    );
    RETURN v_form;
END
$$;

-- sql/44-choice-lists.sql

DROP FUNCTION pliers._list_answer_attributes(uuid, jsonb, jsonb);

DROP FUNCTION pliers._check_list_answers(uuid, jsonb, jsonb);

DROP FUNCTION pliers._check_list_references(uuid, jsonb);

DROP FUNCTION pliers._list_answers(jsonb, jsonb);

DROP FUNCTION pliers._list_fields(jsonb);

DROP FUNCTION pliers.get_choice_list(text, integer, integer);

DROP FUNCTION pliers.list_choice_lists();

DROP FUNCTION pliers.delete_choice_list(text, integer);

DROP FUNCTION pliers.replace_choice_list_items(text, jsonb, integer, text, text[]);

DROP FUNCTION pliers.create_choice_list(text, text, jsonb, text, text, text[]);

DROP FUNCTION pliers._insert_choice_list_items(uuid, jsonb);

DROP FUNCTION pliers._item_columns(jsonb);

DROP FUNCTION pliers._lock_choice_list(text);

DROP FUNCTION pliers._choice_list_payload(pliers.choice_lists);

DROP FUNCTION pliers._raise_choice_list_not_found(text);

DROP FUNCTION pliers._assert_valid_choice_list(text, text, text, text, text[], jsonb);

DROP FUNCTION pliers._check_choice_list_attributes(text, text, text, text, text[]);

DROP FUNCTION pliers._check_choice_list_items(jsonb, text, text[]);

DROP FUNCTION pliers._is_translatable_text(jsonb);

DROP FUNCTION pliers.choice_list_limits();

DROP TABLE pliers.choice_list_items;

DROP TABLE pliers.choice_lists;

-- sql/55-submissions-api.sql

CREATE OR REPLACE FUNCTION pliers._attachment_field(p_definition jsonb, p_field text, p_data jsonb)
RETURNS TABLE (path text[], field jsonb, kind text, errors jsonb)
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_segments text[] := '{}';
    v_names text[] := '{}';
    v_shape text := '';
    v_expected text := '';
    v_match text[];
    v_entry record;
    v_i integer;
BEGIN
    path := NULL;
    field := NULL;
    kind := NULL;
    errors := '[]';
    IF p_field IS NULL
        OR p_field !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}(\[[0-9]{1,6}\])?(\.[A-Za-z_][A-Za-z0-9_]{0,63}(\[[0-9]{1,6}\])?)*$' THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'invalid_field_path', 'the field is a data path such as photo, address.proof or children[0].photo'
        ));
        RETURN NEXT;
        RETURN;
    END IF;

    -- children[1].photo -> segments {children,1,photo}, names {children,photo}, shape children[].photo
    FOR v_match IN SELECT m FROM pg_catalog.regexp_matches(p_field, '([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]', 'g') AS m LOOP
        IF v_match[1] IS NOT NULL THEN
            v_segments := v_segments || v_match[1];
            v_names := v_names || v_match[1];
            v_shape := v_shape || CASE WHEN v_shape = '' THEN '' ELSE '.' END || v_match[1];
        ELSE
            v_segments := v_segments || v_match[2];
            v_shape := v_shape || '[]';
        END IF;
    END LOOP;

    FOR v_i IN 1 .. pg_catalog.cardinality(v_names) LOOP
        SELECT l.kind, l.field INTO v_entry
        FROM pliers._form_field_list(p_definition) AS l
        WHERE l.data_path = pg_catalog.array_to_string(v_names[1:v_i], '.');
        IF NOT FOUND THEN
            errors := pg_catalog.jsonb_build_array(pliers._form_error(
                'field', 'unknown_field', pg_catalog.format('%s is not a field of the form version', p_field)
            ));
            RETURN NEXT;
            RETURN;
        END IF;
        v_expected := v_expected || CASE WHEN v_i = 1 THEN '' ELSE '.' END || v_names[v_i]
            || CASE WHEN v_entry.kind = 'repeat' AND v_i < pg_catalog.cardinality(v_names) THEN '[]' ELSE '' END;
    END LOOP;

    IF v_entry.kind NOT IN ('file', 'signature') THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'not_a_file_field', pg_catalog.format('%s is a %s field, not a file or signature field', p_field, v_entry.kind)
        ));
    ELSIF v_shape <> v_expected THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'invalid_field_path',
            pg_catalog.format('%s does not match the form: expected the shape %s (an index after each repeat)', p_field, v_expected)
        ));
    ELSIF EXISTS (
        SELECT FROM pg_catalog.generate_subscripts(v_segments, 1) AS k
        WHERE v_segments[k] ~ '^[0-9]+$' AND pg_catalog.jsonb_typeof(p_data #> v_segments[1:k]) IS DISTINCT FROM 'object'
    ) THEN
        errors := pg_catalog.jsonb_build_array(pliers._form_error(
            'field', 'unknown_instance', pg_catalog.format('the repeat instance of %s does not exist in the answers', p_field)
        ));
    END IF;
    path := v_segments;
    field := v_entry.field;
    kind := v_entry.kind;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION pliers.detach_file(p_attachment_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.attachments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_attachment pliers.attachments;
    v_submission pliers.submissions;
    v_path text[];
    v_value jsonb;
    v_data jsonb;
    v_form pliers.forms;
    v_final_errors jsonb;
BEGIN
    IF p_attachment_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'attachment_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('attachment_id', 'required', 'the attachment id is required'))
        );
    END IF;
    SELECT a.* INTO v_attachment
    FROM pliers.attachments AS a
    WHERE
        a.organization_id = v_org AND a.id = p_attachment_id AND a.deleted_at IS NULL AND a.submission_id IS NOT NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('attachment', p_attachment_id);
    END IF;
    v_submission := pliers._lock_submission(v_attachment.submission_id);
    PERFORM pliers._require_submission_permission('submission.update', v_submission);
    PERFORM pliers._check_expected_version('submission', v_submission.id, p_expected_revision, v_submission.revision);
    IF v_submission.status <> 'draft' THEN
        PERFORM pliers._raise_not_draft(v_submission, ARRAY['attachments']);
    END IF;

    UPDATE pliers.attachments AS a
    SET deleted_at = pg_catalog.now(), deleted_by = pliers.current_user_id()
    WHERE a.organization_id = v_org AND a.id = v_attachment.id AND a.deleted_at IS NULL
    RETURNING a.* INTO v_attachment;

    -- Take the id out of the answer where attach_file put it (if the answer still holds it).
    v_data := v_submission.data;
    SELECT pg_catalog.array_agg(coalesce(m[1], m[2]) ORDER BY n) INTO v_path
    FROM pg_catalog.regexp_matches(
        coalesce(v_attachment.metadata ->> 'field', ''), '([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]', 'g'
    ) WITH ORDINALITY AS r (m, n);
    IF v_path IS NOT NULL THEN
        v_value := v_data #> v_path;
        IF pg_catalog.jsonb_typeof(v_value) = 'array' THEN
            v_data := pg_catalog.jsonb_set(v_data, v_path, v_value - v_attachment.id::text);
        ELSIF v_value = pg_catalog.to_jsonb(v_attachment.id::text) THEN
            v_data := v_data #- v_path;
        END IF;
    END IF;
    SELECT f.* INTO v_form FROM pliers.forms AS f WHERE f.organization_id = v_org AND f.id = v_submission.form_id;
    v_final_errors := pliers.validate_submission_data(
        v_form.definition, v_data, TRUE, pliers._submission_attachments(v_submission.id)
    );

    UPDATE pliers.submissions AS s
    SET
        updated_at = pg_catalog.now(),
        data = v_data,
        attachments = coalesce((
            SELECT pg_catalog.jsonb_agg(e.value ORDER BY e.ordinality)
            FROM pg_catalog.jsonb_array_elements(s.attachments) WITH ORDINALITY AS e (value, ordinality)
            WHERE e.value ->> 'id' IS DISTINCT FROM v_attachment.id::text
        ), '[]'),
        attachment_count = s.attachment_count - 1,
        is_valid = v_final_errors = '[]',
        validation_errors = v_final_errors
    WHERE s.organization_id = v_org AND s.id = v_submission.id
    RETURNING s.* INTO v_submission;
    PERFORM pliers._count_usage(v_org, 'attachment_bytes', -v_attachment.file_size_bytes);

    PERFORM pliers._append_event(
        'submission', v_submission.id, v_submission.revision, 'submission.attachment_removed',
        pg_catalog.jsonb_build_object(
            'attachment_id', v_attachment.id,
            'field', v_attachment.metadata ->> 'field',
            'path', pg_catalog.to_jsonb(v_path),
            'value', v_data #> v_path,
            'attachment_count', v_submission.attachment_count,
            'data', v_submission.data,
            'is_valid', v_submission.is_valid,
            'validation_errors', v_submission.validation_errors
        )
    );
    RETURN v_attachment;
END
$$;

CREATE OR REPLACE FUNCTION pliers.list_submissions(
    p_form_id uuid DEFAULT NULL,
    p_status pliers.submission_status DEFAULT NULL,
    p_assigned_to uuid DEFAULT NULL,
    p_after_created_at timestamptz DEFAULT NULL,
    p_after_id uuid DEFAULT NULL,
    p_limit integer DEFAULT 50,
    p_filter jsonb DEFAULT NULL,
    p_field text DEFAULT NULL,
    p_op text DEFAULT NULL,
    p_value jsonb DEFAULT NULL,
    p_assigned_team_id uuid DEFAULT NULL,
    p_created_from timestamptz DEFAULT NULL,
    p_created_before timestamptz DEFAULT NULL,
    p_deleted boolean DEFAULT FALSE
)
RETURNS SETOF pliers.submissions
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_permissions constant text[] := pliers.current_permissions();
    v_user constant uuid := pliers.current_user_id();
    v_errors jsonb := '[]';
    v_forms uuid[];
    v_filters jsonb[];
    v_paths jsonpath[];
    v_sql text;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        v_errors := v_errors || pliers._form_error('limit', 'invalid', 'the limit is 1 to 1000');
    END IF;
    IF (p_after_created_at IS NULL) <> (p_after_id IS NULL) THEN
        v_errors := v_errors || pliers._form_error(
            'after_id', 'invalid_cursor', 'the cursor is after_created_at and after_id together: the last row''s'
        );
    END IF;
    IF p_filter IS NOT NULL AND pg_catalog.jsonb_typeof(p_filter) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('filter', 'invalid_type', 'the filter is a JSON object of answers');
    END IF;
    IF num_nulls(p_field, p_op, p_value) NOT IN (0, 3) THEN
        v_errors := v_errors || pliers._form_error('op', 'invalid', 'field, op and value go together');
    ELSIF p_field IS NOT NULL THEN
        IF p_field !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})*$' THEN
            v_errors := v_errors || pliers._form_error(
                'field', 'invalid_field_path', 'a field name, or a dotted path into groups (address.zip)'
            );
        END IF;
        IF p_op NOT IN ('=', '<>', '<', '<=', '>', '>=') THEN
            v_errors := v_errors || pliers._form_error('op', 'invalid_operator', 'the operator is =, <>, <, <=, > or >=');
        ELSIF pg_catalog.jsonb_typeof(p_value) NOT IN ('number', 'string', 'boolean', 'null')
            OR (p_op NOT IN ('=', '<>') AND pg_catalog.jsonb_typeof(p_value) NOT IN ('number', 'string')) THEN
            v_errors := v_errors || pliers._form_error(
                'value', 'invalid_value', 'compare with a number or a string (dates as ISO 8601 strings); = and <> also with true, false, null'
            );
        END IF;
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid list arguments', v_errors);
    END IF;
    -- The commonest page, a form's newest submissions (after a cursor) and no other
    -- condition, is static SQL: PL/pgSQL keeps its plan for the session, where the
    -- EXECUTE below is planned on every call (0.2 ms, three times the page itself,
    -- bench/RESULTS.md). Its conditions are those the EXECUTE would write.
    IF p_form_id IS NOT NULL AND pg_catalog.num_nonnulls(
        p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before, p_filter, p_field
    ) = 0 AND NOT coalesce(p_deleted, FALSE) THEN
        IF p_after_created_at IS NULL THEN
            RETURN QUERY
            SELECT s.* FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.form_id = p_form_id AND s.deleted_at IS NULL
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user
                )
            ORDER BY s.created_at DESC, s.id
            LIMIT p_limit;
        ELSE
            RETURN QUERY
            SELECT s.* FROM pliers.submissions AS s
            WHERE s.organization_id = v_org AND s.form_id = p_form_id AND s.deleted_at IS NULL
                AND pliers.submission_visible(
                    s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, v_permissions, v_user
                )
                AND s.created_at <= p_after_created_at
                AND (s.created_at < p_after_created_at OR s.id > p_after_id)
            ORDER BY s.created_at DESC, s.id
            LIMIT p_limit;
        END IF;
        RETURN;
    END IF;
    -- Answer conditions go through the per-form index (pliers.scoped_answers): one probe
    -- per form, the one asked for or each of the tenant's. Same snapshot as the query:
    -- every submission it may list belongs to one of these forms.
    -- (The one-form case in plain expressions: PL/pgSQL runs those without a query.)
    IF p_form_id IS NOT NULL THEN
        v_forms := ARRAY[p_form_id];
    ELSIF p_filter IS NOT NULL OR p_field IS NOT NULL THEN
        v_forms := ARRAY(SELECT f.id FROM pliers.forms AS f WHERE f.organization_id = v_org);
    END IF;
    IF p_filter IS NOT NULL AND p_form_id IS NOT NULL THEN
        v_filters := ARRAY[pliers.scoped_answers(p_form_id, p_filter)];
    ELSIF p_filter IS NOT NULL THEN
        v_filters := ARRAY(SELECT pliers.scoped_answers(f.id, p_filter) FROM pg_catalog.unnest(v_forms) AS f (id));
    END IF;
    IF p_field IS NOT NULL THEN
        -- Keys double-quoted, the value a JSON literal, the operator from a fixed list: no injection.
        v_paths := ARRAY(
            SELECT pg_catalog.format(
                '$.%s.%s %s %s',
                pg_catalog.to_json(f.id::text)::text,
                (SELECT pg_catalog.string_agg(pg_catalog.to_json(k)::text, '.') FROM pg_catalog.unnest(pg_catalog.string_to_array(p_field, '.')) AS k),
                CASE p_op WHEN '=' THEN '==' WHEN '<>' THEN '!=' ELSE p_op END,
                p_value::text
            )::jsonpath
            FROM pg_catalog.unnest(v_forms) AS f (id)
        );
    END IF;

    -- Only the conditions asked for, so that the planner sees each query as it is. The
    -- tenant and the visibility rule are written here, not applied by row-level security
    -- (this function runs as pliers_owner, the tables' owner, which row-level security does
    -- not bind, so the planner reads the column statistics): the answer
    -- filters may then use the GIN index and its statistics. EXECUTE ... USING plans
    -- once with the values, so for a user with submission.view organization-wide the
    -- visibility rule folds to TRUE and disappears from the query.
    v_sql := 'SELECT s.* FROM pliers.submissions AS s WHERE s.organization_id = $1'
        || ' AND pliers.submission_visible(s.form_id, s.submitted_by, s.assigned_to, s.assigned_team_id, $13, $14)'
        || CASE WHEN coalesce(p_deleted, FALSE) THEN ' AND s.deleted_at IS NOT NULL' ELSE ' AND s.deleted_at IS NULL' END
        || CASE WHEN p_form_id IS NOT NULL THEN ' AND s.form_id = $2' ELSE '' END
        || CASE WHEN p_status IS NOT NULL THEN ' AND s.status = $3' ELSE '' END
        || CASE WHEN p_assigned_to IS NOT NULL THEN ' AND s.assigned_to = $4' ELSE '' END
        || CASE WHEN p_assigned_team_id IS NOT NULL THEN ' AND s.assigned_team_id = $5' ELSE '' END
        || CASE WHEN p_created_from IS NOT NULL THEN ' AND s.created_at >= $6' ELSE '' END
        || CASE WHEN p_created_before IS NOT NULL THEN ' AND s.created_at < $7' ELSE '' END
        || CASE
            WHEN p_after_created_at IS NOT NULL THEN ' AND s.created_at <= $8 AND (s.created_at < $8 OR s.id > $9)'
            ELSE ''
        END
        || CASE WHEN p_filter IS NOT NULL THEN ' AND pliers.scoped_answers(s.form_id, s.data) @> ANY ($10)' ELSE '' END
        || CASE WHEN p_field IS NOT NULL THEN ' AND pliers.scoped_answers(s.form_id, s.data) @@ ANY ($11)' ELSE '' END
        || ' ORDER BY s.created_at DESC, s.id LIMIT $12';

    RETURN QUERY EXECUTE v_sql
    USING v_org, p_form_id, p_status, p_assigned_to, p_assigned_team_id, p_created_from, p_created_before,
    p_after_created_at, p_after_id, v_filters, v_paths, p_limit, v_permissions, v_user;
END
$$;

CREATE OR REPLACE FUNCTION pliers.export_columns(p_slug text)
RETURNS TABLE (ordinal integer, name text, path text, kind text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    c_meta constant text[] := ARRAY[
        'submission_number', 'submission_id', 'form_version', 'status', 'created_at', 'submitted_at',
        'updated_at', 'completed_at', 'submitted_by', 'assigned_to', 'assigned_team_id', 'external_id'
    ];
BEGIN
    IF NOT EXISTS (
        SELECT FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'form % not found', p_slug
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'slug', p_slug)::text;
    END IF;

    RETURN QUERY
    WITH versions AS (
        SELECT f.definition, pliers._semver_key(f.version) AS version_key
        FROM pliers.forms AS f
        WHERE f.organization_id = v_org AND f.slug = p_slug AND f.deleted_at IS NULL AND f.published_at IS NOT NULL
    ),

    fields AS (
        SELECT v.version_key, l.sort_key, l.data_path, l.kind
        FROM versions AS v
        CROSS JOIN LATERAL pliers._form_field_list(v.definition) AS l
        WHERE
            l.kind NOT IN ('group', 'display', 'calculated')
            -- fields inside a repeat are exported with the repeat, as JSON
            AND NOT EXISTS (
                SELECT FROM pliers._form_field_list(v.definition) AS r
                WHERE r.kind = 'repeat' AND starts_with(l.data_path, r.data_path || '.')
            )
    ),

    newest AS (
        SELECT DISTINCT ON (fields.data_path)
            fields.data_path, fields.kind, fields.version_key, fields.sort_key
        FROM fields
        ORDER BY fields.data_path, fields.version_key DESC
    ),

    firsts AS (
        SELECT fields.data_path, min(fields.version_key || fields.sort_key::numeric[]) AS first_seen
        FROM fields
        GROUP BY fields.data_path
    )

    SELECT m.n::integer, m.name, NULL::text, 'meta'::text
    FROM pg_catalog.unnest(c_meta) WITH ORDINALITY AS m (name, n)
    UNION ALL
    SELECT
        (pg_catalog.cardinality(c_meta) + pg_catalog.row_number() OVER (ORDER BY fi.first_seen, c.data_path))::integer,
        CASE WHEN c.data_path = ANY(c_meta) THEN 'data.' || c.data_path ELSE c.data_path END,
        c.data_path,
        c.kind
    FROM newest AS c
    INNER JOIN firsts AS fi ON c.data_path = fi.data_path
    ORDER BY 1;
END
$$;

COMMENT ON FUNCTION pliers.export_columns(text) IS
'The columns of the export of form p_slug (all its published versions): first the submission''s own columns '
'(kind meta: submission_number, submission_id, form_version, status, created_at, submitted_at, updated_at, '
'completed_at, submitted_by, assigned_to, assigned_team_id, external_id), then one column per answer path of any '
'version (name = the dotted path, address.zip; prefixed data. when it equals a meta name), in the order they '
'first appear (oldest version first, then form order). Groups are flattened into their fields; a repeat is one '
'column (its answers as JSON); display and calculated fields have none. path is NULL for meta columns; kind is '
'the field type in the newest version that has it. PL002 when no live version has the slug, PL008.';

-- sql/43-compiled-validators.sql

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._compile_ref(text, text, text, text[], text, text, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._compile_expression(jsonb, jsonb, text, text, text, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._compile_instance(jsonb, text, text, jsonb, integer);

CREATE OR REPLACE FUNCTION pliers._draft_errors(p_errors jsonb[])
RETURNS jsonb[]
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_kept jsonb[] := '{}';
    v_error jsonb;
BEGIN
    FOREACH v_error IN ARRAY p_errors LOOP
        IF v_error ->> 'code' NOT IN ('consent_required', 'too_few_items', 'other_text_required') THEN
            v_kept := v_kept || v_error;
        END IF;
    END LOOP;
    RETURN v_kept;
END
$$;

COMMENT ON FUNCTION pliers._draft_errors(jsonb[]) IS
'Private: the errors of a final check of one answer (pliers._check_answer, p_final TRUE) that a draft check also '
'reports: all but consent_required, too_few_items and other_text_required, in order.';

CREATE FUNCTION pliers._compile_instance(
    p_fields jsonb, p_id text, p_scope text, INOUT p_next integer, OUT code text
)
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_root constant boolean := p_id = '0';
    v_raw constant text := 'r_' || p_id;
    v_clean constant text := 'c_' || p_id;
    v_context constant text := CASE WHEN v_root THEN '''{}''::jsonb' ELSE 'x_' || p_id END;
    v_eval_root constant text := CASE WHEN v_root THEN v_clean ELSE 'v_root' END;
    v_first constant integer := p_next;
    f_field jsonb[] := '{}';
    f_kind text[] := '{}';
    f_name text[] := '{}';
    f_parent integer[] := '{}';
    f_keys text[] := '{}';
    f_suffix text[] := '{}';
    f_cond jsonb[] := '{}';
    f_known jsonb[] := '{}';         -- groups: the keys their object may hold
    v_known text[] := '{}';          -- the instance's
    fr_fields jsonb[] := ARRAY[p_fields];
    fr_next integer[] := ARRAY[0];
    fr_slot integer[] := ARRAY[0];
    v_depth integer := 1;
    v_n integer := 0;
    v_field jsonb;
    v_parent integer;
    v_conditions boolean := FALSE;
    v_declare text := '';
    v_drop text;
    v_build text := '';
    v_visibility text := '';
    v_checks text := '';
    v_open integer[] := ARRAY[0];
    v_top integer;
    v_k integer;
    v_of_parent text;
    v_members text;
    v_path text;
    v_required text;
    v_rules jsonb;
    v_scope text;
    v_nested record;
    v_bad_parent text;
    v_call text;
    v_items text;
BEGIN
    -- 1. The fields, groups flattened depth-first (a group before its fields), and the
    -- keys each object may hold, "" first as in _process_instance's comma lists.
    WHILE v_depth > 0 LOOP
        IF fr_next[v_depth] < pg_catalog.jsonb_array_length(fr_fields[v_depth]) THEN
            v_field := fr_fields[v_depth] -> fr_next[v_depth];
            fr_next[v_depth] := fr_next[v_depth] + 1;
            v_n := v_n + 1;
            v_parent := fr_slot[v_depth];
            f_field[v_n] := v_field;
            f_kind[v_n] := v_field ->> 'type';
            f_name[v_n] := v_field ->> 'name';
            f_parent[v_n] := v_parent;
            f_keys[v_n] := CASE WHEN v_parent = 0 THEN '' ELSE f_keys[v_parent] || ',' END || f_name[v_n];
            f_suffix[v_n] := CASE WHEN v_parent = 0 THEN '' ELSE f_suffix[v_parent] END || '.' || f_name[v_n];
            f_cond[v_n] := CASE
                WHEN v_field ? 'visibleWhen' THEN v_field -> 'visibleWhen'
                WHEN pg_catalog.jsonb_typeof(v_field #> '{conditional,when}') IS DISTINCT FROM 'array'
                    OR pg_catalog.jsonb_array_length(v_field #> '{conditional,when}') = 0 THEN NULL
                WHEN v_field #> '{conditional,show}' = 'false'::jsonb THEN pg_catalog.jsonb_build_object(
                    'not', pg_catalog.jsonb_build_object('all', v_field #> '{conditional,when}'))
                ELSE pg_catalog.jsonb_build_object('all', v_field #> '{conditional,when}')
            END;
            v_conditions := v_conditions OR f_cond[v_n] IS NOT NULL;
            IF v_parent = 0 THEN
                v_known := CASE WHEN v_known = '{}' THEN ARRAY[''] ELSE v_known END || f_name[v_n];
                IF v_field -> 'allowOther' = 'true'::jsonb THEN
                    v_known := v_known || (f_name[v_n] || '_other');
                END IF;
            ELSE
                f_known[v_parent] := f_known[v_parent] || pg_catalog.to_jsonb(f_name[v_n]);
                IF v_field -> 'allowOther' = 'true'::jsonb THEN
                    f_known[v_parent] := f_known[v_parent] || pg_catalog.to_jsonb(f_name[v_n] || '_other');
                END IF;
            END IF;
            IF f_kind[v_n] = 'group' THEN
                f_known[v_n] := '[""]';
                v_depth := v_depth + 1;
                fr_fields[v_depth] := v_field -> 'fields';
                fr_next[v_depth] := 0;
                fr_slot[v_depth] := v_n;
            END IF;
        ELSE
            v_depth := v_depth - 1;
        END IF;
    END LOOP;
    p_next := p_next + v_n;

    v_declare := pg_catalog.format('y_%1$s jsonb; m_%1$s text[];', p_id) || E'\n';
    v_drop := pg_catalog.format('%s - %L::text[] <> ''{}''::jsonb', v_raw, v_known);
    FOR v_i IN 1 .. v_n LOOP
        v_k := v_first + v_i;
        v_of_parent := CASE WHEN f_parent[v_i] = 0 THEN v_raw ELSE 'a' || (v_first + f_parent[v_i]) END;
        v_members := CASE WHEN f_parent[v_i] = 0 THEN 'm_' || p_id ELSE 'm' || (v_first + f_parent[v_i]) END;
        v_path := CASE WHEN v_root THEN pg_catalog.quote_literal('$.data' || f_suffix[v_i])
            ELSE pg_catalog.format('(p_%s || %L)', p_id, f_suffix[v_i]) END;
        v_declare := v_declare || pg_catalog.format(
            'a%1$s jsonb := %2$s -> %3$L; s%1$s boolean := TRUE;', v_k, v_of_parent, f_name[v_i]
        ) || CASE f_kind[v_i]
            WHEN 'group' THEN pg_catalog.format(' b%1$s boolean := FALSE; m%1$s text[];', v_k)
            WHEN 'repeat' THEN pg_catalog.format(
                ' r_%1$s jsonb; c_%1$s jsonb; p_%1$s text; x_%1$s jsonb; i%1$s jsonb[]; h%1$s boolean;', v_k)
            ELSE ''
        END || E'\n';

        -- 2a. Anything to drop (the CASE of _process_instance, one per field).
        v_drop := v_drop || E'\n        OR CASE'
            || CASE WHEN f_field[v_i] -> 'allowOther' = 'true'::jsonb THEN pg_catalog.format(
                ' WHEN %1$s ? %3$L AND NOT coalesce(s%2$s AND (a%2$s = ''"other"''::jsonb'
                ' OR (pg_catalog.jsonb_typeof(a%2$s) = ''array'' AND a%2$s ? ''other''))'
                ' AND %1$s -> %3$L <> ''null''::jsonb, FALSE) THEN TRUE',
                v_of_parent, v_k, f_name[v_i] || '_other') ELSE '' END
            || pg_catalog.format(' WHEN a%s IS NULL THEN FALSE', v_k)
            || CASE WHEN f_kind[v_i] IN ('display', 'calculated') THEN ' ELSE TRUE END'
                ELSE pg_catalog.format(' WHEN NOT s%1$s OR a%1$s = ''null''::jsonb THEN TRUE', v_k)
                    || CASE WHEN f_kind[v_i] = 'group' THEN pg_catalog.format(
                        ' WHEN pg_catalog.jsonb_typeof(a%1$s) = ''object'' THEN a%1$s - %2$L::text[] <> ''{}''::jsonb',
                        v_k, ARRAY(SELECT pg_catalog.jsonb_array_elements_text(f_known[v_i]))) ELSE '' END
                    || ' ELSE FALSE END'
            END;

        -- 2b. The cleaned object as JSON text, member by member in document order (a
        -- group's members in m<k>, closed when its last field is passed).
        WHILE v_open[pg_catalog.cardinality(v_open)] <> f_parent[v_i] LOOP
            v_top := v_open[pg_catalog.cardinality(v_open)];
            v_open := v_open[1:pg_catalog.cardinality(v_open) - 1];
            v_build := v_build || pg_catalog.format(
                '%1$s := %1$s || (%2$L || pg_catalog.array_to_string(m%3$s, '','') || ''}''); END IF; END IF;',
                CASE WHEN f_parent[v_top] = 0 THEN 'm_' || p_id ELSE 'm' || (v_first + f_parent[v_top]) END,
                '"' || f_name[v_top] || '":{', v_first + v_top) || E'\n';
        END LOOP;
        IF f_kind[v_i] NOT IN ('display', 'calculated') THEN
            v_build := v_build || pg_catalog.format(
                'IF s%1$s AND a%1$s IS NOT NULL AND a%1$s <> ''null''::jsonb THEN ', v_k);
            IF f_kind[v_i] = 'group' THEN
                v_build := v_build || pg_catalog.format(
                    'IF pg_catalog.jsonb_typeof(a%1$s) <> ''object'' THEN %2$s := %2$s || (%3$L || a%1$s::text); '
                    'ELSE m%1$s := ''{}'';', v_k, v_members, '"' || f_name[v_i] || '":') || E'\n';
                v_open := v_open || v_i;
            ELSE
                v_build := v_build || pg_catalog.format(
                    '%1$s := %1$s || (%2$L || a%3$s::text);', v_members, '"' || f_name[v_i] || '":', v_k);
                IF f_field[v_i] -> 'allowOther' = 'true'::jsonb THEN
                    v_build := v_build || pg_catalog.format(
                        ' IF a%1$s = ''"other"''::jsonb OR (pg_catalog.jsonb_typeof(a%1$s) = ''array'' AND a%1$s ? ''other'') THEN'
                        ' v_other := %2$s -> %3$L; IF v_other IS NOT NULL AND v_other <> ''null''::jsonb THEN'
                        ' %4$s := %4$s || (%5$L || v_other::text); END IF; END IF;',
                        v_k, v_of_parent, f_name[v_i] || '_other', v_members, '"' || f_name[v_i] || '_other":');
                END IF;
                v_build := v_build || E' END IF;\n';
            END IF;
        END IF;

        -- 2c. Visibility: the group's, and the condition on the cleaned answers.
        IF f_cond[v_i] IS NOT NULL OR f_parent[v_i] <> 0 THEN
            v_visibility := v_visibility || pg_catalog.format(
                'v_visible := %s AND %s; IF v_visible <> s%s THEN s%3$s := v_visible; v_changed := TRUE; END IF;',
                CASE WHEN f_parent[v_i] = 0 THEN 'TRUE' ELSE 's' || (v_first + f_parent[v_i]) END,
                CASE WHEN f_cond[v_i] IS NULL THEN 'TRUE' ELSE pg_catalog.format(
                    'pliers._eval_condition(%L::jsonb, %s, %s, %L, %s)',
                    f_cond[v_i], v_eval_root, v_context, p_scope, v_clean) END,
                v_k) || E'\n';
        END IF;

        -- 3. The checks of a visible answer, in document order.
        CONTINUE WHEN f_kind[v_i] IN ('display', 'calculated');
        v_bad_parent := CASE WHEN f_parent[v_i] = 0 THEN NULL ELSE 'b' || (v_first + f_parent[v_i]) END;
        v_checks := v_checks || pg_catalog.format('IF s%s THEN ', v_k)
            || CASE WHEN v_bad_parent IS NULL THEN '' ELSE pg_catalog.format('IF %s THEN %s ELSE ', v_bad_parent,
                CASE WHEN f_kind[v_i] = 'group' THEN pg_catalog.format('b%s := TRUE;', v_k) ELSE 'NULL;' END) END
            || E'\n';
        IF f_kind[v_i] = 'group' THEN
            v_checks := v_checks || pg_catalog.format(
                'IF a%1$s IS NULL OR a%1$s = ''null''::jsonb THEN NULL; '
                'ELSIF pg_catalog.jsonb_typeof(a%1$s) <> ''object'' THEN b%1$s := TRUE; ', v_k)
                || pliers._compile_error(v_path, 'invalid_type', '''must be an object''')
                || pg_catalog.format(
                'ELSIF a%1$s - %2$L::text[] <> ''{}''::jsonb THEN '
                'v_errors := v_errors || pliers._unknown_field_errors(a%1$s, %2$L::text[], %3$s, ''group''); END IF;',
                v_k, ARRAY(SELECT pg_catalog.jsonb_array_elements_text(f_known[v_i])), v_path) || E'\n';
        ELSE
            v_rules := coalesce(f_field[v_i] -> 'validation', '{}');
            -- The number of items of a repeat or a multiple choice (minItems: final only).
            v_items := CASE WHEN v_rules ? 'minItems' THEN pliers._compile_check(
                    pg_catalog.format('pg_catalog.jsonb_array_length(a%s) < %L::numeric', v_k, v_rules ->> 'minItems'),
                    v_path, 'too_few_items', pg_catalog.format('must have at least %s items', v_rules ->> 'minItems'), TRUE
                ) ELSE '' END
                || CASE WHEN v_rules ? 'maxItems' THEN pliers._compile_check(
                    pg_catalog.format('pg_catalog.jsonb_array_length(a%s) > %L::numeric', v_k, v_rules ->> 'maxItems'),
                    v_path, 'too_many_items', pg_catalog.format('must have at most %s items', v_rules ->> 'maxItems')
                ) ELSE '' END;
            v_required := CASE
                WHEN f_field[v_i] -> 'required' = 'true'::jsonb THEN 'TRUE'
                WHEN f_field[v_i] ? 'requiredWhen' THEN pg_catalog.format(
                    'pliers._eval_condition(%L::jsonb, v_root, %s, %L, %s)',
                    f_field[v_i] -> 'requiredWhen', v_context, p_scope, v_clean)
            END;
            v_checks := v_checks || pg_catalog.format('IF pliers._is_blank(a%s) THEN ', v_k)
                || CASE WHEN v_required IS NULL THEN 'NULL;' ELSE pg_catalog.format('IF %s THEN ', v_required)
                    || pliers._compile_error(v_path, 'required', '''is required''', TRUE) || 'END IF;' END
                || E'\nELSE ';
            IF f_kind[v_i] = 'repeat' THEN
                v_checks := v_checks || pg_catalog.format('IF pg_catalog.jsonb_typeof(a%s) <> ''array'' THEN ', v_k)
                    || pliers._compile_error(v_path, 'invalid_type', '''must be an array of objects''') || 'ELSE '
                    || v_items || 'END IF;';
            ELSIF NOT f_field[v_i] ?| ARRAY['validation', 'readOnly'] AND f_kind[v_i] = 'hidden' THEN
                v_checks := v_checks || 'NULL;';
            ELSE
                -- pliers._check_answer, final (one call whatever p_final; a draft keeps
                -- the errors a draft check reports), for what is not inlined below: the
                -- rarer kinds, and any answer of the wrong type or out of the ordinary.
                v_call := pg_catalog.format(
                    'v_list := pliers._check_answer(%L::jsonb, %L, a%s, %s, TRUE, %s, %s, p_attachments); '
                    'IF v_list <> ''{}'' THEN v_final := v_final || v_list; '
                    'v_errors := v_errors || CASE WHEN p_final THEN v_list ELSE pliers._draft_errors(v_list) END; END IF;',
                    f_field[v_i], f_kind[v_i], v_k, v_path,
                    CASE WHEN f_kind[v_i] = 'consent' THEN coalesce(v_required, 'FALSE') ELSE 'FALSE' END,
                    CASE WHEN f_field[v_i] -> 'allowOther' = 'true'::jsonb
                        THEN pg_catalog.format('%s -> %L', v_of_parent, f_name[v_i] || '_other') ELSE 'NULL' END);
                v_checks := v_checks || CASE
                    WHEN f_kind[v_i] = 'password' OR (
                        f_kind[v_i] IN ('text', 'textarea') AND f_field[v_i] ?| ARRAY['validation', 'readOnly']
                    ) THEN
                        -- Long answers go to _check_answer, which checks the answer_chars limit.
                        pg_catalog.format(
                            'IF pg_catalog.jsonb_typeof(a%1$s) <> ''string'' OR pg_catalog.char_length(a%1$s #>> ''{}'') > 1000 THEN ', v_k)
                        || v_call || ' ELSE '
                        || CASE WHEN v_rules ? 'minLength' THEN pliers._compile_check(
                            pg_catalog.format('pg_catalog.char_length(a%s #>> ''{}'') < %L::numeric', v_k, v_rules ->> 'minLength'),
                            v_path, 'too_short', pg_catalog.format('must be at least %s characters long', v_rules ->> 'minLength')
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'maxLength' THEN pliers._compile_check(
                            pg_catalog.format('pg_catalog.char_length(a%s #>> ''{}'') > %L::numeric', v_k, v_rules ->> 'maxLength'),
                            v_path, 'too_long', pg_catalog.format('must be at most %s characters long', v_rules ->> 'maxLength')
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'pattern' THEN pliers._compile_check(
                            pg_catalog.format('(a%s #>> ''{}'') !~ %L', v_k, v_rules ->> 'pattern'),
                            v_path, 'pattern_mismatch', pg_catalog.format('must match the pattern %s', v_rules ->> 'pattern')
                        ) ELSE '' END
                        || 'END IF;'
                    WHEN f_kind[v_i] IN ('number', 'integer', 'currency', 'rating') THEN
                        pg_catalog.format('IF pg_catalog.jsonb_typeof(a%s) <> ''number''', v_k)
                        || CASE WHEN f_kind[v_i] IN ('integer', 'rating') THEN pg_catalog.format(
                            ' OR a%1$s::numeric <> pg_catalog.trunc(a%1$s::numeric)', v_k) ELSE '' END
                        || ' THEN ' || v_call || ' ELSE '
                        || CASE WHEN f_kind[v_i] IN ('number', 'currency') AND coalesce((v_rules ->> 'decimals')::integer,
                                CASE WHEN f_kind[v_i] = 'currency' THEN 2 END) IS NOT NULL THEN pliers._compile_check(
                            pg_catalog.format('pg_catalog.scale(pg_catalog.trim_scale(a%s::numeric)) > %s', v_k,
                                coalesce((v_rules ->> 'decimals')::integer, 2)),
                            v_path, 'too_many_decimals', pg_catalog.format(
                                'must have at most %s decimal places', coalesce((v_rules ->> 'decimals')::integer, 2))
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'min' OR f_kind[v_i] = 'rating' THEN pliers._compile_check(
                            pg_catalog.format('a%s::numeric < (%L::jsonb)::numeric', v_k, coalesce(v_rules -> 'min', '1')),
                            v_path, 'below_minimum', pg_catalog.format('must be at least %s', coalesce(v_rules -> 'min', '1'))
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'max' OR f_kind[v_i] = 'rating' THEN pliers._compile_check(
                            pg_catalog.format('a%s::numeric > (%L::jsonb)::numeric', v_k, coalesce(v_rules -> 'max', '5')),
                            v_path, 'above_maximum', pg_catalog.format('must be at most %s', coalesce(v_rules -> 'max', '5'))
                        ) ELSE '' END
                        || 'END IF;'
                    WHEN f_kind[v_i] = 'date' THEN
                        pg_catalog.format(
                            'IF pg_catalog.jsonb_typeof(a%1$s) <> ''string'' OR NOT pliers._is_date(a%1$s #>> ''{}'') THEN ', v_k)
                        || v_call || ' ELSE '
                        || CASE WHEN v_rules ? 'min' THEN pliers._compile_check(
                            pg_catalog.format('(a%s #>> ''{}'') COLLATE "C" < %L COLLATE "C"', v_k, v_rules ->> 'min'),
                            v_path, 'below_minimum', pg_catalog.format('must be %s or later', v_rules ->> 'min')
                        ) ELSE '' END
                        || CASE WHEN v_rules ? 'max' THEN pliers._compile_check(
                            pg_catalog.format('(a%s #>> ''{}'') COLLATE "C" > %L COLLATE "C"', v_k, v_rules ->> 'max'),
                            v_path, 'above_maximum', pg_catalog.format('must be %s or earlier', v_rules ->> 'max')
                        ) ELSE '' END
                        || 'END IF;'
                    WHEN f_kind[v_i] = 'multiple_choice' AND f_field[v_i] -> 'allowOther' IS DISTINCT FROM 'true'::jsonb THEN
                        -- Codes of the choices, each once (a short answer): only the
                        -- number of items is left to check.
                        pg_catalog.format(
                            'IF pg_catalog.jsonb_typeof(a%1$s) <> ''array'' OR pg_catalog.jsonb_array_length(a%1$s) > 10'
                            ' OR NOT a%1$s <@ %2$L::jsonb OR NOT pliers._distinct_items(a%1$s) THEN ', v_k,
                            pg_catalog.jsonb_path_query_array(f_field[v_i], '$.choices[*].code'))
                        || v_call || ' ELSE ' || v_items || 'END IF;'
                    WHEN f_kind[v_i] IN ('text', 'textarea', 'boolean') OR (
                        f_kind[v_i] = 'single_choice' AND f_field[v_i] -> 'allowOther' IS DISTINCT FROM 'true'::jsonb
                    ) THEN
                        -- Nothing more to check on an answer of the right type (a choice:
                        -- one of the codes; text without rules: not even its length).
                        pg_catalog.format('IF pg_catalog.jsonb_typeof(a%s) <> %L', v_k,
                            CASE f_kind[v_i] WHEN 'boolean' THEN 'boolean' ELSE 'string' END)
                        || CASE WHEN f_kind[v_i] = 'single_choice' THEN pg_catalog.format(
                            ' OR NOT a%s = ANY (%L::jsonb[])', v_k,
                            ARRAY(SELECT c.choice -> 'code' FROM pg_catalog.jsonb_array_elements(f_field[v_i] -> 'choices') AS c (choice)))
                            ELSE '' END
                        || ' THEN ' || v_call || ' END IF;'
                    ELSE v_call
                END
                    || CASE WHEN f_field[v_i] -> 'readOnly' = 'true'::jsonb AND f_field[v_i] ? 'default' THEN
                        pg_catalog.format(' IF a%s <> %L::jsonb THEN ', v_k, f_field[v_i] -> 'default')
                        || pliers._compile_error(v_path, 'read_only', pg_catalog.quote_literal(pg_catalog.format(
                            'is read-only: must be its default %s', f_field[v_i] -> 'default')))
                        || 'END IF;' ELSE '' END;
            END IF;
            v_checks := v_checks || E'\nEND IF;\n';
            IF f_kind[v_i] = 'repeat' THEN
                -- Each item an instance of its own, seeing the answers around it.
                v_scope := CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || pg_catalog.replace(f_keys[v_i], ',', '.');
                SELECT * INTO v_nested FROM pliers._compile_instance(f_field[v_i] -> 'fields', v_k::text, v_scope, p_next);
                p_next := v_nested.p_next;
                v_checks := v_checks || pg_catalog.format(
                    'IF pg_catalog.jsonb_typeof(a%1$s) = ''array'' THEN i%1$s := ''{}''; h%1$s := FALSE; '
                    'IF y_%2$s IS NULL THEN y_%2$s := %3$s; END IF;' || E'\n'
                    'FOR j%1$s IN 0 .. pg_catalog.jsonb_array_length(a%1$s) - 1 LOOP r_%1$s := a%1$s -> j%1$s; '
                    'IF pg_catalog.jsonb_typeof(r_%1$s) = ''object'' THEN p_%1$s := %4$s || ''['' || j%1$s || '']''; '
                    'x_%1$s := y_%2$s;' || E'\n',
                    v_k, p_id,
                    CASE WHEN v_root THEN '''{}''::jsonb'
                        ELSE pg_catalog.format('x_%s || pg_catalog.jsonb_build_object(%L, %s)', p_id, p_scope, v_clean) END,
                    v_path)
                    || v_nested.code
                    || pg_catalog.format(
                        'i%1$s[j%1$s + 1] := c_%1$s; h%1$s := h%1$s OR c_%1$s <> r_%1$s; ELSE i%1$s[j%1$s + 1] := r_%1$s; ',
                        v_k)
                    || pliers._compile_error(pg_catalog.format('%s || ''['' || j%s || '']''', v_path, v_k),
                        'invalid_type', '''must be an object''')
                    || pg_catalog.format(
                        'END IF; END LOOP; IF h%s THEN %s := pg_catalog.jsonb_set(%2$s, %L::text[], pg_catalog.to_jsonb(i%1$s)); END IF; END IF;',
                        v_k, v_clean, pg_catalog.string_to_array(f_keys[v_i], ',')) || E'\n';
            END IF;
        END IF;
        v_checks := v_checks || CASE WHEN v_bad_parent IS NULL THEN '' ELSE 'END IF; ' END || E'END IF;\n';
    END LOOP;
    WHILE pg_catalog.cardinality(v_open) > 1 LOOP
        v_top := v_open[pg_catalog.cardinality(v_open)];
        v_open := v_open[1:pg_catalog.cardinality(v_open) - 1];
        v_build := v_build || pg_catalog.format(
            '%1$s := %1$s || (%2$L || pg_catalog.array_to_string(m%3$s, '','') || ''}''); END IF; END IF;',
            CASE WHEN f_parent[v_top] = 0 THEN 'm_' || p_id ELSE 'm' || (v_first + f_parent[v_top]) END,
            '"' || f_name[v_top] || '":{', v_first + v_top) || E'\n';
    END LOOP;

    code := E'DECLARE\n' || v_declare || E'BEGIN\n'
        || CASE WHEN v_conditions THEN E'v_rounds := 0;\nLOOP\n' ELSE '' END
        -- In parentheses: PL/pgSQL would end the condition at the THEN of a CASE.
        || 'IF (' || v_drop || pg_catalog.format(E')\nTHEN m_%s := ''{}'';\n', p_id) || v_build
        || pg_catalog.format(E'%1$s := (''{'' || pg_catalog.array_to_string(m_%2$s, '','') || ''}'')::jsonb;\nELSE %1$s := %3$s;\nEND IF;\n',
            v_clean, p_id, v_raw)
        || CASE WHEN v_conditions THEN pg_catalog.format(
            E'v_rounds := v_rounds + 1;\nEXIT WHEN v_rounds > %s;\nv_changed := FALSE;\n', v_n + 1)
            || v_visibility || E'EXIT WHEN NOT v_changed;\nEND LOOP;\n' ELSE '' END
        || CASE WHEN v_root THEN E'v_root := c_0;\n' ELSE '' END
        || pg_catalog.format(
            E'IF %1$s - %2$L::text[] <> ''{}''::jsonb THEN v_errors := v_errors || pliers._unknown_field_errors(%1$s, %2$L::text[], %3$s, ''form''); END IF;\n',
            v_raw, v_known, CASE WHEN v_root THEN '''$.data''' ELSE 'p_' || p_id END)
        || v_checks
        || E'END;\n';
END
$$;

COMMENT ON FUNCTION pliers._compile_instance(jsonb, text, text, integer) IS
'Private (code generation): the PL/pgSQL block that checks and cleans one instance of the fields p_fields (the '
'root answers, p_id ''0'', or an item of repeat number p_id at repeat path p_scope) as _process_instance does; '
'p_next: the first field number to use, returned past the last one used.';

REVOKE ALL ON FUNCTION pliers._compile_instance(jsonb, text, text, integer) FROM public;

CREATE OR REPLACE FUNCTION pliers._compile_validator(p_form pliers.forms)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_name constant text := pliers._validator_name(p_form.id);
    v_instance record;
BEGIN
    IF p_form.status = 'draft' THEN
        RETURN FALSE;
    END IF;
    -- Only a valid definition within the limits: on any other the interpreter's result
    -- is what it is, and it stays the validator.
    BEGIN
        IF NOT pliers._check_document_limits(p_form.definition, '$', NULL, FALSE)
            OR pliers.validate_form_definition(p_form.definition) <> '[]' THEN
            RETURN FALSE;
        END IF;
    EXCEPTION WHEN SQLSTATE 'PL001' THEN
        RETURN FALSE;
    END;
    -- Nor a large form: its code grows with it (about 1 kB a field), each session compiles
    -- it on first use (1.5 s at 1,000 fields), and past 100 to 200 fields it runs no
    -- faster than the interpreter (one PL/pgSQL statement costs more in a larger function).
    IF pg_catalog.jsonb_array_length(pg_catalog.jsonb_path_query_array(
        p_form.definition, 'strict $.**.fields[*] ? (@.type() == "object")'
    )) > 100 THEN
        RETURN FALSE;
    END IF;
    v_instance := pliers._compile_instance(p_form.definition -> 'fields', '0', '', 1);
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION pliers_validators.%I(p_data jsonb, p_final boolean, p_attachments jsonb, '
        'OUT cleaned jsonb, OUT errors jsonb, OUT final_errors jsonb) '
        'LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = '''' AS %L',
        v_name,
        E'DECLARE\n'
        'v_errors jsonb[] := ''{}''; v_final jsonb[] := ''{}''; v_e jsonb; v_list jsonb[]; v_root jsonb; v_other jsonb;\n'
        'v_rounds integer; v_changed boolean; v_visible boolean; r_0 jsonb := p_data; c_0 jsonb;\n'
        'BEGIN\n'
        -- The limits of the answers (the definition's were checked above).
        'PERFORM pliers._check_document_limits(p_data, ''$.data'', ''data_bytes'', TRUE);\n'
        'IF pg_catalog.jsonb_typeof(p_data) IS DISTINCT FROM ''object'' THEN\n'
        'cleaned := p_data;\n'
        'errors := pg_catalog.jsonb_build_array('
        'pliers._form_error(''$.data'', ''invalid_type'', ''submission data must be a JSON object''));\n'
        'final_errors := errors;\nRETURN;\nEND IF;\n'
        || v_instance.code
        || E'cleaned := c_0;\nerrors := pg_catalog.to_jsonb(v_errors);\n'
        'final_errors := pg_catalog.to_jsonb(v_final);\nEND'
    );
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION pliers_validators.%I(jsonb, boolean, jsonb) FROM PUBLIC', v_name);
    EXECUTE pg_catalog.format(
        'COMMENT ON FUNCTION pliers_validators.%I(jsonb, boolean, jsonb) IS %L', v_name,
        pg_catalog.format('Compiled validator of form %s version %s (%s): pliers._check_answers calls it.',
            p_form.id, p_form.version, p_form.slug)
    );
    RETURN TRUE;
END
$$;

CREATE OR REPLACE FUNCTION pliers._check_answers(p_form pliers.forms, p_data jsonb, p_final boolean, p_attachments jsonb)
RETURNS TABLE (cleaned jsonb, errors jsonb, final_errors jsonb)
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF p_form.status <> 'draft'
        AND pg_catalog.to_regproc('pliers_validators.' || pliers._validator_name(p_form.id)) IS NOT NULL THEN
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT * FROM pliers_validators.%I($1, $2, $3)', pliers._validator_name(p_form.id)
        ) USING p_data, p_final, p_attachments;
    ELSE
        RETURN QUERY
        -- A final check that found nothing found nothing in the cleaned answers either.
        SELECT d.cleaned, d.errors, CASE WHEN p_final AND d.errors = '[]' THEN d.errors ELSE (
            SELECT f.errors FROM pliers._check_submission_data(p_form.definition, d.cleaned, TRUE, p_attachments) AS f
        ) END
        FROM pliers._check_submission_data(p_form.definition, p_data, p_final, p_attachments) AS d;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._check_answers(pliers.forms, jsonb, boolean, jsonb) IS
'Private: one row for the answers p_data of form version p_form: cleaned and errors, exactly those of '
'_check_submission_data(p_form.definition, p_data, p_final, p_attachments), and final_errors, those of '
'validate_submission_data(p_form.definition, cleaned, TRUE, p_attachments) (errors without the unknown_field ones '
'when p_final: the cleaned answers have no unknown key). From the '
'version''s compiled validator when it has one (pliers._compile_validator), else from the interpreter.';

-- sql/42-form-definitions.sql

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._valid_field_name(text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._other_path(text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_translatable(jsonb, text, jsonb, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._geo_point_errors(jsonb, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._is_data_url(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._data_url_error(text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_field(jsonb, text, jsonb, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._ordinal_choices(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._field_expression_type(jsonb, text, jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._index_expression_types(jsonb, jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._field_expressions(jsonb, text, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._expression_vars(jsonb, jsonb, text);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._field_index(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_form_expressions(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._constraint_message(jsonb);

-- A private function (no client calls it), replaced or no longer needed.
-- squawk-ignore ban-drop-function
DROP FUNCTION pliers._check_expression_rules(jsonb, jsonb, text, boolean, jsonb, jsonb, text, jsonb);

CREATE OR REPLACE FUNCTION pliers._json_path_key(p_key text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_key ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN p_key ELSE to_json(p_key)::text END
$$;

CREATE OR REPLACE FUNCTION pliers._compare_values(p_left jsonb, p_right jsonb)
RETURNS integer
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(p_left) = 'number' AND jsonb_typeof(p_right) = 'number' THEN
            (p_left::numeric > p_right::numeric)::integer - (p_left::numeric < p_right::numeric)::integer
        WHEN jsonb_typeof(p_left) <> 'string' OR jsonb_typeof(p_right) <> 'string' THEN NULL
        WHEN pliers._is_datetime(p_left #>> '{}') AND pliers._is_datetime(p_right #>> '{}') THEN
            ((p_left #>> '{}')::timestamptz > (p_right #>> '{}')::timestamptz)::integer
            - ((p_left #>> '{}')::timestamptz < (p_right #>> '{}')::timestamptz)::integer
        WHEN pliers._is_time(p_left #>> '{}') AND pliers._is_time(p_right #>> '{}') THEN
            ((p_left #>> '{}')::time > (p_right #>> '{}')::time)::integer
            - ((p_left #>> '{}')::time < (p_right #>> '{}')::time)::integer
        ELSE
            ((p_left #>> '{}') COLLATE "C" > (p_right #>> '{}') COLLATE "C")::integer
            - ((p_left #>> '{}') COLLATE "C" < (p_right #>> '{}') COLLATE "C")::integer
    END
$$;

COMMENT ON FUNCTION pliers._compare_values(jsonb, jsonb) IS
'-1, 0 or 1 as p_left is less than, equal to or greater than p_right; NULL when they cannot be compared. '
'Numbers compare as numbers; two date-times with offsets as instants; two times of day as times; '
'other strings by code point (right for YYYY-MM-DD dates). STABLE: the timestamptz cast is.';

CREATE OR REPLACE FUNCTION pliers._choice_allowed(p_field jsonb, p_code jsonb)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(p_field -> 'choices' @> jsonb_build_array(jsonb_build_object('code', p_code)), FALSE)
        OR coalesce(p_code = '"other"'::jsonb AND p_field -> 'allowOther' = 'true'::jsonb, FALSE)
$$;

COMMENT ON FUNCTION pliers._choice_allowed(jsonb, jsonb) IS
'TRUE when p_code is the code of one of the field''s choices, or is "other" on a field with allowOther: true.';

CREATE OR REPLACE FUNCTION pliers.form_limits()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT '{
        "definition_bytes": 1048576,
        "data_bytes": 4194304,
        "json_depth": 128,
        "fields": 2000,
        "field_depth": 32,
        "choices": 10000,
        "conditions": 10000,
        "condition_depth": 16,
        "array_items": 10000,
        "sections": 1000,
        "pattern_chars": 1000,
        "answer_chars": 100000
    }'::jsonb
$$;

COMMENT ON FUNCTION pliers.form_limits() IS
'The input limits of the definition and answer validators, by name: definition_bytes (JSON text of a definition), '
'data_bytes (JSON text of the answers), json_depth (nesting of objects and arrays, definition and answers), fields '
'(in a definition, nested ones included), field_depth (groups and repeats inside one another), choices (of one '
'field), conditions (field tests and expression references in a definition), condition_depth (all / any / not '
'inside one another), array_items (any other array of a definition or of the answers), pattern_chars (a '
'validation pattern), answer_chars (a text answer). Exceeding one raises PL001 with one error naming it '
'(docs/forms.md).';

CREATE OR REPLACE FUNCTION pliers._eval_condition(
    p_condition jsonb, p_root jsonb, p_context jsonb, p_scope text, p_item jsonb
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_ref constant text := p_condition ->> 'field';
    v_expected constant jsonb := p_condition -> 'value';
    v_parts text[];
    v_prefix text;
    v_value jsonb;
    v_found boolean := FALSE;
BEGIN
    IF v_ref IS NULL THEN
        IF p_condition ? 'all' THEN
            FOR v_i IN 0 .. jsonb_array_length(p_condition -> 'all') - 1 LOOP
                IF NOT pliers._eval_condition(p_condition -> 'all' -> v_i, p_root, p_context, p_scope, p_item) THEN
                    RETURN FALSE;
                END IF;
            END LOOP;
            RETURN TRUE;
        ELSIF p_condition ? 'any' THEN
            FOR v_i IN 0 .. jsonb_array_length(p_condition -> 'any') - 1 LOOP
                IF pliers._eval_condition(p_condition -> 'any' -> v_i, p_root, p_context, p_scope, p_item) THEN
                    RETURN TRUE;
                END IF;
            END LOOP;
            RETURN FALSE;
        ELSIF p_condition ? 'not' THEN
            RETURN NOT pliers._eval_condition(p_condition -> 'not', p_root, p_context, p_scope, p_item);
        END IF;
        RETURN FALSE;
    END IF;

    -- The answer referred to: a dotted path from the root of the form. Inside a
    -- repeat item, the path through the repeat reads the current item (p_item, whose
    -- repeat path is p_scope) or an enclosing one (p_context, by repeat path);
    -- everything else reads the root. #> extracts the answer alone: taking the
    -- object first (->) would copy it on every test.
    IF strpos(v_ref, '.') = 0 THEN
        v_value := p_root -> v_ref;
    ELSE
        v_parts := string_to_array(v_ref, '.');
        FOR v_i IN REVERSE cardinality(v_parts) - 1 .. 1 LOOP
            v_prefix := array_to_string(v_parts[1:v_i], '.');
            IF v_prefix = p_scope THEN
                v_value := p_item #> v_parts[v_i + 1:];
                v_found := TRUE;
                EXIT;
            ELSIF p_context ? v_prefix THEN
                v_value := p_context #> (v_prefix || v_parts[v_i + 1:]);
                v_found := TRUE;
                EXIT;
            END IF;
        END LOOP;
        IF NOT v_found THEN
            v_value := p_root #> v_parts;
        END IF;
    END IF;

    CASE p_condition ->> 'operator'
        WHEN 'equals' THEN
            RETURN coalesce(v_value = v_expected, FALSE);
        WHEN 'not_equals' THEN
            RETURN coalesce(v_value <> v_expected, TRUE);
        WHEN 'empty' THEN
            RETURN pliers._is_blank(v_value);
        WHEN 'not_empty' THEN
            RETURN NOT pliers._is_blank(v_value);
        WHEN 'in', 'not_in' THEN
            v_found := FALSE;
            IF v_value IS NULL OR jsonb_typeof(v_expected) IS DISTINCT FROM 'array' THEN
                v_found := FALSE;
            ELSIF jsonb_typeof(v_value) = 'array' THEN
                FOR v_i IN 0 .. jsonb_array_length(v_value) - 1 LOOP
                    IF v_expected @> jsonb_build_array(v_value -> v_i) THEN
                        v_found := TRUE;
                        EXIT;
                    END IF;
                END LOOP;
            ELSE
                v_found := v_expected @> jsonb_build_array(v_value);
            END IF;
            RETURN CASE WHEN p_condition ->> 'operator' = 'in' THEN v_found ELSE NOT v_found END;
        WHEN 'greater_than' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) > 0, FALSE);
        WHEN 'greater_or_equal' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) >= 0, FALSE);
        WHEN 'less_than' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) < 0, FALSE);
        WHEN 'less_or_equal' THEN
            RETURN coalesce(pliers._compare_values(v_value, v_expected) <= 0, FALSE);
        ELSE
            RETURN FALSE;
    END CASE;
END
$$;

CREATE OR REPLACE FUNCTION pliers._check_answer(
    p_field jsonb,
    p_kind text,
    p_value jsonb,
    p_path text,
    p_final boolean,
    p_required boolean,
    p_other jsonb,
    p_attachments jsonb
)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_rules constant jsonb := coalesce(p_field -> 'validation', '{}');
    v_type constant text := jsonb_typeof(p_value);
    v_errors jsonb[] := '{}';
    v_text text;
    v_number numeric;
    v_limit jsonb;
    v_count integer;
    v_item jsonb;
    v_repeated boolean[];
    v_known boolean[];
    v_attachment jsonb;
    v_item_path text;
BEGIN
    CASE
        WHEN p_kind IN ('text', 'textarea', 'password', 'email', 'url', 'phone') THEN
            IF v_type <> 'string' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be a string')];
            END IF;
            v_text := p_value #>> '{}';
            -- Formats and patterns are matched on it: bounded first.
            IF char_length(v_text) > 1000
                AND char_length(v_text) > (pliers.form_limits() ->> 'answer_chars')::integer THEN
                PERFORM pliers._raise_limit(
                    p_path, 'string_too_long',
                    format('a text answer has at most %s characters', pliers.form_limits() ->> 'answer_chars')
                );
            END IF;
            IF p_kind = 'email' AND v_text !~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$' THEN
                v_errors := v_errors || pliers._form_error(p_path, 'invalid_email', 'must be an e-mail address');
            ELSIF p_kind = 'url' AND v_text !~ '^https?://[^\s/?#]+([/?#]\S*)?$' THEN
                v_errors := v_errors || pliers._form_error(p_path, 'invalid_url', 'must be an http or https URL');
            ELSIF p_kind = 'phone' AND (
                v_text !~ '^\+?[0-9 ().-]+$' OR length(regexp_replace(v_text, '[^0-9]', '', 'g')) NOT BETWEEN 3 AND 15
            ) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'invalid_phone', 'must be a phone number: 3 to 15 digits, optional +, spaces, ( ) . -'
                );
            END IF;
            IF char_length(v_text) < (v_rules ->> 'minLength')::numeric THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_short', format('must be at least %s characters long', v_rules ->> 'minLength')
                );
            END IF;
            IF char_length(v_text) > (v_rules ->> 'maxLength')::numeric THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_long', format('must be at most %s characters long', v_rules ->> 'maxLength')
                );
            END IF;
            IF v_text !~ (v_rules ->> 'pattern') THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'pattern_mismatch', format('must match the pattern %s', v_rules ->> 'pattern')
                );
            END IF;

        WHEN p_kind IN ('number', 'integer', 'currency', 'rating') THEN
            IF v_type <> 'number' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be a number')];
            END IF;
            v_number := p_value::numeric;
            IF p_kind IN ('integer', 'rating') AND v_number <> trunc(v_number) THEN
                RETURN ARRAY[pliers._form_error(p_path, 'not_integer', 'must be a whole number')];
            END IF;
            IF p_kind IN ('number', 'currency')
                AND scale(trim_scale(v_number))
                > coalesce((v_rules ->> 'decimals')::integer, CASE WHEN p_kind = 'currency' THEN 2 END) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'too_many_decimals',
                    format(
                        'must have at most %s decimal places',
                        coalesce((v_rules ->> 'decimals')::integer, CASE WHEN p_kind = 'currency' THEN 2 END)
                    )
                );
            END IF;
            v_limit := coalesce(v_rules -> 'min', CASE WHEN p_kind = 'rating' THEN '1'::jsonb END);
            IF v_number < v_limit::numeric THEN
                v_errors := v_errors || pliers._form_error(p_path, 'below_minimum', format('must be at least %s', v_limit));
            END IF;
            v_limit := coalesce(v_rules -> 'max', CASE WHEN p_kind = 'rating' THEN '5'::jsonb END);
            IF v_number > v_limit::numeric THEN
                v_errors := v_errors || pliers._form_error(p_path, 'above_maximum', format('must be at most %s', v_limit));
            END IF;

        WHEN p_kind IN ('date', 'time', 'datetime') THEN
            v_text := p_value #>> '{}';
            IF v_type <> 'string'
                OR (p_kind = 'date' AND NOT pliers._is_date(v_text))
                OR (p_kind = 'time' AND NOT pliers._is_time(v_text))
                OR (p_kind = 'datetime' AND NOT pliers._is_datetime(v_text)) THEN
                RETURN ARRAY[pliers._form_error(
                    p_path, 'invalid_' || p_kind,
                    CASE p_kind
                        WHEN 'date' THEN 'must be a date YYYY-MM-DD'
                        WHEN 'time' THEN 'must be a time HH:MM or HH:MM:SS'
                        ELSE 'must be a date and time with offset, YYYY-MM-DDTHH:MM:SS+HH:MM or ...Z'
                    END
                )];
            END IF;
            IF v_rules ? 'min' AND (CASE p_kind
                WHEN 'date' THEN v_text COLLATE "C" < (v_rules ->> 'min') COLLATE "C"
                WHEN 'time' THEN v_text::time < (v_rules ->> 'min')::time
                ELSE v_text::timestamptz < (v_rules ->> 'min')::timestamptz
            END) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'below_minimum', format('must be %s or later', v_rules ->> 'min')
                );
            END IF;
            IF v_rules ? 'max' AND (CASE p_kind
                WHEN 'date' THEN v_text COLLATE "C" > (v_rules ->> 'max') COLLATE "C"
                WHEN 'time' THEN v_text::time > (v_rules ->> 'max')::time
                ELSE v_text::timestamptz > (v_rules ->> 'max')::timestamptz
            END) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'above_maximum', format('must be %s or earlier', v_rules ->> 'max')
                );
            END IF;

        WHEN p_kind IN ('boolean', 'consent') THEN
            IF v_type <> 'boolean' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be true or false')];
            END IF;
            IF p_kind = 'consent' AND p_required AND p_final AND p_value = 'false'::jsonb THEN
                v_errors := v_errors || pliers._form_error(p_path, 'consent_required', 'must be given (true)');
            END IF;

        WHEN p_kind = 'single_choice' THEN
            IF v_type <> 'string' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be the code of a choice (a string)')];
            END IF;
            IF NOT pliers._choice_allowed(p_field, p_value) THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'invalid_choice', format('%s is not one of the choices', p_value)
                );
            END IF;

        WHEN p_kind = 'multiple_choice' THEN
            IF v_type <> 'array' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be an array of choice codes')];
            END IF;
            -- Repeats and unknown codes found by one query (a hash per answer), not by
            -- searching the items seen and the choices for each item.
            SELECT array_agg(e.nth > 1 ORDER BY e.i), array_agg(c.code IS NOT NULL ORDER BY e.i)
            INTO v_repeated, v_known
            FROM (
                SELECT x.item, x.i, row_number() OVER (PARTITION BY x.item ORDER BY x.i) AS nth
                FROM jsonb_array_elements(p_value) WITH ORDINALITY AS x (item, i)
            ) AS e
            LEFT JOIN (
                SELECT DISTINCT ch.choice -> 'code' AS code
                FROM jsonb_array_elements(p_field -> 'choices') AS ch (choice)
            ) AS c ON e.item = c.code;
            FOR v_i IN 0 .. jsonb_array_length(p_value) - 1 LOOP
                v_item := p_value -> v_i;
                v_item_path := p_path || '[' || v_i || ']';
                IF jsonb_typeof(v_item) <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'invalid_type', 'must be the code of a choice (a string)'
                    );
                ELSIF v_repeated[v_i + 1] THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'duplicate_item', format('%s is selected more than once', v_item)
                    );
                ELSIF NOT v_known[v_i + 1]
                    AND NOT coalesce(v_item = '"other"'::jsonb AND p_field -> 'allowOther' = 'true'::jsonb, FALSE) THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'invalid_choice', format('%s is not one of the choices', v_item)
                    );
                END IF;
            END LOOP;

        WHEN p_kind = 'file' THEN
            IF v_type <> 'array' THEN
                RETURN ARRAY[pliers._form_error(p_path, 'invalid_type', 'must be an array of attachment ids')];
            END IF;
            SELECT array_agg(e.nth > 1 ORDER BY e.i)
            INTO v_repeated
            FROM (
                SELECT x.i, row_number() OVER (PARTITION BY x.item ORDER BY x.i) AS nth
                FROM jsonb_array_elements(p_value) WITH ORDINALITY AS x (item, i)
            ) AS e;
            FOR v_i IN 0 .. jsonb_array_length(p_value) - 1 LOOP
                v_item := p_value -> v_i;
                v_item_path := p_path || '[' || v_i || ']';
                IF jsonb_typeof(v_item) <> 'string'
                    OR (v_item #>> '{}') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'invalid_attachment_id', 'must be an attachment id (a lower-case UUID)'
                    );
                    CONTINUE;
                ELSIF v_repeated[v_i + 1] THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'duplicate_item', format('attachment %s is listed more than once', v_item)
                    );
                    CONTINUE;
                END IF;
                CONTINUE WHEN p_attachments IS NULL;
                v_attachment := p_attachments -> (v_item #>> '{}');
                IF v_attachment IS NULL THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'attachment_not_found', format('attachment %s does not exist', v_item)
                    );
                    CONTINUE;
                END IF;
                IF v_rules ? 'accept'
                    AND NOT pliers._mime_accepted(v_rules -> 'accept', v_attachment ->> 'mime_type') THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'file_type_not_allowed',
                        format('files of type %s are not accepted', v_attachment ->> 'mime_type')
                    );
                END IF;
                IF (v_attachment ->> 'file_size_bytes')::numeric > (v_rules ->> 'maxSizeBytes')::numeric THEN
                    v_errors := v_errors || pliers._form_error(
                        v_item_path, 'file_too_large',
                        format('the file is larger than %s bytes', v_rules ->> 'maxSizeBytes')
                    );
                END IF;
            END LOOP;

        WHEN p_kind = 'signature' THEN
            IF v_type <> 'string'
                OR (p_value #>> '{}') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                RETURN ARRAY[pliers._form_error(
                    p_path, 'invalid_attachment_id', 'must be the attachment id of the signature image'
                )];
            END IF;
            IF p_attachments IS NOT NULL AND NOT p_attachments ? (p_value #>> '{}') THEN
                v_errors := v_errors || pliers._form_error(
                    p_path, 'attachment_not_found', format('attachment %s does not exist', p_value)
                );
            END IF;

        WHEN p_kind = 'geo_point' THEN
            IF v_type <> 'object'
                OR jsonb_typeof(p_value -> 'lat') IS DISTINCT FROM 'number'
                OR jsonb_typeof(p_value -> 'lon') IS DISTINCT FROM 'number'
                OR (p_value - ARRAY['lat', 'lon', 'alt', 'accuracy']) <> '{}'::jsonb
                OR jsonb_typeof(coalesce(p_value -> 'alt', '0')) <> 'number'
                OR jsonb_typeof(coalesce(p_value -> 'accuracy', '0')) <> 'number' THEN
                RETURN ARRAY[pliers._form_error(
                    p_path, 'invalid_geo_point',
                    'must be {"lat": number, "lon": number} with optional numbers alt and accuracy'
                )];
            END IF;
            IF (p_value -> 'lat')::numeric NOT BETWEEN -90 AND 90 THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.lat', 'invalid_geo_point', 'latitude must be between -90 and 90'
                );
            END IF;
            IF (p_value -> 'lon')::numeric NOT BETWEEN -180 AND 180 THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.lon', 'invalid_geo_point', 'longitude must be between -180 and 180'
                );
            END IF;
            IF (p_value -> 'accuracy')::numeric < 0 THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.accuracy', 'invalid_geo_point', 'accuracy must not be negative'
                );
            END IF;

        ELSE
            -- hidden: any JSON value; group, repeat, display, calculated: checked by the caller.
            NULL;
    END CASE;

    -- Number of items: multiple choice and file (repeat: checked by the caller).
    IF p_kind IN ('multiple_choice', 'file') THEN
        v_count := jsonb_array_length(p_value);
        IF p_final AND v_count < (v_rules ->> 'minItems')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'too_few_items', format('must have at least %s items', v_rules ->> 'minItems')
            );
        END IF;
        IF v_count > (v_rules ->> 'maxItems')::numeric THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'too_many_items', format('must have at most %s items', v_rules ->> 'maxItems')
            );
        END IF;
    END IF;

    -- "Other, please specify": the free text is the sibling answer <name>_other.
    IF p_field -> 'allowOther' = 'true'::jsonb
        AND (p_value = '"other"'::jsonb OR (v_type = 'array' AND p_value ? 'other')) THEN
        IF pliers._is_blank(p_other) THEN
            IF p_final THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '_other', 'other_text_required', 'please specify the other answer'
                );
            END IF;
        ELSIF jsonb_typeof(p_other) <> 'string' THEN
            v_errors := v_errors || pliers._form_error(p_path || '_other', 'invalid_type', 'must be a string');
        END IF;
    END IF;

    RETURN v_errors;
END
$$;

CREATE OR REPLACE FUNCTION pliers._process_instance(
    p_fields jsonb,
    p_raw jsonb,
    p_root jsonb,
    p_context jsonb,
    p_scope text,
    p_path text,
    p_validate boolean,
    p_final boolean,
    p_attachments jsonb,
    OUT cleaned jsonb,
    OUT errors jsonb[]
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    -- The fields of this instance (the root, or one repeat item), groups
    -- flattened depth-first: a group comes before its fields (parent < child).
    s_field jsonb[] := '{}';
    s_kind text[] := '{}';
    s_name text[] := '{}';
    s_parent integer[] := '{}';
    s_keys text[] := '{}';          -- key path from the instance, comma-separated
    s_path text[] := '{}';          -- JSON path for errors
    s_raw jsonb[] := '{}';          -- the answer as received
    s_cond jsonb[] := '{}';         -- visibility condition, NULL if none
    s_known text[] := '{}';         -- groups: the keys their object may hold
    s_vis boolean[] := '{}';
    s_bad boolean[] := '{}';        -- inside a group whose answer is not an object
    -- Frames of the depth-first walk.
    fr_fields jsonb[];
    fr_next integer[];
    fr_slot integer[];
    -- The keys each object may hold (slot 0: the instance), gathered as pairs and
    -- joined once: appending to one string per field was quadratic.
    k_slot integer[] := '{}';
    k_name text[] := '{}';
    v_nk integer := 0;
    s_end integer[] := '{}';        -- last field inside a group (itself for other kinds)
    v_tokens text[];                -- the cleaned object as JSON text, in pieces
    v_nt integer;
    st_first boolean[];
    st_end integer[];
    v_sd integer;
    v_depth integer := 1;
    v_root_known text := '';
    v_n integer := 0;
    v_has_conditions boolean := FALSE;
    v_field jsonb;
    v_kind text;
    v_name text;
    v_parent integer;
    v_value jsonb;
    v_drop boolean;
    v_other jsonb;
    v_visible boolean;
    v_changed boolean;
    v_rounds integer := 0;
    v_root jsonb;
    v_context jsonb;
    v_required boolean;
    v_rules jsonb;
    v_items jsonb[];
    v_items_changed boolean;
    v_item jsonb;
    v_scope text;
    v_result record;
BEGIN
    errors := '{}';
    fr_fields := ARRAY[CASE WHEN jsonb_typeof(p_fields) = 'array' THEN p_fields ELSE '[]'::jsonb END];
    fr_next := ARRAY[0];
    fr_slot := ARRAY[0];

    -- 1. Flatten the fields of this instance (not the fields of nested repeats).
    WHILE v_depth > 0 LOOP
        IF fr_next[v_depth] < jsonb_array_length(fr_fields[v_depth]) THEN
            v_field := fr_fields[v_depth] -> fr_next[v_depth];
            fr_next[v_depth] := fr_next[v_depth] + 1;
            v_n := v_n + 1;
            v_parent := fr_slot[v_depth];
            v_name := v_field ->> 'name';
            s_field[v_n] := v_field;
            s_kind[v_n] := v_field ->> 'type';
            s_name[v_n] := v_name;
            s_parent[v_n] := v_parent;
            IF v_parent = 0 THEN
                s_keys[v_n] := v_name;
                s_path[v_n] := p_path || '.' || v_name;
                s_raw[v_n] := p_raw -> v_name;
            ELSE
                s_keys[v_n] := s_keys[v_parent] || ',' || v_name;
                s_path[v_n] := s_path[v_parent] || '.' || v_name;
                s_raw[v_n] := s_raw[v_parent] -> v_name;
            END IF;
            IF v_field ?| ARRAY['visibleWhen', 'conditional'] THEN
                s_cond[v_n] := CASE
                    WHEN v_field ? 'visibleWhen' THEN v_field -> 'visibleWhen'
                    WHEN jsonb_typeof(v_field #> '{conditional,when}') = 'array' THEN CASE
                        WHEN jsonb_array_length(v_field #> '{conditional,when}') = 0 THEN NULL
                        WHEN v_field #> '{conditional,show}' = 'false'::jsonb
                            THEN jsonb_build_object('not', jsonb_build_object('all', v_field #> '{conditional,when}'))
                        ELSE jsonb_build_object('all', v_field #> '{conditional,when}')
                    END
                END;
                v_has_conditions := v_has_conditions OR s_cond[v_n] IS NOT NULL;
            END IF;
            s_vis[v_n] := TRUE;
            s_end[v_n] := v_n;
            v_nk := v_nk + 1;
            k_slot[v_nk] := v_parent;
            k_name[v_nk] := v_name;
            IF v_field -> 'allowOther' = 'true'::jsonb THEN
                v_nk := v_nk + 1;
                k_slot[v_nk] := v_parent;
                k_name[v_nk] := v_name || '_other';
            END IF;
            IF s_kind[v_n] = 'group' AND jsonb_typeof(v_field -> 'fields') = 'array' THEN
                v_depth := v_depth + 1;
                fr_fields[v_depth] := v_field -> 'fields';
                fr_next[v_depth] := 0;
                fr_slot[v_depth] := v_n;
                s_known[v_n] := '';
            END IF;
        ELSE
            IF fr_slot[v_depth] <> 0 THEN
                s_end[fr_slot[v_depth]] := v_n;
            END IF;
            v_depth := v_depth - 1;
        END IF;
    END LOOP;
    IF v_nk > 0 AND NOT 'group' = ANY (s_kind) THEN
        v_root_known := ',' || array_to_string(k_name, ',');
    ELSE
        FOR v_result IN
            SELECT k.slot, string_agg(',' || k.name, '' ORDER BY k.ord) AS known
            FROM unnest(k_slot, k_name) WITH ORDINALITY AS k (slot, name, ord)
            GROUP BY k.slot
        LOOP
            IF v_result.slot = 0 THEN
                v_root_known := v_result.known;
            ELSE
                s_known[v_result.slot] := v_result.known;
            END IF;
        END LOOP;
    END IF;

    -- 2. Visibility: a field is visible when its group is and its condition holds
    -- on the cleaned answers (those of visible fields). Start from "all visible",
    -- clean, re-evaluate, until nothing changes: without cycles (the definition
    -- validation refuses them) this reaches the one consistent state.
    LOOP
        -- Anything to drop? Usually not, and the answers are kept as they are.
        v_drop := p_raw - string_to_array(v_root_known, ',') <> '{}'::jsonb;
        FOR v_i IN 1 .. v_n LOOP
            EXIT WHEN v_drop;
            v_value := s_raw[v_i];
            v_drop := CASE
                WHEN s_field[v_i] -> 'allowOther' = 'true'::jsonb
                    AND (CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END) ? (s_name[v_i] || '_other')
                    AND NOT coalesce(
                        s_vis[v_i] AND (v_value = '"other"'::jsonb OR (jsonb_typeof(v_value) = 'array' AND v_value ? 'other'))
                        AND (CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END)
                        -> (s_name[v_i] || '_other') <> 'null'::jsonb,
                        FALSE
                    ) THEN TRUE
                WHEN v_value IS NULL THEN FALSE
                WHEN NOT s_vis[v_i] OR s_kind[v_i] IN ('display', 'calculated') OR v_value = 'null'::jsonb THEN TRUE
                WHEN s_kind[v_i] = 'group' AND jsonb_typeof(v_value) = 'object'
                    THEN v_value - string_to_array(s_known[v_i], ',') <> '{}'::jsonb
                ELSE FALSE
            END;
        END LOOP;

        IF NOT v_drop THEN
            cleaned := p_raw;
        ELSE
            -- Rebuild the object as text in document order, opening and closing the
            -- objects of groups, and parse it once.
            v_tokens := '{}';
            v_nt := 0;
            st_first := ARRAY[TRUE];
            st_end := ARRAY[v_n];
            v_sd := 1;
            FOR v_i IN 1 .. v_n LOOP
                WHILE v_sd > 1 AND st_end[v_sd] < v_i LOOP
                    v_nt := v_nt + 1;
                    v_tokens[v_nt] := '}';
                    v_sd := v_sd - 1;
                END LOOP;
                v_value := s_raw[v_i];
                CONTINUE WHEN v_value IS NULL OR v_value = 'null'::jsonb OR NOT s_vis[v_i]
                    OR s_kind[v_i] IN ('display', 'calculated');
                v_nt := v_nt + 1;
                v_tokens[v_nt] := CASE WHEN st_first[v_sd] THEN '"' ELSE ',"' END || s_name[v_i] || '":';
                st_first[v_sd] := FALSE;
                IF s_kind[v_i] = 'group' AND jsonb_typeof(v_value) = 'object' THEN
                    v_tokens[v_nt] := v_tokens[v_nt] || '{';
                    v_sd := v_sd + 1;
                    st_first[v_sd] := TRUE;
                    st_end[v_sd] := s_end[v_i];
                    CONTINUE;
                END IF;
                v_tokens[v_nt] := v_tokens[v_nt] || v_value::text;
                IF s_field[v_i] -> 'allowOther' = 'true'::jsonb
                    AND (v_value = '"other"'::jsonb OR (jsonb_typeof(v_value) = 'array' AND v_value ? 'other')) THEN
                    v_other := (CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END)
                        -> (s_name[v_i] || '_other');
                    IF v_other IS NOT NULL AND v_other <> 'null'::jsonb THEN
                        v_tokens[v_nt] := v_tokens[v_nt] || ',"' || s_name[v_i] || '_other":' || v_other::text;
                    END IF;
                END IF;
            END LOOP;
            FOR v_i IN 2 .. v_sd LOOP
                v_nt := v_nt + 1;
                v_tokens[v_nt] := '}';
            END LOOP;
            cleaned := ('{' || array_to_string(v_tokens, '') || '}')::jsonb;
        END IF;

        EXIT WHEN NOT v_has_conditions;
        v_rounds := v_rounds + 1;
        EXIT WHEN v_rounds > v_n + 1;  -- only an invalid (cyclic) definition gets here
        v_changed := FALSE;
        FOR v_i IN 1 .. v_n LOOP
            v_visible := (s_parent[v_i] = 0 OR s_vis[s_parent[v_i]])
                AND (s_cond[v_i] IS NULL
                    OR pliers._eval_condition(s_cond[v_i], coalesce(p_root, cleaned), p_context, p_scope, cleaned));
            IF v_visible <> s_vis[v_i] THEN
                s_vis[v_i] := v_visible;
                v_changed := TRUE;
            END IF;
        END LOOP;
        EXIT WHEN NOT v_changed;
    END LOOP;

    -- 3. Check the visible answers in document order; clean repeat items.
    -- The root answers (at the root: these) and, for the items of repeats here, the
    -- enclosing items, built once per repeat rather than once per item.
    v_root := coalesce(p_root, cleaned);
    v_context := NULL;
    IF p_validate AND p_raw - string_to_array(v_root_known, ',') <> '{}'::jsonb THEN
        errors := errors || pliers._unknown_field_errors(p_raw, string_to_array(v_root_known, ','), p_path, 'form');
    END IF;

    FOR v_i IN 1 .. v_n LOOP
        v_kind := s_kind[v_i];
        CONTINUE WHEN NOT s_vis[v_i] OR v_kind IN ('display', 'calculated');
        v_field := s_field[v_i];
        v_value := s_raw[v_i];

        IF p_validate THEN
            -- Inside a group whose answer is not an object: only that is reported.
            IF s_parent[v_i] <> 0 AND s_bad[s_parent[v_i]] THEN
                s_bad[v_i] := TRUE;
                CONTINUE;
            END IF;
            IF v_kind = 'group' THEN
                IF v_value IS NULL OR v_value = 'null'::jsonb THEN
                    NULL;
                ELSIF jsonb_typeof(v_value) <> 'object' THEN
                    s_bad[v_i] := TRUE;
                    errors := errors || pliers._form_error(s_path[v_i], 'invalid_type', 'must be an object');
                ELSIF v_value - string_to_array(s_known[v_i], ',') <> '{}'::jsonb THEN
                    errors := errors || pliers._unknown_field_errors(
                        v_value, string_to_array(s_known[v_i], ','), s_path[v_i], 'group'
                    );
                END IF;
                CONTINUE;
            END IF;

            v_required := v_field -> 'required' = 'true'::jsonb
                OR (v_field ? 'requiredWhen'
                    AND pliers._eval_condition(v_field -> 'requiredWhen', v_root, p_context, p_scope, cleaned));
            IF pliers._is_blank(v_value) THEN
                IF p_final AND v_required THEN
                    errors := errors || pliers._form_error(s_path[v_i], 'required', 'is required');
                END IF;
            ELSIF v_kind = 'repeat' THEN
                v_rules := v_field -> 'validation';
                IF jsonb_typeof(v_value) <> 'array' THEN
                    errors := errors || pliers._form_error(s_path[v_i], 'invalid_type', 'must be an array of objects');
                ELSE
                    IF p_final AND jsonb_array_length(v_value) < (v_rules ->> 'minItems')::numeric THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i], 'too_few_items', format('must have at least %s items', v_rules ->> 'minItems')
                        );
                    END IF;
                    IF jsonb_array_length(v_value) > (v_rules ->> 'maxItems')::numeric THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i], 'too_many_items', format('must have at most %s items', v_rules ->> 'maxItems')
                        );
                    END IF;
                END IF;
            ELSIF NOT v_field ?| ARRAY['validation', 'readOnly'] AND (CASE v_kind
                -- the commonest answers with nothing more to check, without a call
                WHEN 'text' THEN jsonb_typeof(v_value) = 'string'
                WHEN 'textarea' THEN jsonb_typeof(v_value) = 'string'
                WHEN 'boolean' THEN jsonb_typeof(v_value) = 'boolean'
                WHEN 'number' THEN jsonb_typeof(v_value) = 'number'
                WHEN 'hidden' THEN TRUE
                ELSE FALSE
            END) THEN
                NULL;
            ELSE
                errors := errors || pliers._check_answer(
                    v_field, v_kind, v_value, s_path[v_i], p_final, v_required,
                    CASE WHEN s_parent[v_i] = 0 THEN p_raw ELSE s_raw[s_parent[v_i]] END -> (s_name[v_i] || '_other'),
                    p_attachments
                );
                IF v_field -> 'readOnly' = 'true'::jsonb AND v_field ? 'default' AND v_value <> v_field -> 'default' THEN
                    errors := errors || pliers._form_error(
                        s_path[v_i], 'read_only', format('is read-only: must be its default %s', v_field -> 'default')
                    );
                END IF;
            END IF;
        END IF;

        -- Repeat items: each is an instance of its own, seeing the answers around it.
        IF v_kind = 'repeat' AND jsonb_typeof(v_value) = 'array' THEN
            v_items := '{}';
            v_items_changed := FALSE;
            v_scope := CASE WHEN p_scope = '' THEN '' ELSE p_scope || '.' END || replace(s_keys[v_i], ',', '.');
            IF v_context IS NULL THEN
                v_context := CASE WHEN p_scope = '' THEN p_context ELSE p_context || jsonb_build_object(p_scope, cleaned) END;
            END IF;
            FOR v_j IN 0 .. jsonb_array_length(v_value) - 1 LOOP
                v_item := v_value -> v_j;
                IF jsonb_typeof(v_item) = 'object' THEN
                    v_result := pliers._process_instance(
                        v_field -> 'fields', v_item, v_root, v_context, v_scope, s_path[v_i] || '[' || v_j || ']',
                        p_validate, p_final, p_attachments
                    );
                    v_items[v_j + 1] := v_result.cleaned;
                    v_items_changed := v_items_changed OR v_result.cleaned <> v_item;
                    FOREACH v_other IN ARRAY v_result.errors LOOP
                        errors := errors || v_other;
                    END LOOP;
                ELSE
                    v_items[v_j + 1] := v_item;
                    IF p_validate THEN
                        errors := errors || pliers._form_error(
                            s_path[v_i] || '[' || v_j || ']', 'invalid_type', 'must be an object'
                        );
                    END IF;
                END IF;
            END LOOP;
            -- Unchanged items are kept as sent: no copy of the answers per repeat.
            IF v_items_changed THEN
                cleaned := jsonb_set(cleaned, string_to_array(s_keys[v_i], ','), to_jsonb(v_items));
            END IF;
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pliers._check_condition(
    p_condition jsonb,
    p_path text,
    p_owner text,
    p_role text,
    INOUT p_errors jsonb[],
    INOUT p_refs jsonb[]
)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    c_operators constant text[] := ARRAY[
        'equals', 'not_equals', 'in', 'not_in', 'greater_than', 'greater_or_equal', 'less_than', 'less_or_equal',
        'empty', 'not_empty'
    ];
    v_limits constant jsonb := pliers.form_limits();
    v_max_depth constant integer := (v_limits ->> 'condition_depth')::integer;
    v_max_count constant integer := (v_limits ->> 'conditions')::integer;
    -- A stack instead of recursion: the depth is checked before going deeper, and a
    -- deep condition cannot exhaust the server's stack. Children are pushed in reverse
    -- so that they are checked, and their errors reported, in document order.
    st_condition jsonb[] := ARRAY[p_condition];
    st_path text[] := ARRAY[p_path];
    st_depth integer[] := ARRAY[1];
    v_top integer := 1;
    v_condition jsonb;
    v_path text;
    v_depth integer;
    v_combinator text;
    v_list jsonb;
    v_operator text;
    v_value jsonb;
    v_key text;
    v_valid boolean;
BEGIN
    WHILE v_top > 0 LOOP
        v_condition := st_condition[v_top];
        v_path := st_path[v_top];
        v_depth := st_depth[v_top];
        v_top := v_top - 1;
        IF v_depth > v_max_depth THEN
            PERFORM pliers._raise_limit(
                v_path, 'condition_too_deep', format('conditions are nested more than %s levels deep', v_max_depth)
            );
        END IF;

        IF jsonb_typeof(v_condition) IS DISTINCT FROM 'object' THEN
            p_errors := p_errors || pliers._form_error(
                v_path, 'invalid_condition', 'a condition is an object: {field, operator, value}, {all}, {any} or {not}'
            );
            CONTINUE;
        END IF;

        IF v_condition ?| ARRAY['all', 'any', 'not'] THEN
            IF (v_condition ? 'all')::integer + (v_condition ? 'any')::integer + (v_condition ? 'not')::integer > 1
                OR v_condition - ARRAY['all', 'any', 'not'] <> '{}'::jsonb THEN
                p_errors := p_errors || pliers._form_error(
                    v_path, 'invalid_condition', 'all, any and not each stand alone in their condition object'
                );
                CONTINUE;
            END IF;
            IF v_condition ? 'not' THEN
                v_top := v_top + 1;
                st_condition[v_top] := v_condition -> 'not';
                st_path[v_top] := v_path || '.not';
                st_depth[v_top] := v_depth + 1;
                CONTINUE;
            END IF;
            v_combinator := CASE WHEN v_condition ? 'all' THEN 'all' ELSE 'any' END;
            v_list := v_condition -> v_combinator;
            IF jsonb_typeof(v_list) <> 'array' OR jsonb_array_length(v_list) = 0 THEN
                p_errors := p_errors || pliers._form_error(
                    v_path || '.' || v_combinator, 'invalid_condition', 'must be a non-empty array of conditions'
                );
                CONTINUE;
            END IF;
            PERFORM pliers._check_array_limit(v_list, v_path || '.' || v_combinator);
            FOR v_i IN REVERSE jsonb_array_length(v_list) - 1 .. 0 LOOP
                v_top := v_top + 1;
                st_condition[v_top] := v_list -> v_i;
                st_path[v_top] := v_path || '.' || v_combinator || '[' || v_i || ']';
                st_depth[v_top] := v_depth + 1;
            END LOOP;
            CONTINUE;
        END IF;

        FOR v_key IN
            SELECT k.key
            FROM jsonb_object_keys(v_condition - ARRAY['field', 'operator', 'value']) AS k (key)
            ORDER BY k.key COLLATE "C"
        LOOP
            p_errors := p_errors || pliers._form_error(
                v_path || '.' || v_key, 'unknown_property',
                format('%s is not a property of a condition (field, operator, value; or all, any, not)', to_json(v_key))
            );
        END LOOP;

        v_valid := TRUE;
        IF NOT v_condition ? 'field' THEN
            p_errors := p_errors || pliers._form_error(v_path || '.field', 'missing_property', 'field is required');
            v_valid := FALSE;
        ELSIF jsonb_typeof(v_condition -> 'field') <> 'string' THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.field', 'invalid_type', 'must be the name (or dotted path) of a field'
            );
            v_valid := FALSE;
        END IF;

        v_operator := v_condition ->> 'operator';
        v_value := v_condition -> 'value';
        IF NOT v_condition ? 'operator' THEN
            p_errors := p_errors || pliers._form_error(v_path || '.operator', 'missing_property', 'operator is required');
            CONTINUE;
        ELSIF jsonb_typeof(v_condition -> 'operator') <> 'string' OR NOT v_operator = ANY (c_operators) THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.operator', 'invalid_operator',
                format('the operator must be one of %s', array_to_string(c_operators, ', '))
            );
            CONTINUE;
        END IF;

        IF v_operator IN ('empty', 'not_empty') THEN
            IF v_condition ? 'value' THEN
                p_errors := p_errors || pliers._form_error(
                    v_path || '.value', 'invalid_condition', format('the operator %s takes no value', v_operator)
                );
                v_valid := FALSE;
            END IF;
        ELSIF v_value IS NULL OR v_value = 'null'::jsonb THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.value', 'missing_property',
                format('the operator %s needs a value (use empty / not_empty to test for no answer)', v_operator)
            );
            v_valid := FALSE;
        ELSIF v_operator IN ('in', 'not_in') AND (jsonb_typeof(v_value) <> 'array' OR jsonb_array_length(v_value) = 0) THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.value', 'invalid_value', format('the operator %s needs a non-empty array', v_operator)
            );
            v_valid := FALSE;
        ELSIF v_operator IN ('greater_than', 'greater_or_equal', 'less_than', 'less_or_equal')
            AND jsonb_typeof(v_value) NOT IN ('number', 'string') THEN
            p_errors := p_errors || pliers._form_error(
                v_path || '.value', 'invalid_value', format('the operator %s needs a number or a string', v_operator)
            );
            v_valid := FALSE;
        END IF;
        PERFORM pliers._check_array_limit(v_value, v_path || '.value');

        IF v_valid THEN
            IF cardinality(p_refs) >= v_max_count THEN
                PERFORM pliers._raise_limit(
                    v_path, 'too_many_conditions',
                    format('the definition has more than %s conditions and expression references', v_max_count)
                );
            END IF;
            p_refs := p_refs || jsonb_build_object(
                'owner', p_owner, 'role', p_role, 'field', v_condition -> 'field', 'operator', v_operator,
                'value', v_value, 'path', v_path
            );
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION pliers._check_field(p_field jsonb, p_path text)
RETURNS jsonb[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    c_kinds constant text[] := ARRAY[
        'text', 'textarea', 'email', 'url', 'phone', 'password', 'number', 'integer', 'currency', 'boolean',
        'consent', 'single_choice', 'multiple_choice', 'date', 'time', 'datetime', 'rating', 'file', 'signature',
        'geo_point', 'hidden', 'calculated', 'display', 'group', 'repeat'
    ];
    c_properties constant text[] := ARRAY[
        'id', 'name', 'type', 'label', 'description', 'required', 'readOnly', 'default', 'visibleWhen',
        'requiredWhen', 'conditional', 'validation', 'ui', 'metadata', 'choices', 'allowOther', 'currency',
        'fields', 'expression', 'content'
    ];
    c_rules constant text[] := ARRAY[
        'minLength', 'maxLength', 'pattern', 'min', 'max', 'decimals', 'minItems', 'maxItems', 'accept', 'maxSizeBytes'
    ];
    v_kind text;
    v_known_kind boolean;
    v_allowed text[];
    v_kind_rules text[];
    v_errors jsonb[] := '{}';
    v_key text;
    v_value jsonb;
    v_rules jsonb;
    v_choices jsonb;
    v_choice jsonb;
    v_first text[];
    v_path text;
    v_min jsonb;
    v_max jsonb;
    v_inner jsonb;
    v_count integer;
    v_bad_rules text[] := '{}';
BEGIN
    -- type
    v_kind := p_field ->> 'type';
    IF NOT p_field ? 'type' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.type', 'missing_property', 'type is required');
    ELSIF jsonb_typeof(p_field -> 'type') <> 'string' OR NOT v_kind = ANY (c_kinds) THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.type', 'unknown_field_type',
            format('%s is not a field type; the types are %s', p_field -> 'type', array_to_string(c_kinds, ', '))
        );
    END IF;
    v_known_kind := coalesce(v_kind = ANY (c_kinds), FALSE);

    -- Properties that apply to this kind.
    v_allowed := ARRAY[
        'id', 'name', 'type', 'label', 'description', 'required', 'readOnly', 'default', 'visibleWhen',
        'requiredWhen', 'conditional', 'validation', 'ui', 'metadata'
    ] || CASE
        WHEN v_kind IN ('single_choice', 'multiple_choice') THEN ARRAY['choices', 'allowOther']
        WHEN v_kind = 'currency' THEN ARRAY['currency']
        WHEN v_kind IN ('group', 'repeat') THEN ARRAY['fields']
        WHEN v_kind = 'calculated' THEN ARRAY['expression']
        WHEN v_kind = 'display' THEN ARRAY['content']
        ELSE '{}'::text[]
    END;
    IF v_kind IN ('display', 'calculated', 'group') THEN
        v_allowed := array_remove(array_remove(array_remove(v_allowed, 'required'), 'requiredWhen'), 'default');
    END IF;
    IF v_kind IN ('display', 'calculated') THEN
        v_allowed := array_remove(v_allowed, 'readOnly');
    END IF;
    IF v_kind = 'repeat' THEN
        v_allowed := array_remove(v_allowed, 'default');
    END IF;
    v_kind_rules := CASE
        WHEN v_kind IN ('text', 'textarea', 'password', 'email', 'url', 'phone') THEN
            ARRAY['minLength', 'maxLength', 'pattern']
        WHEN v_kind IN ('number', 'currency') THEN ARRAY['min', 'max', 'decimals']
        WHEN v_kind IN ('integer', 'rating', 'date', 'time', 'datetime') THEN ARRAY['min', 'max']
        WHEN v_kind IN ('multiple_choice', 'repeat') THEN ARRAY['minItems', 'maxItems']
        WHEN v_kind = 'file' THEN ARRAY['minItems', 'maxItems', 'accept', 'maxSizeBytes']
        ELSE '{}'::text[]
    END;

    FOR v_key IN SELECT k.key FROM jsonb_object_keys(p_field) AS k (key) ORDER BY k.key COLLATE "C" LOOP
        CONTINUE WHEN v_key = ANY (v_allowed) OR (NOT v_known_kind AND v_key = ANY (c_properties));
        v_errors := v_errors || CASE
            WHEN v_key = ANY (c_properties) THEN pliers._form_error(
                p_path || '.' || v_key, 'property_not_applicable',
                format('%s does not apply to a %s field', v_key, v_kind)
            )
            WHEN v_key = ANY (c_rules) THEN pliers._form_error(
                p_path || '.' || v_key, 'unknown_property', format('%s belongs inside validation', v_key)
            )
            ELSE pliers._form_error(
                p_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                format('%s is not a property of a field', to_json(v_key))
            )
        END;
    END LOOP;

    -- name, id and the simple properties
    IF NOT p_field ? 'name' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.name', 'missing_property', 'name is required');
    ELSIF jsonb_typeof(p_field -> 'name') <> 'string'
        OR (p_field ->> 'name') !~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$' THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.name', 'invalid_name',
            'a name is 1 to 64 letters, digits and underscores, not starting with a digit'
        );
    END IF;
    IF p_field ? 'id' AND (
        jsonb_typeof(p_field -> 'id') <> 'string' OR char_length(p_field ->> 'id') NOT BETWEEN 1 AND 100
    ) THEN
        v_errors := v_errors || pliers._form_error(p_path || '.id', 'invalid_value', 'an id is a string of 1 to 100 characters');
    END IF;
    FOREACH v_key IN ARRAY ARRAY['label', 'description', 'content', 'expression'] LOOP
        IF jsonb_typeof(p_field -> v_key) <> 'string' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.' || v_key, 'invalid_type', 'must be a string');
        END IF;
    END LOOP;
    FOREACH v_key IN ARRAY ARRAY['required', 'readOnly', 'allowOther'] LOOP
        IF jsonb_typeof(p_field -> v_key) <> 'boolean' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.' || v_key, 'invalid_type', 'must be true or false');
        END IF;
    END LOOP;
    FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
        IF jsonb_typeof(p_field -> v_key) <> 'object' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.' || v_key, 'invalid_type', 'must be an object');
        END IF;
    END LOOP;
    IF v_kind = 'calculated' AND NOT p_field ? 'expression' THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.expression', 'missing_property', 'a calculated field needs an expression'
        );
    END IF;
    IF v_kind = 'currency' AND p_field ? 'currency' AND coalesce(p_field ->> 'currency' !~ '^[A-Z]{3}$', TRUE) THEN
        v_errors := v_errors || pliers._form_error(
            p_path || '.currency', 'invalid_value', 'must be an ISO 4217 currency code such as EUR'
        );
    END IF;
    IF p_field ? 'visibleWhen' AND p_field ? 'conditional' THEN
        v_errors := v_errors || pliers._form_error(
            p_path, 'conflicting_properties', 'use visibleWhen or conditional, not both'
        );
    END IF;
    IF p_field -> 'required' = 'true'::jsonb AND p_field ? 'requiredWhen' THEN
        v_errors := v_errors || pliers._form_error(
            p_path, 'conflicting_properties', 'a field that is always required takes no requiredWhen'
        );
    END IF;
    IF p_field ? 'conditional' THEN
        v_value := p_field -> 'conditional';
        IF jsonb_typeof(v_value) <> 'object' THEN
            v_errors := v_errors || pliers._form_error(p_path || '.conditional', 'invalid_type', 'must be an object');
        ELSE
            FOR v_key IN
                SELECT k.key FROM jsonb_object_keys(v_value - ARRAY['show', 'when']) AS k (key)
                ORDER BY k.key COLLATE "C"
            LOOP
                v_errors := v_errors || pliers._form_error(
                    p_path || '.conditional.' || pliers._json_path_key(v_key), 'unknown_property',
                    format('%s is not a property of conditional (show, when)', to_json(v_key))
                );
            END LOOP;
            IF jsonb_typeof(v_value -> 'show') <> 'boolean' THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.conditional.show', 'invalid_type', 'must be true or false'
                );
            END IF;
            IF jsonb_typeof(v_value -> 'when') <> 'array' THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.conditional.when', 'invalid_type', 'must be an array of conditions'
                );
            END IF;
        END IF;
    END IF;

    -- choices
    IF v_kind IN ('single_choice', 'multiple_choice') THEN
        v_choices := p_field -> 'choices';
        IF v_choices IS NULL THEN
            v_errors := v_errors || pliers._form_error(p_path || '.choices', 'missing_property', 'choices are required');
        ELSIF jsonb_typeof(v_choices) <> 'array' OR jsonb_array_length(v_choices) = 0 THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.choices', 'invalid_type', 'must be a non-empty array of {code, label}'
            );
        ELSE
            PERFORM pliers._check_array_limit(v_choices, p_path || '.choices', 'choices');
            -- The first choice with each code, found by one query (adding each code to
            -- a jsonb object copied it every time).
            SELECT array_agg(CASE WHEN d.nth > 1 THEN d.first_path END ORDER BY d.i)
            INTO v_first
            FROM (
                SELECT
                    c.i,
                    row_number() OVER w AS nth,
                    first_value(p_path || '.choices[' || (c.i - 1) || ']') OVER w AS first_path
                FROM jsonb_array_elements(v_choices) WITH ORDINALITY AS c (choice, i)
                WINDOW w AS (
                    PARTITION BY CASE
                        WHEN jsonb_typeof(c.choice -> 'code') = 'string'
                            AND char_length(c.choice ->> 'code') BETWEEN 1 AND 100 THEN c.choice ->> 'code'
                    END
                    ORDER BY c.i
                )
            ) AS d;
            FOR v_i IN 0 .. jsonb_array_length(v_choices) - 1 LOOP
                v_choice := v_choices -> v_i;
                v_path := p_path || '.choices[' || v_i || ']';
                IF jsonb_typeof(v_choice) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a choice is an object {code, label}');
                    CONTINUE;
                END IF;
                FOR v_key IN
                    SELECT k.key FROM jsonb_object_keys(v_choice - ARRAY['code', 'label', 'description', 'metadata']) AS k (key)
                    ORDER BY k.key COLLATE "C"
                LOOP
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                        format('%s is not a property of a choice (code, label, description, metadata)', to_json(v_key))
                    );
                END LOOP;
                IF NOT v_choice ? 'code' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.code', 'missing_property', 'code is required');
                ELSIF jsonb_typeof(v_choice -> 'code') <> 'string'
                    OR char_length(v_choice ->> 'code') NOT BETWEEN 1 AND 100 THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.code', 'invalid_value', 'a code is a string of 1 to 100 characters'
                    );
                ELSIF v_first[v_i + 1] IS NOT NULL THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.code', 'duplicate_choice_code',
                        format('the code %s is already used by %s', v_choice -> 'code', v_first[v_i + 1])
                    );
                END IF;
                IF jsonb_typeof(v_choice -> 'label') <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.label', 'invalid_type', 'must be a string');
                END IF;
                IF jsonb_typeof(v_choice -> 'description') <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.description', 'invalid_type', 'must be a string');
                END IF;
                IF jsonb_typeof(v_choice -> 'metadata') <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.metadata', 'invalid_type', 'must be an object');
                END IF;
            END LOOP;
        END IF;
    END IF;

    -- nested fields (checked one by one by the caller)
    IF v_kind IN ('group', 'repeat') THEN
        IF NOT p_field ? 'fields' THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.fields', 'missing_property', format('a %s needs fields', v_kind)
            );
        ELSIF jsonb_typeof(p_field -> 'fields') <> 'array' OR jsonb_array_length(p_field -> 'fields') = 0 THEN
            v_errors := v_errors || pliers._form_error(
                p_path || '.fields', 'invalid_type', 'must be a non-empty array of fields'
            );
        END IF;
    END IF;

    -- validation rules
    v_rules := p_field -> 'validation';
    IF v_rules IS NOT NULL AND jsonb_typeof(v_rules) <> 'object' THEN
        v_errors := v_errors || pliers._form_error(p_path || '.validation', 'invalid_type', 'must be an object');
    ELSIF v_rules IS NOT NULL THEN
        FOR v_key IN SELECT k.key FROM jsonb_object_keys(v_rules) AS k (key) ORDER BY k.key COLLATE "C" LOOP
            v_value := v_rules -> v_key;
            v_path := p_path || '.validation.' || pliers._json_path_key(v_key);
            IF NOT v_key = ANY (c_rules) THEN
                v_errors := v_errors || pliers._form_error(
                    v_path, 'unknown_property', format('%s is not a validation rule', to_json(v_key))
                );
                CONTINUE;
            ELSIF v_known_kind AND NOT v_key = ANY (v_kind_rules) THEN
                v_errors := v_errors || pliers._form_error(
                    v_path, 'rule_not_applicable', format('%s does not apply to a %s field', v_key, v_kind)
                );
                CONTINUE;
            END IF;
            v_count := cardinality(v_errors);
            CASE
                WHEN v_key IN ('minLength', 'maxLength', 'minItems', 'maxItems', 'decimals', 'maxSizeBytes') THEN
                    IF jsonb_typeof(v_value) <> 'number' OR v_value::numeric <> trunc(v_value::numeric)
                        OR v_value::numeric < (CASE WHEN v_key = 'maxSizeBytes' THEN 1 ELSE 0 END)
                        OR v_value::numeric > 9007199254740991 THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_value',
                            CASE WHEN v_key = 'maxSizeBytes' THEN 'must be a positive integer'
                                ELSE 'must be a non-negative integer' END
                        );
                    END IF;
                WHEN v_key = 'pattern' THEN
                    IF jsonb_typeof(v_value) <> 'string' THEN
                        v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'must be a regular expression (a string)');
                    ELSE
                        -- Compiling a pattern costs more than its length: bounded first.
                        IF char_length(v_value #>> '{}') > (pliers.form_limits() ->> 'pattern_chars')::integer THEN
                            PERFORM pliers._raise_limit(
                                v_path, 'string_too_long',
                                format('a pattern has at most %s characters', pliers.form_limits() ->> 'pattern_chars')
                            );
                        END IF;
                        BEGIN
                            PERFORM '' ~ (v_value #>> '{}');
                        EXCEPTION WHEN invalid_regular_expression OR program_limit_exceeded THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path, 'invalid_pattern', 'not a valid regular expression: ' || sqlerrm
                            );
                        END;
                    END IF;
                WHEN v_key = 'accept' THEN
                    IF jsonb_typeof(v_value) <> 'array' OR jsonb_array_length(v_value) = 0 THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_type', 'must be a non-empty array of media types such as image/* or application/pdf'
                        );
                    ELSE
                        PERFORM pliers._check_array_limit(v_value, v_path);
                        FOR v_i IN 0 .. jsonb_array_length(v_value) - 1 LOOP
                            IF jsonb_typeof(v_value -> v_i) <> 'string' OR (v_value ->> v_i) !~ (
                                '^[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$'
                            ) THEN
                                v_errors := v_errors || pliers._form_error(
                                    v_path || '[' || v_i || ']', 'invalid_value',
                                    'must be a lower-case media type type/subtype or type/*'
                                );
                            END IF;
                        END LOOP;
                    END IF;
                ELSE
                    -- min, max: of the kind of the answer
                    IF v_kind IN ('number', 'currency', 'integer', 'rating') THEN
                        IF jsonb_typeof(v_value) <> 'number'
                            OR (v_kind IN ('integer', 'rating') AND v_value::numeric <> trunc(v_value::numeric)) THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path, 'invalid_value',
                                CASE WHEN v_kind IN ('integer', 'rating') THEN 'must be an integer' ELSE 'must be a number' END
                            );
                        END IF;
                    ELSIF (v_kind = 'date' AND NOT coalesce(pliers._is_date(v_value #>> '{}'), FALSE))
                        OR (v_kind = 'time' AND NOT coalesce(pliers._is_time(v_value #>> '{}'), FALSE))
                        OR (v_kind = 'datetime' AND NOT coalesce(pliers._is_datetime(v_value #>> '{}'), FALSE))
                        OR jsonb_typeof(v_value) <> 'string' THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path, 'invalid_value', format('must be a %s like the answers', v_kind)
                        );
                    END IF;
            END CASE;
            IF cardinality(v_errors) > v_count THEN
                v_bad_rules := v_bad_rules || v_key;
            END IF;
        END LOOP;

        -- lower bound <= upper bound (when both are valid)
        FOREACH v_key IN ARRAY ARRAY['Length', 'Items', ''] LOOP
            CONTINUE WHEN ('min' || v_key) = ANY (v_bad_rules) OR ('max' || v_key) = ANY (v_bad_rules);
            v_min := v_rules -> ('min' || v_key);
            v_max := v_rules -> ('max' || v_key);
            IF v_key = '' AND v_kind = 'rating' THEN
                v_min := coalesce(v_min, '1');
                v_max := coalesce(v_max, '5');
            END IF;
            IF pliers._compare_values(v_min, v_max) > 0 THEN
                v_errors := v_errors || pliers._form_error(
                    p_path || '.validation', 'min_greater_than_max',
                    format('min%s (%s) is greater than max%s (%s)', v_key, v_min, v_key, v_max)
                );
            END IF;
        END LOOP;
    END IF;

    -- default: must be a valid answer (types and rules, completeness aside)
    IF cardinality(v_errors) = 0 AND p_field ? 'default' AND NOT pliers._is_blank(p_field -> 'default')
        AND v_kind NOT IN ('hidden', 'group', 'repeat', 'display', 'calculated') THEN
        FOREACH v_inner IN ARRAY pliers._check_answer(
            p_field, v_kind, p_field -> 'default', p_path || '.default', FALSE, FALSE, NULL, NULL
        ) LOOP
            v_errors := v_errors || jsonb_set(v_inner, '{code}', '"invalid_default"');
        END LOOP;
    END IF;

    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_field(jsonb, text) IS
'Errors of one field object at p_path taken alone: type, properties of its kind, name format, simple property types, '
'choices (unique codes), validation rules (types, valid pattern, min <= max), default. Names across fields, '
'conditions and nested fields are checked by validate_form_definition.';

REVOKE ALL ON FUNCTION pliers._check_field(jsonb, text) FROM public;

CREATE OR REPLACE FUNCTION pliers.validate_form_definition(p_definition jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    c_top constant text[] := ARRAY[
        '$schema', 'title', 'description', 'fields', 'sections', 'pages', 'logic', 'calculations', 'integrations',
        'ui', 'metadata'
    ];
    v_errors jsonb[] := '{}';
    v_refs jsonb[] := '{}';
    v_limits constant jsonb := pliers.form_limits();
    v_max_fields constant integer := (v_limits ->> 'fields')::integer;
    v_max_depth constant integer := (v_limits ->> 'field_depth')::integer;
    v_max_refs constant integer := (v_limits ->> 'conditions')::integer;
    v_index jsonb := '{}';          -- dotted field path -> {kind, repeat, parent, path, ord, field}
    v_ids jsonb := '{}';            -- field id -> JSON path of the field
    -- The fields that have a name of their own, for v_index, built once after the walk:
    -- adding to a jsonb object copies it, so one addition per field was quadratic.
    x_abs text[] := '{}';
    x_entry jsonb[] := '{}';
    v_count integer := 0;
    v_cond_errors jsonb[];
    v_cond_refs jsonb[];
    -- frames of the depth-first walk over fields, groups and repeats
    fr_fields jsonb[];
    fr_next integer[];
    fr_path text[];
    fr_prefix text[];
    fr_repeat text[];
    fr_parent text[];
    fr_names jsonb[];
    v_depth integer;
    v_ord integer := 0;
    v_field jsonb;
    v_path text;
    v_name text;
    v_abs text;
    v_kind text;
    v_valid_name boolean;
    v_from text[] := '{}';
    v_to text[] := '{}';
    v_ref jsonb;
    v_target jsonb;
    v_at text;
    v_operator text;
    v_value jsonb;
    v_row record;
    v_key text;
    v_list jsonb;
    v_item jsonb;
    v_sections jsonb := '{}';
    v_pages jsonb := '{}';
    v_placed jsonb := '{}';
    v_page_placed jsonb := '{}';
BEGIN
    IF jsonb_typeof(p_definition) IS DISTINCT FROM 'object' THEN
        RETURN jsonb_build_array(pliers._form_error('$', 'invalid_type', 'a form definition is a JSON object'));
    END IF;
    -- Limits first: size and nesting bound every walk below.
    PERFORM pliers._check_document_limits(p_definition, '$', 'definition_bytes', FALSE);

    -- The definition object ---------------------------------------------------------
    FOR v_key IN
        SELECT k.key FROM jsonb_object_keys(p_definition - c_top) AS k (key) ORDER BY k.key COLLATE "C"
    LOOP
        v_errors := v_errors || pliers._form_error(
            '$.' || pliers._json_path_key(v_key), 'unknown_property',
            format('%s is not a property of a form definition', to_json(v_key))
        );
    END LOOP;
    FOREACH v_key IN ARRAY ARRAY['$schema', 'title', 'description'] LOOP
        IF jsonb_typeof(p_definition -> v_key) <> 'string' THEN
            v_errors := v_errors || pliers._form_error(
                '$.' || pliers._json_path_key(v_key), 'invalid_type', 'must be a string'
            );
        END IF;
    END LOOP;
    FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
        IF jsonb_typeof(p_definition -> v_key) <> 'object' THEN
            v_errors := v_errors || pliers._form_error('$.' || v_key, 'invalid_type', 'must be an object');
        END IF;
    END LOOP;
    IF NOT p_definition ? 'fields' THEN
        v_errors := v_errors || pliers._form_error('$.fields', 'missing_property', 'fields is required');
    ELSIF jsonb_typeof(p_definition -> 'fields') <> 'array' THEN
        v_errors := v_errors || pliers._form_error('$.fields', 'invalid_type', 'must be an array of fields');
    END IF;

    -- Fields, depth first: each field alone, names per scope, ids, conditions --------
    IF jsonb_typeof(p_definition -> 'fields') = 'array' THEN
        v_depth := 1;
        fr_fields := ARRAY[p_definition -> 'fields'];
        fr_next := ARRAY[0];
        fr_path := ARRAY['$.fields'];
        fr_prefix := ARRAY[''];
        fr_repeat := ARRAY[''];
        fr_parent := ARRAY[''];
        fr_names := ARRAY['{}'::jsonb];
        WHILE v_depth > 0 LOOP
            IF fr_next[v_depth] >= jsonb_array_length(fr_fields[v_depth]) THEN
                v_depth := v_depth - 1;
                CONTINUE;
            END IF;
            v_field := fr_fields[v_depth] -> fr_next[v_depth];
            v_path := fr_path[v_depth] || '[' || fr_next[v_depth] || ']';
            fr_next[v_depth] := fr_next[v_depth] + 1;
            v_count := v_count + 1;
            IF v_count > v_max_fields THEN
                PERFORM pliers._raise_limit(
                    v_path, 'too_many_fields', format('the definition has more than %s fields', v_max_fields)
                );
            END IF;
            IF jsonb_typeof(v_field) <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a field is an object');
                CONTINUE;
            END IF;
            v_errors := v_errors || pliers._check_field(v_field, v_path);
            v_kind := v_field ->> 'type';
            v_name := v_field ->> 'name';
            v_valid_name := coalesce(
                jsonb_typeof(v_field -> 'name') = 'string' AND v_name ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$', FALSE
            );
            v_abs := fr_prefix[v_depth] || coalesce(v_name, '?');

            IF v_valid_name THEN
                IF fr_names[v_depth] ? v_name THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.name', 'duplicate_name',
                        CASE
                            WHEN fr_names[v_depth] ->> v_name = '' THEN
                                format('the name %s is already used in this scope', v_name)
                            ELSE format(
                                'the name %s is the key of the "other" text of the field %s',
                                v_name, fr_names[v_depth] ->> v_name
                            )
                        END
                    );
                ELSE
                    fr_names[v_depth] := fr_names[v_depth] || jsonb_build_object(v_name, '');
                    IF v_field -> 'allowOther' = 'true'::jsonb AND v_kind IN ('single_choice', 'multiple_choice') THEN
                        IF fr_names[v_depth] ? (v_name || '_other') THEN
                            v_errors := v_errors || pliers._form_error(
                                v_path || '.allowOther', 'duplicate_name',
                                format('the "other" text is kept under %s_other, already the name of a field', v_name)
                            );
                        ELSE
                            fr_names[v_depth] := fr_names[v_depth] || jsonb_build_object(v_name || '_other', v_name);
                        END IF;
                    END IF;
                    v_ord := v_ord + 1;
                    x_abs[v_ord] := v_abs;
                    x_entry[v_ord] := jsonb_build_object(
                        'kind', v_kind, 'repeat', fr_repeat[v_depth], 'parent', fr_parent[v_depth],
                        'path', v_path, 'ord', v_ord, 'field', v_field - 'fields'
                    );
                END IF;
            END IF;

            IF jsonb_typeof(v_field -> 'id') = 'string' THEN
                IF v_ids ? (v_field ->> 'id') THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.id', 'duplicate_field_id',
                        format('the id %s is already the id of %s', v_field -> 'id', v_ids ->> (v_field ->> 'id'))
                    );
                ELSE
                    v_ids := v_ids || jsonb_build_object(v_field ->> 'id', v_path);
                END IF;
            END IF;

            -- Each condition is checked on its own (empty arrays in, its errors and references
            -- out, appended in place): passing the growing lists through every call copied them.
            PERFORM pliers._check_array_limit(v_field #> '{conditional,when}', v_path || '.conditional.when');
            FOR v_row IN
                SELECT c.ord, c.condition, c.path, c.role
                FROM (
                    VALUES
                    (-1, v_field -> 'visibleWhen', v_path || '.visibleWhen', 'visible'),
                    (0, v_field -> 'requiredWhen', v_path || '.requiredWhen', 'required')
                ) AS c (ord, condition, path, role)
                WHERE c.condition IS NOT NULL
                UNION ALL
                SELECT w.ord, w.condition, v_path || '.conditional.when[' || (w.ord - 1) || ']', 'visible'
                FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof(v_field #> '{conditional,when}') = 'array' THEN v_field #> '{conditional,when}' END
                ) WITH ORDINALITY AS w (condition, ord)
                ORDER BY 1
            LOOP
                SELECT c.p_errors, c.p_refs INTO v_cond_errors, v_cond_refs
                FROM pliers._check_condition(v_row.condition, v_row.path, v_abs, v_row.role, '{}', '{}') AS c;
                IF cardinality(v_refs) + cardinality(v_cond_refs) > v_max_refs THEN
                    PERFORM pliers._raise_limit(
                        v_row.path, 'too_many_conditions',
                        format('the definition has more than %s conditions and expression references', v_max_refs)
                    );
                END IF;
                FOREACH v_ref IN ARRAY v_cond_errors LOOP
                    v_errors := v_errors || v_ref;
                END LOOP;
                FOREACH v_ref IN ARRAY v_cond_refs LOOP
                    v_refs := v_refs || v_ref;
                END LOOP;
            END LOOP;
            IF v_kind = 'calculated' AND jsonb_typeof(v_field -> 'expression') = 'string' THEN
                FOR v_key IN
                    SELECT btrim(m.match[1]) FROM regexp_matches(v_field ->> 'expression', '\{([^{}]*)\}', 'g') AS m (match)
                LOOP
                    IF cardinality(v_refs) >= v_max_refs THEN
                        PERFORM pliers._raise_limit(
                            v_path || '.expression', 'too_many_conditions',
                            format('the definition has more than %s conditions and expression references', v_max_refs)
                        );
                    END IF;
                    v_refs := v_refs || jsonb_build_object(
                        'owner', v_abs, 'role', 'calc', 'field', v_key, 'path', v_path || '.expression'
                    );
                END LOOP;
            END IF;

            IF v_kind IN ('group', 'repeat') AND jsonb_typeof(v_field -> 'fields') = 'array' THEN
                IF v_depth > v_max_depth THEN
                    PERFORM pliers._raise_limit(
                        v_path || '.fields', 'fields_too_deep',
                        format('groups and repeats are nested more than %s levels deep', v_max_depth)
                    );
                END IF;
                v_depth := v_depth + 1;
                fr_fields[v_depth] := v_field -> 'fields';
                fr_next[v_depth] := 0;
                fr_path[v_depth] := v_path || '.fields';
                fr_prefix[v_depth] := v_abs || '.';
                fr_repeat[v_depth] := CASE WHEN v_kind = 'repeat' THEN v_abs ELSE fr_repeat[v_depth - 1] END;
                fr_parent[v_depth] := v_abs;
                fr_names[v_depth] := '{}';
            END IF;
        END LOOP;
    END IF;

    SELECT coalesce(jsonb_object_agg(x.abs, x.entry ORDER BY x.ord), '{}')
    INTO v_index
    FROM unnest(x_abs, x_entry) WITH ORDINALITY AS x (abs, entry, ord);

    -- References of conditions and expressions ------------------------------------------
    FOREACH v_ref IN ARRAY v_refs LOOP
        v_target := v_index -> (v_ref ->> 'field');
        v_at := (v_ref ->> 'path') || CASE WHEN v_ref ->> 'role' = 'calc' THEN '' ELSE '.field' END;
        v_kind := v_target ->> 'kind';
        v_operator := v_ref ->> 'operator';
        v_value := v_ref -> 'value';
        IF v_target IS NULL THEN
            v_errors := v_errors || pliers._form_error(
                v_at, 'unknown_reference',
                format('there is no field %s (name a field by its dotted path from the top: address.zip)', v_ref -> 'field')
            );
            CONTINUE;
        ELSIF v_target ->> 'repeat' <> '' AND NOT starts_with(v_ref ->> 'owner', (v_target ->> 'repeat') || '.') THEN
            v_errors := v_errors || pliers._form_error(
                v_at, 'invalid_reference',
                format(
                    '%s is inside the repeat %s: only the fields of that repeat can refer to it',
                    v_ref ->> 'field', v_target ->> 'repeat'
                )
            );
            CONTINUE;
        ELSIF v_kind IN ('display', 'group') OR (v_kind = 'calculated' AND v_ref ->> 'role' <> 'calc') THEN
            v_errors := v_errors || pliers._form_error(
                v_at, 'invalid_reference', format('%s is a %s field, with no stored answer', v_ref ->> 'field', v_kind)
            );
            CONTINUE;
        ELSIF v_ref ->> 'role' = 'calc' THEN
            NULL;
        ELSIF v_kind = 'repeat' AND v_operator NOT IN ('empty', 'not_empty') THEN
            v_errors := v_errors || pliers._form_error(
                (v_ref ->> 'path') || '.operator', 'invalid_operator', 'a repeat is tested with empty or not_empty only'
            );
        ELSIF v_operator IN ('greater_than', 'greater_or_equal', 'less_than', 'less_or_equal') THEN
            IF v_kind NOT IN ('number', 'integer', 'currency', 'rating', 'date', 'time', 'datetime') THEN
                v_errors := v_errors || pliers._form_error(
                    (v_ref ->> 'path') || '.operator', 'invalid_operator',
                    format('%s compares numbers, dates and times, not the answer of a %s field', v_operator, v_kind)
                );
            ELSIF (v_kind IN ('number', 'integer', 'currency', 'rating') AND jsonb_typeof(v_value) <> 'number')
                OR (v_kind = 'date' AND NOT coalesce(pliers._is_date(v_value #>> '{}'), FALSE))
                OR (v_kind = 'time' AND NOT coalesce(pliers._is_time(v_value #>> '{}'), FALSE))
                OR (v_kind = 'datetime' AND NOT coalesce(pliers._is_datetime(v_value #>> '{}'), FALSE)) THEN
                v_errors := v_errors || pliers._form_error(
                    (v_ref ->> 'path') || '.value', 'invalid_value',
                    format('must be a %s, like the answers of %s', v_kind, v_ref ->> 'field')
                );
            END IF;
        ELSIF v_kind IN ('single_choice', 'multiple_choice') AND v_operator IN ('equals', 'not_equals', 'in', 'not_in') THEN
            FOR v_i IN 0 .. CASE WHEN jsonb_typeof(v_value) = 'array' THEN jsonb_array_length(v_value) - 1 ELSE 0 END LOOP
                v_item := CASE WHEN jsonb_typeof(v_value) = 'array' THEN v_value -> v_i ELSE v_value END;
                IF NOT pliers._choice_allowed(v_target -> 'field', v_item) THEN
                    v_errors := v_errors || pliers._form_error(
                        (v_ref ->> 'path') || '.value' || CASE WHEN jsonb_typeof(v_value) = 'array' THEN '[' || v_i || ']' ELSE '' END,
                        'unknown_choice_code', format('%s is not a choice code of %s', v_item, v_ref ->> 'field')
                    );
                END IF;
            END LOOP;
        END IF;
        IF v_ref ->> 'role' IN ('visible', 'calc') THEN
            v_from := v_from || (v_ref ->> 'owner');
            v_to := v_to || (v_ref ->> 'field');
        END IF;
    END LOOP;

    -- Cycles: a field's visibility (or calculation) may not depend on itself, -----------
    -- directly or through other fields; a field also depends on its group.
    FOR v_key, v_item IN SELECT e.key, e.value FROM jsonb_each(v_index) AS e LOOP
        IF v_item ->> 'parent' <> '' THEN
            v_from := v_from || v_key;
            v_to := v_to || (v_item ->> 'parent');
        END IF;
    END LOOP;
    FOREACH v_item IN ARRAY pliers._dependency_cycles(v_from, v_to, v_index) LOOP
        v_errors := v_errors || v_item;
    END LOOP;

    -- Sections and pages: layout of top-level fields ---------------------------------
    v_list := p_definition -> 'sections';
    IF v_list IS NOT NULL AND jsonb_typeof(v_list) <> 'array' THEN
        v_errors := v_errors || pliers._form_error('$.sections', 'invalid_type', 'must be an array of sections');
    ELSIF v_list IS NOT NULL THEN
        PERFORM pliers._check_array_limit(v_list, '$.sections', 'sections');
        FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
            v_item := v_list -> v_i;
            v_path := '$.sections[' || v_i || ']';
            IF jsonb_typeof(v_item) <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a section is an object');
                CONTINUE;
            END IF;
            FOR v_key IN
                SELECT k.key
                FROM jsonb_object_keys(v_item - ARRAY['id', 'title', 'description', 'fields', 'ui', 'metadata']) AS k (key)
                ORDER BY k.key COLLATE "C"
            LOOP
                v_errors := v_errors || pliers._form_error(
                    v_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                    format('%s is not a property of a section (id, title, description, fields, ui, metadata)', to_json(v_key))
                );
            END LOOP;
            IF NOT v_item ? 'id' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'missing_property', 'id is required');
            ELSIF jsonb_typeof(v_item -> 'id') <> 'string' OR v_item ->> 'id' = '' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'invalid_value', 'must be a non-empty string');
            ELSIF v_sections ? (v_item ->> 'id') THEN
                v_errors := v_errors || pliers._form_error(
                    v_path || '.id', 'duplicate_section_id', format('the section id %s is already used', v_item -> 'id')
                );
            ELSE
                v_sections := v_sections || jsonb_build_object(v_item ->> 'id', v_path);
            END IF;
            FOREACH v_key IN ARRAY ARRAY['title', 'description'] LOOP
                IF jsonb_typeof(v_item -> v_key) <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be a string');
                END IF;
            END LOOP;
            FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
                IF jsonb_typeof(v_item -> v_key) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be an object');
                END IF;
            END LOOP;
            IF v_item ? 'fields' AND jsonb_typeof(v_item -> 'fields') <> 'array' THEN
                v_errors := v_errors || pliers._form_error(
                    v_path || '.fields', 'invalid_type', 'must be an array of top-level field names'
                );
            ELSIF v_item ? 'fields' THEN
                PERFORM pliers._check_array_limit(v_item -> 'fields', v_path || '.fields');
                FOR v_j IN 0 .. jsonb_array_length(v_item -> 'fields') - 1 LOOP
                    v_name := v_item -> 'fields' ->> v_j;
                    IF jsonb_typeof(v_item -> 'fields' -> v_j) <> 'string'
                        OR coalesce(v_index -> v_name ->> 'parent', '?') <> '' THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.fields[' || v_j || ']', 'unknown_reference',
                            format('%s is not the name of a top-level field', v_item -> 'fields' -> v_j)
                        );
                    ELSIF v_placed ? v_name THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.fields[' || v_j || ']', 'duplicate_reference',
                            format('the field %s is already placed in %s', v_name, v_placed ->> v_name)
                        );
                    ELSE
                        v_placed := v_placed || jsonb_build_object(v_name, v_path);
                    END IF;
                END LOOP;
            END IF;
        END LOOP;
    END IF;

    v_list := p_definition -> 'pages';
    IF v_list IS NOT NULL AND jsonb_typeof(v_list) <> 'array' THEN
        v_errors := v_errors || pliers._form_error('$.pages', 'invalid_type', 'must be an array of pages');
    ELSIF v_list IS NOT NULL THEN
        PERFORM pliers._check_array_limit(v_list, '$.pages', 'sections');
        FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
            v_item := v_list -> v_i;
            v_path := '$.pages[' || v_i || ']';
            IF jsonb_typeof(v_item) <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a page is an object');
                CONTINUE;
            END IF;
            FOR v_key IN
                SELECT k.key
                FROM jsonb_object_keys(
                    v_item - ARRAY['id', 'title', 'description', 'sections', 'fields', 'ui', 'metadata']
                ) AS k (key)
                ORDER BY k.key COLLATE "C"
            LOOP
                v_errors := v_errors || pliers._form_error(
                    v_path || '.' || pliers._json_path_key(v_key), 'unknown_property',
                    format('%s is not a property of a page (id, title, description, sections, fields, ui, metadata)', to_json(v_key))
                );
            END LOOP;
            IF NOT v_item ? 'id' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'missing_property', 'id is required');
            ELSIF jsonb_typeof(v_item -> 'id') <> 'string' OR v_item ->> 'id' = '' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.id', 'invalid_value', 'must be a non-empty string');
            ELSIF v_pages ? (v_item ->> 'id') THEN
                v_errors := v_errors || pliers._form_error(
                    v_path || '.id', 'duplicate_page_id', format('the page id %s is already used', v_item -> 'id')
                );
            ELSE
                v_pages := v_pages || jsonb_build_object(v_item ->> 'id', v_path);
            END IF;
            FOREACH v_key IN ARRAY ARRAY['title', 'description'] LOOP
                IF jsonb_typeof(v_item -> v_key) <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be a string');
                END IF;
            END LOOP;
            FOREACH v_key IN ARRAY ARRAY['ui', 'metadata'] LOOP
                IF jsonb_typeof(v_item -> v_key) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'invalid_type', 'must be an object');
                END IF;
            END LOOP;
            FOREACH v_key IN ARRAY ARRAY['sections', 'fields'] LOOP
                CONTINUE WHEN NOT v_item ? v_key;
                IF jsonb_typeof(v_item -> v_key) <> 'array' THEN
                    v_errors := v_errors || pliers._form_error(
                        v_path || '.' || v_key, 'invalid_type',
                        CASE v_key WHEN 'sections' THEN 'must be an array of section ids'
                            ELSE 'must be an array of top-level field names' END
                    );
                    CONTINUE;
                END IF;
                PERFORM pliers._check_array_limit(v_item -> v_key, v_path || '.' || v_key);
                FOR v_j IN 0 .. jsonb_array_length(v_item -> v_key) - 1 LOOP
                    v_name := v_item -> v_key ->> v_j;
                    IF jsonb_typeof(v_item -> v_key -> v_j) <> 'string' OR (CASE v_key
                        WHEN 'sections' THEN NOT v_sections ? v_name
                        ELSE coalesce(v_index -> v_name ->> 'parent', '?') <> ''
                    END) THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.' || v_key || '[' || v_j || ']', 'unknown_reference',
                            CASE v_key WHEN 'sections' THEN format('%s is not the id of a section', v_item -> v_key -> v_j)
                                ELSE format('%s is not the name of a top-level field', v_item -> v_key -> v_j) END
                        );
                    ELSIF v_page_placed ? (v_key || ':' || v_name) THEN
                        v_errors := v_errors || pliers._form_error(
                            v_path || '.' || v_key || '[' || v_j || ']', 'duplicate_reference',
                            format('%s is already placed in %s', v_name, v_page_placed ->> (v_key || ':' || v_name))
                        );
                    ELSE
                        v_page_placed := v_page_placed || jsonb_build_object(v_key || ':' || v_name, v_path);
                    END IF;
                END LOOP;
            END LOOP;
        END LOOP;
    END IF;

    -- logic, calculations, integrations: arrays of objects for other components -------
    FOREACH v_key IN ARRAY ARRAY['logic', 'calculations', 'integrations'] LOOP
        v_list := p_definition -> v_key;
        IF v_list IS NOT NULL AND jsonb_typeof(v_list) <> 'array' THEN
            v_errors := v_errors || pliers._form_error('$.' || v_key, 'invalid_type', 'must be an array of objects');
        ELSIF v_list IS NOT NULL THEN
            PERFORM pliers._check_array_limit(v_list, '$.' || v_key);
            FOR v_i IN 0 .. jsonb_array_length(v_list) - 1 LOOP
                IF jsonb_typeof(v_list -> v_i) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(
                        '$.' || v_key || '[' || v_i || ']', 'invalid_type', 'must be an object'
                    );
                END IF;
            END LOOP;
        END IF;
    END LOOP;

    RETURN to_jsonb(v_errors);
END
$$;

CREATE OR REPLACE FUNCTION pliers._kinds_compatible(p_old text, p_new text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT p_old = p_new
        OR p_new = 'hidden'
        OR (
            p_new IN ('text', 'textarea')
            AND p_old IN (
                'text', 'textarea', 'email', 'url', 'phone', 'password', 'date', 'time', 'datetime', 'single_choice'
            )
        )
        OR (p_old = 'integer' AND p_new IN ('number', 'currency'))
        OR (p_old = 'rating' AND p_new IN ('integer', 'number'))
        OR (p_old = 'currency' AND p_new = 'number')
        OR (p_old IN ('boolean', 'consent') AND p_new IN ('boolean', 'consent'))
$$;

COMMENT ON FUNCTION pliers._kinds_compatible(text, text) IS
'TRUE when every answer valid for a field of kind p_old has the right type for kind p_new (rules aside): the same '
'kind; any kind to hidden; string kinds to text or textarea; integer to number or currency; rating to integer or '
'number; currency to number; boolean and consent both ways.';

CREATE OR REPLACE FUNCTION pliers.form_breaking_changes(p_old jsonb, p_new jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_changes jsonb[] := '{}';
    v_new_by_path jsonb;
    v_new_by_id jsonb;
    v_matched jsonb := '{}';        -- new data paths matched by an old field
    v_moved jsonb := '{}';          -- old container path -> new container path
    v_dropped text[] := '{}';       -- old paths reported removed or restructured (skip what is inside)
    v_old record;
    v_new jsonb;
    v_new_field jsonb;
    v_expected text;
    v_old_rules jsonb;
    v_new_rules jsonb;
    v_rule text;
    v_old_value jsonb;
    v_new_value jsonb;
    v_tighter boolean;
    v_codes jsonb;
    v_old_required text;
    v_new_required text;
BEGIN
    SELECT
        coalesce(jsonb_object_agg(l.data_path, to_jsonb(l)), '{}'),
        coalesce(jsonb_object_agg(l.field_id, to_jsonb(l)) FILTER (WHERE l.field_id IS NOT NULL), '{}')
    INTO v_new_by_path, v_new_by_id
    FROM pliers._form_field_list(p_new) AS l;

    FOR v_old IN SELECT l.* FROM pliers._form_field_list(p_old) AS l ORDER BY l.sort_key LOOP
        CONTINUE WHEN EXISTS (SELECT FROM unnest(v_dropped) AS d (path) WHERE starts_with(v_old.data_path, d.path || '.'));
        -- Display and calculated fields store no answer: nothing can break.
        CONTINUE WHEN v_old.kind IN ('display', 'calculated');

        -- Where the field should be in the new definition: same id, else same name
        -- in the same (possibly renamed) group or repeat.
        v_expected := CASE
            WHEN v_old.parent_path = '' THEN v_old.name
            ELSE coalesce(v_moved ->> v_old.parent_path, v_old.parent_path) || '.' || v_old.name
        END;
        v_new := CASE
            WHEN v_old.field_id IS NOT NULL AND v_new_by_id ? v_old.field_id THEN v_new_by_id -> v_old.field_id
            ELSE v_new_by_path -> v_expected
        END;
        IF v_new IS NULL OR (v_new ->> 'kind' IN ('display', 'calculated') AND v_old.kind NOT IN ('group', 'repeat')) THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path,
                CASE WHEN v_new IS NULL THEN 'field_removed' ELSE 'field_retyped' END,
                CASE WHEN v_new IS NULL THEN format('the field %s is removed: its answers would be lost', v_old.data_path)
                    ELSE format('the field %s becomes a %s field: its answers would be dropped', v_old.data_path, v_new ->> 'kind')
                END
            );
            v_dropped := v_dropped || v_old.data_path;
            CONTINUE;
        END IF;
        v_matched := v_matched || jsonb_build_object(v_new ->> 'data_path', TRUE);
        v_new_field := v_new -> 'field';

        IF v_new ->> 'data_path' <> v_expected THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path,
                CASE WHEN v_new ->> 'name' = v_old.name THEN 'field_moved' ELSE 'field_renamed' END,
                format('the field %s (id %s) becomes %s: its answers are under the old key', v_old.data_path,
                    v_old.field_id, v_new ->> 'data_path')
            );
        END IF;
        IF v_old.kind IN ('group', 'repeat') OR v_new ->> 'kind' IN ('group', 'repeat') THEN
            IF v_old.kind IS DISTINCT FROM v_new ->> 'kind' THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path, 'structure_changed',
                    format('the %s %s becomes a %s: its answers no longer fit', v_old.kind, v_old.data_path, v_new ->> 'kind')
                );
                v_dropped := v_dropped || v_old.data_path;
                CONTINUE;
            END IF;
            v_moved := v_moved || jsonb_build_object(v_old.data_path, v_new ->> 'data_path');
        ELSIF NOT coalesce(pliers._kinds_compatible(v_old.kind, v_new ->> 'kind'), FALSE) THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path, 'field_retyped',
                format('the field %s changes from %s to %s: its answers no longer fit', v_old.data_path, v_old.kind,
                    v_new ->> 'kind')
            );
            CONTINUE;
        END IF;

        -- Choices: removed codes, "other" no longer allowed.
        IF v_old.kind IN ('single_choice', 'multiple_choice') AND v_new ->> 'kind' = v_old.kind THEN
            SELECT coalesce(jsonb_object_agg(c.choice ->> 'code', TRUE), '{}')
            INTO v_codes
            FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(v_new_field -> 'choices') = 'array' THEN v_new_field -> 'choices' ELSE '[]' END
            ) AS c (choice);
            FOR v_i IN 0 .. coalesce(jsonb_array_length(v_old.field -> 'choices'), 0) - 1 LOOP
                IF NOT v_codes ? (v_old.field -> 'choices' -> v_i ->> 'code')
                    AND NOT (v_old.field -> 'choices' -> v_i ->> 'code' = 'other' AND v_new_field -> 'allowOther' = 'true') THEN
                    v_changes := v_changes || pliers._form_error(
                        v_old.def_path || '.choices[' || v_i || ']', 'choice_removed',
                        format('the choice %s of %s is removed: answers with it would be invalid',
                            v_old.field -> 'choices' -> v_i -> 'code', v_old.data_path)
                    );
                END IF;
            END LOOP;
            IF v_old.field -> 'allowOther' = 'true' AND v_new_field -> 'allowOther' IS DISTINCT FROM 'true'
                AND NOT v_codes ? 'other' THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path || '.allowOther', 'other_removed',
                    format('%s no longer allows "other": answers with it would be invalid', v_old.data_path)
                );
            END IF;
        END IF;

        -- Currency of an amount.
        IF v_old.field ? 'currency' AND v_old.field -> 'currency' IS DISTINCT FROM v_new_field -> 'currency' THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path || '.currency', 'currency_changed',
                format('the currency of %s changes from %s to %s', v_old.data_path, v_old.field -> 'currency',
                    coalesce(v_new_field -> 'currency', '"none"'))
            );
        END IF;

        -- Required now, or in more cases.
        v_old_required := CASE
            WHEN v_old.field -> 'required' = 'true' THEN 'always'
            WHEN v_old.field ? 'requiredWhen' THEN (v_old.field -> 'requiredWhen')::text
            ELSE 'never'
        END;
        v_new_required := CASE
            WHEN v_new_field -> 'required' = 'true' THEN 'always'
            WHEN v_new_field ? 'requiredWhen' THEN (v_new_field -> 'requiredWhen')::text
            ELSE 'never'
        END;
        IF v_new_required <> v_old_required AND v_new_required <> 'never' AND v_old_required <> 'always' THEN
            v_changes := v_changes || pliers._form_error(
                v_old.def_path || '.' || CASE WHEN v_new_required = 'always' THEN 'required' ELSE 'requiredWhen' END,
                'field_now_required',
                format('%s becomes required%s: answers without it would be invalid', v_old.data_path,
                    CASE WHEN v_new_required = 'always' THEN '' ELSE ' in other cases' END)
            );
        END IF;

        -- Tighter rules (the effective defaults of rating and currency included).
        v_old_rules := coalesce(v_old.field -> 'validation', '{}')
            || CASE v_old.kind
                WHEN 'rating' THEN jsonb_build_object(
                    'min', coalesce(v_old.field #> '{validation,min}', '1'),
                    'max', coalesce(v_old.field #> '{validation,max}', '5')
                )
                WHEN 'currency' THEN jsonb_build_object('decimals', coalesce(v_old.field #> '{validation,decimals}', '2'))
                ELSE '{}'
            END;
        v_new_rules := coalesce(v_new_field -> 'validation', '{}')
            || CASE v_new ->> 'kind'
                WHEN 'rating' THEN jsonb_build_object(
                    'min', coalesce(v_new_field #> '{validation,min}', '1'),
                    'max', coalesce(v_new_field #> '{validation,max}', '5')
                )
                WHEN 'currency' THEN jsonb_build_object('decimals', coalesce(v_new_field #> '{validation,decimals}', '2'))
                ELSE '{}'
            END;
        FOR v_rule IN
            SELECT k.key FROM jsonb_object_keys(v_new_rules) AS k (key) ORDER BY k.key COLLATE "C"
        LOOP
            v_old_value := v_old_rules -> v_rule;
            v_new_value := v_new_rules -> v_rule;
            v_tighter := CASE
                WHEN v_old_value = v_new_value THEN FALSE
                WHEN v_rule IN ('minLength', 'minItems') THEN
                    v_new_value::numeric > coalesce(v_old_value::numeric, 0)
                WHEN v_rule = 'min' THEN
                    v_old_value IS NULL OR coalesce(pliers._compare_values(v_new_value, v_old_value) > 0, TRUE)
                WHEN v_rule IN ('maxLength', 'maxItems', 'decimals', 'maxSizeBytes') THEN
                    v_old_value IS NULL OR v_new_value::numeric < v_old_value::numeric
                WHEN v_rule = 'max' THEN
                    v_old_value IS NULL OR coalesce(pliers._compare_values(v_new_value, v_old_value) < 0, TRUE)
                WHEN v_rule = 'pattern' THEN TRUE
                WHEN v_rule = 'accept' THEN
                    v_old_value IS NULL OR EXISTS (
                        SELECT FROM jsonb_array_elements_text(v_old_value) AS a (pattern)
                        WHERE NOT pliers._mime_accepted(v_new_value, a.pattern)
                    )
                ELSE FALSE
            END;
            IF v_tighter THEN
                v_changes := v_changes || pliers._form_error(
                    v_old.def_path || '.validation.' || v_rule, 'rule_tightened',
                    format('%s of %s changes from %s to %s: some answers would become invalid', v_rule,
                        v_old.data_path, coalesce(v_old_value, '"none"'), v_new_value)
                );
            END IF;
        END LOOP;
    END LOOP;

    -- New fields that must be answered (in the form, or in a group or repeat that existed).
    FOR v_new IN
        SELECT to_jsonb(l)
        FROM pliers._form_field_list(p_new) AS l
        WHERE NOT v_matched ? l.data_path
            AND (l.field -> 'required' = 'true' OR l.field ? 'requiredWhen')
            AND (l.parent_path = '' OR v_matched ? l.parent_path)
        ORDER BY l.sort_key
    LOOP
        v_changes := v_changes || pliers._form_error(
            v_new ->> 'def_path', 'required_field_added',
            format('the new field %s is required: answers without it would be invalid', v_new ->> 'data_path')
        );
    END LOOP;

    RETURN to_jsonb(v_changes);
END
$$;

-- sql/41-expressions.sql

DROP FUNCTION pliers._expr_sql(jsonb, jsonb, jsonb);

DROP FUNCTION pliers._expr_sql_node(jsonb, jsonb, jsonb);

DROP FUNCTION pliers._expr_sql_as(text, text, text);

DROP FUNCTION pliers._expr_sql_repr(text);

DROP FUNCTION pliers._expr_eval(jsonb, jsonb, jsonb, text, jsonb, jsonb);

DROP FUNCTION pliers._expr_check(jsonb, text, jsonb, text, boolean);

DROP FUNCTION pliers._expr_type(jsonb, text, jsonb, boolean, boolean, jsonb[], text[]);

DROP FUNCTION pliers._expr_literal_ok(text, text);

DROP FUNCTION pliers._expr_join_type(text[]);

DROP FUNCTION pliers._expr_cmp_kind(text, boolean, text, boolean);

DROP FUNCTION pliers._expr_arity(text);

DROP FUNCTION pliers._resolve_ref(text, jsonb, jsonb, text, jsonb);

DROP FUNCTION pliers._expr_in(jsonb, jsonb);

DROP FUNCTION pliers._expr_eq(jsonb, jsonb);

DROP FUNCTION pliers._expr_cmp(jsonb, jsonb);

DROP FUNCTION pliers._expr_date_diff(text, text, text);

DROP FUNCTION pliers._expr_date_add(text, numeric, text);

DROP FUNCTION pliers._expr_instant(text);

DROP FUNCTION pliers._expr_time(text);

DROP FUNCTION pliers._expr_ordnum(text);

DROP FUNCTION pliers._expr_selected(jsonb, text);

DROP FUNCTION pliers._expr_substr(text, numeric, numeric);

DROP FUNCTION pliers._expr_substr(text, numeric);

DROP FUNCTION pliers._expr_nonblank(jsonb);

DROP FUNCTION pliers._expr_length(jsonb);

DROP FUNCTION pliers._expr_count(jsonb);

DROP FUNCTION pliers._expr_list_agg(jsonb, text);

DROP FUNCTION pliers._expr_max(numeric[]);

DROP FUNCTION pliers._expr_min(numeric[]);

DROP FUNCTION pliers._expr_round(numeric, numeric);

DROP FUNCTION pliers._expr_mod(numeric, numeric);

DROP FUNCTION pliers._expr_div(numeric, numeric);

DROP FUNCTION pliers._expr_mul(numeric, numeric);

DROP FUNCTION pliers._expr_sub(numeric, numeric);

DROP FUNCTION pliers._expr_add(numeric, numeric);

DROP FUNCTION pliers._expr_nb(text);

DROP FUNCTION pliers._expr_bool(jsonb);

DROP FUNCTION pliers._expr_txt(jsonb);

DROP FUNCTION pliers._expr_num(jsonb);

DROP FUNCTION pliers._expr_val(jsonb);

-- The migration runner records the migration as itself.
RESET ROLE;

-- The published versions compiled again by the installing superuser, who sees every
-- tenant (_compile_validator is SECURITY DEFINER: the functions belong to pliers_owner),
-- with the code generator restored. The validators are dropped first: one that
-- is not compiled again (its definition not valid here) must not call what is gone.
DO $$
DECLARE
    v_validator regprocedure;
BEGIN
    FOR v_validator IN
        SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = 'pliers_validators'::regnamespace
    LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', v_validator);
    END LOOP;
    PERFORM pliers._compile_validator(f)
    FROM pliers.forms AS f
    WHERE f.status <> 'draft' AND f.deleted_at IS NULL
    ORDER BY f.organization_id, f.id;
END
$$;
