/**
 * The run queue's actions (Change priority, Move to top), who may use them, and the queue
 * events kept per run — as a co-owner sees them in the group's Run queue tab.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloud, call, DATABASE_ENGINE, listen, type TestCloud } from './helper.ts';
import { accessToken, createEnvironment, createUser, type FixtureUser } from './fixtures.ts';
import { createKeyedGroup, createKeyedMachine, shareGroup } from './runs-fixtures.ts';
import { connectAgent, type SimulatedAgent } from './runs-agents.ts';
import { DEFAULT_RUN_LIMITS } from '../src/config.ts';

describe(`run queue actions and events (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let baseUrl: string;
  let environmentId: string;
  let owner: FixtureUser;
  let coOwner: FixtureUser;
  let member: FixtureUser;
  let outsider: FixtureUser;
  let admin: FixtureUser;
  let flowId: string;
  const agents: SimulatedAgent[] = [];

  beforeAll(async () => {
    cloud = await buildCloud({
      agent: { heartbeatSeconds: 10, offlineAfterSeconds: 3600, sweepSeconds: 3600, helloTimeoutSeconds: 5 },
      runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600, acceptSeconds: 5, leaseSeconds: 30 },
    });
    baseUrl = await listen(cloud);
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Group Owner', ['MachineOwner']);
    coOwner = await createUser(cloud.db, environmentId, 'Co Owner', ['MachineOwner']);
    member = await createUser(cloud.db, environmentId, 'Plain Member', ['MachineUser']);
    outsider = await createUser(cloud.db, environmentId, 'Out Sider', ['MachineOwner']);
    admin = await createUser(cloud.db, environmentId, 'The Admin', ['EnvironmentAdmin']);
    const flow = await call(cloud.app, 'POST', '/api/v1/desktop-flows', { token: owner.token, body: { name: 'noop', runtime: 'shell', script: 'true' } });
    flowId = flow.json().id;
  });
  afterAll(async () => {
    for (const agent of agents) agent.kill();
    await cloud?.close();
  });

  async function setup(machineCount: number) {
    const group = await createKeyedGroup(cloud.db, environmentId, owner.id);
    await shareGroup(cloud.db, group.id, coOwner.id, 'CoOwner');
    await shareGroup(cloud.db, group.id, member.id, 'User');
    const machines = [];
    for (let i = 0; i < machineCount; i++) {
      machines.push(await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id, name: `vm-${i}-${group.id.slice(0, 4)}` }));
    }
    const connectionOf = async (user: FixtureUser) => {
      const response = await call(cloud.app, 'POST', '/api/v1/connections', {
        token: user.token,
        body: { name: `conn-${user.id.slice(0, 6)}-${group.id.slice(0, 6)}`, target: { type: 'MachineGroup', id: group.id }, username: 'robot', password: 'pw-123456' },
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json().id as string;
    };
    return { group, machines, connectionOf };
  }
  const queue = async (user: FixtureUser, connectionId: string, extra: Record<string, unknown> = {}) => {
    const response = await call(cloud.app, 'POST', '/api/v1/runs', {
      token: user.token,
      body: { desktopFlowId: flowId, connectionId, runMode: 'Unattended', ...extra },
    });
    expect(response.statusCode, response.body).toBe(202);
    return response.json().id as string;
  };
  const run = async (id: string) => (await call(cloud.app, 'GET', `/api/v1/runs/${id}`, { token: owner.token })).json();
  const events = async (id: string, user = owner) => {
    const response = await call(cloud.app, 'GET', `/api/v1/runs/${id}/events`, { token: user.token });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().events as { kind: string; machine?: { id: string; name: string | null }; actor?: { displayName: string }; priority?: string; status?: string; code?: string }[];
  };
  const changePriority = (user: FixtureUser | string, id: string, priority: unknown) =>
    call(cloud.app, 'PATCH', `/api/v1/runs/${id}`, { token: typeof user === 'string' ? user : user.token, body: { priority } });
  const moveToTop = (user: FixtureUser | string, id: string) =>
    call(cloud.app, 'POST', `/api/v1/runs/${id}/move-to-top`, { token: typeof user === 'string' ? user : user.token });
  async function complete(agent: SimulatedAgent, assign: { runId: string; attempt: number }) {
    agent.send({ type: 'accepted', runId: assign.runId, attempt: assign.attempt });
    await agent.next('ack');
    agent.send({ type: 'started', runId: assign.runId, attempt: assign.attempt });
    agent.send({ type: 'finished', runId: assign.runId, attempt: assign.attempt, status: 'Succeeded', outputs: {}, error: null });
    await agent.next('ack');
  }

  it('changes priority and moves runs to the top: the queue positions and the dispatch order follow', async () => {
    const { machines, connectionOf } = await setup(1);
    const connectionId = await connectionOf(owner);
    const first = await queue(owner, connectionId);
    const second = await queue(owner, connectionId);
    const urgent = await queue(owner, connectionId, { priority: 'High' });
    const positions = async () => Promise.all([first, second, urgent].map(async (id) => (await run(id)).queuePosition));
    expect(await positions()).toEqual([2, 3, 1]);

    // Raised to High, the second run goes before the younger High run (oldest first within a priority).
    const raised = await changePriority(owner, second, 'High');
    expect(raised.statusCode, raised.body).toBe(200);
    expect(raised.json()).toMatchObject({ id: second, priority: 'High', status: 'Queued', movedToTopAt: null, queuePosition: 1 });
    expect(await positions()).toEqual([3, 1, 2]);

    // Moving the first run to the top puts it ahead of every High run; the latest move goes first.
    const moved = await moveToTop(coOwner, first);
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json().movedToTopAt).toEqual(expect.any(String));
    expect(moved.json().priority).toBe('Normal');
    expect(await positions()).toEqual([1, 2, 3]);
    expect((await moveToTop(owner, urgent)).json().queuePosition).toBe(1);
    expect(await positions()).toEqual([2, 3, 1]);
    // Changing the priority of a moved run puts it back in its priority's lane.
    expect((await changePriority(owner, urgent, 'High')).json()).toMatchObject({ movedToTopAt: null, queuePosition: 3 });
    expect(await positions()).toEqual([1, 2, 3]);

    // The machine comes online and takes them in that order.
    const agent = await connectAgent(baseUrl, machines[0]!);
    agents.push(agent);
    const taken: string[] = [];
    for (let i = 0; i < 3; i++) {
      const assign = await agent.next('assign');
      taken.push(assign.runId);
      await complete(agent, assign);
    }
    expect(taken).toEqual([first, second, urgent]);

    // Reordering a run that left the queue is refused, and says why.
    const late = await changePriority(owner, first, 'Normal');
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ code: 'RunNotQueued' });
    expect((await moveToTop(owner, first)).json().code).toBe('RunNotQueued');

    // The queue events tell the whole story, with names.
    const story = await events(first);
    expect(story.map((e) => e.kind)).toEqual(['Queued', 'MovedToTop', 'Assigned', 'Started', 'Finished']);
    expect(story[0]).toMatchObject({ actor: { displayName: 'Group Owner' }, priority: 'Normal' });
    expect(story[1]).toMatchObject({ actor: { displayName: 'Co Owner' } });
    expect(story[2]).toMatchObject({ machine: { id: machines[0]!.id, name: expect.stringMatching(/^vm-0-/) } });
    expect(story[4]).toMatchObject({ status: 'Succeeded' });
    expect((await events(urgent)).map((e) => e.kind)).toEqual(['Queued', 'MovedToTop', 'PriorityChanged', 'Assigned', 'Started', 'Finished']);
    expect((await events(second)).filter((e) => e.kind === 'PriorityChanged')).toMatchObject([{ priority: 'High', actor: { displayName: 'Group Owner' } }]);

    // Each change is in the audit trail too.
    const audited = await cloud.db.query<{ action: string }>(
      `SELECT action FROM audit_events WHERE target_id = ANY ($1::text[]) AND action IN ('run.priorityChanged', 'run.movedToTop') ORDER BY id`,
      [[first, second, urgent]],
    );
    expect(audited.map((a) => a.action).sort()).toEqual(['run.movedToTop', 'run.movedToTop', 'run.priorityChanged', 'run.priorityChanged']);
  });

  it('lets the run owner change its priority, only managers move it to the top, and hides it from outsiders', async () => {
    const { group, connectionOf } = await setup(0);
    const membersRun = await queue(member, await connectionOf(member));
    const ownersRun = await queue(owner, await connectionOf(owner));

    // Each run says what the caller may do to it (the app offers exactly that).
    const allowed = async (user: FixtureUser, id: string) =>
      (await call(cloud.app, 'GET', `/api/v1/runs/${id}`, { token: user.token })).json().allowedActions;
    expect(await allowed(member, membersRun)).toEqual(['cancel', 'changePriority']);
    expect(await allowed(member, ownersRun)).toEqual([]);
    expect(await allowed(coOwner, membersRun)).toEqual(['cancel', 'changePriority', 'moveToTop']);
    expect(await allowed(admin, ownersRun)).toEqual(['cancel', 'changePriority', 'moveToTop']);
    const listed = await call(cloud.app, 'GET', `/api/v1/runs?groupId=${group.id}`, { token: member.token });
    expect(Object.fromEntries(listed.json().map((r: { id: string; allowedActions: string[] }) => [r.id, r.allowedActions]))).toEqual({
      [membersRun]: ['cancel', 'changePriority'],
      [ownersRun]: [],
    });

    // The member queued it: they may change its priority, not jump the queue.
    expect((await changePriority(member, membersRun, 'High')).statusCode).toBe(200);
    const jump = await moveToTop(member, membersRun);
    expect(jump.statusCode).toBe(403);
    expect(jump.json()).toMatchObject({ code: 'Forbidden' });
    // Someone else's run: the member sees it in the group's queue but may not touch it.
    expect((await changePriority(member, ownersRun, 'High')).statusCode).toBe(403);
    expect((await moveToTop(member, ownersRun)).statusCode).toBe(403);
    expect((await call(cloud.app, 'GET', `/api/v1/runs/${ownersRun}/events`, { token: member.token })).statusCode).toBe(200);

    // Co-owner, owner and admin may do both.
    for (const manager of [coOwner, owner, admin]) {
      expect((await changePriority(manager, membersRun, 'Normal')).statusCode).toBe(200);
      expect((await moveToTop(manager, membersRun)).statusCode).toBe(200);
    }
    // Outsiders do not learn the run exists; a machine token is not a person.
    for (const response of [
      await changePriority(outsider, ownersRun, 'High'),
      await moveToTop(outsider, ownersRun),
      await call(cloud.app, 'GET', `/api/v1/runs/${ownersRun}/events`, { token: outsider.token }),
    ]) {
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ code: 'NotFound' });
    }
    const machine = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    const machineToken = await accessToken(cloud.db, { machineId: machine.id });
    expect((await moveToTop(machineToken, ownersRun)).statusCode).toBe(403);
    expect((await changePriority(machineToken, ownersRun, 'High')).statusCode).toBe(403);

    // Bad input is a clear 400, and changes nothing.
    for (const body of [{ priority: 'Urgent' }, { priority: 'High', position: 1 }, {}]) {
      const response = await call(cloud.app, 'PATCH', `/api/v1/runs/${ownersRun}`, { token: owner.token, body });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'ValidationFailed' });
    }
    expect((await call(cloud.app, 'PATCH', '/api/v1/runs/not-a-uuid', { token: owner.token, body: { priority: 'High' } })).statusCode).toBe(400);
    expect((await moveToTop(owner, '00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await run(ownersRun)).priority).toBe('Normal');

    // Once it ended, nothing is left to do to it.
    expect((await call(cloud.app, 'POST', `/api/v1/runs/${ownersRun}/cancel`, { token: owner.token })).json().allowedActions).toEqual([]);
  });

  it('records machines that refuse a run and runs given back when a machine goes away', async () => {
    const { machines, connectionOf } = await setup(2);
    const connectionId = await connectionOf(owner);
    const picky = await connectAgent(baseUrl, machines[0]!);
    agents.push(picky);
    const id = await queue(owner, connectionId);
    const offered = await picky.next('assign');
    picky.send({ type: 'rejected', runId: id, attempt: offered.attempt, code: 'CredentialsUnavailable', message: 'cannot open the credentials' });
    await expect.poll(async () => (await run(id)).waitingReason).toBe('RejectedByMachines');

    const flaky = await connectAgent(baseUrl, machines[1]!);
    const second = await flaky.next('assign');
    expect(second.runId).toBe(id);
    flaky.kill();
    await flaky.closed;
    await expect.poll(async () => (await events(id)).map((e) => e.kind)).toEqual(['Queued', 'Assigned', 'Refused', 'Assigned', 'Requeued']);
    const story = await events(id);
    expect(story[2]).toMatchObject({ machine: { id: machines[0]!.id }, code: 'CredentialsUnavailable' });
    expect(story[4]).toMatchObject({ machine: { id: machines[1]!.id }, code: 'MachineDisconnected' });

    // Cancelled while queued: the story ends there.
    expect((await call(cloud.app, 'POST', `/api/v1/runs/${id}/cancel`, { token: owner.token })).statusCode).toBe(200);
    expect((await events(id)).at(-1)).toMatchObject({ kind: 'Finished', status: 'Cancelled', code: 'Cancelled' });
  });
});
