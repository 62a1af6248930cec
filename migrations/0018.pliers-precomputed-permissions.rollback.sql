-- Undo 0018: set_context computes the permissions on every call again, as 0015 left it.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

CREATE OR REPLACE FUNCTION pliers._set_context(
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
-- Generic plans: a custom plan would be made again on every call.
SET plan_cache_mode = force_generic_plan
SET search_path = ''
AS $$
DECLARE
    v_user record;
BEGIN
    PERFORM pg_catalog.set_config('pliers.context', '', true);
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RETURN 'no_context';
    END IF;

    SELECT
        u.status,
        o.deleted_at AS organization_deleted_at,
        d.denied,
        (
            SELECT coalesce(pg_catalog.array_agg(DISTINCT g.permission ORDER BY g.permission), '{}')
            FROM (
                SELECT pg_catalog.unnest(r.permissions) AS permission
                FROM pliers.roles AS r
                WHERE r.name = ANY(u.roles)
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
                FROM pg_catalog.jsonb_each(u.permissions) AS j
                WHERE j.value = 'true'::jsonb
            ) AS g
            WHERE g.permission <> ALL(d.denied)
                AND (coalesce(pg_catalog.cardinality(p_api_key_scopes), 0) = 0 OR g.permission = ANY(p_api_key_scopes))
        ) AS permissions
    INTO v_user
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    CROSS JOIN LATERAL (
        SELECT coalesce(pg_catalog.array_agg(j.key ORDER BY j.key), '{}') AS denied
        FROM pg_catalog.jsonb_each(u.permissions) AS j
        WHERE j.value = 'false'::jsonb
    ) AS d
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        RETURN 'not_a_member';
    ELSIF v_user.organization_deleted_at IS NOT NULL THEN
        RETURN 'organization_deleted';
    ELSIF v_user.status <> 'active' THEN
        RETURN 'user_' || v_user.status::text;
    END IF;

    PERFORM pliers._store_context(pliers._context_payload(
        p_organization_id, p_user_id, v_user.permissions, p_api_key_id, v_user.denied, p_api_key_scopes,
        p_session_id, p_correlation_id, p_ip_address, p_user_agent
    ));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[]) IS
'Private (set_context, authenticate_api_key). Clears the context, then, if p_user_id is an active user of the '
'non-deleted organization p_organization_id, stores the signed context (pliers.context: organization, user, '
'organization-wide permissions restricted to p_api_key_scopes when that is not empty, denials, API key, request '
'metadata) and returns NULL. Otherwise leaves no context and returns why: no_context, not_a_member, '
'organization_deleted, user_<status>.';

COMMENT ON FUNCTION pliers.current_permissions() IS
'The organization-wide permissions of the current user, computed by set_context (roles of users.roles, live '
'organization-scope role assignments, users.permissions grants; minus denials; within the API key''s scopes). '
'Empty without a context. Inlinable; permissions on one form, workflow or team: pliers.has_permission.';

COMMENT ON FUNCTION pliers.set_context(uuid, uuid, uuid, inet, text, uuid) IS
'Opens the tenant context of this transaction: organization, acting user and request metadata, as the signed '
'transaction-local setting pliers.context, valid in this transaction only (call it in every transaction, after BEGIN). '
'The user must be an active user (status active) of a non-deleted organization, else PL006 '
'(DETAIL {permission, object, id, user_id, reason}) and no context; a NULL organization or user raises PL008. '
'Also computes the user''s organization-wide permissions (pliers.current_permissions). '
'SECURITY DEFINER: the membership check must read users before RLS lets anyone see them.';

DROP TRIGGER roles_permissions ON pliers.roles;

DROP TRIGGER role_assignments_permissions ON pliers.role_assignments;

DROP TRIGGER users_permissions_update ON pliers.users;

DROP TRIGGER users_permissions_insert ON pliers.users;

DROP FUNCTION pliers._roles_permissions_changed();

DROP FUNCTION pliers._role_assignments_permissions_changed();

DROP FUNCTION pliers._users_permissions_changed();

DROP FUNCTION pliers._refresh_user_permissions(uuid, uuid, boolean);

DROP FUNCTION pliers._user_permissions(uuid, uuid);

DROP TABLE pliers.user_permissions;

RESET ROLE;
