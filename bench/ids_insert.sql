-- ID locality: one row with the submissions' key shape (organization_id, id) into
-- bench.ids_v4 (gen_random_uuid) or bench.ids_v7 (bench.uuid_v7): @table is replaced
-- by the runner. Superuser, autocommit; the organization is a random target's.
\set n random(:lo, :hi)
\set r random(1, 1000000000)
INSERT INTO bench.@table (organization_id, data)
SELECT t.organization_id, bench.answer(:r) FROM bench.targets AS t WHERE t.n = :n;
