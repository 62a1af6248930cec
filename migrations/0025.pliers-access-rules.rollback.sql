-- Rollback of 0025: the access rules' functions.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION pliers._assert_owner_remains(uuid, uuid);
DROP FUNCTION pliers._assert_grantable(text[], pliers.scope_type, uuid, text);
DROP FUNCTION pliers._role_errors(text[], text);

RESET ROLE;
