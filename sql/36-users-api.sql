-- The user API (issue 15; docs/api.md "Users", docs/security.md "Passwords, invitations and MFA").
--
--     invite_user ──> pending ──accept_invitation──> active <──reactivate_user── suspended
--     add_user ─────────────────────────────────────> active ──suspend_user──────> suspended
--     delete_user: pending, active, inactive or suspended ──> deleted (soft; erase_user_account erases)
--
-- Every function opens with the tenant context (PL008 without one), except the three
-- that come before any context exists: accept_invitation (the token names its
-- organization), login_credentials and record_login (the application names it).
-- Permission user.manage, except a user's own profile, preferences, password and MFA
-- secret (the user itself may), and erase_user_account (user.erase). Acting on a user
-- needs every permission of the user's roles (pliers._assert_grantable): nobody
-- suspends, deletes, demotes or erases someone who holds more than they do. Removing
-- the last active org_owner (demote, suspend, delete, erase) is refused
-- (pliers._assert_owner_remains, PL003).
--
-- Secrets live in pliers.user_secrets, the owner's alone (no grant, RLS without a
-- policy): the password's argon2id hash (computed by the library: the plaintext
-- never reaches the database), the MFA secret encrypted by the library (AES-256-GCM,
-- as webhook secrets), and the SHA-256 of the invitation token. No event, audit row
-- or message carries any of them.
--
-- Invitation tokens are inv_<organization id, 32 hex digits>_<64 hex digits>: the
-- token carries its tenant, so accept_invitation finds the hash in that tenant's
-- shard (one shard on Citus), and a hash is unique across all tenants because the
-- organization is part of what is hashed.

-- ---------------------------------------------------------------------------
-- Columns and the table of secrets
-- ---------------------------------------------------------------------------

ALTER TABLE pliers.users ADD COLUMN failed_login_count integer NOT NULL DEFAULT 0;
ALTER TABLE pliers.users ADD COLUMN locked_until timestamptz;
ALTER TABLE pliers.users ADD COLUMN invitation_expires_at timestamptz;

COMMENT ON COLUMN pliers.users.failed_login_count IS
'Failed password logins since the last success or lockout (record_login); not audited';
COMMENT ON COLUMN pliers.users.locked_until IS
'Set by record_login when failed_login_count reaches the password policy''s max_failed_attempts: no login before';
COMMENT ON COLUMN pliers.users.invitation_expires_at IS
'A pending (invited) user''s invitation is valid until then (invite_user); NULL for users not invited';

CREATE TABLE pliers.user_secrets (
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    password_hash text,
    mfa_secret_ciphertext bytea,
    mfa_secret_key_id text,
    invitation_token_hash text,
    invitation_accepted_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT user_secrets_pkey PRIMARY KEY (organization_id, user_id),
    CONSTRAINT user_secrets_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT user_secrets_password_hash_format CHECK (
        password_hash ~ '^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$'
        AND length(password_hash) <= 512
    ),
    CONSTRAINT user_secrets_mfa_complete CHECK ((mfa_secret_ciphertext IS NULL) = (mfa_secret_key_id IS NULL)),
    CONSTRAINT user_secrets_mfa_key_id_format CHECK (mfa_secret_key_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    CONSTRAINT user_secrets_mfa_ciphertext_size CHECK (octet_length(mfa_secret_ciphertext) <= 1024),
    CONSTRAINT user_secrets_invitation_token_hash_format CHECK (invitation_token_hash ~ '^[0-9a-f]{64}$')
);

COMMENT ON TABLE pliers.user_secrets IS
'Private: the secrets of each user (password hash, encrypted MFA secret, invitation token hash), written and read '
'only by the user API (sql/36-users-api.sql). Owner only: no grant, RLS without a policy; not audited.';
COMMENT ON COLUMN pliers.user_secrets.password_hash IS
'argon2id hash in PHC format, computed by the library (pliersdb.users); never the plaintext';
COMMENT ON COLUMN pliers.user_secrets.mfa_secret_ciphertext IS
'The MFA (TOTP) secret, AES-256-GCM encrypted by the library under mfa_secret_key_id (pliersdb.users)';
COMMENT ON COLUMN pliers.user_secrets.invitation_token_hash IS
'SHA-256 (hex) of the invitation token returned once by invite_user; kept after acceptance, so that reuse is told';
COMMENT ON COLUMN pliers.user_secrets.invitation_accepted_at IS 'When accept_invitation used the token (once)';

-- accept_invitation: the user of a token hash in its tenant; one user per token.
CREATE UNIQUE INDEX user_secrets_invitation_token_hash_key ON pliers.user_secrets (
    organization_id, invitation_token_hash
)
WHERE invitation_token_hash IS NOT NULL;

COMMENT ON INDEX pliers.user_secrets_invitation_token_hash_key IS
'Finds the invited user of a token in the tenant the token names; a hash belongs to one user';

ALTER TABLE pliers.user_secrets ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------
-- Private helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.user_status_moves()
RETURNS TABLE (from_status pliers.user_status, to_status pliers.user_status, via text)
LANGUAGE sql
IMMUTABLE
SET search_path = ''
AS $$
    SELECT m.from_status::pliers.user_status, m.to_status::pliers.user_status, m.via
    FROM (
        VALUES
        ('pending', 'active', 'accept_invitation'),
        ('active', 'suspended', 'suspend_user'),
        ('inactive', 'suspended', 'suspend_user'),
        ('suspended', 'active', 'reactivate_user'),
        ('inactive', 'active', 'reactivate_user'),
        ('pending', 'deleted', 'delete_user'),
        ('active', 'deleted', 'delete_user'),
        ('inactive', 'deleted', 'delete_user'),
        ('suspended', 'deleted', 'delete_user')
    ) AS m (from_status, to_status, via)
$$;

COMMENT ON FUNCTION pliers.user_status_moves() IS
'The allowed moves of users.status and the API function that makes each; any other raises PL004.';

CREATE FUNCTION pliers._user_payload(p_user pliers.users)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = ''
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'email', p_user.email, 'username', p_user.username, 'display_name', p_user.display_name,
        'first_name', p_user.first_name, 'last_name', p_user.last_name, 'status', p_user.status,
        'roles', pg_catalog.to_jsonb(p_user.roles), 'timezone', p_user.timezone, 'locale', p_user.locale
    )
$$;

COMMENT ON FUNCTION pliers._user_payload(pliers.users) IS
'Private: the business fields of a user for user.invited and user.created events; never a secret.';

-- One rule for every profile field of the API, every error at once ({path, code, message}).
CREATE FUNCTION pliers._check_user_fields(
    p_email text,
    p_username text,
    p_display_name text,
    p_first_name text,
    p_last_name text,
    p_avatar_url text,
    p_timezone text,
    p_locale text
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb;
    v_field record;
BEGIN
    v_errors := pliers._check_email('email', p_email);
    IF p_username IS NOT NULL AND p_username !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' THEN
        v_errors := v_errors || pliers._form_error(
            'username', 'invalid_format', '1 to 64 letters, digits, dots, dashes or underscores, not starting with a sign'
        );
    END IF;
    FOR v_field IN
        SELECT f.name, f.value
        FROM (VALUES ('display_name', p_display_name), ('first_name', p_first_name), ('last_name', p_last_name))
            AS f (name, value)
        WHERE f.value IS NOT NULL
    LOOP
        IF pg_catalog.btrim(v_field.value) = '' THEN
            v_errors := v_errors || pliers._form_error(v_field.name, 'blank', v_field.name || ' may not be blank');
        ELSIF pg_catalog.length(v_field.value) > 255 THEN
            v_errors := v_errors || pliers._form_error(v_field.name, 'too_long', 'at most 255 characters');
        END IF;
    END LOOP;
    IF p_avatar_url IS NOT NULL AND (p_avatar_url !~ '^https?://' OR pg_catalog.length(p_avatar_url) > 2048) THEN
        v_errors := v_errors || pliers._form_error(
            'avatar_url', 'invalid_format', 'an absolute http(s) URL of at most 2048 characters'
        );
    END IF;
    IF p_timezone IS NOT NULL AND (
        pg_catalog.length(p_timezone) > 100
        OR NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names AS z WHERE z.name = p_timezone)
    ) THEN
        v_errors := v_errors || pliers._form_error(
            'timezone', 'unknown_timezone', 'not a time zone name of pg_timezone_names, e.g. Europe/Paris'
        );
    END IF;
    -- BCP 47, the subset a locale needs: language[-Script][-REGION] (en, en-US, zh-Hans-CN, es-419).
    IF p_locale IS NOT NULL AND p_locale !~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$' THEN
        v_errors := v_errors || pliers._form_error(
            'locale', 'invalid_format', 'a BCP 47 tag language[-Script][-REGION], e.g. en-US or zh-Hans-CN'
        );
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_user_fields(text, text, text, text, text, text, text, text) IS
'Private: the argument errors of the user profile fields (NULL = not given): email (invalid_email: pliers._check_email), '
'username (invalid_format), display_name, first_name, last_name (blank, too_long), avatar_url (invalid_format), '
'timezone (unknown_timezone: not in pg_timezone_names), locale (invalid_format: BCP 47 '
'^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$).';

-- The roles argument: bounded, then known and grantable by the caller (pliers._assert_grantable).
CREATE FUNCTION pliers._check_user_roles(p_roles text[])
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb;
BEGIN
    IF p_roles IS NULL THEN
        RETURN pg_catalog.jsonb_build_array(pliers._form_error('roles', 'required', 'roles may be empty, not NULL'));
    END IF;
    v_errors := pliers._check_text_array('roles', p_roles, 20, 100);
    IF v_errors <> '[]' THEN
        RETURN v_errors;
    END IF;
    -- Unknown roles come back as errors among the others; once all are known, PL006 (a
    -- permission the caller lacks) is raised as it is.
    v_errors := pliers._role_errors(p_roles, 'roles');
    IF v_errors = '[]' THEN
        PERFORM pliers._assert_grantable(p_roles);
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_user_roles(text[]) IS
'Private: the errors of a roles argument (required, invalid, too_many_items (20), too_long (100), unknown_role at '
'roles[i]); raises PL006 (pliers._assert_grantable) when the caller lacks a permission of one of the roles.';

CREATE FUNCTION pliers._raise_user_taken(p_fields text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    PERFORM pliers._raise_invalid(
        'the user is not valid',
        (
            SELECT pg_catalog.jsonb_agg(
                pliers._form_error(f.name, 'taken', 'another user of the organization has this ' || f.name)
                ORDER BY f.name
            )
            FROM pg_catalog.unnest(p_fields) AS f (name)
        )
    );
END
$$;

COMMENT ON FUNCTION pliers._raise_user_taken(text[]) IS
'Private: PL001 with code taken for each field of p_fields (email, username): a live user of the same organization '
'has it. Says nothing of other organizations.';

-- The live users of the tenant that already have this e-mail or username (other than p_user_id).
CREATE FUNCTION pliers._user_taken(p_organization_id uuid, p_user_id uuid, p_email text, p_username text)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_taken text[] := '{}';
BEGIN
    -- PL/pgSQL, one statement each: Citus plans no SQL function with parameters.
    IF p_email IS NOT NULL AND EXISTS (
        SELECT FROM pliers.users AS u
        WHERE
            u.organization_id = p_organization_id AND pg_catalog.lower(u.email) = pg_catalog.lower(p_email)
            AND u.deleted_at IS NULL AND u.id IS DISTINCT FROM p_user_id
    ) THEN
        v_taken := v_taken || 'email'::text;
    END IF;
    IF p_username IS NOT NULL AND EXISTS (
        SELECT FROM pliers.users AS u
        WHERE
            u.organization_id = p_organization_id AND pg_catalog.lower(u.username) = pg_catalog.lower(p_username)
            AND u.deleted_at IS NULL AND u.id IS DISTINCT FROM p_user_id
    ) THEN
        v_taken := v_taken || 'username'::text;
    END IF;
    RETURN v_taken;
END
$$;

COMMENT ON FUNCTION pliers._user_taken(uuid, uuid, text, text) IS
'Private: which of email and username (case-insensitive) a live user of the organization other than p_user_id has.';

CREATE FUNCTION pliers._lock_user(p_user_id uuid, p_deleted boolean DEFAULT FALSE)
RETURNS pliers.users
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_organization_id constant uuid := pliers.current_organization_id();
    v_user pliers.users;
BEGIN
    IF p_user_id IS NULL THEN
        PERFORM pliers._raise_invalid(
            'user_id is required',
            pg_catalog.jsonb_build_array(pliers._form_error('user_id', 'required', 'the user id is required'))
        );
    END IF;
    SELECT u.* INTO v_user
    FROM pliers.users AS u
    WHERE u.organization_id = v_organization_id AND u.id = p_user_id AND (p_deleted OR u.deleted_at IS NULL)
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('user', p_user_id);
    END IF;
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers._lock_user(uuid, boolean) IS
'Private: the user p_user_id of the current tenant, locked FOR UPDATE; PL001 when NULL, PL002 when unknown, another '
'tenant''s or deleted (unless p_deleted).';

-- Acting on a user: oneself (p_self_allowed) or user.manage, and every permission of the user's roles.
CREATE FUNCTION pliers._require_user_manager(p_user pliers.users, p_self_allowed boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF p_self_allowed AND p_user.id = pliers.current_user_id() THEN
        RETURN;
    END IF;
    PERFORM pliers._require_permission('user.manage');
    PERFORM pliers._assert_grantable(p_user.roles, 'organization', NULL, 'user_id');
END
$$;

COMMENT ON FUNCTION pliers._require_user_manager(pliers.users, boolean) IS
'Private: returns when the current user is p_user and p_self_allowed; else needs user.manage (PL006) and every '
'permission of p_user''s roles (pliers._assert_grantable, PL006): nobody acts on a user who holds more.';

CREATE FUNCTION pliers._password_policy(p_organization_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    -- The rules and their bounds are those of the settings schema (sql/35-organizations-api.sql).
    v_rules constant jsonb := pliers.organization_schema('settings')
        #> '{properties,security,properties,password_policy,properties}';
    v_policy jsonb;
    v_result jsonb := '{"min_length": 12, "require_special": false, "max_failed_attempts": 5, "lockout_minutes": 15}';
    v_rule record;
BEGIN
    SELECT o.settings #> '{security,password_policy}' INTO v_policy
    FROM pliers.organizations AS o
    WHERE o.id = p_organization_id;
    -- Each rule: the organization's value when the schema accepts it, else the default
    -- (settings written before the schema was checked may hold anything).
    FOR v_rule IN SELECT r.key, r.value FROM pg_catalog.jsonb_each(v_rules) AS r LOOP
        IF (v_policy -> v_rule.key) IS NOT NULL
            AND pliers._validate_json(v_rule.value, v_policy -> v_rule.key, v_rule.key) = '[]' THEN
            v_result := v_result || pg_catalog.jsonb_build_object(v_rule.key, v_policy -> v_rule.key);
        END IF;
    END LOOP;
    RETURN v_result;
END
$$;

COMMENT ON FUNCTION pliers._password_policy(uuid) IS
'Private: the password policy of an organization, settings security.password_policy, each rule defaulted when absent '
'or not as pliers.organization_schema(''settings'') allows: min_length 12, require_special false, '
'max_failed_attempts 5, lockout_minutes 15.';

CREATE FUNCTION pliers._check_password_hash(p_password_hash text)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    RETURN CASE
        WHEN p_password_hash IS NULL THEN pg_catalog.jsonb_build_array(
            pliers._form_error('password_hash', 'required', 'the argon2id hash of the password is required')
        )
        WHEN pg_catalog.length(p_password_hash) > 512
            OR p_password_hash !~ '^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$'
            THEN pg_catalog.jsonb_build_array(pliers._form_error(
                'password_hash', 'invalid_format', 'an argon2id hash in PHC format ($argon2id$v=19$...), never a password'
            ))
        ELSE '[]'::jsonb
    END;
END
$$;

COMMENT ON FUNCTION pliers._check_password_hash(text) IS
'Private: the errors of a password hash argument: required, invalid_format (not an argon2id PHC string of at most '
'512 characters). The database never sees a plaintext password.';

-- A status move of the API (suspend, reactivate, delete): the lock, the rules, the write, the event.
CREATE FUNCTION pliers._move_user_status(
    p_user_id uuid,
    p_to pliers.user_status,
    p_via text,
    p_event_type text,
    p_expected_revision integer
)
RETURNS pliers.users
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user pliers.users;
    v_now constant timestamptz := pg_catalog.now();
BEGIN
    v_user := pliers._lock_user(p_user_id);
    PERFORM pliers._require_user_manager(v_user, FALSE);
    PERFORM pliers._check_expected_version('user', v_user.id, p_expected_revision, v_user.revision);
    IF NOT EXISTS (
        SELECT FROM pliers.user_status_moves() AS m
        WHERE m.from_status = v_user.status AND m.to_status = p_to AND m.via = p_via
    ) THEN
        RAISE EXCEPTION 'user % is % and cannot become %', v_user.id, v_user.status, p_to
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'user', 'id', v_user.id, 'from', v_user.status, 'to', p_to
                )::text;
    END IF;
    IF p_to <> 'active' THEN
        PERFORM pliers._assert_owner_remains(v_org, v_user.id);
    END IF;

    UPDATE pliers.users AS u
    SET
        updated_at = v_now,
        status = p_to,
        deleted_at = CASE WHEN p_to = 'deleted' THEN v_now END,
        updated_by = pliers.current_user_id()
    WHERE u.organization_id = v_org AND u.id = v_user.id
    RETURNING u.* INTO v_user;
    IF p_to = 'deleted' THEN
        -- A deleted user's secrets are of no use: no login, no invitation.
        DELETE FROM pliers.user_secrets AS s WHERE s.organization_id = v_org AND s.user_id = v_user.id;
    END IF;

    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, p_event_type, pg_catalog.jsonb_build_object('status', v_user.status)
    );
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers._move_user_status(uuid, pliers.user_status, text, text, integer) IS
'Private (suspend_user, reactivate_user, delete_user): moves a user''s status along pliers.user_status_moves() '
'(PL004 otherwise), after user.manage and the user''s roles (PL006), the expected revision (PL003) and, when the '
'user leaves active, the last owner rule (PL003). Appends p_event_type with {status}.';

-- ---------------------------------------------------------------------------
-- Invitations
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.invite_user(
    p_email text,
    p_roles text[] DEFAULT '{viewer}',
    p_display_name text DEFAULT NULL,
    p_valid_for interval DEFAULT '7 days'
)
RETURNS TABLE (user_id uuid, token text, expires_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
    v_user pliers.users;
    v_token text;
    v_expires_at timestamptz;
    v_taken text[];
BEGIN
    PERFORM pliers._require_permission('user.manage');

    IF p_email IS NULL THEN
        v_errors := v_errors || pliers._form_error('email', 'required', 'the e-mail address is required');
    END IF;
    IF p_valid_for IS NULL OR p_valid_for < INTERVAL '1 hour' OR p_valid_for > INTERVAL '30 days' THEN
        v_errors := v_errors || pliers._form_error('valid_for', 'out_of_range', 'between 1 hour and 30 days');
    END IF;
    v_errors := v_errors || pliers._check_user_fields(p_email, NULL, p_display_name, NULL, NULL, NULL, NULL, NULL)
        || pliers._check_user_roles(p_roles);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the invitation is not valid', v_errors);
    END IF;
    v_taken := pliers._user_taken(v_org, NULL, p_email, NULL);
    IF pg_catalog.cardinality(v_taken) > 0 THEN
        PERFORM pliers._raise_user_taken(v_taken);
    END IF;

    -- 256 random bits (three gen_random_uuid(), as API keys), after the tenant.
    v_token := 'inv_' || pg_catalog.replace(v_org::text, '-', '') || '_' || pg_catalog.encode(
        pg_catalog.sha256(pg_catalog.convert_to(
            pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text
            || pg_catalog.gen_random_uuid()::text, 'UTF8'
        )),
        'hex'
    );
    v_expires_at := pg_catalog.now() + p_valid_for;
    p_roles := ARRAY(SELECT DISTINCT r.role FROM pg_catalog.unnest(p_roles) AS r (role) ORDER BY r.role);

    BEGIN
        INSERT INTO pliers.users AS u (
            organization_id, email, display_name, status, roles, invitation_expires_at, created_by, updated_by
        ) VALUES (
            v_org, p_email, p_display_name, 'pending', p_roles, v_expires_at,
            pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING u.* INTO v_user;
    EXCEPTION WHEN unique_violation THEN
        PERFORM pliers._raise_user_taken(ARRAY['email']);  -- a concurrent call committed first
    END;
    INSERT INTO pliers.user_secrets (organization_id, user_id, invitation_token_hash)
    VALUES (
        v_org, v_user.id, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), 'hex')
    );

    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, 'user.invited',
        pliers._user_payload(v_user) || pg_catalog.jsonb_build_object('expires_at', v_expires_at)
    );
    RETURN QUERY SELECT v_user.id, v_token, v_expires_at;
END
$$;

COMMENT ON FUNCTION pliers.invite_user(text, text[], text, interval) IS
'Invites a user into the current organization: a pending user with p_roles, and an invitation token '
'inv_<organization>_<64 hex digits> returned this once (only its SHA-256 is stored), valid for p_valid_for (1 hour '
'to 30 days). Permission user.manage and every permission of p_roles (PL006). PL001 with every error (email, '
'display_name, roles[i] unknown_role, valid_for; email taken by a live user of the organization: code taken). '
'Appends user.invited (no token). Returns user_id, token, expires_at.';

CREATE FUNCTION pliers.accept_invitation(
    p_token text,
    p_session_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL
)
RETURNS TABLE (organization_id uuid, user_id uuid)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_org uuid;
    v_hash text;
    v_invited_user uuid;
    v_accepted_at timestamptz;
    v_user pliers.users;
    v_reason text;
BEGIN
    -- No context yet: the token names its tenant, then everything is read in that tenant.
    IF p_token ~ '^inv_[0-9a-f]{32}_[0-9a-f]{64}$' THEN
        v_org := pg_catalog.substr(p_token, 5, 32)::uuid;
        v_hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex');
        SELECT s.user_id, s.invitation_accepted_at INTO v_invited_user, v_accepted_at
        FROM pliers.user_secrets AS s
        WHERE s.organization_id = v_org AND s.invitation_token_hash = v_hash;
    END IF;
    IF v_invited_user IS NOT NULL THEN
        SELECT u.* INTO v_user
        FROM pliers.users AS u
        WHERE u.organization_id = v_org AND u.id = v_invited_user
        FOR UPDATE;
    END IF;

    IF v_user.id IS NULL THEN
        v_reason := 'unknown';
    ELSIF v_accepted_at IS NOT NULL THEN
        v_reason := 'used';
    ELSIF v_user.status <> 'pending' THEN
        v_reason := 'revoked';
    ELSIF v_user.invitation_expires_at <= v_now THEN
        v_reason := 'expired';
    END IF;
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION '%', CASE v_reason
            WHEN 'used' THEN 'this invitation has already been accepted'
            WHEN 'expired' THEN 'this invitation has expired'
            WHEN 'revoked' THEN 'this invitation was withdrawn'
            ELSE 'not a valid invitation'
        END
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'invitation.accept', 'object', 'invitation', 'reason', v_reason
                )::text,
                HINT = 'Ask the organization for a new invitation.';
    END IF;

    UPDATE pliers.users AS u
    SET updated_at = v_now, status = 'active', invitation_expires_at = NULL, updated_by = v_user.id
    WHERE u.organization_id = v_org AND u.id = v_user.id
    RETURNING u.* INTO v_user;
    UPDATE pliers.user_secrets AS s
    SET invitation_accepted_at = v_now, updated_at = v_now
    WHERE s.organization_id = v_org AND s.user_id = v_user.id;

    -- The new user's context, for the event and the rest of the transaction.
    v_reason := pliers._set_context(v_org, v_user.id, p_session_id, p_ip_address, p_user_agent, NULL, NULL, NULL);
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'not a valid invitation'
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'invitation.accept', 'object', 'invitation', 'reason', v_reason
                )::text;
    END IF;
    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, 'user.activated',
        pg_catalog.jsonb_build_object('status', v_user.status, 'via', 'invitation')
    );
    RETURN QUERY SELECT v_org, v_user.id;
END
$$;

COMMENT ON FUNCTION pliers.accept_invitation(text, uuid, inet, text) IS
'Accepts an invitation without a tenant context: the token''s pending user becomes active and the transaction '
'gets that user''s context (as set_context). Once only: PL006 (DETAIL {permission: invitation.accept, object: '
'invitation, reason}) with reason used (already accepted), expired, revoked (the user was deleted) or unknown (no '
'such token, or the organization is deleted: organization_deleted); nothing is written then. Appends user.activated. '
'Returns organization_id, user_id.';

-- ---------------------------------------------------------------------------
-- Adding, reading and editing users
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.add_user(
    p_email text,
    p_roles text[] DEFAULT '{viewer}',
    p_display_name text DEFAULT NULL,
    p_first_name text DEFAULT NULL,
    p_last_name text DEFAULT NULL,
    p_username text DEFAULT NULL,
    p_timezone text DEFAULT 'UTC',
    p_locale text DEFAULT 'en-US'
)
RETURNS pliers.users
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
    v_user pliers.users;
    v_taken text[];
BEGIN
    PERFORM pliers._require_permission('user.manage');

    IF p_email IS NULL THEN
        v_errors := v_errors || pliers._form_error('email', 'required', 'the e-mail address is required');
    END IF;
    IF p_timezone IS NULL THEN
        v_errors := v_errors || pliers._form_error('timezone', 'required', 'the time zone is required');
    END IF;
    IF p_locale IS NULL THEN
        v_errors := v_errors || pliers._form_error('locale', 'required', 'the locale is required');
    END IF;
    v_errors := v_errors || pliers._check_user_fields(
        p_email, p_username, p_display_name, p_first_name, p_last_name, NULL, p_timezone, p_locale
    ) || pliers._check_user_roles(p_roles);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the user is not valid', v_errors);
    END IF;
    v_taken := pliers._user_taken(v_org, NULL, p_email, p_username);
    IF pg_catalog.cardinality(v_taken) > 0 THEN
        PERFORM pliers._raise_user_taken(v_taken);
    END IF;
    p_roles := ARRAY(SELECT DISTINCT r.role FROM pg_catalog.unnest(p_roles) AS r (role) ORDER BY r.role);

    BEGIN
        INSERT INTO pliers.users AS u (
            organization_id, email, username, display_name, first_name, last_name, status, roles, timezone, locale,
            created_by, updated_by
        ) VALUES (
            v_org, p_email, p_username, p_display_name, p_first_name, p_last_name, 'active', p_roles, p_timezone,
            p_locale, pliers.current_user_id(), pliers.current_user_id()
        )
        RETURNING u.* INTO v_user;
    EXCEPTION WHEN unique_violation THEN
        PERFORM pliers._raise_user_taken(pliers._user_taken(v_org, NULL, p_email, p_username));
    END;

    PERFORM pliers._append_event('user', v_user.id, v_user.revision, 'user.created', pliers._user_payload(v_user));
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.add_user(text, text[], text, text, text, text, text, text) IS
'Adds an active user to the current organization, without invitation (it logs in once a password is set: '
'set_user_password). Permission user.manage and every permission of p_roles (PL006). PL001 with every error '
'(email, username, names, timezone, locale, roles[i]; email or username of a live user: code taken). Appends '
'user.created. Returns the row.';

CREATE FUNCTION pliers.get_user(p_user_id uuid)
RETURNS pliers.users
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user pliers.users;
BEGIN
    SELECT u.* INTO v_user FROM pliers.users AS u WHERE u.organization_id = v_org AND u.id = p_user_id;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('user', p_user_id);
    END IF;
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.get_user(uuid) IS
'A user of the current organization, deleted ones included (any member may read the directory); PL002 when unknown '
'or another tenant''s, PL008 without a context.';

CREATE FUNCTION pliers.list_users(p_status pliers.user_status DEFAULT NULL, p_limit integer DEFAULT 1000)
RETURNS SETOF pliers.users
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM pliers._raise_invalid(
            'limit out of range',
            pg_catalog.jsonb_build_array(pliers._form_error('limit', 'out_of_range', 'between 1 and 10000'))
        );
    END IF;
    RETURN QUERY
    SELECT u.*
    FROM pliers.users AS u
    WHERE
        u.organization_id = v_org
        AND (p_status IS NULL AND u.deleted_at IS NULL OR u.status = p_status)
    ORDER BY pg_catalog.lower(u.email), u.id
    LIMIT p_limit;
END
$$;

COMMENT ON FUNCTION pliers.list_users(pliers.user_status, integer) IS
'The users of the current organization by e-mail: the live ones, or those of status p_status (deleted included). '
'At most p_limit (1..10000, else PL001). PL008 without a context.';

CREATE FUNCTION pliers.update_user_profile(
    p_user_id uuid,
    p_expected_revision integer,
    p_email text DEFAULT NULL,
    p_username text DEFAULT NULL,
    p_display_name text DEFAULT NULL,
    p_first_name text DEFAULT NULL,
    p_last_name text DEFAULT NULL,
    p_avatar_url text DEFAULT NULL,
    p_timezone text DEFAULT NULL,
    p_locale text DEFAULT NULL
)
RETURNS pliers.users
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user pliers.users;
    v_errors jsonb;
    v_changes jsonb;
    v_taken text[];
BEGIN
    v_user := pliers._lock_user(p_user_id);
    PERFORM pliers._require_user_manager(v_user, TRUE);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('user', v_user.id, p_expected_revision, v_user.revision);
    v_errors := pliers._check_user_fields(
        p_email, p_username, p_display_name, p_first_name, p_last_name, p_avatar_url, p_timezone, p_locale
    );
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the user is not valid', v_errors);
    END IF;
    v_taken := pliers._user_taken(v_org, v_user.id, p_email, p_username);
    IF pg_catalog.cardinality(v_taken) > 0 THEN
        PERFORM pliers._raise_user_taken(v_taken);
    END IF;

    SELECT coalesce(pg_catalog.jsonb_object_agg(c.key, c.value), '{}')
    INTO v_changes
    FROM (
        VALUES
        ('email', pg_catalog.to_jsonb(p_email), pg_catalog.to_jsonb(v_user.email::text)),
        ('username', pg_catalog.to_jsonb(p_username), pg_catalog.to_jsonb(v_user.username::text)),
        ('display_name', pg_catalog.to_jsonb(p_display_name), pg_catalog.to_jsonb(v_user.display_name::text)),
        ('first_name', pg_catalog.to_jsonb(p_first_name), pg_catalog.to_jsonb(v_user.first_name::text)),
        ('last_name', pg_catalog.to_jsonb(p_last_name), pg_catalog.to_jsonb(v_user.last_name::text)),
        ('avatar_url', pg_catalog.to_jsonb(p_avatar_url), pg_catalog.to_jsonb(v_user.avatar_url::text)),
        ('timezone', pg_catalog.to_jsonb(p_timezone), pg_catalog.to_jsonb(v_user.timezone::text)),
        ('locale', pg_catalog.to_jsonb(p_locale), pg_catalog.to_jsonb(v_user.locale::text))
    ) AS c (key, value, old_value)
    WHERE c.value IS NOT NULL AND c.value IS DISTINCT FROM c.old_value;
    IF v_changes = '{}' THEN
        RETURN v_user;  -- nothing changes: no write, no event
    END IF;

    BEGIN
        UPDATE pliers.users AS u
        SET
            updated_at = pg_catalog.now(),
            email = coalesce(p_email, u.email),
            username = coalesce(p_username, u.username),
            display_name = coalesce(p_display_name, u.display_name),
            first_name = coalesce(p_first_name, u.first_name),
            last_name = coalesce(p_last_name, u.last_name),
            avatar_url = coalesce(p_avatar_url, u.avatar_url),
            timezone = coalesce(p_timezone, u.timezone),
            locale = coalesce(p_locale, u.locale),
            updated_by = pliers.current_user_id()
        WHERE u.organization_id = v_org AND u.id = v_user.id
        RETURNING u.* INTO v_user;
    EXCEPTION WHEN unique_violation THEN
        PERFORM pliers._raise_user_taken(pliers._user_taken(v_org, v_user.id, p_email, p_username));
    END;

    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, 'user.updated', pg_catalog.jsonb_build_object('changes', v_changes)
    );
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.update_user_profile(uuid, integer, text, text, text, text, text, text, text, text) IS
'Edits a user''s profile; NULL arguments leave their column unchanged. The user itself, or user.manage with every '
'permission of the user''s roles (PL006). p_expected_revision required (PL001 without, PL003 stale). PL001 with '
'every error (email, username, names, avatar_url, timezone: a pg_timezone_names name, locale: BCP 47; email or '
'username of another live user: taken). PL002, PL008. Appends user.updated ({changes}) unless nothing changes.';

CREATE FUNCTION pliers.update_user_preferences(
    p_user_id uuid,
    p_preferences jsonb,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.users
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user pliers.users;
BEGIN
    v_user := pliers._lock_user(p_user_id);
    PERFORM pliers._require_user_manager(v_user, TRUE);
    PERFORM pliers._check_expected_version('user', v_user.id, p_expected_revision, v_user.revision);
    IF p_preferences IS NULL OR pg_catalog.jsonb_typeof(p_preferences) <> 'object' THEN
        PERFORM pliers._raise_invalid('preferences must be a JSON object', pg_catalog.jsonb_build_array(
            pliers._form_error('preferences', 'invalid', 'a JSON object')
        ));
    ELSIF pg_catalog.octet_length(p_preferences::text) > 16384 THEN
        PERFORM pliers._raise_invalid('preferences too large', pg_catalog.jsonb_build_array(
            pliers._form_error('preferences', 'too_large', 'at most 16384 bytes of JSON')
        ));
    END IF;
    IF p_preferences = v_user.preferences THEN
        RETURN v_user;
    END IF;

    UPDATE pliers.users AS u
    SET updated_at = pg_catalog.now(), preferences = p_preferences, updated_by = pliers.current_user_id()
    WHERE u.organization_id = v_org AND u.id = v_user.id
    RETURNING u.* INTO v_user;

    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, 'user.preferences_updated',
        pg_catalog.jsonb_build_object('preferences', p_preferences)
    );
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.update_user_preferences(uuid, jsonb, integer) IS
'Replaces a user''s preferences (a JSON object of at most 16384 bytes, else PL001). The user itself, or user.manage '
'with every permission of the user''s roles (PL006). PL003 when p_expected_revision is given and stale; PL002, '
'PL008. Appends user.preferences_updated unless nothing changes.';

CREATE FUNCTION pliers.change_user_roles(p_user_id uuid, p_roles text[], p_expected_revision integer)
RETURNS pliers.users
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user pliers.users;
    v_errors jsonb;
    v_added text[];
    v_removed text[];
BEGIN
    v_user := pliers._lock_user(p_user_id);
    PERFORM pliers._require_permission('user.manage');
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('user', v_user.id, p_expected_revision, v_user.revision);
    v_errors := pliers._check_user_roles(p_roles);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the roles are not valid', v_errors);
    END IF;
    p_roles := ARRAY(SELECT DISTINCT r.role FROM pg_catalog.unnest(p_roles) AS r (role) ORDER BY r.role);
    v_added := ARRAY(SELECT r.role FROM pg_catalog.unnest(p_roles) AS r (role) WHERE r.role <> ALL(v_user.roles));
    v_removed := ARRAY(SELECT r.role FROM pg_catalog.unnest(v_user.roles) AS r (role) WHERE r.role <> ALL(p_roles));
    IF pg_catalog.cardinality(v_added) = 0 AND pg_catalog.cardinality(v_removed) = 0 THEN
        RETURN v_user;
    END IF;
    -- Taking a role away needs it as much as giving it (no demotion of a stronger user).
    PERFORM pliers._assert_grantable(v_removed);
    IF 'org_owner' = ANY(v_removed) THEN
        PERFORM pliers._assert_owner_remains(v_org, v_user.id);
    END IF;

    UPDATE pliers.users AS u
    SET updated_at = pg_catalog.now(), roles = p_roles, updated_by = pliers.current_user_id()
    WHERE u.organization_id = v_org AND u.id = v_user.id
    RETURNING u.* INTO v_user;

    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, 'user.roles_changed',
        pg_catalog.jsonb_build_object(
            'roles', pg_catalog.to_jsonb(p_roles), 'added', pg_catalog.to_jsonb(v_added),
            'removed', pg_catalog.to_jsonb(v_removed)
        )
    );
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.change_user_roles(uuid, text[], integer) IS
'Replaces a user''s organization-wide roles. Permission user.manage, and every permission of each role given or '
'taken away (pliers._assert_grantable: PL006; unknown roles PL001 at roles[i]). Removing org_owner from the last '
'active owner: PL003 (pliers._assert_owner_remains). p_expected_revision required (PL001, PL003 stale). PL002, PL008. '
'Appends user.roles_changed ({roles, added, removed}) unless nothing changes.';

CREATE FUNCTION pliers.suspend_user(p_user_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.users
LANGUAGE sql
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT pliers._move_user_status(p_user_id, 'suspended', 'suspend_user', 'user.suspended', p_expected_revision)
$$;

COMMENT ON FUNCTION pliers.suspend_user(uuid, integer) IS
'Suspends an active (or inactive) user: no context can be opened for it any more. Permission user.manage and the '
'user''s roles (PL006); the last active org_owner: PL003; other statuses PL004; stale p_expected_revision PL003. '
'Appends user.suspended.';

CREATE FUNCTION pliers.reactivate_user(p_user_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.users
LANGUAGE sql
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT pliers._move_user_status(p_user_id, 'active', 'reactivate_user', 'user.reactivated', p_expected_revision)
$$;

COMMENT ON FUNCTION pliers.reactivate_user(uuid, integer) IS
'Makes a suspended (or inactive) user active again. Permission user.manage and the user''s roles (PL006); other '
'statuses PL004; stale p_expected_revision PL003. Appends user.reactivated.';

CREATE FUNCTION pliers.delete_user(p_user_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.users
LANGUAGE sql
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT pliers._move_user_status(p_user_id, 'deleted', 'delete_user', 'user.deleted', p_expected_revision)
$$;

COMMENT ON FUNCTION pliers.delete_user(uuid, integer) IS
'Soft-deletes a user (status deleted, deleted_at; its e-mail may be used again) and drops its secrets (password '
'hash, MFA secret, invitation: a pending user''s invitation is withdrawn). Permission user.manage and the user''s '
'roles (PL006); the last active org_owner: PL003; stale p_expected_revision PL003. Appends user.deleted.';

CREATE FUNCTION pliers.erase_user_account(p_user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user pliers.users;
    v_erased jsonb;
BEGIN
    v_user := pliers._lock_user(p_user_id, TRUE);
    PERFORM pliers._require_permission('user.erase');
    PERFORM pliers._assert_grantable(v_user.roles, 'organization', NULL, 'user_id');
    PERFORM pliers._assert_owner_remains(v_org, v_user.id);
    DELETE FROM pliers.user_secrets AS s WHERE s.organization_id = v_org AND s.user_id = v_user.id;
    -- erase_user rewrites history under pliers.maintenance and pliers.audit_reason, which it
    -- sets with set_config: on the coordinator only. On Citus the workers that hold the
    -- tenant's events and audit rows need them too (SET LOCAL, propagated), and lose them
    -- again when it returns.
    IF pliers._on_citus() THEN
        SET LOCAL citus.propagate_set_commands = 'local';
        SET LOCAL pliers.maintenance = 'on';
        SET LOCAL pliers.audit_reason = 'erase_user';
    END IF;
    v_erased := pliers.erase_user(v_org, v_user.id);
    IF pliers._on_citus() THEN
        SET LOCAL pliers.maintenance = '';
        SET LOCAL pliers.audit_reason = '';
    END IF;
    RETURN v_erased;
END
$$;

COMMENT ON FUNCTION pliers.erase_user_account(uuid) IS
'Erases a user of the current organization (right to erasure): its secrets, then pliers.erase_user (the personal '
'data in the user row, its submissions'' request metadata, events and audit rows). Permission user.erase (org_owner) '
'and every permission of the user''s roles (PL006); the last active org_owner: PL003; PL002, PL008. Returns what '
'erase_user returns.';

-- ---------------------------------------------------------------------------
-- Passwords and MFA secrets (hashed and encrypted by the library)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.password_policy()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._password_policy(pliers._require_context());
END
$$;

COMMENT ON FUNCTION pliers.password_policy() IS
'The password policy of the current organization (settings security.password_policy, defaulted): {min_length, '
'require_special, max_failed_attempts, lockout_minutes}. The library checks a plaintext against it before hashing. '
'Any user; PL008 without a context.';

CREATE FUNCTION pliers.set_user_password(p_user_id uuid, p_password_hash text)
RETURNS pliers.users
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_now constant timestamptz := pg_catalog.now();
    v_user pliers.users;
    v_errors jsonb;
BEGIN
    v_user := pliers._lock_user(p_user_id);
    PERFORM pliers._require_user_manager(v_user, TRUE);
    v_errors := pliers._check_password_hash(p_password_hash);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the password hash is not valid', v_errors);
    END IF;

    INSERT INTO pliers.user_secrets AS s (organization_id, user_id, password_hash, updated_at)
    VALUES (v_org, v_user.id, p_password_hash, v_now)
    ON CONFLICT (organization_id, user_id) DO UPDATE
        SET password_hash = excluded.password_hash, updated_at = excluded.updated_at;
    UPDATE pliers.users AS u
    SET
        updated_at = v_now, password_changed_at = v_now, failed_login_count = 0, locked_until = NULL,
        updated_by = pliers.current_user_id()
    WHERE u.organization_id = v_org AND u.id = v_user.id
    RETURNING u.* INTO v_user;

    PERFORM pliers._append_event(
        'user', v_user.id, v_user.revision, 'user.password_changed',
        pg_catalog.jsonb_build_object('password_changed_at', v_now)
    );
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.set_user_password(uuid, text) IS
'Stores a user''s password as the argon2id hash the library computed (PL001: required, invalid_format; never a '
'plaintext), sets password_changed_at and lifts a lockout. The user itself, or user.manage with every permission '
'of the user''s roles (PL006). PL002, PL008. Appends user.password_changed (the time only).';

CREATE FUNCTION pliers.set_user_mfa(p_user_id uuid, p_secret_ciphertext bytea, p_secret_key_id text)
RETURNS pliers.users
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_now constant timestamptz := pg_catalog.now();
    v_user pliers.users;
    v_errors jsonb := '[]';
BEGIN
    v_user := pliers._lock_user(p_user_id);
    PERFORM pliers._require_user_manager(v_user, TRUE);
    IF (p_secret_ciphertext IS NULL) <> (p_secret_key_id IS NULL) THEN
        v_errors := v_errors || pliers._form_error(
            'secret_key_id', 'secret_incomplete', 'the secret ciphertext and the id of its key go together'
        );
    END IF;
    IF p_secret_key_id !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' THEN
        v_errors := v_errors || pliers._form_error('secret_key_id', 'invalid_format', 'letters, digits, _ . - only');
    END IF;
    IF pg_catalog.octet_length(p_secret_ciphertext) NOT BETWEEN 30 AND 1024 THEN
        v_errors := v_errors || pliers._form_error(
            'secret_ciphertext', 'invalid', 'an encrypted secret of the library, 30 to 1024 bytes'
        );
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the MFA secret is not valid', v_errors);
    END IF;

    INSERT INTO pliers.user_secrets AS s (organization_id, user_id, mfa_secret_ciphertext, mfa_secret_key_id, updated_at)
    VALUES (v_org, v_user.id, p_secret_ciphertext, p_secret_key_id, v_now)
    ON CONFLICT (organization_id, user_id) DO UPDATE
        SET
            mfa_secret_ciphertext = excluded.mfa_secret_ciphertext,
            mfa_secret_key_id = excluded.mfa_secret_key_id,
            updated_at = excluded.updated_at;
    IF v_user.mfa_enabled IS DISTINCT FROM (p_secret_ciphertext IS NOT NULL) THEN
        UPDATE pliers.users AS u
        SET updated_at = v_now, mfa_enabled = (p_secret_ciphertext IS NOT NULL), updated_by = pliers.current_user_id()
        WHERE u.organization_id = v_org AND u.id = v_user.id
        RETURNING u.* INTO v_user;
        PERFORM pliers._append_event(
            'user', v_user.id, v_user.revision, CASE WHEN v_user.mfa_enabled THEN 'user.mfa_enabled' ELSE 'user.mfa_disabled' END,
            pg_catalog.jsonb_build_object('mfa_enabled', v_user.mfa_enabled)
        );
    END IF;
    RETURN v_user;
END
$$;

COMMENT ON FUNCTION pliers.set_user_mfa(uuid, bytea, text) IS
'Stores a user''s MFA (TOTP) secret encrypted by the library (AES-256-GCM, with the id of its key), or removes it '
'(both NULL): mfa_enabled follows. The user itself, or user.manage with every permission of the user''s roles '
'(PL006). PL001 (secret_incomplete, invalid_format, invalid size). Appends user.mfa_enabled / user.mfa_disabled '
'when that changes; never the secret.';

-- ---------------------------------------------------------------------------
-- Logins (before a context exists) and activity
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.login_credentials(p_organization_id uuid, p_email text)
RETURNS TABLE (
    user_id uuid,
    password_hash text,
    mfa_enabled boolean,
    mfa_secret_ciphertext bytea,
    mfa_secret_key_id text,
    refused text,
    locked_until timestamptz
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_user record;
BEGIN
    SELECT u.id, u.status, u.locked_until, u.mfa_enabled, s.password_hash, s.mfa_secret_ciphertext,
        s.mfa_secret_key_id
    INTO v_user
    FROM pliers.users AS u
    INNER JOIN pliers.user_secrets AS s ON u.organization_id = s.organization_id AND u.id = s.user_id
    WHERE
        u.organization_id = p_organization_id AND pg_catalog.length(p_email) <= 255
        AND pg_catalog.lower(u.email) = pg_catalog.lower(p_email) AND u.deleted_at IS NULL;
    -- A refusal is a row, not an error: the caller's transaction goes on (record_login).
    IF v_user.id IS NULL OR v_user.status <> 'active' OR v_user.password_hash IS NULL THEN
        RETURN QUERY SELECT NULL::uuid, NULL::text, NULL::boolean, NULL::bytea, NULL::text, 'invalid'::text,
            NULL::timestamptz;
    ELSIF v_user.locked_until > pg_catalog.now() THEN
        RETURN QUERY SELECT v_user.id, NULL::text, NULL::boolean, NULL::bytea, NULL::text, 'locked_out'::text,
            v_user.locked_until;
    ELSE
        RETURN QUERY SELECT v_user.id, v_user.password_hash, v_user.mfa_enabled, v_user.mfa_secret_ciphertext,
            v_user.mfa_secret_key_id, NULL::text, NULL::timestamptz;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.login_credentials(uuid, text) IS
'For the login of the library (pliersdb.users), without a context: one row with the password hash and encrypted '
'MFA secret of the live active user with e-mail p_email in organization p_organization_id, for the library to '
'verify before it calls record_login. Or a refusal, without any secret: refused invalid (no such active user with '
'a password: one answer for all, revealing nothing) or locked_out (user_id and locked_until set).';

CREATE FUNCTION pliers.record_login(
    p_organization_id uuid,
    p_user_id uuid,
    p_success boolean,
    p_session_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL
)
RETURNS TABLE (organization_id uuid, user_id uuid, failed_login_count integer, locked_until timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    v_now constant timestamptz := pg_catalog.now();
    v_user record;
    v_policy jsonb;
    v_failed integer;
    v_locked_until timestamptz;
    v_reason text;
BEGIN
    IF p_success IS NULL THEN
        PERFORM pliers._raise_invalid('success is required', pg_catalog.jsonb_build_array(
            pliers._form_error('success', 'required', 'whether the password was right')
        ));
    END IF;
    SELECT u.id, u.status, u.failed_login_count, u.locked_until INTO v_user
    FROM pliers.users AS u
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id AND u.deleted_at IS NULL
    FOR UPDATE;
    IF v_user.id IS NULL OR v_user.status <> 'active' THEN
        v_reason := 'invalid';
    ELSIF v_user.locked_until > v_now THEN
        v_reason := 'locked_out';
    END IF;
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'invalid credentials'
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'login', 'object', 'user', 'reason', v_reason, 'locked_until', v_user.locked_until
                )::text;
    END IF;

    IF p_success THEN
        UPDATE pliers.users AS u
        SET
            updated_at = v_now, last_login_at = v_now, last_activity_at = v_now, failed_login_count = 0,
            locked_until = NULL
        WHERE u.organization_id = p_organization_id AND u.id = v_user.id;
        v_reason := pliers._set_context(
            p_organization_id, v_user.id, p_session_id, p_ip_address, p_user_agent, NULL, NULL, NULL
        );
        IF v_reason IS NOT NULL THEN
            RAISE EXCEPTION 'invalid credentials'
                USING
                    ERRCODE = 'PL006',
                    DETAIL = pg_catalog.jsonb_build_object(
                        'permission', 'login', 'object', 'user', 'reason', v_reason
                    )::text;
        END IF;
        RETURN QUERY SELECT p_organization_id, v_user.id, 0, NULL::timestamptz;
        RETURN;
    END IF;

    v_policy := pliers._password_policy(p_organization_id);
    v_failed := v_user.failed_login_count + 1;
    IF v_failed >= (v_policy ->> 'max_failed_attempts')::integer THEN
        v_locked_until := v_now + pg_catalog.make_interval(mins => (v_policy ->> 'lockout_minutes')::integer);
        v_failed := 0;
    END IF;
    UPDATE pliers.users AS u
    SET updated_at = v_now, failed_login_count = v_failed, locked_until = v_locked_until
    WHERE u.organization_id = p_organization_id AND u.id = v_user.id;
    RETURN QUERY SELECT p_organization_id, v_user.id, v_failed, v_locked_until;
END
$$;

COMMENT ON FUNCTION pliers.record_login(uuid, uuid, boolean, uuid, inet, text) IS
'Records the outcome of a password check made by the library, without a context. Success: last_login_at and '
'last_activity_at set, failed_login_count reset, and the user''s context opened for the rest of the transaction. '
'Failure: failed_login_count + 1; at the policy''s max_failed_attempts (default 5) the user is locked out for '
'lockout_minutes (default 15: locked_until) and the count starts again. A user who is not active, or is locked out, '
'raises PL006 (DETAIL {permission: login, object: user, reason: invalid or locked_out, locked_until}) and nothing is '
'written. Returns organization_id, user_id, failed_login_count, locked_until.';

CREATE FUNCTION pliers.touch_user_activity()
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_user_id constant uuid := pliers.current_user_id();
    v_now constant timestamptz := pg_catalog.now();
BEGIN
    IF pg_catalog.current_setting('transaction_read_only') = 'on' THEN
        RETURN FALSE;
    END IF;
    -- At most once a minute, and never waiting: a request that finds the row locked skips it.
    PERFORM
    FROM pliers.users AS u
    WHERE
        u.organization_id = v_org AND u.id = v_user_id
        AND (u.last_activity_at IS NULL OR u.last_activity_at < v_now - INTERVAL '1 minute')
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    UPDATE pliers.users AS u
    SET updated_at = v_now, last_activity_at = v_now
    WHERE u.organization_id = v_org AND u.id = v_user_id;
    RETURN TRUE;
END
$$;

COMMENT ON FUNCTION pliers.touch_user_activity() IS
'Sets the current user''s last_activity_at to now when it is older than a minute (no hot row: at most one write a '
'minute per user, skipped when the row is locked or the transaction read-only); TRUE when written. PL008 without a '
'context. Not audited (an ignored column).';

REVOKE ALL ON FUNCTION
pliers.user_status_moves(),
pliers._user_payload(pliers.users),
pliers._check_user_fields(text, text, text, text, text, text, text, text),
pliers._check_user_roles(text[]),
pliers._raise_user_taken(text[]),
pliers._user_taken(uuid, uuid, text, text),
pliers._lock_user(uuid, boolean),
pliers._require_user_manager(pliers.users, boolean),
pliers._password_policy(uuid),
pliers._check_password_hash(text),
pliers._move_user_status(uuid, pliers.user_status, text, text, integer),
pliers.invite_user(text, text[], text, interval),
pliers.accept_invitation(text, uuid, inet, text),
pliers.add_user(text, text[], text, text, text, text, text, text),
pliers.get_user(uuid),
pliers.list_users(pliers.user_status, integer),
pliers.update_user_profile(uuid, integer, text, text, text, text, text, text, text, text),
pliers.update_user_preferences(uuid, jsonb, integer),
pliers.change_user_roles(uuid, text[], integer),
pliers.suspend_user(uuid, integer),
pliers.reactivate_user(uuid, integer),
pliers.delete_user(uuid, integer),
pliers.erase_user_account(uuid),
pliers.password_policy(),
pliers.set_user_password(uuid, text),
pliers.set_user_mfa(uuid, bytea, text),
pliers.login_credentials(uuid, text),
pliers.record_login(uuid, uuid, boolean, uuid, inet, text),
pliers.touch_user_activity()
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.user_status_moves(),
pliers.invite_user(text, text[], text, interval),
pliers.accept_invitation(text, uuid, inet, text),
pliers.add_user(text, text[], text, text, text, text, text, text),
pliers.get_user(uuid),
pliers.list_users(pliers.user_status, integer),
pliers.update_user_profile(uuid, integer, text, text, text, text, text, text, text, text),
pliers.update_user_preferences(uuid, jsonb, integer),
pliers.change_user_roles(uuid, text[], integer),
pliers.suspend_user(uuid, integer),
pliers.reactivate_user(uuid, integer),
pliers.delete_user(uuid, integer),
pliers.erase_user_account(uuid),
pliers.password_policy(),
pliers.set_user_password(uuid, text),
pliers.set_user_mfa(uuid, bytea, text),
pliers.login_credentials(uuid, text),
pliers.record_login(uuid, uuid, boolean, uuid, inet, text),
pliers.touch_user_activity()
TO pliers_app;
