-- Figure 2 and 3: a form's submissions by date, the keyset page of 50 after a cursor
-- (a real submission picked at random in bench.cursors).
-- The runner derives the variants from this text:
--   app    as the application login under RLS: /*@tenant*/ removed
--   owner  as a superuser (no RLS): /*@tenant*/ replaced by the hand-written tenant
--          predicate on s.organization_id (the org variable of the cursor)
--   owner without context: the owner variant without the line tagged @context
-- /*@tag*/ becomes a comment naming the variant (pg_stat_statements tells them apart).
\set n random(1, :ncursors)
BEGIN;
SELECT c.organization_id AS org, c.user_id AS usr, c.form_id AS form, c.after_created_at AS ts,
    c.after_id AS aid
FROM bench.cursors AS c WHERE c.n = :n \gset
SELECT pliers.set_context(:org, :usr); -- @context
SELECT /*@tag*/ s.id, s.submission_number, s.status, s.created_at, s.data
FROM pliers.submissions AS s
WHERE /*@tenant*/ s.form_id = :form AND s.deleted_at IS NULL
    AND s.created_at <= :ts AND (s.created_at < :ts OR s.id > :aid)
ORDER BY s.created_at DESC, s.id
LIMIT 50;
COMMIT;
