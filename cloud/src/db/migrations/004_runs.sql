-- Desktop flow runs: flows, the run queue, run logs, the agents' session state, and what keeps
-- connections honest (sealed-to key, broken when their target goes away or changes its key).

-- The public key a connection's password was sealed to (raw 32 bytes, base64): a group whose
-- key is replaced can no longer open it.
ALTER TABLE connections ADD COLUMN sealed_to_key text;
ALTER TABLE connections ADD COLUMN broken_at timestamptz;
CREATE INDEX connections_owner ON connections (owner_id);

-- A connection breaks when its target is deleted or when its group's encryption key changes.
-- (Joining a group breaks the machine's own connections: the groups area does that.)
CREATE FUNCTION break_connections_of_deleted_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE connections
     SET status = 'Broken', broken_at = now(),
         broken_reason = CASE TG_ARGV[0] WHEN 'MachineGroup' THEN 'The machine group was deleted.'
                                         ELSE 'The machine was deleted.' END
   WHERE target_type = TG_ARGV[0] AND target_id = OLD.id AND status = 'Connected';
  RETURN OLD;
END $$;

CREATE TRIGGER machine_groups_break_connections AFTER DELETE ON machine_groups
  FOR EACH ROW EXECUTE FUNCTION break_connections_of_deleted_target('MachineGroup');
CREATE TRIGGER machines_break_connections AFTER DELETE ON machines
  FOR EACH ROW EXECUTE FUNCTION break_connections_of_deleted_target('Machine');

CREATE FUNCTION break_connections_of_replaced_group_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE connections
     SET status = 'Broken', broken_at = now(),
         broken_reason = 'The machine group''s key was replaced; create the connection again.'
   WHERE target_type = 'MachineGroup' AND target_id = NEW.id AND status = 'Connected'
     AND sealed_to_key IS DISTINCT FROM NEW.encryption_public_key;
  RETURN NEW;
END $$;

CREATE TRIGGER machine_groups_key_replaced AFTER UPDATE OF encryption_public_key ON machine_groups
  FOR EACH ROW WHEN (OLD.encryption_public_key IS NOT NULL
                     AND OLD.encryption_public_key IS DISTINCT FROM NEW.encryption_public_key)
  EXECUTE FUNCTION break_connections_of_replaced_group_key();

CREATE TABLE desktop_flows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users (id),
  name text NOT NULL,
  runtime text NOT NULL CHECK (runtime IN ('node', 'shell')),
  script text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX desktop_flows_name_key ON desktop_flows (environment_id, lower(name));

-- The queue. A run targets a group (group_id) or a single machine (target_machine_id), as its
-- connection does; machine_id is the machine it is assigned to. No foreign keys to groups and
-- machines: a run's history outlives them (the maintenance sweep fails runs left behind).
CREATE TABLE runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
  flow_id uuid NOT NULL REFERENCES desktop_flows (id),
  connection_id uuid NOT NULL REFERENCES connections (id),
  created_by uuid NOT NULL REFERENCES users (id),
  group_id uuid,
  target_machine_id uuid,
  run_mode text NOT NULL CHECK (run_mode IN ('Attended', 'Unattended')),
  priority text NOT NULL CHECK (priority IN ('High', 'Normal')),
  -- 0 = High, 1 = Normal: the dispatcher orders by (priority_rank, queued_at).
  priority_rank smallint NOT NULL,
  status text NOT NULL DEFAULT 'Queued'
    CHECK (status IN ('Queued', 'Assigned', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'TimedOut')),
  -- The fencing token: +1 on every assignment; a report with another attempt is refused.
  attempt integer NOT NULL DEFAULT 0,
  machine_id uuid,
  queued_at timestamptz NOT NULL,
  assigned_at timestamptz,
  -- Assigned and not accepted by then: back to the queue.
  accept_deadline timestamptz,
  -- The agent accepted (and may start at any moment): never requeued after this.
  accepted_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  lease_expires_at timestamptz,
  cancel_requested_at timestamptz,
  -- Machines that refused this run (e.g. cannot open its credentials): not offered it again.
  rejected_by uuid[] NOT NULL DEFAULT '{}',
  inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
  outputs jsonb,
  error_code text,
  error_message text,
  log_lines integer NOT NULL DEFAULT 0,
  CHECK ((group_id IS NULL) <> (target_machine_id IS NULL))
);
-- "The next runnable run for this group / machine", in dispatch order.
CREATE INDEX runs_queue_group ON runs (group_id, priority_rank, queued_at, id) WHERE status = 'Queued';
CREATE INDEX runs_queue_machine ON runs (target_machine_id, priority_rank, queued_at, id) WHERE status = 'Queued';
-- A machine runs one flow at a time, under concurrency too (two dispatchers cannot both win).
CREATE UNIQUE INDEX runs_one_active_per_machine ON runs (machine_id) WHERE status IN ('Assigned', 'Running');
CREATE INDEX runs_group_history ON runs (group_id, queued_at DESC);
CREATE INDEX runs_machine_history ON runs (machine_id, queued_at DESC);
CREATE INDEX runs_created_by ON runs (created_by, queued_at DESC);

CREATE TABLE run_logs (
  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  at timestamptz NOT NULL,
  stream text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
  line text NOT NULL,
  PRIMARY KEY (run_id, seq)
);

-- What each connected agent said about itself (hello / heartbeats): run modes it can take now.
CREATE TABLE agent_sessions (
  machine_id uuid PRIMARY KEY REFERENCES machines (id) ON DELETE CASCADE,
  accepts_unattended boolean NOT NULL,
  signed_in_user text,
  session_locked boolean NOT NULL,
  updated_at timestamptz NOT NULL
);
