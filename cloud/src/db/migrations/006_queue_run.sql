-- Queueing a run (POST /runs) in one statement: one round trip instead of BEGIN, lock, write,
-- COMMIT, and the target's row lock is held only while this runs (submissions to one target
-- are serialised by that lock, so the time it is held bounds how many a target takes per second).
--
-- 1. Lock the target's row (the group's, or the single machine's): concurrent submissions to one
--    target take turns.
-- 2. Count its queued runs. This function is VOLATILE: in READ COMMITTED each statement in it
--    takes a new snapshot, so this count, made after the lock was granted, sees every run
--    committed by whoever held it before: the limit is exact under concurrency.
-- 3. Below the limit: insert the run, its audit record (who, what; the same columns as
--    audit.ts recordAudit) and announce it to the other cloud instances (NOTIFY, delivered when
--    the statement's transaction commits, never when it fails).
-- outcome: 'Queued' (run_id set), 'QueueFull', or 'TargetDeleted' (no row to lock).
CREATE FUNCTION queue_run(
  p_group_id uuid,
  p_machine_id uuid,
  p_max_queued integer,
  p_environment_id uuid,
  p_flow_id uuid,
  p_connection_id uuid,
  p_created_by uuid,
  p_run_mode text,
  p_priority text,
  p_priority_rank smallint,
  p_inputs jsonb,
  p_queued_at timestamptz,
  p_audit_actor_type text,
  p_audit_actor_id uuid,
  p_audit_action text,
  p_audit_detail jsonb,
  p_wake_channel text,
  p_wake_payload text,
  OUT outcome text,
  OUT run_id uuid
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  waiting integer;
BEGIN
  IF p_group_id IS NOT NULL THEN
    PERFORM 1 FROM machine_groups WHERE id = p_group_id FOR UPDATE;
  ELSE
    PERFORM 1 FROM machines WHERE id = p_machine_id FOR UPDATE;
  END IF;
  IF NOT FOUND THEN
    outcome := 'TargetDeleted';
    RETURN;
  END IF;
  IF p_group_id IS NOT NULL THEN
    SELECT count(*) INTO waiting FROM runs WHERE status = 'Queued' AND group_id = p_group_id;
  ELSE
    SELECT count(*) INTO waiting FROM runs WHERE status = 'Queued' AND target_machine_id = p_machine_id;
  END IF;
  IF waiting >= p_max_queued THEN
    outcome := 'QueueFull';
    RETURN;
  END IF;
  INSERT INTO runs (environment_id, flow_id, connection_id, created_by, group_id, target_machine_id, run_mode, priority,
                    priority_rank, inputs, queued_at)
  VALUES (p_environment_id, p_flow_id, p_connection_id, p_created_by, p_group_id, p_machine_id, p_run_mode, p_priority,
          p_priority_rank, p_inputs, p_queued_at)
  RETURNING id INTO run_id;
  INSERT INTO audit_events (environment_id, actor_type, actor_id, action, target_type, target_id, detail)
  VALUES (p_environment_id, p_audit_actor_type, p_audit_actor_id, p_audit_action, 'run', run_id::text, p_audit_detail);
  PERFORM pg_notify(p_wake_channel, p_wake_payload);
  outcome := 'Queued';
END $$;
