import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { MACHINE_ASSERTION_AUDIENCE } from '../../protocol/machine-assertion.ts';
import {
  IdentityError,
  createMachineKeyPairs,
  deleteMachineKeys,
  fingerprintOf,
  loadMachineKeys,
  machineFingerprint,
  rawPrivateKey,
  readOsMachineId,
  saveMachineKeys,
  signMachineAssertion,
} from '../runtime/identity.ts';
import { MemorySecretStore } from '../runtime/secret-store.ts';
import { RuntimeProfile } from '../runtime/profile.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mr-identity-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const idFile = (name: string, content: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
};

const ed25519Verifier = (rawBase64: string) =>
  importJWK({ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(rawBase64, 'base64').toString('base64url') }, 'EdDSA');

describe('machine id and fingerprint', () => {
  it('fingerprint is the hex SHA-256 of the versioned machine id (protocol/machine-assertion.ts)', () => {
    const expected = createHash('sha256').update('machine-runtime-fingerprint:v1:3d1219c7c4c5404aaa1f6d2a48adfda4').digest('hex');
    expect(fingerprintOf('3d1219c7c4c5404aaa1f6d2a48adfda4')).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is stable for one machine id and differs on another host (MACHINE_RUNTIME_MACHINE_ID_FILE)', async () => {
    const hostA = { MACHINE_RUNTIME_MACHINE_ID_FILE: idFile('a', 'aaaa0000aaaa0000aaaa0000aaaa0000\n') };
    const hostB = { MACHINE_RUNTIME_MACHINE_ID_FILE: idFile('b', 'bbbb0000bbbb0000bbbb0000bbbb0000\n') };
    expect(await readOsMachineId(hostA)).toBe('aaaa0000aaaa0000aaaa0000aaaa0000');
    expect(await machineFingerprint(hostA)).toBe(await machineFingerprint(hostA));
    expect(await machineFingerprint(hostA)).not.toBe(await machineFingerprint(hostB));
  });

  it('reads the real OS machine id when not overridden', async () => {
    const id = await readOsMachineId({});
    expect(id.length).toBeGreaterThan(8);
    if (process.platform === 'linux') {
      const fromFile = ['/etc/machine-id', '/var/lib/dbus/machine-id']
        .map((f) => {
          try {
            return readFileSync(f, 'utf8').trim();
          } catch {
            return '';
          }
        })
        .find(Boolean);
      expect(id).toBe(fromFile);
    }
  });

  it('explains a missing or empty override file', async () => {
    await expect(readOsMachineId({ MACHINE_RUNTIME_MACHINE_ID_FILE: path.join(dir, 'nope') })).rejects.toThrow(IdentityError);
    await expect(readOsMachineId({ MACHINE_RUNTIME_MACHINE_ID_FILE: idFile('empty', '  \n') })).rejects.toThrow(/is empty/);
  });
});

describe('machine keys', () => {
  it('exports raw 32-byte public keys as base64 and round-trips through the secret store', async () => {
    const keys = createMachineKeyPairs();
    expect(Buffer.from(keys.signingPublicKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(keys.encryptionPublicKey, 'base64')).toHaveLength(32);
    expect(keys.signingPublicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(rawPrivateKey(keys.encryptionPrivateKey)).toHaveLength(32);

    const store = new MemorySecretStore();
    expect(await loadMachineKeys(store)).toBeNull();
    await saveMachineKeys(store, keys);
    // PKCS8 DER, base64
    expect(Buffer.from((await store.get('machine-signing-key'))!, 'base64')[0]).toBe(0x30);
    const loaded = await loadMachineKeys(store);
    expect(loaded?.signingPublicKey).toBe(keys.signingPublicKey);
    expect(loaded?.encryptionPublicKey).toBe(keys.encryptionPublicKey);
    await deleteMachineKeys(store);
    expect(await store.list()).toEqual([]);
  });

  it('a damaged or swapped key is reported, not used', async () => {
    const store = new MemorySecretStore();
    const keys = createMachineKeyPairs();
    await saveMachineKeys(store, keys);
    await store.set('machine-signing-key', (await store.get('machine-encryption-key'))!);
    await expect(loadMachineKeys(store)).rejects.toThrow(/x25519 key, not ed25519/);
    await store.set('machine-signing-key', 'bm90IGEga2V5');
    await expect(loadMachineKeys(store)).rejects.toThrow(/not a private key.*--force/);
  });

  it('private keys land only in the secret store, never in the settings file', async () => {
    const profile = await RuntimeProfile.open({ profileDir: dir, secretStore: 'file', env: {} });
    const keys = createMachineKeyPairs();
    await saveMachineKeys(profile.secrets, keys);
    profile.settings.update({ machineId: '5e0c9f5a-0000-4000-8000-000000000001', machineName: 'VM 1' });
    const signing = (await profile.secrets.get('machine-signing-key'))!;
    const encryption = (await profile.secrets.get('machine-encryption-key'))!;
    const rawD = Buffer.from(rawPrivateKey(keys.signingPrivateKey)).toString('base64');
    for (const name of readdirSync(dir)) {
      if (name === 'secrets.json') continue;
      const text = readFileSync(path.join(dir, name), 'utf8');
      expect(text).not.toContain(signing);
      expect(text).not.toContain(encryption);
      expect(text).not.toContain(rawD);
    }
    expect(readFileSync(path.join(dir, 'secrets.json'), 'utf8')).toContain(signing);
  });
});

describe('machine assertion', () => {
  it('is an EdDSA JWT that verifies against the exported public key, with the contract claims', async () => {
    const keys = createMachineKeyPairs();
    const machineId = '5e0c9f5a-0000-4000-8000-000000000001';
    const fingerprint = fingerprintOf('some-host');
    const jwt = await signMachineAssertion({ machineId, fingerprint, privateKey: keys.signingPrivateKey });
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'EdDSA', typ: 'JWT' });
    const { payload } = await jwtVerify(jwt, await ed25519Verifier(keys.signingPublicKey), {
      audience: MACHINE_ASSERTION_AUDIENCE,
      issuer: machineId,
      subject: machineId,
      algorithms: ['EdDSA'],
    });
    expect(payload.fph).toBe(fingerprint);
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(typeof payload.jti).toBe('string');
    const again = await signMachineAssertion({ machineId, fingerprint, privateKey: keys.signingPrivateKey });
    expect(decodeJwtId(again)).not.toBe(payload.jti);

    const other = createMachineKeyPairs();
    await expect(jwtVerify(jwt, await ed25519Verifier(other.signingPublicKey))).rejects.toThrow(/signature/);
  });

  it('expires after its lifetime', async () => {
    const keys = createMachineKeyPairs();
    const past = () => new Date(Date.now() - 120_000);
    const jwt = await signMachineAssertion({ machineId: 'm', fingerprint: 'f', privateKey: keys.signingPrivateKey, now: past });
    await expect(jwtVerify(jwt, await ed25519Verifier(keys.signingPublicKey))).rejects.toThrow(/"exp" claim/);
  });
});

function decodeJwtId(jwt: string): unknown {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).jti;
}
