-- Figure 1, information: the rows that one submission writes, written by hand as the
-- owner in one statement: the submissions row (its indexes, constraints and audit
-- trigger run) and its two events with the API's payloads. create_submission writes
-- the same rows; what it adds is its logic: context, permission, validation and
-- cleaning, numbering, quota and counters. A baseline for a re-based figure 1
-- (bench/RESULTS.md).
\set n random(:lo, :hi)
\set r random(1, 1000000000)
BEGIN;
WITH s AS (
    INSERT INTO pliers.submissions (
        organization_id, form_id, submission_number, status, data, submitted_by, submitted_at, is_valid
    )
    SELECT t.organization_id, t.form_id, 'H-' || nextval('bench.hand_numbers'), 'submitted',
        bench.answer(:r), t.user_id, now(), TRUE
    FROM bench.targets AS t
    WHERE t.n = :n
    RETURNING *
)
INSERT INTO pliers.events (
    organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, user_id
)
SELECT s.organization_id, e.event_type, 'submission', s.id, e.version, e.payload, s.submitted_by
FROM s
INNER JOIN pliers.forms AS f ON f.organization_id = s.organization_id AND f.id = s.form_id
CROSS JOIN LATERAL (VALUES
    ('submission.created', 1, pliers._submission_created_payload(ROW(s.*)::pliers.submissions, f)),
    ('submission.submitted', 2, pliers._submission_submitted_payload(ROW(s.*)::pliers.submissions))
) AS e (event_type, version, payload);
COMMIT;
