-- Rollback of 0027: the user API, its table of secrets and columns, user.erase.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

UPDATE pliers.roles SET permissions = array_remove(permissions, 'user.erase')
WHERE name = 'org_owner';
SELECT pliers.refresh_user_permissions('org_owner');

SELECT pliers.enable_audit('pliers.users', p_ignored_columns => '{last_activity_at}');

DROP FUNCTION pliers.touch_user_activity();
DROP FUNCTION pliers.record_login(uuid, uuid, boolean, uuid, inet, text);
DROP FUNCTION pliers.login_credentials(uuid, text);
DROP FUNCTION pliers.set_user_mfa(uuid, bytea, text);
DROP FUNCTION pliers.set_user_password(uuid, text);
DROP FUNCTION pliers.password_policy();
DROP FUNCTION pliers.erase_user_account(uuid);
DROP FUNCTION pliers.delete_user(uuid, integer);
DROP FUNCTION pliers.reactivate_user(uuid, integer);
DROP FUNCTION pliers.suspend_user(uuid, integer);
DROP FUNCTION pliers.change_user_roles(uuid, text[], integer);
DROP FUNCTION pliers.update_user_preferences(uuid, jsonb, integer);
DROP FUNCTION pliers.update_user_profile(uuid, integer, text, text, text, text, text, text, text, text);
DROP FUNCTION pliers.list_users(pliers.user_status, integer);
DROP FUNCTION pliers.get_user(uuid);
DROP FUNCTION pliers.add_user(text, text[], text, text, text, text, text, text);
DROP FUNCTION pliers.accept_invitation(text, uuid, inet, text);
DROP FUNCTION pliers.invite_user(text, text[], text, interval);
DROP FUNCTION pliers._move_user_status(uuid, pliers.user_status, text, text, integer);
DROP FUNCTION pliers._check_password_hash(text);
DROP FUNCTION pliers._password_policy(uuid);
DROP FUNCTION pliers._require_user_manager(pliers.users, boolean);
DROP FUNCTION pliers._lock_user(uuid, boolean);
DROP FUNCTION pliers._user_taken(uuid, uuid, text, text);
DROP FUNCTION pliers._raise_user_taken(text[]);
DROP FUNCTION pliers._check_user_roles(text[]);
DROP FUNCTION pliers._check_user_fields(text, text, text, text, text, text, text, text);
DROP FUNCTION pliers._user_payload(pliers.users);
DROP FUNCTION pliers.user_status_moves();

DROP TABLE pliers.user_secrets;

ALTER TABLE pliers.users DROP COLUMN invitation_expires_at;
ALTER TABLE pliers.users DROP COLUMN locked_until;
ALTER TABLE pliers.users DROP COLUMN failed_login_count;

RESET ROLE;
