import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, listen, type TestCloud } from './helper.ts';
import { createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from './runs-fixtures.ts';
import { connectAgent, type SimulatedAgent } from './runs-agents.ts';
import { DEFAULT_RUN_LIMITS } from '../src/config.ts';
import { dispatcherOf } from '../src/runs/dispatcher.ts';

let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

describe(`run queue and push dispatch (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let baseUrl: string;
  let environmentId: string;
  let owner: FixtureUser;
  let flowId: string;
  const agents: SimulatedAgent[] = [];

  beforeAll(async () => {
    cloud = await buildCloud({
      now,
      agent: { heartbeatSeconds: 10, offlineAfterSeconds: 3600, sweepSeconds: 3600, helloTimeoutSeconds: 5 },
      runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600, acceptSeconds: 5, leaseSeconds: 30 },
    });
    baseUrl = await listen(cloud);
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Queue Owner', ['MachineOwner']);
    const flow = await call(cloud.app, 'POST', '/api/v1/desktop-flows', { token: owner.token, body: { name: 'noop', runtime: 'shell', script: 'true' } });
    flowId = flow.json().id;
  });
  afterAll(async () => {
    for (const agent of agents) agent.kill();
    await cloud?.close();
  });

  /** A keyed group with `n` machines and a connection to it. */
  async function setup(n: number) {
    const group = await createKeyedGroup(cloud.db, environmentId, owner.id);
    const machines = [];
    for (let i = 0; i < n; i++) machines.push(await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id }));
    const connection = await call(cloud.app, 'POST', '/api/v1/connections', {
      token: owner.token,
      body: { name: `conn-${group.id.slice(0, 6)}`, target: { type: 'MachineGroup', id: group.id }, username: 'robot', password: 'pw-123456' },
    });
    return { group, machines, connectionId: connection.json().id as string };
  }
  const connect = async (machine: { id: string; token: string; fingerprint: string }, options?: Parameters<typeof connectAgent>[2]) => {
    const agent = await connectAgent(baseUrl, machine, options);
    agents.push(agent);
    return agent;
  };
  const queue = async (connectionId: string, extra: Record<string, unknown> = {}) => {
    const response = await call(cloud.app, 'POST', '/api/v1/runs', {
      token: owner.token,
      body: { desktopFlowId: flowId, connectionId, runMode: 'Unattended', ...extra },
    });
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json().status).toBe('Queued');
    return response.json().id as string;
  };
  const run = async (id: string) => (await call(cloud.app, 'GET', `/api/v1/runs/${id}`, { token: owner.token })).json();
  /** Accept, start and finish an assignment the way a well-behaved agent does. */
  async function complete(agent: SimulatedAgent, assign: { runId: string; attempt: number }, outputs: unknown = { ok: true }) {
    agent.send({ type: 'accepted', runId: assign.runId, attempt: assign.attempt });
    await agent.next('ack');
    agent.send({ type: 'started', runId: assign.runId, attempt: assign.attempt });
    agent.send({ type: 'finished', runId: assign.runId, attempt: assign.attempt, status: 'Succeeded', outputs, error: null });
    await agent.next('ack');
  }

  it('runs High before Normal, oldest first, and a run no machine can take does not block the ones behind it', async () => {
    const { machines, connectionId } = await setup(1);
    const attended = await queue(connectionId, { runMode: 'Attended' });
    const normal = await queue(connectionId);
    const high = await queue(connectionId, { priority: 'High' });
    expect((await run(normal)).waitingReason).toBe('NoMachineOnline');

    // The only machine accepts unattended runs and has nobody signed in.
    const agent = await connect(machines[0]!, { acceptsUnattended: true, session: { user: null, locked: false } });
    const first = await agent.next('assign');
    expect(first.runId).toBe(high);
    expect(first.attempt).toBe(1);
    expect(first.flow).toEqual({ runtime: 'shell', script: 'true' });
    expect(first.sealedCredentials).toMatchObject({ username: 'robot', targetType: 'MachineGroup' });
    expect(await agent.nothing('assign')).toBe(true); // one run at a time per machine
    await complete(agent, first);
    const second = await agent.next('assign');
    expect(second.runId).toBe(normal);
    await complete(agent, second);

    expect(await agent.nothing('assign')).toBe(true);
    const waiting = await run(attended);
    expect(waiting).toMatchObject({ status: 'Queued', waitingReason: 'NeedsAttendedSession' });
    expect(await run(high)).toMatchObject({ status: 'Succeeded', outputs: { ok: true }, machineId: machines[0]!.id, attempt: 1 });

    // Someone else signs in (the heartbeat carries the session): an attended run needs the
    // connection's own user, with an unlocked session.
    agent.send({ type: 'heartbeat', runningRunIds: [], session: { user: 'alice', locked: false } });
    expect(await agent.nothing('assign')).toBe(true);
    expect(await run(attended)).toMatchObject({ status: 'Queued', waitingReason: 'NeedsAttendedSession' });
    agent.send({ type: 'heartbeat', runningRunIds: [], session: { user: 'CORP\\Robot', locked: true } });
    expect(await agent.nothing('assign')).toBe(true);
    expect((await run(attended)).waitingReason).toBe('NeedsAttendedSession');
    // The connection's user (however the OS spells the account) unlocks: the attended run starts.
    agent.send({ type: 'heartbeat', runningRunIds: [], session: { user: 'CORP\\Robot', locked: false } });
    const third = await agent.next('assign');
    expect(third).toMatchObject({ runId: attended, runMode: 'Attended' });
  });

  it("keeps an unattended run off a machine where the connection's user has a session, and hands it to one without", async () => {
    const { machines, connectionId } = await setup(2);
    const robotsDesk = await connect(machines[0]!, { acceptsUnattended: true, session: { user: 'robot@corp.example', locked: true } });
    const id = await queue(connectionId);
    expect(await robotsDesk.nothing('assign')).toBe(true);
    expect(await run(id)).toMatchObject({ status: 'Queued', waitingReason: 'RunUserSignedIn' });
    // A second machine, nobody signed in: the run goes there at once.
    const spare = await connect(machines[1]!, { acceptsUnattended: true, session: { user: null, locked: false } });
    const assign = await spare.next('assign');
    expect(assign.runId).toBe(id);
    await complete(spare, assign);
    // The queue events name where it started.
    const events = (await call(cloud.app, 'GET', `/api/v1/runs/${id}/events`, { token: owner.token })).json().events;
    expect(events.find((e: { kind: string }) => e.kind === 'Assigned').machine.id).toBe(machines[1]!.id);
  });

  it('pushes each queued run to a free machine at once and spreads work across the group', async () => {
    const { machines, connectionId } = await setup(3);
    const connected = await Promise.all(machines.map((m) => connect(m)));
    const started = Date.now();
    const ids = [await queue(connectionId), await queue(connectionId), await queue(connectionId)];
    const assigns = await Promise.all(connected.map((agent) => agent.next('assign')));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(new Set(assigns.map((a) => a.runId))).toEqual(new Set(ids));
    for (const [i, agent] of connected.entries()) await complete(agent, assigns[i]!);
    const runs = await Promise.all(ids.map(run));
    expect(new Set(runs.map((r) => r.machineId)).size).toBe(3);

    // Busy machines: the next run waits with a reason, and starts when one is free.
    const a = await Promise.all(connected.map(async (agent) => {
      const id = await queue(connectionId);
      return { agent, id };
    }));
    const assigned = await Promise.all(a.map(({ agent }) => agent.next('assign')));
    const extra = await queue(connectionId);
    expect(await run(extra)).toMatchObject({ status: 'Queued', waitingReason: 'AllMachinesBusy' });
    await complete(connected[1]!, assigned[1]!);
    const next = await connected[1]!.next('assign');
    expect(next.runId).toBe(extra);
  });

  it('requeues a run whose agent dies before accepting; it starts exactly once, on another machine', async () => {
    const { machines, connectionId } = await setup(2);
    const doomed = await connect(machines[0]!);
    const id = await queue(connectionId);
    const first = await doomed.next('assign');
    doomed.kill();
    await doomed.closed;
    await expect.poll(async () => (await run(id)).status).toBe('Queued');

    const survivor = await connect(machines[1]!);
    const second = await survivor.next('assign');
    expect(second).toMatchObject({ runId: id, attempt: first.attempt + 1 });
    await complete(survivor, second);
    const final = await run(id);
    expect(final).toMatchObject({ status: 'Succeeded', machineId: machines[1]!.id, attempt: 2 });

    // The first agent comes back and accepts its old assignment: refused, told to drop it.
    const ghost = await connect(machines[0]!);
    ghost.send({ type: 'accepted', runId: id, attempt: first.attempt });
    expect(await ghost.next('cancel')).toMatchObject({ runId: id, attempt: 1, reason: 'StaleAttempt' });
    ghost.send({ type: 'started', runId: id, attempt: first.attempt });
    ghost.send({ type: 'finished', runId: id, attempt: first.attempt, status: 'Failed', outputs: null, error: { code: 'X', message: 'stale' } });
    await ghost.next('ack');
    expect(await run(id)).toMatchObject({ status: 'Succeeded', attempt: 2, machineId: machines[1]!.id });
  });

  it('requeues an assignment that is not accepted in time; the late accept is refused', async () => {
    const { machines, connectionId } = await setup(2);
    const slow = await connect(machines[0]!);
    const id = await queue(connectionId);
    const first = await slow.next('assign');
    const fast = await connect(machines[1]!);
    expect(await fast.nothing('assign', 200)).toBe(true);

    clockOffsetMs += 6_000;
    await dispatcherOf(cloud.app.cloud).sweep();
    const second = await fast.next('assign');
    expect(second).toMatchObject({ runId: id, attempt: 2 });
    slow.send({ type: 'accepted', runId: id, attempt: first.attempt });
    expect(await slow.next('cancel')).toMatchObject({ reason: 'StaleAttempt' });
    await complete(fast, second);
    expect(await run(id)).toMatchObject({ status: 'Succeeded', attempt: 2 });
  });

  it('fails a started run with MachineLost when its agent dies, and never starts it again', async () => {
    const { machines, connectionId } = await setup(2);
    const doomed = await connect(machines[0]!);
    const id = await queue(connectionId);
    const assign = await doomed.next('assign');
    doomed.send({ type: 'accepted', runId: id, attempt: assign.attempt });
    await doomed.next('ack');
    doomed.send({ type: 'started', runId: id, attempt: assign.attempt });
    await expect.poll(async () => (await run(id)).status).toBe('Running');
    doomed.kill();
    const other = await connect(machines[1]!);

    // Heartbeats keep a lease alive; without them it lapses.
    clockOffsetMs += 20_000;
    await dispatcherOf(cloud.app.cloud).sweep();
    expect((await run(id)).status).toBe('Running');
    clockOffsetMs += 15_000;
    await dispatcherOf(cloud.app.cloud).sweep();
    expect(await run(id)).toMatchObject({ status: 'Failed', error: { code: 'MachineLost' }, attempt: 1, machineId: machines[0]!.id });
    expect(await other.nothing('assign', 300)).toBe(true);
  });

  it('keeps a running run alive with heartbeats, and stores its log lines in order', async () => {
    const { machines, connectionId } = await setup(1);
    const agent = await connect(machines[0]!);
    const id = await queue(connectionId);
    const assign = await agent.next('assign');
    agent.send({ type: 'accepted', runId: id, attempt: 1 });
    await agent.next('ack');
    agent.send({ type: 'started', runId: id, attempt: 1 });
    const machineStatus = async () =>
      (await call(cloud.app, 'GET', `/api/v1/machines/${machines[0]!.id}`, { token: owner.token })).json().status;
    await expect.poll(machineStatus).toBe('Busy');
    for (let beat = 0; beat < 4; beat++) {
      clockOffsetMs += 20_000;
      agent.send({ type: 'heartbeat', runningRunIds: [id] });
      await expect.poll(async () => (await cloud.db.query<{ l: Date }>('SELECT lease_expires_at AS l FROM runs WHERE id = $1', [id]))[0]!.l.getTime()).toBeGreaterThan(now().getTime());
      await dispatcherOf(cloud.app.cloud).sweep();
    }
    const at = new Date().toISOString();
    agent.send({ type: 'log', runId: id, attempt: 1, lines: [{ at, stream: 'stdout', line: 'hello' }, { at, stream: 'stderr', line: 'warn' }] });
    agent.send({ type: 'log', runId: id, attempt: 7, lines: [{ at, stream: 'stdout', line: 'from a stale attempt' }] });
    agent.send({ type: 'finished', runId: id, attempt: assign.attempt, status: 'Failed', outputs: null, error: { code: 'FlowFailed', message: 'exit 3' } });
    await agent.next('ack');
    expect(await run(id)).toMatchObject({ status: 'Failed', error: { code: 'FlowFailed', message: 'exit 3' }, outputs: null });
    expect(await machineStatus()).toBe('Online');
    const logs = (await call(cloud.app, 'GET', `/api/v1/runs/${id}/logs`, { token: owner.token })).json();
    expect(logs.lines.map((l: { stream: string; line: string }) => `${l.stream}:${l.line}`)).toEqual(['stdout:hello', 'stderr:warn']);
    expect(logs.truncated).toBe(false);
  });

  it('lists runs of a group with live counts, and hides runs from strangers', async () => {
    const { group, connectionId } = await setup(1);
    const id = await queue(connectionId);
    const list = await call(cloud.app, 'GET', `/api/v1/runs?groupId=${group.id}&status=Queued`, { token: owner.token });
    expect(list.json().map((r: { id: string }) => r.id)).toEqual([id]);
    const { runCountsByGroup } = await import('../src/runs/queue.ts');
    expect((await runCountsByGroup(cloud.db, [group.id])).get(group.id)).toEqual({ running: 0, queued: 1 });
    const stranger = await createUser(cloud.db, environmentId, 'Stan Stranger', ['MachineOwner']);
    expect((await call(cloud.app, 'GET', `/api/v1/runs/${id}`, { token: stranger.token })).statusCode).toBe(404);
    expect((await call(cloud.app, 'GET', `/api/v1/runs?groupId=${group.id}`, { token: stranger.token })).statusCode).toBe(404);
    expect((await call(cloud.app, 'POST', `/api/v1/runs/${id}/cancel`, { token: stranger.token })).statusCode).toBe(404);
    const cancelled = await call(cloud.app, 'POST', `/api/v1/runs/${id}/cancel`, { token: owner.token });
    expect(cancelled.json()).toMatchObject({ status: 'Cancelled' });
    expect((await call(cloud.app, 'POST', `/api/v1/runs/${id}/cancel`, { token: owner.token })).json().code).toBe('RunFinished');
  });
});
