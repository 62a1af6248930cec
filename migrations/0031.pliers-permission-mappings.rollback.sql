-- Rollback of 0031: has_permission and effective_permissions with their own copies of
-- the mappings again (as in 0025 and 0028), the mapping functions dropped.
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
                AND CASE p_permission
                    WHEN 'form.view' THEN TRUE
                    WHEN 'form.edit' THEN fc.can_edit
                    WHEN 'form.delete' THEN fc.can_delete
                    WHEN 'form.publish' THEN fc.can_publish
                    WHEN 'submission.view' THEN fc.can_view_submissions
                    ELSE FALSE
                END
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
        AND p_permission IN ('submission.view', 'submission.update', 'team.manage')
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
                AND CASE p_permission
                    WHEN 'submission.view' THEN TRUE
                    WHEN 'submission.update' THEN tm.role <> 'viewer'
                    ELSE tm.role IN ('owner', 'admin')
                END
        )
    );
END
$$;

CREATE OR REPLACE FUNCTION pliers.effective_permissions(p_user_id uuid DEFAULT NULL)
RETURNS TABLE (
    permission text,
    allowed boolean,
    scope_type pliers.scope_type,
    scope_id uuid,
    source text,
    role text,
    reference_id uuid,
    expires_at timestamptz
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_user_id constant uuid := coalesce(p_user_id, pliers.current_user_id());
    v_now constant timestamptz := pg_catalog.now();
    v_roles text[];
    v_grants jsonb;
    v_denied text[];
BEGIN
    IF v_user_id <> pliers.current_user_id() THEN
        PERFORM pliers._require_permission('user.manage');
    END IF;
    SELECT u.roles, u.permissions INTO v_roles, v_grants
    FROM pliers.users AS u
    WHERE u.organization_id = v_organization_id AND u.id = v_user_id AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('user', v_user_id);
    END IF;
    v_denied := ARRAY(
        SELECT j.key FROM pg_catalog.jsonb_each(v_grants) AS j WHERE j.value = 'false'::jsonb ORDER BY j.key
    );

    -- 1. The roles of users.roles, organization-wide.
    RETURN QUERY
    SELECT p.permission, p.permission <> ALL(v_denied), 'organization'::pliers.scope_type, NULL::uuid,
        'role'::text, r.name::text, NULL::uuid, NULL::timestamptz
    FROM pliers.roles AS r
    CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission)
    WHERE r.name = ANY(v_roles)
    ORDER BY p.permission, r.name;

    -- 2. Live role assignments, at their scope.
    RETURN QUERY
    SELECT p.permission, p.permission <> ALL(v_denied), ra.scope_type, ra.scope_id,
        'assignment'::text, ra.role::text, ra.id, ra.expires_at
    FROM pliers.role_assignments AS ra
    INNER JOIN pliers.roles AS r ON ra.role = r.name
    CROSS JOIN LATERAL pg_catalog.unnest(r.permissions) AS p (permission)
    WHERE ra.organization_id = v_organization_id AND ra.user_id = v_user_id
        AND ra.revoked_at IS NULL AND (ra.expires_at IS NULL OR ra.expires_at > v_now)
    ORDER BY p.permission, ra.scope_type, ra.scope_id, ra.role;

    -- 3. Current form collaborator rows: form.view, and a permission per flag.
    RETURN QUERY
    SELECT f.permission, f.permission <> ALL(v_denied), 'form'::pliers.scope_type, fc.form_id,
        'collaborator'::text, fc.permission_level::text, fc.id, NULL::timestamptz
    FROM pliers.form_collaborators AS fc
    CROSS JOIN LATERAL (
        VALUES
        ('form.view', TRUE),
        ('form.edit', fc.can_edit),
        ('form.delete', fc.can_delete),
        ('form.publish', fc.can_publish),
        ('submission.view', fc.can_view_submissions)
    ) AS f (permission, given)
    WHERE fc.organization_id = v_organization_id AND fc.user_id = v_user_id AND fc.revoked_at IS NULL
        AND f.given
    ORDER BY f.permission, fc.form_id;

    -- 4. Current membership of live teams (pliers.has_permission's team path).
    RETURN QUERY
    SELECT p.permission, p.permission <> ALL(v_denied), 'team'::pliers.scope_type, tm.team_id,
        'team_member'::text, tm.role::text, tm.id, NULL::timestamptz
    FROM pliers.team_members AS tm
    INNER JOIN pliers.teams AS t ON tm.organization_id = t.organization_id AND tm.team_id = t.id
    CROSS JOIN LATERAL (
        VALUES ('submission.view', TRUE), ('submission.update', tm.role <> 'viewer'),
        ('team.manage', tm.role IN ('owner', 'admin'))
    ) AS p (permission, given)
    WHERE tm.organization_id = v_organization_id AND tm.user_id = v_user_id AND tm.removed_at IS NULL
        AND t.deleted_at IS NULL AND p.given
    ORDER BY p.permission, tm.team_id;

    -- 5. users.permissions: grants (true) and denials (false), organization-wide.
    RETURN QUERY
    SELECT j.key, j.value = 'true'::jsonb AND j.key <> ALL(v_denied), 'organization'::pliers.scope_type,
        NULL::uuid, CASE WHEN j.value = 'true'::jsonb THEN 'grant' ELSE 'denial' END, NULL::text, NULL::uuid,
        NULL::timestamptz
    FROM pg_catalog.jsonb_each(v_grants) AS j
    WHERE j.value IN ('true'::jsonb, 'false'::jsonb)
    ORDER BY j.key;
END
$$;

DROP FUNCTION pliers.team_role_permissions(pliers.team_role);
DROP FUNCTION pliers.collaborator_permissions(boolean, boolean, boolean, boolean);

RESET ROLE;
