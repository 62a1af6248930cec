-- Argument checks (issue "Hardening"): only documented SQLSTATEs from the API, whatever the arguments
-- (tests/test_fuzz.py). A text[] argument (tags, scopes, events) that is two-dimensional raised 0A000: every
-- one is now checked by pliers._check_text_array (one-dimensional, no NULL item, at most 100 items of at most
-- 255 characters: PL001); pliers.scoped_answers(NULL, ...) raised 22004 and is now NULL.
-- Hand-written delta: sql/45, 50, 55 and 92 hold the same changes.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/45-forms-api.sql
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

REVOKE ALL ON FUNCTION pliers._check_text_array(text, text[], integer, integer) FROM public;

-- sql/45-forms-api.sql
CREATE OR REPLACE FUNCTION pliers._check_form_attributes(
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

-- sql/50-submissions.sql
CREATE OR REPLACE FUNCTION pliers.scoped_answers(p_form_id uuid, p_answers jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN p_form_id IS NOT NULL THEN pg_catalog.jsonb_set('{}'::jsonb, ARRAY[p_form_id::text], p_answers) END;
END;

COMMENT ON FUNCTION pliers.scoped_answers(uuid, jsonb) IS
'The answers p_answers under the key p_form_id, {"<form_id>": answers}: the expression of the GIN index '
'submissions_answers_idx, which pliers.list_submissions queries. data @> filter within a form is '
'scoped_answers(form_id, data) @> scoped_answers(form_id, filter). Executable by pliers_app and pliers_readonly: '
'writing a submission evaluates it. Inlinable. NULL when p_form_id is NULL (as when p_answers is).';

-- sql/55-submissions-api.sql
CREATE OR REPLACE FUNCTION pliers._check_submission_attributes(
    p_metadata jsonb,
    p_tags text[],
    p_source text,
    p_external_id text
)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_metadata IS NOT NULL AND pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    END IF;
    v_errors := v_errors || pliers._check_text_array('tags', p_tags, 100, 255);
    IF p_source IS NOT NULL AND (pg_catalog.btrim(p_source) = '' OR pg_catalog.length(p_source) > 50) THEN
        v_errors := v_errors || pliers._form_error('source', 'invalid', 'the source is 1 to 50 characters');
    END IF;
    IF p_external_id IS NOT NULL AND (pg_catalog.btrim(p_external_id) = '' OR pg_catalog.length(p_external_id) > 255) THEN
        v_errors := v_errors || pliers._form_error('external_id', 'invalid', 'the external id is 1 to 255 characters');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_submission_attributes(jsonb, text[], text, text) IS
'Private: argument errors ({path, code, message}) of a submission''s metadata, tags, source and external id.';

-- sql/92-api-keys.sql
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
    v_prefix text;
    v_id uuid;
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

    INSERT INTO pliers.api_keys AS k (
        organization_id, name, key_hash, prefix, scopes, rate_limit_per_minute, expires_at, created_by
    )
    VALUES (
        pliers.current_organization_id(),
        p_name,
        pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_key, 'UTF8')), 'hex'),
        v_prefix,
        ARRAY(SELECT DISTINCT s.scope FROM pg_catalog.unnest(p_scopes) AS s (scope) ORDER BY s.scope),
        p_rate_limit_per_minute,
        p_expires_at,
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

-- sql/92-api-keys.sql
CREATE OR REPLACE FUNCTION pliers.create_webhook(
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
        pliers.current_organization_id(), p_name, p_url, p_events, p_headers,
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

-- The migration runner records the migration as itself.
RESET ROLE;
