-- Trigger functions shared by several tables. Private helpers (leading _):
-- pliers_app gets no EXECUTE on them; triggers run them regardless.

CREATE FUNCTION pliers._set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    -- The API (running as pliers_owner) sets updated_at itself, to the time of the
    -- coordinator's transaction: on Citus this trigger runs on a worker, whose
    -- transaction started later, while the events carry the coordinator's time. Anyone
    -- else's value is replaced.
    IF current_user <> 'pliers_owner' OR NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to the transaction time, unless pliers_owner (the API) set it. Used '
'by every <table>_updated_at trigger.';

CREATE FUNCTION pliers._bump_revision()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._bump_revision() IS
'BEFORE UPDATE row trigger: revision := OLD.revision + 1 on every update of an aggregate row, whatever the caller wrote. '
'revision is the optimistic-concurrency token (UPDATE ... WHERE revision = expected) and the aggregate_version of events.';
