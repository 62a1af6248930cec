SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

ALTER POLICY submissions_select ON pliers.submissions
USING (
    organization_id = pliers.current_organization_id()
    AND pliers.submission_visible(
        form_id, submitted_by, assigned_to, assigned_team_id,
        (SELECT pliers.current_permissions()), (SELECT pliers.current_user_id())
    )
);

CREATE FUNCTION pliers._roles_permissions_changed()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_names constant text[] := ARRAY[old.name, new.name]::text[];
    v_user record;
BEGIN
    IF (old.name, old.permissions) IS NOT DISTINCT FROM (new.name, new.permissions) THEN
        RETURN NULL;
    END IF;
    -- Every tenant: the catalogue is global (a DBA's change, rare).
    FOR v_user IN
        SELECT u.organization_id, u.id
        FROM pliers.users AS u
        WHERE u.roles && v_names
        UNION
        SELECT ra.organization_id, ra.user_id
        FROM pliers.role_assignments AS ra
        WHERE ra.role = ANY(v_names) AND ra.scope_type = 'organization' AND ra.revoked_at IS NULL
    LOOP
        PERFORM pliers._refresh_user_permissions(v_user.organization_id, v_user.id, FALSE);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._roles_permissions_changed() IS
'Private trigger: a role of the catalogue created, renamed, deleted or given other permissions: recompute the '
'pliers.user_permissions rows of the users that hold it, in every tenant.';

CREATE TRIGGER roles_permissions
AFTER INSERT OR UPDATE OR DELETE ON pliers.roles
FOR EACH ROW EXECUTE FUNCTION pliers._roles_permissions_changed();

COMMENT ON TRIGGER roles_permissions ON pliers.roles IS
'Recomputes pliers.user_permissions for every holder of the role, in every tenant';

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

CREATE OR REPLACE FUNCTION pliers.authenticate_api_key(
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
    v_key record;
    v_reason text;
BEGIN
    -- No tenant yet: the key's hash finds its organization (unique across tenants).
    SELECT k.organization_id, k.id, k.created_by, k.scopes, k.revoked_at, k.expires_at
    INTO v_key
    FROM pliers.api_keys AS k
    WHERE k.key_hash = v_hash;

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
    PERFORM pg_catalog.set_config('pliers.context', '', true);
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

CREATE OR REPLACE FUNCTION pliers._store_context(p_payload text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- No SET clause (a few us a call): its callers run with search_path = '' and every
    -- name here is qualified.
    PERFORM pg_catalog.set_config(
        'pliers.context',
        p_payload || '|' || pliers._context_mac(pg_catalog.textsend(p_payload), pliers._context_key()),
        true
    );
END
$$;

COMMENT ON FUNCTION pliers._store_context(text) IS
'Private: sets pliers.context, transaction-locally, to p_payload signed for this transaction.';

CREATE OR REPLACE FUNCTION pliers._context_mac(p_payload bytea, p_key bytea)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(pg_catalog.sha256(
        p_key || p_payload || pg_catalog.textsend('|' || EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp())::text)
    ), 'hex')
$$;

COMMENT ON FUNCTION pliers._context_mac(bytea, bytea) IS
'Private: hex(sha256(key || payload || ''|'' || start of this transaction)), the payload as bytes.';

DROP FUNCTION pliers.refresh_user_permissions(text);
DROP FUNCTION pliers._context_binding();
DROP FUNCTION pliers._on_citus();

ALTER TABLE pliers.api_keys DROP CONSTRAINT api_keys_key_hash_fkey;
ALTER TABLE pliers.api_keys ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);
ALTER TABLE pliers.api_keys DROP CONSTRAINT api_keys_organization_id_key_hash_key;
COMMENT ON CONSTRAINT api_keys_key_hash_key ON pliers.api_keys IS
'Authentication lookup: key_hash -> key row, before any tenant context exists (hence global, not tenant-leading)';
DROP TABLE pliers.api_key_hashes;

ALTER TABLE pliers.plugins ADD CONSTRAINT plugins_organization_id_fkey FOREIGN KEY (organization_id)
REFERENCES pliers.organizations (id);
COMMENT ON CONSTRAINT plugins_organization_id_slug_key ON pliers.plugins IS
'One plugin per slug in each scope, NULLS NOT DISTINCT so that two global rows cannot share a slug; serves FK plugins_organization_id_fkey';

COMMENT ON INDEX pliers.users_created_by_idx IS 'Serves FK users_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.users_updated_by_idx IS 'Serves FK users_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.teams_created_by_idx IS 'Serves FK teams_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.teams_updated_by_idx IS 'Serves FK teams_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.role_assignments_granted_by_idx IS
'Serves FK role_assignments_granted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.role_assignments_revoked_by_idx IS
'Serves FK role_assignments_revoked_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.forms_created_by_idx IS 'Serves FK forms_created_by_fkey (ON DELETE SET NULL); forms by creator';
COMMENT ON INDEX pliers.forms_updated_by_idx IS 'Serves FK forms_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.forms_published_by_idx IS 'Serves FK forms_published_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.form_collaborators_granted_by_idx IS
'Serves FK form_collaborators_granted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.submissions_assigned_to_idx IS
'Submissions assigned to a user, by status; serves FK submissions_assigned_to_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.submissions_assigned_team_id_idx IS
'Submissions assigned to a team, by status; serves FK submissions_assigned_team_id_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.submissions_deleted_by_idx IS 'Serves FK submissions_deleted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.attachments_deleted_by_idx IS 'Serves FK attachments_deleted_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflows_created_by_idx IS 'Serves FK workflows_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflows_updated_by_idx IS 'Serves FK workflows_updated_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflow_forms_created_by_idx IS
'Serves FK workflow_forms_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.workflow_executions_triggered_by_idx IS
'Serves FK workflow_executions_triggered_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.plugin_installations_installed_by_idx IS
'Serves FK plugin_installations_installed_by_fkey (ON DELETE SET NULL)';
COMMENT ON COLUMN pliers.api_keys.key_hash IS
'sha256 of the full key, 64 lower-case hex digits; unique over all tenants because a request is authenticated before its tenant is known';
COMMENT ON INDEX pliers.api_keys_revoked_by_idx IS 'Serves FK api_keys_revoked_by_fkey (ON DELETE SET NULL)';
COMMENT ON INDEX pliers.webhooks_created_by_idx IS 'Serves FK webhooks_created_by_fkey (ON DELETE SET NULL)';
COMMENT ON TABLE pliers.user_permissions IS
'Private: the organization-wide permissions of each user, as pliers._user_permissions computes them, kept by '
'triggers on users, role_assignments and roles; read by set_context. Owner only.';


ALTER TABLE pliers.api_keys DROP CONSTRAINT api_keys_revoked_by_fkey;
ALTER TABLE pliers.api_keys ADD CONSTRAINT api_keys_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (revoked_by);
ALTER TABLE pliers.attachments DROP CONSTRAINT attachments_deleted_by_fkey;
ALTER TABLE pliers.attachments ADD CONSTRAINT attachments_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (deleted_by);
ALTER TABLE pliers.audit_logs DROP CONSTRAINT audit_logs_user_id_fkey;
ALTER TABLE pliers.audit_logs ADD CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (organization_id, user_id) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (user_id);
ALTER TABLE pliers.events DROP CONSTRAINT events_user_id_fkey;
ALTER TABLE pliers.events ADD CONSTRAINT events_user_id_fkey FOREIGN KEY (organization_id, user_id) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (user_id);
ALTER TABLE pliers.form_collaborators DROP CONSTRAINT form_collaborators_granted_by_fkey;
ALTER TABLE pliers.form_collaborators ADD CONSTRAINT form_collaborators_granted_by_fkey FOREIGN KEY (organization_id, granted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (granted_by);
ALTER TABLE pliers.forms DROP CONSTRAINT forms_created_by_fkey;
ALTER TABLE pliers.forms ADD CONSTRAINT forms_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);
ALTER TABLE pliers.forms DROP CONSTRAINT forms_published_by_fkey;
ALTER TABLE pliers.forms ADD CONSTRAINT forms_published_by_fkey FOREIGN KEY (organization_id, published_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (published_by);
ALTER TABLE pliers.forms DROP CONSTRAINT forms_updated_by_fkey;
ALTER TABLE pliers.forms ADD CONSTRAINT forms_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);
ALTER TABLE pliers.organizations DROP CONSTRAINT organizations_created_by_fkey;
ALTER TABLE pliers.organizations ADD CONSTRAINT organizations_created_by_fkey FOREIGN KEY (id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by) DEFERRABLE;
ALTER TABLE pliers.organizations DROP CONSTRAINT organizations_primary_contact_id_fkey;
ALTER TABLE pliers.organizations ADD CONSTRAINT organizations_primary_contact_id_fkey FOREIGN KEY (id, primary_contact_id) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (primary_contact_id) DEFERRABLE;
ALTER TABLE pliers.organizations DROP CONSTRAINT organizations_updated_by_fkey;
ALTER TABLE pliers.organizations ADD CONSTRAINT organizations_updated_by_fkey FOREIGN KEY (id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by) DEFERRABLE;
ALTER TABLE pliers.plugin_installations DROP CONSTRAINT plugin_installations_installed_by_fkey;
ALTER TABLE pliers.plugin_installations ADD CONSTRAINT plugin_installations_installed_by_fkey FOREIGN KEY (organization_id, installed_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (installed_by);
ALTER TABLE pliers.role_assignments DROP CONSTRAINT role_assignments_granted_by_fkey;
ALTER TABLE pliers.role_assignments ADD CONSTRAINT role_assignments_granted_by_fkey FOREIGN KEY (organization_id, granted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (granted_by);
ALTER TABLE pliers.role_assignments DROP CONSTRAINT role_assignments_revoked_by_fkey;
ALTER TABLE pliers.role_assignments ADD CONSTRAINT role_assignments_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (revoked_by);
ALTER TABLE pliers.submissions DROP CONSTRAINT submissions_assigned_team_id_fkey;
ALTER TABLE pliers.submissions ADD CONSTRAINT submissions_assigned_team_id_fkey FOREIGN KEY (organization_id, assigned_team_id) REFERENCES pliers.teams (organization_id, id) ON DELETE SET NULL (assigned_team_id);
ALTER TABLE pliers.submissions DROP CONSTRAINT submissions_assigned_to_fkey;
ALTER TABLE pliers.submissions ADD CONSTRAINT submissions_assigned_to_fkey FOREIGN KEY (organization_id, assigned_to) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (assigned_to);
ALTER TABLE pliers.submissions DROP CONSTRAINT submissions_deleted_by_fkey;
ALTER TABLE pliers.submissions ADD CONSTRAINT submissions_deleted_by_fkey FOREIGN KEY (organization_id, deleted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (deleted_by);
ALTER TABLE pliers.submissions DROP CONSTRAINT submissions_submitted_by_fkey;
ALTER TABLE pliers.submissions ADD CONSTRAINT submissions_submitted_by_fkey FOREIGN KEY (organization_id, submitted_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (submitted_by);
ALTER TABLE pliers.teams DROP CONSTRAINT teams_created_by_fkey;
ALTER TABLE pliers.teams ADD CONSTRAINT teams_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);
ALTER TABLE pliers.teams DROP CONSTRAINT teams_updated_by_fkey;
ALTER TABLE pliers.teams ADD CONSTRAINT teams_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);
ALTER TABLE pliers.users DROP CONSTRAINT users_created_by_fkey;
ALTER TABLE pliers.users ADD CONSTRAINT users_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);
ALTER TABLE pliers.users DROP CONSTRAINT users_updated_by_fkey;
ALTER TABLE pliers.users ADD CONSTRAINT users_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);
ALTER TABLE pliers.webhooks DROP CONSTRAINT webhooks_created_by_fkey;
ALTER TABLE pliers.webhooks ADD CONSTRAINT webhooks_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);
ALTER TABLE pliers.workflow_executions DROP CONSTRAINT workflow_executions_triggered_by_fkey;
ALTER TABLE pliers.workflow_executions ADD CONSTRAINT workflow_executions_triggered_by_fkey FOREIGN KEY (organization_id, triggered_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (triggered_by);
ALTER TABLE pliers.workflow_forms DROP CONSTRAINT workflow_forms_created_by_fkey;
ALTER TABLE pliers.workflow_forms ADD CONSTRAINT workflow_forms_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);
ALTER TABLE pliers.workflows DROP CONSTRAINT workflows_created_by_fkey;
ALTER TABLE pliers.workflows ADD CONSTRAINT workflows_created_by_fkey FOREIGN KEY (organization_id, created_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (created_by);
ALTER TABLE pliers.workflows DROP CONSTRAINT workflows_updated_by_fkey;
ALTER TABLE pliers.workflows ADD CONSTRAINT workflows_updated_by_fkey FOREIGN KEY (organization_id, updated_by) REFERENCES pliers.users (organization_id, id) ON DELETE SET NULL (updated_by);

RESET ROLE;
