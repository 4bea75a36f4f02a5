import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, listen, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from './runs-fixtures.ts';
import { connectAgent, type SimulatedAgent } from './runs-agents.ts';
import { DEFAULT_RUN_LIMITS } from '../src/config.ts';
import { dispatcherOf } from '../src/runs/dispatcher.ts';
import { createGroupKeys } from '../../electron/runtime/group-crypto.ts';
import { TokenService } from '../src/auth/tokens.ts';

let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);
const HOUR = 3600_000;

describe(`run limits, maintenance and cancel (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let baseUrl: string;
  let environmentId: string;
  let owner: FixtureUser;
  let flowId: string;
  const agents: SimulatedAgent[] = [];
  /** Tokens minted on the test clock (it moves by hours here). */
  let tokens: TokenService;
  const userToken = () => tokens.issue({ kind: 'user', userId: owner.id });

  beforeAll(async () => {
    cloud = await buildCloud({
      now,
      agent: { heartbeatSeconds: 10, offlineAfterSeconds: 24 * 3600 * 10, sweepSeconds: 3600, helloTimeoutSeconds: 5 },
      runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600, maxQueuedPerTarget: 3 },
    });
    baseUrl = await listen(cloud);
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Limit Owner', ['MachineOwner']);
    tokens = await TokenService.load(cloud.db, 3600, now);
    flowId = (await call(cloud.app, 'POST', '/api/v1/desktop-flows', { token: await userToken(), body: { name: 'noop', runtime: 'shell', script: 'true' } })).json().id;
  });
  afterAll(async () => {
    for (const agent of agents) agent.kill();
    await cloud?.close();
  });

  async function setup(n: number) {
    const group = await createKeyedGroup(cloud.db, environmentId, owner.id);
    const machines = [];
    for (let i = 0; i < n; i++) machines.push(await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id }));
    const connection = await call(cloud.app, 'POST', '/api/v1/connections', {
      token: await userToken(),
      body: { name: 'c', target: { type: 'MachineGroup', id: group.id }, username: 'robot', password: 'pw-123456' },
    });
    return { group, machines, connectionId: connection.json().id as string };
  }
  const connect = async (machine: { id: string; token: string; fingerprint: string }) => {
    const agent = await connectAgent(baseUrl, { ...machine, token: await tokens.issue({ kind: 'machine', machineId: machine.id }) });
    agents.push(agent);
    return agent;
  };
  const queue = async (connectionId: string) =>
    call(cloud.app, 'POST', '/api/v1/runs', { token: await userToken(), body: { desktopFlowId: flowId, connectionId, runMode: 'Unattended' } });
  const queued = async (connectionId: string) => {
    const response = await queue(connectionId);
    expect(response.statusCode, response.body).toBe(202);
    return response.json().id as string;
  };
  const run = async (id: string) => (await call(cloud.app, 'GET', `/api/v1/runs/${id}`, { token: await userToken() })).json();
  const sweep = () => dispatcherOf(cloud.app.cloud).sweep();
  async function startOn(agent: SimulatedAgent, runId: string) {
    const assign = await agent.next('assign');
    expect(assign.runId).toBe(runId);
    agent.send({ type: 'accepted', runId, attempt: assign.attempt });
    await agent.next('ack');
    agent.send({ type: 'started', runId, attempt: assign.attempt });
    await expect.poll(async () => (await run(runId)).status).toBe('Running');
    return assign;
  }

  it('fails a run queued for 3 hours with QueueTimeout, warning shortly before', async () => {
    const { connectionId } = await setup(0);
    const id = await queued(connectionId);
    expect((await run(id)).waitingReason).toBe('NoMachineOnline');
    clockOffsetMs += 2.9 * HOUR;
    await sweep();
    expect(await run(id)).toMatchObject({ status: 'Queued', waitingReason: 'QueueTimeoutNear' });
    clockOffsetMs += 0.11 * HOUR;
    await sweep();
    expect(await run(id)).toMatchObject({ status: 'Failed', error: { code: 'QueueTimeout' } });
  });

  it('stops a run still running after 24 hours: TimedOut, and the machine is told to stop it', async () => {
    const { machines, connectionId } = await setup(1);
    const agent = await connect(machines[0]!);
    const id = await queued(connectionId);
    const assign = await startOn(agent, id);
    clockOffsetMs += 23 * HOUR;
    agent.send({ type: 'heartbeat', runningRunIds: [id] });
    await expect.poll(async () => (await cloud.db.query<{ l: Date }>('SELECT lease_expires_at AS l FROM runs WHERE id = $1', [id]))[0]!.l > now()).toBe(true);
    await sweep();
    expect((await run(id)).status).toBe('Running');
    clockOffsetMs += 1.01 * HOUR;
    agent.send({ type: 'heartbeat', runningRunIds: [id] });
    await expect.poll(async () => (await cloud.db.query<{ l: Date }>('SELECT lease_expires_at AS l FROM runs WHERE id = $1', [id]))[0]!.l > now()).toBe(true);
    await sweep();
    expect(await run(id)).toMatchObject({ status: 'TimedOut', error: { code: 'RunTimeout' } });
    expect(await agent.next('cancel')).toMatchObject({ runId: id, attempt: assign.attempt, reason: 'TimedOut' });
    // The agent's late report does not change the outcome.
    agent.send({ type: 'finished', runId: id, attempt: assign.attempt, status: 'TimedOut', outputs: null, error: { code: 'RunTimeout', message: 'stopped' } });
    await agent.next('ack');
    expect((await run(id)).status).toBe('TimedOut');
  });

  it('refuses the 4th queued run of a target with QueueFull (limit 3 here), also under concurrent submissions', async () => {
    const { connectionId } = await setup(0);
    const answers = await Promise.all(Array.from({ length: 6 }, () => queue(connectionId)));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes).toEqual([202, 202, 202, 409, 409, 409]);
    expect(answers.find((a) => a.statusCode === 409)!.json().code).toBe('QueueFull');
  });

  it('maintenance (group or machine): no new assignments, running runs finish; assignments resume after', async () => {
    const { group, machines, connectionId } = await setup(1);
    const agent = await connect(machines[0]!);
    const first = await queued(connectionId);
    const assign = await startOn(agent, first);

    const patch = await call(cloud.app, 'PATCH', `/api/v1/machine-groups/${group.id}`, { token: await userToken(), body: { maintenance: true } });
    expect(patch.statusCode, patch.body).toBe(200);
    const second = await queued(connectionId);
    agent.send({ type: 'finished', runId: first, attempt: assign.attempt, status: 'Succeeded', outputs: { done: 1 }, error: null });
    await agent.next('ack');
    expect((await run(first)).status).toBe('Succeeded');
    await sweep();
    expect(await agent.nothing('assign', 300)).toBe(true);
    expect(await run(second)).toMatchObject({ status: 'Queued', waitingReason: 'Maintenance' });

    // Machine maintenance on, then group maintenance off: still nothing.
    const machinePatch = await call(cloud.app, 'PATCH', `/api/v1/machines/${machines[0]!.id}`, { token: await userToken(), body: { maintenance: true } });
    expect(machinePatch.statusCode, machinePatch.body).toBe(200);
    await call(cloud.app, 'PATCH', `/api/v1/machine-groups/${group.id}`, { token: await userToken(), body: { maintenance: false } });
    await sweep();
    expect(await agent.nothing('assign', 300)).toBe(true);
    expect((await run(second)).waitingReason).toBe('Maintenance');

    // Machine maintenance off: the waiting run is pushed at once, not at the next sweep (an hour here).
    await call(cloud.app, 'PATCH', `/api/v1/machines/${machines[0]!.id}`, { token: await userToken(), body: { maintenance: false } });
    expect((await agent.next('assign')).runId).toBe(second);
  });

  it('cancels: a queued run at once, an unaccepted assignment at once, a running one when its machine has stopped it', async () => {
    const { machines, connectionId } = await setup(1);
    const early = await queued(connectionId);
    expect((await call(cloud.app, 'POST', `/api/v1/runs/${early}/cancel`, { token: await userToken() })).json()).toMatchObject({ status: 'Cancelled' });

    const agent = await connect(machines[0]!);
    const pending = await queued(connectionId);
    const offered = await agent.next('assign');
    expect((await call(cloud.app, 'POST', `/api/v1/runs/${pending}/cancel`, { token: await userToken() })).json()).toMatchObject({ status: 'Cancelled' });
    expect(await agent.next('cancel')).toMatchObject({ runId: pending, reason: 'Cancelled' });
    agent.send({ type: 'accepted', runId: pending, attempt: offered.attempt });
    expect((await agent.next('cancel')).runId).toBe(pending);

    const running = await queued(connectionId);
    const assign = await startOn(agent, running);
    const answer = await call(cloud.app, 'POST', `/api/v1/runs/${running}/cancel`, { token: await userToken() });
    expect(answer.json()).toMatchObject({ status: 'Running', cancelRequestedAt: expect.any(String) });
    expect(await agent.next('cancel')).toMatchObject({ runId: running, attempt: assign.attempt, reason: 'Cancelled' });
    agent.send({ type: 'finished', runId: running, attempt: assign.attempt, status: 'Cancelled', outputs: null, error: { code: 'Cancelled', message: 'stopped' } });
    await agent.next('ack');
    expect(await run(running)).toMatchObject({ status: 'Cancelled' });
  });

  it('fails queued runs whose connection broke (group key replaced) and refuses new runs on it', async () => {
    const { group, connectionId } = await setup(0);
    const id = await queued(connectionId);
    await cloud.db.query('UPDATE machine_groups SET encryption_public_key = $2 WHERE id = $1', [group.id, createGroupKeys().encryption.publicKey]);
    await sweep();
    expect(await run(id)).toMatchObject({ status: 'Failed', error: { code: 'ConnectionBroken' } });
    expect((await queue(connectionId)).json().code).toBe('ConnectionBroken');
  });
});
