-- Figure 2 and 3: search a form's submissions for a rare answer (data @> {"email": ...},
-- one submission of the data set), first page of 50. Variants as read_page.sql.
\set n random(1, :ncursors)
BEGIN;
SELECT c.organization_id AS org, c.user_id AS usr, c.form_id AS form, c.email AS answer
FROM bench.cursors AS c WHERE c.n = :n \gset
SELECT pliers.set_context(:org, :usr); -- @context
SELECT /*@tag*/ s.id, s.submission_number, s.status, s.created_at, s.data
FROM pliers.submissions AS s
WHERE /*@tenant*/ s.form_id = :form AND s.deleted_at IS NULL AND pliers.scoped_answers(s.form_id, s.data) @> pliers.scoped_answers(:form, :answer)
ORDER BY s.created_at DESC, s.id
LIMIT 50;
COMMIT;
