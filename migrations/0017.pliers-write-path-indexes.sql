-- transactional: false
-- The write path, part 2 (issue 13): the indexes of submissions that no query of the API
-- reads go (submitted_by, tags); each was written by every insert.
-- Hand-written delta: sql/50-submissions.sql holds the same. Outside a transaction,
-- statement by statement, so that DROP INDEX CONCURRENTLY does not block the writes of
-- a live database; the rollback file holds the partner of each statement, last first.
SET lock_timeout = '1min';

SET statement_timeout = 0;

SET ROLE pliers_owner;

COMMENT ON INDEX pliers.submissions_tags_idx IS NULL;

DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_tags_idx;

COMMENT ON INDEX pliers.submissions_submitted_by_created_at_idx IS NULL;

DROP INDEX CONCURRENTLY IF EXISTS pliers.submissions_submitted_by_created_at_idx;

RESET ROLE;

RESET statement_timeout;

RESET lock_timeout;
