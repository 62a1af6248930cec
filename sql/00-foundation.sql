-- Schema and roles. Roles are cluster-wide, so they are created only when
-- missing: a second database in the same cluster reuses them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_owner') THEN
        CREATE ROLE pliers_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_app') THEN
        CREATE ROLE pliers_app NOLOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_readonly') THEN
        CREATE ROLE pliers_readonly NOLOGIN NOBYPASSRLS;
    END IF;
    -- The webhook delivery worker: reads webhooks.secret_ciphertext (docs/security.md).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_worker') THEN
        CREATE ROLE pliers_worker NOLOGIN NOBYPASSRLS;
    END IF;
    -- Owns pliers.list_submissions, which filters on the tenant itself (sql/95-security.sql.j2).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_lister') THEN
        CREATE ROLE pliers_lister NOLOGIN NOBYPASSRLS IN ROLE pliers_owner;
    END IF;
    -- Under any policy, even USING (TRUE), the planner may not read the column
    -- statistics for a non-LEAKPROOF operator such as jsonb @>: BYPASSRLS gives
    -- list_submissions the estimates the owner's query gets. Only a superuser may grant it.
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        ALTER ROLE pliers_lister BYPASSRLS;
    END IF;
    -- Provisioning: creates, lists, suspends and deletes organizations (sql/35); granted
    -- to the login of a sign-up service or an operator, never to the application.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pliers_platform') THEN
        CREATE ROLE pliers_platform NOLOGIN NOBYPASSRLS;
    END IF;
END
$roles$;

CREATE SCHEMA pliers AUTHORIZATION pliers_owner;
COMMENT ON SCHEMA pliers IS 'Pliers v3: tables, types and the stored-procedure API';

-- Partitions detached by retention are kept here, never dropped by pliersdb.
CREATE SCHEMA pliers_archive AUTHORIZATION pliers_owner;
COMMENT ON SCHEMA pliers_archive IS 'Detached partitions kept after their retention period';

-- The validators compiled from published form versions (sql/43-compiled-validators.sql):
-- generated functions, one per version, that only pliers_owner may execute.
CREATE SCHEMA pliers_validators AUTHORIZATION pliers_owner;
COMMENT ON SCHEMA pliers_validators IS 'Compiled validators of published form versions (pliers._compile_validator)';

GRANT USAGE ON SCHEMA pliers TO pliers_app, pliers_readonly, pliers_worker, pliers_platform;
