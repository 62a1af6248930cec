-- Workflow definitions and their lifecycle (issue 18): the validator (sql/61), the API (sql/63).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

-- sql/60-workflows.sql: the workflows' lifecycle and schedule columns, the webhook secrets.

ALTER TABLE pliers.workflows ADD COLUMN published_at timestamptz;
ALTER TABLE pliers.workflows ADD COLUMN next_fire_at timestamptz;
-- Versions published before: their last change is the best known publication time.
UPDATE pliers.workflows SET published_at = updated_at
WHERE status <> 'draft' AND published_at IS NULL;
-- The column was just added, NULL in every row: the check reads no value that fails it.
-- squawk-ignore constraint-missing-not-valid
ALTER TABLE pliers.workflows ADD CONSTRAINT workflows_next_fire_at_scheduled CHECK (
    next_fire_at IS NULL OR (is_active AND trigger_type = 'schedule')
);

COMMENT ON COLUMN pliers.workflows.published_at IS 'When publish_workflow made this version immutable; NULL for a draft';
COMMENT ON COLUMN pliers.workflows.next_fire_at IS
'Schedule trigger: the next time the worker starts an execution (pliers._cron_next of trigger_config). Set by '
'activate_workflow, cleared by deactivation, advanced by the schedule sweep; NULL for the other workflows.';

-- workflows holds a few rows a tenant (versions of workflows, not runs): the lock is short.
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX workflows_active_slug_key ON pliers.workflows (organization_id, slug)
WHERE is_active;

COMMENT ON INDEX pliers.workflows_active_slug_key IS
'One active version per slug and organization; finds the active version of a slug (start, start_workflow actions)';

-- squawk-ignore require-concurrent-index-creation
CREATE INDEX workflows_next_fire_at_idx ON pliers.workflows (next_fire_at)
WHERE next_fire_at IS NOT NULL;

COMMENT ON INDEX pliers.workflows_next_fire_at_idx IS
'Active schedule workflows by next fire time (pliers.fire_workflow_schedules reads the due ones)';

CREATE TABLE pliers.workflow_secrets (
    organization_id uuid NOT NULL,
    workflow_id uuid NOT NULL,
    secret_hash bytea NOT NULL,
    rotated_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT workflow_secrets_pkey PRIMARY KEY (organization_id, workflow_id),
    CONSTRAINT workflow_secrets_workflow_id_fkey FOREIGN KEY (organization_id, workflow_id)
    REFERENCES pliers.workflows (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT workflow_secrets_secret_hash_size CHECK (octet_length(secret_hash) = 32)
);

COMMENT ON TABLE pliers.workflow_secrets IS
'Private: the SHA-256 of the secret of each webhook-triggered workflow version (rotate_workflow_secret returns the '
'secret once). Owner only: no grant, RLS without a policy; not audited. A new version copies its parent''s.';
COMMENT ON COLUMN pliers.workflow_secrets.secret_hash IS
'sha256 of the secret''s UTF-8 text; trigger_workflow_webhook compares the hash of what it is given';

ALTER TABLE pliers.workflow_secrets ENABLE ROW LEVEL SECURITY;

-- sql/95-security.sql.j2: workflows and their forms are written through the API only.
REVOKE INSERT, UPDATE, DELETE ON pliers.workflows, pliers.workflow_forms FROM pliers_app;

-- sql/61-workflow-definitions.sql

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

-- sql/63-workflows-api.sql

-- The workflow API: the lifecycle of workflow versions (docs/workflows.md), as forms'
-- (sql/45-forms-api.sql):
--
--     create_workflow ──> draft ──publish_workflow──> published ──deprecate_workflow──> deprecated
--                          │  ^                          │  ^ activate / deactivate        │
--         update_workflow ─┘  │                          └──────archive_workflow──────> archived <─┘
--         delete_workflow     └── create_workflow_version (a new draft from the latest version)
--
-- A published version is immutable: its definition, trigger and configuration never
-- change (a new version is a new row). At most one version of a slug is active (new
-- executions start from it): activate_workflow moves the flag. The forms a workflow
-- listens to are workflow_forms rows (attach_workflow_form / detach_workflow_form);
-- the guards that read answers are checked against each attached form's definition.
--
-- Every function opens with the tenant context (PL008 without one), finds the row
-- (PL002), checks workflow.manage (write) or workflow.view (read) (PL006), the expected
-- revision (PL003), validates (PL001, every error at once), writes and appends its
-- events (aggregate workflow, aggregate_version = revision) in the caller's
-- transaction. Every statement names the tenant as a value (v_org): Citus routes it.

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.workflow_status_moves()
RETURNS TABLE (from_status pliers.workflow_status, to_status pliers.workflow_status, via text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT m.from_status::pliers.workflow_status, m.to_status::pliers.workflow_status, m.via
    FROM (
        VALUES
        ('draft', 'published', 'publish_workflow'),
        ('published', 'deprecated', 'deprecate_workflow'),
        ('published', 'archived', 'archive_workflow'),
        ('deprecated', 'archived', 'archive_workflow')
    ) AS m (from_status, to_status, via)
$$;

COMMENT ON FUNCTION pliers.workflow_status_moves() IS
'The status moves a workflow version may make, and the API function of each: draft -> published (publish_workflow), '
'published -> deprecated (deprecate_workflow), published or deprecated -> archived (archive_workflow). Any other '
'move raises PL004 (DETAIL {object, id, from, to}). Deprecating or archiving an active version deactivates it.';

CREATE FUNCTION pliers._workflow_payload(p_workflow pliers.workflows)
RETURNS jsonb
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'name', p_workflow.name,
        'slug', p_workflow.slug,
        'version', p_workflow.version,
        'type', p_workflow.type,
        'trigger_type', p_workflow.trigger_type,
        'trigger_config', p_workflow.trigger_config,
        'status', p_workflow.status,
        'definition', p_workflow.definition,
        'settings', p_workflow.settings,
        'timeout_seconds', p_workflow.timeout_seconds,
        'retry_config', p_workflow.retry_config,
        'tags', to_jsonb(p_workflow.tags),
        'metadata', p_workflow.metadata,
        'created_at', p_workflow.created_at,
        'created_by', p_workflow.created_by
    )
$$;

COMMENT ON FUNCTION pliers._workflow_payload(pliers.workflows) IS
'Private: the business fields of a workflow version, the payload of workflow.created (enough to rebuild the row).';

CREATE FUNCTION pliers._lock_workflow(p_org uuid, p_workflow_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_workflow pliers.workflows;
BEGIN
    IF p_workflow_id IS NULL THEN
        PERFORM pliers._raise_invalid('workflow_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('workflow_id', 'required', 'the workflow id is required')));
    END IF;
    SELECT w.* INTO v_workflow
    FROM pliers.workflows AS w
    WHERE w.organization_id = p_org AND w.id = p_workflow_id AND w.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow', p_workflow_id);
    END IF;
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers._lock_workflow(uuid, uuid) IS
'Private: the live workflow version p_workflow_id of tenant p_org, locked FOR UPDATE; PL001 when p_workflow_id is '
'NULL, PL002 when it is unknown, deleted or another tenant''s.';

CREATE FUNCTION pliers._raise_workflow_immutable(p_workflow pliers.workflows)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION 'workflow % version % is % and cannot change', p_workflow.id, p_workflow.version, p_workflow.status
        USING
            ERRCODE = 'PL005',
            DETAIL = pg_catalog.jsonb_build_object(
                'object', 'workflow', 'id', p_workflow.id, 'status', p_workflow.status
            )::text,
            HINT = 'Make a new draft with create_workflow_version.';
END
$$;

COMMENT ON FUNCTION pliers._raise_workflow_immutable(pliers.workflows) IS
'Private: raises PL005 (Immutable, DETAIL {object: workflow, id, status}): only a draft version changes.';

-- The errors of the attributes every write takes; NULL arguments are not checked.
CREATE FUNCTION pliers._check_workflow_attributes(
    p_name text,
    p_type text,
    p_trigger_type pliers.trigger_type,
    p_trigger_config jsonb,
    p_settings jsonb,
    p_timeout_seconds integer,
    p_retry_config jsonb,
    p_tags text[],
    p_metadata jsonb
)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
BEGIN
    IF p_name IS NOT NULL AND (pg_catalog.btrim(p_name) = '' OR pg_catalog.length(p_name) > 255) THEN
        v_errors := v_errors || pliers._form_error('name', 'invalid', 'the name is 1 to 255 characters, not blank');
    END IF;
    IF p_type IS NOT NULL AND (pg_catalog.btrim(p_type) = '' OR pg_catalog.length(p_type) > 50) THEN
        v_errors := v_errors || pliers._form_error('type', 'invalid', 'the type is 1 to 50 characters, not blank');
    END IF;
    IF p_settings IS NOT NULL AND pg_catalog.jsonb_typeof(p_settings) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('settings', 'invalid_type', 'settings must be a JSON object');
    ELSIF p_settings IS NOT NULL THEN
        PERFORM pliers._check_workflow_document(p_settings, 'settings', 'config_bytes');
    END IF;
    IF p_metadata IS NOT NULL AND pg_catalog.jsonb_typeof(p_metadata) <> 'object' THEN
        v_errors := v_errors || pliers._form_error('metadata', 'invalid_type', 'metadata must be a JSON object');
    ELSIF p_metadata IS NOT NULL THEN
        PERFORM pliers._check_workflow_document(p_metadata, 'metadata', 'config_bytes');
    END IF;
    IF p_timeout_seconds IS NOT NULL AND p_timeout_seconds NOT BETWEEN 60 AND 31622400 THEN
        v_errors := v_errors || pliers._form_error('timeout_seconds', 'out_of_range',
            'an execution''s time limit is 60 seconds to 366 days');
    END IF;
    IF p_trigger_type IS NOT NULL THEN
        v_errors := v_errors || pliers._check_workflow_trigger(p_trigger_type, coalesce(p_trigger_config, '{}'));
    END IF;
    IF p_retry_config IS NOT NULL THEN
        v_errors := v_errors || pliers._check_workflow_retry_config(p_retry_config);
    END IF;
    v_errors := v_errors || pliers._check_text_array('tags', p_tags, 100, 255);
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_attributes(
    text, text, pliers.trigger_type, jsonb, jsonb, integer, jsonb, text[], jsonb
) IS
'Private: the argument errors ({path, code, message}) of a workflow''s attributes: name, type, settings, metadata, '
'timeout_seconds (60 s to 366 days), trigger_config against p_trigger_type ($.trigger_config...), retry_config '
'($.retry_config...), tags. NULL arguments are not checked.';

-- A change that is not a column of the row (its forms, its secret) is a change of the
-- aggregate all the same: a new revision and an event.
CREATE FUNCTION pliers._touch_workflow(p_org uuid, p_workflow_id uuid, p_event_type text, p_payload jsonb)
RETURNS pliers.workflows
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_workflow pliers.workflows;
BEGIN
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), updated_by = pliers.current_user_id()
    WHERE w.organization_id = p_org AND w.id = p_workflow_id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event('workflow', v_workflow.id, v_workflow.revision, p_event_type, p_payload);
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers._touch_workflow(uuid, uuid, text, jsonb) IS
'Private: bumps the revision of workflow p_workflow_id of tenant p_org (updated_at, updated_by) and appends event '
'p_event_type (payload p_payload) at that revision: attach, detach, secret rotation.';

-- The references of a definition that need the tenant: teams and users of assign and
-- notify actions, workflows of start_workflow actions, and the answers guards read,
-- against each attached form's definition.
CREATE FUNCTION pliers._check_workflow_references(p_org uuid, p_workflow pliers.workflows)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $$
DECLARE
    v_errors jsonb := '[]';
    v_action record;
    v_guard record;
    v_form record;
    v_check record;
    v_team text;
    v_user text;
    v_attached boolean := FALSE;
BEGIN
    FOR v_action IN SELECT a.path, a.action FROM pliers.workflow_actions(p_workflow.definition) AS a ORDER BY a.path LOOP
        v_team := coalesce(v_action.action ->> 'team', v_action.action #>> '{to,team}');
        v_user := coalesce(v_action.action ->> 'user', v_action.action #>> '{to,user}');
        IF v_action.action ->> 'type' IN ('assign', 'notify') AND v_team IS NOT NULL AND NOT EXISTS (
            SELECT FROM pliers.teams AS t
            WHERE t.organization_id = p_org AND t.slug = v_team::pliers.slug AND t.deleted_at IS NULL
        ) THEN
            v_errors := v_errors || pliers._form_error(
                v_action.path || CASE WHEN v_action.action ? 'team' THEN '.team' ELSE '.to.team' END,
                'unknown_team', pg_catalog.format('no team %s', pg_catalog.to_json(v_team)));
        END IF;
        IF v_action.action ->> 'type' IN ('assign', 'notify') AND v_user IS NOT NULL AND NOT EXISTS (
            SELECT FROM pliers.users AS u
            WHERE u.organization_id = p_org AND u.id = v_user::uuid AND u.deleted_at IS NULL
        ) THEN
            v_errors := v_errors || pliers._form_error(
                v_action.path || CASE WHEN v_action.action ? 'user' THEN '.user' ELSE '.to.user' END,
                'unknown_user', pg_catalog.format('no user %s in this organization', v_user));
        END IF;
        IF v_action.action ->> 'type' = 'start_workflow' AND NOT EXISTS (
            SELECT FROM pliers.workflows AS w
            WHERE w.organization_id = p_org AND w.slug = (v_action.action ->> 'workflow')::pliers.slug
                AND w.deleted_at IS NULL
        ) THEN
            v_errors := v_errors || pliers._form_error(v_action.path || '.workflow', 'unknown_workflow',
                pg_catalog.format('no workflow %s', pg_catalog.to_json(v_action.action ->> 'workflow')));
        END IF;
    END LOOP;

    -- Guards against each attached form (the version attached: its submissions start the run).
    FOR v_form IN
        SELECT f.id, f.slug, f.version, f.definition
        FROM pliers.workflow_forms AS wf
        INNER JOIN pliers.forms AS f ON wf.organization_id = f.organization_id AND wf.form_id = f.id
        WHERE wf.organization_id = p_org AND wf.workflow_id = p_workflow.id AND f.deleted_at IS NULL
        ORDER BY f.slug, f.version, f.id
    LOOP
        v_attached := TRUE;
        FOR v_guard IN SELECT * FROM pliers._workflow_guard_expressions(p_workflow.definition) LOOP
            v_check := pliers._expr_check(
                v_guard.expression, v_guard.path, pliers._workflow_guard_vars(v_guard.expression, v_form.definition),
                'boolean'
            );
            v_errors := v_errors || coalesce((
                SELECT pg_catalog.jsonb_agg(e.error || pg_catalog.jsonb_build_object(
                    'message', (e.error ->> 'message') || pg_catalog.format(' (form %s %s)', v_form.slug, v_form.version)
                ) ORDER BY e.n)
                FROM pg_catalog.unnest(v_check.errors) WITH ORDINALITY AS e (error, n)
            ), '[]');
        END LOOP;
    END LOOP;
    IF NOT v_attached THEN
        v_errors := v_errors || coalesce((
            SELECT pg_catalog.jsonb_agg(pliers._form_error(g.path, 'invalid_reference',
                'this guard reads answers.*: attach a form first (attach_workflow_form)') ORDER BY g.path)
            FROM pliers._workflow_guard_expressions(p_workflow.definition) AS g
            WHERE pg_catalog.jsonb_path_exists(g.expression,
                'strict $.**.var ? (@.type() == "string" && @ starts with "answers") ')
                OR pg_catalog.jsonb_path_exists(g.expression,
                'strict $.**.var[0] ? (@.type() == "string" && @ starts with "answers") ')
        ), '[]');
    END IF;
    RETURN v_errors;
END
$$;

COMMENT ON FUNCTION pliers._check_workflow_references(uuid, pliers.workflows) IS
'Private: the errors of the references of a workflow''s definition within tenant p_org: unknown_team, unknown_user '
'(assign, notify), unknown_workflow (start_workflow: a live workflow of that slug), and each guard expression '
'type-checked against the definition of each attached form (invalid_reference for an unknown answers.* field, the '
'message naming the form); without an attached form, a guard reading answers.* is an invalid_reference.';

-- The next fire time of an active schedule workflow after p_after (NULL for the others).
CREATE FUNCTION pliers._workflow_next_fire(p_workflow pliers.workflows, p_after timestamptz)
RETURNS timestamptz
LANGUAGE sql
STABLE
AS $$
    SELECT CASE WHEN p_workflow.trigger_type = 'schedule' THEN pliers._cron_next(
        p_workflow.trigger_config ->> 'cron', coalesce(p_workflow.trigger_config ->> 'timezone', 'UTC'), p_after
    ) END
$$;

COMMENT ON FUNCTION pliers._workflow_next_fire(pliers.workflows, timestamptz) IS
'Private: the first time after p_after that the schedule of workflow p_workflow fires (pliers._cron_next of its '
'trigger_config), NULL unless its trigger is schedule. activate_workflow and the schedule sweep set next_fire_at '
'with it.';

-- ---------------------------------------------------------------------------
-- Drafts
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.create_workflow(
    p_slug text,
    p_name text,
    p_definition jsonb,
    p_trigger_type pliers.trigger_type DEFAULT 'manual',
    p_trigger_config jsonb DEFAULT '{}',
    p_type text DEFAULT 'approval',
    p_settings jsonb DEFAULT '{}',
    p_timeout_seconds integer DEFAULT NULL,
    p_retry_config jsonb DEFAULT '{}',
    p_tags text[] DEFAULT '{}',
    p_metadata jsonb DEFAULT '{}'
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_errors jsonb := '[]';
    v_workflow pliers.workflows;
BEGIN
    PERFORM pliers._require_permission('workflow.manage');
    IF p_name IS NULL THEN
        v_errors := v_errors || pliers._form_error('name', 'required', 'the name is required');
    END IF;
    IF p_trigger_type IS NULL THEN
        v_errors := v_errors || pliers._form_error('trigger_type', 'required', 'the trigger type is required');
    END IF;
    IF p_definition IS NULL THEN
        v_errors := v_errors || pliers._form_error('definition', 'required', 'the definition is required');
    END IF;
    v_errors := v_errors || pliers._check_slug(p_slug) || pliers._check_workflow_attributes(
        p_name, coalesce(p_type, ''), p_trigger_type, coalesce(p_trigger_config, 'null'),
        coalesce(p_settings, 'null'), p_timeout_seconds, coalesce(p_retry_config, 'null'),
        coalesce(p_tags, ARRAY[NULL]::text[]), coalesce(p_metadata, 'null')
    );
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_workflow_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow is not valid', v_errors);
    END IF;
    IF EXISTS (
        SELECT FROM pliers.workflows AS w
        WHERE w.organization_id = v_org AND w.slug = p_slug::pliers.slug AND w.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'a workflow with slug % already exists', p_slug
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object('object', 'workflow', 'slug', p_slug)::text,
                HINT = 'Choose another slug, or create a new version of the existing workflow.';
    END IF;

    INSERT INTO pliers.workflows (
        organization_id, name, slug, version, type, trigger_type, trigger_config, status, definition,
        settings, timeout_seconds, retry_config, tags, metadata, created_by, updated_by
    ) VALUES (
        v_org, p_name, p_slug, '1.0.0', p_type, p_trigger_type, p_trigger_config, 'draft', p_definition,
        p_settings, p_timeout_seconds, p_retry_config, p_tags, p_metadata,
        pliers.current_user_id(), pliers.current_user_id()
    )
    RETURNING * INTO v_workflow;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.created', pliers._workflow_payload(v_workflow)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.create_workflow(
    text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
) IS
'Creates the first version of a workflow: a draft 1.0.0 with slug p_slug (unique among the tenant''s live '
'workflows: PL003 {object, slug}), its definition validated (pliers.validate_workflow_definition), its trigger '
'configuration and retry policy too. Permission workflow.manage. PL001 (every error at once), PL006, PL008. Appends '
'workflow.created.';

CREATE FUNCTION pliers.update_workflow(
    p_workflow_id uuid,
    p_expected_revision integer,
    p_name text DEFAULT NULL,
    p_definition jsonb DEFAULT NULL,
    p_trigger_type pliers.trigger_type DEFAULT NULL,
    p_trigger_config jsonb DEFAULT NULL,
    p_type text DEFAULT NULL,
    p_settings jsonb DEFAULT NULL,
    p_timeout_seconds integer DEFAULT NULL,
    p_retry_config jsonb DEFAULT NULL,
    p_tags text[] DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_errors jsonb;
    v_changes jsonb;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._require_expected_revision(p_expected_revision);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'draft' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    -- The trigger configuration is checked against the trigger type it will have.
    v_errors := pliers._check_workflow_attributes(
        p_name, p_type, CASE WHEN p_trigger_type IS NOT NULL OR p_trigger_config IS NOT NULL
            THEN coalesce(p_trigger_type, v_workflow.trigger_type) END,
        coalesce(p_trigger_config, CASE WHEN p_trigger_type IS NOT NULL THEN v_workflow.trigger_config END),
        p_settings, p_timeout_seconds, p_retry_config, p_tags, p_metadata
    );
    IF p_definition IS NOT NULL THEN
        v_errors := v_errors || pliers.validate_workflow_definition(p_definition);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow is not valid', v_errors);
    END IF;
    v_changes := pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'name', p_name, 'definition', p_definition, 'trigger_type', p_trigger_type,
        'trigger_config', p_trigger_config, 'type', p_type, 'settings', p_settings,
        'timeout_seconds', p_timeout_seconds, 'retry_config', p_retry_config, 'tags', pg_catalog.to_jsonb(p_tags),
        'metadata', p_metadata
    ));

    UPDATE pliers.workflows AS w
    SET
        updated_at = pg_catalog.now(),
        name = coalesce(p_name, w.name),
        definition = coalesce(p_definition, w.definition),
        trigger_type = coalesce(p_trigger_type, w.trigger_type),
        trigger_config = coalesce(p_trigger_config, w.trigger_config),
        type = coalesce(p_type, w.type),
        settings = coalesce(p_settings, w.settings),
        timeout_seconds = coalesce(p_timeout_seconds, w.timeout_seconds),
        retry_config = coalesce(p_retry_config, w.retry_config),
        tags = coalesce(p_tags, w.tags),
        metadata = coalesce(p_metadata, w.metadata),
        updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.updated',
        pg_catalog.jsonb_build_object('changes', v_changes)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
) IS
'Edits a draft version: each argument given replaces the column (NULL: unchanged), validated as create_workflow '
'does. p_expected_revision is required (PL001 without it, PL003 when stale). Only drafts: PL005 (Immutable) for a '
'published, deprecated or archived version. Permission workflow.manage on the workflow. PL002, PL006, PL008. '
'Appends workflow.updated {changes}.';

CREATE FUNCTION pliers.delete_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'draft' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), deleted_at = pg_catalog.now(), updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.deleted',
        pg_catalog.jsonb_build_object('deleted_at', v_workflow.deleted_at, 'slug', v_workflow.slug)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.delete_workflow(uuid, integer) IS
'Discards a draft version (soft delete: deleted_at); deleting the only version frees the slug. Only drafts: PL005 '
'otherwise (published versions are archived). Permission workflow.manage. PL002, PL003 (stale revision, when '
'given), PL006, PL008. Appends workflow.deleted.';

-- ---------------------------------------------------------------------------
-- Publishing and versions
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.publish_workflow(
    p_workflow_id uuid,
    p_version text DEFAULT NULL,
    p_expected_revision integer DEFAULT NULL
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_previous pliers.workflows;
    v_version text;
    v_errors jsonb;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'draft' THEN
        RAISE EXCEPTION 'workflow % version % is % and cannot be published', v_workflow.id, v_workflow.version,
            v_workflow.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'id', v_workflow.id, 'from', v_workflow.status, 'to', 'published'
                )::text;
    END IF;
    v_version := coalesce(p_version, v_workflow.version);
    IF pg_catalog.length(v_version) > 20
        OR v_version !~ '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$' THEN
        PERFORM pliers._raise_invalid('invalid version', pg_catalog.jsonb_build_array(pliers._form_error(
            'version', 'invalid_version', 'the version is MAJOR.MINOR.PATCH, e.g. 1.2.0 (no leading zeros)')));
    END IF;

    -- Everything again (the rules may have changed since the draft was saved), and the
    -- references that need the tenant.
    v_errors := pliers.validate_workflow_definition(v_workflow.definition)
        || pliers._check_workflow_attributes(
            NULL, NULL, v_workflow.trigger_type, v_workflow.trigger_config, NULL, NULL, v_workflow.retry_config,
            NULL, NULL
        );
    IF v_errors = '[]' THEN
        v_errors := pliers._check_workflow_references(v_org, v_workflow);
    END IF;
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow is not valid', v_errors);
    END IF;

    -- Versions of a slug only grow: greater than every version published before.
    SELECT w.* INTO v_previous
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = v_workflow.slug AND w.deleted_at IS NULL
        AND w.status <> 'draft' AND w.id <> v_workflow.id
    ORDER BY pliers._semver_key(w.version) DESC
    LIMIT 1;
    IF v_previous.id IS NOT NULL AND pliers._semver_key(v_version) <= pliers._semver_key(v_previous.version) THEN
        PERFORM pliers._raise_invalid(
            'the version must be greater than every published version',
            pg_catalog.jsonb_build_array(pliers._form_error('version', 'version_not_greater', pg_catalog.format(
                '%s is not greater than the published version %s', v_version, v_previous.version))),
            pg_catalog.jsonb_build_object('latest_version', v_previous.version)
        );
    END IF;

    BEGIN
        UPDATE pliers.workflows AS w
        SET
            updated_at = pg_catalog.now(),
            status = 'published',
            version = v_version,
            published_at = pg_catalog.now(),
            updated_by = pliers.current_user_id()
        WHERE w.organization_id = v_org AND w.id = v_workflow.id
        RETURNING w.* INTO v_workflow;
    EXCEPTION WHEN unique_violation THEN
        -- A draft of the slug holds the version (create_workflow_version's provisional one).
        PERFORM pliers._raise_invalid('the version is taken', pg_catalog.jsonb_build_array(pliers._form_error(
            'version', 'version_taken', pg_catalog.format('another version of %s is %s', v_workflow.slug, v_version))));
    END;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.published',
        pg_catalog.jsonb_build_object(
            'from', 'draft', 'to', 'published', 'version', v_workflow.version,
            'published_at', v_workflow.published_at, 'previous_version_id', v_previous.id,
            'previous_version', v_previous.version
        )
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.publish_workflow(uuid, text, integer) IS
'Publishes a draft version as p_version (MAJOR.MINOR.PATCH; NULL: its current version), which must be greater than '
'every other published version of the slug (PL001 version_not_greater, DETAIL latest_version). Validates everything '
'again and the references that need the tenant: teams, users, workflows named by actions (unknown_team, '
'unknown_user, unknown_workflow) and the answers guards read, against each attached form (invalid_reference). The '
'version is immutable from then on. Does not activate it (activate_workflow). Permission workflow.manage. PL002, '
'PL003 (stale revision), PL004 (not a draft), PL006, PL008. Appends workflow.published.';

CREATE FUNCTION pliers.create_workflow_version(p_workflow_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_source pliers.workflows;
    v_latest pliers.workflows;
    v_draft uuid;
    v_top numeric[];
    v_workflow pliers.workflows;
BEGIN
    IF p_workflow_id IS NULL THEN
        PERFORM pliers._raise_invalid('workflow_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('workflow_id', 'required', 'the workflow id is required')));
    END IF;
    SELECT w.* INTO v_source
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.id = p_workflow_id AND w.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow', p_workflow_id);
    END IF;
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_source.id);

    -- One open draft per slug: serialise the makers of new versions of this slug.
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('pliers.workflow_version:' || v_org::text || ':' || v_source.slug, 0)
    );
    SELECT w.id INTO v_draft
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = v_source.slug AND w.deleted_at IS NULL AND w.status = 'draft';
    IF v_draft IS NOT NULL THEN
        RAISE EXCEPTION 'workflow % already has a draft version %', v_source.slug, v_draft
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object('object', 'workflow', 'slug', v_source.slug, 'draft_id', v_draft)::text,
                HINT = 'Edit, publish or delete the existing draft first.';
    END IF;
    -- The new draft starts from the latest version of the slug, whichever was named.
    SELECT w.* INTO v_latest
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.slug = v_source.slug AND w.deleted_at IS NULL
    ORDER BY pliers._semver_key(w.version) DESC
    LIMIT 1;
    v_top := pliers._semver_key(v_latest.version);

    INSERT INTO pliers.workflows (
        organization_id, name, slug, version, type, trigger_type, trigger_config, status, definition,
        settings, timeout_seconds, retry_config, tags, metadata, created_by, updated_by
    ) VALUES (
        v_org, v_latest.name, v_latest.slug, pg_catalog.format('%s.%s.%s', v_top[1], v_top[2], v_top[3] + 1),
        v_latest.type, v_latest.trigger_type, v_latest.trigger_config, 'draft', v_latest.definition,
        v_latest.settings, v_latest.timeout_seconds, v_latest.retry_config, v_latest.tags,
        v_latest.metadata || pg_catalog.jsonb_build_object('parent_id', v_latest.id),
        pliers.current_user_id(), pliers.current_user_id()
    )
    RETURNING * INTO v_workflow;

    -- The new version listens to the same forms and keeps the webhook secret.
    INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id, created_by)
    SELECT wf.organization_id, v_workflow.id, wf.form_id, pliers.current_user_id()
    FROM pliers.workflow_forms AS wf
    WHERE wf.organization_id = v_org AND wf.workflow_id = v_latest.id;
    INSERT INTO pliers.workflow_secrets (organization_id, workflow_id, secret_hash, rotated_at)
    SELECT s.organization_id, v_workflow.id, s.secret_hash, s.rotated_at
    FROM pliers.workflow_secrets AS s
    WHERE s.organization_id = v_org AND s.workflow_id = v_latest.id;

    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.created',
        pliers._workflow_payload(v_workflow) || pg_catalog.jsonb_build_object('parent_id', v_latest.id)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.create_workflow_version(uuid) IS
'Starts the next version of the workflow of p_workflow_id''s slug: a new draft copying the latest version (content, '
'attached forms, webhook secret; metadata.parent_id), with a provisional version (patch after the highest; '
'publish_workflow sets the real one). One draft per slug: PL003 {object, slug, draft_id}. Permission '
'workflow.manage. PL002, PL006, PL008. Appends workflow.created.';

CREATE FUNCTION pliers._change_workflow_status(
    p_workflow_id uuid,
    p_to pliers.workflow_status,
    p_expected_revision integer
)
RETURNS pliers.workflows
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_from pliers.workflow_status;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    v_from := v_workflow.status;
    IF NOT EXISTS (
        SELECT FROM pliers.workflow_status_moves() AS m
        WHERE m.from_status = v_from AND m.to_status = p_to AND m.via <> 'publish_workflow'
    ) THEN
        RAISE EXCEPTION 'workflow % version % cannot go from % to %', v_workflow.id, v_workflow.version, v_from, p_to
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'id', v_workflow.id, 'from', v_from, 'to', p_to
                )::text,
                HINT = 'The allowed moves are listed by pliers.workflow_status_moves().';
    END IF;
    -- Only a published version is active: it stops starting executions first.
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), status = p_to, is_active = FALSE, next_fire_at = NULL,
        updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.' || p_to::text,
        pg_catalog.jsonb_build_object('from', v_from, 'to', p_to)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers._change_workflow_status(uuid, pliers.workflow_status, integer) IS
'Private: deprecate_workflow and archive_workflow. Checks the move against pliers.workflow_status_moves() (PL004 '
'{object, id, from, to}), deactivates the version, sets the status and appends workflow.deprecated or '
'workflow.archived ({from, to}).';

CREATE FUNCTION pliers.deprecate_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._change_workflow_status(p_workflow_id, 'deprecated', p_expected_revision);
END
$$;

COMMENT ON FUNCTION pliers.deprecate_workflow(uuid, integer) IS
'Deprecates a published version (and deactivates it: no new execution starts from it; running ones go on). '
'PL004 from any other status. Permission workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.deprecated.';

CREATE FUNCTION pliers.archive_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    RETURN pliers._change_workflow_status(p_workflow_id, 'archived', p_expected_revision);
END
$$;

COMMENT ON FUNCTION pliers.archive_workflow(uuid, integer) IS
'Archives a published or deprecated version (and deactivates it). PL004 from draft (delete_workflow) or archived. '
'Permission workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.archived.';

-- ---------------------------------------------------------------------------
-- Activation
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.activate_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_other record;
    v_errors jsonb;
    v_next_fire_at timestamptz;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF v_workflow.status <> 'published' THEN
        RAISE EXCEPTION 'workflow % version % is %: only a published version is activated', v_workflow.id,
            v_workflow.version, v_workflow.status
            USING
                ERRCODE = 'PL004',
                DETAIL = pg_catalog.jsonb_build_object(
                    'object', 'workflow', 'id', v_workflow.id, 'from', v_workflow.status, 'to', 'active'
                )::text;
    END IF;
    IF v_workflow.is_active THEN
        RETURN v_workflow;  -- already: nothing changes, no event
    END IF;
    -- Teams, users or workflows named may have gone since it was published.
    v_errors := pliers._check_workflow_references(v_org, v_workflow);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow refers to objects that are gone', v_errors);
    END IF;

    -- One active version per slug: activations of one slug queue here, so that the one
    -- that comes second sees (and deactivates) the version the first made active; then
    -- the other one first (the unique index is checked per row).
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('pliers.workflow_active:' || v_org::text || ':' || v_workflow.slug, 0)
    );
    FOR v_other IN
        UPDATE pliers.workflows AS w
        SET updated_at = pg_catalog.now(), is_active = FALSE, next_fire_at = NULL,
            updated_by = pliers.current_user_id()
        WHERE w.organization_id = v_org AND w.slug = v_workflow.slug AND w.is_active AND w.id <> v_workflow.id
        RETURNING w.id, w.revision
    LOOP
        PERFORM pliers._append_event(
            'workflow', v_other.id, v_other.revision, 'workflow.deactivated',
            pg_catalog.jsonb_build_object('superseded_by', v_workflow.id)
        );
    END LOOP;
    -- A value: Citus allows no non-IMMUTABLE function inside the CASE of an UPDATE.
    v_next_fire_at := pliers._workflow_next_fire(v_workflow, pg_catalog.now());
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), is_active = TRUE, next_fire_at = v_next_fire_at,
        updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event(
        'workflow', v_workflow.id, v_workflow.revision, 'workflow.activated',
        pg_catalog.jsonb_build_object('version', v_workflow.version, 'next_fire_at', v_workflow.next_fire_at)
    );
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.activate_workflow(uuid, integer) IS
'Makes a published version the active one of its slug (new executions start from it): the previously active '
'version is deactivated (workflow.deactivated, superseded_by). A schedule workflow gets its next_fire_at. The '
'references are checked again (PL001). Already active: returned unchanged. PL004 unless published. Permission '
'workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.activated {version, next_fire_at}.';

CREATE FUNCTION pliers.deactivate_workflow(p_workflow_id uuid, p_expected_revision integer DEFAULT NULL)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    PERFORM pliers._check_expected_version('workflow', v_workflow.id, p_expected_revision, v_workflow.revision);
    IF NOT v_workflow.is_active THEN
        RETURN v_workflow;
    END IF;
    UPDATE pliers.workflows AS w
    SET updated_at = pg_catalog.now(), is_active = FALSE, next_fire_at = NULL, updated_by = pliers.current_user_id()
    WHERE w.organization_id = v_org AND w.id = v_workflow.id
    RETURNING w.* INTO v_workflow;
    PERFORM pliers._append_event('workflow', v_workflow.id, v_workflow.revision, 'workflow.deactivated', '{}');
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.deactivate_workflow(uuid, integer) IS
'Stops a version from starting executions (running ones go on); a schedule''s next_fire_at is cleared. Not active: '
'returned unchanged. Permission workflow.manage. PL002, PL003, PL006, PL008. Appends workflow.deactivated.';

-- ---------------------------------------------------------------------------
-- Forms
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.attach_workflow_form(p_workflow_id uuid, p_form_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    v_form pliers.forms;
    v_errors jsonb;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    IF v_workflow.status = 'archived' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    IF p_form_id IS NULL THEN
        PERFORM pliers._raise_invalid('form_id is required', pg_catalog.jsonb_build_array(
            pliers._form_error('form_id', 'required', 'the form id is required')));
    END IF;
    SELECT f.* INTO v_form
    FROM pliers.forms AS f
    WHERE f.organization_id = v_org AND f.id = p_form_id AND f.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('form', p_form_id);
    END IF;
    PERFORM pliers._require_permission('form.view', 'form', v_form.id);
    IF EXISTS (
        SELECT FROM pliers.workflow_forms AS wf
        WHERE wf.organization_id = v_org AND wf.workflow_id = v_workflow.id AND wf.form_id = v_form.id
    ) THEN
        RETURN v_workflow;  -- attached already
    END IF;
    INSERT INTO pliers.workflow_forms (organization_id, workflow_id, form_id, created_by)
    VALUES (v_org, v_workflow.id, v_form.id, pliers.current_user_id());
    -- The guards must read fields of this form too.
    v_errors := pliers._check_workflow_references(v_org, v_workflow);
    IF v_errors <> '[]' THEN
        PERFORM pliers._raise_invalid('the workflow''s guards do not fit this form', v_errors);
    END IF;
    RETURN pliers._touch_workflow(v_org, v_workflow.id, 'workflow.form_attached', pg_catalog.jsonb_build_object(
        'form_id', v_form.id, 'form_slug', v_form.slug, 'form_version', v_form.version
    ));
END
$$;

COMMENT ON FUNCTION pliers.attach_workflow_form(uuid, uuid) IS
'Attaches form version p_form_id to a workflow version (a workflow_forms row): a form_submission workflow starts '
'when a submission of it is submitted, and guards read its answers: each guard is checked against its definition '
'(PL001 invalid_reference, nothing attached). Not for an archived version (PL005). Attached already: unchanged. '
'Permissions workflow.manage on the workflow and form.view on the form. PL002, PL006, PL008. Appends '
'workflow.form_attached {form_id, form_slug, form_version}.';

CREATE FUNCTION pliers.detach_workflow_form(p_workflow_id uuid, p_form_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    DELETE FROM pliers.workflow_forms AS wf
    WHERE wf.organization_id = v_org AND wf.workflow_id = v_workflow.id AND wf.form_id = p_form_id;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow_form', p_form_id);
    END IF;
    RETURN pliers._touch_workflow(
        v_org, v_workflow.id, 'workflow.form_detached', pg_catalog.jsonb_build_object('form_id', p_form_id)
    );
END
$$;

COMMENT ON FUNCTION pliers.detach_workflow_form(uuid, uuid) IS
'Detaches form p_form_id from a workflow version: its submissions no longer start it. PL002 (object workflow_form) '
'when it is not attached. Permission workflow.manage. PL006, PL008. Appends workflow.form_detached {form_id}.';

-- ---------------------------------------------------------------------------
-- The webhook trigger's secret
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.rotate_workflow_secret(p_workflow_id uuid)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
    -- 256 random bits; the caller sees it once, the database keeps its SHA-256.
    v_secret constant text := 'wfs_' || pg_catalog.encode(pliers._random_key(), 'hex');
BEGIN
    v_workflow := pliers._lock_workflow(v_org, p_workflow_id);
    PERFORM pliers._require_permission('workflow.manage', 'workflow', v_workflow.id);
    IF v_workflow.trigger_type <> 'webhook' THEN
        PERFORM pliers._raise_invalid('not a webhook workflow', pg_catalog.jsonb_build_array(pliers._form_error(
            'workflow_id', 'not_webhook', 'only a workflow with trigger_type webhook has a secret')));
    END IF;
    IF v_workflow.status = 'archived' THEN
        PERFORM pliers._raise_workflow_immutable(v_workflow);
    END IF;
    INSERT INTO pliers.workflow_secrets AS s (organization_id, workflow_id, secret_hash, rotated_at)
    VALUES (v_org, v_workflow.id, pg_catalog.sha256(pg_catalog.convert_to(v_secret, 'UTF8')), pg_catalog.now())
    ON CONFLICT (organization_id, workflow_id) DO UPDATE
    SET secret_hash = excluded.secret_hash, rotated_at = excluded.rotated_at;
    PERFORM pliers._touch_workflow(v_org, v_workflow.id, 'workflow.secret_rotated', '{}');
    RETURN v_secret;
END
$$;

COMMENT ON FUNCTION pliers.rotate_workflow_secret(uuid) IS
'Sets a new random secret (wfs_ and 64 hex digits) for the webhook trigger of a workflow version and returns it, '
'once: only its SHA-256 is kept (pliers.workflow_secrets); the previous one stops working. PL001 (not_webhook) '
'unless trigger_type is webhook; PL005 for an archived version. Permission workflow.manage. PL002, PL006, PL008. '
'Appends workflow.secret_rotated (without the secret).';

CREATE FUNCTION pliers._workflow_secret_matches(p_org uuid, p_workflow_id uuid, p_secret text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
AS $$
DECLARE
    v_hash constant bytea := sha256(convert_to(coalesce(p_secret, ''), 'UTF8'));
BEGIN
    -- Hashes compared, not secrets: how long the comparison takes tells nothing of the
    -- secret. PL/pgSQL: Citus plans no parameterised query of an SQL function.
    RETURN coalesce((
        SELECT s.secret_hash = v_hash
        FROM pliers.workflow_secrets AS s
        WHERE s.organization_id = p_org AND s.workflow_id = p_workflow_id
    ), FALSE);
END
$$;

COMMENT ON FUNCTION pliers._workflow_secret_matches(uuid, uuid, text) IS
'Private, for trigger_workflow_webhook: TRUE when p_secret is the current secret of workflow p_workflow_id of '
'tenant p_org (its SHA-256 equals the stored one; comparing hashes takes a time independent of the secret).';

-- ---------------------------------------------------------------------------
-- Reading (as the owner, the tenant as a value: docs/scale-out.md)
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.list_workflows(
    p_workflow_id uuid DEFAULT NULL,
    p_slug text DEFAULT NULL,
    p_status pliers.workflow_status DEFAULT NULL,
    p_active boolean DEFAULT NULL,
    p_trigger_type pliers.trigger_type DEFAULT NULL
)
RETURNS SETOF pliers.workflows
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_all constant boolean := pliers.has_permission('workflow.view');
BEGIN
    RETURN QUERY
    SELECT w.*
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org
        AND w.deleted_at IS NULL
        AND (p_workflow_id IS NULL OR w.id = p_workflow_id)
        AND (p_slug IS NULL OR w.slug = p_slug)
        AND (p_status IS NULL OR w.status = p_status)
        AND (p_active IS NULL OR w.is_active = p_active)
        AND (p_trigger_type IS NULL OR w.trigger_type = p_trigger_type)
        AND (v_all OR pliers.has_permission('workflow.view', 'workflow', w.id))
    ORDER BY w.slug, pliers._semver_key(w.version), w.created_at, w.id;
END
$$;

COMMENT ON FUNCTION pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type) IS
'The live workflow versions of the tenant that the caller may view (workflow.view, organization-wide or on the '
'workflow), each filter applied when given; by slug, then version. PL008 without a context.';

CREATE FUNCTION pliers.get_workflow(p_workflow_id uuid)
RETURNS pliers.workflows
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
    v_workflow pliers.workflows;
BEGIN
    SELECT w.* INTO v_workflow
    FROM pliers.workflows AS w
    WHERE w.organization_id = v_org AND w.id = p_workflow_id AND w.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM pliers._raise_not_found('workflow', p_workflow_id);
    END IF;
    PERFORM pliers._require_permission('workflow.view', 'workflow', v_workflow.id);
    RETURN v_workflow;
END
$$;

COMMENT ON FUNCTION pliers.get_workflow(uuid) IS
'One live workflow version. Permission workflow.view on it. PL002, PL006, PL008.';

CREATE FUNCTION pliers.list_workflow_forms(p_workflow_id uuid)
RETURNS SETOF pliers.workflow_forms
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_org constant uuid := pliers._require_context();
BEGIN
    PERFORM pliers.get_workflow(p_workflow_id);
    RETURN QUERY
    SELECT wf.*
    FROM pliers.workflow_forms AS wf
    WHERE wf.organization_id = v_org AND wf.workflow_id = p_workflow_id
    ORDER BY wf.created_at, wf.form_id;
END
$$;

COMMENT ON FUNCTION pliers.list_workflow_forms(uuid) IS
'The forms attached to a workflow version (workflow_forms rows), in attachment order. Permission workflow.view. '
'PL002, PL006, PL008.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
pliers.workflow_status_moves(),
pliers._workflow_payload(pliers.workflows),
pliers._lock_workflow(uuid, uuid),
pliers._raise_workflow_immutable(pliers.workflows),
pliers._check_workflow_attributes(text, text, pliers.trigger_type, jsonb, jsonb, integer, jsonb, text[], jsonb),
pliers._touch_workflow(uuid, uuid, text, jsonb),
pliers._check_workflow_references(uuid, pliers.workflows),
pliers._workflow_next_fire(pliers.workflows, timestamptz),
pliers.create_workflow(text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb),
pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
),
pliers.delete_workflow(uuid, integer),
pliers.publish_workflow(uuid, text, integer),
pliers.create_workflow_version(uuid),
pliers._change_workflow_status(uuid, pliers.workflow_status, integer),
pliers.deprecate_workflow(uuid, integer),
pliers.archive_workflow(uuid, integer),
pliers.activate_workflow(uuid, integer),
pliers.deactivate_workflow(uuid, integer),
pliers.attach_workflow_form(uuid, uuid),
pliers.detach_workflow_form(uuid, uuid),
pliers.rotate_workflow_secret(uuid),
pliers._workflow_secret_matches(uuid, uuid, text),
pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type),
pliers.get_workflow(uuid),
pliers.list_workflow_forms(uuid)
FROM public;

GRANT EXECUTE ON FUNCTION
pliers.workflow_status_moves(),
pliers.create_workflow(text, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb),
pliers.update_workflow(
    uuid, integer, text, jsonb, pliers.trigger_type, jsonb, text, jsonb, integer, jsonb, text[], jsonb
),
pliers.delete_workflow(uuid, integer),
pliers.publish_workflow(uuid, text, integer),
pliers.create_workflow_version(uuid),
pliers.deprecate_workflow(uuid, integer),
pliers.archive_workflow(uuid, integer),
pliers.activate_workflow(uuid, integer),
pliers.deactivate_workflow(uuid, integer),
pliers.attach_workflow_form(uuid, uuid),
pliers.detach_workflow_form(uuid, uuid),
pliers.rotate_workflow_secret(uuid),
pliers.list_workflows(uuid, text, pliers.workflow_status, boolean, pliers.trigger_type),
pliers.get_workflow(uuid),
pliers.list_workflow_forms(uuid)
TO pliers_app;

RESET ROLE;
