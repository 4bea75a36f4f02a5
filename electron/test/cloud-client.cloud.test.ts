import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCloud, type RunningCloud } from '../../cloud/src/start.ts';
import { CloudError, type CloudClient } from '../runtime/cloud-client.ts';
import { RuntimeProfile } from '../runtime/profile.ts';

/**
 * The runtime core against a real cloud (in-process, in-memory PGlite): sessions with rotating
 * refresh tokens shared by several processes of one profile, expired access tokens, a VM
 * enrolled with a registration token signing in as itself, and a copied profile refused as a clone.
 */
const ACCESS_SECONDS = 15 * 60;
let cloud: RunningCloud;
let offsetMs = 0;
let root: string;
let hostA: string;
let hostB: string;

const admin = { email: 'admin@example.com', password: 'correct horse battery staple', displayName: 'Ada Admin' };

async function openProfile(name: string, host = hostA): Promise<RuntimeProfile> {
  return RuntimeProfile.open({
    profileDir: path.join(root, name),
    secretStore: 'file',
    env: { MACHINE_RUNTIME_MACHINE_ID_FILE: host },
    client: { retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterSeconds: 1 } },
  });
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mr-client-cloud-'));
  hostA = path.join(root, 'machine-id-a');
  hostB = path.join(root, 'machine-id-b');
  writeFileSync(hostA, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n');
  writeFileSync(hostB, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n');
  cloud = await startCloud({
    port: 0,
    host: '127.0.0.1',
    logLevel: false,
    config: {
      accessTokenSeconds: ACCESS_SECONDS,
      now: () => new Date(Date.now() + offsetMs),
      rateLimits: { groupPerHour: 100, userPerMinute: 10, signInPerAccount: 3, signInPerAddress: 50 },
    },
  });
});

afterAll(async () => {
  await cloud?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('user session', () => {
  let profile: RuntimeProfile;
  let client: CloudClient;

  it('sets up the first administrator and keeps the refresh token in the secret store only', async () => {
    profile = await openProfile('admin-pc');
    client = await profile.cloud(`${cloud.url}/`);
    expect(profile.settings.get('serverUrl')).toBe(cloud.url);
    expect(await client.setupStatus()).toEqual({ needsSetup: true });
    const result = await client.setup(admin);
    profile.rememberUser(result.user);
    expect(await profile.secrets.get('refresh-token')).toBe(result.refresh_token);
    expect(JSON.stringify(profile.settings.all())).not.toContain(result.refresh_token);
    const me = await client.me();
    expect(me.email).toBe(admin.email);
    expect(me.environments[0]?.roles).toContain('EnvironmentAdmin');
    await expect(client.setup(admin)).rejects.toMatchObject({ code: 'AlreadySetUp', status: 409 });
  });

  it('rotates the refresh token on every renewal, and another process of the profile carries on with the new one', async () => {
    const before = await profile.secrets.get('refresh-token');
    await client.accessToken('user', { forceRefresh: true });
    const after = await profile.secrets.get('refresh-token');
    expect(after).not.toBe(before);
    expect(after).toMatch(/^mrrt_/);

    const nextProcess = await openProfile('admin-pc');
    expect((await (await nextProcess.cloud()).me()).email).toBe(admin.email);
    expect(await nextProcess.secrets.get('refresh-token')).not.toBe(after);
  });

  it('renews an access token the server considers expired (401) and retries the call', async () => {
    await client.me(); // cached token
    const rotatedBefore = await profile.secrets.get('refresh-token');
    offsetMs += (ACCESS_SECONDS + 60) * 1000; // the server's clock moves past the token's expiry
    try {
      expect((await client.me()).email).toBe(admin.email);
      expect(await profile.secrets.get('refresh-token')).not.toBe(rotatedBefore);
    } finally {
      offsetMs = 0; // machine assertions live 60 s: the clocks must agree again
    }
  });

  it('several processes renewing at once do not trip the replay detection (they take turns)', async () => {
    const processes = await Promise.all([openProfile('admin-pc'), openProfile('admin-pc'), openProfile('admin-pc')]);
    const clients = await Promise.all(processes.map((p) => p.cloud()));
    await Promise.all(clients.map((c) => c.accessToken('user', { forceRefresh: true })));
    const later = await openProfile('admin-pc');
    expect((await (await later.cloud()).me()).email).toBe(admin.email);
  });

  it('a wrong password is Unauthorized; too many attempts are RateLimited at once with Retry-After', async () => {
    const other = await openProfile('other-pc');
    const c = await other.cloud(cloud.url);
    await expect(c.signIn('nobody@example.com', 'wrong password')).rejects.toMatchObject({ code: 'Unauthorized', status: 401 });
    const target = 'limited@example.com';
    for (let i = 0; i < 3; i += 1) await expect(c.signIn(target, 'wrong password')).rejects.toMatchObject({ code: 'Unauthorized' });
    const error = await c.signIn(target, 'wrong password').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudError);
    expect(error).toMatchObject({ code: 'RateLimited', status: 429 });
    expect((error as CloudError).retryAfter).toBeGreaterThan(1);
    expect(await other.secrets.get('refresh-token')).toBeNull();
  });

  it('signs in with a password on another profile', async () => {
    const laptop = await openProfile('laptop');
    const c = await laptop.cloud(cloud.url);
    await c.signIn(admin.email, admin.password);
    expect((await c.me()).displayName).toBe(admin.displayName);
    expect(await laptop.secrets.get('refresh-token')).toMatch(/^mrrt_/);
  });

  it('signing out revokes the session on the server and here', async () => {
    const laptop = await openProfile('laptop');
    const old = await laptop.secrets.get('refresh-token');
    expect(await laptop.signOut()).toEqual({ revokedOnServer: true });
    expect(await laptop.secrets.get('refresh-token')).toBeNull();
    await expect((await laptop.cloud()).me()).rejects.toMatchObject({ code: 'NotSignedIn' });
    const response = await fetch(`${cloud.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: old }),
    });
    expect(response.status).toBe(401);
  });

  it('moving to another server forgets the session of the old one', async () => {
    const p = await openProfile('mover');
    const c = await p.cloud(cloud.url);
    await c.signIn(admin.email, admin.password);
    p.rememberUser(await c.me());
    await p.useServer('http://127.0.0.1:1');
    expect(await p.secrets.get('refresh-token')).toBeNull();
    expect(p.settings.get('userEmail')).toBeUndefined();
    await expect((await p.cloud()).me()).rejects.toMatchObject({ code: 'NotSignedIn' });
  });
});

describe('machine session', () => {
  let registrationToken: string;

  beforeAll(async () => {
    const admin = await openProfile('admin-pc');
    const c = await admin.cloud();
    const environmentId = (await c.listEnvironments())[0]!.id;
    registrationToken = (await c.createRegistrationToken(environmentId, { maxUses: 5 })).token;
  });

  it('enrols a VM with a registration token, without any user sign-in, and signs in as the machine', async () => {
    const vm = await openProfile('vm1', hostB);
    const c = await vm.cloud(cloud.url);
    const machine = await vm.registerMachine(c, { name: 'VM 1', registrationToken });
    expect(vm.settings.all()).toMatchObject({ machineId: machine.id, machineName: 'VM 1', machineFingerprint: await vm.fingerprint() });
    expect(await vm.secrets.list()).toEqual(['machine-encryption-key', 'machine-signing-key']);
    expect((await vm.machineKeys())?.signingPublicKey).toBe(machine.signingPublicKey);

    const seen = await c.getMachine(machine.id, 'machine');
    expect(seen.id).toBe(machine.id);
    await expect(c.me()).rejects.toMatchObject({ code: 'NotSignedIn' });
    const status = await vm.localStatus();
    expect(status).toMatchObject({
      signedIn: false,
      secretStore: { kind: 'file' },
      machine: { id: machine.id, name: 'VM 1', fingerprintMatches: true, hasKeys: true },
      group: null,
    });
  });

  it('a copy of the profile on another host is refused as a clone', async () => {
    cpSync(path.join(root, 'vm1'), path.join(root, 'vm1-copy'), { recursive: true });
    const copy = await openProfile('vm1-copy', hostA);
    const status = await copy.localStatus();
    expect(status.machine?.fingerprintMatches).toBe(false);
    await expect((await copy.cloud()).accessToken('machine')).rejects.toMatchObject({ code: 'MachineCloned', status: 409 });
  });

  it('re-registering (--force) makes fresh keys and a new machine; a failed attempt keeps the old one', async () => {
    const vm = await openProfile('vm2', hostB);
    const c = await vm.cloud(cloud.url);
    const first = await vm.registerMachine(c, { name: 'VM 2', registrationToken });
    const firstKey = await vm.secrets.get('machine-signing-key');

    await expect(vm.registerMachine(c, { name: 'VM 2 again', registrationToken: 'mrreg_not-a-token' })).rejects.toMatchObject({
      code: 'Unauthorized',
    });
    expect(vm.settings.get('machineId')).toBe(first.id);
    expect(await vm.secrets.get('machine-signing-key')).toBe(firstKey);
    expect((await c.getMachine(first.id, 'machine')).id).toBe(first.id);

    const second = await vm.registerMachine(c, { name: 'VM 2 again', registrationToken });
    expect(second.id).not.toBe(first.id);
    expect(await vm.secrets.get('machine-signing-key')).not.toBe(firstKey);
    expect((await c.getMachine(second.id, 'machine')).name).toBe('VM 2 again');
  });

  it('a profile without a machine reports NotRegistered for machine calls', async () => {
    const fresh = await openProfile('fresh');
    await expect((await fresh.cloud(cloud.url)).accessToken('machine')).rejects.toMatchObject({ code: 'NotRegistered' });
  });
});
