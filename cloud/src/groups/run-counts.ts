/**
 * How many runs each group has running and queued, for `GET /machine-groups`. There are no runs
 * yet (the runs issue adds the table); this is the one place that will count them, e.g.
 *   SELECT group_id, count(*) FILTER (WHERE status IN ('Assigned', 'Running')) AS running,
 *          count(*) FILTER (WHERE status = 'Queued') AS queued
 *     FROM runs WHERE group_id = ANY($1::uuid[]) GROUP BY group_id
 */
import type { Queryable } from '../db/database.ts';

export interface RunCounts {
  running: number;
  queued: number;
}

export async function groupRunCounts(_db: Queryable, groupIds: readonly string[]): Promise<Map<string, RunCounts>> {
  return new Map(groupIds.map((id) => [id, { running: 0, queued: 0 }]));
}
