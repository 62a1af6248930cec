-- Roles are cluster-wide and may serve other databases: they stay.
-- RESTRICT on pliers_archive: detached partitions are data, never dropped here.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
DROP SCHEMA pliers_archive;
DROP SCHEMA pliers;
