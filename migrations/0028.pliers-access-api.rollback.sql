-- Rollback of 0028: the access API's functions dropped; create_api_key and
-- revoke_api_key as in 0022 (no events).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION pliers.rotate_api_key(uuid, integer);
DROP FUNCTION pliers.list_api_keys(boolean);
DROP FUNCTION pliers.effective_permissions(uuid);
DROP FUNCTION pliers.revoke_form_collaborator(uuid, uuid, integer);
DROP FUNCTION pliers.update_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer);
DROP FUNCTION pliers.add_form_collaborator(uuid, uuid, text, boolean, boolean, boolean, boolean, integer);
DROP FUNCTION pliers._lock_collaborator(uuid, uuid);
DROP FUNCTION pliers._collaborator_payload(uuid);
DROP FUNCTION pliers._collaborator(uuid);
DROP FUNCTION pliers._check_permission_level(text);
DROP FUNCTION pliers._require_collaborator_flags(uuid, boolean, boolean, boolean);
DROP FUNCTION pliers.list_role_assignments(uuid, boolean);
DROP FUNCTION pliers.revoke_role(uuid, integer);
DROP FUNCTION pliers.grant_role(uuid, text, pliers.scope_type, uuid, timestamptz, integer);
DROP FUNCTION pliers.list_team_members(uuid);
DROP FUNCTION pliers.list_teams();
DROP FUNCTION pliers.set_team_member_role(uuid, uuid, pliers.team_role);
DROP FUNCTION pliers.remove_team_member(uuid, uuid);
DROP FUNCTION pliers.add_team_member(uuid, uuid, pliers.team_role);
DROP FUNCTION pliers.delete_team(uuid);
DROP FUNCTION pliers.update_team(uuid, text, text, text);
DROP FUNCTION pliers.create_team(text, text, text, uuid);
DROP FUNCTION pliers._raise_team_slug_taken(text);
DROP FUNCTION pliers._check_team_attributes(text, text, text, boolean);
DROP FUNCTION pliers._assert_team_owner_remains(uuid, uuid);
DROP FUNCTION pliers._lock_team(uuid);
DROP FUNCTION pliers._require_user(uuid, boolean);
DROP FUNCTION pliers._user_event(uuid, integer, text, jsonb);
DROP FUNCTION pliers._object_event(uuid, text, jsonb);
DROP TYPE pliers.form_collaborator;

CREATE OR REPLACE FUNCTION pliers.create_api_key(
    p_name text,
    p_environment text DEFAULT 'live',
    p_scopes text[] DEFAULT '{}',
    p_expires_at timestamptz DEFAULT NULL,
    p_rate_limit_per_minute integer DEFAULT 60
)
RETURNS TABLE (id uuid, key text, prefix text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_errors jsonb := '[]';
    v_scope_errors jsonb;
    v_unknown text[];
    v_key text;
    v_hash text;
    v_prefix text;
    v_id uuid;
    v_organization_id uuid;
BEGIN
    PERFORM pliers._require_permission('api_key.manage');

    IF p_name IS NULL OR pg_catalog.btrim(p_name) = '' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'required', 'message', 'a name is required');
    ELSIF pg_catalog.length(p_name) > 255 THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'too_long', 'message', 'at most 255 characters');
    END IF;
    IF p_environment IS NULL OR p_environment !~ '^[a-z]{2,8}$' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'environment', 'code', 'invalid_format',
            'message', '2 to 8 lower-case letters, e.g. live or test');
    END IF;
    IF p_scopes IS NULL THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'scopes', 'code', 'invalid', 'message', 'scopes must be an array without NULL');
    ELSE
        v_scope_errors := pliers._check_text_array('scopes', p_scopes, 100, 255);
        v_errors := v_errors || v_scope_errors;
    END IF;
    IF v_scope_errors = '[]' THEN
        SELECT pg_catalog.array_agg(s.scope ORDER BY s.scope)
        INTO v_unknown
        FROM pg_catalog.unnest(p_scopes) AS s (scope)
        WHERE NOT EXISTS (SELECT FROM pliers.roles AS r WHERE s.scope = ANY(r.permissions));
        IF v_unknown IS NOT NULL THEN
            v_errors := v_errors || pg_catalog.jsonb_build_object(
                'path', 'scopes', 'code', 'unknown_permission',
                'message', 'not a permission of the catalogue: ' || pg_catalog.array_to_string(v_unknown, ', '));
        END IF;
    END IF;
    IF p_expires_at <= pg_catalog.now() THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'expires_at', 'code', 'not_in_future', 'message', 'the expiry must be in the future');
    END IF;
    IF p_rate_limit_per_minute IS NULL OR p_rate_limit_per_minute <= 0 THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'rate_limit_per_minute', 'code', 'not_positive', 'message', 'must be a positive integer');
    END IF;
    IF pg_catalog.jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION 'invalid API key parameters'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', v_errors)::text;
    END IF;

    v_key := 'pk_' || p_environment || '_' || pg_catalog.encode(
        pg_catalog.sha256(pg_catalog.convert_to(
            pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text
            || pg_catalog.gen_random_uuid()::text, 'UTF8'
        )),
        'hex'
    );
    v_prefix := pg_catalog.left(v_key, pg_catalog.length(p_environment) + 12);
    v_hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_key, 'UTF8')), 'hex');
    -- The tenant as a value (one shard on Citus), the scopes computed before the INSERT
    -- (Citus refuses a sub-query in VALUES).
    v_organization_id := pliers.current_organization_id();
    p_scopes := ARRAY(SELECT DISTINCT s.scope FROM pg_catalog.unnest(p_scopes) AS s (scope) ORDER BY s.scope);

    INSERT INTO pliers.api_key_hashes (key_hash, organization_id) VALUES (v_hash, v_organization_id);
    INSERT INTO pliers.api_keys AS k (
        organization_id, name, key_hash, prefix, scopes, rate_limit_per_minute, expires_at, created_by
    )
    VALUES (
        v_organization_id, p_name, v_hash, v_prefix, p_scopes, p_rate_limit_per_minute, p_expires_at,
        pliers.current_user_id()
    )
    RETURNING k.id INTO v_id;

    RETURN QUERY SELECT v_id, v_key, v_prefix;
END
$$;

COMMENT ON FUNCTION pliers.create_api_key(text, text, text[], timestamptz, integer) IS
'Creates an API key of the current organization, created by the current user (needs api_key.manage, else PL006; '
'no context: PL008). Returns its id, the full key pk_<environment>_<64 hex digits> (shown this once: only its '
'SHA-256 is stored) and its display prefix. p_scopes: permission names of the catalogue, empty = the creator''s '
'permissions. Bad arguments raise PL001 (DETAIL {errors: [{path, code, message}]}).';

CREATE OR REPLACE FUNCTION pliers.revoke_api_key(p_id uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
BEGIN
    PERFORM pliers._require_permission('api_key.manage');

    UPDATE pliers.api_keys AS k
    SET revoked_at = pg_catalog.now(), revoked_by = pliers.current_user_id()
    WHERE k.organization_id = v_organization_id
        AND k.id = p_id
        AND k.revoked_at IS NULL;

    IF NOT FOUND AND NOT EXISTS (
        SELECT
        FROM pliers.api_keys AS k
        WHERE k.organization_id = v_organization_id AND k.id = p_id
    ) THEN
        RAISE EXCEPTION 'API key % not found', p_id
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'api_key', 'id', p_id)::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.revoke_api_key(uuid) IS
'Revokes an API key of the current organization (needs api_key.manage, else PL006); it never authenticates again. '
'Idempotent: an already revoked key stays as it was. A key of no (or another) organization raises PL002.';

RESET ROLE;
