-- Tenant context and permissions.
--
-- The context (DESIGN decision 3) is a set of transaction-local settings, written
-- only by pliers.set_context and pliers.authenticate_api_key (sql/92-api-keys.sql)
-- with set_config(..., true): it ends with its transaction, so a pooled
-- connection never carries it to the next client.
--
--     pliers.organization_id    the tenant; RLS policies compare organization_id with it
--     pliers.user_id            the acting user, an active member of that tenant
--     pliers.session_id, pliers.ip_address, pliers.user_agent, pliers.correlation_id
--                               request metadata, for events and audit rows
--     pliers.api_key_id, pliers.api_key_scopes
--                               set when the context comes from an API key
--     pliers.permissions        the user's organization-wide permissions (text[] literal)
--     pliers.denied_permissions permissions users.permissions denies the user (text[] literal)
--
-- An unset setting reads NULL before its first use in a session and '' after it:
-- both mean "no tenant", and every policy then matches no row (no fail-open branch).
--
-- Permissions (docs/security.md). A user may do P on an object when P is
--   1. organization-wide: granted by a role of users.roles, by a live role assignment of
--      scope organization, or by users.permissions {"P": true}; or
--   2. scoped to the object: a live role assignment on that form, workflow or team; on a
--      form, a current form_collaborators row (can_edit -> form.edit, can_delete ->
--      form.delete, can_publish -> form.publish, can_view_submissions -> submission.view,
--      any row -> form.view) or the form's visibility (organization or public -> form.view,
--      submission.create); on a team, current membership (any team role -> submission.view
--      of the team's submissions, owner/admin/member -> submission.update, owner/admin ->
--      team.manage);
-- and P is not denied: users.permissions {"P": false} denies P everywhere, and a context
-- opened with an API key whose scopes are not empty allows only those scopes.
-- A live role assignment is neither revoked nor expired.
--
-- Cost. Policies evaluate their condition per row. The organization-wide permissions
-- are computed once, in set_context, and stored in pliers.permissions: the common
-- check ('submission.view' = ANY (pliers.current_permissions())) is an inlined read of a
-- setting, no query. pliers.has_permission runs its queries only for the scoped paths,
-- that is for users without the organization-wide permission (the submissions SELECT
-- policy calls it last, after the cheap checks). The price: a role granted or revoked
-- during a transaction applies from the next set_context, normally the next transaction.

-- ---------------------------------------------------------------------------
-- Reading the context: inlinable SQL functions (no SET clause, not SECURITY
-- DEFINER), so a policy's organization_id = pliers.current_organization_id()
-- becomes a comparison with a stable value that an index scan can use.
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.current_organization_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT nullif(pg_catalog.current_setting('pliers.organization_id', true), '')::uuid
$$;

COMMENT ON FUNCTION pliers.current_organization_id() IS
'The organization of the current tenant context, NULL when none is set (an unset or empty setting). '
'Inlinable: RLS policies compare organization_id with it.';

CREATE FUNCTION pliers.current_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT nullif(pg_catalog.current_setting('pliers.user_id', true), '')::uuid
$$;

COMMENT ON FUNCTION pliers.current_user_id() IS
'The acting user of the current tenant context (for an API key: its creator), NULL when none is set. Inlinable.';

CREATE FUNCTION pliers.current_permissions()
RETURNS text[]
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(nullif(pg_catalog.current_setting('pliers.permissions', true), '')::text[], '{}'::text[])
$$;

COMMENT ON FUNCTION pliers.current_permissions() IS
'The organization-wide permissions of the current user, computed by set_context (roles of users.roles, live '
'organization-scope role assignments, users.permissions grants; minus denials; within the API key''s scopes). '
'Empty without a context. Inlinable; permissions on one form, workflow or team: pliers.has_permission.';

-- ---------------------------------------------------------------------------
-- Setting the context
-- ---------------------------------------------------------------------------

-- Shared by set_context and authenticate_api_key, which run it as pliers_owner.
CREATE FUNCTION pliers._set_context(
    p_organization_id uuid,
    p_user_id uuid,
    p_session_id uuid,
    p_ip_address inet,
    p_user_agent text,
    p_correlation_id uuid,
    p_api_key_id uuid,
    p_api_key_scopes text[]
)
RETURNS text
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_name text;
    v_user record;
    v_reason text;
    v_denied text[];
    v_permissions text[];
BEGIN
    -- Start from an empty context, then set the organization alone: pliers_owner is
    -- bound by the tenant policies too (FORCE ROW LEVEL SECURITY), so the lookups
    -- below see this organization's rows and nothing else.
    FOREACH v_name IN ARRAY ARRAY[
        'organization_id', 'user_id', 'session_id', 'ip_address', 'user_agent', 'correlation_id',
        'api_key_id', 'api_key_scopes', 'permissions', 'denied_permissions'
    ] LOOP
        PERFORM pg_catalog.set_config('pliers.' || v_name, '', true);
    END LOOP;
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RETURN 'no_context';
    END IF;
    PERFORM pg_catalog.set_config('pliers.organization_id', p_organization_id::text, true);

    SELECT u.status, u.roles, u.permissions, o.deleted_at AS organization_deleted_at
    INTO v_user
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        v_reason := 'not_a_member';
    ELSIF v_user.organization_deleted_at IS NOT NULL THEN
        v_reason := 'organization_deleted';
    ELSIF v_user.status <> 'active' THEN
        v_reason := 'user_' || v_user.status::text;
    END IF;
    IF v_reason IS NOT NULL THEN
        PERFORM pg_catalog.set_config('pliers.organization_id', '', true);
        RETURN v_reason;
    END IF;

    SELECT coalesce(pg_catalog.array_agg(j.key ORDER BY j.key), '{}')
    INTO v_denied
    FROM pg_catalog.jsonb_each(v_user.permissions) AS j
    WHERE j.value = 'false'::jsonb;

    SELECT coalesce(pg_catalog.array_agg(DISTINCT g.permission ORDER BY g.permission), '{}')
    INTO v_permissions
    FROM (
        SELECT pg_catalog.unnest(r.permissions) AS permission
        FROM pliers.roles AS r
        WHERE r.name = ANY(v_user.roles)
        UNION ALL
        SELECT pg_catalog.unnest(r.permissions)
        FROM pliers.role_assignments AS ra
        INNER JOIN pliers.roles AS r ON ra.role = r.name
        WHERE ra.organization_id = p_organization_id
            AND ra.user_id = p_user_id
            AND ra.scope_type = 'organization'
            AND ra.revoked_at IS NULL
            AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
        UNION ALL
        SELECT j.key
        FROM pg_catalog.jsonb_each(v_user.permissions) AS j
        WHERE j.value = 'true'::jsonb
    ) AS g
    WHERE g.permission <> ALL(v_denied)
        AND (coalesce(pg_catalog.cardinality(p_api_key_scopes), 0) = 0 OR g.permission = ANY(p_api_key_scopes));

    PERFORM pg_catalog.set_config('pliers.user_id', p_user_id::text, true);
    PERFORM pg_catalog.set_config('pliers.session_id', coalesce(p_session_id::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.ip_address', coalesce(pg_catalog.abbrev(p_ip_address), ''), true);
    PERFORM pg_catalog.set_config('pliers.user_agent', coalesce(p_user_agent, ''), true);
    PERFORM pg_catalog.set_config('pliers.correlation_id', coalesce(p_correlation_id::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.api_key_id', coalesce(p_api_key_id::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.api_key_scopes', coalesce(p_api_key_scopes::text, ''), true);
    PERFORM pg_catalog.set_config('pliers.permissions', v_permissions::text, true);
    PERFORM pg_catalog.set_config('pliers.denied_permissions', v_denied::text, true);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[]) IS
'Private (set_context, authenticate_api_key). Clears the context, then, if p_user_id is an active user of the '
'non-deleted organization p_organization_id, sets every pliers.* setting transaction-locally (including the '
'organization-wide permissions, restricted to p_api_key_scopes when that is not empty) and returns NULL. '
'Otherwise leaves the context empty and returns why: no_context, not_a_member, organization_deleted, user_<status>.';

CREATE FUNCTION pliers.set_context(
    p_organization_id uuid,
    p_user_id uuid,
    p_session_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL,
    p_correlation_id uuid DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_reason text;
BEGIN
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RAISE EXCEPTION 'a tenant context needs an organization and a user'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object(
                    'organization_id', p_organization_id, 'user_id', p_user_id
                )::text;
    END IF;

    v_reason := pliers._set_context(
        p_organization_id, p_user_id, p_session_id, p_ip_address, p_user_agent, p_correlation_id, NULL, NULL
    );
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'user % is not an active member of organization %', p_user_id, p_organization_id
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'organization.member',
                    'object', 'organization',
                    'id', p_organization_id,
                    'user_id', p_user_id,
                    'reason', v_reason
                )::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.set_context(uuid, uuid, uuid, inet, text, uuid) IS
'Opens the tenant context of this transaction: organization, acting user and request metadata, as '
'transaction-local settings pliers.* (never beyond the transaction; call it in every transaction, after BEGIN). '
'The user must be an active user (status active) of a non-deleted organization, else PL006 '
'(DETAIL {permission, object, id, user_id, reason}) and no context; a NULL organization or user raises PL008. '
'Also computes the user''s organization-wide permissions (pliers.current_permissions). '
'SECURITY DEFINER: the membership check must read users before RLS lets anyone see them.';

-- ---------------------------------------------------------------------------
-- Permission checks
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.has_permission(
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
BEGIN
    -- PL/pgSQL, not SQL: with its SET clause an SQL function is never inlined, and
    -- before PostgreSQL 18 it is planned again on every call (about 1 ms, 30% of a
    -- submission, bench/RESULTS.md); PL/pgSQL keeps the plan for the session.
    RETURN (SELECT CASE
        WHEN pliers.current_organization_id() IS NULL OR pliers.current_user_id() IS NULL
            OR p_permission IS NULL OR p_scope_type IS NULL THEN FALSE
        WHEN p_permission = ANY(
            coalesce(nullif(pg_catalog.current_setting('pliers.denied_permissions', true), '')::text[], '{}')
        ) THEN FALSE
        WHEN coalesce(pg_catalog.cardinality(
            nullif(pg_catalog.current_setting('pliers.api_key_scopes', true), '')::text[]
        ), 0) > 0
        AND p_permission <> ALL(
            nullif(pg_catalog.current_setting('pliers.api_key_scopes', true), '')::text[]
        ) THEN FALSE
        WHEN p_scope_type = 'organization' THEN
            coalesce(p_scope_id = pliers.current_organization_id(), TRUE)
            AND p_permission = ANY(pliers.current_permissions())
        WHEN p_scope_id IS NULL THEN FALSE
        -- An organization-wide permission applies to the objects of this organization.
        WHEN p_permission = ANY(pliers.current_permissions()) THEN
            CASE p_scope_type
                WHEN 'form' THEN EXISTS (
                    SELECT FROM pliers.forms AS f
                    WHERE f.organization_id = pliers.current_organization_id() AND f.id = p_scope_id
                )
                WHEN 'workflow' THEN EXISTS (
                    SELECT FROM pliers.workflows AS w
                    WHERE w.organization_id = pliers.current_organization_id() AND w.id = p_scope_id
                )
                WHEN 'team' THEN EXISTS (
                    SELECT FROM pliers.teams AS t
                    WHERE t.organization_id = pliers.current_organization_id() AND t.id = p_scope_id
                )
                ELSE FALSE
            END
        ELSE
            EXISTS (
                SELECT
                FROM pliers.role_assignments AS ra
                INNER JOIN pliers.roles AS r ON ra.role = r.name
                WHERE ra.organization_id = pliers.current_organization_id()
                    AND ra.user_id = pliers.current_user_id()
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
                    WHERE fc.organization_id = pliers.current_organization_id()
                        AND fc.form_id = p_scope_id
                        AND fc.user_id = pliers.current_user_id()
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
                    WHERE f.organization_id = pliers.current_organization_id()
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
                    WHERE tm.organization_id = pliers.current_organization_id()
                        AND tm.team_id = p_scope_id
                        AND tm.user_id = pliers.current_user_id()
                        AND tm.removed_at IS NULL
                        AND t.deleted_at IS NULL
                        AND CASE p_permission
                            WHEN 'submission.view' THEN TRUE
                            WHEN 'submission.update' THEN tm.role <> 'viewer'
                            ELSE tm.role IN ('owner', 'admin')
                        END
                )
            )
    END);
END
$$;

COMMENT ON FUNCTION pliers.has_permission(text, pliers.scope_type, uuid) IS
'May the current user do p_permission (e.g. form.publish) on the object p_scope_type/p_scope_id? '
'FALSE without a context. TRUE if the permission is organization-wide (pliers.current_permissions) and the object '
'belongs to the current organization (organization scope: p_scope_id NULL or the current organization), else, for a '
'form, workflow or team, if a live role assignment on that object grants it, or (form) a current collaborator '
'flag or the form''s visibility, or (team) current membership; never if users.permissions denies it or an API '
'key''s scopes exclude it. The paths are listed in sql/91-tenancy.sql and docs/security.md. '
'Runs with the caller''s rights (RLS applies); used by the API and by the submissions SELECT policy.';

-- The rule of the submissions SELECT policy, in one place: the policy calls it, and so
-- does list_submissions, which reads without row-level security (sql/55). Inlinable
-- (LANGUAGE sql, a SQL-standard body, no SET clause): the planner folds it into the
-- query. The viewer's permissions and id are arguments so that a caller computes them
-- once per query (the policy passes sub-selects, which become InitPlans): reading and
-- parsing pliers.permissions on every row cost about 2 us a row (bench/RESULTS.md).
-- Each of those two appears once in the body: the planner does not inline a function
-- that would copy a sub-select argument, and then calls it on every row (60 us for the
-- first row of each statement on PostgreSQL 15, 3.6 us for each next one).
CREATE FUNCTION pliers.submission_visible(
    p_form_id uuid,
    p_submitted_by uuid,
    p_assigned_to uuid,
    p_assigned_team_id uuid,
    p_permissions text[],
    p_user_id uuid
)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT
        p_permissions @> '{submission.view}'
        OR p_user_id IN (p_submitted_by, p_assigned_to)
        OR pliers.has_permission('submission.view', 'form', p_form_id)
        OR (
            p_assigned_team_id IS NOT NULL
            AND pliers.has_permission('submission.view', 'team', p_assigned_team_id)
        );
END;

COMMENT ON FUNCTION pliers.submission_visible(uuid, uuid, uuid, uuid, text[], uuid) IS
'May a user with organization-wide permissions p_permissions and id p_user_id view a submission of form p_form_id '
'submitted by p_submitted_by, assigned to p_assigned_to and p_assigned_team_id? Yes with submission.view '
'organization-wide, for the submitter and the assignee, and with submission.view on the form or on the assigned '
'team (has_permission). The rule of the submissions_select policy and of list_submissions; the OR stops at the '
'first true arm, cheapest first. Inlinable.';

CREATE FUNCTION pliers._require_permission(
    p_permission text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
BEGIN
    IF pliers.current_organization_id() IS NULL OR pliers.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object('permission', p_permission)::text;
    END IF;
    IF NOT pliers.has_permission(p_permission, p_scope_type, p_scope_id) THEN
        RAISE EXCEPTION 'permission % denied', p_permission
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', p_permission,
                    'object', p_scope_type,
                    'id', coalesce(p_scope_id, pliers.current_organization_id())
                )::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_permission(text, pliers.scope_type, uuid) IS
'Private, for the API functions: raises PL008 without a tenant context, PL006 '
'(DETAIL {permission, object, id}; id is the organization for organization scope) unless '
'pliers.has_permission(p_permission, p_scope_type, p_scope_id).';
