-- The form API: the lifecycle of form versions (docs/api.md).
--
--     create_form ──> draft ──publish_form──> published ──deprecate_form──> deprecated
--                       │  ^                      │                            │
--          update_form ─┘  │                      └──────archive_form──────> archived <─┘
--          delete_form     └── create_form_version (a new draft from a published version)
--          clone_form (a new slug, a draft)
--
-- Every function opens with the tenant context (PL008 without one), finds the row
-- (PL002: unknown, deleted or another tenant's), checks the caller's permission
-- (PL006), then the expected revision (PL003), validates its input (PL001, every
-- error at once), writes and appends its events (sql/74-feed.sql) in the caller's
-- transaction. A failed call writes nothing: an error aborts the statement.
--
-- SECURITY DEFINER: the functions call private helpers that pliers_app may not execute
-- (_require_permission, _append_event, _check_expected_version, _check_quota). They run
-- as pliers_owner, which row-level security does not bind (sql/95-security.sql.j2):
-- every query names the tenant itself, organization_id = v_org or
-- pliers.current_organization_id() (tests/test_security.py checks it).
--
-- One row per version; its id is the aggregate id of its events (aggregate_type form),
-- its revision their aggregate_version. Exactly one live version of a slug is latest:
-- the first draft until it is published, then the highest published version
-- (publish_form moves the flag; the unique index is not deferrable, so the old
-- latest is cleared first).

-- ---------------------------------------------------------------------------
-- Shared private helpers (also used by sql/55-submissions-api.sql)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers._require_context()
RETURNS uuid
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_context record;
BEGIN
    SELECT r.organization_id, r.user_id INTO v_context FROM pliers.current_request() AS r;
    IF v_context.organization_id IS NULL OR v_context.user_id IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    RETURN v_context.organization_id;
END
$$;

COMMENT ON FUNCTION pliers._require_context() IS
'Private, for the API: the organization of the tenant context; raises PL008 (DETAIL {}) when no organization or '
'no user is set.';

CREATE FUNCTION pliers._raise_invalid(p_message text, p_errors jsonb, p_detail jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = p_message,
        ERRCODE = 'PL001',
        DETAIL = (coalesce(p_detail, '{}') || pg_catalog.jsonb_build_object('errors', p_errors))::text,
        HINT = 'DETAIL lists every error with its path, code and message.';
END
$$;

COMMENT ON FUNCTION pliers._raise_invalid(text, jsonb, jsonb) IS
'Private, for the API: raises PL001 (ValidationError) with DETAIL p_detail plus {"errors": p_errors}, '
'p_errors a JSON array of {path, code, message}. Argument errors name the argument without its p_ prefix '
'(path "slug"); definition and answer errors use JSON paths ($.fields[0].name, $.data.age).';

CREATE FUNCTION pliers._raise_not_found(p_object text, p_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION '% % not found', p_object, p_id
        USING
            ERRCODE = 'PL002',
            DETAIL = pg_catalog.jsonb_build_object('object', p_object, 'id', p_id)::text;
END
$$;

COMMENT ON FUNCTION pliers._raise_not_found(text, uuid) IS
'Private, for the API: raises PL002 (NotFound) with DETAIL {object, id}. Used for ids that do not exist, are '
'deleted, belong to another tenant or are hidden from the caller by row-level security: the caller cannot tell '
'which.';

CREATE FUNCTION pliers._semver_key(p_version text)
RETURNS numeric[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.string_to_array(pg_catalog.split_part(p_version, '-', 1), '.')::numeric[]
$$;

COMMENT ON FUNCTION pliers._semver_key(text) IS
'Private: a MAJOR.MINOR.PATCH version as a numeric array, so that versions compare numerically '
'(1.10.0 > 1.9.0); a pre-release suffix is ignored.';

-- ---------------------------------------------------------------------------
-- Form helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.form_status_moves()
RETURNS TABLE (from_status pliers.form_status, to_status pliers.form_status, via text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT m.from_status::pliers.form_status, m.to_status::pliers.form_status, m.via
    FROM (
        VALUES
        ('draft', 'published', 'publish_form'),
        ('published', 'deprecated', 'deprecate_form'),
        ('published', 'archived', 'archive_form'),
        ('deprecated', 'archived', 'archive_form')
    ) AS m (from_status, to_status, via)
$$;

COMMENT ON FUNCTION pliers.form_status_moves() IS
'The status moves a form version may make, and the API function that makes each: draft -> published '
'(publish_form), published -> deprecated (deprecate_form), published or deprecated -> archived (archive_form). '
'Any other move raises PL004 (DETAIL {from, to}). A draft is discarded with delete_form; a non-draft never returns '
'to draft (a new draft version is made with create_form_version).';

CREATE FUNCTION pliers._form_payload(p_form pliers.forms)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'name', p_form.name,
        'slug', p_form.slug,
        'version', p_form.version,
        'status', p_form.status,
        'visibility', p_form.visibility,
        'definition', p_form.definition,
        'settings', p_form.settings,
        'permissions', p_form.permissions,
        'category', p_form.category,
        'tags', pg_catalog.to_jsonb(p_form.tags),
        'metadata', p_form.metadata,
        'parent_id', p_form.parent_id,
        'is_latest', p_form.is_latest,
        'published_at', p_form.published_at,
        'published_by', p_form.published_by,
        'deprecated_at', p_form.deprecated_at,
        'created_at', p_form.created_at,
        'created_by', p_form.created_by
    )
$$;

COMMENT ON FUNCTION pliers._form_payload(pliers.forms) IS
'Private: the business fields of a form version, the payload of form.created and form.cloned (enough to rebuild '
'the row).';

-- Every text[] argument of the API (tags here and in sql/55 and 57, scopes and events
-- in sql/92) is checked by this one rule.
CREATE FUNCTION pliers._check_text_array(p_path text, p_values text[], p_max_items integer, p_max_length integer)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    -- PL/pgSQL: as an SQL function with a sub-select it was planned again on every call
    -- before PostgreSQL 18 (140 us of each submission, bench/RESULTS.md).
    IF p_values IS NULL THEN
        RETURN v_errors;
    END IF;
    -- The dimensions first: array_position and = ANY raise 0A000 on a two-dimensional array.
    IF pg_catalog.array_ndims(p_values) > 1 THEN
        RETURN pg_catalog.jsonb_build_array(
            pliers._form_error(p_path, 'invalid', p_path || ' must be a one-dimensional array')
        );
    END IF;
    IF pg_catalog.array_position(p_values, NULL) IS NOT NULL THEN
        v_errors := v_errors || pg_catalog.jsonb_build_array(
            pliers._form_error(p_path, 'invalid', p_path || ' may not contain NULL')
        );
    END IF;
    IF pg_catalog.cardinality(p_values) > p_max_items THEN
        v_errors := v_errors || pg_catalog.jsonb_build_array(pliers._form_error(
            p_path, 'too_many_items', pg_catalog.format('%s has at most %s items', p_path, p_max_items)
        ));
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.unnest(p_values) AS v (value) WHERE pg_catalog.length(v.value) > p_max_length) THEN
        v_errors := v_errors || pg_catalog.jsonb_build_array(pliers._form_error(
            p_path, 'too_long', pg_catalog.format('each item of %s is at most %s characters', p_path, p_max_length)
        ));
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_text_array(text, text[], integer, integer) IS
'Private: the argument errors ({path, code, message}, path p_path) of a text[] argument: not one-dimensional '
'(invalid), a NULL item (invalid), more than p_max_items items (too_many_items), an item longer than '
'p_max_length characters (too_long). A NULL array has none (the caller decides whether it is required). '
'Called for every text[] argument of the API (tags, scopes, events).';

CREATE FUNCTION pliers._check_form_attributes(
    p_name text,
    p_settings jsonb,
    p_category text,
    p_tags text[],
    p_metadata jsonb,
    p_permissions jsonb
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_name IS NOT NULL AND (pg_catalog.btrim(p_name) = '' OR pg_catalog.length(p_name) > 255) THEN
        v_errors := v_errors || pliers._form_error('name', 'invalid', 'the name must be 1 to 255 characters, not blank');
    END IF;
    IF p_settings IS NOT NULL AND pg_catalog.jsonb_typeof(p_settings) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('settings', 'invalid_type', 'settings must be a JSON object');
    END IF;
    IF p_metadata IS NOT NULL AND pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    END IF;
    IF p_permissions IS NOT NULL AND pg_catalog.jsonb_typeof(p_permissions) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('permissions', 'invalid_type', 'permissions must be a JSON object');
    END IF;
    IF p_category IS NOT NULL AND pg_catalog.length(p_category) > 255 THEN
        v_errors := v_errors || pliers._form_error('category', 'invalid', 'the category is at most 255 characters');
    END IF;
    v_errors := v_errors || pliers._check_text_array('tags', p_tags, 100, 255);
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_form_attributes(text, jsonb, text, text[], jsonb, jsonb) IS
'Private: the argument errors ({path, code, message}) of the descriptive attributes of a form; NULL arguments are '
'not checked (the caller decides what is required).';

CREATE FUNCTION pliers._check_slug(p_slug text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_slug IS NULL THEN
            pg_catalog.jsonb_build_array(pliers._form_error('slug', 'required', 'the slug is required'))
        WHEN pg_catalog.length(p_slug) > 255 OR p_slug !~ '^[a-z0-9]+(-[a-z0-9]+)*$' THEN
            pg_catalog.jsonb_build_array(pliers._form_error(
                'slug', 'invalid_slug',
                'the slug is lower-case letters and digits in groups joined by single hyphens, at most 255 characters'
            ))
        ELSE '[]'::jsonb
    END
$$;

COMMENT ON FUNCTION pliers._check_slug(text) IS
'Private: [] when p_slug is a valid slug (domain pliers.slug), else its argument error.';

CREATE FUNCTION pliers._raise_slug_taken(p_slug text)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'a form with slug % already exists', p_slug
        USING
            ERRCODE = 'PL003',
            DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'slug', p_slug)::text,
            HINT = 'Choose another slug, or create a new version of the existing form.';
END
$$;

COMMENT ON FUNCTION pliers._raise_slug_taken(text) IS
'Private: raises PL003 (Conflict) with DETAIL {object: form, slug}.';

CREATE FUNCTION pliers._lock_form(p_form_id uuid)
RETURNS pliers.forms
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    -- The tenant as a value: the planner routes it (one shard on Citus).
    v_organization_id constant uuid := pliers.current_organization_id();
    v_form pliers.forms;
BEGIN
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'form_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('form_id', 'required', 'the form id is required'))
        );
    END IF;
    SELECT f.* INTO v_form
    FROM pliers.forms AS f
    WHERE f.organization_id = v_organization_id AND f.id = p_form_id AND f.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers._lock_form(uuid) IS
'Private: the live form version p_form_id of the current tenant, locked FOR UPDATE (writers of one version queue); '
'PL001 when p_form_id is NULL, PL002 when it is unknown, deleted or another tenant''s.';

CREATE FUNCTION pliers._require_expected_revision(p_expected_revision integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF p_expected_revision IS NULL THEN
        PERFORM pliers._raise_invalid(
            'expected_revision is required',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'expected_revision', 'required', 'pass the revision you read (optimistic concurrency)'
            ))
        );
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_expected_revision(integer) IS
'Private: PL001 when an API call that edits content gets no expected revision.';

-- ---------------------------------------------------------------------------
-- Creating and editing drafts
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_form(
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
        v_errors := v_errors || pliers.validate_form_definition(p_definition)
            || pg_catalog.to_jsonb(pliers._check_list_references(v_org, p_definition));
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

COMMENT ON FUNCTION pliers.create_form(text, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb) IS
'Creates a form: its first version, a draft (version 1.0.0 until published, is_latest). Permission form.create. '
'PL001 (every error: name, slug, settings, ..., and the definition''s own errors from validate_form_definition), '
'PL003 when a live form has the slug (DETAIL {object, slug}), PL007 when max_forms is reached, PL006, PL008. '
'Appends form.created (aggregate_version 1, payload: the business fields). Returns the row.';

CREATE FUNCTION pliers.update_form(
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
        v_errors := v_errors || pliers.validate_form_definition(p_definition)
            || pg_catalog.to_jsonb(pliers._check_list_references(v_org, p_definition));
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

COMMENT ON FUNCTION pliers.update_form(
    uuid, integer, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb
) IS
'Edits a form version; NULL arguments leave their column unchanged. p_expected_revision is required (PL001 '
'without it, PL003 when stale: nothing is written). name, definition and settings change only on a draft (PL005, '
'DETAIL {object, id, status, columns}); visibility, category, tags, metadata and permissions on any version. The '
'definition is validated when saved (PL001 with every error). Permission form.edit on the form. PL002, PL006, '
'PL008. Appends form.updated (payload {changes: {column: new value}}) unless nothing changes.';

CREATE FUNCTION pliers.delete_form(p_form_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_form pliers.forms;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.delete', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    IF v_form.status <> 'draft' THEN
        RAISE EXCEPTION 'form % version % is % and cannot be deleted', v_form.id, v_form.version, v_form.status
            USING
                ERRCODE = 'PL005',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'form', 'id', v_form.id, 'status', v_form.status,
                    'columns', pg_catalog.jsonb_build_array('deleted_at')
                )::text,
                HINT = 'Published versions are archived (pliers.archive_form), not deleted.';
    END IF;

    UPDATE pliers.forms AS f
    SET updated_at = pg_catalog.now(), deleted_at = pg_catalog.now(), updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.deleted',
        pg_catalog.jsonb_build_object('deleted_at', v_form.deleted_at, 'slug', v_form.slug)
    );
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers.delete_form(uuid, integer) IS
'Discards a draft version (soft delete: deleted_at). Deleting the first draft of a form frees its slug. Only '
'drafts: PL005 otherwise (published versions are archived). Permission form.delete on the form. PL002, PL003 '
'(stale p_expected_revision, when given), PL006, PL008. Appends form.deleted.';

-- ---------------------------------------------------------------------------
-- Publishing and versions
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.publish_form(p_form_id uuid, p_version text, p_expected_revision integer DEFAULT NULL)
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
    v_list_errors jsonb[];
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
    -- A list named by a choice field exists (deleted since the draft was saved?).
    v_list_errors := pliers._check_list_references(v_org, v_form.definition);
    IF pg_catalog.cardinality(v_list_errors) > 0 THEN
        PERFORM pliers._raise_invalid('the form is not valid', pg_catalog.to_jsonb(v_list_errors));
    END IF;

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

COMMENT ON FUNCTION pliers.publish_form(uuid, text, integer) IS
'Publishes a draft version as p_version (MAJOR.MINOR.PATCH): sets status, version, published_at/by, and makes it '
'the latest version of its slug (the previous latest loses the flag and gets a form.updated event). The definition '
'must be valid (PL001), p_version greater than every published version of the slug (PL001 code '
'version_not_greater), and a major bump is required when form_breaking_changes(previous published definition, this '
'one) is not empty (PL001 code major_version_required; DETAIL also has breaking_changes and latest_version). '
'Not a draft: PL004 {from, to}. Permission form.publish on the form. PL002, PL003 (stale p_expected_revision, '
'when given), PL006, PL008. Appends form.published (payload: version, published_at/by, previous version, '
'breaking changes). Compiles the version''s validator (pliers._compile_validator).';

CREATE FUNCTION pliers.create_form_version(p_form_id uuid)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_source pliers.forms;
    v_draft uuid;
    v_top numeric[];
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
    PERFORM pliers._require_permission('form.edit', 'form', v_source.id);
    IF v_source.status = 'draft' THEN
        PERFORM pliers._raise_invalid(
            'a new version is made from a published version',
            pg_catalog.jsonb_build_array(pliers._form_error(
                'form_id', 'not_published', 'this version is a draft: edit it instead of deriving a new one'
            ))
        );
    END IF;

    -- One open draft per slug: serialise the makers of new versions of this slug.
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('pliers.form_version:' || v_org::text || ':' || v_source.slug, 0)
    );
    SELECT f.id INTO v_draft
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.slug = v_source.slug AND f.deleted_at IS NULL AND f.status = 'draft';
    IF v_draft IS NOT NULL THEN
        RAISE EXCEPTION 'form % already has a draft version %', v_source.slug, v_draft
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'form', 'slug', v_source.slug, 'draft_id', v_draft
                )::text,
                HINT = 'Edit, publish or delete the existing draft first.';
    END IF;

    -- A provisional version, unique among the live versions; publish_form sets the real one.
    SELECT pliers._semver_key(f.version) INTO v_top
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.slug = v_source.slug AND f.deleted_at IS NULL
    ORDER BY pliers._semver_key(f.version) DESC
    LIMIT 1;

    INSERT INTO pliers.forms (
        organization_id, name, slug, version, status, visibility, definition, settings, permissions,
        category, tags, metadata, parent_id, is_latest, created_by, updated_by
    ) VALUES (
        v_org, v_source.name, v_source.slug, pg_catalog.format('%s.%s.%s', v_top[1], v_top[2], v_top[3] + 1),
        'draft', v_source.visibility, v_source.definition, v_source.settings, v_source.permissions,
        v_source.category, v_source.tags, v_source.metadata, v_source.id, FALSE,
        pliers.current_user_id(), pliers.current_user_id()
    )
    RETURNING * INTO v_form;

    -- The new version keeps the current collaborators of the one it derives from.
    INSERT INTO pliers.form_collaborators (
        organization_id, form_id, user_id, permission_level, can_edit, can_delete, can_publish,
        can_view_submissions, granted_by
    )
    SELECT
        c.organization_id, v_form.id, c.user_id, c.permission_level, c.can_edit, c.can_delete, c.can_publish,
        c.can_view_submissions, pliers.current_user_id()
    FROM pliers.form_collaborators AS c
    WHERE c.organization_id = v_org AND c.form_id = v_source.id AND c.revoked_at IS NULL;

    PERFORM pliers._append_event('form', v_form.id, v_form.revision, 'form.created', pliers._form_payload(v_form));
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers.create_form_version(uuid) IS
'Starts the next version of a form: a new draft row copying the content of version p_form_id (published, '
'deprecated or archived; a draft raises PL001 code not_published), with parent_id = p_form_id, a provisional '
'version (patch after the highest), is_latest FALSE (the published latest stays current until this one is '
'published) and the current collaborators of p_form_id. One draft per slug: PL003 (DETAIL {object, slug, '
'draft_id}) when one exists. Permission form.edit on p_form_id. PL002, PL006, PL008. Appends form.created for the '
'new version (payload with parent_id).';

CREATE FUNCTION pliers._change_form_status(
    p_form_id uuid,
    p_to pliers.form_status,
    p_expected_revision integer
)
RETURNS pliers.forms
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    -- A value: Citus allows no non-IMMUTABLE function inside a CASE of an UPDATE.
    v_now constant timestamptz := pg_catalog.now();
    v_form pliers.forms;
    v_from pliers.form_status;
BEGIN
    v_form := pliers._lock_form(p_form_id);
    PERFORM pliers._require_permission('form.publish', 'form', v_form.id);
    PERFORM pliers._check_expected_version('form', v_form.id, p_expected_revision, v_form.revision);
    v_from := v_form.status;
    IF NOT EXISTS (
        SELECT FROM pliers.form_status_moves() AS m
        WHERE m.from_status = v_from AND m.to_status = p_to AND m.via <> 'publish_form'
    ) THEN
        RAISE EXCEPTION 'form % version % cannot go from % to %', v_form.id, v_form.version, v_from, p_to
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object('object', 'form', 'id', v_form.id, 'from', v_from, 'to', p_to)::text,
                HINT = 'The allowed moves are listed by pliers.form_status_moves().';
    END IF;

    UPDATE pliers.forms AS f
    SET
        updated_at = pg_catalog.now(),
        status = p_to,
        deprecated_at = CASE WHEN p_to = 'deprecated' THEN v_now ELSE f.deprecated_at END,
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

    PERFORM pliers._append_event(
        'form', v_form.id, v_form.revision, 'form.' || p_to::text,
        pg_catalog.jsonb_build_object('from', v_from, 'to', p_to, 'deprecated_at', v_form.deprecated_at)
    );
    RETURN v_form;
END
$$;

COMMENT ON FUNCTION pliers._change_form_status(uuid, pliers.form_status, integer) IS
'Private: deprecate_form and archive_form. Checks the move against pliers.form_status_moves() (PL004 {from, to}), '
'then sets the status (and deprecated_at) and appends form.deprecated or form.archived ({from, to, deprecated_at}).';

CREATE FUNCTION pliers.deprecate_form(p_form_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._change_form_status(p_form_id, 'deprecated', p_expected_revision);
END
$$;

COMMENT ON FUNCTION pliers.deprecate_form(uuid, integer) IS
'Deprecates a published version (status deprecated, deprecated_at now): it still accepts submissions but should '
'be replaced. Only published -> deprecated: PL004 {from, to} otherwise. Permission form.publish on the form. PL002, '
'PL003 (stale p_expected_revision, when given), PL006, PL008. Appends form.deprecated.';

CREATE FUNCTION pliers.archive_form(p_form_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.forms
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._change_form_status(p_form_id, 'archived', p_expected_revision);
END
$$;

COMMENT ON FUNCTION pliers.archive_form(uuid, integer) IS
'Archives a published or deprecated version: it accepts no new submission; its submissions stay. An archived '
'latest version no longer counts against max_forms. PL004 {from, to} from draft (use delete_form) or archived. '
'Permission form.publish on the form. PL002, PL003 (stale p_expected_revision, when given), PL006, PL008. Appends '
'form.archived.';

CREATE FUNCTION pliers.clone_form(p_form_id uuid, p_slug text, p_name text DEFAULT NULL)
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

    -- The source may be archived, and a list it names deleted since.
    v_errors := pliers._check_slug(p_slug) || pliers._check_form_attributes(p_name, NULL, NULL, NULL, NULL, NULL)
        || pg_catalog.to_jsonb(pliers._check_list_references(v_org, v_source.definition));
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

COMMENT ON FUNCTION pliers.clone_form(uuid, text, text) IS
'Copies form version p_form_id (any status) into a new form: slug p_slug, name p_name (default: the source''s), a '
'draft 1.0.0, latest, metadata.cloned_from = {form_id, slug, version}. Permissions form.create and form.view on the '
'source. PL001 (slug, name), PL002, PL003 (slug taken), PL006, PL007 (max_forms), PL008. Appends form.cloned '
'(aggregate_version 1; payload: the business fields and cloned_from).';

-- ---------------------------------------------------------------------------
-- Privileges: the API to pliers_app, the helpers to nobody but the owner
-- ---------------------------------------------------------------------------

-- Reading -----------------------------------------------------------------------------
--
-- The rows row-level security shows the application (the tenant's live forms), read
-- as the owner: on Citus, a transaction that wrote a tenant's shards through the API
-- (as pliers_owner) may read them again only as pliers_owner (docs/scale-out.md). The
-- library reads through these; an application's own SELECT still works under RLS.
CREATE FUNCTION pliers.list_forms(
    p_form_id uuid DEFAULT NULL,
    p_slug text DEFAULT NULL,
    p_status pliers.form_status DEFAULT NULL,
    p_latest boolean DEFAULT NULL
)
RETURNS SETOF pliers.forms
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
BEGIN
    RETURN QUERY
    SELECT f.*
    FROM pliers.forms AS f
    WHERE f.organization_id = v_organization_id
        AND f.deleted_at IS NULL
        AND (p_form_id IS NULL OR f.id = p_form_id)
        AND (p_slug IS NULL OR f.slug = p_slug)
        AND (p_status IS NULL OR f.status = p_status)
        AND (p_latest IS NULL OR f.is_latest = p_latest)
    -- By name across forms; the versions of one slug in version order.
    ORDER BY
        CASE WHEN p_slug IS NULL THEN f.name END,
        f.slug,
        pg_catalog.string_to_array(f.version, '.')::integer[],
        f.created_at,
        f.id;
END
$$;

COMMENT ON FUNCTION pliers.list_forms(uuid, text, pliers.form_status, boolean) IS
'The live form versions of the current tenant, each filter applied when given: one version (p_form_id), the versions '
'of a slug (in version order), a status, the latest versions only (p_latest). Without p_slug ordered by name and '
'slug. The rows row-level security shows, read as the owner (on Citus a transaction that wrote through the API '
'reads through it). PL008 without a context.';

REVOKE ALL ON FUNCTION
pliers._require_context(),
pliers._raise_invalid(text, jsonb, jsonb),
pliers._raise_not_found(text, uuid),
pliers._semver_key(text),
pliers.form_status_moves(),
pliers._form_payload(pliers.forms),
pliers._check_form_attributes(text, jsonb, text, text[], jsonb, jsonb),
pliers._check_slug(text),
pliers._raise_slug_taken(text),
pliers._lock_form(uuid),
pliers._require_expected_revision(integer),
pliers.create_form(text, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb),
pliers.update_form(uuid, integer, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb),
pliers.delete_form(uuid, integer),
pliers.publish_form(uuid, text, integer),
pliers.create_form_version(uuid),
pliers._change_form_status(uuid, pliers.form_status, integer),
pliers.deprecate_form(uuid, integer),
pliers.archive_form(uuid, integer),
pliers.clone_form(uuid, text, text)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.form_status_moves(),
pliers.create_form(text, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb),
pliers.update_form(uuid, integer, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb),
pliers.delete_form(uuid, integer),
pliers.publish_form(uuid, text, integer),
pliers.create_form_version(uuid),
pliers.deprecate_form(uuid, integer),
pliers.archive_form(uuid, integer),
pliers.clone_form(uuid, text, text),
pliers.list_forms(uuid, text, pliers.form_status, boolean)
TO pliers_app;
