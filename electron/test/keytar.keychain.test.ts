import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  KeytarSecretStore,
  keychainServiceFor,
  loadKeytar,
  openSecretStore,
  type KeytarModule,
} from '../runtime/secret-store.ts';
import { RuntimeProfile } from '../runtime/profile.ts';

/**
 * keytar against a real Secret Service (gnome-keyring). `npm test` runs this file under
 * dbus-run-session with MACHINE_RUNTIME_REQUIRE_KEYCHAIN=1, where it must not skip: a keychain
 * that does not load fails the run. Anywhere else without a D-Bus session it skips, saying why.
 */
const required = process.env.MACHINE_RUNTIME_REQUIRE_KEYCHAIN === '1';
const bus = process.env.DBUS_SESSION_BUS_ADDRESS;
const skipReason = bus ? null : 'no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set); run `npm test` for the keychain suite';

if (required && skipReason) {
  it('needs a D-Bus session with a Secret Service', () => {
    throw new Error(`MACHINE_RUNTIME_REQUIRE_KEYCHAIN=1 but ${skipReason}`);
  });
}
if (!required && skipReason) console.warn(`keytar.keychain.test.ts skipped: ${skipReason}`);

describe.skipIf(Boolean(skipReason))('KeytarSecretStore on a real Secret Service', () => {
  let keytar: KeytarModule;
  let dir: string;
  const services: string[] = [];

  beforeAll(async () => {
    keytar = await loadKeytar(); // throws (fails the suite) when keytar is missing or did not build
    dir = mkdtempSync(path.join(os.tmpdir(), 'mr-keychain-'));
  });

  afterAll(async () => {
    for (const service of services) {
      for (const { account } of await keytar.findCredentials(service).catch(() => [])) await keytar.deletePassword(service, account);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const fresh = () => {
    const service = `machine-runtime-test:${Math.random().toString(16).slice(2)}`;
    services.push(service);
    return new KeytarSecretStore(keytar, service);
  };

  it('reaches the keychain', async () => {
    await expect(fresh().probe()).resolves.toBeUndefined();
  });

  it('sets, gets, lists and deletes secrets', async () => {
    const store = fresh();
    expect(await store.get('refresh-token')).toBeNull();
    await store.set('refresh-token', 'mrrt_one');
    await store.set('group-key:5e0c9f5a-0000-4000-8000-000000000001', 'eyJrZXkiOjF9');
    await store.set('refresh-token', 'mrrt_two');
    expect(await store.get('refresh-token')).toBe('mrrt_two');
    expect(await store.list()).toEqual(['group-key:5e0c9f5a-0000-4000-8000-000000000001', 'refresh-token']);
    expect(await store.delete('refresh-token')).toBe(true);
    expect(await store.delete('refresh-token')).toBe(false);
    expect(await store.list()).toEqual(['group-key:5e0c9f5a-0000-4000-8000-000000000001']);
  });

  it('keeps two profiles apart (one service per profile folder)', async () => {
    const a = path.join(dir, 'vm1');
    const b = path.join(dir, 'vm2');
    services.push(keychainServiceFor(a), keychainServiceFor(b));
    const vm1 = await openSecretStore(a, { env: {} });
    const vm2 = await openSecretStore(b, { env: {} });
    expect([vm1.kind, vm2.kind]).toEqual(['keychain', 'keychain']);
    await vm1.set('machine-signing-key', 'key-of-vm1');
    await vm2.set('machine-signing-key', 'key-of-vm2');
    expect(await (await openSecretStore(a, { env: {} })).get('machine-signing-key')).toBe('key-of-vm1');
    expect(await (await openSecretStore(b, { env: {} })).get('machine-signing-key')).toBe('key-of-vm2');
  });

  it('auto picks the keychain, without a warning and without a secrets file', async () => {
    const profileDir = path.join(dir, 'desktop');
    services.push(keychainServiceFor(profileDir));
    const warnings: string[] = [];
    const profile = await RuntimeProfile.open({ profileDir, env: {}, warn: (line) => warnings.push(line) });
    expect(profile.secrets.kind).toBe('keychain');
    await profile.secrets.set('refresh-token', 'mrrt_in_keychain');
    expect(warnings).toEqual([]);
    expect(readdirSync(profileDir)).not.toContain('secrets.json');
    expect((await profile.localStatus()).secretStore).toEqual({ kind: 'keychain', location: profile.secrets.location });
    expect(await keytar.getPassword(keychainServiceFor(profileDir), 'refresh-token')).toBe('mrrt_in_keychain');
  });
});
