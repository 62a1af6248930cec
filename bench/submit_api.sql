-- Figure 1 (subject), figure 3, figure 6 (writers): create and submit one valid
-- submission through the API, as an application login (member of pliers_app, so
-- under row-level security), with the tenant context of a random target in
-- [lo, hi] of bench.targets. Validation, numbering, counters, events and audit all run.
\set n random(:lo, :hi)
\set r random(1, 1000000000)
BEGIN;
SELECT pliers.set_context(t.organization_id, t.user_id) FROM bench.targets AS t WHERE t.n = :n;
SELECT s.submission_number
FROM bench.targets AS t, pliers.create_submission(t.form_id, bench.answer(:r), p_submit => TRUE) AS s
WHERE t.n = :n;
COMMIT;
