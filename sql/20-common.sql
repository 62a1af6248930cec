-- Trigger functions shared by several tables. Private helpers (leading _):
-- pliers_app gets no EXECUTE on them; triggers run them regardless.

CREATE FUNCTION pliers._set_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._set_updated_at() IS
'BEFORE UPDATE row trigger: sets updated_at to the transaction time. Used by every <table>_updated_at trigger.';

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
