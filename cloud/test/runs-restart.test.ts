import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DATABASE_ENGINE, freshDatabase } from './helper.ts';
import { createEnvironment, createUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from './runs-fixtures.ts';
import { connectAgent, type SimulatedAgent } from './runs-agents.ts';
import { startCloud, type RunningCloud } from '../src/start.ts';
import { DEFAULT_RUN_LIMITS } from '../src/config.ts';
import { dispatcherOf } from '../src/runs/dispatcher.ts';
import { TokenService } from '../src/auth/tokens.ts';

let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

/** The cloud process stops and starts again (same database) with runs in every state. */
describe(`runs across a cloud restart (${DATABASE_ENGINE})`, () => {
  let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let dataDir: string | undefined;
  let cloud: RunningCloud;
  let port = 0;
  const agents: SimulatedAgent[] = [];

  const start = async () => {
    cloud = await startCloud({
      port,
      host: '127.0.0.1',
      logLevel: false,
      ...(database?.url ? { databaseUrl: database.url } : { dataDir }),
      config: {
        now,
        agent: { heartbeatSeconds: 10, offlineAfterSeconds: 3600, sweepSeconds: 3600, helloTimeoutSeconds: 5 },
        runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600 },
      },
    });
    port = Number(new URL(cloud.url).port);
  };

  beforeAll(async () => {
    if (process.env.TEST_DATABASE_URL) {
      database = await freshDatabase();
      await database.db.close().catch(() => undefined);
    } else {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'mr-restart-'));
    }
    await start();
  });
  afterAll(async () => {
    for (const agent of agents) agent.kill();
    await cloud?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (database) await database.drop().catch(() => undefined);
  });

  it('loses nothing and runs nothing twice', async () => {
    const environmentId = await createEnvironment(cloud.db);
    const owner = await createUser(cloud.db, environmentId, 'Restart Owner', ['MachineOwner']);
    const group = await createKeyedGroup(cloud.db, environmentId, owner.id);
    const a = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    const b = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    const tokens = async () => TokenService.load(cloud.db, 3600, now);
    const userToken = async () => (await tokens()).issue({ kind: 'user', userId: owner.id });
    const machineAgent = async (machine: typeof a) => {
      const agent = await connectAgent(cloud.url, { ...machine, token: await (await tokens()).issue({ kind: 'machine', machineId: machine.id }) });
      agents.push(agent);
      return agent;
    };
    const api = async (method: string, url: string, body?: unknown) => {
      const response = await fetch(`${cloud.url}/api/v1${url}`, {
        method,
        headers: { authorization: `Bearer ${await userToken()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return (await response.json()) as Record<string, unknown> & { id: string; status: string };
    };
    const flowId = (await api('POST', '/desktop-flows', { name: 'noop', runtime: 'shell', script: 'true' })).id;
    const connectionId = (await api('POST', '/connections', { name: 'c', target: { type: 'MachineGroup', id: group.id }, username: 'u', password: 'pw-123456' })).id;
    const queue = async () => (await api('POST', '/runs', { desktopFlowId: flowId, connectionId, runMode: 'Unattended' })).id;
    const status = async (id: string) => (await api('GET', `/runs/${id}`)).status;
    const assigns = new Map<string, number>();
    const countAssign = (runId: string) => assigns.set(runId, (assigns.get(runId) ?? 0) + 1);

    // Succeeded before the restart.
    let agentA = await machineAgent(a);
    const done = await queue();
    const doneAssign = await agentA.next('assign');
    countAssign(done);
    agentA.send({ type: 'accepted', runId: done, attempt: doneAssign.attempt });
    await agentA.next('ack');
    agentA.send({ type: 'started', runId: done, attempt: doneAssign.attempt });
    agentA.send({ type: 'finished', runId: done, attempt: doneAssign.attempt, status: 'Succeeded', outputs: { n: 1 }, error: null });
    await agentA.next('ack');

    // Running on A, assigned (never accepted) on B, queued, cancelled.
    const running = await queue();
    const runningAssign = await agentA.next('assign');
    countAssign(running);
    agentA.send({ type: 'accepted', runId: running, attempt: runningAssign.attempt });
    await agentA.next('ack');
    agentA.send({ type: 'started', runId: running, attempt: runningAssign.attempt });
    let agentB = await machineAgent(b);
    const assigned = await queue();
    const assignedFirst = await agentB.next('assign');
    countAssign(assigned);
    const waiting = await queue();
    const cancelled = await queue();
    await api('POST', `/runs/${cancelled}/cancel`);
    await expect.poll(() => status(running)).toBe('Running');
    expect(await status(assigned)).toBe('Assigned');
    expect(await status(waiting)).toBe('Queued');

    // The cloud stops (its sockets close) and starts again on the same database.
    await cloud.close();
    await Promise.all([agentA.closed, agentB.closed]);
    await start();
    expect([await status(done), await status(running), await status(assigned), await status(waiting), await status(cancelled)]).toEqual([
      'Succeeded',
      'Running',
      'Assigned',
      'Queued',
      'Cancelled',
    ]);

    // B reconnects without the assignment it never accepted: it is requeued after its deadline.
    // A reconnects, still running its flow, and heartbeats: nothing restarted or requeued it.
    agentB = await machineAgent(b);
    agentA = await machineAgent(a);
    agentA.send({ type: 'heartbeat', runningRunIds: [running] });
    clockOffsetMs += 6_000;
    await dispatcherOf(cloud.server.cloud).sweep();
    expect(await status(running)).toBe('Running');
    agentA.send({ type: 'finished', runId: running, attempt: runningAssign.attempt, status: 'Succeeded', outputs: { n: 2 }, error: null });
    await agentA.next('ack');
    expect(await status(running)).toBe('Succeeded');

    const collect = async (agent: SimulatedAgent) => {
      for (;;) {
        let assign;
        try {
          assign = await agent.next('assign', 1500);
        } catch {
          return;
        }
        countAssign(assign.runId);
        agent.send({ type: 'accepted', runId: assign.runId, attempt: assign.attempt });
        await agent.next('ack');
        agent.send({ type: 'started', runId: assign.runId, attempt: assign.attempt });
        agent.send({ type: 'finished', runId: assign.runId, attempt: assign.attempt, status: 'Succeeded', outputs: null, error: null });
        await agent.next('ack');
      }
    };
    await Promise.all([collect(agentA), collect(agentB)]);
    expect([await status(assigned), await status(waiting), await status(cancelled)]).toEqual(['Succeeded', 'Succeeded', 'Cancelled']);
    // Each run was started at most once: only the never-accepted one was offered twice.
    expect(Object.fromEntries(assigns)).toEqual({ [done]: 1, [running]: 1, [assigned]: 2, [waiting]: 1 });
    expect((await api('GET', `/runs/${assigned}`)).attempt).toBe(assignedFirst.attempt + 1);
  });
});
