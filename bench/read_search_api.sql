-- Figure 2 and 3 through the API: read_search.sql's search for a rare answer (one
-- submission of the data set), first page of 50, as pliers.list_submissions(p_filter => ...).
\set n random(1, :ncursors)
BEGIN;
SELECT c.organization_id AS org, c.user_id AS usr, c.form_id AS form, c.email AS answer
FROM bench.cursors AS c WHERE c.n = :n \gset
SELECT pliers.set_context(:org, :usr);
SELECT /*@tag*/ s.id, s.submission_number, s.status, s.created_at, s.data
FROM pliers.list_submissions(p_form_id => :form, p_filter => :answer, p_limit => 50) AS s;
COMMIT;
