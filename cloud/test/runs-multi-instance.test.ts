/**
 * Several cloud instances on one PostgreSQL database: a change made through one instance wakes
 * the instance that holds the machines' sockets at once (LISTEN/NOTIFY, wakeups.ts), not at
 * the next sweep — every sweep here is set to an hour to prove it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, buildCloudOn, call, DATABASE_ENGINE, freshDatabase, listen, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from './runs-fixtures.ts';
import { connectAgent, type SimulatedAgent } from './runs-agents.ts';
import { DEFAULT_RUN_LIMITS, type CloudConfig } from '../src/config.ts';
import { dispatcherOf } from '../src/runs/dispatcher.ts';
import { injectSender, joinWithKeys, leaveGroup } from './group-client.ts';

/** Well under the default one-second sweep: only a wake-up can be this fast. */
const PROMPT_MS = 800;

const config: Partial<CloudConfig> = {
  agent: { heartbeatSeconds: 10, offlineAfterSeconds: 3600, sweepSeconds: 3600, helloTimeoutSeconds: 5 },
  runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600, acceptSeconds: 30, leaseSeconds: 60 },
};

describe(`LISTEN/NOTIFY (${DATABASE_ENGINE})`, () => {
  it('delivers a notification when its transaction commits, and not when it rolls back', async () => {
    const database = await freshDatabase();
    try {
      const received: string[] = [];
      const subscription = await database.db.listen('mr_test_channel', { message: (payload) => received.push(payload) });
      await database.db.transaction(async (tx) => {
        await tx.query(`SELECT pg_notify('mr_test_channel', 'committed')`);
        await new Promise((r) => setTimeout(r, 50));
        expect(received).toEqual([]); // not before the commit
      });
      await database.db.transaction(async (tx) => {
        await tx.query(`SELECT pg_notify('mr_test_channel', 'rolled back')`);
        throw new Error('roll back');
      }).catch(() => undefined);
      await database.db.query(`SELECT pg_notify('mr_test_channel', 'after')`);
      await expect.poll(() => received, { timeout: 2000 }).toEqual(['committed', 'after']);
      await subscription.close();
    } finally {
      await database.drop();
    }
  });
});

// PGlite is one process with one database session: there is no second instance to wake, so
// the two-instance suite runs on PostgreSQL only (npm test runs it there).
describe.skipIf(DATABASE_ENGINE === 'pglite')('two cloud instances on one PostgreSQL database (PostgreSQL only: PGlite is one process)', () => {
  let a: TestCloud;
  let b: TestCloud;
  let urlA: string;
  let urlB: string;
  let environmentId: string;
  let owner: FixtureUser;
  let flowId: string;
  const agents: SimulatedAgent[] = [];

  beforeAll(async () => {
    a = await buildCloud(config);
    b = await buildCloudOn(a.databaseUrl!, config);
    urlA = await listen(a);
    urlB = await listen(b);
    environmentId = await createEnvironment(a.db);
    owner = await createUser(a.db, environmentId, 'Fleet Owner', ['MachineOwner']);
    const flow = await call(a.app, 'POST', '/api/v1/desktop-flows', { token: owner.token, body: { name: 'noop', runtime: 'shell', script: 'true' } });
    flowId = flow.json().id;
  });
  afterAll(async () => {
    for (const agent of agents) agent.kill();
    await b?.close();
    await a?.close();
  });

  async function setup(n: number) {
    const group = await createKeyedGroup(a.db, environmentId, owner.id);
    const machines = [];
    for (let i = 0; i < n; i++) machines.push(await createKeyedMachine(a.db, environmentId, owner.id, { groupId: group.id }));
    const connection = await call(a.app, 'POST', '/api/v1/connections', {
      token: owner.token,
      body: { name: `conn-${group.id.slice(0, 6)}`, target: { type: 'MachineGroup', id: group.id }, username: 'robot', password: 'pw-123456' },
    });
    expect(connection.statusCode, connection.body).toBe(201);
    return { group, machines, connectionId: connection.json().id as string };
  }
  const connect = async (baseUrl: string, machine: { id: string; token: string; fingerprint: string }) => {
    const agent = await connectAgent(baseUrl, machine);
    agents.push(agent);
    // Its hello has reached the dispatcher of that instance.
    const cloud = baseUrl === urlA ? a : b;
    await expect.poll(() => dispatcherOf(cloud.app.cloud).localMachineIds().includes(machine.id)).toBe(true);
    return agent;
  };
  const queueThrough = async (cloud: TestCloud, connectionId: string) => {
    const response = await call(cloud.app, 'POST', '/api/v1/runs', {
      token: owner.token,
      body: { desktopFlowId: flowId, connectionId, runMode: 'Unattended' },
    });
    expect(response.statusCode, response.body).toBe(202);
    return response.json().id as string;
  };
  const cancelThrough = async (cloud: TestCloud, runId: string) => {
    const response = await call(cloud.app, 'POST', `/api/v1/runs/${runId}/cancel`, { token: owner.token });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };
  const statusOf = async (runId: string) => (await call(a.app, 'GET', `/api/v1/runs/${runId}`, { token: owner.token })).json().status as string;
  /** Resolves with the message and how long it took to arrive. */
  const timed = async <T>(wait: Promise<T>) => {
    const started = performance.now();
    const message = await wait;
    return { message, ms: performance.now() - started };
  };

  it('assigns a run queued through instance B to a machine connected to instance A at once', async () => {
    const { machines, connectionId } = await setup(1);
    const agent = await connect(urlA, machines[0]!);
    const started = performance.now();
    const runId = await queueThrough(b, connectionId);
    const assign = await agent.next('assign', 5000);
    const ms = performance.now() - started;
    expect(assign.runId).toBe(runId);
    expect(ms).toBeLessThan(PROMPT_MS);

    agent.send({ type: 'accepted', runId, attempt: assign.attempt });
    await agent.next('ack');
    agent.send({ type: 'started', runId, attempt: assign.attempt });
    agent.send({ type: 'finished', runId, attempt: assign.attempt, status: 'Succeeded', outputs: { ok: true }, error: null });
    await agent.next('ack');
    await expect.poll(() => statusOf(runId)).toBe('Succeeded');
  });

  it('passes a cancel made through B to the agent running the run on A', async () => {
    const { machines, connectionId } = await setup(1);
    const agent = await connect(urlA, machines[0]!);
    const runId = await queueThrough(b, connectionId);
    const assign = await agent.next('assign');
    agent.send({ type: 'accepted', runId, attempt: assign.attempt });
    await agent.next('ack');
    agent.send({ type: 'started', runId, attempt: assign.attempt });
    await expect.poll(() => statusOf(runId)).toBe('Running');

    const view = await cancelThrough(b, runId);
    expect(view.status).toBe('Running'); // until the machine confirms the flow stopped
    const { message: cancel, ms } = await timed(agent.next('cancel', 5000));
    expect(cancel).toMatchObject({ runId, attempt: assign.attempt, reason: 'Cancelled' });
    expect(ms).toBeLessThan(PROMPT_MS);

    agent.send({ type: 'finished', runId, attempt: assign.attempt, status: 'Cancelled', outputs: null, error: { code: 'Cancelled', message: 'stopped' } });
    await agent.next('ack');
    await expect.poll(() => statusOf(runId)).toBe('Cancelled');
  });

  it('frees the machine on A at once when B cancels its run before it was accepted: the next run follows', async () => {
    const { machines, connectionId } = await setup(1);
    const agent = await connect(urlA, machines[0]!);
    const first = await queueThrough(b, connectionId);
    const assign = await agent.next('assign');
    expect(assign.runId).toBe(first);
    const second = await queueThrough(b, connectionId);
    expect(await agent.nothing('assign', 200)).toBe(true); // the machine is busy with the first

    await cancelThrough(b, first);
    expect(await statusOf(first)).toBe('Cancelled');
    const { message: cancel } = await timed(agent.next('cancel', 5000));
    expect(cancel.runId).toBe(first);
    const { message: next, ms } = await timed(agent.next('assign', 5000));
    expect(next.runId).toBe(second);
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it('gives a machine connected to A the queued runs of a group it joins through B at once, and none after it leaves', async () => {
    const { group, connectionId } = await setup(0);
    const waiting = await queueThrough(a, connectionId);
    const newcomer = await createKeyedMachine(a.db, environmentId, owner.id, { name: `vm-new-${group.id.slice(0, 6)}` });
    const onA = await connect(urlA, newcomer);
    expect(await onA.nothing('assign', 200)).toBe(true);

    const throughB = injectSender(b.app);
    const machine = { id: newcomer.id, token: newcomer.token, name: 'newcomer' };
    const joining = timed(onA.next('assign', 5000));
    const { reply } = await joinWithKeys(throughB, machine, group.id, group.keys);
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    const { message, ms } = await joining;
    expect(message.runId).toBe(waiting);
    expect(ms).toBeLessThan(PROMPT_MS);
    onA.send({ type: 'accepted', runId: message.runId, attempt: message.attempt });
    onA.send({ type: 'started', runId: message.runId, attempt: message.attempt });
    onA.send({ type: 'finished', runId: message.runId, attempt: message.attempt, status: 'Succeeded', outputs: {}, error: null });
    await expect.poll(() => statusOf(waiting)).toBe('Succeeded');

    // It leaves through B: runs queued on the group afterwards are not offered to it.
    expect((await leaveGroup(throughB, machine, group.id)).status).toBe(204);
    await expect.poll(() => dispatcherOf(a.app.cloud).localMachineGroup(newcomer.id)).toBe(null);
    await queueThrough(b, connectionId);
    expect(await onA.nothing('assign', 500)).toBe(true);
  });

  it('hands a run refused on a machine of A to a free machine connected to B at once', async () => {
    const { machines, connectionId } = await setup(2);
    const onA = await connect(urlA, machines[0]!);
    const runId = await queueThrough(a, connectionId);
    const first = await onA.next('assign');
    expect(first.runId).toBe(runId);
    // The second machine comes online (on B) while the run is assigned: nothing to take yet.
    const onB = await connect(urlB, machines[1]!);
    expect(await onB.nothing('assign', 200)).toBe(true);

    onA.send({ type: 'rejected', runId, attempt: first.attempt, code: 'CredentialsUnavailable' });
    const { message: second, ms } = await timed(onB.next('assign', 5000));
    expect(second).toMatchObject({ runId, attempt: first.attempt + 1 });
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it('re-establishes a listening connection that drops, and dispatches what it missed meanwhile', async () => {
    const { machines, connectionId } = await setup(1);
    const agent = await connect(urlA, machines[0]!);
    const listeners = async () =>
      (
        await a.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'machine-runtime-listen'`,
        )
      )[0]!.n;
    expect(await listeners()).toBe(2); // one per instance

    // Both listening sessions are killed (as by a database failover or a proxy timeout) and a
    // run is queued through B right away, while A is not listening.
    const killed = await a.db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'machine-runtime-listen'`,
    );
    expect(killed).toHaveLength(2);
    const missed = await queueThrough(b, connectionId);
    const assign = await agent.next('assign', 5000);
    expect(assign.runId).toBe(missed);
    await expect.poll(listeners, { timeout: 5000 }).toBe(2);

    // Listening again: the next run is a prompt wake-up as before.
    agent.send({ type: 'accepted', runId: missed, attempt: assign.attempt });
    await agent.next('ack');
    agent.send({ type: 'started', runId: missed, attempt: assign.attempt });
    agent.send({ type: 'finished', runId: missed, attempt: assign.attempt, status: 'Succeeded', outputs: null, error: null });
    await agent.next('ack');
    await expect.poll(() => statusOf(missed)).toBe('Succeeded');
    const started = performance.now();
    const next = await queueThrough(b, connectionId);
    expect((await agent.next('assign', 5000)).runId).toBe(next);
    expect(performance.now() - started).toBeLessThan(PROMPT_MS);
  });
});
