-- The bulk path for submissions, measured by figure 4 (bench/run.py): pliers.import_submissions
-- (sql/57-submission-import.sql, docs/api.md "Bulk import") against a raw COPY of the same
-- rows into a plain table with a uuid primary key. Run by hand with psql, as an application
-- login (member of pliers_app), to see the two rates side by side:
--
--     psql -v org=<organization id> -v usr=<user id> -v form=<published form id> -f bench/bulk_import.sql
--
-- Needs bench/setup.sql (bench.answer). Everything is rolled back.

BEGIN;
SELECT pliers.set_context(:'org', :'usr');

CREATE TEMPORARY TABLE raw_copy (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), data jsonb NOT NULL);
CREATE TEMPORARY TABLE staging (LIKE pliers.submission_import);
INSERT INTO staging (data) SELECT bench.answer(g * 7919) FROM generate_series(1, 100000) AS g;

\timing on
INSERT INTO raw_copy (data) SELECT s.data FROM staging AS s;
SELECT count(*) AS imported
FROM pliers.import_submissions(:'form', ARRAY(SELECT ROW(s.*)::pliers.submission_import FROM staging AS s));
\timing off
ROLLBACK;
