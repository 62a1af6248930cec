-- Rollback of 0026: the organizations API. The role pliers_platform stays (roles are
-- cluster-wide, as in the rollback of 0001).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION pliers.update_organization(integer, text, text, text, uuid, text, text, text[], jsonb);
DROP FUNCTION pliers.get_organization();
DROP FUNCTION pliers.set_organization_plan(uuid, jsonb, jsonb, integer);
DROP FUNCTION pliers.set_subscription_status(uuid, pliers.subscription_status, timestamptz, integer);
DROP FUNCTION pliers.delete_organization(uuid, integer);
DROP FUNCTION pliers.reactivate_organization(uuid, integer);
DROP FUNCTION pliers.suspend_organization(uuid, text, integer);
DROP FUNCTION pliers.find_organization(text);
DROP FUNCTION pliers.list_organizations(text, integer, boolean);
DROP FUNCTION pliers.create_organization(text, text, text, text, text, jsonb, jsonb, jsonb, pliers.subscription_status);
DROP FUNCTION pliers._append_platform_event(uuid, text, uuid, integer, text, jsonb);
DROP FUNCTION pliers._lock_organization(uuid, integer);
DROP FUNCTION pliers._raise_organization_slug_taken();
DROP FUNCTION pliers._organization_id_by_slug(text);
DROP FUNCTION pliers._organization_payload(pliers.organizations);
DROP FUNCTION pliers._check_organization_attributes(text, text, text, text[], text, text);
DROP FUNCTION pliers._check_email(text, text);
DROP FUNCTION pliers.subscription_status_moves();
DROP FUNCTION pliers.validate_organization_limits(jsonb);
DROP FUNCTION pliers.validate_organization_features(jsonb);
DROP FUNCTION pliers.validate_organization_settings(jsonb);
DROP FUNCTION pliers._validate_organization_document(text, jsonb);
DROP FUNCTION pliers._validate_json(jsonb, jsonb, text);
DROP FUNCTION pliers.organization_schema(text);

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

    SELECT u.status, o.deleted_at, p.permissions, p.denied, p.valid_until > pg_catalog.now()
    INTO v_status, v_organization_deleted_at, v_permissions, v_denied, v_valid
    FROM pliers.users AS u
    INNER JOIN pliers.organizations AS o ON u.organization_id = o.id
    LEFT JOIN pliers.user_permissions AS p ON u.organization_id = p.organization_id AND u.id = p.user_id
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;

    IF NOT FOUND THEN
        RETURN 'not_a_member';
    ELSIF v_organization_deleted_at IS NOT NULL THEN
        RETURN 'organization_deleted';
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
'non-deleted organization p_organization_id, stores the signed context (pliers.context: organization, user, '
'organization-wide permissions restricted to p_api_key_scopes when that is not empty, denials, API key, request '
'metadata) and returns NULL. Otherwise leaves no context and returns why: no_context, not_a_member, '
'organization_deleted, user_<status>. The permissions come from pliers.user_permissions; past its valid_until '
'they are computed again, and stored again by a read-write READ COMMITTED transaction.';

COMMENT ON FUNCTION pliers.set_context(uuid, uuid, uuid, inet, text, uuid) IS
'Opens the tenant context of this transaction: organization, acting user and request metadata, as the signed '
'transaction-local setting pliers.context, valid in this transaction only (call it in every transaction, after BEGIN). '
'The user must be an active user (status active) of a non-deleted organization, else PL006 '
'(DETAIL {permission, object, id, user_id, reason}) and no context; a NULL organization or user raises PL008. '
'Also reads the user''s organization-wide permissions (pliers.current_permissions, pliers.user_permissions). '
'SECURITY DEFINER: the membership check must read users before RLS lets anyone see them.';

ALTER TABLE pliers.organizations DROP COLUMN suspended_at;

REVOKE USAGE ON SCHEMA pliers FROM pliers_platform;

RESET ROLE;
