-- Queue actions ("Change priority", "Move to top") and the queue events kept per run.

-- "Move to top": a co-owner puts a queued run ahead of every other, High ones included. Such a
-- run has priority_rank -1; among several, the latest moved goes first. Changing the priority
-- afterwards puts it back in its priority's lane (the last action wins).
ALTER TABLE runs ADD COLUMN moved_to_top_at timestamptz;

-- Dispatch order: priority_rank (-1 moved to top, 0 High, 1 Normal), then the latest move to
-- top, then oldest first.
DROP INDEX runs_queue_group;
DROP INDEX runs_queue_machine;
CREATE INDEX runs_queue_group ON runs (group_id, priority_rank, moved_to_top_at DESC NULLS LAST, queued_at, id)
  WHERE status = 'Queued';
CREATE INDEX runs_queue_machine ON runs (target_machine_id, priority_rank, moved_to_top_at DESC NULLS LAST, queued_at, id)
  WHERE status = 'Queued';

-- What happened to each run in the queue, oldest first (protocol/api/runs.ts, RUN_EVENT_KINDS).
-- Times come from the cloud's clock like every run time: the transitions that carry their own
-- time in the run row are recorded by the trigger below; the others (refused, requeued,
-- priority changed, moved to top, cancel requested) by the statement that makes them.
CREATE TABLE run_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN ('Queued', 'Assigned', 'Refused', 'Requeued', 'Started', 'PriorityChanged',
                                     'MovedToTop', 'CancelRequested', 'Finished')),
  -- No foreign keys to machines and users: a run's history outlives them.
  machine_id uuid,
  attempt integer,
  actor_id uuid,
  priority text,
  status text,
  code text,
  message text
);
CREATE INDEX run_events_of_run ON run_events (run_id, id);

-- Every path that queues, assigns, starts or ends a run (routes, dispatcher, maintenance sweep)
-- goes through these columns, so the history cannot miss one of them.
CREATE FUNCTION record_run_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO run_events (run_id, at, kind, actor_id, priority)
    VALUES (NEW.id, NEW.queued_at, 'Queued', NEW.created_by, NEW.priority);
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NEW.status = 'Assigned' THEN
      INSERT INTO run_events (run_id, at, kind, machine_id, attempt)
      VALUES (NEW.id, NEW.assigned_at, 'Assigned', NEW.machine_id, NEW.attempt);
    ELSIF NEW.status = 'Running' THEN
      INSERT INTO run_events (run_id, at, kind, machine_id, attempt)
      VALUES (NEW.id, NEW.started_at, 'Started', NEW.machine_id, NEW.attempt);
    ELSIF NEW.status IN ('Succeeded', 'Failed', 'Cancelled', 'TimedOut') THEN
      INSERT INTO run_events (run_id, at, kind, machine_id, attempt, status, code, message)
      VALUES (NEW.id, NEW.finished_at, 'Finished', NEW.machine_id, NEW.attempt, NEW.status, NEW.error_code, NEW.error_message);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER runs_record_transitions AFTER INSERT OR UPDATE OF status ON runs
  FOR EACH ROW EXECUTE FUNCTION record_run_transition();
