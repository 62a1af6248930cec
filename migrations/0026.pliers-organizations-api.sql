-- Organizations through the API (issue 15): the provisioning role pliers_platform and
-- its functions (create, list, find, suspend, reactivate, soft-delete, subscription
-- moves, plan), the organization read and edited in its own tenant context, the JSON
-- Schemas of settings, features and limits, and set_context refusing the users of a
-- suspended organization (organizations.suspended_at).
-- sql/00, 30, 35 and 91 hold the same changes.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- sql/00-foundation.sql: roles are cluster-wide, created when missing.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_platform') THEN
        CREATE ROLE pliers_platform NOLOGIN NOBYPASSRLS;
    END IF;
END
$roles$;

SET LOCAL ROLE pliers_owner;

GRANT USAGE ON SCHEMA pliers TO pliers_platform;

-- sql/30-organizations.sql
ALTER TABLE pliers.organizations ADD COLUMN suspended_at timestamptz;

COMMENT ON COLUMN pliers.organizations.suspended_at IS
'Set while the platform suspends the organization (pliers.suspend_organization): set_context refuses its users';

-- sql/91-tenancy.sql
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
AS $$
DECLARE
    v_status pliers.user_status;
    v_organization_deleted_at timestamptz;
    v_organization_suspended_at timestamptz;
    v_permissions text[];
    v_denied text[];
    v_valid boolean;
BEGIN
    -- No SET clause (a few us a call): its callers run with search_path = '' and every
    -- name here is qualified; the plans of these primary-key lookups are generic after
    -- five calls without plan_cache_mode.
    PERFORM pliers._store_context(NULL);
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RETURN 'no_context';
    END IF;

    SELECT u.status, o.deleted_at, o.suspended_at, p.permissions, p.denied, p.valid_until > pg_catalog.now()
    INTO v_status, v_organization_deleted_at, v_organization_suspended_at, v_permissions, v_denied, v_valid
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    LEFT JOIN pliers.user_permissions AS p ON u.organization_id = p.organization_id AND u.id = p.user_id
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        RETURN 'not_a_member';
    ELSIF v_organization_deleted_at IS NOT NULL THEN
        RETURN 'organization_deleted';
    ELSIF v_organization_suspended_at IS NOT NULL THEN
        RETURN 'organization_suspended';
    ELSIF v_status <> 'active' THEN
        RETURN 'user_' || v_status::text;
    END IF;
    IF v_valid IS NOT TRUE THEN
        SELECT l.permissions, l.denied
        INTO v_permissions, v_denied
        FROM pliers._user_permissions(p_organization_id, p_user_id) AS l;
        IF pg_catalog.current_setting('transaction_read_only') = 'off'
            AND pg_catalog.current_setting('transaction_isolation') = 'read committed' THEN
            PERFORM pliers._refresh_user_permissions(p_organization_id, p_user_id, TRUE);
        END IF;
    END IF;
    IF pg_catalog.cardinality(p_api_key_scopes) > 0 THEN
        v_permissions := ARRAY(
            SELECT g.permission FROM pg_catalog.unnest(v_permissions) AS g (permission)
            WHERE g.permission = ANY(p_api_key_scopes)
        );
    END IF;

    PERFORM pliers._store_context(pliers._context_payload(
        p_organization_id, p_user_id, v_permissions, p_api_key_id, v_denied, p_api_key_scopes,
        p_session_id, p_correlation_id, p_ip_address, p_user_agent
    ));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._set_context(uuid, uuid, uuid, inet, text, uuid, uuid, text[]) IS
'Private (set_context, authenticate_api_key). Clears the context, then, if p_user_id is an active user of the '
'non-deleted, non-suspended organization p_organization_id, stores the signed context (pliers.context: '
'organization, user, organization-wide permissions restricted to p_api_key_scopes when that is not empty, denials, '
'API key, request metadata) and returns NULL. Otherwise leaves no context and returns why: no_context, '
'not_a_member, organization_deleted, organization_suspended, user_<status>. The permissions come from '
'pliers.user_permissions; past its valid_until they are computed again, and stored again by a read-write READ '
'COMMITTED transaction.';

COMMENT ON FUNCTION pliers.set_context(uuid, uuid, uuid, inet, text, uuid) IS
'Opens the tenant context of this transaction: organization, acting user and request metadata, as the signed '
'transaction-local setting pliers.context, valid in this transaction only (call it in every transaction, after BEGIN). '
'The user must be an active user (status active) of a non-deleted, non-suspended organization, else PL006 '
'(DETAIL {permission, object, id, user_id, reason}) and no context; a NULL organization or user raises PL008. '
'Also reads the user''s organization-wide permissions (pliers.current_permissions, pliers.user_permissions). '
'SECURITY DEFINER: the membership check must read users before RLS lets anyone see them.';

-- sql/35-organizations-api.sql
-- ---------------------------------------------------------------------------
-- JSON Schemas, interpreted
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.organization_schema(p_name text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE p_name
        WHEN 'settings' THEN '{
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "branding": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "primary_color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                        "secondary_color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                        "accent_color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                        "logo_url": {"type": "string", "pattern": "^https://\\S+$", "maxLength": 2048}
                    }
                },
                "security": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "mfa_required": {"type": "boolean"},
                        "password_policy": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                                "min_length": {"type": "integer", "minimum": 8, "maximum": 128},
                                "require_special": {"type": "boolean"},
                                "max_failed_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
                                "lockout_minutes": {"type": "integer", "minimum": 1, "maximum": 1440}
                            }
                        },
                        "session_timeout_minutes": {"type": "integer", "minimum": 5, "maximum": 43200}
                    }
                },
                "notifications": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "email_enabled": {"type": "boolean"},
                        "digest": {"type": "string", "enum": ["none", "daily", "weekly"]},
                        "sender_name": {"type": "string", "minLength": 1, "maxLength": 255}
                    }
                }
            }
        }'::jsonb
        WHEN 'features' THEN '{
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "api_keys": {"type": "boolean"},
                "webhooks": {"type": "boolean"},
                "workflows": {"type": "boolean"},
                "file_uploads": {"type": "boolean"},
                "public_forms": {"type": "boolean"},
                "custom_branding": {"type": "boolean"},
                "sso": {"type": "boolean"},
                "audit_export": {"type": "boolean"}
            }
        }'::jsonb
        WHEN 'limits' THEN '{
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "max_forms": {"type": "integer", "minimum": 0, "maximum": 1000000},
                "max_users": {"type": "integer", "minimum": 0, "maximum": 1000000},
                "max_submissions_per_month": {"type": "integer", "minimum": 0, "maximum": 1000000000000},
                "max_attachment_bytes": {"type": "integer", "minimum": 0, "maximum": 1000000000000000}
            }
        }'::jsonb
    END
$$;

COMMENT ON FUNCTION pliers.organization_schema(text) IS
'The validation keywords of the JSON Schema of organizations.settings, features or limits (p_name; NULL for another '
'name): the documents published as schemas/organization-<name>.schema.json, without their annotations. '
'pliers.validate_organization_settings / _features / _limits interpret them.';

-- The JSON Schema keywords these documents use, and no other: type (object, string,
-- boolean, integer), properties, additionalProperties false, enum, pattern, minLength,
-- maxLength, minimum, maximum. Every error at once, each with its JSON path. Recursion
-- follows the schema, whose depth is fixed: unknown keys of a value are not walked.
CREATE FUNCTION pliers._validate_json(p_schema jsonb, p_value jsonb, p_path text)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = ''
AS $$
DECLARE
    v_type constant text := p_schema ->> 'type';
    v_actual constant text := pg_catalog.jsonb_typeof(p_value);
    v_errors jsonb := '[]';
    v_key text;
    v_text text;
    v_number numeric;
    v_typed boolean;
BEGIN
    IF v_type = 'integer' AND v_actual = 'number' THEN
        v_number := (p_value #>> '{}')::numeric;
        v_typed := v_number = pg_catalog.trunc(v_number);
    ELSE
        v_typed := v_actual = v_type;
    END IF;
    IF NOT v_typed THEN
        RETURN pg_catalog.jsonb_build_array(pliers._form_error(
            p_path, 'invalid_type',
            'must be ' || CASE v_type WHEN 'object' THEN 'a JSON object' WHEN 'integer' THEN 'an integer' ELSE 'a ' || v_type END
        ));
    END IF;
    IF v_type = 'object' THEN
        FOR v_key IN SELECT k.key FROM pg_catalog.jsonb_object_keys(p_value) AS k (key) ORDER BY k.key LOOP
            v_text := p_path || CASE
                WHEN v_key ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN '.' || v_key
                ELSE '[' || pg_catalog.to_jsonb(v_key)::text || ']'
            END;
            IF p_schema -> 'properties' ? v_key THEN
                v_errors := v_errors
                    || pliers._validate_json(p_schema -> 'properties' -> v_key, p_value -> v_key, v_text);
            ELSIF p_schema -> 'additionalProperties' = 'false'::jsonb THEN
                v_errors := v_errors || pliers._form_error(v_text, 'unknown_key', 'no such setting');
            END IF;
        END LOOP;
    ELSIF v_type = 'string' THEN
        v_text := p_value #>> '{}';
        IF p_schema ? 'enum' AND NOT p_schema -> 'enum' @> pg_catalog.jsonb_build_array(p_value) THEN
            v_errors := v_errors || pliers._form_error(p_path, 'invalid_value', pg_catalog.format(
                'must be one of %s', (SELECT pg_catalog.string_agg(e.value, ', ')
                    FROM pg_catalog.jsonb_array_elements_text(p_schema -> 'enum') AS e (value))
            ));
        END IF;
        IF pg_catalog.length(v_text) > (p_schema ->> 'maxLength')::integer THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'too_long', pg_catalog.format('at most %s characters', p_schema ->> 'maxLength')
            );
        ELSIF pg_catalog.length(v_text) < (p_schema ->> 'minLength')::integer THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'too_short', pg_catalog.format('at least %s characters', p_schema ->> 'minLength')
            );
        ELSIF v_text !~ (p_schema ->> 'pattern') THEN
            v_errors := v_errors || pliers._form_error(
                p_path, 'invalid_format', pg_catalog.format('must match %s', p_schema ->> 'pattern')
            );
        END IF;
    ELSIF v_type = 'integer' THEN
        IF v_number < (p_schema ->> 'minimum')::numeric OR v_number > (p_schema ->> 'maximum')::numeric THEN
            v_errors := v_errors || pliers._form_error(p_path, 'out_of_range', pg_catalog.format(
                'must be from %s to %s', p_schema ->> 'minimum', p_schema ->> 'maximum'
            ));
        END IF;
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._validate_json(jsonb, jsonb, text) IS
'Private: the errors ({path, code, message}) of p_value against the JSON Schema p_schema, p_path its JSON path: '
'invalid_type, unknown_key (additionalProperties false), invalid_value (enum), too_long / too_short (maxLength, '
'minLength), invalid_format (pattern), out_of_range (minimum, maximum). Knows the keywords of '
'pliers.organization_schema and no other.';

CREATE FUNCTION pliers._validate_organization_document(p_name text, p_value jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = ''
AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN pg_catalog.jsonb_build_array(pliers._form_error(p_name, 'required', p_name || ' is required'));
    END IF;
    -- Bounded before it is walked: a document larger than any valid one is refused whole.
    IF pg_catalog.octet_length(p_value::text) > 65536 THEN
        RETURN pg_catalog.jsonb_build_array(pliers._form_error(
            '$.' || p_name, 'too_large', 'larger than 65536 bytes of JSON text'
        ));
    END IF;
    RETURN pliers._validate_json(pliers.organization_schema(p_name), p_value, '$.' || p_name);
END
$$;

COMMENT ON FUNCTION pliers._validate_organization_document(text, jsonb) IS
'Private: the errors of organizations.<p_name> (settings, features, limits) p_value, paths $.<p_name>...; NULL is '
'required, more than 64 KiB of JSON text too_large.';

CREATE FUNCTION pliers.validate_organization_settings(p_settings jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._validate_organization_document('settings', p_settings);
END
$$;

COMMENT ON FUNCTION pliers.validate_organization_settings(jsonb) IS
'The errors ([{path, code, message}], [] when valid) of an organizations.settings document against '
'schemas/organization-settings.schema.json; paths $.settings.branding.primary_color and so on.';

CREATE FUNCTION pliers.validate_organization_features(p_features jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._validate_organization_document('features', p_features);
END
$$;

COMMENT ON FUNCTION pliers.validate_organization_features(jsonb) IS
'The errors ([] when valid) of an organizations.features document against '
'schemas/organization-features.schema.json; paths $.features.<flag>.';

CREATE FUNCTION pliers.validate_organization_limits(p_limits jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._validate_organization_document('limits', p_limits);
END
$$;

COMMENT ON FUNCTION pliers.validate_organization_limits(jsonb) IS
'The errors ([] when valid) of an organizations.limits document against schemas/organization-limits.schema.json '
'(the quotas pliers._check_quota reads); paths $.limits.<limit>.';

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.subscription_status_moves()
RETURNS TABLE (from_status pliers.subscription_status, to_status pliers.subscription_status)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT m.from_status::pliers.subscription_status, m.to_status::pliers.subscription_status
    FROM (
        VALUES
        ('trial', 'active'),
        ('trial', 'expired'),
        ('trial', 'cancelled'),
        ('active', 'past_due'),
        ('active', 'cancelled'),
        ('active', 'expired'),
        ('past_due', 'active'),
        ('past_due', 'suspended'),
        ('past_due', 'cancelled'),
        ('suspended', 'active'),
        ('suspended', 'cancelled'),
        ('cancelled', 'active'),
        ('expired', 'active')
    ) AS m (from_status, to_status)
$$;

COMMENT ON FUNCTION pliers.subscription_status_moves() IS
'The moves of organizations.subscription_status that pliers.set_subscription_status makes; any other (staying put '
'included) raises PL004 (DETAIL {from, to}). The subscription is billing state: access is refused by '
'suspend_organization and delete_organization, not by a subscription status.';

-- One e-mail rule for every argument that takes an address: that of the domain pliers.email.
CREATE FUNCTION pliers._check_email(p_path text, p_email text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_email IS NULL THEN '[]'::jsonb
        WHEN pg_catalog.length(p_email) > 255 OR p_email !~ '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$' THEN
            pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'path', p_path, 'code', 'invalid_email',
                'message', 'an e-mail address (name@domain.tld), at most 255 characters'
            ))
        ELSE '[]'::jsonb
    END
$$;

COMMENT ON FUNCTION pliers._check_email(text, text) IS
'Private: [] when p_email is NULL or an address of the domain pliers.email (at most 255 characters), else its '
'argument error (path p_path, code invalid_email).';

CREATE FUNCTION pliers._check_organization_attributes(
    p_name text,
    p_display_name text,
    p_description text,
    p_tags text[],
    p_billing_email text,
    p_support_email text
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
        v_errors := v_errors
            || pliers._form_error('name', 'invalid', 'the name must be 1 to 255 characters, not blank');
    END IF;
    IF p_display_name IS NOT NULL
        AND (pg_catalog.btrim(p_display_name) = '' OR pg_catalog.length(p_display_name) > 255) THEN
        v_errors := v_errors || pliers._form_error(
            'display_name', 'invalid', 'the display name must be 1 to 255 characters, not blank'
        );
    END IF;
    IF pg_catalog.length(p_description) > 10000 THEN
        v_errors := v_errors
            || pliers._form_error('description', 'too_long', 'the description is at most 10000 characters');
    END IF;
    RETURN v_errors
        || pliers._check_text_array('tags', p_tags, 100, 255)
        || pliers._check_email('billing_email', p_billing_email)
        || pliers._check_email('support_email', p_support_email);
END
$$;

COMMENT ON FUNCTION pliers._check_organization_attributes(text, text, text, text[], text, text) IS
'Private: the argument errors ({path, code, message}) of an organization''s descriptive attributes; NULL arguments '
'are not checked (the caller decides what is required).';

CREATE FUNCTION pliers._organization_payload(p_organization pliers.organizations)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'slug', p_organization.slug,
        'name', p_organization.name,
        'display_name', p_organization.display_name,
        'description', p_organization.description,
        'settings', p_organization.settings,
        'features', p_organization.features,
        'limits', p_organization.limits,
        'subscription_status', p_organization.subscription_status,
        'subscription_expires_at', p_organization.subscription_expires_at,
        'primary_contact_id', p_organization.primary_contact_id,
        'billing_email', p_organization.billing_email,
        'support_email', p_organization.support_email,
        'tags', pg_catalog.to_jsonb(p_organization.tags),
        'created_at', p_organization.created_at
    )
$$;

COMMENT ON FUNCTION pliers._organization_payload(pliers.organizations) IS
'Private: the business fields of an organization, the payload of organization.created.';

-- The id of the organization with a slug, deleted ones included (NULL: none). On Citus
-- from the global directory (one read of a reference table, then the caller reaches one
-- shard); on one server from UNIQUE (slug). Dynamic SQL: organization_slugs is parsed
-- only where it exists.
CREATE FUNCTION pliers._organization_id_by_slug(p_slug text)
RETURNS uuid
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_id uuid;
BEGIN
    IF pg_catalog.to_regclass('pliers.organization_slugs') IS NOT NULL THEN
        EXECUTE 'SELECT s.organization_id FROM pliers.organization_slugs AS s WHERE s.slug = $1'
        INTO v_id USING p_slug;
    ELSE
        SELECT o.id INTO v_id FROM pliers.organizations AS o WHERE o.slug = p_slug::pliers.slug;
    END IF;
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION pliers._organization_id_by_slug(text) IS
'Private: the id of the organization (deleted or not) with slug p_slug, NULL if none; on Citus read from '
'pliers.organization_slugs.';

CREATE FUNCTION pliers._raise_organization_slug_taken()
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    -- Nothing about the organization that has it: not its id, name or state.
    PERFORM pliers._raise_invalid('the organization is not valid', pg_catalog.jsonb_build_array(
        pliers._form_error('slug', 'taken', 'this slug is not available: choose another')
    ));
END
$$;

COMMENT ON FUNCTION pliers._raise_organization_slug_taken() IS
'Private: PL001 with the one error {path: slug, code: taken}, revealing nothing of the organization that holds it '
'(slugs stay reserved after deletion).';

CREATE FUNCTION pliers._lock_organization(p_organization_id uuid, p_expected_revision integer)
RETURNS pliers.organizations
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization pliers.organizations;
BEGIN
    IF p_organization_id IS NULL THEN
        PERFORM pliers._raise_invalid('organization_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('organization_id', 'required', 'the organization id is required')
        ));
    END IF;
    -- organizations is distributed by id: the id as a value routes to one shard.
    SELECT o.* INTO v_organization
    FROM pliers.organizations AS o
    WHERE o.id = p_organization_id AND o.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('organization', p_organization_id);
    END IF;
    PERFORM pliers._check_expected_version(
        'organization', p_organization_id, p_expected_revision, v_organization.revision
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers._lock_organization(uuid, integer) IS
'Private: the live organization p_organization_id locked FOR UPDATE; PL001 when it is NULL, PL002 when it is '
'unknown or deleted, PL003 when p_expected_revision (if given) is not its revision.';

-- Platform calls have no tenant context, which an event needs (the tenant it belongs
-- to): this opens that of the organization, without a user, for the append, then
-- restores that of the caller (none, as a rule). The one place where a platform call writes events.
CREATE FUNCTION pliers._append_platform_event(
    p_organization_id uuid,
    p_aggregate_type text,
    p_aggregate_id uuid,
    p_aggregate_version integer,
    p_event_type text,
    p_payload jsonb
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_previous constant text := pliers.current_context();
    v_id uuid;
BEGIN
    PERFORM pliers._store_context(pliers._context_payload(p_organization_id));
    -- p_aggregate_type as text: the type is created after this file (sql/70-history.sql).
    v_id := pliers._append_event(
        p_aggregate_type::pliers.aggregate_type, p_aggregate_id, p_aggregate_version, p_event_type, p_payload
    );
    PERFORM pliers._store_context(v_previous);
    RETURN v_id;
END
$$;

COMMENT ON FUNCTION pliers._append_platform_event(uuid, text, uuid, integer, text, jsonb) IS
'Private, for the platform functions: appends one event of organization p_organization_id (pliers._append_event) '
'in a context of that organization without a user, then restores the caller''s context (none, as a rule).';

-- ---------------------------------------------------------------------------
-- Provisioning (pliers_platform)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_organization(
    p_slug text,
    p_name text,
    p_owner_email text,
    p_owner_display_name text DEFAULT NULL,
    p_display_name text DEFAULT NULL,
    p_settings jsonb DEFAULT '{}',
    p_features jsonb DEFAULT '{}',
    p_limits jsonb DEFAULT '{}',
    p_subscription_status pliers.subscription_status DEFAULT 'trial'
)
RETURNS TABLE (organization_id uuid, user_id uuid)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pg_catalog.gen_random_uuid();
    v_user_id constant uuid := pg_catalog.gen_random_uuid();
    v_errors jsonb := '[]';
    v_organization pliers.organizations;
    v_user pliers.users;
BEGIN
    IF p_name IS NULL THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'the name is required');
    END IF;
    IF p_owner_email IS NULL THEN
        v_errors := v_errors || pliers._form_error('owner_email', 'required', 'the owner''s e-mail is required');
    END IF;
    IF p_owner_display_name IS NOT NULL
        AND (pg_catalog.btrim(p_owner_display_name) = '' OR pg_catalog.length(p_owner_display_name) > 255) THEN
        v_errors := v_errors || pliers._form_error(
            'owner_display_name', 'invalid', 'the owner''s display name must be 1 to 255 characters, not blank'
        );
    END IF;
    IF p_subscription_status IS NULL THEN
        v_errors := v_errors || pliers._form_error(
            'subscription_status', 'required', 'the subscription status is required'
        );
    END IF;
    v_errors := v_errors
        || pliers._check_slug(p_slug)
        || pliers._check_organization_attributes(p_name, p_display_name, NULL, NULL, NULL, NULL)
        || pliers._check_email('owner_email', p_owner_email)
        || pliers._validate_organization_document('settings', p_settings)
        || pliers._validate_organization_document('features', p_features)
        || pliers._validate_organization_document('limits', p_limits);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the organization is not valid', v_errors);
    END IF;

    IF pliers._organization_id_by_slug(p_slug) IS NOT NULL THEN
        PERFORM pliers._raise_organization_slug_taken();
    END IF;
    BEGIN
        -- On Citus the global directory first: it, not UNIQUE (slug), keeps slugs unique.
        IF pg_catalog.to_regclass('pliers.organization_slugs') IS NOT NULL THEN
            EXECUTE 'INSERT INTO pliers.organization_slugs (slug, organization_id) VALUES ($1, $2)'
            USING p_slug, v_organization_id;
        END IF;
        INSERT INTO pliers.organizations (
            id, slug, name, display_name, settings, features, limits, subscription_status
        ) VALUES (
            v_organization_id, p_slug, p_name, p_display_name, p_settings, p_features, p_limits, p_subscription_status
        )
        RETURNING * INTO v_organization;
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent create_organization of the same slug committed first.
        PERFORM pliers._raise_organization_slug_taken();
    END;
    PERFORM pliers._append_platform_event(
        v_organization_id, 'organization', v_organization_id, v_organization.revision, 'organization.created',
        pliers._organization_payload(v_organization)
    );
    INSERT INTO pliers.users (organization_id, id, email, display_name, roles, status)
    VALUES (v_organization_id, v_user_id, p_owner_email, p_owner_display_name, '{org_owner}', 'active')
    RETURNING * INTO v_user;
    PERFORM pliers._append_platform_event(
        v_organization_id, 'user', v_user_id, v_user.revision, 'user.created',
        pg_catalog.jsonb_build_object(
            'email', v_user.email, 'display_name', v_user.display_name, 'roles', pg_catalog.to_jsonb(v_user.roles),
            'status', v_user.status
        )
    );
    -- The owner becomes the primary contact in a second revision, with its own event: the
    -- key to users is deferrable for sign-up, but Citus does not carry SET CONSTRAINTS
    -- to the shards.
    UPDATE pliers.organizations AS o
    SET primary_contact_id = v_user_id, updated_at = pg_catalog.now()
    WHERE o.id = v_organization_id
    RETURNING o.* INTO v_organization;
    PERFORM pliers._append_platform_event(
        v_organization_id, 'organization', v_organization_id, v_organization.revision, 'organization.updated',
        pg_catalog.jsonb_build_object('primary_contact_id', v_user_id)
    );
    organization_id := v_organization_id;
    user_id := v_user_id;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION pliers.create_organization(
    text, text, text, text, text, jsonb, jsonb, jsonb, pliers.subscription_status
) IS
'Provisioning (pliers_platform): creates an organization and its first user, an active org_owner who is its '
'primary contact, and returns both ids. PL001 with every error (slug, name, owner_email, owner_display_name, '
'display_name, $.settings..., $.features..., $.limits...); a slug another organization has or had: PL001 '
'{path: slug, code: taken}, nothing else revealed. On Citus the slug is registered in pliers.organization_slugs '
'first. Appends organization.created (version 1), user.created, and organization.updated (version 2: the owner '
'as primary contact).';

CREATE FUNCTION pliers.list_organizations(
    p_after_slug text DEFAULT NULL,
    p_limit integer DEFAULT 50,
    p_include_deleted boolean DEFAULT FALSE
)
RETURNS SETOF pliers.organizations
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        v_errors := v_errors || pliers._form_error('limit', 'out_of_range', 'the limit is from 1 to 1000');
    END IF;
    IF pg_catalog.length(p_after_slug) > 255 THEN
        v_errors := v_errors || pliers._form_error('after_slug', 'too_long', 'a slug is at most 255 characters');
    END IF;
    IF p_include_deleted IS NULL THEN
        v_errors := v_errors || pliers._form_error('include_deleted', 'required', 'include_deleted is true or false');
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid listing arguments', v_errors);
    END IF;
    -- Across tenants: on Citus every shard (the one multi-shard call of the platform).
    RETURN QUERY
    SELECT o.*
    FROM pliers.organizations AS o
    WHERE (p_after_slug IS NULL OR o.slug COLLATE "C" > p_after_slug)
        AND (p_include_deleted OR o.deleted_at IS NULL)
    ORDER BY o.slug COLLATE "C"
    LIMIT p_limit;
END
$$;

COMMENT ON FUNCTION pliers.list_organizations(text, integer, boolean) IS
'Provisioning (pliers_platform): a page of organizations in slug order (byte order), after p_after_slug (keyset: '
'pass the last slug of the previous page), at most p_limit (1 to 1000; PL001 otherwise), deleted ones only with '
'p_include_deleted. Across tenants: on Citus it reads every shard (docs/scale-out.md).';

CREATE FUNCTION pliers.find_organization(p_slug text)
RETURNS pliers.organizations
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_id uuid;
    v_organization pliers.organizations;
BEGIN
    IF pliers._check_slug(p_slug) <> '[]' THEN
        PERFORM pliers._raise_invalid('invalid slug', pliers._check_slug(p_slug));
    END IF;
    v_id := pliers._organization_id_by_slug(p_slug);
    SELECT o.* INTO v_organization FROM pliers.organizations AS o WHERE o.id = v_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'organization % not found', p_slug
            USING
                ERRCODE = 'PL002',
                DETAIL = pg_catalog.jsonb_build_object('object', 'organization', 'slug', p_slug)::text;
    END IF;
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.find_organization(text) IS
'Provisioning (pliers_platform): the organization with slug p_slug, deleted or not (deleted_at tells); PL001 for '
'an invalid slug, PL002 (DETAIL {object: organization, slug}) when none has it.';

CREATE FUNCTION pliers.suspend_organization(
    p_organization_id uuid,
    p_reason text DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.organizations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_organization pliers.organizations := pliers._lock_organization(p_organization_id, p_expected_revision);
BEGIN
    IF pg_catalog.length(p_reason) > 1000 THEN
        PERFORM pliers._raise_invalid('invalid reason', pg_catalog.jsonb_build_array(
            pliers._form_error('reason', 'too_long', 'the reason is at most 1000 characters')
        ));
    END IF;
    IF v_organization.suspended_at IS NOT NULL THEN
        RAISE EXCEPTION 'organization % is already suspended', p_organization_id
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object('from', 'suspended', 'to', 'suspended')::text;
    END IF;
    UPDATE pliers.organizations AS o
    SET suspended_at = v_now, updated_at = v_now
    WHERE o.id = p_organization_id
    RETURNING o.* INTO v_organization;
    PERFORM pliers._append_platform_event(
        p_organization_id, 'organization', p_organization_id, v_organization.revision, 'organization.suspended',
        pg_catalog.jsonb_build_object('reason', p_reason, 'suspended_at', v_now)
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.suspend_organization(uuid, text, integer) IS
'Provisioning (pliers_platform): suspends a live organization (suspended_at): from the next transaction on, '
'set_context and authenticate_api_key refuse its users (PL006, reason organization_suspended); its data stays. '
'PL004 {from: suspended, to: suspended} when it already is, PL002, PL003. Appends organization.suspended {reason}.';

CREATE FUNCTION pliers.reactivate_organization(p_organization_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.organizations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization pliers.organizations := pliers._lock_organization(p_organization_id, p_expected_revision);
BEGIN
    IF v_organization.suspended_at IS NULL THEN
        RAISE EXCEPTION 'organization % is not suspended', p_organization_id
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object('from', 'active', 'to', 'active')::text;
    END IF;
    UPDATE pliers.organizations AS o
    SET suspended_at = NULL, updated_at = pg_catalog.now()
    WHERE o.id = p_organization_id
    RETURNING o.* INTO v_organization;
    PERFORM pliers._append_platform_event(
        p_organization_id, 'organization', p_organization_id, v_organization.revision, 'organization.reactivated',
        '{}'
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.reactivate_organization(uuid, integer) IS
'Provisioning (pliers_platform): ends the suspension of an organization; PL004 {from: active, to: active} when it '
'is not suspended, PL002, PL003. Appends organization.reactivated.';

CREATE FUNCTION pliers.delete_organization(p_organization_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.organizations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_organization pliers.organizations := pliers._lock_organization(p_organization_id, p_expected_revision);
BEGIN
    UPDATE pliers.organizations AS o
    SET deleted_at = v_now, updated_at = v_now
    WHERE o.id = p_organization_id
    RETURNING o.* INTO v_organization;
    PERFORM pliers._append_platform_event(
        p_organization_id, 'organization', p_organization_id, v_organization.revision, 'organization.deleted',
        pg_catalog.jsonb_build_object('deleted_at', v_now)
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.delete_organization(uuid, integer) IS
'Provisioning (pliers_platform): soft-deletes an organization (deleted_at; final): its users are refused from the '
'next transaction on (PL006, reason organization_deleted), its rows stay until a retention purge, and its slug '
'stays reserved. PL002 when unknown or already deleted, PL003. Appends organization.deleted.';

CREATE FUNCTION pliers.set_subscription_status(
    p_organization_id uuid,
    p_status pliers.subscription_status,
    p_expires_at timestamptz DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.organizations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization pliers.organizations := pliers._lock_organization(p_organization_id, p_expected_revision);
    v_from constant pliers.subscription_status := v_organization.subscription_status;
BEGIN
    IF p_status IS NULL THEN
        PERFORM pliers._raise_invalid('status is required', pg_catalog.jsonb_build_array(
            pliers._form_error('status', 'required', 'the subscription status is required')
        ));
    END IF;
    IF NOT EXISTS (
        SELECT FROM pliers.subscription_status_moves() AS m WHERE m.from_status = v_from AND m.to_status = p_status
    ) THEN
        RAISE EXCEPTION 'subscription status cannot move from % to %', v_from, p_status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object('from', v_from, 'to', p_status)::text,
                HINT = 'pliers.subscription_status_moves() lists the allowed moves.';
    END IF;
    UPDATE pliers.organizations AS o
    SET subscription_status = p_status, subscription_expires_at = p_expires_at, updated_at = pg_catalog.now()
    WHERE o.id = p_organization_id
    RETURNING o.* INTO v_organization;
    PERFORM pliers._append_platform_event(
        p_organization_id, 'organization', p_organization_id, v_organization.revision,
        'organization.subscription_changed',
        pg_catalog.jsonb_build_object('from', v_from, 'to', p_status, 'expires_at', p_expires_at)
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.set_subscription_status(uuid, pliers.subscription_status, timestamptz, integer) IS
'Provisioning (pliers_platform): moves subscription_status along pliers.subscription_status_moves() (PL004 '
'{from, to} otherwise) and sets subscription_expires_at to p_expires_at; PL002, PL003. Appends '
'organization.subscription_changed {from, to, expires_at}.';

CREATE FUNCTION pliers.set_organization_plan(
    p_organization_id uuid,
    p_features jsonb DEFAULT NULL,
    p_limits jsonb DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.organizations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization pliers.organizations := pliers._lock_organization(p_organization_id, p_expected_revision);
    v_errors jsonb := '[]';
BEGIN
    IF p_features IS NOT NULL THEN
        v_errors := v_errors || pliers._validate_organization_document('features', p_features);
    END IF;
    IF p_limits IS NOT NULL THEN
        v_errors := v_errors || pliers._validate_organization_document('limits', p_limits);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the plan is not valid', v_errors);
    END IF;
    UPDATE pliers.organizations AS o
    SET
        features = coalesce(p_features, o.features),
        limits = coalesce(p_limits, o.limits),
        updated_at = pg_catalog.now()
    WHERE o.id = p_organization_id
    RETURNING o.* INTO v_organization;
    PERFORM pliers._append_platform_event(
        p_organization_id, 'organization', p_organization_id, v_organization.revision, 'organization.plan_changed',
        pg_catalog.jsonb_build_object('features', v_organization.features, 'limits', v_organization.limits)
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.set_organization_plan(uuid, jsonb, jsonb, integer) IS
'Provisioning (pliers_platform): replaces the features and/or limits (NULL: unchanged) of an organization, each '
'validated against its JSON Schema (PL001, every error, paths $.features..., $.limits...); PL002, PL003. The '
'tenant cannot change them: they are its plan. Appends organization.plan_changed {features, limits}.';

-- ---------------------------------------------------------------------------
-- The organization in its own tenant context (pliers_app)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.get_organization()
RETURNS pliers.organizations
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_organization pliers.organizations;
BEGIN
    SELECT o.* INTO v_organization FROM pliers.organizations AS o WHERE o.id = v_organization_id;
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.get_organization() IS
'The organization of the tenant context (any active member may read it: its name, branding and policies are its '
'users''); PL008 without a context.';

CREATE FUNCTION pliers.update_organization(
    p_expected_revision integer,
    p_name text DEFAULT NULL,
    p_display_name text DEFAULT NULL,
    p_description text DEFAULT NULL,
    p_primary_contact_id uuid DEFAULT NULL,
    p_billing_email text DEFAULT NULL,
    p_support_email text DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_settings jsonb DEFAULT NULL
)
RETURNS pliers.organizations
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers._require_context();
    v_user_id constant uuid := pliers.current_user_id();
    v_organization pliers.organizations;
    v_errors jsonb := '[]';
BEGIN
    PERFORM pliers._require_permission('organization.manage');
    PERFORM pliers._require_expected_revision(p_expected_revision);
    v_organization := pliers._lock_organization(v_organization_id, p_expected_revision);

    v_errors := pliers._check_organization_attributes(
        p_name, p_display_name, p_description, p_tags, p_billing_email, p_support_email
    );
    IF p_settings IS NOT NULL THEN
        v_errors := v_errors || pliers._validate_organization_document('settings', p_settings);
    END IF;
    IF p_primary_contact_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM pliers.users AS u
        WHERE u.organization_id = v_organization_id AND u.id = p_primary_contact_id AND u.status = 'active'
    ) THEN
        v_errors := v_errors || pliers._form_error(
            'primary_contact_id', 'unknown_user', 'the primary contact is an active user of this organization'
        );
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the organization is not valid', v_errors);
    END IF;

    UPDATE pliers.organizations AS o
    SET
        name = coalesce(p_name, o.name),
        display_name = coalesce(p_display_name, o.display_name),
        description = coalesce(p_description, o.description),
        primary_contact_id = coalesce(p_primary_contact_id, o.primary_contact_id),
        billing_email = coalesce(p_billing_email, o.billing_email),
        support_email = coalesce(p_support_email, o.support_email),
        tags = coalesce(p_tags, o.tags),
        settings = coalesce(p_settings, o.settings),
        updated_at = pg_catalog.now(),
        updated_by = v_user_id
    WHERE o.id = v_organization_id
    RETURNING o.* INTO v_organization;

    PERFORM pliers._append_event(
        'organization', v_organization_id, v_organization.revision, 'organization.updated',
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
            'name', p_name, 'display_name', p_display_name, 'description', p_description,
            'primary_contact_id', p_primary_contact_id, 'billing_email', p_billing_email,
            'support_email', p_support_email, 'tags', pg_catalog.to_jsonb(p_tags), 'settings', p_settings
        ))
    );
    RETURN v_organization;
END
$$;

COMMENT ON FUNCTION pliers.update_organization(integer, text, text, text, uuid, text, text, text[], jsonb) IS
'Edits the organization of the tenant context (permission organization.manage); an argument left NULL is '
'unchanged, p_settings replaces the whole settings document. p_expected_revision is required (PL001 without it, '
'PL003 when it is not the revision). PL001 with every error: name, display_name, description, '
'primary_contact_id (an active user of the organization), billing_email, support_email, tags, and '
'$.settings... against schemas/organization-settings.schema.json (unknown keys refused). PL006, PL008. Appends '
'organization.updated (payload: the fields given).';

REVOKE ALL ON FUNCTION
pliers.organization_schema(text),
pliers._validate_json(jsonb, jsonb, text),
pliers._validate_organization_document(text, jsonb),
pliers.validate_organization_settings(jsonb),
pliers.validate_organization_features(jsonb),
pliers.validate_organization_limits(jsonb),
pliers.subscription_status_moves(),
pliers._check_email(text, text),
pliers._check_organization_attributes(text, text, text, text[], text, text),
pliers._organization_payload(pliers.organizations),
pliers._organization_id_by_slug(text),
pliers._raise_organization_slug_taken(),
pliers._lock_organization(uuid, integer),
pliers._append_platform_event(uuid, text, uuid, integer, text, jsonb),
pliers.create_organization(text, text, text, text, text, jsonb, jsonb, jsonb, pliers.subscription_status),
pliers.list_organizations(text, integer, boolean),
pliers.find_organization(text),
pliers.suspend_organization(uuid, text, integer),
pliers.reactivate_organization(uuid, integer),
pliers.delete_organization(uuid, integer),
pliers.set_subscription_status(uuid, pliers.subscription_status, timestamptz, integer),
pliers.set_organization_plan(uuid, jsonb, jsonb, integer),
pliers.get_organization(),
pliers.update_organization(integer, text, text, text, uuid, text, text, text[], jsonb)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.organization_schema(text),
pliers.validate_organization_settings(jsonb),
pliers.validate_organization_features(jsonb),
pliers.validate_organization_limits(jsonb),
pliers.subscription_status_moves()
TO pliers_app, pliers_platform;

GRANT EXECUTE ON FUNCTION
pliers.create_organization(text, text, text, text, text, jsonb, jsonb, jsonb, pliers.subscription_status),
pliers.list_organizations(text, integer, boolean),
pliers.find_organization(text),
pliers.suspend_organization(uuid, text, integer),
pliers.reactivate_organization(uuid, integer),
pliers.delete_organization(uuid, integer),
pliers.set_subscription_status(uuid, pliers.subscription_status, timestamptz, integer),
pliers.set_organization_plan(uuid, jsonb, jsonb, integer)
TO pliers_platform;

GRANT EXECUTE ON FUNCTION
pliers.get_organization(),
pliers.update_organization(integer, text, text, text, uuid, text, text, text[], jsonb)
TO pliers_app;

RESET ROLE;
