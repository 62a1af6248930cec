-- Form definitions: validate_form_definition, validate_submission_data,
-- clean_submission_data, form_breaking_changes and the assert_* functions.
-- Pure functions: nothing is written; everything is rolled back anyway.
BEGIN;
SELECT plan(299);

-- Helpers ---------------------------------------------------------------------

-- Errors as a JSON array of 'path code' strings, in the order reported.
CREATE FUNCTION pg_temp.pc(p_errors jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT coalesce(jsonb_agg((e ->> 'path') || ' ' || (e ->> 'code') ORDER BY n), '[]')
    FROM jsonb_array_elements(p_errors) WITH ORDINALITY AS x (e, n)
$$;

-- Definition errors of a definition holding just these fields, as 'path code'.
CREATE FUNCTION pg_temp.def_errors(p_fields jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT pg_temp.pc(pliers.validate_form_definition(jsonb_build_object('fields', p_fields)))
$$;

-- The SQLSTATE and DETAIL of the error a statement raises (NULL if none).
CREATE FUNCTION pg_temp.error_of(p_sql text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    v_state text;
    v_detail text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL;
    RETURN jsonb_build_object('sqlstate', v_state, 'detail', v_detail::jsonb);
END
$$;

-- Named definitions used below.
CREATE TEMP TABLE defs (name text PRIMARY KEY, d jsonb NOT NULL);
CREATE FUNCTION pg_temp.def(p_name text)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT d FROM defs WHERE name = p_name $$;

-- Submission errors against a named definition, as 'path code'.
CREATE FUNCTION pg_temp.sub(p_name text, p_data jsonb, p_final boolean DEFAULT TRUE, p_attachments jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT pg_temp.pc(pliers.validate_submission_data(pg_temp.def(p_name), p_data, p_final, p_attachments)) $$;

-- Is field y kept (visible) when it has condition p_condition and the other answers are p_data?
CREATE FUNCTION pg_temp.shown(p_condition jsonb, p_data jsonb)
RETURNS boolean
LANGUAGE sql
AS $$
    SELECT pliers.clean_submission_data(
        jsonb_build_object('fields', (pg_temp.def('operators') -> 'fields') || jsonb_build_array(
            jsonb_build_object('type', 'text', 'name', 'y', 'visibleWhen', p_condition)
        )),
        p_data || '{"y": "shown"}'
    ) ? 'y'
$$;

INSERT INTO defs VALUES
('seed', '{
  "title": "Employee Onboarding Form",
  "description": "Complete employee information for onboarding",
  "fields": [
    {
      "id": "field_001", "type": "text", "name": "firstName", "label": "First Name", "required": true,
      "validation": {"minLength": 2, "maxLength": 50, "pattern": "^[a-zA-Z]+$"},
      "conditional": {"show": true, "when": []},
      "ui": {"placeholder": "Enter first name", "helpText": "Legal first name", "width": "half"}
    }
  ],
  "sections": [], "pages": [], "logic": [], "calculations": [], "integrations": []
}'),
('all', '{
  "title": "Every kind",
  "fields": [
    {"type": "text", "name": "t", "validation": {"minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"}},
    {"type": "textarea", "name": "ta"},
    {"type": "email", "name": "em"},
    {"type": "url", "name": "u"},
    {"type": "phone", "name": "ph"},
    {"type": "password", "name": "pw", "validation": {"minLength": 8}},
    {"type": "number", "name": "n", "validation": {"min": 0, "max": 10, "decimals": 1}},
    {"type": "integer", "name": "i", "validation": {"min": 1}},
    {"type": "currency", "name": "c", "currency": "EUR"},
    {"type": "boolean", "name": "b"},
    {"type": "consent", "name": "ok", "required": true},
    {"type": "single_choice", "name": "color", "allowOther": true,
     "choices": [{"code": "red", "label": "Red"}, {"code": "blue", "label": "Blue"}]},
    {"type": "multiple_choice", "name": "tags", "validation": {"minItems": 1, "maxItems": 2},
     "choices": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"}]},
    {"type": "date", "name": "d", "validation": {"min": "2000-01-01", "max": "2030-12-31"}},
    {"type": "time", "name": "tm", "validation": {"min": "08:00", "max": "18:00"}},
    {"type": "datetime", "name": "dt", "validation": {"min": "2020-01-01T00:00:00Z"}},
    {"type": "rating", "name": "r"},
    {"type": "file", "name": "docs",
     "validation": {"maxItems": 2, "accept": ["image/*", "application/pdf"], "maxSizeBytes": 1000}},
    {"type": "signature", "name": "sig"},
    {"type": "geo_point", "name": "loc"},
    {"type": "hidden", "name": "src"},
    {"type": "calculated", "name": "twice", "expression": "{n} * 2"},
    {"type": "display", "name": "intro", "content": "Hello"},
    {"type": "group", "name": "address", "fields": [
      {"type": "text", "name": "street"},
      {"type": "text", "name": "zip", "required": true, "validation": {"pattern": "^[0-9]{5}$"}}
    ]},
    {"type": "repeat", "name": "children", "validation": {"maxItems": 3}, "fields": [
      {"type": "text", "name": "name", "required": true},
      {"type": "integer", "name": "age", "validation": {"min": 0}}
    ]}
  ]
}'),
('operators', '{"fields": [
    {"type": "number", "name": "x"},
    {"type": "text", "name": "s"},
    {"type": "single_choice", "name": "sc", "choices": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}]},
    {"type": "multiple_choice", "name": "mc",
     "choices": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"}]},
    {"type": "date", "name": "d"},
    {"type": "datetime", "name": "dt"},
    {"type": "time", "name": "tm"},
    {"type": "group", "name": "g", "fields": [{"type": "boolean", "name": "flag"}]},
    {"type": "repeat", "name": "rows", "fields": [{"type": "text", "name": "v"}]},
    {"type": "text", "name": "placeholder"}
]}'),
('logic', '{"fields": [
    {"type": "boolean", "name": "employed"},
    {"type": "text", "name": "employer", "required": true,
     "visibleWhen": {"field": "employed", "operator": "equals", "value": true}},
    {"type": "text", "name": "employerCity", "required": true,
     "visibleWhen": {"field": "employer", "operator": "not_empty"}},
    {"type": "integer", "name": "salary", "validation": {"min": 0},
     "conditional": {"show": false, "when": [{"field": "employed", "operator": "equals", "value": false}]}},
    {"type": "single_choice", "name": "contact",
     "choices": [{"code": "email", "label": "E-mail"}, {"code": "phone", "label": "Phone"}]},
    {"type": "email", "name": "email", "requiredWhen": {"field": "contact", "operator": "equals", "value": "email"}},
    {"type": "phone", "name": "phone", "requiredWhen": {"field": "contact", "operator": "equals", "value": "phone"}},
    {"type": "group", "name": "spouse", "visibleWhen": {"field": "married", "operator": "equals", "value": true},
     "fields": [{"type": "text", "name": "name", "required": true}]},
    {"type": "boolean", "name": "married"},
    {"type": "repeat", "name": "kids", "fields": [
      {"type": "integer", "name": "age", "required": true},
      {"type": "text", "name": "school", "required": true,
       "visibleWhen": {"all": [
         {"field": "kids.age", "operator": "greater_or_equal", "value": 6},
         {"field": "employed", "operator": "not_empty"}
       ]}}
    ]}
]}');

-- validate_form_definition: valid definitions ------------------------------------------

SELECT is(pliers.validate_form_definition(pg_temp.def('seed')), '[]', 'the seed''s definition example is valid');
SELECT is(pliers.validate_form_definition(pg_temp.def('all')), '[]', 'a definition with every field kind is valid');
SELECT is(pliers.validate_form_definition(pg_temp.def('operators')), '[]', 'the operators definition is valid');
SELECT is(pliers.validate_form_definition(pg_temp.def('logic')), '[]', 'a definition with conditions is valid');
SELECT is(pliers.validate_form_definition('{"fields": []}'), '[]', 'an empty form is valid');

SELECT is(
    pg_temp.def_errors(jsonb_build_array(kind.field)), '[]',
    format('the minimal %s field is valid', kind.field ->> 'type')
)
FROM jsonb_array_elements('[
    {"type": "text", "name": "f"}, {"type": "textarea", "name": "f"}, {"type": "email", "name": "f"},
    {"type": "url", "name": "f"}, {"type": "phone", "name": "f"}, {"type": "password", "name": "f"},
    {"type": "number", "name": "f"}, {"type": "integer", "name": "f"}, {"type": "currency", "name": "f"},
    {"type": "boolean", "name": "f"}, {"type": "consent", "name": "f"},
    {"type": "single_choice", "name": "f", "choices": [{"code": "a"}]},
    {"type": "multiple_choice", "name": "f", "choices": [{"code": "a"}]},
    {"type": "date", "name": "f"}, {"type": "time", "name": "f"}, {"type": "datetime", "name": "f"},
    {"type": "rating", "name": "f"}, {"type": "file", "name": "f"}, {"type": "signature", "name": "f"},
    {"type": "geo_point", "name": "f"}, {"type": "hidden", "name": "f"},
    {"type": "calculated", "name": "f", "expression": "1 + 1"}, {"type": "display", "name": "f"},
    {"type": "group", "name": "f", "fields": [{"type": "text", "name": "a"}]},
    {"type": "repeat", "name": "f", "fields": [{"type": "text", "name": "a"}]}
]'::jsonb) AS kind (field);

-- validate_form_definition: structure ----------------------------------------------------

SELECT is(
    pliers.validate_form_definition('[]'),
    '[{"path": "$", "code": "invalid_type", "message": "a form definition is a JSON object"}]',
    'a definition that is not an object is one error at $'
);
SELECT is(pg_temp.pc(pliers.validate_form_definition('{"title": 3}')), '["$.title invalid_type", "$.fields missing_property"]',
    'fields is required; title is a string');
SELECT is(pg_temp.pc(pliers.validate_form_definition('{"fields": {}, "colour": 1}')),
    '["$.colour unknown_property", "$.fields invalid_type"]', 'unknown top-level property; fields must be an array');
SELECT is(pg_temp.def_errors('[1, {"type": "text", "name": "a"}]'), '["$.fields[0] invalid_type"]',
    'a field must be an object');
SELECT is(pg_temp.def_errors('[{"name": "a"}]'), '["$.fields[0].type missing_property"]', 'type is required');
SELECT is(pg_temp.def_errors('[{"type": "slider", "name": "a"}]'), '["$.fields[0].type unknown_field_type"]',
    'an unknown kind is reported');
SELECT is(pg_temp.def_errors('[{"type": "text"}]'), '["$.fields[0].name missing_property"]', 'name is required');
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a.b"}, {"type": "text", "name": "a[0]"}, {"type": "text", "name": 5}, '
        '{"type": "text", "name": " a"}, {"type": "text", "name": "a\t"}, {"type": "text", "name": ""}, '
        '{"type": "text", "name": "a\u0001b"}]'),
    '["$.fields[0].name invalid_name", "$.fields[1].name invalid_name", "$.fields[2].name invalid_name", '
    '"$.fields[3].name invalid_name", "$.fields[4].name invalid_name", "$.fields[5].name invalid_name", '
    '"$.fields[6].name invalid_name"]',
    'names: no . [ ] or control characters, no leading or trailing white space, not empty'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "colour": "red", "minLength": 3, "choices": []}]'),
    '["$.fields[0].choices property_not_applicable", "$.fields[0].colour unknown_property", "$.fields[0].minLength unknown_property"]',
    'unknown properties, properties of other kinds, rules outside validation'
);
SELECT is(
    (pliers.validate_form_definition('{"fields": [{"type": "repeat", "name": "r", "minItems": 1, "fields": [{"type": "text", "name": "a"}]}]}')
        -> 0 ->> 'message'),
    'minItems belongs inside validation', 'a rule put beside validation says where it belongs'
);
SELECT is(
    pg_temp.def_errors('[{"type": "display", "name": "a", "required": true, "default": "x"}, {"type": "group", "name": "g", "required": true, "fields": [{"type": "text", "name": "a"}]}]'),
    '["$.fields[0].default property_not_applicable", "$.fields[0].required property_not_applicable", "$.fields[1].required property_not_applicable"]',
    'display and group fields take no required nor default'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "label": 1, "required": "yes", "readOnly": 0, "ui": [], "id": ""}]'),
    '["$.fields[0].id invalid_value", "$.fields[0].label invalid_type", "$.fields[0].required invalid_type", "$.fields[0].readOnly invalid_type", "$.fields[0].ui invalid_type"]',
    'property types are checked'
);
SELECT is(
    pg_temp.def_errors('[{"type": "group", "name": "g"}, {"type": "repeat", "name": "r", "fields": []}, {"type": "calculated", "name": "c"}]'),
    '["$.fields[0].fields missing_property", "$.fields[1].fields invalid_type", "$.fields[2].expression missing_property"]',
    'groups and repeats need fields, calculated fields an expression'
);
SELECT is(pg_temp.def_errors('[{"type": "currency", "name": "c", "currency": "euro"}]'), '["$.fields[0].currency invalid_value"]',
    'a currency is an ISO 4217 code');

-- names, ids, choices
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a"}, {"type": "number", "name": "a"}]'),
    '["$.fields[1].name duplicate_name"]', 'names are unique at the top level'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a"}, {"type": "group", "name": "g", "fields": [{"type": "text", "name": "a"}]}, {"type": "repeat", "name": "r", "fields": [{"type": "text", "name": "a"}]}]'),
    '[]', 'the same name may be used again inside a group or a repeat (another scope)'
);
SELECT is(
    pg_temp.def_errors('[{"type": "group", "name": "g", "fields": [{"type": "text", "name": "a"}, {"type": "text", "name": "a"}]}]'),
    '["$.fields[0].fields[1].name duplicate_name"]', 'names are unique inside a group'
);
SELECT is(
    pg_temp.def_errors('[{"type": "single_choice", "name": "c", "allowOther": true, "choices": [{"code": "x"}]}, {"type": "text", "name": "c_other"}]'),
    '["$.fields[1].name duplicate_name"]', 'the key of the other text, <name>_other, is reserved'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "id": "f1", "name": "a"}, {"type": "group", "name": "g", "fields": [{"type": "text", "id": "f1", "name": "b"}]}]'),
    '["$.fields[1].fields[0].id duplicate_field_id"]', 'ids are unique across the whole definition'
);
SELECT is(
    pliers.validate_form_definition('{"fields": [{"type": "single_choice", "name": "c", "choices": [{"code": "x", "label": "X"}, {"code": "y", "label": "Y"}, {"code": "x", "label": "X again"}]}]}'),
    '[{"path": "$.fields[0].choices[2].code", "code": "duplicate_choice_code", "message": "the code \"x\" is already used by $.fields[0].choices[0]"}]',
    'choice codes are unique (path, code and message)'
);
SELECT is(
    pg_temp.def_errors('[{"type": "multiple_choice", "name": "a"}, {"type": "single_choice", "name": "b", "choices": []}, {"type": "single_choice", "name": "c", "choices": [{"label": "no code"}, {"code": "", "label": "blank"}, {"code": "ok", "label": 2, "icon": "x"}]}]'),
    '["$.fields[0].choices missing_property", "$.fields[1].choices invalid_type", "$.fields[2].choices[0].code missing_property", "$.fields[2].choices[1].code invalid_value", "$.fields[2].choices[2].icon unknown_property", "$.fields[2].choices[2].label invalid_type"]',
    'choices are required, non-empty, with a code each'
);

-- rules
SELECT is(
    pg_temp.def_errors('[{"type": "number", "name": "n", "validation": {"pattern": "x", "minLength": 1}}, {"type": "text", "name": "t", "validation": {"max": 3, "required": true}}]'),
    '["$.fields[0].validation.minLength rule_not_applicable", "$.fields[0].validation.pattern rule_not_applicable", "$.fields[1].validation.max rule_not_applicable", "$.fields[1].validation.required unknown_property"]',
    'rules of other kinds, and unknown rules, are reported'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "t", "validation": {"minLength": -1, "maxLength": 2.5}}, {"type": "file", "name": "f", "validation": {"maxSizeBytes": 0, "accept": ["image/*", "PDF", 3]}}, {"type": "integer", "name": "i", "validation": {"min": 1.5}}, {"type": "date", "name": "d", "validation": {"min": "2020-02-30", "max": 5}}, {"type": "time", "name": "tm", "validation": {"max": "24:00"}}, {"type": "datetime", "name": "dt", "validation": {"min": "2020-01-01 10:00"}}]'),
    '["$.fields[0].validation.maxLength invalid_value", "$.fields[0].validation.minLength invalid_value", "$.fields[1].validation.accept[1] invalid_value", "$.fields[1].validation.accept[2] invalid_value", "$.fields[1].validation.maxSizeBytes invalid_value", "$.fields[2].validation.min invalid_value", "$.fields[3].validation.max invalid_value", "$.fields[3].validation.min invalid_value", "$.fields[4].validation.max invalid_value", "$.fields[5].validation.min invalid_value"]',
    'rule values are checked against their kind'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "t", "validation": {"minLength": 5, "maxLength": 2}}, {"type": "number", "name": "n", "validation": {"min": 10, "max": 1}}, {"type": "multiple_choice", "name": "m", "choices": [{"code": "a"}], "validation": {"minItems": 3, "maxItems": 1}}, {"type": "date", "name": "d", "validation": {"min": "2020-01-02", "max": "2020-01-01"}}, {"type": "rating", "name": "r", "validation": {"min": 6}}]'),
    '["$.fields[0].validation min_greater_than_max", "$.fields[1].validation min_greater_than_max", "$.fields[2].validation min_greater_than_max", "$.fields[3].validation min_greater_than_max", "$.fields[4].validation min_greater_than_max"]',
    'min <= max for lengths, values, items, dates, and rating (default max 5)'
);
SELECT is(
    (pliers.validate_form_definition('{"fields": [{"type": "text", "name": "t", "validation": {"pattern": "([a-z"}}]}') -> 0) - 'message',
    '{"path": "$.fields[0].validation.pattern", "code": "invalid_pattern"}',
    'a bad regular expression is reported, not raised'
);
SELECT ok(
    pliers.validate_form_definition('{"fields": [{"type": "text", "name": "t", "validation": {"pattern": "a{2,1}"}}]}') -> 0 ->> 'message'
        LIKE 'not a valid regular expression: %',
    'the message of invalid_pattern carries the regular expression error'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "t", "default": "toolong", "validation": {"maxLength": 3}}, {"type": "single_choice", "name": "c", "choices": [{"code": "a"}], "default": "b"}, {"type": "date", "name": "d", "default": "tomorrow"}, {"type": "number", "name": "n", "default": 3}]'),
    '["$.fields[0].default invalid_default", "$.fields[1].default invalid_default", "$.fields[2].default invalid_default"]',
    'a default must be a valid answer'
);

-- conditions
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "visibleWhen": {"field": "nope", "operator": "empty"}}, {"type": "text", "name": "b", "requiredWhen": {"field": "g.nope", "operator": "not_empty"}}]'),
    '["$.fields[0].visibleWhen.field unknown_reference", "$.fields[1].requiredWhen.field unknown_reference"]',
    'conditions must refer to existing fields'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a"}, {"type": "text", "name": "b", "visibleWhen": {"field": "a", "operator": "like", "value": "x"}}, {"type": "text", "name": "c", "visibleWhen": {"field": "a"}}, {"type": "text", "name": "d", "visibleWhen": {"operator": "empty"}}]'),
    '["$.fields[1].visibleWhen.operator invalid_operator", "$.fields[2].visibleWhen.operator missing_property", "$.fields[3].visibleWhen.field missing_property"]',
    'a condition has a field and a known operator'
);
SELECT is(
    pg_temp.def_errors('[{"type": "number", "name": "a"}, {"type": "text", "name": "b", "visibleWhen": {"field": "a", "operator": "equals"}}, {"type": "text", "name": "c", "visibleWhen": {"field": "a", "operator": "in", "value": 3}}, {"type": "text", "name": "d", "visibleWhen": {"field": "a", "operator": "empty", "value": 1}}, {"type": "text", "name": "e", "visibleWhen": {"field": "a", "operator": "greater_than", "value": [1]}}, {"type": "text", "name": "f", "visibleWhen": {"field": "a", "operator": "empty", "colour": 1}}]'),
    '["$.fields[1].visibleWhen.value missing_property", "$.fields[2].visibleWhen.value invalid_value", "$.fields[3].visibleWhen.value invalid_condition", "$.fields[4].visibleWhen.value invalid_value", "$.fields[5].visibleWhen.colour unknown_property"]',
    'operator values: required, arrays for in, none for empty, number or string for comparisons'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a"}, {"type": "text", "name": "b", "visibleWhen": {"all": []}}, {"type": "text", "name": "c", "visibleWhen": {"all": [{"field": "a", "operator": "empty"}], "any": [{"field": "a", "operator": "empty"}]}}, {"type": "text", "name": "d", "visibleWhen": "a"}, {"type": "text", "name": "e", "visibleWhen": {"any": [{"field": "a", "operator": "empty"}, {"not": {"all": [{"field": "zz", "operator": "empty"}]}}]}}]'),
    '["$.fields[1].visibleWhen.all invalid_condition", "$.fields[2].visibleWhen invalid_condition", "$.fields[3].visibleWhen invalid_condition", "$.fields[4].visibleWhen.any[1].not.all[0].field unknown_reference"]',
    'all / any / not: non-empty arrays, alone, nested conditions checked with their paths'
);
SELECT is(
    pg_temp.def_errors('[{"type": "display", "name": "intro"}, {"type": "calculated", "name": "calc", "expression": "1"}, {"type": "group", "name": "g", "fields": [{"type": "text", "name": "x"}]}, {"type": "text", "name": "a", "visibleWhen": {"any": [{"field": "intro", "operator": "empty"}, {"field": "calc", "operator": "empty"}, {"field": "g", "operator": "empty"}, {"field": "g.x", "operator": "empty"}]}}]'),
    '["$.fields[3].visibleWhen.any[0].field invalid_reference", "$.fields[3].visibleWhen.any[1].field invalid_reference", "$.fields[3].visibleWhen.any[2].field invalid_reference"]',
    'conditions cannot test display, calculated or group fields (no stored answer); fields inside groups are fine'
);
SELECT is(
    pg_temp.def_errors('[{"type": "repeat", "name": "r", "fields": [{"type": "integer", "name": "age"}, {"type": "text", "name": "school", "visibleWhen": {"field": "r.age", "operator": "greater_than", "value": 5}}]}, {"type": "text", "name": "outside", "visibleWhen": {"field": "r.age", "operator": "greater_than", "value": 5}}, {"type": "text", "name": "any_rows", "visibleWhen": {"field": "r", "operator": "not_empty"}}, {"type": "text", "name": "rows_equal", "visibleWhen": {"field": "r", "operator": "equals", "value": 1}}]'),
    '["$.fields[1].visibleWhen.field invalid_reference", "$.fields[3].visibleWhen.operator invalid_operator"]',
    'inside a repeat item a condition may test its siblings; outside, only empty / not_empty of the repeat'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "t"}, {"type": "date", "name": "d"}, {"type": "number", "name": "n"}, {"type": "text", "name": "a", "visibleWhen": {"field": "t", "operator": "greater_than", "value": "m"}}, {"type": "text", "name": "b", "visibleWhen": {"field": "d", "operator": "less_than", "value": "soon"}}, {"type": "text", "name": "c", "visibleWhen": {"field": "n", "operator": "less_or_equal", "value": "3"}}, {"type": "text", "name": "e", "visibleWhen": {"field": "d", "operator": "greater_or_equal", "value": "2020-01-01"}}]'),
    '["$.fields[3].visibleWhen.operator invalid_operator", "$.fields[4].visibleWhen.value invalid_value", "$.fields[5].visibleWhen.value invalid_value"]',
    'comparisons apply to numbers, dates and times, with a value of the same kind'
);
SELECT is(
    pg_temp.def_errors('[{"type": "single_choice", "name": "s", "choices": [{"code": "a"}], "allowOther": true}, {"type": "text", "name": "x", "visibleWhen": {"field": "s", "operator": "equals", "value": "b"}}, {"type": "text", "name": "y", "visibleWhen": {"field": "s", "operator": "in", "value": ["a", "other", "c"]}}]'),
    '["$.fields[1].visibleWhen.value unknown_choice_code", "$.fields[2].visibleWhen.value[2] unknown_choice_code"]',
    'condition values on choice fields must be choice codes (other when allowOther)'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "visibleWhen": {"field": "a", "operator": "empty"}, "conditional": {"show": true, "when": []}}, {"type": "text", "name": "b", "required": true, "requiredWhen": {"field": "a", "operator": "empty"}}, {"type": "text", "name": "c", "conditional": {"show": "yes", "when": {}, "if": 1}}]'),
    '["$.fields[0] conflicting_properties", "$.fields[1] conflicting_properties", "$.fields[2].conditional.if unknown_property", "$.fields[2].conditional.show invalid_type", "$.fields[2].conditional.when invalid_type", "$.fields[0] dependency_cycle"]',
    'visibleWhen or conditional; required or requiredWhen; the shape of conditional'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a"}, {"type": "text", "name": "b", "conditional": {"show": false, "when": [{"field": "zz", "operator": "empty"}, {"field": "a", "operator": "empty"}]}}]'),
    '["$.fields[1].conditional.when[0].field unknown_reference"]',
    'the conditions of the seed''s conditional.when are checked'
);

-- cycles
SELECT is(
    pliers.validate_form_definition('{"fields": [{"type": "text", "name": "a", "visibleWhen": {"field": "b", "operator": "empty"}}, {"type": "text", "name": "b", "visibleWhen": {"field": "a", "operator": "empty"}}]}'),
    '[{"path": "$.fields[0]", "code": "dependency_cycle", "message": "a depends on itself: a -> b -> a"},
      {"path": "$.fields[1]", "code": "dependency_cycle", "message": "b depends on itself: b -> a -> b"}]',
    'A visibleWhen B and B visibleWhen A is a cycle, reported on both'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "visibleWhen": {"field": "c", "operator": "empty"}}, {"type": "text", "name": "b", "visibleWhen": {"any": [{"field": "x", "operator": "empty"}, {"field": "a", "operator": "empty"}]}}, {"type": "text", "name": "c", "visibleWhen": {"not": {"field": "b", "operator": "empty"}}}, {"type": "text", "name": "x"}]'),
    '["$.fields[0] dependency_cycle", "$.fields[1] dependency_cycle", "$.fields[2] dependency_cycle"]',
    'a longer cycle through nested conditions'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "visibleWhen": {"field": "a", "operator": "not_empty"}}]'),
    '["$.fields[0] dependency_cycle"]', 'a field visible depending on itself'
);
SELECT is(
    pg_temp.def_errors('[{"type": "group", "name": "g", "visibleWhen": {"field": "g.x", "operator": "empty"}, "fields": [{"type": "text", "name": "x"}]}]'),
    '["$.fields[0] dependency_cycle", "$.fields[0].fields[0] dependency_cycle"]',
    'a group whose visibility depends on its own field'
);
SELECT is(
    pg_temp.def_errors('[{"type": "calculated", "name": "c1", "expression": "{c2} + 1"}, {"type": "calculated", "name": "c2", "expression": "{ c1 } * {n}"}, {"type": "number", "name": "n"}, {"type": "calculated", "name": "c3", "expression": "{nope}"}]'),
    '["$.fields[3].expression unknown_reference", "$.fields[0] dependency_cycle", "$.fields[1] dependency_cycle"]',
    'calculated expressions: references checked, cycles through them found'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "phone", "requiredWhen": {"field": "email", "operator": "empty"}}, {"type": "text", "name": "email", "requiredWhen": {"field": "phone", "operator": "empty"}}]'),
    '[]', 'requiredWhen in both directions is not a cycle (one or the other is required)'
);

-- sections, pages, logic
SELECT is(
    pg_temp.pc(pliers.validate_form_definition('{
        "fields": [{"type": "text", "name": "a"}, {"type": "text", "name": "b"}, {"type": "group", "name": "g", "fields": [{"type": "text", "name": "c"}]}],
        "sections": [{"id": "s1", "title": "One", "fields": ["a", "zz", "g.c"]}, {"id": "s1", "fields": ["a"]}, {"title": "no id", "x": 1}],
        "pages": [{"id": "p1", "sections": ["s1", "s9"], "fields": ["b"]}, {"id": "p2", "sections": ["s1"]}, {"id": "p1", "fields": ["b"]}],
        "logic": {}, "integrations": [1]
    }')),
    '["$.sections[0].fields[1] unknown_reference", "$.sections[0].fields[2] unknown_reference", "$.sections[1].id duplicate_section_id", "$.sections[1].fields[0] duplicate_reference", "$.sections[2].x unknown_property", "$.sections[2].id missing_property", "$.pages[0].sections[1] unknown_reference", "$.pages[1].sections[0] duplicate_reference", "$.pages[2].id duplicate_page_id", "$.pages[2].fields[0] duplicate_reference", "$.logic invalid_type", "$.integrations[0] invalid_type"]',
    'sections and pages refer to existing top-level fields and sections, once; logic and integrations are arrays of objects'
);

-- many errors at once
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "validation": {"pattern": "("}}, {"type": "single_choice", "name": "a", "choices": [{"code": "x"}, {"code": "x"}]}, {"type": "number", "name": "n", "validation": {"min": 5, "max": 1}}, {"type": "text", "name": "v", "visibleWhen": {"field": "missing", "operator": "empty"}}]'),
    '["$.fields[0].validation.pattern invalid_pattern", "$.fields[1].choices[1].code duplicate_choice_code", "$.fields[1].name duplicate_name", "$.fields[2].validation min_greater_than_max", "$.fields[3].visibleWhen.field unknown_reference"]',
    'all the errors of a definition are reported at once'
);

-- assert_valid_form_definition
SELECT lives_ok(
    $$SELECT pliers.assert_valid_form_definition(pg_temp.def('all'))$$, 'assert_valid_form_definition accepts a valid definition'
);
SELECT throws_ok(
    $$SELECT pliers.assert_valid_form_definition('{"fields": [{"type": "nope", "name": "a"}]}')$$, 'PL001', NULL,
    'assert_valid_form_definition raises PL001'
);
SELECT is(
    pg_temp.error_of($$SELECT pliers.assert_valid_form_definition('{"fields": [{"type": "nope", "name": "a"}, {"type": "text"}]}')$$),
    jsonb_build_object('sqlstate', 'PL001', 'detail', jsonb_build_object('errors',
        pliers.validate_form_definition('{"fields": [{"type": "nope", "name": "a"}, {"type": "text"}]}'))),
    'its DETAIL is {"errors": [...]}, every error of the definition'
);

-- validate_submission_data: every kind ----------------------------------------------------

INSERT INTO defs VALUES ('valid_all_data', '{
    "t": "abc", "ta": "Some\nlines", "em": "ann@example.com", "u": "https://example.com/a?b=c", "ph": "+33 (1) 23-45.67",
    "pw": "s3cret-password", "n": 9.5, "i": 2, "c": 12.30, "b": false, "ok": true, "color": "other",
    "color_other": "green", "tags": ["a", "c"], "d": "2024-02-29", "tm": "17:59:59", "dt": "2024-06-01T12:00:00+02:00",
    "r": 5, "docs": ["0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10"], "sig": "1b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d11",
    "loc": {"lat": -33.86, "lon": 151.2, "accuracy": 5}, "src": {"utm": "mail"},
    "address": {"street": "Main street", "zip": "75001"},
    "children": [{"name": "Ann", "age": 3}, {"name": "Bob"}]
}');

SELECT is(pliers.validate_submission_data(pg_temp.def('all'), pg_temp.def('valid_all_data')), '[]',
    'answers to every kind of field, valid');
SELECT is(pliers.validate_submission_data(pg_temp.def('all'), '{"ok": true, "address": {"zip": "12345"}}'), '[]',
    'only the required answers: valid');
SELECT is(pliers.validate_submission_data(pg_temp.def('seed'), '{"firstName": "Ann"}'), '[]', 'seed form: valid answer');
SELECT is(pg_temp.sub('seed', '{"firstName": "A1"}'), '["$.data.firstName pattern_mismatch"]', 'seed form: pattern');
SELECT is(pliers.validate_submission_data(pg_temp.def('all'), '[]'),
    '[{"path": "$.data", "code": "invalid_type", "message": "submission data must be a JSON object"}]',
    'data must be an object');

-- text kinds
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "t": 5, "ta": [1], "em": 1, "pw": true}'),
    '["$.data.t invalid_type", "$.data.ta invalid_type", "$.data.em invalid_type", "$.data.pw invalid_type"]',
    'text kinds: strings only');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "t": "a"}'), '["$.data.t too_short"]', 'text: minLength');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "t": "abcdef"}'), '["$.data.t too_long"]', 'text: maxLength');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "t": "ABC"}'), '["$.data.t pattern_mismatch"]', 'text: pattern');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "t": "A"}'), '["$.data.t too_short", "$.data.t pattern_mismatch"]',
    'text: every failed rule is reported');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "em": "ann@", "u": "ftp://x.org", "ph": "call me", "pw": "short"}'),
    '["$.data.em invalid_email", "$.data.u invalid_url", "$.data.ph invalid_phone", "$.data.pw too_short"]',
    'email, url, phone formats; password minLength');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "u": "https://exa mple.com", "ph": "12"}'),
    '["$.data.u invalid_url", "$.data.ph invalid_phone"]', 'a URL has no spaces; a phone number has at least 3 digits');

-- numbers
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "n": "5", "i": "2", "c": "1.00"}'),
    '["$.data.n invalid_type", "$.data.i invalid_type", "$.data.c invalid_type"]', 'numbers are JSON numbers');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "n": 10.5, "i": 0}'),
    '["$.data.n above_maximum", "$.data.i below_minimum"]', 'number and integer: min and max');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "n": -1.25}'),
    '["$.data.n too_many_decimals", "$.data.n below_minimum"]', 'number: decimals');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "i": 1.5, "n": 2.50}'), '["$.data.i not_integer"]',
    'integer: whole numbers; 2.50 has one significant decimal');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "i": 3.0, "c": 1.234}'), '["$.data.c too_many_decimals"]',
    'currency: at most 2 decimals by default; 3.0 is an integer');

-- booleans
SELECT is(pg_temp.sub('all', '{"ok": "yes", "address": {"zip": "12345"}, "b": 0}'), '["$.data.b invalid_type", "$.data.ok invalid_type"]',
    'boolean and consent: true or false');
SELECT is(pg_temp.sub('all', '{"ok": false, "address": {"zip": "12345"}}'), '["$.data.ok consent_required"]',
    'a required consent must be true');
SELECT is(pg_temp.sub('all', '{"ok": false, "address": {"zip": "12345"}}', FALSE), '[]', 'a draft may leave the consent false');
SELECT is(pliers.validate_submission_data('{"fields": [{"type": "consent", "name": "news"}]}', '{"news": false}'), '[]',
    'an optional consent may be false');

-- choices
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "color": "green", "tags": "a"}'),
    '["$.data.color invalid_choice", "$.data.tags invalid_type"]', 'single choice: a code of the choices; multiple: an array');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "color": 1, "tags": ["a", "z", "a", 2]}'),
    '["$.data.color invalid_type", "$.data.tags[1] invalid_choice", "$.data.tags[2] duplicate_item", "$.data.tags[3] invalid_type", "$.data.tags too_many_items"]',
    'multiple choice: each item a distinct code; maxItems');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "tags": ["b"]}'), '[]', 'multiple choice within min and max items');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "tags": []}'), '[]',
    'an empty multiple choice is no answer (the field is optional)');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "multiple_choice", "name": "m", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}], "validation": {"minItems": 2}}]}',
    '{"m": ["a"]}'), '[{"path": "$.data.m", "code": "too_few_items", "message": "must have at least 2 items"}]',
    'multiple choice: minItems on a final submission');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "multiple_choice", "name": "m", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}], "validation": {"minItems": 2}}]}',
    '{"m": ["a"]}', FALSE), '[]', 'minItems is not enforced on a draft');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "color": "other"}'), '["$.data.color_other other_text_required"]',
    '"other" needs its text in <name>_other');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "color": "other", "color_other": 7}'), '["$.data.color_other invalid_type"]',
    'the other text is a string');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "color": "other"}', FALSE), '[]',
    'a draft may leave the other text empty');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "multiple_choice", "name": "m", "allowOther": true, "choices": [{"code": "a"}]}]}',
    '{"m": ["a", "other"], "m_other": "mine"}'), '[]', 'multiple choice with other and its text');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "single_choice", "name": "s", "choices": [{"code": "a"}]}]}', '{"s": "other", "s_other": "x"}'),
    '[{"path": "$.data.s_other", "code": "unknown_field", "message": "\"s_other\" is not a field of this form"}, {"path": "$.data.s", "code": "invalid_choice", "message": "\"other\" is not one of the choices"}]',
    'without allowOther, other is no choice and <name>_other no field');

-- dates and times
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "d": "2023-02-29", "tm": "24:00", "dt": "2024-06-01T12:00:00"}'),
    '["$.data.d invalid_date", "$.data.tm invalid_time", "$.data.dt invalid_datetime"]',
    'a real date, a time of day, a date-time with offset');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "d": "2024-1-5", "tm": "9:00", "dt": 20240101}'),
    '["$.data.d invalid_date", "$.data.tm invalid_time", "$.data.dt invalid_datetime"]', 'ISO formats only');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "d": "1999-12-31", "tm": "07:59", "dt": "2020-01-01T00:59:59+01:00"}'),
    '["$.data.d below_minimum", "$.data.tm below_minimum", "$.data.dt below_minimum"]', 'date, time, datetime: min');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "d": "2031-01-01", "tm": "18:00:01", "dt": "2020-01-01T01:00:00.5+01:00"}'),
    '["$.data.d above_maximum", "$.data.tm above_maximum"]', 'date, time: max; a datetime compares as an instant');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "d": "2000-01-01", "tm": "18:00:00", "dt": "2020-01-01T00:00:00.000001Z"}'),
    '[]', 'bounds are inclusive');

-- rating, file, signature, geo point, hidden
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "r": 6}'), '["$.data.r above_maximum"]', 'rating: 1 to 5 by default');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "r": 0}'), '["$.data.r below_minimum"]', 'rating: not below its scale');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "r": 2.5}'), '["$.data.r not_integer"]', 'rating: whole numbers');
SELECT is(pliers.validate_submission_data('{"fields": [{"type": "rating", "name": "nps", "validation": {"min": 0, "max": 10}}]}', '{"nps": 0}'),
    '[]', 'a rating with its own scale (0 to 10)');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "docs": "0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10"}'),
    '["$.data.docs invalid_type"]', 'file: an array of attachment ids');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "docs": ["nope", "0B0C3F4E-8F8A-4C5E-9A57-2F6A8E1C9D10", "0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10", "0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10"]}'),
    '["$.data.docs[0] invalid_attachment_id", "$.data.docs[1] invalid_attachment_id", "$.data.docs[3] duplicate_item", "$.data.docs too_many_items"]',
    'file: lower-case UUIDs, distinct, maxItems');
SELECT is(pg_temp.sub('all',
    '{"ok": true, "address": {"zip": "12345"}, "docs": ["0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10", "2b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d12"], "sig": "9b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d19"}',
    TRUE, '{"0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10": {"mime_type": "image/png", "file_size_bytes": 1000}, "2b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d12": {"mime_type": "application/pdf", "file_size_bytes": 10}}'),
    '["$.data.sig attachment_not_found"]', 'with p_attachments: accepted types and sizes; a signature must exist');
SELECT is(pg_temp.sub('all',
    '{"ok": true, "address": {"zip": "12345"}, "docs": ["0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10", "2b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d12"]}',
    TRUE, '{"0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10": {"mime_type": "text/html", "file_size_bytes": 1001}}'),
    '["$.data.docs[0] file_type_not_allowed", "$.data.docs[0] file_too_large", "$.data.docs[1] attachment_not_found"]',
    'with p_attachments: accept, maxSizeBytes, existence');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "sig": "data:image/png;base64,xyz"}'),
    '["$.data.sig data_url_not_accepted"]', 'a signature is the attachment id of its image, not a data URL');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "sig": "image.png"}'),
    '["$.data.sig invalid_attachment_id"]', 'a signature is the attachment id of its image');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "loc": {"lat": 48.8}}'), '["$.data.loc invalid_geo_point"]',
    'geo point: lat and lon');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "loc": {"lat": 91, "lon": -181, "accuracy": -1}}'),
    '["$.data.loc.lat invalid_geo_point", "$.data.loc.lon invalid_geo_point", "$.data.loc.accuracy invalid_geo_point"]',
    'geo point: ranges');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "loc": {"lat": 1, "lon": 2, "height": 3}}'), '["$.data.loc invalid_geo_point"]',
    'geo point: no other keys');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "src": [1, "two"], "twice": "anything", "intro": 3}'), '[]',
    'hidden takes any value; answers to calculated and display fields are ignored');

-- groups and repeats
SELECT is(pg_temp.sub('all', '{"ok": true}'), '["$.data.address.zip required"]', 'a required field of a group, group absent');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": "Main street"}'), '["$.data.address invalid_type"]', 'a group is an object');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "1234", "city": "Paris"}}'),
    '["$.data.address.city unknown_field", "$.data.address.zip pattern_mismatch"]', 'inside a group: unknown keys and rules');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "children": {"name": "Ann"}}'), '["$.data.children invalid_type"]',
    'a repeat is an array');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "children": [{"name": "Ann", "age": 2}, {"age": -1, "shoe": 30}, "Bob", {"name": "", "age": 1.5}]}'),
    '["$.data.children too_many_items", "$.data.children[1].shoe unknown_field", "$.data.children[1].name required", "$.data.children[1].age below_minimum", "$.data.children[2] invalid_type", "$.data.children[3].name required", "$.data.children[3].age not_integer"]',
    'repeat: maxItems, then each item with its index in the path');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "repeat", "name": "r", "required": true, "validation": {"minItems": 2}, "fields": [{"type": "text", "name": "a"}]}]}', '{"r": []}'),
    '[{"path": "$.data.r", "code": "required", "message": "is required"}]', 'a required repeat needs an item');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "repeat", "name": "r", "validation": {"minItems": 2}, "fields": [{"type": "text", "name": "a"}]}]}', '{"r": [{}]}'),
    '[{"path": "$.data.r", "code": "too_few_items", "message": "must have at least 2 items"}]', 'repeat: minItems');
SELECT is(pliers.validate_submission_data(
    '{"fields": [{"type": "repeat", "name": "r", "fields": [{"type": "group", "name": "g", "fields": [{"type": "repeat", "name": "rr", "fields": [{"type": "integer", "name": "x"}]}]}]}]}',
    '{"r": [{"g": {"rr": [{"x": 1}]}}, {"g": {"rr": [{"x": 1}, {"x": "2"}]}}]}'),
    '[{"path": "$.data.r[1].g.rr[1].x", "code": "invalid_type", "message": "must be a number"}]', 'nested repeats and groups: the full path');

-- required, unknown, drafts, many errors
SELECT is(pg_temp.sub('all', '{"address": {"zip": "12345"}}'), '["$.data.ok required"]', 'a required field must be answered');
SELECT is(pliers.validate_submission_data('{"fields": [{"type": "text", "name": "a", "required": true}, {"type": "text", "name": "b", "required": true}, {"type": "multiple_choice", "name": "c", "required": true, "choices": [{"code": "x"}]}]}',
    '{"a": "  ", "b": null, "c": []}'),
    '[{"path": "$.data.a", "code": "required", "message": "is required"}, {"path": "$.data.b", "code": "required", "message": "is required"}, {"path": "$.data.c", "code": "required", "message": "is required"}]',
    'blank strings, null and [] are no answer');
SELECT is(pg_temp.sub('all', '{"ok": true, "address": {"zip": "12345"}, "nickname": "x", "1st": 1, "first name": 2}'),
    '["$.data.\"1st\" unknown_field", "$.data.\"first name\" unknown_field", "$.data.nickname unknown_field"]',
    'unknown keys are errors (quoted in the path when not identifiers)');
SELECT is(pg_temp.sub('all', '{"t": 1, "n": 11, "extra": true}', FALSE),
    '["$.data.extra unknown_field", "$.data.t invalid_type", "$.data.n above_maximum"]',
    'a draft: required fields may be missing, but types and rules are checked');
SELECT is(
    pliers.validate_submission_data(pg_temp.def('all'), '{"t": "A", "em": "no", "children": [{"age": -1}], "zzz": 1}'),
    '[{"path": "$.data.zzz", "code": "unknown_field", "message": "\"zzz\" is not a field of this form"},
      {"path": "$.data.t", "code": "too_short", "message": "must be at least 2 characters long"},
      {"path": "$.data.t", "code": "pattern_mismatch", "message": "must match the pattern ^[a-z]+$"},
      {"path": "$.data.em", "code": "invalid_email", "message": "must be an e-mail address"},
      {"path": "$.data.ok", "code": "required", "message": "is required"},
      {"path": "$.data.address.zip", "code": "required", "message": "is required"},
      {"path": "$.data.children[0].name", "code": "required", "message": "is required"},
      {"path": "$.data.children[0].age", "code": "below_minimum", "message": "must be at least 0"}]',
    'all the errors at once, with their paths, codes and messages, in document order'
);
SELECT is(pliers.validate_submission_data('{"fields": [{"type": "text", "name": "a", "readOnly": true, "default": "fixed"}]}', '{"a": "changed"}'),
    '[{"path": "$.data.a", "code": "read_only", "message": "is read-only: must be its default \"fixed\""}]',
    'a read-only field with a default keeps it');
SELECT is(pliers.validate_submission_data('{"fields": [{"type": "text", "name": "a", "readOnly": true, "default": "fixed"}]}', '{"a": "fixed"}'),
    '[]', 'a read-only field with its default');

-- Conditions: every operator, all / any / not ----------------------------------------------

SELECT ok(pg_temp.shown('{"field": "x", "operator": "equals", "value": 3}', '{"x": 3.0}'), 'equals: 3.0 equals 3');
SELECT ok(NOT pg_temp.shown('{"field": "x", "operator": "equals", "value": 3}', '{"x": 4}'), 'equals: 4 does not equal 3');
SELECT ok(NOT pg_temp.shown('{"field": "x", "operator": "equals", "value": 3}', '{}'), 'equals: no answer is not equal');
SELECT ok(pg_temp.shown('{"field": "g.flag", "operator": "equals", "value": true}', '{"g": {"flag": true}}'), 'equals: a field inside a group');
SELECT ok(pg_temp.shown('{"field": "x", "operator": "not_equals", "value": 3}', '{"x": 4}'), 'not_equals: 4');
SELECT ok(NOT pg_temp.shown('{"field": "x", "operator": "not_equals", "value": 3}', '{"x": 3}'), 'not_equals: 3');
SELECT ok(pg_temp.shown('{"field": "x", "operator": "not_equals", "value": 3}', '{}'), 'not_equals: no answer is not equal');
SELECT ok(pg_temp.shown('{"field": "sc", "operator": "in", "value": ["a", "c"]}', '{"sc": "a"}'), 'in: a in [a, c]');
SELECT ok(NOT pg_temp.shown('{"field": "sc", "operator": "in", "value": ["a", "c"]}', '{"sc": "b"}'), 'in: b not in [a, c]');
SELECT ok(pg_temp.shown('{"field": "mc", "operator": "in", "value": ["b", "c"]}', '{"mc": ["a", "c"]}'), 'in: a multiple choice with one of the codes');
SELECT ok(NOT pg_temp.shown('{"field": "mc", "operator": "in", "value": ["b", "c"]}', '{"mc": ["a"]}'), 'in: a multiple choice with none of them');
SELECT ok(pg_temp.shown('{"field": "sc", "operator": "not_in", "value": ["a"]}', '{"sc": "b"}'), 'not_in: b');
SELECT ok(NOT pg_temp.shown('{"field": "sc", "operator": "not_in", "value": ["a"]}', '{"sc": "a"}'), 'not_in: a');
SELECT ok(pg_temp.shown('{"field": "sc", "operator": "not_in", "value": ["a"]}', '{}'), 'not_in: no answer');
SELECT ok(pg_temp.shown('{"field": "x", "operator": "greater_than", "value": 3}', '{"x": 3.5}'), 'greater_than: 3.5 > 3');
SELECT ok(NOT pg_temp.shown('{"field": "x", "operator": "greater_than", "value": 3}', '{"x": 3}'), 'greater_than: 3 > 3 is false');
SELECT ok(NOT pg_temp.shown('{"field": "x", "operator": "greater_than", "value": 3}', '{}'), 'greater_than: no answer');
SELECT ok(pg_temp.shown('{"field": "x", "operator": "greater_or_equal", "value": 3}', '{"x": 3}'), 'greater_or_equal: 3 >= 3');
SELECT ok(NOT pg_temp.shown('{"field": "x", "operator": "greater_or_equal", "value": 3}', '{"x": 2.99}'), 'greater_or_equal: 2.99');
SELECT ok(pg_temp.shown('{"field": "d", "operator": "less_than", "value": "2020-01-01"}', '{"d": "2019-12-31"}'), 'less_than: dates');
SELECT ok(NOT pg_temp.shown('{"field": "d", "operator": "less_than", "value": "2020-01-01"}', '{"d": "2020-01-01"}'), 'less_than: same date');
SELECT ok(pg_temp.shown('{"field": "tm", "operator": "less_than", "value": "10:00"}', '{"tm": "09:59:59"}'), 'less_than: times');
SELECT ok(pg_temp.shown('{"field": "dt", "operator": "less_or_equal", "value": "2020-01-01T00:00:00Z"}', '{"dt": "2020-01-01T01:00:00+01:00"}'),
    'less_or_equal: the same instant in another offset');
SELECT ok(NOT pg_temp.shown('{"field": "dt", "operator": "less_or_equal", "value": "2020-01-01T00:00:00Z"}', '{"dt": "2020-01-01T00:00:01Z"}'),
    'less_or_equal: one second later');
SELECT ok(pg_temp.shown('{"field": "s", "operator": "empty"}', '{}'), 'empty: no answer');
SELECT ok(pg_temp.shown('{"field": "s", "operator": "empty"}', '{"s": "  "}'), 'empty: white space');
SELECT ok(pg_temp.shown('{"field": "mc", "operator": "empty"}', '{"mc": []}'), 'empty: []');
SELECT ok(NOT pg_temp.shown('{"field": "s", "operator": "empty"}', '{"s": "x"}'), 'empty: an answer');
SELECT ok(pg_temp.shown('{"field": "rows", "operator": "not_empty"}', '{"rows": [{"v": "a"}]}'), 'not_empty: a repeat with items');
SELECT ok(NOT pg_temp.shown('{"field": "rows", "operator": "not_empty"}', '{"rows": []}'), 'not_empty: an empty repeat');
SELECT ok(pg_temp.shown('{"all": [{"field": "x", "operator": "greater_than", "value": 1}, {"field": "sc", "operator": "equals", "value": "a"}]}', '{"x": 2, "sc": "a"}'),
    'all: every condition holds');
SELECT ok(NOT pg_temp.shown('{"all": [{"field": "x", "operator": "greater_than", "value": 1}, {"field": "sc", "operator": "equals", "value": "a"}]}', '{"x": 2, "sc": "b"}'),
    'all: one fails');
SELECT ok(pg_temp.shown('{"any": [{"field": "x", "operator": "greater_than", "value": 1}, {"field": "sc", "operator": "equals", "value": "a"}]}', '{"x": 0, "sc": "a"}'),
    'any: one holds');
SELECT ok(NOT pg_temp.shown('{"any": [{"field": "x", "operator": "greater_than", "value": 1}, {"field": "sc", "operator": "equals", "value": "a"}]}', '{"x": 0}'),
    'any: none holds');
SELECT ok(pg_temp.shown('{"not": {"field": "s", "operator": "empty"}}', '{"s": "x"}'), 'not');
SELECT ok(pg_temp.shown(
    '{"any": [{"all": [{"field": "x", "operator": "less_than", "value": 0}, {"field": "s", "operator": "not_empty"}]}, {"all": [{"field": "x", "operator": "greater_than", "value": 10}, {"not": {"field": "mc", "operator": "in", "value": ["a"]}}]}]}',
    '{"x": 11, "mc": ["b"]}'), 'any of all, with not, nested: true');
SELECT ok(NOT pg_temp.shown(
    '{"any": [{"all": [{"field": "x", "operator": "less_than", "value": 0}, {"field": "s", "operator": "not_empty"}]}, {"all": [{"field": "x", "operator": "greater_than", "value": 10}, {"not": {"field": "mc", "operator": "in", "value": ["a"]}}]}]}',
    '{"x": 11, "mc": ["a"]}'), 'any of all, with not, nested: false');

-- Visibility: hidden fields are neither required nor kept ----------------------------------

SELECT is(pg_temp.sub('logic', '{"employed": false, "employer": "ACME", "employerCity": "Paris"}'), '[]',
    'hidden fields are not required and their answers are not errors');
SELECT is(pliers.clean_submission_data(pg_temp.def('logic'), '{"employed": false, "employer": "ACME", "employerCity": "Paris"}'),
    '{"employed": false}',
    'clean_submission_data drops hidden answers, and visibility is evaluated on the cleaned answers (employerCity)');
SELECT is(pg_temp.sub('logic', '{"employed": true}'), '["$.data.employer required"]',
    'a visible required field is required; the one depending on its answer stays hidden');
SELECT is(pg_temp.sub('logic', '{"employed": true, "employer": "ACME"}'), '["$.data.employerCity required"]',
    'the chain of conditions goes on once answered');
SELECT is(pg_temp.sub('logic', '{"employed": false, "salary": -5}'), '[]', 'the answer of a hidden field is not checked (seed conditional, show false)');
SELECT is(pliers.clean_submission_data(pg_temp.def('logic'), '{"employed": false, "salary": -5}'), '{"employed": false}',
    'and it is dropped');
SELECT is(pg_temp.sub('logic', '{"employed": true, "employer": "A", "employerCity": "B", "salary": -5}'), '["$.data.salary below_minimum"]',
    'visible again, it is checked');
SELECT is(pg_temp.sub('logic', '{"contact": "email"}'), '["$.data.email required"]', 'requiredWhen true: required');
SELECT is(pg_temp.sub('logic', '{"contact": "phone"}'), '["$.data.phone required"]', 'requiredWhen false: not required');
SELECT is(pg_temp.sub('logic', '{"contact": "phone"}', FALSE), '[]', 'requiredWhen is not enforced on a draft');
SELECT is(pg_temp.sub('logic', '{"married": false, "spouse": {"name": "", "x": 1}}'), '[]',
    'a hidden group: its fields are not required and its keys not checked');
SELECT is(pliers.clean_submission_data(pg_temp.def('logic'), '{"married": false, "spouse": {"name": "Al"}}'), '{"married": false}',
    'a hidden group is dropped whole');
SELECT is(pg_temp.sub('logic', '{"married": true}'), '["$.data.spouse.name required"]',
    'a visible group (its condition refers to a later field): its required fields');
SELECT is(
    pg_temp.sub('logic', '{"employed": true, "employer": "A", "employerCity": "B", "kids": [{"age": 4, "school": "Little"}, {"age": 7}, {"age": 9, "school": "Big"}]}'),
    '["$.data.kids[1].school required"]',
    'in repeat items, conditions see their own item and the answers around'
);
SELECT is(
    pliers.clean_submission_data(pg_temp.def('logic'), '{"employed": true, "employer": "A", "employerCity": "B", "kids": [{"age": 4, "school": "Little"}, {"age": 7, "school": "Big"}]}'),
    '{"employed": true, "employer": "A", "employerCity": "B", "kids": [{"age": 4}, {"age": 7, "school": "Big"}]}',
    'each repeat item is cleaned on its own'
);
SELECT is(
    pliers.clean_submission_data(pg_temp.def('logic'), '{"kids": [{"age": 9, "school": "Big"}]}'),
    '{"kids": [{"age": 9}]}', 'an item condition on an outer field that is not answered'
);

-- clean_submission_data --------------------------------------------------------------------

SELECT is(pliers.clean_submission_data(pg_temp.def('all'), pg_temp.def('valid_all_data')), pg_temp.def('valid_all_data'),
    'valid answers of visible fields are kept as they are');
SELECT is(
    pliers.clean_submission_data(pg_temp.def('all'),
        '{"t": null, "color": "red", "color_other": "x", "twice": 4, "intro": "x", "zzz": 1, "address": {"zip": "1", "c": 2}, "children": [{"name": "a", "q": 1}]}'),
    '{"color": "red", "address": {"zip": "1"}, "children": [{"name": "a"}]}',
    'dropped: nulls, unneeded other text, calculated and display answers, unknown keys (at every level)'
);
SELECT is(pliers.clean_submission_data(pg_temp.def('all'), '"text"'), '"text"', 'data that is not an object is returned as is');

-- assert_valid_submission_data -------------------------------------------------------------

SELECT lives_ok(
    $$SELECT pliers.assert_valid_submission_data(pg_temp.def('all'), pg_temp.def('valid_all_data'))$$,
    'assert_valid_submission_data accepts valid answers'
);
SELECT throws_ok(
    $$SELECT pliers.assert_valid_submission_data(pg_temp.def('all'), '{}')$$, 'PL001', NULL,
    'assert_valid_submission_data raises PL001'
);
SELECT is(
    pg_temp.error_of($$SELECT pliers.assert_valid_submission_data(pg_temp.def('all'), '{"t": 1}')$$),
    jsonb_build_object('sqlstate', 'PL001', 'detail', jsonb_build_object('errors',
        pliers.validate_submission_data(pg_temp.def('all'), '{"t": 1}'))),
    'its DETAIL is {"errors": [...]}'
);
SELECT lives_ok(
    $$SELECT pliers.assert_valid_submission_data(pg_temp.def('all'), '{"t": "abc"}', FALSE)$$,
    'assert_valid_submission_data on a draft'
);

-- form_breaking_changes --------------------------------------------------------------------

INSERT INTO defs VALUES ('v1', '{"fields": [
    {"id": "f1", "type": "text", "name": "first", "validation": {"maxLength": 50}},
    {"id": "f2", "type": "single_choice", "name": "color", "allowOther": true,
     "choices": [{"code": "red", "label": "Red"}, {"code": "blue", "label": "Blue"}]},
    {"id": "f3", "type": "integer", "name": "age", "validation": {"min": 0}},
    {"type": "group", "name": "address", "fields": [{"type": "text", "name": "zip"}, {"type": "text", "name": "city"}]},
    {"type": "repeat", "name": "kids", "fields": [{"type": "text", "name": "name"}]},
    {"type": "display", "name": "intro", "content": "Hi"},
    {"type": "currency", "name": "price", "currency": "EUR"},
    {"type": "file", "name": "docs", "validation": {"accept": ["image/png"]}},
    {"id": "g", "type": "group", "name": "work", "fields": [{"type": "text", "name": "employer"}]}
]}');

SELECT is(pliers.form_breaking_changes(pg_temp.def('v1'), pg_temp.def('v1')), '[]', 'no change, nothing breaks');
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(
        jsonb_set(jsonb_set(pg_temp.def('v1'), '{fields}', (pg_temp.def('v1') -> 'fields') || '[{"type": "text", "name": "nickname"}]'),
            '{fields,1,choices}', '[{"code": "blue", "label": "Bleu"}, {"code": "red", "label": "Rouge"}, {"code": "green", "label": "Vert"}]'),
        '{fields,3,fields}', '[{"type": "text", "name": "zip", "label": "ZIP"}, {"type": "text", "name": "city"}, {"type": "text", "name": "country"}]')),
    '[]', 'adding optional fields and choices, relabelling and reordering choices are not breaking'
);
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(pg_temp.def('v1'),
        '{fields,0,validation,maxLength}', '100'), '{fields,2,validation,min}', '-10'), '{fields,7,validation,accept}', '["image/*", "application/pdf"]'),
        '{fields,0,type}', '"textarea"'), '{fields,2,type}', '"number"')),
    '[]', 'looser rules and compatible kinds (text to textarea, integer to number) are not breaking'
);
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), pg_temp.def('v1') #- '{fields,5}'), '[]',
    'removing a display field is not breaking'
);
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), pg_temp.def('v1') #- '{fields,2}'),
    '[{"path": "$.fields[2]", "code": "field_removed", "message": "the field age is removed: its answers would be lost"}]',
    'a removed field'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), pg_temp.def('v1') #- '{fields,3}')), '["$.fields[3] field_removed"]',
    'a removed group is one change (its fields are not listed)'
);
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(pg_temp.def('v1'), '{fields,0,name}', '"given"')),
    '[{"path": "$.fields[0]", "code": "field_renamed", "message": "the field first (id f1) becomes given: its answers are under the old key"}]',
    'a renamed field (same id, new name)'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'),
        jsonb_set(pg_temp.def('v1') #- '{fields,2}', '{fields,2,fields}', (pg_temp.def('v1') #> '{fields,3,fields}') || (pg_temp.def('v1') #> '{fields,2}')))),
    '["$.fields[2] field_moved"]', 'a field moved into a group (same id, other scope)'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(pg_temp.def('v1'), '{fields,8,name}', '"job"'))),
    '["$.fields[8] field_renamed"]', 'a renamed group with an id: its fields follow it and are not reported'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(jsonb_set(pg_temp.def('v1'),
        '{fields,0,type}', '"number"'), '{fields,2}', '{"id": "f3", "type": "display", "name": "age"}'))),
    '["$.fields[0] field_retyped", "$.fields[2] field_retyped"]',
    'incompatible kinds (text to number; to display, whose answers are dropped)'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(jsonb_set(pg_temp.def('v1'),
        '{fields,3}', '{"type": "text", "name": "address"}'), '{fields,4,type}', '"group"'))),
    '["$.fields[3] structure_changed", "$.fields[4] structure_changed"]',
    'a group turned into a text, a repeat into a group'
);
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(pg_temp.def('v1'), '{fields,1,choices}', '[{"code": "red", "label": "Red"}]')),
    '[{"path": "$.fields[1].choices[1]", "code": "choice_removed", "message": "the choice \"blue\" of color is removed: answers with it would be invalid"}]',
    'a removed choice code'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), pg_temp.def('v1') #- '{fields,1,allowOther}')),
    '["$.fields[1].allowOther other_removed"]', '"other" no longer allowed'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(jsonb_set(pg_temp.def('v1'),
        '{fields,0,required}', 'true'), '{fields,2,requiredWhen}', '{"field": "first", "operator": "not_empty"}'))),
    '["$.fields[0].required field_now_required", "$.fields[2].requiredWhen field_now_required"]',
    'an existing field becomes required, always or conditionally'
);
SELECT is(
    pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(pg_temp.def('v1'), '{fields,3,fields}',
        (pg_temp.def('v1') #> '{fields,3,fields}') || '[{"type": "text", "name": "country", "required": true}]')),
    '[{"path": "$.fields[3].fields[2]", "code": "required_field_added", "message": "the new field address.country is required: answers without it would be invalid"}]',
    'a new required field (path into the new definition)'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(jsonb_set(jsonb_set(jsonb_set(pg_temp.def('v1'),
        '{fields,0,validation}', '{"maxLength": 10, "pattern": "^[A-Z]"}'), '{fields,2,validation,min}', '18'),
        '{fields,7,validation,accept}', '["application/pdf"]'), '{fields,1,choices,0,label}', '"Rouge"'))),
    '["$.fields[0].validation.maxLength rule_tightened", "$.fields[0].validation.pattern rule_tightened", "$.fields[2].validation.min rule_tightened", "$.fields[7].validation.accept rule_tightened"]',
    'tighter rules: maxLength, a new pattern, min, accept'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'), jsonb_set(pg_temp.def('v1'), '{fields,6,currency}', '"USD"'))),
    '["$.fields[6].currency currency_changed"]', 'another currency'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(pg_temp.def('v1'),
        '{"fields": [{"id": "f1", "type": "text", "name": "first", "validation": {"maxLength": 50}}, {"type": "number", "name": "zzz", "required": true}]}')),
    '["$.fields[1] field_removed", "$.fields[2] field_removed", "$.fields[3] field_removed", "$.fields[4] field_removed", "$.fields[6] field_removed", "$.fields[7] field_removed", "$.fields[8] field_removed", "$.fields[1] required_field_added"]',
    'every breaking change at once'
);

-- Input limits: PL001 at once, one error naming the limit; just under each, accepted ----------

-- 'sqlstate code path' of the error a statement raises; NULL when it raises none.
CREATE FUNCTION pg_temp.limit_of(p_sql text)
RETURNS text
LANGUAGE sql
AS $$
    SELECT (e ->> 'sqlstate') || ' ' || (e #>> '{detail,errors,0,code}') || ' ' || (e #>> '{detail,errors,0,path}')
    FROM (SELECT pg_temp.error_of(p_sql) AS e) AS x
$$;

-- Groups nested p_depth deep around a text field.
CREATE FUNCTION pg_temp.nested_groups(p_depth integer)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ('{"fields": [' || repeat('{"type": "group", "name": "g", "fields": [', p_depth)
        || '{"type": "text", "name": "t"}' || repeat(']}', p_depth) || ']}')::jsonb
$$;

-- A field visible under p_depth nested "not" around a test.
CREATE FUNCTION pg_temp.nested_nots(p_depth integer)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ('{"fields": [{"type": "text", "name": "a"}, {"type": "text", "name": "b", "visibleWhen": '
        || repeat('{"not": ', p_depth) || '{"field": "a", "operator": "empty"}' || repeat('}', p_depth) || '}]}')::jsonb
$$;

-- p_count text fields; p_extra merged into the definition.
CREATE FUNCTION pg_temp.many_fields(p_count integer, p_extra jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object('fields', jsonb_agg(jsonb_build_object('type', 'text', 'name', 'f' || i))) || p_extra
    FROM generate_series(1, p_count) AS i
$$;

CREATE FUNCTION pg_temp.list(p_count integer, p_item jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT jsonb_agg(p_item) FROM generate_series(1, p_count) $$;

SELECT is(
    pliers.form_limits(),
    '{"definition_bytes": 1048576, "data_bytes": 4194304, "json_depth": 128, "fields": 2000, "field_depth": 32,
      "choices": 10000, "conditions": 10000, "condition_depth": 16, "array_items": 10000, "sections": 1000,
      "pattern_chars": 1000, "answer_chars": 100000, "expression_nodes": 500}',
    'form_limits() lists the limits of docs/forms.md'
);

-- The definition.
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(
        pg_temp.many_fields(1, jsonb_build_object('description', repeat('x', 1048576))))$$),
    'PL001 definition_too_large $', 'a definition over 1 MiB of JSON text: definition_too_large'
);
SELECT is(
    pliers.validate_form_definition(pg_temp.many_fields(1, jsonb_build_object('description', repeat('x', 1048000)))),
    '[]', 'just under 1 MiB: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(
        pg_temp.many_fields(1, jsonb_build_object('metadata', jsonb_build_object('a', (repeat('[', 127) || repeat(']', 127))::jsonb))))$$),
    'PL001 nesting_too_deep $', 'containers nested 129 deep (the root, metadata, 127 arrays): nesting_too_deep'
);
SELECT is(
    pliers.validate_form_definition(
        pg_temp.many_fields(1, jsonb_build_object('metadata', jsonb_build_object('a', (repeat('[', 126) || repeat(']', 126))::jsonb)))
    ),
    '[]', '128 deep: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(pg_temp.many_fields(2001))$$),
    'PL001 too_many_fields $.fields[2000]', '2,001 fields: too_many_fields, at the first one too many'
);
SELECT is(pliers.validate_form_definition(pg_temp.many_fields(2000)), '[]', '2,000 fields: accepted');
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(pg_temp.nested_groups(33))$$),
    'PL001 fields_too_deep $' || repeat('.fields[0]', 33) || '.fields',
    'groups nested 33 deep: fields_too_deep, at the fields of the 33rd'
);
SELECT is(pliers.validate_form_definition(pg_temp.nested_groups(32)), '[]', 'groups nested 32 deep: accepted');
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        jsonb_build_object('type', 'single_choice', 'name', 'c', 'choices',
            (SELECT jsonb_agg(jsonb_build_object('code', 'c' || i)) FROM generate_series(1, 10001) AS i)))))$$),
    'PL001 too_many_choices $.fields[0].choices', '10,001 choices: too_many_choices'
);
SELECT is(
    pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        jsonb_build_object('type', 'single_choice', 'name', 'c', 'choices',
            (SELECT jsonb_agg(jsonb_build_object('code', 'c' || i)) FROM generate_series(1, 10000) AS i))))),
    '[]', '10,000 choices: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(pg_temp.nested_nots(16))$$),
    'PL001 condition_too_deep $.fields[1].visibleWhen' || repeat('.not', 16),
    'a test inside 16 "not": condition_too_deep'
);
SELECT is(pliers.validate_form_definition(pg_temp.nested_nots(15)), '[]', 'inside 15: accepted');
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        '{"type": "text", "name": "a"}'::jsonb,
        jsonb_build_object('type', 'text', 'name', 'b', 'visibleWhen', jsonb_build_object('any',
            pg_temp.list(5000, '{"field": "a", "operator": "empty"}'))),
        jsonb_build_object('type', 'text', 'name', 'c', 'requiredWhen', jsonb_build_object('all',
            pg_temp.list(5001, '{"field": "a", "operator": "not_empty"}'))))))$$),
    'PL001 too_many_conditions $.fields[2].requiredWhen', '10,001 field tests: too_many_conditions'
);
SELECT is(
    pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        '{"type": "text", "name": "a"}'::jsonb,
        jsonb_build_object('type', 'text', 'name', 'b', 'visibleWhen', jsonb_build_object('any',
            pg_temp.list(5000, '{"field": "a", "operator": "empty"}'))),
        jsonb_build_object('type', 'text', 'name', 'c', 'requiredWhen', jsonb_build_object('all',
            pg_temp.list(5000, '{"field": "a", "operator": "not_empty"}')))))),
    '[]', '10,000 field tests: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        '{"type": "text", "name": "a"}'::jsonb,
        jsonb_build_object('type', 'text', 'name', 'b', 'visibleWhen', jsonb_build_object(
            'field', 'a', 'operator', 'in', 'value', pg_temp.list(10001, '"x"'))))))$$),
    'PL001 array_too_long $.fields[1].visibleWhen.value', 'an "in" list of 10,001 values: array_too_long'
);
SELECT is(
    pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        '{"type": "text", "name": "a"}'::jsonb,
        jsonb_build_object('type', 'text', 'name', 'b', 'visibleWhen', jsonb_build_object(
            'field', 'a', 'operator', 'in', 'value', pg_temp.list(10000, '"x"')))))),
    '[]', '10,000 values: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(
        pg_temp.many_fields(1, jsonb_build_object('logic', pg_temp.list(10001, '{}'))))$$),
    'PL001 array_too_long $.logic', 'a logic list of 10,001 items: array_too_long'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(pg_temp.many_fields(1, jsonb_build_object('sections',
        (SELECT jsonb_agg(jsonb_build_object('id', 's' || i)) FROM generate_series(1, 1001) AS i))))$$),
    'PL001 too_many_sections $.sections', '1,001 sections: too_many_sections'
);
SELECT is(
    pliers.validate_form_definition(pg_temp.many_fields(1, jsonb_build_object(
        'sections', (SELECT jsonb_agg(jsonb_build_object('id', 's' || i)) FROM generate_series(1, 1000) AS i),
        'pages', (SELECT jsonb_agg(jsonb_build_object('id', 'p' || i)) FROM generate_series(1, 1000) AS i)
    ))),
    '[]', '1,000 sections and 1,000 pages: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        jsonb_build_object('type', 'text', 'name', 'a', 'validation', jsonb_build_object('pattern', repeat('a', 1001))))))$$),
    'PL001 string_too_long $.fields[0].validation.pattern', 'a pattern of 1,001 characters: string_too_long'
);
SELECT is(
    pliers.validate_form_definition(jsonb_build_object('fields', jsonb_build_array(
        jsonb_build_object('type', 'text', 'name', 'a', 'validation', jsonb_build_object('pattern', repeat('a', 1000)))))),
    '[]', '1,000 characters: accepted'
);

-- The answers.
INSERT INTO defs VALUES ('limits', '{"fields": [
    {"type": "text", "name": "t"}, {"type": "email", "name": "e"}, {"type": "hidden", "name": "h"}
]}');
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_submission_data(pg_temp.def('limits'),
        jsonb_build_object('t', repeat('x', 4194304)))$$),
    'PL001 data_too_large $.data', 'answers over 4 MiB of JSON text: data_too_large'
);
SELECT is(
    pliers.validate_submission_data(pg_temp.def('limits'), jsonb_build_object('t', repeat('x', 4194000))),
    '[]', 'just under 4 MiB: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_submission_data(pg_temp.def('limits'),
        jsonb_build_object('h', (repeat('[', 128) || repeat(']', 128))::jsonb))$$),
    'PL001 nesting_too_deep $.data', 'answers nested 129 deep (the object, 128 arrays): nesting_too_deep'
);
SELECT is(
    pliers.validate_submission_data(pg_temp.def('limits'), jsonb_build_object('h', (repeat('[', 127) || repeat(']', 127))::jsonb)),
    '[]', '128 deep: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.clean_submission_data(pg_temp.def('limits'),
        jsonb_build_object('h', pg_temp.list(10001, '1')))$$),
    'PL001 array_too_long $.data', 'an array of 10,001 items in the answers: array_too_long (clean_submission_data too)'
);
SELECT is(
    pliers.validate_submission_data(pg_temp.def('limits'), jsonb_build_object('h', pg_temp.list(10000, '1'))),
    '[]', '10,000 items: accepted'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_submission_data(pg_temp.def('limits'),
        jsonb_build_object('e', repeat('a', 100001)))$$),
    'PL001 string_too_long $.data.e', 'an e-mail answer of 100,001 characters: string_too_long'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data(pg_temp.def('limits'), jsonb_build_object('e', repeat('a', 100000)))),
    '["$.data.e invalid_email"]', '100,000 characters: checked'
);

-- Hostile inputs of the issue: refused at once, by every function that takes them.
SELECT throws_ok(
    $$SELECT pliers.validate_form_definition(pg_temp.nested_groups(1000))$$, 'PL001', NULL,
    'groups nested 1,000 deep: validate_form_definition raises PL001'
);
SELECT is(
    pg_temp.limit_of($$SELECT pliers.validate_form_definition(pg_temp.nested_groups(1000))$$),
    'PL001 nesting_too_deep $', '... naming the limit'
);
SELECT throws_ok(
    $$SELECT pliers.assert_valid_form_definition(pg_temp.nested_nots(1000))$$, 'PL001', NULL,
    '1,000 nested "not": assert_valid_form_definition raises PL001'
);
SELECT throws_ok(
    $$SELECT pliers.validate_form_definition(pg_temp.nested_nots(100))$$, 'PL001', NULL,
    '100 nested "not": validate_form_definition raises PL001 (condition_too_deep)'
);
SELECT throws_ok(
    $$SELECT pliers.validate_submission_data(pg_temp.nested_nots(1000), '{"a": "x", "b": "y"}')$$, 'PL001', NULL,
    '1,000 nested "not": validate_submission_data raises PL001'
);
SELECT throws_ok(
    $$SELECT pliers.assert_valid_submission_data(pg_temp.nested_nots(1000), '{"a": "x"}')$$, 'PL001', NULL,
    '... assert_valid_submission_data too'
);
SELECT throws_ok(
    $$SELECT pliers.clean_submission_data(pg_temp.nested_nots(1000), '{"a": "x"}')$$, 'PL001', NULL,
    '... clean_submission_data too'
);
SELECT is(
    pliers.validate_submission_data(pg_temp.nested_nots(120), '{"a": "x", "b": "y"}'),
    '[]', 'a definition within the nesting limit (120 "not") is evaluated without exhausting the stack'
);

-- A long cycle: every field on it reported, each message of bounded length.
SELECT is(
    (SELECT jsonb_agg(e ->> 'code') = pg_temp.list(40, '"dependency_cycle"') AND max(length(e ->> 'message')) < 200
    FROM jsonb_array_elements(pliers.validate_form_definition(jsonb_build_object('fields', (
        SELECT jsonb_agg(jsonb_build_object('type', 'text', 'name', 'f' || i,
            'visibleWhen', jsonb_build_object('field', 'f' || (i % 40 + 1), 'operator', 'empty')) ORDER BY i)
        FROM generate_series(1, 40) AS i)))) AS e),
    TRUE, 'a cycle of 40 fields: 40 dependency_cycle errors, messages shortened'
);

-- Issue 17: names as written, translations, new kinds and rules ---------------------------

SELECT is(
    pg_temp.def_errors(jsonb_build_array(
        '{"type": "text", "name": "first name"}'::jsonb, '{"type": "text", "name": "Age?"}'::jsonb,
        '{"type": "text", "name": "q1:a/b-c"}'::jsonb, '{"type": "text", "name": "say \"hi\", \\ok"}'::jsonb,
        '{"type": "text", "name": "123"}'::jsonb, jsonb_build_object('type', 'text', 'name', repeat('x', 200))
    )),
    '[]', 'names as written: spaces, ? : / - quotes, commas, backslashes, digits, 200 characters'
);
SELECT is(pg_temp.def_errors(jsonb_build_array(jsonb_build_object('type', 'text', 'name', repeat('x', 201)))),
    '["$.fields[0].name invalid_name"]', 'a name has at most 200 characters');
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a b"}, {"type": "text", "name": "a b"}, {"type": "single_choice", "name": "c d", "allowOther": true, "choices": [{"code": "x"}]}, {"type": "text", "name": "c d_other"}]'),
    '["$.fields[1].name duplicate_name", "$.fields[3].name duplicate_name"]',
    'names as written are unique per scope, <name>_other reserved'
);
SELECT is(
    pliers.validate_submission_data(
        '{"fields": [{"type": "group", "name": "the group", "fields": [{"type": "integer", "name": "n\"1"}]}, {"type": "single_choice", "name": "my choice", "allowOther": true, "choices": [{"code": "a"}]}]}',
        '{"the group": {"n\"1": "x", "b,c": 1}, "my choice": "other", "x y": 1}'
    ),
    '[{"code": "unknown_field", "path": "$.data.\"x y\"", "message": "\"x y\" is not a field of this form"}, {"code": "unknown_field", "path": "$.data.\"the group\".\"b,c\"", "message": "\"b,c\" is not a field of this group"}, {"code": "invalid_type", "path": "$.data.\"the group\".\"n\\\"1\"", "message": "must be a number"}, {"code": "other_text_required", "path": "$.data.\"my choice_other\"", "message": "please specify the other answer"}]',
    'answers under keys as written: paths quoted, unknown keys found, the other text beside its key'
);
SELECT is(
    pliers.clean_submission_data(
        '{"fields": [{"type": "group", "name": "g,1", "fields": [{"type": "text", "name": "a\"b"}, {"type": "text", "name": "c\\d", "visibleWhen": {"field": "g,1.a\"b", "operator": "equals", "value": "y"}}]}, {"type": "repeat", "name": "r: x", "fields": [{"type": "text", "name": "n m"}]}]}',
        '{"g,1": {"a\"b": "n", "c\\d": "dropped"}, "r: x": [{"n m": "a", "zz": 1}], "junk": 1}'
    ),
    '{"g,1": {"a\"b": "n"}, "r: x": [{"n m": "a"}]}',
    'cleaning rebuilds objects under keys as written (JSON-quoted), through groups and repeats'
);

-- Translations
SELECT is(
    pg_temp.pc(pliers.validate_form_definition('{"languages": ["en", "fr-CA"], "defaultLanguage": "en", "title": {"en": "T", "fr-CA": "T"}, "fields": [{"type": "single_choice", "name": "a", "label": {"en": "A", "fr-CA": "A"}, "hint": {"en": "h"}, "validation": {"constraintMessage": {"en": "m"}}, "choices": [{"code": "x", "label": {"en": "X", "fr-CA": "X"}, "description": "d"}]}], "sections": [{"id": "s", "title": {"en": "S"}}], "pages": [{"id": "p", "description": {"en": "P"}}]}')),
    '[]', 'translatable texts: strings or objects by language, the default one present'
);
SELECT is(
    pg_temp.pc(pliers.validate_form_definition('{"languages": ["en", "fr"], "defaultLanguage": "en", "description": {"fr": "x"}, "fields": [{"type": "single_choice", "name": "a", "label": {"en": "A", "de": "A"}, "hint": {"en": 3}, "choices": [{"code": "x", "label": {"fr": "X"}}]}], "sections": [{"id": "s", "title": {"fr": "S"}}]}')),
    '["$.description missing_default_translation", "$.fields[0].label.de unknown_language", "$.fields[0].hint.en invalid_type", "$.fields[0].choices[0].label missing_default_translation", "$.sections[0].title missing_default_translation"]',
    'translations: unknown languages, the default missing, non-string texts'
);
SELECT is(
    pg_temp.pc(pliers.validate_form_definition('{"title": {"en": "T"}, "fields": [{"type": "text", "name": "a", "label": {"en": "A"}}]}')),
    '["$.title invalid_type", "$.fields[0].label invalid_type"]', 'without languages, translatable texts are strings'
);
SELECT is(
    pg_temp.pc(pliers.validate_form_definition('{"languages": ["en", "en", "english", 3], "fields": []}')),
    '["$.languages[1] invalid_value", "$.languages[2] invalid_value", "$.languages[3] invalid_value", "$.defaultLanguage missing_property"]',
    'languages: distinct BCP 47 tags; defaultLanguage required with them'
);
SELECT is(
    pg_temp.pc(pliers.validate_form_definition('{"languages": ["en"], "defaultLanguage": "fr", "fields": []}'))
    || pg_temp.pc(pliers.validate_form_definition('{"defaultLanguage": "en", "fields": []}'))
    || pg_temp.pc(pliers.validate_form_definition('{"languages": [], "defaultLanguage": "en", "fields": []}')),
    '["$.defaultLanguage unknown_language", "$.defaultLanguage unknown_language", "$.languages invalid_type"]',
    'defaultLanguage is one of the languages'
);

-- Geotrace and geoshape
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "geotrace", "name": "route"}, {"type": "geoshape", "name": "area"}]}',
        '{"route": [{"lat": 1, "lon": 2}, {"lat": 1, "lon": 3}, {"lat": 95, "lon": 3}], "area": [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1}, {"lat": 1, "lon": 1}, {"lat": 0.0, "lon": 0}]}')),
    '["$.data.route[2].lat invalid_geo_point"]', 'a line and a closed ring; a bad point is reported at its path'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "geotrace", "name": "route"}, {"type": "geoshape", "name": "area"}, {"type": "geoshape", "name": "open"}, {"type": "geotrace", "name": "x"}]}',
        '{"route": [{"lat": 1, "lon": 2}], "area": [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1}, {"lat": 0, "lon": 0}], "open": [{"lat": 0, "lon": 0}, {"lat": 0, "lon": 1}, {"lat": 1, "lon": 1}, {"lat": 1, "lon": 0}], "x": {"lat": 0, "lon": 0}}')),
    '["$.data.route too_few_points", "$.data.area too_few_points", "$.data.open ring_not_closed", "$.data.x invalid_type"]',
    'geotrace: at least 2 points; geoshape: at least 4, closed'
);

-- Ranking
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}]}', '{"r": ["c", "a"]}'))
    || pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}]}', '{"r": ["c", "a"]}', FALSE))
    || pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}]}', '{"r": ["c", "a", "b"]}')),
    '["$.data.r incomplete_ranking"]', 'a final ranking ranks every choice (a draft need not)'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "ranking", "name": "r", "validation": {"minItems": 1, "maxItems": 2}, "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}]}', '{"r": ["c", "c", "z", 1]}'))
    || pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "ranking", "name": "r", "validation": {"minItems": 1, "maxItems": 2}, "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}]}', '{"r": ["b"]}')),
    '["$.data.r[1] duplicate_item", "$.data.r[2] invalid_choice", "$.data.r[3] invalid_type", "$.data.r too_many_items"]',
    'a partial ranking within minItems / maxItems; codes distinct and known'
);
SELECT is(pg_temp.def_errors('[{"type": "ranking", "name": "r"}, {"type": "ranking", "name": "s", "allowOther": true, "choices": [{"code": "a"}], "validation": {"minItems": 3, "maxItems": 1}}]'),
    '["$.fields[0].choices missing_property", "$.fields[1].allowOther property_not_applicable", "$.fields[1].validation min_greater_than_max"]',
    'a ranking needs choices, takes no allowOther');

-- Required groups
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "group", "name": "contact", "validation": {"minAnswered": 1}, "fields": [{"type": "email", "name": "email"}, {"type": "phone", "name": "phone"}, {"type": "display", "name": "note"}]}]}', '{"contact": {"email": " "}}'))
    || pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "group", "name": "contact", "validation": {"minAnswered": 1}, "fields": [{"type": "email", "name": "email"}, {"type": "phone", "name": "phone"}]}]}', '{}'))
    || pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "group", "name": "contact", "validation": {"minAnswered": 1}, "fields": [{"type": "email", "name": "email"}, {"type": "phone", "name": "phone"}]}]}', '{}', FALSE))
    || pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "group", "name": "contact", "validation": {"minAnswered": 1}, "fields": [{"type": "email", "name": "email"}, {"type": "phone", "name": "phone"}]}]}', '{"contact": {"phone": "555 1234"}}')),
    '["$.data.contact too_few_answers", "$.data.contact too_few_answers"]',
    'a required group: at least minAnswered answers among its fields, on a final submission'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "boolean", "name": "b"}, {"type": "group", "name": "g", "visibleWhen": {"field": "b", "operator": "equals", "value": true}, "validation": {"minAnswered": 2}, "fields": [{"type": "text", "name": "x"}, {"type": "text", "name": "y", "visibleWhen": {"field": "b", "operator": "equals", "value": false}}]}]}', '{"b": false}'))
    || pg_temp.def_errors('[{"type": "group", "name": "g", "validation": {"minAnswered": 0}, "fields": [{"type": "text", "name": "x"}]}, {"type": "text", "name": "t", "validation": {"minAnswered": 1}}]'),
    '["$.fields[0].validation.minAnswered invalid_value", "$.fields[1].validation.minAnswered rule_not_applicable"]',
    'a hidden group needs no answers; minAnswered is a positive integer, on groups only'
);

-- Phone formats
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "phone", "name": "p", "validation": {"format": "lenient"}}, {"type": "phone", "name": "q"}, {"type": "phone", "name": "r"}, {"type": "phone", "name": "s"}, {"type": "phone", "name": "t"}]}',
        '{"p": "+1 (555) 123-4567 ext. 89", "q": "01/23.45.67.89 x12", "r": "555 1234 #1234567", "s": "12", "t": "+44 20 7946 0958"}')),
    '["$.data.r invalid_phone", "$.data.s invalid_phone"]', 'lenient phones: / and extensions accepted; 3 to 15 digits'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "phone", "name": "p", "validation": {"format": "e164"}}, {"type": "phone", "name": "q", "validation": {"format": "e164"}}, {"type": "phone", "name": "r", "validation": {"format": "e164"}}]}',
        '{"p": "+33123456789", "q": "+33 1 23 45 67 89", "r": "+0123"}'))
    || pg_temp.def_errors('[{"type": "phone", "name": "p", "validation": {"format": "E164"}}, {"type": "text", "name": "t", "validation": {"format": "e164"}}]'),
    '["$.data.q invalid_phone", "$.data.r invalid_phone", "$.fields[0].validation.format invalid_value", "$.fields[1].validation.format rule_not_applicable"]',
    'e164 phones: + and digits only; format is lenient or e164, on phones only'
);

-- Files and signatures: data URLs
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "file", "name": "f"}, {"type": "signature", "name": "s"}]}',
        '{"f": ["0b0c3f4e-8f8a-4c5e-9a57-2f6a8e1c9d10", "data:application/pdf;base64,JVBERi0=", "file.pdf"], "s": "data:image/png;base64,iVBORw0KGgo="}')),
    '["$.data.f[1] data_url_not_accepted", "$.data.f[2] invalid_attachment_id", "$.data.s data_url_not_accepted"]',
    'files and signatures are attachment ids: a data URL gets its own code'
);

-- Choice lists and attributes
SELECT is(
    pg_temp.def_errors('[{"type": "single_choice", "name": "a", "choiceList": "cities"}, {"type": "multiple_choice", "name": "b", "choiceList": "Bad List"}, {"type": "ranking", "name": "c", "choiceList": "x", "choices": [{"code": "a"}]}, {"type": "single_choice", "name": "d", "choices": [{"code": "a", "attributes": {"country": "fr", "pop": 3, "big": true, "bad": null}}]}]'),
    '["$.fields[1].choiceList invalid_value", "$.fields[2] conflicting_properties", "$.fields[3].choices[0].attributes.bad invalid_type"]',
    'choiceList (a list name) or choices, not both; attributes are flat values'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data('{"fields": [{"type": "single_choice", "name": "a", "choiceList": "cities"}, {"type": "multiple_choice", "name": "b", "choiceList": "cities"}, {"type": "text", "name": "t", "visibleWhen": {"field": "a", "operator": "equals", "value": "lyon"}}]}',
        '{"a": "paris", "b": ["x", "y", 3], "t": "x"}')),
    '["$.data.b[2] invalid_type"]', 'with a choiceList any string code passes here (the API checks the list); conditions take any code'
);

-- Ordinal choice conditions
SELECT is(
    pliers.clean_submission_data('{"fields": [{"type": "single_choice", "name": "kids", "choices": [{"code": "0"}, {"code": "1"}, {"code": "2"}, {"code": "10"}]}, {"type": "text", "name": "y", "visibleWhen": {"field": "kids", "operator": "greater_or_equal", "value": 2}}]}', '{"kids": "10", "y": "kept"}')
    || pliers.clean_submission_data('{"fields": [{"type": "single_choice", "name": "kids", "choices": [{"code": "0"}, {"code": "1"}, {"code": "2"}, {"code": "10"}]}, {"type": "text", "name": "z", "visibleWhen": {"field": "kids", "operator": "greater_or_equal", "value": 2}}]}', '{"kids": "1", "z": "dropped"}'),
    '{"y": "kept", "kids": "1"}', 'an ordinal choice compares its code as a number ("10" >= 2; "1" < 2)'
);
SELECT is(
    pg_temp.def_errors('[{"type": "single_choice", "name": "kids", "choices": [{"code": "0"}, {"code": "-1.5"}]}, {"type": "single_choice", "name": "size", "choices": [{"code": "1"}, {"code": "xl"}]}, {"type": "text", "name": "a", "visibleWhen": {"field": "kids", "operator": "less_than", "value": "1"}}, {"type": "text", "name": "b", "visibleWhen": {"field": "size", "operator": "greater_than", "value": 1}}, {"type": "text", "name": "c", "visibleWhen": {"field": "kids", "operator": "less_than", "value": 1}}]'),
    '["$.fields[2].visibleWhen.value invalid_value", "$.fields[3].visibleWhen.operator invalid_operator"]',
    'ordinal comparisons: on choices whose codes are all numbers, with a number'
);

-- Expression properties: accepted where they apply (sql/41 checks the expressions)
SELECT is(
    pg_temp.def_errors('[{"type": "integer", "name": "n", "defaultExpression": {"+": [1, 2]}, "validation": {"constraint": {">=": [{"var": "n"}, 0]}, "constraintMessage": "positive"}}, {"type": "repeat", "name": "r", "repeatCount": {"var": "n"}, "fields": [{"type": "text", "name": "x"}]}, {"type": "single_choice", "name": "c", "choices": [{"code": "a"}], "choiceFilter": {"==": [{"choice": "code"}, "a"]}}, {"type": "calculated", "name": "k", "expression": {"*": [{"var": "n"}, 2]}}, {"type": "text", "name": "t", "visibleWhen": {"all": [{"expression": {"==": [1, 1]}}]}}]'),
    '[]', 'constraint, constraintMessage, defaultExpression, repeatCount, choiceFilter, expression objects, expression conditions'
);
SELECT is(
    pg_temp.def_errors('[{"type": "group", "name": "g", "defaultExpression": 1, "validation": {"constraint": true}, "fields": [{"type": "text", "name": "x", "repeatCount": 2, "choiceFilter": true}]}, {"type": "calculated", "name": "k", "expression": 3}, {"type": "text", "name": "t", "visibleWhen": {"expression": true, "field": "x"}}]'),
    '["$.fields[0].defaultExpression property_not_applicable", "$.fields[0].validation.constraint rule_not_applicable", "$.fields[0].fields[0].choiceFilter property_not_applicable", "$.fields[0].fields[0].repeatCount property_not_applicable", "$.fields[1].expression invalid_type", "$.fields[2].visibleWhen invalid_condition"]',
    'expression properties only where they apply; an expression condition stands alone'
);

-- Breaking changes of the new kinds and rules
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(
        '{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "b"}]}, {"type": "group", "name": "g", "validation": {"minAnswered": 1}, "fields": [{"type": "text", "name": "x"}, {"type": "text", "name": "y"}]}, {"type": "phone", "name": "p"}, {"type": "single_choice", "name": "c", "choiceList": "l1"}]}',
        '{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "c"}]}, {"type": "group", "name": "g", "validation": {"minAnswered": 2}, "fields": [{"type": "text", "name": "x"}, {"type": "text", "name": "y"}]}, {"type": "phone", "name": "p", "validation": {"format": "e164"}}, {"type": "single_choice", "name": "c", "choiceList": "l2"}]}'
    )),
    '["$.fields[0].choices rule_tightened", "$.fields[0].choices[1] choice_removed", "$.fields[1].validation.minAnswered rule_tightened", "$.fields[2].validation.format rule_tightened", "$.fields[3].choiceList choice_removed"]',
    'breaking: a ranking choice added or removed, minAnswered raised, e164 required, another choice list'
);
SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(
        '{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "b"}]}, {"type": "geoshape", "name": "s"}, {"type": "phone", "name": "p", "validation": {"format": "e164"}}, {"type": "group", "name": "g", "validation": {"minAnswered": 2}, "fields": [{"type": "text", "name": "x"}]}, {"type": "geotrace", "name": "t"}]}',
        '{"fields": [{"type": "multiple_choice", "name": "r", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}, {"type": "geotrace", "name": "s"}, {"type": "phone", "name": "p"}, {"type": "group", "name": "g", "fields": [{"type": "text", "name": "x"}]}, {"type": "geoshape", "name": "t"}]}'
    )),
    '["$.fields[4] field_retyped"]',
    'compatible: ranking to multiple choice, geoshape to geotrace, looser phones and groups; a line is no shape'
);

SELECT is(
    pg_temp.pc(pliers.form_breaking_changes(
        '{"fields": [{"type": "ranking", "name": "r", "validation": {"maxItems": 2}, "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}]}',
        '{"fields": [{"type": "ranking", "name": "r", "choices": [{"code": "a"}, {"code": "b"}, {"code": "c"}]}, {"type": "group", "name": "g", "validation": {"minAnswered": 1}, "fields": [{"type": "text", "name": "x"}]}]}'
    )),
    '["$.fields[0].validation rule_tightened", "$.fields[1] required_field_added"]',
    'breaking: a ranking that loses its bounds; a new required group'
);

-- Privileges: the application calls the public functions, never the helpers ------------------

SELECT ok(
    has_function_privilege('pliers_app', 'pliers.validate_submission_data(jsonb, jsonb, boolean, jsonb)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.validate_form_definition(jsonb)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.clean_submission_data(jsonb, jsonb)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.form_breaking_changes(jsonb, jsonb)', 'EXECUTE')
    AND has_function_privilege('pliers_app', 'pliers.form_limits()', 'EXECUTE'),
    'pliers_app may execute the public functions'
);
SELECT ok(
    NOT has_function_privilege('pliers_app', 'pliers._process_instance(jsonb, jsonb, jsonb, jsonb, text, text, boolean, boolean, jsonb)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._check_field(jsonb, text, jsonb, text)', 'EXECUTE')
    AND NOT has_function_privilege('public', 'pliers._eval_condition(jsonb, jsonb, jsonb, text, jsonb)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._dependency_cycles(text[], text[], jsonb)', 'EXECUTE')
    AND NOT has_function_privilege('pliers_app', 'pliers._raise_limit(text, text, text)', 'EXECUTE'),
    'nobody but the owner executes the private helpers'
);
SET LOCAL ROLE pliers_app;
DO $$
BEGIN
    PERFORM set_config('pliers_test.result', jsonb_build_array(
    pliers.validate_form_definition('{"fields": [{"type": "boolean", "name": "a"}, {"type": "text", "name": "b", "required": true, "visibleWhen": {"field": "a", "operator": "equals", "value": true}}]}'),
    pliers.validate_submission_data('{"fields": [{"type": "boolean", "name": "a"}, {"type": "text", "name": "b", "required": true, "visibleWhen": {"field": "a", "operator": "equals", "value": true}}]}', '{"a": true}'),
    pliers.clean_submission_data('{"fields": [{"type": "boolean", "name": "a"}, {"type": "text", "name": "b", "visibleWhen": {"field": "a", "operator": "equals", "value": true}}]}', '{"a": false, "b": "x"}')
    )::text, TRUE);
END
$$;
RESET ROLE;
SELECT is(
    current_setting('pliers_test.result')::jsonb,
    '[[], [{"path": "$.data.b", "code": "required", "message": "is required"}], {"a": false}]',
    'as pliers_app, the functions run (their helpers included)'
);

-- Expressions in forms (docs/forms.md, "Expressions in forms") -------------------

SELECT is(
    pg_temp.def_errors('[{"type": "number", "name": "a"}, {"type": "calculated", "name": "c", "expression": {"+": [{"var": "a"}, 1]}}, {"type": "text", "name": "t", "visibleWhen": {"expression": {">": [{"var": "c"}, 2]}}, "validation": {"constraint": {"regex": [{"var": "t"}, "^x"]}}}]'),
    '[]',
    'a calculation, a condition on it and a constraint are a valid definition'
);
SELECT is(
    pg_temp.def_errors('[{"type": "text", "name": "a", "validation": {"constraint": {"+": [1, 2]}}}, {"type": "calculated", "name": "c", "expression": {"+": [{"var": "nope"}, 1]}}]'),
    '["$.fields[0].validation.constraint type_mismatch", "$.fields[1].expression.\"+\"[0].var invalid_reference"]',
    'a constraint must be a boolean; an expression refers to fields that exist, with paths into it'
);
SELECT is(
    pg_temp.def_errors('[{"type": "calculated", "name": "a", "expression": {"+": [{"var": "b"}, 1]}}, {"type": "calculated", "name": "b", "expression": {"+": [{"var": "a"}, 1]}}]'),
    '["$.fields[0] dependency_cycle", "$.fields[1] dependency_cycle"]',
    'calculations that read each other are a cycle'
);
SELECT is(
    pliers.clean_submission_data(
        '{"fields": [{"type": "repeat", "name": "l", "fields": [{"type": "number", "name": "q"}, {"type": "calculated", "name": "d", "expression": {"*": [{"var": "l.q"}, 2]}}]}, {"type": "calculated", "name": "s", "expression": {"sum": [{"var": "l.d"}]}}]}',
        '{"l": [{"q": 1}, {"q": 4, "d": 0}], "s": 99}'
    ),
    '{"l": [{"q": 1, "d": 2}, {"q": 4, "d": 8}], "s": 10}',
    'calculations are stored in place of what was sent, a total over the items'' own'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data(
        '{"fields": [{"type": "date", "name": "s"}, {"type": "date", "name": "e", "validation": {"constraint": {">=": [{"var": "e"}, {"var": "s"}]}}}, {"type": "integer", "name": "n"}, {"type": "repeat", "name": "r", "repeatCount": {"var": "n"}, "fields": [{"type": "text", "name": "x"}]}]}',
        '{"s": "2026-05-02", "e": "2026-05-01", "n": 2, "r": [{"x": "a"}]}'
    )),
    '["$.data.e constraint_failed", "$.data.r wrong_item_count"]',
    'a constraint and a repeat count, at the answers'' paths'
);
SELECT is(
    pg_temp.pc(pliers.validate_submission_data(
        '{"fields": [{"type": "single_choice", "name": "st", "choices": [{"code": "ca"}, {"code": "ny"}]}, {"type": "multiple_choice", "name": "c", "choices": [{"code": "la", "attributes": {"st": "ca"}}, {"code": "nyc", "attributes": {"st": "ny"}}], "choiceFilter": {"==": [{"choice": "st"}, {"var": "st"}]}}]}',
        '{"st": "ca", "c": ["la", "nyc"]}'
    )),
    '["$.data.c[1] choice_filtered_out"]',
    'cascading choices: a code whose choice the filter excludes'
);

SELECT * FROM finish();
ROLLBACK;
