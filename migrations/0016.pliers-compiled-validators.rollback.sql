-- Undo 0016: publish_form as 0014 left it; the compiled validators, their schema and the functions of sql/43 dropped.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

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
        SET is_latest = FALSE, updated_by = pliers.current_user_id()
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
        status = 'published',
        version = p_version,
        published_at = pg_catalog.now(),
        published_by = pliers.current_user_id(),
        is_latest = TRUE,
        updated_by = pliers.current_user_id()
    WHERE f.organization_id = v_org AND f.id = v_form.id
    RETURNING f.* INTO v_form;

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
'breaking changes).';

DROP FUNCTION pliers._check_answers(pliers.forms, jsonb, boolean, jsonb);
DROP FUNCTION pliers._compile_validator(pliers.forms);
DROP FUNCTION pliers._compile_instance(jsonb, text, text, integer);
DROP FUNCTION pliers._compile_error(text, text, text, boolean);
DROP FUNCTION pliers._validator_name(uuid);
DROP FUNCTION pliers._unknown_field_errors(jsonb, text[], text, text);
DROP FUNCTION pliers._draft_errors(jsonb[]);

RESET ROLE;

-- The generated functions with their schema.
DROP SCHEMA pliers_validators CASCADE;
