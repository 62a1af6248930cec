-- Access rules (issue 15), shared by the functions that give roles or remove users:
-- no escalation (_assert_grantable) and the last owner (_assert_owner_remains).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- The two rules every change of a user's roles obeys (issue 15: users.roles, role
-- assignments, invitations), one place for each.

-- The roles of p_roles that the catalogue does not name, as validation errors (path
-- p_path[i]), for the callers that report every error at once.
CREATE FUNCTION pliers._role_errors(p_roles text[], p_path text)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pliers._form_error(
        p_path || '[' || (r.n - 1) || ']', 'unknown_role', 'no role named ' || coalesce(r.name, 'NULL')
    ) ORDER BY r.n), '[]')
    FROM pg_catalog.unnest(p_roles) WITH ORDINALITY AS r (name, n)
    WHERE NOT EXISTS (SELECT FROM pliers.roles AS c WHERE c.name = r.name)
$$;

COMMENT ON FUNCTION pliers._role_errors(text[], text) IS
'Private: a JSON array of the errors {path: p_path[i], code: unknown_role, message} of the roles of p_roles that '
'pliers.roles does not name, in order ([] when all are known).';

-- No escalation: a role may be given only by a user who holds every permission it
-- grants, at the scope it is given for.
CREATE FUNCTION pliers._assert_grantable(
    p_roles text[],
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL,
    p_path text DEFAULT 'roles'
)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_unknown jsonb;
    v_grant record;
    v_organization_id uuid;
BEGIN
    -- Every unknown role at once, with its place in p_roles.
    v_unknown := pliers._role_errors(p_roles, p_path);
    IF v_unknown <> '[]' THEN
        PERFORM pliers._raise_invalid('unknown role', v_unknown);
    END IF;

    FOR v_grant IN
        SELECT c.name AS role, p.permission
        FROM pliers.roles AS c
        CROSS JOIN LATERAL pg_catalog.unnest(c.permissions) AS p (permission)
        WHERE c.name = ANY(p_roles)
        ORDER BY c.name, p.permission
    LOOP
        IF NOT pliers.has_permission(v_grant.permission, p_scope_type, p_scope_id) THEN
            v_organization_id := pliers._require_context();
            RAISE EXCEPTION 'role % grants %, which you do not hold', v_grant.role, v_grant.permission
                USING
                    ERRCODE = 'PL006',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'permission', v_grant.permission,
                        'object', p_scope_type,
                        'id', coalesce(p_scope_id, v_organization_id),
                        'role', v_grant.role
                    )::text;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION pliers._assert_grantable(text[], pliers.scope_type, uuid, text) IS
'Private, for the API functions that give roles: PL001 (every unknown role, path p_path[i], code unknown_role); '
'PL008 without a context; PL006 (DETAIL {permission, object, id, role}) unless the current user holds every '
'permission of every role in p_roles at that scope (pliers.has_permission): nobody gives more than they hold.';

-- The organization keeps an owner: an active user with org_owner in users.roles. The
-- other owners' rows are locked, so that two calls that each remove a different owner
-- cannot both see the other one remain (the second waits, then sees one owner fewer).
CREATE FUNCTION pliers._assert_owner_remains(p_organization_id uuid, p_user_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_others integer;
BEGIN
    PERFORM FROM pliers.users AS u
    WHERE
        u.organization_id = p_organization_id AND u.id = p_user_id
        AND u.status = 'active' AND 'org_owner' = ANY(u.roles);
    IF NOT found THEN
        RETURN;  -- not an owner now: removing it removes no owner
    END IF;
    SELECT count(*) INTO v_others
    FROM (
        SELECT u.id
        FROM pliers.users AS u
        WHERE
            u.organization_id = p_organization_id AND u.id <> p_user_id
            AND u.status = 'active' AND 'org_owner' = ANY(u.roles)
        FOR UPDATE
    ) AS o;
    IF v_others = 0 THEN
        RAISE EXCEPTION 'user % is the organization''s last owner', p_user_id
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'organization', 'id', p_organization_id, 'rule', 'last_owner', 'user_id', p_user_id
                )::text,
                HINT = 'Make another active user org_owner first.';
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._assert_owner_remains(uuid, uuid) IS
'Private, for the API functions that demote, suspend, delete or erase a user: PL003 (DETAIL {object: organization, '
'id, rule: last_owner, user_id}) when p_user_id is the last active org_owner of p_organization_id. Locks the other '
'owners'' rows (FOR UPDATE), so that concurrent removals of two owners cannot leave none.';

RESET ROLE;
