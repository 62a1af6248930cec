-- Figure 2 and 3: a form's submissions with a given answer (data @> {"department": ...},
-- about one submission in 8), keyset page of 50 after a cursor. Variants as read_page.sql.
\set n random(1, :ncursors)
BEGIN;
SELECT c.organization_id AS org, c.user_id AS usr, c.form_id AS form, c.after_created_at AS ts,
    c.after_id AS aid, c.department AS answer
FROM bench.cursors AS c WHERE c.n = :n \gset
SELECT pliers.set_context(:org, :usr); -- @context
SELECT /*@tag*/ s.id, s.submission_number, s.status, s.created_at, s.data
FROM pliers.submissions AS s
WHERE /*@tenant*/ s.form_id = :form AND s.deleted_at IS NULL AND pliers.scoped_answers(s.form_id, s.data) @> pliers.scoped_answers(:form, :answer)
    AND s.created_at <= :ts AND (s.created_at < :ts OR s.id > :aid)
ORDER BY s.created_at DESC, s.id
LIMIT 50;
COMMIT;
