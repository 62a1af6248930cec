-- Rollback of 0035 (the job queue).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '5min';
SET LOCAL ROLE pliers_owner;

DROP FUNCTION pliers.purge_jobs(interval, interval, integer);
DROP FUNCTION pliers.job_queue_status();
DROP FUNCTION pliers.release_job(uuid, uuid, text, integer);
DROP FUNCTION pliers.extend_job_lease(uuid, uuid, text, integer, interval);
DROP FUNCTION pliers.fail_job(uuid, uuid, text, integer, text, boolean);
DROP FUNCTION pliers.complete_job(uuid, uuid, text, integer);
DROP FUNCTION pliers._lock_job_lease(uuid, uuid, text, integer);
DROP FUNCTION pliers.claim_jobs(text, integer, interval, text[], uuid);
DROP FUNCTION pliers._ready_job_tenants(integer, text[], uuid);
DROP FUNCTION pliers._expire_job_leases(integer);
DROP FUNCTION pliers.retry_dead_job(uuid);
DROP FUNCTION pliers.list_jobs(text, text, integer, timestamptz, uuid);
DROP FUNCTION pliers.get_job(uuid);
DROP FUNCTION pliers.enqueue_job(text, jsonb, text, timestamptz, integer);
DROP FUNCTION pliers._enqueue_job(uuid, text, jsonb, text, timestamptz, integer, uuid, uuid, jsonb);
DROP FUNCTION pliers._job_retry_policy(jsonb);
DROP FUNCTION pliers._job_errors(text, jsonb, text, integer);
DROP FUNCTION pliers._raise_job_argument(text, text);
DROP FUNCTION pliers.job_limits();
DROP TABLE pliers.jobs;

RESET ROLE;
