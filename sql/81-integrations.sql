-- API keys, outgoing webhooks and in-app notifications.

-- Where each API key lives: authentication finds the tenant of a key from its hash,
-- before any context exists. Global (a reference table on Citus, on every node), so
-- the hash is unique across tenants here; api_keys, sharded by tenant, points at its
-- row. Owner only, written by create_api_key.
CREATE TABLE pliers.api_key_hashes (
    key_hash varchar(255) NOT NULL,
    organization_id uuid NOT NULL,

    CONSTRAINT api_key_hashes_pkey PRIMARY KEY (key_hash),
    CONSTRAINT api_key_hashes_key_hash_organization_id_key UNIQUE (key_hash, organization_id)
);

COMMENT ON TABLE pliers.api_key_hashes IS
'Private: the organization of every API key hash, global (a Citus reference table): authenticate_api_key reads it '
'to find the tenant of a presented key. Owner only.';
COMMENT ON CONSTRAINT api_key_hashes_pkey ON pliers.api_key_hashes IS
'A key hash is unique across all tenants';
COMMENT ON CONSTRAINT api_key_hashes_key_hash_organization_id_key ON pliers.api_key_hashes IS
'Target of FK api_keys_key_hash_fkey: a key is registered under its own organization';

CREATE TABLE pliers.api_keys (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name varchar(255) NOT NULL,
    key_hash varchar(255) NOT NULL,
    prefix varchar(20) NOT NULL,
    scopes text[] NOT NULL DEFAULT '{}',
    rate_limit_per_minute integer NOT NULL DEFAULT 60,
    expires_at timestamptz,
    last_used_at timestamptz,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_by uuid,

    CONSTRAINT api_keys_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT api_keys_organization_id_key_hash_key UNIQUE (organization_id, key_hash),
    CONSTRAINT api_keys_key_hash_fkey FOREIGN KEY (key_hash, organization_id)
    REFERENCES pliers.api_key_hashes (key_hash, organization_id),
    CONSTRAINT api_keys_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT api_keys_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT api_keys_revoked_by_fkey FOREIGN KEY (organization_id, revoked_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT valid_key_prefix CHECK (prefix ~ '^pk_[a-z]+_'),
    CONSTRAINT api_keys_key_hash_sha256 CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_keys_rate_limit_positive CHECK (rate_limit_per_minute > 0),
    CONSTRAINT api_keys_expires_after_created CHECK (expires_at > created_at),
    CONSTRAINT api_keys_revoked_by_needs_revoked_at CHECK (revoked_by IS NULL OR revoked_at IS NOT NULL),
    CONSTRAINT api_keys_scopes_no_null CHECK (array_position(scopes, NULL) IS NULL)
);

COMMENT ON TABLE pliers.api_keys IS
'API keys of an organization. Only the SHA-256 of the key is stored; the key is shown once at creation.';
COMMENT ON COLUMN pliers.api_keys.key_hash IS
'sha256 of the full key, 64 lower-case hex digits; unique over all tenants through pliers.api_key_hashes, where '
'a request finds its tenant before it is authenticated';
COMMENT ON CONSTRAINT api_keys_organization_id_key_hash_key ON pliers.api_keys IS
'Authentication lookup within the tenant that pliers.api_key_hashes names';
COMMENT ON CONSTRAINT api_keys_key_hash_fkey ON pliers.api_keys IS
'Every key is registered in pliers.api_key_hashes (global uniqueness of the hash) under its own organization';
COMMENT ON COLUMN pliers.api_keys.prefix IS 'Displayable start of the key, pk_<env>_... (valid_key_prefix), to recognise it';
COMMENT ON COLUMN pliers.api_keys.scopes IS 'Permissions granted to the key, e.g. forms:read';
COMMENT ON COLUMN pliers.api_keys.last_used_at IS
'Last authenticated use; the API should write it at most about once a minute per key (hot row otherwise)';
COMMENT ON COLUMN pliers.api_keys.created_by IS
'User who created the key (NOT NULL as in the seed, so no SET NULL: revoke and delete keys before hard-deleting the user)';
COMMENT ON COLUMN pliers.api_keys.revoked_at IS 'Set when revoked; a revoked key never authenticates again';

-- FK api_keys_created_by_fkey, and "keys created by this user" (offboarding review).
CREATE INDEX api_keys_created_by_idx ON pliers.api_keys (organization_id, created_by);

COMMENT ON INDEX pliers.api_keys_created_by_idx IS 'Keys created by a user; serves FK api_keys_created_by_fkey';

-- FK api_keys_revoked_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX api_keys_revoked_by_idx ON pliers.api_keys (organization_id, revoked_by)
WHERE revoked_by IS NOT NULL;

COMMENT ON INDEX pliers.api_keys_revoked_by_idx IS 'Serves FK api_keys_revoked_by_fkey';

-- Webhooks ------------------------------------------------------------------------

CREATE TABLE pliers.webhooks (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name varchar(255) NOT NULL,
    url pliers.url NOT NULL,
    events text[] NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}',
    secret_ciphertext bytea,
    secret_key_id text,
    is_active boolean NOT NULL DEFAULT TRUE,
    retry_config jsonb NOT NULL DEFAULT '{}',
    failure_count integer NOT NULL DEFAULT 0,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,

    CONSTRAINT webhooks_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT webhooks_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT webhooks_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT valid_webhook_url CHECK (url ~ '^https?://'),
    CONSTRAINT webhooks_events_not_empty CHECK (cardinality(events) > 0),
    CONSTRAINT webhooks_events_no_null CHECK (array_position(events, NULL) IS NULL),
    CONSTRAINT webhooks_secret_complete CHECK ((secret_ciphertext IS NULL) = (secret_key_id IS NULL)),
    CONSTRAINT webhooks_failure_count_non_negative CHECK (failure_count >= 0),
    CONSTRAINT webhooks_headers_object CHECK (jsonb_typeof(headers) = 'object'),
    CONSTRAINT webhooks_retry_config_object CHECK (jsonb_typeof(retry_config) = 'object')
);

COMMENT ON TABLE pliers.webhooks IS 'Outgoing HTTP callbacks of an organization, signed with a per-webhook secret';
COMMENT ON COLUMN pliers.webhooks.url IS 'Target URL, http(s) only (domain pliers.url and seed constraint valid_webhook_url)';
COMMENT ON COLUMN pliers.webhooks.events IS
'Event types delivered, e.g. submission.created; at least one (a webhook on no event is meaningless)';
COMMENT ON COLUMN pliers.webhooks.headers IS 'JSON object: extra HTTP headers, name -> value';
COMMENT ON COLUMN pliers.webhooks.secret_ciphertext IS
'Signing secret encrypted by the Python library (the key is never in the database); replaces the seed''s secret_hash, '
'which could not sign. Read only by the delivery worker, never exposed to tenants.';
COMMENT ON COLUMN pliers.webhooks.secret_key_id IS
'Identifier of the key that encrypted secret_ciphertext (key rotation); set iff secret_ciphertext is';
COMMENT ON COLUMN pliers.webhooks.failure_count IS 'Consecutive failed deliveries; reset on success';

-- FK webhooks_created_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
-- (Delivery looks up active webhooks of one tenant: few rows, the primary key serves it.)
CREATE INDEX webhooks_created_by_idx ON pliers.webhooks (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.webhooks_created_by_idx IS 'Serves FK webhooks_created_by_fkey';

-- Notifications -------------------------------------------------------------------

CREATE TABLE pliers.notifications (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    type varchar(50) NOT NULL,
    title varchar(255) NOT NULL,
    message text,
    data jsonb NOT NULL DEFAULT '{}',
    priority pliers.notification_priority NOT NULL DEFAULT 'normal',
    read_at timestamptz,
    dismissed_at timestamptz,
    action_url text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,

    CONSTRAINT notifications_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT notifications_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT notifications_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT notifications_type_not_blank CHECK (btrim(type) <> ''),
    -- An app path must not start like //host or /\host (browsers read both as a host).
    CONSTRAINT notifications_action_url_format CHECK (
        action_url ~ '^(https?://|/([^/\\[:cntrl:]]|$))' AND action_url !~ '[[:cntrl:]]'
    ),
    CONSTRAINT notifications_expires_after_created CHECK (expires_at > created_at),
    CONSTRAINT notifications_data_object CHECK (jsonb_typeof(data) = 'object')
);

COMMENT ON TABLE pliers.notifications IS
'In-app notifications to one user. Append-mostly (read_at/dismissed_at are set later); deleted with the user.';
COMMENT ON COLUMN pliers.notifications.type IS 'Kind of notification, e.g. submission.assigned (no fixed list in the seed)';
COMMENT ON COLUMN pliers.notifications.data IS 'JSON object: parameters for rendering and for the action';
COMMENT ON COLUMN pliers.notifications.action_url IS
'Link opened by the notification: absolute http(s) URL or an app path starting with a single /; no javascript: or //host';
COMMENT ON COLUMN pliers.notifications.expires_at IS 'Not shown after this time; may be purged';

-- A user's notifications, newest first, keyset paging; and FK notifications_user_id_fkey.
CREATE INDEX notifications_user_id_created_at_idx ON pliers.notifications (
    organization_id, user_id, created_at DESC, id
);

COMMENT ON INDEX pliers.notifications_user_id_created_at_idx IS
'Notification list of a user, newest first; serves FK notifications_user_id_fkey (ON DELETE CASCADE)';

-- The unread badge and dropdown: a user's unread, undismissed notifications.
CREATE INDEX notifications_user_id_unread_idx ON pliers.notifications (organization_id, user_id, created_at DESC)
WHERE read_at IS NULL AND dismissed_at IS NULL;

COMMENT ON INDEX pliers.notifications_user_id_unread_idx IS
'Unread notifications of a user (count and list); small, rows leave it once read or dismissed';

-- Retention job across tenants: delete notifications older than N days (rows arrive in created_at order).
CREATE INDEX notifications_created_at_idx ON pliers.notifications USING brin (created_at);

COMMENT ON INDEX pliers.notifications_created_at_idx IS
'BRIN: created_at ranges for the retention purge; tiny because rows are appended in time order';

-- Purge job across tenants: notifications past expires_at.
CREATE INDEX notifications_expires_at_idx ON pliers.notifications (expires_at)
WHERE expires_at IS NOT NULL;

COMMENT ON INDEX pliers.notifications_expires_at_idx IS 'Expired-notification purge (expires_at < now())';
