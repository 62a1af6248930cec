-- Tenant context and permissions.
--
-- The context (DESIGN decision 3, revised) is one transaction-local setting,
-- pliers.context, written only by pliers.set_context and pliers.authenticate_api_key
-- (sql/92-api-keys.sql): a token that SQL cannot forge.
--
--     <organization_id>|<user_id>|<permissions>|<api_key_id>|<denied permissions>|
--     <api key scopes>|<session_id>|<correlation_id>|<ip_address>|<user agent, hex>|<mac>
--
-- (permission lists comma-separated). <mac> is a MAC of the rest and of the start time
-- of the transaction that set it, under a key only pliers_owner can read
-- (pliers.context_keys): hex(sha256(outer_key || sha256(inner_key || payload || '|' ||
-- binding))). Every reader goes through pliers.current_context(), which recomputes the
-- MAC: a value written by set_config, SET, SET LOCAL or RESET, a copy kept at session
-- level, or one carried into a later transaction reads as no context at all. Verified
-- on every evaluation, so a setting changed in the middle of a statement (by a function
-- in its target list, between the FETCHes of a cursor) is caught too.
--
-- Cost (bench/RESULTS.md): one verification is a read of a one-row table and two
-- SHA-256 of ~200 bytes, a few microseconds. A policy's organization_id =
-- pliers.current_organization_id() is a stable expression: an index scan evaluates it
-- once, as its key; only a filter evaluates it per row.
--
-- An empty or absent setting means "no tenant", and every policy then matches no row
-- (no fail-open branch).
--
-- Permissions (docs/security.md). A user may do P on an object when P is
--   1. organization-wide: granted by a role of users.roles, by a live role assignment of
--      scope organization, or by users.permissions {"P": true}; or
--   2. scoped to the object: a live role assignment on that form, workflow or team; on a
--      form, a current form_collaborators row (can_edit -> form.edit, can_delete ->
--      form.delete, can_publish -> form.publish, can_view_submissions -> submission.view,
--      any row -> form.view) or the form's visibility (organization or public -> form.view,
--      submission.create); on a team, current membership (any team role -> submission.view
--      of the team's submissions, owner/admin/member -> submission.update, owner/admin ->
--      team.manage);
-- and P is not denied: users.permissions {"P": false} denies P everywhere, and a context
-- opened with an API key whose scopes are not empty allows only those scopes.
-- A live role assignment is neither revoked nor expired.
--
-- The organization-wide permissions are read by set_context, and carried in the token.
-- They are computed when they change, not per call: pliers.user_permissions holds them
-- for every user, kept by triggers on users and role_assignments (and by
-- refresh_user_permissions after a change of the roles catalogue), and valid
-- until the first expiry of an assignment it counts (then set_context computes them
-- again). pliers.has_permission runs its queries only for the scoped paths, that is
-- for users without the organization-wide permission. The price: a role granted or
-- revoked during a transaction applies from the next set_context.

-- ---------------------------------------------------------------------------
-- The key
-- ---------------------------------------------------------------------------

CREATE TABLE pliers.context_keys (
    singleton boolean PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    signing_key bytea NOT NULL CHECK (pg_catalog.octet_length(signing_key) = 32),
    rotated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE pliers.context_keys IS
'The key that signs tenant contexts (one row). Readable by pliers_owner only: whoever reads it can forge a context '
'for any tenant. pliers.rotate_context_key() replaces it; contexts open at that moment end.';

-- 32 bytes from two gen_random_uuid() (244 random bits from the server's strong source).
CREATE FUNCTION pliers._random_key()
RETURNS bytea
LANGUAGE sql
VOLATILE
AS $$
    SELECT pg_catalog.decode(
        pg_catalog.replace(pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex'
    )
$$;

COMMENT ON FUNCTION pliers._random_key() IS 'Private: 32 random bytes (two gen_random_uuid()), for pliers.context_keys.';

INSERT INTO pliers.context_keys (signing_key) VALUES (pliers._random_key());

-- The key as a constant: declared IMMUTABLE (it is not), the planner evaluates it once,
-- when it plans the expression of current_context or _store_context, which then run
-- without a query (a query was 4 us of each verification). rotate_context_key touches
-- both functions so that every session plans them again, with the new key.
CREATE FUNCTION pliers._context_key()
RETURNS bytea
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT k.signing_key FROM pliers.context_keys AS k
$$;

COMMENT ON FUNCTION pliers._context_key() IS
'Private: the signing key. Declared IMMUTABLE so that it is folded into the cached plans of current_context and '
'_store_context; pliers.rotate_context_key makes them planned again.';

CREATE FUNCTION pliers.rotate_context_key()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = ''
AS $$
DECLARE
    -- A value: Citus runs no VOLATILE function in an UPDATE of a reference table.
    v_key constant bytea := pliers._random_key();
BEGIN
    UPDATE pliers.context_keys
    SET signing_key = v_key, rotated_at = pg_catalog.now();
    -- A new row version of each function: every session compiles them again.
    ALTER FUNCTION pliers.current_context() SET search_path = '';
    ALTER FUNCTION pliers._store_context(text) COST 100;
END
$$;

COMMENT ON FUNCTION pliers.rotate_context_key() IS
'Replaces the key that signs tenant contexts (pliers_owner or a superuser). Contexts opened before end at once: '
'their next statement sees no tenant. For a key that may have leaked (a dump, a backup).';

-- ---------------------------------------------------------------------------
-- Reading the context
-- ---------------------------------------------------------------------------

-- Whether this database runs on Citus (the extension is installed on every node).
-- Declared IMMUTABLE (it is not): folded into the cached plans of its callers, which
-- then branch without a query. distribute (pliersdb/distribute.py) installs Citus
-- before any session of the application.
CREATE FUNCTION pliers._on_citus()
RETURNS boolean
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'citus')
$$;

COMMENT ON FUNCTION pliers._on_citus() IS
'Private: TRUE when the Citus extension is installed. Declared IMMUTABLE so that callers branch on a constant.';

-- What binds a context to its transaction: the start time of the transaction, so that
-- a token is worth nothing in any other one, even in the same session. (Not the
-- backend pid: parallel workers have their own, and evaluate policies too.) On Citus,
-- the distributed transaction (initiating node, number and start), which the
-- coordinator and every worker taking part see alike, and which is assigned by the
-- first statement that reaches a shard: none yet gives NULL, and no context verifies.
-- PL/pgSQL: parsed only where it runs, on Citus (the function it calls is Citus's).
CREATE FUNCTION pliers._citus_transaction()
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT t.initiator_node_identifier || ':' || t.transaction_number || ':' || t.transaction_stamp
        FROM pg_catalog.get_current_transaction_id() AS t
        WHERE t.transaction_number > 0
    );
END
$$;

COMMENT ON FUNCTION pliers._citus_transaction() IS
'Private: the distributed transaction of Citus, as initiating node:number:start (NULL before its first statement on '
'a shard). Called on Citus only.';

-- SQL, inlined: on one server _on_citus() folds to false and the CASE to its ELSE, so
-- a verification costs what it did before Citus (no function call).
CREATE FUNCTION pliers._context_binding()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN pliers._on_citus() THEN pliers._citus_transaction()
        ELSE EXTRACT(EPOCH FROM pg_catalog.transaction_timestamp())::text
    END
$$;

COMMENT ON FUNCTION pliers._context_binding() IS
'Private: what a context''s MAC binds it to, this transaction: its start time; on Citus the distributed transaction '
'(pliers._citus_transaction).';

-- The MAC of a payload in this transaction. One SHA-256 of key || message: a length
-- extension would need the digest's padding, zero bytes that a setting (a C string)
-- cannot hold. An expression, inlined into the one query of each caller.
CREATE FUNCTION pliers._context_mac(p_payload bytea, p_key bytea)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(pg_catalog.sha256(
        p_key || p_payload || pg_catalog.textsend('|' || pliers._context_binding())
    ), 'hex')
$$;

COMMENT ON FUNCTION pliers._context_mac(bytea, bytea) IS
'Private: hex(sha256(key || payload || ''|'' || pliers._context_binding())), the payload as bytes; NULL without a '
'binding.';

CREATE FUNCTION pliers.current_context()
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    -- Bytes, not characters: each text function would walk the token's characters again.
    v_token constant bytea := pg_catalog.textsend(pg_catalog.current_setting('pliers.context', true));
    v_length constant integer := pg_catalog.octet_length(v_token);
BEGIN
    -- 64 hex digits of MAC after the last '|'. An expression without a query: the key is
    -- a constant of its cached plan (_context_key).
    IF v_length > 65 AND pg_catalog.get_byte(v_token, v_length - 65) = 124
        AND pliers._context_mac(pg_catalog.substr(v_token, 1, v_length - 65), pliers._context_key())
            = pg_catalog.encode(pg_catalog.substr(v_token, v_length - 63), 'escape') THEN
        RETURN pg_catalog.convert_from(pg_catalog.substr(v_token, 1, v_length - 65), 'UTF8');
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers.current_context() IS
'The verified tenant context of this transaction (the payload of pliers.context), or NULL: no context, or a value '
'that pliers.set_context / authenticate_api_key did not write in this transaction. SECURITY DEFINER: it reads the '
'signing key. Every other reader of the context calls it.';

-- Inlinable wrappers: a policy's organization_id = pliers.current_organization_id()
-- becomes a comparison with a stable expression that an index scan takes as its key.
CREATE FUNCTION pliers.current_organization_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT nullif(pg_catalog.split_part(pliers.current_context(), '|', 1), '')::uuid
$$;

COMMENT ON FUNCTION pliers.current_organization_id() IS
'The organization of the current tenant context, NULL when none is set. '
'Inlinable: RLS policies compare organization_id with it.';

CREATE FUNCTION pliers.current_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT nullif(pg_catalog.split_part(pliers.current_context(), '|', 2), '')::uuid
$$;

COMMENT ON FUNCTION pliers.current_user_id() IS
'The acting user of the current tenant context (for an API key: its creator), NULL when none is set. Inlinable.';

CREATE FUNCTION pliers.current_permissions()
RETURNS text[]
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(
        pg_catalog.string_to_array(nullif(pg_catalog.split_part(pliers.current_context(), '|', 3), ''), ','),
        '{}'::text[]
    )
$$;

COMMENT ON FUNCTION pliers.current_permissions() IS
'The organization-wide permissions of the current user, as set_context read them (pliers.user_permissions: roles '
'of users.roles, live organization-scope role assignments, users.permissions grants; minus denials; within the API '
'key''s scopes). '
'Empty without a context. Inlinable; permissions on one form, workflow or team: pliers.has_permission.';

CREATE FUNCTION pliers.current_request()
RETURNS TABLE (
    organization_id uuid,
    user_id uuid,
    api_key_id uuid,
    session_id uuid,
    correlation_id uuid,
    ip_address inet,
    user_agent text
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT
        nullif(pg_catalog.split_part(c.payload, '|', 1), '')::uuid,
        nullif(pg_catalog.split_part(c.payload, '|', 2), '')::uuid,
        nullif(pg_catalog.split_part(c.payload, '|', 4), '')::uuid,
        nullif(pg_catalog.split_part(c.payload, '|', 7), '')::uuid,
        nullif(pg_catalog.split_part(c.payload, '|', 8), '')::uuid,
        nullif(pg_catalog.split_part(c.payload, '|', 9), '')::inet,
        pg_catalog.convert_from(pg_catalog.decode(nullif(pg_catalog.split_part(c.payload, '|', 10), ''), 'hex'), 'UTF8')
    -- OFFSET 0 keeps the sub-select a sub-select: pulled up, it would verify the context
    -- once per column.
    FROM (SELECT pliers.current_context() AS payload OFFSET 0) AS c
    WHERE c.payload IS NOT NULL
$$;

COMMENT ON FUNCTION pliers.current_request() IS
'The whole current tenant context in one row (none without a context), for writers that need several parts of it '
'with one verification: organization, user, the API key it was opened with, and the session, correlation id, '
'client address and user agent given to set_context. Events and audit rows record them.';

-- ---------------------------------------------------------------------------
-- Setting the context
-- ---------------------------------------------------------------------------

-- The one place that writes the format of the context (the readers above parse it).
-- Permission names are [a-z_.] (pliers.roles) and the user agent goes hex-encoded: no
-- separator can hide in a field.
CREATE FUNCTION pliers._context_payload(
    p_organization_id uuid,
    p_user_id uuid DEFAULT NULL,
    p_permissions text[] DEFAULT NULL,
    p_api_key_id uuid DEFAULT NULL,
    p_denied_permissions text[] DEFAULT NULL,
    p_api_key_scopes text[] DEFAULT NULL,
    p_session_id uuid DEFAULT NULL,
    p_correlation_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL
)
RETURNS text
LANGUAGE sql
STABLE
AS $$
    -- Concatenation, not format(): the planner inlines it (format() was planned on every
    -- call, 38 us).
    SELECT coalesce(p_organization_id::text, '')
        || '|' || coalesce(p_user_id::text, '')
        || '|' || coalesce(pg_catalog.array_to_string(p_permissions, ','), '')
        || '|' || coalesce(p_api_key_id::text, '')
        || '|' || coalesce(pg_catalog.array_to_string(p_denied_permissions, ','), '')
        || '|' || coalesce(pg_catalog.array_to_string(p_api_key_scopes, ','), '')
        || '|' || coalesce(p_session_id::text, '')
        || '|' || coalesce(p_correlation_id::text, '')
        || '|' || coalesce(pg_catalog.abbrev(p_ip_address), '')
        || '|' || coalesce(pg_catalog.encode(pg_catalog.convert_to(p_user_agent, 'UTF8'), 'hex'), '')
$$;

COMMENT ON FUNCTION pliers._context_payload(uuid, uuid, text[], uuid, text[], text[], uuid, uuid, inet, text) IS
'Private: the payload of pliers.context (fields separated by |, NULL as empty), before _store_context signs it.';

-- Signs a payload and stores it as this transaction's context (NULL: clears it).
-- pliers_owner only. On Citus, as SET LOCAL with SET commands propagated: Citus sends
-- those (not set_config) to the workers of this transaction, whose row-level security
-- verifies the same token.
CREATE FUNCTION pliers._store_context(p_payload text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_token constant text := coalesce(
        p_payload || '|' || pliers._context_mac(pg_catalog.textsend(p_payload), pliers._context_key()), ''
    );
BEGIN
    -- No SET clause (a few us a call): its callers run with search_path = '' and every
    -- name here is qualified.
    IF pliers._on_citus() THEN
        SET LOCAL citus.propagate_set_commands = 'local';
        EXECUTE pg_catalog.format('SET LOCAL pliers.context = %L', v_token);
    ELSE
        PERFORM pg_catalog.set_config('pliers.context', v_token, true);
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._store_context(text) IS
'Private: sets pliers.context, transaction-locally, to p_payload signed for this transaction (NULL, or no binding '
'yet: to empty, no context); on Citus also on the workers of the transaction (SET LOCAL, propagated).';

-- ---------------------------------------------------------------------------
-- Organization-wide permissions, precomputed
-- ---------------------------------------------------------------------------

-- set_context reads a user's organization-wide permissions here instead of computing
-- them from users, roles and role_assignments on every call (issue 13: 126 us -> one
-- row). Triggers on those three tables keep each row equal to what
-- pliers._user_permissions computes; the one thing a trigger cannot see is time, so a
-- row is trusted only until valid_until, the first expiry among the assignments it
-- counts. Derived data, owner only: no grant, and RLS without a policy.
CREATE TABLE pliers.user_permissions (
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    permissions text[] NOT NULL,
    denied text[] NOT NULL,
    valid_until timestamptz NOT NULL,

    CONSTRAINT user_permissions_pkey PRIMARY KEY (organization_id, user_id),
    CONSTRAINT user_permissions_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id)
    ON DELETE CASCADE
);

COMMENT ON TABLE pliers.user_permissions IS
'Private: the organization-wide permissions of each user, as pliers._user_permissions computes them, kept by '
'triggers on users and role_assignments (refresh_user_permissions after a change of pliers.roles); read by '
'set_context. Owner only.';
COMMENT ON COLUMN pliers.user_permissions.permissions IS
'Granted (roles of users.roles, live organization-scope role assignments, users.permissions true), minus denied; sorted';
COMMENT ON COLUMN pliers.user_permissions.denied IS 'Keys of users.permissions whose value is false; sorted';
COMMENT ON COLUMN pliers.user_permissions.valid_until IS
'The earliest expires_at of the live organization-scope assignments counted (infinity: none). From then on '
'set_context computes the permissions again.';

-- The one definition of a user's organization-wide permissions (no row: no such user).
-- Statement by statement, each on one table: Citus plans no parameterized SQL function
-- over distributed tables, nor a table function beside a UNION; both callers use it
-- only when the stored row is missing or stale.
CREATE FUNCTION pliers._user_permissions(p_organization_id uuid, p_user_id uuid)
RETURNS TABLE (permissions text[], denied text[], valid_until timestamptz)
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_roles text[];
    v_grants jsonb;
    v_assigned text[];
BEGIN
    SELECT u.roles, u.permissions INTO v_roles, v_grants
    FROM pliers.users AS u
    WHERE u.organization_id = p_organization_id AND u.id = p_user_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Live organization-scope assignments; the permissions hold until the first expiry.
    SELECT coalesce(pg_catalog.array_agg(ra.role), '{}'), coalesce(pg_catalog.min(ra.expires_at), 'infinity')
    INTO v_assigned, valid_until
    FROM pliers.role_assignments AS ra
    WHERE ra.organization_id = p_organization_id
        AND ra.user_id = p_user_id
        AND ra.scope_type = 'organization'
        AND ra.revoked_at IS NULL
        AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now());
    denied := ARRAY(
        SELECT j.key FROM pg_catalog.jsonb_each(v_grants) AS j WHERE j.value = 'false'::jsonb ORDER BY j.key
    );
    permissions := ARRAY(
        SELECT pg_catalog.unnest(r.permissions) FROM pliers.roles AS r WHERE r.name = ANY(v_roles || v_assigned)
    );
    permissions := ARRAY(
        SELECT DISTINCT g.permission
        FROM pg_catalog.unnest(permissions || ARRAY(
            SELECT j.key FROM pg_catalog.jsonb_each(v_grants) AS j WHERE j.value = 'true'::jsonb
        )) AS g (permission)
        WHERE g.permission <> ALL(denied)
        ORDER BY g.permission
    );
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION pliers._user_permissions(uuid, uuid) IS
'Private: the organization-wide permissions of a user computed from users, roles and role_assignments now: '
'granted minus denied, the denials, and until when they hold (the first expiry of a counted assignment).';

-- Stores what _user_permissions computes. The writers of a user's grants serialize on
-- the user's row: once it is locked, the next statement's snapshot (READ COMMITTED)
-- holds every change committed by another writer, whose own computation came before;
-- under REPEATABLE READ the lock raises a serialization failure instead. A user's
-- UPDATE already holds that lock. set_context asks not to wait (p_skip_locked): whoever
-- holds the lock writes the row.
CREATE FUNCTION pliers._refresh_user_permissions(p_organization_id uuid, p_user_id uuid, p_skip_locked boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_permissions text[];
    v_denied text[];
    v_valid_until timestamptz;
BEGIN
    IF p_skip_locked THEN
        PERFORM FROM pliers.users AS u
        WHERE u.organization_id = p_organization_id AND u.id = p_user_id
        FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    ELSE
        PERFORM FROM pliers.users AS u
        WHERE u.organization_id = p_organization_id AND u.id = p_user_id
        FOR NO KEY UPDATE;
    END IF;
    -- Computed first, then stored with values: one shard on Citus.
    SELECT l.permissions, l.denied, l.valid_until
    INTO v_permissions, v_denied, v_valid_until
    FROM pliers._user_permissions(p_organization_id, p_user_id) AS l;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO pliers.user_permissions AS p (organization_id, user_id, permissions, denied, valid_until)
    VALUES (p_organization_id, p_user_id, v_permissions, v_denied, v_valid_until)
    ON CONFLICT (organization_id, user_id) DO UPDATE
    SET permissions = excluded.permissions, denied = excluded.denied, valid_until = excluded.valid_until;
END
$$;

COMMENT ON FUNCTION pliers._refresh_user_permissions(uuid, uuid, boolean) IS
'Private: recomputes the pliers.user_permissions row of a user under the lock of its users row (with '
'p_skip_locked, does nothing if another transaction holds that lock).';

-- SECURITY DEFINER: pliers_app writes users and role_assignments itself (under RLS),
-- and may not write user_permissions.
CREATE FUNCTION pliers._users_permissions_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    PERFORM pliers._refresh_user_permissions(NEW.organization_id, NEW.id, FALSE);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._users_permissions_changed() IS
'Private trigger: a user inserted, or its roles or permissions changed: recompute its pliers.user_permissions row.';

CREATE TRIGGER users_permissions_insert
AFTER INSERT ON pliers.users
FOR EACH ROW EXECUTE FUNCTION pliers._users_permissions_changed();

COMMENT ON TRIGGER users_permissions_insert ON pliers.users IS 'Computes the user''s pliers.user_permissions row';

CREATE TRIGGER users_permissions_update
AFTER UPDATE OF roles, permissions ON pliers.users
FOR EACH ROW
WHEN (old.roles IS DISTINCT FROM new.roles OR old.permissions IS DISTINCT FROM new.permissions)
EXECUTE FUNCTION pliers._users_permissions_changed();

COMMENT ON TRIGGER users_permissions_update ON pliers.users IS
'Recomputes the user''s pliers.user_permissions row when its roles or permissions change';

CREATE FUNCTION pliers._role_assignments_permissions_changed()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    IF old.scope_type = 'organization' THEN
        PERFORM pliers._refresh_user_permissions(old.organization_id, old.user_id, FALSE);
    END IF;
    IF new.scope_type = 'organization' AND (old.organization_id, old.user_id, old.scope_type)
        IS DISTINCT FROM (new.organization_id, new.user_id, new.scope_type) THEN
        PERFORM pliers._refresh_user_permissions(new.organization_id, new.user_id, FALSE);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._role_assignments_permissions_changed() IS
'Private trigger: an organization-scope role assignment inserted, changed or deleted: recompute the '
'pliers.user_permissions row of its user (both users if it moved).';

CREATE TRIGGER role_assignments_permissions
AFTER INSERT OR UPDATE OR DELETE ON pliers.role_assignments
FOR EACH ROW EXECUTE FUNCTION pliers._role_assignments_permissions_changed();

COMMENT ON TRIGGER role_assignments_permissions ON pliers.role_assignments IS
'Recomputes pliers.user_permissions for the user of an organization-scope assignment';

-- The catalogue of roles is global (a reference table on Citus) and changes with a
-- migration or a DBA's hand, rarely: no trigger fans out from it to every tenant (on
-- Citus, a trigger on a shard cannot reach other shards). Whoever changes it calls this.
CREATE FUNCTION pliers.refresh_user_permissions(p_role text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_user record;
    v_count bigint := 0;
BEGIN
    FOR v_user IN
        SELECT u.organization_id, u.id
        FROM pliers.users AS u
        WHERE p_role IS NULL OR p_role = ANY(u.roles)
        UNION
        SELECT ra.organization_id, ra.user_id
        FROM pliers.role_assignments AS ra
        WHERE (p_role IS NULL OR ra.role = p_role) AND ra.scope_type = 'organization' AND ra.revoked_at IS NULL
    LOOP
        PERFORM pliers._refresh_user_permissions(v_user.organization_id, v_user.id, FALSE);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION pliers.refresh_user_permissions(text) IS
'Recomputes pliers.user_permissions for the holders of role p_role (NULL: every user), in every tenant, and returns '
'how many. Call it after changing the roles catalogue (pliers.roles): set_context reads the stored permissions. '
'Cross-tenant (on Citus it reaches every shard): owner or DBA.';

-- ---------------------------------------------------------------------------
-- Setting the context (continued)
-- ---------------------------------------------------------------------------

-- Shared by set_context and authenticate_api_key, which run it as pliers_owner: not
-- bound by row-level security, so no context is needed for the lookup, which names
-- the tenant itself. One query: membership, status, organization, and the precomputed
-- organization-wide permissions. A row past its valid_until (or missing) is computed
-- again (a fallback in the same query cost 30 us on every call, even unused), and
-- stored again by a read-write READ COMMITTED transaction: not by a read-only one (a
-- standby's are), nor where locking the user could raise a serialization failure.
CREATE FUNCTION pliers._set_context(
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

CREATE FUNCTION pliers.set_context(
    p_organization_id uuid,
    p_user_id uuid,
    p_session_id uuid DEFAULT NULL,
    p_ip_address inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL,
    p_correlation_id uuid DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_reason text;
BEGIN
    IF p_organization_id IS NULL OR p_user_id IS NULL THEN
        RAISE EXCEPTION 'a tenant context needs an organization and a user'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object(
                    'organization_id', p_organization_id, 'user_id', p_user_id
                )::text;
    END IF;

    v_reason := pliers._set_context(
        p_organization_id, p_user_id, p_session_id, p_ip_address, p_user_agent, p_correlation_id, NULL, NULL
    );
    IF v_reason IS NOT NULL THEN
        RAISE EXCEPTION 'user % is not an active member of organization %', p_user_id, p_organization_id
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', 'organization.member',
                    'object', 'organization',
                    'id', p_organization_id,
                    'user_id', p_user_id,
                    'reason', v_reason
                )::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers.set_context(uuid, uuid, uuid, inet, text, uuid) IS
'Opens the tenant context of this transaction: organization, acting user and request metadata, as the signed '
'transaction-local setting pliers.context, valid in this transaction only (call it in every transaction, after BEGIN). '
'The user must be an active user (status active) of a non-deleted, non-suspended organization, else PL006 '
'(DETAIL {permission, object, id, user_id, reason}) and no context; a NULL organization or user raises PL008. '
'Also reads the user''s organization-wide permissions (pliers.current_permissions, pliers.user_permissions). '
'SECURITY DEFINER: the membership check must read users before RLS lets anyone see them.';

-- ---------------------------------------------------------------------------
-- Permission checks
-- ---------------------------------------------------------------------------

-- What a current form_collaborators row and a current team membership give, each rule in
-- one place: has_permission checks them, effective_permissions (sql/37) lists them.
-- Inlinable (LANGUAGE sql, a SQL-standard body, no SET clause, not SECURITY DEFINER):
-- the planner folds them into has_permission's queries, which run with the caller's
-- rights, so the roles that may call has_permission may execute them (sql/95), else
-- PostgreSQL would not inline them.
CREATE FUNCTION pliers.collaborator_permissions(
    p_can_edit boolean,
    p_can_delete boolean,
    p_can_publish boolean,
    p_can_view_submissions boolean
)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT pg_catalog.array_remove(
        ARRAY[
            'form.view',
            CASE WHEN p_can_edit THEN 'form.edit' END,
            CASE WHEN p_can_delete THEN 'form.delete' END,
            CASE WHEN p_can_publish THEN 'form.publish' END,
            CASE WHEN p_can_view_submissions THEN 'submission.view' END
        ],
        NULL
    );
END;

COMMENT ON FUNCTION pliers.collaborator_permissions(boolean, boolean, boolean, boolean) IS
'The permissions a current form collaborator holds on the form, given its flags: form.view always, form.edit '
'(can_edit), form.delete (can_delete), form.publish (can_publish), submission.view (can_view_submissions), in that '
'order. The rule of has_permission and effective_permissions. Inlinable.';

CREATE FUNCTION pliers.team_role_permissions(p_role pliers.team_role)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT pg_catalog.array_remove(
        ARRAY[
            'submission.view',
            CASE WHEN p_role <> 'viewer' THEN 'submission.update' END,
            CASE WHEN p_role IN ('owner', 'admin') THEN 'team.manage' END
        ],
        NULL
    );
END;

COMMENT ON FUNCTION pliers.team_role_permissions(pliers.team_role) IS
'The permissions a current member of a live team holds on the team (and the submissions assigned to it), given '
'their team role: submission.view always, submission.update unless viewer, team.manage for owner and admin, in that '
'order. The rule of has_permission and effective_permissions. Inlinable.';

CREATE FUNCTION pliers.has_permission(
    p_permission text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = ''
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    -- One verification of the context for the whole check.
    v_context constant text := pliers.current_context();
    v_organization_id constant uuid := nullif(pg_catalog.split_part(v_context, '|', 1), '')::uuid;
    v_user_id constant uuid := nullif(pg_catalog.split_part(v_context, '|', 2), '')::uuid;
    v_permissions constant text[] := pg_catalog.string_to_array(pg_catalog.split_part(v_context, '|', 3), ',');
    v_denied constant text[] := pg_catalog.string_to_array(pg_catalog.split_part(v_context, '|', 5), ',');
    v_scopes constant text[] := pg_catalog.string_to_array(pg_catalog.split_part(v_context, '|', 6), ',');
BEGIN
    -- PL/pgSQL, not SQL: with its SET clause an SQL function is never inlined, and
    -- before PostgreSQL 18 it is planned again on every call (about 1 ms, 30% of a
    -- submission, bench/RESULTS.md). PL/pgSQL keeps its queries' plans for the session,
    -- but with plan_cache_mode auto the plan cache planned the checks that query (an
    -- organization-wide permission on an object, the scoped paths) again on every call:
    -- a custom plan, its false arms folded away, looks cheaper than the generic one.
    -- Generic plans: 40-80 us a check instead of 150-520 us, about 6 times less on the
    -- scoped paths (bench/scoped_permissions.py, bench/RESULTS.md).
    IF v_organization_id IS NULL OR v_user_id IS NULL OR p_permission IS NULL OR p_scope_type IS NULL
        OR p_permission = ANY(v_denied)
        OR (pg_catalog.cardinality(v_scopes) > 0 AND p_permission <> ALL(v_scopes)) THEN
        RETURN FALSE;
    END IF;
    IF p_scope_type = 'organization' THEN
        RETURN coalesce(p_scope_id = v_organization_id, TRUE) AND p_permission = ANY(v_permissions);
    END IF;
    IF p_scope_id IS NULL THEN
        RETURN FALSE;
    END IF;
    -- An organization-wide permission applies to the objects of this organization.
    IF p_permission = ANY(v_permissions) THEN
        RETURN CASE p_scope_type
            WHEN 'form' THEN EXISTS (
                SELECT FROM pliers.forms AS f
                WHERE f.organization_id = v_organization_id AND f.id = p_scope_id
            )
            WHEN 'workflow' THEN EXISTS (
                SELECT FROM pliers.workflows AS w
                WHERE w.organization_id = v_organization_id AND w.id = p_scope_id
            )
            WHEN 'team' THEN EXISTS (
                SELECT FROM pliers.teams AS t
                WHERE t.organization_id = v_organization_id AND t.id = p_scope_id
            )
            ELSE FALSE
        END;
    END IF;
    RETURN EXISTS (
        SELECT
        FROM pliers.role_assignments AS ra
        INNER JOIN pliers.roles AS r ON ra.role = r.name
        WHERE ra.organization_id = v_organization_id
            AND ra.user_id = v_user_id
            AND ra.scope_type = p_scope_type
            AND ra.scope_id = p_scope_id
            AND ra.revoked_at IS NULL
            AND (ra.expires_at IS NULL OR ra.expires_at > pg_catalog.now())
            AND p_permission = ANY(r.permissions)
    )
    OR (
        p_scope_type = 'form'
        AND EXISTS (
            SELECT
            FROM pliers.form_collaborators AS fc
            WHERE fc.organization_id = v_organization_id
                AND fc.form_id = p_scope_id
                AND fc.user_id = v_user_id
                AND fc.revoked_at IS NULL
                AND p_permission = ANY(pliers.collaborator_permissions(
                    fc.can_edit, fc.can_delete, fc.can_publish, fc.can_view_submissions
                ))
        )
    )
    OR (
        p_scope_type = 'form'
        AND p_permission IN ('form.view', 'submission.create')
        AND EXISTS (
            SELECT
            FROM pliers.forms AS f
            WHERE f.organization_id = v_organization_id
                AND f.id = p_scope_id
                AND f.visibility IN ('organization', 'public')
                AND f.deleted_at IS NULL
        )
    )
    OR (
        p_scope_type = 'team'
        AND EXISTS (
            SELECT
            FROM pliers.team_members AS tm
            INNER JOIN pliers.teams AS t
                ON tm.organization_id = t.organization_id AND tm.team_id = t.id
            WHERE tm.organization_id = v_organization_id
                AND tm.team_id = p_scope_id
                AND tm.user_id = v_user_id
                AND tm.removed_at IS NULL
                AND t.deleted_at IS NULL
                AND p_permission = ANY(pliers.team_role_permissions(tm.role))
        )
    );
END
$$;

COMMENT ON FUNCTION pliers.has_permission(text, pliers.scope_type, uuid) IS
'May the current user do p_permission (e.g. form.publish) on the object p_scope_type/p_scope_id? '
'FALSE without a context. TRUE if the permission is organization-wide (pliers.current_permissions) and the object '
'belongs to the current organization (organization scope: p_scope_id NULL or the current organization), else, for a '
'form, workflow or team, if a live role assignment on that object grants it, or (form) a current collaborator '
'flag or the form''s visibility, or (team) current membership; never if users.permissions denies it or an API '
'key''s scopes exclude it. The paths are listed in sql/91-tenancy.sql and docs/security.md. '
'Runs with the caller''s rights (RLS applies); used by the API and by the submissions SELECT policy.';

-- The rule of the submissions SELECT policy, in one place: the policy calls it, and so
-- does list_submissions, which reads without row-level security (sql/55). Inlinable
-- (LANGUAGE sql, a SQL-standard body, no SET clause): the planner folds it into the
-- query. The viewer's permissions and id are arguments so that a caller computes them
-- once per query (the policy passes sub-selects, which become InitPlans): reading and
-- parsing pliers.permissions on every row cost about 2 us a row (bench/RESULTS.md).
-- Each of those two appears once in the body: the planner does not inline a function
-- that would copy a sub-select argument, and then calls it on every row (60 us for the
-- first row of each statement on PostgreSQL 15, 3.6 us for each next one).
CREATE FUNCTION pliers.submission_visible(
    p_form_id uuid,
    p_submitted_by uuid,
    p_assigned_to uuid,
    p_assigned_team_id uuid,
    p_permissions text[],
    p_user_id uuid
)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT
        p_permissions @> '{submission.view}'
        OR p_user_id IN (p_submitted_by, p_assigned_to)
        OR pliers.has_permission('submission.view', 'form', p_form_id)
        OR (
            p_assigned_team_id IS NOT NULL
            AND pliers.has_permission('submission.view', 'team', p_assigned_team_id)
        );
END;

COMMENT ON FUNCTION pliers.submission_visible(uuid, uuid, uuid, uuid, text[], uuid) IS
'May a user with organization-wide permissions p_permissions and id p_user_id view a submission of form p_form_id '
'submitted by p_submitted_by, assigned to p_assigned_to and p_assigned_team_id? Yes with submission.view '
'organization-wide, for the submitter and the assignee, and with submission.view on the form or on the assigned '
'team (has_permission). The rule of the submissions_select policy and of list_submissions; the OR stops at the '
'first true arm, cheapest first. Inlinable.';

CREATE FUNCTION pliers._require_permission(
    p_permission text,
    p_scope_type pliers.scope_type DEFAULT 'organization',
    p_scope_id uuid DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_context text;
BEGIN
    -- has_permission is FALSE without a context: the context is read again only to tell
    -- why, on the way to an error.
    IF pliers.has_permission(p_permission, p_scope_type, p_scope_id) THEN
        RETURN;
    END IF;
    v_context := pliers.current_context();
    IF nullif(pg_catalog.split_part(v_context, '|', 2), '') IS NULL THEN
        RAISE EXCEPTION 'no tenant context: call pliers.set_context first'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object('permission', p_permission)::text;
    ELSE
        RAISE EXCEPTION 'permission % denied', p_permission
            USING
                ERRCODE = 'PL006',
                DETAIL = pg_catalog.jsonb_build_object(
                    'permission', p_permission,
                    'object', p_scope_type,
                    'id', coalesce(p_scope_id, pg_catalog.split_part(v_context, '|', 1)::uuid)
                )::text;
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._require_permission(text, pliers.scope_type, uuid) IS
'Private, for the API functions: raises PL008 without a tenant context, PL006 '
'(DETAIL {permission, object, id}; id is the organization for organization scope) unless '
'pliers.has_permission(p_permission, p_scope_type, p_scope_id).';

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
