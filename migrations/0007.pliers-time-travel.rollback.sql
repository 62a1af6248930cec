-- Undo 0007: the time-travel functions of sql/76-time-travel.sql (read-only functions:
-- no data to keep; their grants and comments go with them).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION
pliers.form_at(uuid, timestamptz),
pliers.form_history(uuid),
pliers.submission_at(uuid, timestamptz),
pliers.submission_history(uuid);

RESET ROLE;
