import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningCloud } from '../../cloud/src/start.ts';
import { startTestCloud } from './support/cloud.ts';
import type { DesktopProgress, DesktopState, EventName } from '../../protocol/desktop-api.ts';
import { createDesktopService, type DesktopService } from '../runtime/desktop-service.ts';
import { RuntimeProfile } from '../runtime/profile.ts';

/**
 * The desktop service (protocol/desktop-api.ts on the runtime core) against a real cloud, with
 * two machines in their own profile folders: what the screens see, the agent it runs, the
 * membership flow with its progress, the error envelopes, diagnostics and the log archive.
 */
let cloud: RunningCloud;
let root: string;
const services: DesktopService[] = [];
const ADMIN = { email: 'owner@example.com', password: 'owner password 1', displayName: 'Olivia Owner' };

interface Recorded {
  service: DesktopService;
  events: { event: EventName; payload: unknown }[];
  profileDir: string;
  idFile: string;
}

async function machine(name: string, extra: { idContent?: string } = {}): Promise<Recorded> {
  const profileDir = path.join(root, name);
  const idFile = path.join(root, `${name}.machine-id`);
  writeFileSync(idFile, extra.idContent ?? `${name}-machine-id-0000000000000000\n`);
  const service = await createDesktopService({
    profileDir,
    profile: { secretStore: 'file', env: { MACHINE_RUNTIME_MACHINE_ID_FILE: idFile }, warn: () => undefined },
    defaultServerUrl: cloud.url,
    hostName: `${name}-host`,
    agentBackoff: { minMs: 50, maxMs: 500 },
    statePollMs: 200,
  });
  services.push(service);
  const recorded: Recorded = { service, events: [], profileDir, idFile };
  service.subscribe((event, payload) => recorded.events.push({ event, payload }));
  return recorded;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const lastState = (m: Recorded) => [...m.events].reverse().find((e) => e.event === 'stateChanged')?.payload as DesktopState | undefined;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mr-desktop-service-'));
  cloud = await startTestCloud();
});

afterAll(async () => {
  for (const service of services) await service.dispose();
  await cloud?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('desktop service', () => {
  let pc1: Recorded;
  let pc2: Recorded;
  let groupId: string;
  let otherGroupId: string;

  it('starts signed out, offers the embedded server and knows it needs setting up', async () => {
    pc1 = await machine('pc1');
    const state = await pc1.service.getState({});
    expect(state).toMatchObject({
      serverUrl: cloud.url,
      hostName: 'pc1-host',
      user: null,
      machine: null,
      group: null,
      connection: 'NotRegistered',
      secretStore: 'file',
      cloneWarning: null,
    });
    expect(state.appVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(await pc1.service.needsSetup({ serverUrl: cloud.url })).toEqual({ needsSetup: true });
    // Signed out: user actions are refused with a code, as a plain envelope.
    const error = await pc1.service.listGroups({}).catch((e: unknown) => e);
    expect(error).toEqual({ code: 'NotSignedIn', message: expect.any(String) });
    expect(error).not.toBeInstanceOf(Error);
  });

  it('an address where nothing listens is Unreachable', async () => {
    const error = await pc1.service.needsSetup({ serverUrl: 'http://127.0.0.1:9' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'Unreachable' });
  });

  it('sets up the server and signs in as its first administrator; no token ever comes back', async () => {
    const state = await pc1.service.setupServer({ serverUrl: cloud.url, ...ADMIN });
    expect(state.user).toMatchObject({ email: ADMIN.email, displayName: ADMIN.displayName, mayCreateGroup: true });
    expect(lastState(pc1)?.user?.email).toBe(ADMIN.email);
    expect(await pc1.service.needsSetup({ serverUrl: cloud.url })).toEqual({ needsSetup: false });
    const secrets = JSON.parse(readFileSync(path.join(pc1.profileDir, 'secrets.json'), 'utf8')) as Record<string, unknown>;
    const refresh = JSON.stringify(secrets).match(/"refresh-token":"([^"]+)"/)?.[1];
    expect(refresh).toBeTruthy();
    expect(JSON.stringify(state)).not.toContain(refresh!);
    expect(JSON.stringify(pc1.events)).not.toContain(refresh!);
    const again = await pc1.service.setupServer({ serverUrl: cloud.url, ...ADMIN }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'AlreadySetUp' });
  });

  it('lists the environments where the user may register, registers, and the agent comes online', async () => {
    const environments = await pc1.service.listEnvironments({});
    expect(environments).toEqual([expect.objectContaining({ isDefault: true, mayRegister: true })]);
    const state = await pc1.service.registerMachine({ name: 'PC one', description: 'desk', environmentId: environments[0]!.id });
    expect(state.machine).toMatchObject({ name: 'PC one', description: 'desk', environmentId: environments[0]!.id, environmentName: environments[0]!.name });
    await until(() => lastState(pc1)?.connection === 'Online', 'the agent online');
    await until(() => Boolean(lastState(pc1)?.lastHeartbeatAt), 'a heartbeat');
    const twice = await pc1.service.registerMachine({ name: 'PC one' }).catch((e: unknown) => e);
    expect(twice).toMatchObject({ code: 'ValidationFailed' });
    const updated = await pc1.service.updateMachine({ name: 'PC 1', description: 'front desk' });
    expect(updated.machine).toMatchObject({ name: 'PC 1', description: 'front desk' });
  });

  it('creates a group; the first join sets the password, with progress while the key is derived', async () => {
    const group = await pc1.service.createGroup({ name: 'Finance bots', description: 'month end' });
    expect(group).toMatchObject({ name: 'Finance bots', machineCount: 0, access: 'Owner', hasPassword: false });
    expect(group.allowedActions).toContain('delete');
    groupId = group.id;
    otherGroupId = (await pc1.service.createGroup({ name: 'HR bots' })).id;
    const taken = await pc1.service.createGroup({ name: 'finance BOTS' }).catch((e: unknown) => e);
    expect(taken).toMatchObject({ code: 'NameTaken' });

    const before = pc1.events.length;
    const state = await pc1.service.joinGroup({ groupId, password: 'group password 1' });
    expect(state.group).toEqual({ id: groupId, name: 'Finance bots' });
    const progress = pc1.events.slice(before).filter((e) => e.event === 'progress').map((e) => e.payload as DesktopProgress);
    expect(progress.map((p) => p.message)).toEqual([
      'Fetching the group key…',
      'Deriving the group key from the password…',
      'Proving membership to the cloud…',
      'Done',
    ]);
    expect(progress.at(-1)).toMatchObject({ operation: 'joinGroup', done: true });
    const groups = await pc1.service.listGroups({});
    expect(groups[0]).toMatchObject({ id: groupId, machineCount: 1, hasPassword: true });
  });

  it('a second machine: a wrong password is refused, the right one joins, counts follow', async () => {
    pc2 = await machine('pc2');
    const state = await pc2.service.signIn({ serverUrl: cloud.url, email: ADMIN.email, password: ADMIN.password });
    expect(state.user?.email).toBe(ADMIN.email);
    const wrongSignIn = await pc2.service.signIn({ serverUrl: cloud.url, email: ADMIN.email, password: 'nope' }).catch((e: unknown) => e);
    expect(wrongSignIn).toMatchObject({ code: 'Unauthorized' });
    await pc2.service.registerMachine({ name: 'PC two' });
    const wrong = await pc2.service.joinGroup({ groupId, password: 'not it' }).catch((e: unknown) => e);
    expect(wrong).toEqual({ code: 'IncorrectGroupPassword', message: 'The group password is incorrect.' });
    expect((await pc2.service.getState({})).group).toBeNull();
    expect((await pc2.service.joinGroup({ groupId, password: 'group password 1' })).group?.id).toBe(groupId);
    expect((await pc1.service.listGroups({})).find((g) => g.id === groupId)?.machineCount).toBe(2);
    const machines = await pc2.service.listGroupMachines({ groupId });
    expect(machines.map((m) => [m.name, m.isThisMachine]).sort()).toEqual([
      ['PC 1', false],
      ['PC two', true],
    ]);
    await until(async () => (await pc2.service.listGroupMachines({ groupId })).every((m) => m.status === 'Online'), 'both online');
  });

  it('the agent it hosts runs a flow queued on the group (credentials opened with the group key)', async () => {
    const api = async <T>(method: string, route: string, token?: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${cloud.url}/api/v1${route}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(response.ok, `${method} ${route}: ${response.status}`).toBe(true);
      return (await response.json()) as T;
    };
    const { access_token: token } = await api<{ access_token: string }>('POST', '/auth/token', undefined, {
      grant_type: 'password',
      email: ADMIN.email,
      password: ADMIN.password,
    });
    const connection = await api<{ id: string }>('POST', '/connections', token, {
      name: 'finance robot account',
      target: { type: 'MachineGroup', id: groupId },
      username: 'robot',
      password: 'robot secret 1',
    });
    const flow = await api<{ id: string }>('POST', '/desktop-flows', token, {
      name: 'hello',
      runtime: 'node',
      script: 'process.stdout.write(JSON.stringify({ user: process.env.MR_USERNAME, hasPassword: process.env.MR_PASSWORD === "robot secret 1" }) + "\\n");',
    });
    const run = await api<{ id: string }>('POST', '/runs', token, { desktopFlowId: flow.id, connectionId: connection.id, runMode: 'Unattended' });
    let finished: { status: string; outputs: unknown } | undefined;
    await until(async () => {
      finished = await api<{ status: string; outputs: unknown }>('GET', `/runs/${run.id}`, token);
      return ['Succeeded', 'Failed', 'TimedOut', 'Cancelled'].includes(finished.status);
    }, 'the run to finish', 30_000);
    expect(finished).toMatchObject({ status: 'Succeeded', outputs: { user: 'robot', hasPassword: true } });
    const logs = [pc1, pc2].map((m) => readFileSync(path.join(m.profileDir, 'logs', 'machine-runtime.log'), 'utf8')).join('');
    expect(logs).toContain(`run ${run.id}: finished (Succeeded)`);
    expect(logs).not.toContain('robot secret 1');
  });

  it('changes the group password on a member; the old one stops working', async () => {
    expect(await pc1.service.changeGroupPassword({ groupId, newPassword: 'group password 2' })).toEqual({ ok: true });
    await pc2.service.leaveGroup({});
    expect((await pc2.service.joinGroup({ groupId, password: 'group password 1' }).catch((e: unknown) => e))).toMatchObject({
      code: 'IncorrectGroupPassword',
    });
    expect((await pc2.service.joinGroup({ groupId, password: 'group password 2' })).group?.id).toBe(groupId);
  });

  it('moves to another group, and a group with machines cannot be deleted', async () => {
    const moved = await pc2.service.joinGroup({ groupId: otherGroupId, password: 'hr password 1' });
    expect(moved.group).toEqual({ id: otherGroupId, name: 'HR bots' });
    const error = await pc1.service.deleteGroup({ groupId: otherGroupId }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'GroupNotEmpty' });
    expect((await pc2.service.leaveGroup({})).group).toBeNull();
    expect(await pc1.service.deleteGroup({ groupId: otherGroupId })).toEqual({ ok: true });
  });

  it('a co-owner removing this machine from its group is noticed by the machine', async () => {
    await pc2.service.joinGroup({ groupId, password: 'group password 2' });
    const pc2Id = (await pc2.service.getState({})).machine!.id;
    await pc1.service.removeGroupMachine({ groupId, machineId: pc2Id });
    expect((await pc1.service.listGroups({})).find((g) => g.id === groupId)?.machineCount).toBe(1);
    // pc2 learns it from the cloud the next time it looks (here: a reconnect of its agent).
    await pc2.service.dispose();
    const again = await createDesktopService({
      profileDir: pc2.profileDir,
      profile: { secretStore: 'file', env: { MACHINE_RUNTIME_MACHINE_ID_FILE: pc2.idFile }, warn: () => undefined },
      statePollMs: 200,
    });
    services.push(again);
    await until(async () => (await again.getState({})).group === null, 'the group to be forgotten');
  });

  it('shares the group and lists who has access; searching users', async () => {
    const users = await pc1.service.searchUsers({ query: 'olivia' });
    expect(users).toEqual([{ id: expect.any(String), email: ADMIN.email, displayName: ADMIN.displayName }]);
    expect(await pc1.service.searchUsers({ query: '   ' })).toEqual([]);
    const access = await pc1.service.getGroupAccess({ groupId });
    expect(access).toEqual([{ user: expect.objectContaining({ email: ADMIN.email }), access: 'Owner' }]);
    const edited = await pc1.service.editGroup({ groupId, name: 'Finance robots', description: 'renamed' });
    expect(edited.name).toBe('Finance robots');
    await until(() => lastState(pc1)?.group?.name === 'Finance robots', 'the current group renamed');
  });

  it('diagnostics: cloud reachable, agent connected, clock in sync', async () => {
    const report = await pc1.service.runDiagnostics({});
    expect(report.serverUrl).toBe(cloud.url);
    expect(report.checks.map((c) => [c.id, c.ok])).toEqual([
      ['cloud', true],
      ['socket', true],
      ['clock', true],
    ]);
    expect(Math.abs(report.clockSkewMs!)).toBeLessThan(2000);
  });

  it('exports the logs as a real .tar.gz holding the log file, with no password in it', async () => {
    const { path: logs } = await pc1.service.getLogsLocation({});
    expect(logs).toBe(path.join(pc1.profileDir, 'logs'));
    const { path: archive } = await pc1.service.exportLogs({});
    expect(archive).toMatch(/\.tar\.gz$/);
    const listing = execFileSync('tar', ['tzf', archive], { encoding: 'utf8' });
    expect(listing).toMatch(/machine-runtime-logs-[^/]+\/machine-runtime\.log/);
    const text = execFileSync('tar', ['xzOf', archive], { encoding: 'utf8' });
    expect(text).toContain('registered this machine as "PC one"');
    expect(text).toContain('added this machine to "Finance bots"');
    for (const secret of [ADMIN.password, 'group password 1', 'group password 2']) expect(text).not.toContain(secret);
  });

  it('a copied profile (another OS machine id) shows the clone warning; registering anew clears it', async () => {
    await pc1.service.dispose();
    const idFile = path.join(root, 'copy.machine-id');
    writeFileSync(idFile, 'another-computer-0000000000000000\n');
    const copy = await createDesktopService({
      profileDir: pc1.profileDir,
      profile: { secretStore: 'file', env: { MACHINE_RUNTIME_MACHINE_ID_FILE: idFile }, warn: () => undefined },
      agentBackoff: { minMs: 50, maxMs: 500 },
      statePollMs: 200,
    });
    services.push(copy);
    const state = await copy.getState({});
    expect(state.cloneWarning).toMatchObject({ code: 'MachineCloned' });
    await until(async () => (await copy.getState({})).connection === 'Offline', 'the agent refused');
    const fresh = await copy.reRegisterMachine({ name: 'PC 1 copy' });
    expect(fresh.cloneWarning).toBeNull();
    expect(fresh.group).toBeNull();
    await until(async () => (await copy.getState({})).connection === 'Online', 'the new machine online');
  });

  it('signing out keeps the machine registered and online', async () => {
    const state = await pc2.service.getState({}).catch(() => null);
    expect(state).toBeNull(); // disposed above
    const copy = services.at(-1)!;
    const out = await copy.signOut({});
    expect(out.user).toBeNull();
    expect(out.machine).not.toBeNull();
    expect(await RuntimeProfile.open({ profileDir: pc1.profileDir, secretStore: 'file', env: {} }).then((p) => p.secrets.get('refresh-token'))).toBeNull();
  });
});
