-- Workflow definitions (docs/workflows.md, schemas/workflow-definition.schema.json):
-- validation of workflows.definition (a state machine), of trigger_config and of
-- retry_config, ISO 8601 durations and 5-field cron expressions. Pure functions: they
-- read no tenant table and write nothing (the roles catalogue aside, a global table);
-- the workflow API (sql/63-workflows-api.sql) calls them, then checks the references
-- that need the tenant (teams, users, workflows, the answers of attached forms).
-- Like sql/42-form-definitions.sql: the private helpers take no SET clause (they run
-- under the callers' search_path = ''), every error is {path, code, message}
-- (pliers._form_error), every input is bounded before it is walked
-- (pliers.workflow_limits(); PL001 at once past a limit).

-- Limits --------------------------------------------------------------------------------

CREATE FUNCTION pliers.workflow_limits()
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT '{
        "definition_bytes": 262144,
        "json_depth": 32,
        "states": 200,
        "transitions": 50,
        "actions": 20,
        "roles": 20,
        "label_chars": 255,
        "message_chars": 2000,
        "config_bytes": 16384
    }'::jsonb
$$;

COMMENT ON FUNCTION pliers.workflow_limits() IS
'The input limits of workflow definitions, by name: definition_bytes (JSON text), json_depth (nesting of objects and '
'arrays), states, transitions (events of one state), actions (of one onEntry, onExit or transition actions), roles '
'(of one guard), label_chars (labels, titles, names), message_chars (a notify message), config_bytes (trigger_config, '
'retry_config). Exceeding one raises PL001 with one error naming it; guard expressions are bounded as the forms'' '
'(pliers.form_limits().expression_nodes).';

-- Refuses a document larger or deeper than the limits, before anything walks it.
CREATE FUNCTION pliers._check_workflow_document(p_value jsonb, p_path text, p_bytes text)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_limits constant jsonb := pliers.workflow_limits();
    v_depth constant integer := (v_limits ->> 'json_depth')::integer;
BEGIN
    IF octet_length(p_value::text) > (v_limits ->> p_bytes)::integer THEN
        PERFORM pliers._raise_limit(p_path, 'definition_too_large',
            format('larger than %s bytes of JSON text', v_limits ->> p_bytes));
    END IF;
    IF jsonb_path_exists(
        p_value, format('strict $.**{%s} ? (@.type() == "object" || @.type() == "array")', v_depth)::jsonpath
    ) THEN
        PERFORM pliers._raise_limit(p_path, 'nesting_too_deep',
            format('objects and arrays are nested more than %s deep', v_depth));
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_document(jsonb, text, text) IS
'Private: raises PL001 (_raise_limit) when p_value (at JSON path p_path) is larger than the limit p_bytes of '
'pliers.workflow_limits() or nested deeper than json_depth.';

-- Small checks ----------------------------------------------------------------------------

-- State and event names: identifiers, so that they are JSON path members as they are.
CREATE FUNCTION pliers._valid_workflow_name(p_name text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(p_name ~ '^[a-z][a-z0-9_]{0,62}$', FALSE)
$$;

COMMENT ON FUNCTION pliers._valid_workflow_name(text) IS
'TRUE for a state or event name of a workflow definition: ^[a-z][a-z0-9_]{0,62}$.';

CREATE FUNCTION pliers._unknown_keys(p_object jsonb, p_known text[], p_path text)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_agg(pliers._form_error(
        p_path || '.' || pliers._json_path_key(k.key), 'unknown_key', format('unknown key %s', to_json(k.key))
    ) ORDER BY k.key), '[]')
    FROM jsonb_object_keys(p_object) AS k (key)
    WHERE NOT k.key = ANY (p_known)
$$;

COMMENT ON FUNCTION pliers._unknown_keys(jsonb, text[], text) IS
'Private: an unknown_key error for each key of the object p_object (at p_path) that p_known does not list.';

-- ISO 8601 durations: P[nY][nM][nW][nD][T[nH][nM][nS]], integers only; the pattern
-- gates PostgreSQL's interval input, which accepts far more.
CREATE FUNCTION pliers._workflow_duration(p_value jsonb)
RETURNS interval
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_interval interval;
BEGIN
    IF jsonb_typeof(p_value) IS DISTINCT FROM 'string' OR p_value #>> '{}' !~
        '^P(?=[0-9T])([0-9]{1,3}Y)?([0-9]{1,4}M)?([0-9]{1,3}W)?([0-9]{1,4}D)?(T(?=[0-9])([0-9]{1,5}H)?([0-9]{1,6}M)?([0-9]{1,8}S)?)?$'
    THEN
        RETURN NULL;
    END IF;
    v_interval := (p_value #>> '{}')::interval;
    -- 1 minute to 366 days (a month counts 30 days, a year 360, as interval comparison does).
    RETURN CASE WHEN v_interval BETWEEN interval '1 minute' AND interval '366 days' THEN v_interval END;
END
$$;

COMMENT ON FUNCTION pliers._workflow_duration(jsonb) IS
'The interval of an ISO 8601 duration string (P3D, PT30M, P1DT12H; integer quantities) from 1 minute to 366 days; '
'NULL for anything else. Timeouts and SLAs of workflow states.';

-- Cron --------------------------------------------------------------------------------------

-- One field of a cron expression: the sorted values it allows, NULL when invalid. Items
-- separated by commas, each *, N or N-M, optionally /STEP; names (JAN, MON) where given.
CREATE FUNCTION pliers._cron_field(p_text text, p_min integer, p_max integer, p_names text[] DEFAULT NULL)
RETURNS integer[]
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
DECLARE
    v_text text := upper(p_text);
    v_item text;
    v_match text[];
    v_lo integer;
    v_hi integer;
    v_values integer[] := '{}';
BEGIN
    IF v_text IS NULL OR length(v_text) > 100 THEN
        RETURN NULL;
    END IF;
    FOR v_i IN 1 .. coalesce(cardinality(p_names), 0) LOOP
        v_text := replace(v_text, p_names[v_i], (v_i - 1 + p_min)::text);
    END LOOP;
    FOREACH v_item IN ARRAY string_to_array(v_text, ',') LOOP
        v_match := regexp_match(v_item, '^(\*|([0-9]{1,2})(-([0-9]{1,2}))?)(/([0-9]{1,2}))?$');
        IF v_match IS NULL THEN
            RETURN NULL;
        END IF;
        IF v_match[1] = '*' THEN
            v_lo := p_min;
            v_hi := p_max;
        ELSE
            v_lo := v_match[2]::integer;
            v_hi := coalesce(v_match[4]::integer, CASE WHEN v_match[6] IS NOT NULL THEN p_max ELSE v_lo END);
        END IF;
        IF v_lo < p_min OR v_hi > p_max OR v_lo > v_hi OR coalesce(v_match[6]::integer, 1) < 1 THEN
            RETURN NULL;
        END IF;
        v_values := v_values || ARRAY(SELECT generate_series(v_lo, v_hi, coalesce(v_match[6]::integer, 1)));
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT v FROM unnest(v_values) AS v ORDER BY v);
END
$$;

COMMENT ON FUNCTION pliers._cron_field(text, integer, integer, text[]) IS
'Private: the values (sorted) that one field of a cron expression allows, from p_min to p_max: comma-separated '
'items *, N, N-M, each optionally /STEP; p_names[i] stands for p_min + i - 1 (JAN=1, SUN=0). NULL when invalid.';

CREATE FUNCTION pliers._cron_next(p_cron text, p_timezone text, p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = ''
AS $$
DECLARE
    v_fields constant text[] := regexp_split_to_array(btrim(p_cron), '\s+');
    v_timezone constant text := coalesce(p_timezone, 'UTC');
    v_minutes integer[];
    v_hours integer[];
    v_days integer[];
    v_months integer[];
    v_weekdays integer[];
    v_any_day boolean;
    v_any_weekday boolean;
    v_start timestamp;
    v_day date;
    v_local timestamp;
    v_at timestamptz;
BEGIN
    IF p_cron IS NULL OR p_after IS NULL OR cardinality(v_fields) <> 5 THEN
        RETURN NULL;
    END IF;
    v_minutes := pliers._cron_field(v_fields[1], 0, 59);
    v_hours := pliers._cron_field(v_fields[2], 0, 23);
    v_days := pliers._cron_field(v_fields[3], 1, 31);
    v_months := pliers._cron_field(v_fields[4], 1, 12,
        '{JAN,FEB,MAR,APR,MAY,JUN,JUL,AUG,SEP,OCT,NOV,DEC}');
    v_weekdays := pliers._cron_field(v_fields[5], 0, 7, '{SUN,MON,TUE,WED,THU,FRI,SAT}');
    IF v_minutes IS NULL OR v_hours IS NULL OR v_days IS NULL OR v_months IS NULL OR v_weekdays IS NULL THEN
        RETURN NULL;
    END IF;
    v_weekdays := ARRAY(SELECT DISTINCT w % 7 FROM unnest(v_weekdays) AS w);  -- 7 is Sunday too
    -- As cron: when both day fields are restricted, a day matching either fires.
    v_any_day := left(v_fields[3], 1) = '*';
    v_any_weekday := left(v_fields[5], 1) = '*';
    v_start := date_trunc('minute', p_after AT TIME ZONE v_timezone) + interval '1 minute';
    v_day := v_start::date;
    -- Bounded: 8 years of days covers every valid expression (29 February included).
    FOR v_n IN 0 .. 2930 LOOP
        IF extract(month FROM v_day)::integer = ANY (v_months) AND (CASE
            WHEN v_any_day AND v_any_weekday THEN TRUE
            WHEN v_any_day THEN extract(dow FROM v_day)::integer = ANY (v_weekdays)
            WHEN v_any_weekday THEN extract(day FROM v_day)::integer = ANY (v_days)
            ELSE extract(day FROM v_day)::integer = ANY (v_days) OR extract(dow FROM v_day)::integer = ANY (v_weekdays)
        END) THEN
            FOR v_h IN 1 .. cardinality(v_hours) LOOP
                FOR v_m IN 1 .. cardinality(v_minutes) LOOP
                    v_local := v_day + make_interval(hours => v_hours[v_h], mins => v_minutes[v_m]);
                    CONTINUE WHEN v_local < v_start;
                    -- Local time to an instant; across a DST change the result must still move forward.
                    v_at := v_local AT TIME ZONE v_timezone;
                    IF v_at > p_after THEN
                        RETURN v_at;
                    END IF;
                END LOOP;
            END LOOP;
        END IF;
        v_day := v_day + 1;
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION pliers._cron_next(text, text, timestamptz) IS
'The first instant after p_after at which the 5-field cron expression p_cron (minute hour day-of-month month '
'day-of-week; *, N, N-M, /STEP, lists, JAN-DEC and SUN-SAT names, 7 = Sunday; both day fields restricted: either '
'matches) fires in time zone p_timezone (IANA name, NULL = UTC). NULL when p_cron is invalid or never fires '
'(31 February). Used by activate_workflow and the schedule sweep to keep workflows.next_fire_at.';

-- Trigger and retry configuration -----------------------------------------------------------

CREATE FUNCTION pliers._check_workflow_trigger(p_trigger_type pliers.trigger_type, p_config jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_path constant text := '$.trigger_config';
    v_errors jsonb := '[]';
BEGIN
    IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
        RETURN jsonb_build_array(pliers._form_error(v_path, 'invalid_type', 'trigger_config must be a JSON object'));
    END IF;
    PERFORM pliers._check_workflow_document(p_config, v_path, 'config_bytes');
    CASE p_trigger_type
        WHEN 'event' THEN
            v_errors := pliers._unknown_keys(p_config, '{event_type}', v_path);
            IF NOT p_config ? 'event_type' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.event_type', 'required',
                    'an event trigger names the event type that starts it');
            ELSIF jsonb_typeof(p_config -> 'event_type') IS DISTINCT FROM 'string'
                OR p_config ->> 'event_type' !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'
                OR length(p_config ->> 'event_type') > 255 THEN
                v_errors := v_errors || pliers._form_error(v_path || '.event_type', 'invalid_event_type',
                    'an event type is dotted lower-case words, e.g. submission.submitted');
            ELSIF split_part(p_config ->> 'event_type', '.', 1) IN ('execution', 'workflow') THEN
                v_errors := v_errors || pliers._form_error(v_path || '.event_type', 'invalid_event_type',
                    'execution.* and workflow.* events start no workflow (no loops)');
            END IF;
        WHEN 'schedule' THEN
            v_errors := pliers._unknown_keys(p_config, '{cron,timezone}', v_path);
            IF NOT p_config ? 'cron' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.cron', 'required',
                    'a schedule trigger has a 5-field cron expression');
            ELSIF jsonb_typeof(p_config -> 'cron') IS DISTINCT FROM 'string'
                OR pliers._cron_next(p_config ->> 'cron', 'UTC', now()) IS NULL THEN
                v_errors := v_errors || pliers._form_error(v_path || '.cron', 'invalid_cron',
                    'a cron expression is 5 fields (minute hour day month weekday) of *, N, N-M, /STEP and lists, '
                    'and must fire at some time');
            END IF;
            -- The rule of users.timezone (sql/36-users-api.sql): a name of pg_timezone_names.
            IF p_config ? 'timezone' AND (jsonb_typeof(p_config -> 'timezone') IS DISTINCT FROM 'string'
                OR length(p_config ->> 'timezone') > 100
                OR NOT EXISTS (SELECT FROM pg_timezone_names AS z WHERE z.name = p_config ->> 'timezone')) THEN
                v_errors := v_errors || pliers._form_error(v_path || '.timezone', 'unknown_timezone',
                    'not a time zone name of pg_timezone_names, e.g. Europe/Paris');
            END IF;
        ELSE
            -- manual, form_submission (the attached forms), webhook (the secret): nothing to set.
            v_errors := pliers._unknown_keys(p_config, '{}', v_path);
    END CASE;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_trigger(pliers.trigger_type, jsonb) IS
'Private: the errors (paths $.trigger_config...) of the trigger configuration of a workflow of trigger type '
'p_trigger_type: {} for manual, form_submission and webhook; {"event_type"} for event (not execution.* or '
'workflow.*); {"cron", "timezone"?} for schedule (pliers._cron_next must find a time).';

CREATE FUNCTION pliers._check_workflow_retry_config(p_config jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_path constant text := '$.retry_config';
    v_errors jsonb := '[]';
    v_key text;
    v_bounds constant jsonb := '{"max_attempts": [1, 25], "base_seconds": [1, 3600], "max_seconds": [1, 604800]}';
BEGIN
    IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
        RETURN jsonb_build_array(pliers._form_error(v_path, 'invalid_type', 'retry_config must be a JSON object'));
    END IF;
    PERFORM pliers._check_workflow_document(p_config, v_path, 'config_bytes');
    v_errors := pliers._unknown_keys(p_config, '{max_attempts,base_seconds,max_seconds}', v_path);
    FOR v_key IN SELECT k FROM jsonb_object_keys(v_bounds) AS k ORDER BY k LOOP
        CONTINUE WHEN NOT p_config ? v_key;
        IF jsonb_typeof(p_config -> v_key) IS DISTINCT FROM 'number'
            OR (p_config ->> v_key)::numeric <> trunc((p_config ->> v_key)::numeric)
            OR (p_config ->> v_key)::numeric NOT BETWEEN (v_bounds -> v_key ->> 0)::numeric
                AND (v_bounds -> v_key ->> 1)::numeric THEN
            v_errors := v_errors || pliers._form_error(v_path || '.' || v_key, 'out_of_range', format(
                '%s is an integer from %s to %s', v_key, v_bounds -> v_key ->> 0, v_bounds -> v_key ->> 1));
        END IF;
    END LOOP;
    IF jsonb_typeof(p_config -> 'base_seconds') = 'number' AND jsonb_typeof(p_config -> 'max_seconds') = 'number'
        AND (p_config ->> 'base_seconds')::numeric > (p_config ->> 'max_seconds')::numeric THEN
        v_errors := v_errors || pliers._form_error(v_path || '.max_seconds', 'out_of_range',
            'max_seconds is at least base_seconds');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_retry_config(jsonb) IS
'Private: the errors (paths $.retry_config...) of a retry policy {"max_attempts": 1-25, "base_seconds": 1-3600, '
'"max_seconds": 1-604800, >= base_seconds}, every key optional (the job queue''s defaults apply).';

-- Actions -------------------------------------------------------------------------------------

CREATE FUNCTION pliers._check_workflow_action(p_action jsonb, p_path text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_limits constant jsonb := pliers.workflow_limits();
    v_label_chars constant integer := (v_limits ->> 'label_chars')::integer;
    v_errors jsonb := '[]';
    v_type text;
    v_to jsonb;
BEGIN
    IF jsonb_typeof(p_action) IS DISTINCT FROM 'object' THEN
        RETURN jsonb_build_array(pliers._form_error(p_path, 'invalid_type', 'an action is a JSON object'));
    END IF;
    v_type := CASE WHEN jsonb_typeof(p_action -> 'type') = 'string' THEN p_action ->> 'type' END;
    CASE v_type
        WHEN 'set_status' THEN
            v_errors := pliers._unknown_keys(p_action, '{type,status}', p_path);
            IF jsonb_typeof(p_action -> 'status') IS DISTINCT FROM 'string'
                OR NOT (p_action ->> 'status') = ANY (enum_range(NULL::pliers.submission_status)::text[]) THEN
                v_errors := v_errors || pliers._form_error(p_path || '.status', 'invalid_status', format(
                    'status is one of %s', array_to_string(enum_range(NULL::pliers.submission_status)::text[], ', ')));
            END IF;
        WHEN 'assign' THEN
            v_errors := pliers._unknown_keys(p_action, '{type,user,team}', p_path);
            IF (p_action ? 'user') = (p_action ? 'team') THEN
                v_errors := v_errors || pliers._form_error(p_path, 'invalid_action',
                    'assign names either a user (id) or a team (slug)');
            ELSIF p_action ? 'user' AND (jsonb_typeof(p_action -> 'user') IS DISTINCT FROM 'string'
                OR p_action ->> 'user' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') THEN
                v_errors := v_errors || pliers._form_error(p_path || '.user', 'invalid_action', 'a user id (uuid)');
            ELSIF p_action ? 'team' AND (jsonb_typeof(p_action -> 'team') IS DISTINCT FROM 'string'
                OR pliers._check_slug(p_action ->> 'team') <> '[]') THEN
                v_errors := v_errors || pliers._form_error(p_path || '.team', 'invalid_action', 'a team slug');
            END IF;
        WHEN 'notify' THEN
            v_errors := pliers._unknown_keys(p_action, '{type,to,title,message,priority}', p_path);
            v_to := p_action -> 'to';
            IF v_to IS NULL THEN
                v_errors := v_errors || pliers._form_error(p_path || '.to', 'required', 'whom to notify');
            ELSIF NOT (
                jsonb_typeof(v_to) = 'string' AND v_to #>> '{}' IN ('submitter', 'assignee', 'actor')
                OR jsonb_typeof(v_to) = 'object' AND (SELECT count(*) FROM jsonb_object_keys(v_to)) = 1 AND (
                    jsonb_typeof(v_to -> 'user') = 'string'
                    AND v_to ->> 'user' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                    OR jsonb_typeof(v_to -> 'team') = 'string' AND pliers._check_slug(v_to ->> 'team') = '[]'
                )
            ) THEN
                v_errors := v_errors || pliers._form_error(p_path || '.to', 'invalid_action',
                    'to is submitter, assignee, actor, {"user": "<id>"} or {"team": "<slug>"}');
            END IF;
            IF jsonb_typeof(p_action -> 'title') IS DISTINCT FROM 'string' OR btrim(p_action ->> 'title') = ''
                OR length(p_action ->> 'title') > v_label_chars THEN
                v_errors := v_errors || pliers._form_error(p_path || '.title',
                    CASE WHEN p_action ? 'title' THEN 'invalid_action' ELSE 'required' END,
                    format('a title of 1 to %s characters', v_label_chars));
            END IF;
            IF p_action ? 'message' AND (jsonb_typeof(p_action -> 'message') IS DISTINCT FROM 'string'
                OR length(p_action ->> 'message') > (v_limits ->> 'message_chars')::integer) THEN
                v_errors := v_errors || pliers._form_error(p_path || '.message', 'invalid_action',
                    format('a message of at most %s characters', v_limits ->> 'message_chars'));
            END IF;
            IF p_action ? 'priority' AND (jsonb_typeof(p_action -> 'priority') IS DISTINCT FROM 'string'
                OR NOT (p_action ->> 'priority') = ANY (enum_range(NULL::pliers.notification_priority)::text[])) THEN
                v_errors := v_errors || pliers._form_error(p_path || '.priority', 'invalid_action',
                    'priority is low, normal, high or urgent');
            END IF;
        WHEN 'start_workflow' THEN
            v_errors := pliers._unknown_keys(p_action, '{type,workflow}', p_path);
            IF jsonb_typeof(p_action -> 'workflow') IS DISTINCT FROM 'string'
                OR pliers._check_slug(p_action ->> 'workflow') <> '[]' THEN
                v_errors := v_errors || pliers._form_error(p_path || '.workflow',
                    CASE WHEN p_action ? 'workflow' THEN 'invalid_action' ELSE 'required' END,
                    'the slug of the workflow to start');
            END IF;
        WHEN 'webhook' THEN
            v_errors := pliers._unknown_keys(p_action, '{type,event}', p_path);
            IF jsonb_typeof(p_action -> 'event') IS DISTINCT FROM 'string'
                OR p_action ->> 'event' !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'
                OR length(p_action ->> 'event') > 255 THEN
                v_errors := v_errors || pliers._form_error(p_path || '.event',
                    CASE WHEN p_action ? 'event' THEN 'invalid_action' ELSE 'required' END,
                    'the event type the webhooks subscribe to, dotted lower-case words (review.approved)');
            END IF;
        WHEN 'job' THEN
            v_errors := pliers._unknown_keys(p_action, '{type,kind,payload}', p_path);
            IF jsonb_typeof(p_action -> 'kind') IS DISTINCT FROM 'string'
                OR p_action ->> 'kind' !~ '^[a-z][a-z0-9_.-]{0,99}$' OR starts_with(p_action ->> 'kind', 'pliers.') THEN
                v_errors := v_errors || pliers._form_error(p_path || '.kind',
                    CASE WHEN p_action ? 'kind' THEN 'invalid_action' ELSE 'required' END,
                    'an application job kind, ^[a-z][a-z0-9_.-]{0,99}$, not starting with pliers.');
            END IF;
            IF p_action ? 'payload' AND jsonb_typeof(p_action -> 'payload') IS DISTINCT FROM 'object' THEN
                v_errors := v_errors || pliers._form_error(p_path || '.payload', 'invalid_type',
                    'the payload is a JSON object');
            END IF;
        ELSE
            v_errors := jsonb_build_array(pliers._form_error(p_path || '.type',
                CASE WHEN p_action ? 'type' THEN 'invalid_action' ELSE 'required' END,
                'type is set_status, assign, notify, start_workflow, webhook or job'));
    END CASE;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_action(jsonb, text) IS
'Private: the errors of one action (at JSON path p_path) of a workflow definition: set_status {status} '
'(invalid_status), assign {user | team}, notify {to, title, message?, priority?}, start_workflow {workflow}, webhook '
'{event}, job {kind, payload?}; unknown_key, required, invalid_type, invalid_action. References to tenant objects are '
'checked by the API (pliers._check_workflow_references).';

-- The actions of an onEntry, onExit or transition list, at JSON path p_path: a list of at
-- most workflow_limits().actions (PL001 at once past it), each checked.
CREATE FUNCTION pliers._check_workflow_actions(p_actions jsonb, p_path text)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    v_most constant integer := (pliers.workflow_limits() ->> 'actions')::integer;
BEGIN
    IF jsonb_typeof(p_actions) IS DISTINCT FROM 'array' THEN
        RETURN jsonb_build_array(pliers._form_error(p_path, 'invalid_type', 'a list of actions'));
    END IF;
    IF jsonb_array_length(p_actions) > v_most THEN
        PERFORM pliers._raise_limit(p_path, 'too_many_actions', format('more than %s actions', v_most));
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(e.error ORDER BY a.n, e.n)
        FROM jsonb_array_elements(p_actions) WITH ORDINALITY AS a (action, n)
        CROSS JOIN LATERAL jsonb_array_elements(
            pliers._check_workflow_action(a.action, p_path || '[' || (a.n - 1) || ']')
        ) WITH ORDINALITY AS e (error, n)
    ), '[]');
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_actions(jsonb, text) IS
'Private: the errors of a list of actions at JSON path p_path (invalid_type unless an array; each action by '
'pliers._check_workflow_action, path p_path[i]); PL001 at once past workflow_limits().actions.';

-- The after of a timeout or an SLA (p_object, at p_path).
CREATE FUNCTION pliers._workflow_duration_errors(p_object jsonb, p_path text)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT CASE WHEN pliers._workflow_duration(p_object -> 'after') IS NULL THEN jsonb_build_array(pliers._form_error(
        p_path || '.after', CASE WHEN p_object ? 'after' THEN 'invalid_duration' ELSE 'required' END,
        'an ISO 8601 duration from PT1M to P366D, e.g. P3D, PT48H or PT30M'
    )) ELSE '[]' END
$$;

COMMENT ON FUNCTION pliers._workflow_duration_errors(jsonb, text) IS
'Private: [] when p_object.after is a duration of a workflow (pliers._workflow_duration), else its error at '
'p_path.after (required, invalid_duration).';

-- The actions of a definition, each with its JSON path: what the reference check and the
-- executions walk. Assumes a definition validate_workflow_definition accepted (or at
-- least bounded): arrays that are not arrays are skipped.
CREATE FUNCTION pliers.workflow_actions(p_definition jsonb)
RETURNS TABLE (state text, event text, place text, ordinal integer, path text, action jsonb)
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT s.key, NULL, p.place, a.n::integer - 1,
        '$.states.' || s.key || '.' || p.place || '[' || (a.n - 1) || ']', a.action
    FROM pg_catalog.jsonb_each(
        CASE WHEN pg_catalog.jsonb_typeof(p_definition -> 'states') = 'object' THEN p_definition -> 'states' END
    ) AS s (key, value)
    CROSS JOIN (VALUES ('onEntry'), ('onExit')) AS p (place)
    CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
        CASE WHEN pg_catalog.jsonb_typeof(s.value -> p.place) = 'array' THEN s.value -> p.place ELSE '[]' END
    ) WITH ORDINALITY AS a (action, n)
    UNION ALL
    SELECT s.key, e.key, 'actions', a.n::integer - 1,
        '$.states.' || s.key || '.on.' || e.key || '.actions[' || (a.n - 1) || ']', a.action
    FROM pg_catalog.jsonb_each(
        CASE WHEN pg_catalog.jsonb_typeof(p_definition -> 'states') = 'object' THEN p_definition -> 'states' END
    ) AS s (key, value)
    CROSS JOIN LATERAL pg_catalog.jsonb_each(
        CASE WHEN pg_catalog.jsonb_typeof(s.value -> 'on') = 'object' THEN s.value -> 'on' ELSE '{}' END
    ) AS e (key, value)
    CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(
        CASE WHEN pg_catalog.jsonb_typeof(e.value -> 'actions') = 'array' THEN e.value -> 'actions' ELSE '[]' END
    ) WITH ORDINALITY AS a (action, n)
$$;

COMMENT ON FUNCTION pliers.workflow_actions(jsonb) IS
'Every action of a workflow definition: its state, its event (NULL for onEntry / onExit), its place (onEntry, '
'onExit, actions), its index, its JSON path ($.states.review.on.approve.actions[0]) and the action itself. Reads '
'nothing; the reference check of publish and the documentation use it.';

-- The guard expressions of a definition, each with its JSON path.
CREATE FUNCTION pliers._workflow_guard_expressions(p_definition jsonb)
RETURNS TABLE (path text, expression jsonb)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT '$.states.' || s.key || '.on.' || e.key || '.guard.expression', e.value #> '{guard,expression}'
    FROM jsonb_each(
        CASE WHEN jsonb_typeof(p_definition -> 'states') = 'object' THEN p_definition -> 'states' END
    ) AS s (key, value)
    CROSS JOIN LATERAL jsonb_each(
        CASE WHEN jsonb_typeof(s.value -> 'on') = 'object' THEN s.value -> 'on' ELSE '{}' END
    ) AS e (key, value)
    WHERE jsonb_typeof(e.value -> 'guard') = 'object' AND e.value -> 'guard' ? 'expression'
    ORDER BY s.key, e.key
$$;

COMMENT ON FUNCTION pliers._workflow_guard_expressions(jsonb) IS
'Private: the guard expressions of a workflow definition with their JSON paths, in state and event order.';

-- The variables of guard expressions (docs/workflows.md, "Guards"): the submission's status
-- and priority, and answers.<field path>. Without a form (p_form_definition NULL) the
-- answers referred to are typed any, so that their shape is checked; with one, each
-- answer has its field's type and an unknown one is an invalid_reference.
CREATE FUNCTION pliers._workflow_guard_vars(p_expression jsonb, p_form_definition jsonb)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT '{"submission.status": "string", "submission.priority": "string"}'::jsonb || CASE
        WHEN p_form_definition IS NULL THEN coalesce((
            SELECT jsonb_object_agg(r.ref, 'any')
            FROM (
                SELECT CASE jsonb_typeof(v.var) WHEN 'string' THEN v.var #>> '{}' ELSE v.var ->> 0 END AS ref
                FROM jsonb_path_query(p_expression, 'strict $.**.var') AS v (var)
            ) AS r
            WHERE starts_with(r.ref, 'answers.') AND length(r.ref) > 8
        ), '{}')
        ELSE coalesce((
            SELECT jsonb_object_agg('answers.' || t.key, CASE
                WHEN t.repeat = '' THEN t.type
                WHEN t.type = 'number' THEN 'list:number'
                WHEN t.type IN ('string', 'ordinal') THEN 'list:string'
                ELSE 'opaque'
            END)
            FROM pliers._index_expression_types(pliers._field_index(p_form_definition), '{}') AS t
        ), '{}')
    END
$$;

COMMENT ON FUNCTION pliers._workflow_guard_vars(jsonb, jsonb) IS
'Private: the variables (path -> expression type) a guard expression may read: submission.status and '
'submission.priority (strings) and answers.<field path>: typed from the form definition p_form_definition, or, '
'without one, each answers.* path the expression names typed any.';

-- The validator --------------------------------------------------------------------------------

CREATE FUNCTION pliers.validate_workflow_definition(p_definition jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_limits constant jsonb := pliers.workflow_limits();
    v_label_chars constant integer := (v_limits ->> 'label_chars')::integer;
    v_errors jsonb := '[]';
    v_states jsonb;
    v_initial text;
    v_state record;
    v_event record;
    v_path text;
    v_epath text;
    v_final boolean;
    v_guard jsonb;
    v_check record;
    v_place text;
    v_reached text[];
    v_frontier text[];
    v_has_final boolean := FALSE;
BEGIN
    IF p_definition IS NULL OR pg_catalog.jsonb_typeof(p_definition) <> 'object' THEN
        RETURN pg_catalog.jsonb_build_array(
            pliers._form_error('$', 'invalid_type', 'a workflow definition is a JSON object'));
    END IF;
    PERFORM pliers._check_workflow_document(p_definition, '$', 'definition_bytes');
    v_errors := pliers._unknown_keys(p_definition, '{initial,states,description,metadata}', '$');
    v_states := p_definition -> 'states';
    IF v_states IS NULL THEN
        RETURN v_errors || pliers._form_error('$.states', 'required', 'a definition has states');
    ELSIF pg_catalog.jsonb_typeof(v_states) <> 'object' THEN
        RETURN v_errors || pliers._form_error('$.states', 'invalid_type', 'states is an object: name -> state');
    END IF;
    IF (SELECT count(*) FROM pg_catalog.jsonb_object_keys(v_states)) > (v_limits ->> 'states')::integer THEN
        PERFORM pliers._raise_limit('$.states', 'too_many_states',
            pg_catalog.format('more than %s states', v_limits ->> 'states'));
    END IF;
    IF v_states = '{}' THEN
        v_errors := v_errors || pliers._form_error('$.states', 'required', 'a definition has at least one state');
    END IF;

    IF NOT p_definition ? 'initial' THEN
        v_errors := v_errors || pliers._form_error('$.initial', 'required', 'initial names the first state');
    ELSIF pg_catalog.jsonb_typeof(p_definition -> 'initial') <> 'string' THEN
        v_errors := v_errors || pliers._form_error('$.initial', 'invalid_type', 'initial is a state name');
    ELSE
        v_initial := p_definition ->> 'initial';
        IF NOT v_states ? v_initial THEN
            v_errors := v_errors || pliers._form_error('$.initial', 'unknown_state',
                pg_catalog.format('no state %s', pg_catalog.to_json(v_initial)));
            v_initial := NULL;
        END IF;
    END IF;
    IF p_definition ? 'description' AND (pg_catalog.jsonb_typeof(p_definition -> 'description') <> 'string'
        OR pg_catalog.length(p_definition ->> 'description') > (v_limits ->> 'message_chars')::integer) THEN
        v_errors := v_errors || pliers._form_error('$.description', 'invalid_type',
            pg_catalog.format('a text of at most %s characters', v_limits ->> 'message_chars'));
    END IF;
    IF p_definition ? 'metadata' AND pg_catalog.jsonb_typeof(p_definition -> 'metadata') <> 'object' THEN
        v_errors := v_errors || pliers._form_error('$.metadata', 'invalid_type', 'metadata is a JSON object');
    END IF;

    FOR v_state IN SELECT s.key, s.value FROM pg_catalog.jsonb_each(v_states) AS s ORDER BY s.key LOOP
        v_path := '$.states.' || pliers._json_path_key(v_state.key);
        IF NOT pliers._valid_workflow_name(v_state.key) THEN
            v_errors := v_errors || pliers._form_error(v_path, 'invalid_name',
                'a state name is ^[a-z][a-z0-9_]{0,62}$');
        END IF;
        IF pg_catalog.jsonb_typeof(v_state.value) <> 'object' THEN
            v_errors := v_errors || pliers._form_error(v_path, 'invalid_type', 'a state is a JSON object');
            CONTINUE;
        END IF;
        v_errors := v_errors || pliers._unknown_keys(
            v_state.value, '{label,description,final,on,onEntry,onExit,timeout,sla,metadata}', v_path);
        IF v_state.value ? 'label' AND (pg_catalog.jsonb_typeof(v_state.value -> 'label') <> 'string'
            OR pg_catalog.length(v_state.value ->> 'label') > v_label_chars) THEN
            v_errors := v_errors || pliers._form_error(v_path || '.label', 'invalid_type',
                pg_catalog.format('a label is a text of at most %s characters', v_label_chars));
        END IF;
        IF v_state.value ? 'description' AND (pg_catalog.jsonb_typeof(v_state.value -> 'description') <> 'string'
            OR pg_catalog.length(v_state.value ->> 'description') > (v_limits ->> 'message_chars')::integer) THEN
            v_errors := v_errors || pliers._form_error(v_path || '.description', 'invalid_type',
                pg_catalog.format('a text of at most %s characters', v_limits ->> 'message_chars'));
        END IF;
        IF v_state.value ? 'metadata' AND pg_catalog.jsonb_typeof(v_state.value -> 'metadata') <> 'object' THEN
            v_errors := v_errors || pliers._form_error(v_path || '.metadata', 'invalid_type', 'metadata is a JSON object');
        END IF;
        IF v_state.value ? 'final' AND pg_catalog.jsonb_typeof(v_state.value -> 'final') <> 'boolean' THEN
            v_errors := v_errors || pliers._form_error(v_path || '.final', 'invalid_type', 'final is true or false');
        END IF;
        v_final := coalesce(v_state.value -> 'final' = 'true', FALSE);
        v_has_final := v_has_final OR v_final;

        -- Actions on entry and exit.
        FOREACH v_place IN ARRAY ARRAY['onEntry', 'onExit'] LOOP
            IF v_state.value ? v_place THEN
                v_errors := v_errors
                    || pliers._check_workflow_actions(v_state.value -> v_place, v_path || '.' || v_place);
            END IF;
        END LOOP;

        -- Transitions.
        IF v_state.value ? 'on' AND pg_catalog.jsonb_typeof(v_state.value -> 'on') <> 'object' THEN
            v_errors := v_errors || pliers._form_error(v_path || '.on', 'invalid_type',
                'on is an object: event -> transition');
        ELSIF pg_catalog.jsonb_typeof(v_state.value -> 'on') = 'object' THEN
            IF (SELECT count(*) FROM pg_catalog.jsonb_object_keys(v_state.value -> 'on'))
                > (v_limits ->> 'transitions')::integer THEN
                PERFORM pliers._raise_limit(v_path || '.on', 'too_many_transitions',
                    pg_catalog.format('more than %s events in one state', v_limits ->> 'transitions'));
            END IF;
            FOR v_event IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(v_state.value -> 'on') AS e ORDER BY e.key LOOP
                v_epath := v_path || '.on.' || pliers._json_path_key(v_event.key);
                IF NOT pliers._valid_workflow_name(v_event.key) THEN
                    v_errors := v_errors || pliers._form_error(v_epath, 'invalid_name',
                        'an event name is ^[a-z][a-z0-9_]{0,62}$');
                END IF;
                IF pg_catalog.jsonb_typeof(v_event.value) <> 'object' THEN
                    v_errors := v_errors || pliers._form_error(v_epath, 'invalid_type',
                        'a transition is a JSON object {target, guard?, actions?, label?}');
                    CONTINUE;
                END IF;
                v_errors := v_errors || pliers._unknown_keys(
                    v_event.value, '{target,guard,actions,label,description}', v_epath);
                IF NOT v_event.value ? 'target' THEN
                    v_errors := v_errors || pliers._form_error(v_epath || '.target', 'required',
                        'a transition names its target state');
                ELSIF pg_catalog.jsonb_typeof(v_event.value -> 'target') <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_epath || '.target', 'invalid_type',
                        'target is a state name');
                ELSIF NOT v_states ? (v_event.value ->> 'target') THEN
                    v_errors := v_errors || pliers._form_error(v_epath || '.target', 'unknown_state',
                        pg_catalog.format('no state %s', v_event.value -> 'target'));
                END IF;
                IF v_event.value ? 'label' AND (pg_catalog.jsonb_typeof(v_event.value -> 'label') <> 'string'
                    OR pg_catalog.length(v_event.value ->> 'label') > v_label_chars) THEN
                    v_errors := v_errors || pliers._form_error(v_epath || '.label', 'invalid_type',
                        pg_catalog.format('a label is a text of at most %s characters', v_label_chars));
                END IF;
                IF v_event.value ? 'description' AND pg_catalog.jsonb_typeof(v_event.value -> 'description') <> 'string' THEN
                    v_errors := v_errors || pliers._form_error(v_epath || '.description', 'invalid_type', 'a text');
                END IF;
                IF v_event.value ? 'actions' THEN
                    v_errors := v_errors
                        || pliers._check_workflow_actions(v_event.value -> 'actions', v_epath || '.actions');
                END IF;
                -- The guard: every part present must hold.
                IF v_event.value ? 'guard' THEN
                    v_guard := v_event.value -> 'guard';
                    IF pg_catalog.jsonb_typeof(v_guard) <> 'object' OR v_guard = '{}' THEN
                        v_errors := v_errors || pliers._form_error(v_epath || '.guard', 'invalid_type',
                            'a guard is an object with expression, permission and/or roles');
                        CONTINUE;
                    END IF;
                    v_errors := v_errors || pliers._unknown_keys(v_guard, '{expression,permission,roles}',
                        v_epath || '.guard');
                    IF v_guard ? 'permission' AND (pg_catalog.jsonb_typeof(v_guard -> 'permission') <> 'string'
                        OR v_guard ->> 'permission' !~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'
                        OR NOT EXISTS (
                            SELECT FROM pliers.roles AS r WHERE (v_guard ->> 'permission') = ANY (r.permissions)
                        )) THEN
                        v_errors := v_errors || pliers._form_error(v_epath || '.guard.permission',
                            'unknown_permission', 'a permission some role grants, e.g. submission.update');
                    END IF;
                    IF v_guard ? 'roles' THEN
                        IF pg_catalog.jsonb_typeof(v_guard -> 'roles') <> 'array' OR v_guard -> 'roles' = '[]'
                            OR EXISTS (
                                SELECT FROM pg_catalog.jsonb_array_elements(v_guard -> 'roles') AS r (role)
                                WHERE pg_catalog.jsonb_typeof(r.role) <> 'string'
                            ) THEN
                            v_errors := v_errors || pliers._form_error(v_epath || '.guard.roles', 'invalid_type',
                                'roles is a non-empty list of role names');
                        ELSIF pg_catalog.jsonb_array_length(v_guard -> 'roles') > (v_limits ->> 'roles')::integer THEN
                            PERFORM pliers._raise_limit(v_epath || '.guard.roles', 'too_many_roles',
                                pg_catalog.format('more than %s roles', v_limits ->> 'roles'));
                        ELSE
                            v_errors := v_errors || pliers._role_errors(
                                ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v_guard -> 'roles')),
                                v_epath || '.guard.roles'
                            );
                        END IF;
                    END IF;
                    IF v_guard ? 'expression' THEN
                        v_check := pliers._expr_check(
                            v_guard -> 'expression', v_epath || '.guard.expression',
                            pliers._workflow_guard_vars(v_guard -> 'expression', NULL), 'boolean'
                        );
                        v_errors := v_errors || pg_catalog.to_jsonb(v_check.errors);
                    END IF;
                END IF;
            END LOOP;
        END IF;

        -- Timeout and SLA.
        IF v_state.value ? 'timeout' THEN
            IF pg_catalog.jsonb_typeof(v_state.value -> 'timeout') <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.timeout', 'invalid_type',
                    'a timeout is {"after": "<duration>", "event": "<event>"}');
            ELSE
                v_errors := v_errors || pliers._unknown_keys(v_state.value -> 'timeout', '{after,event}',
                    v_path || '.timeout');
                v_errors := v_errors
                    || pliers._workflow_duration_errors(v_state.value -> 'timeout', v_path || '.timeout');
                IF NOT v_state.value -> 'timeout' ? 'event' THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.timeout.event', 'required',
                        'the event the timeout fires');
                ELSIF pg_catalog.jsonb_typeof(v_state.value #> '{timeout,event}') <> 'string'
                    OR NOT coalesce(v_state.value -> 'on' ? (v_state.value #>> '{timeout,event}'), FALSE) THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.timeout.event', 'unknown_event',
                        'a timeout fires an event of this state''s on');
                END IF;
            END IF;
        END IF;
        IF v_state.value ? 'sla' THEN
            IF pg_catalog.jsonb_typeof(v_state.value -> 'sla') <> 'object' THEN
                v_errors := v_errors || pliers._form_error(v_path || '.sla', 'invalid_type',
                    'an SLA is {"after": "<duration>"}');
            ELSE
                v_errors := v_errors || pliers._unknown_keys(v_state.value -> 'sla', '{after}', v_path || '.sla');
                v_errors := v_errors || pliers._workflow_duration_errors(v_state.value -> 'sla', v_path || '.sla');
            END IF;
        END IF;

        -- Final states end the run; the others must lead somewhere.
        IF v_final THEN
            FOREACH v_place IN ARRAY ARRAY['on', 'timeout', 'onExit'] LOOP
                IF v_state.value ? v_place THEN
                    v_errors := v_errors || pliers._form_error(v_path || '.' || v_place, 'final_has_exits',
                        pg_catalog.format('a final state has no %s', v_place));
                END IF;
            END LOOP;
        ELSIF coalesce(v_state.value -> 'on', '{}') IN ('{}', '[]', 'null') THEN
            v_errors := v_errors || pliers._form_error(v_path, 'dead_end',
                'a state that is not final needs at least one transition (or final: true)');
        END IF;
    END LOOP;

    IF v_states <> '{}' AND NOT v_has_final THEN
        v_errors := v_errors || pliers._form_error('$.states', 'no_final_state', 'at least one state is final');
    END IF;

    -- Reachability from the initial state, breadth first: at most one round per state.
    IF v_initial IS NOT NULL THEN
        v_reached := ARRAY[v_initial];
        v_frontier := ARRAY[v_initial];
        WHILE cardinality(v_frontier) > 0 LOOP
            v_frontier := ARRAY(
                SELECT DISTINCT e.value ->> 'target'
                FROM pg_catalog.unnest(v_frontier) AS f (state)
                CROSS JOIN LATERAL pg_catalog.jsonb_each(CASE
                    WHEN pg_catalog.jsonb_typeof(v_states -> f.state -> 'on') = 'object' THEN v_states -> f.state -> 'on'
                    ELSE '{}'
                END) AS e (key, value)
                WHERE pg_catalog.jsonb_typeof(e.value -> 'target') = 'string'
                    AND v_states ? (e.value ->> 'target')
                    AND NOT (e.value ->> 'target') = ANY (v_reached)
            );
            v_reached := v_reached || v_frontier;
        END LOOP;
        v_errors := v_errors || coalesce((
            SELECT pg_catalog.jsonb_agg(pliers._form_error(
                '$.states.' || pliers._json_path_key(s.key), 'unreachable_state',
                pg_catalog.format('no transition leads from %s to this state', pg_catalog.to_json(v_initial))
            ) ORDER BY s.key)
            FROM pg_catalog.jsonb_object_keys(v_states) AS s (key)
            WHERE NOT s.key = ANY (v_reached)
        ), '[]');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers.validate_workflow_definition(jsonb) IS
'The errors of a workflow definition (docs/workflows.md), a JSON array of {path, code, message} ([] when valid): '
'shape (invalid_type, unknown_key, required, invalid_name), unknown_state (initial, targets), unreachable_state, '
'final_has_exits, dead_end, no_final_state, unknown_event (a timeout''s event), invalid_duration, invalid_action, '
'invalid_status, unknown_permission, unknown_role, and the guard expressions'' errors (pliers._expr_check: '
'invalid_expression, type_mismatch, invalid_reference...; answers.* typed any here). Raises PL001 at once past a '
'limit (pliers.workflow_limits()). References to the tenant''s teams, users, workflows and forms are checked by '
'publish_workflow.';

CREATE FUNCTION pliers._assert_valid_workflow_definition(p_definition jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_errors constant jsonb := pliers.validate_workflow_definition(p_definition);
BEGIN
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow definition is not valid', v_errors);
    END IF;
END
$$;

COMMENT ON FUNCTION pliers._assert_valid_workflow_definition(jsonb) IS
'Private: raises PL001 (DETAIL {"errors": [...]}) unless pliers.validate_workflow_definition finds no error.';

REVOKE ALL ON FUNCTION
pliers.workflow_limits(),
pliers._check_workflow_document(jsonb, text, text),
pliers._valid_workflow_name(text),
pliers._unknown_keys(jsonb, text[], text),
pliers._workflow_duration(jsonb),
pliers._cron_field(text, integer, integer, text[]),
pliers._cron_next(text, text, timestamptz),
pliers._check_workflow_trigger(pliers.trigger_type, jsonb),
pliers._check_workflow_retry_config(jsonb),
pliers._check_workflow_action(jsonb, text),
pliers._check_workflow_actions(jsonb, text),
pliers._workflow_duration_errors(jsonb, text),
pliers.workflow_actions(jsonb),
pliers._workflow_guard_expressions(jsonb),
pliers._workflow_guard_vars(jsonb, jsonb),
pliers.validate_workflow_definition(jsonb),
pliers._assert_valid_workflow_definition(jsonb)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.workflow_limits(),
pliers.workflow_actions(jsonb),
pliers.validate_workflow_definition(jsonb)
TO pliers_app, pliers_readonly;
