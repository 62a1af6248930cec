-- API keys and webhooks: the functions of the API that create, authenticate, list,
-- rotate and revoke keys, and create webhooks. The tables are in sql/81-integrations.sql.
--
-- A key is pk_<environment>_<64 hex digits>. The random part is the SHA-256 of three
-- gen_random_uuid() values (3 x 122 random bits from the server's strong random
-- source, so the 256-bit digest carries 256 bits of entropy): no pgcrypto needed.
-- The database keeps only its SHA-256 (api_keys.key_hash) and a display prefix; the
-- full key is returned once, by create_api_key.
--
-- An API key acts as its creator: authenticate_api_key opens the creator's context,
-- with the key and its scopes in it (pliers.current_request(), sql/91-tenancy.sql). Scopes are permission names
-- of the catalogue (pliers.roles); a key with scopes can do only what both its scopes
-- and its creator's permissions allow, a key without scopes what its creator can.
--
-- Every function here is SECURITY DEFINER (it calls private helpers the application
-- may not execute, and authenticate_api_key must find a key before any tenant context
-- exists); RLS still binds it to the current tenant (docs/security.md).

CREATE FUNCTION pliers.create_api_key(
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
    -- The prefix only: never the key nor its hash.
    PERFORM pliers._object_event(v_id, 'api_key.created', pg_catalog.jsonb_build_object(
        'name', p_name, 'prefix', v_prefix, 'scopes', p_scopes, 'expires_at', p_expires_at,
        'rate_limit_per_minute', p_rate_limit_per_minute
    ));

    RETURN QUERY SELECT v_id, v_key, v_prefix;
END
$$;

COMMENT ON FUNCTION pliers.create_api_key(text, text, text[], timestamptz, integer) IS
'Creates an API key of the current organization, created by the current user (needs api_key.manage, else PL006; '
'no context: PL008). Returns its id, the full key pk_<environment>_<64 hex digits> (shown this once: only its '
'SHA-256 is stored) and its display prefix. p_scopes: permission names of the catalogue, empty = the creator''s '
'permissions. Bad arguments raise PL001 (DETAIL {errors: [{path, code, message}]}). Appends api_key.created '
'(aggregate_type organization, aggregate_id the key''s id: sql/37-access-api.sql; name, prefix, scopes, expiry, '
'rate limit, never the key or its hash).';

CREATE FUNCTION pliers.authenticate_api_key(
    p_key text,
    p_session_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL,
    p_correlation_id uuid DEFAULT NULL
)
RETURNS TABLE (organization_id uuid, user_id uuid, api_key_id uuid, scopes text[])
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_hash text := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(coalesce(p_key, ''), 'UTF8')), 'hex');
    v_organization_id uuid;
    v_key record;
    v_reason text;
BEGIN
    -- No tenant yet: the global directory of hashes names it, then the key is read
    -- in that tenant (one shard on Citus).
    SELECT h.organization_id INTO v_organization_id FROM pliers.api_key_hashes AS h WHERE h.key_hash = v_hash;
    SELECT k.organization_id, k.id, k.created_by, k.scopes, k.revoked_at, k.expires_at
    INTO v_key
    FROM pliers.api_keys AS k
    WHERE k.organization_id = v_organization_id AND k.key_hash = v_hash;

    IF v_key.id IS NULL THEN
        v_reason := 'unknown';
    ELSIF v_key.revoked_at IS NOT NULL THEN
        v_reason := 'revoked';
    ELSIF v_key.expires_at <= pg_catalog.now() THEN
        v_reason := 'expired';
    ELSIF pliers._set_context(
        v_key.organization_id, v_key.created_by, p_session_id, p_ip_address, p_user_agent, p_correlation_id,
        v_key.id, v_key.scopes
    ) IS NOT NULL THEN
        v_reason := 'creator_not_active';
    END IF;
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'invalid API key'
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'api_key.authenticate', 'object', 'api_key', 'reason', v_reason
                )::text;
    END IF;

    -- last_used_at at most once a minute per key, and never waiting: a request that
    -- finds the row locked by another one skips the update. Not in read-only transactions.
    IF pg_catalog.current_setting('transaction_read_only') = 'off' THEN
        PERFORM
        FROM pliers.api_keys AS k
        WHERE k.organization_id = v_key.organization_id
            AND k.id = v_key.id
            AND (k.last_used_at IS NULL OR k.last_used_at < pg_catalog.now() - INTERVAL '1 minute')
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE pliers.api_keys AS k
            SET last_used_at = pg_catalog.now()
            WHERE k.organization_id = v_key.organization_id AND k.id = v_key.id;
        END IF;
    END IF;

    RETURN QUERY SELECT v_key.organization_id, v_key.created_by, v_key.id, v_key.scopes;
END
$$;

COMMENT ON FUNCTION pliers.authenticate_api_key(text, uuid, inet, text, uuid) IS
'Resolves a presented API key without a tenant context and opens the context of its organization, acting as the '
'key''s creator, the key and its scopes in the context (pliers.current_request().api_key_id; as pliers.set_context otherwise does). '
'Unknown, revoked and expired keys, and keys whose creator is no longer an active user, raise PL006 with the same '
'message (DETAIL {permission, object, reason}: unknown, revoked, expired, creator_not_active). '
'Updates last_used_at when it is older than a minute (skipped if the row is locked or the transaction read-only). '
'Returns the organization, the user, the key and its scopes.';

CREATE FUNCTION pliers.revoke_api_key(p_id uuid)
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

    IF FOUND THEN
        PERFORM pliers._object_event(p_id, 'api_key.revoked', '{}');
    ELSIF NOT EXISTS (
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
'Idempotent: an already revoked key stays as it was. A key of no (or another) organization raises PL002. '
'Appends api_key.revoked when it revokes.';

CREATE FUNCTION pliers.list_api_keys(p_include_revoked boolean DEFAULT FALSE)
RETURNS TABLE (
    id uuid,
    name text,
    prefix text,
    scopes text[],
    rate_limit_per_minute integer,
    expires_at timestamptz,
    last_used_at timestamptz,
    created_by uuid,
    created_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id constant uuid := pliers._require_context();
BEGIN
    PERFORM pliers._require_permission('api_key.manage');
    RETURN QUERY
    SELECT
        k.id, k.name::text, k.prefix::text, k.scopes, k.rate_limit_per_minute, k.expires_at, k.last_used_at,
        k.created_by, k.created_at, k.revoked_at, k.revoked_by
    FROM pliers.api_keys AS k
    WHERE k.organization_id = v_organization_id AND (p_include_revoked OR k.revoked_at IS NULL)
    ORDER BY k.created_at, k.id;
END
$$;

COMMENT ON FUNCTION pliers.list_api_keys(boolean) IS
'The API keys of the current organization, oldest first (needs api_key.manage, else PL006; PL008): prefix, scopes, '
'rate limit, expiry, last use, creator, revocation; never the key or its hash. Revoked keys only with '
'p_include_revoked; expired ones are listed (expires_at tells).';

-- Rotation: a new key with the old one's name, environment, scopes, expiry and rate
-- limit, acting as the caller (a key acts as its creator); the old one ends at once,
-- or after a grace period during which both work (its expires_at brought forward: no
-- job has to come back to revoke it).
CREATE FUNCTION pliers.rotate_api_key(p_id uuid, p_grace_seconds integer DEFAULT NULL)
RETURNS TABLE (id uuid, key text, prefix text, replaced_id uuid, replaced_until timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_now constant timestamptz := pg_catalog.now();
    v_old record;
    v_new record;
    v_until timestamptz;
    v_state text;
BEGIN
    PERFORM pliers._require_permission('api_key.manage');
    IF p_grace_seconds < 0 THEN
        PERFORM pliers._raise_invalid('invalid grace period', pg_catalog.jsonb_build_array(
            pliers._form_error('grace_seconds', 'negative', 'the grace period is zero or more seconds')));
    ELSIF p_grace_seconds > 2592000 THEN
        PERFORM pliers._raise_invalid('invalid grace period', pg_catalog.jsonb_build_array(
            pliers._form_error('grace_seconds', 'too_long', 'the grace period is at most 30 days (2592000 s)')));
    END IF;
    SELECT k.id, k.name, k.prefix, k.scopes, k.rate_limit_per_minute, k.expires_at, k.revoked_at
    INTO v_old
    FROM pliers.api_keys AS k
    WHERE k.organization_id = v_organization_id AND k.id = p_id
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('api_key', p_id);
    END IF;
    IF v_old.revoked_at IS NOT NULL THEN
        v_state := 'revoked';
    ELSIF v_old.expires_at <= v_now THEN
        v_state := 'expired';
    END IF;
    IF v_state IS NOT NULL THEN
        RAISE EXCEPTION 'API key % is %: it cannot be rotated', p_id, v_state
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'api_key', 'id', p_id, 'from', v_state, 'to', 'rotated'
                )::text,
                HINT = 'Create a new key with pliers.create_api_key.';
    END IF;

    SELECT c.id, c.key, c.prefix INTO v_new
    FROM pliers.create_api_key(
        v_old.name, pg_catalog.split_part(v_old.prefix, '_', 2), v_old.scopes, v_old.expires_at,
        v_old.rate_limit_per_minute
    ) AS c;
    IF coalesce(p_grace_seconds, 0) = 0 THEN
        v_until := v_now;
        UPDATE pliers.api_keys AS k
        SET revoked_at = v_now, revoked_by = pliers.current_user_id()
        WHERE k.organization_id = v_organization_id AND k.id = v_old.id;
    ELSE
        v_until := least(
            coalesce(v_old.expires_at, 'infinity'), v_now + pg_catalog.make_interval(secs => p_grace_seconds)
        );
        UPDATE pliers.api_keys AS k
        SET expires_at = v_until
        WHERE k.organization_id = v_organization_id AND k.id = v_old.id;
    END IF;
    PERFORM pliers._object_event(v_old.id, 'api_key.rotated', pg_catalog.jsonb_build_object(
        'replaced_by', v_new.id, 'prefix', v_new.prefix, 'valid_until', v_until
    ));
    RETURN QUERY SELECT v_new.id, v_new.key, v_new.prefix, v_old.id, v_until;
END
$$;

COMMENT ON FUNCTION pliers.rotate_api_key(uuid, integer) IS
'Replaces an API key (needs api_key.manage, else PL006; PL008): a new key with the old one''s name, environment, '
'scopes, expiry and rate limit, created by the caller (a key acts as its creator), returned once as create_api_key '
'returns it, with the old key''s id and the time it stops working (replaced_until). p_grace_seconds NULL or zero: '
'the old key is revoked now; else it keeps working that many seconds (at most 30 days; its expires_at brought '
'forward, never extended). PL001: p_grace_seconds negative or over 30 days; PL002: no such key in this organization; PL004 (DETAIL '
'{object, id, from: revoked|expired, to: rotated}): the key no longer works. Appends api_key.created (the new key) '
'and api_key.rotated (the old: replaced_by, the new prefix, valid_until).';

REVOKE ALL ON FUNCTION pliers.list_api_keys(boolean), pliers.rotate_api_key(uuid, integer) FROM public;
GRANT EXECUTE ON FUNCTION pliers.list_api_keys(boolean), pliers.rotate_api_key(uuid, integer) TO pliers_app;

CREATE FUNCTION pliers.create_webhook(
    p_name text,
    p_url text,
    p_events text[],
    p_secret_ciphertext bytea,
    p_secret_key_id text,
    p_headers jsonb DEFAULT '{}'
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_errors jsonb := '[]';
    v_id uuid;
BEGIN
    PERFORM pliers._require_permission('webhook.manage');

    IF p_name IS NULL OR pg_catalog.btrim(p_name) = '' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'required', 'message', 'a name is required');
    ELSIF pg_catalog.length(p_name) > 255 THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'name', 'code', 'too_long', 'message', 'at most 255 characters');
    END IF;
    IF p_url IS NULL OR p_url !~ '^https?://' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'url', 'code', 'invalid_format', 'message', 'an absolute http(s) URL is required');
    END IF;
    IF coalesce(pg_catalog.cardinality(p_events), 0) = 0
        OR EXISTS (SELECT FROM pg_catalog.unnest(p_events) AS e (name) WHERE coalesce(pg_catalog.btrim(e.name), '') = '') THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'events', 'code', 'invalid', 'message', 'at least one event name, none blank');
    END IF;
    v_errors := v_errors || pliers._check_text_array('events', p_events, 100, 255);
    IF (p_secret_ciphertext IS NULL) <> (p_secret_key_id IS NULL) THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'secret_key_id', 'code', 'secret_incomplete',
            'message', 'the secret ciphertext and the id of its key go together');
    END IF;
    IF p_headers IS NULL OR pg_catalog.jsonb_typeof(p_headers) <> 'object' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object(
            'path', 'headers', 'code', 'invalid', 'message', 'headers must be a JSON object');
    END IF;
    IF pg_catalog.jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION 'invalid webhook parameters'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', v_errors)::text;
    END IF;

    INSERT INTO pliers.webhooks AS w (
        organization_id, name, url, events, headers, secret_ciphertext, secret_key_id, created_by
    )
    VALUES (
        v_organization_id, p_name, p_url, p_events, p_headers,
        p_secret_ciphertext, p_secret_key_id, pliers.current_user_id()
    )
    RETURNING w.id INTO v_id;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION pliers.create_webhook(text, text, text[], bytea, text, jsonb) IS
'Creates a webhook of the current organization (needs webhook.manage, else PL006; no context: PL008) and returns '
'its id. The signing secret arrives encrypted by the Python library (p_secret_ciphertext, with the id of its key); '
'tenants can never read it back, only the delivery worker (role pliers_worker). Bad arguments raise PL001.';
