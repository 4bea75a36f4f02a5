/**
 * How many runs each group has running and queued, for `GET /machine-groups`: counted by the
 * runs area (cloud/src/runs/queue.ts), the one place that knows the run states.
 */
import type { Queryable } from '../db/database.ts';
import { runCountsByGroup } from '../runs/queue.ts';

export interface RunCounts {
  running: number;
  queued: number;
}

export async function groupRunCounts(db: Queryable, groupIds: readonly string[]): Promise<Map<string, RunCounts>> {
  return runCountsByGroup(db, groupIds);
}
