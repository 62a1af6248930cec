-- Global settings of the installation (not per tenant). The seed's
-- database_migrations table is not created: yoyo's own tables, in schema
-- pliersdb_migrations, are the migration record (docs/deviations.md).

CREATE TABLE pliers.system_settings (
    key varchar(255) NOT NULL,
    value jsonb NOT NULL,
    description text,
    category varchar(100),
    is_sensitive boolean NOT NULL DEFAULT FALSE,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by varchar(255),

    CONSTRAINT system_settings_pkey PRIMARY KEY (key),
    CONSTRAINT system_settings_key_format CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$')
);

COMMENT ON TABLE pliers.system_settings IS
'Installation-wide settings, key -> JSON value. Global (no organization_id): a Citus reference-table candidate.';
COMMENT ON COLUMN pliers.system_settings.key IS 'Dotted lower-case name, e.g. email.smtp_host';
COMMENT ON COLUMN pliers.system_settings.value IS 'Any JSON value';
COMMENT ON COLUMN pliers.system_settings.is_sensitive IS
'TRUE = secret-like value: not shown in listings nor copied to audit_logs';
COMMENT ON COLUMN pliers.system_settings.updated_by IS
'Name of the operator or database role that last changed the setting (free text: settings are not a tenant''s)';

CREATE TRIGGER system_settings_updated_at
BEFORE UPDATE ON pliers.system_settings
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER system_settings_updated_at ON pliers.system_settings IS 'Maintains updated_at';
