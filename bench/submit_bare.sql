-- Figure 1 (baseline): the same answers (bench.answer of a random r) as one INSERT
-- into a plain table with a uuid primary key, as a superuser, in autocommit.
\set r random(1, 1000000000)
INSERT INTO bench.bare (data) VALUES (bench.answer(:r));
