-- Schemas, roles and what migrations leave outside schema pliers.
BEGIN;
SELECT plan(14);

SELECT has_schema('pliers');
SELECT has_schema('pliers_archive');
SELECT has_schema('pliersdb_migrations', 'migration bookkeeping has a schema of its own');
SELECT schema_owner_is('pliers', 'pliers_owner');
SELECT schema_owner_is('pliers_archive', 'pliers_owner');

SELECT has_role('pliers_owner');
SELECT has_role('pliers_app');
SELECT has_role('pliers_readonly');
SELECT ok(NOT rolcanlogin AND NOT rolbypassrls, rolname || ' is NOLOGIN and NOBYPASSRLS')
FROM pg_catalog.pg_roles
WHERE rolname IN ('pliers_owner', 'pliers_app', 'pliers_readonly')
ORDER BY rolname;

-- Migrations create as pliers_owner: nothing of pliers' roles in public. Whatever else
-- public holds (pgTAP itself, the database's other objects) is not pliers'.
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_class AS c
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND pg_catalog.pg_get_userbyid(c.relowner) LIKE 'pliers\_%')
    + (SELECT count(*)::integer FROM pg_catalog.pg_proc AS p
       JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public' AND pg_catalog.pg_get_userbyid(p.proowner) LIKE 'pliers\_%'),
    0,
    'migrations create nothing in public'
);
SELECT is(
    (SELECT count(*)::integer FROM pg_catalog.pg_class AS c
     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
     WHERE n.nspname = 'pliers' AND c.relname LIKE '%yoyo%'),
    0,
    'no migration bookkeeping in schema pliers'
);
SELECT has_table('pliersdb_migrations', 'migration_checksums', 'checksums are recorded');

SELECT * FROM finish();
ROLLBACK;
