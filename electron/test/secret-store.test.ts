import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FileSecretStore,
  MemorySecretStore,
  SECRET_FILE_NAME,
  SecretStoreError,
  fileFallbackWarning,
  keychainServiceFor,
  openSecretStore,
  type KeytarModule,
  type SecretStore,
} from '../runtime/secret-store.ts';

const posix = process.platform !== 'win32';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mr-secrets-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** What every store must do. */
function behavesAsASecretStore(open: () => Promise<SecretStore>) {
  it('sets, gets, overwrites, lists and deletes by name', async () => {
    const store = await open();
    expect(await store.get('refresh-token')).toBeNull();
    await store.set('refresh-token', 'mrrt_one');
    await store.set('group-key:2b1c3f9e-0000-4000-8000-000000000001', '{"k":1}');
    expect(await store.get('refresh-token')).toBe('mrrt_one');
    await store.set('refresh-token', 'mrrt_two');
    expect(await store.get('refresh-token')).toBe('mrrt_two');
    expect(await store.list()).toEqual(['group-key:2b1c3f9e-0000-4000-8000-000000000001', 'refresh-token']);
    expect(await store.delete('refresh-token')).toBe(true);
    expect(await store.delete('refresh-token')).toBe(false);
    expect(await store.get('refresh-token')).toBeNull();
  });

  it('refuses names that are not secret names', async () => {
    const store = await open();
    await expect(store.set('settings' as never, 'x')).rejects.toThrow(/not a secret name/);
    await expect(store.get('group-key:../../etc' as never)).rejects.toThrow(/not a secret name/);
  });
}

describe('MemorySecretStore', () => {
  behavesAsASecretStore(async () => new MemorySecretStore());
  it('reports its kind', () => {
    expect(new MemorySecretStore().kind).toBe('memory');
  });
});

describe('FileSecretStore', () => {
  behavesAsASecretStore(() => FileSecretStore.open(dir));
  const file = () => path.join(dir, SECRET_FILE_NAME);

  it('keeps secrets across reopening, in a file only its owner can read', async () => {
    const store = await FileSecretStore.open(dir);
    await store.set('machine-signing-key', 'MC4CAQAwBQYDK2VwBCIEI...');
    const again = await FileSecretStore.open(dir);
    expect(again.kind).toBe('file');
    expect(again.location).toBe(file());
    expect(await again.get('machine-signing-key')).toBe('MC4CAQAwBQYDK2VwBCIEI...');
    if (posix) expect(statSync(file()).mode & 0o777).toBe(0o600);
  });

  it.runIf(posix)('puts a widened mode back to 0600', async () => {
    const store = await FileSecretStore.open(dir);
    await store.set('refresh-token', 'mrrt_x');
    chmodSync(file(), 0o644);
    expect(await store.get('refresh-token')).toBe('mrrt_x');
    expect(statSync(file()).mode & 0o777).toBe(0o600);
  });

  it.runIf(posix)('creates a missing profile folder readable by its owner only', async () => {
    const nested = path.join(dir, 'new-profile');
    const store = await FileSecretStore.open(nested);
    await store.set('refresh-token', 'mrrt_x');
    expect(statSync(nested).mode & 0o777).toBe(0o700);
  });

  it('reports a damaged file with a clear error instead of crashing or losing it', async () => {
    writeFileSync(file(), '{"version":1,"secrets":{"refresh-token":', { mode: 0o600 });
    const error = await FileSecretStore.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretStoreError);
    expect((error as SecretStoreError).code).toBe('SecretFileCorrupt');
    expect((error as Error).message).toContain(file());
    expect((error as Error).message).toMatch(/damaged.*move it away/);
    // The damaged file is left for the person to inspect, not overwritten.
    expect(readFileSync(file(), 'utf8')).toBe('{"version":1,"secrets":{"refresh-token":');

    writeFileSync(file(), JSON.stringify({ version: 1, secrets: { 'refresh-token': 42 } }));
    await expect(FileSecretStore.open(dir)).rejects.toMatchObject({ code: 'SecretFileCorrupt' });
  });

  it('writes atomically: no temporary files are left, and parallel writes all land', async () => {
    const store = await FileSecretStore.open(dir);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.set(`group-key:g${i}`, `key-${i}`)),
    );
    expect((await store.list()).length).toBe(20);
    expect(readdirSync(dir)).toEqual([SECRET_FILE_NAME]);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toMatchObject({ version: 1, secrets: { 'group-key:g7': 'key-7' } });
  });

  it('sees a change made by another process sharing the profile', async () => {
    const cli = await FileSecretStore.open(dir);
    const agent = await FileSecretStore.open(dir);
    await cli.set('refresh-token', 'mrrt_new');
    expect(await agent.get('refresh-token')).toBe('mrrt_new');
  });
});

/** A keychain in a Map, standing in for keytar to test the choosing rules (the real one: keytar.keychain.test.ts). */
function mapKeytar(): KeytarModule & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  const key = (s: string, a: string) => `${s}\u0000${a}`;
  return {
    entries,
    async getPassword(s, a) {
      return entries.get(key(s, a)) ?? null;
    },
    async setPassword(s, a, p) {
      entries.set(key(s, a), p);
    },
    async deletePassword(s, a) {
      return entries.delete(key(s, a));
    },
    async findCredentials(s) {
      return [...entries].filter(([k]) => k.startsWith(`${s}\u0000`)).map(([k, password]) => ({ account: k.split('\u0000')[1]!, password }));
    },
  };
}
const noKeychain = async (): Promise<KeytarModule> => {
  throw new SecretStoreError('KeychainUnavailable', 'Cannot autolaunch D-Bus without X11 $DISPLAY');
};

describe('openSecretStore', () => {
  const env = {};

  it('uses the keychain when it is reachable, one service per profile folder', async () => {
    const keytar = mapKeytar();
    const warnings: string[] = [];
    const store = await openSecretStore(dir, { env, loadKeytar: async () => keytar, warn: (l) => warnings.push(l) });
    expect(store.kind).toBe('keychain');
    expect(store.location).toContain(keychainServiceFor(dir));
    expect(warnings).toEqual([]);
    expect(keychainServiceFor(dir)).not.toBe(keychainServiceFor(path.join(dir, 'other')));
    expect(keychainServiceFor(dir)).toMatch(/^machine-runtime:[0-9a-f]{16}$/);
  });

  it('falls back to the 0600 file with a one-line warning when no keychain is reachable', async () => {
    const warnings: string[] = [];
    const store = await openSecretStore(dir, { env, loadKeytar: noKeychain, warn: (l) => warnings.push(l) });
    expect(store.kind).toBe('file');
    const file = path.join(dir, SECRET_FILE_NAME);
    expect(warnings).toEqual([`warning: no OS keychain reachable; secrets are kept in ${file} (readable by you only)`]);
    expect(warnings[0]).toBe(fileFallbackWarning(file));
  });

  it('a keychain that does not answer counts as unreachable', async () => {
    const hanging: KeytarModule = { ...mapKeytar(), getPassword: () => new Promise(() => undefined) };
    const { KeytarSecretStore } = await import('../runtime/secret-store.ts');
    await expect(new KeytarSecretStore(hanging, 'svc').probe(50)).rejects.toMatchObject({ code: 'KeychainUnavailable' });
  });

  it('keeps a profile on the file once secrets are in it, even when a keychain appears later', async () => {
    const first = await openSecretStore(dir, { env, loadKeytar: noKeychain, warn: () => undefined });
    await first.set('refresh-token', 'mrrt_file');
    const later = await openSecretStore(dir, { env, loadKeytar: async () => mapKeytar(), warn: () => undefined });
    expect(later.kind).toBe('file');
    expect(await later.get('refresh-token')).toBe('mrrt_file');
  });

  it('an empty file store moves to the keychain when one appears', async () => {
    await openSecretStore(dir, { env, loadKeytar: noKeychain, warn: () => undefined });
    const later = await openSecretStore(dir, { env, loadKeytar: async () => mapKeytar(), warn: () => undefined });
    expect(later.kind).toBe('keychain');
  });

  it('a profile whose secrets are in the keychain fails clearly when the keychain is gone, instead of looking signed out', async () => {
    const keytar = mapKeytar();
    const store = await openSecretStore(dir, { env, loadKeytar: async () => keytar });
    await store.set('refresh-token', 'mrrt_kc');
    const error = await openSecretStore(dir, { env, loadKeytar: noKeychain, warn: () => undefined }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KeychainUnavailable' });
    expect((error as Error).message).toMatch(/in the OS keychain, which is not reachable.*MACHINE_RUNTIME_SECRET_STORE=file/);
  });

  it('keeps using the recorded keychain service when the profile folder moves', async () => {
    const keytar = mapKeytar();
    const store = await openSecretStore(dir, { env, loadKeytar: async () => keytar });
    await store.set('refresh-token', 'mrrt_kc');
    const moved = `${dir}-moved`;
    const { renameSync } = await import('node:fs');
    renameSync(dir, moved);
    try {
      const again = await openSecretStore(moved, { env, loadKeytar: async () => keytar });
      expect(await again.get('refresh-token')).toBe('mrrt_kc');
    } finally {
      renameSync(moved, dir);
    }
  });

  it('honours a preference and MACHINE_RUNTIME_SECRET_STORE', async () => {
    const keytar = mapKeytar();
    const warnings: string[] = [];
    const warn = (l: string) => warnings.push(l);
    expect((await openSecretStore(dir, { prefer: 'memory', loadKeytar: async () => keytar })).kind).toBe('memory');
    expect((await openSecretStore(dir, { env: { MACHINE_RUNTIME_SECRET_STORE: 'file' }, loadKeytar: async () => keytar, warn })).kind).toBe('file');
    expect(warnings).toEqual([]); // asked for, so no warning
    await expect(openSecretStore(dir, { env: { MACHINE_RUNTIME_SECRET_STORE: 'keychain' }, loadKeytar: noKeychain })).rejects.toMatchObject({
      code: 'KeychainUnavailable',
    });
    await expect(openSecretStore(dir, { env: { MACHINE_RUNTIME_SECRET_STORE: 'vault' } })).rejects.toMatchObject({ code: 'InvalidPreference' });
  });
});
