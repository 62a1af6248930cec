-- Figure 1, API / the same rows written by hand: the rows that one submission writes,
-- written by hand as the owner (whose writes to submissions the audit leaves to the
-- events, as for the API) in one statement: the submissions row (its indexes and
-- constraints) and its two events with the API's payloads. create_submission writes
-- the same rows; what it adds is its logic: context, permission, validation and
-- cleaning, numbering, quota and counters (bench/RESULTS.md).
\set n random(:lo, :hi)
\set r random(1, 1000000000)
BEGIN;
SELECT t.organization_id AS org, t.form_id AS form, t.user_id AS usr, 'H-' || nextval('bench.hand_numbers') AS num,
    bench.answer(:r)::text AS answer
FROM bench.targets AS t WHERE t.n = :n \gset
SET LOCAL ROLE pliers_owner;
WITH s AS (
    INSERT INTO pliers.submissions (
        organization_id, form_id, submission_number, status, data, submitted_by, submitted_at, is_valid
    )
    VALUES (:org::uuid, :form::uuid, :num, 'submitted', :answer::jsonb, :usr::uuid, now(), TRUE)
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
