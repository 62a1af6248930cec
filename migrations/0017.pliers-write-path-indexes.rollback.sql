-- transactional: false
-- Undo 0017, outside a transaction too: the two indexes of submissions as 0002 made
-- them. One statement per statement of 0017, last first.
SET lock_timeout = '1min';

SET statement_timeout = 0;

SET ROLE pliers_owner;

-- squawk-ignore ban-concurrent-index-creation-in-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS submissions_submitted_by_created_at_idx ON pliers.submissions (
    organization_id, submitted_by, created_at DESC
)
WHERE submitted_by IS NOT NULL;

COMMENT ON INDEX pliers.submissions_submitted_by_created_at_idx IS
'Submissions of a user, newest first; serves FK submissions_submitted_by_fkey (ON DELETE SET NULL)';

-- squawk-ignore ban-concurrent-index-creation-in-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS submissions_tags_idx ON pliers.submissions USING gin (tags);

COMMENT ON INDEX pliers.submissions_tags_idx IS 'tags @> / && searches of submissions';

RESET ROLE;

RESET statement_timeout;

RESET lock_timeout;
