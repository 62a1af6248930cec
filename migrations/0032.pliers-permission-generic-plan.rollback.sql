-- Rollback of 0032: has_permission as in 0031 (the session's plan_cache_mode).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

CREATE OR REPLACE FUNCTION pliers.has_permission(
    p_permission text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = ''
AS $$
DECLARE
    -- One verification of the context for the whole check.
    v_context constant text := pliers.current_context();
    v_organization_id constant uuid := nullif(pg_catalog.split_part(v_context, '|', 1), '')::uuid;
    v_user_id constant uuid := nullif(pg_catalog.split_part(v_context, '|', 2), '')::uuid;
    v_permissions constant text[] := pg_catalog.string_to_array(pg_catalog.split_part(v_context, '|', 3), ',');
    v_denied constant text[] := pg_catalog.string_to_array(pg_catalog.split_part(v_context, '|', 5), ',');
    v_scopes constant text[] := pg_catalog.string_to_array(pg_catalog.split_part(v_context, '|', 6), ',');
BEGIN
    -- PL/pgSQL, not SQL: with its SET clause an SQL function is never inlined, and
    -- before PostgreSQL 18 it is planned again on every call (about 1 ms, 30% of a
    -- submission, bench/RESULTS.md); PL/pgSQL keeps the plan for the session.
    IF v_organization_id IS NULL OR v_user_id IS NULL OR p_permission IS NULL OR p_scope_type IS NULL
        OR p_permission = ANY(v_denied)
        OR (pg_catalog.cardinality(v_scopes) > 0 AND p_permission <> ALL(v_scopes)) THEN
        RETURN FALSE;
    END IF;
    IF p_scope_type = 'organization' THEN
        RETURN coalesce(p_scope_id = v_organization_id, TRUE) AND p_permission = ANY(v_permissions);
    END IF;
    IF p_scope_id IS NULL THEN
        RETURN FALSE;
    END IF;
    -- An organization-wide permission applies to the objects of this organization.
    IF p_permission = ANY(v_permissions) THEN
        RETURN CASE p_scope_type
            WHEN 'form' THEN EXISTS (
                SELECT FROM pliers.forms AS f
                WHERE f.organization_id = v_organization_id AND f.id = p_scope_id
            )
            WHEN 'workflow' THEN EXISTS (
                SELECT FROM pliers.workflows AS w
                WHERE w.organization_id = v_organization_id AND w.id = p_scope_id
            )
            WHEN 'team' THEN EXISTS (
                SELECT FROM pliers.teams AS t
                WHERE t.organization_id = v_organization_id AND t.id = p_scope_id
            )
            ELSE FALSE
        END;
    END IF;
    RETURN EXISTS (
        SELECT
        FROM pliers.role_assignments AS ra
        INNER JOIN pliers.roles AS r ON ra.role = r.name
        WHERE ra.organization_id = v_organization_id
            AND ra.user_id = v_user_id
            AND ra.scope_type = p_scope_type
            AND ra.scope_id = p_scope_id
            AND ra.revoked_at IS NULL
            AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
            AND p_permission = ANY(r.permissions)
    )
    OR (
        p_scope_type = 'form'
        AND EXISTS (
            SELECT
            FROM pliers.form_collaborators AS fc
            WHERE fc.organization_id = v_organization_id
                AND fc.form_id = p_scope_id
                AND fc.user_id = v_user_id
                AND fc.revoked_at IS NULL
                AND p_permission = ANY(pliers.collaborator_permissions(
                    fc.can_edit, fc.can_delete, fc.can_publish, fc.can_view_submissions
                ))
        )
    )
    OR (
        p_scope_type = 'form'
        AND p_permission IN ('form.view', 'submission.create')
        AND EXISTS (
            SELECT
            FROM pliers.forms AS f
            WHERE f.organization_id = v_organization_id
                AND f.id = p_scope_id
                AND f.visibility IN ('organization', 'public')
                AND f.deleted_at IS NULL
        )
    )
    OR (
        p_scope_type = 'team'
        AND EXISTS (
            SELECT
            FROM pliers.team_members AS tm
            INNER JOIN pliers.teams AS t
                ON tm.organization_id = t.organization_id AND tm.team_id = t.id
            WHERE tm.organization_id = v_organization_id
                AND tm.team_id = p_scope_id
                AND tm.user_id = v_user_id
                AND tm.removed_at IS NULL
                AND t.deleted_at IS NULL
                AND p_permission = ANY(pliers.team_role_permissions(tm.role))
        )
    );
END
$$;

RESET ROLE;
