-- Every run used to add a NULL entry to the indexes of the columns it leaves empty (a group's
-- run has no target_machine_id; a queued run no machine_id): upkeep on every insert and state
-- change for entries no query reads. The lookups (`col = $1`) imply the column is not null, so
-- the planner still uses these partial indexes.
DROP INDEX runs_queue_group;
DROP INDEX runs_queue_machine;
CREATE INDEX runs_queue_group ON runs (group_id, priority_rank, moved_to_top_at DESC NULLS LAST, queued_at, id)
  WHERE status = 'Queued' AND group_id IS NOT NULL;
CREATE INDEX runs_queue_machine ON runs (target_machine_id, priority_rank, moved_to_top_at DESC NULLS LAST, queued_at, id)
  WHERE status = 'Queued' AND target_machine_id IS NOT NULL;

DROP INDEX runs_group_history;
DROP INDEX runs_machine_history;
CREATE INDEX runs_group_history ON runs (group_id, queued_at DESC) WHERE group_id IS NOT NULL;
CREATE INDEX runs_machine_history ON runs (machine_id, queued_at DESC) WHERE machine_id IS NOT NULL;
CREATE INDEX runs_target_machine_history ON runs (target_machine_id, queued_at DESC) WHERE target_machine_id IS NOT NULL;

-- A run's events are read by run, in order: one index (the key) serves that, instead of a key on
-- the id alone plus a second index to maintain on every event.
ALTER TABLE run_events DROP CONSTRAINT run_events_pkey;
DROP INDEX run_events_of_run;
ALTER TABLE run_events ADD PRIMARY KEY (run_id, id);
