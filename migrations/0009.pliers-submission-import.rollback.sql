-- Undo 0009: the bulk import of sql/57-submission-import.sql (functions and their row
-- type: no data to keep; grants and comments go with them).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION
pliers.import_submissions(uuid, pliers.submission_import[]),
pliers._check_import_row(pliers.submission_status, text, jsonb, text[], text, timestamptz, timestamptz, timestamptz);

DROP TYPE pliers.submission_import;

RESET ROLE;
