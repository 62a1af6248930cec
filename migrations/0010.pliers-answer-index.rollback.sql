-- Undo 0010 (outside a transaction too, as 0010 runs): the GIN index on data alone,
-- as 0006 made it, then without the per-form one and the extension (RESTRICT: kept, and
-- the rollback fails, if anything else uses btree_gin).
SET lock_timeout = '1min';

SET statement_timeout = 0;

DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_data_idx;

CREATE INDEX CONCURRENTLY submissions_data_idx ON pliers.submissions USING gin (data jsonb_path_ops);

COMMENT ON INDEX pliers.submissions_data_idx IS
'Containment (@>) and jsonpath (@?, @@) searches of answers. jsonb_path_ops: smaller, no key-exists operators. Not tenant-leading: that needs btree_gin, an extension.';

DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_form_data_idx;

DROP EXTENSION IF EXISTS btree_gin;

RESET statement_timeout;

RESET lock_timeout;
