import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningCloud } from '../../cloud/src/start.ts';
import { startTestCloud } from './support/cloud.ts';
import { validateParams, type DesktopGroupRuns, type DesktopRun } from '../../protocol/desktop-api.ts';
import { createDesktopService, type DesktopService } from '../runtime/desktop-service.ts';

/**
 * The desktop service's run queue, machine history, logs, cancel and maintenance switches
 * (protocol/desktop-api.ts) against a real cloud, with the flow run by the agent the service
 * hosts. A second person (group access "User") sees the queue but may not cancel or switch.
 */
let cloud: RunningCloud;
let root: string;
const services: DesktopService[] = [];
const ADMIN = { email: 'owner@example.com', password: 'owner password 1', displayName: 'Olivia Owner' };
const COLLEAGUE = { email: 'uma@example.com', password: 'colleague password 1', displayName: 'Uma User' };

async function service(name: string): Promise<DesktopService> {
  const idFile = path.join(root, `${name}.machine-id`);
  writeFileSync(idFile, `${name}-machine-id-0000000000000000\n`);
  const created = await createDesktopService({
    profileDir: path.join(root, name),
    profile: { secretStore: 'file', env: { MACHINE_RUNTIME_MACHINE_ID_FILE: idFile }, warn: () => undefined },
    defaultServerUrl: cloud.url,
    hostName: `${name}-host`,
    agentBackoff: { minMs: 50, maxMs: 500 },
    statePollMs: 200,
  });
  services.push(created);
  return created;
}

async function api<T>(method: string, route: string, token?: string, body?: unknown): Promise<T> {
  const response = await fetch(`${cloud.url}/api/v1${route}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  expect(response.ok, `${method} ${route}: ${response.status}`).toBe(true);
  return (await response.json()) as T;
}

async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ids = (runs: DesktopRun[]) => runs.map((r) => r.id);

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mr-desktop-runs-'));
  cloud = await startTestCloud();
});

afterAll(async () => {
  for (const s of services) await s.dispose();
  await cloud?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('desktop service: runs and maintenance', () => {
  let pc1: DesktopService;
  let colleague: DesktopService;
  let groupId: string;
  let machineId: string;
  let token: string;
  let queue: (priority: 'High' | 'Normal', gate: string) => Promise<string>;
  let flowId: string;
  let colleagueId: string;
  let ranRunId: string;

  it('sets up a group with this machine in it, a connection and a flow that waits for a gate file', async () => {
    pc1 = await service('pc1');
    await pc1.setupServer({ serverUrl: cloud.url, ...ADMIN });
    const registered = await pc1.registerMachine({ name: 'Ledger PC' });
    machineId = registered.machine!.id;
    groupId = (await pc1.createGroup({ name: 'Ledger bots' })).id;
    await pc1.joinGroup({ groupId, password: 'group password 1' });
    await until(() => pc1.listGroupMachines({ groupId }), (m) => m[0]?.status === 'Online', 'the agent online');

    ({ access_token: token } = await api<{ access_token: string }>('POST', '/auth/token', undefined, { grant_type: 'password', email: ADMIN.email, password: ADMIN.password }));
    const connection = await api<{ id: string }>('POST', '/connections', token, {
      name: 'ledger robot',
      target: { type: 'MachineGroup', id: groupId },
      username: 'robot',
      password: 'robot secret 1',
    });
    const flow = await api<{ id: string }>('POST', '/desktop-flows', token, {
      name: 'Close the ledger',
      runtime: 'node',
      script: [
        "import { existsSync, readFileSync } from 'node:fs';",
        "const { gate } = JSON.parse(readFileSync(0, 'utf8'));",
        "console.log('opening the ledger');",
        'while (!existsSync(gate)) await new Promise((r) => setTimeout(r, 50));',
        "console.log('ledger closed');",
        'console.log(JSON.stringify({ closed: true }));',
      ].join('\n'),
    });
    flowId = flow.id;
    queue = async (priority, gate) =>
      (await api<{ id: string }>('POST', '/runs', token, { desktopFlowId: flow.id, connectionId: connection.id, runMode: 'Unattended', priority, inputs: { gate } })).id;

    const empty = await pc1.listGroupRuns({ groupId });
    expect(empty).toEqual({ groupId, running: [], queued: [], recent: [] });
  });

  it('group maintenance: the machines say Maintenance and queued runs wait for it, in start order', async () => {
    const group = await pc1.setGroupMaintenance({ groupId, maintenance: true });
    expect(group).toMatchObject({ id: groupId, maintenance: true });
    expect((await pc1.listGroups({})).find((g) => g.id === groupId)?.maintenance).toBe(true);
    expect((await pc1.listGroupMachines({ groupId }))[0]).toMatchObject({ status: 'Maintenance', maintenance: false });

    const normal = await queue('Normal', path.join(root, 'gate-normal'));
    const high = await queue('High', path.join(root, 'gate-high'));
    const runs = await pc1.listGroupRuns({ groupId });
    // High starts first although it was queued later.
    expect(ids(runs.queued)).toEqual([high, normal]);
    expect(runs.queued[0]).toMatchObject({
      status: 'Queued',
      priority: 'High',
      flow: { name: 'Close the ledger' },
      target: { type: 'MachineGroup', id: groupId, name: 'Ledger bots' },
      machine: null,
      waitingReason: 'Maintenance',
      startedAt: null,
      cancelRequested: false,
      queuePosition: 1,
      movedToTopAt: null,
      // The group's owner: every queue action.
      allowedActions: ['cancel', 'changePriority', 'moveToTop'],
    });
    expect(runs.queued.map((r) => r.queuePosition)).toEqual([1, 2]);
    expect(runs.queued[0]!.waitingDetail).toMatch(/maintenance/i);
  });

  it('someone with User access sees the queue but may not cancel others\u2019 runs or switch maintenance', async () => {
    const user = await api<{ id: string }>('POST', '/users', token, { ...COLLEAGUE, roles: ['MachineUser'] });
    colleagueId = user.id;
    await pc1.shareGroup({ groupId, userId: user.id, access: 'User' });
    colleague = await service('colleague');
    await colleague.signIn({ serverUrl: cloud.url, email: COLLEAGUE.email, password: COLLEAGUE.password });

    const theirs = await colleague.listGroupRuns({ groupId });
    expect(theirs.queued).toHaveLength(2);
    expect(theirs.queued.map((r) => r.allowedActions)).toEqual([[], []]);
    await expect(colleague.cancelRun({ runId: theirs.queued[0]!.id })).rejects.toMatchObject({ code: 'Forbidden' });
    await expect(colleague.setGroupMaintenance({ groupId, maintenance: false })).rejects.toMatchObject({ code: 'Forbidden' });
    await expect(colleague.setMachineMaintenance({ machineId, maintenance: true })).rejects.toMatchObject({ code: 'Forbidden' });
    // Not registered: no machine history to show.
    await expect(colleague.listMachineRuns({})).rejects.toMatchObject({ code: 'NotRegistered' });
  });

  it('cancels a queued run: it ends at once and moves to the recent runs', async () => {
    const before = await pc1.listGroupRuns({ groupId });
    const normal = before.queued[1]!;
    const cancelled = await pc1.cancelRun({ runId: normal.id });
    expect(cancelled).toMatchObject({ id: normal.id, status: 'Cancelled', allowedActions: [], queuePosition: null, flow: { name: 'Close the ledger' } });
    const after = await pc1.listGroupRuns({ groupId });
    expect(ids(after.queued)).toEqual([before.queued[0]!.id]);
    expect(after.recent[0]).toMatchObject({ id: normal.id, status: 'Cancelled', error: { code: 'Cancelled' } });
    await expect(pc1.cancelRun({ runId: normal.id })).rejects.toMatchObject({ code: 'RunFinished' });
  });

  it('maintenance off: the run starts on this machine; the machine lists it as current, with its log', async () => {
    await pc1.setGroupMaintenance({ groupId, maintenance: false });
    const runs = await until(
      () => pc1.listGroupRuns({ groupId }),
      (r: DesktopGroupRuns) => r.running[0]?.status === 'Running',
      'the run to start',
    );
    const run = runs.running[0]!;
    ranRunId = run.id;
    expect(runs.queued).toEqual([]);
    expect(run).toMatchObject({ machine: { id: machineId, name: 'Ledger PC', isThisMachine: true }, waitingReason: null, queuePosition: null, allowedActions: ['cancel'] });
    expect(run.startedAt).not.toBeNull();

    const mine = await pc1.listMachineRuns({});
    expect(mine.machine).toEqual({ id: machineId, name: 'Ledger PC', status: 'Busy', maintenance: false, mayEdit: true });
    expect(ids(mine.current)).toEqual([run.id]);
    // The cancelled run never reached a machine: it is in the group's history, not this machine's.
    expect(mine.recent).toEqual([]);

    const logs = await until(() => pc1.getRunLogs({ runId: run.id }), (l) => l.lines.length > 0, 'the first log line');
    expect(logs.lines.map((l) => [l.stream, l.line])).toEqual([['stdout', 'opening the ledger']]);
    expect(logs.truncated).toBe(false);

    writeFileSync(path.join(root, 'gate-high'), '');
    const done = await until(() => pc1.listMachineRuns({}), (m) => m.current.length === 0, 'the run to finish');
    expect(done.recent[0]).toMatchObject({ id: run.id, status: 'Succeeded', allowedActions: [], error: null });
    expect(done.recent[0]!.finishedAt).not.toBeNull();
    expect((await pc1.listGroupRuns({ groupId })).recent.map((r) => [r.id, r.status])[0]).toEqual([run.id, 'Succeeded']);

    const later = await pc1.getRunLogs({ runId: run.id, after: logs.lines[0]!.seq });
    expect(later.lines.map((l) => l.line)).toContain('ledger closed');
    expect(later.lines.map((l) => l.line)).not.toContain('opening the ledger');
  });

  it('machine maintenance for its owner: the machine says Maintenance; a run waits for it', async () => {
    const switched = await pc1.setMachineMaintenance({ machineId, maintenance: true });
    expect(switched).toMatchObject({ id: machineId, status: 'Maintenance', maintenance: true, isThisMachine: true });
    expect((await pc1.listMachineRuns({})).machine).toMatchObject({ status: 'Maintenance', maintenance: true });
    const waiting = await queue('Normal', path.join(root, 'gate-3'));
    expect((await pc1.listGroupRuns({ groupId })).queued[0]).toMatchObject({ id: waiting, waitingReason: 'Maintenance' });
    // The machine's own list shows runs handed to it, not the group's queue.
    expect(ids((await pc1.listMachineRuns({})).current)).toEqual([]);

    await pc1.setMachineMaintenance({ machineId, maintenance: false });
    const started = await until(() => pc1.listMachineRuns({}), (m) => m.current[0]?.status === 'Running', 'the run to start');
    expect(started.current[0]!.id).toBe(waiting);
    const stopping = await pc1.cancelRun({ runId: waiting });
    expect(stopping).toMatchObject({ status: 'Running', cancelRequested: true, allowedActions: [] });
    const ended = await until(() => pc1.listMachineRuns({}), (m) => m.current.length === 0, 'the cancelled run to stop');
    expect(ended.recent[0]).toMatchObject({ id: waiting, status: 'Cancelled' });
  });

  it('the group\u2019s owner raises a run to High and moves another to the top: the queue order and positions follow', async () => {
    await pc1.setGroupMaintenance({ groupId, maintenance: true });
    const first = await queue('Normal', path.join(root, 'gate-q1'));
    const second = await queue('Normal', path.join(root, 'gate-q2'));
    const third = await queue('Normal', path.join(root, 'gate-q3'));
    expect(ids((await pc1.listGroupRuns({ groupId })).queued)).toEqual([first, second, third]);

    const raised = await pc1.changeRunPriority({ runId: third, priority: 'High' });
    expect(raised).toMatchObject({ id: third, priority: 'High', status: 'Queued', queuePosition: 1, movedToTopAt: null });
    expect(raised.allowedActions).toEqual(['cancel', 'changePriority', 'moveToTop']);
    expect(ids((await pc1.listGroupRuns({ groupId })).queued)).toEqual([third, first, second]);

    // Moved to the top: ahead of the High run too, though it stays Normal.
    const moved = await pc1.moveRunToTop({ runId: second });
    expect(moved).toMatchObject({ id: second, priority: 'Normal', queuePosition: 1, movedToTopAt: expect.any(String) });
    const queued = (await pc1.listGroupRuns({ groupId })).queued;
    expect(ids(queued)).toEqual([second, third, first]);
    expect(queued.map((r) => r.queuePosition)).toEqual([1, 2, 3]);
    expect(queued[0]!.movedToTopAt).toBe(moved.movedToTopAt);

    // Its queue events name who did what.
    const events = await pc1.getRunEvents({ runId: second });
    expect(events.runId).toBe(second);
    expect(events.events.map((e) => [e.kind, e.actor?.displayName ?? null, e.priority])).toEqual([
      ['Queued', ADMIN.displayName, 'Normal'],
      ['MovedToTop', ADMIN.displayName, null],
    ]);
    expect(events.events[0]).toMatchObject({ machine: null, attempt: null, status: null, code: null, message: null, at: expect.any(String) });
  });

  it('someone with User access changes the priority of their own run only, and never moves runs to the top', async () => {
    const { access_token: theirToken } = await api<{ access_token: string }>('POST', '/auth/token', undefined, {
      grant_type: 'password',
      email: COLLEAGUE.email,
      password: COLLEAGUE.password,
    });
    const connection = await api<{ id: string }>('POST', '/connections', theirToken, {
      name: 'uma robot',
      target: { type: 'MachineGroup', id: groupId },
      username: 'uma-robot',
      password: 'robot secret 2',
    });
    const mine = (
      await api<{ id: string }>('POST', '/runs', theirToken, {
        desktopFlowId: flowId,
        connectionId: connection.id,
        runMode: 'Unattended',
        inputs: { gate: path.join(root, 'gate-uma') },
      })
    ).id;
    const theirs = await colleague.listGroupRuns({ groupId });
    const byId = new Map(theirs.queued.map((r) => [r.id, r]));
    expect(byId.get(mine)).toMatchObject({ queuePosition: 4, allowedActions: ['cancel', 'changePriority'] });
    const othersRun = theirs.queued[0]!;
    expect(othersRun.allowedActions).toEqual([]);

    expect(await colleague.changeRunPriority({ runId: mine, priority: 'High' })).toMatchObject({ id: mine, priority: 'High', queuePosition: 3 });
    await expect(colleague.moveRunToTop({ runId: mine })).rejects.toMatchObject({ code: 'Forbidden' });
    await expect(colleague.changeRunPriority({ runId: othersRun.id, priority: 'High' })).rejects.toMatchObject({ code: 'Forbidden' });
    await expect(colleague.moveRunToTop({ runId: othersRun.id })).rejects.toMatchObject({ code: 'Forbidden' });
    // They read the queue events of any run they see.
    expect((await colleague.getRunEvents({ runId: othersRun.id })).events[0]).toMatchObject({ kind: 'Queued' });
    const story = await pc1.getRunEvents({ runId: mine });
    expect(story.events.map((e) => [e.kind, e.actor?.id])).toEqual([
      ['Queued', colleagueId],
      ['PriorityChanged', colleagueId],
    ]);
  });

  it('a run that left the queue cannot be reordered (RunNotQueued); the events of a run that ran tell where it ran', async () => {
    const queued = (await pc1.listGroupRuns({ groupId })).queued;
    for (const run of queued) await pc1.cancelRun({ runId: run.id });
    const gone = queued[0]!.id;
    await expect(pc1.changeRunPriority({ runId: gone, priority: 'High' })).rejects.toMatchObject({ code: 'RunNotQueued' });
    await expect(pc1.moveRunToTop({ runId: gone })).rejects.toMatchObject({ code: 'RunNotQueued' });
    expect((await pc1.getRunEvents({ runId: gone })).events.at(-1)).toMatchObject({ kind: 'Finished', status: 'Cancelled', code: 'Cancelled' });
    await pc1.setGroupMaintenance({ groupId, maintenance: false });

    const ran = await pc1.getRunEvents({ runId: ranRunId });
    expect(ran.events.map((e) => e.kind)).toEqual(['Queued', 'Assigned', 'Started', 'Finished']);
    expect(ran.events[1]).toMatchObject({ machine: { id: machineId, name: 'Ledger PC' }, attempt: 1 });
    expect(ran.events[3]).toMatchObject({ status: 'Succeeded', code: null });
  });

  it('unknown runs and groups are NotFound; malformed ids never reach the service', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await expect(pc1.getRunLogs({ runId: missing })).rejects.toMatchObject({ code: 'NotFound' });
    await expect(pc1.cancelRun({ runId: missing })).rejects.toMatchObject({ code: 'NotFound' });
    await expect(pc1.changeRunPriority({ runId: missing, priority: 'High' })).rejects.toMatchObject({ code: 'NotFound' });
    await expect(pc1.moveRunToTop({ runId: missing })).rejects.toMatchObject({ code: 'NotFound' });
    await expect(pc1.getRunEvents({ runId: missing })).rejects.toMatchObject({ code: 'NotFound' });
    expect(validateParams('changeRunPriority', { runId: missing, priority: 'Urgent' })).toMatchObject({ ok: false });
    expect(validateParams('changeRunPriority', { runId: missing, priority: 'High', position: 1 })).toMatchObject({ ok: false });
    expect(validateParams('moveRunToTop', { runId: 'not-an-id' })).toMatchObject({ ok: false });
    await expect(pc1.listGroupRuns({ groupId: missing })).rejects.toMatchObject({ code: 'NotFound' });
    expect(validateParams('cancelRun', { runId: 'not-an-id' })).toMatchObject({ ok: false, error: { code: 'ValidationFailed' } });
    expect(validateParams('setGroupMaintenance', { groupId, maintenance: 'yes' })).toMatchObject({ ok: false });
    expect(validateParams('getRunLogs', { runId: missing, after: -1 })).toMatchObject({ ok: false });
    expect(validateParams('listMachineRuns', { extra: 1 })).toMatchObject({ ok: false });
  });
});
