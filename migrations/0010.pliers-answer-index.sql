-- transactional: false
-- Answer searches per form: a GIN index led by form_id (extension btree_gin) replaces submissions_data_idx, whose posting lists held every tenant's matches (bench/RESULTS.md, figure 3).
-- Outside a transaction, statement by statement: CREATE and DROP INDEX CONCURRENTLY do
-- not block the writes of a live database (each waits for the transactions running when
-- it starts). A run that fails is run again from the start: its first DROP removes what
-- a failed build leaves (an INVALID index). sql/00-foundation.sql and
-- sql/50-submissions.sql hold the same objects.
SET lock_timeout = '1min';

SET statement_timeout = 0;

CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;

DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_form_data_idx;

-- Not in a transaction (transactional: false, above), which squawk cannot know:
-- squawk-ignore ban-concurrent-index-creation-in-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS submissions_form_data_idx ON pliers.submissions USING gin (form_id, data jsonb_path_ops)
WITH (fastupdate = off);

COMMENT ON INDEX pliers.submissions_form_data_idx IS
'Containment (@>) and jsonpath (@?, @@) searches of answers, per form (form_id first, btree_gin). jsonb_path_ops: '
'smaller, no key-exists operators.';

DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_data_idx;

RESET statement_timeout;

RESET lock_timeout;
