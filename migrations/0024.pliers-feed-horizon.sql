-- The change feed on Citus (issue 14): read_feed takes its horizon in the statement
-- that reads the events, so that on Citus it is the snapshot of the node that holds
-- the tenant's events and assigned their transaction ids, not the coordinator's.
-- Same result on one server.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

CREATE OR REPLACE FUNCTION pliers.read_feed(
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

RESET ROLE;
