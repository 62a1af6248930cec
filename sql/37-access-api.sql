-- The access API (issue 15, docs/api.md "Teams, roles and access"): teams and their
-- members, role assignments, form collaborators, and a user's effective permissions
-- with the reason for each. API keys are in sql/92-api-keys.sql.
--
-- As in sql/45-forms-api.sql: each function opens with the tenant context (PL008),
-- names the tenant as a value in every statement (one shard on Citus), checks the
-- caller's permission (PL006), validates every argument at once (PL001), then writes
-- and appends its events in the caller's transaction; a failed call writes nothing.
--
-- No escalation (migration 0025): a role is given or taken only by a user who holds
-- every permission it grants at that scope (pliers._assert_grantable); a collaborator
-- flag only by a user who holds its permission on the form. org_owner comes from
-- users.roles only (the users API), where the last owner is kept
-- (pliers._assert_owner_remains); a team keeps its last owner here.
--
-- Events. Role assignments and collaborators change what a user may do: their events
-- (role.granted, role.revoked, role.collaborator_added, role.collaborator_changed,
-- role.collaborator_revoked) belong to the user's aggregate (aggregate_type user,
-- aggregate_version = the user's revision, which the change increments; erase_user
-- scrubs them with the user's). Teams and API keys have no aggregate type of their
-- own: pliers.aggregate_type has no 'team' or 'api_key', and a value added with ALTER
-- TYPE ... ADD VALUE has no inverse for the migration's rollback short of rewriting
-- pliers.events. Their events (team.*, api_key.*) are recorded with aggregate_type
-- organization, aggregate_id = the team's or key's id, aggregate_version counting that
-- object's events (pliers._object_event): an organization's own events have its id.

-- ---------------------------------------------------------------------------
-- Private helpers
-- ---------------------------------------------------------------------------

-- The next event of a team or API key (aggregate_type organization, its id as
-- aggregate_id): the caller holds the object's row lock, so the count is stable.
CREATE FUNCTION pliers._object_event(p_object_id uuid, p_event_type text, p_payload jsonb)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_version integer;
BEGIN
    SELECT coalesce(pg_catalog.max(e.aggregate_version), 0) + 1 INTO v_version
    FROM pliers.events AS e
    WHERE e.organization_id = v_organization_id
        AND e.aggregate_type = 'organization'
        AND e.aggregate_id = p_object_id;
    RETURN pliers._append_event('organization', p_object_id, v_version, p_event_type, p_payload);
END
$$;

COMMENT ON FUNCTION pliers._object_event(uuid, text, jsonb) IS
'Private: appends an event of a team or an API key (pliers.aggregate_type has neither): aggregate_type '
'organization, aggregate_id p_object_id, aggregate_version one more than that object''s last event. The caller '
'holds the object''s row lock.';

-- An event of a user's aggregate: increments the user's revision (locking its row) and
-- appends the event at that revision. PL003 when p_expected_revision is stale.
CREATE FUNCTION pliers._user_event(
    p_user_id uuid, p_expected_revision integer, p_event_type text, p_payload jsonb
)
RETURNS integer
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_revision integer;
BEGIN
    SELECT u.revision INTO v_revision
    FROM pliers.users AS u
    WHERE u.organization_id = v_organization_id AND u.id = p_user_id
    FOR NO KEY UPDATE;
    PERFORM pliers._check_expected_version('user', p_user_id, p_expected_revision, v_revision);
    UPDATE pliers.users AS u
    SET updated_at = pg_catalog.now()
    WHERE u.organization_id = v_organization_id AND u.id = p_user_id
    RETURNING u.revision INTO v_revision;
    PERFORM pliers._append_event('user', p_user_id, v_revision, p_event_type, p_payload);
    RETURN v_revision;
END
$$;

COMMENT ON FUNCTION pliers._user_event(uuid, integer, text, jsonb) IS
'Private: a change of a user''s access (role assignment, collaborator row): checks p_expected_revision against '
'the user''s revision (PL003; NULL checks nothing), increments it and appends p_event_type to the user''s '
'aggregate at the new revision. Returns it.';

-- A user of the tenant that may be given access: not deleted (PL002 otherwise).
-- p_lock: its row locked FOR NO KEY UPDATE, the lock every writer of its grants takes
-- (pliers._refresh_user_permissions), so that two grants to one user serialize.
CREATE FUNCTION pliers._require_user(p_user_id uuid, p_lock boolean DEFAULT FALSE)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
BEGIN
    IF p_lock THEN
        PERFORM FROM pliers.users AS u
        WHERE u.organization_id = v_organization_id AND u.id = p_user_id AND u.deleted_at IS NULL
        FOR NO KEY UPDATE;
    ELSE
        PERFORM FROM pliers.users AS u
        WHERE u.organization_id = v_organization_id AND u.id = p_user_id AND u.deleted_at IS NULL;
    END IF;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('user', p_user_id);
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_user(uuid, boolean) IS
'Private: PL002 (DETAIL {object: user, id}) unless p_user_id is a non-deleted user of the current organization; '
'with p_lock, its row is locked FOR NO KEY UPDATE (writers of a user''s grants serialize on it).';

CREATE FUNCTION pliers._lock_team(p_team_id uuid)
RETURNS pliers.teams
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_team pliers.teams;
BEGIN
    SELECT t.* INTO v_team
    FROM pliers.teams AS t
    WHERE t.organization_id = v_organization_id AND t.id = p_team_id AND t.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('team', p_team_id);
    END IF;
    RETURN v_team;
END
$$;

COMMENT ON FUNCTION pliers._lock_team(uuid) IS
'Private: the live team p_team_id of the current organization, locked FOR UPDATE (every change of a team and of '
'its members takes this lock first); PL002 when unknown, deleted or another tenant''s.';

-- The team keeps an owner: a current member with team role owner. The other owners'
-- rows are locked, as pliers._assert_owner_remains does for the organization.
CREATE FUNCTION pliers._assert_team_owner_remains(p_team_id uuid, p_user_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_others integer;
BEGIN
    PERFORM FROM pliers.team_members AS m
    WHERE m.organization_id = v_organization_id AND m.team_id = p_team_id AND m.user_id = p_user_id
        AND m.removed_at IS NULL AND m.role = 'owner';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT pg_catalog.count(*) INTO v_others
    FROM (
        SELECT m.id
        FROM pliers.team_members AS m
        WHERE m.organization_id = v_organization_id AND m.team_id = p_team_id AND m.user_id <> p_user_id
            AND m.removed_at IS NULL AND m.role = 'owner'
        FOR UPDATE
    ) AS o;
    IF v_others = 0 THEN
        RAISE EXCEPTION 'user % is the last owner of team %', p_user_id, p_team_id
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'team', 'id', p_team_id, 'rule', 'last_owner', 'user_id', p_user_id
                )::text,
                HINT = 'Make another member owner of the team first.';
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._assert_team_owner_remains(uuid, uuid) IS
'Private: PL003 (DETAIL {object: team, id, rule: last_owner, user_id}) when p_user_id is the last current owner '
'of team p_team_id. Locks the other owners'' rows (FOR UPDATE).';

CREATE FUNCTION pliers._check_team_attributes(p_name text, p_slug text, p_description text, p_required boolean)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_name IS NULL AND p_required OR pg_catalog.btrim(p_name) = '' THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'a name is required');
    ELSIF pg_catalog.length(p_name) > 255 THEN
        v_errors := v_errors || pliers._form_error('name', 'too_long', 'at most 255 characters');
    END IF;
    IF p_slug IS NOT NULL OR p_required THEN
        v_errors := v_errors || pliers._check_slug(p_slug);
    END IF;
    IF pg_catalog.length(p_description) > 10000 THEN
        v_errors := v_errors || pliers._form_error('description', 'too_long', 'at most 10000 characters');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_team_attributes(text, text, text, boolean) IS
'Private: the argument errors of a team''s name (1..255 characters), slug (pliers._check_slug) and description '
'(at most 10000 characters); p_required: name and slug must be given.';

CREATE FUNCTION pliers._raise_team_slug_taken(p_slug text)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    PERFORM pliers._raise_invalid(
        'a team with this slug exists',
        pg_catalog.jsonb_build_array(pliers._form_error('slug', 'taken', 'a live team has the slug ' || p_slug))
    );
END
$$;

COMMENT ON FUNCTION pliers._raise_team_slug_taken(text) IS
'Private: PL001 with the error {path: slug, code: taken}.';

-- ---------------------------------------------------------------------------
-- Teams
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_team(
    p_name text,
    p_slug text,
    p_description text DEFAULT NULL,
    p_owner_id uuid DEFAULT NULL
)
RETURNS pliers.teams
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_user_id constant uuid := pliers.current_user_id();
    v_owner_id constant uuid := coalesce(p_owner_id, v_user_id);
    v_errors jsonb;
    v_team pliers.teams;
BEGIN
    PERFORM pliers._require_permission('team.manage');
    v_errors := pliers._check_team_attributes(p_name, p_slug, p_description, TRUE);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the team is not valid', v_errors);
    END IF;
    PERFORM pliers._require_user(v_owner_id);
    PERFORM FROM pliers.teams AS t
    WHERE t.organization_id = v_organization_id AND t.slug = p_slug AND t.deleted_at IS NULL;
    IF FOUND THEN
        PERFORM pliers._raise_team_slug_taken(p_slug);
    END IF;

    INSERT INTO pliers.teams AS t (organization_id, name, slug, description, created_by, updated_by)
    VALUES (v_organization_id, p_name, p_slug, p_description, v_user_id, v_user_id)
    RETURNING t.* INTO v_team;
    INSERT INTO pliers.team_members (organization_id, team_id, user_id, role)
    VALUES (v_organization_id, v_team.id, v_owner_id, 'owner');

    PERFORM pliers._object_event(v_team.id, 'team.created', pg_catalog.jsonb_build_object(
        'name', v_team.name, 'slug', v_team.slug, 'description', v_team.description, 'owner_id', v_owner_id
    ));
    RETURN v_team;
END
$$;

COMMENT ON FUNCTION pliers.create_team(text, text, text, uuid) IS
'Creates a team of the current organization with its first member, p_owner_id (default: the caller), as team '
'owner (needs team.manage). PL001: name, slug, description invalid, or slug taken by a live team (code taken); '
'PL002: no such owner; PL006; PL008. Appends team.created. Returns the team.';

CREATE FUNCTION pliers.update_team(
    p_team_id uuid,
    p_name text DEFAULT NULL,
    p_slug text DEFAULT NULL,
    p_description text DEFAULT NULL
)
RETURNS pliers.teams
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_team pliers.teams;
    v_errors jsonb;
    v_changes jsonb;
BEGIN
    v_team := pliers._lock_team(p_team_id);
    PERFORM pliers._require_permission('team.manage', 'team', v_team.id);
    v_errors := pliers._check_team_attributes(p_name, p_slug, p_description, FALSE);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the team is not valid', v_errors);
    END IF;
    IF p_slug IS DISTINCT FROM v_team.slug AND p_slug IS NOT NULL THEN
        PERFORM FROM pliers.teams AS t
        WHERE t.organization_id = v_organization_id AND t.slug = p_slug AND t.deleted_at IS NULL;
        IF FOUND THEN
            PERFORM pliers._raise_team_slug_taken(p_slug);
        END IF;
    END IF;

    SELECT coalesce(pg_catalog.jsonb_object_agg(c.key, c.value), '{}')
    INTO v_changes
    FROM (
        VALUES
        ('name', pg_catalog.to_jsonb(p_name), pg_catalog.to_jsonb(v_team.name)),
        ('slug', pg_catalog.to_jsonb(p_slug), pg_catalog.to_jsonb(v_team.slug)),
        ('description', pg_catalog.to_jsonb(p_description), pg_catalog.to_jsonb(v_team.description))
    ) AS c (key, value, old_value)
    WHERE c.value IS NOT NULL AND c.value IS DISTINCT FROM c.old_value;
    IF v_changes = '{}' THEN
        RETURN v_team;
    END IF;

    UPDATE pliers.teams AS t
    SET
        updated_at = pg_catalog.now(),
        updated_by = pliers.current_user_id(),
        name = coalesce(p_name, t.name),
        slug = coalesce(p_slug, t.slug),
        description = coalesce(p_description, t.description)
    WHERE t.organization_id = v_organization_id AND t.id = v_team.id
    RETURNING t.* INTO v_team;
    PERFORM pliers._object_event(v_team.id, 'team.updated', pg_catalog.jsonb_build_object('changes', v_changes));
    RETURN v_team;
END
$$;

COMMENT ON FUNCTION pliers.update_team(uuid, text, text, text) IS
'Renames a team or changes its slug or description; NULL leaves a column as it is (needs team.manage on the team: '
'organization-wide, or a team owner or admin). PL001 as create_team; PL002: no live team; PL006; PL008. Appends '
'team.updated (payload {changes}) unless nothing changes. Returns the team.';

CREATE FUNCTION pliers.delete_team(p_team_id uuid)
RETURNS pliers.teams
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_user_id constant uuid := pliers.current_user_id();
    v_now constant timestamptz := pg_catalog.now();
    v_team pliers.teams;
BEGIN
    v_team := pliers._lock_team(p_team_id);
    PERFORM pliers._require_permission('team.manage', 'team', v_team.id);

    UPDATE pliers.team_members AS m
    SET removed_at = v_now
    WHERE m.organization_id = v_organization_id AND m.team_id = v_team.id AND m.removed_at IS NULL;
    UPDATE pliers.role_assignments AS ra
    SET revoked_at = v_now, revoked_by = v_user_id
    WHERE ra.organization_id = v_organization_id AND ra.scope_type = 'team' AND ra.scope_id = v_team.id
        AND ra.revoked_at IS NULL;
    UPDATE pliers.teams AS t
    SET deleted_at = v_now, updated_at = v_now, updated_by = v_user_id
    WHERE t.organization_id = v_organization_id AND t.id = v_team.id
    RETURNING t.* INTO v_team;
    PERFORM pliers._object_event(v_team.id, 'team.deleted', pg_catalog.jsonb_build_object('slug', v_team.slug));
    RETURN v_team;
END
$$;

COMMENT ON FUNCTION pliers.delete_team(uuid) IS
'Soft-deletes a team (needs team.manage on it): deleted_at set, its current members removed and its live '
'team-scope role assignments revoked, in the same transaction (the rows stay as history; its slug is free again). '
'PL002: no live team; PL006; PL008. Appends team.deleted. Returns the team.';

CREATE FUNCTION pliers.add_team_member(p_team_id uuid, p_user_id uuid, p_role pliers.team_role DEFAULT 'member')
RETURNS pliers.team_members
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_team pliers.teams;
    v_member pliers.team_members;
BEGIN
    v_team := pliers._lock_team(p_team_id);
    PERFORM pliers._require_permission('team.manage', 'team', v_team.id);
    IF p_role IS NULL THEN
        PERFORM pliers._raise_invalid('role is required', pg_catalog.jsonb_build_array(
            pliers._form_error('role', 'required', 'a team role is required: owner, admin, member or viewer')));
    END IF;
    PERFORM pliers._require_user(p_user_id);
    PERFORM FROM pliers.team_members AS m
    WHERE m.organization_id = v_organization_id AND m.team_id = v_team.id AND m.user_id = p_user_id
        AND m.removed_at IS NULL;
    IF FOUND THEN
        PERFORM pliers._raise_invalid('already a member', pg_catalog.jsonb_build_array(
            pliers._form_error('user_id', 'already_member', 'the user is a current member of the team')));
    END IF;

    INSERT INTO pliers.team_members AS m (organization_id, team_id, user_id, role)
    VALUES (v_organization_id, v_team.id, p_user_id, p_role)
    RETURNING m.* INTO v_member;
    PERFORM pliers._object_event(v_team.id, 'team.member_added', pg_catalog.jsonb_build_object(
        'user_id', p_user_id, 'role', p_role
    ));
    RETURN v_member;
END
$$;

COMMENT ON FUNCTION pliers.add_team_member(uuid, uuid, pliers.team_role) IS
'Adds a user to a team with a team role (default member; needs team.manage on the team). PL001: role NULL, or '
'the user is already a current member (code already_member); PL002: no live team, no such user; PL006; PL008. '
'Appends team.member_added. Returns the membership row.';

CREATE FUNCTION pliers.remove_team_member(p_team_id uuid, p_user_id uuid)
RETURNS pliers.team_members
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_team pliers.teams;
    v_member pliers.team_members;
BEGIN
    v_team := pliers._lock_team(p_team_id);
    PERFORM pliers._require_permission('team.manage', 'team', v_team.id);
    PERFORM pliers._assert_team_owner_remains(v_team.id, p_user_id);
    UPDATE pliers.team_members AS m
    SET removed_at = pg_catalog.now()
    WHERE m.organization_id = v_organization_id AND m.team_id = v_team.id AND m.user_id = p_user_id
        AND m.removed_at IS NULL
    RETURNING m.* INTO v_member;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('team_member', p_user_id);
    END IF;
    PERFORM pliers._object_event(v_team.id, 'team.member_removed', pg_catalog.jsonb_build_object(
        'user_id', p_user_id, 'role', v_member.role
    ));
    RETURN v_member;
END
$$;

COMMENT ON FUNCTION pliers.remove_team_member(uuid, uuid) IS
'Removes a current member from a team (removed_at set; needs team.manage on the team). PL003 (DETAIL {object: '
'team, id, rule: last_owner, user_id}): the team''s last owner; PL002: no live team, or the user is no current '
'member (object team_member); PL006; PL008. Appends team.member_removed. Returns the membership row.';

CREATE FUNCTION pliers.set_team_member_role(p_team_id uuid, p_user_id uuid, p_role pliers.team_role)
RETURNS pliers.team_members
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_team pliers.teams;
    v_member pliers.team_members;
BEGIN
    v_team := pliers._lock_team(p_team_id);
    PERFORM pliers._require_permission('team.manage', 'team', v_team.id);
    IF p_role IS NULL THEN
        PERFORM pliers._raise_invalid('role is required', pg_catalog.jsonb_build_array(
            pliers._form_error('role', 'required', 'a team role is required: owner, admin, member or viewer')));
    END IF;
    SELECT m.* INTO v_member
    FROM pliers.team_members AS m
    WHERE m.organization_id = v_organization_id AND m.team_id = v_team.id AND m.user_id = p_user_id
        AND m.removed_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('team_member', p_user_id);
    END IF;
    IF v_member.role = p_role THEN
        RETURN v_member;
    END IF;
    IF p_role <> 'owner' THEN
        PERFORM pliers._assert_team_owner_remains(v_team.id, p_user_id);
    END IF;
    UPDATE pliers.team_members AS m
    SET role = p_role
    WHERE m.organization_id = v_organization_id AND m.id = v_member.id
    RETURNING m.* INTO v_member;
    PERFORM pliers._object_event(v_team.id, 'team.member_role_changed', pg_catalog.jsonb_build_object(
        'user_id', p_user_id, 'role', p_role
    ));
    RETURN v_member;
END
$$;

COMMENT ON FUNCTION pliers.set_team_member_role(uuid, uuid, pliers.team_role) IS
'Changes a current member''s team role (needs team.manage on the team). PL003 (rule last_owner): demoting the '
'team''s last owner; PL001: role NULL; PL002: no live team or no current member; PL006; PL008. Appends '
'team.member_role_changed unless the role is the same. Returns the membership row.';

CREATE FUNCTION pliers.list_teams()
RETURNS SETOF pliers.teams
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
BEGIN
    RETURN QUERY
    SELECT t.*
    FROM pliers.teams AS t
    WHERE t.organization_id = v_organization_id AND t.deleted_at IS NULL
    ORDER BY t.name, t.id;
END
$$;

COMMENT ON FUNCTION pliers.list_teams() IS
'The live teams of the current organization, by name (any user of it; PL008 without a context).';

CREATE FUNCTION pliers.list_team_members(p_team_id uuid)
RETURNS SETOF pliers.team_members
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
BEGIN
    PERFORM FROM pliers.teams AS t
    WHERE t.organization_id = v_organization_id AND t.id = p_team_id AND t.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('team', p_team_id);
    END IF;
    RETURN QUERY
    SELECT m.*
    FROM pliers.team_members AS m
    WHERE m.organization_id = v_organization_id AND m.team_id = p_team_id AND m.removed_at IS NULL
    ORDER BY m.joined_at, m.id;
END
$$;

COMMENT ON FUNCTION pliers.list_team_members(uuid) IS
'The current members of a live team, in the order they joined (any user of the organization). PL002: no live '
'team; PL008.';

-- ---------------------------------------------------------------------------
-- Role assignments
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.grant_role(
    p_user_id uuid,
    p_role text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL,
    p_expires_at timestamptz DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.role_assignments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_user_id constant uuid := pliers.current_user_id();
    v_now constant timestamptz := pg_catalog.now();
    v_errors jsonb := '[]';
    v_assignment pliers.role_assignments;
BEGIN
    PERFORM pliers._require_permission('user.manage');
    IF p_user_id IS NULL THEN
        v_errors := v_errors || pliers._form_error('user_id', 'required', 'the user is required');
    END IF;
    IF p_role IS NULL OR pg_catalog.btrim(p_role) = '' THEN
        v_errors := v_errors || pliers._form_error('role', 'required', 'a role is required');
    ELSIF pg_catalog.length(p_role) > 100 OR NOT EXISTS (SELECT FROM pliers.roles AS r WHERE r.name = p_role) THEN
        v_errors := v_errors || pliers._form_error('role', 'unknown_role', 'not a role of the catalogue (pliers.roles)');
    ELSIF p_role = 'org_owner' THEN
        v_errors := v_errors || pliers._form_error(
            'role', 'not_assignable', 'org_owner is given through the user''s roles (users API), not by assignment');
    END IF;
    IF p_scope_type IS NULL THEN
        v_errors := v_errors || pliers._form_error('scope_type', 'required', 'organization, form, workflow or team');
    ELSIF p_scope_type = 'organization' AND p_scope_id IS NOT NULL THEN
        v_errors := v_errors || pliers._form_error(
            'scope_id', 'not_allowed', 'an organization-wide assignment has no scope_id');
    ELSIF p_scope_type <> 'organization' AND p_scope_id IS NULL THEN
        v_errors := v_errors || pliers._form_error('scope_id', 'required', 'the form, workflow or team is required');
    END IF;
    IF p_expires_at <= v_now THEN
        v_errors := v_errors || pliers._form_error('expires_at', 'not_in_future', 'the expiry must be in the future');
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid role assignment', v_errors);
    END IF;

    PERFORM pliers._require_user(p_user_id, TRUE);
    IF p_scope_type = 'form' THEN
        PERFORM FROM pliers.forms AS f
        WHERE f.organization_id = v_organization_id AND f.id = p_scope_id AND f.deleted_at IS NULL;
    ELSIF p_scope_type = 'workflow' THEN
        PERFORM FROM pliers.workflows AS w
        WHERE w.organization_id = v_organization_id AND w.id = p_scope_id AND w.deleted_at IS NULL;
    ELSIF p_scope_type = 'team' THEN
        PERFORM FROM pliers.teams AS t
        WHERE t.organization_id = v_organization_id AND t.id = p_scope_id AND t.deleted_at IS NULL;
    END IF;
    IF p_scope_type <> 'organization' AND NOT FOUND THEN
        PERFORM pliers._raise_not_found(p_scope_type::text, p_scope_id);
    END IF;
    PERFORM pliers._assert_grantable(ARRAY[p_role], p_scope_type, p_scope_id, 'role');

    PERFORM FROM pliers.role_assignments AS ra
    WHERE ra.organization_id = v_organization_id AND ra.user_id = p_user_id AND ra.role = p_role
        AND ra.scope_type = p_scope_type AND ra.scope_id IS NOT DISTINCT FROM p_scope_id
        AND ra.revoked_at IS NULL AND (ra.expires_at IS NULL OR ra.expires_at > v_now);
    IF FOUND THEN
        PERFORM pliers._raise_invalid('the role is granted already', pg_catalog.jsonb_build_array(
            pliers._form_error('role', 'already_granted', 'the user holds this role at this scope already')));
    END IF;
    -- An expired assignment of the same role and scope is closed, so that the new one
    -- can take its place (one live row per user, role and scope).
    UPDATE pliers.role_assignments AS ra
    SET revoked_at = v_now, revoked_by = v_user_id
    WHERE ra.organization_id = v_organization_id AND ra.user_id = p_user_id AND ra.role = p_role
        AND ra.scope_type = p_scope_type AND ra.scope_id IS NOT DISTINCT FROM p_scope_id
        AND ra.revoked_at IS NULL;
    INSERT INTO pliers.role_assignments AS ra (
        organization_id, user_id, role, scope_type, scope_id, granted_by, granted_at, expires_at
    )
    VALUES (v_organization_id, p_user_id, p_role, p_scope_type, p_scope_id, v_user_id, v_now, p_expires_at)
    RETURNING ra.* INTO v_assignment;
    PERFORM pliers._user_event(p_user_id, p_expected_revision, 'role.granted', pg_catalog.jsonb_build_object(
        'assignment_id', v_assignment.id, 'role', p_role, 'scope_type', p_scope_type, 'scope_id', p_scope_id,
        'expires_at', p_expires_at
    ));
    RETURN v_assignment;
END
$$;

COMMENT ON FUNCTION pliers.grant_role(uuid, text, pliers.scope_type, uuid, timestamptz, integer) IS
'Grants a role of the catalogue to a user, organization-wide or on one form, workflow or team, until p_expires_at '
'(NULL: no expiry). Needs user.manage, and every permission of the role at that scope (pliers._assert_grantable: '
'PL006, no escalation). PL001 with every error: user_id or role missing, unknown role (code unknown_role), '
'org_owner (code not_assignable: it is given through users.roles), scope_id missing or given for organization '
'scope, expiry not in the future, the role held already at that scope (code already_granted). PL002: no such '
'user, form, workflow or team; PL003: p_expected_revision is not the user''s revision; PL008. Appends '
'role.granted to the user''s aggregate. Returns the assignment.';

CREATE FUNCTION pliers.revoke_role(p_assignment_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.role_assignments
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_assignment pliers.role_assignments;
BEGIN
    PERFORM pliers._require_permission('user.manage');
    SELECT ra.* INTO v_assignment
    FROM pliers.role_assignments AS ra
    WHERE ra.organization_id = v_organization_id AND ra.id = p_assignment_id
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('role_assignment', p_assignment_id);
    END IF;
    IF v_assignment.revoked_at IS NOT NULL THEN
        RETURN v_assignment;
    END IF;
    PERFORM pliers._assert_grantable(
        ARRAY[v_assignment.role::text], v_assignment.scope_type, v_assignment.scope_id, 'role'
    );
    PERFORM pliers._user_event(
        v_assignment.user_id, p_expected_revision, 'role.revoked', pg_catalog.jsonb_build_object(
            'assignment_id', v_assignment.id, 'role', v_assignment.role,
            'scope_type', v_assignment.scope_type, 'scope_id', v_assignment.scope_id
        )
    );
    UPDATE pliers.role_assignments AS ra
    SET revoked_at = pg_catalog.now(), revoked_by = pliers.current_user_id()
    WHERE ra.organization_id = v_organization_id AND ra.id = v_assignment.id AND ra.revoked_at IS NULL
    RETURNING ra.* INTO v_assignment;
    RETURN v_assignment;
END
$$;

COMMENT ON FUNCTION pliers.revoke_role(uuid, integer) IS
'Revokes a role assignment (revoked_at set; the row stays as history). Needs user.manage and every permission of '
'the role at its scope (PL006: nobody takes away what they could not give). Idempotent: a revoked assignment is '
'returned as it is. PL002: no such assignment in this organization; PL003: stale p_expected_revision (the '
'user''s); PL008. Appends role.revoked to the user''s aggregate. Returns the assignment.';

CREATE FUNCTION pliers.list_role_assignments(p_user_id uuid DEFAULT NULL, p_include_inactive boolean DEFAULT FALSE)
RETURNS SETOF pliers.role_assignments
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
BEGIN
    IF p_user_id IS DISTINCT FROM pliers.current_user_id() THEN
        PERFORM pliers._require_permission('user.manage');
    END IF;
    RETURN QUERY
    SELECT ra.*
    FROM pliers.role_assignments AS ra
    WHERE ra.organization_id = v_organization_id
        AND (p_user_id IS NULL OR ra.user_id = p_user_id)
        AND (p_include_inactive OR (
            ra.revoked_at IS NULL AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
        ))
    ORDER BY ra.granted_at, ra.id;
END
$$;

COMMENT ON FUNCTION pliers.list_role_assignments(uuid, boolean) IS
'The live role assignments of a user (NULL: of every user), oldest first; p_include_inactive adds revoked and '
'expired ones. A user may list their own; anyone else''s needs user.manage (PL006). PL008.';

-- ---------------------------------------------------------------------------
-- Form collaborators
-- ---------------------------------------------------------------------------

-- The permission each collaborator flag gives on the form (pliers.collaborator_permissions);
-- giving a flag needs that permission on the form (no escalation).
CREATE FUNCTION pliers._require_collaborator_flags(
    p_form_id uuid, p_can_delete boolean, p_can_publish boolean, p_can_view_submissions boolean
)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
BEGIN
    PERFORM pliers._require_permission('form.edit', 'form', p_form_id);
    IF p_can_delete THEN
        PERFORM pliers._require_permission('form.delete', 'form', p_form_id);
    END IF;
    IF p_can_publish THEN
        PERFORM pliers._require_permission('form.publish', 'form', p_form_id);
    END IF;
    IF p_can_view_submissions THEN
        PERFORM pliers._require_permission('submission.view', 'form', p_form_id);
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_collaborator_flags(uuid, boolean, boolean, boolean) IS
'Private: PL006 unless the caller holds form.edit on the form (managing its collaborators) and the permission of '
'every flag given TRUE: can_delete -> form.delete, can_publish -> form.publish, can_view_submissions -> '
'submission.view (can_edit -> form.edit, held already).';

CREATE FUNCTION pliers._check_permission_level(p_permission_level text)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    IF p_permission_level IS NULL OR pg_catalog.btrim(p_permission_level) = '' THEN
        RETURN pg_catalog.jsonb_build_array(pliers._form_error('permission_level', 'required', 'a level is required'));
    ELSIF pg_catalog.length(p_permission_level) > 50 THEN
        RETURN pg_catalog.jsonb_build_array(
            pliers._form_error('permission_level', 'too_long', 'at most 50 characters')
        );
    END IF;
    RETURN '[]';
END
$$;

COMMENT ON FUNCTION pliers._check_permission_level(text) IS
'Private: the argument error of a collaborator''s permission_level (1..50 characters), or [].';

-- The collaborator functions come before pliers.forms and pliers.form_collaborators
-- (sql/40-forms.sql) in file order: they name neither, and return this type.
CREATE TYPE pliers.form_collaborator AS (
    id uuid,
    form_id uuid,
    user_id uuid,
    permission_level text,
    can_edit boolean,
    can_delete boolean,
    can_publish boolean,
    can_view_submissions boolean,
    granted_at timestamptz,
    granted_by uuid,
    revoked_at timestamptz
);

COMMENT ON TYPE pliers.form_collaborator IS
'A row of pliers.form_collaborators without its organization, as the collaborator functions of the API return it.';

CREATE FUNCTION pliers._collaborator(p_id uuid)
RETURNS pliers.form_collaborator
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_row pliers.form_collaborator;
BEGIN
    SELECT
        fc.id, fc.form_id, fc.user_id, fc.permission_level, fc.can_edit, fc.can_delete, fc.can_publish,
        fc.can_view_submissions, fc.granted_at, fc.granted_by, fc.revoked_at
    INTO v_row
    FROM pliers.form_collaborators AS fc
    WHERE fc.organization_id = v_organization_id AND fc.id = p_id;
    RETURN v_row;
END
$$;

COMMENT ON FUNCTION pliers._collaborator(uuid) IS
'Private: the row of form_collaborators p_id of the current organization, as the collaborator functions return it.';

CREATE FUNCTION pliers._collaborator_payload(p_id uuid)
RETURNS jsonb
LANGUAGE sql
STABLE
AS $$
    SELECT pg_catalog.to_jsonb(c) - ARRAY['id', 'user_id', 'granted_at', 'granted_by', 'revoked_at']
        || pg_catalog.jsonb_build_object('collaborator_id', c.id)
    FROM pliers._collaborator(p_id) AS c
$$;

COMMENT ON FUNCTION pliers._collaborator_payload(uuid) IS
'Private: the payload of the role.collaborator_* events: the collaborator row''s id, form, level and flags.';

CREATE FUNCTION pliers._lock_collaborator(p_form_id uuid, p_user_id uuid)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_id uuid;
BEGIN
    SELECT fc.id INTO v_id
    FROM pliers.form_collaborators AS fc
    WHERE fc.organization_id = v_organization_id AND fc.form_id = p_form_id AND fc.user_id = p_user_id
        AND fc.revoked_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form_collaborator', p_user_id);
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION pliers._lock_collaborator(uuid, uuid) IS
'Private: the id of the current collaborator row of a user on a form, locked; PL002 (object form_collaborator) '
'if none.';

CREATE FUNCTION pliers.add_form_collaborator(
    p_form_id uuid,
    p_user_id uuid,
    p_permission_level text DEFAULT 'viewer',
    p_can_edit boolean DEFAULT FALSE,
    p_can_delete boolean DEFAULT FALSE,
    p_can_publish boolean DEFAULT FALSE,
    p_can_view_submissions boolean DEFAULT FALSE,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.form_collaborator
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_form_id uuid;
    v_errors jsonb;
    v_id uuid;
BEGIN
    SELECT f.id INTO v_form_id FROM pliers._lock_form(p_form_id) AS f;
    PERFORM pliers._require_collaborator_flags(v_form_id, p_can_delete, p_can_publish, p_can_view_submissions);
    v_errors := pliers._check_permission_level(p_permission_level);
    IF p_can_edit IS NULL OR p_can_delete IS NULL OR p_can_publish IS NULL OR p_can_view_submissions IS NULL THEN
        v_errors := v_errors || pliers._form_error('can_edit', 'required', 'the can_* flags are true or false');
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid collaborator', v_errors);
    END IF;
    PERFORM pliers._require_user(p_user_id);
    PERFORM FROM pliers.form_collaborators AS fc
    WHERE fc.organization_id = v_organization_id AND fc.form_id = v_form_id AND fc.user_id = p_user_id
        AND fc.revoked_at IS NULL;
    IF FOUND THEN
        PERFORM pliers._raise_invalid('already a collaborator', pg_catalog.jsonb_build_array(
            pliers._form_error('user_id', 'already_collaborator', 'the user is a collaborator of the form')));
    END IF;

    INSERT INTO pliers.form_collaborators AS fc (
        organization_id, form_id, user_id, permission_level, can_edit, can_delete, can_publish,
        can_view_submissions, granted_by
    )
    VALUES (
        v_organization_id, v_form_id, p_user_id, p_permission_level, p_can_edit, p_can_delete, p_can_publish,
        p_can_view_submissions, pliers.current_user_id()
    )
    RETURNING fc.id INTO v_id;
    PERFORM pliers._user_event(
        p_user_id, p_expected_revision, 'role.collaborator_added', pliers._collaborator_payload(v_id)
    );
    RETURN pliers._collaborator(v_id);
END
$$;

COMMENT ON FUNCTION pliers.add_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer) IS
'Makes a user a collaborator of a form version with the given flags (can_edit -> form.edit, can_delete -> '
'form.delete, can_publish -> form.publish, can_view_submissions -> submission.view; any row -> form.view). Needs '
'form.edit on the form and the permission of every flag given (PL006: no escalation). PL001: permission_level '
'blank or longer than 50, a flag NULL, the user a current collaborator already (code already_collaborator); '
'PL002: no live form, no such user; PL003: stale p_expected_revision (the user''s); PL008. Appends '
'role.collaborator_added to the user''s aggregate. Returns the row.';

CREATE FUNCTION pliers.update_form_collaborator(
    p_form_id uuid,
    p_user_id uuid,
    p_permission_level text DEFAULT NULL,
    p_can_edit boolean DEFAULT NULL,
    p_can_delete boolean DEFAULT NULL,
    p_can_publish boolean DEFAULT NULL,
    p_can_view_submissions boolean DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.form_collaborator
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_form_id uuid;
    v_id uuid;
    v_before jsonb;
BEGIN
    SELECT f.id INTO v_form_id FROM pliers._lock_form(p_form_id) AS f;
    PERFORM pliers._require_collaborator_flags(v_form_id, p_can_delete, p_can_publish, p_can_view_submissions);
    IF p_permission_level IS NOT NULL AND pliers._check_permission_level(p_permission_level) <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid collaborator', pliers._check_permission_level(p_permission_level));
    END IF;
    v_id := pliers._lock_collaborator(v_form_id, p_user_id);
    v_before := pliers._collaborator_payload(v_id);
    UPDATE pliers.form_collaborators AS fc
    SET
        permission_level = coalesce(p_permission_level, fc.permission_level),
        can_edit = coalesce(p_can_edit, fc.can_edit),
        can_delete = coalesce(p_can_delete, fc.can_delete),
        can_publish = coalesce(p_can_publish, fc.can_publish),
        can_view_submissions = coalesce(p_can_view_submissions, fc.can_view_submissions)
    WHERE fc.organization_id = v_organization_id AND fc.id = v_id;
    IF pliers._collaborator_payload(v_id) IS DISTINCT FROM v_before THEN
        PERFORM pliers._user_event(
            p_user_id, p_expected_revision, 'role.collaborator_changed', pliers._collaborator_payload(v_id)
        );
    END IF;
    RETURN pliers._collaborator(v_id);
END
$$;

COMMENT ON FUNCTION pliers.update_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer) IS
'Changes a current collaborator''s level or flags; NULL leaves one as it is. Needs form.edit on the form and the '
'permission of every flag set TRUE (PL006). PL001: permission_level invalid; PL002: no live form, or the user is '
'no current collaborator (object form_collaborator); PL003: stale p_expected_revision (the user''s); PL008. '
'Appends role.collaborator_changed to the user''s aggregate unless nothing changes. Returns the row.';

CREATE FUNCTION pliers.revoke_form_collaborator(p_form_id uuid, p_user_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.form_collaborator
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_form_id uuid;
    v_id uuid;
BEGIN
    SELECT f.id INTO v_form_id FROM pliers._lock_form(p_form_id) AS f;
    PERFORM pliers._require_permission('form.edit', 'form', v_form_id);
    v_id := pliers._lock_collaborator(v_form_id, p_user_id);
    UPDATE pliers.form_collaborators AS fc
    SET revoked_at = pg_catalog.now()
    WHERE fc.organization_id = v_organization_id AND fc.id = v_id;
    PERFORM pliers._user_event(
        p_user_id, p_expected_revision, 'role.collaborator_revoked', pliers._collaborator_payload(v_id)
    );
    RETURN pliers._collaborator(v_id);
END
$$;

COMMENT ON FUNCTION pliers.revoke_form_collaborator(uuid, uuid, integer) IS
'Ends a user''s collaboration on a form (revoked_at set; the row stays as history). Needs form.edit on the form '
'(PL006). PL002: no live form, or no current collaborator; PL003: stale p_expected_revision (the user''s); PL008. '
'Appends role.collaborator_revoked to the user''s aggregate. Returns the row.';

-- ---------------------------------------------------------------------------
-- Effective permissions
-- ---------------------------------------------------------------------------

-- Statement by statement, each on one table of one tenant (one shard on Citus), as
-- pliers._user_permissions computes the organization-wide part.
CREATE FUNCTION pliers.effective_permissions(p_user_id uuid DEFAULT NULL)
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

    -- 3. Current form collaborator rows (pliers.collaborator_permissions).
    RETURN QUERY
    SELECT p.permission, p.permission <> ALL(v_denied), 'form'::pliers.scope_type, fc.form_id,
        'collaborator'::text, fc.permission_level::text, fc.id, NULL::timestamptz
    FROM pliers.form_collaborators AS fc
    CROSS JOIN LATERAL pg_catalog.unnest(
        pliers.collaborator_permissions(fc.can_edit, fc.can_delete, fc.can_publish, fc.can_view_submissions)
    ) AS p (permission)
    WHERE fc.organization_id = v_organization_id AND fc.user_id = v_user_id AND fc.revoked_at IS NULL
    ORDER BY p.permission, fc.form_id;

    -- 4. Current membership of live teams (pliers.team_role_permissions).
    RETURN QUERY
    SELECT p.permission, p.permission <> ALL(v_denied), 'team'::pliers.scope_type, tm.team_id,
        'team_member'::text, tm.role::text, tm.id, NULL::timestamptz
    FROM pliers.team_members AS tm
    INNER JOIN pliers.teams AS t ON tm.organization_id = t.organization_id AND tm.team_id = t.id
    CROSS JOIN LATERAL pg_catalog.unnest(pliers.team_role_permissions(tm.role)) AS p (permission)
    WHERE tm.organization_id = v_organization_id AND tm.user_id = v_user_id AND tm.removed_at IS NULL
        AND t.deleted_at IS NULL
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

COMMENT ON FUNCTION pliers.effective_permissions(uuid) IS
'What a user (default: the caller) may do and why: one row per permission and reason. source: role (a role of '
'users.roles, organization-wide), assignment (a live role assignment at its scope; reference_id its id, '
'expires_at its expiry), collaborator (a current form_collaborators row: form.view and one permission per flag; '
'role is its permission_level, reference_id its id), team_member (current membership of a live team: role is the '
'team role), grant and denial (users.permissions true and false). allowed is FALSE for a denied permission: a '
'denial overrides every grant. A form''s visibility (form.view, submission.create for every user) is the form''s, '
'not the user''s, and is not listed. Rows come by source in that order, each by permission. One''s own needs no '
'permission; another user''s needs user.manage (PL006). PL002: no such user; PL008.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers._object_event(uuid, text, jsonb),
pliers._user_event(uuid, integer, text, jsonb),
pliers._require_user(uuid, boolean),
pliers._lock_team(uuid),
pliers._assert_team_owner_remains(uuid, uuid),
pliers._check_team_attributes(text, text, text, boolean),
pliers._raise_team_slug_taken(text),
pliers.create_team(text, text, text, uuid),
pliers.update_team(uuid, text, text, text),
pliers.delete_team(uuid),
pliers.add_team_member(uuid, uuid, pliers.team_role),
pliers.remove_team_member(uuid, uuid),
pliers.set_team_member_role(uuid, uuid, pliers.team_role),
pliers.list_teams(),
pliers.list_team_members(uuid),
pliers.grant_role(uuid, text, pliers.scope_type, uuid, timestamptz, integer),
pliers.revoke_role(uuid, integer),
pliers.list_role_assignments(uuid, boolean),
pliers._require_collaborator_flags(uuid, boolean, boolean, boolean),
pliers._check_permission_level(text),
pliers._collaborator(uuid),
pliers._collaborator_payload(uuid),
pliers._lock_collaborator(uuid, uuid),
pliers.add_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer),
pliers.update_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer),
pliers.revoke_form_collaborator(uuid, uuid, integer),
pliers.effective_permissions(uuid)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.create_team(text, text, text, uuid),
pliers.update_team(uuid, text, text, text),
pliers.delete_team(uuid),
pliers.add_team_member(uuid, uuid, pliers.team_role),
pliers.remove_team_member(uuid, uuid),
pliers.set_team_member_role(uuid, uuid, pliers.team_role),
pliers.list_teams(),
pliers.list_team_members(uuid),
pliers.grant_role(uuid, text, pliers.scope_type, uuid, timestamptz, integer),
pliers.revoke_role(uuid, integer),
pliers.list_role_assignments(uuid, boolean),
pliers.add_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer),
pliers.update_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer),
pliers.revoke_form_collaborator(uuid, uuid, integer),
pliers.effective_permissions(uuid)
TO pliers_app;
