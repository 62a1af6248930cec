-- Figure 2 and 3 through the API: read_filter.sql's answer filter (about one submission
-- in 8), keyset page of 50 after a cursor, as pliers.list_submissions(p_filter => ...).
\set n random(1, :ncursors)
BEGIN;
SELECT c.organization_id AS org, c.user_id AS usr, c.form_id AS form, c.after_created_at AS ts,
    c.after_id AS aid, c.department AS answer
FROM bench.cursors AS c WHERE c.n = :n \gset
SELECT pliers.set_context(:org, :usr);
SELECT /*@tag*/ s.id, s.submission_number, s.status, s.created_at, s.data
FROM pliers.list_submissions(p_form_id => :form, p_after_created_at => :ts, p_after_id => :aid,
    p_filter => :answer, p_limit => 50) AS s;
COMMIT;
