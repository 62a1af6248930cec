-- Trigger functions shared by several tables. Private helpers (leading _):
-- pliers_app gets no EXECUTE on them; triggers run them regardless.

CREATE FUNCTION pliers._set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    -- An UPDATE that sets updated_at itself keeps it: the API does, with the time of the
    -- coordinator's transaction (on Citus this trigger runs on a worker, whose
    -- transaction started later, and the events carry the coordinator's time).
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to the transaction time, unless the UPDATE set it. Used by every '
'<table>_updated_at trigger.';

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
