-- Benchmark scaffolding, installed by bench/run.py (as a superuser) into each benchmark
-- database after the pliers migrations. Nothing here is part of pliersdb: it lives in
-- schema bench, which the runner's databases alone have.
--
--   bench.orgs        the generated organizations, their admin and members
--   bench.bare        the baseline of figure 1: a plain table with a primary key,
--                     written by a superuser (no RLS, no trigger, no foreign key)
--   bench.targets     n -> (organization, user, form): pgbench picks n at random
--   bench.cursors     n -> a keyset cursor (a real submission) and the answers to filter on
--   bench.answer(r)   the answers of a submission, a pure function of r, so that the
--                     API and the baseline store the same JSON
--   bench.wide_definition(), bench.wide_answer(r), bench.wide_targets
--                     the 15-field form of the server-time figure (one per organization)
--   bench.uuid_v7()   a time-ordered UUID (RFC 9562 version 7) in plain SQL
--   bench.ids_v4/v7   the ID-locality micro-benchmark: submissions' key shape,
--                     random vs time-ordered ids

CREATE SCHEMA bench;

CREATE TABLE bench.bare (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    data jsonb NOT NULL
);

-- Submission numbers of submit_rows.sql (figure 1, the rows written by hand).
CREATE SEQUENCE bench.hand_numbers;

CREATE TABLE bench.orgs (
    n integer PRIMARY KEY,
    organization_id uuid NOT NULL UNIQUE,
    admin_id uuid NOT NULL,     -- org_admin: organization-wide submission.view
    member_ids uuid[] NOT NULL, -- member: submission.create
    is_large boolean NOT NULL
);

CREATE TABLE bench.targets (
    n integer PRIMARY KEY,
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    form_id uuid NOT NULL,
    is_large boolean NOT NULL
);

-- n -> (organization, user, form) of the 15-field forms (bench.wide_definition), one
-- per organization, without submissions of their own: the server-time figure submits to
-- them from one client.
CREATE TABLE bench.wide_targets (
    n integer PRIMARY KEY,
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    form_id uuid NOT NULL
);

CREATE TABLE bench.cursors (
    n integer PRIMARY KEY,
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    form_id uuid NOT NULL,
    after_created_at timestamptz NOT NULL,
    after_id uuid NOT NULL,
    department jsonb NOT NULL,  -- {"department": "..."}: about one answer in 8
    email jsonb NOT NULL        -- {"email": "..."}: one answer in the whole data set
);

-- STABLE, not IMMUTABLE: date -> text depends on DateStyle, and an IMMUTABLE SQL function
-- whose body is not immutable is never inlined (it would be planned at every call).
CREATE FUNCTION bench.answer(p_r bigint)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'fullName', 'Person ' || p_r,
        'email', 'person' || p_r || '@example.com',
        'age', 18 + p_r % 60,
        'department', (ARRAY['hr', 'it', 'sales', 'ops', 'legal', 'finance', 'rnd', 'support'])[1 + (p_r % 8)::integer],
        'startDate', (DATE '2020-01-01' + (p_r % 1500)::integer)::text,
        'satisfaction', 1 + p_r % 5,
        'remote', p_r % 2 = 0,
        'comments', 'Comment ' || md5(p_r::text) || ' ' || repeat('lorem ipsum ', (p_r % 8)::integer)
    )
$$;

-- The definition every benchmark form uses: 8 fields, the answers of bench.answer.
CREATE FUNCTION bench.definition(p_title text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT jsonb_build_object('title', p_title, 'fields', jsonb_build_array(
        '{"id": "f1", "type": "text", "name": "fullName", "label": "Full name", "required": true,
          "validation": {"minLength": 2, "maxLength": 100}}'::jsonb,
        '{"id": "f2", "type": "email", "name": "email", "label": "E-mail", "required": true}'::jsonb,
        '{"id": "f3", "type": "integer", "name": "age", "label": "Age", "validation": {"min": 16, "max": 120}}'::jsonb,
        '{"id": "f4", "type": "single_choice", "name": "department", "label": "Department", "required": true,
          "choices": [{"code": "hr"}, {"code": "it"}, {"code": "sales"}, {"code": "ops"}, {"code": "legal"},
                      {"code": "finance"}, {"code": "rnd"}, {"code": "support"}]}'::jsonb,
        '{"id": "f5", "type": "date", "name": "startDate", "label": "Start date"}'::jsonb,
        '{"id": "f6", "type": "rating", "name": "satisfaction", "label": "Satisfaction"}'::jsonb,
        '{"id": "f7", "type": "boolean", "name": "remote", "label": "Remote"}'::jsonb,
        '{"id": "f8", "type": "textarea", "name": "comments", "label": "Comments",
          "validation": {"maxLength": 2000}}'::jsonb
    ))
$$;

-- The form of the server-time figure (issue 13's budget of 500 us per submission): the 8
-- fields of bench.definition and 7 more, 15 answered fields of a realistic mix: text with
-- lengths and a pattern, e-mail, phone, integer and number with bounds, date, single and
-- multiple choice, boolean, rating, textarea, and one group of three.
CREATE FUNCTION bench.wide_definition(p_title text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT jsonb_set(bench.definition(p_title), '{fields}', (bench.definition(p_title) -> 'fields') || jsonb_build_array(
        '{"id": "w09", "type": "text", "name": "employeeId", "label": "Employee id", "required": true,
          "validation": {"minLength": 7, "maxLength": 7, "pattern": "^E[0-9]{6}$"}}'::jsonb,
        '{"id": "w10", "type": "phone", "name": "phone", "label": "Phone"}'::jsonb,
        '{"id": "w11", "type": "number", "name": "salary", "label": "Salary",
          "validation": {"min": 0, "max": 10000000, "decimals": 2}}'::jsonb,
        '{"id": "w12", "type": "multiple_choice", "name": "skills", "label": "Skills",
          "validation": {"minItems": 1, "maxItems": 5},
          "choices": [{"code": "sql"}, {"code": "python"}, {"code": "go"}, {"code": "rust"}, {"code": "java"},
                      {"code": "excel"}, {"code": "design"}, {"code": "writing"}, {"code": "sales"},
                      {"code": "support"}]}'::jsonb,
        '{"id": "w13", "type": "group", "name": "address", "label": "Address", "fields": [
            {"id": "w14", "type": "text", "name": "street", "label": "Street", "validation": {"maxLength": 200}},
            {"id": "w15", "type": "text", "name": "city", "label": "City", "required": true,
             "validation": {"minLength": 1, "maxLength": 100}},
            {"id": "w16", "type": "text", "name": "postcode", "label": "Postcode",
             "validation": {"pattern": "^[0-9]{5}$"}}
        ]}'::jsonb
    ))
$$;

-- Valid answers to bench.wide_definition, a pure function of r: bench.answer(r) and the
-- 7 more (about 450 bytes of JSON).
CREATE FUNCTION bench.wide_answer(p_r bigint)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT bench.answer(p_r) || jsonb_build_object(
        'employeeId', 'E' || lpad((p_r % 1000000)::text, 6, '0'),
        'phone', '+33 1 ' || lpad((p_r % 100000000)::text, 8, '0'),
        'salary', round((20000 + p_r % 100000) + (p_r % 100) / 100.0, 2),
        'skills', jsonb_build_array(
            (ARRAY['sql', 'python', 'go', 'rust', 'java'])[1 + (p_r % 5)::integer],
            (ARRAY['excel', 'design', 'writing', 'sales', 'support'])[1 + (p_r / 5 % 5)::integer]),
        'address', jsonb_build_object(
            'street', (p_r % 200) || ' Main Street',
            'city', 'City ' || (p_r % 1000),
            'postcode', lpad((p_r % 100000)::text, 5, '0'))
    )
$$;

-- UUID version 7: 48 bits of Unix milliseconds, then random bits (version and variant
-- set). PostgreSQL 18 has uuidv7() built in; this works on 15 too.
CREATE FUNCTION bench.uuid_v7()
RETURNS uuid
LANGUAGE sql
VOLATILE
AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(EPOCH FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

CREATE TABLE bench.ids_v4 (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    data jsonb NOT NULL,
    PRIMARY KEY (organization_id, id)
);

CREATE TABLE bench.ids_v7 (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT bench.uuid_v7(),
    created_at timestamptz NOT NULL DEFAULT now(),
    data jsonb NOT NULL,
    PRIMARY KEY (organization_id, id)
);

GRANT USAGE ON SCHEMA bench TO pliers_app;
GRANT SELECT ON bench.targets, bench.wide_targets, bench.cursors TO pliers_app;
GRANT EXECUTE ON FUNCTION bench.answer(bigint), bench.wide_answer(bigint) TO pliers_app;
