-- Undo 0006: the functions of sql/55-submissions-api.sql and sql/45-forms-api.sql (their
-- grants and comments go with them). The per-organization submission number sequences
-- created at runtime stay, on purpose: applied again, 0006 continues each organization's
-- numbering instead of giving out numbers that exist (0002's rollback drops them).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';

-- sql/55-submissions-api.sql
DROP FUNCTION
pliers.export_query(text, boolean),
pliers.export_submissions(text, boolean),
pliers.export_columns(text),
pliers.list_submissions(
    uuid, pliers.submission_status, uuid, timestamptz, uuid, integer, jsonb, text, text, jsonb, uuid, timestamptz,
    timestamptz, boolean
),
pliers.detach_file(uuid, integer),
pliers.attach_file(uuid, text, text, text, bigint, text, text, text, text, text, jsonb, integer),
pliers._jsonb_set_deep(jsonb, text[], jsonb),
pliers._attachment_field(jsonb, text, jsonb),
pliers.restore_submission(uuid, integer),
pliers.delete_submission(uuid, integer),
pliers.assign_submission(uuid, uuid, uuid, integer),
pliers.set_submission_status(uuid, pliers.submission_status, integer, text),
pliers.submit_submission(uuid, integer),
pliers.update_submission(uuid, integer, jsonb, jsonb, text[], timestamptz),
pliers.create_submission(uuid, jsonb, boolean, text, jsonb, text[], text, timestamptz, text),
pliers._raise_not_draft(pliers.submissions, text[]),
pliers._check_submission_attributes(jsonb, text[], text, text),
pliers._submission_attachments(uuid),
pliers._require_accepting(pliers.forms),
pliers._get_form(uuid),
pliers._require_submission_permission(text, pliers.submissions),
pliers._lock_submission(uuid, boolean),
pliers._submission_payload(pliers.submissions, pliers.forms),
pliers.submission_status_moves(),
pliers._next_submission_number(),
pliers._check_quota(text, bigint),
pliers._count_usage(text, bigint),
pliers._counter_slot();

-- sql/45-forms-api.sql
DROP FUNCTION
pliers.clone_form(uuid, text, text),
pliers.archive_form(uuid, integer),
pliers.deprecate_form(uuid, integer),
pliers._change_form_status(uuid, pliers.form_status, integer),
pliers.create_form_version(uuid),
pliers.publish_form(uuid, text, integer),
pliers.delete_form(uuid, integer),
pliers.update_form(uuid, integer, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb),
pliers.create_form(text, text, jsonb, jsonb, pliers.form_visibility, text, text[], jsonb, jsonb),
pliers._require_expected_revision(integer),
pliers._lock_form(uuid),
pliers._raise_slug_taken(text),
pliers._check_slug(text),
pliers._check_form_attributes(text, jsonb, text, text[], jsonb, jsonb),
pliers._form_payload(pliers.forms),
pliers.form_status_moves(),
pliers._semver_key(text),
pliers._raise_not_found(text, uuid),
pliers._raise_invalid(text, jsonb, jsonb),
pliers._require_context();
