import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCloud, type RunningCloud } from '../../cloud/src/start.ts';
import type { CloudClient } from '../runtime/cloud-client.ts';
import { GroupCryptoError } from '../runtime/group-crypto.ts';
import { changeGroupPassword, heldGroupKeys, joinGroup, leaveGroup, resolveGroup, type MembershipPhase } from '../runtime/membership.ts';
import { RuntimeProfile } from '../runtime/profile.ts';

/**
 * Group membership through the runtime core against a real cloud: two VMs enrolled with a
 * registration token, each in its own profile folder, join, fail with a wrong password, change
 * the password, move and leave. Each scrypt derivation costs ~0.3 s, so the steps are few.
 */
let cloud: RunningCloud;
let root: string;
let admin: CloudClient;
const vms: { profile: RuntimeProfile; client: CloudClient }[] = [];
let groupA: { id: string; name: string };
let groupB: { id: string; name: string };

async function enrol(name: string, token: string) {
  const idFile = path.join(root, `${name}.machine-id`);
  writeFileSync(idFile, `${name}-0000000000000000000000000\n`);
  const profile = await RuntimeProfile.open({ profileDir: path.join(root, name), secretStore: 'file', env: { MACHINE_RUNTIME_MACHINE_ID_FILE: idFile } });
  const client = await profile.cloud(cloud.url);
  await profile.registerMachine(client, { name, registrationToken: token });
  return { profile, client };
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mr-membership-'));
  // Every VM here belongs to one user, whose join attempts are rate-limited per minute.
  cloud = await startCloud({
    port: 0,
    host: '127.0.0.1',
    logLevel: false,
    config: { rateLimits: { groupPerHour: 100, userPerMinute: 100, signInPerAccount: 10, signInPerAddress: 50 } },
  });
  const adminProfile = await RuntimeProfile.open({ profileDir: path.join(root, 'admin'), secretStore: 'memory', env: {} });
  admin = await adminProfile.cloud(cloud.url);
  await admin.setup({ email: 'it@example.com', password: 'a long admin password', displayName: 'IT' });
  const environmentId = (await admin.listEnvironments())[0]!.id;
  const { token } = await admin.createRegistrationToken(environmentId, { maxUses: 2 });
  vms.push(await enrol('vm1', token), await enrol('vm2', token));
  groupA = await admin.createGroup({ name: 'Finance bots' });
  groupB = await admin.createGroup({ name: 'HR bots' });
});

afterAll(async () => {
  await cloud?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('group membership', () => {
  it('finds a group by name (any case) or id, as the machine too', async () => {
    const [vm1] = vms;
    expect((await resolveGroup(vm1!.client, 'finance BOTS', 'machine')).id).toBe(groupA.id);
    expect((await resolveGroup(admin, groupB.id)).name).toBe('HR bots');
    await expect(resolveGroup(admin, 'Nope')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('the first machine sets the password; the key stays on the machine', async () => {
    const [vm1] = vms;
    const phases: MembershipPhase[] = [];
    const result = await joinGroup(vm1!.profile, vm1!.client, groupA, 'first password', { onProgress: (p) => phases.push(p) });
    expect(result).toMatchObject({ groupId: groupA.id, setPassword: true, movedFrom: null });
    expect(phases).toEqual(['fetching', 'deriving-key', 'proving']);
    expect(result.timings.keyDerivationMs).toBeGreaterThan(0);
    expect(result.timings.keyDerivationMs).toBeLessThanOrEqual(result.timings.totalMs);
    expect(await heldGroupKeys(vm1!.profile, groupA.id)).not.toBeNull();
    expect(vm1!.profile.settings.get('groupId')).toBe(groupA.id);
    expect((await admin.getGroup(groupA.id)).machineCount).toBe(1);
  });

  it('a wrong password is refused on the machine and leaves nothing behind; the right one joins', async () => {
    const [, vm2] = vms;
    const error = await joinGroup(vm2!.profile, vm2!.client, groupA, 'not the password').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GroupCryptoError);
    expect(error).toMatchObject({ code: 'IncorrectGroupPassword' });
    expect(await vm2!.profile.secrets.list()).toEqual(['machine-encryption-key', 'machine-signing-key']);
    expect(vm2!.profile.settings.get('groupId')).toBeUndefined();

    const result = await joinGroup(vm2!.profile, vm2!.client, groupA, 'first password');
    expect(result.setPassword).toBe(false);
    expect((await admin.getGroup(groupA.id)).machineCount).toBe(2);
  });

  it('a member changes the password: the old one stops working, the new one works', async () => {
    const [vm1, vm2] = vms;
    await changeGroupPassword(vm1!.profile, vm1!.client, groupA.id, 'second password');
    await leaveGroup(vm2!.profile, vm2!.client);
    expect(await heldGroupKeys(vm2!.profile, groupA.id)).toBeNull();
    expect(vm2!.profile.settings.get('groupId')).toBeUndefined();
    await expect(joinGroup(vm2!.profile, vm2!.client, groupA, 'first password')).rejects.toMatchObject({ code: 'IncorrectGroupPassword' });
    await joinGroup(vm2!.profile, vm2!.client, groupA, 'second password');
  });

  it('joining another group moves the machine and forgets the old group key', async () => {
    const [, vm2] = vms;
    const result = await joinGroup(vm2!.profile, vm2!.client, groupB, 'hr password');
    expect(result.movedFrom).toEqual({ id: groupA.id, name: 'Finance bots' });
    expect(await heldGroupKeys(vm2!.profile, groupA.id)).toBeNull();
    expect(await heldGroupKeys(vm2!.profile, groupB.id)).not.toBeNull();
    expect(vm2!.profile.settings.all()).toMatchObject({ groupId: groupB.id, groupName: 'HR bots' });
  });

  it('a machine without the group key cannot change its password', async () => {
    const [, vm2] = vms;
    await expect(changeGroupPassword(vm2!.profile, vm2!.client, groupA.id, 'hijack password')).rejects.toMatchObject({ code: 'NotInGroup' });
  });
});
