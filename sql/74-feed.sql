-- History, part 3: appending events, expected versions, and the change feed.
-- docs/history.md explains the ordering guarantee for a DBA.
--
-- Appending. The stored-procedure API records every change of an aggregate with
-- pliers._append_event, in the transaction of the change:
--
--     SELECT ... FROM pliers.forms WHERE organization_id = ... AND id = ... FOR UPDATE;
--     PERFORM pliers._check_expected_version('form', id, p_expected_revision, revision);
--     UPDATE pliers.forms SET ... RETURNING revision;   -- the revision trigger adds 1
--     PERFORM pliers._append_event('form', id, new_revision, 'form.updated', payload);
--
-- The row lock serialises the writers of one aggregate: the second waits for the
-- first to commit, then reads the new revision. So two events of one aggregate never
-- get the same aggregate_version, and a caller that passed the revision it read gets
-- PL003 when someone else changed the aggregate in between.
--
-- The feed. pliers.read_feed returns a tenant's events in (transaction_id, position)
-- order after a cursor, and only events of transactions older than the oldest one
-- still running (pg_snapshot_xmin of the current snapshot). Every transaction below
-- that horizon has ended: no event can appear later behind a cursor taken from a
-- returned row, so a consumer that always passes the last row's cursor sees every
-- committed event exactly once. The order is transaction-id order (a transaction's id
-- is assigned at its first write), not commit order; within one transaction, append
-- order. Price: a long-running writing transaction holds the feed back until it ends.

-- ---------------------------------------------------------------------------
-- Append-only, and the feed columns
-- ---------------------------------------------------------------------------

CREATE TRIGGER events_append_only
BEFORE UPDATE OR DELETE ON pliers.events
FOR EACH ROW EXECUTE FUNCTION pliers._history_append_only('events', '{processed_at,processing_errors}');

COMMENT ON TRIGGER events_append_only ON pliers.events IS
'Events are append-only: UPDATE and DELETE raise PL005, except processed_at/processing_errors by a member of '
'pliers_worker, and maintenance (see pliers._history_append_only)';

CREATE TRIGGER events_append_only_truncate
BEFORE TRUNCATE ON pliers.events
FOR EACH STATEMENT EXECUTE FUNCTION pliers._history_append_only('events');

COMMENT ON TRIGGER events_append_only_truncate ON pliers.events IS
'TRUNCATE of the event log raises PL005 (old partitions are detached by retention instead)';

CREATE FUNCTION pliers._events_transaction_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $function$
BEGIN
    NEW.transaction_id := pg_catalog.pg_current_xact_id();
    RETURN NEW;
END
$function$;

COMMENT ON FUNCTION pliers._events_transaction_id() IS
'BEFORE INSERT row trigger of pliers.events: transaction_id is always the inserting transaction''s id, whatever the '
'caller wrote. The feed''s guarantee (pliers.read_feed) depends on it.';

CREATE TRIGGER events_transaction_id
BEFORE INSERT ON pliers.events
FOR EACH ROW EXECUTE FUNCTION pliers._events_transaction_id();

COMMENT ON TRIGGER events_transaction_id ON pliers.events IS
'Sets transaction_id to pg_current_xact_id() (pliers._events_transaction_id)';

-- Privileges. The application appends (through the API) and reads its tenant's events;
-- it needs the sequence of the position default. The event processor's grants and
-- policies (pliers_worker: SELECT, UPDATE of processed_at and processing_errors, every
-- tenant) are in sql/95-security.sql.j2 with the other policies.
GRANT SELECT, INSERT ON pliers.events TO pliers_app;
GRANT USAGE ON SEQUENCE pliers.events_position_seq TO pliers_app;

-- ---------------------------------------------------------------------------
-- Appending and expected versions
-- ---------------------------------------------------------------------------

-- The events of one aggregate appended by one change, in one INSERT: the context is
-- read (and verified) once and the partitioned table entered once (a create_submission
-- that submits appends two).
CREATE FUNCTION pliers._append_events(
    p_aggregate_type pliers.aggregate_type,
    p_aggregate_id uuid,
    p_first_version integer,
    p_event_types text[],
    p_payloads jsonb[],
    p_causation_id uuid DEFAULT NULL
)
RETURNS uuid[]
LANGUAGE plpgsql
SET search_path = ''
AS $function$
DECLARE
    v_context record;
    v_ids uuid[];
BEGIN
    SELECT r.* INTO v_context FROM pliers.current_request() AS r;
    IF v_context.organization_id IS NULL THEN
        RAISE EXCEPTION 'no tenant context: an event needs pliers.set_context first'
            USING
                ERRCODE = 'PL008',
                DETAIL = pg_catalog.jsonb_build_object(
                    'aggregate_type', p_aggregate_type, 'aggregate_id', p_aggregate_id, 'event_type', p_event_types[1]
                )::text;
    END IF;

    -- Ids first: each event after the first is caused by the one before it.
    v_ids := ARRAY(SELECT pg_catalog.gen_random_uuid() FROM pg_catalog.generate_subscripts(p_event_types, 1));
    INSERT INTO pliers.events (
        id, organization_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload,
        correlation_id, causation_id, user_id, session_id, ip_address, user_agent
    )
    SELECT
        v_ids[e.n], v_context.organization_id, e.event_type, p_aggregate_type, p_aggregate_id,
        p_first_version + e.n::integer - 1, p_payloads[e.n], v_context.correlation_id,
        CASE WHEN e.n = 1 THEN p_causation_id ELSE v_ids[e.n - 1] END,
        v_context.user_id, v_context.session_id, v_context.ip_address, v_context.user_agent
    FROM pg_catalog.unnest(p_event_types) WITH ORDINALITY AS e (event_type, n)
    ORDER BY e.n;
    -- Workflows triggered by these events (sql/64), in this transaction; a run's own
    -- events (execution.*) and the workflows' (workflow.*) trigger nothing.
    IF EXISTS (SELECT FROM pg_catalog.unnest(p_event_types) AS t (event_type) WHERE t.event_type !~ '^(execution|workflow)\.') THEN
        PERFORM pliers._start_event_workflows(v_context.organization_id, p_event_types);
    END IF;
    RETURN v_ids;
END
$function$;

COMMENT ON FUNCTION pliers._append_events(pliers.aggregate_type, uuid, integer, text[], jsonb[], uuid) IS
'Private, for the API. Appends the events p_event_types (payloads p_payloads, same order) of one aggregate to '
'pliers.events in one INSERT, in the caller''s transaction, and returns their ids in order: aggregate_version '
'p_first_version, p_first_version + 1, ...; the first caused by p_causation_id, each next one by the one before; '
'organization from the tenant context (PL008 without one), correlation_id, user_id, session_id, ip_address and '
'user_agent from the context (pliers.current_request()), event_timestamp = transaction time. Starts the active '
'workflows of trigger type event on these event types (pliers._start_event_workflows). Constraint '
'violations (event type format, payload not an object, version < 1) raise their SQLSTATE (23514).';

CREATE FUNCTION pliers._append_event(
    p_aggregate_type pliers.aggregate_type,
    p_aggregate_id uuid,
    p_aggregate_version integer,
    p_event_type text,
    p_payload jsonb,
    p_causation_id uuid DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = ''
AS $function$
BEGIN
    RETURN (pliers._append_events(
        p_aggregate_type, p_aggregate_id, p_aggregate_version, ARRAY[p_event_type], ARRAY[p_payload], p_causation_id
    ))[1];
END
$function$;

COMMENT ON FUNCTION pliers._append_event(pliers.aggregate_type, uuid, integer, text, jsonb, uuid) IS
'Private, for the API. Appends one event to pliers.events (pliers._append_events) and returns its id. '
'p_aggregate_version is the aggregate row''s revision after the change.';

CREATE FUNCTION pliers._check_expected_version(
    p_aggregate_type text,
    p_id uuid,
    p_expected integer,
    p_actual integer
)
RETURNS void
LANGUAGE plpgsql
SET search_path = ''
AS $function$
BEGIN
    IF p_expected IS NOT NULL AND p_expected IS DISTINCT FROM p_actual THEN
        RAISE EXCEPTION '% % is at version %, not %', p_aggregate_type, p_id, p_actual, p_expected
            USING
                ERRCODE = 'PL003',
                DETAIL = pg_catalog.jsonb_build_object(
                    'aggregate_type', p_aggregate_type, 'id', p_id, 'expected', p_expected, 'actual', p_actual
                )::text,
                HINT = 'Read the object again and retry with its current revision.';
    END IF;
END
$function$;

COMMENT ON FUNCTION pliers._check_expected_version(text, uuid, integer, integer) IS
'Private, for the API (optimistic concurrency): raises PL003 (DETAIL {aggregate_type, id, expected, actual}) when '
'p_expected is not NULL and differs from p_actual, the revision of the aggregate row read FOR UPDATE. '
'A NULL p_expected checks nothing.';

-- ---------------------------------------------------------------------------
-- The change feed
-- ---------------------------------------------------------------------------

CREATE FUNCTION pliers.read_feed(
    p_after_transaction xid8 DEFAULT '0',
    p_after_position bigint DEFAULT 0,
    p_limit integer DEFAULT 100
)
RETURNS SETOF pliers.events
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $function$
DECLARE
    v_organization_id uuid := pliers.current_organization_id();
BEGIN
    IF v_organization_id IS NULL THEN
        RAISE EXCEPTION 'no tenant context: the feed is read for the tenant of pliers.set_context'
            USING ERRCODE = 'PL008', DETAIL = '{}';
    END IF;
    IF p_after_transaction IS NULL OR p_after_position IS NULL OR p_limit IS NULL
        OR p_limit NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'invalid feed cursor or limit'
            USING
                ERRCODE = 'PL001',
                DETAIL = pg_catalog.jsonb_build_object('errors', pg_catalog.jsonb_build_array(
                    pg_catalog.jsonb_build_object(
                        'path', CASE
                            WHEN p_after_transaction IS NULL THEN 'after_transaction'
                            WHEN p_after_position IS NULL THEN 'after_position'
                            ELSE 'limit'
                        END,
                        'code', 'invalid',
                        'message', 'the cursor is required; the limit is 1 to 10000'
                    )
                ))::text;
    END IF;

    -- Every transaction with an id below the horizon has ended (committed or aborted);
    -- a transaction that is still running, or starts later, has an id at or above it.
    -- The reading transaction's own events are excluded too (they may still roll back).
    -- The horizon is taken in the statement that reads the events, so that on Citus it
    -- is the snapshot of the node that holds the tenant's events and gave them their
    -- transaction ids (the routed statement runs there whole), not the coordinator's.
    RETURN QUERY
    SELECT e.*
    FROM pliers.events AS e
    WHERE
        e.organization_id = v_organization_id
        AND (e.transaction_id, e.position) > (p_after_transaction, p_after_position)
        AND e.transaction_id < (
            SELECT least(h.xmin, coalesce(pg_catalog.pg_current_xact_id_if_assigned(), h.xmin))
            FROM (SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) AS xmin) AS h
        )
    ORDER BY e.transaction_id, e.position
    LIMIT p_limit;
END
$function$;

COMMENT ON FUNCTION pliers.read_feed(xid8, bigint, integer) IS
'The change feed of the current tenant (PL008 without a context): its events after the cursor '
'(p_after_transaction, p_after_position), in (transaction_id, position) order, at most p_limit (1 to 10000, else '
'PL001). Start with the defaults (0, 0); then pass the transaction_id and position of the last row received. '
'Returns only events of transactions that have ended before the oldest running one, so nothing can commit behind '
'the cursor later: every event is returned exactly once. A long-running writing transaction holds the feed back '
'until it ends. On Citus the horizon is that of the node holding the tenant''s events (the one statement that reads '
'them runs there). Events of detached partitions (retention) are no longer in the feed.';

REVOKE ALL ON FUNCTION
pliers._events_transaction_id(),
pliers._append_events(pliers.aggregate_type, uuid, integer, text[], jsonb[], uuid),
pliers._append_event(pliers.aggregate_type, uuid, integer, text, jsonb, uuid),
pliers._check_expected_version(text, uuid, integer, integer),
pliers.read_feed(xid8, bigint, integer)
FROM public;

GRANT EXECUTE ON FUNCTION pliers.read_feed(xid8, bigint, integer) TO pliers_app;
