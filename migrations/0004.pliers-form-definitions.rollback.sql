-- Undo 0004: the functions of sql/42-form-definitions.sql (pure functions: no data to keep).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION
pliers.form_breaking_changes(jsonb, jsonb),
pliers._kinds_compatible(text, text),
pliers._form_field_list(jsonb),
pliers.assert_valid_form_definition(jsonb),
pliers.validate_form_definition(jsonb),
pliers._check_field(jsonb, text),
pliers._check_condition(jsonb, text, text, text, jsonb[], jsonb[]),
pliers.assert_valid_submission_data(jsonb, jsonb, boolean, jsonb),
pliers.validate_submission_data(jsonb, jsonb, boolean, jsonb),
pliers.clean_submission_data(jsonb, jsonb),
pliers._process_instance(jsonb, jsonb, jsonb, text, text, boolean, boolean, jsonb),
pliers._check_answer(jsonb, text, jsonb, text, boolean, boolean, jsonb, jsonb),
pliers._eval_condition(jsonb, jsonb),
pliers._mime_accepted(jsonb, text),
pliers._choice_allowed(jsonb, jsonb),
pliers._compare_values(jsonb, jsonb),
pliers._is_datetime(text),
pliers._is_time(text),
pliers._is_date(text),
pliers._is_blank(jsonb),
pliers._json_path_key(text),
pliers._form_error(text, text, text);

RESET ROLE;
