/**
 * Queueing a run (POST /runs), the hot path: many submissions at once on one target (a group,
 * or a single machine) — exactly the limit is queued, each queued run has its audit record
 * written with it, the refused ones leave nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from './runs-fixtures.ts';
import { DEFAULT_RUN_LIMITS } from '../src/config.ts';

const LIMIT = 5;
const SUBMISSIONS = 30;

describe(`queueing runs under load (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let environmentId: string;
  let owner: FixtureUser;
  let flowId: string;

  beforeAll(async () => {
    cloud = await buildCloud({ runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600, maxQueuedPerTarget: LIMIT } });
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Queue Owner', ['MachineOwner']);
    flowId = (await call(cloud.app, 'POST', '/api/v1/desktop-flows', { token: owner.token, body: { name: 'noop', runtime: 'shell', script: 'true' } })).json().id;
  });
  afterAll(async () => cloud?.close());

  const connectionTo = async (target: { type: 'MachineGroup' | 'Machine'; id: string }) =>
    (
      await call(cloud.app, 'POST', '/api/v1/connections', {
        token: owner.token,
        body: { name: `c-${target.id.slice(0, 8)}`, target, username: 'robot', password: 'pw-123456' },
      })
    ).json().id as string;

  it.each(['MachineGroup', 'Machine'] as const)(
    'queues exactly the limit out of many concurrent submissions on a %s, each with its audit record',
    async (type) => {
      // No machine is connected: everything queued stays queued.
      const target =
        type === 'MachineGroup'
          ? await createKeyedGroup(cloud.db, environmentId, owner.id)
          : await createKeyedMachine(cloud.db, environmentId, owner.id);
      const connectionId = await connectionTo({ type, id: target.id });
      const answers = await Promise.all(
        Array.from({ length: SUBMISSIONS }, (_, i) =>
          call(cloud.app, 'POST', '/api/v1/runs', {
            token: owner.token,
            body: { desktopFlowId: flowId, connectionId, runMode: 'Unattended', priority: i % 2 ? 'High' : 'Normal' },
          }),
        ),
      );
      const queued = answers.filter((a) => a.statusCode === 202).map((a) => a.json() as { id: string; status: string });
      expect(queued).toHaveLength(LIMIT);
      for (const body of queued) expect(Object.keys(body).sort()).toEqual(['id', 'status']);
      expect(new Set(queued.map((q) => q.status))).toEqual(new Set(['Queued']));
      const refused = answers.filter((a) => a.statusCode !== 202);
      expect(refused).toHaveLength(SUBMISSIONS - LIMIT);
      for (const answer of refused) expect(answer).toMatchObject({ statusCode: 409 });
      expect(new Set(refused.map((a) => a.json().code))).toEqual(new Set(['QueueFull']));

      const column = type === 'MachineGroup' ? 'group_id' : 'target_machine_id';
      const runs = await cloud.db.query<{ id: string; status: string; priority: string }>(
        `SELECT id, status, priority FROM runs WHERE ${column} = $1`,
        [target.id],
      );
      expect(runs.map((r) => r.id).sort()).toEqual(queued.map((q) => q.id).sort());
      expect(runs.every((r) => r.status === 'Queued')).toBe(true);

      // One record per queued run, who and what; none for the refused submissions.
      const records = await cloud.db.query<{ target_id: string; actor_type: string; actor_id: string; environment_id: string; detail: Record<string, unknown> }>(
        `SELECT target_id, actor_type, actor_id, environment_id, detail FROM audit_events WHERE action = 'run.queued' AND detail -> 'target' ->> 'id' = $1`,
        [target.id],
      );
      expect(records.map((r) => r.target_id).sort()).toEqual(queued.map((q) => q.id).sort());
      const priorityOf = new Map(runs.map((r) => [r.id, r.priority]));
      for (const record of records) {
        expect(record).toMatchObject({ actor_type: 'user', actor_id: owner.id, environment_id: environmentId });
        expect(record.detail).toEqual({ flow: 'noop', target: { type, id: target.id }, runMode: 'Unattended', priority: priorityOf.get(record.target_id) });
      }
    },
  );
});
